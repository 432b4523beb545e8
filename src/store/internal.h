/*
 * store/internal.h — what the files of the embedded store backend share:
 * the store object, the table of prepared statements, the reader pool, the
 * state of the batch the writer thread is running, and one test hook.
 * Only the .c files of src/store and the store's unit test include it.
 */
#ifndef SL_STORE_INTERNAL_H
#define SL_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

#define SL_STORE_LOG "store"

/* A blob file is named by 16 random bytes in hex; a temp file has a prefix. */
#define SL_BLOB_ID_LEN 32
#define SL_BLOB_TMP_PREFIX "tmp-"

/* Statements, prepared lazily per connection; their SQL is in store.c. */
enum sl_stmt_id {
    SL_STMT_BEGIN_WRITE,
    SL_STMT_BEGIN_READ,
    SL_STMT_COMMIT,
    SL_STMT_ROLLBACK,
    SL_STMT_SAVEPOINT,
    SL_STMT_RELEASE,
    SL_STMT_ROLLBACK_TO,
    SL_STMT_GET,
    SL_STMT_GET_FILE,
    SL_STMT_PUT,
    SL_STMT_INSERT,
    SL_STMT_DELETE,
    SL_STMT_SET_VAL,
    SL_STMT_COUNT,
    SL_STMT_LIST_GE,
    SL_STMT_LIST_GE_LT,
    SL_STMT_LIST_GT,
    SL_STMT_LIST_GT_LT,
    SL_STMT_LIST_DESC,
    SL_STMT_LIST_DESC_LT,
    SL_STMT_PK_FIRST,
    SL_STMT_PK_NEXT,
    SL_STMT_FILE_USED,
    SL_STMT_Q_PUT,
    SL_STMT_Q_RECEIVE,
    SL_STMT_Q_LEASE,
    SL_STMT_Q_DELETE,
    SL_STMT_Q_UPDATE,
    SL_STMT_Q_UPDATE_KEEP_META,
    SL_STMT_Q_RELEASE,
    SL_STMT_Q_NEXT,
    SL_STMT_Q_COUNT,
    SL_STMT_Q_RECEIVE_GROUP,
    SL_STMT_Q_GROUP_FIRST,
    SL_STMT_Q_GROUP_NEXT,
    SL_STMT_Q_NEXT_GROUP,
    SL_STMT_Q_SCAN_FIFO,
    SL_STMT_Q_GROUP_AFTER,
    SL_STMT_Q_REMOVE,
    SL_STMT_Q_MOVE,
    SL_STMT_Q_VISIBILITY,
    SL_STMT_Q_PURGE,
    SL_STMT_Q_STATS,
    SL_STMT_Q_GET,
    SL_STMT_LOG_APPEND,
    SL_STMT_LOG_LAST,
    SL_STMT_LOG_READ,
    SL_STMT_LOG_BOUNDS,
    SL_STMT_LOG_AT_TIME,
    SL_STMT_LOG_TRIM,
    SL_STMT_LOG_OLDEST,
    SL_STMT_LOG_DROP,
    SL_STMT_N
};

/* One SQLite connection with its statement cache. Used by one thread at a
 * time: the writer thread, or the reader that took it from the pool. */
struct sl_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[SL_STMT_N];
    struct sl_conn *next; /* in the pool's free list */
};

/* A transaction waiting for (or running in) a batch: on the stack of the
 * thread blocked in sl_store_write(), or on the heap for
 * sl_store_submit(), whose callback (on_done) runs once it is durable. */
struct sl_wreq {
    sl_txn_fn fn;
    void *arg;
    struct sl_err *err;
    int result;
    bool done;
    pthread_cond_t cond; /* signalled once done (sl_store_write) */
    void (*on_done)(void *arg, int result); /* sl_store_submit */
    void *done_arg;
    struct sl_wreq *next;
};

struct sl_txn {
    struct sl_store *s;
    struct sl_err *err;
    bool put_file; /* stored a file blob: the batch fsyncs the blob dir */
    unsigned queued; /* bit i: put to the queue of watch i */
    char noted[128]; /* the queue or log last noted (sl_store_note_put) */
};

struct sl_queue_watch {
    char q[64];
    void (*cb)(void *arg);
    void *arg;
};

/* A watch of every queue whose name starts with prefix. */
struct sl_queue_pwatch {
    char prefix[64];
    void (*cb)(void *arg, const char *q);
    void *arg;
};
#define SL_QUEUE_PWATCH_MAX 4
/* Names of queues a batch put to, for the prefix watches; past this many,
 * the watches hear of "some queue" (NULL) instead. */
