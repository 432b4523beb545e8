/* Unit tests of rulesets (engine/ruleset.h) and of the guards of patterns
 * they index by (sl_pattern_guards, engine/pattern.h): the guards chosen
 * for each kind of rule and whether they say all, numbered; rulesets
 * against hand-written events; and the property that matters, on thousands of random patterns using
 * every operator and random events: a ruleset answers exactly what
 * matching every pattern in turn answers, while trying far fewer. Patterns
 * and events are written with ' for " to keep the tables readable. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/pattern.h"
#include "engine/ruleset.h"

/* s with every ' turned into " (malloc'd). */
static char *dq(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

static struct sl_pattern *compile(const char *text)
{
    char *t = dq(text);
    struct sl_err err = {0};
    struct sl_pattern *p = NULL;
    int rc = sl_pattern_compile(t, strlen(t), &p, &err);
    free(t);
    if (rc)
        fail_msg("%s does not compile: %s", text, err.msg);
    return p;
}

static json_t *event(const char *text)
{
    char *t = dq(text);
    json_error_t jerr;
    json_t *ev = json_loads(t, JSON_DECODE_ANY, &jerr);
    free(t);
    if (!ev)
        fail_msg("event %s is not JSON: %s", text, jerr.text);
    return ev;
}

/* ---- guards ------------------------------------------------------------ */

static const char *const kind_names[] = {
    [SL_PATTERN_KEY_STRING] = "STRING",       [SL_PATTERN_KEY_NUMBER] = "NUMBER",
    [SL_PATTERN_KEY_NULL] = "NULL",           [SL_PATTERN_KEY_TRUE] = "TRUE",
    [SL_PATTERN_KEY_FALSE] = "FALSE",         [SL_PATTERN_KEY_PREFIX] = "PREFIX",
    [SL_PATTERN_KEY_PREFIX_IC] = "PREFIX_IC", [SL_PATTERN_KEY_SUFFIX] = "SUFFIX",
    [SL_PATTERN_KEY_SUFFIX_IC] = "SUFFIX_IC", [SL_PATTERN_KEY_EQUALS_IC] = "EQUALS_IC",
    [SL_PATTERN_KEY_PRESENT] = "PRESENT",
};

/* The keys guards emitted, each as "a/b KIND value", by guard. */
struct keys {
    char text[SL_PATTERN_MAX_GUARDS][16][96];
    size_t n[SL_PATTERN_MAX_GUARDS];
    const char *expensive; /* a path costing 100 a key */
};

/* A value 1, an affix 2, presence 16; 100 on keys.expensive. */
static double test_cost(void *arg, const struct sl_pattern_key *k)
{
    const struct keys *ks = arg;
    if (ks->expensive && k->depth == 1 && strlen(ks->expensive) == k->path[0].n &&
        memcmp(ks->expensive, k->path[0].p, k->path[0].n) == 0)
        return 100;
    switch (k->kind) {
    case SL_PATTERN_KEY_PRESENT:
        return 16;
    case SL_PATTERN_KEY_PREFIX:
    case SL_PATTERN_KEY_PREFIX_IC:
    case SL_PATTERN_KEY_SUFFIX:
    case SL_PATTERN_KEY_SUFFIX_IC:
        return 2;
    default:
        return 1;
    }
}

static int test_emit(void *arg, size_t g, const struct sl_pattern_key *k)
{
    struct keys *ks = arg;
    assert_true(g < SL_PATTERN_MAX_GUARDS && ks->n[g] < SL_ARRAY_LEN(ks->text[0]));
    char path[64] = "";
    for (size_t i = 0; i < k->depth; i++)
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s%.*s", i ? "/" : "",
                 (int)k->path[i].n, k->path[i].p);
    char value[32] = "";
    if (k->kind == SL_PATTERN_KEY_NUMBER)
        snprintf(value, sizeof(value), " %g", k->d);
    else if (k->s)
        snprintf(value, sizeof(value), " %.*s", (int)k->n, k->s);
    snprintf(ks->text[g][ks->n[g]++], sizeof(ks->text[0][0]), "%s %s%s", path,
             kind_names[k->kind], value);
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The guards of pattern (at most 4), "; " between guards, the keys of one
 * sorted and joined by " | ", then " (exact)" when they say all; or
 * "none". */
static void guards_of(const char *pattern, const char *expensive, char *out, size_t n)
{
    struct sl_pattern *p = compile(pattern);
    struct keys ks = {.expensive = expensive};
    struct sl_pattern_guard_ops ops = {test_cost, test_emit, &ks};
    bool exact = true;
    int ng = sl_pattern_guards(p, &ops, 4, &exact);
    sl_pattern_free(p);
    assert_true(ng >= 0 && ng <= 4);
    for (size_t g = 0; g < SL_PATTERN_MAX_GUARDS; g++)
        assert_true((g < (size_t)ng) == (ks.n[g] > 0)); /* every guard has keys */
    if (ng == 0) {
        assert_false(exact);
        snprintf(out, n, "none");
        return;
    }
    out[0] = '\0';
    for (size_t g = 0; g < (size_t)ng; g++) {
        qsort(ks.text[g], ks.n[g], sizeof(ks.text[g][0]), str_cmp);
        for (size_t i = 0; i < ks.n[g]; i++)
            snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? " | " : g ? " ; " : "",
                     ks.text[g][i]);
    }
    if (exact)
        snprintf(out + strlen(out), n - strlen(out), " (exact)");
}

