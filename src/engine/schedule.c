/*
 * Schedule expressions (see schedule.h). A cron expression compiles into
 * one bit set per field plus the day fields' special forms; the next fire
 * time is found on the zone's wall clock by stepping field by field (the
 * next matching year, then month, day, hour and minute, each one a jump),
 * then placed in time by the zone: a wall time in a gap is passed over,
 * a repeated one taken at its first occurrence.
 */
#include "engine/schedule.h"

#include <stdlib.h>
#include <string.h>

#define SECS_PER_DAY 86400
/* How much of a piece of an expression an error message quotes. */
#define QUOTE_MAX 32
/* The largest N of rate(N unit). */
#define RATE_VALUE_MAX 2147483647LL

enum field { F_MIN, F_HOUR, F_DOM, F_MONTH, F_DOW, F_YEAR, F_COUNT };

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

/* A cron field: its name in messages, its values, and its names for them
 * (names[i] is min + i). */
static const struct field_spec {
    const char *name;
    int min, max;
    const char *const *names;
    size_t nnames;
} specs[F_COUNT] = {
    [F_MIN] = {"minutes", 0, 59, NULL, 0},
    [F_HOUR] = {"hours", 0, 23, NULL, 0},
    [F_DOM] = {"day-of-month", 1, 31, NULL, 0},
    [F_MONTH] = {"month", 1, 12, month_names, 12},
    [F_DOW] = {"day-of-week", 1, 7, dow_names, 7},
    [F_YEAR] = {"year", SL_SCHEDULE_YEAR_MIN, SL_SCHEDULE_YEAR_MAX, NULL, 0},
};

/* rate()'s units, each singular just before its plural: the singular goes
 * with 1 only, the plural with the rest. */
static const struct rate_unit {
    const char *name;
    int64_t ms;
    bool plural;
} rate_units[] = {
    {"minute", 60000, false}, {"minutes", 60000, true},
    {"hour", 3600000, false}, {"hours", 3600000, true},
    {"day", 86400000, false}, {"days", 86400000, true},
};

/* How the day is chosen: by one field's set or special form, the other
 * being '?'. */
enum day_mode {
    DAY_DOM_SET,     /* days of the month in set[F_DOM] */
    DAY_DOM_LAST,    /* L */
    DAY_DOM_LASTWD,  /* LW */
    DAY_DOM_NEAREST, /* nW */
    DAY_DOW_SET,     /* weekdays in set[F_DOW] */
    DAY_DOW_LAST,    /* nL */
    DAY_DOW_NTH,     /* n#k */
};

struct cron {
    uint64_t set[F_COUNT][4]; /* bit v - min for each value v */
    enum day_mode day;
    int day_n;   /* nW's day; nL's and n#k's weekday */
    int day_nth; /* n#k's k */
};

struct sl_schedule {
    enum sl_schedule_kind kind;
    enum sl_schedule_owner owner;
    struct sl_tz *tz; /* NULL: UTC */
    int64_t period_ms; /* rate */
    int64_t at_ms;     /* at */
    struct cron cron;
};

