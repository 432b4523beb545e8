/*
 * store — the primitives every service is built on: kv (keyed items in
 * namespaces, ordered by a partition key and a sort key, written in
 * transactions), blob (large immutable byte strings, streamed in,
 * published atomically with the item that refers to them), queue
 * (messages leased by receivers) and log (append-only shards read by
 * sequence number). The embedded backend is SQLite (WAL, STRICT tables,
 * numbered migrations) plus files; services never see SQLite.
 *
 * Durability: every write goes through one writer thread that batches the
 * transactions submitted concurrently into one SQLite transaction and one
 * fsync (group commit). sl_store_write() returns only after that commit is
 * on disk, so an acknowledged write survives kill -9.
 *
 * May call: core, SQLite, libc.
 */
#ifndef SL_STORE_H
#define SL_STORE_H

#include "core/core.h"

struct sl_store;
struct sl_txn;

/* Objects up to this size are kept inline in SQLite; larger ones are files. */
#define SL_BLOB_INLINE_MAX (64 * 1024)

/* Opens (creating and migrating) the store in dir. */
int sl_store_open(struct sl_store **out, const char *dir, struct sl_err *err);
/* Waits for queued writes, stops the writer and closes everything. NULL ok. */
void sl_store_close(struct sl_store *s);

/* ---- blobs ------------------------------------------------------------ */

/*
 * A blob as an item refers to it: either inline bytes or a file in the
 * store's blob directory. Caller-owned; release with sl_blob_free().
 */
struct sl_blob {
    uint64_t size;
    char *inline_data; /* malloc'd when the blob is inline, else NULL */
    char *file_id;     /* malloc'd file name when on disk, else NULL */
};
void sl_blob_free(struct sl_blob *b);

/*
 * Streams a new blob in. Bytes accumulate in memory up to
 * SL_BLOB_INLINE_MAX, then spill to a temp file in the blob directory and
 * go straight to it (memory use stays bounded whatever the size).
 * sl_blob_writer_finish() fdatasyncs and renames the file into place (or
 * hands over the bytes of an inline blob) and fills out; it frees the
 * writer whether it succeeds or not. The blob becomes reachable only when
 * a transaction stores it with sl_txn_put(); until then, remove it with
 * sl_blob_discard(). sl_blob_writer_abort() frees an unfinished writer and
 * removes what was written; it accepts NULL. After a failed write the
 * writer only fails: abort it.
 */
struct sl_blob_writer;
int sl_blob_writer_new(struct sl_store *s, struct sl_blob_writer **out);
int sl_blob_writer_write(struct sl_blob_writer *w, const void *p, size_t n);
uint64_t sl_blob_writer_size(const struct sl_blob_writer *w);
int sl_blob_writer_finish(struct sl_blob_writer *w, struct sl_blob *out);
void sl_blob_writer_abort(struct sl_blob_writer *w);
/* Appends the bytes of a committed blob to w (copy_file_range for files). */
int sl_blob_writer_append_blob(struct sl_blob_writer *w, const struct sl_blob *src);
/* Makes an independent copy of a committed blob, ready for sl_txn_put().
 * SL_ENOTFOUND when the source file is gone. */
int sl_blob_copy(struct sl_store *s, const struct sl_blob *src, struct sl_blob *out);
/* Removes the file of a finished blob that was never committed (nothing to
 * do for an inline one). b stays the caller's: sl_blob_free() it. */
void sl_blob_discard(struct sl_store *s, struct sl_blob *b);

/*
 * Opens a committed blob for reading: *fd is an open descriptor of the
 * blob's file (caller closes) or -1 when the blob is inline, in which case
 * the bytes are in b->inline_data. SL_ENOTFOUND when the file is gone
 * (the item was replaced meanwhile: read the item again). SL_EINVAL for
 * the inline blob of a listed item, whose bytes were not loaded.
 */
int sl_blob_open(struct sl_store *s, const struct sl_blob *b, int *fd);

/* ---- kv items --------------------------------------------------------- */

/* One item. Caller-owned when returned; release with sl_item_free(). */
struct sl_item {
    char *ns, *pk, *sk;
    char *val; /* value bytes (services keep JSON here), NUL-terminated */
    size_t val_len;
    struct sl_blob blob; /* size 0 and both pointers NULL when none */
    bool has_blob;
};
void sl_item_free(struct sl_item *it);

