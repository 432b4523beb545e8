/* Unit tests of the States Language's paths (services/states/jsonpath.h):
 * a table of paths over one document with the value each must give (the
 * first rows are the examples of AWS's "Using JSONPath paths" page),
 * paths that must not compile, reference paths, and ResultPath-style
 * writes. JSON is written with ' for " to keep the tables readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/states/jsonpath.h"

static const char doc_text[] =
    "{'foo': 123, 'bar': ['a', 'b', 'c'], 'car': {'cdr': true},"
    " 'a b': 1, 'abc': {'def ghi': 2}, 'detail-type': 'Order',"
    " 'items': [{'name': 'pen', 'price': 3, 'kind': 'x'},"
    "           {'name': 'ink', 'price': 12, 'kind': 'y'},"
    "           {'name': 'pad', 'price': 1.5, 'kind': 'z'},"
    "           {'name': 'box', 'kind': 'x'}],"
    " 'it\\'s': 'quoted', 'unicode': 'h\\u00e9llo', 'empty': {}}";

/* s with every ' that is not after a backslash turned into " (malloc'd). */
static char *dq(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'' && (p == out || p[-1] != '\\'))
            *p = '"';
    /* (\' stays a JSON-invalid escape otherwise: drop the backslash) */
    char *w = out;
    for (char *p = out; *p; p++)
        if (!(*p == '\\' && p[1] == '\''))
            *w++ = *p;
    *w = '\0';
    return out;
}

static json_t *doc(void)
{
    char *text = dq(doc_text);
    json_error_t e;
    json_t *d = json_loads(text, 0, &e);
    free(text);
    if (!d)
        fail_msg("the document is not JSON: %s", e.text);
    return d;
}

struct gcase {
    int id;
    const char *path;
    const char *want; /* JSON, or NULL: no value (SL_ENOTFOUND) */
};

static void run_get(const struct gcase *v, size_t n)
{
    json_t *d = doc();
    for (size_t i = 0; i < n; i++) {
        struct sl_err err = {0};
        struct sl_jsonpath *p = NULL;
        if (sl_jsonpath_compile(v[i].path, 0, &p, &err))
            fail_msg("case %d: %s does not compile: %s", v[i].id, v[i].path, err.msg);
        json_t *got = NULL;
        int rc = sl_jsonpath_get(p, d, &got);
        sl_jsonpath_free(p);
        if (!v[i].want) {
            if (rc != SL_ENOTFOUND)
                fail_msg("case %d: %s: a value, want none", v[i].id, v[i].path);
            continue;
        }
        if (rc)
            fail_msg("case %d: %s: no value (%d)", v[i].id, v[i].path, rc);
        char *want_text = dq(v[i].want);
        json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
        free(want_text);
        assert_non_null(want);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
            fail_msg("case %d: %s gave %s, want %s", v[i].id, v[i].path, g, v[i].want);
        }
        json_decref(got);
        json_decref(want);
    }
    json_decref(d);
}

