/* Unit tests of the States Language's intrinsic functions
 * (services/states/intrinsic.h): each function over the input of AWS's
 * "Intrinsic functions" examples, calls inside calls, the context object,
 * calls that must not compile and calls that fail when evaluated. JSON is
 * written with ` for " to keep the tables readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_text.h"

#include "services/states/intrinsic.h"

static const char input_text[] =
    "{`name`: `Arnav`, `someString`: `{\\`number\\`: 20}`,"
    " `someJson`: {`name`: `Foo`, `year`: 2020},"
    " `inputArray`: [1, 2, 3, 4, 5, 6, 7, 8, 9], `lookingFor`: 5, `index`: 5,"
    " `dupes`: [1, 2, 3, 3, 3, 3, 3, 3, 4],"
    " `json1`: {`a`: {`a1`: 1, `a2`: 2}, `b`: 2}, `json2`: {`a`: {`a3`: 1, `a4`: 2}, `c`: 3}}";



/* call over the input and a context: its value, or NULL with err. */
static json_t *eval(const char *call, struct sl_err *err, int *rc)
{
    json_t *input = tload(input_text);
    json_t *ctx = tload("{`Execution`: {`Name`: `run-1`}}");
    struct sl_intrinsic *f = NULL;
    json_t *out = NULL;
    *rc = sl_intrinsic_compile(call, &f, err);
    if (*rc)
        fail_msg("%s does not compile: %s", call, err->msg);
    *rc = sl_intrinsic_eval(f, input, ctx, &out, err);
    sl_intrinsic_free(f);
    json_decref(input);
    json_decref(ctx);
    return out;
}

static void test_functions(void **state)
{
    (void)state;
    static const struct {
        const char *call, *want;
    } cases[] = {
        {"States.Format('Hello, my name is {}.', $.name)", "`Hello, my name is Arnav.`"},
        {"States.Format('{} \\{\\} \\'q\\' \\\\', 'a')", "`a {} 'q' \\\\`"},
        {"States.Format('{}-{}-{}-{}', 1, 2.5, true, null)", "`1-2.5-true-null`"},
        {"States.Format('{} ran', $$.Execution.Name)", "`run-1 ran`"},
        {"States.StringToJson($.someString)", "{`number`: 20}"},
        {"States.JsonToString($.someJson)", "`{\\`name\\`:\\`Foo\\`,\\`year\\`:2020}`"},
        {"States.Array('Foo', 2020, $.someJson, null)",
         "[`Foo`, 2020, {`name`: `Foo`, `year`: 2020}, null]"},
        {"States.Array()", "[]"},
        {"States.ArrayPartition($.inputArray, 4)", "[[1, 2, 3, 4], [5, 6, 7, 8], [9]]"},
        {"States.ArrayContains($.inputArray, $.lookingFor)", "true"},
        {"States.ArrayContains($.inputArray, 'x')", "false"},
        {"States.ArrayRange(1, 9, 2)", "[1, 3, 5, 7, 9]"},
        {"States.ArrayRange(5, 1, -2)", "[5, 3, 1]"},
        {"States.ArrayRange(1, 0, 1)", "[]"},
        {"States.ArrayGetItem($.inputArray, $.index)", "6"},
        {"States.ArrayLength($.inputArray)", "9"},
        {"States.ArrayUnique($.dupes)", "[1, 2, 3, 4]"},
        {"States.Base64Encode('Data to encode')", "`RGF0YSB0byBlbmNvZGU=`"},
        {"States.Base64Decode('RGVjb2RlZCBkYXRh')", "`Decoded data`"},
        {"States.Hash('Input data', 'SHA-1')", "`3f43a2e4863dbf39da8cfbd5e4e557f3052ec269`"},
        {"States.Hash('abc', 'SHA-256')",
         "`ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad`"},
        {"States.Hash('abc', 'MD5')", "`900150983cd24fb0d6963f7d28e17f72`"},
        {"States.JsonMerge($.json1, $.json2, false)",
         "{`a`: {`a3`: 1, `a4`: 2}, `b`: 2, `c`: 3}"},
        {"States.MathAdd(111, -1)", "110"},
        {"States.MathAdd($.lookingFor, 1)", "6"},
        {"States.StringSplit('1,2,3,4,5', ',')", "[`1`, `2`, `3`, `4`, `5`]"},
        {"States.StringSplit('This.is+a,test=string', '.+,=')",
         "[`This`, `is`, `a`, `test`, `string`]"},
        {"States.ArrayLength(States.Array(1, 2, 3))", "3"},
        {"States.Format('{}', States.MathAdd(1, 2))", "`3`"},
        {"States.Array( $['name'] , $.inputArray[0] )", "[`Arnav`, 1]"},
        {"States.ArrayLength($.inputArray[?(@ > 0)])", "9"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        struct sl_err err = {0};
        int rc;
        json_t *got = eval(cases[i].call, &err, &rc);
        if (rc)
            fail_msg("%s failed: %s", cases[i].call, err.msg);
        json_t *want = tload(cases[i].want);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
            fail_msg("%s gave %s, want %s", cases[i].call, g, cases[i].want);
        }
        json_decref(got);
        json_decref(want);
    }
}

