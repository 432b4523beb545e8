/*
 * sqsbench — Sluice's SQS benchmark, run by hand (`make bench`).
 *
 * It starts its own `sluice serve` on a free loopback port with a fresh data
 * directory on disk (never tmpfs: every send, receive and delete is a
 * durable commit), and in the same run measures
 *   - its floors, because the machine is shared and noisy: a bare
 *     fdatasync of a 1 KiB write on the data directory's filesystem, a GET
 *     of /_sluice/health over one connection (one trip through the front
 *     door) and a bare loopback HTTP round trip to a responder inside this
 *     process;
 *   - the SQS client loop, messages/s: each client sends a batch of 10
 *     messages, receives up to 10 and deletes those it got, on one queue
 *     per cell shared by 1 and 16 clients; p50 and p99 of each call;
 *   - long-poll wake-up latency: a receiver long-polls its own queue while
 *     a sender sends one message at a time, each carrying its send time;
 *   - queue → event source mapping → native function, messages/s end to
 *     end: a queue filled beforehand, a mapping created on it, timed until
 *     the queue is empty, with the server's and the functions' CPU, and the
 *     server's idle CPU and RSS after each drain with the mapping in place;
 * then prints markdown tables with the budgets beside the results, stops
 * the server (SIGTERM, wait) and removes its directory.
 *
 * Requests are unsigned (the server runs with --auth=dev): SQS in its JSON
 * 1.0 protocol (X-Amz-Target: AmazonSQS.<Op>), Lambda in rest-json. The
 * load generator is s3bench's: one thread per client, each with one
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
#define MAX_TRANSPORT_ERRORS 100 /* in a row, before a client gives up */

#define BATCH 10     /* messages per SendMessageBatch, ReceiveMessage, DeleteMessageBatch */
#define BODY_LEN 100 /* bytes of each message */
#define RESP_CAP (64 * 1024)
#define HANDLE_MAX 1024 /* a receipt handle as JSON text (Sluice's: 56 bytes) */

#define WAKE_WAIT_S 20          /* the receiver's WaitTimeSeconds */
#define WAKE_GAP_MIN_US 1000    /* the sender's pause before each message: 1–5 ms */
#define WAKE_GAP_MAX_US 5000
#define WAKE_LOST_MS 25000      /* a message not received by then is lost */

#define FN_NAME "sqsbench-echo"
#define ESM_BATCH_SIZE 100
#define ESM_WINDOW_S 1
#define ESM_FILLERS 4      /* threads that fill the queue */
#define ESM_POLL_MS 20     /* GetQueueAttributes while the mapping drains */
#define IDLE_SETTLE_S 1.0  /* after a drain: the server's last log flush, its memory trim */
#define IDLE_WINDOW_S 2.0  /* then the idle server */

/* Budgets of this benchmark (bench/README.md). */
#define BUDGET_LOOP_CLIENTS 16
#define BUDGET_LOOP_MSGS 10000.0
#define AIM_LOOP_MSGS 30000.0
#define BUDGET_ESM_MSGS 20000.0
#define AIM_ESM_MSGS 50000.0
#define BUDGET_IDLE_TICKS 0ull

/* ---- options ----------------------------------------------------------- */

struct options {
    const char *sluice;
    const char *dir;
    const char *bootstrap;
    double duration;
    const char *clients;
    long wake_samples;
    long esm_messages;
    const char *esm_concurrency;
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
     "the mapping's native function: runtimes/c's echo example (default: runtimes-c/echo "
     "beside the sluice binary)",
     offsetof(struct options, bootstrap)},
    {"--duration", OPT_SECONDS, "5", "seconds each send/receive/delete cell runs",
     offsetof(struct options, duration)},
    {"--clients", OPT_STR, "1,16", "client counts of the send/receive/delete cells",
     offsetof(struct options, clients)},
    {"--wake-samples", OPT_COUNT, "300", "messages timed through a waiting long poll",
     offsetof(struct options, wake_samples)},
    {"--esm-messages", OPT_COUNT, "20000", "messages each event source mapping drains",
     offsetof(struct options, esm_messages)},
    {"--esm-concurrency", OPT_STR, "2,5,10",
     "ScalingConfig MaximumConcurrency of the mappings run after the default one",
     offsetof(struct options, esm_concurrency)},
    {"--floor-time", OPT_SECONDS, "1", "seconds each floor is measured",
     offsetof(struct options, floor_time)},
    {"--keep", OPT_FLAG, NULL, "keep the temporary directory (data and server log)",
     offsetof(struct options, keep)},
    {"--strict", OPT_FLAG, NULL, "exit 3 when a budget fails", offsetof(struct options, strict)},
};

#define USAGE_ARGS "--sluice PATH"

/* ---- SQS's JSON protocol ---------------------------------------------------- */

enum sqs_op {
    SQS_CREATE_QUEUE,
    SQS_GET_ATTRIBUTES,
    SQS_SEND,
    SQS_SEND_BATCH,
    SQS_RECEIVE,
    SQS_DELETE,
    SQS_DELETE_BATCH,
    SQS_OP_COUNT
};

#define SQS_HEADERS(op)                                                                        \
    "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS." op "\r\n"

static const struct {
    const char *name, *headers;
} sqs_ops[SQS_OP_COUNT] = {
    [SQS_CREATE_QUEUE] = {"CreateQueue", SQS_HEADERS("CreateQueue")},
    [SQS_GET_ATTRIBUTES] = {"GetQueueAttributes", SQS_HEADERS("GetQueueAttributes")},
    [SQS_SEND] = {"SendMessage", SQS_HEADERS("SendMessage")},
    [SQS_SEND_BATCH] = {"SendMessageBatch", SQS_HEADERS("SendMessageBatch")},
    [SQS_RECEIVE] = {"ReceiveMessage", SQS_HEADERS("ReceiveMessage")},
    [SQS_DELETE] = {"DeleteMessage", SQS_HEADERS("DeleteMessage")},
    [SQS_DELETE_BATCH] = {"DeleteMessageBatch", SQS_HEADERS("DeleteMessageBatch")},
};

/* A client's connection and buffers (heap: the connection's buffer is 64
 * KiB). */
