/* libFuzzer target: DynamoDB numbers as clients send them. Whatever parses
 * must write back text that parses to the same number and is written the
 * same again; two numbers (the input split at '|') must order alike by
 * comparison and by their store keys, and their sum and difference, when
 * they have one, must undo each other. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/dynamodb/internal.h"

static bool round_trip(const char *s, size_t n, struct ddb_num *v)
{
    if (ddb_num_parse(s, n, v) != DDB_NUM_OK)
        return false;
    char text[DDB_NUM_TEXT_MAX], again[DDB_NUM_TEXT_MAX];
    struct ddb_num w;
    size_t len = ddb_num_text(v, text);
    if (len >= DDB_NUM_TEXT_MAX || ddb_num_parse(text, len, &w) != DDB_NUM_OK ||
        ddb_num_cmp(v, &w) != 0)
        abort();
    ddb_num_text(&w, again);
    if (strcmp(text, again) != 0)
        abort();
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *bar = memchr(s, '|', size);
    struct ddb_num a, b, sum, back;
    if (!bar) {
        round_trip(s, size, &a);
        return 0;
    }
    if (!round_trip(s, (size_t)(bar - s), &a) ||
        !round_trip(bar + 1, size - (size_t)(bar - s) - 1, &b))
        return 0;
    char ka[DDB_NUM_KEY_MAX], kb[DDB_NUM_KEY_MAX];
    ddb_num_key(&a, ka);
    ddb_num_key(&b, kb);
    int c = strcmp(ka, kb);
    if ((c > 0) - (c < 0) != ddb_num_cmp(&a, &b))
        abort();
    if (ddb_num_add(&a, &b, &sum) == DDB_NUM_OK && ddb_num_sub(&sum, &b, &back) == DDB_NUM_OK &&
        ddb_num_cmp(&back, &a) != 0)
        abort();
    return 0;
}
