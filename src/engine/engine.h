/*
 * engine — the event loop that owns dispatch state: file descriptors to
 * watch, timers, and work handed over from other threads through a wake-up
 * eventfd (never by polling). One thread runs the loop; everything
 * registered with it is touched only from that thread, except
 * sl_loop_post(), which any thread may call.
 *
 * All platform delays AWS defines read sl_loop_now_ms(); idle, the loop
 * sleeps in epoll_wait with no timeout.
 *
 * May call: core, libc.
 */
#ifndef SL_ENGINE_H
#define SL_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#include "core/core.h"

struct sl_loop;
struct sl_timer;

typedef void (*sl_io_cb)(struct sl_loop *l, int fd, uint32_t events, void *arg);
typedef void (*sl_timer_cb)(struct sl_loop *l, void *arg);
typedef void (*sl_task_cb)(struct sl_loop *l, void *arg);

/* Creates a loop and starts its thread. */
int sl_loop_new(struct sl_loop **out, struct sl_err *err);
/* Stops the thread (tasks posted before are run first) and frees the loop.
 * Watches and timers still registered are dropped. NULL ok. */
void sl_loop_free(struct sl_loop *l);

/* Runs cb(l, arg) on the loop thread soon. Any thread. SL_ECLOSED once
 * the loop is stopping (cb then never runs). */
int sl_loop_post(struct sl_loop *l, sl_task_cb cb, void *arg);
/* Runs cb on the loop thread and waits for it to return. Not from the loop
 * thread itself. */
int sl_loop_call(struct sl_loop *l, sl_task_cb cb, void *arg);
/* Loop thread only: runs cb once the tasks the loop has to run now (and
 * those they post) are done, before it waits for events again: where
 * what a round of work produced goes out together (answers to flush). */
int sl_loop_defer(struct sl_loop *l, sl_task_cb cb, void *arg);
/* Loop thread only: drops what was deferred with cb and arg, not yet run
 * (before arg goes away). */
void sl_loop_undefer(struct sl_loop *l, sl_task_cb cb, void *arg);
/* Whether the calling thread is the loop's. */
bool sl_loop_is_current(const struct sl_loop *l);

/* Loop thread only: watch fd for epoll events (EPOLLIN, EPOLLOUT...). */
int sl_loop_watch(struct sl_loop *l, int fd, uint32_t events, sl_io_cb cb, void *arg);
int sl_loop_rewatch(struct sl_loop *l, int fd, uint32_t events);
void sl_loop_unwatch(struct sl_loop *l, int fd);

/* Loop thread only: runs cb once at monotonic time at_ms (see
 * sl_loop_now_ms). The handle is the caller's to cancel until it fires;
 * after firing it is freed by the loop. */
struct sl_timer *sl_loop_timer(struct sl_loop *l, int64_t at_ms, sl_timer_cb cb, void *arg);
void sl_loop_timer_cancel(struct sl_loop *l, struct sl_timer *t);

/* Monotonic milliseconds. */
int64_t sl_loop_now_ms(void);

/* A platform delay divided by --time-scale (rounded up: never zero; a
 * scale below 1 is taken as 1), so tests run AWS's schedules quickly. */
int64_t sl_delay_scaled_ms(int64_t ms, double scale);

/*
 * What an engine component has under way beyond its loop's reach (posts
 * not run yet, transactions submitted, deliveries out) and whether it
 * stops: its stop marks it stopping, then waits until nothing is held,
 * so that nothing calls back into freed memory. Any thread.
 */
struct sl_inflight {
    pthread_mutex_t mu;
    pthread_cond_t quiet;
    unsigned n;
    bool stopping;
};
void sl_inflight_init(struct sl_inflight *f);
void sl_inflight_destroy(struct sl_inflight *f);
void sl_inflight_hold(struct sl_inflight *f);
void sl_inflight_drop(struct sl_inflight *f);
bool sl_inflight_stopping(struct sl_inflight *f);
/* Marks it stopping; returns whether it was already. */
bool sl_inflight_stop(struct sl_inflight *f);
/* Waits until nothing is held. */
void sl_inflight_wait(struct sl_inflight *f);

#endif
