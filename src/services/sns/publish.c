/*
 * SNS publishing: Publish and PublishBatch, and the fan-out that a
 * delivery to a topic shares with them (sns_publish_txn): inside the one
 * transaction that accepts the message, every subscription whose filter
 * policy lets it through gets its copy through the engine's targets —
 * Lambda's event for functions, the JSON envelope (or, raw, the message
 * itself with its attributes) for queues — so an acknowledged message
 * reaches all of them, and a failed one none. A subscription whose
 * endpoint is gone sends its copy to its RedrivePolicy's queue.
 *
 * FIFO topics: MessageGroupId required, deduplication by id (explicit or
 * the SHA-256 of the message) over 5 minutes, a sequence number per
 * topic; their queues get the group and the id.
 */
#include "services/sns/internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pattern.h"

#define BATCH_MAX 10

/* ---- checks ---------------------------------------------------------------------- */

static int bad(char *msg, size_t n, int *code, int which, const char *fmt, ...)
    SL_PRINTF(5, 6);
static int bad(char *msg, size_t n, int *code, int which, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    *code = which;
    return SL_EINVAL;
}

static bool attr_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > 256 || name[0] == '.' || name[n - 1] == '.' ||
        strncmp(name, "AWS.", 4) == 0 || strncmp(name, "Amazon.", 7) == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
        if (!ok || (ch == '.' && name[i + 1] == '.'))
            return false;
    }
    return true;
}

/* An attribute's type without its custom label ("Number.float"). */
static bool type_is(const char *type, const char *base)
{
    size_t n = strlen(base);
    return strncmp(type, base, n) == 0 && (type[n] == '\0' || type[n] == '.');
}

int sns_message_check(const struct sns_topic *topic, const struct sns_message *m, char *msg,
                      size_t n, int *code)
{
    if (!m->message || !*m->message)
        return bad(msg, n, code, SNS_E_INVALID, "Invalid parameter: Empty message");
    size_t size = strlen(m->message);
    if (m->subject) {
        size_t sl = strlen(m->subject);
        bool ok = sl > 0 && sl <= 100;
        for (size_t i = 0; ok && i < sl; i++)
            ok = (unsigned char)m->subject[i] >= 0x20;
        if (!ok)
            return bad(msg, n, code, SNS_E_INVALID, "Invalid parameter: Subject");
    }
    const char *k;
    json_t *v;
    json_object_foreach(m->attributes, k, v)
    {
        const char *type = json_string_value(json_object_get(v, "DataType"));
        const char *sv = json_string_value(json_object_get(v, "StringValue"));
        const char *bv = json_string_value(json_object_get(v, "BinaryValue"));
        if (!attr_name_ok(k))
            return bad(msg, n, code, SNS_E_VALUE, "The message attribute name '%s' is invalid.",
                       k);
        if (!type || !(type_is(type, "String") || type_is(type, "Number") ||
                       type_is(type, "Binary")))
            return bad(msg, n, code, SNS_E_VALUE,
                       "The message attribute '%s' has an invalid message attribute type, the "
                       "set of supported type prefixes is Binary, Number, and String.",
                       k);
        bool binary = type_is(type, "Binary");
        if (binary ? !bv : !sv || !*sv)
            return bad(msg, n, code, SNS_E_VALUE,
                       "The message attribute '%s' must contain non-empty message attribute "
                       "value for message attribute type '%s'.",
                       k, type);
        if (type_is(type, "Number")) {
            /* (A decimal number: not strtod's nan, inf or hexadecimal.) */
            char *end;
            strtod(sv, &end);
            if (*end || end == sv || strspn(sv, "0123456789+-.eE") != strlen(sv))
                return bad(msg, n, code, SNS_E_VALUE,
                           "An error occurred while trying to parse the value '%s' of the "
                           "message attribute '%s' as a number.",
                           sv, k);
        }
        if (strncmp(type, "String.Array", 12) == 0) {
            json_t *arr = json_loads(sv, 0, NULL);
            bool ok = json_is_array(arr);
            json_decref(arr);
            if (!ok)
                return bad(msg, n, code, SNS_E_VALUE,
                           "The message attribute '%s' with type 'String.Array' has an invalid "
                           "value: %s",
                           k, sv);
        }
        size += strlen(k) + strlen(type) + strlen(binary ? bv : sv);
    }
    if (size > SNS_MESSAGE_MAX)
        return bad(msg, n, code, SNS_E_INVALID,
                   "Invalid parameter: Message too long");
    if (m->structure_json) {
        json_t *s = json_loads(m->message, 0, NULL);
        bool parsed = json_is_object(s);
        bool dflt = json_is_string(json_object_get(s, "default"));
        json_decref(s);
        if (!parsed)
            return bad(msg, n, code, SNS_E_INVALID,
                       "Invalid parameter: Message Structure - JSON message body failed to "
                       "parse");
        if (!dflt)
            return bad(msg, n, code, SNS_E_INVALID,
                       "Invalid parameter: Message Structure - No default entry in JSON message "
                       "body");
    }
    if (topic->fifo) {
        if (!m->group_id)
            return bad(msg, n, code, SNS_E_INVALID,
                       "Invalid parameter: The MessageGroupId parameter is required for FIFO "
                       "topics");
        if (!*m->group_id || strlen(m->group_id) > 128 ||
            (m->dedup_id && (!*m->dedup_id || strlen(m->dedup_id) > 128)))
            return bad(msg, n, code, SNS_E_INVALID,
                       "Invalid parameter: MessageGroupId and MessageDeduplicationId must be "
                       "1 to 128 characters");
        if (!m->dedup_id && !topic->content_dedup)
            return bad(msg, n, code, SNS_E_INVALID,
                       "Invalid parameter: The topic should either have "
                       "ContentBasedDeduplication enabled or MessageDeduplicationId provided "
                       "explicitly");
    } else if (m->dedup_id) {
        return bad(msg, n, code, SNS_E_INVALID,
                   "Invalid parameter: MessageDeduplicationId Reason: The request includes "
                   "MessageDeduplicationId parameter that is not valid for this topic type");
    }
    return 0;
}

