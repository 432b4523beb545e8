/*
 * store.c — the embedded store backend's lifecycle and write path: opening
 * (directories, lock, SQLite connection, numbered migrations, recovery of
 * blob files left by a crash), the writer thread that runs queued
 * transactions in batches sharing one commit (group commit), the pool of
 * read-only connections, and the statement cache every connection keeps.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/internal.h"

#define BUSY_TIMEOUT_MS 5000
#define POOL_MAX_IDLE 4
/* Frames not yet copied back after which the checkpointer runs (SQLite's
 * own default threshold). */
#define CHECKPOINT_PAGES 1000
/* Quiet time after the last batch at which the writer gives back memory. */
#define IDLE_TRIM_MS 500
/* Page cache of a reader connection, KiB. Every commit makes readers check
 * their pages again anyway, so a big private cache per reader buys little
 * and keeps idle memory high. */
#define READER_CACHE_KIB 256

/*
 * The schema, one migration per entry, applied in order; PRAGMA
 * user_version counts those applied. Never edit an entry once released:
 * append a new one.
 *
 * Keys are TEXT with BINARY collation, so they sort in byte order (code
 * point order for UTF-8). blob_inline is the last column: a row's leading
 * columns stay on its b-tree page while large inline bytes go to overflow
 * pages, which listing never reads. Each blob file belongs to one item at
 * most (the unique index), which also makes recovery's lookup cheap.
 */
static const char *const migrations[] = {
    "CREATE TABLE items ("
    "  ns TEXT NOT NULL COLLATE BINARY,"
    "  pk TEXT NOT NULL COLLATE BINARY,"
    "  sk TEXT NOT NULL COLLATE BINARY,"
    "  val BLOB NOT NULL,"
    "  blob_file TEXT,"
    "  blob_size INTEGER CHECK (blob_size >= 0),"
    "  blob_inline BLOB,"
    "  CHECK (blob_file IS NULL OR blob_inline IS NULL),"
    "  CHECK (blob_size IS NOT NULL OR (blob_file IS NULL AND blob_inline IS NULL)),"
    "  PRIMARY KEY (ns, pk, sk)"
    ") WITHOUT ROWID, STRICT;"
    "CREATE UNIQUE INDEX items_blob_file ON items (blob_file) WHERE blob_file IS NOT NULL;",
    /* 2: queues (queue.c). AUTOINCREMENT: an id is never reused, so a
     * receipt can never name a later message. */
    "CREATE TABLE queue ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  q TEXT NOT NULL COLLATE BINARY,"
    "  visible_at INTEGER NOT NULL,"
    "  enqueued_at INTEGER NOT NULL,"
    "  receives INTEGER NOT NULL DEFAULT 0 CHECK (receives >= 0),"
    "  leased INTEGER NOT NULL DEFAULT 0 CHECK (leased IN (0, 1)),"
    "  body BLOB NOT NULL,"
    "  meta BLOB NOT NULL"
    ") STRICT;"
    "CREATE INDEX queue_visible ON queue (q, visible_at, id);",
    /* 3: groups of a queue's messages (a function's async events, an SQS
     * FIFO message group): a consumer leases per group, and finds the
     * groups by skipping through this index. */
    ("ALTER TABLE queue ADD COLUMN grp TEXT NOT NULL DEFAULT '' COLLATE BINARY;"
     "CREATE INDEX queue_group ON queue (q, grp, visible_at, id);"),
    /* 4: every put, lease and delete maintained both indexes; consumers
     * now read by group, so a question about a whole queue (the next
     * visible message of any group) reads that queue's rows instead. */
    "DROP INDEX queue_visible;",
    /* 5: SQS: the time of a message's first receive, and FIFO groups read
     * in the order their messages were sent (only named groups: a
     * standard queue's messages are in the group ""). */
    ("ALTER TABLE queue ADD COLUMN first_at INTEGER NOT NULL DEFAULT 0;"
     "CREATE INDEX queue_order ON queue (q, grp, id) WHERE grp <> '';"),
    /* 6: logs (log.c): append-only shards of records by sequence number. */
    "CREATE TABLE log ("
    "  name TEXT NOT NULL COLLATE BINARY,"
    "  shard INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  key BLOB NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY (name, shard, seq)"
    ") WITHOUT ROWID, STRICT;",
    /* 7: a row of the log may hold a run of n records appended together
     * (sequence numbers seq .. seq + n - 1, one time; packed in data):
     * one row per shard per put, not one per record. */
    "ALTER TABLE log ADD COLUMN n INTEGER NOT NULL DEFAULT 1 CHECK (n >= 1);",
};

#define ITEM_COLS "val, blob_file, blob_size"
#define LIST_SQL(lower, upper)                                                       \
    "SELECT sk, " ITEM_COLS " FROM items WHERE ns = ?1 AND pk = ?2 AND sk " lower   \
    " ?3" upper " ORDER BY sk LIMIT ?4"
