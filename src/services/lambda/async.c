/*
 * Asynchronous invocation (InvocationType Event), as Lambda does it: the
 * event is stored in the "lambda.async" queue before the 202, and a
 * dispatcher hands it to a pool of workers that invoke the function (a
 * synchronous invoke inside). Function errors are retried
 * MaximumRetryAttempts times (about 1 and 2 minutes apart); throttles and
 * system errors go back on the queue with exponential backoff (1 s to 5
 * min) without counting as attempts, until MaximumEventAgeInSeconds. Then
 * the event is discarded, after its OnFailure destination got a record;
 * on success the OnSuccess destination gets one. Destinations go out by
 * ARN through sl_target_deliver_txn() (engine/targets.h), in the same
 * transaction that removes the event, so a record is never lost nor sent
 * for an event that is still queued. Functions are a target kind
 * registered here: an async event of the function. All AWS delays are divided by --time-scale.
 *
 * Also here: the event invoke config API (Put/Get/Update/Delete/List
 * FunctionEventInvokeConfig(s)), items of SL_LAMBDA_EIC_NS.
 *
 * Threads: the dispatcher receives as many events as workers are idle (one
 * transaction), sleeping until a put commits (the queue's watch), a worker
 * frees up, or the next event's visible time: never on a polling timer.
 * At start every lease of the queue is ended: whatever a crashed process
 * had in flight runs again (at-least-once, as on AWS).
 */
#include "services/lambda/internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/targets.h"
#include "runtime/runtime.h"

#define ASYNC_Q "lambda.async"
#define LEASE_MS ((900 + 60) * 1000) /* the longest function timeout, and some */
#define DEFAULT_RETRIES 2
#define DEFAULT_MAX_AGE_S 21600
#define STORE_RETRY_MS 1000 /* after the store failed a receive */

struct job {
    struct sl_qmsg m;
    struct job *next;
};

struct sl_lambda_async {
    struct sl_lambda *lam;
    struct sl_app *app;
    double scale;
    pthread_mutex_t mu;
    pthread_cond_t disp_cv, work_cv;
    struct job *jobs, **jobs_tail;
    size_t idle, queued; /* idle workers; jobs handed out not yet taken */
    bool kicked, stop;
    bool recheck;  /* an event was put back for later: find the next due time */
    bool watching; /* the queue's watch is ours */
    pthread_t dispatcher;
    bool dispatcher_running;
    pthread_t *workers;
    size_t n_workers;
};

/* ---- schedules (AWS's, divided by the time scale) ------------------------ */

int64_t sl_lambda_async_retry_delay_ms(unsigned attempt, double scale)
{
    /* "about 1 minute" before the first retry, "about 2" before the second. */
    double ms = attempt <= 1 ? 60000.0 : 120000.0;
    return (int64_t)ceil(ms / (scale > 0 ? scale : 1));
}

int64_t sl_lambda_async_throttle_delay_ms(unsigned throttles, double scale)
{
    /* 1 s, doubling, at most 5 minutes. */
    double ms = 1000.0 * pow(2.0, throttles ? throttles - 1 : 0);
    if (ms > 300000.0)
        ms = 300000.0;
    return (int64_t)ceil(ms / (scale > 0 ? scale : 1));
}

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

/* ---- running events --------------------------------------------------------- */

struct eic {
    int retries;
    int64_t max_age_s;
    char on_success[400], on_failure[400];
};

json_t *sl_lambda_eic_stored(struct sl_lambda *lam, const char *pk, const char *name)
{
    struct sl_item it;
    if (sl_kv_get(lam->app->store, SL_LAMBDA_EIC_NS, pk, name, &it))
        return NULL;
    json_t *c = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return c;
}

/* The function's event invoke config, or the defaults. */
static void load_eic(struct sl_lambda *lam, const char *pk, const char *name, struct eic *out)
{
    *out = (struct eic){.retries = DEFAULT_RETRIES, .max_age_s = DEFAULT_MAX_AGE_S};
    json_t *c = sl_lambda_eic_stored(lam, pk, name);
    if (!c)
        return;
    json_t *v = json_object_get(c, "MaximumRetryAttempts");
    if (json_is_integer(v))
        out->retries = (int)json_integer_value(v);
    v = json_object_get(c, "MaximumEventAgeInSeconds");
    if (json_is_integer(v))
        out->max_age_s = json_integer_value(v);
    json_t *dc = json_object_get(c, "DestinationConfig");
    const char *s = json_string_value(
        json_object_get(json_object_get(dc, "OnSuccess"), "Destination"));
    snprintf(out->on_success, sizeof(out->on_success), "%s", s ? s : "");
    s = json_string_value(json_object_get(json_object_get(dc, "OnFailure"), "Destination"));
    snprintf(out->on_failure, sizeof(out->on_failure), "%s", s ? s : "");
    json_decref(c);
}

