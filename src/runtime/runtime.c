/*
 * Execution environments and the Runtime API. All state here belongs to
 * the engine loop's thread: sl_runtime_invoke() posts its call to the loop
 * and waits on the call's own condition variable.
 *
 * An environment is a process group started from the function's bootstrap
 * (provided*) or Sluice's bootstrap for a managed runtime, with its own
 * libmicrohttpd daemon on 127.0.0.1:<ephemeral> driven by the loop
 * (external epoll). A runtime waiting in GET .../invocation/next is a
 * suspended connection, resumed when a call arrives. The process is
 * watched through a pidfd, its stdout and stderr through pipes.
 */
#include "runtime/runtime.h"
#include "runtime/sandbox.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define RAPI_PREFIX "/2018-06-01/runtime/"
#define MAX_RESPONSE 6291556 /* 6 MiB + 100 bytes, as AWS */
#define INIT_LIMIT_MS 10000
#define LINE_MAX_BYTES (256 * 1024)
#define LOG_TAIL_MAX (64 * 1024)
/* libmicrohttpd's memory pool per Runtime API connection: the runtime's
 * headers and read buffer (bodies stream through it). libmicrohttpd zeroes
 * the pool between requests, so a big one costs every invoke. */
#define RAPI_CONNECTION_MEMORY (16 * 1024)

struct env;

/* One invocation in flight, owned by the thread in sl_runtime_invoke(). */
struct call {
    struct sl_runtime *rt;
    struct sl_function fn; /* copy: the caller's may change */
    struct sl_invocation *inv;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
    struct env *env;
    bool delivered;
    int64_t start_ms; /* delivery */
    int64_t start_ns; /* the same, for REPORT's Duration */
};

struct fn_state {
    char key[256];
    long reserved;
    unsigned active; /* environments initialising or busy */
    struct fn_state *next;
};

enum env_state { ENV_INIT, ENV_IDLE, ENV_BUSY, ENV_DEAD };

struct linebuf {
    char *data;
    size_t len, cap;
};

struct env {
    struct sl_runtime *rt;
    struct fn_state *fs;
    struct sl_function fn; /* copy of the spec it was started with (env not kept) */
    enum env_state state;
    pid_t pid;
    int pidfd, out_fd, err_fd;
    struct linebuf out_lb, err_lb;
    struct MHD_Daemon *mhd;
    int mhd_epfd;
    uint16_t port;
    struct call *call;
    struct MHD_Connection *next_con; /* a runtime waiting in /next */
    int64_t spawned_ms;
    double init_ms; /* until the first /next; reported once */
    bool init_reported;
    bool stale; /* end once idle */
    char init_error[64]; /* /init/error's type, when it came */
    struct sl_buf init_error_body;
    struct sl_timer *timer;
    struct sl_timer *pump_timer; /* more libmicrohttpd work, due at once */
    int64_t bound_ms;            /* when the current call was bound to it */
    char stream[96];
    struct sl_sandbox sb;
    char scratch[1100]; /* the environment's directory: its root and /tmp */
    struct env *next;
};

struct sl_runtime {
    struct sl_runtime_config cfg;
    char runtimes_dir[1024], scratch_dir[1024], endpoint[256];
    struct fn_state *fns;
    struct env *envs;
    unsigned account_active;
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
    f->reserved = -1;
    f->next = rt->fns;
    rt->fns = f;
    return f;
}

static long reserved_total(struct sl_runtime *rt)
{
    long sum = 0;
    for (struct fn_state *f = rt->fns; f; f = f->next)
        if (f->reserved > 0)
            sum += f->reserved;
    return sum;
}

