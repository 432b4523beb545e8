/*
 * Rule sets for rows (validate.h): a JSON Schema subset or Glue columns
 * compiled into one struct prop per property, and the checks a row's
 * cells go through. Everything a check needs (numbers, enum members
 * sorted, the type phrase and bounds of messages, regular expressions) is
 * made at compile time; a check only reads. Messages are written only
 * when a row fails.
 */
#include "formats/validate.h"
#include "formats/pqtext.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON types, as bits. */
enum {
    T_NULL = 1,
    T_BOOL = 2,
    T_INT = 4,
    T_NUM = 8,
    T_STR = 16,
    T_ARR = 32,
    T_OBJ = 64,
    T_SCALAR = T_NULL | T_BOOL | T_INT | T_NUM | T_STR,
};

enum fmt { F_NONE, F_DATE, F_DATETIME, F_TIME };

/* What a newline is to a pattern in newline mode (compile_pattern). */
#define RX_NL '\xFF'

/* A number: an exact integer, or a double (big: an integer past int64,
 * +1 or -1 by its sign, d close to it). */
struct num {
    bool real;
    int8_t big;
    int64_t i;
    double d;
};

enum { B_MIN, B_XMIN, B_MAX, B_XMAX, B_N };

struct strv {
    const char *s;
    size_t n;
};

/* An enum (or a const) by type of member, for lookups without jansson. */
struct enumset {
    json_t *values;    /* the array (a reference): its strings back strs */
    struct strv *strs; /* sorted by length, then bytes */
    size_t nstr;
    struct num *nums;
    size_t nnum;
    bool has_true, has_false, has_null, has_other; /* other: arrays, objects */
    char text[96];                                 /* the values as JSON, cut */
};

struct prop {
    char *name;
    size_t namelen;
    bool required;
    bool implicit; /* named by "required" only (an additional property) */
    bool never;    /* its schema is false */
    bool glue;
    struct sl_pq_column col; /* glue: type, precision, scale */
    char gluename[40];       /* glue: "decimal(10,2)" */
    unsigned types;          /* JSON types allowed; 0: any */
    unsigned text_types;     /* what a text cell may be read as */
    char typetxt[80];        /* "an integer or null" */
    bool has[B_N];
    struct num bound[B_N];
    char boundtxt[B_N][32];
    bool has_mult;
    struct num mult;
    char multtxt[32];
    bool has_len;
    size_t minlen, maxlen;
    bool has_re;
    bool re_nl; /* newline mode: a subject's newlines as 0xFF (compile_pattern) */
    regex_t re;
    char *pattern;
    enum fmt format;
    struct enumset *en;
    bool is_const;
    bool num_rules; /* any of has[], has_mult */
};

struct sl_rules {
    struct prop *props;
    size_t n;
    bool closed;     /* additionalProperties false */
    bool never;      /* the whole schema is false */
    bool fold;       /* names without regard to case (Glue) */
    uint32_t *slots; /* index + 1, open addressing; 0: empty */
    size_t mask;
};

/* ---- small helpers --------------------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* Whether s[0..n) is UTF-8 without NUL: eight ASCII bytes at a time,
 * then the full check from the first byte that is not. */
static bool utf8_ok(const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if ((w & 0x8080808080808080ull) ||
            ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull))
            break;
    }
    return sl_utf8_valid(s + i, n - i);
}

static size_t code_points(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static int ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return 0;
    return 1;
}

/* ---- numbers ---------------------------------------------------------------------------- */

/* The sign of i - d, exactly. */
static int cmp_id(int64_t i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double t = trunc(d);
    int64_t ti = (int64_t)t;
    if (i != ti)
        return i < ti ? -1 : 1;
    double f = d - t;
    return f > 0 ? -1 : f < 0 ? 1 : 0;
}

static int num_cmp(const struct num *a, const struct num *b)
{
    if (a->big && !b->real)
        return a->big;
    if (b->big && !a->real)
        return -b->big;
    if (!a->real && !b->real)
        return (a->i > b->i) - (a->i < b->i);
    if (a->real && b->real)
        return (a->d > b->d) - (a->d < b->d);
    if (!a->real)
        return cmp_id(a->i, b->d);
    return -cmp_id(b->i, a->d);
}

static bool multiple_of(const struct num *v, const struct num *m)
{
    if (!v->real && !m->real)
        return v->i % m->i == 0; /* (m->i > 0) */
    double x = v->real ? v->d : (double)v->i, y = m->real ? m->d : (double)m->i;
    double q = x / y;
    return isfinite(q) && fabs(q - nearbyint(q)) <= 1e-9;
}

static void num_text(const struct num *v, char *buf, size_t cap)
{
    if (!v->real) {
        snprintf(buf, cap, "%lld", (long long)v->i);
        return;
    }
    /* (The shortest form that reads back the same.) */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v->d);
        if (strtod(buf, NULL) == v->d)
            return;
    }
}

static void num_of_json(const json_t *j, struct num *v)
{
    *v = (struct num){0};
    if (json_is_integer(j)) {
        v->real = false;
        v->i = json_integer_value(j);
        v->d = (double)v->i;
    } else {
        v->real = true;
        v->d = json_real_value(j);
    }
}

/* A number's value from its text when the fast path does not apply: its
 * first 40 significant digits, rewritten as 0.DDDe±X for strtod. */
static double slow_value(const char *s, size_t n)
{
    char buf[80];
    size_t k = 0, i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int64_t point = 0, exp = 0;
    for (; i < n && is_digit(s[i]); i++) {
        if (k == 0 && s[i] == '0')
            continue;
        if (k < 40)
            buf[2 + k++] = s[i];
        point++;
    }
    if (i < n && s[i] == '.')
        for (i++; i < n && is_digit(s[i]); i++) {
            if (k == 0 && s[i] == '0') {
                point--;
                continue;
            }
            if (k < 40)
                buf[2 + k++] = s[i];
        }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < n && is_digit(s[i]); i++)
            if (exp < 1000000000)
                exp = exp * 10 + (s[i] - '0');
        if (eneg)
            exp = -exp;
    }
    if (k == 0)
        return neg ? -0.0 : 0.0;
    int64_t e = point + exp;
    e = e > 99999 ? 99999 : e < -99999 ? -99999 : e;
    buf[0] = '0';
    buf[1] = '.';
    snprintf(buf + 2 + k, sizeof(buf) - 2 - k, "e%lld", (long long)e);
    double d = strtod(buf, NULL);
    return neg ? -d : d;
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Whether s[0..n) is a number: 0 no, 1 an integer ([+-]?[0-9]+), 2 another
 * number. With v, its value (integers in int64 exactly; doubles through
 * the exact fast path when the digits allow, else slow_value). */
static int text_number(const char *s, size_t n, struct num *v)
{
    if (v)
        *v = (struct num){0};
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    uint64_t m = 0;
    int nd = 0; /* digits in m */
    bool over = false;
    size_t d0 = i;
    for (; i < n && is_digit(s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (nd < 19)
            m = m * 10 + d, nd += m != 0;
        else
            over = true;
    }
    size_t nint = i - d0;
    if (i == n) {
        if (!nint)
            return 0;
        if (v) {
            /* (19 digits may still pass int64; 20 and more do.) */
            if (!over && (neg ? m <= (uint64_t)INT64_MAX + 1 : m <= (uint64_t)INT64_MAX)) {
                v->real = false;
                v->i = neg ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
                v->d = (double)v->i;
            } else {
                v->real = true;
                v->big = neg ? -1 : 1;
                v->d = !over && nd == 19 ? (neg ? -(double)m : (double)m) : slow_value(s, n);
            }
        }
        return 1;
    }
    int fdig = 0;
    size_t nfrac = 0;
    if (s[i] == '.') {
        size_t f0 = ++i;
        for (; i < n && is_digit(s[i]); i++) {
            if (nd < 19) {
                m = m * 10 + (unsigned)(s[i] - '0');
                nd += m != 0;
                fdig++;
            } else {
                over = true;
            }
        }
        nfrac = i - f0;
    }
    if (!nint && !nfrac)
        return 0;
    int64_t exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        size_t e0 = i;
        for (; i < n && is_digit(s[i]); i++)
            if (exp < 1000000000)
                exp = exp * 10 + (s[i] - '0');
        if (i == e0)
            return 0;
        if (eneg)
            exp = -exp;
    }
    if (i != n)
        return 0;
    if (v) {
        int64_t e = exp - fdig;
        v->real = true;
        if (!over && m < (1ull << 53) && e >= -22 && e <= 22) {
            double d = (double)m;
            d = e < 0 ? d / POW10[-e] : d * POW10[e];
            v->d = neg ? -d : d;
        } else {
            v->d = slow_value(s, n);
        }
    }
    return 2;
}

/* ---- dates and times -------------------------------------------------------------------- */

static bool digits_at(const char *s, size_t n, size_t at, int k, unsigned *out)
{
    if (at + (size_t)k > n)
        return false;
    unsigned v = 0;
    for (int i = 0; i < k; i++) {
        if (!is_digit(s[at + (size_t)i]))
            return false;
        v = v * 10 + (unsigned)(s[at + (size_t)i] - '0');
    }
    *out = v;
    return true;
}

