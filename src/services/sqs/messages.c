/*
 * SQS messages: SendMessage(Batch), ReceiveMessage (short and long polls,
 * FIFO groups, redrive to the dead-letter queue, retention), DeleteMessage
 * (Batch) and ChangeMessageVisibility(Batch). Each call is one store
 * transaction that reads the queue's record and acts on its messages, so
 * a queue deleted meanwhile is never written to.
 *
 * A message's meta (JSON) holds what the queue table does not: its id
 * "id", body MD5 "md5", attributes "a" and their MD5 "amd5", sender "s",
 * FIFO group "g", deduplication id "d" and sequence number "n", and "src",
 * the queue a dead-letter queue's message came from.
 */
#include "services/sqs/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_BASE 18000000000000000000ULL
/* Batches take at most this many bytes of bodies and attributes. */
#define BATCH_BYTES_MAX 262144

/* ---- sending ---------------------------------------------------------- */

int sqs_send_txn(struct sl_txn *t, struct sqs_queue *q, struct sqs_send *m)
{
    int64_t now = sl_time_now_ms();
    if (!m->message_id[0])
        sl_uuid(m->message_id);
    sqs_md5_hex(m->body, m->body_len, m->md5_body);
    sqs_attrs_md5(m->attrs, m->md5_attrs);
    json_t *meta = json_pack("{s:s, s:s, s:s}", "id", m->message_id, "md5", m->md5_body, "s",
                             m->sender ? m->sender : "");
    if (!meta)
        return SL_ENOMEM;
    if (json_object_size(m->attrs)) {
        json_object_set(meta, "a", m->attrs);
        json_object_set_new(meta, "amd5", json_string(m->md5_attrs));
    }
    int rc = 0;
    char dk[320] = "";
    if (q->fifo) {
        /* Deduplication: an id given, else the body's SHA-256. */
        char sha[65];
        if (!m->dedup) {
            uint8_t d[SL_SHA256_LEN];
            sl_sha256(m->body, m->body_len, d);
            sl_hex_encode(d, sizeof(d), sha);
        }
        const char *dedup = m->dedup ? m->dedup : sha;
        /* (By group: the group's length first, so that no group and id
         * pair can spell another's.) */
        if (q->dedup_by_group)
            snprintf(dk, sizeof(dk), "%zu:%s/%s", strlen(m->group), m->group, dedup);
        else
            snprintf(dk, sizeof(dk), "%s", dedup);
        json_t *prev = NULL;
        rc = sqs_expiring_get(t, &sqs_dedup_ids, q->id, dk, now, &prev);
        const char *first_id = json_string_value(json_object_get(prev, "m"));
        const char *first_seq = json_string_value(json_object_get(prev, "n"));
        if (first_id && first_seq) {
            m->duplicate = true;
            sl_strlcpy(m->message_id, first_id, sizeof(m->message_id));
            sl_strlcpy(m->seq, first_seq, sizeof(m->seq));
        }
        json_decref(prev);
        if (rc || m->duplicate) {
            json_decref(meta);
            return rc;
        }
        json_int_t seq = json_integer_value(json_object_get(q->rec, "seq")) + 1;
        json_object_set_new(q->rec, "seq", json_integer(seq));
        snprintf(m->seq, sizeof(m->seq), "%llu", SEQ_BASE + (unsigned long long)seq);
        json_object_set_new(meta, "g", json_string(m->group));
        json_object_set_new(meta, "d", json_string(dedup));
        json_object_set_new(meta, "n", json_string(m->seq));
        json_t *rec = json_pack("{s:s, s:s}", "m", m->message_id, "n", m->seq);
        rc = rec ? sqs_expiring_put(t, &sqs_dedup_ids, q->id, dk, rec, now + SQS_DEDUP_MS)
                 : SL_ENOMEM;
        json_decref(rec);
    }
    char *text = rc ? NULL : json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    if (rc)
        return rc;
    if (!text)
        return SL_ENOMEM;
    int64_t delay = m->delay >= 0 ? m->delay : q->delay;
    rc = sl_txn_queue_put(t, q->id, q->fifo ? m->group : NULL, m->body, m->body_len, text,
                          now + delay * 1000, NULL);
    free(text);
    return rc;
}

