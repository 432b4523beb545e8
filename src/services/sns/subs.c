/*
 * SNS subscriptions: Subscribe (lambda and sqs endpoints, confirmed at
 * once as same-account ones are on AWS; http and https ones pending until
 * their endpoint confirms with the token of the confirmation request it
 * was sent, by ConfirmSubscription or by following its SubscribeURL; the
 * same endpoint again answers the same subscription), Unsubscribe (an
 * http endpoint is sent an unsubscribe confirmation whose SubscribeURL
 * brings the subscription back), ListSubscriptions(ByTopic) and
 * Get/SetSubscriptionAttributes, with FilterPolicy (compiled by the shared
 * event-pattern module, so a bad one is refused when it is set),
 * FilterPolicyScope, RawMessageDelivery and RedrivePolicy checked.
 */
#include "services/sns/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

bool sns_protocol_http(const char *protocol)
{
    return protocol && (strcmp(protocol, "http") == 0 || strcmp(protocol, "https") == 0);
}

/* Where the call reached Sluice ("http://host:port"), for the URLs SNS
 * sends. */
static void base_url(struct sl_call *c, char *out, size_t n)
{
    /* (An unsigned caller's Host is not taken: Sluice's own address.) */
    const char *host = c->anonymous ? NULL : sl_http_header(c->http, "Host");
    if (host && *host)
        snprintf(out, n, "http://%.200s", host);
    else
        snprintf(out, n, "%.200s", c->app->endpoint_url ? c->app->endpoint_url : "");
}

/* Inside a transaction: the tokens of subscription id go (a new one
 * replaces them; its deletion ends them). */
static int drop_tokens_txn(struct sl_txn *t, const char *topic_arn, const char *id)
{
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_txn_list(t, SNS_NS_TOKEN, topic_arn, NULL, SIZE_MAX, &items, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *tok = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        const char *sub = json_string_value(json_object_get(tok, "sub"));
        if (!sub || strcmp(sub, id) == 0)
            rc = sl_txn_delete(t, SNS_NS_TOKEN, topic_arn, items[i].sk);
        json_decref(tok);
    }
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return rc;
}

/* Inside a transaction: a confirmation request (or, unsub, an unsubscribe
 * confirmation) to the http(s) endpoint of subscription id, with a new
 * token; the token of an unsubscribe confirmation brings rec back. */
static int confirmation_txn(struct sl_txn *t, const struct sns_ref *topic, const char *id,
                            const json_t *rec, bool unsub, const char *base)
{
    uint8_t raw[64];
    char token[sizeof(raw) * 2 + 1], mid[40], ts[40], arn[448];
    sl_random(raw, sizeof(raw));
    sl_hex_encode(raw, sizeof(raw), token);
    sl_uuid(mid);
    int64_t now = sl_time_now_ms();
    sl_time_iso8601_ms(now, ts, sizeof(ts));
    snprintf(arn, sizeof(arn), "%s:%s", topic->arn, id);
    int rc = drop_tokens_txn(t, topic->arn, id);
    if (rc)
        return rc;
    json_t *tok = json_pack("{s:s, s:I}", "sub", id, "at", (json_int_t)now);
    if (tok && unsub)
        json_object_set(tok, "restore", (json_t *)rec);
    char *tok_text = tok ? json_dumps(tok, JSON_COMPACT) : NULL;
    json_decref(tok);
    if (!tok_text)
        return SL_ENOMEM;
    rc = sl_txn_put(t, SNS_NS_TOKEN, topic->arn, token, tok_text, strlen(tok_text), NULL);
    free(tok_text);
    if (rc)
        return rc;
    struct sl_buf msg, url;
    sl_buf_init(&msg, 0);
    sl_buf_init(&url, 0);
    if (unsub)
        sl_buf_printf(&msg, "You have chosen to deactivate subscription %s.\nTo cancel this "
                            "operation and restore the subscription, visit the SubscribeURL "
                            "included in this message.",
                      arn);
    else
        sl_buf_printf(&msg, "You have chosen to subscribe to the topic %s.\nTo confirm the "
                            "subscription, visit the SubscribeURL included in this message.",
                      topic->arn);
    sl_buf_printf(&url, "%s/?Action=ConfirmSubscription&TopicArn=%s&Token=%s", base, topic->arn,
                  token);
    const char *type = unsub ? "UnsubscribeConfirmation" : "SubscriptionConfirmation";
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type", type, "MessageId", mid,
                          "Token", token, "TopicArn", topic->arn, "Message",
                          msg.data ? msg.data : "", "SubscribeURL", url.data ? url.data : "",
                          "Timestamp", ts);
    sl_buf_free(&msg);
    sl_buf_free(&url);
    if (o)
        sns_sign(o, topic->region, false);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body)
        return SL_ENOMEM;
    struct sns_http_msg hm = {
        .url = json_string_value(json_object_get(rec, "Endpoint")),
        .type = type,
        .message_id = mid,
        .topic_arn = topic->arn,
        .sub_arn = arn,
        .body = body,
        .sub_attrs = json_object_get(rec, "Attributes"),
    };
    rc = hm.url ? sns_http_put_txn(t, &hm) : SL_ECORRUPT;
    free(body);
    return rc;
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
    if (strcmp(name, "DeliveryPolicy") == 0) {
        if (!sns_protocol_http(protocol)) {
            snprintf(msg, n, "Invalid parameter: DeliveryPolicy: only http and https "
                             "subscriptions take a delivery policy");
            return SL_EINVAL;
        }
        return sns_delivery_policy_check(value, false, msg, n);
    }
    if (strcmp(name, "SubscriptionRoleArn") == 0 || strcmp(name, "ReplayPolicy") == 0)
        return 0;
    snprintf(msg, n, "Invalid parameter: AttributeName");
    return SL_EINVAL;
}

