/*
 * Asynchronous invocation (InvocationType Event, InvokeAsync), as Lambda
 * does it: the event is stored in the "lambda.async" queue (grouped by
 * function) before the 202, and the engine's consumer (engine/consumer.h)
 * sees it through with AWS's policy: function errors are retried
 * MaximumRetryAttempts times (about 1 and 2 minutes apart), throttles and
 * system errors back off (1 s to 5 min) without counting as tries, until
 * MaximumEventAgeInSeconds; the OnSuccess or OnFailure destination gets
 * AWS's invocation record in the transaction that removes the event. The
 * consumer asks the governor for a free slot of the function before it
 * leases its events, and the invocation takes that slot over.
 *
 * What is Lambda's here: the event's meta (account, region, function,
 * request id, the principal of a service that sent it), the consumer's
 * target side (the function's event invoke config as the policy, the
 * invocation through the runtime, AWS's record), and functions as a kind
 * of target: an async event of the function. All AWS delays are divided
 * by --time-scale.
 */
#include "services/lambda/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/consumer.h"
#include "engine/targets.h"
#include "runtime/runtime.h"

#define ASYNC_Q "lambda.async"
/* Longer than an event waits leased ahead (for a slot, too) and runs: a
 * day. The consumer releases every lease when it starts, so a lease
 * outlives nothing but this process's own tracking of the event. */
#define LEASE_MS (24 * 3600 * 1000)
#define DEFAULT_RETRIES 2
#define DEFAULT_MAX_AGE_S 21600

/* ---- targets -------------------------------------------------------------- */

/* Splits a Lambda function ARN (unqualified or $LATEST). */
static bool function_arn_parts(const char *arn, char *account, char *region, char *name)
{
    char buf[400];
    if (!arn || strlen(arn) >= sizeof(buf))
        return false;
    memcpy(buf, arn, strlen(arn) + 1);
    char *parts[9];
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(buf, ":", &save); p && n < 9; p = strtok_r(NULL, ":", &save))
        parts[n++] = p;
    if ((n != 7 && n != 8) || strcmp(parts[0], "arn") != 0 || strncmp(parts[1], "aws", 3) != 0 ||
        strcmp(parts[2], "lambda") != 0 || strcmp(parts[5], "function") != 0)
        return false;
    if (n == 8 && strcmp(parts[7], "$LATEST") != 0)
        return false; /* versions and aliases do not exist yet */
    if (strlen(parts[3]) >= 64 || strlen(parts[4]) != 12 || strlen(parts[6]) > 64)
        return false;
    strcpy(region, parts[3]);
    strcpy(account, parts[4]);
    strcpy(name, parts[6]);
    return true;
}

/* The target check of functions (targets.h): the function exists and,
 * for a service principal, its resource policy lets that service in. */
static int function_target_check(void *ctx, const char *arn, const char *principal,
                                 const char *source_arn, const char *source_account)
{
    struct sl_lambda *lam = ctx;
    char account[16], region[64], name[80], pk[96];
    if (!function_arn_parts(arn, account, region, name))
        return SL_EINVAL;
    snprintf(pk, sizeof(pk), "%s:%s", account, region);
    json_t *cfg = NULL;
    int rc = sl_lambda_get_config(lam, pk, name, &cfg);
    if (!rc && principal && !sl_lambda_policy_allows(cfg, principal, source_arn, source_account))
        rc = SL_EAUTH;
    json_decref(cfg);
    return rc;
}

/* Queues an event for function account/region/name; src (may be NULL)
 * is checked against the function's policy when the event runs. */
static int put_event(struct sl_txn *t, const char *account, const char *region,
                     const char *name, const char *request_id, const char *payload, size_t len,
                     const struct sl_target_source *src)
{
    json_t *meta = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "account", account, "region",
                             region, "function", name, "requestId", request_id, "tries", 0,
                             "throttles", 0);
    if (meta && src && src->principal) {
        json_object_set_new(meta, "principal", json_string(src->principal));
        if (src->source_arn)
            json_object_set_new(meta, "sourceArn", json_string(src->source_arn));
        if (src->source_account)
            json_object_set_new(meta, "sourceAccount", json_string(src->source_account));
    }
    char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    if (!text)
        return SL_ENOMEM;
    char group[256];
    snprintf(group, sizeof(group), "%s:%s/%s", account, region, name);
    int rc = sl_txn_queue_put(t, ASYNC_Q, group, payload, len, text, 0, NULL);
    free(text);
    return rc;
}

