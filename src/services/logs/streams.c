/*
 * Log streams (CreateLogStream, DeleteLogStream, DescribeLogStreams) and
 * PutLogEvents.
 */
#include "services/logs/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUTURE_MAX_MS (2LL * 3600 * 1000) /* PutLogEvents: newer is too new */
#define AGE_MAX_MS (14 * SL_LOGS_DAY_MS)  /* older is too old */

/* A LogStream as AWS describes it. storedBytes of a stream is reported as
 * 0 since 2019. */
static json_t *stream_out(const char *name, json_t *v)
{
    json_t *o = json_pack("{s:s, s:O, s:O, s:i}", "logStreamName", name, "creationTime",
                          json_object_get(v, "creationTime"), "arn", json_object_get(v, "arn"),
                          "storedBytes", 0);
    static const char *const times[] = {"firstEventTimestamp", "lastEventTimestamp",
                                        "lastIngestionTime"};
    for (size_t i = 0; o && i < SL_ARRAY_LEN(times); i++) {
        json_t *t = json_object_get(v, times[i]);
        if (t)
            json_object_set(o, times[i], t);
    }
    return o;
}

struct stream_write {
    struct lgreq *l;
    const char *group, *name;
    json_t *val;
};

static int create_stream_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct stream_write *w = arg;
    char spk[SL_LOGS_SPK_MAX];
    sl_logs_stream_pk(spk, sizeof(spk), w->l->c->account, w->l->c->region, w->group);
    if (sl_txn_exists(t, SL_LOGS_NS_GROUP, w->l->gpk, w->group))
        return sl_errf(err, SL_ENOTFOUND, "The specified log group does not exist.");
    if (sl_txn_exists(t, SL_LOGS_NS_STREAM, spk, w->name) == 0)
        return SL_EEXIST;
    return sl_logs_txn_put_json(t, SL_LOGS_NS_STREAM, spk, w->name, w->val);
}

/* After a write on a stream: not found (the message names which), exists,
 * failed, or done. */
static int stream_written(struct sl_call *c)
{
    struct lgreq *l = sl_logs_req(c);
    struct stream_write *w = c->write_arg;
    json_decref(w->val);
    w->val = NULL;
    if (c->write_rc == SL_ENOTFOUND)
        return sl_logs_error(l, LOGS_E_NOT_FOUND, "%s", c->write_err.msg);
    if (c->write_rc == SL_EEXIST)
        return sl_logs_error(l, LOGS_E_EXISTS, "The specified log stream already exists");
    if (c->write_rc)
        return sl_logs_internal(l, &c->write_err);
    return 0;
}

static int write_stream(struct sl_call *c, sl_txn_fn fn, bool create)
{
    struct lgreq *l = sl_logs_req(c);
    struct stream_write *w = sl_call_alloc(c, sizeof(*w));
    if (!l || !w)
        return SL_ENOMEM;
    w->l = l;
    w->group = sl_logs_in_str(l, "logGroupName");
    w->name = sl_logs_in_str(l, "logStreamName");
    if (create &&
        !(w->val = sl_logs_stream_value(c->account, c->region, w->group, w->name, l->now)))
        return SL_ENOMEM;
    return sl_call_write(c, fn, w, stream_written);
}

SL_OP(logs, CreateLogStream)
{
    return write_stream(c, create_stream_txn, true);
}

static int delete_stream_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct stream_write *w = arg;
    const char *account = w->l->c->account, *region = w->l->c->region;
    char spk[SL_LOGS_SPK_MAX], epk[SL_LOGS_EPK_MAX];
    sl_logs_stream_pk(spk, sizeof(spk), account, region, w->group);
    sl_logs_event_pk(epk, sizeof(epk), account, region, w->group, w->name);
    json_t *group = NULL, *stream = NULL;
    int rc = sl_logs_txn_get_json(t, SL_LOGS_NS_GROUP, w->l->gpk, w->group, &group);
    if (rc == SL_ENOTFOUND)
        return sl_errf(err, rc, "The specified log group does not exist.");
    if (!rc) {
        rc = sl_logs_txn_get_json(t, SL_LOGS_NS_STREAM, spk, w->name, &stream);
        if (rc == SL_ENOTFOUND)
            sl_errf(err, rc, "The specified log stream does not exist.");
    }
    if (!rc)
        rc = sl_txn_delete_pk(t, SL_LOGS_NS_EVENT, epk, NULL);
    if (!rc)
        rc = sl_txn_delete(t, SL_LOGS_NS_STREAM, spk, w->name);
    if (!rc) {
        int64_t left =
            sl_logs_json_int(group, "storedBytes", 0) - sl_logs_json_int(stream, "storedBytes", 0);
        json_object_set_new(group, "storedBytes", json_integer(left > 0 ? left : 0));
        rc = sl_logs_txn_put_json(t, SL_LOGS_NS_GROUP, w->l->gpk, w->group, group);
    }
    json_decref(group);
    json_decref(stream);
    return rc;
}

SL_OP(logs, DeleteLogStream)
{
    return write_stream(c, delete_stream_txn, false);
}

