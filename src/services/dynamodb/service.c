/*
 * DynamoDB's row of the service table, and what its operations share:
 * its errors, table records, items' keys in the store, and attribute
 * values checked and normalized as DynamoDB stores them.
 */
#include "services/dynamodb/internal.h"

#include <pthread.h>
#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct sl_aws_error sl_dynamodb_errors[] = {DDB_ERRORS(SL_ERROR_ROW)};

/* ---- tables ------------------------------------------------------------ */

void ddb_pk(char *out, size_t n, const char *account, const char *region)
{
    snprintf(out, n, "%s/%s", account, region);
}

void ddb_table_clear(struct ddb_table *t)
{
    free(t->ix);
    json_decref(t->rec);
    memset(t, 0, sizeof(*t));
}

/* The key attributes schema names, with their types from defs. */
static void key_attrs(json_t *schema, json_t *defs, struct ddb_key_attr *hash,
                      struct ddb_key_attr *range)
{
    size_t i;
    json_t *k;
    json_array_foreach(schema, i, k)
    {
        const char *name = json_string_value(json_object_get(k, "AttributeName"));
        const char *type = json_string_value(json_object_get(k, "KeyType"));
        struct ddb_key_attr *a = type && strcmp(type, "RANGE") == 0 ? range : hash;
        a->name = name;
        json_t *d;
        size_t j;
        json_array_foreach(defs, j, d)
        {
            const char *dn = json_string_value(json_object_get(d, "AttributeName"));
            if (dn && name && strcmp(dn, name) == 0)
                a->type = ddb_type_by_name(json_string_value(json_object_get(d, "AttributeType")));
        }
    }
}

/* The table's secondary indexes from its record. */
static int parse_indexes(json_t *rec, struct ddb_table *t)
{
    json_t *g = json_object_get(rec, "GlobalSecondaryIndexes");
    json_t *l = json_object_get(rec, "LocalSecondaryIndexes");
    size_t n = json_array_size(g) + json_array_size(l);
    if (!n)
        return 0;
    t->ix = calloc(n, sizeof(*t->ix));
    if (!t->ix)
        return SL_ENOMEM;
    json_t *defs = json_object_get(rec, "AttributeDefinitions");
    for (size_t i = 0; i < n; i++) {
        bool global = i < json_array_size(g);
        json_t *o = global ? json_array_get(g, i) : json_array_get(l, i - json_array_size(g));
        struct ddb_index *ix = &t->ix[t->nix];
        const char *id = json_string_value(json_object_get(o, "_id"));
        ix->name = json_string_value(json_object_get(o, "IndexName"));
        if (!ix->name)
            return SL_ECORRUPT;
        ix->global = global;
        key_attrs(json_object_get(o, "KeySchema"), defs, &ix->hash, &ix->range);
        if (!ix->hash.name || !ix->hash.type)
            return SL_ECORRUPT;
        json_t *p = json_object_get(o, "Projection");
        const char *type = json_string_value(json_object_get(p, "ProjectionType"));
        ix->proj = type && strcmp(type, "KEYS_ONLY") == 0 ? DDB_PROJ_KEYS_ONLY
                   : type && strcmp(type, "INCLUDE") == 0 ? DDB_PROJ_INCLUDE
                                                          : DDB_PROJ_ALL;
        ix->non_key = json_object_get(p, "NonKeyAttributes");
        /* (A record from before indexes had ids: one from the table's.) */
        if (id)
            snprintf(ix->ns, sizeof(ix->ns), "%s%s", DDB_NS_INDEX, id);
        else
            snprintf(ix->ns, sizeof(ix->ns), "%s%s.%08x", DDB_NS_INDEX, t->id,
                     sl_fnv1a(SL_FNV1A_SEED, ix->name));
        t->nix++;
    }
    return 0;
}

