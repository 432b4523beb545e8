/*
 * routebench — Sluice's routing benchmark through the wire protocols, run
 * by hand (`make bench`; matchbench measures the matcher alone).
 *
 * It starts its own `sluice serve` (fresh data directory on disk, --auth
 * dev) and measures
 *   - PutEvents → a rule's queue target, latency: a receiver long-polls
 *     the queue while a sender puts one event at a time (1–5 ms apart),
 *     each carrying its send time; the latency is the receive time minus
 *     the send time;
 *   - SNS Publish → 10 queue subscriptions, copies delivered/s: clients
 *     publish back to back for --duration seconds; every copy is in its
 *     queue when Publish answers (the fan-out is in the publish's
 *     transaction), which the run checks by counting the queues after;
 *   - a rate(1 minute) rule over --schedule-minutes: each Scheduled
 *     Event's SentTimestamp against the rule's creation + k minutes (the
 *     creation time is the middle of the PutRule round trip);
 * then prints markdown tables with the budgets and stops the server.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/benchlib.h"

#define RESP_CAP (256 * 1024)
#define SNS_QUEUES 10
#define MAX_CLIENTS 64

#define BUDGET_LAT_P50_NS 5000000ull /* PutEvents → queue, p50 ≤ 5 ms */
#define AIM_LAT_P50_NS 1000000ull
#define AIM_SCHED_P99_MS 50.0

struct options {
    const char *sluice, *dir;
    unsigned events, clients, schedule_minutes;
    double duration;
};

struct bench {
    struct options o;
    struct server srv;
    char account[16];
    /* results */
    uint64_t lat_p50, lat_p99, lat_n, lat_lost;
    double sns_publishes, sns_copies_s, sns_secs;
    uint64_t sns_expected, sns_counted;
    double sched_p50_ms, sched_p99_ms, sched_max_ms;
    unsigned sched_n;
};

static const char json10[] = "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: ";
static const char json11[] = "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: ";

/* One JSON-protocol call (target "AmazonSQS.SendMessage"), answer in resp. */
static int call(struct bench *b, struct conn *c, bool v11, const char *target, const char *body,
                char *resp, size_t cap, char *err, size_t errn)
{
    char headers[256];
    snprintf(headers, sizeof(headers), "%s%s\r\n", v11 ? json11 : json10, target);
    struct http_req rq = {.method = "POST", .path = "/", .host = b->srv.host,
                          .headers = headers, .body = body, .body_len = strlen(body)};
    struct http_resp r;
    resp[0] = '\0';
    if (http_roundtrip(c, &rq, resp, cap - 1, &r, err, errn))
        return -1;
    if (r.status != 200) {
        snprintf(err, errn, "%s: HTTP %d %s", target, r.status, r.snippet);
        return -1;
    }
    resp[r.into_dest ? r.body_len : 0] = '\0';
    return 0;
}

/* An SNS (query) call: form body, answer in resp. */
static int sns_call(struct bench *b, struct conn *c, const char *form, char *resp, size_t cap,
                    char *err, size_t errn)
{
    struct http_req rq = {.method = "POST", .path = "/", .host = b->srv.host,
                          /* (Signed for the routing only: --auth dev checks nothing.) */
                          .headers = "Content-Type: application/x-www-form-urlencoded\r\n"
                                     "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/"
                                     "us-east-1/sns/aws4_request, SignedHeaders=host, "
                                     "Signature=0000000000000000000000000000000000000000000000"
                                     "000000000000000000\r\n"
                                     "X-Amz-Date: 20260101T000000Z\r\n",
                          .body = form, .body_len = strlen(form)};
    struct http_resp r;
    resp[0] = '\0';
    if (http_roundtrip(c, &rq, resp, cap - 1, &r, err, errn))
        return -1;
    if (r.status != 200) {
        snprintf(err, errn, "SNS: HTTP %d %s", r.status, r.snippet);
        return -1;
    }
    resp[r.into_dest ? r.body_len : 0] = '\0';
    return 0;
}

