/*
 * http — the front door's transport: a libmicrohttpd server that turns each
 * connection's request into a struct sl_http_request (raw and decoded path,
 * query parameters, headers), streams its body to whatever the handler chose,
 * and sends back a struct sl_http_response (a buffer or a file range).
 *
 * The handler sees a request in three steps, libmicrohttpd's own: begin
 * (headers are in; answer now, or choose how to take the body), body (zero
 * or more pieces), end (the whole body is in; answer). A request whose
 * connection dies midway gets abort instead of end.
 *
 * May call: core, libmicrohttpd. Knows nothing of AWS.
 */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include "core/core.h"

struct sl_http_server;

struct sl_http_header {
    const char *name; /* as received (any case) */
    const char *value;
};

struct sl_http_param {
    const char *name;  /* decoded */
    const char *value; /* decoded; "" when the parameter had no '=' */
    bool has_value;
};

struct sl_http_response {
    int status;
    struct sl_http_header *headers; /* in the request's arena; grows */
    size_t nheaders, capheaders;
    struct sl_buf body; /* used when fd < 0 */
    int fd;             /* a file to send from (owned: closed after sending) */
    uint64_t fd_offset, fd_len;
    bool head; /* HEAD: send headers (with the real Content-Length) only */
    bool ready;
};

struct sl_http_request {
    struct sl_arena arena; /* dies with the request */
    const char *method;
    const char *raw_uri;   /* as on the wire */
    const char *path_raw;  /* percent-encoded, no query */
    const char *path;      /* decoded */
    const char *query_raw; /* without '?'; "" when none */
    struct sl_http_param *params;
    size_t nparams;
    struct sl_http_header *headers;
    size_t nheaders;
    size_t header_bytes;  /* names + values, for header-size limits */
    uint64_t content_length;
    bool has_content_length;
    bool chunked; /* Transfer-Encoding: chunked */
    bool bad_uri; /* the path or query has a malformed %-escape */
    /* Two Content-Length headers that differ (RFC 9112 6.3): where the body
     * ends is ambiguous, so the answer is 400 and the connection closes. */
    bool bad_framing;
    char remote_ip[48]; /* the client's address, "" if unknown */
    uint64_t body_received;
    struct sl_http_response resp;
    void *handler_data; /* the handler's per-request state */
    void (*handler_cleanup)(struct sl_http_request *r);
};

/*
 * The handler. begin() returns 0 once it has answered (resp.ready) or
 * chosen to read the body (set body_cb, or leave it NULL to discard the
 * body). body_cb receives the body in pieces; a non-zero return stops
 * further body_cb calls for this request (the body is drained and dropped),
 * and end() decides the answer. end() makes resp ready, or calls
 * sl_http_wait(): the request then waits without holding a thread (the
 * server's few threads serve every connection), until someone calls
 * sl_http_resume() and resume() answers.
 */
struct sl_http_handler {
    void *ctx;
    void (*begin)(void *ctx, struct sl_http_request *r);
    int (*body)(void *ctx, struct sl_http_request *r, const char *data, size_t n);
    void (*end)(void *ctx, struct sl_http_request *r);
    /* After sl_http_resume(): answers, or waits again (as end() may). */
    void (*resume)(void *ctx, struct sl_http_request *r);
};

struct sl_http_config {
    const char *host; /* numeric address to bind */
    uint16_t port;
    unsigned idle_timeout_s;
    /* Connections one client address may hold (0: half the limit), so
     * that one client cannot take them all; more are closed at accept. */
    unsigned per_client_limit;
};

/* Whether the first n bytes a client sent could begin an HTTP/1.1 request
 * (empty lines, then a method and a space, or a method so far). */
bool sl_http_could_start_request(const char *p, size_t n);

int sl_http_server_start(struct sl_http_server **out, const struct sl_http_config *cfg,
                         const struct sl_http_handler *h, struct sl_err *err);
/* The port bound (useful with port 0). */
uint16_t sl_http_server_port(const struct sl_http_server *s);
/* Stops accepting and gives in-flight requests up to grace_ms to finish.
 * Whatever a waiting request waits for must end (and resume it) before
 * sl_http_server_stop(). */
void sl_http_server_quiesce(struct sl_http_server *s, unsigned grace_ms);
/* Quiesces (if not done), then stops and frees. NULL ok. */
void sl_http_server_stop(struct sl_http_server *s, unsigned grace_ms);

/* From end() or resume(): the answer comes later. Call it before
 * starting what ends in sl_http_resume(), which may come at once. (A
 * handler that learns at once that no resume will come may still answer
 * before it returns.) */
void sl_http_wait(struct sl_http_request *r);
/* From any thread, once for each sl_http_wait(): the request's handler
 * resume() runs next, on one of the server's threads. */
void sl_http_resume(struct sl_http_request *r);

/* Whether the request has a body (a length above 0, or chunks). */
bool sl_http_has_body(const struct sl_http_request *r);

/* Request accessors. Names are case-insensitive; NULL when absent. */
const char *sl_http_header(const struct sl_http_request *r, const char *name);
const char *sl_http_param(const struct sl_http_request *r, const char *name);
bool sl_http_has_param(const struct sl_http_request *r, const char *name);

/* Response helpers. Header names and values are copied into the arena. */
int sl_http_set_header(struct sl_http_request *r, const char *name, const char *value);
void sl_http_set_status(struct sl_http_request *r, int status);
/* Marks the response ready with a body file range; takes fd. */
void sl_http_send_fd(struct sl_http_request *r, int status, int fd, uint64_t off, uint64_t len);
/* Marks the response ready with resp.body as the body. */
void sl_http_send(struct sl_http_request *r, int status);

/* Splits and decodes a query string into the arena. */
int sl_http_parse_query(struct sl_arena *a, const char *q, struct sl_http_param **out,
                        size_t *count);

#endif
