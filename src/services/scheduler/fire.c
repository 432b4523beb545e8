/*
 * The runner: the loop keeps each enabled schedule's next fire time and
 * sleeps on one timer until the earliest (never polling). A fire is a
 * transaction that reads the schedule again (still there, enabled, the
 * same version, not fired for that time yet), hands the target's Input
 * (its context attributes put in) to the engine's targets, and records
 * the fire's time in the schedule, or deletes the schedule after its last
 * fire when its ActionAfterCompletion is DELETE. A target that is gone
 * sends the payload to the target's dead-letter queue.
 *
 * The list is read again at start and after each change (posted once the
 * change is durable). At start a schedule whose times passed while Sluice
 * was down fires once, for the latest of them, if that is still within
 * its lateness (plan.c); later ones wait for their time.
 *
 * With a FLEXIBLE window, AWS invokes at some instant of the window after
 * the scheduled time; Sluice always picks the scheduled time itself.
 *
 * Schedules invoke their targets with their execution role, not by the
 * targets' resource policies: deliveries carry no principal, so a
 * function needs no permission for scheduler.amazonaws.com (RoleArn is
 * kept, not evaluated).
 */
#include "services/scheduler/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

/* The largest payload a fire builds (the targets have smaller limits). */
#define PAYLOAD_MAX (1024 * 1024)

struct entry {
    char pk[176], name[SCH_NAME_MAX + 1];
    int64_t version;
    struct sch_plan plan;
    int64_t next_ms; /* -1: none */
};

struct sch_runner {
    struct sch *st;
    struct sl_inflight inflight;
    /* Loop thread only: */
    struct entry *v;
    size_t n;
    struct sl_timer *timer;
};

/* One fire, in its transaction. */
struct fire {
    struct sch_runner *r;
    char pk[176], name[SCH_NAME_MAX + 1];
    int64_t version, at_ms;
    bool last; /* no fire comes after this one */
    struct sl_err err;
};

/* ---- one fire ------------------------------------------------------------------------ */

/* What a target's service answers when its resource is gone: the
 * dead-letter message's ERROR_CODE and ERROR_MESSAGE. */
static const struct {
    const char *service, *code, *message;
} gone[] = {
    {"sqs", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."},
    {"sns", "NotFound", "Topic does not exist"},
    {"lambda", "ResourceNotFoundException", "Function not found"},
    {"events", "ResourceNotFoundException", "Event bus does not exist."},
    {"kinesis", "ResourceNotFoundException", "Stream not found."},
};

/* Sends payload to the target's dead-letter queue dlq, with AWS's
 * attributes saying why. */
static int dead_letter(struct sl_txn *t, struct sch *st, const char *dlq, const char *payload,
                       const char *schedule_arn, const char *target_arn, const char *account,
                       const char *execution_id)
{
    const char *code = "AWS.Scheduler.InternalServerError";
    const char *message = "The target could not be invoked.";
    for (size_t i = 0; i < SL_ARRAY_LEN(gone); i++) {
        size_t k = strlen(gone[i].service);
        if (strncmp(target_arn, "arn:aws:", 8) == 0 &&
            strncmp(target_arn + 8, gone[i].service, k) == 0 && target_arn[8 + k] == ':') {
            code = gone[i].code;
            message = gone[i].message;
        }
    }
    json_t *attrs = json_object();
    const char *names[] = {"ERROR_CODE",   "ERROR_MESSAGE", "EXECUTION_ID",
                           "RETRY_ATTEMPTS", "SCHEDULE_ARN", "TARGET_ARN"};
    const char *values[] = {code, message, execution_id, "0", schedule_arn, target_arn};
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++)
        json_object_set_new(attrs, names[i],
                            json_pack("{s:s, s:s}", "DataType", "String", "StringValue",
                                      values[i]));
    char *text = json_dumps(attrs, JSON_COMPACT);
    json_decref(attrs);
    if (!text)
        return SL_ENOMEM;
    int missing = 0;
    struct sl_target_source src = {
        .source_arn = schedule_arn,
        .source_account = account,
        .attributes = text,
        .missing = &missing,
    };
    int rc = sl_target_deliver_txn(st->app->targets, t, dlq, payload, strlen(payload), &src);
    free(text);
    if (rc == SL_EINVAL || rc == SL_ENOTSUP || missing) {
        sl_warn("scheduler", "%s: no dead-letter queue %s; invocation dropped", schedule_arn,
                dlq);
        return 0;
    }
    if (!rc)
        atomic_fetch_add(&st->counts.dead_lettered, 1);
    return rc;
}

