/*
 * Unit tests of the event source mapping skeleton (engine/mapping.h) on a
 * test source: an in-memory queue with leases, as SQS's will be. Batches
 * come in order and at most BatchSize, acknowledged ones leave the source,
 * failed ones come back after a doubling back-off, a batching window
 * gathers what comes during it, an idle poller reads nothing until the
 * source wakes it, stopping waits for the batches in flight, up to
 * `concurrency` batches are out at once, and a partial failure keeps only
 * the failed records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/mapping.h"

enum state { VISIBLE, LEASED, GONE };

/* The test source and the test target share this world. */
struct world {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sl_loop *loop;
    struct sl_mapping *m;
    /* the source */
    int values[64];
    enum state states[64];
    int n;
    void (*wake)(void *arg);
    void *wake_arg;
    /* the target */
    int got[16][16]; /* each delivery's values */
    int got_n[16];
    int64_t got_at[16];
    int deliveries;
    int fail_first; /* deliveries that fail */
    bool hold;      /* keep the batch: report later (held) */
    struct sl_mapping *held;
    struct sl_batch *held_b[16];
    int n_held;
    int out, most_out; /* batches with the target now, and at most */
    int fail_value;    /* a record that fails alone (partial response), or -1 */
};

static int t_read(void *self, size_t max, struct sl_batch *b, struct sl_err *err,
                  sl_source_done done, void *arg)
{
    (void)err;
    struct world *w = self;
    int *idx = calloc(max, sizeof(int));
    if (!idx)
        return SL_ENOMEM;
    pthread_mutex_lock(&w->mu);
    size_t k = 0;
    for (int i = 0; i < w->n && k < max; i++) {
        if (w->states[i] == VISIBLE) {
            w->states[i] = LEASED;
            idx[k++] = i;
        }
    }
    pthread_mutex_unlock(&w->mu);
    b->records = idx;
    b->n = k;
    b->more = k == max;
    done(arg, 0); /* (a store would call back from its writer thread) */
    return 0;
}

static void mark(struct world *w, struct sl_batch *b, enum state s)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < b->n; i++)
        w->states[((int *)b->records)[i]] = s;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int t_ack(void *self, struct sl_batch *b, struct sl_err *err, sl_source_done done,
                 void *arg)
{
    (void)err;
    struct world *w = self;
    pthread_mutex_lock(&w->mu);
    bool back = false;
    for (size_t i = 0; i < b->n; i++) {
        bool failed = b->failed && b->failed[i];
        w->states[((int *)b->records)[i]] = failed ? VISIBLE : GONE;
        back |= failed;
    }
    /* Failed records are visible again at once here: the source says so,
     * as a queue's commit watch does when messages return. */
    if (back && w->wake)
        w->wake(w->wake_arg);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    done(arg, 0);
    return 0;
}

static void t_retry(void *self, struct sl_batch *b)
{
    mark(self, b, VISIBLE);
}

static void t_release(void *self, struct sl_batch *b)
{
    (void)self;
    free(b->records);
    b->records = NULL;
}

static int t_watch(void *self, void (*wake)(void *arg), void *arg)
{
    struct world *w = self;
    pthread_mutex_lock(&w->mu);
    w->wake = wake;
    w->wake_arg = arg;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static void t_unwatch(void *self, void (*wake)(void *arg), void *arg)
{
    (void)wake;
    (void)arg;
    struct world *w = self;
    pthread_mutex_lock(&w->mu);
    w->wake = NULL;
    pthread_mutex_unlock(&w->mu);
}

static const struct sl_source test_source = {
    .read = t_read,
    .ack = t_ack,
    .retry = t_retry,
    .release = t_release,
    .watch = t_watch,
    .unwatch = t_unwatch,
};

/* A record arrives: the source wakes the poller, as a commit watch does. */
static void push(struct world *w, int value)
{
    pthread_mutex_lock(&w->mu);
    w->values[w->n] = value;
    w->states[w->n++] = VISIBLE;
    if (w->wake)
        w->wake(w->wake_arg); /* (under the lock: unwatch waits for it) */
    pthread_mutex_unlock(&w->mu);
}

static void t_deliver(void *ctx, struct sl_mapping *m, struct sl_batch *b)
{
    struct world *w = ctx;
    pthread_mutex_lock(&w->mu);
    int d = w->deliveries;
    if (d < 16) {
        for (size_t i = 0; i < b->n && i < 16; i++)
            w->got[d][i] = w->values[((int *)b->records)[i]];
        w->got_n[d] = (int)b->n;
        w->got_at[d] = sl_loop_now_ms();
    }
    w->deliveries++;
    bool fail = d < w->fail_first, hold = w->hold;
    if (++w->out > w->most_out)
        w->most_out = w->out;
    if (hold) {
        w->held = m;
        if (w->n_held < 16)
            w->held_b[w->n_held++] = b;
    }
    for (size_t i = 0; i < b->n && w->fail_value >= 0; i++) {
        if (w->values[((int *)b->records)[i]] != w->fail_value)
            continue;
        b->failed = calloc(b->n, sizeof(bool));
        b->failed[i] = true;
        w->fail_value = -1; /* once */
    }
    pthread_cond_broadcast(&w->cv);
    if (!hold)
        w->out--;
    pthread_mutex_unlock(&w->mu);
    if (!hold)
        sl_mapping_done(m, b, !fail);
}

/* The target reports the batches it held, in the order it got them. */
static void release_held(struct world *w)
{
    pthread_mutex_lock(&w->mu);
    int n = w->n_held;
    struct sl_batch *held[16];
    memcpy(held, w->held_b, sizeof(held));
    w->n_held = 0;
    w->out -= n;
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < n; i++)
        sl_mapping_done(w->held, held[i], true);
}

