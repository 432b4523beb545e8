/*
 * DynamoDB's expression language (internal.h): one lexer and one
 * recursive-descent parser for condition, filter, key-condition,
 * projection and update expressions, into a tree that is then tested on,
 * projected from or applied to an item. Errors are DynamoDB's words:
 * "Invalid <Kind>: Syntax error; token: ..., near: ...", undefined and
 * reserved names, overlapping paths, operands of the wrong type.
 *
 *   condition := or
 *   or        := and { OR and }
 *   and       := not { AND not }
 *   not       := NOT not | '(' condition ')' | function | comparison
 *   comparison:= operand ( comparator operand | BETWEEN operand AND operand
 *                        | IN '(' operand { ',' operand } ')' )
 *   operand   := path | :value | size '(' path ')'
 *   path      := name { '.' name | '[' digits ']' }   (name: word or #alias)
 *   update    := { SET set {',' set} | REMOVE path {',' path}
 *                | ADD path :value {...} | DELETE path :value {...} }
 *   set       := path '=' value ; value := term [ ('+'|'-') term ]
 *   term      := operand | if_not_exists '(' path ',' value ')'
 *                | list_append '(' value ',' value ')'
 */
#include "services/dynamodb/internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEPTH_MAX 100 /* nesting of parentheses and NOT */

static const char *const kind_names[] = {
    [DDB_EXPR_CONDITION] = "ConditionExpression",
    [DDB_EXPR_FILTER] = "FilterExpression",
    [DDB_EXPR_KEY_CONDITION] = "KeyConditionExpression",
    [DDB_EXPR_PROJECTION] = "ProjectionExpression",
    [DDB_EXPR_UPDATE] = "UpdateExpression",
};

/* ---- tokens ------------------------------------------------------------ */

enum tok {
    T_EOF,
    T_WORD,  /* a name or keyword */
    T_ALIAS, /* #name */
    T_VALUE, /* :value */
    T_INT,   /* digits (list indexes) */
    T_LP,
    T_RP,
    T_LB,
    T_RB,
    T_COMMA,
    T_DOT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_PLUS,
    T_MINUS,
    T_BAD, /* a character no token starts with */
};

struct token {
    enum tok t;
    size_t at, len; /* in the text */
};

/* ---- the tree ---------------------------------------------------------- */

enum node_type {
    N_PATH,
    N_VALUE,
    N_SIZE,
    N_CMP, /* op: T_EQ ... T_GE */
    N_BETWEEN,
    N_IN,
    N_AND,
    N_OR,
    N_NOT,
    N_EXISTS,
    N_NOT_EXISTS,
    N_TYPE,
    N_BEGINS,
    N_CONTAINS,
    N_PLUS,
    N_MINUS,
    N_IF_NOT_EXISTS,
    N_LIST_APPEND,
};

struct node {
    enum node_type t;
    enum tok op;
    struct ddb_path path;
    const json_t *value;
    struct node *a, *b, *c;
    struct node **list; /* IN */
    size_t nlist;
};

enum action_kind { A_SET, A_REMOVE, A_ADD, A_DELETE };

struct action {
    enum action_kind kind;
    struct ddb_path path;
    struct node *value; /* SET's value; ADD and DELETE's :value */
};

/* Memory of an expression, freed at once. */
struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct ddb_expr {
    enum ddb_expr_kind kind;
    struct chunk *mem;
    struct node *cond;
    struct ddb_path *paths; /* projection */
    size_t npaths;
    struct action *actions; /* update */
    size_t nactions;
};

static void *alloc(struct ddb_expr *e, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct chunk *c = e->mem;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = e->mem;
        e->mem = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void ddb_expr_free(struct ddb_expr *e)
{
    if (!e)
        return;
    while (e->mem) {
        struct chunk *c = e->mem;
        e->mem = c->next;
        free(c);
    }
    free(e);
}

/* ---- the parser -------------------------------------------------------- */

struct parser {
    struct ddb_expr *e;
    const char *text;
    size_t len;
    struct token tok, prev;
    struct ddb_placeholders *ph;
    int depth;
    char *msg;
    size_t msgn;
    bool failed;
};

static void lex(struct parser *p)
{
    p->prev = p->tok;
    size_t i = p->tok.at + p->tok.len;
    while (i < p->len && isspace((unsigned char)p->text[i]))
        i++;
    struct token t = {.t = T_EOF, .at = i, .len = 0};
    if (i < p->len) {
        unsigned char c = (unsigned char)p->text[i];
        size_t j = i + 1;
        if (isalpha(c) || c == '_') {
            while (j < p->len && (isalnum((unsigned char)p->text[j]) || p->text[j] == '_'))
                j++;
            t.t = T_WORD;
        } else if (c == '#' || c == ':') {
            while (j < p->len && (isalnum((unsigned char)p->text[j]) || p->text[j] == '_'))
                j++;
            t.t = j > i + 1 ? (c == '#' ? T_ALIAS : T_VALUE) : T_BAD;
        } else if (isdigit(c)) {
            while (j < p->len && isdigit((unsigned char)p->text[j]))
                j++;
            t.t = T_INT;
        } else if (c == '<' && j < p->len && (p->text[j] == '=' || p->text[j] == '>')) {
            t.t = p->text[j] == '=' ? T_LE : T_NE;
            j++;
        } else if (c == '>' && j < p->len && p->text[j] == '=') {
            t.t = T_GE;
            j++;
        } else {
            static const char chars[] = "()[],.=<>+-";
            static const enum tok toks[] = {T_LP, T_RP, T_LB,   T_RB, T_COMMA, T_DOT,
                                            T_EQ, T_LT, T_GT, T_PLUS, T_MINUS};
            const char *at = c ? strchr(chars, c) : NULL;
            t.t = at ? toks[at - chars] : T_BAD;
        }
        t.len = j - i;
    }
    p->tok = t;
}

static void fail(struct parser *p, const char *fmt, ...) SL_PRINTF(2, 3);
static void fail(struct parser *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    int n = snprintf(p->msg, p->msgn, "Invalid %s: ", kind_names[p->e->kind]);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < p->msgn)
        vsnprintf(p->msg + n, p->msgn - (size_t)n, fmt, ap);
    va_end(ap);
}

/* DynamoDB's syntax error at the current token: the token, and the text
 * from the one before it to the one after it. */
