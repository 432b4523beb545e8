/*
 * Kinesis streams: CreateStream (provisioned with ShardCount, or on
 * demand), DeleteStream, DescribeStream, DescribeStreamSummary,
 * ListStreams and ListShards. A stream is ACTIVE as soon as it is made
 * (waiters that poll for ACTIVE pass at once).
 */
#include "services/kinesis/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *shard_out(const struct kinesis_shard *k)
{
    char id[32], start[41], end[41], first[48], last[48];
    kinesis_shard_id(k->n, id);
    kinesis_u128_text(k->start, start);
    kinesis_u128_text(k->end, end);
    kinesis_seq_text(k->n, 0, first);
    json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:{s:s}}", "ShardId", id, "HashKeyRange",
                          "StartingHashKey", start, "EndingHashKey", end, "SequenceNumberRange",
                          "StartingSequenceNumber", first);
    if (o && k->closed) {
        kinesis_seq_text(k->n, k->last, last);
        json_object_set_new(json_object_get(o, "SequenceNumberRange"), "EndingSequenceNumber",
                            json_string(last));
    }
    for (size_t i = 0; o && i < k->nparents && i < 2; i++) {
        char pid[32];
        kinesis_shard_id(k->parents[i], pid);
        json_object_set_new(o, i ? "AdjacentParentShardId" : "ParentShardId", json_string(pid));
    }
    return o;
}

static const char *mode_of(const struct kinesis_stream *s)
{
    const char *m = json_string_value(json_object_get(s->rec, "mode"));
    return m ? m : "PROVISIONED";
}

/* ---- CreateStream ----------------------------------------------------- */

struct create {
    char pk[96];
    const char *name;
    json_t *rec;
};

static int create_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct create *cr = arg;
    if (sl_txn_exists(t, KINESIS_NS_STREAM, cr->pk, cr->name) == 0)
        return SL_EEXIST;
    char *text = json_dumps(cr->rec, JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    int rc = sl_txn_put(t, KINESIS_NS_STREAM, cr->pk, cr->name, text, strlen(text), NULL);
    free(text);
    return rc;
}

static int created(struct sl_call *c)
{
    struct create *cr = c->write_arg;
    json_decref(cr->rec);
    cr->rec = NULL;
    if (c->write_rc == SL_EEXIST)
        return sl_call_fail(c, KINESIS_E_IN_USE, "Stream %s under account %s already exists.",
                            cr->name, c->account);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return sl_call_ok(c, NULL);
}

SL_OP(kinesis, CreateStream)
{
    struct create *cr = sl_call_alloc(c, sizeof(*cr));
    if (!cr)
        return SL_ENOMEM;
    cr->name = json_string_value(json_object_get(c->in, "StreamName"));
    const char *mode = json_string_value(
        json_object_get(json_object_get(c->in, "StreamModeDetails"), "StreamMode"));
    bool on_demand = mode && strcmp(mode, "ON_DEMAND") == 0;
    json_t *count = json_object_get(c->in, "ShardCount");
    if (!on_demand && !count)
        return sl_call_fail(c, KINESIS_E_INVALID,
                            "ShardCount is required for streams of mode PROVISIONED.");
    if (on_demand && count)
        return sl_call_fail(c, KINESIS_E_INVALID,
                            "ShardCount is not accepted for streams of mode ON_DEMAND.");
    json_int_t n = on_demand ? KINESIS_ON_DEMAND_SHARDS : json_integer_value(count);
    if (n < 1 || n > KINESIS_SHARDS_MAX)
        return sl_call_fail(c, KINESIS_E_LIMIT,
                            "This request would exceed the shard limit for the account %s in "
                            "%s. Current provisioned shard count for the account in %s is 0. "
                            "Limit: %d. Number of additional shards that would have resulted "
                            "from this request: %lld.",
                            c->account, c->region, c->region, KINESIS_SHARDS_MAX, (long long)n);
    json_t *shards = json_array();
    for (unsigned i = 0; shards && i < (unsigned)n; i++) {
        sl_u128 start, end;
        kinesis_even_range(i, (unsigned)n, &start, &end);
        char a[41], b[41];
        kinesis_u128_text(start, a);
        kinesis_u128_text(end, b);
        json_array_append_new(shards, json_pack("{s:i, s:s, s:s}", "n", (int)i, "start", a,
                                                "end", b));
    }
    char id[64] = KINESIS_LOG_PREFIX;
    sl_uuid(id + strlen(id));
    kinesis_pk(cr->pk, sizeof(cr->pk), c->account, c->region);
    cr->rec = json_pack("{s:s, s:s, s:s, s:s, s:f, s:s, s:i, s:o, s:{}}", "id", id, "name",
                        cr->name, "account", c->account, "region", c->region, "created",
                        (double)sl_time_now_ms() / 1000.0, "mode",
                        on_demand ? "ON_DEMAND" : "PROVISIONED", "retention", 24, "shards",
                        shards, "tags");
    if (!cr->rec)
        return SL_ENOMEM;
    return sl_call_write(c, create_txn, cr, created);
}

