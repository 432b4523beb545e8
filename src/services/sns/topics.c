/*
 * SNS topics: CreateTopic (standard and FIFO; again with the same
 * attributes answers the same topic), DeleteTopic (and its
 * subscriptions), ListTopics, Get/SetTopicAttributes, and tags.
 */
#include "services/sns/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE 100

/* The attributes a topic may be given, and which of them only at
 * creation. */
static const struct {
    const char *name;
    bool create_only;
} settable[] = {
    {"DeliveryPolicy", false},        {"DisplayName", false},
    {"Policy", false},                {"SignatureVersion", false},
    {"TracingConfig", false},         {"KmsMasterKeyId", false},
    {"ContentBasedDeduplication", false}, {"ArchivePolicy", false},
    {"FifoThroughputScope", false},   {"DataProtectionPolicy", false},
    {"FifoTopic", true},
};

static bool attr_known(const char *name, bool creating)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(settable); i++)
        if (strcmp(settable[i].name, name) == 0)
            return creating || !settable[i].create_only;
    return false;
}

static bool name_ok(const char *name, bool fifo)
{
    size_t n = name ? strlen(name) : 0;
    size_t body = fifo && n > 5 ? n - 5 : n;
    if (!n || n > 256 || (fifo && (n < 6 || strcmp(name + n - 5, ".fifo") != 0)))
        return false;
    for (size_t i = 0; i < body; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
            return false;
    return true;
}

/* ---- writes of a topic --------------------------------------------------------- */

struct twrite {
    struct sns_ref r;
    json_t *rec;  /* the record to write (create, set); NULL: delete */
    bool create;
    bool existed; /* create: one of the name was there (same attributes) */
    bool differs; /* create: ... with other attributes */
};

static void twrite_free(struct sl_call *c)
{
    struct twrite *w = c->state;
    if (w)
        json_decref(w->rec);
}

static int twrite_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct twrite *w = arg;
    struct sns_topic old;
    int rc = sns_topic_read_txn(t, &w->r, &old);
    if (rc && rc != SL_ENOTFOUND)
        return rc;
    if (w->create && !rc) {
        w->existed = true;
        w->differs = !json_equal(old.attrs, json_object_get(w->rec, "Attributes"));
        sns_topic_clear(&old);
        return 0;
    }
    sns_topic_clear(&old);
    if (!w->rec && rc == SL_ENOTFOUND)
        return 0; /* (deleting a topic that is not there: done, as AWS's) */
    if (!w->create && rc)
        return rc;
    if (!w->rec) {
        rc = sl_txn_delete_pk(t, SNS_NS_SUB, w->r.arn, NULL);
        if (!rc)
            rc = sl_txn_delete_pk(t, SNS_NS_DEDUP, w->r.arn, NULL);
        if (!rc)
            rc = sl_txn_delete_pk(t, SNS_NS_DEDUP_AT, w->r.arn, NULL);
        if (!rc)
            rc = sl_txn_delete_pk(t, SNS_NS_SEQ, w->r.arn, NULL);
        if (!rc)
            rc = sl_txn_delete_pk(t, SNS_NS_TOKEN, w->r.arn, NULL);
        return rc ? rc : sl_txn_delete(t, SNS_NS_TOPIC, w->r.pk, w->r.name);
    }
    char *text = json_dumps(w->rec, JSON_COMPACT);
    rc = text ? sl_txn_put(t, SNS_NS_TOPIC, w->r.pk, w->r.name, text, strlen(text), NULL)
              : SL_ENOMEM;
    free(text);
    return rc;
}

static struct twrite *twrite_new(struct sl_call *c)
{
    struct twrite *w = sl_call_alloc(c, sizeof(*w));
    if (w) {
        c->state = w;
        c->state_free = twrite_free;
    }
    return w;
}

static int created(struct sl_call *c)
{
    struct twrite *w = c->write_arg;
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (w->differs)
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Attributes Reason: Topic "
                                              "already exists with different attributes");
    return sl_call_ok(c, json_pack("{s:s}", "TopicArn", w->r.arn));
}

