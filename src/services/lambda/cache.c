/*
 * The configurations of functions, in memory, for Invoke: reading the item
 * and parsing its JSON was the largest part of a warm invoke (~40 us of
 * ~180). Entries are immutable JSON shared by reference (jansson's counts
 * are atomic). Every write of a function forgets its entry and bumps a
 * generation; a reader that missed records the generation before it reads
 * the store and puts its result in only if no write came in between, so a
 * configuration read before a write can never outlive it in the cache.
 */
#include "services/lambda/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 256
#define MAX_ENTRIES 4096 /* past it the cache starts over */

struct entry {
    struct entry *next;
    json_t *cfg;
    char key[]; /* "<pk>/<name>" */
};

struct sl_lambda_cache {
    pthread_mutex_t mu;
    struct entry *buckets[BUCKETS];
    size_t n;
    uint64_t gen;
};

int sl_lambda_cache_new(struct sl_lambda_cache **out)
{
    struct sl_lambda_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return SL_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

static void clear(struct sl_lambda_cache *c)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        for (struct entry *e = c->buckets[i], *next; e; e = next) {
            next = e->next;
            json_decref(e->cfg);
            free(e);
        }
        c->buckets[i] = NULL;
    }
    c->n = 0;
}

void sl_lambda_cache_free(struct sl_lambda_cache *c)
{
    if (!c)
        return;
    clear(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* FNV-1a over "<pk>/<name>". */
static size_t bucket_of(const char *pk, const char *name)
{
    return sl_fnv1a(sl_fnv1a(sl_fnv1a(SL_FNV1A_SEED, pk), "/"), name) % BUCKETS;
}

static bool same_key(const struct entry *e, const char *pk, const char *name)
{
    size_t n = strlen(pk);
    return strncmp(e->key, pk, n) == 0 && e->key[n] == '/' && strcmp(e->key + n + 1, name) == 0;
}

/* Unlinks and returns the entry of pk/name, or NULL. Under mu. */
static struct entry *take(struct sl_lambda_cache *c, const char *pk, const char *name)
{
    for (struct entry **p = &c->buckets[bucket_of(pk, name)]; *p; p = &(*p)->next) {
        if (same_key(*p, pk, name)) {
            struct entry *e = *p;
            *p = e->next;
            c->n--;
            return e;
        }
    }
    return NULL;
}

json_t *sl_lambda_cache_get(struct sl_lambda_cache *c, const char *pk, const char *name,
                            uint64_t *gen)
{
    json_t *cfg = NULL;
    pthread_mutex_lock(&c->mu);
    *gen = c->gen;
    for (struct entry *e = c->buckets[bucket_of(pk, name)]; e; e = e->next) {
        if (same_key(e, pk, name)) {
            cfg = json_incref(e->cfg);
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return cfg;
}

void sl_lambda_cache_put(struct sl_lambda_cache *c, const char *pk, const char *name,
                         json_t *cfg, uint64_t gen)
{
    size_t lp = strlen(pk), ln = strlen(name);
    struct entry *e = malloc(sizeof(*e) + lp + ln + 2);
    if (!e)
        return; /* a cache: the next invoke reads the store again */
    memcpy(e->key, pk, lp);
    e->key[lp] = '/';
    memcpy(e->key + lp + 1, name, ln + 1);
    pthread_mutex_lock(&c->mu);
    if (gen != c->gen) {
        pthread_mutex_unlock(&c->mu); /* a write came in since it was read */
        free(e);
        return;
    }
    struct entry *old = take(c, pk, name);
    if (c->n >= MAX_ENTRIES)
        clear(c);
    size_t b = bucket_of(pk, name);
    e->cfg = json_incref(cfg);
    e->next = c->buckets[b];
    c->buckets[b] = e;
    c->n++;
    pthread_mutex_unlock(&c->mu);
    if (old) {
        json_decref(old->cfg);
        free(old);
    }
}

void sl_lambda_cache_forget(struct sl_lambda_cache *c, const char *pk, const char *name)
{
    pthread_mutex_lock(&c->mu);
    struct entry *e = take(c, pk, name);
    c->gen++;
    pthread_mutex_unlock(&c->mu);
    if (e) {
        json_decref(e->cfg);
        free(e);
    }
}
