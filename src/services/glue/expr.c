/*
 * GetPartitions' Expression: a SQL-like predicate over a table's partition
 * keys, as Glue takes it — comparisons (=, <>, !=, <, <=, >, >=), BETWEEN
 * ... AND ..., IN (...), LIKE (with % and _), IS [NOT] NULL, AND, OR, NOT
 * and parentheses; values quoted ('2024', with '' for a quote) or bare
 * numbers. A key of a number type (int, bigint, ...) compares as a number,
 * any other as text.
 */
#include "services/glue/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEPTH_MAX 64
#define TOKEN_MAX 1024

enum kind { E_AND, E_OR, E_NOT, E_CMP, E_BETWEEN, E_IN, E_LIKE, E_NULL, E_NOT_NULL };
enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

struct glue_expr {
    enum kind kind;
    enum op op;
    size_t key;
    bool numeric; /* the key's type is a number's */
    char **vals;
    size_t nvals;
    struct glue_expr *a, *b;
};

struct parser {
    const char *text; /* the whole expression */
    const char *p;
    const char *const *keys;
    const bool *numeric;
    size_t nkeys;
    int depth;
    struct sl_err *err;
    int rc;
};

void glue_expr_free(struct glue_expr *e)
{
    if (!e)
        return;
    glue_expr_free(e->a);
    glue_expr_free(e->b);
    for (size_t i = 0; i < e->nvals; i++)
        free(e->vals[i]);
    free(e->vals);
    free(e);
}

static struct glue_expr *fail(struct parser *ps, const char *why)
{
    if (!ps->rc)
        ps->rc = sl_errf(ps->err, SL_EINVAL, "Unsupported expression '%.200s': %s (at character %zu)",
                         ps->text, why, (size_t)(ps->p - ps->text) + 1);
    return NULL;
}

static void skip_space(struct parser *ps)
{
    while (isspace((unsigned char)*ps->p))
        ps->p++;
}

/* The keyword kw (any case) next, followed by a non-word character. */
static bool keyword(struct parser *ps, const char *kw)
{
    skip_space(ps);
    size_t n = strlen(kw);
    if (strncasecmp(ps->p, kw, n) != 0 || isalnum((unsigned char)ps->p[n]) || ps->p[n] == '_')
        return false;
    ps->p += n;
    return true;
}

static bool punct(struct parser *ps, const char *s)
{
    skip_space(ps);
    size_t n = strlen(s);
    if (strncmp(ps->p, s, n) != 0)
        return false;
    ps->p += n;
    return true;
}

/* A value: 'text' or a bare number; malloc'd. */
static char *value(struct parser *ps)
{
    skip_space(ps);
    char buf[TOKEN_MAX];
    size_t n = 0;
    if (*ps->p == '\'' || *ps->p == '"') {
        char q = *ps->p++;
        for (;;) {
            if (!*ps->p) {
                fail(ps, "a quoted value is not closed");
                return NULL;
            }
            if (*ps->p == q) {
                if (ps->p[1] != q)
                    break;
                ps->p++;
            }
            if (n + 1 >= sizeof(buf)) {
                fail(ps, "a value is too long");
                return NULL;
            }
            buf[n++] = *ps->p++;
        }
        ps->p++;
    } else {
        while (isalnum((unsigned char)*ps->p) || (*ps->p && strchr("-+._", *ps->p))) {
            if (n + 1 >= sizeof(buf)) {
                fail(ps, "a value is too long");
                return NULL;
            }
            buf[n++] = *ps->p++;
        }
        if (!n) {
            fail(ps, "a value is missing");
            return NULL;
        }
    }
    buf[n] = '\0';
    char *v = strdup(buf);
    if (!v)
        fail(ps, "out of memory");
    return v;
}

/* Whether s is a whole number, or a decimal one. */
static bool is_number(const char *s)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return false;
    errno = 0;
    (void)strtoll(s, &end, 10);
    if (!*end && !errno)
        return true;
    /* (Decimals: digits, one point, a sign; no exponents, hex, nan or inf.) */
    size_t i = *s == '-' || *s == '+';
    bool digit = false, point = false;
    for (; s[i]; i++) {
        if (isdigit((unsigned char)s[i]))
            digit = true;
        else if (s[i] == '.' && !point)
            point = true;
        else
            return false;
    }
    return digit;
}

static int add_value(struct glue_expr *e, char *v)
{
    char **vals = realloc(e->vals, (e->nvals + 1) * sizeof(*vals));
    if (!vals) {
        free(v);
        return SL_ENOMEM;
    }
    e->vals = vals;
    e->vals[e->nvals++] = v;
    return 0;
}

static struct glue_expr *parse_or(struct parser *ps);

