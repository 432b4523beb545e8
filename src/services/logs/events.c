/*
 * Storing events: keys, the values of new groups and streams, and the
 * append transaction shared by the sink (which creates what is missing,
 * as Lambda does) and PutLogEvents (which does not).
 */
#include "services/logs/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_logs_key(char *out, int64_t ts, uint64_t seq)
{
    if (ts < 0)
        ts = 0;
    if (ts > SL_LOGS_TS_MAX)
        ts = SL_LOGS_TS_MAX;
    struct sl_text t;
    sl_text_init(&t, out, SL_LOGS_KEY_LEN + 1);
    sl_text_u64(&t, (uint64_t)ts, SL_LOGS_TS_DIGITS);
    sl_text_u64(&t, seq % 10000000000000000ULL, SL_LOGS_SEQ_DIGITS);
}

int sl_logs_key_parse(const char *s, size_t n, int64_t *ts, uint64_t *seq)
{
    if (n != SL_LOGS_KEY_LEN)
        return SL_EINVAL;
    int64_t t = 0;
    uint64_t q = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SL_EINVAL;
        if (i < SL_LOGS_TS_DIGITS)
            t = t * 10 + (s[i] - '0');
        else
            q = q * 10 + (uint64_t)(s[i] - '0');
    }
    *ts = t;
    *seq = q;
    return 0;
}

void sl_logs_stream_pk(char *out, size_t n, const char *account, const char *region,
                       const char *group)
{
    snprintf(out, n, "%s:%s:%s", account, region, group);
}

void sl_logs_event_pk(char *out, size_t n, const char *account, const char *region,
                      const char *group, const char *stream)
{
    snprintf(out, n, "%s:%s:%s:%s", account, region, group, stream);
}

json_t *sl_logs_group_value(const char *account, const char *region, const char *group, int64_t now)
{
    char arn[SL_LOGS_ARN_MAX];
    snprintf(arn, sizeof(arn), "arn:aws:logs:%s:%s:log-group:%s:*", region, account, group);
    return json_pack("{s:I, s:s, s:I, s:I}", "creationTime", (json_int_t)now, "arn", arn,
                     "storedBytes", (json_int_t)0, "_seq", (json_int_t)0);
}

json_t *sl_logs_stream_value(const char *account, const char *region, const char *group,
                             const char *stream, int64_t now)
{
    char arn[SL_LOGS_ARN_MAX];
    snprintf(arn, sizeof(arn), "arn:aws:logs:%s:%s:log-group:%s:log-stream:%s", region, account,
             group, stream);
    return json_pack("{s:I, s:s, s:I}", "creationTime", (json_int_t)now, "arn", arn, "storedBytes",
                     (json_int_t)0);
}

/* The length of the well-formed UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return c ? 1 : 0;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

int sl_logs_json_string(struct sl_buf *b, const char *s, size_t n, bool newline)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc = sl_buf_putc(b, '"');
    size_t i = 0;
    while (!rc && i < n) {
        /* Copy the longest run that needs no escaping in one append. */
        size_t start = i;
        while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
            i++;
        if (i > start)
            rc = sl_buf_append(b, p + start, i - start);
        if (rc || i == n)
            break;
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = sl_buf_append(b, esc, 2);
            i++;
        } else if (c == '\n') {
            rc = sl_buf_append(b, "\\n", 2);
            i++;
        } else if (c == '\t') {
            rc = sl_buf_append(b, "\\t", 2);
            i++;
        } else if (c == '\r') {
            rc = sl_buf_append(b, "\\r", 2);
            i++;
        } else if (c < 0x20 && c) {
            rc = sl_buf_printf(b, "\\u%04x", c);
            i++;
        } else {
            size_t len = utf8_seq(p + i, n - i);
            if (len) {
                rc = sl_buf_append(b, p + i, len);
                i += len;
            } else {
                rc = sl_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
                i++;
            }
        }
    }
    if (!rc && newline)
        rc = sl_buf_append(b, "\\n", 2);
    if (!rc)
        rc = sl_buf_putc(b, '"');
    return rc;
}

static int64_t member_int(json_t *o, const char *name, int64_t def)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

int sl_logs_txn_get_json(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                         json_t **out)
{
    struct sl_item it;
    int rc = sl_txn_get(t, ns, pk, sk, &it);
    if (rc)
        return rc;
    *out = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    return *out ? 0 : SL_ECORRUPT;
}

int sl_logs_txn_put_json(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                         json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text)
        return SL_ENOMEM;
    int rc = sl_txn_put(t, ns, pk, sk, text, strlen(text), NULL);
    free(text);
    return rc;
}

