/*
 * Kinesis's state: each stream's records in and out (totals, and the last
 * whole second's, for /_sluice/metrics), and the per-shard throughput
 * limits of provisioned streams, as AWS sets them: writes 1,000 records
 * and 1 MiB a second, reads five GetRecords calls and 2 MiB a second.
 * Each is a token bucket holding one second's worth; a read may take more
 * bytes than are left, and the calls after it wait until the debt is paid,
 * as AWS's do after a 10 MB read. On-demand streams are not limited.
 */
#include "services/kinesis/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITE_RECORDS 1000.0
#define WRITE_BYTES (1024.0 * 1024.0)
#define READ_CALLS 5.0
#define READ_BYTES (2.0 * 1024.0 * 1024.0)

struct bucket {
    double tokens;
    int64_t at_ms; /* when tokens was last brought up to date, monotonic (0: full) */
};

struct shard_limits {
    unsigned n;
    struct bucket wrec, wbytes, reads, rbytes;
};

/* A count with the last whole second's share. */
struct rate {
    uint64_t total;
    int64_t sec;
    uint64_t cur, last;
};

struct kinesis_stats {
    char pk[96], name[129], arn[320];
    struct rate in, out;
    uint64_t in_bytes, throttled;
    struct shard_limits *shards;
    size_t nshards;
    struct kinesis_stats *next;
};

int kinesis_state_new(struct sl_app *app, void **out, struct sl_err *err)
{
    struct kinesis *k = calloc(1, sizeof(*k));
    if (!k)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    k->app = app;
    k->limits = !sl_app_option(app, "--kinesis-no-throughput-limits");
    pthread_mutex_init(&k->mu, NULL);
    *out = k;
    return 0;
}

void kinesis_state_free(void *state)
{
    struct kinesis *k = state;
    if (!k)
        return;
    while (k->streams) {
        struct kinesis_stats *st = k->streams;
        k->streams = st->next;
        free(st->shards);
        free(st);
    }
    pthread_mutex_destroy(&k->mu);
    free(k);
}

static void rate_add(struct rate *r, uint64_t n, int64_t now_ms)
{
    int64_t sec = now_ms / 1000;
    if (sec != r->sec) {
        r->last = sec == r->sec + 1 ? r->cur : 0;
        r->cur = 0;
        r->sec = sec;
    }
    r->cur += n;
    r->total += n;
}

static uint64_t rate_last(const struct rate *r, int64_t now_ms)
{
    int64_t sec = now_ms / 1000;
    return sec == r->sec ? r->last : sec == r->sec + 1 ? r->cur : 0;
}

/* Brings a bucket refilled at per_s a second, holding one second's
 * worth, up to now. */
static void refill(struct bucket *b, double per_s, int64_t now_ms)
{
    if (!b->at_ms) {
        b->tokens = per_s;
        b->at_ms = now_ms;
    }
    b->tokens += (double)(now_ms - b->at_ms) * per_s / 1000.0;
    if (b->tokens > per_s)
        b->tokens = per_s;
    b->at_ms = now_ms;
}

/* Takes n tokens; false when there are not enough (nothing taken). More
 * than a second's worth goes when the bucket is full, into debt. */
static bool take(struct bucket *b, double per_s, double n, int64_t now_ms)
{
    refill(b, per_s, now_ms);
    if (b->tokens < (n < per_s ? n : per_s))
        return false;
    b->tokens -= n;
    return true;
}

/* s's entry, made when new (k->mu held): NULL when out of memory. */
static struct kinesis_stats *stats_of(struct kinesis *k, const char *pk, const char *name,
                                      const char *arn)
{
    for (struct kinesis_stats *st = k->streams; st; st = st->next)
        if (strcmp(st->name, name) == 0 && strcmp(st->pk, pk) == 0)
            return st;
    struct kinesis_stats *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    sl_strlcpy(st->pk, pk, sizeof(st->pk));
    sl_strlcpy(st->name, name, sizeof(st->name));
    sl_strlcpy(st->arn, arn, sizeof(st->arn));
    st->next = k->streams;
    k->streams = st;
    return st;
}

static struct shard_limits *shard_of(struct kinesis_stats *st, unsigned n)
{
    for (size_t i = 0; i < st->nshards; i++)
        if (st->shards[i].n == n)
            return &st->shards[i];
    struct shard_limits *v = realloc(st->shards, (st->nshards + 1) * sizeof(*v));
    if (!v)
        return NULL;
    st->shards = v;
    v[st->nshards] = (struct shard_limits){.n = n};
    return &v[st->nshards++];
}

static bool provisioned(const struct kinesis *k, const struct kinesis_stream *s)
{
    const char *m = json_string_value(json_object_get(s->rec, "mode"));
    return k->limits && (!m || strcmp(m, "ON_DEMAND") != 0);
}

