/* The concurrency governor (governor.h): per-function slots, the
 * account's unreserved pool, and the waiters called back when a slot
 * frees. */
#include "engine/governor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 256

struct fn {
    char *key;
    long reserved;   /* -1: none */
    unsigned active; /* slots taken */
    struct fn *next;
};

struct waiter {
    char *key;
    void (*cb)(void *arg, const char *key);
    void *arg;
    bool firing; /* its callback is being called */
    struct waiter *next;
};

struct sl_governor {
    pthread_mutex_t mu;
    pthread_cond_t fired; /* a callback returned */
    unsigned account_limit;
    long reserved_total;        /* the sum of the reservations */
    unsigned unreserved_active; /* slots taken by functions without one */
    struct fn *buckets[BUCKETS];
    struct waiter *waiters;
};

const char *sl_governor_admit(long reserved, unsigned fn_active, unsigned account_limit,
                              long reserved_total, unsigned unreserved_active)
{
    /* Reserved concurrency caps the function (0 stops it); the others
     * share what the reservations leave of the account's limit. */
    if (reserved >= 0)
        return (long)fn_active >= reserved ? "ReservedFunctionConcurrentInvocationLimitExceeded"
                                           : NULL;
    long pool = (long)account_limit - reserved_total;
    return (long)unreserved_active >= pool ? "ConcurrentInvocationLimitExceeded" : NULL;
}

int sl_governor_new(struct sl_governor **out, unsigned account_limit)
{
    struct sl_governor *g = calloc(1, sizeof(*g));
    if (!g)
        return SL_ENOMEM;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->fired, NULL);
    g->account_limit = account_limit;
    *out = g;
    return 0;
}

void sl_governor_free(struct sl_governor *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        while (g->buckets[i]) {
            struct fn *f = g->buckets[i];
            g->buckets[i] = f->next;
            free(f->key);
            free(f);
        }
    }
    while (g->waiters) {
        struct waiter *w = g->waiters;
        g->waiters = w->next;
        free(w->key);
        free(w);
    }
    pthread_cond_destroy(&g->fired);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

unsigned sl_governor_account_limit(const struct sl_governor *g)
{
    return g->account_limit;
}

static size_t bucket(const char *key)
{
    return sl_fnv1a(SL_FNV1A_SEED, key) % BUCKETS;
}

/* The function of key, made when create (NULL when out of memory). */
static struct fn *fn_of(struct sl_governor *g, const char *key, bool create)
{
    size_t b = bucket(key);
    for (struct fn *f = g->buckets[b]; f; f = f->next)
        if (strcmp(f->key, key) == 0)
            return f;
    if (!create)
        return NULL;
    struct fn *f = calloc(1, sizeof(*f));
    if (!f || !(f->key = strdup(key))) {
        free(f);
        return NULL;
    }
    f->reserved = -1;
    f->next = g->buckets[b];
    g->buckets[b] = f;
    return f;
}

static unsigned available(const struct sl_governor *g, const struct fn *f)
{
    long left;
    if (f && f->reserved >= 0)
        left = f->reserved - (long)f->active;
    else
        left = (long)g->account_limit - g->reserved_total - (long)g->unreserved_active;
    return left > 0 ? (unsigned)left : 0;
}

/* Calls the waiters woken by a change of key's function (which shares
 * the unreserved pool when pool), then lets go of the mutex. */
static void wake_and_unlock(struct sl_governor *g, const char *key, bool pool)
{
    struct waiter *fire[64];
    size_t n = 0;
    for (struct waiter *w = g->waiters; w && n < SL_ARRAY_LEN(fire); w = w->next) {
        if (w->firing)
            continue;
        bool same = strcmp(w->key, key) == 0;
        if (!same && pool) {
            struct fn *f = fn_of(g, w->key, false);
            same = !f || f->reserved < 0;
        }
        if (same) {
            w->firing = true;
            fire[n++] = w;
        }
    }
    pthread_mutex_unlock(&g->mu);
    for (size_t i = 0; i < n; i++)
        fire[i]->cb(fire[i]->arg, fire[i]->key);
    if (!n)
        return;
    pthread_mutex_lock(&g->mu);
    for (struct waiter **p = &g->waiters; *p;) {
        struct waiter *w = *p;
        if (w->firing) {
            *p = w->next;
            free(w->key);
            free(w);
        } else {
            p = &w->next;
        }
    }
    pthread_cond_broadcast(&g->fired);
    pthread_mutex_unlock(&g->mu);
}

