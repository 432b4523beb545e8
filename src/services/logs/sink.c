/*
 * The sink for function log lines. The runtime calls sl_logs_sink() on the
 * engine loop thread for every line, so it only copies the line into a
 * queue under a mutex (bounded by bytes: past the bound lines are counted
 * and dropped) and signals a condition variable. One flusher thread waits
 * on it; once a line arrives it lingers SL_LOGS_LINGER_MS (or until
 * LINGER_BYTES are queued), takes everything queued, and stores it in one
 * sl_store_write() transaction (one fsync however many lines, invokes and
 * streams), grouped by stream so each stream's counters are updated once.
 * Without the linger a function's START, its output and its END/REPORT
 * were up to three commits per invoke; CloudWatch Logs itself shows
 * function logs after a delay of this order or more. The queue's bytes are
 * released only after that write, so the bound covers the batch in flight
 * too. Stopping flushes at once.
 */
#include "services/logs/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Queued bytes that end the linger early. */
#define LINGER_BYTES (1u << 20)

/* One queued line: the names then the message, in data. */
struct rec {
    struct rec *next;
    int64_t ts;
    size_t size; /* bytes charged to the queue */
    size_t len;  /* message bytes */
    const char *account, *region, *group, *stream, *msg;
    size_t order; /* position in its batch, for a stable sort */
    char data[];
};

struct sl_logs {
    struct sl_store *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    struct rec *head, **tail;
    size_t bytes, max; /* queued or being written; the bound */
    size_t pending;    /* queued, not yet taken by the flusher */
    bool stop;
    struct sl_logs_stats stats;
    uint64_t dropped_reported;
};

void sl_logs_sink(void *ud, const char *account, const char *region, const char *group,
                  const char *stream, int64_t ts_ms, const char *msg, size_t len)
{
    struct sl_logs *l = ud;
    /* Lambda cuts lines past CloudWatch's event size; the newline it
     * keeps counts too. */
    if (len > SL_LOGS_EVENT_MAX - SL_LOGS_EVENT_OVERHEAD - 1)
        len = SL_LOGS_EVENT_MAX - SL_LOGS_EVENT_OVERHEAD - 1;
    size_t la = strlen(account) + 1, lr = strlen(region) + 1, lg = strlen(group) + 1,
           ls = strlen(stream) + 1;
    size_t size = sizeof(struct rec) + la + lr + lg + ls + len + 1;
    struct rec *r = malloc(size);
    if (r) {
        char *p = r->data;
        r->next = NULL;
        r->ts = ts_ms;
        r->size = size;
        r->len = len;
        r->account = memcpy(p, account, la);
        r->region = memcpy(p += la, region, lr);
        r->group = memcpy(p += lr, group, lg);
        r->stream = memcpy(p += lg, stream, ls);
        r->msg = p += ls;
        if (len)
            memcpy(p, msg, len);
        p[len] = '\0';
    }
    pthread_mutex_lock(&l->mu);
    bool take = r && !l->stop && size <= l->max - l->bytes;
    if (take) {
        *l->tail = r;
        l->tail = &r->next;
        l->bytes += size;
        l->stats.queued++;
        /* The first line starts the flusher's linger; a full linger's
         * worth ends it. Lines between wake nobody. */
        bool first = l->pending == 0;
        l->pending += size;
        if (first || (l->pending >= LINGER_BYTES && l->pending - size < LINGER_BYTES))
            pthread_cond_signal(&l->cv);
    } else {
        l->stats.dropped++;
    }
    pthread_mutex_unlock(&l->mu);
    if (!take)
        free(r);
}

static int cmp_rec(const void *a, const void *b)
{
    const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;
    int c = strcmp(x->account, y->account);
    if (!c)
        c = strcmp(x->region, y->region);
    if (!c)
        c = strcmp(x->group, y->group);
    if (!c)
        c = strcmp(x->stream, y->stream);
    if (!c)
        c = x->order < y->order ? -1 : x->order > y->order;
    return c;
}

static bool same_stream(const struct rec *x, const struct rec *y)
{
    return strcmp(x->stream, y->stream) == 0 && strcmp(x->group, y->group) == 0 &&
           strcmp(x->region, y->region) == 0 && strcmp(x->account, y->account) == 0;
}

struct flush {
    struct sl_logs_append *appends;
    size_t n;
};

