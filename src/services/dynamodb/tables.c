/*
 * DynamoDB tables: CreateTable, DescribeTable, ListTables, UpdateTable
 * (billing, throughput, streams) and DeleteTable. A table is ACTIVE as
 * soon as it is made (CreateTable's answer says CREATING, as AWS's does;
 * waiters polling for ACTIVE pass at once). A table's record keeps the
 * TableDescription's members, so that DescribeTable answers it as stored.
 */
#include "services/dynamodb/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table's description as AWS answers it, in status (NULL: ACTIVE). */
static json_t *description(const struct ddb_table *t, const char *status)
{
    json_t *d = json_deep_copy(t->rec);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(d, tmp, k, v)
    {
        if (k[0] == '_' || strcmp(k, "id") == 0)
            json_object_del(d, k);
    }
    const char *lists[] = {"GlobalSecondaryIndexes", "LocalSecondaryIndexes"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *ix;
        json_array_foreach(json_object_get(d, lists[l]), i, ix) json_object_del(ix, "_id");
    }
    json_object_set_new(d, "TableStatus", json_string(status ? status : "ACTIVE"));
    json_object_set_new(d, "TableId", json_string(t->id));
    /* (AWS refreshes these every six hours or so; Sluice does not count.) */
    json_object_set_new(d, "ItemCount", json_integer(0));
    json_object_set_new(d, "TableSizeBytes", json_integer(0));
    return d;
}

static int invalid(struct sl_call *c, const char *fmt, ...) SL_PRINTF(2, 3);
static int invalid(struct sl_call *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_call_fail(c, DDB_E_VALIDATION, "%s", msg);
}

/* Checks KeySchema (of the table or an index) against the definitions:
 * 0, or answers. *used counts the definitions it names. */
static int check_schema(struct sl_call *c, json_t *schema, json_t *defs, const char *what)
{
    size_t n = json_array_size(schema);
    if (n < 1 || n > 2)
        return invalid(c, "1 validation error detected: Value '%zu' at '%s' failed to satisfy "
                          "constraint: Member must have length less than or equal to 2",
                       n, what);
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_array_get(schema, i);
        const char *name = json_string_value(json_object_get(k, "AttributeName"));
        const char *type = json_string_value(json_object_get(k, "KeyType"));
        if (!type || strcmp(type, i ? "RANGE" : "HASH") != 0)
            return invalid(c, "Invalid KeySchema: The %s key element must be a %s key",
                           i ? "second" : "first", i ? "RANGE" : "HASH");
        bool found = false;
        size_t j;
        json_t *d;
        json_array_foreach(defs, j, d)
        {
            const char *dn = json_string_value(json_object_get(d, "AttributeName"));
            found |= dn && name && strcmp(dn, name) == 0;
        }
        if (!found)
            return invalid(c, "One or more parameter values were invalid: Some index key "
                              "attributes are not defined in AttributeDefinitions. Keys: [%s], "
                              "AttributeDefinitions: [...]",
                           name ? name : "");
    }
    return 0;
}