/* An EventBridge target's event: EventBridgeParameters and the input as
 * its detail (malloc'd text, or NULL). */
static char *bus_event(const json_t *target, const char *input, const struct sch_ref *r)
{
    const json_t *p = json_object_get(target, "EventBridgeParameters");
    json_t *detail = json_loads(input, 0, NULL);
    char id[40], time[40];
    sl_uuid(id);
    sch_time_text(sl_time_now_ms(), time, sizeof(time));
    json_t *event = json_pack(
        "{s:s, s:s, s:O?, s:O?, s:s, s:s, s:s, s:[s], s:o}", "version", "0", "id", id,
        "detail-type", json_object_get(p, "DetailType"), "source", json_object_get(p, "Source"),
        "account", r->account, "time", time, "region", r->region, "resources", r->arn, "detail",
        json_is_object(detail) ? json_incref(detail) : json_object());
    json_decref(detail);
    char *text = event ? json_dumps(event, JSON_COMPACT) : NULL;
    json_decref(event);
    return text;
}

/* Inside the fire's transaction: the schedule's target gets its payload
 * (or, when gone, its dead-letter queue). */
static int invoke(struct sl_txn *t, struct sch *st, const struct sch_ref *r, const json_t *rec,
                  int64_t at_ms)
{
    const json_t *target = json_object_get(rec, "Target");
    const char *arn = json_string_value(json_object_get(target, "Arn"));
    if (!arn)
        return 0;
    char execution_id[40];
    sl_uuid(execution_id);
    char *payload = sch_input_expand(json_string_value(json_object_get(target, "Input")), r->arn,
                                     at_ms, execution_id, 1, PAYLOAD_MAX);
    if (payload && json_object_get(target, "EventBridgeParameters") &&
        strncmp(arn, "arn:aws:events:", 15) == 0) {
        char *event = bus_event(target, payload, r);
        free(payload);
        payload = event;
    }
    if (!payload) {
        sl_warn("scheduler", "%s: its payload is larger than %d bytes; not delivered", r->arn,
                PAYLOAD_MAX);
        return 0;
    }
    int missing = 0;
    struct sl_target_source src = {
        .source_arn = r->arn,
        .source_account = r->account,
        .partition_key = json_string_value(
            json_object_get(json_object_get(target, "KinesisParameters"), "PartitionKey")),
        .missing = &missing,
    };
    /* A FIFO queue takes the message group, and the execution's id as the
     * deduplication id. */
    if (sl_str_ends_with(arn, ".fifo")) {
        src.group_id = json_string_value(
            json_object_get(json_object_get(target, "SqsParameters"), "MessageGroupId"));
        src.dedup_id = execution_id;
    }
    int rc = sl_target_deliver_txn(st->app->targets, t, arn, payload, strlen(payload), &src);
    atomic_fetch_add(&st->counts.invocations, 1);
    if (rc == SL_ENOMEM || rc == SL_EIO || rc == SL_ECORRUPT) {
        free(payload);
        return rc;
    }
    if (rc || missing) {
        atomic_fetch_add(&st->counts.failed, 1);
        const char *dlq = json_string_value(
            json_object_get(json_object_get(target, "DeadLetterConfig"), "Arn"));
        rc = dlq ? dead_letter(t, st, dlq, payload, r->arn, arn, r->account, execution_id) : 0;
        if (!dlq)
            sl_warn("scheduler", "%s: target %s is gone; invocation dropped", r->arn, arn);
    }
    free(payload);
    return rc;
}

