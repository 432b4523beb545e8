/*
 * invokebench — Sluice's Lambda invoke benchmark, run by hand (`make bench`).
 *
 * It starts its own `sluice serve` on a free loopback port with a fresh data
 * directory on disk, creates two functions through the Lambda API (zips
 * built here: a native `bootstrap`, runtimes/c's echo example, on
 * provided.al2; and a one-line Python handler), both with MemorySize 1769
 * (one full core, as on AWS), and in the same run measures
 *   - its floors, because the machine is shared and noisy: GET
 *     /_sluice/health over one keep-alive connection (one trip through the
 *     front door) and a bare loopback HTTP round trip to a responder inside
 *     this process;
 *   - cold start to first response: UpdateFunctionConfiguration changes an
 *     environment variable (a new revision gets a new environment), then
 *     the next invoke is timed; its REPORT line (LogType Tail) gives the
 *     Init Duration and proves the start was cold;
 *   - platform overhead per invoke: invokes with LogType Tail, each one's
 *     latency minus its REPORT Duration (the time from handing the event to
 *     the runtime until its answer arrived, as Lambda bills it);
 *   - warm invokes through the Invoke API at 1, 8 and 64 concurrent clients
 *     (each keeps one invoke in flight; a warm-up invoke per client first
 *     starts as many environments): invokes/s, p50, p99, and where the CPU
 *     went (server, function processes, this program, the rest);
 * then prints markdown tables with the budgets of DESIGN.md beside the
 * results, stops the server (SIGTERM, wait) and removes its directory.
 *
 * The load generator is one thread per client, each with one blocking
 * HTTP/1.1 keep-alive connection, unsigned requests (the server runs with
 * --auth=dev) with Content-Length bodies: the same client as s3bench's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/benchlib.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define MAX_CLIENTS 256
#define MAX_CLIENT_COUNTS 8
#define MAX_TRANSPORT_ERRORS 100 /* in a row, before a client gives up */
#define MAX_BOOTSTRAP (40u << 20)

#define MEMORY_MB 1769 /* one full core (DESIGN.md, AWS) */
#define FN_TIMEOUT_S 10
#define ROLE "arn:aws:iam::000000000000:role/invokebench"
#define PAYLOAD "{\"bench\":1}" /* both handlers answer with the event */
#define PY_SOURCE "def handler(event, context): return event\n"
#define PY_ANSWER "{\"bench\": 1}" /* the event as Python's json.dumps writes it */

/* Budgets of DESIGN.md ("Performance budgets") that this benchmark checks. */
#define BUDGET_NATIVE_WARM_FLOORS 3.0 /* × health p50: 1.5 × two front-door round trips */
#define BUDGET_PYTHON_WARM_MS 1.0
#define BUDGET_NATIVE_COLD_MS 10.0
#define BUDGET_PYTHON_COLD_MS 40.0

/* A 1-client cell measures its own floor in slices between its invokes. */
#define INVOKE_SLICE_NS 30000000ull /* 30 ms of invokes */
#define FLOOR_SLICE_NS 10000000ull  /* then 10 ms of GET /_sluice/health */


/* ---- options ----------------------------------------------------------- */

struct options {
    const char *sluice;
    const char *bootstrap;
    const char *python;
    const char *dir;
    double duration;
    double floor_time;
    long cold;
    double cold_gap;
    long tail;
    const char *clients;
    const char *only;
    bool keep;
    bool strict;
};

static const struct option_spec option_table[] = {
    {"--sluice", OPT_STR, NULL, "the sluice binary to start (required)",
     offsetof(struct options, sluice)},
    {"--bootstrap", OPT_STR, NULL,
     "the native bootstrap to deploy: runtimes/c's echo example (required)",
     offsetof(struct options, bootstrap)},
    {"--python", OPT_STR, "python3.11", "the Python function's runtime",
     offsetof(struct options, python)},
    {"--dir", OPT_STR, "/tmp", "where the temporary data directory goes (not tmpfs)",
     offsetof(struct options, dir)},
    {"--duration", OPT_SECONDS, "2", "seconds each warm-invoke cell runs",
     offsetof(struct options, duration)},
    {"--floor-time", OPT_SECONDS, "1", "seconds each floor is measured",
     offsetof(struct options, floor_time)},
    {"--cold", OPT_COUNT, "10", "cold starts measured per function",
     offsetof(struct options, cold)},
    {"--cold-gap", OPT_SECONDS, NULL,
     "seconds between one cold start's answer and the next one's update (default: back to back)",
     offsetof(struct options, cold_gap)},
    {"--tail", OPT_COUNT, "200", "invokes with LogType Tail per function (overhead)",
     offsetof(struct options, tail)},
    {"--clients", OPT_STR, "1,8,64", "concurrent client counts of the warm cells",
     offsetof(struct options, clients)},
    {"--only", OPT_STR, "c,python", "which functions: c, python or both",
     offsetof(struct options, only)},
    {"--keep", OPT_FLAG, NULL, "keep the temporary directory (data and server log)",
     offsetof(struct options, keep)},
    {"--strict", OPT_FLAG, NULL, "exit 3 when a budget fails", offsetof(struct options, strict)},
};

#define USAGE_ARGS "--sluice PATH --bootstrap PATH"

