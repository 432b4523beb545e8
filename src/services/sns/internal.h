/*
 * What the files of the SNS service share: its errors, topics and
 * subscriptions as stored (service.c), and publishing (publish.c).
 *
 * Storage:
 *   kv  sns.topic  pk "<account>/<region>", sk the topic's name: its
 *                  attributes (the settable ones, as strings), tags
 *   kv  sns.sub    pk the topic's ARN, sk the subscription's id: its
 *                  protocol, endpoint, owner and attributes
 *   kv  sns.dedup  pk a FIFO topic's ARN, sk a deduplication id: the
 *                  message id and when it was published (5 minutes)
 *   kv  sns.dedupat  the same ids in order of age (sk "<13 digits of ms>/<id>"),
 *                  so that the expired ones are found first
 *   kv  sns.seq    pk a FIFO topic's ARN, sk "": its last sequence number
 *   kv  sns.token  pk a topic's ARN, sk a confirmation token: {"sub": the
 *                  subscription's id, "at": ms, "restore": the record an
 *                  unsubscribe confirmation brings back}
 *   queue sns.http  messages to http(s) endpoints (http.c)
 */
#ifndef SL_SNS_INTERNAL_H
#define SL_SNS_INTERNAL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "engine/targets.h"
#include "services/service.h"
#include "services/sns/sns.h"

#define SNS_NS_TOPIC "sns.topic"
#define SNS_NS_SUB "sns.sub"
#define SNS_NS_DEDUP "sns.dedup"
#define SNS_NS_SEQ "sns.seq"
#define SNS_NS_DEDUP_AT "sns.dedupat" /* pk the topic's ARN, sk "<ms>/<id>": by age */
#define SNS_NS_TOKEN "sns.token"
#define SNS_TOKEN_MS (3LL * 24 * 3600 * 1000) /* a confirmation token's life */
#define SNS_MESSAGE_MAX (256 * 1024)
#define SNS_DEDUP_MS (5 * 60 * 1000)

#define SNS_ERRORS(X)                                                                        \
    X(SNS_E_INTERNAL, "InternalError", 500, true)                                           \
    X(SNS_E_INVALID, "InvalidParameter", 400, false)                                        \
    X(SNS_E_MALFORMED, "MalformedQueryString", 400, false)                                  \
    X(SNS_E_VALUE, "ParameterValueInvalid", 400, false)                                     \
    X(SNS_E_NOT_FOUND, "NotFound", 404, false)                                              \
    X(SNS_E_AUTH, "AuthorizationError", 403, false)                                         \
    X(SNS_E_EMPTY_BATCH, "EmptyBatchRequest", 400, false)                                   \
    X(SNS_E_TOO_MANY, "TooManyEntriesInBatchRequest", 400, false)                           \
    X(SNS_E_NOT_DISTINCT, "BatchEntryIdsNotDistinct", 400, false)                           \
    X(SNS_E_BATCH_ID, "InvalidBatchEntryId", 400, false)                                    \
    X(SNS_E_BATCH_TOO_LONG, "BatchRequestTooLong", 400, false)

enum { SNS_ERRORS(SL_ERROR_ENUM) SNS_E_N };

/* A topic's place, from its ARN or its name and the caller's. */
struct sns_ref {
    char account[16], region[64], name[257];
    char pk[96]; /* "<account>/<region>" */
    char arn[400];
};
/* false when arn is not a topic's. */
bool sns_ref_from_arn(const char *arn, struct sns_ref *out);
void sns_ref_make(struct sns_ref *out, const char *account, const char *region,
                  const char *name);

/* A topic's record (read, parsed). */
struct sns_topic {
    json_t *rec; /* owned: {"Attributes": {...}, "Tags": {...}} */
    json_t *attrs;
    bool fifo, content_dedup;
};
int sns_topic_read(struct sl_store *s, const struct sns_ref *r, struct sns_topic *out);
int sns_topic_read_txn(struct sl_txn *t, const struct sns_ref *r, struct sns_topic *out);
void sns_topic_clear(struct sns_topic *t);

