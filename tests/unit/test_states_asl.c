/* Unit tests of state machine definitions (services/states/asl.h):
 * definitions of every state type that must parse, with their fields and
 * transitions checked; a table of definitions Step Functions refuses,
 * each with the message it must give (code, what, where); input and
 * output processing as AWS's "Input and output processing" example shows
 * it; and the predefined error names' matching. JSON is written with `
 * for " to keep the tables readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_text.h"

#include "services/states/asl.h"


static struct sl_asl *parse_ok(const char *text)
{
    char *t = tq(text);
    struct sl_asl *m = NULL;
    struct sl_err err = {0};
    if (sl_asl_parse(t, &m, &err))
        fail_msg("%s: %s", text, err.msg);
    free(t);
    return m;
}


static void test_valid(void **state)
{
    (void)state;
    struct sl_asl *m = parse_ok(
        "{`Comment`: `every type`, `StartAt`: `P`, `TimeoutSeconds`: 60, `States`: {"
        " `P`: {`Type`: `Pass`, `Result`: {`x`: 1}, `ResultPath`: `$.r`, `Next`: `C`},"
        " `C`: {`Type`: `Choice`, `Choices`: [{`Variable`: `$.r.x`, `NumericEquals`: 1,"
        "        `Next`: `T`}], `Default`: `F`},"
        " `T`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`,"
        "       `TimeoutSeconds`: 10, `HeartbeatSeconds`: 5,"
        "       `Retry`: [{`ErrorEquals`: [`States.Timeout`], `MaxAttempts`: 2,"
        "                  `BackoffRate`: 1.5, `JitterStrategy`: `FULL`},"
        "                 {`ErrorEquals`: [`States.ALL`]}],"
        "       `Catch`: [{`ErrorEquals`: [`States.ALL`], `ResultPath`: `$.err`, `Next`: `F`}],"
        "       `Next`: `W`},"
        " `W`: {`Type`: `Wait`, `SecondsPath`: `$.wait`, `Next`: `Par`},"
        " `Par`: {`Type`: `Parallel`, `Branches`: [{`StartAt`: `B`, `States`: {"
        "          `B`: {`Type`: `Succeed`}}}], `Next`: `M`},"
        " `M`: {`Type`: `Map`, `ItemsPath`: `$.items`, `MaxConcurrency`: 2,"
        "       `ItemSelector`: {`v.$`: `$$.Map.Item.Value`},"
        "       `ItemProcessor`: {`StartAt`: `I`, `States`: {`I`: {`Type`: `Pass`, `End`: true}}},"
        "       `ToleratedFailurePercentage`: 10, `End`: true},"
        " `F`: {`Type`: `Fail`, `Error`: `Oops`, `CausePath`: `States.Format('{}', $.r)`}}}");
    assert_int_equal(m->n, 7);
    assert_int_equal(m->timeout_s, 60);
    const struct sl_asl_state *p = &m->states[m->start];
    assert_string_equal(p->name, "P");
    assert_int_equal(p->type, SL_ASL_PASS);
    const struct sl_asl_state *c = &m->states[p->next];
    assert_int_equal(c->type, SL_ASL_CHOICE);
    assert_int_equal(c->nchoices, 1);
    assert_string_equal(m->states[c->choices[0].next].name, "T");
    assert_string_equal(m->states[c->default_next].name, "F");
    const struct sl_asl_state *t = &m->states[sl_asl_find(m, "T")];
    assert_int_equal(t->nretry, 2);
    assert_true(t->retry[0].backoff == 1.5 && t->retry[0].max_attempts == 2);
    assert_true(t->retry[0].jitter_full);
    assert_true(t->retry[1].interval_s == 1 && t->retry[1].max_attempts == 3);
    assert_int_equal(t->ncatch, 1);
    assert_string_equal(m->states[t->catch_[0].next].name, "F");
    assert_true(t->timeout.value == 10 && t->heartbeat.value == 5);
    const struct sl_asl_state *par = &m->states[sl_asl_find(m, "Par")];
    assert_int_equal(par->nbranches, 1);
    assert_int_equal(par->branches[0]->states[0].type, SL_ASL_SUCCEED);
    const struct sl_asl_state *map = &m->states[sl_asl_find(m, "M")];
    assert_non_null(map->processor);
    assert_int_equal(map->max_concurrency, 2);
    assert_int_equal(map->next, SL_ASL_NONE);
    assert_true(map->tolerated_percentage == 10);
    const struct sl_asl_state *f = &m->states[sl_asl_find(m, "F")];
    assert_string_equal(f->error.text, "Oops");
    assert_non_null(f->cause.call);
    assert_int_equal(sl_asl_find(m, "Nope"), SL_ASL_NONE);
    sl_asl_free(m);
    /* The old Iterator, a distributed Map with an ItemReader. */
    m = parse_ok("{`StartAt`: `M`, `States`: {`M`: {`Type`: `Map`, `Iterator`: {`StartAt`: `I`,"
                 " `States`: {`I`: {`Type`: `Pass`, `End`: true}}}, `End`: true}}}");
    sl_asl_free(m);
    m = parse_ok("{`StartAt`: `M`, `States`: {`M`: {`Type`: `Map`, `ItemReader`: {`Resource`:"
                 " `arn:aws:states:::s3:getObject`, `ReaderConfig`: {`InputType`: `CSV`,"
                 " `CSVHeaderLocation`: `GIVEN`, `CSVHeaders`: [`a`]}, `Parameters`: {`Bucket`:"
                 " `b`, `Key.$`: `$.k`}}, `ItemProcessor`: {`ProcessorConfig`:"
                 " {`Mode`: `DISTRIBUTED`, `ExecutionType`: `EXPRESS`}, `StartAt`: `I`,"
                 " `States`: {`I`: {`Type`: `Pass`, `End`: true}}}, `End`: true}}}");
    assert_true(m->states[0].distributed);
    assert_non_null(m->states[0].item_reader);
    assert_string_equal(m->states[0].reader_type, "CSV");
    assert_int_equal(json_array_size(m->states[0].csv_headers), 1);
    sl_asl_free(m);
}

