/*
 * Choice rules (choice.h): compiled into a tree of And/Or/Not nodes over
 * comparisons whose paths are compiled once.
 */
#include "services/states/choice.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/states/jsonpath.h"

#define DEPTH_MAX 64

enum rkind { R_AND, R_OR, R_NOT, R_CMP };

enum vtype { V_STRING, V_NUMERIC, V_BOOLEAN, V_TIMESTAMP, V_MATCH, V_TEST };
enum cmp { C_EQ, C_LT, C_GT, C_LE, C_GE };
enum test { T_NULL, T_PRESENT, T_NUMERIC, T_STRING, T_BOOLEAN, T_TIMESTAMP };

struct sl_choice_rule {
    enum rkind kind;
    struct sl_choice_rule **kids;
    size_t n;
    /* R_CMP: */
    struct sl_jsonpath *variable;
    enum vtype type;
    enum cmp cmp;
    enum test test;
    json_t *value;            /* the literal (or IsX's boolean) */
    struct sl_jsonpath *other; /* a ...Path's */
    char op[40];              /* the operator, for messages */
};

/* The comparison operators: name, type, comparison. */
static const struct {
    const char *name;
    enum vtype type;
    enum cmp cmp;
} ops[] = {
    {"StringEquals", V_STRING, C_EQ},
    {"StringLessThan", V_STRING, C_LT},
    {"StringGreaterThan", V_STRING, C_GT},
    {"StringLessThanEquals", V_STRING, C_LE},
    {"StringGreaterThanEquals", V_STRING, C_GE},
    {"StringMatches", V_MATCH, C_EQ},
    {"NumericEquals", V_NUMERIC, C_EQ},
    {"NumericLessThan", V_NUMERIC, C_LT},
    {"NumericGreaterThan", V_NUMERIC, C_GT},
    {"NumericLessThanEquals", V_NUMERIC, C_LE},
    {"NumericGreaterThanEquals", V_NUMERIC, C_GE},
    {"BooleanEquals", V_BOOLEAN, C_EQ},
    {"TimestampEquals", V_TIMESTAMP, C_EQ},
    {"TimestampLessThan", V_TIMESTAMP, C_LT},
    {"TimestampGreaterThan", V_TIMESTAMP, C_GT},
    {"TimestampLessThanEquals", V_TIMESTAMP, C_LE},
    {"TimestampGreaterThanEquals", V_TIMESTAMP, C_GE},
};

static const struct {
    const char *name;
    enum test test;
} tests[] = {
    {"IsNull", T_NULL},       {"IsPresent", T_PRESENT}, {"IsNumeric", T_NUMERIC},
    {"IsString", T_STRING},   {"IsBoolean", T_BOOLEAN}, {"IsTimestamp", T_TIMESTAMP},
};

/* ---- timestamps -------------------------------------------------------------- */

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool sl_rfc3339_parse(const char *s, int64_t *us)
{
    int y, mo, d, h, mi, sec;
    if (!s || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || sec > 60)
        return false;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 6)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return false;
        for (int i = n; i < 6; i++)
            frac *= 10;
    }
    int64_t offset = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
            om > 59)
            return false;
        offset = (int64_t)(oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    *us = secs * 1000000 + frac;
    return true;
}

/* ---- compiling ---------------------------------------------------------------- */

void sl_choice_free(struct sl_choice_rule *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        sl_choice_free(r->kids[i]);
    free(r->kids);
    sl_jsonpath_free(r->variable);
    sl_jsonpath_free(r->other);
    json_decref(r->value);
    free(r);
}

static int compile(const json_t *rule, bool top, int depth, struct sl_choice_rule **out,
                   struct sl_err *err);

