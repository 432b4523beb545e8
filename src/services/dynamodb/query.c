/*
 * DynamoDB reads of many items: Query (one partition, in the sort key's
 * order or its reverse, from a KeyConditionExpression) and Scan (every
 * partition, or one segment of them), with FilterExpression,
 * ProjectionExpression, Select, Limit (items evaluated) and pages of 1 MB
 * that end with a LastEvaluatedKey, as DynamoDB's do. The store keeps a
 * partition's items in the sort key's order (service.c), so a Query reads
 * a range of it.
 */
#include "services/dynamodb/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BYTES (1024 * 1024)
#define READ_STEP 100 /* items read from the store at a time */

/* One Query or Scan. */
struct qreq {
    struct ddb_table t;
    const struct ddb_index *ix; /* IndexName's, or NULL: the table */
    const char *ns;             /* where the items read are */
    const struct ddb_key_attr *hash, *range; /* the keys of what is read */
    struct ddb_placeholders ph;
    struct ddb_expr *key, *filter, *proj;
    struct ddb_key_cond kc;
    bool count_only;
    size_t limit; /* items to evaluate at most */
    /* The answer. */
    json_t *items;
    size_t count, scanned, bytes;
    json_t *last; /* the last evaluated item (for LastEvaluatedKey) */
    bool stopped; /* at the limit or the page's size */
    char msg[512];
};

static void qreq_free(struct sl_call *c)
{
    struct qreq *q = c->state;
    if (!q)
        return;
    ddb_table_clear(&q->t);
    ddb_placeholders_clear(&q->ph);
    ddb_expr_free(q->key);
    ddb_expr_free(q->filter);
    ddb_expr_free(q->proj);
    json_decref(q->items);
    json_decref(q->last);
}

static int validation(struct sl_call *c, const char *msg)
{
    return sl_call_fail(c, DDB_E_VALIDATION, "%s", msg);
}

/* The request's table, placeholders, expressions and paging members: the
 * state, or NULL when the call has its answer (*rc). */
static struct qreq *begin(struct sl_call *c, bool query, int *rc)
{
    struct qreq *q = sl_call_alloc(c, sizeof(*q));
    if (!q) {
        *rc = SL_ENOMEM;
        return NULL;
    }
    c->state = q;
    c->state_free = qreq_free;
    static const char *const legacy[] = {"KeyConditions", "QueryFilter", "ScanFilter",
                                         "AttributesToGet", "ConditionalOperator"};
    for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
        if (json_object_get(c->in, legacy[i])) {
            snprintf(q->msg, sizeof(q->msg),
                     "Sluice does not support the legacy parameter %s yet: use the expression "
                     "parameters",
                     legacy[i]);
            *rc = validation(c, q->msg);
            return NULL;
        }
    if ((*rc = ddb_call_table(c, &q->t)) != 0)
        return NULL;
    q->ns = q->t.items_ns;
    q->hash = &q->t.hash;
    q->range = &q->t.range;
    const char *index = json_string_value(json_object_get(c->in, "IndexName"));
    for (size_t i = 0; index && i < q->t.nix; i++)
        if (strcmp(q->t.ix[i].name, index) == 0)
            q->ix = &q->t.ix[i];
    if (index && !q->ix) {
        snprintf(q->msg, sizeof(q->msg), "The table does not have the specified index: %s",
                 index);
        *rc = validation(c, q->msg);
        return NULL;
    }
    if (q->ix) {
        if (q->ix->global && json_is_true(json_object_get(c->in, "ConsistentRead"))) {
            *rc = validation(c, "Consistent reads are not supported on global secondary "
                                "indexes");
            return NULL;
        }
        q->ns = q->ix->ns;
        q->hash = &q->ix->hash;
        q->range = &q->ix->range;
    }
    if (ddb_placeholders_init(&q->ph, c->in, q->msg, sizeof(q->msg))) {
        *rc = validation(c, q->msg);
        return NULL;
    }
    const char *key = json_string_value(json_object_get(c->in, "KeyConditionExpression"));
    if (query && !key) {
        *rc = validation(c, "Either the KeyConditions or KeyConditionExpression parameter must "
                            "be specified in the request.");
        return NULL;
    }
    struct {
        const char *text;
        enum ddb_expr_kind kind;
        struct ddb_expr **out;
    } exprs[] = {
        {key, DDB_EXPR_KEY_CONDITION, &q->key},
        {json_string_value(json_object_get(c->in, "FilterExpression")), DDB_EXPR_FILTER,
         &q->filter},
        {json_string_value(json_object_get(c->in, "ProjectionExpression")), DDB_EXPR_PROJECTION,
         &q->proj},
    };
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++)
        if (exprs[i].text &&
            ddb_expr_parse(exprs[i].kind, exprs[i].text, &q->ph, exprs[i].out, q->msg,
                           sizeof(q->msg))) {
            *rc = validation(c, q->msg);
            return NULL;
        }
    if (ddb_placeholders_check(&q->ph, q->msg, sizeof(q->msg)) ||
        (q->key && ddb_expr_key_condition(q->key, q->hash, q->range, &q->kc, q->msg,
                                          sizeof(q->msg)))) {
        *rc = validation(c, q->msg);
        return NULL;
    }
    const char *select = json_string_value(json_object_get(c->in, "Select"));
    q->count_only = select && strcmp(select, "COUNT") == 0;
    if (select && strcmp(select, "SPECIFIC_ATTRIBUTES") == 0 && !q->proj) {
        *rc = validation(c, "1 validation error detected: Select SPECIFIC_ATTRIBUTES requires "
                            "a ProjectionExpression");
        return NULL;
    }
    if (select && strcmp(select, "ALL_ATTRIBUTES") == 0 && q->proj) {
        *rc = validation(c, "Cannot specify the ProjectionExpression when choosing to get "
                            "ALL_ATTRIBUTES");
        return NULL;
    }
    json_t *limit = json_object_get(c->in, "Limit");
    q->limit = json_is_integer(limit) ? (size_t)json_integer_value(limit) : SIZE_MAX;
    q->items = json_array();
    return q;
}