SL_OP(sns, CreateTopic)
{
    const char *name = json_string_value(json_object_get(c->in, "Name"));
    json_t *attrs = json_object_get(c->in, "Attributes");
    const char *fifo = json_string_value(json_object_get(attrs, "FifoTopic"));
    bool is_fifo = fifo && strcmp(fifo, "true") == 0;
    if (!name_ok(name, is_fifo)) {
        size_t n = name ? strlen(name) : 0;
        if (!is_fifo && n > 5 && strcmp(name + n - 5, ".fifo") == 0)
            return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Fifo Topic names must end "
                                                  "with .fifo and they must be created with the "
                                                  "FifoTopic attribute set to true");
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Topic Name");
    }
    const char *k;
    json_t *v;
    json_t *stored = json_object();
    json_object_foreach(attrs, k, v)
    {
        if (!attr_known(k, true)) {
            json_decref(stored);
            return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Attributes Reason: "
                                                  "Unknown attribute %s",
                                k);
        }
        if (strcmp(k, "ContentBasedDeduplication") == 0 && !is_fifo) {
            json_decref(stored);
            return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: Attributes Reason: "
                                                  "ContentBasedDeduplication is only valid for "
                                                  "FIFO topics");
        }
        char msg[512];
        if (strcmp(k, "DeliveryPolicy") == 0 && json_is_string(v) &&
            sns_delivery_policy_check(json_string_value(v), true, msg, sizeof(msg))) {
            json_decref(stored);
            return sl_call_fail(c, SNS_E_INVALID, "%s", msg);
        }
        json_object_set(stored, k, v);
    }
    if (fifo && !is_fifo)
        json_object_del(stored, "FifoTopic"); /* ("false": a standard topic) */
    struct twrite *w = twrite_new(c);
    if (!w) {
        json_decref(stored);
        return SL_ENOMEM;
    }
    sns_ref_make(&w->r, c->account, c->region, name);
    json_t *tags = json_object();
    size_t i;
    json_t *tag;
    json_array_foreach(json_object_get(c->in, "Tags"), i, tag)
    {
        const char *key = json_string_value(json_object_get(tag, "Key"));
        if (key)
            json_object_set(tags, key, json_object_get(tag, "Value"));
    }
    w->rec = json_pack("{s:o, s:o, s:f}", "Attributes", stored, "Tags", tags, "Created",
                       (double)sl_time_now_ms() / 1000.0);
    w->create = true;
    return w->rec ? sl_call_write(c, twrite_txn, w, created) : SL_ENOMEM;
}

static int written(struct sl_call *c)
{
    if (c->write_rc == SL_ENOTFOUND)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Topic does not exist");
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return sl_call_ok(c, json_object());
}

SL_OP(sns, DeleteTopic)
{
    const char *arn = json_string_value(json_object_get(c->in, "TopicArn"));
    struct twrite *w = twrite_new(c);
    if (!w)
        return SL_ENOMEM;
    if (!sns_ref_from_arn(arn, &w->r))
        return sl_call_fail(c, SNS_E_INVALID, "Invalid parameter: TopicArn");
    if (strcmp(w->r.account, c->account) != 0 || strcmp(w->r.region, c->region) != 0)
        return sl_call_fail(c, SNS_E_NOT_FOUND, "Topic does not exist");
    /* (Deleting a topic that is not there succeeds, as AWS's does.) */
    return sl_call_write(c, twrite_txn, w, written);
}