static void syntax(struct parser *p)
{
    if (p->failed)
        return;
    struct token here = p->tok, before = p->prev;
    struct parser look = *p;
    lex(&look);
    size_t from = before.len ? before.at : here.at;
    size_t to = here.t == T_EOF ? here.at : look.tok.at + look.tok.len;
    if (to < from)
        to = from;
    if (here.t == T_EOF)
        fail(p, "Syntax error; token: \"<EOF>\", near: \"%.*s\"", (int)(to - from),
             p->text + from);
    else
        fail(p, "Syntax error; token: \"%.*s\", near: \"%.*s\"", (int)here.len,
             p->text + here.at, (int)(to - from), p->text + from);
}

static bool word_is(const struct parser *p, const char *w)
{
    return p->tok.t == T_WORD && p->tok.len == strlen(w) &&
           strncasecmp(p->text + p->tok.at, w, p->tok.len) == 0;
}

static bool accept(struct parser *p, enum tok t)
{
    if (p->tok.t != t)
        return false;
    lex(p);
    return true;
}

static bool expect(struct parser *p, enum tok t)
{
    if (accept(p, t))
        return true;
    syntax(p);
    return false;
}

/* The text of the current token, in the expression's memory. */
static char *tok_text(struct parser *p)
{
    char *s = alloc(p->e, p->tok.len + 1);
    if (s)
        memcpy(s, p->text + p->tok.at, p->tok.len);
    else
        fail(p, "out of memory");
    return s;
}

/* A name of a path: an alias (resolved) or a word (not reserved). */
static const char *path_name(struct parser *p)
{
    char *t = tok_text(p);
    if (!t)
        return NULL;
    if (p->tok.t == T_ALIAS) {
        json_t *v = json_object_get(p->ph->names, t);
        if (!json_is_string(v)) {
            fail(p, "An expression attribute name used in the document path is not defined; "
                    "attribute name: %s",
                 t);
            return NULL;
        }
        json_object_set_new(p->ph->used_names, t, json_true());
        lex(p);
        return json_string_value(v);
    }
    if (ddb_reserved(t)) {
        fail(p, "Attribute name is a reserved keyword; reserved keyword: %s", t);
        return NULL;
    }
    lex(p);
    return t;
}

static bool parse_path(struct parser *p, struct ddb_path *out)
{
    struct ddb_path_elem v[64];
    size_t n = 0;
    if (p->tok.t != T_WORD && p->tok.t != T_ALIAS) {
        syntax(p);
        return false;
    }
    for (;;) {
        if (n == sizeof(v) / sizeof(v[0])) {
            fail(p, "The document path has too many nesting levels; nesting levels: %zu", n);
            return false;
        }
        if (n == 0 || p->prev.t == T_DOT) {
            if (p->tok.t != T_WORD && p->tok.t != T_ALIAS) {
                syntax(p);
                return false;
            }
            const char *name = path_name(p);
            if (!name)
                return false;
            v[n++] = (struct ddb_path_elem){.name = name};
        }
        if (accept(p, T_DOT))
            continue;
        if (p->tok.t == T_LB) {
            lex(p);
            if (p->tok.t != T_INT) {
                syntax(p);
                return false;
            }
            char digits[16];
            if (p->tok.len >= sizeof(digits)) {
                fail(p, "List index is not within the allowable range; index: [%.*s]",
                     (int)p->tok.len, p->text + p->tok.at);
                return false;
            }
            memcpy(digits, p->text + p->tok.at, p->tok.len);
            digits[p->tok.len] = '\0';
            v[n++] = (struct ddb_path_elem){.index = (uint32_t)strtoul(digits, NULL, 10)};
            lex(p);
            if (!expect(p, T_RB))
                return false;
            if (n == sizeof(v) / sizeof(v[0]) && (p->tok.t == T_DOT || p->tok.t == T_LB))
                continue;
            if (p->tok.t == T_DOT || p->tok.t == T_LB)
                continue;
        }
        break;
    }
    out->v = alloc(p->e, n * sizeof(*out->v));
    if (!out->v) {
        fail(p, "out of memory");
        return false;
    }
    memcpy(out->v, v, n * sizeof(*v));
    out->n = n;
    return true;
}

static struct node *new_node(struct parser *p, enum node_type t)
{
    struct node *n = alloc(p->e, sizeof(*n));
    if (!n)
        fail(p, "out of memory");
    else
        n->t = t;
    return n;
}

/* :value, resolved. */
static struct node *parse_value(struct parser *p)
{
    char *t = tok_text(p);
    if (!t)
        return NULL;
    json_t *v = json_object_get(p->ph->values, t);
    if (!v) {
        fail(p, "An expression attribute value used in expression is not defined; attribute "
                "value: %s",
             t);
        return NULL;
    }
    json_object_set_new(p->ph->used_values, t, json_true());
    lex(p);
    struct node *n = new_node(p, N_VALUE);
    if (n)
        n->value = v;
    return n;
}

/* A word followed by '(': a function's name. */
static bool at_function(struct parser *p)
{
    if (p->tok.t != T_WORD)
        return false;
    struct parser look = *p;
    lex(&look);
    return look.tok.t == T_LP;
}

static struct node *parse_condition(struct parser *p);
static struct node *parse_set_value(struct parser *p);

static struct node *parse_operand(struct parser *p)
{
    if (p->tok.t == T_VALUE)
        return parse_value(p);
    if (at_function(p)) {
        if (!word_is(p, "size")) {
            char *name = tok_text(p);
            if (name && (strcmp(name, "attribute_exists") == 0 ||
                         strcmp(name, "attribute_not_exists") == 0 ||
                         strcmp(name, "attribute_type") == 0 || strcmp(name, "begins_with") == 0 ||
                         strcmp(name, "contains") == 0 || strcmp(name, "if_not_exists") == 0 ||
                         strcmp(name, "list_append") == 0))
                fail(p, "The function is not allowed to be used this way in an expression; "
                        "function: %s",
                     name);
            else if (name)
                fail(p, "Invalid function name; function: %s", name);
            return NULL;
        }
        lex(p);
        lex(p); /* ( */
        struct node *n = new_node(p, N_SIZE);
        if (!n || !parse_path(p, &n->path) || !expect(p, T_RP))
            return NULL;
        return n;
    }
    struct node *n = new_node(p, N_PATH);
    if (!n || !parse_path(p, &n->path))
        return NULL;
    return n;
}

