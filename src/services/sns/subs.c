/*
 * SNS subscriptions: Subscribe (lambda and sqs endpoints, confirmed at
 * once as same-account ones are on AWS; the same endpoint again answers
 * the same subscription), Unsubscribe, ListSubscriptions(ByTopic) and
 * Get/SetSubscriptionAttributes, with FilterPolicy (compiled by the shared
 * event-pattern module, so a bad one is refused when it is set),
 * FilterPolicyScope, RawMessageDelivery and RedrivePolicy checked.
 */
#include "services/sns/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pattern.h"

#define LIST_PAGE 100

/* A subscription's place: its topic and id, from its ARN. */
struct sub_ref {
    struct sns_ref topic;
    char id[40];
    char arn[448];
};

static bool sub_ref_parse(const char *arn, struct sub_ref *out)
{
    const char *colon = arn ? strrchr(arn, ':') : NULL;
    if (!colon || strlen(colon + 1) >= sizeof(out->id) || !colon[1] ||
        (size_t)(colon - arn) >= sizeof(out->topic.arn))
        return false;
    char topic[400];
    memcpy(topic, arn, (size_t)(colon - arn));
    topic[colon - arn] = '\0';
    if (!sns_ref_from_arn(topic, &out->topic))
        return false;
    sl_strlcpy(out->id, colon + 1, sizeof(out->id));
    snprintf(out->arn, sizeof(out->arn), "%s:%s", out->topic.arn, out->id);
    return true;
}

/* Whether value may be attribute name of a subscription of protocol: 0,
 * or SL_EINVAL with SNS's message in msg. */
static int check_attr(const char *protocol, const char *name, const char *value, char *msg,
                      size_t n)
{
    if (strcmp(name, "FilterPolicy") == 0) {
        if (!*value)
            return 0; /* (an empty policy removes the filter) */
        struct sl_pattern *p = NULL;
        struct sl_err err = {0};
        if (sl_pattern_compile(value, strlen(value), &p, &err)) {
            snprintf(msg, n, "Invalid parameter: FilterPolicy: %.400s", err.msg);
            return SL_EINVAL;
        }
        sl_pattern_free(p);
        return 0;
    }
    if (strcmp(name, "FilterPolicyScope") == 0) {
        if (strcmp(value, "MessageAttributes") == 0 || strcmp(value, "MessageBody") == 0)
            return 0;
        snprintf(msg, n, "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid "
                         "value [%s]. Please use either MessageBody or MessageAttributes",
                 value);
        return SL_EINVAL;
    }
    if (strcmp(name, "RawMessageDelivery") == 0) {
        if (strcmp(protocol, "lambda") == 0) {
            snprintf(msg, n, "Invalid parameter: Attributes Reason: Delivery protocol [%s] does "
                             "not support raw message delivery.",
                     protocol);
            return SL_EINVAL;
        }
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
            return 0;
        snprintf(msg, n, "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid "
                         "value [%s]. Must be true or false.",
                 value);
        return SL_EINVAL;
    }
    if (strcmp(name, "RedrivePolicy") == 0) {
        json_t *p = json_loads(value, 0, NULL);
        const char *dlq = json_string_value(json_object_get(p, "deadLetterTargetArn"));
        bool ok = dlq && strncmp(dlq, "arn:aws:sqs:", 12) == 0;
        json_decref(p);
        if (ok)
            return 0;
        snprintf(msg, n, "Invalid parameter: RedrivePolicy: deadLetterTargetArn is missing or "
                         "is not an SQS queue's ARN");
        return SL_EINVAL;
    }
    if (strcmp(name, "DeliveryPolicy") == 0 || strcmp(name, "SubscriptionRoleArn") == 0 ||
        strcmp(name, "ReplayPolicy") == 0)
        return 0;
    snprintf(msg, n, "Invalid parameter: AttributeName");
    return SL_EINVAL;
}

/* ---- Subscribe ------------------------------------------------------------------ */

