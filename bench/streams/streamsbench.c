/*
 * streamsbench — Sluice's Kinesis Data Streams benchmark, run by hand
 * (`make bench`).
 *
 * It starts its own `sluice serve` on a free loopback port with a fresh data
 * directory on disk (never tmpfs: every PutRecords is a durable commit), and
 * in the same run measures
 *   - its floors, because the machine is shared and noisy: a bare
 *     fdatasync of a 1 KiB write on the data directory's filesystem, a GET
 *     of /_sluice/health over one connection (one trip through the front
 *     door) and a bare loopback HTTP round trip to a responder inside this
 *     process;
 *   - PutRecords ingest, records/s: each client puts 500 records of 100
 *     bytes with random partition keys per call, into an on-demand stream
 *     (4 shards) and into a provisioned one, at each client count; p50 and
 *     p99 of the call and the store's commits per call;
 *   - the GetRecords drain of what each ingest cell put, records/s: one
 *     reader per shard from TRIM_HORIZON, Limit 10,000, until a read
 *     returns nothing and MillisBehindLatest is 0;
 *   - ingest → event source mapping → native function → checkpoint,
 *     records/s end to end: a mapping (TRIM_HORIZON, --esm-batch,
 *     --esm-parallelization) runs runtimes/c's echo example on an on-demand
 *     stream while 8 PutRecords clients fill it; a sampler reads the
 *     mapping's per-shard counters in /_sluice/metrics every 100 ms (records
 *     done, IteratorAge), so the report gives the records done within the
 *     ingest window, the time until the last one is done, and IteratorAge
 *     while the clients ran;
 *   - the server's idle CPU and RSS after the runs, that mapping in place;
 * then prints markdown tables with the budgets beside the results, stops
 * the server (SIGTERM, wait) and removes its directory.
 *
 * The server runs with --kinesis-no-throughput-limits: the provisioned cells
 * measure the engine, not AWS's limit of 1,000 records/s per shard.
 * Requests are unsigned (the server runs with --auth=dev), in Kinesis's JSON
 * 1.1 protocol (X-Amz-Target: Kinesis_20131202.<Op>), Lambda's in rest-json.
 * The load generator is s3bench's: one thread per client, each with one
 * blocking HTTP/1.1 keep-alive connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/benchlib.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define MAX_CLIENTS 256
#define MAX_COUNTS 8
#define MAX_SHARDS 64 /* readers are threads with a large buffer each */
#define MAX_TRANSPORT_ERRORS 100 /* in a row, before a client gives up */

#define RECORDS_PER_CALL 500 /* PutRecords' maximum */
#define RECORD_LEN 100       /* bytes of each record's data */
#define KEY_LEN 16           /* hex digits of a random partition key */
#define GET_LIMIT 10000      /* GetRecords' maximum */
#define ON_DEMAND_SHARDS 4   /* what Sluice gives an on-demand stream */
#define PUT_RESP_CAP (256 * 1024)
/* A GetRecords answer: up to 10 MiB of data as base64, and each record's
 * sequence number, timestamp and key. */
#define GET_RESP_CAP (24u << 20)
#define ITER_MAX 4096 /* a shard iterator as JSON text */
#define LIST_CAP (1u << 20)
#define DRAIN_GIVE_UP_S(duration) (60 + 10 * (duration)) /* a working server drains in far less */

#define E2E_CLIENTS 8      /* PutRecords clients of the end-to-end cell */
#define E2E_SAMPLE_MS 100  /* the sampler's period */
#define E2E_READY_MS 10000 /* the new mapping must read every shard by then */
#define E2E_METRICS_CAP (1u << 20)
#define FN_NAME "streamsbench-echo"
#define STREAM_ARN_PREFIX "arn:aws:kinesis:" DEV_REGION ":" DEV_ACCOUNT ":stream/"

/* The server's options beyond the defaults: AWS's per-shard limits would
 * hold a provisioned stream of 4 shards to 4,000 records/s. */
static const char *const server_args[] = {"--kinesis-no-throughput-limits", NULL};

#define IDLE_SETTLE_S 1.0 /* after the runs: the server's last flushes, its memory trim */
#define IDLE_WINDOW_S 2.0 /* then the idle server */

/* Budgets of this benchmark (bench/README.md). */
#define BUDGET_CLIENTS 8
#define BUDGET_RECORDS 200000.0
#define AIM_RECORDS 1000000.0
#define BUDGET_IDLE_TICKS 0ull
#define BUDGET_E2E_RECORDS 100000.0
#define AIM_E2E_RECORDS 500000.0

/* ---- options ----------------------------------------------------------- */

struct options {
    const char *sluice;
    const char *dir;
    const char *bootstrap;
    double duration;
    const char *clients;
    long shards;
    long esm_batch;
    long esm_parallelization;
    long e2e_paced;
    double floor_time;
    bool keep;
    bool strict;
};

static const struct option_spec option_table[] = {
    {"--sluice", OPT_STR, NULL, "the sluice binary to start (required)",
     offsetof(struct options, sluice)},
    {"--dir", OPT_STR, "/tmp", "where the temporary data directory goes (not tmpfs)",
     offsetof(struct options, dir)},
    {"--bootstrap", OPT_STR, NULL,
     "the end-to-end cell's native function: runtimes/c's echo example (default: "
     "runtimes-c/echo beside the sluice binary)",
     offsetof(struct options, bootstrap)},
    {"--duration", OPT_SECONDS, "5", "seconds each PutRecords cell runs",
     offsetof(struct options, duration)},
    {"--clients", OPT_STR, "1,8", "client counts of the PutRecords cells",
     offsetof(struct options, clients)},
    {"--shards", OPT_COUNT, "4", "ShardCount of the provisioned stream (1..64)",
     offsetof(struct options, shards)},
    {"--esm-batch", OPT_COUNT, "1000",
     "BatchSize of the end-to-end cell's event source mapping (1..10000)",
     offsetof(struct options, esm_batch)},
    {"--esm-parallelization", OPT_COUNT, "1",
     "ParallelizationFactor of the end-to-end cell's event source mapping (1..10)",
     offsetof(struct options, esm_parallelization)},
    {"--e2e-paced", OPT_COUNT, "100000",
     "records/s the paced end-to-end cell puts, to measure IteratorAge while the mapping "
     "keeps up (0: no paced cell)",
     offsetof(struct options, e2e_paced)},
    {"--floor-time", OPT_SECONDS, "1", "seconds each floor is measured",
     offsetof(struct options, floor_time)},
    {"--keep", OPT_FLAG, NULL, "keep the temporary directory (data and server log)",
     offsetof(struct options, keep)},
    {"--strict", OPT_FLAG, NULL, "exit 3 when a budget fails", offsetof(struct options, strict)},
};

#define USAGE_ARGS "--sluice PATH"

/* ---- Kinesis's JSON protocol ------------------------------------------------ */

enum kinesis_op {
    KINESIS_CREATE_STREAM,
    KINESIS_LIST_SHARDS,
    KINESIS_PUT_RECORDS,
    KINESIS_GET_SHARD_ITERATOR,
    KINESIS_GET_RECORDS,
    KINESIS_OP_COUNT
};

#define KINESIS_HEADERS(op)                                                                    \
    "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: Kinesis_20131202." op "\r\n"

static const struct {
    const char *name, *headers;
} kinesis_ops[KINESIS_OP_COUNT] = {
    [KINESIS_CREATE_STREAM] = {"CreateStream", KINESIS_HEADERS("CreateStream")},
    [KINESIS_LIST_SHARDS] = {"ListShards", KINESIS_HEADERS("ListShards")},
    [KINESIS_PUT_RECORDS] = {"PutRecords", KINESIS_HEADERS("PutRecords")},
    [KINESIS_GET_SHARD_ITERATOR] = {"GetShardIterator", KINESIS_HEADERS("GetShardIterator")},
    [KINESIS_GET_RECORDS] = {"GetRecords", KINESIS_HEADERS("GetRecords")},
};