/* One message of a send: its input, its checks, its result. */
struct entry {
    const char *id; /* batch entry id */
    struct sqs_send m;
    bool has_delay;
    int fail; /* an error id, 0 when it was sent */
    char why[600];
};

struct send {
    struct sqs_ref ref;
    struct entry e[SQS_BATCH_MAX];
    size_t n;
    bool batch;
};

/* The checks a message needs its queue for (inside the transaction). */
static int entry_check(struct sqs_queue *q, struct entry *e)
{
    size_t size = e->m.body_len;
    struct sl_err err = {0};
    if (sqs_attrs_check(e->m.attrs, &size, &err)) {
        snprintf(e->why, sizeof(e->why), "%s", err.msg);
        return SQS_E_INVALID_VALUE;
    }
    if ((int64_t)size > q->max_size) {
        snprintf(e->why, sizeof(e->why),
                 "One or more parameters are invalid. Reason: Message must be shorter than %lld bytes.",
                 (long long)q->max_size);
        return SQS_E_INVALID_VALUE;
    }
    if (q->fifo) {
        if (e->has_delay) {
            snprintf(e->why, sizeof(e->why),
                     "Value %lld for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
                     (long long)e->m.delay);
            return SQS_E_INVALID_VALUE;
        }
        if (!e->m.group) {
            snprintf(e->why, sizeof(e->why), "The request must contain the parameter MessageGroupId.");
            return SQS_E_MISSING;
        }
        if (!e->m.dedup && !q->content_dedup) {
            snprintf(e->why, sizeof(e->why),
                     "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly");
            return SQS_E_INVALID_VALUE;
        }
    } else if (e->m.dedup) {
        snprintf(e->why, sizeof(e->why),
                 "Value %s for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.",
                 e->m.dedup);
        return SQS_E_INVALID_VALUE;
    }
    return 0;
}

static int send_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct send *s = arg;
    struct sqs_queue q;
    int rc = sqs_queue_read_txn(t, &s->ref, &q);
    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < s->n; i++) {
        struct entry *e = &s->e[i];
        if (e->fail)
            continue;
        e->fail = entry_check(&q, e);
        if (!e->fail)
            rc = sqs_send_txn(t, &q, &e->m);
    }
    if (!rc && q.fifo)
        rc = sqs_record_put(t, &s->ref, q.rec); /* its sequence */
    sqs_queue_clear(&q);
    return rc;
}

static json_t *sent_entry(const struct entry *e, bool batch)
{
    json_t *o = json_pack("{s:s, s:s}", "MessageId", e->m.message_id, "MD5OfMessageBody",
                          e->m.md5_body);
    if (batch)
        json_object_set_new(o, "Id", json_string(e->id));
    if (e->m.md5_attrs[0])
        json_object_set_new(o, "MD5OfMessageAttributes", json_string(e->m.md5_attrs));
    if (e->m.seq[0])
        json_object_set_new(o, "SequenceNumber", json_string(e->m.seq));
    return o;
}

static json_t *failed_entry(const struct entry *e)
{
    return json_pack("{s:s, s:b, s:s, s:s}", "Id", e->id, "SenderFault", 1, "Code",
                     sl_sqs_errors[e->fail].code, "Message", e->why);
}

static int sent(struct sl_call *c)
{
    struct send *s = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return sqs_fail_no_queue(c);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (!s->batch) {
        if (s->e[0].fail)
            return sl_call_fail(c, s->e[0].fail, "%s", s->e[0].why);
        return sl_call_ok(c, sent_entry(&s->e[0], false));
    }
    json_t *ok = json_array(), *failed = json_array();
    for (size_t i = 0; i < s->n; i++)
        json_array_append_new(s->e[i].fail ? failed : ok,
                              s->e[i].fail ? failed_entry(&s->e[i]) : sent_entry(&s->e[i], true));
    return sl_call_ok(c, json_pack("{s:o, s:o}", "Successful", ok, "Failed", failed));
}

/* Reads one message's input (of SendMessage, or an entry of a batch) and
 * makes the checks that need no queue. */
