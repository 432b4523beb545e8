/*
 * STANDARD executions: StartExecution (idempotent by name), run on the
 * engine loop as EXPRESS ones are (run.h), with what the run tells its
 * observer stored as it goes: the history (AWS's event types and ids)
 * and the top machine's position, so that after a restart (kill -9
 * included) the execution goes on from the state it was in — a Wait to
 * its deadline, a retry's wait to its end, any other state (a Task, a
 * Parallel or Map) run again from its start, as AWS allows a task to
 * run twice. Writes are grouped: what the loop's turn produced for every
 * execution goes to the store in one transaction (sl_loop_defer). Status
 * changes reach the account's default event bus as AWS's "Step Functions
 * Execution Status Change" events, in the transaction that records them.
 * DescribeExecution, ListExecutions, GetExecutionHistory, StopExecution
 * and DescribeStateMachineForExecution read what is stored.
 *
 * StartExecution of an EXPRESS machine runs it in memory and keeps
 * nothing (AWS keeps no history of EXPRESS executions either).
 */
#include "services/states/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INPUT_MAX (256 * 1024)
#define HISTORY_MAX 25000 /* events of one execution, as AWS limits them */
#define RUN_PK "run"

static int call_eref(struct sl_call *c, struct sfn_eref *e)
{
    const char *arn = json_string_value(json_object_get(c->in, "executionArn"));
    if (!sfn_eref_parse(arn, e))
        return sl_call_fail(c, SFN_E_INVALID_ARN, "Invalid Arn: '%.300s'", arn ? arn : "");
    return 0;
}

static int read_exec(struct sl_store *s, const struct sfn_eref *e, json_t **rec)
{
    struct sl_item it;
    int rc = sl_kv_get(s, SFN_NS_EXEC, e->pk, e->name, &it);
    if (rc)
        return rc;
    *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *rec ? 0 : SL_ECORRUPT;
}

/* Reads the call's execution: 0, or the call has its error. */
static int call_exec(struct sl_call *c, struct sfn_eref *e, json_t **rec)
{
    int rc = call_eref(c, e);
    if (rc)
        return rc;
    rc = read_exec(c->app->store, e, rec);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SFN_E_EXEC_MISSING, "Execution Does Not Exist: '%s'", e->arn);
    return rc ? sl_call_internal(c, rc, NULL) : 0;
}

static const char *str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static int64_t num(const json_t *rec, const char *key)
{
    return json_integer_value(json_object_get(rec, key));
}

/* ---- the store's side: grouped writes --------------------------------------------------- */

/* One transaction's worth of writes: ops [{"ns","pk","sk","val"} or
 * {"ns","pk","sk"} to delete, or {"bus","event"}], and calls to wake
 * once they are durable. */
struct batch {
    struct sfn *st;
    json_t *ops;
    struct sl_call **wake;
    size_t nwake;
    struct sl_err err;
};

static int deliver_txn(struct sl_targets *targets, struct sl_txn *t, const char *bus,
                       const char *text, const char *source);

