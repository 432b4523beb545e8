/*
 * The poller of an event source mapping (mapping.h): a state machine on
 * the engine loop. Its state is the loop thread's; what comes from other
 * threads (the source's wake, a read's or acknowledgement's end, the
 * target's report) is posted to the loop, and each post, like each batch
 * under way, is counted so that stopping waits for the last one.
 *
 * A slot holds one batch from its read to its end; one read runs at a
 * time, and up to `concurrency` batches are with the target.
 *
 * idle ──wake──▶ [window] ──▶ read ──none──▶ idle
 *                              │
 *                              └──records──▶ deliver ──ok──▶ ack ──▶ free
 *                                     (next read, if a   └─failed─▶ retry, back off
 *                                      slot is free)
 */
#include "engine/mapping.h"

#include <stddef.h>
#include <stdlib.h>

enum slot_state { SLOT_FREE, SLOT_READING, SLOT_OUT, SLOT_ACKING };

struct slot {
    struct sl_mapping *m;
    struct sl_batch b;
    enum slot_state state;
    int rc;  /* the read's or acknowledgement's result */
    bool ok; /* the target's report */
    struct sl_err err;
};

struct sl_mapping {
    struct sl_mapping_config cfg;
    /* The loop thread's: */
    struct slot *slots;
    unsigned nslots;
    bool reading;           /* a read is under way */
    bool idle;              /* nothing more to read: a wake opens a window */
    struct sl_timer *timer; /* a window or a back-off, only while there is work */
    struct sl_timer *again; /* records held back by the source become readable */
    int64_t again_ms;
    unsigned failures;      /* in a row: the back-off doubles with each */
    bool blocked;           /* a read found records held back behind a batch out */
    /* Any thread: */
    bool woken;  /* records may have come since the last read (atomic) */
    bool posted; /* a pump is posted (atomic) */
    struct sl_inflight inflight; /* posts not run yet, and the slots in use */
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
    m->idle = false; /* (a window or back-off ended: read now) */
    pump(m);
}

static void on_again(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_mapping *m = arg;
    m->again = NULL;
    __atomic_store_n(&m->woken, true, __ATOMIC_RELEASE);
    pump(m);
}

/* Reads again at at_ms (monotonic), unless a read comes first. */
static void read_again_at(struct sl_mapping *m, int64_t at_ms)
{
    if (m->again && m->again_ms <= at_ms)
        return;
    if (m->again)
        sl_loop_timer_cancel(m->cfg.loop, m->again);
    m->again_ms = at_ms;
    m->again = sl_loop_timer(m->cfg.loop, at_ms, on_again, m);
}

static void arm(struct sl_mapping *m, int64_t delay_ms)
{
    m->timer = sl_loop_timer(m->cfg.loop, sl_loop_now_ms() + delay_ms, on_timer, m);
}

/* After the failures-th failure in a row: the back-off, doubling. */
static void back_off(struct sl_mapping *m)
{
    if (m->timer || sl_inflight_stopping(&m->inflight) || !sl_loop_is_current(m->cfg.loop))
        return;
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

/* Runs task(slot) on the loop, or at once when the loop has stopped. */
static void post_slot(struct slot *s, sl_task_cb task)
{
    if (sl_loop_post(s->m->cfg.loop, task, s))
        task(s->m->cfg.loop, s);
}

/* A slot's batch is done with: free again. */
static void finish(struct slot *s, bool failed)
{
    struct sl_mapping *m = s->m;
    m->cfg.source->release(m->cfg.source_self, &s->b);
    free(s->b.failed);
    s->b = (struct sl_batch){0};
    s->state = SLOT_FREE;
    if (failed) {
        m->failures++;
        back_off(m);
    } else {
        m->failures = 0;
    }
    if (sl_loop_is_current(m->cfg.loop))
        pump(m); /* a backlog is read at once */
    sl_inflight_drop(&m->inflight);
}

static void read_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct slot *s = arg;
    struct sl_mapping *m = s->m;
    m->reading = false;
    if (s->rc) {
        sl_warn("engine", "event source mapping: read: %s", s->err.msg);
        finish(s, true);
        return;
    }
    m->blocked |= s->b.blocked;
    bool stopping = sl_inflight_stopping(&m->inflight);
    if (s->b.again_ms && !s->b.more && sl_loop_is_current(m->cfg.loop) && !stopping)
        read_again_at(m, s->b.again_ms);
    if (s->b.n == 0 || stopping) {
        /* (A batch read as the poller stops goes back as it is: its
         * records come back on their own.) */
        m->idle = !s->b.more; /* (a wake that came during the read still counts) */
        if (s->b.n)
            m->cfg.source->retry(m->cfg.source_self, &s->b);
        finish(s, false);
        return;
    }
    m->idle = !s->b.more;
    s->state = SLOT_OUT;
    COUNT(m, batches, 1);
    COUNT(m, records, s->b.n);
    COUNT(m, in_flight, 1);
    m->cfg.deliver(m->cfg.ctx, m, &s->b);
    if (sl_loop_is_current(m->cfg.loop))
        pump(m); /* the next batch, while this one is out */
}

static void read_done(void *arg, int rc)
{
    struct slot *s = arg;
    s->rc = rc;
    post_slot(s, read_task);
}

/* Reads and delivers what is there, unless the slots are all in use, a
 * read is under way or a timer (window, back-off) holds the poller; else
 * sleeps until the next wake. */