static void test_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *def, *msg;
    } bad[] = {
        {"{`StartAt`: ", "INVALID_JSON_DESCRIPTION"},
        {"{`States`: {`A`: {`Type`: `Succeed`}}}", "The field 'StartAt' must be"},
        {"{`StartAt`: `A`, `States`: {}}", "'States' must be a non-empty object"},
        {"{`StartAt`: `X`, `States`: {`A`: {`Type`: `Succeed`}}}",
         "MISSING_TRANSITION_TARGET: Missing 'StartAt' target: X at /StartAt"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`, `Next`: `Nope`}}}",
         "MISSING_TRANSITION_TARGET: Missing 'Next' target: Nope at /States/A/Next"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Succeed`}, `B`: {`Type`: `Succeed`}}}",
         "UNREACHABLE_STATE: State \"B\" is not reachable at /States/B"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`, `Next`: `A`, `End`: true}}}",
         "'Next' or 'End', not both at /States/A"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`}}}", "must have 'Next' or 'End'"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Nap`, `End`: true}}}",
         "The field 'Type' must be one of"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`, `End`: true, `Foo`: 1}}}",
         "Field 'Foo' is not supported by a Pass state at /States/A"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`, `End`: true, `InputPath`: `x`}}}",
         "The value for the field 'InputPath' must be a valid JSONPath at /States/A/InputPath"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`, `End`: true, `ResultPath`: "
         "`$.a[*]`}}}",
         "'ResultPath' must be a valid Reference Path"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`, `End`: true, `Parameters`: "
         "{`x.$`: `nope`}}}}",
         "The value for the field 'x.$' must be a valid JSONPath or a valid intrinsic function "
         "call at /States/A/Parameters"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Choice`, `Choices`: [{`Variable`: `$.a`,"
         " `IsNull`: true, `Next`: `B`}], `Next`: `B`}, `B`: {`Type`: `Succeed`}}}",
         "Field 'Next' is not supported by a Choice state"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Choice`, `Choices`: [{`Variable`: `$.a`,"
         " `IsNull`: true}]}}}",
         "must have a string field 'Next' at /States/A/Choices[0]"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Choice`, `Choices`: [{`Variable`: `$.a`,"
         " `IsNull`: true, `Next`: `Z`}]}}}",
         "Missing 'Next' target: Z at /States/A/Choices[0]/Next"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Choice`, `Choices`: []}}}",
         "non-empty array 'Choices'"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Wait`, `Seconds`: 1, `Timestamp`: "
         "`2020-01-01T00:00:00Z`, `End`: true}}}",
         "exactly one of 'Seconds'"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Wait`, `Timestamp`: `tomorrow`, `End`: "
         "true}}}",
         "RFC 3339"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Wait`, `Seconds`: -1, `End`: true}}}",
         "'Seconds' must be an integer"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Fail`, `Error`: `E`, `ErrorPath`: `$.e`}}}",
         "'Error' and 'ErrorPath' are mutually exclusive"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Fail`, `CausePath`: `cause`}}}",
         "'CausePath' must be a valid JSONPath or a valid intrinsic"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `End`: true}}}",
         "must have a string field 'Resource'"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `Resource`: `f`, `End`: true}}}",
         "'Resource' must be an ARN"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`, `End`: true,"
         " `TimeoutSeconds`: 5, `HeartbeatSeconds`: 5}}}",
         "HeartbeatSeconds must be smaller"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`, `End`: true,"
         " `TimeoutSeconds`: 5, `TimeoutSecondsPath`: `$.t`}}}",
         "mutually exclusive"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`, `End`: true,"
         " `Retry`: [{`ErrorEquals`: [`States.ALL`]}, {`ErrorEquals`: [`E`]}]}}}",
         "States.ALL must be the last at /States/A/Retry[0]"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`, `End`: true,"
         " `Retry`: [{`ErrorEquals`: [`States.ALL`, `E`]}]}}}",
         "States.ALL must appear alone"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`, `End`: true,"
         " `Retry`: [{`ErrorEquals`: [`E`], `BackoffRate`: 0.5}]}}}",
         "'BackoffRate' is not valid at /States/A/Retry[0]"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`, `End`: true,"
         " `Retry`: [{`ErrorEquals`: []}]}}}",
         "non-empty array of error names"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`, `End`: true,"
         " `Catch`: [{`ErrorEquals`: [`E`], `Next`: `Z`}]}}}",
         "Missing 'Next' target: Z at /States/A/Catch[0]/Next"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`, `End`: true,"
         " `Catch`: [{`ErrorEquals`: [`E`]}]}}}",
         "A catcher must have a string field 'Next'"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Parallel`, `End`: true, `Branches`: [{"
         "`StartAt`: `B`, `States`: {`B`: {`Type`: `Pass`, `Next`: `Q`}}}]}}}",
         "Missing 'Next' target: Q at /States/A/Branches[0]/States/B/Next"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Parallel`, `End`: true, `Branches`: []}}}",
         "non-empty array 'Branches'"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Map`, `End`: true}}}",
         "must have an object 'ItemProcessor'"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Map`, `End`: true, `ItemReader`: {},"
         " `ItemProcessor`: {`StartAt`: `I`, `States`: {`I`: {`Type`: `Succeed`}}}}}}",
         "need ProcessorConfig Mode DISTRIBUTED"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Map`, `End`: true, `ItemReader`:"
         " {`Resource`: `arn:aws:states:::s3:getObject`, `Parameters`: {}},"
         " `ItemProcessor`: {`ProcessorConfig`: {`Mode`: `DISTRIBUTED`}, `StartAt`: `I`,"
         " `States`: {`I`: {`Type`: `Succeed`}}}}}}",
         "InputType must be JSON, JSONL or CSV"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Map`, `End`: true, `ItemReader`:"
         " {`Resource`: `arn:aws:states:::s3:putObject`, `Parameters`: {}},"
         " `ItemProcessor`: {`ProcessorConfig`: {`Mode`: `DISTRIBUTED`}, `StartAt`: `I`,"
         " `States`: {`I`: {`Type`: `Succeed`}}}}}}",
         "not arn:aws:states:::s3:putObject"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Map`, `End`: true, `ResultWriter`:"
         " {`Resource`: `arn:aws:states:::s3:getObject`, `Parameters`: {}},"
         " `ItemProcessor`: {`ProcessorConfig`: {`Mode`: `DISTRIBUTED`}, `StartAt`: `I`,"
         " `States`: {`I`: {`Type`: `Succeed`}}}}}}",
         "ResultWriter must have the Resource arn:aws:states:::s3:putObject"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Map`, `End`: true, "
         "`ToleratedFailurePercentage`: 101,"
         " `ItemProcessor`: {`StartAt`: `I`, `States`: {`I`: {`Type`: `Succeed`}}}}}}",
         "'ToleratedFailurePercentage' must be a number from 0 to 100"},
        {"{`StartAt`: `A`, `QueryLanguage`: `JSONata`, `States`: {`A`: {`Type`: `Succeed`}}}",
         "JSONPath query language only"},
        {"{`StartAt`: `A`, `Extra`: 1, `States`: {`A`: {`Type`: `Succeed`}}}",
         "Field 'Extra' is not supported"},
        {"{`StartAt`: `A`, `States`: {`A`: {`Type`: `Succeed`}, `A`: {`Type`: `Succeed`}}}",
         "INVALID_JSON_DESCRIPTION"},
        {"{`StartAt`: `A`, `TimeoutSeconds`: 0, `States`: {`A`: {`Type`: `Succeed`}}}",
         "'TimeoutSeconds' must be an integer"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        char *t = tq(bad[i].def);
        struct sl_asl *m = NULL;
        struct sl_err err = {0};
        int rc = sl_asl_parse(t, &m, &err);
        free(t);
        if (rc != SL_EINVAL)
            fail_msg("%s parsed", bad[i].def);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: message %s, want %s", bad[i].def, err.msg, bad[i].msg);
        if (strncmp(err.msg, "Invalid State Machine Definition: '", 35) != 0)
            fail_msg("%s: message %s", bad[i].def, err.msg);
    }
}

static void test_input_output(void **state)
{
    (void)state;
    /* AWS's example: InputPath, ResultPath and OutputPath together. */
    struct sl_asl *m = parse_ok(
        "{`StartAt`: `T`, `States`: {`T`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`,"
        " `InputPath`: `$.lambda`, `ResultPath`: `$.data.lambdaresult`, `OutputPath`: `$.data`,"
        " `End`: true}}}");
    json_t *input = tload("{`comment`: `An input`, `data`: {`val1`: 23, `val2`: 17},"
                         " `extra`: `foo`, `lambda`: {`who`: `AWS Step Functions`}}");
    json_t *ctx = json_object(), *in = NULL, *out = NULL;
    struct sl_err err = {0};
    const char *error = NULL;
    const struct sl_asl_state *t = &m->states[0];
    assert_int_equal(sl_asl_input(t, input, ctx, &in, &err), 0);
    json_t *want = tload("{`who`: `AWS Step Functions`}");
    assert_true(json_equal(in, want));
    json_decref(want);
    json_t *result = json_string("Hello, AWS Step Functions!");
    assert_int_equal(sl_asl_output(t, input, result, ctx, &out, &error, &err), 0);
    want = tload("{`val1`: 23, `val2`: 17, `lambdaresult`: `Hello, AWS Step Functions!`}");
    assert_true(json_equal(out, want));
    json_decref(want);
    json_decref(out);
    json_decref(in);
    sl_asl_free(m);
    /* Parameters and ResultSelector; ResultPath null keeps the input. */
    m = parse_ok("{`StartAt`: `T`, `States`: {`T`: {`Type`: `Task`, `Resource`: `arn:aws:lambda:us-east-1:1:function:f`,"
                 " `Parameters`: {`v.$`: `$.data.val1`, `k`: 1},"
                 " `ResultSelector`: {`got.$`: `$.Payload`}, `ResultPath`: `$.sel`,"
                 " `End`: true}}}");
    t = &m->states[0];
    assert_int_equal(sl_asl_input(t, input, ctx, &in, &err), 0);
    want = tload("{`v`: 23, `k`: 1}");
    assert_true(json_equal(in, want));
    json_decref(want);
    json_decref(in);
    json_t *payload = tload("{`Payload`: [1, 2], `StatusCode`: 200}");
    assert_int_equal(sl_asl_output(t, input, payload, ctx, &out, &error, &err), 0);
    want = tload("{`got`: [1, 2]}");
    assert_true(json_equal(json_object_get(out, "sel"), want));
    json_decref(want);
    assert_true(json_equal(json_object_get(out, "extra"), json_object_get(input, "extra")));
    json_decref(out);
    json_decref(payload);
    sl_asl_free(m);
    m = parse_ok("{`StartAt`: `U`, `States`: {`U`: {`Type`: `Pass`, `ResultPath`: null,"
                 " `OutputPath`: null, `End`: true}}}");
    assert_int_equal(sl_asl_output(&m->states[0], input, result, ctx, &out, &error, &err), 0);
    assert_int_equal(json_object_size(out), 0); /* (OutputPath null: {}) */
    json_decref(out);
    sl_asl_free(m);
    /* Failures: a path with no value; a ResultPath that cannot be applied. */
    m = parse_ok("{`StartAt`: `U`, `States`: {`U`: {`Type`: `Pass`, `InputPath`: `$.nope`,"
                 " `ResultPath`: `$.comment.x`, `End`: true}}}");
    assert_int_equal(sl_asl_input(&m->states[0], input, ctx, &in, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "Invalid path '$.nope' : No results for path"));
    assert_int_equal(sl_asl_output(&m->states[0], input, result, ctx, &out, &error, &err),
                     SL_EINVAL);
    assert_string_equal(error, "States.ResultPathMatchFailure");
    assert_non_null(strstr(err.msg, "Unable to apply ResultPath \"$.comment.x\""));
    sl_asl_free(m);
    json_decref(result);
    json_decref(input);
    json_decref(ctx);
}

