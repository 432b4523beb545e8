/*
 * Event source mappings: the Lambda API (Create/Get/Update/Delete/
 * ListEventSourceMappings) and, for each enabled mapping, a poller of the
 * engine (engine/mapping.h) over its source (SQS's, through sqs.h) whose
 * target is the function: each batch becomes one synchronous invocation
 * with the source's event. Success acknowledges the batch (SQS deletes
 * its messages); a function error, a throttle or a failure to run gives
 * it back (SQS's messages return after the visibility timeout, and so
 * reach the queue's dead-letter queue by redrive); with
 * FunctionResponseTypes ReportBatchItemFailures a response naming some
 * records fails only those, as AWS does.
 *
 * A mapping's record lives in kv lambda.esm (pk "", sk its UUID): the
 * configuration as AWS answers it, with the state it settles in (Enabled
 * or Disabled; the answers of Create, Update and Delete say Creating,
 * Updating, Deleting as AWS's do), and private members (_account,
 * _region, _function).
 */
#include "services/lambda/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/mapping.h"
#include "engine/pattern.h"
#include "engine/stream.h"
#include "services/dynamodb/dynamodb.h"
#include "services/kinesis/kinesis.h"
#include "services/sqs/sqs.h"

#define ESM_NS "lambda.esm"
/* A stream mapping's checkpoints: pk its UUID, sk the shard. */
#define ESM_CKPT_NS "lambda.esm.ckpt"
#define FILTERS_MAX 5
#define PATTERN_MAX 4096
/* Batches of one SQS mapping with its function at once, unless
 * ScalingConfig says otherwise (AWS starts with five pollers). */
#define SQS_CONCURRENCY 5

/* A running mapping. */
struct esm_run {
    struct sl_lambda *lam;
    char uuid[40];
    char account[16], region[64], fn[80], pk[96];
    bool report_failures;
    struct sl_pattern *filters[FILTERS_MAX];
    size_t nfilters;
    struct sl_sqs_source *src;
    struct sl_mapping *m;
    /* A Kinesis stream's or a DynamoDB table's stream's: */
    struct sl_kinesis_source *ksrc;
    struct sl_dynamodb_source *dsrc;
    struct sl_stream *stream;
    /* Metrics (atomic). */
    uint64_t invocations, errors;
    unsigned running;
    /* The record's LastModified: of two changes that race, the later
     * one's run stays. A deleted mapping keeps an entry without a poller
     * (m NULL), so that no earlier change starts it again. */
    double modified;
    bool deleted; /* replaced because its mapping was deleted */
    struct esm_run *next;
};

/* One batch's invocation. */
struct esm_call {
    struct esm_run *run;
    struct sl_batch *b;
    struct sl_invocation inv;
    struct sl_buf event;
};

/* One invocation of a stream's batch. */
struct esm_scall {
    struct esm_run *run;
    struct sl_stream_call *call;
    struct sl_invocation inv;
};

/* The runs, and the stops under way (a stop waits for its batches). */
struct esm_state {
    struct sl_stream_hub *hub; /* the store watch of stream mappings */
    pthread_mutex_t apply_mu;  /* one change of a mapping's poller at a time */
    pthread_mutex_t mu;
    struct esm_run *runs;
    struct sl_inflight stops;
    bool stopping; /* the service stops: no poller starts */
};

static struct esm_state *esm_of(struct sl_lambda *lam)
{
    return lam->esm;
}

/* ---- running ---------------------------------------------------------- */

static void run_free(struct esm_run *r)
{
    if (!r)
        return;
    sl_sqs_source_free(r->src);
    sl_kinesis_source_free(r->ksrc);
    sl_dynamodb_source_free(r->dsrc);
    for (size_t i = 0; i < r->nfilters; i++)
        sl_pattern_free(r->filters[i]);
    free(r);
}

/* Applies a partial batch response to b: true when the batch succeeded
 * (b->failed set for the records it names), false when it failed whole
 * (a response AWS cannot read). */
static bool partial(struct sl_batch *b, const char *resp, size_t len)
{
    if (!len)
        return true;
    json_t *doc = json_loadb(resp, len, JSON_DECODE_ANY, NULL);
    if (!doc)
        return false; /* not JSON: the whole batch failed */
    json_t *list = json_is_object(doc) ? json_object_get(doc, "batchItemFailures") : NULL;
    bool ok = true;
    bool *failed = NULL;
    if (list && !json_is_null(list)) {
        if (!json_is_array(list)) {
            ok = false;
        } else if (json_array_size(list)) {
            failed = calloc(b->n, sizeof(bool));
            ok = failed != NULL;
            size_t i;
            json_t *item;
            json_array_foreach(list, i, item)
            {
                const char *id = json_string_value(json_object_get(item, "itemIdentifier"));
                int k = ok && id && *id ? sl_sqs_source_index(b, id) : -1;
                if (k < 0) {
                    ok = false; /* an empty, null or unknown identifier fails it all */
                    break;
                }
                failed[k] = true;
            }
        }
    }
    json_decref(doc);
    if (!ok) {
        free(failed);
        return false;
    }
    b->failed = failed;
    return true;
}

/* The end of a batch's invocation (the loop's thread). */
static void invoked(struct sl_invocation *inv, void *arg)
{
    struct esm_call *call = arg;
    struct esm_run *r = call->run;
    sl_lambda_run_end(r->lam, r->account, r->region, r->fn, inv, 0);
    bool ok = inv->result == SL_INVOKE_OK;
    if (!ok)
        sl_warn("lambda", "event source mapping %s: a batch of %zu records failed in %s: %s",
                r->uuid, call->b->n, r->fn,
                inv->result == SL_INVOKE_FUNCTION_ERROR ? "function error"
                : inv->result == SL_INVOKE_THROTTLED    ? "throttled"
                : inv->message[0]                       ? inv->message
                                                        : "the function could not run");
    if (ok && r->report_failures)
        ok = partial(call->b, inv->response.data, inv->response.len);
    if (!ok || call->b->failed)
        __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&r->running, 1, __ATOMIC_RELAXED);
    struct sl_batch *b = call->b;
    sl_invocation_close(&call->inv);
    sl_buf_free(&call->event);
    free(call);
    sl_mapping_done(r->m, b, ok);
}

