/*
 * kv.c — items of the embedded store: reads outside transactions on a
 * pooled read-only connection (a snapshot of the last commit), and reads
 * and writes inside a transaction on the writer's connection. Replacing
 * or deleting an item schedules its blob file for removal after the
 * commit (store.c runs the schedule).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/internal.h"

/* A malloc'd NUL-terminated copy of n bytes (p may be NULL when n is 0). */
static char *dup_bytes(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

char *sl_store_col_dup(sqlite3_stmt *st, int col, size_t *len)
{
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (len)
        *len = n;
    return dup_bytes(sqlite3_column_blob(st, col), n);
}

static char *col_dup(sqlite3_stmt *st, int col)
{
    return sl_store_col_dup(st, col, NULL);
}

void sl_item_free(struct sl_item *it)
{
    if (!it)
        return;
    free(it->ns);
    free(it->pk);
    free(it->sk);
    free(it->val);
    sl_blob_free(&it->blob);
    memset(it, 0, sizeof *it);
}

/*
 * Fills the value and blob of it from the columns val, blob_file,
 * blob_size (and blob_inline when with_inline) that start at col.
 */
static int read_row(sqlite3_stmt *st, int col, bool with_inline, struct sl_item *it)
{
    it->val_len = (size_t)sqlite3_column_bytes(st, col);
    it->val = col_dup(st, col);
    if (!it->val)
        return SL_ENOMEM;
    if (sqlite3_column_type(st, col + 2) == SQLITE_NULL)
        return 0;
    it->has_blob = true;
    it->blob.size = (uint64_t)sqlite3_column_int64(st, col + 2);
    if (sqlite3_column_type(st, col + 1) != SQLITE_NULL) {
        it->blob.file_id = col_dup(st, col + 1);
        return it->blob.file_id ? 0 : SL_ENOMEM;
    }
    if (!with_inline)
        return 0;
    if ((uint64_t)sqlite3_column_bytes(st, col + 3) != it->blob.size)
        return SL_ECORRUPT;
    it->blob.inline_data = col_dup(st, col + 3);
    return it->blob.inline_data ? 0 : SL_ENOMEM;
}

static void bind_key(sqlite3_stmt *st, const char *ns, const char *pk, const char *sk)
{
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pk, -1, SQLITE_STATIC);
    if (sk)
        sqlite3_bind_text(st, 3, sk, -1, SQLITE_STATIC);
}

/* Reads one item, with its inline blob bytes, on connection c. */
static int get_item(struct sl_conn *c, const char *ns, const char *pk, const char *sk,
                    struct sl_item *out, struct sl_err *err)
{
    memset(out, 0, sizeof *out);
    if (!ns || !pk || !sk)
        return sl_errf(err, SL_EINVAL, "item key missing");
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, SL_STMT_GET, &st, err);
    if (rc)
        return rc;
    bind_key(st, ns, pk, sk);
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = sl_errf(err, SL_ENOTFOUND, "item %s/%s/%s not found", ns, pk, sk);
    } else if (src != SQLITE_ROW) {
        rc = sl_store_sqlite_err(c, src, err, "get item");
    } else {
        out->ns = strdup(ns);
        out->pk = strdup(pk);
        out->sk = strdup(sk);
        rc = out->ns && out->pk && out->sk ? read_row(st, 0, true, out) : SL_ENOMEM;
        if (rc)
            sl_errf(err, rc, "item %s/%s/%s: %s", ns, pk, sk, sl_strerror(rc));
    }
    sqlite3_reset(st);
    if (rc)
        sl_item_free(out);
    return rc;
}

