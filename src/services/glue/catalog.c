/*
 * Databases and tables of the Glue Data Catalog, and the writes every
 * part of the catalog shares (one transaction that checks the parent and
 * the item, then puts or deletes).
 */
#include "services/glue/internal.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIST_DEFAULT 100
#define LIST_MAX 1000

static const struct sl_aws_error errors[] = {GLUE_ERRORS(SL_ERROR_ROW)};

int glue_name(struct sl_call *c, const char *field, const char *value, char *out, size_t n)
{
    size_t len = value ? strlen(value) : 0;
    if (!len || len > GLUE_NAME_MAX || len >= n || strchr(value, '/'))
        return sl_call_fail(c, GLUE_E_INVALID, "%s is not a valid name: '%.255s'", field,
                            value ? value : "");
    for (size_t i = 0; i <= len; i++)
        out[i] = (char)tolower((unsigned char)value[i]);
    return 0;
}

void glue_pk(const struct sl_call *c, const char *db, const char *table, char *out, size_t n)
{
    if (table)
        snprintf(out, n, "%.15s/%.63s/%.255s/%.255s", c->account, c->region, db, table);
    else if (db)
        snprintf(out, n, "%.15s/%.63s/%.255s", c->account, c->region, db);
    else
        snprintf(out, n, "%.15s/%.63s", c->account, c->region);
}

int glue_read(struct sl_store *s, const char *ns, const char *pk, const char *sk, json_t **out)
{
    struct sl_item it;
    int rc = sl_kv_get(s, ns, pk, sk, &it);
    if (rc)
        return rc;
    *out = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *out ? 0 : SL_ECORRUPT;
}

int glue_txn_get(struct sl_txn *t, const char *ns, const char *pk, const char *sk, json_t **out)
{
    struct sl_item it;
    *out = NULL;
    int rc = sl_txn_get(t, ns, pk, sk, &it);
    if (rc)
        return rc;
    *out = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *out ? 0 : SL_ECORRUPT;
}

int glue_txn_put(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                 const json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    int rc = text ? sl_txn_put(t, ns, pk, sk, text, strlen(text), NULL) : SL_ENOMEM;
    free(text);
    return rc;
}

json_t *glue_time(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

size_t glue_page_limit(const struct sl_call *c)
{
    json_t *max = json_object_get(c->in, "MaxResults");
    size_t limit = max && json_integer_value(max) > 0 ? (size_t)json_integer_value(max)
                                                      : LIST_DEFAULT;
    return limit > LIST_MAX ? LIST_MAX : limit;
}

/* ---- writes ------------------------------------------------------------------------------ */

int glue_write_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct glue_write *w = arg;
    if (w->parent_ns && (w->rc = sl_txn_exists(t, w->parent_ns, w->parent_pk, w->parent_sk)))
        return w->rc == SL_ENOTFOUND ? (w->missing_parent = true, 0) : w->rc;
    json_t *old = NULL;
    int rc = glue_txn_get(t, w->ns, w->pk, w->sk, &old);
    if (rc && rc != SL_ENOTFOUND)
        return rc;
    bool exists = rc == 0;
    if (w->mode == GLUE_CREATE && exists) {
        json_decref(old);
        w->exists = true;
        return 0;
    }
    if (w->mode != GLUE_CREATE && !exists) {
        w->missing = true;
        return 0;
    }
    if (w->mode == GLUE_DELETE) {
        json_decref(old);
        rc = sl_txn_delete(t, w->ns, w->pk, w->sk);
        for (size_t i = 0; !rc && i < w->nchildren; i++)
            rc = w->children[i](t, w);
        return rc;
    }
    if (w->mode == GLUE_UPDATE && old) {
        /* What the catalog keeps of the old record. */
        static const char *const keep[] = {"CreateTime", "CreationTime", "CatalogId",
                                           "DatabaseName", "TableName", "Name", "Values",
                                           "CreatedBy", "IsRegisteredWithLakeFormation"};
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
            if (json_object_get(old, keep[i]))
                json_object_set(w->rec, keep[i], json_object_get(old, keep[i]));
        const char *version = json_string_value(json_object_get(old, "VersionId"));
        if (version) {
            char next[24];
            snprintf(next, sizeof(next), "%lld", atoll(version) + 1);
            json_object_set_new(w->rec, "VersionId", json_string(next));
        }
    }
    json_decref(old);
    return glue_txn_put(t, w->ns, w->pk, w->sk, w->rec);
}

