/*
 * DynamoDB item writes: one item's write read from a request (PutItem,
 * UpdateItem, DeleteItem, or an element of a transaction or a batch), run
 * inside a store transaction (the condition is tested on the item as the
 * transaction reads it), and a change of one item applied with all that
 * follows it in the same transaction: its secondary index entries, its
 * TimeToLive entry and its stream record. So a change is in the table, its
 * indexes and its stream together or not at all.
 *
 * Storage, besides the items (internal.h):
 *   kv  dynamodb.ix:<index id>  pk the index's hash key text, sk its range
 *                               key text, \1, the item's hash and range key
 *                               texts: the item as the index projects it
 *   kv  dynamodb.ttl            pk "all", sk the expiry (12 digits of epoch
 *                               seconds), \1, the item's pk, \1, its sk:
 *                               the table's (pk, name) (ttl.c)
 *   log dynamodb:<uuid>         the stream's records, shard 0: eventName,
 *                               dynamodb (without its SequenceNumber) and
 *                               the userIdentity of TimeToLive's deletions
 */
#include "services/dynamodb/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- placeholders ------------------------------------------------------ */

int ddb_placeholders_init(struct ddb_placeholders *ph, const json_t *in, char *msg, size_t n)
{
    memset(ph, 0, sizeof(*ph));
    ph->names = json_object_get(in, "ExpressionAttributeNames");
    ph->used_names = json_object();
    ph->used_values = json_object();
    json_t *values = json_object_get(in, "ExpressionAttributeValues");
    if (!values)
        return 0;
    ph->values = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(values, k, v)
    {
        json_t *nv = ddb_value_normalize(v, 0, msg, n);
        if (!nv)
            return SL_EINVAL;
        json_object_set_new(ph->values, k, nv);
    }
    return 0;
}

void ddb_placeholders_clear(struct ddb_placeholders *ph)
{
    json_decref(ph->values);
    json_decref(ph->used_names);
    json_decref(ph->used_values);
    memset(ph, 0, sizeof(*ph));
}

/* ---- one item's write --------------------------------------------------- */

static int fail(struct ddb_write *w, const char *text)
{
    snprintf(w->msg, sizeof(w->msg), "%s", text);
    return SL_EINVAL;
}

void ddb_write_clear(struct ddb_write *w)
{
    ddb_table_clear(&w->t);
    ddb_placeholders_clear(&w->ph);
    ddb_expr_free(w->cond);
    ddb_expr_free(w->update);
    ddb_expr_free(w->proj);
    ddb_key_clear(&w->key);
    json_decref(w->item);
    json_decref(w->old);
    json_decref(w->fresh);
    json_decref(w->paths);
    memset(w, 0, sizeof(*w));
}

/* The update's actions must leave the key alone: 0, or SL_EINVAL. */
static int check_targets(struct ddb_write *w)
{
    json_t *touched = ddb_expr_update_targets(w->update);
    size_t i;
    json_t *p;
    int rc = 0;
    json_array_foreach(touched, i, p)
    {
        const char *name = json_string_value(p);
        if ((w->t.hash.name && strcmp(name, w->t.hash.name) == 0) ||
            (w->t.range.name && strcmp(name, w->t.range.name) == 0)) {
            snprintf(w->msg, sizeof(w->msg),
                     "One or more parameter values were invalid: Cannot update attribute %s. "
                     "This attribute is part of the key",
                     name);
            rc = SL_EINVAL;
            break;
        }
    }
    json_decref(touched);
    return rc;
}