static bool leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* RFC 3339 full-date at the start of s: YYYY-MM-DD, a day of its month. */
static bool date_at(const char *s, size_t n)
{
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, m, d;
    if (!digits_at(s, n, 0, 4, &y) || n < 10 || s[4] != '-' || !digits_at(s, n, 5, 2, &m) ||
        s[7] != '-' || !digits_at(s, n, 8, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1)
        return false;
    return d <= (unsigned)mdays[m - 1] + (m == 2 && leap(y));
}

/* hh:mm:ss[.f+] at s[*at]: advances *at; minutes of the day in *mins. */
static bool partial_time(const char *s, size_t n, size_t *at, unsigned *mins, unsigned *sec)
{
    unsigned h, m, ss;
    size_t p = *at;
    if (!digits_at(s, n, p, 2, &h) || p + 8 > n || s[p + 2] != ':' ||
        !digits_at(s, n, p + 3, 2, &m) || s[p + 5] != ':' || !digits_at(s, n, p + 6, 2, &ss) ||
        h > 23 || m > 59 || ss > 60)
        return false;
    p += 8;
    if (p < n && s[p] == '.') {
        size_t f0 = ++p;
        while (p < n && is_digit(s[p]))
            p++;
        if (p == f0)
            return false;
    }
    *at = p;
    *mins = h * 60 + m;
    *sec = ss;
    return true;
}

/* Z or ±hh:mm at s[*at]: its minutes east of UTC. */
static bool time_offset(const char *s, size_t n, size_t *at, int *off)
{
    size_t p = *at;
    if (p < n && (s[p] == 'Z' || s[p] == 'z')) {
        *off = 0;
        *at = p + 1;
        return true;
    }
    unsigned h, m;
    if (p + 6 > n || (s[p] != '+' && s[p] != '-') || !digits_at(s, n, p + 1, 2, &h) ||
        s[p + 3] != ':' || !digits_at(s, n, p + 4, 2, &m) || h > 23 || m > 59)
        return false;
    *off = (int)(h * 60 + m) * (s[p] == '-' ? -1 : 1);
    *at = p + 6;
    return true;
}

/* RFC 3339 full-time from s[at] to the end; a leap second only at 23:59 UTC. */
static bool full_time(const char *s, size_t n, size_t at)
{
    unsigned mins, sec;
    int off;
    if (!partial_time(s, n, &at, &mins, &sec) || !time_offset(s, n, &at, &off) || at != n)
        return false;
    return sec < 60 || (((int)mins - off) % 1440 + 1440) % 1440 == 23 * 60 + 59;
}

static bool fmt_ok(enum fmt f, const char *s, size_t n)
{
    switch (f) {
    case F_NONE:
        return true;
    case F_DATE:
        return n == 10 && date_at(s, n);
    case F_DATETIME:
        return n > 11 && date_at(s, n) && (s[10] == 'T' || s[10] == 't') && full_time(s, n, 11);
    case F_TIME:
        return full_time(s, n, 0);
    }
    return false;
}

/* ---- messages ---------------------------------------------------------------------------- */

/* A value's excerpt: text (quoted as JSON when quote) or a JSON value. */
struct val {
    const char *s;
    size_t n;
    const json_t *j;
    bool quote;
};

#define EXCERPT 40

static void excerpt(char *out, size_t cap, const struct val *v)
{
    struct sl_text t;
    sl_text_init(&t, out, cap);
    const char *s = v->s;
    size_t n = v->n;
    bool quote = v->quote;
    if (v->j) {
        switch (json_typeof(v->j)) {
        case JSON_STRING:
            s = json_string_value(v->j);
            n = json_string_length(v->j);
            quote = true;
            break;
        case JSON_INTEGER:
        case JSON_REAL: {
            struct num x;
            num_of_json(v->j, &x);
            num_text(&x, out, cap);
            return;
        }
        case JSON_TRUE:
            sl_text_str(&t, "true");
            return;
        case JSON_FALSE:
            sl_text_str(&t, "false");
            return;
        case JSON_NULL:
            sl_text_str(&t, "null");
            return;
        case JSON_ARRAY:
            sl_text_str(&t, "an array");
            return;
        case JSON_OBJECT:
            sl_text_str(&t, "an object");
            return;
        }
    }
    bool utf8 = utf8_ok(s, n);
    if (quote)
        sl_text_str(&t, "\"");
    size_t i = 0;
    while (i < n && i < EXCERPT) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sl_text_mem(&t, esc, 2);
        } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8)) {
            snprintf(esc, sizeof(esc), c < 0x80 ? "\\u%04x" : "\\x%02x", c);
            sl_text_str(&t, esc);
        } else if (c >= 0x80) {
            size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            sl_text_mem(&t, s + i, SL_MIN(k, n - i));
            i += k;
            continue;
        } else {
            sl_text_mem(&t, s + i, 1);
        }
        i++;
    }
    if (i < n)
        sl_text_str(&t, "...");
    if (quote)
        sl_text_str(&t, "\"");
}

/* Writes "<name>: <message>" into why (when there is one); SL_EINVAL. */
static int fail(char *why, size_t whylen, const struct prop *p, const char *fmt, ...)
    SL_PRINTF(4, 5);
