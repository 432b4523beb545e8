/*
 * Partitions of the Glue Data Catalog: one per list of values of its
 * table's partition keys (kv glue.part, sk the values joined by U+001F).
 * Creating one checks its table and the number of its values; GetPartitions
 * filters by an expression over the keys (expr.c).
 */
#include "services/glue/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEP '\x1f'

int glue_values_key(const json_t *values, char *out, size_t n)
{
    size_t at = 0, i;
    json_t *v;
    if (!json_is_array(values) || !json_array_size(values))
        return SL_EINVAL;
    json_array_foreach(values, i, v)
    {
        const char *s = json_string_value(v);
        size_t len = s ? strlen(s) : 0;
        if (!s || memchr(s, SEP, len) || at + len + 2 > n)
            return SL_EINVAL;
        if (i)
            out[at++] = SEP;
        memcpy(out + at, s, len);
        at += len;
    }
    out[at] = '\0';
    return 0;
}

struct ptable {
    char db[GLUE_NAME_MAX + 1], table[GLUE_NAME_MAX + 1];
    char db_pk[256], table_pk[600], pk[1024];
};

static int ptable_names(struct sl_call *c, struct ptable *p)
{
    int rc = glue_name(c, "DatabaseName",
                       json_string_value(json_object_get(c->in, "DatabaseName")), p->db,
                       sizeof(p->db));
    if (!rc)
        rc = glue_name(c, "TableName", json_string_value(json_object_get(c->in, "TableName")),
                       p->table, sizeof(p->table));
    glue_pk(c, NULL, NULL, p->db_pk, sizeof(p->db_pk));
    glue_pk(c, p->db, NULL, p->table_pk, sizeof(p->table_pk));
    glue_pk(c, p->db, p->table, p->pk, sizeof(p->pk));
    return rc;
}

/* The table (a new object): 0, or the call has EntityNotFoundException. */
static int read_table(struct sl_call *c, const struct ptable *p, json_t **table)
{
    json_t *db = NULL;
    int rc = glue_read(c->app->store, GLUE_NS_DB, p->db_pk, p->db, &db);
    json_decref(db);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Database %.255s not found.", p->db);
    if (!rc)
        rc = glue_read(c->app->store, GLUE_NS_TABLE, p->table_pk, p->table, table);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Table %.255s not found.", p->table);
    return rc ? sl_call_internal(c, rc, NULL) : 0;
}

/* A partition's record from its input. */
static json_t *partition_record(struct sl_call *c, const struct ptable *p, const json_t *in)
{
    json_t *rec = json_is_object(in) ? json_deep_copy(in) : json_object();
    json_object_set_new(rec, "DatabaseName", json_string(p->db));
    json_object_set_new(rec, "TableName", json_string(p->table));
    json_object_set_new(rec, "CreationTime", glue_time(sl_time_now_ms()));
    json_object_set_new(rec, "CatalogId", json_string(c->account));
    return rec;
}

/* ---- several at once ---------------------------------------------------------------------- */

struct batch {
    struct ptable p;
    bool create;
    json_t *inputs; /* PartitionInputList, or PartitionsToDelete */
    json_t *records; /* create: each one's record, or null for a bad one */
    json_t *errors;
    json_t *own; /* what the call made of its input (a single operation's batch of one) */
    size_t nkeys;
    bool no_table;
};

static void add_error(json_t *errors, const json_t *values, const char *code, const char *msg)
{
    json_array_append_new(errors, json_pack("{s:o, s:{s:s, s:s}}", "PartitionValues",
                                            values ? json_incref((json_t *)values) : json_array(),
                                            "ErrorDetail",
                                            "ErrorCode", code, "ErrorMessage", msg));
}

