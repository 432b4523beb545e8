/*
 * DynamoDB's transactions: TransactWriteItems (up to 100 ConditionChecks,
 * Puts, Deletes and Updates of distinct items of one or more tables) and
 * TransactGetItems (up to 100 items read together). Each is one store
 * transaction, so every condition is tested on the item as it is when the
 * writes happen: when any action fails, nothing is written (no item, index
 * entry or stream record) and the answer is TransactionCanceledException
 * with a reason per action, in order. A ClientRequestToken makes a
 * TransactWriteItems idempotent for 10 minutes after it succeeded: the
 * same TransactItems again succeed without writing anything, others with
 * that token are IdempotentParameterMismatchException. (A cancelled
 * transaction leaves no token: it may be tried again.)
 *
 * Storage:
 *   kv  dynamodb.token  pk "<account>/<region>", sk the token:
 *                       {"h": SHA-256 of the TransactItems (keys sorted),
 *                       "at": ms of the success}
 *                       pk "expiry", sk the 13 digits of "at", \1, the
 *                       token's pk, \1, the token: {"p": pk, "t": token},
 *                       the order in which tokens expire (each new token
 *                       removes up to two expired ones)
 */
#include "services/dynamodb/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_TOKEN "dynamodb.token"
#define TOKEN_EXPIRY_PK "expiry"
#define TOKEN_MS (10 * 60 * 1000LL)
#define TOKEN_TRIM 2
#define MULTIPLE "Transaction request cannot include multiple operations on one item"

/* One TransactWriteItems or TransactGetItems. */
struct txn {
    struct ddb_many m;
    bool get; /* TransactGetItems */
    int *rc;  /* each action's outcome (the call's arena) */
    const char *token; /* ClientRequestToken (c->in's), or NULL */
    char pk[96];
    char hash[2 * SL_SHA256_LEN + 1];
    /* Filled by the transaction: */
    bool replay;    /* the token's request again: nothing done */
    bool mismatch;  /* the token's, with other TransactItems */
    bool cancelled; /* an action failed: rc says which */
};

static void txn_free(struct sl_call *c)
{
    struct txn *x = c->state;
    if (x)
        ddb_many_clear(&x->m);
}

/* The call's state for its TransactItems: NULL when the call has its
 * answer (*rc). */
static struct txn *begin(struct sl_call *c, bool get, int *rc)
{
    size_t n = json_array_size(json_object_get(c->in, "TransactItems"));
    struct txn *x = sl_call_alloc(c, sizeof(*x));
    if (x)
        x->rc = sl_call_alloc(c, (n ? n : 1) * sizeof(*x->rc));
    if (!x || !x->rc || ddb_many_init(&x->m, n)) {
        *rc = SL_ENOMEM;
        return NULL;
    }
    x->get = get;
    c->state = x;
    c->state_free = txn_free;
    return x;
}

/* ---- ClientRequestToken -------------------------------------------------- */