/* ---- DeleteStream ----------------------------------------------------- */

struct drop {
    char pk[96];
    const char *name;
};

static int delete_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct drop *d = arg;
    struct kinesis_stream s;
    int rc = kinesis_stream_read_txn(t, d->pk, d->name, &s);
    if (rc)
        return rc;
    rc = sl_txn_log_drop(t, s.id);
    if (!rc)
        rc = sl_txn_delete(t, KINESIS_NS_STREAM, d->pk, d->name);
    kinesis_stream_clear(&s);
    return rc;
}

static int deleted(struct sl_call *c)
{
    struct drop *d = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return kinesis_fail_no_stream(c, d->name);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return sl_call_ok(c, NULL);
}

SL_OP(kinesis, DeleteStream)
{
    struct kinesis_stream s;
    if (kinesis_call_stream(c, &s))
        return SL_DONE;
    struct drop *d = sl_call_alloc(c, sizeof(*d));
    if (!d) {
        kinesis_stream_clear(&s);
        return SL_ENOMEM;
    }
    sl_strlcpy(d->pk, s.pk, sizeof(d->pk));
    d->name = sl_arena_strdup(&c->http->arena, s.name);
    kinesis_stream_clear(&s);
    return sl_call_write(c, delete_txn, d, deleted);
}

/* ---- describing ------------------------------------------------------- */

/* What DescribeStream and DescribeStreamSummary share. */
static json_t *description(const struct kinesis_stream *s)
{
    return json_pack("{s:s, s:s, s:s, s:{s:s}, s:I, s:O, s:[{s:[]}], s:s}", "StreamName", s->name,
                     "StreamARN", s->arn, "StreamStatus", "ACTIVE", "StreamModeDetails",
                     "StreamMode", mode_of(s), "RetentionPeriodHours", (json_int_t)s->retention_h,
                     "StreamCreationTimestamp", json_object_get(s->rec, "created"),
                     "EnhancedMonitoring", "ShardLevelMetrics", "EncryptionType", "NONE");
}

/* The shards after the one named after (NULL: from the first), at most
 * max; *more when there are others. */
static json_t *shard_list(const struct kinesis_stream *s, const char *after, size_t max,
                          bool *more)
{
    json_t *list = json_array();
    *more = false;
    for (size_t i = 0; i < s->nshards; i++) {
        char id[32];
        kinesis_shard_id(s->shards[i].n, id);
        if (after && strcmp(id, after) <= 0)
            continue; /* (ids are zero-padded: their order is their numbers') */
        if (json_array_size(list) == max) {
            *more = true;
            break;
        }
        json_array_append_new(list, shard_out(&s->shards[i]));
    }
    return list;
}

SL_OP(kinesis, DescribeStream)
{
    struct kinesis_stream s;
    if (kinesis_call_stream(c, &s))
        return SL_DONE;
    json_t *limit = json_object_get(c->in, "Limit");
    size_t max = json_is_integer(limit) ? (size_t)json_integer_value(limit) : 100;
    bool more;
    json_t *d = description(&s);
    json_object_set_new(d, "Shards",
                        shard_list(&s, json_string_value(json_object_get(
                                           c->in, "ExclusiveStartShardId")),
                                   max, &more));
    json_object_set_new(d, "HasMoreShards", json_boolean(more));
    kinesis_stream_clear(&s);
    return sl_call_ok(c, json_pack("{s:o}", "StreamDescription", d));
}