/* A key of a number type takes numbers only (and no LIKE), as Glue says. */
static struct glue_expr *check_numbers(struct parser *ps, struct glue_expr *e)
{
    if (!e->numeric)
        return e;
    bool ok = e->kind != E_LIKE;
    for (size_t i = 0; ok && i < e->nvals; i++)
        ok = is_number(e->vals[i]);
    if (ok)
        return e;
    const char *why = e->kind == E_LIKE ? "LIKE is for keys of string types"
                                        : "a key of a number type takes numbers";
    glue_expr_free(e);
    return fail(ps, why);
}

static struct glue_expr *primary(struct parser *ps)
{
    if (punct(ps, "(")) {
        struct glue_expr *e = parse_or(ps);
        if (e && !punct(ps, ")")) {
            glue_expr_free(e);
            return fail(ps, "a parenthesis is not closed");
        }
        return e;
    }
    skip_space(ps);
    char name[GLUE_NAME_MAX + 1];
    size_t n = 0;
    bool quoted = *ps->p == '`';
    if (quoted)
        ps->p++;
    while (n < GLUE_NAME_MAX && (quoted ? *ps->p && *ps->p != '`'
                                        : isalnum((unsigned char)*ps->p) || *ps->p == '_'))
        name[n++] = *ps->p++;
    if (quoted) {
        if (*ps->p != '`')
            return fail(ps, "a quoted key is not closed");
        ps->p++;
    }
    name[n] = '\0';
    if (!n)
        return fail(ps, "a partition key is expected");
    size_t key = ps->nkeys;
    for (size_t i = 0; i < ps->nkeys; i++)
        if (strcasecmp(ps->keys[i], name) == 0)
            key = i;
    if (key == ps->nkeys)
        return fail(ps, "it names a column that is not a partition key");
    struct glue_expr *e = calloc(1, sizeof(*e));
    if (!e)
        return fail(ps, "out of memory");
    e->key = key;
    e->numeric = ps->numeric && ps->numeric[key];
    static const struct {
        const char *s;
        enum op op;
    } ops[] = {{"<>", OP_NE}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
               {"=", OP_EQ},  {"<", OP_LT},  {">", OP_GT}};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (punct(ps, ops[i].s)) {
            e->kind = E_CMP;
            e->op = ops[i].op;
            char *v = value(ps);
            if (!v || add_value(e, v)) {
                glue_expr_free(e);
                return fail(ps, "out of memory");
            }
            return check_numbers(ps, e);
        }
    if (keyword(ps, "BETWEEN")) {
        e->kind = E_BETWEEN;
        char *lo = value(ps);
        if (!lo || add_value(e, lo) || !keyword(ps, "AND")) {
            glue_expr_free(e);
            return fail(ps, "BETWEEN needs two values joined by AND");
        }
        char *hi = value(ps);
        if (!hi || add_value(e, hi)) {
            glue_expr_free(e);
            return fail(ps, "BETWEEN needs two values joined by AND");
        }
        return check_numbers(ps, e);
    }
    bool negated = keyword(ps, "NOT");
    if (keyword(ps, "IN")) {
        e->kind = E_IN;
        if (!punct(ps, "(")) {
            glue_expr_free(e);
            return fail(ps, "IN needs a list in parentheses");
        }
        do {
            char *v = value(ps);
            if (!v || add_value(e, v)) {
                glue_expr_free(e);
                return fail(ps, "IN needs a list of values");
            }
        } while (punct(ps, ","));
        if (!punct(ps, ")")) {
            glue_expr_free(e);
            return fail(ps, "IN's list is not closed");
        }
    } else if (keyword(ps, "LIKE")) {
        e->kind = E_LIKE;
        char *v = value(ps);
        if (!v || add_value(e, v)) {
            glue_expr_free(e);
            return fail(ps, "LIKE needs a pattern");
        }
    } else if (!negated && keyword(ps, "IS")) {
        e->kind = keyword(ps, "NOT") ? E_NOT_NULL : E_NULL;
        if (!keyword(ps, "NULL")) {
            glue_expr_free(e);
            return fail(ps, "IS needs NULL");
        }
        return e;
    } else {
        glue_expr_free(e);
        return fail(ps, "an operator is expected after a partition key");
    }
    if (!negated)
        return check_numbers(ps, e);
    if (!check_numbers(ps, e))
        return NULL;
    struct glue_expr *not = calloc(1, sizeof(*not));
    if (!not) {
        glue_expr_free(e);
        return fail(ps, "out of memory");
    }
    not->kind = E_NOT;
    not->a = e;
    return not;
}

