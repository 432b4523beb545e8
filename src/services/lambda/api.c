/*
 * The Lambda control plane: CreateFunction, Get/List/Update/Delete,
 * concurrency and account settings. Requests are routed, decoded and
 * validated by the model layer; a function is one item of SL_LAMBDA_NS
 * (pk "<account>:<region>", sk its name) whose value is its
 * FunctionConfiguration as AWS returns it, plus private members whose
 * names start with '_', and whose blob is its deployment package.
 */
#include "services/lambda/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/s3/s3.h"

#define M (&sl_model_lambda)
#define LIST_DEFAULT 50

typedef void (*lambda_op_fn)(struct lreq *l);

void sl_lambda_error(struct lreq *l, int status, const char *code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_svc_error(l->q, status, code, NULL, "%s", msg);
}

void sl_lambda_internal(struct lreq *l, const struct sl_err *err)
{
    sl_error("lambda", "%s: %s", l->op->name, err && err->msg[0] ? err->msg : "internal error");
    sl_lambda_error(l, 500, "ServiceException", "An internal error occurred.");
}

static void invalid(struct lreq *l, const char *fmt, ...) SL_PRINTF(2, 3);

static void invalid(struct lreq *l, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_lambda_error(l, 400, "InvalidParameterValueException", "%s", msg);
}

static const char *in_str(struct lreq *l, const char *name)
{
    return json_string_value(json_object_get(l->in, name));
}

/* ---- names ----------------------------------------------------------- */

static bool valid_name(const char *s, size_t n)
{
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/*
 * Splits a FunctionName input (name, name:qualifier, partial or full ARN)
 * into name and qualifier. 0, or answers with the error and returns -1.
 */
static int parse_function_name(struct lreq *l, const char *input, char *name, size_t ncap,
                               char *qual, size_t qcap)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", input);
    char *parts[8];
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(buf, ":", &save); p && n < 8; p = strtok_r(NULL, ":", &save))
        parts[n++] = p;
    const char *fn = NULL, *q = NULL, *account = NULL, *region = NULL;
    if (n >= 1 && strcmp(parts[0], "arn") == 0) {
        /* arn:aws:lambda:region:account:function:name[:qualifier] */
        if ((n == 7 || n == 8) && strcmp(parts[2], "lambda") == 0 &&
            strcmp(parts[5], "function") == 0) {
            region = parts[3];
            account = parts[4];
            fn = parts[6];
            q = n == 8 ? parts[7] : NULL;
        }
    } else if (n >= 3 && strcmp(parts[1], "function") == 0) {
        account = parts[0];
        fn = parts[2];
        q = n == 4 ? parts[3] : NULL;
        if (n > 4)
            fn = NULL;
    } else if (n == 1 || n == 2) {
        fn = parts[0];
        q = n == 2 ? parts[1] : NULL;
    }
    if (!fn || !valid_name(fn, strlen(fn))) {
        sl_lambda_error(l, 400, "ValidationException",
               "1 validation error detected: Value '%s' at 'functionName' failed to satisfy "
               "constraint: Member must satisfy regular expression pattern: "
               "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
               "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
               input);
        return -1;
    }
    if ((account && strcmp(account, l->q->account) != 0) ||
        (region && strcmp(region, l->q->region) != 0)) {
        sl_lambda_error(l, 404, "ResourceNotFoundException", "Function not found: %s", input);
        return -1;
    }
    const char *given = in_str(l, "Qualifier");
    if (q && given && strcmp(q, given) != 0) {
        invalid(l, "The derived qualifier from the function name does not match the specified "
                   "qualifier.");
        return -1;
    }
    snprintf(name, ncap, "%s", fn);
    snprintf(qual, qcap, "%s", q ? q : given ? given : "");
    return 0;
}

static void function_arn(struct lreq *l, const char *name, char *out, size_t n)
{
    snprintf(out, n, "arn:aws:lambda:%s:%s:function:%s", l->q->region, l->q->account, name);
}

static void not_found(struct lreq *l, const char *name)
{
    char arn[256];
    function_arn(l, name, arn, sizeof(arn));
    sl_lambda_error(l, 404, "ResourceNotFoundException", "Function not found: %s", arn);
}

/*
 * Loads the function named by the FunctionName input. Only $LATEST exists
 * so far: another qualifier is not found. 0, or answers and returns -1.
 */
int sl_lambda_load(struct lreq *l, char *name, size_t ncap, json_t **cfg, struct sl_item *item)
{
    char qual[130];
    if (parse_function_name(l, in_str(l, "FunctionName"), name, ncap, qual, sizeof(qual)))
        return -1;
    struct sl_item it;
    int rc = sl_kv_get(l->q->app->store, SL_LAMBDA_NS, l->pk, name, &it);
    if (rc == SL_ENOTFOUND || (qual[0] && strcmp(qual, "$LATEST") != 0)) {
        if (!rc)
            sl_item_free(&it);
        not_found(l, name);
        return -1;
    }
    if (rc) {
        sl_lambda_internal(l, NULL);
        return -1;
    }
    *cfg = json_loadb(it.val, it.val_len, 0, NULL);
    if (!*cfg) {
        sl_item_free(&it);
        sl_lambda_internal(l, NULL);
        return -1;
    }
    if (item)
        *item = it;
    else
        sl_item_free(&it);
    return 0;
}