static int fail(char *why, size_t whylen, const struct prop *p, const char *fmt, ...)
{
    if (why && whylen) {
        int k = p ? snprintf(why, whylen, "%s: ", p->name) : 0;
        if (k >= 0 && (size_t)k < whylen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(why + k, whylen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return SL_EINVAL;
}

/* ---- checks ---------------------------------------------------------------------------- */

static int strv_cmp(const void *a, const void *b)
{
    const struct strv *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return memcmp(x->s, y->s, x->n);
}

static bool enum_has_str(const struct enumset *e, const char *s, size_t n)
{
    struct strv key = {s, n};
    return e->nstr && bsearch(&key, e->strs, e->nstr, sizeof(key), strv_cmp);
}

static bool enum_has_num(const struct enumset *e, const struct num *x)
{
    for (size_t i = 0; i < e->nnum; i++)
        if (num_cmp(x, &e->nums[i]) == 0)
            return true;
    return false;
}

/* JSON equality as JSON Schema has it: numbers by value (1 == 1.0). */
static bool json_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        struct num x, y;
        num_of_json(a, &x);
        num_of_json(b, &y);
        return num_cmp(&x, &y) == 0;
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_eq(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        for (void *it = json_object_iter((json_t *)a); it;
             it = json_object_iter_next((json_t *)a, it)) {
            json_t *o = json_object_getn(b, json_object_iter_key(it), json_object_iter_key_len(it));
            if (!o || !json_eq(json_object_iter_value(it), o))
                return false;
        }
        return true;
    }
    default:
        return true; /* (true, false, null: the type is the value) */
    }
}

static bool enum_has_json(const struct enumset *e, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        return e->has_null;
    case JSON_TRUE:
        return e->has_true;
    case JSON_FALSE:
        return e->has_false;
    case JSON_STRING:
        return enum_has_str(e, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
    case JSON_REAL: {
        struct num x;
        num_of_json(j, &x);
        return enum_has_num(e, &x);
    }
    default:
        break;
    }
    if (e->has_other)
        for (size_t i = 0; i < json_array_size(e->values); i++)
            if (json_eq(json_array_get(e->values, i), j))
                return true;
    return false;
}

static int enum_fail(const struct prop *p, const struct val *v, char *why, size_t whylen)
{
    if (!why)
        return SL_EINVAL;
    char ex[EXCERPT * 6 + 16];
    excerpt(ex, sizeof(ex), v);
    if (p->is_const)
        return fail(why, whylen, p, "%s is not the constant %s", ex, p->en->text);
    return fail(why, whylen, p, "%s is not one of the allowed values %s", ex, p->en->text);
}

/* The numeric rules on x. */
static int num_rules(const struct prop *p, const struct num *x, const struct val *v, char *why,
                     size_t whylen)
{
    static const char *const what[B_N] = {
        "is less than the minimum", "is not greater than the exclusive minimum",
        "is greater than the maximum", "is not less than the exclusive maximum"};
    for (int b = 0; b < B_N; b++) {
        if (!p->has[b])
            continue;
        int c = num_cmp(x, &p->bound[b]);
        bool bad = b == B_MIN ? c < 0 : b == B_XMIN ? c <= 0 : b == B_MAX ? c > 0 : c >= 0;
        if (bad) {
            if (!why)
                return SL_EINVAL;
            char ex[EXCERPT * 6 + 16];
            excerpt(ex, sizeof(ex), v);
            return fail(why, whylen, p, "%s %s %s", ex, what[b], p->boundtxt[b]);
        }
    }
    if (p->has_mult && !multiple_of(x, &p->mult)) {
        if (!why)
            return SL_EINVAL;
        char ex[EXCERPT * 6 + 16];
        excerpt(ex, sizeof(ex), v);
        return fail(why, whylen, p, "%s is not a multiple of %s", ex, p->multtxt);
    }
    return 0;
}

/* The string rules on s[0..n) (UTF-8 already checked). */
static int str_rules(const struct prop *p, const char *s, size_t n, const struct val *v, char *why,
                     size_t whylen)
{
    static const char *const fmtname[] = {"", "a date (RFC 3339 YYYY-MM-DD)",
                                          "a date-time (RFC 3339, with Z or an offset)",
                                          "a time (RFC 3339, with Z or an offset)"};
    char ex[EXCERPT * 6 + 16];
    if (p->format && !fmt_ok(p->format, s, n)) {
        if (why)
            excerpt(ex, sizeof(ex), v);
        return why ? fail(why, whylen, p, "%s is not %s", ex, fmtname[p->format]) : SL_EINVAL;
    }
    if (p->has_len) {
        size_t k = code_points(s, n);
        if (k < p->minlen || k > p->maxlen) {
            if (!why)
                return SL_EINVAL;
            excerpt(ex, sizeof(ex), v);
            if (k < p->minlen)
                return fail(why, whylen, p, "%s is shorter than %zu characters", ex, p->minlen);
            return fail(why, whylen, p, "%s is longer than %zu characters", ex, p->maxlen);
        }
    }
    if (p->has_re) {
        /* glibc reads s[0..n) only (REG_STARTEND), but sanitizers'
         * interceptors look for a NUL: a text cell is copied to have one
         * (a JSON string has it), as is a subject whose newlines a
         * pattern in newline mode needs as 0xFF; on the stack, or for 4
         * KiB and more on the heap. */
        char local[4096], *copy = NULL;
        const char *t = s;
        bool nl = p->re_nl && memchr(s, '\n', n);
        if ((!v->j || nl) && n < sizeof(local)) {
            copy = local;
        } else if ((!v->j || nl) && !(copy = malloc(n + 1))) {
            if (why && whylen)
                fail(why, whylen, p, "out of memory");
            return SL_ENOMEM;
        }
        if (copy) {
            memcpy(copy, s, n);
            copy[n] = '\0';
            for (char *q = copy; nl && (q = memchr(q, '\n', n - (size_t)(q - copy)));)
                *q++ = RX_NL;
            t = copy;
        }
        regmatch_t m = {.rm_so = 0, .rm_eo = (regoff_t)n};
        int rc = regexec(&p->re, t, 1, &m, REG_STARTEND);
        if (copy != local)
            free(copy);
        if (rc != 0)
            return fail(why, whylen, p, "does not match the pattern %s", p->pattern);
    }
    return 0;
}

static int type_fail(const struct prop *p, const struct val *v, char *why, size_t whylen)
{
    if (!why)
        return SL_EINVAL;
    char ex[EXCERPT * 6 + 16];
    excerpt(ex, sizeof(ex), v);
    return fail(why, whylen, p, "%s is not %s", ex, p->typetxt);
}

/* The rules of one reading of a text cell: a number x, a boolean b or a
 * string (UTF-8 checked). */
static int read_num(const struct prop *p, const struct num *x, const struct val *v, char *why,
                    size_t whylen)
{
    if (p->en && !enum_has_num(p->en, x))
        return enum_fail(p, v, why, whylen);
    return p->num_rules ? num_rules(p, x, v, why, whylen) : 0;
}

static int read_bool(const struct prop *p, bool b, const struct val *v, char *why, size_t whylen)
{
    if (p->en && !(b ? p->en->has_true : p->en->has_false))
        return enum_fail(p, v, why, whylen);
    return 0;
}

static int read_str(const struct prop *p, const char *s, size_t n, const struct val *v, char *why,
                    size_t whylen)
{
    if (p->en && !enum_has_str(p->en, s, n))
        return enum_fail(p, v, why, whylen);
    return str_rules(p, s, n, v, why, whylen);
}

/* A text cell against a schema property: it passes when one of the
 * readings the property allows passes. Each is tried quietly; when none
 * passes, the first that applies again for the message. */
static int text_schema(const struct prop *p, const char *s, size_t n, char *why, size_t whylen)
{
    unsigned tt = p->text_types;
    struct num x = {0};
    bool b = false;
    bool want = p->num_rules || (p->en && p->en->nnum);
    int k = tt & (T_INT | T_NUM) ? text_number(s, n, want ? &x : NULL) : 0;
    bool as_num = k == 1 || (k == 2 && (tt & T_NUM));
    bool as_bool = (tt & T_BOOL) && pq_text_bool(s, n, &b);
    bool as_str = (tt & T_STR) && utf8_ok(s, n);
    struct val vn = {s, n, NULL, false}, vs = {s, n, NULL, true};
    if (as_num && read_num(p, &x, &vn, NULL, 0) == 0)
        return 0;
    if (as_bool && read_bool(p, b, &vn, NULL, 0) == 0)
        return 0;
    if (as_str) {
        int rc = read_str(p, s, n, &vs, NULL, 0);
        if (rc == 0 || rc == SL_ENOMEM)
            return rc;
    }
    if (!why)
        return SL_EINVAL;
    if (as_num)
        return read_num(p, &x, &vn, why, whylen);
    if (as_bool)
        return read_bool(p, b, &vn, why, whylen);
    if (as_str)
        return read_str(p, s, n, &vs, why, whylen);
    if ((tt & T_STR) && !utf8_ok(s, n))
        return fail(why, whylen, p, "the text is not valid UTF-8 (or holds a NUL)");
    return type_fail(p, &vs, why, whylen);
}

static int json_schema(const struct prop *p, const json_t *j, char *why, size_t whylen)
{
    unsigned jt = 0;
    struct num x = {0};
    switch (json_typeof(j)) {
    case JSON_NULL:
        jt = T_NULL;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        jt = T_BOOL;
        break;
    case JSON_INTEGER:
        jt = T_INT | T_NUM;
        num_of_json(j, &x);
        break;
    case JSON_REAL:
        num_of_json(j, &x);
        jt = T_NUM | (x.d == trunc(x.d) ? T_INT : 0);
        break;
    case JSON_STRING:
        jt = T_STR;
        break;
    case JSON_ARRAY:
        jt = T_ARR;
        break;
    case JSON_OBJECT:
        jt = T_OBJ;
        break;
    }
    struct val v = {NULL, 0, j, false};
    if (p->types && !(p->types & jt))
        return type_fail(p, &v, why, whylen);
    if (p->en && !enum_has_json(p->en, j))
        return enum_fail(p, &v, why, whylen);
    if ((jt & T_NUM) && p->num_rules)
        return num_rules(p, &x, &v, why, whylen);
    if (jt == T_STR)
        return str_rules(p, json_string_value(j), json_string_length(j), &v, why, whylen);
    return 0;
}

static int glue_fail(const struct prop *p, const struct val *v, const char *what, char *why,
                     size_t whylen)
{
    if (!why)
        return SL_EINVAL;
    char ex[EXCERPT * 6 + 16];
    excerpt(ex, sizeof(ex), v);
    return fail(why, whylen, p, "%s is not %s", ex, what);
}

static int range_fail(const struct prop *p, const struct val *v, char *why, size_t whylen)
{
    if (!why)
        return SL_EINVAL;
    char ex[EXCERPT * 6 + 16];
    excerpt(ex, sizeof(ex), v);
    return fail(why, whylen, p, "%s is out of range for %s", ex, p->gluename);
}

/* A decimal's failure, as pq_text_decimal tells it. */
static int decimal_fail(const struct prop *p, enum pq_dec d, const struct val *v, char *why,
                        size_t whylen)
{
    if (!why)
        return SL_EINVAL;
    char ex[EXCERPT * 6 + 16];
    excerpt(ex, sizeof(ex), v);
    int prec, scale;
    pq_decimal_ps(&p->col, &prec, &scale);
    if (d == PQ_DEC_FRACTION)
        return fail(why, whylen, p, "%s has more than %d digits after the point (%s)", ex, scale,
                    p->gluename);
    if (d == PQ_DEC_PRECISION)
        return fail(why, whylen, p, "%s has more than %d digits before the point (%s)", ex,
                    prec - scale, p->gluename);
    return fail(why, whylen, p, "%s is not %s", ex, p->typetxt);
}

/* A text cell against a column: what sl_pq_value_from_text takes (the
 * same scanners), without its allocation for long numbers. */
static int text_glue(const struct prop *p, const char *s, size_t n, char *why, size_t whylen)
{
    struct val v = {s, n, NULL, true};
    struct num x;
    int64_t i64;
    bool b, lead0;
    int rc, prec, scale;
    switch (p->col.type) {
    case SL_PQ_BOOL:
        if (pq_text_bool(s, n, &b))
            return 0;
        break;
    case SL_PQ_INT32:
    case SL_PQ_INT64:
        if ((rc = pq_text_int(s, n, &i64)) == SL_EINVAL)
            break;
        if (rc == 0 && (p->col.type == SL_PQ_INT64 || (i64 >= INT32_MIN && i64 <= INT32_MAX)))
            return 0;
        return range_fail(p, &v, why, whylen);
    case SL_PQ_FLOAT:
    case SL_PQ_DOUBLE:
        if (pq_text_number(s, n, &lead0) == PQ_NUM_NONE)
            break;
        /* (An overflow is an infinity, as the converter has it; a float
         * past its range that is not one fails.) */
        if (p->col.type == SL_PQ_FLOAT && text_number(s, n, &x) &&
            (x.real ? isfinite(x.d) && fabs(x.d) > FLT_MAX : false))
            return range_fail(p, &v, why, whylen);
        return 0;
    case SL_PQ_STRING:
        if (utf8_ok(s, n))
            return 0;
        return fail(why, whylen, p, "the text is not valid UTF-8 (or holds a NUL)");
    case SL_PQ_BINARY:
        return 0; /* (the bytes as they are) */
    case SL_PQ_DATE:
        if (pq_text_date(s, n, &i64))
            return 0;
        return glue_fail(p, &v, "a date (YYYY-MM-DD)", why, whylen);
    case SL_PQ_TIMESTAMP_MS:
    case SL_PQ_TIMESTAMP_US:
        if (pq_text_timestamp(s, n, &i64))
            return 0;
        return glue_fail(p, &v, "a timestamp (YYYY-MM-DD[( |T)hh:mm:ss[.f][Z|+hh:mm]])", why,
                         whylen);
    case SL_PQ_DECIMAL: {
        pq_decimal_ps(&p->col, &prec, &scale);
        enum pq_dec d = pq_text_decimal(s, n, prec, scale, &i64);
        return d == PQ_DEC_OK ? 0 : decimal_fail(p, d, &v, why, whylen);
    }
    }
    return glue_fail(p, &v, p->typetxt, why, whylen);
}

/* A JSON cell against a column: what sl_pq_value_from_json takes, and
 * in the column's range. */
static int json_glue(const struct prop *p, const json_t *j, char *why, size_t whylen)
{
    struct val v = {NULL, 0, j, false};
    const char *s = json_string_value(j);
    size_t n = s ? json_string_length(j) : 0;
    int64_t i64;
    int prec, scale;
    switch (p->col.type) {
    case SL_PQ_BOOL:
        if (json_is_boolean(j))
            return 0;
        break;
    case SL_PQ_INT32:
    case SL_PQ_INT64:
        if (!json_is_integer(j))
            break;
        i64 = json_integer_value(j);
        if (p->col.type == SL_PQ_INT64 || (i64 >= INT32_MIN && i64 <= INT32_MAX))
            return 0;
        return range_fail(p, &v, why, whylen);
    case SL_PQ_FLOAT:
        if (json_is_real(j) && fabs(json_real_value(j)) > FLT_MAX)
            return range_fail(p, &v, why, whylen);
        /* fall through */
    case SL_PQ_DOUBLE:
        if (json_is_number(j))
            return 0;
        break;
    case SL_PQ_STRING:
        if (s)
            return 0;
        break;
    case SL_PQ_BINARY: {
        size_t got;
        if (s && sl_base64_decode(s, n, NULL, 0, &got) == 0)
            return 0;
        return glue_fail(p, &v, "base64 text (binary)", why, whylen);
    }
    case SL_PQ_DATE:
        if ((s && pq_text_date(s, n, &i64)) || json_is_integer(j))
            return 0;
        return glue_fail(p, &v, "a date (YYYY-MM-DD, or days)", why, whylen);
    case SL_PQ_TIMESTAMP_MS:
    case SL_PQ_TIMESTAMP_US:
        if ((s && pq_text_timestamp(s, n, &i64)) || json_is_integer(j))
            return 0;
        return glue_fail(p, &v, "a timestamp (RFC 3339, or a number of its unit)", why, whylen);
    case SL_PQ_DECIMAL:
        pq_decimal_ps(&p->col, &prec, &scale);
        if (s) {
            enum pq_dec d = pq_text_decimal(s, n, prec, scale, &i64);
            return d == PQ_DEC_OK ? 0 : decimal_fail(p, d, &v, why, whylen);
        }
        if (json_is_integer(j)) {
            int64_t x = json_integer_value(j), lim = pq_pow10(prec - scale);
            if (x > -lim && x < lim)
                return 0;
            return range_fail(p, &v, why, whylen);
        }
        if (json_is_real(j)) {
            double lim = (double)pq_pow10(prec), x = json_real_value(j) * (double)pq_pow10(scale);
            if (fabs(x) < lim && fabs(nearbyint(x)) < lim)
                return 0;
            return range_fail(p, &v, why, whylen);
        }
        break;
    }
    return glue_fail(p, &v, p->typetxt, why, whylen);
}

int sl_rules_check(const struct sl_rules *r, const struct sl_cell *cells, size_t extra, char *why,
                   size_t whylen)
{
    if (why && whylen)
        why[0] = '\0';
    if (r->never)
        return fail(why, whylen, NULL, "the schema is false: no row passes");
    if (r->closed && extra)
        return fail(why, whylen, NULL,
                    "%zu column%s or member%s not in properties (additionalProperties is false)",
                    extra, extra == 1 ? "" : "s", extra == 1 ? "" : "s");
    for (size_t i = 0; i < r->n; i++) {
        const struct prop *p = &r->props[i];
        const struct sl_cell *c = &cells[i];
        bool empty = !c->present || (!c->j && c->n == 0) || (p->glue && c->j && json_is_null(c->j));
        if (empty) {
            if (p->required)
                return fail(why, whylen, p, "missing (required)");
            continue;
        }
        if (p->never || (p->implicit && r->closed))
            return fail(why, whylen, p, "not allowed (%s)",
                        p->never ? "its schema is false" : "additionalProperties is false");
        int rc;
        if (p->glue)
            rc = c->j ? json_glue(p, c->j, why, whylen) : text_glue(p, c->s, c->n, why, whylen);
        else
            rc = c->j ? json_schema(p, c->j, why, whylen) : text_schema(p, c->s, c->n, why, whylen);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- names ------------------------------------------------------------------------------ */

static uint32_t name_hash(const char *s, size_t n, bool fold)
{
    uint32_t h = SL_FNV1A_SEED;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)(fold ? lower(s[i]) : s[i]);
        h *= 16777619u;
    }
    return h;
}

static bool name_eq(const struct prop *p, const char *s, size_t n, bool fold)
{
    return p->namelen == n && (fold ? ieq(p->name, s, n) : memcmp(p->name, s, n) == 0);
}

ssize_t sl_rules_index(const struct sl_rules *r, const char *name, size_t n)
{
    for (size_t h = name_hash(name, n, r->fold) & r->mask;; h = (h + 1) & r->mask) {
        uint32_t k = r->slots[h];
        if (!k)
            return -1;
        if (name_eq(&r->props[k - 1], name, n, r->fold))
            return (ssize_t)(k - 1);
    }
}

/* The name table, for total properties at most. */
static int index_init(struct sl_rules *r, size_t total)
{
    size_t cap = 8;
    while (cap < 2 * total)
        cap *= 2;
    r->slots = calloc(cap, sizeof(*r->slots));
    if (!r->slots)
        return SL_ENOMEM;
    r->mask = cap - 1;
    return 0;
}

/* Adds property i to the table: false when its name is there already. */
static bool index_add(struct sl_rules *r, size_t i)
{
    const struct prop *p = &r->props[i];
    size_t h = name_hash(p->name, p->namelen, r->fold) & r->mask;
    for (; r->slots[h]; h = (h + 1) & r->mask)
        if (name_eq(&r->props[r->slots[h] - 1], p->name, p->namelen, r->fold))
            return false;
    r->slots[h] = (uint32_t)(i + 1);
    return true;
}

size_t sl_rules_count(const struct sl_rules *r)
{
    return r->n;
}

const char *sl_rules_name(const struct sl_rules *r, size_t i)
{
    return i < r->n ? r->props[i].name : NULL;
}

int sl_rules_json_cells(const struct sl_rules *r, const json_t *row, struct sl_cell *cells,
                        size_t *extra)
{
    if (!json_is_object(row))
        return SL_EINVAL;
    memset(cells, 0, r->n * sizeof(*cells));
    size_t x = 0;
    for (void *it = json_object_iter((json_t *)row); it;
         it = json_object_iter_next((json_t *)row, it)) {
        ssize_t i = sl_rules_index(r, json_object_iter_key(it), json_object_iter_key_len(it));
        if (i < 0) {
            x++;
            continue;
        }
        cells[i].j = json_object_iter_value(it);
        cells[i].present = true;
    }
    *extra = x;
    return 0;
}

/* ---- freeing ------------------------------------------------------------------------------ */

static void enum_free(struct enumset *e)
{
    if (!e)
        return;
    json_decref(e->values);
    free(e->strs);
    free(e->nums);
    free(e);
}

void sl_rules_free(struct sl_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct prop *p = &r->props[i];
        free(p->name);
        free(p->pattern);
        if (p->has_re)
            regfree(&p->re);
        enum_free(p->en);
    }
    free(r->props);
    free(r->slots);
    free(r);
}