int sl_kv_get(struct sl_store *s, const char *ns, const char *pk, const char *sk,
              struct sl_item *out)
{
    struct sl_err err = {0};
    struct sl_conn *c = NULL;
    memset(out, 0, sizeof *out);
    if (!s)
        return SL_EINVAL;
    int rc = sl_store_reader_get(s, &c, &err);
    if (!rc)
        rc = get_item(c, ns, pk, sk, out, &err);
    sl_store_reader_put(s, c);
    if (rc && rc != SL_ENOTFOUND && rc != SL_EINVAL)
        sl_warn(SL_STORE_LOG, "kv get: %s", err.msg);
    return rc;
}

/* The smallest string greater than every string starting with prefix, or
 * NULL (in *out) when there is none: the prefix is empty or all 0xFF. */
static int prefix_successor(const char *prefix, char **out)
{
    *out = NULL;
    size_t n = strlen(prefix);
    while (n > 0 && (unsigned char)prefix[n - 1] == 0xFF)
        n--;
    if (n == 0)
        return 0;
    char *succ = dup_bytes(prefix, n);
    if (!succ)
        return SL_ENOMEM;
    succ[n - 1] = (char)((unsigned char)succ[n - 1] + 1);
    *out = succ;
    return 0;
}

/*
 * Lists items of (ns, pk) on connection c: ascending after `bound`
 * (exclusive) as sl_kv_list, or with desc descending before `bound`
 * (exclusive) as sl_kv_list_desc.
 */
static int list_on(struct sl_conn *c, const char *ns, const char *pk, const char *prefix,
                   const char *bound, bool desc, size_t limit, struct sl_item **items,
                   size_t *count, struct sl_err *err)
{
    sqlite3_stmt *st = NULL;
    struct sl_item *v = NULL;
    size_t n = 0, cap = 0;
    char *upper = NULL;
    *items = NULL;
    *count = 0;
    if (limit == 0)
        return 0;

    /* One range on the primary key. Ascending: sk from the larger of
     * prefix and after, up to (not including) the successor of prefix.
     * Descending: sk from prefix up to (not including) the smaller of
     * before and the successor of prefix. */
    const char *lower = prefix ? prefix : "";
    int rc = prefix_successor(prefix ? prefix : "", &upper);
    if (rc)
        goto fail;
    enum sl_stmt_id id;
    if (desc) {
        if (bound && (!upper || strcmp(bound, upper) < 0)) {
            free(upper);
            upper = strdup(bound);
            if (!upper) {
                rc = SL_ENOMEM;
                goto fail;
            }
        }
        id = upper ? SL_STMT_LIST_DESC_LT : SL_STMT_LIST_DESC;
    } else {
        bool exclusive = false;
        if (bound && strcmp(bound, lower) >= 0) { /* strcmp compares bytes unsigned */
            lower = bound;
            exclusive = true;
        }
        id = exclusive ? (upper ? SL_STMT_LIST_GT_LT : SL_STMT_LIST_GT)
                       : (upper ? SL_STMT_LIST_GE_LT : SL_STMT_LIST_GE);
    }
    rc = sl_store_stmt(c, id, &st, err);
    if (rc)
        goto fail;
    bind_key(st, ns, pk, lower);
    sqlite3_bind_int64(st, 4, limit > INT64_MAX ? -1 : (int64_t)limit);
    if (upper)
        sqlite3_bind_text(st, 5, upper, -1, SQLITE_STATIC);

    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : SL_MIN(limit, (size_t)16);
            struct sl_item *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = SL_ENOMEM;
                goto fail;
            }
            v = nv;
            cap = ncap;
        }
        struct sl_item *it = &v[n++];
        memset(it, 0, sizeof *it);
        it->ns = strdup(ns);
        it->pk = strdup(pk);
        it->sk = col_dup(st, 0);
        rc = it->ns && it->pk && it->sk ? read_row(st, 1, false, it) : SL_ENOMEM;
        if (rc)
            goto fail;
    }
    if (src != SQLITE_DONE) {
        rc = sl_store_sqlite_err(c, src, err, "list items");
        goto fail;
    }
    sqlite3_reset(st);
    free(upper);
    *items = v;
    *count = n;
    return 0;
