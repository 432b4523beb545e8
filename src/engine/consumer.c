/*
 * The consumer (consumer.h): a state machine on the engine loop. Its
 * state is touched on the loop thread only; what ends elsewhere (a
 * commit on the writer thread, a delivery, a governor's call) is posted
 * to the loop. Leases and finishes are transactions submitted to the
 * store: the finishes that gather while one is in flight go together in
 * the next, so deleting many messages costs one transaction, and the
 * writer's group commit shares its fsync with whatever else commits.
 */
#include "engine/consumer.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_BATCH 64        /* messages one lease takes at most */
#define LEASE_AHEAD 3         /* max_inflight's worth leased ahead, this many times */
#define FINISH_BATCH 1024     /* finishes in one transaction at most */
#define STORE_RETRY_MS 1000   /* after the store failed a lease */
#define GROUPS_MAX 4096       /* groups known at once (more wait for a rescan) */

/* A group of the queue: one target's messages. */
struct group {
    char *key;
    int64_t next_ms;   /* wall clock: the earliest its messages may be visible */
    int64_t back_ms;   /* the earliest of those that came back during a lease */
    bool leasing;      /* a lease of its is in flight */
    unsigned ahead;    /* its messages leased or being leased without a slot */
    bool waiting;      /* for the governor's call: no slot was free */
    bool seen;         /* in the last rescan */
    struct group *next;
};

/* A message leaving or coming back: what the next finish transaction does. */
struct finish {
    char *group; /* update: its group, whose next visible time it may advance */
    int64_t id;
    uint32_t receives;
    bool delete;       /* else update: */
    int64_t visible_ms;
    char *meta;        /* the new meta (malloc'd); NULL keeps it */
    char *dest;        /* delete: the destination's ARN (malloc'd), or NULL */
    char *record;      /* its payload (malloc'd) */
    char *dlq;         /* delete: the dead-letter target (malloc'd), or NULL */
    char *dlq_body;    /* what it gets: the message's body, and attributes */
    size_t dlq_len;
    char *dlq_attrs;
    struct finish *next;
};

/* A leased message waiting for room: at most LEASE_AHEAD times
 * max_inflight of them, so a delivery's end starts the next at once,
 * without waiting for a lease's commit. The first max_inflight have their
 * slot of the governor already (slot); the others take one when they
 * start, or wait for the governor's call: leased ahead, they hold no
 * concurrency a synchronous call of the function could use. */
struct ready {
    struct sl_qmsg m;
    struct group *g;
    bool slot, stopped;
    struct ready *next;
};

struct lease {
    struct sl_consumer *c;
    struct group *g;
    size_t want, slots; /* messages asked; governor slots taken for them */
    bool stopped;       /* the group may not run (reserved concurrency 0) */
    struct sl_qmsg *got;
    size_t n;
    int64_t next_ms; /* the group's next visible time after the lease */
    int rc;
    struct sl_err err;
};

struct finish_txn {
    struct sl_consumer *c;
    struct finish *list;
    int rc;
    struct sl_err err;
};

struct sl_consumer {
    struct sl_consumer_config cfg;
    char *queue;
    struct group *groups;
    size_t ngroups;
    bool dirty;  /* puts committed since the last rescan (atomic) */
    bool posted; /* a pump is posted (atomic) */
    unsigned running;  /* deliveries started and not reported */
    unsigned queued;   /* messages leased and waiting to start, or being leased */
    unsigned slotted;  /* governor slots those hold */
    bool starting;     /* in start_ready() */
    struct ready *ready, **ready_tail; /* leased, waiting for room to start */
    struct sl_timer *timer;
    int64_t timer_at;
    struct finish *pending, **pending_tail;
    bool finishing; /* a finish transaction is in flight */
    bool watching;
    /* Any thread: */
    struct sl_inflight inflight; /* submitted transactions and deliveries */
    struct sl_consumer_stats stats; /* (atomic) */
};

/* ---- AWS's schedules ---------------------------------------------------- */

int64_t sl_retry_lambda_error_ms(unsigned tries)
{
    /* "about 1 minute" before the first retry, "about 2" before the second. */
    return tries <= 1 ? 60000 : 120000;
}

int64_t sl_retry_lambda_throttle_ms(unsigned throttles)
{
    /* 1 s, doubling, at most 5 minutes. */
    double ms = 1000.0 * pow(2.0, throttles ? throttles - 1 : 0);
    return ms > 300000.0 ? 300000 : (int64_t)ms;
}