/* The delivery of functions (targets.h): an async event. */
static int function_target_deliver(void *ctx, struct sl_txn *t, const char *arn,
                                   const char *payload, size_t len,
                                   const struct sl_target_source *src)
{
    (void)ctx;
    char account[16], region[64], name[80], rid[40];
    if (!function_arn_parts(arn, account, region, name))
        return SL_EINVAL;
    sl_uuid(rid);
    return put_event(t, account, region, name, rid, payload, len, src);
}

/* ---- accepting events ------------------------------------------------------ */

struct accept {
    const char *account, *region, *name, *request_id, *payload;
    size_t len;
    sl_op_fn then;
};

static int accept_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct accept *a = arg;
    return put_event(t, a->account, a->region, a->name, a->request_id, a->payload, a->len,
                     NULL);
}

static int accepted(struct sl_call *c)
{
    struct accept *a = c->write_arg;
    struct sl_lambda *lam = c->svc;
    if (!c->write_rc)
        sl_lambda_metrics_async(lam->metrics, a->account, a->region, a->name,
                                SL_LAMBDA_ASYNC_RECEIVED, 0);
    return a->then(c);
}

int sl_lambda_async_accept(struct sl_call *c, const char *name, const char *payload, size_t len,
                           sl_op_fn then)
{
    struct accept *a = sl_call_alloc(c, sizeof(*a));
    char *copy = a ? sl_arena_strdup(&c->http->arena, name) : NULL;
    if (!copy)
        return SL_ENOMEM;
    *a = (struct accept){c->account, c->region, copy, c->request_id, payload, len, then};
    return sl_call_write(c, accept_txn, a, accepted);
}

/* ---- event invoke configs ---------------------------------------------------- */

/* A function's event invoke config as stored (JSON), or NULL when none. */
json_t *sl_lambda_eic_stored(struct sl_lambda *lam, const char *pk, const char *name)
{
    uint64_t gen = 0;
    json_t *c = sl_lambda_cache_get(lam->eic_cache, pk, name, &gen);
    if (c)
        return json_is_object(c) ? c : (json_decref(c), NULL); /* null: none, cached */
    struct sl_item it;
    int rc = sl_kv_get(lam->app->store, SL_LAMBDA_EIC_NS, pk, name, &it);
    if (rc && rc != SL_ENOTFOUND)
        return NULL;
    c = rc ? json_null() : json_loadb(it.val, it.val_len, 0, NULL);
    if (!rc)
        sl_item_free(&it);
    if (c)
        sl_lambda_cache_put(lam->eic_cache, pk, name, c, gen);
    return json_is_object(c) ? c : (json_decref(c), NULL);
}

/* ---- the consumer's target side -------------------------------------------- */

/* One event on its way: its meta, and its invocation. */
struct event {
    struct sl_lambda *lam;
    json_t *meta;
    const char *account, *region, *name, *request_id;
    char pk[96], arn[300];
    json_t *cfg;
    struct sl_invocation inv;
    bool invoked; /* inv holds an invocation's result */
};

static int prepare(void *ctx, struct sl_delivery *d)
{
    struct sl_lambda *lam = ctx;
    struct event *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return SL_ENOMEM;
    d->state = ev;
    ev->lam = lam;
    ev->meta = json_incref(d->meta);
    ev->account = json_string_value(json_object_get(ev->meta, "account"));
    ev->region = json_string_value(json_object_get(ev->meta, "region"));
    ev->name = json_string_value(json_object_get(ev->meta, "function"));
    ev->request_id = json_string_value(json_object_get(ev->meta, "requestId"));
    if (!ev->account || !ev->region || !ev->name || !ev->request_id) {
        sl_error("lambda", "async event %lld has no usable meta: dropped", (long long)d->m.id);
        return SL_ENOTFOUND;
    }
    snprintf(ev->pk, sizeof(ev->pk), "%s:%s", ev->account, ev->region);
    snprintf(ev->arn, sizeof(ev->arn), "arn:aws:lambda:%s:%s:function:%s", ev->region,
             ev->account, ev->name);
    int rc = sl_lambda_get_config(lam, ev->pk, ev->name, &ev->cfg);
    if (rc == SL_ENOTFOUND) {
        /* Deleted since: its events go with it, as on AWS. */
        sl_info("lambda", "async event %s: function %s no longer exists: dropped",
                ev->request_id, ev->name);
        return rc;
    }
    if (rc) {
        /* The store failed us: the event waits, it is not the function's fault. */
        sl_error("lambda", "async event %s: cannot read function %s: %s", ev->request_id,
                 ev->name, sl_strerror(rc));
        d->max_age_ms = (int64_t)DEFAULT_MAX_AGE_S * 1000;
        return rc;
    }
    /* A service's event (S3's) runs only where the function's policy lets
     * that service in, checked now: not inside the sender's transaction. */
    const char *principal = json_string_value(json_object_get(ev->meta, "principal"));
    if (principal &&
        !sl_lambda_policy_allows(ev->cfg, principal,
                                 json_string_value(json_object_get(ev->meta, "sourceArn")),
                                 json_string_value(json_object_get(ev->meta, "sourceAccount")))) {
        sl_warn("lambda", "event %s from %s not run: the policy of %s does not allow it",
                ev->request_id, principal, ev->name);
        return SL_ENOTFOUND;
    }
    /* The function's event invoke config, or the defaults. */
    d->retries = DEFAULT_RETRIES;
    d->max_age_ms = (int64_t)DEFAULT_MAX_AGE_S * 1000;
    json_t *c = sl_lambda_eic_stored(lam, ev->pk, ev->name);
    json_t *v = json_object_get(c, "MaximumRetryAttempts");
    if (json_is_integer(v))
        d->retries = (int)json_integer_value(v);
    v = json_object_get(c, "MaximumEventAgeInSeconds");
    if (json_is_integer(v))
        d->max_age_ms = json_integer_value(v) * 1000;
    json_t *dc = json_object_get(c, "DestinationConfig");
    const char *s =
        json_string_value(json_object_get(json_object_get(dc, "OnSuccess"), "Destination"));
    snprintf(d->on_success, sizeof(d->on_success), "%s", s ? s : "");
    s = json_string_value(json_object_get(json_object_get(dc, "OnFailure"), "Destination"));
    snprintf(d->on_failure, sizeof(d->on_failure), "%s", s ? s : "");
    json_decref(c);
    s = json_string_value(json_object_get(json_object_get(ev->cfg, "DeadLetterConfig"), "TargetArn"));
    snprintf(d->dlq, sizeof(d->dlq), "%s", s ? s : "");
    return 0;
}