/*
 * One Kinesis call on c: op with the JSON body; expects 200 and a body of
 * at most cap - 1 bytes, which lands in dest, NUL-terminated, its length
 * in *len. 0, or -1 with err.
 */
static int kinesis_call(const struct server *srv, struct conn *c, struct http_resp *resp,
                        enum kinesis_op op, const char *body, size_t body_len, char *dest,
                        size_t cap, size_t *len, char *err, size_t errn)
{
    struct http_req rq = {.method = "POST",
                          .path = "/",
                          .host = srv->host,
                          .headers = kinesis_ops[op].headers,
                          .body = body,
                          .body_len = body_len};
    dest[0] = '\0';
    if (http_roundtrip(c, &rq, dest, cap - 1, resp, err, errn))
        return -1;
    if (resp->status != 200) {
        snprintf(err, errn, "%s: HTTP %d %s", kinesis_ops[op].name, resp->status, resp->snippet);
        return -1;
    }
    if (!resp->into_dest) {
        snprintf(err, errn, "%s: a response over %zu bytes", kinesis_ops[op].name, cap - 1);
        return -1;
    }
    dest[resp->body_len] = '\0';
    *len = (size_t)resp->body_len;
    return 0;
}

/* ---- the benchmark's state ----------------------------------------------- */

enum stream_mode { MODE_ON_DEMAND, MODE_PROVISIONED, MODE_COUNT };
static const char *const mode_name[MODE_COUNT] = {"on-demand", "provisioned"};

/* A stream filled by PutRecords clients, then drained by one reader per
 * shard. */
struct cell {
    enum stream_mode mode;
    unsigned clients, shards;
    char stream[64];
    /* Ingest. */
    double put_secs;
    uint64_t calls, records, failed_records, put_errors, new_conns;
    uint64_t put_p50, put_p99;
    struct store_stats put_store; /* during the ingest */
    struct cpu_use put_cpu;
    /* Drain. */
    bool drain_run, drained;
    double get_secs;
    uint64_t gets, empty_gets, got, get_errors;
    uint64_t get_p50, get_p99;
    struct store_stats get_store;
    struct cpu_use get_cpu;
    char first_error[300];
};

/* Ingest → event source mapping → function → checkpoint: a stream filled
 * by PutRecords clients while a mapping runs the echo function on it. */
struct e2e {
    bool run;
    long paced;     /* records/s the clients keep to (0: as fast as they can) */
    struct cell in; /* the stream and its ingest */
    char uuid[64];  /* the mapping's */
    uint64_t samples, window_samples, sample_errors;
    double done;            /* records done (sluice_esm_shard_records_done) at the last sample */
    double done_in_window;  /* by the ingest window's end, between the samples around it */
    bool all_done;          /* done reached the records put */
    double all_done_secs;   /* from the ingest's start to the sample that saw it */
    double age_p50, age_p99, age_max; /* IteratorAge, ms, over the window's samples */
    /* From /_sluice/metrics at the end; -1 when not read. */
    double batches, handed, failures, records_in, throttled;
    struct cpu_use cpu_all; /* from the ingest's start until every record was done */
};

struct bench {
    struct options o;
    char bootstrap[PATH_MAX];
    size_t bootstrap_size;
    unsigned clients[MAX_COUNTS];
    size_t nclients;
    char tmp[PATH_MAX - 64];
    char fs_desc[PATH_MAX + 128];
    struct server srv;
    struct floor_set fl;
    double start_rss_mb;
    struct bytes data_b64; /* every record's data, as base64 */
    struct cell cells[MODE_COUNT * MAX_COUNTS];
    size_t ncells;
    struct e2e e2e, e2e_paced;
    uint64_t pace_ns; /* each client's time between calls (0: back to back) */
    struct idle_sample idle;
    struct gang gang;
    uint64_t deadline;
};

/* xorshift64*: a partition key generator per client, no locks. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* ---- control plane ---------------------------------------------------------- */

/*
 * CreateStream: on demand, or provisioned with shards; then ListShards,
 * whose shard ids go to ids (MAX_SHARDS × 64 bytes), their count to *n.
 */
static int create_stream(struct bench *b, const struct cell *c, char (*ids)[64], size_t *n,
                         char *err, size_t errn)
{
    struct bytes body = {0};
    char *resp = malloc(LIST_CAP);
    int rc = -1;
    *n = 0;
    if (!resp ||
        (c->mode == MODE_ON_DEMAND
             ? bytes_printf(&body,
                            "{\"StreamName\":\"%s\",\"StreamModeDetails\":{\"StreamMode\":"
                            "\"ON_DEMAND\"}}",
                            c->stream)
             : bytes_printf(&body, "{\"StreamName\":\"%s\",\"ShardCount\":%u}", c->stream,
                            c->shards))) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    if (control_request(&b->srv, "POST", "/", kinesis_ops[KINESIS_CREATE_STREAM].headers, &body,
                        200, NULL, 0, err, errn))
        goto out;
    body.len = 0;
    if (bytes_printf(&body, "{\"StreamName\":\"%s\"}", c->stream)) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    if (control_request(&b->srv, "POST", "/", kinesis_ops[KINESIS_LIST_SHARDS].headers, &body,
                        200, resp, LIST_CAP, err, errn))
        goto out;
    const char *p = resp;
    while (*n < MAX_SHARDS && json_next_str(&p, "ShardId", ids[*n], sizeof(ids[*n])))
        (*n)++;
    if (*n != c->shards) {
        snprintf(err, errn, "ListShards %s: %zu shards, %u expected: %.100s", c->stream, *n,
                 c->shards, resp);
        goto out;
    }
    rc = 0;
out:
    free(body.data);
    free(resp);
    return rc;
}

/* ---- PutRecords ingest ------------------------------------------------------ */

struct putter {
    struct bench *b;
    struct conn c;
    struct http_resp resp;
    struct bytes body; /* the call, its partition keys rewritten before each */
    size_t key_at[RECORDS_PER_CALL];
    uint64_t rng;
    struct lat lat;
    uint64_t calls, records, failed_records, errors;
    char first_error[300];
    char dest[PUT_RESP_CAP];
};

/* The PutRecords body of stream name: 500 records of the same data, each
 * with a KEY_LEN placeholder for its partition key, whose offsets go to
 * w->key_at. */
static int put_body(struct putter *w, const char *stream)
{
    struct bytes *q = &w->body;
    if (bytes_printf(q, "{\"StreamName\":\"%s\",\"Records\":[", stream))
        return -1;
    for (size_t i = 0; i < RECORDS_PER_CALL; i++) {
        if (bytes_printf(q, "%s{\"Data\":\"%s\",\"PartitionKey\":\"", i ? "," : "",
                         w->b->data_b64.data))
            return -1;
        w->key_at[i] = q->len;
        if (bytes_printf(q, "%0*d\"}", KEY_LEN, 0))
            return -1;
    }
    return bytes_append(q, "]}", 2);
}

/* New random partition keys in w->body. */
static void put_keys(struct putter *w)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < RECORDS_PER_CALL; i++) {
        uint64_t r = next_random(&w->rng);
        char *k = w->body.data + w->key_at[i];
        for (int d = 0; d < KEY_LEN; d++, r >>= 4)
            k[d] = hex[r & 15];
    }
}

