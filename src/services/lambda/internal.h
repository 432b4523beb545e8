/*
 * What the files of the Lambda service share. They depend downward only:
 *
 *   service.c                    the row: lifecycle, limits, endpoints
 *   functions.c concurrency.c    operations (handlers), each file
 *   invoke.c eic.c permissions.c   calling only what is below it
 *   async.c                      asynchronous events: queue, consumer, targets
 *   run.c                        the state, and invocations through the runtime
 *   function.c policy.c code.c   helpers: a function's item, names, changes,
 *   cache.c metrics.c              answers; resource policies; packages;
 *                                  configurations in memory; metrics
 */
#ifndef SL_LAMBDA_INTERNAL_H
#define SL_LAMBDA_INTERNAL_H

#include <jansson.h>

#include "aws/model.h"
#include "runtime/runtime.h"
#include "services/lambda/lambda.h"

#define SL_LAMBDA_MAX_UNZIPPED 262144000ULL /* 250 MB, with layers */
#define SL_LAMBDA_MAX_ZIPPED 52428800ULL    /* 50 MB as ZipFile */
#define SL_LAMBDA_MAX_REQUEST 69905067ULL   /* what the front end accepts */
#define SL_LAMBDA_MAX_INVOKE 6291456ULL     /* sync payload */
#define SL_LAMBDA_ENV_MAX 4096
#define SL_LAMBDA_NS "lambda.function"
#define SL_LAMBDA_EIC_NS "lambda.eic"          /* event invoke configs: pk, sk function */
#define SL_LAMBDA_MAX_ASYNC 1048576ULL          /* async payload (1 MB) */
#define SL_LAMBDA_UNRESERVED_MIN 100

/* The errors of Lambda. */
#define SL_LAMBDA_ERRORS(X)                                                                    \
    X(LAMBDA_E_SERVICE, "ServiceException", 500, true)                                         \
    X(LAMBDA_E_NOT_FOUND, "ResourceNotFoundException", 404, false)                             \
    X(LAMBDA_E_INVALID_PARAMETER, "InvalidParameterValueException", 400, false)                \
    X(LAMBDA_E_INVALID_CONTENT, "InvalidRequestContentException", 400, false)                  \
    X(LAMBDA_E_VALIDATION, "ValidationException", 400, false)                                  \
    X(LAMBDA_E_CONFLICT, "ResourceConflictException", 409, false)                              \
    X(LAMBDA_E_PRECONDITION, "PreconditionFailedException", 412, false)                        \
    X(LAMBDA_E_TOO_LARGE, "RequestEntityTooLargeException", 413, false)                        \
    X(LAMBDA_E_POLICY_LENGTH, "PolicyLengthExceededException", 400, false)                     \
    X(LAMBDA_E_TOO_MANY_REQUESTS, "TooManyRequestsException", 429, false)

enum { SL_LAMBDA_ERRORS(SL_ERROR_ENUM) };
extern const struct sl_aws_error sl_lambda_errors[];

/* A deployment package: in memory (data) or in a file (fd >= 0). */
struct sl_lambda_code {
    const char *data;
    size_t len;
    int fd;
    char sha_hex[65];
    char sha_b64[48];
    uint64_t size;
};

/* ---- the state and the runtime (run.c) ------------------------------------ */

struct sl_lambda_cache;
struct sl_lambda_metrics;
struct sl_consumer;
struct esm_state;

/* The service's state. */
struct sl_lambda {
    struct sl_app *app;
    struct sl_runtime *rt;
    struct sl_lambda_metrics *metrics;
    struct sl_lambda_cache *cache;     /* configurations */
    struct sl_lambda_cache *eic_cache; /* event invoke configs */
    struct sl_consumer *async;         /* asynchronous events (async.c) */
    unsigned async_workers;            /* --async-workers */
    bool stopping;                     /* the server stops: runs it ends are no tries */
    uint8_t url_key[32];               /* signs GetFunction's Code.Location */
    struct esm_state *esm;             /* event source mappings (esm.c) */
};