/* Whether schema names attribute name. */
static bool names(json_t *schema, const char *name)
{
    size_t i;
    json_t *k;
    json_array_foreach(schema, i, k)
    {
        const char *n = json_string_value(json_object_get(k, "AttributeName"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

/* The billing members of in into rec: 0, or answers. */
static int billing(struct sl_call *c, json_t *in, json_t *rec)
{
    const char *mode = json_string_value(json_object_get(in, "BillingMode"));
    json_t *pt = json_object_get(in, "ProvisionedThroughput");
    if (!mode)
        mode = json_string_value(
            json_object_get(json_object_get(rec, "BillingModeSummary"), "BillingMode"));
    if (!mode)
        mode = "PROVISIONED";
    if (strcmp(mode, "PAY_PER_REQUEST") == 0 && pt)
        return invalid(c, "One or more parameter values were invalid: Neither "
                          "ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                          "BillingMode is PAY_PER_REQUEST");
    if (strcmp(mode, "PROVISIONED") == 0 && !pt && !json_object_get(rec, "ProvisionedThroughput"))
        return invalid(c, "One or more parameter values were invalid: ReadCapacityUnits and "
                          "WriteCapacityUnits must both be specified when BillingMode is "
                          "PROVISIONED");
    json_int_t r = strcmp(mode, "PROVISIONED") == 0
                       ? json_integer_value(json_object_get(pt, "ReadCapacityUnits"))
                       : 0;
    json_int_t w = strcmp(mode, "PROVISIONED") == 0
                       ? json_integer_value(json_object_get(pt, "WriteCapacityUnits"))
                       : 0;
    if (!pt && strcmp(mode, "PROVISIONED") == 0) {
        json_t *old = json_object_get(rec, "ProvisionedThroughput");
        r = json_integer_value(json_object_get(old, "ReadCapacityUnits"));
        w = json_integer_value(json_object_get(old, "WriteCapacityUnits"));
    }
    json_object_set_new(rec, "ProvisionedThroughput",
                        json_pack("{s:i, s:I, s:I}", "NumberOfDecreasesToday", 0,
                                  "ReadCapacityUnits", r, "WriteCapacityUnits", w));
    json_object_set_new(rec, "BillingModeSummary", json_pack("{s:s}", "BillingMode", mode));
    return 0;
}

/* StreamSpecification of in into rec: 0, or answers. */
static int streams(struct sl_call *c, json_t *in, json_t *rec, bool update)
{
    json_t *spec = json_object_get(in, "StreamSpecification");
    if (!spec)
        return 0;
    bool on = json_is_true(json_object_get(spec, "StreamEnabled"));
    const char *view = json_string_value(json_object_get(spec, "StreamViewType"));
    json_t *old = json_object_get(rec, "StreamSpecification");
    bool was = json_is_true(json_object_get(old, "StreamEnabled"));
    if (on && !view)
        return invalid(c, "One or more parameter values were invalid: StreamViewType is "
                          "required when StreamEnabled is true");
    if (update && on && was)
        return invalid(c, "Table already has an enabled stream: TableName: %s",
                       json_string_value(json_object_get(rec, "TableName")));
    if (update && !on && !was)
        return invalid(c, "Table already has no stream enabled");
    if (!on) {
        json_object_set_new(rec, "StreamSpecification", json_pack("{s:b}", "StreamEnabled", 0));
        return 0;
    }
    char label[40];
    sl_time_iso8601_ms(sl_time_now_ms(), label, sizeof(label));
    label[strlen(label) - 1] = '\0'; /* (no Z: AWS's labels have none) */
    enum ddb_view v;
    if (ddb_view_by_name(view, &v))
        return invalid(c, "1 validation error detected: Value '%s' at "
                          "'streamSpecification.streamViewType' failed to satisfy constraint: "
                          "Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, "
                          "NEW_AND_OLD_IMAGES, KEYS_ONLY]",
                       view);
    char log[64] = DDB_LOG_PREFIX;
    sl_uuid(log + strlen(log));
    json_object_set_new(rec, "_stream_log", json_string(log));
    json_object_set_new(rec, "StreamSpecification",
                        json_pack("{s:b, s:s}", "StreamEnabled", 1, "StreamViewType", view));
    json_object_set_new(rec, "LatestStreamLabel", json_string(label));
    char arn[512];
    snprintf(arn, sizeof(arn), "%s/stream/%s",
             json_string_value(json_object_get(rec, "TableArn")), label);
    json_object_set_new(rec, "LatestStreamArn", json_string(arn));
    return 0;
}

/* An index's record in its table's: its description, and its id (the
 * namespace of its entries). */
static json_t *index_record(json_t *ix, const char *table_arn, bool global)
{
    json_t *o = json_deep_copy(ix);
    char id[40];
    sl_uuid(id);
    json_object_set_new(o, "_id", json_string(id));
    char arn[640];
    snprintf(arn, sizeof(arn), "%s/index/%s", table_arn,
             json_string_value(json_object_get(ix, "IndexName")));
    json_object_set_new(o, "IndexArn", json_string(arn));
    json_object_set_new(o, "IndexSizeBytes", json_integer(0));
    json_object_set_new(o, "ItemCount", json_integer(0));
    if (global) {
        json_object_set_new(o, "IndexStatus", json_string("ACTIVE"));
        if (!json_object_get(o, "ProvisionedThroughput"))
            json_object_set_new(o, "ProvisionedThroughput",
                                json_pack("{s:i, s:i, s:i}", "NumberOfDecreasesToday", 0,
                                          "ReadCapacityUnits", 0, "WriteCapacityUnits", 0));
    }
    return o;
}

/* Whether rec has an index called name (in either list). */
static bool has_index(json_t *rec, const char *name)
{
    const char *lists[] = {"GlobalSecondaryIndexes", "LocalSecondaryIndexes"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *ix;
        json_array_foreach(json_object_get(rec, lists[l]), i, ix)
        {
            const char *n = json_string_value(json_object_get(ix, "IndexName"));
            if (n && name && strcmp(n, name) == 0)
                return true;
        }
    }
    return false;
}

/* UpdateTable's GlobalSecondaryIndexUpdates into rec: 0, or answers. */
static int index_updates(struct sl_call *c, json_t *rec)
{
    json_t *updates = json_object_get(c->in, "GlobalSecondaryIndexUpdates");
    json_t *defs = json_object_get(rec, "AttributeDefinitions");
    /* New definitions join the table's (one type per name). */
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(c->in, "AttributeDefinitions"), i, d)
    {
        const char *name = json_string_value(json_object_get(d, "AttributeName"));
        bool known = false;
        size_t j;
        json_t *e;
        json_array_foreach(defs, j, e)
        {
            const char *en = json_string_value(json_object_get(e, "AttributeName"));
            if (name && en && strcmp(name, en) == 0) {
                known = true;
                if (!json_equal(json_object_get(d, "AttributeType"),
                                json_object_get(e, "AttributeType")))
                    return invalid(c, "One or more parameter values were invalid: Cannot "
                                      "change the type of the key attribute %s",
                                   name);
            }
        }
        if (!known)
            json_array_append(defs, d);
    }
    json_t *u;
    json_array_foreach(updates, i, u)
    {
        json_t *create = json_object_get(u, "Create"), *del = json_object_get(u, "Delete");
        const char *name = json_string_value(
            json_object_get(create ? create : del ? del : json_object_get(u, "Update"),
                            "IndexName"));
        if (create) {
            if (has_index(rec, name))
                return invalid(c, "One or more parameter values were invalid: Index %s "
                                  "already exists",
                               name ? name : "");
            int rc = check_schema(c, json_object_get(create, "KeySchema"), defs,
                                  "indexKeySchema");
            if (rc)
                return rc;
            json_t *list = json_object_get(rec, "GlobalSecondaryIndexes");
            if (!list) {
                list = json_array();
                json_object_set_new(rec, "GlobalSecondaryIndexes", list);
            }
            json_array_append_new(list, index_record(create,
                                                     json_string_value(json_object_get(
                                                         rec, "TableArn")),
                                                     true));
        } else if (del) {
            json_t *list = json_object_get(rec, "GlobalSecondaryIndexes");
            size_t j;
            json_t *ix;
            bool found = false;
            json_array_foreach(list, j, ix)
            {
                const char *n = json_string_value(json_object_get(ix, "IndexName"));
                if (n && name && strcmp(n, name) == 0) {
                    json_array_remove(list, j);
                    found = true;
                    break;
                }
            }
            if (!found)
                return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found: "
                                                        "Index: %s not found",
                                    name ? name : "");
            if (!json_array_size(list))
                json_object_del(rec, "GlobalSecondaryIndexes");
        } else if (!has_index(rec, name)) {
            return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found: Index: %s "
                                                    "not found",
                                name ? name : "");
        }
    }
    return 0;
}

/* ---- writes of a table's record ---------------------------------------- */

struct twrite {
    char pk[96];
    const char *name;
    json_t *rec;  /* the new record (NULL: delete) */
    bool create;
    json_t *old;  /* delete: the record deleted */
    /* Not create: the record the change was made from (another one
     * stored means a concurrent change: ResourceInUseException). */
    char base_id[40];
    int64_t base_v;
};

static int twrite_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct twrite *w = arg;
    struct sl_item it;
    int rc = sl_txn_get(t, DDB_NS_TABLE, w->pk, w->name, &it);
    if (w->create) {
        if (!rc) {
            sl_item_free(&it);
            return SL_EEXIST;
        }
        if (rc != SL_ENOTFOUND)
            return rc;
    } else {
        if (rc)
            return rc;
        sl_item_free(&it);
    }
    struct ddb_table was = {0};
    if (!w->create && (rc = ddb_table_read_txn(t, w->pk, w->name, &was)) != 0)
        return rc;
    if (!w->create && (strcmp(was.id, w->base_id) != 0 || was.version != w->base_v)) {
        ddb_table_clear(&was);
        return SL_EBUSY;
    }
    rc = ddb_streams_sync(t, w->pk, was.rec, w->rec);
    if (!rc && !w->rec) {
        rc = sl_txn_delete_ns(t, was.items_ns, NULL);
        for (size_t i = 0; !rc && i < was.nix; i++)
            rc = ddb_index_drop(t, &was.ix[i]);
        if (!rc)
            w->old = json_incref(was.rec);
        ddb_table_clear(&was);
        if (!rc)
            rc = sl_txn_delete(t, DDB_NS_TABLE_V, w->pk, w->name);
        if (rc == SL_ENOTFOUND)
            rc = 0;
        return rc ? rc : sl_txn_delete(t, DDB_NS_TABLE, w->pk, w->name);
    }
    if (!rc)
        rc = ddb_indexes_sync(t, &was, w->rec);
    int64_t version = was.version;
    ddb_table_clear(&was);
    return rc ? rc : ddb_table_put_txn(t, w->pk, w->rec, version);
}

static void twrite_free(struct sl_call *c)
{
    struct twrite *w = c->state;
    if (!w)
        return;
    json_decref(w->rec);
    json_decref(w->old);
}

/* The answer of a table write: its description in status. */
static int twritten(struct sl_call *c, const char *status)
{
    struct twrite *w = c->write_arg;
    ddb_tables_changed(c->app);
    if (c->write_rc == SL_EEXIST)
        return sl_call_fail(c, DDB_E_IN_USE, "Table already exists: %s", w->name);
    if (c->write_rc == SL_EBUSY)
        return sl_call_fail(c, DDB_E_IN_USE, "Attempt to change a resource which is still in "
                                             "use: Table is being updated: %s",
                            w->name);
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found: Table: %s not "
                                                "found",
                            w->name);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    json_t *rec = w->rec ? w->rec : w->old;
    struct ddb_table t;
    if (!rec || ddb_table_parse(json_incref(rec), &t))
        return sl_call_internal(c, SL_ECORRUPT, NULL);
    json_t *d = description(&t, status);
    ddb_table_clear(&t);
    return sl_call_ok(c, json_pack("{s:o}", "TableDescription", d));
}

