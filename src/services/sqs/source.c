/*
 * A queue as the source of an event source mapping (sqs.h,
 * engine/mapping.h): reads and acknowledgements are store transactions
 * submitted without waiting (the loop never waits on a commit), and the
 * records are rendered as Lambda's SQS event.
 */
#include "services/sqs/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A batch's bodies stop at 6 MB less room for the event around them. */
#define SQS_SOURCE_BATCH_BYTES (5 * 1024 * 1024)

struct sl_sqs_source {
    struct sqs *st;
    struct sqs_ref ref;
    char arn[256];
    struct sl_pattern *const *filters;
    size_t nfilters;
    char id[64]; /* the queue's messages, as last read (the reads' thread) */
    void *watch_arg;
};

/* A read or an acknowledgement under way. */
struct op {
    struct sl_sqs_source *src;
    struct sl_batch *b;
    size_t max;
    struct sl_err *err;
    sl_source_done done;
    void *arg;
    /* Out of a read. */
    char id[64];
    bool fifo;
    int64_t next_visible;
};

/* What a batch's cursor holds. */
struct cursor {
    char id[64];
    bool fifo;
};

/* ---- the SQS event ---------------------------------------------------- */

/* Message m as a record of Lambda's SQS event: lower camel case, system
 * attributes as strings, message attributes with their (empty) list
 * values, as AWS sends them. */
static json_t *event_record(const struct sl_sqs_source *s, const struct sl_qmsg *m)
{
    json_t *meta = json_loadb(m->meta, m->meta_len, 0, NULL);
    if (!meta)
        return NULL;
    char handle[128];
    sqs_receipt(s->st, &s->ref, m->id, m->receives, handle, sizeof(handle));
    json_t *attrs = json_object();
    sqs_put_num(attrs, "ApproximateReceiveCount", (long long)m->receives);
    sqs_put_num(attrs, "SentTimestamp", (long long)m->enqueued_ms);
    json_object_set(attrs, "SenderId", json_object_get(meta, "s"));
    sqs_put_num(attrs, "ApproximateFirstReceiveTimestamp", (long long)m->first_ms);
    if (json_object_get(meta, "n")) {
        json_object_set(attrs, "SequenceNumber", json_object_get(meta, "n"));
        json_object_set(attrs, "MessageGroupId", json_object_get(meta, "g"));
        json_object_set(attrs, "MessageDeduplicationId", json_object_get(meta, "d"));
    }
    if (json_object_get(meta, "src"))
        json_object_set(attrs, "DeadLetterQueueSourceArn", json_object_get(meta, "src"));
    json_t *mattrs = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(meta, "a"), k, v)
    {
        json_t *sv = json_object_get(v, "StringValue"), *bv = json_object_get(v, "BinaryValue");
        json_t *a = json_pack("{s:[], s:[], s:O}", "stringListValues", "binaryListValues",
                              "dataType", json_object_get(v, "DataType"));
        if (a && sv)
            json_object_set(a, "stringValue", sv);
        if (a && bv)
            json_object_set(a, "binaryValue", bv);
        if (a)
            json_object_set_new(mattrs, k, a);
    }
    json_t *amd5 = json_object_get(meta, "amd5");
    json_t *rec = json_pack("{s:O, s:s, s:s%, s:o, s:o, s:O, s:O, s:s, s:s, s:s}", "messageId",
                            json_object_get(meta, "id"), "receiptHandle", handle, "body",
                            m->body, m->body_len, "attributes", attrs, "messageAttributes",
                            mattrs, "md5OfMessageAttributes", amd5 ? amd5 : json_null(),
                            "md5OfBody", json_object_get(meta, "md5"), "eventSource", "aws:sqs",
                            "eventSourceARN", s->arn, "awsRegion", s->ref.region);
    json_decref(meta);
    return rec;
}

/* Whether message m passes the mapping's filters: a record matches a
 * filter with its body parsed when it is JSON (a body that is not stays
 * a string, which a pattern into "body" as an object never matches). */
static bool passes(const struct sl_sqs_source *s, const struct sl_qmsg *m)
{
    if (!s->nfilters)
        return true;
    json_t *rec = event_record(s, m);
    if (!rec)
        return true; /* (it goes to the function: nothing is lost) */
    json_t *body = json_loadb(m->body, m->body_len, JSON_DECODE_ANY, NULL);
    if (body)
        json_object_set_new(rec, "body", body);
    bool ok = false;
    for (size_t i = 0; i < s->nfilters && !ok; i++)
        ok = sl_pattern_match(s->filters[i], rec);
    json_decref(rec);
    return ok;
}

