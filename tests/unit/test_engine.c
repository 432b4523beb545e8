/* Unit tests of the event loop: posted tasks, calls, deferred tasks,
 * timers in deadline order, cancelled timers, fd watches, and stopping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/governor.h"

/* A one-shot latch, to wait for a loop callback with a deadline. */
static pthread_mutex_t latch_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t latch_cond = PTHREAD_COND_INITIALIZER;
static int latch_count;

static void latch_add(void)
{
    pthread_mutex_lock(&latch_mu);
    latch_count++;
    pthread_cond_broadcast(&latch_cond);
    pthread_mutex_unlock(&latch_mu);
}

static bool latch_wait(int n)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&latch_mu);
    while (latch_count < n)
        if (pthread_cond_timedwait(&latch_cond, &latch_mu, &dl))
            break;
    bool ok = latch_count >= n;
    latch_count = 0;
    pthread_mutex_unlock(&latch_mu);
    return ok;
}

struct order {
    int seen[8];
    int n;
};

static void record(struct sl_loop *l, void *arg)
{
    (void)l;
    struct order *o = ((struct order **)arg)[0];
    o->seen[o->n++] = (int)(intptr_t)((void **)arg)[1];
    latch_add();
}

struct timer_args {
    struct order *o;
    int64_t base;
    struct sl_timer *cancel_me;
};

static void add_timers(struct sl_loop *l, void *arg)
{
    struct timer_args *ta = arg;
    static void *a[4][2];
    for (int i = 0; i < 4; i++) {
        a[i][0] = ta->o;
        a[i][1] = (void *)(intptr_t)(i + 1);
    }
    /* Deadlines out of order; the one for 3 is cancelled. */
    sl_loop_timer(l, ta->base + 30, record, a[1]);
    sl_loop_timer(l, ta->base + 10, record, a[0]);
    ta->cancel_me = sl_loop_timer(l, ta->base + 20, record, a[2]);
    sl_loop_timer(l, ta->base + 40, record, a[3]);
    sl_loop_timer_cancel(l, ta->cancel_me);
}

static void noop(struct sl_loop *l, void *arg)
{
    (void)l;
    (void)arg;
}

static void test_timers_fire_in_order(void **state)
{
    (void)state;
    struct sl_loop *l;
    assert_int_equal(sl_loop_new(&l, NULL), 0);
    struct order o = {0};
    struct timer_args ta = {.o = &o, .base = sl_loop_now_ms()};
    assert_int_equal(sl_loop_call(l, add_timers, &ta), 0);
    assert_true(latch_wait(3));
    assert_int_equal(sl_loop_call(l, noop, NULL), 0);
    assert_int_equal(o.n, 3);
    assert_int_equal(o.seen[0], 1);
    assert_int_equal(o.seen[1], 2);
    assert_int_equal(o.seen[2], 4);
    assert_true(sl_loop_now_ms() >= ta.base + 40);
    sl_loop_free(l);
}

static void bump(struct sl_loop *l, void *arg)
{
    assert_true(sl_loop_is_current(l));
    (*(int *)arg)++;
}

static void test_post_and_call(void **state)
{
    (void)state;
    struct sl_loop *l;
    assert_int_equal(sl_loop_new(&l, NULL), 0);
    assert_false(sl_loop_is_current(l));
    int n = 0;
    for (int i = 0; i < 100; i++)
        assert_int_equal(sl_loop_post(l, bump, &n), 0);
    /* A call runs after everything posted before it. */
    assert_int_equal(sl_loop_call(l, bump, &n), 0);
    assert_int_equal(n, 101);
    sl_loop_free(l);
    assert_int_equal(n, 101);
}

/* Deferred work runs once the loop's tasks are done, those they post
 * included; what a deferred task posts runs before the loop sleeps; an
 * undeferred task never runs. */
struct trail {
    char seen[8];
    int n;
};