struct subscribe {
    struct sns_ref topic;
    const char *protocol, *endpoint;
    json_t *attrs;
    char id[40];
    bool differs;
};

static void subscribe_free(struct sl_call *c)
{
    struct subscribe *s = c->state;
    if (s)
        json_decref(s->attrs);
}

static int subscribe_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct subscribe *s = arg;
    struct sns_topic topic;
    int rc = sns_topic_read_txn(t, &s->topic, &topic);
    if (rc)
        return rc;
    sns_topic_clear(&topic);
    /* The same endpoint again: the same subscription. */
    struct sl_item *items = NULL;
    size_t n = 0;
    rc = sl_txn_list(t, SNS_NS_SUB, s->topic.arn, NULL, SIZE_MAX, &items, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *sub = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        const char *p = json_string_value(json_object_get(sub, "Protocol"));
        const char *e = json_string_value(json_object_get(sub, "Endpoint"));
        if (p && e && strcmp(p, s->protocol) == 0 && strcmp(e, s->endpoint) == 0) {
            sl_strlcpy(s->id, items[i].sk, sizeof(s->id));
            s->differs = json_object_size(s->attrs) &&
                         !json_equal(json_object_get(sub, "Attributes"), s->attrs);
        }
        json_decref(sub);
    }
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    if (rc || s->id[0])
        return rc;
    sl_uuid(s->id);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:O, s:b}", "Protocol", s->protocol, "Endpoint",
                            s->endpoint, "Owner", s->topic.account, "Attributes", s->attrs,
                            "Pending", 0);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    rc = text ? sl_txn_put(t, SNS_NS_SUB, s->topic.arn, s->id, text, strlen(text), NULL)
              : SL_ENOMEM;
    free(text);
    return rc;
}

static int subscribed(struct sl_call *c)
{
    struct subscribe *s = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Topic does not exist");
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (s->differs)
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Attributes Reason: "
                                              "Subscription already exists with different "
                                              "attributes");
    char arn[448];
    snprintf(arn, sizeof(arn), "%s:%s", s->topic.arn, s->id);
    return sl_call_ok(c, json_pack("{s:s}", "SubscriptionArn", arn));
}

SL_OP(sns, Subscribe)
{
    struct subscribe *s = sl_call_alloc(c, sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    struct sns_topic topic;
    int rc = sns_call_topic(c, "TopicArn", &s->topic, &topic);
    if (rc)
        return rc;
    bool fifo = topic.fifo;
    sns_topic_clear(&topic);
    s->protocol = json_string_value(json_object_get(c->in, "Protocol"));
    s->endpoint = json_string_value(json_object_get(c->in, "Endpoint"));
    if (!s->protocol)
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Protocol");
    bool sqs = strcmp(s->protocol, "sqs") == 0, lambda = strcmp(s->protocol, "lambda") == 0;
    if (!sqs && !lambda) {
        static const char *const known[] = {"http", "https", "email", "email-json", "sms",
                                            "application", "firehose"};
        for (size_t i = 0; i < SL_ARRAY_LEN(known); i++)
            if (strcmp(s->protocol, known[i]) == 0)
                return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Sluice does not "
                                                      "deliver to %s endpoints yet (lambda and "
                                                      "sqs ones it does)",
                                    s->protocol);
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Amazon SNS does not support "
                                              "this protocol string: %s",
                            s->protocol);
    }
    const char *prefix = sqs ? "arn:aws:sqs:" : "arn:aws:lambda:";
    if (!s->endpoint || strncmp(s->endpoint, prefix, strlen(prefix)) != 0)
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: %s endpoint ARN",
                            sqs ? "SQS" : "Lambda");
    if (fifo && !sqs)
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Invalid protocol type: %s",
                            s->protocol);
    s->attrs = json_object();
    c->state = s;
    c->state_free = subscribe_free;
    const char *k;
    json_t *v;
    char msg[512];
    json_object_foreach(json_object_get(c->in, "Attributes"), k, v)
    {
        const char *value = json_is_string(v) ? json_string_value(v) : "";
        if (check_attr(s->protocol, k, value, msg, sizeof(msg)))
            return sl_call_fail(c, SNS_E_INVALID, "%s", msg);
        json_object_set(s->attrs, k, v);
    }
    return sl_call_write(c, subscribe_txn, s, subscribed);
}

