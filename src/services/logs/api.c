/*
 * The CloudWatch Logs API (json protocol 1.1, X-Amz-Target
 * Logs_20140328.<Op>): what every operation shares (errors, answers,
 * inputs, tokens), the log-group operations and retention, and dispatch.
 * Requests are decoded and validated by the model layer; log streams and
 * PutLogEvents are in streams.c, the reads in read.c, the storage layout
 * in internal.h.
 */
#include "services/logs/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M (&sl_model_logs)
#define BODY_MAX (8u << 20) /* a PutLogEvents body, escapes included */
#define GROUP_PATTERN "[\\.\\-_/#A-Za-z0-9]+"
#define STREAM_PATTERN "[^:*]*"

typedef void (*logs_op_fn)(struct lgreq *l);

void sl_logs_error(struct lgreq *l, const char *code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_svc_error(l->q, 400, code, NULL, "%s", msg);
}

void sl_logs_internal(struct lgreq *l, const struct sl_err *err)
{
    sl_error("logs", "%s: %s", l->op->name, err && err->msg[0] ? err->msg : "internal error");
    sl_svc_error(l->q, 500, "ServiceUnavailableException", NULL,
                 "The service cannot complete the request.");
}

void sl_logs_group_not_found(struct lgreq *l)
{
    sl_logs_error(l, "ResourceNotFoundException", "The specified log group does not exist.");
}

void sl_logs_respond(struct lgreq *l, json_t *out)
{
    struct sl_http_request *r = l->q->http;
    sl_aws_set_request_id(r, SL_PROTO_JSON, l->q->request_id);
    sl_http_set_header(r, "Content-Type", "application/x-amz-json-1.1");
    if (out) {
        char *text = json_dumps(out, JSON_COMPACT);
        if (!text) {
            sl_logs_internal(l, NULL);
            return;
        }
        sl_buf_puts(&r->resp.body, text);
        free(text);
    }
    sl_http_send(r, 200);
}

const char *sl_logs_in_str(struct lgreq *l, const char *name)
{
    return json_string_value(json_object_get(l->in, name));
}