static void write_free(struct sl_call *c)
{
    struct glue_write *w = c->state;
    if (w)
        json_decref(w->rec);
}

struct glue_write *glue_write_new(struct sl_call *c)
{
    struct glue_write *w = sl_call_alloc(c, sizeof(*w));
    if (w) {
        c->state = w;
        c->state_free = write_free;
    }
    return w;
}

/* The answer of a write: {} or its error. */
static int written(struct sl_call *c)
{
    struct glue_write *w = c->state;
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (w->missing_parent)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "%s", w->parent_missing_msg);
    if (w->exists)
        return sl_call_fail(c, GLUE_E_EXISTS, "%s", w->exists_msg);
    if (w->missing)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "%s", w->missing_msg);
    return sl_call_ok(c, json_object());
}

int glue_write(struct sl_call *c, struct glue_write *w)
{
    return sl_call_write(c, glue_write_txn, w, written);
}

/* Members of an input that the record keeps (a copy of in without the
 * members the catalog sets itself). */
static json_t *record_of(const json_t *in)
{
    return json_is_object(in) ? json_deep_copy(in) : json_object();
}

/* ---- databases ------------------------------------------------------------------------ */

static int db_children(struct sl_txn *t, struct glue_write *w)
{
    /* The database's tables and their partitions go with it. */
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_txn_list(t, GLUE_NS_TABLE, w->child_pk, NULL, SIZE_MAX, &items, &n);
    for (size_t i = 0; i < n; i++) {
        char pk[1400];
        snprintf(pk, sizeof(pk), "%s/%.255s", w->child_pk, items[i].sk);
        if (!rc)
            rc = sl_txn_delete_pk(t, GLUE_NS_PART, pk, NULL);
        sl_item_free(&items[i]);
    }
    free(items);
    return rc ? rc : sl_txn_delete_pk(t, GLUE_NS_TABLE, w->child_pk, NULL);
}

static int table_children(struct sl_txn *t, struct glue_write *w)
{
    return sl_txn_delete_pk(t, GLUE_NS_PART, w->child_pk, NULL);
}

SL_OP(glue, CreateDatabase)
{
    struct glue_write *w = glue_write_new(c);
    if (!w)
        return SL_ENOMEM;
    const json_t *in = json_object_get(c->in, "DatabaseInput");
    int rc = glue_name(c, "DatabaseInput.Name", json_string_value(json_object_get(in, "Name")),
                       w->sk, sizeof(w->sk));
    if (rc)
        return rc;
    glue_pk(c, NULL, NULL, w->pk, sizeof(w->pk));
    w->ns = GLUE_NS_DB;
    w->mode = GLUE_CREATE;
    w->rec = record_of(in);
    json_object_set_new(w->rec, "Name", json_string(w->sk));
    json_object_set_new(w->rec, "CreateTime", glue_time(sl_time_now_ms()));
    json_object_set_new(w->rec, "CatalogId", json_string(c->account));
    snprintf(w->exists_msg, sizeof(w->exists_msg), "Database already exists.");
    return glue_write(c, w);
}

/* UpdateDatabase and DeleteDatabase (with what is under it). */
static int db_write(struct sl_call *c, enum glue_mode mode)
{
    struct glue_write *w = glue_write_new(c);
    if (!w)
        return SL_ENOMEM;
    int rc = glue_name(c, "Name", json_string_value(json_object_get(c->in, "Name")), w->sk,
                       sizeof(w->sk));
    if (rc)
        return rc;
    glue_pk(c, NULL, NULL, w->pk, sizeof(w->pk));
    w->ns = GLUE_NS_DB;
    w->mode = mode;
    snprintf(w->missing_msg, sizeof(w->missing_msg), "Database %.255s not found.", w->sk);
    if (mode == GLUE_UPDATE) {
        w->rec = record_of(json_object_get(c->in, "DatabaseInput"));
    } else {
        glue_pk(c, w->sk, NULL, w->child_pk, sizeof(w->child_pk));
        w->children[w->nchildren++] = db_children;
    }
    return glue_write(c, w);
}