/* And / Or: an array of one rule or more. */
static int compile_list(const json_t *list, const char *name, int depth,
                        struct sl_choice_rule *r, struct sl_err *err)
{
    if (!json_is_array(list) || json_array_size(list) == 0)
        return sl_errf(err, SL_EINVAL, "The field '%s' must be a non-empty array of rules",
                       name);
    r->kids = calloc(json_array_size(list), sizeof(*r->kids));
    if (!r->kids)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    size_t i;
    json_t *k;
    json_array_foreach((json_t *)list, i, k)
    {
        int rc = compile(k, false, depth + 1, &r->kids[r->n], err);
        if (rc)
            return rc;
        r->n++;
    }
    return 0;
}

static int compile_cmp(const json_t *rule, struct sl_choice_rule *r, struct sl_err *err)
{
    const char *var = json_string_value(json_object_get(rule, "Variable"));
    if (!var)
        return sl_errf(err, SL_EINVAL, "A comparison rule must have a string field 'Variable'");
    struct sl_err perr = {0};
    if (sl_jsonpath_compile(var, 0, &r->variable, &perr))
        return sl_errf(err, SL_EINVAL, "The field 'Variable' is not valid: %s", perr.msg);
    const char *found = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)rule, k, v)
    {
        if (strcmp(k, "Variable") == 0 || strcmp(k, "Next") == 0 || strcmp(k, "Comment") == 0)
            continue;
        if (found)
            return sl_errf(err, SL_EINVAL, "A comparison rule may have one operator, not "
                                           "both '%s' and '%s'",
                           found, k);
        found = k;
        sl_strlcpy(r->op, k, sizeof(r->op));
        size_t kl = strlen(k);
        bool path = kl > 4 && strcmp(k + kl - 4, "Path") == 0;
        char base[40];
        snprintf(base, sizeof(base), "%.*s", (int)(path ? kl - 4 : kl), k);
        bool known = false;
        for (size_t i = 0; i < SL_ARRAY_LEN(ops) && !known; i++)
            if (strcmp(base, ops[i].name) == 0 && !(path && ops[i].type == V_MATCH)) {
                known = true;
                r->type = ops[i].type;
                r->cmp = ops[i].cmp;
            }
        for (size_t i = 0; i < SL_ARRAY_LEN(tests) && !known && !path; i++)
            if (strcmp(k, tests[i].name) == 0) {
                known = true;
                r->type = V_TEST;
                r->test = tests[i].test;
            }
        if (!known)
            return sl_errf(err, SL_EINVAL, "The field '%s' is not a comparison operator", k);
        if (path) {
            const char *p = json_string_value(v);
            if (!p || sl_jsonpath_compile(p, 0, &r->other, &perr))
                return sl_errf(err, SL_EINVAL, "The value of '%s' must be a valid JSONPath", k);
            continue;
        }
        bool ok = r->type == V_TEST      ? json_is_boolean(v)
                  : r->type == V_NUMERIC ? json_is_number(v)
                  : r->type == V_BOOLEAN ? json_is_boolean(v)
                                         : json_is_string(v);
        int64_t us;
        if (ok && r->type == V_TIMESTAMP)
            ok = sl_rfc3339_parse(json_string_value(v), &us);
        if (!ok)
            return sl_errf(err, SL_EINVAL, "The value of '%s' must be %s", k,
                           r->type == V_TEST || r->type == V_BOOLEAN ? "a boolean"
                           : r->type == V_NUMERIC                    ? "a number"
                           : r->type == V_TIMESTAMP ? "an RFC 3339 timestamp"
                                                    : "a string");
        r->value = json_incref(v);
    }
    if (!found)
        return sl_errf(err, SL_EINVAL, "A comparison rule must have a comparison operator");
    return 0;
}

