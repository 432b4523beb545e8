/*
 * Reading events: GetLogEvents (one stream, forward or backward, with
 * AWS's f/ and b/ tokens) and FilterLogEvents (a group's streams merged in
 * time order, through a filter pattern).
 */
#include "services/logs/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_SCAN_MAX 100000 /* events FilterLogEvents looks at per call */

/* An event as GetLogEvents returns it (its stored value; caller decrefs)
 * and its size as CloudWatch counts it. */
static json_t *event_out(const struct sl_item *it, size_t *size)
{
    json_t *v = json_loadb(it->val, it->val_len, 0, NULL);
    if (v)
        *size = json_string_length(json_object_get(v, "message")) + SL_LOGS_EVENT_OVERHEAD;
    return v;
}

/*
 * GetLogEvents' tokens: "f/<key>/s" reads forward from after key,
 * "b/<key>/s" backward from before it. Parses tok into *forward and key;
 * 0 or SL_EINVAL.
 */
static int parse_get_token(const char *tok, bool *forward, char *key)
{
    size_t n = strlen(tok);
    if (n < 2 + SL_LOGS_KEY_LEN || (tok[0] != 'f' && tok[0] != 'b') || tok[1] != '/')
        return SL_EINVAL;
    if (n != 2 + SL_LOGS_KEY_LEN && strcmp(tok + 2 + SL_LOGS_KEY_LEN, "/s") != 0)
        return SL_EINVAL;
    int64_t ts;
    uint64_t seq;
    if (sl_logs_key_parse(tok + 2, SL_LOGS_KEY_LEN, &ts, &seq))
        return SL_EINVAL;
    *forward = tok[0] == 'f';
    memcpy(key, tok + 2, SL_LOGS_KEY_LEN);
    key[SL_LOGS_KEY_LEN] = '\0';
    return 0;
}

/*
 * Reads up to limit events of the stream epk, forward from after cur or
 * backward from before it, that lie in [lo, hi) (keys), into events in
 * reading order; read_first and read_last get the keys of the first and
 * the last event read ("" when none). A response stays within
 * SL_LOGS_RESPONSE_MAX bytes.
 */
static int read_stream(struct sl_store *st, const char *epk, bool forward, const char *from,
                       const char *lo, const char *hi, size_t limit, json_t *events,
                       char *read_first, char *read_last)
{
    char cur[SL_LOGS_KEY_LEN + 1];
    snprintf(cur, sizeof(cur), "%s", from);
    size_t count = 0, bytes = 0;
    bool done = false;
    while (!done && count < limit) {
        size_t page = SL_MIN(limit - count, (size_t)1000);
        struct sl_item *items = NULL;
        size_t n = 0;
        int rc = forward ? sl_kv_list(st, SL_LOGS_NS_EVENT, epk, NULL, cur, page, &items, &n)
                         : sl_kv_list_desc(st, SL_LOGS_NS_EVENT, epk, NULL, cur, page, &items, &n);
        if (rc)
            return rc;
        done = n < page;
        for (size_t i = 0; i < n; i++) {
            const char *sk = items[i].sk;
            if (forward ? strcmp(sk, hi) >= 0 : strcmp(sk, lo) < 0) {
                done = true;
                break;
            }
            snprintf(cur, sizeof(cur), "%s", sk);
            size_t size = 0;
            json_t *e = event_out(&items[i], &size);
            if (!e)
                continue; /* not JSON: not an event */
            if (bytes + size > SL_LOGS_RESPONSE_MAX && count) {
                json_decref(e);
                done = true;
                break;
            }
            bytes += size;
            count++;
            json_array_append_new(events, e);
            if (!read_first[0])
                snprintf(read_first, SL_LOGS_KEY_LEN + 1, "%s", sk);
            snprintf(read_last, SL_LOGS_KEY_LEN + 1, "%s", sk);
        }
        sl_logs_items_free(items, n);
    }
    return 0;
}

