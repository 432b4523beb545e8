/*
 * Long polls: a ReceiveMessage that found nothing waits until a message
 * arrives on its queue (the store's prefix watch calls sqs_wait_notify()
 * after the commit), until one of the queue's messages in flight becomes
 * visible again, or until its wait time ends; then it receives again.
 * Nothing polls: a wait is woken by a commit or by its own timer on the
 * engine's loop.
 *
 * Each queue long-polled has a version, bumped by every notification: a
 * receive reads it before its transaction, and a wait whose version moved
 * since starts again at once, so a message committed between the empty
 * receive and the wait is never missed.
 *
 * Locking: st->mu guards the queues' versions and waiter lists. Timers are
 * the loop thread's: armed by a task posted under st->mu (so it runs
 * before any task that ends the same wait) and cancelled there.
 */
#include "services/sqs/internal.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 64

struct sqs_waiter {
    struct sqs *st;
    struct sl_call *c;
    struct sqs_wqueue *wq;
    struct sl_timer *timer; /* the loop thread's */
    int64_t at;             /* monotonic ms */
    bool listed;            /* in wq's list (under st->mu) */
    struct sqs_waiter *next;
};

struct sqs_wqueue {
    char id[64];
    uint64_t version;
    struct sqs_waiter *waiters;
    struct sqs_wqueue *next;
};

/* The buckets of queues, made with the first wait. Under st->mu. */
static struct sqs_wqueue **buckets(struct sqs *st)
{
    if (!st->wqueues)
        st->wqueues = calloc(BUCKETS, sizeof(struct sqs_wqueue *));
    return (struct sqs_wqueue **)st->wqueues;
}

static struct sqs_wqueue *find(struct sqs *st, const char *id, bool make)
{
    struct sqs_wqueue **b = buckets(st);
    if (!b)
        return NULL;
    struct sqs_wqueue **head = &b[sl_fnv1a(SL_FNV1A_SEED, id) % BUCKETS];
    for (struct sqs_wqueue *q = *head; q; q = q->next)
        if (strcmp(q->id, id) == 0)
            return q;
    if (!make || strlen(id) >= sizeof((*head)->id))
        return NULL;
    struct sqs_wqueue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    memcpy(q->id, id, strlen(id) + 1);
    q->next = *head;
    *head = q;
    return q;
}

uint64_t sqs_wait_version(struct sqs *st, const char *id)
{
    pthread_mutex_lock(&st->mu);
    struct sqs_wqueue *q = find(st, id, true);
    uint64_t v = q ? q->version : 0;
    pthread_mutex_unlock(&st->mu);
    return v;
}

