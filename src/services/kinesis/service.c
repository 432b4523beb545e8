/*
 * Kinesis's row of the service table, and what its operations share: the
 * 128-bit hash key space, stream records, sequence numbers and iterators.
 */
#include "services/kinesis/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct sl_aws_error sl_kinesis_errors[] = {KINESIS_ERRORS(SL_ERROR_ROW)};

/* ---- the hash key space ----------------------------------------------- */

void kinesis_u128_text(sl_u128 v, char out[41])
{
    char tmp[41];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

bool kinesis_u128_parse(const char *s, sl_u128 *out)
{
    sl_u128 v = 0;
    const sl_u128 max = ~(sl_u128)0;
    if (!s || !*s || strlen(s) > 39 || (s[0] == '0' && s[1]))
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

sl_u128 kinesis_hash_key(const char *key, size_t n)
{
    uint8_t d[SL_MD5_LEN];
    sl_md5(key, n, d);
    sl_u128 v = 0;
    for (size_t i = 0; i < sizeof(d); i++)
        v = v << 8 | d[i];
    return v;
}

void kinesis_even_range(unsigned i, unsigned n, sl_u128 *start, sl_u128 *end)
{
    /* 2^128 = n * q + r, in 128 bits: floor(i * 2^128 / n) = i * q +
     * floor(i * r / n). */
    const sl_u128 max = ~(sl_u128)0;
    sl_u128 q = max / n, r = max % n + 1;
    if (r == n) {
        q++;
        r = 0;
    }
    *start = (sl_u128)i * q + (sl_u128)i * r / n;
    *end = i + 1 == n ? max : (sl_u128)(i + 1) * q + (sl_u128)(i + 1) * r / n - 1;
}

/* ---- streams ---------------------------------------------------------- */

void kinesis_pk(char *out, size_t n, const char *account, const char *region)
{
    snprintf(out, n, "%s/%s", account, region);
}

void kinesis_stream_clear(struct kinesis_stream *s)
{
    json_decref(s->rec);
    free(s->shards);
    memset(s, 0, sizeof(*s));
}

int kinesis_stream_parse(json_t *rec, struct kinesis_stream *s)
{
    memset(s, 0, sizeof(*s));
    s->rec = rec;
    s->id = json_string_value(json_object_get(rec, "id"));
    s->name = json_string_value(json_object_get(rec, "name"));
    const char *account = json_string_value(json_object_get(rec, "account"));
    const char *region = json_string_value(json_object_get(rec, "region"));
    json_t *shards = json_object_get(rec, "shards");
    if (!s->id || !s->name || !account || !region || !json_is_array(shards)) {
        kinesis_stream_clear(s);
        return SL_ECORRUPT;
    }
    sl_strlcpy(s->account, account, sizeof(s->account));
    sl_strlcpy(s->region, region, sizeof(s->region));
    kinesis_pk(s->pk, sizeof(s->pk), account, region);
    snprintf(s->arn, sizeof(s->arn), "arn:aws:kinesis:%s:%s:stream/%s", region, account, s->name);
    s->retention_h = json_integer_value(json_object_get(rec, "retention"));
    s->shards = calloc(json_array_size(shards) + 1, sizeof(*s->shards));
    if (!s->shards) {
        kinesis_stream_clear(s);
        return SL_ENOMEM;
    }
    size_t i;
    json_t *sh;
    json_array_foreach(shards, i, sh)
    {
        struct kinesis_shard *k = &s->shards[s->nshards];
        k->n = (unsigned)json_integer_value(json_object_get(sh, "n"));
        k->closed = json_is_true(json_object_get(sh, "closed"));
        k->last = (uint64_t)json_integer_value(json_object_get(sh, "last"));
        size_t pi;
        json_t *pv;
        json_array_foreach(json_object_get(sh, "parents"), pi, pv)
            if (k->nparents < KINESIS_PARENTS_MAX)
                k->parents[k->nparents++] = (unsigned)json_integer_value(pv);
        if (!kinesis_u128_parse(json_string_value(json_object_get(sh, "start")), &k->start) ||
            !kinesis_u128_parse(json_string_value(json_object_get(sh, "end")), &k->end)) {
            kinesis_stream_clear(s);
            return SL_ECORRUPT;
        }
        s->nshards++;
    }
    return 0;
}

static int from_item(struct sl_item *it, struct kinesis_stream *s)
{
    json_t *rec = json_loadb(it->val, it->val_len, 0, NULL);
    sl_item_free(it);
    return rec ? kinesis_stream_parse(rec, s) : SL_ECORRUPT;
}

int kinesis_stream_read_txn(struct sl_txn *t, const char *pk, const char *name,
                            struct kinesis_stream *s)
{
    struct sl_item it;
    int rc = sl_txn_get(t, KINESIS_NS_STREAM, pk, name, &it);
    return rc ? rc : from_item(&it, s);
}

int kinesis_fail_no_stream(struct sl_call *c, const char *name)
{
    return sl_call_fail(c, KINESIS_E_NOT_FOUND, "Stream %s under account %s not found.",
                        name ? name : "", c->account);
}

const char *kinesis_stream_name(struct sl_call *c)
{
    const char *name = json_string_value(json_object_get(c->in, "StreamName"));
    const char *arn = json_string_value(json_object_get(c->in, "StreamARN"));
    if (!name && arn) {
        const char *slash = strstr(arn, ":stream/");
        name = slash ? slash + strlen(":stream/") : NULL;
    }
    return name;
}

int kinesis_call_stream(struct sl_call *c, struct kinesis_stream *s)
{
    const char *name = kinesis_stream_name(c);
    if (!name)
        return sl_call_fail(c, KINESIS_E_INVALID,
                            "Either StreamName or StreamARN should be provided.");
    char pk[96];
    kinesis_pk(pk, sizeof(pk), c->account, c->region);
    struct sl_item it;
    int rc = sl_kv_get(c->app->store, KINESIS_NS_STREAM, pk, name, &it);
    if (rc == SL_ENOTFOUND)
        return kinesis_fail_no_stream(c, name);
    if (!rc)
        rc = from_item(&it, s);
    if (rc)
        return sl_call_internal(c, rc, NULL);
    return 0;
}

const struct kinesis_shard *kinesis_shard_for(const struct kinesis_stream *s, sl_u128 key)
{
    for (size_t i = 0; i < s->nshards; i++)
        if (!s->shards[i].closed && key >= s->shards[i].start && key <= s->shards[i].end)
            return &s->shards[i];
    return NULL;
}

void kinesis_shard_id(unsigned n, char out[32])
{
    *kinesis_shard_id_put(out, n) = '\0';
}

const struct kinesis_shard *kinesis_shard_by_id(const struct kinesis_stream *s, const char *id)
{
    char want[32];
    for (size_t i = 0; id && i < s->nshards; i++) {
        kinesis_shard_id(s->shards[i].n, want);
        if (strcmp(want, id) == 0)
            return &s->shards[i];
    }
    return NULL;
}

/* ---- sequence numbers and iterators ------------------------------------ */

/* v in exactly width digits (zero-padded, the low ones if it has more). */
static char *put_digits(char *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + (int)(v % 10));
    return p + width;
}

char *kinesis_seq_put(char *p, unsigned shard, uint64_t seq)
{
    *p++ = '4';
    *p++ = '9';
    p = put_digits(p, shard, 12);
    return put_digits(p, seq, 20);
}

char *kinesis_shard_id_put(char *p, unsigned n)
{
    memcpy(p, "shardId-", 8);
    return put_digits(p + 8, n, 12);
}

void kinesis_seq_text(unsigned shard, uint64_t seq, char out[48])
{
    *kinesis_seq_put(out, shard, seq) = '\0';
}

bool kinesis_seq_parse(const char *s, unsigned *shard, uint64_t *seq)
{
    if (!s || strlen(s) != 34 || strncmp(s, "49", 2) != 0)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    char part[24];
    memcpy(part, s + 2, 12);
    part[12] = '\0';
    *shard = (unsigned)strtoul(part, NULL, 10);
    *seq = strtoull(s + 14, NULL, 10);
    return true;
}

void kinesis_iterator_text(const struct kinesis_iterator *it, struct sl_buf *out)
{
    char text[512];
    int n = snprintf(text, sizeof(text), "1|%s|%s|%s|%s|%u|%llu|%lld", it->account, it->region,
                     it->name, it->id, it->shard, (unsigned long long)it->seq,
                     (long long)it->made_ms);
    sl_base64_encode(out, (const uint8_t *)text, (size_t)n);
}

bool kinesis_iterator_parse(const char *b64, struct kinesis_iterator *it)
{
    uint8_t raw[512];
    size_t n = 0;
    if (!b64 || sl_base64_decode(b64, strlen(b64), raw, sizeof(raw) - 1, &n))
        return false;
    raw[n] = '\0';
    memset(it, 0, sizeof(*it));
    unsigned long long seq;
    long long made;
    int used = 0;
    if (sscanf((const char *)raw, "1|%15[0-9]|%63[a-z0-9-]|%128[a-zA-Z0-9_.-]|%63[a-z0-9:-]|%u|%llu|%lld%n",
               it->account, it->region, it->name, it->id, &it->shard, &seq, &made, &used) != 7 ||
        (size_t)used != n)
        return false;
    it->seq = seq;
    it->made_ms = made;
    return true;
}

SL_SERVICE_TABLES(kinesis);

static const struct sl_option options[] = {
    {"--kinesis-no-throughput-limits", "SLUICE_KINESIS_NO_THROUGHPUT_LIMITS", NULL,
     "let provisioned streams' shards take and give any rate (AWS limits each shard to 1,000 "
     "records and 1 MiB written, 5 reads and 2 MiB read a second)",
     true},
    {NULL, NULL, NULL, NULL, false},
};

static const struct sl_target_kind targets[] = {
    {"kinesis", kinesis_target_check, kinesis_target_deliver},
    {NULL, NULL, NULL},
};

const struct sl_service sl_service_kinesis = {
    .name = "kinesis",
    .model = &sl_model_kinesis,
    .handlers = sl_kinesis_handlers,
    .errors = sl_kinesis_errors,
    .e_internal = KINESIS_E_INTERNAL,
    .e_validation = KINESIS_E_VALIDATION,
    .e_serialization = KINESIS_E_SERIALIZATION,
    .e_too_big = KINESIS_E_TOO_BIG,
    /* 500 records of 1 MB in base64 make a bit over 5 MB's worth. */
    .body_cap = 8 * 1024 * 1024,
    .fast = kinesis_fast,
    .new = kinesis_state_new,
    .free = kinesis_state_free,
    .metrics = kinesis_metrics,
    .options = options,
    .targets = targets,
};