int sl_logs_append_txn(struct sl_txn *t, struct sl_logs_append *a, struct sl_err *err)
{
    char gpk[SL_LOGS_GPK_MAX], spk[SL_LOGS_SPK_MAX], epk[SL_LOGS_EPK_MAX];
    snprintf(gpk, sizeof(gpk), "%s:%s", a->account, a->region);
    sl_logs_stream_pk(spk, sizeof(spk), a->account, a->region, a->group);
    sl_logs_event_pk(epk, sizeof(epk), a->account, a->region, a->group, a->stream);
    json_t *group = NULL, *stream = NULL;
    struct sl_buf val;
    sl_buf_init(&val, 0);
    int rc = sl_logs_txn_get_json(t, SL_LOGS_NS_GROUP, gpk, a->group, &group);
    if (rc == SL_ENOTFOUND && a->create) {
        group = sl_logs_group_value(a->account, a->region, a->group, a->now);
        rc = group ? 0 : SL_ENOMEM;
    } else if (rc == SL_ENOTFOUND) {
        rc = sl_errf(err, rc, "The specified log group does not exist.");
    }
    if (rc)
        goto out;
    rc = sl_logs_txn_get_json(t, SL_LOGS_NS_STREAM, spk, a->stream, &stream);
    if (rc == SL_ENOTFOUND && a->create) {
        stream = sl_logs_stream_value(a->account, a->region, a->group, a->stream, a->now);
        rc = stream ? 0 : SL_ENOMEM;
    } else if (rc == SL_ENOTFOUND) {
        rc = sl_errf(err, rc, "The specified log stream does not exist.");
    }
    if (rc)
        goto out;

    uint64_t seq = (uint64_t)member_int(group, "_seq", 0);
    int64_t first = member_int(stream, "firstEventTimestamp", INT64_MAX);
    int64_t last = member_int(stream, "lastEventTimestamp", INT64_MIN);
    uint64_t bytes = 0;
    for (size_t i = 0; i < a->n && !rc; i++) {
        const struct sl_logs_event *e = &a->events[i];
        char key[SL_LOGS_KEY_LEN + 1];
        sl_logs_key(key, e->ts, ++seq);
        char num[64];
        struct sl_text nt;
        sl_buf_reset(&val);
        sl_text_init(&nt, num, sizeof(num));
        sl_text_str(&nt, "{\"timestamp\":");
        sl_text_i64(&nt, e->ts);
        sl_text_str(&nt, ",\"message\":");
        rc = sl_buf_append(&val, num, nt.len);
        if (!rc)
            rc = sl_logs_json_string(&val, e->msg, e->len, a->newline);
        sl_text_init(&nt, num, sizeof(num));
        sl_text_str(&nt, ",\"ingestionTime\":");
        sl_text_i64(&nt, a->now);
        sl_text_str(&nt, "}");
        if (!rc)
            rc = sl_buf_append(&val, num, nt.len);
        /* Keys are new: the group's sequence only grows, and its events go
         * with it. */
        if (!rc)
            rc = sl_txn_insert(t, SL_LOGS_NS_EVENT, epk, key, val.data, val.len);
        first = SL_MIN(first, e->ts);
        last = SL_MAX(last, e->ts);
        bytes += e->len + (a->newline ? 1 : 0);
    }
    if (rc)
        goto out;
    if (a->n) {
        json_object_set_new(stream, "firstEventTimestamp", json_integer(first));
        json_object_set_new(stream, "lastEventTimestamp", json_integer(last));
        json_object_set_new(stream, "lastIngestionTime", json_integer(a->now));
    }
    json_object_set_new(stream, "storedBytes",
                        json_integer(member_int(stream, "storedBytes", 0) + (int64_t)bytes));
    json_object_set_new(group, "storedBytes",
                        json_integer(member_int(group, "storedBytes", 0) + (int64_t)bytes));
    json_object_set_new(group, "_seq", json_integer((json_int_t)seq));
    rc = sl_logs_txn_put_json(t, SL_LOGS_NS_STREAM, spk, a->stream, stream);
    if (!rc)
        rc = sl_logs_txn_put_json(t, SL_LOGS_NS_GROUP, gpk, a->group, group);
    a->last_seq = seq;
    a->bytes = bytes;
out:
    if (rc && !err->msg[0])
        sl_errf(err, rc, "append to %s %s: %s", a->group, a->stream, sl_strerror(rc));
    sl_buf_free(&val);
    json_decref(group);
    json_decref(stream);
    return rc;
}