SL_OP(glue, UpdateDatabase)
{
    return db_write(c, GLUE_UPDATE);
}

SL_OP(glue, DeleteDatabase)
{
    return db_write(c, GLUE_DELETE);
}

SL_OP(glue, GetDatabase)
{
    char name[GLUE_NAME_MAX + 1], pk[256];
    int rc = glue_name(c, "Name", json_string_value(json_object_get(c->in, "Name")), name,
                       sizeof(name));
    if (rc)
        return rc;
    glue_pk(c, NULL, NULL, pk, sizeof(pk));
    json_t *rec = NULL;
    rc = glue_read(c->app->store, GLUE_NS_DB, pk, name, &rec);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Database %.255s not found.", name);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    return sl_call_ok(c, json_pack("{s:o}", "Database", rec));
}

/* A page of the items of (ns, pk) after the call's NextToken, each kept
 * when keep (may be NULL) says so: into list, with the next token. */
int glue_page(struct sl_call *c, const char *ns, const char *pk,
              bool (*keep)(void *arg, json_t *rec), void *arg, json_t *list, json_t *out)
{
    size_t limit = glue_page_limit(c);
    const char *token = json_string_value(json_object_get(c->in, "NextToken"));
    char after[1100] = "";
    if (token) {
        size_t n = 0;
        if (sl_base64_decode(token, strlen(token), (uint8_t *)after, sizeof(after) - 1, &n))
            return sl_call_fail(c, GLUE_E_INVALID, "Invalid NextToken: '%.200s'", token);
        after[n] = '\0';
    }
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, ns, pk, NULL, token ? after : NULL, SIZE_MAX, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    size_t taken = 0, i = 0;
    const char *last = NULL;
    for (; i < n && taken < limit; i++) {
        json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        if (rec && (!keep || keep(arg, rec))) {
            json_array_append(list, rec);
            taken++;
        }
        json_decref(rec);
        last = items[i].sk;
    }
    if (i < n && last) {
        struct sl_buf b;
        sl_buf_init(&b, 0);
        sl_base64_encode(&b, (const uint8_t *)last, strlen(last));
        json_object_set_new(out, "NextToken", json_string(b.data ? b.data : ""));
        sl_buf_free(&b);
    }
    for (size_t k = 0; k < n; k++)
        sl_item_free(&items[k]);
    free(items);
    return 0;
}

SL_OP(glue, GetDatabases)
{
    char pk[256];
    glue_pk(c, NULL, NULL, pk, sizeof(pk));
    json_t *list = json_array(), *out = json_object();
    int rc = glue_page(c, GLUE_NS_DB, pk, NULL, NULL, list, out);
    if (rc) {
        json_decref(list);
        json_decref(out);
        return rc;
    }
    json_object_set_new(out, "DatabaseList", list);
    return sl_call_ok(c, out);
}

/* ---- tables ------------------------------------------------------------------------------ */

/* The call's database and table names (DatabaseName, and the table's from
 * field of in): 0, or answered. */
static int table_names(struct sl_call *c, const json_t *tin, const char *field, char *db,
                       char *table)
{
    int rc = glue_name(c, "DatabaseName",
                       json_string_value(json_object_get(c->in, "DatabaseName")), db,
                       GLUE_NAME_MAX + 1);
    if (!rc)
        rc = glue_name(c, field, json_string_value(json_object_get(tin, "Name")), table,
                       GLUE_NAME_MAX + 1);
    return rc;
}