/* Fills o from the defaults, then argv. */
static int options(struct options *o, int argc, char **argv)
{
    if (parse_options(option_table, ARRAY_LEN(option_table), o, sizeof(*o), 100000, USAGE_ARGS,
                      argc, argv))
        return -1;
    if (!o->sluice || !o->bootstrap) {
        fprintf(stderr, "invokebench: --sluice PATH and --bootstrap PATH are required\n");
        return -1;
    }
    return 0;
}

/* ---- base64 of the log tail ---------------------------------------------- */

/* Decodes base64 text into out (NUL-terminated); -1 on a bad character. */
static int base64_decode(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = strchr(al, *s);
        if (!p)
            return -1;
        acc = acc << 6 | (uint32_t)(p - al);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char)(acc >> bits);
        }
    }
    out[o] = '\0';
    return 0;
}

/* ---- HTTP/1.1 client (s3bench's, with request headers and the Lambda
 *      response headers this benchmark reads) -------------------------------- */







/* ---- statistics --------------------------------------------------------- */


/* ---- CPU and memory from /proc ------------------------------------------ */




/* A snapshot of the machine's, the server's, its functions' and this
 * process's CPU time. */


/* ---- the benchmark's state -------------------------------------------- */

enum fn_kind { FN_C, FN_PY, FN_COUNT };

struct fn {
    const char *label;  /* in the report */
    const char *answer; /* what an invoke must return */
    char name[64];
    char runtime[32];
    bool enabled;
    unsigned revision; /* BENCH_REVISION of the last configuration update */
};

struct cell {
    enum fn_kind fn;
    unsigned clients;
    uint64_t ops, errors, throttled, new_conns, warmup_errors;
    double secs; /* spent on invokes (floor slices left out) */
    uint64_t p50, p99;
    struct floor paired; /* 1 client: the floor measured beside the invokes */
    struct cpu_use cpu;
    char first_error[300];
};

/* A series of sequential invokes with LogType Tail. */
struct series {
    uint64_t n, errors, not_cold;
    uint64_t lat_p50, lat_p99, lat_min, lat_max;
    uint64_t dur_p50;                    /* REPORT Duration */
    uint64_t dur_over;                   /* invokes whose Duration exceeded their whole latency */
    uint64_t init_p50;                   /* REPORT Init Duration (cold starts) */
    uint64_t overhead_p50, overhead_p99; /* latency − Duration, per invoke */
    uint64_t update_p50;                 /* UpdateFunctionConfiguration (cold starts) */
    char first_error[300];
};

struct floors {
    struct floor health; /* GET /_sluice/health */
    struct floor echo;   /* the bare loopback round trip */
};

struct bench {
    struct options o;
    unsigned clients[MAX_CLIENT_COUNTS];
    size_t nclients;
    char tmp[PATH_MAX - 64];
    char fs_desc[PATH_MAX + 128];
    struct server srv; /* the sluice under test */
    size_t bootstrap_size;
    struct fn fns[FN_COUNT];
    pthread_barrier_t ready, go;
    uint64_t deadline;
    struct floors fl;
    struct series cold[FN_COUNT], tail[FN_COUNT];
    struct cell cells[FN_COUNT * MAX_CLIENT_COUNTS];
    size_t ncells;
    double rss_mb_end;
    long threads_end;
};

/* ---- Lambda requests ------------------------------------------------------ */

/* One invoke of f with PAYLOAD; checks the answer is the payload echoed.
 * 0 (out filled), 1 for a 429 throttle, -1 with err. */
static int invoke_once(struct bench *b, struct conn *c, const struct fn *f, bool tail,
                       struct http_resp *out, char *err, size_t errn)
{
    char path[160], dest[512];
    snprintf(path, sizeof(path), "/2015-03-31/functions/%s/invocations", f->name);
    struct http_req rq = {
        .method = "POST",
        .path = path,
        .host = b->srv.host,
        .headers = tail ? "Content-Type: application/json\r\nX-Amz-Log-Type: Tail\r\n"
                        : "Content-Type: application/json\r\n",
        .body = PAYLOAD,
        .body_len = sizeof(PAYLOAD) - 1,
    };
    if (http_roundtrip(c, &rq, dest, sizeof(dest), out, err, errn))
        return -1;
    if (out->status == 429)
        return 1;
    if (out->status != 200) {
        snprintf(err, errn, "HTTP %d %s", out->status, out->snippet);
        return -1;
    }
    if (out->function_error) {
        snprintf(err, errn, "the function failed (X-Amz-Function-Error): %.*s",
                 out->into_dest ? (int)out->body_len : 0, dest);
        return -1;
    }
    size_t want = strlen(f->answer);
    if (!out->into_dest || out->body_len != want || memcmp(dest, f->answer, want) != 0) {
        snprintf(err, errn, "the response is not the event echoed (%" PRIu64 " bytes: %.*s)",
                 out->body_len, out->into_dest ? (int)out->body_len : 0, dest);
        return -1;
    }
    return 0;
}

/* A REPORT field in ns ("Duration: 1.23 ms"), from the base64 log tail. */
static int report_field(const char *log_b64, const char *field, uint64_t *ns)
{
    char log[LOG_RESULT_MAX];
    if (base64_decode(log_b64, log, sizeof(log)))
        return -1;
    const char *r = strstr(log, "REPORT RequestId:");
    if (!r)
        return -1;
    char key[64];
    snprintf(key, sizeof(key), "\t%s: ", field);
    const char *p = strstr(r, key);
    if (!p)
        return -1;
    double ms = strtod(p + strlen(key), NULL);
    *ns = (uint64_t)(ms * 1e6 + 0.5);
    return 0;
}