/* The poller's target: the function, invoked with the batch's event. */
static void deliver(void *ctx, struct sl_mapping *m, struct sl_batch *b)
{
    struct esm_run *r = ctx;
    struct esm_call *call = calloc(1, sizeof(*call));
    json_t *cfg = NULL;
    if (!call || sl_lambda_get_config(r->lam, r->pk, r->fn, &cfg)) {
        free(call);
        sl_mapping_done(m, b, false); /* (its function is gone: it waits) */
        return;
    }
    call->run = r;
    call->b = b;
    sl_buf_init(&call->event, 0);
    sl_invocation_init(&call->inv);
    sl_uuid(call->inv.request_id);
    int rc = sl_sqs_source_event(r->src, b, &call->event);
    if (!rc) {
        call->inv.payload = call->event.data;
        call->inv.payload_len = call->event.len;
        __atomic_fetch_add(&r->invocations, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->running, 1, __ATOMIC_RELAXED);
        rc = sl_lambda_run_start(r->lam, r->account, r->region, r->fn, cfg, &call->inv, invoked,
                                 call);
        if (rc)
            __atomic_fetch_sub(&r->running, 1, __ATOMIC_RELAXED);
    }
    json_decref(cfg);
    if (rc) {
        /* A throttle, or no environment: the batch comes back later. */
        sl_warn("lambda", "event source mapping %s: a batch of %zu records did not start in "
                          "%s: %s",
                r->uuid, b->n, r->fn, sl_strerror(rc));
        __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
        sl_invocation_close(&call->inv);
        sl_buf_free(&call->event);
        free(call);
        sl_mapping_done(m, b, false);
    }
}

/* The end of a stream batch's invocation. */
static void stream_invoked(struct sl_invocation *inv, void *arg)
{
    struct esm_scall *sc = arg;
    struct esm_run *r = sc->run;
    struct sl_stream_call *call = sc->call;
    sl_lambda_run_end(r->lam, r->account, r->region, r->fn, inv, 0);
    sl_strlcpy(call->request_id, inv->request_id, sizeof(call->request_id));
    call->status = 200;
    call->result = inv->result == SL_INVOKE_OK               ? SL_STREAM_OK
                   : inv->result == SL_INVOKE_FUNCTION_ERROR ? SL_STREAM_FUNCTION_ERROR
                                                             : SL_STREAM_NOT_RUN;
    if (call->result == SL_STREAM_FUNCTION_ERROR)
        sl_strlcpy(call->function_error, "Unhandled", sizeof(call->function_error));
    if (call->result != SL_STREAM_OK) {
        __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
        sl_warn("lambda", "event source mapping %s: a batch of %zu records failed in %s: %s",
                r->uuid, call->nrecords, r->fn,
                inv->result == SL_INVOKE_FUNCTION_ERROR ? "function error"
                : inv->result == SL_INVOKE_THROTTLED    ? "throttled"
                : inv->message[0]                       ? inv->message
                                                        : "the function could not run");
    }
    call->response = inv->response.data;
    call->response_len = inv->response.len;
    __atomic_fetch_sub(&r->running, 1, __ATOMIC_RELAXED);
    sl_stream_call_done(call);
    sl_invocation_close(&sc->inv);
    free(sc);
}