void sl_governor_set_reserved(struct sl_governor *g, const char *key, long reserved)
{
    pthread_mutex_lock(&g->mu);
    struct fn *f = fn_of(g, key, reserved >= 0);
    if (!f || f->reserved == reserved) {
        pthread_mutex_unlock(&g->mu);
        return;
    }
    /* Its executions move between its reservation and the pool. */
    if (f->reserved >= 0)
        g->reserved_total -= f->reserved;
    else
        g->unreserved_active -= f->active;
    f->reserved = reserved;
    if (reserved >= 0)
        g->reserved_total += reserved;
    else
        g->unreserved_active += f->active;
    wake_and_unlock(g, key, true);
}

const char *sl_governor_acquire(struct sl_governor *g, const char *key)
{
    pthread_mutex_lock(&g->mu);
    struct fn *f = fn_of(g, key, true);
    const char *reason =
        sl_governor_admit(f ? f->reserved : -1, f ? f->active : 0, g->account_limit,
                          g->reserved_total, g->unreserved_active);
    if (!f && !reason)
        reason = "ConcurrentInvocationLimitExceeded"; /* out of memory */
    if (!reason) {
        f->active++;
        if (f->reserved < 0)
            g->unreserved_active++;
    }
    pthread_mutex_unlock(&g->mu);
    return reason;
}

void sl_governor_release(struct sl_governor *g, const char *key)
{
    pthread_mutex_lock(&g->mu);
    struct fn *f = fn_of(g, key, false);
    if (!f || !f->active) {
        pthread_mutex_unlock(&g->mu);
        return;
    }
    f->active--;
    bool pool = f->reserved < 0;
    if (pool)
        g->unreserved_active--;
    wake_and_unlock(g, key, pool);
}

unsigned sl_governor_available(struct sl_governor *g, const char *key)
{
    pthread_mutex_lock(&g->mu);
    unsigned n = available(g, fn_of(g, key, false));
    pthread_mutex_unlock(&g->mu);
    return n;
}

long sl_governor_reserved(struct sl_governor *g, const char *key)
{
    pthread_mutex_lock(&g->mu);
    struct fn *f = fn_of(g, key, false);
    long r = f ? f->reserved : -1;
    pthread_mutex_unlock(&g->mu);
    return r;
}

unsigned sl_governor_active(struct sl_governor *g, const char *key)
{
    pthread_mutex_lock(&g->mu);
    struct fn *f = fn_of(g, key, false);
    unsigned n = f ? f->active : 0;
    pthread_mutex_unlock(&g->mu);
    return n;
}

int sl_governor_wait(struct sl_governor *g, const char *key,
                     void (*cb)(void *arg, const char *key), void *arg)
{
    pthread_mutex_lock(&g->mu);
    for (struct waiter *w = g->waiters; w; w = w->next) {
        if (!w->firing && w->arg == arg && strcmp(w->key, key) == 0) {
            w->cb = cb;
            pthread_mutex_unlock(&g->mu);
            return 0;
        }
    }
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w || !(w->key = strdup(key))) {
        free(w);
        pthread_mutex_unlock(&g->mu);
        return SL_ENOMEM;
    }
    w->cb = cb;
    w->arg = arg;
    w->next = g->waiters;
    g->waiters = w;
    pthread_mutex_unlock(&g->mu);
    return 0;
}

void sl_governor_unwait(struct sl_governor *g, void *arg)
{
    pthread_mutex_lock(&g->mu);
    for (;;) {
        bool firing = false;
        for (struct waiter **p = &g->waiters; *p;) {
            struct waiter *w = *p;
            if (w->arg != arg) {
                p = &w->next;
            } else if (w->firing) {
                firing = true;
                p = &w->next;
            } else {
                *p = w->next;
                free(w->key);
                free(w);
            }
        }
        if (!firing)
            break;
        pthread_cond_wait(&g->fired, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
}