static int batch_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct batch *b = arg;
    size_t i;
    json_t *op;
    json_array_foreach(b->ops, i, op)
    {
        const char *bus = str(op, "bus");
        int rc;
        if (bus) {
            rc = deliver_txn(b->st->app->targets, t, bus, str(op, "event"), str(op, "source"));
        } else if (json_object_get(op, "val")) {
            const char *val = str(op, "val");
            rc = sl_txn_put(t, str(op, "ns"), str(op, "pk"), str(op, "sk"), val, strlen(val),
                            NULL);
        } else {
            rc = sl_txn_delete(t, str(op, "ns"), str(op, "pk"), str(op, "sk"));
            if (rc == SL_ENOTFOUND)
                rc = 0;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static void batch_free(struct batch *b)
{
    json_decref(b->ops);
    free(b->wake);
    free(b);
}

/* The batch is durable (the writer's thread). */
static void batch_done(void *arg, int result)
{
    struct batch *b = arg;
    if (result)
        sl_error("stepfunctions", "executions' progress not stored: %s",
                 b->err.msg[0] ? b->err.msg : sl_strerror(result));
    for (size_t i = 0; i < b->nwake; i++)
        sl_call_wake(b->wake[i]);
    batch_free(b);
}

static void flush(struct sl_loop *l, void *arg);

/* The current batch, made (and its flush deferred) at need. */
static struct batch *batch_get(struct sfn *st)
{
    if (st->batch)
        return st->batch;
    struct batch *b = calloc(1, sizeof(*b));
    if (!b || !(b->ops = json_array())) {
        free(b);
        return NULL;
    }
    b->st = st;
    st->batch = b;
    if (!st->flushing)
        st->flushing = sl_loop_defer(st->app->loop, flush, st) == 0;
    return b;
}

static void put(struct sfn *st, const char *ns, const char *pk, const char *sk, json_t *val)
{
    struct batch *b = batch_get(st);
    char *text = val ? json_dumps(val, JSON_COMPACT) : NULL;
    json_decref(val);
    if (!b || !text) {
        free(text);
        sl_error("stepfunctions", "out of memory: an execution's progress is not stored");
        return;
    }
    json_array_append_new(b->ops, json_pack("{s:s, s:s, s:s, s:s}", "ns", ns, "pk", pk, "sk",
                                            sk, "val", text));
    free(text);
}

static void del(struct sfn *st, const char *ns, const char *pk, const char *sk)
{
    struct batch *b = batch_get(st);
    if (b)
        json_array_append_new(b->ops, json_pack("{s:s, s:s, s:s}", "ns", ns, "pk", pk, "sk", sk));
}

/* ---- executions under way ------------------------------------------------------------------ */

struct sfn_exec {
    struct sfn *st;
    struct sfn_exec *prev, *next; /* st->running */
    struct sl_run *run;
    struct sl_asl *m;
    struct sfn_eref e;
    json_t *rec;       /* the record, as RUNNING */
    long next_id;      /* the next history event's id */
    json_t *pos;       /* the position not stored yet, or NULL */
    int64_t deadline;  /* TimeoutSeconds' end (wall clock), 0: none */
    bool dirty;        /* pos changed since the last batch */
    bool aborted;      /* StopExecution */
    bool shutdown;     /* Sluice stops: nothing more is stored */
    bool over;         /* the history is full: the run is being stopped */
    struct sl_timer *stop_timer;
    char stop_error[256];
    char *stop_cause;
    struct sl_run_observer obs;
};

static const char *const type_names[] = {"Pass", "Task",     "Choice", "Wait",
                                         "Succeed", "Fail", "Parallel", "Map"};

/* Appends a history event (details: the member named key, taken; may be
 * NULL). */
static void history(struct sfn_exec *x, const char *type, const char *key, json_t *details)
{
    char sk[16];
    long id = x->next_id++;
    snprintf(sk, sizeof(sk), "%010ld", id);
    json_t *ev = json_pack("{s:I, s:s, s:i}", "t", (json_int_t)sl_time_now_ms(), "type", type,
                           "prev", id > 1 ? (int)(id - 1) : 0);
    if (key && details)
        json_object_set_new(ev, key, details);
    else
        json_decref(details);
    put(x->st, SFN_NS_HIST, x->e.arn, sk, ev);
    x->dirty = true; /* (the stored next id moves with it) */
}


static json_t *included(void)
{
    return json_pack("{s:b}", "truncated", 0);
}

/* The resource as history names it: ("sqs", "sendMessage.waitForTaskToken"). */
static void resource_parts(const struct sl_asl_state *s, char *type, size_t tn, char *name,
                           size_t nn)
{
    static const char prefix[] = "arn:aws:states:::";
    if (strncmp(s->resource, prefix, sizeof(prefix) - 1) != 0) {
        snprintf(type, tn, "%s", "activity");
        snprintf(name, nn, "%s", s->resource);
        return;
    }
    const char *r = s->resource + sizeof(prefix) - 1;
    /* (The SDK's: aws-sdk:sqs:getQueueAttributes, its type two fields.) */
    const char *colon = strchr(r, ':');
    if (colon && strncmp(r, "aws-sdk:", 8) == 0)
        colon = strchr(colon + 1, ':');
    snprintf(type, tn, "%.*s", colon ? (int)(colon - r) : (int)strlen(r), r);
    snprintf(name, nn, "%s", colon ? colon + 1 : "");
}

static void exec_stop_later(struct sfn_exec *x, const char *error, const char *cause);

static void observe(void *ctx, const struct sl_run_event *ev)
{
    struct sfn_exec *x = ctx;
    const struct sl_asl_state *s = ev->state;
    if (x->shutdown || !x->run)
        return; /* (nothing after the end: its last event is written) */
    if (x->next_id > HISTORY_MAX && !x->over) {
        x->over = true;
        exec_stop_later(x, "States.Runtime",
                        "The execution's history reached 25,000 events, AWS's limit");
        return;
    }
    if (x->over)
        return;
    char type[64], rtype[64], rname[128];
    bool function = s && s->type == SL_ASL_TASK && s->res.kind == SL_RES_FUNCTION;
    if (s && s->type == SL_ASL_TASK && !function)
        resource_parts(s, rtype, sizeof(rtype), rname, sizeof(rname));
    const char *kind = s ? type_names[s->type] : "";
    switch (ev->kind) {
    case SL_RUN_EV_ENTERED:
        snprintf(type, sizeof(type), "%sStateEntered", kind);
        history(x, type, "stateEnteredEventDetails",
                json_pack("{s:s, s:o, s:o}", "name", s->name, "input", sfn_json_text(ev->data),
                          "inputDetails", included()));
        break;
    case SL_RUN_EV_EXITED:
        snprintf(type, sizeof(type), "%sStateExited", kind);
        history(x, type, "stateExitedEventDetails",
                json_pack("{s:s, s:o, s:o}", "name", s->name, "output", sfn_json_text(ev->data),
                          "outputDetails", included()));
        break;
    case SL_RUN_EV_TASK_STARTED:
        if (function) {
            history(x, "LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails",
                    json_pack("{s:s, s:o, s:o}", "resource", s->resource, "input",
                              sfn_json_text(ev->data), "inputDetails", included()));
            history(x, "LambdaFunctionStarted", NULL, NULL);
        } else {
            history(x, "TaskScheduled", "taskScheduledEventDetails",
                    json_pack("{s:s, s:s, s:s, s:o}", "resourceType", rtype, "resource", rname,
                              "region", x->e.region, "parameters", sfn_json_text(ev->data)));
            history(x, "TaskStarted", "taskStartedEventDetails",
                    json_pack("{s:s, s:s}", "resourceType", rtype, "resource", rname));
        }
        break;
    case SL_RUN_EV_TASK_SUCCEEDED:
        if (function)
            history(x, "LambdaFunctionSucceeded", "lambdaFunctionSucceededEventDetails",
                    json_pack("{s:o, s:o}", "output", sfn_json_text(ev->data), "outputDetails",
                              included()));
        else
            history(x, "TaskSucceeded", "taskSucceededEventDetails",
                    json_pack("{s:s, s:s, s:o, s:o}", "resourceType", rtype, "resource", rname,
                              "output", sfn_json_text(ev->data), "outputDetails", included()));
        break;
    case SL_RUN_EV_TASK_FAILED: {
        bool timeout = strcmp(ev->error, "States.Timeout") == 0 ||
                       strcmp(ev->error, "States.HeartbeatTimeout") == 0;
        json_t *d = json_pack("{s:s}", "error", ev->error);
        if (ev->cause)
            json_object_set_new(d, "cause", json_string(ev->cause));
        if (function) {
            history(x, timeout ? "LambdaFunctionTimedOut" : "LambdaFunctionFailed",
                    timeout ? "lambdaFunctionTimedOutEventDetails"
                            : "lambdaFunctionFailedEventDetails",
                    d);
        } else {
            json_object_set_new(d, "resourceType", json_string(rtype));
            json_object_set_new(d, "resource", json_string(rname));
            history(x, timeout ? "TaskTimedOut" : "TaskFailed",
                    timeout ? "taskTimedOutEventDetails" : "taskFailedEventDetails", d);
        }
        break;
    }
    case SL_RUN_EV_STARTED:
        if (s->type == SL_ASL_MAP)
            history(x, "MapStateStarted", "mapStateStartedEventDetails",
                    json_pack("{s:i}", "length", (int)ev->index));
        else
            history(x, "ParallelStateStarted", NULL, NULL);
        break;
    case SL_RUN_EV_ITERATION_STARTED:
    case SL_RUN_EV_ITERATION_SUCCEEDED:
    case SL_RUN_EV_ITERATION_FAILED: {
        static const char *const names[][2] = {
            {"MapIterationStarted", "mapIterationStartedEventDetails"},
            {"MapIterationSucceeded", "mapIterationSucceededEventDetails"},
            {"MapIterationFailed", "mapIterationFailedEventDetails"}};
        const char *const *n = names[ev->kind - SL_RUN_EV_ITERATION_STARTED];
        history(x, n[0], n[1], json_pack("{s:s, s:i}", "name", s->name, "index", (int)ev->index));
        break;
    }
    case SL_RUN_EV_JOINED:
        history(x, s->type == SL_ASL_MAP ? "MapStateSucceeded" : "ParallelStateSucceeded", NULL,
                NULL);
        break;
    case SL_RUN_EV_JOIN_FAILED:
        history(x, s->type == SL_ASL_MAP ? "MapStateFailed" : "ParallelStateFailed", NULL, NULL);
        break;
    case SL_RUN_EV_POSITION: {
        json_t *attempts = json_array();
        for (size_t i = 0; ev->attempts && i < ev->nattempts; i++)
            json_array_append_new(attempts, json_integer(ev->attempts[i]));
        json_decref(x->pos);
        x->pos = json_pack("{s:I, s:O, s:O, s:o, s:I, s:b}", "state", (json_int_t)ev->state_index,
                           "input", ev->data ? ev->data : json_null(), "ctx", ev->ctx,
                           "attempts", attempts, "until", (json_int_t)ev->until_ms, "retry",
                           ev->retry);
        x->dirty = true;
        batch_get(x->st); /* (so that a flush comes) */
        break;
    }
    }
}

/* What is left of the running executions' positions goes in the batch. */
static void positions(struct sfn *st)
{
    for (struct sfn_exec *x = st->running; x; x = x->next) {
        if (!x->dirty || !x->pos)
            continue;
        x->dirty = false;
        json_t *p = json_copy(x->pos);
        json_object_set_new(p, "next_id", json_integer(x->next_id));
        json_object_set_new(p, "deadline", json_integer(x->deadline));
        json_object_set_new(p, "pk", json_string(x->e.pk));
        put(st, SFN_NS_RUN, RUN_PK, x->e.arn, p);
    }
}

static void submit(struct sfn *st)
{
    positions(st);
    struct batch *b = st->batch;
    st->batch = NULL;
    if (!b)
        return;
    if (!json_array_size(b->ops) && !b->nwake) {
        batch_free(b);
        return;
    }
    int rc = sl_store_submit(st->app->store, batch_txn, b, &b->err, batch_done, b);
    if (rc)
        batch_done(b, rc);
}

static void flush(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sfn *st = arg;
    st->flushing = false;
    submit(st);
}

/* An execution's status change as AWS's event (text, malloc'd) for the
 * default event bus (bus: its ARN). */
static char *status_event_text(const struct sfn_eref *e, const json_t *rec, char *bus, size_t n)
{
    char id[40], when[40];
    sl_uuid(id);
    sl_time_iso8601_s(sl_time_now_ms(), when, sizeof(when));
    snprintf(bus, n, "arn:aws:events:%s:%s:event-bus/default", e->region, e->account);
    json_t *detail = json_pack("{s:s, s:s, s:s, s:O, s:I, s:O}", "executionArn", e->arn,
                               "stateMachineArn", e->machine_arn, "name", e->name, "status",
                               json_object_get(rec, "status"), "startDate",
                               (json_int_t)num(rec, "start"), "input",
                               json_object_get(rec, "input"));
    static const char *const maybe[] = {"stop", "stopDate", "output", "output", "error", "error",
                                        "cause", "cause"};
    for (size_t i = 0; detail && i < sizeof(maybe) / sizeof(maybe[0]); i += 2) {
        json_t *v = json_object_get(rec, maybe[i]);
        json_object_set(detail, maybe[i + 1], v ? v : json_null());
    }
    json_object_set_new(detail, "inputDetails", json_pack("{s:b}", "included", 1));
    json_object_set_new(detail, "outputDetails", json_object_get(rec, "output")
                                                     ? json_pack("{s:b}", "included", 1)
                                                     : json_null());
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:o}", "version", "0", "id",
                           id, "detail-type", "Step Functions Execution Status Change", "source",
                           "aws.states", "account", e->account, "time", when, "region",
                           e->region, "resources", e->arn, "detail", detail);
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return text;
}