struct client {
    struct conn c;
    struct http_resp resp;
    struct bytes req;     /* request bodies built per call */
    char dest[RESP_CAP];  /* the response body, NUL-terminated */
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
 * One SQS call on cl's connection: op with the JSON body; expects 200.
 * The response body is in cl->dest (NUL-terminated). 0, or -1 with err.
 */
static int sqs_call(const struct server *srv, struct client *cl, enum sqs_op op, const char *body,
                    size_t len, char *err, size_t errn)
{
    struct http_req rq = {.method = "POST",
                          .path = "/",
                          .host = srv->host,
                          .headers = sqs_ops[op].headers,
                          .body = body,
                          .body_len = len};
    cl->dest[0] = '\0';
    if (http_roundtrip(&cl->c, &rq, cl->dest, sizeof(cl->dest) - 1, &cl->resp, err, errn))
        return -1;
    if (cl->resp.status != 200) {
        snprintf(err, errn, "%s: HTTP %d %s", sqs_ops[op].name, cl->resp.status,
                 cl->resp.snippet);
        return -1;
    }
    if (!cl->resp.into_dest) {
        snprintf(err, errn, "%s: a response over %d bytes", sqs_ops[op].name, RESP_CAP - 1);
        return -1;
    }
    cl->dest[cl->resp.body_len] = '\0';
    return 0;
}

/* The JSON string's raw text without its escapes (a queue URL may have \/). */
static void json_unescape(char *s)
{
    char *o = s;
    for (const char *p = s; *p; p++)
        *o++ = *p == '\\' && p[1] ? *++p : *p;
    *o = '\0';
}

/* How many times needle occurs in hay. */
static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)); p += len)
        n++;
    return n;
}

/* Entries a batch answer failed: those after "Failed":[ (each has an "Id"). */
static size_t batch_failed(const char *resp)
{
    const char *f = strstr(resp, "\"Failed\"");
    return f ? count_of(f, "\"Id\"") : 0;
}

/* ---- the benchmark's state ----------------------------------------------- */

/* Where a call's latencies go. */
enum call { CALL_SEND, CALL_RECEIVE, CALL_DELETE, CALL_COUNT };
static const char *const call_name[CALL_COUNT] = {"SendMessageBatch", "ReceiveMessage",
                                                  "DeleteMessageBatch"};

/* A send → receive → delete cell. */
struct loop_cell {
    unsigned clients;
    double secs;
    uint64_t sent, received, deleted, receives, empty_receives, errors, new_conns;
    uint64_t p50[CALL_COUNT], p99[CALL_COUNT];
    struct store_stats store; /* during the cell */
    struct cpu_use cpu;
    char first_error[300];
};

struct wake {
    uint64_t n, lost, errors;
    uint64_t p50, p99, min, max;
    char first_error[300];
};

/* A queue drained by an event source mapping. */
struct esm_cell {
    unsigned concurrency; /* ScalingConfig MaximumConcurrency; 0: none given */
    uint64_t messages, fill_errors;
    double fill_secs, drain_secs;
    bool drained;
    long left_visible, left_in_flight; /* what GetQueueAttributes said last */
    uint64_t polls, poll_p50, poll_max; /* GetQueueAttributes during the drain */
    double batches, records, failures; /* sluice_esm_* of the mapping; -1: not read */
    struct store_stats store;         /* during the drain */
    struct cpu_use cpu;
    struct idle_sample idle; /* the server after the drain, the mapping in place */
    char first_error[300];
};

struct bench {
    struct options o;
    char bootstrap[PATH_MAX];
    size_t bootstrap_size;
    unsigned clients[MAX_COUNTS];
    size_t nclients;
    unsigned conc[MAX_COUNTS];
    size_t nconc;
    char tmp[PATH_MAX - 64];
    char fs_desc[PATH_MAX + 128];
    struct server srv;
    struct floor_set fl;
    char body[BODY_LEN + 1]; /* every message's body in the loop and the fill */
    struct loop_cell loops[MAX_COUNTS];
    size_t nloops;
    struct wake wake;
    struct esm_cell esm[MAX_COUNTS + 1];
    size_t nesm;
    struct gang gang;
    uint64_t deadline;
};

/* ---- control plane ---------------------------------------------------------- */

/* CreateQueue name; its URL (as the server answers it) into url. */
static int create_queue(struct bench *b, const char *name, char *url, size_t urln, char *err,
                        size_t errn)
{
    struct bytes body = {0};
    char resp[2048];
    int rc = -1;
    if (bytes_printf(&body, "{\"QueueName\":\"%s\"}", name)) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    if (control_request(&b->srv, "POST", "/", sqs_ops[SQS_CREATE_QUEUE].headers, &body, 200,
                        resp, sizeof(resp), err, errn))
        goto out;
    const char *p = resp;
    if (!json_next_str(&p, "QueueUrl", url, urln)) {
        snprintf(err, errn, "CreateQueue %s: no QueueUrl in %.100s", name, resp);
        goto out;
    }
    json_unescape(url);
    rc = 0;
out:
    free(body.data);
    return rc;
}

/* The store's commit counters (zeros when they cannot be read) and the
 * counters of the mapping uuid into esm (left as they are then). */
static void store_and_esm_stats(struct bench *b, struct store_stats *out, const char *uuid,
                                struct esm_cell *esm)
{
    char *text = metrics_text(&b->srv);
    store_stats_of(text, out);
    if (text) {
        char name[128];
        snprintf(name, sizeof(name), "sluice_esm_batches{uuid=\"%s\"", uuid);
        esm->batches = metrics_value(text, name);
        snprintf(name, sizeof(name), "sluice_esm_records{uuid=\"%s\"", uuid);
        esm->records = metrics_value(text, name);
        snprintf(name, sizeof(name), "sluice_esm_failures{uuid=\"%s\"", uuid);
        esm->failures = metrics_value(text, name);
    }
    free(text);
}

/* ---- send → receive → delete ------------------------------------------------ */

struct loop_worker {
    struct bench *b;
    const char *url;
    struct client *cl;
    const char *send_body; /* SendMessageBatch of 10, the same each time */
    size_t send_len;
    const char *recv_body;
    size_t recv_len;
    struct lat lat[CALL_COUNT];
    uint64_t sent, received, deleted, receives, empty_receives, errors;
    char first_error[300];
};

/* DeleteMessageBatch of the receipt handles in a ReceiveMessage answer, in
 * w->cl->req; how many there were. */
static size_t delete_body(struct loop_worker *w, const char *received)
{
    struct bytes *q = &w->cl->req;
    char handle[HANDLE_MAX];
    size_t n = 0;
    q->len = 0;
    if (bytes_printf(q, "{\"QueueUrl\":\"%s\",\"Entries\":[", w->url))
        return 0;
    for (const char *p = received; n < BATCH && json_next_str(&p, "ReceiptHandle", handle,
                                                                 sizeof(handle));
         n++)
        if (bytes_printf(q, "%s{\"Id\":\"%zu\",\"ReceiptHandle\":\"%s\"}", n ? "," : "", n,
                         handle))
            return 0;
    if (bytes_append(q, "]}", 2))
        return 0;
    return n;
}

/* A call's failure: counted, the first one kept; false when the client
 * should give up (its connection keeps failing). */
