/*
 * SQS queues: their names, URLs and ARNs, their records and attributes
 * (checked and defaulted as AWS does), and the queue operations:
 * CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, Get/SetQueueAttributes,
 * PurgeQueue, ListDeadLetterSourceQueues and the tag operations.
 */
#include "services/sqs/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names, URLs, ARNs ------------------------------------------------ */

static bool name_valid(const char *name, bool fifo)
{
    size_t n = strlen(name);
    if (fifo) {
        if (n < 6 || !sl_str_ends_with(name, ".fifo"))
            return false;
        n -= 5;
    }
    if (n < 1 || strlen(name) > SQS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
            return false;
    return true;
}

void sqs_ref_set(struct sqs_ref *ref, const char *account, const char *region, const char *name)
{
    sl_strlcpy(ref->account, account, sizeof(ref->account));
    sl_strlcpy(ref->region, region, sizeof(ref->region));
    sl_strlcpy(ref->name, name, sizeof(ref->name));
    snprintf(ref->pk, sizeof(ref->pk), "%s/%s", ref->account, ref->region);
}

/* Whether s[0..n) is an account id (12 digits). */
static bool is_account(const char *s, size_t n)
{
    if (n != 12)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

int sqs_ref_from_url(const char *url, const char *region, struct sqs_ref *ref)
{
    const char *path = strstr(url, "://");
    path = path ? strchr(path + 3, '/') : url;
    if (!path)
        return SL_EINVAL;
    size_t len = strlen(path);
    while (len && path[len - 1] == '/')
        len--;
    const char *slash = len ? memrchr(path, '/', len) : NULL;
    if (!slash || slash == path)
        return SL_EINVAL;
    const char *name = slash + 1;
    size_t nlen = (size_t)(path + len - name);
    const char *prev = memrchr(path, '/', (size_t)(slash - path));
    if (!prev || nlen == 0 || nlen > SQS_NAME_MAX || !is_account(prev + 1, (size_t)(slash - prev - 1)))
        return SL_EINVAL;
    char account[16], qname[SQS_NAME_MAX + 1];
    memcpy(account, prev + 1, 12);
    account[12] = '\0';
    memcpy(qname, name, nlen);
    qname[nlen] = '\0';
    if (!name_valid(qname, sl_str_ends_with(qname, ".fifo")))
        return SL_EINVAL;
    sqs_ref_set(ref, account, region, qname);
    return 0;
}

int sqs_ref_from_arn(const char *arn, struct sqs_ref *ref)
{
    if (!arn || strncmp(arn, "arn:", 4) != 0)
        return SL_EINVAL;
    /* arn:<partition>:sqs:<region>:<account>:<name> */
    const char *p = strchr(arn + 4, ':');
    if (!p || strncmp(p + 1, "sqs:", 4) != 0)
        return SL_EINVAL;
    const char *region = p + 5;
    const char *c1 = strchr(region, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || c1 == region || (size_t)(c1 - region) >= sizeof(ref->region) ||
        !is_account(c1 + 1, (size_t)(c2 - c1 - 1)) || !name_valid(c2 + 1, sl_str_ends_with(c2 + 1, ".fifo")))
        return SL_EINVAL;
    char reg[64], account[16];
    memcpy(reg, region, (size_t)(c1 - region));
    reg[c1 - region] = '\0';
    memcpy(account, c1 + 1, 12);
    account[12] = '\0';
    sqs_ref_set(ref, account, reg, c2 + 1);
    return 0;
}

void sqs_url(const struct sl_call *c, const struct sqs_ref *ref, char *out, size_t n)
{
    const char *host = sl_http_header(c->http, "Host");
    snprintf(out, n, "http://%s/%s/%s", host && *host ? host : "localhost:4566", ref->account,
             ref->name);
}

void sqs_arn(const struct sqs_ref *ref, char *out, size_t n)
{
    snprintf(out, n, "arn:aws:sqs:%s:%s:%s", ref->region, ref->account, ref->name);
}

/* ---- attributes ------------------------------------------------------- */

enum attr_kind { ATTR_INT, ATTR_BOOL, ATTR_TEXT, ATTR_JSON, ATTR_ENUM };
#define ATTR_FIFO 0x1    /* FIFO queues only */
#define ATTR_CREATE 0x2  /* set at creation only */

/* The attributes a queue may be given, with their ranges and defaults. */
static const struct attr_spec {
    const char *name;
    enum attr_kind kind;
    int64_t min, max;
    const char *def; /* NULL: none unless set */
    unsigned flags;
    const char *enums; /* ATTR_ENUM: '|'-separated */
} attr_specs[] = {
    {"DelaySeconds", ATTR_INT, 0, 900, "0", 0, NULL},
    {"MaximumMessageSize", ATTR_INT, 1024, 262144, "262144", 0, NULL},
    {"MessageRetentionPeriod", ATTR_INT, 60, 1209600, "345600", 0, NULL},
    {"ReceiveMessageWaitTimeSeconds", ATTR_INT, 0, 20, "0", 0, NULL},
    {"VisibilityTimeout", ATTR_INT, 0, 43200, "30", 0, NULL},
    {"Policy", ATTR_JSON, 0, 0, NULL, 0, NULL},
    {"RedrivePolicy", ATTR_JSON, 0, 0, NULL, 0, NULL},
    {"RedriveAllowPolicy", ATTR_JSON, 0, 0, NULL, 0, NULL},
    {"FifoQueue", ATTR_BOOL, 0, 0, NULL, ATTR_FIFO | ATTR_CREATE, NULL},
    {"ContentBasedDeduplication", ATTR_BOOL, 0, 0, NULL, ATTR_FIFO, NULL},
    {"DeduplicationScope", ATTR_ENUM, 0, 0, NULL, ATTR_FIFO, "messageGroup|queue"},
    {"FifoThroughputLimit", ATTR_ENUM, 0, 0, NULL, ATTR_FIFO, "perQueue|perMessageGroupId"},
    {"KmsMasterKeyId", ATTR_TEXT, 0, 0, NULL, 0, NULL},
    {"KmsDataKeyReusePeriodSeconds", ATTR_INT, 60, 86400, NULL, 0, NULL},
    {"SqsManagedSseEnabled", ATTR_BOOL, 0, 0, "true", 0, NULL},
};

/* Read-only attributes: computed when asked for. */
static const char *const attr_readonly[] = {
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
};

static const struct attr_spec *attr_find(const char *name)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(attr_specs); i++)
        if (strcmp(attr_specs[i].name, name) == 0)
            return &attr_specs[i];
    return NULL;
}