/* CreateFunction with the zip of entries, MemorySize 1769. */
static int create_function(struct bench *b, const struct fn *f, const char *handler,
                           const struct zip_entry *entries, size_t n, char *err, size_t errn)
{
    struct bytes zip = {0}, body = {0};
    int rc = -1;
    if (zip_stored(entries, n, &zip) ||
        bytes_printf(&body,
                     "{\"FunctionName\":\"%s\",\"Runtime\":\"%s\",\"Role\":\"%s\","
                     "\"Handler\":\"%s\",\"MemorySize\":%d,\"Timeout\":%d,"
                     "\"Code\":{\"ZipFile\":\"",
                     f->name, f->runtime, ROLE, handler, MEMORY_MB, FN_TIMEOUT_S) ||
        base64_append(&body, (const unsigned char *)zip.data, zip.len) ||
        bytes_append(&body, "\"}}", 3)) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    rc = control_request(&b->srv, "POST", "/2015-03-31/functions", NULL, &body, 201, NULL, 0,
                         err, errn);
out:
    free(zip.data);
    free(body.data);
    return rc;
}

/* UpdateFunctionConfiguration with a new BENCH_REVISION: a new revision,
 * whose next invoke starts a new environment. */
static int new_revision(struct bench *b, struct fn *f, char *err, size_t errn)
{
    char path[160];
    struct bytes body = {0};
    snprintf(path, sizeof(path), "/2015-03-31/functions/%s/configuration", f->name);
    f->revision++;
    if (bytes_printf(&body, "{\"Environment\":{\"Variables\":{\"BENCH_REVISION\":\"%u\"}}}",
                     f->revision)) {
        snprintf(err, errn, "out of memory");
        return -1;
    }
    int rc = control_request(&b->srv, "PUT", path, NULL, &body, 200, NULL, 0, err, errn);
    free(body.data);
    return rc;
}

/* ---- series: cold starts and overhead ------------------------------------ */

/*
 * count sequential invokes of f with LogType Tail on one connection; when
 * cold, each follows a configuration update (not timed) and must report an
 * Init Duration. Fills s.
 */
static int run_series(struct bench *b, struct fn *f, bool cold, long count, struct series *s)
{
    struct conn *c = malloc(sizeof(*c));
    struct http_resp *resp = malloc(sizeof(*resp));
    struct lat lat = {0}, dur = {0}, over = {0}, init = {0}, upd = {0};
    char err[300];
    int rc = -1;
    memset(s, 0, sizeof(*s));
    if (!c || !resp)
        goto out;
    conn_init(c, &b->srv.addr);
    for (long i = 0; i < count && !g_stop; i++) {
        if (cold) {
            /* Spaced out, what the server does in the background after a
             * cold start (the last environment's end, /tmp filesystems made
             * ahead) is done before the next: the cold start a user sees
             * when they are not back to back. */
            if (i > 0 && b->o.cold_gap > 0) {
                struct timespec gap = {(time_t)b->o.cold_gap,
                                       (long)((b->o.cold_gap - (double)(time_t)b->o.cold_gap) * 1e9)};
                while (nanosleep(&gap, &gap) && errno == EINTR && !g_stop) {
                }
            }
            uint64_t u0 = now_ns();
            if (new_revision(b, f, err, sizeof(err))) {
                snprintf(s->first_error, sizeof(s->first_error), "%s", err);
                s->errors++;
                break;
            }
            lat_add(&upd, now_ns() - u0);
        }
        uint64_t t0 = now_ns();
        int r = invoke_once(b, c, f, true, resp, err, sizeof(err));
        uint64_t t = now_ns() - t0;
        if (r) {
            if (r > 0)
                snprintf(err, sizeof(err), "throttled (429)");
            if (!s->first_error[0])
                snprintf(s->first_error, sizeof(s->first_error), "%s", err);
            s->errors++;
            continue;
        }
        uint64_t d = 0, in = 0;
        if (report_field(resp->log_result, "Duration", &d)) {
            if (!s->first_error[0])
                snprintf(s->first_error, sizeof(s->first_error),
                         "no REPORT Duration in the "
                         "log tail");
            s->errors++;
            continue;
        }
        if (cold && report_field(resp->log_result, "Init Duration", &in) == 0)
            lat_add(&init, in);
        else if (cold)
            s->not_cold++;
        lat_add(&lat, t);
        lat_add(&dur, d);
        lat_add(&over, t > d ? t - d : 0);
        s->dur_over += d > t;
    }
    lat_sort(&lat);
    lat_sort(&dur);
    lat_sort(&over);
    lat_sort(&init);
    lat_sort(&upd);
    s->n = lat.n;
    s->lat_p50 = percentile(lat.v, lat.n, 0.5);
    s->lat_p99 = percentile(lat.v, lat.n, 0.99);
    s->lat_min = lat.n ? lat.v[0] : 0;
    s->lat_max = lat.n ? lat.v[lat.n - 1] : 0;
    s->dur_p50 = percentile(dur.v, dur.n, 0.5);
    s->overhead_p50 = percentile(over.v, over.n, 0.5);
    s->overhead_p99 = percentile(over.v, over.n, 0.99);
    s->init_p50 = percentile(init.v, init.n, 0.5);
    s->update_p50 = percentile(upd.v, upd.n, 0.5);
    one_line(s->first_error);
    rc = 0;
out:
    if (c)
        conn_close(c);
    free(c);
    free(resp);
    free(lat.v);
    free(dur.v);
    free(over.v);
    free(init.v);
    free(upd.v);
    return rc;
}

