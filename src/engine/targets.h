/*
 * targets — the one delivery path by ARN (DESIGN.md, "Targets and
 * sources"): S3 notifications, Lambda destinations and, later, SNS
 * subscriptions, EventBridge rule targets and DLQs all hand a payload to
 * sl_target_deliver_txn(), inside the transaction that produced it, so the
 * delivery commits with its cause. Each service that can be a target
 * registers its kind (the ARN's service field: "lambda", "sqs", ...) with
 * a check and a deliver function; an ARN of a kind nobody registered is a
 * service Sluice does not have yet.
 *
 * May call: core, store.
 */
#ifndef SL_TARGETS_H
#define SL_TARGETS_H

#include "core/core.h"
#include "store/store.h"

struct sl_targets;

/* Whether arn exists and, when principal is not NULL, whether that
 * service principal (e.g. "s3.amazonaws.com") may send to it for
 * source_arn / source_account (either may be NULL): 0, SL_ENOTFOUND (no
 * such resource), SL_EAUTH (its policy does not allow it), SL_EINVAL (not
 * an ARN, or not one of this kind), SL_ENOTSUP (a kind of service Sluice
 * does not have yet). */
typedef int (*sl_target_check_fn)(void *ctx, const char *arn, const char *principal,
                                  const char *source_arn, const char *source_account);
/* Who sends, for targets whose policy decides (S3 invoking a function):
 * checked by the target when it handles the payload, outside the
 * transaction that queued it. */
struct sl_target_source {
    const char *principal;      /* e.g. "s3.amazonaws.com" */
    const char *source_arn;     /* e.g. "arn:aws:s3:::bucket" */
    const char *source_account; /* the source's owner */
    /* Message attributes of the delivery (a queue's or topic's, as a JSON
     * object in SQS's shape: {"Name": {"DataType": "String",
     * "StringValue": "..."}}), or NULL. */
    const char *attributes;
    /* For FIFO targets (an SNS FIFO topic's subscriptions): the message
     * group and deduplication id; a FIFO queue takes a delivery only with
     * a group. NULL: none. */
    const char *group_id, *dedup_id;
    /* For streams (a Kinesis target): the record's partition key (NULL:
     * one of the target's choosing). */
    const char *partition_key;
    /* For routing targets (an event bus): how many buses the payload has
     * passed through, and the deliveries its cause may still make (a
     * budget shared by every hop; NULL: the target's own). */
    int depth;
    int *budget;
    /* When not NULL: set to 1 by a target whose resource is gone (the
     * delivery is then dropped, still with 0), for callers that send it
     * elsewhere instead (an SNS subscription's dead-letter queue). */
    int *missing;
};
/* Queues payload for arn inside transaction t (src may be NULL). It must
 * not block: no reads outside t. */
typedef int (*sl_target_deliver_fn)(void *ctx, struct sl_txn *t, const char *arn,
                                    const char *payload, size_t len,
                                    const struct sl_target_source *src);

/* A kind of target as a service declares it (its row of the service
 * table): registered at start with the service's state as ctx. */
struct sl_target_kind {
    const char *service; /* the ARN's service field; NULL ends a list */
    sl_target_check_fn check;
    sl_target_deliver_fn deliver;
};

int sl_targets_new(struct sl_targets **out);
void sl_targets_free(struct sl_targets *ts);
/* Registers the kind `service` (at start-up, before any delivery). */
int sl_targets_register(struct sl_targets *ts, const char *service, sl_target_check_fn check,
                        sl_target_deliver_fn deliver, void *ctx);
/* As the kind's check; SL_EINVAL for a malformed ARN or a kind Sluice
 * does not have. */
int sl_target_check(struct sl_targets *ts, const char *arn, const char *principal,
                    const char *source_arn, const char *source_account);
int sl_target_deliver_txn(struct sl_targets *ts, struct sl_txn *t, const char *arn,
                          const char *payload, size_t len, const struct sl_target_source *src);

#endif
