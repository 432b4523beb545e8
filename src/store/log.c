/*
 * store/log.c — the log primitive (store.h): append-only shards of
 * records in the log table, keyed by (log, shard, sequence number), with
 * the next sequence number of each shard kept by the writer thread.
 *
 * Retention trims a shard's records older than a time but never its last
 * one, so that the shard's sequence numbers go on growing after it: reads
 * skip what the trim left behind by time.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

/* A shard's next sequence number (the writer thread's). */
struct sl_log_head {
    char *name;
    uint32_t shard;
    uint64_t next;
    struct sl_log_head *next_head;
};

void sl_store_log_heads_free(struct sl_store *s)
{
    while (s->log_heads) {
        struct sl_log_head *h = s->log_heads;
        s->log_heads = h->next_head;
        free(h->name);
        free(h);
    }
}

void sl_log_record_free(struct sl_log_record *r)
{
    if (!r)
        return;
    free(r->key);
    free(r->data);
    memset(r, 0, sizeof(*r));
}

void sl_log_records_free(struct sl_log_record *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl_log_record_free(&v[i]);
    free(v);
}

/* The head of (name, shard), loaded from the table the first time. */
static int head_of(struct sl_txn *t, const char *name, uint32_t shard, struct sl_log_head **out)
{
    struct sl_store *s = t->s;
    for (struct sl_log_head **p = &s->log_heads; *p; p = &(*p)->next_head) {
        struct sl_log_head *h = *p;
        if (h->shard == shard && strcmp(h->name, name) == 0) {
            /* To the front: appends come in runs to the same shards. */
            *p = h->next_head;
            h->next_head = s->log_heads;
            s->log_heads = h;
            *out = h;
            return 0;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(&s->writer, SL_STMT_LOG_LAST, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, shard);
    int src = sqlite3_step(st);
    uint64_t last = 0;
    if (src == SQLITE_ROW)
        last = (uint64_t)sqlite3_column_int64(st, 0);
    else if (src != SQLITE_DONE)
        rc = sl_store_sqlite_err(&s->writer, src, t->err, "log head");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc)
        return rc;
    struct sl_log_head *h = calloc(1, sizeof(*h));
    if (h)
        h->name = strdup(name);
    if (!h || !h->name) {
        free(h);
        return sl_errf(t->err, SL_ENOMEM, "log head: out of memory");
    }
    h->shard = shard;
    h->next = last + 1;
    h->next_head = s->log_heads;
    s->log_heads = h;
    *out = h;
    return 0;
}

/* Inserts one row: n records from the shard's next sequence number on,
 * key and data as given (a run's are packed in data). */
static int insert(struct sl_txn *t, const char *log, uint32_t shard, int64_t ts_ms,
                  const void *key, size_t key_len, const void *data, size_t data_len, size_t n,
                  uint64_t *seq)
{
    if (data_len > INT_MAX || key_len > INT_MAX)
        return sl_errf(t->err, SL_ETOOBIG, "log record of %zu bytes", data_len);
    struct sl_log_head *h = NULL;
    int rc = head_of(t, log, shard, &h);
    sqlite3_stmt *st = NULL;
    if (!rc)
        rc = sl_store_stmt(&t->s->writer, SL_STMT_LOG_APPEND, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, log, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, shard);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)h->next);
    sqlite3_bind_int64(st, 4, ts_ms);
    sqlite3_bind_blob(st, 5, key ? key : "", (int)key_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, data ? data : "", (int)data_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)n);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_DONE)
        return sl_store_sqlite_err(&t->s->writer, src, t->err, "log append");
    /* (A rollback leaves a gap: sequence numbers only grow.) */
    if (seq)
        *seq = h->next;
    h->next += n;
    sl_store_note_put(t, log);
    return 0;
}

int sl_txn_log_append(struct sl_txn *t, const char *log, uint32_t shard, int64_t ts_ms,
                      const void *key, size_t key_len, const void *data, size_t data_len,
                      uint64_t *seq)
{
    if (!log || (!data && data_len) || (!key && key_len))
        return sl_errf(t->err, SL_EINVAL, "log name or record missing");
    return insert(t, log, shard, ts_ms, key, key_len, data, data_len, 1, seq);
}

/* A run's records packed: for each, its key's length and its data's (32
 * bits, little-endian) then the key and the data. */