/* A JSON text as JSON, else as a string (a response need not be JSON). */
static json_t *as_json(const char *p, size_t n)
{
    json_t *v = n ? json_loadb(p, n, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_stringn(p ? p : "", n);
}

/* The record a destination gets (AWS's invocation record). */
static char *destination_record(const struct sl_qmsg *m, const char *fn_arn,
                                const char *request_id, const char *condition,
                                unsigned invokes, const struct sl_invocation *inv)
{
    char ts[32];
    sl_time_iso8601_ms(sl_time_now_ms(), ts, sizeof(ts));
    char arn[320];
    snprintf(arn, sizeof(arn), "%s:$LATEST", fn_arn);
    json_t *rec = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:I}, s:o}", "version", "1.0",
                            "timestamp", ts, "requestContext", "requestId", request_id,
                            "functionArn", arn, "condition", condition,
                            "approximateInvokeCount", (json_int_t)invokes, "requestPayload",
                            as_json(m->body, m->body_len));
    if (rec && inv) {
        json_t *ctx = json_pack("{s:i, s:s}", "statusCode", 200, "executedVersion", "$LATEST");
        if (ctx && inv->result == SL_INVOKE_FUNCTION_ERROR)
            json_object_set_new(ctx, "functionError", json_string("Unhandled"));
        json_object_set_new(rec, "responseContext", ctx);
        json_object_set_new(rec, "responsePayload",
                            as_json(inv->response.data, inv->response.len));
    }
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    return text;
}

struct finish {
    struct sl_targets *targets;
    const struct sl_qmsg *m;
    const char *dest;   /* ARN or "" */
    const char *record; /* its payload */
    bool delete;        /* else update: */
    int64_t visible_ms;
    const char *meta;
};

static int finish_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct finish *f = arg;
    if (!f->delete)
        return sl_txn_queue_update(t, ASYNC_Q, f->m->id, f->m->receives, f->visible_ms, f->meta);
    int rc = sl_txn_queue_delete(t, ASYNC_Q, f->m->id, f->m->receives);
    if (!rc && f->dest && f->dest[0] && f->record)
        rc = sl_target_deliver_txn(f->targets, t, f->dest, f->record, strlen(f->record), NULL);
    return rc;
}

static void run_finish(struct sl_lambda_async *a, struct finish *f)
{
    struct sl_err err = {0};
    int rc = sl_store_write(a->app->store, finish_txn, f, &err);
    if (rc == SL_ENOTFOUND)
        sl_warn("lambda", "async event %lld: its lease was lost: %s", (long long)f->m->id,
                err.msg);
    else if (rc)
        sl_error("lambda", "async event %lld: %s", (long long)f->m->id, err.msg);
}

struct event {
    const char *account, *region, *name, *request_id;
    char pk[96], arn[300];
    unsigned tries, throttles;
};

/* The event is done: a record for dest (if any), then it leaves the queue. */
static void event_done(struct sl_lambda_async *a, const struct sl_qmsg *m,
                       const struct event *ev, const char *dest, const char *condition,
                       const struct sl_invocation *inv)
{
    struct sl_lambda_metrics *mx = a->lam->metrics;
    bool failed = strcmp(condition, "Success") != 0;
    if (failed && mx)
        sl_lambda_metrics_async(mx, ev->account, ev->region, ev->name, SL_LAMBDA_ASYNC_DROPPED,
                                0);
    char *record = NULL;
    if (dest[0]) {
        /* Only a destination that is gone fails here; if the check itself
         * failed, the record goes, and the destination's side decides. */
        int rc = sl_target_check(a->app->targets, dest, NULL, NULL, NULL);
        if (rc != SL_ENOTFOUND && rc != SL_EINVAL) {
            record = destination_record(m, ev->arn, ev->request_id, condition, ev->tries, inv);
        } else {
            sl_warn("lambda", "%s of %s: destination %s is gone", condition, ev->name, dest);
            if (mx)
                sl_lambda_metrics_async(mx, ev->account, ev->region, ev->name,
                                        SL_LAMBDA_ASYNC_DESTINATION_FAILED, 0);
        }
    }
    struct finish f = {.targets = a->app->targets, .m = m, .dest = record ? dest : "",
                       .record = record, .delete = true};
    run_finish(a, &f);
    free(record);
}

