/*
 * frontdoor — the HTTP handler of `sluice serve`: Sluice's own endpoints
 * (/_sluice/health), then SigV4 authentication, routing to the service by
 * credential scope, X-Amz-Target and path, payload verification
 * (x-amz-content-sha256, aws-chunked streams and their checksum trailers),
 * and the hand-over to the service's call (call.c). Services Sluice does
 * not implement yet answer with their protocol's own error.
 *
 * May call: everything below services.
 */
#ifndef SL_FRONTDOOR_H
#define SL_FRONTDOOR_H

#include "aws/credentials.h"
#include "aws/sessions.h"
#include "http/http.h"
#include "services/service.h"

enum sl_auth_mode {
    SL_AUTH_DEV,    /* any key, unsigned requests too; signatures parsed */
    SL_AUTH_STRICT, /* keys from the credentials file, signatures verified */
};

struct sl_frontdoor {
    struct sl_app *app;
    enum sl_auth_mode auth;
    const struct sl_credentials *creds; /* may be empty in dev mode */
    struct sl_sessions *sessions;       /* functions' session keys, or NULL */
};

/* The http handler for fd (which must outlive the server). */
void sl_frontdoor_handler(struct sl_frontdoor *fd, struct sl_http_handler *out);

/* The layer between the front door and the services (call.c), for a call
 * routed and authenticated: begin finds its operation and handler (0 to
 * take the body, else the call has its answer); body gets the decoded
 * pieces; end runs once the body is complete and verified; abort when the
 * request fails after begin; close releases what the call holds. */
int sl_call_begin(struct sl_call *c);
int sl_call_body(struct sl_call *c, const char *p, size_t n);
void sl_call_end(struct sl_call *c);
/* Answers c with an error of the given code and status in its protocol's
 * shape (fields: json members, taken; may be NULL). */
void sl_call_fault(struct sl_call *c, const char *code, int status, bool receiver,
                   const char *const *extra, json_t *fields, const char *msg);
/* A waiting call was woken: its continuation runs and answers. */
void sl_call_resume(struct sl_call *c);
/* Whether the call waits (sl_call_wait()): no answer yet. */
bool sl_call_waiting(const struct sl_call *c);
void sl_call_abort(struct sl_call *c);
void sl_call_close(struct sl_call *c);

#endif