/* The state's parts, made and ended by the service (service.c). */
int sl_lambda_state_new(struct sl_app *app, struct sl_lambda **out, struct sl_err *err);
void sl_lambda_state_free(struct sl_lambda *l);

/* Tells the runtime every stored function's reserved concurrency, so that
 * after a restart the unreserved pool leaves out reservations of
 * functions not invoked yet. */
int sl_lambda_load_reservations(struct sl_lambda *l);
/* Runs one invocation of the function (its configuration cfg) through the
 * runtime (sl_runtime_call()): 0 when inv holds the result, SL_LATER when
 * cb(inv, arg) runs on the loop's thread once it ended; either way the
 * caller then calls sl_lambda_run_end() for its metrics. Else an error
 * (cb never runs; the metrics are done). inv is the caller's (init and
 * close it). */
int sl_lambda_call(struct sl_lambda *l, const char *account, const char *region, const char *name,
                   json_t *cfg, struct sl_invocation *inv, sl_invoke_cb cb, void *arg);
/* The same without waiting: cb(inv, arg) runs on the loop's thread once
 * it ended (sl_runtime_start()), and calls sl_lambda_run_end() for its
 * metrics. 0, or an error (cb never runs; the metrics are done). */
int sl_lambda_run_start(struct sl_lambda *l, const char *account, const char *region,
                        const char *name, json_t *cfg, struct sl_invocation *inv,
                        sl_invoke_cb cb, void *arg);
void sl_lambda_run_end(struct sl_lambda *l, const char *account, const char *region,
                       const char *name, const struct sl_invocation *inv, int rc);
/* Event source mappings (esm.c): start runs the enabled ones (at the
 * service's start), stop ends their pollers once their batches are
 * reported (after the runtime's shutdown), free releases the rest. */
int sl_lambda_esm_start(struct sl_lambda *lam, struct sl_err *err);
void sl_lambda_esm_stop(struct sl_lambda *lam);
void sl_lambda_esm_free(struct sl_lambda *lam);
void sl_lambda_esm_metrics(struct sl_lambda *lam, struct sl_buf *out);
/* Drops the warm environments of a function whose code or configuration
 * changed or that was deleted. */
void sl_lambda_runtime_forget(struct sl_lambda *l, const char *pk, const char *name);
/* A configuration (created or changed) is about to run: its environments'
 * /tmp filesystems are made ahead. */
void sl_lambda_runtime_prepare(struct sl_lambda *l, json_t *cfg);
/* Sets (or with -1 clears) a function's reserved concurrency. */
void sl_lambda_runtime_set_reserved(struct sl_lambda *l, const char *pk, const char *name,
                                    long reserved);
/* Ends the runtime's side of an answered invoke (sl_runtime_settle). */
void sl_lambda_settle(struct sl_lambda *l, void *settle);
/* GetFunction's Code.Location: a URL of this server that serves the
 * package for 10 minutes (signed, like S3's presigned URLs); and the check
 * of such a URL's signature. */
void sl_lambda_code_url(struct sl_lambda *l, const char *host, const char *account,
                        const char *region, const char *name, char *out, size_t n);
bool sl_lambda_code_url_valid(struct sl_lambda *l, const char *account, const char *region,
                              const char *name, long long expires, const char *sig);

/* ---- a function (function.c) --------------------------------------------- */

/* One Lambda API request's state (the name is short: it is private to the
 * service), made by sl_lambda_req() on first use and kept with the call. */
struct lreq {
    struct sl_call *c;
    struct sl_lambda *lam;
    json_t *in;   /* the validated input */
    char pk[96];  /* "<account>:<region>": the partition of its functions */
    void *settle; /* an answered invoke's runtime side, settled with the call */
    struct lrun *run; /* a synchronous invoke's (invoke.c) */
};

