/*
 * DynamoDB items: PutItem, GetItem, DeleteItem and UpdateItem, with
 * condition, projection and update expressions and ReturnValues. A write
 * is one store transaction: it reads the item as it is, tests the
 * condition on it, and writes (or deletes) it, so two writers of one item
 * never both pass a condition on the same old item.
 */
#include "services/dynamodb/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { OP_PUT, OP_DELETE, OP_UPDATE };

/* One item request. */
struct ireq {
    enum op op;
    struct ddb_table t;
    struct ddb_placeholders ph;
    struct ddb_expr *cond, *update, *proj;
    struct ddb_key key;
    json_t *item;       /* put: the new item; update: the key's attributes */
    const char *ret;    /* ReturnValues */
    bool ret_on_fail;   /* ReturnValuesOnConditionCheckFailure ALL_OLD */
    /* Out of the transaction: */
    json_t *old, *fresh;
    json_t *paths;      /* update: the top-level attributes it touched */
    char msg[512];
};

static void ireq_free(struct sl_call *c)
{
    struct ireq *r = c->state;
    if (!r)
        return;
    ddb_table_clear(&r->t);
    json_decref(r->ph.values);
    json_decref(r->ph.used_names);
    json_decref(r->ph.used_values);
    ddb_expr_free(r->cond);
    ddb_expr_free(r->update);
    ddb_expr_free(r->proj);
    ddb_key_clear(&r->key);
    json_decref(r->item);
    json_decref(r->old);
    json_decref(r->fresh);
    json_decref(r->paths);
}

static int validation(struct sl_call *c, const char *msg)
{
    return sl_call_fail(c, DDB_E_VALIDATION, "%s", msg);
}

/* The request's table, placeholders and expressions: the state, or NULL
 * when the call has its answer (*rc: what to return). */
static struct ireq *begin(struct sl_call *c, enum op op, int *rc)
{
    struct ireq *r = sl_call_alloc(c, sizeof(*r));
    if (!r) {
        *rc = SL_ENOMEM;
        return NULL;
    }
    c->state = r;
    c->state_free = ireq_free;
    r->op = op;
    static const char *const legacy[] = {"Expected", "AttributesToGet", "ConditionalOperator",
                                         "AttributeUpdates"};
    for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
        if (json_object_get(c->in, legacy[i])) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "Sluice does not support the legacy parameter %s yet: use the expression "
                     "parameters (ConditionExpression, ProjectionExpression, UpdateExpression)",
                     legacy[i]);
            *rc = validation(c, msg);
            return NULL;
        }
    if ((*rc = ddb_call_table(c, &r->t)) != 0)
        return NULL;
    r->ph.names = json_object_get(c->in, "ExpressionAttributeNames");
    r->ph.used_names = json_object();
    r->ph.used_values = json_object();
    json_t *values = json_object_get(c->in, "ExpressionAttributeValues");
    if (values) {
        r->ph.values = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(values, k, v)
        {
            json_t *nv = ddb_value_normalize(v, 0, r->msg, sizeof(r->msg));
            if (!nv) {
                *rc = validation(c, r->msg);
                return NULL;
            }
            json_object_set_new(r->ph.values, k, nv);
        }
    }
    static const struct {
        const char *member;
        enum ddb_expr_kind kind;
        size_t off;
    } exprs[] = {
        {"ConditionExpression", DDB_EXPR_CONDITION, offsetof(struct ireq, cond)},
        {"UpdateExpression", DDB_EXPR_UPDATE, offsetof(struct ireq, update)},
        {"ProjectionExpression", DDB_EXPR_PROJECTION, offsetof(struct ireq, proj)},
    };
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        const char *text = json_string_value(json_object_get(c->in, exprs[i].member));
        if (!text)
            continue;
        struct ddb_expr **e = (struct ddb_expr **)((char *)r + exprs[i].off);
        if (ddb_expr_parse(exprs[i].kind, text, &r->ph, e, r->msg, sizeof(r->msg))) {
            *rc = validation(c, r->msg);
            return NULL;
        }
    }
    if (ddb_placeholders_check(&r->ph, r->msg, sizeof(r->msg))) {
        *rc = validation(c, r->msg);
        return NULL;
    }
    r->ret = json_string_value(json_object_get(c->in, "ReturnValues"));
    const char *on_fail =
        json_string_value(json_object_get(c->in, "ReturnValuesOnConditionCheckFailure"));
    r->ret_on_fail = on_fail && strcmp(on_fail, "ALL_OLD") == 0;
    return r;
}