static int fire_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct fire *f = arg;
    struct sch_ref r;
    if (!sch_ref_parse_pk(f->pk, f->name, &r))
        return 0;
    struct sl_item it;
    int rc = sl_txn_get(t, SCH_NS_SCHEDULE, f->pk, f->name, &it);
    if (rc)
        return rc == SL_ENOTFOUND ? 0 : rc;
    json_t *rec = sch_record_parse(&it);
    sl_item_free(&it);
    const char *state = json_string_value(json_object_get(rec, "State"));
    const char *after = json_string_value(json_object_get(rec, "ActionAfterCompletion"));
    json_t *last = json_object_get(rec, "_last_ms");
    /* (Changed or fired meanwhile: the reload sees it, or it is done.) */
    if (!state || strcmp(state, "ENABLED") != 0 ||
        json_integer_value(json_object_get(rec, "_version")) != f->version ||
        (json_is_integer(last) && json_integer_value(last) >= f->at_ms)) {
        json_decref(rec);
        return 0;
    }
    rc = invoke(t, f->r->st, &r, rec, f->at_ms);
    if (!rc && f->last && after && strcmp(after, "DELETE") == 0) {
        rc = sl_txn_delete(t, SCH_NS_SCHEDULE, f->pk, f->name);
    } else if (!rc) {
        json_object_set_new(rec, "_last_ms", json_integer(f->at_ms));
        rc = sch_put_json(t, SCH_NS_SCHEDULE, f->pk, f->name, rec);
    }
    json_decref(rec);
    return rc;
}

static void fired(void *arg, int result)
{
    struct fire *f = arg;
    if (result)
        sl_warn("scheduler", "schedule %s: fire failed: %s", f->name,
                f->err.msg[0] ? f->err.msg : sl_strerror(result));
    struct sch_runner *r = f->r;
    free(f);
    sl_inflight_drop(&r->inflight);
}

static void submit(struct sch_runner *r, const struct entry *e, int64_t at_ms, bool last)
{
    struct fire *f = calloc(1, sizeof(*f));
    if (!f) {
        sl_error("scheduler", "schedule %s: out of memory; fire at %lld dropped", e->name,
                 (long long)at_ms);
        return;
    }
    f->r = r;
    memcpy(f->pk, e->pk, sizeof(f->pk));
    memcpy(f->name, e->name, sizeof(f->name));
    f->version = e->version;
    f->at_ms = at_ms;
    f->last = last;
    sl_inflight_hold(&r->inflight);
    if (sl_store_submit(r->st->app->store, fire_txn, f, &f->err, fired, f)) {
        free(f);
        sl_inflight_drop(&r->inflight);
    }
}

/* ---- the loop ------------------------------------------------------------------------- */

static void clear(struct sch_runner *r)
{
    for (size_t i = 0; i < r->n; i++)
        sch_plan_clear(&r->v[i].plan);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

static void on_timer(struct sl_loop *l, void *arg);

/* Sleeps until the earliest next fire. */
static void arm(struct sch_runner *r)
{
    struct sl_loop *loop = r->st->app->loop;
    if (r->timer) {
        sl_loop_timer_cancel(loop, r->timer);
        r->timer = NULL;
    }
    int64_t first = -1;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].next_ms >= 0 && (first < 0 || r->v[i].next_ms < first))
            first = r->v[i].next_ms;
    if (first >= 0)
        r->timer = sl_loop_timer(loop, sl_loop_now_ms() + (first - sl_time_now_ms()), on_timer, r);
}

/* Loop thread: fires what is due, then sleeps until the next. */
static void on_timer(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sch_runner *r = arg;
    r->timer = NULL;
    int64_t now = sl_time_now_ms();
    for (size_t i = 0; i < r->n; i++) {
        struct entry *e = &r->v[i];
        if (e->next_ms < 0 || e->next_ms > now)
            continue;
        int64_t at = e->next_ms;
        e->next_ms = sch_plan_next(&e->plan, now > at ? now : at);
        /* (A fire the loop comes to too late, after a suspend, is not made.) */
        if (now - at <= e->plan.late_ms)
            submit(r, e, at, e->next_ms < 0);
    }
    arm(r);
}

/* Adds the schedule (rec, at pk/name) to the loop's list when it is
 * enabled and has a fire to make. */
