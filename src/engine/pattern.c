/*
 * The event-pattern language (see pattern.h). Compiling turns a pattern's
 * JSON into a tree held in one arena: a node per object, a field per key,
 * and per leaf its rules as atoms (an exact value, a prefix, a range, a
 * CIDR block, the pieces of a wildcard...). Matching walks that tree beside
 * the event, looking each field up in the event's object, and allocates
 * nothing.
 */
#include "engine/pattern.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_MAX_DEPTH SL_PATTERN_MAX_ARRAY_DEPTH
/* The longest IPv6 text ("ffff:...:255.255.255.255") and its NUL. */
#define IP_TEXT_MAX 46
/* How much of a name or value an error message quotes. */
#define QUOTE_MAX 128

enum atom_kind {
    ATOM_STRING, /* exact, byte for byte */
    ATOM_NUMBER, /* exact, by value */
    ATOM_NULL,
    ATOM_TRUE,
    ATOM_FALSE,
    ATOM_PREFIX,
    ATOM_PREFIX_IC, /* the text is kept folded to lower case */
    ATOM_SUFFIX,
    ATOM_SUFFIX_IC,
    ATOM_EQUALS_IC,
    ATOM_WILDCARD,
    ATOM_RANGE, /* numeric */
    ATOM_CIDR,
};

/* A literal run of a wildcard, escapes resolved; runs are separated by `*`. */
struct piece {
    const char *p;
    size_t n;
};

/* One rule that a single event value satisfies or not. */
struct atom {
    enum atom_kind kind;
    union {
        struct {
            const char *p;
            size_t n;
        } str;
        struct {
            double d;
            json_int_t i;
            bool is_int;
        } num;
        struct {
            double lo, hi; /* -INFINITY / INFINITY when unbounded */
            bool lo_open, hi_open;
        } range;
        struct {
            int family;
            size_t bytes; /* of an address: 4 or 16 */
            uint8_t net[16], mask[16];
        } cidr;
        struct {
            const struct piece *pieces;
            size_t n; /* number of `*` plus one */
        } wild;
    } u;
};

/* anything-but: a present value that matches none of the atoms. */
struct anybut {
    struct atom *atoms;
    size_t n;
};

/* The rules of one leaf array; the leaf matches when one of them does. */
struct leaf {
    struct atom *atoms;
    size_t natoms;
    struct anybut *buts;
    size_t nbuts;
    bool exists; /* {"exists":true} */
    bool absent; /* {"exists":false} */
};

struct node;

struct field {
    const char *key;
    size_t keylen;
    struct leaf *leaf; /* exactly one of leaf and node */
    struct node *node;
};

/* A pattern object: all fields must match, and one of the $or branches
 * (when there are any) too. */
struct node {
    struct field *fields;
    size_t nfields;
    struct node *ors;
    size_t nors; /* 0, or 2 and more */
};

struct sl_pattern {
    struct sl_arena arena; /* holds everything below root */
    struct node root;
};

/* ---- compiling --------------------------------------------------------- */

struct compiler {
    struct sl_arena *arena;
    struct sl_err *err;
};

typedef int (*op_compile_fn)(struct compiler *c, json_t *v, struct leaf *l);

static int op_prefix(struct compiler *c, json_t *v, struct leaf *l);
static int op_suffix(struct compiler *c, json_t *v, struct leaf *l);
static int op_equals_ic(struct compiler *c, json_t *v, struct leaf *l);
static int op_wildcard(struct compiler *c, json_t *v, struct leaf *l);
static int op_anything_but(struct compiler *c, json_t *v, struct leaf *l);
static int op_numeric(struct compiler *c, json_t *v, struct leaf *l);
static int op_exists(struct compiler *c, json_t *v, struct leaf *l);
static int op_cidr(struct compiler *c, json_t *v, struct leaf *l);

/* The match expressions a leaf array may hold ({"<name>": operand}). Their
 * names also keep an array from being read as $or. */
static const struct op {
    const char *name;
    op_compile_fn compile;
} ops[] = {
    {"prefix", op_prefix},
    {"suffix", op_suffix},
    {"equals-ignore-case", op_equals_ic},
    {"wildcard", op_wildcard},
    {"anything-but", op_anything_but},
    {"numeric", op_numeric},
    {"exists", op_exists},
    {"cidr", op_cidr},
};

static const struct op *op_find(const char *name, size_t n)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(ops); i++)
        if (strlen(ops[i].name) == n && memcmp(ops[i].name, name, n) == 0)
            return &ops[i];
    return NULL;
}

static int quote_len(size_t n)
{
    return (int)SL_MIN(n, (size_t)QUOTE_MAX);
}

static int nomem(struct compiler *c)
{
    return sl_errf(c->err, SL_ENOMEM, "out of memory");
}

/* n zeroed elements of size bytes from the arena, or NULL. */
static void *alloc(struct compiler *c, size_t n, size_t size)
{
    if (n && size > SIZE_MAX / 4 / n)
        return NULL;
    return sl_arena_alloc(c->arena, n * size);
}

static unsigned char fold(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch - 'A' + 'a') : ch;
}

/* Whether s[0..n) equals lower[0..n) (already folded) ignoring ASCII case. */
static bool eq_fold(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)s[i]) != (unsigned char)lower[i])
            return false;
    return true;
}

static bool str_is(const json_t *s, const char *lit)
{
    size_t n = strlen(lit);
    return json_is_string(s) && json_string_length(s) == n &&
           memcmp(json_string_value(s), lit, n) == 0;
}

/* Gives a string atom of kind a copy of string s (folded for the
 * case-insensitive kinds). */