/* ---- filter policies ---------------------------------------------------------------- */

/* The message as a filter policy of scope sees it: its attributes (String
 * as strings, Number as numbers, String.Array as arrays; Binary left
 * out), or its body parsed (NULL when it is not a JSON object). */
static json_t *filter_view(const struct sns_message *m, bool body)
{
    if (body) {
        json_t *b = json_loads(m->message, 0, NULL);
        if (json_is_object(b))
            return b;
        json_decref(b);
        return NULL;
    }
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(m->attributes, k, v)
    {
        const char *type = json_string_value(json_object_get(v, "DataType"));
        const char *sv = json_string_value(json_object_get(v, "StringValue"));
        if (!type || !sv)
            continue;
        if (strncmp(type, "String.Array", 12) == 0)
            json_object_set_new(out, k, json_loads(sv, 0, NULL));
        else if (type_is(type, "Number"))
            json_object_set_new(out, k, json_real(strtod(sv, NULL)));
        else if (type_is(type, "String"))
            json_object_set_new(out, k, json_string(sv));
    }
    return out;
}

/* Whether the subscription's filter (attrs' FilterPolicy) lets m through. */
static bool passes(const json_t *attrs, const struct sns_message *m)
{
    const char *policy = json_string_value(json_object_get(attrs, "FilterPolicy"));
    if (!policy || !*policy)
        return true;
    const char *scope = json_string_value(json_object_get(attrs, "FilterPolicyScope"));
    struct sl_pattern *p = NULL;
    struct sl_err err = {0};
    if (sl_pattern_compile(policy, strlen(policy), &p, &err))
        return false; /* (checked when it was set: not reached) */
    json_t *view = filter_view(m, scope && strcmp(scope, "MessageBody") == 0);
    bool ok = view && sl_pattern_match(p, view);
    json_decref(view);
    sl_pattern_free(p);
    return ok;
}

/* ---- what each endpoint gets -------------------------------------------------------- */

/* The message for protocol (MessageStructure json: its entry, or the
 * default). A new string. */
static json_t *message_for(const struct sns_message *m, const char *protocol)
{
    if (!m->structure_json)
        return json_string(m->message);
    json_t *s = json_loads(m->message, 0, NULL);
    json_t *v = json_object_get(s, protocol);
    if (!json_is_string(v))
        v = json_object_get(s, "default");
    json_t *out = json_string(json_string_value(v) ? json_string_value(v) : "");
    json_decref(s);
    return out;
}