static void test_get(void **state)
{
    (void)state;
    static const struct gcase cases[] = {
        /* AWS's examples */
        {1, "$.foo", "123"},
        {2, "$.bar", "['a', 'b', 'c']"},
        {3, "$.car.cdr", "true"},
        /* members and indexes */
        {11, "$.bar[1]", "'b'"},
        {12, "$.bar[-1]", "'c'"},
        {13, "$['a b']", "1"},
        {14, "$.abc.['def ghi']", "2"},
        {15, "$.abc['def ghi']", "2"},
        {16, "$[\"foo\"]", "123"},
        {17, "$.detail-type", "'Order'"},
        {18, "$['it\\'s']", "'quoted'"},
        {19, "$.items[1].name", "'ink'"},
        {20, "$.missing", NULL},
        {21, "$.foo.bar", NULL},
        {22, "$.bar[3]", NULL},
        {23, "$.bar[-4]", NULL},
        {24, "$.car[0]", NULL},
        {25, "$.empty", "{}"},
        /* wildcards, unions, slices: arrays of the matches */
        {30, "$.bar[*]", "['a', 'b', 'c']"},
        {31, "$.car.*", "[true]"},
        {32, "$.items[*].price", "[3, 12, 1.5]"},
        {33, "$.bar[0:2]", "['a', 'b']"},
        {34, "$.bar[1:]", "['b', 'c']"},
        {35, "$.bar[:-1]", "['a', 'b']"},
        {36, "$.bar[::2]", "['a', 'c']"},
        {37, "$.bar[::-1]", "['c', 'b', 'a']"},
        {38, "$.bar[5:9]", "[]"},
        {39, "$.bar[0,2]", "['a', 'c']"},
        {40, "$['foo','missing','a b']", "[123, 1]"},
        {41, "$.items[0,3].name", "['pen', 'box']"},
        {42, "$.missing[*]", "[]"},
        /* recursive descent */
        {50, "$..cdr", "[true]"},
        {51, "$..name", "['pen', 'ink', 'pad', 'box']"},
        {52, "$.car..*", "[true]"},
        /* filters */
        {60, "$.items[?(@.price > 10)].name", "['ink']"},
        {61, "$.items[?(@.price <= 3)].name", "['pen', 'pad']"},
        {62, "$.items[?(@.kind == 'x')].name", "['pen', 'box']"},
        {63, "$.items[?(@.kind != 'x')].name", "['ink', 'pad']"},
        {64, "$.items[?(@.price)].name", "['pen', 'ink', 'pad']"},
        {65, "$.items[?(@.kind == 'x' && @.price < 5)].name", "['pen']"},
        {66, "$.items[?(@.price > 10 || @.price < 2)].name", "['ink', 'pad']"},
        {67, "$.items[?(@.kind == \"y\")].price", "[12]"},
        {68, "$.items[?(@.price == 1.5)].name", "['pad']"},
        {69, "$.items[?(@.price >= 'a')].name", "[]"},
        {70, "$.items[?(@.price == 3 && @.kind == 'x' || @.name == 'box')].name",
         "['pen', 'box']"},
        /* length() */
        {80, "$.bar.length()", "3"},
        {81, "$.unicode.length()", "5"},
        {82, "$.car.length()", "1"},
        {83, "$.foo.length()", NULL},
        {84, "$.items[*].name.length()", "[3, 3, 3, 3]"},
    };
    run_get(cases, SL_ARRAY_LEN(cases));
    /* "$" is the document itself. */
    json_t *d = doc(), *got = NULL;
    struct sl_jsonpath *p = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_jsonpath_compile("$", SL_JSONPATH_REFERENCE, &p, &err), 0);
    assert_true(sl_jsonpath_is_definite(p));
    assert_false(sl_jsonpath_is_context(p));
    assert_int_equal(sl_jsonpath_get(p, d, &got), 0);
    assert_ptr_equal(got, d);
    json_decref(got);
    sl_jsonpath_free(p);
    json_decref(d);
}

static void test_context(void **state)
{
    (void)state;
    struct sl_jsonpath *p = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_jsonpath_compile("$$.Execution.Id", 0, &p, &err), 0);
    assert_true(sl_jsonpath_is_context(p));
    assert_string_equal(sl_jsonpath_text(p), "$$.Execution.Id");
    json_t *ctx = json_pack("{s:{s:s}}", "Execution", "Id", "arn:x"), *got = NULL;
    assert_int_equal(sl_jsonpath_get(p, ctx, &got), 0);
    assert_string_equal(json_string_value(got), "arn:x");
    json_decref(got);
    json_decref(ctx);
    sl_jsonpath_free(p);
}