/* One client: PutRecords until the deadline. */
static void *put_main(void *arg)
{
    struct putter *w = arg;
    struct bench *b = w->b;
    char err[300];
    unsigned transport_errors = 0;
    uint64_t next = 0;
    gang_ready(&b->gang);
    while (!g_stop && now_ns() < b->deadline) {
        if (b->pace_ns) {
            /* Paced: a call every pace_ns, from the first on. */
            uint64_t now = now_ns();
            if (!next)
                next = now;
            if (next > now) {
                struct timespec ts = {(time_t)((next - now) / 1000000000u),
                                      (long)((next - now) % 1000000000u)};
                nanosleep(&ts, NULL);
            }
            next += b->pace_ns;
        }
        put_keys(w);
        size_t len;
        uint64_t t0 = now_ns();
        int rc = kinesis_call(&b->srv, &w->c, &w->resp, KINESIS_PUT_RECORDS, w->body.data,
                              w->body.len, w->dest, sizeof(w->dest), &len, err, sizeof(err));
        uint64_t t1 = now_ns();
        if (rc) {
            w->errors++;
            keep_first_error(w->first_error, sizeof(w->first_error), "%s", err);
            if (w->c.fd < 0 && ++transport_errors == MAX_TRANSPORT_ERRORS)
                break;
            continue;
        }
        transport_errors = 0;
        double failed;
        if (!json_number(w->dest, "FailedRecordCount", &failed) || failed < 0 ||
            failed > RECORDS_PER_CALL) {
            w->errors++;
            keep_first_error(w->first_error, sizeof(w->first_error),
                             "PutRecords: no FailedRecordCount in %.200s", w->dest);
            continue;
        }
        if (failed > 0) {
            w->errors++;
            keep_first_error(w->first_error, sizeof(w->first_error),
                             "PutRecords: %.0f records failed: %.200s", failed, w->dest);
        }
        w->calls++;
        w->records += RECORDS_PER_CALL - (uint64_t)failed;
        w->failed_records += (uint64_t)failed;
        if (lat_add(&w->lat, t1 - t0))
            break;
    }
    gang_done(&b->gang);
    return NULL;
}

static int run_ingest(struct bench *b, struct cell *out)
{
    fprintf(stderr, "streamsbench: PutRecords into %s (%u shards), %u client%s...\n",
            out->stream, out->shards, out->clients, out->clients == 1 ? "" : "s");
    unsigned n = out->clients;
    struct putter **w = calloc(n, sizeof(*w));
    void **objs = calloc(n, sizeof(*objs));
    struct lat **lats = calloc(n, sizeof(*lats));
    int rc = -1;
    if (!w || !objs || !lats)
        goto out;
    for (unsigned i = 0; i < n; i++) {
        if (!(w[i] = calloc(1, sizeof(*w[i]))))
            goto out;
        w[i]->b = b;
        w[i]->rng = 0x9e3779b97f4a7c15ull * (i + 1) ^ now_ns();
        conn_init(&w[i]->c, &b->srv.addr);
        if (put_body(w[i], out->stream))
            goto out;
        objs[i] = w[i];
        lats[i] = &w[i]->lat;
    }
    b->deadline = UINT64_MAX;
    gang_start(&b->gang, &b->srv, n, put_main, objs);
    b->deadline = b->gang.start + (uint64_t)(b->o.duration * 1e9);
    gang_go(&b->gang);
    gang_join(&b->gang, &out->put_cpu, &out->put_store, &out->put_secs);
    lat_merged_percentiles(lats, n, &out->put_p50, &out->put_p99);
    for (unsigned i = 0; i < n; i++) {
        out->calls += w[i]->calls;
        out->records += w[i]->records;
        out->failed_records += w[i]->failed_records;
        out->put_errors += w[i]->errors;
        out->new_conns += w[i]->c.connects > 0 ? w[i]->c.connects - 1 : 0;
        if (!out->first_error[0] && w[i]->first_error[0])
            memcpy(out->first_error, w[i]->first_error, sizeof(out->first_error));
    }
    rc = 0;
out:
    for (unsigned i = 0; w && i < n; i++) {
        if (!w[i])
            continue;
        conn_close(&w[i]->c);
        free(w[i]->body.data);
        free(w[i]->lat.v);
        free(w[i]);
    }
    free(w);
    free(objs);
    free(lats);
    if (rc)
        fprintf(stderr, "streamsbench: out of memory\n");
    return rc;
}

/* ---- GetRecords drain ------------------------------------------------------- */

struct reader {
    struct bench *b;
    const struct cell *cell;
    struct conn c;
    struct http_resp resp;
    const char *shard;
    char iter[ITER_MAX]; /* the next ShardIterator, as JSON text */
    struct bytes req;
    char *dest; /* GET_RESP_CAP */
    bool ready, done;
    struct lat lat;
    uint64_t calls, empty, records, errors, give_up;
    char first_error[300];
};

/* How many records a GetRecords answer holds (one SequenceNumber each),
 * and where the text after the last one begins (*tail). */
static uint64_t records_in(const char *body, size_t len, const char **tail)
{
    static const char key[] = "\"SequenceNumber\"";
    uint64_t n = 0;
    const char *p = body, *end = body + len;
    *tail = body;
    while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1))) {
        n++;
        p += sizeof(key) - 1;
        *tail = p;
    }
    return n;
}

/* The reader's TRIM_HORIZON iterator, before the clock starts. */
static int reader_setup(struct reader *r, char *err, size_t errn)
{
    size_t len;
    r->req.len = 0;
    if (bytes_printf(&r->req,
                     "{\"StreamName\":\"%s\",\"ShardId\":\"%s\","
                     "\"ShardIteratorType\":\"TRIM_HORIZON\"}",
                     r->cell->stream, r->shard)) {
        snprintf(err, errn, "out of memory");
        return -1;
    }
    if (kinesis_call(&r->b->srv, &r->c, &r->resp, KINESIS_GET_SHARD_ITERATOR, r->req.data,
                     r->req.len, r->dest, GET_RESP_CAP, &len, err, errn))
        return -1;
    const char *p = r->dest;
    if (!json_next_str(&p, "ShardIterator", r->iter, sizeof(r->iter))) {
        snprintf(err, errn, "GetShardIterator: no ShardIterator in %.200s", r->dest);
        return -1;
    }
    return 0;
}

/* One reader: GetRecords with Limit 10,000 until a read returns nothing
 * and MillisBehindLatest is 0, checking that each read's records carry the
 * data that was put. */
static void *read_main(void *arg)
{
    struct reader *r = arg;
    struct bench *b = r->b;
    char err[300];
    unsigned transport_errors = 0;
    r->ready = reader_setup(r, err, sizeof(err)) == 0;
    if (!r->ready) {
        r->errors++;
        keep_first_error(r->first_error, sizeof(r->first_error), "%s: %s", r->shard, err);
    }
    gang_ready(&b->gang);
    while (r->ready && !g_stop && now_ns() < r->give_up) {
        size_t len;
        r->req.len = 0;
        if (bytes_printf(&r->req, "{\"ShardIterator\":\"%s\",\"Limit\":%d}", r->iter,
                         GET_LIMIT))
            break;
        uint64_t t0 = now_ns();
        int rc = kinesis_call(&b->srv, &r->c, &r->resp, KINESIS_GET_RECORDS, r->req.data,
                              r->req.len, r->dest, GET_RESP_CAP, &len, err, sizeof(err));
        uint64_t t1 = now_ns();
        if (rc) {
            r->errors++;
            keep_first_error(r->first_error, sizeof(r->first_error), "%s: %s", r->shard, err);
            if (r->c.fd < 0 && ++transport_errors == MAX_TRANSPORT_ERRORS)
                break;
            continue;
        }
        transport_errors = 0;
        const char *tail;
        uint64_t n = records_in(r->dest, len, &tail);
        double behind = -1;
        const char *p = tail;
        if (!json_next_str(&p, "NextShardIterator", r->iter, sizeof(r->iter))) {
            p = r->dest;
            if (!json_next_str(&p, "NextShardIterator", r->iter, sizeof(r->iter))) {
                r->errors++;
                keep_first_error(r->first_error, sizeof(r->first_error),
                                 "%s: GetRecords: no NextShardIterator in %.200s", r->shard,
                                 r->dest);
                break;
            }
        }
        if (!json_number(tail, "MillisBehindLatest", &behind))
            json_number(r->dest, "MillisBehindLatest", &behind);
        if (n && !memmem(r->dest, len, b->data_b64.data, b->data_b64.len)) {
            r->errors++;
            keep_first_error(r->first_error, sizeof(r->first_error),
                             "%s: GetRecords: records without the data put: %.200s", r->shard,
                             r->dest);
        }
        r->calls++;
        r->records += n;
        if (lat_add(&r->lat, t1 - t0))
            break;
        if (!n) {
            r->empty++;
            if (behind == 0) {
                r->done = true;
                break;
            }
        }
    }
    gang_done(&b->gang);
    return NULL;
}