/* The attributes as SNS's notifications show them: {"k": {"Type": ...,
 * "Value": ...}}. */
static json_t *notification_attrs(const json_t *attrs)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)attrs, k, v)
    {
        const char *type = json_string_value(json_object_get(v, "DataType"));
        json_t *value = json_object_get(v, type && type_is(type, "Binary") ? "BinaryValue"
                                                                           : "StringValue");
        json_object_set_new(out, k, json_pack("{s:s, s:O}", "Type", type ? type : "String",
                                              "Value", value ? value : json_null()));
    }
    return out;
}

void sns_sign(json_t *o, const char *region, bool lambda)
{
    /* The fields AWS signs, in its order, as "name\nvalue\n". */
    static const char *const fields[] = {"Message",   "MessageId", "Subject", "SubscribeURL",
                                         "Timestamp", "Token",     "TopicArn", "Type"};
    struct sl_buf canon, sig;
    sl_buf_init(&canon, 0);
    sl_buf_init(&sig, 0);
    for (size_t i = 0; i < SL_ARRAY_LEN(fields); i++) {
        const char *v = json_string_value(json_object_get(o, fields[i]));
        if (v)
            sl_buf_printf(&canon, "%s\n%s\n", fields[i], v);
    }
    /* (Not AWS's signature, which needs AWS's key: a digest of what it
     * signs, for clients that only read it.) */
    uint8_t digest[SL_SHA256_LEN];
    sl_sha256(canon.data ? canon.data : "", canon.len, digest);
    sl_base64_encode(&sig, digest, sizeof(digest));
    json_object_set_new(o, "SignatureVersion", json_string("1"));
    json_object_set_new(o, "Signature", json_string(sig.data ? sig.data : ""));
    sl_buf_free(&canon);
    sl_buf_free(&sig);
    char url[160];
    snprintf(url, sizeof(url),
             "https://sns.%.64s.amazonaws.com/SimpleNotificationService-"
             "0000000000000000000000000000000.pem",
             region);
    json_object_set_new(o, lambda ? "SigningCertUrl" : "SigningCertURL", json_string(url));
}

/* The notification (the SQS envelope, or the Sns object of Lambda's
 * event: their URL members differ in case). */
static json_t *notification(const struct sns_ref *r, const struct sns_message *m,
                            const char *sub_arn, const char *protocol, const char *timestamp,
                            bool lambda, const char *base)
{
    json_t *o = json_pack("{s:s, s:s}", "Type", "Notification", "MessageId", m->message_id);
    if (m->seq[0])
        json_object_set_new(o, "SequenceNumber", json_string(m->seq));
    json_object_set_new(o, "TopicArn", json_string(r->arn));
    if (m->subject)
        json_object_set_new(o, "Subject", json_string(m->subject));
    else if (lambda)
        json_object_set_new(o, "Subject", json_null());
    json_t *text = message_for(m, protocol);
    json_object_set_new(o, "Message", text);
    json_object_set_new(o, "Timestamp", json_string(timestamp));
    sns_sign(o, r->region, lambda);
    /* (An http endpoint's points at Sluice, where it was subscribed.) */
    char url[800];
    if (base)
        snprintf(url, sizeof(url), "%.256s/?Action=Unsubscribe&SubscriptionArn=%s", base,
                 sub_arn);
    else
        snprintf(url, sizeof(url),
                 "https://sns.%s.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=%s",
                 r->region, sub_arn);
    json_object_set_new(o, lambda ? "UnsubscribeUrl" : "UnsubscribeURL", json_string(url));
    if (lambda || json_object_size(m->attributes))
        json_object_set_new(o, "MessageAttributes", notification_attrs(m->attributes));
    return o;
}

/* The attributes as SQS takes them (raw delivery): String.Array as
 * String. A JSON text, or NULL when none. */
static char *sqs_attrs(const json_t *attrs)
{
    if (!json_object_size(attrs))
        return NULL;
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)attrs, k, v)
    {
        const char *type = json_string_value(json_object_get(v, "DataType"));
        json_t *a = json_deep_copy(v);
        if (type && strncmp(type, "String.Array", 12) == 0)
            json_object_set_new(a, "DataType", json_string("String"));
        json_object_set_new(out, k, a);
    }
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return text;
}

