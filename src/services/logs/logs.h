/*
 * logs — the CloudWatch Logs service: log groups, log streams and their
 * events over the json protocol (Logs_20140328), and the sink that stores
 * every line a function writes.
 *
 * The sink is called on the engine loop thread and never blocks on disk:
 * it appends the line to a bounded in-memory queue (lines past the bound
 * are counted and dropped), and one flusher thread writes whatever has
 * accumulated in one store transaction, creating the log group and the
 * log stream on first use as Lambda does.
 *
 * May call: core, http, aws, store (see services/service.h).
 */
#ifndef SL_LOGS_H
#define SL_LOGS_H

#include "services/service.h"

struct sl_logs;

/* How long the sink gathers lines before it writes them (one commit). */
#define SL_LOGS_LINGER_MS 100

/* The sink's queue bound when sl_logs_new() is given 0. */
#define SL_LOGS_QUEUE_MAX (64u * 1024 * 1024)

/*
 * Starts the sink over st: its queue (queue_max bytes of queued lines, 0
 * for SL_LOGS_QUEUE_MAX) and its flusher thread. st must outlive it.
 */
int sl_logs_new(struct sl_logs **out, struct sl_store *st, size_t queue_max, struct sl_err *err);
/* Writes what is queued, stops the flusher and frees everything. Nothing
 * may call the sink any more. NULL ok. */
void sl_logs_free(struct sl_logs *l);

/*
 * Queues one line for the log stream `stream` of log group `group` in
 * account and region (an sl_runtime_log_fn: ud is the struct sl_logs).
 * The line is stored as one event, with the newline Lambda keeps at the
 * end of each line. Never blocks on disk; copies everything it needs.
 */
void sl_logs_sink(void *ud, const char *account, const char *region, const char *group,
                  const char *stream, int64_t ts_ms, const char *msg, size_t len);

/* Counters of the sink since sl_logs_new(). */
struct sl_logs_stats {
    uint64_t queued;  /* lines accepted into the queue */
    uint64_t dropped; /* lines dropped: queue full, or a failed write */
    uint64_t written; /* lines stored */
    uint64_t flushes; /* store transactions the flusher ran */
};
void sl_logs_get_stats(struct sl_logs *l, struct sl_logs_stats *out);

/* The service's row of the service table: its state is the struct
 * sl_logs (the sink). */
extern const struct sl_service sl_service_logs;

#endif
