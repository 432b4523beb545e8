/*
 * The States Language's JSONPath (jsonpath.h): a path is compiled into
 * steps once, then applied to a list of nodes, step by step.
 */
#include "services/states/jsonpath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS_MAX 64
#define ITEMS_MAX 64 /* names or indexes in one union */

enum kind {
    S_NAME,      /* .name ['name'] */
    S_INDEX,     /* [n] */
    S_WILD,      /* .* [*] */
    S_DESC_NAME, /* ..name */
    S_DESC_WILD, /* ..* */
    S_NAMES,     /* ['a','b'] */
    S_INDEXES,   /* [1,2] */
    S_SLICE,     /* [s:e:k] */
    S_FILTER,    /* [?(...)] */
    S_LENGTH,    /* .length() */
};

enum op { OP_EXISTS, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

/* One comparison of a filter. */
struct cond {
    struct sl_jsonpath *rel; /* "@...", definite */
    enum op op;
    json_t *lit;
};

/* A filter: groups joined by ||, each of conditions joined by &&. */
struct filter {
    struct cond *conds;
    size_t n;
    size_t *group_end; /* conds[i] ends its group when group_end[i] */
};

struct step {
    enum kind kind;
    char **names;
    size_t nnames;
    long *idx;
    size_t nidx;
    long start, end, stride;
    bool has_start, has_end;
    struct filter *filter;
};

struct sl_jsonpath {
    char *text;
    bool context, definite;
    struct step *steps;
    size_t n;
};

/* ---- parsing ------------------------------------------------------------------ */

struct parser {
    const char *s;
    size_t pos;
    struct sl_err *err;
    const char *text; /* the whole path, for messages */
};

static int fail(struct parser *ps, const char *what)
{
    return sl_errf(ps->err, SL_EINVAL, "The path '%.200s' is not valid: %s at character %zu",
                   ps->text, what, ps->pos + 1);
}

static void skip_space(struct parser *ps)
{
    while (ps->s[ps->pos] == ' ')
        ps->pos++;
}

static void filter_free(struct filter *f);

static void step_clear(struct step *st)
{
    for (size_t i = 0; i < st->nnames; i++)
        free(st->names[i]);
    free(st->names);
    free(st->idx);
    filter_free(st->filter);
}

void sl_jsonpath_free(struct sl_jsonpath *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        step_clear(&p->steps[i]);
    free(p->steps);
    free(p->text);
    free(p);
}

static void filter_free(struct filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        sl_jsonpath_free(f->conds[i].rel);
        json_decref(f->conds[i].lit);
    }
    free(f->conds);
    free(f->group_end);
    free(f);
}

/* A quoted string at ps (' or "), with backslash escapes: a new string. */
static int quoted(struct parser *ps, char **out)
{
    char q = ps->s[ps->pos++];
    struct sl_buf b;
    sl_buf_init(&b, 0);
    for (;;) {
        char ch = ps->s[ps->pos];
        if (!ch) {
            sl_buf_free(&b);
            return fail(ps, "an unterminated string");
        }
        ps->pos++;
        if (ch == q)
            break;
        if (ch == '\\') {
            ch = ps->s[ps->pos];
            if (!ch) {
                sl_buf_free(&b);
                return fail(ps, "an unterminated string");
            }
            ps->pos++;
        }
        sl_buf_append(&b, &ch, 1);
    }
    *out = strndup(b.data ? b.data : "", b.len);
    sl_buf_free(&b);
    return *out ? 0 : SL_ENOMEM;
}

/* An integer at ps (optionally signed). */
static bool integer(struct parser *ps, long *out)
{
    const char *start = ps->s + ps->pos;
    char *end;
    if (!(*start == '-' || (*start >= '0' && *start <= '9')))
        return false;
    long v = strtol(start, &end, 10);
    if (end == start || (*start == '-' && end == start + 1))
        return false;
    ps->pos += (size_t)(end - start);
    *out = v;
    return true;
}