static void test_guards(void **state)
{
    (void)state;
    static const struct {
        int id;
        const char *pattern, *expensive, *guards;
    } v[] = {
        {1, "{'source':['aws.ec2']}", NULL, "source STRING aws.ec2 (exact)"},
        {2, "{'source':['a','b']}", NULL, "source STRING a | source STRING b (exact)"},
        {3, "{'n':[1,2.5,-0.0]}", NULL, "n NUMBER 0 | n NUMBER 1 | n NUMBER 2.5 (exact)"},
        {4, "{'v':[null,true,false]}", NULL, "v FALSE | v NULL | v TRUE (exact)"},
        {5, "{'a':[{'prefix':'ab'}]}", NULL, "a PREFIX ab (exact)"},
        {6, "{'a':[{'prefix':{'equals-ignore-case':'AB'}}]}", NULL, "a PREFIX_IC ab (exact)"},
        {7, "{'a':[{'suffix':'.png'}]}", NULL, "a SUFFIX .png (exact)"},
        {8, "{'a':[{'suffix':{'equals-ignore-case':'.PNG'}}]}", NULL, "a SUFFIX_IC .png (exact)"},
        {9, "{'a':[{'equals-ignore-case':'AbC'}]}", NULL, "a EQUALS_IC abc (exact)"},
        {10, "{'a':[{'wildcard':'abc'}]}", NULL, "a STRING abc (exact)"},
        {11, "{'a':[{'wildcard':'ab*c'}]}", NULL, "a PREFIX ab"},
        {12, "{'a':[{'wildcard':'a*bc'}]}", NULL, "a SUFFIX bc"},
        {13, "{'a':[{'wildcard':'*x*'}]}", NULL, "a PRESENT"},
        {14, "{'a':[{'wildcard':'a\\\\*b'}]}", NULL, "a STRING a*b (exact)"},
        {15, "{'a':[{'numeric':['>',1]}]}", NULL, "a PRESENT"},
        {16, "{'a':[{'cidr':'10.0.0.0/8'}]}", NULL, "a PRESENT"},
        {17, "{'a':[{'anything-but':'x'}]}", NULL, "a PRESENT"},
        {18, "{'a':[{'anything-but':{'prefix':'x'}}]}", NULL, "a PRESENT"},
        {19, "{'a':[{'exists':true}]}", NULL, "a PRESENT (exact)"},
        {20, "{'a':['x',{'numeric':['>',1]}]}", NULL, "a PRESENT"},
        {21, "{'a':[{'exists':false}]}", NULL, "none"},
        {22, "{'a':['x',{'exists':false}]}", NULL, "none"},
        {23, "{'a':[{'exists':true},{'exists':false}]}", NULL, "none"},
        {24, "{'a':[{'exists':false}],'b':['y']}", NULL, "b STRING y"},
        {25, "{'a':[{'numeric':['>',1]}],'b':['y']}", NULL, "b STRING y ; a PRESENT"},
        {26, "{'d':{'e':{'f':['x']}}}", NULL, "d/e/f STRING x (exact)"},
        {27, "{'d':{'e':[{'exists':false}]}}", NULL, "none"},
        {28, "{'d':{'e':[{'exists':false}],'f':[1]}}", NULL, "d/f NUMBER 1"},
        {29, "{'$or':[{'a':['x']},{'b':['y']}]}", NULL, "a STRING x | b STRING y (exact)"},
        {30, "{'$or':[{'a':['x']},{'b':[{'exists':false}]}]}", NULL, "none"},
        {31, "{'c':['z'],'$or':[{'a':['x']},{'b':['y']}]}", NULL,
         "c STRING z ; a STRING x | b STRING y (exact)"},
        {32, "{'c':[{'exists':true}],'$or':[{'a':['x']},{'b':['y']}]}", NULL,
         "a STRING x | b STRING y ; c PRESENT (exact)"},
        {33, "{'d':{'$or':[{'a':['x']},{'b':['y']}]}}", NULL,
         "d/a STRING x | d/b STRING y (exact)"},
        {34, "{'$or':[{'a':['x']},{'$or':[{'b':['y']},{'c':['z']}]}]}", NULL,
         "a STRING x | b STRING y | c STRING z (exact)"},
        {35, "{'$or':['x']}", NULL, "$or STRING x (exact)"},
        {36, "{'a.b':['x']}", NULL, "a.b STRING x (exact)"},
        /* Prices order the guards, and choose. */
        {37, "{'source':['aws.ec2'],'detail-type':['Started']}", NULL,
         "source STRING aws.ec2 ; detail-type STRING Started (exact)"},
        {38, "{'source':['aws.ec2'],'detail-type':['Started']}", "source",
         "detail-type STRING Started ; source STRING aws.ec2 (exact)"},
        {39, "{'source':['aws.ec2'],'d':[{'numeric':['>',1]}]}", "source",
         "d PRESENT ; source STRING aws.ec2"},
        {40, "{'source':['a','b','c'],'t':[{'prefix':'x'}]}", NULL,
         "t PREFIX x ; source STRING a | source STRING b | source STRING c (exact)"},
        {41, "{'d':{'a':['x'],'b':['y']}}", NULL, "d/a STRING x ; d/b STRING y"},
        {42, "{'a':['1'],'b':['2'],'c':['3'],'d':['4'],'e':[{'prefix':'5'}]}", NULL,
         "a STRING 1 ; b STRING 2 ; c STRING 3 ; d STRING 4"},
        {43, "{'a':['1'],'b':['2'],'c':['3'],'d':['4'],'e':['5']}", NULL,
         "a STRING 1 ; b STRING 2 ; c STRING 3 ; d STRING 4"},
        {44, "{'e':[{'prefix':'5'}],'a':['1'],'b':['2'],'c':['3'],'d':['4']}", NULL,
         "a STRING 1 ; b STRING 2 ; c STRING 3 ; d STRING 4"},
        {45, "{'e':[{'prefix':'5'}],'a':['1'],'b':['2'],'c':['3']}", NULL,
         "a STRING 1 ; b STRING 2 ; c STRING 3 ; e PREFIX 5 (exact)"},
        {46, "{'$or':[{'a':['x'],'b':['y']},{'c':['z']}]}", NULL, "a STRING x | c STRING z"},
        {47, "{'n':[9007199254740993]}", NULL, "n NUMBER 9.0072e+15"},
        {48, "{'n':[9007199254740991]}", NULL, "n NUMBER 9.0072e+15 (exact)"},
        {49, "{'n':[1.5e300]}", NULL, "n NUMBER 1.5e+300 (exact)"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(v); i++) {
        char got[1024];
        guards_of(v[i].pattern, v[i].expensive, got, sizeof(got));
        if (strcmp(got, v[i].guards) != 0)
            fail_msg("case %d: %s: guards %s, want %s", v[i].id, v[i].pattern, got, v[i].guards);
    }
    struct sl_pattern_guard_ops ops = {test_cost, test_emit, NULL};
    bool exact = true;
    assert_int_equal(sl_pattern_guards(NULL, &ops, 4, &exact), 0);
    assert_false(exact);
}

/* emit's error stops the guards and comes back. */
static int failing_emit(void *arg, size_t g, const struct sl_pattern_key *k)
{
    (void)g;
    (void)k;
    (*(int *)arg)++;
    return SL_ENOMEM;
}

static double unit_cost(void *arg, const struct sl_pattern_key *k)
{
    (void)arg;
    (void)k;
    return 1;
}

static void test_guard_emit_error(void **state)
{
    (void)state;
    struct sl_pattern *p = compile("{'a':['x','y','z']}");
    int calls = 0;
    struct sl_pattern_guard_ops ops = {unit_cost, failing_emit, &calls};
    assert_int_equal(sl_pattern_guards(p, &ops, 4, NULL), SL_ENOMEM);
    assert_int_equal(calls, 1);
    sl_pattern_free(p);
}

/* ---- rulesets by hand --------------------------------------------------- */

struct hits {
    size_t idx[64];
    size_t n;
};

static void collect(void *arg, size_t i)
{
    struct hits *h = arg;
    assert_true(h->n < SL_ARRAY_LEN(h->idx));
    h->idx[h->n++] = i;
}

static void test_match_by_hand(void **state)
{
    (void)state;
    static const char *const rules[] = {
        /* 0 */ "{'source':['aws.ec2']}",
        /* 1 */ "{'source':['aws.s3'],'detail':{'bucket':{'name':[{'prefix':'logs-'}]}}}",
        /* 2 */ "{'detail':{'state':[{'anything-but':'running'}]}}",
        /* 3 */ "{'detail':{'error':[{'exists':false}]}}",
        /* 4 */ "{'$or':[{'source':['aws.ec2']},{'detail':{'size':[{'numeric':['>',100]}]}}]}",
        /* 5 */ "{'detail-type':[{'equals-ignore-case':'object created'}]}",
        /* 6 */ "{'resources':[{'wildcard':'arn:aws:s3:::*/photos/*'}]}",
        /* 7 */ NULL,
        /* 8 */ NULL, /* rule 0 again */
        /* 9 */ "{'detail':{'ip':[{'cidr':'10.0.0.0/8'}]}}",
        /* 10 */ "{'detail':{'tags':{'env':['prod']}}}",
    };
    struct sl_pattern *p[SL_ARRAY_LEN(rules)];
    for (size_t i = 0; i < SL_ARRAY_LEN(rules); i++)
        p[i] = rules[i] ? compile(rules[i]) : NULL;
    p[8] = p[0]; /* the same pattern twice */
    struct sl_ruleset *rs;
    assert_int_equal(sl_ruleset_build(p, SL_ARRAY_LEN(p), &rs), 0);
    struct sl_ruleset_stats st;
    sl_ruleset_stats(rs, &st);
    assert_int_equal(st.patterns, SL_ARRAY_LEN(p));
    assert_int_equal(st.always, 1); /* rule 3 */

    static const struct {
        int id;
        const char *event, *want;
    } v[] = {
        {1, "{'source':'aws.ec2','detail':{'state':'running'}}", "0 3 4 8"},
        {2, "{'source':'aws.ec2','detail':{'state':'stopped','error':'x'}}", "0 2 4 8"},
        {3, "{'source':'aws.s3','detail':{'bucket':{'name':'logs-1'},'size':101}}", "1 3 4"},
        {4, "{'source':'aws.s3','detail':{'bucket':[{'name':'x'},{'name':'logs-'}]}}", "1 3"},
        {5, "{'detail-type':'Object CREATED','resources':['arn:aws:s3:::b/photos/c.jpg']}",
         "3 5 6"},
        {6, "{'detail':{'ip':['192.168.0.1','10.1.2.3'],'error':null}}", "9"},
        {7, "{'detail':[{'state':'x','error':1},{'error':2}]}", "2"},
        {8, "{}", "3"},
        {9, "[1,2]", "3"},
        {10, "'aws.ec2'", "3"},
        {11, "{'detail':{'size':[[[[101]]]],'error':1}}", "4"},
        {12, "{'detail':'running'}", "3"},
        {13, "{'detail':{'tags':{'env':['dev','prod']}}}", "3 10"},
        {14, "{'detail':{'tags':[{'env':'dev'},[{'env':['prod']}]],'error':false}}", "10"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(v); i++) {
        json_t *ev = event(v[i].event);
        struct hits h = {0};
        size_t n = sl_ruleset_match(rs, ev, collect, &h);
        assert_int_equal(n, h.n);
        assert_int_equal(sl_ruleset_match(rs, ev, NULL, NULL), n);
        char got[256] = "";
        for (size_t j = 0; j < h.n; j++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%zu", j ? " " : "",
                     h.idx[j]);
        /* The same as one by one. */
        char want1[256] = "";
        for (size_t j = 0, k = 0; j < SL_ARRAY_LEN(p); j++)
            if (sl_pattern_match(p[j], ev))
                snprintf(want1 + strlen(want1), sizeof(want1) - strlen(want1), "%s%zu",
                         k++ ? " " : "", j);
        json_decref(ev);
        if (strcmp(got, v[i].want) != 0 || strcmp(got, want1) != 0)
            fail_msg("case %d: %s matched [%s], want [%s] (one by one [%s])", v[i].id,
                     v[i].event, got, v[i].want, want1);
    }
    sl_ruleset_free(rs);

    /* No patterns at all. */
    assert_int_equal(sl_ruleset_build(p, 0, &rs), 0);
    json_t *ev = event("{'source':'aws.ec2'}");
    assert_int_equal(sl_ruleset_match(rs, ev, NULL, NULL), 0);
    assert_int_equal(sl_ruleset_candidates(rs, ev), 0);
    json_decref(ev);
    sl_ruleset_free(rs);
    sl_ruleset_free(NULL);
    for (size_t i = 0; i < SL_ARRAY_LEN(p); i++)
        if (i != 8)
            sl_pattern_free(p[i]);
}

/* ---- random patterns and events ----------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static size_t rnd(size_t n)
{
    return (size_t)(rnd64() % n);
}

#define PICK(a) (a)[rnd(SL_ARRAY_LEN(a))]

static const char *const names[] = {"a", "b", "c", "source", "detail", "Detail"};
static const char *const strings[] = {
    "",        "alpha",       "Alpha",       "ALPHA", "alphabet", "beta",     "bet",
    "a*b",     "a\\b",        "10.0.0.1",    "10.1.2.3", "192.168.1.1", "::1", "2001:db8::1",
    "x.y.z",   "al",          "AL",          "ha",    "1",        "\xc3\xa9t\xc3\xa9",
};

static json_t *rnd_number(void)
{
    switch (rnd(11)) {
    case 0:
        return json_integer(0);
    case 1:
        return json_real(-0.0);
    case 2:
        return json_integer(1);
    case 3:
        return json_real(1.0);
    case 4:
        return json_real(2.5);
    case 5:
        return json_integer(-3);
    case 6:
        return json_integer(100);
    case 7:
        return json_real(1e9);
    case 8:
        return json_integer(9007199254740993); /* 2^53 + 1: no double */
    case 9:
        return json_integer(9007199254740992);
    default:
        return json_real(0.0);
    }
}