static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return false;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

static bool enum_has(const char *set, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = set; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* Checks RedrivePolicy's JSON: deadLetterTargetArn, maxReceiveCount
 * 1..1000 (a number or a string of one). */
static int redrive_check(const char *text, char *why, size_t n)
{
    json_t *doc = json_loads(text, 0, NULL);
    int rc = SL_EINVAL;
    if (!json_is_object(doc)) {
        snprintf(why, n, "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.");
        goto out;
    }
    json_t *arn = json_object_get(doc, "deadLetterTargetArn");
    json_t *count = json_object_get(doc, "maxReceiveCount");
    struct sqs_ref ref;
    int64_t v = 0;
    if (!json_is_string(arn) || sqs_ref_from_arn(json_string_value(arn), &ref)) {
        snprintf(why, n, "Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for deadLetterTargetArn.", text);
        goto out;
    }
    if (json_is_integer(count))
        v = json_integer_value(count);
    else if (!json_is_string(count) || !parse_int(json_string_value(count), &v))
        v = 0;
    if (v < 1 || v > 1000) {
        snprintf(why, n, "Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: %s, valid values are from 1 to 1000 both inclusive.", text,
                 json_is_string(count) ? json_string_value(count) : "(missing)");
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

/*
 * Checks attributes given to CreateQueue (creating) or SetQueueAttributes
 * of a queue (fifo: its kind). 0, or the error id with the message in why.
 */
static int attrs_check(json_t *attrs, bool creating, bool fifo, char *why, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach(attrs, k, v)
    {
        const struct attr_spec *a = attr_find(k);
        const char *s = json_string_value(v);
        if (!a || (!creating && (a->flags & ATTR_CREATE))) {
            snprintf(why, n, "Unknown Attribute %s.", k);
            return SQS_E_ATTR_NAME;
        }
        if ((a->flags & ATTR_FIFO) && !fifo && strcmp(k, "FifoQueue") != 0) {
            snprintf(why, n, "Unknown Attribute %s.", k);
            return SQS_E_ATTR_NAME;
        }
        int64_t x;
        bool ok = s != NULL;
        switch (a->kind) {
        case ATTR_INT:
            ok = ok && parse_int(s, &x) && x >= a->min && x <= a->max;
            break;
        case ATTR_BOOL:
            ok = ok && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0);
            break;
        case ATTR_ENUM:
            ok = ok && enum_has(a->enums, s);
            break;
        case ATTR_JSON:
            if (ok && *s && strcmp(k, "RedrivePolicy") == 0)
                return redrive_check(s, why, n) ? SQS_E_ATTR_VALUE : 0;
            ok = ok && (!*s || sl_json_valid(s, strlen(s)));
            break;
        case ATTR_TEXT:
            break;
        }
        if (!ok) {
            snprintf(why, n, "Invalid value for the parameter %s.", k);
            return SQS_E_ATTR_VALUE;
        }
    }
    return 0;
}

/* ---- records ---------------------------------------------------------- */

/* The dead-letter queue a RedrivePolicy of attrs names (if any) must
 * exist and be of the queue's kind (fifo), as AWS requires: 0, or the
 * error id with the message in why. Inside a transaction. */
static int redrive_target(struct sl_txn *t, json_t *attrs, bool fifo, char *why, size_t n)
{
    const char *text = json_string_value(json_object_get(attrs, "RedrivePolicy"));
    json_t *doc = text && *text ? json_loads(text, 0, NULL) : NULL;
    const char *arn = json_string_value(json_object_get(doc, "deadLetterTargetArn"));
    struct sqs_ref ref;
    struct sqs_queue dlq;
    int e = 0;
    if (arn && sqs_ref_from_arn(arn, &ref) == 0) {
        if (sqs_queue_read_txn(t, &ref, &dlq)) {
            snprintf(why, n, "Value %s for parameter RedrivePolicy is invalid. Reason: "
                             "Dead letter target does not exist.", text);
            e = SQS_E_INVALID_VALUE;
        } else {
            if (dlq.fifo != fifo) {
                snprintf(why, n, "Value %s for parameter RedrivePolicy is invalid. Reason: "
                                 "Dead-letter queue must be same type of queue as the source.",
                         text);
                e = SQS_E_INVALID_VALUE;
            }
            sqs_queue_clear(&dlq);
        }
    }
    json_decref(doc);
    return e;
}

void sqs_queue_clear(struct sqs_queue *q)
{
    json_decref(q->rec);
    memset(q, 0, sizeof(*q));
}

static int64_t attr_int(json_t *attrs, const char *name)
{
    const char *s = json_string_value(json_object_get(attrs, name));
    const struct attr_spec *a = attr_find(name);
    int64_t v = 0;
    if (!s || !parse_int(s, &v))
        parse_int(a && a->def ? a->def : "0", &v);
    return v;
}

static bool attr_true(json_t *attrs, const char *name)
{
    const char *s = json_string_value(json_object_get(attrs, name));
    return s && strcmp(s, "true") == 0;
}

int sqs_queue_parse(json_t *rec, struct sqs_queue *q)
{
    memset(q, 0, sizeof(*q));
    q->rec = rec;
    q->attrs = json_object_get(rec, "attrs");
    q->id = json_string_value(json_object_get(rec, "id"));
    const char *account = json_string_value(json_object_get(rec, "account"));
    const char *region = json_string_value(json_object_get(rec, "region"));
    const char *name = json_string_value(json_object_get(rec, "name"));
    if (!json_is_object(q->attrs) || !q->id || !account || !region || !name) {
        sqs_queue_clear(q);
        return SL_ECORRUPT;
    }
    sqs_ref_set(&q->ref, account, region, name);
    sqs_arn(&q->ref, q->arn, sizeof(q->arn));
    q->fifo = attr_true(q->attrs, "FifoQueue");
    q->content_dedup = attr_true(q->attrs, "ContentBasedDeduplication");
    const char *scope = json_string_value(json_object_get(q->attrs, "DeduplicationScope"));
    q->dedup_by_group = scope && strcmp(scope, "messageGroup") == 0;
    q->visibility = attr_int(q->attrs, "VisibilityTimeout");
    q->delay = attr_int(q->attrs, "DelaySeconds");
    q->retention = attr_int(q->attrs, "MessageRetentionPeriod");
    q->max_size = attr_int(q->attrs, "MaximumMessageSize");
    q->wait = attr_int(q->attrs, "ReceiveMessageWaitTimeSeconds");
    const char *redrive = json_string_value(json_object_get(q->attrs, "RedrivePolicy"));
    json_t *doc = redrive && *redrive ? json_loads(redrive, 0, NULL) : NULL;
    if (doc) {
        const char *arn = json_string_value(json_object_get(doc, "deadLetterTargetArn"));
        json_t *count = json_object_get(doc, "maxReceiveCount");
        int64_t v = json_is_integer(count) ? json_integer_value(count) : 0;
        if (json_is_string(count))
            parse_int(json_string_value(count), &v);
        if (arn && v > 0) {
            sl_strlcpy(q->dlq_arn, arn, sizeof(q->dlq_arn));
            q->max_receives = v;
        }
        json_decref(doc);
    }
    return 0;
}

static int queue_from_item(struct sl_item *it, struct sqs_queue *q)
{
    json_t *rec = json_loadb(it->val, it->val_len, 0, NULL);
    sl_item_free(it);
    if (!rec)
        return SL_ECORRUPT;
    return sqs_queue_parse(rec, q);
}

int sqs_queue_read(struct sqs *st, const struct sqs_ref *ref, struct sqs_queue *q)
{
    struct sl_item it;
    int rc = sl_kv_get(st->store, SQS_NS_QUEUE, ref->pk, ref->name, &it);
    return rc ? rc : queue_from_item(&it, q);
}

int sqs_queue_read_txn(struct sl_txn *t, const struct sqs_ref *ref, struct sqs_queue *q)
{
    struct sl_item it;
    int rc = sl_txn_get(t, SQS_NS_QUEUE, ref->pk, ref->name, &it);
    return rc ? rc : queue_from_item(&it, q);
}

int sqs_record_put(struct sl_txn *t, const struct sqs_ref *ref, json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    int rc = sl_txn_put(t, SQS_NS_QUEUE, ref->pk, ref->name, text, strlen(text), NULL);
    free(text);
    return rc;
}

int sqs_fail_no_queue(struct sl_call *c)
{
    return sl_call_fail(c, SQS_E_NO_QUEUE, c->protocol == SL_PROTO_QUERY
                                               ? "The specified queue does not exist for this wsdl version."
                                               : "The specified queue does not exist.");
}

int sqs_call_ref(struct sl_call *c, struct sqs_ref *ref)
{
    const char *url = json_string_value(json_object_get(c->in, "QueueUrl"));
    if (!url || sqs_ref_from_url(url, c->region, ref))
        return sqs_fail_no_queue(c);
    return 0;
}

int sqs_call_queue(struct sl_call *c, struct sqs_queue *q)
{
    struct sqs_ref ref;
    if (sqs_call_ref(c, &ref))
        return SL_DONE;
    int rc = sqs_queue_read(sqs_of(c), &ref, q);
    if (rc == SL_ENOTFOUND)
        return sqs_fail_no_queue(c);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    return 0;
}

/* ---- CreateQueue ------------------------------------------------------ */

struct create {
    struct sqs_ref ref;
    json_t *attrs, *tags; /* given */
    json_t *rec;          /* the new record (taken by the txn's caller) */
    char differs[64];     /* QueueAlreadyExists: the attribute that differs */
    int fail;             /* an error id decided inside the txn, or 0 */
    char why[512];
};

/* Whether an existing queue's attributes match those given (AWS's
 * CreateQueue is idempotent only then); names the first that differs. */
static bool same_attrs(json_t *have, json_t *given, char *differs, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach(given, k, v)
    {
        json_t *h = json_object_get(have, k);
        const struct attr_spec *a = attr_find(k);
        const char *hs = h ? json_string_value(h) : (a ? a->def : NULL);
        if (!hs && strcmp(k, "FifoQueue") == 0)
            hs = "false";
        if (!hs || strcmp(hs, json_string_value(v)) != 0) {
            sl_strlcpy(differs, k, n);
            return false;
        }
    }
    return true;
}

static int create_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct create *cr = arg;
    struct sqs_queue old;
    int rc = sqs_queue_read_txn(t, &cr->ref, &old);
    if (rc == 0) {
        bool same = same_attrs(old.attrs, cr->attrs, cr->differs, sizeof(cr->differs));
        sqs_queue_clear(&old);
        return same ? SL_EEXIST : SL_EINVAL;
    }
    if (rc != SL_ENOTFOUND)
        return rc;
    cr->fail = redrive_target(t, cr->attrs, attr_true(cr->attrs, "FifoQueue"), cr->why,
                              sizeof(cr->why));
    if (cr->fail)
        return SL_ECONDITION;
    struct sl_item del;
    if (sl_txn_get(t, SQS_NS_DELETED, cr->ref.pk, cr->ref.name, &del) == 0) {
        int64_t at = strtoll(del.val, NULL, 10);
        sl_item_free(&del);
        if (sl_time_now_ms() - at < SQS_DELETED_MS)
            return SL_EBUSY;
        rc = sl_txn_delete(t, SQS_NS_DELETED, cr->ref.pk, cr->ref.name);
        if (rc)
            return rc;
    }
    return sqs_record_put(t, &cr->ref, cr->rec);
}

static int created(struct sl_call *c)
{
    struct create *cr = c->write_arg;
    json_decref(cr->rec);
    cr->rec = NULL;
    char url[512];
    sqs_url(c, &cr->ref, url, sizeof(url));
    switch (c->write_rc) {
    case 0:
    case SL_EEXIST:
        return sl_call_ok(c, json_pack("{s:s}", "QueueUrl", url));
    case SL_EINVAL:
        return sl_call_fail(c, SQS_E_EXISTS,
                            "A queue already exists with the same name and a different value for attribute %s",
                            cr->differs);
    case SL_ECONDITION:
        return sl_call_fail(c, cr->fail, "%s", cr->why);
    case SL_EBUSY:
        return sl_call_fail(c, SQS_E_DELETED_RECENTLY,
                            "You must wait 60 seconds after deleting a queue before you can create another with the same name.");
    default:
        return sl_call_internal(c, c->write_rc, &c->write_err);
    }
}

SL_OP(sqs, CreateQueue)
{
    struct create *cr = sl_call_alloc(c, sizeof(*cr));
    if (!cr)
        return SL_ENOMEM;
    const char *name = json_string_value(json_object_get(c->in, "QueueName"));
    json_t *attrs = json_object_get(c->in, "Attributes");
    json_t *tags = json_object_get(c->in, "tags");
    bool fifo = attrs && attr_true(attrs, "FifoQueue");
    const char *fifo_attr = json_string_value(json_object_get(attrs, "FifoQueue"));
    if (fifo_attr && strcmp(fifo_attr, "false") == 0)
        json_object_del(attrs, "FifoQueue"); /* (a standard queue, said outright) */
    if (!name_valid(name, fifo)) {
        if (!fifo && sl_str_ends_with(name, ".fifo") && name_valid(name, true))
            return sl_call_fail(c, SQS_E_INVALID_VALUE,
                                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.");
        return sl_call_fail(c, SQS_E_INVALID_VALUE,
                            fifo ? "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
                                 : "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length");
    }
    char why[512];
    int e = attrs ? attrs_check(attrs, true, fifo, why, sizeof(why)) : 0;
    if (e)
        return sl_call_fail(c, e, "%s", why);
    if (tags && json_object_size(tags) > 50)
        return sl_call_fail(c, SQS_E_INVALID_VALUE, "Too many tags added for queue %s.", name);
    sqs_ref_set(&cr->ref, c->account, c->region, name);
    cr->attrs = attrs ? attrs : json_object();
    if (!attrs)
        json_object_set_new(c->in, "Attributes", cr->attrs); /* (owned by the input) */
    char id[64] = SQS_Q_PREFIX;
    sl_uuid(id + strlen(id));
    int64_t now = sl_time_now_ms() / 1000;
    cr->rec = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:O, s:o, s:I}", "id", id, "account",
                        c->account, "region", c->region, "name", name, "created", (json_int_t)now,
                        "modified", (json_int_t)now, "attrs", cr->attrs, "tags",
                        tags ? json_deep_copy(tags) : json_object(), "seq", (json_int_t)0);
    if (!cr->rec)
        return SL_ENOMEM;
    return sl_call_write(c, create_txn, cr, created);
}