/* attribute_exists(path) ... contains(operand, operand) as a condition. */
static struct node *parse_function(struct parser *p)
{
    static const struct {
        const char *name;
        enum node_type t;
        int args; /* 1: a path; 2: path or operand, then an operand */
    } fns[] = {
        {"attribute_exists", N_EXISTS, 1},     {"attribute_not_exists", N_NOT_EXISTS, 1},
        {"attribute_type", N_TYPE, 2},         {"begins_with", N_BEGINS, 2},
        {"contains", N_CONTAINS, 2},
    };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        if (p->tok.len != strlen(fns[i].name) ||
            strncmp(p->text + p->tok.at, fns[i].name, p->tok.len) != 0)
            continue;
        lex(p);
        lex(p); /* ( */
        struct node *n = new_node(p, fns[i].t);
        if (!n)
            return NULL;
        if (fns[i].args == 1) {
            if (!parse_path(p, &n->path))
                return NULL;
        } else {
            if (!(n->a = parse_operand(p)) || !expect(p, T_COMMA) || !(n->b = parse_operand(p)))
                return NULL;
        }
        return expect(p, T_RP) ? n : NULL;
    }
    return parse_operand(p); /* (size, or an error) */
}

static struct node *parse_comparison(struct parser *p)
{
    struct node *a = parse_operand(p);
    if (!a)
        return NULL;
    enum tok op = p->tok.t;
    if (op == T_EQ || op == T_NE || op == T_LT || op == T_LE || op == T_GT || op == T_GE) {
        lex(p);
        struct node *n = new_node(p, N_CMP);
        if (!n || !(n->b = parse_operand(p)))
            return NULL;
        n->op = op;
        n->a = a;
        return n;
    }
    if (word_is(p, "BETWEEN")) {
        lex(p);
        struct node *n = new_node(p, N_BETWEEN);
        if (!n || !(n->b = parse_operand(p)))
            return NULL;
        if (!word_is(p, "AND")) {
            syntax(p);
            return NULL;
        }
        lex(p);
        if (!(n->c = parse_operand(p)))
            return NULL;
        n->a = a;
        return n;
    }
    if (word_is(p, "IN")) {
        lex(p);
        if (!expect(p, T_LP))
            return NULL;
        struct node *n = new_node(p, N_IN);
        struct node *items[100];
        size_t k = 0;
        do {
            if (k == sizeof(items) / sizeof(items[0])) {
                fail(p, "The IN operator is provided with too many operands; number of "
                        "operands: %zu",
                     k + 1);
                return NULL;
            }
            if (!(items[k++] = parse_operand(p)))
                return NULL;
        } while (accept(p, T_COMMA));
        if (!n || !expect(p, T_RP))
            return NULL;
        n->list = alloc(p->e, k * sizeof(*n->list));
        if (!n->list) {
            fail(p, "out of memory");
            return NULL;
        }
        memcpy(n->list, items, k * sizeof(*items));
        n->nlist = k;
        n->a = a;
        return n;
    }
    syntax(p);
    return NULL;
}

static struct node *parse_not(struct parser *p)
{
    if (++p->depth > DEPTH_MAX) {
        fail(p, "The expression has redundant parentheses or is nested too deeply");
        return NULL;
    }
    struct node *n = NULL;
    if (word_is(p, "NOT")) {
        lex(p);
        n = new_node(p, N_NOT);
        if (n && !(n->a = parse_not(p)))
            n = NULL;
    } else if (accept(p, T_LP)) {
        n = parse_condition(p);
        if (n && !expect(p, T_RP))
            n = NULL;
    } else if (at_function(p) && !word_is(p, "size")) {
        n = parse_function(p);
    } else {
        n = parse_comparison(p);
    }
    p->depth--;
    return n;
}

/* sub { word sub }, left to right, into nodes of type t. */
static struct node *parse_chain(struct parser *p, const char *word, enum node_type t,
                                struct node *(*sub)(struct parser *p))
{
    struct node *a = sub(p);
    while (a && word_is(p, word)) {
        lex(p);
        struct node *n = new_node(p, t);
        if (!n || !(n->b = sub(p)))
            return NULL;
        n->a = a;
        a = n;
    }
    return a;
}

static struct node *parse_and(struct parser *p)
{
    return parse_chain(p, "AND", N_AND, parse_not);
}

static struct node *parse_condition(struct parser *p)
{
    return parse_chain(p, "OR", N_OR, parse_and);
}

/* ---- update expressions ------------------------------------------------ */

static struct node *parse_term(struct parser *p)
{
    if (at_function(p) && (word_is(p, "if_not_exists") || word_is(p, "list_append"))) {
        bool ine = word_is(p, "if_not_exists");
        if (p->tok.len != strlen(ine ? "if_not_exists" : "list_append") ||
            strncmp(p->text + p->tok.at, ine ? "if_not_exists" : "list_append", p->tok.len)) {
            char *name = tok_text(p);
            fail(p, "Invalid function name; function: %s", name ? name : "");
            return NULL;
        }
        lex(p);
        lex(p); /* ( */
        struct node *n = new_node(p, ine ? N_IF_NOT_EXISTS : N_LIST_APPEND);
        if (!n)
            return NULL;
        if (ine) {
            if (!parse_path(p, &n->path))
                return NULL;
        } else if (!(n->a = parse_set_value(p))) {
            return NULL;
        }
        if (!expect(p, T_COMMA) || !(n->b = parse_set_value(p)) || !expect(p, T_RP))
            return NULL;
        return n;
    }
    if (at_function(p)) {
        char *name = tok_text(p);
        if (name && (strcmp(name, "size") == 0 || strcmp(name, "attribute_exists") == 0 ||
                     strcmp(name, "attribute_not_exists") == 0 ||
                     strcmp(name, "attribute_type") == 0 || strcmp(name, "begins_with") == 0 ||
                     strcmp(name, "contains") == 0))
            fail(p, "The function is not allowed in an update expression; function: %s", name);
        else if (name)
            fail(p, "Invalid function name; function: %s", name);
        return NULL;
    }
    if (p->tok.t == T_VALUE)
        return parse_value(p);
    struct node *n = new_node(p, N_PATH);
    if (!n || !parse_path(p, &n->path))
        return NULL;
    return n;
}

static struct node *parse_set_value(struct parser *p)
{
    struct node *a = parse_term(p);
    if (!a)
        return NULL;
    if (p->tok.t == T_PLUS || p->tok.t == T_MINUS) {
        struct node *n = new_node(p, p->tok.t == T_PLUS ? N_PLUS : N_MINUS);
        lex(p);
        if (!n || !(n->b = parse_term(p)))
            return NULL;
        n->a = a;
        return n;
    }
    return a;
}

/* Whether one of two paths is the start of the other (or both the same). */
static bool overlap(const struct ddb_path *a, const struct ddb_path *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        const struct ddb_path_elem *x = &a->v[i], *y = &b->v[i];
        if (!x->name != !y->name)
            return false;
        if (x->name ? strcmp(x->name, y->name) != 0 : x->index != y->index)
            return false;
    }
    return true;
}

