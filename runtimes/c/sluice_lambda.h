/*
 * sluice_lambda — the Lambda Runtime API (2018-06-01) client for native
 * `bootstrap` programs of provided, provided.al2 and provided.al2023
 * functions, in C with nothing but libc.
 *
 * A bootstrap does its initialisation, then hands a handler to
 * sl_lambda_run(), which loops for the life of the environment: it asks
 * $AWS_LAMBDA_RUNTIME_API for the next event (GET /runtime/invocation/next),
 * calls the handler, and posts what the handler answered to
 * /runtime/invocation/<id>/response, or /error with an AWS-shaped error
 * document ({"errorMessage", "errorType", "stackTrace"}). A bootstrap whose
 * initialisation fails reports it with sl_lambda_init_error() and exits.
 *
 *     static int handler(const struct sl_lambda_event *ev, struct sl_lambda_reply *r, void *ud)
 *     {
 *         if (ev->payload_len > 1000)
 *             return sl_lambda_reply_error(r, "EventTooBig", "%zu bytes", ev->payload_len);
 *         sl_lambda_reply_ref(r, ev->payload, ev->payload_len); // echo the event
 *         return 0;
 *     }
 *     int main(void) { return sl_lambda_run(handler, NULL) ? 1 : 0; }
 *
 * The transport is one HTTP/1.1 keep-alive connection (TCP_NODELAY, each
 * request sent with one sendmsg), Content-Length request bodies; responses
 * may use Content-Length, chunked transfer coding or end at EOF. The host
 * part of $AWS_LAMBDA_RUNTIME_API must be a numeric address ("127.0.0.1",
 * "[::1]") or "localhost" (Lambda and Sluice give 127.0.0.1): the library
 * does no name lookups, so that a static link needs no NSS modules.
 *
 * Not thread-safe: one thread runs the loop and the handler. The library
 * writes its own diagnostics to stderr (the function's log), each line
 * starting with "sluice_lambda: ".
 */
#ifndef SLUICE_LAMBDA_H
#define SLUICE_LAMBDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest event the library accepts; a bigger one ends the loop
 * (Lambda's synchronous payload limit is 6 MB). */
#define SL_LAMBDA_MAX_EVENT (16u << 20)

/* What a handler returns to say it failed (any non-zero value does). */
#define SL_LAMBDA_FAILED (-1)

/*
 * One invocation, as /next delivered it. Everything is owned by the
 * library: valid until the handler's reply has been posted (so a handler
 * may answer with the payload itself, see sl_lambda_reply_ref()).
 */
struct sl_lambda_event {
    const char *payload; /* the event bytes, then a NUL not counted in payload_len */
    size_t payload_len;
    const char *request_id;       /* Lambda-Runtime-Aws-Request-Id */
    int64_t deadline_ms;          /* Unix epoch milliseconds at which the invocation times out */
    const char *function_arn;     /* as the caller named it, qualifier included; "" if absent */
    const char *trace_id;         /* X-Ray trace header, also put in $_X_AMZN_TRACE_ID; "" */
    const char *client_context;   /* JSON text, or NULL when the caller sent none */
    const char *cognito_identity; /* JSON text, or NULL */
};

/* What the handler answers: filled with the sl_lambda_reply_* calls. */
struct sl_lambda_reply;

/*
 * A function's handler. Returns 0 to post the body set on reply (none set:
 * an empty response), non-zero to post an error: the one given to
 * sl_lambda_reply_error(), else {"errorType": "HandlerError"}. ud is
 * sl_lambda_run()'s.
 */
typedef int (*sl_lambda_handler_fn)(const struct sl_lambda_event *ev, struct sl_lambda_reply *reply,
                                    void *ud);

/*
 * Serves invocations with fn until the environment ends. Returns only when
 * the loop cannot go on: $AWS_LAMBDA_RUNTIME_API is missing or malformed,
 * the Runtime API is unreachable, answers /next with an error (a 500 means
 * the environment is being torn down) or sends something unreadable.
 * Returns -1 then, after saying why on stderr; the bootstrap should exit
 * non-zero. SIGPIPE is not touched: sends use MSG_NOSIGNAL.
 */
int sl_lambda_run(sl_lambda_handler_fn fn, void *ud);

/*
 * Reports a failed initialisation (POST /runtime/init/error) with an error
 * document of type and the formatted message; the invocation that started
 * the environment fails with it. Call before sl_lambda_run(), then exit.
 * 0 when the Runtime API accepted it, else -1 (said on stderr).
 */
int sl_lambda_init_error(const char *type, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The response is a copy of body (the library's buffer, reused by the next
 * invocation). 0, or -1 when out of memory (the invocation then fails
 * with Runtime.OutOfMemory if the handler still returns 0). */
int sl_lambda_reply_copy(struct sl_lambda_reply *r, const void *body, size_t len);

/* The response is body itself, not copied: it must stay valid until the
 * handler's next call (static memory, or the event's payload). */
void sl_lambda_reply_ref(struct sl_lambda_reply *r, const void *body, size_t len);

/* The response is body, a malloc()ed block the library free()s once it is
 * posted (even if the handler then fails). */
void sl_lambda_reply_take(struct sl_lambda_reply *r, void *body, size_t len);

/* Appends formatted text to the response (the library's buffer, as
 * sl_lambda_reply_copy()). 0, or -1 when out of memory. */
int sl_lambda_reply_printf(struct sl_lambda_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Makes the invocation fail with an error document of type (e.g.
 * "InvalidInput"; NULL: "HandlerError") and the formatted message, escaped
 * as JSON. Returns SL_LAMBDA_FAILED, for `return sl_lambda_reply_error(...)`. */
int sl_lambda_reply_error(struct sl_lambda_reply *r, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Milliseconds left before ev's deadline (negative once past it). */
int64_t sl_lambda_remaining_ms(const struct sl_lambda_event *ev);

#ifdef __cplusplus
}
#endif

#endif