int ddb_write_init(struct ddb_write *w, enum ddb_op op, struct ddb_table *t, const json_t *in)
{
    memset(w, 0, sizeof(*w));
    w->op = op;
    w->t = *t;
    memset(t, 0, sizeof(*t));
    static const char *const legacy[] = {"Expected", "AttributesToGet", "ConditionalOperator",
                                         "AttributeUpdates"};
    for (size_t i = 0; i < SL_ARRAY_LEN(legacy); i++)
        if (json_object_get(in, legacy[i])) {
            snprintf(w->msg, sizeof(w->msg),
                     "Sluice does not support the legacy parameter %s yet: use the expression "
                     "parameters (ConditionExpression, ProjectionExpression, UpdateExpression)",
                     legacy[i]);
            return SL_EINVAL;
        }
    if (ddb_placeholders_init(&w->ph, in, w->msg, sizeof(w->msg)))
        return SL_EINVAL;
    static const struct {
        const char *member;
        enum ddb_expr_kind kind;
        size_t off;
    } exprs[] = {
        {"ConditionExpression", DDB_EXPR_CONDITION, offsetof(struct ddb_write, cond)},
        {"UpdateExpression", DDB_EXPR_UPDATE, offsetof(struct ddb_write, update)},
        {"ProjectionExpression", DDB_EXPR_PROJECTION, offsetof(struct ddb_write, proj)},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(exprs); i++) {
        const char *text = json_string_value(json_object_get(in, exprs[i].member));
        if (!text)
            continue;
        if (op == DDB_OP_PUT && i > 0)
            return fail(w, "One or more parameter values were invalid: PutItem takes no "
                           "UpdateExpression or ProjectionExpression");
        struct ddb_expr **e = (struct ddb_expr **)((char *)w + exprs[i].off);
        if (ddb_expr_parse(exprs[i].kind, text, &w->ph, e, w->msg, sizeof(w->msg)))
            return SL_EINVAL;
    }
    if (op == DDB_OP_CHECK && !w->cond)
        return fail(w, "1 validation error detected: Value null at 'conditionExpression' failed "
                       "to satisfy constraint: Member must not be null");
    if (ddb_placeholders_check(&w->ph, w->msg, sizeof(w->msg)))
        return SL_EINVAL;
    w->ret = json_string_value(json_object_get(in, "ReturnValues"));
    const char *on_fail =
        json_string_value(json_object_get(in, "ReturnValuesOnConditionCheckFailure"));
    w->ret_on_fail = on_fail && strcmp(on_fail, "ALL_OLD") == 0;
    if (op == DDB_OP_PUT) {
        w->item = ddb_item_normalize(json_object_get(in, "Item"), 0, w->msg, sizeof(w->msg));
        if (!w->item)
            return SL_EINVAL;
        if (ddb_item_size(w->item) > DDB_ITEM_MAX)
            return fail(w, "Item size has exceeded the maximum allowed size");
        return ddb_item_key(&w->t, w->item, false, &w->key, w->msg, sizeof(w->msg));
    }
    w->item = ddb_item_normalize(json_object_get(in, "Key"), 0, w->msg, sizeof(w->msg));
    if (!w->item)
        return SL_EINVAL;
    int rc = ddb_item_key(&w->t, w->item, true, &w->key, w->msg, sizeof(w->msg));
    if (!rc && op == DDB_OP_UPDATE && w->update)
        rc = check_targets(w);
    return rc;
}