/* Counts one event in a statistic (read by other threads). */
#define COUNT(c, field) __atomic_fetch_add(&(c)->stats.field, 1, __ATOMIC_RELAXED)

static int64_t scaled(const struct sl_consumer *c, int64_t ms)
{
    return sl_delay_scaled_ms(ms, c->cfg.time_scale);
}

/* ---- groups ------------------------------------------------------------------ */

static struct group *group_of(struct sl_consumer *c, const char *key, bool create)
{
    for (struct group *g = c->groups; g; g = g->next)
        if (strcmp(g->key, key) == 0)
            return g;
    if (!create || c->ngroups >= GROUPS_MAX)
        return NULL;
    struct group *g = calloc(1, sizeof(*g));
    if (!g || !(g->key = strdup(key))) {
        free(g);
        return NULL;
    }
    g->back_ms = INT64_MAX;
    g->next = c->groups;
    c->groups = g;
    c->ngroups++;
    return g;
}

static void on_group(void *arg, const char *key, int64_t ms)
{
    struct sl_consumer *c = arg;
    struct group *g = group_of(c, key, true);
    if (!g)
        return;
    g->seen = true;
    if (g->leasing) /* (the lease's end takes it into account) */
        g->back_ms = SL_MIN(g->back_ms, ms);
    else
        g->next_ms = ms;
}

/* Finds the queue's groups and their next visible times again; groups
 * with nothing left are forgotten. */
static int rescan(struct sl_consumer *c)
{
    for (struct group *g = c->groups; g; g = g->next)
        g->seen = false;
    int rc = sl_queue_groups(c->cfg.store, c->queue, on_group, c);
    if (rc)
        return rc;
    for (struct group **p = &c->groups; *p;) {
        struct group *g = *p;
        if (!g->seen && !g->leasing && !g->waiting) {
            *p = g->next;
            free(g->key);
            free(g);
            c->ngroups--;
        } else {
            p = &g->next;
        }
    }
    return 0;
}

/* ---- the pump ------------------------------------------------------------------ */

static void pump(struct sl_consumer *c);

static void pump_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_consumer *c = arg;
    __atomic_store_n(&c->posted, false, __ATOMIC_RELEASE);
    pump(c);
}

/* Pumps soon, on the loop (any thread): one post at a time. */
static void kick(struct sl_consumer *c)
{
    if (!__atomic_exchange_n(&c->posted, true, __ATOMIC_ACQ_REL) &&
        sl_loop_post(c->cfg.loop, pump_task, c))
        __atomic_store_n(&c->posted, false, __ATOMIC_RELEASE); /* the loop stops */
}

static void on_timer(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_consumer *c = arg;
    c->timer = NULL;
    pump(c);
}

/* The queue's watch: a put committed (writer thread). */
static void on_put(void *arg)
{
    struct sl_consumer *c = arg;
    __atomic_store_n(&c->dirty, true, __ATOMIC_RELEASE); /* the pump rescans */
    kick(c);
}

/* The governor's call: a slot of a group frees (any thread). */
static void on_slot(void *arg, const char *key)
{
    (void)key;
    kick(arg);
}

static void start_delivery(struct sl_consumer *c, struct group *g, struct sl_qmsg *m,
                           bool slot, bool stopped);
static void queue_finish(struct sl_consumer *c, struct finish *f);