static void status_event(struct sfn *st, const struct sfn_eref *e, const json_t *rec)
{
    char bus[256];
    char *text = status_event_text(e, rec, bus, sizeof(bus));
    struct batch *b = batch_get(st);
    if (b && text)
        json_array_append_new(b->ops, json_pack("{s:s, s:s, s:s}", "bus", bus, "event", text,
                                                "source", e->arn));
    free(text);
}

static int deliver_txn(struct sl_targets *targets, struct sl_txn *t, const char *bus,
                       const char *text, const char *source)
{
    struct sl_target_source src = {.principal = "states.amazonaws.com", .source_arn = source};
    int rc = sl_target_deliver_txn(targets, t, bus, text, strlen(text), &src);
    return rc == SL_ENOTSUP || rc == SL_EINVAL || rc == SL_ENOTFOUND ? 0 : rc;
}

static void sync_ended(struct sfn *st, const struct sfn_eref *e, const json_t *rec);

static void exec_free(struct sfn_exec *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else if (x->st->running == x)
        x->st->running = x->next;
    if (x->next)
        x->next->prev = x->prev;
    if (x->stop_timer)
        sl_loop_timer_cancel(x->st->app->loop, x->stop_timer);
    sl_asl_free(x->m);
    json_decref(x->rec);
    json_decref(x->pos);
    free(x->stop_cause);
    free(x);
}

/* An execution's end in its record: its status and stop time, its output
 * (SUCCEEDED) or its error and cause; answers the details of its last
 * history event (a new object) and sets *type and *key to that event's
 * type and details member. */