/* ---- fan-out --------------------------------------------------------------------------- */

/* FIFO: the deduplication id (explicit, or the message's SHA-256), the
 * earlier message's id when it is a duplicate, else the next sequence
 * number. *dup when it is one. */
static int fifo_txn(struct sl_txn *t, const struct sns_ref *r, const struct sns_topic *topic,
                    struct sns_message *m, bool *dup)
{
    char id[SL_SHA256_LEN * 2 + 1];
    const char *dedup = m->dedup_id;
    if (!dedup) {
        uint8_t d[SL_SHA256_LEN];
        sl_sha256(m->message, strlen(m->message), d);
        sl_hex_encode(d, sizeof(d), id);
        dedup = id;
    }
    (void)topic;
    int64_t now = sl_time_now_ms();
    struct sl_item it;
    int rc = sl_txn_get(t, SNS_NS_DEDUP, r->arn, dedup, &it);
    if (!rc) {
        json_t *v = json_loadb(it.val, it.val_len, 0, NULL);
        sl_item_free(&it);
        int64_t at = json_integer_value(json_object_get(v, "at"));
        const char *mid = json_string_value(json_object_get(v, "id"));
        const char *seq = json_string_value(json_object_get(v, "seq"));
        *dup = mid && now - at < SNS_DEDUP_MS;
        if (*dup) {
            sl_strlcpy(m->message_id, mid, sizeof(m->message_id));
            sl_strlcpy(m->seq, seq ? seq : "", sizeof(m->seq));
        }
        json_decref(v);
        if (*dup)
            return 0;
    } else if (rc != SL_ENOTFOUND) {
        return rc;
    }
    uint64_t last = 0;
    rc = sl_txn_get(t, SNS_NS_SEQ, r->arn, "", &it);
    if (!rc) {
        last = strtoull(it.val, NULL, 10);
        sl_item_free(&it);
    } else if (rc != SL_ENOTFOUND) {
        return rc;
    }
    snprintf(m->seq, sizeof(m->seq), "%020" PRIu64, last + 1);
    rc = sl_txn_put(t, SNS_NS_SEQ, r->arn, "", m->seq, strlen(m->seq), NULL);
    json_t *v = json_pack("{s:s, s:s, s:I}", "id", m->message_id, "seq", m->seq, "at",
                          (json_int_t)now);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!rc)
        rc = text ? sl_txn_put(t, SNS_NS_DEDUP, r->arn, dedup, text, strlen(text), NULL)
                  : SL_ENOMEM;
    free(text);
    char at[400];
    snprintf(at, sizeof(at), "%013lld/%.300s", (long long)now, dedup);
    if (!rc)
        rc = sl_txn_put(t, SNS_NS_DEDUP_AT, r->arn, at, "", 0, NULL);
    /* (Old ids go as new ones come: up to two of the oldest each time,
     * so the window's ids are all that stay.) */
    struct sl_item *old = NULL;
    size_t n = 0;
    if (!rc)
        rc = sl_txn_list(t, SNS_NS_DEDUP_AT, r->arn, NULL, 2, &old, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        const char *slash = strchr(old[i].sk, '/');
        if (!slash || now - strtoll(old[i].sk, NULL, 10) < SNS_DEDUP_MS)
            break;
        struct sl_item it;
        int grc = sl_txn_get(t, SNS_NS_DEDUP, r->arn, slash + 1, &it);
        if (!grc) {
            json_t *o = json_loadb(it.val, it.val_len, 0, NULL);
            sl_item_free(&it);
            /* (Only the record of that time: a later publish of the id
             * has its own entry.) */
            if (json_integer_value(json_object_get(o, "at")) == strtoll(old[i].sk, NULL, 10))
                rc = sl_txn_delete(t, SNS_NS_DEDUP, r->arn, slash + 1);
            json_decref(o);
        }
        if (!rc)
            rc = sl_txn_delete(t, SNS_NS_DEDUP_AT, r->arn, old[i].sk);
    }
    for (size_t i = 0; i < n; i++)
        sl_item_free(&old[i]);
    free(old);
    return rc;
}

