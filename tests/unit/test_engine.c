/* Unit tests of the event loop: posted tasks, calls, timers in deadline
 * order, cancelled timers, fd watches, and stopping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_and_call),
        cmocka_unit_test(test_timers_fire_in_order),
        cmocka_unit_test(test_watch_fd),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