SL_OP(kinesis, DescribeStreamSummary)
{
    struct kinesis_stream s;
    if (kinesis_call_stream(c, &s))
        return SL_DONE;
    json_t *d = description(&s);
    size_t open = 0;
    for (size_t i = 0; i < s.nshards; i++)
        open += !s.shards[i].closed;
    json_object_set_new(d, "OpenShardCount", json_integer((json_int_t)open));
    json_object_set_new(d, "ConsumerCount", json_integer(0));
    kinesis_stream_clear(&s);
    return sl_call_ok(c, json_pack("{s:o}", "StreamDescriptionSummary", d));
}

SL_OP(kinesis, ListShards)
{
    const char *token = json_string_value(json_object_get(c->in, "NextToken"));
    if (token && json_object_get(c->in, "StreamName"))
        return sl_call_fail(c, KINESIS_E_INVALID,
                            "NextToken and StreamName cannot be provided together.");
    json_t *max_j = json_object_get(c->in, "MaxResults");
    size_t max = json_is_integer(max_j) ? (size_t)json_integer_value(max_j) : 1000;
    const char *after = json_string_value(json_object_get(c->in, "ExclusiveStartShardId"));
    /* A token is "<stream name>|<last shard id>". */
    char name[160] = "", last[40] = "";
    if (token) {
        if (sscanf(token, "%159[^|]|%39s", name, last) != 2)
            return sl_call_fail(c, KINESIS_E_INVALID, "NextToken is not valid.");
        json_object_set_new(c->in, "StreamName", json_string(name));
        after = last;
    }
    struct kinesis_stream s;
    if (kinesis_call_stream(c, &s))
        return SL_DONE;
    bool more;
    json_t *list = shard_list(&s, after, max, &more);
    json_t *out = json_pack("{s:o}", "Shards", list);
    if (more && json_array_size(list)) {
        char next[256];
        const char *lid = json_string_value(
            json_object_get(json_array_get(list, json_array_size(list) - 1), "ShardId"));
        snprintf(next, sizeof(next), "%s|%s", s.name, lid);
        json_object_set_new(out, "NextToken", json_string(next));
    }
    kinesis_stream_clear(&s);
    return sl_call_ok(c, out);
}

SL_OP(kinesis, ListStreams)
{
    json_t *limit = json_object_get(c->in, "Limit");
    size_t max = json_is_integer(limit) ? (size_t)json_integer_value(limit) : 100;
    const char *after = json_string_value(json_object_get(c->in, "ExclusiveStartStreamName"));
    char pk[96];
    kinesis_pk(pk, sizeof(pk), c->account, c->region);
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(c->app->store, KINESIS_NS_STREAM, pk, NULL, after, max + 1, &items, &n);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    json_t *names = json_array(), *summaries = json_array();
    for (size_t i = 0; i < n && i < max; i++) {
        json_array_append_new(names, json_string(items[i].sk));
        struct kinesis_stream s;
        json_t *rec = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        if (rec && kinesis_stream_parse(rec, &s) == 0) {
            json_array_append_new(summaries,
                                  json_pack("{s:s, s:s, s:s, s:{s:s}, s:O}", "StreamName", s.name,
                                            "StreamARN", s.arn, "StreamStatus", "ACTIVE",
                                            "StreamModeDetails", "StreamMode", mode_of(&s),
                                            "StreamCreationTimestamp",
                                            json_object_get(s.rec, "created")));
            kinesis_stream_clear(&s);
        }
    }
    json_t *out = json_pack("{s:o, s:b, s:o}", "StreamNames", names, "HasMoreStreams", n > max,
                            "StreamSummaries", summaries);
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    return sl_call_ok(c, out);
}

/* ---- retention, tags -------------------------------------------------- */

struct change {
    char pk[96];
    const char *name;
    json_t *in;
    struct sl_txn *t; /* the transaction apply runs in */
    json_t *out;      /* the answer (NULL: none) */
    int fail; /* an error id decided in the transaction */
    char why[512];
    int (*apply)(struct change *ch, struct kinesis_stream *s);
};

static int change_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct change *ch = arg;
    struct kinesis_stream s;
    int rc = kinesis_stream_read_txn(t, ch->pk, ch->name, &s);
    if (rc)
        return rc;
    ch->t = t;
    rc = ch->apply(ch, &s);
    char *text = rc ? NULL : json_dumps(s.rec, JSON_COMPACT);
    if (!rc && !text)
        rc = SL_ENOMEM;
    if (!rc)
        rc = sl_txn_put(t, KINESIS_NS_STREAM, ch->pk, ch->name, text, strlen(text), NULL);
    free(text);
    kinesis_stream_clear(&s);
    return rc;
}