#define SL_QUEUE_PUT_NAMES_MAX 256

struct sl_store {
    char *dir;
    char *db_path;
    int dir_fd, blob_fd, lock_fd;

    /* Owned by the writer thread once it runs (by sl_store_open before). */
    struct sl_conn writer;
    char **unlinks; /* blob files to remove once the batch commits */
    size_t n_unlinks, cap_unlinks;

    pthread_mutex_t pool_mu;
    struct sl_conn *pool; /* idle reader connections */
    size_t pool_idle;

    pthread_mutex_t mu;  /* guards the fields below */
    pthread_cond_t wake; /* something was queued, or closing */
    pthread_cond_t done; /* the last caller left sl_store_write (close waits) */
    struct sl_wreq *head, *tail;
    size_t queued;
    size_t callers; /* threads inside sl_store_write(); close waits for 0 */
    bool closing;
    bool running;
    pthread_t thread;
    struct sl_store_stats stats;

    /* The checkpointer: copies the WAL back into the database on its own
     * thread and connection, woken by the writer's WAL hook, so that a
     * commit never waits for a checkpoint. Guarded by mu. */
    struct sl_conn ckpt;
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_wake;
    bool ckpt_running, ckpt_due, ckpt_stop;
    /* Queue watches: set up before use, read by the writer thread. */
    struct sl_queue_watch watches[SL_QUEUE_WATCH_MAX];
    size_t n_watches;
    struct sl_queue_pwatch pwatches[SL_QUEUE_PWATCH_MAX];
    size_t n_pwatches;
    /* The writer's: queues the current batch put to that a prefix watch
     * matches (malloc'd names), and whether there were more. */
    char *put_names[SL_QUEUE_PUT_NAMES_MAX];
    size_t n_put_names;
    bool put_names_over;
    /* The writer's: the next sequence number of each log shard appended
     * to (log.c), loaded from the table on first use. */
    struct sl_log_head *log_heads;
    /* Frames of the current WAL the checkpointer has copied, and the WAL's
     * size at the last commit (a smaller size means SQLite restarted it). */
    int wal_backfilled, wal_frames;
};

/* WAL size, in frames, past which the writer checkpoints itself between
 * batches. Under a steady stream of commits the checkpointer never quite
 * catches up (frames land while it copies), and SQLite restarts the WAL
 * only once every frame is copied; this bounds the file (about 32 MiB). */
#define SL_WAL_MAX_PAGES 8000

/* Returns the cached statement id of c, preparing it on first use. The
 * statement is reset and must be reset again after use. */
int sl_store_stmt(struct sl_conn *c, enum sl_stmt_id id, sqlite3_stmt **out,
                  struct sl_err *err);
/* A malloc'd NUL-terminated copy of column col of st's row; *len (may be
 * NULL) its length. */
char *sl_store_col_dup(sqlite3_stmt *st, int col, size_t *len);
/* Turns a SQLite failure of c into an SL_E* code and a message in err. */
int sl_store_sqlite_err(struct sl_conn *c, int rc, struct sl_err *err, const char *what);
/* The writer, after a batch: calls the prefix watches for the queues it
 * put to (when notify: it committed), and forgets them (queue.c). */
void sl_store_put_names_flush(struct sl_store *s, bool notify);
/* Notes that the batch put to queue or log name, for the watches. */
void sl_store_note_put(struct sl_txn *t, const char *name);
/* Frees the log heads (log.c; at close). */
void sl_store_log_heads_free(struct sl_store *s);
/* Takes a read-only connection from the pool (opening one if none is idle)
 * and gives it back. */
int sl_store_reader_get(struct sl_store *s, struct sl_conn **out, struct sl_err *err);
void sl_store_reader_put(struct sl_store *s, struct sl_conn *c);

/* Schedules blob file name (malloc'd, taken over) for removal after the
 * running batch commits. Reserve first, so that pushing cannot fail. */
int sl_store_unlink_reserve(struct sl_store *s);
void sl_store_unlink_push(struct sl_store *s, char *name);

/* Whether name has the shape of a blob file id (never a path). */
bool sl_blob_id_valid(const char *name);

/*
 * Test hook: waits until at least n transactions are queued and not yet
 * taken by the writer, or timeout_ms passed (then SL_EAGAIN).
 */
int sl_store_wait_queued(struct sl_store *s, size_t n, int64_t timeout_ms);

#endif