/* A stream with the sort key of DescribeLogStreams' LastEventTime order. */
struct stream_row {
    char *cursor; /* "<lastEventTimestamp, 16 digits>/<name>" */
    struct sl_item *item;
};

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const struct stream_row *)a)->cursor, ((const struct stream_row *)b)->cursor);
}

/* Orders n streams by (lastEventTimestamp, name): *out is malloc'd, and
 * so is each row's cursor. */
static int sort_by_time(struct sl_item *items, size_t n, struct stream_row **out)
{
    struct stream_row *rows = calloc(n ? n : 1, sizeof(*rows));
    if (!rows)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        int64_t last = sl_logs_json_int(v, "lastEventTimestamp", 0);
        json_decref(v);
        rows[i].item = &items[i];
        if (asprintf(&rows[i].cursor, "%0*" PRId64 "/%s", SL_LOGS_TS_DIGITS, last, items[i].sk) <
            0) {
            for (size_t k = 0; k < i; k++)
                free(rows[k].cursor);
            free(rows);
            return SL_ENOMEM;
        }
    }
    qsort(rows, n, sizeof(*rows), cmp_row);
    *out = rows;
    return 0;
}

/*
 * DescribeLogStreams by name (a range of the stream partition, either
 * way), or by LastEventTime (every stream of the group, sorted here; a
 * prefix is refused as AWS does). The nextToken is the sort key of the
 * last stream returned.
 */
SL_OP(logs, DescribeLogStreams)
{
    struct lgreq *l = sl_logs_req(c);
    if (!l)
        return SL_ENOMEM;
    const char *group = sl_logs_in_str(l, "logGroupName");
    const char *prefix = sl_logs_in_str(l, "logStreamNamePrefix");
    const char *order = sl_logs_in_str(l, "orderBy");
    bool by_time = order && strcmp(order, "LastEventTime") == 0;
    bool desc = json_is_true(json_object_get(l->in, "descending"));
    size_t limit = (size_t)sl_logs_in_int(l, "limit", SL_LOGS_DESCRIBE_DEFAULT);
    if (by_time && prefix)
        return sl_logs_error(l, LOGS_E_INVALID_PARAMETER,
                             "Cannot order by LastEventTime with a logStreamNamePrefix.");
    json_t *gv = NULL;
    int rc = sl_logs_load_group(l, group, &gv);
    if (rc)
        return rc;
    json_decref(gv);
    char *cursor = NULL;
    if ((rc = sl_logs_token_read(l, by_time ? 't' : 'n', &cursor)) != 0)
        return rc;
    struct sl_store *st = c->app->store;
    char spk[SL_LOGS_SPK_MAX];
    sl_logs_stream_pk(spk, sizeof(spk), c->account, c->region, group);
    struct sl_item *items = NULL;
    size_t n = 0;
    struct stream_row *rows = NULL;
    if (!by_time)
        rc = desc ? sl_kv_list_desc(st, SL_LOGS_NS_STREAM, spk, prefix, cursor, limit + 1, &items,
                                    &n)
                  : sl_kv_list(st, SL_LOGS_NS_STREAM, spk, prefix, cursor, limit + 1, &items, &n);
    else if ((rc = sl_logs_list_all(st, SL_LOGS_NS_STREAM, spk, NULL, &items, &n)) == 0)
        rc = sort_by_time(items, n, &rows);
    json_t *streams = json_array();
    char *next = NULL;
    const char *last = NULL; /* the sort key of the last stream taken */
    size_t taken = 0;
    for (size_t k = 0; !rc && k < n; k++) {
        struct sl_item *it = &items[k];
        const char *key = it->sk;
        if (by_time) {
            /* Rows in the requested order, after the cursor. */
            struct stream_row *row = &rows[desc ? n - 1 - k : k];
            int c = cursor ? strcmp(row->cursor, cursor) : 0;
            if (cursor && (desc ? c >= 0 : c <= 0))
                continue;
            it = row->item;
            key = row->cursor;
        }
        if (taken == limit) { /* one more exists: the next page starts after the last */
            next = sl_logs_token_make(by_time ? 't' : 'n', last);
            rc = next ? 0 : SL_ENOMEM;
            break;
        }
        json_t *v = json_loadb(it->val, it->val_len, 0, NULL);
        json_t *o = v ? stream_out(it->sk, v) : NULL;
        json_decref(v);
        if (!o) {
            rc = SL_ENOMEM;
            break;
        }
        json_array_append_new(streams, o);
        taken++;
        last = key;
    }
    if (rc) {
        json_decref(streams);
    } else {
        json_t *out = json_pack("{s:o}", "logStreams", streams);
        if (next)
            json_object_set_new(out, "nextToken", json_string(next));
        sl_call_ok(c, out);
    }
    free(next);
    if (rows)
        for (size_t i = 0; i < n; i++)
            free(rows[i].cursor);
    free(rows);
    sl_logs_items_free(items, n);
    free(cursor);
    return rc;
}

/* ---- events ------------------------------------------------------------ */


/* Reads logEvents into events, checking them as CloudWatch does. 0, or
 * answers (SL_DONE). */