static int compile(const json_t *rule, bool top, int depth, struct sl_choice_rule **out,
                   struct sl_err *err)
{
    *out = NULL;
    if (depth > DEPTH_MAX)
        return sl_errf(err, SL_EINVAL, "The rules are nested too deeply");
    if (!json_is_object(rule))
        return sl_errf(err, SL_EINVAL, "A choice rule must be an object");
    bool has_next = json_object_get(rule, "Next") != NULL;
    if (top && !json_is_string(json_object_get(rule, "Next")))
        return sl_errf(err, SL_EINVAL, "A choice rule of Choices must have a string field "
                                       "'Next'");
    if (!top && has_next)
        return sl_errf(err, SL_EINVAL, "A nested choice rule may not have a field 'Next'");
    struct sl_choice_rule *r = calloc(1, sizeof(*r));
    if (!r)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    json_t *and = json_object_get(rule, "And"), *or = json_object_get(rule, "Or"),
           *not = json_object_get(rule, "Not");
    int rc;
    if ((and != NULL) + (or != NULL) + (not != NULL) > 1) {
        rc = sl_errf(err, SL_EINVAL, "A choice rule may have one of And, Or and Not");
    } else if (and || or) {
        r->kind = and ? R_AND : R_OR;
        rc = compile_list(and ? and : or, and ? "And" : "Or", depth, r, err);
    } else if (not) {
        r->kind = R_NOT;
        r->kids = calloc(1, sizeof(*r->kids));
        rc = r->kids ? compile(not, false, depth + 1, &r->kids[0], err)
                     : sl_errf(err, SL_ENOMEM, "out of memory");
        if (!rc)
            r->n = 1;
    } else {
        r->kind = R_CMP;
        rc = compile_cmp(rule, r, err);
    }
    if (!rc && r->kind != R_CMP) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)rule, k, v)
        {
            if (!rc && strcmp(k, "And") && strcmp(k, "Or") && strcmp(k, "Not") &&
                strcmp(k, "Next") && strcmp(k, "Comment"))
                rc = sl_errf(err, SL_EINVAL, "The field '%s' is not valid beside And, Or or "
                                             "Not",
                             k);
        }
    }
    if (rc) {
        sl_choice_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int sl_choice_compile(const json_t *rule, bool top, struct sl_choice_rule **out,
                      struct sl_err *err)
{
    return compile(rule, top, 0, out, err);
}

/* ---- evaluating ------------------------------------------------------------------ */

/* StringMatches: * matches any run; \* and \\ are the characters. Greedy
 * with one backtrack point (linear in practice, never exponential). */
static bool matches(const char *s, const char *pat)
{
    size_t m = strlen(pat), n = 0;
    struct tok {
        bool star;
        char ch;
    } *tok = malloc((m ? m : 1) * sizeof(*tok));
    if (!tok)
        return false;
    for (size_t i = 0; i < m; i++) {
        if (pat[i] == '*') {
            tok[n++] = (struct tok){true, 0};
        } else if (pat[i] == '\\' && (pat[i + 1] == '*' || pat[i + 1] == '\\')) {
            tok[n++] = (struct tok){false, pat[++i]};
        } else {
            tok[n++] = (struct tok){false, pat[i]};
        }
    }
    size_t si = 0, pi = 0, star = SIZE_MAX, mark = 0;
    bool ok = true;
    while (s[si]) {
        if (pi < n && !tok[pi].star && tok[pi].ch == s[si]) {
            si++;
            pi++;
        } else if (pi < n && tok[pi].star) {
            star = pi++;
            mark = si;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            si = ++mark;
        } else {
            ok = false;
            break;
        }
    }
    while (ok && pi < n && tok[pi].star)
        pi++;
    ok = ok && pi == n;
    free(tok);
    return ok;
}

static bool order(enum cmp c, int d)
{
    switch (c) {
    case C_EQ:
        return d == 0;
    case C_LT:
        return d < 0;
    case C_GT:
        return d > 0;
    case C_LE:
        return d <= 0;
    case C_GE:
        return d >= 0;
    }
    return false;
}

static int value_at(const struct sl_jsonpath *p, json_t *input, json_t *context, json_t **out)
{
    json_t *doc = sl_jsonpath_is_context(p) ? context : input;
    return doc ? sl_jsonpath_get(p, doc, out) : SL_ENOTFOUND;
}

static int eval_cmp(const struct sl_choice_rule *r, json_t *input, json_t *context, bool *holds,
                    struct sl_err *err)
{
    json_t *v = NULL;
    int rc = value_at(r->variable, input, context, &v);
    if (rc == SL_ENOTFOUND) {
        if (r->type == V_TEST && r->test == T_PRESENT) {
            *holds = !json_is_true(r->value);
            return 0;
        }
        return sl_errf(err, SL_EINVAL,
                       "Invalid path '%.200s': The choice state's condition path references an "
                       "invalid value.",
                       sl_jsonpath_text(r->variable));
    }
    if (rc)
        return sl_errf(err, rc, "out of memory");
    json_t *other = NULL;
    if (r->other) {
        rc = value_at(r->other, input, context, &other);
        if (rc) {
            json_decref(v);
            return rc == SL_ENOTFOUND
                       ? sl_errf(err, SL_EINVAL,
                                 "Invalid path '%.200s': The choice state's condition path "
                                 "references an invalid value.",
                                 sl_jsonpath_text(r->other))
                       : sl_errf(err, rc, "out of memory");
        }
    }
    const json_t *w = other ? other : r->value;
    bool h = false;
    int64_t a, b;
    switch (r->type) {
    case V_STRING:
        h = json_is_string(v) && json_is_string(w) &&
            order(r->cmp, strcmp(json_string_value(v), json_string_value(w)));
        break;
    case V_MATCH:
        h = json_is_string(v) && json_is_string(w) &&
            matches(json_string_value(v), json_string_value(w));
        break;
    case V_NUMERIC:
        if (json_is_number(v) && json_is_number(w)) {
            double x = json_number_value(v), y = json_number_value(w);
            h = order(r->cmp, x < y ? -1 : x > y ? 1 : 0);
        }
        break;
    case V_BOOLEAN:
        h = json_is_boolean(v) && json_is_boolean(w) && json_is_true(v) == json_is_true(w);
        break;
    case V_TIMESTAMP:
        h = json_is_string(v) && json_is_string(w) &&
            sl_rfc3339_parse(json_string_value(v), &a) &&
            sl_rfc3339_parse(json_string_value(w), &b) && order(r->cmp, a < b ? -1 : a > b);
        break;
    case V_TEST: {
        bool is;
        switch (r->test) {
        case T_NULL:
            is = json_is_null(v);
            break;
        case T_PRESENT:
            is = true;
            break;
        case T_NUMERIC:
            is = json_is_number(v);
            break;
        case T_STRING:
            is = json_is_string(v);
            break;
        case T_BOOLEAN:
            is = json_is_boolean(v);
            break;
        default:
            is = json_is_string(v) && sl_rfc3339_parse(json_string_value(v), &a);
            break;
        }
        h = is == json_is_true(r->value);
        break;
    }
    }
    json_decref(v);
    json_decref(other);
    *holds = h;
    return 0;
}

int sl_choice_eval(const struct sl_choice_rule *r, json_t *input, json_t *context, bool *holds,
                   struct sl_err *err)
{
    switch (r->kind) {
    case R_CMP:
        return eval_cmp(r, input, context, holds, err);
    case R_NOT: {
        int rc = sl_choice_eval(r->kids[0], input, context, holds, err);
        if (!rc)
            *holds = !*holds;
        return rc;
    }
    case R_AND:
    case R_OR:
        for (size_t i = 0; i < r->n; i++) {
            bool h = false;
            int rc = sl_choice_eval(r->kids[i], input, context, &h, err);
            if (rc)
                return rc;
            if (h == (r->kind == R_OR)) {
                *holds = h;
                return 0;
            }
        }
        *holds = r->kind == R_AND;
        return 0;
    }
    return SL_EINVAL;
}
