/*
 * Execution environments and the Runtime API.
 *
 * An environment is a process group started from the function's bootstrap
 * (provided*) or Sluice's bootstrap for a managed runtime, with its own
 * Runtime API listener on 127.0.0.1:<ephemeral>. The process is watched
 * through a pidfd, its stdout and stderr through pipes, all on the engine
 * loop.
 *
 * Threads. One mutex (rt->mu) guards every environment, connection and
 * call. The loop accepts Runtime API connections and serves them; a
 * runtime waiting in GET .../invocation/next, or about to ask on a
 * connection that just carried its answer, is a parked connection that
 * nobody watches. sl_runtime_invoke() runs on the caller's thread: when a
 * warm environment has a parked connection, the caller takes that
 * connection, writes the event to it (after reading the /next if need be)
 * and reads the runtime's answer from it itself. An invoke is then two
 * round trips (client, runtime) with no thread hand-offs; a lone caller
 * of a fast function spins briefly for the answer (spin_budget()).
 * Otherwise (a cold start) the loop delivers the event and wakes the
 * caller through the caller's eventfd. Either way the caller enforces its
 * call's deadline.
 *
 * Connections live in the runtime's own epoll set (rt->epfd, watched by
 * the loop) as one-shot entries, so that whichever thread owns one can
 * hand it back to the loop with epoll_ctl(). A connection's buffers and
 * socket belong to its owner; a caller reads and writes its connection
 * without rt->mu (many callers must not queue behind one another's
 * syscalls), and takes the lock to serve what it read.
 */
#include "runtime/runtime.h"
#include "engine/governor.h"
#include "runtime/rapi.h"
#include "runtime/sandbox.h"

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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define RAPI_PREFIX "/2018-06-01/runtime/"
#define MAX_RESPONSE 6291556 /* 6 MiB + 100 bytes, as AWS */
#define INIT_LIMIT_MS 10000
#define LINE_MAX_BYTES (256 * 1024)
#define LOG_TAIL_MAX (64 * 1024)
/* A connection's input: one request with the largest body, its head, and
 * room for chunk framing. */
#define CONN_IN_MAX (MAX_RESPONSE + SL_RAPI_HEAD_MAX + 64 * 1024)
#define CONN_IN_MIN 8192           /* first allocation */
#define CONN_KEEP (64 * 1024)      /* buffers above this are freed when empty */
#define CONN_OUT_MAX (8u << 20)    /* an event (6 MiB) and its headers */
#define CONNS_PER_ENV 32           /* a runtime needs one or two */
#define SPIN_MAX_NS 200000         /* the longest a lone caller spins for an answer */
#define LONE_PATIENCE_MS 2         /* sl_runtime_call(): a lone caller's wait on its thread */

struct env;
struct conn;

/* One invocation in flight: on the stack of the thread in
 * sl_runtime_invoke(), which waits on efd and enforces the deadline; or,
 * from sl_runtime_start(), on the heap, seen through by the loop (a timer
 * enforces its deadline) and ended by its callback. */
struct call {
    struct sl_runtime *rt;
    struct sl_function fn; /* copy: the caller's may change */
    struct sl_invocation *inv;
    pthread_t tid; /* the caller */
    int efd;       /* the caller's eventfd: written when done or bound */
    bool done;
    bool async;              /* sl_runtime_start()'s */
    sl_invoke_cb cb;         /* async: called once it ends */
    void *cb_arg;
    struct sl_timer *timer;  /* async: its deadline (the loop's thread alone) */
    int refs;                /* async: its end, and posts of call_arm_task() */
    bool slot; /* holds a governor slot no environment has taken yet */
    struct env *env;
    struct conn *own; /* a connection the caller reads itself */
    bool delivered;
    int64_t start_ms; /* delivery */
    int64_t start_ns; /* the same, for REPORT's Duration */
};

/* A function's environments share this: its key (the governor's). */
struct fn_state {
    char key[256];
    struct fn_state *next;
};

enum env_state { ENV_INIT, ENV_IDLE, ENV_BUSY, ENV_DEAD };

struct linebuf {
    char *data;
    size_t len, cap;
};

/* Who may read and write a connection. */
enum conn_owner {
    CONN_LOOP,   /* armed in rt->epfd; the loop serves it */
    CONN_PARKED, /* a runtime in /next, or about to ask on it: disarmed */
    CONN_CALLER, /* a caller delivered an event on it and reads the answer */
};

struct conn {
    struct sl_runtime *rt;
    struct env *e; /* NULL once its environment is gone (a caller held it) */
    int fd;
    enum conn_owner owner;
    char *in; /* bytes received, not yet consumed */
    size_t in_len, in_cap;
    struct sl_buf out; /* bytes not yet sent, from out_off */
    size_t out_off;
    size_t discard;  /* body bytes of a refused request still to skip */
    bool continued;  /* 100 Continue sent for the request in progress */
    bool held;       /* sends wait for the owner, and nothing more is served */
    bool asked;      /* parked: its GET /next has been read */
    bool closing;    /* close once out is sent */
    bool broken;     /* EOF or an error: close */
    bool dead;       /* closed; freed with rt->zombies */
    struct conn *next;
};

struct env {
    struct sl_runtime *rt;
    struct fn_state *fs;
    struct sl_function fn; /* copy of the spec it was started with (env not kept) */
    enum env_state state;
    bool slot; /* holds a governor slot: initialising or busy */
    pid_t pid;
    int pidfd, out_fd, err_fd, listen_fd;
    struct linebuf out_lb, err_lb;
    uint16_t port;
    struct call *call;
    struct conn *conns;
    unsigned nconns;
    struct conn *parked; /* a runtime waiting in /next, or to ask on it */
    int64_t spawned_ms;
    double init_ms; /* until the first /next; reported once */
    bool init_reported;
    bool stale; /* end once idle */
    char init_error[128]; /* /init/error's type, when it came */
    struct sl_buf init_error_body;
    struct sl_timer *reap_timer; /* from the first /next until the end */
    int64_t idle_since_ms;
    struct {
        bool on;
        char request_id[37];
        double duration_ms;
    } end; /* END and REPORT of a settled call, not yet written */
    int64_t bound_ms; /* when the current call was bound to it */
    int64_t answer_ns; /* event to answer, a moving average (0: none yet) */
    char stream[96];
    struct sl_sandbox sb;
    char scratch[1100]; /* the environment's directory: its root and /tmp */
    struct env *next;
};

struct sl_runtime {
    struct sl_runtime_config cfg;
    pthread_mutex_t mu;
    char runtimes_dir[1024], scratch_dir[1024], endpoint[256];
    char group[17]; /* this data directory's cgroups: sluice/<group>/ */
    struct sl_spawner *spawner; /* clones environments (cgroup v1), or NULL */
    int epfd;      /* Runtime API connections, one-shot */
    bool watching; /* epfd is on the loop */
    struct fn_state *fns;
    struct env *envs;
    struct conn *zombies; /* closed connections, freed by the loop */
    unsigned callers; /* threads in sl_runtime_invoke() */
    bool spin;        /* more than one CPU: a lone caller may spin (above) */
    bool isolate; /* namespaces work here */
    bool closed;  /* shut down: calls fail at once */
    char node_version[32]; /* the machine's node, "20.20.2"; "" when none */
};

/* ---- small helpers ---------------------------------------------------- */

static struct fn_state *fn_state(struct sl_runtime *rt, const char *key, bool create)
{
    for (struct fn_state *f = rt->fns; f; f = f->next)
        if (strcmp(f->key, key) == 0)
            return f;
    if (!create)
        return NULL;
    struct fn_state *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    snprintf(f->key, sizeof(f->key), "%s", key);
    f->next = rt->fns;
    rt->fns = f;
    return f;
}

/* Sends a log line to the sink and to the call's collected log. */
static void env_log(struct env *e, const char *line, size_t len)
{
    struct sl_runtime *rt = e->rt;
    if (rt->cfg.log)
        rt->cfg.log(rt->cfg.log_ud, e->fn.account, e->fn.region, e->fn.log_group, e->stream,
                    sl_time_now_ms(), line, len);
    struct call *c = e->call;
    if (c && c->inv->want_log && c->inv->log.len < LOG_TAIL_MAX) {
        sl_buf_append(&c->inv->log, line, len);
        sl_buf_putc(&c->inv->log, '\n');
    }
}