static bool loop_failed(struct loop_worker *w, const char *err, unsigned *transport_errors)
{
    w->errors++;
    keep_first_error(w->first_error, sizeof(w->first_error), "%s", err);
    return !(w->cl->c.fd < 0 && ++*transport_errors == MAX_TRANSPORT_ERRORS);
}

/* One client: SendMessageBatch → ReceiveMessage → DeleteMessageBatch until
 * the deadline. */
static void *loop_main(void *arg)
{
    struct loop_worker *w = arg;
    struct bench *b = w->b;
    char err[300];
    unsigned transport_errors = 0;
    gang_ready(&b->gang);
    while (!g_stop && now_ns() < b->deadline) {
        uint64_t t0 = now_ns();
        if (sqs_call(&b->srv, w->cl, SQS_SEND_BATCH, w->send_body, w->send_len, err,
                     sizeof(err))) {
            if (!loop_failed(w, err, &transport_errors))
                break;
            continue;
        }
        uint64_t t1 = now_ns();
        size_t failed = batch_failed(w->cl->dest);
        w->sent += BATCH - (failed < BATCH ? failed : BATCH);
        if (failed) {
            w->errors++;
            keep_first_error(w->first_error, sizeof(w->first_error),
                        "SendMessageBatch: %zu entries failed: %.200s", failed, w->cl->dest);
        }
        if (sqs_call(&b->srv, w->cl, SQS_RECEIVE, w->recv_body, w->recv_len, err, sizeof(err))) {
            if (!loop_failed(w, err, &transport_errors))
                break;
            continue;
        }
        uint64_t t2 = now_ns();
        w->receives++;
        size_t n = delete_body(w, w->cl->dest);
        w->received += n;
        uint64_t t3 = t2;
        if (n) {
            if (sqs_call(&b->srv, w->cl, SQS_DELETE_BATCH, w->cl->req.data, w->cl->req.len, err,
                         sizeof(err))) {
                if (!loop_failed(w, err, &transport_errors))
                    break;
                continue;
            }
            t3 = now_ns();
            failed = batch_failed(w->cl->dest);
            w->deleted += n - (failed < n ? failed : n);
            if (failed) {
                w->errors++;
                keep_first_error(w->first_error, sizeof(w->first_error),
                            "DeleteMessageBatch: %zu entries failed: %.200s", failed,
                            w->cl->dest);
            }
        } else {
            w->empty_receives++;
        }
        transport_errors = 0;
        if (lat_add(&w->lat[CALL_SEND], t1 - t0) || lat_add(&w->lat[CALL_RECEIVE], t2 - t1) ||
            (n && lat_add(&w->lat[CALL_DELETE], t3 - t2)))
            break;
    }
    gang_done(&b->gang);
    return NULL;
}

static int run_loop_cell(struct bench *b, unsigned clients, struct loop_cell *out)
{
    fprintf(stderr, "sqsbench: send/receive/delete, %u client%s...\n", clients,
            clients == 1 ? "" : "s");
    memset(out, 0, sizeof(*out));
    out->clients = clients;
    char name[64], url[512], err[300] = "";
    struct bytes send = {0}, recv = {0};
    struct loop_worker *w = calloc(clients, sizeof(*w));
    int rc = -1;
    snprintf(name, sizeof(name), "sqsbench-loop-%u", clients);
    if (!w)
        goto out;
    if (create_queue(b, name, url, sizeof(url), err, sizeof(err))) {
        fprintf(stderr, "sqsbench: %s\n", err);
        goto out;
    }
    if (bytes_printf(&send, "{\"QueueUrl\":\"%s\",\"Entries\":[", url))
        goto out;
    for (int i = 0; i < BATCH; i++)
        if (bytes_printf(&send, "%s{\"Id\":\"%d\",\"MessageBody\":\"%s\"}", i ? "," : "", i,
                         b->body))
            goto out;
    if (bytes_append(&send, "]}", 2) ||
        bytes_printf(&recv,
                     "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":%d,\"WaitTimeSeconds\":0}", url,
                     BATCH))
        goto out;
    for (unsigned i = 0; i < clients; i++) {
        w[i] = (struct loop_worker){.b = b,
                                    .url = url,
                                    .cl = client_new(&b->srv.addr),
                                    .send_body = send.data,
                                    .send_len = send.len,
                                    .recv_body = recv.data,
                                    .recv_len = recv.len};
        if (!w[i].cl)
            goto out;
    }
    void *objs[MAX_CLIENTS];
    struct lat *lats[MAX_CLIENTS];
    for (unsigned i = 0; i < clients; i++)
        objs[i] = &w[i];
    b->deadline = UINT64_MAX;
    gang_start(&b->gang, &b->srv, clients, loop_main, objs);
    b->deadline = b->gang.start + (uint64_t)(b->o.duration * 1e9);
    gang_go(&b->gang);
    gang_join(&b->gang, &out->cpu, &out->store, &out->secs);
    for (int k = 0; k < CALL_COUNT; k++) {
        for (unsigned i = 0; i < clients; i++)
            lats[i] = &w[i].lat[k];
        lat_merged_percentiles(lats, clients, &out->p50[k], &out->p99[k]);
    }
    for (unsigned i = 0; i < clients; i++) {
        out->sent += w[i].sent;
        out->received += w[i].received;
        out->deleted += w[i].deleted;
        out->receives += w[i].receives;
        out->empty_receives += w[i].empty_receives;
        out->errors += w[i].errors;
        out->new_conns += w[i].cl->c.connects > 0 ? w[i].cl->c.connects - 1 : 0;
        if (!out->first_error[0] && w[i].first_error[0])
            memcpy(out->first_error, w[i].first_error, sizeof(out->first_error));
    }
    rc = 0;
out:
    for (unsigned i = 0; w && i < clients; i++) {
        client_free(w[i].cl);
        for (int k = 0; k < CALL_COUNT; k++)
            free(w[i].lat[k].v);
    }
    free(w);
    free(send.data);
    free(recv.data);
    if (rc && !err[0])
        fprintf(stderr, "sqsbench: out of memory\n");
    return rc;
}

/* ---- long-poll wake-up ------------------------------------------------------ */

#define WAKE_STOP "stop" /* the body of the message that ends the receiver */

struct wake_run {
    struct bench *b;
    char url[512];
    struct client *rx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t got; /* messages the receiver has taken and deleted */
    bool done;    /* the sender has finished: the receiver's next poll is its last */
    struct lat lat;
    uint64_t errors;
    char first_error[300];
};

/* The receiver: long polls (WaitTimeSeconds 20, one message), each message
 * timed from the send time it carries to the poll's return, deleted, then
 * reported to the sender; until the sender's stop message. */