/* ---- GetQueueUrl, ListQueues ------------------------------------------ */

SL_OP(sqs, GetQueueUrl)
{
    const char *name = json_string_value(json_object_get(c->in, "QueueName"));
    const char *owner = json_string_value(json_object_get(c->in, "QueueOwnerAWSAccountId"));
    struct sqs_ref ref;
    sqs_ref_set(&ref, owner ? owner : c->account, c->region, name);
    struct sqs_queue q;
    int rc = sqs_queue_read(sqs_of(c), &ref, &q);
    if (rc == SL_ENOTFOUND)
        return sqs_fail_no_queue(c);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    sqs_queue_clear(&q);
    char url[512];
    sqs_url(c, &ref, url, sizeof(url));
    return sl_call_ok(c, json_pack("{s:s}", "QueueUrl", url));
}

SL_OP(sqs, ListQueues)
{
    const char *prefix = json_string_value(json_object_get(c->in, "QueueNamePrefix"));
    const char *token = json_string_value(json_object_get(c->in, "NextToken"));
    json_t *max_j = json_object_get(c->in, "MaxResults");
    int64_t max = json_is_integer(max_j) ? json_integer_value(max_j) : 1000;
    if (max_j && (max < 1 || max > 1000))
        return sl_call_fail(c, SQS_E_INVALID_VALUE,
                            "Value %lld for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.",
                            (long long)max);
    struct sqs_ref ref;
    sqs_ref_set(&ref, c->account, c->region, "");
    /* The token is the last name of the page before. */
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(sqs_of(c)->store, SQS_NS_QUEUE, ref.pk, prefix, token, (size_t)max + 1,
                        &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *urls = json_array();
    for (size_t i = 0; i < n && i < (size_t)max; i++) {
        char url[512];
        sqs_ref_set(&ref, c->account, c->region, items[i].sk);
        sqs_url(c, &ref, url, sizeof(url));
        json_array_append_new(urls, json_string(url));
    }
    json_t *out = json_object();
    if (json_array_size(urls))
        json_object_set(out, "QueueUrls", urls);
    /* A token only when asked for pages (MaxResults), as AWS does. */
    if (max_j && n > (size_t)max)
        json_object_set_new(out, "NextToken", json_string(items[max - 1].sk));
    json_decref(urls);
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

/* ---- DeleteQueue, PurgeQueue ------------------------------------------ */

struct qwrite {
    struct sqs_ref ref;
    /* An update: changes q's record (0, which is then written) or fails
     * (SL_EINVAL with fail and why set, or another code). */
    int (*mutate)(struct sl_txn *t, struct qwrite *w, struct sqs_queue *q);
    json_t *set;   /* SetQueueAttributes: the attributes given */
    json_t *tags;  /* TagQueue: tags to set; UntagQueue: keys to remove */
    bool untag;
    char why[512];
    int fail; /* an error id decided inside the txn, or 0 */
};

static int delete_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct qwrite *w = arg;
    struct sqs_queue q;
    int rc = sqs_queue_read_txn(t, &w->ref, &q);
    if (rc)
        return rc;
    rc = sl_txn_queue_purge(t, q.id, NULL);
    if (!rc)
        rc = sqs_expiring_drop(t, q.id);
    if (!rc)
        rc = sl_txn_delete(t, SQS_NS_QUEUE, w->ref.pk, w->ref.name);
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)sl_time_now_ms());
    if (!rc)
        rc = sl_txn_put(t, SQS_NS_DELETED, w->ref.pk, w->ref.name, at, strlen(at), NULL);
    sqs_queue_clear(&q);
    return rc;
}