/* A queue: its URL and ARN. */
static int make_queue(struct bench *b, struct conn *c, const char *name, char *url, size_t un,
                      char *arn, size_t an, char *err, size_t errn)
{
    char body[256], *resp = malloc(RESP_CAP);
    if (!resp)
        return -1;
    snprintf(body, sizeof(body), "{\"QueueName\":\"%s\"}", name);
    int rc = call(b, c, false, "AmazonSQS.CreateQueue", body, resp, RESP_CAP, err, errn);
    const char *p = resp;
    if (!rc && !json_next_str(&p, "QueueUrl", url, un))
        rc = -1;
    if (!rc) { /* (\/ in JSON) */
        char *o = url;
        for (const char *q = url; *q; q++)
            if (*q != '\\' || q[1] != '/')
                *o++ = *q;
        *o = '\0';
    }
    snprintf(arn, an, "arn:aws:sqs:us-east-1:%s:%s", b->account, name);
    free(resp);
    return rc;
}

/* ---- PutEvents → queue latency ---------------------------------------------------- */

struct recv_state {
    struct bench *b;
    char url[512];
    struct lat lat;
    uint64_t want, got;
    bool done;
    char err[256];
};

static void *receiver(void *arg)
{
    struct recv_state *r = arg;
    struct conn c;
    conn_init(&c, &r->b->srv.addr);
    char *resp = malloc(RESP_CAP), body[1024];
    while (resp && !g_stop && r->got < r->want && !r->done) {
        snprintf(body, sizeof(body),
                 "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":2}",
                 r->url);
        if (call(r->b, &c, false, "AmazonSQS.ReceiveMessage", body, resp, RESP_CAP, r->err,
                 sizeof(r->err)))
            break;
        uint64_t now = now_ns();
        /* Each body carries "t":<send ns> inside the event's detail. */
        for (const char *p = strstr(resp, "\\\"t\\\":"); p; p = strstr(p + 1, "\\\"t\\\":")) {
            uint64_t t = strtoull(p + 6, NULL, 10);
            if (t && now > t)
                lat_add(&r->lat, now - t);
            r->got++;
        }
        char handle[1024];
        const char *p = resp;
        while (json_next_str(&p, "ReceiptHandle", handle, sizeof(handle))) {
            char del[2048];
            snprintf(del, sizeof(del), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}", r->url,
                     handle);
            char small[256];
            if (call(r->b, &c, false, "AmazonSQS.DeleteMessage", del, small, sizeof(small),
                     r->err, sizeof(r->err)))
                break;
        }
    }
    free(resp);
    conn_close(&c);
    return NULL;
}

static int run_latency(struct bench *b)
{
    struct conn c;
    conn_init(&c, &b->srv.addr);
    char err[256], resp[4096];
    struct recv_state r = {.b = b, .want = b->o.events};
    char arn[256];
    if (make_queue(b, &c, "routebench-events", r.url, sizeof(r.url), arn, sizeof(arn), err,
                   sizeof(err)) ||
        call(b, &c, true, "AWSEvents.PutRule",
             "{\"Name\":\"routebench\",\"EventPattern\":\"{\\\"source\\\":[\\\"routebench\\\"],"
             "\\\"detail\\\":{\\\"kind\\\":[\\\"timed\\\"]}}\"}",
             resp, sizeof(resp), err, sizeof(err))) {
        fprintf(stderr, "routebench: setup: %s\n", err);
        return -1;
    }
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"Rule\":\"routebench\",\"Targets\":[{\"Id\":\"q\",\"Arn\":\"%s\"}]}", arn);
    if (call(b, &c, true, "AWSEvents.PutTargets", body, resp, sizeof(resp), err, sizeof(err)) ||
        strstr(resp, "\"FailedEntryCount\":0") == NULL) {
        fprintf(stderr, "routebench: PutTargets: %s %s\n", err, resp);
        return -1;
    }
    pthread_t th;
    pthread_create(&th, NULL, receiver, &r);
    unsigned seed = 7;
    for (unsigned i = 0; i < b->o.events && !g_stop; i++) {
        usleep(1000 + (rand_r(&seed) % 4000));
        snprintf(body, sizeof(body),
                 "{\"Entries\":[{\"Source\":\"routebench\",\"DetailType\":\"t\",\"Detail\":"
                 "\"{\\\"kind\\\":\\\"timed\\\",\\\"t\\\":%" PRIu64 "}\"}]}",
                 now_ns());
        if (call(b, &c, true, "AWSEvents.PutEvents", body, resp, sizeof(resp), err,
                 sizeof(err))) {
            fprintf(stderr, "routebench: PutEvents: %s\n", err);
            break;
        }
    }
    uint64_t deadline = now_ns() + 10000000000ull;
    while (r.got < r.want && now_ns() < deadline && !g_stop)
        sleep_ms(50);
    r.done = true;
    pthread_join(th, NULL);
    if (r.err[0])
        fprintf(stderr, "routebench: receiving from %s: %s\n", r.url, r.err);
    lat_sort(&r.lat);
    struct lat *one = &r.lat;
    lat_merged_percentiles(&one, 1, &b->lat_p50, &b->lat_p99);
    b->lat_n = r.got;
    b->lat_lost = r.want > r.got ? r.want - r.got : 0;
    conn_close(&c);
    return 0;
}

