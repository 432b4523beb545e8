/*
 * The HTTP server: libmicrohttpd with a thread per connection, so that a
 * handler may block while its write waits for the store's group commit
 * without holding up other connections.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* libmicrohttpd's per-connection memory must stay above S3's 8 KiB header
 * limit so that Sluice, not libmicrohttpd, answers an oversized request
 * (S3's error is what a client expects); it also holds the read buffer.
 * It is zeroed between requests, so bigger costs every request. */
#define CONNECTION_MEMORY (32 * 1024)
#define MAX_HEADERS 200

struct sl_http_server {
    struct MHD_Daemon *daemon;
    struct sl_http_handler handler;
    uint16_t port;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned inflight;
    bool quiesced;
};

struct request {
    struct sl_http_request pub; /* first: handlers see only this */
    struct sl_http_server *server;
    bool started;
    bool body_stopped;
    bool queued;
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
    (void)con;
    struct sl_http_server *s = cls;
    struct request *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return NULL;
    rq->server = s;
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

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)con;
    (void)toe;
    struct sl_http_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return;
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
        /* An answer queued on this first call is an "early response" to
         * libmicrohttpd, which then closes the connection. That is right
         * for a refused upload (the client need not send its body), but a
         * request without a body is answered on the next call, keeping
         * the connection alive. */
        bool has_body = (r->has_content_length && r->content_length > 0) || r->chunked;
        if (r->resp.ready && has_body)
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
    if (!r->resp.ready)
        s->handler.end(s->handler.ctx, r);
    if (!r->resp.ready)
        return MHD_NO;
    return queue_response(rq, con);
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

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
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
    s->daemon = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, access_cb, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, s, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->idle_timeout_s ? cfg->idle_timeout_s : 60),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_END);
    if (!s->daemon) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->idle);
        free(s);
        return sl_errf(err, SL_EIO, "cannot listen on %s:%u (address in use?)", cfg->host,
                       cfg->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
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
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->idle);
    free(s);
}