/* Reads one item outside any transaction (a consistent snapshot of the
 * last commit). SL_ENOTFOUND when absent. */
int sl_kv_get(struct sl_store *s, const char *ns, const char *pk, const char *sk,
              struct sl_item *out);

/*
 * Lists items of (ns, pk) whose sort key starts with prefix (NULL or "" for
 * all) and is strictly greater than after (NULL for from the start), in
 * byte order of the sort key, at most limit of them (0 lists none,
 * SIZE_MAX all). *items is malloc'd, NULL when *count is 0 (free each
 * with sl_item_free, then the array). Listed items carry has_blob,
 * blob.size and blob.file_id, but not the bytes of inline blobs
 * (blob.inline_data is NULL): sl_kv_get() the item for those.
 */
int sl_kv_list(struct sl_store *s, const char *ns, const char *pk, const char *prefix,
               const char *after, size_t limit, struct sl_item **items, size_t *count);

/* As sl_kv_list, but in descending byte order of the sort key: items
 * whose sort key starts with prefix and is strictly less than before
 * (NULL for from the end). */
int sl_kv_list_desc(struct sl_store *s, const char *ns, const char *pk, const char *prefix,
                    const char *before, size_t limit, struct sl_item **items, size_t *count);

/* Lists the distinct partition keys of ns in byte order. *pks is
 * malloc'd, as is each key (free each, then the array). */
int sl_kv_list_pks(struct sl_store *s, const char *ns, char ***pks, size_t *count);

/* ---- transactions ----------------------------------------------------- */

/*
 * A transaction is a function run by the writer thread inside the current
 * batch, under a savepoint: if it returns non-zero everything it did is
 * rolled back and that code comes back from sl_store_write(); the other
 * transactions of the batch are unaffected. It must not block and must not
 * call sl_store_write(). err carries its message back to the caller.
 */
typedef int (*sl_txn_fn)(struct sl_txn *t, void *arg, struct sl_err *err);

/* Runs fn in the next batch and returns once that batch is durable: fn's
 * result, or SL_EIO (with the reason in err) when the batch as a whole
 * could not commit, or SL_ECLOSED once sl_store_close() has begun. */
int sl_store_write(struct sl_store *s, sl_txn_fn fn, void *arg, struct sl_err *err);

/*
 * As sl_store_write() without waiting: done(done_arg, result) runs on the
 * writer thread once the batch is durable or failed, with what
 * sl_store_write() would have returned (err filled). done must only hand
 * the result on: never block, never write. arg and err must live until
 * then. 0 when queued; SL_ECLOSED once sl_store_close() has begun and
 * SL_ENOMEM, when done never runs. Queued transactions run before close
 * returns.
 */
int sl_store_submit(struct sl_store *s, sl_txn_fn fn, void *arg, struct sl_err *err,
                    void (*done)(void *arg, int result), void *done_arg);

/* Inside a transaction: reads see the transaction's own writes. */
int sl_txn_get(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
               struct sl_item *out);
/* 0 when the item exists, SL_ENOTFOUND when not. */
int sl_txn_exists(struct sl_txn *t, const char *ns, const char *pk, const char *sk);
/* Counts items of (ns, pk), stopping at limit (0 = no limit). */
int sl_txn_count(struct sl_txn *t, const char *ns, const char *pk, size_t limit,
                 size_t *count);
/*
 * Inserts or replaces an item. blob may be NULL (the item has none), else a
 * blob from sl_blob_writer_finish() or sl_blob_copy() that no item refers
 * to yet (SL_EINVAL if its file is missing, has another size or belongs
 * to another item); the struct stays the caller's. If sl_store_write()
 * then fails, the caller removes the blob with sl_blob_discard(). The blob
 * of a replaced item is deleted after the commit.
 */
int sl_txn_put(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
               const char *val, size_t val_len, const struct sl_blob *blob);
/* Adds an item without a blob that must not exist yet (SL_EEXIST if it
 * does): no replaced item's blob to look for, so cheaper than
 * sl_txn_put() for keys that are new by construction. */
int sl_txn_insert(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                  const char *val, size_t val_len);
/* Lists items of (ns, pk) with sort key > after (NULL: all), at most
 * limit, as sl_kv_list but seeing the transaction's own writes. */
int sl_txn_list(struct sl_txn *t, const char *ns, const char *pk, const char *after,
                size_t limit, struct sl_item **items, size_t *count);
