/* Unit tests of the interpreter's core (services/states/step.h): each
 * state type's step over a small machine — where it goes, with what
 * output, what it asks of the caller (a wait, a task, branches, items) —
 * and the error path: retriers' attempts and delays, catchers' error
 * output, States.Runtime and States.NoChoiceMatched. JSON is written with
 * ` for " to keep the tables readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_text.h"
#include "services/states/step.h"

static const char machine[] =
    "{`StartAt`: `P`, `States`: {"
    " `P`: {`Type`: `Pass`, `Result`: {`x`: 1}, `ResultPath`: `$.r`, `Next`: `C`},"
    " `C`: {`Type`: `Choice`, `Choices`: [{`Variable`: `$.r.x`, `NumericEquals`: 1,"
    "        `Next`: `W`}, {`Variable`: `$.r.x`, `NumericEquals`: 3, `Next`: `C2`}],"
    "        `OutputPath`: `$.r`},"
    " `C2`: {`Type`: `Choice`, `Choices`: [{`Variable`: `$.n`, `IsPresent`: true, `Next`: `W`}],"
    "        `Default`: `S`},"
    " `W`: {`Type`: `Wait`, `Seconds`: 10, `Next`: `W2`},"
    " `W2`: {`Type`: `Wait`, `TimestampPath`: `$.at`, `Next`: `W3`},"
    " `W3`: {`Type`: `Wait`, `SecondsPath`: `$.secs`, `Next`: `T`},"
    " `T`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`,"
    "       `Parameters`: {`in.$`: `$.v`}, `TimeoutSecondsPath`: `$.t`, `HeartbeatSeconds`: 2,"
    "       `ResultSelector`: {`p.$`: `$.Payload`}, `ResultPath`: `$.res`,"
    "       `Retry`: [{`ErrorEquals`: [`Busy`], `IntervalSeconds`: 1, `BackoffRate`: 2,"
    "                  `MaxAttempts`: 3, `MaxDelaySeconds`: 3},"
    "                 {`ErrorEquals`: [`States.ALL`], `MaxAttempts`: 0}],"
    "       `Catch`: [{`ErrorEquals`: [`Busy`, `Bad`], `ResultPath`: `$.err`, `Next`: `F`}],"
    "       `Next`: `Par`},"
    " `Par`: {`Type`: `Parallel`, `Branches`: [{`StartAt`: `B`, `States`: {`B`: {`Type`:"
    "          `Succeed`}}}], `ResultPath`: `$.branches`, `Next`: `M`},"
    " `M`: {`Type`: `Map`, `ItemsPath`: `$.list`, `MaxConcurrency`: 4,"
    "       `ItemSelector`: {`i.$`: `$$.Map.Item.Index`, `v.$`: `$$.Map.Item.Value`,"
    "                        `tag.$`: `$.tag`},"
    "       `ItemProcessor`: {`StartAt`: `I`, `States`: {`I`: {`Type`: `Pass`, `End`: true}}},"
    "       `Next`: `S`},"
    " `S`: {`Type`: `Succeed`, `OutputPath`: `$.r`},"
    " `F`: {`Type`: `Fail`, `ErrorPath`: `$.err.Error`,"
    "       `CausePath`: `States.Format('after {}', $.err.Cause)`}}}";

struct fixture {
    struct sl_asl *m;
    json_t *ctx;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char *text = tq(machine);
    struct sl_err err = {0};
    if (sl_asl_parse(text, &f->m, &err))
        fail_msg("the machine: %s", err.msg);
    free(text);
    f->ctx = tload("{`Execution`: {`Name`: `run-1`}}");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_asl_free(f->m);
    json_decref(f->ctx);
    free(f);
    return 0;
}

static size_t at(const struct fixture *f, const char *name)
{
    size_t i = sl_asl_find(f->m, name);
    assert_true(i != SL_ASL_NONE);
    return i;
}

static void want_json(json_t *got, const char *want_text)
{
    json_t *want = tload(want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("got %s, want %s", g ? g : "(null)", want_text);
    }
    json_decref(want);
}

static void test_pass_choice_succeed(void **state)
{
    struct fixture *f = *state;
    struct sl_step st;
    json_t *in = tload("{`v`: 5}");
    sl_step_run(f->m, at(f, "P"), in, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_NEXT);
    assert_int_equal(st.next, at(f, "C"));
    want_json(st.output, "{`v`: 5, `r`: {`x`: 1}}");
    json_t *p_out = json_incref(st.output);
    sl_step_clear(&st);
    sl_step_run(f->m, at(f, "C"), p_out, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_NEXT);
    assert_int_equal(st.next, at(f, "W"));
    want_json(st.output, "{`x`: 1}"); /* (OutputPath) */
    sl_step_clear(&st);
    /* No rule holds and no Default: States.NoChoiceMatched. */
    json_t *other = tload("{`r`: {`x`: 2}}");
    sl_step_run(f->m, at(f, "C"), other, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_FAIL);
    assert_string_equal(st.error, "States.NoChoiceMatched");
    sl_step_clear(&st);
    sl_step_run(f->m, at(f, "C2"), other, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_NEXT);
    assert_int_equal(st.next, at(f, "S")); /* (Default) */
    sl_step_clear(&st);
    /* A Choice whose Variable has no value: States.Runtime. */
    sl_step_run(f->m, at(f, "C"), in, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_FAIL);
    assert_string_equal(st.error, "States.Runtime");
    assert_non_null(strstr(st.cause, "condition path references an invalid value"));
    sl_step_clear(&st);
    sl_step_run(f->m, at(f, "S"), p_out, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_END);
    want_json(st.output, "{`x`: 1}");
    sl_step_clear(&st);
    json_decref(other);
    json_decref(p_out);
    json_decref(in);
}