/* A stream poller's target: the function, invoked with the batch's event. */
static void stream_invoke(void *ctx, struct sl_stream_call *call)
{
    struct esm_run *r = ctx;
    struct esm_scall *sc = calloc(1, sizeof(*sc));
    json_t *cfg = NULL;
    if (!sc || sl_lambda_get_config(r->lam, r->pk, r->fn, &cfg)) {
        free(sc);
        call->result = SL_STREAM_NOT_RUN; /* (its function is gone: it waits) */
        sl_stream_call_done(call);
        return;
    }
    sc->run = r;
    sc->call = call;
    sl_invocation_init(&sc->inv);
    sl_uuid(sc->inv.request_id);
    sc->inv.payload = call->payload;
    sc->inv.payload_len = call->len;
    __atomic_fetch_add(&r->invocations, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->running, 1, __ATOMIC_RELAXED);
    int rc = sl_lambda_run_start(r->lam, r->account, r->region, r->fn, cfg, &sc->inv,
                                 stream_invoked, sc);
    json_decref(cfg);
    if (rc) {
        __atomic_fetch_sub(&r->running, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
        sl_warn("lambda", "event source mapping %s: a batch of %zu records did not start in "
                          "%s: %s",
                r->uuid, call->nrecords, r->fn, sl_strerror(rc));
        sl_invocation_close(&sc->inv);
        free(sc);
        call->result = SL_STREAM_NOT_RUN;
        sl_stream_call_done(call);
    }
}

static json_int_t int_or(json_t *rec, const char *key, json_int_t dflt)
{
    json_t *v = json_object_get(rec, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* Starts the poller of a stream mapping (r filled but its poller). */
static int stream_start(struct sl_lambda *lam, struct esm_run *r, json_t *rec,
                        struct sl_err *err)
{
    const char *arn = json_string_value(json_object_get(rec, "EventSourceArn"));
    json_t *cfg = NULL;
    const char *role = NULL;
    if (sl_lambda_get_config(lam, r->pk, r->fn, &cfg) == 0)
        role = json_string_value(json_object_get(cfg, "Role"));
    bool kinesis = strncmp(arn, "arn:aws:kinesis:", 16) == 0;
    int rc = kinesis ? sl_kinesis_source_new(lam->app, arn, role, r->filters, r->nfilters,
                                             &r->ksrc, err)
                     : sl_dynamodb_source_new(lam->app, arn, role, r->filters, r->nfilters,
                                              &r->dsrc, err);
    json_decref(cfg);
    if (rc)
        return rc;
    const char *pos = json_string_value(json_object_get(rec, "StartingPosition"));
    const char *dest = json_string_value(json_object_get(
        json_object_get(json_object_get(rec, "DestinationConfig"), "OnFailure"), "Destination"));
    struct sl_stream_config sc = {
        .loop = lam->app->loop,
        .store = lam->app->store,
        .hub = esm_of(lam)->hub,
        .targets = lam->app->targets,
        .ops = kinesis ? &sl_kinesis_stream_ops : &sl_dynamodb_stream_ops,
        .ops_ctx = kinesis ? (void *)r->ksrc : (void *)r->dsrc,
        .source_arn = kinesis ? sl_kinesis_source_arn(r->ksrc) : sl_dynamodb_source_arn(r->dsrc),
        .function_arn = json_string_value(json_object_get(rec, "FunctionArn")),
        .on_failure = dest && *dest ? dest : NULL,
        .ckpt_ns = ESM_CKPT_NS,
        .ckpt_pk = r->uuid,
        .start = pos && strcmp(pos, "LATEST") == 0         ? SL_STREAM_LATEST
                 : pos && strcmp(pos, "AT_TIMESTAMP") == 0 ? SL_STREAM_AT_TIMESTAMP
                                                           : SL_STREAM_TRIM_HORIZON,
        .start_ms = (int64_t)(json_number_value(json_object_get(rec, "StartingPositionTimestamp")) *
                              1000.0),
        .batch_size = (size_t)int_or(rec, "BatchSize", 100),
        .window_ms = int_or(rec, "MaximumBatchingWindowInSeconds", 0) * 1000,
        .parallelization = (unsigned)int_or(rec, "ParallelizationFactor", 1),
        .bisect = json_is_true(json_object_get(rec, "BisectBatchOnFunctionError")),
        .max_retries = (long)int_or(rec, "MaximumRetryAttempts", -1),
        /* (--time-scale divides it, as it does AWS's other delays, so
         * that tests see records age.) */
        .max_age_ms = int_or(rec, "MaximumRecordAgeInSeconds", -1) < 0
                          ? -1
                          : sl_delay_scaled_ms(int_or(rec, "MaximumRecordAgeInSeconds", -1) *
                                                   1000,
                                               lam->app->time_scale),
        .tumbling_ms = int_or(rec, "TumblingWindowInSeconds", 0) * 1000,
        .report_failures = r->report_failures,
        .time_scale = lam->app->time_scale,
        .invoke = stream_invoke,
        .ctx = r,
    };
    return sl_stream_start(&r->stream, &sc, err);
}

/* Starts the poller of an enabled mapping record (not listed yet). */
static int run_start(struct sl_lambda *lam, json_t *rec, struct esm_run **out,
                     struct sl_err *err)
{
    struct esm_run *r = calloc(1, sizeof(*r));
    if (!r)
        return SL_ENOMEM;
    r->lam = lam;
    sl_strlcpy(r->uuid, json_string_value(json_object_get(rec, "UUID")), sizeof(r->uuid));
    sl_strlcpy(r->account, json_string_value(json_object_get(rec, "_account")), sizeof(r->account));
    sl_strlcpy(r->region, json_string_value(json_object_get(rec, "_region")), sizeof(r->region));
    sl_strlcpy(r->fn, json_string_value(json_object_get(rec, "_function")), sizeof(r->fn));
    snprintf(r->pk, sizeof(r->pk), "%s:%s", r->account, r->region);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rec, "FunctionResponseTypes"), i, v)
        r->report_failures |= json_is_string(v) && strcmp(json_string_value(v), "ReportBatchItemFailures") == 0;
    int rc = 0;
    json_array_foreach(json_object_get(json_object_get(rec, "FilterCriteria"), "Filters"), i, v)
    {
        const char *p = json_string_value(json_object_get(v, "Pattern"));
        if (!p || r->nfilters == FILTERS_MAX)
            continue;
        rc = sl_pattern_compile(p, strlen(p), &r->filters[r->nfilters], err);
        if (rc)
            break;
        r->nfilters++;
    }
    const char *arn = json_string_value(json_object_get(rec, "EventSourceArn"));
    if (!rc && arn && (strncmp(arn, "arn:aws:kinesis:", 16) == 0 ||
                       strncmp(arn, "arn:aws:dynamodb:", 17) == 0)) {
        rc = stream_start(lam, r, rec, err);
        if (rc) {
            run_free(r);
            return rc;
        }
        *out = r;
        return 0;
    }
    if (!rc)
        rc = sl_sqs_source_new(lam->app, arn, r->filters, r->nfilters, &r->src, err);
    json_t *sc = json_object_get(json_object_get(rec, "ScalingConfig"), "MaximumConcurrency");
    struct sl_mapping_config mc = {
        .loop = lam->app->loop,
        .source = &sl_sqs_source_ops,
        .source_self = r->src,
        .batch_size = (size_t)json_integer_value(json_object_get(rec, "BatchSize")),
        .concurrency = json_is_integer(sc) ? (unsigned)json_integer_value(sc) : SQS_CONCURRENCY,
        .window_ms = json_integer_value(json_object_get(rec, "MaximumBatchingWindowInSeconds")) *
                     1000,
        .backoff_ms = 1000,
        .backoff_max_ms = 60000,
        .time_scale = lam->app->time_scale,
        .deliver = deliver,
        .ctx = r,
    };
    if (!rc)
        rc = sl_mapping_start(&r->m, &mc, err);
    if (rc) {
        run_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int purge_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    return sl_txn_delete_pk(t, ESM_CKPT_NS, arg, NULL);
}

static void *stop_main(void *arg)
{
    struct esm_run *r = arg;
    struct esm_state *es = esm_of(r->lam);
    sl_mapping_stop(r->m);
    sl_stream_stop(r->stream);
    if (r->stream && r->deleted) {
        /* The last batches may have checkpointed after the delete. */
        struct sl_err err = {0};
        sl_store_write(r->lam->app->store, purge_txn, r->uuid, &err);
    }
    run_free(r);
    sl_inflight_drop(&es->stops);
    return NULL;
}

/* Stops and frees r: on a thread of its own, since it waits for the
 * batches with the function. */
static void run_end(struct esm_run *r)
{
    if (!r)
        return;
    if (!r->m && !r->stream) {
        run_free(r);
        return;
    }
    struct esm_state *es = esm_of(r->lam);
    sl_inflight_hold(&es->stops);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, stop_main, r))
        stop_main(r);
    pthread_attr_destroy(&attr);
}