/* The end of a write to one queue: its error, or an empty answer. */
static int qwritten(struct sl_call *c)
{
    struct qwrite *w = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return sqs_fail_no_queue(c);
    if (c->write_rc == SL_EINVAL && w->fail)
        return sl_call_fail(c, w->fail, "%s", w->why);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return sl_call_ok(c, NULL);
}

static int update_txn(struct sl_txn *t, void *arg, struct sl_err *err);

/* A write to the call's queue: fn, or an update by mutate when given. */
static int queue_write(struct sl_call *c, sl_txn_fn fn,
                       int (*mutate)(struct sl_txn *, struct qwrite *, struct sqs_queue *))
{
    struct qwrite *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    if (sqs_call_ref(c, &w->ref))
        return SL_DONE;
    w->mutate = mutate;
    return sl_call_write(c, mutate ? update_txn : fn, w, qwritten);
}

SL_OP(sqs, DeleteQueue)
{
    return queue_write(c, delete_txn, NULL);
}

static int purge(struct sl_txn *t, struct qwrite *w, struct sqs_queue *q)
{
    int64_t now = sl_time_now_ms();
    json_t *last = json_object_get(q->rec, "purged");
    if (json_is_integer(last) && now - json_integer_value(last) < SQS_PURGE_MS) {
        w->fail = SQS_E_PURGE;
        snprintf(w->why, sizeof(w->why),
                 "Only one PurgeQueue operation on %s is allowed every 60 seconds.", w->ref.name);
        return SL_EINVAL;
    }
    json_object_set_new(q->rec, "purged", json_integer(now));
    return sl_txn_queue_purge(t, q->id, NULL);
}