/*
 * GetLogEvents: one stream's events in [startTime, endTime), the last
 * `limit` of them, or the first with startFromHead, or on from a token.
 */
SL_OP(logs, GetLogEvents)
{
    struct lgreq *l = sl_logs_req(c);
    if (!l)
        return SL_ENOMEM;
    const char *group = sl_logs_in_str(l, "logGroupName");
    const char *stream = sl_logs_in_str(l, "logStreamName");
    const char *tok = sl_logs_in_str(l, "nextToken");
    size_t limit = (size_t)sl_logs_in_int(l, "limit", SL_LOGS_EVENTS_DEFAULT);
    bool forward = json_is_true(json_object_get(l->in, "startFromHead"));
    char tkey[SL_LOGS_KEY_LEN + 1] = "";
    if (tok && parse_get_token(tok, &forward, tkey))
        return sl_logs_error(l, LOGS_E_INVALID_PARAMETER, "The specified nextToken is invalid.");
    json_t *gv = NULL;
    int rc = sl_logs_load_group(l, group, &gv);
    if (rc)
        return rc;
    int64_t floor = sl_logs_retention_floor(gv, l->now);
    json_decref(gv);
    struct sl_store *st = l->c->app->store;
    char spk[SL_LOGS_SPK_MAX], epk[SL_LOGS_EPK_MAX];
    sl_logs_stream_pk(spk, sizeof(spk), l->c->account, l->c->region, group);
    sl_logs_event_pk(epk, sizeof(epk), l->c->account, l->c->region, group, stream);
    struct sl_item sit;
    rc = sl_kv_get(st, SL_LOGS_NS_STREAM, spk, stream, &sit);
    if (rc == SL_ENOTFOUND)
        return sl_logs_error(l, LOGS_E_NOT_FOUND, "The specified log stream does not exist.");
    if (rc)
        return rc;
    sl_item_free(&sit);

    /* The time range [lo, hi) as keys: (t, 0) sorts before every event
     * of time t. Forward reading starts after the larger of lo and the
     * token, backward reading before the smaller of hi and the token. */
    char lo[SL_LOGS_KEY_LEN + 1], hi[SL_LOGS_KEY_LEN + 1];
    sl_logs_key(lo, SL_MAX(sl_logs_in_int(l, "startTime", 0), floor), 0);
    json_t *end = json_object_get(l->in, "endTime");
    if (end)
        sl_logs_key(hi, (int64_t)json_integer_value(end), 0);
    else
        sl_logs_key(hi, SL_LOGS_TS_MAX, 9999999999999999ULL);
    const char *from = forward ? (tkey[0] && strcmp(tkey, lo) > 0 ? tkey : lo)
                               : (tkey[0] && strcmp(tkey, hi) < 0 ? tkey : hi);
    json_t *events = json_array();
    char read_first[SL_LOGS_KEY_LEN + 1] = "", read_last[SL_LOGS_KEY_LEN + 1] = "";
    rc = read_stream(st, epk, forward, from, lo, hi, limit, events, read_first, read_last);
    if (rc) {
        json_decref(events);
        return rc;
    }
    size_t n = json_array_size(events);
    if (!forward) { /* read newest first: answer oldest first */
        for (size_t i = 0; i < n / 2; i++) {
            json_t *a = json_incref(json_array_get(events, i));
            json_array_set(events, i, json_array_get(events, n - 1 - i));
            json_array_set_new(events, n - 1 - i, a);
        }
    }
    /* With nothing read, the token comes back as it was: that is how a
     * client knows it reached the end. */
    char ftok[SL_LOGS_KEY_LEN + 8], btok[SL_LOGS_KEY_LEN + 8];
    if (n) {
        snprintf(ftok, sizeof(ftok), "f/%s/s", forward ? read_last : read_first);
        snprintf(btok, sizeof(btok), "b/%s/s", forward ? read_first : read_last);
    } else if (tkey[0]) {
        snprintf(ftok, sizeof(ftok), "f/%s/s", tkey);
        snprintf(btok, sizeof(btok), "b/%s/s", tkey);
    } else {
        snprintf(ftok, sizeof(ftok), "f/%s/s", lo);
        snprintf(btok, sizeof(btok), "b/%s/s", hi);
    }
    return sl_call_ok(c, json_pack("{s:o, s:s, s:s}", "events", events, "nextForwardToken",
                                   ftok, "nextBackwardToken", btok));
}