static void test_wait(void **state)
{
    struct fixture *f = *state;
    struct sl_step st;
    json_t *in = tload("{`at`: `2016-08-18T17:33:00Z`, `secs`: 3}");
    sl_step_run(f->m, at(f, "W"), in, f->ctx, 1000, &st);
    assert_int_equal(st.kind, SL_STEP_WAIT);
    assert_int_equal(st.until_ms, 11000);
    sl_step_clear(&st);
    sl_step_after_wait(f->m, at(f, "W"), in, f->ctx, &st);
    assert_int_equal(st.kind, SL_STEP_NEXT);
    assert_int_equal(st.next, at(f, "W2"));
    assert_true(json_equal(st.output, in));
    sl_step_clear(&st);
    sl_step_run(f->m, at(f, "W2"), in, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_WAIT);
    assert_int_equal(st.until_ms, 1471541580000LL);
    sl_step_clear(&st);
    sl_step_run(f->m, at(f, "W3"), in, f->ctx, 500, &st);
    assert_int_equal(st.kind, SL_STEP_WAIT);
    assert_int_equal(st.until_ms, 3500);
    sl_step_clear(&st);
    json_t *bad = tload("{`at`: `soon`, `secs`: -1}");
    sl_step_run(f->m, at(f, "W2"), bad, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_FAIL);
    assert_string_equal(st.error, "States.Runtime");
    assert_non_null(strstr(st.cause, "RFC 3339"));
    sl_step_clear(&st);
    sl_step_run(f->m, at(f, "W3"), bad, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_FAIL);
    assert_non_null(strstr(st.cause, "non-negative integer"));
    sl_step_clear(&st);
    json_decref(bad);
    json_decref(in);
}