static int string_atom(struct compiler *c, const json_t *s, enum atom_kind kind, struct atom *a)
{
    size_t n = json_string_length(s);
    char *p = sl_arena_strndup(c->arena, json_string_value(s), n);
    if (!p)
        return nomem(c);
    if (kind == ATOM_PREFIX_IC || kind == ATOM_SUFFIX_IC || kind == ATOM_EQUALS_IC)
        for (size_t i = 0; i < n; i++)
            p[i] = (char)fold((unsigned char)p[i]);
    a->kind = kind;
    a->u.str.p = p;
    a->u.str.n = n;
    return 0;
}

/* An exact value: a string, a number, null, true or false. */
static int value_atom(struct compiler *c, const json_t *v, struct atom *a)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return string_atom(c, v, ATOM_STRING, a);
    case JSON_INTEGER:
    case JSON_REAL:
        a->kind = ATOM_NUMBER;
        a->u.num.d = json_number_value(v);
        a->u.num.is_int = json_is_integer(v);
        a->u.num.i = a->u.num.is_int ? json_integer_value(v) : 0;
        return 0;
    case JSON_NULL:
        a->kind = ATOM_NULL;
        return 0;
    case JSON_TRUE:
        a->kind = ATOM_TRUE;
        return 0;
    case JSON_FALSE:
        a->kind = ATOM_FALSE;
        return 0;
    default:
        return sl_errf(c->err, SL_EINVAL, "Match value must be String, number, true, false, or null");
    }
}

/* `*` runs any length, `\*` is a star and `\\` a backslash; nothing else
 * may follow a backslash, and two wildcards may not touch. */
static int wildcard_atom(struct compiler *c, const json_t *v, struct atom *a)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), stars = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            if (i + 1 >= n || (s[i + 1] != '*' && s[i + 1] != '\\'))
                return sl_errf(c->err, SL_EINVAL,
                               "Invalid escape character at pos %zu in wildcard pattern", i);
            i++;
        } else if (s[i] == '*') {
            if (i + 1 < n && s[i + 1] == '*')
                return sl_errf(c->err, SL_EINVAL,
                               "Consecutive wildcard characters at pos %zu", i + 1);
            stars++;
        }
    }
    struct piece *pieces = alloc(c, stars + 1, sizeof(*pieces));
    char *buf = sl_arena_alloc(c->arena, n + 1);
    if (!pieces || !buf)
        return nomem(c);
    size_t k = 0, start = 0, np = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            buf[k++] = s[++i];
        } else if (s[i] == '*') {
            pieces[np++] = (struct piece){buf + start, k - start};
            start = k;
        } else {
            buf[k++] = s[i];
        }
    }
    pieces[np++] = (struct piece){buf + start, k - start};
    a->kind = ATOM_WILDCARD;
    a->u.wild.pieces = pieces;
    a->u.wild.n = np;
    return 0;
}

/* prefix and suffix: a string, or {"equals-ignore-case": string}. */
static int affix(struct compiler *c, json_t *v, struct leaf *l, const char *name,
                 enum atom_kind kind, enum atom_kind kind_ic)
{
    struct atom *a = &l->atoms[l->natoms++];
    if (json_is_object(v)) {
        json_t *s = json_object_get(v, "equals-ignore-case");
        if (json_object_size(v) != 1 || !s)
            return sl_errf(c->err, SL_EINVAL,
                           "Value of %s must be a string or {\"equals-ignore-case\": string}", name);
        if (!json_is_string(s))
            return sl_errf(c->err, SL_EINVAL, "equals-ignore-case match pattern must be a string");
        return string_atom(c, s, kind_ic, a);
    }
    if (!json_is_string(v))
        return sl_errf(c->err, SL_EINVAL, "%s match pattern must be a string", name);
    return string_atom(c, v, kind, a);
}

static int op_prefix(struct compiler *c, json_t *v, struct leaf *l)
{
    return affix(c, v, l, "prefix", ATOM_PREFIX, ATOM_PREFIX_IC);
}

static int op_suffix(struct compiler *c, json_t *v, struct leaf *l)
{
    return affix(c, v, l, "suffix", ATOM_SUFFIX, ATOM_SUFFIX_IC);
}

static int op_equals_ic(struct compiler *c, json_t *v, struct leaf *l)
{
    if (!json_is_string(v))
        return sl_errf(c->err, SL_EINVAL, "equals-ignore-case match pattern must be a string");
    return string_atom(c, v, ATOM_EQUALS_IC, &l->atoms[l->natoms++]);
}

static int op_wildcard(struct compiler *c, json_t *v, struct leaf *l)
{
    if (!json_is_string(v))
        return sl_errf(c->err, SL_EINVAL, "wildcard match pattern must be a string");
    return wildcard_atom(c, v, &l->atoms[l->natoms++]);
}

/* The operand of anything-but's {"prefix"|"suffix"|"equals-ignore-case"|
 * "wildcard": string or list of strings} into b. */