int sl_sqs_source_event(struct sl_sqs_source *s, const struct sl_batch *b, struct sl_buf *out)
{
    const struct sl_qmsg *msgs = b->records;
    int rc = sl_buf_puts(out, "{\"Records\":[");
    for (size_t i = 0; !rc && i < b->n; i++) {
        json_t *rec = event_record(s, &msgs[i]);
        char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
        json_decref(rec);
        if (!text)
            return SL_ENOMEM;
        if (i)
            rc = sl_buf_putc(out, ',');
        if (!rc)
            rc = sl_buf_puts(out, text);
        free(text);
    }
    return rc ? rc : sl_buf_puts(out, "]}");
}

int sl_sqs_source_index(const struct sl_batch *b, const char *message_id)
{
    const struct sl_qmsg *msgs = b->records;
    for (size_t i = 0; i < b->n; i++) {
        json_t *meta = json_loadb(msgs[i].meta, msgs[i].meta_len, 0, NULL);
        const char *id = json_string_value(json_object_get(meta, "id"));
        bool same = id && strcmp(id, message_id) == 0;
        json_decref(meta);
        if (same)
            return (int)i;
    }
    return -1;
}

/* ---- reading ---------------------------------------------------------- */

static int read_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct op *o = arg;
    struct sqs_queue q;
    int rc = sqs_queue_read_txn(t, &o->src->ref, &q);
    if (rc)
        return sl_errf(err, rc, "queue %s: %s", o->src->arn,
                       rc == SL_ENOTFOUND ? "it does not exist" : sl_strerror(rc));
    sl_strlcpy(o->id, q.id, sizeof(o->id));
    o->fifo = q.fifo;
    /* Lambda's payload limit (6 MB) bounds a batch too. */
    struct sqs_take k = {.max = o->max, .max_bytes = SQS_SOURCE_BATCH_BYTES};
    rc = sqs_take_txn(t, &q, q.visibility * 1000, &k);
    sqs_queue_clear(&q);
    if (rc)
        return rc;
    /* Messages no filter matches are deleted, as AWS does. */
    size_t kept = 0;
    for (size_t i = 0; !rc && i < k.n; i++) {
        if (passes(o->src, &k.msgs[i])) {
            if (kept != i) {
                struct sl_qmsg tmp = k.msgs[kept];
                k.msgs[kept] = k.msgs[i];
                k.msgs[i] = tmp;
            }
            kept++;
        } else {
            rc = sl_txn_queue_delete(t, o->id, k.msgs[i].id, k.msgs[i].receives);
        }
    }
    if (rc) {
        sl_qmsgs_free(k.msgs, k.n);
        return rc;
    }
    for (size_t i = kept; i < k.n; i++)
        sl_qmsg_free(&k.msgs[i]);
    o->b->records = k.msgs;
    o->b->n = kept;
    o->b->more = k.n == o->max || k.full;
    o->next_visible = k.next_visible;
    o->b->blocked = k.blocked;
    return 0;
}

/* The read's batch is durable (the writer's thread): hands it on. */
static void read_done(void *arg, int rc)
{
    struct op *o = arg;
    struct cursor *cur = o->b->cursor;
    if (!rc) {
        sl_strlcpy(cur->id, o->id, sizeof(cur->id));
        cur->fifo = o->fifo;
        if (strcmp(o->src->id, o->id) != 0) {
            /* The queue was made again: the watch follows it. */
            sl_strlcpy(o->src->id, o->id, sizeof(o->src->id));
            if (o->src->watch_arg)
                sqs_watch_set_id(o->src->st, o->src->watch_arg, o->id);
        }
        if (!o->b->more && o->next_visible)
            o->b->again_ms = sl_loop_now_ms() + (o->next_visible - sl_time_now_ms());
    }
    sl_source_done done = o->done;
    void *done_arg = o->arg;
    free(o);
    done(done_arg, rc);
}

static int src_read(void *self, size_t max, struct sl_batch *b, struct sl_err *err,
                    sl_source_done done, void *arg)
{
    struct sl_sqs_source *s = self;
    struct op *o = calloc(1, sizeof(*o));
    struct cursor *cur = calloc(1, sizeof(*cur));
    if (!o || !cur) {
        free(o);
        free(cur);
        return sl_errf(err, SL_ENOMEM, "out of memory");
    }
    *o = (struct op){.src = s, .b = b, .max = max, .err = err, .done = done, .arg = arg};
    b->cursor = cur;
    int rc = sl_store_submit(s->st->store, read_txn, o, err, read_done, o);
    if (rc) {
        free(o);
        free(cur);
        b->cursor = NULL;
        return sl_errf(err, rc, "the store is closing");
    }
    return 0;
}