/* ---- parsing ---------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

/* Digits of s[0..n) as a number (n at most 9, so that it fits). */
static int digits_value(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Whether s[0..n) holds letter c (upper case) in either case. */
static bool has_letter(const char *s, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (upper(s[i]) == c)
            return true;
    return false;
}

/* One value of field f: a number or one of its names. */
static int parse_value(enum field f, const char *s, size_t n, const char *item, size_t ilen,
                       int *out, struct sl_err *err)
{
    const struct field_spec *sp = &specs[f];
    if (n == 0)
        return sl_errf(err, SL_EINVAL, "cron: %s: a value is missing in '%.*s'", sp->name,
                       (int)SL_MIN(ilen, QUOTE_MAX), item);
    int v = -1;
    if (all_digits(s, n)) {
        if (n > 9)
            return sl_errf(err, SL_EINVAL, "cron: %s: %.*s is out of range %d-%d", sp->name,
                           (int)SL_MIN(n, QUOTE_MAX), s, sp->min, sp->max);
        v = digits_value(s, n);
    } else {
        for (size_t i = 0; i < sp->nnames; i++)
            if (n == 3 && upper(s[0]) == sp->names[i][0] && upper(s[1]) == sp->names[i][1] &&
                upper(s[2]) == sp->names[i][2])
                v = sp->min + (int)i;
        if (v < 0)
            return sl_errf(err, SL_EINVAL, "cron: %s: '%.*s' is not a %s", sp->name,
                           (int)SL_MIN(n, QUOTE_MAX), s,
                           f == F_MONTH ? "number or month name (JAN-DEC)"
                           : f == F_DOW ? "number or weekday name (SUN-SAT)"
                                        : "number");
    }
    if (v < sp->min || v > sp->max)
        return sl_errf(err, SL_EINVAL, "cron: %s: %d is out of range %d-%d", sp->name, v, sp->min,
                       sp->max);
    *out = v;
    return 0;
}

static void set_bit(uint64_t *set, int i)
{
    set[i >> 6] |= (uint64_t)1 << (i & 63);
}

static bool has_bit(const uint64_t *set, int i)
{
    return (set[i >> 6] >> (i & 63)) & 1;
}

/* The first bit set in from..to (offsets), or -1. */
static int next_bit(const uint64_t *set, int from, int to)
{
    for (int i = from; i <= to;) {
        uint64_t w = set[i >> 6] >> (i & 63);
        if (w) {
            int k = i + __builtin_ctzll(w);
            return k <= to ? k : -1;
        }
        i = (i | 63) + 1;
    }
    return -1;
}

/* One item of a list: *, a value, a range (a wrapping one too, 22-2),
 * each optionally /step. */
static int parse_item(enum field f, const char *item, size_t n, uint64_t *set,
                      struct sl_err *err)
{
    const struct field_spec *sp = &specs[f];
    const char *slash = memchr(item, '/', n);
    size_t blen = slash ? (size_t)(slash - item) : n;
    int lo, hi, step = 1, rc;
    if (blen == 1 && item[0] == '*') {
        lo = sp->min;
        hi = sp->max;
    } else {
        const char *dash = memchr(item, '-', blen);
        if (dash) {
            if ((rc = parse_value(f, item, (size_t)(dash - item), item, n, &lo, err)) ||
                (rc = parse_value(f, dash + 1, blen - (size_t)(dash - item) - 1, item, n, &hi,
                                  err)))
                return rc;
        } else {
            if ((rc = parse_value(f, item, blen, item, n, &lo, err)))
                return rc;
            hi = slash ? sp->max : lo;
        }
    }
    int span = sp->max - sp->min + 1;
    if (slash) {
        size_t slen = n - blen - 1;
        if (!all_digits(slash + 1, slen) || slen > 9 ||
            (step = digits_value(slash + 1, slen)) < 1 || step > span)
            return sl_errf(err, SL_EINVAL, "cron: %s: the increment in '%.*s' must be 1-%d",
                           sp->name, (int)SL_MIN(n, QUOTE_MAX), item, span);
    }
    if (lo > hi && f == F_YEAR)
        return sl_errf(err, SL_EINVAL, "cron: year: the range %d-%d runs backwards", lo, hi);
    int count = lo <= hi ? hi - lo + 1 : (sp->max - lo + 1) + (hi - sp->min + 1);
    for (int k = 0; k < count; k += step) {
        int v = lo + k;
        if (v > sp->max)
            v -= span;
        set_bit(set, v - sp->min);
    }
    return 0;
}

/* The day-of-month field's special forms: L, LW, nW. 1 when tok is one. */
static int parse_dom_special(const char *tok, size_t n, struct cron *c, struct sl_err *err)
{
    if (n == 1 && upper(tok[0]) == 'L') {
        c->day = DAY_DOM_LAST;
        return 1;
    }
    if (n == 2 && upper(tok[0]) == 'L' && upper(tok[1]) == 'W') {
        c->day = DAY_DOM_LASTWD;
        return 1;
    }
    if (n >= 2 && upper(tok[n - 1]) == 'W' && all_digits(tok, n - 1)) {
        int v, rc = parse_value(F_DOM, tok, n - 1, tok, n, &v, err);
        if (rc)
            return rc;
        c->day = DAY_DOM_NEAREST;
        c->day_n = v;
        return 1;
    }
    if (has_letter(tok, n, 'L') || has_letter(tok, n, 'W'))
        return sl_errf(err, SL_EINVAL,
                       "cron: day-of-month: '%.*s': L, LW and nW (15W) stand alone in their "
                       "field",
                       (int)SL_MIN(n, QUOTE_MAX), tok);
    return 0;
}

/* The day-of-week field's special forms: L (Saturday), nL, n#k. */
static int parse_dow_special(const char *tok, size_t n, struct cron *c, struct sl_err *err)
{
    int v, k, rc;
    if (n == 1 && upper(tok[0]) == 'L') {
        c->day = DAY_DOW_SET;
        set_bit(c->set[F_DOW], 7 - specs[F_DOW].min);
        return 1;
    }
    const char *hash = memchr(tok, '#', n);
    if (hash) {
        size_t vlen = (size_t)(hash - tok), klen = n - vlen - 1;
        if (memchr(tok, ',', n) || memchr(tok, '-', n) || memchr(tok, '/', n))
            return sl_errf(err, SL_EINVAL,
                           "cron: day-of-week: '%.*s': n#k stands alone in its field",
                           (int)SL_MIN(n, QUOTE_MAX), tok);
        if ((rc = parse_value(F_DOW, tok, vlen, tok, n, &v, err)))
            return rc;
        if (!all_digits(hash + 1, klen) || klen > 1 || (k = hash[1] - '0') < 1 || k > 5)
            return sl_errf(err, SL_EINVAL,
                           "cron: day-of-week: '%.*s': the week after '#' must be 1-5",
                           (int)SL_MIN(n, QUOTE_MAX), tok);
        c->day = DAY_DOW_NTH;
        c->day_n = v;
        c->day_nth = k;
        return 1;
    }
    if (has_letter(tok, n, 'L')) {
        if (upper(tok[n - 1]) != 'L' || memchr(tok, ',', n) || memchr(tok, '-', n) ||
            memchr(tok, '/', n))
            return sl_errf(err, SL_EINVAL,
                           "cron: day-of-week: '%.*s': L and nL (6L) stand alone in their field",
                           (int)SL_MIN(n, QUOTE_MAX), tok);
        if ((rc = parse_value(F_DOW, tok, n - 1, tok, n, &v, err)))
            return rc;
        c->day = DAY_DOW_LAST;
        c->day_n = v;
        return 1;
    }
    return 0;
}

/* One field's text. *any is set for '?'. */
static int parse_field(enum field f, const char *tok, size_t n, struct cron *c, bool *any,
                       struct sl_err *err)
{
    const struct field_spec *sp = &specs[f];
    int rc;
    *any = false;
    if (memchr(tok, '?', n)) {
        if (f != F_DOM && f != F_DOW)
            return sl_errf(err, SL_EINVAL,
                           "cron: %s: '?' is only allowed in day-of-month and day-of-week",
                           sp->name);
        if (n != 1)
            return sl_errf(err, SL_EINVAL, "cron: %s: '?' stands alone in its field", sp->name);
        *any = true;
        return 0;
    }
    if (f == F_DOM && (rc = parse_dom_special(tok, n, c, err)))
        return rc < 0 ? rc : 0;
    if (f == F_DOW && (rc = parse_dow_special(tok, n, c, err)))
        return rc < 0 ? rc : 0;
    if (f == F_DOM)
        c->day = DAY_DOM_SET;
    else if (f == F_DOW)
        c->day = DAY_DOW_SET;
    for (size_t i = 0; i <= n;) {
        const char *comma = memchr(tok + i, ',', n - i);
        size_t len = comma ? (size_t)(comma - (tok + i)) : n - i;
        if (len == 0)
            return sl_errf(err, SL_EINVAL, "cron: %s: an empty value in the list '%.*s'", sp->name,
                           (int)SL_MIN(n, QUOTE_MAX), tok);
        if ((rc = parse_item(f, tok + i, len, c->set[f], err)))
            return rc;
        i += len + 1;
    }
    return 0;
}

static int parse_cron(struct sl_schedule *s, const char *body, size_t n, struct sl_err *err)
{
    const char *tok[F_COUNT + 1];
    size_t len[F_COUNT + 1];
    int ntok = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && body[i] == ' ')
            i++;
        if (i == n)
            break;
        size_t b = i;
        while (i < n && body[i] != ' ')
            i++;
        if (ntok <= F_COUNT) {
            tok[ntok] = body + b;
            len[ntok] = i - b;
        }
        ntok++;
    }
    if (ntok != F_COUNT)
        return sl_errf(err, SL_EINVAL,
                       "cron: expected 6 fields (minutes hours day-of-month month day-of-week "
                       "year), got %d",
                       ntok);
    struct cron *c = &s->cron;
    bool dom_any = false, dow_any = false, any;
    int rc;
    for (int f = 0; f < F_COUNT; f++) {
        if ((rc = parse_field((enum field)f, tok[f], len[f], c, &any, err)))
            return rc;
        if (f == F_DOM)
            dom_any = any;
        else if (f == F_DOW)
            dow_any = any;
    }
    if (dom_any && dow_any)
        return sl_errf(err, SL_EINVAL, "cron: day-of-month and day-of-week cannot both be '?'");
    if (!dom_any && !dow_any)
        return sl_errf(err, SL_EINVAL,
                       "cron: one of day-of-month and day-of-week must be '?' (they cannot both "
                       "be given)");
    /* The day mode is the one the field that is not '?' set. */
    return 0;
}

