/*
 * DynamoDB's numbers (internal.h): decimals of up to 38 significant
 * digits, magnitudes from 1E-130 to under 1E+126, and zero. Parsed from
 * what clients send ("0042", "1.50", "-1.5e2"), kept normalized, written
 * back as DynamoDB answers them (plain notation: "42", "1.5", "-150"),
 * compared, added and subtracted exactly.
 */
#include "services/dynamodb/internal.h"

#include <stdio.h>
#include <string.h>

/* The exponent range: 0.d × 10^e with DDB_EXP_MIN <= e <= DDB_EXP_MAX. */
#define DDB_EXP_MIN (-129)
#define DDB_EXP_MAX 126

static enum ddb_num_error finish(struct ddb_num *out, const char *digits, size_t n, long long e,
                                 bool neg)
{
    /* Leading zeros shift the point; trailing ones go. */
    while (n && digits[0] == '0') {
        digits++;
        n--;
        e--;
    }
    while (n && digits[n - 1] == '0')
        n--;
    memset(out, 0, sizeof(*out));
    if (!n)
        return DDB_NUM_OK; /* zero ("-0" too) */
    if (n > DDB_DIGITS_MAX)
        return DDB_NUM_PRECISION;
    if (e > DDB_EXP_MAX)
        return DDB_NUM_OVERFLOW;
    if (e < DDB_EXP_MIN)
        return DDB_NUM_UNDERFLOW;
    out->neg = neg;
    out->n = (uint8_t)n;
    memcpy(out->d, digits, n);
    out->e = (int32_t)e;
    return DDB_NUM_OK;
}

enum ddb_num_error ddb_num_parse(const char *s, size_t len, struct ddb_num *out)
{
    char digits[DDB_NUM_TEXT_MAX];
    size_t n = 0, i = 0;
    long long point = 0; /* digits before the point */
    bool neg = false, any = false, dot = false;
    memset(out, 0, sizeof(*out));
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            any = true;
            if (n == 0 && c == '0') {
                /* (Leading zeros: before the point they are nothing, after
                 * it they move the point.) */
                if (dot)
                    point--;
                continue;
            }
            if (n == sizeof(digits)) {
                /* (More zeros are magnitude, to be stripped; any other
                 * digit is one too many.) */
                if (c != '0')
                    return DDB_NUM_PRECISION;
                if (!dot)
                    point++;
                continue;
            }
            digits[n++] = c;
            if (!dot)
                point++;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!any)
        return DDB_NUM_INVALID;
    long long exp = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i == len)
            return DDB_NUM_INVALID;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (exp < 100000)
                exp = exp * 10 + (s[i] - '0');
        if (eneg)
            exp = -exp;
    }
    if (i != len)
        return DDB_NUM_INVALID;
    return finish(out, digits, n, point + exp, neg);
}

size_t ddb_num_text(const struct ddb_num *v, char *out)
{
    char *p = out;
    if (!v->n) {
        *p++ = '0';
    } else {
        if (v->neg)
            *p++ = '-';
        if (v->e <= 0) {
            *p++ = '0';
            *p++ = '.';
            for (int i = 0; i < -v->e; i++)
                *p++ = '0';
            memcpy(p, v->d, v->n);
            p += v->n;
        } else if (v->e >= v->n) {
            memcpy(p, v->d, v->n);
            p += v->n;
            for (int i = v->n; i < v->e; i++)
                *p++ = '0';
        } else {
            memcpy(p, v->d, (size_t)v->e);
            p += v->e;
            *p++ = '.';
            memcpy(p, v->d + v->e, (size_t)(v->n - v->e));
            p += v->n - v->e;
        }
    }
    *p = '\0';
    return (size_t)(p - out);
}

/* The magnitudes of a and b compared: -1, 0, 1. */
static int cmp_abs(const struct ddb_num *a, const struct ddb_num *b)
{
    if (!a->n || !b->n)
        return (a->n > 0) - (b->n > 0);
    if (a->e != b->e)
        return a->e < b->e ? -1 : 1;
    int k = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->d, b->d, (size_t)k);
    if (c)
        return c < 0 ? -1 : 1;
    return (a->n > b->n) - (a->n < b->n);
}

int ddb_num_cmp(const struct ddb_num *a, const struct ddb_num *b)
{
    int sa = a->n ? (a->neg ? -1 : 1) : 0, sb = b->n ? (b->neg ? -1 : 1) : 0;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    int c = cmp_abs(a, b);
    return sa < 0 ? -c : c;
}