static void test_task_retry_catch(void **state)
{
    struct fixture *f = *state;
    struct sl_step st;
    size_t t = at(f, "T");
    json_t *in = tload("{`v`: 5, `t`: 30}");
    sl_step_run(f->m, t, in, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_TASK);
    assert_string_equal(st.resource, "arn:aws:lambda:us-east-1:1:function:f");
    want_json(st.input, "{`in`: 5}");
    assert_int_equal(st.timeout_ms, 30000);
    assert_int_equal(st.heartbeat_ms, 2000);
    sl_step_clear(&st);
    json_t *result = tload("{`Payload`: `ok`, `StatusCode`: 200}");
    sl_step_result(f->m, t, in, result, f->ctx, &st);
    assert_int_equal(st.kind, SL_STEP_NEXT);
    assert_int_equal(st.next, at(f, "Par"));
    want_json(st.output, "{`v`: 5, `t`: 30, `res`: {`p`: `ok`}}");
    sl_step_clear(&st);
    /* Busy: retried 3 times, 1, 2 then 3 s (MaxDelaySeconds) later; then
     * caught, with the error output at the catcher's ResultPath. */
    unsigned attempts[2] = {0, 0};
    const int64_t delays[] = {1000, 2000, 3000};
    for (int k = 0; k < 3; k++) {
        sl_step_error(f->m, t, in, "Busy", "try later", attempts, f->ctx, 100, &st);
        assert_int_equal(st.kind, SL_STEP_RETRY);
        assert_int_equal(st.until_ms, 100 + delays[k]);
        sl_step_clear(&st);
    }
    sl_step_error(f->m, t, in, "Busy", "try later", attempts, f->ctx, 100, &st);
    assert_int_equal(st.kind, SL_STEP_NEXT);
    assert_int_equal(st.next, at(f, "F"));
    want_json(st.output, "{`v`: 5, `t`: 30, `err`: {`Error`: `Busy`, `Cause`: `try later`}}");
    json_t *caught = json_incref(st.output);
    sl_step_clear(&st);
    /* The Fail state takes its error and cause from there. */
    sl_step_run(f->m, at(f, "F"), caught, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_FAIL);
    assert_string_equal(st.error, "Busy");
    assert_string_equal(st.cause, "after try later");
    sl_step_clear(&st);
    json_decref(caught);
    /* States.ALL's retrier with MaxAttempts 0: no retry; not caught. */
    sl_step_error(f->m, t, in, "Other", "x", attempts, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_FAIL);
    assert_string_equal(st.error, "Other");
    assert_string_equal(st.cause, "x");
    sl_step_clear(&st);
    /* The task's own input processing failing: States.Runtime, which
     * States.ALL does not retry. */
    json_t *no_v = tload("{`t`: 1}");
    sl_step_run(f->m, t, no_v, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_FAIL);
    assert_string_equal(st.error, "States.Runtime");
    assert_non_null(strstr(st.cause, "'$.v'"));
    sl_step_clear(&st);
    json_t *bad_t = tload("{`v`: 1, `t`: `soon`}");
    sl_step_run(f->m, t, bad_t, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_FAIL);
    assert_string_equal(st.error, "States.Runtime");
    sl_step_clear(&st);
    json_decref(bad_t);
    json_decref(no_v);
    json_decref(result);
    json_decref(in);
}

static void test_parallel_and_map(void **state)
{
    struct fixture *f = *state;
    struct sl_step st;
    json_t *in = tload("{`list`: [`a`, `b`], `tag`: 7, `r`: {`x`: 1}}");
    sl_step_run(f->m, at(f, "Par"), in, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_PARALLEL);
    assert_true(json_equal(st.input, in));
    sl_step_clear(&st);
    json_t *branches = tload("[{`done`: true}]");
    sl_step_result(f->m, at(f, "Par"), in, branches, f->ctx, &st);
    assert_int_equal(st.kind, SL_STEP_NEXT);
    want_json(json_object_get(st.output, "branches"), "[{`done`: true}]");
    sl_step_clear(&st);
    sl_step_run(f->m, at(f, "M"), in, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_MAP);
    assert_int_equal(st.max_concurrency, 4);
    want_json(st.items, "[{`i`: 0, `v`: `a`, `tag`: 7}, {`i`: 1, `v`: `b`, `tag`: 7}]");
    sl_step_clear(&st);
    json_t *not_list = tload("{`list`: 3, `tag`: 1}");
    sl_step_run(f->m, at(f, "M"), not_list, f->ctx, 0, &st);
    assert_int_equal(st.kind, SL_STEP_FAIL);
    assert_string_equal(st.error, "States.Runtime");
    sl_step_clear(&st);
    json_decref(not_list);
    json_decref(branches);
    json_decref(in);
}

static void test_retry_delays(void **state)
{
    (void)state;
    struct sl_asl_retrier r = {.interval_s = 2, .backoff = 3, .max_attempts = 5};
    assert_int_equal(sl_step_retry_delay_ms(&r, 1), 2000);
    assert_int_equal(sl_step_retry_delay_ms(&r, 2), 6000);
    assert_int_equal(sl_step_retry_delay_ms(&r, 3), 18000);
    r.max_delay_s = 10;
    assert_int_equal(sl_step_retry_delay_ms(&r, 3), 10000);
    r = (struct sl_asl_retrier){.interval_s = 1, .backoff = 1.5};
    assert_int_equal(sl_step_retry_delay_ms(&r, 3), 2250);
    r.backoff = 1e9;
    assert_int_equal(sl_step_retry_delay_ms(&r, 50), 31622400000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_choice_succeed),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_task_retry_catch),
        cmocka_unit_test(test_parallel_and_map),
        cmocka_unit_test(test_retry_delays),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