static void *wake_receiver(void *arg)
{
    struct wake_run *r = arg;
    struct bench *b = r->b;
    struct bytes recv = {0}, del = {0};
    char err[300], handle[HANDLE_MAX], text[128];
    if (bytes_printf(&recv,
                     "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":1,\"WaitTimeSeconds\":%d}",
                     r->url, WAKE_WAIT_S))
        goto out;
    while (!g_stop) {
        int rc = sqs_call(&b->srv, r->rx, SQS_RECEIVE, recv.data, recv.len, err, sizeof(err));
        uint64_t t = now_ns();
        pthread_mutex_lock(&r->mu);
        bool done = r->done;
        pthread_mutex_unlock(&r->mu);
        if (rc) {
            r->errors++;
            keep_first_error(r->first_error, sizeof(r->first_error), "%s", err);
            if (done || (r->rx->c.fd < 0 && r->errors >= MAX_TRANSPORT_ERRORS))
                break;
            continue;
        }
        const char *p = r->rx->dest, *q = r->rx->dest;
        if (!json_next_str(&p, "ReceiptHandle", handle, sizeof(handle))) {
            if (done)
                break; /* (the stop message was lost too) */
            continue;  /* the wait ended with nothing */
        }
        unsigned long long sent_ns = 0;
        bool body = json_next_str(&q, "Body", text, sizeof(text));
        if (body && strcmp(text, WAKE_STOP) == 0)
            break;
        if (!body || sscanf(text, "wake %*u %llu", &sent_ns) != 1 || sent_ns > t) {
            r->errors++;
            keep_first_error(r->first_error, sizeof(r->first_error), "unexpected message: %.200s",
                             r->rx->dest);
        } else if (lat_add(&r->lat, t - sent_ns)) {
            break;
        }
        del.len = 0;
        if (bytes_printf(&del, "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}", r->url, handle))
            break;
        if (sqs_call(&b->srv, r->rx, SQS_DELETE, del.data, del.len, err, sizeof(err))) {
            r->errors++;
            keep_first_error(r->first_error, sizeof(r->first_error), "%s", err);
        }
        pthread_mutex_lock(&r->mu);
        r->got++;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
out:
    free(recv.data);
    free(del.data);
    return NULL;
}

/* SendMessage of body text on cl; 0 or -1 with err. */
static int send_one(struct bench *b, struct client *cl, const char *url, const char *text,
                    char *err, size_t errn)
{
    cl->req.len = 0;
    if (bytes_printf(&cl->req, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"%s\"}", url, text)) {
        snprintf(err, errn, "out of memory");
        return -1;
    }
    return sqs_call(&b->srv, cl, SQS_SEND, cl->req.data, cl->req.len, err, errn);
}

/* The sender (this thread): one message at a time after a 1–5 ms pause,
 * each carrying its send time, the next once the receiver has it. */
static int run_wake(struct bench *b)
{
    fprintf(stderr, "sqsbench: long-poll wake-up, %ld messages...\n", b->o.wake_samples);
    struct wake *out = &b->wake;
    memset(out, 0, sizeof(*out));
    struct wake_run *r = calloc(1, sizeof(*r));
    struct client *tx = client_new(&b->srv.addr);
    char err[300] = "", text[64];
    int rc = -1;
    pthread_t th;
    if (r) {
        r->b = b;
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv, NULL);
    }
    if (!r || !tx)
        goto out;
    if (create_queue(b, "sqsbench-wake", r->url, sizeof(r->url), err, sizeof(err)) ||
        !(r->rx = client_new(&b->srv.addr))) {
        fprintf(stderr, "sqsbench: %s\n", err[0] ? err : "out of memory");
        goto out;
    }
    if (pthread_create(&th, NULL, wake_receiver, r))
        goto out;
    uint64_t x = now_ns() | 1, expected = 0;
    for (long i = 0; i < b->o.wake_samples && !g_stop; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t gap_us = WAKE_GAP_MIN_US + x % (WAKE_GAP_MAX_US - WAKE_GAP_MIN_US + 1);
        struct timespec gap = {0, (long)gap_us * 1000};
        while (nanosleep(&gap, &gap) && errno == EINTR && !g_stop) {
        }
        uint64_t t0 = now_ns();
        snprintf(text, sizeof(text), "wake %ld %llu", i, (unsigned long long)t0);
        if (send_one(b, tx, r->url, text, err, sizeof(err))) {
            out->errors++;
            keep_first_error(out->first_error, sizeof(out->first_error), "%s", err);
            if (tx->c.fd < 0 && out->errors >= MAX_TRANSPORT_ERRORS)
                break;
            continue;
        }
        expected++;
        /* Until the receiver has it (and has deleted it), with a deadline. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += WAKE_LOST_MS / 1000;
        pthread_mutex_lock(&r->mu);
        while (r->got < expected && !g_stop)
            if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT)
                break;
        bool lost = r->got < expected;
        pthread_mutex_unlock(&r->mu);
        if (lost && !g_stop) {
            out->lost++;
            expected--; /* (if it comes late, the next wait is short) */
            keep_first_error(out->first_error, sizeof(out->first_error),
                             "message %ld not received within %d s", i, WAKE_LOST_MS / 1000);
        }
    }
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_mutex_unlock(&r->mu);
    if (send_one(b, tx, r->url, WAKE_STOP, err, sizeof(err)))
        keep_first_error(out->first_error, sizeof(out->first_error), "stop message: %s", err);
    pthread_join(th, NULL);
    lat_sort(&r->lat);
    out->n = r->lat.n;
    out->p50 = percentile(r->lat.v, r->lat.n, 0.50);
    out->p99 = percentile(r->lat.v, r->lat.n, 0.99);
    out->min = r->lat.n ? r->lat.v[0] : 0;
    out->max = r->lat.n ? r->lat.v[r->lat.n - 1] : 0;
    out->errors += r->errors;
    if (!out->first_error[0] && r->first_error[0])
        memcpy(out->first_error, r->first_error, sizeof(out->first_error));
    rc = 0;
out:
    if (r) {
        client_free(r->rx);
        free(r->lat.v);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
    }
    free(r);
    client_free(tx);
    return rc;
}

/* ---- queue → event source mapping → function ------------------------------------ */

struct filler {
    struct bench *b;
    const char *url;
    uint64_t *next, total; /* messages claimed so far (atomic), of total */
    uint64_t sent, errors;
    char first_error[300];
    pthread_t th;
};