/* Reads the queue, lets w->mutate change its record, writes it. */
static int update_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct qwrite *w = arg;
    struct sqs_queue q;
    int rc = sqs_queue_read_txn(t, &w->ref, &q);
    if (rc)
        return rc;
    rc = w->mutate(t, w, &q);
    if (!rc)
        rc = sqs_record_put(t, &w->ref, q.rec);
    sqs_queue_clear(&q);
    return rc;
}

SL_OP(sqs, PurgeQueue)
{
    return queue_write(c, delete_txn, purge);
}

/* ---- attributes: Get, Set --------------------------------------------- */

SL_OP(sqs, GetQueueAttributes)
{
    json_t *names = json_object_get(c->in, "AttributeNames");
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        const char *s = json_string_value(v);
        bool known = s && (strcmp(s, "All") == 0 || attr_find(s));
        for (size_t k = 0; s && !known && k < SL_ARRAY_LEN(attr_readonly); k++)
            known = strcmp(s, attr_readonly[k]) == 0;
        if (!known)
            return sl_call_fail(c, SQS_E_ATTR_NAME, "Unknown Attribute %s.", s ? s : "");
    }
    struct sqs_queue q;
    if (sqs_call_queue(c, &q))
        return SL_DONE;
    json_t *out = json_object();
    for (size_t k = 0; k < SL_ARRAY_LEN(attr_specs); k++) {
        const struct attr_spec *a = &attr_specs[k];
        const char *val = json_string_value(json_object_get(q.attrs, a->name));
        if (!val && (!(a->flags & ATTR_FIFO) || q.fifo))
            val = a->def;
        if (!val && q.fifo && strcmp(a->name, "ContentBasedDeduplication") == 0)
            val = "false";
        if (!val && q.fifo && strcmp(a->name, "DeduplicationScope") == 0)
            val = "queue";
        if (!val && q.fifo && strcmp(a->name, "FifoThroughputLimit") == 0)
            val = "perQueue";
        if (val && sqs_wants(names, a->name) && !(strcmp(a->name, "FifoQueue") == 0 && !q.fifo))
            json_object_set_new(out, a->name, json_string(val));
    }
    if (sqs_wants(names, "QueueArn"))
        json_object_set_new(out, "QueueArn", json_string(q.arn));
    if (sqs_wants(names, "CreatedTimestamp"))
        sqs_put_num(out, "CreatedTimestamp", (long long)json_integer_value(json_object_get(q.rec, "created")));
    if (sqs_wants(names, "LastModifiedTimestamp"))
        sqs_put_num(out, "LastModifiedTimestamp",
                (long long)json_integer_value(json_object_get(q.rec, "modified")));
    if (sqs_wants(names, "ApproximateNumberOfMessages") ||
        sqs_wants(names, "ApproximateNumberOfMessagesNotVisible") ||
        sqs_wants(names, "ApproximateNumberOfMessagesDelayed")) {
        struct sl_queue_stats s;
        int64_t now = sl_time_now_ms();
        int rc = sl_queue_stats(sqs_of(c)->store, q.id, now, now - q.retention * 1000, &s);
        if (rc) {
            json_decref(out);
            sqs_queue_clear(&q);
            return sl_call_internal(c, rc, NULL);
        }
        if (sqs_wants(names, "ApproximateNumberOfMessages"))
            sqs_put_num(out, "ApproximateNumberOfMessages", (long long)s.visible);
        if (sqs_wants(names, "ApproximateNumberOfMessagesNotVisible"))
            sqs_put_num(out, "ApproximateNumberOfMessagesNotVisible", (long long)s.in_flight);
        if (sqs_wants(names, "ApproximateNumberOfMessagesDelayed"))
            sqs_put_num(out, "ApproximateNumberOfMessagesDelayed", (long long)s.delayed);
    }
    sqs_queue_clear(&q);
    json_t *res = json_object();
    if (json_object_size(out))
        json_object_set(res, "Attributes", out);
    json_decref(out);
    return sl_call_ok(c, res);
}