static void entry_read(struct sl_call *c, json_t *in, const char *body_key, struct entry *e)
{
    const char *body = json_string_value(json_object_get(in, body_key));
    e->m.body = body ? body : "";
    e->m.body_len = strlen(e->m.body);
    e->m.attrs = json_object_get(in, "MessageAttributes");
    e->m.group = json_string_value(json_object_get(in, "MessageGroupId"));
    e->m.dedup = json_string_value(json_object_get(in, "MessageDeduplicationId"));
    e->m.sender = c->caller_id[0] ? c->caller_id : c->account;
    json_t *delay = json_object_get(in, "DelaySeconds");
    e->has_delay = json_is_integer(delay);
    e->m.delay = e->has_delay ? json_integer_value(delay) : -1;
    if (!body || !*body) {
        e->fail = SQS_E_MISSING;
        snprintf(e->why, sizeof(e->why), "The request must contain the parameter MessageBody.");
    } else if (!sqs_body_valid(e->m.body, e->m.body_len)) {
        e->fail = SQS_E_CONTENTS;
        snprintf(e->why, sizeof(e->why),
                 "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF");
    } else if (e->has_delay && (e->m.delay < 0 || e->m.delay > 900)) {
        e->fail = SQS_E_INVALID_VALUE;
        snprintf(e->why, sizeof(e->why),
                 "Value %lld for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.",
                 (long long)e->m.delay);
    } else if (e->m.group && (!*e->m.group || strlen(e->m.group) > 128)) {
        e->fail = SQS_E_INVALID_VALUE;
        snprintf(e->why, sizeof(e->why),
                 "Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
                 e->m.group);
    } else if (e->m.dedup && (!*e->m.dedup || strlen(e->m.dedup) > 128)) {
        e->fail = SQS_E_INVALID_VALUE;
        snprintf(e->why, sizeof(e->why),
                 "Value %s for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
                 e->m.dedup);
    }
}

SL_OP(sqs, SendMessage)
{
    struct send *s = sl_call_alloc(c, sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    if (sqs_call_ref(c, &s->ref))
        return SL_DONE;
    s->n = 1;
    entry_read(c, c->in, "MessageBody", &s->e[0]);
    if (s->e[0].fail)
        return sl_call_fail(c, s->e[0].fail, "%s", s->e[0].why);
    return sl_call_write(c, send_txn, s, sent);
}

static bool batch_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 80)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
            return false;
    return true;
}

/* The entries of a batch call: 1 to 10, with distinct, well-formed ids.
 * 0, or the call has its answer. */
static int batch_entries(struct sl_call *c, const char *entry_shape, json_t **out)
{
    json_t *entries = json_object_get(c->in, "Entries");
    size_t n = json_array_size(entries);
    if (n == 0)
        return sl_call_fail(c, SQS_E_EMPTY_BATCH, "There should be at least one %s in the request.",
                            entry_shape);
    if (n > SQS_BATCH_MAX)
        return sl_call_fail(c, SQS_E_TOO_MANY,
                            "Maximum number of entries per request are %d. You have sent %zu.",
                            SQS_BATCH_MAX, n);
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(entries, i), "Id"));
        if (!id || !batch_id_ok(id))
            return sl_call_fail(c, SQS_E_BATCH_ID,
                                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.");
        for (size_t k = 0; k < i; k++)
            if (strcmp(id, json_string_value(json_object_get(json_array_get(entries, k), "Id"))) == 0)
                return sl_call_fail(c, SQS_E_NOT_DISTINCT, "Id %s repeated.", id);
    }
    *out = entries;
    return 0;
}

SL_OP(sqs, SendMessageBatch)
{
    struct send *s = sl_call_alloc(c, sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    if (sqs_call_ref(c, &s->ref))
        return SL_DONE;
    json_t *entries;
    if (batch_entries(c, "SendMessageBatchRequestEntry", &entries))
        return SL_DONE;
    s->batch = true;
    s->n = json_array_size(entries);
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++) {
        json_t *in = json_array_get(entries, i);
        s->e[i].id = json_string_value(json_object_get(in, "Id"));
        entry_read(c, in, "MessageBody", &s->e[i]);
        total += s->e[i].m.body_len;
        struct sl_err err;
        (void)sqs_attrs_check(s->e[i].m.attrs, &total, &err);
    }
    if (total > BATCH_BYTES_MAX)
        return sl_call_fail(c, SQS_E_BATCH_TOO_LONG,
                            "Batch requests cannot be longer than %d bytes. You have sent %zu bytes.",
                            BATCH_BYTES_MAX, total);
    return sl_call_write(c, send_txn, s, sent);
}

