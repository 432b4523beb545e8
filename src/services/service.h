/*
 * services — the AWS services Sluice implements, each one folder under
 * src/services/ and one row of the service table (services.c): a const
 * struct sl_service with its model and operation handlers (generated from
 * botocore's model by tools/gen_models.py), its error table, its body
 * limits, its lifecycle hooks, the target kinds it registers, its
 * endpoints under /_sluice/ and its options. The front door routes a
 * request to its row; the layer here (call.c) decodes the input, runs the
 * operation's handler and answers in the protocol's shape, so a handler
 * receives validated input and returns output or an error.
 *
 * An operation's handler: SL_OP(lambda, GetFunction) { ... } defines
 * int sl_lambda_GetFunction(struct sl_call *c). It returns
 *   0            c->out (and c->out_payload) is the output: the layer
 *                answers with it;
 *   SL_DONE      the call has its answer (sl_call_fail(), or a service
 *                that writes its own, such as S3's object bodies);
 *   SL_LATER     the call waits (sl_call_wait(), sl_call_write()): the
 *                front door's thread goes on with other requests, and
 *                the continuation answers later;
 *   SL_E*        a failure of Sluice's: logged, and answered with the
 *                service's internal error.
 *
 * Streaming services (S3) get the call once the headers are in, before
 * the body, and take the body themselves: c->body_cb receives the
 * decoded bytes, c->end runs once the body is complete and verified (and
 * returns as a handler does), c->abort when the request fails after that.
 *
 * May call: core, http, aws, store, engine, runtime; another service only
 * through its public header.
 */
#ifndef SL_SERVICE_H
#define SL_SERVICE_H

#include <jansson.h>

#include "aws/aws.h"
#include "aws/model.h"
#include "core/core.h"
#include "engine/engine.h"
#include "engine/governor.h"
#include "engine/targets.h"
#include "http/http.h"
#include "store/store.h"

struct sl_app;
struct sl_call;
struct sl_local;

typedef int (*sl_op_fn)(struct sl_call *c);

/* Defines (or declares) the handler of operation op of service svc. */
#define SL_OP(svc, op) int sl_##svc##_##op(struct sl_call *c)
/* Declares what tools/gen_models.py generates for service svc (its folder's
 * model.gen.c): the model, and the handler of each of its operations. */
#define SL_SERVICE_TABLES(svc)                                                                     \
    extern const struct sl_service_model sl_model_##svc;                                           \
    extern const sl_op_fn sl_##svc##_handlers[]

/* A service's error table: an X-macro list of
 * X(id, "Code", status, receiver_fault) gives the enum and the rows. */
#define SL_ERROR_ENUM(id, code, status, receiver) id,
#define SL_ERROR_ROW(id, code, status, receiver) [id] = {code, status, receiver},

/* An option of `sluice serve`, declared once (Fluent Bit's config_map):
 * it drives parsing, the environment variable, the default and the help. */
struct sl_option {
    const char *flag; /* "--idle-reap"; NULL ends a list */
    const char *env;  /* "SLUICE_IDLE_REAP" */
    const char *def;  /* the default's text, or NULL */
    const char *help;
    bool boolean; /* a flag without a value ("true" when given) */
};

/* An endpoint of Sluice's own under /_sluice/ (GET and HEAD). */
struct sl_endpoint {
    const char *prefix; /* "/_sluice/lambda/code/"; NULL ends a list */
    void (*serve)(void *state, struct sl_app *app, struct sl_http_request *r);
};

