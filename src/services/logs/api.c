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

#define BODY_MAX (8u << 20) /* a PutLogEvents body, escapes included */
#define GROUP_PATTERN "[\\.\\-_/#A-Za-z0-9]+"
#define STREAM_PATTERN "[^:*]*"

static const struct sl_aws_error errors[] = {SL_LOGS_ERRORS(SL_ERROR_ROW)};

struct lgreq *sl_logs_req(struct sl_call *c)
{
    if (c->state)
        return c->state;
    struct lgreq *l = sl_call_alloc(c, sizeof(*l));
    if (!l)
        return NULL;
    l->c = c;
    l->in = c->in;
    l->now = sl_time_now_ms();
    snprintf(l->gpk, sizeof(l->gpk), "%s:%s", c->account, c->region);
    c->state = l;
    return l;
}

int sl_logs_error(struct lgreq *l, int id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sl_call_vfail(l->c, id, fmt, ap);
    va_end(ap);
    return rc;
}

int sl_logs_internal(struct lgreq *l, const struct sl_err *err)
{
    return sl_call_internal(l->c, SL_EIO, err);
}

int sl_logs_group_not_found(struct lgreq *l)
{
    return sl_logs_error(l, LOGS_E_NOT_FOUND, "The specified log group does not exist.");
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
 * checks lengths, not patterns). 0, or answers (SL_DONE). */