static void env_logf(struct env *e, const char *fmt, ...) SL_PRINTF(2, 3);

static void env_logf(struct env *e, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    env_log(e, line, (size_t)n);
}

/* Billed duration: the duration rounded up to the millisecond. */
static double ceil_ms(double ms)
{
    double whole = (double)(long long)ms;
    return whole < ms ? whole + 1 : whole;
}

int sl_runtime_report_line(char *out, size_t n, const char *request_id, double duration_ms,
                           unsigned memory_mb, unsigned max_used_mb, double init_ms)
{
    struct sl_text t;
    sl_text_init(&t, out, n);
    sl_text_str(&t, "REPORT RequestId: ");
    sl_text_str(&t, request_id);
    sl_text_str(&t, "\tDuration: ");
    sl_text_fixed(&t, duration_ms, 2);
    sl_text_str(&t, " ms\tBilled Duration: ");
    sl_text_fixed(&t, duration_ms < 1 ? 1 : ceil_ms(duration_ms), 0);
    sl_text_str(&t, " ms\tMemory Size: ");
    sl_text_u64(&t, memory_mb, 0);
    sl_text_str(&t, " MB\tMax Memory Used: ");
    sl_text_u64(&t, max_used_mb, 0);
    sl_text_str(&t, " MB\t");
    if (init_ms > 0) {
        sl_text_str(&t, "Init Duration: ");
        sl_text_fixed(&t, init_ms, 2);
        sl_text_str(&t, " ms\t");
    }
    return (int)t.len;
}

/* Peak memory of the environment, in MB (rounded up). */
static unsigned max_memory_mb(struct env *e)
{
    return sl_sandbox_max_memory_mb(&e->sb);
}

/* ---- calls ------------------------------------------------------------ */

/* Records a call's result. The caller learns of it from call_wake(). */
static void call_finish(struct call *c, enum sl_invoke_result result, const char *error_type,
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
static void call_nudge(struct call *c)
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

/* Marks c done and wakes its caller. The caller may return (and c, on its
 * stack, vanish) as soon as rt->mu is released. An async call's callback
 * runs once the loop is done with what it is handling (never under
 * rt->mu: it may start the next call). */
static void call_wake(struct call *c)
{
    __atomic_store_n(&c->done, true, __ATOMIC_RELEASE); /* a spinning caller reads it */
    if (!c->async) {
        call_nudge(c);
        return;
    }
    if (sl_loop_post(c->rt->cfg.loop, call_complete, c))
        call_complete(c->rt->cfg.loop, c); /* the loop stops: at once */
}

/* A platform error payload: {"errorType": type, "errorMessage": msg}. */
static void call_fail(struct call *c, const char *type, const char *fmt, ...) SL_PRINTF(3, 4);

static void call_fail(struct call *c, const char *type, const char *fmt, ...)
{
    char msg[512], body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* msg is ours and has no quotes or backslashes to escape. */
    int n = snprintf(body, sizeof(body), "{\"errorType\":\"%s\",\"errorMessage\":\"%s\"}", type,
                     msg);
    call_finish(c, SL_INVOKE_FUNCTION_ERROR, "Unhandled", body, (size_t)n);
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

/* ---- environment lifecycle --------------------------------------------- */

static void env_kill(struct env *e)
{
    if (e->pid > 0)
        kill(-e->pid, SIGKILL);
}

/* An environment initialising or busy holds a slot of the governor's: it
 * takes its call's (acquired when the call was admitted) and gives it
 * back when it goes idle or dies. */
static void env_set_active(struct env *e, bool active)
{
    if (active == e->slot)
        return;
    if (active) {
        if (e->call && e->call->slot)
            e->call->slot = false;
        else /* (no call takes an environment without a slot) */
            sl_governor_acquire(e->rt->cfg.governor, e->fs->key);
        e->slot = true;
    } else {
        sl_governor_release(e->rt->cfg.governor, e->fs->key);
        e->slot = false;
    }
}

static void env_set_state(struct env *e, enum env_state s)
{
    env_set_active(e, s == ENV_INIT || s == ENV_BUSY);
    e->state = s;
    if (s == ENV_IDLE)
        e->idle_since_ms = sl_loop_now_ms();
}

/* The idle reaper: one timer per environment from its first /next on,
 * which does nothing per invoke; when it fires it ends the environment
 * if it has been idle long enough, else sets itself again. */
static void on_reap(struct sl_loop *l, void *arg)
{
    struct env *e = arg;
    struct sl_runtime *rt = e->rt;
    pthread_mutex_lock(&rt->mu);
    e->reap_timer = NULL;
    int64_t now = sl_loop_now_ms(), idle_ms = (int64_t)rt->cfg.idle_reap_s * 1000;
    if (e->state == ENV_IDLE && now - e->idle_since_ms >= idle_ms) {
        sl_debug("runtime", "reaping idle environment of %s", e->fn.name);
        env_set_state(e, ENV_DEAD);
        env_kill(e);
    } else if (e->state != ENV_DEAD) {
        int64_t at = e->state == ENV_IDLE ? e->idle_since_ms + idle_ms : now + idle_ms;
        e->reap_timer = sl_loop_timer(l, at, on_reap, e);
    }
    pthread_mutex_unlock(&rt->mu);
}

static void drain_output(struct env *e);

/* Logs a call's END and REPORT lines, after what the runtime printed. */
static void env_log_end(struct env *e, const char *request_id, double dur)
{
    char report[512];
    char end[64];
    struct sl_text t;
    sl_text_init(&t, end, sizeof(end));
    sl_text_str(&t, "END RequestId: ");
    sl_text_str(&t, request_id);
    drain_output(e);
    env_log(e, end, t.len);
    int n = sl_runtime_report_line(report, sizeof(report), request_id, dur, e->fn.memory_mb,
                                   max_memory_mb(e), e->init_reported ? 0 : e->init_ms);
    env_log(e, report, (size_t)n);
    e->init_reported = true;
}

/* Writes the END and REPORT a settled call left, if any. */
static void env_flush_end(struct env *e)
{
    if (e->end.on) {
        e->end.on = false;
        env_log_end(e, e->end.request_id, e->end.duration_ms);
    }
}

/* Ends the current call of e (response, error, timeout or exit): logs END
 * and REPORT (or leaves them for sl_runtime_settle(): defer), and makes e
 * idle unless it is dying. */
static void env_end_call(struct env *e, bool dying, bool defer)
{
    struct call *c = e->call;
    if (!c)
        return;
    double dur = (double)(sl_time_mono_ns() - c->start_ns) / 1e6;
    if (!c->delivered)
        dur = 0;
    c->inv->duration_ms = dur;
    if (defer) {
        e->end.on = true;
        memcpy(e->end.request_id, c->inv->request_id, sizeof(e->end.request_id));
        e->end.duration_ms = dur;
    } else {
        env_log_end(e, c->inv->request_id, dur);
    }
    e->call = NULL;
    c->env = NULL;
    call_wake(c);
    if (dying || e->stale || e->state == ENV_DEAD) {
        env_set_state(e, ENV_DEAD);
        env_kill(e);
    } else {
        env_set_state(e, ENV_IDLE);
    }
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
    env_logf(e, "%s %s Task timed out after %.2f seconds", ts, c->inv->request_id, secs);
    call_fail(c, "Sandbox.Timedout", "RequestId: %s Error: Task timed out after %.2f seconds",
              c->inv->request_id, secs);
    env_end_call(e, true, false);
}

static int env_spawn(struct sl_runtime *rt, struct fn_state *fs, struct call *c);

/* ---- Runtime API connections ------------------------------------------- */

static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Internal Server Error";
    }
}