static int anything_but_of(struct compiler *c, const char *name, size_t namelen, json_t *v,
                           struct anybut *b)
{
    enum atom_kind kind;
    bool nonempty = false; /* an empty prefix or suffix would exclude every string */
    if (namelen == 6 && memcmp(name, "prefix", 6) == 0) {
        kind = ATOM_PREFIX;
        nonempty = true;
    } else if (namelen == 6 && memcmp(name, "suffix", 6) == 0) {
        kind = ATOM_SUFFIX;
        nonempty = true;
    } else if (namelen == 18 && memcmp(name, "equals-ignore-case", 18) == 0) {
        kind = ATOM_EQUALS_IC;
    } else if (namelen == 8 && memcmp(name, "wildcard", 8) == 0) {
        kind = ATOM_WILDCARD;
    } else {
        return sl_errf(c->err, SL_EINVAL, "Unsupported anything-but pattern: %.*s",
                       quote_len(namelen), name);
    }
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (json_is_array(v) && n == 0)
        return sl_errf(c->err, SL_EINVAL, "Empty arrays are not allowed");
    b->atoms = alloc(c, n, sizeof(*b->atoms));
    if (!b->atoms)
        return nomem(c);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(s))
            return sl_errf(c->err, SL_EINVAL,
                           "Value of anything-but %.*s must be a string or a list of strings",
                           quote_len(namelen), name);
        if (nonempty && json_string_length(s) == 0)
            return sl_errf(c->err, SL_EINVAL, "Null prefix/suffix not allowed");
        int rc = kind == ATOM_WILDCARD ? wildcard_atom(c, s, &b->atoms[i])
                                       : string_atom(c, s, kind, &b->atoms[i]);
        if (rc)
            return rc;
        b->n++;
    }
    return 0;
}

static int op_anything_but(struct compiler *c, json_t *v, struct leaf *l)
{
    struct anybut *b = &l->buts[l->nbuts++];
    if (json_is_object(v)) {
        if (json_object_size(v) != 1)
            return sl_errf(c->err, SL_EINVAL,
                           "Only one key allowed in anything-but match expression");
        void *it = json_object_iter(v);
        return anything_but_of(c, json_object_iter_key(it), json_object_iter_key_len(it),
                               json_object_iter_value(it), b);
    }
    if (json_is_string(v) || json_is_number(v)) {
        b->atoms = alloc(c, 1, sizeof(*b->atoms));
        if (!b->atoms)
            return nomem(c);
        b->n = 1;
        return value_atom(c, v, b->atoms);
    }
    if (!json_is_array(v))
        return sl_errf(c->err, SL_EINVAL,
                       "Value of anything-but must be an array or single string/number value.");
    size_t n = json_array_size(v), strings = 0, numbers = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (json_is_string(e))
            strings++;
        else if (json_is_number(e))
            numbers++;
        else
            return sl_errf(c->err, SL_EINVAL,
                           "Inside anything-but list, start|null|boolean is not supported.");
    }
    if (n == 0)
        return sl_errf(c->err, SL_EINVAL, "Empty arrays are not allowed");
    if (strings && numbers)
        return sl_errf(c->err, SL_EINVAL,
                       "Inside anything-but list, either all values are number or string, "
                       "mixed type is not supported");
    b->atoms = alloc(c, n, sizeof(*b->atoms));
    if (!b->atoms)
        return nomem(c);
    for (size_t i = 0; i < n; i++) {
        int rc = value_atom(c, json_array_get(v, i), &b->atoms[i]);
        if (rc)
            return rc;
        b->n++;
    }
    return 0;
}

static int numeric_operand(struct compiler *c, const json_t *v, const char *op, double *out)
{
    if (!json_is_number(v))
        return sl_errf(c->err, SL_EINVAL, "Value of %s must be numeric", op);
    double d = json_number_value(v);
    if (!(d >= -SL_PATTERN_NUMERIC_MAX && d <= SL_PATTERN_NUMERIC_MAX))
        return sl_errf(c->err, SL_EINVAL,
                       "Numeric value must be within -5.0e9 and 5.0e9, inclusive (got %g)", d);
    *out = d;
    return 0;
}

/* ["=", x], ["<"|"<=", x], [">"|">=", x] or [">"|">=", x, "<"|"<=", y]
 * with x < y; operands JSON numbers. */
static int op_numeric(struct compiler *c, json_t *v, struct leaf *l)
{
    if (!json_is_array(v))
        return sl_errf(c->err, SL_EINVAL, "Value of numeric must be an array.");
    size_t n = json_array_size(v);
    if (n < 2)
        return sl_errf(c->err, SL_EINVAL, "Too few elements in numeric expression");
    if (n != 2 && n != 4)
        return sl_errf(c->err, SL_EINVAL, "Too many elements in numeric expression");
    struct atom *a = &l->atoms[l->natoms++];
    a->kind = ATOM_RANGE;
    a->u.range.lo = -INFINITY;
    a->u.range.hi = INFINITY;
    json_t *op = json_array_get(v, 0);
    if (!json_is_string(op))
        return sl_errf(c->err, SL_EINVAL, "Invalid member in numeric match: operator expected");
    const char *ops_text[] = {"=", "<", "<=", ">", ">="};
    size_t which = SL_ARRAY_LEN(ops_text);
    for (size_t i = 0; i < SL_ARRAY_LEN(ops_text); i++)
        if (str_is(op, ops_text[i]))
            which = i;
    if (which == SL_ARRAY_LEN(ops_text))
        return sl_errf(c->err, SL_EINVAL, "Unrecognized numeric range operator: %.*s",
                       quote_len(json_string_length(op)), json_string_value(op));
    double x = 0;
    int rc = numeric_operand(c, json_array_get(v, 1), ops_text[which], &x);
    if (rc)
        return rc;
    if (which <= 2) { /* =, <, <=: nothing may follow */
        if (n != 2)
            return sl_errf(c->err, SL_EINVAL, "Too many elements in numeric expression");
        if (which == 0) {
            a->u.range.lo = a->u.range.hi = x;
        } else {
            a->u.range.hi = x;
            a->u.range.hi_open = which == 1;
        }
        return 0;
    }
    a->u.range.lo = x;
    a->u.range.lo_open = which == 3;
    if (n == 2)
        return 0;
    json_t *top = json_array_get(v, 2);
    bool lt = str_is(top, "<");
    if (!lt && !str_is(top, "<="))
        return sl_errf(c->err, SL_EINVAL, "Bad numeric range operator: %.*s",
                       json_is_string(top) ? quote_len(json_string_length(top)) : 3,
                       json_is_string(top) ? json_string_value(top) : "???");
    rc = numeric_operand(c, json_array_get(v, 3), lt ? "<" : "<=", &x);
    if (rc)
        return rc;
    if (!(a->u.range.lo < x))
        return sl_errf(c->err, SL_EINVAL, "Bottom must be less than top");
    a->u.range.hi = x;
    a->u.range.hi_open = lt;
    return 0;
}