int sl_lambda_get_config(struct sl_app *app, const char *pk, const char *name, json_t **cfg)
{
    *cfg = NULL;
    struct sl_lambda_cache *c = sl_lambda_cache_of(app);
    uint64_t gen = 0;
    if (c && (*cfg = sl_lambda_cache_get(c, pk, name, &gen)) != NULL)
        return 0;
    struct sl_item it;
    int rc = sl_kv_get(app->store, SL_LAMBDA_NS, pk, name, &it);
    if (rc)
        return rc;
    *cfg = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (!*cfg)
        return SL_ECORRUPT;
    if (c)
        sl_lambda_cache_put(c, pk, name, *cfg, gen);
    return 0;
}

int sl_lambda_load_shared(struct lreq *l, char *name, size_t ncap, json_t **cfg)
{
    char qual[130];
    if (parse_function_name(l, in_str(l, "FunctionName"), name, ncap, qual, sizeof(qual)))
        return -1;
    if (qual[0] && strcmp(qual, "$LATEST") != 0)
        return sl_lambda_load(l, name, ncap, cfg, NULL); /* answers not found */
    int rc = sl_lambda_get_config(l->q->app, l->pk, name, cfg);
    if (rc == SL_ENOTFOUND)
        not_found(l, name);
    else if (rc)
        sl_lambda_internal(l, NULL);
    return rc ? -1 : 0;
}

/* The configuration as AWS shows it: private members dropped. */
static json_t *public_config(json_t *cfg)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v)
    {
        if (k[0] != '_')
            json_object_set(out, k, v);
    }
    return out;
}

static void last_modified(char *out, size_t n)
{
    /* "2024-01-02T03:04:05.678+0000" */
    char iso[32];
    sl_time_iso8601_ms(sl_time_now_ms(), iso, sizeof(iso));
    iso[23] = '\0';
    snprintf(out, n, "%s+0000", iso);
}

static void new_revision(json_t *cfg)
{
    sl_lambda_new_revision_id(cfg);
    char lm[40];
    last_modified(lm, sizeof(lm));
    json_object_set_new(cfg, "LastModified", json_string(lm));
}

void sl_lambda_new_revision_id(json_t *cfg)
{
    char uuid[37];
    sl_uuid(uuid);
    json_object_set_new(cfg, "RevisionId", json_string(uuid));
}

/* ---- validation beyond the model -------------------------------------- */

static const char *const supported_runtimes[] = {
    "provided",   "provided.al2", "provided.al2023", "python3.8",  "python3.9",
    "python3.10", "python3.11",   "python3.12",      "python3.13", "nodejs18.x",
    "nodejs20.x", "nodejs22.x",
};

static bool runtime_supported(const char *rt)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(supported_runtimes); i++)
        if (strcmp(rt, supported_runtimes[i]) == 0)
            return true;
    return false;
}

static const char *const reserved_env[] = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
};

