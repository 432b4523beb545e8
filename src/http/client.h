/*
 * client — outbound HTTP(S) requests, for deliveries to endpoints outside
 * Sluice (SNS's http and https subscriptions). One thread runs libcurl's
 * multi interface: requests are posted from any thread, run together, and
 * each reports its end once, on the client's thread. The thread sleeps in
 * curl_multi_poll while nothing is under way and is woken by a post.
 *
 * Only http and https are spoken; redirects are not followed (an endpoint
 * that answers 3xx has answered). Certificates are verified against the
 * system's authorities and, when given, a file of more.
 *
 * May call: core, libcurl. Knows nothing of AWS.
 */
#ifndef SL_HTTP_CLIENT_H
#define SL_HTTP_CLIENT_H

#include "core/core.h"

struct sl_http_client;

/* One request (its parts are copied by the post). */
struct sl_http_out {
    const char *method; /* "POST" */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;
    size_t body_len;
    long timeout_ms; /* the whole exchange, connection included */
};

/* The end of a request: the response's status, or 0 with what failed
 * (error: a connection refused, a timeout, an untrusted certificate; or
 * "stopped" when the client was freed first). On the client's thread. */
typedef void (*sl_http_out_cb)(void *arg, long status, const char *error);

/* ca_file: a PEM file of authorities trusted besides the system's, or
 * NULL. */
int sl_http_client_new(struct sl_http_client **out, const char *ca_file, struct sl_err *err);
/* Starts req; cb follows once (0), else an error and no call. */
int sl_http_client_post(struct sl_http_client *cl, const struct sl_http_out *req,
                        sl_http_out_cb cb, void *arg);
/* Ends the thread: requests under way end with "stopped", and later
 * posts get SL_ECLOSED. NULL ok. */
void sl_http_client_stop(struct sl_http_client *cl);
/* Stops (if not done) and frees. NULL ok. */
void sl_http_client_free(struct sl_http_client *cl);

#endif