static bool wait_for(struct world *w, bool (*cond)(struct world *w, int arg), int arg)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&w->mu);
    bool ok;
    while (!(ok = cond(w, arg)))
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl))
            break;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static bool deliveries_at_least(struct world *w, int n)
{
    return w->deliveries >= n;
}

static bool gone(struct world *w, int n)
{
    int k = 0;
    for (int i = 0; i < w->n; i++)
        k += w->states[i] == GONE;
    return k >= n;
}

/* The poller's statistics once the counter at offset (in struct
 * sl_mapping_stats) reached n, with a deadline: a batch is gone from the
 * source just before it is counted acked, a read counted just before it
 * is made. */
#define STATS_AT_LEAST(w, field, n) \
    stats_at_least(w, offsetof(struct sl_mapping_stats, field), n, #field)

static struct sl_mapping_stats stats_at_least(struct world *w, size_t offset, uint64_t n,
                                              const char *name)
{
    struct sl_mapping_stats st;
    uint64_t v = 0;
    for (int i = 0; i < 5000; i++) {
        sl_mapping_get_stats(w->m, &st);
        memcpy(&v, (const char *)&st + offset, sizeof(v));
        if (v >= n)
            return st;
        usleep(1000);
    }
    fail_msg("the poller's %s is %llu, not %llu", name, (unsigned long long)v,
             (unsigned long long)n);
    return st;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->fail_value = -1;
    struct sl_err err = {0};
    if (sl_loop_new(&w->loop, &err))
        return -1;
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    sl_mapping_stop(w->m);
    sl_loop_free(w->loop);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return 0;
}

static void start_n(struct world *w, size_t batch, int64_t window_ms, int64_t backoff_ms,
                    unsigned concurrency)
{
    struct sl_mapping_config cfg = {.loop = w->loop,
                                    .concurrency = concurrency,
                                    .source = &test_source,
                                    .source_self = w,
                                    .batch_size = batch,
                                    .window_ms = window_ms,
                                    .backoff_ms = backoff_ms,
                                    .backoff_max_ms = 8 * backoff_ms,
                                    .deliver = t_deliver,
                                    .ctx = w};
    struct sl_err err = {0};
    assert_int_equal(sl_mapping_start(&w->m, &cfg, &err), 0);
}

static void start(struct world *w, size_t batch, int64_t window_ms, int64_t backoff_ms)
{
    start_n(w, batch, window_ms, backoff_ms, 1);
}

/* A backlog goes in order, BatchSize at a time, each batch acknowledged
 * (gone from the source) before the next is read. */
static void test_batches_in_order(void **state)
{
    struct world *w = *state;
    for (int i = 0; i < 10; i++)
        push(w, i);
    start(w, 4, 0, 100);
    assert_true(wait_for(w, gone, 10));
    assert_int_equal(w->deliveries, 3);
    assert_int_equal(w->got_n[0], 4);
    assert_int_equal(w->got_n[1], 4);
    assert_int_equal(w->got_n[2], 2);
    for (int i = 0; i < 10; i++)
        assert_int_equal(w->got[i / 4][i % 4], i);
    struct sl_mapping_stats st = STATS_AT_LEAST(w, acked, 3);
    assert_int_equal(st.batches, 3);
    assert_int_equal(st.records, 10);
    assert_int_equal(st.acked, 3);
    assert_int_equal(st.failures, 0);
}

/* An idle poller reads nothing until the source wakes it: no timer. */
static void test_idle_until_woken(void **state)
{
    struct world *w = *state;
    start(w, 10, 0, 100);
    struct sl_mapping_stats st;
    STATS_AT_LEAST(w, reads, 1); /* the first read found nothing */
    usleep(50000);                /* then nothing happens */
    sl_mapping_get_stats(w->m, &st);
    assert_int_equal(st.reads, 1);
    push(w, 7);
    assert_true(wait_for(w, gone, 1));
    assert_int_equal(w->got[0][0], 7);
    /* The read of the record; it took less than a full batch, so no
     * read follows it until the next wake. */
    STATS_AT_LEAST(w, reads, 2);
    sl_mapping_get_stats(w->m, &st);
    uint64_t reads = st.reads;
    usleep(50000);
    sl_mapping_get_stats(w->m, &st);
    assert_int_equal(st.reads, reads);
    assert_true(reads <= 3);
}

/* A failed batch comes back whole after the back-off, which doubles. */
static void test_failure_backs_off(void **state)
{
    struct world *w = *state;
    w->fail_first = 2;
    push(w, 1);
    push(w, 2);
    start(w, 10, 0, 40);
    assert_true(wait_for(w, gone, 2));
    assert_int_equal(w->deliveries, 3);
    for (int d = 0; d < 3; d++) {
        assert_int_equal(w->got_n[d], 2);
        assert_int_equal(w->got[d][0], 1);
        assert_int_equal(w->got[d][1], 2);
    }
    assert_true(w->got_at[1] - w->got_at[0] >= 40);
    assert_true(w->got_at[2] - w->got_at[1] >= 80);
    struct sl_mapping_stats st = STATS_AT_LEAST(w, acked, 1);
    assert_int_equal(st.failures, 2);
    assert_int_equal(st.acked, 1);
}

/* Woken from idle, the poller waits out the batching window: records
 * that come meanwhile go in the same batch. */
static void test_window_gathers(void **state)
{
    struct world *w = *state;
    start(w, 10, 150, 100);
    STATS_AT_LEAST(w, reads, 1); /* idle */
    int64_t t0 = sl_loop_now_ms();
    push(w, 1);
    usleep(10000);
    push(w, 2);
    push(w, 3);
    assert_true(wait_for(w, gone, 3));
    assert_int_equal(w->deliveries, 1);
    assert_int_equal(w->got_n[0], 3);
    assert_true(w->got_at[0] - t0 >= 150);
}

struct stopper {
    struct world *w;
    bool done;
};

static void *stop_thread(void *arg)
{
    struct stopper *s = arg;
    sl_mapping_stop(s->w->m);
    __atomic_store_n(&s->done, true, __ATOMIC_RELEASE);
    return NULL;
}

/* Stopping waits for the batch the target holds, which is then
 * acknowledged as reported: nothing is lost or run twice. */
static void test_stop_waits_for_batch(void **state)
{
    struct world *w = *state;
    w->hold = true;
    push(w, 5);
    start(w, 10, 0, 100);
    assert_true(wait_for(w, deliveries_at_least, 1));
    struct stopper s = {w, false};
    pthread_t t;
    pthread_create(&t, NULL, stop_thread, &s);
    usleep(30000);
    assert_false(__atomic_load_n(&s.done, __ATOMIC_ACQUIRE)); /* still waiting */
    release_held(w);
    pthread_join(t, NULL);
    w->m = NULL;
    assert_int_equal(w->states[0], GONE);
    assert_int_equal(w->deliveries, 1);
}

/* With concurrency 3, three batches are with the target at once (one
 * read at a time), never more; each is acknowledged on its own. */
static void test_batches_at_once(void **state)
{
    struct world *w = *state;
    w->hold = true;
    for (int i = 0; i < 8; i++)
        push(w, i);
    start_n(w, 2, 0, 100, 3);
    assert_true(wait_for(w, deliveries_at_least, 3));
    usleep(30000);
    pthread_mutex_lock(&w->mu);
    assert_int_equal(w->deliveries, 3); /* the fourth waits for a slot */
    assert_int_equal(w->most_out, 3);
    pthread_mutex_unlock(&w->mu);
    struct sl_mapping_stats st;
    sl_mapping_get_stats(w->m, &st);
    assert_int_equal(st.in_flight, 3);
    w->hold = false;
    release_held(w);
    assert_true(wait_for(w, gone, 8));
    assert_int_equal(w->deliveries, 4);
    assert_true(w->most_out <= 3);
}

/* A partial batch response: the acknowledgement keeps the failed record,
 * which comes back alone; the others are gone. */
static void test_partial_failure(void **state)
{
    struct world *w = *state;
    w->fail_value = 2;
    for (int i = 1; i <= 3; i++)
        push(w, i);
    start(w, 10, 0, 100);
    assert_true(wait_for(w, gone, 3));
    assert_int_equal(w->deliveries, 2);
    assert_int_equal(w->got_n[0], 3);
    assert_int_equal(w->got_n[1], 1);
    assert_int_equal(w->got[1][0], 2);
    struct sl_mapping_stats st = STATS_AT_LEAST(w, acked, 2);
    assert_int_equal(st.failures, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_until_woken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_gathers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits_for_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