/*
 * Makes the poller of a mapping what its record says (rec NULL: the
 * mapping with this uuid was deleted, at modified): the running one is
 * replaced, unless a later change already replaced it.
 */
static void run_apply(struct sl_lambda *lam, const char *uuid, json_t *rec, double modified)
{
    struct esm_state *es = esm_of(lam);
    struct esm_run *fresh = NULL;
    /* One change at a time; a stream's poller stops before the next one
     * starts, since both would read its shards from the same checkpoint
     * (a key's records twice, at once). */
    pthread_mutex_lock(&es->apply_mu);
    pthread_mutex_lock(&es->mu);
    struct esm_run **q = &es->runs;
    while (*q && strcmp((*q)->uuid, uuid) != 0)
        q = &(*q)->next;
    struct esm_run *stream_run = NULL;
    if (*q && (*q)->stream && (*q)->modified <= modified) {
        stream_run = *q;
        *q = stream_run->next;
        stream_run->deleted = !rec;
    }
    pthread_mutex_unlock(&es->mu);
    if (stream_run) {
        sl_inflight_hold(&es->stops); /* (stop_main drops it) */
        stop_main(stream_run);
    }
    const char *state = rec ? json_string_value(json_object_get(rec, "State")) : NULL;
    if (state && strcmp(state, "Enabled") == 0) {
        struct sl_err err = {0};
        int rc = run_start(lam, rec, &fresh, &err);
        if (rc)
            sl_warn("lambda", "event source mapping %s does not run: %s", uuid,
                    err.msg[0] ? err.msg : sl_strerror(rc));
    }
    if (!fresh) {
        fresh = calloc(1, sizeof(*fresh)); /* a stopped or deleted mapping's entry */
        if (!fresh)
            return;
        fresh->lam = lam;
        sl_strlcpy(fresh->uuid, uuid, sizeof(fresh->uuid));
    }
    fresh->modified = modified;
    pthread_mutex_lock(&es->mu);
    struct esm_run *old = NULL;
    if (es->stopping) {
        old = fresh;
    } else {
        struct esm_run **p = &es->runs;
        while (*p && strcmp((*p)->uuid, uuid) != 0)
            p = &(*p)->next;
        if (*p && (*p)->modified > modified) {
            old = fresh; /* a later change runs already */
        } else {
            old = *p;
            if (old) {
                *p = old->next;
                old->deleted = !rec;
            }
            fresh->next = es->runs;
            es->runs = fresh;
        }
    }
    pthread_mutex_unlock(&es->mu);
    pthread_mutex_unlock(&es->apply_mu);
    run_end(old);
}

int sl_lambda_esm_start(struct sl_lambda *lam, struct sl_err *err)
{
    struct esm_state *es = calloc(1, sizeof(*es));
    if (!es)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    if (sl_stream_hub_new(lam->app->store, &es->hub)) {
        free(es);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&es->mu, NULL);
    pthread_mutex_init(&es->apply_mu, NULL);
    sl_inflight_init(&es->stops);
    lam->esm = es;
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(lam->app->store, ESM_NS, "", NULL, NULL, SIZE_MAX, &items, &n);
    if (rc)
        return sl_errf(err, rc, "event source mappings: cannot list them");
    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        if (rec)
            run_apply(lam, items[i].sk, rec,
                      json_number_value(json_object_get(rec, "LastModified")));
        json_decref(rec);
        sl_item_free(&items[i]);
    }
    free(items);
    return 0;
}

void sl_lambda_esm_stop(struct sl_lambda *lam)
{
    struct esm_state *es = esm_of(lam);
    if (!es)
        return;
    pthread_mutex_lock(&es->mu);
    es->stopping = true;
    struct esm_run *runs = es->runs;
    es->runs = NULL;
    pthread_mutex_unlock(&es->mu);
    while (runs) {
        struct esm_run *r = runs;
        runs = r->next;
        run_end(r);
    }
    sl_inflight_wait(&es->stops);
}

void sl_lambda_esm_free(struct sl_lambda *lam)
{
    struct esm_state *es = esm_of(lam);
    if (!es)
        return;
    sl_inflight_destroy(&es->stops);
    sl_stream_hub_free(es->hub);
    pthread_mutex_destroy(&es->apply_mu);
    pthread_mutex_destroy(&es->mu);
    free(es);
    lam->esm = NULL;
}

struct shard_metrics {
    struct esm_run *r;
    struct sl_buf *out;
};

static void shard_metric(void *arg, const struct sl_stream_shard_stats *st)
{
    struct shard_metrics *sm = arg;
    const char *u = sm->r->uuid, *f = sm->r->fn;
    sl_buf_printf(sm->out, "sluice_esm_iterator_age_ms{uuid=\"%s\",function=\"%s\",shard=\"%s\"} %lld\n",
                  u, f, st->id, (long long)st->iterator_age_ms);
    sl_buf_printf(sm->out, "sluice_esm_shard_records{uuid=\"%s\",function=\"%s\",shard=\"%s\"} %llu\n",
                  u, f, st->id, (unsigned long long)st->records);
    sl_buf_printf(sm->out, "sluice_esm_shard_records_done{uuid=\"%s\",function=\"%s\",shard=\"%s\"} %llu\n",
                  u, f, st->id, (unsigned long long)st->done);
    sl_buf_printf(sm->out, "sluice_esm_batches{uuid=\"%s\",function=\"%s\",shard=\"%s\"} %llu\n", u,
                  f, st->id, (unsigned long long)st->batches);
    sl_buf_printf(sm->out, "sluice_esm_failures{uuid=\"%s\",function=\"%s\",shard=\"%s\"} %llu\n", u,
                  f, st->id, (unsigned long long)st->failures);
}