static void test_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *msg; /* a part of the error */
    } bad[] = {
        {"", "must start with $"},
        {"foo", "must start with $"},
        {".guid", "must start with $"},
        {"$.", "a name was expected"},
        {"$..", "a name was expected"},
        {"$...", "a name was expected"},
        {"$[", "a name, an index"},
        {"$['a'", "] was expected"},
        {"$['a", "unterminated string"},
        {"$[1,]", "an index was expected"},
        {"$[::0]", "step cannot be 0"},
        {"$[?(x)]", "must start with @"},
        {"$[?@.a]", "?( ... )"},
        {"$[?(@.a = 1)]", "followed by &&"},
        {"$[?(@.a == foo)]", "not a literal"},
        {"$[?(@.a[*])]", "only test a member"},
        {"$.a.length().b", "length() must be the last"},
        {"$..['a','b']", "one name"},
        {"$..[0]", "recursive descent takes a name"},
        {"$a", ". or [ was expected"},
        {"()", "must start with $"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        struct sl_jsonpath *p = NULL;
        struct sl_err err = {0};
        int rc = sl_jsonpath_compile(bad[i].path, 0, &p, &err);
        if (rc != SL_EINVAL)
            fail_msg("%s compiled (%d)", bad[i].path, rc);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: message %s, want %s", bad[i].path, err.msg, bad[i].msg);
    }
    /* Reference paths: members and indexes only. */
    static const char *const not_reference[] = {"$.a[*]", "$..a", "$.a[0:1]", "$.a[0,1]",
                                                "$['a','b']", "$.a[?(@.b)]", "$.a.length()",
                                                "$.*"};
    for (size_t i = 0; i < SL_ARRAY_LEN(not_reference); i++) {
        struct sl_jsonpath *p = NULL;
        struct sl_err err = {0};
        if (sl_jsonpath_compile(not_reference[i], SL_JSONPATH_REFERENCE, &p, &err) != SL_EINVAL)
            fail_msg("%s compiled as a reference path", not_reference[i]);
        assert_non_null(strstr(err.msg, "not a reference path"));
    }
    static const char *const reference[] = {"$", "$.a", "$.a[0].b", "$['a b'].c", "$$.Map"};
    for (size_t i = 0; i < SL_ARRAY_LEN(reference); i++) {
        struct sl_jsonpath *p = NULL;
        struct sl_err err = {0};
        if (sl_jsonpath_compile(reference[i], SL_JSONPATH_REFERENCE, &p, &err))
            fail_msg("%s: %s", reference[i], err.msg);
        assert_true(sl_jsonpath_is_definite(p));
        sl_jsonpath_free(p);
    }
}

/* path set to value in before gives after (NULL: SL_EINVAL). */
static void check_set(const char *before, const char *path, const char *value,
                      const char *after)
{
    char *b = dq(before), *v = dq(value);
    json_t *d = json_loads(b, JSON_DECODE_ANY, NULL), *val = json_loads(v, JSON_DECODE_ANY, NULL);
    free(b);
    free(v);
    assert_non_null(d);
    assert_non_null(val);
    struct sl_jsonpath *p = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_jsonpath_compile(path, SL_JSONPATH_REFERENCE, &p, &err), 0);
    int rc = sl_jsonpath_set(p, &d, val, &err);
    sl_jsonpath_free(p);
    json_decref(val);
    if (!after) {
        if (rc != SL_EINVAL)
            fail_msg("%s in %s: set (%d), want SL_EINVAL", path, before, rc);
        json_decref(d);
        return;
    }
    if (rc)
        fail_msg("%s in %s: %s", path, before, err.msg);
    char *a = dq(after);
    json_t *want = json_loads(a, JSON_DECODE_ANY, NULL);
    free(a);
    if (!json_equal(d, want)) {
        char *g = json_dumps(d, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("%s in %s gave %s, want %s", path, before, g, after);
    }
    json_decref(want);
    json_decref(d);
}

static void test_set(void **state)
{
    (void)state;
    check_set("{'a': 1}", "$", "{'r': 2}", "{'r': 2}");
    check_set("{'a': 1}", "$.r", "2", "{'a': 1, 'r': 2}");
    check_set("{'a': 1}", "$.a", "[1]", "{'a': [1]}");
    check_set("{'a': 1}", "$.x.y.z", "true", "{'a': 1, 'x': {'y': {'z': true}}}");
    check_set("{'a': {'b': 1}}", "$.a.c", "null", "{'a': {'b': 1, 'c': null}}");
    check_set("{'a': [1, 2]}", "$.a[1]", "'x'", "{'a': [1, 'x']}");
    check_set("{'a': [1, {}]}", "$.a[-1].k", "3", "{'a': [1, {'k': 3}]}");
    check_set("{'a': ['x']}", "$['a'][0]", "0", "{'a': [0]}");
    check_set("'text'", "$", "1", "1");
    check_set("{'a': 1}", "$.a.b", "2", NULL);
    check_set("'text'", "$.a", "2", NULL);
    check_set("{'a': [1]}", "$.a[3]", "2", NULL);
    check_set("{'a': {}}", "$.a[0]", "2", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
