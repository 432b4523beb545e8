/*
 * Parquet values to and from JSON (parquet.h): booleans, numbers and
 * strings as themselves; binary as base64; dates as "YYYY-MM-DD";
 * timestamps as RFC 3339 in UTC ("…T…Z", milli- or microseconds);
 * decimals as strings of their digits ("-12.30"), taken from numbers too.
 */
#include "formats/parquet.h"
#include "formats/pqtext.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sl_pq_value_from_json(const struct sl_pq_column *c, json_t *j, struct sl_arena *a,
                          struct sl_pq_value *v, struct sl_err *err)
{
    memset(v, 0, sizeof(*v));
    if (!j || json_is_null(j)) {
        v->null = true;
        return 0;
    }
    const char *s = json_string_value(j);
    switch (c->type) {
    case SL_PQ_BOOL:
        if (!json_is_boolean(j))
            break;
        v->b = json_is_true(j);
        return 0;
    case SL_PQ_INT32:
    case SL_PQ_INT64:
        if (!json_is_integer(j))
            break;
        v->i64 = json_integer_value(j);
        return 0;
    case SL_PQ_FLOAT:
    case SL_PQ_DOUBLE:
        if (!json_is_number(j))
            break;
        v->d = json_number_value(j);
        /* (As from text: a float column takes no value a float cannot hold.) */
        if (c->type == SL_PQ_FLOAT && isfinite(v->d) && fabs(v->d) > FLT_MAX)
            return sl_errf(err, SL_EINVAL, "column %s: %g is out of range for float", c->name,
                           v->d);
        return 0;
    case SL_PQ_STRING:
        if (!s)
            break;
        v->s = s;
        v->n = json_string_length(j);
        return 0;
    case SL_PQ_BINARY: {
        if (!s)
            break;
        size_t n = json_string_length(j), got = 0;
        uint8_t *p = sl_arena_alloc(a, n + 1);
        if (!p)
            return SL_ENOMEM;
        if (sl_base64_decode(s, n, p, n + 1, &got))
            break;
        v->s = (const char *)p;
        v->n = got;
        return 0;
    }
    case SL_PQ_DATE:
        if (json_is_integer(j)) {
            v->i64 = json_integer_value(j);
            return 0;
        }
        if (s && pq_text_date(s, json_string_length(j), &v->i64))
            return 0;
        break;
    case SL_PQ_TIMESTAMP_MS:
    case SL_PQ_TIMESTAMP_US:
        if (json_is_integer(j)) {
            v->i64 = json_integer_value(j);
            return 0;
        }
        if (s && pq_text_timestamp(s, json_string_length(j), &v->i64)) {
            if (c->type == SL_PQ_TIMESTAMP_MS)
                v->i64 = v->i64 / 1000 - (v->i64 % 1000 < 0);
            return 0;
        }
        break;
    case SL_PQ_DECIMAL: {
        int p, sc;
        pq_decimal_ps(c, &p, &sc);
        if (s) {
            if (pq_text_decimal(s, json_string_length(j), p, sc, &v->i64) == PQ_DEC_OK)
                return 0;
            break;
        }
        int64_t lim = pq_pow10(p); /* (unscaled values have at most p digits) */
        if (json_is_integer(j)) {
            int64_t x = json_integer_value(j), ilim = pq_pow10(p - sc);
            if (x > -ilim && x < ilim) {
                v->i64 = x * pq_pow10(sc);
                return 0;
            }
        }
        if (json_is_real(j)) {
            double x = json_real_value(j) * (double)pq_pow10(sc);
            if (fabs(x) < (double)lim) {
                v->i64 = llround(x);
                if (v->i64 > -lim && v->i64 < lim)
                    return 0;
            }
        }
        break;
    }
    }
    static const char *const names[] = {"a boolean", "an integer", "an integer", "a number",
                                        "a number", "a string", "base64 text",
                                        "a date (YYYY-MM-DD)", "a timestamp (RFC 3339)",
                                        "a timestamp (RFC 3339)", "a decimal"};
    return sl_errf(err, SL_EINVAL, "column %s: the value is not %s", c->name, names[c->type]);
}