static json_t *record_end(json_t *rec, const char *status, json_t *output, const char *error,
                          const char *cause, const char **type, const char **key)
{
    static const struct {
        const char *status, *type, *key;
    } ends[] = {
        {"SUCCEEDED", "ExecutionSucceeded", "executionSucceededEventDetails"},
        {"TIMED_OUT", "ExecutionTimedOut", "executionTimedOutEventDetails"},
        {"ABORTED", "ExecutionAborted", "executionAbortedEventDetails"},
        {"FAILED", "ExecutionFailed", "executionFailedEventDetails"}, /* (and the rest) */
    };
    size_t i = 0;
    while (i + 1 < sizeof(ends) / sizeof(ends[0]) && strcmp(ends[i].status, status) != 0)
        i++;
    *type = ends[i].type;
    *key = ends[i].key;
    json_object_set_new(rec, "status", json_string(status));
    json_object_set_new(rec, "stop", json_integer(sl_time_now_ms()));
    if (strcmp(status, "SUCCEEDED") == 0) {
        json_object_set_new(rec, "output", sfn_json_text(output));
        return json_pack("{s:o, s:o}", "output", sfn_json_text(output), "outputDetails",
                         included());
    }
    json_t *d = json_object();
    if (error && *error) {
        json_object_set_new(rec, "error", json_string(error));
        json_object_set_new(d, "error", json_string(error));
    }
    if (cause) {
        json_object_set_new(rec, "cause", json_string(cause));
        json_object_set_new(d, "cause", json_string(cause));
    }
    return d;
}

/* The run ended (loop thread): the record's end, its history event, the
 * status change; the position goes. */
static void exec_done(void *arg, const struct sl_run_result *res)
{
    struct sfn_exec *x = arg;
    x->run = NULL;
    if (x->shutdown) {
        exec_free(x); /* (it goes on after the restart) */
        return;
    }
    struct sfn *st = x->st;
    const char *status = x->aborted ? "ABORTED" : sl_run_status_name(res->status);
    bool stopped = x->aborted || x->over;
    const char *type, *key;
    json_t *rec = x->rec;
    json_t *d = record_end(rec, status, res->output, stopped ? x->stop_error : res->error,
                           stopped ? x->stop_cause : res->cause, &type, &key);
    x->over = false; /* (the last event is written) */
    history(x, type, key, d);
    put(st, SFN_NS_EXEC, x->e.pk, x->e.name, json_incref(rec));
    del(st, SFN_NS_RUN, RUN_PK, x->e.arn);
    x->dirty = false;
    status_event(st, &x->e, rec);
    sync_ended(st, &x->e, rec);
    exec_free(x);
}

/* Tells the .sync tasks waiting for e that it ended as rec says. */
static void sync_ended(struct sfn *st, const struct sfn_eref *e, const json_t *rec)
{
    if (!st->syncs)
        return;
    json_t *d = json_pack("{s:s, s:s, s:s, s:O, s:I, s:I, s:O, s:{s:b}}", "ExecutionArn", e->arn,
                          "StateMachineArn", e->machine_arn, "Name", e->name, "Status",
                          json_object_get(rec, "status"), "StartDate",
                          (json_int_t)num(rec, "start"), "StopDate",
                          (json_int_t)(json_object_get(rec, "stop") ? num(rec, "stop")
                                                                    : sl_time_now_ms()),
                          "Input", json_object_get(rec, "input"), "InputDetails", "Included", 1);
    static const char *const keys[][2] = {{"output", "Output"}, {"error", "Error"},
                                          {"cause", "Cause"}};
    for (size_t i = 0; d && i < 3; i++)
        if (json_object_get(rec, keys[i][0]))
            json_object_set(d, keys[i][1], json_object_get(rec, keys[i][0]));
    if (d && json_object_get(rec, "output"))
        json_object_set_new(d, "OutputDetails", json_pack("{s:b}", "Included", 1));
    if (d)
        sfn_tasks_execution_ended(st, e->arn, str(rec, "status"), d);
    json_decref(d);
}

static void on_stop_timer(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sfn_exec *x = arg;
    x->stop_timer = NULL;
    if (x->run)
        sl_run_stop(x->run, x->stop_error, x->stop_cause);
}

/* Ends x's run from the loop's next turn (not from inside its steps). */
static void exec_stop_later(struct sfn_exec *x, const char *error, const char *cause)
{
    sl_strlcpy(x->stop_error, error, sizeof(x->stop_error));
    free(x->stop_cause);
    x->stop_cause = cause ? strdup(cause) : NULL;
    if (!x->stop_timer)
        x->stop_timer = sl_loop_timer(x->st->app->loop, sl_loop_now_ms(), on_stop_timer, x);
}

/* An execution's state for its run (rec taken), not under way yet (any
 * thread); NULL when its definition does not parse or memory is out. */
static struct sfn_exec *exec_new(struct sfn *st, const struct sfn_eref *e, json_t *rec)
{
    struct sfn_exec *x = calloc(1, sizeof(*x));
    if (!x) {
        json_decref(rec);
        return NULL;
    }
    x->st = st;
    x->e = *e;
    x->rec = rec;
    x->obs = (struct sl_run_observer){.ctx = x, .event = observe};
    struct sl_err err = {0};
    if (sl_asl_parse(str(rec, "definition"), &x->m, &err)) {
        sl_error("stepfunctions", "%s: its definition does not parse: %s", e->arn, err.msg);
        json_decref(rec);
        free(x);
        return NULL;
    }
    return x;
}

/* x is under way (loop thread). */
static void exec_link(struct sfn_exec *x)
{
    x->next = x->st->running;
    if (x->next)
        x->next->prev = x;
    x->st->running = x;
}

/* The context object of an execution. */
static json_t *exec_context(const struct sfn_eref *e, const json_t *rec, json_t *input)
{
    char at[40];
    sl_time_iso8601_ms(num(rec, "start"), at, sizeof(at));
    return json_pack("{s:{s:s, s:O, s:s, s:O, s:s, s:i}, s:{s:s, s:s}}", "Execution", "Id",
                     e->arn, "Input", input, "Name", e->name, "RoleArn",
                     json_object_get(rec, "roleArn"), "StartTime", at, "RedriveCount", 0,
                     "StateMachine", "Id", e->machine_arn, "Name", e->machine);
}

/* ---- StartExecution ----------------------------------------------------------------------- */

struct start {
    struct sfn *st;
    struct sfn_ref r;
    struct sfn_eref e;
    json_t *rec;     /* the new execution's record */
    json_t *input;
    json_t *found;   /* an execution of that name (idempotent start) */
    bool express;
    size_t start_state;
    int64_t deadline;
};