static int table_write(struct sl_call *c, enum glue_mode mode)
{
    struct glue_write *w = glue_write_new(c);
    if (!w)
        return SL_ENOMEM;
    char db[GLUE_NAME_MAX + 1];
    const json_t *tin = mode == GLUE_DELETE ? c->in : json_object_get(c->in, "TableInput");
    int rc = table_names(c, tin, mode == GLUE_DELETE ? "Name" : "TableInput.Name", db, w->sk);
    if (rc)
        return rc;
    glue_pk(c, db, NULL, w->pk, sizeof(w->pk));
    glue_pk(c, NULL, NULL, w->parent_pk, sizeof(w->parent_pk));
    snprintf(w->parent_sk, sizeof(w->parent_sk), "%s", db);
    w->parent_ns = GLUE_NS_DB;
    snprintf(w->parent_missing_msg, sizeof(w->parent_missing_msg), "Database %.255s not found.", db);
    w->ns = GLUE_NS_TABLE;
    w->mode = mode;
    snprintf(w->exists_msg, sizeof(w->exists_msg), "Table already exists.");
    snprintf(w->missing_msg, sizeof(w->missing_msg), "Table %.255s not found.", w->sk);
    if (mode == GLUE_DELETE) {
        glue_pk(c, db, w->sk, w->child_pk, sizeof(w->child_pk));
        w->children[w->nchildren++] = table_children;
        return glue_write(c, w);
    }
    int64_t now = sl_time_now_ms();
    w->rec = record_of(tin);
    json_object_set_new(w->rec, "Name", json_string(w->sk));
    json_object_set_new(w->rec, "DatabaseName", json_string(db));
    json_object_set_new(w->rec, "UpdateTime", glue_time(now));
    if (mode == GLUE_CREATE) {
        json_object_set_new(w->rec, "CreateTime", glue_time(now));
        json_object_set_new(w->rec, "CatalogId", json_string(c->account));
        json_object_set_new(w->rec, "VersionId", json_string("0"));
        json_object_set_new(w->rec, "IsRegisteredWithLakeFormation", json_false());
        json_object_set_new(w->rec, "CreatedBy",
                            json_string(c->caller_arn[0] ? c->caller_arn : c->account));
    }
    return glue_write(c, w);
}

SL_OP(glue, CreateTable)
{
    return table_write(c, GLUE_CREATE);
}

SL_OP(glue, UpdateTable)
{
    return table_write(c, GLUE_UPDATE);
}

SL_OP(glue, DeleteTable)
{
    return table_write(c, GLUE_DELETE);
}

SL_OP(glue, GetTable)
{
    char db[GLUE_NAME_MAX + 1], table[GLUE_NAME_MAX + 1], pk[600];
    int rc = table_names(c, c->in, "Name", db, table);
    if (rc)
        return rc;
    json_t *rec = NULL;
    glue_pk(c, NULL, NULL, pk, sizeof(pk));
    if (glue_read(c->app->store, GLUE_NS_DB, pk, db, &rec) == SL_ENOTFOUND)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Database %.255s not found.", db);
    json_decref(rec);
    rec = NULL;
    glue_pk(c, db, NULL, pk, sizeof(pk));
    rc = glue_read(c->app->store, GLUE_NS_TABLE, pk, table, &rec);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Table %.255s not found.", table);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    return sl_call_ok(c, json_pack("{s:o}", "Table", rec));
}

static bool name_matches(void *arg, json_t *rec)
{
    regex_t *re = arg;
    const char *name = json_string_value(json_object_get(rec, "Name"));
    return !re || (name && regexec(re, name, 0, NULL, 0) == 0);
}

