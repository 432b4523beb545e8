/*
 * dynamodbbench — Sluice's DynamoDB benchmark, run by hand (`make bench`).
 *
 * It starts its own `sluice serve` on a free loopback port with a fresh data
 * directory on disk (never tmpfs: every write is a durable commit), and in
 * the same run measures
 *   - its floors, because the machine is shared and noisy: a bare
 *     fdatasync of a 1 KiB write on the data directory's filesystem, a GET
 *     of /_sluice/health over one connection (one trip through the front
 *     door) and a bare loopback HTTP round trip to a responder inside this
 *     process;
 *   - PutItem, GetItem and Query, ops/s at each client count: items of
 *     about 200 B in one table (hash key pk, range key sk); PutItem writes
 *     new items, GetItem reads random ones of those, Query reads a page of
 *     10 from a random partition of 12 items (KeyConditionExpression on the
 *     hash key, Limit 10); p50 and p99 of each call;
 *   - optimistic concurrency on one hot item: each client reads a counter
 *     n (GetItem, ConsistentRead) and writes `SET n = n + :one` with the
 *     condition `n = :expected`, again after each
 *     ConditionalCheckFailedException; successful updates/s, conditional
 *     failures/s, and the lost updates: successes − the counter's final
 *     value, which must be 0;
 *   - write → DynamoDB stream → event source mapping → native function,
 *     p50 and p99: a table with a NEW_IMAGE stream, a mapping (LATEST,
 *     BatchSize 1) to bench/events' notifier (a bootstrap on runtimes/c
 *     that sends each event to this process as a UDP datagram the moment
 *     it arrives), PutItems at a paced rate, each carrying t, the
 *     microseconds since the epoch when it was sent; the latency of a
 *     record is the datagram's arrival less its t. When the server refuses
 *     the mapping (DynamoDB Streams are not implemented yet) the report
 *     says "stream: not available (why)" and goes on;
 * then prints markdown tables with the budgets beside the results, stops
 * the server (SIGTERM, wait) and removes its directory.
 *
 * Requests are unsigned (the server runs with --auth=dev), as the other
 * benchmarks': DynamoDB in its JSON 1.0 protocol (X-Amz-Target:
 * DynamoDB_20120810.<Op>), Lambda in rest-json. The load generator is
 * s3bench's: one thread per client, each with one blocking HTTP/1.1
 * keep-alive connection.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/benchlib.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define MAX_CLIENTS 256
#define MAX_COUNTS 8
#define MAX_TRANSPORT_ERRORS 100 /* in a row, before a client gives up */
#define RESP_CAP (64 * 1024)     /* a Query page of 10 items is about 3 KB */

#define TABLE "dynamodbbench-items"
#define STREAM_TABLE "dynamodbbench-stream"
/* The d attribute's characters: with pk, sk and the names an item is about
 * 200 B as DynamoDB counts an item's size. */
#define PAYLOAD_LEN 180
#define QUERY_ITEMS 12 /* items of a Query partition: more than a page */
#define QUERY_LIMIT 10
#define VERIFY_EVERY 64 /* GetItems whose whole payload is compared */
#define COUNTER_PK "counter"
#define NUM_MAX 64 /* a number's text in an answer */

#define FN_NAME "dynamodbbench-notifier"
#define STREAM_WARM_BASE 1000000000ull /* sort keys of the warm-up items */
#define STREAM_WARM_GAP_MS 100         /* a warm-up item every so often, until one arrives */
#define STREAM_WARM_GIVE_UP_MS 30000
#define STREAM_SETTLE_MS 300  /* after the first warm-up record: the rest of them */
#define STREAM_WAIT_MS 10000  /* after the last write, for the last records */
#define STREAM_MAX_BATCH 4    /* the notifier sends an event's first 4 KiB */
#define DATAGRAM_MAX 4096
#define RECV_TIMEOUT_MS 100

/* Budgets of this benchmark (bench/README.md). */
#define BUDGET_CLIENTS 16
#define BUDGET_PUT 10000.0
#define AIM_PUT 30000.0
#define BUDGET_GET 20000.0
#define AIM_GET 80000.0
#define BUDGET_STREAM_P50_NS 5000000ull
#define AIM_STREAM_P50_NS 1000000ull

/* ---- options ----------------------------------------------------------- */

struct options {
    const char *sluice;
    const char *dir;
    const char *notifier;
    double duration;
    const char *clients;
    long counter_clients;
    long partitions;
    long stream_items;
    long stream_rate;
    long stream_batch;
    bool no_stream;
    double floor_time;
    bool keep;
    bool strict;
};

static const struct option_spec option_table[] = {
    {"--sluice", OPT_STR, NULL, "the sluice binary to start (required)",
     offsetof(struct options, sluice)},
    {"--dir", OPT_STR, "/tmp", "where the temporary data directory goes (not tmpfs)",
     offsetof(struct options, dir)},
    {"--notifier", OPT_STR, NULL,
     "the stream cell's native function: bench/events' notifier (default: bench/notifier "
     "beside the sluice binary)",
     offsetof(struct options, notifier)},
    {"--duration", OPT_SECONDS, "3", "seconds each PutItem, GetItem, Query and UpdateItem cell "
                                     "runs",
     offsetof(struct options, duration)},
    {"--clients", OPT_STR, "1,16", "client counts of the PutItem, GetItem and Query cells",
     offsetof(struct options, clients)},
    {"--counter-clients", OPT_COUNT, "16", "clients updating the hot counter (1..256)",
     offsetof(struct options, counter_clients)},
    {"--partitions", OPT_COUNT, "100",
     "Query partitions of 12 items each, loaded before the cells (1..100000)",
     offsetof(struct options, partitions)},
    {"--stream-items", OPT_COUNT, "1000", "items timed through the stream (1..1000000)",
     offsetof(struct options, stream_items)},
    {"--stream-rate", OPT_COUNT, "200", "items/s written to the stream's table (1..10000)",
     offsetof(struct options, stream_rate)},
    {"--stream-batch", OPT_COUNT, "1", "BatchSize of the stream's mapping (1..4)",
     offsetof(struct options, stream_batch)},
    {"--no-stream", OPT_FLAG, NULL, "skip write → stream → function",
     offsetof(struct options, no_stream)},
    {"--floor-time", OPT_SECONDS, "1", "seconds each floor is measured",
     offsetof(struct options, floor_time)},
    {"--keep", OPT_FLAG, NULL, "keep the temporary directory (data and server log)",
     offsetof(struct options, keep)},
    {"--strict", OPT_FLAG, NULL, "exit 3 when a budget fails", offsetof(struct options, strict)},
};

#define USAGE_ARGS "--sluice PATH"

/* ---- DynamoDB's JSON protocol ------------------------------------------------ */

enum ddb_op {
    DDB_CREATE_TABLE,
    DDB_PUT_ITEM,
    DDB_GET_ITEM,
    DDB_QUERY,
    DDB_UPDATE_ITEM,
    DDB_OP_COUNT
};

#define DDB_HEADERS(op)                                                                        \
    "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810." op "\r\n"

static const struct {
    const char *name, *headers;
} ddb_ops[DDB_OP_COUNT] = {
    [DDB_CREATE_TABLE] = {"CreateTable", DDB_HEADERS("CreateTable")},
    [DDB_PUT_ITEM] = {"PutItem", DDB_HEADERS("PutItem")},
    [DDB_GET_ITEM] = {"GetItem", DDB_HEADERS("GetItem")},
    [DDB_QUERY] = {"Query", DDB_HEADERS("Query")},
    [DDB_UPDATE_ITEM] = {"UpdateItem", DDB_HEADERS("UpdateItem")},
};

/* What ddb_call returns besides 0 and -1: the condition of a conditional
 * write was false (HTTP 400, ConditionalCheckFailedException). */
#define DDB_CONDITION_FAILED 1

/* A client's connection and buffers (heap: the connection's buffer is 64
 * KiB). */
struct client {
    struct conn c;
    struct http_resp resp;
    struct bytes req;    /* request bodies built per call */
    char dest[RESP_CAP]; /* the response body, NUL-terminated */
};

