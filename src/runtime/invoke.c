/*
 * Invocations: admitting a call (the governor's slot), binding it to a
 * warm environment or starting one, the caller's wait on its own
 * connection (sl_runtime_invoke, sl_runtime_call) or the loop's
 * (sl_runtime_start, a detached call), deadlines and timeouts, and a
 * call's end.
 */
#include "runtime/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- calls ------------------------------------------------------------ */

/* Records a call's result. The caller learns of it from sl_rt_call_wake(). */
void sl_rt_call_finish(struct call *c, enum sl_invoke_result result, const char *error_type,
                        const char *body, size_t len)
{
    struct sl_invocation *inv = c->inv;
    inv->result = result;
    snprintf(inv->error_type, sizeof(inv->error_type), "%s", error_type ? error_type : "");
    sl_buf_reset(&inv->response);
    if (body && len)
        sl_buf_append(&inv->response, body, len);
}

static int64_t call_deadline(const struct call *c);
static void call_timeout(struct call *c);

/* An async call's deadline passed, or moved: see again, under rt->mu. */
static void on_call_timer(struct sl_loop *l, void *arg)
{
    struct call *c = arg;
    struct sl_runtime *rt = c->rt;
    pthread_mutex_lock(&rt->mu);
    c->timer = NULL;
    int64_t deadline = call_deadline(c);
    if (!c->done && sl_loop_now_ms() >= deadline)
        call_timeout(c);
    else if (!c->done && deadline != INT64_MAX)
        c->timer = sl_loop_timer(l, deadline, on_call_timer, c);
    pthread_mutex_unlock(&rt->mu);
}

static void call_free(struct call *c);

/* Sets an async call's timer to its deadline (the loop's thread, under
 * rt->mu). */
static void call_arm(struct call *c)
{
    struct sl_loop *l = c->rt->cfg.loop;
    if (c->timer)
        sl_loop_timer_cancel(l, c->timer);
    c->timer = NULL;
    int64_t deadline = call_deadline(c);
    if (!c->done && deadline != INT64_MAX)
        c->timer = sl_loop_timer(l, deadline, on_call_timer, c);
}

/* call_arm() posted from another thread: the post holds a reference. */
static void call_arm_task(struct sl_loop *l, void *arg)
{
    (void)l;
    struct call *c = arg;
    pthread_mutex_lock(&c->rt->mu);
    if (!c->done)
        call_arm(c);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->rt->mu);
    if (last)
        call_free(c);
}

/* Wakes c's caller to look again (its deadline may have moved), unless
 * this is the caller's own thread; an async call's timer is set to its
 * deadline instead (by the loop, which sees async calls through and alone
 * touches their timers). Under rt->mu. */
void sl_rt_call_nudge(struct call *c)
{
    if (c->async) {
        struct sl_loop *l = c->rt->cfg.loop;
        if (sl_loop_is_current(l)) {
            call_arm(c);
        } else if (!c->done) {
            c->refs++;
            if (sl_loop_post(l, call_arm_task, c))
                c->refs--; /* the loop stops: every call fails soon */
        }
        return;
    }
    if (pthread_equal(pthread_self(), c->tid))
        return;
    uint64_t one = 1;
    ssize_t w = write(c->efd, &one, sizeof(one));
    (void)w; /* an eventfd at its maximum is awake anyway */
}

static void call_complete(struct sl_loop *l, void *arg);
static void call_end(struct call *c, bool locked);

/* Marks c done and wakes its caller. The caller may return (and c, on its
 * stack, vanish) as soon as rt->mu is released. An async call's callback
 * runs once the loop is done with what it is handling (never under
 * rt->mu: it may start the next call). */
void sl_rt_call_wake(struct call *c)
{
    __atomic_store_n(&c->done, true, __ATOMIC_RELEASE); /* a spinning caller reads it */
    if (!c->async) {
        sl_rt_call_nudge(c);
        return;
    }
    if (sl_loop_post(c->rt->cfg.loop, call_complete, c))
        call_end(c, true); /* the loop stops: at once, under rt->mu */
}

/* A platform error payload: {"errorType": type, "errorMessage": msg}. */

void sl_rt_call_fail(struct call *c, const char *type, const char *fmt, ...)
{
    char msg[512], body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* msg is ours and has no quotes or backslashes to escape. */
    int n = snprintf(body, sizeof(body), "{\"errorType\":\"%s\",\"errorMessage\":\"%s\"}", type,
                     msg);
    sl_rt_call_finish(c, SL_INVOKE_FUNCTION_ERROR, "Unhandled", body, (size_t)n);
}