static json_t *rnd_literal(void)
{
    switch (rnd(3)) {
    case 0:
        return json_true();
    case 1:
        return json_false();
    default:
        return json_null();
    }
}

static json_t *op(const char *name, json_t *operand)
{
    return json_pack("{s:o}", name, operand);
}

static json_t *strings_or_one(const char *const *from, size_t n)
{
    if (rnd(2))
        return json_string(from[rnd(n)]);
    json_t *a = json_array();
    for (size_t i = 0, k = 1 + rnd(3); i < k; i++)
        json_array_append_new(a, json_string(from[rnd(n)]));
    return a;
}

/* Whether the patterns being made use only the operators an index can
 * decide alone (values, prefixes, suffixes, {"exists":true}), so that
 * exact patterns with many conditions are common. */
static bool exact_only;

/* One element of a leaf array: a value or a match expression, every
 * operator pattern.c knows. */
static json_t *rnd_rule(void)
{
    static const char *const prefixes[] = {"", "al", "Al", "be", "10.", "alpha", "x", "\xc3\xa9"};
    static const char *const suffixes[] = {"", "ha", "bet", "1", "HA", ".z", "t\xc3\xa9"};
    static const char *const nonempty[] = {"al", "A", "be", "10.", "ha", "1", "z"};
    static const char *const wildcards[] = {"al*",   "*bet", "*",    "a*b",   "al*a*",
                                            "a\\*b", "a\\\\*b", "alpha", "*ph*",  "1*.1",
                                            "*.*.*", "*a*a*a", ""};
    static const double bounds[] = {-3, 0, 1, 2.5, 100, 1e9, -5e9, 5e9};
    static const char *const cidrs[] = {"10.0.0.0/8", "10.0.0.0/24", "192.168.0.0/16",
                                        "::1/128",    "2001:db8::/32", "0.0.0.0/0",
                                        "10.0.0.1/32"};
    static const char *const ltops[] = {"<", "<="}, *const gtops[] = {">", ">="};
    size_t r = exact_only ? rnd(12) : rnd(20);
    switch (exact_only && r == 11 ? 16 : r) {
    case 0:
    case 1:
    case 2:
        return json_string(PICK(strings));
    case 3:
        return rnd_number();
    case 4:
        return rnd_literal();
    case 5:
        return op("prefix", json_string(PICK(prefixes)));
    case 6:
        return op("prefix", op("equals-ignore-case", json_string(PICK(prefixes))));
    case 7:
        return op("suffix", json_string(PICK(suffixes)));
    case 8:
        return op("suffix", op("equals-ignore-case", json_string(PICK(suffixes))));
    case 9:
        return op("equals-ignore-case", json_string(PICK(strings)));
    case 10:
        return op("wildcard", json_string(PICK(wildcards)));
    case 11:
        return op("anything-but", strings_or_one(strings, SL_ARRAY_LEN(strings)));
    case 12: {
        if (rnd(2))
            return op("anything-but", rnd_number());
        json_t *a = json_array();
        for (size_t i = 0, k = 1 + rnd(3); i < k; i++)
            json_array_append_new(a, rnd_number());
        return op("anything-but", a);
    }
    case 13: {
        static const char *const kinds[] = {"prefix", "suffix", "equals-ignore-case",
                                            "wildcard"};
        size_t k = rnd(4);
        json_t *operand = k < 2 ? strings_or_one(nonempty, SL_ARRAY_LEN(nonempty))
                          : k == 2 ? strings_or_one(strings, SL_ARRAY_LEN(strings))
                                   : strings_or_one(wildcards, SL_ARRAY_LEN(wildcards));
        return op("anything-but", op(kinds[k], operand));
    }
    case 14: {
        size_t i = rnd(SL_ARRAY_LEN(bounds)), j = rnd(SL_ARRAY_LEN(bounds));
        double lo = SL_MIN(bounds[i], bounds[j]), hi = SL_MAX(bounds[i], bounds[j]);
        switch (rnd(4)) {
        case 0:
            return op("numeric", json_pack("[s,f]", "=", lo));
        case 1:
            return op("numeric", json_pack("[s,f]", PICK(ltops), hi));
        case 2:
            return op("numeric", json_pack("[s,f]", PICK(gtops), lo));
        default:
            if (lo == hi)
                hi = lo + 1;
            return op("numeric", json_pack("[s,f,s,f]", PICK(gtops), lo, PICK(ltops), hi));
        }
    }
    case 15:
        return op("cidr", json_string(PICK(cidrs)));
    case 16:
    case 17:
        return op("exists", json_true());
    default:
        return op("exists", json_false());
    }
}

