/* libFuzzer target: DynamoDB expressions. The first byte picks the kind
 * (condition, filter, key condition, projection, update), the rest is the
 * text; #a..#c and :n, :m, :s, :t, :l are defined. Whatever parses is
 * also tested on, projected from and applied to an item, so the
 * evaluator sees every tree the parser makes. Text that is JSON is also
 * checked as an item of attribute values, as PutItem checks its Item. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/dynamodb/internal.h"

static const char ITEM[] =
    "{\"a\":{\"N\":\"1\"},\"b\":{\"L\":[{\"N\":\"2\"},{\"M\":{\"e\":{\"S\":\"x\"}}}]},"
    "\"c\":{\"M\":{\"d\":{\"L\":[{\"S\":\"y\"},{\"SS\":[\"p\"]}]}}},\"d\":{\"SS\":[\"q\"]},"
    "\"e\":{\"SS\":[\"q\",\"r\"]},\"s\":{\"S\":\"text\"},\"z\":{\"B\":\"AAE=\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    struct ddb_placeholders ph = {
        .names = json_pack("{s:s, s:s, s:s}", "#a", "a", "#b", "b", "#c", "size"),
        .values = json_loads("{\":n\":{\"N\":\"1\"},\":m\":{\"N\":\"9.5e3\"},\":s\":{\"SS\":[\"q\"]},"
                             "\":t\":{\"S\":\"N\"},\":l\":{\"L\":[{\"NULL\":true}]}}",
                             0, NULL),
        .used_names = json_object(),
        .used_values = json_object(),
    };
    enum ddb_expr_kind kind = (enum ddb_expr_kind)(data[0] % 5);
    struct ddb_expr *e = NULL;
    char msg[512];
    if (ddb_expr_parse(kind, text, &ph, &e, msg, sizeof(msg)) == 0) {
        json_t *item = json_loads(ITEM, 0, NULL);
        bool r;
        if (kind == DDB_EXPR_PROJECTION) {
            json_decref(ddb_expr_project(e, item));
        } else if (kind == DDB_EXPR_UPDATE) {
            json_t *paths = NULL;
            if (ddb_expr_update(e, item, &paths, msg, sizeof(msg)) == 0 && !paths)
                abort();
            json_decref(paths);
        } else {
            ddb_expr_test(e, item, &r, msg, sizeof(msg));
        }
        ddb_placeholders_check(&ph, msg, sizeof(msg));
        json_decref(item);
        ddb_expr_free(e);
    } else if (!msg[0]) {
        abort(); /* (a refusal always says why) */
    }
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
    if (doc) {
        json_t *item = ddb_item_normalize(doc, 0, msg, sizeof(msg));
        if (item) {
            ddb_item_size(item);
            json_t *again = ddb_item_normalize(item, 0, msg, sizeof(msg));
            if (!again || !json_equal(again, item))
                abort(); /* (normalized is a fixed point) */
            json_decref(again);
        } else if (!msg[0]) {
            abort();
        }
        json_decref(item);
        json_decref(doc);
    }
    json_decref(ph.names);
    json_decref(ph.values);
    json_decref(ph.used_names);
    json_decref(ph.used_values);
    free(text);
    return 0;
}