/* Queues iov for sending, writing what the socket takes at once. */
static void conn_sendv(struct conn *c, const struct iovec *iov, int n)
{
    size_t total = 0, sent = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (c->broken || c->dead)
        return;
    if (c->out.len == c->out_off && !c->held) {
        struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            c->broken = true;
            return;
        }
        sent = w > 0 ? (size_t)w : 0;
    }
    if (sent == total)
        return;
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len;
        if (sent >= len) {
            sent -= len;
            continue;
        }
        if (sl_buf_append(&c->out, (const char *)iov[i].iov_base + sent, len - sent)) {
            c->broken = true;
            return;
        }
        sent = 0;
    }
}

/* Sends what is queued. */
static void conn_flush(struct conn *c)
{
    if (c->held)
        return;
    while (c->out_off < c->out.len && !c->broken) {
        ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                c->broken = true;
            return;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out.len) {
        c->out_off = 0;
        if (c->out.cap > CONN_KEEP)
            sl_buf_free(&c->out);
        else
            sl_buf_reset(&c->out);
    }
}

static bool conn_pending(const struct conn *c)
{
    return c->out_off < c->out.len;
}

/* An answer with a JSON body, in one write. */
static void reply(struct conn *c, unsigned status, const char *json, bool close)
{
    char head[256];
    size_t len = strlen(json);
    struct sl_text t;
    sl_text_init(&t, head, sizeof(head));
    sl_text_str(&t, "HTTP/1.1 ");
    sl_text_u64(&t, status, 0);
    sl_text_str(&t, " ");
    sl_text_str(&t, reason_phrase(status));
    sl_text_str(&t, "\r\nContent-Type: application/json\r\nContent-Length: ");
    sl_text_u64(&t, len, 0);
    sl_text_str(&t, close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
    struct iovec iov[2] = {{head, t.len}, {(void *)json, len}};
    conn_sendv(c, iov, 2);
    if (close)
        c->closing = true;
}

static void reply_error(struct conn *c, unsigned status, const char *type, const char *msg,
                        bool close)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", msg, type);
    reply(c, status, body, close);
}

/* Closes c (loop or owner, under rt->mu). Its memory goes to the zombie
 * list: the loop may still hold an event fetched for it. */
static void conn_close(struct conn *c)
{
    if (c->dead)
        return;
    struct env *e = c->e;
    if (e) {
        for (struct conn **p = &e->conns; *p; p = &(*p)->next) {
            if (*p == c) {
                *p = c->next;
                e->nconns--;
                break;
            }
        }
        if (e->parked == c)
            e->parked = NULL;
    }
    epoll_ctl(c->rt->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->dead = true;
    c->e = NULL;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    sl_buf_free(&c->out);
    c->next = c->rt->zombies;
    c->rt->zombies = c;
}

static void free_zombies(struct sl_runtime *rt)
{
    while (rt->zombies) {
        struct conn *c = rt->zombies;
        rt->zombies = c->next;
        free(c);
    }
}

/* Gives c back to the loop: armed again for what it waits for. */
static void conn_arm(struct conn *c)
{
    c->owner = CONN_LOOP;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT | (conn_pending(c) ? EPOLLOUT : 0),
                             .data.ptr = c};
    if (epoll_ctl(c->rt->epfd, EPOLL_CTL_MOD, c->fd, &ev))
        conn_close(c);
}

/* Answers a runtime in /next on c with e's undelivered call. */
static void send_next(struct env *e, struct conn *conn)
{
    struct call *c = e->call;
    struct sl_invocation *inv = c->inv;
    const char *payload = inv->payload_len ? inv->payload : "{}";
    env_flush_end(e); /* the last call's lines come first */
    size_t len = inv->payload_len ? inv->payload_len : 2;
    /* One write: the head (on the stack unless a client context is big)
     * and the payload. Without memory for the head the call stays
     * undelivered and the connection closes: the runtime asks again. */
    const char *cc = inv->client_context;
    size_t need = 512 + strlen(inv->request_id) + strlen(e->fn.arn) + (cc ? strlen(cc) : 0);
    char stack[2048], *head = need <= sizeof(stack) ? stack : malloc(need);
    if (!head) {
        conn->broken = true;
        return;
    }
    c->delivered = true;
    c->start_ns = sl_time_mono_ns();
    c->start_ms = c->start_ns / 1000000;
    int64_t dl = sl_time_now_ms() + (int64_t)e->fn.timeout_s * 1000;
    /* The trace id's random digits: the request id's (a random UUID). */
    char hex[33];
    size_t k = 0;
    for (const char *p = inv->request_id; *p && k < 32; p++)
        if (*p != '-')
            hex[k++] = *p;
    while (k < 32)
        hex[k++] = '0';
    hex[32] = '\0';
    struct sl_text t;
    sl_text_init(&t, head, need <= sizeof(stack) ? sizeof(stack) : need);
    sl_text_str(&t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ");
    sl_text_u64(&t, len, 0);
    sl_text_str(&t, "\r\nLambda-Runtime-Aws-Request-Id: ");
    sl_text_str(&t, inv->request_id);
    sl_text_str(&t, "\r\nLambda-Runtime-Deadline-Ms: ");
    sl_text_u64(&t, (uint64_t)dl, 0);
    sl_text_str(&t, "\r\nLambda-Runtime-Invoked-Function-Arn: ");
    sl_text_str(&t, e->fn.arn);
    sl_text_str(&t, "\r\nLambda-Runtime-Trace-Id: Root=1-");
    sl_text_hex(&t, (uint64_t)(dl / 1000), 8);
    sl_text_str(&t, "-");
    sl_text_mem(&t, hex, 24);
    sl_text_str(&t, ";Parent=");
    sl_text_mem(&t, hex + 8, 16);
    sl_text_str(&t, ";Sampled=0\r\n");
    if (cc) {
        sl_text_str(&t, "Lambda-Runtime-Client-Context: ");
        sl_text_str(&t, cc);
        sl_text_str(&t, "\r\n");
    }
    sl_text_str(&t, "\r\n");
    struct iovec iov[2] = {{head, t.len}, {(void *)payload, len}};
    /* A caller serving its own connection sends once it has let go of
     * rt->mu. */
    conn->held = c->own == conn && pthread_equal(pthread_self(), c->tid);
    conn_sendv(conn, iov, 2);
    if (head != stack)
        free(head);
    char start[128];
    sl_text_init(&t, start, sizeof(start));
    sl_text_str(&t, "START RequestId: ");
    sl_text_str(&t, inv->request_id);
    sl_text_str(&t, " Version: ");
    sl_text_str(&t, e->fn.version);
    env_log(e, start, t.len);
    call_nudge(c); /* its deadline is now the function's timeout */
}

enum rapi_kind { RAPI_NEXT, RAPI_RESPONSE, RAPI_ERROR, RAPI_INIT_ERROR, RAPI_UNKNOWN };

static enum rapi_kind classify(const struct sl_rapi_request *rq, char *id, size_t idcap)
{
    const char *path = rq->path;
    if (strncmp(path, RAPI_PREFIX, strlen(RAPI_PREFIX)) != 0)
        return RAPI_UNKNOWN;
    const char *p = path + strlen(RAPI_PREFIX);
    if (strcmp(p, "invocation/next") == 0)
        return rq->method == SL_RAPI_GET ? RAPI_NEXT : RAPI_UNKNOWN;
    if (strcmp(p, "init/error") == 0)
        return rq->method == SL_RAPI_POST ? RAPI_INIT_ERROR : RAPI_UNKNOWN;
    if (strncmp(p, "invocation/", 11) == 0 && rq->method == SL_RAPI_POST) {
        p += 11;
        const char *slash = strrchr(p, '/');
        if (!slash || slash == p || (size_t)(slash - p) >= idcap)
            return RAPI_UNKNOWN;
        memcpy(id, p, (size_t)(slash - p));
        id[slash - p] = '\0';
        if (strcmp(slash, "/response") == 0)
            return RAPI_RESPONSE;
        if (strcmp(slash, "/error") == 0)
            return RAPI_ERROR;
    }
    return RAPI_UNKNOWN;
}

/* GET /next: the event if one waits, else the connection parks. */
static void rapi_next(struct conn *conn, struct env *e)
{
    if (e->state == ENV_DEAD) {
        reply_error(conn, 500, "InternalServerError", "Internal Server Error", false);
        return;
    }
    if (e->state == ENV_INIT) {
        /* The first /next: the runtime has initialised. */
        e->init_ms = (double)(sl_time_mono_ns() / 1000 - e->spawned_ms * 1000) / 1000.0;
        sl_sandbox_limit_cpu(&e->sb, e->fn.memory_mb ? e->fn.memory_mb : 128);
        env_set_state(e, e->call ? ENV_BUSY : ENV_IDLE);
        if (!e->reap_timer && sl_loop_is_current(e->rt->cfg.loop))
            e->reap_timer = sl_loop_timer(
                e->rt->cfg.loop, sl_loop_now_ms() + (int64_t)e->rt->cfg.idle_reap_s * 1000,
                on_reap, e);
    }
    if (e->call && !e->call->delivered) {
        send_next(e, conn);
        return;
    }
    if (e->call) {
        /* /next while an event is out and unanswered: refused, and the
         * event stays with the runtime (its timeout still holds). */
        reply_error(conn, 403, "InvalidStateTransition",
                    "State transition failed: the current event has no response yet.", false);
        return;
    }
    if (e->parked && e->parked->asked) {
        reply_error(conn, 403, "InvalidStateTransition",
                    "State transition failed: a /next request is already waiting.", false);
        return;
    }
    if (e->parked) /* kept for a /next that came on another connection */
        conn_arm(e->parked);
    conn->owner = CONN_PARKED;
    conn->asked = true;
    e->parked = conn;
}

/* A call's result posted by the runtime (response or error); too_big: its
 * body was over the limit and was not kept. */
static void rapi_result(struct conn *conn, struct env *e, enum rapi_kind kind, const char *id,
                        const char *body, size_t len, bool too_big)
{
    struct call *c = e->call;
    if (!c || !c->delivered || strcmp(c->inv->request_id, id) != 0) {
        reply_error(conn, 400, "InvalidRequestID", "Invalid request ID", false);
        return;
    }
    int64_t took = sl_time_mono_ns() - c->start_ns;
    e->answer_ns = e->answer_ns ? (e->answer_ns * 7 + took) / 8 : took;
    if (too_big) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "Response payload size exceeded maximum allowed payload size (%d bytes).",
                 MAX_RESPONSE);
        reply_error(conn, 413, "RequestEntityTooLarge", msg, false);
        call_fail(c, "Function.ResponseSizeTooLarge", "%s", msg);
        env_end_call(e, false, false);
        return;
    }
    /* A caller reading its own answer may settle later: after its client
     * has the result. Otherwise the runtime hears first. */
    bool defer = c->inv->defer_settle && !c->inv->want_log && c->own == conn &&
                 pthread_equal(pthread_self(), c->tid);
    conn->held = defer;
    reply(conn, 202, "{\"status\":\"OK\"}", false);
    call_finish(c, kind == RAPI_RESPONSE ? SL_INVOKE_OK : SL_INVOKE_FUNCTION_ERROR,
                kind == RAPI_RESPONSE ? NULL : "Unhandled", body, len);
    if (defer)
        c->inv->settle = conn;
    env_end_call(e, false, defer);
}