static int batch_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct batch *b = arg;
    if (sl_txn_exists(t, GLUE_NS_TABLE, b->p.table_pk, b->p.table) == SL_ENOTFOUND) {
        b->no_table = true;
        return 0;
    }
    size_t i;
    json_t *in;
    json_array_foreach(b->inputs, i, in)
    {
        const json_t *values = json_object_get(in, "Values");
        char key[8192];
        if (glue_values_key(values, key, sizeof(key))) {
            add_error(b->errors, values, "InvalidInputException",
                      "Partition values must be strings, without U+001F, 8 KiB at most "
                      "together");
            continue;
        }
        if (b->create && json_array_size(values) != b->nkeys) {
            add_error(b->errors, values, "InvalidInputException",
                      "The number of partition keys do not match the number of partition "
                      "values");
            continue;
        }
        int rc;
        if (b->create) {
            rc = sl_txn_exists(t, GLUE_NS_PART, b->p.pk, key);
            if (rc == 0) {
                add_error(b->errors, values, "AlreadyExistsException",
                          "Partition already exists.");
                continue;
            }
            if (rc != SL_ENOTFOUND)
                return rc;
            rc = glue_txn_put(t, GLUE_NS_PART, b->p.pk, key, json_array_get(b->records, i));
        } else {
            rc = sl_txn_delete(t, GLUE_NS_PART, b->p.pk, key);
            if (rc == SL_ENOTFOUND) {
                add_error(b->errors, values, "EntityNotFoundException", "Partition not found.");
                continue;
            }
        }
        if (rc)
            return rc;
    }
    return 0;
}

static void batch_free(struct sl_call *c)
{
    struct batch *b = c->state;
    if (b) {
        json_decref(b->records);
        json_decref(b->errors);
        json_decref(b->own);
    }
}

static int batch_done(struct sl_call *c)
{
    struct batch *b = c->state;
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (b->no_table)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Table %.255s not found.", b->p.table);
    return sl_call_ok(c, json_pack("{s:O}", "Errors", b->errors));
}

/* Creates or deletes the partitions of inputs ({"Values": [...]} each;
 * own: a reference the call keeps to its end, may be NULL); then answers. */
static int batch(struct sl_call *c, bool create, json_t *inputs, json_t *own, sl_op_fn then)
{
    struct batch *b = sl_call_alloc(c, sizeof(*b));
    if (!b) {
        json_decref(own);
        return SL_ENOMEM;
    }
    b->own = own;
    c->state = b;
    c->state_free = batch_free;
    int rc = ptable_names(c, &b->p);
    if (rc)
        return rc;
    json_t *table = NULL;
    if ((rc = read_table(c, &b->p, &table)))
        return rc;
    b->nkeys = json_array_size(json_object_get(table, "PartitionKeys"));
    json_decref(table);
    b->create = create;
    b->inputs = inputs;
    b->errors = json_array();
    b->records = json_array();
    size_t i;
    json_t *in;
    json_array_foreach(inputs, i, in)
        json_array_append_new(b->records, create ? partition_record(c, &b->p, in) : json_null());
    return sl_call_write(c, batch_txn, b, then);
}

SL_OP(glue, BatchCreatePartition)
{
    return batch(c, true, json_object_get(c->in, "PartitionInputList"), NULL, batch_done);
}

SL_OP(glue, BatchDeletePartition)
{
    return batch(c, false, json_object_get(c->in, "PartitionsToDelete"), NULL, batch_done);
}

/* ---- one at a time ------------------------------------------------------------------------ */

static int one_done(struct sl_call *c)
{
    struct batch *b = c->state;
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (b->no_table)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Table %.255s not found.", b->p.table);
    if (json_array_size(b->errors)) {
        const json_t *d = json_object_get(json_array_get(b->errors, 0), "ErrorDetail");
        const char *code = json_string_value(json_object_get(d, "ErrorCode"));
        int id = strcmp(code, "AlreadyExistsException") == 0    ? GLUE_E_EXISTS
                 : strcmp(code, "EntityNotFoundException") == 0 ? GLUE_E_NOT_FOUND
                                                                : GLUE_E_INVALID;
        return sl_call_fail(c, id, "%s",
                            json_string_value(json_object_get(d, "ErrorMessage")));
    }
    return sl_call_ok(c, json_object());
}