/* The event goes back on the queue until visible_ms, counting tries and
 * throttles in its meta. */
static void event_later(struct sl_lambda_async *a, const struct sl_qmsg *m, json_t *meta,
                        const struct event *ev, int64_t visible_ms)
{
    json_object_set_new(meta, "tries", json_integer(ev->tries));
    json_object_set_new(meta, "throttles", json_integer(ev->throttles));
    char *text = json_dumps(meta, JSON_COMPACT);
    struct finish f = {.m = m, .visible_ms = visible_ms, .meta = text};
    if (text)
        run_finish(a, &f);
    free(text);
    pthread_mutex_lock(&a->mu);
    a->recheck = true; /* the dispatcher may sleep past visible_ms otherwise */
    pthread_cond_signal(&a->disp_cv);
    pthread_mutex_unlock(&a->mu);
}

static void process(struct sl_lambda_async *a, const struct sl_qmsg *m)
{
    struct sl_lambda *lam = a->lam;
    json_t *meta = json_loadb(m->meta, m->meta_len, 0, NULL);
    struct event ev = {0};
    if (meta) {
        ev.account = json_string_value(json_object_get(meta, "account"));
        ev.region = json_string_value(json_object_get(meta, "region"));
        ev.name = json_string_value(json_object_get(meta, "function"));
        ev.request_id = json_string_value(json_object_get(meta, "requestId"));
        ev.tries = (unsigned)json_integer_value(json_object_get(meta, "tries"));
        ev.throttles = (unsigned)json_integer_value(json_object_get(meta, "throttles"));
    }
    if (!ev.account || !ev.region || !ev.name || !ev.request_id) {
        sl_error("lambda", "async event %lld has no usable meta: dropped", (long long)m->id);
        struct finish f = {.m = m, .delete = true};
        run_finish(a, &f);
        json_decref(meta);
        return;
    }
    snprintf(ev.pk, sizeof(ev.pk), "%s:%s", ev.account, ev.region);
    snprintf(ev.arn, sizeof(ev.arn), "arn:aws:lambda:%s:%s:function:%s", ev.region, ev.account,
             ev.name);
    json_t *cfg = NULL;
    int crc = sl_lambda_get_config(lam, ev.pk, ev.name, &cfg);
    if (crc && crc != SL_ENOTFOUND) {
        /* The store failed us: the event waits, it is not the function's fault. */
        sl_error("lambda", "async event %s: cannot read function %s: %s", ev.request_id,
                 ev.name, sl_strerror(crc));
        /* Backs off as a throttle does, and expires with the event's age
         * (the defaults: its config cannot be read either). */
        ev.throttles++;
        int64_t at = sl_time_now_ms() + sl_lambda_async_throttle_delay_ms(ev.throttles, a->scale);
        if ((double)(at - m->enqueued_ms) > (double)DEFAULT_MAX_AGE_S * 1000.0 / a->scale) {
            struct finish f = {.m = m, .delete = true};
            run_finish(a, &f);
        } else {
            event_later(a, m, meta, &ev, at);
        }
        json_decref(meta);
        return;
    }
    if (crc) {
        /* Deleted since: its events go with it, as on AWS. */
        sl_info("lambda", "async event %s: function %s no longer exists: dropped",
                ev.request_id, ev.name);
        struct finish f = {.m = m, .delete = true};
        run_finish(a, &f);
        json_decref(meta);
        return;
    }
    /* A service's event (S3's) runs only where the function's policy lets
     * that service in, checked now: not inside the sender's transaction. */
    const char *principal = json_string_value(json_object_get(meta, "principal"));
    if (principal &&
        !sl_lambda_policy_allows(cfg, principal,
                                 json_string_value(json_object_get(meta, "sourceArn")),
                                 json_string_value(json_object_get(meta, "sourceAccount")))) {
        sl_warn("lambda", "event %s from %s not run: the policy of %s does not allow it",
                ev.request_id, principal, ev.name);
        sl_lambda_metrics_async(lam->metrics, ev.account, ev.region, ev.name,
                                SL_LAMBDA_ASYNC_DROPPED, 0);
        struct finish f = {.m = m, .delete = true};
        run_finish(a, &f);
        json_decref(cfg);
        json_decref(meta);
        return;
    }
    struct eic eic;
    load_eic(lam, ev.pk, ev.name, &eic);
    int64_t now = sl_time_now_ms();
    double max_age_ms = (double)eic.max_age_s * 1000.0 / a->scale;
    json_t *reserved = json_object_get(cfg, "_reserved");
    if ((double)(now - m->enqueued_ms) > max_age_ms) {
        event_done(a, m, &ev, eic.on_failure, "EventAgeExceeded", NULL);
    } else if (reserved && json_integer_value(reserved) == 0) {
        /* Reserved concurrency 0: straight to failure, no retries. */
        event_done(a, m, &ev, eic.on_failure, "RetriesExhausted", NULL);
    } else {
        struct sl_invocation inv;
        sl_invocation_init(&inv);
        snprintf(inv.request_id, sizeof(inv.request_id), "%.36s", ev.request_id);
        inv.payload = m->body;
        inv.payload_len = m->body_len;
        sl_lambda_metrics_async(lam->metrics, ev.account, ev.region, ev.name,
                                SL_LAMBDA_ASYNC_AGE, (double)(now - m->enqueued_ms));
        int rc = sl_lambda_run(lam, ev.account, ev.region, ev.name, cfg, &inv);
        now = sl_time_now_ms();
        pthread_mutex_lock(&a->mu);
        bool stopping = a->stop;
        pthread_mutex_unlock(&a->mu);
        if (!rc && inv.result == SL_INVOKE_OK) {
            ev.tries++;
            event_done(a, m, &ev, eic.on_success, "Success", &inv);
        } else if (stopping) {
            /* Sluice stops: the runtime ended the run, which is no try of
             * the function's; it runs again after the restart. */
            event_later(a, m, meta, &ev, now);
        } else if (!rc && inv.result == SL_INVOKE_FUNCTION_ERROR) {
            ev.tries++;
            if (ev.tries > (unsigned)eic.retries)
                event_done(a, m, &ev, eic.on_failure, "RetriesExhausted", &inv);
            else
                event_later(a, m, meta, &ev,
                            now + sl_lambda_async_retry_delay_ms(ev.tries, a->scale));
        } else {
            /* Throttled, or the environment failed: back on the queue. */
            ev.throttles++;
            int64_t at = now + sl_lambda_async_throttle_delay_ms(ev.throttles, a->scale);
            if ((double)(at - m->enqueued_ms) > max_age_ms)
                event_done(a, m, &ev, eic.on_failure, "EventAgeExceeded", NULL);
            else
                event_later(a, m, meta, &ev, at);
        }
        sl_invocation_close(&inv);
    }
    json_decref(cfg);
    json_decref(meta);
}