static int changed(struct sl_call *c)
{
    struct change *ch = c->write_arg;
    json_t *out = ch->out;
    ch->out = NULL;
    if (c->write_rc)
        json_decref(out);
    if (c->write_rc == SL_ENOTFOUND)
        return kinesis_fail_no_stream(c, ch->name);
    if (c->write_rc == SL_ECONDITION)
        return sl_call_fail(c, ch->fail, "%s", ch->why);
    if (c->write_rc)
        return sl_call_internal(c, c->write_rc, &c->write_err);
    return sl_call_ok(c, out);
}

static int change(struct sl_call *c, int (*apply)(struct change *, struct kinesis_stream *))
{
    struct change *ch = sl_call_alloc(c, sizeof(*ch));
    if (!ch)
        return SL_ENOMEM;
    ch->name = kinesis_stream_name(c);
    if (!ch->name)
        return sl_call_fail(c, KINESIS_E_INVALID,
                            "Either StreamName or StreamARN should be provided.");
    ch->in = c->in;
    ch->apply = apply;
    kinesis_pk(ch->pk, sizeof(ch->pk), c->account, c->region);
    return sl_call_write(c, change_txn, ch, changed);
}

static int refuse(struct change *ch, const char *fmt, ...) SL_PRINTF(2, 3);

static int refuse(struct change *ch, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ch->why, sizeof(ch->why), fmt, ap);
    va_end(ap);
    ch->fail = KINESIS_E_INVALID;
    return SL_ECONDITION;
}

static int retention(struct change *ch, struct kinesis_stream *s, bool increase)
{
    json_int_t h = json_integer_value(json_object_get(ch->in, "RetentionPeriodHours"));
    if (h < 24)
        return refuse(ch, "Minimum allowed retention period is 24 hours. Requested retention "
                          "period (%lld hours) is too short.",
                      (long long)h);
    if (h > 8760)
        return refuse(ch, "Maximum allowed retention period is 8760 hours. Requested retention "
                          "period (%lld hours) is too long.",
                      (long long)h);
    if (increase && h < s->retention_h)
        return refuse(ch, "Requested retention period (%lld hours) for stream %s can not be "
                          "shorter than existing retention period (%lld hours). Use "
                          "DecreaseRetentionPeriod API.",
                      (long long)h, s->name, (long long)s->retention_h);
    if (!increase && h > s->retention_h)
        return refuse(ch, "Requested retention period (%lld hours) for stream %s can not be "
                          "longer than existing retention period (%lld hours). Use "
                          "IncreaseRetentionPeriod API.",
                      (long long)h, s->name, (long long)s->retention_h);
    json_object_set_new(s->rec, "retention", json_integer(h));
    return 0;
}

static int increase(struct change *ch, struct kinesis_stream *s)
{
    return retention(ch, s, true);
}

static int decrease(struct change *ch, struct kinesis_stream *s)
{
    return retention(ch, s, false);
}

SL_OP(kinesis, IncreaseStreamRetentionPeriod)
{
    return change(c, increase);
}

SL_OP(kinesis, DecreaseStreamRetentionPeriod)
{
    return change(c, decrease);
}

static json_t *tags_of(struct kinesis_stream *s)
{
    json_t *tags = json_object_get(s->rec, "tags");
    if (!json_is_object(tags)) {
        tags = json_object();
        json_object_set_new(s->rec, "tags", tags);
    }
    return tags;
}

static int add_tags(struct change *ch, struct kinesis_stream *s)
{
    json_t *tags = tags_of(s);
    json_object_update(tags, json_object_get(ch->in, "Tags"));
    if (json_object_size(tags) > 50)
        return refuse(ch, "Failed to add tags to stream %s under account %s because a given "
                          "stream cannot have more than 50 tags.",
                      s->name, s->account);
    return 0;
}

static int remove_tags(struct change *ch, struct kinesis_stream *s)
{
    json_t *tags = tags_of(s);
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(ch->in, "TagKeys"), i, k)
        json_object_del(tags, json_string_value(k));
    return 0;
}

SL_OP(kinesis, AddTagsToStream)
{
    return change(c, add_tags);
}