/* The end of an event's invocation (the loop's thread). */
static void invoked(struct sl_invocation *inv, void *arg)
{
    struct sl_delivery *d = arg;
    struct event *ev = d->state;
    struct sl_lambda *lam = ev->lam;
    ev->invoked = true;
    sl_lambda_run_end(lam, ev->account, ev->region, ev->name, inv, 0);
    enum sl_delivery_outcome outcome =
        __atomic_load_n(&lam->stopping, __ATOMIC_ACQUIRE) ? SL_DELIVERY_STOPPED
        : inv->result == SL_INVOKE_OK         ? SL_DELIVERED
        : inv->result == SL_INVOKE_FUNCTION_ERROR ? SL_DELIVERY_ERROR
                                                  : SL_DELIVERY_THROTTLED;
    sl_consumer_done(lam->async, d, outcome);
}

static int deliver(void *ctx, struct sl_delivery *d)
{
    struct sl_lambda *lam = ctx;
    struct event *ev = d->state;
    sl_invocation_init(&ev->inv);
    snprintf(ev->inv.request_id, sizeof(ev->inv.request_id), "%.36s", ev->request_id);
    ev->inv.payload = d->m.body;
    ev->inv.payload_len = d->m.body_len;
    ev->inv.slot_held = d->slot_held;
    sl_lambda_metrics_async(lam->metrics, ev->account, ev->region, ev->name,
                            SL_LAMBDA_ASYNC_AGE, (double)(sl_time_now_ms() - d->m.enqueued_ms));
    return sl_lambda_run_start(lam, ev->account, ev->region, ev->name, ev->cfg, &ev->inv,
                               invoked, d);
}

/* A JSON text as JSON, else as a string (a response need not be JSON). */
static json_t *as_json(const char *p, size_t n)
{
    json_t *v = n ? json_loadb(p, n, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_stringn(p ? p : "", n);
}


/* The record a destination gets (AWS's invocation record). */
static char *record(void *ctx, struct sl_delivery *d, const char *condition)
{
    (void)ctx;
    struct event *ev = d->state;
    const struct sl_invocation *inv = ev && ev->invoked ? &ev->inv : NULL;
    char ts[32];
    sl_time_iso8601_ms(sl_time_now_ms(), ts, sizeof(ts));
    char arn[320];
    snprintf(arn, sizeof(arn), "%s:$LATEST", ev->arn);
    json_t *rec = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:I}, s:o}", "version", "1.0",
                            "timestamp", ts, "requestContext", "requestId", ev->request_id,
                            "functionArn", arn, "condition", condition,
                            "approximateInvokeCount", (json_int_t)d->tries, "requestPayload",
                            as_json(d->m.body, d->m.body_len));
    if (rec && inv) {
        json_t *rc = json_pack("{s:i, s:s}", "statusCode", 200, "executedVersion", "$LATEST");
        if (rc && inv->result == SL_INVOKE_FUNCTION_ERROR)
            json_object_set_new(rc, "functionError", json_string("Unhandled"));
        json_object_set_new(rec, "responseContext", rc);
        json_object_set_new(rec, "responsePayload",
                            as_json(inv->response.data, inv->response.len));
    }
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    return text;
}