/* One stream's position in FilterLogEvents' merge. */
struct cursor {
    char *name;
    char epk[SL_LOGS_EPK_MAX];
    struct sl_item *items;
    size_t n, i;
    bool last_page; /* the page read was short: nothing after it */
};

static const char *cursor_key(const struct cursor *c)
{
    return c->items[c->i].sk;
}

/* Reads the page of c's events after `after`; c has an event unless its
 * n is 0. */
static int cursor_fill(struct sl_store *st, struct cursor *c, const char *after, size_t page)
{
    sl_logs_items_free(c->items, c->n);
    c->items = NULL;
    c->n = c->i = 0;
    int rc = sl_kv_list(st, SL_LOGS_NS_EVENT, c->epk, NULL, after, page, &c->items, &c->n);
    c->last_page = c->n < page;
    return rc;
}

/* Moves c to its next event; *has tells whether there is one. */
static int cursor_advance(struct sl_store *st, struct cursor *c, size_t page, bool *has)
{
    *has = true;
    if (c->i + 1 < c->n) {
        c->i++;
        return 0;
    }
    if (c->last_page) {
        *has = false;
        return 0;
    }
    char after[SL_LOGS_KEY_LEN + 1];
    snprintf(after, sizeof(after), "%s", c->items[c->n - 1].sk);
    int rc = cursor_fill(st, c, after, page);
    *has = c->n > 0;
    return rc;
}

