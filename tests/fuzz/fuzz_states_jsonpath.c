/* libFuzzer target: the States Language's paths (services/states/
 * jsonpath.h), which a state machine's definition supplies. Whatever
 * compiles is applied to a document of every JSON kind (never a crash; a
 * definite path answers one node or none, any other an array); whatever
 * compiles as a reference path is definite and can be written to. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/states/jsonpath.h"

static const char doc_text[] =
    "{\"a\": {\"b\": [1, 2.5, \"x\", null, true, {\"c\": []}]}, \"d e\": \"s\","
    " \"items\": [{\"p\": 3, \"k\": \"x\"}, {\"p\": 12}, {\"k\": \"y\"}], \"n\": -1}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    json_t *doc = json_loads(doc_text, 0, NULL);
    for (unsigned flags = 0; flags <= SL_JSONPATH_REFERENCE; flags++) {
        struct sl_jsonpath *p = NULL;
        struct sl_err err = {0};
        if (sl_jsonpath_compile(s, flags, &p, &err))
            continue;
        if (strcmp(sl_jsonpath_text(p), s) != 0)
            abort();
        json_t *got = NULL;
        int rc = sl_jsonpath_get(p, doc, &got);
        if (!sl_jsonpath_is_definite(p) && (rc || !json_is_array(got)))
            abort();
        if (sl_jsonpath_is_definite(p) && rc && rc != SL_ENOTFOUND)
            abort();
        json_decref(got);
        if (flags & SL_JSONPATH_REFERENCE) {
            if (!sl_jsonpath_is_definite(p))
                abort();
            json_t *copy = json_deep_copy(doc), *v = json_string("set");
            rc = sl_jsonpath_set(p, &copy, v, &err);
            if (rc == 0) {
                json_t *back = NULL;
                if (sl_jsonpath_get(p, copy, &back) || !json_equal(back, v))
                    abort();
                json_decref(back);
            } else if (rc != SL_EINVAL) {
                abort();
            }
            json_decref(v);
            json_decref(copy);
        }
        sl_jsonpath_free(p);
    }
    json_decref(doc);
    free(s);
    return 0;
}