static json_t *rnd_pattern_node(unsigned depth)
{
    json_t *o = json_object();
    for (size_t i = 0, k = 1 + rnd(depth ? 2 : 5); i < k; i++) {
        json_t *v;
        if (depth < 2 && rnd(5) == 0) {
            v = rnd_pattern_node(depth + 1);
        } else {
            v = json_array();
            for (size_t j = 0, m = 1 + rnd(3); j < m; j++)
                json_array_append_new(v, rnd_rule());
        }
        json_object_set_new(o, PICK(names), v);
    }
    if (depth < 2 && rnd(6) == 0) {
        json_t *ors = json_array();
        for (size_t i = 0, k = 2 + rnd(2); i < k; i++)
            json_array_append_new(ors, rnd_pattern_node(depth + 1));
        json_object_set_new(o, "$or", ors);
    }
    return o;
}

static json_t *rnd_event_value(unsigned depth)
{
    size_t r = rnd(20);
    if (depth >= 3)
        r %= 11;
    if (r < 5)
        return json_string(PICK(strings));
    if (r < 8)
        return rnd_number();
    if (r < 11)
        return rnd_literal();
    if (r < 14) {
        json_t *a = json_array();
        for (size_t i = 0, k = rnd(4); i < k; i++)
            json_array_append_new(a, rnd_event_value(depth + 1));
        return a;
    }
    json_t *o = json_object();
    for (size_t i = 0, k = rnd(5); i < k; i++)
        json_object_set_new(o, PICK(names), rnd_event_value(depth + 1));
    return o;
}