/* The item at w's key in transaction t into w->old (NULL: none). */
static int read_old(struct sl_txn *t, struct ddb_write *w)
{
    struct sl_item it;
    int rc = sl_txn_get(t, w->t.items_ns, w->key.pk, w->key.sk, &it);
    if (rc == SL_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    w->old = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return w->old ? 0 : SL_ECORRUPT;
}

int ddb_write_txn(struct sl_txn *t, struct ddb_write *w)
{
    json_decref(w->old);
    json_decref(w->fresh);
    json_decref(w->paths);
    w->old = w->fresh = w->paths = NULL;
    /* (The table as it is now: a change of its indexes, stream or Time to
     * Live since the request read it applies to this write.) */
    int rc = ddb_table_check_txn(t, &w->t);
    if (!rc)
        rc = read_old(t, w);
    if (rc)
        return rc;
    if (w->cond) {
        bool ok;
        if (ddb_expr_test(w->cond, w->old, &ok, w->msg, sizeof(w->msg)))
            return SL_EINVAL;
        if (!ok)
            return SL_ECONDITION;
    }
    switch (w->op) {
    case DDB_OP_CHECK:
    case DDB_OP_GET:
        return 0;
    case DDB_OP_DELETE:
        return w->old ? ddb_apply(t, &w->t, &w->key, w->old, NULL, false, w->msg,
                                  sizeof(w->msg))
                      : 0;
    case DDB_OP_UPDATE:
        w->fresh = json_deep_copy(w->old ? w->old : w->item);
        if (!w->fresh)
            return SL_ENOMEM;
        if (w->update && ddb_expr_update(w->update, w->fresh, &w->paths, w->msg, sizeof(w->msg)))
            return SL_EINVAL;
        if (ddb_item_size(w->fresh) > DDB_ITEM_MAX)
            return fail(w, "Item size to update has exceeded the maximum allowed size");
        break;
    case DDB_OP_PUT:
        w->fresh = json_incref(w->item);
        break;
    }
    return ddb_apply(t, &w->t, &w->key, w->old, w->fresh, false, w->msg, sizeof(w->msg));
}

/* ---- secondary indexes -------------------------------------------------- */

int ddb_index_entry(const struct ddb_table *tb, const struct ddb_index *ix,
                    const struct ddb_key *k, const json_t *item, struct sl_buf *pk,
                    struct sl_buf *sk, json_t **proj, char *msg, size_t n)
{
    const struct ddb_key_attr *attrs[2] = {&ix->hash, &ix->range};
    struct sl_buf *bufs[2] = {pk, sk};
    for (size_t i = 0; i < 2; i++) {
        if (!attrs[i]->name)
            continue;
        const json_t *v = json_object_get(item, attrs[i]->name);
        if (!v)
            return SL_ENOTFOUND;
        char m[256];
        int rc = ddb_key_text(attrs[i], v, bufs[i], m, sizeof(m));
        if (rc == SL_EINVAL) {
            snprintf(msg, n,
                     "One or more parameter values were invalid: Type mismatch for Index Key "
                     "%s Expected: %s Actual: %s IndexName: %s",
                     attrs[i]->name, ddb_type_name(attrs[i]->type),
                     ddb_type_name(ddb_type_of(v, NULL)), ix->name);
            if (json_is_string(json_object_get(v, ddb_type_name(attrs[i]->type))))
                snprintf(msg, n,
                         "One or more parameter values are not valid. A value specified for a "
                         "secondary index key is not supported. The AttributeValue for a key "
                         "attribute cannot contain an empty string value. IndexName: %s, "
                         "IndexKey: %s",
                         ix->name, attrs[i]->name);
            return SL_EINVAL;
        }
        if (rc)
            return rc;
    }
    /* (The item's key after the index's range key: entries of equal index
     * keys are apart and in the table's order.) */
    const char *slash = strchr(k->pk, '/');
    int rc = sl_buf_putc(sk, '\1');
    if (!rc)
        rc = sl_buf_puts(sk, slash ? slash + 1 : k->pk);
    if (!rc)
        rc = sl_buf_putc(sk, '\1');
    if (!rc)
        rc = sl_buf_puts(sk, k->sk);
    if (rc || !proj)
        return rc;
    if (ix->proj == DDB_PROJ_ALL) {
        *proj = json_incref((json_t *)item);
        return 0;
    }
    *proj = ddb_key_of(tb, item);
    json_object_set(*proj, ix->hash.name, json_object_get(item, ix->hash.name));
    if (ix->range.name)
        json_object_set(*proj, ix->range.name, json_object_get(item, ix->range.name));
    size_t i;
    json_t *a;
    json_array_foreach(ix->non_key, i, a)
    {
        json_t *v = json_object_get(item, json_string_value(a));
        if (v)
            json_object_set(*proj, json_string_value(a), v);
    }
    return 0;
}

/* The index entries of item old replaced by those of fresh. */
static int index_apply(struct sl_txn *t, const struct ddb_table *tb, const struct ddb_key *k,
                       const json_t *old, const json_t *fresh, char *msg, size_t n)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < tb->nix; i++) {
        const struct ddb_index *ix = &tb->ix[i];
        struct sl_buf opk, osk, npk, nsk;
        sl_buf_init(&opk, 0);
        sl_buf_init(&osk, 0);
        sl_buf_init(&npk, 0);
        sl_buf_init(&nsk, 0);
        json_t *oproj = NULL, *nproj = NULL;
        int orc = old ? ddb_index_entry(tb, ix, k, old, &opk, &osk, &oproj, msg, n) : SL_ENOTFOUND;
        int nrc = fresh ? ddb_index_entry(tb, ix, k, fresh, &npk, &nsk, &nproj, msg, n)
                        : SL_ENOTFOUND;
        if (nrc && nrc != SL_ENOTFOUND)
            rc = nrc;
        else if (orc && orc != SL_ENOTFOUND)
            rc = 0; /* (an old entry that could not be: there is none to drop) */
        bool same_place = !orc && !nrc && strcmp(opk.data, npk.data) == 0 &&
                          strcmp(osk.data, nsk.data) == 0;
        if (!rc && !orc && !same_place) {
            rc = sl_txn_delete(t, ix->ns, opk.data, osk.data);
            if (rc == SL_ENOTFOUND)
                rc = 0;
        }
        if (!rc && !nrc && !(same_place && json_equal(oproj, nproj))) {
            char *text = json_dumps(nproj, JSON_COMPACT);
            rc = text ? sl_txn_put(t, ix->ns, npk.data, nsk.data, text, strlen(text), NULL)
                      : SL_ENOMEM;
            free(text);
        }
        json_decref(oproj);
        json_decref(nproj);
        sl_buf_free(&opk);
        sl_buf_free(&osk);
        sl_buf_free(&npk);
        sl_buf_free(&nsk);
    }
    return rc;
}

