/*
 * The HTTP server: libmicrohttpd in epoll mode with a small pool of
 * threads, each serving its share of the connections. A handler that
 * waits (for the store's group commit, a function's answer, a message)
 * suspends its request with sl_http_wait() rather than block its
 * thread; sl_http_resume() puts it back in its thread's epoll set, and
 * libmicrohttpd calls the handler again.
 *
 * A request's waiting state is guarded by the server's lock: the resume
 * may come from another thread before the handler's callback has
 * returned (and before libmicrohttpd may be told to suspend), in which
 * case the callback goes on with resume() itself.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* libmicrohttpd's per-connection memory must stay above S3's 8 KiB header
 * limit so that Sluice, not libmicrohttpd, answers an oversized request
 * (S3's error is what a client expects); it also holds the read buffer.
 * It is zeroed between requests, so bigger costs every request. */
#define CONNECTION_MEMORY (32 * 1024)
#define MAX_HEADERS 200
#define FDS_RESERVED 512   /* of the open-file limit, for all but connections */
#define STOP_WAIT_MS 30000 /* for waiting requests to be resumed, at stop */

struct sl_http_server {
    struct MHD_Daemon *daemon;
    struct sl_http_handler handler;
    uint16_t port;
    pthread_mutex_t lock; /* guards what follows, and requests' waiting state */
    pthread_cond_t idle;  /* nothing in flight, nothing suspended */
    pthread_cond_t woken; /* a request that waits on its thread was woken */
    unsigned inflight;
    unsigned suspended; /* requests libmicrohttpd holds suspended */
    bool stopping;      /* no more suspending: a request that waits holds its thread */
    bool quiesced;
};

struct request {
    struct sl_http_request pub; /* first: handlers see only this */
    struct sl_http_server *server;
    struct MHD_Connection *con;
    bool started;
    bool body_stopped;
    bool queued;
    /* Under server->lock: */
    bool waiting;   /* sl_http_wait() was called; resume() has not run */
    bool suspended; /* libmicrohttpd holds it suspended */
    bool woken;     /* sl_http_resume() was called: resume() runs next */
    int64_t start_ns;
};