static unsigned unreserved_active(struct sl_runtime *rt)
{
    unsigned n = 0;
    for (struct fn_state *f = rt->fns; f; f = f->next)
        if (f->reserved < 0)
            n += f->active;
    return n;
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
    int w = snprintf(out, n,
                     "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %.0f ms\t"
                     "Memory Size: %u MB\tMax Memory Used: %u MB\t",
                     request_id, duration_ms, duration_ms < 1 ? 1 : ceil_ms(duration_ms),
                     memory_mb, max_used_mb);
    if (init_ms > 0 && w > 0 && (size_t)w < n)
        w += snprintf(out + w, n - (size_t)w, "Init Duration: %.2f ms\t", init_ms);
    return w;
}

/* Peak memory of the environment, in MB (rounded up). */
static unsigned max_memory_mb(struct env *e)
{
    return sl_sandbox_max_memory_mb(&e->sb);
}

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

/* ---- calls ------------------------------------------------------------ */

/* Records a call's result. The caller is woken by call_wake(), after
 * which c (on the caller's stack) must not be touched. Loop thread. */
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

static void call_wake(struct call *c)
{
    pthread_mutex_lock(&c->mu);
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
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

/* ---- environment lifecycle --------------------------------------------- */

static void env_kill(struct env *e)
{
    if (e->pid > 0)
        kill(-e->pid, SIGKILL);
}

static void env_set_active(struct env *e, bool active)
{
    bool was = e->state == ENV_INIT || e->state == ENV_BUSY;
    if (was == active)
        return;
    if (active) {
        e->fs->active++;
        e->rt->account_active++;
    } else {
        e->fs->active--;
        e->rt->account_active--;
    }
}

static void env_set_state(struct env *e, enum env_state s)
{
    env_set_active(e, s == ENV_INIT || s == ENV_BUSY);
    e->state = s;
}

static void cancel_timer(struct env *e)
{
    if (e->timer) {
        sl_loop_timer_cancel(e->rt->cfg.loop, e->timer);
        e->timer = NULL;
    }
}

static void on_idle_timeout(struct sl_loop *l, void *arg)
{
    (void)l;
    struct env *e = arg;
    e->timer = NULL;
    if (e->state == ENV_IDLE) {
        sl_debug("runtime", "reaping idle environment of %s", e->fn.name);
        env_set_state(e, ENV_DEAD);
        env_kill(e);
    }
}

static void drain_output(struct env *e);

/* Ends the current call of e (response, error, timeout or exit): logs END
 * and REPORT, and makes e idle unless it is dying. */
static void env_end_call(struct env *e, bool dying)
{
    struct call *c = e->call;
    if (!c)
        return;
    cancel_timer(e);
    double dur = (double)(sl_time_mono_ns() - c->start_ns) / 1e6;
    drain_output(e);
    if (!c->delivered)
        dur = 0;
    char report[512];
    c->inv->duration_ms = dur;
    env_logf(e, "END RequestId: %s", c->inv->request_id);
    sl_runtime_report_line(report, sizeof(report), c->inv->request_id, dur, e->fn.memory_mb,
                           max_memory_mb(e), e->init_reported ? 0 : e->init_ms);
    env_log(e, report, strlen(report));
    e->init_reported = true;
    e->call = NULL;
    c->env = NULL;
    call_wake(c); /* last use of c */
    if (dying || e->stale || e->state == ENV_DEAD) {
        env_set_state(e, ENV_DEAD);
        env_kill(e);
    } else {
        env_set_state(e, ENV_IDLE);
        e->timer = sl_loop_timer(e->rt->cfg.loop,
                                 sl_loop_now_ms() + (int64_t)e->rt->cfg.idle_reap_s * 1000,
                                 on_idle_timeout, e);
    }
}

static void on_call_timeout(struct sl_loop *l, void *arg)
{
    (void)l;
    struct env *e = arg;
    e->timer = NULL;
    struct call *c = e->call;
    if (!c)
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
    env_end_call(e, true);
}

static void env_deliver(struct env *e);
static int env_spawn(struct sl_runtime *rt, struct fn_state *fs, struct call *c);

/* ---- the Runtime API ---------------------------------------------------- */

enum rapi_kind { RAPI_NEXT, RAPI_RESPONSE, RAPI_ERROR, RAPI_INIT_ERROR, RAPI_UNKNOWN };

struct rapi_req {
    enum rapi_kind kind;
    char id[64];
    struct sl_buf body;
    bool too_big;
    bool suspended;
};

static enum MHD_Result send_json(struct MHD_Connection *con, unsigned status, const char *json)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *con, unsigned status, const char *type,
                                  const char *msg)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", msg, type);
    return send_json(con, status, body);
}

