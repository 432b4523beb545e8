/* libFuzzer target: GetPartitions' expressions (services/glue/expr.c),
 * which the Glue API takes from the network: whatever compiles evaluates
 * over a few partitions (never a crash, a read past the text or a deep
 * recursion). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/glue/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *keys[] = {"year", "month", "region"};
    const bool numeric[] = {false, true, false};
    struct glue_expr *e = NULL;
    struct sl_err err = {0};
    if (glue_expr_compile(text, keys, numeric, 3, &e, &err) == 0) {
        const char *rows[][3] = {{"2024", "7", "eu"}, {"2023", "12", NULL}, {"", "x", "%"}};
        for (size_t i = 0; i < 3; i++)
            (void)glue_expr_eval(e, rows[i]);
        glue_expr_free(e);
    }
    free(text);
    return 0;
}