#define LIST_DESC_SQL(upper)                                                          \
    "SELECT sk, " ITEM_COLS " FROM items WHERE ns = ?1 AND pk = ?2 AND sk >= ?3" upper \
    " ORDER BY sk DESC LIMIT ?4"

#define Q_COLS "id, receives, enqueued_at, visible_at, body, meta, grp, first_at, leased"

static const char *const stmt_sql[SL_STMT_N] = {
    [SL_STMT_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [SL_STMT_BEGIN_READ] = "BEGIN",
    [SL_STMT_COMMIT] = "COMMIT",
    [SL_STMT_ROLLBACK] = "ROLLBACK",
    [SL_STMT_SAVEPOINT] = "SAVEPOINT txn",
    [SL_STMT_RELEASE] = "RELEASE txn",
    [SL_STMT_ROLLBACK_TO] = "ROLLBACK TO txn",
    [SL_STMT_GET] = "SELECT " ITEM_COLS ", blob_inline FROM items"
                    " WHERE ns = ?1 AND pk = ?2 AND sk = ?3",
    [SL_STMT_GET_FILE] = "SELECT blob_file FROM items WHERE ns = ?1 AND pk = ?2 AND sk = ?3",
    [SL_STMT_PUT] = "INSERT INTO items (ns, pk, sk, val, blob_file, blob_size, blob_inline)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    " ON CONFLICT (ns, pk, sk) DO UPDATE SET val = excluded.val,"
                    " blob_file = excluded.blob_file, blob_size = excluded.blob_size,"
                    " blob_inline = excluded.blob_inline",
    [SL_STMT_DELETE] = "DELETE FROM items WHERE ns = ?1 AND pk = ?2 AND sk = ?3",
    [SL_STMT_INSERT] = "INSERT INTO items (ns, pk, sk, val) VALUES (?1, ?2, ?3, ?4)",
    [SL_STMT_SET_VAL] = "UPDATE items SET val = ?4 WHERE ns = ?1 AND pk = ?2 AND sk = ?3",
    [SL_STMT_COUNT] = "SELECT count(*) FROM"
                      " (SELECT 1 FROM items WHERE ns = ?1 AND pk = ?2 LIMIT ?3)",
    [SL_STMT_LIST_GE] = LIST_SQL(">=", ""),
    [SL_STMT_LIST_GE_LT] = LIST_SQL(">=", " AND sk < ?5"),
    [SL_STMT_LIST_GT] = LIST_SQL(">", ""),
    [SL_STMT_LIST_GT_LT] = LIST_SQL(">", " AND sk < ?5"),
    [SL_STMT_LIST_DESC] = LIST_DESC_SQL(""),
    [SL_STMT_LIST_DESC_LT] = LIST_DESC_SQL(" AND sk < ?5"),
    [SL_STMT_PK_FIRST] = "SELECT pk FROM items WHERE ns = ?1 ORDER BY pk LIMIT 1",
    [SL_STMT_PK_NEXT] = "SELECT pk FROM items WHERE ns = ?1 AND pk > ?2 ORDER BY pk LIMIT 1",
    [SL_STMT_FILE_USED] = "SELECT 1 FROM items WHERE blob_file = ?1",
    [SL_STMT_Q_PUT] = "INSERT INTO queue (q, visible_at, enqueued_at, body, meta, grp)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [SL_STMT_Q_RECEIVE] = "SELECT " Q_COLS " FROM queue WHERE q = ?1 AND visible_at <= ?2"
                          " ORDER BY visible_at, id LIMIT ?3",
    [SL_STMT_Q_RECEIVE_GROUP] = "SELECT " Q_COLS " FROM queue"
                                " WHERE q = ?1 AND grp = ?4 AND visible_at <= ?2"
                                " ORDER BY visible_at, id LIMIT ?3",
    [SL_STMT_Q_SCAN_FIFO] = "SELECT " Q_COLS " FROM queue"
                            " WHERE q = ?1 AND grp = ?2 AND grp <> '' ORDER BY id LIMIT ?3",
    [SL_STMT_Q_GROUP_AFTER] = "SELECT grp FROM queue WHERE q = ?1 AND grp > ?2 AND grp <> ''"
                              " ORDER BY grp LIMIT 1",
    [SL_STMT_Q_REMOVE] = "DELETE FROM queue WHERE q = ?1 AND id = ?2",
    [SL_STMT_Q_GET] = "SELECT " Q_COLS " FROM queue WHERE q = ?1 AND id = ?2",
    [SL_STMT_LOG_APPEND] = "INSERT INTO log (name, shard, seq, ts, key, data, n)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SL_STMT_LOG_LAST] = "SELECT seq + n - 1 FROM log WHERE name = ?1 AND shard = ?2"
                         " ORDER BY seq DESC LIMIT 1",
    /* (From the run that holds ?3, if one does.) */
    [SL_STMT_LOG_READ] = "SELECT seq, ts, key, data, n FROM log WHERE name = ?1 AND shard = ?2"
                         " AND seq >= coalesce((SELECT seq FROM log WHERE name = ?1"
                         " AND shard = ?2 AND seq <= ?3 ORDER BY seq DESC LIMIT 1), ?3)"
                         " AND ts >= ?4 ORDER BY seq LIMIT ?5",
    [SL_STMT_LOG_BOUNDS] = "SELECT (SELECT min(seq) FROM log WHERE name = ?1 AND shard = ?2"
                           " AND ts >= ?3), (SELECT seq + n - 1 FROM log WHERE name = ?1"
                           " AND shard = ?2 ORDER BY seq DESC LIMIT 1)",
    [SL_STMT_LOG_AT_TIME] = "SELECT min(seq) FROM log WHERE name = ?1 AND shard = ?2"
                            " AND ts >= ?3",
    [SL_STMT_LOG_TRIM] = "DELETE FROM log WHERE name = ?1 AND shard = ?2 AND ts < ?3"
                         " AND seq IN (SELECT seq FROM log WHERE name = ?1 AND shard = ?2"
                         " ORDER BY seq LIMIT ?4)"
                         " AND seq < (SELECT max(seq) FROM log WHERE name = ?1 AND shard = ?2)",
    [SL_STMT_LOG_DROP] = "DELETE FROM log WHERE name = ?1",
    [SL_STMT_LOG_OLDEST] = "SELECT ts FROM log WHERE name = ?1 AND shard = ?2 ORDER BY seq"
                           " LIMIT 1",
    [SL_STMT_Q_MOVE] = "UPDATE queue SET q = ?3, visible_at = ?4, meta = ?5, receives = 0,"
                       " leased = 0, first_at = 0 WHERE q = ?1 AND id = ?2",
    [SL_STMT_Q_VISIBILITY] = "UPDATE queue SET visible_at = ?4"
                             " WHERE q = ?1 AND id = ?2 AND receives = ?3 AND leased = 1"
                             " AND visible_at > ?5",
    [SL_STMT_Q_PURGE] = "DELETE FROM queue WHERE q = ?1",
    [SL_STMT_Q_STATS] = "SELECT count(*), coalesce(sum(visible_at <= ?2), 0),"
                        " coalesce(sum(visible_at > ?2 AND leased = 1), 0), min(enqueued_at)"
                        " FROM queue WHERE q = ?1 AND enqueued_at >= ?3",
    [SL_STMT_Q_GROUP_FIRST] = "SELECT grp, min(visible_at) FROM queue WHERE q = ?1"
                              " AND grp = (SELECT grp FROM queue WHERE q = ?1 ORDER BY grp"
                              " LIMIT 1)",
    [SL_STMT_Q_GROUP_NEXT] = "SELECT grp, min(visible_at) FROM queue WHERE q = ?1"
                             " AND grp = (SELECT grp FROM queue WHERE q = ?1 AND grp > ?2"
                             " ORDER BY grp LIMIT 1)",
    [SL_STMT_Q_NEXT_GROUP] = "SELECT min(visible_at) FROM queue WHERE q = ?1 AND grp = ?2",
    [SL_STMT_Q_LEASE] = "UPDATE queue SET visible_at = ?3, receives = receives + 1, leased = 1,"
                        " first_at = CASE first_at WHEN 0 THEN ?4 ELSE first_at END"
                        " WHERE q = ?1 AND id = ?2",
    [SL_STMT_Q_DELETE] = "DELETE FROM queue WHERE q = ?1 AND id = ?2 AND receives = ?3",
    [SL_STMT_Q_UPDATE] = "UPDATE queue SET visible_at = ?4, meta = ?5, leased = 0"
                         " WHERE q = ?1 AND id = ?2 AND receives = ?3",
    [SL_STMT_Q_UPDATE_KEEP_META] = "UPDATE queue SET visible_at = ?4, leased = 0"
                                   " WHERE q = ?1 AND id = ?2 AND receives = ?3",
    [SL_STMT_Q_RELEASE] = "UPDATE queue SET visible_at = ?2, leased = 0"
                          " WHERE q = ?1 AND leased = 1",
    [SL_STMT_Q_NEXT] = "SELECT min(visible_at) FROM queue WHERE q = ?1",
    [SL_STMT_Q_COUNT] = "SELECT count(*) FROM queue WHERE q = ?1",
};

/* SQLite primary result codes and the SL_E* code each becomes (else EIO). */
static const struct {
    int sqlite;
    int code;
} sqlite_codes[] = {
    {SQLITE_NOMEM, SL_ENOMEM},       {SQLITE_BUSY, SL_EBUSY},
    {SQLITE_LOCKED, SL_EBUSY},       {SQLITE_CORRUPT, SL_ECORRUPT},
    {SQLITE_NOTADB, SL_ECORRUPT},    {SQLITE_TOOBIG, SL_ETOOBIG},
    {SQLITE_CONSTRAINT, SL_EINVAL},  {SQLITE_MISMATCH, SL_EINVAL},
    {SQLITE_RANGE, SL_EINVAL},       {SQLITE_READONLY, SL_EIO},
};

int sl_store_sqlite_err(struct sl_conn *c, int rc, struct sl_err *err, const char *what)
{
    int code = SL_EIO;
    for (size_t i = 0; i < SL_ARRAY_LEN(sqlite_codes); i++) {
        if (sqlite_codes[i].sqlite == (rc & 0xff)) {
            code = sqlite_codes[i].code;
            break;
        }
    }
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    return sl_errf(err, code, "%s: %s", what, msg);
}

int sl_store_stmt(struct sl_conn *c, enum sl_stmt_id id, sqlite3_stmt **out,
                  struct sl_err *err)
{
    if (!c->stmt[id]) {
        int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->stmt[id], NULL);
        if (rc != SQLITE_OK)
            return sl_store_sqlite_err(c, rc, err, "prepare");
    }
    *out = c->stmt[id];
    return 0;
}

