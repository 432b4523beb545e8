/*
 * The text forms of Parquet values (formats/pqtext.h) and CSV cells as
 * column values (sl_pq_value_from_text, parquet.h).
 */
#include "formats/pqtext.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DIGIT(ch) ((unsigned)((unsigned char)(ch) - '0') < 10)

int64_t pq_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void pq_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
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

int64_t pq_pow10(int n)
{
    int64_t v = 1;
    while (n-- > 0)
        v *= 10;
    return v;
}

bool pq_text_bool(const char *s, size_t n, bool *b)
{
    if (n == 4 && strncasecmp(s, "true", 4) == 0)
        *b = true;
    else if (n == 5 && strncasecmp(s, "false", 5) == 0)
        *b = false;
    else
        return false;
    return true;
}

enum pq_num pq_text_number(const char *s, size_t n, bool *lead0)
{
    size_t i = 0;
    *lead0 = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t int0 = i;
    while (i < n && DIGIT(s[i]))
        i++;
    size_t ni = i - int0, nf = 0;
    bool real = false;
    if (i < n && s[i] == '.') {
        real = true;
        size_t f0 = ++i;
        while (i < n && DIGIT(s[i]))
            i++;
        nf = i - f0;
    }
    if (ni + nf == 0)
        return PQ_NUM_NONE;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        real = true;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < n && DIGIT(s[i]))
            i++;
        if (i == e0)
            return PQ_NUM_NONE;
    }
    if (i != n)
        return PQ_NUM_NONE;
    *lead0 = ni > 1 && s[int0] == '0';
    return real ? PQ_NUM_REAL : PQ_NUM_INT;
}

int pq_text_int(const char *s, size_t n, int64_t *v)
{
    size_t i = 0;
    bool neg = false, over = false;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return SL_EINVAL;
    uint64_t u = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)s[i] - '0');
        if (d > 9)
            return SL_EINVAL;
        if (u > (UINT64_MAX - d) / 10)
            over = true; /* (the rest is still read: "99…9x" is no integer) */
        else
            u = u * 10 + d;
    }
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (over || u > lim)
        return SL_ETOOBIG;
    *v = !neg ? (int64_t)u : u == lim ? INT64_MIN : -(int64_t)u;
    return 0;
}

/* The number s[0..n) (of pq_text_number's grammar) exactly when it is a
 * mantissa of at most 2^53 times a power of ten within 10^22 either way:
 * both are exact doubles, so one multiplication or division rounds
 * correctly (Clinger's fast path). false: strtod must do it. */
static bool fast_double(const char *s, size_t n, double *d)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    uint64_t m = 0;
    int digits = 0, exp10 = 0;
    bool point = false;
    for (; i < n; i++) {
        if (s[i] == '.') {
            point = true;
            continue;
        }
        unsigned dg = (unsigned)((unsigned char)s[i] - '0');
        if (dg > 9)
            break;
        if (m || dg)
            digits++;
        if (digits > 19)
            return false;
        m = m * 10 + dg;
        if (point)
            exp10--;
    }
    if (i < n) { /* e[+-]digits */
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        int e = 0;
        for (; i < n; i++) {
            if (e > 1000)
                return false;
            e = e * 10 + (s[i] - '0');
        }
        exp10 += eneg ? -e : e;
    }
    if (m > (1ull << 53) || exp10 < -22 || exp10 > 22)
        return false;
    double v = (double)m;
    v = exp10 < 0 ? v / pow10[-exp10] : v * pow10[exp10];
    *d = neg ? -v : v;
    return true;
}

int pq_text_double(const char *s, size_t n, double *d)
{
    bool lead0;
    if (pq_text_number(s, n, &lead0) == PQ_NUM_NONE)
        return SL_EINVAL;
    if (fast_double(s, n, d))
        return 0;
    /* strtod wants a terminated string: a copy (the grammar checked above
     * keeps it from reading hex, "inf" or "nan"). */
    char local[128], *t = local;
    if (n >= sizeof(local) && !(t = malloc(n + 1)))
        return SL_ENOMEM;
    memcpy(t, s, n);
    t[n] = '\0';
    *d = strtod(t, NULL);
    if (t != local)
        free(t);
    return 0;
}