static void rapi_init_error(struct conn *conn, struct env *e, const char *error_type,
                            const char *body, size_t len)
{
    if (e->state != ENV_INIT) {
        reply_error(conn, 403, "InvalidStateTransition",
                    "State transition from Ready to InitError failed for runtime.", false);
        return;
    }
    snprintf(e->init_error, sizeof(e->init_error), "%s",
             error_type[0] ? error_type : "Runtime.Unknown");
    sl_buf_reset(&e->init_error_body);
    sl_buf_append(&e->init_error_body, body ? body : "", len);
    reply(conn, 202, "{\"status\":\"OK\"}", false);
    env_logf(e, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s",
             (double)(sl_loop_now_ms() - e->spawned_ms), e->init_error);
    if (e->call) {
        call_finish(e->call, SL_INVOKE_FUNCTION_ERROR, "Unhandled", e->init_error_body.data,
                    e->init_error_body.len);
        e->init_reported = true;
        env_end_call(e, true, false);
    } else {
        env_set_state(e, ENV_DEAD);
        env_kill(e);
    }
}

/* One request of conn's runtime; body is the decoded body, or NULL with
 * too_big when it was over the limit. */
static void rapi_handle(struct conn *conn, const struct sl_rapi_request *rq, const char *body,
                        size_t len, bool too_big)
{
    struct env *e = conn->e;
    char id[128];
    enum rapi_kind kind = classify(rq, id, sizeof(id));
    switch (kind) {
    case RAPI_NEXT:
        rapi_next(conn, e);
        return;
    case RAPI_RESPONSE:
    case RAPI_ERROR:
        rapi_result(conn, e, kind, id, body, len, too_big);
        return;
    case RAPI_INIT_ERROR:
        rapi_init_error(conn, e, rq->error_type, body, too_big ? 0 : len);
        return;
    case RAPI_UNKNOWN:
        break;
    }
    reply_error(conn, 404, "NotFound", "No such Runtime API endpoint", false);
}

static void conn_consume(struct conn *c, size_t n)
{
    if (!n)
        return; /* c->in may be NULL */
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Serves the complete requests in c's input, until it parks or closes. */
static void conn_process(struct conn *c)
{
    while (c->e && !c->dead && !c->broken && !c->closing && !c->held &&
           c->owner != CONN_PARKED) {
        if (c->discard) {
            size_t k = c->discard < c->in_len ? c->discard : c->in_len;
            conn_consume(c, k);
            c->discard -= k;
            if (c->discard)
                return;
        }
        if (!c->in_len)
            return;
        struct sl_rapi_request rq;
        int st = sl_rapi_parse(c->in, c->in_len, MAX_RESPONSE, &rq);
        if (st == 0) {
            if (rq.head_len && rq.expect_continue && !c->continued) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                struct iovec iov = {(void *)cont, sizeof(cont) - 1};
                conn_sendv(c, &iov, 1);
                c->continued = true;
            }
            if (c->in_len >= CONN_IN_MAX)
                reply_error(c, 413, "RequestEntityTooLarge", "Request too large", true);
            return;
        }
        bool continued = c->continued;
        c->continued = false;
        if (st == 1 && !rq.chunked) {
            rapi_handle(c, &rq, c->in + rq.head_len, rq.body_len, false);
        } else if (st == 1) {
            struct sl_buf body;
            sl_buf_init(&body, MAX_RESPONSE);
            if (sl_rapi_body(c->in, &rq, &body))
                reply_error(c, 500, "InternalServerError", "out of memory", true);
            else
                rapi_handle(c, &rq, body.data, body.len, false);
            sl_buf_free(&body);
        } else if (st == 413 && rq.head_len) {
            rapi_handle(c, &rq, NULL, 0, true);
            /* A client waiting for 100 Continue may never send the body:
             * only a close tells where its next request starts. */
            if (rq.chunked || (rq.expect_continue && !continued)) {
                c->closing = true;
                return;
            }
            size_t have = c->in_len - rq.head_len;
            size_t take = have < rq.content_length ? have : rq.content_length;
            conn_consume(c, rq.head_len + take);
            c->discard = rq.content_length - take;
            continue;
        } else {
            char msg[64];
            snprintf(msg, sizeof(msg), "Malformed HTTP request (%d)", st);
            reply_error(c, (unsigned)st, "InvalidRequest", msg, true);
            return;
        }
        conn_consume(c, rq.total);
        if (!rq.keep_alive)
            c->closing = true;
    }
}

/* Reads what c's socket has (non-blocking); EOF or an error marks it
 * broken. */
static void conn_read(struct conn *c)
{
    for (;;) {
        if (c->in_len == c->in_cap) {
            if (c->in_cap >= CONN_IN_MAX)
                return;
            size_t cap = c->in_cap ? c->in_cap * 2 : CONN_IN_MIN;
            if (cap > CONN_IN_MAX)
                cap = CONN_IN_MAX;
            char *p = realloc(c->in, cap);
            if (!p) {
                c->broken = true;
                return;
            }
            c->in = p;
            c->in_cap = cap;
        }
        size_t room = c->in_cap - c->in_len;
        ssize_t n = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            c->broken = true;
            return;
        }
        c->in_len += (size_t)n;
        if ((size_t)n < room)
            return; /* drained: a level-triggered poll reports more */
    }
}

