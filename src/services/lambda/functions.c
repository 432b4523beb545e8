/*
 * Functions: CreateFunction, GetFunction(Configuration), ListFunctions,
 * UpdateFunctionConfiguration, UpdateFunctionCode, DeleteFunction, with
 * Lambda's checks beyond the model and the packages they take.
 */
#include "services/lambda/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/s3/s3.h"

#define LIST_DEFAULT 50

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

/* Checks Environment.Variables as AWS does; 0, or answers (SL_DONE). */
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
            return sl_lambda_error(l, LAMBDA_E_VALIDATION,
                   "1 validation error detected: Value at 'environment.variables' failed to "
                   "satisfy constraint: Map keys must satisfy constraint: [Member must satisfy "
                   "regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]");
        }
        for (size_t i = 0; i < SL_ARRAY_LEN(reserved_env); i++)
            if (strcmp(k, reserved_env[i]) == 0)
                sl_buf_printf(&used, "%s%s", used.len ? ", " : "", k);
    }
    if (used.len) {
        int rc = sl_lambda_invalid(
            l, "Lambda was unable to configure your environment variables because the "
               "environment variables you have provided contains reserved keys that are "
               "currently not supported for modification. Reserved keys used in this "
               "request: %s",
            used.data);
        sl_buf_free(&used);
        return rc;
    }
    sl_buf_free(&used);
    char *measured = json_dumps(vars, JSON_COMPACT);
    size_t n = measured ? strlen(measured) : 0;
    if (n > SL_LAMBDA_ENV_MAX) {
        int rc = sl_lambda_invalid(
            l, "Lambda was unable to configure your environment variables because the "
               "environment variables you have provided exceeded the 4KB limit. String "
               "measured: %.1500s",
            measured);
        free(measured);
        return rc;
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
        return sl_lambda_error(l, LAMBDA_E_VALIDATION,
               "1 validation error detected: Value '%s' at 'role' failed to satisfy constraint: "
               "Member must satisfy regular expression pattern: "
               "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
               role);
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
 * 0, or the call has its answer (SL_DONE), or a failure.
 */
static int take_code(struct lreq *l, json_t *src, struct sl_blob *blob,
                     struct sl_lambda_code *code)
{
    struct sl_store *st = l->c->app->store;
    const char *zip64 = json_string_value(json_object_get(src, "ZipFile"));
    const char *bucket = json_string_value(json_object_get(src, "S3Bucket"));
    const char *key = json_string_value(json_object_get(src, "S3Key"));
    struct sl_err err = {0};
    memset(code, 0, sizeof(*code));
    code->fd = -1;
    memset(blob, 0, sizeof(*blob));
    int rc;
    if (json_object_get(src, "ImageUri")) {
        return sl_lambda_invalid(l, "Container images are not supported by Sluice yet: use a .zip package.");
    }
    if (zip64 && (bucket || key)) {
        return sl_lambda_invalid(l, "Please provide a source for function code (ZipFile or S3Bucket and S3Key), "
                   "not both.");
    }
    if (zip64) {
        size_t n = strlen(zip64), len = 0;
        uint8_t *raw = malloc(n / 4 * 3 + 3);
        if (!raw || sl_base64_decode(zip64, n, raw, n / 4 * 3 + 3, &len)) {
            free(raw);
            return sl_lambda_invalid(l, "Could not unzip uploaded file. Please check your file, then try to "
                       "upload again.");
        }
        if (len > SL_LAMBDA_MAX_ZIPPED) {
            free(raw);
            return sl_lambda_error(l, LAMBDA_E_TOO_LARGE,
                   "Request must be smaller than %llu bytes for the CreateFunction operation",
                   SL_LAMBDA_MAX_REQUEST);
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
        if (!rc && (rc = sl_lambda_code_unpack(l->c->app->data_dir, code, (char[4096]){0},
                                               4096, &err)) != 0) {
            sl_blob_discard(st, blob);
            sl_blob_free(blob);
            free(raw);
            code->data = NULL;
            if (rc == SL_EINVAL || rc == SL_ETOOBIG)
                return sl_lambda_invalid(l, "%s", err.msg);
            return sl_call_internal(l->c, rc, &err);
        }
        free(raw);
        code->data = NULL;
        return rc;
    }
    if (!bucket || !key) {
        return sl_lambda_invalid(l, "Please provide a source for function code.");
    }
    struct sl_item it;
    rc = sl_s3_object_item(st, bucket, key, &it);
    if (rc) {
        return sl_lambda_invalid(l, "Error occurred while GetObject. S3 Error Code: %s. S3 Error Message: %s",
                rc == SL_ENOTFOUND ? "NoSuchKey" : "InternalError",
                rc == SL_ENOTFOUND ? "The specified key does not exist." : "internal error");
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
        rc = sl_lambda_code_unpack(l->c->app->data_dir, code, (char[4096]){0}, 4096, &err);
    if (fd >= 0)
        close(fd);
    code->fd = -1;
    code->data = NULL;
    if (rc) {
        sl_blob_discard(st, blob);
        sl_blob_free(blob);
        if (rc == SL_EINVAL || rc == SL_ETOOBIG)
            return sl_lambda_invalid(l, "%s", err.msg);
        return sl_call_internal(l->c, rc, &err);
    }
    return 0;
}

/* ---- writes ---------------------------------------------------------- */

/* A new function: its configuration and its code's zip as the blob.
 * (Every later change goes through sl_lambda_modify().) */
struct fn_create {
    const char *pk, *name;
    char *val;
    json_t *cfg;
    struct sl_blob blob;
    uint64_t code_size;
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
    return sl_txn_put(t, SL_LAMBDA_NS, w->pk, w->name, w->val, strlen(w->val), &w->blob);
}

static int created(struct sl_call *c)
{
    struct lreq *l = sl_lambda_req(c);
    struct fn_create *w = c->write_arg;
    sl_lambda_forget_cached(l->lam, l->pk, w->name);
    free(w->val);
    int rc = 0;
    if (c->write_rc) {
        sl_blob_discard(c->app->store, &w->blob);
        rc = c->write_rc == SL_EEXIST
                 ? sl_lambda_error(l, LAMBDA_E_CONFLICT, "Function already exist: %s", w->name)
                 : sl_call_internal(c, c->write_rc, &c->write_err);
    } else {
        sl_info("lambda", "created function %s (%s, %llu bytes of code)", w->name,
                json_string_value(json_object_get(w->cfg, "Runtime")),
                (unsigned long long)w->code_size);
        sl_lambda_runtime_prepare(l->lam, w->cfg);
        rc = sl_call_ok(c, sl_lambda_public_config(w->cfg));
    }
    sl_blob_free(&w->blob);
    json_decref(w->cfg);
    return rc;
}

/* Copies the configuration members an update may set from in into cfg. */
static void apply_config(json_t *cfg, json_t *in)
{
    static const char *const members[] = {
        "Role",    "Handler",       "Description",      "Timeout",   "MemorySize",
        "Runtime", "Environment",   "TracingConfig",    "EphemeralStorage",
        "DeadLetterConfig",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(members); i++) {
        json_t *v = json_object_get(in, members[i]);
        if (v)
            json_object_set(cfg, members[i], v);
    }
}

/* Checks the members a create or update sets; 0, or answers (SL_DONE). */
static int check_config(struct lreq *l, json_t *in, bool create)
{
    const char *rt = json_string_value(json_object_get(in, "Runtime"));
    const char *pkg = json_string_value(json_object_get(in, "PackageType"));
    if (pkg && strcmp(pkg, "Image") == 0)
        return sl_lambda_invalid(
            l, "Container images are not supported by Sluice yet: use a .zip package.");
    if (create && (!rt || !json_object_get(in, "Handler")))
        return sl_lambda_invalid(l, "Runtime and Handler are mandatory parameters for "
                                    "functions created with deployment packages.");
    if (rt && !runtime_supported(rt))
        return sl_lambda_invalid(
            l, "The runtime parameter of %s is not supported by Sluice. Supported runtimes: "
               "provided, provided.al2, provided.al2023, python3.8 to python3.13, nodejs18.x, "
               "nodejs20.x, nodejs22.x.",
            rt);
    const char *role = json_string_value(json_object_get(in, "Role"));
    int rc;
    if (role && (rc = check_role(l, role)) != 0)
        return rc;
    json_t *env = json_object_get(in, "Environment");
    if (env && (rc = check_environment(l, env)) != 0)
        return rc;
    json_t *arch = json_object_get(in, "Architectures");
    if (arch && json_array_size(arch) != 1)
        return sl_lambda_invalid(l, "Architectures must list exactly one architecture.");
    if (json_object_get(in, "Layers") && json_array_size(json_object_get(in, "Layers")))
        return sl_lambda_invalid(l, "Layers are not supported by Sluice yet.");
    /* A dead-letter queue is an SQS queue or SNS topic that exists (a
     * target of the engine); "" removes it. */
    const char *dlq =
        json_string_value(json_object_get(json_object_get(in, "DeadLetterConfig"), "TargetArn"));
    if (dlq && dlq[0]) {
        bool kind = strncmp(dlq, "arn:aws:sqs:", 12) == 0 || strncmp(dlq, "arn:aws:sns:", 12) == 0;
        rc = kind ? sl_target_check(l->c->app->targets, dlq, NULL, NULL, NULL) : SL_EINVAL;
        if (rc)
            return sl_lambda_invalid(l,
                                     rc == SL_ENOTSUP ? "The dead-letter target %s does not exist: "
                                                        "Sluice has no such service yet."
                                     : rc == SL_EINVAL ? "The dead-letter target %s is not an SQS "
                                                         "standard queue or SNS topic."
                                                       : "The dead-letter target %s does not exist.",
                                     dlq);
    }
    return 0;
}

SL_OP(lambda, CreateFunction)
{
    struct lreq *l = sl_lambda_req(c);
    struct fn_create *w = sl_call_alloc(c, sizeof(*w));
    if (!l || !w)
        return SL_ENOMEM;
    char name[80], qual[130];
    int rc = sl_lambda_parse_name(l, sl_lambda_in_str(l, "FunctionName"), name, sizeof(name),
                                  qual, sizeof(qual));
    if (rc)
        return rc;
    if (qual[0])
        return sl_lambda_invalid(l, "A function name with a qualifier is not valid for "
                                    "CreateFunction.");
    if ((rc = check_config(l, l->in, true)) != 0)
        return rc;
    struct sl_lambda_code code;
    if ((rc = take_code(l, json_object_get(l->in, "Code"), &w->blob, &code)) != 0)
        return rc;
    char arn[256], lg[128];
    sl_lambda_function_arn(l, name, arn, sizeof(arn));
    snprintf(lg, sizeof(lg), "/aws/lambda/%s", name);
    json_t *cfg = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:{s:s},"
        " s:[s], s:{s:I}, s:{s:s, s:s}, s:{s:s, s:s}}",
        "FunctionName", name, "FunctionArn", arn, "Runtime", sl_lambda_in_str(l, "Runtime"),
        "Role", sl_lambda_in_str(l, "Role"), "Handler", sl_lambda_in_str(l, "Handler"),
        "CodeSize", (json_int_t)code.size, "Description",
        sl_lambda_in_str(l, "Description") ? sl_lambda_in_str(l, "Description") : "", "Timeout",
        (json_int_t)3, "MemorySize", (json_int_t)128, "CodeSha256", code.sha_b64, "Version",
        "$LATEST", "State", "Active", "LastUpdateStatus", "Successful", "PackageType", "Zip",
        "TracingConfig", "Mode", "PassThrough", "Architectures", "x86_64", "EphemeralStorage",
        "Size", (json_int_t)512, "SnapStart", "ApplyOn", "None", "OptimizationStatus", "Off",
        "LoggingConfig", "LogFormat", "Text", "LogGroup", lg);
    if (!cfg) {
        sl_blob_discard(c->app->store, &w->blob);
        sl_blob_free(&w->blob);
        return SL_ENOMEM;
    }
    apply_config(cfg, l->in);
    json_t *arch = json_object_get(l->in, "Architectures");
    if (arch)
        json_object_set(cfg, "Architectures", arch);
    json_object_set_new(cfg, "_code_hex", json_string(code.sha_hex));
    json_t *tags = json_object_get(l->in, "Tags");
    if (tags)
        json_object_set(cfg, "_tags", tags);
    sl_lambda_new_revision(cfg);
    w->pk = l->pk;
    w->name = sl_arena_strdup(&c->http->arena, name);
    w->cfg = cfg;
    w->code_size = code.size;
    w->val = json_dumps(cfg, JSON_COMPACT);
    if (!w->val || !w->name) {
        free(w->val);
        json_decref(cfg);
        sl_blob_discard(c->app->store, &w->blob);
        sl_blob_free(&w->blob);
        return SL_ENOMEM;
    }
    return sl_call_write(c, fn_create_txn, w, created);
}

SL_OP(lambda, GetFunctionConfiguration)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80];
    json_t *cfg;
    int rc = sl_lambda_load(l, name, sizeof(name), &cfg, NULL);
    if (rc)
        return rc;
    json_t *out = sl_lambda_public_config(cfg);
    json_decref(cfg);
    return sl_call_ok(c, out);
}