const char *sl_http_header(const struct sl_http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

const char *sl_http_param(const struct sl_http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return r->params[i].value;
    return NULL;
}

bool sl_http_has_body(const struct sl_http_request *r)
{
    return (r->has_content_length && r->content_length > 0) || r->chunked;
}

bool sl_http_has_param(const struct sl_http_request *r, const char *name)
{
    return sl_http_param(r, name) != NULL;
}

int sl_http_set_header(struct sl_http_request *r, const char *name, const char *value)
{
    struct sl_http_response *resp = &r->resp;
    for (size_t i = 0; i < resp->nheaders; i++) {
        if (strcasecmp(resp->headers[i].name, name) == 0) {
            resp->headers[i].value = sl_arena_strdup(&r->arena, value);
            return resp->headers[i].value ? 0 : SL_ENOMEM;
        }
    }
    if (resp->nheaders == resp->capheaders) {
        size_t cap = resp->capheaders ? 2 * resp->capheaders : 16;
        struct sl_http_header *h = sl_arena_alloc(&r->arena, cap * sizeof(*h));
        if (!h)
            return SL_ENOMEM;
        if (resp->nheaders)
            memcpy(h, resp->headers, resp->nheaders * sizeof(*h));
        resp->headers = h;
        resp->capheaders = cap;
    }
    const char *n = sl_arena_strdup(&r->arena, name);
    const char *v = sl_arena_strdup(&r->arena, value);
    if (!n || !v)
        return SL_ENOMEM;
    resp->headers[resp->nheaders++] = (struct sl_http_header){n, v};
    return 0;
}

void sl_http_set_status(struct sl_http_request *r, int status)
{
    r->resp.status = status;
}

void sl_http_send_fd(struct sl_http_request *r, int status, int fd, uint64_t off, uint64_t len)
{
    if (r->resp.fd >= 0)
        close(r->resp.fd);
    r->resp.status = status;
    r->resp.fd = fd;
    r->resp.fd_offset = off;
    r->resp.fd_len = len;
    r->resp.ready = true;
}

void sl_http_send(struct sl_http_request *r, int status)
{
    if (r->resp.fd >= 0) {
        close(r->resp.fd);
        r->resp.fd = -1;
    }
    r->resp.status = status;
    r->resp.ready = true;
}

int sl_http_parse_query(struct sl_arena *a, const char *q, struct sl_http_param **out,
                        size_t *count)
{
    size_t n = 0, cap = 1;
    for (const char *p = q; *p; p++)
        if (*p == '&')
            cap++;
    struct sl_http_param *params = sl_arena_alloc(a, cap * sizeof(*params));
    if (!params)
        return SL_ENOMEM;
    struct sl_buf b;
    sl_buf_init(&b, 0);
    const char *p = q;
    int rc = 0;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            sl_buf_reset(&b);
            if ((rc = sl_uri_decode(&b, p, nlen, true)))
                goto fail;
            params[n].name = sl_arena_strndup(a, b.data ? b.data : "", b.len);
            sl_buf_reset(&b);
            if (eq && (rc = sl_uri_decode(&b, eq + 1, len - nlen - 1, true)))
                goto fail;
            if (b.data && strlen(b.data) != b.len) {
                rc = SL_EINVAL; /* %00 */
                goto fail;
            }
            params[n].value = sl_arena_strndup(a, b.data ? b.data : "", b.len);
            params[n].has_value = eq != NULL;
            if (!params[n].name || !params[n].value) {
                rc = SL_ENOMEM;
                goto fail;
            }
            n++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    *out = params;
    *count = n;
fail:
    sl_buf_free(&b);
    return rc;
}

/* Called by libmicrohttpd with the raw request URI as soon as the request
 * line is read; what it returns becomes the request's context. */
static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
    struct sl_http_server *s = cls;
    struct request *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return NULL;
    rq->server = s;
    rq->con = con;
    rq->start_ns = sl_time_mono_ns();
    sl_arena_init(&rq->pub.arena, 0);
    rq->pub.raw_uri = sl_arena_strdup(&rq->pub.arena, uri ? uri : "/");
    sl_buf_init(&rq->pub.resp.body, 0);
    rq->pub.resp.fd = -1;
    pthread_mutex_lock(&s->lock);
    s->inflight++;
    pthread_mutex_unlock(&s->lock);
    return rq;
}

static void request_free(struct request *rq)
{
    if (rq->pub.handler_cleanup)
        rq->pub.handler_cleanup(&rq->pub);
    if (rq->pub.resp.fd >= 0)
        close(rq->pub.resp.fd);
    sl_buf_free(&rq->pub.resp.body);
    sl_arena_free(&rq->pub.arena);
    free(rq);
}

/*
 * A request that waits as its connection closes (libmicrohttpd drops a
 * resumed connection when it stops before calling the handler again): its
 * resume() still runs, once what it waits for ends, so that nothing it
 * started outlives it. Its answer goes nowhere.
 */