void kinesis_admit_writes(struct kinesis *k, const struct kinesis_stream *s,
                          struct kinesis_write *w, size_t n)
{
    int64_t now = sl_time_now_ms(), mono = sl_time_mono_ns() / 1000000;
    bool limited = provisioned(k, s);
    uint64_t in = 0, bytes = 0, throttled = 0;
    pthread_mutex_lock(&k->mu);
    struct kinesis_stats *st = stats_of(k, s->pk, s->name, s->arn);
    for (size_t i = 0; i < n; i++) {
        struct shard_limits *sh = limited && st ? shard_of(st, w[i].shard) : NULL;
        if (sh) {
            refill(&sh->wrec, WRITE_RECORDS, mono);
            refill(&sh->wbytes, WRITE_BYTES, mono);
            double b = (double)w[i].bytes;
            w[i].throttled = sh->wrec.tokens < 1 || sh->wbytes.tokens < SL_MIN(b, WRITE_BYTES);
            if (!w[i].throttled) {
                sh->wrec.tokens -= 1;
                sh->wbytes.tokens -= b;
            }
        }
        if (w[i].throttled) {
            throttled++;
        } else {
            in++;
            bytes += w[i].bytes;
        }
    }
    if (st) {
        rate_add(&st->in, in, now);
        st->in_bytes += bytes;
        st->throttled += throttled;
    }
    pthread_mutex_unlock(&k->mu);
}

bool kinesis_admit_read(struct kinesis *k, const struct kinesis_stream *s, unsigned shard)
{
    if (!provisioned(k, s))
        return true;
    int64_t now = sl_time_mono_ns() / 1000000;
    pthread_mutex_lock(&k->mu);
    struct kinesis_stats *st = stats_of(k, s->pk, s->name, s->arn);
    struct shard_limits *sh = st ? shard_of(st, shard) : NULL;
    if (sh)
        refill(&sh->rbytes, READ_BYTES, now);
    bool ok = !sh || (sh->rbytes.tokens > 0 && take(&sh->reads, READ_CALLS, 1, now));
    if (!ok && st)
        st->throttled++;
    pthread_mutex_unlock(&k->mu);
    return ok;
}

void kinesis_count_read(struct kinesis *k, const struct kinesis_stream *s, unsigned shard,
                        size_t records, size_t bytes)
{
    int64_t now = sl_time_now_ms(), mono = sl_time_mono_ns() / 1000000;
    bool limited = provisioned(k, s);
    pthread_mutex_lock(&k->mu);
    struct kinesis_stats *st = stats_of(k, s->pk, s->name, s->arn);
    struct shard_limits *sh = st && limited ? shard_of(st, shard) : NULL;
    if (sh) {
        refill(&sh->rbytes, READ_BYTES, mono);
        sh->rbytes.tokens -= (double)bytes; /* (a debt the next reads wait out) */
    }
    if (st)
        rate_add(&st->out, records, now);
    pthread_mutex_unlock(&k->mu);
}

void kinesis_count_out(struct kinesis *k, const char *pk, const char *name, const char *arn,
                       size_t records)
{
    int64_t now = sl_time_now_ms();
    pthread_mutex_lock(&k->mu);
    struct kinesis_stats *st = stats_of(k, pk, name, arn);
    if (st)
        rate_add(&st->out, records, now);
    pthread_mutex_unlock(&k->mu);
}

void kinesis_metrics(void *state, struct sl_buf *out)
{
    struct kinesis *k = state;
    sl_buf_puts(out,
                "# HELP sluice_kinesis_records_in Records a stream took (PutRecord, PutRecords).\n"
                "# TYPE sluice_kinesis_records_in counter\n"
                "# HELP sluice_kinesis_records_in_per_second Records a stream took in the last "
                "whole second.\n"
                "# TYPE sluice_kinesis_records_in_per_second gauge\n"
                "# HELP sluice_kinesis_bytes_in Bytes of data and partition keys a stream took.\n"
                "# TYPE sluice_kinesis_bytes_in counter\n"
                "# HELP sluice_kinesis_records_out Records read from a stream (GetRecords, event "
                "source mappings).\n"
                "# TYPE sluice_kinesis_records_out counter\n"
                "# HELP sluice_kinesis_records_out_per_second Records read in the last whole "
                "second.\n"
                "# TYPE sluice_kinesis_records_out_per_second gauge\n"
                "# HELP sluice_kinesis_throttled Writes and reads refused with "
                "ProvisionedThroughputExceededException.\n"
                "# TYPE sluice_kinesis_throttled counter\n");
    int64_t now = sl_time_now_ms();
    pthread_mutex_lock(&k->mu);
    for (struct kinesis_stats *st = k->streams; st; st = st->next) {
        const struct {
            const char *name;
            uint64_t v;
        } rows[] = {
            {"records_in", st->in.total},
            {"records_in_per_second", rate_last(&st->in, now)},
            {"bytes_in", st->in_bytes},
            {"records_out", st->out.total},
            {"records_out_per_second", rate_last(&st->out, now)},
            {"throttled", st->throttled},
        };
        for (size_t i = 0; i < SL_ARRAY_LEN(rows); i++)
            sl_buf_printf(out, "sluice_kinesis_%s{stream=\"%s\"} %llu\n", rows[i].name, st->arn,
                          (unsigned long long)rows[i].v);
    }
    pthread_mutex_unlock(&k->mu);
}