static void on_lease(struct sl_loop *l, void *arg)
{
    (void)l;
    struct lease *le = arg;
    struct sl_consumer *c = le->c;
    struct group *g = le->g;
    g->leasing = false;
    size_t used = le->rc ? 0 : le->n;
    /* The slots taken for messages that did not come go back. */
    for (size_t i = used; i < le->slots; i++)
        sl_governor_release(c->cfg.governor, g->key);
    c->slotted -= (unsigned)(le->slots > used ? le->slots - used : 0);
    c->queued -= (unsigned)(le->want - used);
    g->ahead -= (unsigned)(le->want - le->slots);
    if (le->rc) {
        if (le->rc != SL_ECLOSED)
            sl_error("engine", "queue %s: lease: %s", c->queue, le->err.msg);
        g->next_ms = sl_time_now_ms() + STORE_RETRY_MS;
    } else {
        g->next_ms = le->next_ms;
    }
    /* A message that came back, or was put, while the lease was in flight
     * may be earlier than what the lease saw. */
    g->next_ms = SL_MIN(g->next_ms, g->back_ms); /* (see on_group, on_finished) */
    g->back_ms = INT64_MAX;
    __atomic_fetch_add(&c->stats.leased, used, __ATOMIC_RELAXED);
    bool stop = sl_inflight_stopping(&c->inflight);
    for (size_t i = 0; i < used; i++) {
        struct ready *r = stop ? NULL : calloc(1, sizeof(*r));
        if (r) {
            *r = (struct ready){.m = le->got[i], .g = g, .slot = i < le->slots,
                                .stopped = le->stopped};
            if (!r->slot && !r->stopped && c->cfg.governor)
                g->ahead++;
            *c->ready_tail = r;
            c->ready_tail = &r->next;
            continue;
        }
        /* Leased as the server stops: back on the queue as they were. */
        struct finish *f = calloc(1, sizeof(*f));
        if (f) {
            f->id = le->got[i].id;
            f->receives = le->got[i].receives;
            f->visible_ms = sl_time_now_ms();
            queue_finish(c, f);
        }
        if (i < le->slots) {
            sl_governor_release(c->cfg.governor, g->key);
            c->slotted--;
        }
        c->queued--;
        sl_qmsg_free(&le->got[i]);
    }
    free(le->got); /* the messages are the ready list's now */
    free(le);
    sl_inflight_drop(&c->inflight);
    pump(c);
}

/* Whether r may start: it has its slot, or needs none, or takes one now;
 * else it waits for the governor's call (asked first, then looked at
 * again: a slot freed between the two is not missed). */
static bool ready_slot(struct sl_consumer *c, struct ready *r)
{
    struct sl_governor *gov = c->cfg.governor;
    if (r->slot || r->stopped || !gov)
        return true;
    if (sl_governor_reserved(gov, r->g->key) == 0) {
        r->stopped = true; /* reserved concurrency 0 since its lease */
        r->g->ahead--;
        return true;
    }
    if (sl_governor_acquire(gov, r->g->key)) {
        sl_governor_wait(gov, r->g->key, on_slot, c);
        if (sl_governor_acquire(gov, r->g->key))
            return false;
    }
    r->slot = true;
    r->g->ahead--;
    c->slotted++; /* (it starts now) */
    return true;
}

/* Starts ready messages while there is room, in the order they were
 * leased; one whose function has no free slot lets the others pass. */
static void start_ready(struct sl_consumer *c)
{
    /* A delivery's start may end in a pump (a finish that fails at once):
     * the outer pass goes on, over a list only it changes. */
    if (c->starting)
        return;
    c->starting = true;
    struct ready **p = &c->ready;
    while (*p && c->running < c->cfg.max_inflight) {
        struct ready *r = *p;
        if (!ready_slot(c, r)) {
            p = &r->next;
            continue;
        }
        *p = r->next;
        c->queued--;
        if (r->slot)
            c->slotted--;
        c->running++;
        start_delivery(c, r->g, &r->m, r->slot, r->stopped);
        free(r);
    }
    while (*p) /* the list's end may have moved */
        p = &(*p)->next;
    c->ready_tail = p;
    c->starting = false;
}

static int lease_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct lease *le = arg;
    struct sl_consumer *c = le->c;
    int rc = sl_txn_queue_receive(t, c->queue, le->g->key, sl_time_now_ms(), c->cfg.lease_ms,
                                  le->want, &le->got, &le->n);
    if (rc || le->n == le->want) {
        le->next_ms = sl_time_now_ms(); /* more may be visible */
        return rc;
    }
    /* Fewer than asked: when the group's next message becomes visible, read
     * here rather than by the loop (a read there would hold it up). */
    rc = sl_txn_queue_next_visible_group(t, c->queue, le->g->key, &le->next_ms);
    if (rc == SL_ENOTFOUND) {
        le->next_ms = INT64_MAX; /* nothing left: a put makes the pump rescan */
        rc = 0;
    }
    if (rc) { /* the lease is rolled back with the transaction */
        for (size_t i = 0; i < le->n; i++)
            sl_qmsg_free(&le->got[i]);
        le->n = 0;
    }
    return rc;
}