/* ---- ECMA-262 patterns as POSIX EREs -------------------------------------------------------- */

#define RX_MAX_REPEAT 1000
/* (glibc's matching time grows with the weight, times the text's length.) */
#define RX_MAX_WEIGHT 1000
#define RX_MAX_DEPTH 64
#define RX_MAX_EXTRA 16
#define RX_MAX_LEN 4096
#define RX_PER_BYTE 96 /* (the most one byte of a pattern becomes: \W) */

/* One code point or character class, as a translation sees it. */
struct rxset {
    bool bits[128];               /* ASCII members */
    uint32_t extra[RX_MAX_EXTRA]; /* non-ASCII members (positive sets only) */
    size_t nextra;
    bool neg;
};

/*
 * A translation. glibc lets a ^ match after a newline the pattern itself
 * consumed, and a $ before one ("\n^a" matches "\na"), where ECMA-262
 * (without the m flag) never does. An anchor that nothing of its branch
 * can precede or follow (first or last at the top level) is safe; with
 * any other, the pattern is translated again in newline mode: what would
 * match a newline matches the byte 0xFF instead (never in UTF-8 text),
 * and the subject's newlines become 0xFF before matching.
 */
struct rx {
    const char *p;
    size_t n, i;
    struct sl_buf out;
    const char *why;    /* a refusal */
    bool unsafe_anchor; /* met */
    bool nl_mode;       /* newlines as 0xFF */
    bool word_boundary; /* \b or \B met */
    bool exact;         /* negated sets take exactly one code point */
};