static int set_attrs(struct sl_txn *t, struct qwrite *w, struct sqs_queue *q)
{
    w->fail = attrs_check(w->set, false, q->fifo, w->why, sizeof(w->why));
    if (!w->fail)
        w->fail = redrive_target(t, w->set, q->fifo, w->why, sizeof(w->why));
    if (w->fail)
        return SL_EINVAL;
    const char *k;
    json_t *v;
    json_object_foreach(w->set, k, v)
    {
        /* An empty policy removes it. */
        const struct attr_spec *a = attr_find(k);
        if (a && a->kind == ATTR_JSON && !*json_string_value(v))
            json_object_del(q->attrs, k);
        else
            json_object_set(q->attrs, k, v);
    }
    json_object_set_new(q->rec, "modified", json_integer(sl_time_now_ms() / 1000));
    return 0;
}

SL_OP(sqs, SetQueueAttributes)
{
    struct qwrite *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    if (sqs_call_ref(c, &w->ref))
        return SL_DONE;
    w->set = json_object_get(c->in, "Attributes");
    if (!w->set)
        return sl_call_fail(c, SQS_E_MISSING, "The request must contain the parameter Attribute.Name.");
    w->mutate = set_attrs;
    return sl_call_write(c, update_txn, w, qwritten);
}