static struct client *client_new(const struct sockaddr_in *addr)
{
    struct client *cl = calloc(1, sizeof(*cl));
    if (cl)
        conn_init(&cl->c, addr);
    return cl;
}

static void client_free(struct client *cl)
{
    if (!cl)
        return;
    conn_close(&cl->c);
    free(cl->req.data);
    free(cl);
}

/*
 * One DynamoDB call on cl's connection: op with the body in cl->req;
 * expects 200, whose body lands in cl->dest (NUL-terminated). 0;
 * DDB_CONDITION_FAILED when a conditional write's condition was false; or
 * -1. err says why for both.
 */
static int ddb_call(const struct server *srv, struct client *cl, enum ddb_op op, char *err,
                    size_t errn)
{
    struct http_req rq = {.method = "POST",
                          .path = "/",
                          .host = srv->host,
                          .headers = ddb_ops[op].headers,
                          .body = cl->req.data,
                          .body_len = cl->req.len};
    cl->dest[0] = '\0';
    if (http_roundtrip(&cl->c, &rq, cl->dest, sizeof(cl->dest) - 1, &cl->resp, err, errn))
        return -1;
    if (cl->resp.status != 200) {
        snprintf(err, errn, "%s: HTTP %d %s", ddb_ops[op].name, cl->resp.status,
                 cl->resp.snippet);
        return cl->resp.status == 400 &&
                       strstr(cl->resp.snippet, "#ConditionalCheckFailedException")
                   ? DDB_CONDITION_FAILED
                   : -1;
    }
    if (!cl->resp.into_dest) {
        snprintf(err, errn, "%s: a response over %d bytes", ddb_ops[op].name, RESP_CAP - 1);
        return -1;
    }
    cl->dest[cl->resp.body_len] = '\0';
    return 0;
}

/* The text of the number attribute name ({"name":{"N":"12"}}) of the item
 * in an answer into out; false when there is none. A scan, enough for the
 * items this benchmark writes. */
static bool item_number(const char *json, const char *name, char *out, size_t outn)
{
    char key[64];
    snprintf(key, sizeof(key), "\"%s\"", name);
    const char *p = strstr(json, key);
    return p && json_next_str(&p, "N", out, outn);
}

/* The time of day in microseconds: what a streamed item carries, and what
 * its arrival is compared with (another process's clock). */
static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*: a key generator per client, no locks. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* ---- the benchmark's state ----------------------------------------------- */

/* What a client of an item cell does; WORK_LOAD fills the Query
 * partitions before the cells. */
enum work { WORK_PUT, WORK_GET, WORK_QUERY, WORK_KINDS, WORK_LOAD = WORK_KINDS };
static const char *const work_name[WORK_KINDS + 1] = {"PutItem", "GetItem", "Query",
                                                      "PutItem (load)"};

/* A PutItem, GetItem or Query cell. */
struct cell {
    enum work work;
    unsigned clients;
    double secs;
    uint64_t ops, errors, new_conns;
    uint64_t p50, p99;
    struct store_stats store;
    struct cpu_use cpu;
    char first_error[300];
};

/* The hot counter. */
struct counter_cell {
    bool run;
    unsigned clients;
    double secs;
    uint64_t successes, cond_failures, gets, errors;
    uint64_t get_p50, get_p99, upd_p50, upd_p99;
    bool final_read;
    uint64_t final;
    struct store_stats store;
    struct cpu_use cpu;
    char first_error[300];
};

enum stream_state {
    STREAM_SKIPPED,     /* --no-stream */
    STREAM_UNAVAILABLE, /* the server refused the mapping, or the table has no stream */
    STREAM_FAILED,      /* something else went wrong: why */
    STREAM_DONE
};

/* Write → stream → mapping → function. */
struct stream_cell {
    enum stream_state state;
    char why[400];
    char arn[512], uuid[64];
    uint16_t port; /* the notifier's datagrams come to 127.0.0.1:port */
    double warm_secs; /* from CreateEventSourceMapping to the first record's arrival */
    uint64_t warm_items;
    uint64_t written, put_errors, seen, dups, unreadable, datagrams;
    uint64_t put_p50, put_p99;
    uint64_t p50, p90, p99, min, max;
    double secs; /* of the paced writes */
    double batches, failures, age_max; /* the mapping's counters; -1 when absent */
    struct cpu_use cpu;
    char first_error[300];
};

struct bench {
    struct options o;
    char notifier[PATH_MAX];
    size_t notifier_size;
    unsigned clients[MAX_COUNTS];
    size_t nclients;
    char tmp[PATH_MAX - 64];
    char fs_desc[PATH_MAX + 128];
    struct server srv;
    struct floor_set fl;
    double start_rss_mb;
    char payload[PAYLOAD_LEN + 1];
    uint64_t next_item; /* PutItem's next key (atomic) */
    uint64_t items;     /* keys GetItem reads: item-0 .. item-(items-1) */
    uint64_t load_next; /* the load's next item (atomic) */
    struct cell cells[WORK_KINDS * MAX_COUNTS];
    size_t ncells;
    struct counter_cell counter;
    struct stream_cell stream;
    struct gang gang;
    uint64_t deadline;
};

/* ---- control plane ---------------------------------------------------------- */

/* CreateTable name (hash key pk S, range key sk N, on demand), with a
 * NEW_IMAGE stream when stream is set; the answer into resp. 0, or -1 with
 * err. */
static int create_table(struct bench *b, const char *name, bool stream, char *resp,
                        size_t resp_cap, char *err, size_t errn)
{
    struct bytes body = {0};
    int rc = -1;
    if (bytes_printf(&body,
                     "{\"TableName\":\"%s\",\"AttributeDefinitions\":["
                     "{\"AttributeName\":\"pk\",\"AttributeType\":\"S\"},"
                     "{\"AttributeName\":\"sk\",\"AttributeType\":\"N\"}],"
                     "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"},"
                     "{\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}],"
                     "\"BillingMode\":\"PAY_PER_REQUEST\"%s}",
                     name,
                     stream ? ",\"StreamSpecification\":{\"StreamEnabled\":true,"
                              "\"StreamViewType\":\"NEW_IMAGE\"}"
                            : "")) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    rc = control_request(&b->srv, "POST", "/", ddb_ops[DDB_CREATE_TABLE].headers, &body, 200,
                         resp, resp_cap, err, errn);
out:
    free(body.data);
    return rc;
}

/* ---- PutItem, GetItem, Query ------------------------------------------------ */

struct worker {
    struct bench *b;
    enum work work;
    struct client *cl;
    uint64_t rng;
    struct lat lat;
    uint64_t ops, errors;
    char first_error[300];
};

/* The request of w's next call into w->cl->req, its key's number to *key.
 * 0; 1 when a load has nothing left to write; -1 when out of memory. */
static int item_request(struct worker *w, uint64_t *key)
{
    struct bench *b = w->b;
    struct bytes *q = &w->cl->req;
    q->len = 0;
    switch (w->work) {
    case WORK_PUT:
        *key = __atomic_fetch_add(&b->next_item, 1, __ATOMIC_RELAXED);
        return bytes_printf(q,
                            "{\"TableName\":\"" TABLE "\",\"Item\":{\"pk\":{\"S\":\"item-%" PRIu64
                            "\"},\"sk\":{\"N\":\"0\"},\"d\":{\"S\":\"%s\"}}}",
                            *key, b->payload);
    case WORK_LOAD:
        *key = __atomic_fetch_add(&b->load_next, 1, __ATOMIC_RELAXED);
        if (*key >= (uint64_t)b->o.partitions * QUERY_ITEMS)
            return 1;
        return bytes_printf(q,
                            "{\"TableName\":\"" TABLE "\",\"Item\":{\"pk\":{\"S\":\"part-%" PRIu64
                            "\"},\"sk\":{\"N\":\"%" PRIu64 "\"},\"d\":{\"S\":\"%s\"}}}",
                            *key / QUERY_ITEMS, *key % QUERY_ITEMS, b->payload);
    case WORK_GET:
        *key = next_random(&w->rng) % b->items;
        return bytes_printf(q,
                            "{\"TableName\":\"" TABLE "\",\"Key\":{\"pk\":{\"S\":\"item-%" PRIu64
                            "\"},\"sk\":{\"N\":\"0\"}}}",
                            *key);
    case WORK_QUERY:
        *key = next_random(&w->rng) % (uint64_t)b->o.partitions;
        return bytes_printf(q,
                            "{\"TableName\":\"" TABLE "\",\"KeyConditionExpression\":\"pk = :p\","
                            "\"ExpressionAttributeValues\":{\":p\":{\"S\":\"part-%" PRIu64
                            "\"}},\"Limit\":%d}",
                            *key, QUERY_LIMIT);
    }
    return -1;
}