/* ---- receiving -------------------------------------------------------- */

struct recv {
    struct sqs_ref ref;
    int64_t visibility; /* -1: the queue's */
    int64_t wait;       /* -1: the queue's */
    const char *attempt; /* ReceiveRequestAttemptId, or NULL */
    struct sqs_take k;  /* its max, and what the transaction took */
    /* Out of the transaction. */
    char id[64];
    bool fifo;
    int64_t queue_wait; /* the queue's ReceiveMessageWaitTimeSeconds */
    /* The wait. */
    int64_t deadline; /* monotonic ms; 0 before the first receive */
    uint64_t seen;
};

/* Moves message m of q to its dead-letter queue dlq_id. */
static int redrive(struct sl_txn *t, struct sqs_queue *q, const char *dlq_id, struct sl_qmsg *m,
                   int64_t now)
{
    json_t *meta = json_loadb(m->meta, m->meta_len, 0, NULL);
    if (!meta)
        meta = json_object();
    json_object_set_new(meta, "src", json_string(q->arn));
    char *text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    if (!text)
        return SL_ENOMEM;
    int rc = sl_txn_queue_move(t, q->id, m->id, dlq_id, text, now);
    free(text);
    return rc;
}

/*
 * What a receive does with a message it found: 0 when it leased it (it
 * goes out), 1 when it expired or moved to the dead-letter queue (it
 * does not).
 */
static int take(struct sl_txn *t, struct sqs_queue *q, const char *dlq_id, struct sl_qmsg *m,
                int64_t now, int64_t lease_ms)
{
    int rc;
    if (m->enqueued_ms < now - q->retention * 1000) {
        rc = sl_txn_queue_remove(t, q->id, m->id);
        return rc ? rc : 1;
    }
    if (dlq_id && (int64_t)m->receives >= q->max_receives) {
        rc = redrive(t, q, dlq_id, m, now);
        return rc ? rc : 1;
    }
    return sl_txn_queue_lease(t, q->id, m, now, now + lease_ms);
}

/* Appends leased message m to r's; takes it. */
static int keep(struct sqs_take *r, struct sl_qmsg *m)
{
    struct sl_qmsg *v = realloc(r->msgs, (r->n + 1) * sizeof(*v));
    if (!v)
        return SL_ENOMEM;
    r->msgs = v;
    r->bytes += m->body_len;
    r->msgs[r->n++] = *m;
    memset(m, 0, sizeof(*m));
    return 0;
}

/* Whether m's body still fits in r's byte budget (the first always does). */
static bool room(struct sqs_take *r, const struct sl_qmsg *m)
{
    if (r->max_bytes && r->n && r->bytes + m->body_len > r->max_bytes) {
        r->full = true;
        return false;
    }
    return true;
}

static bool taken(const struct sqs_take *r, int64_t id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->msgs[i].id == id)
            return true;
    return false;
}

static int receive_standard(struct sl_txn *t, struct sqs_take *r, struct sqs_queue *q,
                            const char *dlq_id, int64_t now, int64_t lease_ms)
{
    int rc = 0;
    bool again = true;
    /* Scans again only when messages expired or moved (they left room);
     * those leased for 0 s are still visible, and skipped. */
    while (!rc && r->n < r->max && again && !r->full) {
        struct sl_qmsg *v = NULL;
        size_t n = 0;
        rc = sl_txn_queue_scan(t, q->id, "", now, r->max, &v, &n);
        again = false;
        for (size_t i = 0; !rc && i < n && r->n < r->max; i++) {
            if (taken(r, v[i].id))
                continue;
            if (!room(r, &v[i]))
                break;
            rc = take(t, q, dlq_id, &v[i], now, lease_ms);
            again |= rc == 1;
            rc = rc == 0 ? keep(r, &v[i]) : rc == 1 ? 0 : rc;
        }
        sl_qmsgs_free(v, n);
    }
    if (!rc && r->n < r->max && !r->full) {
        int64_t next;
        if (sl_txn_queue_next_visible_group(t, q->id, "", &next) == 0 && next > now)
            r->next_visible = next;
    }
    return rc;
}

/* FIFO: group by group, each group's messages in order while visible; a
 * group with a message in flight gives none. */