/* (A code point of a negated set: a byte that is no continuation and no
 * member, then the continuations. In valid UTF-8 nothing else can take a
 * continuation byte, so a match takes whole code points, but for where
 * it ends: \b or \B could look between a lead byte and its
 * continuations. A pattern with them has exact mode, where a code point
 * past ASCII is one of RX_EXACT's, slower to match.) */
#define RX_CONT "\x80-\xBF"
#define RX_EXACT                                                                                   \
    "[\xC0-\xDF][\x80-\xBF]|[\xE0-\xEF][\x80-\xBF][\x80-\xBF]|"                                    \
    "[\xF0-\xF7][\x80-\xBF][\x80-\xBF][\x80-\xBF]"

static void put_utf8(struct sl_buf *b, uint32_t cp)
{
    char u[4];
    size_t k;
    if (cp < 0x80)
        u[0] = (char)cp, k = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), k = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3F)),
        u[2] = (char)(0x80 | (cp & 0x3F)), k = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3F)),
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), k = 4;
    sl_buf_append(b, u, k);
}

static void put_literal(struct rx *x, uint32_t cp)
{
    struct sl_buf *b = &x->out;
    if (cp == '\n' && x->nl_mode) {
        sl_buf_putc(b, RX_NL);
        return;
    }
    if (cp >= 0x80) { /* (a group, so that a quantifier takes all its bytes) */
        sl_buf_putc(b, '(');
        put_utf8(b, cp);
        sl_buf_putc(b, ')');
        return;
    }
    if (strchr(".[\\*^$+?(){|", (int)cp))
        sl_buf_putc(b, '\\');
    sl_buf_putc(b, (char)cp);
}

/* A bracket expression's members: ] first, - last, ^ never first, [
 * never before : . or =; also (bytes, for a negated one) after the ]. */
static void put_members(struct sl_buf *b, const bool *bits, const char *also)
{
    /* (A positive set whose first member would be ^ starts with its -.) */
    bool dash_first = !also && bits['-'] && bits['^'] && !bits[']'];
    if (bits[']'])
        sl_buf_putc(b, ']');
    if (also)
        sl_buf_puts(b, also);
    if (dash_first)
        sl_buf_putc(b, '-');
    for (int c = 1; c < 128; c++) {
        if (!bits[c] || c == ']' || c == '-' || c == '^' || c == '[')
            continue;
        int e = c;
        while (e + 1 < 128 && bits[e + 1] && e + 1 != ']' && e + 1 != '-' && e + 1 != '^' &&
               e + 1 != '[')
            e++;
        sl_buf_putc(b, (char)c);
        if (e - c >= 2) {
            sl_buf_putc(b, '-');
            sl_buf_putc(b, (char)e);
        } else if (e > c) {
            sl_buf_putc(b, (char)e);
        }
        c = e;
    }
    if (bits['['])
        sl_buf_putc(b, '[');
    if (bits['^'])
        sl_buf_putc(b, '^');
    if (bits['-'] && !dash_first)
        sl_buf_putc(b, '-');
}

static void put_set(struct rx *x, const struct rxset *in)
{
    struct sl_buf *b = &x->out;
    struct rxset s = *in;
    bool nl = false; /* newline mode: RX_NL a member */
    if (x->nl_mode) {
        nl = s.neg ? !s.bits['\n'] : s.bits['\n'];
        s.bits['\n'] = s.neg;
    }
    if (s.neg && !x->exact) {
        /* (RX_NL is no continuation: a member unless excluded.) */
        sl_buf_puts(b, "([^");
        put_members(b, s.bits, x->nl_mode && !nl ? RX_CONT "\xFF" : RX_CONT);
        sl_buf_puts(b, "][" RX_CONT "]*)");
        return;
    }
    if (s.neg) {
        sl_buf_puts(b, "([^");
        put_members(b, s.bits, "\x80-\xFF");
        sl_buf_puts(b, "]|" RX_EXACT);
        if (nl)
            sl_buf_putc(b, '|'), sl_buf_putc(b, RX_NL);
        sl_buf_putc(b, ')');
        return;
    }
    size_t members = 0;
    int one = 0;
    for (int c = 1; c < 128; c++)
        if (s.bits[c])
            members++, one = c;
    size_t alts = (members > 0) + s.nextra + nl, k = 0;
    if (alts > 1)
        sl_buf_putc(b, '(');
    if (members == 1) {
        put_literal(x, (uint32_t)one);
        k++;
    } else if (members) {
        sl_buf_putc(b, '[');
        put_members(b, s.bits, NULL);
        sl_buf_putc(b, ']');
        k++;
    }
    for (size_t i = 0; i < s.nextra; i++) {
        if (k++)
            sl_buf_putc(b, '|');
        put_utf8(b, s.extra[i]);
    }
    if (nl) {
        if (k++)
            sl_buf_putc(b, '|');
        sl_buf_putc(b, RX_NL);
    }
    if (alts > 1)
        sl_buf_putc(b, ')');
}

static void set_range(bool *bits, int a, int z)
{
    for (int c = a; c <= z; c++)
        bits[c] = true;
}

/* \d \w \s (ASCII) into bits. */
static void class_bits(char e, bool *bits)
{
    switch (lower(e)) {
    case 'd':
        set_range(bits, '0', '9');
        break;
    case 'w':
        set_range(bits, '0', '9');
        set_range(bits, 'A', 'Z');
        set_range(bits, 'a', 'z');
        bits['_'] = true;
        break;
    case 's':
        set_range(bits, '\t', '\r');
        bits[' '] = true;
        break;
    }
}

static int hexval(const char *p, size_t n, int k, uint32_t *v)
{
    if ((size_t)k > n)
        return -1;
    uint32_t x = 0;
    for (int i = 0; i < k; i++) {
        int d = sl_hex_digit((unsigned char)p[i]);
        if (d < 0)
            return -1;
        x = x << 4 | (uint32_t)d;
    }
    *v = x;
    return 0;
}

/* The code point of the UTF-8 sequence at x->p[x->i] (valid: from jansson),
 * advancing past it. */
static uint32_t next_cp(struct rx *x)
{
    const unsigned char *s = (const unsigned char *)x->p + x->i;
    size_t left = x->n - x->i, k = s[0] < 0x80 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    if (k > left)
        k = left;
    uint32_t cp = k == 1 ? s[0] : k == 2 ? s[0] & 0x1F : k == 3 ? s[0] & 0x0F : s[0] & 0x07;
    for (size_t i = 1; i < k; i++)
        cp = cp << 6 | (s[i] & 0x3F);
    x->i += k;
    return cp;
}

/* An escape after '\' (x->i at the letter): a code point into *cp (1), a
 * class letter d/D/w/W/s/S into *cls (2), \b or \B (3), or -1 with
 * x->why. in_class: \b is a backspace there. */
static int escape(struct rx *x, bool in_class, uint32_t *cp, char *cls)
{
    if (x->i >= x->n)
        return x->why = "a \\ ends the pattern", -1;
    char e = x->p[x->i];
    uint32_t v;
    switch (e) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
        x->i++;
        *cls = e;
        return 2;
    case 'b':
    case 'B':
        x->i++;
        if (in_class && e == 'b')
            return *cp = 8, 1;
        if (in_class)
            return x->why = "\\B in a character class is not a valid escape", -1;
        *cls = e;
        return 3;
    case 't':
        return x->i++, *cp = '\t', 1;
    case 'n':
        return x->i++, *cp = '\n', 1;
    case 'r':
        return x->i++, *cp = '\r', 1;
    case 'f':
        return x->i++, *cp = '\f', 1;
    case 'v':
        return x->i++, *cp = '\v', 1;
    case 'x':
        if (hexval(x->p + x->i + 1, x->n - x->i - 1, 2, &v))
            return x->why = "\\x needs two hex digits", -1;
        x->i += 3;
        if (!v)
            return x->why = "\\x00 (NUL) is not supported", -1;
        return *cp = v, 1;
    case 'u':
        if (hexval(x->p + x->i + 1, x->n - x->i - 1, 4, &v))
            return x->why = "\\u needs four hex digits (\\u{...} is not supported)", -1;
        x->i += 5;
        if (v >= 0xD800 && v <= 0xDBFF && x->i + 6 <= x->n && x->p[x->i] == '\\' &&
            x->p[x->i + 1] == 'u') {
            uint32_t lo;
            if (hexval(x->p + x->i + 2, x->n - x->i - 2, 4, &lo) == 0 && lo >= 0xDC00 &&
                lo <= 0xDFFF) {
                x->i += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            }
        }
        if (!v || (v >= 0xD800 && v <= 0xDFFF))
            return x->why = "\\u0000 and lone surrogates are not supported", -1;
        return *cp = v, 1;
    case '0':
        return x->why = "\\0 (NUL, or an octal escape) is not supported", -1;
    case 'k':
        return x->why = "backreferences (\\k<name>) are not supported", -1;
    case 'p':
    case 'P':
        return x->why = "Unicode property classes (\\p{...}) are not supported", -1;
    case 'c':
        return x->why = "control escapes (\\cX) are not supported", -1;
    default:
        break;
    }
    if (is_digit(e))
        return x->why = "backreferences (\\1...) are not supported", -1;
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || e == '_')
        return x->why = "an unknown escape (\\ and a letter) is not supported", -1;
    *cp = next_cp(x); /* (escaped punctuation, or any other character: itself) */
    return 1;
}