static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int sl_txn_log_append_run(struct sl_txn *t, const char *log, uint32_t shard, int64_t ts_ms,
                          const struct sl_log_entry *v, size_t n, uint64_t *first)
{
    if (!log || !v || !n)
        return sl_errf(t->err, SL_EINVAL, "log name or records missing");
    if (n == 1)
        return sl_txn_log_append(t, log, shard, ts_ms, v[0].key, v[0].key_len, v[0].data,
                                 v[0].data_len, first);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if ((!v[i].data && v[i].data_len) || (!v[i].key && v[i].key_len))
            return sl_errf(t->err, SL_EINVAL, "log record missing");
        if (v[i].key_len > UINT32_MAX || v[i].data_len > UINT32_MAX)
            return sl_errf(t->err, SL_ETOOBIG, "log record of %zu bytes", v[i].data_len);
        total += 8 + v[i].key_len + v[i].data_len;
        if (total > INT_MAX)
            return sl_errf(t->err, SL_ETOOBIG, "log run of %zu records over 2 GB", n);
    }
    uint8_t *buf = malloc(total);
    if (!buf)
        return sl_errf(t->err, SL_ENOMEM, "log run: out of memory");
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        put_u32(p, (uint32_t)v[i].key_len);
        put_u32(p + 4, (uint32_t)v[i].data_len);
        p += 8;
        if (v[i].key_len)
            memcpy(p, v[i].key, v[i].key_len);
        p += v[i].key_len;
        if (v[i].data_len)
            memcpy(p, v[i].data, v[i].data_len);
        p += v[i].data_len;
    }
    int rc = insert(t, log, shard, ts_ms, NULL, 0, buf, total, n, first);
    free(buf);
    return rc;
}

int sl_txn_log_last(struct sl_txn *t, const char *log, uint32_t shard, uint64_t *seq)
{
    struct sl_log_head *h = NULL;
    int rc = head_of(t, log, shard, &h);
    if (!rc)
        *seq = h->next - 1;
    return rc;
}

/* One statement of (log, shard) on a writer or reader connection. */
static int step_log(struct sl_conn *c, enum sl_stmt_id id, const char *log, uint32_t shard,
                    sqlite3_stmt **out, struct sl_err *err)
{
    int rc = sl_store_stmt(c, id, out, err);
    if (rc)
        return rc;
    sqlite3_bind_text(*out, 1, log, -1, SQLITE_STATIC);
    sqlite3_bind_int64(*out, 2, shard);
    return 0;
}

int sl_txn_log_trim(struct sl_txn *t, const char *log, uint32_t shard, int64_t before_ms,
                    size_t max, size_t *n)
{
    struct sl_conn *c = &t->s->writer;
    sqlite3_stmt *st = NULL;
    if (n)
        *n = 0;
    /* Most trims find nothing: the oldest record tells, for one row. */
    int rc = step_log(c, SL_STMT_LOG_OLDEST, log, shard, &st, t->err);
    if (rc)
        return rc;
    int src = sqlite3_step(st);
    bool old = src == SQLITE_ROW && sqlite3_column_int64(st, 0) < before_ms;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return sl_store_sqlite_err(c, src, t->err, "log trim");
    if (!old)
        return 0;
    rc = step_log(c, SL_STMT_LOG_TRIM, log, shard, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, before_ms);
    sqlite3_bind_int64(st, 4, max > INT_MAX ? INT_MAX : (sqlite3_int64)max);
    src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_DONE)
        return sl_store_sqlite_err(c, src, t->err, "log trim");
    if (n)
        *n = (size_t)sqlite3_changes(c->db);
    return 0;
}

int sl_txn_log_drop(struct sl_txn *t, const char *log)
{
    struct sl_conn *c = &t->s->writer;
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, SL_STMT_LOG_DROP, &st, t->err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, log, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return src == SQLITE_DONE ? 0 : sl_store_sqlite_err(c, src, t->err, "log drop");
}

/* Runs fn on a reader connection of s. */
static int with_reader(struct sl_store *s, int (*fn)(struct sl_conn *c, void *arg,
                                                      struct sl_err *err),
                       void *arg)
{
    struct sl_err err = {0};
    struct sl_conn *c = NULL;
    int rc = sl_store_reader_get(s, &c, &err);
    if (!rc)
        rc = fn(c, arg, &err);
    sl_store_reader_put(s, c);
    if (rc && rc != SL_ENOTFOUND && rc != SL_ENOMEM)
        sl_warn(SL_STORE_LOG, "%s", err.msg);
    return rc;
}

struct read_args {
    const char *log;
    uint32_t shard;
    uint64_t from;
    int64_t since_ms;
    size_t max, max_bytes;
    struct sl_log_record *out;
    size_t n;
    bool full;
};

static char *dup_bytes(const void *p, size_t n)
{
    char *out = malloc(n + 1);
    if (out) {
        if (n)
            memcpy(out, p, n);
        out[n] = '\0';
    }
    return out;
}

/* Adds record seq to the read, unless a limit stops it: 0, SL_EAGAIN at
 * a limit, SL_ENOMEM. */
static int add_record(struct read_args *a, size_t *cap, size_t *bytes, uint64_t seq,
                      int64_t ts, const void *key, size_t key_len, const void *data,
                      size_t data_len)
{
    if (a->n == a->max || (a->max_bytes && a->n && *bytes + data_len > a->max_bytes)) {
        a->full = true;
        return SL_EAGAIN;
    }
    if (a->n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 64;
        struct sl_log_record *v = realloc(a->out, ncap * sizeof(*v));
        if (!v)
            return SL_ENOMEM;
        a->out = v;
        *cap = ncap;
    }
    struct sl_log_record *r = &a->out[a->n];
    memset(r, 0, sizeof(*r));
    r->seq = seq;
    r->ts_ms = ts;
    r->key_len = key_len;
    r->data_len = data_len;
    r->key = dup_bytes(key, key_len);
    r->data = dup_bytes(data, data_len);
    a->n++;
    *bytes += data_len;
    return r->key && r->data ? 0 : SL_ENOMEM;
}