static void finish_waiting(struct request *rq)
{
    struct sl_http_server *s = rq->server;
    if (!rq->waiting) /* (set and cleared on this thread alone) */
        return;
    pthread_mutex_lock(&s->lock);
    while (rq->waiting) {
        while (!rq->woken)
            pthread_cond_wait(&s->woken, &s->lock);
        rq->waiting = rq->woken = false;
        pthread_mutex_unlock(&s->lock);
        s->handler.resume(s->handler.ctx, &rq->pub);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)con;
    (void)toe;
    struct sl_http_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    finish_waiting(rq);
    *con_cls = NULL;
    request_free(rq);
    pthread_mutex_lock(&s->lock);
    if (--s->inflight == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

struct header_walk {
    struct sl_http_request *r;
    size_t cap;
    bool overflow;
};

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    struct header_walk *w = cls;
    struct sl_http_request *r = w->r;
    if (r->nheaders == w->cap) {
        w->overflow = true;
        return MHD_NO;
    }
    r->headers[r->nheaders].name = key;
    r->headers[r->nheaders].value = value ? value : "";
    r->header_bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    r->nheaders++;
    return MHD_YES;
}

/* Fills path, query and headers from what libmicrohttpd parsed. */
static int request_parse(struct request *rq, struct MHD_Connection *con, const char *method)
{
    struct sl_http_request *r = &rq->pub;
    r->method = sl_arena_strdup(&r->arena, method);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                  r->remote_ip, sizeof(r->remote_ip));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  r->remote_ip, sizeof(r->remote_ip));
    const char *uri = r->raw_uri;
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    r->path_raw = sl_arena_strndup(&r->arena, uri, plen);
    r->query_raw = sl_arena_strdup(&r->arena, q ? q + 1 : "");
    if (!r->method || !r->path_raw || !r->query_raw)
        return SL_ENOMEM;
    struct sl_buf b;
    sl_buf_init(&b, 0);
    int rc = sl_uri_decode(&b, r->path_raw, plen, false);
    if (!rc && b.data && strlen(b.data) != b.len)
        rc = SL_EINVAL; /* a %00 would cut the path short */
    r->path = rc ? r->path_raw : sl_arena_strndup(&r->arena, b.data ? b.data : "", b.len);
    sl_buf_free(&b);
    if (!r->path)
        return SL_ENOMEM;
    r->bad_uri = rc != 0;
    if (sl_http_parse_query(&r->arena, r->query_raw, &r->params, &r->nparams)) {
        r->params = NULL;
        r->nparams = 0;
        r->bad_uri = true;
    }
    struct header_walk w = {.r = r, .cap = MAX_HEADERS};
    r->headers = sl_arena_alloc(&r->arena, MAX_HEADERS * sizeof(*r->headers));
    if (!r->headers)
        return SL_ENOMEM;
    MHD_get_connection_values(con, MHD_HEADER_KIND, header_cb, &w);
    if (w.overflow)
        r->header_bytes = SIZE_MAX / 2;
    const char *cl = sl_http_header(r, "Content-Length");
    for (size_t i = 0; cl && i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, "Content-Length") == 0 &&
            strcmp(r->headers[i].value, cl) != 0)
            r->bad_framing = true;
    if (cl) {
        char *end;
        unsigned long long v = strtoull(cl, &end, 10);
        if (*cl >= '0' && *cl <= '9' && *end == '\0') {
            r->content_length = v;
            r->has_content_length = true;
        }
    }
    const char *te = sl_http_header(r, "Transfer-Encoding");
    r->chunked = te && strcasestr(te, "chunked");
    return 0;
}

