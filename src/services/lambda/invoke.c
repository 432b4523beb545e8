/*
 * Invoke (RequestResponse and DryRun): resolve the function, check the
 * payload, run it through the runtime and answer as Lambda does: a function
 * error is a 200 with X-Amz-Function-Error, a throttle a 429 with Reason.
 */
#include "services/lambda/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <string.h>
#include <time.h>

#include "runtime/runtime.h"

struct sl_lambda {
    struct sl_runtime *rt;
    struct sl_lambda_metrics *metrics;
    struct sl_lambda_cache *cache;
    uint8_t url_key[32]; /* signs GetFunction's Code.Location */
};

int sl_lambda_new(struct sl_lambda **out, struct sl_runtime *rt)
{
    struct sl_lambda *l = calloc(1, sizeof(*l));
    if (!l || sl_lambda_metrics_new(&l->metrics) || sl_lambda_cache_new(&l->cache)) {
        if (l)
            sl_lambda_metrics_free(l->metrics);
        free(l);
        return SL_ENOMEM;
    }
    l->rt = rt;
    sl_random(l->url_key, sizeof(l->url_key));
    *out = l;
    return 0;
}

/* The signature of a code URL: HMAC-SHA256 over what it names and when it
 * expires, under a key of this process (URLs end with it, as S3's
 * presigned ones expire). */
static void code_sig(const struct sl_lambda *l, const char *account, const char *region,
                     const char *name, long long expires, char hex[65])
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "%s/%s/%s/%lld", account, region, name, expires);
    uint8_t mac[SL_SHA256_LEN];
    sl_hmac_sha256(l->url_key, sizeof(l->url_key), msg, (size_t)n, mac);
    sl_hex_encode(mac, sizeof(mac), hex);
}

void sl_lambda_code_url(struct sl_app *app, const char *host, const char *account,
                        const char *region, const char *name, char *out, size_t n)
{
    long long expires = (long long)time(NULL) + 600; /* AWS's Location lasts 10 minutes */
    char sig[65] = "";
    if (app->lambda)
        code_sig(app->lambda, account, region, name, expires, sig);
    snprintf(out, n, "http://%s/_sluice/lambda/code/%s/%s/%s?Expires=%lld&Signature=%s",
             host ? host : "127.0.0.1:4566", account, region, name, expires, sig);
}

void sl_lambda_free(struct sl_lambda *l)
{
    if (!l)
        return;
    sl_lambda_metrics_free(l->metrics);
    sl_lambda_cache_free(l->cache);
    free(l);
}

struct sl_lambda_cache *sl_lambda_cache_of(struct sl_app *app)
{
    return app->lambda ? app->lambda->cache : NULL;
}

void sl_lambda_serve_metrics(struct sl_app *app, struct sl_http_request *r)
{
    if (app->lambda)
        sl_lambda_metrics_render(app->lambda->metrics, &r->resp.body);
    sl_http_set_header(r, "Content-Type", "text/plain; version=0.0.4");
    sl_http_send(r, 200);
}

static void runtime_key(char *out, size_t n, const char *pk, const char *name)
{
    struct sl_text t;
    sl_text_init(&t, out, n);
    sl_text_str(&t, pk);
    sl_text_str(&t, "/");
    sl_text_str(&t, name);
}

void sl_lambda_runtime_forget(struct sl_app *app, const char *pk, const char *name)
{
    if (!app->lambda)
        return;
    char key[256];
    runtime_key(key, sizeof(key), pk, name);
    sl_runtime_forget(app->lambda->rt, key);
}

void sl_lambda_runtime_set_reserved(struct sl_app *app, const char *pk, const char *name,
                                    long reserved)
{
    if (!app->lambda)
        return;
    char key[256];
    runtime_key(key, sizeof(key), pk, name);
    sl_runtime_set_reserved(app->lambda->rt, key, reserved);
}

int sl_lambda_load_reservations(struct sl_app *app)
{
    char **pks = NULL;
    size_t npk = 0;
    int rc = sl_kv_list_pks(app->store, SL_LAMBDA_NS, &pks, &npk);
    for (size_t i = 0; !rc && i < npk; i++) {
        struct sl_item *items = NULL;
        size_t n = 0;
        rc = sl_kv_list(app->store, SL_LAMBDA_NS, pks[i], NULL, NULL, SIZE_MAX, &items, &n);
        for (size_t k = 0; k < n; k++) {
            json_t *cfg = json_loadb(items[k].val, items[k].val_len, 0, NULL);
            json_t *r = json_object_get(cfg, "_reserved");
            if (r)
                sl_lambda_runtime_set_reserved(app, pks[i], items[k].sk,
                                               (long)json_integer_value(r));
            json_decref(cfg);
            sl_item_free(&items[k]);
        }
        free(items);
    }
    for (size_t i = 0; i < npk; i++)
        free(pks[i]);
    free(pks);
    return rc;
}

