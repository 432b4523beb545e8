/*
 * What the files of the SQS service share: its state, its error table,
 * queue records and their attributes, receipt handles, message
 * attributes and the waits of long polls.
 *
 * Storage (all through the store's primitives):
 *   kv  sqs.queue    pk "<account>/<region>", sk the queue's name: the
 *                    queue's record (JSON: id, created, modified,
 *                    attributes as AWS spells them, tags, FIFO sequence)
 *   kv  sqs.deleted  the same keys: when a queue was deleted (a queue of
 *                    that name can be made again 60 s later, as on AWS)
 *   kv  sqs.dedup    pk the queue's id, sk the deduplication id: a FIFO
 *                    send's message id and sequence number for 5 minutes
 *   kv  sqs.dedupx   pk the queue's id, sk "<expiry ms>/<dedup sk>": the
 *                    same by expiry, to sweep the expired ones
 *   kv  sqs.attempt  pk the queue's id, sk a ReceiveRequestAttemptId: the
 *                    messages (id, receive count) that receive took, for
 *                    5 minutes; sqs.attemptx indexes them by expiry
 *   kv  sqs          pk "key": the key receipt handles are signed with
 *   queue  "sqs:<uuid>": a queue's messages (the id of its record, so a
 *                    queue made again never sees the old one's messages)
 */
#ifndef SL_SQS_INTERNAL_H
#define SL_SQS_INTERNAL_H

#include <pthread.h>

#include "services/service.h"
#include "services/sqs/sqs.h"

#define SQS_NS_QUEUE "sqs.queue"
#define SQS_NS_DELETED "sqs.deleted"
#define SQS_NS_DEDUP "sqs.dedup"
#define SQS_NS_DEDUPX "sqs.dedupx"
#define SQS_NS_ATTEMPT "sqs.attempt"
#define SQS_NS_ATTEMPTX "sqs.attemptx"
#define SQS_NS_META "sqs"
#define SQS_Q_PREFIX "sqs:"

#define SQS_NAME_MAX 80
#define SQS_BATCH_MAX 10
#define SQS_WAIT_MAX 20
#define SQS_DEDUP_MS (5 * 60 * 1000)
#define SQS_DELETED_MS (60 * 1000)
#define SQS_PURGE_MS (60 * 1000)
#define SQS_KEY_LEN 32

#define SQS_ERRORS(X)                                                                       \
    X(SQS_E_INTERNAL, "InternalError", 500, true)                                         \
    X(SQS_E_VALIDATION, "InvalidParameterValue", 400, false)                              \
    X(SQS_E_SERIALIZATION, "MalformedQueryString", 400, false)                            \
    X(SQS_E_TOO_BIG, "InvalidParameterValue", 400, false)                                 \
    X(SQS_E_INVALID_VALUE, "InvalidParameterValue", 400, false)                           \
    X(SQS_E_MISSING, "MissingParameter", 400, false)                                      \
    X(SQS_E_NO_QUEUE, "AWS.SimpleQueueService.NonExistentQueue", 400, false)              \
    X(SQS_E_EXISTS, "QueueAlreadyExists", 400, false)                                     \
    X(SQS_E_DELETED_RECENTLY, "AWS.SimpleQueueService.QueueDeletedRecently", 400, false)  \
    X(SQS_E_ATTR_NAME, "InvalidAttributeName", 400, false)                                \
    X(SQS_E_ATTR_VALUE, "InvalidAttributeValue", 400, false)                              \
    X(SQS_E_RECEIPT, "ReceiptHandleIsInvalid", 400, false)                                \
    X(SQS_E_NOT_INFLIGHT, "AWS.SimpleQueueService.MessageNotInflight", 400, false)        \
    X(SQS_E_CONTENTS, "InvalidMessageContents", 400, false)                               \
    X(SQS_E_EMPTY_BATCH, "AWS.SimpleQueueService.EmptyBatchRequest", 400, false)          \
    X(SQS_E_TOO_MANY, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, false)  \
    X(SQS_E_NOT_DISTINCT, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, false)  \
    X(SQS_E_BATCH_ID, "AWS.SimpleQueueService.InvalidBatchEntryId", 400, false)           \
    X(SQS_E_BATCH_TOO_LONG, "AWS.SimpleQueueService.BatchRequestTooLong", 400, false)     \
    X(SQS_E_PURGE, "AWS.SimpleQueueService.PurgeQueueInProgress", 403, false)             \
    X(SQS_E_UNSUPPORTED, "AWS.SimpleQueueService.UnsupportedOperation", 400, false)       \
    X(SQS_E_OVER_LIMIT, "OverLimit", 403, false)