/* ---- cells: warm invokes at N clients --------------------------------------- */

struct worker {
    struct bench *b;
    const struct fn *f;
    struct conn *c;
    struct http_resp resp;
    struct lat lat;
    struct conn *floor_conn; /* paired: GET /_sluice/health between slices */
    struct lat floor_lat;
    uint64_t floor_ns; /* time spent on floor slices */
    uint64_t ops, errors, throttled, warmup_errors, end;
    char first_error[300];
    pthread_t th;
};

static void worker_error(struct worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void worker_error(struct worker *w, const char *fmt, ...)
{
    if (w->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
    va_end(ap);
    one_line(w->first_error);
}

/* A slice of GET /_sluice/health on the worker's second connection; false
 * (after saying why) when the floor cannot be measured. */
static bool floor_slice(struct worker *w)
{
    struct http_req rq = {.method = "GET", .path = "/_sluice/health", .host = w->b->srv.host};
    char body[512], err[300];
    struct http_resp resp;
    uint64_t start = now_ns(), until = start + FLOOR_SLICE_NS, t1 = start;
    while (t1 < until && !g_stop) {
        uint64_t t0 = now_ns();
        if (http_roundtrip(w->floor_conn, &rq, body, sizeof(body), &resp, err, sizeof(err)) ||
            resp.status != 200) {
            worker_error(w, "floor GET /_sluice/health: %s",
                         resp.status != 200 ? "not 200" : err);
            return false;
        }
        t1 = now_ns();
        if (lat_add(&w->floor_lat, t1 - t0))
            return false;
    }
    w->floor_ns += t1 - start;
    return true;
}

/* One client: a warm-up invoke (all clients at once, so that as many
 * environments exist), then invokes back to back until the deadline; a
 * paired worker stops for a floor slice after every INVOKE_SLICE_NS. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    char err[300];
    int r = invoke_once(b, w->c, w->f, false, &w->resp, err, sizeof(err));
    if (r) {
        w->warmup_errors++;
        worker_error(w, "warm-up: %s", r > 0 ? "throttled (429)" : err);
    }
    pthread_barrier_wait(&b->ready);
    pthread_barrier_wait(&b->go);
    unsigned transport_errors = 0;
    uint64_t slice_end = now_ns() + INVOKE_SLICE_NS;
    while (!g_stop && now_ns() < b->deadline) {
        if (w->floor_conn && now_ns() >= slice_end) {
            if (!floor_slice(w)) {
                conn_close(w->floor_conn);
                w->floor_conn = NULL; /* the cell goes on without its floor */
            }
            slice_end = now_ns() + INVOKE_SLICE_NS;
        }
        uint64_t t0 = now_ns();
        r = invoke_once(b, w->c, w->f, false, &w->resp, err, sizeof(err));
        uint64_t t1 = now_ns();
        if (r > 0) {
            w->throttled++;
            continue;
        }
        if (r) {
            w->errors++;
            worker_error(w, "%s", err);
            if (w->c->fd < 0 && ++transport_errors == MAX_TRANSPORT_ERRORS)
                break;
            continue;
        }
        transport_errors = 0;
        w->ops++;
        if (lat_add(&w->lat, t1 - t0))
            break;
    }
    w->end = now_ns();
    return NULL;
}