/* ---- SNS fan-out -------------------------------------------------------------------- */

struct pub_state {
    struct bench *b;
    char topic[256];
    uint64_t deadline, n;
    char err[256];
};

static void *publisher(void *arg)
{
    struct pub_state *p = arg;
    struct conn c;
    conn_init(&c, &p->b->srv.addr);
    char form[1024], resp[4096];
    snprintf(form, sizeof(form),
             "Action=Publish&Version=2010-03-31&TopicArn=%s&Message=%s", p->topic,
             "0123456789012345678901234567890123456789012345678901234567890123456789012345"
             "678901234567890123");
    while (!g_stop && now_ns() < p->deadline) {
        if (sns_call(p->b, &c, form, resp, sizeof(resp), p->err, sizeof(p->err)))
            break;
        p->n++;
    }
    conn_close(&c);
    return NULL;
}

static int run_sns(struct bench *b)
{
    struct conn c;
    conn_init(&c, &b->srv.addr);
    char err[256], resp[8192], form[1024];
    if (sns_call(b, &c, "Action=CreateTopic&Version=2010-03-31&Name=routebench", resp,
                 sizeof(resp), err, sizeof(err))) {
        fprintf(stderr, "routebench: CreateTopic: %s\n", err);
        return -1;
    }
    char topic[256];
    snprintf(topic, sizeof(topic), "arn:aws:sns:us-east-1:%s:routebench", b->account);
    char urls[SNS_QUEUES][512];
    char body[1024];
    for (unsigned i = 0; i < SNS_QUEUES; i++) {
        char name[64], arn[256];
        snprintf(name, sizeof(name), "routebench-sns-%u", i);
        if (make_queue(b, &c, name, urls[i], sizeof(urls[i]), arn, sizeof(arn), err,
                       sizeof(err))) {
            fprintf(stderr, "routebench: CreateQueue: %s\n", err);
            return -1;
        }
        snprintf(form, sizeof(form),
                 "Action=Subscribe&Version=2010-03-31&TopicArn=%s&Protocol=sqs&Endpoint=%s"
                 "&Attributes.entry.1.key=RawMessageDelivery&Attributes.entry.1.value=true",
                 topic, arn);
        if (sns_call(b, &c, form, resp, sizeof(resp), err, sizeof(err))) {
            fprintf(stderr, "routebench: Subscribe: %s\n", err);
            return -1;
        }
    }
    struct pub_state ps[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    uint64_t start = now_ns();
    for (unsigned i = 0; i < b->o.clients; i++) {
        ps[i] = (struct pub_state){.b = b, .deadline = start + (uint64_t)(b->o.duration * 1e9)};
        snprintf(ps[i].topic, sizeof(ps[i].topic), "%s", topic);
        pthread_create(&th[i], NULL, publisher, &ps[i]);
    }
    uint64_t n = 0;
    for (unsigned i = 0; i < b->o.clients; i++) {
        pthread_join(th[i], NULL);
        n += ps[i].n;
        if (ps[i].err[0])
            fprintf(stderr, "routebench: Publish: %s\n", ps[i].err);
    }
    b->sns_secs = (double)(now_ns() - start) / 1e9;
    b->sns_publishes = (double)n;
    b->sns_copies_s = (double)n * SNS_QUEUES / b->sns_secs;
    b->sns_expected = n * SNS_QUEUES;
    for (unsigned i = 0; i < SNS_QUEUES; i++) {
        snprintf(body, sizeof(body),
                 "{\"QueueUrl\":\"%.511s\",\"AttributeNames\":[\"ApproximateNumberOfMessages\"]}",
                 urls[i]);
        if (call(b, &c, false, "AmazonSQS.GetQueueAttributes", body, resp, sizeof(resp), err,
                 sizeof(err)) == 0) {
            const char *p = resp;
            char v[32];
            if (json_next_str(&p, "ApproximateNumberOfMessages", v, sizeof(v)))
                b->sns_counted += strtoull(v, NULL, 10);
        }
    }
    conn_close(&c);
    return 0;
}

/* ---- a rate(1 minute) rule ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_schedule(struct bench *b)
{
    struct conn c;
    conn_init(&c, &b->srv.addr);
    char err[256], resp[65536], url[512], arn[256], body[1024];
    if (make_queue(b, &c, "routebench-schedule", url, sizeof(url), arn, sizeof(arn), err,
                   sizeof(err)))
        return -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_REALTIME, &t0);
    if (call(b, &c, true, "AWSEvents.PutRule",
             "{\"Name\":\"routebench-rate\",\"ScheduleExpression\":\"rate(1 minute)\"}", resp,
             sizeof(resp), err, sizeof(err)))
        return -1;
    clock_gettime(CLOCK_REALTIME, &t1);
    double anchor = ((double)t0.tv_sec * 1e3 + (double)t0.tv_nsec / 1e6 +
                     (double)t1.tv_sec * 1e3 + (double)t1.tv_nsec / 1e6) / 2;
    snprintf(body, sizeof(body),
             "{\"Rule\":\"routebench-rate\",\"Targets\":[{\"Id\":\"q\",\"Arn\":\"%s\"}]}", arn);
    if (call(b, &c, true, "AWSEvents.PutTargets", body, resp, sizeof(resp), err, sizeof(err)))
        return -1;
    double errors[256];
    unsigned n = 0;
    uint64_t end = now_ns() + (uint64_t)b->o.schedule_minutes * 60000000000ull + 5000000000ull;
    fprintf(stderr, "routebench: rate(1 minute) for %u minutes...\n", b->o.schedule_minutes);
    while (!g_stop && now_ns() < end && n < b->o.schedule_minutes && n < 256) {
        snprintf(body, sizeof(body),
                 "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":20,"
                 "\"AttributeNames\":[\"SentTimestamp\"]}",
                 url);
        if (call(b, &c, false, "AmazonSQS.ReceiveMessage", body, resp, sizeof(resp), err,
                 sizeof(err)))
            break;
        const char *p = resp;
        char sent[32];
        while (json_next_str(&p, "SentTimestamp", sent, sizeof(sent)) && n < 256) {
            double ms = strtod(sent, NULL);
            double k = (ms - anchor) / 60000.0;
            double due = anchor + 60000.0 * (double)(long)(k + 0.5);
            errors[n++] = ms - due;
        }
        const char *q = resp;
        char handle[1024];
        while (json_next_str(&q, "ReceiptHandle", handle, sizeof(handle))) {
            char del[2048], small[256];
            snprintf(del, sizeof(del), "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}", url,
                     handle);
            call(b, &c, false, "AmazonSQS.DeleteMessage", del, small, sizeof(small), err,
                 sizeof(err));
        }
    }
    b->sched_n = n;
    if (n) {
        qsort(errors, n, sizeof(errors[0]), cmp_double);
        b->sched_p50_ms = errors[n / 2];
        b->sched_p99_ms = errors[(size_t)((double)(n - 1) * 0.99 + 0.5)];
        b->sched_max_ms = errors[n - 1];
    }
    conn_close(&c);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: routebench --sluice PATH [--dir DIR] [--events N] [--clients N]\n"
            "                  [--duration S] [--schedule-minutes N]\n"
            "  --events            PutEvents timed one at a time (default 1000)\n"
            "  --clients           SNS publishers (default 8)\n"
            "  --duration          seconds of publishing (default 5)\n"
            "  --schedule-minutes  minutes of the rate(1 minute) rule (default 10; 0 skips)\n");
}

int main(int argc, char **argv)
{
    g_bench_name = "routebench";
    struct bench b = {.o = {.dir = "/tmp", .events = 1000, .clients = 8, .duration = 5,
                            .schedule_minutes = 10}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        if (strcmp(a, "--sluice") == 0)
            b.o.sluice = v;
        else if (strcmp(a, "--dir") == 0)
            b.o.dir = v;
        else if (strcmp(a, "--events") == 0)
            b.o.events = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--clients") == 0)
            b.o.clients = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--duration") == 0)
            b.o.duration = strtod(v, NULL);
        else if (strcmp(a, "--schedule-minutes") == 0)
            b.o.schedule_minutes = (unsigned)strtoul(v, NULL, 10);
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (!b.o.sluice || !b.o.events || !b.o.clients || b.o.clients > MAX_CLIENTS ||
        b.o.duration <= 0) {
        usage();
        return 2;
    }
    install_signals(60 * (b.o.schedule_minutes + 10));
    snprintf(b.account, sizeof(b.account), "000000000000");
    snprintf(b.srv.data, sizeof(b.srv.data), "%s/routebench-%d", b.o.dir, (int)getpid());
    snprintf(b.srv.log, sizeof(b.srv.log), "%s/routebench-%d.log", b.o.dir, (int)getpid());
    b.srv.sluice = b.o.sluice;
    if (server_start(&b.srv)) {
        print_log_tail(b.srv.log);
        return 1;
    }
    int rc = run_latency(&b);
    if (!rc)
        rc = run_sns(&b);
    if (!rc && b.o.schedule_minutes)
        rc = run_schedule(&b);
    char x[32], y[32];
    printf("## PutEvents → rule → queue target\n\n| events | p50 | p99 | lost | must (aim) |\n"
           "|---|---|---|---|---|\n");
    printf("| %" PRIu64 " | %s | %s | %" PRIu64 " | p50 ≤ 5 ms: **%s** (aim ≤ 1 ms: %s) |\n\n",
           b.lat_n, fmt_ns(x, sizeof(x), b.lat_p50), fmt_ns(y, sizeof(y), b.lat_p99),
           b.lat_lost, b.lat_n && b.lat_p50 <= BUDGET_LAT_P50_NS ? "PASS" : "FAIL",
           b.lat_n && b.lat_p50 <= AIM_LAT_P50_NS ? "met" : "not met");
    printf("## SNS Publish → %d queue subscriptions (raw delivery), %u clients\n\n"
           "| publishes | seconds | publishes/s | copies delivered/s | copies counted in the "
           "queues |\n|---|---|---|---|---|\n",
           SNS_QUEUES, b.o.clients);
    printf("| %.0f | %.2f | %.0f | **%.0f** | %" PRIu64 " of %" PRIu64 " |\n\n", b.sns_publishes,
           b.sns_secs, b.sns_publishes / (b.sns_secs > 0 ? b.sns_secs : 1), b.sns_copies_s,
           b.sns_counted, b.sns_expected);
    if (b.o.schedule_minutes)
        printf("## rate(1 minute) rule, %u minutes\n\n| fires | error p50 | error p99 | max | "
               "aim p99 ≤ 50 ms |\n|---|---|---|---|---|\n| %u | %.1f ms | %.1f ms | %.1f ms | "
               "%s |\n\n",
               b.o.schedule_minutes, b.sched_n, b.sched_p50_ms, b.sched_p99_ms,
               b.sched_max_ms,
               b.sched_n && b.sched_p99_ms <= AIM_SCHED_P99_MS ? "met" : "not met");
    server_stop_report(&b.srv);
    remove_tree(b.srv.data);
    return rc ? 1 : 0;
}