static const enum ddb_op work_op[WORK_KINDS + 1] = {
    [WORK_PUT] = DDB_PUT_ITEM,
    [WORK_GET] = DDB_GET_ITEM,
    [WORK_QUERY] = DDB_QUERY,
    [WORK_LOAD] = DDB_PUT_ITEM,
};

/* Whether the answer to w's call on key is right: a GetItem has the item
 * (every VERIFY_EVERY-th its whole payload), a Query a full page. */
static bool item_answer_ok(struct worker *w, uint64_t key)
{
    const char *a = w->cl->dest;
    double count;
    switch (w->work) {
    case WORK_GET:
        if (!strstr(a, "\"Item\"")) {
            keep_first_error(w->first_error, sizeof(w->first_error),
                             "GetItem item-%" PRIu64 ": no item: %.200s", key, a);
            return false;
        }
        if (w->ops % VERIFY_EVERY == 0 && !strstr(a, w->b->payload)) {
            keep_first_error(w->first_error, sizeof(w->first_error),
                             "GetItem item-%" PRIu64 ": not the payload put: %.200s", key, a);
            return false;
        }
        return true;
    case WORK_QUERY:
        if (!json_number(a, "Count", &count) || count != QUERY_LIMIT) {
            keep_first_error(w->first_error, sizeof(w->first_error),
                             "Query part-%" PRIu64 ": not a page of %d: %.200s", key,
                             QUERY_LIMIT, a);
            return false;
        }
        return true;
    default:
        return true;
    }
}

/* One client of an item cell: its calls back to back until the deadline
 * (a load: until every item is written). */
static void *item_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    char err[300];
    unsigned transport_errors = 0;
    gang_ready(&b->gang);
    while (!g_stop && now_ns() < b->deadline) {
        uint64_t key;
        int rc = item_request(w, &key);
        if (rc)
            break; /* a load is done, or out of memory (counted below) */
        uint64_t t0 = now_ns();
        rc = ddb_call(&b->srv, w->cl, work_op[w->work], err, sizeof(err));
        uint64_t t1 = now_ns();
        if (rc) {
            w->errors++;
            keep_first_error(w->first_error, sizeof(w->first_error), "%s", err);
            if (w->cl->c.fd < 0 && ++transport_errors == MAX_TRANSPORT_ERRORS)
                break;
            continue;
        }
        transport_errors = 0;
        if (!item_answer_ok(w, key)) {
            w->errors++;
            continue;
        }
        w->ops++;
        if (lat_add(&w->lat, t1 - t0))
            break;
    }
    gang_done(&b->gang);
    return NULL;
}

/* A cell of work at clients, for --duration (a load: until done). 0, or -1
 * when out of memory. */
static int run_items(struct bench *b, enum work work, unsigned clients, struct cell *out)
{
    fprintf(stderr, "dynamodbbench: %s, %u client%s...\n", work_name[work], clients,
            clients == 1 ? "" : "s");
    memset(out, 0, sizeof(*out));
    out->work = work;
    out->clients = clients;
    struct worker *w = calloc(clients, sizeof(*w));
    void *objs[MAX_CLIENTS];
    struct lat *lats[MAX_CLIENTS];
    int rc = -1;
    if (!w)
        goto out;
    for (unsigned i = 0; i < clients; i++) {
        w[i] = (struct worker){.b = b,
                               .work = work,
                               .cl = client_new(&b->srv.addr),
                               .rng = 0x9e3779b97f4a7c15ull * (i + 1) ^ now_ns()};
        if (!w[i].cl)
            goto out;
        objs[i] = &w[i];
        lats[i] = &w[i].lat;
    }
    b->deadline = UINT64_MAX;
    gang_start(&b->gang, &b->srv, clients, item_main, objs);
    if (work != WORK_LOAD)
        b->deadline = b->gang.start + (uint64_t)(b->o.duration * 1e9);
    gang_go(&b->gang);
    gang_join(&b->gang, &out->cpu, &out->store, &out->secs);
    lat_merged_percentiles(lats, clients, &out->p50, &out->p99);
    for (unsigned i = 0; i < clients; i++) {
        out->ops += w[i].ops;
        out->errors += w[i].errors;
        out->new_conns += w[i].cl->c.connects > 0 ? w[i].cl->c.connects - 1 : 0;
        if (!out->first_error[0] && w[i].first_error[0])
            memcpy(out->first_error, w[i].first_error, sizeof(out->first_error));
    }
    rc = 0;
out:
    for (unsigned i = 0; w && i < clients; i++) {
        client_free(w[i].cl);
        free(w[i].lat.v);
    }
    free(w);
    if (rc)
        fprintf(stderr, "dynamodbbench: out of memory\n");
    return rc;
}

/* ---- UpdateItem on one hot key ------------------------------------------------ */

struct counter_worker {
    struct bench *b;
    struct client *cl;
    struct lat get_lat, upd_lat;
    uint64_t successes, cond_failures, gets, errors;
    char first_error[300];
};

/* GetItem of the counter, consistent. */
static int counter_get_request(struct bytes *q)
{
    q->len = 0;
    return bytes_printf(q, "{\"TableName\":\"" TABLE "\",\"Key\":{\"pk\":{\"S\":\"" COUNTER_PK
                           "\"},\"sk\":{\"N\":\"0\"}},\"ConsistentRead\":true}");
}

/* A call's failure: counted, the first one kept; false when the client
 * should give up (its connection keeps failing). */
static bool counter_failed(struct counter_worker *w, const char *err, unsigned *transport_errors)
{
    w->errors++;
    keep_first_error(w->first_error, sizeof(w->first_error), "%s", err);
    return !(w->cl->c.fd < 0 && ++*transport_errors == MAX_TRANSPORT_ERRORS);
}

/* One client: read n, then SET n = n + 1 if n is still what it read; on a
 * conditional failure read again. Until the deadline. */
static void *counter_main(void *arg)
{
    struct counter_worker *w = arg;
    struct bench *b = w->b;
    struct bytes *q = &w->cl->req;
    char err[300], n[NUM_MAX];
    unsigned transport_errors = 0;
    gang_ready(&b->gang);
    while (!g_stop && now_ns() < b->deadline) {
        if (counter_get_request(q))
            break;
        uint64_t t0 = now_ns();
        int rc = ddb_call(&b->srv, w->cl, DDB_GET_ITEM, err, sizeof(err));
        uint64_t t1 = now_ns();
        if (rc == 0 && !item_number(w->cl->dest, "n", n, sizeof(n))) {
            snprintf(err, sizeof(err), "GetItem " COUNTER_PK ": no n in %.200s", w->cl->dest);
            rc = -1;
        }
        if (rc) {
            if (!counter_failed(w, err, &transport_errors))
                break;
            continue;
        }
        w->gets++;
        q->len = 0;
        if (bytes_printf(q,
                         "{\"TableName\":\"" TABLE "\",\"Key\":{\"pk\":{\"S\":\"" COUNTER_PK
                         "\"},\"sk\":{\"N\":\"0\"}},\"UpdateExpression\":\"SET n = n + :one\","
                         "\"ConditionExpression\":\"n = :expected\","
                         "\"ExpressionAttributeValues\":{\":one\":{\"N\":\"1\"},"
                         "\":expected\":{\"N\":\"%s\"}}}",
                         n))
            break;
        uint64_t t2 = now_ns();
        rc = ddb_call(&b->srv, w->cl, DDB_UPDATE_ITEM, err, sizeof(err));
        uint64_t t3 = now_ns();
        if (rc == -1) {
            if (!counter_failed(w, err, &transport_errors))
                break;
            continue;
        }
        transport_errors = 0;
        if (rc == DDB_CONDITION_FAILED)
            w->cond_failures++;
        else
            w->successes++;
        if (lat_add(&w->get_lat, t1 - t0) || lat_add(&w->upd_lat, t3 - t2))
            break;
    }
    gang_done(&b->gang);
    return NULL;
}