static int op_exists(struct compiler *c, json_t *v, struct leaf *l)
{
    if (!json_is_boolean(v))
        return sl_errf(c->err, SL_EINVAL, "exists match pattern must be either true or false.");
    if (json_is_true(v))
        l->exists = true;
    else
        l->absent = true;
    return 0;
}

/* Parses decimal digits s[0..n) (1 to 3 of them) into *out. */
static bool parse_bits(const char *s, size_t n, unsigned *out)
{
    if (n == 0 || n > 3)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* "<IPv4 or IPv6 address>/<prefix length>"; host bits are masked off. */
static int op_cidr(struct compiler *c, json_t *v, struct leaf *l)
{
    if (!json_is_string(v))
        return sl_errf(c->err, SL_EINVAL, "cidr match pattern must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : 0;
    struct atom *a = &l->atoms[l->natoms++];
    a->kind = ATOM_CIDR;
    a->u.cidr.family = memchr(s, ':', alen) ? AF_INET6 : AF_INET;
    a->u.cidr.bytes = a->u.cidr.family == AF_INET6 ? 16 : 4;
    char text[IP_TEXT_MAX];
    unsigned bits = 0;
    if (!slash || alen == 0 || alen >= sizeof(text))
        goto malformed;
    memcpy(text, s, alen);
    text[alen] = '\0';
    if (inet_pton(a->u.cidr.family, text, a->u.cidr.net) != 1 ||
        !parse_bits(slash + 1, n - alen - 1, &bits) || bits > a->u.cidr.bytes * 8)
        goto malformed;
    for (size_t i = 0; i < a->u.cidr.bytes; i++) {
        unsigned take = bits >= 8 ? 8 : bits;
        a->u.cidr.mask[i] = (uint8_t)(take ? 0xffu << (8 - take) : 0);
        a->u.cidr.net[i] &= a->u.cidr.mask[i];
        bits -= take;
    }
    return 0;
malformed:
    return sl_errf(c->err, SL_EINVAL, "Malformed CIDR: %.*s", quote_len(n), s);
}

/* {"<operator>": operand} inside a leaf array. */
static int compile_expr(struct compiler *c, json_t *obj, struct leaf *l)
{
    size_t n = json_object_size(obj);
    if (n == 0)
        return sl_errf(c->err, SL_EINVAL, "Match expression name not found");
    if (n > 1)
        return sl_errf(c->err, SL_EINVAL, "Only one key allowed in match expression");
    void *it = json_object_iter(obj);
    const char *name = json_object_iter_key(it);
    size_t namelen = json_object_iter_key_len(it);
    const struct op *op = op_find(name, namelen);
    if (!op)
        return sl_errf(c->err, SL_EINVAL, "Unrecognized match type %.*s", quote_len(namelen),
                       name);
    return op->compile(c, json_object_iter_value(it), l);
}

static int compile_leaf(struct compiler *c, json_t *arr, struct leaf *l)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return sl_errf(c->err, SL_EINVAL, "Empty arrays are not allowed");
    /* Each element adds at most one atom or one anything-but. */
    l->atoms = alloc(c, n, sizeof(*l->atoms));
    l->buts = alloc(c, n, sizeof(*l->buts));
    if (!l->atoms || !l->buts)
        return nomem(c);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        int rc = json_is_object(e) ? compile_expr(c, e, l)
                                   : value_atom(c, e, &l->atoms[l->natoms++]);
        if (rc)
            return rc;
    }
    return 0;
}

/* Whether "$or"'s value v makes it the operator: an array of two or more
 * objects, none of which has an operator's name as a key. Otherwise "$or"
 * is an ordinary field. */
static bool is_or(json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) < 2)
        return false;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *b = json_array_get(v, i);
        if (!json_is_object(b))
            return false;
        for (void *it = json_object_iter(b); it; it = json_object_iter_next(b, it))
            if (op_find(json_object_iter_key(it), json_object_iter_key_len(it)))
                return false;
    }
    return true;
}

/* Sums and products of combination counts, stopping just past the cap. */
static size_t sat(size_t v)
{
    return SL_MIN(v, (size_t)SL_PATTERN_MAX_COMBINATIONS + 1);
}

/* Compiles object obj into nd at depth (the root's is 0); *combos is the
 * number of $or-free patterns it stands for (capped past the limit). */