SL_OP(glue, GetTables)
{
    char db[GLUE_NAME_MAX + 1], pk[600];
    int rc = glue_name(c, "DatabaseName",
                       json_string_value(json_object_get(c->in, "DatabaseName")), db,
                       sizeof(db));
    if (rc)
        return rc;
    json_t *rec = NULL;
    glue_pk(c, NULL, NULL, pk, sizeof(pk));
    if (glue_read(c->app->store, GLUE_NS_DB, pk, db, &rec) == SL_ENOTFOUND)
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Database %.255s not found.", db);
    json_decref(rec);
    const char *expr = json_string_value(json_object_get(c->in, "Expression"));
    regex_t re;
    if (expr) {
        /* A pattern of the whole name, as Glue takes it ('*' alone: all). */
        char anchored[600];
        snprintf(anchored, sizeof(anchored), "^(%s)$",
                 strcmp(expr, "*") == 0 ? ".*" : expr);
        /* (No back-references: their matching can take exponential time.) */
        bool backref = false;
        for (const char *q = expr; *q && !backref; q++)
            backref = *q == '\\' && isdigit((unsigned char)q[1]);
        if (strlen(expr) > 512 || backref ||
            regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB | REG_ICASE))
            return sl_call_fail(c, GLUE_E_INVALID, "Invalid Expression: '%.200s'", expr);
    }
    glue_pk(c, db, NULL, pk, sizeof(pk));
    json_t *list = json_array(), *out = json_object();
    rc = glue_page(c, GLUE_NS_TABLE, pk, name_matches, expr ? &re : NULL, list, out);
    if (expr)
        regfree(&re);
    if (rc) {
        json_decref(list);
        json_decref(out);
        return rc;
    }
    json_object_set_new(out, "TableList", list);
    return sl_call_ok(c, out);
}

struct batch_tables {
    char pk[600];
    const json_t *names;
    json_t *errors;
    char db_pk[256], db[GLUE_NAME_MAX + 1];
    bool no_db;
};

static int batch_delete_tables_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct batch_tables *b = arg;
    if (sl_txn_exists(t, GLUE_NS_DB, b->db_pk, b->db) == SL_ENOTFOUND) {
        b->no_db = true;
        return 0;
    }
    size_t i;
    json_t *v;
    json_array_foreach(b->names, i, v)
    {
        char name[GLUE_NAME_MAX + 1];
        const char *given = json_string_value(v);
        size_t len = given ? strlen(given) : 0;
        for (size_t k = 0; k <= len && k < sizeof(name) - 1; k++)
            name[k] = (char)tolower((unsigned char)given[k]);
        name[len < sizeof(name) - 1 ? len : sizeof(name) - 1] = '\0';
        int rc = sl_txn_delete(t, GLUE_NS_TABLE, b->pk, name);
        if (rc == SL_ENOTFOUND) {
            json_array_append_new(b->errors,
                                  json_pack("{s:s, s:{s:s, s:s}}", "TableName", given ? given : "",
                                            "ErrorDetail", "ErrorCode",
                                            "EntityNotFoundException", "ErrorMessage",
                                            "Table not found."));
            continue;
        }
        if (rc)
            return rc;
        char ppk[1400];
        snprintf(ppk, sizeof(ppk), "%s/%.255s", b->pk, name);
        if ((rc = sl_txn_delete_pk(t, GLUE_NS_PART, ppk, NULL)))
            return rc;
    }
    return 0;
}

static int batch_tables_done(struct sl_call *c)
{
    struct batch_tables *b = c->write_arg;
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (b->no_db) {
        json_decref(b->errors);
        return sl_call_fail(c, GLUE_E_NOT_FOUND, "Database %.255s not found.", b->db);
    }
    return sl_call_ok(c, json_pack("{s:o}", "Errors", b->errors));
}

SL_OP(glue, BatchDeleteTable)
{
    struct batch_tables *b = sl_call_alloc(c, sizeof(*b));
    if (!b)
        return SL_ENOMEM;
    int rc = glue_name(c, "DatabaseName",
                       json_string_value(json_object_get(c->in, "DatabaseName")), b->db,
                       sizeof(b->db));
    if (rc)
        return rc;
    glue_pk(c, b->db, NULL, b->pk, sizeof(b->pk));
    glue_pk(c, NULL, NULL, b->db_pk, sizeof(b->db_pk));
    b->names = json_object_get(c->in, "TablesToDelete");
    b->errors = json_array();
    return sl_call_write(c, batch_delete_tables_txn, b, batch_tables_done);
}

/* SearchTables: the text in a table's name, description or parameters
 * (any case), across the account's databases. */