int ddb_table_parse(json_t *rec, struct ddb_table *t)
{
    memset(t, 0, sizeof(*t));
    t->rec = rec;
    t->id = json_string_value(json_object_get(rec, "id"));
    t->name = json_string_value(json_object_get(rec, "TableName"));
    const char *account = json_string_value(json_object_get(rec, "_account"));
    const char *region = json_string_value(json_object_get(rec, "_region"));
    json_t *schema = json_object_get(rec, "KeySchema");
    if (!t->id || !t->name || !account || !region || !json_is_array(schema)) {
        ddb_table_clear(t);
        return SL_ECORRUPT;
    }
    snprintf(t->items_ns, sizeof(t->items_ns), "%s%s", DDB_NS_ITEMS, t->id);
    key_attrs(schema, json_object_get(rec, "AttributeDefinitions"), &t->hash, &t->range);
    json_t *spec = json_object_get(rec, "StreamSpecification");
    if (json_is_true(json_object_get(spec, "StreamEnabled"))) {
        /* (A record from before streams had logs has none.) */
        t->stream_log = json_string_value(json_object_get(rec, "_stream_log"));
        if (ddb_view_by_name(json_string_value(json_object_get(spec, "StreamViewType")),
                             &t->view))
            t->stream_log = NULL;
    }
    t->ttl_attr = json_string_value(json_object_get(rec, "_ttl_attr"));
    t->version = json_integer_value(json_object_get(rec, "_v"));
    int rc = parse_indexes(rec, t);
    if (rc || !t->hash.name || !t->hash.type) {
        ddb_table_clear(t);
        return rc ? rc : SL_ECORRUPT;
    }
    return 0;
}

static int from_item(int rc, struct sl_item *it, struct ddb_table *t)
{
    if (rc)
        return rc;
    json_t *rec = json_loadb(it->val, it->val_len, 0, NULL);
    sl_item_free(it);
    return rec ? ddb_table_parse(rec, t) : SL_ECORRUPT;
}

int ddb_table_read(struct sl_store *s, const char *pk, const char *name, struct ddb_table *t)
{
    struct sl_item it;
    return from_item(sl_kv_get(s, DDB_NS_TABLE, pk, name, &it), &it, t);
}

int ddb_table_read_txn(struct sl_txn *tx, const char *pk, const char *name, struct ddb_table *t)
{
    struct sl_item it;
    return from_item(sl_txn_get(tx, DDB_NS_TABLE, pk, name, &it), &it, t);
}

static void version_text(const char *id, int64_t v, char *out, size_t n)
{
    snprintf(out, n, "%s:%lld", id, (long long)v);
}

int ddb_table_put_txn(struct sl_txn *tx, const char *pk, json_t *rec, int64_t was)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *name = json_string_value(json_object_get(rec, "TableName"));
    if (!id || !name)
        return SL_EINVAL;
    json_object_set_new(rec, "_v", json_integer(was + 1));
    char *text = json_dumps(rec, JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    int rc = sl_txn_put(tx, DDB_NS_TABLE, pk, name, text, strlen(text), NULL);
    free(text);
    char v[96];
    version_text(id, was + 1, v, sizeof(v));
    return rc ? rc : sl_txn_put(tx, DDB_NS_TABLE_V, pk, name, v, strlen(v), NULL);
}

int ddb_table_check_txn(struct sl_txn *tx, struct ddb_table *t)
{
    const char *account = json_string_value(json_object_get(t->rec, "_account"));
    const char *region = json_string_value(json_object_get(t->rec, "_region"));
    char pk[96], v[96];
    ddb_pk(pk, sizeof(pk), account ? account : "", region ? region : "");
    version_text(t->id, t->version, v, sizeof(v));
    struct sl_item it;
    int rc = sl_txn_get(tx, DDB_NS_TABLE_V, pk, t->name, &it);
    if (!rc) {
        bool same = it.val_len == strlen(v) && memcmp(it.val, v, it.val_len) == 0;
        sl_item_free(&it);
        if (same)
            return 0;
    } else if (rc != SL_ENOTFOUND) {
        return rc;
    }
    /* (Another version, or a record older than its version item: read.) */
    struct ddb_table now;
    rc = ddb_table_read_txn(tx, pk, t->name, &now);
    if (rc)
        return rc;
    if (strcmp(now.id, t->id) != 0) {
        ddb_table_clear(&now);
        return SL_ENOTFOUND;
    }
    ddb_table_clear(t);
    *t = now;
    return 0;
}