static int run_cell(struct bench *b, enum fn_kind fk, unsigned clients, struct cell *out)
{
    const struct fn *f = &b->fns[fk];
    fprintf(stderr, "invokebench: %s, %u client%s...\n", f->label, clients,
            clients == 1 ? "" : "s");
    memset(out, 0, sizeof(*out));
    out->fn = fk;
    out->clients = clients;
    struct worker *w = calloc(clients, sizeof(*w));
    struct conn *conns = calloc(clients, sizeof(*conns));
    int rc = -1;
    if (!w || !conns)
        goto out;
    struct conn floor_conn;
    for (unsigned i = 0; i < clients; i++) {
        w[i] = (struct worker){.b = b, .f = f, .c = &conns[i]};
        conn_init(&conns[i], &b->srv.addr);
    }
    if (clients == 1) {
        conn_init(&floor_conn, &b->srv.addr);
        w[0].floor_conn = &floor_conn;
    }
    if (pthread_barrier_init(&b->ready, NULL, clients + 1) ||
        pthread_barrier_init(&b->go, NULL, clients + 1))
        goto out;
    b->deadline = UINT64_MAX;
    unsigned started = 0;
    for (; started < clients; started++)
        if (pthread_create(&w[started].th, NULL, worker_main, &w[started]))
            break;
    if (started < clients) {
        /* The barriers can never open: nothing to do but give up loudly. */
        fprintf(stderr, "invokebench: cannot start %u threads\n", clients);
        exit(1);
    }
    pthread_barrier_wait(&b->ready);
    struct cpu_snap c0, c1;
    cpu_snap(b->srv.pid, &c0);
    uint64_t start = now_ns();
    b->deadline = start + (uint64_t)(b->o.duration * 1e9);
    pthread_barrier_wait(&b->go);
    uint64_t end = start;
    struct lat all = {0};
    for (unsigned i = 0; i < clients; i++) {
        pthread_join(w[i].th, NULL);
        if (w[i].end > end)
            end = w[i].end;
    }
    cpu_snap(b->srv.pid, &c1);
    out->cpu = cpu_between(&c0, &c1);
    pthread_barrier_destroy(&b->ready);
    pthread_barrier_destroy(&b->go);
    for (unsigned i = 0; i < clients; i++) {
        out->ops += w[i].ops;
        out->errors += w[i].errors;
        out->throttled += w[i].throttled;
        out->warmup_errors += w[i].warmup_errors;
        out->new_conns += conns[i].connects > 0 ? conns[i].connects - 1 : 0;
        if (!out->first_error[0] && w[i].first_error[0])
            memcpy(out->first_error, w[i].first_error, sizeof(out->first_error));
        for (size_t j = 0; j < w[i].lat.n; j++)
            if (lat_add(&all, w[i].lat.v[j]))
                break;
    }
    uint64_t floor_ns = 0;
    if (clients == 1) {
        floor_ns = w[0].floor_ns;
        struct lat *fl = &w[0].floor_lat;
        lat_sort(fl);
        out->paired.p50 = percentile(fl->v, fl->n, 0.50);
        out->paired.p99 = percentile(fl->v, fl->n, 0.99);
        out->paired.n = fl->n;
        if (w[0].floor_conn)
            out->paired.conns = floor_conn.connects;
    }
    out->secs = (double)(end - start - floor_ns) / 1e9;
    lat_sort(&all);
    out->p50 = percentile(all.v, all.n, 0.50);
    out->p99 = percentile(all.v, all.n, 0.99);
    free(all.v);
    rc = 0;
out:
    for (unsigned i = 0; w && conns && i < clients; i++) {
        conn_close(&conns[i]);
        if (w[i].floor_conn)
            conn_close(w[i].floor_conn);
        free(w[i].lat.v);
        free(w[i].floor_lat.v);
    }
    free(w);
    free(conns);
    if (rc)
        fprintf(stderr, "invokebench: out of memory\n");
    return rc;
}

/* ---- floors ------------------------------------------------------------- */




/* ---- the server --------------------------------------------------------- */





/* ---- the data directory ------------------------------------------------- */



/* ---- report ------------------------------------------------------------- */

static const struct cell *find_cell(const struct bench *b, enum fn_kind fk, unsigned clients)
{
    for (size_t i = 0; i < b->ncells; i++)
        if (b->cells[i].fn == fk && b->cells[i].clients == clients)
            return &b->cells[i];
    return NULL;
}

static void print_header(const struct bench *b)
{
    printf("# Sluice invoke benchmark\n\n");
    print_when_host("the benchmark, the server and the functions");
    printf("- server: `%s serve --listen %s --auth dev` (pid %d)\n", b->o.sluice, b->srv.host,
           (int)b->srv.pid);
    printf("- data dir: %s (%s)\n", b->srv.data, b->fs_desc);
    printf("- functions: MemorySize %d (one full core each), Timeout %d s; C: `%s` (%zu bytes) "
           "as the bootstrap of a provided.al2 function; Python: `%s` on %s\n",
           MEMORY_MB, FN_TIMEOUT_S, b->o.bootstrap, b->bootstrap_size,
           "def handler(event, "
           "context): return event",
           b->o.python);
    printf("- every invoke sends `%s` (%zu bytes) through the Invoke API and checks it comes "
           "back; latencies are per request, send to last byte received\n",
           PAYLOAD, sizeof(PAYLOAD) - 1);
    printf("- warm cells: %.1f s each after one warm-up invoke per client; floors %.1f s each; "
           "%ld cold starts and %ld LogType Tail invokes per function\n\n",
           b->o.duration, b->o.floor_time, b->o.cold, b->o.tail);
    fflush(stdout);
}

static void print_floors(const struct bench *b)
{
    const struct floors *f = &b->fl;
    char p50[32], p99[32];
    printf("## Floors (same run)\n\n| floor | p50 | p99 | n | note |\n|---|---|---|---|---|\n");
    printf("| GET /_sluice/health, one client | %s | %s | %" PRIu64
           " | %s; **the floor**: denominator of the ratios below |\n",
           fmt_ns(p50, sizeof(p50), f->health.p50), fmt_ns(p99, sizeof(p99), f->health.p99),
           f->health.n,
           f->health.conns <= 1 ? "one keep-alive connection, one trip through the front door"
                                : "**the server closed the connection after every response**");
    printf("| bare loopback HTTP round trip | %s | %s | %" PRIu64
           " | keep-alive, to a responder thread in invokebench |\n\n",
           fmt_ns(p50, sizeof(p50), f->echo.p50), fmt_ns(p99, sizeof(p99), f->echo.p99), f->echo.n);
    fflush(stdout);
}

static bool cold_ok(const struct bench *b, enum fn_kind fk)
{
    const struct series *s = &b->cold[fk];
    double budget = fk == FN_C ? BUDGET_NATIVE_COLD_MS : BUDGET_PYTHON_COLD_MS;
    return s->n && !s->errors && (double)s->lat_p50 / 1e6 <= budget;
}

/* The floor of a cell's ratios: the one measured beside its invokes when
 * it has one (the same moments of a noisy machine), else the run's. */
