/*
 * The Runtime API connection server: each environment's listener, its
 * connections (one owner at a time: the loop, nobody while parked, or a
 * call's thread), HTTP/1.1 over them (parsed by rapi.c), and the API's
 * requests: /next delivers a call's event, /response and /error end it,
 * /init/error fails the environment.
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

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

static void flush_corked(struct sl_loop *l, void *arg);

/*
 * What the loop answers goes out at the end of its round (under rt->mu,
 * as everything of a connection the loop owns or has parked): a runtime
 * that sends its result and its next /next together gets the result's
 * 202 and its next event together, in one write and one wake-up, when
 * the round that read them also started the next call.
 */
static bool conn_cork(struct conn *c)
{
    struct sl_runtime *rt = c->rt;
    if (c->corked)
        return true;
    if (c->owner == CONN_CALLER || !sl_loop_is_current(rt->cfg.loop))
        return false;
    if (!rt->corked && sl_loop_defer(rt->cfg.loop, flush_corked, rt))
        return false;
    c->corked = true;
    c->cork_next = rt->corked;
    rt->corked = c;
    return true;
}

static void uncork(struct conn *c)
{
    for (struct conn **p = &c->rt->corked; *p; p = &(*p)->cork_next) {
        if (*p == c) {
            *p = c->cork_next;
            break;
        }
    }
    c->corked = false;
}

/* Queues iov for sending, writing what the socket takes at once (or at
 * the end of the loop's round). */