/* ---- TimeToLive entries ------------------------------------------------- */

/* Epoch seconds of item's TimeToLive attribute, or -1 when it has none
 * that TimeToLive acts on (not a number; more than five years past: AWS
 * leaves those). */
int64_t ddb_ttl_of(const struct ddb_table *tb, const json_t *item)
{
    if (!tb->ttl_attr || !item)
        return -1;
    const json_t *x = NULL;
    if (ddb_type_of(json_object_get(item, tb->ttl_attr), &x) != DDB_T_NUM)
        return -1;
    const char *s = json_string_value(x);
    if (!s || strchr(s, 'e') || strchr(s, 'E') || s[0] == '-')
        return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end && *end != '.')
        return -1;
    int64_t now = sl_time_now_ms() / 1000;
    if (v < now - 5LL * 366 * 86400 || v > 99999999999LL)
        return -1;
    return v;
}

void ddb_ttl_sk(struct sl_buf *out, int64_t at, const struct ddb_key *k)
{
    sl_buf_printf(out, "%012" PRId64 "\1%s\1%s", at, k->pk, k->sk);
}

int ddb_ttl_apply(struct sl_txn *t, const struct ddb_table *tb, const struct ddb_key *k,
                  const json_t *old, const json_t *fresh)
{
    int64_t was = ddb_ttl_of(tb, old), now = ddb_ttl_of(tb, fresh);
    if (was == now)
        return 0;
    struct sl_buf sk;
    sl_buf_init(&sk, 0);
    int rc = 0;
    if (was >= 0) {
        ddb_ttl_sk(&sk, was, k);
        rc = sk.data ? sl_txn_delete(t, DDB_NS_TTL, DDB_TTL_PK, sk.data) : SL_ENOMEM;
        if (rc == SL_ENOTFOUND)
            rc = 0;
    }
    if (!rc && now >= 0) {
        sk.len = 0;
        ddb_ttl_sk(&sk, now, k);
        const char *account = json_string_value(json_object_get(tb->rec, "_account"));
        const char *region = json_string_value(json_object_get(tb->rec, "_region"));
        json_t *v = json_pack("{s:s, s:s, s:s}", "a", account ? account : "", "r",
                              region ? region : "", "n", tb->name);
        char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
        rc = text && sk.data ? sl_txn_put(t, DDB_NS_TTL, DDB_TTL_PK, sk.data, text, strlen(text),
                                          NULL)
                             : SL_ENOMEM;
        free(text);
        json_decref(v);
        if (!rc)
            sl_txn_queue_touch(t, DDB_NS_TTL);
    }
    sl_buf_free(&sk);
    return rc;
}