static int run_drain(struct bench *b, struct cell *out, char (*ids)[64], size_t nshards)
{
    fprintf(stderr, "streamsbench: GetRecords drain of %s, %zu readers...\n", out->stream,
            nshards);
    struct reader *r = calloc(nshards, sizeof(*r));
    void *objs[MAX_SHARDS];
    struct lat *lats[MAX_SHARDS];
    int rc = -1;
    if (!r)
        goto out;
    for (size_t i = 0; i < nshards; i++) {
        r[i].b = b;
        r[i].cell = out;
        r[i].shard = ids[i];
        r[i].give_up = UINT64_MAX;
        conn_init(&r[i].c, &b->srv.addr);
        if (!(r[i].dest = malloc(GET_RESP_CAP)))
            goto out;
        objs[i] = &r[i];
        lats[i] = &r[i].lat;
    }
    gang_start(&b->gang, &b->srv, (unsigned)nshards, read_main, objs);
    for (size_t i = 0; i < nshards; i++)
        r[i].give_up = b->gang.start + (uint64_t)(DRAIN_GIVE_UP_S(b->o.duration) * 1e9);
    gang_go(&b->gang);
    gang_join(&b->gang, &out->get_cpu, &out->get_store, &out->get_secs);
    out->drain_run = true;
    lat_merged_percentiles(lats, nshards, &out->get_p50, &out->get_p99);
    bool all_done = true;
    for (size_t i = 0; i < nshards; i++) {
        all_done &= r[i].done;
        out->gets += r[i].calls;
        out->empty_gets += r[i].empty;
        out->got += r[i].records;
        out->get_errors += r[i].errors;
        if (!out->first_error[0] && r[i].first_error[0])
            memcpy(out->first_error, r[i].first_error, sizeof(out->first_error));
    }
    out->drained = all_done && out->got == out->records;
    if (all_done && out->got != out->records) {
        out->get_errors++;
        keep_first_error(out->first_error, sizeof(out->first_error),
                         "drain of %s: %" PRIu64 " records read, %" PRIu64 " were put",
                         out->stream, out->got, out->records);
    } else if (!all_done && !g_stop) {
        keep_first_error(out->first_error, sizeof(out->first_error),
                         "drain of %s: not done after %.0f s (%" PRIu64 " of %" PRIu64
                         " records read)",
                         out->stream, out->get_secs, out->got, out->records);
    }
    rc = 0;
out:
    for (size_t i = 0; r && i < nshards; i++) {
        conn_close(&r[i].c);
        free(r[i].dest);
        free(r[i].req.data);
        free(r[i].lat.v);
    }
    free(r);
    if (rc)
        fprintf(stderr, "streamsbench: out of memory\n");
    return rc;
}