static void lease_done(void *arg, int result)
{
    struct lease *le = arg;
    le->rc = result;
    if (sl_loop_post(le->c->cfg.loop, on_lease, le))
        on_lease(le->c->cfg.loop, le); /* (the loop stops: not reached in practice) */
}

/* Leases up to want of g's messages, with slots of them taken already
 * (none for a group that may not run: stopped). */
static void lease(struct sl_consumer *c, struct group *g, size_t want, size_t slots,
                  bool stopped)
{
    struct lease *le = calloc(1, sizeof(*le));
    if (!le) {
        for (size_t i = 0; i < slots; i++)
            sl_governor_release(c->cfg.governor, g->key);
        return;
    }
    *le = (struct lease){.c = c, .g = g, .want = want, .slots = slots, .stopped = stopped};
    g->leasing = true;
    c->queued += (unsigned)want;
    c->slotted += (unsigned)slots;
    g->ahead += (unsigned)(want - slots);
    sl_inflight_hold(&c->inflight);
    if (sl_store_submit(c->cfg.store, lease_txn, le, &le->err, lease_done, le)) {
        le->rc = SL_ECLOSED;
        on_lease(c->cfg.loop, le);
    }
}

static void arm_timer(struct sl_consumer *c, int64_t at)
{
    if (c->timer && c->timer_at == at)
        return;
    if (c->timer)
        sl_loop_timer_cancel(c->cfg.loop, c->timer);
    c->timer = NULL;
    if (at == INT64_MAX)
        return;
    int64_t wait = at - sl_time_now_ms();
    c->timer = sl_loop_timer(c->cfg.loop, sl_loop_now_ms() + (wait > 0 ? wait : 0), on_timer, c);
    c->timer_at = at;
}

/*
 * Leases what can be delivered now: for each group whose messages are
 * visible, as many as it has free slots (and the consumer room), asking
 * the governor first; a group without a slot waits for the governor's
 * call. Sleeps until the next visible time otherwise: no polling.
 */
static void pump(struct sl_consumer *c)
{
    if (sl_inflight_stopping(&c->inflight))
        return;
    start_ready(c);
    int64_t now = sl_time_now_ms(), next = INT64_MAX;
    if (__atomic_exchange_n(&c->dirty, false, __ATOMIC_ACQ_REL) && rescan(c)) {
        __atomic_store_n(&c->dirty, true, __ATOMIC_RELEASE); /* again later */
        next = now + STORE_RETRY_MS;
    }
    for (struct group *g = c->groups; g; g = g->next) {
        if (g->leasing)
            continue;
        if (g->next_ms > now) {
            next = SL_MIN(next, g->next_ms);
            continue;
        }
        /* Room: what may run, and LEASE_AHEAD times as many leased ahead
         * of it: a lease waits for a commit, which under load shares its
         * fsync with many writers, and the deliveries that end meanwhile
         * must find the next ready (with one round ahead, processing ran
         * at a round per commit). Leased in batches, once what is leased
         * ahead runs low (a lease is a transaction: one per message would
         * be one per delivery). */
        unsigned held = c->running + c->queued,
                 most = (1 + LEASE_AHEAD) * c->cfg.max_inflight;
        unsigned room = most > held ? most - held : 0;
        if (!room || (c->queued > c->cfg.max_inflight / 2 && room < c->cfg.max_inflight))
            break; /* a delivery's end pumps again */
        size_t want = SL_MIN((size_t)room, (size_t)LEASE_BATCH), slots = 0;
        struct sl_governor *gov = c->cfg.governor;
        if (gov && sl_governor_reserved(gov, g->key) == 0) {
            lease(c, g, want, 0, true); /* it may not run: its messages fail now */
            continue;
        }
        if (gov) {
            /* Asked first, then looked at again: a slot freed between the
             * two is not missed (a spare call only pumps once more). */
            g->waiting = false;
            unsigned free_n = sl_governor_available(gov, g->key);
            if (free_n <= g->ahead) {
                if (sl_governor_wait(gov, g->key, on_slot, c))
                    next = SL_MIN(next, now + STORE_RETRY_MS);
                free_n = sl_governor_available(gov, g->key);
            }
            /* No more than could run (less those leased ahead already);
             * slots now for those that start within a round, the rest
             * take theirs when they start. */
            want = SL_MIN(want, (size_t)(free_n > g->ahead ? free_n - g->ahead : 0));
            unsigned slot_held = c->running + c->slotted, slot_most = 2 * c->cfg.max_inflight;
            size_t now_slots = SL_MIN(want, (size_t)(slot_most > slot_held ? slot_most - slot_held : 0));
            while (slots < now_slots && !sl_governor_acquire(gov, g->key))
                slots++;
            if (slots < now_slots) {
                /* Fewer were free than it said: the rest wait for the
                 * governor's call (and look again, as above). */
                want = slots;
                if (sl_governor_wait(gov, g->key, on_slot, c))
                    next = SL_MIN(next, now + STORE_RETRY_MS);
                else if (sl_governor_available(gov, g->key) > g->ahead)
                    kick(c);
            }
            if (!want) {
                g->waiting = true;
                continue;
            }
        }
        lease(c, g, want, slots, false);
    }
    arm_timer(c, next);
}