/* One turn of service for c by its owner: send, read (unless the owner
 * has read already, or leaves the rest to the loop), serve. Closes it when
 * its runtime hung up or it is done. */
static void conn_service(struct conn *c, bool read)
{
    if (conn_pending(c))
        conn_flush(c);
    if (read && !c->broken && !c->closing)
        conn_read(c);
    conn_process(c);
    if (conn_pending(c) && !c->broken)
        conn_flush(c);
    if (c->in_len == 0 && c->in_cap > CONN_KEEP) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    /* A runtime that hung up after its request is still answered above;
     * a connection closing after its answer goes once that is sent. */
    if (c->broken || !c->e || (c->closing && !conn_pending(c)))
        conn_close(c);
}

/* The loop's side: connections of every environment, one-shot. */
static void on_conns(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    struct sl_runtime *rt = arg;
    struct epoll_event evs[32];
    /* Only the loop frees connections (free_zombies, below), and one that
     * fired is the loop's: its socket is read before taking the lock. */
    int n = epoll_wait(rt->epfd, evs, SL_ARRAY_LEN(evs), 0);
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        if (c->dead || c->owner != CONN_LOOP)
            continue;
        conn_flush(c);
        if (!c->broken && !c->closing)
            conn_read(c);
    }
    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        if (c->dead || c->owner != CONN_LOOP)
            continue;
        conn_service(c, false);
        if (!c->dead && c->owner == CONN_LOOP)
            conn_arm(c);
    }
    free_zombies(rt);
    pthread_mutex_unlock(&rt->mu);
}

static void on_listen(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)events;
    struct env *e = arg;
    struct sl_runtime *rt = e->rt;
    pthread_mutex_lock(&rt->mu);
    int s;
    while ((s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct conn *c = e->nconns < CONNS_PER_ENV ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            close(s);
            continue;
        }
        /* Answers go out at once, not after Nagle's delay. */
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->rt = rt;
        c->e = e;
        c->fd = s;
        c->owner = CONN_LOOP;
        sl_buf_init(&c->out, CONN_OUT_MAX);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = c};
        if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, s, &ev)) {
            close(s);
            free(c);
            continue;
        }
        c->next = e->conns;
        e->conns = c;
        e->nconns++;
    }
    pthread_mutex_unlock(&rt->mu);
}

/* Hands e's undelivered call to a runtime parked in /next, if any: the
 * caller's own thread takes the connection (direct), the loop serves it
 * otherwise. */
static void env_deliver(struct env *e, bool direct)
{
    struct conn *conn = e->parked;
    if (!conn)
        return;
    e->parked = NULL;
    if (direct) {
        conn->owner = CONN_CALLER;
        e->call->own = conn;
    }
    /* Unless its runtime has yet to ask: whoever reads that delivers. */
    if (conn->asked)
        send_next(e, conn);
    if (direct)
        return;
    if (conn->broken)
        conn_close(conn);
    else
        conn_arm(conn);
}

/*
 * A caller's connection once its call is over. Its runtime asks for the
 * next event on it next (most runtimes keep one connection), so rather
 * than the loop reading that /next and handing it on, the connection goes
 * to a call already waiting for the environment, or is kept parked for
 * the next one; to the loop otherwise.
 */
static void conn_hand_on(struct conn *conn)
{
    struct env *e = conn->e;
    struct call *next = e ? e->call : NULL;
    if (next && !next->delivered && !next->own && !next->async) {
        next->own = conn;
        call_nudge(next);
    } else if (e && !next && e->state == ENV_IDLE && !e->parked) {
        conn->owner = CONN_PARKED;
        conn->asked = false;
        e->parked = conn;
    } else {
        conn_arm(conn);
    }
}

/* ---- processes ----------------------------------------------------------- */

static void linebuf_feed(struct env *e, struct linebuf *lb, const char *p, size_t n, bool eof)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (lb->len + take > lb->cap) {
            size_t cap = lb->cap ? lb->cap : 4096;
            while (cap < lb->len + take && cap < LINE_MAX_BYTES)
                cap *= 2;
            char *d = realloc(lb->data, cap);
            if (d) {
                lb->data = d;
                lb->cap = cap;
            }
        }
        size_t room = lb->cap - lb->len;
        size_t copy = take < room ? take : room;
        if (copy) {
            memcpy(lb->data + lb->len, p, copy);
            lb->len += copy;
        }
        if (nl || lb->len >= LINE_MAX_BYTES) {
            env_log(e, lb->data ? lb->data : "", lb->len);
            lb->len = 0;
        }
        p += take + (nl ? 1 : 0);
        n -= take + (nl ? 1 : 0);
    }
    if (eof && lb->len) {
        env_log(e, lb->data, lb->len);
        lb->len = 0;
    }
}

/* Reads what the runtime has written so far (the pipes are non-blocking),
 * so that lines printed before a result are logged before its END. */
static void drain_output(struct env *e)
{
    char buf[16384];
    ssize_t n;
    while (e->out_fd >= 0 && (n = read(e->out_fd, buf, sizeof(buf))) > 0)
        linebuf_feed(e, &e->out_lb, buf, (size_t)n, false);
    while (e->err_fd >= 0 && (n = read(e->err_fd, buf, sizeof(buf))) > 0)
        linebuf_feed(e, &e->err_lb, buf, (size_t)n, false);
}

static void on_output(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct env *e = arg;
    char buf[16384];
    pthread_mutex_lock(&e->rt->mu);
    ssize_t n = read(fd, buf, sizeof(buf));
    struct linebuf *lb = fd == e->out_fd ? &e->out_lb : &e->err_lb;
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
        if (n > 0)
            linebuf_feed(e, lb, buf, (size_t)n, false);
        pthread_mutex_unlock(&e->rt->mu);
        return;
    }
    linebuf_feed(e, lb, "", 0, true);
    sl_loop_unwatch(l, fd);
    close(fd);
    if (fd == e->out_fd)
        e->out_fd = -1;
    else
        e->err_fd = -1;
    pthread_mutex_unlock(&e->rt->mu);
}

/* Frees e (loop thread, under rt->mu). A connection a caller holds stays
 * with that caller, which closes it. */