/* The cell's new stream, streamsbench-TAG-CLIENTS, its shard ids into ids. */
static int cell_setup(struct bench *b, enum stream_mode mode, const char *tag, unsigned clients,
                      struct cell *out, char (*ids)[64], size_t *nshards)
{
    char err[300];
    memset(out, 0, sizeof(*out));
    out->mode = mode;
    out->clients = clients;
    out->shards = mode == MODE_ON_DEMAND ? ON_DEMAND_SHARDS : (unsigned)b->o.shards;
    snprintf(out->stream, sizeof(out->stream), "streamsbench-%s-%u", tag, clients);
    if (create_stream(b, out, ids, nshards, err, sizeof(err))) {
        fprintf(stderr, "streamsbench: %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- ingest → event source mapping → function → checkpoint -------------------- */

/* One reading of the mapping's counters. */
struct e2e_sample {
    uint64_t t;    /* when the metrics had arrived */
    double done;   /* sluice_esm_shard_records_done, summed over the shards */
    double age_ms; /* sluice_esm_iterator_age_ms, the largest of the shards' */
};

/* GET /_sluice/metrics every E2E_SAMPLE_MS on a connection of its own,
 * until stop (or its cap of samples). v and n are shared under mu. */
struct sampler {
    const struct server *srv;
    char done_name[128], age_name[128];
    struct conn c;
    char *text; /* E2E_METRICS_CAP */
    pthread_mutex_t mu;
    bool stop;
    struct e2e_sample *v;
    size_t n, cap;
    uint64_t errors;
    char first_error[300];
};

static void *sample_main(void *arg)
{
    struct sampler *s = arg;
    char err[300];
    uint64_t next = now_ns();
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop || s->n == s->cap;
        pthread_mutex_unlock(&s->mu);
        if (stop || g_stop)
            break;
        if (metrics_get(s->srv, &s->c, s->text, E2E_METRICS_CAP, err, sizeof(err))) {
            s->errors++;
            keep_first_error(s->first_error, sizeof(s->first_error), "sampler: %s", err);
        } else {
            struct e2e_sample x = {.t = now_ns()};
            metrics_fold(s->text, s->done_name, &x.done, NULL);
            metrics_fold(s->text, s->age_name, NULL, &x.age_ms);
            pthread_mutex_lock(&s->mu);
            s->v[s->n++] = x;
            pthread_mutex_unlock(&s->mu);
        }
        next += E2E_SAMPLE_MS * 1000000ull;
        uint64_t t = now_ns();
        if (next > t)
            sleep_ms((unsigned)((next - t) / 1000000));
        else
            next = t; /* late: no burst of samples to catch up */
    }
    return NULL;
}

/* The records done at time t, between the samples around it (the last
 * sample's when none is later; 0 before the first). */
static double done_at(const struct e2e_sample *v, size_t n, uint64_t t)
{
    size_t i = 0;
    while (i < n && v[i].t <= t)
        i++;
    if (i == 0)
        return 0;
    if (i == n || v[i].t == v[i - 1].t)
        return v[i - 1].done;
    const struct e2e_sample *a = &v[i - 1], *z = &v[i];
    return a->done + (z->done - a->done) * (double)(t - a->t) / (double)(z->t - a->t);
}

/* CreateEventSourceMapping on the cell's stream, then waits (with a
 * deadline) until the mapping reads every shard: each has its series in
 * /_sluice/metrics. */
static int e2e_mapping(struct bench *b, struct e2e *out, size_t nshards, char *err, size_t errn)
{
    struct bytes body = {0};
    char name[128];
    int rc = -1;
    if (bytes_printf(&body,
                     "{\"EventSourceArn\":\"" STREAM_ARN_PREFIX "%s\",\"FunctionName\":\"%s\","
                     "\"StartingPosition\":\"TRIM_HORIZON\",\"BatchSize\":%ld,"
                     "\"ParallelizationFactor\":%ld}",
                     out->in.stream, FN_NAME, b->o.esm_batch, b->o.esm_parallelization)) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    if (esm_create(&b->srv, &body, out->uuid, sizeof(out->uuid), err, errn))
        goto out;
    snprintf(name, sizeof(name), "sluice_esm_shard_records_done{uuid=\"%s\"", out->uuid);
    uint64_t until = now_ns() + E2E_READY_MS * 1000000ull;
    size_t seen = 0;
    while (!g_stop && now_ns() < until) {
        char *text = metrics_text(&b->srv);
        seen = metrics_fold(text, name, NULL, NULL);
        free(text);
        if (seen >= nshards) {
            rc = 0;
            goto out;
        }
        sleep_ms(20);
    }
    snprintf(err, errn, "mapping %s: %zu of %zu shards read after %d ms", out->uuid, seen,
             nshards, E2E_READY_MS);
out:
    free(body.data);
    return g_stop ? 0 : rc;
}

/* The mapping's totals at the end, from /_sluice/metrics (-1 each when it
 * cannot be read). */
static void e2e_totals(struct bench *b, struct e2e *out)
{
    out->batches = out->handed = out->failures = out->records_in = out->throttled = -1;
    char *text = metrics_text(&b->srv);
    if (!text)
        return;
    const struct {
        const char *fmt, *key;
        double *v;
    } rows[] = {
        {"sluice_esm_batches{uuid=\"%s\"", out->uuid, &out->batches},
        {"sluice_esm_shard_records{uuid=\"%s\"", out->uuid, &out->handed},
        {"sluice_esm_failures{uuid=\"%s\"", out->uuid, &out->failures},
        {"sluice_kinesis_records_in{stream=\"" STREAM_ARN_PREFIX "%s\"}", out->in.stream,
         &out->records_in},
        {"sluice_kinesis_throttled{stream=\"" STREAM_ARN_PREFIX "%s\"}", out->in.stream,
         &out->throttled},
    };
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        char name[192];
        snprintf(name, sizeof(name), rows[i].fmt, rows[i].key);
        if (!metrics_fold(text, name, rows[i].v, NULL))
            *rows[i].v = -1;
    }
    free(text);
}

/* What the samples say: the records done by the ingest window's end, when
 * every record put was done, IteratorAge while the clients ran. */
static int e2e_figures(struct bench *b, struct e2e *out, const struct sampler *s)
{
    uint64_t start = b->gang.start, end = b->gang.end;
    uint64_t *ages = calloc(s->n ? s->n : 1, sizeof(*ages));
    if (!ages)
        return -1;
    out->samples = s->n;
    out->sample_errors = s->errors;
    out->done = s->n ? s->v[s->n - 1].done : 0;
    out->done_in_window = done_at(s->v, s->n, end);
    for (size_t i = 0; i < s->n; i++) {
        const struct e2e_sample *x = &s->v[i];
        if (x->t >= start && x->t <= end)
            ages[out->window_samples++] = x->age_ms > 0 ? (uint64_t)x->age_ms : 0;
        if (!out->all_done && out->in.records && x->done >= (double)out->in.records) {
            out->all_done = true;
            out->all_done_secs = (double)(x->t - start) / 1e9;
        }
    }
    qsort(ages, out->window_samples, sizeof(*ages), cmp_u64);
    size_t w = out->window_samples;
    out->age_p50 = (double)percentile(ages, w, 0.50);
    out->age_p99 = (double)percentile(ages, w, 0.99);
    out->age_max = w ? (double)ages[w - 1] : 0;
    free(ages);
    return 0;
}

/*
 * The end-to-end cell: a new on-demand stream, a mapping on it (which
 * must read every shard before the clock starts), then E2E_CLIENTS
 * PutRecords clients for --duration while the sampler reads the mapping's
 * counters; after the clients, waits (with a deadline) until the mapping
 * has done every record put. The mapping stays in place.
 */
static int run_e2e(struct bench *b, struct e2e *out, long paced)
{
    static char ids[MAX_SHARDS][64];
    size_t nshards;
    char err[300] = "";
    struct sampler *s = calloc(1, sizeof(*s));
    bool sampling = false;
    pthread_t th;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    out->paced = paced;
    if (!s) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    pthread_mutex_init(&s->mu, NULL);
    conn_init(&s->c, &b->srv.addr);
    if (cell_setup(b, MODE_ON_DEMAND, paced ? "e2e-paced" : "e2e", E2E_CLIENTS, &out->in, ids,
                   &nshards))
        goto out; /* (it said why) */
    fprintf(stderr, "streamsbench: end to end: a mapping on %s (BatchSize %ld, "
                    "ParallelizationFactor %ld)...\n",
            out->in.stream, b->o.esm_batch, b->o.esm_parallelization);
    if (e2e_mapping(b, out, nshards, err, sizeof(err)))
        goto out;
    s->srv = &b->srv;
    snprintf(s->done_name, sizeof(s->done_name), "sluice_esm_shard_records_done{uuid=\"%s\"",
             out->uuid);
    snprintf(s->age_name, sizeof(s->age_name), "sluice_esm_iterator_age_ms{uuid=\"%s\"",
             out->uuid);
    /* The ingest, the wait after it, and some slack. */
    s->cap = (size_t)((b->o.duration + DRAIN_GIVE_UP_S(b->o.duration) + 30) * 1000 /
                      E2E_SAMPLE_MS);
    if (!(s->text = malloc(E2E_METRICS_CAP)) || !(s->v = calloc(s->cap, sizeof(*s->v)))) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    if (pthread_create(&th, NULL, sample_main, s)) {
        snprintf(err, sizeof(err), "cannot start a thread");
        goto out;
    }
    sampling = true;
    out->run = true;
    b->pace_ns = paced ? (uint64_t)(1e9 * RECORDS_PER_CALL * E2E_CLIENTS / (double)paced) : 0;
    rc = run_ingest(b, &out->in);
    b->pace_ns = 0;
    if (rc)
        goto out; /* (it said why) */
    rc = -1;
    fprintf(stderr, "streamsbench: end to end: until the mapping has done %" PRIu64
                    " records...\n",
            out->in.records);
    uint64_t give_up = b->gang.end + (uint64_t)(DRAIN_GIVE_UP_S(b->o.duration) * 1e9);
    double seen = 0;
    while (!g_stop && now_ns() < give_up && seen < (double)out->in.records) {
        sleep_ms(5);
        pthread_mutex_lock(&s->mu);
        seen = s->n ? s->v[s->n - 1].done : 0;
        pthread_mutex_unlock(&s->mu);
    }
    struct cpu_snap c1;
    cpu_snap(b->srv.pid, &c1);
    out->cpu_all = cpu_between(&b->gang.cpu, &c1);
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_mutex_unlock(&s->mu);
    pthread_join(th, NULL);
    sampling = false;
    if (e2e_figures(b, out, s)) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    e2e_totals(b, out);
    if (s->first_error[0])
        keep_first_error(out->in.first_error, sizeof(out->in.first_error), "%s", s->first_error);
    if (!out->all_done && !g_stop)
        keep_first_error(out->in.first_error, sizeof(out->in.first_error),
                         "mapping %s: %.0f of %" PRIu64 " records done after %.0f s", out->uuid,
                         out->done, out->in.records,
                         (double)(now_ns() - b->gang.start) / 1e9);
    rc = 0;
out:
    if (sampling) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_mutex_unlock(&s->mu);
        pthread_join(th, NULL);
    }
    if (rc && err[0])
        fprintf(stderr, "streamsbench: end to end: %s\n", err);
    if (s) {
        conn_close(&s->c);
        free(s->text);
        free(s->v);
        pthread_mutex_destroy(&s->mu);
    }
    free(s);
    return rc;
}

/* ---- report ------------------------------------------------------------- */

static double put_rate(const struct cell *c)
{
    return c->put_secs > 0 ? (double)c->records / c->put_secs : 0;
}

static double get_rate(const struct cell *c)
{
    return c->get_secs > 0 ? (double)c->got / c->get_secs : 0;
}

static bool put_ok(const struct cell *c)
{
    return !c->put_errors && put_rate(c) >= BUDGET_RECORDS;
}

static bool idle_ok(const struct idle_sample *s)
{
    return s->ok && s->ticks <= BUDGET_IDLE_TICKS;
}

static void cell_label(const struct cell *c, char *out, size_t n)
{
    snprintf(out, n, "%s, %u shards", mode_name[c->mode], c->shards);
}

