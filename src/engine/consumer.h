/*
 * consumer — delivers the messages of a store queue to a target with AWS's
 * retry policy: the durable half of asynchronous invocation, which SNS
 * subscriptions, EventBridge targets and dead-letter queues reuse. It
 * runs on the engine loop and never blocks it: leases, deletes and
 * retries are transactions submitted to the store (many share one
 * commit), deliveries are started and report their end.
 *
 * A queue's messages are grouped (store.h): a group is one target (a
 * function), whose concurrency the governor counts. The consumer asks the
 * governor for free slots of a group before it leases that group's
 * messages, leases no more than it got, and waits for the governor's call
 * when there are none: a message never waits while its target has room,
 * and is never leased to wait in memory.
 *
 * For each message the target's side (struct sl_consumer_ops) prepares
 * the delivery (reads the message's meta: its policy and destinations, or
 * drops a message whose target is gone) and delivers it. By its outcome:
 *   - delivered: the message leaves the queue, and its OnSuccess
 *     destination, if any, gets the target's record, in the same
 *     transaction (through engine/targets.h);
 *   - an error counts a try: it comes back after the policy's error delay
 *     until its retries are spent, then leaves with a record for its
 *     OnFailure destination (RetriesExhausted);
 *   - throttled (no capacity, or the environment failed) counts no try: it
 *     comes back after the throttle delay;
 *   - older than the policy's maximum age, it leaves with a record for its
 *     OnFailure destination (EventAgeExceeded) instead of running again.
 * The counts travel in the message's meta (JSON: "tries", "throttles").
 * Every delay is divided by the time scale. At start every lease of the
 * queue ends: what a killed process had in flight runs again
 * (at-least-once); at stop, deliveries the shutdown ended go back on the
 * queue as they were.
 *
 * May call: core, store, engine (loop, governor, targets), jansson.
 */
#ifndef SL_CONSUMER_H
#define SL_CONSUMER_H

#include <jansson.h>

#include "core/core.h"
#include "engine/engine.h"
#include "engine/governor.h"
#include "engine/targets.h"
#include "store/store.h"

struct sl_consumer;

/* How a delivery ended. */
enum sl_delivery_outcome {
    SL_DELIVERED,          /* success */
    SL_DELIVERY_ERROR,     /* the target's error: counts a try */
    SL_DELIVERY_THROTTLED, /* no capacity, or the target failed to start: no try */
    SL_DELIVERY_STOPPED,   /* the server stops: back on the queue as it was */
};

/* One message on its way. */
struct sl_delivery {
    struct sl_qmsg m;   /* the leased message (the consumer's) */
    json_t *meta;       /* m's meta parsed, an object (the consumer's: read it) */
    unsigned tries;     /* failed tries so far ("tries" of its meta) */
    unsigned throttles; /* throttled attempts so far */
    /* Set by prepare: */
    int retries;          /* tries after the first before it fails for good */
    int64_t max_age_ms;   /* unscaled: the oldest it may run (0: no limit) */
    char on_success[400]; /* destinations' ARNs, "" for none */
    char on_failure[400];
    char dlq[400]; /* a failure's dead-letter target, "" for none */
    /* The delay (unscaled) before the next try should this one fail: -1
     * (as the consumer sets it) for the policy's; a target whose retries
     * follow the message's own policy (SNS's HTTP delivery policies)
     * sets it. */
    int64_t error_delay_ms;
    bool slot_held;    /* deliver gets the group's governor slot with it */
    void *state;       /* the target's */
    /* The consumer's. */
    struct sl_consumer *consumer;
    enum sl_delivery_outcome outcome;
};

struct sl_consumer_ops {
    /* Reads d->m: sets its policy and destinations. 0 to deliver it;
     * SL_ENOTFOUND to drop it (its target is gone: no record); another
     * error to try again later (as a throttle). */
    int (*prepare)(void *ctx, struct sl_delivery *d);
    /* Starts the delivery; sl_consumer_done() reports its end (any
     * thread). With d->slot_held, the delivery owns that slot now. 0, or
     * an error (as a throttle; the slot stays the consumer's). */
    int (*deliver)(void *ctx, struct sl_delivery *d);
    /* The payload a destination gets for a message that left under
     * condition ("Success", "RetriesExhausted", "EventAgeExceeded"):
     * malloc'd, NULL for none. */
    char *(*record)(void *ctx, struct sl_delivery *d, const char *condition);
    /* The message attributes (JSON text in SQS's shape, malloc'd; NULL
     * for none) of the message the dead-letter target gets, which is the
     * message's own body. Optional. */
    char *(*dlq_attributes)(void *ctx, struct sl_delivery *d, const char *condition);
    /* A message left the queue (condition as above, or "Dropped"); its
     * destination was gone when dest_gone. Optional. */
    void (*left)(void *ctx, struct sl_delivery *d, const char *condition, bool dest_gone);
    /* Releases d->state. Optional. */
    void (*release)(void *ctx, struct sl_delivery *d);
};

/* AWS's delays (unscaled): after the n-th failed try, and the n-th throttle. */
struct sl_retry_policy {
    int64_t (*error_delay_ms)(unsigned tries);
    int64_t (*throttle_delay_ms)(unsigned throttles);
};

struct sl_consumer_config {
    struct sl_store *store;
    struct sl_loop *loop;
    struct sl_governor *governor; /* counts the groups' executions; NULL: none */
    struct sl_targets *targets;   /* where records go */
    const char *queue;
    unsigned max_inflight; /* deliveries at once */
    double time_scale;     /* AWS's delays are divided by it */
    int64_t lease_ms;      /* longer than a message waits leased ahead and is delivered */
    struct sl_retry_policy policy;
    const struct sl_consumer_ops *ops;
    void *ctx;
};

/* Starts consuming (ending every lease of the queue first). The config is
 * copied; store, loop, governor and targets must outlive the consumer. */
int sl_consumer_start(struct sl_consumer **out, const struct sl_consumer_config *cfg,
                      struct sl_err *err);
/* Takes no more messages; deliveries still under way end (the runtime
 * shutting down ends them) and go back on the queue, then this returns.
 * Not from the loop thread. NULL ok. */
void sl_consumer_stop(struct sl_consumer *c);
/* Stops (if not done) and frees. NULL ok. */
void sl_consumer_free(struct sl_consumer *c);

/* Reports the end of delivery d (any thread, once). */
void sl_consumer_done(struct sl_consumer *c, struct sl_delivery *d,
                      enum sl_delivery_outcome outcome);

/* AWS Lambda's asynchronous invocation: retries about 1 then 2 minutes
 * apart, throttles backing off from 1 s, doubling, to 5 minutes. */
int64_t sl_retry_lambda_error_ms(unsigned tries);
int64_t sl_retry_lambda_throttle_ms(unsigned throttles);

/* Counters, for tests and metrics. */
struct sl_consumer_stats {
    uint64_t leased, delivered, failed, retried, throttled, dropped, finish_batches;
};
void sl_consumer_get_stats(struct sl_consumer *c, struct sl_consumer_stats *out);

#endif