void sl_lambda_esm_metrics(struct sl_lambda *lam, struct sl_buf *out)
{
    struct esm_state *es = esm_of(lam);
    if (!es)
        return;
    sl_buf_puts(out,
                "# HELP sluice_esm_batches Batches an event source mapping read and handed to its function.\n"
                "# TYPE sluice_esm_batches counter\n"
                "# HELP sluice_esm_records Records in those batches.\n"
                "# TYPE sluice_esm_records counter\n"
                "# HELP sluice_esm_failures Batches that failed, whole or in part.\n"
                "# TYPE sluice_esm_failures counter\n"
                "# HELP sluice_esm_concurrency Invocations of the mapping's function under way.\n"
                "# TYPE sluice_esm_concurrency gauge\n"
                "# HELP sluice_esm_iterator_age_ms A stream mapping's IteratorAge per shard: "
                "the age of the last record of its last batch when that was done.\n"
                "# TYPE sluice_esm_iterator_age_ms gauge\n"
                "# HELP sluice_esm_shard_records Records of a shard handed to the function.\n"
                "# TYPE sluice_esm_shard_records counter\n"
                "# HELP sluice_esm_shard_records_done Records of a shard the function succeeded "
                "with, in the checkpoint's hands.\n"
                "# TYPE sluice_esm_shard_records_done counter\n");
    pthread_mutex_lock(&es->mu);
    for (struct esm_run *r = es->runs; r; r = r->next) {
        if (r->stream) {
            struct shard_metrics sm = {r, out};
            sl_stream_stats(r->stream, shard_metric, &sm);
            continue;
        }
        if (!r->m)
            continue;
        struct sl_mapping_stats st;
        sl_mapping_get_stats(r->m, &st);
        const char *u = r->uuid;
        sl_buf_printf(out, "sluice_esm_batches{uuid=\"%s\",function=\"%s\"} %llu\n", u, r->fn,
                      (unsigned long long)st.batches);
        sl_buf_printf(out, "sluice_esm_records{uuid=\"%s\",function=\"%s\"} %llu\n", u, r->fn,
                      (unsigned long long)st.records);
        sl_buf_printf(out, "sluice_esm_failures{uuid=\"%s\",function=\"%s\"} %llu\n", u, r->fn,
                      (unsigned long long)st.failures);
        sl_buf_printf(out, "sluice_esm_concurrency{uuid=\"%s\",function=\"%s\"} %u\n", u, r->fn,
                      __atomic_load_n(&r->running, __ATOMIC_RELAXED));
    }
    pthread_mutex_unlock(&es->mu);
}

/* ---- the API ---------------------------------------------------------- */

/* The record as AWS answers it, in state (NULL: as stored). */
static json_t *public_record(json_t *rec, const char *state)
{
    json_t *out = sl_lambda_public_config(rec);
    if (state)
        json_object_set_new(out, "State", json_string(state));
    return out;
}

static int not_found(struct lreq *l, const char *uuid)
{
    return sl_lambda_error(l, LAMBDA_E_NOT_FOUND,
                           "The resource you requested does not exist. (Service: Lambda, "
                           "Status Code: 404, Request ID: %s, UUID: %s)",
                           l->c->request_id, uuid);
}

/* The members only stream sources take. */
static const char *const streams_only[] = {
    "StartingPosition",        "StartingPositionTimestamp", "ParallelizationFactor",
    "MaximumRetryAttempts",    "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError",
    "TumblingWindowInSeconds", "DestinationConfig",
};

/* Checks the FilterCriteria of rec; 0, or answers (SL_DONE). */
static int check_filters(struct lreq *l, json_t *rec)
{
    json_t *filters = json_object_get(json_object_get(rec, "FilterCriteria"), "Filters");
    if (json_array_size(filters) > FILTERS_MAX)
        return sl_lambda_invalid(l, "The number of filters in FilterCriteria exceeds the limit "
                                    "of %d.",
                                 FILTERS_MAX);
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f)
    {
        const char *p = json_string_value(json_object_get(f, "Pattern"));
        struct sl_pattern *pat = NULL;
        struct sl_err err = {0};
        if (!p || strlen(p) > PATTERN_MAX || sl_pattern_compile(p, strlen(p), &pat, &err))
            return sl_lambda_invalid(l, "Invalid filter pattern definition.%s%s",
                                     err.msg[0] ? " " : "", err.msg);
        sl_pattern_free(pat);
    }
    return 0;
}

/* Checks the members of a create or update that apply to an SQS source;
 * 0, or answers (SL_DONE). rec holds the values after the change. */
static int check_sqs(struct lreq *l, json_t *rec, bool fifo)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(streams_only); i++)
        if (json_object_get(l->in, streams_only[i]))
            return sl_lambda_invalid(l, "Unsupported %s parameter for given event source "
                                        "mapping type.",
                                     streams_only[i]);
    json_int_t batch = json_integer_value(json_object_get(rec, "BatchSize"));
    json_int_t window = json_integer_value(json_object_get(rec, "MaximumBatchingWindowInSeconds"));
    if (fifo && batch > 10)
        return sl_lambda_invalid(l, "Batch size for SQS FIFO queues must be between 1 and 10.");
    if (fifo && window > 0)
        return sl_lambda_invalid(l, "MaximumBatchingWindowInSeconds is not supported for SQS "
                                    "FIFO queues.");
    if (batch > 10 && window < 1)
        return sl_lambda_invalid(l, "Maximum batch window in seconds must be greater than 0 if "
                                    "maximum batch size is greater than 10");
    return check_filters(l, rec);
}

/* Checks the members of a create or update that apply to a stream; 0, or
 * answers (SL_DONE). */