static void print_header(const struct bench *b)
{
    printf("# Sluice Kinesis Data Streams benchmark\n\n");
    print_when_host("the benchmark and the server");
    printf("- server: `%s serve --listen %s --auth dev", b->o.sluice, b->srv.host);
    for (const char *const *a = b->srv.extra_args; a && *a; a++)
        printf(" %s", *a);
    printf("` (pid %d), RSS %.1f MB after start-up; without AWS's per-shard limits (1,000 "
           "records/s a shard): the provisioned cells measure the engine, not AWS's throttle\n",
           (int)b->srv.pid, b->start_rss_mb);
    printf("- data dir: %s (%s)\n", b->srv.data, b->fs_desc);
    printf("- records: %d bytes of data each, %d per PutRecords, random %d-hex-digit partition "
           "keys; PutRecords cells %.1f s each; streams on demand (%d shards) and provisioned "
           "(%ld shards); floors %.1f s each\n",
           RECORD_LEN, RECORDS_PER_CALL, KEY_LEN, b->o.duration, ON_DEMAND_SHARDS, b->o.shards,
           b->o.floor_time);
    printf("- end to end: `%s` (%zu bytes) as the bootstrap of a %s function, MemorySize %d; "
           "its mapping BatchSize %ld, ParallelizationFactor %ld, on an on-demand stream; %d "
           "clients for %.1f s; metrics sampled every %d ms\n",
           b->bootstrap, b->bootstrap_size, ECHO_RUNTIME, ECHO_MEMORY_MB, b->o.esm_batch,
           b->o.esm_parallelization, E2E_CLIENTS, b->o.duration, E2E_SAMPLE_MS);
    printf("- latencies are per request, send to last byte received\n\n");
    fflush(stdout);
}

static void print_ingest(const struct bench *b)
{
    printf("## PutRecords ingest\n\n"
           "Each client puts %d records of %d B (random partition keys) per call, back to back, "
           "into a stream of its cell's own. **records/s** is the figure; MB/s is record data "
           "(10^6 B). A call is one transaction: p50 ÷ fsync is to the in-place fdatasync "
           "floor. Commits are the store's (one fsync each). CPU is in %% of one CPU: the "
           "server / streamsbench / every other process / stolen.\n\n"
           "| stream | clients | calls | **records/s** | MB/s | PutRecords p50 / p99 | "
           "p50 ÷ fsync | commits per call (records per commit) | errors | "
           "CPU srv / bench / other / steal | budget |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n",
           RECORDS_PER_CALL, RECORD_LEN);
    for (size_t i = 0; i < b->ncells; i++) {
        const struct cell *c = &b->cells[i];
        char l[64], n[32], r[32], a[32], e[32], f[32], bud[96] = "", m[32], x[32];
        cell_label(c, l, sizeof(l));
        if (c->clients == BUDGET_CLIENTS)
            snprintf(bud, sizeof(bud), "≥ %s: **%s** (aim %s: %s)",
                     fmt_count(m, sizeof(m), BUDGET_RECORDS), put_ok(c) ? "PASS" : "FAIL",
                     fmt_count(x, sizeof(x), AIM_RECORDS),
                     put_rate(c) >= AIM_RECORDS ? "met" : "not met");
        double batches = c->put_store.batches;
        printf("| %s | %u | %s | **%s** | %.1f | %s / %s | %s | %.2f (%s) | %" PRIu64
               " | %.0f / %.0f / %.0f / %.0f | %s |\n",
               l, c->clients, fmt_count(n, sizeof(n), (double)c->calls),
               fmt_count(r, sizeof(r), put_rate(c)), put_rate(c) * RECORD_LEN / 1e6,
               fmt_ns(a, sizeof(a), c->put_p50), fmt_ns(e, sizeof(e), c->put_p99),
               fmt_ratio(f, sizeof(f), c->put_p50, b->fl.fsync.p50, ""),
               c->calls ? batches / (double)c->calls : 0,
               fmt_count(m, sizeof(m), batches > 0 ? (double)c->records / batches : 0),
               c->put_errors, c->put_cpu.server, c->put_cpu.bench, c->put_cpu.others,
               c->put_cpu.steal, bud);
    }
    bool budget_cell = false;
    for (size_t i = 0; i < b->ncells; i++)
        budget_cell |= b->cells[i].clients == BUDGET_CLIENTS;
    if (b->fl.fsync.p50 && budget_cell) {
        /* One call in flight per client; group commit shares an fsync
         * between the calls in flight. */
        char f[32], m[32];
        double ceiling =
            (double)BUDGET_CLIENTS * RECORDS_PER_CALL * 1e9 / (double)b->fl.fsync.p50;
        printf("\nDurable ceiling at %d clients: %d clients × %d records / fsync p50 %s = %s "
               "records/s%s\n",
               BUDGET_CLIENTS, BUDGET_CLIENTS, RECORDS_PER_CALL,
               fmt_ns(f, sizeof(f), b->fl.fsync.p50), fmt_count(m, sizeof(m), ceiling),
               ceiling < BUDGET_RECORDS ? ": **the budget is out of reach on this disk today, "
                                          "whatever the server does**."
                                        : ".");
    }
    printf("\n");
    fflush(stdout);
}

static void print_drain(const struct bench *b)
{
    printf("## GetRecords drain\n\n"
           "After each ingest cell, one reader per shard reads it from TRIM_HORIZON "
           "(GetRecords, Limit %d) until a read returns nothing and MillisBehindLatest is 0; "
           "timed from the first read to the last reader's end (the iterators are got before). "
           "**records/s** is every record read over that time; every record put must be read. "
           "p50 ÷ health is to the health GET floor. Commits should be 0: reads do not "
           "write.\n\n"
           "| stream, clients that put | readers | records | time | **records/s** | MB/s | calls "
           "(records per call) | GetRecords p50 / p99 | p50 ÷ health | commits | errors | "
           "CPU srv / bench / other / steal |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n",
           GET_LIMIT);
    for (size_t i = 0; i < b->ncells; i++) {
        const struct cell *c = &b->cells[i];
        char l[64], n[32], r[32], a[32], e[32], f[32], g[32], t[48];
        cell_label(c, l, sizeof(l));
        if (!c->drain_run) {
            printf("| %s, %u client%s | not run | | | | | | | | | | |\n", l, c->clients,
                   c->clients == 1 ? "" : "s");
            continue;
        }
        if (c->drained)
            snprintf(t, sizeof(t), "%.2f s", c->get_secs);
        else
            snprintf(t, sizeof(t), "**not drained** (%.1f s)", c->get_secs);
        printf("| %s, %u client%s | %u | %s | %s | **%s** | %.1f | %s (%.0f) | %s / %s | %s | "
               "%.0f | %" PRIu64 " | %.0f / %.0f / %.0f / %.0f |\n",
               l, c->clients, c->clients == 1 ? "" : "s", c->shards, fmt_count(n, sizeof(n), (double)c->got), t,
               fmt_count(r, sizeof(r), get_rate(c)), get_rate(c) * RECORD_LEN / 1e6,
               fmt_count(g, sizeof(g), (double)c->gets),
               c->gets ? (double)c->got / (double)c->gets : 0, fmt_ns(a, sizeof(a), c->get_p50),
               fmt_ns(e, sizeof(e), c->get_p99),
               fmt_ratio(f, sizeof(f), c->get_p50, b->fl.health.p50, ""), c->get_store.batches,
               c->get_errors, c->get_cpu.server, c->get_cpu.bench, c->get_cpu.others,
               c->get_cpu.steal);
    }
    printf("\n");
    fflush(stdout);
}

/* Records done within the ingest window ÷ the window. */
static double e2e_rate(const struct e2e *e)
{
    return e->in.put_secs > 0 ? e->done_in_window / e->in.put_secs : 0;
}

/* Every record put ÷ the time until the last was done. */
static double e2e_rate_all(const struct e2e *e)
{
    return e->all_done && e->all_done_secs > 0 ? (double)e->in.records / e->all_done_secs : 0;
}

static bool e2e_ok(const struct e2e *e)
{
    return e->run && e->all_done && !e->in.put_errors && e2e_rate(e) >= BUDGET_E2E_RECORDS;
}

