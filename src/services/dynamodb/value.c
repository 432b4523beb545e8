/*
 * DynamoDB's attribute values (internal.h) as the JSON protocol carries
 * them, {"S": "text"}, {"N": "1.5"}, {"M": {...}}...: their types,
 * equality and order as expressions see them, and their text in error
 * messages.
 */
#include "services/dynamodb/internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[DDB_T_COUNT] = {
    [DDB_T_S] = "S",   [DDB_T_NUM] = "N",  [DDB_T_B] = "B",       [DDB_T_BOOL] = "BOOL",
    [DDB_T_NULL] = "NULL", [DDB_T_M] = "M", [DDB_T_L] = "L",     [DDB_T_SS] = "SS",
    [DDB_T_NS] = "NS", [DDB_T_BS] = "BS",
};

enum ddb_type ddb_type_of(const json_t *v, const json_t **inner)
{
    if (!json_is_object(v) || json_object_size(v) != 1)
        return DDB_T_NONE;
    const char *k = json_object_iter_key(json_object_iter((json_t *)v));
    for (int t = 1; t < DDB_T_COUNT; t++)
        if (strcmp(k, type_names[t]) == 0) {
            if (inner)
                *inner = json_object_get(v, k);
            return (enum ddb_type)t;
        }
    return DDB_T_NONE;
}

const char *ddb_type_name(enum ddb_type t)
{
    return t > DDB_T_NONE && t < DDB_T_COUNT ? type_names[t] : "";
}

enum ddb_type ddb_type_by_name(const char *name)
{
    for (int t = 1; t < DDB_T_COUNT; t++)
        if (strcmp(name, type_names[t]) == 0)
            return (enum ddb_type)t;
    return DDB_T_NONE;
}