/* Checks Environment.Variables as AWS does; answers and returns -1. */
static int check_environment(struct lreq *l, json_t *env)
{
    json_t *vars = json_object_get(env, "Variables");
    if (!vars)
        return 0;
    struct sl_buf used;
    sl_buf_init(&used, 4096);
    const char *k;
    json_t *v;
    json_object_foreach(vars, k, v)
    {
        bool ok = ((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z')) && k[1];
        for (size_t i = 1; ok && k[i]; i++)
            ok = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
                 (k[i] >= '0' && k[i] <= '9') || k[i] == '_';
        if (!ok) {
            sl_buf_free(&used);
            sl_lambda_error(l, 400, "ValidationException",
                   "1 validation error detected: Value at 'environment.variables' failed to "
                   "satisfy constraint: Map keys must satisfy constraint: [Member must satisfy "
                   "regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]");
            return -1;
        }
        for (size_t i = 0; i < SL_ARRAY_LEN(reserved_env); i++)
            if (strcmp(k, reserved_env[i]) == 0)
                sl_buf_printf(&used, "%s%s", used.len ? ", " : "", k);
    }
    if (used.len) {
        invalid(l, "Lambda was unable to configure your environment variables because the "
                   "environment variables you have provided contains reserved keys that are "
                   "currently not supported for modification. Reserved keys used in this "
                   "request: %s",
                used.data);
        sl_buf_free(&used);
        return -1;
    }
    sl_buf_free(&used);
    char *measured = json_dumps(vars, JSON_COMPACT);
    size_t n = measured ? strlen(measured) : 0;
    if (n > SL_LAMBDA_ENV_MAX) {
        invalid(l, "Lambda was unable to configure your environment variables because the "
                   "environment variables you have provided exceeded the 4KB limit. String "
                   "measured: %.1500s",
                measured);
        free(measured);
        return -1;
    }
    free(measured);
    return 0;
}

static int check_role(struct lreq *l, const char *role)
{
    /* arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+ */
    const char *p = role;
    bool ok = strncmp(p, "arn:aws", 7) == 0;
    if (ok) {
        p = strchr(p + 4, ':');
        ok = p && strncmp(p, ":iam::", 6) == 0;
    }
    if (ok) {
        p += 6;
        for (int i = 0; i < 12 && ok; i++)
            ok = p[i] >= '0' && p[i] <= '9';
        ok = ok && strncmp(p + 12, ":role/", 6) == 0 && p[18];
    }
    if (!ok) {
        sl_lambda_error(l, 400, "ValidationException",
               "1 validation error detected: Value '%s' at 'role' failed to satisfy constraint: "
               "Member must satisfy regular expression pattern: "
               "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
               role);
        return -1;
    }
    return 0;
}

/* ---- code ------------------------------------------------------------ */

/* Hashes a package: its size and SHA-256 (hex, and base64 as CodeSha256). */
static int hash_code(struct sl_lambda_code *c)
{
    struct sl_hash h;
    if (sl_hash_init(&h, SL_HASH_SHA256))
        return SL_ENOMEM;
    c->size = 0;
    if (c->fd >= 0) {
        char buf[65536];
        ssize_t n;
        off_t off = 0;
        while ((n = pread(c->fd, buf, sizeof(buf), off)) > 0) {
            sl_hash_update(&h, buf, (size_t)n);
            off += n;
        }
        if (n < 0) {
            sl_hash_close(&h);
            return SL_EIO;
        }
        c->size = (uint64_t)off;
    } else {
        sl_hash_update(&h, c->data, c->len);
        c->size = c->len;
    }
    uint8_t d[SL_SHA256_LEN];
    sl_hash_final(&h, d);
    sl_hash_close(&h);
    sl_hex_encode(d, sizeof(d), c->sha_hex);
    struct sl_buf b;
    sl_buf_init(&b, 0);
    sl_base64_encode(&b, d, sizeof(d));
    snprintf(c->sha_b64, sizeof(c->sha_b64), "%s", b.data ? b.data : "");
    sl_buf_free(&b);
    return 0;
}

/*
 * Takes the package given by ZipFile or S3Bucket/S3Key (members of src),
 * checks and unpacks it, and leaves it as a blob ready to store.
 * 0, or answers and returns -1.
 */
static int take_code(struct lreq *l, json_t *src, struct sl_blob *blob,
                     struct sl_lambda_code *code)
{
    struct sl_store *st = l->q->app->store;
    const char *zip64 = json_string_value(json_object_get(src, "ZipFile"));
    const char *bucket = json_string_value(json_object_get(src, "S3Bucket"));
    const char *key = json_string_value(json_object_get(src, "S3Key"));
    struct sl_err err = {0};
    memset(code, 0, sizeof(*code));
    code->fd = -1;
    memset(blob, 0, sizeof(*blob));
    int rc;
    if (json_object_get(src, "ImageUri")) {
        invalid(l, "Container images are not supported by Sluice yet: use a .zip package.");
        return -1;
    }
    if (zip64 && (bucket || key)) {
        invalid(l, "Please provide a source for function code (ZipFile or S3Bucket and S3Key), "
                   "not both.");
        return -1;
    }
    if (zip64) {
        size_t n = strlen(zip64), len = 0;
        uint8_t *raw = malloc(n / 4 * 3 + 3);
        if (!raw || sl_base64_decode(zip64, n, raw, n / 4 * 3 + 3, &len)) {
            free(raw);
            invalid(l, "Could not unzip uploaded file. Please check your file, then try to "
                       "upload again.");
            return -1;
        }
        if (len > SL_LAMBDA_MAX_ZIPPED) {
            free(raw);
            sl_lambda_error(l, 413, "RequestEntityTooLargeException",
                   "Request must be smaller than %llu bytes for the CreateFunction operation",
                   SL_LAMBDA_MAX_REQUEST);
            return -1;
        }
        struct sl_blob_writer *w = NULL;
        rc = sl_blob_writer_new(st, &w);
        if (!rc)
            rc = sl_blob_writer_write(w, raw, len);
        if (!rc)
            rc = sl_blob_writer_finish(w, blob);
        else
            sl_blob_writer_abort(w);
        code->data = (const char *)raw;
        code->len = len;
        if (!rc)
            rc = hash_code(code);
        if (!rc && (rc = sl_lambda_code_unpack(l->q->app->data_dir, code, (char[4096]){0},
                                               4096, &err)) != 0) {
            sl_blob_discard(st, blob);
            sl_blob_free(blob);
            free(raw);
            code->data = NULL;
            if (rc == SL_EINVAL || rc == SL_ETOOBIG)
                invalid(l, "%s", err.msg);
            else
                sl_lambda_internal(l, &err);
            return -1;
        }
        free(raw);
        code->data = NULL;
        if (rc) {
            sl_lambda_internal(l, NULL);
            return -1;
        }
        return 0;
    }
    if (!bucket || !key) {
        invalid(l, "Please provide a source for function code.");
        return -1;
    }
    struct sl_item it;
    rc = sl_s3_object_item(st, bucket, key, &it);
    if (rc) {
        invalid(l, "Error occurred while GetObject. S3 Error Code: %s. S3 Error Message: %s",
                rc == SL_ENOTFOUND ? "NoSuchKey" : "InternalError",
                rc == SL_ENOTFOUND ? "The specified key does not exist." : "internal error");
        return -1;
    }
    rc = sl_blob_copy(st, &it.blob, blob);
    sl_item_free(&it);
    int fd = -1;
    if (!rc)
        rc = sl_blob_open(st, blob, &fd);
    if (!rc) {
        code->fd = fd;
        code->data = blob->inline_data;
        code->len = blob->inline_data ? (size_t)blob->size : 0;
        rc = hash_code(code);
    }
    if (!rc && code->size > SL_LAMBDA_MAX_ZIPPED * 5) {
        rc = SL_ETOOBIG;
        snprintf(err.msg, sizeof(err.msg), "Unzipped size must be smaller than %llu bytes",
                 SL_LAMBDA_MAX_UNZIPPED);
    }
    if (!rc)
        rc = sl_lambda_code_unpack(l->q->app->data_dir, code, (char[4096]){0}, 4096, &err);
    if (fd >= 0)
        close(fd);
    code->fd = -1;
    code->data = NULL;
    if (rc) {
        sl_blob_discard(st, blob);
        sl_blob_free(blob);
        if (rc == SL_EINVAL || rc == SL_ETOOBIG)
            invalid(l, "%s", err.msg);
        else
            sl_lambda_internal(l, &err);
        return -1;
    }
    return 0;
}

/* ---- writes ---------------------------------------------------------- */

/* A new function: its configuration and its code's zip as the blob.
 * (Every later change goes through sl_lambda_modify().) */
struct fn_create {
    const char *pk, *name, *val;
    const struct sl_blob *blob;
};

static int fn_create_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct fn_create *w = arg;
    int rc = sl_txn_exists(t, SL_LAMBDA_NS, w->pk, w->name);
    if (rc == 0)
        return SL_EEXIST;
    if (rc != SL_ENOTFOUND)
        return rc;
    return sl_txn_put(t, SL_LAMBDA_NS, w->pk, w->name, w->val, strlen(w->val), w->blob);
}

struct fn_modify {
    const char *pk, *name, *revision;
    sl_lambda_modify_fn fn;
    void *arg;
    json_t *result; /* the configuration written */
};

/* Reads, changes and writes the configuration in one transaction, so
 * concurrent changes cannot lose one another. */
static int fn_modify_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct fn_modify *m = arg;
    struct sl_item it;
    int rc = sl_txn_get(t, SL_LAMBDA_NS, m->pk, m->name, &it);
    if (rc == SL_ENOTFOUND)
        err->msg[0] = '\0'; /* the function is gone: answered as Lambda does */
    if (rc)
        return rc;
    json_t *cfg = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (!cfg)
        return SL_ECORRUPT;
    const char *have = json_string_value(json_object_get(cfg, "RevisionId"));
    if (m->revision && (!have || strcmp(have, m->revision) != 0))
        rc = SL_ECONDITION;
    if (!rc)
        rc = m->fn(t, cfg, m->arg, err);
    char *val = NULL;
    if (!rc) {
        val = json_dumps(cfg, JSON_COMPACT);
        rc = val ? sl_txn_set_val(t, SL_LAMBDA_NS, m->pk, m->name, val, strlen(val))
                 : SL_ENOMEM;
    }
    free(val);
    if (rc)
        json_decref(cfg);
    else
        m->result = cfg;
    return rc;
}