/* Answers a runtime waiting in /next with the env's undelivered call. */
static enum MHD_Result send_next(struct env *e, struct MHD_Connection *con)
{
    struct call *c = e->call;
    struct sl_invocation *inv = c->inv;
    const char *payload = inv->payload_len ? inv->payload : "{}";
    size_t len = inv->payload_len ? inv->payload_len : 2;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)payload, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    char deadline[32], trace[128];
    c->delivered = true;
    c->start_ns = sl_time_mono_ns();
    c->start_ms = c->start_ns / 1000000;
    int64_t dl = sl_time_now_ms() + (int64_t)e->fn.timeout_s * 1000;
    snprintf(deadline, sizeof(deadline), "%lld", (long long)dl);
    uint8_t rnd[16];
    char hex[33];
    sl_random(rnd, sizeof(rnd));
    sl_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(trace, sizeof(trace), "Root=1-%08llx-%.24s;Parent=%.16s;Sampled=0",
             (unsigned long long)(dl / 1000), hex, hex + 8);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Lambda-Runtime-Aws-Request-Id", inv->request_id);
    MHD_add_response_header(r, "Lambda-Runtime-Deadline-Ms", deadline);
    MHD_add_response_header(r, "Lambda-Runtime-Invoked-Function-Arn", e->fn.arn);
    MHD_add_response_header(r, "Lambda-Runtime-Trace-Id", trace);
    if (inv->client_context)
        MHD_add_response_header(r, "Lambda-Runtime-Client-Context", inv->client_context);
    enum MHD_Result ret = MHD_queue_response(con, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    env_logf(e, "START RequestId: %s Version: %s", inv->request_id, e->fn.version);
    cancel_timer(e);
    e->timer = sl_loop_timer(e->rt->cfg.loop, c->start_ms + (int64_t)e->fn.timeout_s * 1000,
                             on_call_timeout, e);
    return ret;
}

static enum rapi_kind classify(const char *method, const char *url, char *id, size_t idcap)
{
    if (strncmp(url, RAPI_PREFIX, strlen(RAPI_PREFIX)) != 0)
        return RAPI_UNKNOWN;
    const char *p = url + strlen(RAPI_PREFIX);
    if (strcmp(p, "invocation/next") == 0)
        return strcmp(method, "GET") == 0 ? RAPI_NEXT : RAPI_UNKNOWN;
    if (strcmp(p, "init/error") == 0)
        return strcmp(method, "POST") == 0 ? RAPI_INIT_ERROR : RAPI_UNKNOWN;
    if (strncmp(p, "invocation/", 11) == 0 && strcmp(method, "POST") == 0) {
        p += 11;
        const char *slash = strchr(p, '/');
        if (!slash || (size_t)(slash - p) >= idcap)
            return RAPI_UNKNOWN;
        /* libmicrohttpd has decoded the path already. */
        memcpy(id, p, (size_t)(slash - p));
        id[slash - p] = '\0';
        if (strcmp(slash, "/response") == 0)
            return RAPI_RESPONSE;
        if (strcmp(slash, "/error") == 0)
            return RAPI_ERROR;
    }
    return RAPI_UNKNOWN;
}

