/* libFuzzer target: event patterns (EventBridge rules, Lambda
 * FilterCriteria and SNS filter policies, all from the network) and the
 * events matched against them. The first input line is the pattern, the
 * rest an event. Checks that compiling either succeeds or fails with
 * SL_EINVAL and hands nothing back, and that matching reads nothing out
 * of bounds and gives the same answer twice. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    size_t plen = nl ? (size_t)(nl - p) : size;

    struct sl_pattern *pat = NULL;
    struct sl_err err = {0};
    int rc = sl_pattern_compile(p, plen, &pat, &err);
    if (rc) {
        if (pat || (rc != SL_EINVAL && rc != SL_ENOMEM) || err.code != rc)
            abort(); /* a failed compile hands nothing back and says why */
        return 0;
    }
    (void)sl_pattern_uses(pat, "body");
    if (nl) {
        json_t *event = json_loadb(nl + 1, size - plen - 1, JSON_DECODE_ANY, NULL);
        if (event) {
            bool m = sl_pattern_match(pat, event);
            if (sl_pattern_match(pat, event) != m)
                abort();
            json_decref(event);
        }
    }
    sl_pattern_free(pat);
    return 0;
}