/* ---- the cache of table records -----------------------------------------
 *
 * Every item operation needs its table's record: parsed once, it is kept
 * (read-only: jansson's reference counts are atomic) until any table's
 * record changes. A change bumps the generation once it is durable; an
 * entry read under an older generation is not used, so a reader never
 * keeps a record that a committed change replaced. */

#define CACHE_SLOTS 64

struct cache_slot {
    char key[256]; /* "<pk>\n<name>" */
    json_t *rec;
    uint64_t gen;
};

struct ddb_state {
    struct ddb_ttl *ttl;
    pthread_mutex_t mu;
    uint64_t gen; /* (under mu) */
    struct cache_slot slots[CACHE_SLOTS];
};

static struct ddb_state *state_of(struct sl_app *app)
{
    return sl_app_state(app, &sl_service_dynamodb);
}

void ddb_tables_changed(struct sl_app *app)
{
    struct ddb_state *st = state_of(app);
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->gen++;
    pthread_mutex_unlock(&st->mu);
}

int ddb_table_get(struct sl_app *app, const char *pk, const char *name, struct ddb_table *t)
{
    struct ddb_state *st = state_of(app);
    char key[256];
    int n = snprintf(key, sizeof(key), "%s\n%s", pk, name);
    if (!st || n < 0 || (size_t)n >= sizeof(key))
        return ddb_table_read(app->store, pk, name, t);
    struct cache_slot *slot = &st->slots[sl_fnv1a(SL_FNV1A_SEED, key) % CACHE_SLOTS];
    pthread_mutex_lock(&st->mu);
    uint64_t gen = st->gen;
    json_t *rec = slot->rec && slot->gen == gen && strcmp(slot->key, key) == 0
                      ? json_incref(slot->rec)
                      : NULL;
    pthread_mutex_unlock(&st->mu);
    if (rec)
        return ddb_table_parse(rec, t);
    int rc = ddb_table_read(app->store, pk, name, t);
    if (rc)
        return rc;
    pthread_mutex_lock(&st->mu);
    if (st->gen == gen) {
        json_decref(slot->rec);
        slot->rec = json_incref(t->rec);
        slot->gen = gen;
        memcpy(slot->key, key, (size_t)n + 1);
    }
    pthread_mutex_unlock(&st->mu);
    return 0;
}

int ddb_call_table(struct sl_call *c, struct ddb_table *t)
{
    const char *name = json_string_value(json_object_get(c->in, "TableName"));
    char pk[96];
    ddb_pk(pk, sizeof(pk), c->account, c->region);
    int rc = name ? ddb_table_get(c->app, pk, name, t) : SL_ENOTFOUND;
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found");
    if (rc)
        return sl_call_internal(c, rc, NULL);
    return 0;
}

/* ---- attribute values -------------------------------------------------- */

static int bad(char *msg, size_t n, const char *fmt, ...) SL_PRINTF(3, 4);
static int bad(char *msg, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return SL_EINVAL;
}

/* A number's normalized text (a new string), or an error. */
static json_t *number(const json_t *s, char *msg, size_t n)
{
    struct ddb_num v;
    enum ddb_num_error e = json_is_string(s) ? ddb_num_parse(json_string_value(s),
                                                             json_string_length(s), &v)
                                             : DDB_NUM_INVALID;
    if (e) {
        if (e == DDB_NUM_INVALID)
            bad(msg, n, "%s: %s", ddb_num_message(e),
                json_is_string(s) ? json_string_value(s) : "");
        else
            bad(msg, n, "%s", ddb_num_message(e));
        return NULL;
    }
    char text[DDB_NUM_TEXT_MAX];
    ddb_num_text(&v, text);
    return json_string(text);
}

