/*
 * dynamodbstreams — Amazon DynamoDB Streams (JSON 1.0): the change records
 * of tables with a stream, read by shard iterators. The streams and their
 * logs are DynamoDB's (services/dynamodb/stream.c): this service reads
 * them through that folder's internal header, its twin.
 *
 * A shard iterator is opaque text: the stream's ARN, the next sequence
 * number to read (0: the oldest kept) and when it was made; it expires
 * after 15 minutes, as DynamoDB Streams' do.
 */
#include "services/dynamodb/internal.h"
#include "services/dynamodbstreams/dynamodbstreams.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAMS_ERRORS(X)                                                                      \
    X(STREAMS_E_INTERNAL, DDB_NS_V "InternalServerError", 500, true)                         \
    X(STREAMS_E_VALIDATION, "com.amazon.coral.validate#ValidationException", 400, false)     \
    X(STREAMS_E_SERIALIZATION, "com.amazon.coral.service#SerializationException", 400,       \
      false)                                                                                 \
    X(STREAMS_E_NOT_FOUND, DDB_NS_V "ResourceNotFoundException", 400, false)                 \
    X(STREAMS_E_EXPIRED, DDB_NS_V "ExpiredIteratorException", 400, false)                    \
    X(STREAMS_E_TRIMMED, DDB_NS_V "TrimmedDataAccessException", 400, false)

enum { STREAMS_ERRORS(SL_ERROR_ENUM) STREAMS_E_N };
static const struct sl_aws_error errors[] = {STREAMS_ERRORS(SL_ERROR_ROW)};

#define ITERATOR_TTL_MS (15 * 60 * 1000)
#define RECORDS_MAX 1000
#define RECORDS_BYTES (1024 * 1024)

static void pk_of(struct sl_call *c, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", c->account, c->region);
}

/* The stream the call's StreamArn names: 0, or the call has its answer. */
static int call_stream(struct sl_call *c, const char *arn, struct ddb_stream *s)
{
    /* (Only the caller's own account and region's streams.) */
    char pk[96], own[96];
    pk_of(c, own, sizeof(own));
    int rc = ddb_stream_arn_parse(arn, pk, sizeof(pk)) && strcmp(pk, own) == 0
                 ? ddb_stream_read(c->app->store, arn, s)
                 : SL_ENOTFOUND;
    if (rc == SL_EINVAL || rc == SL_ENOTFOUND)
        return sl_call_fail(c, STREAMS_E_NOT_FOUND, "Requested resource not found: Stream: %s "
                                                    "not found",
                            arn ? arn : "");
    return rc ? sl_call_internal(c, rc, NULL) : 0;
}