/* Whether policy p (parsed) nests: a key whose rules are an object, in
 * it or in one of its "$or" alternatives. */
static bool policy_nested(const json_t *p)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)p, k, v)
    {
        if (json_is_object(v))
            return true;
        if (strcmp(k, "$or") == 0 && json_is_array(v)) {
            size_t i;
            json_t *alt;
            json_array_foreach(v, i, alt)
            {
                if (json_is_object(alt) && policy_nested(alt))
                    return true;
            }
        }
    }
    return false;
}

/* Whether attrs (a subscription's, as they would be) pair a nested
 * FilterPolicy with the MessageAttributes scope, which cannot hold one:
 * 0, or SL_EINVAL with SNS's message. */
static int check_scope(const json_t *attrs, char *msg, size_t n)
{
    const char *policy = json_string_value(json_object_get(attrs, "FilterPolicy"));
    const char *scope = json_string_value(json_object_get(attrs, "FilterPolicyScope"));
    if (!policy || !*policy || (scope && strcmp(scope, "MessageBody") == 0))
        return 0;
    json_t *p = json_loads(policy, 0, NULL);
    bool nested = policy_nested(p);
    json_decref(p);
    if (!nested)
        return 0;
    snprintf(msg, n, "Invalid parameter: Filter policy scope MessageAttributes does not support "
                     "nested filter policy");
    return SL_EINVAL;
}

/* The record of subscription r, in a transaction (a new object). */
static int sub_read_txn(struct sl_txn *t, const struct sub_ref *r, json_t **rec)
{
    struct sl_item it;
    int rc = sl_txn_get(t, SNS_NS_SUB, r->topic.arn, r->id, &it);
    if (rc)
        return rc;
    *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *rec ? 0 : SL_ECORRUPT;
}

static int sub_write_txn(struct sl_txn *t, const struct sub_ref *r, const json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    int rc = text ? sl_txn_put(t, SNS_NS_SUB, r->topic.arn, r->id, text, strlen(text), NULL)
                  : SL_ENOMEM;
    free(text);
    return rc;
}

/* The id (into id, "" when none) of topic_arn's subscription to rec's
 * protocol and endpoint. */
static int find_endpoint_txn(struct sl_txn *t, const char *topic_arn, const json_t *rec,
                             char *id, size_t n)
{
    const char *protocol = json_string_value(json_object_get(rec, "Protocol"));
    const char *endpoint = json_string_value(json_object_get(rec, "Endpoint"));
    struct sl_item *items = NULL;
    size_t count = 0;
    id[0] = '\0';
    int rc = sl_txn_list(t, SNS_NS_SUB, topic_arn, NULL, SIZE_MAX, &items, &count);
    for (size_t i = 0; !rc && i < count && !id[0]; i++) {
        json_t *sub = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        const char *p = json_string_value(json_object_get(sub, "Protocol"));
        const char *e = json_string_value(json_object_get(sub, "Endpoint"));
        if (p && e && protocol && endpoint && strcmp(p, protocol) == 0 &&
            strcmp(e, endpoint) == 0)
            sl_strlcpy(id, items[i].sk, n);
        json_decref(sub);
    }
    for (size_t i = 0; i < count; i++)
        sl_item_free(&items[i]);
    free(items);
    return rc;
}

