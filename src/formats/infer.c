/*
 * Column types guessed from values (formats/infer.h), with the scanners
 * of formats/pqtext.h that sl_pq_value_from_text converts with.
 */
#include "formats/infer.h"
#include "formats/pqtext.h"

#include <string.h>

#define DIGIT(ch) ((unsigned)((unsigned char)(ch) - '0') < 10)

void sl_infer_init(struct sl_infer_col *c)
{
    memset(c, 0, sizeof(*c));
}

enum sl_infer_kind sl_infer_kind_of(const char *s, size_t n)
{
    if (!n)
        return SL_INFER_NULL;
    bool b;
    switch (s[0]) {
    case 't':
    case 'T':
    case 'f':
    case 'F':
        return pq_text_bool(s, n, &b) ? SL_INFER_BOOL : SL_INFER_STRING;
    case '+':
    case '-':
    case '.':
        break;
    default:
        if (!DIGIT(s[0]))
            return SL_INFER_STRING;
        if (n >= 10 && s[4] == '-') {
            int64_t t;
            if (n == 10)
                return pq_text_date(s, n, &t) ? SL_INFER_DATE : SL_INFER_STRING;
            return pq_text_timestamp(s, n, &t) ? SL_INFER_TIMESTAMP : SL_INFER_STRING;
        }
    }
    bool lead0;
    int64_t v;
    switch (pq_text_number(s, n, &lead0)) {
    case PQ_NUM_INT:
        if (lead0)
            return SL_INFER_STRING;
        return pq_text_int(s, n, &v) == 0 ? SL_INFER_BIGINT : SL_INFER_DOUBLE;
    case PQ_NUM_REAL:
        return lead0 ? SL_INFER_STRING : SL_INFER_DOUBLE;
    case PQ_NUM_NONE:
        break;
    }
    return SL_INFER_STRING;
}

void sl_infer_text(struct sl_infer_col *c, const char *s, size_t n)
{
    c->values++;
    if (!n) {
        c->null = true;
        return;
    }
    /* (Once a string, always one: the rest need not be looked at.) */
    if (!(c->kinds & SL_INFER_STRING))
        c->kinds |= sl_infer_kind_of(s, n);
}

void sl_infer_json(struct sl_infer_col *c, const json_t *j)
{
    c->values++;
    switch (j ? json_typeof(j) : JSON_NULL) {
    case JSON_NULL:
        c->null = true;
        return;
    case JSON_TRUE:
    case JSON_FALSE:
        c->kinds |= SL_INFER_BOOL;
        return;
    case JSON_INTEGER:
        c->kinds |= SL_INFER_BIGINT;
        return;
    case JSON_REAL:
        c->kinds |= SL_INFER_DOUBLE;
        return;
    case JSON_STRING: {
        if (c->kinds & SL_INFER_STRING)
            return;
        size_t n = json_string_length(j);
        enum sl_infer_kind k = n ? sl_infer_kind_of(json_string_value(j), n) : SL_INFER_STRING;
        c->kinds |= k == SL_INFER_DATE || k == SL_INFER_TIMESTAMP ? k : SL_INFER_STRING;
        return;
    }
    case JSON_OBJECT:
    case JSON_ARRAY:
        c->kinds |= SL_INFER_STRING;
        return;
    }
}

void sl_infer_merge(struct sl_infer_col *c, const struct sl_infer_col *other)
{
    c->kinds |= other->kinds;
    c->null |= other->null;
    c->values += other->values;
}

void sl_infer_result(const struct sl_infer_col *c, struct sl_pq_column *out)
{
    unsigned k = c->kinds;
    enum sl_pq_type t = SL_PQ_STRING;
    if (k == SL_INFER_BOOL)
        t = SL_PQ_BOOL;
    else if (k == SL_INFER_BIGINT)
        t = SL_PQ_INT64;
    else if (k && !(k & ~(unsigned)(SL_INFER_BIGINT | SL_INFER_DOUBLE)))
        t = SL_PQ_DOUBLE;
    else if (k == SL_INFER_DATE)
        t = SL_PQ_DATE;
    else if (k && !(k & ~(unsigned)(SL_INFER_DATE | SL_INFER_TIMESTAMP)))
        t = SL_PQ_TIMESTAMP_US;
    out->type = t;
    out->optional = c->null || !c->values;
    out->precision = 0;
    out->scale = 0;
}
