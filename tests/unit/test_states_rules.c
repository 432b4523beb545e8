/* Unit tests of the States Language's payload templates
 * (services/states/template.h) and Choice rules (services/states/choice.h):
 * templates with paths, the context object and calls at every depth, and
 * the definitions they refuse; a table of rules over one input with
 * whether each holds (AWS's examples first), RFC 3339 timestamps, rules
 * that must not compile and rules that fail at run time. JSON is written
 * with ` for " to keep the tables readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_text.h"

#include "services/states/choice.h"
#include "services/states/template.h"


static const char input_text[] =
    "{`type`: `Private`, `value`: 22, `rating`: 4.5, `flag`: true, `nothing`: null,"
    " `name`: `log-2024.txt`, `when`: `2016-08-18T17:33:00Z`, `other`: 21,"
    " `list`: [1, 2, 3], `nested`: {`a`: {`b`: `deep`}}, `star`: `a*b`}";

/* ---- templates ---------------------------------------------------------------------- */

static void test_templates(void **state)
{
    (void)state;
    static const struct {
        const char *tpl, *want;
    } cases[] = {
        {"{`comment`: `x`, `n.$`: `$.value`}", "{`comment`: `x`, `n`: 22}"},
        {"{`a`: {`b.$`: `$.nested.a.b`, `c`: [1, {`d.$`: `$.list[1]`}]}}",
         "{`a`: {`b`: `deep`, `c`: [1, {`d`: 2}]}}"},
        {"{`exec.$`: `$$.Execution.Name`, `all.$`: `$`}",
         "{`exec`: `run-1`, `all`: " /* (the input) */ "null}"},
        {"{`msg.$`: `States.Format('{} is {}', $.type, $.value)`}",
         "{`msg`: `Private is 22`}"},
        {"{`odd.$`: `$.list[?(@ > 1)]`}", "{`odd`: [2, 3]}"},
        {"[1, `two`, {`k`: `v`}]", "[1, `two`, {`k`: `v`}]"},
        {"`plain`", "`plain`"},
        {"{`keep$`: `$.value`, `k.$x`: 1}", "{`keep$`: `$.value`, `k.$x`: 1}"},
    };
    json_t *input = tload(input_text);
    json_t *ctx = tload("{`Execution`: {`Name`: `run-1`}}");
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        json_t *tpl = tload(cases[i].tpl), *want = tload(cases[i].want), *got = NULL;
        if (json_is_object(want) && json_object_get(want, "all"))
            json_object_set(want, "all", input);
        struct sl_template *t = NULL;
        struct sl_err err = {0};
        if (sl_template_compile(tpl, &t, &err))
            fail_msg("%s does not compile: %s", cases[i].tpl, err.msg);
        if (sl_template_eval(t, input, ctx, &got, &err))
            fail_msg("%s failed: %s", cases[i].tpl, err.msg);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
            fail_msg("%s gave %s, want %s", cases[i].tpl, g, cases[i].want);
        }
        json_decref(got);
        json_decref(want);
        json_decref(tpl);
        sl_template_free(t);
    }
    /* Refused when compiled. */
    static const struct {
        const char *tpl, *msg;
    } bad[] = {
        {"{`n.$`: 5}", "The value for the field 'n.$' must be a valid JSONPath"},
        {"{`n.$`: `value`}", "must be a valid JSONPath or a valid intrinsic"},
        {"{`n.$`: `$.a[`}", "is not valid"},
        {"{`n.$`: `States.Nope()`}", "there is no function"},
        {"{`a`: {`deep.$`: `$..`}}", "a name was expected"},
        {"{`n`: 1, `n.$`: `$.value`}", "given twice"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        json_t *tpl = tload(bad[i].tpl);
        struct sl_template *t = NULL;
        struct sl_err err = {0};
        if (sl_template_compile(tpl, &t, &err) != SL_EINVAL)
            fail_msg("%s compiled", bad[i].tpl);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: message %s, want %s", bad[i].tpl, err.msg, bad[i].msg);
        json_decref(tpl);
    }
    /* A path with no value fails when evaluated, naming it. */
    json_t *tpl = tload("{`x.$`: `$.missing`}"), *got = NULL;
    struct sl_template *t = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_template_compile(tpl, &t, &err), 0);
    assert_int_equal(sl_template_eval(t, input, ctx, &got, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "The JSONPath '$.missing' specified for the field 'x.$' "
                                    "could not be found in the input"));
    assert_null(got);
    sl_template_free(t);
    json_decref(tpl);
    json_decref(input);
    json_decref(ctx);
}