/* The request's token, and the hash of what it asks. */
static int token_init(struct sl_call *c, struct txn *x)
{
    x->token = json_string_value(json_object_get(c->in, "ClientRequestToken"));
    if (!x->token)
        return 0;
    ddb_pk(x->pk, sizeof(x->pk), c->account, c->region);
    char *text = json_dumps(json_object_get(c->in, "TransactItems"),
                            JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return SL_ENOMEM;
    uint8_t h[SL_SHA256_LEN];
    sl_sha256(text, strlen(text), h);
    free(text);
    sl_hex_encode(h, sizeof(h), x->hash);
    return 0;
}

/* The value at (pk, sk) of the tokens (a new object): 0, SL_ENOTFOUND. */
static int get_json(struct sl_txn *t, const char *pk, const char *sk, json_t **out)
{
    struct sl_item it;
    int rc = sl_txn_get(t, NS_TOKEN, pk, sk, &it);
    if (rc)
        return rc;
    *out = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *out ? 0 : SL_ECORRUPT;
}

/* Whether the token was used within TOKEN_MS: x->replay (with the same
 * TransactItems) or x->mismatch. */
static int token_check(struct sl_txn *t, struct txn *x, int64_t now)
{
    json_t *v;
    int rc = get_json(t, x->pk, x->token, &v);
    if (rc)
        return rc == SL_ENOTFOUND ? 0 : rc;
    if (json_integer_value(json_object_get(v, "at")) > now - TOKEN_MS) {
        const char *h = json_string_value(json_object_get(v, "h"));
        x->replay = h && strcmp(h, x->hash) == 0;
        x->mismatch = !x->replay;
    }
    json_decref(v);
    return 0;
}

/* Puts v (an object, taken) at (pk, sk) of the tokens. */
static int put_json(struct sl_txn *t, const char *pk, const char *sk, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    int rc = text ? sl_txn_put(t, NS_TOKEN, pk, sk, text, strlen(text), NULL) : SL_ENOMEM;
    free(text);
    return rc;
}

/* Removes up to TOKEN_TRIM tokens past TOKEN_MS, oldest first (a token
 * used again since keeps its newer entry). */
static int token_trim(struct sl_txn *t, int64_t now)
{
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_txn_list(t, NS_TOKEN, TOKEN_EXPIRY_PK, NULL, TOKEN_TRIM, &items, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        if (strtoll(items[i].sk, NULL, 10) > now - TOKEN_MS)
            break;
        json_t *v = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        const char *pk = json_string_value(json_object_get(v, "p"));
        const char *token = json_string_value(json_object_get(v, "t"));
        json_t *tv;
        if (pk && token && get_json(t, pk, token, &tv) == 0) {
            if (json_integer_value(json_object_get(tv, "at")) <= now - TOKEN_MS)
                rc = sl_txn_delete(t, NS_TOKEN, pk, token);
            json_decref(tv);
        }
        json_decref(v);
        if (!rc)
            rc = sl_txn_delete(t, NS_TOKEN, TOKEN_EXPIRY_PK, items[i].sk);
    }
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return rc;
}

/* Notes the token as used now by x's TransactItems. */
static int token_note(struct sl_txn *t, struct txn *x, int64_t now)
{
    int rc = put_json(t, x->pk, x->token,
                      json_pack("{s:s, s:I}", "h", x->hash, "at", (json_int_t)now));
    struct sl_buf sk;
    sl_buf_init(&sk, 0);
    if (!rc)
        rc = sl_buf_printf(&sk, "%013" PRId64 "\1%s\1%s", now, x->pk, x->token);
    if (!rc)
        rc = put_json(t, TOKEN_EXPIRY_PK, sk.data,
                      json_pack("{s:s, s:s}", "p", x->pk, "t", x->token));
    sl_buf_free(&sk);
    return rc ? rc : token_trim(t, now);
}

/* ---- the transaction ----------------------------------------------------- */

/* Every action in one store transaction; any failed one (its outcome in
 * x->rc) rolls them all back. */
static int txn_run(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct txn *x = arg;
    int64_t now = sl_time_now_ms();
    int rc = x->token ? token_check(t, x, now) : 0;
    if (rc || x->replay)
        return rc;
    if (x->mismatch)
        return SL_EEXIST;
    for (size_t i = 0; i < x->m.n; i++) {
        rc = x->rc[i] = ddb_write_txn(t, &x->m.w[i]);
        if (rc == SL_ECONDITION || rc == SL_EINVAL)
            x->cancelled = true;
        else if (rc)
            return rc;
    }
    if (x->cancelled)
        return SL_ECONDITION;
    return x->token ? token_note(t, x, now) : 0;
}

/* What an action's outcome says in CancellationReasons (message NULL: the
 * action's own). */
static const struct {
    int rc;
    const char *code, *message;
} reasons[] = {
    {0, "None", NULL},
    {SL_ECONDITION, "ConditionalCheckFailed", "The conditional request failed"},
    {SL_EINVAL, "ValidationError", NULL},
};

/* TransactionCanceledException, with a reason per action. */
static int cancelled(struct sl_call *c, struct txn *x)
{
    json_t *list = json_array();
    struct sl_buf codes;
    sl_buf_init(&codes, 0);
    for (size_t i = 0; list && i < x->m.n; i++) {
        const struct ddb_write *w = &x->m.w[i];
        size_t k = 0;
        while (k + 1 < SL_ARRAY_LEN(reasons) && reasons[k].rc != x->rc[i])
            k++;
        json_t *r = json_pack("{s:s}", "Code", reasons[k].code);
        if (r && x->rc[i])
            json_object_set_new(r, "Message",
                                json_string(reasons[k].message ? reasons[k].message : w->msg));
        if (r && x->rc[i] == SL_ECONDITION && w->ret_on_fail && w->old)
            json_object_set(r, "Item", w->old);
        json_array_append_new(list, r);
        sl_buf_printf(&codes, "%s%s", i ? ", " : "", reasons[k].code);
    }
    int rc = sl_call_fail_ex(c, DDB_E_TXN_CANCELED, NULL,
                             json_pack("{s:o}", "CancellationReasons", list),
                             "Transaction cancelled, please refer cancellation reasons for "
                             "specific reasons [%s]",
                             codes.data ? codes.data : "");
    sl_buf_free(&codes);
    return rc;
}

static int transacted(struct sl_call *c)
{
    struct txn *x = c->write_arg;
    if (x->cancelled)
        return cancelled(c, x);
    if (x->mismatch)
        return sl_call_fail(c, DDB_E_IDEMPOTENT,
                            "The request uses the same client token as a previous, but "
                            "non-identical request.");
    if (c->write_rc == SL_ENOTFOUND) /* (a table deleted meanwhile) */
        return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found");
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (!x->get)
        return sl_call_ok(c, json_object());
    json_t *out = json_array();
    for (size_t i = 0; i < x->m.n; i++) {
        const struct ddb_write *w = &x->m.w[i];
        json_t *item = !w->old   ? NULL
                       : w->proj ? ddb_expr_project(w->proj, w->old)
                                 : json_incref(w->old);
        json_array_append_new(out, item ? json_pack("{s:o}", "Item", item) : json_object());
    }
    return sl_call_ok(c, json_pack("{s:o}", "Responses", out));
}

/* ---- the operations ------------------------------------------------------ */

/* A TransactWriteItems element's action, by its member. */
static const struct {
    const char *member;
    enum ddb_op op;
} actions[] = {
    {"ConditionCheck", DDB_OP_CHECK},
    {"Put", DDB_OP_PUT},
    {"Delete", DDB_OP_DELETE},
    {"Update", DDB_OP_UPDATE},
};

SL_OP(dynamodb, TransactWriteItems)
{
    int rc;
    struct txn *x = begin(c, false, &rc);
    if (!x)
        return rc;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(c->in, "TransactItems"), i, e)
    {
        const json_t *in = NULL;
        enum ddb_op op = DDB_OP_CHECK;
        size_t found = 0;
        for (size_t k = 0; k < SL_ARRAY_LEN(actions); k++) {
            const json_t *a = json_object_get(e, actions[k].member);
            if (a) {
                in = a;
                op = actions[k].op;
                found++;
            }
        }
        if (found != 1)
            return sl_call_fail(c, DDB_E_VALIDATION, "%s",
                                found ? "TransactItems can only contain one of Check, Put, "
                                        "Update or Delete"
                                      : "Invalid Request: TransactWriteRequest should contain "
                                        "Delete or Put or Update request");
        rc = ddb_many_add(c, &x->m, op, json_string_value(json_object_get(in, "TableName")), in,
                          MULTIPLE);
        if (rc)
            return rc;
    }
    if ((rc = token_init(c, x)) != 0)
        return rc;
    return sl_call_write(c, txn_run, x, transacted);
}

SL_OP(dynamodb, TransactGetItems)
{
    int rc;
    struct txn *x = begin(c, true, &rc);
    if (!x)
        return rc;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(c->in, "TransactItems"), i, e)
    {
        const json_t *in = json_object_get(e, "Get");
        rc = ddb_many_add(c, &x->m, DDB_OP_GET,
                          json_string_value(json_object_get(in, "TableName")), in, MULTIPLE);
        if (rc)
            return rc;
    }
    return sl_call_write(c, txn_run, x, transacted);
}