static void mark(struct sl_loop *l, void *arg, char what)
{
    (void)l;
    struct trail *t = arg;
    if (t->n < (int)sizeof(t->seen) - 1)
        t->seen[t->n++] = what;
}

static void task_b(struct sl_loop *l, void *arg)
{
    mark(l, arg, 'b');
}

static void task_c(struct sl_loop *l, void *arg)
{
    mark(l, arg, 'c');
}

static void task_never(struct sl_loop *l, void *arg)
{
    mark(l, arg, 'x');
}

static void task_a(struct sl_loop *l, void *arg)
{
    mark(l, arg, 'a');
    assert_int_equal(sl_loop_post(l, task_b, arg), 0);
}

static void deferred(struct sl_loop *l, void *arg)
{
    mark(l, arg, 'd');
    assert_int_equal(sl_loop_post(l, task_c, arg), 0);
}

static void defer_some(struct sl_loop *l, void *arg)
{
    assert_int_equal(sl_loop_defer(l, deferred, arg), 0);
    assert_int_equal(sl_loop_defer(l, task_never, arg), 0);
    assert_int_equal(sl_loop_post(l, task_a, arg), 0);
    sl_loop_undefer(l, task_never, arg);
}

static void test_defer(void **state)
{
    (void)state;
    struct sl_loop *l;
    assert_int_equal(sl_loop_new(&l, NULL), 0);
    struct trail t = {0};
    assert_int_equal(sl_loop_call(l, defer_some, &t), 0);
    assert_int_equal(sl_loop_call(l, noop, NULL), 0); /* a round later */
    assert_string_equal(t.seen, "abdc");
    sl_loop_free(l);
}

struct pipe_state {
    int fds[2];
    char got[16];
    size_t n;
};

static void on_readable(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct pipe_state *p = arg;
    ssize_t r = read(fd, p->got + p->n, sizeof(p->got) - 1 - p->n);
    if (r > 0) {
        p->n += (size_t)r;
    } else {
        sl_loop_unwatch(l, fd);
        latch_add(); /* end of file */
    }
}

static void watch_pipe(struct sl_loop *l, void *arg)
{
    struct pipe_state *p = arg;
    assert_int_equal(sl_loop_watch(l, p->fds[0], 0x001 /* EPOLLIN */, on_readable, p), 0);
}

static void test_watch_fd(void **state)
{
    (void)state;
    struct sl_loop *l;
    assert_int_equal(sl_loop_new(&l, NULL), 0);
    struct pipe_state p = {0};
    assert_int_equal(pipe(p.fds), 0);
    assert_int_equal(sl_loop_call(l, watch_pipe, &p), 0);
    assert_int_equal(write(p.fds[1], "hello", 5), 5);
    close(p.fds[1]);
    assert_true(latch_wait(1));
    assert_int_equal(sl_loop_call(l, noop, NULL), 0);
    assert_int_equal(p.n, 5);
    assert_memory_equal(p.got, "hello", 5);
    sl_loop_free(l);
    close(p.fds[0]);
}

static void test_governor_reserved(void **state)
{
    (void)state;
    /* Reserved concurrency 0 throttles everything. */
    assert_string_equal(sl_governor_admit(0, 0, 1000, 0, 0),
                        "ReservedFunctionConcurrentInvocationLimitExceeded");
    /* Up to the reservation, whatever the account does. */
    assert_null(sl_governor_admit(2, 1, 1000, 2, 999));
    assert_string_equal(sl_governor_admit(2, 2, 1000, 2, 0),
                        "ReservedFunctionConcurrentInvocationLimitExceeded");
}

static void test_governor_unreserved_pool(void **state)
{
    (void)state;
    /* The pool is the account limit less every reservation. */
    assert_null(sl_governor_admit(-1, 0, 1000, 900, 99));
    assert_string_equal(sl_governor_admit(-1, 0, 1000, 900, 100),
                        "ConcurrentInvocationLimitExceeded");
    assert_null(sl_governor_admit(-1, 5, 1000, 0, 999));
    assert_string_equal(sl_governor_admit(-1, 5, 1000, 0, 1000),
                        "ConcurrentInvocationLimitExceeded");
}