/* ---- choice rules ------------------------------------------------------------------------ */

static void test_rules(void **state)
{
    (void)state;
    static const struct {
        const char *rule;
        bool holds;
    } cases[] = {
        /* AWS's example rules */
        {"{`Not`: {`Variable`: `$.type`, `StringEquals`: `Private`}}", false},
        {"{`Variable`: `$.value`, `NumericEquals`: 0}", false},
        {"{`And`: [{`Variable`: `$.value`, `NumericGreaterThanEquals`: 20},"
         " {`Variable`: `$.value`, `NumericLessThan`: 30}]}", true},
        /* strings */
        {"{`Variable`: `$.type`, `StringEquals`: `Private`}", true},
        {"{`Variable`: `$.type`, `StringLessThan`: `Q`}", true},
        {"{`Variable`: `$.type`, `StringGreaterThan`: `Q`}", false},
        {"{`Variable`: `$.type`, `StringLessThanEquals`: `Private`}", true},
        {"{`Variable`: `$.type`, `StringGreaterThanEquals`: `Privatf`}", false},
        {"{`Variable`: `$.value`, `StringEquals`: `22`}", false},
        {"{`Variable`: `$.name`, `StringMatches`: `log-*.txt`}", true},
        {"{`Variable`: `$.name`, `StringMatches`: `*.csv`}", false},
        {"{`Variable`: `$.name`, `StringMatches`: `*`}", true},
        {"{`Variable`: `$.name`, `StringMatches`: `log*2024*`}", true},
        {"{`Variable`: `$.star`, `StringMatches`: `a\\\\*b`}", true},
        {"{`Variable`: `$.name`, `StringMatches`: `log\\\\*`}", false},
        /* numbers */
        {"{`Variable`: `$.value`, `NumericEquals`: 22}", true},
        {"{`Variable`: `$.value`, `NumericEquals`: 22.0}", true},
        {"{`Variable`: `$.rating`, `NumericGreaterThan`: 4}", true},
        {"{`Variable`: `$.rating`, `NumericLessThanEquals`: 4.5}", true},
        {"{`Variable`: `$.type`, `NumericEquals`: 1}", false},
        {"{`Variable`: `$.value`, `NumericGreaterThanPath`: `$.other`}", true},
        {"{`Variable`: `$.value`, `NumericEqualsPath`: `$.other`}", false},
        /* booleans */
        {"{`Variable`: `$.flag`, `BooleanEquals`: true}", true},
        {"{`Variable`: `$.flag`, `BooleanEquals`: false}", false},
        {"{`Variable`: `$.flag`, `BooleanEqualsPath`: `$.flag`}", true},
        /* timestamps */
        {"{`Variable`: `$.when`, `TimestampEquals`: `2016-08-18T17:33:00Z`}", true},
        {"{`Variable`: `$.when`, `TimestampEquals`: `2016-08-18T19:33:00+02:00`}", true},
        {"{`Variable`: `$.when`, `TimestampLessThan`: `2016-08-18T17:33:00.001Z`}", true},
        {"{`Variable`: `$.when`, `TimestampGreaterThan`: `2016-01-01T00:00:00Z`}", true},
        {"{`Variable`: `$.when`, `TimestampLessThanEquals`: `2015-12-31T23:59:59Z`}", false},
        {"{`Variable`: `$.name`, `TimestampEquals`: `2016-08-18T17:33:00Z`}", false},
        {"{`Variable`: `$.when`, `TimestampEqualsPath`: `$.when`}", true},
        /* type tests */
        {"{`Variable`: `$.nothing`, `IsNull`: true}", true},
        {"{`Variable`: `$.value`, `IsNull`: true}", false},
        {"{`Variable`: `$.missing`, `IsPresent`: false}", true},
        {"{`Variable`: `$.missing`, `IsPresent`: true}", false},
        {"{`Variable`: `$.nothing`, `IsPresent`: true}", true},
        {"{`Variable`: `$.value`, `IsNumeric`: true}", true},
        {"{`Variable`: `$.type`, `IsNumeric`: false}", true},
        {"{`Variable`: `$.type`, `IsString`: true}", true},
        {"{`Variable`: `$.flag`, `IsBoolean`: true}", true},
        {"{`Variable`: `$.when`, `IsTimestamp`: true}", true},
        {"{`Variable`: `$.name`, `IsTimestamp`: true}", false},
        /* And, Or, Not, nested; context; a path with many matches */
        {"{`Or`: [{`Variable`: `$.type`, `StringEquals`: `Public`},"
         " {`Not`: {`Variable`: `$.flag`, `BooleanEquals`: false}}]}", true},
        {"{`And`: [{`Variable`: `$.missing`, `IsPresent`: true},"
         " {`Variable`: `$.missing`, `StringEquals`: `x`}]}", false},
        {"{`Or`: [{`Variable`: `$.type`, `IsString`: true},"
         " {`Variable`: `$.missing`, `StringEquals`: `x`}]}", true},
        {"{`Variable`: `$$.Execution.Name`, `StringEquals`: `run-1`}", true},
        {"{`Variable`: `$.list[*]`, `IsPresent`: true}", true},
    };
    json_t *input = tload(input_text);
    json_t *ctx = tload("{`Execution`: {`Name`: `run-1`}}");
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        json_t *rule = tload(cases[i].rule);
        struct sl_choice_rule *r = NULL;
        struct sl_err err = {0};
        if (sl_choice_compile(rule, false, &r, &err))
            fail_msg("%s does not compile: %s", cases[i].rule, err.msg);
        bool holds = !cases[i].holds;
        if (sl_choice_eval(r, input, ctx, &holds, &err))
            fail_msg("%s failed: %s", cases[i].rule, err.msg);
        if (holds != cases[i].holds)
            fail_msg("%s: %s, want %s", cases[i].rule, holds ? "holds" : "does not hold",
                     cases[i].holds ? "holds" : "does not hold");
        sl_choice_free(r);
        json_decref(rule);
    }
    /* Run-time errors: a Variable or ...Path without a value. */
    static const char *const failing[] = {
        "{`Variable`: `$.missing`, `StringEquals`: `x`}",
        "{`Variable`: `$.value`, `NumericEqualsPath`: `$.missing`}",
        "{`Not`: {`Variable`: `$.missing`, `IsNull`: true}}",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(failing); i++) {
        json_t *rule = tload(failing[i]);
        struct sl_choice_rule *r = NULL;
        struct sl_err err = {0};
        assert_int_equal(sl_choice_compile(rule, false, &r, &err), 0);
        bool holds;
        if (sl_choice_eval(r, input, ctx, &holds, &err) != SL_EINVAL)
            fail_msg("%s did not fail", failing[i]);
        assert_non_null(strstr(err.msg, "The choice state's condition path references an "
                                        "invalid value"));
        sl_choice_free(r);
        json_decref(rule);
    }
    json_decref(input);
    json_decref(ctx);
}

