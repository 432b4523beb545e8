/*
 * aws — what every AWS service shares on the wire: the endpoints the front
 * door knows (generated from botocore's metadata, tools/endpoints.json),
 * routing a request to its endpoint the way AWS does, request ids, and
 * each protocol's error shape. The models and the codecs that use them
 * are in aws/model.h, SigV4 in aws/sigv4.h.
 *
 * May call: core, http, jansson.
 */
#ifndef SL_AWS_H
#define SL_AWS_H

#include <jansson.h>

#include "core/core.h"
#include "http/http.h"

#define SL_DEFAULT_ACCOUNT "000000000000"
#define SL_DEFAULT_REGION "us-east-1"

enum sl_aws_protocol {
    SL_PROTO_REST_XML,
    SL_PROTO_REST_JSON,
    SL_PROTO_JSON,
    SL_PROTO_QUERY,
};

/* One AWS endpoint as a client sees it (botocore's metadata). */
struct sl_aws_endpoint {
    const char *name;          /* botocore's service name: "s3", "lambda" */
    const char *signing_name;  /* SigV4 credential-scope service */
    enum sl_aws_protocol protocol;
    const char *json_version;  /* "1.0" / "1.1" for the json protocol */
    const char *target_prefix; /* X-Amz-Target prefix before '.' */
    const char *path_prefixes; /* rest-json: '|'-separated URI prefixes of unsigned requests */
    bool json_too;             /* a query service that also speaks json (SQS) */
};

/* Every endpoint the front door routes (generated: aws/gen/endpoints.c). */
extern const struct sl_aws_endpoint sl_aws_endpoints[];
extern const size_t sl_aws_nendpoints;

/*
 * Chooses the endpoint of a request: by the credential scope's service
 * (scope_service, NULL when unsigned) together with X-Amz-Target, else by
 * X-Amz-Target alone, else by the rest-json services' path prefixes, else
 * S3. Never NULL. *protocol is the protocol this request speaks (SQS takes
 * both query and json).
 */
const struct sl_aws_endpoint *sl_aws_route(const struct sl_http_request *r,
                                           const char *scope_service,
                                           enum sl_aws_protocol *protocol);
const struct sl_aws_endpoint *sl_aws_endpoint_by_name(const char *name);

/* The operation name of a json-protocol request (after the target's '.'),
 * or of a query-protocol request (Action of params), or NULL. */
const char *sl_aws_operation(const struct sl_http_request *r, enum sl_aws_protocol protocol,
                             const struct sl_http_param *params, size_t nparams);

/* The flexible checksums of S3 (x-amz-checksum-* headers and trailers). */
struct sl_aws_checksum {
    const char *header;    /* "x-amz-checksum-crc32" */
    const char *label;     /* "CRC32", as S3's BadDigest message names it */
    enum sl_hash_alg alg;
    size_t len;            /* digest bytes */
};

/* The checksum whose header name is name[0..n) (any case), or NULL. */
const struct sl_aws_checksum *sl_aws_checksum_find(const char *name, size_t n);

/* Fills out (37 bytes) with a new request id. */
void sl_aws_request_id(char *out);

/* One error a service answers with, as its error table declares it. */
struct sl_aws_error {
    const char *code; /* AWS's error code: "NoSuchBucket" */
    uint16_t status;  /* HTTP status */
    bool receiver;    /* the fault is the service's (query: Type Receiver) */
};

/* An error answer: what sl_aws_fault_send() writes. */
struct sl_aws_fault {
    const char *code;
    int status;
    bool receiver;            /* query: <Type>Receiver</Type>, else Sender */
    const char *message;
    const char *const *extra; /* rest-xml: more elements, name/value pairs, NULL-ended */
    json_t *fields;           /* json protocols: more members of the body (may be NULL) */
    const char *json_version; /* json: the Content-Type's version ("1.0"; NULL: "1.1") */
    const char *xmlns;        /* query: the ErrorResponse's namespace (may be NULL) */
    /* json, of a query-compatible service: the x-amzn-query-error header
     * ("Code;Sender"), or NULL. */
    const char *query_error;
};

/* Answers r with f in the shape of protocol, with the request-id headers
 * a client of that protocol reads. */
void sl_aws_fault_send(struct sl_http_request *r, enum sl_aws_protocol protocol,
                       const struct sl_aws_fault *f, const char *request_id);

/* As sl_aws_fault_send() for a code and status alone (a 5xx status is a
 * receiver fault), the message formatted. */
void sl_aws_error(struct sl_http_request *r, enum sl_aws_protocol protocol, int status,
                  const char *code, const char *request_id, const char *const *extra,
                  const char *fmt, ...) SL_PRINTF(7, 8);

/* An S3 host id (x-amz-id-2): 24 random bytes in base64, into out (at
 * least 33 bytes). */
void sl_aws_host_id(char *out, size_t n);
/* Sets the request-id headers a client of protocol reads. */
void sl_aws_set_request_id(struct sl_http_request *r, enum sl_aws_protocol protocol,
                           const char *request_id);

/* Appends s to b as a JSON string (quotes included). */
/* The Content-Type of a protocol's answer: the json protocol's names its
 * version ("1.0", else 1.1), rest-json's is plain JSON. */
const char *sl_aws_json_content_type(enum sl_aws_protocol protocol, const char *json_version);

#endif