static void test_random_and_uuid(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++) {
        struct sl_err err = {0};
        int rc;
        json_t *r = eval("States.MathRandom(1, 4)", &err, &rc);
        assert_int_equal(rc, 0);
        assert_true(json_integer_value(r) >= 1 && json_integer_value(r) < 4);
        json_decref(r);
    }
    struct sl_err err = {0};
    int rc;
    json_t *a = eval("States.MathRandom(0, 1000000, 7)", &err, &rc);
    json_t *b = eval("States.MathRandom(0, 1000000, 7)", &err, &rc);
    assert_true(json_equal(a, b)); /* (a seed repeats) */
    json_decref(a);
    json_decref(b);
    json_t *u = eval("States.UUID()", &err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(json_string_value(u)), 36);
    assert_int_equal(json_string_value(u)[14], '4');
    json_decref(u);
    assert_true(sl_intrinsic_is_call("States.UUID()"));
    assert_false(sl_intrinsic_is_call("$.a"));
    assert_false(sl_intrinsic_is_call("States.()"));
    assert_false(sl_intrinsic_is_call("Statesx.UUID()"));
}

static void test_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *call, *msg;
    } bad[] = {
        {"States.Nope()", "there is no function States.Nope"},
        {"States.Format()", "takes at least 1 argument"},
        {"States.ArrayLength(1, 2)", "takes 1 argument, not 2"},
        {"States.MathRandom(1)", "takes 2 to 3 arguments, not 1"},
        {"States.Format('x", "unterminated string"},
        {"States.Format('\\q')", "an escape other than"},
        {"States.Array(1 2)", ", or ) was expected"},
        {"States.Array(1) x", "text after the call"},
        {"States.Array(foo)", "an argument must be"},
        {"States.Array($.a[)", "is not valid"},
        {"States.UUID", "( was expected"},
        {"$.a", "must name a States. function"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        struct sl_intrinsic *f = NULL;
        struct sl_err err = {0};
        int rc = sl_intrinsic_compile(bad[i].call, &f, &err);
        if (rc != SL_EINVAL)
            fail_msg("%s compiled (%d)", bad[i].call, rc);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: message %s, want %s", bad[i].call, err.msg, bad[i].msg);
    }
    /* Deep nesting is refused, not recursed into. */
    char deep[2048] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "States.Array(");
    for (int i = 0; i < 40; i++)
        strcat(deep, ")");
    struct sl_intrinsic *f = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_intrinsic_compile(deep, &f, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "nested too deeply"));
}

static void test_failures(void **state)
{
    (void)state;
    static const struct {
        const char *call, *msg;
    } bad[] = {
        {"States.ArrayGetItem($.inputArray, 9)", "out of bounds"},
        {"States.ArrayGetItem($.name, 0)", "first argument of States.ArrayGetItem must be an "
                                           "array"},
        {"States.MathAdd(2147483647, 1)", "out of the integer range"},
        {"States.MathAdd(1.5, 1)", "must be an integer"},
        {"States.Format('{} {}', 'a')", "more placeholders"},
        {"States.Format('{}', 'a', 'b')", "2 arguments for 1 placeholders"},
        {"States.Format('{}', $.someJson)", "a string, number, boolean or null"},
        {"States.ArrayRange(1, 2000, 1)", "more than the 1000 allowed"},
        {"States.ArrayRange(1, 2, 0)", "step must not be 0"},
        {"States.Base64Decode('%%%')", "not base64"},
        {"States.StringToJson('{')", "not JSON"},
        {"States.Hash('x', 'SHA-3')", "one of MD5"},
        {"States.JsonMerge($.json1, $.json2, true)", "only a shallow merge"},
        {"States.MathRandom(5, 5)", "greater than its start"},
        {"States.ArrayPartition($.inputArray, 0)", "a positive integer"},
        {"States.ArrayLength($.missing)", "The path '$.missing' in States.ArrayLength has no "
                                          "value"},
        {"States.Format('{}', $$.Nope)", "has no value"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        struct sl_err err = {0};
        int rc;
        json_t *got = eval(bad[i].call, &err, &rc);
        if (rc != SL_EINVAL)
            fail_msg("%s did not fail (%d)", bad[i].call, rc);
        assert_null(got);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: message %s, want %s", bad[i].call, err.msg, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_random_and_uuid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
