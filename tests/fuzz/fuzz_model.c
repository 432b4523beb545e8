/* libFuzzer target: routing and decoding of rest-json requests by the
 * model layer (the first input line is "METHOD PATH?QUERY", the rest the
 * JSON body), as every Lambda request is. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/model.h"

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
    json_t *in = NULL;
    struct sl_model_error e;
    if (sl_model_decode(&sl_model_lambda, op, &r, body, body_len, &in, &e) == 0)
        json_decref(in);
    const struct sl_operation *lop = sl_model_op_by_name(&sl_model_logs, "PutLogEvents");
    if (lop && sl_model_decode(&sl_model_logs, lop, &r, body, body_len, &in, &e) == 0)
        json_decref(in);
    sl_arena_free(&r.arena);
    free(s);
    return 0;
}