fail:
    if (st)
        sqlite3_reset(st);
    for (size_t i = 0; i < n; i++)
        sl_item_free(&v[i]);
    free(v);
    free(upper);
    return rc;
}

/* sl_kv_list and sl_kv_list_desc: one listing on a pooled reader. */
static int list_reader(struct sl_store *s, const char *ns, const char *pk, const char *prefix,
                       const char *bound, bool desc, size_t limit, struct sl_item **items,
                       size_t *count)
{
    struct sl_err err = {0};
    struct sl_conn *c = NULL;
    *items = NULL;
    *count = 0;
    if (!s || !ns || !pk)
        return SL_EINVAL;
    if (limit == 0)
        return 0;
    int rc = sl_store_reader_get(s, &c, &err);
    if (!rc)
        rc = list_on(c, ns, pk, prefix, bound, desc, limit, items, count, &err);
    sl_store_reader_put(s, c);
    if (rc && rc != SL_ENOMEM)
        sl_warn(SL_STORE_LOG, "kv list %s/%s: %s", ns, pk, err.msg);
    return rc;
}

int sl_kv_list(struct sl_store *s, const char *ns, const char *pk, const char *prefix,
               const char *after, size_t limit, struct sl_item **items, size_t *count)
{
    return list_reader(s, ns, pk, prefix, after, false, limit, items, count);
}

int sl_kv_list_desc(struct sl_store *s, const char *ns, const char *pk, const char *prefix,
                    const char *before, size_t limit, struct sl_item **items, size_t *count)
{
    return list_reader(s, ns, pk, prefix, before, true, limit, items, count);
}

int sl_txn_list(struct sl_txn *t, const char *ns, const char *pk, const char *after,
                size_t limit, struct sl_item **items, size_t *count)
{
    if (!ns || !pk)
        return sl_errf(t->err, SL_EINVAL, "item key missing");
    return list_on(&t->s->writer, ns, pk, NULL, after, false, limit, items, count, t->err);
}

int sl_txn_delete_pk(struct sl_txn *t, const char *ns, const char *pk, size_t *deleted)
{
    /* Item by item, so that each blob file is scheduled for removal. */
    size_t n_del = 0;
    for (;;) {
        struct sl_item *items = NULL;
        size_t n = 0;
        int rc = sl_txn_list(t, ns, pk, NULL, 256, &items, &n);
        for (size_t i = 0; !rc && i < n; i++) {
            rc = sl_txn_delete(t, ns, pk, items[i].sk);
            if (!rc)
                n_del++;
        }
        for (size_t i = 0; i < n; i++)
            sl_item_free(&items[i]);
        free(items);
        if (rc)
            return rc;
        if (n < 256)
            break;
    }
    if (deleted)
        *deleted = n_del;
    return 0;
}

int sl_txn_next_pk(struct sl_txn *t, const char *ns, const char *after, char **pk)
{
    struct sl_conn *c = &t->s->writer;
    *pk = NULL;
    if (!ns)
        return sl_errf(t->err, SL_EINVAL, "namespace missing");
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, after ? SL_STMT_PK_NEXT : SL_STMT_PK_FIRST, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    if (after)
        sqlite3_bind_text(st, 2, after, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && !(*pk = col_dup(st, 0)))
        rc = sl_errf(t->err, SL_ENOMEM, "out of memory");
    else if (src == SQLITE_DONE)
        rc = SL_ENOTFOUND;
    else if (src != SQLITE_ROW)
        rc = sl_store_sqlite_err(c, src, t->err, "list partition keys");
    sqlite3_reset(st);
    return rc;
}