enum { SQS_ERRORS(SL_ERROR_ENUM) SQS_E_N };
extern const struct sl_aws_error sl_sqs_errors[];

struct sqs_waiter;

/* The service's state. */
struct sqs {
    struct sl_app *app;
    struct sl_store *store;
    uint8_t key[SQS_KEY_LEN]; /* signs receipt handles */
    /* Long polls waiting, by queue id (wait.c). */
    pthread_mutex_t mu;
    void *wqueues; /* buckets of the queues long-polled (wait.c) */
    struct sqs_watcher *watchers; /* mappings' sources (wait.c) */
    bool stopping;
};

/* A queue's place: what a queue URL or ARN names. */
struct sqs_ref {
    char account[16];
    char region[64];
    char name[SQS_NAME_MAX + 1];
    char pk[96]; /* "<account>/<region>" */
};

/* A queue's record, read and parsed. */
struct sqs_queue {
    json_t *rec;    /* the stored record (owned) */
    json_t *attrs;  /* rec's attributes (borrowed) */
    const char *id; /* its messages' queue (borrowed from rec) */
    struct sqs_ref ref;
    char arn[256];
    bool fifo, content_dedup, dedup_by_group;
    int64_t visibility, delay, retention, max_size, wait;
    /* RedrivePolicy, when set. */
    char dlq_arn[256];
    int64_t max_receives;
};
void sqs_queue_clear(struct sqs_queue *q);

/* Fills ref from a queue URL ("http://host/<account>/<name>"; the last
 * two segments of its path); SL_EINVAL when it names no queue. The region
 * is the request's. */
int sqs_ref_from_url(const char *url, const char *region, struct sqs_ref *ref);
/* From an ARN arn:aws:sqs:<region>:<account>:<name>; SL_EINVAL if not one. */
int sqs_ref_from_arn(const char *arn, struct sqs_ref *ref);
void sqs_ref_set(struct sqs_ref *ref, const char *account, const char *region, const char *name);
/* The queue URL a client of request r expects, into out. */
void sqs_url(const struct sl_call *c, const struct sqs_ref *ref, char *out, size_t n);
void sqs_arn(const struct sqs_ref *ref, char *out, size_t n);

/* Parses a record (taken) into q. */
int sqs_queue_parse(json_t *rec, struct sqs_queue *q);
/* Reads the queue of ref outside a transaction: SL_ENOTFOUND if none. */
int sqs_queue_read(struct sqs *st, const struct sqs_ref *ref, struct sqs_queue *q);
/* The same inside a transaction. */
int sqs_queue_read_txn(struct sl_txn *t, const struct sqs_ref *ref, struct sqs_queue *q);
/* Writes a queue's record (rec) inside t. */
int sqs_record_put(struct sl_txn *t, const struct sqs_ref *ref, json_t *rec);
/* The call's QueueUrl as a queue's place: 0, or the call has its answer
 * (QueueDoesNotExist) and SL_DONE is returned. */
int sqs_call_ref(struct sl_call *c, struct sqs_ref *ref);
/* The queue named by the call's QueueUrl input: 0, or the call has its
 * answer (QueueDoesNotExist, a bad URL) and SL_DONE is returned. */
int sqs_call_queue(struct sl_call *c, struct sqs_queue *q);
/* The queue-does-not-exist answer. */
int sqs_fail_no_queue(struct sl_call *c);

/* Receipt handles: a message's id and receive count, signed for its
 * queue. */
void sqs_receipt(const struct sqs *st, const struct sqs_ref *ref, int64_t id, uint32_t receives,
                 char *out, size_t n);
/* 0 with *id and *receives, or SL_EINVAL for a handle that is not one
 * of this queue's. */
int sqs_receipt_parse(const struct sqs *st, const struct sqs_ref *ref, const char *handle,
                      int64_t *id, uint32_t *receives);

/* Message attributes (attrs.c). Checks a MessageAttributes map as AWS
 * does (names, data types, values, at most 10); 0, or SL_EINVAL with the
 * message in err (code InvalidParameterValue). *size adds what they count
 * toward the message's size. */
int sqs_attrs_check(json_t *attrs, size_t *size, struct sl_err *err);
/* MD5 of a message's attributes as AWS computes it (hex, 33 bytes), or ""
 * for none. */
void sqs_attrs_md5(json_t *attrs, char out[33]);
void sqs_md5_hex(const void *p, size_t n, char out[33]);
/* Whether a list of names asked for (AttributeNames,
 * MessageAttributeNames) wants name: "All", ".*", the name, or a prefix
 * "Order.*". */