static void forget_cached(struct lreq *l, const char *name);

int sl_lambda_modify(struct lreq *l, const char *name, sl_lambda_modify_fn fn, void *arg,
                     struct sl_err *err, json_t **result)
{
    struct fn_modify m = {l->pk, name, in_str(l, "RevisionId"), fn, arg, NULL};
    int rc = sl_store_write(l->q->app->store, fn_modify_txn, &m, err);
    forget_cached(l, name);
    if (rc) { /* the batch may fail after the transaction succeeded */
        json_decref(m.result);
        m.result = NULL;
    }
    if (result)
        *result = m.result;
    else
        json_decref(m.result);
    return rc;
}

/* Answers a failed sl_lambda_modify() as Lambda does. */
void sl_lambda_modify_failed(struct lreq *l, const char *name, int rc, const struct sl_err *err)
{
    if (rc == SL_ENOTFOUND && err->msg[0] == '\0')
        not_found(l, name);
    else if (rc == SL_ENOTFOUND)
        sl_lambda_error(l, 404, "ResourceNotFoundException", "%s", err->msg);
    else if (rc == SL_ECONDITION)
        sl_lambda_error(l, 412, "PreconditionFailedException",
                        "The Revision Id provided does not match the latest Revision Id. Call "
                        "the GetFunction/GetAlias API to retrieve the latest Revision Id");
    else if (rc == SL_EEXIST)
        sl_lambda_error(l, 409, "ResourceConflictException", "%s", err->msg);
    else if (rc == SL_ETOOBIG)
        sl_lambda_error(l, 400, "PolicyLengthExceededException",
                        "The final policy size is bigger than the limit.");
    else if (rc == SL_EINVAL)
        sl_lambda_error(l, 400, "InvalidParameterValueException", "%s", err->msg);
    else
        sl_lambda_internal(l, err);
}

/* After every write of a function, whatever its outcome. */
static void forget_cached(struct lreq *l, const char *name)
{
    struct sl_lambda_cache *c = sl_lambda_cache_of(l->q->app);
    if (c)
        sl_lambda_cache_forget(c, l->pk, name);
}

/* Stores a new function (cfg and its code's blob); 0, or answers and
 * returns -1. */
static int store_new_function(struct lreq *l, const char *name, json_t *cfg,
                              const struct sl_blob *blob)
{
    char *val = json_dumps(cfg, JSON_COMPACT);
    if (!val) {
        sl_lambda_internal(l, NULL);
        return -1;
    }
    struct fn_create w = {l->pk, name, val, blob};
    struct sl_err err = {0};
    int rc = sl_store_write(l->q->app->store, fn_create_txn, &w, &err);
    free(val);
    forget_cached(l, name);
    if (rc == SL_EEXIST) {
        sl_lambda_error(l, 409, "ResourceConflictException", "Function already exist: %s", name);
        return -1;
    }
    if (rc) {
        sl_lambda_internal(l, &err);
        return -1;
    }
    return 0;
}