/* A subscription's RedrivePolicy parsed (NULL when none). */
static json_t *redrive_of(const json_t *attrs)
{
    const char *text = json_string_value(json_object_get(attrs, "RedrivePolicy"));
    return text ? json_loads(text, 0, NULL) : NULL;
}

/* One subscription's copy of m. */
static int deliver_one(struct sl_txn *t, struct sns *st, const struct sns_ref *r,
                       const struct sns_topic *topic, struct sns_message *m, const char *sub_id,
                       const json_t *sub, const char *timestamp)
{
    const char *protocol = json_string_value(json_object_get(sub, "Protocol"));
    const char *endpoint = json_string_value(json_object_get(sub, "Endpoint"));
    const json_t *attrs = json_object_get(sub, "Attributes");
    if (!protocol || !endpoint || json_is_true(json_object_get(sub, "Pending")) ||
        !passes(attrs, m))
        return 0;
    char sub_arn[448];
    snprintf(sub_arn, sizeof(sub_arn), "%s:%s", r->arn, sub_id);
    bool lambda = strcmp(protocol, "lambda") == 0;
    const char *raw = json_string_value(json_object_get(attrs, "RawMessageDelivery"));
    bool is_raw = !lambda && raw && strcmp(raw, "true") == 0;
    json_t *payload = NULL;
    char *attrs_text = NULL;
    if (lambda) {
        payload = json_pack("{s:[{s:s, s:s, s:s, s:o}]}", "Records", "EventSource", "aws:sns",
                            "EventVersion", "1.0", "EventSubscriptionArn", sub_arn, "Sns",
                            notification(r, m, sub_arn, protocol, timestamp, true, NULL));
    } else if (is_raw) {
        payload = message_for(m, protocol);
        attrs_text = sqs_attrs(m->attributes);
    } else {
        payload = notification(r, m, sub_arn, protocol, timestamp, false,
                               json_string_value(json_object_get(sub, "Base")));
    }
    char *text = !payload           ? NULL
                 : json_is_string(payload) ? strdup(json_string_value(payload))
                                           : json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    if (!text) {
        free(attrs_text);
        return SL_ENOMEM;
    }
    if (sns_protocol_http(protocol)) {
        /* Posted by the sns.http queue's consumer, its failures to the
         * dead-letter queue from there. */
        json_t *rp = redrive_of(attrs);
        struct sns_http_msg hm = {
            .url = endpoint,
            .type = "Notification",
            .message_id = m->message_id,
            .topic_arn = r->arn,
            .sub_arn = sub_arn,
            .body = text,
            .raw = is_raw,
            .topic_attrs = topic->attrs,
            .sub_attrs = attrs,
            .dlq = json_string_value(json_object_get(rp, "deadLetterTargetArn")),
        };
        /* (Counted delivered or failed when the post ends.) */
        int rc = sns_http_put_txn(t, &hm);
        json_decref(rp);
        free(text);
        free(attrs_text);
        return rc;
    }
    int missing = 0;
    struct sl_target_source src = {
        .principal = "sns.amazonaws.com",
        .source_arn = r->arn,
        .source_account = r->account,
        .attributes = attrs_text,
        .group_id = m->group_id,
        .dedup_id = m->seq[0] ? m->message_id : NULL,
        .missing = &missing,
    };
    int rc = sl_target_deliver_txn(st->app->targets, t, endpoint, text, strlen(text), &src);
    if (!rc && missing) {
        /* The endpoint is gone: the copy goes to the subscription's
         * dead-letter queue, when it has one. */
        m->failed++;
        json_t *rp = redrive_of(attrs);
        const char *dlq = json_string_value(json_object_get(rp, "deadLetterTargetArn"));
        if (dlq) {
            json_t *env = notification(r, m, sub_arn, protocol, timestamp, false, NULL);
            char *body = env ? json_dumps(env, JSON_COMPACT) : NULL;
            json_decref(env);
            struct sl_target_source dsrc = {.principal = "sns.amazonaws.com",
                                            .source_arn = r->arn,
                                            .source_account = r->account,
                                            .group_id = m->group_id,
                                            .dedup_id = m->seq[0] ? m->message_id : NULL};
            rc = body ? sl_target_deliver_txn(st->app->targets, t, dlq, body, strlen(body), &dsrc)
                      : SL_ENOMEM;
            free(body);
        }
        json_decref(rp);
    } else if (!rc) {
        m->delivered++;
    }
    free(text);
    free(attrs_text);
    return rc == SL_EINVAL ? 0 : rc; /* (an endpoint that is no ARN Sluice knows) */
}