json_t *ddb_value_normalize(const json_t *v, int depth, char *msg, size_t n)
{
    const json_t *x = NULL;
    enum ddb_type t = ddb_type_of(v, &x);
    if (depth > 32) {
        bad(msg, n, "Nesting Levels have exceeded supported limits: Nesting levels of the "
                    "attribute value exceed the maximum of 32");
        return NULL;
    }
    if (t == DDB_T_NONE) {
        bad(msg, n, "Supplied AttributeValue is empty, must contain exactly one of the supported "
                    "datatypes");
        return NULL;
    }
    switch (t) {
    case DDB_T_S:
        if (!json_is_string(x))
            break;
        return json_incref((json_t *)v);
    case DDB_T_B: {
        size_t len = json_is_string(x) ? json_string_length(x) : 0;
        size_t out = 0;
        if (!json_is_string(x) || sl_base64_decode(json_string_value(x), len, NULL, 0, &out))
            break;
        return json_incref((json_t *)v);
    }
    case DDB_T_NUM: {
        json_t *s = number(x, msg, n);
        return s ? json_pack("{s:o}", "N", s) : NULL;
    }
    case DDB_T_BOOL:
        if (!json_is_boolean(x))
            break;
        return json_incref((json_t *)v);
    case DDB_T_NULL:
        if (!json_is_true(x)) {
            bad(msg, n, "One or more parameter values were invalid: Null attribute value types "
                        "must have the value of true");
            return NULL;
        }
        return json_incref((json_t *)v);
    case DDB_T_SS:
    case DDB_T_NS:
    case DDB_T_BS: {
        if (!json_is_array(x))
            break;
        if (!json_array_size(x)) {
            bad(msg, n, "One or more parameter values were invalid: An %s set  may not be empty",
                t == DDB_T_SS ? "string" : t == DDB_T_NS ? "number" : "binary");
            return NULL;
        }
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e)
        {
            json_t *el = t == DDB_T_NS ? number(e, msg, n)
                         : json_is_string(e) ? json_incref(e)
                                             : NULL;
            if (!el) {
                if (t != DDB_T_NS)
                    bad(msg, n, "One or more parameter values were invalid: A set may only "
                                "hold strings");
                json_decref(out);
                return NULL;
            }
            for (size_t j = 0; j < json_array_size(out); j++)
                if (json_equal(json_array_get(out, j), el)) {
                    struct sl_buf b;
                    sl_buf_init(&b, 0);
                    ddb_value_text(v, &b);
                    bad(msg, n, "One or more parameter values were invalid: Input collection "
                                "%s contains duplicates.",
                        b.data ? b.data + strlen(ddb_type_name(t)) + 2 : "");
                    sl_buf_free(&b);
                    json_decref(el);
                    json_decref(out);
                    return NULL;
                }
            json_array_append_new(out, el);
        }
        return json_pack("{s:o}", ddb_type_name(t), out);
    }
    case DDB_T_L: {
        if (!json_is_array(x))
            break;
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e)
        {
            json_t *el = ddb_value_normalize(e, depth + 1, msg, n);
            if (!el) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, el);
        }
        return json_pack("{s:o}", "L", out);
    }
    case DDB_T_M: {
        if (!json_is_object(x))
            break;
        json_t *out = ddb_item_normalize(x, depth + 1, msg, n);
        return out ? json_pack("{s:o}", "M", out) : NULL;
    }
    default:
        break;
    }
    bad(msg, n, "Supplied AttributeValue has a value that is not of its type %s",
        ddb_type_name(t));
    return NULL;
}

json_t *ddb_item_normalize(const json_t *item, int depth, char *msg, size_t n)
{
    if (!json_is_object(item)) {
        bad(msg, n, "One or more parameter values were invalid: an item must be a map of "
                    "attribute values");
        return NULL;
    }
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)item, k, v)
    {
        json_t *nv = ddb_value_normalize(v, depth, msg, n);
        if (!nv) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, k, nv);
    }
    return out;
}