/* ---- dead-letter sources ---------------------------------------------- */

SL_OP(sqs, ListDeadLetterSourceQueues)
{
    struct sqs_queue q;
    if (sqs_call_queue(c, &q))
        return SL_DONE;
    char arn[256];
    sl_strlcpy(arn, q.arn, sizeof(arn));
    struct sqs_ref ref = q.ref;
    sqs_queue_clear(&q);
    const char *token = json_string_value(json_object_get(c->in, "NextToken"));
    json_t *max_j = json_object_get(c->in, "MaxResults");
    int64_t max = json_is_integer(max_j) ? json_integer_value(max_j) : 1000;
    if (max < 1 || max > 1000)
        return sl_call_fail(c, SQS_E_INVALID_VALUE,
                            "Value %lld for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.",
                            (long long)max);
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(sqs_of(c)->store, SQS_NS_QUEUE, ref.pk, NULL, token, SIZE_MAX, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *urls = json_array();
    const char *next = NULL;
    for (size_t i = 0; i < n; i++) {
        struct sqs_queue src;
        json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        if (!rec || sqs_queue_parse(rec, &src))
            continue;
        if (strcmp(src.dlq_arn, arn) == 0) {
            if (json_array_size(urls) == (size_t)max) {
                next = items[i - 1].sk;
                sqs_queue_clear(&src);
                break;
            }
            char url[512];
            sqs_url(c, &src.ref, url, sizeof(url));
            json_array_append_new(urls, json_string(url));
        }
        sqs_queue_clear(&src);
    }
    json_t *out = json_pack("{s:O}", "queueUrls", urls);
    if (next && max_j)
        json_object_set_new(out, "NextToken", json_string(next));
    json_decref(urls);
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

/* ---- tags ------------------------------------------------------------- */

static int retag(struct sl_txn *t, struct qwrite *w, struct sqs_queue *q)
{
    (void)t;
    json_t *tags = json_object_get(q->rec, "tags");
    if (!json_is_object(tags)) {
        tags = json_object();
        json_object_set_new(q->rec, "tags", tags);
    }
    if (w->untag) {
        size_t i;
        json_t *k;
        json_array_foreach(w->tags, i, k)
            json_object_del(tags, json_string_value(k));
        return 0;
    }
    json_object_update(tags, w->tags);
    if (json_object_size(tags) > 50) {
        w->fail = SQS_E_INVALID_VALUE;
        snprintf(w->why, sizeof(w->why), "Too many tags added for queue %s.", w->ref.name);
        return SL_EINVAL;
    }
    return 0;
}

static int tag_write(struct sl_call *c, const char *member, bool untag)
{
    struct qwrite *w = sl_call_alloc(c, sizeof(*w));
    if (!w)
        return SL_ENOMEM;
    if (sqs_call_ref(c, &w->ref))
        return SL_DONE;
    w->tags = json_object_get(c->in, member);
    w->untag = untag;
    w->mutate = retag;
    return sl_call_write(c, update_txn, w, qwritten);
}

SL_OP(sqs, TagQueue)
{
    return tag_write(c, "Tags", false);
}

SL_OP(sqs, UntagQueue)
{
    return tag_write(c, "TagKeys", true);
}

SL_OP(sqs, ListQueueTags)
{
    struct sqs_queue q;
    if (sqs_call_queue(c, &q))
        return SL_DONE;
    json_t *tags = json_object_get(q.rec, "tags");
    json_t *out = json_object();
    if (json_object_size(tags))
        json_object_set(out, "Tags", tags);
    sqs_queue_clear(&q);
    return sl_call_ok(c, out);
}