/* Sends batches of 10 until the queue has its messages. */
static void *fill_main(void *arg)
{
    struct filler *f = arg;
    struct client *cl = client_new(&f->b->srv.addr);
    struct bytes body = {0};
    char err[300];
    unsigned transport_errors = 0;
    while (cl && !g_stop) {
        uint64_t from = __atomic_fetch_add(f->next, BATCH, __ATOMIC_RELAXED);
        if (from >= f->total)
            break;
        uint64_t n = f->total - from < BATCH ? f->total - from : BATCH;
        body.len = 0;
        if (bytes_printf(&body, "{\"QueueUrl\":\"%s\",\"Entries\":[", f->url))
            break;
        for (uint64_t i = 0; i < n; i++)
            if (bytes_printf(&body, "%s{\"Id\":\"%" PRIu64 "\",\"MessageBody\":\"%s\"}",
                             i ? "," : "", i, f->b->body))
                goto out;
        if (bytes_append(&body, "]}", 2))
            break;
        if (sqs_call(&f->b->srv, cl, SQS_SEND_BATCH, body.data, body.len, err, sizeof(err))) {
            f->errors++;
            keep_first_error(f->first_error, sizeof(f->first_error), "fill: %s", err);
            if (cl->c.fd < 0 && ++transport_errors == MAX_TRANSPORT_ERRORS)
                break;
            continue;
        }
        transport_errors = 0;
        size_t failed = batch_failed(cl->dest);
        f->sent += n - (failed < n ? failed : n);
        if (failed) {
            f->errors++;
            keep_first_error(f->first_error, sizeof(f->first_error), "fill: %zu entries failed: %.200s",
                        failed, cl->dest);
        }
    }
out:
    client_free(cl);
    free(body.data);
    return NULL;
}

/* GetQueueAttributes' two counts of messages; 0 or -1 with err. */
static int queue_counts(struct bench *b, struct client *cl, const char *url, long *visible,
                        long *in_flight, char *err, size_t errn)
{
    cl->req.len = 0;
    if (bytes_printf(&cl->req,
                     "{\"QueueUrl\":\"%s\",\"AttributeNames\":[\"ApproximateNumberOfMessages\","
                     "\"ApproximateNumberOfMessagesNotVisible\"]}",
                     url)) {
        snprintf(err, errn, "out of memory");
        return -1;
    }
    if (sqs_call(&b->srv, cl, SQS_GET_ATTRIBUTES, cl->req.data, cl->req.len, err, errn))
        return -1;
    char v[32], nv[32];
    const char *p = cl->dest, *q = cl->dest;
    if (!json_next_str(&p, "ApproximateNumberOfMessages", v, sizeof(v)) ||
        !json_next_str(&q, "ApproximateNumberOfMessagesNotVisible", nv, sizeof(nv))) {
        snprintf(err, errn, "GetQueueAttributes: no counts in %.200s", cl->dest);
        return -1;
    }
    *visible = strtol(v, NULL, 10);
    *in_flight = strtol(nv, NULL, 10);
    return 0;
}

/*
 * One mapping: a new queue filled with --esm-messages messages by
 * ESM_FILLERS clients, then CreateEventSourceMapping (ScalingConfig when
 * concurrency is not 0), timed until GetQueueAttributes shows the queue
 * empty; then the idle server with the mapping in place, and the mapping
 * deleted.
 */
static int run_esm(struct bench *b, size_t index, unsigned concurrency, struct esm_cell *out)
{
    memset(out, 0, sizeof(*out));
    out->concurrency = concurrency;
    out->batches = out->records = out->failures = -1;
    char name[64], url[512], err[300] = "", uuid[64] = "";
    struct bytes body = {0};
    struct filler fl[ESM_FILLERS] = {0};
    struct client *poll = client_new(&b->srv.addr);
    uint64_t next = 0, total = (uint64_t)b->o.esm_messages;
    int rc = -1;
    snprintf(name, sizeof(name), "sqsbench-esm-%zu", index);
    if (!poll || create_queue(b, name, url, sizeof(url), err, sizeof(err)))
        goto out;

    fprintf(stderr, "sqsbench: mapping %zu: filling a queue with %" PRIu64 " messages...\n",
            index + 1, total);
    uint64_t f0 = now_ns();
    for (int i = 0; i < ESM_FILLERS; i++) {
        fl[i] = (struct filler){.b = b, .url = url, .next = &next, .total = total};
        if (pthread_create(&fl[i].th, NULL, fill_main, &fl[i])) {
            fprintf(stderr, "sqsbench: cannot start a thread\n");
            exit(1);
        }
    }
    for (int i = 0; i < ESM_FILLERS; i++) {
        pthread_join(fl[i].th, NULL);
        out->messages += fl[i].sent;
        out->fill_errors += fl[i].errors;
        if (!out->first_error[0] && fl[i].first_error[0])
            memcpy(out->first_error, fl[i].first_error, sizeof(out->first_error));
    }
    out->fill_secs = (double)(now_ns() - f0) / 1e9;
    if (g_stop || !out->messages)
        goto done;

    fprintf(stderr, "sqsbench: mapping %zu (%s): draining...\n", index + 1,
            concurrency ? "ScalingConfig" : "default");
    if (bytes_printf(&body,
                     "{\"EventSourceArn\":\"arn:aws:sqs:" DEV_REGION ":" DEV_ACCOUNT ":%s\","
                     "\"FunctionName\":\"%s\",\"BatchSize\":%d,"
                     "\"MaximumBatchingWindowInSeconds\":%d",
                     name, FN_NAME, ESM_BATCH_SIZE, ESM_WINDOW_S) ||
        (concurrency &&
         bytes_printf(&body, ",\"ScalingConfig\":{\"MaximumConcurrency\":%u}", concurrency)) ||
        bytes_append(&body, "}", 1)) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    struct store_stats s0, s1;
    store_stats_read(&b->srv, &s0);
    struct cpu_snap c0, c1;
    cpu_snap(b->srv.pid, &c0);
    uint64_t t0 = now_ns();
    if (esm_create(&b->srv, &body, uuid, sizeof(uuid), err, sizeof(err)))
        goto out;
    /* A working server drains at thousands a second; give it 20 s plus 1
     * ms a message before calling it stuck. */
    uint64_t give_up = t0 + (20000 + total) * 1000000ull, t1 = t0;
    struct lat polls = {0};
    while (!g_stop && now_ns() < give_up) {
        sleep_ms(ESM_POLL_MS);
        uint64_t p0 = now_ns();
        if (queue_counts(b, poll, url, &out->left_visible, &out->left_in_flight, err,
                         sizeof(err))) {
            free(polls.v);
            goto out;
        }
        t1 = now_ns();
        lat_add(&polls, t1 - p0);
        if (out->left_visible == 0 && out->left_in_flight == 0) {
            out->drained = true;
            break;
        }
    }
    lat_sort(&polls);
    out->polls = polls.n;
    out->poll_p50 = percentile(polls.v, polls.n, 0.5);
    out->poll_max = polls.n ? polls.v[polls.n - 1] : 0;
    free(polls.v);
    cpu_snap(b->srv.pid, &c1);
    out->drain_secs = (double)(t1 - t0) / 1e9;
    out->cpu = cpu_between(&c0, &c1);
    store_and_esm_stats(b, &s1, uuid, out);
    out->store = store_stats_delta(&s0, &s1);
    if (!out->drained && !g_stop)
        keep_first_error(out->first_error, sizeof(out->first_error),
                    "not drained after %.0f s: %ld messages visible, %ld in flight",
                    out->drain_secs, out->left_visible, out->left_in_flight);

    fprintf(stderr, "sqsbench: mapping %zu: idle server, mapping in place...\n", index + 1);
    if (!g_stop)
        idle_measure(b->srv.pid, IDLE_SETTLE_S, IDLE_WINDOW_S, &out->idle);
done:
    rc = 0;
out:
    if (uuid[0]) {
        char derr[300];
        if (esm_delete(&b->srv, uuid, derr, sizeof(derr)))
            keep_first_error(out->first_error, sizeof(out->first_error), "%s", derr);
    }
    if (rc)
        fprintf(stderr, "sqsbench: mapping %zu: %s\n", index + 1, err[0] ? err : "out of memory");
    client_free(poll);
    free(body.data);
    return rc;
}

