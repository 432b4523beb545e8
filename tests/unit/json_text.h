/* Helpers of the unit tests whose tables write JSON with ` for " (to keep
 * them readable): the text made JSON, and parsed. Header-only: each test
 * program includes it once. */
#ifndef SL_TEST_JSON_TEXT_H
#define SL_TEST_JSON_TEXT_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* s with every ` turned into " (malloc'd). */
static char *tq(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '`')
            *p = '"';
    return out;
}

/* s (with ` for ") parsed: any JSON value; the test fails when it is not
 * JSON. */
static json_t *tload(const char *s)
{
    char *t = tq(s);
    json_error_t e;
    json_t *v = json_loads(t, JSON_DECODE_ANY, &e);
    free(t);
    if (!v)
        fail_msg("not JSON: %s: %s", s, e.text);
    return v;
}

#endif