/* The counter cell: the item put with n = 0, the clients for --duration,
 * then the counter read once more. 0, or -1 when it could not run. */
static int run_counter(struct bench *b, struct counter_cell *out)
{
    unsigned clients = (unsigned)b->o.counter_clients;
    fprintf(stderr, "dynamodbbench: UpdateItem on one hot key, %u client%s...\n", clients,
            clients == 1 ? "" : "s");
    memset(out, 0, sizeof(*out));
    out->clients = clients;
    struct counter_worker *w = calloc(clients, sizeof(*w));
    struct client *cl = client_new(&b->srv.addr);
    void *objs[MAX_CLIENTS];
    struct lat *lats[MAX_CLIENTS];
    char err[300] = "", n[NUM_MAX];
    int rc = -1;
    if (!w || !cl) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    if (bytes_printf(&cl->req, "{\"TableName\":\"" TABLE "\",\"Item\":{\"pk\":{\"S\":\"" COUNTER_PK
                               "\"},\"sk\":{\"N\":\"0\"},\"n\":{\"N\":\"0\"}}}")) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    if (ddb_call(&b->srv, cl, DDB_PUT_ITEM, err, sizeof(err)))
        goto out;
    for (unsigned i = 0; i < clients; i++) {
        w[i] = (struct counter_worker){.b = b, .cl = client_new(&b->srv.addr)};
        if (!w[i].cl) {
            snprintf(err, sizeof(err), "out of memory");
            goto out;
        }
        objs[i] = &w[i];
    }
    b->deadline = UINT64_MAX;
    gang_start(&b->gang, &b->srv, clients, counter_main, objs);
    b->deadline = b->gang.start + (uint64_t)(b->o.duration * 1e9);
    gang_go(&b->gang);
    gang_join(&b->gang, &out->cpu, &out->store, &out->secs);
    out->run = true;
    for (unsigned i = 0; i < clients; i++)
        lats[i] = &w[i].get_lat;
    lat_merged_percentiles(lats, clients, &out->get_p50, &out->get_p99);
    for (unsigned i = 0; i < clients; i++)
        lats[i] = &w[i].upd_lat;
    lat_merged_percentiles(lats, clients, &out->upd_p50, &out->upd_p99);
    for (unsigned i = 0; i < clients; i++) {
        out->successes += w[i].successes;
        out->cond_failures += w[i].cond_failures;
        out->gets += w[i].gets;
        out->errors += w[i].errors;
        if (!out->first_error[0] && w[i].first_error[0])
            memcpy(out->first_error, w[i].first_error, sizeof(out->first_error));
    }
    if (counter_get_request(&cl->req)) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    if (ddb_call(&b->srv, cl, DDB_GET_ITEM, err, sizeof(err)) == 0 &&
        item_number(cl->dest, "n", n, sizeof(n))) {
        out->final_read = true;
        out->final = strtoull(n, NULL, 10);
    } else {
        keep_first_error(out->first_error, sizeof(out->first_error),
                         "the final GetItem: %s", err[0] ? err : cl->dest);
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "dynamodbbench: the counter: %s\n", err);
    for (unsigned i = 0; w && i < clients; i++) {
        client_free(w[i].cl);
        free(w[i].get_lat.v);
        free(w[i].upd_lat.v);
    }
    free(w);
    client_free(cl);
    return rc;
}

/* ---- write → stream → mapping → function ------------------------------------- */

/* The notifier's datagrams: one per invocation, the event's first 4 KiB.
 * The receiver thread owns everything but stop, warm_seen and seen, which
 * the main thread reads while it runs. */
struct receiver {
    int fd;
    uint64_t n;       /* timed items: sort keys 0..n-1 */
    uint64_t *lat_ns; /* [n]: their write → function latency, 0 until seen */
    bool stop;
    uint64_t warm_seen, seen;
    uint64_t dups, unreadable, datagrams;
};

/* The number of the attribute value {"N":"123"} of member name in [p,
 * end) (NUL-terminated at or after end); false when there is none. */
static bool number_in(const char *p, const char *end, const char *name, uint64_t *out)
{
    char key[32];
    int kn = snprintf(key, sizeof(key), "\"%s\"", name);
    const char *k = memmem(p, (size_t)(end - p), key, (size_t)kn);
    const char *v = k ? memmem(k, (size_t)(end - k), "\"N\"", 3) : NULL;
    if (!v)
        return false;
    for (v += 3; v < end && (*v == ' ' || *v == ':'); v++) {
    }
    if (v >= end || *v != '"')
        return false;
    char *e;
    unsigned long long x = strtoull(++v, &e, 10);
    if (e == v || e >= end || *e != '"')
        return false;
    *out = x;
    return true;
}

/* The records of one event (buf, NUL-terminated after len), arrived at
 * now_us: each one's NewImage has its sort key sk and its write time t. */
static void receive_records(struct receiver *r, const char *buf, size_t len, uint64_t now_us)
{
    static const char img[] = "\"NewImage\"";
    const char *end = buf + len;
    const char *p = memmem(buf, len, img, sizeof(img) - 1);
    if (!p)
        r->unreadable++;
    while (p) {
        const char *from = p + sizeof(img) - 1;
        const char *next = memmem(from, (size_t)(end - from), img, sizeof(img) - 1);
        const char *seg_end = next ? next : end;
        uint64_t seq, t;
        if (!number_in(p, seg_end, "sk", &seq) || !number_in(p, seg_end, "t", &t)) {
            r->unreadable++; /* (the last record of a datagram cut at 4 KiB) */
        } else if (seq >= STREAM_WARM_BASE) {
            __atomic_add_fetch(&r->warm_seen, 1, __ATOMIC_RELEASE);
        } else if (seq < r->n) {
            if (r->lat_ns[seq]) {
                r->dups++;
            } else {
                r->lat_ns[seq] = now_us > t ? (now_us - t) * 1000u : 1;
                __atomic_add_fetch(&r->seen, 1, __ATOMIC_RELEASE);
            }
        }
        p = next;
    }
}

static void *receive_main(void *arg)
{
    struct receiver *r = arg;
    char buf[DATAGRAM_MAX + 1];
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) && !g_stop) {
        ssize_t n = recv(r->fd, buf, DATAGRAM_MAX, 0);
        uint64_t now = wall_us();
        if (n <= 0)
            continue; /* the timeout: look at stop again */
        buf[n] = '\0';
        r->datagrams++;
        receive_records(r, buf, (size_t)n, now);
    }
    return NULL;
}

/* A UDP socket on a free loopback port (to *port), with a receive timeout
 * so that the receiver sees stop. The fd, or -1 with err. */
static int receiver_socket(uint16_t *port, char *err, size_t errn)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int rcvbuf = 4 << 20;
    struct timeval tv = {0, RECV_TIMEOUT_MS * 1000};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
        getsockname(fd, (struct sockaddr *)&a, &alen) ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
        snprintf(err, errn, "UDP socket: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    *port = ntohs(a.sin_port);
    return fd;
}

/* PutItem of the stream table's item sk, t the time it is sent, on cl.
 * 0, or -1 with err. */
static int stream_put(struct bench *b, struct client *cl, uint64_t sk, char *err, size_t errn)
{
    cl->req.len = 0;
    if (bytes_printf(&cl->req,
                     "{\"TableName\":\"" STREAM_TABLE "\",\"Item\":{\"pk\":{\"S\":\"e2e\"},"
                     "\"sk\":{\"N\":\"%" PRIu64 "\"},\"t\":{\"N\":\"%" PRIu64 "\"}}}",
                     sk, wall_us())) {
        snprintf(err, errn, "out of memory");
        return -1;
    }
    return ddb_call(&b->srv, cl, DDB_PUT_ITEM, err, errn) ? -1 : 0;
}