static void start_free(struct sl_call *c)
{
    struct start *w = c->state;
    if (!w)
        return;
    json_decref(w->rec);
    json_decref(w->input);
    json_decref(w->found);
}

static int start_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct start *w = arg;
    struct sl_item it;
    int rc = sl_txn_get(t, SFN_NS_EXEC, w->e.pk, w->e.name, &it);
    if (rc == 0) {
        w->found = json_loadb(it.val, it.val_len, 0, NULL);
        sl_item_free(&it);
        return w->found ? 0 : SL_ECORRUPT;
    }
    if (rc != SL_ENOTFOUND)
        return rc;
    char *text = json_dumps(w->rec, JSON_COMPACT);
    json_t *ev = json_pack("{s:I, s:s, s:i, s:{s:O, s:o, s:O}}", "t",
                           (json_int_t)num(w->rec, "start"), "type", "ExecutionStarted", "prev",
                           0, "executionStartedEventDetails", "input",
                           json_object_get(w->rec, "input"), "inputDetails", included(),
                           "roleArn", json_object_get(w->rec, "roleArn"));
    char *evtext = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    rc = text && evtext ? sl_txn_put(t, SFN_NS_EXEC, w->e.pk, w->e.name, text, strlen(text), NULL)
                        : SL_ENOMEM;
    if (!rc)
        rc = sl_txn_put(t, SFN_NS_HIST, w->e.arn, "0000000001", evtext, strlen(evtext), NULL);
    if (!rc) {
        /* Where it is: its first state, for a restart to take up. */
        json_t *input = json_loads(str(w->rec, "input"), JSON_DECODE_ANY, NULL);
        json_t *pos = json_pack("{s:I, s:o, s:o, s:[], s:I, s:b, s:I, s:I, s:s, s:b}", "state",
                                (json_int_t)w->start_state, "input", input, "ctx",
                                exec_context(&w->e, w->rec, input), "attempts", "until",
                                (json_int_t)0, "retry", 0, "next_id", (json_int_t)2, "deadline",
                                (json_int_t)w->deadline, "pk", w->e.pk, "entered", 0);
        char *ptext = pos ? json_dumps(pos, JSON_COMPACT) : NULL;
        json_decref(pos);
        rc = ptext ? sl_txn_put(t, SFN_NS_RUN, RUN_PK, w->e.arn, ptext, strlen(ptext), NULL)
                   : SL_ENOMEM;
        free(ptext);
    }
    char bus[256];
    char *ev_text = rc ? NULL : status_event_text(&w->e, w->rec, bus, sizeof(bus));
    if (!rc)
        rc = ev_text ? deliver_txn(w->st->app->targets, t, bus, ev_text, w->e.arn) : SL_ENOMEM;
    free(ev_text);
    free(text);
    free(evtext);
    return rc;
}

static void start_on_loop(struct sl_loop *l, void *arg)
{
    struct sfn_exec *x = arg;
    exec_link(x);
    json_t *input = json_loads(str(x->rec, "input"), JSON_DECODE_ANY, NULL);
    json_t *ctx = input ? exec_context(&x->e, x->rec, input) : NULL;
    x->next_id = 2;
    if (x->m->timeout_s)
        x->deadline = num(x->rec, "start") + (int64_t)x->m->timeout_s * 1000;
    if (!ctx || x->st->stopping ||
        sl_run_start(l, x->m, input, ctx, 0, &x->st->tasks, &x->obs, exec_done, x, &x->run)) {
        if (!ctx)
            json_decref(input);
        /* (Not started: a restart takes it up.) */
        x->shutdown = true;
        exec_free(x);
    }
}

static void express_done(void *arg, const struct sl_run_result *res)
{
    struct sfn_exec *x = arg;
    x->run = NULL;
    if (!x->shutdown) {
        const char *type, *key;
        json_decref(record_end(x->rec, sl_run_status_name(res->status), res->output, res->error,
                               res->cause, &type, &key));
        sync_ended(x->st, &x->e, x->rec);
    }
    exec_free(x);
}

static void express_on_loop(struct sl_loop *l, void *arg)
{
    struct sfn_exec *x = arg;
    exec_link(x);
    json_t *input = json_loads(str(x->rec, "input"), JSON_DECODE_ANY, NULL);
    json_t *ctx = input ? exec_context(&x->e, x->rec, input) : NULL;
    if (!ctx || x->st->stopping ||
        sl_run_start(l, x->m, input, ctx, 5 * 60 * 1000, &x->st->tasks, NULL, express_done, x,
                     &x->run)) {
        if (!ctx)
            json_decref(input);
        exec_free(x);
    }
}

static int started(struct sl_call *c)
{
    struct start *w = c->state;
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (w->found) {
        /* The same name: the same execution if it runs with the same input. */
        bool same = strcmp(str(w->found, "status") ? str(w->found, "status") : "", "RUNNING") == 0 &&
                    json_equal(json_object_get(w->found, "input"),
                               json_object_get(w->rec, "input"));
        if (!same)
            return sl_call_fail(c, SFN_E_EXEC_EXISTS, "Execution Already Exists: '%s'", w->e.arn);
        return sl_call_ok(c, json_pack("{s:s, s:o}", "executionArn", w->e.arn, "startDate",
                                       sfn_timestamp(num(w->found, "start"))));
    }
    int64_t start = num(w->rec, "start");
    struct sfn_exec *x = exec_new(w->st, &w->e, json_incref(w->rec));
    if (!x || sl_loop_post(c->app->loop, w->express ? express_on_loop : start_on_loop, x)) {
        /* (Stored: a restart takes it up.) */
        if (x) {
            sl_asl_free(x->m);
            json_decref(x->rec);
            free(x);
        }
    }
    return sl_call_ok(c, json_pack("{s:s, s:o}", "executionArn", w->e.arn, "startDate",
                                   sfn_timestamp(start)));
}