/* The item at r's key in transaction t, or NULL. */
static int read_old(struct sl_txn *t, struct ireq *r)
{
    struct sl_item it;
    int rc = sl_txn_get(t, r->t.items_ns, r->key.pk, r->key.sk, &it);
    if (rc == SL_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    r->old = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return r->old ? 0 : SL_ECORRUPT;
}

static int write_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct ireq *r = arg;
    int rc = read_old(t, r);
    if (rc)
        return rc;
    if (r->cond) {
        bool ok;
        if (ddb_expr_test(r->cond, r->old, &ok, r->msg, sizeof(r->msg)))
            return SL_EINVAL;
        if (!ok)
            return SL_ECONDITION;
    }
    if (r->op == OP_DELETE)
        return r->old ? sl_txn_delete(t, r->t.items_ns, r->key.pk, r->key.sk) : 0;
    if (r->op == OP_UPDATE) {
        r->fresh = r->old ? json_deep_copy(r->old) : json_deep_copy(r->item);
        if (!r->fresh)
            return SL_ENOMEM;
        if (r->update &&
            ddb_expr_update(r->update, r->fresh, &r->paths, r->msg, sizeof(r->msg)))
            return SL_EINVAL;
        if (ddb_item_size(r->fresh) > DDB_ITEM_MAX) {
            snprintf(r->msg, sizeof(r->msg),
                     "Item size to update has exceeded the maximum allowed size");
            return SL_EINVAL;
        }
    } else {
        r->fresh = json_incref(r->item);
    }
    char *text = json_dumps(r->fresh, JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    rc = sl_txn_put(t, r->t.items_ns, r->key.pk, r->key.sk, text, strlen(text), NULL);
    free(text);
    return rc;
}

/* The attributes of item named in paths (top-level names). */
static json_t *only(const json_t *item, const json_t *paths)
{
    json_t *out = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        json_t *v = json_object_get(item, json_string_value(p));
        if (v)
            json_object_set(out, json_string_value(p), v);
    }
    return out;
}

static int written(struct sl_call *c)
{
    struct ireq *r = c->write_arg;
    if (c->write_rc == SL_ECONDITION) {
        json_t *fields = r->ret_on_fail && r->old ? json_pack("{s:O}", "Item", r->old) : NULL;
        return sl_call_fail_ex(c, DDB_E_CONDITION, NULL, fields, "The conditional request failed");
    }
    if (c->write_rc == SL_EINVAL)
        return validation(c, r->msg);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    json_t *out = json_object();
    const char *ret = r->ret ? r->ret : "NONE";
    json_t *attrs = NULL;
    if (strcmp(ret, "ALL_OLD") == 0 && r->old)
        attrs = json_incref(r->old);
    else if (strcmp(ret, "ALL_NEW") == 0 && r->fresh)
        attrs = json_incref(r->fresh);
    else if (strcmp(ret, "UPDATED_OLD") == 0 && r->old && r->paths)
        attrs = only(r->old, r->paths);
    else if (strcmp(ret, "UPDATED_NEW") == 0 && r->fresh && r->paths)
        attrs = only(r->fresh, r->paths);
    if (attrs && json_object_size(attrs))
        json_object_set(out, "Attributes", attrs);
    json_decref(attrs);
    return sl_call_ok(c, out);
}