static void path_text(const struct ddb_path *p, char *out, size_t n)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < p->n && at < n; i++) {
        int w = p->v[i].name ? snprintf(out + at, n - at, "%s%s", i ? ", " : "", p->v[i].name)
                             : snprintf(out + at, n - at, "%s[%u]", i ? ", " : "", p->v[i].index);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

static bool check_overlaps(struct parser *p, const struct ddb_path *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (overlap(&v[i], &v[j])) {
                char a[256], b[256];
                path_text(&v[i], a, sizeof(a));
                path_text(&v[j], b, sizeof(b));
                fail(p, "Two document paths overlap with each other; must remove or rewrite one "
                        "of these paths; path one: [%s], path two: [%s]",
                     a, b);
                return false;
            }
    return true;
}

static bool parse_update(struct parser *p)
{
    static const char *const clauses[] = {"SET", "REMOVE", "ADD", "DELETE"};
    bool seen[4] = {false};
    struct action v[256];
    size_t n = 0;
    if (p->tok.t == T_EOF) {
        syntax(p);
        return false;
    }
    while (p->tok.t != T_EOF) {
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (word_is(p, clauses[i]))
                k = i;
        if (k < 0) {
            syntax(p);
            return false;
        }
        if (seen[k]) {
            fail(p, "The \"%s\" section can only be used once in an update expression;",
                 clauses[k]);
            return false;
        }
        seen[k] = true;
        lex(p);
        do {
            if (n == sizeof(v) / sizeof(v[0])) {
                fail(p, "The expression has too many actions");
                return false;
            }
            struct action *a = &v[n++];
            *a = (struct action){.kind = (enum action_kind)k};
            if (!parse_path(p, &a->path))
                return false;
            if (k == A_SET) {
                if (!expect(p, T_EQ) || !(a->value = parse_set_value(p)))
                    return false;
            } else if (k == A_ADD || k == A_DELETE) {
                if (p->tok.t != T_VALUE) {
                    syntax(p);
                    return false;
                }
                if (!(a->value = parse_value(p)))
                    return false;
            }
        } while (accept(p, T_COMMA));
    }
    struct ddb_path paths[256];
    for (size_t i = 0; i < n; i++)
        paths[i] = v[i].path;
    if (!check_overlaps(p, paths, n))
        return false;
    p->e->actions = alloc(p->e, n * sizeof(*v));
    if (!p->e->actions) {
        fail(p, "out of memory");
        return false;
    }
    memcpy(p->e->actions, v, n * sizeof(*v));
    p->e->nactions = n;
    return true;
}

static bool parse_projection(struct parser *p)
{
    struct ddb_path v[256];
    size_t n = 0;
    do {
        if (n == sizeof(v) / sizeof(v[0])) {
            fail(p, "The expression has too many paths");
            return false;
        }
        if (!parse_path(p, &v[n++]))
            return false;
    } while (accept(p, T_COMMA));
    if (p->tok.t != T_EOF) {
        syntax(p);
        return false;
    }
    if (!check_overlaps(p, v, n))
        return false;
    p->e->paths = alloc(p->e, n * sizeof(*v));
    if (!p->e->paths) {
        fail(p, "out of memory");
        return false;
    }
    memcpy(p->e->paths, v, n * sizeof(*v));
    p->e->npaths = n;
    return true;
}

int ddb_expr_parse(enum ddb_expr_kind kind, const char *text, struct ddb_placeholders *ph,
                   struct ddb_expr **out, char *msg, size_t msgn)
{
    *out = NULL;
    struct ddb_expr *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(msg, msgn, "out of memory");
        return SL_ENOMEM;
    }
    e->kind = kind;
    struct parser p = {.e = e, .text = text ? text : "", .ph = ph, .msg = msg, .msgn = msgn};
    p.len = strlen(p.text);
    if (!p.len) {
        fail(&p, "The expression can not be empty;");
        ddb_expr_free(e);
        return SL_EINVAL;
    }
    lex(&p);
    if (kind == DDB_EXPR_UPDATE) {
        parse_update(&p);
    } else if (kind == DDB_EXPR_PROJECTION) {
        parse_projection(&p);
    } else {
        e->cond = parse_condition(&p);
        if (e->cond && p.tok.t != T_EOF)
            syntax(&p);
    }
    if (p.failed) {
        ddb_expr_free(e);
        return SL_EINVAL;
    }
    *out = e;
    return 0;
}

/* "{a, b}" of the keys of object not in used. */
static bool unused(const json_t *object, const json_t *used, char *out, size_t n)
{
    size_t at = 0;
    bool any = false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)object, k, v)
    {
        if (json_object_get(used, k))
            continue;
        int w = snprintf(out + at, n - at, "%s%s", any ? ", " : "{", k);
        if (w > 0 && (size_t)w < n - at)
            at += (size_t)w;
        any = true;
    }
    if (any && at + 1 < n) {
        out[at++] = '}';
        out[at] = '\0';
    }
    return any;
}

int ddb_placeholders_check(const struct ddb_placeholders *ph, char *msg, size_t msgn)
{
    char keys[512];
    if (ph->values && unused(ph->values, ph->used_values, keys, sizeof(keys))) {
        snprintf(msg, msgn, "Value provided in ExpressionAttributeValues unused in expressions: "
                            "keys: %s",
                 keys);
        return SL_EINVAL;
    }
    if (ph->names && unused(ph->names, ph->used_names, keys, sizeof(keys))) {
        snprintf(msg, msgn, "Value provided in ExpressionAttributeNames unused in expressions: "
                            "keys: %s",
                 keys);
        return SL_EINVAL;
    }
    return 0;
}

/* ---- evaluation -------------------------------------------------------- */

/* The value at path in item, or NULL. */
static const json_t *resolve(const json_t *item, const struct ddb_path *path)
{
    const json_t *cur = item ? json_object_get(item, path->v[0].name) : NULL;
    for (size_t i = 1; cur && i < path->n; i++) {
        const json_t *inner = NULL;
        enum ddb_type t = ddb_type_of(cur, &inner);
        if (path->v[i].name)
            cur = t == DDB_T_M ? json_object_get(inner, path->v[i].name) : NULL;
        else
            cur = t == DDB_T_L ? json_array_get(inner, path->v[i].index) : NULL;
    }
    return cur;
}

struct eval {
    const json_t *item;
    char *msg;
    size_t msgn;
    enum ddb_expr_kind kind;
    bool failed;
};

