/*
 * rapi — the HTTP/1.1 requests of the Lambda Runtime API, parsed by hand.
 *
 * A runtime talks to Sluice over one loopback connection per environment
 * (or a few), one small request at a time. Parsing those few requests here,
 * instead of through a general server, lets the thread waiting for an
 * invocation's result read the runtime's socket itself (see runtime.c):
 * an invoke then costs two round trips and no thread hand-offs.
 *
 * Pure functions over the bytes received so far; no I/O.
 *
 * May call: core.
 */
#ifndef SL_RAPI_H
#define SL_RAPI_H

#include "core/core.h"

#define SL_RAPI_HEAD_MAX (16 * 1024) /* request line and headers */

enum sl_rapi_method { SL_RAPI_GET, SL_RAPI_POST, SL_RAPI_OTHER };

/* What a request says, once its head is complete. */
struct sl_rapi_request {
    enum sl_rapi_method method;
    char path[512];       /* percent-decoded; "" when it did not fit */
    char error_type[128]; /* Lambda-Runtime-Function-Error-Type, or "" */
    bool keep_alive;      /* the connection stays open after the answer */
    bool expect_continue; /* Expect: 100-continue */
    bool chunked;         /* Transfer-Encoding: chunked */
    size_t head_len;      /* bytes of the request line and headers */
    size_t content_length;
    size_t body_len; /* the body's length, decoded (complete requests) */
    size_t total;    /* bytes the whole request takes (complete requests) */
};

/*
 * Parses the request at the start of p[0..n), the bytes received so far.
 * Returns 1 when the whole request is there (every field set), 0 when more
 * bytes are needed (head_len is set, with the head's fields, once the head
 * is complete), or the HTTP status of a request that cannot be served: 400
 * malformed, 413 a body over body_max (the head's fields are set), 431 a
 * head over SL_RAPI_HEAD_MAX, 501 a transfer coding other than chunked.
 */
int sl_rapi_parse(const char *p, size_t n, size_t body_max, struct sl_rapi_request *rq);

/* Appends the body of a request that sl_rapi_parse() found complete in p
 * to out, chunks decoded. 0 or SL_ENOMEM (out's cap). */
int sl_rapi_body(const char *p, const struct sl_rapi_request *rq, struct sl_buf *out);

#endif
