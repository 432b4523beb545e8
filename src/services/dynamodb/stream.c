/*
 * DynamoDB Streams' side of a table: each stream a table has had (one per
 * enabling) is listed with what DescribeStream answers, and its log
 * (write.c appends to it) is read as DynamoDB Streams' records, by the
 * DynamoDBStreams API (services/dynamodbstreams) and by Lambda's event
 * source mappings (dynamodb.h, engine/stream.h).
 *
 * Storage:
 *   kv  dynamodb.stream  pk "<account>/<region>", sk the stream's ARN: its
 *                        description's members, its log (_log), its
 *                        shard's id (_shard), and once the stream is
 *                        disabled (or its table deleted) _closed_ms and
 *                        _last, its last sequence number
 *
 * A stream has one shard, which never splits: DynamoDB's shards roll over
 * every few hours, which only matters to readers as a change of shard.
 */
#include "services/dynamodb/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stream a table's record has enabled (its log), or NULL. */
static const char *stream_log(json_t *rec)
{
    if (!rec ||
        !json_is_true(json_object_get(json_object_get(rec, "StreamSpecification"),
                                      "StreamEnabled")))
        return NULL;
    return json_string_value(json_object_get(rec, "_stream_log"));
}

static int put_rec(struct sl_txn *t, const char *pk, const char *arn, json_t *s)
{
    char *text = json_dumps(s, JSON_COMPACT);
    int rc = text ? sl_txn_put(t, DDB_NS_STREAM, pk, arn, text, strlen(text), NULL) : SL_ENOMEM;
    free(text);
    return rc;
}

/* A closed stream is dropped once its retention has passed, by Time to
 * Live's sweeper (ttl.c), from an entry among the items'. */
static int drop_later(struct sl_txn *t, const char *pk, const char *arn, int64_t closed_ms)
{
    struct sl_buf sk;
    sl_buf_init(&sk, 0);
    sl_buf_printf(&sk, "%012" PRId64 "\1%s\1%s",
                  (int64_t)((closed_ms + DDB_STREAM_RETENTION_MS) / 1000 + 1), pk, arn);
    static const char val[] = "{\"stream\":true}";
    int rc = sk.data ? sl_txn_put(t, DDB_NS_TTL, DDB_TTL_PK, sk.data, val, sizeof(val) - 1, NULL)
                     : SL_ENOMEM;
    sl_buf_free(&sk);
    if (!rc)
        sl_txn_queue_touch(t, DDB_NS_TTL);
    return rc;
}

int ddb_streams_sync(struct sl_txn *t, const char *pk, json_t *was, json_t *rec)
{
    const char *old = stream_log(was), *now = stream_log(rec);
    if (old && (!now || strcmp(old, now) != 0)) {
        const char *arn = json_string_value(json_object_get(was, "LatestStreamArn"));
        struct sl_item it;
        int rc = arn ? sl_txn_get(t, DDB_NS_STREAM, pk, arn, &it) : SL_ENOTFOUND;
        if (rc == 0) {
            json_t *s = json_loadb(it.val, it.val_len, 0, NULL);
            sl_item_free(&it);
            uint64_t last = 0;
            rc = s ? sl_txn_log_last(t, old, 0, &last) : SL_ECORRUPT;
            int64_t now = sl_time_now_ms();
            if (!rc) {
                json_object_set_new(s, "_closed_ms", json_integer(now));
                json_object_set_new(s, "_last", json_integer((json_int_t)last));
                rc = put_rec(t, pk, arn, s);
            }
            if (!rc)
                rc = drop_later(t, pk, arn, now);
            json_decref(s);
        }
        if (rc && rc != SL_ENOTFOUND)
            return rc;
    }
    if (now && (!old || strcmp(old, now) != 0)) {
        const char *arn = json_string_value(json_object_get(rec, "LatestStreamArn"));
        const char *label = json_string_value(json_object_get(rec, "LatestStreamLabel"));
        if (!arn || !label)
            return SL_ECORRUPT;
        int64_t ms = sl_time_now_ms();
        char shard[64];
        snprintf(shard, sizeof(shard), "shardId-%020" PRId64 "-%.8s", ms,
                 now + strlen(DDB_LOG_PREFIX));
        json_t *s = json_pack(
            "{s:s, s:s, s:O, s:O, s:O, s:f, s:s, s:s}", "StreamArn", arn, "StreamLabel", label,
            "TableName", json_object_get(rec, "TableName"), "KeySchema",
            json_object_get(rec, "KeySchema"), "StreamViewType",
            json_object_get(json_object_get(rec, "StreamSpecification"), "StreamViewType"),
            "CreationRequestDateTime", (double)ms / 1000.0, "_log", now, "_shard", shard);
        if (!s)
            return SL_ENOMEM;
        int rc = put_rec(t, pk, arn, s);
        json_decref(s);
        return rc;
    }
    return 0;
}

/* ---- streams read ------------------------------------------------------ */

