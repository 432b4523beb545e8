/* libFuzzer target: query-string splitting and percent-decoding, the HTTP
 * and AWS date parsers, and the check of a connection's first bytes, all
 * fed straight from request lines. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)sl_http_could_start_request((const char *)data, size);
    struct sl_arena a;
    sl_arena_init(&a, 0);
    struct sl_http_param *params;
    size_t n;
    if (sl_http_parse_query(&a, s, &params, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            (void)strlen(params[i].name);
    }
    struct sl_buf b;
    sl_buf_init(&b, 1 << 20);
    (void)sl_uri_decode(&b, s, size, true);
    sl_buf_free(&b);
    time_t t;
    (void)sl_time_parse_http(s, &t);
    (void)sl_time_parse_amz(s, &t);
    (void)sl_time_parse_iso8601(s, &t);
    uint8_t out[4096];
    size_t outlen;
    (void)sl_base64_decode(s, size, out, sizeof(out), &outlen);
    sl_arena_free(&a);
    free(s);
    return 0;
}