/* The digits of v at 10^k (k = e - 1 for its first), or 0. */
static int digit_at(const struct ddb_num *v, long k)
{
    long i = (long)v->e - 1 - k;
    return i >= 0 && i < v->n ? v->d[i] - '0' : 0;
}

/* |a| + |b| (add) or |a| - |b| (with |a| >= |b|), exactly, when the
 * result's digits fit a window of the widest span DDB allows. */
#define SPAN_MAX (DDB_EXP_MAX - DDB_EXP_MIN + 2 * DDB_DIGITS_MAX + 2)
static enum ddb_num_error magnitude(const struct ddb_num *a, const struct ddb_num *b, bool add,
                                    bool neg, struct ddb_num *out)
{
    long hi = (long)(a->e > b->e ? a->e : b->e); /* exclusive: digits at 10^(hi-1) down */
    long lo_a = (long)a->e - a->n, lo_b = (long)b->e - b->n;
    long lo = lo_a < lo_b ? lo_a : lo_b;
    if (!b->n)
        lo = lo_a;
    if (!a->n)
        lo = lo_b;
    long span = hi - lo + 1;
    if (span <= 0 || span > SPAN_MAX)
        return DDB_NUM_PRECISION;
    char digits[SPAN_MAX + 1];
    int carry = 0;
    /* From the lowest place up, into digits[span - 1 - (k - lo)]. */
    for (long k = lo; k <= hi; k++) {
        int d = add ? digit_at(a, k) + digit_at(b, k) + carry
                    : digit_at(a, k) - digit_at(b, k) - carry;
        carry = 0;
        if (d >= 10) {
            d -= 10;
            carry = 1;
        } else if (d < 0) {
            d += 10;
            carry = 1;
        }
        digits[span - 1 - (k - lo)] = (char)('0' + d);
    }
    return finish(out, digits, (size_t)span, hi + 1, neg);
}

enum ddb_num_error ddb_num_add(const struct ddb_num *a, const struct ddb_num *b,
                               struct ddb_num *out)
{
    if (!a->n) {
        *out = *b;
        return DDB_NUM_OK;
    }
    if (!b->n) {
        *out = *a;
        return DDB_NUM_OK;
    }
    if (a->neg == b->neg)
        return magnitude(a, b, true, a->neg, out);
    int c = cmp_abs(a, b);
    if (!c) {
        memset(out, 0, sizeof(*out));
        return DDB_NUM_OK;
    }
    return c > 0 ? magnitude(a, b, false, a->neg, out) : magnitude(b, a, false, b->neg, out);
}

enum ddb_num_error ddb_num_sub(const struct ddb_num *a, const struct ddb_num *b,
                               struct ddb_num *out)
{
    struct ddb_num nb = *b;
    if (nb.n)
        nb.neg = !nb.neg;
    return ddb_num_add(a, &nb, out);
}

const char *ddb_num_message(enum ddb_num_error e)
{
    switch (e) {
    case DDB_NUM_OK:
        return "";
    case DDB_NUM_INVALID:
        return "The parameter cannot be converted to a numeric value";
    case DDB_NUM_PRECISION:
        return "Attempting to store more than 38 significant digits in a Number";
    case DDB_NUM_OVERFLOW:
        return "Number overflow. Attempting to store a number with magnitude larger than "
               "supported range";
    case DDB_NUM_UNDERFLOW:
        return "Number underflow. Attempting to store a number with magnitude smaller than "
               "supported range";
    }
    return "";
}

size_t ddb_num_key(const struct ddb_num *v, char *out)
{
    /* Zero between the negatives ('0') and the positives ('2'); then the
     * exponent (offset to 0..255) and the digits, both complemented for a
     * negative, which ends with '~' so that a longer one sorts first. */
    char *p = out;
    if (!v->n) {
        *p++ = '1';
        *p = '\0';
        return 1;
    }
    int e = v->e - DDB_EXP_MIN;
    if (v->neg)
        e = 255 - e;
    p += snprintf(p, 8, "%c%03d", v->neg ? '0' : '2', e);
    for (int i = 0; i < v->n; i++)
        *p++ = v->neg ? (char)('9' - (v->d[i] - '0')) : v->d[i];
    if (v->neg)
        *p++ = '~';
    *p = '\0';
    return (size_t)(p - out);
}