static void unlist(struct sqs_waiter *w)
{
    for (struct sqs_waiter **p = &w->wq->waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    w->listed = false;
}

/* Loop thread: the wait ended by its timer. */
static void fire(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sqs_waiter *w = arg;
    w->timer = NULL; /* (the loop frees a timer that fired) */
    pthread_mutex_lock(&w->st->mu);
    bool mine = w->listed;
    if (mine)
        unlist(w);
    pthread_mutex_unlock(&w->st->mu);
    if (mine)
        sl_call_wake(w->c); /* (w is the call's: not touched after) */
}

/* Loop thread: arms the wait's timer, unless it already ended. */
static void arm(struct sl_loop *l, void *arg)
{
    struct sqs_waiter *w = arg;
    pthread_mutex_lock(&w->st->mu);
    if (w->listed)
        w->timer = sl_loop_timer(l, w->at, fire, w);
    pthread_mutex_unlock(&w->st->mu);
}

/* Loop thread: a wait ended by a notification (unlisted then). */
static void finish(struct sl_loop *l, void *arg)
{
    struct sqs_waiter *w = arg;
    if (w->timer)
        sl_loop_timer_cancel(l, w->timer);
    w->timer = NULL;
    sl_call_wake(w->c);
}

/* Under st->mu: ends the waits of q, whose waiters are unlisted. */
static void end_waits(struct sqs *st, struct sqs_wqueue *q)
{
    while (q->waiters) {
        struct sqs_waiter *w = q->waiters;
        unlist(w);
        if (sl_loop_post(st->app->loop, finish, w))
            sl_call_wake(w->c); /* the loop is stopping: its timers never fire */
    }
}

int sqs_wait(struct sqs *st, struct sl_call *c, const char *id, uint64_t seen,
             int64_t deadline_ms, int64_t wake_ms, sl_op_fn then)
{
    struct sqs_waiter *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    w->st = st;
    w->c = c;
    w->at = wake_ms > 0 && wake_ms < deadline_ms ? wake_ms : deadline_ms;
    sl_call_wait(c, then);
    pthread_mutex_lock(&st->mu);
    struct sqs_wqueue *q = find(st, id, true);
    if (!q || st->stopping || q->version != seen) {
        pthread_mutex_unlock(&st->mu);
        sl_call_wake(c); /* receive again at once */
        return SL_LATER;
    }
    w->wq = q;
    w->next = q->waiters;
    q->waiters = w;
    w->listed = true;
    if (sl_loop_post(st->app->loop, arm, w)) {
        unlist(w);
        pthread_mutex_unlock(&st->mu);
        sl_call_wake(c);
        return SL_LATER;
    }
    pthread_mutex_unlock(&st->mu);
    return SL_LATER;
}

/* A mapping's source watching a queue (source.c). */
struct sqs_watcher {
    char id[64];
    void (*wake)(void *arg);
    void *arg;
    struct sqs_watcher *next;
};

int sqs_watch_add(struct sqs *st, const char *id, void (*wake)(void *arg), void *arg)
{
    struct sqs_watcher *w = calloc(1, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    sl_strlcpy(w->id, id, sizeof(w->id));
    w->wake = wake;
    w->arg = arg;
    pthread_mutex_lock(&st->mu);
    w->next = st->watchers;
    st->watchers = w;
    pthread_mutex_unlock(&st->mu);
    return 0;
}

void sqs_watch_set_id(struct sqs *st, void *arg, const char *id)
{
    pthread_mutex_lock(&st->mu);
    for (struct sqs_watcher *w = st->watchers; w; w = w->next)
        if (w->arg == arg)
            sl_strlcpy(w->id, id, sizeof(w->id));
    pthread_mutex_unlock(&st->mu);
}

void sqs_watch_remove(struct sqs *st, void (*wake)(void *arg), void *arg)
{
    pthread_mutex_lock(&st->mu);
    for (struct sqs_watcher **p = &st->watchers; *p;) {
        struct sqs_watcher *w = *p;
        if (w->wake == wake && w->arg == arg) {
            *p = w->next;
            free(w);
        } else {
            p = &w->next;
        }
    }
    pthread_mutex_unlock(&st->mu);
}

void sqs_wait_notify(void *arg, const char *id)
{
    struct sqs *st = arg;
    pthread_mutex_lock(&st->mu);
    for (struct sqs_watcher *w = st->watchers; w; w = w->next)
        if (!id || strcmp(w->id, id) == 0)
            w->wake(w->arg); /* (it only posts: see mapping.h) */
    struct sqs_wqueue **b = (struct sqs_wqueue **)st->wqueues;
    for (size_t i = 0; b && i < BUCKETS; i++) {
        for (struct sqs_wqueue *q = b[i]; q; q = q->next) {
            if (id && strcmp(q->id, id) != 0)
                continue;
            q->version++;
            end_waits(st, q);
        }
    }
    pthread_mutex_unlock(&st->mu);
}

bool sqs_wait_stopping(struct sqs *st)
{
    pthread_mutex_lock(&st->mu);
    bool stopping = st->stopping;
    pthread_mutex_unlock(&st->mu);
    return stopping;
}

void sqs_wait_stop(struct sqs *st)
{
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_mutex_unlock(&st->mu);
    sqs_wait_notify(st, NULL);
}

void sqs_wait_free(struct sqs *st)
{
    while (st->watchers) {
        struct sqs_watcher *w = st->watchers;
        st->watchers = w->next;
        free(w);
    }
    struct sqs_wqueue **b = (struct sqs_wqueue **)st->wqueues;
    for (size_t i = 0; b && i < BUCKETS; i++) {
        while (b[i]) {
            struct sqs_wqueue *q = b[i];
            b[i] = q->next;
            free(q);
        }
    }
    free(b);
    st->wqueues = NULL;
}