SL_OP(kinesis, RemoveTagsFromStream)
{
    return change(c, remove_tags);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

SL_OP(kinesis, ListTagsForStream)
{
    struct kinesis_stream s;
    if (kinesis_call_stream(c, &s))
        return SL_DONE;
    json_t *tags = tags_of(&s);
    const char *after = json_string_value(json_object_get(c->in, "ExclusiveStartTagKey"));
    json_t *limit = json_object_get(c->in, "Limit");
    size_t max = json_is_integer(limit) ? (size_t)json_integer_value(limit) : 50;
    size_t n = json_object_size(tags), k = 0;
    const char **keys = calloc(n + 1, sizeof(*keys));
    const char *key;
    json_t *v;
    json_object_foreach(tags, key, v)
        if (keys)
            keys[k++] = key;
    if (keys)
        qsort(keys, k, sizeof(*keys), cmp_keys);
    json_t *list = json_array();
    bool more = false;
    for (size_t i = 0; keys && i < k; i++) {
        if (after && strcmp(keys[i], after) <= 0)
            continue;
        if (json_array_size(list) == max) {
            more = true;
            break;
        }
        json_array_append_new(list, json_pack("{s:s, s:O}", "Key", keys[i], "Value",
                                              json_object_get(tags, keys[i])));
    }
    free(keys);
    kinesis_stream_clear(&s);
    return sl_call_ok(c, json_pack("{s:o, s:b}", "Tags", list, "HasMoreTags", more));
}

/* ---- resharding ------------------------------------------------------- */

/*
 * UpdateShardCount (UNIFORM_SCALING): the open shards close (their records
 * stay readable, each ending at its last sequence number) and TargetShardCount
 * new shards split the key space evenly, each naming as parents the old
 * shards its range overlaps, as AWS's splits and merges do. The target may
 * be at most double and at least half the open shards, as on AWS.
 */
static int reshard(struct change *ch, struct kinesis_stream *s)
{
    json_int_t target = json_integer_value(json_object_get(ch->in, "TargetShardCount"));
    size_t open = 0;
    unsigned next = 0;
    for (size_t i = 0; i < s->nshards; i++) {
        open += !s->shards[i].closed;
        if (s->shards[i].n >= next)
            next = s->shards[i].n + 1;
    }
    if (target < 1 || (size_t)target > 2 * open || (size_t)target * 2 < open)
        return refuse(ch, "UpdateShardCount cannot scale up over double or down below half "
                          "the current shard count of %zu for stream %s: TargetShardCount %lld.",
                      open, s->name, (long long)target);
    if (next + (size_t)target > KINESIS_SHARDS_MAX * 4)
        return refuse(ch, "Stream %s has been resharded too many times.", s->name);
    json_t *shards = json_object_get(s->rec, "shards");
    size_t i;
    json_t *sh;
    int rc = 0;
    json_array_foreach(shards, i, sh)
    {
        if (s->shards[i].closed)
            continue;
        uint64_t last = 0;
        rc = sl_txn_log_last(ch->t, s->id, s->shards[i].n, &last);
        if (rc)
            return rc;
        json_object_set_new(sh, "closed", json_true());
        json_object_set_new(sh, "last", json_integer((json_int_t)last));
    }
    for (unsigned k = 0; k < (unsigned)target; k++) {
        sl_u128 start, end;
        kinesis_even_range(k, (unsigned)target, &start, &end);
        json_t *parents = json_array();
        for (size_t p = 0; p < s->nshards; p++) {
            const struct kinesis_shard *o = &s->shards[p];
            if (!o->closed && o->start <= end && start <= o->end)
                json_array_append_new(parents, json_integer(o->n));
        }
        char a[41], b[41];
        kinesis_u128_text(start, a);
        kinesis_u128_text(end, b);
        json_array_append_new(shards, json_pack("{s:i, s:s, s:s, s:o}", "n", (int)(next + k),
                                                "start", a, "end", b, "parents", parents));
    }
    ch->out = json_pack("{s:s, s:I, s:I}", "StreamName", s->name, "CurrentShardCount",
                        (json_int_t)open, "TargetShardCount", (json_int_t)target);
    return ch->out ? 0 : SL_ENOMEM;
}

SL_OP(kinesis, UpdateShardCount)
{
    return change(c, reshard);
}
