/*
 * Records that last a while: FIFO deduplication ids and receive attempts
 * (five minutes each). A record is JSON with its expiry "x" (ms) in kv ns
 * (pk the queue's id, sk its key); an index entry in nsx (sk
 * "<expiry>/<key>") orders them by expiry, so that each use sweeps the
 * few that expired first and the table never outgrows five minutes' worth.
 */
#include "services/sqs/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct sqs_expiring sqs_dedup_ids = {SQS_NS_DEDUP, SQS_NS_DEDUPX};
const struct sqs_expiring sqs_attempts = {SQS_NS_ATTEMPT, SQS_NS_ATTEMPTX};

/* Expiry of a stored record (0 when it has none). */
static int64_t expiry_of(const struct sl_item *it)
{
    json_t *rec = json_loadb(it->val, it->val_len, 0, NULL);
    int64_t x = json_integer_value(json_object_get(rec, "x"));
    json_decref(rec);
    return x;
}

/* Removes a few expired records of queue id, oldest first. A record goes
 * only if it is its index entry's: a put since may have replaced it. */
static int sweep(struct sl_txn *t, const struct sqs_expiring *e, const char *id, int64_t now)
{
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_txn_list(t, e->nsx, id, NULL, 8, &items, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        const char *slash = strchr(items[i].sk, '/');
        int64_t at = strtoll(items[i].sk, NULL, 10);
        if (!slash || at > now)
            break;
        struct sl_item it;
        if (sl_txn_get(t, e->ns, id, slash + 1, &it) == 0) {
            bool mine = expiry_of(&it) == at;
            sl_item_free(&it);
            if (mine)
                rc = sl_txn_delete(t, e->ns, id, slash + 1);
        }
        if (!rc)
            rc = sl_txn_delete(t, e->nsx, id, items[i].sk);
    }
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return rc;
}

int sqs_expiring_get(struct sl_txn *t, const struct sqs_expiring *e, const char *id,
                     const char *key, int64_t now, json_t **out)
{
    *out = NULL;
    int rc = sweep(t, e, id, now);
    struct sl_item it;
    if (rc || sl_txn_get(t, e->ns, id, key, &it) != 0)
        return rc;
    json_t *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    if (json_integer_value(json_object_get(rec, "x")) > now)
        *out = rec;
    else
        json_decref(rec);
    return 0;
}

int sqs_expiring_put(struct sl_txn *t, const struct sqs_expiring *e, const char *id,
                     const char *key, json_t *rec, int64_t until)
{
    char xk[512];
    if ((size_t)snprintf(xk, sizeof(xk), "%013lld/%s", (long long)until, key) >= sizeof(xk))
        return SL_EINVAL;
    json_object_set_new(rec, "x", json_integer(until));
    char *text = json_dumps(rec, JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    int rc = sl_txn_put(t, e->ns, id, key, text, strlen(text), NULL);
    free(text);
    return rc ? rc : sl_txn_put(t, e->nsx, id, xk, "", 0, NULL);
}

int sqs_expiring_drop(struct sl_txn *t, const char *id)
{
    const struct sqs_expiring *all[] = {&sqs_dedup_ids, &sqs_attempts};
    int rc = 0;
    for (size_t i = 0; !rc && i < SL_ARRAY_LEN(all); i++) {
        rc = sl_txn_delete_pk(t, all[i]->ns, id, NULL);
        if (!rc)
            rc = sl_txn_delete_pk(t, all[i]->nsx, id, NULL);
    }
    return rc;
}