/* The state of call c (NULL when out of memory). */
struct lreq *sl_lambda_req(struct sl_call *c);

/* Answers with error id, and returns SL_DONE. */
int sl_lambda_error(struct lreq *l, int id, const char *fmt, ...) SL_PRINTF(3, 4);
/* InvalidParameterValueException. */
int sl_lambda_invalid(struct lreq *l, const char *fmt, ...) SL_PRINTF(2, 3);
/* A function that does not exist (ResourceNotFoundException). */
int sl_lambda_not_found(struct lreq *l, const char *name);
/* The input member name as a string (NULL when absent). */
const char *sl_lambda_in_str(struct lreq *l, const char *name);

/* Splits a FunctionName input (name, name:qualifier, partial or full ARN)
 * into name and qualifier. 0, or answers (SL_DONE). */
int sl_lambda_parse_name(struct lreq *l, const char *input, char *name, size_t ncap, char *qual,
                         size_t qcap);
/* A function's ARN in the request's account and region. */
void sl_lambda_function_arn(struct lreq *l, const char *name, char *out, size_t n);

/* Loads the function named by the FunctionName input ($LATEST only so
 * far): its name, configuration (caller decrefs) and, when item is not
 * NULL, its item (caller frees). 0, or answers (SL_DONE). */
int sl_lambda_load(struct lreq *l, char *name, size_t ncap, json_t **cfg, struct sl_item *item);
/* The same when only its existence matters (the change that follows
 * checks it again in its transaction). */
int sl_lambda_exists(struct lreq *l, char *name, size_t ncap);
/* The same for Invoke: the configuration may come from the cache (see
 * cache.c) and is shared: the caller reads it and decrefs it, never
 * changes it. */
int sl_lambda_load_shared(struct lreq *l, char *name, size_t ncap, json_t **cfg);
/* A function's configuration by pk and name, outside any request (cache
 * first): a shared reference the caller decrefs. SL_ENOTFOUND if none. */
int sl_lambda_get_config(struct sl_lambda *lam, const char *pk, const char *name, json_t **cfg);
/* The configuration as AWS shows it: private members dropped. */
json_t *sl_lambda_public_config(json_t *cfg);

/* Changes the configuration of function name in one transaction: fn gets
 * it parsed and changes it (a new RevisionId is fn's to set) or returns an
 * error code; the RevisionId input, when given, must match (else
 * SL_ECONDITION). then(c) runs once the change is durable or failed:
 * c->write_rc is fn's code, SL_ENOTFOUND, SL_ECONDITION or a store
 * error, and c->write_arg the struct sl_lambda_change, whose result is
 * the configuration written (NULL on failure; released after then).
 * sl_lambda_modify_failed() answers a failure as Lambda does (SL_DONE). */
struct sl_txn;
typedef int (*sl_lambda_modify_fn)(struct sl_txn *t, json_t *cfg, void *arg,
                                   struct sl_err *err);
struct sl_lambda_change {
    const char *pk, *name, *revision;
    sl_lambda_modify_fn fn;
    void *arg;
    sl_op_fn then;
    json_t *result;
};
int sl_lambda_modify(struct lreq *l, const char *name, sl_lambda_modify_fn fn, void *arg,
                     sl_op_fn then);
int sl_lambda_modify_failed(struct lreq *l, const char *name, int rc, const struct sl_err *err);
/* Forgets a function's cached configuration (after every write of it). */
void sl_lambda_forget_cached(struct sl_lambda *lam, const char *pk, const char *name);
/* Gives cfg a new RevisionId (and LastModified, with _and_time). */
void sl_lambda_new_revision_id(json_t *cfg);
void sl_lambda_new_revision(json_t *cfg);

/* ---- resource policies (policy.c) ----------------------------------------- */

/* Whether cfg's policy lets service (e.g. "s3.amazonaws.com") invoke the
 * function for source_arn and source_account (either may be NULL). */
