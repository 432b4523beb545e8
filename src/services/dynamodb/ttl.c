/*
 * DynamoDB's Time to Live: UpdateTimeToLive and DescribeTimeToLive, and
 * the deletion of expired items. Each item whose TimeToLive attribute is
 * a number of epoch seconds has an entry in dynamodb.ttl (write.c), in
 * order of expiry, written with the item; the sweeper reads the earliest
 * entries, deletes the items that are due in one transaction (as a write
 * of the service: the stream record carries DynamoDB's userIdentity),
 * and sleeps on a timer until the next one is due, or until a write
 * touches the entries. It never polls.
 *
 * An entry may outlive what it stands for (the item changed, TimeToLive
 * was disabled, the table went): the sweeper checks the item as it is
 * before deleting it, and drops stale entries.
 */
#include "services/dynamodb/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

#define SWEEP_MAX 64 /* entries looked at per sweep */

struct ddb_ttl {
    struct sl_app *app;
    struct sl_inflight inflight;
    /* Loop thread only: */
    struct sl_timer *timer;
    bool sweeping, again;
    /* The sweep's transaction: */
    struct sl_item *due;
    size_t ndue;
    struct sl_err err;
    int result; /* the last sweep's transaction's */
};

static void sweep(struct ddb_ttl *st);

/* ---- the sweeper -------------------------------------------------------- */

/* The parts of an entry's sort key: its expiry, and the item's key. */
static bool entry_parse(const char *sk, int64_t *at, struct ddb_key *k)
{
    char *end;
    long long v = strtoll(sk, &end, 10);
    if (end != sk + 12 || *end != '\1')
        return false;
    const char *pk = end + 1, *sep = strchr(pk, '\1');
    if (!sep)
        return false;
    k->pk = strndup(pk, (size_t)(sep - pk));
    k->sk = strdup(sep + 1);
    if (!k->pk || !k->sk) {
        ddb_key_clear(k);
        return false;
    }
    *at = v;
    return true;
}

/* A closed stream past its retention (the entry's key: its pk and ARN):
 * its log and its listing dropped. */
static int drop_stream(struct sl_txn *t, const struct ddb_key *k)
{
    struct sl_item it;
    int rc = sl_txn_get(t, DDB_NS_STREAM, k->pk, k->sk, &it);
    if (rc)
        return rc == SL_ENOTFOUND ? 0 : rc;
    json_t *s = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    const char *log = json_string_value(json_object_get(s, "_log"));
    rc = log ? sl_txn_log_drop(t, log) : 0;
    json_decref(s);
    return rc ? rc : sl_txn_delete(t, DDB_NS_STREAM, k->pk, k->sk);
}

/* One due entry: the item deleted when it is still due, else the entry
 * dropped (or a closed stream's, dropped). */
static int expire_one(struct sl_txn *t, const struct sl_item *e, int64_t now)
{
    int64_t at;
    struct ddb_key k;
    if (!entry_parse(e->sk, &at, &k))
        return sl_txn_delete(t, DDB_NS_TTL, DDB_TTL_PK, e->sk);
    json_t *where = json_loadb(e->val, e->val_len, 0, NULL);
    if (json_object_get(where, "stream")) {
        json_decref(where);
        int rc = drop_stream(t, &k);
        ddb_key_clear(&k);
        return rc ? rc : sl_txn_delete(t, DDB_NS_TTL, DDB_TTL_PK, e->sk);
    }
    const char *account = json_string_value(json_object_get(where, "a"));
    const char *region = json_string_value(json_object_get(where, "r"));
    const char *name = json_string_value(json_object_get(where, "n"));
    char pk[96];
    ddb_pk(pk, sizeof(pk), account ? account : "", region ? region : "");
    struct ddb_table tb;
    int rc = name ? ddb_table_read_txn(t, pk, name, &tb) : SL_ENOTFOUND;
    json_decref(where);
    json_t *item = NULL;
    /* (A table that cannot be read is as good as gone for its entries:
     * one bad record must not hold back every table's.) */
    bool stale = rc == SL_ENOTFOUND || rc == SL_ECORRUPT;
    if (!rc) {
        size_t idn = strlen(tb.id);
        stale = strncmp(k.pk, tb.id, idn) != 0 || k.pk[idn] != '/';
        struct sl_item it;
        int grc = stale ? SL_ENOTFOUND : sl_txn_get(t, tb.items_ns, k.pk, k.sk, &it);
        if (!grc) {
            item = json_loadb(it.val, it.val_len, 0, NULL);
            sl_item_free(&it);
        } else if (grc != SL_ENOTFOUND) {
            rc = grc;
        }
        int64_t due = ddb_ttl_of(&tb, item);
        stale = stale || !item || due < 0 || due > now || due != at;
        char msg[256];
        if (!rc && !stale)
            rc = ddb_apply(t, &tb, &k, item, NULL, true, msg, sizeof(msg));
        ddb_table_clear(&tb);
    } else if (stale) {
        rc = 0;
    }
    json_decref(item);
    ddb_key_clear(&k);
    if (!rc && stale) {
        rc = sl_txn_delete(t, DDB_NS_TTL, DDB_TTL_PK, e->sk);
        if (rc == SL_ENOTFOUND)
            rc = 0;
    }
    return rc;
}