static int created(struct sl_call *c)
{
    return twritten(c, "CREATING");
}

static int updated(struct sl_call *c)
{
    return twritten(c, "UPDATING");
}

static int deleted(struct sl_call *c)
{
    return twritten(c, "DELETING");
}

static struct twrite *twrite_new(struct sl_call *c, const char *name)
{
    struct twrite *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return NULL;
    ddb_pk(w->pk, sizeof(w->pk), c->account, c->region);
    w->name = name;
    c->state = w;
    c->state_free = twrite_free;
    return w;
}

SL_OP(dynamodb, CreateTable)
{
    json_t *in = c->in;
    const char *name = json_string_value(json_object_get(in, "TableName"));
    json_t *schema = json_object_get(in, "KeySchema");
    json_t *defs = json_object_get(in, "AttributeDefinitions");
    int rc = check_schema(c, schema, defs, "keySchema");
    if (rc)
        return rc;
    /* Every definition must be a key of the table or of an index. */
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d)
    {
        const char *dn = json_string_value(json_object_get(d, "AttributeName"));
        bool used = dn && names(schema, dn);
        const char *lists[] = {"GlobalSecondaryIndexes", "LocalSecondaryIndexes"};
        for (size_t l = 0; l < 2 && !used; l++) {
            size_t j;
            json_t *ix;
            json_array_foreach(json_object_get(in, lists[l]), j, ix)
                used |= names(json_object_get(ix, "KeySchema"), dn);
        }
        if (!used)
            return invalid(c, "One or more parameter values were invalid: Number of attributes "
                              "in KeySchema does not exactly match number of attributes defined "
                              "in AttributeDefinitions");
    }
    const char *lists[] = {"GlobalSecondaryIndexes", "LocalSecondaryIndexes"};
    for (size_t l = 0; l < 2; l++) {
        size_t j;
        json_t *ix;
        json_array_foreach(json_object_get(in, lists[l]), j, ix)
            if ((rc = check_schema(c, json_object_get(ix, "KeySchema"), defs, "indexKeySchema")))
                return rc;
    }
    struct twrite *w = twrite_new(c, name);
    if (!w)
        return SL_ENOMEM;
    char id[40], arn[512];
    sl_uuid(id);
    snprintf(arn, sizeof(arn), "arn:aws:dynamodb:%s:%s:table/%s", c->region, c->account, name);
    json_t *rec = json_pack("{s:s, s:s, s:O, s:O, s:f, s:s, s:b, s:s, s:s}", "id", id,
                            "TableName", name, "KeySchema", schema, "AttributeDefinitions", defs,
                            "CreationDateTime", (double)sl_time_now_ms() / 1000.0, "TableArn",
                            arn, "DeletionProtectionEnabled", 0, "_account", c->account,
                            "_region", c->region);
    if (!rec)
        return SL_ENOMEM;
    w->rec = rec;
    w->create = true;
    for (size_t l = 0; l < 2; l++) {
        json_t *ixs = json_object_get(in, lists[l]);
        if (!json_array_size(ixs))
            continue;
        json_t *out = json_array();
        size_t j;
        json_t *ix;
        json_array_foreach(ixs, j, ix) json_array_append_new(out, index_record(ix, arn, l == 0));
        json_object_set_new(rec, lists[l], out);
    }
    if ((rc = billing(c, in, rec)) || (rc = streams(c, in, rec, false)))
        return rc;
    return sl_call_write(c, twrite_txn, w, created);
}