/* A call's result posted by the runtime (response or error). */
static enum MHD_Result rapi_post_result(struct env *e, struct MHD_Connection *con,
                                        struct rapi_req *q)
{
    struct call *c = e->call;
    if (!c || !c->delivered || strcmp(c->inv->request_id, q->id) != 0)
        return send_error(con, 400, "InvalidRequestID", "Invalid request ID");
    if (q->too_big) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Response payload size exceeded maximum allowed payload "
                                   "size (%d bytes).",
                 MAX_RESPONSE);
        call_fail(c, "Function.ResponseSizeTooLarge", "%s", msg);
        env_end_call(e, false);
        return send_error(con, 413, "RequestEntityTooLarge", msg);
    }
    if (q->kind == RAPI_RESPONSE) {
        call_finish(c, SL_INVOKE_OK, NULL, q->body.data, q->body.len);
    } else {
        const char *t =
            MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Lambda-Runtime-Function-Error-Type");
        (void)t; /* kept for the REPORT's error type once logged */
        call_finish(c, SL_INVOKE_FUNCTION_ERROR, "Unhandled", q->body.data, q->body.len);
    }
    env_end_call(e, false);
    return send_json(con, 202, "{\"status\":\"OK\"}");
}

static enum MHD_Result rapi_access(void *cls, struct MHD_Connection *con, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    struct env *e = cls;
    struct rapi_req *q = *con_cls;
    if (!q) {
        q = calloc(1, sizeof(*q));
        if (!q)
            return MHD_NO;
        q->kind = classify(method, url, q->id, sizeof(q->id));
        sl_buf_init(&q->body, MAX_RESPONSE);
        *con_cls = q;
        /* Answering in this first call would be an "early response", after
         * which libmicrohttpd closes the connection: answer in the next. */
        return MHD_YES;
    }
    if (*upload_size) {
        if (!q->too_big && sl_buf_append(&q->body, upload_data, *upload_size))
            q->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    switch (q->kind) {
    case RAPI_NEXT:
        if (e->state == ENV_DEAD)
            return send_error(con, 500, "InternalServerError", "Internal Server Error");
        if (e->state == ENV_INIT) {
            /* The first /next: the runtime has initialised. */
            e->init_ms = (double)(sl_time_mono_ns() / 1000 - e->spawned_ms * 1000) / 1000.0;
            sl_sandbox_limit_cpu(&e->sb, e->fn.memory_mb ? e->fn.memory_mb : 128);
            env_set_state(e, e->call ? ENV_BUSY : ENV_IDLE);
            cancel_timer(e);
            if (e->call && e->call->delivered == false && e->fn.timeout_s) {
                /* deliver below */
            }
        }
        if (e->call && !e->call->delivered) {
            q->suspended = false;
            e->next_con = NULL;
            return send_next(e, con);
        }
        if (e->call && e->call->delivered)
            /* /next while an event is out and unanswered: refused, and the
             * event stays with the runtime (its timeout still holds). */
            return send_error(con, 403, "InvalidStateTransition",
                              "State transition failed: the current event has no response yet.");
        if (e->state == ENV_IDLE && !e->timer)
            e->timer = sl_loop_timer(e->rt->cfg.loop,
                                     sl_loop_now_ms() + (int64_t)e->rt->cfg.idle_reap_s * 1000,
                                     on_idle_timeout, e);
        if (e->next_con)
            /* One runtime, one /next at a time (a second would be left
             * suspended, and libmicrohttpd cannot stop with it). */
            return send_error(con, 403, "InvalidStateTransition",
                              "State transition failed: a /next request is already waiting.");
        q->suspended = true;
        e->next_con = con;
        MHD_suspend_connection(con);
        return MHD_YES;
    case RAPI_RESPONSE:
    case RAPI_ERROR:
        return rapi_post_result(e, con, q);
    case RAPI_INIT_ERROR: {
        if (e->state != ENV_INIT)
            return send_error(con, 403, "InvalidStateTransition",
                              "State transition from Ready to InitError failed for runtime.");
        const char *t =
            MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Lambda-Runtime-Function-Error-Type");
        snprintf(e->init_error, sizeof(e->init_error), "%s", t ? t : "Runtime.Unknown");
        sl_buf_reset(&e->init_error_body);
        sl_buf_append(&e->init_error_body, q->body.data ? q->body.data : "", q->body.len);
        enum MHD_Result ret = send_json(con, 202, "{\"status\":\"OK\"}");
        env_logf(e, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError "
                    "Type: %s",
                 (double)(sl_loop_now_ms() - e->spawned_ms), e->init_error);
        if (e->call) {
            call_finish(e->call, SL_INVOKE_FUNCTION_ERROR, "Unhandled", e->init_error_body.data,
                        e->init_error_body.len);
            e->init_reported = true;
            env_end_call(e, true);
        } else {
            env_set_state(e, ENV_DEAD);
            env_kill(e);
        }
        return ret;
    }
    case RAPI_UNKNOWN:
        break;
    }
    return send_error(con, 404, "NotFound", "No such Runtime API endpoint");
}

static void rapi_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct env *e = cls;
    struct rapi_req *q = *con_cls;
    if (e->next_con == con)
        e->next_con = NULL;
    if (q) {
        sl_buf_free(&q->body);
        free(q);
    }
    *con_cls = NULL;
}

