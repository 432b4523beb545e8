/*
 * S3 event notifications' events: a bucket's configuration (kept in its
 * item) matched against an object's write or removal inside that write's
 * transaction, and S3's event handed to the engine's delivery path by ARN
 * (engine/targets.h) in the same transaction, so every acknowledged object
 * operation has its events queued, durably, even across a kill -9. Also
 * the event types and rule matching the configuration's checks share
 * (notify.c).
 */
#include "services/s3/internal.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/targets.h"

/* The event types S3 accepts in a configuration. */
static const char *const event_types[] = {
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:Replication:OperationNotTracked",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
};

bool sl_s3_event_known(const char *e)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(event_types); i++)
        if (strcmp(event_types[i], e) == 0)
            return true;
    return false;
}

/* Whether configured type `pattern` (s3:X:Y or s3:X:*) covers `event`. */
static bool event_covers(const char *pattern, const char *event)
{
    size_t n = strlen(pattern);
    if (n >= 2 && strcmp(pattern + n - 2, ":*") == 0)
        return strncmp(pattern, event, n - 1) == 0;
    return strcmp(pattern, event) == 0;
}

/* Whether two configured types share an event type. */
bool sl_s3_events_share(const char *a, const char *b)
{
    return event_covers(a, b) || event_covers(b, a);
}

const char *sl_s3_rule_str(json_t *rule, const char *name)
{
    const char *v = json_string_value(json_object_get(rule, name));
    return v ? v : "";
}

/* ---- events -------------------------------------------------------------- */

void sl_s3_notify_init(struct s3_req *s, struct s3_notify *n)
{
    memset(n, 0, sizeof(*n));
    n->targets = s->q->app->targets;
    n->request_id = s->q->request_id;
    n->account = s->q->account;
    n->source_ip = s->q->http->remote_ip[0] ? s->q->http->remote_ip : "127.0.0.1";
}

/* A sequencer that grows for every event (so for every key): 16 hex digits
 * of wall-clock microseconds, bumped past the last one given. */
static void next_sequencer(char out[17])
{
    static _Atomic uint64_t last;
    uint64_t now = (uint64_t)sl_time_now_ms() * 1000, prev = atomic_load(&last), want;
    do {
        want = now > prev ? now : prev + 1;
    } while (!atomic_compare_exchange_weak(&last, &prev, want));
    snprintf(out, 17, "%016" PRIX64, want);
}

/* A key as S3 puts it in events: form-URL-encoded (space as '+'), '/' kept. */
static void event_key(struct sl_buf *b, const char *key)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr(".-*_/", c)) {
            sl_buf_append(b, (const char *)p, 1);
        } else if (c == ' ') {
            sl_buf_append(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sl_buf_append(b, e, 3);
        }
    }
}

/* S3's reason for an event ("PutObject"), and whether it is one that
 * EventBridge gets (Object Created and Object Deleted). */
static const char *eventbridge_reason(const char *event, bool *created)
{
    static const struct {
        const char *event, *reason;
        bool created;
    } map[] = {
        {"ObjectCreated:Put", "PutObject", true},
        {"ObjectCreated:Post", "PostObject", true},
        {"ObjectCreated:Copy", "CopyObject", true},
        {"ObjectCreated:CompleteMultipartUpload", "CompleteMultipartUpload", true},
        {"ObjectRemoved:Delete", "DeleteObject", false},
        {"ObjectRemoved:DeleteMarkerCreated", "DeleteObject", false},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(map); i++)
        if (strcmp(map[i].event, event) == 0) {
            *created = map[i].created;
            return map[i].reason;
        }
    return NULL;
}

/* The bucket's EventBridge notification: AWS's "Object Created" or
 * "Object Deleted" event on the account's default bus, in this
 * transaction as every other notification. */
static int to_eventbridge(struct sl_txn *t, const struct s3_notify *n, const char *region,
                          const char *bucket, const char *key, const char *event, uint64_t size,
                          const char *etag, const char *seq)
{
    bool created = false;
    const char *reason = eventbridge_reason(event, &created);
    if (!reason)
        return 0;
    char id[40], when[40], source[128], bus[256];
    sl_uuid(id);
    sl_time_iso8601_s(sl_time_now_ms(), when, sizeof(when));
    snprintf(source, sizeof(source), "arn:aws:s3:::%s", bucket);
    snprintf(bus, sizeof(bus), "arn:aws:events:%s:%s:event-bus/default", region, n->account);
    json_t *object = json_pack("{s:s}", "key", key);
    if (created) {
        json_object_set_new(object, "size", json_integer((json_int_t)size));
        json_object_set_new(object, "etag", json_string(etag ? etag : ""));
    }
    json_object_set_new(object, "sequencer", json_string(seq));
    json_t *detail = json_pack("{s:s, s:{s:s}, s:o, s:s, s:s, s:s, s:s}", "version", "0",
                               "bucket", "name", bucket, "object", object, "request-id",
                               n->request_id, "requester", n->account, "source-ip-address",
                               n->source_ip, "reason", reason);
    if (detail && !created)
        json_object_set_new(detail, "deletion-type",
                            json_string(strcmp(event, "ObjectRemoved:Delete") == 0
                                            ? "Permanently Deleted"
                                            : "Delete Marker Created"));
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:o}", "version", "0",
                           "id", id, "detail-type", created ? "Object Created" : "Object Deleted",
                           "source", "aws.s3", "account", n->account, "time", when, "region",
                           region, "resources", source, "detail", detail);
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    struct sl_target_source src = {.principal = S3_PRINCIPAL, .source_arn = source,
                                   .source_account = n->account};
    int rc = text ? sl_target_deliver_txn(n->targets, t, bus, text, strlen(text), &src)
                  : SL_ENOMEM;
    free(text);
    return rc == SL_ENOTSUP || rc == SL_EINVAL ? 0 : rc;
}

