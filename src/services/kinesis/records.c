/*
 * Kinesis records: PutRecord and PutRecords (each record to the shard
 * whose hash key range holds the MD5 of its partition key, or its
 * ExplicitHashKey; all of a call's records in one transaction, so they
 * share a commit), GetShardIterator (TRIM_HORIZON, LATEST,
 * AT_/AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP) and GetRecords (in order, up to
 * 10,000 records or 10 MiB, with MillisBehindLatest and the next
 * iterator; iterators expire after five minutes).
 */
#include "services/kinesis/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* One record of a put. */
struct rec {
    const char *key;
    uint8_t *data; /* decoded (malloc'd) */
    size_t len;
    sl_u128 hash;
    /* Out. */
    unsigned shard;
    uint64_t seq;
};

struct put {
    char pk[96];
    const char *name;
    struct rec *recs;
    struct kinesis_write *w; /* the shard and size of each, and its limit's verdict */
    size_t n;
    bool batch;
    struct kinesis *k;
    char account[16];
};

static int put_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct put *p = arg;
    struct kinesis_stream s;
    int rc = kinesis_stream_read_txn(t, p->pk, p->name, &s);
    if (rc)
        return rc;
    int64_t now = sl_time_now_ms();
    for (size_t i = 0; !rc && i < p->n; i++) {
        struct rec *r = &p->recs[i];
        const struct kinesis_shard *k = kinesis_shard_for(&s, r->hash);
        if (!k)
            rc = sl_errf(err, SL_ECORRUPT, "stream %s: no shard holds a hash key", s.name);
        else
            r->shard = p->w[i].shard = k->n;
        p->w[i].bytes = r->len + strlen(r->key);
    }
    if (!rc)
        kinesis_admit_writes(p->k, &s, p->w, p->n);
    /* A shard's records are one run of the log, in the order they came. */
    struct sl_log_entry *run = rc ? NULL : malloc(p->n * sizeof(*run));
    size_t *at = run ? malloc(p->n * sizeof(*at)) : NULL;
    bool *done = at ? calloc(p->n, sizeof(*done)) : NULL;
    if (!rc && !done)
        rc = sl_errf(err, SL_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < p->n; i++) {
        if (done[i] || p->w[i].throttled)
            continue;
        size_t m = 0;
        for (size_t j = i; j < p->n; j++) {
            struct rec *r = &p->recs[j];
            if (done[j] || p->w[j].throttled || r->shard != p->recs[i].shard)
                continue;
            done[j] = true;
            at[m] = j;
            run[m++] = (struct sl_log_entry){r->key, strlen(r->key), r->data, r->len};
        }
        uint64_t first = 0;
        rc = sl_txn_log_append_run(t, s.id, p->recs[i].shard, now, run, m, &first);
        for (size_t k = 0; !rc && k < m; k++)
            p->recs[at[k]].seq = first + k;
    }
    free(run);
    free(at);
    free(done);
    /* Retention: each put removes the expired records at the start of the
     * shards it wrote, at least as many as it added. */
    for (size_t i = 0; !rc && i < s.nshards; i++) {
        size_t added = 0;
        for (size_t j = 0; j < p->n; j++)
            added += p->recs[j].shard == s.shards[i].n && !p->w[j].throttled;
        if (added)
            rc = sl_txn_log_trim(t, s.id, s.shards[i].n, now - s.retention_h * 3600 * 1000,
                                 added + 16, NULL);
    }
    kinesis_stream_clear(&s);
    return rc;
}

static void put_free(struct sl_call *c)
{
    struct put *p = c->state;
    for (size_t i = 0; p && i < p->n; i++)
        free(p->recs[i].data);
}