bool sl_lambda_policy_allows(json_t *cfg, const char *service, const char *source_arn,
                             const char *source_account);
/* The policy document of a function's statements (caller frees), or NULL. */
char *sl_lambda_policy_document(json_t *stmts);

/* ---- asynchronous invocation (async.c) ------------------------------------- */

/* Stores an Event invocation of function name (the call's account and
 * region) with the call's request id; then(c) runs once it is durable,
 * with the outcome in c->write_rc. */
int sl_lambda_async_accept(struct sl_call *c, const char *name, const char *payload, size_t len,
                           sl_op_fn then);
/* Starts the engine's consumer of the "lambda.async" queue as lam->async
 * (--async-workers events at once). Once every service exists; stop it
 * before the runtime shuts down, free it after. */
int sl_lambda_async_start(struct sl_lambda *lam, struct sl_err *err);
/* The kind of target functions are (an async event of the function). */
extern const struct sl_target_kind sl_lambda_targets[];
/* A function's event invoke config as stored (JSON: a shared reference the
 * caller decrefs, from the cache first), or NULL when none. */
json_t *sl_lambda_eic_stored(struct sl_lambda *lam, const char *pk, const char *name);

/* ---- configurations in memory (cache.c) ----------------------------------- */

/* get returns a new reference or NULL, and the generation to hand to put;
 * forget after every write. */
int sl_lambda_cache_new(struct sl_lambda_cache **out);
void sl_lambda_cache_free(struct sl_lambda_cache *c);
json_t *sl_lambda_cache_get(struct sl_lambda_cache *c, const char *pk, const char *name,
                            uint64_t *gen);
void sl_lambda_cache_put(struct sl_lambda_cache *c, const char *pk, const char *name,
                         json_t *cfg, uint64_t gen);
void sl_lambda_cache_forget(struct sl_lambda_cache *c, const char *pk, const char *name);

/* ---- metrics (metrics.c) ---------------------------------------------------- */

enum sl_lambda_outcome { SL_LAMBDA_OK, SL_LAMBDA_ERROR, SL_LAMBDA_THROTTLED, SL_LAMBDA_NOT_RUN };
int sl_lambda_metrics_new(struct sl_lambda_metrics **out);
void sl_lambda_metrics_free(struct sl_lambda_metrics *m);
/* An invocation starts (ConcurrentExecutions) and ends. */
void sl_lambda_metrics_begin(struct sl_lambda_metrics *m, const char *account, const char *region,
                             const char *name);
void sl_lambda_metrics_end(struct sl_lambda_metrics *m, const char *account, const char *region,
                           const char *name, enum sl_lambda_outcome outcome, double duration_ms);
void sl_lambda_metrics_render(struct sl_lambda_metrics *m, struct sl_buf *out);
/* The asynchronous invocation metrics of a function. */
enum sl_lambda_async_metric {
    SL_LAMBDA_ASYNC_RECEIVED,           /* AsyncEventsReceived */
    SL_LAMBDA_ASYNC_AGE,                /* AsyncEventAge: value_ms at an invoke */
    SL_LAMBDA_ASYNC_DROPPED,            /* AsyncEventsDropped */
    SL_LAMBDA_ASYNC_DESTINATION_FAILED, /* DestinationDeliveryFailures */
    SL_LAMBDA_ASYNC_DLQ_FAILED,         /* DeadLetterErrors */
};
void sl_lambda_metrics_async(struct sl_lambda_metrics *m, const char *account, const char *region,
                             const char *name, enum sl_lambda_async_metric what, double value_ms);

/* ---- packages (code.c) ------------------------------------------------------- */

/* Unpacks code (once per distinct package) and puts its directory in dir.
 * SL_EINVAL / SL_ETOOBIG with AWS's message for a bad package. */
int sl_lambda_code_unpack(const char *data_dir, const struct sl_lambda_code *code, char *dir,
                          size_t dir_cap, struct sl_err *err);

#endif
