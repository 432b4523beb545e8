/*
 * The poller of an event source mapping (mapping.h): a state machine on
 * the engine loop. Its state is the loop thread's; what comes from other
 * threads (the source's wake, the target's report) is posted to the loop,
 * and each post is counted so that stopping waits for the last one.
 *
 * idle ──wake──▶ [window] ──▶ read ──none──▶ idle
 *                              │
 *                              └──records──▶ deliver ──ok──▶ ack, read again
 *                                                     └─failed─▶ retry, back off, read
 */
#include "engine/mapping.h"

#include <stdlib.h>

struct sl_mapping {
    struct sl_mapping_config cfg;
    /* The loop thread's: */
    struct sl_batch batch;
    bool busy;       /* a batch is with the target */
    bool idle;       /* the last read found nothing: a wake opens a window */
    struct sl_timer *timer; /* a window or a back-off, only while there is work */
    unsigned failures;      /* in a row: the back-off doubles with each */
    bool ok;                /* the target's report */
    /* Any thread: */
    bool woken;  /* records may have come since the last read (atomic) */
    bool posted; /* a pump is posted (atomic) */
    struct sl_inflight inflight; /* posts not run yet, and the batch out */
    struct sl_mapping_stats stats; /* (atomic) */
};

#define COUNT(m, field, n) __atomic_fetch_add(&(m)->stats.field, (n), __ATOMIC_RELAXED)

static int64_t scaled(const struct sl_mapping *m, int64_t ms)
{
    return sl_delay_scaled_ms(ms, m->cfg.time_scale);
}

static void pump(struct sl_mapping *m);

static void on_timer(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_mapping *m = arg;
    m->timer = NULL;
    m->idle = false; /* (a window ended: read now) */
    pump(m);
}

static void arm(struct sl_mapping *m, int64_t delay_ms)
{
    m->timer = sl_loop_timer(m->cfg.loop, sl_loop_now_ms() + delay_ms, on_timer, m);
}

/* After the failures-th failure in a row: the back-off, doubling. */
static void back_off(struct sl_mapping *m)
{
    int64_t d = scaled(m, m->cfg.backoff_ms), most = scaled(m, m->cfg.backoff_max_ms);
    for (unsigned i = 1; i < m->failures && d < most; i++)
        d *= 2;
    arm(m, SL_MIN(d, most));
}

static void pump_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_mapping *m = arg;
    __atomic_store_n(&m->posted, false, __ATOMIC_RELEASE);
    pump(m);
    sl_inflight_drop(&m->inflight);
}

/* Pumps on the loop soon (any thread): one post at a time. */
static void kick(struct sl_mapping *m)
{
    if (__atomic_exchange_n(&m->posted, true, __ATOMIC_ACQ_REL))
        return;
    sl_inflight_hold(&m->inflight);
    if (sl_loop_post(m->cfg.loop, pump_task, m)) {
        __atomic_store_n(&m->posted, false, __ATOMIC_RELEASE); /* the loop stops */
        sl_inflight_drop(&m->inflight);
    }
}

/* The source's wake: records may have come (any thread). */
static void on_wake(void *arg)
{
    struct sl_mapping *m = arg;
    __atomic_store_n(&m->woken, true, __ATOMIC_RELEASE);
    kick(m);
}

/* Reads and delivers what is there, unless a batch is out or a timer
 * (window, back-off) holds the poller; else sleeps until the next wake. */
static void pump(struct sl_mapping *m)
{
    if (m->busy || m->timer || sl_inflight_stopping(&m->inflight))
        return;
    bool woken = __atomic_exchange_n(&m->woken, false, __ATOMIC_ACQ_REL);
    if (m->idle) {
        if (!woken)
            return;
        if (m->cfg.window_ms > 0) {
            /* What comes during the window goes in the same batch. */
            arm(m, scaled(m, m->cfg.window_ms));
            if (m->timer)
                return;
        }
    }
    struct sl_err err = {0};
    m->batch = (struct sl_batch){0};
    COUNT(m, reads, 1);
    int rc = m->cfg.source->read(m->cfg.source_self, m->cfg.batch_size, &m->batch, &err);
    if (rc) {
        sl_warn("engine", "event source mapping: read: %s", err.msg);
        m->failures++;
        back_off(m);
        return;
    }
    if (m->batch.n == 0) {
        m->cfg.source->release(m->cfg.source_self, &m->batch);
        m->idle = true;
        if (__atomic_load_n(&m->woken, __ATOMIC_ACQUIRE))
            kick(m); /* a wake came during the read */
        return;
    }
    m->idle = false;
    m->busy = true;
    COUNT(m, batches, 1);
    COUNT(m, records, m->batch.n);
    sl_inflight_hold(&m->inflight); /* the batch, until the target reports */
    m->cfg.deliver(m->cfg.ctx, m, &m->batch);
}