static struct glue_expr *parse_not(struct parser *ps)
{
    if (++ps->depth > DEPTH_MAX)
        return fail(ps, "it is nested too deep");
    struct glue_expr *e;
    if (keyword(ps, "NOT")) {
        struct glue_expr *a = parse_not(ps);
        e = a ? calloc(1, sizeof(*e)) : NULL;
        if (e) {
            e->kind = E_NOT;
            e->a = a;
        } else {
            glue_expr_free(a);
        }
    } else {
        e = primary(ps);
    }
    ps->depth--;
    return e;
}

static struct glue_expr *binary(struct parser *ps, struct glue_expr *(*sub)(struct parser *),
                                const char *kw, enum kind kind)
{
    struct glue_expr *left = sub(ps);
    while (left && keyword(ps, kw)) {
        struct glue_expr *right = sub(ps), *both = right ? calloc(1, sizeof(*both)) : NULL;
        if (!both) {
            glue_expr_free(left);
            glue_expr_free(right);
            return fail(ps, "out of memory");
        }
        both->kind = kind;
        both->a = left;
        both->b = right;
        left = both;
    }
    return left;
}

static struct glue_expr *parse_and(struct parser *ps)
{
    return binary(ps, parse_not, "AND", E_AND);
}

static struct glue_expr *parse_or(struct parser *ps)
{
    if (++ps->depth > DEPTH_MAX)
        return fail(ps, "it is nested too deep");
    struct glue_expr *e = binary(ps, parse_and, "OR", E_OR);
    ps->depth--;
    return e;
}

int glue_expr_compile(const char *text, const char *const *keys, const bool *numeric, size_t n,
                      struct glue_expr **out, struct sl_err *err)
{
    struct parser ps = {.text = text, .p = text, .keys = keys, .numeric = numeric, .nkeys = n, .err = err};
    struct glue_expr *e = parse_or(&ps);
    skip_space(&ps);
    if (e && *ps.p) {
        glue_expr_free(e);
        e = fail(&ps, "it does not end where a predicate does");
    }
    if (!e)
        return ps.rc ? ps.rc : sl_errf(err, SL_EINVAL, "Unsupported expression");
    *out = e;
    return 0;
}

/* ---- evaluation ----------------------------------------------------------------------- */

/* SQL's LIKE: % any run, _ any one character (a greedy match that backs
 * up to the last %, linear in practice, never exponential). */
static bool like(const char *s, const char *p)
{
    const char *star = NULL, *retry = NULL;
    while (*s) {
        if (*p == '%') {
            star = ++p;
            retry = s;
        } else if (*p && (*p == '_' || *p == *s)) {
            p++;
            s++;
        } else if (star) {
            p = star;
            s = ++retry;
        } else {
            return false;
        }
    }
    while (*p == '%')
        p++;
    return !*p;
}

/* a compared with b: as numbers for a key of a number type (text that is
 * not a number sorts as text). */
static int compare(const char *a, const char *b, bool numeric)
{
    if (!numeric || !is_number(a) || !is_number(b))
        return strcmp(a, b);
    char *ea, *eb;
    errno = 0;
    long long x = strtoll(a, &ea, 10), y = strtoll(b, &eb, 10);
    if (!*ea && !*eb && !errno)
        return (x > y) - (x < y); /* (whole numbers exactly, past 2^53 too) */
    double dx = strtod(a, NULL), dy = strtod(b, NULL);
    return (dx > dy) - (dx < dy);
}

bool glue_expr_eval(const struct glue_expr *e, const char *const *values)
{
    const char *v = e->kind >= E_CMP ? values[e->key] : NULL;
    switch (e->kind) {
    case E_AND:
        return glue_expr_eval(e->a, values) && glue_expr_eval(e->b, values);
    case E_OR:
        return glue_expr_eval(e->a, values) || glue_expr_eval(e->b, values);
    case E_NOT:
        return !glue_expr_eval(e->a, values);
    case E_NULL:
        return !v;
    case E_NOT_NULL:
        return v != NULL;
    default:
        break;
    }
    if (!v)
        return false;
    switch (e->kind) {
    case E_CMP: {
        int c = compare(v, e->vals[0], e->numeric);
        switch (e->op) {
        case OP_EQ:
            return c == 0;
        case OP_NE:
            return c != 0;
        case OP_LT:
            return c < 0;
        case OP_LE:
            return c <= 0;
        case OP_GT:
            return c > 0;
        case OP_GE:
            return c >= 0;
        }
        return false;
    }
    case E_BETWEEN:
        return compare(v, e->vals[0], e->numeric) >= 0 && compare(v, e->vals[1], e->numeric) <= 0;
    case E_IN:
        for (size_t i = 0; i < e->nvals; i++)
            if (compare(v, e->vals[i], e->numeric) == 0)
                return true;
        return false;
    case E_LIKE:
        return like(v, e->vals[0]);
    default:
        return false;
    }
}