struct woken {
    int n;
    char key[64];
};

static void on_free(void *arg, const char *key)
{
    struct woken *w = arg;
    w->n++;
    snprintf(w->key, sizeof(w->key), "%s", key);
}

/* Slots of a function with a reservation and of the unreserved pool;
 * waiters are called once when a slot they could take frees. */
static void test_governor_slots_and_waiters(void **state)
{
    (void)state;
    struct sl_governor *g = NULL;
    assert_int_equal(sl_governor_new(&g, 100), 0);
    sl_governor_set_reserved(g, "a:r/two", 2);
    assert_int_equal(sl_governor_available(g, "a:r/two"), 2);
    assert_int_equal(sl_governor_available(g, "a:r/other"), 98);
    assert_null(sl_governor_acquire(g, "a:r/two"));
    assert_null(sl_governor_acquire(g, "a:r/two"));
    assert_string_equal(sl_governor_acquire(g, "a:r/two"),
                        "ReservedFunctionConcurrentInvocationLimitExceeded");
    assert_int_equal(sl_governor_active(g, "a:r/two"), 2);
    struct woken w2 = {0}, wo = {0};
    assert_int_equal(sl_governor_wait(g, "a:r/two", on_free, &w2), 0);
    assert_int_equal(sl_governor_wait(g, "a:r/other", on_free, &wo), 0);
    /* Another function's release does not wake a reserved one's waiter. */
    for (int i = 0; i < 98; i++)
        assert_null(sl_governor_acquire(g, "a:r/other"));
    assert_string_equal(sl_governor_acquire(g, "a:r/third"), "ConcurrentInvocationLimitExceeded");
    sl_governor_release(g, "a:r/third"); /* not taken: nothing */
    assert_int_equal(wo.n, 0);
    sl_governor_release(g, "a:r/other");
    assert_int_equal(wo.n, 1);
    assert_int_equal(w2.n, 0);
    sl_governor_release(g, "a:r/two");
    assert_int_equal(w2.n, 1);
    assert_string_equal(w2.key, "a:r/two");
    /* Called once: a second release calls no one. */
    sl_governor_release(g, "a:r/two");
    assert_int_equal(w2.n, 1);
    /* A waiter of an unreserved function is woken by any pool release. */
    assert_int_equal(sl_governor_wait(g, "a:r/third", on_free, &wo), 0);
    sl_governor_release(g, "a:r/other");
    assert_int_equal(wo.n, 2);
    /* A changed reservation wakes; unwait ends the wait. */
    assert_int_equal(sl_governor_wait(g, "a:r/two", on_free, &w2), 0);
    sl_governor_set_reserved(g, "a:r/two", 5);
    assert_int_equal(w2.n, 2);
    assert_int_equal(sl_governor_available(g, "a:r/two"), 5);
    assert_int_equal(sl_governor_wait(g, "a:r/two", on_free, &w2), 0);
    sl_governor_unwait(g, &w2);
    assert_null(sl_governor_acquire(g, "a:r/two"));
    sl_governor_release(g, "a:r/two");
    assert_int_equal(w2.n, 2);
    /* Removing the reservation moves its executions into the pool. */
    assert_null(sl_governor_acquire(g, "a:r/two"));
    sl_governor_set_reserved(g, "a:r/two", -1);
    /* 100, less 96 of "other" and 1 of "two", both unreserved now. */
    assert_int_equal(sl_governor_available(g, "a:r/two"), 100 - 96 - 1);
    sl_governor_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_and_call),
        cmocka_unit_test(test_timers_fire_in_order),
        cmocka_unit_test(test_defer),
        cmocka_unit_test(test_watch_fd),
        cmocka_unit_test(test_governor_reserved),
        cmocka_unit_test(test_governor_unreserved_pool),
        cmocka_unit_test(test_governor_slots_and_waiters),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
