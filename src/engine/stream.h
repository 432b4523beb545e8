/*
 * stream — event source mappings over a log (engine/mapping.h's poller,
 * one per shard): the semantics Kinesis and DynamoDB Streams share, so a
 * service brings only how its records look.
 *
 * Each shard is read in order from its checkpoint (a kv item per shard,
 * written after each batch, so a restart resumes there). A shard's
 * records are dealt to ParallelizationFactor lanes by partition key; a
 * lane has one batch out at a time, so records of one key reach the
 * function in order. A batch the function fails is delivered again
 * (bisected in two first when BisectBatchOnFunctionError is set) until it
 * succeeds, runs out of MaximumRetryAttempts, or its records grow older
 * than MaximumRecordAgeInSeconds (or the stream's retention); then its
 * records are dropped with AWS's invocation record sent to the OnFailure
 * destination, in the transaction that moves the checkpoint past them. A
 * failing batch holds back its shard alone. A partial batch response
 * (ReportBatchItemFailures) checkpoints before the lowest failed sequence
 * number and retries from it. With TumblingWindowInSeconds a shard's
 * records are grouped by windows of arrival time, the function's state
 * goes from one invocation to the next, and a final invocation ends each
 * window; the checkpoint moves past a window once that one succeeds.
 *
 * After a resharding a child shard is read once its parents are finished
 * (closed, and read to their last record).
 *
 * Reads of the log run on a reader thread of the mapping's own, never on
 * the loop; checkpoints are store transactions submitted without waiting.
 *
 * May call: core, store, engine.
 */
#ifndef SL_ENGINE_STREAM_H
#define SL_ENGINE_STREAM_H

#include "core/core.h"
#include "engine/engine.h"
#include "engine/targets.h"
#include "store/store.h"

/* One store watch per log prefix ("kinesis:"), shared by every stream
 * mapping of the process. */
struct sl_stream_hub;
int sl_stream_hub_new(struct sl_store *s, struct sl_stream_hub **out);
/* After every stream mapping has stopped. NULL ok. */
void sl_stream_hub_free(struct sl_stream_hub *h);

#define SL_STREAM_PARENTS_MAX 4
struct sl_stream_shard_desc {
    uint32_t n;   /* its log shard */
    char id[48];  /* its name in events ("shardId-000000000000") */
    bool closed;  /* no record will be appended any more */
    uint64_t last; /* closed: its last sequence number (0: none) */
    uint32_t parents[SL_STREAM_PARENTS_MAX];
    size_t nparents;
};
struct sl_stream_desc {
    char log[96];         /* the log's name in the store */
    int64_t retention_ms; /* records older than this are gone */
    struct sl_stream_shard_desc *shards; /* malloc'd */
    size_t nshards;
};
void sl_stream_desc_clear(struct sl_stream_desc *d);

/* What a service brings. Every hook may run on any thread. */
struct sl_stream_ops {
    /* The stream as it is now: SL_ENOTFOUND when it is gone. */
    int (*describe)(void *ctx, struct sl_stream_desc *out);
    /* Appends record r of shard as one element of the event's Records. */
    int (*record)(void *ctx, const struct sl_stream_shard_desc *shard,
                  const struct sl_log_record *r, struct sl_buf *out);
    /* Whether r passes the mapping's filters (NULL: every record does). */
    bool (*pass)(void *ctx, const struct sl_stream_shard_desc *shard,
                 const struct sl_log_record *r);
    /* The sequence number as the service writes it (64 bytes at most),
     * and back (false: not one of the shard's). */
    void (*seq_text)(void *ctx, uint32_t shard, uint64_t seq, char *out, size_t n);
    bool (*seq_parse)(void *ctx, const char *text, uint32_t *shard, uint64_t *seq);
    /* Optional: n records went to the function (for the stream's
     * metrics). */
    void (*delivered)(void *ctx, size_t n);
    /* The member of the on-failure record that describes the batch
     * ("KinesisBatchInfo"). */
    const char *batch_info;
};

enum sl_stream_start { SL_STREAM_TRIM_HORIZON, SL_STREAM_LATEST, SL_STREAM_AT_TIMESTAMP };

enum sl_stream_result {
    SL_STREAM_OK,             /* the function answered */
    SL_STREAM_FUNCTION_ERROR, /* it ran and failed: an attempt */
    SL_STREAM_NOT_RUN,        /* it did not run (a throttle): not an attempt */
};

/* One invocation of the function with a batch's event. */
struct sl_stream_call {
    const char *payload; /* the event (the stream's until done) */
    size_t len;
    size_t nrecords;
    /* The target's report, set before sl_stream_call_done(): */
    enum sl_stream_result result;
    const char *response; /* the function's answer (read during done) */
    size_t response_len;
    char request_id[40];
    int status;              /* the invocation's status code (200) */
    char function_error[32]; /* "Unhandled", or "" */
};

struct sl_stream_config {
    struct sl_loop *loop;
    struct sl_store *store;
    struct sl_stream_hub *hub;
    struct sl_targets *targets;
    const struct sl_stream_ops *ops;
    void *ops_ctx;
    const char *source_arn;   /* the stream's ARN, in records and on-failure records */
    const char *function_arn; /* for on-failure records */
    const char *on_failure;   /* DestinationConfig.OnFailure.Destination, or NULL */
    /* Checkpoints: kv (ckpt_ns, ckpt_pk, "<shard number>"). */
    const char *ckpt_ns, *ckpt_pk;
    enum sl_stream_start start;
    int64_t start_ms;        /* AT_TIMESTAMP */
    size_t batch_size;
    int64_t window_ms;       /* MaximumBatchingWindowInSeconds, in ms */
    unsigned parallelization;
    bool bisect;
    long max_retries;        /* -1: until the records expire */
    int64_t max_age_ms;      /* -1: the stream's retention */
    int64_t tumbling_ms;     /* 0: none */
    bool report_failures;    /* FunctionResponseTypes ReportBatchItemFailures */
    double time_scale;
    /* Invokes the function (loop thread); the target reports with
     * sl_stream_call_done(), from any thread, once. */
    void (*invoke)(void *ctx, struct sl_stream_call *call);
    void *ctx;
};

struct sl_stream;
/* Reads the stream's shards and starts their pollers. */
int sl_stream_start(struct sl_stream **out, const struct sl_stream_config *cfg,
                    struct sl_err *err);
void sl_stream_call_done(struct sl_stream_call *call);
/* Stops every poller, waits for what is under way, frees. Not from the
 * loop thread. NULL ok. */
void sl_stream_stop(struct sl_stream *s);

struct sl_stream_shard_stats {
    const char *id;
    int64_t iterator_age_ms; /* of the last batch's last record when it was done */
    uint64_t records;        /* records delivered to the function */
    uint64_t done;           /* records it succeeded with (or that were dropped) */
    uint64_t batches;
    uint64_t failures;
};
/* Calls cb for each shard being read. */
void sl_stream_stats(struct sl_stream *s,
                     void (*cb)(void *arg, const struct sl_stream_shard_stats *st), void *arg);

#endif
