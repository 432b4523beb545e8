/*
 * store/queue.c — the queue primitive (store.h): messages in the queue
 * table, leased by receivers, with the watches that wake a consumer once
 * a put has committed.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

void sl_qmsg_free(struct sl_qmsg *m)
{
    if (!m)
        return;
    free(m->body);
    free(m->meta);
    free(m->group);
    memset(m, 0, sizeof(*m));
}

void sl_qmsgs_free(struct sl_qmsg *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl_qmsg_free(&v[i]);
    free(v);
}

/* Runs a statement of the writer's that returns no rows; *changes counts
 * the rows it changed. */
static int step_write(struct sl_txn *t, sqlite3_stmt *st, const char *what, int *changes)
{
    struct sl_conn *c = &t->s->writer;
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_DONE)
        return sl_store_sqlite_err(c, src, t->err, what);
    if (changes)
        *changes = sqlite3_changes(c->db);
    return 0;
}

/* Notes that the batch put to q, for the prefix watches that match it. */
void sl_store_note_put(struct sl_txn *t, const char *q)
{
    struct sl_store *s = t->s;
    /* Appends come in runs to one log: noted once per run. */
    if (t->noted[0] && strcmp(t->noted, q) == 0)
        return;
    sl_strlcpy(t->noted, q, sizeof(t->noted));
    pthread_mutex_lock(&s->mu);
    bool watched = false;
    for (size_t i = 0; i < s->n_pwatches && !watched; i++)
        watched = s->pwatches[i].cb &&
                  strncmp(q, s->pwatches[i].prefix, strlen(s->pwatches[i].prefix)) == 0;
    for (size_t i = 0; i < s->n_watches; i++)
        if (s->watches[i].cb && strcmp(s->watches[i].q, q) == 0)
            t->queued |= 1u << i;
    pthread_mutex_unlock(&s->mu);
    if (!watched || s->put_names_over)
        return;
    /* (Only the writer thread touches the names.) */
    for (size_t i = s->n_put_names; i-- > 0;)
        if (strcmp(s->put_names[i], q) == 0)
            return;
    char *name = s->n_put_names < SL_QUEUE_PUT_NAMES_MAX ? strdup(q) : NULL;
    if (!name) {
        s->put_names_over = true; /* the watches hear of "some queue" */
        return;
    }
    s->put_names[s->n_put_names++] = name;
}

void sl_store_put_names_flush(struct sl_store *s, bool notify)
{
    if (notify && (s->n_put_names || s->put_names_over)) {
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->n_pwatches; i++) {
            struct sl_queue_pwatch *w = &s->pwatches[i];
            if (!w->cb)
                continue;
            if (s->put_names_over)
                w->cb(w->arg, NULL);
            for (size_t k = 0; k < s->n_put_names && !s->put_names_over; k++)
                if (strncmp(s->put_names[k], w->prefix, strlen(w->prefix)) == 0)
                    w->cb(w->arg, s->put_names[k]);
        }
        pthread_mutex_unlock(&s->mu);
    }
    for (size_t i = 0; i < s->n_put_names; i++)
        free(s->put_names[i]);
    s->n_put_names = 0;
    s->put_names_over = false;
}

void sl_txn_queue_touch(struct sl_txn *t, const char *q)
{
    sl_store_note_put(t, q);
}

int sl_txn_queue_put(struct sl_txn *t, const char *q, const char *group, const void *body,
                     size_t body_len, const char *meta, int64_t visible_ms, int64_t *id)
{
    struct sl_conn *c = &t->s->writer;
    if (!q || (!body && body_len))
        return sl_errf(t->err, SL_EINVAL, "queue name or body missing");
    if (body_len > INT_MAX || (meta && strlen(meta) > INT_MAX))
        return sl_errf(t->err, SL_ETOOBIG, "queue message of %zu bytes", body_len);
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, SL_STMT_Q_PUT, &st, t->err);
    if (rc)
        return rc;
    int64_t now = sl_time_now_ms();
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, visible_ms > now ? visible_ms : now);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_blob(st, 4, body ? body : "", (int)body_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, meta ? meta : "", meta ? (int)strlen(meta) : 0, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, group ? group : "", -1, SQLITE_STATIC);
    rc = step_write(t, st, "queue put", NULL);
    if (rc)
        return rc;
    if (id)
        *id = sqlite3_last_insert_rowid(c->db);
    sl_store_note_put(t, q);
    return 0;
}