/* Deletes every item of (ns, pk), and after the commit their blobs;
 * *deleted (may be NULL) counts them. */
int sl_txn_delete_pk(struct sl_txn *t, const char *ns, const char *pk, size_t *deleted);
/* The first partition key of ns greater than after (NULL: the first), as
 * the transaction sees them (malloc'd); SL_ENOTFOUND when none is. */
int sl_txn_next_pk(struct sl_txn *t, const char *ns, const char *after, char **pk);
/* Deletes every item of ns, as sl_txn_delete_pk does each partition. */
int sl_txn_delete_ns(struct sl_txn *t, const char *ns, size_t *deleted);
/* Replaces only the value of an item, keeping its blob. SL_ENOTFOUND if
 * absent. */
int sl_txn_set_val(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                   const char *val, size_t val_len);
/* Deletes an item (and, after the commit, its blob). SL_ENOTFOUND if absent. */
int sl_txn_delete(struct sl_txn *t, const char *ns, const char *pk, const char *sk);

/* ---- queues ----------------------------------------------------------- */

/*
 * Durable queues of messages, named by the service ("lambda.async", ...):
 * at-least-once delivery by leases. A message is put inside a transaction
 * (so it commits with whatever caused it), becomes visible at visible_ms
 * (wall clock, ms since the epoch; now for no delay), and is received
 * oldest-visible first: receiving leases it (invisible until the lease
 * ends, receive count + 1). The receiver then deletes it (done) or updates
 * it (a new visible time and meta: a retry later). A receipt is the id and
 * the receive count; a stale receipt (the message was received again
 * since) changes nothing and gets SL_ENOTFOUND. Body and meta are bytes;
 * services keep JSON in meta. A message may belong to a group (a
 * function's events, an SQS FIFO message group: "" for none), and a
 * consumer may receive one group's messages only.
 */
struct sl_qmsg {
    int64_t id;
    uint32_t receives; /* with id: the receipt */
    int64_t enqueued_ms, visible_ms;
    int64_t first_ms; /* its first receive (0: never received) */
    bool leased;      /* received, and not put back since */
    char *body, *meta, *group; /* NUL-terminated */
    size_t body_len, meta_len;
};
void sl_qmsg_free(struct sl_qmsg *m);
/* Frees n messages and the array. */
void sl_qmsgs_free(struct sl_qmsg *v, size_t n);

/* Puts a message in group (NULL: none) of q; *id (may be NULL) its id. */
int sl_txn_queue_put(struct sl_txn *t, const char *q, const char *group, const void *body,
                     size_t body_len, const char *meta, int64_t visible_ms, int64_t *id);
/* Leases up to max messages of group (NULL: any) visible at now_ms until
 * now_ms + lease_ms, oldest visible first. *out is malloc'd (NULL when *n
 * is 0). */
int sl_txn_queue_receive(struct sl_txn *t, const char *q, const char *group, int64_t now_ms,
                         int64_t lease_ms, size_t max, struct sl_qmsg **out, size_t *n);
int sl_txn_queue_delete(struct sl_txn *t, const char *q, int64_t id, uint32_t receives);

/*
 * The pieces of a receive, for a service with its own rules (SQS: expiry,
 * redrive, FIFO order). A scan reads without leasing: up to max messages
 * of group (NULL: any) visible at now_ms, oldest visible first. A FIFO
 * scan reads the first max messages of a named group in the order they
 * were put, visible or not (the caller stops at the first that is not).
 * next_group finds the named group after `after` ("" or NULL: the first),
 * SL_ENOTFOUND past the last. lease leases m (receive count + 1, the
 * first receive's time kept) until until_ms, and updates m.
 */
int sl_txn_queue_scan(struct sl_txn *t, const char *q, const char *group, int64_t now_ms,
                      size_t max, struct sl_qmsg **out, size_t *n);
int sl_txn_queue_scan_fifo(struct sl_txn *t, const char *q, const char *group, size_t max,
                           struct sl_qmsg **out, size_t *n);
int sl_txn_queue_next_group(struct sl_txn *t, const char *q, const char *after, char **group);
int sl_txn_queue_lease(struct sl_txn *t, const char *q, struct sl_qmsg *m, int64_t now_ms,
                       int64_t until_ms);
