/*
 * Step Functions' executions. So far StartSyncExecution: an EXPRESS
 * machine's execution run in memory on the engine loop (run.h), the call
 * waiting for its end and answering its status, output or error.
 */
#include "services/states/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/states/run.h"

#define INPUT_MAX (256 * 1024)
#define EXPRESS_MAX_MS (5 * 60 * 1000) /* an EXPRESS execution's longest run */

struct sfn_sync {
    struct sfn *st;
    struct sfn_sync *prev, *next; /* the service's active runs */
    struct sl_run *run;
    struct sl_call *c;
    struct sfn_ref r;
    struct sl_asl *m;
    json_t *input, *ctx;
    char name[SFN_NAME_MAX + 1];
    char arn[512];
    int64_t start, stop;
    /* The end: */
    enum sl_run_status status;
    json_t *output;
    char error[256];
    char *cause;
};

static void sync_free(struct sl_call *c)
{
    struct sfn_sync *w = c->state;
    if (!w)
        return;
    sl_asl_free(w->m);
    json_decref(w->input);
    json_decref(w->ctx);
    json_decref(w->output);
    free(w->cause);
}

/* The run's end (loop thread): kept, and the call woken. */
static void unlink_sync(struct sfn_sync *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (w->st->active == w)
        w->st->active = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void run_done(void *arg, const struct sl_run_result *res)
{
    struct sfn_sync *w = arg;
    unlink_sync(w);
    w->run = NULL;
    w->stop = sl_time_now_ms();
    w->status = res->status;
    w->output = res->output ? json_incref(res->output) : NULL;
    sl_strlcpy(w->error, res->error ? res->error : "", sizeof(w->error));
    w->cause = res->cause ? strdup(res->cause) : NULL;
    sl_call_wake(w->c);
}

static void start_on_loop(struct sl_loop *l, void *arg)
{
    struct sfn_sync *w = arg;
    json_t *input = w->input, *ctx = w->ctx;
    w->input = w->ctx = NULL;
    if (w->st->stopping) {
        json_decref(input);
        json_decref(ctx);
        struct sl_run_result res = {.status = SL_RUN_FAILED, .error = "States.Runtime",
                                    .cause = "Sluice is stopping"};
        run_done(w, &res);
        return;
    }
    w->next = w->st->active;
    if (w->next)
        w->next->prev = w;
    w->st->active = w;
    if (sl_run_start(l, w->m, input, ctx, EXPRESS_MAX_MS, &w->st->tasks, NULL, run_done, w,
                     &w->run)) {
        struct sl_run_result res = {.status = SL_RUN_FAILED, .error = "States.Runtime",
                                    .cause = "out of memory"};
        run_done(w, &res);
    }
}

static int finished(struct sl_call *c)
{
    struct sfn_sync *w = c->state;
    const char *input = json_string_value(json_object_get(c->in, "input"));
    json_t *out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:{s:b}}", "executionArn",
                            w->arn, "stateMachineArn", w->r.arn, "name", w->name, "startDate",
                            sfn_timestamp(w->start), "stopDate", sfn_timestamp(w->stop),
                            "status", sl_run_status_name(w->status), "input", input ? input : "{}",
                            "inputDetails", "included", 1);
    if (w->status == SL_RUN_SUCCEEDED) {
        char *text = json_dumps(w->output, JSON_ENCODE_ANY | JSON_COMPACT);
        json_object_set_new(out, "output", json_string(text ? text : "null"));
        json_object_set_new(out, "outputDetails", json_pack("{s:b}", "included", 1));
        free(text);
    } else {
        json_object_set_new(out, "error", json_string(w->error));
        if (w->cause)
            json_object_set_new(out, "cause", json_string(w->cause));
    }
    /* (EXPRESS bills by 100 ms and 64 MB.) */
    int64_t billed = (w->stop - w->start + 99) / 100 * 100;
    json_object_set_new(out, "billingDetails",
                        json_pack("{s:i, s:I}", "billedMemoryUsedInMB", 64,
                                  "billedDurationInMilliseconds",
                                  (json_int_t)(billed ? billed : 100)));
    return sl_call_ok(c, out);
}

SL_OP(states, StartSyncExecution)
{
    struct sfn_sync *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    w->c = c;
    w->st = c->svc;
    c->state = w;
    c->state_free = sync_free;
    int rc = sfn_call_ref(c, &w->r);
    if (rc)
        return rc;
    json_t *rec = NULL;
    rc = sfn_read_machine(c->app->store, &w->r, &rec);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SFN_E_NOT_FOUND, "State Machine Does Not Exist: '%s'", w->r.arn);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!type || strcmp(type, "EXPRESS") != 0) {
        json_decref(rec);
        return sl_call_fail(c, SFN_E_TYPE, "This operation is not supported by this type of "
                                           "state machine");
    }
    const char *name = json_string_value(json_object_get(c->in, "name"));
    char id[40];
    sl_uuid(id);
    if (name && !sfn_name_ok(name)) {
        json_decref(rec);
        return sl_call_fail(c, SFN_E_INVALID_NAME, "Invalid Name: '%.200s'", name);
    }
    sl_strlcpy(w->name, name ? name : id, sizeof(w->name));
    const char *text = json_string_value(json_object_get(c->in, "input"));
    json_error_t je;
    w->input = json_loads(text ? text : "{}", JSON_DECODE_ANY, &je);
    if (!w->input || (text && strlen(text) > INPUT_MAX)) {
        json_decref(rec);
        return sl_call_fail(c, SFN_E_INVALID_INPUT, "Invalid State Machine Execution Input: "
                                                    "'%s'",
                            w->input ? "the input is larger than 256 KiB" : je.text);
    }
    struct sl_err err = {0};
    rc = sl_asl_parse(json_string_value(json_object_get(rec, "definition")), &w->m, &err);
    if (rc) {
        json_decref(rec);
        return sl_call_internal(c, rc, &err);
    }
    snprintf(w->arn, sizeof(w->arn), "arn:aws:states:%s:%s:express:%s:%s:%s", w->r.region,
             w->r.account, w->r.name, w->name, id);
    w->start = sl_time_now_ms();
    char at[40];
    sl_time_iso8601_ms(w->start, at, sizeof(at));
    w->ctx = json_pack("{s:{s:s, s:O, s:s, s:O, s:s}, s:{s:s, s:s}}", "Execution", "Id", w->arn,
                       "Input", w->input, "Name", w->name, "RoleArn",
                       json_object_get(rec, "roleArn"), "StartTime", at, "StateMachine", "Id",
                       w->r.arn, "Name", w->r.name);
    json_decref(rec);
    if (!w->ctx)
        return SL_ENOMEM;
    sl_call_wait(c, finished);
    if (sl_loop_post(c->app->loop, start_on_loop, w)) {
        struct sl_run_result res = {.status = SL_RUN_FAILED, .error = "States.Runtime",
                                    .cause = "Sluice is stopping"};
        run_done(w, &res);
    }
    return SL_LATER;
}

static void stop_on_loop(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sfn *st = arg;
    st->stopping = true; /* (and no run starts after this) */
    sfn_standard_stop(st);
    while (st->active)
        sl_run_stop(st->active->run, "States.Runtime", "Sluice is stopping");
}

void sfn_executions_stop(struct sfn *st)
{
    sl_loop_call(st->app->loop, stop_on_loop, st);
}