SL_OP(states, StartExecution)
{
    struct start *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    w->st = c->svc;
    c->state = w;
    c->state_free = start_free;
    int rc = sfn_call_ref(c, &w->r);
    if (rc)
        return rc;
    json_t *machine = NULL;
    rc = sfn_read_machine(c->app->store, &w->r, &machine);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SFN_E_NOT_FOUND, "State Machine Does Not Exist: '%s'", w->r.arn);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    const char *name = json_string_value(json_object_get(c->in, "name"));
    char id[40];
    sl_uuid(id);
    if (name && !sfn_name_ok(name)) {
        json_decref(machine);
        return sl_call_fail(c, SFN_E_INVALID_NAME, "Invalid Name: '%.200s'", name);
    }
    const char *text = json_string_value(json_object_get(c->in, "input"));
    json_error_t je;
    w->input = json_loads(text ? text : "{}", JSON_DECODE_ANY, &je);
    if (!w->input || (text && strlen(text) > INPUT_MAX)) {
        json_decref(machine);
        return sl_call_fail(c, SFN_E_INVALID_INPUT, "Invalid State Machine Execution Input: "
                                                    "'%s'",
                            w->input ? "the input is larger than 256 KiB" : je.text);
    }
    struct sl_asl *m = NULL;
    struct sl_err err = {0};
    if ((rc = sl_asl_parse(str(machine, "definition"), &m, &err)) != 0) {
        json_decref(machine);
        return sl_call_internal(c, rc, &err);
    }
    w->start_state = m->start;
    int64_t now = sl_time_now_ms();
    w->deadline = m->timeout_s ? now + (int64_t)m->timeout_s * 1000 : 0;
    sl_asl_free(m);
    w->express = strcmp(str(machine, "type") ? str(machine, "type") : "", "EXPRESS") == 0;
    sfn_eref_make(&w->e, w->r.account, w->r.region, w->r.name, name ? name : id);
    w->rec = json_pack("{s:s, s:s, s:o, s:I, s:O, s:O, s:O}", "name", w->e.name, "status",
                       "RUNNING", "input", sfn_json_text(w->input), "start", (json_int_t)now,
                       "definition", json_object_get(machine, "definition"), "roleArn",
                       json_object_get(machine, "roleArn"), "type",
                       json_object_get(machine, "type"));
    json_decref(machine);
    if (!w->rec)
        return SL_ENOMEM;
    if (w->express) {
        /* In memory only; its ARN is an EXPRESS execution's. */
        snprintf(w->e.arn, sizeof(w->e.arn), "arn:aws:states:%s:%s:express:%s:%s:%s",
                 w->e.region, w->e.account, w->e.machine, w->e.name, id);
        return started(c);
    }
    return sl_call_write(c, start_txn, w, started);
}

/* ---- reading executions ----------------------------------------------------------------- */

static json_t *describe(const struct sfn_eref *e, const json_t *rec)
{
    json_t *out = json_pack("{s:s, s:s, s:s, s:O, s:o, s:O, s:{s:b}, s:i, s:s}", "executionArn",
                            e->arn, "stateMachineArn", e->machine_arn, "name", e->name,
                            "status", json_object_get(rec, "status"), "startDate",
                            sfn_timestamp(num(rec, "start")), "input",
                            json_object_get(rec, "input"), "inputDetails", "included", 1,
                            "redriveCount", 0, "redriveStatus", "NOT_REDRIVABLE");
    if (json_object_get(rec, "stop"))
        json_object_set_new(out, "stopDate", sfn_timestamp(num(rec, "stop")));
    if (json_object_get(rec, "output")) {
        json_object_set(out, "output", json_object_get(rec, "output"));
        json_object_set_new(out, "outputDetails", json_pack("{s:b}", "included", 1));
    }
    if (json_object_get(rec, "error"))
        json_object_set(out, "error", json_object_get(rec, "error"));
    if (json_object_get(rec, "cause"))
        json_object_set(out, "cause", json_object_get(rec, "cause"));
    return out;
}

SL_OP(states, DescribeExecution)
{
    struct sfn_eref e;
    json_t *rec = NULL;
    int rc = call_exec(c, &e, &rec);
    if (rc)
        return rc;
    json_t *out = describe(&e, rec);
    json_decref(rec);
    return sl_call_ok(c, out);
}

SL_OP(states, DescribeStateMachineForExecution)
{
    struct sfn_eref e;
    json_t *rec = NULL;
    int rc = call_exec(c, &e, &rec);
    if (rc)
        return rc;
    json_t *out = json_pack("{s:s, s:s, s:O, s:O, s:o, s:{s:s, s:b}, s:{s:b}}", "stateMachineArn",
                            e.machine_arn, "name", e.machine, "definition",
                            json_object_get(rec, "definition"), "roleArn",
                            json_object_get(rec, "roleArn"), "updateDate",
                            sfn_timestamp(num(rec, "start")), "loggingConfiguration", "level",
                            "OFF", "includeExecutionData", 0, "tracingConfiguration", "enabled",
                            0);
    json_decref(rec);
    return sl_call_ok(c, out);
}

static int by_start_desc(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int64_t sx = num(x, "start"), sy = num(y, "start");
    if (sx != sy)
        return sx < sy ? 1 : -1;
    return strcmp(str(x, "name"), str(y, "name"));
}