static json_t *number_value(size_t n)
{
    char text[32];
    snprintf(text, sizeof(text), "%zu", n);
    return json_pack("{s:s}", "N", text);
}

/* The UTF-8 characters of s. */
static size_t chars_of(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* An operand's value (a new reference), or NULL (a path that is not there,
 * or size of what has none). */
static json_t *operand(struct eval *ev, const struct node *n)
{
    if (n->t == N_VALUE)
        return json_incref((json_t *)n->value);
    const json_t *v = resolve(ev->item, &n->path);
    if (n->t == N_PATH)
        return v ? json_incref((json_t *)v) : NULL;
    /* size() */
    const json_t *inner = NULL;
    switch (ddb_type_of(v, &inner)) {
    case DDB_T_S:
        return number_value(chars_of(json_string_value(inner), json_string_length(inner)));
    case DDB_T_B: {
        size_t len = json_string_length(inner), out = 0;
        sl_base64_decode(json_string_value(inner), len, NULL, 0, &out);
        return number_value(out);
    }
    case DDB_T_SS:
    case DDB_T_NS:
    case DDB_T_BS:
    case DDB_T_L:
        return number_value(json_array_size(inner));
    case DDB_T_M:
        return number_value(json_object_size(inner));
    default:
        return NULL;
    }
}

static bool test(struct eval *ev, const struct node *n);

static bool compare(enum tok op, const json_t *a, const json_t *b)
{
    if (!a || !b)
        return op == T_NE && (a || b); /* (a missing attribute differs from a value) */
    if (op == T_EQ)
        return ddb_value_equal(a, b);
    if (op == T_NE)
        return !ddb_value_equal(a, b);
    int c = ddb_value_cmp(a, b);
    if (c == 2)
        return false;
    return op == T_LT ? c < 0 : op == T_LE ? c <= 0 : op == T_GT ? c > 0 : c >= 0;
}

static bool test_between(struct eval *ev, const struct node *n)
{
    json_t *v = operand(ev, n->a), *lo = operand(ev, n->b), *hi = operand(ev, n->c);
    bool r = false;
    if (lo && hi && ddb_value_cmp(lo, hi) == 1) {
        struct sl_buf a, b;
        sl_buf_init(&a, 0);
        sl_buf_init(&b, 0);
        ddb_value_text(lo, &a);
        ddb_value_text(hi, &b);
        snprintf(ev->msg, ev->msgn,
                 "Invalid %s: The BETWEEN operator requires upper bound to be greater than or "
                 "equal to lower bound; lower bound operand: AttributeValue: %s, upper bound "
                 "operand: AttributeValue: %s",
                 kind_names[ev->kind], a.data ? a.data : "", b.data ? b.data : "");
        ev->failed = true;
        sl_buf_free(&a);
        sl_buf_free(&b);
    } else if (v && lo && hi) {
        int x = ddb_value_cmp(v, lo), y = ddb_value_cmp(v, hi);
        r = x != 2 && y != 2 && x >= 0 && y <= 0;
    }
    json_decref(v);
    json_decref(lo);
    json_decref(hi);
    return r;
}

static bool test_begins(const json_t *a, const json_t *b)
{
    const json_t *x = NULL, *y = NULL;
    enum ddb_type t = ddb_type_of(a, &x);
    if (!a || !b || t != ddb_type_of(b, &y) || (t != DDB_T_S && t != DDB_T_B))
        return false;
    if (t == DDB_T_S)
        return json_string_length(y) <= json_string_length(x) &&
               memcmp(json_string_value(x), json_string_value(y), json_string_length(y)) == 0;
    size_t nx = 0, ny = 0, lx = json_string_length(x), ly = json_string_length(y);
    uint8_t *bx = malloc(lx / 4 * 3 + 3), *by = malloc(ly / 4 * 3 + 3);
    bool r = bx && by && !sl_base64_decode(json_string_value(x), lx, bx, lx / 4 * 3 + 3, &nx) &&
             !sl_base64_decode(json_string_value(y), ly, by, ly / 4 * 3 + 3, &ny) && ny <= nx &&
             memcmp(bx, by, ny) == 0;
    free(bx);
    free(by);
    return r;
}

static bool test_contains(const json_t *a, const json_t *b)
{
    const json_t *x = NULL, *y = NULL;
    if (!a || !b)
        return false;
    enum ddb_type t = ddb_type_of(a, &x), u = ddb_type_of(b, &y);
    if (t == DDB_T_S && u == DDB_T_S) {
        size_t lx = json_string_length(x), ly = json_string_length(y);
        if (ly > lx)
            return false;
        for (size_t i = 0; i + ly <= lx; i++)
            if (memcmp(json_string_value(x) + i, json_string_value(y), ly) == 0)
                return true;
        return false;
    }
    if (t == DDB_T_SS || t == DDB_T_NS || t == DDB_T_BS)
        return ddb_set_has(a, b);
    if (t == DDB_T_L) {
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e)
        {
            if (ddb_value_equal(e, b))
                return true;
        }
    }
    return false;
}

static bool test(struct eval *ev, const struct node *n)
{
    if (ev->failed)
        return false;
    switch (n->t) {
    case N_AND:
        return test(ev, n->a) && test(ev, n->b);
    case N_OR:
        return test(ev, n->a) || test(ev, n->b);
    case N_NOT:
        return !test(ev, n->a);
    case N_EXISTS:
        return resolve(ev->item, &n->path) != NULL;
    case N_NOT_EXISTS:
        return resolve(ev->item, &n->path) == NULL;
    case N_BETWEEN:
        return test_between(ev, n);
    default:
        break;
    }
    json_t *a = operand(ev, n->a);
    bool r = false;
    if (n->t == N_CMP) {
        json_t *b = operand(ev, n->b);
        r = compare(n->op, a, b);
        json_decref(b);
    } else if (n->t == N_IN) {
        for (size_t i = 0; a && i < n->nlist && !r; i++) {
            json_t *b = operand(ev, n->list[i]);
            r = b && ddb_value_equal(a, b);
            json_decref(b);
        }
    } else if (n->t == N_TYPE) {
        json_t *b = operand(ev, n->b);
        const json_t *name = NULL;
        if (ddb_type_of(b, &name) == DDB_T_S) {
            enum ddb_type want = ddb_type_by_name(json_string_value(name));
            if (want == DDB_T_NONE) {
                snprintf(ev->msg, ev->msgn,
                         "Invalid %s: Invalid type provided as the second operand of "
                         "attribute_type; type: %s",
                         kind_names[ev->kind], json_string_value(name));
                ev->failed = true;
            } else {
                r = a && ddb_type_of(a, NULL) == want;
            }
        }
        json_decref(b);
    } else if (n->t == N_BEGINS || n->t == N_CONTAINS) {
        json_t *b = operand(ev, n->b);
        r = n->t == N_BEGINS ? test_begins(a, b) : test_contains(a, b);
        json_decref(b);
    }
    json_decref(a);
    return r;
}