/* A binary min-heap of cursors by their current event's key. */
static void heap_down(struct cursor **h, size_t n, size_t i)
{
    for (;;) {
        size_t m = i, a = 2 * i + 1, b = a + 1;
        if (a < n && strcmp(cursor_key(h[a]), cursor_key(h[m])) < 0)
            m = a;
        if (b < n && strcmp(cursor_key(h[b]), cursor_key(h[m])) < 0)
            m = b;
        if (m == i)
            return;
        struct cursor *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Whether a stream's events may fall in [start, end]. */
static bool stream_in_range(const struct sl_item *it, int64_t start, int64_t end)
{
    json_t *v = json_loadb(it->val, it->val_len, 0, NULL);
    int64_t first = sl_logs_json_int(v, "firstEventTimestamp", -1);
    int64_t last = sl_logs_json_int(v, "lastEventTimestamp", -1);
    json_decref(v);
    return first >= 0 && last >= start && first <= end;
}

/*
 * The streams FilterLogEvents searches: those named, or those with the
 * prefix, whose events may fall in [start, end]. *out is malloc'd.
 */
static int filter_streams(struct lgreq *l, const char *group, int64_t start, int64_t end,
                          struct cursor **out, size_t *count)
{
    struct sl_store *st = l->c->app->store;
    char spk[SL_LOGS_SPK_MAX];
    sl_logs_stream_pk(spk, sizeof(spk), l->c->account, l->c->region, group);
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = 0;
    json_t *names = json_object_get(l->in, "logStreamNames");
    if (names) {
        items = calloc(json_array_size(names) + 1, sizeof(*items));
        if (!items)
            return SL_ENOMEM;
        size_t i;
        json_t *name;
        json_array_foreach(names, i, name)
        {
            rc = sl_kv_get(st, SL_LOGS_NS_STREAM, spk, json_string_value(name), &items[n]);
            if (rc == SL_ENOTFOUND) /* a stream that does not exist has no events */
                rc = 0;
            else if (!rc)
                n++;
            if (rc)
                break;
        }
    } else {
        rc = sl_logs_list_all(st, SL_LOGS_NS_STREAM, spk, sl_logs_in_str(l, "logStreamNamePrefix"),
                              &items, &n);
    }
    struct cursor *v = rc ? NULL : calloc(n ? n : 1, sizeof(*v));
    size_t k = 0;
    if (!rc && !v)
        rc = SL_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        if (!stream_in_range(&items[i], start, end))
            continue;
        v[k].name = strdup(items[i].sk);
        if (!v[k].name) {
            rc = SL_ENOMEM;
            break;
        }
        sl_logs_event_pk(v[k].epk, sizeof(v[k].epk), l->c->account, l->c->region, group,
                         items[i].sk);
        k++;
    }
    sl_logs_items_free(items, n);
    if (rc) {
        for (size_t i = 0; i < k; i++)
            free(v[i].name);
        free(v);
        return rc;
    }
    *out = v;
    *count = k;
    return 0;
}

/*
 * Merges the streams of cs (events after `after`, before hi) in key
 * order, through filter, into events: at most limit events and
 * SL_LOGS_RESPONSE_MAX bytes, looking at no more than FILTER_SCAN_MAX
 * events. *more tells whether events remain, last is the key of the last
 * event looked at.
 */
static int merge(struct sl_store *st, struct cursor *cs, size_t ncs, const char *after,
                 const char *hi, const struct sl_logs_filter *filter, size_t limit, json_t *events,
                 bool *more, char *last)
{
    *more = false;
    struct cursor **heap = calloc(ncs ? ncs : 1, sizeof(*heap));
    if (!heap)
        return SL_ENOMEM;
    size_t page = ncs ? SL_MAX((size_t)8, SL_MIN((size_t)256, 4096 / ncs)) : 8;
    size_t nheap = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < ncs; i++) {
        rc = cursor_fill(st, &cs[i], after, page);
        if (!rc && cs[i].n)
            heap[nheap++] = &cs[i];
    }
    for (size_t i = nheap / 2; i-- > 0;)
        heap_down(heap, nheap, i);
    size_t count = 0, bytes = 0, scanned = 0;
    while (!rc && nheap) {
        struct cursor *c = heap[0];
        const struct sl_item *it = &c->items[c->i];
        bool has = strcmp(it->sk, hi) < 0;
        if (has) {
            if (count == limit || scanned == FILTER_SCAN_MAX) {
                *more = true;
                break;
            }
            json_t *v = json_loadb(it->val, it->val_len, 0, NULL);
            json_t *msg = json_object_get(v, "message");
            bool match = json_is_string(msg) && sl_logs_filter_match(filter, json_string_value(msg),
                                                                     json_string_length(msg));
            size_t size = json_string_length(msg) + SL_LOGS_EVENT_OVERHEAD;
            if (match && count && bytes + size > SL_LOGS_RESPONSE_MAX) {
                json_decref(v);
                *more = true;
                break;
            }
            scanned++;
            snprintf(last, SL_LOGS_KEY_LEN + 1, "%s", it->sk);
            if (match) {
                json_object_set_new(v, "logStreamName", json_string(c->name));
                json_object_set_new(v, "eventId", json_string(it->sk));
                json_array_append(events, v);
                count++;
                bytes += size;
            }
            json_decref(v);
            rc = cursor_advance(st, c, page, &has);
        }
        if (!has) /* this stream is done in the range: drop it from the heap */
            heap[0] = heap[--nheap];
        heap_down(heap, nheap, 0);
    }
    free(heap);
    return rc;
}

/*
 * FilterLogEvents: the events of the group's streams in [startTime,
 * endTime] that match the pattern, interleaved in (timestamp, arrival)
 * order by merging the streams' key ranges. The nextToken is the key of
 * the last event looked at; a call may answer an empty page with a
 * nextToken, as AWS does, when it looked at many events and none matched.
 */