SL_OP(lambda, GetFunction)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80];
    json_t *cfg;
    int rc = sl_lambda_load(l, name, sizeof(name), &cfg, NULL);
    if (rc)
        return rc;
    char url[1024];
    sl_lambda_code_url(l->lam, sl_http_header(c->http, "Host"), c->account, c->region, name,
                       url, sizeof(url));
    json_t *out = json_pack("{s:o, s:{s:s, s:s}}", "Configuration", sl_lambda_public_config(cfg),
                            "Code", "RepositoryType", "S3", "Location", url);
    json_t *tags = json_object_get(cfg, "_tags");
    if (tags)
        json_object_set(out, "Tags", tags);
    json_t *reserved = json_object_get(cfg, "_reserved");
    if (reserved)
        json_object_set_new(out, "Concurrency",
                            json_pack("{s:O}", "ReservedConcurrentExecutions", reserved));
    json_decref(cfg);
    return sl_call_ok(c, out);
}

SL_OP(lambda, ListFunctions)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    json_t *mi = json_object_get(l->in, "MaxItems");
    size_t max = mi ? (size_t)json_integer_value(mi) : LIST_DEFAULT;
    if (max > LIST_DEFAULT)
        max = LIST_DEFAULT;
    const char *marker = sl_lambda_in_str(l, "Marker");
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, SL_LAMBDA_NS, l->pk, NULL, marker, max + 1, &items, &n);
    if (rc)
        return rc;
    json_t *fns = json_array();
    for (size_t i = 0; i < n && i < max; i++) {
        json_t *cfg = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        if (cfg) {
            json_t *pub = sl_lambda_public_config(cfg);
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
    return sl_call_ok(c, out);
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

static int deleted(struct sl_call *c)
{
    struct lreq *l = sl_lambda_req(c);
    struct fn_delete *d = c->write_arg;
    sl_lambda_forget_cached(l->lam, l->pk, d->name);
    sl_lambda_cache_forget(l->lam->eic_cache, l->pk, d->name); /* it went too */
    if (c->write_rc == SL_ENOTFOUND)
        return sl_lambda_not_found(l, d->name);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    sl_lambda_runtime_forget(l->lam, l->pk, d->name);
    /* Its reservation no longer holds part of the account's pool. */
    sl_lambda_runtime_set_reserved(l->lam, l->pk, d->name, -1);
    return 0;
}

SL_OP(lambda, DeleteFunction)
{
    struct lreq *l = sl_lambda_req(c);
    struct fn_delete *d = sl_call_alloc(c, sizeof(*d));
    if (!l || !d)
        return SL_ENOMEM;
    char name[80], qual[130];
    int rc = sl_lambda_parse_name(l, sl_lambda_in_str(l, "FunctionName"), name, sizeof(name),
                                  qual, sizeof(qual));
    if (rc)
        return rc;
    if (qual[0] && strcmp(qual, "$LATEST") != 0)
        return sl_lambda_not_found(l, name);
    d->pk = l->pk;
    d->name = sl_arena_strdup(&c->http->arena, name);
    if (!d->name)
        return SL_ENOMEM;
    return sl_call_write(c, fn_delete_txn, d, deleted);
}

/* RevisionId, when given, must match (PreconditionFailedException). */
static int check_revision(struct lreq *l, json_t *cfg)
{
    const char *want = sl_lambda_in_str(l, "RevisionId");
    const char *have = json_string_value(json_object_get(cfg, "RevisionId"));
    if (want && (!have || strcmp(want, have) != 0))
        return sl_lambda_error(l, LAMBDA_E_PRECONDITION,
                               "The Revision Id provided does not match the latest Revision Id. "
                               "Call the GetFunction/GetAlias API to retrieve the latest "
                               "Revision Id");
    return 0;
}

static int update_config(struct sl_txn *t, json_t *cfg, void *arg, struct sl_err *err)
{
    (void)t;
    (void)err;
    apply_config(cfg, arg);
    sl_lambda_new_revision(cfg);
    return 0;
}

/* After a change of code or configuration: its environments end, and the
 * answer is the new configuration. */
static int answer_changed(struct sl_call *c)
{
    struct lreq *l = sl_lambda_req(c);
    struct sl_lambda_change *m = c->write_arg;
    if (c->write_rc)
        return sl_lambda_modify_failed(l, m->name, c->write_rc, &c->write_err);
    sl_lambda_runtime_forget(l->lam, l->pk, m->name);
    sl_lambda_runtime_prepare(l->lam, m->result);
    return sl_call_ok(c, sl_lambda_public_config(m->result));
}

SL_OP(lambda, UpdateFunctionConfiguration)
{
    struct lreq *l = sl_lambda_req(c);
    if (!l)
        return SL_ENOMEM;
    char name[80];
    int rc = sl_lambda_exists(l, name, sizeof(name));
    if (rc)
        return rc;
    if ((rc = check_config(l, l->in, false)) != 0)
        return rc;
    return sl_lambda_modify(l, name, update_config, l->in, answer_changed);
}

struct code_update {
    const char *pk, *name;
    struct sl_lambda_code code;
    struct sl_blob blob;
};

/* The new code's members, a new revision, and the zip as the item's blob
 * (its value is then rewritten by the change, which keeps the blob); t is
 * NULL in a dry run. */
static int update_code(struct sl_txn *t, json_t *cfg, void *arg, struct sl_err *err)
{
    (void)err;
    struct code_update *u = arg;
    json_object_set_new(cfg, "CodeSize", json_integer((json_int_t)u->code.size));
    json_object_set_new(cfg, "CodeSha256", json_string(u->code.sha_b64));
    json_object_set_new(cfg, "_code_hex", json_string(u->code.sha_hex));
    sl_lambda_new_revision(cfg);
    return t ? sl_txn_put(t, SL_LAMBDA_NS, u->pk, u->name, "{}", 2, &u->blob) : 0;
}

static int code_changed(struct sl_call *c)
{
    struct sl_lambda_change *m = c->write_arg;
    struct code_update *u = m->arg;
    /* (Read, changed and written in one transaction, as every other change
     * of a function, so a concurrent one is never lost.) */
    if (c->write_rc)
        sl_blob_discard(c->app->store, &u->blob);
    int rc = answer_changed(c);
    sl_blob_free(&u->blob);
    return rc;
}

SL_OP(lambda, UpdateFunctionCode)
{
    struct lreq *l = sl_lambda_req(c);
    struct code_update *u = sl_call_alloc(c, sizeof(*u));
    if (!l || !u)
        return SL_ENOMEM;
    char name[80];
    json_t *cfg;
    int rc = sl_lambda_load(l, name, sizeof(name), &cfg, NULL);
    if (rc)
        return rc;
    if ((rc = check_revision(l, cfg)) != 0 ||
        (rc = take_code(l, l->in, &u->blob, &u->code)) != 0) {
        json_decref(cfg);
        return rc;
    }
    u->pk = l->pk;
    u->name = sl_arena_strdup(&c->http->arena, name);
    if (u->name && !json_is_true(json_object_get(l->in, "DryRun"))) {
        json_decref(cfg);
        return sl_lambda_modify(l, name, update_code, u, code_changed);
    }
    /* A dry run writes nothing: the configuration as it would become. */
    if (u->name)
        update_code(NULL, cfg, u, NULL);
    sl_blob_discard(c->app->store, &u->blob);
    sl_blob_free(&u->blob);
    json_t *out = u->name ? sl_lambda_public_config(cfg) : NULL;
    json_decref(cfg);
    return out ? sl_call_ok(c, out) : SL_ENOMEM;
}