static json_t *rnd_event(void)
{
    json_t *o = json_object();
    for (size_t i = 0, k = 1 + rnd(6); i < k; i++)
        json_object_set_new(o, PICK(names), rnd_event_value(1));
    return o;
}

#define NPATTERNS 3000
#define NEVENTS 2000

struct corpus {
    struct sl_pattern *p[NPATTERNS];
    json_t *ev[NEVENTS];
};

static void corpus_make(struct corpus *c, uint64_t seed)
{
    rng_state = seed;
    size_t refused = 0;
    for (size_t i = 0; i < NPATTERNS;) {
        exact_only = i % 3 == 2;
        json_t *pat = rnd_pattern_node(0);
        char *text = json_dumps(pat, JSON_COMPACT);
        json_decref(pat);
        assert_non_null(text);
        struct sl_err err = {0};
        if (sl_pattern_compile(text, strlen(text), &c->p[i], &err) == 0)
            i++;
        else
            refused++;
        free(text);
    }
    assert_true(refused < NPATTERNS / 10); /* the generator writes valid patterns */
    for (size_t i = 0; i < NEVENTS; i++)
        c->ev[i] = rnd_event();
}

static void corpus_free(struct corpus *c)
{
    for (size_t i = 0; i < NPATTERNS; i++)
        sl_pattern_free(c->p[i]);
    for (size_t i = 0; i < NEVENTS; i++)
        json_decref(c->ev[i]);
}