SL_OP(dynamodb, DescribeTable)
{
    struct ddb_table t;
    const char *name = json_string_value(json_object_get(c->in, "TableName"));
    char pk[96];
    ddb_pk(pk, sizeof(pk), c->account, c->region);
    int rc = ddb_table_get(c->app, pk, name ? name : "", &t);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found: Table: %s not "
                                                "found",
                            name ? name : "");
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *d = description(&t, NULL);
    ddb_table_clear(&t);
    return sl_call_ok(c, json_pack("{s:o}", "Table", d));
}

SL_OP(dynamodb, ListTables)
{
    char pk[96];
    ddb_pk(pk, sizeof(pk), c->account, c->region);
    json_t *lim = json_object_get(c->in, "Limit");
    size_t max = json_is_integer(lim) ? (size_t)json_integer_value(lim) : 100;
    const char *after = json_string_value(json_object_get(c->in, "ExclusiveStartTableName"));
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, DDB_NS_TABLE, pk, NULL, after, max + 1, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *names_out = json_array();
    for (size_t i = 0; i < n && i < max; i++)
        json_array_append_new(names_out, json_string(items[i].sk));
    json_t *out = json_pack("{s:o}", "TableNames", names_out);
    if (n > max)
        json_object_set_new(out, "LastEvaluatedTableName", json_string(items[max - 1].sk));
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

/* The write of an existing table's record: NULL when the call has its
 * answer (*rc). t is the table, read (the caller clears it). */
static struct twrite *twrite_of(struct sl_call *c, struct ddb_table *t, int *rc)
{
    if (ddb_call_table(c, t)) {
        *rc = SL_DONE;
        return NULL;
    }
    struct twrite *w = twrite_new(c, NULL);
    if (w) {
        w->name = sl_arena_strdup(&c->http->arena, t->name);
        sl_strlcpy(w->base_id, t->id, sizeof(w->base_id));
        w->base_v = t->version;
    }
    if (!w || !w->name) {
        ddb_table_clear(t);
        *rc = SL_ENOMEM;
        return NULL;
    }
    return w;
}

SL_OP(dynamodb, UpdateTable)
{
    struct ddb_table t;
    int rc = 0;
    struct twrite *w = twrite_of(c, &t, &rc);
    if (!w)
        return rc;
    w->rec = json_deep_copy(t.rec);
    ddb_table_clear(&t);
    if (json_object_get(c->in, "BillingMode") || json_object_get(c->in, "ProvisionedThroughput"))
        rc = billing(c, c->in, w->rec);
    if (!rc && json_object_get(c->in, "StreamSpecification"))
        rc = streams(c, c->in, w->rec, true);
    if (!rc && json_object_get(c->in, "GlobalSecondaryIndexUpdates"))
        rc = index_updates(c, w->rec);
    return rc ? rc : sl_call_write(c, twrite_txn, w, updated);
}

SL_OP(dynamodb, DeleteTable)
{
    struct ddb_table t;
    int rc = 0;
    struct twrite *w = twrite_of(c, &t, &rc);
    if (!w)
        return rc;
    ddb_table_clear(&t);
    return sl_call_write(c, twrite_txn, w, deleted);
}