void sl_lambda_respond(struct lreq *l, json_t *out, const char *payload, size_t len)
{
    sl_aws_set_request_id(l->q->http, SL_PROTO_REST_JSON, l->q->request_id);
    sl_model_respond(M, l->op, l->q->http, out, payload, len);
}

static void respond(struct lreq *l, json_t *out)
{
    sl_lambda_respond(l, out, NULL, 0);
}

/* Copies the configuration members an update may set from in into cfg. */
static void apply_config(json_t *cfg, json_t *in)
{
    static const char *const members[] = {
        "Role",    "Handler",       "Description",      "Timeout",   "MemorySize",
        "Runtime", "Environment",   "TracingConfig",    "EphemeralStorage",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(members); i++) {
        json_t *v = json_object_get(in, members[i]);
        if (v)
            json_object_set(cfg, members[i], v);
    }
}

/* Checks the members a create or update sets; 0, or answers. */
static int check_config(struct lreq *l, json_t *in, bool create)
{
    const char *rt = json_string_value(json_object_get(in, "Runtime"));
    const char *pkg = json_string_value(json_object_get(in, "PackageType"));
    if (pkg && strcmp(pkg, "Image") == 0) {
        invalid(l, "Container images are not supported by Sluice yet: use a .zip package.");
        return -1;
    }
    if (create && (!rt || !json_object_get(in, "Handler"))) {
        invalid(l, "Runtime and Handler are mandatory parameters for functions created with "
                   "deployment packages.");
        return -1;
    }
    if (rt && !runtime_supported(rt)) {
        invalid(l, "The runtime parameter of %s is not supported by Sluice. Supported "
                   "runtimes: provided, provided.al2, provided.al2023, python3.8 to python3.13, "
                   "nodejs18.x, nodejs20.x, nodejs22.x.",
                rt);
        return -1;
    }
    const char *role = json_string_value(json_object_get(in, "Role"));
    if (role && check_role(l, role))
        return -1;
    json_t *env = json_object_get(in, "Environment");
    if (env && check_environment(l, env))
        return -1;
    json_t *arch = json_object_get(in, "Architectures");
    if (arch && json_array_size(arch) != 1) {
        invalid(l, "Architectures must list exactly one architecture.");
        return -1;
    }
    if (json_object_get(in, "Layers") && json_array_size(json_object_get(in, "Layers"))) {
        invalid(l, "Layers are not supported by Sluice yet.");
        return -1;
    }
    /* A dead-letter queue is an SQS queue or SNS topic: Sluice has neither
     * yet, so none can exist; refused rather than accepted and ignored. */
    const char *dlq =
        json_string_value(json_object_get(json_object_get(in, "DeadLetterConfig"), "TargetArn"));
    if (dlq && dlq[0]) {
        invalid(l, "The dead-letter target %s does not exist: Sluice has no SQS queues or SNS "
                   "topics yet.",
                dlq);
        return -1;
    }
    return 0;
}

static void op_create(struct lreq *l)
{
    char name[80], qual[130];
    if (parse_function_name(l, in_str(l, "FunctionName"), name, sizeof(name), qual,
                            sizeof(qual)))
        return;
    if (qual[0]) {
        invalid(l, "A function name with a qualifier is not valid for CreateFunction.");
        return;
    }
    if (check_config(l, l->in, true))
        return;
    struct sl_blob blob;
    struct sl_lambda_code code;
    if (take_code(l, json_object_get(l->in, "Code"), &blob, &code))
        return;
    char arn[256], lg[128];
    function_arn(l, name, arn, sizeof(arn));
    snprintf(lg, sizeof(lg), "/aws/lambda/%s", name);
    json_t *cfg = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:{s:s},"
        " s:[s], s:{s:I}, s:{s:s, s:s}, s:{s:s, s:s}}",
        "FunctionName", name, "FunctionArn", arn, "Runtime", in_str(l, "Runtime"), "Role",
        in_str(l, "Role"), "Handler", in_str(l, "Handler"), "CodeSize", (json_int_t)code.size,
        "Description", in_str(l, "Description") ? in_str(l, "Description") : "", "Timeout",
        (json_int_t)3, "MemorySize", (json_int_t)128, "CodeSha256", code.sha_b64, "Version",
        "$LATEST", "State", "Active", "LastUpdateStatus", "Successful", "PackageType", "Zip",
        "TracingConfig", "Mode", "PassThrough", "Architectures", "x86_64", "EphemeralStorage",
        "Size", (json_int_t)512, "SnapStart", "ApplyOn", "None", "OptimizationStatus", "Off",
        "LoggingConfig", "LogFormat", "Text", "LogGroup", lg);
    apply_config(cfg, l->in);
    json_t *arch = json_object_get(l->in, "Architectures");
    if (arch)
        json_object_set(cfg, "Architectures", arch);
    json_object_set_new(cfg, "_code_hex", json_string(code.sha_hex));
    json_t *tags = json_object_get(l->in, "Tags");
    if (tags)
        json_object_set(cfg, "_tags", tags);
    new_revision(cfg);
    if (store_new_function(l, name, cfg, &blob) == 0) {
        json_t *out = public_config(cfg);
        respond(l, out);
        json_decref(out);
        sl_info("lambda", "created function %s (%s, %llu bytes of code)", name,
                in_str(l, "Runtime"), (unsigned long long)code.size);
    } else {
        sl_blob_discard(l->q->app->store, &blob);
    }
    sl_blob_free(&blob);
    json_decref(cfg);
}

