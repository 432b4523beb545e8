/*
 * State machines as targets (engine/targets.h): an EventBridge rule's or
 * a schedule's payload starts an execution with it as the input. The
 * delivery is a message on the store queue sfn.start, put in the
 * producer's transaction (durable with its cause); a consumer
 * (engine/consumer.h) takes it and calls StartExecution through the
 * service's own API (sl_call_local), with a name made at delivery, so a
 * message delivered twice starts one execution.
 *
 * Storage:
 *   queue sfn.start  the input; meta {"machine" (ARN), "name"} (the
 *                    consumer adds its counts)
 */
#include "services/states/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/consumer.h"

#define START_Q "sfn.start"
#define START_INFLIGHT 16
#define START_LEASE_MS (5 * 60 * 1000)
#define START_RETRIES 5

static int target_check(void *ctx, const char *arn, const char *principal,
                        const char *source_arn, const char *source_account)
{
    (void)principal, (void)source_arn, (void)source_account;
    struct sfn *st = ctx;
    struct sfn_ref r;
    if (!sfn_ref_parse(arn, &r))
        return SL_EINVAL;
    json_t *rec = NULL;
    int rc = sfn_read_machine(st->app->store, &r, &rec);
    json_decref(rec);
    return rc;
}

static int target_deliver(void *ctx, struct sl_txn *t, const char *arn, const char *payload,
                          size_t len, const struct sl_target_source *src)
{
    (void)ctx;
    struct sfn_ref r;
    if (!sfn_ref_parse(arn, &r))
        return 0;
    int rc = sl_txn_exists(t, SFN_NS_MACHINE, r.pk, r.name);
    if (rc == SL_ENOTFOUND) {
        sl_warn("stepfunctions", "%s: no such state machine; the delivery is dropped", arn);
        if (src && src->missing)
            *src->missing = 1;
        return 0;
    }
    if (rc)
        return rc;
    char name[40];
    sl_uuid(name);
    json_t *meta = json_pack("{s:s, s:s}", "machine", r.arn, "name", name);
    char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    rc = text ? sl_txn_queue_put(t, START_Q, NULL, payload, len, text, 0, NULL) : SL_ENOMEM;
    free(text);
    return rc;
}

const struct sl_target_kind sfn_targets[] = {
    {"states", target_check, target_deliver},
    {NULL, NULL, NULL},
};

/* ---- the consumer ------------------------------------------------------------------ */

static int prepare(void *ctx, struct sl_delivery *d)
{
    (void)ctx;
    struct sfn_ref r;
    if (!sfn_ref_parse(json_string_value(json_object_get(d->meta, "machine")), &r))
        return SL_ENOTFOUND;
    d->retries = START_RETRIES;
    return 0;
}

static void started(void *arg, const struct sl_local_answer *a)
{
    struct sl_delivery *d = arg;
    /* (The same name already started: this message's execution.) */
    bool ok = !a->code || strcmp(a->code, "ExecutionAlreadyExists") == 0;
    if (!ok)
        sl_warn("stepfunctions", "%s: the execution did not start: %s: %s",
                json_string_value(json_object_get(d->meta, "machine")), a->code, a->message);
    struct sfn *st = d->state;
    sl_consumer_done(st->starter, d, ok ? SL_DELIVERED : SL_DELIVERY_ERROR);
}

static int deliver(void *ctx, struct sl_delivery *d)
{
    struct sfn *st = ctx;
    struct sfn_ref r;
    sfn_ref_parse(json_string_value(json_object_get(d->meta, "machine")), &r);
    json_t *in = json_pack("{s:s, s:O, s:s%}", "stateMachineArn", r.arn, "name",
                           json_object_get(d->meta, "name"), "input", d->m.body,
                           d->m.body_len);
    if (!in)
        return SL_ENOMEM;
    d->state = st;
    return sl_call_local(st->app, "stepfunctions", "StartExecution", r.account, r.region, in,
                         NULL, 0, started, d);
}

static char *record(void *ctx, struct sl_delivery *d, const char *condition)
{
    (void)ctx, (void)d, (void)condition;
    return NULL;
}

static const struct sl_consumer_ops ops = {
    .prepare = prepare,
    .deliver = deliver,
    .record = record,
};

static int64_t error_ms(unsigned tries)
{
    return tries < 6 ? 1000LL << tries : 60000;
}

static int64_t throttle_ms(unsigned throttles)
{
    return throttles < 6 ? 500LL << throttles : 30000;
}

int sfn_targets_start(struct sfn *st, struct sl_err *err)
{
    struct sl_app *app = st->app;
    struct sl_consumer_config cfg = {
        .store = app->store,
        .loop = app->loop,
        .targets = app->targets,
        .queue = START_Q,
        .max_inflight = START_INFLIGHT,
        .time_scale = app->time_scale,
        .lease_ms = START_LEASE_MS,
        .policy = {error_ms, throttle_ms},
        .ops = &ops,
        .ctx = st,
    };
    return sl_consumer_start(&st->starter, &cfg, err);
}

void sfn_targets_stop(struct sfn *st)
{
    sl_consumer_stop(st->starter);
}

void sfn_targets_free(struct sfn *st)
{
    sl_consumer_free(st->starter);
    st->starter = NULL;
}
