/*
 * Parquet values to and from JSON (parquet.h): booleans, numbers and
 * strings as themselves; binary as base64; dates as "YYYY-MM-DD";
 * timestamps as RFC 3339 in UTC ("…T…Z", milli- or microseconds);
 * decimals as strings of their digits ("-12.30"), taken from numbers too.
 */
#include "formats/parquet.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DD" (the date part of a timestamp too): days, or false. */
static bool parse_date(const char *s, int64_t *days)
{
    unsigned y, m, d;
    if (strlen(s) < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    *days = days_from_civil(y, m, d);
    /* (A day the month does not have, 2024-02-31, comes back another.) */
    int64_t yy;
    unsigned mm, dd;
    civil_from_days(*days, &yy, &mm, &dd);
    return yy == (int64_t)y && mm == m && dd == d;
}

/* RFC 3339 ("2024-05-01T12:30:00.123456Z", "+02:00", a space for the T,
 * or a date alone): microseconds since the epoch, or false. */
static bool parse_timestamp(const char *s, int64_t *us)
{
    int64_t days;
    if (!parse_date(s, &days))
        return false;
    const char *p = s + 10;
    unsigned hh = 0, mm = 0, ss = 0;
    int64_t frac = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (!digits(p + 1, 2, &hh) || p[3] != ':' || !digits(p + 4, 2, &mm) || p[6] != ':' ||
            !digits(p + 7, 2, &ss) || hh > 23 || mm > 59 || ss > 60)
            return false;
        p += 9;
        if (*p == '.') {
            int n = 0;
            for (p++; isdigit((unsigned char)*p); p++, n++)
                if (n < 6)
                    frac = frac * 10 + (*p - '0');
            if (!n)
                return false;
            for (; n < 6; n++)
                frac *= 10;
        }
        int64_t off = 0;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            unsigned oh, om;
            if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
                return false;
            off = (int64_t)(oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
            p += 6;
        }
        if (*p)
            return false;
        *us = ((days * 86400 + hh * 3600 + mm * 60 + ss) - off) * 1000000 + frac;
        return true;
    }
    if (*p)
        return false;
    *us = days * 86400 * 1000000;
    return true;
}

static int64_t pow10i(int n)
{
    int64_t v = 1;
    while (n-- > 0)
        v *= 10;
    return v;
}

/* A decimal's text ("-12.3") scaled by scale: false when it is not one or
 * has more fractional digits than scale. */
static bool parse_decimal(const char *s, int scale, int64_t *out)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    int64_t v = 0;
    int frac = -1, nd = 0;
    for (; *s; s++) {
        if (*s == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (!isdigit((unsigned char)*s) || nd >= 18)
            return false;
        v = v * 10 + (*s - '0');
        nd++;
        if (frac >= 0 && ++frac > scale)
            return false;
    }
    if (!nd)
        return false;
    if (frac < 0)
        frac = 0;
    int64_t m = pow10i(scale - frac);
    if (v > INT64_MAX / m)
        return false;
    *out = (neg ? -v : v) * m;
    return true;
}

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
        if (s && strlen(s) == 10 && parse_date(s, &v->i64))
            return 0;
        break;
    case SL_PQ_TIMESTAMP_MS:
    case SL_PQ_TIMESTAMP_US:
        if (json_is_integer(j)) {
            v->i64 = json_integer_value(j);
            return 0;
        }
        if (s && parse_timestamp(s, &v->i64)) {
            if (c->type == SL_PQ_TIMESTAMP_MS)
                v->i64 = v->i64 / 1000 - (v->i64 % 1000 < 0);
            return 0;
        }
        break;
    case SL_PQ_DECIMAL:
        if (s && parse_decimal(s, c->scale, &v->i64))
            return 0;
        if (json_is_integer(j)) {
            int64_t x = json_integer_value(j), lim = pow10i(18 - c->scale);
            if (x > -lim && x < lim) {
                v->i64 = x * pow10i(c->scale);
                return 0;
            }
        }
        if (json_is_real(j) && fabs(json_real_value(j)) < 1e17) {
            v->i64 = llround(json_real_value(j) * (double)pow10i(c->scale));
            return 0;
        }
        break;
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
        civil_from_days(v->i64, &y, &m, &d);
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
        civil_from_days(days, &y, &m, &d);
        snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d.%0*lldZ", (long long)y, m, d,
                 (int)(rest / 3600), (int)(rest / 60 % 60), (int)(rest % 60),
                 c->type == SL_PQ_TIMESTAMP_MS ? 3 : 6, (long long)frac);
        return json_string(buf);
    }
    case SL_PQ_DECIMAL: {
        int64_t p = pow10i(c->scale > 0 && c->scale <= 18 ? c->scale : 0);
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
