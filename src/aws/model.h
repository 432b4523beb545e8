/*
 * model — AWS API models as C tables, generated from botocore's service
 * models by tools/gen_models.py (each service folder's model.json patches
 * in what AWS added since Debian's botocore), and the one generic layer
 * that uses them for every protocol:
 *
 *   - routing: a rest request to its operation by method, URI template,
 *     literal query and the location members it requires; a json request
 *     by X-Amz-Target; a query request by Action;
 *   - decoding a request (URI labels, query string, headers, the JSON body,
 *     the form-encoded query body) into one JSON object keyed by member
 *     names, validated against the input shape with AWS's own wording;
 *   - encoding an operation's output (a JSON object keyed by member
 *     names) in the protocol's shape: JSON bodies, headers, status and
 *     payload members, the query protocol's XML with its result wrapper
 *     and request id, rest-xml bodies.
 *
 * Handlers thus see already validated input and never format a protocol.
 *
 * May call: core, http, aws, jansson.
 */
#ifndef SL_AWS_MODEL_H
#define SL_AWS_MODEL_H

#include <jansson.h>

#include "aws/aws.h"
#include "core/core.h"
#include "http/http.h"

enum sl_shape_type {
    SL_SHAPE_STRUCTURE,
    SL_SHAPE_LIST,
    SL_SHAPE_MAP,
    SL_SHAPE_STRING,
    SL_SHAPE_INTEGER,
    SL_SHAPE_LONG,
    SL_SHAPE_DOUBLE,
    SL_SHAPE_FLOAT,
    SL_SHAPE_BOOLEAN,
    SL_SHAPE_BLOB,
    SL_SHAPE_TIMESTAMP,
};

enum sl_member_location {
    SL_LOC_BODY,
    SL_LOC_URI,
    SL_LOC_QUERY,
    SL_LOC_HEADER,
    SL_LOC_HEADERS, /* a map of headers sharing a prefix (x-amz-meta-) */
    SL_LOC_STATUS,
};

enum sl_timestamp_format { SL_TS_DEFAULT, SL_TS_ISO8601, SL_TS_RFC822, SL_TS_EPOCH };

/* Member flags. */
#define SL_MEMBER_REQUIRED 0x01
#define SL_MEMBER_FLATTENED 0x02     /* XML: a list or map without its wrapper */
#define SL_MEMBER_XML_ATTRIBUTE 0x04 /* XML: an attribute, not an element */
#define SL_MEMBER_JSONVALUE 0x08     /* a header holding base64 of JSON */

/* Shape flags. */
#define SL_SHAPE_FLATTENED 0x01
#define SL_SHAPE_STREAMING 0x02 /* a blob sent as the raw body */
#define SL_SHAPE_DOCUMENT 0x04  /* any JSON value */
#define SL_SHAPE_EXCEPTION 0x08

struct sl_member {
    const char *name; /* the key in decoded input and in output */
    uint16_t shape;
    uint8_t location;
    uint8_t flags;
    const char *wire; /* its name on the wire: URI label, query or header name,
                       * JSON key, XML element or query key */
};

struct sl_shape {
    const char *name;
    uint8_t type;
    uint8_t flags;
    uint8_t timestamp_format;
    bool has_min, has_max;
    double min, max;
    const char *const *enums;
    uint16_t nenums;
    const struct sl_member *members; /* structure */
    uint16_t nmembers;
    int16_t payload;          /* structure: the member that is the whole body, or -1 */
    uint16_t element;         /* list member; map value */
    uint16_t key;             /* map key */
    const char *element_name; /* XML/query: a list's member name, a map's value name */
    const char *key_name;     /* XML/query: a map's key name */
    const char *error_code;   /* exceptions: the error code */
    int16_t error_status;     /* exceptions: the HTTP status */
};

struct sl_operation {
    const char *name;
    const char *method;
    const char *uri;        /* rest protocols: the request URI template */
    int16_t input, output;  /* shape index or -1 */
    int16_t success_status; /* 0 when the model gives none (200) */
    const char *result_wrapper; /* query: the element around the output */
};

struct sl_service_model {
    const char *name;
    enum sl_aws_protocol protocol;
    const char *api_version;
    const char *xml_namespace; /* query: the responses' namespace */
    const struct sl_operation *ops; /* sorted by name */
    size_t nops;
    const struct sl_shape *shapes; /* sorted by name */
    size_t nshapes;
};

/* Largest number of URI labels in one template. */
#define SL_MODEL_MAX_LABELS 4

/* A decoding or validation failure: the AWS error code and message. */
struct sl_model_error {
    const char *code; /* "ValidationException", "SerializationException" */
    char message[1024];
};

/* The operation named name, or NULL. */
const struct sl_operation *sl_model_op_by_name(const struct sl_service_model *m,
                                               const char *name);
/* The rest operation that r names: method, URI template and literal query
 * match, and r carries every query and header member the operation
 * requires; the most specific such one, or NULL. */
const struct sl_operation *sl_model_route(const struct sl_service_model *m,
                                          const struct sl_http_request *r);
/* A shape by name, or NULL. */
const struct sl_shape *sl_model_shape(const struct sl_service_model *m, const char *name);
/* The operation of a request by its protocol: X-Amz-Target's (json), the
 * Action parameter of params (query), the route (rest). NULL if none. */
const struct sl_operation *sl_model_operation(const struct sl_service_model *m,
                                              enum sl_aws_protocol protocol,
                                              const struct sl_http_request *r,
                                              const struct sl_http_param *params,
                                              size_t nparams);

/*
 * Builds the input of op from r (URI labels, query string, headers) and
 * body as protocol reads it: a JSON object (json, rest-json), the form
 * parameters (query: params, with the query string's), or the raw
 * payload member (a blob payload stays in body: it is marked present in
 * the input as JSON true, and the caller reads the bytes). Then validates
 * it. On success *input is a new JSON object (caller decrefs). On failure
 * returns SL_EINVAL and fills e.
 */
int sl_model_decode(const struct sl_service_model *m, const struct sl_operation *op,
                    enum sl_aws_protocol protocol, const struct sl_http_request *r,
                    const char *body, size_t body_len, const struct sl_http_param *params,
                    size_t nparams, json_t **input, struct sl_model_error *e);

/* Validates value against shape (the path names the top for messages). */
int sl_model_validate(const struct sl_service_model *m, const struct sl_shape *shape,
                      json_t *value, struct sl_model_error *e);

/* Splits an application/x-www-form-urlencoded body into params (in the
 * arena). SL_EINVAL on a malformed escape. */
int sl_model_form_params(struct sl_arena *a, const char *body, size_t len,
                         struct sl_http_param **params, size_t *n);

/* What an answer needs besides the output. */
struct sl_model_answer {
    enum sl_aws_protocol protocol;
    const char *json_version; /* json: "1.0" / "1.1" */
    const char *request_id;
    const char *payload; /* the raw payload member (blob), if any */
    size_t payload_len;
};

/*
 * Answers r with op's output (may be NULL: no members) in the protocol:
 * header members become headers, a status member the status (else the
 * operation's success status), a payload member the body (raw bytes from
 * a->payload for a blob), the rest a JSON body, the query protocol's XML
 * (with its result wrapper and request id) or a rest-xml body. Sets the
 * request-id headers. Members of output the shape does not have are
 * left out.
 */
void sl_model_respond(const struct sl_service_model *m, const struct sl_operation *op,
                      struct sl_http_request *r, json_t *output,
                      const struct sl_model_answer *a);

#endif