static int add_name(struct step *st, char *name)
{
    if (st->nnames >= ITEMS_MAX) {
        free(name);
        return SL_EINVAL;
    }
    char **names = realloc(st->names, (st->nnames + 1) * sizeof(*names));
    if (!names) {
        free(name);
        return SL_ENOMEM;
    }
    st->names = names;
    st->names[st->nnames++] = name;
    return 0;
}

static int add_index(struct step *st, long v)
{
    if (st->nidx >= ITEMS_MAX)
        return SL_EINVAL;
    long *idx = realloc(st->idx, (st->nidx + 1) * sizeof(*idx));
    if (!idx)
        return SL_ENOMEM;
    st->idx = idx;
    st->idx[st->nidx++] = v;
    return 0;
}

static int parse_steps(struct parser *ps, struct sl_jsonpath *p, bool relative);

/* A literal of a filter: a number, a quoted string, true, false, null. */
static int literal(struct parser *ps, json_t **out)
{
    const char *s = ps->s + ps->pos;
    if (*s == '\'' || *s == '"') {
        char *str = NULL;
        int rc = quoted(ps, &str);
        if (rc)
            return rc;
        *out = json_string(str);
        free(str);
        return *out ? 0 : fail(ps, "a string that is not UTF-8");
    }
    static const struct {
        const char *word;
        int kind;
    } words[] = {{"true", 1}, {"false", 2}, {"null", 3}};
    for (size_t i = 0; i < SL_ARRAY_LEN(words); i++) {
        size_t n = strlen(words[i].word);
        if (strncmp(s, words[i].word, n) == 0) {
            ps->pos += n;
            *out = words[i].kind == 1   ? json_true()
                   : words[i].kind == 2 ? json_false()
                                        : json_null();
            return 0;
        }
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(*s == '-' || (*s >= '0' && *s <= '9')))
        return fail(ps, "a filter compares with something that is not a literal");
    ps->pos += (size_t)(end - s);
    bool integral = fabs(v) < 9e15 && !memchr(s, '.', (size_t)(end - s)) &&
                    !memchr(s, 'e', (size_t)(end - s)) && !memchr(s, 'E', (size_t)(end - s));
    *out = integral ? json_integer((json_int_t)v) : json_real(v);
    return *out ? 0 : SL_ENOMEM;
}