static void rapi_notify(void *cls, struct MHD_Connection *con, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        /* Answers go out at once, not after Nagle's delay. */
        int one = 1;
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
}

/* Lets libmicrohttpd do all the work it has: a resumed connection is
 * only queued by one MHD_run and served by the next, which libmicrohttpd
 * asks for with a zero timeout. */
static void mhd_pump(struct env *e);

static void on_pump_timer(struct sl_loop *l, void *arg)
{
    (void)l;
    struct env *e = arg;
    e->pump_timer = NULL;
    mhd_pump(e);
}

static void mhd_pump(struct env *e)
{
    /* libmicrohttpd's sockets are edge-triggered: stopping while it still
     * has work (a zero timeout) would leave that work until the next event,
     * which may never come. After a good many rounds the rest goes to a
     * timer due at once, so that other work on the loop gets its turn. */
    for (int i = 0; i < 64; i++) {
        MHD_run(e->mhd);
        MHD_UNSIGNED_LONG_LONG t = 1;
        if (MHD_get_timeout(e->mhd, &t) != MHD_YES || t > 0)
            return;
    }
    if (!e->pump_timer)
        e->pump_timer = sl_loop_timer(e->rt->cfg.loop, sl_loop_now_ms(), on_pump_timer, e);
}

static void on_mhd(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    mhd_pump(arg);
}