static int receive_fifo(struct sl_txn *t, struct sqs_take *r, struct sqs_queue *q,
                        const char *dlq_id, int64_t now, int64_t lease_ms)
{
    char *group = NULL;
    int rc = 0;
    while (!rc && r->n < r->max && !r->full) {
        char *next = NULL;
        rc = sl_txn_queue_next_group(t, q->id, group, &next);
        free(group);
        group = next;
        if (rc == SL_ENOTFOUND) {
            rc = 0;
            break;
        }
        struct sl_qmsg *v = NULL;
        size_t n = 0;
        if (!rc)
            rc = sl_txn_queue_scan_fifo(t, q->id, group, r->max - r->n + 10, &v, &n);
        for (size_t i = 0; !rc && i < n && r->n < r->max; i++) {
            if (v[i].visible_ms > now) {
                if (!r->next_visible || v[i].visible_ms < r->next_visible)
                    r->next_visible = v[i].visible_ms;
                r->blocked |= v[i].leased;
                break; /* in flight (or delayed): the group waits */
            }
            if (!room(r, &v[i]))
                break;
            rc = take(t, q, dlq_id, &v[i], now, lease_ms);
            rc = rc == 0 ? keep(r, &v[i]) : rc == 1 ? 0 : rc;
        }
        sl_qmsgs_free(v, n);
    }
    free(group);
    return rc;
}

int sqs_take_txn(struct sl_txn *t, struct sqs_queue *q, int64_t lease_ms, struct sqs_take *k)
{
    k->next_visible = 0;
    int64_t now = sl_time_now_ms();
    /* The dead-letter queue, when there is one. */
    struct sqs_ref dref;
    struct sqs_queue dlq = {0};
    const char *dlq_id = NULL;
    if (q->dlq_arn[0] && sqs_ref_from_arn(q->dlq_arn, &dref) == 0 &&
        sqs_queue_read_txn(t, &dref, &dlq) == 0 && dlq.fifo == q->fifo)
        dlq_id = dlq.id; /* (of the same kind: its reads would miss the other's) */
    int rc = q->fifo ? receive_fifo(t, k, q, dlq_id, now, lease_ms)
                     : receive_standard(t, k, q, dlq_id, now, lease_ms);
    sqs_queue_clear(&dlq);
    return rc;
}

/*
 * A FIFO receive retried with the same ReceiveRequestAttemptId within
 * five minutes gets the messages the first one took, with the same
 * receipt handles and a new visibility timeout, as long as they are
 * still in flight under those handles: 1 when it did, 0 when the receive
 * goes on as a new one.
 */
static int retried(struct sl_txn *t, struct recv *r, struct sqs_queue *q, int64_t now,
                   int64_t lease_ms)
{
    json_t *prev = NULL;
    int rc = sqs_expiring_get(t, &sqs_attempts, q->id, r->attempt, now, &prev);
    size_t i;
    json_t *pair;
    json_array_foreach(json_object_get(prev, "m"), i, pair)
    {
        struct sl_qmsg m;
        int64_t id = json_integer_value(json_array_get(pair, 0));
        uint32_t receives = (uint32_t)json_integer_value(json_array_get(pair, 1));
        if (rc || sl_txn_queue_get(t, q->id, id, &m))
            continue;
        bool same = m.receives == receives && m.leased && m.visible_ms > now;
        if (same)
            rc = sl_txn_queue_visibility(t, q->id, id, receives, now, now + lease_ms);
        if (same && !rc) {
            m.visible_ms = now + lease_ms;
            rc = keep(&r->k, &m);
        }
        sl_qmsg_free(&m);
    }
    json_decref(prev);
    return rc ? rc : prev != NULL;
}

/* Remembers what a FIFO receive with an attempt id took. */
static int remember(struct sl_txn *t, struct recv *r, struct sqs_queue *q, int64_t now)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < r->k.n; i++)
        json_array_append_new(list, json_pack("[I, I]", (json_int_t)r->k.msgs[i].id,
                                              (json_int_t)r->k.msgs[i].receives));
    json_t *rec = list ? json_pack("{s:o}", "m", list) : NULL;
    int rc = rec ? sqs_expiring_put(t, &sqs_attempts, q->id, r->attempt, rec, now + SQS_DEDUP_MS)
                 : SL_ENOMEM;
    json_decref(rec);
    return rc;
}