/* When c times out: at its delivery plus the function's timeout; before
 * delivery, the init limit of a starting environment or the timeout from
 * binding to a warm one; never while unbound (the loop binds it soon). */
static int64_t call_deadline(const struct call *c)
{
    const struct env *e = c->env;
    int64_t timeout_ms = (int64_t)(c->fn.timeout_s ? c->fn.timeout_s : 3) * 1000;
    if (!e)
        return INT64_MAX;
    if (c->delivered)
        return c->start_ms + timeout_ms;
    if (e->state == ENV_INIT)
        return e->spawned_ms + INIT_LIMIT_MS;
    return e->bound_ms + timeout_ms;
}

/* The caller's deadline passed: AWS's timeout, and the environment ends. */
static void call_timeout(struct call *c)
{
    struct env *e = c->env;
    if (!e)
        return;
    char ts[32];
    sl_time_iso8601_ms(sl_time_now_ms(), ts, sizeof(ts));
    double secs = (double)(sl_loop_now_ms() - c->start_ms) / 1000.0;
    if (!c->delivered)
        secs = (double)(sl_loop_now_ms() - (e->state == ENV_INIT ? e->spawned_ms : e->bound_ms)) /
               1000.0;
    sl_rt_env_logf(e, "%s %s Task timed out after %.2f seconds", ts, c->inv->request_id, secs);
    sl_rt_call_fail(c, "Sandbox.Timedout", "RequestId: %s Error: Task timed out after %.2f seconds",
              c->inv->request_id, secs);
    sl_rt_env_end_call(e, true, false);
}


/* ---- invocation entry ---------------------------------------------------- */

static void throttle(struct call *c, const char *reason)
{
    snprintf(c->inv->throttle_reason, sizeof(c->inv->throttle_reason), "%s", reason);
    c->inv->result = SL_INVOKE_THROTTLED;
    sl_rt_call_wake(c);
}

/*
 * Admits c and binds it to a warm environment of its revision, under
 * rt->mu: true when c is settled (bound, throttled or failed), false when
 * an environment must be started (on the loop). direct: the caller's own
 * thread, which takes a parked connection itself.
 */
static bool bind_warm(struct call *c, bool direct)
{
    struct sl_runtime *rt = c->rt;
    if (rt->closed) {
        sl_rt_call_fail(c, "Runtime.Unknown", "RequestId: %s Error: Sluice is shutting down",
                  c->inv->request_id);
        sl_rt_call_wake(c);
        return true;
    }
    struct fn_state *fs = sl_rt_fn_state(rt, c->fn.key, true);
    if (!fs) {
        snprintf(c->inv->message, sizeof(c->inv->message), "out of memory");
        c->inv->result = SL_INVOKE_FAILED;
        sl_rt_call_wake(c);
        return true;
    }
    if (!c->slot) {
        sl_governor_set_reserved(rt->cfg.governor, c->fn.key, c->fn.reserved);
        const char *reason = sl_governor_acquire(rt->cfg.governor, c->fn.key);
        if (reason) {
            throttle(c, reason);
            return true;
        }
        c->slot = true;
    }
    /* A warm environment of this revision: one waiting in /next first,
     * and of those the last to become idle. Its runtime asked just now,
     * maybe in the round that ends its last call, whose answer then goes
     * out with this event (conns.c); and the rest stay idle long enough
     * to be reaped when fewer do. */
    struct env *pick = NULL;
    time_t now = time(NULL);
    for (struct env *e = rt->envs; e; e = e->next) {
        if (e->fs != fs || e->state != ENV_IDLE || e->stale ||
            strcmp(e->fn.revision, c->fn.revision) != 0)
            continue;
        if (e->creds.expires && now + (time_t)c->fn.timeout_s + 60 >= e->creds.expires) {
            /* Its credentials would expire during the call: it ends. */
            e->stale = true;
            sl_rt_env_set_state(e, ENV_DEAD);
            sl_rt_env_kill(e);
            continue;
        }
        if (!pick || (!pick->parked && e->parked) ||
            (!pick->parked == !e->parked && e->idle_seq > pick->idle_seq))
            pick = e;
    }
    if (pick) {
        pick->call = c;
        c->env = pick;
        sl_rt_env_set_state(pick, ENV_BUSY); /* takes the call's slot */
        /* Until the runtime asks for it, the call's own timeout bounds the
         * wait (a runtime that never calls /next again must not hold it). */
        pick->bound_ms = sl_loop_now_ms();
        sl_rt_env_deliver(pick, direct);
        sl_rt_call_nudge(c); /* (none on the caller's own thread) */
        return true;
    }
    if (direct)
        return false;
    /* Environments of an older revision are not reused: end them idle. */
    for (struct env *e = rt->envs; e; e = e->next) {
        if (e->fs == fs && strcmp(e->fn.revision, c->fn.revision) != 0) {
            e->stale = true;
            if (e->state == ENV_IDLE) {
                sl_rt_env_set_state(e, ENV_DEAD);
                sl_rt_env_kill(e);
            }
        }
    }
    sl_rt_env_spawn(rt, fs, c);
    return true;
}