static void op_get_configuration(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return;
    json_t *out = public_config(cfg);
    respond(l, out);
    json_decref(out);
    json_decref(cfg);
}

static void op_get(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return;
    char url[1024];
    sl_lambda_code_url(l->q->app, sl_http_header(l->q->http, "Host"), l->q->account,
                       l->q->region, name, url, sizeof(url));
    json_t *out = json_pack("{s:o, s:{s:s, s:s}}", "Configuration", public_config(cfg), "Code",
                            "RepositoryType", "S3", "Location", url);
    json_t *tags = json_object_get(cfg, "_tags");
    if (tags)
        json_object_set(out, "Tags", tags);
    json_t *reserved = json_object_get(cfg, "_reserved");
    if (reserved)
        json_object_set_new(out, "Concurrency",
                            json_pack("{s:O}", "ReservedConcurrentExecutions", reserved));
    respond(l, out);
    json_decref(out);
    json_decref(cfg);
}

static void op_list(struct lreq *l)
{
    json_t *mi = json_object_get(l->in, "MaxItems");
    size_t max = mi ? (size_t)json_integer_value(mi) : LIST_DEFAULT;
    if (max > LIST_DEFAULT)
        max = LIST_DEFAULT;
    const char *marker = in_str(l, "Marker");
    struct sl_item *items = NULL;
    size_t n = 0;
    if (sl_kv_list(l->q->app->store, SL_LAMBDA_NS, l->pk, NULL, marker, max + 1, &items, &n)) {
        sl_lambda_internal(l, NULL);
        return;
    }
    json_t *fns = json_array();
    for (size_t i = 0; i < n && i < max; i++) {
        json_t *cfg = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        if (cfg) {
            json_t *pub = public_config(cfg);
            /* ListFunctions leaves out the state members. */
            json_object_del(pub, "State");
            json_object_del(pub, "LastUpdateStatus");
            json_array_append_new(fns, pub);
        }
        json_decref(cfg);
    }
    json_t *out = json_pack("{s:o}", "Functions", fns);
    if (n > max)
        json_object_set_new(out, "NextMarker", json_string(items[max - 1].sk));
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    respond(l, out);
    json_decref(out);
}

struct fn_delete {
    const char *pk, *name;
};

static int fn_delete_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct fn_delete *d = arg;
    int rc = sl_txn_delete(t, SL_LAMBDA_NS, d->pk, d->name);
    if (rc)
        return rc;
    /* Its event invoke config goes with it. */
    rc = sl_txn_delete(t, SL_LAMBDA_EIC_NS, d->pk, d->name);
    return rc == SL_ENOTFOUND ? 0 : rc;
}

static void op_delete(struct lreq *l)
{
    char name[80], qual[130];
    if (parse_function_name(l, in_str(l, "FunctionName"), name, sizeof(name), qual,
                            sizeof(qual)))
        return;
    if (qual[0] && strcmp(qual, "$LATEST") != 0) {
        not_found(l, name);
        return;
    }
    struct fn_delete d = {l->pk, name};
    struct sl_err err = {0};
    int rc = sl_store_write(l->q->app->store, fn_delete_txn, &d, &err);
    forget_cached(l, name);
    if (rc == SL_ENOTFOUND) {
        not_found(l, name);
        return;
    }
    if (rc) {
        sl_lambda_internal(l, &err);
        return;
    }
    sl_lambda_runtime_forget(l->q->app, l->pk, name);
    /* Its reservation no longer holds part of the account's pool. */
    sl_lambda_runtime_set_reserved(l->q->app, l->pk, name, -1);
    respond(l, NULL);
}

/* RevisionId, when given, must match (PreconditionFailedException). */
static int check_revision(struct lreq *l, json_t *cfg)
{
    const char *want = in_str(l, "RevisionId");
    const char *have = json_string_value(json_object_get(cfg, "RevisionId"));
    if (want && (!have || strcmp(want, have) != 0)) {
        sl_lambda_error(l, 412, "PreconditionFailedException",
               "The Revision Id provided does not match the latest Revision Id. Call the "
               "GetFunction/GetAlias API to retrieve the latest Revision Id");
        return -1;
    }
    return 0;
}

static int update_config(struct sl_txn *t, json_t *cfg, void *arg, struct sl_err *err)
{
    (void)t;
    (void)err;
    apply_config(cfg, arg);
    new_revision(cfg);
    return 0;
}

/* Changes function name with fn (sl_lambda_modify()), ends its
 * environments and answers with the new configuration, or with the error;
 * returns what sl_lambda_modify() did. */
static int modify_and_answer(struct lreq *l, const char *name, sl_lambda_modify_fn fn, void *arg)
{
    struct sl_err err = {0};
    json_t *cfg = NULL;
    int rc = sl_lambda_modify(l, name, fn, arg, &err, &cfg);
    if (rc) {
        sl_lambda_modify_failed(l, name, rc, &err);
        return rc;
    }
    sl_lambda_runtime_forget(l->q->app, l->pk, name);
    json_t *out = public_config(cfg);
    respond(l, out);
    json_decref(out);
    json_decref(cfg);
    return 0;
}