int ddb_expr_test(const struct ddb_expr *e, const json_t *item, bool *result, char *msg,
                  size_t msgn)
{
    struct eval ev = {.item = item, .msg = msg, .msgn = msgn, .kind = e->kind};
    *result = e->cond ? test(&ev, e->cond) : true;
    return ev.failed ? SL_EINVAL : 0;
}

/* ---- projection -------------------------------------------------------- */

/* Copies the value at path[from..] of src into dst (an object of values
 * or, below the top, an M or L value being built). */
static void project_into(json_t *dst, const json_t *src, const struct ddb_path *path, size_t i)
{
    const struct ddb_path_elem *el = &path->v[i];
    if (!el->name)
        return; /* (a top-level index: never) */
    const json_t *v = json_object_get(src, el->name);
    if (!v)
        return;
    if (i + 1 == path->n) {
        json_object_set(dst, el->name, (json_t *)v);
        return;
    }
    const json_t *inner = NULL;
    enum ddb_type t = ddb_type_of(v, &inner);
    const struct ddb_path_elem *next = &path->v[i + 1];
    if (t == DDB_T_M && next->name) {
        json_t *have = json_object_get(dst, el->name);
        json_t *m = have ? json_object_get(have, "M") : NULL;
        if (!m) {
            m = json_object();
            json_object_set_new(dst, el->name, json_pack("{s:o}", "M", m));
        }
        project_into(m, inner, path, i + 1);
    } else if (t == DDB_T_L && !next->name) {
        const json_t *e = json_array_get(inner, next->index);
        if (!e)
            return;
        json_t *have = json_object_get(dst, el->name);
        json_t *l = have ? json_object_get(have, "L") : NULL;
        if (!l) {
            l = json_array();
            json_object_set_new(dst, el->name, json_pack("{s:o}", "L", l));
        }
        if (i + 2 == path->n) {
            json_array_append(l, (json_t *)e);
        } else {
            /* Deeper into the element: project it on its own. */
            json_t *wrap = json_pack("{s:O}", "x", e), *part = json_object();
            struct ddb_path_elem rest[64];
            size_t n = path->n - (i + 1);
            if (n <= 64) {
                rest[0] = (struct ddb_path_elem){.name = "x"};
                memcpy(rest + 1, path->v + i + 2, (n - 1) * sizeof(*rest));
                struct ddb_path sub = {rest, n};
                project_into(part, wrap, &sub, 0);
                json_t *x = json_object_get(part, "x");
                if (x)
                    json_array_append(l, x);
            }
            json_decref(wrap);
            json_decref(part);
        }
    }
}

json_t *ddb_expr_project(const struct ddb_expr *e, const json_t *item)
{
    json_t *out = json_object();
    for (size_t i = 0; out && item && i < e->npaths; i++)
        project_into(out, item, &e->paths[i], 0);
    return out;
}

/* ---- update ------------------------------------------------------------ */

struct upd {
    struct eval ev;
    const json_t *old; /* the item before */
};

static int upd_fail(struct upd *u, const char *fmt, ...) SL_PRINTF(2, 3);
static int upd_fail(struct upd *u, const char *fmt, ...)
{
    if (!u->ev.failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(u->ev.msg, u->ev.msgn, fmt, ap);
        va_end(ap);
        u->ev.failed = true;
    }
    return SL_EINVAL;
}

/* A SET value, against the item before the update (a new reference). */
static json_t *set_value(struct upd *u, const struct node *n)
{
    if (u->ev.failed)
        return NULL;
    switch (n->t) {
    case N_VALUE:
        return json_incref((json_t *)n->value);
    case N_PATH: {
        const json_t *v = resolve(u->old, &n->path);
        if (!v)
            upd_fail(u, "The provided expression refers to an attribute that does not exist in "
                        "the item");
        return v ? json_incref((json_t *)v) : NULL;
    }
    case N_IF_NOT_EXISTS: {
        const json_t *v = resolve(u->old, &n->path);
        return v ? json_incref((json_t *)v) : set_value(u, n->b);
    }
    case N_LIST_APPEND: {
        json_t *a = set_value(u, n->a), *b = set_value(u, n->b);
        const json_t *x = NULL, *y = NULL;
        json_t *out = NULL;
        if (a && b && ddb_type_of(a, &x) == DDB_T_L && ddb_type_of(b, &y) == DDB_T_L) {
            json_t *l = json_deep_copy(x);
            json_array_extend(l, (json_t *)y);
            out = json_pack("{s:o}", "L", l);
        } else if (a && b) {
            upd_fail(u, "Invalid UpdateExpression: Incorrect operand type for operator or "
                        "function; operator or function: list_append, operand type: %s",
                     ddb_type_name(ddb_type_of(ddb_type_of(a, NULL) == DDB_T_L ? b : a, NULL)));
        }
        json_decref(a);
        json_decref(b);
        return out;
    }
    case N_PLUS:
    case N_MINUS: {
        json_t *a = set_value(u, n->a), *b = set_value(u, n->b);
        const json_t *x = NULL, *y = NULL;
        json_t *out = NULL;
        if (a && b && ddb_type_of(a, &x) == DDB_T_NUM && ddb_type_of(b, &y) == DDB_T_NUM) {
            struct ddb_num p, q, r;
            enum ddb_num_error err =
                ddb_num_parse(json_string_value(x), json_string_length(x), &p);
            if (!err)
                err = ddb_num_parse(json_string_value(y), json_string_length(y), &q);
            if (!err)
                err = n->t == N_PLUS ? ddb_num_add(&p, &q, &r) : ddb_num_sub(&p, &q, &r);
            if (err) {
                upd_fail(u, "%s", ddb_num_message(err));
            } else {
                char text[DDB_NUM_TEXT_MAX];
                ddb_num_text(&r, text);
                out = json_pack("{s:s}", "N", text);
            }
        } else if (a && b) {
            upd_fail(u, "Invalid UpdateExpression: Incorrect operand type for operator or "
                        "function; operator: %s, operand type: %s",
                     n->t == N_PLUS ? "+" : "-",
                     ddb_type_name(ddb_type_of(ddb_type_of(a, NULL) == DDB_T_NUM ? b : a, NULL)));
        }
        json_decref(a);
        json_decref(b);
        return out;
    }
    default:
        return NULL;
    }
}

