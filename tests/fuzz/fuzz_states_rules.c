/* libFuzzer target: the States Language's payload templates and Choice
 * rules (services/states/template.h, choice.h), which a state machine's
 * definition supplies as JSON. The input, parsed, is compiled as a
 * template and as a rule (at the top of Choices and nested); whatever
 * compiles is evaluated against an input and a context object (never a
 * crash; a value or a failure with a message). The text also goes to the
 * RFC 3339 parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/states/choice.h"
#include "services/states/template.h"

static const char input_text[] =
    "{\"s\": \"a*b\", \"n\": 7, \"r\": 2.5, \"t\": true, \"z\": null,"
    " \"when\": \"2016-08-18T17:33:00Z\", \"arr\": [1, \"x\", {\"k\": 1}], \"o\": {\"a\": 1}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t us;
    (void)sl_rfc3339_parse(s, &us);
    json_t *doc = json_loadb(s, size, JSON_DECODE_ANY, NULL);
    json_t *input = json_loads(input_text, 0, NULL);
    json_t *ctx = json_pack("{s:{s:s}}", "Execution", "Name", "run");
    if (doc) {
        struct sl_err err = {0};
        struct sl_template *t = NULL;
        if (sl_template_compile(doc, &t, &err) == 0) {
            json_t *out = NULL;
            int rc = sl_template_eval(t, input, ctx, &out, &err);
            if ((rc == 0) != (out != NULL))
                abort();
            json_decref(out);
            sl_template_free(t);
        }
        for (int top = 0; top < 2; top++) {
            struct sl_choice_rule *r = NULL;
            if (sl_choice_compile(doc, top, &r, &err) == 0) {
                bool holds;
                (void)sl_choice_eval(r, input, ctx, &holds, &err);
                sl_choice_free(r);
            }
        }
    }
    json_decref(doc);
    json_decref(input);
    json_decref(ctx);
    free(s);
    return 0;
}