static void op_update_configuration(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return;
    json_decref(cfg);
    if (check_config(l, l->in, false))
        return;
    modify_and_answer(l, name, update_config, l->in);
}

struct code_update {
    const char *pk, *name;
    const struct sl_lambda_code *code;
    const struct sl_blob *blob; /* NULL: a dry run */
};

/* The new code's members, a new revision, and the zip as the item's blob
 * (its value is then rewritten by sl_lambda_modify(), which keeps it). */
static int update_code(struct sl_txn *t, json_t *cfg, void *arg, struct sl_err *err)
{
    (void)err;
    struct code_update *u = arg;
    json_object_set_new(cfg, "CodeSize", json_integer((json_int_t)u->code->size));
    json_object_set_new(cfg, "CodeSha256", json_string(u->code->sha_b64));
    json_object_set_new(cfg, "_code_hex", json_string(u->code->sha_hex));
    new_revision(cfg);
    return u->blob ? sl_txn_put(t, SL_LAMBDA_NS, u->pk, u->name, "{}", 2, u->blob) : 0;
}

static void op_update_code(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return;
    if (check_revision(l, cfg)) {
        json_decref(cfg);
        return;
    }
    struct sl_blob blob;
    struct sl_lambda_code code;
    if (take_code(l, l->in, &blob, &code)) {
        json_decref(cfg);
        return;
    }
    bool dry = json_is_true(json_object_get(l->in, "DryRun"));
    struct code_update u = {l->pk, name, &code, dry ? NULL : &blob};
    if (dry) {
        /* Nothing is written: the configuration as it would become. */
        update_code(NULL, cfg, &u, NULL);
        sl_blob_discard(l->q->app->store, &blob);
        json_t *out = public_config(cfg);
        respond(l, out);
        json_decref(out);
    } else if (modify_and_answer(l, name, update_code, &u)) {
        /* (Read, changed and written in one transaction, as every other
         * change of a function, so a concurrent one is never lost.) */
        sl_blob_discard(l->q->app->store, &blob);
    }
    sl_blob_free(&blob);
    json_decref(cfg);
}

/* ---- concurrency ----------------------------------------------------- */

/* The reservations and code sizes of an account's functions. */
struct tally {
    const char *except; /* a function left out of the sum, or NULL */
    long sum, count;
    uint64_t code_size;
};

/* Adds up the functions of pk: in transaction t when not NULL (seeing its
 * writes), else from the last commit. */
static int tally_functions(struct sl_store *st, struct sl_txn *t, const char *pk,
                           struct tally *out)
{
    char last[80] = "";
    for (;;) {
        struct sl_item *items = NULL;
        size_t n = 0;
        const char *after = last[0] ? last : NULL;
        int rc = t ? sl_txn_list(t, SL_LAMBDA_NS, pk, after, 500, &items, &n)
                   : sl_kv_list(st, SL_LAMBDA_NS, pk, NULL, after, 500, &items, &n);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++) {
            json_t *cfg = json_loadb(items[i].val, items[i].val_len, 0, NULL);
            if (!out->except || strcmp(items[i].sk, out->except) != 0)
                out->sum += (long)json_integer_value(json_object_get(cfg, "_reserved"));
            out->code_size += (uint64_t)json_integer_value(json_object_get(cfg, "CodeSize"));
            out->count++;
            json_decref(cfg);
        }
        if (n)
            snprintf(last, sizeof(last), "%s", items[n - 1].sk);
        for (size_t i = 0; i < n; i++)
            sl_item_free(&items[i]);
        free(items);
        if (n < 500)
            return 0;
    }
}

struct reserve {
    const char *pk, *name;
    long want;  /* -1: clear */
    long limit; /* the account's concurrency */
};

/* Sets or clears the reservation (not a revision). The account's
 * unreserved minimum is checked here, against the other functions'
 * reservations as this transaction sees them: two concurrent puts cannot
 * both take the last of it. */
static int set_reserved(struct sl_txn *t, json_t *cfg, void *arg, struct sl_err *err)
{
    struct reserve *r = arg;
    if (r->want < 0) {
        json_object_del(cfg, "_reserved");
        return 0;
    }
    struct tally others = {.except = r->name};
    int rc = tally_functions(NULL, t, r->pk, &others);
    if (rc)
        return rc;
    if (r->limit - others.sum - r->want < SL_LAMBDA_UNRESERVED_MIN)
        return sl_errf(err, SL_EINVAL,
                       "Specified ReservedConcurrentExecutions for function decreases account's "
                       "UnreservedConcurrentExecution below its minimum value of [%d].",
                       SL_LAMBDA_UNRESERVED_MIN);
    json_object_set_new(cfg, "_reserved", json_integer(r->want));
    return 0;
}

static void op_put_concurrency(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return;
    json_decref(cfg);
    struct reserve r = {
        l->pk, name,
        (long)json_integer_value(json_object_get(l->in, "ReservedConcurrentExecutions")),
        (long)l->q->app->account_concurrency};
    struct sl_err err = {0};
    int rc = sl_lambda_modify(l, name, set_reserved, &r, &err, NULL);
    if (rc) {
        sl_lambda_modify_failed(l, name, rc, &err);
        return;
    }
    sl_lambda_runtime_set_reserved(l->q->app, l->pk, name, r.want);
    json_t *out = json_pack("{s:I}", "ReservedConcurrentExecutions", (json_int_t)r.want);
    respond(l, out);
    json_decref(out);
}