static int compile_node(struct compiler *c, json_t *obj, struct node *nd, unsigned depth,
                        size_t *combos)
{
    if (depth >= SL_PATTERN_MAX_DEPTH)
        return sl_errf(c->err, SL_EINVAL, "Pattern nests deeper than %d levels",
                       SL_PATTERN_MAX_DEPTH);
    size_t n = json_object_size(obj), total = 1;
    if (n == 0)
        return sl_errf(c->err, SL_EINVAL, "Empty objects are not allowed");
    nd->fields = alloc(c, n, sizeof(*nd->fields));
    if (!nd->fields)
        return nomem(c);
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t keylen = json_object_iter_key_len(it);
        json_t *v = json_object_iter_value(it);
        int rc;
        if (keylen == 3 && memcmp(key, "$or", 3) == 0 && is_or(v)) {
            size_t nb = json_array_size(v), sum = 0;
            nd->ors = alloc(c, nb, sizeof(*nd->ors));
            if (!nd->ors)
                return nomem(c);
            for (size_t i = 0; i < nb; i++) {
                size_t bc = 0;
                rc = compile_node(c, json_array_get(v, i), &nd->ors[i], depth + 1, &bc);
                if (rc)
                    return rc;
                nd->nors++;
                sum = sat(sum + bc);
            }
            total = sat(total * sum);
            continue;
        }
        struct field *f = &nd->fields[nd->nfields++];
        f->key = sl_arena_strndup(c->arena, key, keylen);
        f->keylen = keylen;
        if (!f->key)
            return nomem(c);
        if (json_is_object(v)) {
            size_t sub = 0;
            f->node = alloc(c, 1, sizeof(*f->node));
            if (!f->node)
                return nomem(c);
            rc = compile_node(c, v, f->node, depth + 1, &sub);
            total = sat(total * sub);
        } else if (json_is_array(v)) {
            f->leaf = alloc(c, 1, sizeof(*f->leaf));
            if (!f->leaf)
                return nomem(c);
            rc = compile_leaf(c, v, f->leaf);
        } else {
            rc = sl_errf(c->err, SL_EINVAL, "\"%.*s\" must be an object or an array",
                         quote_len(keylen), key);
        }
        if (rc)
            return rc;
    }
    *combos = total;
    return 0;
}

int sl_pattern_compile(const char *text, size_t len, struct sl_pattern **out, struct sl_err *err)
{
    *out = NULL;
    json_error_t jerr;
    json_t *doc = text ? json_loadb(text, len, JSON_DECODE_ANY, &jerr) : NULL;
    if (!doc)
        return sl_errf(err, SL_EINVAL, "Pattern is not valid JSON: %s (line %d, column %d)",
                       text ? jerr.text : "no text", text ? jerr.line : 0,
                       text ? jerr.column : 0);
    int rc;
    struct sl_pattern *p = NULL;
    if (!json_is_object(doc)) {
        rc = sl_errf(err, SL_EINVAL, "Filter is not an object");
        goto fail;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        rc = sl_errf(err, SL_ENOMEM, "out of memory");
        goto fail;
    }
    sl_arena_init(&p->arena, 0);
    struct compiler c = {.arena = &p->arena, .err = err};
    size_t combos = 0;
    rc = compile_node(&c, doc, &p->root, 0, &combos);
    if (rc)
        goto fail;
    if (combos > SL_PATTERN_MAX_COMBINATIONS) {
        rc = sl_errf(err, SL_EINVAL, "The $or of the pattern expand into more than %d combinations",
                     SL_PATTERN_MAX_COMBINATIONS);
        goto fail;
    }
    json_decref(doc);
    *out = p;
    return 0;
fail:
    sl_pattern_free(p);
    json_decref(doc);
    return rc;
}

void sl_pattern_free(struct sl_pattern *p)
{
    if (!p)
        return;
    sl_arena_free(&p->arena);
    free(p);
}

/* ---- matching ---------------------------------------------------------- */

static bool wildcard_match(const struct piece *pc, size_t np, const char *s, size_t n)
{
    if (np == 1)
        return pc[0].n == n && memcmp(s, pc[0].p, n) == 0;
    const struct piece *first = &pc[0], *last = &pc[np - 1];
    if (n < first->n + last->n || memcmp(s, first->p, first->n) != 0 ||
        memcmp(s + n - last->n, last->p, last->n) != 0)
        return false;
    /* The middle runs in order, each as early as it occurs: taking the
     * leftmost occurrence never loses a match when `*` is the only
     * wildcard. */
    const char *cur = s + first->n;
    size_t left = n - first->n - last->n;
    for (size_t i = 1; i + 1 < np; i++) {
        if (pc[i].n == 0)
            continue;
        const char *at = memmem(cur, left, pc[i].p, pc[i].n);
        if (!at)
            return false;
        size_t used = (size_t)(at - cur) + pc[i].n;
        cur += used;
        left -= used;
    }
    return true;
}

static bool cidr_match(const struct atom *a, const char *s, size_t n)
{
    char text[IP_TEXT_MAX];
    uint8_t addr[16];
    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    if (inet_pton(a->u.cidr.family, text, addr) != 1)
        return false;
    for (size_t i = 0; i < a->u.cidr.bytes; i++)
        if ((addr[i] & a->u.cidr.mask[i]) != a->u.cidr.net[i])
            return false;
    return true;
}

