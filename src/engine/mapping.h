/*
 * mapping — the skeleton of event source mappings: one poller per
 * mapping, on the engine loop, reads a batch of records from its source,
 * hands it to its target, then acknowledges it (a queue deletes the
 * records, a log shard moves its checkpoint past them) or, when the target
 * failed, gives it back and backs off. SQS, Kinesis and DynamoDB Streams
 * each bring a source; the poller is the same.
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
};

/* What a mapping reads from. Every hook runs on the loop thread but
 * watch's wake, which the source may call from any thread. */
struct sl_source {
    /* Reads up to max records available now, without blocking; b->n == 0
     * when there are none yet. 0, or a failure (the poller backs off). */
    int (*read)(void *self, size_t max, struct sl_batch *b, struct sl_err *err);
    /* The target processed b: delete its records, or checkpoint past them. */
    int (*ack)(void *self, struct sl_batch *b, struct sl_err *err);
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
    uint64_t failures;  /* batches the target failed */
};

/* Starts a poller: it reads at once, then as the source wakes it. */
int sl_mapping_start(struct sl_mapping **out, const struct sl_mapping_config *cfg,
                     struct sl_err *err);
/* The target's report on the batch it was handed (any thread). */
void sl_mapping_done(struct sl_mapping *m, bool ok);
void sl_mapping_get_stats(struct sl_mapping *m, struct sl_mapping_stats *out);
/* Stops reading, waits for the batch in flight to be reported, and frees
 * the poller. Not from the loop thread. NULL ok. */
void sl_mapping_stop(struct sl_mapping *m);

#endif