/*
 * The attributes of the message a function's dead-letter queue gets, as
 * AWS sends them: RequestID, ErrorCode (the HTTP status of the
 * invocation: 200 for a function error, 429 for one throttled until its
 * age ran out) and ErrorMessage (the first kilobyte of the error).
 */
static char *dlq_attributes(void *ctx, struct sl_delivery *d, const char *condition)
{
    (void)ctx;
    (void)condition;
    struct event *ev = d->state;
    const struct sl_invocation *inv = ev && ev->invoked ? &ev->inv : NULL;
    char message[1025] = "";
    if (inv && inv->result == SL_INVOKE_FUNCTION_ERROR) {
        json_t *err = json_loadb(inv->response.data ? inv->response.data : "", inv->response.len,
                                 0, NULL);
        const char *m = json_string_value(json_object_get(err, "errorMessage"));
        if (m)
            snprintf(message, sizeof(message), "%s", m);
        else
            snprintf(message, sizeof(message), "%.*s", (int)inv->response.len,
                     inv->response.data ? inv->response.data : "");
        json_decref(err);
    } else {
        snprintf(message, sizeof(message), "%s", inv ? "The function could not be invoked."
                                                     : "Rate Exceeded.");
    }
    /* A message cut at 1 KiB ends with whole characters only. */
    size_t n = strlen(message);
    if (n == sizeof(message) - 1) {
        size_t lead = n;
        while (lead && ((unsigned char)message[lead - 1] & 0xC0) == 0x80)
            lead--;
        unsigned char b = lead ? (unsigned char)message[lead - 1] : 0;
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        if (lead && n - (lead - 1) < need)
            message[lead - 1] = '\0';
    }
    json_t *attrs = json_pack(
        "{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}", "RequestID", "DataType", "String",
        "StringValue", ev ? ev->request_id : "", "ErrorCode", "DataType", "Number", "StringValue",
        inv && inv->result == SL_INVOKE_FUNCTION_ERROR ? "200" : "429", "ErrorMessage",
        "DataType", "String", "StringValue", message[0] ? message : "Unhandled");
    char *text = attrs ? json_dumps(attrs, JSON_COMPACT) : NULL;
    json_decref(attrs);
    return text;
}

/* An event left the queue: AsyncEventsDropped for one that did not
 * succeed, DestinationDeliveryFailures when its destination was gone. */
static void left(void *ctx, struct sl_delivery *d, const char *condition, bool dest_gone)
{
    struct sl_lambda *lam = ctx;
    struct event *ev = d->state;
    if (!ev || !ev->name)
        return;
    if (strcmp(condition, "Success") != 0)
        sl_lambda_metrics_async(lam->metrics, ev->account, ev->region, ev->name,
                                SL_LAMBDA_ASYNC_DROPPED, 0);
    if (dest_gone)
        sl_lambda_metrics_async(lam->metrics, ev->account, ev->region, ev->name,
                                SL_LAMBDA_ASYNC_DESTINATION_FAILED, 0);
}

static void release(void *ctx, struct sl_delivery *d)
{
    (void)ctx;
    struct event *ev = d->state;
    if (!ev)
        return;
    if (ev->inv.response.max) /* initialised */
        sl_invocation_close(&ev->inv);
    json_decref(ev->cfg);
    json_decref(ev->meta);
    free(ev);
    d->state = NULL;
}

static const struct sl_consumer_ops ops = {
    .prepare = prepare,
    .deliver = deliver,
    .record = record,
    .dlq_attributes = dlq_attributes,
    .left = left,
    .release = release,
};

int sl_lambda_async_start(struct sl_lambda *lam, struct sl_err *err)
{
    struct sl_app *app = lam->app;
    struct sl_consumer_config cfg = {
        .store = app->store,
        .loop = app->loop,
        .governor = app->governor,
        .targets = app->targets,
        .queue = ASYNC_Q,
        .max_inflight = lam->async_workers,
        .time_scale = app->time_scale,
        .lease_ms = LEASE_MS,
        .policy = {sl_retry_lambda_error_ms, sl_retry_lambda_throttle_ms},
        .ops = &ops,
        .ctx = lam,
    };
    return sl_consumer_start(&lam->async, &cfg, err);
}

const struct sl_target_kind sl_lambda_targets[] = {
    {"lambda", function_target_check, function_target_deliver},
    {NULL, NULL, NULL},
};
