/*
 * DynamoDB's batches: BatchWriteItem (up to 25 puts and deletes of items
 * of one or more tables) and BatchGetItem (up to 100 items of one or more
 * tables, each table with its projection). AWS does not promise that a
 * batch's writes happen together; here they are one store transaction,
 * all or none. A BatchGetItem answers up to 16 MB of items and gives the
 * keys past that back in UnprocessedKeys, as DynamoDB does; nothing else
 * is ever left unprocessed.
 *
 * Also what the batches and the transactions (transact.c) share: reading
 * a request's elements (ddb_many), each table once, with the check that
 * no two elements name one item.
 */
#include "services/dynamodb/internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_WRITE_MAX 25
#define BATCH_GET_MAX 100
#define BATCH_GET_BYTES (16 * 1024 * 1024)
#define DUPLICATES "Provided list of item keys contains duplicates"

/* ---- a request's elements ----------------------------------------------- */

int ddb_many_init(struct ddb_many *m, size_t cap)
{
    memset(m, 0, sizeof(*m));
    m->w = calloc(cap ? cap : 1, sizeof(*m->w));
    m->tables = json_object();
    m->seen = json_object();
    m->cap = cap;
    if (!m->w || !m->tables || !m->seen) {
        ddb_many_clear(m);
        return SL_ENOMEM;
    }
    return 0;
}

void ddb_many_clear(struct ddb_many *m)
{
    for (size_t i = 0; m->w && i < m->n; i++)
        ddb_write_clear(&m->w[i]);
    free(m->w);
    json_decref(m->tables);
    json_decref(m->seen);
    memset(m, 0, sizeof(*m));
}

/* Table name's record, read once per request: 0, or the call has its
 * answer (SL_DONE). */
static int many_table(struct sl_call *c, struct ddb_many *m, const char *name, json_t **rec)
{
    *rec = name ? json_object_get(m->tables, name) : NULL;
    if (*rec)
        return 0;
    char pk[96];
    ddb_pk(pk, sizeof(pk), c->account, c->region);
    struct ddb_table t;
    int rc = name ? ddb_table_get(c->app, pk, name, &t) : SL_ENOTFOUND;
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found");
    if (rc)
        return sl_call_internal(c, rc, NULL);
    *rec = t.rec;
    rc = json_object_set(m->tables, name, t.rec);
    ddb_table_clear(&t);
    return rc ? sl_call_internal(c, SL_ENOMEM, NULL) : 0;
}

int ddb_many_add(struct sl_call *c, struct ddb_many *m, enum ddb_op op, const char *table,
                 const json_t *in, const char *dup)
{
    assert(m->n < m->cap);
    json_t *rec;
    int rc = many_table(c, m, table, &rec);
    if (rc)
        return rc;
    struct ddb_table t;
    if ((rc = ddb_table_parse(json_incref(rec), &t)) != 0)
        return sl_call_internal(c, rc, NULL);
    struct ddb_write *w = &m->w[m->n++];
    if (ddb_write_init(w, op, &t, in))
        return sl_call_fail(c, DDB_E_VALIDATION, "%s", w->msg);
    /* The item's place: its pk (which starts with the table's id) and sk,
     * apart by the pk's length. */
    struct sl_buf id;
    sl_buf_init(&id, 0);
    rc = sl_buf_printf(&id, "%zu:%s%s", strlen(w->key.pk), w->key.pk, w->key.sk);
    if (!rc && json_object_get(m->seen, id.data)) {
        sl_buf_free(&id);
        return sl_call_fail(c, DDB_E_VALIDATION, "%s", dup);
    }
    if (!rc)
        rc = json_object_set_new(m->seen, id.data, json_true()) ? SL_ENOMEM : 0;
    sl_buf_free(&id);
    return rc ? sl_call_internal(c, rc, NULL) : 0;
}

/* ---- BatchWriteItem ------------------------------------------------------ */

static void many_free(struct sl_call *c)
{
    if (c->state)
        ddb_many_clear(c->state);
}

/* The call's state, for cap elements: NULL when the call has its answer
 * (*rc). */
static struct ddb_many *begin(struct sl_call *c, size_t cap, int *rc)
{
    struct ddb_many *m = sl_call_alloc(c, sizeof(*m));
    if (!m || ddb_many_init(m, cap)) {
        *rc = SL_ENOMEM;
        return NULL;
    }
    c->state = m;
    c->state_free = many_free;
    return m;
}

/* The batch's writes, in one transaction: the first that fails undoes
 * them all (its message in msg). */
struct batch_write {
    struct ddb_many *m;
    const char *msg;
};

static int write_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct batch_write *b = arg;
    for (size_t i = 0; i < b->m->n; i++) {
        int rc = ddb_write_txn(t, &b->m->w[i]);
        if (rc) {
            b->msg = b->m->w[i].msg;
            return rc;
        }
    }
    return 0;
}

static int written(struct sl_call *c)
{
    struct batch_write *b = c->write_arg;
    if (c->write_rc == SL_EINVAL)
        return sl_call_fail(c, DDB_E_VALIDATION, "%s", b->msg);
    if (c->write_rc == SL_ENOTFOUND) /* (a table deleted meanwhile) */
        return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found");
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return sl_call_ok(c, json_pack("{s:{}}", "UnprocessedItems"));
}