/* The answer's entry of record i. */
static int put_result(struct sl_buf *b, const struct put *p, size_t i)
{
    const struct rec *r = &p->recs[i];
    if (p->w[i].throttled) {
        char shard[32];
        kinesis_shard_id(r->shard, shard);
        return sl_buf_printf(b,
                             "{\"ErrorCode\":\"ProvisionedThroughputExceededException\","
                             "\"ErrorMessage\":\"Rate exceeded for shard %s in stream %s under "
                             "account %s.\"}",
                             shard, p->name, p->account);
    }
    /* (Written without printf: a PutRecords answer has 500 of them.) */
    static const char a[] = "{\"SequenceNumber\":\"", z[] = "\",\"ShardId\":\"";
    char *q = sl_buf_extend(b, sizeof(a) - 1 + 34 + sizeof(z) - 1 + 20 + 2);
    if (!q)
        return SL_ENOMEM;
    memcpy(q, a, sizeof(a) - 1);
    q = kinesis_seq_put(q + sizeof(a) - 1, r->shard, r->seq);
    memcpy(q, z, sizeof(z) - 1);
    q = kinesis_shard_id_put(q + sizeof(z) - 1, r->shard);
    *q++ = '"';
    *q++ = '}';
    return 0;
}

static int put_done(struct sl_call *c)
{
    struct put *p = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return kinesis_fail_no_stream(c, p->name);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    if (!p->batch && p->w[0].throttled) {
        char shard[32];
        kinesis_shard_id(p->recs[0].shard, shard);
        return sl_call_fail(c, KINESIS_E_THROUGHPUT,
                            "Rate exceeded for shard %s in stream %s under account %s.", shard,
                            p->name, p->account);
    }
    /* (Written as text: no JSON value to build for each record. The
     * stream's name and the account are checked text, nothing to
     * escape.) */
    struct sl_buf b;
    sl_buf_init(&b, 0);
    int rc = 0;
    if (!p->batch) {
        rc = put_result(&b, p, 0);
        if (!rc) {
            b.len--; /* (the entry's closing brace) */
            rc = sl_buf_puts(&b, ",\"EncryptionType\":\"NONE\"}");
        }
    } else {
        int failed = 0;
        for (size_t i = 0; i < p->n; i++)
            failed += p->w[i].throttled;
        rc = sl_buf_printf(&b, "{\"FailedRecordCount\":%d,\"Records\":[", failed);
        for (size_t i = 0; !rc && i < p->n; i++) {
            if (i)
                rc = sl_buf_putc(&b, ',');
            if (!rc)
                rc = put_result(&b, p, i);
        }
        if (!rc)
            rc = sl_buf_puts(&b, "],\"EncryptionType\":\"NONE\"}");
    }
    if (!rc)
        rc = sl_call_ok_text(c, b.data, b.len);
    sl_buf_free(&b);
    return rc;
}

/* Fills r from its partition key, its data as base64 (n characters) and
 * its ExplicitHashKey (may be NULL): 0, or the call has its answer. */
static int rec_fill(struct sl_call *c, struct rec *r, const char *key, const char *b64,
                    size_t n, const char *explicit)
{
    r->key = key;
    r->data = malloc(n / 4 * 3 + 3);
    if (!r->data)
        return SL_ENOMEM;
    if (sl_base64_decode(b64, n, r->data, n / 4 * 3 + 3, &r->len))
        return sl_call_fail(c, KINESIS_E_SERIALIZATION, "Data is not valid base64.");
    if (explicit) {
        if (!kinesis_u128_parse(explicit, &r->hash))
            return sl_call_fail(c, KINESIS_E_INVALID,
                                "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                                "[0, 2^128-1]. Specified value was %s",
                                explicit);
    } else {
        r->hash = kinesis_hash_key(r->key, strlen(r->key));
    }
    return 0;
}

/* Reads one record of in (Data, PartitionKey, ExplicitHashKey): 0, or
 * the call has its answer. */
static int rec_read(struct sl_call *c, json_t *in, struct rec *r)
{
    const char *b64 = json_string_value(json_object_get(in, "Data"));
    return rec_fill(c, r, json_string_value(json_object_get(in, "PartitionKey")),
                    b64 ? b64 : "", b64 ? strlen(b64) : 0,
                    json_string_value(json_object_get(in, "ExplicitHashKey")));
}

