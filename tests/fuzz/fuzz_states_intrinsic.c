/* libFuzzer target: the States Language's intrinsic functions (services/
 * states/intrinsic.h), which a state machine's definition supplies.
 * Whatever compiles is evaluated against an input and a context object
 * (never a crash; a call answers a value or fails with a message). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/states/intrinsic.h"

static const char input_text[] =
    "{\"s\": \"a,b;c\", \"n\": 7, \"r\": 2.5, \"arr\": [1, 2, 2, \"x\", null, {\"k\": 1}],"
    " \"o\": {\"a\": 1}, \"p\": {\"b\": [true]}, \"j\": \"{\\\"x\\\": [1]}\", \"b64\": \"aGk=\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct sl_intrinsic *f = NULL;
    struct sl_err err = {0};
    (void)sl_intrinsic_is_call(s);
    if (sl_intrinsic_compile(s, &f, &err) == 0) {
        json_t *input = json_loads(input_text, 0, NULL);
        json_t *ctx = json_pack("{s:{s:s}}", "Execution", "Name", "run");
        json_t *out = NULL;
        int rc = sl_intrinsic_eval(f, input, ctx, &out, &err);
        if ((rc == 0) != (out != NULL))
            abort();
        json_decref(out);
        json_decref(input);
        json_decref(ctx);
        sl_intrinsic_free(f);
    } else if (f) {
        abort();
    }
    free(s);
    return 0;
}