static int receive_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct recv *r = arg;
    struct sqs_queue q;
    int rc = sqs_queue_read_txn(t, &r->ref, &q);
    if (rc)
        return rc;
    sl_strlcpy(r->id, q.id, sizeof(r->id));
    r->fifo = q.fifo;
    r->queue_wait = q.wait;
    int64_t now = sl_time_now_ms();
    int64_t lease_ms = (r->visibility >= 0 ? r->visibility : q.visibility) * 1000;
    bool attempt = r->attempt && q.fifo; /* (standard queues ignore it) */
    int again = attempt ? retried(t, r, &q, now, lease_ms) : 0;
    rc = again < 0 ? again : 0;
    if (!rc && !again)
        rc = sqs_take_txn(t, &q, lease_ms, &r->k);
    if (!rc && !again && attempt && r->k.n)
        rc = remember(t, r, &q, now);
    sqs_queue_clear(&q);
    return rc;
}

/* A received message as ReceiveMessage answers it. */
static json_t *message_out(struct sl_call *c, const struct recv *r, const struct sl_qmsg *m)
{
    json_t *meta = json_loadb(m->meta, m->meta_len, 0, NULL);
    if (!meta)
        return NULL;
    char handle[128];
    sqs_receipt(sqs_of(c), &r->ref, m->id, m->receives, handle, sizeof(handle));
    json_t *o = json_object();
    json_object_set(o, "MessageId", json_object_get(meta, "id"));
    json_object_set_new(o, "ReceiptHandle", json_string(handle));
    json_object_set(o, "MD5OfBody", json_object_get(meta, "md5"));
    json_object_set_new(o, "Body", json_stringn(m->body, m->body_len));
    json_t *names = json_object_get(c->in, "AttributeNames");
    json_t *names2 = json_object_get(c->in, "MessageSystemAttributeNames");
    json_t *sys = json_object();
    static const char *const sys_names[] = {
        "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
        "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "DeadLetterQueueSourceArn",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(sys_names); i++) {
        const char *name = sys_names[i];
        if (!sqs_wants(names, name) && !sqs_wants(names2, name))
            continue;
        if (strcmp(name, "SenderId") == 0)
            json_object_set(sys, name, json_object_get(meta, "s"));
        else if (strcmp(name, "SentTimestamp") == 0)
            sqs_put_num(sys, name, (long long)m->enqueued_ms);
        else if (strcmp(name, "ApproximateReceiveCount") == 0)
            sqs_put_num(sys, name, (long long)m->receives);
        else if (strcmp(name, "ApproximateFirstReceiveTimestamp") == 0)
            sqs_put_num(sys, name, (long long)m->first_ms);
        else if (strcmp(name, "SequenceNumber") == 0 && json_object_get(meta, "n"))
            json_object_set(sys, name, json_object_get(meta, "n"));
        else if (strcmp(name, "MessageDeduplicationId") == 0 && json_object_get(meta, "d"))
            json_object_set(sys, name, json_object_get(meta, "d"));
        else if (strcmp(name, "MessageGroupId") == 0 && json_object_get(meta, "g"))
            json_object_set(sys, name, json_object_get(meta, "g"));
        else if (strcmp(name, "DeadLetterQueueSourceArn") == 0 && json_object_get(meta, "src"))
            json_object_set(sys, name, json_object_get(meta, "src"));
    }
    if (json_object_size(sys))
        json_object_set(o, "Attributes", sys);
    json_decref(sys);
    json_t *attrs = json_object_get(meta, "a");
    json_t *mnames = json_object_get(c->in, "MessageAttributeNames");
    json_t *chosen = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(attrs, k, v)
        if (sqs_wants(mnames, k))
            json_object_set(chosen, k, v);
    if (json_object_size(chosen)) {
        char md5[33];
        sqs_attrs_md5(chosen, md5);
        json_object_set(o, "MessageAttributes", chosen);
        json_object_set_new(o, "MD5OfMessageAttributes", json_string(md5));
    }
    json_decref(chosen);
    json_decref(meta);
    return o;
}

static void recv_free(struct sl_call *c)
{
    struct recv *r = c->state;
    sl_qmsgs_free(r->k.msgs, r->k.n);
    r->k.msgs = NULL;
    r->k.n = 0;
}

static int received(struct sl_call *c);