int64_t sl_logs_in_int(struct lgreq *l, const char *name, int64_t def)
{
    json_t *v = json_object_get(l->in, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

int64_t sl_logs_json_int(json_t *o, const char *name, int64_t def)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

/* ---- names ------------------------------------------------------------- */

static bool group_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '/' || c == '#';
}

/* Checks the model's patterns of the names in the input (the model layer
 * checks lengths, not patterns). 0, or answers and returns -1. */
static int check_names(struct lgreq *l)
{
    static const struct {
        const char *member;
        bool group;
    } names[] = {
        {"logGroupName", true},
        {"logGroupNamePrefix", true},
        {"logStreamName", false},
        {"logStreamNamePrefix", false},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        const char *v = sl_logs_in_str(l, names[i].member);
        bool ok = true;
        for (const char *c = v; c && *c && ok; c++)
            ok = names[i].group ? group_char(*c) : *c != ':' && *c != '*';
        if (!ok) {
            sl_logs_error(l, "InvalidParameterException",
                          "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                          "constraint: Member must satisfy regular expression pattern: %s",
                          v, names[i].member, names[i].group ? GROUP_PATTERN : STREAM_PATTERN);
            return -1;
        }
    }
    json_t *streams = json_object_get(l->in, "logStreamNames");
    size_t i;
    json_t *s;
    json_array_foreach(streams, i, s)
    {
        const char *v = json_string_value(s);
        if (v && strpbrk(v, ":*")) {
            sl_logs_error(l, "InvalidParameterException",
                          "1 validation error detected: Value '%s' at 'logStreamNames.%zu.member' "
                          "failed to satisfy constraint: Member must satisfy regular expression "
                          "pattern: " STREAM_PATTERN,
                          v, i + 1);
            return -1;
        }
    }
    return 0;
}

/* ---- tokens ------------------------------------------------------------ */

/* A nextToken of the describe and filter operations: base64 of
 * "<kind>:<cursor>". Caller frees. */
char *sl_logs_token_make(char kind, const char *cursor)
{
    struct sl_buf raw, out;
    sl_buf_init(&raw, 0);
    sl_buf_init(&out, 0);
    sl_buf_printf(&raw, "%c:%s", kind, cursor);
    sl_base64_encode(&out, (const uint8_t *)raw.data, raw.len);
    sl_buf_free(&raw);
    return sl_buf_steal(&out, NULL);
}

int sl_logs_token_read(struct lgreq *l, char kind, char **cursor)
{
    *cursor = NULL;
    const char *tok = sl_logs_in_str(l, "nextToken");
    if (!tok)
        return 0;
    size_t n = strlen(tok), len = 0;
    char *raw = malloc(n / 4 * 3 + 4);
    if (!raw || sl_base64_decode(tok, n, (uint8_t *)raw, n / 4 * 3 + 3, &len) || len < 2 ||
        raw[0] != kind || raw[1] != ':' || memchr(raw, '\0', len)) {
        free(raw);
        sl_logs_error(l, "InvalidParameterException", "The specified nextToken is invalid.");
        return -1;
    }
    raw[len] = '\0';
    memmove(raw, raw + 2, len - 1);
    *cursor = raw;
    return 0;
}

/* ---- groups ------------------------------------------------------------ */

int sl_logs_load_group(struct lgreq *l, const char *name, json_t **out)
{
    struct sl_item it;
    int rc = sl_kv_get(l->q->app->store, SL_LOGS_NS_GROUP, l->gpk, name, &it);
    if (rc == SL_ENOTFOUND) {
        sl_logs_group_not_found(l);
        return -1;
    }
    if (rc) {
        sl_logs_internal(l, NULL);
        return -1;
    }
    *out = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (!*out) {
        sl_logs_internal(l, NULL);
        return -1;
    }
    return 0;
}

int64_t sl_logs_retention_floor(json_t *group, int64_t now)
{
    int64_t days = sl_logs_json_int(group, "retentionInDays", 0);
    return days > 0 ? now - days * SL_LOGS_DAY_MS : 0;
}

/* A LogGroup as AWS describes it (new reference). */
static json_t *group_out(const char *name, json_t *v)
{
    const char *arn = json_string_value(json_object_get(v, "arn"));
    json_t *o =
        json_pack("{s:s, s:O, s:i, s:s, s:O, s:s}", "logGroupName", name, "creationTime",
                  json_object_get(v, "creationTime"), "metricFilterCount", 0, "arn", arn ? arn : "",
                  "storedBytes", json_object_get(v, "storedBytes"), "logGroupClass", "STANDARD");
    if (!o)
        return NULL;
    if (arn && strlen(arn) > 2) /* logGroupArn: the arn without ":*" */
        json_object_set_new(o, "logGroupArn", json_stringn(arn, strlen(arn) - 2));
    json_t *days = json_object_get(v, "retentionInDays");
    if (days)
        json_object_set(o, "retentionInDays", days);
    json_t *kms = json_object_get(v, "kmsKeyId");
    if (kms)
        json_object_set(o, "kmsKeyId", kms);
    return o;
}

struct group_write {
    const char *gpk, *name;
    json_t *val;  /* CreateLogGroup: the new group */
    json_t *days; /* PutRetentionPolicy: the days; NULL deletes the policy */
};

static int create_group_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct group_write *g = arg;
    if (sl_txn_exists(t, SL_LOGS_NS_GROUP, g->gpk, g->name) == 0)
        return SL_EEXIST;
    return sl_logs_txn_put_json(t, SL_LOGS_NS_GROUP, g->gpk, g->name, g->val);
}

static void op_create_group(struct lgreq *l)
{
    const char *name = sl_logs_in_str(l, "logGroupName");
    json_t *val = sl_logs_group_value(l->q->account, l->q->region, name, l->now);
    if (!val) {
        sl_logs_internal(l, NULL);
        return;
    }
    json_t *kms = json_object_get(l->in, "kmsKeyId");
    if (kms)
        json_object_set(val, "kmsKeyId", kms);
    json_t *tags = json_object_get(l->in, "tags");
    if (tags)
        json_object_set(val, "_tags", tags);
    struct group_write g = {.gpk = l->gpk, .name = name, .val = val};
    struct sl_err err = {0};
    int rc = sl_store_write(l->q->app->store, create_group_txn, &g, &err);
    json_decref(val);
    if (rc == SL_EEXIST)
        sl_logs_error(l, "ResourceAlreadyExistsException",
                      "The specified log group already exists");
    else if (rc)
        sl_logs_internal(l, &err);
    else
        sl_logs_respond(l, NULL);
}

/* Inside a transaction: deletes every event of every stream of a group,
 * and the streams. */
