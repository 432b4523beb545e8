/*
 * Queues as targets (engine/targets.h): what S3 notifications, Lambda's
 * destinations and dead-letter queues deliver to. A delivery is a send
 * inside the transaction that caused it, so both commit together.
 */
#include "services/sqs/internal.h"

#include <string.h>

int sqs_target_check(void *ctx, const char *arn, const char *principal, const char *source_arn,
                     const char *source_account)
{
    (void)principal;
    (void)source_arn;
    (void)source_account;
    struct sqs *st = ctx;
    struct sqs_ref ref;
    if (sqs_ref_from_arn(arn, &ref))
        return SL_EINVAL;
    struct sqs_queue q;
    int rc = sqs_queue_read(st, &ref, &q);
    if (rc)
        return rc == SL_ENOTFOUND ? SL_ENOTFOUND : rc;
    /* Services deliver to standard queues only (S3 and Lambda refuse a
     * FIFO queue as a destination, as on AWS). */
    rc = q.fifo ? SL_EINVAL : 0;
    sqs_queue_clear(&q);
    return rc;
}

int sqs_target_deliver(void *ctx, struct sl_txn *t, const char *arn, const char *payload,
                       size_t len, const struct sl_target_source *src)
{
    (void)ctx;
    struct sqs_ref ref;
    if (sqs_ref_from_arn(arn, &ref))
        return 0;
    struct sqs_queue q;
    int rc = sqs_queue_read_txn(t, &ref, &q);
    bool group = src && src->group_id && !rc && q.fifo;
    if (rc == SL_ENOTFOUND || (!rc && q.fifo && !(src && src->group_id))) {
        /* Gone (or made FIFO) since it was checked: the event is dropped,
         * as AWS drops it; what caused it still commits. */
        sl_warn("sqs", "%s: no queue to deliver to (a FIFO queue takes only deliveries with a "
                       "message group); event dropped",
                arn);
        if (!rc)
            sqs_queue_clear(&q);
        if (src && src->missing)
            *src->missing = 1;
        return 0;
    }
    if (rc)
        return rc;
    json_t *attrs = src && src->attributes ? json_loads(src->attributes, 0, NULL) : NULL;
    struct sqs_send m = {
        .body = payload,
        .body_len = len,
        .attrs = attrs,
        .delay = -1,
        .sender = src && src->principal ? src->principal : ref.account,
        .group = group ? src->group_id : NULL,
        .dedup = group ? src->dedup_id : NULL,
    };
    rc = sqs_send_txn(t, &q, &m);
    json_decref(attrs);
    sqs_queue_clear(&q);
    return rc;
}