static void env_free(struct env *e)
{
    struct sl_runtime *rt = e->rt;
    struct sl_loop *l = rt->cfg.loop;
    env_flush_end(e);
    env_set_state(e, ENV_DEAD); /* its slot goes back */
    if (e->reap_timer)
        sl_loop_timer_cancel(l, e->reap_timer);
    e->reap_timer = NULL;
    for (struct env **p = &rt->envs; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    while (e->conns) {
        struct conn *c = e->conns;
        if (c->owner == CONN_CALLER) {
            e->conns = c->next;
            c->e = NULL;
        } else {
            conn_close(c);
        }
    }
    if (e->listen_fd >= 0) {
        sl_loop_unwatch(l, e->listen_fd);
        close(e->listen_fd);
    }
    if (e->out_fd >= 0) {
        sl_loop_unwatch(l, e->out_fd);
        close(e->out_fd);
    }
    if (e->err_fd >= 0) {
        sl_loop_unwatch(l, e->err_fd);
        close(e->err_fd);
    }
    if (e->pidfd >= 0) {
        sl_loop_unwatch(l, e->pidfd);
        close(e->pidfd);
        e->sb.pidfd = -1;
    }
    sl_sandbox_cleanup(&e->sb, e->scratch);
    if (e->scratch[0])
        sl_rm_tree(e->scratch);
    free(e->out_lb.data);
    free(e->err_lb.data);
    sl_buf_free(&e->init_error_body);
    free(e);
}

static void on_exit_event(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct env *e = arg;
    struct sl_runtime *rt = e->rt;
    siginfo_t si = {0};
    if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) != 0 || si.si_pid == 0)
        return;
    pthread_mutex_lock(&rt->mu);
    sl_loop_unwatch(l, fd);
    close(fd);
    e->pidfd = -1;
    e->sb.pidfd = -1;
    e->pid = -1; /* reaped: its number may be reused, never signal it again */
    /* Whatever it wrote last is still in the pipes. */
    drain_output(e);
    char why[96];
    if (si.si_code == CLD_EXITED)
        snprintf(why, sizeof(why), "exit status %d", si.si_status);
    else
        snprintf(why, sizeof(why), "signal: %s",
                 si.si_status == SIGKILL ? "killed" : strsignal(si.si_status));
    struct call *c = e->call;
    bool was_init = e->state == ENV_INIT;
    if (c && !c->delivered && !was_init) {
        /* A warm runtime that exits after answering, before asking for
         * this call (which AWS would hand only to a runtime in /next):
         * the call goes to a new environment instead. */
        struct fn_state *fs = e->fs;
        e->call = NULL;
        c->env = NULL;
        /* The call keeps the environment's slot for the next one. */
        e->slot = false;
        c->slot = true;
        env_set_state(e, ENV_DEAD);
        sl_debug("runtime", "environment of %s ended (%s) before its next call", e->fn.name, why);
        env_free(e);
        env_spawn(rt, fs, c);
        pthread_mutex_unlock(&rt->mu);
        return;
    }
    if (c) {
        env_logf(e, "RequestId: %s Error: Runtime exited with error: %s", c->inv->request_id, why);
        if (was_init) {
            env_logf(e, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError "
                        "Type: Runtime.ExitError",
                     (double)(sl_loop_now_ms() - e->spawned_ms));
            e->init_reported = true;
        }
        bool oom = si.si_code != CLD_EXITED && si.si_status == SIGKILL &&
                   sl_sandbox_oom_killed(&e->sb);
        call_fail(c, oom ? "Runtime.OutOfMemory" : "Runtime.ExitError",
                  "RequestId: %s Error: Runtime exited with error: %s", c->inv->request_id,
                  why);
        env_end_call(e, true, false);
    }
    env_set_state(e, ENV_DEAD);
    sl_debug("runtime", "environment of %s ended (%s)", e->fn.name, why);
    env_free(e);
    pthread_mutex_unlock(&rt->mu);
}

/* The interpreter for a managed runtime: python3.X if installed, else
 * python3 (a warning goes to the function's log). */
static int interpreter(struct sl_runtime *rt, const char *runtime, char *path, size_t n,
                       char *warning, size_t wn)
{
    warning[0] = '\0';
    if (strncmp(runtime, "python", 6) == 0) {
        snprintf(path, n, "/usr/bin/%s", runtime);
        if (access(path, X_OK) == 0)
            return 0;
        if (rt->cfg.strict_runtimes)
            return SL_ENOTFOUND;
        snprintf(path, n, "/usr/bin/python3");
        snprintf(warning, wn,
                 "WARNING: %s is not installed here; running on the machine's python3 (%s)",
                 runtime, "/usr/bin/python3");
        return access(path, X_OK) == 0 ? 0 : SL_ENOTFOUND;
    }
    if (strncmp(runtime, "nodejs", 6) == 0) {
        snprintf(path, n, "/usr/bin/node");
        if (access(path, X_OK) != 0)
            return SL_ENOTFOUND;
        if (atoi(runtime + 6) != atoi(rt->node_version)) { /* "nodejs22.x" -> 22 */
            if (rt->cfg.strict_runtimes)
                return SL_ENOTFOUND;
            snprintf(warning, wn,
                     "WARNING: %.32s is not installed here; running on the machine's node v%s "
                     "(/usr/bin/node)",
                     runtime, rt->node_version[0] ? rt->node_version : "?");
        }
        return 0;
    }
    return SL_EINVAL;
}