static int parse_rate(struct sl_schedule *s, const char *b, size_t n, struct sl_err *err)
{
    size_t i = 0;
    while (i < n && b[i] >= '0' && b[i] <= '9')
        i++;
    if (i == 0 || (i < n && b[i] != ' '))
        return sl_errf(err, SL_EINVAL, "rate: the value must be a positive integer, as in "
                                       "rate(5 minutes)");
    int64_t v = 0;
    for (size_t k = 0; k < i; k++) {
        v = v * 10 + (b[k] - '0');
        if (v > RATE_VALUE_MAX)
            return sl_errf(err, SL_EINVAL, "rate: the value %.*s is too large (at most %lld)",
                           (int)SL_MIN(i, QUOTE_MAX), b, RATE_VALUE_MAX);
    }
    if (v == 0)
        return sl_errf(err, SL_EINVAL, "rate: the value must be a positive integer, not 0");
    while (i < n && b[i] == ' ')
        i++;
    const char *unit = b + i;
    size_t ulen = n - i;
    for (size_t k = 0; k < SL_ARRAY_LEN(rate_units); k++) {
        const struct rate_unit *u = &rate_units[k];
        if (strlen(u->name) != ulen || memcmp(u->name, unit, ulen) != 0)
            continue;
        if (u->plural == (v == 1))
            return sl_errf(err, SL_EINVAL, "rate: the unit must be '%s%s' when the value is %s",
                           u->plural ? "" : u->name, u->plural ? rate_units[k - 1].name : "s",
                           v == 1 ? "1" : "greater than 1");
        s->period_ms = v * u->ms;
        return 0;
    }
    return sl_errf(err, SL_EINVAL,
                   "rate: unknown unit '%.*s' (minute, minutes, hour, hours, day or days)",
                   (int)SL_MIN(ulen, QUOTE_MAX), unit);
}