/* Evaluates one item read: true to go on. */
static bool take(struct qreq *q, const char *val, size_t len)
{
    if (q->scanned == q->limit || q->bytes >= PAGE_BYTES) {
        q->stopped = true;
        return false;
    }
    json_t *item = json_loadb(val, len, 0, NULL);
    if (!item)
        return true; /* (not an item: skipped) */
    q->scanned++;
    q->bytes += len;
    json_decref(q->last);
    q->last = json_incref(item);
    bool pass = true;
    if (q->filter)
        ddb_expr_test(q->filter, item, &pass, q->msg, sizeof(q->msg));
    if (pass) {
        q->count++;
        if (!q->count_only)
            json_array_append_new(q->items, q->proj ? ddb_expr_project(q->proj, item)
                                                    : json_incref(item));
    }
    json_decref(item);
    return true;
}

/* The first n bytes of sk against key, as strcmp would compare them. */
static int cmp_part(const char *sk, size_t n, const char *key)
{
    size_t m = strlen(key);
    int c = memcmp(sk, key, n < m ? n : m);
    return c ? c : n < m ? -1 : n > m ? 1 : 0;
}

/* Whether a sort key (as stored) meets the condition; *past when it, and
 * every key after it in the reading's direction, is beyond the range. */
static bool in_range(const struct qreq *q, const char *sk, const char *lo, const char *hi,
                     bool forward, bool *past)
{
    *past = false;
    /* (An index's sort key is its range key's text, \1 and the item's
     * key: the first part is compared.) */
    size_t n = q->ix ? strcspn(sk, "\1") : strlen(sk);
    int a = lo ? cmp_part(sk, n, lo) : 1, b = hi ? cmp_part(sk, n, hi) : -1;
    switch (q->kc.op) {
    case DDB_KC_EQ:
        *past = forward ? a > 0 : a < 0;
        return a == 0;
    case DDB_KC_LT:
        *past = forward && b >= 0;
        return b < 0;
    case DDB_KC_LE:
        *past = forward && b > 0;
        return b <= 0;
    case DDB_KC_GT:
        *past = !forward && a <= 0;
        return a > 0;
    case DDB_KC_GE:
        *past = !forward && a < 0;
        return a >= 0;
    case DDB_KC_BETWEEN:
        *past = forward ? b > 0 : a < 0;
        return a >= 0 && b <= 0;
    default:
        return true;
    }
}

/* The answer: Items (unless COUNT), Count, ScannedCount, and the key of
 * the last item evaluated when the page stopped before the end. */
static int answer(struct sl_call *c, struct qreq *q)
{
    json_t *out = json_pack("{s:I, s:I}", "Count", (json_int_t)q->count, "ScannedCount",
                            (json_int_t)q->scanned);
    if (!q->count_only)
        json_object_set(out, "Items", q->items);
    if (q->scanned == q->limit)
        q->stopped = true; /* (the limit reached: there may be more) */
    if (q->stopped && q->last) {
        json_t *key = ddb_key_of(&q->t, q->last);
        if (q->ix) {
            json_object_set(key, q->ix->hash.name, json_object_get(q->last, q->ix->hash.name));
            if (q->ix->range.name)
                json_object_set(key, q->ix->range.name,
                                json_object_get(q->last, q->ix->range.name));
        }
        json_object_set_new(out, "LastEvaluatedKey", key);
    }
    return sl_call_ok(c, out);
}