int sns_publish_txn(struct sl_txn *t, struct sns *st, const struct sns_ref *r,
                    const struct sns_topic *topic, struct sns_message *m)
{
    sl_uuid(m->message_id);
    m->seq[0] = '\0';
    m->delivered = m->failed = 0;
    if (topic->fifo) {
        bool dup = false;
        int rc = fifo_txn(t, r, topic, m, &dup);
        if (rc || dup)
            return rc;
    }
    char timestamp[40];
    sl_time_iso8601_ms(sl_time_now_ms(), timestamp, sizeof(timestamp));
    struct sl_item *subs = NULL;
    size_t n = 0;
    int rc = sl_txn_list(t, SNS_NS_SUB, r->arn, NULL, SIZE_MAX, &subs, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *sub = json_loadb(subs[i].val, subs[i].val_len, 0, NULL);
        if (sub)
            rc = deliver_one(t, st, r, topic, m, subs[i].sk, sub, timestamp);
        json_decref(sub);
    }
    for (size_t i = 0; i < n; i++)
        sl_item_free(&subs[i]);
    free(subs);
    if (!rc) {
        struct sns_count *k = sns_count_of(st, r->arn);
        if (k) {
            atomic_fetch_add(&k->published, 1);
            atomic_fetch_add(&k->delivered, m->delivered);
            atomic_fetch_add(&k->failed, m->failed);
        }
    }
    return rc;
}

/* ---- Publish ---------------------------------------------------------------------------- */

struct publish {
    struct sns *st;
    struct sns_ref r;
    struct sns_topic topic;
    struct sns_message *m;
    size_t n;
    /* PublishBatch: the entries' ids, and which of them failed (their
     * error in the answer already). */
    const char **ids;
};

static void publish_free(struct sl_call *c)
{
    struct publish *p = c->state;
    if (p)
        sns_topic_clear(&p->topic);
}

static int publish_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct publish *p = arg;
    /* (The topic as the transaction sees it: not one deleted meanwhile.) */
    struct sns_topic now;
    int rc = sns_topic_read_txn(t, &p->r, &now);
    sns_topic_clear(&now);
    for (size_t i = 0; !rc && i < p->n; i++)
        rc = sns_publish_txn(t, p->st, &p->r, &p->topic, &p->m[i]);
    return rc;
}

static int published(struct sl_call *c)
{
    struct publish *p = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Topic does not exist");
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    json_t *out = json_pack("{s:s}", "MessageId", p->m[0].message_id);
    if (p->m[0].seq[0])
        json_object_set_new(out, "SequenceNumber", json_string(p->m[0].seq));
    return sl_call_ok(c, out);
}

/* The message of in (a Publish's input, or a batch entry). */
static void message_of(const json_t *in, struct sns_message *m)
{
    memset(m, 0, sizeof(*m));
    m->message = json_string_value(json_object_get(in, "Message"));
    m->subject = json_string_value(json_object_get(in, "Subject"));
    const char *structure = json_string_value(json_object_get(in, "MessageStructure"));
    m->structure_json = structure && strcmp(structure, "json") == 0;
    m->attributes = json_object_get(in, "MessageAttributes");
    m->group_id = json_string_value(json_object_get(in, "MessageGroupId"));
    m->dedup_id = json_string_value(json_object_get(in, "MessageDeduplicationId"));
}

static struct publish *publish_begin(struct sl_call *c, const char *member, int *rc)
{
    struct publish *p = sl_call_alloc(c, sizeof(*p));
    if (!p) {
        *rc = SL_ENOMEM;
        return NULL;
    }
    if ((*rc = sns_call_topic(c, member, &p->r, &p->topic)) != 0)
        return NULL;
    p->st = c->svc;
    c->state = p;
    c->state_free = publish_free;
    return p;
}