SL_OP(states, ListExecutions)
{
    struct sfn_ref r;
    int rc = sfn_call_ref(c, &r);
    if (rc)
        return rc;
    json_t *machine = NULL;
    rc = sfn_read_machine(c->app->store, &r, &machine);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SFN_E_NOT_FOUND, "State Machine Does Not Exist: '%s'", r.arn);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    bool express = strcmp(str(machine, "type") ? str(machine, "type") : "", "EXPRESS") == 0;
    json_decref(machine);
    if (express)
        return sl_call_fail(c, SFN_E_TYPE, "This operation is not supported by this type of "
                                           "state machine");
    size_t limit = sfn_page_limit(c);
    const char *token = json_string_value(json_object_get(c->in, "nextToken"));
    char *end = NULL;
    long offset = token ? strtol(token, &end, 10) : 0;
    if (token && (!*token || *end || offset < 0))
        return sl_call_fail(c, SFN_E_INVALID_TOKEN, "Invalid Token: '%.200s'", token);
    const char *filter = json_string_value(json_object_get(c->in, "statusFilter"));
    struct sfn_eref e;
    sfn_eref_make(&e, r.account, r.region, r.name, "x");
    struct sl_item *items = NULL;
    size_t n = 0;
    rc = sl_kv_list(c->app->store, SFN_NS_EXEC, e.pk, NULL, NULL, SIZE_MAX, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t **recs = calloc(n ? n : 1, sizeof(*recs));
    size_t k = 0;
    for (size_t i = 0; recs && i < n; i++) {
        json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        if (rec && (!filter || strcmp(str(rec, "status") ? str(rec, "status") : "", filter) == 0))
            recs[k++] = rec;
        else
            json_decref(rec);
        sl_item_free(&items[i]);
    }
    free(items);
    if (!recs)
        return SL_ENOMEM;
    qsort(recs, k, sizeof(*recs), by_start_desc);
    json_t *list = json_array();
    for (size_t i = (size_t)offset; i < k && i < (size_t)offset + limit; i++) {
        sfn_eref_make(&e, r.account, r.region, r.name, str(recs[i], "name"));
        json_t *one = json_pack("{s:s, s:s, s:s, s:O, s:o, s:i}", "executionArn", e.arn,
                                "stateMachineArn", r.arn, "name", e.name, "status",
                                json_object_get(recs[i], "status"), "startDate",
                                sfn_timestamp(num(recs[i], "start")), "redriveCount", 0);
        if (json_object_get(recs[i], "stop"))
            json_object_set_new(one, "stopDate", sfn_timestamp(num(recs[i], "stop")));
        json_array_append_new(list, one);
    }
    json_t *out = json_pack("{s:o}", "executions", list);
    if ((size_t)offset + limit < k) {
        char next[32];
        snprintf(next, sizeof(next), "%zu", (size_t)offset + limit);
        json_object_set_new(out, "nextToken", json_string(next));
    }
    for (size_t i = 0; i < k; i++)
        json_decref(recs[i]);
    free(recs);
    return sl_call_ok(c, out);
}