/* ---- Subscribe ------------------------------------------------------------------ */

struct subscribe {
    struct sns_ref topic;
    const char *protocol, *endpoint;
    json_t *attrs;
    char id[40];
    char base[256]; /* http(s): where the SubscribeURL points */
    bool differs;
    bool pending; /* out: waits for its endpoint's confirmation */
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
    json_t *want = json_pack("{s:s, s:s}", "Protocol", s->protocol, "Endpoint", s->endpoint);
    rc = want ? find_endpoint_txn(t, s->topic.arn, want, s->id, sizeof(s->id)) : SL_ENOMEM;
    json_decref(want);
    if (rc)
        return rc;
    if (s->id[0]) {
        struct sub_ref r = {.topic = s->topic};
        sl_strlcpy(r.id, s->id, sizeof(r.id));
        json_t *sub = NULL;
        rc = sub_read_txn(t, &r, &sub);
        if (rc)
            return rc;
        s->differs = json_object_size(s->attrs) &&
                     !json_equal(json_object_get(sub, "Attributes"), s->attrs);
        s->pending = json_is_true(json_object_get(sub, "Pending"));
        /* Still pending: its endpoint is asked again, with a new token. */
        if (s->pending && !s->differs)
            rc = confirmation_txn(t, &s->topic, s->id, sub, false, s->base);
        json_decref(sub);
        return rc;
    }
    sl_uuid(s->id);
    s->pending = sns_protocol_http(s->protocol);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:O, s:b}", "Protocol", s->protocol, "Endpoint",
                            s->endpoint, "Owner", s->topic.account, "Attributes", s->attrs,
                            "Pending", s->pending);
    if (rec && s->pending)
        json_object_set_new(rec, "Base", json_string(s->base));
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    rc = text ? sl_txn_put(t, SNS_NS_SUB, s->topic.arn, s->id, text, strlen(text), NULL)
              : SL_ENOMEM;
    free(text);
    if (!rc && s->pending)
        rc = confirmation_txn(t, &s->topic, s->id, rec, false, s->base);
    json_decref(rec);
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
    bool want_arn = json_is_true(json_object_get(c->in, "ReturnSubscriptionArn"));
    return sl_call_ok(c, json_pack("{s:s}", "SubscriptionArn",
                                   s->pending && !want_arn ? "pending confirmation" : arn));
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
    bool http = sns_protocol_http(s->protocol);
    if (!sqs && !lambda && !http) {
        static const char *const known[] = {"email", "email-json", "sms", "application",
                                            "firehose"};
        for (size_t i = 0; i < SL_ARRAY_LEN(known); i++)
            if (strcmp(s->protocol, known[i]) == 0)
                return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Sluice does not "
                                                      "deliver to %s endpoints yet (lambda, "
                                                      "sqs, http and https ones it does)",
                                    s->protocol);
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Amazon SNS does not support "
                                              "this protocol string: %s",
                            s->protocol);
    }
    if (http) {
        /* "http://" or "https://", as the protocol says, then a host. */
        size_t pl = strlen(s->protocol);
        if (!s->endpoint || strncmp(s->endpoint, s->protocol, pl) != 0 ||
            strncmp(s->endpoint + pl, "://", 3) != 0 || !s->endpoint[pl + 3] ||
            s->endpoint[pl + 3] == '/' || strlen(s->endpoint) > 2048 ||
            strpbrk(s->endpoint, " \t\r\n"))
            return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Endpoint must match the "
                                                  "specified protocol");
        base_url(c, s->base, sizeof(s->base));
    } else {
        const char *prefix = sqs ? "arn:aws:sqs:" : "arn:aws:lambda:";
        if (!s->endpoint || strncmp(s->endpoint, prefix, strlen(prefix)) != 0)
            return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: %s endpoint ARN",
                                sqs ? "SQS" : "Lambda");
    }
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
    if (check_scope(s->attrs, msg, sizeof(msg)))
        return sl_call_fail(c, SNS_E_INVALID, "%s", msg);
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
    char base[256];           /* delete: where an unsubscribe confirmation points */
    bool anonymous;           /* delete: by an unsigned UnsubscribeURL */
};