static void done_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_mapping *m = arg;
    const struct sl_source *src = m->cfg.source;
    struct sl_err err = {0};
    bool ok = m->ok;
    if (ok && src->ack(m->cfg.source_self, &m->batch, &err)) {
        sl_warn("engine", "event source mapping: acknowledge: %s", err.msg);
        ok = false; /* read again: at least once */
    }
    if (ok) {
        COUNT(m, acked, 1);
        m->failures = 0;
    } else {
        COUNT(m, failures, 1);
        src->retry(m->cfg.source_self, &m->batch);
        m->failures++;
    }
    src->release(m->cfg.source_self, &m->batch);
    m->busy = false;
    if (sl_loop_is_current(l)) { /* (else the loop has stopped) */
        if (!ok && !sl_inflight_stopping(&m->inflight))
            back_off(m);
        pump(m); /* a backlog is read at once */
    }
    sl_inflight_drop(&m->inflight);
}

void sl_mapping_done(struct sl_mapping *m, bool ok)
{
    m->ok = ok; /* (read by done_task after the post: the post orders it) */
    if (sl_loop_post(m->cfg.loop, done_task, m))
        done_task(m->cfg.loop, m); /* the loop stops: at once */
}

void sl_mapping_get_stats(struct sl_mapping *m, struct sl_mapping_stats *out)
{
    out->reads = __atomic_load_n(&m->stats.reads, __ATOMIC_RELAXED);
    out->batches = __atomic_load_n(&m->stats.batches, __ATOMIC_RELAXED);
    out->records = __atomic_load_n(&m->stats.records, __ATOMIC_RELAXED);
    out->acked = __atomic_load_n(&m->stats.acked, __ATOMIC_RELAXED);
    out->failures = __atomic_load_n(&m->stats.failures, __ATOMIC_RELAXED);
}

int sl_mapping_start(struct sl_mapping **out, const struct sl_mapping_config *cfg,
                     struct sl_err *err)
{
    if (!cfg->loop || !cfg->source || !cfg->deliver || cfg->batch_size == 0)
        return sl_errf(err, SL_EINVAL, "event source mapping: incomplete configuration");
    struct sl_mapping *m = calloc(1, sizeof(*m));
    if (!m)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    m->cfg = *cfg;
    if (m->cfg.backoff_ms <= 0)
        m->cfg.backoff_ms = 1000;
    if (m->cfg.backoff_max_ms < m->cfg.backoff_ms)
        m->cfg.backoff_max_ms = m->cfg.backoff_ms;
    sl_inflight_init(&m->inflight);
    int rc = cfg->source->watch(cfg->source_self, on_wake, m);
    if (rc) {
        sl_inflight_destroy(&m->inflight);
        free(m);
        return sl_errf(err, rc, "event source mapping: cannot watch its source");
    }
    __atomic_store_n(&m->woken, true, __ATOMIC_RELEASE); /* what is there already */
    kick(m);
    *out = m;
    return 0;
}

static void stop_task(struct sl_loop *l, void *arg)
{
    struct sl_mapping *m = arg;
    if (m->timer)
        sl_loop_timer_cancel(l, m->timer);
    m->timer = NULL;
}

void sl_mapping_stop(struct sl_mapping *m)
{
    if (!m)
        return;
    sl_inflight_stop(&m->inflight);
    m->cfg.source->unwatch(m->cfg.source_self, on_wake, m);
    /* The batch in flight is reported (and acknowledged or given back),
     * posts run; then the timers go, on the loop that owns them. */
    sl_inflight_wait(&m->inflight);
    sl_loop_call(m->cfg.loop, stop_task, m);
    sl_inflight_destroy(&m->inflight);
    free(m);
}