SL_OP(states, GetExecutionHistory)
{
    struct sfn_eref e;
    json_t *rec = NULL;
    int rc = call_exec(c, &e, &rec);
    if (rc)
        return rc;
    json_decref(rec);
    size_t limit = sfn_page_limit(c);
    bool reverse = json_is_true(json_object_get(c->in, "reverseOrder"));
    json_t *data = json_object_get(c->in, "includeExecutionData");
    bool with_data = !data || json_is_true(data);
    const char *token = json_string_value(json_object_get(c->in, "nextToken"));
    if (token && (strlen(token) != 10 || strspn(token, "0123456789") != 10))
        return sl_call_fail(c, SFN_E_INVALID_TOKEN, "Invalid Token: '%.200s'", token);
    struct sl_item *items = NULL;
    size_t n = 0;
    rc = reverse ? sl_kv_list_desc(c->app->store, SFN_NS_HIST, e.arn, NULL, token, limit + 1,
                                   &items, &n)
                 : sl_kv_list(c->app->store, SFN_NS_HIST, e.arn, NULL, token, limit + 1, &items,
                              &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *events = json_array();
    for (size_t i = 0; i < n && i < limit; i++) {
        json_t *ev = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        if (!ev)
            continue;
        json_t *out = json_pack("{s:o, s:O, s:I, s:O}", "timestamp", sfn_timestamp(num(ev, "t")),
                                "type", json_object_get(ev, "type"), "id",
                                (json_int_t)strtol(items[i].sk, NULL, 10), "previousEventId",
                                json_object_get(ev, "prev"));
        const char *k;
        json_t *v;
        json_object_foreach(ev, k, v)
        {
            if (!strstr(k, "EventDetails"))
                continue;
            json_t *d = json_copy(v);
            if (!with_data) {
                static const char *const bulky[] = {"input", "output", "parameters"};
                for (size_t b = 0; b < 3; b++)
                    json_object_del(d, bulky[b]);
            }
            json_object_set_new(out, k, d);
        }
        json_array_append_new(events, out);
        json_decref(ev);
    }
    json_t *out = json_pack("{s:o}", "events", events);
    if (n > limit)
        json_object_set_new(out, "nextToken", json_string(items[limit - 1].sk));
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

/* ---- StopExecution -------------------------------------------------------------------------- */

struct stop {
    struct sl_call *c;
    struct sfn *st;
    struct sfn_eref e;
    const char *error, *cause;
    int64_t at;
};

/* Ends the stored execution e that no run of this process has (loop
 * thread): its record as status says (if still RUNNING), its last history
 * event, its status change; its position goes. */
static void end_stored(struct sfn *st, const struct sfn_eref *e, const char *status,
                       const char *error, const char *cause)
{
    json_t *rec = NULL;
    if (read_exec(st->app->store, e, &rec))
        rec = NULL;
    if (rec && strcmp(str(rec, "status") ? str(rec, "status") : "", "RUNNING") == 0) {
        const char *type, *key;
        json_t *d = record_end(rec, status, NULL, error, cause, &type, &key);
        struct sl_item it;
        long id = 0;
        if (sl_kv_get(st->app->store, SFN_NS_RUN, RUN_PK, e->arn, &it) == 0) {
            json_t *pos = json_loadb(it.val, it.val_len, 0, NULL);
            id = (long)num(pos, "next_id");
            json_decref(pos);
            sl_item_free(&it);
        }
        if (id > 0) {
            char sk[24];
            snprintf(sk, sizeof(sk), "%010ld", id);
            put(st, SFN_NS_HIST, e->arn, sk,
                json_pack("{s:I, s:s, s:i, s:o}", "t", (json_int_t)sl_time_now_ms(), "type",
                          type, "prev", (int)(id - 1), key, d));
        } else {
            json_decref(d);
        }
        put(st, SFN_NS_EXEC, e->pk, e->name, json_incref(rec));
        status_event(st, e, rec);
        sync_ended(st, e, rec);
    }
    del(st, SFN_NS_RUN, RUN_PK, e->arn);
    json_decref(rec);
}

static void stop_on_loop(struct sl_loop *l, void *arg)
{
    (void)l;
    struct stop *s = arg;
    struct sfn_exec *x = s->st->running;
    while (x && strcmp(x->e.arn, s->e.arn) != 0)
        x = x->next;
    if (x && x->run && !x->aborted) {
        x->aborted = true;
        sl_strlcpy(x->stop_error, s->error ? s->error : "", sizeof(x->stop_error));
        free(x->stop_cause);
        x->stop_cause = s->cause ? strdup(s->cause) : NULL;
        sl_run_stop(x->run, x->stop_error, x->stop_cause);
    } else if (!x) {
        /* Not under way here (not taken up, or it could not start): its
         * stored record ends. */
        end_stored(s->st, &s->e, "ABORTED", s->error, s->cause);
    }
    /* The answer waits for what the stop wrote. */
    struct batch *b = batch_get(s->st);
    struct sl_call **wake = b ? realloc(b->wake, (b->nwake + 1) * sizeof(*wake)) : NULL;
    if (!wake) {
        sl_call_wake(s->c);
        return;
    }
    b->wake = wake;
    b->wake[b->nwake++] = s->c;
    submit(s->st);
}

static int stopped(struct sl_call *c)
{
    struct stop *s = c->state;
    if (s->c) {
        /* (What was written: the stop date, or the end that came first.) */
        json_t *rec = NULL;
        int rc = read_exec(c->app->store, &s->e, &rec);
        const char *status = rc ? NULL : str(rec, "status");
        bool ended = status && strcmp(status, "RUNNING") != 0;
        if (ended)
            s->at = num(rec, "stop");
        json_decref(rec);
        if (!ended)
            return sl_call_internal(c, rc ? rc : SL_EIO, NULL);
    }
    return sl_call_ok(c, json_pack("{s:o}", "stopDate", sfn_timestamp(s->at)));
}

SL_OP(states, StopExecution)
{
    struct stop *s = sl_call_alloc(c, sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    json_t *rec = NULL;
    int rc = call_exec(c, &s->e, &rec);
    if (rc)
        return rc;
    bool running = strcmp(str(rec, "status") ? str(rec, "status") : "", "RUNNING") == 0;
    s->at = running ? sl_time_now_ms() : num(rec, "stop");
    json_decref(rec);
    c->state = s;
    if (!running)
        return stopped(c);
    s->c = c;
    s->st = c->svc;
    s->error = json_string_value(json_object_get(c->in, "error"));
    s->cause = json_string_value(json_object_get(c->in, "cause"));
    sl_call_wait(c, stopped);
    if (sl_loop_post(c->app->loop, stop_on_loop, s))
        sl_call_wake(c);
    return SL_LATER;
}

/* ---- the service's start and stop ------------------------------------------------------------ */

/* Takes up an execution that was running when Sluice stopped. */
static void resume_on_loop(struct sl_loop *l, void *arg)
{
    struct sfn_exec *x = arg;
    exec_link(x);
    json_t *pos = json_incref(x->pos); /* (kept: written again with each new event) */
    x->next_id = num(pos, "next_id");
    x->deadline = num(pos, "deadline");
    json_t *att = json_object_get(pos, "attempts");
    unsigned attempts[64] = {0};
    size_t na = json_array_size(att) < 64 ? json_array_size(att) : 64;
    for (size_t i = 0; i < na; i++)
        attempts[i] = (unsigned)json_integer_value(json_array_get(att, i));
    int64_t now = sl_time_now_ms();
    int rc;
    if (x->st->stopping)
        rc = SL_ECLOSED;
    else if (json_is_false(json_object_get(pos, "entered")))
        /* Accepted, never started: it starts now, within its deadline. */
        rc = sl_run_start(l, x->m, json_incref(json_object_get(pos, "input")),
                          json_incref(json_object_get(pos, "ctx")),
                          x->deadline ? (x->deadline > now ? x->deadline - now : 1) : 0,
                          &x->st->tasks, &x->obs, exec_done, x, &x->run);
    else
        rc = sl_run_resume(l, x->m, (size_t)num(pos, "state"),
                                             json_incref(json_object_get(pos, "input")),
                                             json_incref(json_object_get(pos, "ctx")), attempts, na,
                                             num(pos, "until"),
                                             json_is_true(json_object_get(pos, "retry")),
                                             x->deadline, &x->st->tasks, &x->obs, exec_done, x,
                                             &x->run);
    json_decref(pos);
    if (rc) {
        struct sfn *st = x->st;
        struct sfn_eref e = x->e;
        x->shutdown = true;
        exec_free(x);
        if (rc != SL_ECLOSED)
            end_stored(st, &e, "FAILED", "States.Runtime",
                       "The execution could not be taken up after a restart");
    }
}

/* A stored position that cannot be taken up (its record or definition
 * is gone or broken): the execution fails, the position goes. */
struct orphan {
    struct sfn *st;
    struct sfn_eref e;
};

static void orphan_on_loop(struct sl_loop *l, void *arg)
{
    (void)l;
    struct orphan *o = arg;
    end_stored(o->st, &o->e, "FAILED", "States.Runtime",
               "The execution could not be taken up after a restart");
    free(o);
}

int sfn_standard_start(struct sfn *st, struct sl_err *err)
{
    (void)err;
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(st->app->store, SFN_NS_RUN, RUN_PK, NULL, NULL, SIZE_MAX, &items, &n);
    if (rc)
        return rc;
    size_t resumed = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *pos = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        struct sfn_eref e;
        json_t *rec = NULL;
        struct sfn_exec *x = NULL;
        if (pos && sfn_eref_parse(items[i].sk, &e) && read_exec(st->app->store, &e, &rec) == 0)
            x = exec_new(st, &e, rec);
        if (x) {
            x->pos = pos;
            pos = NULL;
            if (sl_loop_post(st->app->loop, resume_on_loop, x) == 0)
                resumed++;
            else
                exec_free(x);
        } else {
            struct orphan *o = calloc(1, sizeof(*o));
            if (o) {
                o->st = st;
                if (!sfn_eref_parse(items[i].sk, &o->e))
                    sl_strlcpy(o->e.arn, items[i].sk, sizeof(o->e.arn));
                if (sl_loop_post(st->app->loop, orphan_on_loop, o))
                    free(o);
            }
        }
        json_decref(pos);
        sl_item_free(&items[i]);
    }
    free(items);
    if (resumed)
        sl_info("stepfunctions", "%zu execution(s) taken up where they were", resumed);
    return 0;
}

/* (Loop thread, as the service stops.) The runs stop without an end:
 * their positions are stored, and a restart takes them up. */
void sfn_standard_stop(struct sfn *st)
{
    submit(st); /* (where each run is, before it stops) */
    while (st->running) {
        struct sfn_exec *x = st->running;
        x->shutdown = true;
        if (x->run)
            sl_run_stop(x->run, "States.Runtime", "Sluice is stopping");
        else
            exec_free(x);
    }
    submit(st);
}