struct seen {
    size_t *idx, n;
    bool ordered;
};

static void seen_add(void *arg, size_t i)
{
    struct seen *s = arg;
    if (s->n && s->idx[s->n - 1] >= i)
        s->ordered = false;
    s->idx[s->n++] = i;
}

/* Checks rs (over patterns p[0..n)) against one-by-one matching on
 * ev[0..nev): the same patterns, in order. Returns the matches; adds to
 * *confirmed (when not NULL) the candidates rs confirmed with
 * sl_pattern_match. */
static size_t check_equivalent(const struct sl_ruleset *rs, struct sl_pattern *const *p, size_t n,
                               json_t *const *ev, size_t nev, size_t *confirmed)
{
    size_t total = 0;
    size_t *idx = malloc((n + 1) * sizeof(*idx));
    assert_non_null(idx);
    for (size_t e = 0; e < nev; e++) {
        struct seen s = {.idx = idx, .ordered = true};
        size_t got = sl_ruleset_match(rs, ev[e], seen_add, &s);
        assert_int_equal(got, s.n);
        assert_true(s.ordered);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (!sl_pattern_match(p[i], ev[e]))
                continue;
            if (k >= s.n || s.idx[k] != i) {
                char *text = json_dumps(ev[e], JSON_COMPACT);
                fail_msg("event %zu %s: pattern %zu matches, the ruleset says otherwise", e, text,
                         i);
            }
            k++;
        }
        if (k != s.n) {
            char *text = json_dumps(ev[e], JSON_COMPACT);
            fail_msg("event %zu %s: the ruleset matched %zu patterns, one by one %zu", e, text,
                     s.n, k);
        }
        total += k;
        if (confirmed)
            *confirmed += sl_ruleset_candidates(rs, ev[e]);
    }
    free(idx);
    return total;
}

/* The property: for thousands of random patterns (every operator, $or,
 * nesting) and random events (arrays, nested objects and arrays of them),
 * a ruleset of 1, 10, 100 or 3,000 of them matches exactly what matching
 * each in turn does; and it confirms far fewer than all of them. */
