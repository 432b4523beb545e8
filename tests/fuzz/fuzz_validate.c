/* libFuzzer target: row rule sets (formats/validate.h), whose schemas
 * and rows come from users' blueprints and data. The input's first line
 * is the rules: a JSON Schema, or a JSON array of columns
 * [["name","glue type",required]...]; the rest is a row: a JSON object
 * when it starts with '{', else text cells separated by tabs. Whatever
 * compiles is checked against the row (never a crash, a leak or a hang),
 * and the answer must not depend on whether a message is asked for or how
 * much room it has; a failure always says why. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/validate.h"

#define MAX_CELLS 64

static struct sl_rules *columns(const json_t *arr)
{
    struct sl_pq_column cols[MAX_CELLS];
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(arr) && n < MAX_CELLS; i++) {
        const json_t *c = json_array_get(arr, i);
        const char *name = json_string_value(json_array_get(c, 0));
        const char *type = json_string_value(json_array_get(c, 1));
        if (!name || !type)
            continue;
        struct sl_pq_column *col = &cols[n];
        memset(col, 0, sizeof(*col));
        col->name = name;
        col->optional = !json_is_true(json_array_get(c, 2));
        if (sl_pq_type_parse(type, col) == 0)
            n++;
    }
    struct sl_rules *r = NULL;
    struct sl_err err = {0};
    return sl_rules_from_columns(cols, n, &r, &err) == 0 ? r : NULL;
}

static void check(const struct sl_rules *r, const struct sl_cell *cells, size_t extra)
{
    char why[256], small[6];
    memset(why, 'x', sizeof(why));
    memset(small, 'x', sizeof(small));
    int rc = sl_rules_check(r, cells, extra, why, sizeof(why));
    if (rc != 0 && rc != SL_EINVAL && rc != SL_ENOMEM)
        abort();
    if (!memchr(why, '\0', sizeof(why)) || (rc != 0) != (why[0] != '\0'))
        abort(); /* (a message exactly when it fails, NUL-terminated) */
    if (sl_rules_check(r, cells, extra, NULL, 0) != rc ||
        sl_rules_check(r, cells, extra, small, sizeof(small)) != rc ||
        !memchr(small, '\0', sizeof(small)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    const char *nl = memchr(p, '\n', size);
    if (!nl)
        return 0;
    json_t *schema = json_loadb(p, (size_t)(nl - p), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!schema)
        return 0;
    struct sl_rules *r = NULL;
    struct sl_err err = {0};
    if (json_is_array(schema))
        r = columns(schema);
    else if (sl_rules_from_json_schema(schema, &r, &err) != 0)
        r = NULL;
    if (!r) {
        json_decref(schema);
        return 0;
    }
    size_t n = sl_rules_count(r);
    if (n > MAX_CELLS)
        goto done;
    for (size_t i = 0; i < n; i++) {
        const char *name = sl_rules_name(r, i);
        if (!name || sl_rules_index(r, name, strlen(name)) != (ssize_t)i)
            abort();
    }
    struct sl_cell cells[MAX_CELLS];
    const char *row = nl + 1;
    size_t len = (size_t)(end - row);
    if (len && row[0] == '{') {
        json_t *obj = json_loadb(row, len, JSON_ALLOW_NUL, NULL);
        size_t extra = 0;
        if (obj && sl_rules_json_cells(r, obj, cells, &extra) == 0) {
            if (extra > json_object_size(obj))
                abort();
            check(r, cells, extra);
        }
        json_decref(obj);
    } else {
        /* Text cells by tab, in property order; one past them absent;
         * any more are extra. */
        memset(cells, 0, sizeof(cells));
        size_t k = 0, extra = 0;
        const char *s = row;
        for (;;) {
            const char *tab = memchr(s, '\t', (size_t)(end - s));
            const char *e = tab ? tab : end;
            if (k < n)
                cells[k++] = (struct sl_cell){s, (size_t)(e - s), NULL, true};
            else
                extra++;
            if (!tab)
                break;
            s = tab + 1;
        }
        check(r, cells, extra);
    }
done:
    sl_rules_free(r);
    json_decref(schema);
    return 0;
}