/* ---- report ------------------------------------------------------------- */

static double loop_msgs(const struct loop_cell *c)
{
    return c->secs > 0 ? (double)c->deleted / c->secs : 0;
}

static double esm_msgs(const struct esm_cell *c)
{
    return c->drained && c->drain_secs > 0 ? (double)c->messages / c->drain_secs : 0;
}

static const struct loop_cell *budget_loop(const struct bench *b)
{
    for (size_t i = 0; i < b->nloops; i++)
        if (b->loops[i].clients == BUDGET_LOOP_CLIENTS)
            return &b->loops[i];
    return NULL;
}

static bool loop_ok(const struct loop_cell *c)
{
    return c && !c->errors && loop_msgs(c) >= BUDGET_LOOP_MSGS;
}

static bool esm_ok(const struct esm_cell *c)
{
    return c && c->drained && !c->fill_errors && esm_msgs(c) >= BUDGET_ESM_MSGS;
}

static bool idle_ok(const struct esm_cell *c)
{
    return c->idle.ok && c->idle.ticks <= BUDGET_IDLE_TICKS;
}

static void print_header(const struct bench *b)
{
    printf("# Sluice SQS benchmark\n\n");
    print_when_host("the benchmark, the server and the functions");
    printf("- server: `%s serve --listen %s --auth dev` (pid %d)\n", b->o.sluice, b->srv.host,
           (int)b->srv.pid);
    printf("- data dir: %s (%s)\n", b->srv.data, b->fs_desc);
    printf("- messages: %d bytes each, in batches of %d; send/receive/delete cells %.1f s each; "
           "floors %.1f s each\n",
           BODY_LEN, BATCH, b->o.duration, b->o.floor_time);
    printf("- mapping's function: `%s` (%zu bytes) as the bootstrap of a %s function, "
           "MemorySize %d; mappings of BatchSize %d, MaximumBatchingWindowInSeconds %d, "
           "%ld messages each\n",
           b->bootstrap, b->bootstrap_size, ECHO_RUNTIME, ECHO_MEMORY_MB, ESM_BATCH_SIZE,
           ESM_WINDOW_S, b->o.esm_messages);
    printf("- latencies are per request, send to last byte received\n\n");
    fflush(stdout);
}

static void print_loops(const struct bench *b)
{
    printf("## SendMessageBatch → ReceiveMessage → DeleteMessageBatch\n\n"
           "Each client loops: SendMessageBatch of %d × %d B, ReceiveMessage (MaxNumberOfMessages "
           "%d, WaitTimeSeconds 0), DeleteMessageBatch of the receipt handles it got; one "
           "standard queue per cell, shared by its clients. **msg/s deleted** is the figure. "
           "Each call: p50 / p99 (p50 ÷ fsync floor). Commits are the store's (one fsync "
           "each), per second and per message deleted. CPU is in %% of one CPU: the server / "
           "sqsbench / every other process / stolen.\n\n"
           "| clients | msg/s sent | **msg/s deleted** | %s | %s | %s | msgs per receive | "
           "errors | commits/s (per msg) | CPU srv / bench / other / steal | budget |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n",
           BATCH, BODY_LEN, BATCH, call_name[0], call_name[1], call_name[2]);
    for (size_t i = 0; i < b->nloops; i++) {
        const struct loop_cell *c = &b->loops[i];
        char s[32], d[32], lat[CALL_COUNT][96], bud[96] = "", cm[32];
        for (int k = 0; k < CALL_COUNT; k++) {
            char a[32], e[32], r[32];
            snprintf(lat[k], sizeof(lat[k]), "%s / %s (%s)", fmt_ns(a, sizeof(a), c->p50[k]),
                     fmt_ns(e, sizeof(e), c->p99[k]),
                     fmt_ratio(r, sizeof(r), c->p50[k], b->fl.fsync.p50, "fsync"));
        }
        if (c->clients == BUDGET_LOOP_CLIENTS)
            snprintf(bud, sizeof(bud), "≥ %s: **%s** (aim %s: %s)",
                     fmt_count(s, sizeof(s), BUDGET_LOOP_MSGS), loop_ok(c) ? "PASS" : "FAIL",
                     fmt_count(d, sizeof(d), AIM_LOOP_MSGS),
                     loop_msgs(c) >= AIM_LOOP_MSGS ? "met" : "not met");
        double commits = c->secs > 0 ? c->store.batches / c->secs : 0;
        printf("| %u | %s | **%s** | %s | %s | %s | %.1f | %" PRIu64 " | %s (%.2f) | %.0f / %.0f / "
               "%.0f / %.0f | %s |\n",
               c->clients, fmt_count(s, sizeof(s), c->secs > 0 ? (double)c->sent / c->secs : 0),
               fmt_count(d, sizeof(d), loop_msgs(c)), lat[0], lat[1], lat[2],
               c->receives ? (double)c->received / (double)c->receives : 0, c->errors,
               fmt_count(cm, sizeof(cm), commits),
               c->deleted ? c->store.batches / (double)c->deleted : 0, c->cpu.server, c->cpu.bench,
               c->cpu.others, c->cpu.steal, bud);
    }
    if (b->fl.fsync.p50) {
        /* Three commits in a row per loop, ten messages each; group commit
         * shares an fsync between the clients in flight. */
        for (size_t i = 0; i < b->nloops; i++) {
            if (b->loops[i].clients != BUDGET_LOOP_CLIENTS)
                continue;
            char f[32], m[32];
            double ceiling = (double)BUDGET_LOOP_CLIENTS * BATCH * 1e9 /
                             (3.0 * (double)b->fl.fsync.p50);
            printf("\nDurable ceiling at %u clients: %u clients × %d messages / (3 commits × "
                   "fsync p50 %s) = %s msg/s%s\n",
                   BUDGET_LOOP_CLIENTS, BUDGET_LOOP_CLIENTS, BATCH,
                   fmt_ns(f, sizeof(f), b->fl.fsync.p50), fmt_count(m, sizeof(m), ceiling),
                   ceiling < BUDGET_LOOP_MSGS ? ": **the budget is out of reach on this disk "
                                                "today, whatever the server does**."
                                              : ".");
        }
    }
    printf("\n");
    fflush(stdout);
}