static int delete_streams(struct sl_txn *t, const char *account, const char *region,
                          const char *group)
{
    char spk[SL_LOGS_SPK_MAX], epk[SL_LOGS_EPK_MAX];
    sl_logs_stream_pk(spk, sizeof(spk), account, region, group);
    char *after = NULL;
    int rc = 0;
    for (;;) {
        struct sl_item *items = NULL;
        size_t n = 0;
        rc = sl_txn_list(t, SL_LOGS_NS_STREAM, spk, after, 256, &items, &n);
        for (size_t i = 0; !rc && i < n; i++) {
            sl_logs_event_pk(epk, sizeof(epk), account, region, group, items[i].sk);
            rc = sl_txn_delete_pk(t, SL_LOGS_NS_EVENT, epk, NULL);
        }
        free(after);
        after = !rc && n == 256 ? strdup(items[n - 1].sk) : NULL;
        if (!rc && n == 256 && !after)
            rc = SL_ENOMEM;
        sl_logs_items_free(items, n);
        if (!after)
            break;
    }
    free(after);
    if (!rc)
        rc = sl_txn_delete_pk(t, SL_LOGS_NS_STREAM, spk, NULL);
    return rc;
}

struct group_delete {
    struct lgreq *l;
    const char *name;
};

static int delete_group_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct group_delete *d = arg;
    int rc = sl_txn_exists(t, SL_LOGS_NS_GROUP, d->l->gpk, d->name);
    if (!rc)
        rc = delete_streams(t, d->l->q->account, d->l->q->region, d->name);
    if (!rc)
        rc = sl_txn_delete(t, SL_LOGS_NS_GROUP, d->l->gpk, d->name);
    return rc;
}

/* Runs a write on a log group and answers: not found, failed, or done. */
static void write_group(struct lgreq *l, sl_txn_fn fn, void *arg)
{
    struct sl_err err = {0};
    int rc = sl_store_write(l->q->app->store, fn, arg, &err);
    if (rc == SL_ENOTFOUND)
        sl_logs_group_not_found(l);
    else if (rc)
        sl_logs_internal(l, &err);
    else
        sl_logs_respond(l, NULL);
}

static void op_delete_group(struct lgreq *l)
{
    struct group_delete d = {l, sl_logs_in_str(l, "logGroupName")};
    write_group(l, delete_group_txn, &d);
}

static void op_describe_groups(struct lgreq *l)
{
    const char *prefix = sl_logs_in_str(l, "logGroupNamePrefix");
    const char *pattern = sl_logs_in_str(l, "logGroupNamePattern");
    if (prefix && pattern) {
        sl_logs_error(l, "InvalidParameterException",
                      "LogGroup name prefix and LogGroup name pattern are mutually exclusive "
                      "parameters.");
        return;
    }
    size_t limit = (size_t)sl_logs_in_int(l, "limit", SL_LOGS_DESCRIBE_DEFAULT);
    char *after = NULL;
    if (sl_logs_token_read(l, 'g', &after))
        return;
    json_t *groups = json_array();
    char *next = NULL, *last = NULL; /* the name of the last group taken */
    size_t count = 0;
    int rc = 0;
    for (;;) {
        struct sl_item *items = NULL;
        size_t n = 0;
        rc = sl_kv_list(l->q->app->store, SL_LOGS_NS_GROUP, l->gpk, prefix, after, 100, &items, &n);
        for (size_t i = 0; !rc && !next && i < n; i++) {
            if (pattern && !strstr(items[i].sk, pattern)) /* case-sensitive, as AWS */
                continue;
            if (count == limit) { /* one more exists: the next page starts after the last */
                next = sl_logs_token_make('g', last);
                rc = next ? 0 : SL_ENOMEM;
                break;
            }
            json_t *v = json_loadb(items[i].val, items[i].val_len, 0, NULL);
            json_t *o = v ? group_out(items[i].sk, v) : NULL;
            json_decref(v);
            free(last);
            last = strdup(items[i].sk);
            if (!o || !last) {
                json_decref(o);
                rc = SL_ENOMEM;
                break;
            }
            json_array_append_new(groups, o);
            count++;
        }
        free(after);
        after = !rc && !next && n == 100 ? strdup(items[n - 1].sk) : NULL;
        sl_logs_items_free(items, n);
        if (!after)
            break;
    }
    free(last);
    if (rc) {
        json_decref(groups);
        free(next);
        sl_logs_internal(l, NULL);
        return;
    }
    json_t *out = json_pack("{s:o}", "logGroups", groups);
    if (next)
        json_object_set_new(out, "nextToken", json_string(next));
    free(next);
    sl_logs_respond(l, out);
    json_decref(out);
}

static int retention_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct group_write *g = arg;
    json_t *v = NULL;
    int rc = sl_logs_txn_get_json(t, SL_LOGS_NS_GROUP, g->gpk, g->name, &v);
    if (rc)
        return rc;
    if (g->days)
        json_object_set(v, "retentionInDays", g->days);
    else
        json_object_del(v, "retentionInDays");
    rc = sl_logs_txn_put_json(t, SL_LOGS_NS_GROUP, g->gpk, g->name, v);
    json_decref(v);
    return rc;
}