/* Bytes of a B value (base64 text): malloc'd, or NULL. */
static uint8_t *bytes_of(const json_t *s, size_t *n)
{
    const char *t = json_string_value(s);
    size_t len = t ? json_string_length(s) : 0;
    uint8_t *out = malloc(len / 4 * 3 + 3);
    if (out && sl_base64_decode(t ? t : "", len, out, len / 4 * 3 + 3, n) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static int cmp_bytes(const void *a, size_t na, const void *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c)
        return c < 0 ? -1 : 1;
    return (na > nb) - (na < nb);
}

/* Scalars of one type compared (S, N, B): -1, 0, 1; 2 when one is not
 * what its type says. */
static int cmp_scalar(enum ddb_type t, const json_t *a, const json_t *b)
{
    if (!json_is_string(a) || !json_is_string(b))
        return 2;
    if (t == DDB_T_S)
        return cmp_bytes(json_string_value(a), json_string_length(a), json_string_value(b),
                         json_string_length(b));
    if (t == DDB_T_NUM) {
        struct ddb_num x, y;
        if (ddb_num_parse(json_string_value(a), json_string_length(a), &x) ||
            ddb_num_parse(json_string_value(b), json_string_length(b), &y))
            return 2;
        return ddb_num_cmp(&x, &y);
    }
    size_t na, nb;
    uint8_t *x = bytes_of(a, &na), *y = bytes_of(b, &nb);
    int c = x && y ? cmp_bytes(x, na, y, nb) : 2;
    free(x);
    free(y);
    return c;
}

int ddb_value_cmp(const json_t *a, const json_t *b)
{
    const json_t *x = NULL, *y = NULL;
    enum ddb_type t = ddb_type_of(a, &x);
    if (t != ddb_type_of(b, &y) || (t != DDB_T_S && t != DDB_T_NUM && t != DDB_T_B))
        return 2;
    return cmp_scalar(t, x, y);
}

/* Whether set a holds every element of set b (of type t's elements). */
static bool set_covers(enum ddb_type t, const json_t *a, const json_t *b)
{
    enum ddb_type et = t == DDB_T_SS ? DDB_T_S : t == DDB_T_NS ? DDB_T_NUM : DDB_T_B;
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(b, i, y)
    {
        bool found = false;
        json_array_foreach(a, j, x)
        {
            if (cmp_scalar(et, x, y) == 0) {
                found = true;
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

bool ddb_value_equal(const json_t *a, const json_t *b)
{
    const json_t *x = NULL, *y = NULL;
    enum ddb_type t = ddb_type_of(a, &x);
    if (t == DDB_T_NONE || t != ddb_type_of(b, &y))
        return false;
    switch (t) {
    case DDB_T_S:
    case DDB_T_NUM:
    case DDB_T_B:
        return cmp_scalar(t, x, y) == 0;
    case DDB_T_BOOL:
    case DDB_T_NULL:
        return json_is_true(x) == json_is_true(y);
    case DDB_T_SS:
    case DDB_T_NS:
    case DDB_T_BS:
        return json_is_array(x) && json_is_array(y) && json_array_size(x) == json_array_size(y) &&
               set_covers(t, x, y);
    case DDB_T_L: {
        if (!json_is_array(x) || !json_is_array(y) || json_array_size(x) != json_array_size(y))
            return false;
        for (size_t i = 0; i < json_array_size(x); i++)
            if (!ddb_value_equal(json_array_get(x, i), json_array_get(y, i)))
                return false;
        return true;
    }
    case DDB_T_M: {
        if (!json_is_object(x) || !json_is_object(y) || json_object_size(x) != json_object_size(y))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)x, k, v)
        {
            json_t *w = json_object_get(y, k);
            if (!w || !ddb_value_equal(v, w))
                return false;
        }
        return true;
    }
    default:
        return false;
    }
}

bool ddb_set_has(const json_t *set, const json_t *elem)
{
    const json_t *x = NULL, *y = NULL;
    enum ddb_type t = ddb_type_of(set, &x), et = ddb_type_of(elem, &y);
    enum ddb_type want = t == DDB_T_SS   ? DDB_T_S
                         : t == DDB_T_NS ? DDB_T_NUM
                         : t == DDB_T_BS ? DDB_T_B
                                         : DDB_T_NONE;
    if (want == DDB_T_NONE || et != want || !json_is_array(x))
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(x, i, v)
    {
        if (cmp_scalar(want, v, y) == 0)
            return true;
    }
    return false;
}

/* The value in DynamoDB's words: {S:text}, {N:1}, {SS:[a, b]}, {M:{k={S:v}}}. */
static void text_of(struct sl_buf *b, const json_t *v)
{
    const json_t *x;
    enum ddb_type t = ddb_type_of(v, &x);
    sl_buf_printf(b, "{%s:", ddb_type_name(t));
    size_t i;
    json_t *e;
    const char *k;
    switch (t) {
    case DDB_T_S:
    case DDB_T_NUM:
    case DDB_T_B:
        sl_buf_puts(b, json_string_value(x) ? json_string_value(x) : "");
        break;
    case DDB_T_BOOL:
    case DDB_T_NULL:
        sl_buf_puts(b, json_is_true(x) ? "true" : "false");
        break;
    case DDB_T_SS:
    case DDB_T_NS:
    case DDB_T_BS:
        sl_buf_putc(b, '[');
        json_array_foreach(x, i, e)
            sl_buf_printf(b, "%s%s", i ? ", " : "", json_string_value(e) ? json_string_value(e) : "");
        sl_buf_putc(b, ']');
        break;
    case DDB_T_L:
        sl_buf_putc(b, '[');
        json_array_foreach(x, i, e)
        {
            if (i)
                sl_buf_puts(b, ", ");
            text_of(b, e);
        }
        sl_buf_putc(b, ']');
        break;
    case DDB_T_M:
        sl_buf_putc(b, '{');
        i = 0;
        json_object_foreach((json_t *)x, k, e)
        {
            sl_buf_printf(b, "%s%s=", i++ ? ", " : "", k);
            text_of(b, e);
        }
        sl_buf_putc(b, '}');
        break;
    default:
        break;
    }
    sl_buf_putc(b, '}');
}

void ddb_value_text(const json_t *v, struct sl_buf *out)
{
    text_of(out, v);
}