/* The function, the stream's table and the mapping; STREAM_UNAVAILABLE
 * when there is no stream or the mapping is refused. 0, or -1 with err
 * (out->state says which). */
static int stream_setup(struct bench *b, struct stream_cell *out, char *err, size_t errn)
{
    char path[160], resp[16384];
    struct bytes body = {0};
    int rc = -1;
    size_t size;
    out->state = STREAM_FAILED;
    if (echo_function_create(&b->srv, FN_NAME, b->notifier, &size, err, errn))
        goto out;
    snprintf(path, sizeof(path), "/2015-03-31/functions/%s/configuration", FN_NAME);
    if (bytes_printf(&body, "{\"Environment\":{\"Variables\":{\"BENCH_UDP_PORT\":\"%u\"}}}",
                     out->port)) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    if (control_request(&b->srv, "PUT", path, NULL, &body, 200, NULL, 0, err, errn))
        goto out;
    if (create_table(b, STREAM_TABLE, true, resp, sizeof(resp), err, errn))
        goto out;
    const char *p = resp;
    if (!json_next_str(&p, "LatestStreamArn", out->arn, sizeof(out->arn))) {
        out->state = STREAM_UNAVAILABLE;
        snprintf(err, errn, "CreateTable answered no LatestStreamArn");
        goto out;
    }
    body.len = 0;
    if (bytes_printf(&body,
                     "{\"EventSourceArn\":\"%s\",\"FunctionName\":\"%s\","
                     "\"StartingPosition\":\"LATEST\",\"BatchSize\":%ld}",
                     out->arn, FN_NAME, b->o.stream_batch)) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    if (esm_create(&b->srv, &body, out->uuid, sizeof(out->uuid), err, errn)) {
        out->state = STREAM_UNAVAILABLE;
        goto out;
    }
    rc = 0;
out:
    free(body.data);
    return rc;
}

/* Warm-up items, one every STREAM_WARM_GAP_MS, until the first reaches the
 * function (the mapping reads, the function has started): 0, or -1 with
 * err. */
static int stream_warm(struct bench *b, struct stream_cell *out, struct receiver *r,
                       struct client *cl, char *err, size_t errn)
{
    uint64_t start = now_ns(), until = start + STREAM_WARM_GIVE_UP_MS * 1000000ull;
    while (!__atomic_load_n(&r->warm_seen, __ATOMIC_ACQUIRE)) {
        if (g_stop || now_ns() >= until) {
            snprintf(err, errn,
                     "none of %" PRIu64 " items written reached the function within %d s of "
                     "CreateEventSourceMapping",
                     out->warm_items, STREAM_WARM_GIVE_UP_MS / 1000);
            return -1;
        }
        if (stream_put(b, cl, STREAM_WARM_BASE + out->warm_items, err, errn))
            return -1;
        out->warm_items++;
        for (int i = 0; i < STREAM_WARM_GAP_MS && !__atomic_load_n(&r->warm_seen, __ATOMIC_ACQUIRE);
             i++)
            sleep_ms(1);
    }
    out->warm_secs = (double)(now_ns() - start) / 1e9;
    sleep_ms(STREAM_SETTLE_MS);
    return 0;
}

/* The timed items, paced at --stream-rate, then the wait for the last of
 * them; the write latencies into put_lat. */
static void stream_paced(struct bench *b, struct stream_cell *out, struct receiver *r,
                         struct client *cl, struct lat *put_lat)
{
    char err[300];
    struct cpu_snap c0, c1;
    uint64_t gap = (uint64_t)(1e9 / (double)b->o.stream_rate), next = now_ns(), start = next;
    cpu_snap(b->srv.pid, &c0);
    for (uint64_t i = 0; i < r->n && !g_stop; i++) {
        uint64_t now = now_ns();
        if (next > now) {
            struct timespec ts = {(time_t)((next - now) / 1000000000u),
                                  (long)((next - now) % 1000000000u)};
            nanosleep(&ts, NULL);
        }
        next += gap;
        uint64_t t0 = now_ns();
        if (stream_put(b, cl, i, err, sizeof(err))) {
            out->put_errors++;
            keep_first_error(out->first_error, sizeof(out->first_error), "%s", err);
            continue;
        }
        out->written++;
        if (lat_add(put_lat, now_ns() - t0))
            break;
    }
    out->secs = (double)(now_ns() - start) / 1e9;
    uint64_t until = now_ns() + STREAM_WAIT_MS * 1000000ull;
    while (!g_stop && now_ns() < until &&
           __atomic_load_n(&r->seen, __ATOMIC_ACQUIRE) < out->written)
        sleep_ms(5);
    cpu_snap(b->srv.pid, &c1);
    out->cpu = cpu_between(&c0, &c1);
}

/* The latencies of the records seen, and the mapping's counters. */
static int stream_figures(struct bench *b, struct stream_cell *out, const struct receiver *r)
{
    struct lat l = {0};
    for (uint64_t i = 0; i < r->n; i++)
        if (r->lat_ns[i] && lat_add(&l, r->lat_ns[i])) {
            free(l.v);
            return -1;
        }
    lat_sort(&l);
    out->seen = l.n;
    out->p50 = percentile(l.v, l.n, 0.50);
    out->p90 = percentile(l.v, l.n, 0.90);
    out->p99 = percentile(l.v, l.n, 0.99);
    out->min = l.n ? l.v[0] : 0;
    out->max = l.n ? l.v[l.n - 1] : 0;
    out->dups = r->dups;
    out->unreadable = r->unreadable;
    out->datagrams = r->datagrams;
    free(l.v);
    out->batches = out->failures = out->age_max = -1;
    char *text = metrics_text(&b->srv);
    const struct {
        const char *fmt;
        double *v;
        bool max;
    } rows[] = {
        {"sluice_esm_batches{uuid=\"%s\"", &out->batches, false},
        {"sluice_esm_failures{uuid=\"%s\"", &out->failures, false},
        {"sluice_esm_iterator_age_ms{uuid=\"%s\"", &out->age_max, true},
    };
    for (size_t i = 0; text && i < ARRAY_LEN(rows); i++) {
        char name[160];
        snprintf(name, sizeof(name), rows[i].fmt, out->uuid);
        if (!metrics_fold(text, name, rows[i].max ? NULL : rows[i].v,
                          rows[i].max ? rows[i].v : NULL))
            *rows[i].v = -1;
    }
    free(text);
    return 0;
}

/* The stream cell. Its outcome is in out->state; -1 only when the run
 * cannot go on (out of memory). */