/* ReturnValues allowed for op: 0, or answers. */
static int check_return(struct sl_call *c, struct ireq *r)
{
    if (!r->ret || strcmp(r->ret, "NONE") == 0 || strcmp(r->ret, "ALL_OLD") == 0)
        return 0;
    if (r->op == OP_UPDATE &&
        (strcmp(r->ret, "ALL_NEW") == 0 || strcmp(r->ret, "UPDATED_OLD") == 0 ||
         strcmp(r->ret, "UPDATED_NEW") == 0))
        return 0;
    return validation(c, "ReturnValues can only be ALL_OLD or NONE");
}

SL_OP(dynamodb, PutItem)
{
    int rc;
    struct ireq *r = begin(c, OP_PUT, &rc);
    if (!r)
        return rc;
    if ((rc = check_return(c, r)))
        return rc;
    if (json_object_get(c->in, "UpdateExpression") || json_object_get(c->in, "ProjectionExpression"))
        return validation(c, "One or more parameter values were invalid: PutItem takes no "
                             "UpdateExpression or ProjectionExpression");
    r->item = ddb_item_normalize(json_object_get(c->in, "Item"), 0, r->msg, sizeof(r->msg));
    if (!r->item)
        return validation(c, r->msg);
    if (ddb_item_size(r->item) > DDB_ITEM_MAX)
        return validation(c, "Item size has exceeded the maximum allowed size");
    if (ddb_item_key(&r->t, r->item, false, &r->key, r->msg, sizeof(r->msg)))
        return validation(c, r->msg);
    return sl_call_write(c, write_txn, r, written);
}

/* The Key of the call, normalized, and its place: 0, or answers. */
static int read_key(struct sl_call *c, struct ireq *r)
{
    json_t *key = ddb_item_normalize(json_object_get(c->in, "Key"), 0, r->msg, sizeof(r->msg));
    if (!key)
        return validation(c, r->msg);
    int rc = ddb_item_key(&r->t, key, true, &r->key, r->msg, sizeof(r->msg));
    if (rc) {
        json_decref(key);
        return validation(c, r->msg);
    }
    r->item = key;
    return 0;
}

SL_OP(dynamodb, GetItem)
{
    int rc;
    struct ireq *r = begin(c, OP_PUT, &rc);
    if (!r)
        return rc;
    if ((rc = read_key(c, r)))
        return rc;
    struct sl_item it;
    rc = sl_kv_get(c->app->store, r->t.items_ns, r->key.pk, r->key.sk, &it);
    if (rc == SL_ENOTFOUND)
        return sl_call_ok(c, json_object());
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *item = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (!item)
        return sl_call_internal(c, SL_ECORRUPT, NULL);
    if (r->proj) {
        json_t *p = ddb_expr_project(r->proj, item);
        json_decref(item);
        item = p;
    }
    return sl_call_ok(c, json_pack("{s:o}", "Item", item));
}

SL_OP(dynamodb, DeleteItem)
{
    int rc;
    struct ireq *r = begin(c, OP_DELETE, &rc);
    if (!r)
        return rc;
    if ((rc = check_return(c, r)) || (rc = read_key(c, r)))
        return rc;
    return sl_call_write(c, write_txn, r, written);
}

SL_OP(dynamodb, UpdateItem)
{
    int rc;
    struct ireq *r = begin(c, OP_UPDATE, &rc);
    if (!r)
        return rc;
    if ((rc = check_return(c, r)) || (rc = read_key(c, r)))
        return rc;
    if (r->update) {
        /* Key attributes cannot change. */
        json_t *touched = ddb_expr_update_targets(r->update);
        size_t i;
        json_t *p;
        json_array_foreach(touched, i, p)
        {
            const char *name = json_string_value(p);
            if ((r->t.hash.name && strcmp(name, r->t.hash.name) == 0) ||
                (r->t.range.name && strcmp(name, r->t.range.name) == 0)) {
                char msg[512];
                snprintf(msg, sizeof(msg),
                         "One or more parameter values were invalid: Cannot update attribute "
                         "%s. This attribute is part of the key",
                         name);
                json_decref(touched);
                return validation(c, msg);
            }
        }
        json_decref(touched);
    }
    return sl_call_write(c, write_txn, r, written);
}