static void op_get_concurrency(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return;
    json_t *out = json_object();
    json_t *r = json_object_get(cfg, "_reserved");
    if (r)
        json_object_set(out, "ReservedConcurrentExecutions", r);
    respond(l, out);
    json_decref(out);
    json_decref(cfg);
}

static void op_delete_concurrency(struct lreq *l)
{
    char name[80];
    json_t *cfg;
    if (sl_lambda_load(l, name, sizeof(name), &cfg, NULL))
        return;
    json_decref(cfg);
    struct reserve none = {l->pk, name, -1, 0};
    struct sl_err err = {0};
    int rc = sl_lambda_modify(l, name, set_reserved, &none, &err, NULL);
    if (rc) {
        sl_lambda_modify_failed(l, name, rc, &err);
        return;
    }
    sl_lambda_runtime_set_reserved(l->q->app, l->pk, name, -1);
    respond(l, NULL);
}

static void op_account_settings(struct lreq *l)
{
    struct tally all = {0};
    if (tally_functions(l->q->app->store, NULL, l->pk, &all)) {
        sl_lambda_internal(l, NULL);
        return;
    }
    long reserved = all.sum, count = all.count;
    uint64_t size = all.code_size;
    long limit = (long)l->q->app->account_concurrency;
    json_t *out = json_pack(
        "{s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}}", "AccountLimit", "TotalCodeSize",
        (json_int_t)80530636800LL, "CodeSizeUnzipped", (json_int_t)SL_LAMBDA_MAX_UNZIPPED,
        "CodeSizeZipped", (json_int_t)SL_LAMBDA_MAX_ZIPPED, "ConcurrentExecutions",
        (json_int_t)limit, "UnreservedConcurrentExecutions", (json_int_t)(limit - reserved),
        "AccountUsage", "TotalCodeSize", (json_int_t)size, "FunctionCount", (json_int_t)count);
    respond(l, out);
    json_decref(out);
}

/* ---- dispatch -------------------------------------------------------- */

static const struct {
    const char *op;
    lambda_op_fn fn;
} handlers[] = {
    {"CreateFunction", op_create},
    {"DeleteFunction", op_delete},
    {"AddPermission", sl_lambda_op_add_permission},
    {"DeleteFunctionConcurrency", op_delete_concurrency},
    {"DeleteFunctionEventInvokeConfig", sl_lambda_op_delete_eic},
    {"GetAccountSettings", op_account_settings},
    {"GetFunction", op_get},
    {"GetFunctionConcurrency", op_get_concurrency},
    {"GetFunctionConfiguration", op_get_configuration},
    {"GetFunctionEventInvokeConfig", sl_lambda_op_get_eic},
    {"GetPolicy", sl_lambda_op_get_policy},
    {"Invoke", sl_lambda_op_invoke},
    {"ListFunctionEventInvokeConfigs", sl_lambda_op_list_eic},
    {"ListFunctions", op_list},
    {"PutFunctionConcurrency", op_put_concurrency},
    {"PutFunctionEventInvokeConfig", sl_lambda_op_put_eic},
    {"RemovePermission", sl_lambda_op_remove_permission},
    {"UpdateFunctionCode", op_update_code},
    {"UpdateFunctionConfiguration", op_update_configuration},
    {"UpdateFunctionEventInvokeConfig", sl_lambda_op_update_eic},
};

static void lambda_end(struct sl_svc_request *q)
{
    struct lreq l = {.q = q, .op = q->state};
    snprintf(l.pk, sizeof(l.pk), "%s:%s", q->account, q->region);
    bool invoke = strcmp(l.op->name, "Invoke") == 0;
    if (q->body_too_big) {
        sl_lambda_error(&l, 413, "RequestEntityTooLargeException",
               "Request must be smaller than %llu bytes for the %s operation",
               invoke ? SL_LAMBDA_MAX_INVOKE : SL_LAMBDA_MAX_REQUEST,
               invoke ? "InvokeFunction" : l.op->name);
        return;
    }
    struct sl_model_error e = {0};
    if (sl_model_decode(M, l.op, q->http, q->body_buf.data, q->body_buf.len, &l.in, &e)) {
        if (strcmp(e.code, "SerializationException") == 0)
            sl_lambda_error(&l, 400, "InvalidRequestContentException", "%s", e.message);
        else
            sl_lambda_error(&l, 400, e.code, "%s", e.message);
        return;
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(handlers); i++) {
        if (strcmp(handlers[i].op, l.op->name) == 0) {
            handlers[i].fn(&l);
            json_decref(l.in);
            return;
        }
    }
    json_decref(l.in);
    sl_lambda_error(&l, 501, "UnknownOperationException",
           "Operation %s of service lambda is not implemented by Sluice yet.", l.op->name);
}

void sl_lambda_begin(struct sl_svc_request *q)
{
    const struct sl_operation *op = sl_model_route(M, q->http);
    if (!op) {
        sl_svc_error(q, 404, "UnknownOperationException", NULL,
                     "No Lambda operation matches %s %s", q->http->method, q->http->path);
        return;
    }
    q->state = (void *)op;
    bool invoke = strcmp(op->name, "Invoke") == 0;
    sl_svc_take_body(q, invoke ? SL_LAMBDA_MAX_INVOKE : SL_LAMBDA_MAX_REQUEST, lambda_end);
}