int sl_txn_delete_ns(struct sl_txn *t, const char *ns, size_t *deleted)
{
    size_t total = 0;
    for (;;) {
        char *pk = NULL;
        /* (Each partition emptied in turn: the first one left is the next.) */
        int rc = sl_txn_next_pk(t, ns, NULL, &pk);
        if (rc == SL_ENOTFOUND)
            break;
        size_t n = 0;
        if (!rc)
            rc = sl_txn_delete_pk(t, ns, pk, &n);
        free(pk);
        if (!rc && n == 0) /* (the first partition would come again) */
            rc = sl_errf(t->err, SL_ECORRUPT, "partition of %s not deleted", ns);
        if (rc)
            return rc;
        total += n;
    }
    if (deleted)
        *deleted = total;
    return 0;
}

/*
 * Walks the distinct partition keys one index seek at a time (pk greater
 * than the last one), so the cost grows with the number of partitions,
 * not of items. One read transaction keeps the walk on one snapshot.
 */
int sl_kv_list_pks(struct sl_store *s, const char *ns, char ***pks, size_t *count)
{
    struct sl_err err = {0};
    struct sl_conn *c = NULL;
    char **v = NULL;
    size_t n = 0, cap = 0;
    *pks = NULL;
    *count = 0;
    if (!s || !ns)
        return SL_EINVAL;
    int rc = sl_store_reader_get(s, &c, &err);
    if (rc)
        goto fail;
    sqlite3_stmt *first = NULL, *next = NULL;
    rc = sl_store_stmt(c, SL_STMT_PK_FIRST, &first, &err);
    if (!rc)
        rc = sl_store_stmt(c, SL_STMT_PK_NEXT, &next, &err);
    if (!rc) {
        sqlite3_stmt *begin = NULL;
        rc = sl_store_stmt(c, SL_STMT_BEGIN_READ, &begin, &err);
        if (!rc) {
            int src = sqlite3_step(begin);
            sqlite3_reset(begin);
            if (src != SQLITE_DONE)
                rc = sl_store_sqlite_err(c, src, &err, "begin");
        }
    }
    if (rc)
        goto fail;
    for (;;) {
        sqlite3_stmt *st = n == 0 ? first : next;
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        if (n > 0)
            sqlite3_bind_text(st, 2, v[n - 1], -1, SQLITE_STATIC);
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE) {
            sqlite3_reset(st);
            break;
        }
        if (src != SQLITE_ROW) {
            rc = sl_store_sqlite_err(c, src, &err, "list partition keys");
            sqlite3_reset(st);
            goto fail;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                sqlite3_reset(st);
                rc = SL_ENOMEM;
                goto fail;
            }
            v = nv;
            cap = ncap;
        }
        v[n] = col_dup(st, 0);
        sqlite3_reset(st);
        if (!v[n]) {
            rc = SL_ENOMEM;
            goto fail;
        }
        n++;
    }
    sl_store_reader_put(s, c); /* ends the read transaction */
    *pks = v;
    *count = n;
    return 0;
fail:
    sl_store_reader_put(s, c);
    if (rc != SL_ENOMEM)
        sl_warn(SL_STORE_LOG, "kv list pks %s: %s", ns, err.msg);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return rc;
}

/* ---- inside a transaction (writer thread) ----------------------------- */

int sl_txn_get(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
               struct sl_item *out)
{
    return get_item(&t->s->writer, ns, pk, sk, out, t->err);
}

int sl_txn_exists(struct sl_txn *t, const char *ns, const char *pk, const char *sk)
{
    struct sl_item it;
    int rc = sl_txn_get(t, ns, pk, sk, &it);
    if (!rc)
        sl_item_free(&it);
    return rc;
}

int sl_txn_count(struct sl_txn *t, const char *ns, const char *pk, size_t limit,
                 size_t *count)
{
    struct sl_conn *c = &t->s->writer;
    *count = 0;
    if (!ns || !pk)
        return sl_errf(t->err, SL_EINVAL, "item key missing");
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, SL_STMT_COUNT, &st, t->err);
    if (rc)
        return rc;
    bind_key(st, ns, pk, NULL);
    sqlite3_bind_int64(st, 3, limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *count = (size_t)sqlite3_column_int64(st, 0);
    else
        rc = sl_store_sqlite_err(c, src, t->err, "count items");
    sqlite3_reset(st);
    return rc;
}

