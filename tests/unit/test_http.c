/*
 * Unit tests of the http layer's query-string parser (sl_http_parse_query in
 * src/http/server.c): percent-decoding of names and values, '+' as space,
 * names without '=', empty pieces, repeated names, and malformed escapes.
 * Each test gets a fresh arena, freed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http/http.h"

struct fx {
    struct sl_arena a;
    struct sl_http_param *p;
    size_t n;
};

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    sl_arena_init(&fx->a, 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    sl_arena_free(&fx->a);
    free(fx);
    return 0;
}

static int parse(struct fx *fx, const char *q)
{
    fx->p = NULL;
    fx->n = (size_t)-1;
    return sl_http_parse_query(&fx->a, q, &fx->p, &fx->n);
}

/* Checks parameter i: name, value and whether it had '='. */
static void expect_param(const struct fx *fx, size_t i, const char *name, const char *value,
                         bool has_value)
{
    assert_true(i < fx->n);
    assert_string_equal(fx->p[i].name, name);
    assert_string_equal(fx->p[i].value, value);
    assert_int_equal(fx->p[i].has_value, has_value);
}

static void query_empty(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, ""), 0);
    assert_int_equal(fx->n, 0);
}

static void query_simple_pairs(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, "list-type=2&prefix=photos&max-keys=10"), 0);
    assert_int_equal(fx->n, 3);
    expect_param(fx, 0, "list-type", "2", true);
    expect_param(fx, 1, "prefix", "photos", true);
    expect_param(fx, 2, "max-keys", "10", true);
}

static void query_percent_decoding(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, "pre%66ix=a%2Fb%20c%3d%26&caf%C3%A9=%e2%82%ac"), 0);
    assert_int_equal(fx->n, 2);
    expect_param(fx, 0, "prefix", "a/b c=&", true);
    expect_param(fx, 1, "caf\xc3\xa9", "\xe2\x82\xac", true);
}

static void query_plus_is_space(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, "a+b=c+d%2Be"), 0);
    assert_int_equal(fx->n, 1);
    expect_param(fx, 0, "a b", "c d+e", true);
}

static void query_name_without_equals(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, "uploads&versionId=v1&acl"), 0);
    assert_int_equal(fx->n, 3);
    expect_param(fx, 0, "uploads", "", false);
    expect_param(fx, 1, "versionId", "v1", true);
    expect_param(fx, 2, "acl", "", false);
}

static void query_empty_value_has_value(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, "prefix=&delimiter=%2F"), 0);
    assert_int_equal(fx->n, 2);
    expect_param(fx, 0, "prefix", "", true);
    expect_param(fx, 1, "delimiter", "/", true);
}

static void query_skips_empty_pieces(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, "a=1&&b"), 0);
    assert_int_equal(fx->n, 2);
    expect_param(fx, 0, "a", "1", true);
    expect_param(fx, 1, "b", "", false);
}

static void query_only_ampersands(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, "&&&"), 0);
    assert_int_equal(fx->n, 0);
    assert_int_equal(parse(fx, "&x=1&"), 0);
    assert_int_equal(fx->n, 1);
    expect_param(fx, 0, "x", "1", true);
}

static void query_repeated_names_kept_in_order(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, "Attr=1&Other=x&Attr=2&Attr"), 0);
    assert_int_equal(fx->n, 4);
    expect_param(fx, 0, "Attr", "1", true);
    expect_param(fx, 1, "Other", "x", true);
    expect_param(fx, 2, "Attr", "2", true);
    expect_param(fx, 3, "Attr", "", false);
}

static void query_value_keeps_later_equals(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(parse(fx, "k=a=b==&=v"), 0);
    assert_int_equal(fx->n, 2);
    expect_param(fx, 0, "k", "a=b==", true);
    expect_param(fx, 1, "", "v", true);
}

static void query_malformed_escape_fails(void **state)
{
    struct fx *fx = *state;
    static const char *bad[] = {"a=%", "a=%4", "a=%zz", "%zz=1", "ok=1&b=%g1", "a%=1"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        int rc = parse(fx, bad[i]);
        if (rc != SL_EINVAL)
            fail_msg("sl_http_parse_query(\"%s\") = %d, want SL_EINVAL", bad[i], rc);
    }
}

static void query_escape_truncated_by_ampersand(void **state)
{
    struct fx *fx = *state;
    /* "%4" ends at the '&', even though a hex digit follows it. */
    assert_int_equal(parse(fx, "a=%4&1"), SL_EINVAL);
}

static void query_respects_arena_cap(void **state)
{
    (void)state;
    struct sl_arena a;
    sl_arena_init(&a, 64);
    struct sl_http_param *p = NULL;
    size_t n = 0;
    int rc = sl_http_parse_query(&a, "a=1&b=2&c=3&d=4&e=5&f=6&g=7", &p, &n);
    sl_arena_free(&a);
    assert_int_equal(rc, SL_ENOMEM);
}

/* What could begin a request: empty lines, a method, a space; what cannot:
 * anything else first (a TLS handshake, binary noise, a space). */
static void request_start_plausible(void **state)
{
    (void)state;
    static const struct {
        const char *p;
        size_t n;
        bool ok;
    } cases[] = {
        {"GET / HTTP/1.1\r\n", 16, true},
        {"GE", 2, true},
        {"", 0, true},
        {"\r\n\r\nPUT /x", 10, true},
        {"M-SEARCH * HTTP/1.1", 19, true},
        {"\x16\x03\x01\x02\x00", 5, false},
        {"\x00GET", 4, false},
        {" GET /", 6, false},
        {"GET\t/", 5, false},
        {"GET\x80/", 5, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(sl_http_could_start_request(cases[i].p, cases[i].n), cases[i].ok);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(query_empty),
        T(query_simple_pairs),
        T(query_percent_decoding),
        T(query_plus_is_space),
        T(query_name_without_equals),
        T(query_empty_value_has_value),
        T(query_skips_empty_pieces),
        T(query_only_ampersands),
        T(query_repeated_names_kept_in_order),
        T(query_value_keeps_later_equals),
        T(query_malformed_escape_fails),
        T(query_escape_truncated_by_ampersand),
        cmocka_unit_test(query_respects_arena_cap),
        cmocka_unit_test(request_start_plausible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
