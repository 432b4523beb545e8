/* libFuzzer target: rulesets (engine/ruleset.h), the index an event bus
 * matches its rules through. Every input line but the last is a pattern
 * (at most MAX_PATTERNS; lines that do not compile are left out), the last
 * line an event (not JSON: matched as no event). Builds a ruleset of the
 * patterns, each twice (an index may repeat a pattern), and checks that
 * it matches exactly the patterns that sl_pattern_match matches one by
 * one, in order. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pattern.h"
#include "engine/ruleset.h"

#define MAX_PATTERNS 16

struct seen {
    size_t idx[2 * MAX_PATTERNS], n;
};

static void seen_add(void *arg, size_t i)
{
    struct seen *s = arg;
    if (s->n >= 2 * MAX_PATTERNS || (s->n && s->idx[s->n - 1] >= i))
        abort(); /* more than there are, or out of order */
    s->idx[s->n++] = i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    struct sl_pattern *pats[2 * MAX_PATTERNS];
    size_t n = 0;
    const char *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) && n < MAX_PATTERNS) {
        struct sl_err err = {0};
        if (sl_pattern_compile(p, (size_t)(nl - p), &pats[n], &err) == 0)
            n++;
        p = nl + 1;
    }
    for (size_t i = 0; i < n; i++)
        pats[n + i] = pats[i];
    json_t *event = json_loadb(p, (size_t)(end - p), JSON_DECODE_ANY, NULL);

    struct sl_ruleset *rs = NULL;
    if (sl_ruleset_build(pats, 2 * n, &rs) != 0)
        abort(); /* only SL_ENOMEM, which a fuzzer's inputs cannot cause */
    struct seen s = {0};
    size_t got = sl_ruleset_match(rs, event, seen_add, &s);
    size_t k = 0;
    for (size_t i = 0; i < 2 * n; i++) {
        if (!sl_pattern_match(pats[i], event))
            continue;
        if (k >= s.n || s.idx[k] != i)
            abort(); /* the ruleset missed pattern i */
        k++;
    }
    if (k != s.n || got != s.n || sl_ruleset_candidates(rs, event) > 2 * n)
        abort();

    sl_ruleset_free(rs);
    json_decref(event);
    for (size_t i = 0; i < n; i++)
        sl_pattern_free(pats[i]);
    return 0;
}