/* ---- acknowledging ---------------------------------------------------- */

static int ack_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct op *o = arg;
    const struct cursor *cur = o->b->cursor;
    const struct sl_qmsg *msgs = o->b->records;
    for (size_t i = 0; i < o->b->n; i++) {
        if (o->b->failed && o->b->failed[i])
            continue;
        /* A message received again since (its visibility timeout ran
         * out during the call) is not this batch's to delete. */
        int rc = sl_txn_queue_delete(t, cur->id, msgs[i].id, msgs[i].receives);
        if (rc && rc != SL_ENOTFOUND)
            return rc;
    }
    return 0;
}

static void ack_done(void *arg, int rc)
{
    struct op *o = arg;
    sl_source_done done = o->done;
    void *done_arg = o->arg;
    free(o);
    done(done_arg, rc);
}

static int src_ack(void *self, struct sl_batch *b, struct sl_err *err, sl_source_done done,
                   void *arg)
{
    struct sl_sqs_source *s = self;
    struct op *o = calloc(1, sizeof(*o));
    if (!o)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    *o = (struct op){.src = s, .b = b, .err = err, .done = done, .arg = arg};
    int rc = sl_store_submit(s->st->store, ack_txn, o, err, ack_done, o);
    if (rc) {
        free(o);
        return sl_errf(err, rc, "the store is closing");
    }
    return 0;
}

/* A failed batch: its messages come back when their visibility timeout
 * ends, as on AWS (each receive counts toward the redrive policy). */
static void src_retry(void *self, struct sl_batch *b)
{
    (void)self;
    (void)b;
}

static void src_release(void *self, struct sl_batch *b)
{
    (void)self;
    sl_qmsgs_free(b->records, b->n);
    free(b->cursor);
    b->records = NULL;
    b->cursor = NULL;
    b->n = 0;
}

static int src_watch(void *self, void (*wake)(void *arg), void *arg)
{
    struct sl_sqs_source *s = self;
    s->watch_arg = arg;
    return sqs_watch_add(s->st, s->id, wake, arg);
}

static void src_unwatch(void *self, void (*wake)(void *arg), void *arg)
{
    struct sl_sqs_source *s = self;
    sqs_watch_remove(s->st, wake, arg);
    s->watch_arg = NULL;
}

const struct sl_source sl_sqs_source_ops = {
    .read = src_read,
    .ack = src_ack,
    .retry = src_retry,
    .release = src_release,
    .watch = src_watch,
    .unwatch = src_unwatch,
};

/* ---- making one ------------------------------------------------------- */

int sl_sqs_queue_kind(struct sl_app *app, const char *queue_arn, bool *fifo)
{
    struct sqs *st = sl_app_state(app, &sl_service_sqs);
    struct sqs_ref ref;
    if (!st)
        return SL_ENOTSUP;
    if (sqs_ref_from_arn(queue_arn, &ref))
        return SL_EINVAL;
    struct sqs_queue q;
    int rc = sqs_queue_read(st, &ref, &q);
    if (rc)
        return rc;
    *fifo = q.fifo;
    sqs_queue_clear(&q);
    return 0;
}

int sl_sqs_source_new(struct sl_app *app, const char *queue_arn, struct sl_pattern *const *filters,
                      size_t nfilters, struct sl_sqs_source **out, struct sl_err *err)
{
    struct sqs *st = sl_app_state(app, &sl_service_sqs);
    if (!st)
        return sl_errf(err, SL_ENOTSUP, "SQS is not running");
    struct sl_sqs_source *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    if (sqs_ref_from_arn(queue_arn, &s->ref)) {
        free(s);
        return sl_errf(err, SL_EINVAL, "%s is not an SQS queue's ARN", queue_arn);
    }
    sl_strlcpy(s->arn, queue_arn, sizeof(s->arn));
    s->st = st;
    s->filters = filters;
    s->nfilters = nfilters;
    struct sqs_queue q;
    int rc = sqs_queue_read(st, &s->ref, &q);
    if (rc) {
        free(s);
        return sl_errf(err, rc, "queue %s: %s", queue_arn,
                       rc == SL_ENOTFOUND ? "it does not exist" : sl_strerror(rc));
    }
    sl_strlcpy(s->id, q.id, sizeof(s->id));
    sqs_queue_clear(&q);
    *out = s;
    return 0;
}

void sl_sqs_source_free(struct sl_sqs_source *s)
{
    free(s);
}