/* ---- the others ------------------------------------------------------------------ */

/* The subscription SubscriptionArn names (its record, a new object): 0,
 * or the call has its answer. */
static int call_sub(struct sl_call *c, struct sub_ref *r, json_t **rec)
{
    const char *arn = json_string_value(json_object_get(c->in, "SubscriptionArn"));
    if (!sub_ref_parse(arn, r))
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: SubscriptionArn");
    if (strcmp(r->topic.account, c->account) != 0 || strcmp(r->topic.region, c->region) != 0)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Subscription does not exist");
    struct sl_item it;
    int rc = sl_kv_get(c->app->store, SNS_NS_SUB, r->topic.arn, r->id, &it);
    if (rc == SL_ENOTFOUND)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Subscription does not exist");
    if (rc)
        return sl_call_internal(c, rc, NULL);
    *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *rec ? 0 : sl_call_internal(c, SL_ECORRUPT, NULL);
}

/* A change of a subscription, in a transaction: delete, or one attribute
 * set. */
struct schange {
    struct sub_ref r;
    const char *name, *value; /* NULL name: delete */
};

static int schange_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct schange *w = arg;
    if (!w->name) {
        int rc = sl_txn_delete(t, SNS_NS_SUB, w->r.topic.arn, w->r.id);
        return rc == SL_ENOTFOUND ? 0 : rc;
    }
    struct sl_item it;
    int rc = sl_txn_get(t, SNS_NS_SUB, w->r.topic.arn, w->r.id, &it);
    if (rc)
        return rc;
    json_t *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    json_t *attrs = json_object_get(rec, "Attributes");
    if (!json_is_object(attrs)) {
        json_decref(rec);
        return SL_ECORRUPT;
    }
    if (!*w->value && strcmp(w->name, "FilterPolicy") == 0)
        json_object_del(attrs, w->name);
    else
        json_object_set_new(attrs, w->name, json_string(w->value));
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    rc = text ? sl_txn_put(t, SNS_NS_SUB, w->r.topic.arn, w->r.id, text, strlen(text), NULL)
              : SL_ENOMEM;
    free(text);
    return rc;
}

static int schanged(struct sl_call *c)
{
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Subscription does not exist");
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return sl_call_ok(c, json_object());
}

SL_OP(sns, Unsubscribe)
{
    struct schange *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    const char *arn = json_string_value(json_object_get(c->in, "SubscriptionArn"));
    if (!sub_ref_parse(arn, &w->r))
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: SubscriptionArn");
    if (strcmp(w->r.topic.account, c->account) != 0 || strcmp(w->r.topic.region, c->region) != 0)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Subscription does not exist");
    return sl_call_write(c, schange_txn, w, schanged);
}

SL_OP(sns, SetSubscriptionAttributes)
{
    struct schange *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    json_t *rec = NULL;
    int rc = call_sub(c, &w->r, &rec);
    if (rc)
        return rc;
    w->name = json_string_value(json_object_get(c->in, "AttributeName"));
    w->value = json_string_value(json_object_get(c->in, "AttributeValue"));
    if (!w->value)
        w->value = "";
    char msg[512];
    rc = w->name ? check_attr(json_string_value(json_object_get(rec, "Protocol")), w->name,
                              w->value, msg, sizeof(msg))
                 : (snprintf(msg, sizeof(msg), "Invalid parameter: AttributeName"), SL_EINVAL);
    json_decref(rec);
    if (rc)
        return sl_call_fail(c, SNS_E_INVALID, "%s", msg);
    return sl_call_write(c, schange_txn, w, schanged);
}