static void op_put_retention(struct lgreq *l)
{
    struct group_write g = {.gpk = l->gpk,
                            .name = sl_logs_in_str(l, "logGroupName"),
                            .days = json_object_get(l->in, "retentionInDays")};
    write_group(l, retention_txn, &g);
}

static void op_delete_retention(struct lgreq *l)
{
    struct group_write g = {.gpk = l->gpk, .name = sl_logs_in_str(l, "logGroupName")};
    write_group(l, retention_txn, &g);
}

/* ---- listing ----------------------------------------------------------- */

int sl_logs_list_all(struct sl_store *st, const char *ns, const char *pk, const char *prefix,
                     struct sl_item **out, size_t *count)
{
    struct sl_item *all = NULL;
    size_t n = 0;
    const char *after = NULL;
    for (;;) {
        struct sl_item *items = NULL;
        size_t k = 0;
        int rc = sl_kv_list(st, ns, pk, prefix, after, 1000, &items, &k);
        struct sl_item *grown = rc || !k ? NULL : realloc(all, (n + k) * sizeof(*all));
        if (rc || (k && !grown)) {
            for (size_t i = 0; i < k; i++)
                sl_item_free(&items[i]);
            free(items);
            for (size_t i = 0; i < n; i++)
                sl_item_free(&all[i]);
            free(all);
            return rc ? rc : SL_ENOMEM;
        }
        if (k) {
            all = grown;
            memcpy(all + n, items, k * sizeof(*items));
            n += k;
        }
        free(items);
        if (k < 1000)
            break;
        after = all[n - 1].sk;
    }
    *out = all;
    *count = n;
    return 0;
}

void sl_logs_items_free(struct sl_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
}

/* ---- dispatch ---------------------------------------------------------- */

static const struct {
    const char *op;
    logs_op_fn fn;
} handlers[] = {
    {"CreateLogGroup", op_create_group},
    {"CreateLogStream", sl_logs_op_create_stream},
    {"DeleteLogGroup", op_delete_group},
    {"DeleteLogStream", sl_logs_op_delete_stream},
    {"DeleteRetentionPolicy", op_delete_retention},
    {"DescribeLogGroups", op_describe_groups},
    {"DescribeLogStreams", sl_logs_op_describe_streams},
    {"FilterLogEvents", sl_logs_op_filter_events},
    {"GetLogEvents", sl_logs_op_get_events},
    {"PutLogEvents", sl_logs_op_put_events},
    {"PutRetentionPolicy", op_put_retention},
};

static logs_op_fn handler_of(const char *op)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(handlers); i++)
        if (strcmp(handlers[i].op, op) == 0)
            return handlers[i].fn;
    return NULL;
}

static void logs_end(struct sl_svc_request *q)
{
    struct lgreq l = {.q = q, .op = q->state, .now = sl_time_now_ms()};
    snprintf(l.gpk, sizeof(l.gpk), "%s:%s", q->account, q->region);
    if (q->body_too_big) {
        sl_logs_error(&l, "InvalidParameterException",
                      "Upload too large: the request is over %u bytes", BODY_MAX);
        return;
    }
    struct sl_model_error e = {0};
    if (sl_model_decode(M, l.op, q->http, q->body_buf.data, q->body_buf.len, &l.in, &e)) {
        /* CloudWatch Logs answers constraint violations with
         * InvalidParameterException, in the same wording. */
        bool ser = strcmp(e.code, "SerializationException") == 0;
        sl_logs_error(&l, ser ? e.code : "InvalidParameterException", "%s", e.message);
        return;
    }
    if (check_names(&l) == 0)
        handler_of(l.op->name)(&l);
    json_decref(l.in);
}

void sl_logs_begin(struct sl_svc_request *q)
{
    const char *name = sl_aws_operation(q->http, q->protocol);
    const struct sl_operation *op = sl_model_op_by_name(M, name);
    if (!op) {
        sl_svc_error(q, 400, "UnknownOperationException", NULL,
                     "CloudWatch Logs has no operation %s.", name ? name : "(none)");
        return;
    }
    if (!handler_of(op->name)) {
        sl_svc_error(q, 400, "UnknownOperationException", NULL,
                     "Operation %s of service logs is not implemented by Sluice yet.", op->name);
        return;
    }
    q->state = (void *)op;
    sl_svc_take_body(q, BODY_MAX, logs_end);
}
