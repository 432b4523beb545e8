/* libFuzzer target: CloudWatch Logs filter patterns (FilterLogEvents'
 * filterPattern, from the network) and the JSON encoding of log lines
 * (whatever bytes a function writes). The first input line is the
 * pattern, the rest a message to match. Checks that a parsed pattern
 * matches without reading out of bounds, that the empty pattern matches
 * everything, and that every message encodes to a valid JSON string. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/logs/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    size_t plen = nl ? (size_t)(nl - p) : size;
    const char *msg = nl ? nl + 1 : p;
    size_t mlen = nl ? size - plen - 1 : size;

    struct sl_logs_filter *f = NULL;
    struct sl_err err = {0};
    if (sl_logs_filter_parse(p, plen, &f, &err) == 0) {
        bool m = sl_logs_filter_match(f, msg, mlen);
        if (sl_logs_filter_terms(f) == 0 && !m)
            abort(); /* no terms: everything matches */
        (void)sl_logs_filter_match(f, p, plen);
        sl_logs_filter_free(f);
    } else if (f) {
        abort(); /* a failed parse hands nothing back */
    }

    struct sl_buf b;
    sl_buf_init(&b, 0);
    if (sl_logs_json_string(&b, msg, mlen, true) == 0) {
        json_error_t je;
        json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY, &je);
        if (!json_is_string(v))
            abort(); /* the sanitiser let something through */
        json_decref(v);
    }
    sl_buf_free(&b);
    return 0;
}