/* at(yyyy-mm-ddThh:mm:ss): the wall-clock time, in local seconds. */
static int parse_at(const char *b, size_t n, int64_t *local, struct sl_err *err)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    bool ok = n == sizeof(shape) - 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = shape[i] == 'd' ? b[i] >= '0' && b[i] <= '9' : b[i] == shape[i];
    if (!ok)
        return sl_errf(err, SL_EINVAL, "at: the time must be yyyy-mm-ddThh:mm:ss, as in "
                                       "at(2024-01-31T09:00:00)");
    int y = digits_value(b, 4), mo = digits_value(b + 5, 2), d = digits_value(b + 8, 2);
    int h = digits_value(b + 11, 2), mi = digits_value(b + 14, 2), sec = digits_value(b + 17, 2);
    if (mo < 1 || mo > 12 || d < 1 || d > sl_days_in_month(y, mo))
        return sl_errf(err, SL_EINVAL, "at: there is no date %.10s", b);
    if (h > 23 || mi > 59 || sec > 59)
        return sl_errf(err, SL_EINVAL, "at: %.8s is not a time of day", b + 11);
    *local = sl_days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + sec;
    return 0;
}

/* Whether expr is prefix + body + ")"; sets the body. */
static bool wrapped(const char *expr, size_t n, const char *prefix, const char **body,
                    size_t *blen)
{
    size_t p = strlen(prefix);
    if (n < p || memcmp(expr, prefix, p) != 0)
        return false;
    *body = expr + p;
    *blen = n - p;
    return true;
}