/* A class [...] (x->i after the '['). */
static int parse_class(struct rx *x, struct rxset *set)
{
    memset(set, 0, sizeof(*set));
    if (x->i < x->n && x->p[x->i] == '^')
        set->neg = true, x->i++;
    if (x->i < x->n && x->p[x->i] == ']')
        return x->why = "[] and [^] are not supported", -1;
    for (;;) {
        if (x->i >= x->n)
            return x->why = "a [ is not closed", -1;
        if (x->p[x->i] == ']') {
            x->i++;
            return 0;
        }
        uint32_t a = 0, z;
        char cls = 0;
        int k;
        if (x->p[x->i] == '\\') {
            x->i++;
            if ((k = escape(x, true, &a, &cls)) < 0)
                return -1;
        } else {
            a = next_cp(x);
            k = 1;
        }
        if (k == 2) {
            if (cls >= 'A' && cls <= 'Z')
                return x->why = "\\D, \\W and \\S inside a class are not supported", -1;
            class_bits(cls, set->bits);
            if (x->i + 1 < x->n && x->p[x->i] == '-' && x->p[x->i + 1] != ']')
                return x->why = "a range with a class (\\d-...) is not supported", -1;
            continue;
        }
        z = a;
        if (x->i + 1 < x->n && x->p[x->i] == '-' && x->p[x->i + 1] != ']') {
            x->i++;
            if (x->p[x->i] == '\\') {
                x->i++;
                if ((k = escape(x, true, &z, &cls)) < 0)
                    return -1;
                if (k != 1)
                    return x->why = "a range with a class (...-\\d) is not supported", -1;
            } else {
                z = next_cp(x);
            }
            if (z < a)
                return x->why = "a range out of order", -1;
        }
        if (z >= 0x80) {
            if (a != z)
                return x->why = "ranges of non-ASCII characters are not supported", -1;
            if (set->neg)
                return x->why = "non-ASCII characters in a negated class are not supported", -1;
            if (set->nextra >= RX_MAX_EXTRA)
                return x->why = "too many non-ASCII characters in a class", -1;
            set->extra[set->nextra++] = a;
            continue;
        }
        if (a == 0)
            return x->why = "NUL is not supported", -1;
        set_range(set->bits, (int)a, (int)z);
    }
}

/* {n}, {n,} or {n,m} at x->i (on the '{'): true with the counts (m -1 for
 * none), advancing; false (nothing consumed) when it is a literal {. */
static bool quantifier(struct rx *x, long *n, long *m)
{
    size_t i = x->i + 1;
    long a = 0, b = -1;
    size_t d0 = i;
    for (; i < x->n && is_digit(x->p[i]); i++)
        a = a < 100000 ? a * 10 + (x->p[i] - '0') : a;
    if (i == d0)
        return false;
    if (i < x->n && x->p[i] == ',') {
        i++;
        size_t m0 = i;
        for (b = 0; i < x->n && is_digit(x->p[i]); i++)
            b = b < 100000 ? b * 10 + (x->p[i] - '0') : b;
        if (i == m0)
            b = -1;
        else if (b < 0)
            b = 0;
    } else {
        b = a;
    }
    if (i >= x->n || x->p[i] != '}')
        return false;
    x->i = i + 1;
    *n = a;
    *m = b;
    return true;
}

/* Translates the pattern into x->out: 0, or -1 with x->why. The weight of
 * the result (atoms, counted repetitions multiplied out, as glibc
 * expands them) is kept under RX_MAX_WEIGHT. */
static int translate(struct rx *x)
{
    long sum[RX_MAX_DEPTH + 1] = {0};
    bool assertion[RX_MAX_DEPTH + 1] = {0}; /* the group holds ^ $ \b or \B */
    bool last_assertion = false;            /* the atom a quantifier would take */
    int depth = 0;
    long last = -1;    /* the weight of the atom a quantifier would take; -1: none */
    bool start = true; /* nothing consumed yet in this top-level branch */
    while (x->i < x->n) {
        char c = x->p[x->i];
        long w = 1;
        bool holds = false; /* the atom is a group holding an assertion */
        if (c == '(') {
            x->i++;
            if (depth >= RX_MAX_DEPTH)
                return x->why = "groups nest too deeply", -1;
            if (x->i < x->n && x->p[x->i] == '?') {
                const char *q = x->p + x->i, *end = x->p + x->n;
                if (end - q >= 2 && q[1] == ':') {
                    x->i += 2;
                } else if (end - q >= 3 && q[1] == '<' && q[2] != '=' && q[2] != '!') {
                    const char *gt = memchr(q, '>', (size_t)(end - q));
                    if (!gt)
                        return x->why = "a group name is not closed", -1;
                    x->i += (size_t)(gt - q) + 1;
                } else if (end - q >= 2 && (q[1] == '=' || q[1] == '!' || q[1] == '<')) {
                    return x->why = "lookahead and lookbehind are not supported", -1;
                } else {
                    return x->why = "(? must be (?: or (?<name>", -1;
                }
            }
            sl_buf_putc(&x->out, '(');
            sum[++depth] = 0;
            assertion[depth] = false;
            last = -1;
            start = false;
            continue;
        }
        if (c == ')') {
            if (!depth)
                return x->why = "a ) without its (", -1;
            x->i++;
            sl_buf_putc(&x->out, ')');
            holds = assertion[depth];
            w = sum[depth--] + 1;
            assertion[depth] |= holds;
        } else if (c == '|') {
            x->i++;
            sl_buf_putc(&x->out, '|');
            last = -1;
            start = depth == 0;
            continue;
        } else if (c == '^' || c == '$') {
            x->i++;
            sl_buf_putc(&x->out, c);
            last = -1;
            assertion[depth] = true;
            if (depth || (c == '^' ? !start : x->i < x->n && x->p[x->i] != '|'))
                x->unsafe_anchor = true;
            continue;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            long qn = 0, qm = 0;
            if (c == '{' && !quantifier(x, &qn, &qm)) {
                x->i++;
                sl_buf_puts(&x->out, "\\{"); /* (a literal, as ECMA-262 Annex B reads it) */
            } else {
                if (last < 0)
                    return x->why = "a quantifier with nothing to repeat", -1;
                /* (glibc gets those wrong: "x(^|a){2}" matches "xa".) */
                if (last_assertion)
                    return x->why = "^, $, \\b or \\B inside a repeated group is not supported", -1;
                if (c == '{') {
                    if (qn > RX_MAX_REPEAT || qm > RX_MAX_REPEAT)
                        return x->why = "a repetition count past 1000", -1;
                    if (qm >= 0 && qm < qn)
                        return x->why = "a repetition {n,m} with m < n", -1;
                    char q[32];
                    if (qm < 0)
                        snprintf(q, sizeof(q), "{%ld,}", qn);
                    else
                        snprintf(q, sizeof(q), "{%ld,%ld}", qn, qm);
                    sl_buf_puts(&x->out, q);
                    long times = SL_MAX(qn, qm) + (qm < 0);
                    sum[depth] += last * (times > 1 ? times - 1 : 0);
                } else {
                    x->i++;
                    sl_buf_putc(&x->out, c);
                }
                if (x->i < x->n && x->p[x->i] == '?') /* (lazy: the same yes or no) */
                    x->i++;
                last = -1;
                if (sum[depth] > RX_MAX_WEIGHT)
                    return x->why = "the pattern is too large once expanded", -1;
                continue;
            }
        } else if (c == '[') {
            struct rxset set;
            x->i++;
            if (parse_class(x, &set))
                return -1;
            put_set(x, &set);
        } else if (c == '.') {
            struct rxset set = {.neg = true};
            set.bits['\n'] = set.bits['\r'] = true;
            x->i++;
            put_set(x, &set);
        } else if (c == '\\') {
            uint32_t cp = 0;
            char cls = 0;
            x->i++;
            int k = escape(x, false, &cp, &cls);
            if (k < 0)
                return -1;
            if (k == 1) {
                put_literal(x, cp);
            } else if (k == 2) {
                struct rxset set = {.neg = cls >= 'A' && cls <= 'Z'};
                class_bits(cls, set.bits);
                put_set(x, &set);
            } else {
                sl_buf_putc(&x->out, '\\');
                sl_buf_putc(&x->out, cls);
                x->word_boundary = true;
                assertion[depth] = true;
                last = -1;
                continue;
            }
        } else {
            put_literal(x, next_cp(x));
        }
        last = w;
        last_assertion = holds;
        start = false;
        sum[depth] += w;
        if (sum[depth] > RX_MAX_WEIGHT)
            return x->why = "the pattern is too large once expanded", -1;
    }
    if (depth)
        return x->why = "a ( is not closed", -1;
    return 0;
}

