/* libFuzzer target: routing and decoding of requests by the model layer,
 * for every protocol a service speaks here. The first input line is
 * "METHOD PATH?QUERY", the rest the body: as a rest-json request to Lambda
 * (routed by its URI), a json request to CloudWatch Logs (PutLogEvents),
 * a query request to STS (the body form-encoded: AssumeRole's nested
 * lists and structures), query and JSON requests to SQS (batches of
 * entries with attribute maps) and a rest-xml request to S3 (routed). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/model.h"
#include "services/service.h"

SL_SERVICE_TABLES(lambda);
SL_SERVICE_TABLES(logs);
SL_SERVICE_TABLES(sts);
SL_SERVICE_TABLES(s3);
SL_SERVICE_TABLES(sqs);

static void decode(const struct sl_service_model *m, const struct sl_operation *op,
                   enum sl_aws_protocol p, const struct sl_http_request *r, const char *body,
                   size_t len, const struct sl_http_param *params, size_t n)
{
    json_t *in = NULL;
    struct sl_model_error e;
    if (op && sl_model_decode(m, op, p, r, body, len, params, n, &in, &e) == 0)
        json_decref(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *nl = strchr(s, '\n');
    const char *body = nl ? nl + 1 : "";
    if (nl)
        *nl = '\0';
    size_t body_len = nl ? size - (size_t)(nl + 1 - s) : 0;
    struct sl_http_request r;
    memset(&r, 0, sizeof(r));
    sl_arena_init(&r.arena, 0);
    char *sp = strchr(s, ' ');
    r.method = sp ? (*sp = '\0', s) : "POST";
    const char *uri = sp ? sp + 1 : "/2015-03-31/functions";
    const char *q = strchr(uri, '?');
    r.path_raw = q ? sl_arena_strndup(&r.arena, uri, (size_t)(q - uri)) : uri;
    r.query_raw = q ? q + 1 : "";
    if (sl_http_parse_query(&r.arena, r.query_raw, &r.params, &r.nparams)) {
        r.params = NULL;
        r.nparams = 0;
    }
    const struct sl_operation *op = sl_model_route(&sl_model_lambda, &r);
    if (!op)
        op = sl_model_op_by_name(&sl_model_lambda, "CreateFunction");
    decode(&sl_model_lambda, op, SL_PROTO_REST_JSON, &r, body, body_len, NULL, 0);
    decode(&sl_model_logs, sl_model_op_by_name(&sl_model_logs, "PutLogEvents"), SL_PROTO_JSON,
           &r, body, body_len, NULL, 0);
    struct sl_http_param *params = NULL;
    size_t n = 0;
    if (sl_model_form_params(&r.arena, body, body_len, &params, &n) == 0)
    {
        decode(&sl_model_sts, sl_model_op_by_name(&sl_model_sts, "AssumeRole"), SL_PROTO_QUERY,
               &r, body, body_len, params, n);
        /* SQS's flattened lists of structures and maps (entries with
         * attributes), and its operation by Action. */
        decode(&sl_model_sqs, sl_model_op_by_name(&sl_model_sqs, "SendMessageBatch"),
               SL_PROTO_QUERY, &r, body, body_len, params, n);
        decode(&sl_model_sqs, sl_model_operation(&sl_model_sqs, SL_PROTO_QUERY, &r, params, n),
               SL_PROTO_QUERY, &r, body, body_len, params, n);
    }
    decode(&sl_model_sqs, sl_model_op_by_name(&sl_model_sqs, "SendMessageBatch"), SL_PROTO_JSON,
           &r, body, body_len, NULL, 0);
    decode(&sl_model_s3, sl_model_route(&sl_model_s3, &r), SL_PROTO_REST_XML, &r, body,
           body_len, NULL, 0);
    sl_arena_free(&r.arena);
    free(s);
    return 0;
}