static void test_invalid_rules(void **state)
{
    (void)state;
    static const struct {
        const char *rule;
        bool top;
        const char *msg;
    } bad[] = {
        {"{`Variable`: `$.a`, `StringEquals`: `x`}", true, "must have a string field 'Next'"},
        {"{`Variable`: `$.a`, `StringEquals`: `x`, `Next`: `B`}", false,
         "may not have a field 'Next'"},
        {"{`StringEquals`: `x`}", false, "field 'Variable'"},
        {"{`Variable`: `a`, `StringEquals`: `x`}", false, "'Variable' is not valid"},
        {"{`Variable`: `$.a`}", false, "must have a comparison operator"},
        {"{`Variable`: `$.a`, `StringEquals`: `x`, `NumericEquals`: 1}", false,
         "one operator"},
        {"{`Variable`: `$.a`, `StringEqual`: `x`}", false, "not a comparison operator"},
        {"{`Variable`: `$.a`, `StringMatchesPath`: `$.b`}", false, "not a comparison"},
        {"{`Variable`: `$.a`, `NumericEquals`: `1`}", false, "must be a number"},
        {"{`Variable`: `$.a`, `BooleanEquals`: 1}", false, "must be a boolean"},
        {"{`Variable`: `$.a`, `IsNull`: `yes`}", false, "must be a boolean"},
        {"{`Variable`: `$.a`, `TimestampEquals`: `2016-08-18 17:33:00Z`}", false,
         "RFC 3339"},
        {"{`Variable`: `$.a`, `TimestampEquals`: `2016-02-30T00:00:00Z`}", false,
         "RFC 3339"},
        {"{`Variable`: `$.a`, `StringEqualsPath`: `b`}", false, "must be a valid JSONPath"},
        {"{`And`: []}", false, "non-empty array"},
        {"{`Or`: {`Variable`: `$.a`, `IsNull`: true}}", false, "non-empty array"},
        {"{`And`: [{`Variable`: `$.a`, `IsNull`: true, `Next`: `X`}]}", false,
         "may not have a field 'Next'"},
        {"{`And`: [{`Variable`: `$.a`, `IsNull`: true}], `Variable`: `$.b`}", false,
         "not valid beside"},
        {"{`And`: [{`Variable`: `$.a`, `IsNull`: true}], `Not`: {`Variable`: `$.a`, "
         "`IsNull`: true}}",
         false, "one of And, Or and Not"},
        {"`rule`", false, "must be an object"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        json_t *rule = tload(bad[i].rule);
        struct sl_choice_rule *r = NULL;
        struct sl_err err = {0};
        if (sl_choice_compile(rule, bad[i].top, &r, &err) != SL_EINVAL)
            fail_msg("%s compiled", bad[i].rule);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: message %s, want %s", bad[i].rule, err.msg, bad[i].msg);
        json_decref(rule);
    }
}

static void test_timestamps(void **state)
{
    (void)state;
    int64_t us;
    assert_true(sl_rfc3339_parse("1970-01-01T00:00:00Z", &us));
    assert_int_equal(us, 0);
    assert_true(sl_rfc3339_parse("2016-08-18T17:33:00Z", &us));
    assert_int_equal(us, 1471541580LL * 1000000);
    assert_true(sl_rfc3339_parse("2016-08-18T17:33:00.5+01:00", &us));
    assert_int_equal(us, (1471541580LL - 3600) * 1000000 + 500000);
    assert_true(sl_rfc3339_parse("2024-02-29T23:59:59.123456789Z", &us));
    assert_true(sl_rfc3339_parse("1969-12-31T23:59:59Z", &us));
    assert_int_equal(us, -1000000);
    static const char *const bad[] = {
        "2016-08-18t17:33:00Z", "2016-08-18T17:33:00z", "2016-08-18T17:33:00",
        "2023-02-29T00:00:00Z", "2016-13-01T00:00:00Z", "2016-08-18T24:00:00Z",
        "2016-08-18T17:33:00.Z", "2016-08-18T17:33:00+0100", "16-08-18T17:33:00Z",
        "2016-08-18T17:33:00Zx", "",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        if (sl_rfc3339_parse(bad[i], &us))
            fail_msg("%s parsed", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_invalid_rules),
        cmocka_unit_test(test_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