/* Reads the rows of st (bound by the caller) into messages. */
static int read_rows(struct sl_txn *t, sqlite3_stmt *st, const char *what, struct sl_qmsg **out,
                     size_t *n)
{
    struct sl_conn *c = &t->s->writer;
    struct sl_qmsg *v = NULL;
    size_t k = 0, cap = 0;
    int rc = 0, src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            struct sl_qmsg *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                rc = sl_errf(t->err, SL_ENOMEM, "%s: out of memory", what);
                break;
            }
            v = nv;
            cap = ncap;
        }
        struct sl_qmsg *m = &v[k];
        memset(m, 0, sizeof(*m));
        m->id = sqlite3_column_int64(st, 0);
        m->receives = (uint32_t)sqlite3_column_int64(st, 1);
        m->enqueued_ms = sqlite3_column_int64(st, 2);
        m->visible_ms = sqlite3_column_int64(st, 3);
        m->body = sl_store_col_dup(st, 4, &m->body_len);
        m->meta = sl_store_col_dup(st, 5, &m->meta_len);
        m->group = sl_store_col_dup(st, 6, NULL);
        m->first_ms = sqlite3_column_int64(st, 7);
        m->leased = sqlite3_column_int64(st, 8) != 0;
        k++;
        if (!m->body || !m->meta || !m->group) {
            rc = sl_errf(t->err, SL_ENOMEM, "%s: out of memory", what);
            break;
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (!rc && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sl_store_sqlite_err(c, src, t->err, what);
    if (rc) {
        sl_qmsgs_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

int sl_txn_queue_scan(struct sl_txn *t, const char *q, const char *group, int64_t now_ms,
                      size_t max, struct sl_qmsg **out, size_t *n)
{
    struct sl_conn *c = &t->s->writer;
    *out = NULL;
    *n = 0;
    if (!q)
        return sl_errf(t->err, SL_EINVAL, "queue name missing");
    if (max == 0)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, group ? SL_STMT_Q_RECEIVE_GROUP : SL_STMT_Q_RECEIVE, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, max > INT_MAX ? INT_MAX : (sqlite3_int64)max);
    if (group)
        sqlite3_bind_text(st, 4, group, -1, SQLITE_STATIC);
    return read_rows(t, st, "queue scan", out, n);
}

int sl_txn_queue_scan_fifo(struct sl_txn *t, const char *q, const char *group, size_t max,
                           struct sl_qmsg **out, size_t *n)
{
    struct sl_conn *c = &t->s->writer;
    *out = NULL;
    *n = 0;
    if (!q || !group || !*group)
        return sl_errf(t->err, SL_EINVAL, "queue or group name missing");
    if (max == 0)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, SL_STMT_Q_SCAN_FIFO, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, max > INT_MAX ? INT_MAX : (sqlite3_int64)max);
    return read_rows(t, st, "queue scan", out, n);
}

int sl_txn_queue_get(struct sl_txn *t, const char *q, int64_t id, struct sl_qmsg *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(&t->s->writer, SL_STMT_Q_GET, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    struct sl_qmsg *v = NULL;
    size_t n = 0;
    rc = read_rows(t, st, "queue get", &v, &n);
    if (!rc && n == 0)
        rc = SL_ENOTFOUND;
    if (!rc)
        *out = v[0];
    free(v);
    return rc;
}

int sl_txn_queue_next_group(struct sl_txn *t, const char *q, const char *after, char **group)
{
    struct sl_conn *c = &t->s->writer;
    *group = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, SL_STMT_Q_GROUP_AFTER, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, after ? after : "", -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *group = sl_store_col_dup(st, 0, NULL);
        if (!*group)
            rc = sl_errf(t->err, SL_ENOMEM, "queue groups: out of memory");
    } else if (src == SQLITE_DONE) {
        rc = SL_ENOTFOUND;
    } else {
        rc = sl_store_sqlite_err(c, src, t->err, "queue groups");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int sl_txn_queue_lease(struct sl_txn *t, const char *q, struct sl_qmsg *m, int64_t now_ms,
                       int64_t until_ms)
{
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(&t->s->writer, SL_STMT_Q_LEASE, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, m->id);
    sqlite3_bind_int64(st, 3, until_ms);
    sqlite3_bind_int64(st, 4, now_ms);
    int changes = 0;
    rc = step_write(t, st, "queue lease", &changes);
    if (!rc && changes == 0)
        return sl_errf(t->err, SL_ENOTFOUND, "queue lease: message %lld of %s is gone",
                       (long long)m->id, q);
    if (!rc) {
        m->receives++;
        m->visible_ms = until_ms;
        m->leased = true;
        if (!m->first_ms)
            m->first_ms = now_ms;
    }
    return rc;
}

int sl_txn_queue_receive(struct sl_txn *t, const char *q, const char *group, int64_t now_ms,
                         int64_t lease_ms, size_t max, struct sl_qmsg **out, size_t *n)
{
    int rc = sl_txn_queue_scan(t, q, group, now_ms, max, out, n);
    for (size_t i = 0; !rc && i < *n; i++)
        rc = sl_txn_queue_lease(t, q, &(*out)[i], now_ms, now_ms + lease_ms);
    if (rc) {
        sl_qmsgs_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* Runs st (its other parameters bound) for q and message id (?1, ?2);
 * SL_ENOTFOUND when it changed no row. */
static int id_write(struct sl_txn *t, sqlite3_stmt *st, const char *q, int64_t id,
                    const char *what)
{
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    int changes = 0;
    int rc = step_write(t, st, what, &changes);
    if (!rc && changes == 0)
        rc = sl_errf(t->err, SL_ENOTFOUND, "%s: message %lld of %s is gone", what,
                     (long long)id, q);
    return rc;
}

int sl_txn_queue_remove(struct sl_txn *t, const char *q, int64_t id)
{
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(&t->s->writer, SL_STMT_Q_REMOVE, &st, t->err);
    return rc ? rc : id_write(t, st, q, id, "queue remove");
}

int sl_txn_queue_move(struct sl_txn *t, const char *q, int64_t id, const char *to,
                      const char *meta, int64_t visible_ms)
{
    if (!to || !meta || strlen(meta) > INT_MAX)
        return sl_errf(t->err, SL_EINVAL, "queue move: no destination or meta");
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(&t->s->writer, SL_STMT_Q_MOVE, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, visible_ms);
    sqlite3_bind_blob(st, 5, meta, (int)strlen(meta), SQLITE_STATIC);
    rc = id_write(t, st, q, id, "queue move");
    if (!rc)
        sl_store_note_put(t, to);
    return rc;
}

int sl_txn_queue_visibility(struct sl_txn *t, const char *q, int64_t id, uint32_t receives,
                            int64_t now_ms, int64_t visible_ms)
{
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(&t->s->writer, SL_STMT_Q_VISIBILITY, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, receives);
    sqlite3_bind_int64(st, 4, visible_ms);
    sqlite3_bind_int64(st, 5, now_ms);
    rc = id_write(t, st, q, id, "queue visibility");
    if (!rc && visible_ms <= now_ms)
        sl_store_note_put(t, q); /* visible again now: as good as a put */
    return rc;
}

int sl_txn_queue_purge(struct sl_txn *t, const char *q, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(&t->s->writer, SL_STMT_Q_PURGE, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    int changes = 0;
    rc = step_write(t, st, "queue purge", &changes);
    if (!rc && n)
        *n = (size_t)changes;
    return rc;
}

static int receipt_write(struct sl_txn *t, enum sl_stmt_id id_stmt, const char *q, int64_t id,
                         uint32_t receives, int64_t visible_ms, const char *meta,
                         const char *what)
{
    struct sl_conn *c = &t->s->writer;
    if (!q)
        return sl_errf(t->err, SL_EINVAL, "queue name missing");
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, id_stmt, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int64(st, 3, receives);
    if (id_stmt != SL_STMT_Q_DELETE)
        sqlite3_bind_int64(st, 4, visible_ms);
    if (id_stmt == SL_STMT_Q_UPDATE)
        sqlite3_bind_blob(st, 5, meta, (int)strlen(meta), SQLITE_STATIC);
    int changes = 0;
    rc = step_write(t, st, what, &changes);
    if (!rc && changes == 0)
        rc = sl_errf(t->err, SL_ENOTFOUND, "%s: message %lld (receive %u) of %s is gone", what,
                     (long long)id, receives, q);
    return rc;
}

int sl_txn_queue_delete(struct sl_txn *t, const char *q, int64_t id, uint32_t receives)
{
    return receipt_write(t, SL_STMT_Q_DELETE, q, id, receives, 0, NULL, "queue delete");
}

int sl_txn_queue_update(struct sl_txn *t, const char *q, int64_t id, uint32_t receives,
                        int64_t visible_ms, const char *meta)
{
    if (meta && strlen(meta) > INT_MAX)
        return sl_errf(t->err, SL_ETOOBIG, "queue meta too big");
    return receipt_write(t, meta ? SL_STMT_Q_UPDATE : SL_STMT_Q_UPDATE_KEEP_META, q, id,
                         receives, visible_ms, meta, "queue update");
}

int sl_txn_queue_release(struct sl_txn *t, const char *q, int64_t now_ms, size_t *n)
{
    struct sl_conn *c = &t->s->writer;
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, SL_STMT_Q_RELEASE, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int changes = 0;
    rc = step_write(t, st, "queue release", &changes);
    if (!rc && n)
        *n = (size_t)changes;
    return rc;
}

/* One int64 from a query of q (and group, when not NULL) on connection c;
 * SL_ENOTFOUND for NULL. */
static int conn_read_int(struct sl_conn *c, enum sl_stmt_id id, const char *q, const char *group,
                         int64_t *out, struct sl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, id, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    if (group)
        sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *out = sqlite3_column_int64(st, 0);
    else if (src == SQLITE_ROW)
        rc = SL_ENOTFOUND;
    else
        rc = sl_store_sqlite_err(c, src, err, "queue read");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* The same on a reader of the store. */
static int read_int(struct sl_store *s, enum sl_stmt_id id, const char *q, const char *group,
                    int64_t *out)
{
    struct sl_err err = {0};
    struct sl_conn *c = NULL;
    int rc = sl_store_reader_get(s, &c, &err);
    if (!rc)
        rc = conn_read_int(c, id, q, group, out, &err);
    sl_store_reader_put(s, c);
    if (rc && rc != SL_ENOTFOUND)
        sl_warn(SL_STORE_LOG, "%s", err.msg);
    return rc;
}

int sl_queue_next_visible(struct sl_store *s, const char *q, int64_t *ms)
{
    return read_int(s, SL_STMT_Q_NEXT, q, NULL, ms);
}

int sl_queue_next_visible_group(struct sl_store *s, const char *q, const char *group,
                                int64_t *ms)
{
    return read_int(s, SL_STMT_Q_NEXT_GROUP, q, group, ms);
}

int sl_txn_queue_next_visible_group(struct sl_txn *t, const char *q, const char *group,
                                    int64_t *ms)
{
    return conn_read_int(&t->s->writer, SL_STMT_Q_NEXT_GROUP, q, group, ms, t->err);
}

int sl_queue_count(struct sl_store *s, const char *q, size_t *n)
{
    int64_t v = 0;
    int rc = read_int(s, SL_STMT_Q_COUNT, q, NULL, &v);
    *n = rc ? 0 : (size_t)v;
    return rc;
}

int sl_queue_groups(struct sl_store *s, const char *q,
                    void (*cb)(void *arg, const char *group, int64_t ms), void *arg)
{
    struct sl_err err = {0};
    struct sl_conn *c = NULL;
    int rc = sl_store_reader_get(s, &c, &err);
    sqlite3_stmt *first = NULL, *next = NULL;
    if (!rc)
        rc = sl_store_stmt(c, SL_STMT_Q_GROUP_FIRST, &first, &err);
    if (!rc)
        rc = sl_store_stmt(c, SL_STMT_Q_GROUP_NEXT, &next, &err);
    if (rc) {
        sl_store_reader_put(s, c);
        return rc;
    }
    char *group = NULL;
    sqlite3_stmt *st = first;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    for (;;) {
        int src = sqlite3_step(st);
        if (src != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL) {
            if (src != SQLITE_ROW && src != SQLITE_DONE)
                rc = sl_store_sqlite_err(c, src, &err, "queue groups");
            break;
        }
        char *g = sl_store_col_dup(st, 0, NULL);
        int64_t ms = sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        free(group);
        group = g;
        if (!group) {
            rc = SL_ENOMEM;
            break;
        }
        cb(arg, group, ms);
        st = next;
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(group);
    sl_store_reader_put(s, c);
    if (rc && rc != SL_ENOMEM)
        sl_warn(SL_STORE_LOG, "%s", err.msg);
    return rc;
}

int sl_queue_stats(struct sl_store *s, const char *q, int64_t now_ms, int64_t since_ms,
                   struct sl_queue_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct sl_err err = {0};
    struct sl_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sl_store_reader_get(s, &c, &err);
    if (!rc)
        rc = sl_store_stmt(c, SL_STMT_Q_STATS, &st, &err);
    if (!rc) {
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now_ms);
        sqlite3_bind_int64(st, 3, since_ms);
        int src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            uint64_t total = (uint64_t)sqlite3_column_int64(st, 0);
            out->visible = (uint64_t)sqlite3_column_int64(st, 1);
            out->in_flight = (uint64_t)sqlite3_column_int64(st, 2);
            out->delayed = total - out->visible - out->in_flight;
            out->oldest_ms = sqlite3_column_int64(st, 3);
        } else {
            rc = sl_store_sqlite_err(c, src, &err, "queue stats");
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    sl_store_reader_put(s, c);
    if (rc)
        sl_warn(SL_STORE_LOG, "%s", err.msg);
    return rc;
}

int sl_store_queue_watch_prefix(struct sl_store *s, const char *prefix,
                                void (*cb)(void *arg, const char *q), void *arg)
{
    if (!prefix || !cb || strlen(prefix) >= sizeof(s->pwatches[0].prefix))
        return SL_EINVAL;
    pthread_mutex_lock(&s->mu);
    int rc = SL_ETOOBIG;
    for (size_t i = 0; i < SL_QUEUE_PWATCH_MAX; i++) {
        struct sl_queue_pwatch *w = &s->pwatches[i];
        if (w->cb)
            continue;
        memcpy(w->prefix, prefix, strlen(prefix) + 1);
        w->cb = cb;
        w->arg = arg;
        if (i >= s->n_pwatches)
            s->n_pwatches = i + 1;
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sl_store_queue_unwatch_prefix(struct sl_store *s, void (*cb)(void *arg, const char *q),
                                   void *arg)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_pwatches; i++)
        if (s->pwatches[i].cb == cb && s->pwatches[i].arg == arg)
            memset(&s->pwatches[i], 0, sizeof(s->pwatches[i]));
    pthread_mutex_unlock(&s->mu);
}

void sl_store_queue_unwatch(struct sl_store *s, void (*cb)(void *arg), void *arg)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_watches; i++) {
        if (s->watches[i].cb == cb && s->watches[i].arg == arg) {
            s->watches[i].cb = NULL; /* the slot stays: bits name slots */
            s->watches[i].q[0] = '\0';
        }
    }
    pthread_mutex_unlock(&s->mu);
}

int sl_store_queue_watch(struct sl_store *s, const char *q, void (*cb)(void *arg), void *arg)
{
    if (!q || !cb || strlen(q) >= sizeof(s->watches[0].q))
        return SL_EINVAL;
    pthread_mutex_lock(&s->mu);
    int rc = SL_ETOOBIG; /* no room for another watch */
    if (s->n_watches < SL_QUEUE_WATCH_MAX) {
        struct sl_queue_watch *w = &s->watches[s->n_watches];
        memcpy(w->q, q, strlen(q) + 1);
        w->cb = cb;
        w->arg = arg;
        s->n_watches++;
        rc = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