/*
 * The blob file of an existing item, malloc'd into *file (NULL when the
 * item has none). SL_ENOTFOUND when the item does not exist.
 */
static int old_file(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                    char **file)
{
    struct sl_conn *c = &t->s->writer;
    *file = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, SL_STMT_GET_FILE, &st, t->err);
    if (rc)
        return rc;
    bind_key(st, ns, pk, sk);
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = SL_ENOTFOUND;
    } else if (src != SQLITE_ROW) {
        rc = sl_store_sqlite_err(c, src, t->err, "get item");
    } else if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *file = col_dup(st, 0);
        if (!*file)
            rc = sl_errf(t->err, SL_ENOMEM, "out of memory");
    }
    sqlite3_reset(st);
    return rc;
}

/* Checks that blob can be stored: an inline blob has its bytes, a file
 * blob names a file of the blob directory that has the blob's size. */
static int check_blob(struct sl_txn *t, const struct sl_blob *b)
{
    if (!b->file_id) {
        if (b->size > INT_MAX)
            return sl_errf(t->err, SL_ETOOBIG, "inline blob of %llu bytes",
                           (unsigned long long)b->size);
        if (b->size > 0 && !b->inline_data)
            return sl_errf(t->err, SL_EINVAL, "inline blob without its bytes");
        return 0;
    }
    if (!sl_blob_id_valid(b->file_id))
        return sl_errf(t->err, SL_EINVAL, "bad blob file id");
    struct stat sb;
    if (fstatat(t->s->blob_fd, b->file_id, &sb, 0) != 0)
        return sl_errf(t->err, errno == ENOENT ? SL_EINVAL : SL_EIO, "blob file %s: %s",
                       b->file_id, strerror(errno));
    if ((uint64_t)sb.st_size != b->size)
        return sl_errf(t->err, SL_EINVAL, "blob file %s has %lld bytes, not %llu",
                       b->file_id, (long long)sb.st_size, (unsigned long long)b->size);
    return 0;
}

int sl_txn_put(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
               const char *val, size_t val_len, const struct sl_blob *blob)
{
    struct sl_conn *c = &t->s->writer;
    char *old = NULL;
    if (!ns || !pk || !sk || (!val && val_len))
        return sl_errf(t->err, SL_EINVAL, "item key or value missing");
    if (val_len > INT_MAX)
        return sl_errf(t->err, SL_ETOOBIG, "item value of %zu bytes", val_len);
    int rc = blob ? check_blob(t, blob) : 0;
    if (rc)
        return rc;
    rc = old_file(t, ns, pk, sk, &old);
    if (rc == SL_ENOTFOUND)
        rc = 0;
    if (!rc && old && blob && blob->file_id && strcmp(old, blob->file_id) == 0) {
        free(old); /* the item keeps its file: nothing to remove */
        old = NULL;
    }
    if (!rc && old && sl_store_unlink_reserve(t->s))
        rc = sl_errf(t->err, SL_ENOMEM, "out of memory");
    if (rc)
        goto fail;

    sqlite3_stmt *st = NULL;
    rc = sl_store_stmt(c, SL_STMT_PUT, &st, t->err);
    if (rc)
        goto fail;
    bind_key(st, ns, pk, sk);
    sqlite3_bind_blob(st, 4, val ? val : "", (int)val_len, SQLITE_STATIC);
    if (blob && blob->file_id) {
        sqlite3_bind_text(st, 5, blob->file_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, (int64_t)blob->size);
        sqlite3_bind_null(st, 7);
    } else if (blob) {
        sqlite3_bind_null(st, 5);
        sqlite3_bind_int64(st, 6, (int64_t)blob->size);
        sqlite3_bind_blob(st, 7, blob->inline_data ? blob->inline_data : "",
                          (int)blob->size, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 5);
        sqlite3_bind_null(st, 6);
        sqlite3_bind_null(st, 7);
    }
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE) {
        if ((src & 0xff) == SQLITE_CONSTRAINT)
            rc = sl_errf(t->err, SL_EINVAL, "put %s/%s/%s: blob already belongs to an item (%s)",
                         ns, pk, sk, sqlite3_errmsg(c->db));
        else
            rc = sl_store_sqlite_err(c, src, t->err, "put item");
        goto fail;
    }
    if (old)
        sl_store_unlink_push(t->s, old);
    if (blob && blob->file_id)
        t->put_file = true;
    return 0;