/* Message id of q as it is (its receipt: id and receives), into out
 * (sl_qmsg_free); SL_ENOTFOUND when gone. */
int sl_txn_queue_get(struct sl_txn *t, const char *q, int64_t id, struct sl_qmsg *out);
/* Deletes message id whatever its receipt (expiry, a filter). */
int sl_txn_queue_remove(struct sl_txn *t, const char *q, int64_t id);
/* Moves message id to queue `to` (a dead-letter queue) with meta, visible
 * at visible_ms, never received there; its put time stays. Wakes to's
 * watchers as a put does. */
int sl_txn_queue_move(struct sl_txn *t, const char *q, int64_t id, const char *to,
                      const char *meta, int64_t visible_ms);
/* A new visible time for a message in flight (leased, not visible at
 * now_ms) under this receipt: SL_ENOTFOUND when it is not. The lease
 * stays; a time not after now makes it visible (and wakes watchers). */
int sl_txn_queue_visibility(struct sl_txn *t, const char *q, int64_t id, uint32_t receives,
                            int64_t now_ms, int64_t visible_ms);
/* Deletes every message of q; *n (may be NULL) counts them. */
int sl_txn_queue_purge(struct sl_txn *t, const char *q, size_t *n);
/* Tells q's watchers that messages became visible without a put. */
void sl_txn_queue_touch(struct sl_txn *t, const char *q);
/* Ends a lease: visible again at visible_ms, with meta (NULL keeps it). */
int sl_txn_queue_update(struct sl_txn *t, const char *q, int64_t id, uint32_t receives,
                        int64_t visible_ms, const char *meta);
/* Ends every lease of q at once (visible at now_ms): for a consumer that
 * starts again after a crash and knows nobody else holds them. *n counts. */
int sl_txn_queue_release(struct sl_txn *t, const char *q, int64_t now_ms, size_t *n);
/* The earliest visible time of q's messages (leased ones included), or
 * SL_ENOTFOUND when q is empty. Outside any transaction. */
int sl_queue_next_visible(struct sl_store *s, const char *q, int64_t *ms);
/* How many messages q holds. */
int sl_queue_count(struct sl_store *s, const char *q, size_t *n);
/* The same for one group: its earliest visible time, SL_ENOTFOUND when
 * it has no message. */
int sl_queue_next_visible_group(struct sl_store *s, const char *q, const char *group,
                                int64_t *ms);
/* The same inside a transaction (it sees the transaction's own writes). */
int sl_txn_queue_next_visible_group(struct sl_txn *t, const char *q, const char *group,
                                    int64_t *ms);
/* What q holds at now_ms, of the messages put at or after since_ms
 * (older ones have expired): visible, in flight (leased, not visible
 * yet), delayed (never received or put back, not visible yet), and the
 * put time of the oldest (0 when none). Outside any transaction. */
struct sl_queue_stats {
    uint64_t visible, in_flight, delayed;
    int64_t oldest_ms;
};
int sl_queue_stats(struct sl_store *s, const char *q, int64_t now_ms, int64_t since_ms,
                   struct sl_queue_stats *out);
/* The groups of q's messages, each with its earliest visible time
 * (leased messages included), in byte order: cb(arg, group, ms) for each,
 * a step through the index per group whatever the queue's size.
 * Outside any transaction. */
int sl_queue_groups(struct sl_store *s, const char *q,
                    void (*cb)(void *arg, const char *group, int64_t ms), void *arg);
/*
 * Calls cb(arg) on the writer thread after each batch that committed a
 * put to q (it must only wake someone: never block, never write). At most
 * SL_QUEUE_WATCH_MAX watches, set up before the queue is used.
 */
#define SL_QUEUE_WATCH_MAX 8
int sl_store_queue_watch(struct sl_store *s, const char *q, void (*cb)(void *arg), void *arg);
/* Ends the watch of cb and arg: once it returns, cb is not running and
 * will not be called again. */
void sl_store_queue_unwatch(struct sl_store *s, void (*cb)(void *arg), void *arg);
/*
 * Calls cb(arg, q) on the writer thread after each batch that committed
 * a put to a queue q whose name starts with prefix (or a move to it, or
 * sl_txn_queue_touch); q is NULL when the batch touched too many queues
 * to name them ("any of them"). The same rules as a watch; at most
 * SL_QUEUE_PWATCH_MAX (4) at once. unwatch_prefix: as unwatch.
 */