/* "1,234", or "–" for a counter that could not be read (-1). */
static const char *fmt_metric(char *out, size_t n, double v)
{
    return v < 0 ? "–" : fmt_count(out, n, v);
}

/* Whether the paced cell's mapping kept up: every record done within a
 * second of the clients' end. */
static bool e2e_kept_up(const struct e2e *e)
{
    return e->run && e->all_done && e->all_done_secs - e->in.put_secs <= 1.0;
}

static void print_e2e(const struct bench *b, const struct e2e *e)
{
    const struct cell *c = &e->in;
    char pace[96];
    if (e->paced)
        snprintf(pace, sizeof(pace), "paced to %ld records/s in all", e->paced);
    else
        snprintf(pace, sizeof(pace), "back to back");
    printf("## Ingest → event source mapping → native function → checkpoint%s\n\n"
           "An on-demand stream (%d shards) with an event source mapping on it (TRIM_HORIZON, "
           "BatchSize %ld, ParallelizationFactor %ld) whose function is the echo bootstrap; "
           "once the mapping reads every shard, %d clients put %d records of %d B per call, "
           "%s, for %.1f s. A sampler reads `/_sluice/metrics` every %d ms on one "
           "connection: the records done (the function succeeded with them, the checkpoint "
           "follows) summed over the shards, and IteratorAge (the age of the last record of "
           "a shard's last finished batch) the largest of the shards'. **End to end** is the "
           "records done by the end of the ingest window (between the two samples around it) "
           "÷ the window; *every record* is the records put ÷ the time from the window's "
           "start to the first sample that saw them all done (up to one sample late). CPU is "
           "in %% of one CPU: the server / the function processes / streamsbench / every "
           "other process / stolen.\n\n"
           "| figure | value |\n|---|---|\n",
           e->paced ? ", paced: IteratorAge while keeping up" : "", ON_DEMAND_SHARDS,
           b->o.esm_batch, b->o.esm_parallelization, E2E_CLIENTS, RECORDS_PER_CALL, RECORD_LEN,
           pace, b->o.duration, E2E_SAMPLE_MS);
    if (!e->run) {
        printf("| not run | |\n\n");
        fflush(stdout);
        return;
    }
    char n[32], r[32], a[32], z[32], m[32], x[32];
    printf("| records put | %s in %.2f s: %s records/s; PutRecords p50 / p99 %s / %s; "
           "%" PRIu64 " errors |\n",
           fmt_count(n, sizeof(n), (double)c->records), c->put_secs,
           fmt_count(r, sizeof(r), put_rate(c)), fmt_ns(a, sizeof(a), c->put_p50),
           fmt_ns(z, sizeof(z), c->put_p99), c->put_errors);
    printf("| records done | %s%s |\n", fmt_count(n, sizeof(n), e->done),
           e->all_done ? ": every record put" : ": **not every record put**");
    printf("| **end to end, within the ingest window** | **%s records/s** (%s done by its "
           "end) |\n",
           fmt_count(r, sizeof(r), e2e_rate(e)), fmt_count(n, sizeof(n), e->done_in_window));
    if (e->all_done)
        printf("| end to end, every record | %s records/s (the last done by %.2f s, %.2f s "
               "after the clients stopped) |\n",
               fmt_count(r, sizeof(r), e2e_rate_all(e)), e->all_done_secs,
               e->all_done_secs - c->put_secs);
    else
        printf("| end to end, every record | **not every record was done** |\n");
    double backlog = (double)c->records - e->done_in_window;
    printf("| backlog at the window's end | %s records (%.0f ms of ingest) |\n",
           fmt_count(n, sizeof(n), backlog > 0 ? backlog : 0),
           put_rate(c) > 0 && backlog > 0 ? backlog / put_rate(c) * 1e3 : 0);
    printf("| IteratorAge while the clients ran, p50 / p99 / max | %.0f / %.0f / %.0f ms "
           "(%" PRIu64 " samples) |\n",
           e->age_p50, e->age_p99, e->age_max, e->window_samples);
    printf("| batches (records per batch) | %s (%.0f); %s failed |\n",
           fmt_metric(n, sizeof(n), e->batches),
           e->batches > 0 && e->handed >= 0 ? e->handed / e->batches : 0,
           fmt_metric(a, sizeof(a), e->failures));
    printf("| the stream's counters | %s records in, %s throttled |\n",
           fmt_metric(n, sizeof(n), e->records_in), fmt_metric(a, sizeof(a), e->throttled));
    printf("| CPU srv / fn / bench / other / steal, the ingest window | "
           "%.0f / %.0f / %.0f / %.0f / %.0f |\n",
           c->put_cpu.server, c->put_cpu.functions, c->put_cpu.bench, c->put_cpu.others,
           c->put_cpu.steal);
    printf("| CPU srv / fn / bench / other / steal, until every record was done | "
           "%.0f / %.0f / %.0f / %.0f / %.0f |\n",
           e->cpu_all.server, e->cpu_all.functions, e->cpu_all.bench, e->cpu_all.others,
           e->cpu_all.steal);
    printf("| samples (errors) | %" PRIu64 " (%" PRIu64 ") |\n", e->samples, e->sample_errors);
    if (e->paced)
        printf("| kept up | %s |\n\n",
               e2e_kept_up(e) ? "yes: every record done within 1 s of the clients' end"
                              : "**no**");
    else
        printf("| budget | ≥ %s records/s: **%s** (aim %s: %s) |\n\n",
               fmt_count(m, sizeof(m), BUDGET_E2E_RECORDS), e2e_ok(e) ? "PASS" : "FAIL",
               fmt_count(x, sizeof(x), AIM_E2E_RECORDS),
               e2e_rate(e) >= AIM_E2E_RECORDS ? "met" : "not met");
    fflush(stdout);
}

static void print_idle(const struct bench *b)
{
    const struct idle_sample *s = &b->idle;
    printf("## The idle server after the runs\n\n"
           "The end-to-end cell's mapping stays in place. The first %.0f s after the cells "
           "is counted apart (the end of the burst); the budget is on the %.0f s after it. A "
           "clock tick is %.0f ms of CPU.\n\n"
           "| server CPU, first %.0f s | server CPU, next %.0f s (0 ticks) | RSS | threads |\n"
           "|---|---|---|---|\n",
           IDLE_SETTLE_S, IDLE_WINDOW_S, 1000.0 / (double)sysconf(_SC_CLK_TCK), IDLE_SETTLE_S,
           IDLE_WINDOW_S);
    if (!s->ok)
        printf("| not measured | | | |\n");
    else
        printf("| %llu ticks | %llu ticks (**%s**) | %.1f MB | %ld |\n", s->settle_ticks,
               s->ticks, idle_ok(s) ? "PASS" : "FAIL", s->rss_mb, s->threads);
    fflush(stdout);
}