/* Hands e's undelivered call to a runtime waiting in /next, if any. */
static void env_deliver(struct env *e)
{
    if (e->next_con) {
        struct MHD_Connection *con = e->next_con;
        e->next_con = NULL;
        MHD_resume_connection(con);
        mhd_pump(e);
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
    ssize_t n = read(fd, buf, sizeof(buf));
    struct linebuf *lb = fd == e->out_fd ? &e->out_lb : &e->err_lb;
    if (n > 0) {
        linebuf_feed(e, lb, buf, (size_t)n, false);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    linebuf_feed(e, lb, "", 0, true);
    sl_loop_unwatch(l, fd);
    close(fd);
    if (fd == e->out_fd)
        e->out_fd = -1;
    else
        e->err_fd = -1;
}

static void env_free(struct env *e)
{
    struct sl_runtime *rt = e->rt;
    struct sl_loop *l = rt->cfg.loop;
    cancel_timer(e);
    for (struct env **p = &rt->envs; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
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
    if (e->mhd) {
        e->state = ENV_DEAD;
        if (e->next_con) {
            /* A suspended connection must be resumed before the stop;
             * it is answered 500 (the environment is gone). */
            MHD_resume_connection(e->next_con);
            e->next_con = NULL;
            mhd_pump(e);
        }
        sl_loop_unwatch(l, e->mhd_epfd);
        MHD_stop_daemon(e->mhd);
    }
    if (e->pump_timer) /* after the last pump */
        sl_loop_timer_cancel(l, e->pump_timer);
    free(e->out_lb.data);
    free(e->err_lb.data);
    sl_buf_free(&e->init_error_body);
    free(e);
}

static void on_exit_event(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct env *e = arg;
    siginfo_t si = {0};
    if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) != 0 || si.si_pid == 0)
        return;
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
        struct sl_runtime *rt = e->rt;
        struct fn_state *fs = e->fs;
        e->call = NULL;
        c->env = NULL;
        env_set_state(e, ENV_DEAD);
        sl_debug("runtime", "environment of %s ended (%s) before its next call", e->fn.name, why);
        env_free(e);
        env_spawn(rt, fs, c);
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
        env_end_call(e, true);
    }
    env_set_state(e, ENV_DEAD);
    sl_debug("runtime", "environment of %s ended (%s)", e->fn.name, why);
    env_free(e);
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
    e->pidfd = e->out_fd = e->err_fd = e->mhd_epfd = -1;
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
    /* Turbo: libmicrohttpd reads optimistically and skips shutdown() on
     * close; with one runtime on loopback that is safe and saves ~10 us a
     * round trip. */
    e->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, rapi_access, e, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_NOTIFY_COMPLETED,
        rapi_completed, e, MHD_OPTION_NOTIFY_CONNECTION, rapi_notify, e,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)RAPI_CONNECTION_MEMORY, MHD_OPTION_END);
    if (!e->mhd) {
        call_fail(c, "Runtime.Unknown", "RequestId: %s Error: cannot start the Runtime API",
                  c->inv->request_id);
        env_free(e);
        call_wake(c);
        return SL_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(e->mhd, MHD_DAEMON_INFO_BIND_PORT);
    e->port = di ? di->port : 0;
    di = MHD_get_daemon_info(e->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    e->mhd_epfd = di ? di->epoll_fd : -1;
    if (e->mhd_epfd < 0 || sl_loop_watch(rt->cfg.loop, e->mhd_epfd, EPOLLIN, on_mhd, e)) {
        call_fail(c, "Runtime.Unknown", "RequestId: %s Error: cannot watch the Runtime API",
                  c->inv->request_id);
        env_free(e);
        call_wake(c);
        return SL_EIO;
    }

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
    env_set_state(e, ENV_INIT);
    e->call = c;
    c->env = e;
    if (warning[0])
        env_log(e, warning, strlen(warning));
    /* Init has 10 s; the call's own timeout starts at delivery. */
    e->timer = sl_loop_timer(rt->cfg.loop, e->spawned_ms + INIT_LIMIT_MS, on_call_timeout, e);
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

static void start_call(struct sl_loop *l, void *arg)
{
    (void)l;
    struct call *c = arg;
    struct sl_runtime *rt = c->rt;
    if (rt->closed) {
        call_fail(c, "Runtime.Unknown", "RequestId: %s Error: Sluice is shutting down",
                  c->inv->request_id);
        call_wake(c);
        return;
    }
    struct fn_state *fs = fn_state(rt, c->fn.key, true);
    if (!fs) {
        snprintf(c->inv->message, sizeof(c->inv->message), "out of memory");
        c->inv->result = SL_INVOKE_FAILED;
        call_wake(c);
        return;
    }
    if (c->fn.reserved != fs->reserved)
        fs->reserved = c->fn.reserved;
    const char *reason = sl_governor_admit(fs->reserved, fs->active, rt->cfg.account_limit,
                                           reserved_total(rt), unreserved_active(rt));
    if (reason) {
        throttle(c, reason);
        return;
    }
    /* A warm environment of this revision. */
    for (struct env *e = rt->envs; e; e = e->next) {
        if (e->fs != fs || e->state != ENV_IDLE || e->stale ||
            strcmp(e->fn.revision, c->fn.revision) != 0)
            continue;
        cancel_timer(e);
        env_set_state(e, ENV_BUSY);
        e->call = c;
        c->env = e;
        /* Until the runtime asks for it, the call's own timeout bounds the
         * wait (a runtime that never calls /next again must not hold it). */
        e->timer = sl_loop_timer(rt->cfg.loop,
                                 sl_loop_now_ms() + (int64_t)(c->fn.timeout_s ? c->fn.timeout_s : 3) *
                                                        1000,
                                 on_call_timeout, e);
        e->bound_ms = sl_loop_now_ms();
        env_deliver(e);
        return;
    }
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

int sl_runtime_invoke(struct sl_runtime *rt, const struct sl_function *fn,
                      struct sl_invocation *inv)
{
    struct call c = {.rt = rt, .fn = *fn, .inv = inv};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cond, NULL);
    /* The spec's variables are copied into the child's environment on
     * the loop thread while this thread waits: the caller's stay valid. */
    int rc = sl_loop_post(rt->cfg.loop, start_call, &c);
    if (!rc) {
        pthread_mutex_lock(&c.mu);
        while (!c.done)
            pthread_cond_wait(&c.cond, &c.mu);
        pthread_mutex_unlock(&c.mu);
    }
    pthread_cond_destroy(&c.cond);
    pthread_mutex_destroy(&c.mu);
    return rc;
}

struct forget_args {
    struct sl_runtime *rt;
    char key[256];
    long reserved;
};

static void do_forget(struct sl_loop *l, void *arg)
{
    (void)l;
    struct forget_args *a = arg;
    for (struct env *e = a->rt->envs; e; e = e->next) {
        if (strcmp(e->fs->key, a->key) != 0)
            continue;
        e->stale = true;
        if (e->state == ENV_IDLE) {
            env_set_state(e, ENV_DEAD);
            env_kill(e);
        }
    }
    free(a);
}

static void do_set_reserved(struct sl_loop *l, void *arg)
{
    (void)l;
    struct forget_args *a = arg;
    struct fn_state *fs = fn_state(a->rt, a->key, true);
    if (fs)
        fs->reserved = a->reserved;
    free(a);
}

static void post_key(struct sl_runtime *rt, const char *key, long reserved, sl_task_cb cb)
{
    struct forget_args *a = calloc(1, sizeof(*a));
    if (!a)
        return;
    a->rt = rt;
    snprintf(a->key, sizeof(a->key), "%s", key);
    a->reserved = reserved;
    if (sl_loop_post(rt->cfg.loop, cb, a))
        free(a);
}

void sl_runtime_forget(struct sl_runtime *rt, const char *key)
{
    post_key(rt, key, 0, do_forget);
}

void sl_runtime_set_reserved(struct sl_runtime *rt, const char *key, long reserved)
{
    post_key(rt, key, reserved, do_set_reserved);
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
    /* Environments left by a crash. */
    sl_rm_tree(rt->scratch_dir);
    mkdir(rt->scratch_dir, 0711);
    rt->isolate = sl_sandbox_probe();
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
    (void)l;
    struct sl_runtime *rt = arg;
    rt->closed = true;
    while (rt->envs) {
        struct env *e = rt->envs;
        if (e->call) {
            struct call *c = e->call;
            call_fail(c, "Runtime.Unknown", "RequestId: %s Error: Sluice is shutting down",
                      c->inv->request_id);
            e->call = NULL;
            call_wake(c);
        }
        env_kill(e);
        if (e->pid > 0)
            waitpid(e->pid, NULL, 0);
        env_free(e);
    }
}

void sl_runtime_shutdown(struct sl_runtime *rt)
{
    if (!rt || rt->closed)
        return;
    sl_loop_call(rt->cfg.loop, shutdown_all, rt);
}

void sl_runtime_free(struct sl_runtime *rt)
{
    if (!rt)
        return;
    sl_runtime_shutdown(rt);
    while (rt->fns) {
        struct fn_state *f = rt->fns;
        rt->fns = f->next;
        free(f);
    }
    free(rt);
}