/* ---- stream records ----------------------------------------------------- */

static const char *const view_names[] = {"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE",
                                         "NEW_AND_OLD_IMAGES"};

const char *ddb_view_name(enum ddb_view v)
{
    return view_names[v];
}

int ddb_view_by_name(const char *name, enum ddb_view *out)
{
    for (size_t i = 0; name && i < SL_ARRAY_LEN(view_names); i++)
        if (strcmp(name, view_names[i]) == 0) {
            *out = (enum ddb_view)i;
            return 0;
        }
    return SL_EINVAL;
}

static int stream_append(struct sl_txn *t, const struct ddb_table *tb, const struct ddb_key *k,
                         const json_t *old, const json_t *fresh, bool by_ttl)
{
    const json_t *any = fresh ? fresh : old;
    int64_t now = sl_time_now_ms();
    json_t *keys = ddb_key_of(tb, any);
    size_t size = ddb_item_size(keys);
    json_t *d = json_pack("{s:I, s:o}", "ApproximateCreationDateTime", (json_int_t)(now / 1000),
                          "Keys", keys);
    if (!d)
        return SL_ENOMEM;
    if (fresh && (tb->view == DDB_VIEW_NEW_IMAGE || tb->view == DDB_VIEW_BOTH)) {
        json_object_set(d, "NewImage", (json_t *)fresh);
        size += ddb_item_size(fresh);
    }
    if (old && (tb->view == DDB_VIEW_OLD_IMAGE || tb->view == DDB_VIEW_BOTH)) {
        json_object_set(d, "OldImage", (json_t *)old);
        size += ddb_item_size(old);
    }
    json_object_set_new(d, "SizeBytes", json_integer((json_int_t)size));
    json_object_set_new(d, "StreamViewType", json_string(view_names[tb->view]));
    json_t *rec = json_pack("{s:s, s:o}", "eventName",
                            !old ? "INSERT" : !fresh ? "REMOVE" : "MODIFY", "dynamodb", d);
    if (rec && by_ttl)
        json_object_set_new(rec, "userIdentity",
                            json_pack("{s:s, s:s}", "type", "Service", "principalId",
                                      "dynamodb.amazonaws.com"));
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!text)
        return SL_ENOMEM;
    int rc = sl_txn_log_append(t, tb->stream_log, 0, now, k->pk, strlen(k->pk), text,
                               strlen(text), NULL);
    free(text);
    /* Retention: each append removes up to two records past it. */
    return rc ? rc : sl_txn_log_trim(t, tb->stream_log, 0, now - DDB_STREAM_RETENTION_MS, 2, NULL);
}

/* ---- a change ------------------------------------------------------------ */

static bool same_item(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    json_t *x = json_pack("{s:O}", "M", a), *y = json_pack("{s:O}", "M", b);
    bool eq = x && y && ddb_value_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

int ddb_apply(struct sl_txn *t, const struct ddb_table *tb, const struct ddb_key *k,
              const json_t *old, const json_t *fresh, bool by_ttl, char *msg, size_t n)
{
    if (same_item(old, fresh))
        return 0; /* (no change: no stream record, as DynamoDB's) */
    int rc = index_apply(t, tb, k, old, fresh, msg, n);
    if (!rc)
        rc = ddb_ttl_apply(t, tb, k, old, fresh);
    if (!rc && tb->stream_log)
        rc = stream_append(t, tb, k, old, fresh, by_ttl);
    if (rc)
        return rc;
    if (!fresh) {
        rc = sl_txn_delete(t, tb->items_ns, k->pk, k->sk);
        return rc == SL_ENOTFOUND ? 0 : rc;
    }
    char *text = json_dumps(fresh, JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    rc = sl_txn_put(t, tb->items_ns, k->pk, k->sk, text, strlen(text), NULL);
    free(text);
    return rc;
}
