/*
 * mapping — the skeleton of event source mappings: one poller per
 * mapping, on the engine loop, reads a batch of records from its source,
 * hands it to its target, then acknowledges it (a queue deletes the
 * records, a log shard moves its checkpoint past them) or, when the target
 * failed, gives it back and backs off. Up to `concurrency` batches are
 * with the target at once; reads and acknowledgements are asynchronous
 * (store transactions), so the loop never waits on a commit. SQS,
 * Kinesis and DynamoDB Streams each bring a source; the poller is the
 * same.
 *
 * The poller never polls on a timer while idle: when a read finds
 * nothing, it waits for the source's wake (the store's commit watch of its
 * queue or log). Timers run only while there is work: a batching window
 * holding records back, or a back-off after a failure.
 *
 * May call: core, engine.
 */
#ifndef SL_ENGINE_MAPPING_H
#define SL_ENGINE_MAPPING_H

#include "core/core.h"
#include "engine/engine.h"

struct sl_mapping;

/* A batch as the source read it: n records and what the source needs to
 * acknowledge or give them back (its cursor: receipts, sequence numbers). */
struct sl_batch {
    void *records; /* the source's array */
    size_t n;
    void *cursor;
    /* The source's: it read as many as it could take, so there may be
     * more now (a read that dropped records, to a filter say, may give
     * none and still set it). */
    bool more;
    /* The source's, when it did not fill the batch: the time
     * (sl_loop_now_ms) records it holds back now become readable (a
     * queue's messages in flight return), 0 when none: the poller reads
     * again then, unless woken before. */
    int64_t again_ms;
    /* The source's: it held records back behind records in flight (a FIFO
     * group with a message out), which an acknowledgement may free: the
     * poller reads again after the next one. */
    bool blocked;
    /* The target's report, for ack: NULL when every record succeeded,
     * else n flags, true for each record that failed (a partial batch
     * response); the poller frees it. */
    bool *failed;
    /* The source's, from ack: records of the batch come back at once (a
     * stream retries a partial failure from its lowest record), so the
     * poller backs off before it reads again, as after a failure. */
    bool back_off;
};

/* A source's hooks call back through this when they finish (any
 * thread): rc 0, or a failure (with err's message). */
typedef void (*sl_source_done)(void *arg, int rc);

/* What a mapping reads from. Every hook is called on the loop thread;
 * read's and ack's done and watch's wake may come from any thread. */
struct sl_source {
    /* Starts reading up to max records available now (a store
     * transaction, say): done runs once b is filled (b->n == 0 when there
     * are none yet). 0 when started; else done never runs. */
    int (*read)(void *self, size_t max, struct sl_batch *b, struct sl_err *err,
                sl_source_done done, void *arg);
    /* Starts acknowledging b: deletes its records but those b->failed
     * marks (a queue), or checkpoints past them (a log). As read. */
    int (*ack)(void *self, struct sl_batch *b, struct sl_err *err, sl_source_done done,
               void *arg);
    /* The target failed b: its records are read again (a queue's become
     * visible again, a shard re-reads from its checkpoint). */
    void (*retry)(void *self, struct sl_batch *b);
    /* Frees what read filled in b (after ack or retry). */
    void (*release)(void *self, struct sl_batch *b);
    /* Calls wake(arg) whenever records may have come, until unwatch. */
    int (*watch)(void *self, void (*wake)(void *arg), void *arg);
    void (*unwatch)(void *self, void (*wake)(void *arg), void *arg);
};

struct sl_mapping_config {
    struct sl_loop *loop;
    const struct sl_source *source;
    void *source_self;
    size_t batch_size;     /* BatchSize: records in one delivery at most */
    unsigned concurrency;  /* batches with the target at once (0: 1) */
    int64_t window_ms;     /* MaximumBatchingWindowInSeconds, in ms (0: none) */
    int64_t backoff_ms;    /* after the first failure; doubles */
    int64_t backoff_max_ms;
    double time_scale;     /* --time-scale: the window and back-off divide by it */
    /* Hands b to the target (loop thread); the target reports with
     * sl_mapping_done(), from any thread, once. */
    void (*deliver)(void *ctx, struct sl_mapping *m, struct sl_batch *b);
    void *ctx;
};

struct sl_mapping_stats {
    uint64_t reads;     /* reads of the source */
    uint64_t batches;   /* batches delivered */
    uint64_t records;   /* records in them */
    uint64_t acked;     /* batches acknowledged */
    uint64_t failures;  /* batches the target failed (partly, for a partial response) */
    uint64_t in_flight; /* batches with the target now */
};

/* Starts a poller: it reads at once, then as the source wakes it. */
int sl_mapping_start(struct sl_mapping **out, const struct sl_mapping_config *cfg,
                     struct sl_err *err);
/* The target's report on batch b it was handed (any thread): ok, with
 * b->failed set (malloc'd, taken) for a partial success. */
void sl_mapping_done(struct sl_mapping *m, struct sl_batch *b, bool ok);
void sl_mapping_get_stats(struct sl_mapping *m, struct sl_mapping_stats *out);
/* Stops reading, waits for the batches in flight to be reported, and
 * frees the poller. Not from the loop thread. NULL ok. */
void sl_mapping_stop(struct sl_mapping *m);

#endif