static int check_names(struct sl_call *c)
{
    struct lgreq *l = sl_logs_req(c);
    if (!l)
        return SL_ENOMEM;
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
        if (!ok)
            return sl_logs_error(l, LOGS_E_INVALID_PARAMETER,
                                 "1 validation error detected: Value '%s' at '%s' failed to "
                                 "satisfy constraint: Member must satisfy regular expression "
                                 "pattern: %s",
                                 v, names[i].member,
                                 names[i].group ? GROUP_PATTERN : STREAM_PATTERN);
    }
    json_t *streams = json_object_get(l->in, "logStreamNames");
    size_t i;
    json_t *s;
    json_array_foreach(streams, i, s)
    {
        const char *v = json_string_value(s);
        if (v && strpbrk(v, ":*"))
            return sl_logs_error(l, LOGS_E_INVALID_PARAMETER,
                                 "1 validation error detected: Value '%s' at "
                                 "'logStreamNames.%zu.member' failed to satisfy constraint: "
                                 "Member must satisfy regular expression pattern: " STREAM_PATTERN,
                                 v, i + 1);
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
        return sl_logs_error(l, LOGS_E_INVALID_PARAMETER, "The specified nextToken is invalid.");
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
    int rc = sl_kv_get(l->c->app->store, SL_LOGS_NS_GROUP, l->gpk, name, &it);
    if (rc == SL_ENOTFOUND)
        return sl_logs_group_not_found(l);
    if (rc)
        return sl_logs_internal(l, NULL);
    *out = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *out ? 0 : sl_logs_internal(l, NULL);
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
    const char *gpk, *account, *region, *name;
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

static int group_written(struct sl_call *c);

SL_OP(logs, CreateLogGroup)
{
    struct lgreq *l = sl_logs_req(c);
    struct group_write *g = sl_call_alloc(c, sizeof(*g));
    if (!l || !g)
        return SL_ENOMEM;
    const char *name = sl_logs_in_str(l, "logGroupName");
    json_t *val = sl_logs_group_value(c->account, c->region, name, l->now);
    if (!val)
        return SL_ENOMEM;
    json_t *kms = json_object_get(l->in, "kmsKeyId");
    if (kms)
        json_object_set(val, "kmsKeyId", kms);
    json_t *tags = json_object_get(l->in, "tags");
    if (tags)
        json_object_set(val, "_tags", tags);
    *g = (struct group_write){.gpk = l->gpk, .name = name, .val = val};
    return sl_call_write(c, create_group_txn, g, group_written);
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

static int delete_group_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct group_write *g = arg;
    int rc = sl_txn_exists(t, SL_LOGS_NS_GROUP, g->gpk, g->name);
    if (!rc)
        rc = delete_streams(t, g->account, g->region, g->name);
    if (!rc)
        rc = sl_txn_delete(t, SL_LOGS_NS_GROUP, g->gpk, g->name);
    return rc;
}

/* After a write on a log group: not found, exists, failed, or done. */
static int group_written(struct sl_call *c)
{
    struct lgreq *l = sl_logs_req(c);
    struct group_write *g = c->write_arg;
    json_decref(g->val);
    g->val = NULL;
    if (c->write_rc == SL_ENOTFOUND)
        return sl_logs_group_not_found(l);
    if (c->write_rc == SL_EEXIST)
        return sl_logs_error(l, LOGS_E_EXISTS, "The specified log group already exists");
    if (c->write_rc)
        return sl_logs_internal(l, &c->write_err);
    return 0;
}

/* Runs a write on the input's log group. */
static int write_group(struct sl_call *c, sl_txn_fn fn, json_t *days)
{
    struct lgreq *l = sl_logs_req(c);
    struct group_write *g = sl_call_alloc(c, sizeof(*g));
    if (!l || !g)
        return SL_ENOMEM;
    *g = (struct group_write){.gpk = l->gpk,
                              .account = c->account,
                              .region = c->region,
                              .name = sl_logs_in_str(l, "logGroupName"),
                              .days = days};
    return sl_call_write(c, fn, g, group_written);
}

SL_OP(logs, DeleteLogGroup)
{
    return write_group(c, delete_group_txn, NULL);
}

SL_OP(logs, DescribeLogGroups)
{
    struct lgreq *l = sl_logs_req(c);
    if (!l)
        return SL_ENOMEM;
    const char *prefix = sl_logs_in_str(l, "logGroupNamePrefix");
    const char *pattern = sl_logs_in_str(l, "logGroupNamePattern");
    if (prefix && pattern)
        return sl_logs_error(l, LOGS_E_INVALID_PARAMETER,
                             "LogGroup name prefix and LogGroup name pattern are mutually "
                             "exclusive parameters.");
    size_t limit = (size_t)sl_logs_in_int(l, "limit", SL_LOGS_DESCRIBE_DEFAULT);
    char *after = NULL;
    int rc = sl_logs_token_read(l, 'g', &after);
    if (rc)
        return rc;
    json_t *groups = json_array();
    char *next = NULL, *last = NULL; /* the name of the last group taken */
    size_t count = 0;
    for (;;) {
        struct sl_item *items = NULL;
        size_t n = 0;
        rc = sl_kv_list(c->app->store, SL_LOGS_NS_GROUP, l->gpk, prefix, after, 100, &items, &n);
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
        return rc;
    }
    json_t *out = json_pack("{s:o}", "logGroups", groups);
    if (next)
        json_object_set_new(out, "nextToken", json_string(next));
    free(next);
    return sl_call_ok(c, out);
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

SL_OP(logs, PutRetentionPolicy)
{
    return write_group(c, retention_txn, json_object_get(c->in, "retentionInDays"));
}

SL_OP(logs, DeleteRetentionPolicy)
{
    return write_group(c, retention_txn, NULL);
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

/* ---- the service ------------------------------------------------------- */

static int logs_new(struct sl_app *app, void **state, struct sl_err *err)
{
    struct sl_logs *l = NULL;
    int rc = sl_logs_new(&l, app->store, 0, err);
    *state = l;
    return rc;
}

static void logs_free(void *state)
{
    sl_logs_free(state);
}

static void too_big_message(const struct sl_operation *op, char *out, size_t n)
{
    (void)op;
    snprintf(out, n, "Upload too large: the request is over %u bytes", BODY_MAX);
}

SL_SERVICE_TABLES(logs);

const struct sl_service sl_service_logs = {
    .name = "logs",
    .model = &sl_model_logs,
    .handlers = sl_logs_handlers,
    .errors = errors,
    .e_internal = LOGS_E_UNAVAILABLE,
    /* CloudWatch Logs answers constraint violations with
     * InvalidParameterException, in the model's wording. */
    .e_validation = LOGS_E_INVALID_PARAMETER,
    .e_serialization = LOGS_E_SERIALIZATION,
    .e_too_big = LOGS_E_INVALID_PARAMETER,
    .body_cap = BODY_MAX,
    .too_big_message = too_big_message,
    .check = check_names,
    .new = logs_new,
    .free = logs_free,
};