/* One service: a row of the service table. */
struct sl_service {
    const char *name; /* botocore's name: the endpoint it serves (aws.h) */
    const struct sl_service_model *model;
    const sl_op_fn *handlers; /* one per model->ops entry; NULL: not implemented */
    const struct sl_aws_error *errors; /* its error table, indexed by its error ids */
    int e_internal;      /* the error of a failure of Sluice's */
    int e_validation;    /* input that fails the model's constraints */
    int e_serialization; /* input of the wrong type, or not parseable */
    int e_too_big;       /* a body over its cap */
    size_t body_cap;     /* the largest body taken whole */
    /* Optional: the cap of one operation's body, and its message (the
     * error is e_too_big). */
    size_t (*op_body_cap)(const struct sl_operation *op);
    void (*too_big_message)(const struct sl_operation *op, char *out, size_t n);
    /* Optional: checks of the input every operation shares, after the
     * model's (CloudWatch Logs' name patterns); 0, or the call has its
     * answer. */
    sl_op_fn check;
    /* Optional: a fast path for the JSON protocols, run with the body in
     * and the operation known, before the layer decodes the body (in
     * place of the decoding, the model's checks and check): it answers
     * what it recognizes whole (a well-formed request of the usual shape)
     * and returns SL_EAGAIN, untouched, for anything else, which then
     * takes the general path and gets its exact error there. */
    sl_op_fn fast;
    /* Handlers run when the headers are in and take the body themselves. */
    bool streaming;
    /* Optional, streaming: runs before routing (virtual hosts, limits); 0
     * to go on, else the call has its answer. */
    int (*prepare)(struct sl_call *c);
    /* Lifecycle, in the table's order (stop and free in the reverse). new
     * makes the state (it may read options and other services' states
     * made before it); start runs once every service exists; stop ends
     * background work before the HTTP server stops; free releases all. */
    int (*new)(struct sl_app *app, void **state, struct sl_err *err);
    int (*start)(void *state, struct sl_err *err);
    void (*stop)(void *state);
    void (*free)(void *state);
    const struct sl_option *options;       /* may be NULL */
    const struct sl_target_kind *targets;  /* registered at start; may be NULL */
    const struct sl_endpoint *endpoints;   /* may be NULL */
    /* Optional: its lines of GET /_sluice/metrics (Prometheus text). */
    void (*metrics)(void *state, struct sl_buf *out);
};

/* The service table, in start order, NULL-terminated (services.c). */
extern const struct sl_service *const sl_services[];
#define SL_SERVICES_MAX 32

/* The service serving endpoint name, or NULL. */
const struct sl_service *sl_service_by_name(const char *name);

/* What a running server shares with its services. */
struct sl_app {
    struct sl_store *store;
    struct sl_loop *loop;
    struct sl_targets *targets;
    struct sl_governor *governor; /* concurrency of functions (engine/governor.h) */
    const char *data_dir;
    const char *endpoint_url; /* http://host:port, for functions */
    time_t started;
    double time_scale; /* --time-scale: AWS's platform delays are divided by it */
    struct sl_sessions *sessions; /* credentials issued to functions (aws/sessions.h) */
    /* Option values: (flag, value) of every option of every service. */
    const char *const *options;
    size_t noptions;
    void *states[SL_SERVICES_MAX]; /* each service's, by its index in sl_services */
    int started_n;                 /* services whose new (and start) ran */
    /* Calls from inside Sluice under way (sl_call_local): sl_app_stop
     * waits for them once every service stopped. */
    struct sl_inflight local_calls;
    bool local_ready;
};

/* A service's state, or NULL when it is not running. */
void *sl_app_state(const struct sl_app *app, const struct sl_service *svc);
/* The value of option flag (NULL when unset and without a default). */
const char *sl_app_option(const struct sl_app *app, const char *flag);
/* Makes and starts every service, in the table's order; on failure, what
 * was made is freed. */
int sl_app_start(struct sl_app *app, struct sl_err *err);
/* Stops every service (reverse order): background work ends; then waits
 * for the calls from inside Sluice still under way. */
void sl_app_stop(struct sl_app *app);
/* Frees every service (reverse order). */
void sl_app_free(struct sl_app *app);
/* Serves GET /_sluice/... of a service (0), or SL_ENOTFOUND. */
int sl_app_endpoint(struct sl_app *app, struct sl_http_request *r);
/* Appends every service's metrics. */
void sl_app_metrics(struct sl_app *app, struct sl_buf *out);

/* One request to an AWS service, from routing to its answer. */
struct sl_call {
    struct sl_http_request *http;
    struct sl_app *app;
    const struct sl_aws_endpoint *endpoint;
    const struct sl_service *service; /* NULL: an endpoint Sluice does not implement */
    void *svc;                        /* the service's state */
    enum sl_aws_protocol protocol;    /* what this request speaks */
    const struct sl_operation *op;    /* once known */
    /* Unsigned, and let in by the front door only as one of the few calls
     * AWS takes without a signature (SNS's ConfirmSubscription and
     * Unsubscribe, by their URLs): the handler decides whose it is. */
    bool anonymous;
    char request_id[40];
    char account[16];
    char region[64];
    /* A session's caller (an assumed role), "" for an account's own key. */
    char caller_arn[384];
    char caller_id[128];
    /* Non-streaming services: the body, taken whole, and the input. */
    struct sl_buf body;
    bool body_too_big; /* more than the cap came; the rest was dropped */
    json_t *in;        /* decoded and validated (the layer's) */
    /* The handler's answer: the output (taken by the layer) and a raw
     * payload member (the handler keeps the bytes alive until answered). */
    json_t *out;
    const char *out_payload;
    size_t out_payload_len;
    /* Streaming services: set by the handler to take the body. */
    int (*body_cb)(struct sl_call *c, const char *data, size_t n);
    sl_op_fn end;
    void (*abort)(struct sl_call *c);
    /* The service's per-call state, freed with the call. */
    void *state;
    void (*state_free)(struct sl_call *c);
    /* A wait (sl_call_wait, sl_call_write): what runs when it ends, and
     * with what. */
    sl_op_fn then;
    bool waiting;
    struct sl_local *local; /* a call from inside Sluice (sl_call_local) */
    void *write_arg; /* the transaction's arg */
    int write_rc;
    struct sl_err write_err;
};