static int check_stream(struct lreq *l, json_t *rec, bool dynamodb)
{
    if (json_object_get(l->in, "ScalingConfig"))
        return sl_lambda_invalid(l, "Unsupported ScalingConfig parameter for given event source "
                                    "mapping type.");
    const char *pos = json_string_value(json_object_get(rec, "StartingPosition"));
    if (!pos)
        return sl_lambda_invalid(l, "1 validation error detected: Value null at "
                                    "'startingPosition' failed to satisfy constraint: Member "
                                    "must not be null");
    if (strcmp(pos, "TRIM_HORIZON") != 0 && strcmp(pos, "LATEST") != 0 &&
        (dynamodb || strcmp(pos, "AT_TIMESTAMP") != 0))
        return sl_lambda_invalid(l, "Unsupported starting position for a %s event source: %s",
                                 dynamodb ? "DynamoDB" : "Kinesis", pos);
    bool at = strcmp(pos, "AT_TIMESTAMP") == 0;
    if (at != (json_object_get(rec, "StartingPositionTimestamp") != NULL))
        return sl_lambda_invalid(l, at ? "StartingPositionTimestamp is required with "
                                         "StartingPosition AT_TIMESTAMP."
                                       : "StartingPositionTimestamp is only valid with "
                                         "StartingPosition AT_TIMESTAMP.");
    json_int_t age = json_integer_value(json_object_get(rec, "MaximumRecordAgeInSeconds"));
    if (age >= 0 && age < 60)
        return sl_lambda_invalid(l, "MaximumRecordAgeInSeconds must be -1 or between 60 and "
                                    "604800.");
    const char *dest = json_string_value(json_object_get(
        json_object_get(json_object_get(rec, "DestinationConfig"), "OnFailure"), "Destination"));
    if (dest && *dest) {
        bool queue = strncmp(dest, "arn:aws:sqs:", 12) == 0;
        if (!queue && strncmp(dest, "arn:aws:sns:", 12) != 0)
            return sl_lambda_invalid(l, "The provided destination config DestinationConfig("
                                        "onSuccess=null, onFailure=OnFailure(destination=%s)) "
                                        "is invalid: the on-failure destination of a stream "
                                        "must be an SQS queue or an SNS topic.",
                                     dest);
        int rc = sl_target_check(l->c->app->targets, dest, NULL, NULL, NULL);
        if (rc == SL_ENOTSUP || rc == SL_EINVAL)
            return sl_lambda_invalid(l, "The on-failure destination %s is %s.", dest,
                                     queue ? "not a standard queue's ARN"
                                           : "not a standard topic's ARN");
        if (rc == SL_ENOTFOUND)
            return sl_lambda_invalid(l, "The on-failure destination %s does not exist.", dest);
    }
    return check_filters(l, rec);
}

enum source_kind { SOURCE_SQS, SOURCE_SQS_FIFO, SOURCE_KINESIS, SOURCE_DYNAMODB };

/* The source's kind, for a queue or stream that exists: 0, or answers
 * (SL_DONE). */
static int check_source(struct lreq *l, const char *arn, enum source_kind *kind)
{
    if (!arn)
        return sl_lambda_invalid(l, "Unrecognized event source, must be kinesis, dynamodb "
                                    "stream or sqs.");
    if (strncmp(arn, "arn:aws:kinesis:", 16) == 0) {
        *kind = SOURCE_KINESIS;
        int rc = sl_kinesis_stream_check(l->c->app, arn);
        if (rc == SL_EINVAL)
            return sl_lambda_invalid(l, "Unrecognized event source, must be kinesis, dynamodb "
                                        "stream or sqs: %s is not a Kinesis stream's ARN "
                                        "(stream consumers are not supported yet).",
                                     arn);
        if (rc == SL_ENOTFOUND)
            return sl_lambda_invalid(l, "Stream not found: %s", arn);
        return rc ? sl_call_internal(l->c, rc, NULL) : 0;
    }
    if (strncmp(arn, "arn:aws:dynamodb:", 17) == 0) {
        *kind = SOURCE_DYNAMODB;
        int rc = sl_dynamodb_stream_check(l->c->app, arn);
        if (rc == SL_EINVAL || rc == SL_ENOTFOUND)
            return sl_lambda_invalid(l, "Stream not found: %s", arn);
        return rc ? sl_call_internal(l->c, rc, NULL) : 0;
    }
    bool fifo = false;
    int rc = sl_sqs_queue_kind(l->c->app, arn, &fifo);
    if (rc == SL_EINVAL)
        return sl_lambda_invalid(l, "Unrecognized event source, must be kinesis, dynamodb "
                                    "stream or sqs.");
    if (rc == SL_ENOTFOUND)
        return sl_lambda_invalid(l, "Error occurred while ReceiveMessage. SQS Error Code: "
                                    "AWS.SimpleQueueService.NonExistentQueue. SQS Error "
                                    "Message: The specified queue does not exist for this "
                                    "wsdl version.");
    if (rc)
        return sl_call_internal(l->c, rc, NULL);
    *kind = fifo ? SOURCE_SQS_FIFO : SOURCE_SQS;
    return 0;
}

static double now_s(void)
{
    return (double)sl_time_now_ms() / 1000.0;
}

/* A write of one mapping's record; its answer after the commit. */
struct esm_write {
    char uuid[40];
    json_t *rec;        /* the new record (NULL: delete) */
    const char *shown;  /* the state the answer shows */
    const char *source, *function; /* create: the pair that must be new */
    char other[40];     /* create: the mapping that has the pair already */
    json_t *old;        /* delete: the record deleted */
};

static int write_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct esm_write *w = arg;
    if (w->source) {
        /* One mapping per queue and function, as AWS allows. */
        struct sl_item *items = NULL;
        size_t n = 0;
        int rc = sl_txn_list(t, ESM_NS, "", NULL, SIZE_MAX, &items, &n);
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
            const char *s = json_string_value(json_object_get(rec, "EventSourceArn"));
            const char *f = json_string_value(json_object_get(rec, "FunctionArn"));
            if (s && f && strcmp(s, w->source) == 0 && strcmp(f, w->function) == 0) {
                sl_strlcpy(w->other, items[i].sk, sizeof(w->other));
                rc = SL_EEXIST;
            }
            json_decref(rec);
        }
        for (size_t i = 0; i < n; i++)
            sl_item_free(&items[i]);
        free(items);
        if (rc)
            return rc;
    } else {
        struct sl_item it;
        int rc = sl_txn_get(t, ESM_NS, "", w->uuid, &it);
        if (rc)
            return rc;
        w->old = json_loadb(it.val, it.val_len, 0, NULL);
        sl_item_free(&it);
    }
    if (!w->rec) {
        int rc = sl_txn_delete_pk(t, ESM_CKPT_NS, w->uuid, NULL); /* (a stream's) */
        return rc ? rc : sl_txn_delete(t, ESM_NS, "", w->uuid);
    }
    char *text = json_dumps(w->rec, JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    int rc = sl_txn_put(t, ESM_NS, "", w->uuid, text, strlen(text), NULL);
    free(text);
    return rc;
}