static int expire_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct ddb_ttl *st = arg;
    int64_t now = sl_time_now_ms() / 1000;
    int rc = 0;
    for (size_t i = 0; !rc && i < st->ndue; i++)
        rc = expire_one(t, &st->due[i], now);
    return rc;
}

static void free_due(struct ddb_ttl *st)
{
    for (size_t i = 0; i < st->ndue; i++)
        sl_item_free(&st->due[i]);
    free(st->due);
    st->due = NULL;
    st->ndue = 0;
}

/* Loop thread: the sweep's transaction is done; the next sweep. */
static void fire(struct sl_loop *l, void *arg);

static void expired(struct sl_loop *l, void *arg)
{
    struct ddb_ttl *st = arg;
    free_due(st);
    st->sweeping = false;
    if (!sl_inflight_stopping(&st->inflight)) {
        if (!st->result)
            sweep(st);
        else if (!st->timer) /* (a failure: again in a second, not at once) */
            st->timer = sl_loop_timer(l, sl_loop_now_ms() + 1000, fire, st);
    }
    sl_inflight_drop(&st->inflight);
}

/* Writer thread. */
static void expire_done(void *arg, int result)
{
    struct ddb_ttl *st = arg;
    st->result = result;
    if (result)
        sl_log(SL_LOG_WARN, "dynamodb", "TimeToLive deletions failed: %s",
               st->err.msg[0] ? st->err.msg : sl_strerror(result));
    if (sl_loop_post(st->app->loop, expired, st)) {
        free_due(st);
        sl_inflight_drop(&st->inflight);
    }
}

static void fire(struct sl_loop *l, void *arg)
{
    (void)l;
    struct ddb_ttl *st = arg;
    st->timer = NULL;
    sweep(st);
}

/* Loop thread: deletes what is due, or sleeps until the next is. */
static void sweep(struct ddb_ttl *st)
{
    if (st->sweeping) {
        st->again = true;
        return;
    }
    st->again = false;
    if (st->timer) {
        sl_loop_timer_cancel(st->app->loop, st->timer);
        st->timer = NULL;
    }
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(st->app->store, DDB_NS_TTL, DDB_TTL_PK, NULL, NULL, SWEEP_MAX, &items,
                        &n);
    if (rc) {
        sl_log(SL_LOG_WARN, "dynamodb", "TimeToLive entries cannot be read: %s",
               sl_strerror(rc));
        return;
    }
    int64_t now_ms = sl_time_now_ms();
    size_t due = 0;
    int64_t next = -1;
    for (; due < n; due++) {
        long long at = strtoll(items[due].sk, NULL, 10);
        if (at * 1000 > now_ms) {
            next = at * 1000;
            break;
        }
    }
    for (size_t i = due; i < n; i++)
        sl_item_free(&items[i]);
    if (!due) {
        free(items);
        if (next >= 0)
            st->timer = sl_loop_timer(st->app->loop, sl_loop_now_ms() + (next - now_ms), fire,
                                      st);
        return;
    }
    st->due = items;
    st->ndue = due;
    st->sweeping = true;
    sl_inflight_hold(&st->inflight);
    memset(&st->err, 0, sizeof(st->err));
    if (sl_store_submit(st->app->store, expire_txn, st, &st->err, expire_done, st)) {
        free_due(st);
        st->sweeping = false;
        sl_inflight_drop(&st->inflight);
    }
}

static void kick(struct sl_loop *l, void *arg)
{
    (void)l;
    struct ddb_ttl *st = arg;
    if (!sl_inflight_stopping(&st->inflight))
        sweep(st);
    sl_inflight_drop(&st->inflight);
}

/* Writer thread: a batch touched the entries. */
static void touched(void *arg)
{
    struct ddb_ttl *st = arg;
    if (sl_inflight_stopping(&st->inflight))
        return;
    sl_inflight_hold(&st->inflight);
    if (sl_loop_post(st->app->loop, kick, st))
        sl_inflight_drop(&st->inflight);
}

int ddb_ttl_new(struct sl_app *app, struct ddb_ttl **out)
{
    struct ddb_ttl *st = calloc(1, sizeof(*st));
    if (!st)
        return SL_ENOMEM;
    st->app = app;
    sl_inflight_init(&st->inflight);
    *out = st;
    return 0;
}

int ddb_ttl_start(struct ddb_ttl *st)
{
    int rc = sl_store_queue_watch(st->app->store, DDB_NS_TTL, touched, st);
    if (!rc)
        touched(st); /* (what was due while Sluice was down) */
    return rc;
}