/* Runs a statement that takes no parameters and returns no rows. */
static int run_stmt(struct sl_conn *c, enum sl_stmt_id id, struct sl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(c, id, &st, err);
    if (rc)
        return rc;
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        return sl_store_sqlite_err(c, src, err, stmt_sql[id]);
    return 0;
}

static void conn_close(struct sl_conn *c)
{
    for (size_t i = 0; i < SL_STMT_N; i++) {
        sqlite3_finalize(c->stmt[i]);
        c->stmt[i] = NULL;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

static int conn_open(struct sl_conn *c, const char *path, int flags, struct sl_err *err)
{
    memset(c, 0, sizeof *c);
    int rc = sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = sl_store_sqlite_err(c, rc, err, path);
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    return 0;
fail:
    conn_close(c);
    return rc;
}

static int exec_sql(struct sl_conn *c, const char *sql, struct sl_err *err);

/* ---- reader pool -------------------------------------------------------- */

int sl_store_reader_get(struct sl_store *s, struct sl_conn **out, struct sl_err *err)
{
    pthread_mutex_lock(&s->pool_mu);
    struct sl_conn *c = s->pool;
    if (c) {
        s->pool = c->next;
        s->pool_idle--;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (!c) {
        c = malloc(sizeof *c);
        if (!c)
            return sl_errf(err, SL_ENOMEM, "reader connection: out of memory");
        int rc = conn_open(c, s->db_path, SQLITE_OPEN_READONLY, err);
        if (!rc)
            rc = exec_sql(c, "PRAGMA cache_size=-" SL_STR(READER_CACHE_KIB), err);
        if (rc) {
            conn_close(c);
            free(c);
            return rc;
        }
    }
    c->next = NULL;
    *out = c;
    return 0;
}

void sl_store_reader_put(struct sl_store *s, struct sl_conn *c)
{
    if (!c)
        return;
    /* A read transaction left open would pin its snapshot (and the WAL). */
    if (!sqlite3_get_autocommit(c->db))
        run_stmt(c, SL_STMT_ROLLBACK, NULL);
    sqlite3_db_release_memory(c->db);
    pthread_mutex_lock(&s->pool_mu);
    if (s->pool_idle < POOL_MAX_IDLE) {
        c->next = s->pool;
        s->pool = c;
        s->pool_idle++;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (c) {
        conn_close(c);
        free(c);
    }
}

/* ---- unlinks after commit ------------------------------------------------ */

int sl_store_unlink_reserve(struct sl_store *s)
{
    if (s->n_unlinks < s->cap_unlinks)
        return 0;
    size_t cap = s->cap_unlinks ? 2 * s->cap_unlinks : 16;
    char **p = realloc(s->unlinks, cap * sizeof *p);
    if (!p)
        return SL_ENOMEM;
    s->unlinks = p;
    s->cap_unlinks = cap;
    return 0;
}

void sl_store_unlink_push(struct sl_store *s, char *name)
{
    if (s->n_unlinks >= s->cap_unlinks)
        abort(); /* sl_store_unlink_reserve() was not called */
    s->unlinks[s->n_unlinks++] = name;
}

/* Forgets the unlinks scheduled after the first keep (a rolled back txn). */
static void unlinks_truncate(struct sl_store *s, size_t keep)
{
    while (s->n_unlinks > keep)
        free(s->unlinks[--s->n_unlinks]);
}

/* The batch committed: nothing refers to these files any more. A file
 * whose unlink is lost in a crash is an orphan that recovery removes. */
static void unlinks_run(struct sl_store *s)
{
    for (size_t i = 0; i < s->n_unlinks; i++) {
        if (unlinkat(s->blob_fd, s->unlinks[i], 0) != 0 && errno != ENOENT)
            sl_warn(SL_STORE_LOG, "unlink blob %s: %s", s->unlinks[i], strerror(errno));
    }
    unlinks_truncate(s, 0);
}

/* ---- writer thread ------------------------------------------------------- */

/*
 * Runs one batch: every transaction under its own savepoint inside one
 * SQLite transaction, then one commit. Sets each request's result. When
 * the batch as a whole fails (BEGIN, an error that ended the SQLite
 * transaction, the directory fsync or COMMIT), every transaction that had
 * succeeded gets SL_EIO; those that failed keep their own error.
 * Returns whether the batch committed; *ran counts the functions run.
 */
static bool run_batch(struct sl_store *s, struct sl_wreq *list, uint64_t *ran)
{
    struct sl_conn *c = &s->writer;
    struct sl_err berr = {0};
    bool put_file = false;
    unsigned queued = 0;
    *ran = 0;

    int rc = run_stmt(c, SL_STMT_BEGIN_WRITE, &berr);
    for (struct sl_wreq *r = list; r; r = r->next) {
        if (rc) {
            r->result = SL_EIO;
            continue;
        }
        struct sl_txn t = {.s = s, .err = r->err};
        size_t mark = s->n_unlinks;
        rc = run_stmt(c, SL_STMT_SAVEPOINT, &berr);
        if (rc) {
            r->result = SL_EIO;
            continue;
        }
        (*ran)++;
        r->result = r->fn(&t, r->arg, r->err);
        if (sqlite3_get_autocommit(c->db)) {
            /* An I/O error, a full disk or OOM rolled everything back. */
            rc = sl_errf(&berr, SL_EIO, "transaction was rolled back by SQLite: %s",
                         sqlite3_errmsg(c->db));
            unlinks_truncate(s, mark);
        } else if (r->result) {
            unlinks_truncate(s, mark);
            rc = run_stmt(c, SL_STMT_ROLLBACK_TO, &berr);
            if (!rc)
                rc = run_stmt(c, SL_STMT_RELEASE, &berr);
        } else {
            rc = run_stmt(c, SL_STMT_RELEASE, &berr);
            put_file |= t.put_file;
            queued |= t.queued;
        }
    }
    /* The files were fdatasync'd and renamed by their writers; the fsync of
     * the directory makes the renames durable before the rows that name
     * them commit. */
    if (!rc && put_file && fsync(s->blob_fd) != 0)
        rc = sl_errf(&berr, SL_EIO, "fsync of blob directory: %s", strerror(errno));
    if (!rc)
        rc = run_stmt(c, SL_STMT_COMMIT, &berr);
    if (rc) {
        if (!sqlite3_get_autocommit(c->db))
            run_stmt(c, SL_STMT_ROLLBACK, NULL);
        unlinks_truncate(s, 0);
        sl_store_put_names_flush(s, false);
        sl_warn(SL_STORE_LOG, "batch failed: %s", berr.msg);
        for (struct sl_wreq *r = list; r; r = r->next) {
            if (r->result == 0 || r->result == SL_EIO)
                r->result = sl_errf(r->err, SL_EIO, "store commit failed: %s", berr.msg);
        }
        return false;
    }
    unlinks_run(s);
    if (queued) {
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->n_watches; i++)
            if (queued & (1u << i) && s->watches[i].cb)
                s->watches[i].cb(s->watches[i].arg);
        pthread_mutex_unlock(&s->mu);
    }
    sl_store_put_names_flush(s, true);
    return true;
}

/*
 * Once writes stop, gives back what the burst left behind: the writer
 * connection's page cache and the free memory in every malloc arena (a
 * burst of connections leaves each of their threads' arenas full of freed
 * chunks). Runs once per quiet spell, so an idle server stays asleep.
 */
static void idle_trim(struct sl_store *s)
{
    sqlite3_db_release_memory(s->writer.db);
    malloc_trim(0);
}

static void *writer_main(void *arg)
{
    struct sl_store *s = arg;
    bool busy = false; /* batches ran since memory was last given back */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->closing) {
            if (!busy) {
                pthread_cond_wait(&s->wake, &s->mu);
                continue;
            }
            struct timespec dl = sl_time_deadline(CLOCK_MONOTONIC, IDLE_TRIM_MS);
            if (pthread_cond_timedwait(&s->wake, &s->mu, &dl) == ETIMEDOUT && !s->head) {
                busy = false;
                pthread_mutex_unlock(&s->mu);
                idle_trim(s);
                pthread_mutex_lock(&s->mu);
            }
        }
        if (!s->head)
            break; /* closing, and the queue is drained */
        busy = true;
        struct sl_wreq *list = s->head;
        s->head = s->tail = NULL;
        s->queued = 0;
        pthread_mutex_unlock(&s->mu);

        uint64_t ran;
        bool committed = run_batch(s, list, &ran);

        pthread_mutex_lock(&s->mu);
        s->stats.transactions += ran;
        if (committed)
            s->stats.batches++;
        /* A request lives on its waiter's stack: read next before done.
         * Each waiter has its own condition variable, so a batch wakes
         * exactly its own callers; the waiter cannot return (and destroy
         * it) before this thread lets go of the mutex. Submitted ones are
         * this thread's: their callbacks run once the mutex is let go. */
        struct sl_wreq *submitted = NULL;
        for (struct sl_wreq *r = list, *next; r; r = next) {
            next = r->next;
            if (r->on_done) {
                r->next = submitted;
                submitted = r;
                continue;
            }
            r->done = true;
            pthread_cond_signal(&r->cond);
        }
        if (submitted) {
            pthread_mutex_unlock(&s->mu);
            while (submitted) {
                struct sl_wreq *r = submitted;
                submitted = r->next;
                r->on_done(r->done_arg, r->result);
                free(r);
            }
            pthread_mutex_lock(&s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* The writer connection's WAL hook: runs after each commit, in the writer
 * thread, with the WAL's size in frames. Wakes the checkpointer once
 * CHECKPOINT_PAGES frames wait to be copied (not merely once the file is
 * that big: a WAL that never restarts would wake it after every commit);
 * past SL_WAL_MAX_PAGES, copies the rest itself so that the next batch
 * starts the WAL over. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)name;
    struct sl_store *s = arg;
    pthread_mutex_lock(&s->mu);
    if (pages < s->wal_frames)
        s->wal_backfilled = 0; /* restarted since the last commit */
    s->wal_frames = pages;
    bool wake = pages - s->wal_backfilled >= CHECKPOINT_PAGES && !s->ckpt_due;
    if (wake) {
        s->ckpt_due = true;
        pthread_cond_signal(&s->ckpt_wake);
    }
    pthread_mutex_unlock(&s->mu);
    if (pages >= SL_WAL_MAX_PAGES) {
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            sl_warn(SL_STORE_LOG, "checkpoint: %s", sqlite3_errmsg(db));
        pthread_mutex_lock(&s->mu);
        s->stats.checkpoints++;
        if (rc == SQLITE_OK && done > s->wal_backfilled)
            s->wal_backfilled = done;
        pthread_mutex_unlock(&s->mu);
    }
    return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
    struct sl_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->ckpt_due && !s->ckpt_stop)
            pthread_cond_wait(&s->ckpt_wake, &s->mu);
        if (s->ckpt_stop)
            break;
        pthread_mutex_unlock(&s->mu);
        /* PASSIVE: copies what it can without blocking the writer or the
         * readers; the writer restarts the WAL once it is all copied. */
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(s->ckpt.db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                           &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            sl_warn(SL_STORE_LOG, "checkpoint: %s", sqlite3_errmsg(s->ckpt.db));
        pthread_mutex_lock(&s->mu);
        s->ckpt_due = false;
        s->stats.checkpoints++;
        /* done counts frames of the WAL as it was when the copy started;
         * if the writer restarted it since, wal_frames is smaller. */
        if (rc == SQLITE_OK && done <= s->wal_frames && done > s->wal_backfilled)
            s->wal_backfilled = done;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Queues r for the writer's next batch, under s->mu: 0, or SL_ECLOSED
 * (err says so) once the store is closing. */
static int enqueue(struct sl_store *s, struct sl_wreq *r, struct sl_err *err)
{
    if (s->closing)
        return sl_errf(err, SL_ECLOSED, "store is closing");
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    s->queued++;
    /* Broadcast: the writer and any sl_store_wait_queued() may wait. */
    pthread_cond_broadcast(&s->wake);
    return 0;
}

int sl_store_write(struct sl_store *s, sl_txn_fn fn, void *arg, struct sl_err *err)
{
    if (!s || !fn)
        return sl_errf(err, SL_EINVAL, "sl_store_write: no store or no function");
    if (s->running && pthread_equal(pthread_self(), s->thread))
        return sl_errf(err, SL_EINVAL, "sl_store_write called inside a transaction");
    struct sl_wreq r = {.fn = fn, .arg = arg, .err = err};
    pthread_cond_init(&r.cond, NULL);

    pthread_mutex_lock(&s->mu);
    int rc = enqueue(s, &r, err);
    if (rc) {
        pthread_mutex_unlock(&s->mu);
        pthread_cond_destroy(&r.cond);
        return rc;
    }
    s->callers++;
    while (!r.done)
        pthread_cond_wait(&r.cond, &s->mu);
    if (--s->callers == 0 && s->closing)
        pthread_cond_broadcast(&s->done); /* sl_store_close() may free s now */
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&r.cond);
    return r.result;
}

int sl_store_submit(struct sl_store *s, sl_txn_fn fn, void *arg, struct sl_err *err,
                    void (*done)(void *arg, int result), void *done_arg)
{
    if (!s || !fn || !done)
        return sl_errf(err, SL_EINVAL, "sl_store_submit: no store, function or callback");
    struct sl_wreq *r = calloc(1, sizeof(*r));
    if (!r)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    *r = (struct sl_wreq){.fn = fn, .arg = arg, .err = err, .on_done = done, .done_arg = done_arg};
    pthread_mutex_lock(&s->mu);
    int rc = enqueue(s, r, err);
    pthread_mutex_unlock(&s->mu);
    if (rc)
        free(r);
    return rc;
}

int sl_store_wait_queued(struct sl_store *s, size_t n, int64_t timeout_ms)
{
    struct timespec dl = sl_time_deadline(CLOCK_MONOTONIC, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    while (s->queued < n && rc == 0) {
        if (pthread_cond_timedwait(&s->wake, &s->mu, &dl) == ETIMEDOUT && s->queued < n)
            rc = SL_EAGAIN;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sl_store_get_stats(struct sl_store *s, struct sl_store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

/* ---- open and close ------------------------------------------------------ */

/* mkdir -p with mode 0700 for the components it creates. */
static int make_dirs(const char *dir, struct sl_err *err)
{
    char *p = strdup(dir);
    if (!p)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char saved = *q;
        *q = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = sl_errf(err, SL_EIO, "mkdir %s: %s", p, strerror(errno));
            goto fail;
        }
        *q = saved;
        if (saved == '\0')
            break;
    }
fail:
    free(p);
    return rc;
}

static int pragma_int(struct sl_conn *c, const char *sql, int64_t *out, struct sl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        rc = sl_store_sqlite_err(c, rc, err, sql);
    sqlite3_finalize(st);
    return rc;
}

static int exec_sql(struct sl_conn *c, const char *sql, struct sl_err *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sl_store_sqlite_err(c, rc, err, "sql");
    return 0;
}

static int set_wal(struct sl_conn *c, struct sl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        rc = mode && strcmp(mode, "wal") == 0 ? 0 : SL_EIO;
        if (rc)
            sl_errf(err, rc, "journal_mode=WAL refused (mode %s)", mode ? mode : "?");
    } else {
        rc = sl_store_sqlite_err(c, rc == SQLITE_OK ? sqlite3_errcode(c->db) : rc, err,
                                 "journal_mode=WAL");
    }
    sqlite3_finalize(st);
    return rc;
}

static int migrate(struct sl_conn *c, struct sl_err *err)
{
    int64_t version = 0;
    int rc = pragma_int(c, "PRAGMA user_version", &version, err);
    if (rc)
        return rc;
    if (version > (int64_t)SL_ARRAY_LEN(migrations))
        return sl_errf(err, SL_ECORRUPT,
                       "database schema version %lld is newer than this build (%zu)",
                       (long long)version, SL_ARRAY_LEN(migrations));
    for (size_t i = (size_t)version; i < SL_ARRAY_LEN(migrations); i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %zu", i + 1);
        rc = exec_sql(c, "BEGIN IMMEDIATE", err);
        if (rc)
            return rc;
        rc = exec_sql(c, migrations[i], err);
        if (!rc)
            rc = exec_sql(c, sql, err);
        if (!rc)
            rc = exec_sql(c, "COMMIT", err);
        if (rc) {
            exec_sql(c, "ROLLBACK", NULL);
            return sl_errf(err, rc, "migration %zu: %s", i + 1, err ? err->msg : "");
        }
        sl_info(SL_STORE_LOG, "applied migration %zu", i + 1);
    }
    return 0;
}

static int file_used(struct sl_store *s, const char *name, bool *used, struct sl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sl_store_stmt(&s->writer, SL_STMT_FILE_USED, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return sl_store_sqlite_err(&s->writer, src, err, "blob file lookup");
    *used = src == SQLITE_ROW;
    return 0;
}

/*
 * Removes what a crash can leave in the blob directory: temp files of
 * unfinished writers, and finished files whose item never committed (or
 * whose unlink after a commit was lost). Runs before the writer starts.
 */
static int recover(struct sl_store *s, struct sl_err *err)
{
    int rc = 0;
    int fd = dup(s->blob_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        rc = sl_errf(err, SL_EIO, "open blob directory: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    size_t removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        bool orphan = strncmp(name, SL_BLOB_TMP_PREFIX, strlen(SL_BLOB_TMP_PREFIX)) == 0;
        if (!orphan && sl_blob_id_valid(name)) {
            bool used = true;
            rc = file_used(s, name, &used, err);
            if (rc)
                goto fail;
            orphan = !used;
        } else if (!orphan && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            sl_warn(SL_STORE_LOG, "unknown file %s in blob directory left alone", name);
        }
        if (orphan) {
            if (unlinkat(s->blob_fd, name, 0) != 0 && errno != ENOENT) {
                rc = sl_errf(err, SL_EIO, "remove orphan blob %s: %s", name, strerror(errno));
                goto fail;
            }
            removed++;
        }
    }
    if (removed)
        sl_info(SL_STORE_LOG, "recovery removed %zu orphan blob files", removed);
fail:
    if (d)
        closedir(d);
    return rc;
}

static void store_free(struct sl_store *s)
{
    if (s->ckpt_running) {
        pthread_mutex_lock(&s->mu);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->ckpt_thread, NULL);
    }
    conn_close(&s->ckpt);
    while (s->pool) {
        struct sl_conn *c = s->pool;
        s->pool = c->next;
        conn_close(c);
        free(c);
    }
    /* Last connection closed: SQLite checkpoints and removes the WAL. */
    conn_close(&s->writer);
    unlinks_truncate(s, 0);
    free(s->unlinks);
    sl_store_log_heads_free(s);
    if (s->blob_fd >= 0)
        close(s->blob_fd);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->ckpt_wake);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->pool_mu);
    free(s->db_path);
    free(s->dir);
    free(s);
}

int sl_store_open(struct sl_store **out, const char *dir, struct sl_err *err)
{
    *out = NULL;
    if (!dir || !*dir)
        return sl_errf(err, SL_EINVAL, "store directory not given");
    if (!sqlite3_threadsafe())
        return sl_errf(err, SL_EINVAL, "SQLite was built without thread support");
    struct sl_store *s = calloc(1, sizeof *s);
    if (!s)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    s->dir_fd = s->blob_fd = s->lock_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_cond_init(&s->done, &ca);
    pthread_cond_init(&s->ckpt_wake, &ca);
    pthread_condattr_destroy(&ca);

    int rc = 0;
    size_t n = strlen(dir);
    s->dir = strdup(dir);
    s->db_path = malloc(n + sizeof "/sluice.db");
    if (!s->dir || !s->db_path) {
        rc = sl_errf(err, SL_ENOMEM, "out of memory");
        goto fail;
    }
    memcpy(s->db_path, dir, n);
    memcpy(s->db_path + n, "/sluice.db", sizeof "/sluice.db");

    rc = make_dirs(dir, err);
    if (rc)
        goto fail;
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        rc = sl_errf(err, SL_EIO, "open %s: %s", dir, strerror(errno));
        goto fail;
    }
    /* One process per store: recovery would remove another's temp files. */
    s->lock_fd = openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        rc = sl_errf(err, SL_EIO, "open %s/lock: %s", dir, strerror(errno));
        goto fail;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? sl_errf(err, SL_EBUSY, "store %s is in use by another process", dir)
                 : sl_errf(err, SL_EIO, "lock %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (mkdirat(s->dir_fd, "blobs", 0700) == 0) {
        if (fsync(s->dir_fd) != 0) {
            rc = sl_errf(err, SL_EIO, "fsync %s: %s", dir, strerror(errno));
            goto fail;
        }
    } else if (errno != EEXIST) {
        rc = sl_errf(err, SL_EIO, "mkdir %s/blobs: %s", dir, strerror(errno));
        goto fail;
    }
    s->blob_fd = openat(s->dir_fd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->blob_fd < 0) {
        rc = sl_errf(err, SL_EIO, "open %s/blobs: %s", dir, strerror(errno));
        goto fail;
    }

    rc = conn_open(&s->writer, s->db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
    if (rc)
        goto fail;
    rc = set_wal(&s->writer, err);
    if (!rc)
        rc = exec_sql(&s->writer, "PRAGMA synchronous=FULL", err);
    if (!rc)
        rc = migrate(&s->writer, err);
    if (!rc)
        rc = recover(s, err);
    if (rc)
        goto fail;

    rc = conn_open(&s->ckpt, s->db_path, SQLITE_OPEN_READWRITE, err);
    if (!rc)
        rc = set_wal(&s->ckpt, err); /* opens the database and its WAL now */
    if (rc)
        goto fail;
    int perr = pthread_create(&s->ckpt_thread, NULL, checkpointer_main, s);
    if (!perr)
        pthread_setname_np(s->ckpt_thread, "sl-checkpoint"); /* (for top and perf) */
    if (perr != 0) {
        rc = sl_errf(err, SL_EIO, "start checkpointer thread: %s", strerror(perr));
        goto fail;
    }
    s->ckpt_running = true;
    /* Replaces SQLite's auto-checkpoint, which would run inside commits. */
    sqlite3_wal_hook(s->writer.db, wal_hook, s);
    perr = pthread_create(&s->thread, NULL, writer_main, s);
    if (!perr)
        pthread_setname_np(s->thread, "sl-writer"); /* (for top and perf) */
    if (perr != 0) {
        rc = sl_errf(err, SL_EIO, "start writer thread: %s", strerror(perr));
        goto fail;
    }
    s->running = true;
    *out = s;
    return 0;
fail:
    store_free(s);
    return rc;
}

void sl_store_close(struct sl_store *s)
{
    if (!s)
        return;
    if (s->running) {
        pthread_mutex_lock(&s->mu);
        s->closing = true;
        pthread_cond_broadcast(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        /* The last waiters may not have left sl_store_write() yet. */
        pthread_mutex_lock(&s->mu);
        while (s->callers > 0)
            pthread_cond_wait(&s->done, &s->mu);
        pthread_mutex_unlock(&s->mu);
    }
    store_free(s);
}
