/*
 * The service's state, and invocations through the runtime: a function's
 * configuration turned into what an environment needs (struct
 * sl_function), the runtime's view of reservations, and the signed URLs
 * of GetFunction's Code.Location.
 */
#include "services/lambda/internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/runtime.h"

int sl_lambda_state_new(struct sl_app *app, struct sl_lambda **out, struct sl_err *err)
{
    struct sl_lambda *l = calloc(1, sizeof(*l));
    if (!l || sl_lambda_metrics_new(&l->metrics) || sl_lambda_cache_new(&l->cache)) {
        if (l)
            sl_lambda_metrics_free(l->metrics);
        free(l);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    if (sl_lambda_cache_new(&l->eic_cache)) {
        sl_lambda_state_free(l);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    l->app = app;
    sl_random(l->url_key, sizeof(l->url_key));
    *out = l;
    return 0;
}

void sl_lambda_state_free(struct sl_lambda *l)
{
    if (!l)
        return;
    sl_lambda_metrics_free(l->metrics);
    sl_lambda_cache_free(l->cache);
    sl_lambda_cache_free(l->eic_cache);
    free(l);
}

/* ---- code URLs ------------------------------------------------------- */

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

void sl_lambda_code_url(struct sl_lambda *l, const char *host, const char *account,
                        const char *region, const char *name, char *out, size_t n)
{
    long long expires = (long long)time(NULL) + 600; /* AWS's Location lasts 10 minutes */
    char sig[65] = "";
    code_sig(l, account, region, name, expires, sig);
    snprintf(out, n, "http://%s/_sluice/lambda/code/%s/%s/%s?Expires=%lld&Signature=%s",
             host ? host : "127.0.0.1:4566", account, region, name, expires, sig);
}

bool sl_lambda_code_url_valid(struct sl_lambda *l, const char *account, const char *region,
                              const char *name, long long expires, const char *sig)
{
    char want[65];
    if (!sig || expires < (long long)time(NULL))
        return false;
    code_sig(l, account, region, name, expires, want);
    return strlen(sig) == 64 && CRYPTO_memcmp(sig, want, 64) == 0;
}

/* ---- the runtime ------------------------------------------------------- */

static void runtime_key(char *out, size_t n, const char *pk, const char *name)
{
    struct sl_text t;
    sl_text_init(&t, out, n);
    sl_text_str(&t, pk);
    sl_text_str(&t, "/");
    sl_text_str(&t, name);
}

void sl_lambda_runtime_forget(struct sl_lambda *l, const char *pk, const char *name)
{
    char key[256];
    runtime_key(key, sizeof(key), pk, name);
    sl_runtime_forget(l->rt, key);
}

void sl_lambda_runtime_prepare(struct sl_lambda *l, json_t *cfg)
{
    json_t *size = json_object_get(json_object_get(cfg, "EphemeralStorage"), "Size");
    sl_runtime_prepare(l->rt, (unsigned)json_integer_value(size));
}

void sl_lambda_runtime_set_reserved(struct sl_lambda *l, const char *pk, const char *name,
                                    long reserved)
{
    char key[256];
    runtime_key(key, sizeof(key), pk, name);
    sl_governor_set_reserved(l->app->governor, key, reserved);
}

void sl_lambda_settle(struct sl_lambda *l, void *settle)
{
    sl_runtime_settle(l->rt, settle);
}

int sl_lambda_load_reservations(struct sl_lambda *l)
{
    struct sl_store *st = l->app->store;
    char **pks = NULL;
    size_t npk = 0;
    int rc = sl_kv_list_pks(st, SL_LAMBDA_NS, &pks, &npk);
    for (size_t i = 0; !rc && i < npk; i++) {
        struct sl_item *items = NULL;
        size_t n = 0;
        rc = sl_kv_list(st, SL_LAMBDA_NS, pks[i], NULL, NULL, SIZE_MAX, &items, &n);
        for (size_t k = 0; k < n; k++) {
            json_t *cfg = json_loadb(items[k].val, items[k].val_len, 0, NULL);
            json_t *r = json_object_get(cfg, "_reserved");
            if (r)
                sl_lambda_runtime_set_reserved(l, pks[i], items[k].sk,
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
    STR(role, "Role");
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

static enum sl_lambda_outcome outcome_of(const struct sl_invocation *inv, int rc)
{
    return rc || inv->result == SL_INVOKE_FAILED       ? SL_LAMBDA_NOT_RUN
           : inv->result == SL_INVOKE_THROTTLED      ? SL_LAMBDA_THROTTLED
           : inv->result == SL_INVOKE_FUNCTION_ERROR ? SL_LAMBDA_ERROR
                                                     : SL_LAMBDA_OK;
}

/* Runs inv through the runtime's start (sl_runtime_call or
 * sl_runtime_start, which copy what they keep of the spec), with its
 * metrics begun, and ended at once when it could not start. */
static int run(struct sl_lambda *l, const char *account, const char *region, const char *name,
               json_t *cfg, struct sl_invocation *inv, sl_invoke_cb cb, void *arg,
               int (*start)(struct sl_runtime *, const struct sl_function *,
                            struct sl_invocation *, sl_invoke_cb, void *))
{
    struct sl_function fn;
    int rc = function_spec(l->app, account, region, name, cfg, &fn);
    sl_lambda_metrics_begin(l->metrics, account, region, name);
    if (!rc)
        rc = start(l->rt, &fn, inv, cb, arg);
    if (rc && rc != SL_LATER)
        sl_lambda_run_end(l, account, region, name, inv, rc);
    free_spec(&fn);
    return rc;
}

int sl_lambda_call(struct sl_lambda *l, const char *account, const char *region, const char *name,
                   json_t *cfg, struct sl_invocation *inv, sl_invoke_cb cb, void *arg)
{
    return run(l, account, region, name, cfg, inv, cb, arg, sl_runtime_call);
}

int sl_lambda_run_start(struct sl_lambda *l, const char *account, const char *region,
                        const char *name, json_t *cfg, struct sl_invocation *inv,
                        sl_invoke_cb cb, void *arg)
{
    return run(l, account, region, name, cfg, inv, cb, arg, sl_runtime_start);
}

void sl_lambda_run_end(struct sl_lambda *l, const char *account, const char *region,
                       const char *name, const struct sl_invocation *inv, int rc)
{
    sl_lambda_metrics_end(l->metrics, account, region, name, outcome_of(inv, rc),
                          inv->duration_ms);
}