/* Unsubscribe: a confirmed http(s) endpoint is told, with a token that
 * restores it. */
static int unsubscribe_txn(struct sl_txn *t, struct schange *w)
{
    json_t *rec = NULL;
    int rc = sub_read_txn(t, &w->r, &rec);
    if (rc)
        return rc == SL_ENOTFOUND ? 0 : rc;
    bool http = sns_protocol_http(json_string_value(json_object_get(rec, "Protocol")));
    /* Unsigned (its UnsubscribeURL): an http(s) subscription whose
     * confirmation did not ask for a signature on unsubscribing. */
    if (w->anonymous &&
        (!http || json_is_true(json_object_get(rec, "AuthenticateOnUnsubscribe"))))
        rc = SL_EAUTH;
    if (!rc)
        rc = sl_txn_delete(t, SNS_NS_SUB, w->r.topic.arn, w->r.id);
    if (!rc && http)
        rc = drop_tokens_txn(t, w->r.topic.arn, w->r.id);
    if (!rc && http && !json_is_true(json_object_get(rec, "Pending")))
        rc = confirmation_txn(t, &w->r.topic, w->r.id, rec, true, w->base);
    json_decref(rec);
    return rc;
}

static int schange_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct schange *w = arg;
    if (!w->name)
        return unsubscribe_txn(t, w);
    json_t *rec = NULL;
    int rc = sub_read_txn(t, &w->r, &rec);
    if (rc)
        return rc;
    json_t *attrs = json_object_get(rec, "Attributes");
    if (!json_is_object(attrs)) {
        json_decref(rec);
        return SL_ECORRUPT;
    }
    if (!*w->value && strcmp(w->name, "FilterPolicy") == 0)
        json_object_del(attrs, w->name);
    else
        json_object_set_new(attrs, w->name, json_string(w->value));
    rc = sub_write_txn(t, &w->r, rec);
    json_decref(rec);
    return rc;
}

static int schanged(struct sl_call *c)
{
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Subscription does not exist");
    if (c->write_rc == SL_EAUTH)
        return sl_call_fail(c, SNS_E_AUTH, "Authorization error: this subscription may only be "
                                           "deleted by a signed request of its owner");
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
    if (!c->anonymous &&
        (strcmp(w->r.topic.account, c->account) != 0 || strcmp(w->r.topic.region, c->region) != 0))
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Subscription does not exist");
    w->anonymous = c->anonymous;
    base_url(c, w->base, sizeof(w->base));
    return sl_call_write(c, schange_txn, w, schanged);
}

/* ---- ConfirmSubscription ---------------------------------------------------------- */

struct confirm {
    struct sub_ref r;
    const char *token;
    bool auth_unsub, signed_call;
};