static int flush_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct flush *f = arg;
    for (size_t i = 0; i < f->n; i++) {
        int rc = sl_logs_append_txn(t, &f->appends[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Stores the n lines of list in one transaction; returns how many were
 * stored (n, or 0 when the write failed). */
static size_t write_lines(struct sl_logs *l, struct rec *list, size_t n)
{
    struct rec **v = malloc(n * sizeof(*v));
    struct sl_logs_event *events = malloc(n * sizeof(*events));
    struct sl_logs_append *appends = malloc(n * sizeof(*appends));
    size_t stored = 0;
    if (!v || !events || !appends) {
        sl_error("logs", "out of memory: %zu log lines dropped", n);
        goto out;
    }
    size_t k = 0;
    for (struct rec *r = list; r; r = r->next) {
        r->order = k;
        v[k++] = r;
    }
    qsort(v, n, sizeof(*v), cmp_rec);
    int64_t now = sl_time_now_ms();
    size_t na = 0;
    for (size_t i = 0; i < n; i++) {
        events[i] = (struct sl_logs_event){v[i]->ts, v[i]->msg, v[i]->len};
        if (i == 0 || !same_stream(v[i - 1], v[i])) {
            appends[na++] = (struct sl_logs_append){
                .account = v[i]->account,
                .region = v[i]->region,
                .group = v[i]->group,
                .stream = v[i]->stream,
                .events = &events[i],
                .newline = true,
                .create = true,
                .now = now,
            };
        }
        appends[na - 1].n++;
    }
    struct flush f = {appends, na};
    struct sl_err err = {0};
    int rc = sl_store_write(l->st, flush_txn, &f, &err);
    if (rc)
        sl_error("logs", "%zu log lines dropped: %s", n, err.msg[0] ? err.msg : sl_strerror(rc));
    else
        stored = n;
out:
    free(v);
    free(events);
    free(appends);
    return stored;
}

static void *flusher(void *arg)
{
    struct sl_logs *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->head && !l->stop)
            pthread_cond_wait(&l->cv, &l->mu);
        if (!l->head)
            break; /* stopping, and everything is written */
        struct timespec dl = sl_time_deadline(CLOCK_MONOTONIC, SL_LOGS_LINGER_MS);
        while (!l->stop && l->pending < LINGER_BYTES &&
               pthread_cond_timedwait(&l->cv, &l->mu, &dl) != ETIMEDOUT)
            ;
        struct rec *list = l->head;
        l->head = NULL;
        l->tail = &l->head;
        l->pending = 0;
        pthread_mutex_unlock(&l->mu);

        size_t n = 0, bytes = 0;
        for (struct rec *r = list; r; r = r->next) {
            n++;
            bytes += r->size;
        }
        size_t stored = write_lines(l, list, n);
        while (list) {
            struct rec *next = list->next;
            free(list);
            list = next;
        }

        pthread_mutex_lock(&l->mu);
        l->bytes -= bytes;
        l->stats.flushes++;
        l->stats.written += stored;
        l->stats.dropped += n - stored;
        uint64_t dropped = l->stats.dropped;
        if (dropped != l->dropped_reported) {
            uint64_t newly = dropped - l->dropped_reported;
            l->dropped_reported = dropped;
            pthread_mutex_unlock(&l->mu);
            sl_warn("logs",
                    "%llu function log lines dropped (%llu in all): the log queue was "
                    "full or could not be written",
                    (unsigned long long)newly, (unsigned long long)dropped);
            pthread_mutex_lock(&l->mu);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int sl_logs_new(struct sl_logs **out, struct sl_store *st, size_t queue_max, struct sl_err *err)
{
    *out = NULL;
    struct sl_logs *l = calloc(1, sizeof(*l));
    if (!l)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    l->st = st;
    l->max = queue_max ? queue_max : SL_LOGS_QUEUE_MAX;
    l->tail = &l->head;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&l->thread, NULL, flusher, l);
    if (!rc)
        pthread_setname_np(l->thread, "sl-logs"); /* (for top and perf) */
    if (rc) {
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return sl_errf(err, SL_ENOMEM, "cannot start the log flusher: %s", strerror(rc));
    }
    *out = l;
    return 0;
}

void sl_logs_free(struct sl_logs *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void sl_logs_get_stats(struct sl_logs *l, struct sl_logs_stats *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->stats;
    pthread_mutex_unlock(&l->mu);
}