bool sqs_wants(json_t *names, const char *name);
/* Sets o's member name to the decimal text of v (SQS's attributes are
 * strings). */
void sqs_put_num(json_t *o, const char *name, long long v);
/* Whether body holds only the characters SQS allows. */
bool sqs_body_valid(const char *body, size_t n);

/* Long polls (wait.c): makes the call wait for a message on queue id
 * until deadline_ms (monotonic), or until wake_ms (monotonic; 0: none)
 * when messages in flight become visible again, then runs then(c).
 * seen is sqs_wait_version() read before the receive that came back
 * empty: a put since makes the call run again at once. */
uint64_t sqs_wait_version(struct sqs *st, const char *id);
int sqs_wait(struct sqs *st, struct sl_call *c, const char *id, uint64_t seen,
             int64_t deadline_ms, int64_t wake_ms, sl_op_fn then);
/* The store's prefix watch: messages arrived on queue id (NULL: any). */
void sqs_wait_notify(void *arg, const char *id);
/* The mappings' sources: wake(arg) after each commit of messages to
 * queue id (any thread, under st->mu: it must only post). set_id moves a
 * watch to a queue's new id (a queue made again). */
int sqs_watch_add(struct sqs *st, const char *id, void (*wake)(void *arg), void *arg);
void sqs_watch_set_id(struct sqs *st, void *arg, const char *id);
void sqs_watch_remove(struct sqs *st, void (*wake)(void *arg), void *arg);
/* Wakes every wait (the service stops); frees what waits kept. */
void sqs_wait_stop(struct sqs *st);
/* Whether the service stops: a long poll answers at once then. */
bool sqs_wait_stopping(struct sqs *st);
void sqs_wait_free(struct sqs *st);

/* The SQS target kind (targets.c): queues as targets of other services. */
int sqs_target_check(void *ctx, const char *arn, const char *principal, const char *source_arn,
                     const char *source_account);
int sqs_target_deliver(void *ctx, struct sl_txn *t, const char *arn, const char *payload,
                       size_t len, const struct sl_target_source *src);

/* Builds a message's meta (JSON text, malloc'd) and puts it in queue q
 * inside t: the one send path of SendMessage(Batch) and of targets. */
struct sqs_send {
    const char *body;
    size_t body_len;
    json_t *attrs;     /* message attributes, or NULL */
    const char *group; /* FIFO */
    const char *dedup; /* FIFO, explicit or NULL */
    int64_t delay;     /* seconds; -1: the queue's */
    const char *sender;
    /* Out. */
    char message_id[40];
    char md5_body[33], md5_attrs[33];
    char seq[24];
    bool duplicate; /* FIFO: an earlier send of the same dedup id */
};
int sqs_send_txn(struct sl_txn *t, struct sqs_queue *q, struct sqs_send *m);

/* A receive inside a transaction (messages.c): up to max messages of q
 * leased for lease_ms, the expired ones removed and those past the
 * redrive policy's count moved to the dead-letter queue on the way;
 * FIFO groups in order, a group with a message in flight skipped. msgs
 * (malloc'd, sl_qmsgs_free) holds n; when it took fewer than max,
 * next_visible is when a message in flight returns (wall ms; 0 when not
 * known). */
struct sqs_take {
    size_t max;
    size_t max_bytes; /* bodies' bytes at most (0: no limit) */
    struct sl_qmsg *msgs;
    size_t n;
    size_t bytes;
    bool full;    /* it stopped at max_bytes */
    bool blocked; /* FIFO: a group waited behind its message in flight */
    int64_t next_visible;
};
int sqs_take_txn(struct sl_txn *t, struct sqs_queue *q, int64_t lease_ms, struct sqs_take *k);

/* Records that last a while (expiring.c): deduplication ids and receive
 * attempts. get gives the live record of key (caller decrefs; NULL when
 * none or expired), sweeping a few expired ones first; put stores rec
 * (its "x" set to until) for key; drop removes a queue's. In a
 * transaction. */
struct sqs_expiring {
    const char *ns, *nsx;
};
extern const struct sqs_expiring sqs_dedup_ids, sqs_attempts;
int sqs_expiring_get(struct sl_txn *t, const struct sqs_expiring *e, const char *id,
                     const char *key, int64_t now, json_t **out);
int sqs_expiring_put(struct sl_txn *t, const struct sqs_expiring *e, const char *id,
                     const char *key, json_t *rec, int64_t until);
int sqs_expiring_drop(struct sl_txn *t, const char *id);

/* The state of the service (for the other files' handlers). */
static inline struct sqs *sqs_of(struct sl_call *c)
{
    return c->svc;
}

#endif