/* [?( ... )] after "?(": conditions up to the closing parenthesis. */
static int parse_filter(struct parser *ps, struct filter **out)
{
    struct filter *f = calloc(1, sizeof(*f));
    if (!f)
        return SL_ENOMEM;
    int rc = 0;
    for (;;) {
        skip_space(ps);
        if (ps->s[ps->pos] != '@') {
            rc = fail(ps, "a filter condition must start with @");
            break;
        }
        if (f->n >= ITEMS_MAX) {
            rc = fail(ps, "too many filter conditions");
            break;
        }
        struct cond *conds = realloc(f->conds, (f->n + 1) * sizeof(*conds));
        size_t *ends = conds ? realloc(f->group_end, (f->n + 1) * sizeof(*ends)) : NULL;
        if (conds)
            f->conds = conds;
        if (!conds || !ends) {
            rc = SL_ENOMEM;
            break;
        }
        f->group_end = ends;
        struct cond *c = &f->conds[f->n++];
        memset(c, 0, sizeof(*c));
        f->group_end[f->n - 1] = 0;
        c->rel = calloc(1, sizeof(*c->rel));
        if (!c->rel) {
            rc = SL_ENOMEM;
            break;
        }
        ps->pos++;
        if ((rc = parse_steps(ps, c->rel, true)) != 0)
            break;
        if (!c->rel->definite) {
            rc = fail(ps, "a filter may only test a member or an index");
            break;
        }
        skip_space(ps);
        static const struct {
            const char *text;
            enum op op;
        } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
                   {"<", OP_LT},  {">", OP_GT}};
        c->op = OP_EXISTS;
        for (size_t i = 0; i < SL_ARRAY_LEN(ops); i++)
            if (strncmp(ps->s + ps->pos, ops[i].text, strlen(ops[i].text)) == 0) {
                c->op = ops[i].op;
                ps->pos += strlen(ops[i].text);
                break;
            }
        if (c->op != OP_EXISTS) {
            skip_space(ps);
            if ((rc = literal(ps, &c->lit)) != 0)
                break;
            skip_space(ps);
        }
        const char *s = ps->s + ps->pos;
        if (strncmp(s, "&&", 2) == 0) {
            ps->pos += 2;
        } else if (strncmp(s, "||", 2) == 0) {
            f->group_end[f->n - 1] = 1;
            ps->pos += 2;
        } else if (*s == ')') {
            f->group_end[f->n - 1] = 1;
            ps->pos++;
            break;
        } else {
            rc = fail(ps, "a filter condition must be followed by &&, || or )");
            break;
        }
    }
    if (rc) {
        filter_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* The inside of [ ... ] into st. */
static int parse_bracket(struct parser *ps, struct step *st, bool descend)
{
    skip_space(ps);
    char ch = ps->s[ps->pos];
    int rc = 0;
    if (ch == '*') {
        ps->pos++;
        st->kind = descend ? S_DESC_WILD : S_WILD;
    } else if (ch == '\'' || ch == '"') {
        for (;;) {
            char *name = NULL;
            if ((rc = quoted(ps, &name)) != 0)
                return rc;
            if ((rc = add_name(st, name)) != 0)
                return rc == SL_EINVAL ? fail(ps, "too many names") : rc;
            skip_space(ps);
            if (ps->s[ps->pos] != ',')
                break;
            ps->pos++;
            skip_space(ps);
            if (ps->s[ps->pos] != '\'' && ps->s[ps->pos] != '"')
                return fail(ps, "a name was expected");
        }
        st->kind = st->nnames > 1 ? S_NAMES : (descend ? S_DESC_NAME : S_NAME);
        if (descend && st->nnames > 1)
            return fail(ps, "a recursive descent takes one name");
    } else if (ch == '?') {
        ps->pos++;
        if (ps->s[ps->pos] != '(')
            return fail(ps, "a filter must be ?( ... )");
        ps->pos++;
        st->kind = S_FILTER;
        if ((rc = parse_filter(ps, &st->filter)) != 0)
            return rc;
    } else {
        long a = 0;
        bool have_a = integer(ps, &a);
        skip_space(ps);
        if (ps->s[ps->pos] == ':') {
            st->kind = S_SLICE;
            st->start = a;
            st->has_start = have_a;
            st->stride = 1;
            ps->pos++;
            skip_space(ps);
            st->has_end = integer(ps, &st->end);
            skip_space(ps);
            if (ps->s[ps->pos] == ':') {
                ps->pos++;
                skip_space(ps);
                if (integer(ps, &st->stride) && st->stride == 0)
                    return fail(ps, "a slice's step cannot be 0");
            }
        } else if (have_a) {
            if ((rc = add_index(st, a)) != 0)
                return rc;
            while (ps->s[ps->pos] == ',') {
                ps->pos++;
                skip_space(ps);
                long v;
                if (!integer(ps, &v))
                    return fail(ps, "an index was expected");
                if ((rc = add_index(st, v)) != 0)
                    return rc == SL_EINVAL ? fail(ps, "too many indexes") : rc;
                skip_space(ps);
            }
            st->kind = st->nidx > 1 ? S_INDEXES : S_INDEX;
        } else {
            return fail(ps, "a name, an index, * or a filter was expected in brackets");
        }
        if (descend)
            return fail(ps, "a recursive descent takes a name or *");
    }
    skip_space(ps);
    if (ps->s[ps->pos] != ']')
        return fail(ps, "] was expected");
    ps->pos++;
    return 0;
}

/* Whether ch may be in a name written after a dot. */
static bool name_char(char ch)
{
    return ch && ch != '.' && ch != '[' && ch != ']' && ch != '(' && ch != ')' && ch != ' ' &&
           ch != '\'' && ch != '"' && ch != '=' && ch != '!' && ch != '<' && ch != '>' &&
           ch != '&' && ch != '|' && ch != ',' && ch != '*' && ch != '?' && ch != '@' &&
           ch != '$';
}

static int parse_steps(struct parser *ps, struct sl_jsonpath *p, bool relative)
{
    p->definite = true;
    for (;;) {
        char ch = ps->s[ps->pos];
        if (!ch || (relative && !(ch == '.' || ch == '[')))
            return 0;
        if (p->n >= STEPS_MAX)
            return fail(ps, "too many steps");
        struct step *steps = realloc(p->steps, (p->n + 1) * sizeof(*steps));
        if (!steps)
            return SL_ENOMEM;
        p->steps = steps;
        struct step *st = &p->steps[p->n++];
        memset(st, 0, sizeof(*st));
        if (p->n > 1 && p->steps[p->n - 2].kind == S_LENGTH)
            return fail(ps, "length() must be the last step");
        bool descend = false;
        if (ch == '.') {
            ps->pos++;
            if (ps->s[ps->pos] == '.') {
                descend = true;
                ps->pos++;
            }
            ch = ps->s[ps->pos];
            if (ch == '[') {
                ps->pos++;
                int rc = parse_bracket(ps, st, descend);
                if (rc)
                    return rc;
            } else if (ch == '*') {
                ps->pos++;
                st->kind = descend ? S_DESC_WILD : S_WILD;
            } else {
                size_t start = ps->pos;
                while (name_char(ps->s[ps->pos]))
                    ps->pos++;
                if (ps->pos == start)
                    return fail(ps, "a name was expected");
                char *name = strndup(ps->s + start, ps->pos - start);
                if (!name)
                    return SL_ENOMEM;
                if (!descend && strcmp(name, "length") == 0 &&
                    strncmp(ps->s + ps->pos, "()", 2) == 0) {
                    free(name);
                    ps->pos += 2;
                    st->kind = S_LENGTH;
                } else {
                    int rc = add_name(st, name);
                    if (rc)
                        return rc;
                    st->kind = descend ? S_DESC_NAME : S_NAME;
                }
            }
        } else if (ch == '[') {
            ps->pos++;
            int rc = parse_bracket(ps, st, false);
            if (rc)
                return rc;
        } else {
            return fail(ps, ". or [ was expected");
        }
        if (st->kind != S_NAME && st->kind != S_INDEX && st->kind != S_LENGTH)
            p->definite = false;
    }
}

int sl_jsonpath_compile(const char *text, unsigned flags, struct sl_jsonpath **out,
                        struct sl_err *err)
{
    *out = NULL;
    struct sl_jsonpath *p = calloc(1, sizeof(*p));
    if (!p || !(p->text = strdup(text ? text : ""))) {
        free(p);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    struct parser ps = {.s = p->text, .err = err, .text = p->text};
    int rc = 0;
    json_t *utf8 = json_string(p->text); /* (NULL: not UTF-8) */
    if (!utf8) {
        rc = fail(&ps, "the path is not UTF-8 text");
    } else if (p->text[0] != '$') {
        rc = fail(&ps, "a path must start with $");
    } else {
        ps.pos = 1;
        if (p->text[1] == '$') {
            p->context = true;
            ps.pos = 2;
        }
        rc = parse_steps(&ps, p, false);
    }
    json_decref(utf8);
    if (!rc && (flags & SL_JSONPATH_REFERENCE)) {
        for (size_t i = 0; i < p->n && !rc; i++)
            if (p->steps[i].kind != S_NAME && p->steps[i].kind != S_INDEX)
                rc = sl_errf(err, SL_EINVAL,
                             "The path '%.200s' is not a reference path: it may only name "
                             "members and indexes",
                             p->text);
    }
    if (rc) {
        if (rc == SL_ENOMEM)
            sl_errf(err, SL_ENOMEM, "out of memory");
        sl_jsonpath_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

bool sl_jsonpath_is_context(const struct sl_jsonpath *p)
{
    return p->context;
}

bool sl_jsonpath_is_definite(const struct sl_jsonpath *p)
{
    return p->definite;
}

const char *sl_jsonpath_text(const struct sl_jsonpath *p)
{
    return p->text;
}

/* ---- evaluation ----------------------------------------------------------------- */

/* An array index i (negative: from the end) of a in [0, size), or -1. */
static long index_of(long i, size_t size)
{
    long n = (long)size;
    if (i < 0)
        i += n;
    return i >= 0 && i < n ? i : -1;
}

static int push(json_t *list, json_t *v)
{
    return json_array_append(list, v) ? SL_ENOMEM : 0;
}

/* Every node under v (v first, then its children, depth first). */
static int descend(json_t *v, const struct step *st, json_t *out)
{
    int rc = 0;
    if (json_is_object(v)) {
        if (st->kind == S_DESC_NAME) {
            json_t *m = json_object_get(v, st->names[0]);
            if (m)
                rc = push(out, m);
        }
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m)
        {
            if (!rc && st->kind == S_DESC_WILD)
                rc = push(out, m);
            if (!rc)
                rc = descend(m, st, out);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            if (!rc && st->kind == S_DESC_WILD)
                rc = push(out, m);
            if (!rc)
                rc = descend(m, st, out);
        }
    }
    return rc;
}

static int compare(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    return strcmp(json_string_value(a), json_string_value(b));
}

static bool cond_holds(const struct cond *c, json_t *item)
{
    json_t *v = NULL;
    if (sl_jsonpath_get(c->rel, item, &v))
        return false;
    bool ok;
    switch (c->op) {
    case OP_EXISTS:
        ok = true;
        break;
    case OP_EQ:
        ok = json_is_number(v) && json_is_number(c->lit) ? compare(v, c->lit) == 0
                                                          : json_equal(v, c->lit);
        break;
    case OP_NE:
        ok = json_is_number(v) && json_is_number(c->lit) ? compare(v, c->lit) != 0
                                                          : !json_equal(v, c->lit);
        break;
    default: {
        bool comparable = (json_is_number(v) && json_is_number(c->lit)) ||
                          (json_is_string(v) && json_is_string(c->lit));
        int d = comparable ? compare(v, c->lit) : 0;
        ok = comparable && (c->op == OP_LT   ? d < 0
                            : c->op == OP_LE ? d <= 0
                            : c->op == OP_GT ? d > 0
                                             : d >= 0);
    }
    }
    json_decref(v);
    return ok;
}

static bool filter_holds(const struct filter *f, json_t *item)
{
    bool group = true;
    for (size_t i = 0; i < f->n; i++) {
        group = group && cond_holds(&f->conds[i], item);
        if (f->group_end[i]) {
            if (group)
                return true;
            group = true;
        }
    }
    return false;
}

/* The code points of UTF-8 text s. */
static size_t utf8_length(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

static int apply(const struct step *st, json_t *v, json_t *out)
{
    int rc = 0;
    switch (st->kind) {
    case S_NAME:
    case S_NAMES:
        for (size_t i = 0; i < st->nnames && !rc; i++) {
            json_t *m = json_object_get(v, st->names[i]);
            if (m)
                rc = push(out, m);
        }
        break;
    case S_INDEX:
    case S_INDEXES:
        for (size_t i = 0; i < st->nidx && !rc && json_is_array(v); i++) {
            long k = index_of(st->idx[i], json_array_size(v));
            if (k >= 0)
                rc = push(out, json_array_get(v, (size_t)k));
        }
        break;
    case S_WILD: {
        if (json_is_object(v)) {
            const char *k;
            json_t *m;
            json_object_foreach(v, k, m)
            {
                if (!rc)
                    rc = push(out, m);
            }
        } else if (json_is_array(v)) {
            size_t i;
            json_t *m;
            json_array_foreach(v, i, m)
            {
                if (!rc)
                    rc = push(out, m);
            }
        }
        break;
    }
    case S_DESC_NAME:
    case S_DESC_WILD:
        rc = descend(v, st, out);
        break;
    case S_SLICE: {
        if (!json_is_array(v))
            break;
        long n = (long)json_array_size(v);
        long k = st->stride;
        long lo, hi;
        if (k > 0) {
            lo = st->has_start ? (st->start < 0 ? SL_MAX(n + st->start, 0) : SL_MIN(st->start, n))
                               : 0;
            hi = st->has_end ? (st->end < 0 ? SL_MAX(n + st->end, 0) : SL_MIN(st->end, n)) : n;
            for (long i = lo; i < hi && !rc; i += k)
                rc = push(out, json_array_get(v, (size_t)i));
        } else {
            lo = st->has_start ? (st->start < 0 ? n + st->start : SL_MIN(st->start, n - 1))
                               : n - 1;
            hi = st->has_end ? (st->end < 0 ? n + st->end : st->end) : -1;
            for (long i = lo; i > hi && i >= 0 && !rc; i += k)
                rc = push(out, json_array_get(v, (size_t)i));
        }
        break;
    }
    case S_FILTER: {
        if (json_is_array(v)) {
            size_t i;
            json_t *m;
            json_array_foreach(v, i, m)
            {
                if (!rc && filter_holds(st->filter, m))
                    rc = push(out, m);
            }
        } else if (json_is_object(v)) {
            const char *k;
            json_t *m;
            json_object_foreach(v, k, m)
            {
                if (!rc && filter_holds(st->filter, m))
                    rc = push(out, m);
            }
        }
        break;
    }
    case S_LENGTH: {
        json_t *len = NULL;
        if (json_is_array(v))
            len = json_integer((json_int_t)json_array_size(v));
        else if (json_is_object(v))
            len = json_integer((json_int_t)json_object_size(v));
        else if (json_is_string(v))
            len = json_integer(
                (json_int_t)utf8_length(json_string_value(v), json_string_length(v)));
        if (len) {
            rc = push(out, len);
            json_decref(len);
        }
        break;
    }
    }
    return rc;
}

int sl_jsonpath_get(const struct sl_jsonpath *p, json_t *doc, json_t **out)
{
    *out = NULL;
    json_t *list = json_array();
    if (!list || push(list, doc)) {
        json_decref(list);
        return SL_ENOMEM;
    }
    for (size_t i = 0; i < p->n; i++) {
        json_t *next = json_array();
        if (!next) {
            json_decref(list);
            return SL_ENOMEM;
        }
        size_t j;
        json_t *v;
        int rc = 0;
        json_array_foreach(list, j, v)
        {
            if (!rc)
                rc = apply(&p->steps[i], v, next);
        }
        json_decref(list);
        list = next;
        if (rc) {
            json_decref(list);
            return rc;
        }
    }
    if (!p->definite) {
        *out = list;
        return 0;
    }
    if (json_array_size(list) != 1) {
        json_decref(list);
        return SL_ENOTFOUND;
    }
    *out = json_incref(json_array_get(list, 0));
    json_decref(list);
    return 0;
}

int sl_jsonpath_set(const struct sl_jsonpath *p, json_t **doc, json_t *value,
                    struct sl_err *err)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->steps[i].kind != S_NAME && p->steps[i].kind != S_INDEX)
            return sl_errf(err, SL_EINVAL, "'%.200s' is not a reference path", p->text);
    if (p->n == 0) {
        json_decref(*doc);
        *doc = json_incref(value);
        return 0;
    }
    json_t *cur = *doc;
    for (size_t i = 0; i < p->n; i++) {
        const struct step *st = &p->steps[i];
        bool last = i + 1 == p->n;
        if (st->kind == S_NAME) {
            if (!json_is_object(cur))
                return sl_errf(err, SL_EINVAL,
                               "Unable to apply the path '%.200s': the member '%.200s' is "
                               "wanted of a value that is not an object",
                               p->text, st->names[0]);
            if (last)
                return json_object_set(cur, st->names[0], value) ? SL_ENOMEM : 0;
            json_t *next = json_object_get(cur, st->names[0]);
            if (!next) {
                next = json_object();
                if (!next || json_object_set_new(cur, st->names[0], next))
                    return SL_ENOMEM;
            }
            cur = next;
        } else {
            long k = json_is_array(cur) ? index_of(st->idx[0], json_array_size(cur)) : -1;
            if (k < 0)
                return sl_errf(err, SL_EINVAL,
                               "Unable to apply the path '%.200s': the index %ld is not in "
                               "an array there",
                               p->text, st->idx[0]);
            if (last)
                return json_array_set(cur, (size_t)k, value) ? SL_ENOMEM : 0;
            cur = json_array_get(cur, (size_t)k);
        }
    }
    return 0;
}