int sl_s3_notify_txn(struct sl_txn *t, const struct s3_notify *n, const struct sl_item *bucket_item,
                     const char *bucket, const char *key, const char *event, uint64_t size,
                     const char *etag)
{
    /* Most buckets have none: skip the parse. */
    if (!bucket_item->val || !strstr(bucket_item->val, "\"notification\""))
        return 0;
    json_t *v = json_loadb(bucket_item->val, bucket_item->val_len, 0, NULL);
    json_t *rules = json_object_get(json_object_get(v, "notification"), "rules");
    const char *region = json_string_value(json_object_get(v, "region"));
    const char *owner = json_string_value(json_object_get(v, "owner"));
    char full_event[64], source[128], when[32], seq[17], host_id[40] = "";
    snprintf(full_event, sizeof(full_event), "s3:%s", event);
    snprintf(source, sizeof(source), "arn:aws:s3:::%s", bucket);
    sl_time_iso8601_ms(sl_time_now_ms(), when, sizeof(when));
    next_sequencer(seq);
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        bool match = false;
        size_t e;
        json_t *ev;
        json_array_foreach(json_object_get(rule, "events"), e, ev)
        {
            match |= event_covers(json_string_value(ev), full_event);
        }
        if (!match || !sl_str_starts_with(key, sl_s3_rule_str(rule, "prefix")) ||
            !sl_str_ends_with(key, sl_s3_rule_str(rule, "suffix")))
            continue;
        const char *arn = sl_s3_rule_str(rule, "arn");
        if (!host_id[0]) /* only once an event is sent: not on every PUT */
            sl_aws_host_id(host_id, sizeof(host_id));
        struct sl_buf k;
        sl_buf_init(&k, 0);
        event_key(&k, key);
        char principal[32];
        snprintf(principal, sizeof(principal), "AWS:%s", n->account);
        json_t *object = json_pack("{s:s}", "key", k.data ? k.data : "");
        sl_buf_free(&k);
        if (etag) {
            json_object_set_new(object, "size", json_integer((json_int_t)size));
            json_object_set_new(object, "eTag", json_string(etag));
        }
        json_object_set_new(object, "sequencer", json_string(seq));
        json_t *record = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s},"
            " s:{s:s, s:s, s:{s:s, s:{s:s}, s:s}, s:o}}",
            "eventVersion", "2.1", "eventSource", "aws:s3", "awsRegion",
            region ? region : "us-east-1", "eventTime", when, "eventName", event, "userIdentity",
            "principalId", principal, "requestParameters", "sourceIPAddress", n->source_ip,
            "responseElements", "x-amz-request-id", n->request_id, "x-amz-id-2", host_id,
            "s3", "s3SchemaVersion", "1.0", "configurationId", sl_s3_rule_str(rule, "id"), "bucket",
            "name", bucket, "ownerIdentity", "principalId", owner ? owner : "", "arn", source,
            "object", object);
        json_t *doc = record ? json_pack("{s:[o]}", "Records", record) : NULL;
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        /* The destination's policy is checked when the event is handled,
         * not here: a transaction must not wait on reads. */
        struct sl_target_source src = {.principal = S3_PRINCIPAL, .source_arn = source, .source_account = owner};
        int rc = text ? sl_target_deliver_txn(n->targets, t, arn, text, strlen(text), &src)
                      : SL_ENOMEM;
        free(text);
        if (rc == SL_ENOTSUP) {
            sl_warn("s3", "event %s of s3://%s/%s not sent to %s: Sluice has no such service "
                          "yet",
                    event, bucket, key, arn);
        } else if (rc) {
            json_decref(v);
            return rc; /* the object's write fails with it: never one without the other */
        }
    }
    int rc = 0;
    if (json_is_true(json_object_get(json_object_get(v, "notification"), "eventbridge")))
        rc = to_eventbridge(t, n, region ? region : "us-east-1", bucket, key, event, size, etag,
                            seq);
    json_decref(v);
    return rc;
}
