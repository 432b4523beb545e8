/* What the files of the Lambda service share. */
#ifndef SL_LAMBDA_INTERNAL_H
#define SL_LAMBDA_INTERNAL_H

#include <jansson.h>

#include "aws/model.h"
#include "services/lambda/lambda.h"

#define SL_LAMBDA_MAX_UNZIPPED 262144000ULL /* 250 MB, with layers */
#define SL_LAMBDA_MAX_ZIPPED 52428800ULL    /* 50 MB as ZipFile */
#define SL_LAMBDA_MAX_REQUEST 69905067ULL   /* what the front end accepts */
#define SL_LAMBDA_MAX_INVOKE 6291456ULL     /* sync payload */
#define SL_LAMBDA_ENV_MAX 4096
#define SL_LAMBDA_NS "lambda.function"
#define SL_LAMBDA_EIC_NS "lambda.eic"          /* event invoke configs: pk, sk function */
#define SL_LAMBDA_MAX_ASYNC 1048576ULL          /* async payload (1 MB) */

/* A deployment package: in memory (data) or in a file (fd >= 0). */
struct sl_lambda_code {
    const char *data;
    size_t len;
    int fd;
    char sha_hex[65];
    char sha_b64[48];
    uint64_t size;
};

#define SL_LAMBDA_UNRESERVED_MIN 100

/* One Lambda API request (the name is short: it is private to the service). */
struct lreq {
    struct sl_svc_request *q;
    const struct sl_operation *op;
    json_t *in; /* the validated input */
    char pk[96]; /* "<account>:<region>": the partition of its functions */
};

/* Answers l with an error (restJson1: x-amzn-ErrorType and a message). */
void sl_lambda_error(struct lreq *l, int status, const char *code, const char *fmt, ...)
    SL_PRINTF(4, 5);
void sl_lambda_internal(struct lreq *l, const struct sl_err *err);
/* Loads the function named by the FunctionName input ($LATEST only so
 * far): its name, configuration (caller decrefs) and, when item is not
 * NULL, its item (caller frees). 0, or answers and returns -1. */
int sl_lambda_load(struct lreq *l, char *name, size_t ncap, json_t **cfg, struct sl_item *item);
/* The same for Invoke: the configuration may come from the cache (see
 * cache.c) and is shared: the caller reads it and decrefs it, never
 * changes it. */
int sl_lambda_load_shared(struct lreq *l, char *name, size_t ncap, json_t **cfg);
/* A function's configuration by pk and name, outside any request (cache
 * first): a shared reference the caller decrefs. SL_ENOTFOUND if none. */
int sl_lambda_get_config(struct sl_app *app, const char *pk, const char *name, json_t **cfg);
/* Runs one invocation of the function (its configuration cfg) through the
 * runtime, with its metrics. inv is the caller's (init and close it). */
struct sl_invocation;
int sl_lambda_run(struct sl_app *app, const char *account, const char *region, const char *name,
                  json_t *cfg, struct sl_invocation *inv);
/* Invoke with InvocationType Event (async.c): stores the event, 202. */
void sl_lambda_async_accept(struct lreq *l, const char *name, const char *payload, size_t len);
/* Resource policies (policy.c). */
void sl_lambda_op_add_permission(struct lreq *l);
void sl_lambda_op_remove_permission(struct lreq *l);
void sl_lambda_op_get_policy(struct lreq *l);
/* Whether cfg's policy lets service (e.g. "s3.amazonaws.com") invoke the
 * function for source_arn and source_account (either may be NULL). */
bool sl_lambda_policy_allows(json_t *cfg, const char *service, const char *source_arn,
                             const char *source_account);
/* Changes the configuration of function name in one transaction: fn gets
 * it parsed and changes it (a new RevisionId is fn's to set) or returns an
 * error code; the RevisionId input, when given, must match (else
 * SL_ECONDITION). Returns fn's code, SL_ENOTFOUND, SL_ECONDITION or a
 * store error, answering nothing; *result (may be NULL) receives the
 * configuration written (caller decrefs). sl_lambda_modify_failed()
 * answers such a failure as Lambda does. */
struct sl_txn;
typedef int (*sl_lambda_modify_fn)(struct sl_txn *t, json_t *cfg, void *arg,
                                   struct sl_err *err);
int sl_lambda_modify(struct lreq *l, const char *name, sl_lambda_modify_fn fn, void *arg,
                     struct sl_err *err, json_t **result);
void sl_lambda_modify_failed(struct lreq *l, const char *name, int rc, const struct sl_err *err);
/* Gives cfg a new RevisionId. */
void sl_lambda_new_revision_id(json_t *cfg);
/* Event invoke config operations (async.c). */
void sl_lambda_op_put_eic(struct lreq *l);
void sl_lambda_op_update_eic(struct lreq *l);
void sl_lambda_op_get_eic(struct lreq *l);
void sl_lambda_op_delete_eic(struct lreq *l);
void sl_lambda_op_list_eic(struct lreq *l);
/* Answers l with the operation's output (and a raw payload member). */
void sl_lambda_respond(struct lreq *l, json_t *out, const char *payload, size_t len);

/* GetFunction's Code.Location: a URL of this server that serves the
 * package for 10 minutes (signed, like S3's presigned URLs). */
void sl_lambda_code_url(struct sl_app *app, const char *host, const char *account,
                        const char *region, const char *name, char *out, size_t n);

/* Invoke (invoke.c). */
void sl_lambda_op_invoke(struct lreq *l);
/* Drops the warm environments of a function whose code or configuration
 * changed or that was deleted. */
void sl_lambda_runtime_forget(struct sl_app *app, const char *pk, const char *name);
/* Sets (or with -1 clears) a function's reserved concurrency. */
void sl_lambda_runtime_set_reserved(struct sl_app *app, const char *pk, const char *name,
                                    long reserved);

/* Configurations in memory (cache.c). get returns a new reference or NULL,
 * and the generation to hand to put; forget after every write. */
struct sl_lambda_cache;
int sl_lambda_cache_new(struct sl_lambda_cache **out);
void sl_lambda_cache_free(struct sl_lambda_cache *c);
json_t *sl_lambda_cache_get(struct sl_lambda_cache *c, const char *pk, const char *name,
                            uint64_t *gen);
void sl_lambda_cache_put(struct sl_lambda_cache *c, const char *pk, const char *name,
                         json_t *cfg, uint64_t gen);
void sl_lambda_cache_forget(struct sl_lambda_cache *c, const char *pk, const char *name);
/* app's cache, or NULL when Lambda has no runtime. */
struct sl_lambda_cache *sl_lambda_cache_of(struct sl_app *app);

/* Metrics (metrics.c). */
struct sl_lambda_metrics;
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
/* app's metrics, or NULL when Lambda has no runtime. */
struct sl_lambda_metrics *sl_lambda_metrics_of(struct sl_app *app);

/* Unpacks code (once per distinct package) and puts its directory in dir.
 * SL_EINVAL / SL_ETOOBIG with AWS's message for a bad package. */
int sl_lambda_code_unpack(const char *data_dir, const struct sl_lambda_code *code, char *dir,
                          size_t dir_cap, struct sl_err *err);

#endif