static void test_random_equivalence(void **state)
{
    (void)state;
    static struct corpus c;
    static const uint64_t seeds[] = {0x5eed5eed12345678ull, 0x0123456789abcdefull};
    for (size_t s = 0; s < SL_ARRAY_LEN(seeds); s++) {
        corpus_make(&c, seeds[s]);
        static const size_t sizes[] = {1, 10, 100, NPATTERNS};
        for (size_t z = 0; z < SL_ARRAY_LEN(sizes); z++) {
            size_t n = sizes[z], nev = n == NPATTERNS ? NEVENTS : NEVENTS / 4, confirmed = 0;
            struct sl_ruleset *rs;
            assert_int_equal(sl_ruleset_build(c.p, n, &rs), 0);
            size_t matches = check_equivalent(rs, c.p, n, c.ev, nev, &confirmed);
            if (n == NPATTERNS) {
                struct sl_ruleset_stats st;
                sl_ruleset_stats(rs, &st);
                print_message("seed %zu: %zu patterns (%zu exact, %zu without a guard, %zu keys), "
                              "%zu events: %zu matches, %.1f confirmed an event\n",
                              s, n, st.exact, st.always, st.keys, nev, matches,
                              (double)confirmed / (double)nev);
                /* A property that cannot fail is none: both answers occur
                 * often, both kinds of pattern too, and the index leaves
                 * most patterns unconfirmed. */
                assert_true(matches > nev);
                assert_true(matches < nev * n / 4);
                assert_true(st.always > 0 && st.always < n / 2);
                assert_true(st.exact > n / 10 && st.exact < n / 2);
                assert_true(confirmed < nev * n / 8);
            }
            sl_ruleset_free(rs);
        }
        corpus_free(&c);
    }
}

/* Patterns of many conditions over few values, which events hold often:
 * an index deciding a pattern alone must have all of its conditions (at
 * most four are kept), and the fields of a nested object must hold in one
 * element of an array. */
static json_t *json_array_pack_new(size_t objects);

static json_t *dense_value(void)
{
    switch (rnd(5)) {
    case 0:
        return json_string("x");
    case 1:
        return json_string("y");
    case 2:
        return json_integer(1);
    case 3:
        return json_array_pack_new(rnd(2));
    default:
        return json_true();
    }
}

static json_t *json_array_pack_new(size_t objects)
{
    json_t *a = json_array();
    for (size_t i = 0, k = 1 + rnd(3); i < k; i++)
        json_array_append_new(a, objects ? json_pack("{s:s,s:i}", rnd(2) ? "x" : "y", "x", "z", 1)
                                         : json_string(rnd(2) ? "x" : "y"));
    return a;
}

static void test_many_conditions(void **state)
{
    (void)state;
    static const char *const fields[] = {"f0", "f1", "f2", "f3", "f4", "f5", "f6"};
    enum { N = 600, NEV = 1500 };
    struct sl_pattern **p = malloc(N * sizeof(*p));
    json_t **ev = malloc(NEV * sizeof(*ev));
    assert_non_null(p);
    assert_non_null(ev);
    rng_state = 0xd1ce5eedull;
    for (size_t i = 0; i < N; i++) {
        json_t *pat = json_object();
        for (size_t f = 0, k = 3 + rnd(5); f < k; f++) {
            json_t *leaf = rnd(4) ? json_pack("[s]", rnd(2) ? "x" : "y") : json_pack("[i,b]", 1, 1);
            if (rnd(5) == 0)
                leaf = json_pack("{s:o}", rnd(2) ? "x" : "y", leaf); /* nested, one field */
            else if (rnd(6) == 0) {
                json_decref(leaf);
                leaf = json_pack("{s:[s],s:[i]}", "x", "x", "z", 1); /* nested, two */
            }
            json_object_set_new(pat, fields[f], leaf);
        }
        char *text = json_dumps(pat, JSON_COMPACT);
        json_decref(pat);
        assert_non_null(text);
        struct sl_err err = {0};
        assert_int_equal(sl_pattern_compile(text, strlen(text), &p[i], &err), 0);
        free(text);
    }
    for (size_t e = 0; e < NEV; e++) {
        ev[e] = json_object();
        for (size_t f = 0; f < SL_ARRAY_LEN(fields); f++)
            if (rnd(10))
                json_object_set_new(ev[e], fields[f],
                                    rnd(6) ? dense_value()
                                           : json_pack("{s:o}", rnd(2) ? "x" : "y", dense_value()));
    }
    struct sl_ruleset *rs;
    assert_int_equal(sl_ruleset_build(p, N, &rs), 0);
    struct sl_ruleset_stats st;
    sl_ruleset_stats(rs, &st);
    size_t matches = check_equivalent(rs, p, N, ev, NEV, NULL);
    print_message("%zu patterns (%zu exact), %d events: %zu matches\n", st.patterns, st.exact,
                  NEV, matches);
    assert_true(st.exact > N / 10 && st.exact < N);
    assert_true(matches > NEV / 2);
    sl_ruleset_free(rs);
    for (size_t i = 0; i < N; i++)
        sl_pattern_free(p[i]);
    for (size_t e = 0; e < NEV; e++)
        json_decref(ev[e]);
    free(p);
    free(ev);
}