static const char *str_or_empty(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

/* Fills fn from a stored configuration. Caller frees fn->env. */
static int function_spec(struct sl_app *app, const char *account, const char *region,
                         const char *name, json_t *cfg, struct sl_function *fn)
{
    memset(fn, 0, sizeof(*fn));
    char pk[96];
    struct sl_text t;
    sl_text_init(&t, pk, sizeof(pk));
    sl_text_str(&t, account);
    sl_text_str(&t, ":");
    sl_text_str(&t, region);
    runtime_key(fn->key, sizeof(fn->key), pk, name);
#define STR(field, member)                                                                   \
    sl_strlcpy(fn->field, str_or_empty(json_object_get(cfg, member)), sizeof(fn->field))
    STR(revision, "RevisionId");
    STR(name, "FunctionName");
    STR(arn, "FunctionArn");
    STR(version, "Version");
    STR(runtime, "Runtime");
    STR(handler, "Handler");
#undef STR
    sl_strlcpy(fn->region, region, sizeof(fn->region));
    sl_strlcpy(fn->account, account, sizeof(fn->account));
    sl_strlcpy(fn->log_group,
               str_or_empty(json_object_get(json_object_get(cfg, "LoggingConfig"), "LogGroup")),
               sizeof(fn->log_group));
    sl_text_init(&t, fn->code_dir, sizeof(fn->code_dir));
    sl_text_str(&t, app->data_dir);
    sl_text_str(&t, "/lambda/code/");
    sl_text_str(&t, str_or_empty(json_object_get(cfg, "_code_hex")));
    fn->memory_mb = (unsigned)json_integer_value(json_object_get(cfg, "MemorySize"));
    fn->timeout_s = (unsigned)json_integer_value(json_object_get(cfg, "Timeout"));
    fn->ephemeral_mb = (unsigned)json_integer_value(
        json_object_get(json_object_get(cfg, "EphemeralStorage"), "Size"));
    json_t *r = json_object_get(cfg, "_reserved");
    fn->reserved = r ? (long)json_integer_value(r) : -1;
    json_t *vars = json_object_get(json_object_get(cfg, "Environment"), "Variables");
    size_t n = json_object_size(vars), i = 0;
    fn->env = calloc(n + 1, sizeof(char *));
    if (!fn->env)
        return SL_ENOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(vars, k, v)
    {
        const char *val = str_or_empty(v);
        size_t kl = strlen(k), vl = strlen(val);
        char *kv = malloc(kl + vl + 2);
        if (!kv)
            continue;
        memcpy(kv, k, kl);
        kv[kl] = '=';
        memcpy(kv + kl + 1, val, vl + 1);
        fn->env[i++] = kv;
    }
    return 0;
}

static void free_spec(struct sl_function *fn)
{
    for (char **p = fn->env; p && *p; p++)
        free(*p);
    free(fn->env);
}

int sl_lambda_run(struct sl_app *app, const char *account, const char *region, const char *name,
                  json_t *cfg, struct sl_invocation *inv)
{
    if (!app->lambda)
        return SL_EINVAL;
    struct sl_function fn;
    int rc = function_spec(app, account, region, name, cfg, &fn);
    struct sl_lambda_metrics *mx = app->lambda->metrics;
    sl_lambda_metrics_begin(mx, account, region, name);
    if (!rc)
        rc = sl_runtime_invoke(app->lambda->rt, &fn, inv);
    enum sl_lambda_outcome outcome =
        rc || inv->result == SL_INVOKE_FAILED   ? SL_LAMBDA_NOT_RUN
        : inv->result == SL_INVOKE_THROTTLED    ? SL_LAMBDA_THROTTLED
        : inv->result == SL_INVOKE_FUNCTION_ERROR ? SL_LAMBDA_ERROR
                                                  : SL_LAMBDA_OK;
    sl_lambda_metrics_end(mx, account, region, name, outcome, inv->duration_ms);
    free_spec(&fn);
    return rc;
}

struct sl_lambda_metrics *sl_lambda_metrics_of(struct sl_app *app)
{
    return app->lambda ? app->lambda->metrics : NULL;
}

/* 429 TooManyRequestsException with its Reason member, as Lambda sends. */
static void throttled(struct lreq *l, const char *reason)
{
    struct sl_http_request *r = l->q->http;
    sl_buf_reset(&r->resp.body);
    sl_aws_set_request_id(r, SL_PROTO_REST_JSON, l->q->request_id);
    sl_http_set_header(r, "x-amzn-ErrorType", "TooManyRequestsException");
    sl_http_set_header(r, "Content-Type", "application/json");
    sl_http_set_header(r, "Retry-After", "1");
    sl_buf_printf(&r->resp.body, "{\"Reason\":\"%s\",\"Type\":\"User\",\"message\":\"Rate Exceeded.\"}",
                  reason);
    sl_http_send(r, 429);
}

static void settle_invoke(struct sl_svc_request *q)
{
    sl_runtime_settle(q->app->lambda->rt, q->state);
    q->state = NULL;
}

void sl_lambda_op_invoke(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load_shared(l, name, sizeof(name), &cfg))
        return;
    const char *type = json_string_value(json_object_get(l->in, "InvocationType"));
    struct sl_svc_request *q = l->q;
    const char *payload = q->body_buf.data;
    size_t len = q->body_buf.len;
    /* The payload must be JSON: checked without building it, and by
     * jansson (which words the error) when that check is not sure. */
    if (len && !sl_json_valid(payload, len)) {
        json_error_t jerr;
        json_t *doc = json_loadb(payload, len, JSON_DECODE_ANY, &jerr);
        if (!doc) {
            json_decref(cfg);
            sl_lambda_error(l, 400, "InvalidRequestContentException",
                            "Could not parse request body into json: Could not parse payload "
                            "into json: %s",
                            jerr.text);
            return;
        }
        json_decref(doc);
    }
    if (type && strcmp(type, "DryRun") == 0) {
        json_decref(cfg);
        json_t *out = json_pack("{s:i}", "StatusCode", 204);
        sl_lambda_respond(l, out, NULL, 0);
        json_decref(out);
        return;
    }
    if (type && strcmp(type, "Event") == 0) {
        json_decref(cfg);
        sl_lambda_async_accept(l, name, payload, len);
        return;
    }
    if (!q->app->lambda) {
        json_decref(cfg);
        sl_lambda_internal(l, NULL);
        return;
    }
    /* X-Amz-Client-Context is base64 of JSON; the runtime gets the JSON. */
    char *context = NULL;
    const char *cc = json_string_value(json_object_get(l->in, "ClientContext"));
    if (cc) {
        size_t n = strlen(cc), out = 0;
        context = calloc(1, n + 1);
        if (!context || sl_base64_decode(cc, n, (uint8_t *)context, n, &out)) {
            free(context);
            json_decref(cfg);
            sl_lambda_error(l, 400, "InvalidRequestContentException",
                            "Client context must be a valid Base64-encoded JSON object.");
            return;
        }
    }
    struct sl_invocation inv;
    sl_invocation_init(&inv);
    sl_strlcpy(inv.request_id, q->request_id, sizeof(inv.request_id));
    inv.payload = payload;
    inv.payload_len = len;
    inv.client_context = context;
    const char *log_type = json_string_value(json_object_get(l->in, "LogType"));
    inv.want_log = log_type && strcmp(log_type, "Tail") == 0;
    inv.defer_settle = true;
    int rc = sl_lambda_run(q->app, q->account, q->region, name, cfg, &inv);
    if (inv.settle) {
        /* The runtime's side of the call ends once the answer is sent. */
        q->state = inv.settle;
        q->state_free = settle_invoke;
    }
    json_decref(cfg);
    free(context);
    if (rc || inv.result == SL_INVOKE_FAILED) {
        sl_lambda_internal(l, NULL);
    } else if (inv.result == SL_INVOKE_THROTTLED) {
        throttled(l, inv.throttle_reason);
    } else {
        json_t *out = json_pack("{s:i, s:s}", "StatusCode", 200, "ExecutedVersion", "$LATEST");
        if (inv.result == SL_INVOKE_FUNCTION_ERROR)
            json_object_set_new(out, "FunctionError", json_string("Unhandled"));
        if (inv.want_log) {
            /* The last 4 KB of the log, base64. */
            size_t n = inv.log.len, from = n > 4096 ? n - 4096 : 0;
            struct sl_buf b64;
            sl_buf_init(&b64, 0);
            sl_base64_encode(&b64, (const uint8_t *)inv.log.data + from, n - from);
            json_object_set_new(out, "LogResult", json_string(b64.data ? b64.data : ""));
            sl_buf_free(&b64);
        }
        sl_http_set_header(q->http, "Content-Type", "application/json");
        sl_lambda_respond(l, out, inv.response.data, inv.response.len);
        json_decref(out);
    }
    sl_invocation_close(&inv);
}

void sl_lambda_serve_code(struct sl_app *app, struct sl_http_request *r)
{
    /* /_sluice/lambda/code/<account>/<region>/<name> */
    char account[16], region[64], name[80];
    const char *p = r->path + strlen("/_sluice/lambda/code/");
    if (sscanf(p, "%15[0-9]/%63[a-z0-9-]/%79[A-Za-z0-9_-]", account, region, name) != 3) {
        sl_http_send(r, 404);
        return;
    }
    /* Only a URL GetFunction handed out, and not after it expired. */
    const char *exp = sl_http_param(r, "Expires");
    const char *sig = sl_http_param(r, "Signature");
    char want[65];
    long long expires = exp ? strtoll(exp, NULL, 10) : 0;
    if (!app->lambda || !sig || expires < (long long)time(NULL)) {
        sl_http_send(r, 403);
        return;
    }
    code_sig(app->lambda, account, region, name, expires, want);
    if (strlen(sig) != 64 || CRYPTO_memcmp(sig, want, 64) != 0) {
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