/* The records of a row from a->from on: one, or a packed run of n. */
static int add_row(struct read_args *a, sqlite3_stmt *st, size_t *cap, size_t *bytes,
                   struct sl_err *err)
{
    uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
    int64_t ts = sqlite3_column_int64(st, 1);
    int64_t n = sqlite3_column_int64(st, 4);
    const uint8_t *data = sqlite3_column_blob(st, 3);
    size_t len = (size_t)sqlite3_column_bytes(st, 3);
    if (n <= 1)
        return seq < a->from ? 0
                             : add_record(a, cap, bytes, seq, ts, sqlite3_column_blob(st, 2),
                                          (size_t)sqlite3_column_bytes(st, 2), data, len);
    size_t at = 0;
    for (int64_t i = 0; i < n; i++, seq++) {
        if (len - at < 8)
            return sl_errf(err, SL_ECORRUPT, "log %s: a run of shard %u is cut short", a->log,
                           a->shard);
        size_t kl = get_u32(data + at), dl = get_u32(data + at + 4);
        at += 8;
        if (kl > len - at || dl > len - at - kl)
            return sl_errf(err, SL_ECORRUPT, "log %s: a run of shard %u is cut short", a->log,
                           a->shard);
        if (seq >= a->from) {
            int rc = add_record(a, cap, bytes, seq, ts, data + at, kl, data + at + kl, dl);
            if (rc)
                return rc;
        }
        at += kl + dl;
    }
    return 0;
}

static int read_fn(struct sl_conn *c, void *arg, struct sl_err *err)
{
    struct read_args *a = arg;
    sqlite3_stmt *st = NULL;
    int rc = step_log(c, SL_STMT_LOG_READ, a->log, a->shard, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, a->from > INT64_MAX ? INT64_MAX : (sqlite3_int64)a->from);
    sqlite3_bind_int64(st, 4, a->since_ms);
    /* (Rows hold a record or more: as many rows as records is enough.) */
    sqlite3_bind_int64(st, 5, a->max > INT_MAX ? INT_MAX : (sqlite3_int64)a->max + 1);
    size_t cap = 0, bytes = 0, rows = 0;
    int src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        rc = add_row(a, st, &cap, &bytes, err);
        rows++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    /* (Rows that held nothing asked for, a gap's, may have used the
     * limit up: there may be more.) */
    if (!rc && rows > a->max)
        a->full = true;
    if (rc == SL_EAGAIN)
        return 0;
    if (!rc && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sl_store_sqlite_err(c, src, err, "log read");
    return rc;
}

int sl_log_read(struct sl_store *s, const char *log, uint32_t shard, uint64_t from_seq,
                int64_t since_ms, size_t max, size_t max_bytes, struct sl_log_record **out,
                size_t *n, bool *full)
{
    struct read_args a = {.log = log, .shard = shard, .from = from_seq, .since_ms = since_ms,
                          .max = max, .max_bytes = max_bytes};
    *out = NULL;
    *n = 0;
    int rc = max ? with_reader(s, read_fn, &a) : 0;
    if (rc) {
        sl_log_records_free(a.out, a.n);
        return rc;
    }
    *out = a.out;
    *n = a.n;
    if (full)
        *full = a.full;
    return 0;
}

struct bounds_args {
    const char *log;
    uint32_t shard;
    int64_t since_ms;
    bool at_time;
    uint64_t first, last;
};

static int bounds_fn(struct sl_conn *c, void *arg, struct sl_err *err)
{
    struct bounds_args *a = arg;
    sqlite3_stmt *st = NULL;
    int rc = step_log(c, a->at_time ? SL_STMT_LOG_AT_TIME : SL_STMT_LOG_BOUNDS, a->log,
                      a->shard, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, a->since_ms);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            a->first = (uint64_t)sqlite3_column_int64(st, 0);
        if (!a->at_time && sqlite3_column_type(st, 1) != SQLITE_NULL)
            a->last = (uint64_t)sqlite3_column_int64(st, 1);
    } else {
        rc = sl_store_sqlite_err(c, src, err, "log bounds");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int sl_log_bounds(struct sl_store *s, const char *log, uint32_t shard, int64_t since_ms,
                  uint64_t *first, uint64_t *last)
{
    struct bounds_args a = {.log = log, .shard = shard, .since_ms = since_ms};
    int rc = with_reader(s, bounds_fn, &a);
    *first = a.first;
    *last = a.last;
    return rc;
}

int sl_log_seq_at(struct sl_store *s, const char *log, uint32_t shard, int64_t ts_ms,
                  uint64_t *seq)
{
    struct bounds_args a = {.log = log, .shard = shard, .since_ms = ts_ms, .at_time = true};
    int rc = with_reader(s, bounds_fn, &a);
    *seq = a.first;
    return rc ? rc : a.first ? 0 : SL_ENOTFOUND;
}