/* The call's topic (TopicArn, or TargetArn): 0, or the call has its
 * answer (NotFound, InvalidParameter) and SL_DONE is returned. */
int sns_call_topic(struct sl_call *c, const char *member, struct sns_ref *r,
                   struct sns_topic *t);

/* The service's state: counts per topic. */
struct sns_count {
    char arn[400];
    atomic_uint_fast64_t published, delivered, failed;
    struct sns_count *next;
};
struct sl_http_client;
struct sl_consumer;
struct sns {
    struct sl_app *app;
    pthread_mutex_t mu;
    struct sns_count *counts;
    struct sl_http_client *http;         /* posts to http(s) endpoints */
    struct sl_consumer *http_consumer;   /* of the sns.http queue */
};
/* The counts of topic arn (made on first use; lives until the end). */
struct sns_count *sns_count_of(struct sns *st, const char *arn);

/* ---- publishing (publish.c) -------------------------------------------- */

/* One message to publish to a topic. */
struct sns_message {
    const char *message;   /* the Message (MessageStructure json: the object) */
    const char *subject;   /* NULL: none */
    bool structure_json;   /* MessageStructure "json" */
    json_t *attributes;    /* MessageAttributes (as the request has them), or NULL */
    const char *group_id;  /* FIFO */
    const char *dedup_id;  /* FIFO: explicit or NULL */
    /* Out: */
    char message_id[40];
    char seq[24]; /* FIFO */
    size_t delivered, failed;
};
/* Checks a message's parts (size, attributes, structure, FIFO ids)
 * against topic: 0, or SL_EINVAL with the message in msg; *code the
 * error (SNS_E_INVALID, SNS_E_VALUE). */
int sns_message_check(const struct sns_topic *topic, const struct sns_message *m, char *msg,
                      size_t n, int *code);
/* Inside a transaction: m delivered to every subscription of the topic
 * that its filter lets through. */
int sns_publish_txn(struct sl_txn *t, struct sns *st, const struct sns_ref *r,
                    const struct sns_topic *topic, struct sns_message *m);

/* ---- http(s) endpoints (http.c) ------------------------------------------------ */

/* A message for an http(s) endpoint. */
struct sns_http_msg {
    const char *url;
    const char *type; /* "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation" */
    const char *message_id, *topic_arn;
    const char *sub_arn; /* (not sent with a confirmation request) */
    const char *body;
    bool raw;
    const json_t *topic_attrs, *sub_attrs; /* their DeliveryPolicy; either may be NULL */
    const char *dlq;                       /* NULL: none */
};
/* Inside a transaction: hm on its way. */
int sns_http_put_txn(struct sl_txn *t, const struct sns_http_msg *hm);
/* Whether text is a valid DeliveryPolicy (a topic's when topic: its
 * "http" member counts): 0, or SL_EINVAL with SNS's message in msg. */
int sns_delivery_policy_check(const char *text, bool topic, char *msg, size_t n);
/* The EffectiveDeliveryPolicy of an http(s) subscription (JSON text,
 * malloc'd; NULL when out of memory). */
char *sns_effective_delivery_policy(const json_t *topic_attrs, const json_t *sub_attrs);
/* The sns.http queue's consumer and the outbound client. */
int sns_http_start(struct sns *st, struct sl_err *err);
void sns_http_stop(struct sns *st);
void sns_http_free(struct sns *st);

/* Whether protocol is "http" or "https". */
bool sns_protocol_http(const char *protocol);
/* Signs message o of SNS's (a notification or a confirmation request)
 * as far as Sluice can: SignatureVersion, Signature, and SigningCertURL
 * (SigningCertUrl in Lambda's event). */
void sns_sign(json_t *o, const char *region, bool lambda);

#endif