/* A put of n records: its state, or NULL (out of memory). */
static struct put *put_new(struct sl_call *c, size_t n, bool batch)
{
    struct put *p = sl_call_alloc(c, sizeof(*p));
    if (!p)
        return NULL;
    p->recs = sl_call_alloc(c, n * sizeof(*p->recs));
    p->w = sl_call_alloc(c, n * sizeof(*p->w));
    if (!p->recs || !p->w)
        return NULL;
    p->k = c->svc;
    sl_strlcpy(p->account, c->account, sizeof(p->account));
    p->name = kinesis_stream_name(c);
    p->batch = batch;
    kinesis_pk(p->pk, sizeof(p->pk), c->account, c->region);
    c->state = p;
    c->state_free = put_free;
    return p;
}

/* Writes the put's records, once each is read. */
static int put_submit(struct sl_call *c, struct put *p)
{
    size_t total = 0;
    for (size_t i = 0; i < p->n; i++)
        total += p->recs[i].len + strlen(p->recs[i].key);
    if (p->batch && total > 5 * 1024 * 1024)
        return sl_call_fail(c, KINESIS_E_INVALID,
                            "Records size exceeds 5 MB limit: the records and their partition "
                            "keys add up to %zu bytes.",
                            total);
    return sl_call_write(c, put_txn, p, put_done);
}

static int put_start(struct sl_call *c, json_t *records, bool batch)
{
    size_t n = batch ? json_array_size(records) : 1;
    if (batch && (n < 1 || n > PUT_MAX))
        return sl_call_fail(c, KINESIS_E_VALIDATION,
                            "1 validation error detected: Value '%zu' at 'records' failed to "
                            "satisfy constraint: Member must have length %s",
                            n, n < 1 ? "greater than or equal to 1" : "less than or equal to 500");
    struct put *p = put_new(c, n, batch);
    if (!p)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        p->n = i + 1;
        int rc = rec_read(c, batch ? json_array_get(records, i) : c->in, &p->recs[i]);
        if (rc)
            return rc;
    }
    return put_submit(c, p);
}

/* ---- PutRecords' fast path ------------------------------------------- */

/*
 * Most PutRecords bodies are {"StreamName": "...", "Records": [{"Data":
 * "...", "PartitionKey": "..."}, ...]}: read as text, they need no JSON
 * document of 500 records. The scan takes only that shape, with strings of
 * printable ASCII without escapes and values the model would accept; all
 * else (and every error) goes the general way.
 */
struct scan {
    char *p, *end;
};

static bool lit(struct scan *s, char ch)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
    if (s->p == s->end || *s->p != ch)
        return false;
    s->p++;
    return true;
}

static bool str(struct scan *s, struct span *out)
{
    if (!lit(s, '"'))
        return false;
    char *q = s->p;
    while (q < s->end && *q != '"') {
        unsigned char ch = (unsigned char)*q;
        if (ch == '\\' || ch < 0x20 || ch >= 0x7f)
            return false;
        q++;
    }
    if (q == s->end)
        return false;
    *out = (struct span){s->p, (size_t)(q - s->p)};
    s->p = q + 1;
    return true;
}

static bool is(const struct span *k, const char *name)
{
    return k->n == strlen(name) && memcmp(k->p, name, k->n) == 0;
}

/* One record's object: Data and PartitionKey, once each, nothing else. */
static bool scan_record(struct scan *s, struct fast_rec *r)
{
    bool data = false, key = false;
    if (!lit(s, '{'))
        return false;
    do {
        struct span f;
        if (!str(s, &f) || !lit(s, ':'))
            return false;
        if (is(&f, "Data") && !data)
            data = str(s, &r->data);
        else if (is(&f, "PartitionKey") && !key)
            key = str(s, &r->key);
        else
            return false;
        if (!(is(&f, "Data") ? data : key))
            return false;
    } while (lit(s, ','));
    return lit(s, '}') && data && key;
}

/* Whether the record's values are ones the model takes: a partition key
 * of 1 to 256 characters, data of 1 MiB at most. */
static bool record_ok(const struct fast_rec *r)
{
    size_t pad = r->data.n && r->data.p[r->data.n - 1] == '=' ? 1 + (r->data.n > 1 &&
                                                                     r->data.p[r->data.n - 2] == '=')
                                                             : 0;
    return r->key.n >= 1 && r->key.n <= 256 && r->data.n % 4 == 0 &&
           r->data.n / 4 * 3 - pad <= 1024 * 1024;
}