/* The store's sort key of ExclusiveStartKey (malloc'd), checked against
 * the table (and, for a Query, its partition): 0, or answers. */
static int start_key(struct sl_call *c, struct qreq *q, const char *pk, char **pk_out,
                     char **sk_out)
{
    json_t *esk = json_object_get(c->in, "ExclusiveStartKey");
    *sk_out = NULL;
    if (pk_out)
        *pk_out = NULL;
    if (!esk)
        return 0;
    json_t *key = ddb_item_normalize(esk, 0, q->msg, sizeof(q->msg));
    struct ddb_key k;
    if (!key || ddb_item_key(&q->t, key, !q->ix, &k, q->msg, sizeof(q->msg))) {
        json_decref(key);
        return validation(c, "The provided starting key is invalid: The provided key element "
                             "does not match the schema");
    }
    if (q->ix) {
        /* (An index's: the table's key and the index's, as its entry's.) */
        struct sl_buf ipk, isk;
        sl_buf_init(&ipk, 0);
        sl_buf_init(&isk, 0);
        int rc = ddb_index_entry(&q->t, q->ix, &k, key, &ipk, &isk, NULL, q->msg,
                                 sizeof(q->msg));
        ddb_key_clear(&k);
        k.pk = sl_buf_steal(&ipk, NULL);
        k.sk = sl_buf_steal(&isk, NULL);
        if (rc || !k.pk || !k.sk) {
            ddb_key_clear(&k);
            json_decref(key);
            return validation(c, "The provided starting key is invalid: The provided key "
                                 "element does not match the schema");
        }
    }
    json_decref(key);
    if (pk && strcmp(k.pk, pk) != 0) {
        ddb_key_clear(&k);
        return validation(c, "The provided starting key is invalid: The provided key element "
                             "does not match the query's partition key");
    }
    *sk_out = k.sk;
    if (pk_out)
        *pk_out = k.pk;
    else
        free(k.pk);
    return 0;
}

/* A text that sorts just before key (NULL: from the start): the keys
 * that are not less than key are all greater than it. */
static char *just_before(const char *key)
{
    size_t n = strlen(key);
    if (!n || (unsigned char)key[n - 1] <= 1)
        return NULL;
    char *s = malloc(n + 5);
    if (!s)
        return NULL;
    memcpy(s, key, n);
    s[n - 1] = (char)((unsigned char)s[n - 1] - 1);
    memcpy(s + n, "\xff\xff\xff\xff", 5);
    return s;
}

/* A text that sorts just after key and before any other key greater
 * than it but those that start with it (which the range test drops). */
static char *just_after(const char *key, bool index)
{
    size_t n = strlen(key);
    char *s = malloc(n + 2);
    if (!s)
        return NULL;
    memcpy(s, key, n);
    s[n] = index ? '\x02' : '\x01'; /* (past an index's "key\1item") */
    s[n + 1] = '\0';
    return s;
}