static bool digits(const char *p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (!DIGIT(p[i]))
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return true;
}

/* The "YYYY-MM-DD" that s[0..10) must be: a day its month has. */
static bool date_part(const char *s, int64_t *days)
{
    static const unsigned char month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, m, d;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    if (d > month_days[m - 1] + (unsigned)(m == 2 && leap))
        return false;
    *days = pq_days_from_civil(y, m, d);
    return true;
}

bool pq_text_date(const char *s, size_t n, int64_t *days)
{
    return n == 10 && date_part(s, days);
}

bool pq_text_timestamp(const char *s, size_t n, int64_t *us)
{
    int64_t days;
    if (n < 10 || !date_part(s, &days))
        return false;
    if (n == 10) {
        *us = days * 86400 * 1000000;
        return true;
    }
    unsigned hh, mm, ss;
    const char *p = s + 10, *end = s + n;
    if (n < 19 || (*p != 'T' && *p != 't' && *p != ' ') || !digits(p + 1, 2, &hh) ||
        p[3] != ':' || !digits(p + 4, 2, &mm) || p[6] != ':' || !digits(p + 7, 2, &ss) ||
        hh > 23 || mm > 59 || ss > 60)
        return false;
    p += 9;
    int64_t frac = 0;
    if (p < end && *p == '.') {
        int k = 0;
        for (p++; p < end && DIGIT(*p); p++, k++)
            if (k < 6)
                frac = frac * 10 + (*p - '0');
        if (!k)
            return false;
        for (; k < 6; k++)
            frac *= 10;
    }
    int64_t off = 0;
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        unsigned oh, om;
        if (end - p < 6 || !digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return false;
        off = (int64_t)(oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    }
    if (p != end)
        return false;
    *us = ((days * 86400 + hh * 3600 + mm * 60 + ss) - off) * 1000000 + frac;
    return true;
}

void pq_decimal_ps(const struct sl_pq_column *c, int *precision, int *scale)
{
    *precision = c->precision >= 1 && c->precision <= 18 ? c->precision : 18;
    *scale = c->scale < 0 ? 0 : SL_MIN(c->scale, *precision);
}

enum pq_dec pq_text_decimal(const char *s, size_t n, int precision, int scale, int64_t *v)
{
    if (precision < 1 || precision > 18)
        precision = 18;
    scale = scale < 0 ? 0 : SL_MIN(scale, precision);
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    size_t i0 = i;
    while (i < n && DIGIT(s[i]))
        i++;
    size_t ie = i, f0 = i, fe = i;
    if (i < n && s[i] == '.') {
        f0 = ++i;
        while (i < n && DIGIT(s[i]))
            i++;
        fe = i;
    }
    if (i != n || (ie - i0) + (fe - f0) == 0)
        return PQ_DEC_SYNTAX;
    while (i0 < ie && s[i0] == '0')
        i0++;
    while (fe - f0 > (size_t)scale && s[fe - 1] == '0')
        fe--;
    if (fe - f0 > (size_t)scale)
        return PQ_DEC_FRACTION;
    if (ie - i0 > (size_t)(precision - scale))
        return PQ_DEC_PRECISION;
    int64_t x = 0;
    for (size_t k = i0; k < ie; k++)
        x = x * 10 + (s[k] - '0');
    for (size_t k = f0; k < fe; k++)
        x = x * 10 + (s[k] - '0');
    x *= pq_pow10(scale - (int)(fe - f0));
    *v = neg ? -x : x;
    return PQ_DEC_OK;
}

/* ---- CSV cells ------------------------------------------------------------------------ */

/* s[0..n) fit to be quoted in a message: cut, and '?' for what is not
 * printable ASCII (the text may be anything). */
static const char *shown(const char *s, size_t n, char *buf, size_t cap)
{
    size_t k = 0, max = cap - 4;
    for (; k < n && k < max; k++)
        buf[k] = s[k] >= 0x20 && s[k] < 0x7f && s[k] != '"' ? s[k] : '?';
    if (k < n)
        memcpy(buf + k, "...", 3), k += 3;
    buf[k] = '\0';
    return buf;
}

int sl_pq_value_from_text(const struct sl_pq_column *c, const char *s, size_t n, struct sl_arena *a,
                          struct sl_pq_value *v, struct sl_err *err)
{
    (void)a; /* (strings and binary are borrowed from s: nothing is allocated today) */
    memset(v, 0, sizeof(*v));
    if (!n) {
        if (!c->optional)
            return sl_errf(err, SL_EINVAL, "column %s: the cell is empty, a value is required",
                           c->name);
        v->null = true;
        return 0;
    }
    char buf[48];
    int rc;
    switch (c->type) {
    case SL_PQ_BOOL:
        if (pq_text_bool(s, n, &v->b))
            return 0;
        break;
    case SL_PQ_INT32:
    case SL_PQ_INT64:
        rc = pq_text_int(s, n, &v->i64);
        if (rc == SL_EINVAL)
            break;
        if (rc || (c->type == SL_PQ_INT32 && (v->i64 < INT32_MIN || v->i64 > INT32_MAX)))
            return sl_errf(err, SL_EINVAL, "column %s: %s is out of range for %s", c->name,
                           shown(s, n, buf, sizeof(buf)),
                           c->type == SL_PQ_INT32 ? "int (32 bits)" : "bigint (64 bits)");
        return 0;
    case SL_PQ_FLOAT:
    case SL_PQ_DOUBLE:
        rc = pq_text_double(s, n, &v->d);
        if (rc == SL_ENOMEM)
            return sl_errf(err, rc, "column %s: out of memory", c->name);
        if (rc)
            break;
        if (c->type == SL_PQ_FLOAT && isfinite(v->d) && fabs(v->d) > FLT_MAX)
            return sl_errf(err, SL_EINVAL, "column %s: %s is out of range for float", c->name,
                           shown(s, n, buf, sizeof(buf)));
        return 0;
    case SL_PQ_STRING:
        if (!sl_utf8_valid(s, n))
            return sl_errf(err, SL_EINVAL, "column %s: the value is not UTF-8 text", c->name);
        v->s = s;
        v->n = n;
        return 0;
    case SL_PQ_BINARY:
        v->s = s;
        v->n = n;
        return 0;
    case SL_PQ_DATE:
        if (pq_text_date(s, n, &v->i64))
            return 0;
        break;
    case SL_PQ_TIMESTAMP_MS:
    case SL_PQ_TIMESTAMP_US:
        if (!pq_text_timestamp(s, n, &v->i64))
            break;
        if (c->type == SL_PQ_TIMESTAMP_MS)
            v->i64 = v->i64 / 1000 - (v->i64 % 1000 < 0);
        return 0;
    case SL_PQ_DECIMAL: {
        int p, sc;
        pq_decimal_ps(c, &p, &sc);
        switch (pq_text_decimal(s, n, p, sc, &v->i64)) {
        case PQ_DEC_OK:
            return 0;
        case PQ_DEC_FRACTION:
            return sl_errf(err, SL_EINVAL,
                           "column %s: %s has more than %d digits after the point (decimal(%d,%d))",
                           c->name, shown(s, n, buf, sizeof(buf)), sc, p, sc);
        case PQ_DEC_PRECISION:
            return sl_errf(err, SL_EINVAL,
                           "column %s: %s has more than %d digits before the point "
                           "(decimal(%d,%d))",
                           c->name, shown(s, n, buf, sizeof(buf)), p - sc, p, sc);
        case PQ_DEC_SYNTAX:
            break;
        }
        break;
    }
    }
    static const char *const names[] = {
        "a boolean (true or false)",
        "an integer",
        "an integer",
        "a number",
        "a number",
        "text",
        "bytes",
        "a date (YYYY-MM-DD)",
        "a timestamp (YYYY-MM-DD[THH:MM:SS[.fff][Z|+hh:mm]])",
        "a timestamp (YYYY-MM-DD[THH:MM:SS[.ffffff][Z|+hh:mm]])",
        "a decimal number",
    };
    return sl_errf(err, SL_EINVAL, "column %s: \"%s\" is not %s", c->name,
                   shown(s, n, buf, sizeof(buf)), names[c->type]);
}