int sl_schedule_parse(const char *expr, const char *tz, enum sl_schedule_owner owner,
                      struct sl_schedule **out, struct sl_err *err)
{
    *out = NULL;
    size_t n = expr ? strnlen(expr, SL_SCHEDULE_EXPR_MAX + 1) : 0;
    if (n == 0)
        return sl_errf(err, SL_EINVAL, "the schedule expression is empty");
    if (n > SL_SCHEDULE_EXPR_MAX)
        return sl_errf(err, SL_EINVAL, "the schedule expression is longer than %d characters",
                       SL_SCHEDULE_EXPR_MAX);
    if (owner == SL_SCHEDULE_RULE && tz)
        return sl_errf(err, SL_EINVAL, "a rule's schedule runs in UTC and takes no time zone");
    struct sl_schedule *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    s->owner = owner;
    const char *body;
    size_t blen;
    const char *kind;
    int rc;
    int64_t local = 0;
    if (wrapped(expr, n, "rate(", &body, &blen)) {
        s->kind = SL_SCHEDULE_RATE;
        kind = "rate";
    } else if (wrapped(expr, n, "cron(", &body, &blen)) {
        s->kind = SL_SCHEDULE_CRON;
        kind = "cron";
    } else if (wrapped(expr, n, "at(", &body, &blen)) {
        s->kind = SL_SCHEDULE_AT;
        kind = "at";
    } else {
        rc = sl_errf(err, SL_EINVAL, "the expression must be %s, not '%.*s'",
                     owner == SL_SCHEDULE_RULE ? "rate(...) or cron(...)"
                                               : "rate(...), cron(...) or at(...)",
                     QUOTE_MAX, expr);
        goto fail;
    }
    if (blen == 0 || body[blen - 1] != ')') {
        rc = sl_errf(err, SL_EINVAL, "%s(...) is missing its closing ')'", kind);
        goto fail;
    }
    blen--;
    if (memchr(body, '(', blen) || memchr(body, ')', blen)) {
        rc = sl_errf(err, SL_EINVAL, "%s(...): unexpected parenthesis", kind);
        goto fail;
    }
    switch (s->kind) {
    case SL_SCHEDULE_RATE:
        rc = parse_rate(s, body, blen, err);
        break;
    case SL_SCHEDULE_CRON:
        rc = parse_cron(s, body, blen, err);
        break;
    case SL_SCHEDULE_AT:
        rc = owner == SL_SCHEDULE_RULE
                 ? sl_errf(err, SL_EINVAL, "at(...) is for EventBridge Scheduler, not rules")
                 : parse_at(body, blen, &local, err);
        break;
    }
    if (rc)
        goto fail;
    if (tz && (rc = sl_tz_load(NULL, tz, &s->tz, err)))
        goto fail;
    if (s->kind == SL_SCHEDULE_AT) {
        int64_t t = local;
        if (s->tz)
            sl_tz_resolve(s->tz, local, &t);
        s->at_ms = t * 1000;
    }
    *out = s;
    return 0;
fail:
    sl_schedule_free(s);
    return rc;
}