SL_OP(dynamodb, BatchWriteItem)
{
    json_t *items = json_object_get(c->in, "RequestItems");
    const char *name;
    json_t *reqs, *r;
    size_t total = 0, i;
    json_object_foreach(items, name, reqs) total += json_array_size(reqs);
    if (total > BATCH_WRITE_MAX)
        return sl_call_fail(c, DDB_E_VALIDATION,
                            "Too many items requested for the BatchWriteItem call");
    int rc;
    struct ddb_many *m = begin(c, total, &rc);
    if (!m)
        return rc;
    json_object_foreach(items, name, reqs)
    {
        json_array_foreach(reqs, i, r)
        {
            json_t *put = json_object_get(r, "PutRequest");
            json_t *del = json_object_get(r, "DeleteRequest");
            if (!put == !del)
                return sl_call_fail(c, DDB_E_VALIDATION,
                                    "Supplied AttributeValue has more than one datatypes set, "
                                    "must contain exactly one of the supported datatypes");
            rc = ddb_many_add(c, m, put ? DDB_OP_PUT : DDB_OP_DELETE, name, put ? put : del,
                              DUPLICATES);
            if (rc)
                return rc;
        }
    }
    struct batch_write *b = sl_call_alloc(c, sizeof(*b));
    if (!b)
        return SL_ENOMEM;
    b->m = m;
    return sl_call_write(c, write_txn, b, written);
}

/* ---- BatchGetItem -------------------------------------------------------- */

/* The key of w (an element of table spec) put back in UnprocessedKeys. */
static int unprocessed(json_t *out, const json_t *spec, const struct ddb_write *w)
{
    json_t *t = json_object_get(out, w->t.name);
    if (!t) {
        t = json_copy((json_t *)spec);
        if (!t || json_object_set_new(t, "Keys", json_array()) ||
            json_object_set_new(out, w->t.name, t))
            return SL_ENOMEM;
    }
    return json_array_append(json_object_get(t, "Keys"), w->item) ? SL_ENOMEM : 0;
}

/* Reads the items of m, in order, into responses (a list per table)
 * until they reach BATCH_GET_BYTES; the keys after that into unread. */
static int batch_read(struct sl_call *c, struct ddb_many *m, json_t *responses, json_t *unread)
{
    json_t *specs = json_object_get(c->in, "RequestItems");
    size_t bytes = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < m->n; i++) {
        struct ddb_write *w = &m->w[i];
        if (bytes >= BATCH_GET_BYTES) {
            rc = unprocessed(unread, json_object_get(specs, w->t.name), w);
            continue;
        }
        struct sl_item it;
        rc = sl_kv_get(c->app->store, w->t.items_ns, w->key.pk, w->key.sk, &it);
        if (rc == SL_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
        json_t *item = json_loadb(it.val, it.val_len, 0, NULL);
        sl_item_free(&it);
        if (!item) {
            rc = SL_ECORRUPT;
            break;
        }
        /* (The item that would pass the limit is the first left.) */
        size_t size = ddb_item_size(item);
        if (bytes && bytes + size > BATCH_GET_BYTES) {
            bytes = BATCH_GET_BYTES;
            json_decref(item);
            rc = unprocessed(unread, json_object_get(specs, w->t.name), w);
            continue;
        }
        bytes += size;
        if (w->proj) {
            json_t *p = ddb_expr_project(w->proj, item);
            json_decref(item);
            item = p;
        }
        rc = json_array_append_new(json_object_get(responses, w->t.name), item) ? SL_ENOMEM : 0;
    }
    return rc;
}

SL_OP(dynamodb, BatchGetItem)
{
    json_t *specs = json_object_get(c->in, "RequestItems");
    const char *name;
    json_t *spec, *key;
    size_t total = 0, i;
    json_object_foreach(specs, name, spec) total += json_array_size(json_object_get(spec, "Keys"));
    if (total > BATCH_GET_MAX)
        return sl_call_fail(c, DDB_E_VALIDATION,
                            "Too many items requested for the BatchGetItem call");
    int rc;
    struct ddb_many *m = begin(c, total, &rc);
    if (!m)
        return rc;
    json_t *responses = json_object(), *unread = json_object();
    json_object_foreach(specs, name, spec)
    {
        /* Each key read as a GetItem's input: the table's projection (or
         * a legacy member that ddb_write_init refuses) and the key. */
        json_t *in = json_copy(spec);
        if (!in || json_object_del(in, "Keys") ||
            json_object_set_new(responses, name, json_array())) {
            json_decref(in);
            rc = SL_ENOMEM;
            goto out;
        }
        json_object_del(in, "ConsistentRead");
        json_array_foreach(json_object_get(spec, "Keys"), i, key)
        {
            json_object_set(in, "Key", key);
            if ((rc = ddb_many_add(c, m, DDB_OP_GET, name, in, DUPLICATES)) != 0)
                break;
            /* (The write keeps pointers into in; the copies of Key and the
             * other members are c->in's, which outlives the call's state.) */
        }
        json_decref(in);
        if (rc)
            goto out;
    }
    if ((rc = batch_read(c, m, responses, unread)) != 0) {
        rc = sl_call_internal(c, rc, NULL);
        goto out;
    }
    rc = sl_call_ok(c, json_pack("{s:O, s:O}", "Responses", responses, "UnprocessedKeys", unread));
out:
    json_decref(responses);
    json_decref(unread);
    return rc;
}