static void conn_sendv(struct conn *c, const struct iovec *iov, int n)
{
    size_t total = 0, sent = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (c->broken || c->dead)
        return;
    if (c->out.len == c->out_off && !c->held && !conn_cork(c)) {
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
void sl_rt_conn_flush(struct conn *c)
{
    if (c->held || c->corked)
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

bool sl_rt_conn_pending(const struct conn *c)
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
void sl_rt_conn_close(struct conn *c)
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
    if (c->corked)
        uncork(c);
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

void sl_rt_free_zombies(struct sl_runtime *rt)
{
    while (rt->zombies) {
        struct conn *c = rt->zombies;
        rt->zombies = c->next;
        free(c);
    }
}

/* Gives c back to the loop: armed again for what it waits for (corked
 * answers go at the end of the round, without waiting to be writable). */
static void conn_arm(struct conn *c)
{
    c->owner = CONN_LOOP;
    bool out = sl_rt_conn_pending(c) && !c->corked;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT | (out ? EPOLLOUT : 0),
                             .data.ptr = c};
    if (epoll_ctl(c->rt->epfd, EPOLL_CTL_MOD, c->fd, &ev))
        sl_rt_conn_close(c);
}

/* What the loop answered goes out (under rt->mu). A connection a caller
 * took since has its answers sent by the caller. */
static void send_corked(struct sl_runtime *rt)
{
    while (rt->corked) {
        struct conn *c = rt->corked;
        rt->corked = c->cork_next;
        c->corked = false;
        if (c->owner == CONN_CALLER)
            continue;
        sl_rt_conn_flush(c);
        if (c->broken || (c->closing && !sl_rt_conn_pending(c)))
            sl_rt_conn_close(c);
        else if (c->owner == CONN_LOOP && sl_rt_conn_pending(c))
            conn_arm(c); /* the rest once it is writable */
    }
}

/* The end of the loop's round. */
static void flush_corked(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_runtime *rt = arg;
    pthread_mutex_lock(&rt->mu);
    send_corked(rt);
    sl_rt_free_zombies(rt);
    pthread_mutex_unlock(&rt->mu);
}

void sl_rt_conns_uncork(struct sl_runtime *rt)
{
    send_corked(rt);
    sl_loop_undefer(rt->cfg.loop, flush_corked, rt);
}

/* Answers a runtime in /next on c with e's undelivered call. */
static void send_next(struct env *e, struct conn *conn)
{
    struct call *c = e->call;
    struct sl_invocation *inv = c->inv;
    const char *payload = inv->payload_len ? inv->payload : "{}";
    sl_rt_env_flush_end(e); /* the last call's lines come first */
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
    sl_rt_env_log(e, start, t.len);
    sl_rt_call_nudge(c); /* its deadline is now the function's timeout */
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
        sl_rt_env_set_state(e, e->call ? ENV_BUSY : ENV_IDLE);
        if (!e->reap_timer && sl_loop_is_current(e->rt->cfg.loop))
            e->reap_timer = sl_loop_timer(
                e->rt->cfg.loop, sl_loop_now_ms() + (int64_t)e->rt->cfg.idle_reap_s * 1000,
                sl_rt_on_reap, e);
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
        sl_rt_call_fail(c, "Function.ResponseSizeTooLarge", "%s", msg);
        sl_rt_env_end_call(e, false, false);
        return;
    }
    /* A caller reading its own answer may settle later: after its client
     * has the result. Otherwise the runtime hears first. */
    bool defer = c->inv->defer_settle && !c->inv->want_log && c->own == conn &&
                 pthread_equal(pthread_self(), c->tid);
    conn->held = defer;
    reply(conn, 202, "{\"status\":\"OK\"}", false);
    sl_rt_call_finish(c, kind == RAPI_RESPONSE ? SL_INVOKE_OK : SL_INVOKE_FUNCTION_ERROR,
                kind == RAPI_RESPONSE ? NULL : "Unhandled", body, len);
    if (defer)
        c->inv->settle = conn;
    sl_rt_env_end_call(e, false, defer);
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
    sl_rt_env_logf(e, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s",
             (double)(sl_loop_now_ms() - e->spawned_ms), e->init_error);
    if (e->call) {
        sl_rt_call_finish(e->call, SL_INVOKE_FUNCTION_ERROR, "Unhandled", e->init_error_body.data,
                    e->init_error_body.len);
        e->init_reported = true;
        sl_rt_env_end_call(e, true, false);
    } else {
        sl_rt_env_set_state(e, ENV_DEAD);
        sl_rt_env_kill(e);
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
void sl_rt_conn_read(struct conn *c)
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
void sl_rt_conn_service(struct conn *c, bool read)
{
    if (sl_rt_conn_pending(c))
        sl_rt_conn_flush(c);
    if (read && !c->broken && !c->closing)
        sl_rt_conn_read(c);
    conn_process(c);
    if (sl_rt_conn_pending(c) && !c->broken)
        sl_rt_conn_flush(c);
    if (c->in_len == 0 && c->in_cap > CONN_KEEP) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    /* A runtime that hung up after its request is still answered above;
     * a connection closing after its answer goes once that is sent. */
    if (c->broken || !c->e || (c->closing && !sl_rt_conn_pending(c)))
        sl_rt_conn_close(c);
}

/* The loop's side: connections of every environment, one-shot. */
void sl_rt_on_conns(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    struct sl_runtime *rt = arg;
    struct epoll_event evs[32];
    /* Only the loop frees connections (sl_rt_free_zombies, below), and one that
     * fired is the loop's: its socket is read before taking the lock. */
    int n = epoll_wait(rt->epfd, evs, SL_ARRAY_LEN(evs), 0);
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        if (c->dead || c->owner != CONN_LOOP)
            continue;
        sl_rt_conn_flush(c);
        if (!c->broken && !c->closing)
            sl_rt_conn_read(c);
    }
    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        if (c->dead || c->owner != CONN_LOOP)
            continue;
        sl_rt_conn_service(c, false);
        if (!c->dead && c->owner == CONN_LOOP)
            conn_arm(c);
    }
    sl_rt_free_zombies(rt);
    pthread_mutex_unlock(&rt->mu);
}

/* Whether a connection to e's Runtime API comes from e: from a socket of
 * its user. No other environment runs as that user, and no other process
 * on the host either (the range is Sluice's), so no one else can take its
 * events or answer for it. Where the kernel cannot tell (no sock_diag),
 * everyone may, as Sluice's log said at start-up. */
static bool from_env(struct env *e, const struct sockaddr_in *peer, socklen_t plen)
{
    int diag = e->rt->diag_fd;
    if (diag < 0)
        return true;
    uid_t uid = (uid_t)-1;
    struct sockaddr_in local = {.sin_family = AF_INET,
                                .sin_port = htons(e->port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (plen == sizeof(*peer) && peer->sin_family == AF_INET &&
        sl_peer_uid(diag, &local, peer, &uid) == 0 && uid == e->uid)
        return true;
    if (!e->refused) { /* once: a stranger may knock often */
        char addr[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &peer->sin_addr, addr, sizeof(addr));
        sl_warn("runtime", "refused a connection to the Runtime API of an environment of %s from "
                           "%s:%u (user %ld): only the environment may use it",
                e->fn.name, addr, ntohs(peer->sin_port), uid == (uid_t)-1 ? -1L : (long)uid);
        e->refused = true;
    }
    return false;
}

void sl_rt_on_listen(struct sl_loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)events;
    struct env *e = arg;
    struct sl_runtime *rt = e->rt;
    pthread_mutex_lock(&rt->mu);
    int s;
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    while ((s = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        if (!from_env(e, &peer, plen)) {
            close(s);
            plen = sizeof(peer);
            continue;
        }
        plen = sizeof(peer);
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
void sl_rt_env_deliver(struct env *e, bool direct)
{
    struct conn *conn = e->parked;
    if (!conn)
        return;
    e->parked = NULL;
    if (direct) {
        if (conn->corked) /* the caller sends what the loop left */
            uncork(conn);
        conn->owner = CONN_CALLER;
        e->call->own = conn;
    }
    /* Unless its runtime has yet to ask: whoever reads that delivers. */
    if (conn->asked)
        send_next(e, conn);
    if (direct)
        return;
    if (conn->broken)
        sl_rt_conn_close(conn);
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
void sl_rt_conn_hand_on(struct conn *conn)
{
    struct env *e = conn->e;
    struct call *next = e ? e->call : NULL;
    if (next && !next->delivered && !next->own && !next->async) {
        next->own = conn;
        sl_rt_call_nudge(next);
    } else if (e && !next && e->state == ENV_IDLE && !e->parked) {
        conn->owner = CONN_PARKED;
        conn->asked = false;
        e->parked = conn;
    } else {
        conn_arm(conn);
    }
}

/* A caller's connection after it is done with it: back to the loop (or
 * on to the next call), or closed when its environment is gone. */
void sl_rt_conn_release(struct conn *conn)
{
    if (!conn || conn->dead || conn->owner != CONN_CALLER)
        return;
    conn_process(conn); /* read but not yet served */
    if (conn->dead || conn->owner != CONN_CALLER)
        return;
    if (!conn->e || conn->broken)
        sl_rt_conn_close(conn);
    else
        sl_rt_conn_hand_on(conn);
}