/* Compiles an ECMA-262 pattern into re (in the C locale, whatever the
 * process's is): 0, or SL_EINVAL / SL_ENOMEM with err. */
static int compile_pattern(const char *name, const char *pat, size_t n, regex_t *re, bool *nl,
                           struct sl_err *err)
{
    struct rx x = {.p = pat, .n = n};
    if (memchr(pat, '\0', n))
        return sl_errf(err, SL_EINVAL, "property %s: a pattern with a NUL is not supported", name);
    if (n > RX_MAX_LEN)
        return sl_errf(err, SL_EINVAL, "property %s: a pattern past %d bytes is not supported",
                       name, RX_MAX_LEN);
    /* (All the room a translation can take, at once: the appends that
     * follow cannot fail.) */
    sl_buf_init(&x.out, 0);
    if (!sl_buf_extend(&x.out, n * RX_PER_BYTE + 256))
        return SL_ENOMEM;
    x.out.len = 0;
    int rc = translate(&x);
    if (rc == 0 && (x.unsafe_anchor || x.word_boundary)) {
        x.i = x.out.len = 0;
        x.nl_mode = true;
        x.exact = x.word_boundary;
        /* (With \b or \B, the search starts at code points only: glibc
         * would try between a lead byte and its continuations. The
         * prefix consumes newlines, so this needs newline mode too.) */
        if (x.exact)
            sl_buf_puts(&x.out, "^(([^\x80-\xFF]|" RX_EXACT "|\xFF)*)(");
        rc = translate(&x);
        if (x.exact)
            sl_buf_putc(&x.out, ')');
    }
    if (rc) {
        sl_buf_free(&x.out);
        return sl_errf(err, SL_EINVAL, "property %s: pattern %.200s: %s", name, pat, x.why);
    }
    *nl = x.nl_mode;
    x.out.data[x.out.len] = '\0';
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    locale_t old = c ? uselocale(c) : (locale_t)0;
    rc = regcomp(re, x.out.data, REG_EXTENDED | REG_NOSUB);
    if (c) {
        uselocale(old);
        freelocale(c);
    }
    sl_buf_free(&x.out);
    if (rc) {
        char msg[128];
        regerror(rc, re, msg, sizeof(msg));
        return sl_errf(err, rc == REG_ESPACE ? SL_ENOMEM : SL_EINVAL,
                       "property %s: pattern %.200s: %s", name, pat, msg);
    }
    return 0;
}

/* ---- JSON Schema ------------------------------------------------------------------------ */

/* Keywords that annotate and never change whether a value passes. */
static bool annotation(const char *k)
{
    static const char *const names[] = {"$schema",
                                        "$id",
                                        "$comment",
                                        "$anchor",
                                        "$dynamicAnchor",
                                        "$vocabulary",
                                        "$defs",
                                        "definitions",
                                        "title",
                                        "description",
                                        "default",
                                        "examples",
                                        "deprecated",
                                        "readOnly",
                                        "writeOnly",
                                        "contentEncoding",
                                        "contentMediaType",
                                        "contentSchema"};
    if (k[0] == 'x' && k[1] == '-')
        return true;
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++)
        if (strcmp(k, names[i]) == 0)
            return true;
    return false;
}

static const struct {
    const char *name;
    unsigned bit;
    const char *phrase;
} TYPES[] = {
    {"null", T_NULL, "null"},         {"boolean", T_BOOL, "a boolean"},
    {"integer", T_INT, "an integer"}, {"number", T_NUM, "a number"},
    {"string", T_STR, "a string"},    {"array", T_ARR, "an array"},
    {"object", T_OBJ, "an object"},
};

static unsigned type_bit(const json_t *t)
{
    const char *s = json_string_value(t);
    for (size_t i = 0; s && i < SL_ARRAY_LEN(TYPES); i++)
        if (strcmp(s, TYPES[i].name) == 0)
            return TYPES[i].bit;
    return 0;
}

static void type_phrase(unsigned types, char *out, size_t cap)
{
    struct sl_text t;
    sl_text_init(&t, out, cap);
    if (types & T_NUM)
        types &= ~(unsigned)T_INT;
    size_t n = 0, total = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(TYPES); i++)
        total += (types & TYPES[i].bit) != 0;
    /* (Strings first: "a string or null".) */
    static const int order[] = {4, 2, 3, 1, 5, 6, 0};
    for (size_t k = 0; k < SL_ARRAY_LEN(order); k++) {
        int i = order[k];
        if (!(types & TYPES[i].bit))
            continue;
        if (n)
            sl_text_str(&t, n + 1 == total ? " or " : ", ");
        sl_text_str(&t, TYPES[i].phrase);
        n++;
    }
}

/* A non-negative integer keyword (1.0 is one). */
static bool count_of(const json_t *v, size_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (size_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1e18 &&
        json_real_value(v) == trunc(json_real_value(v))) {
        *out = (size_t)json_real_value(v);
        return true;
    }
    return false;
}

static int compile_enum(json_t *values, bool is_const, struct prop *p)
{
    struct enumset *e = calloc(1, sizeof(*e));
    if (!e)
        return SL_ENOMEM;
    p->en = e;
    p->is_const = is_const;
    e->values = json_incref(values);
    size_t n = json_array_size(values);
    e->strs = calloc(n ? n : 1, sizeof(*e->strs));
    e->nums = calloc(n ? n : 1, sizeof(*e->nums));
    if (!e->strs || !e->nums)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(values, i);
        switch (json_typeof(v)) {
        case JSON_STRING:
            e->strs[e->nstr].s = json_string_value(v);
            e->strs[e->nstr++].n = json_string_length(v);
            break;
        case JSON_INTEGER:
        case JSON_REAL:
            num_of_json(v, &e->nums[e->nnum++]);
            break;
        case JSON_TRUE:
            e->has_true = true;
            break;
        case JSON_FALSE:
            e->has_false = true;
            break;
        case JSON_NULL:
            e->has_null = true;
            break;
        default:
            e->has_other = true;
            break;
        }
    }
    if (e->nstr)
        qsort(e->strs, e->nstr, sizeof(*e->strs), strv_cmp);
    char *dump =
        json_dumps(is_const ? json_array_get(values, 0) : values, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!dump)
        return SL_ENOMEM;
    sl_strlcpy(e->text, dump, sizeof(e->text));
    if (strlen(dump) >= sizeof(e->text))
        memcpy(e->text + sizeof(e->text) - 4, "...", 4);
    free(dump);
    return 0;
}

static bool num_keyword(const char *k, int *b)
{
    static const char *const names[B_N] = {"minimum", "exclusiveMinimum", "maximum",
                                           "exclusiveMaximum"};
    for (int i = 0; i < B_N; i++)
        if (strcmp(k, names[i]) == 0)
            return *b = i, true;
    return false;
}

