/*
 * Lambda's row of the service table: its lifecycle (the runtime its
 * functions run in, the asynchronous invocation threads), its options,
 * limits and errors, the endpoint that serves deployment packages
 * (GetFunction's Code.Location) and its metrics.
 */
#include "services/lambda/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/sessions.h"

#include "engine/consumer.h"
#include "runtime/runtime.h"
#include "services/logs/logs.h"

static const struct sl_option options[] = {
    {"--idle-reap", "SLUICE_IDLE_REAP", "300",
     "seconds an idle function environment lives before it is ended", false},
    {"--runtimes-dir", "SLUICE_RUNTIMES_DIR", NULL,
     "Sluice's runtime bootstraps (default: runtimes/ of the source tree)", false},
    {"--strict-runtimes", "SLUICE_STRICT_RUNTIMES", NULL,
     "refuse python3.X or nodejsN.x when that exact version is not installed", true},
    {"--sandbox-uids", "SLUICE_SANDBOX_UIDS", "2000000000-2000065535",
     "FIRST-LAST: the users function environments run as, one each; no other user may hold them",
     false},
    {"--no-root-template", "SLUICE_NO_ROOT_TEMPLATE", NULL,
     "build each environment's root in its own child instead of copying a template "
     "(about 0.8 ms more per cold start)",
     true},
    {"--async-workers", "SLUICE_ASYNC_WORKERS", "16",
     "asynchronous invocations run at once (each also needs the function's concurrency)", false},
    {NULL, NULL, NULL, NULL, false},
};

/* A number option within [lo, hi]; SL_EINVAL with what it must be. */
static int number_option(struct sl_app *app, const char *flag, long lo, long hi, long *out,
                         struct sl_err *err)
{
    const char *v = sl_app_option(app, flag);
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || n < lo || n > hi)
        return sl_errf(err, SL_EINVAL, "%s must be a number from %ld to %ld", flag, lo, hi);
    *out = n;
    return 0;
}

/* How long an environment's session credentials last: environments whose
 * credentials would expire during a call are ended instead of reused. */
#define SESSION_TTL_S (12 * 3600)

/* An environment's credentials: a session of the function's role named
 * after the function, as on AWS. */
static int issue_credentials(void *ud, const struct sl_function *fn,
                             struct sl_env_credentials *out)
{
    struct sl_app *app = ud;
    struct sl_session s;
    int rc = sl_sessions_issue(app->sessions, fn->account, fn->role, fn->name, time(NULL),
                               SESSION_TTL_S, &s);
    if (rc)
        return rc;
    sl_strlcpy(out->access_key, s.access_key, sizeof(out->access_key));
    sl_strlcpy(out->secret_key, s.secret_key, sizeof(out->secret_key));
    sl_strlcpy(out->token, s.token, sizeof(out->token));
    out->expires = s.expires;
    return 0;
}

static void revoke_credentials(void *ud, const char *access_key)
{
    struct sl_app *app = ud;
    sl_sessions_revoke(app->sessions, access_key);
}

/* --sandbox-uids FIRST-LAST: 1 <= FIRST <= LAST < 2^32 - 2, which the
 * kernel reserves. */
static int uid_range_option(struct sl_app *app, uint32_t *first, uint32_t *count,
                            struct sl_err *err)
{
    const char *v = sl_app_option(app, "--sandbox-uids");
    char *end = NULL;
    unsigned long long a = 0, b = 0;
    if (v && *v >= '0' && *v <= '9')
        a = strtoull(v, &end, 10);
    if (end && *end == '-' && end[1] >= '0' && end[1] <= '9')
        b = strtoull(end + 1, &end, 10);
    else
        end = NULL;
    if (!end || *end || a < 1 || b < a || b > 4294967293ull)
        return sl_errf(err, SL_EINVAL,
                       "--sandbox-uids must be FIRST-LAST, uids from 1 to 4294967293");
    *first = (uint32_t)a;
    *count = (uint32_t)(b - a + 1);
    return 0;
}

static int lambda_new(struct sl_app *app, void **state, struct sl_err *err)
{
    long reap = 0, workers = 0;
    int rc = number_option(app, "--idle-reap", 1, 86400, &reap, err);
    uint32_t uid_first = 0, uid_count = 0;
    if (!rc)
        rc = number_option(app, "--async-workers", 1, 1024, &workers, err);
    if (!rc)
        rc = uid_range_option(app, &uid_first, &uid_count, err);
    if (rc)
        return rc;
    struct sl_lambda *l = NULL;
    if ((rc = sl_lambda_state_new(app, &l, err)) != 0)
        return rc;
    l->async_workers = (unsigned)workers;
    const char *strict = sl_app_option(app, "--strict-runtimes");
    const char *no_template = sl_app_option(app, "--no-root-template");
    const char *runtimes = sl_app_option(app, "--runtimes-dir");
    char scratch[4096];
    snprintf(scratch, sizeof(scratch), "%s/lambda/tmp", app->data_dir);
    struct sl_runtime_config rcfg = {
        .loop = app->loop,
        .governor = app->governor,
        /* Sluice's own bootstraps: the source tree's runtimes/ unless told. */
        .runtimes_dir = runtimes ? runtimes : SLUICE_RUNTIMES_DIR,
        .scratch_dir = scratch,
        .endpoint_url = app->endpoint_url,
        .idle_reap_s = (unsigned)reap,
        .strict_runtimes = strict && strcmp(strict, "false") != 0,
        .no_root_template = no_template && strcmp(no_template, "false") != 0,
        .uid_first = uid_first,
        .uid_count = uid_count,
        .issue = app->sessions ? issue_credentials : NULL,
        .revoke = app->sessions ? revoke_credentials : NULL,
        .creds_ud = app,
        /* What functions print goes to CloudWatch Logs. */
        .log = sl_logs_sink,
        .log_ud = sl_app_state(app, &sl_service_logs),
    };
    if ((rc = sl_runtime_new(&l->rt, &rcfg, err)) != 0 ||
        (rc = sl_lambda_load_reservations(l)) != 0) {
        if (!err->msg[0])
            sl_errf(err, rc, "cannot read the functions' reserved concurrency");
        sl_runtime_free(l->rt);
        sl_lambda_state_free(l);
        return rc;
    }
    *state = l;
    return 0;
}