static enum MHD_Result queue_response(struct request *rq, struct MHD_Connection *con)
{
    struct sl_http_response *resp = &rq->pub.resp;
    struct MHD_Response *mr;
    if (resp->fd >= 0) {
        mr = MHD_create_response_from_fd_at_offset64(resp->fd_len, resp->fd,
                                                       resp->fd_offset);
        if (mr)
            resp->fd = -1; /* libmicrohttpd closes it */
    } else {
        size_t len = resp->body.len;
        char *data = sl_buf_steal(&resp->body, NULL);
        mr = MHD_create_response_from_buffer_with_free_callback(len, data, free);
        if (!mr)
            free(data);
    }
    if (!mr)
        return MHD_NO;
    for (size_t i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(mr, resp->headers[i].name, resp->headers[i].value);
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    rq->queued = true;
    sl_debug("http", "%s %s %d %.3f ms", rq->pub.method, rq->pub.path_raw, resp->status,
             (double)(sl_time_mono_ns() - rq->start_ns) / 1e6);
    return ret;
}

void sl_http_wait(struct sl_http_request *r)
{
    struct request *rq = (struct request *)r;
    pthread_mutex_lock(&rq->server->lock);
    rq->waiting = true;
    rq->woken = false;
    pthread_mutex_unlock(&rq->server->lock);
}

void sl_http_resume(struct sl_http_request *r)
{
    struct request *rq = (struct request *)r;
    struct sl_http_server *s = rq->server;
    pthread_mutex_lock(&s->lock);
    rq->woken = true;
    pthread_cond_broadcast(&s->woken); /* (a wait on its thread: answer(), finish_waiting()) */
    if (rq->suspended) {
        rq->suspended = false;
        MHD_resume_connection(rq->con);
        if (--s->suspended == 0)
            pthread_cond_broadcast(&s->idle);
    }
    pthread_mutex_unlock(&s->lock);
}

/* The handler's end(), or its resume() once woken. */
static void run_handler(struct request *rq, bool woken)
{
    struct sl_http_server *s = rq->server;
    if (!woken) {
        s->handler.end(s->handler.ctx, &rq->pub);
        return;
    }
    pthread_mutex_lock(&s->lock);
    rq->waiting = rq->woken = false;
    pthread_mutex_unlock(&s->lock);
    s->handler.resume(s->handler.ctx, &rq->pub);
}

/* Sends the answer; or suspends a request that waits, unless it was
 * woken meanwhile: then its resume() runs now. */
static enum MHD_Result answer(struct request *rq, struct MHD_Connection *con)
{
    struct sl_http_server *s = rq->server;
    for (;;) {
        if (rq->pub.resp.ready) {
            /* A handler that waited may answer without a wake after all
             * (what it waited for ended at once): it waits no more. */
            if (rq->waiting) {
                pthread_mutex_lock(&s->lock);
                rq->waiting = false;
                pthread_mutex_unlock(&s->lock);
            }
            return queue_response(rq, con);
        }
        pthread_mutex_lock(&s->lock);
        if (!rq->waiting) {
            pthread_mutex_unlock(&s->lock);
            return MHD_NO; /* no answer: the connection closes */
        }
        if (!rq->woken && !s->stopping) {
            MHD_suspend_connection(con);
            rq->suspended = true;
            s->suspended++;
            pthread_mutex_unlock(&s->lock);
            return MHD_YES;
        }
        /* Woken already; or the server stops, and libmicrohttpd must hold
         * no request suspended then: the wait keeps this thread. */
        while (!rq->woken)
            pthread_cond_wait(&s->woken, &s->lock);
        pthread_mutex_unlock(&s->lock);
        run_handler(rq, true);
    }
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)url;
    (void)version;
    struct sl_http_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return MHD_NO;
    struct sl_http_request *r = &rq->pub;
    if (!rq->started) {
        rq->started = true;
        if (request_parse(rq, con, method))
            return MHD_NO;
        s->handler.begin(s->handler.ctx, r);
        /* (A handler should wait in end(); one that waits here is
         * suspended all the same, and its answer goes out early.) */
        if (rq->waiting)
            return answer(rq, con);
        /* An answer queued on this first call is an "early response" to
         * libmicrohttpd, which then closes the connection. That is right
         * for a refused upload (the client need not send its body), but a
         * request without a body is answered on the next call, keeping
         * the connection alive. One whose body's end is ambiguous is
         * answered now and the connection closes, whatever its first
         * Content-Length said: what follows is not a request. */
        if (r->resp.ready && r->bad_framing)
            sl_http_set_header(r, "Connection", "close");
        if (r->resp.ready && (sl_http_has_body(r) || r->bad_framing))
            return queue_response(rq, con);
        return MHD_YES;
    }
    if (rq->queued) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (!rq->body_stopped && s->handler.body &&
            s->handler.body(s->handler.ctx, r, upload_data, n))
            rq->body_stopped = true;
        r->body_received += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->waiting) /* called again: sl_http_resume() resumed it */
        return answer(rq, con);
    if (!r->resp.ready)
        run_handler(rq, false);
    return answer(rq, con);
}

/* ---- what cannot be HTTP ------------------------------------------------ */

/* RFC 9110's tchar: what a method is made of. */
static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool sl_http_could_start_request(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == '\r' || p[i] == '\n')) /* empty lines before it (RFC 9112 2.2) */
        i++;
    size_t method = i;
    while (i < n && tchar((unsigned char)p[i]))
        i++;
    if (i == n)
        return true; /* a method so far: the rest is to come */
    return i > method && p[i] == ' ';
}

/*
 * libmicrohttpd 0.9.75 waits for the end of the request line before it
 * looks at it, so bytes that cannot be HTTP (a TLS handshake, binary
 * noise) hold their connection until the idle timeout. The listening
 * socket defers each accept until the client's first bytes have come
 * (TCP_DEFER_ACCEPT), so that they are here when a connection starts: if
 * they cannot begin a request line, the client gets a 400 at once and the
 * connection is closed (libmicrohttpd then reads its end).
 */