/* DynamoDB's size of a value: strings and binaries their bytes, numbers
 * about one byte for two digits, containers 3 bytes and their parts. */
static size_t value_size(const json_t *v)
{
    const json_t *x = NULL;
    size_t size = 0, i;
    json_t *e;
    const char *k;
    switch (ddb_type_of(v, &x)) {
    case DDB_T_S:
        return json_string_length(x);
    case DDB_T_B:
        return json_string_length(x) / 4 * 3;
    case DDB_T_NUM:
        return (json_string_length(x) + 1) / 2 + 1;
    case DDB_T_BOOL:
    case DDB_T_NULL:
        return 1;
    case DDB_T_SS:
    case DDB_T_NS:
    case DDB_T_BS:
        json_array_foreach(x, i, e) size += json_string_length(e);
        return size;
    case DDB_T_L:
        json_array_foreach(x, i, e) size += 1 + value_size(e);
        return size + 3;
    case DDB_T_M:
        json_object_foreach((json_t *)x, k, e) size += 1 + strlen(k) + value_size(e);
        return size + 3;
    default:
        return 0;
    }
}

size_t ddb_item_size(const json_t *item)
{
    size_t size = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)item, k, v) size += strlen(k) + value_size(v);
    return size;
}

/* ---- keys -------------------------------------------------------------- */

/* A string key's text: its bytes, but \1 and \2 as \2\2 and \2\3, so
 * that \1 never occurs (index and Time to Live entries join keys with it)
 * and the texts keep the strings' order. */
static int key_string(struct sl_buf *out, const char *s, size_t n)
{
    size_t run = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (s[i] != '\1' && s[i] != '\2')
            continue;
        rc = sl_buf_append(out, s + run, i - run);
        if (!rc)
            rc = sl_buf_append(out, s[i] == '\1' ? "\2\2" : "\2\3", 2);
        run = i + 1;
    }
    return rc ? rc : sl_buf_append(out, s + run, n - run);
}

/* One key attribute's part of the store's key: an order-keeping text of
 * its value. */
int ddb_key_text(const struct ddb_key_attr *a, const json_t *v, struct sl_buf *out, char *msg,
                 size_t n)
{
    const json_t *x = NULL;
    enum ddb_type t = ddb_type_of(v, &x);
    if (t != a->type)
        return bad(msg, n, "One or more parameter values were invalid: Type mismatch for key %s "
                           "expected: %s actual: %s",
                   a->name, ddb_type_name(a->type), ddb_type_name(t));
    if (t == DDB_T_S || t == DDB_T_B) {
        if (!json_string_length(x))
            return bad(msg, n, "One or more parameter values are not valid. The AttributeValue "
                               "for a key attribute cannot contain an empty %s value. Key: %s",
                       t == DDB_T_S ? "string" : "binary", a->name);
        if (t == DDB_T_S)
            return key_string(out, json_string_value(x), json_string_length(x));
        size_t len = json_string_length(x), bytes = 0;
        uint8_t *raw = malloc(len / 4 * 3 + 3);
        if (!raw || sl_base64_decode(json_string_value(x), len, raw, len / 4 * 3 + 3, &bytes)) {
            free(raw);
            return bad(msg, n, "Invalid binary value for key %s", a->name);
        }
        char *hex = malloc(2 * bytes + 1);
        if (hex)
            sl_hex_encode(raw, bytes, hex);
        int rc = hex ? sl_buf_puts(out, hex) : SL_ENOMEM;
        free(hex);
        free(raw);
        return rc;
    }
    struct ddb_num num;
    enum ddb_num_error e = ddb_num_parse(json_string_value(x), json_string_length(x), &num);
    if (e)
        return bad(msg, n, "%s", ddb_num_message(e));
    char key[DDB_NUM_KEY_MAX];
    ddb_num_key(&num, key);
    return sl_buf_puts(out, key);
}