/* ---- threads ------------------------------------------------------------------ */

static void kick(void *arg)
{
    struct sl_lambda_async *a = arg;
    pthread_mutex_lock(&a->mu);
    a->kicked = true;
    pthread_cond_signal(&a->disp_cv);
    pthread_mutex_unlock(&a->mu);
}

struct receive {
    size_t max;
    struct sl_qmsg *got;
    size_t n;
};

static int receive_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct receive *r = arg;
    return sl_txn_queue_receive(t, ASYNC_Q, NULL, sl_time_now_ms(), LEASE_MS, r->max, &r->got,
                                &r->n);
}

static void *dispatcher_main(void *arg)
{
    struct sl_lambda_async *a = arg;
    bool more = true;  /* the last receive was full: more may be visible */
    int64_t due = 0;   /* wall-clock ms of the next visible event, 0 none */
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        if (a->recheck) {
            a->recheck = false;
            pthread_mutex_unlock(&a->mu);
            int64_t next;
            if (sl_queue_next_visible(a->app->store, ASYNC_Q, &next) == 0 &&
                (!due || next < due))
                due = next;
            pthread_mutex_lock(&a->mu);
            continue;
        }
        size_t free_n = a->idle > a->queued ? a->idle - a->queued : 0;
        bool timer_due = due && sl_time_now_ms() >= due;
        if (free_n == 0 || !(a->kicked || more || timer_due)) {
            if (due && free_n) {
                int64_t wait = due - sl_time_now_ms();
                struct timespec dl = sl_time_deadline(CLOCK_MONOTONIC, wait > 0 ? wait : 0);
                pthread_cond_timedwait(&a->disp_cv, &a->mu, &dl);
            } else {
                pthread_cond_wait(&a->disp_cv, &a->mu);
            }
            continue;
        }
        a->kicked = false;
        pthread_mutex_unlock(&a->mu);

        struct receive r = {.max = free_n};
        struct sl_err err = {0};
        int rc = sl_store_write(a->app->store, receive_txn, &r, &err);
        due = 0;
        more = !rc && r.n == free_n;
        if (rc) {
            if (rc != SL_ECLOSED)
                sl_error("lambda", "async queue: %s", err.msg);
            due = sl_time_now_ms() + STORE_RETRY_MS;
        } else if (!more) {
            int64_t next;
            if (sl_queue_next_visible(a->app->store, ASYNC_Q, &next) == 0)
                due = next;
        }
        pthread_mutex_lock(&a->mu);
        for (size_t i = 0; i < r.n; i++) {
            struct job *j = malloc(sizeof(*j));
            if (!j) {
                sl_qmsg_free(&r.got[i]); /* its lease ends; it runs later */
                continue;
            }
            j->m = r.got[i];
            j->next = NULL;
            *a->jobs_tail = j;
            a->jobs_tail = &j->next;
            a->queued++;
            pthread_cond_signal(&a->work_cv);
        }
        free(r.got);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void *worker_main(void *arg)
{
    struct sl_lambda_async *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && !a->jobs)
            pthread_cond_wait(&a->work_cv, &a->mu);
        if (a->stop)
            break; /* jobs left are leased: they run after the restart */
        struct job *j = a->jobs;
        a->jobs = j->next;
        if (!a->jobs)
            a->jobs_tail = &a->jobs;
        a->queued--;
        a->idle--;
        pthread_mutex_unlock(&a->mu);
        process(a, &j->m);
        sl_qmsg_free(&j->m);
        free(j);
        pthread_mutex_lock(&a->mu);
        a->idle++;
        pthread_cond_signal(&a->disp_cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static int release_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    return sl_txn_queue_release(t, ASYNC_Q, sl_time_now_ms(), arg);
}

int sl_lambda_async_start(struct sl_lambda *lam, unsigned workers, double scale,
                          struct sl_lambda_async **out, struct sl_err *err)
{
    struct sl_app *app = lam->app;
    *out = NULL;
    struct sl_lambda_async *a = calloc(1, sizeof(*a));
    if (!a || !(a->workers = calloc(workers ? workers : 1, sizeof(pthread_t)))) {
        free(a);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    a->lam = lam;
    a->app = app;
    a->scale = scale > 0 ? scale : 1;
    a->jobs_tail = &a->jobs;
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->disp_cv, &ca);
    pthread_cond_init(&a->work_cv, &ca);
    pthread_condattr_destroy(&ca);
    size_t released = 0;
    int rc = sl_store_write(app->store, release_txn, &released, err);
    if (!rc) {
        rc = sl_store_queue_watch(app->store, ASYNC_Q, kick, a);
        a->watching = rc == 0;
        if (rc)
            sl_errf(err, rc, "cannot watch the async queue");
    }
    if (rc) {
        sl_lambda_async_free(a);
        return rc;
    }
    if (released)
        sl_info("lambda", "%zu async events in flight when Sluice stopped run again", released);
    pthread_mutex_lock(&a->mu);
    for (unsigned i = 0; i < (workers ? workers : 1); i++) {
        if (pthread_create(&a->workers[i], NULL, worker_main, a) != 0)
            break;
        a->n_workers++;
        a->idle++;
    }
    pthread_mutex_unlock(&a->mu);
    if (a->n_workers == 0 || pthread_create(&a->dispatcher, NULL, dispatcher_main, a) != 0) {
        sl_lambda_async_free(a);
        return sl_errf(err, SL_ENOMEM, "cannot start the async invoke threads");
    }
    a->dispatcher_running = true;
    *out = a;
    return 0;
}

void sl_lambda_async_stop(struct sl_lambda_async *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->disp_cv);
    pthread_cond_broadcast(&a->work_cv);
    pthread_mutex_unlock(&a->mu);
}

void sl_lambda_async_free(struct sl_lambda_async *a)
{
    if (!a)
        return;
    sl_lambda_async_stop(a);
    if (a->watching)
        sl_store_queue_unwatch(a->app->store, kick, a);
    if (a->dispatcher_running)
        pthread_join(a->dispatcher, NULL);
    for (size_t i = 0; i < a->n_workers; i++)
        pthread_join(a->workers[i], NULL);
    while (a->jobs) {
        struct job *j = a->jobs;
        a->jobs = j->next;
        sl_qmsg_free(&j->m);
        free(j);
    }
    pthread_cond_destroy(&a->disp_cv);
    pthread_cond_destroy(&a->work_cv);
    pthread_mutex_destroy(&a->mu);
    free(a->workers);
    free(a);
}

const struct sl_target_kind sl_lambda_targets[] = {
    {"lambda", function_target_check, function_target_deliver},
    {NULL, NULL, NULL},
};