json_t *sl_pq_value_to_json(const struct sl_pq_column *c, const struct sl_pq_value *v)
{
    if (v->null)
        return json_null();
    char buf[96];
    switch (c->type) {
    case SL_PQ_BOOL:
        return json_boolean(v->b);
    case SL_PQ_INT32:
    case SL_PQ_INT64:
        return json_integer(v->i64);
    case SL_PQ_FLOAT:
    case SL_PQ_DOUBLE:
        return isfinite(v->d) ? json_real(v->d) : json_null();
    case SL_PQ_STRING:
        return json_stringn(v->s ? v->s : "", v->n);
    case SL_PQ_BINARY: {
        struct sl_buf b;
        sl_buf_init(&b, 0);
        sl_base64_encode(&b, (const uint8_t *)v->s, v->n);
        json_t *out = json_string(b.data ? b.data : "");
        sl_buf_free(&b);
        return out;
    }
    case SL_PQ_DATE: {
        int64_t y;
        unsigned m, d;
        pq_civil_from_days(v->i64, &y, &m, &d);
        snprintf(buf, sizeof(buf), "%04lld-%02u-%02u", (long long)y, m, d);
        return json_string(buf);
    }
    case SL_PQ_TIMESTAMP_MS:
    case SL_PQ_TIMESTAMP_US: {
        int64_t per = c->type == SL_PQ_TIMESTAMP_MS ? 1000 : 1000000;
        /* (Floor divisions, which never negate: INT64_MIN included.) */
        int64_t secs = v->i64 / per - (v->i64 % per < 0);
        int64_t frac = v->i64 - secs * per;
        int64_t days = secs / 86400 - (secs % 86400 < 0);
        int64_t rest = secs - days * 86400, y;
        unsigned m, d;
        pq_civil_from_days(days, &y, &m, &d);
        snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d.%0*lldZ", (long long)y, m, d,
                 (int)(rest / 3600), (int)(rest / 60 % 60), (int)(rest % 60),
                 c->type == SL_PQ_TIMESTAMP_MS ? 3 : 6, (long long)frac);
        return json_string(buf);
    }
    case SL_PQ_DECIMAL: {
        int64_t p = pq_pow10(c->scale > 0 && c->scale <= 18 ? c->scale : 0);
        uint64_t a = v->i64 < 0 ? (uint64_t)0 - (uint64_t)v->i64 : (uint64_t)v->i64;
        int scale = c->scale > 0 && c->scale <= 18 ? c->scale : 0;
        if (scale > 0)
            snprintf(buf, sizeof(buf), "%s%llu.%0*llu", v->i64 < 0 ? "-" : "",
                     (unsigned long long)(a / (uint64_t)p), scale & 31,
                     (unsigned long long)(a % (uint64_t)p));
        else
            snprintf(buf, sizeof(buf), "%s%llu", v->i64 < 0 ? "-" : "", (unsigned long long)a);
        return json_string(buf);
    }
    }
    return json_null();
}

int sl_pq_type_parse(const char *name, struct sl_pq_column *c)
{
    static const struct {
        const char *name;
        enum sl_pq_type type;
    } types[] = {{"boolean", SL_PQ_BOOL},       {"int", SL_PQ_INT32},
                 {"int32", SL_PQ_INT32},        {"bigint", SL_PQ_INT64},
                 {"int64", SL_PQ_INT64},        {"float", SL_PQ_FLOAT},
                 {"double", SL_PQ_DOUBLE},      {"string", SL_PQ_STRING},
                 {"binary", SL_PQ_BINARY},      {"date", SL_PQ_DATE},
                 {"timestamp", SL_PQ_TIMESTAMP_MS}, {"timestamp_ms", SL_PQ_TIMESTAMP_MS},
                 {"timestamp_us", SL_PQ_TIMESTAMP_US}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(name, types[i].name) == 0) {
            c->type = types[i].type;
            return 0;
        }
    int p, s;
    char end;
    if (sscanf(name, "decimal(%d,%d%c", &p, &s, &end) == 3 && end == ')' &&
        name[strlen(name) - 1] == ')' && p >= 1 && p <= 18 && s >= 0 && s <= p) {
        c->type = SL_PQ_DECIMAL;
        c->precision = p;
        c->scale = s;
        return 0;
    }
    return SL_EINVAL;
}

const char *sl_pq_type_name(const struct sl_pq_column *c, char *buf, size_t n)
{
    static const char *const names[] = {"boolean", "int",    "bigint", "float",
                                        "double",  "string", "binary", "date",
                                        "timestamp", "timestamp_us", "decimal"};
    if (c->type == SL_PQ_DECIMAL)
        snprintf(buf, n, "decimal(%d,%d)", c->precision, c->scale);
    else
        snprintf(buf, n, "%s", names[c->type]);
    return buf;
}

int sl_pq_schema_parse(char *text, struct sl_pq_column *cols, size_t max, size_t *n,
                       struct sl_err *err)
{
    *n = 0;
    for (char *save = NULL, *part = strtok_r(text, ",", &save); part;
         part = strtok_r(NULL, ",", &save)) {
        /* (A decimal's comma: decimal(10,2) was split; join it back.) */
        if (strncmp(strchr(part, ':') ? strchr(part, ':') + 1 : "", "decimal(", 8) == 0 &&
            !strchr(part, ')')) {
            char *rest = strtok_r(NULL, ",", &save);
            if (!rest)
                return sl_errf(err, SL_EINVAL, "column %s: decimal( without its )", part);
            part[strlen(part)] = ','; /* (strtok_r's NUL back to a comma) */
        }
        while (*part == ' ')
            part++;
        char *colon = strchr(part, ':');
        if (!colon || colon == part)
            return sl_errf(err, SL_EINVAL, "'%.100s' is not name:type", part);
        if (*n >= max)
            return sl_errf(err, SL_EINVAL, "more than %zu columns", max);
        *colon = '\0';
        char *type = colon + 1;
        size_t tl = strlen(type);
        while (tl && type[tl - 1] == ' ')
            type[--tl] = '\0';
        struct sl_pq_column *c = &cols[(*n)++];
        memset(c, 0, sizeof(*c));
        c->name = part;
        c->optional = !(tl && type[tl - 1] == '!');
        if (!c->optional)
            type[tl - 1] = '\0';
        if (sl_pq_type_parse(type, c))
            return sl_errf(err, SL_EINVAL, "column %.100s: unknown type '%.60s'", part, type);
    }
    return *n ? 0 : sl_errf(err, SL_EINVAL, "no columns");
}
