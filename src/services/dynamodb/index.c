/*
 * DynamoDB secondary indexes kept with their table: an index's entries
 * (write.c) are dropped with it, and an index added to a table with items
 * (UpdateTable's GlobalSecondaryIndexUpdates) is filled from them in the
 * transaction that adds it, so it is complete as soon as it is ACTIVE.
 */
#include "services/dynamodb/internal.h"

#include <stdlib.h>
#include <string.h>

int ddb_index_drop(struct sl_txn *t, const struct ddb_index *ix)
{
    return sl_txn_delete_ns(t, ix->ns, NULL);
}

static const struct ddb_index *find(const struct ddb_table *tb, const char *ns)
{
    for (size_t i = 0; tb && i < tb->nix; i++)
        if (strcmp(tb->ix[i].ns, ns) == 0)
            return &tb->ix[i];
    return NULL;
}

/* Every item of the table into the entries of ix (a table with ix only). */
static int backfill(struct sl_txn *t, const struct ddb_table *tb, const struct ddb_index *ix)
{
    struct ddb_table one = *tb;
    one.ix = (struct ddb_index *)ix;
    one.nix = 1;
    one.stream_log = NULL;
    one.ttl_attr = NULL;
    char *pk = NULL, *next = NULL;
    int rc;
    char msg[512];
    while ((rc = sl_txn_next_pk(t, tb->items_ns, pk, &next)) == 0) {
        free(pk);
        pk = next;
        char *after = NULL;
        for (;;) {
            struct sl_item *items = NULL;
            size_t n = 0;
            rc = sl_txn_list(t, tb->items_ns, pk, after, 256, &items, &n);
            for (size_t i = 0; !rc && i < n; i++) {
                json_t *item = json_loadb(items[i].val, items[i].val_len, 0, NULL);
                struct ddb_key k = {pk, items[i].sk};
                /* (An item whose index key has the wrong type stays out of
                 * the index, as DynamoDB's backfill leaves it.) */
                if (item && ddb_apply(t, &one, &k, NULL, item, false, msg, sizeof(msg)) ==
                                SL_EINVAL)
                    rc = 0;
                json_decref(item);
            }
            free(after);
            after = n && !rc ? strdup(items[n - 1].sk) : NULL;
            for (size_t i = 0; i < n; i++)
                sl_item_free(&items[i]);
            free(items);
            if (rc || n < 256)
                break;
        }
        free(after);
        if (rc)
            break;
    }
    free(pk);
    return rc == SL_ENOTFOUND ? 0 : rc;
}

int ddb_indexes_sync(struct sl_txn *t, const struct ddb_table *was, json_t *rec)
{
    struct ddb_table now;
    int rc = ddb_table_parse(json_incref(rec), &now);
    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < was->nix; i++)
        if (!find(&now, was->ix[i].ns))
            rc = ddb_index_drop(t, &was->ix[i]);
    for (size_t i = 0; !rc && i < now.nix; i++)
        if (was->rec && !find(was, now.ix[i].ns))
            rc = backfill(t, &now, &now.ix[i]);
    ddb_table_clear(&now);
    return rc;
}