static uint64_t cell_floor(const struct bench *b, const struct cell *c)
{
    return c && c->paired.n ? c->paired.p50 : b->fl.health.p50;
}

static bool warm_ok(const struct bench *b, enum fn_kind fk, const struct cell *c)
{
    if (!c || !c->ops || c->errors)
        return false;
    if (fk == FN_C)
        return (double)c->p50 <= BUDGET_NATIVE_WARM_FLOORS * (double)cell_floor(b, c);
    return (double)c->p50 / 1e6 <= BUDGET_PYTHON_WARM_MS;
}

static void print_results(const struct bench *b)
{
    char a[32], c2[32], d[32], e[32], f2[32];
    uint64_t floor = b->fl.health.p50;

    printf("## Warm invoke latency, one client\n\n(The 1-client cell of the table further "
           "down.) Its floor is measured beside it: the client stops after every %.0f ms of "
           "invokes for %.0f ms of GET /_sluice/health on a second keep-alive connection, so "
           "that invokes and floor see the same moments of the machine.\n\n"
           "| function | p50 | p99 | floor beside it (p50, n) | p50 / floor | "
           "p50 / bare round trip | budget |\n|---|---|---|---|---|---|---|\n",
           (double)INVOKE_SLICE_NS / 1e6, (double)FLOOR_SLICE_NS / 1e6);
    for (int k = 0; k < FN_COUNT; k++) {
        const struct cell *c = find_cell(b, (enum fn_kind)k, 1);
        if (!b->fns[k].enabled || !c)
            continue;
        char bud[96], pf[48];
        uint64_t cf = cell_floor(b, c);
        if (k == FN_C)
            snprintf(bud, sizeof(bud), "≤ %.0f× floor (%s): **%s**", BUDGET_NATIVE_WARM_FLOORS,
                     fmt_ns(a, sizeof(a), (uint64_t)(BUDGET_NATIVE_WARM_FLOORS * (double)cf)),
                     warm_ok(b, FN_C, c) ? "PASS" : "FAIL");
        else
            snprintf(bud, sizeof(bud), "≤ %.0f ms: **%s**", BUDGET_PYTHON_WARM_MS,
                     warm_ok(b, FN_PY, c) ? "PASS" : "FAIL");
        if (c->paired.n)
            snprintf(pf, sizeof(pf), "%s, %" PRIu64, fmt_ns(a, sizeof(a), c->paired.p50),
                     c->paired.n);
        else
            snprintf(pf, sizeof(pf), "not measured: the run's");
        printf("| %s | %s | %s | %s | %s | %s | %s |\n", b->fns[k].label,
               fmt_ns(a, sizeof(a), c->p50), fmt_ns(c2, sizeof(c2), c->p99), pf,
               fmt_ratio(d, sizeof(d), c->p50, cf, ""),
               fmt_ratio(e, sizeof(e), c->p50, b->fl.echo.p50, ""), bud);
    }

    printf("\n## Platform overhead per invoke\n\nSequential invokes with `LogType: Tail`. "
           "The handler's time is the `Duration` of each one's REPORT line when that is "
           "credible (Sluice times it from handing the event to the runtime until the "
           "runtime's answer arrived: the handler plus the Runtime API's two legs), and the "
           "overhead is the invoke's latency minus it: the front door, the Lambda API, the "
           "governor, the hand-offs to and from the engine loop and the log tail. When "
           "Duration exceeds the whole latency in over 5%% of the invokes it is not credible; "
           "the handler's time is then taken as ≈ 0 (both handlers echo the event: "
           "microseconds) and the overhead is the whole latency, Runtime API legs "
           "included.\n\n"
           "| function | n | invoke p50 (with Tail) | REPORT Duration p50 | Duration > latency | "
           "overhead p50 | overhead p99 | overhead / floor | handler time taken as |\n"
           "|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < FN_COUNT; k++) {
        const struct series *s = &b->tail[k];
        if (!b->fns[k].enabled)
            continue;
        bool credible = s->n && s->dur_over * 20 <= s->n;
        uint64_t o50 = credible ? s->overhead_p50 : s->lat_p50;
        uint64_t o99 = credible ? s->overhead_p99 : s->lat_p99;
        printf("| %s | %" PRIu64 "%s | %s | %s | %" PRIu64 " | %s | %s | %s | %s |\n",
               b->fns[k].label, s->n, s->errors ? " (with errors)" : "",
               fmt_ns(a, sizeof(a), s->lat_p50), fmt_ns(c2, sizeof(c2), s->dur_p50), s->dur_over,
               fmt_ns(d, sizeof(d), o50), fmt_ns(e, sizeof(e), o99),
               fmt_ratio(f2, sizeof(f2), o50, floor, ""),
               credible ? "REPORT Duration" : "≈ 0 (**REPORT Duration not credible**)");
    }

    printf("\n## Cold start to first response\n\nEach one: UpdateFunctionConfiguration with a new "
           "environment variable (untimed), then an invoke with `LogType: Tail`, timed; its "
           "REPORT must carry an `Init Duration` (the environment was new). ");
    if (b->o.cold_gap > 0)
        printf("%.0f ms apart (`--cold-gap`).\n\n", b->o.cold_gap * 1000);
    else
        printf("Back to back.\n\n");
    printf("| function | n | p50 | min | max | Init Duration p50 | REPORT Duration p50 | "
           "not cold | budget |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < FN_COUNT; k++) {
        const struct series *s = &b->cold[k];
        if (!b->fns[k].enabled)
            continue;
        double budget = k == FN_C ? BUDGET_NATIVE_COLD_MS : BUDGET_PYTHON_COLD_MS;
        printf("| %s | %" PRIu64 "%s | %s | %s | %s | %s | %s | %" PRIu64
               " | ≤ %.0f ms: **%s** |\n",
               b->fns[k].label, s->n, s->errors ? " (with errors)" : "",
               fmt_ns(a, sizeof(a), s->lat_p50), fmt_ns(c2, sizeof(c2), s->lat_min),
               fmt_ns(d, sizeof(d), s->lat_max), fmt_ns(e, sizeof(e), s->init_p50),
               fmt_ns(f2, sizeof(f2), s->dur_p50), s->not_cold, budget,
               cold_ok(b, (enum fn_kind)k) ? "PASS" : "FAIL");
    }

    printf("\n## Warm invokes\n\nEach client keeps one invoke in flight on its own keep-alive "
           "connection. CPU is in %% of one CPU: the server / the function processes / "
           "invokebench / every other process on the machine / stolen by the hypervisor (in "
           "1-client cells, their floor slices included; their p50 / floor is to the floor "
           "beside them, invokes/s leaves the slices out).\n\n"
           "| function | clients | invokes/s | p50 | p99 | p50 / floor | errors | throttled | "
           "new conns | CPU srv / fn / bench / other / steal |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < b->ncells; i++) {
        const struct cell *c = &b->cells[i];
        printf("| %s | %u | %s | %s | %s | %s | %" PRIu64 " | %" PRIu64 " | %" PRIu64
               " | %.0f / %.0f / %.0f / %.0f / %.0f |\n",
               b->fns[c->fn].label, c->clients,
               fmt_count(a, sizeof(a), c->secs > 0 ? (double)c->ops / c->secs : 0),
               fmt_ns(c2, sizeof(c2), c->p50), fmt_ns(d, sizeof(d), c->p99),
               fmt_ratio(e, sizeof(e), c->p50, cell_floor(b, c), ""),
               c->errors + c->warmup_errors,
               c->throttled,
               c->new_conns, c->cpu.server, c->cpu.functions, c->cpu.bench, c->cpu.others,
               c->cpu.steal);
    }
    fflush(stdout);
}