/* The container that holds path's last element in item, created for a
 * top-level name: its object (for a name) or array (for an index), or
 * NULL when the path's parents are not there or not of the right type. */
static json_t *parent_of(json_t *item, const struct ddb_path *path)
{
    json_t *cur = item;
    for (size_t i = 0; i + 1 < path->n; i++) {
        json_t *v = path->v[i].name ? json_object_get(cur, path->v[i].name)
                                    : json_array_get(cur, path->v[i].index);
        const json_t *inner = NULL;
        enum ddb_type t = ddb_type_of(v, &inner);
        const struct ddb_path_elem *next = &path->v[i + 1];
        if ((next->name && t != DDB_T_M) || (!next->name && t != DDB_T_L))
            return NULL;
        cur = (json_t *)inner;
    }
    return cur;
}

static int put_at(struct upd *u, json_t *item, const struct ddb_path *path, json_t *v)
{
    json_t *parent = parent_of(item, path);
    const struct ddb_path_elem *last = &path->v[path->n - 1];
    if (!parent)
        return upd_fail(u, "The document path provided in the update expression is invalid for "
                           "update");
    if (last->name)
        json_object_set(parent, last->name, v);
    else if (last->index < json_array_size(parent))
        json_array_set(parent, last->index, v);
    else
        json_array_append(parent, v); /* (past the end: appended) */
    return 0;
}

/* The set of type t's values of a, with b's added or taken away. */
static json_t *set_merge(const json_t *a, const json_t *b, bool add)
{
    const json_t *x = NULL, *y = NULL;
    enum ddb_type t = ddb_type_of(a, &x);
    ddb_type_of(b, &y);
    enum ddb_type et = t == DDB_T_SS ? DDB_T_S : t == DDB_T_NS ? DDB_T_NUM : DDB_T_B;
    json_t *out = add ? json_deep_copy(x) : json_array();
    size_t i;
    json_t *e;
    const char *tn = ddb_type_name(et);
    if (add) {
        json_array_foreach(y, i, e)
        {
            json_t *probe = json_pack("{s:O}", tn, e);
            if (!ddb_set_has(a, probe))
                json_array_append(out, e);
            json_decref(probe);
        }
    } else {
        json_array_foreach(x, i, e)
        {
            json_t *probe = json_pack("{s:O}", tn, e);
            if (!ddb_set_has(b, probe))
                json_array_append(out, e);
            json_decref(probe);
        }
    }
    json_t *v = json_array_size(out) ? json_pack("{s:O}", ddb_type_name(t), out) : NULL;
    json_decref(out);
    return v;
}

static int add_action(struct upd *u, json_t *item, const struct action *a)
{
    const json_t *old = resolve(item, &a->path);
    const json_t *v = a->value->value;
    enum ddb_type t = ddb_type_of(v, NULL);
    if (t != DDB_T_NUM && t != DDB_T_SS && t != DDB_T_NS && t != DDB_T_BS)
        return upd_fail(u, "Invalid UpdateExpression: Incorrect operand type for operator or "
                           "function; operator: ADD, operand type: %s",
                        ddb_type_name(t));
    if (!old)
        return put_at(u, item, &a->path, (json_t *)v);
    if (ddb_type_of(old, NULL) != t)
        return upd_fail(u, "An operand in the update expression has an incorrect data type");
    json_t *merged = NULL;
    if (t == DDB_T_NUM) {
        struct node sum = {.t = N_PLUS}, x = {.t = N_VALUE, .value = old}, y = {.t = N_VALUE,
                                                                               .value = v};
        sum.a = &x;
        sum.b = &y;
        merged = set_value(u, &sum);
    } else {
        merged = set_merge(old, v, true);
    }
    int rc = merged ? put_at(u, item, &a->path, merged) : SL_EINVAL;
    json_decref(merged);
    return rc;
}

static int remove_at(json_t *item, const struct ddb_path *path)
{
    json_t *parent = parent_of(item, path);
    const struct ddb_path_elem *last = &path->v[path->n - 1];
    if (!parent)
        return 0; /* (nothing there to remove) */
    if (last->name)
        json_object_del(parent, last->name);
    else
        json_array_remove(parent, last->index);
    return 0;
}

static int delete_action(struct upd *u, json_t *item, const struct action *a)
{
    const json_t *old = resolve(item, &a->path);
    const json_t *v = a->value->value;
    enum ddb_type t = ddb_type_of(v, NULL);
    if (t != DDB_T_SS && t != DDB_T_NS && t != DDB_T_BS)
        return upd_fail(u, "Invalid UpdateExpression: Incorrect operand type for operator or "
                           "function; operator: DELETE, operand type: %s",
                        ddb_type_name(t));
    if (!old)
        return 0;
    if (ddb_type_of(old, NULL) != t)
        return upd_fail(u, "An operand in the update expression has an incorrect data type");
    json_t *left = set_merge(old, v, false);
    int rc = left ? put_at(u, item, &a->path, left) : remove_at(item, &a->path);
    json_decref(left);
    return rc;
}

/* REMOVEs of one list's elements go from the highest index down, so the
 * indexes stay the item's before the update. */
static int cmp_remove(const void *x, const void *y)
{
    const struct action *a = *(const struct action *const *)x, *b = *(const struct action *const *)y;
    const struct ddb_path_elem *la = &a->path.v[a->path.n - 1], *lb = &b->path.v[b->path.n - 1];
    if (!la->name && !lb->name)
        return la->index < lb->index ? 1 : la->index > lb->index ? -1 : 0;
    return 0;
}

int ddb_expr_update(const struct ddb_expr *e, json_t *item, json_t **paths, char *msg,
                    size_t msgn)
{
    struct upd u = {.ev = {.item = item, .msg = msg, .msgn = msgn, .kind = e->kind}};
    json_t *old = json_deep_copy(item);
    u.old = old;
    json_t **values = calloc(e->nactions ? e->nactions : 1, sizeof(*values));
    const struct action **removes = calloc(e->nactions ? e->nactions : 1, sizeof(*removes));
    size_t nremoves = 0;
    int rc = old && values && removes ? 0 : SL_ENOMEM;
    /* Every SET's value from the item as it was. */
    for (size_t i = 0; !rc && i < e->nactions; i++)
        if (e->actions[i].kind == A_SET && !(values[i] = set_value(&u, e->actions[i].value)))
            rc = SL_EINVAL;
    for (size_t i = 0; !rc && i < e->nactions; i++) {
        const struct action *a = &e->actions[i];
        if (a->kind == A_SET)
            rc = put_at(&u, item, &a->path, values[i]);
        else if (a->kind == A_REMOVE)
            removes[nremoves++] = a;
        else if (a->kind == A_ADD)
            rc = add_action(&u, item, a);
        else
            rc = delete_action(&u, item, a);
    }
    if (!rc) {
        qsort(removes, nremoves, sizeof(*removes), cmp_remove);
        for (size_t i = 0; i < nremoves; i++)
            remove_at(item, &removes[i]->path);
    }
    if (!rc && paths)
        *paths = ddb_expr_update_targets(e);
    for (size_t i = 0; values && i < e->nactions; i++)
        json_decref(values[i]);
    free(values);
    free(removes);
    json_decref(old);
    if (rc == SL_ENOMEM)
        snprintf(msg, msgn, "out of memory");
    return rc;
}