static void start_call(struct sl_loop *l, void *arg)
{
    (void)l;
    struct call *c = arg;
    pthread_mutex_lock(&c->rt->mu);
    bind_warm(c, false);
    pthread_mutex_unlock(&c->rt->mu);
}

/* The calling thread's eventfd, made on its first invoke and closed when
 * the thread ends. */
static pthread_key_t efd_key;
static pthread_once_t efd_once = PTHREAD_ONCE_INIT;

static void efd_close(void *v)
{
    close((int)(intptr_t)v - 1);
}

static void efd_key_init(void)
{
    pthread_key_create(&efd_key, efd_close);
}

static int thread_efd(void)
{
    pthread_once(&efd_once, efd_key_init);
    void *v = pthread_getspecific(efd_key);
    if (v)
        return (int)(intptr_t)v - 1;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd >= 0 && pthread_setspecific(efd_key, (void *)(intptr_t)(fd + 1))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/*
 * How long a caller waiting for e's answer reads its socket in a loop
 * before it sleeps in poll() (0: not at all). Waking a sleeping thread
 * costs an interrupt and, on a virtual machine or a CPU in a deep idle
 * state, tens of microseconds: as much as a fast function's whole answer.
 * So a caller spins, up to twice the environment's recent answer time,
 * when twice that is at most SPIN_MAX_NS, it is the only call in flight
 * (spinning must never take a CPU from a runtime or another caller) and
 * Sluice may run on more than one CPU (its affinity). Under rt->mu.
 */
static int64_t spin_budget(const struct sl_runtime *rt, const struct env *e)
{
    if (!rt->spin || rt->callers != 1 || !e || !e->answer_ns || e->answer_ns > SPIN_MAX_NS / 2)
        return 0;
    return 2 * e->answer_ns;
}

/*
 * The caller's side of c, under rt->mu (let go while it reads or sleeps):
 * delivers the event on the caller's own connection and reads the answer
 * from it, until c is done, or for patience_ms at most (-1: no limit but
 * the call's deadline). Returns whether c is done.
 */
static bool call_wait(struct call *c, int patience_ms)
{
    struct sl_runtime *rt = c->rt;
    int64_t until_ms = patience_ms < 0 ? INT64_MAX : sl_loop_now_ms() + patience_ms;
    while (!c->done) {
        struct conn *own = c->own;
        int64_t deadline = SL_MIN(call_deadline(c), until_ms);
        /* A runtime handed on before it asked has usually asked by now:
         * its /next is read without waiting for poll() to say so. */
        bool peek = own && !own->asked && !c->delivered && !own->broken;
        int64_t spin = own && c->delivered ? spin_budget(rt, c->env) : 0;
        pthread_mutex_unlock(&rt->mu);
        if (own && own->held) { /* the event, queued on the connection */
            own->held = false;
            sl_rt_conn_flush(own);
        }
        bool ready = false;
        if (peek) {
            size_t had = own->in_len;
            sl_rt_conn_read(own);
            ready = own->in_len > had || own->broken;
        }
        if (!ready && spin && !sl_rt_conn_pending(own)) {
            int64_t until = sl_time_mono_ns() + spin;
            do {
                size_t had = own->in_len;
                sl_rt_conn_read(own);
                ready = own->in_len > had || own->broken;
            } while (!ready && !__atomic_load_n(&c->done, __ATOMIC_ACQUIRE) &&
                     sl_time_mono_ns() < until);
        }
        if (!ready && sl_loop_now_ms() >= until_ms) {
            pthread_mutex_lock(&rt->mu);
            return c->done;
        }
        if (!ready) {
            struct pollfd pf[2] = {{.fd = c->efd, .events = POLLIN}};
            if (own) {
                pf[1].fd = own->fd;
                pf[1].events = POLLIN | (sl_rt_conn_pending(own) ? POLLOUT : 0);
            }
            int timeout = -1;
            if (deadline != INT64_MAX) {
                int64_t left = deadline - sl_loop_now_ms();
                timeout = left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
            }
            int n = poll(pf, own ? 2 : 1, timeout);
            if (n > 0 && pf[0].revents) {
                uint64_t v;
                ssize_t r = read(c->efd, &v, sizeof(v));
                (void)r; /* EAGAIN: another wake took it */
            }
            ready = own && n > 0 && pf[1].revents;
            if (ready) {
                sl_rt_conn_flush(own);
                if (!own->broken)
                    sl_rt_conn_read(own);
            }
        }
        pthread_mutex_lock(&rt->mu);
        if (c->done)
            break;
        if (ready) {
            sl_rt_conn_service(own, false); /* serves what was read */
            if (own->dead)
                c->own = NULL;
        }
        if (!c->done && sl_loop_now_ms() >= call_deadline(c))
            call_timeout(c);
    }
    return true;
}

/* The caller is done with its finished call c (under rt->mu): its
 * connection, unless held for sl_runtime_settle(), and the slot no
 * environment took. */
static void call_leave(struct call *c)
{
    struct sl_runtime *rt = c->rt;
    if (c->inv->settle && c->inv->settle == c->own)
        c->own = NULL; /* held for sl_runtime_settle() */
    else
        c->inv->settle = NULL;
    struct conn *own = c->own;
    c->own = NULL;
    sl_rt_conn_release(own);
    if (c->slot) /* never taken by an environment (it failed first) */
        sl_governor_release(rt->cfg.governor, c->fn.key);
    c->slot = false;
    rt->callers--;
}

int sl_runtime_invoke(struct sl_runtime *rt, const struct sl_function *fn,
                      struct sl_invocation *inv)
{
    struct call c = {.rt = rt, .fn = *fn, .inv = inv, .tid = pthread_self()};
    c.efd = thread_efd();
    if (c.efd < 0)
        return SL_EIO;
    pthread_mutex_lock(&rt->mu);
    rt->callers++;
    if (!bind_warm(&c, true)) {
        /* A new environment: started on the loop, which copies the spec's
         * variables into the child while this thread waits. */
        int rc = sl_loop_post(rt->cfg.loop, start_call, &c);
        if (rc) {
            rt->callers--;
            pthread_mutex_unlock(&rt->mu);
            return rc;
        }
    }
    call_wait(&c, -1);
    call_leave(&c);
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

/* An async call's end, on the loop thread without rt->mu: its callback,
 * then its memory (and the slot no environment took). */
static void call_complete(struct sl_loop *l, void *arg)
{
    struct call *c = arg;
    if (c->timer && sl_loop_is_current(l)) /* (else the loop has stopped) */
        sl_loop_timer_cancel(l, c->timer);
    c->timer = NULL;
    call_end(c, false);
}

/* An async call's end: its slot, its callback, its reference. locked: the
 * caller holds rt->mu (the loop could not take the end: it stops). */
static void call_end(struct call *c, bool locked)
{
    struct sl_runtime *rt = c->rt;
    if (c->slot)
        sl_governor_release(rt->cfg.governor, c->fn.key);
    c->slot = false;
    c->cb(c->inv, c->cb_arg);
    if (!locked)
        pthread_mutex_lock(&rt->mu);
    bool last = --c->refs == 0;
    if (!locked)
        pthread_mutex_unlock(&rt->mu);
    if (last)
        call_free(c);
}

/* An async call's memory, once nothing refers to it. */
static void call_free(struct call *c)
{
    for (char **p = c->fn.env; p && *p; p++)
        free(*p);
    free(c->fn.env);
    free(c);
}

/* Gives c its own copy of the spec's variables (an environment may be
 * started with them after the caller's copy is gone). */
static int call_own_env(struct call *c)
{
    char **src = c->fn.env;
    size_t n = 0;
    while (src && src[n])
        n++;
    char **env = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; env && i < n; i++) {
        if (!(env[i] = strdup(src[i]))) {
            for (size_t k = 0; k < i; k++)
                free(env[k]);
            free(env);
            env = NULL;
        }
    }
    c->fn.env = env;
    return env ? 0 : SL_ENOMEM;
}

int sl_runtime_start(struct sl_runtime *rt, const struct sl_function *fn,
                     struct sl_invocation *inv, sl_invoke_cb cb, void *arg)
{
    struct call *c = calloc(1, sizeof(*c));
    if (!c)
        return SL_ENOMEM;
    *c = (struct call){.rt = rt, .fn = *fn, .inv = inv, .efd = -1, .async = true, .cb = cb,
                       .cb_arg = arg, .slot = inv->slot_held, .refs = 1};
    if (call_own_env(c)) {
        free(c);
        return SL_ENOMEM;
    }
    inv->settle = NULL;
    int rc = sl_loop_post(rt->cfg.loop, start_call, c);
    if (rc) {
        for (char **p = c->fn.env; *p; p++)
            free(*p);
        free(c->fn.env);
        free(c);
    }
    return rc;
}

/*
 * c goes on without its caller (under rt->mu): the loop sees it through,
 * with a timer for its deadline, and cb runs once it ends. The caller's
 * connection goes back to the loop, which reads the answer. Returns
 * whether the caller is the last to hold c (then it frees c once it let
 * go of rt->mu).
 */
static bool call_detach(struct call *c, sl_invoke_cb cb, void *arg)
{
    struct sl_runtime *rt = c->rt;
    c->async = true;
    c->refs = 2; /* its end's, and this function's until it returns */
    c->cb = cb;
    c->cb_arg = arg;
    c->inv->defer_settle = false;
    c->inv->settle = NULL;
    /* The spec's variables are the caller's: an environment that dies
     * before the event is delivered is replaced for this call. */
    if (call_own_env(c))
        c->fn.env = NULL; /* (out of memory: a replacement gets none) */
    struct conn *own = c->own;
    c->own = NULL;
    if (own && !own->dead && own->owner == CONN_CALLER) {
        own->held = false;
        sl_rt_conn_flush(own);
    }
    sl_rt_conn_release(own); /* (may end c: cb then runs from the loop) */
    if (!c->done)
        sl_rt_call_nudge(c);
    rt->callers--;
    return --c->refs == 0;
}

int sl_runtime_call(struct sl_runtime *rt, const struct sl_function *fn,
                    struct sl_invocation *inv, sl_invoke_cb cb, void *arg)
{
    struct call *c = calloc(1, sizeof(*c));
    if (!c)
        return SL_ENOMEM;
    *c = (struct call){.rt = rt, .fn = *fn, .inv = inv, .tid = pthread_self(),
                       .efd = thread_efd()};
    if (c->efd < 0) {
        free(c);
        return SL_EIO;
    }
    pthread_mutex_lock(&rt->mu);
    rt->callers++;
    if (!bind_warm(c, true)) {
        /* A new environment: the loop starts it and sees the call through. */
        rt->callers--;
        c->async = true;
        c->refs = 1;
        c->cb = cb;
        c->cb_arg = arg;
        c->inv->settle = NULL;
        int rc = call_own_env(c);
        if (!rc)
            rc = sl_loop_post(rt->cfg.loop, start_call, c);
        if (rc) {
            if (c->fn.env) {
                for (char **p = c->fn.env; *p; p++)
                    free(*p);
                free(c->fn.env);
            }
            if (c->slot)
                sl_governor_release(rt->cfg.governor, c->fn.key);
            pthread_mutex_unlock(&rt->mu);
            free(c);
            return rc;
        }
        pthread_mutex_unlock(&rt->mu);
        return SL_LATER;
    }
    /* A lone call may keep its thread a moment (a fast function answers
     * sooner than a hand-off to the loop and back would take). */
    if (!call_wait(c, rt->callers == 1 ? LONE_PATIENCE_MS : 0)) {
        bool last = call_detach(c, cb, arg);
        pthread_mutex_unlock(&rt->mu);
        if (last)
            call_free(c);
        return SL_LATER;
    }
    call_leave(c);
    pthread_mutex_unlock(&rt->mu);
    free(c);
    return 0;
}

void sl_runtime_settle(struct sl_runtime *rt, void *settle)
{
    struct conn *conn = settle;
    if (!conn)
        return;
    pthread_mutex_lock(&rt->mu);
    if (conn->e)
        sl_rt_env_flush_end(conn->e);
    pthread_mutex_unlock(&rt->mu);
    /* The runtime's 202, sent without the lock; then whatever it sent
     * meanwhile. */
    conn->held = false;
    sl_rt_conn_flush(conn);
    pthread_mutex_lock(&rt->mu);
    sl_rt_conn_service(conn, false);
    if (!conn->dead && conn->owner == CONN_CALLER)
        sl_rt_conn_hand_on(conn);
    pthread_mutex_unlock(&rt->mu);
}