/* The budgets; returns how many failed. */
static int print_budgets(const struct bench *b)
{
    int failed = 0;
    char a[32], c2[32];
    printf("\n## Budgets (DESIGN.md)\n\n| budget | measured | result |\n|---|---|---|\n");
    if (b->fns[FN_C].enabled) {
        const struct cell *c = find_cell(b, FN_C, 1);
        bool ok = warm_ok(b, FN_C, c);
        failed += !ok;
        char r[32];
        uint64_t cf = cell_floor(b, c);
        printf(
            "| warm invoke, no-op native handler, p50 ≤ %.0f × floor p50 (%s) | %s (%s floor) "
            "| **%s** |\n",
            BUDGET_NATIVE_WARM_FLOORS,
            fmt_ns(a, sizeof(a), (uint64_t)(BUDGET_NATIVE_WARM_FLOORS * (double)cf)),
            c ? fmt_ns(c2, sizeof(c2), c->p50) : "not run",
            fmt_ratio(r, sizeof(r), c ? c->p50 : 0, cf, ""),
            ok ? "PASS" : "FAIL");
    }
    if (b->fns[FN_PY].enabled) {
        const struct cell *c = find_cell(b, FN_PY, 1);
        bool ok = warm_ok(b, FN_PY, c);
        failed += !ok;
        printf("| warm invoke, Python handler, p50 ≤ %.0f ms | %s | **%s** |\n",
               BUDGET_PYTHON_WARM_MS, c ? fmt_ns(a, sizeof(a), c->p50) : "not run",
               ok ? "PASS" : "FAIL");
    }
    for (int k = 0; k < FN_COUNT; k++) {
        if (!b->fns[k].enabled)
            continue;
        bool ok = cold_ok(b, (enum fn_kind)k);
        failed += !ok;
        printf("| cold start to first response, %s, p50 ≤ %.0f ms | %s | **%s** |\n",
               k == FN_C ? "native" : "Python",
               k == FN_C ? BUDGET_NATIVE_COLD_MS : BUDGET_PYTHON_COLD_MS,
               fmt_ns(a, sizeof(a), b->cold[k].lat_p50), ok ? "PASS" : "FAIL");
    }
    return failed;
}

/* The first error of each part that had one. */
static void print_errors(const struct bench *b)
{
    bool any = false;
    for (int k = 0; k < FN_COUNT; k++) {
        const struct series *ss[] = {&b->cold[k], &b->tail[k]};
        const char *what[] = {"cold starts", "LogType Tail invokes"};
        for (int i = 0; i < 2; i++) {
            if (!ss[i]->first_error[0])
                continue;
            if (!any)
                printf("\nFirst error of each part that had one:\n\n");
            any = true;
            printf("- %s, %s: %s\n", b->fns[k].label, what[i], ss[i]->first_error);
        }
    }
    for (size_t i = 0; i < b->ncells; i++) {
        if (!b->cells[i].first_error[0])
            continue;
        if (!any)
            printf("\nFirst error of each part that had one:\n\n");
        any = true;
        printf("- %s ×%u: %s\n", b->fns[b->cells[i].fn].label, b->cells[i].clients,
               b->cells[i].first_error);
    }
}