enum sl_schedule_kind sl_schedule_kind(const struct sl_schedule *s)
{
    return s->kind;
}

void sl_schedule_free(struct sl_schedule *s)
{
    if (!s)
        return;
    sl_tz_free(s->tz);
    free(s);
}

/* ---- next fire time ---------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* A wall-clock minute. */
struct wall {
    int64_t y;
    int mo, d, h, mi;
};

static void wall_from_local(int64_t local, struct wall *w)
{
    int64_t days = floor_div(local, SECS_PER_DAY);
    int64_t secs = local - days * SECS_PER_DAY;
    sl_civil_from_days(days, &w->y, &w->mo, &w->d);
    w->h = (int)(secs / 3600);
    w->mi = (int)(secs % 3600 / 60);
}

static int64_t wall_to_local(const struct wall *w)
{
    return sl_days_from_civil(w->y, w->mo, w->d) * SECS_PER_DAY + w->h * 3600 + w->mi * 60;
}

/* The first day from..end of month y-mo that the day fields match, or -1. */
static int next_day(const struct cron *c, int64_t y, int mo, int from)
{
    int mdays = sl_days_in_month(y, mo);
    if (from > mdays)
        return -1;
    int64_t first = sl_days_from_civil(y, mo, 1);
    int target, wd, n = c->day_n;
    switch (c->day) {
    case DAY_DOM_SET: {
        int k = next_bit(c->set[F_DOM], from - 1, mdays - 1);
        return k < 0 ? -1 : k + 1;
    }
    case DAY_DOM_LAST:
        target = mdays;
        break;
    case DAY_DOM_LASTWD:
        wd = sl_weekday(first + mdays - 1);
        target = wd == 7 ? mdays - 1 : wd == 1 ? mdays - 2 : mdays;
        break;
    case DAY_DOM_NEAREST:
        /* The weekday nearest day n, within the month: a Saturday the 1st
         * gives Monday the 3rd, a Sunday the last gives Friday. */
        if (n > mdays)
            return -1;
        wd = sl_weekday(first + n - 1);
        if (wd == 7)
            target = n == 1 ? 3 : n - 1;
        else if (wd == 1)
            target = n == mdays ? n - 2 : n + 1;
        else
            target = n;
        break;
    case DAY_DOW_SET:
        wd = sl_weekday(first + from - 1);
        for (int d = from; d <= mdays; d++, wd = wd % 7 + 1)
            if (has_bit(c->set[F_DOW], wd - 1))
                return d;
        return -1;
    case DAY_DOW_LAST:
        target = mdays - (sl_weekday(first + mdays - 1) - n + 7) % 7;
        break;
    case DAY_DOW_NTH:
        target = 1 + (n - sl_weekday(first) + 7) % 7 + 7 * (c->day_nth - 1);
        break;
    default:
        return -1;
    }
    return target >= from && target <= mdays ? target : -1;
}

/* Moves w to the first wall-clock minute at or after it that c matches;
 * false when there is none before the years run out. */