/* A batch of one (input taken), answered as the single operation answers. */
static int one(struct sl_call *c, bool create, json_t *input)
{
    json_t *inputs = input ? json_pack("[o]", input) : NULL;
    if (!inputs)
        return SL_ENOMEM;
    return batch(c, create, inputs, inputs, one_done);
}

SL_OP(glue, CreatePartition)
{
    return one(c, true, json_incref(json_object_get(c->in, "PartitionInput")));
}

SL_OP(glue, DeletePartition)
{
    return one(c, false,
               json_pack("{s:O}", "Values", json_object_get(c->in, "PartitionValues")));
}

SL_OP(glue, GetPartition)
{
    struct ptable p;
    int rc = ptable_names(c, &p);
    if (rc)
        return rc;
    json_t *table = NULL;
    if ((rc = read_table(c, &p, &table)))
        return rc;
    json_decref(table);
    char key[8192];
    if (glue_values_key(json_object_get(c->in, "PartitionValues"), key, sizeof(key)))
        return sl_call_fail(c, GLUE_E_INVALID, "Invalid PartitionValues");
    json_t *rec = NULL;
    rc = glue_read(c->app->store, GLUE_NS_PART, p.pk, key, &rec);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Partition not found.");
    if (rc)
        return sl_call_internal(c, rc, NULL);
    return sl_call_ok(c, json_pack("{s:o}", "Partition", rec));
}

static bool partition_matches(void *arg, json_t *rec)
{
    const struct glue_expr *e = arg;
    if (!e)
        return true;
    const char *values[64] = {0};
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rec, "Values"), i, v)
    {
        if (i < 64)
            values[i] = json_string_value(v);
    }
    return glue_expr_eval(e, values);
}

SL_OP(glue, GetPartitions)
{
    struct ptable p;
    int rc = ptable_names(c, &p);
    if (rc)
        return rc;
    json_t *table = NULL;
    if ((rc = read_table(c, &p, &table)))
        return rc;
    const char *text = json_string_value(json_object_get(c->in, "Expression"));
    struct glue_expr *e = NULL;
    if (text && *text) {
        const json_t *keys = json_object_get(table, "PartitionKeys");
        size_t n = json_array_size(keys);
        const char *names[64];
        bool numeric[64];
        if (n > 64) {
            json_decref(table);
            return sl_call_fail(c, GLUE_E_INVALID, "A table has at most 64 partition keys here");
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *k = json_array_get(keys, i);
            const char *type = json_string_value(json_object_get(k, "Type"));
            names[i] = json_string_value(json_object_get(k, "Name"));
            if (!names[i])
                names[i] = "";
            static const char *const numbers[] = {"int",   "integer", "bigint", "smallint",
                                                  "tinyint", "long",  "double", "float"};
            numeric[i] = type && strncasecmp(type, "decimal", 7) == 0;
            for (size_t t = 0; type && t < sizeof(numbers) / sizeof(numbers[0]); t++)
                numeric[i] = numeric[i] || strcasecmp(type, numbers[t]) == 0;
        }
        struct sl_err err = {0};
        if (glue_expr_compile(text, names, numeric, n, &e, &err)) {
            json_decref(table);
            return sl_call_fail(c, GLUE_E_INVALID, "%s", err.msg);
        }
    }
    json_decref(table);
    json_t *list = json_array(), *out = json_object();
    rc = glue_page(c, GLUE_NS_PART, p.pk, partition_matches, e, list, out);
    glue_expr_free(e);
    if (rc) {
        json_decref(list);
        json_decref(out);
        return rc;
    }
    json_object_set_new(out, "Partitions", list);
    return sl_call_ok(c, out);
}