/* ---- finishing ----------------------------------------------------------------- */

static void free_finish(struct finish *f)
{
    free(f->group);
    free(f->meta);
    free(f->dest);
    free(f->record);
    free(f->dlq);
    free(f->dlq_body);
    free(f->dlq_attrs);
    free(f);
}

static int finish_one(struct sl_txn *t, struct sl_consumer *c, struct finish *f)
{
    if (!f->delete)
        return sl_txn_queue_update(t, c->queue, f->id, f->receives, f->visible_ms, f->meta);
    int rc = sl_txn_queue_delete(t, c->queue, f->id, f->receives);
    if (!rc && f->dest && f->record)
        rc = sl_target_deliver_txn(c->cfg.targets, t, f->dest, f->record, strlen(f->record),
                                   NULL);
    if (!rc && f->dlq) {
        struct sl_target_source src = {.attributes = f->dlq_attrs};
        rc = sl_target_deliver_txn(c->cfg.targets, t, f->dlq, f->dlq_body, f->dlq_len, &src);
    }
    return rc;
}

/* Every finish of the list in one transaction; one whose lease was lost
 * (the message was received again since) changes nothing. */
static int finish_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct finish_txn *ft = arg;
    for (struct finish *f = ft->list; f; f = f->next) {
        int rc = finish_one(t, ft->c, f);
        if (rc == SL_ENOTFOUND) {
            sl_warn("engine", "queue %s: message %lld: its lease was lost", ft->c->queue,
                    (long long)f->id);
            err->msg[0] = '\0';
            continue;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static void flush(struct sl_consumer *c);

static void on_finished(struct sl_loop *l, void *arg)
{
    (void)l;
    struct finish_txn *ft = arg;
    struct sl_consumer *c = ft->c;
    if (ft->rc && ft->rc != SL_ECLOSED) /* their leases end: they run again */
        sl_error("engine", "queue %s: %s", c->queue, ft->err.msg);
    while (ft->list) {
        struct finish *f = ft->list;
        ft->list = f->next;
        /* A message back on the queue for later: its group wakes then. */
        struct group *g = f->group && !ft->rc ? group_of(c, f->group, true) : NULL;
        if (g && g->leasing) /* (the lease's end takes it into account) */
            g->back_ms = SL_MIN(g->back_ms, f->visible_ms);
        else if (g && f->visible_ms < g->next_ms)
            g->next_ms = f->visible_ms;
        free_finish(f);
    }
    free(ft);
    c->finishing = false;
    COUNT(c, finish_batches);
    flush(c);
    sl_inflight_drop(&c->inflight);
    pump(c);
}

static void finish_done(void *arg, int result)
{
    struct finish_txn *ft = arg;
    ft->rc = result;
    if (sl_loop_post(ft->c->cfg.loop, on_finished, ft))
        on_finished(ft->c->cfg.loop, ft);
}

/* Submits what is pending, unless a finish is in flight (its end does). */
static void flush(struct sl_consumer *c)
{
    if (c->finishing || !c->pending)
        return;
    struct finish_txn *ft = calloc(1, sizeof(*ft));
    if (!ft)
        return; /* they stay pending until the next finish */
    ft->c = c;
    struct finish **tail = &ft->list;
    for (size_t n = 0; c->pending && n < FINISH_BATCH; n++) {
        struct finish *f = c->pending;
        c->pending = f->next;
        f->next = NULL;
        *tail = f;
        tail = &f->next;
    }
    if (!c->pending)
        c->pending_tail = &c->pending;
    c->finishing = true;
    sl_inflight_hold(&c->inflight);
    if (sl_store_submit(c->cfg.store, finish_txn, ft, &ft->err, finish_done, ft)) {
        ft->rc = SL_ECLOSED;
        on_finished(c->cfg.loop, ft);
    }
}

static void queue_finish(struct sl_consumer *c, struct finish *f)
{
    f->next = NULL;
    *c->pending_tail = f;
    c->pending_tail = &f->next;
    flush(c);
}

/* ---- deliveries -------------------------------------------------------------------- */

/* The message leaves the queue: with a record for dest (if any and not
 * gone). */
static void leave(struct sl_consumer *c, struct sl_delivery *d, const char *dest,
                  const char *condition)
{
    struct finish *f = calloc(1, sizeof(*f));
    bool gone = false;
    if (f && dest && dest[0] && c->cfg.ops->record) {
        /* Only a destination that is gone fails here; if the check itself
         * failed, the record goes, and the destination's side decides. */
        int rc = sl_target_check(c->cfg.targets, dest, NULL, NULL, NULL);
        gone = rc == SL_ENOTFOUND || rc == SL_EINVAL || rc == SL_ENOTSUP;
        if (gone) {
            sl_warn("engine", "%s of message %lld: destination %s is gone", condition,
                    (long long)d->m.id, dest);
        } else {
            f->record = c->cfg.ops->record(c->cfg.ctx, d, condition);
            f->dest = f->record ? strdup(dest) : NULL;
        }
    }
    /* A failure also goes to the dead-letter target: the event itself,
     * with the target's attributes. */
    if (f && d->dlq[0] && strcmp(condition, "Success") != 0) {
        int rc = sl_target_check(c->cfg.targets, d->dlq, NULL, NULL, NULL);
        if (rc == SL_ENOTFOUND || rc == SL_EINVAL || rc == SL_ENOTSUP) {
            sl_warn("engine", "%s of message %lld: dead-letter target %s is gone", condition,
                    (long long)d->m.id, d->dlq);
            gone = true;
        } else {
            f->dlq = strdup(d->dlq);
            f->dlq_body = malloc(d->m.body_len + 1);
            f->dlq_attrs = c->cfg.ops->dlq_attributes
                               ? c->cfg.ops->dlq_attributes(c->cfg.ctx, d, condition)
                               : NULL;
            if (f->dlq_body) {
                memcpy(f->dlq_body, d->m.body, d->m.body_len);
                f->dlq_body[d->m.body_len] = '\0';
                f->dlq_len = d->m.body_len;
            }
            if (!f->dlq || !f->dlq_body) {
                free_finish(f);
                f = NULL; /* its lease ends: it runs again */
            }
        }
    }
    if (c->cfg.ops->left)
        c->cfg.ops->left(c->cfg.ctx, d, condition, gone);
    if (!f)
        return; /* its lease ends: it runs again */
    f->id = d->m.id;
    f->receives = d->m.receives;
    f->delete = true;
    queue_finish(c, f);
}

/* The message comes back at visible_ms with its counts in its meta. */
static void later(struct sl_consumer *c, struct sl_delivery *d, int64_t visible_ms)
{
    struct finish *f = calloc(1, sizeof(*f));
    if (!f)
        return;
    json_object_set_new(d->meta, "tries", json_integer(d->tries));
    json_object_set_new(d->meta, "throttles", json_integer(d->throttles));
    f->meta = json_dumps(d->meta, JSON_COMPACT);
    f->group = strdup(d->m.group ? d->m.group : "");
    if (!f->meta || !f->group) {
        free_finish(f);
        return;
    }
    f->id = d->m.id;
    f->receives = d->m.receives;
    f->visible_ms = visible_ms;
    queue_finish(c, f);
}

static void end_delivery(struct sl_consumer *c, struct sl_delivery *d)
{
    if (c->cfg.ops->release)
        c->cfg.ops->release(c->cfg.ctx, d);
    json_decref(d->meta);
    sl_qmsg_free(&d->m);
    free(d);
}

/* After a throttle (or a failure of the target's side): later, unless the
 * message is too old by then. */
static void throttled(struct sl_consumer *c, struct sl_delivery *d)
{
    d->throttles++;
    COUNT(c, throttled);
    int64_t at = sl_time_now_ms() + scaled(c, c->cfg.policy.throttle_delay_ms(d->throttles));
    if (d->max_age_ms && at - d->m.enqueued_ms > scaled(c, d->max_age_ms)) {
        COUNT(c, failed);
        leave(c, d, d->on_failure, "EventAgeExceeded");
    } else {
        later(c, d, at);
    }
}

static void on_done(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_delivery *d = arg;
    struct sl_consumer *c = d->consumer;
    switch (d->outcome) {
    case SL_DELIVERED:
        d->tries++;
        COUNT(c, delivered);
        leave(c, d, d->on_success, "Success");
        break;
    case SL_DELIVERY_ERROR:
        d->tries++;
        if (d->tries > (unsigned)(d->retries > 0 ? d->retries : 0)) {
            COUNT(c, failed);
            leave(c, d, d->on_failure, "RetriesExhausted");
        } else {
            COUNT(c, retried);
            int64_t delay = d->error_delay_ms >= 0 ? d->error_delay_ms
                                                   : c->cfg.policy.error_delay_ms(d->tries);
            later(c, d, sl_time_now_ms() + scaled(c, delay));
        }
        break;
    case SL_DELIVERY_THROTTLED:
        throttled(c, d);
        break;
    case SL_DELIVERY_STOPPED:
        /* The shutdown ended it: no try of the target's; it runs again. */
        later(c, d, sl_time_now_ms());
        break;
    }
    c->running--;
    end_delivery(c, d);
    sl_inflight_drop(&c->inflight);
    pump(c);
}

void sl_consumer_done(struct sl_consumer *c, struct sl_delivery *d,
                      enum sl_delivery_outcome outcome)
{
    d->consumer = c;
    d->outcome = outcome;
    if (sl_loop_post(c->cfg.loop, on_done, d))
        on_done(c->cfg.loop, d); /* (the loop stops: not reached in practice) */
}


/* Takes over leased message m (and a slot of g, when slot) and sees it on
 * its way; stopped: g may not run (reserved concurrency 0). */
static void start_delivery(struct sl_consumer *c, struct group *g, struct sl_qmsg *m,
                           bool slot, bool stopped)
{
    struct sl_delivery *d = calloc(1, sizeof(*d));
    if (!d) {
        if (slot)
            sl_governor_release(c->cfg.governor, g->key);
        c->running--;
        sl_qmsg_free(m); /* its lease ends: it runs later */
        return;
    }
    d->m = *m;
    memset(m, 0, sizeof(*m));
    /* Parsed once: the counts, the target's prepare, a retry's update. */
    d->meta = json_loadb(d->m.meta, d->m.meta_len, 0, NULL);
    if (!json_is_object(d->meta)) {
        json_decref(d->meta);
        d->meta = json_object();
    }
    d->tries = (unsigned)json_integer_value(json_object_get(d->meta, "tries"));
    d->throttles = (unsigned)json_integer_value(json_object_get(d->meta, "throttles"));
    d->retries = 2;
    d->error_delay_ms = -1;
    d->slot_held = slot;
    int rc = c->cfg.ops->prepare(c->cfg.ctx, d);
    int64_t now = sl_time_now_ms();
    bool deliver = false;
    if (rc == SL_ENOTFOUND) {
        COUNT(c, dropped);
        if (c->cfg.ops->left)
            c->cfg.ops->left(c->cfg.ctx, d, "Dropped", false);
        struct finish *f = calloc(1, sizeof(*f));
        if (f) {
            f->id = d->m.id;
            f->receives = d->m.receives;
            f->delete = true;
            queue_finish(c, f);
        }
    } else if (rc) {
        throttled(c, d);
    } else if (d->max_age_ms && now - d->m.enqueued_ms > scaled(c, d->max_age_ms)) {
        COUNT(c, failed);
        leave(c, d, d->on_failure, "EventAgeExceeded");
    } else if (stopped) {
        /* Reserved concurrency 0: straight to failure, no retries. */
        COUNT(c, failed);
        leave(c, d, d->on_failure, "RetriesExhausted");
    } else {
        deliver = true;
    }
    if (deliver) {
        sl_inflight_hold(&c->inflight);
        if (c->cfg.ops->deliver(c->cfg.ctx, d) == 0)
            return; /* sl_consumer_done() follows; the slot is the delivery's */
        sl_inflight_drop(&c->inflight);
        throttled(c, d);
    }
    if (d->slot_held)
        sl_governor_release(c->cfg.governor, g->key);
    c->running--;
    end_delivery(c, d);
}

/* ---- life ------------------------------------------------------------------------- */

static int release_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct sl_consumer *c = arg;
    size_t n = 0;
    int rc = sl_txn_queue_release(t, c->queue, sl_time_now_ms(), &n);
    if (!rc && n)
        sl_info("engine", "queue %s: %zu messages in flight when Sluice stopped run again",
                c->queue, n);
    return rc;
}

int sl_consumer_start(struct sl_consumer **out, const struct sl_consumer_config *cfg,
                      struct sl_err *err)
{
    *out = NULL;
    struct sl_consumer *c = calloc(1, sizeof(*c));
    if (!c || !(c->queue = strdup(cfg->queue))) {
        free(c);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    c->cfg = *cfg;
    c->cfg.queue = c->queue;
    if (!c->cfg.max_inflight)
        c->cfg.max_inflight = 16;
    c->pending_tail = &c->pending;
    c->ready_tail = &c->ready;
    c->dirty = true;
    sl_inflight_init(&c->inflight);
    int rc = sl_store_write(cfg->store, release_txn, c, err);
    if (!rc) {
        rc = sl_store_queue_watch(cfg->store, c->queue, on_put, c);
        c->watching = rc == 0;
        if (rc)
            sl_errf(err, rc, "cannot watch queue %s", c->queue);
    }
    if (!rc)
        rc = sl_loop_post(cfg->loop, pump_task, c);
    if (rc) {
        sl_consumer_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void stop_on_loop(struct sl_loop *l, void *arg)
{
    struct sl_consumer *c = arg;
    if (c->timer)
        sl_loop_timer_cancel(l, c->timer);
    c->timer = NULL;
    /* What waits to start goes back on the queue as it was. */
    while (c->ready) {
        struct ready *r = c->ready;
        c->ready = r->next;
        struct finish *f = calloc(1, sizeof(*f));
        if (f) {
            f->id = r->m.id;
            f->receives = r->m.receives;
            f->visible_ms = sl_time_now_ms();
            queue_finish(c, f);
        }
        if (r->slot) {
            sl_governor_release(c->cfg.governor, r->g->key);
            c->slotted--;
        } else if (!r->stopped && c->cfg.governor) {
            r->g->ahead--;
        }
        c->queued--;
        sl_qmsg_free(&r->m);
        free(r);
    }
    c->ready_tail = &c->ready;
}

void sl_consumer_stop(struct sl_consumer *c)
{
    if (!c)
        return;
    if (sl_inflight_stop(&c->inflight))
        return;
    if (c->watching)
        sl_store_queue_unwatch(c->cfg.store, on_put, c);
    c->watching = false;
    if (c->cfg.governor)
        sl_governor_unwait(c->cfg.governor, c);
    sl_loop_call(c->cfg.loop, stop_on_loop, c);
}

static void free_on_loop(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_consumer *c = arg;
    while (c->groups) {
        struct group *g = c->groups;
        c->groups = g->next;
        free(g->key);
        free(g);
    }
    while (c->pending) {
        struct finish *f = c->pending;
        c->pending = f->next;
        free_finish(f);
    }
}

void sl_consumer_free(struct sl_consumer *c)
{
    if (!c)
        return;
    sl_consumer_stop(c);
    /* What is under way: deliveries ending (the runtime ends them at
     * shutdown) and the transactions that put them back. */
    sl_inflight_wait(&c->inflight);
    /* Posted pumps may still be queued on the loop: they see stopping. */
    sl_loop_call(c->cfg.loop, free_on_loop, c);
    sl_inflight_destroy(&c->inflight);
    free(c->queue);
    free(c);
}

void sl_consumer_get_stats(struct sl_consumer *c, struct sl_consumer_stats *out)
{
    out->leased = __atomic_load_n(&c->stats.leased, __ATOMIC_RELAXED);
    out->delivered = __atomic_load_n(&c->stats.delivered, __ATOMIC_RELAXED);
    out->failed = __atomic_load_n(&c->stats.failed, __ATOMIC_RELAXED);
    out->retried = __atomic_load_n(&c->stats.retried, __ATOMIC_RELAXED);
    out->throttled = __atomic_load_n(&c->stats.throttled, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&c->stats.dropped, __ATOMIC_RELAXED);
    out->finish_batches = __atomic_load_n(&c->stats.finish_batches, __ATOMIC_RELAXED);
}
