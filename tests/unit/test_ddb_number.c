/* DynamoDB's numbers (src/services/dynamodb/number.c): what parses and how
 * it is written back (DynamoDB's normalization), the errors and their
 * words, order, exact sums, and keys whose bytes sort as the numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/dynamodb/internal.h"

static struct ddb_num num(const char *s)
{
    struct ddb_num v;
    assert_int_equal(ddb_num_parse(s, strlen(s), &v), DDB_NUM_OK);
    return v;
}

static void expect_text(const char *in, const char *want)
{
    struct ddb_num v = num(in);
    char out[DDB_NUM_TEXT_MAX];
    size_t n = ddb_num_text(&v, out);
    if (strcmp(out, want) != 0)
        fail_msg("%s: got %s, want %s", in, out, want);
    assert_int_equal(n, strlen(want));
}

static void test_normalization(void **state)
{
    (void)state;
    expect_text("0042", "42");
    expect_text("-0", "0");
    expect_text("0.000", "0");
    expect_text("1.0", "1");
    expect_text("1.50", "1.5");
    expect_text("1.5E2", "150");
    expect_text("1.5e+2", "150");
    expect_text("-2.5", "-2.5");
    expect_text("+7", "7");
    expect_text(".5", "0.5");
    expect_text("5.", "5");
    expect_text("15e-4", "0.0015");
    expect_text("1234567891234560000000000000000000000000", "1234567891234560000000000000000000000000");
    expect_text("1E+100", "1" "0000000000" "0000000000" "0000000000" "0000000000" "0000000000"
                          "0000000000" "0000000000" "0000000000" "0000000000" "0000000000");
    expect_text("1E-130", "0." "0000000000" "0000000000" "0000000000" "0000000000" "0000000000"
                          "0000000000" "0000000000" "0000000000" "0000000000" "0000000000"
                          "0000000000" "0000000000" "000000000" "1");
    expect_text("12345678901234567890123456789012345678", "12345678901234567890123456789012345678");
}

static void expect_error(const char *in, enum ddb_num_error want)
{
    struct ddb_num v;
    enum ddb_num_error e = ddb_num_parse(in, strlen(in), &v);
    if (e != want)
        fail_msg("%s: got %d, want %d", in, e, want);
}

static void test_errors(void **state)
{
    (void)state;
    const char *invalid[] = {"", "-", "+", ".", "abc", "1a", "1e", "1e+", "1..2", "1.2.3",
                             " 1", "1 ", "0x10", "1e2.5", "--1", "NaN", "Infinity"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        expect_error(invalid[i], DDB_NUM_INVALID);
    expect_error("123456789012345678901234567890123456789", DDB_NUM_PRECISION);
    expect_error("1.23456789012345678901234567890123456789", DDB_NUM_PRECISION);
    expect_error("1E126", DDB_NUM_OVERFLOW);
    expect_error("-1E126", DDB_NUM_OVERFLOW);
    expect_error("1" "0000000000" "0000000000" "0000000000" "0000000000" "0000000000" "0000000000"
                 "0000000000" "0000000000" "0000000000" "0000000000" "0000000000" "0000000000"
                 "0000000000" "0000000000" "0000000000" "0000000000" "0000000000" "0000000000"
                 "0000000000" "0000000000",
                 DDB_NUM_OVERFLOW);
    expect_error("1E-131", DDB_NUM_UNDERFLOW);
    expect_error("1E99999999999", DDB_NUM_OVERFLOW);
    expect_text("9.9999999999999999999999999999999999999E+125",
                "99999999999999999999999999999999999999" "0000000000" "0000000000" "0000000000"
                "0000000000" "0000000000" "0000000000" "0000000000" "0000000000" "00000000");
    assert_string_equal(ddb_num_message(DDB_NUM_PRECISION),
                        "Attempting to store more than 38 significant digits in a Number");
}

static void test_order_and_keys(void **state)
{
    (void)state;
    /* In increasing order. */
    const char *v[] = {"-1E125", "-100", "-10.5", "-10", "-9.99", "-1", "-0.5", "-0.51e-1", "-0.05",
                       "-1E-130", "0", "1E-130", "0.05", "0.051", "0.5", "1", "9.99", "10",
                       "10.5", "100", "1E125"};
    size_t n = sizeof(v) / sizeof(v[0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            struct ddb_num a = num(v[i]), b = num(v[j]);
            int want = i < j ? -1 : i > j ? 1 : 0;
            if (ddb_num_cmp(&a, &b) != want)
                fail_msg("cmp %s %s", v[i], v[j]);
            char ka[DDB_NUM_KEY_MAX], kb[DDB_NUM_KEY_MAX];
            ddb_num_key(&a, ka);
            ddb_num_key(&b, kb);
            int c = strcmp(ka, kb);
            if ((c > 0) - (c < 0) != want)
                fail_msg("key %s (%s) %s (%s)", v[i], ka, v[j], kb);
        }
    struct ddb_num a = num("1.50"), b = num("15e-1");
    assert_int_equal(ddb_num_cmp(&a, &b), 0);
}

static void expect_sum(const char *a, const char *b, const char *sum, const char *diff)
{
    struct ddb_num x = num(a), y = num(b), out;
    char text[DDB_NUM_TEXT_MAX];
    assert_int_equal(ddb_num_add(&x, &y, &out), DDB_NUM_OK);
    ddb_num_text(&out, text);
    if (strcmp(text, sum) != 0)
        fail_msg("%s + %s: got %s, want %s", a, b, text, sum);
    assert_int_equal(ddb_num_sub(&x, &y, &out), DDB_NUM_OK);
    ddb_num_text(&out, text);
    if (strcmp(text, diff) != 0)
        fail_msg("%s - %s: got %s, want %s", a, b, text, diff);
}

static void test_arithmetic(void **state)
{
    (void)state;
    expect_sum("1", "2", "3", "-1");
    expect_sum("0.1", "0.2", "0.3", "-0.1");
    expect_sum("99", "1", "100", "98");
    expect_sum("-5", "3", "-2", "-8");
    expect_sum("5", "-5", "0", "10");
    expect_sum("0", "-7.25", "-7.25", "7.25");
    expect_sum("1E20", "1", "100000000000000000001", "99999999999999999999");
    expect_sum("123.456", "0.544", "124", "122.912");
    expect_sum("99999999999999999999999999999999999999", "-1",
               "99999999999999999999999999999999999998",
               "100000000000000000000000000000000000000");
    struct ddb_num x = num("99999999999999999999999999999999999999"), y = num("0.1"), out;
    assert_int_equal(ddb_num_add(&x, &y, &out), DDB_NUM_PRECISION);
    x = num("9.9999999999999999999999999999999999999E+125");
    y = num("1E+88");
    assert_int_equal(ddb_num_add(&x, &y, &out), DDB_NUM_OVERFLOW);
    x = num("1E125");
    y = num("1E-129");
    assert_int_equal(ddb_num_add(&x, &y, &out), DDB_NUM_PRECISION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalization),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_order_and_keys),
        cmocka_unit_test(test_arithmetic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