static int read_events(struct lgreq *l, struct sl_logs_event *events, size_t n)
{
    json_t *list = json_object_get(l->in, "logEvents");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        json_t *msg = json_object_get(e, "message");
        events[i].ts = sl_logs_json_int(e, "timestamp", 0);
        events[i].msg = json_string_value(msg);
        events[i].len = json_string_length(msg);
        size_t size = events[i].len + SL_LOGS_EVENT_OVERHEAD;
        total += size;
        if (size > SL_LOGS_EVENT_MAX)
            return sl_logs_error(l, LOGS_E_INVALID_PARAMETER,
                                 "Log event too large: %zu bytes exceeds limit of %d", size,
                                 SL_LOGS_EVENT_MAX);
        if (i && events[i].ts < events[i - 1].ts)
            return sl_logs_error(l, LOGS_E_INVALID_PARAMETER,
                                 "Log events in a single PutLogEvents request must be in "
                                 "chronological order.");
    }
    if (total > SL_LOGS_BATCH_MAX)
        return sl_logs_error(l, LOGS_E_INVALID_PARAMETER,
                             "Upload too large: %zu bytes exceeds limit of %d", total,
                             SL_LOGS_BATCH_MAX);
    if (n && events[n - 1].ts - events[0].ts > SL_LOGS_DAY_MS)
        return sl_logs_error(l, LOGS_E_INVALID_PARAMETER,
                             "The batch of log events in a single PutLogEvents request cannot "
                             "span more than 24 hours.");
    return 0;
}

/*
 * PutLogEvents into an existing stream. Events too old (14 days), past
 * the group's retention or too new (2 hours ahead) are left out and
 * reported in rejectedLogEventsInfo; the sequence token is not checked
 * (AWS stopped checking it in 2023) but one is returned.
 */
/* PutLogEvents' write, and what its answer needs. */
struct put_events {
    struct sl_logs_append a;
    struct sl_logs_event *events;
    size_t n, too_old, expired, too_new;
};

static int put_events_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct put_events *p = arg;
    return sl_logs_append_txn(t, &p->a, err);
}

static int put_events_done(struct sl_call *c);

SL_OP(logs, PutLogEvents)
{
    struct lgreq *l = sl_logs_req(c);
    struct put_events *p = sl_call_alloc(c, sizeof(*p));
    if (!l || !p)
        return SL_ENOMEM;
    size_t n = json_array_size(json_object_get(l->in, "logEvents"));
    struct sl_logs_event *events = sl_call_alloc(c, (n ? n : 1) * sizeof(*events));
    if (!events)
        return SL_ENOMEM;
    json_t *gv = NULL;
    const char *group = sl_logs_in_str(l, "logGroupName");
    int rc = read_events(l, events, n);
    if (!rc)
        rc = sl_logs_load_group(l, group, &gv);
    if (rc)
        return rc;
    int64_t floor = sl_logs_retention_floor(gv, l->now);
    json_decref(gv);
    /* Events are in order: the too old and expired ones come first, the
     * too new ones last. */
    size_t too_old = 0, expired = 0, too_new = n;
    while (too_old < n && events[too_old].ts < l->now - AGE_MAX_MS)
        too_old++;
    while (expired < n && events[expired].ts < floor)
        expired++;
    while (too_new > 0 && events[too_new - 1].ts > l->now + FUTURE_MAX_MS)
        too_new--;
    size_t first = SL_MAX(too_old, expired);
    *p = (struct put_events){.a = {.account = c->account,
                                   .region = c->region,
                                   .group = group,
                                   .stream = sl_logs_in_str(l, "logStreamName"),
                                   .events = events + first,
                                   .n = too_new > first ? too_new - first : 0,
                                   .now = l->now},
                             .events = events,
                             .n = n,
                             .too_old = too_old,
                             .expired = expired,
                             .too_new = too_new};
    return sl_call_write(c, put_events_txn, p, put_events_done);
}

static int put_events_done(struct sl_call *c)
{
    struct lgreq *l = sl_logs_req(c);
    struct put_events *p = c->write_arg;
    if (c->write_rc == SL_ENOTFOUND)
        return sl_logs_error(l, LOGS_E_NOT_FOUND, "%s", c->write_err.msg);
    if (c->write_rc)
        return sl_logs_internal(l, &c->write_err);
    char token[64];
    snprintf(token, sizeof(token), "%056" PRIu64, p->a.last_seq + 1);
    json_t *out = json_pack("{s:s}", "nextSequenceToken", token);
    if (p->too_old || p->expired || p->too_new < p->n) {
        json_t *info = json_object();
        if (p->too_new < p->n)
            json_object_set_new(info, "tooNewLogEventStartIndex",
                                json_integer((json_int_t)p->too_new));
        if (p->too_old)
            json_object_set_new(info, "tooOldLogEventEndIndex",
                                json_integer((json_int_t)p->too_old));
        if (p->expired)
            json_object_set_new(info, "expiredLogEventEndIndex",
                                json_integer((json_int_t)p->expired));
        json_object_set_new(out, "rejectedLogEventsInfo", info);
    }
    return sl_call_ok(c, out);
}