SL_OP(dynamodb, Query)
{
    int rc;
    struct qreq *q = begin(c, true, &rc);
    if (!q)
        return rc;
    /* The partition, and the sort key's bounds as stored. */
    struct sl_buf pk, lo, hi;
    sl_buf_init(&pk, 0);
    sl_buf_init(&lo, 0);
    sl_buf_init(&hi, 0);
    char *after = NULL;
    rc = q->ix ? 0 : sl_buf_puts(&pk, q->t.id);
    if (!rc && !q->ix)
        rc = sl_buf_putc(&pk, '/');
    if (!rc)
        rc = ddb_key_text(q->hash, q->kc.hash, &pk, q->msg, sizeof(q->msg));
    bool have_lo = false, have_hi = false;
    if (!rc && q->kc.op != DDB_KC_NONE && q->kc.op != DDB_KC_BEGINS) {
        enum ddb_kc_op op = q->kc.op;
        have_lo = op == DDB_KC_EQ || op == DDB_KC_GT || op == DDB_KC_GE || op == DDB_KC_BETWEEN;
        have_hi = op == DDB_KC_LT || op == DDB_KC_LE || op == DDB_KC_BETWEEN;
        if (have_lo)
            rc = ddb_key_text(q->range, q->kc.v1, &lo, q->msg, sizeof(q->msg));
        if (!rc && have_hi)
            rc = ddb_key_text(q->range, op == DDB_KC_BETWEEN ? q->kc.v2 : q->kc.v1, &hi,
                              q->msg, sizeof(q->msg));
    }
    struct sl_buf prefix;
    sl_buf_init(&prefix, 0);
    if (!rc && q->kc.op == DDB_KC_BEGINS)
        rc = ddb_key_text(q->range, q->kc.v1, &prefix, q->msg, sizeof(q->msg));
    if (rc) {
        sl_buf_free(&pk);
        sl_buf_free(&lo);
        sl_buf_free(&hi);
        sl_buf_free(&prefix);
        return rc == SL_EINVAL ? validation(c, q->msg) : rc;
    }
    json_t *fwd = json_object_get(c->in, "ScanIndexForward");
    bool forward = !json_is_false(fwd);
    if ((rc = start_key(c, q, pk.data, NULL, &after)) != 0)
        goto out;
    /* Where the reading starts: after ExclusiveStartKey, else at the
     * bound its direction meets first (strictly past it for GT/LT). */
    char *cur = after ? strdup(after) : NULL;
    if (!after && forward && have_lo)
        cur = q->kc.op == DDB_KC_GT ? strdup(lo.data) : just_before(lo.data);
    if (!after && !forward && have_hi)
        cur = q->kc.op == DDB_KC_LT ? strdup(hi.data) : just_after(hi.data, q->ix != NULL);
    for (;;) {
        struct sl_item *items = NULL;
        size_t n = 0;
        rc = forward ? sl_kv_list(c->app->store, q->ns, pk.data,
                                  prefix.len ? prefix.data : NULL, cur, READ_STEP, &items, &n)
                     : sl_kv_list_desc(c->app->store, q->ns, pk.data,
                                       prefix.len ? prefix.data : NULL, cur, READ_STEP, &items,
                                       &n);
        if (rc)
            break;
        bool done = false;
        for (size_t i = 0; i < n && !done; i++) {
            bool past;
            if (in_range(q, items[i].sk, have_lo ? lo.data : NULL, have_hi ? hi.data : NULL,
                         forward, &past)) {
                if (!take(q, items[i].val, items[i].val_len))
                    done = true;
            } else if (past) {
                done = true;
            }
        }
        if (n) {
            free(cur);
            cur = strdup(items[n - 1].sk);
        }
        for (size_t i = 0; i < n; i++)
            sl_item_free(&items[i]);
        free(items);
        if (done || n < READ_STEP || !cur)
            break;
    }
    free(cur);
    if (!rc)
        rc = answer(c, q);
    else
        rc = sl_call_internal(c, rc, NULL);
out:
    free(after);
    sl_buf_free(&pk);
    sl_buf_free(&lo);
    sl_buf_free(&hi);
    sl_buf_free(&prefix);
    return rc;
}

/* Which of total segments partition pk belongs to. */
static uint32_t segment_of(const char *pk, uint32_t total)
{
    return sl_fnv1a(SL_FNV1A_SEED, pk) % total;
}

SL_OP(dynamodb, Scan)
{
    int rc;
    struct qreq *q = begin(c, false, &rc);
    if (!q)
        return rc;
    json_t *seg = json_object_get(c->in, "Segment"), *total = json_object_get(c->in,
                                                                             "TotalSegments");
    if (!seg != !total)
        return validation(c, "The TotalSegments parameter is required but was not present in "
                             "the request when Segment parameter is present");
    uint32_t segment = (uint32_t)json_integer_value(seg);
    uint32_t segments = total ? (uint32_t)json_integer_value(total) : 1;
    if (total && segment >= segments)
        return validation(c, "The Segment parameter is zero-based and must be less than "
                             "parameter TotalSegments");
    char *start_pk = NULL, *after = NULL;
    if ((rc = start_key(c, q, NULL, &start_pk, &after)) != 0)
        return rc;
    char **pks = NULL;
    size_t npks = 0;
    rc = sl_kv_list_pks(c->app->store, q->ns, &pks, &npks);
    bool stop = false;
    for (size_t p = 0; !rc && p < npks && !stop; p++) {
        if ((start_pk && strcmp(pks[p], start_pk) < 0) ||
            (segments > 1 && segment_of(pks[p], segments) != segment))
            continue;
        char *cur = start_pk && strcmp(pks[p], start_pk) == 0 && after ? strdup(after) : NULL;
        for (;;) {
            struct sl_item *items = NULL;
            size_t n = 0;
            rc = sl_kv_list(c->app->store, q->ns, pks[p], NULL, cur, READ_STEP, &items,
                            &n);
            if (rc)
                break;
            for (size_t i = 0; i < n && !stop; i++)
                stop = !take(q, items[i].val, items[i].val_len);
            free(cur);
            cur = n ? strdup(items[n - 1].sk) : NULL;
            for (size_t i = 0; i < n; i++)
                sl_item_free(&items[i]);
            free(items);
            if (stop || n < READ_STEP || !cur)
                break;
        }
        free(cur);
    }
    for (size_t p = 0; p < npks; p++)
        free(pks[p]);
    free(pks);
    free(start_pk);
    free(after);
    return rc ? sl_call_internal(c, rc, NULL) : answer(c, q);
}