static bool name_ok(const struct span *n)
{
    if (n->n < 1 || n->n > 128)
        return false;
    for (size_t i = 0; i < n->n; i++) {
        char ch = n->p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

bool kinesis_scan_put_records(char *body, size_t len, struct span *name,
                              struct fast_rec *v, size_t *nrecs)
{
    struct scan s = {body, body + len};
    size_t n = 0;
    bool have_name = false, have_records = false;
    if (!lit(&s, '{'))
        return false;
    do {
        struct span k;
        if (!str(&s, &k) || !lit(&s, ':'))
            return false;
        if (is(&k, "StreamName") && !have_name) {
            if (!str(&s, name) || !name_ok(name))
                return false;
            have_name = true;
        } else if (is(&k, "Records") && !have_records) {
            have_records = true;
            if (!lit(&s, '['))
                return false;
            do {
                if (n == PUT_MAX || !scan_record(&s, &v[n]) || !record_ok(&v[n]))
                    return false;
                n++;
            } while (lit(&s, ','));
            if (!lit(&s, ']'))
                return false;
        } else {
            return false;
        }
    } while (lit(&s, ','));
    if (!lit(&s, '}') || !have_name || !have_records)
        return false;
    while (s.p < s.end && (*s.p == ' ' || *s.p == '\t' || *s.p == '\n' || *s.p == '\r'))
        s.p++;
    *nrecs = n;
    return s.p == s.end;
}

int kinesis_fast(struct sl_call *c)
{
    if (!c->op || strcmp(c->op->name, "PutRecords") != 0 || !c->body.len)
        return SL_EAGAIN;
    struct fast_rec *v = sl_call_alloc(c, PUT_MAX * sizeof(*v));
    struct span name = {0};
    size_t n = 0;
    if (!v || !kinesis_scan_put_records(c->body.data, c->body.len, &name, v, &n))
        return SL_EAGAIN;
    /* The request is one the general path would take: ours now. Its
     * strings end where their closing quotes were. */
    name.p[name.n] = '\0';
    c->in = json_pack("{s:s}", "StreamName", name.p);
    struct put *p = c->in ? put_new(c, n, true) : NULL;
    if (!p)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].key.p[v[i].key.n] = '\0';
        p->n = i + 1;
        int rc = rec_fill(c, &p->recs[i], v[i].key.p, v[i].data.p, v[i].data.n, NULL);
        if (rc)
            return rc;
    }
    return put_submit(c, p);
}

SL_OP(kinesis, PutRecord)
{
    if (!kinesis_stream_name(c))
        return sl_call_fail(c, KINESIS_E_INVALID,
                            "Either StreamName or StreamARN should be provided.");
    return put_start(c, NULL, false);
}

SL_OP(kinesis, PutRecords)
{
    if (!kinesis_stream_name(c))
        return sl_call_fail(c, KINESIS_E_INVALID,
                            "Either StreamName or StreamARN should be provided.");
    return put_start(c, json_object_get(c->in, "Records"), true);
}

/* ---- reading ---------------------------------------------------------- */

static int64_t since_of(const struct kinesis_stream *s, int64_t now)
{
    return now - s->retention_h * 3600 * 1000;
}