/* Builds the environment variables of an environment; caller frees. */
static char **build_env(struct env *e, const char *task_root, const char *runtime_dir)
{
    struct sl_runtime *rt = e->rt;
    const struct sl_function *fn = &e->fn;
    size_t nuser = 0;
    for (char **p = fn->env; p && *p; p++)
        nuser++;
    char **env = calloc(48 + nuser, sizeof(char *));
    if (!env)
        return NULL;
    size_t n = 0;
#define ADD(...)                                      \
    do {                                              \
        char *s_ = NULL;                              \
        if (asprintf(&s_, __VA_ARGS__) >= 0 && s_) \
            env[n++] = s_;                            \
    } while (0)
    /* User variables first: the reserved ones below cannot be overridden
     * (CreateFunction refuses them anyway). */
    for (char **p = fn->env; p && *p; p++)
        ADD("%s", *p);
    ADD("AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", e->port);
    ADD("_HANDLER=%s", fn->handler);
    ADD("LAMBDA_TASK_ROOT=%s", task_root);
    ADD("LAMBDA_RUNTIME_DIR=%s", runtime_dir);
    if (strncmp(fn->runtime, "provided", 8) != 0)
        ADD("AWS_EXECUTION_ENV=AWS_Lambda_%s", fn->runtime);
    ADD("AWS_REGION=%s", fn->region);
    ADD("AWS_DEFAULT_REGION=%s", fn->region);
    ADD("AWS_LAMBDA_FUNCTION_NAME=%s", fn->name);
    ADD("AWS_LAMBDA_FUNCTION_VERSION=%s", fn->version);
    ADD("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%u", fn->memory_mb);
    ADD("AWS_LAMBDA_LOG_GROUP_NAME=%s", fn->log_group);
    ADD("AWS_LAMBDA_LOG_STREAM_NAME=%s", e->stream);
    ADD("AWS_LAMBDA_INITIALIZATION_TYPE=on-demand");
    ADD("AWS_ACCESS_KEY_ID=%s", "ASIASLUICE00000000000");
    ADD("AWS_SECRET_ACCESS_KEY=%s", "sluice-function-secret");
    ADD("AWS_SESSION_TOKEN=%s", "sluice-function-session");
    ADD("AWS_ENDPOINT_URL=%s", rt->endpoint);
    ADD("AWS_XRAY_CONTEXT_MISSING=LOG_ERROR");
    ADD("TZ=:UTC");
    ADD("LANG=en_US.UTF-8");
    ADD("PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin");
    ADD("LD_LIBRARY_PATH=/lib64:/usr/lib64:%s:%s/lib:%s:%s/lib:/opt/lib", runtime_dir,
        runtime_dir, task_root, task_root);
    ADD("HOME=/tmp");
    ADD("PYTHONUNBUFFERED=1");
    ADD("PYTHONDONTWRITEBYTECODE=1");
    ADD("NODE_PATH=/opt/nodejs/node_modules:%s/node_modules", task_root);
#undef ADD
    env[n] = NULL;
    return env;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/*
 * Starts an environment for fn and binds c to it. 0, or fails c (with the
 * error a caller sees) and returns an error code.
 */
static int env_spawn(struct sl_runtime *rt, struct fn_state *fs, struct call *c)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e) {
        call_fail(c, "Runtime.Unknown", "RequestId: %s Error: out of memory", c->inv->request_id);
        call_wake(c);
        return SL_ENOMEM;
    }
    e->rt = rt;
    e->fs = fs;
    e->fn = c->fn;
    e->fn.env = NULL;
    e->pid = -1;
    e->pidfd = e->out_fd = e->err_fd = e->listen_fd = -1;
    e->sb.pid = -1;
    e->sb.pidfd = -1;
    e->sb.peak_fd = -1;
    e->state = ENV_DEAD;
    sl_buf_init(&e->init_error_body, 1 << 20);
    /* Log stream: YYYY/MM/DD/[$LATEST]<32 hex>. */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    uint8_t rnd[16];
    char hex[33];
    sl_random(rnd, sizeof(rnd));
    sl_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(e->stream, sizeof(e->stream), "%04d/%02d/%02d/[%s]%s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, c->fn.version, hex);
    e->next = rt->envs;
    rt->envs = e;

    /* The Runtime API listener. */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    e->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (e->listen_fd < 0 || bind(e->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) ||
        listen(e->listen_fd, 16) || getsockname(e->listen_fd, (struct sockaddr *)&sin, &sl) ||
        sl_loop_watch(rt->cfg.loop, e->listen_fd, EPOLLIN, on_listen, e)) {
        if (e->listen_fd >= 0)
            close(e->listen_fd);
        e->listen_fd = -1;
        call_fail(c, "Runtime.Unknown", "RequestId: %s Error: cannot start the Runtime API",
                  c->inv->request_id);
        env_free(e);
        call_wake(c);
        return SL_EIO;
    }
    e->port = ntohs(sin.sin_port);

    /* What to run, named as the environment sees it: /var/task and
     * /var/runtime inside the sandbox's root, the host paths without. */
    char exe[1100], script[1100], warning[256] = "";
    const char *argv[4] = {NULL};
    const char *task_root = rt->isolate ? "/var/task" : c->fn.code_dir;
    const char *runtime_dir = rt->isolate ? "/var/runtime" : rt->runtimes_dir;
    if (strncmp(c->fn.runtime, "provided", 8) == 0) {
        char host[1100];
        snprintf(host, sizeof(host), "%s/bootstrap", c->fn.code_dir);
        if (access(host, X_OK) != 0) {
            call_fail(c, "Runtime.InvalidEntrypoint",
                      "RequestId: %s Error: Couldn't find valid bootstrap(s): "
                      "[/var/task/bootstrap /opt/bootstrap]",
                      c->inv->request_id);
            env_free(e);
            call_wake(c);
            return SL_ENOTFOUND;
        }
        snprintf(exe, sizeof(exe), "%s/bootstrap", task_root);
        argv[0] = exe;
    } else {
        int rc = interpreter(rt, c->fn.runtime, exe, sizeof(exe), warning, sizeof(warning));
        if (rc) {
            call_fail(c, "Runtime.InvalidRuntime",
                      "RequestId: %s Error: runtime %s is not installed on this machine",
                      c->inv->request_id, c->fn.runtime);
            env_free(e);
            call_wake(c);
            return rc;
        }
        bool python = strncmp(c->fn.runtime, "python", 6) == 0;
        snprintf(script, sizeof(script), "%s/%s", runtime_dir,
                 python ? "python/bootstrap.py" : "node/bootstrap.js");
        int a = 0;
        argv[a++] = exe;
        if (python)
            argv[a++] = "-S"; /* the bootstrap sets sys.path up itself */
        argv[a++] = script;
    }
    /* Everything the child needs is built before the clone. */
    e->fn.env = c->fn.env;
    char **envp = build_env(e, task_root, runtime_dir);
    e->fn.env = NULL;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    if (!envp || pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
        free_strv(envp);
        call_fail(c, "Runtime.Unknown", "RequestId: %s Error: cannot set up the environment",
                  c->inv->request_id);
        env_free(e);
        call_wake(c);
        return SL_EIO;
    }
    char name[40];
    uint8_t idb[8];
    sl_random(idb, sizeof(idb));
    sl_hex_encode(idb, sizeof(idb), name);
    snprintf(e->scratch, sizeof(e->scratch), "%s/%s", rt->scratch_dir, name);
    struct sl_sandbox_spec spec = {
        .group = rt->group,
        .spawner = rt->spawner,
        .name = name,
        .scratch = e->scratch,
        .code_dir = c->fn.code_dir,
        .runtimes_dir = rt->runtimes_dir,
        .memory_mb = c->fn.memory_mb ? c->fn.memory_mb : 128,
        .ephemeral_mb = c->fn.ephemeral_mb ? c->fn.ephemeral_mb : 512,
        .isolate = rt->isolate,
    };
    e->spawned_ms = sl_loop_now_ms();
    struct sl_err serr = {0};
    int src = sl_sandbox_spawn(&e->sb, &spec, argv, envp, outp[1], errp[1], &serr);
    free_strv(envp);
    close(outp[1]);
    close(errp[1]);
    if (src) {
        close(outp[0]);
        close(errp[0]);
        sl_warn("runtime", "cannot start an environment of %s: %s", c->fn.name, serr.msg);
        call_fail(c, "Runtime.Unknown", "RequestId: %s Error: cannot start the runtime",
                  c->inv->request_id);
        env_free(e);
        call_wake(c);
        return SL_EIO;
    }
    e->pid = e->sb.pid;
    e->pidfd = e->sb.pidfd;
    e->out_fd = outp[0];
    e->err_fd = errp[0];
    fcntl(e->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(e->err_fd, F_SETFL, O_NONBLOCK);
    sl_loop_watch(rt->cfg.loop, e->out_fd, EPOLLIN, on_output, e);
    sl_loop_watch(rt->cfg.loop, e->err_fd, EPOLLIN, on_output, e);
    if (e->pidfd >= 0)
        sl_loop_watch(rt->cfg.loop, e->pidfd, EPOLLIN, on_exit_event, e);
    if (e->sb.missing[0]) {
        char w[256];
        snprintf(w, sizeof(w), "WARNING: this environment runs without: %s (the kernel refused "
                               "them); it is limited by rlimits only there",
                 e->sb.missing);
        env_log(e, w, strlen(w));
    }
    e->call = c;
    c->env = e;
    env_set_state(e, ENV_INIT); /* takes the call's slot */
    if (warning[0])
        env_log(e, warning, strlen(warning));
    call_nudge(c); /* bound: its caller's deadline is the init limit now */
    sl_debug("runtime", "started environment of %s (pid %d, Runtime API port %u)", c->fn.name,
             (int)e->pid, e->port);
    return 0;
}


/* ---- invocation entry ---------------------------------------------------- */

static void throttle(struct call *c, const char *reason)
{
    snprintf(c->inv->throttle_reason, sizeof(c->inv->throttle_reason), "%s", reason);
    c->inv->result = SL_INVOKE_THROTTLED;
    call_wake(c);
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
        call_fail(c, "Runtime.Unknown", "RequestId: %s Error: Sluice is shutting down",
                  c->inv->request_id);
        call_wake(c);
        return true;
    }
    struct fn_state *fs = fn_state(rt, c->fn.key, true);
    if (!fs) {
        snprintf(c->inv->message, sizeof(c->inv->message), "out of memory");
        c->inv->result = SL_INVOKE_FAILED;
        call_wake(c);
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
    /* A warm environment of this revision, one waiting in /next first. */
    struct env *pick = NULL;
    for (struct env *e = rt->envs; e; e = e->next) {
        if (e->fs != fs || e->state != ENV_IDLE || e->stale ||
            strcmp(e->fn.revision, c->fn.revision) != 0)
            continue;
        if (!pick || (!pick->parked && e->parked))
            pick = e;
        if (pick->parked)
            break;
    }
    if (pick) {
        pick->call = c;
        c->env = pick;
        env_set_state(pick, ENV_BUSY); /* takes the call's slot */
        /* Until the runtime asks for it, the call's own timeout bounds the
         * wait (a runtime that never calls /next again must not hold it). */
        pick->bound_ms = sl_loop_now_ms();
        env_deliver(pick, direct);
        call_nudge(c); /* (none on the caller's own thread) */
        return true;
    }
    if (direct)
        return false;
    /* Environments of an older revision are not reused: end them idle. */
    for (struct env *e = rt->envs; e; e = e->next) {
        if (e->fs == fs && strcmp(e->fn.revision, c->fn.revision) != 0) {
            e->stale = true;
            if (e->state == ENV_IDLE) {
                env_set_state(e, ENV_DEAD);
                env_kill(e);
            }
        }
    }
    env_spawn(rt, fs, c);
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

void sl_invocation_init(struct sl_invocation *inv)
{
    memset(inv, 0, sizeof(*inv));
    sl_buf_init(&inv->response, MAX_RESPONSE + 4096);
    sl_buf_init(&inv->log, LOG_TAIL_MAX + 4096);
}

void sl_invocation_close(struct sl_invocation *inv)
{
    sl_buf_free(&inv->response);
    sl_buf_free(&inv->log);
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

/* A caller's connection after it is done with it: back to the loop (or
 * on to the next call), or closed when its environment is gone. */
static void conn_release(struct conn *conn)
{
    if (!conn || conn->dead || conn->owner != CONN_CALLER)
        return;
    conn_process(conn); /* read but not yet served */
    if (conn->dead || conn->owner != CONN_CALLER)
        return;
    if (!conn->e || conn->broken)
        conn_close(conn);
    else
        conn_hand_on(conn);
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
            conn_flush(own);
        }
        bool ready = false;
        if (peek) {
            size_t had = own->in_len;
            conn_read(own);
            ready = own->in_len > had || own->broken;
        }
        if (!ready && spin && !conn_pending(own)) {
            int64_t until = sl_time_mono_ns() + spin;
            do {
                size_t had = own->in_len;
                conn_read(own);
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
                pf[1].events = POLLIN | (conn_pending(own) ? POLLOUT : 0);
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
                conn_flush(own);
                if (!own->broken)
                    conn_read(own);
            }
        }
        pthread_mutex_lock(&rt->mu);
        if (c->done)
            break;
        if (ready) {
            conn_service(own, false); /* serves what was read */
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
    conn_release(own);
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
    struct sl_runtime *rt = c->rt;
    if (c->timer && sl_loop_is_current(l)) /* (else the loop has stopped) */
        sl_loop_timer_cancel(l, c->timer);
    c->timer = NULL;
    if (c->slot)
        sl_governor_release(rt->cfg.governor, c->fn.key);
    c->slot = false;
    c->cb(c->inv, c->cb_arg);
    pthread_mutex_lock(&rt->mu);
    bool last = --c->refs == 0;
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
 * connection goes back to the loop, which reads the answer.
 */
static void call_detach(struct call *c, sl_invoke_cb cb, void *arg)
{
    struct sl_runtime *rt = c->rt;
    c->async = true;
    c->refs = 1;
    c->cb = cb;
    c->cb_arg = arg;
    c->inv->defer_settle = false;
    c->inv->settle = NULL;
    c->fn.env = NULL; /* the caller's; a bound call starts no environment */
    struct conn *own = c->own;
    c->own = NULL;
    if (own && !own->dead && own->owner == CONN_CALLER) {
        own->held = false;
        conn_flush(own);
    }
    conn_release(own); /* (may end c: cb then runs from the loop) */
    if (!c->done)
        call_nudge(c);
    rt->callers--;
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
        call_detach(c, cb, arg);
        pthread_mutex_unlock(&rt->mu);
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
        env_flush_end(conn->e);
    pthread_mutex_unlock(&rt->mu);
    /* The runtime's 202, sent without the lock; then whatever it sent
     * meanwhile. */
    conn->held = false;
    conn_flush(conn);
    pthread_mutex_lock(&rt->mu);
    conn_service(conn, false);
    if (!conn->dead && conn->owner == CONN_CALLER)
        conn_hand_on(conn);
    pthread_mutex_unlock(&rt->mu);
}

/* Ends a function's environments once idle. */
void sl_runtime_forget(struct sl_runtime *rt, const char *key)
{
    pthread_mutex_lock(&rt->mu);
    for (struct env *e = rt->envs; e; e = e->next) {
        if (strcmp(e->fs->key, key) != 0)
            continue;
        e->stale = true;
        if (e->state == ENV_IDLE) {
            env_set_state(e, ENV_DEAD);
            env_kill(e);
        }
    }
    pthread_mutex_unlock(&rt->mu);
}

static void watch_conns(struct sl_loop *l, void *arg)
{
    struct sl_runtime *rt = arg;
    rt->watching = sl_loop_watch(l, rt->epfd, EPOLLIN, on_conns, rt) == 0;
}

int sl_runtime_new(struct sl_runtime **out, const struct sl_runtime_config *cfg,
                   struct sl_err *err)
{
    struct sl_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    rt->cfg = *cfg;
    snprintf(rt->runtimes_dir, sizeof(rt->runtimes_dir), "%s", cfg->runtimes_dir);
    snprintf(rt->scratch_dir, sizeof(rt->scratch_dir), "%s", cfg->scratch_dir);
    snprintf(rt->endpoint, sizeof(rt->endpoint), "%s", cfg->endpoint_url);
    rt->cfg.runtimes_dir = rt->runtimes_dir;
    rt->cfg.scratch_dir = rt->scratch_dir;
    rt->cfg.endpoint_url = rt->endpoint;
    if (!rt->cfg.idle_reap_s)
        rt->cfg.idle_reap_s = 300;
    if (sl_mkdirs(rt->scratch_dir, 0711)) {
        int e = errno;
        free(rt);
        return sl_errf(err, SL_EIO, "cannot create %s: %s", cfg->scratch_dir, strerror(e));
    }
    /* Held for a few microseconds at a time: waiters spin briefly before
     * they sleep, which saves a futex wake on most invokes. */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&rt->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    rt->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (rt->epfd < 0 || sl_loop_call(rt->cfg.loop, watch_conns, rt) || !rt->watching) {
        int e = errno;
        if (rt->epfd >= 0)
            close(rt->epfd);
        pthread_mutex_destroy(&rt->mu);
        free(rt);
        return sl_errf(err, SL_EIO, "cannot watch Runtime API connections: %s", strerror(e));
    }
    /* Environments left by a crash: their directories and cgroups. The
     * cgroups are named after the data directory, which one server at a
     * time owns. */
    sl_rm_tree(rt->scratch_dir);
    mkdir(rt->scratch_dir, 0711);
    char real[PATH_MAX];
    const char *where = realpath(rt->scratch_dir, real) ? real : rt->scratch_dir;
    uint8_t digest[SL_SHA256_LEN];
    sl_sha256(where, strlen(where), digest);
    sl_hex_encode(digest, 8, rt->group);
    sl_sandbox_sweep(rt->group, false);
    rt->isolate = sl_sandbox_probe();
    rt->spawner = sl_spawner_new(rt->group);
    cpu_set_t cpus;
    rt->spin = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 1;
    FILE *v = popen("/usr/bin/node --version 2>/dev/null", "r");
    if (v) {
        char line[32] = "";
        if (fgets(line, sizeof(line), v))
            snprintf(rt->node_version, sizeof(rt->node_version), "%s",
                     line[0] == 'v' ? line + 1 : line);
        rt->node_version[strcspn(rt->node_version, "\n")] = '\0';
        pclose(v);
    }
    if (!rt->isolate)
        sl_warn("runtime", "the kernel refuses namespaces here: function environments run "
                           "without their own root, PID and mount namespaces");
    *out = rt;
    return 0;
}

static void shutdown_all(struct sl_loop *l, void *arg)
{
    struct sl_runtime *rt = arg;
    pthread_mutex_lock(&rt->mu);
    rt->closed = true;
    while (rt->envs) {
        struct env *e = rt->envs;
        if (e->call) {
            struct call *c = e->call;
            call_fail(c, "Runtime.Unknown", "RequestId: %s Error: Sluice is shutting down",
                      c->inv->request_id);
            e->call = NULL;
            c->env = NULL;
            call_wake(c);
        }
        env_kill(e);
        if (e->pid > 0)
            waitpid(e->pid, NULL, 0);
        env_free(e);
    }
    if (rt->watching)
        sl_loop_unwatch(l, rt->epfd);
    rt->watching = false;
    free_zombies(rt);
    pthread_mutex_unlock(&rt->mu);
}

void sl_runtime_shutdown(struct sl_runtime *rt)
{
    if (!rt)
        return;
    pthread_mutex_lock(&rt->mu);
    bool closed = rt->closed;
    pthread_mutex_unlock(&rt->mu);
    if (!closed)
        sl_loop_call(rt->cfg.loop, shutdown_all, rt);
}

void sl_runtime_free(struct sl_runtime *rt)
{
    if (!rt)
        return;
    sl_runtime_shutdown(rt);
    sl_spawner_free(rt->spawner);
    sl_sandbox_sweep(rt->group, true);
    free_zombies(rt); /* the callers' last connections */
    close(rt->epfd);
    while (rt->fns) {
        struct fn_state *f = rt->fns;
        rt->fns = f->next;
        free(f);
    }
    pthread_mutex_destroy(&rt->mu);
    free(rt);
}