static void print_wake(const struct bench *b)
{
    const struct wake *w = &b->wake;
    char a[32], c[32], d[32], e[32], f[32], g[32];
    printf("## Long-poll wake-up\n\nOne thread long-polls its own queue (ReceiveMessage, "
           "WaitTimeSeconds %d, MaxNumberOfMessages 1) and deletes what it gets; another sends "
           "one message at a time after a random 1–5 ms pause, the next once the receiver has "
           "deleted the last. Latency: from the send's first byte to the poll's return. A "
           "send and a receive are a durable commit each: the floor is two fsyncs.\n\n"
           "| n | p50 | p99 | min | max | p50 ÷ fsync | p50 ÷ health | lost | errors |\n"
           "|---|---|---|---|---|---|---|---|---|\n",
           WAKE_WAIT_S);
    printf("| %" PRIu64 " | %s | %s | %s | %s | %s | %s | %" PRIu64 " | %" PRIu64 " |\n\n", w->n,
           fmt_ns(a, sizeof(a), w->p50), fmt_ns(c, sizeof(c), w->p99),
           fmt_ns(d, sizeof(d), w->min), fmt_ns(e, sizeof(e), w->max),
           fmt_ratio(f, sizeof(f), w->p50, b->fl.fsync.p50, ""),
           fmt_ratio(g, sizeof(g), w->p50, b->fl.health.p50, ""), w->lost, w->errors);
    fflush(stdout);
}

static void esm_label(const struct esm_cell *c, char *out, size_t n)
{
    if (c->concurrency)
        snprintf(out, n, "MaximumConcurrency %u", c->concurrency);
    else
        snprintf(out, n, "no ScalingConfig");
}

static void print_esm(const struct bench *b)
{
    printf("## Queue → event source mapping → native function\n\n"
           "A queue filled with %ld messages of %d B (SendMessageBatch from %d clients: the "
           "fill rate), then CreateEventSourceMapping on it, timed until GetQueueAttributes "
           "(polled every %d ms) shows no message visible or in flight. Batches, records and "
           "failures are the mapping's own counters (`/_sluice/metrics`). CPU is in %% of one "
           "CPU over the drain: the server / the function processes / sqsbench / every other "
           "process / stolen. The polls are part of the server's load: their latency is "
           "shown.\n\n"
           "| mapping | messages | fill msg/s | drain | **msg/s** | batches (records each) | "
           "failures | commits (per msg) | polls: n, p50 / max | "
           "CPU srv / fn / bench / other / steal | budget |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n",
           b->o.esm_messages, BODY_LEN, ESM_FILLERS, ESM_POLL_MS);
    for (size_t i = 0; i < b->nesm; i++) {
        const struct esm_cell *c = &b->esm[i];
        char l[64], m[32], f[32], d[32], r[32], bud[96] = "", bt[64] = "–", fl[32] = "–",
                                                pp[32], pm[32];
        esm_label(c, l, sizeof(l));
        if (c->batches >= 0)
            snprintf(bt, sizeof(bt), "%.0f (%.1f)", c->batches,
                     c->batches > 0 ? c->records / c->batches : 0);
        if (c->failures >= 0)
            snprintf(fl, sizeof(fl), "%.0f", c->failures);
        if (i == 0)
            snprintf(bud, sizeof(bud), "≥ %s: **%s** (aim %s: %s)",
                     fmt_count(m, sizeof(m), BUDGET_ESM_MSGS), esm_ok(c) ? "PASS" : "FAIL",
                     fmt_count(f, sizeof(f), AIM_ESM_MSGS),
                     esm_msgs(c) >= AIM_ESM_MSGS ? "met" : "not met");
        if (c->drained)
            snprintf(d, sizeof(d), "%.2f s", c->drain_secs);
        else
            snprintf(d, sizeof(d), "**not drained** (%.0f s)", c->drain_secs);
        printf("| %s | %s%s | %s | %s | **%s** | %s | %s | %.0f (%.2f) | %" PRIu64 ", %s / %s | "
               "%.0f / %.0f / %.0f / %.0f / %.0f | %s |\n",
               l, fmt_count(m, sizeof(m), (double)c->messages),
               c->fill_errors ? " (fill errors)" : "",
               fmt_count(f, sizeof(f), c->fill_secs > 0 ? (double)c->messages / c->fill_secs : 0),
               d, fmt_count(r, sizeof(r), esm_msgs(c)), bt, fl, c->store.batches,
               c->messages ? c->store.batches / (double)c->messages : 0, c->polls,
               fmt_ns(pp, sizeof(pp), c->poll_p50), fmt_ns(pm, sizeof(pm), c->poll_max),
               c->cpu.server,
               c->cpu.functions, c->cpu.bench, c->cpu.others, c->cpu.steal, bud);
    }
    printf("\n### The idle server after each drain, its mapping in place\n\n"
           "The first %.0f s after the drain is the burst's end (the functions' last log lines "
           "flushed, memory given back), counted apart; the budget is on the %.0f s after it. "
           "A clock tick is %.0f ms of CPU.\n\n"
           "| mapping | server CPU, first %.0f s | server CPU, next %.0f s (0 ticks) | "
           "functions' CPU | RSS | threads |\n"
           "|---|---|---|---|---|---|\n",
           IDLE_SETTLE_S, IDLE_WINDOW_S, 1000.0 / (double)sysconf(_SC_CLK_TCK), IDLE_SETTLE_S,
           IDLE_WINDOW_S);
    for (size_t i = 0; i < b->nesm; i++) {
        const struct esm_cell *c = &b->esm[i];
        char l[64];
        esm_label(c, l, sizeof(l));
        if (!c->idle.ok) {
            printf("| %s | not measured | | | | |\n", l);
            continue;
        }
        printf("| %s | %llu ticks | %llu ticks (**%s**) | %.2f s | %.1f MB | %ld |\n", l,
               c->idle.settle_ticks, c->idle.ticks, idle_ok(c) ? "PASS" : "FAIL", c->idle.fn_s,
               c->idle.rss_mb, c->idle.threads);
    }
    fflush(stdout);
}