SL_OP(kinesis, GetShardIterator)
{
    struct kinesis_stream s;
    if (kinesis_call_stream(c, &s))
        return SL_DONE;
    const char *shard_id = json_string_value(json_object_get(c->in, "ShardId"));
    const struct kinesis_shard *k = kinesis_shard_by_id(&s, shard_id);
    if (!k) {
        int rc = sl_call_fail(c, KINESIS_E_NOT_FOUND,
                              "Shard %s in stream %s under account %s does not exist",
                              shard_id ? shard_id : "", s.name, c->account);
        kinesis_stream_clear(&s);
        return rc;
    }
    const char *type = json_string_value(json_object_get(c->in, "ShardIteratorType"));
    const char *start = json_string_value(json_object_get(c->in, "StartingSequenceNumber"));
    json_t *ts = json_object_get(c->in, "Timestamp");
    int64_t now = sl_time_now_ms();
    struct kinesis_iterator it = {.shard = k->n, .made_ms = now};
    sl_strlcpy(it.account, s.account, sizeof(it.account));
    sl_strlcpy(it.region, s.region, sizeof(it.region));
    sl_strlcpy(it.name, s.name, sizeof(it.name));
    sl_strlcpy(it.id, s.id, sizeof(it.id));
    uint64_t first = 0, last = 0;
    int rc = sl_log_bounds(c->app->store, s.id, k->n, since_of(&s, now), &first, &last);
    const char *bad = NULL;
    if (rc) {
        kinesis_stream_clear(&s);
        return sl_call_internal(c, rc, NULL);
    }
    if (strcmp(type, "TRIM_HORIZON") == 0) {
        it.seq = first ? first : last + 1;
    } else if (strcmp(type, "LATEST") == 0) {
        it.seq = last + 1;
    } else if (strcmp(type, "AT_SEQUENCE_NUMBER") == 0 ||
               strcmp(type, "AFTER_SEQUENCE_NUMBER") == 0) {
        unsigned shard;
        uint64_t seq;
        if (!start)
            bad = "StartingSequenceNumber is required for AT_SEQUENCE_NUMBER and "
                  "AFTER_SEQUENCE_NUMBER iterators.";
        else if (!kinesis_seq_parse(start, &shard, &seq) || shard != k->n)
            bad = "StartingSequenceNumber is not a sequence number of this shard.";
        else
            it.seq = type[0] == 'A' && type[1] == 'T' ? seq : seq + 1;
    } else if (strcmp(type, "AT_TIMESTAMP") == 0) {
        if (!json_is_number(ts)) {
            bad = "Timestamp is required for AT_TIMESTAMP iterators.";
        } else {
            int64_t at = (int64_t)(json_number_value(ts) * 1000.0);
            uint64_t seq;
            rc = sl_log_seq_at(c->app->store, s.id, k->n, at, &seq);
            it.seq = rc == 0 ? seq : last + 1;
            rc = rc == SL_ENOTFOUND ? 0 : rc;
        }
    }
    kinesis_stream_clear(&s);
    if (bad)
        return sl_call_fail(c, KINESIS_E_INVALID, "%s", bad);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    struct sl_buf b;
    sl_buf_init(&b, 4096);
    kinesis_iterator_text(&it, &b);
    json_t *out = json_pack("{s:s}", "ShardIterator", b.data ? b.data : "");
    sl_buf_free(&b);
    return sl_call_ok(c, out);
}