bool ddb_stream_arn_parse(const char *arn, char *pk, size_t n)
{
    static const char prefix[] = "arn:aws:dynamodb:";
    if (!arn || strncmp(arn, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *r = arn + sizeof(prefix) - 1;
    const char *a = strchr(r, ':');
    const char *s = a ? strchr(a + 1, ':') : NULL;
    if (!a || !s || a == r || s == a + 1 || strncmp(s + 1, "table/", 6) != 0 ||
        !strstr(s + 7, "/stream/") || (size_t)(s - r) + 1 > n)
        return false;
    snprintf(pk, n, "%.*s/%.*s", (int)(s - a - 1), a + 1, (int)(a - r), r);
    return true;
}

void ddb_stream_clear(struct ddb_stream *s)
{
    json_decref(s->rec);
    memset(s, 0, sizeof(*s));
}

int ddb_stream_read(struct sl_store *st, const char *arn, struct ddb_stream *out)
{
    memset(out, 0, sizeof(*out));
    char pk[96];
    if (!ddb_stream_arn_parse(arn, pk, sizeof(pk)))
        return SL_EINVAL;
    struct sl_item it;
    int rc = sl_kv_get(st, DDB_NS_STREAM, pk, arn, &it);
    if (rc)
        return rc;
    out->rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    out->arn = json_string_value(json_object_get(out->rec, "StreamArn"));
    out->log = json_string_value(json_object_get(out->rec, "_log"));
    out->shard = json_string_value(json_object_get(out->rec, "_shard"));
    json_t *last = json_object_get(out->rec, "_last");
    out->closed = last != NULL;
    out->last = (uint64_t)json_integer_value(last);
    int64_t closed_ms = json_integer_value(json_object_get(out->rec, "_closed_ms"));
    if (!out->arn || !out->log || !out->shard) {
        ddb_stream_clear(out);
        return SL_ECORRUPT;
    }
    /* (A stream disabled more than its retention ago is gone.) */
    if (out->closed && closed_ms < sl_time_now_ms() - DDB_STREAM_RETENTION_MS) {
        ddb_stream_clear(out);
        return SL_ENOTFOUND;
    }
    return 0;
}

void ddb_seq_text(uint64_t seq, char out[DDB_SEQ_TEXT_MAX])
{
    /* 21 digits, so that their text's order is their order. */
    snprintf(out, DDB_SEQ_TEXT_MAX, "1%020" PRIu64, seq);
}

bool ddb_seq_parse(const char *text, uint64_t *seq)
{
    if (!text || strlen(text) != 21 || text[0] != '1')
        return false;
    uint64_t v = 0;
    for (size_t i = 1; i < 21; i++) {
        if (text[i] < '0' || text[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    *seq = v;
    return true;
}

void ddb_iterator_text(const char *arn, uint64_t seq, int64_t made_ms, struct sl_buf *out)
{
    struct sl_buf raw;
    sl_buf_init(&raw, 0);
    sl_buf_printf(&raw, "d1|%" PRId64 "|%" PRIu64 "|%s", made_ms, seq, arn);
    if (raw.data)
        sl_base64_encode(out, (const uint8_t *)raw.data, raw.len);
    sl_buf_free(&raw);
}

bool ddb_iterator_parse(const char *b64, char arn[DDB_ARN_MAX], uint64_t *seq, int64_t *made_ms)
{
    uint8_t raw[DDB_ARN_MAX + 64];
    size_t n = 0;
    if (!b64 || sl_base64_decode(b64, strlen(b64), raw, sizeof(raw) - 1, &n))
        return false;
    raw[n] = '\0';
    long long made;
    unsigned long long s;
    int used = 0;
    if (sscanf((const char *)raw, "d1|%lld|%llu|%n", &made, &s, &used) != 2 || !used ||
        strlen((const char *)raw + used) >= DDB_ARN_MAX || strlen((const char *)raw) != n)
        return false;
    strcpy(arn, (const char *)raw + used);
    *seq = s;
    *made_ms = made;
    return true;
}

json_t *ddb_stream_record(const char *log, const char *region, const struct sl_log_record *r)
{
    json_t *rec = json_loadb(r->data, r->data_len, 0, NULL);
    json_t *d = json_object_get(rec, "dynamodb");
    if (!json_is_object(d)) {
        json_decref(rec);
        return NULL;
    }
    char seq[DDB_SEQ_TEXT_MAX], id[40];
    ddb_seq_text(r->seq, seq);
    json_object_set_new(d, "SequenceNumber", json_string(seq));
    snprintf(id, sizeof(id), "%08" PRIx32 "%08" PRIx32 "%016" PRIx64,
             sl_fnv1a(SL_FNV1A_SEED, log), sl_fnv1a(0x9e3779b9u, log), r->seq);
    json_object_set_new(rec, "eventID", json_string(id));
    json_object_set_new(rec, "eventVersion", json_string("1.1"));
    json_object_set_new(rec, "eventSource", json_string("aws:dynamodb"));
    json_object_set_new(rec, "awsRegion", json_string(region));
    return rec;
}

/* ---- the source of event source mappings -------------------------------- */

struct sl_dynamodb_source {
    struct sl_app *app;
    char arn[512], region[64], role_arn[256];
    char log[96]; /* the stream's log: its records' eventIDs */
    struct sl_pattern *const *filters;
    size_t nfilters;
};

int sl_dynamodb_stream_check(struct sl_app *app, const char *arn)
{
    struct ddb_stream s;
    int rc = ddb_stream_read(app->store, arn, &s);
    ddb_stream_clear(&s);
    return rc;
}

int sl_dynamodb_source_new(struct sl_app *app, const char *arn, const char *role_arn,
                           struct sl_pattern *const *filters, size_t nfilters,
                           struct sl_dynamodb_source **out, struct sl_err *err)
{
    char pk[96];
    if (!ddb_stream_arn_parse(arn, pk, sizeof(pk)) || strlen(arn) >= 512)
        return sl_errf(err, SL_EINVAL, "%s is not a DynamoDB stream's ARN", arn ? arn : "");
    struct ddb_stream st;
    int rc = ddb_stream_read(app->store, arn, &st);
    if (rc)
        return sl_errf(err, rc, "the stream %s cannot be read", arn);
    struct sl_dynamodb_source *s = calloc(1, sizeof(*s));
    if (s)
        sl_strlcpy(s->log, st.log, sizeof(s->log));
    ddb_stream_clear(&st);
    if (!s)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    s->app = app;
    sl_strlcpy(s->arn, arn, sizeof(s->arn));
    const char *slash = strchr(pk, '/');
    sl_strlcpy(s->region, slash ? slash + 1 : "", sizeof(s->region));
    sl_strlcpy(s->role_arn, role_arn ? role_arn : "", sizeof(s->role_arn));
    s->filters = filters;
    s->nfilters = nfilters;
    *out = s;
    return 0;
}

void sl_dynamodb_source_free(struct sl_dynamodb_source *s)
{
    free(s);
}

const char *sl_dynamodb_source_arn(const struct sl_dynamodb_source *s)
{
    return s->arn;
}

static int describe(void *ctx, struct sl_stream_desc *out)
{
    struct sl_dynamodb_source *src = ctx;
    struct ddb_stream s;
    int rc = ddb_stream_read(src->app->store, src->arn, &s);
    if (rc)
        return rc;
    memset(out, 0, sizeof(*out));
    out->shards = calloc(1, sizeof(*out->shards));
    if (!out->shards) {
        ddb_stream_clear(&s);
        return SL_ENOMEM;
    }
    sl_strlcpy(out->log, s.log, sizeof(out->log));
    out->retention_ms = DDB_STREAM_RETENTION_MS;
    out->nshards = 1;
    sl_strlcpy(out->shards[0].id, s.shard, sizeof(out->shards[0].id));
    out->shards[0].closed = s.closed;
    out->shards[0].last = s.last;
    ddb_stream_clear(&s);
    return 0;
}

/* The record as Lambda's DynamoDB event has it. */
static json_t *event_record(struct sl_dynamodb_source *s, const struct sl_log_record *r)
{
    json_t *rec = ddb_stream_record(s->log, s->region, r);
    if (rec)
        json_object_set_new(rec, "eventSourceARN", json_string(s->arn));
    return rec;
}

static int record(void *ctx, const struct sl_stream_shard_desc *shard,
                  const struct sl_log_record *r, struct sl_buf *out)
{
    (void)shard;
    json_t *rec = event_record(ctx, r);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    int rc = text ? sl_buf_puts(out, text) : SL_ECORRUPT;
    free(text);
    return rc;
}

/* Lambda matches a DynamoDB record's filters against the record itself
 * (eventName, dynamodb.NewImage...). */
static bool pass(void *ctx, const struct sl_stream_shard_desc *shard,
                 const struct sl_log_record *r)
{
    (void)shard;
    struct sl_dynamodb_source *s = ctx;
    if (!s->nfilters)
        return true;
    json_t *rec = event_record(s, r);
    if (!rec)
        return true; /* (it goes to the function: nothing is lost) */
    bool ok = false;
    for (size_t i = 0; i < s->nfilters && !ok; i++)
        ok = sl_pattern_match(s->filters[i], rec);
    json_decref(rec);
    return ok;
}

static void seq_text(void *ctx, uint32_t shard, uint64_t seq, char *out, size_t n)
{
    (void)ctx;
    (void)shard;
    char text[DDB_SEQ_TEXT_MAX];
    ddb_seq_text(seq, text);
    sl_strlcpy(out, text, n);
}

static bool seq_parse(void *ctx, const char *text, uint32_t *shard, uint64_t *seq)
{
    (void)ctx;
    *shard = 0;
    return ddb_seq_parse(text, seq);
}

const struct sl_stream_ops sl_dynamodb_stream_ops = {
    .describe = describe,
    .record = record,
    .pass = pass,
    .seq_text = seq_text,
    .seq_parse = seq_parse,
    .batch_info = "DDBStreamBatchInfo",
};