/* The budgets; returns how many failed. */
static int print_budgets(const struct bench *b)
{
    int failed = 0;
    char a[32], m[32], v[32];
    printf("\n## Budgets\n\n| budget | measured | result |\n|---|---|---|\n");
    const struct loop_cell *lc = budget_loop(b);
    failed += lc && !loop_ok(lc);
    printf("| SendMessageBatch → ReceiveMessage → DeleteMessageBatch, %d clients, ≥ %s msg/s "
           "deleted (aim %s) | %s%s | **%s** |\n",
           BUDGET_LOOP_CLIENTS, fmt_count(m, sizeof(m), BUDGET_LOOP_MSGS),
           fmt_count(a, sizeof(a), AIM_LOOP_MSGS),
           lc ? fmt_count(v, sizeof(v), loop_msgs(lc)) : "not run",
           lc && lc->errors ? " (with errors)" : "", !lc ? "–" : loop_ok(lc) ? "PASS" : "FAIL");
    const struct esm_cell *ec = b->nesm ? &b->esm[0] : NULL;
    failed += ec && !esm_ok(ec);
    printf("| queue → event source mapping → native function, no ScalingConfig, ≥ %s msg/s "
           "(aim %s) | %s%s | **%s** |\n",
           fmt_count(m, sizeof(m), BUDGET_ESM_MSGS), fmt_count(a, sizeof(a), AIM_ESM_MSGS),
           ec ? fmt_count(v, sizeof(v), esm_msgs(ec)) : "not run",
           ec && !ec->drained ? " (not drained)" : "", !ec ? "–" : esm_ok(ec) ? "PASS" : "FAIL");
    for (size_t i = 0; i < b->nesm; i++) {
        const struct esm_cell *c = &b->esm[i];
        if (!c->idle.ok)
            continue;
        char l[64];
        esm_label(c, l, sizeof(l));
        failed += !idle_ok(c);
        printf("| idle server CPU 0 ticks over %.0f s, %.0f s after a drain, mapping in place "
               "(%s) | %llu ticks | **%s** |\n",
               IDLE_WINDOW_S, IDLE_SETTLE_S, l, c->idle.ticks, idle_ok(c) ? "PASS" : "FAIL");
    }
    double worst = 0;
    for (size_t i = 0; i < b->nloops; i++)
        worst = b->loops[i].cpu.others > worst ? b->loops[i].cpu.others : worst;
    for (size_t i = 0; i < b->nesm; i++)
        worst = b->esm[i].cpu.others > worst ? b->esm[i].cpu.others : worst;
    print_busy_note(worst, "the measurements");
    return failed;
}

/* The first error of each part that had one. */
static void print_errors(const struct bench *b)
{
    bool any = false;
    char l[64];
    for (size_t i = 0; i < b->nloops + 1 + b->nesm; i++) {
        const char *e;
        char what[96];
        if (i < b->nloops) {
            e = b->loops[i].first_error;
            snprintf(what, sizeof(what), "send/receive/delete ×%u", b->loops[i].clients);
        } else if (i == b->nloops) {
            e = b->wake.first_error;
            snprintf(what, sizeof(what), "long-poll wake-up");
        } else {
            e = b->esm[i - b->nloops - 1].first_error;
            esm_label(&b->esm[i - b->nloops - 1], l, sizeof(l));
            snprintf(what, sizeof(what), "mapping, %s", l);
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

int main(int argc, char **argv)
{
    g_bench_name = "sqsbench";
    static struct bench bench;
    struct bench *b = &bench;
    if (parse_options_requiring(option_table, ARRAY_LEN(option_table), &b->o, sizeof(b->o),
                                10000000, USAGE_ARGS, argc, argv, "--sluice"))
        return 2;
    if (parse_counts(b->o.clients, MAX_CLIENTS, b->clients, MAX_COUNTS, &b->nclients)) {
        fprintf(stderr, "sqsbench: bad --clients (1..%d, comma-separated)\n", MAX_CLIENTS);
        return 2;
    }
    bool conc_ok = parse_counts(b->o.esm_concurrency, 1000, b->conc, MAX_COUNTS, &b->nconc) == 0;
    for (size_t i = 0; i < b->nconc; i++)
        conc_ok &= b->conc[i] >= 2; /* AWS's minimum */
    if (!conc_ok) {
        fprintf(stderr, "sqsbench: bad --esm-concurrency (2..1000, comma-separated)\n");
        return 2;
    }
    if (bench_binaries(b->o.sluice, b->o.bootstrap, b->bootstrap, sizeof(b->bootstrap)))
        return 2;
    for (int i = 0; i < BODY_LEN; i++)
        b->body[i] = (char)('a' + i % 26);

    /* Generous: floors, cells, the wake-ups at up to 50 ms each, fills at
     * 500 msg/s, drains until they give up, idle windows, start and stop. */
    double per_esm = (double)b->o.esm_messages / 500 + 20 + (double)b->o.esm_messages / 1000 +
                     IDLE_SETTLE_S + IDLE_WINDOW_S + 10;
    install_signals((unsigned)(120 + 4 * b->o.floor_time +
                               (double)b->nclients * (b->o.duration + 30) +
                               (double)b->o.wake_samples * 0.05 + (double)(1 + b->nconc) * per_esm));

    if (bench_workdir(b->o.dir, b->tmp, sizeof(b->tmp), b->fs_desc, sizeof(b->fs_desc), &b->srv,
                      b->o.sluice))
        return 1;
    int status = 1, failed = 0;
    char err[300];

    if (server_start(&b->srv))
        goto out;
    if (floor_set_measure(&b->srv, b->tmp, b->o.floor_time, &b->fl))
        goto out;
    if (echo_function_create(&b->srv, FN_NAME, b->bootstrap, &b->bootstrap_size, err,
                             sizeof(err))) {
        fprintf(stderr, "sqsbench: CreateFunction: %s\n", err);
        goto out;
    }
    print_header(b);
    floor_set_print(&b->fl);

    for (size_t i = 0; i < b->nclients && !g_stop; i++) {
        if (run_loop_cell(b, b->clients[i], &b->loops[b->nloops]))
            goto out;
        b->nloops++;
        if (server_gone(&b->srv, "the send/receive/delete cells"))
            goto died;
    }
    print_loops(b);
    if (!g_stop && run_wake(b))
        goto out;
    if (server_gone(&b->srv, "the long-poll wake-ups"))
        goto died;
    print_wake(b);
    for (size_t i = 0; i < 1 + b->nconc && !g_stop; i++) {
        if (run_esm(b, i, i ? b->conc[i - 1] : 0, &b->esm[b->nesm]))
            goto out;
        b->nesm++;
        if (server_gone(&b->srv, "an event source mapping"))
            goto died;
    }
    print_esm(b);
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