/* ---- main --------------------------------------------------------------- */



/* Creates both functions. */
static int setup_functions(struct bench *b)
{
    char err[300];
    struct bytes boot = {0};
    int rc = -1;
    if (read_file(b->o.bootstrap, MAX_BOOTSTRAP, &boot, err, sizeof(err)))
        goto out;
    b->bootstrap_size = boot.len;
    if (b->fns[FN_C].enabled) {
        struct zip_entry e = {"bootstrap", boot.data, boot.len, 0755};
        if (create_function(b, &b->fns[FN_C], "echo", &e, 1, err, sizeof(err)))
            goto out;
    }
    if (b->fns[FN_PY].enabled) {
        struct zip_entry e = {"app.py", PY_SOURCE, sizeof(PY_SOURCE) - 1, 0644};
        if (create_function(b, &b->fns[FN_PY], "app.handler", &e, 1, err, sizeof(err)))
            goto out;
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "invokebench: CreateFunction: %s\n", err);
    free(boot.data);
    return rc;
}

int main(int argc, char **argv)
{
    g_bench_name = "invokebench";
    static struct bench bench;
    struct bench *b = &bench;
    if (options(&b->o, argc, argv)) {
        print_usage(stderr, option_table, ARRAY_LEN(option_table), USAGE_ARGS);
        return 2;
    }
    if (parse_counts(b->o.clients, MAX_CLIENTS, b->clients, MAX_CLIENT_COUNTS, &b->nclients)) {
        fprintf(stderr, "invokebench: bad --clients (1..%d, comma-separated)\n", MAX_CLIENTS);
        return 2;
    }
    if (access(b->o.sluice, X_OK) || access(b->o.bootstrap, R_OK)) {
        fprintf(stderr, "invokebench: %s: %s\n",
                access(b->o.sluice, X_OK) ? b->o.sluice : b->o.bootstrap, strerror(errno));
        return 2;
    }
    b->fns[FN_C] = (struct fn){.label = "C (provided.al2)",
                               .answer = PAYLOAD,
                               .runtime = "provided.al2",
                               .name = "invokebench-c"};
    b->fns[FN_PY] =
        (struct fn){.label = "Python", .answer = PY_ANSWER, .name = "invokebench-python"};
    snprintf(b->fns[FN_PY].runtime, sizeof(b->fns[FN_PY].runtime), "%s", b->o.python);
    for (const char *p = b->o.only; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 1 && *p == 'c')
            b->fns[FN_C].enabled = true;
        else if (n == 6 && strncmp(p, "python", 6) == 0)
            b->fns[FN_PY].enabled = true;
        else {
            fprintf(stderr, "invokebench: --only takes c, python or c,python\n");
            return 2;
        }
        p += n + (p[n] == ',');
    }

    /* Generous: cells, series at a worst-case 0.5 s per invoke, floors, start, stop. */
    install_signals((unsigned)(120 + 2 * b->o.floor_time +
                               (double)(FN_COUNT * b->nclients) * (b->o.duration + 40) +
                               (double)FN_COUNT * (double)(b->o.cold + b->o.tail) * 0.5));

    if (bench_workdir(b->o.dir, b->tmp, sizeof(b->tmp), b->fs_desc, sizeof(b->fs_desc), &b->srv,
                      b->o.sluice))
        return 1;
    int status = 1, failed = 0;

    if (server_start(&b->srv))
        goto out;
    fprintf(stderr, "invokebench: floors...\n");
    if (floor_http(&b->srv.addr, b->srv.host, "/_sluice/health", b->o.floor_time,
                   &b->fl.health) ||
        floor_echo(b->srv.host, b->o.floor_time, &b->fl.echo))
        goto out;
    if (setup_functions(b))
        goto out;
    print_header(b);
    print_floors(b);

    for (int k = 0; k < FN_COUNT && !g_stop; k++) {
        struct fn *f = &b->fns[k];
        if (!f->enabled)
            continue;
        fprintf(stderr, "invokebench: %s: %ld cold starts...\n", f->label, b->o.cold);
        if (run_series(b, f, true, b->o.cold, &b->cold[k]))
            goto out;
        fprintf(stderr, "invokebench: %s: %ld invokes with LogType Tail...\n", f->label, b->o.tail);
        if (run_series(b, f, false, b->o.tail, &b->tail[k]))
            goto out;
        for (size_t i = 0; i < b->nclients && !g_stop; i++) {
            if (run_cell(b, (enum fn_kind)k, b->clients[i], &b->cells[b->ncells]))
                goto out;
            b->ncells++;
            char what[96];
            snprintf(what, sizeof(what), "%s ×%u", f->label, b->clients[i]);
            if (server_gone(&b->srv, what)) {
                print_results(b);
                print_errors(b);
                print_log_findings(b->srv.log);
                goto out;
            }
        }
    }
    print_results(b);
    print_errors(b);
    if (proc_status(b->srv.pid, &b->rss_mb_end, NULL, &b->threads_end) == 0)
        printf("\nServer after the run: RSS %.1f MB, %ld threads (idle environments are kept "
               "warm for `--idle-reap`).\n",
               b->rss_mb_end, b->threads_end);
    failed = print_budgets(b);
    status = run_status();
out:
    return bench_cleanup(&b->srv, b->tmp, b->o.keep, status, failed, b->o.strict);
}