static int receive_again(struct sl_call *c)
{
    struct recv *r = c->state;
    r->seen = sqs_wait_version(sqs_of(c), r->id);
    return sl_call_write(c, receive_txn, r, received);
}

static int received(struct sl_call *c)
{
    struct recv *r = c->state;
    if (c->write_rc == SL_ENOTFOUND)
        return sqs_fail_no_queue(c);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    int64_t mono = sl_loop_now_ms();
    if (!r->deadline) {
        int64_t wait = r->wait >= 0 ? r->wait : r->queue_wait;
        r->deadline = mono + wait * 1000;
    }
    if (r->k.n == 0 && mono < r->deadline && !sqs_wait_stopping(sqs_of(c))) {
        /* A long poll: wait for a put (or a message back from flight). */
        int64_t wake = 0;
        if (r->k.next_visible)
            wake = mono + (r->k.next_visible - sl_time_now_ms());
        return sqs_wait(sqs_of(c), c, r->id, r->seen, r->deadline, wake, receive_again);
    }
    json_t *list = json_array();
    for (size_t i = 0; i < r->k.n; i++) {
        json_t *m = message_out(c, r, &r->k.msgs[i]);
        if (m)
            json_array_append_new(list, m);
    }
    json_t *out = json_object();
    if (json_array_size(list))
        json_object_set(out, "Messages", list);
    json_decref(list);
    return sl_call_ok(c, out);
}

SL_OP(sqs, ReceiveMessage)
{
    struct recv *r = sl_call_alloc(c, sizeof(*r));
    if (!r)
        return SL_ENOMEM;
    if (sqs_call_ref(c, &r->ref))
        return SL_DONE;
    json_t *max = json_object_get(c->in, "MaxNumberOfMessages");
    json_t *vis = json_object_get(c->in, "VisibilityTimeout");
    json_t *wait = json_object_get(c->in, "WaitTimeSeconds");
    r->k.max = max ? (size_t)json_integer_value(max) : 1;
    if (max && (json_integer_value(max) < 1 || json_integer_value(max) > SQS_BATCH_MAX))
        return sl_call_fail(c, SQS_E_INVALID_VALUE,
                            "Value %lld for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
                            (long long)json_integer_value(max));
    r->visibility = vis ? json_integer_value(vis) : -1;
    if (vis && (r->visibility < 0 || r->visibility > 43200))
        return sl_call_fail(c, SQS_E_INVALID_VALUE,
                            "Value %lld for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.",
                            (long long)r->visibility);
    r->wait = wait ? json_integer_value(wait) : -1;
    if (wait && (r->wait < 0 || r->wait > SQS_WAIT_MAX))
        return sl_call_fail(c, SQS_E_INVALID_VALUE,
                            "Value %lld for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
                            (long long)r->wait);
    r->attempt = json_string_value(json_object_get(c->in, "ReceiveRequestAttemptId"));
    if (r->attempt && (!*r->attempt || strlen(r->attempt) > 128))
        return sl_call_fail(c, SQS_E_INVALID_VALUE,
                            "Value %s for parameter ReceiveRequestAttemptId is invalid. Reason: "
                            "ReceiveRequestAttemptId can only include alphanumeric and "
                            "punctuation characters. 1 to 128 in length.",
                            r->attempt);
    c->state = r;
    c->state_free = recv_free;
    /* No version read yet: an empty first receive reads it and tries
     * again before it waits. */
    r->seen = UINT64_MAX;
    return sl_call_write(c, receive_txn, r, received);
}

/* ---- deleting, visibility --------------------------------------------- */

struct handle_op {
    const char *id; /* batch entry id */
    int64_t msg;
    uint32_t receives;
    int64_t visibility; /* ChangeMessageVisibility: seconds */
    int fail;
    char why[300];
};

struct handles {
    struct sqs_ref ref;
    struct handle_op h[SQS_BATCH_MAX];
    size_t n;
    bool batch, visibility;
};