static int lambda_start(void *state, struct sl_err *err)
{
    int rc = sl_lambda_async_start(state, err);
    return rc ? rc : sl_lambda_esm_start(state, err);
}

static void lambda_stop(void *state)
{
    struct sl_lambda *l = state;
    __atomic_store_n(&l->stopping, true, __ATOMIC_RELEASE);
    sl_consumer_stop(l->async); /* takes no more events */
    sl_runtime_shutdown(l->rt); /* ends the invocations under way: back on the queue */
    sl_lambda_esm_stop(l);      /* (their batches failed with them: messages stay) */
}

static void lambda_free(void *state)
{
    struct sl_lambda *l = state;
    if (!l)
        return;
    sl_consumer_free(l->async); /* once the events the shutdown ended are back */
    sl_lambda_esm_free(l);
    sl_runtime_free(l->rt);
    sl_lambda_state_free(l);
}

/* GET /_sluice/lambda/code/<account>/<region>/<name>: a function's
 * package, for a URL GetFunction handed out, until it expires. */
static void serve_code(void *state, struct sl_app *app, struct sl_http_request *r)
{
    struct sl_lambda *l = state;
    char account[16], region[64], name[80];
    const char *p = r->path + strlen("/_sluice/lambda/code/");
    if (sscanf(p, "%15[0-9]/%63[a-z0-9-]/%79[A-Za-z0-9_-]", account, region, name) != 3) {
        sl_http_send(r, 404);
        return;
    }
    const char *exp = sl_http_param(r, "Expires");
    long long expires = exp ? strtoll(exp, NULL, 10) : 0;
    if (!sl_lambda_code_url_valid(l, account, region, name, expires,
                                  sl_http_param(r, "Signature"))) {
        sl_http_send(r, 403);
        return;
    }
    char pk[96];
    snprintf(pk, sizeof(pk), "%s:%s", account, region);
    struct sl_item it;
    int fd = -1;
    if (sl_kv_get(app->store, SL_LAMBDA_NS, pk, name, &it)) {
        sl_http_send(r, 404);
        return;
    }
    if (sl_blob_open(app->store, &it.blob, &fd)) {
        sl_item_free(&it);
        sl_http_send(r, 500);
        return;
    }
    sl_http_set_header(r, "Content-Type", "application/zip");
    if (fd >= 0) {
        sl_http_send_fd(r, 200, fd, 0, it.blob.size);
    } else {
        sl_buf_append(&r->resp.body, it.blob.inline_data, it.blob.size);
        sl_http_send(r, 200);
    }
    sl_item_free(&it);
}

static const struct sl_endpoint endpoints[] = {
    {"/_sluice/lambda/code/", serve_code},
    {NULL, NULL},
};

static void lambda_metrics(void *state, struct sl_buf *out)
{
    struct sl_lambda *l = state;
    sl_lambda_metrics_render(l->metrics, out);
    sl_lambda_esm_metrics(l, out);
}

static bool is_invoke(const struct sl_operation *op)
{
    return strcmp(op->name, "Invoke") == 0 || strcmp(op->name, "InvokeAsync") == 0;
}

static size_t op_body_cap(const struct sl_operation *op)
{
    return is_invoke(op) ? SL_LAMBDA_MAX_INVOKE : SL_LAMBDA_MAX_REQUEST;
}

static void too_big_message(const struct sl_operation *op, char *out, size_t n)
{
    snprintf(out, n, "Request must be smaller than %llu bytes for the %s operation",
             op && is_invoke(op) ? SL_LAMBDA_MAX_INVOKE : SL_LAMBDA_MAX_REQUEST,
             op && is_invoke(op) ? "InvokeFunction" : op ? op->name : "request");
}

SL_SERVICE_TABLES(lambda);

const struct sl_service sl_service_lambda = {
    .name = "lambda",
    .model = &sl_model_lambda,
    .handlers = sl_lambda_handlers,
    .errors = sl_lambda_errors,
    .e_internal = LAMBDA_E_SERVICE,
    .e_validation = LAMBDA_E_VALIDATION,
    .e_serialization = LAMBDA_E_INVALID_CONTENT,
    .e_too_big = LAMBDA_E_TOO_LARGE,
    .body_cap = SL_LAMBDA_MAX_REQUEST,
    .op_body_cap = op_body_cap,
    .too_big_message = too_big_message,
    .new = lambda_new,
    .start = lambda_start,
    .stop = lambda_stop,
    .free = lambda_free,
    .options = options,
    .targets = sl_lambda_targets,
    .endpoints = endpoints,
    .metrics = lambda_metrics,
};