/* The answer of a create, update or delete, once its poller changed. */
static int answer(struct sl_call *c)
{
    struct esm_write *w = c->write_arg;
    json_t *shown = w->rec ? w->rec : w->old;
    int rc = 0;
    if (!c->write_rc && shown)
        rc = sl_call_ok(c, public_record(shown, w->shown));
    json_decref(w->rec);
    json_decref(w->old);
    w->rec = w->old = NULL;
    return rc;
}

/* Makes the mapping's poller what the write left. */
static void apply_write(struct sl_lambda *lam, struct esm_write *w)
{
    run_apply(lam, w->uuid, w->rec,
              w->rec ? json_number_value(json_object_get(w->rec, "LastModified")) : now_s());
}

struct apply_job {
    struct sl_call *c;
    struct sl_lambda *lam;
    struct esm_write *w;
};

static void *apply_main(void *arg)
{
    struct apply_job *job = arg;
    struct esm_state *es = esm_of(job->lam);
    apply_write(job->lam, job->w);
    sl_call_wake(job->c);
    free(job);
    sl_inflight_drop(&es->stops);
    return NULL;
}

static int written(struct sl_call *c)
{
    struct lreq *l = sl_lambda_req(c);
    struct esm_write *w = c->write_arg;
    int rc = 0;
    if (c->write_rc == SL_ENOTFOUND)
        rc = not_found(l, w->uuid);
    else if (c->write_rc == SL_EEXIST && strncmp(w->source, "arn:aws:sqs:", 12) == 0)
        rc = sl_lambda_error(l, LAMBDA_E_CONFLICT,
                             "An event source mapping with SQS arn (\" %s \") and function (\" "
                             "%s \") already exists. Please update or delete the existing "
                             "mapping with UUID %s",
                             w->source, w->function, w->other);
    else if (c->write_rc == SL_EEXIST)
        rc = sl_lambda_error(l, LAMBDA_E_CONFLICT,
                             "The event source arn (\" %s \") and function (\" %s \") provided "
                             "mapping already exists. Please update or delete the existing "
                             "mapping with UUID %s",
                             w->source, w->function, w->other);
    else if (c->write_rc)
        rc = sl_call_internal(c, c->write_rc, &c->write_err);
    if (rc || c->write_rc)
        return answer(c);
    /* The poller changes on a thread (a stream's old one is stopped
     * first, which waits for its batches); the call is answered then. */
    struct esm_state *es = esm_of(l->lam);
    struct apply_job *job = calloc(1, sizeof(*job));
    if (!job) {
        apply_write(l->lam, w);
        return answer(c);
    }
    job->c = c;
    job->lam = l->lam;
    job->w = w;
    sl_call_wait(c, answer);
    sl_inflight_hold(&es->stops);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, apply_main, job))
        apply_main(job);
    pthread_attr_destroy(&attr);
    return SL_LATER;
}

/* Copies the members a create or update sets from in into rec. */
static void apply(json_t *rec, json_t *in)
{
    static const char *const members[] = {
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "FunctionResponseTypes",
        "ScalingConfig",
        "StartingPosition",
        "StartingPositionTimestamp",
        "ParallelizationFactor",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "BisectBatchOnFunctionError",
        "TumblingWindowInSeconds",
        "DestinationConfig",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(members); i++) {
        json_t *v = json_object_get(in, members[i]);
        if (v)
            json_object_set(rec, members[i], v);
    }
    json_t *fc = json_object_get(in, "FilterCriteria");
    if (fc && json_array_size(json_object_get(fc, "Filters")))
        json_object_set(rec, "FilterCriteria", fc);
    else if (fc)
        json_object_del(rec, "FilterCriteria"); /* {} removes the filters */
    json_t *enabled = json_object_get(in, "Enabled");
    if (enabled)
        json_object_set_new(rec, "State", json_string(json_is_false(enabled) ? "Disabled"
                                                                             : "Enabled"));
    json_object_set_new(rec, "LastModified", json_real(now_s()));
}

/* Applies the input to rec (taken), checks the result and writes it; the
 * answer shows state shown. */
static int submit(struct lreq *l, struct esm_write *w, json_t *rec, enum source_kind kind,
                  const char *shown)
{
    apply(rec, l->in);
    int rc = kind == SOURCE_KINESIS || kind == SOURCE_DYNAMODB
                 ? check_stream(l, rec, kind == SOURCE_DYNAMODB)
                 : check_sqs(l, rec, kind == SOURCE_SQS_FIFO);
    if (rc) {
        json_decref(rec);
        return rc;
    }
    w->rec = rec;
    w->shown = shown;
    return sl_call_write(l->c, write_txn, w, written);
}