SL_OP(kinesis, GetRecords)
{
    const char *text = json_string_value(json_object_get(c->in, "ShardIterator"));
    struct kinesis_iterator it;
    if (!kinesis_iterator_parse(text, &it))
        return sl_call_fail(c, KINESIS_E_INVALID, "Invalid ShardIterator.");
    int64_t now = sl_time_now_ms();
    if (now - it.made_ms > KINESIS_ITERATOR_MS)
        return sl_call_fail(c, KINESIS_E_EXPIRED_ITERATOR,
                            "Iterator expired. The iterator was created at time %lld while "
                            "right now it is %lld which is further in the future than the "
                            "tolerated delay of %d milliseconds.",
                            (long long)it.made_ms, (long long)now, KINESIS_ITERATOR_MS);
    if (strcmp(it.account, c->account) != 0 || strcmp(it.region, c->region) != 0)
        return kinesis_fail_no_stream(c, it.name);
    json_object_set_new(c->in, "StreamName", json_string(it.name));
    struct kinesis_stream s;
    if (kinesis_call_stream(c, &s))
        return SL_DONE;
    if (strcmp(s.id, it.id) != 0) {
        /* A stream of that name made since: the iterator's is gone. */
        kinesis_stream_clear(&s);
        return kinesis_fail_no_stream(c, it.name);
    }
    const struct kinesis_shard *k = NULL;
    for (size_t i = 0; i < s.nshards && !k; i++)
        if (s.shards[i].n == it.shard)
            k = &s.shards[i];
    if (!k) {
        kinesis_stream_clear(&s);
        return sl_call_fail(c, KINESIS_E_INVALID, "Invalid ShardIterator.");
    }
    if (!kinesis_admit_read(c->svc, &s, it.shard)) {
        char shard[32];
        kinesis_shard_id(it.shard, shard);
        int rc = sl_call_fail(c, KINESIS_E_THROUGHPUT,
                              "Rate exceeded for shard %s in stream %s under account %s.", shard,
                              s.name, c->account);
        kinesis_stream_clear(&s);
        return rc;
    }
    json_t *limit = json_object_get(c->in, "Limit");
    size_t max = json_is_integer(limit) ? (size_t)json_integer_value(limit) : 10000;
    struct sl_log_record *v = NULL;
    size_t n = 0;
    uint64_t first = 0, last = 0;
    int64_t since = since_of(&s, now);
    int rc = sl_log_read(c->app->store, s.id, it.shard, it.seq, since, max,
                         KINESIS_GET_MAX_BYTES, &v, &n, NULL);
    if (!rc)
        rc = sl_log_bounds(c->app->store, s.id, it.shard, since, &first, &last);
    /* A closed shard read to its end: no next iterator, its children. */
    json_t *children = NULL;
    if (!rc && k->closed && (n ? v[n - 1].seq : it.seq - 1) >= k->last) {
        children = json_array();
        for (size_t i = 0; i < s.nshards; i++) {
            const struct kinesis_shard *ch = &s.shards[i];
            json_t *parents = json_array();
            bool mine = false;
            for (size_t p = 0; p < ch->nparents; p++) {
                char pid[32];
                kinesis_shard_id(ch->parents[p], pid);
                json_array_append_new(parents, json_string(pid));
                mine |= ch->parents[p] == k->n;
            }
            char id[32], a[41], b[41];
            kinesis_shard_id(ch->n, id);
            kinesis_u128_text(ch->start, a);
            kinesis_u128_text(ch->end, b);
            if (mine)
                json_array_append_new(children,
                                      json_pack("{s:s, s:O, s:{s:s, s:s}}", "ShardId", id,
                                                "ParentShards", parents, "HashKeyRange",
                                                "StartingHashKey", a, "EndingHashKey", b));
            json_decref(parents);
        }
    }
    if (!rc) {
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++)
            bytes += v[i].data_len + v[i].key_len;
        kinesis_count_read(c->svc, &s, it.shard, n, bytes);
    }
    kinesis_stream_clear(&s);
    if (rc) {
        sl_log_records_free(v, n);
        return sl_call_internal(c, rc, NULL);
    }
    json_t *records = json_array();
    struct sl_buf b64;
    sl_buf_init(&b64, 16 * 1024 * 1024);
    for (size_t i = 0; i < n; i++) {
        char seq[48];
        kinesis_seq_text(it.shard, v[i].seq, seq);
        sl_buf_reset(&b64);
        sl_base64_encode(&b64, (const uint8_t *)v[i].data, v[i].data_len);
        json_array_append_new(records,
                              json_pack("{s:s, s:f, s:s, s:s, s:s}", "SequenceNumber", seq,
                                        "ApproximateArrivalTimestamp",
                                        (double)v[i].ts_ms / 1000.0, "Data",
                                        b64.data ? b64.data : "", "PartitionKey", v[i].key,
                                        "EncryptionType", "NONE"));
    }
    sl_buf_free(&b64);
    /* The next read goes on after the last record returned. */
    if (n)
        it.seq = v[n - 1].seq + 1;
    else if (first > it.seq)
        it.seq = first; /* (past what expired) */
    it.made_ms = now;
    int64_t behind = n && v[n - 1].seq < last ? now - v[n - 1].ts_ms : 0;
    sl_log_records_free(v, n);
    json_t *out = json_pack("{s:o, s:I}", "Records", records, "MillisBehindLatest",
                            (json_int_t)(behind > 0 ? behind : 0));
    if (children) {
        json_object_set_new(out, "ChildShards", children);
    } else {
        struct sl_buf next;
        sl_buf_init(&next, 4096);
        kinesis_iterator_text(&it, &next);
        json_object_set_new(out, "NextShardIterator", json_string(next.data ? next.data : ""));
        sl_buf_free(&next);
    }
    return sl_call_ok(c, out);
}
