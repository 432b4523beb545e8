/*
 * sqs — Amazon Simple Queue Service: standard and FIFO queues on the
 * store's queue primitive, in both protocols clients speak (query, and
 * the JSON 1.0 of current SDKs); long polls woken by commits; queues as
 * targets of other services (dead-letter queues, destinations, S3
 * notifications).
 */
#ifndef SL_SQS_H
#define SL_SQS_H

#include "services/service.h"

#include "engine/mapping.h"
#include "engine/pattern.h"

extern const struct sl_service sl_service_sqs;

/*
 * An SQS queue as the source of an event source mapping (for Lambda's
 * event source mappings): a read receives up to the batch's size of
 * visible messages with the queue's visibility timeout, as Lambda's
 * pollers do, in one transaction that also deletes the messages no filter
 * matches (as AWS does); an acknowledgement deletes the batch's messages
 * but those the target reported failed, which come back after the
 * visibility timeout (and so reach the dead-letter queue by redrive). A
 * commit of messages to the queue wakes the mapping.
 *
 * filters: FilterCriteria's patterns (borrowed; they must outlive the
 * source), matched against each message's record in the SQS event with
 * its body parsed when it is JSON. sl_sqs_source_new() resolves the queue
 * (SL_ENOTFOUND when it does not exist).
 */
struct sl_sqs_source;
int sl_sqs_source_new(struct sl_app *app, const char *queue_arn, struct sl_pattern *const *filters,
                      size_t nfilters, struct sl_sqs_source **out, struct sl_err *err);
void sl_sqs_source_free(struct sl_sqs_source *s);
extern const struct sl_source sl_sqs_source_ops;
/* Whether queue_arn names an existing queue, and whether it is FIFO: 0,
 * SL_ENOTFOUND, or SL_EINVAL for what is not a queue's ARN. */
int sl_sqs_queue_kind(struct sl_app *app, const char *queue_arn, bool *fifo);
/* The SQS event of batch b ({"Records": [...]}, as Lambda sends it)
 * appended to out. */
int sl_sqs_source_event(struct sl_sqs_source *s, const struct sl_batch *b, struct sl_buf *out);
/* The index in b of the record whose messageId is message_id, or -1. */
int sl_sqs_source_index(const struct sl_batch *b, const char *message_id);

#endif