/* Whether scalar event value v satisfies atom a. */
static bool atom_match(const struct atom *a, const json_t *v)
{
    switch (a->kind) {
    case ATOM_NULL:
        return json_is_null(v);
    case ATOM_TRUE:
        return json_is_true(v);
    case ATOM_FALSE:
        return json_is_false(v);
    case ATOM_NUMBER:
        if (!json_is_number(v))
            return false;
        if (a->u.num.is_int && json_is_integer(v))
            return json_integer_value(v) == a->u.num.i;
        return json_number_value(v) == a->u.num.d;
    case ATOM_RANGE: {
        if (!json_is_number(v))
            return false;
        double d = json_number_value(v);
        if (d < a->u.range.lo || (a->u.range.lo_open && d == a->u.range.lo))
            return false;
        return !(d > a->u.range.hi || (a->u.range.hi_open && d == a->u.range.hi));
    }
    default:
        break;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), pn = a->u.str.n;
    switch (a->kind) {
    case ATOM_STRING:
        return n == pn && memcmp(s, a->u.str.p, n) == 0;
    case ATOM_PREFIX:
        return n >= pn && memcmp(s, a->u.str.p, pn) == 0;
    case ATOM_PREFIX_IC:
        return n >= pn && eq_fold(s, a->u.str.p, pn);
    case ATOM_SUFFIX:
        return n >= pn && memcmp(s + n - pn, a->u.str.p, pn) == 0;
    case ATOM_SUFFIX_IC:
        return n >= pn && eq_fold(s + n - pn, a->u.str.p, pn);
    case ATOM_EQUALS_IC:
        return n == pn && eq_fold(s, a->u.str.p, n);
    case ATOM_WILDCARD:
        return wildcard_match(a->u.wild.pieces, a->u.wild.n, s, n);
    case ATOM_CIDR:
        return cidr_match(a, s, n);
    default:
        return false;
    }
}

/* Whether scalar v satisfies one of the leaf's value rules. */
static bool value_match(const struct leaf *l, const json_t *v)
{
    if (l->exists)
        return true;
    for (size_t i = 0; i < l->natoms; i++)
        if (atom_match(&l->atoms[i], v))
            return true;
    for (size_t i = 0; i < l->nbuts; i++) {
        const struct anybut *b = &l->buts[i];
        size_t j = 0;
        while (j < b->n && !atom_match(&b->atoms[j], v))
            j++;
        if (j == b->n)
            return true;
    }
    return false;
}

/* Whether one of the scalars of v (itself, or the elements of an array,
 * flattened) satisfies the leaf; *present is set when v has any. */
static bool leaf_scan(const struct leaf *l, const json_t *v, unsigned depth, bool *present)
{
    if (json_is_array(v)) {
        if (depth >= ARRAY_MAX_DEPTH)
            return false;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (leaf_scan(l, json_array_get(v, i), depth + 1, present))
                return true;
        return false;
    }
    if (!v || json_is_object(v))
        return false; /* an object is no leaf value */
    *present = true;
    return value_match(l, v);
}

static bool leaf_match(const struct leaf *l, const json_t *v)
{
    bool present = false;
    if (leaf_scan(l, v, 0, &present))
        return true;
    return !present && l->absent;
}

static bool node_match(const struct node *nd, const json_t *obj);

/* Whether one of the objects of array arr (flattened) matches nd; *seen
 * is set when there is any. */
static bool elements_match(const struct node *nd, const json_t *arr, unsigned depth, bool *seen)
{
    if (depth >= ARRAY_MAX_DEPTH)
        return false;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        if (json_is_object(e)) {
            *seen = true;
            if (node_match(nd, e))
                return true;
        } else if (json_is_array(e) && elements_match(nd, e, depth + 1, seen)) {
            return true;
        }
    }
    return false;
}

/* A nested pattern against the event's value v of its field: an object
 * matches as itself, an array when one of its objects does, and anything
 * else (a missing field too) as an object without fields. */
static bool subnode_match(const struct node *nd, const json_t *v)
{
    if (json_is_object(v))
        return node_match(nd, v);
    if (json_is_array(v)) {
        bool seen = false;
        if (elements_match(nd, v, 0, &seen))
            return true;
        if (seen)
            return false;
    }
    return node_match(nd, NULL);
}

/* obj: an object, or NULL for one without fields. */
static bool node_match(const struct node *nd, const json_t *obj)
{
    for (size_t i = 0; i < nd->nfields; i++) {
        const struct field *f = &nd->fields[i];
        const json_t *v = obj ? json_object_getn(obj, f->key, f->keylen) : NULL;
        if (!(f->leaf ? leaf_match(f->leaf, v) : subnode_match(f->node, v)))
            return false;
    }
    if (nd->nors == 0)
        return true;
    for (size_t i = 0; i < nd->nors; i++)
        if (node_match(&nd->ors[i], obj))
            return true;
    return false;
}

bool sl_pattern_match(const struct sl_pattern *p, const json_t *event)
{
    return p && node_match(&p->root, json_is_object(event) ? event : NULL);
}

static bool node_uses(const struct node *nd, const char *key, size_t n)
{
    for (size_t i = 0; i < nd->nfields; i++)
        if (nd->fields[i].keylen == n && memcmp(nd->fields[i].key, key, n) == 0)
            return true;
    for (size_t i = 0; i < nd->nors; i++)
        if (node_uses(&nd->ors[i], key, n))
            return true;
    return false;
}

bool sl_pattern_uses(const struct sl_pattern *p, const char *key)
{
    return p && key && node_uses(&p->root, key, strlen(key));
}

/* ---- guards ------------------------------------------------------------ */

/* Choosing guards (see pattern.h) walks the tree twice in the same order,
 * numbering p's conditions as it meets them: first to price each and keep
 * the cheapest, then to hand out the keys of those kept. The path of the
 * node at hand lives in path[0..depth). */
struct guard {
    const struct sl_pattern_guard_ops *ops;
    struct sl_pattern_name path[SL_PATTERN_MAX_DEPTH];
    size_t max;   /* guards wanted */
    size_t count; /* conditions met so far in this walk */
    struct pick {
        double cost;
        size_t cond;
    } picks[SL_PATTERN_MAX_GUARDS]; /* the cheapest, cheapest first */
    size_t npicks;
    bool emitting; /* second walk */
    size_t guard;  /* second walk: the number of the guard being emitted */
    bool exact;    /* first walk: whether every condition is exact */
};