static void load(struct sch_runner *r, const char *pk, const char *name, const json_t *rec,
                 int64_t now)
{
    const char *state = json_string_value(json_object_get(rec, "State"));
    if (!state || strcmp(state, "ENABLED") != 0 || strlen(pk) >= sizeof(r->v->pk) ||
        strlen(name) >= sizeof(r->v->name))
        return;
    struct sch_plan p;
    struct sl_err err = {0};
    if (sch_plan_parse(rec, &p, &err)) {
        sl_warn("scheduler", "schedule %s/%s not run: %s", pk, name, err.msg);
        return;
    }
    /* A time missed while Sluice was down, else the next one. */
    int64_t next = sch_plan_missed(&p, now);
    if (next < 0)
        next = sch_plan_next(&p, now > p.from_ms ? now : p.from_ms);
    struct entry *grown = next >= 0 ? realloc(r->v, (r->n + 1) * sizeof(*r->v)) : NULL;
    if (!grown) {
        sch_plan_clear(&p);
        return;
    }
    r->v = grown;
    struct entry *e = &r->v[r->n++];
    memset(e, 0, sizeof(*e));
    sl_strlcpy(e->pk, pk, sizeof(e->pk));
    sl_strlcpy(e->name, name, sizeof(e->name));
    e->version = json_integer_value(json_object_get(rec, "_version"));
    e->plan = p;
    e->next_ms = next;
}

/* Loop thread: the schedules, read again. */
static void reload(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sch_runner *r = arg;
    if (sl_inflight_stopping(&r->inflight)) {
        sl_inflight_drop(&r->inflight);
        return;
    }
    clear(r);
    struct sl_store *s = r->st->app->store;
    char **pks = NULL;
    size_t npks = 0;
    int rc = sl_kv_list_pks(s, SCH_NS_SCHEDULE, &pks, &npks);
    if (rc)
        sl_error("scheduler", "cannot read the schedules: %s", sl_strerror(rc));
    int64_t now = sl_time_now_ms();
    for (size_t p = 0; p < npks; p++) {
        struct sl_item *items = NULL;
        size_t n = 0;
        rc = sl_kv_list(s, SCH_NS_SCHEDULE, pks[p], NULL, NULL, SIZE_MAX, &items, &n);
        if (rc)
            sl_error("scheduler", "cannot read the schedules of %s: %s", pks[p], sl_strerror(rc));
        for (size_t i = 0; i < n; i++) {
            json_t *rec = sch_record_parse(&items[i]);
            if (rec)
                load(r, pks[p], items[i].sk, rec, now);
            json_decref(rec);
            sl_item_free(&items[i]);
        }
        free(items);
        free(pks[p]);
    }
    free(pks);
    arm(r);
    sl_inflight_drop(&r->inflight);
}

void sch_runner_reload(struct sch *st)
{
    struct sch_runner *r = st->runner;
    if (!r || sl_inflight_stopping(&r->inflight))
        return;
    sl_inflight_hold(&r->inflight);
    if (sl_loop_post(st->app->loop, reload, r))
        sl_inflight_drop(&r->inflight);
}

int sch_runner_new(struct sch *st)
{
    struct sch_runner *r = calloc(1, sizeof(*r));
    if (!r)
        return SL_ENOMEM;
    r->st = st;
    sl_inflight_init(&r->inflight);
    st->runner = r;
    return 0;
}

int sch_runner_start(struct sch *st)
{
    sch_runner_reload(st);
    return 0;
}

static void stop_timer(struct sl_loop *l, void *arg)
{
    struct sch_runner *r = arg;
    if (r->timer)
        sl_loop_timer_cancel(l, r->timer);
    r->timer = NULL;
}

void sch_runner_stop(struct sch *st)
{
    struct sch_runner *r = st->runner;
    if (!r || sl_inflight_stop(&r->inflight))
        return;
    sl_loop_call(st->app->loop, stop_timer, r);
    sl_inflight_wait(&r->inflight);
}

void sch_runner_free(struct sch *st)
{
    struct sch_runner *r = st->runner;
    if (!r)
        return;
    clear(r);
    sl_inflight_destroy(&r->inflight);
    free(r);
    st->runner = NULL;
}