SL_OP(sns, Publish)
{
    if (json_object_get(c->in, "PhoneNumber"))
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: PhoneNumber Reason: Sluice "
                                              "does not send SMS");
    bool target = !json_object_get(c->in, "TopicArn");
    int rc;
    struct publish *p = publish_begin(c, target ? "TargetArn" : "TopicArn", &rc);
    if (!p)
        return rc;
    p->m = sl_call_alloc(c, sizeof(*p->m));
    if (!p->m)
        return SL_ENOMEM;
    p->n = 1;
    message_of(c->in, p->m);
    char msg[512];
    int code = SNS_E_INVALID;
    if (sns_message_check(&p->topic, p->m, msg, sizeof(msg), &code))
        return sl_call_fail(c, code, "%s", msg);
    return sl_call_write(c, publish_txn, p, published);
}

static bool batch_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (!n || n > 80)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

struct batch {
    struct publish p;
    json_t *failed;
};

static int batch_published(struct sl_call *c)
{
    struct publish *p = c->write_arg;
    struct batch *b = (struct batch *)p;
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Topic does not exist");
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    json_t *ok = json_array();
    for (size_t i = 0; i < p->n; i++) {
        json_t *e = json_pack("{s:s, s:s}", "Id", p->ids[i], "MessageId", p->m[i].message_id);
        if (p->m[i].seq[0])
            json_object_set_new(e, "SequenceNumber", json_string(p->m[i].seq));
        json_array_append_new(ok, e);
    }
    return sl_call_ok(c, json_pack("{s:o, s:O}", "Successful", ok, "Failed", b->failed));
}

static void batch_free(struct sl_call *c)
{
    struct batch *b = c->state;
    if (!b)
        return;
    sns_topic_clear(&b->p.topic);
    json_decref(b->failed);
}

SL_OP(sns, PublishBatch)
{
    struct batch *b = sl_call_alloc(c, sizeof(*b));
    if (!b)
        return SL_ENOMEM;
    struct publish *p = &b->p;
    int rc = sns_call_topic(c, "TopicArn", &p->r, &p->topic);
    if (rc)
        return rc;
    p->st = c->svc;
    b->failed = json_array();
    c->state = b;
    c->state_free = batch_free;
    json_t *entries = json_object_get(c->in, "PublishBatchRequestEntries");
    size_t n = json_array_size(entries);
    if (!n)
        return sl_call_fail(c, SNS_E_EMPTY_BATCH, "The batch request doesn't contain any "
                                                  "entries");
    if (n > BATCH_MAX)
        return sl_call_fail(c, SNS_E_TOO_MANY, "The batch request contains more entries than "
                                               "permissible.");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(entries, i);
        const char *id = json_string_value(json_object_get(e, "Id"));
        if (!batch_id_ok(id))
            return sl_call_fail(c, SNS_E_BATCH_ID, "The Id of a batch entry in a batch request "
                                                   "doesn't abide by the specification.");
        for (size_t j = 0; j < i; j++)
            if (strcmp(id, json_string_value(json_object_get(json_array_get(entries, j),
                                                             "Id"))) == 0)
                return sl_call_fail(c, SNS_E_NOT_DISTINCT, "Two or more batch entries in the "
                                                           "request have the same Id.");
        const char *m = json_string_value(json_object_get(e, "Message"));
        total += m ? strlen(m) : 0;
    }
    if (total > SNS_MESSAGE_MAX)
        return sl_call_fail(c, SNS_E_BATCH_TOO_LONG, "The length of all the batch messages put "
                                                     "together is more than the limit.");
    p->m = sl_call_alloc(c, n * sizeof(*p->m));
    p->ids = sl_call_alloc(c, n * sizeof(*p->ids));
    if (!p->m || !p->ids)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(entries, i);
        struct sns_message *m = &p->m[p->n];
        message_of(e, m);
        char msg[512];
        int code = SNS_E_INVALID;
        if (sns_message_check(&p->topic, m, msg, sizeof(msg), &code)) {
            json_array_append_new(b->failed,
                                  json_pack("{s:O, s:s, s:s, s:b}", "Id",
                                            json_object_get(e, "Id"), "Code",
                                            sl_service_sns.errors[code].code, "Message", msg,
                                            "SenderFault", 1));
            continue;
        }
        p->ids[p->n++] = json_string_value(json_object_get(e, "Id"));
    }
    return sl_call_write(c, publish_txn, p, batch_published);
}