/* Integers from -2^53 to 2^53 (not included) are the ones no other integer
 * shares a double with: only for them is equality by value as a double
 * (what an index does) equality as pattern.c has it. */
#define EXACT_INT_MAX 9007199254740992.0

/* The key that a value satisfying atom a must hold, with the path filled
 * in by the caller: PRESENT where values are not indexable (a range, a
 * CIDR block, a wildcard that neither starts nor ends with text). *exact:
 * whether holding the key is also enough to satisfy a. */
static void atom_key(const struct atom *a, struct sl_pattern_key *k, bool *exact)
{
    static const enum sl_pattern_key_kind of_string[] = {
        [ATOM_STRING] = SL_PATTERN_KEY_STRING,       [ATOM_PREFIX] = SL_PATTERN_KEY_PREFIX,
        [ATOM_PREFIX_IC] = SL_PATTERN_KEY_PREFIX_IC, [ATOM_SUFFIX] = SL_PATTERN_KEY_SUFFIX,
        [ATOM_SUFFIX_IC] = SL_PATTERN_KEY_SUFFIX_IC, [ATOM_EQUALS_IC] = SL_PATTERN_KEY_EQUALS_IC,
    };
    k->s = NULL;
    k->n = 0;
    k->d = 0;
    *exact = true;
    switch (a->kind) {
    case ATOM_STRING:
    case ATOM_PREFIX:
    case ATOM_PREFIX_IC:
    case ATOM_SUFFIX:
    case ATOM_SUFFIX_IC:
    case ATOM_EQUALS_IC:
        k->kind = of_string[a->kind];
        k->s = a->u.str.p;
        k->n = a->u.str.n;
        return;
    case ATOM_NUMBER:
        k->kind = SL_PATTERN_KEY_NUMBER;
        k->d = a->u.num.d == 0 ? 0.0 : a->u.num.d; /* -0.0 equals 0.0 */
        *exact = !a->u.num.is_int || fabs(a->u.num.d) < EXACT_INT_MAX;
        return;
    case ATOM_NULL:
        k->kind = SL_PATTERN_KEY_NULL;
        return;
    case ATOM_TRUE:
        k->kind = SL_PATTERN_KEY_TRUE;
        return;
    case ATOM_FALSE:
        k->kind = SL_PATTERN_KEY_FALSE;
        return;
    case ATOM_WILDCARD: {
        const struct piece *pc = a->u.wild.pieces, *first = &pc[0], *last = &pc[a->u.wild.n - 1];
        if (a->u.wild.n == 1) {
            k->kind = SL_PATTERN_KEY_STRING;
            k->s = first->p;
            k->n = first->n;
            return;
        }
        *exact = false;
        if (first->n || last->n) {
            bool pre = first->n >= last->n; /* the longer end says more */
            k->kind = pre ? SL_PATTERN_KEY_PREFIX : SL_PATTERN_KEY_SUFFIX;
            k->s = pre ? first->p : last->p;
            k->n = pre ? first->n : last->n;
        } else {
            k->kind = SL_PATTERN_KEY_PRESENT;
        }
        return;
    }
    default:
        *exact = false;
        k->kind = SL_PATTERN_KEY_PRESENT;
        return;
    }
}

/* Whether leaf l is guarded by PRESENT alone (one of its rules accepts
 * values no other key describes, so listing the others is no help), and
 * in *exact whether its keys are also enough for it to match. */
static bool leaf_present_only(const struct leaf *l, bool *exact)
{
    struct sl_pattern_key k;
    bool present = l->exists || l->nbuts, all = !l->nbuts, e;
    for (size_t i = 0; i < l->natoms; i++) {
        atom_key(&l->atoms[i], &k, &e);
        present |= k.kind == SL_PATTERN_KEY_PRESENT;
        all &= e;
    }
    *exact = !l->absent && (l->exists || all); /* {"exists":true}: PRESENT is all */
    return present;
}

/* Visits the keys guarding leaf l (not absent) at path[0..depth): hands
 * them out as guard g->guard (emit), or returns their total price in
 * *sum. */
static int leaf_keys(struct guard *g, const struct leaf *l, size_t depth, bool emit, double *sum)
{
    const struct sl_pattern_guard_ops *ops = g->ops;
    struct sl_pattern_key k = {.path = g->path, .depth = depth, .kind = SL_PATTERN_KEY_PRESENT};
    bool exact, present = leaf_present_only(l, &exact);
    *sum = 0;
    for (size_t i = 0; i < (present ? 1 : l->natoms); i++) {
        if (!present)
            atom_key(&l->atoms[i], &k, &exact);
        if (emit) {
            int rc = ops->emit(ops->arg, g->guard, &k);
            if (rc)
                return rc;
        } else {
            *sum += ops->cost(ops->arg, &k);
        }
    }
    return 0;
}

/* The price of the cheapest single guard of nd, whose fields are at
 * path[depth] (INFINITY when it has none): a field's, or its $or's;
 * *choice (when not NULL) the field, or nd->nfields for the $or. */
