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

static void write_free(struct sl_call *c)
{
    if (c->state)
        ddb_write_clear(c->state);
}

static int validation(struct sl_call *c, const char *msg)
{
    return sl_call_fail(c, DDB_E_VALIDATION, "%s", msg);
}

/* The request read for op: the state, or NULL when the call has its
 * answer (*rc: what to return). */
static struct ddb_write *begin(struct sl_call *c, enum ddb_op op, int *rc)
{
    struct ddb_write *w = sl_call_alloc(c, sizeof(*w));
    if (!w) {
        *rc = SL_ENOMEM;
        return NULL;
    }
    struct ddb_table t;
    if ((*rc = ddb_call_table(c, &t)) != 0)
        return NULL;
    c->state = w;
    c->state_free = write_free;
    if (ddb_write_init(w, op, &t, c->in)) {
        *rc = validation(c, w->msg);
        return NULL;
    }
    return w;
}

static int write_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    return ddb_write_txn(t, arg);
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
    struct ddb_write *r = c->write_arg;
    if (c->write_rc == SL_ECONDITION) {
        json_t *fields = r->ret_on_fail && r->old ? json_pack("{s:O}", "Item", r->old) : NULL;
        return sl_call_fail_ex(c, DDB_E_CONDITION, NULL, fields, "The conditional request failed");
    }
    if (c->write_rc == SL_EINVAL)
        return validation(c, r->msg);
    if (c->write_rc == SL_ENOTFOUND) /* (the table deleted meanwhile) */
        return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found");
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

/* ReturnValues allowed for the write: 0, or answers. */
static int check_return(struct sl_call *c, struct ddb_write *r)
{
    if (!r->ret || strcmp(r->ret, "NONE") == 0 || strcmp(r->ret, "ALL_OLD") == 0)
        return 0;
    if (r->op == DDB_OP_UPDATE &&
        (strcmp(r->ret, "ALL_NEW") == 0 || strcmp(r->ret, "UPDATED_OLD") == 0 ||
         strcmp(r->ret, "UPDATED_NEW") == 0))
        return 0;
    return validation(c, "ReturnValues can only be ALL_OLD or NONE");
}

/* PutItem, DeleteItem and UpdateItem. */
static int item_write(struct sl_call *c, enum ddb_op op)
{
    int rc;
    struct ddb_write *r = begin(c, op, &rc);
    if (!r)
        return rc;
    if ((rc = check_return(c, r)))
        return rc;
    return sl_call_write(c, write_txn, r, written);
}

SL_OP(dynamodb, PutItem)
{
    return item_write(c, DDB_OP_PUT);
}

SL_OP(dynamodb, DeleteItem)
{
    return item_write(c, DDB_OP_DELETE);
}

SL_OP(dynamodb, UpdateItem)
{
    return item_write(c, DDB_OP_UPDATE);
}

SL_OP(dynamodb, GetItem)
{
    int rc;
    struct ddb_write *r = begin(c, DDB_OP_GET, &rc);
    if (!r)
        return rc;
    struct sl_item it;
    rc = sl_kv_get(c->app->store, r->t.items_ns, r->key.pk, r->key.sk, &it);
    if (rc == SL_ENOTFOUND)
        return sl_call_ok(c, json_object());
    if (rc)
        return sl_call_internal(c, rc, NULL);
    if (!r->proj) {
        /* (The item as stored is the answer's: no parse, no dump.) */
        struct sl_buf b;
        sl_buf_init(&b, it.val_len + 16);
        rc = sl_buf_puts(&b, "{\"Item\":");
        if (!rc)
            rc = sl_buf_append(&b, it.val, it.val_len);
        if (!rc)
            rc = sl_buf_putc(&b, '}');
        sl_item_free(&it);
        if (!rc)
            rc = sl_call_ok_text(c, b.data, b.len);
        sl_buf_free(&b);
        return rc;
    }
    json_t *item = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (!item)
        return sl_call_internal(c, SL_ECORRUPT, NULL);
    json_t *p = ddb_expr_project(r->proj, item);
    json_decref(item);
    return sl_call_ok(c, json_pack("{s:o}", "Item", p));
}