/* One property's schema into p. */
static int compile_prop(const char *name, const json_t *s, struct prop *p, struct sl_err *err)
{
    if (json_is_boolean(s)) {
        p->never = json_is_false(s);
        p->text_types = T_SCALAR;
        return 0;
    }
    if (!json_is_object(s))
        return sl_errf(err, SL_EINVAL, "property %s: its schema is not an object or a boolean",
                       name);
    bool str_kw = false;
    unsigned inferred = 0;
    json_t *enumv = NULL, *constv = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        int b, rc;
        if (strcmp(k, "type") == 0) {
            if (json_is_string(v)) {
                p->types = type_bit(v);
            } else if (json_is_array(v) && json_array_size(v)) {
                for (size_t i = 0; i < json_array_size(v); i++) {
                    unsigned t = type_bit(json_array_get(v, i));
                    if (!t) {
                        p->types = 0;
                        break;
                    }
                    p->types |= t;
                }
            }
            if (!p->types)
                return sl_errf(err, SL_EINVAL,
                               "property %s: \"type\" must be null, boolean, integer, number, "
                               "string, array, object or a non-empty array of them",
                               name);
        } else if (strcmp(k, "enum") == 0) {
            if (!json_is_array(v))
                return sl_errf(err, SL_EINVAL, "property %s: \"enum\" must be an array", name);
            enumv = v;
        } else if (strcmp(k, "const") == 0) {
            constv = v;
        } else if (num_keyword(k, &b)) {
            if (!json_is_number(v))
                return sl_errf(err, SL_EINVAL,
                               "property %s: \"%s\" must be a number (draft 2020-12; not the "
                               "draft-04 boolean form)",
                               name, k);
            p->has[b] = true;
            num_of_json(v, &p->bound[b]);
            num_text(&p->bound[b], p->boundtxt[b], sizeof(p->boundtxt[b]));
            p->num_rules = true;
            inferred |= T_NUM;
        } else if (strcmp(k, "multipleOf") == 0) {
            if (!json_is_number(v) || json_number_value(v) <= 0)
                return sl_errf(err, SL_EINVAL,
                               "property %s: \"multipleOf\" must be a number greater than 0", name);
            p->has_mult = true;
            num_of_json(v, &p->mult);
            double d = p->mult.d;
            if (p->mult.real && d == trunc(d) && d < 9e18) { /* (2.0: exact, as an integer) */
                p->mult.real = false;
                p->mult.i = (int64_t)d;
            }
            num_text(&p->mult, p->multtxt, sizeof(p->multtxt));
            p->num_rules = true;
            inferred |= T_NUM;
        } else if (strcmp(k, "minLength") == 0 || strcmp(k, "maxLength") == 0) {
            size_t c;
            if (!count_of(v, &c))
                return sl_errf(err, SL_EINVAL, "property %s: \"%s\" must be a non-negative integer",
                               name, k);
            if (!p->has_len)
                p->minlen = 0, p->maxlen = SIZE_MAX;
            p->has_len = true;
            if (k[1] == 'i')
                p->minlen = c;
            else
                p->maxlen = c;
            str_kw = true;
        } else if (strcmp(k, "pattern") == 0) {
            if (!json_is_string(v))
                return sl_errf(err, SL_EINVAL, "property %s: \"pattern\" must be a string", name);
            p->pattern = strdup(json_string_value(v));
            if (!p->pattern)
                return SL_ENOMEM;
            rc = compile_pattern(name, json_string_value(v), json_string_length(v), &p->re,
                                 &p->re_nl, err);
            if (rc)
                return rc;
            p->has_re = true;
            str_kw = true;
        } else if (strcmp(k, "format") == 0) {
            const char *f = json_string_value(v);
            if (!f)
                return sl_errf(err, SL_EINVAL, "property %s: \"format\" must be a string", name);
            if (strcmp(f, "date") == 0)
                p->format = F_DATE;
            else if (strcmp(f, "date-time") == 0)
                p->format = F_DATETIME;
            else if (strcmp(f, "time") == 0)
                p->format = F_TIME;
            else
                return sl_errf(err, SL_EINVAL,
                               "property %s: format \"%.64s\" is not supported (date, date-time, "
                               "time)",
                               name, f);
            str_kw = true;
        } else if (!annotation(k)) {
            return sl_errf(err, SL_EINVAL, "property %s: the keyword \"%.64s\" is not supported",
                           name, k);
        }
    }
    if (enumv || constv) {
        /* (const and enum together: the const, when the enum has it; else
         * nothing passes.) */
        json_t *arr;
        if (!constv)
            arr = json_incref(enumv);
        else if (!enumv)
            arr = json_pack("[O]", constv);
        else {
            arr = json_array();
            for (size_t i = 0; arr && i < json_array_size(enumv); i++)
                if (json_eq(json_array_get(enumv, i), constv)) {
                    json_array_append(arr, constv);
                    break;
                }
        }
        if (!arr)
            return SL_ENOMEM;
        for (size_t i = 0; i < json_array_size(arr); i++) {
            json_t *e = json_array_get(arr, i);
            inferred |= json_is_string(e)    ? T_STR
                        : json_is_number(e)  ? T_NUM
                        : json_is_boolean(e) ? T_BOOL
                                             : 0;
        }
        int rc = compile_enum(arr, constv != NULL && json_array_size(arr) == 1, p);
        json_decref(arr);
        if (rc)
            return rc;
    }
    if (str_kw)
        inferred |= T_STR;
    p->text_types = p->types ? p->types & T_SCALAR : inferred ? inferred : T_SCALAR;
    type_phrase(p->types ? p->types : p->text_types, p->typetxt, sizeof(p->typetxt));
    return 0;
}

static struct sl_rules *rules_new(size_t n)
{
    struct sl_rules *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->props = calloc(n ? n : 1, sizeof(*r->props));
    if (!r->props || index_init(r, n)) {
        sl_rules_free(r);
        return NULL;
    }
    return r;
}

static int set_name(struct prop *p, const char *s, size_t n)
{
    p->name = malloc(n + 1);
    if (!p->name)
        return SL_ENOMEM;
    memcpy(p->name, s, n);
    p->name[n] = '\0';
    p->namelen = n;
    return 0;
}

int sl_rules_from_json_schema(const json_t *schema, struct sl_rules **out, struct sl_err *err)
{
    *out = NULL;
    if (json_is_boolean(schema)) {
        struct sl_rules *r = rules_new(0);
        if (!r)
            return SL_ENOMEM;
        r->never = json_is_false(schema);
        *out = r;
        return 0;
    }
    if (!json_is_object(schema))
        return sl_errf(err, SL_EINVAL, "the schema is not a JSON object");
    const json_t *props = NULL, *required = NULL;
    bool closed = false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)schema, k, v)
    {
        if (strcmp(k, "type") == 0) {
            if (!(json_is_string(v) && strcmp(json_string_value(v), "object") == 0) &&
                !(json_is_array(v) && json_array_size(v) == 1 &&
                  type_bit(json_array_get(v, 0)) == T_OBJ))
                return sl_errf(err, SL_EINVAL, "a row is an object: \"type\" must be \"object\"");
        } else if (strcmp(k, "properties") == 0) {
            if (!json_is_object(v))
                return sl_errf(err, SL_EINVAL, "\"properties\" must be an object");
            props = v;
        } else if (strcmp(k, "required") == 0) {
            if (!json_is_array(v))
                return sl_errf(err, SL_EINVAL, "\"required\" must be an array of names");
            for (size_t i = 0; i < json_array_size(v); i++)
                if (!json_is_string(json_array_get(v, i)))
                    return sl_errf(err, SL_EINVAL, "\"required\" must be an array of names");
            required = v;
        } else if (strcmp(k, "additionalProperties") == 0) {
            if (json_is_boolean(v)) {
                closed = json_is_false(v);
            } else {
                bool any = json_is_object(v);
                const char *k2;
                json_t *v2;
                if (any)
                    json_object_foreach(v, k2, v2)
                    {
                        if (!annotation(k2))
                            any = false;
                    }
                if (!any)
                    return sl_errf(err, SL_EINVAL,
                                   "\"additionalProperties\" must be true or false (a schema is "
                                   "not supported)");
            }
        } else if (!annotation(k)) {
            return sl_errf(err, SL_EINVAL, "the keyword \"%.64s\" is not supported", k);
        }
    }
    size_t n = json_object_size(props) + json_array_size(required);
    struct sl_rules *r = rules_new(n);
    if (!r)
        return SL_ENOMEM;
    r->closed = closed;
    int rc = 0;
    if (props)
        for (void *it = json_object_iter((json_t *)props); it;
             it = json_object_iter_next((json_t *)props, it)) {
            struct prop *p = &r->props[r->n];
            const char *key = json_object_iter_key(it);
            size_t len = json_object_iter_key_len(it);
            if (strlen(key) != len) {
                rc = sl_errf(err, SL_EINVAL, "a property name with a NUL is not supported");
                goto fail;
            }
            if ((rc = set_name(p, key, len)))
                goto fail;
            index_add(r, r->n++); /* (a JSON object's names differ) */
            if ((rc = compile_prop(p->name, json_object_iter_value(it), p, err)))
                goto fail;
        }
    for (size_t i = 0; i < json_array_size(required); i++) {
        json_t *name = json_array_get(required, i);
        const char *s = json_string_value(name);
        size_t len = json_string_length(name);
        ssize_t at = sl_rules_index(r, s, len);
        if (at >= 0) {
            r->props[at].required = true;
            continue;
        }
        if (strlen(s) != len) {
            rc = sl_errf(err, SL_EINVAL, "a property name with a NUL is not supported");
            goto fail;
        }
        /* (Required, but no rules: any value; an additional property.) */
        struct prop *p = &r->props[r->n];
        if ((rc = set_name(p, s, len)))
            goto fail;
        index_add(r, r->n++);
        p->required = p->implicit = true;
        p->text_types = T_SCALAR;
    }
    *out = r;
    return 0;
fail:
    sl_rules_free(r);
    return rc;
}

int sl_rules_from_columns(const struct sl_pq_column *cols, size_t n, struct sl_rules **out,
                          struct sl_err *err)
{
    *out = NULL;
    struct sl_rules *r = rules_new(n);
    if (!r)
        return SL_ENOMEM;
    r->fold = true;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sl_pq_column *c = &cols[i];
        if (!c->name) {
            rc = sl_errf(err, SL_EINVAL, "column %zu has no name", i);
            goto fail;
        }
        if ((unsigned)c->type > SL_PQ_DECIMAL ||
            (c->type == SL_PQ_DECIMAL &&
             (c->precision < 1 || c->precision > 38 || c->scale < 0 || c->scale > c->precision))) {
            rc = sl_errf(err, SL_EINVAL, "column %s: an unknown type", c->name);
            goto fail;
        }
        struct prop *p = &r->props[r->n];
        if ((rc = set_name(p, c->name, strlen(c->name))))
            goto fail;
        if (!index_add(r, r->n++)) {
            rc = sl_errf(err, SL_EINVAL, "column %s appears twice", c->name);
            goto fail;
        }
        p->glue = true;
        p->col = *c;
        p->col.name = p->name;
        p->required = !c->optional;
        const char *tn = sl_pq_type_name(c, p->gluename, sizeof(p->gluename));
        snprintf(p->typetxt, sizeof(p->typetxt), "%s %s", strchr("aeiou", tn[0]) ? "an" : "a", tn);
    }
    *out = r;
    return 0;
fail:
    sl_rules_free(r);
    return rc;
}