static bool contains(const char *hay, const char *needle)
{
    if (!hay)
        return false;
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

static bool search_matches(void *arg, json_t *rec)
{
    const char *text = arg;
    if (!text || !*text)
        return true;
    if (contains(json_string_value(json_object_get(rec, "Name")), text) ||
        contains(json_string_value(json_object_get(rec, "Description")), text))
        return true;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(rec, "Parameters"), k, v)
    {
        if (contains(k, text) || contains(json_string_value(v), text))
            return true;
    }
    return false;
}

SL_OP(glue, SearchTables)
{
    const char *text = json_string_value(json_object_get(c->in, "SearchText"));
    size_t limit = glue_page_limit(c);
    const char *token = json_string_value(json_object_get(c->in, "NextToken"));
    char *end = NULL;
    long skip = token ? strtol(token, &end, 10) : 0;
    if (token && (!*token || *end || skip < 0))
        return sl_call_fail(c, GLUE_E_INVALID, "Invalid NextToken: '%.200s'", token);
    char pk[256];
    glue_pk(c, NULL, NULL, pk, sizeof(pk));
    struct sl_item *dbs = NULL;
    size_t ndb = 0;
    int rc = sl_kv_list(c->app->store, GLUE_NS_DB, pk, NULL, NULL, SIZE_MAX, &dbs, &ndb);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *list = json_array();
    size_t seen = 0;
    bool more = false;
    for (size_t d = 0; d < ndb && !rc; d++) {
        char tpk[600];
        snprintf(tpk, sizeof(tpk), "%s/%.255s", pk, dbs[d].sk);
        struct sl_item *tables = NULL;
        size_t nt = 0;
        rc = sl_kv_list(c->app->store, GLUE_NS_TABLE, tpk, NULL, NULL, SIZE_MAX, &tables, &nt);
        for (size_t i = 0; i < nt; i++) {
            json_t *rec = json_loadb(tables[i].val, tables[i].val_len, 0, NULL);
            if (rec && search_matches((void *)text, rec)) {
                if (seen >= (size_t)skip && json_array_size(list) < limit)
                    json_array_append(list, rec);
                else if (seen >= (size_t)skip)
                    more = true;
                seen++;
            }
            json_decref(rec);
            sl_item_free(&tables[i]);
        }
        free(tables);
    }
    for (size_t d = 0; d < ndb; d++)
        sl_item_free(&dbs[d]);
    free(dbs);
    if (rc) {
        json_decref(list);
        return sl_call_internal(c, rc, NULL);
    }
    json_t *out = json_pack("{s:o}", "TableList", list);
    if (more) {
        char next[32];
        snprintf(next, sizeof(next), "%zu", (size_t)skip + limit);
        json_object_set_new(out, "NextToken", json_string(next));
    }
    return sl_call_ok(c, out);
}

/* ---- the row ------------------------------------------------------------------------- */

/* The state: crawls under way and crawlers' schedules (the catalog
 * itself is the store's). */
static int glue_new(struct sl_app *app, void **state, struct sl_err *err)
{
    (void)err;
    struct glue_state *gs = calloc(1, sizeof(*gs));
    if (!gs)
        return SL_ENOMEM;
    gs->app = app;
    pthread_mutex_init(&gs->mu, NULL);
    sl_inflight_init(&gs->crawls);
    *state = gs;
    return 0;
}

static int glue_start(void *state, struct sl_err *err)
{
    (void)err;
    return glue_crawlers_start(state);
}

static void glue_stop(void *state)
{
    glue_crawlers_stop(state);
}

static void glue_free(void *state)
{
    struct glue_state *gs = state;
    sl_inflight_destroy(&gs->crawls);
    pthread_mutex_destroy(&gs->mu);
    free(gs);
}

SL_SERVICE_TABLES(glue);

const struct sl_service sl_service_glue = {
    .name = "glue",
    .model = &sl_model_glue,
    .handlers = sl_glue_handlers,
    .errors = errors,
    .e_internal = GLUE_E_INTERNAL,
    .e_validation = GLUE_E_INVALID,
    .e_serialization = GLUE_E_SERIALIZATION,
    .e_too_big = GLUE_E_INVALID,
    .body_cap = 2 * 1024 * 1024,
    .new = glue_new,
    .start = glue_start,
    .stop = glue_stop,
    .free = glue_free,
};