static int handles_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct handles *hs = arg;
    struct sqs_queue q;
    int rc = sqs_queue_read_txn(t, &hs->ref, &q);
    if (rc)
        return rc;
    int64_t now = sl_time_now_ms();
    for (size_t i = 0; !rc && i < hs->n; i++) {
        struct handle_op *h = &hs->h[i];
        if (h->fail)
            continue;
        if (hs->visibility) {
            rc = sl_txn_queue_visibility(t, q.id, h->msg, h->receives, now,
                                         now + h->visibility * 1000);
            if (rc == SL_ENOTFOUND) {
                rc = 0;
                h->fail = SQS_E_NOT_INFLIGHT;
                snprintf(h->why, sizeof(h->why),
                         "Message does not exist or is not available for visibility timeout change.");
            }
        } else {
            /* A stale handle (the message was received again since, or
             * is gone) deletes nothing, and succeeds, as on AWS. */
            rc = sl_txn_queue_delete(t, q.id, h->msg, h->receives);
            if (rc == SL_ENOTFOUND)
                rc = 0;
        }
    }
    sqs_queue_clear(&q);
    return rc;
}

static int handled(struct sl_call *c)
{
    struct handles *hs = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return sqs_fail_no_queue(c);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (!hs->batch) {
        if (hs->h[0].fail)
            return sl_call_fail(c, hs->h[0].fail, "%s", hs->h[0].why);
        return sl_call_ok(c, NULL);
    }
    json_t *ok = json_array(), *failed = json_array();
    for (size_t i = 0; i < hs->n; i++) {
        const struct handle_op *h = &hs->h[i];
        if (h->fail)
            json_array_append_new(failed, json_pack("{s:s, s:b, s:s, s:s}", "Id", h->id,
                                                    "SenderFault", 1, "Code",
                                                    sl_sqs_errors[h->fail].code, "Message", h->why));
        else
            json_array_append_new(ok, json_pack("{s:s}", "Id", h->id));
    }
    return sl_call_ok(c, json_pack("{s:o, s:o}", "Successful", ok, "Failed", failed));
}

/* Reads one handle (and visibility) of in into h. */
static void handle_read(struct sl_call *c, const struct sqs_ref *ref, json_t *in, bool visibility,
                        struct handle_op *h)
{
    const char *handle = json_string_value(json_object_get(in, "ReceiptHandle"));
    if (!handle || sqs_receipt_parse(sqs_of(c), ref, handle, &h->msg, &h->receives)) {
        h->fail = SQS_E_RECEIPT;
        snprintf(h->why, sizeof(h->why), "The input receipt handle \"%.200s\" is not a valid receipt handle.",
                 handle ? handle : "");
        return;
    }
    if (visibility) {
        h->visibility = json_integer_value(json_object_get(in, "VisibilityTimeout"));
        if (h->visibility < 0 || h->visibility > 43200) {
            h->fail = SQS_E_INVALID_VALUE;
            snprintf(h->why, sizeof(h->why),
                     "Value %lld for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.",
                     (long long)h->visibility);
        }
    }
}

static int handles_call(struct sl_call *c, bool batch, bool visibility, const char *entry_shape)
{
    struct handles *hs = sl_call_alloc(c, sizeof(*hs));
    if (!hs)
        return SL_ENOMEM;
    if (sqs_call_ref(c, &hs->ref))
        return SL_DONE;
    hs->batch = batch;
    hs->visibility = visibility;
    if (!batch) {
        hs->n = 1;
        handle_read(c, &hs->ref, c->in, visibility, &hs->h[0]);
        if (hs->h[0].fail)
            return sl_call_fail(c, hs->h[0].fail, "%s", hs->h[0].why);
    } else {
        json_t *entries;
        if (batch_entries(c, entry_shape, &entries))
            return SL_DONE;
        hs->n = json_array_size(entries);
        for (size_t i = 0; i < hs->n; i++) {
            json_t *in = json_array_get(entries, i);
            hs->h[i].id = json_string_value(json_object_get(in, "Id"));
            handle_read(c, &hs->ref, in, visibility, &hs->h[i]);
        }
    }
    return sl_call_write(c, handles_txn, hs, handled);
}

SL_OP(sqs, DeleteMessage)
{
    return handles_call(c, false, false, NULL);
}

SL_OP(sqs, DeleteMessageBatch)
{
    return handles_call(c, true, false, "DeleteMessageBatchRequestEntry");
}

SL_OP(sqs, ChangeMessageVisibility)
{
    return handles_call(c, false, true, NULL);
}

SL_OP(sqs, ChangeMessageVisibilityBatch)
{
    return handles_call(c, true, true, "ChangeMessageVisibilityBatchRequestEntry");
}