/* Beyond one shard (8,192 patterns), patterns are numbered on across the
 * shards; the same compiled pattern may stand at many indexes. */
static void test_many_shards(void **state)
{
    (void)state;
    static struct corpus c;
    corpus_make(&c, 0xfeedfacecafebeefull);
    size_t n = 20000;
    struct sl_pattern **p = malloc(n * sizeof(*p));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = c.p[(i * 7) % NPATTERNS];
    struct sl_ruleset *rs;
    assert_int_equal(sl_ruleset_build(p, n, &rs), 0);
    size_t matches = check_equivalent(rs, p, n, c.ev, 100, NULL);
    assert_true(matches > 100);
    sl_ruleset_free(rs);
    free(p);
    corpus_free(&c);
}

/* Rules as an event bus has them: a source and detail-types, a condition
 * on the detail. An event concerns a handful of them. */
static void test_index_is_selective(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct sl_pattern **p = malloc(N * sizeof(*p));
    assert_non_null(p);
    char text[512];
    for (int i = 0; i < N; i++) {
        int src = i / 4 % 40, dt = i / 4 % 25;
        switch (i % 4) {
        case 0:
            snprintf(text, sizeof(text), "{'source':['app.s%d'],'detail-type':['T%d','T%d']}",
                     src, dt, dt + 25);
            break;
        case 1:
            snprintf(text, sizeof(text),
                     "{'source':['app.s%d'],'detail':{'amount':[{'numeric':['>',%d]}]}}", src, i);
            break;
        case 2:
            snprintf(text, sizeof(text),
                     "{'source':[{'prefix':'app.s%d.'}],'detail':{'state':[{'anything-but':"
                     "'ok'}]}}",
                     src);
            break;
        default:
            snprintf(text, sizeof(text),
                     "{'$or':[{'detail-type':['T%d']},{'detail':{'id':['id-%d']}}],"
                     "'detail':{'error':[{'exists':true}]}}",
                     dt, i);
            break;
        }
        p[i] = compile(text);
    }
    struct sl_ruleset *rs;
    assert_int_equal(sl_ruleset_build(p, N, &rs), 0);
    json_t *ev = event("{'source':'app.s7','detail-type':'T7','detail':{'amount':500,"
                       "'state':'failed','id':'id-3','error':'boom','other':[1,2,3]}}");
    size_t confirmed = sl_ruleset_candidates(rs, ev);
    size_t matched = sl_ruleset_match(rs, ev, NULL, NULL);
    size_t want = 0;
    for (int i = 0; i < N; i++)
        want += sl_pattern_match(p[i], ev);
    /* 2 of the source-and-detail-type rules, 3 of the numeric ones, 11 of
     * the $or ones (10 on T7, 1 on id-3). */
    assert_int_equal(want, 16);
    assert_int_equal(matched, want);
    /* The index decides the source-and-detail-type rules and the $or ones
     * alone; of the rest it confirms app.s7's 7 numeric rules, not a
     * thousand. */
    if (confirmed > 10)
        fail_msg("%zu patterns confirmed for one event", confirmed);
    json_decref(ev);
    sl_ruleset_free(rs);
    for (int i = 0; i < N; i++)
        sl_pattern_free(p[i]);
    free(p);
}

/* Threads matching against one ruleset at once get the answers one alone
 * gets. */
struct job {
    const struct sl_ruleset *rs;
    json_t *const *ev;
    const size_t *want;
    size_t nev, wrong;
};

static void *matcher(void *arg)
{
    struct job *j = arg;
    for (int round = 0; round < 5; round++)
        for (size_t e = 0; e < j->nev; e++)
            j->wrong += sl_ruleset_match(j->rs, j->ev[e], NULL, NULL) != j->want[e];
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    static struct corpus c;
    corpus_make(&c, 42);
    struct sl_ruleset *rs;
    assert_int_equal(sl_ruleset_build(c.p, NPATTERNS, &rs), 0);
    size_t nev = 500, want[500];
    for (size_t e = 0; e < nev; e++) {
        want[e] = 0;
        for (size_t i = 0; i < NPATTERNS; i++)
            want[e] += sl_pattern_match(c.p[i], c.ev[e]);
    }
    pthread_t t[4];
    struct job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct job){.rs = rs, .ev = c.ev, .want = want, .nev = nev};
        assert_int_equal(pthread_create(&t[i], NULL, matcher, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].wrong, 0);
    }
    sl_ruleset_free(rs);
    corpus_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guards),
        cmocka_unit_test(test_guard_emit_error),
        cmocka_unit_test(test_match_by_hand),
        cmocka_unit_test(test_random_equivalence),
        cmocka_unit_test(test_many_conditions),
        cmocka_unit_test(test_many_shards),
        cmocka_unit_test(test_index_is_selective),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("ruleset", tests, NULL, NULL);
}