SL_OP(dynamodbstreams, ListStreams)
{
    char pk[96];
    pk_of(c, pk, sizeof(pk));
    const char *table = json_string_value(json_object_get(c->in, "TableName"));
    const char *after = json_string_value(json_object_get(c->in, "ExclusiveStartStreamArn"));
    json_t *lim = json_object_get(c->in, "Limit");
    size_t max = json_is_integer(lim) ? (size_t)json_integer_value(lim) : 100;
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, DDB_NS_STREAM, pk, NULL, after, SIZE_MAX, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *streams = json_array();
    const char *last = NULL;
    bool more = false;
    for (size_t i = 0; i < n; i++) {
        struct ddb_stream s;
        if (ddb_stream_read(c->app->store, items[i].sk, &s))
            continue; /* (gone past its retention) */
        const char *name = json_string_value(json_object_get(s.rec, "TableName"));
        if (!table || (name && strcmp(name, table) == 0)) {
            if (json_array_size(streams) == max) {
                more = true;
                ddb_stream_clear(&s);
                break;
            }
            json_array_append_new(streams,
                                  json_pack("{s:s, s:O, s:O}", "StreamArn", s.arn, "TableName",
                                            json_object_get(s.rec, "TableName"), "StreamLabel",
                                            json_object_get(s.rec, "StreamLabel")));
            last = items[i].sk;
        }
        ddb_stream_clear(&s);
    }
    json_t *out = json_pack("{s:o}", "Streams", streams);
    if (more && last)
        json_object_set_new(out, "LastEvaluatedStreamArn", json_string(last));
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

SL_OP(dynamodbstreams, DescribeStream)
{
    struct ddb_stream s;
    const char *arn = json_string_value(json_object_get(c->in, "StreamArn"));
    int rc = call_stream(c, arn, &s);
    if (rc)
        return rc;
    uint64_t first = 0, last = 0;
    rc = sl_log_bounds(c->app->store, s.log, 0, sl_time_now_ms() - DDB_STREAM_RETENTION_MS,
                       &first, &last);
    if (rc) {
        ddb_stream_clear(&s);
        return sl_call_internal(c, rc, NULL);
    }
    json_t *d = json_deep_copy(s.rec);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(d, tmp, k, v)
    {
        if (k[0] == '_')
            json_object_del(d, k);
    }
    json_object_set_new(d, "StreamStatus", json_string(s.closed ? "DISABLED" : "ENABLED"));
    char a[DDB_SEQ_TEXT_MAX], z[DDB_SEQ_TEXT_MAX];
    /* (An open empty shard starts at the number its first record will
     * get; a closed one that never had any has no numbers.) */
    ddb_seq_text(first ? first : last + 1, a);
    json_t *range = s.closed && !s.last ? json_object()
                                        : json_pack("{s:s}", "StartingSequenceNumber", a);
    if (s.closed && s.last) {
        ddb_seq_text(s.last, z);
        json_object_set_new(range, "EndingSequenceNumber", json_string(z));
    }
    const char *start = json_string_value(json_object_get(c->in, "ExclusiveStartShardId"));
    json_t *shards = json_array();
    if (!start || strcmp(start, s.shard) < 0)
        json_array_append_new(shards, json_pack("{s:s, s:o}", "ShardId", s.shard,
                                                "SequenceNumberRange", range));
    else
        json_decref(range);
    json_object_set_new(d, "Shards", shards);
    ddb_stream_clear(&s);
    return sl_call_ok(c, json_pack("{s:o}", "StreamDescription", d));
}

SL_OP(dynamodbstreams, GetShardIterator)
{
    struct ddb_stream s;
    const char *arn = json_string_value(json_object_get(c->in, "StreamArn"));
    int rc = call_stream(c, arn, &s);
    if (rc)
        return rc;
    const char *shard = json_string_value(json_object_get(c->in, "ShardId"));
    const char *type = json_string_value(json_object_get(c->in, "ShardIteratorType"));
    const char *seqtext = json_string_value(json_object_get(c->in, "SequenceNumber"));
    if (!shard || strcmp(shard, s.shard) != 0) {
        ddb_stream_clear(&s);
        return sl_call_fail(c, STREAMS_E_NOT_FOUND, "Requested resource not found: Shard does "
                                                    "not exist");
    }
    bool at = type && strcmp(type, "AT_SEQUENCE_NUMBER") == 0;
    bool after = type && strcmp(type, "AFTER_SEQUENCE_NUMBER") == 0;
    uint64_t first = 0, last = 0, seq = 0;
    rc = sl_log_bounds(c->app->store, s.log, 0, sl_time_now_ms() - DDB_STREAM_RETENTION_MS,
                       &first, &last);
    if (rc) {
        ddb_stream_clear(&s);
        return sl_call_internal(c, rc, NULL);
    }
    if (at || after) {
        if (!seqtext) {
            ddb_stream_clear(&s);
            return sl_call_fail(c, STREAMS_E_VALIDATION, "Must specify a SequenceNumber with "
                                                         "AT_SEQUENCE_NUMBER or "
                                                         "AFTER_SEQUENCE_NUMBER");
        }
        if (!ddb_seq_parse(seqtext, &seq) || seq > last || (s.closed && seq > s.last)) {
            ddb_stream_clear(&s);
            return sl_call_fail(c, STREAMS_E_VALIDATION, "Invalid SequenceNumber: %s",
                                seqtext);
        }
        if (first && seq < first) {
            ddb_stream_clear(&s);
            return sl_call_fail(c, STREAMS_E_TRIMMED, "Requested sequence number %s is beyond "
                                                      "the trim horizon of the stream",
                                seqtext);
        }
        if (after)
            seq++;
    } else if (type && strcmp(type, "LATEST") == 0) {
        seq = last + 1;
    } else if (!type || strcmp(type, "TRIM_HORIZON") != 0) {
        ddb_stream_clear(&s);
        return sl_call_fail(c, STREAMS_E_VALIDATION, "1 validation error detected: Value '%s' "
                                                     "at 'shardIteratorType' failed to satisfy "
                                                     "constraint: Member must satisfy enum "
                                                     "value set: [AFTER_SEQUENCE_NUMBER, "
                                                     "LATEST, AT_SEQUENCE_NUMBER, "
                                                     "TRIM_HORIZON]",
                            type ? type : "");
    }
    struct sl_buf it;
    sl_buf_init(&it, 0);
    ddb_iterator_text(s.arn, seq, sl_time_now_ms(), &it);
    ddb_stream_clear(&s);
    if (!it.data)
        return SL_ENOMEM;
    json_t *out = json_pack("{s:s}", "ShardIterator", it.data);
    sl_buf_free(&it);
    return sl_call_ok(c, out);
}

SL_OP(dynamodbstreams, GetRecords)
{
    const char *text = json_string_value(json_object_get(c->in, "ShardIterator"));
    char arn[DDB_ARN_MAX];
    uint64_t seq;
    int64_t made;
    if (!ddb_iterator_parse(text, arn, &seq, &made))
        return sl_call_fail(c, STREAMS_E_VALIDATION, "Invalid ShardIterator");
    int64_t now = sl_time_now_ms();
    if (made < now - ITERATOR_TTL_MS || made > now + ITERATOR_TTL_MS)
        return sl_call_fail(c, STREAMS_E_EXPIRED, "Iterator expired. The iterator was created "
                                                  "more than 15 minutes ago.");
    json_t *lim = json_object_get(c->in, "Limit");
    size_t max = json_is_integer(lim) ? (size_t)json_integer_value(lim) : RECORDS_MAX;
    if (max < 1 || max > RECORDS_MAX)
        return sl_call_fail(c, STREAMS_E_VALIDATION, "1 validation error detected: Value '%zu' "
                                                     "at 'limit' failed to satisfy constraint: "
                                                     "Member must have value less than or "
                                                     "equal to 1000",
                            max);
    struct ddb_stream s;
    int rc = call_stream(c, arn, &s);
    if (rc)
        return rc;
    struct sl_log_record *recs = NULL;
    size_t n = 0;
    rc = sl_log_read(c->app->store, s.log, 0, seq, now - DDB_STREAM_RETENTION_MS, max,
                     RECORDS_BYTES, &recs, &n, NULL);
    if (rc) {
        ddb_stream_clear(&s);
        return sl_call_internal(c, rc, NULL);
    }
    char region[64] = "";
    const char *colon = strchr(arn + strlen("arn:aws:dynamodb:"), ':');
    snprintf(region, sizeof(region), "%.*s", colon ? (int)(colon - arn) - 17 : 0,
             arn + strlen("arn:aws:dynamodb:"));
    json_t *records = json_array();
    uint64_t next = seq;
    for (size_t i = 0; i < n && !(s.closed && recs[i].seq > s.last); i++) {
        json_t *r = ddb_stream_record(s.log, region, &recs[i]);
        json_t *who = json_object_get(r, "userIdentity");
        if (who) /* (the API's Identity shape; Lambda's events keep lower case) */
            json_object_set_new(r, "userIdentity",
                                json_pack("{s:O, s:O}", "PrincipalId",
                                          json_object_get(who, "principalId"), "Type",
                                          json_object_get(who, "type")));
        if (r)
            json_array_append_new(records, r);
        next = recs[i].seq + 1;
    }
    sl_log_records_free(recs, n);
    json_t *out = json_pack("{s:o}", "Records", records);
    /* A closed shard read to its end has no next iterator. */
    if (!(s.closed && (next > s.last || n == 0))) {
        struct sl_buf it;
        sl_buf_init(&it, 0);
        ddb_iterator_text(s.arn, next, now, &it);
        if (it.data)
            json_object_set_new(out, "NextShardIterator", json_string(it.data));
        sl_buf_free(&it);
    }
    ddb_stream_clear(&s);
    return sl_call_ok(c, out);
}

SL_SERVICE_TABLES(dynamodbstreams);

const struct sl_service sl_service_dynamodbstreams = {
    .name = "dynamodbstreams",
    .model = &sl_model_dynamodbstreams,
    .handlers = sl_dynamodbstreams_handlers,
    .errors = errors,
    .e_internal = STREAMS_E_INTERNAL,
    .e_validation = STREAMS_E_VALIDATION,
    .e_serialization = STREAMS_E_SERIALIZATION,
    .e_too_big = STREAMS_E_VALIDATION,
    .body_cap = 64 * 1024,
};