static int run_stream(struct bench *b, struct stream_cell *out)
{
    memset(out, 0, sizeof(*out));
    if (b->o.no_stream) {
        out->state = STREAM_SKIPPED;
        return 0;
    }
    fprintf(stderr, "dynamodbbench: write → stream → function...\n");
    struct receiver r = {.fd = -1, .n = (uint64_t)b->o.stream_items};
    struct client *cl = client_new(&b->srv.addr);
    struct lat put_lat = {0};
    char err[400] = "";
    bool receiving = false;
    pthread_t th;
    int rc = -1;
    if (!cl || !(r.lat_ns = calloc(r.n, sizeof(*r.lat_ns)))) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    rc = 0; /* from here on a failure is the cell's, not the run's */
    out->state = STREAM_FAILED;
    if ((r.fd = receiver_socket(&out->port, err, sizeof(err))) < 0)
        goto out;
    if (stream_setup(b, out, err, sizeof(err)))
        goto out;
    if (pthread_create(&th, NULL, receive_main, &r)) {
        snprintf(err, sizeof(err), "cannot start a thread");
        goto out;
    }
    receiving = true;
    fprintf(stderr, "dynamodbbench: stream: mapping %s; until a record reaches the function...\n",
            out->uuid);
    if (stream_warm(b, out, &r, cl, err, sizeof(err)))
        goto out;
    fprintf(stderr, "dynamodbbench: stream: %ld items at %ld/s...\n", b->o.stream_items,
            b->o.stream_rate);
    stream_paced(b, out, &r, cl, &put_lat);
    __atomic_store_n(&r.stop, true, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    receiving = false;
    lat_sort(&put_lat);
    out->put_p50 = percentile(put_lat.v, put_lat.n, 0.50);
    out->put_p99 = percentile(put_lat.v, put_lat.n, 0.99);
    if (stream_figures(b, out, &r)) {
        snprintf(err, sizeof(err), "out of memory");
        rc = -1;
        goto out;
    }
    out->state = STREAM_DONE;
out:
    if (receiving) {
        __atomic_store_n(&r.stop, true, __ATOMIC_RELEASE);
        pthread_join(th, NULL);
    }
    if (out->state != STREAM_DONE) {
        snprintf(out->why, sizeof(out->why), "%s", err);
        one_line(out->why);
        fprintf(stderr, "dynamodbbench: stream: %s: %s\n",
                out->state == STREAM_UNAVAILABLE ? "not available" : "failed", out->why);
    }
    if (r.fd >= 0)
        close(r.fd);
    free(r.lat_ns);
    free(put_lat.v);
    client_free(cl);
    return rc;
}

/* ---- report ------------------------------------------------------------- */

static double cell_rate(const struct cell *c)
{
    return c->secs > 0 ? (double)c->ops / c->secs : 0;
}

/* The must and aim of a cell (0 when it has none). */
static void cell_budget(const struct cell *c, double *must, double *aim)
{
    *must = *aim = 0;
    if (c->clients != BUDGET_CLIENTS)
        return;
    if (c->work == WORK_PUT) {
        *must = BUDGET_PUT;
        *aim = AIM_PUT;
    } else if (c->work == WORK_GET) {
        *must = BUDGET_GET;
        *aim = AIM_GET;
    }
}

static bool cell_ok(const struct cell *c)
{
    double must, aim;
    cell_budget(c, &must, &aim);
    return !c->errors && cell_rate(c) >= must;
}

static double counter_rate(const struct counter_cell *c, uint64_t n)
{
    return c->secs > 0 ? (double)n / c->secs : 0;
}

/* successes − the final value: lost updates when positive, updates nobody
 * counted when negative. */
static int64_t counter_lost(const struct counter_cell *c)
{
    return (int64_t)c->successes - (int64_t)c->final;
}

static bool counter_ok(const struct counter_cell *c)
{
    return c->run && c->final_read && counter_lost(c) == 0 && c->successes > 0;
}

static bool stream_ok(const struct stream_cell *s)
{
    return s->state == STREAM_DONE && s->seen == s->written && !s->put_errors &&
           s->seen > 0 && s->p50 <= BUDGET_STREAM_P50_NS;
}

static void print_header(const struct bench *b)
{
    printf("# Sluice DynamoDB benchmark\n\n");
    print_when_host("the benchmark, the server and the function");
    printf("- server: `%s serve --listen %s --auth dev` (pid %d), RSS %.1f MB after start-up\n",
           b->o.sluice, b->srv.host, (int)b->srv.pid, b->start_rss_mb);
    printf("- data dir: %s (%s)\n", b->srv.data, b->fs_desc);
    printf("- items: hash key pk (S), range key sk (N), d a string of %d characters: about "
           "200 B each; one on-demand table; cells %.1f s each; %ld Query partitions of %d "
           "items; floors %.1f s each\n",
           PAYLOAD_LEN, b->o.duration, b->o.partitions, QUERY_ITEMS, b->o.floor_time);
    if (b->o.no_stream)
        printf("- stream: skipped (--no-stream)\n");
    else
        printf("- stream: `%s` (%zu bytes) as the bootstrap of a %s function, MemorySize %d; "
               "its mapping LATEST, BatchSize %ld; %ld items at %ld/s\n",
               b->notifier, b->notifier_size, ECHO_RUNTIME, ECHO_MEMORY_MB, b->o.stream_batch,
               b->o.stream_items, b->o.stream_rate);
    printf("- latencies are per request, send to last byte received; requests unsigned "
           "(`--auth dev`)\n\n");
    fflush(stdout);
}

static void print_items(const struct bench *b)
{
    printf("## PutItem, GetItem, Query\n\n"
           "Each client calls back to back on one keep-alive connection. PutItem writes a new "
           "item (sk 0, a key of its own); GetItem reads a random one of the items the PutItem "
           "cells wrote (eventually consistent; every %dth compares the payload); Query reads "
           "one page (KeyConditionExpression `pk = :p`, Limit %d) of a random partition of %d "
           "items. **ops/s** is the figure. A PutItem is a durable commit: its p50 is divided "
           "by the in-place fdatasync floor, the reads' by the health GET's. Commits are the "
           "store's (one fsync each), per op. CPU is in %% of one CPU: the server / "
           "dynamodbbench / every other process / stolen.\n\n"
           "| op | clients | ops | **ops/s** | p50 / p99 | p50 ÷ floor | commits per op | "
           "errors | CPU srv / bench / other / steal | must (aim) |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n",
           VERIFY_EVERY, QUERY_LIMIT, QUERY_ITEMS);
    for (size_t i = 0; i < b->ncells; i++) {
        const struct cell *c = &b->cells[i];
        char n[32], r[32], a[32], e[32], f[32], m[32], x[32], bud[128] = "–";
        double must, aim;
        cell_budget(c, &must, &aim);
        if (must > 0)
            snprintf(bud, sizeof(bud), "≥ %s: **%s** (aim %s: %s)",
                     fmt_count(m, sizeof(m), must), cell_ok(c) ? "PASS" : "FAIL",
                     fmt_count(x, sizeof(x), aim), cell_rate(c) >= aim ? "met" : "not met");
        bool put = c->work == WORK_PUT;
        printf("| %s | %u | %s | **%s** | %s / %s | %s | %.2f | %" PRIu64
               " | %.0f / %.0f / %.0f / %.0f | %s |\n",
               work_name[c->work], c->clients, fmt_count(n, sizeof(n), (double)c->ops),
               fmt_count(r, sizeof(r), cell_rate(c)), fmt_ns(a, sizeof(a), c->p50),
               fmt_ns(e, sizeof(e), c->p99),
               fmt_ratio(f, sizeof(f), c->p50, put ? b->fl.fsync.p50 : b->fl.health.p50,
                         put ? "fsync" : "health"),
               c->ops ? c->store.batches / (double)c->ops : 0, c->errors, c->cpu.server,
               c->cpu.bench, c->cpu.others, c->cpu.steal, bud);
    }
    if (b->fl.fsync.p50) {
        /* One PutItem in flight per client; group commit shares an fsync
         * between the writes in flight. */
        char f[32], m[32];
        double ceiling = (double)BUDGET_CLIENTS * 1e9 / (double)b->fl.fsync.p50;
        printf("\nDurable ceiling at %d clients: %d PutItems / fsync p50 %s = %s ops/s%s\n",
               BUDGET_CLIENTS, BUDGET_CLIENTS, fmt_ns(f, sizeof(f), b->fl.fsync.p50),
               fmt_count(m, sizeof(m), ceiling),
               ceiling < BUDGET_PUT ? ": **the PutItem budget is out of reach on this disk "
                                      "today, whatever the server does**."
                                    : ".");
    }
    printf("\n");
    fflush(stdout);
}

static void print_counter(const struct bench *b)
{
    const struct counter_cell *c = &b->counter;
    printf("## UpdateItem on one hot key: optimistic concurrency\n\n"
           "One item (pk `%s`) holds a counter n, 0 at the start. Each of %u clients loops for "
           "%.1f s: GetItem (ConsistentRead) reads n, then UpdateItem `SET n = n + :one` with "
           "`ConditionExpression: n = :expected` (the n it read); a "
           "ConditionalCheckFailedException sends it back to the GetItem. **Successful "
           "updates/s** is the figure; **lost updates** = successes − the final n, which "
           "must be 0 (negative: more increments than successes counted, e.g. an answer lost "
           "to a transport error).\n\n"
           "| figure | value |\n|---|---|\n",
           COUNTER_PK, c->clients, b->o.duration);
    if (!c->run) {
        printf("| not run | |\n\n");
        fflush(stdout);
        return;
    }
    char n[32], r[32], a[32], z[32];
    printf("| **successful updates/s** | **%s** (%s in %.2f s) |\n",
           fmt_count(r, sizeof(r), counter_rate(c, c->successes)),
           fmt_count(n, sizeof(n), (double)c->successes), c->secs);
    printf("| conditional failures/s | %s (%s; %.2f per success) |\n",
           fmt_count(r, sizeof(r), counter_rate(c, c->cond_failures)),
           fmt_count(n, sizeof(n), (double)c->cond_failures),
           c->successes ? (double)c->cond_failures / (double)c->successes : 0);
    printf("| UpdateItem calls/s (either outcome) | %s |\n",
           fmt_count(r, sizeof(r), counter_rate(c, c->successes + c->cond_failures)));
    printf("| GetItem p50 / p99 | %s / %s |\n", fmt_ns(a, sizeof(a), c->get_p50),
           fmt_ns(z, sizeof(z), c->get_p99));
    printf("| UpdateItem p50 / p99 | %s / %s (%s) |\n", fmt_ns(a, sizeof(a), c->upd_p50),
           fmt_ns(z, sizeof(z), c->upd_p99),
           fmt_ratio(r, sizeof(r), c->upd_p50, b->fl.fsync.p50, "fsync"));
    if (c->final_read)
        printf("| final n | %" PRIu64 " |\n| **lost updates** | **%" PRId64 "**: **%s** |\n",
               c->final, counter_lost(c), counter_ok(c) ? "PASS" : "FAIL");
    else
        printf("| final n | **could not be read** |\n| **lost updates** | **–: FAIL** |\n");
    printf("| commits per UpdateItem | %.2f |\n",
           c->successes + c->cond_failures
               ? c->store.batches / (double)(c->successes + c->cond_failures)
               : 0);
    printf("| errors | %" PRIu64 " |\n", c->errors);
    printf("| CPU srv / bench / other / steal | %.0f / %.0f / %.0f / %.0f |\n\n", c->cpu.server,
           c->cpu.bench, c->cpu.others, c->cpu.steal);
    fflush(stdout);
}

/* "1,234", or "–" for a counter that could not be read (-1). */
static const char *fmt_metric(char *out, size_t n, double v)
{
    return v < 0 ? "–" : fmt_count(out, n, v);
}

static void print_stream(const struct bench *b)
{
    const struct stream_cell *s = &b->stream;
    printf("## Write → DynamoDB stream → event source mapping → native function\n\n");
    switch (s->state) {
    case STREAM_SKIPPED:
        printf("stream: skipped (--no-stream)\n\n");
        fflush(stdout);
        return;
    case STREAM_UNAVAILABLE:
        printf("stream: not available (%s)\n\n", s->why);
        fflush(stdout);
        return;
    case STREAM_FAILED:
        printf("stream: **failed** (%s)\n\n", s->why);
        fflush(stdout);
        return;
    case STREAM_DONE:
        break;
    }
    printf("A table with a NEW_IMAGE stream, a mapping on it (LATEST, BatchSize %ld) to the "
           "notifier, which sends each event to dynamodbbench as a UDP datagram the moment it "
           "arrives. Items are written until one reaches the function (warm-up: the mapping "
           "reads, the function has started), then %ld items from one client at %ld/s, each "
           "with t, the microseconds since the epoch when its PutItem was sent. A record's "
           "**latency** is its datagram's arrival less its t: the PutItem's own durable "
           "commit, the stream, the mapping, the invoke and a loopback datagram. CPU is in %% "
           "of one CPU over the paced writes and the wait for the last record: the server / "
           "the function processes / dynamodbbench / every other process / stolen.\n\n"
           "| figure | value |\n|---|---|\n",
           b->o.stream_batch, b->o.stream_items, b->o.stream_rate);
    char a[32], z[32], m[32], x[32], y[32], n[32];
    printf("| stream | `%s` |\n", s->arn);
    printf("| warm-up | the first record arrived %.2f s after CreateEventSourceMapping "
           "(%" PRIu64 " items written) |\n",
           s->warm_secs, s->warm_items);
    printf("| items written | %" PRIu64 " in %.2f s (%" PRIu64 " errors); PutItem p50 / p99 "
           "%s / %s |\n",
           s->written, s->secs, s->put_errors, fmt_ns(a, sizeof(a), s->put_p50),
           fmt_ns(z, sizeof(z), s->put_p99));
    printf("| records seen by the function | %" PRIu64 "%s; %" PRIu64 " twice; %" PRIu64
           " unreadable; %" PRIu64 " datagrams |\n",
           s->seen, s->seen == s->written ? ": every item written" : ": **not every item**",
           s->dups, s->unreadable, s->datagrams);
    printf("| **write → function, p50** | **%s** |\n", fmt_ns(a, sizeof(a), s->p50));
    printf("| write → function, p90 / p99 / min / max | %s / %s / %s / %s |\n",
           fmt_ns(a, sizeof(a), s->p90), fmt_ns(z, sizeof(z), s->p99),
           fmt_ns(m, sizeof(m), s->min), fmt_ns(x, sizeof(x), s->max));
    printf("| the mapping's batches / failures / largest IteratorAge | %s / %s / %s ms |\n",
           fmt_metric(n, sizeof(n), s->batches), fmt_metric(y, sizeof(y), s->failures),
           fmt_metric(m, sizeof(m), s->age_max));
    printf("| CPU srv / fn / bench / other / steal | %.0f / %.0f / %.0f / %.0f / %.0f |\n",
           s->cpu.server, s->cpu.functions, s->cpu.bench, s->cpu.others, s->cpu.steal);
    printf("| must | p50 ≤ %s: **%s** (aim ≤ %s: %s) |\n\n",
           fmt_ns(a, sizeof(a), BUDGET_STREAM_P50_NS), stream_ok(s) ? "PASS" : "FAIL",
           fmt_ns(z, sizeof(z), AIM_STREAM_P50_NS),
           stream_ok(s) && s->p50 <= AIM_STREAM_P50_NS ? "met" : "not met");
    fflush(stdout);
}

/* The budgets; returns how many failed. */
static int print_budgets(const struct bench *b)
{
    int failed = 0;
    char a[32], m[32], v[32];
    printf("## Budgets\n\n| budget | measured | result |\n|---|---|---|\n");
    for (int work = WORK_PUT; work <= WORK_GET; work++) {
        const struct cell *c = NULL;
        for (size_t i = 0; i < b->ncells; i++)
            if (b->cells[i].work == (enum work)work && b->cells[i].clients == BUDGET_CLIENTS)
                c = &b->cells[i];
        double must = work == WORK_PUT ? BUDGET_PUT : BUDGET_GET;
        double aim = work == WORK_PUT ? AIM_PUT : AIM_GET;
        failed += c && !cell_ok(c);
        printf("| %s, %d clients, ≥ %s ops/s (aim %s) | %s%s | **%s** |\n", work_name[work],
               BUDGET_CLIENTS, fmt_count(m, sizeof(m), must), fmt_count(a, sizeof(a), aim),
               c ? fmt_count(v, sizeof(v), cell_rate(c)) : "not run",
               c && c->errors ? " (with errors)" : "", !c ? "–" : cell_ok(c) ? "PASS" : "FAIL");
    }
    const struct counter_cell *c = &b->counter;
    failed += c->run && !counter_ok(c);
    if (c->run && c->final_read)
        snprintf(v, sizeof(v), "%" PRId64, counter_lost(c));
    printf("| conditional UpdateItem on one hot key, %u clients: lost updates = 0 | %s | "
           "**%s** |\n",
           c->clients, !c->run ? "not run" : c->final_read ? v : "final n not read",
           !c->run ? "–" : counter_ok(c) ? "PASS" : "FAIL");
    const struct stream_cell *s = &b->stream;
    failed += (s->state == STREAM_DONE && !stream_ok(s)) || s->state == STREAM_FAILED;
    printf("| write → stream → native function p50 ≤ %s (aim ≤ %s) | ",
           fmt_ns(m, sizeof(m), BUDGET_STREAM_P50_NS), fmt_ns(a, sizeof(a), AIM_STREAM_P50_NS));
    switch (s->state) {
    case STREAM_SKIPPED:
        printf("skipped | – |\n");
        break;
    case STREAM_UNAVAILABLE:
        printf("not available | – |\n");
        break;
    case STREAM_FAILED:
        printf("failed | **FAIL** |\n");
        break;
    case STREAM_DONE:
        printf("%s%s | **%s** |\n", fmt_ns(v, sizeof(v), s->p50),
               s->seen == s->written ? "" : " (not every record seen)",
               stream_ok(s) ? "PASS" : "FAIL");
        break;
    }
    double worst = 0;
    for (size_t i = 0; i < b->ncells; i++)
        worst = b->cells[i].cpu.others > worst ? b->cells[i].cpu.others : worst;
    worst = c->run && c->cpu.others > worst ? c->cpu.others : worst;
    print_busy_note(worst, "the measurements");
    return failed;
}

/* The first error of each part that had one. */
static void print_errors(const struct bench *b)
{
    bool any = false;
    for (size_t i = 0; i < b->ncells + 2; i++) {
        const char *e;
        char what[96];
        if (i < b->ncells) {
            e = b->cells[i].first_error;
            snprintf(what, sizeof(what), "%s ×%u", work_name[b->cells[i].work],
                     b->cells[i].clients);
        } else if (i == b->ncells) {
            e = b->counter.first_error;
            snprintf(what, sizeof(what), "the hot counter");
        } else {
            e = b->stream.first_error;
            snprintf(what, sizeof(what), "the stream's writes");
        }
        if (!e[0])
            continue;
        if (!any)
            printf("\nFirst error of each part that had one:\n\n");
        any = true;
        printf("- %s: %s\n", what, e);
    }
}

/* ---- main --------------------------------------------------------------- */

/* Checks the options beyond what parse_options does; 0, or -1 after
 * saying why. */
static int check_options(struct bench *b)
{
    const struct {
        long v, min, max;
        const char *flag;
    } ranges[] = {
        {b->o.counter_clients, 1, MAX_CLIENTS, "--counter-clients"},
        {b->o.partitions, 1, 100000, "--partitions"},
        {b->o.stream_items, 1, 1000000, "--stream-items"},
        {b->o.stream_rate, 1, 10000, "--stream-rate"},
        {b->o.stream_batch, 1, STREAM_MAX_BATCH, "--stream-batch"},
    };
    for (size_t i = 0; i < ARRAY_LEN(ranges); i++)
        if (ranges[i].v < ranges[i].min || ranges[i].v > ranges[i].max) {
            fprintf(stderr, "dynamodbbench: bad %s (%ld..%ld)\n", ranges[i].flag, ranges[i].min,
                    ranges[i].max);
            return -1;
        }
    if (parse_counts(b->o.clients, MAX_CLIENTS, b->clients, MAX_COUNTS, &b->nclients)) {
        fprintf(stderr, "dynamodbbench: bad --clients (1..%d, comma-separated)\n", MAX_CLIENTS);
        return -1;
    }
    /* The notifier: given, or bench/notifier beside the sluice binary. */
    const char *slash = strrchr(b->o.sluice, '/');
    char dflt[PATH_MAX];
    snprintf(dflt, sizeof(dflt), "%.*s/bench/notifier", slash ? (int)(slash - b->o.sluice) : 1,
             slash ? b->o.sluice : ".");
    const char *notifier = b->o.notifier ? b->o.notifier : dflt;
    if (b->o.no_stream) {
        snprintf(b->notifier, sizeof(b->notifier), "%s", notifier);
        if (access(b->o.sluice, X_OK)) {
            fprintf(stderr, "dynamodbbench: %s: %s\n", b->o.sluice, strerror(errno));
            return -1;
        }
        return 0;
    }
    struct stat st;
    if (bench_binaries(b->o.sluice, notifier, b->notifier, sizeof(b->notifier)) ||
        stat(b->notifier, &st)) {
        if (!b->o.notifier)
            fprintf(stderr, "dynamodbbench: make -C bench/events BUILD=DIR notifier builds it; "
                            "or give --notifier, or --no-stream\n");
        return -1;
    }
    b->notifier_size = (size_t)st.st_size;
    return 0;
}

int main(int argc, char **argv)
{
    g_bench_name = "dynamodbbench";
    static struct bench bench;
    struct bench *b = &bench;
    if (parse_options_requiring(option_table, ARRAY_LEN(option_table), &b->o, sizeof(b->o),
                                10000000, USAGE_ARGS, argc, argv, "--sluice"))
        return 2;
    if (check_options(b))
        return 2;
    for (int i = 0; i < PAYLOAD_LEN; i++)
        b->payload[i] = (char)('a' + (i * 7) % 26);

    /* Generous: floors, the load at 200 items/s, each cell, the stream's
     * warm-up, writes and wait, start and stop. */
    install_signals((unsigned)(120 + 4 * b->o.floor_time +
                               (double)b->o.partitions * QUERY_ITEMS / 200 +
                               (double)(WORK_KINDS * b->nclients + 1) * (b->o.duration + 30) +
                               STREAM_WARM_GIVE_UP_MS / 1000 +
                               (double)b->o.stream_items / (double)b->o.stream_rate * 2 +
                               STREAM_WAIT_MS / 1000 + 30));

    if (bench_workdir(b->o.dir, b->tmp, sizeof(b->tmp), b->fs_desc, sizeof(b->fs_desc), &b->srv,
                      b->o.sluice))
        return 1;
    int status = 1, failed = 0;
    char err[300], resp[16384];

    if (server_start(&b->srv))
        goto out;
    double hwm;
    long threads;
    proc_status(b->srv.pid, &b->start_rss_mb, &hwm, &threads);
    if (floor_set_measure(&b->srv, b->tmp, b->o.floor_time, &b->fl))
        goto out;
    if (create_table(b, TABLE, false, resp, sizeof(resp), err, sizeof(err))) {
        fprintf(stderr, "dynamodbbench: CreateTable: %s\n", err);
        goto out;
    }
    static struct cell load;
    if (run_items(b, WORK_LOAD, 8, &load))
        goto out;
    if (load.errors || load.ops != (uint64_t)b->o.partitions * QUERY_ITEMS) {
        fprintf(stderr, "dynamodbbench: loading the Query partitions: %" PRIu64 " of %ld items "
                        "written: %s\n",
                load.ops, b->o.partitions * QUERY_ITEMS, load.first_error);
        goto out;
    }
    print_header(b);
    floor_set_print(&b->fl);

    for (int work = 0; work < WORK_KINDS && !g_stop; work++) {
        if (work == WORK_GET)
            b->items = __atomic_load_n(&b->next_item, __ATOMIC_RELAXED);
        if (work == WORK_GET && !b->items)
            continue;
        for (size_t i = 0; i < b->nclients && !g_stop; i++) {
            if (run_items(b, (enum work)work, b->clients[i], &b->cells[b->ncells]))
                goto out;
            b->ncells++;
            if (server_gone(&b->srv, work_name[work]))
                goto died;
        }
    }
    print_items(b);
    if (!g_stop && run_counter(b, &b->counter))
        goto out;
    if (server_gone(&b->srv, "the hot counter"))
        goto died;
    print_counter(b);
    if (!g_stop && run_stream(b, &b->stream))
        goto out;
    if (server_gone(&b->srv, "the stream cell"))
        goto died;
    print_stream(b);
    print_errors(b);
    failed = print_budgets(b);
    status = run_status();
    goto out;
died:
    print_errors(b);
    print_log_findings(b->srv.log);
out:
    return bench_cleanup(&b->srv, b->tmp, b->o.keep, status, failed, b->o.strict);
}