static void notify_cb(void *cls, struct MHD_Connection *con, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    int fd = ci->connect_fd;
    char first[64];
    ssize_t n = recv(fd, first, sizeof(first), MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0 || sl_http_could_start_request(first, (size_t)n))
        return;
    /* What came is read (so that the close is not a reset that could
     * lose the answer), then the answer, then the end. */
    char sink[4096];
    for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++) {
        /* (at most 64 KiB: a client that keeps sending gets a reset) */
    }
    static const char answer[] = "HTTP/1.1 400 Bad Request\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "Content-Length: 42\r\n"
                                 "Connection: close\r\n\r\n"
                                 "This is not the start of an HTTP request.\n";
    if (send(fd, answer, sizeof(answer) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the client has gone: nothing to tell it */
    }
    shutdown(fd, SHUT_RDWR);
}

/* Two threads per CPU, four at least: a handler may still take its
 * thread for a moment (a file's fdatasync, a read of the store). */
static unsigned pool_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 2 ? (unsigned)(n > 32 ? 64 : 2 * n) : 4;
}

/* What the open-file limit leaves once the rest of Sluice has its share
 * (the store, environments' pipes and sockets). */
static unsigned max_connections(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return 1024;
    rlim_t n = rl.rlim_cur > 2 * FDS_RESERVED ? rl.rlim_cur - FDS_RESERVED : rl.rlim_cur / 2;
    return n > 65536 ? 65536 : (unsigned)n;
}

int sl_http_server_start(struct sl_http_server **out, const struct sl_http_config *cfg,
                         const struct sl_http_handler *h, struct sl_err *err)
{
    struct sl_http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    s->handler = *h;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    pthread_cond_init(&s->woken, NULL);

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, cfg->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(cfg->port);
    } else if (inet_pton(AF_INET6, cfg->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        free(s);
        return sl_errf(err, SL_EINVAL, "listen address %s is not a numeric IPv4 or IPv6 address",
                       cfg->host);
    }
    unsigned threads = pool_threads(), limit = max_connections();
    unsigned per_client = cfg->per_client_limit ? cfg->per_client_limit : limit / 2;
    s->daemon = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, access_cb, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, s, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s,
        MHD_OPTION_NOTIFY_CONNECTION, notify_cb, s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->idle_timeout_s ? cfg->idle_timeout_s : 60),
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_client ? per_client : 1,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_END);
    if (!s->daemon) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->idle);
        pthread_cond_destroy(&s->woken);
        free(s);
        return sl_errf(err, SL_EIO, "cannot listen on %s:%u (address in use?)", cfg->host,
                       cfg->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    /* Accepted once the first bytes are here (notify_cb), or dropped when
     * none come within the idle timeout. */
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    int defer = (int)(cfg->idle_timeout_s ? cfg->idle_timeout_s : 60);
    if (info)
        setsockopt(info->listen_fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
    *out = s;
    return 0;
}

uint16_t sl_http_server_port(const struct sl_http_server *s)
{
    return s->port;
}

void sl_http_server_quiesce(struct sl_http_server *s, unsigned grace_ms)
{
    if (!s || s->quiesced)
        return;
    s->quiesced = true;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    struct timespec deadline = sl_time_deadline(CLOCK_REALTIME, grace_ms);
    pthread_mutex_lock(&s->lock);
    while (s->inflight > 0) {
        if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline))
            break;
    }
    unsigned left = s->inflight;
    pthread_mutex_unlock(&s->lock);
    if (left)
        sl_warn("http", "stopping with %u request(s) still in flight after %u ms", left,
                grace_ms);
}

void sl_http_server_stop(struct sl_http_server *s, unsigned grace_ms)
{
    if (!s)
        return;
    sl_http_server_quiesce(s, grace_ms);
    /* libmicrohttpd must hold no request suspended when it stops: from now
     * on a request that waits keeps its thread, and those suspended are
     * waited for (whatever they wait for ends as the services stop). */
    struct timespec deadline = sl_time_deadline(CLOCK_REALTIME, STOP_WAIT_MS);
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    while (s->suspended > 0) {
        if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline))
            break;
    }
    unsigned left = s->suspended;
    pthread_mutex_unlock(&s->lock);
    if (left) {
        /* What they wait for never ended: leave them (and the daemon) to
         * the process's exit rather than stop it under them. */
        sl_error("http", "%u request(s) still waiting at stop", left);
        return;
    }
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->idle);
    pthread_cond_destroy(&s->woken);
    free(s);
}