json_t *ddb_expr_update_targets(const struct ddb_expr *e)
{
    json_t *out = json_array();
    for (size_t i = 0; out && i < e->nactions; i++)
        json_array_append_new(out, json_string(e->actions[i].path.v[0].name));
    return out;
}

/* ---- key conditions ---------------------------------------------------- */

static bool names_attr(const struct node *n, const struct ddb_key_attr *a)
{
    return n && n->t == N_PATH && n->path.n == 1 && n->path.v[0].name && a && a->name &&
           strcmp(n->path.v[0].name, a->name) == 0;
}

static int kc_fail(char *msg, size_t n, const char *fmt, ...) SL_PRINTF(3, 4);
static int kc_fail(char *msg, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return SL_EINVAL;
}

/* One comparison of the key condition, on the hash or the range key. */
static int kc_part(const struct node *c, const struct ddb_key_attr *hash,
                   const struct ddb_key_attr *range, struct ddb_key_cond *out, char *msg,
                   size_t n)
{
    static const enum ddb_kc_op ops[] = {[T_EQ] = DDB_KC_EQ, [T_LT] = DDB_KC_LT,
                                         [T_LE] = DDB_KC_LE, [T_GT] = DDB_KC_GT,
                                         [T_GE] = DDB_KC_GE};
    const struct node *attr = NULL, *v1 = NULL, *v2 = NULL;
    enum ddb_kc_op op = DDB_KC_NONE;
    if (c->t == N_CMP && c->op != T_NE) {
        bool flip = c->b->t == N_PATH && c->a->t == N_VALUE;
        attr = flip ? c->b : c->a;
        v1 = flip ? c->a : c->b;
        op = ops[c->op];
        if (flip && op != DDB_KC_EQ)
            op = op == DDB_KC_LT ? DDB_KC_GT : op == DDB_KC_LE ? DDB_KC_GE
                 : op == DDB_KC_GT ? DDB_KC_LT : DDB_KC_LE;
    } else if (c->t == N_BETWEEN) {
        attr = c->a;
        v1 = c->b;
        v2 = c->c;
        op = DDB_KC_BETWEEN;
    } else if (c->t == N_BEGINS) {
        attr = c->a;
        v1 = c->b;
        op = DDB_KC_BEGINS;
    } else {
        return kc_fail(msg, n, "Query key condition not supported");
    }
    if (!attr || attr->t != N_PATH || !v1 || v1->t != N_VALUE || (v2 && v2->t != N_VALUE))
        return kc_fail(msg, n, "Query key condition not supported");
    if (attr->path.n != 1 || !attr->path.v[0].name)
        return kc_fail(msg, n, "Query key condition not supported");
    bool is_hash = names_attr(attr, hash), is_range = names_attr(attr, range);
    if (!is_hash && !is_range)
        return kc_fail(msg, n, "Query condition missed key schema element: %s",
                       out->hash ? (range && range->name ? range->name : hash->name) : hash->name);
    const struct ddb_key_attr *a = is_hash ? hash : range;
    enum ddb_type t1 = ddb_type_of(v1->value, NULL);
    enum ddb_type t2 = v2 ? ddb_type_of(v2->value, NULL) : t1;
    if (t1 != a->type || t2 != a->type)
        return kc_fail(msg, n, "One or more parameter values were invalid: Condition parameter "
                               "type does not match schema type");
    if (is_hash) {
        if (op != DDB_KC_EQ)
            return kc_fail(msg, n, "Query key condition not supported");
        if (out->hash)
            return kc_fail(msg, n, "KeyConditionExpressions must only contain one condition per "
                                   "key");
        out->hash = v1->value;
        return 0;
    }
    if (out->op != DDB_KC_NONE)
        return kc_fail(msg, n, "KeyConditionExpressions must only contain one condition per "
                               "key");
    if (op == DDB_KC_BEGINS && a->type == DDB_T_NUM)
        return kc_fail(msg, n, "Invalid KeyConditionExpression: Incorrect operand type for "
                               "operator or function; operator or function: begins_with, "
                               "operand type: N");
    if (op == DDB_KC_BETWEEN && ddb_value_cmp(v1->value, v2->value) == 1) {
        struct sl_buf x, y;
        sl_buf_init(&x, 0);
        sl_buf_init(&y, 0);
        ddb_value_text(v1->value, &x);
        ddb_value_text(v2->value, &y);
        kc_fail(msg, n, "Invalid KeyConditionExpression: The BETWEEN operator requires upper "
                        "bound to be greater than or equal to lower bound; lower bound operand: "
                        "AttributeValue: %s, upper bound operand: AttributeValue: %s",
                x.data ? x.data : "", y.data ? y.data : "");
        sl_buf_free(&x);
        sl_buf_free(&y);
        return SL_EINVAL;
    }
    out->op = op;
    out->v1 = v1->value;
    out->v2 = v2 ? v2->value : NULL;
    return 0;
}

int ddb_expr_key_condition(const struct ddb_expr *e, const struct ddb_key_attr *hash,
                           const struct ddb_key_attr *range, struct ddb_key_cond *out, char *msg,
                           size_t n)
{
    memset(out, 0, sizeof(*out));
    const struct node *c = e->cond;
    int rc;
    if (c->t == N_AND) {
        if (c->a->t == N_AND || c->b->t == N_AND)
            return kc_fail(msg, n, "KeyConditionExpressions must only contain one condition per "
                                   "key");
        rc = kc_part(c->a, hash, range, out, msg, n);
        if (!rc)
            rc = kc_part(c->b, hash, range, out, msg, n);
    } else {
        rc = kc_part(c, hash, range, out, msg, n);
    }
    if (!rc && !out->hash)
        return kc_fail(msg, n, "Query condition missed key schema element: %s", hash->name);
    return rc;
}