static void pump(struct sl_mapping *m)
{
    if (m->reading || m->timer || sl_inflight_stopping(&m->inflight))
        return;
    struct slot *s = NULL;
    for (unsigned i = 0; i < m->nslots && !s; i++)
        if (m->slots[i].state == SLOT_FREE)
            s = &m->slots[i];
    if (!s)
        return; /* a batch's end pumps again */
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
    if (m->again) {
        sl_loop_timer_cancel(m->cfg.loop, m->again);
        m->again = NULL;
    }
    s->b = (struct sl_batch){0};
    s->err = (struct sl_err){0};
    s->state = SLOT_READING;
    m->reading = true;
    COUNT(m, reads, 1);
    sl_inflight_hold(&m->inflight); /* the slot, until it is free again */
    int rc = m->cfg.source->read(m->cfg.source_self, m->cfg.batch_size, &s->b, &s->err,
                                 read_done, s);
    if (rc) {
        m->reading = false;
        s->rc = rc;
        read_task(m->cfg.loop, s);
    }
}

static void ack_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct slot *s = arg;
    struct sl_mapping *m = s->m;
    if (s->rc) {
        /* Read again: at least once. */
        sl_warn("engine", "event source mapping: acknowledge: %s", s->err.msg);
        COUNT(m, failures, 1);
        m->cfg.source->retry(m->cfg.source_self, &s->b);
        finish(s, true);
        return;
    }
    COUNT(m, acked, 1);
    if (m->blocked) {
        /* Records held back behind this batch may be free now. */
        m->blocked = false;
        __atomic_store_n(&m->woken, true, __ATOMIC_RELEASE);
    }
    if (s->b.failed) {
        /* Its failed records come back on their own: a read learns when. */
        COUNT(m, failures, 1);
        __atomic_store_n(&m->woken, true, __ATOMIC_RELEASE);
    }
    finish(s, s->b.back_off);
}

static void ack_done(void *arg, int rc)
{
    struct slot *s = arg;
    s->rc = rc;
    post_slot(s, ack_task);
}

static void done_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct slot *s = arg;
    struct sl_mapping *m = s->m;
    __atomic_fetch_sub(&m->stats.in_flight, 1, __ATOMIC_RELAXED);
    if (s->ok) {
        s->state = SLOT_ACKING;
        s->err = (struct sl_err){0};
        int rc = m->cfg.source->ack(m->cfg.source_self, &s->b, &s->err, ack_done, s);
        if (!rc)
            return;
        s->rc = rc;
        ack_task(l, s);
        return;
    }
    COUNT(m, failures, 1);
    m->cfg.source->retry(m->cfg.source_self, &s->b);
    finish(s, true);
}

void sl_mapping_done(struct sl_mapping *m, struct sl_batch *b, bool ok)
{
    (void)m;
    struct slot *s = (struct slot *)((char *)b - offsetof(struct slot, b));
    s->ok = ok; /* (read by done_task after the post: the post orders it) */
    post_slot(s, done_task);
}

void sl_mapping_get_stats(struct sl_mapping *m, struct sl_mapping_stats *out)
{
    out->reads = __atomic_load_n(&m->stats.reads, __ATOMIC_RELAXED);
    out->batches = __atomic_load_n(&m->stats.batches, __ATOMIC_RELAXED);
    out->records = __atomic_load_n(&m->stats.records, __ATOMIC_RELAXED);
    out->acked = __atomic_load_n(&m->stats.acked, __ATOMIC_RELAXED);
    out->failures = __atomic_load_n(&m->stats.failures, __ATOMIC_RELAXED);
    out->in_flight = __atomic_load_n(&m->stats.in_flight, __ATOMIC_RELAXED);
}

int sl_mapping_start(struct sl_mapping **out, const struct sl_mapping_config *cfg,
                     struct sl_err *err)
{
    if (!cfg->loop || !cfg->source || !cfg->deliver || cfg->batch_size == 0)
        return sl_errf(err, SL_EINVAL, "event source mapping: incomplete configuration");
    struct sl_mapping *m = calloc(1, sizeof(*m));
    unsigned n = cfg->concurrency ? cfg->concurrency : 1;
    struct slot *slots = m ? calloc(n, sizeof(*slots)) : NULL;
    if (!slots) {
        free(m);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    m->cfg = *cfg;
    m->slots = slots;
    m->nslots = n;
    for (unsigned i = 0; i < n; i++)
        slots[i].m = m;
    if (m->cfg.backoff_ms <= 0)
        m->cfg.backoff_ms = 1000;
    if (m->cfg.backoff_max_ms < m->cfg.backoff_ms)
        m->cfg.backoff_max_ms = m->cfg.backoff_ms;
    sl_inflight_init(&m->inflight);
    int rc = cfg->source->watch(cfg->source_self, on_wake, m);
    if (rc) {
        sl_inflight_destroy(&m->inflight);
        free(slots);
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
    if (m->again)
        sl_loop_timer_cancel(l, m->again);
    m->timer = m->again = NULL;
}

void sl_mapping_stop(struct sl_mapping *m)
{
    if (!m)
        return;
    sl_inflight_stop(&m->inflight);
    m->cfg.source->unwatch(m->cfg.source_self, on_wake, m);
    /* The batches in flight are reported (and acknowledged or given
     * back), posts run; then the timers go, on the loop that owns them. */
    sl_inflight_wait(&m->inflight);
    sl_loop_call(m->cfg.loop, stop_task, m);
    sl_inflight_destroy(&m->inflight);
    free(m->slots);
    free(m);
}