static int confirm_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct confirm *w = arg;
    struct sns_topic topic;
    int rc = sns_topic_read_txn(t, &w->r.topic, &topic);
    if (rc)
        return rc;
    sns_topic_clear(&topic);
    struct sl_item it;
    rc = sl_txn_get(t, SNS_NS_TOKEN, w->r.topic.arn, w->token, &it);
    if (rc)
        return rc == SL_ENOTFOUND ? SL_EINVAL : rc;
    json_t *tok = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    const char *id = json_string_value(json_object_get(tok, "sub"));
    if (!id || strlen(id) >= sizeof(w->r.id) ||
        sl_time_now_ms() - json_integer_value(json_object_get(tok, "at")) > SNS_TOKEN_MS) {
        json_decref(tok);
        return SL_EINVAL; /* (expired) */
    }
    sl_strlcpy(w->r.id, id, sizeof(w->r.id));
    snprintf(w->r.arn, sizeof(w->r.arn), "%s:%s", w->r.topic.arn, w->r.id);
    json_t *rec = NULL;
    rc = sub_read_txn(t, &w->r, &rec);
    if (rc == SL_ENOTFOUND) {
        /* An unsubscribe confirmation's token brings it back, once. */
        json_t *restore = json_object_get(tok, "restore");
        rc = json_is_object(restore) ? 0 : SL_EINVAL;
        rec = rc ? NULL : json_deep_copy(restore);
        if (!rc)
            rc = sl_txn_delete(t, SNS_NS_TOKEN, w->r.topic.arn, w->token);
        /* (Subscribed again meanwhile: that subscription stands.) */
        char other[40] = "";
        if (!rc)
            rc = find_endpoint_txn(t, w->r.topic.arn, rec, other, sizeof(other));
        if (!rc && other[0]) {
            sl_strlcpy(w->r.id, other, sizeof(w->r.id));
            snprintf(w->r.arn, sizeof(w->r.arn), "%s:%s", w->r.topic.arn, w->r.id);
            json_decref(tok);
            json_decref(rec);
            return 0;
        }
    }
    json_decref(tok);
    if (rc) {
        json_decref(rec);
        return rc;
    }
    /* Confirmed again (its SubscribeURL followed twice): as it was, but
     * that its owner's signed call may ask for signed unsubscribing. */
    bool was_pending = json_is_true(json_object_get(rec, "Pending")) ||
                       json_object_get(rec, "Pending") == NULL;
    json_object_set_new(rec, "Pending", json_false());
    if (w->auth_unsub && w->signed_call)
        json_object_set_new(rec, "AuthenticateOnUnsubscribe", json_true());
    if (was_pending)
        json_object_set_new(rec, "Unauthenticated", json_boolean(!w->signed_call));
    rc = sub_write_txn(t, &w->r, rec);
    json_decref(rec);
    return rc;
}

static int confirmed(struct sl_call *c)
{
    struct confirm *w = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Topic does not exist");
    if (c->write_rc == SL_EINVAL)
        return sl_call_fail(c, SNS_E_INVALID, "Invalid token");
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return sl_call_ok(c, json_pack("{s:s}", "SubscriptionArn", w->r.arn));
}

SL_OP(sns, ConfirmSubscription)
{
    struct confirm *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    const char *topic = json_string_value(json_object_get(c->in, "TopicArn"));
    if (!sns_ref_from_arn(topic, &w->r.topic))
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: TopicArn");
    w->token = json_string_value(json_object_get(c->in, "Token"));
    if (!w->token || !*w->token || strlen(w->token) > 1024)
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Token");
    const char *auth = json_string_value(json_object_get(c->in, "AuthenticateOnUnsubscribe"));
    w->auth_unsub = auth && strcasecmp(auth, "true") == 0;
    w->signed_call = !c->anonymous;
    return sl_call_write(c, confirm_txn, w, confirmed);
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
    if (!rc) {
        /* (The attributes as they would be: a policy and its scope must
         * agree.) */
        json_t *after = json_deep_copy(json_object_get(rec, "Attributes"));
        if (!after)
            after = json_object();
        json_object_set_new(after, w->name, json_string(w->value));
        rc = check_scope(after, msg, sizeof(msg));
        json_decref(after);
    }
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
    bool pending = json_is_true(json_object_get(rec, "Pending"));
    json_object_set_new(out, "PendingConfirmation", json_string(pending ? "true" : "false"));
    json_object_set_new(out, "ConfirmationWasAuthenticated",
                        json_string(json_is_true(json_object_get(rec, "Unauthenticated"))
                                        ? "false"
                                        : "true"));
    if (!json_object_get(out, "RawMessageDelivery"))
        json_object_set_new(out, "RawMessageDelivery", json_string("false"));
    if (sns_protocol_http(json_string_value(json_object_get(rec, "Protocol")))) {
        /* (The topic's http defaults count; a topic that cannot be read
         * counts as one without.) */
        struct sns_topic topic = {0};
        (void)sns_topic_read(c->app->store, &r.topic, &topic);
        char *eff = sns_effective_delivery_policy(topic.attrs,
                                                  json_object_get(rec, "Attributes"));
        if (eff)
            json_object_set_new(out, "EffectiveDeliveryPolicy", json_string(eff));
        free(eff);
        sns_topic_clear(&topic);
    }
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
        if (json_is_true(json_object_get(sub, "Pending")))
            sl_strlcpy(arn, "PendingConfirmation", sizeof(arn));
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