SL_OP(sns, ListTopics)
{
    char pk[96];
    snprintf(pk, sizeof(pk), "%s/%s", c->account, c->region);
    const char *token = json_string_value(json_object_get(c->in, "NextToken"));
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, SNS_NS_TOPIC, pk, NULL, token, LIST_PAGE + 1, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *topics = json_array();
    for (size_t i = 0; i < n && i < LIST_PAGE; i++) {
        struct sns_ref r;
        sns_ref_make(&r, c->account, c->region, items[i].sk);
        json_array_append_new(topics, json_pack("{s:s}", "TopicArn", r.arn));
    }
    json_t *out = json_pack("{s:o}", "Topics", topics);
    if (n > LIST_PAGE)
        json_object_set_new(out, "NextToken", json_string(items[LIST_PAGE - 1].sk));
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

/* The policy AWS gives a topic that has none of its own. */
static char *default_policy(const struct sns_ref *r)
{
    json_t *p = json_pack(
        "{s:s, s:s, s:[{s:s, s:s, s:{s:s}, s:[s,s,s,s,s,s,s,s], s:s, s:{s:{s:s}}}]}", "Version",
        "2008-10-17", "Id", "__default_policy_ID", "Statement", "Sid", "__default_statement_ID",
        "Effect", "Allow", "Principal", "AWS", "*", "Action", "SNS:GetTopicAttributes",
        "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
        "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish",
        "Resource", r->arn, "Condition", "StringEquals", "AWS:SourceOwner", r->account);
    char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    return text;
}

SL_OP(sns, GetTopicAttributes)
{
    struct sns_ref r;
    struct sns_topic t;
    int rc = sns_call_topic(c, "TopicArn", &r, &t);
    if (rc)
        return rc;
    size_t confirmed = 0, pending = 0;
    struct sl_item *subs = NULL;
    size_t n = 0;
    rc = sl_kv_list(c->app->store, SNS_NS_SUB, r.arn, NULL, NULL, SIZE_MAX, &subs, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_loadb(subs[i].val, subs[i].val_len, 0, NULL);
        if (json_is_true(json_object_get(s, "Pending")))
            pending++;
        else
            confirmed++;
        json_decref(s);
        sl_item_free(&subs[i]);
    }
    free(subs);
    if (rc) {
        sns_topic_clear(&t);
        return sl_call_internal(c, rc, NULL);
    }
    json_t *out = json_deep_copy(t.attrs);
    sns_topic_clear(&t);
    char num[24];
    json_object_set_new(out, "TopicArn", json_string(r.arn));
    json_object_set_new(out, "Owner", json_string(r.account));
    if (!json_object_get(out, "DisplayName"))
        json_object_set_new(out, "DisplayName", json_string(""));
    if (!json_object_get(out, "Policy")) {
        char *p = default_policy(&r);
        json_object_set_new(out, "Policy", json_string(p ? p : ""));
        free(p);
    }
    snprintf(num, sizeof(num), "%zu", confirmed);
    json_object_set_new(out, "SubscriptionsConfirmed", json_string(num));
    snprintf(num, sizeof(num), "%zu", pending);
    json_object_set_new(out, "SubscriptionsPending", json_string(num));
    json_object_set_new(out, "SubscriptionsDeleted", json_string("0"));
    if (!json_object_get(out, "EffectiveDeliveryPolicy"))
        json_object_set_new(
            out, "EffectiveDeliveryPolicy",
            json_string("{\"http\":{\"defaultHealthyRetryPolicy\":{\"minDelayTarget\":20,"
                        "\"maxDelayTarget\":20,\"numRetries\":3,\"numMaxDelayRetries\":0,"
                        "\"numNoDelayRetries\":0,\"numMinDelayRetries\":0,\"backoffFunction\":"
                        "\"linear\"},\"disableSubscriptionOverrides\":false,"
                        "\"defaultRequestPolicy\":{\"headerContentType\":\"text/plain; "
                        "charset=UTF-8\"}}}"));
    return sl_call_ok(c, json_pack("{s:o}", "Attributes", out));
}

/* A change of a topic's record, made from the record in the transaction
 * (fn changes it; SL_EINVAL with the message in w->msg). */
struct tchange {
    struct sns_ref r;
    int (*fn)(struct tchange *w, json_t *rec);
    json_t *in;
    char msg[256];
};

static int tchange_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct tchange *w = arg;
    struct sns_topic topic;
    int rc = sns_topic_read_txn(t, &w->r, &topic);
    if (rc)
        return rc;
    rc = w->fn(w, topic.rec);
    char *text = rc ? NULL : json_dumps(topic.rec, JSON_COMPACT);
    if (!rc)
        rc = text ? sl_txn_put(t, SNS_NS_TOPIC, w->r.pk, w->r.name, text, strlen(text), NULL)
                  : SL_ENOMEM;
    free(text);
    sns_topic_clear(&topic);
    return rc;
}