/* Answers c with error id of its service's table, the message formatted;
 * returns SL_DONE, so that `return sl_call_fail(c, E, ...)` ends a
 * handler. */
int sl_call_fail(struct sl_call *c, int id, const char *fmt, ...) SL_PRINTF(3, 4);
int sl_call_vfail(struct sl_call *c, int id, const char *fmt, va_list ap) SL_PRINTF(3, 0);
/* The same with more: rest-xml elements (name/value pairs, NULL-ended;
 * may be NULL) and members of a json error body (fields, taken; may be
 * NULL). */
int sl_call_fail_ex(struct sl_call *c, int id, const char *const *extra, json_t *fields,
                    const char *fmt, ...) SL_PRINTF(5, 6);
/* Logs what failed (rc, err may be NULL) and answers the service's
 * internal error; returns SL_DONE. */
int sl_call_internal(struct sl_call *c, int rc, const struct sl_err *err);
/* Zeroed memory that lives as long as the call (its request's arena). */
void *sl_call_alloc(struct sl_call *c, size_t n);
/* Sets c's output (taken) and returns 0, so that `return sl_call_ok(c,
 * out)` ends a handler with it. */
int sl_call_ok(struct sl_call *c, json_t *out);
/* Answers c (JSON protocols) with body, a JSON document as text; returns
 * 0, as sl_call_ok(). */
int sl_call_ok_text(struct sl_call *c, const char *body, size_t len);

/*
 * Runs fn(arg) in the store's next batch; then(c) runs once that batch is
 * durable or failed, with fn's result in c->write_rc, its message in
 * c->write_err and arg in c->write_arg. Returns what the handler returns:
 * the wait's outcome. arg must outlive the wait (allocate it with
 * sl_call_alloc()).
 */
int sl_call_write(struct sl_call *c, sl_txn_fn fn, void *arg, sl_op_fn then);

/*
 * For a handler that waits for something else (a function's answer, a
 * message): then(c) will run once sl_call_wake(c) is called, on one of
 * the front door's threads, and returns what a handler returns. Call
 * sl_call_wait() before starting what wakes the call (the wake may come
 * at once), then return SL_LATER. sl_call_wake() may be called from any
 * thread, once per wait.
 */
void sl_call_wait(struct sl_call *c, sl_op_fn then);
void sl_call_wake(struct sl_call *c);

/* Answers the outcome rc of a handler (or continuation) of c: the output,
 * an internal error, or nothing (SL_DONE, SL_LATER). */
void sl_call_finish(struct sl_call *c, int rc);

/*
 * Calls from inside Sluice: one service using another's API (a Step
 * Functions Task sending a message, invoking a function, writing an item)
 * through the service table, as a client's request would, so the callee
 * keeps its own checks, limits and errors. The operation's handler runs
 * on the engine loop's thread with input in (validated by the model as a
 * client's input is) and, for an operation whose payload member is a blob
 * (Lambda's Invoke), payload's len bytes as the body. The caller is the
 * account's own identity (no session).
 */
struct sl_local_answer {
    int status;   /* the HTTP status a client would see */
    json_t *out;  /* success: the output (may be NULL); valid during the callback */
    const char *payload; /* success: the blob payload member's bytes, if any */
    size_t payload_len;
    const char *code, *message; /* failure: the error's code and message */
    const char *request_id;
};
typedef void (*sl_local_fn)(void *arg, const struct sl_local_answer *a);
/* Starts the call of operation op of service (botocore's names) for
 * account and region, in taken. Returns 0, and done(arg, answer) then runs
 * once, on the loop's thread, never before this returns; or SL_ENOTFOUND
 * (no such service or operation in Sluice), SL_ENOTSUP (a streaming
 * service), SL_ENOMEM, SL_ECLOSED (the loop stops). Any thread. */
int sl_call_local(struct sl_app *app, const char *service, const char *op, const char *account,
                  const char *region, json_t *in, const char *payload, size_t len,
                  sl_local_fn done, void *arg);

#endif