int sl_store_queue_watch_prefix(struct sl_store *s, const char *prefix,
                                void (*cb)(void *arg, const char *q), void *arg);
void sl_store_queue_unwatch_prefix(struct sl_store *s, void (*cb)(void *arg, const char *q),
                                   void *arg);

/* ---- logs ------------------------------------------------------------- */

/*
 * Durable append-only logs named by the service ("kinesis:<id>", ...),
 * each of shards numbered by the service: a record is appended inside a
 * transaction (so it commits with whatever caused it, and concurrent
 * appenders share the batch's one fsync) and gets the next sequence
 * number of its shard, which only grows (a rolled-back append leaves a
 * gap). Records are read from any sequence number on; retention trims a
 * shard's old records (its last one stays, unread by readers that skip
 * records older than their since_ms, so its numbers go on growing). A
 * reader's checkpoint is the service's (a kv item). Appends wake the
 * prefix watches (sl_store_queue_watch_prefix) of the log's name.
 */
struct sl_log_record {
    uint64_t seq;
    int64_t ts_ms; /* when it was appended (the appender's clock) */
    char *key;     /* its partition key (NUL-terminated), key_len bytes */
    size_t key_len;
    char *data; /* NUL-terminated, data_len bytes */
    size_t data_len;
};
void sl_log_record_free(struct sl_log_record *r);
/* Frees n records and the array. */
void sl_log_records_free(struct sl_log_record *v, size_t n);

/* Appends a record to shard of log at ts_ms; *seq (may be NULL) its
 * sequence number. */
int sl_txn_log_append(struct sl_txn *t, const char *log, uint32_t shard, int64_t ts_ms,
                      const void *key, size_t key_len, const void *data, size_t data_len,
                      uint64_t *seq);
/* Appends n records to shard of log at ts_ms as one run (a row of the
 * store, not n): they take consecutive sequence numbers, the first in
 * *first (may be NULL). */
struct sl_log_entry {
    const void *key;
    size_t key_len;
    const void *data;
    size_t data_len;
};
int sl_txn_log_append_run(struct sl_txn *t, const char *log, uint32_t shard, int64_t ts_ms,
                          const struct sl_log_entry *v, size_t n, uint64_t *first);
/* Deletes the shard's records appended before before_ms but its last,
 * looking at its first max records only (the oldest: a trim costs what it
 * removes, and repeated trims keep up with appends); *n (may be NULL)
 * counts them. */
int sl_txn_log_trim(struct sl_txn *t, const char *log, uint32_t shard, int64_t before_ms,
                    size_t max, size_t *n);
/* Deletes every record of log. */
int sl_txn_log_drop(struct sl_txn *t, const char *log);
/* The last sequence number given in the shard (0: none yet), as the
 * transaction sees it. */
int sl_txn_log_last(struct sl_txn *t, const char *log, uint32_t shard, uint64_t *seq);
/*
 * Reads, outside any transaction, the shard's records from sequence
 * number from_seq on, appended at or after since_ms, in order: at most max
 * of them and, past the first, max_bytes of data (0: no limit). *out is
 * malloc'd (NULL when *n is 0); *full (may be NULL) says it stopped at a
 * limit (there may be more).
 */
int sl_log_read(struct sl_store *s, const char *log, uint32_t shard, uint64_t from_seq,
                int64_t since_ms, size_t max, size_t max_bytes, struct sl_log_record **out,
                size_t *n, bool *full);
/* The shard's first sequence number appended at or after since_ms and its
 * last one (0 when none). */
int sl_log_bounds(struct sl_store *s, const char *log, uint32_t shard, int64_t since_ms,
                  uint64_t *first, uint64_t *last);
/* The first sequence number appended at or after ts_ms; SL_ENOTFOUND when
 * none is. */
int sl_log_seq_at(struct sl_store *s, const char *log, uint32_t shard, int64_t ts_ms,
                  uint64_t *seq);

/* Statistics for tests and benchmarks, since sl_store_open(). */
struct sl_store_stats {
    uint64_t batches;      /* committed batches (= fsyncs of the database) */
    uint64_t transactions; /* transactions run */
    uint64_t checkpoints;  /* checkpoints run (copies of the WAL into the database) */
};
void sl_store_get_stats(struct sl_store *s, struct sl_store_stats *out);

#endif
