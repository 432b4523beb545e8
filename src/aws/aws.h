/*
 * aws — what every AWS service shares on the wire: the table of services
 * with their protocols, routing a request to its service the way AWS
 * endpoints do, request ids, ARNs, and each protocol's error shape.
 * SigV4 lives in aws/sigv4.h.
 *
 * May call: core, http.
 */
#ifndef SL_AWS_H
#define SL_AWS_H

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

/* One AWS service as its endpoint sees it (botocore's metadata). */
struct sl_aws_service {
    const char *name;          /* botocore's service name: "s3", "lambda" */
    const char *signing_name;  /* SigV4 credential-scope service */
    enum sl_aws_protocol protocol;
    const char *json_version;  /* "1.0" / "1.1" for the json protocol */
    const char *target_prefix; /* X-Amz-Target prefix before '.', json only */
    const char *path_prefixes; /* rest-json: '|'-separated URI prefixes */
};

/*
 * Chooses the service of a request: by the credential scope's service
 * (scope_service, NULL when unsigned) together with X-Amz-Target, else by
 * X-Amz-Target alone, else by the rest-json services' path prefixes, else
 * S3. Never NULL. *protocol is the protocol this request speaks (SQS takes
 * both query and json).
 */
const struct sl_aws_service *sl_aws_route(const struct sl_http_request *r,
                                          const char *scope_service,
                                          enum sl_aws_protocol *protocol);
const struct sl_aws_service *sl_aws_service_by_name(const char *name);

/* The operation name of a json-protocol request (after the target's '.'),
 * or of a query-protocol request (Action), or NULL. */
const char *sl_aws_operation(const struct sl_http_request *r, enum sl_aws_protocol protocol);

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

/*
 * Answers r with an error in the shape of protocol: code (AWS's error
 * code), message, and for rest-xml any extra elements given as
 * name/value pairs (NULL-terminated list, may be NULL). Sets the request-id
 * headers from request_id.
 */
void sl_aws_error(struct sl_http_request *r, enum sl_aws_protocol protocol, int status,
                  const char *code, const char *request_id, const char *const *extra,
                  const char *fmt, ...) SL_PRINTF(7, 8);

/* An S3 host id (x-amz-id-2): 24 random bytes in base64, into out (at
 * least 33 bytes). */
void sl_aws_host_id(char *out, size_t n);
/* Sets the request-id headers a client of protocol reads. */
void sl_aws_set_request_id(struct sl_http_request *r, enum sl_aws_protocol protocol,
                           const char *request_id);

#endif
