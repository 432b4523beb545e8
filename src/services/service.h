/*
 * services — what a service handler sees of a request once the front door
 * has authenticated and routed it: the HTTP request, the account and region
 * it acts in, its request id, and the body already decoded (aws-chunked
 * framing removed) and verified against its signed hash when it ends.
 *
 * A service answers in begin() (no body needed, or an error), or sets
 * body/end to take the body: body() gets the decoded bytes, end() runs once
 * the body is complete and verified, abort() when the request fails after
 * begin (bad payload, broken connection) so the service can drop what it
 * staged.
 *
 * May call: core, http, aws, store.
 */
#ifndef SL_SERVICE_H
#define SL_SERVICE_H

#include "aws/aws.h"
#include "core/core.h"
#include "http/http.h"
#include "store/store.h"

struct sl_app {
    struct sl_store *store;
    const char *data_dir;
    time_t started;
    unsigned account_concurrency; /* Lambda's account concurrency limit */
    struct sl_lambda *lambda;     /* the Lambda service's state */
    struct sl_s3 *s3;             /* the S3 service's state */
    double time_scale;            /* --time-scale: AWS's platform delays are divided by it */
    struct sl_targets *targets;   /* delivery by ARN (engine/targets.h) */
};

struct sl_svc_request {
    struct sl_http_request *http;
    struct sl_app *app;
    const struct sl_aws_service *svc;
    enum sl_aws_protocol protocol;
    char request_id[40];
    char account[16];
    char region[64];
    /* Set by the service in begin() when it takes the body. */
    int (*body)(struct sl_svc_request *q, const char *data, size_t n);
    void (*end)(struct sl_svc_request *q);
    void (*abort)(struct sl_svc_request *q);
    void *state; /* the service's; freed by abort/end or state_free */
    void (*state_free)(struct sl_svc_request *q);
    /* A body taken whole by sl_svc_take_body(). */
    struct sl_buf body_buf;
    size_t body_cap;
    bool body_too_big; /* more than body_cap arrived; the rest was dropped */
};

/*
 * Takes the request body into q->body_buf, up to cap bytes, and runs done
 * once it is complete and verified. A body over cap is drained and
 * dropped, and done finds q->body_too_big set (each service answers that
 * with its own error).
 */
void sl_svc_take_body(struct sl_svc_request *q, size_t cap, void (*done)(struct sl_svc_request *q));

/* A service's entry point. */
typedef void (*sl_service_begin_fn)(struct sl_svc_request *q);

/* Answers q with an error in its protocol's shape (see sl_aws_error). */
#define sl_svc_error(q, status, code, extra, ...)                                          \
    sl_aws_error((q)->http, (q)->protocol, status, code, (q)->request_id, extra, __VA_ARGS__)

#endif