static int filter_events(struct lgreq *l, const struct sl_logs_filter *filter, const char *resume)
{
    const char *group = sl_logs_in_str(l, "logGroupName");
    json_t *gv = NULL;
    int rc = sl_logs_load_group(l, group, &gv);
    if (rc)
        return rc;
    int64_t floor = sl_logs_retention_floor(gv, l->now);
    json_decref(gv);
    int64_t start = SL_MAX(sl_logs_in_int(l, "startTime", 0), floor);
    int64_t end = SL_MIN(sl_logs_in_int(l, "endTime", SL_LOGS_TS_MAX), SL_LOGS_TS_MAX - 1);
    size_t limit = (size_t)sl_logs_in_int(l, "limit", SL_LOGS_EVENTS_DEFAULT);
    char lo[SL_LOGS_KEY_LEN + 1], hi[SL_LOGS_KEY_LEN + 1];
    sl_logs_key(lo, start, 0);
    sl_logs_key(hi, end + 1, 0); /* endTime is inclusive here */
    const char *after = resume && strcmp(resume, lo) > 0 ? resume : lo;

    struct cursor *cs = NULL;
    size_t ncs = 0;
    json_t *events = json_array(), *searched = json_array();
    bool more = false;
    char last[SL_LOGS_KEY_LEN + 1] = "";
    rc = filter_streams(l, group, start, end, &cs, &ncs);
    if (!rc)
        rc = merge(l->c->app->store, cs, ncs, after, hi, filter, limit, events, &more, last);
    char *next = !rc && more ? sl_logs_token_make('e', last) : NULL;
    if (!rc && more && !next)
        rc = SL_ENOMEM;
    if (!rc) {
        for (size_t i = 0; i < ncs; i++)
            json_array_append_new(searched, json_pack("{s:s, s:b}", "logStreamName", cs[i].name,
                                                      "searchedCompletely", !more));
        json_t *out = json_pack("{s:O, s:O}", "events", events, "searchedLogStreams", searched);
        if (next)
            json_object_set_new(out, "nextToken", json_string(next));
        sl_call_ok(l->c, out);
    }
    free(next);
    for (size_t i = 0; i < ncs; i++) {
        free(cs[i].name);
        sl_logs_items_free(cs[i].items, cs[i].n);
    }
    free(cs);
    json_decref(events);
    json_decref(searched);
    return rc;
}

SL_OP(logs, FilterLogEvents)
{
    struct lgreq *l = sl_logs_req(c);
    if (!l)
        return SL_ENOMEM;
    if (json_object_get(l->in, "logStreamNames") && sl_logs_in_str(l, "logStreamNamePrefix"))
        return sl_logs_error(l, LOGS_E_INVALID_PARAMETER,
                             "logStreamNames and logStreamNamePrefix are mutually exclusive "
                             "parameters.");
    const char *pattern = sl_logs_in_str(l, "filterPattern");
    struct sl_logs_filter *filter = NULL;
    struct sl_err err = {0};
    int rc =
        sl_logs_filter_parse(pattern ? pattern : "", pattern ? strlen(pattern) : 0, &filter, &err);
    if (rc == SL_EINVAL)
        return sl_logs_error(l, LOGS_E_INVALID_PARAMETER, "%s", err.msg);
    if (rc)
        return sl_logs_internal(l, &err);
    char *resume = NULL;
    int64_t ts;
    uint64_t seq;
    rc = sl_logs_token_read(l, 'e', &resume);
    if (!rc && resume && sl_logs_key_parse(resume, strlen(resume), &ts, &seq))
        rc = sl_logs_error(l, LOGS_E_INVALID_PARAMETER, "The specified nextToken is invalid.");
    else if (!rc)
        rc = filter_events(l, filter, resume);
    free(resume);
    sl_logs_filter_free(filter);
    return rc;
}