static double node_cost(struct guard *g, const struct node *nd, size_t depth, size_t *choice)
{
    double best = INFINITY, c;
    size_t pick = SIZE_MAX;
    for (size_t i = 0; i < nd->nfields; i++) {
        const struct field *f = &nd->fields[i];
        g->path[depth] = (struct sl_pattern_name){f->key, f->keylen};
        if (f->leaf) {
            if (f->leaf->absent)
                continue; /* matches when the field is missing */
            leaf_keys(g, f->leaf, depth + 1, false, &c);
        } else {
            c = node_cost(g, f->node, depth + 1, NULL);
        }
        if (c < best) {
            best = c;
            pick = i;
        }
    }
    if (nd->nors) {
        double sum = 0;
        for (size_t i = 0; i < nd->nors; i++) /* every branch: cost sees every key */
            sum += node_cost(g, &nd->ors[i], depth, NULL);
        if (sum < best) {
            best = sum;
            pick = nd->nfields;
        }
    }
    if (choice)
        *choice = pick;
    return best;
}

/* Hands out the keys of the cheapest single guard of nd (emitting). */
static int node_emit(struct guard *g, const struct node *nd, size_t depth)
{
    size_t pick;
    node_cost(g, nd, depth, &pick);
    if (pick == SIZE_MAX)
        return SL_ENOTFOUND; /* only when cost changed its mind since */
    if (pick == nd->nfields) {
        for (size_t i = 0; i < nd->nors; i++) {
            int rc = node_emit(g, &nd->ors[i], depth);
            if (rc)
                return rc;
        }
        return 0;
    }
    const struct field *f = &nd->fields[pick];
    g->path[depth] = (struct sl_pattern_name){f->key, f->keylen};
    double unused;
    return f->leaf ? leaf_keys(g, f->leaf, depth + 1, true, &unused)
                   : node_emit(g, f->node, depth + 1);
}

static bool node_exact(const struct node *nd);

/* Whether nd's $or is one exact condition: each branch is a single exact
 * condition, so that the union of their keys says it all. */
static bool or_exact(const struct node *nd)
{
    for (size_t i = 0; i < nd->nors; i++) {
        const struct node *b = &nd->ors[i];
        if (b->nfields + (b->nors > 0) != 1 || !node_exact(b))
            return false;
    }
    return true;
}

/* Whether every condition of nd is exact (nested objects of one
 * condition only: the fields of a nested object must hold within one
 * element of an array of objects, which separate keys cannot tell). */
static bool node_exact(const struct node *nd)
{
    for (size_t i = 0; i < nd->nfields; i++) {
        const struct field *f = &nd->fields[i];
        bool e;
        if (f->leaf ? (leaf_present_only(f->leaf, &e), !e)
                    : f->node->nfields + (f->node->nors > 0) != 1 || !node_exact(f->node))
            return false;
    }
    return nd->nors == 0 || or_exact(nd);
}

/* One condition of the pattern, numbered g->count: priced and kept when
 * among the cheapest (first walk), or handed out when kept (second). The
 * condition is leaf l at path[0..depth), or the $or of nd when l is
 * NULL. */
static int condition(struct guard *g, const struct leaf *l, const struct node *nd, size_t depth)
{
    size_t cond = g->count++;
    if (g->emitting) {
        for (size_t r = 0; r < g->npicks; r++) {
            if (g->picks[r].cond != cond)
                continue;
            g->guard = r;
            if (l)
                return leaf_keys(g, l, depth, true, &(double){0});
            for (size_t i = 0; i < nd->nors; i++) {
                int rc = node_emit(g, &nd->ors[i], depth);
                if (rc)
                    return rc;
            }
        }
        return 0;
    }
    double cost = 0;
    if (l)
        leaf_keys(g, l, depth, false, &cost);
    else
        for (size_t i = 0; i < nd->nors; i++) /* every branch: cost sees every key */
            cost += node_cost(g, &nd->ors[i], depth, NULL);
    if (!(cost < INFINITY)) {
        g->exact = false; /* a condition no guard stands for */
        return 0;
    }
    /* Insertion into the cheapest max, ties to the earlier condition. */
    size_t at = g->npicks;
    while (at > 0 && cost < g->picks[at - 1].cost)
        at--;
    if (at >= g->max) {
        g->exact = false; /* left out */
        return 0;
    }
    if (g->npicks == g->max)
        g->exact = false; /* the last is pushed out */
    else
        g->npicks++;
    memmove(&g->picks[at + 1], &g->picks[at], (g->npicks - 1 - at) * sizeof(g->picks[0]));
    g->picks[at] = (struct pick){cost, cond};
    return 0;
}

/* The conditions of nd (fields at path[depth]) in order: each leaf's, the
 * fields of nested objects on their own, then its $or's. */
static int conditions(struct guard *g, const struct node *nd, size_t depth)
{
    for (size_t i = 0; i < nd->nfields; i++) {
        const struct field *f = &nd->fields[i];
        g->path[depth] = (struct sl_pattern_name){f->key, f->keylen};
        if (f->leaf && f->leaf->absent)
            continue; /* matches when the field is missing: no condition (nor exact) */
        int rc = f->leaf ? condition(g, f->leaf, NULL, depth + 1)
                         : conditions(g, f->node, depth + 1);
        if (rc)
            return rc;
    }
    return nd->nors ? condition(g, NULL, nd, depth) : 0;
}

int sl_pattern_guards(const struct sl_pattern *p, const struct sl_pattern_guard_ops *ops,
                      size_t max, bool *exact)
{
    if (exact)
        *exact = false;
    if (!p || max == 0)
        return 0;
    struct guard g = {.ops = ops, .max = SL_MIN(max, (size_t)SL_PATTERN_MAX_GUARDS)};
    g.exact = node_exact(&p->root);
    conditions(&g, &p->root, 0);
    if (g.npicks == 0)
        return 0;
    g.emitting = true;
    g.count = 0;
    int rc = conditions(&g, &p->root, 0);
    if (rc)
        return rc;
    if (exact)
        *exact = g.exact;
    return (int)g.npicks;
}
