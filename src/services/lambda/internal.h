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

/* Unpacks code (once per distinct package) and puts its directory in dir.
 * SL_EINVAL / SL_ETOOBIG with AWS's message for a bad package. */
int sl_lambda_code_unpack(const char *data_dir, const struct sl_lambda_code *code, char *dir,
                          size_t dir_cap, struct sl_err *err);

#endif
