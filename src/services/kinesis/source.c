/*
 * A Kinesis stream as the source of an event source mapping (kinesis.h,
 * engine/stream.h): what the stream is now, its records as Lambda's
 * Kinesis event renders them, and the mapping's filters matched against
 * each record with its data parsed when it is JSON.
 */
#include "services/kinesis/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_kinesis_source {
    /* What ends each record of the event, after its sequence number:
     * eventName, the role, the region and the stream's ARN, as JSON. */
    char *tail;
    size_t tail_len;
    struct sl_app *app;
    struct kinesis *k; /* the service's state, for its counts */
    char pk[96], name[129], region[64];
    char arn[320];       /* the stream's */
    char role_arn[256];  /* the function's role: invokeIdentityArn */
    struct sl_pattern *const *filters;
    size_t nfilters;
};

/* The parts of arn:aws:kinesis:<region>:<account>:stream/<name>. */
static bool parse_arn(const char *arn, char *region, size_t rn, char *account, size_t an,
                      char *name, size_t nn)
{
    static const char prefix[] = "arn:aws:kinesis:";
    if (!arn || strncmp(arn, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *r = arn + sizeof(prefix) - 1;
    const char *a = strchr(r, ':');
    const char *s = a ? strchr(a + 1, ':') : NULL;
    if (!a || !s || a == r || s == a + 1 || (size_t)(a - r) >= rn || (size_t)(s - a - 1) >= an ||
        strncmp(s + 1, "stream/", 7) != 0)
        return false;
    const char *n = s + 8;
    size_t len = strlen(n);
    if (!len || len >= nn || strchr(n, '/') || strchr(n, ':'))
        return false; /* (a consumer's ARN: .../stream/s/consumer/c:1) */
    memcpy(region, r, (size_t)(a - r));
    region[a - r] = '\0';
    memcpy(account, a + 1, (size_t)(s - a - 1));
    account[s - a - 1] = '\0';
    memcpy(name, n, len + 1);
    return true;
}

/* s as a JSON string. */
static int put_str(struct sl_buf *b, const char *s, size_t n)
{
    int rc = sl_buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; !rc && i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : 0;
        if (i < n && c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = sl_buf_append(b, s + run, i - run);
        run = i + 1;
        if (!rc && i < n)
            rc = c == '"' || c == '\\' ? sl_buf_printf(b, "\\%c", c) : sl_buf_printf(b, "\\u%04x", c);
    }
    return rc ? rc : sl_buf_putc(b, '"');
}

int sl_kinesis_stream_check(struct sl_app *app, const char *arn)
{
    char region[64], account[16], name[129], pk[96];
    if (!parse_arn(arn, region, sizeof(region), account, sizeof(account), name, sizeof(name)))
        return SL_EINVAL;
    kinesis_pk(pk, sizeof(pk), account, region);
    struct sl_item it;
    int rc = sl_kv_get(app->store, KINESIS_NS_STREAM, pk, name, &it);
    if (!rc)
        sl_item_free(&it);
    return rc;
}

int sl_kinesis_source_new(struct sl_app *app, const char *arn, const char *role_arn,
                          struct sl_pattern *const *filters, size_t nfilters,
                          struct sl_kinesis_source **out, struct sl_err *err)
{
    struct sl_kinesis_source *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    char account[16];
    if (!parse_arn(arn, s->region, sizeof(s->region), account, sizeof(account), s->name,
                   sizeof(s->name))) {
        free(s);
        return sl_errf(err, SL_EINVAL, "%s is not a Kinesis stream's ARN", arn ? arn : "");
    }
    s->app = app;
    s->k = sl_app_state(app, &sl_service_kinesis);
    kinesis_pk(s->pk, sizeof(s->pk), account, s->region);
    snprintf(s->arn, sizeof(s->arn), "arn:aws:kinesis:%s:%s:stream/%s", s->region, account,
             s->name);
    sl_strlcpy(s->role_arn, role_arn ? role_arn : "", sizeof(s->role_arn));
    s->filters = filters;
    s->nfilters = nfilters;
    struct sl_buf t;
    sl_buf_init(&t, 0);
    int rc = sl_buf_puts(&t, "\",\"eventName\":\"aws:kinesis:record\",\"invokeIdentityArn\":");
    if (!rc)
        rc = put_str(&t, s->role_arn, strlen(s->role_arn));
    if (!rc)
        rc = sl_buf_puts(&t, ",\"awsRegion\":");
    if (!rc)
        rc = put_str(&t, s->region, strlen(s->region));
    if (!rc)
        rc = sl_buf_puts(&t, ",\"eventSourceARN\":");
    if (!rc)
        rc = put_str(&t, s->arn, strlen(s->arn));
    if (!rc)
        rc = sl_buf_putc(&t, '}');
    if (rc) {
        sl_buf_free(&t);
        free(s);
        return sl_errf(err, rc, "out of memory");
    }
    s->tail = sl_buf_steal(&t, &s->tail_len);
    *out = s;
    return 0;
}

void sl_kinesis_source_free(struct sl_kinesis_source *s)
{
    if (s)
        free(s->tail);
    free(s);
}

const char *sl_kinesis_source_arn(const struct sl_kinesis_source *s)
{
    return s->arn;
}

static int describe(void *ctx, struct sl_stream_desc *out)
{
    struct sl_kinesis_source *s = ctx;
    struct sl_item it;
    int rc = sl_kv_get(s->app->store, KINESIS_NS_STREAM, s->pk, s->name, &it);
    if (rc)
        return rc;
    json_t *rec = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    struct kinesis_stream ks;
    if (!rec || (rc = kinesis_stream_parse(rec, &ks)) != 0)
        return rec ? rc : SL_ECORRUPT; /* (parse took rec) */
    memset(out, 0, sizeof(*out));
    out->shards = calloc(ks.nshards ? ks.nshards : 1, sizeof(*out->shards));
    if (!out->shards) {
        kinesis_stream_clear(&ks);
        return SL_ENOMEM;
    }
    sl_strlcpy(out->log, ks.id, sizeof(out->log));
    out->retention_ms = ks.retention_h * 3600 * 1000;
    for (size_t i = 0; i < ks.nshards; i++) {
        const struct kinesis_shard *k = &ks.shards[i];
        struct sl_stream_shard_desc *d = &out->shards[out->nshards++];
        d->n = k->n;
        kinesis_shard_id(k->n, d->id);
        d->closed = k->closed;
        d->last = k->last;
        for (size_t p = 0; p < k->nparents && p < SL_STREAM_PARENTS_MAX; p++)
            d->parents[d->nparents++] = k->parents[p];
    }
    kinesis_stream_clear(&ks);
    return 0;
}

static char *put_lit(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define PUT_LIT(p, s) put_lit((p), (s), sizeof(s) - 1)

static char *put_uint(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* s (n bytes) as a JSON string: at most 6 n + 2 bytes. */
static char *put_json(char *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            p = PUT_LIT(p, "\\u00");
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        } else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    return p;
}

/* The record as Lambda's Kinesis event has it: written straight into the
 * buffer, as a batch renders thousands of them. */
static int record(void *ctx, const struct sl_stream_shard_desc *shard,
                  const struct sl_log_record *r, struct sl_buf *out)
{
    struct sl_kinesis_source *s = ctx;
    static const char head[] = "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":";
    size_t id_len = strlen(shard->id);
    size_t need = sizeof(head) + 6 * r->key_len + 2 + 64 + 4 * ((r->data_len + 2) / 3) + 64 +
                  96 + id_len + 40 + s->tail_len;
    char *p = sl_buf_extend(out, need);
    if (!p)
        return SL_ENOMEM;
    p = PUT_LIT(p, head);
    p = put_json(p, r->key, r->key_len);
    p = PUT_LIT(p, ",\"sequenceNumber\":\"");
    char *seq = p;
    p = kinesis_seq_put(p, shard->n, r->seq);
    size_t seq_len = (size_t)(p - seq);
    p = PUT_LIT(p, "\",\"data\":\"");
    p += sl_base64_encode_to(p, (const uint8_t *)r->data, r->data_len);
    p = PUT_LIT(p, "\",\"approximateArrivalTimestamp\":");
    int64_t ts = r->ts_ms > 0 ? r->ts_ms : 0;
    p = put_uint(p, (uint64_t)(ts / 1000));
    *p++ = '.';
    *p++ = (char)('0' + (int)(ts % 1000 / 100));
    *p++ = (char)('0' + (int)(ts % 100 / 10));
    *p++ = (char)('0' + (int)(ts % 10));
    p = PUT_LIT(p, "},\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\"eventID\":\"");
    p = put_lit(p, shard->id, id_len);
    *p++ = ':';
    p = put_lit(p, seq, seq_len);
    p = put_lit(p, s->tail, s->tail_len);
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* A record matches a filter as Lambda matches Kinesis records: the
 * record's kinesis object (partitionKey, sequenceNumber, data...) with its
 * data parsed when it is JSON; data that is not stays base64 text, which
 * a pattern into "data" as an object never matches. */
static bool pass(void *ctx, const struct sl_stream_shard_desc *shard,
                 const struct sl_log_record *r)
{
    struct sl_kinesis_source *s = ctx;
    if (!s->nfilters)
        return true;
    struct sl_buf b;
    sl_buf_init(&b, 0);
    json_t *rec = NULL;
    if (record(ctx, shard, r, &b) == 0)
        rec = json_loadb(b.data, b.len, 0, NULL);
    sl_buf_free(&b);
    json_t *k = json_object_get(rec, "kinesis");
    if (!k) {
        json_decref(rec);
        return true; /* (it goes to the function: nothing is lost) */
    }
    json_t *data = json_loadb(r->data, r->data_len, JSON_DECODE_ANY, NULL);
    if (data)
        json_object_set_new(k, "data", data);
    bool ok = false;
    for (size_t i = 0; i < s->nfilters && !ok; i++)
        ok = sl_pattern_match(s->filters[i], k);
    json_decref(rec);
    return ok;
}

static void delivered(void *ctx, size_t n)
{
    struct sl_kinesis_source *s = ctx;
    if (s->k)
        kinesis_count_out(s->k, s->pk, s->name, s->arn, n);
}

static void seq_text(void *ctx, uint32_t shard, uint64_t seq, char *out, size_t n)
{
    (void)ctx;
    char text[48];
    kinesis_seq_text(shard, seq, text);
    sl_strlcpy(out, text, n);
}

static bool seq_parse(void *ctx, const char *text, uint32_t *shard, uint64_t *seq)
{
    (void)ctx;
    unsigned n;
    if (!kinesis_seq_parse(text, &n, seq))
        return false;
    *shard = n;
    return true;
}

const struct sl_stream_ops sl_kinesis_stream_ops = {
    .describe = describe,
    .record = record,
    .pass = pass,
    .seq_text = seq_text,
    .seq_parse = seq_parse,
    .delivered = delivered,
    .batch_info = "KinesisBatchInfo",
};

/* ---- streams as targets (engine/targets.h) -------------------------------- */

int kinesis_target_check(void *ctx, const char *arn, const char *principal,
                         const char *source_arn, const char *source_account)
{
    (void)principal;
    (void)source_arn;
    (void)source_account;
    struct kinesis *k = ctx;
    return sl_kinesis_stream_check(k->app, arn);
}

/* A payload for a stream: one record (an EventBridge rule's event), its
 * partition key the source's or a fresh one, appended in the deliverer's
 * transaction (not counted against the shard's write limit: a service's
 * delivery is not refused). */
int kinesis_target_deliver(void *ctx, struct sl_txn *t, const char *arn, const char *payload,
                           size_t len, const struct sl_target_source *src)
{
    (void)ctx;
    char region[64], account[16], name[129], pk[96];
    if (!parse_arn(arn, region, sizeof(region), account, sizeof(account), name, sizeof(name)))
        return 0;
    kinesis_pk(pk, sizeof(pk), account, region);
    struct kinesis_stream s;
    int rc = kinesis_stream_read_txn(t, pk, name, &s);
    if (rc == SL_ENOTFOUND) {
        sl_warn("kinesis", "%s: no stream to deliver to; record dropped", arn);
        if (src && src->missing)
            *src->missing = 1;
        return 0;
    }
    if (rc)
        return rc;
    char fresh[40];
    const char *key = src && src->partition_key && *src->partition_key ? src->partition_key
                                                                         : NULL;
    if (!key) {
        sl_uuid(fresh);
        key = fresh;
    }
    /* (At most 256 characters, cut between two of them.) */
    size_t key_len = 0;
    for (unsigned chars = 0; key[key_len] && chars < 256; chars++)
        do
            key_len++;
        while (((unsigned char)key[key_len] & 0xC0) == 0x80);
    const struct kinesis_shard *sh = kinesis_shard_for(&s, kinesis_hash_key(key, key_len));
    int64_t now = sl_time_now_ms();
    rc = sh ? sl_txn_log_append(t, s.id, sh->n, now, key, key_len, payload, len, NULL)
            : SL_ECORRUPT;
    if (!rc && sh)
        rc = sl_txn_log_trim(t, s.id, sh->n, now - s.retention_h * 3600 * 1000, 2, NULL);
    kinesis_stream_clear(&s);
    return rc;
}