/* The budgets; returns how many failed. */
static int print_budgets(const struct bench *b)
{
    int failed = 0;
    char a[32], m[32], v[32], l[64];
    printf("\n## Budgets\n\n| budget | measured | result |\n|---|---|---|\n");
    for (int mode = 0; mode < MODE_COUNT; mode++) {
        const struct cell *c = NULL;
        for (size_t i = 0; i < b->ncells; i++)
            if (b->cells[i].mode == (enum stream_mode)mode &&
                b->cells[i].clients == BUDGET_CLIENTS)
                c = &b->cells[i];
        failed += c && !put_ok(c);
        if (c)
            cell_label(c, l, sizeof(l));
        else
            snprintf(l, sizeof(l), "%s", mode_name[mode]);
        printf("| PutRecords into %s, %d clients, ≥ %s records/s (aim %s) | %s%s | **%s** |\n", l,
               BUDGET_CLIENTS, fmt_count(m, sizeof(m), BUDGET_RECORDS),
               fmt_count(a, sizeof(a), AIM_RECORDS),
               c ? fmt_count(v, sizeof(v), put_rate(c)) : "not run",
               c && c->put_errors ? " (with errors)" : "", !c ? "–" : put_ok(c) ? "PASS" : "FAIL");
    }
    const struct e2e *e = &b->e2e;
    failed += e->run && !e2e_ok(e);
    printf("| ingest → mapping → native function → checkpoint ≥ %s records/s (aim %s) | %s%s | "
           "**%s** |\n",
           fmt_count(m, sizeof(m), BUDGET_E2E_RECORDS), fmt_count(a, sizeof(a), AIM_E2E_RECORDS),
           e->run ? fmt_count(v, sizeof(v), e2e_rate(e)) : "not run",
           !e->run                 ? ""
           : !e->all_done          ? " (not every record done)"
           : e->in.put_errors      ? " (with errors)"
                                   : "",
           !e->run ? "–" : e2e_ok(e) ? "PASS" : "FAIL");
    const struct e2e *p = &b->e2e_paced;
    if (p->run)
        printf("| IteratorAge p99 while keeping up, %ld records/s end to end (reported, no "
               "budget) | %.0f ms (max %.0f ms)%s | %s |\n",
               p->paced, p->age_p99, p->age_max, e2e_kept_up(p) ? "" : ", **did not keep up**",
               e2e_kept_up(p) ? "kept up" : "–");
    if (b->idle.ok) {
        failed += !idle_ok(&b->idle);
        printf("| idle server CPU 0 ticks over %.0f s, %.0f s after the runs | %llu ticks | "
               "**%s** |\n",
               IDLE_WINDOW_S, IDLE_SETTLE_S, b->idle.ticks, idle_ok(&b->idle) ? "PASS" : "FAIL");
    }
    double worst = 0;
    for (size_t i = 0; i < b->ncells; i++) {
        worst = b->cells[i].put_cpu.others > worst ? b->cells[i].put_cpu.others : worst;
        worst = b->cells[i].get_cpu.others > worst ? b->cells[i].get_cpu.others : worst;
    }
    worst = e->run && e->cpu_all.others > worst ? e->cpu_all.others : worst;
    print_busy_note(worst, "the measurements");
    return failed;
}

/* The first error of each cell that had one. */
static void print_errors(const struct bench *b)
{
    bool any = false;
    for (size_t i = 0; i < b->ncells; i++) {
        const struct cell *c = &b->cells[i];
        if (!c->first_error[0])
            continue;
        if (!any)
            printf("\nFirst error of each cell that had one:\n\n");
        any = true;
        char l[64];
        cell_label(c, l, sizeof(l));
        printf("- %s, %u client%s: %s\n", l, c->clients, c->clients == 1 ? "" : "s",
               c->first_error);
    }
    const struct e2e *es[] = {&b->e2e, &b->e2e_paced};
    for (size_t i = 0; i < ARRAY_LEN(es); i++) {
        if (!es[i]->in.first_error[0])
            continue;
        printf("%s- end to end%s: %s\n",
               any ? "" : "\nFirst error of each cell that had one:\n\n",
               es[i]->paced ? ", paced" : "", es[i]->in.first_error);
        any = true;
    }
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
    g_bench_name = "streamsbench";
    static struct bench bench;
    struct bench *b = &bench;
    if (parse_options_requiring(option_table, ARRAY_LEN(option_table), &b->o, sizeof(b->o),
                                10000000, USAGE_ARGS, argc, argv, "--sluice"))
        return 2;
    if (parse_counts(b->o.clients, MAX_CLIENTS, b->clients, MAX_COUNTS, &b->nclients)) {
        fprintf(stderr, "streamsbench: bad --clients (1..%d, comma-separated)\n", MAX_CLIENTS);
        return 2;
    }
    if (b->o.shards < 1 || b->o.shards > MAX_SHARDS) {
        fprintf(stderr, "streamsbench: bad --shards (1..%d)\n", MAX_SHARDS);
        return 2;
    }
    if (b->o.esm_batch < 1 || b->o.esm_batch > 10000) {
        fprintf(stderr, "streamsbench: bad --esm-batch (1..10000)\n");
        return 2;
    }
    if (b->o.esm_parallelization < 1 || b->o.esm_parallelization > 10) {
        fprintf(stderr, "streamsbench: bad --esm-parallelization (1..10)\n");
        return 2;
    }
    if (bench_binaries(b->o.sluice, b->o.bootstrap, b->bootstrap, sizeof(b->bootstrap)))
        return 2;
    unsigned char data[RECORD_LEN];
    for (int i = 0; i < RECORD_LEN; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    if (base64_append(&b->data_b64, data, sizeof(data))) {
        fprintf(stderr, "streamsbench: out of memory\n");
        return 1;
    }

    /* Generous: floors, each cell's ingest and its drain until it gives up,
     * the end-to-end cell likewise after its mapping's start, the idle
     * windows, start and stop. */
    install_signals((unsigned)(120 + 4 * b->o.floor_time +
                               (double)(MODE_COUNT * b->nclients + 2) *
                                   (b->o.duration + 30 + DRAIN_GIVE_UP_S(b->o.duration)) +
                               E2E_READY_MS / 1000.0 + IDLE_SETTLE_S + IDLE_WINDOW_S));

    if (bench_workdir(b->o.dir, b->tmp, sizeof(b->tmp), b->fs_desc, sizeof(b->fs_desc), &b->srv,
                      b->o.sluice))
        return 1;
    b->srv.extra_args = server_args;
    int status = 1, failed = 0;
    char err[300];

    if (server_start(&b->srv))
        goto out;
    double hwm;
    long threads;
    proc_status(b->srv.pid, &b->start_rss_mb, &hwm, &threads);
    if (floor_set_measure(&b->srv, b->tmp, b->o.floor_time, &b->fl))
        goto out;
    if (echo_function_create(&b->srv, FN_NAME, b->bootstrap, &b->bootstrap_size, err,
                             sizeof(err))) {
        fprintf(stderr, "streamsbench: CreateFunction: %s\n", err);
        goto out;
    }
    print_header(b);
    floor_set_print(&b->fl);

    for (int mode = 0; mode < MODE_COUNT && !g_stop; mode++)
        for (size_t i = 0; i < b->nclients && !g_stop; i++) {
            static char ids[MAX_SHARDS][64];
            size_t nshards;
            struct cell *c = &b->cells[b->ncells];
            if (cell_setup(b, (enum stream_mode)mode, mode_name[mode], b->clients[i], c, ids,
                           &nshards) ||
                run_ingest(b, c))
                goto out;
            b->ncells++;
            if (server_gone(&b->srv, "PutRecords"))
                goto died;
            if (!g_stop && run_drain(b, c, ids, nshards))
                goto out;
            if (server_gone(&b->srv, "GetRecords"))
                goto died;
        }
    print_ingest(b);
    print_drain(b);
    if (!g_stop && run_e2e(b, &b->e2e, 0))
        goto out;
    if (server_gone(&b->srv, "the end-to-end cell"))
        goto died;
    print_e2e(b, &b->e2e);
    if (!g_stop && b->o.e2e_paced > 0) {
        if (run_e2e(b, &b->e2e_paced, b->o.e2e_paced))
            goto out;
        if (server_gone(&b->srv, "the paced end-to-end cell"))
            goto died;
        print_e2e(b, &b->e2e_paced);
    }
    if (!g_stop) {
        fprintf(stderr, "streamsbench: idle server...\n");
        idle_measure(b->srv.pid, IDLE_SETTLE_S, IDLE_WINDOW_S, &b->idle);
    }
    print_idle(b);
    print_errors(b);
    failed = print_budgets(b);
    status = run_status();
    goto out;
died:
    print_errors(b);
    print_log_findings(b->srv.log);
out:
    free(b->data_b64.data);
    return bench_cleanup(&b->srv, b->tmp, b->o.keep, status, failed, b->o.strict);
}