static void stop_timer(struct sl_loop *l, void *arg)
{
    struct ddb_ttl *st = arg;
    if (st->timer)
        sl_loop_timer_cancel(l, st->timer);
    st->timer = NULL;
}

void ddb_ttl_stop(struct ddb_ttl *st)
{
    if (sl_inflight_stop(&st->inflight))
        return;
    sl_store_queue_unwatch(st->app->store, touched, st);
    sl_loop_call(st->app->loop, stop_timer, st);
    sl_inflight_wait(&st->inflight);
}

void ddb_ttl_free(struct ddb_ttl *st)
{
    if (!st)
        return;
    sl_inflight_destroy(&st->inflight);
    free(st);
}

/* ---- the API ------------------------------------------------------------- */

struct ttl_update {
    struct ddb_table t;
    char pk[96];
    bool enable;
    const char *attr;
    char msg[256];
};

static void ttl_update_free(struct sl_call *c)
{
    struct ttl_update *u = c->state;
    if (u)
        ddb_table_clear(&u->t);
}

/* The table's items' entries, when TimeToLive is enabled on it. */
static int backfill(struct sl_txn *t, const struct ddb_table *tb)
{
    char *pk = NULL, *next = NULL;
    int rc;
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
                if (item)
                    rc = ddb_ttl_apply(t, tb, &k, NULL, item);
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

static int ttl_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct ttl_update *u = arg;
    struct ddb_table tb;
    int rc = ddb_table_read_txn(t, u->pk, u->t.name, &tb);
    if (rc)
        return rc;
    if (strcmp(tb.id, u->t.id) != 0) {
        ddb_table_clear(&tb);
        return SL_ENOTFOUND;
    }
    if (u->enable == (tb.ttl_attr != NULL)) {
        snprintf(u->msg, sizeof(u->msg), "TimeToLive is already %s",
                 u->enable ? "enabled" : "disabled");
        ddb_table_clear(&tb);
        return SL_EINVAL;
    }
    if (u->enable)
        json_object_set_new(tb.rec, "_ttl_attr", json_string(u->attr));
    else
        json_object_del(tb.rec, "_ttl_attr");
    rc = ddb_table_put_txn(t, u->pk, tb.rec, tb.version);
    if (!rc && u->enable) {
        tb.ttl_attr = u->attr;
        rc = backfill(t, &tb);
        sl_txn_queue_touch(t, DDB_NS_TTL);
    }
    ddb_table_clear(&tb);
    return rc;
}

static int ttl_updated(struct sl_call *c)
{
    struct ttl_update *u = c->write_arg;
    ddb_tables_changed(c->app);
    if (c->write_rc == SL_EINVAL)
        return sl_call_fail(c, DDB_E_VALIDATION, "%s", u->msg);
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, DDB_E_NOT_FOUND, "Requested resource not found");
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return sl_call_ok(c, json_pack("{s:O}", "TimeToLiveSpecification",
                                   json_object_get(c->in, "TimeToLiveSpecification")));
}

SL_OP(dynamodb, UpdateTimeToLive)
{
    struct ttl_update *u = sl_call_alloc(c, sizeof(*u));
    if (!u)
        return SL_ENOMEM;
    int rc = ddb_call_table(c, &u->t);
    if (rc)
        return rc;
    c->state = u;
    c->state_free = ttl_update_free;
    ddb_pk(u->pk, sizeof(u->pk), c->account, c->region);
    json_t *spec = json_object_get(c->in, "TimeToLiveSpecification");
    u->enable = json_is_true(json_object_get(spec, "Enabled"));
    u->attr = json_string_value(json_object_get(spec, "AttributeName"));
    if (!u->attr || !*u->attr)
        return sl_call_fail(c, DDB_E_VALIDATION, "1 validation error detected: Value null at "
                                                 "'timeToLiveSpecification.attributeName' "
                                                 "failed to satisfy constraint: Member must "
                                                 "not be null");
    if (!u->enable && u->t.ttl_attr && strcmp(u->t.ttl_attr, u->attr) != 0)
        return sl_call_fail(c, DDB_E_VALIDATION, "TimeToLive is active on a different "
                                                 "AttributeName: current AttributeName is %s",
                            u->t.ttl_attr);
    return sl_call_write(c, ttl_txn, u, ttl_updated);
}

SL_OP(dynamodb, DescribeTimeToLive)
{
    struct ddb_table t;
    int rc = ddb_call_table(c, &t);
    if (rc)
        return rc;
    json_t *d = t.ttl_attr ? json_pack("{s:s, s:s}", "TimeToLiveStatus", "ENABLED",
                                       "AttributeName", t.ttl_attr)
                           : json_pack("{s:s}", "TimeToLiveStatus", "DISABLED");
    ddb_table_clear(&t);
    return sl_call_ok(c, json_pack("{s:o}", "TimeToLiveDescription", d));
}