int ddb_item_key(const struct ddb_table *t, const json_t *obj, bool exact, struct ddb_key *k,
                 char *msg, size_t n)
{
    memset(k, 0, sizeof(*k));
    size_t want = t->range.name ? 2 : 1;
    if (exact && json_object_size(obj) != want)
        return bad(msg, n, "The provided key element does not match the schema");
    const struct ddb_key_attr *attrs[2] = {&t->hash, &t->range};
    for (size_t i = 0; i < want; i++) {
        const json_t *v = json_object_get(obj, attrs[i]->name);
        if (!v)
            return exact ? bad(msg, n, "The provided key element does not match the schema")
                         : bad(msg, n, "One or more parameter values were invalid: Missing the "
                                       "key %s in the item",
                               attrs[i]->name);
        struct sl_buf b;
        sl_buf_init(&b, 0);
        int rc = i ? 0 : sl_buf_puts(&b, t->id);
        if (!rc)
            rc = i ? 0 : sl_buf_putc(&b, '/');
        if (!rc)
            rc = ddb_key_text(attrs[i], v, &b, msg, n);
        if (rc) {
            sl_buf_free(&b);
            return rc == SL_EINVAL ? rc : bad(msg, n, "out of memory");
        }
        char *text = sl_buf_steal(&b, NULL);
        if (i)
            k->sk = text;
        else
            k->pk = text;
    }
    if (!k->sk)
        k->sk = strdup("");
    if (!k->pk || !k->sk) {
        ddb_key_clear(k);
        return bad(msg, n, "out of memory");
    }
    return 0;
}

void ddb_key_clear(struct ddb_key *k)
{
    free(k->pk);
    free(k->sk);
    k->pk = k->sk = NULL;
}

json_t *ddb_key_of(const struct ddb_table *t, const json_t *item)
{
    json_t *out = json_object();
    json_object_set(out, t->hash.name, json_object_get(item, t->hash.name));
    if (t->range.name)
        json_object_set(out, t->range.name, json_object_get(item, t->range.name));
    return out;
}

/* ---- the row ----------------------------------------------------------- */

static int dynamodb_new(struct sl_app *app, void **state, struct sl_err *err)
{
    struct ddb_state *st = calloc(1, sizeof(*st));
    int rc = st ? ddb_ttl_new(app, &st->ttl) : SL_ENOMEM;
    if (rc) {
        free(st);
        return sl_errf(err, rc, "dynamodb: cannot start: %s", sl_strerror(rc));
    }
    pthread_mutex_init(&st->mu, NULL);
    *state = st;
    return 0;
}

static int dynamodb_start(void *state, struct sl_err *err)
{
    struct ddb_state *st = state;
    int rc = ddb_ttl_start(st->ttl);
    return rc ? sl_errf(err, rc, "dynamodb: cannot watch TimeToLive: %s", sl_strerror(rc)) : 0;
}

static void dynamodb_stop(void *state)
{
    struct ddb_state *st = state;
    ddb_ttl_stop(st->ttl);
}

static void dynamodb_free(void *state)
{
    struct ddb_state *st = state;
    if (!st)
        return;
    ddb_ttl_free(st->ttl);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        json_decref(st->slots[i].rec);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

SL_SERVICE_TABLES(dynamodb);

const struct sl_service sl_service_dynamodb = {
    .name = "dynamodb",
    .model = &sl_model_dynamodb,
    .handlers = sl_dynamodb_handlers,
    .errors = sl_dynamodb_errors,
    .e_internal = DDB_E_INTERNAL,
    .e_validation = DDB_E_VALIDATION,
    .e_serialization = DDB_E_SERIALIZATION,
    .e_too_big = DDB_E_VALIDATION,
    /* A BatchWriteItem carries up to 16 MB. */
    .body_cap = 17 * 1024 * 1024,
    .new = dynamodb_new,
    .start = dynamodb_start,
    .stop = dynamodb_stop,
    .free = dynamodb_free,
};