static int tchanged(struct sl_call *c)
{
    struct tchange *w = c->write_arg;
    if (c->write_rc == SL_EINVAL)
        return sl_call_fail(c, SNS_E_INVALID, "%s", w->msg);
    return written(c);
}

static int set_attr(struct tchange *w, json_t *rec)
{
    const char *name = json_string_value(json_object_get(w->in, "AttributeName"));
    json_t *value = json_object_get(w->in, "AttributeValue");
    json_t *attrs = json_object_get(rec, "Attributes");
    const char *fifo = json_string_value(json_object_get(attrs, "FifoTopic"));
    if (!name || !attr_known(name, false)) {
        snprintf(w->msg, sizeof(w->msg), "Invalid parameter: AttributeName");
        return SL_EINVAL;
    }
    if (strcmp(name, "ContentBasedDeduplication") == 0 && !(fifo && strcmp(fifo, "true") == 0)) {
        snprintf(w->msg, sizeof(w->msg), "Invalid parameter: AttributeName Reason: "
                                         "ContentBasedDeduplication is only valid for FIFO "
                                         "topics");
        return SL_EINVAL;
    }
    if (strcmp(name, "DeliveryPolicy") == 0 && json_string_value(value) &&
        *json_string_value(value) &&
        sns_delivery_policy_check(json_string_value(value), true, w->msg, sizeof(w->msg)))
        return SL_EINVAL;
    json_object_set_new(attrs, name, json_is_string(value) ? json_incref(value) : json_string(""));
    return 0;
}

static int tag(struct tchange *w, json_t *rec)
{
    json_t *tags = json_object_get(rec, "Tags");
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(w->in, "Tags"), i, t)
    {
        const char *key = json_string_value(json_object_get(t, "Key"));
        if (key)
            json_object_set(tags, key, json_object_get(t, "Value"));
    }
    json_array_foreach(json_object_get(w->in, "TagKeys"), i, t)
        json_object_del(tags, json_string_value(t));
    if (json_object_size(tags) > 50) {
        snprintf(w->msg, sizeof(w->msg), "Could not complete request: tag quota of per resource "
                                         "exceeded");
        return SL_EINVAL;
    }
    return 0;
}

static int tchange(struct sl_call *c, const char *member, int (*fn)(struct tchange *, json_t *))
{
    struct tchange *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    struct sns_topic t;
    int rc = sns_call_topic(c, member, &w->r, &t);
    if (rc)
        return rc;
    sns_topic_clear(&t);
    w->fn = fn;
    w->in = c->in;
    return sl_call_write(c, tchange_txn, w, tchanged);
}

SL_OP(sns, SetTopicAttributes)
{
    return tchange(c, "TopicArn", set_attr);
}

SL_OP(sns, TagResource)
{
    return tchange(c, "ResourceArn", tag);
}

SL_OP(sns, UntagResource)
{
    return tchange(c, "ResourceArn", tag);
}

SL_OP(sns, ListTagsForResource)
{
    struct sns_ref r;
    struct sns_topic t;
    int rc = sns_call_topic(c, "ResourceArn", &r, &t);
    if (rc)
        return rc;
    json_t *tags = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(t.rec, "Tags"), k, v)
        json_array_append_new(tags, json_pack("{s:s, s:O}", "Key", k, "Value", v));
    sns_topic_clear(&t);
    return sl_call_ok(c, json_pack("{s:o}", "Tags", tags));
}