static bool cron_match_from(const struct cron *c, struct wall *w)
{
    if (w->y < SL_SCHEDULE_YEAR_MIN)
        *w = (struct wall){SL_SCHEDULE_YEAR_MIN, 1, 1, 0, 0};
    for (;;) {
        if (w->y > SL_SCHEDULE_YEAR_MAX)
            return false;
        int k = next_bit(c->set[F_YEAR], (int)(w->y - SL_SCHEDULE_YEAR_MIN),
                         SL_SCHEDULE_YEAR_MAX - SL_SCHEDULE_YEAR_MIN);
        if (k < 0)
            return false;
        if (k + SL_SCHEDULE_YEAR_MIN != w->y)
            *w = (struct wall){k + SL_SCHEDULE_YEAR_MIN, 1, 1, 0, 0};
        int mo = next_bit(c->set[F_MONTH], w->mo - 1, 11) + 1;
        if (mo == 0) {
            *w = (struct wall){w->y + 1, 1, 1, 0, 0};
            continue;
        }
        if (mo != w->mo)
            *w = (struct wall){w->y, mo, 1, 0, 0};
        int d = next_day(c, w->y, w->mo, w->d);
        if (d < 0) {
            *w = w->mo == 12 ? (struct wall){w->y + 1, 1, 1, 0, 0}
                             : (struct wall){w->y, w->mo + 1, 1, 0, 0};
            continue;
        }
        if (d != w->d)
            *w = (struct wall){w->y, w->mo, d, 0, 0};
        int h = next_bit(c->set[F_HOUR], w->h, 23);
        if (h < 0) {
            *w = (struct wall){w->y, w->mo, w->d + 1, 0, 0}; /* past the month: next_day says */
            continue;
        }
        if (h != w->h)
            *w = (struct wall){w->y, w->mo, w->d, h, 0};
        int mi = next_bit(c->set[F_MIN], w->mi, 59);
        if (mi < 0) {
            *w = (struct wall){w->y, w->mo, w->d, w->h + 1, 0}; /* hour 24: next_bit says */
            continue;
        }
        w->mi = mi;
        return true;
    }
}

static int64_t cron_next(const struct sl_schedule *s, int64_t after_ms)
{
    /* Wall clocks are within 26 hours of UTC: past this nothing can match
     * (and before the epoch the caller does not ask). */
    const int64_t hi = (sl_days_from_civil(SL_SCHEDULE_YEAR_MAX + 1, 1, 1) + 2) * SECS_PER_DAY;
    int64_t after = floor_div(after_ms, 1000);
    if (after > hi)
        return -1;
    /* Every fire after `after` reads a wall time later than the one at
     * `after` (the first occurrence of a repeated time is taken), so the
     * search starts at the next wall minute; candidates whose instant is
     * not after `after` (the rest of a repeated hour) are passed over. */
    int64_t local = floor_div(after + (s->tz ? sl_tz_offset(s->tz, after) : 0), 60) * 60 + 60;
    for (;;) {
        struct wall w;
        wall_from_local(local, &w);
        if (!cron_match_from(&s->cron, &w))
            return -1;
        local = wall_to_local(&w);
        int64_t t = local;
        if (s->tz && sl_tz_resolve(s->tz, local, &t) == 0) {
            local += 60; /* skipped by the spring's gap */
            continue;
        }
        if (t * 1000 > after_ms)
            return t * 1000;
        local += 60;
    }
}

static int64_t rate_next(const struct sl_schedule *s, int64_t anchor, int64_t after)
{
    int64_t p = s->period_ms, first = anchor, next;
    if (s->owner == SL_SCHEDULE_RULE && __builtin_add_overflow(anchor, p, &first))
        return -1;
    if (after < first)
        return first;
    /* first + (diff / p + 1) * p, without the product; after >= first,
     * so the difference fits unsigned. */
    uint64_t diff = (uint64_t)after - (uint64_t)first;
    if (__builtin_add_overflow(after, p - (int64_t)(diff % (uint64_t)p), &next))
        return -1;
    return next;
}

int64_t sl_schedule_next(const struct sl_schedule *s, int64_t anchor_ms, int64_t after_ms)
{
    /* Fire times are never before the epoch, so that -1 means none. */
    if (after_ms < -1)
        after_ms = -1;
    switch (s->kind) {
    case SL_SCHEDULE_RATE:
        return rate_next(s, anchor_ms, after_ms);
    case SL_SCHEDULE_CRON:
        return cron_next(s, after_ms);
    case SL_SCHEDULE_AT:
        return s->at_ms > after_ms ? s->at_ms : -1;
    }
    return -1;
}