fail:
    free(old);
    return rc;
}

/* Runs statement which (key ?1-?3, value ?4) for insert or set_val; *src
 * is sqlite's result. 0, or an error before the statement ran. */
static int run_val_stmt(struct sl_txn *t, enum sl_stmt_id which, const char *ns, const char *pk,
                        const char *sk, const char *val, size_t val_len, int *src)
{
    if (!ns || !pk || !sk || (!val && val_len))
        return sl_errf(t->err, SL_EINVAL, "item key or value missing");
    if (val_len > INT_MAX)
        return sl_errf(t->err, SL_ETOOBIG, "item value of %zu bytes", val_len);
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(&t->s->writer, which, &st, t->err);
    if (rc)
        return rc;
    bind_key(st, ns, pk, sk);
    sqlite3_bind_blob(st, 4, val ? val : "", (int)val_len, SQLITE_STATIC);
    *src = sqlite3_step(st);
    sqlite3_reset(st);
    return 0;
}

int sl_txn_insert(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                  const char *val, size_t val_len)
{
    int src = SQLITE_OK;
    int rc = run_val_stmt(t, SL_STMT_INSERT, ns, pk, sk, val, val_len, &src);
    if (rc)
        return rc;
    if ((src & 0xff) == SQLITE_CONSTRAINT)
        return sl_errf(t->err, SL_EEXIST, "item %s/%s/%s exists", ns, pk, sk);
    if (src != SQLITE_DONE)
        return sl_store_sqlite_err(&t->s->writer, src, t->err, "insert item");
    return 0;
}

int sl_txn_set_val(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                   const char *val, size_t val_len)
{
    int src = SQLITE_OK;
    int rc = run_val_stmt(t, SL_STMT_SET_VAL, ns, pk, sk, val, val_len, &src);
    if (rc)
        return rc;
    if (src != SQLITE_DONE)
        return sl_store_sqlite_err(&t->s->writer, src, t->err, "update item");
    if (sqlite3_changes(t->s->writer.db) == 0)
        return sl_errf(t->err, SL_ENOTFOUND, "item %s/%s/%s not found", ns, pk, sk);
    return 0;
}

int sl_txn_delete(struct sl_txn *t, const char *ns, const char *pk, const char *sk)
{
    struct sl_conn *c = &t->s->writer;
    char *old = NULL;
    if (!ns || !pk || !sk)
        return sl_errf(t->err, SL_EINVAL, "item key missing");
    int rc = old_file(t, ns, pk, sk, &old);
    if (rc == SL_ENOTFOUND)
        return sl_errf(t->err, rc, "item %s/%s/%s not found", ns, pk, sk);
    if (!rc && old && sl_store_unlink_reserve(t->s))
        rc = sl_errf(t->err, SL_ENOMEM, "out of memory");
    if (rc)
        goto fail;
    sqlite3_stmt *st = NULL;
    rc = sl_store_stmt(c, SL_STMT_DELETE, &st, t->err);
    if (rc)
        goto fail;
    bind_key(st, ns, pk, sk);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE) {
        rc = sl_store_sqlite_err(c, src, t->err, "delete item");
        goto fail;
    }
    if (old)
        sl_store_unlink_push(t->s, old);
    return 0;
fail:
    free(old);
    return rc;
}