SL_OP(sns, GetSubscriptionAttributes)
{
    struct sub_ref r;
    json_t *rec = NULL;
    int rc = call_sub(c, &r, &rec);
    if (rc)
        return rc;
    json_t *out = json_deep_copy(json_object_get(rec, "Attributes"));
    if (!out)
        out = json_object();
    json_object_set_new(out, "SubscriptionArn", json_string(r.arn));
    json_object_set_new(out, "TopicArn", json_string(r.topic.arn));
    json_object_set(out, "Owner", json_object_get(rec, "Owner"));
    json_object_set(out, "Protocol", json_object_get(rec, "Protocol"));
    json_object_set(out, "Endpoint", json_object_get(rec, "Endpoint"));
    json_object_set_new(out, "PendingConfirmation", json_string("false"));
    json_object_set_new(out, "ConfirmationWasAuthenticated", json_string("true"));
    if (!json_object_get(out, "RawMessageDelivery"))
        json_object_set_new(out, "RawMessageDelivery", json_string("false"));
    if (json_object_get(out, "FilterPolicy") && !json_object_get(out, "FilterPolicyScope"))
        json_object_set_new(out, "FilterPolicyScope", json_string("MessageAttributes"));
    json_decref(rec);
    return sl_call_ok(c, json_pack("{s:o}", "Attributes", out));
}

/* The subscriptions of topic r into list (ListSubscriptions' members). */
static int list_topic(struct sl_store *s, const struct sns_ref *r, json_t *list)
{
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(s, SNS_NS_SUB, r->arn, NULL, NULL, SIZE_MAX, &items, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *sub = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        char arn[448];
        snprintf(arn, sizeof(arn), "%s:%s", r->arn, items[i].sk);
        if (sub)
            json_array_append_new(list, json_pack("{s:s, s:O, s:O, s:O, s:s}", "SubscriptionArn",
                                                  arn, "Owner", json_object_get(sub, "Owner"),
                                                  "Protocol", json_object_get(sub, "Protocol"),
                                                  "Endpoint", json_object_get(sub, "Endpoint"),
                                                  "TopicArn", r->arn));
        json_decref(sub);
        sl_item_free(&items[i]);
    }
    free(items);
    return rc;
}

/* A page of list from NextToken (an offset) on. */
static int page(struct sl_call *c, json_t *list)
{
    const char *token = json_string_value(json_object_get(c->in, "NextToken"));
    size_t from = token ? strtoul(token, NULL, 10) : 0;
    json_t *out = json_array();
    for (size_t i = from; i < json_array_size(list) && i < from + LIST_PAGE; i++)
        json_array_append(out, json_array_get(list, i));
    json_t *answer = json_pack("{s:o}", "Subscriptions", out);
    if (from + LIST_PAGE < json_array_size(list)) {
        char next[24];
        snprintf(next, sizeof(next), "%zu", from + LIST_PAGE);
        json_object_set_new(answer, "NextToken", json_string(next));
    }
    json_decref(list);
    return sl_call_ok(c, answer);
}

SL_OP(sns, ListSubscriptionsByTopic)
{
    struct sns_ref r;
    struct sns_topic t;
    int rc = sns_call_topic(c, "TopicArn", &r, &t);
    if (rc)
        return rc;
    sns_topic_clear(&t);
    json_t *list = json_array();
    if ((rc = list_topic(c->app->store, &r, list)) != 0) {
        json_decref(list);
        return sl_call_internal(c, rc, NULL);
    }
    return page(c, list);
}

SL_OP(sns, ListSubscriptions)
{
    char pk[96];
    snprintf(pk, sizeof(pk), "%s/%s", c->account, c->region);
    struct sl_item *topics = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, SNS_NS_TOPIC, pk, NULL, NULL, SIZE_MAX, &topics, &n);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        struct sns_ref r;
        sns_ref_make(&r, c->account, c->region, topics[i].sk);
        if (!rc)
            rc = list_topic(c->app->store, &r, list);
        sl_item_free(&topics[i]);
    }
    free(topics);
    if (rc) {
        json_decref(list);
        return sl_call_internal(c, rc, NULL);
    }
    return page(c, list);
}
