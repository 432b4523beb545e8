/*
 * model — AWS API models as C tables, generated from botocore's service
 * models by tools/gen_models.py (with tools/model_overrides.json for what
 * AWS added since Debian's botocore), and the generic layer that uses
 * them: routing a rest-json request to its operation by method and URI
 * template, decoding a request's URI labels, query string, headers and
 * JSON body into one JSON object, validating it against the input shape
 * (required members, types, lengths, ranges, enums) with AWS's own
 * ValidationException wording, and encoding an operation's output back
 * into status, headers and body. A service handler receives an already
 * validated request.
 *
 * May call: core, http, jansson.
 */
#ifndef SL_AWS_MODEL_H
#define SL_AWS_MODEL_H

#include <jansson.h>

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
    SL_LOC_STATUS,
};

struct sl_member {
    const char *name;
    uint16_t shape;
    uint8_t location;
    bool required;
    const char *location_name; /* URI label, query name or header name */
};

struct sl_shape {
    const char *name;
    uint8_t type;
    bool has_min, has_max;
    double min, max;
    const char *const *enums;
    uint16_t nenums;
    const struct sl_member *members; /* structure */
    uint16_t nmembers;
    int16_t payload;  /* structure: the member that is the whole body, or -1 */
    uint16_t element; /* list member; map value */
    uint16_t key;     /* map key */
    int16_t error_status; /* exception shapes: HTTP status, else 0 */
};

struct sl_operation {
    const char *name;
    const char *method;
    const char *uri; /* rest protocols: the request URI template */
    int16_t input, output; /* shape index or -1 */
    int16_t success_status; /* 0 when the model gives none (200) */
};

struct sl_service_model {
    const char *name;
    const struct sl_operation *ops;
    size_t nops;
    const struct sl_shape *shapes;
    size_t nshapes;
};

extern const struct sl_service_model sl_model_lambda;
extern const struct sl_service_model sl_model_logs;

/* Largest number of URI labels in one template. */
#define SL_MODEL_MAX_LABELS 4

/* A decoding or validation failure: the AWS error code and message. */
struct sl_model_error {
    const char *code; /* "ValidationException", "SerializationException", ... */
    char message[1024];
};

/* The operation of a json-protocol service by name, or NULL. */
const struct sl_operation *sl_model_op_by_name(const struct sl_service_model *m,
                                               const char *name);
/* The rest operation whose method and URI template match r, or NULL. */
const struct sl_operation *sl_model_route(const struct sl_service_model *m,
                                          const struct sl_http_request *r);
/* A shape by name, or NULL. */
const struct sl_shape *sl_model_shape(const struct sl_service_model *m, const char *name);

/*
 * Builds the input of op from r (URI labels, query string, headers) and
 * its body (JSON, or the raw payload member's bytes as a base64-free JSON
 * string is not used: a blob payload is returned in *payload instead),
 * then validates it. On success *input is a new JSON object (caller
 * decrefs). On failure returns SL_EINVAL and fills e.
 */
int sl_model_decode(const struct sl_service_model *m, const struct sl_operation *op,
                    const struct sl_http_request *r, const char *body, size_t body_len,
                    json_t **input, struct sl_model_error *e);

/* Validates value against shape (the path names the top for messages). */
int sl_model_validate(const struct sl_service_model *m, const struct sl_shape *shape,
                      json_t *value, struct sl_model_error *e);

/*
 * Answers r with op's output: members located in headers become headers,
 * a statusCode member the status (else the operation's success status),
 * a payload member the raw body (payload_body, payload_len), and the rest
 * the JSON body. output may be NULL (no body).
 */
void sl_model_respond(const struct sl_service_model *m, const struct sl_operation *op,
                      struct sl_http_request *r, json_t *output, const char *payload_body,
                      size_t payload_len);

#endif