static void test_error_names(void **state)
{
    (void)state;
    const char *all[] = {"States.ALL"}, *failed[] = {"States.TaskFailed"},
               *some[] = {"Custom", "States.Timeout"};
    assert_true(sl_asl_error_matches(all, 1, "Anything"));
    assert_true(sl_asl_error_matches(all, 1, "States.Timeout"));
    assert_false(sl_asl_error_matches(all, 1, "States.Runtime"));
    assert_false(sl_asl_error_matches(all, 1, "States.DataLimitExceeded"));
    assert_true(sl_asl_error_matches(failed, 1, "Lambda.ServiceException"));
    assert_false(sl_asl_error_matches(failed, 1, "States.Timeout"));
    assert_true(sl_asl_error_matches(some, 2, "States.Timeout"));
    assert_true(sl_asl_error_matches(some, 2, "Custom"));
    assert_false(sl_asl_error_matches(some, 2, "custom"));
}

static void test_resources(void **state)
{
    (void)state;
    struct sl_asl_resource r;
    struct sl_err err = {0};
    assert_int_equal(sl_asl_resource_parse("arn:aws:lambda:us-east-1:1:function:f:live", &r, &err), 0);
    assert_int_equal(r.kind, SL_RES_FUNCTION);
    assert_string_equal(r.op, "Invoke");
    assert_int_equal(sl_asl_resource_parse("arn:aws:states:::lambda:invoke", &r, &err), 0);
    assert_int_equal(r.kind, SL_RES_OPTIMIZED);
    assert_int_equal(r.mode, SL_RES_RESPONSE);
    assert_string_equal(r.prefix, "Lambda");
    assert_int_equal(sl_asl_resource_parse("arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                                           &r, &err), 0);
    assert_int_equal(r.mode, SL_RES_TOKEN);
    assert_string_equal(r.op, "SendMessage");
    assert_string_equal(r.prefix, "SQS");
    assert_int_equal(sl_asl_resource_parse("arn:aws:states:::states:startExecution.sync:2", &r,
                                           &err), 0);
    assert_int_equal(r.mode, SL_RES_SYNC);
    assert_true(r.sync2);
    assert_string_equal(r.botocore, "stepfunctions");
    assert_int_equal(sl_asl_resource_parse("arn:aws:states:::aws-sdk:dynamodb:query", &r, &err),
                     0);
    assert_int_equal(r.kind, SL_RES_SDK);
    assert_string_equal(r.op, "Query");
    assert_string_equal(r.prefix, "DynamoDb");
    assert_int_equal(sl_asl_resource_parse("arn:aws:states:::aws-sdk:sfn:startExecution", &r,
                                           &err), 0);
    assert_string_equal(r.botocore, "stepfunctions");
    /* Valid on AWS, not run here: taken, to fail when they run. */
    const char *elsewhere[] = {"arn:aws:states:us-east-1:1:activity:a",
                               "arn:aws:states:::ecs:runTask.sync",
                               "arn:aws:states:::glue:startJobRun",
                               "arn:aws:states:::aws-sdk:s3:getObject"};
    for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++) {
        assert_int_equal(sl_asl_resource_parse(elsewhere[i], &r, &err), 0);
        assert_int_equal(r.kind, SL_RES_UNSUPPORTED);
    }
    const char *bad[] = {
        "arn:aws:states:::dynamodb:query",              /* not an optimized one */
        "arn:aws:states:::dynamodb:putItem.waitForTaskToken", /* no callback for it */
        "arn:aws:states:::sqs:sendMessage.sync",       /* nor .sync */
        "arn:aws:states:::aws-sdk:sqs:sendMessage.sync",
        "arn:aws:states:::nothing:doIt",
        "arn:aws:states:::lambda:invoke.later",
        "arn:aws:states:::glue:startJobRun.later",
        "arn:aws:states:::aws-sdk:s3:getObject.sync",
        "arn:aws:states:::aws-sdk:sqs:",
        "arn:aws:lambda:us-east-1:1:layer:l",
        "arn:aws:lambda:us-east-1:1:function:",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sl_asl_resource_parse(bad[i], &r, &err), SL_EINVAL);
        assert_non_null(strstr(err.msg, bad[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_input_output),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_resources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