SL_OP(lambda, CreateEventSourceMapping)
{
    struct lreq *l = sl_lambda_req(c);
    struct esm_write *w = sl_call_alloc(c, sizeof(*w));
    if (!l || !w)
        return SL_ENOMEM;
    char name[80];
    int rc = sl_lambda_exists(l, name, sizeof(name));
    if (rc)
        return rc;
    const char *source = sl_lambda_in_str(l, "EventSourceArn");
    enum source_kind kind;
    if ((rc = check_source(l, source, &kind)) != 0)
        return rc;
    char arn[256];
    sl_lambda_function_arn(l, name, arn, sizeof(arn));
    sl_uuid(w->uuid);
    json_t *rec = json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:s, s:s, s:[], s:s, s:s, s:s}",
                            "UUID", w->uuid, "BatchSize", 10, "MaximumBatchingWindowInSeconds",
                            0, "EventSourceArn", source, "FunctionArn", arn,
                            "LastProcessingResult", "No records processed", "State",
                            "Enabled", "StateTransitionReason", "USER_INITIATED",
                            "FunctionResponseTypes", "_account", c->account, "_region",
                            c->region, "_function", name);
    if (!rec)
        return SL_ENOMEM;
    if (kind == SOURCE_KINESIS || kind == SOURCE_DYNAMODB) {
        /* A stream's members, as AWS shows them when they are not given. */
        json_object_set_new(rec, "BatchSize", json_integer(100));
        json_object_set_new(rec, "ParallelizationFactor", json_integer(1));
        json_object_set_new(rec, "MaximumRetryAttempts", json_integer(-1));
        json_object_set_new(rec, "MaximumRecordAgeInSeconds", json_integer(-1));
        json_object_set_new(rec, "BisectBatchOnFunctionError", json_false());
        json_object_set_new(rec, "TumblingWindowInSeconds", json_integer(0));
        json_object_set_new(rec, "DestinationConfig", json_pack("{s:{}}", "OnFailure"));
    }
    w->source = source;
    w->function = sl_arena_strdup(&c->http->arena, arn);
    return submit(l, w, rec, kind, "Creating");
}

/* Reads mapping uuid's record (caller decrefs): 0, or answers. */
static int load(struct lreq *l, const char *uuid, json_t **rec)
{
    struct sl_item it;
    int rc = uuid ? sl_kv_get(l->c->app->store, ESM_NS, "", uuid, &it) : SL_ENOTFOUND;
    if (rc == SL_ENOTFOUND)
        return not_found(l, uuid ? uuid : "");
    if (rc)
        return sl_call_internal(l->c, rc, NULL);
    *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    const char *account = json_string_value(json_object_get(*rec, "_account"));
    const char *region = json_string_value(json_object_get(*rec, "_region"));
    if (!account || strcmp(account, l->c->account) != 0 || !region ||
        strcmp(region, l->c->region) != 0) {
        json_decref(*rec);
        return not_found(l, uuid);
    }
    return 0;
}

SL_OP(lambda, GetEventSourceMapping)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    json_t *rec;
    int rc = load(l, sl_lambda_in_str(l, "UUID"), &rec);
    if (rc)
        return rc;
    json_t *out = public_record(rec, NULL);
    json_decref(rec);
    return sl_call_ok(c, out);
}

/* The start of an update or delete: the call's state, its write, and the
 * mapping's record (caller decrefs). 0, or answers (SL_DONE). */
static int change_begin(struct sl_call *c, struct lreq **l, struct esm_write **w, json_t **rec)
{
    *l = sl_lambda_req(c);
    *w = sl_call_alloc(c, sizeof(**w));
    if (!*l || !*w)
        return SL_ENOMEM;
    int rc = load(*l, sl_lambda_in_str(*l, "UUID"), rec);
    if (!rc)
        sl_strlcpy((*w)->uuid, json_string_value(json_object_get(*rec, "UUID")),
                   sizeof((*w)->uuid));
    return rc;
}

SL_OP(lambda, UpdateEventSourceMapping)
{
    struct lreq *l;
    struct esm_write *w;
    json_t *rec;
    int rc = change_begin(c, &l, &w, &rec);
    if (rc)
        return rc;
    if (sl_lambda_in_str(l, "FunctionName")) {
        char name[80], arn[256];
        if ((rc = sl_lambda_exists(l, name, sizeof(name))) != 0) {
            json_decref(rec);
            return rc;
        }
        sl_lambda_function_arn(l, name, arn, sizeof(arn));
        json_object_set_new(rec, "FunctionArn", json_string(arn));
        json_object_set_new(rec, "_function", json_string(name));
    }
    enum source_kind kind;
    if ((rc = check_source(l, json_string_value(json_object_get(rec, "EventSourceArn")),
                           &kind)) != 0) {
        json_decref(rec);
        return rc;
    }
    return submit(l, w, rec, kind, "Updating");
}

SL_OP(lambda, DeleteEventSourceMapping)
{
    struct lreq *l;
    struct esm_write *w;
    json_t *rec;
    int rc = change_begin(c, &l, &w, &rec);
    if (rc)
        return rc;
    json_decref(rec);
    w->shown = "Deleting";
    return sl_call_write(c, write_txn, w, written);
}

SL_OP(lambda, ListEventSourceMappings)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    const char *source = sl_lambda_in_str(l, "EventSourceArn");
    const char *fn = sl_lambda_in_str(l, "FunctionName");
    char fname[80] = "", qual[130];
    if (fn && sl_lambda_parse_name(l, fn, fname, sizeof(fname), qual, sizeof(qual)))
        return SL_DONE;
    json_t *mi = json_object_get(l->in, "MaxItems");
    size_t max = json_is_integer(mi) ? (size_t)json_integer_value(mi) : 100;
    const char *marker = sl_lambda_in_str(l, "Marker");
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, ESM_NS, "", NULL, marker, SIZE_MAX, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *list = json_array();
    const char *next = NULL;
    for (size_t i = 0; i < n && !next; i++) {
        json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        const char *s = json_string_value(json_object_get(rec, "EventSourceArn"));
        const char *f = json_string_value(json_object_get(rec, "_function"));
        const char *a = json_string_value(json_object_get(rec, "_account"));
        const char *r = json_string_value(json_object_get(rec, "_region"));
        bool mine = a && r && strcmp(a, c->account) == 0 && strcmp(r, c->region) == 0;
        if (mine && (!source || (s && strcmp(s, source) == 0)) &&
            (!fname[0] || (f && strcmp(f, fname) == 0))) {
            if (json_array_size(list) == max)
                next = items[i - 1].sk;
            else
                json_array_append_new(list, public_record(rec, NULL));
        }
        json_decref(rec);
    }
    json_t *out = json_pack("{s:o}", "EventSourceMappings", list);
    if (next)
        json_object_set_new(out, "NextMarker", json_string(next));
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}
