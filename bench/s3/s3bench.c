/*
 * s3bench — Sluice's S3 benchmark, run by hand (`make bench`).
 *
 * It starts its own `sluice serve` on a free loopback port with a fresh data
 * directory on disk (never tmpfs: durability is what a PUT pays for), and in
 * the same run measures
 *   - its floors, because the machine is shared and noisy: a bare fdatasync
 *     of a 1 KiB write on the data directory's filesystem, a GET of
 *     /_sluice/health over one connection (one trip through the front door)
 *     and a bare loopback HTTP round trip to a responder inside this process;
 *   - PutObject and GetObject ops/s, MB/s, p50 and p99 for each object size
 *     and client count (GETs read the objects the PUTs wrote, and check them);
 *   - the server's idle RSS and CPU after start-up and after the load;
 * then prints markdown tables with the budgets of DESIGN.md beside the
 * results, stops the server (SIGTERM, wait) and removes its directory.
 *
 * The load generator is one thread per client, each with one blocking
 * HTTP/1.1 keep-alive connection: on loopback a blocking send/recv pair
 * costs no more than an epoll round, and the code stays short. Requests are
 * unsigned (the server runs with --auth=dev) with Content-Length bodies.
 *
 * MB means 10^6 bytes throughout; KiB and MiB are the object sizes.
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

#define BUCKET "s3bench"
#define MAX_CLIENTS 256
#define MAX_SIZES 8
#define STAMP_LEN 64               /* each object starts with its own path */
#define VERIFY_EVERY 64            /* GETs whose whole body is compared */
#define MAX_TRANSPORT_ERRORS 100 /* in a row, before a client gives up */

/* Budgets of DESIGN.md ("Performance budgets") that this benchmark checks. */
#define BUDGET_IDLE_RSS_MB 15.0
#define BUDGET_IDLE_CPU_PCT 0.5 /* "0%"; one 10 ms clock tick in 2 s is noise */


/* ---- options ----------------------------------------------------------- */

struct options {
    const char *sluice;
    const char *dir;
    double duration;
    long count;
    const char *sizes;
    const char *clients;
    const char *ops;
    double floor_time;
    double idle_window;
    bool keep;
    bool strict;
};

static const struct option_spec option_table[] = {
    {"--sluice", OPT_STR, NULL, "the sluice binary to start (required)",
     offsetof(struct options, sluice)},
    {"--dir", OPT_STR, "/tmp", "where the temporary data directory goes (not tmpfs)",
     offsetof(struct options, dir)},
    {"--duration", OPT_SECONDS, "3", "seconds each cell runs", offsetof(struct options, duration)},
    {"--count", OPT_COUNT, "0", "requests per client per cell instead of --duration (0: off)",
     offsetof(struct options, count)},
    {"--sizes", OPT_STR, "1k,1m", "object sizes (suffix k or m: KiB, MiB)",
     offsetof(struct options, sizes)},
    {"--clients", OPT_STR, "1,16", "concurrent client counts", offsetof(struct options, clients)},
    {"--ops", OPT_STR, "put,get", "put, get or both (get needs put)",
     offsetof(struct options, ops)},
    {"--floor-time", OPT_SECONDS, "1", "seconds each floor is measured",
     offsetof(struct options, floor_time)},
    {"--idle-window", OPT_SECONDS, "2", "seconds of each idle CPU window",
     offsetof(struct options, idle_window)},
    {"--keep", OPT_FLAG, NULL, "keep the temporary directory (data and server log)",
     offsetof(struct options, keep)},
    {"--strict", OPT_FLAG, NULL, "exit 3 when a budget fails", offsetof(struct options, strict)},
};

#define USAGE_ARGS "--sluice PATH"

/* Fills o from the defaults, then argv. */
static int options(struct options *o, int argc, char **argv)
{
    if (parse_options(option_table, ARRAY_LEN(option_table), o, sizeof(*o), 100000000, USAGE_ARGS,
                      argc, argv))
        return -1;
    if (!o->sluice) {
        fprintf(stderr, "s3bench: --sluice PATH is required\n");
        return -1;
    }
    return 0;
}

/* Parses "1k,1m,4096" into sizes in bytes; 0 or -1. */
static int parse_list(const char *s, size_t *out, size_t cap, size_t *n, bool suffixes)
{
    *n = 0;
    while (*s) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s)
            return -1;
        if (suffixes && (*end == 'k' || *end == 'K'))
            v <<= 10, end++;
        else if (suffixes && (*end == 'm' || *end == 'M'))
            v <<= 20, end++;
        if ((*end && *end != ',') || v == 0 || *n == cap)
            return -1;
        out[(*n)++] = (size_t)v;
        s = *end ? end + 1 : end;
    }
    return *n ? 0 : -1;
}

/* ---- HTTP/1.1 client ---------------------------------------------------- */







/* ---- statistics --------------------------------------------------------- */


static const char *fmt_size(char *b, size_t n, size_t size)
{
    if (size >= (1u << 20) && size % (1u << 20) == 0)
        snprintf(b, n, "%zu MiB", size >> 20);
    else if (size >= 1024 && size % 1024 == 0)
        snprintf(b, n, "%zu KiB", size >> 10);
    else
        snprintf(b, n, "%zu B", size);
    return b;
}

/* ---- CPU and memory from /proc ------------------------------------------ */





/* ---- the benchmark's state -------------------------------------------- */

enum op { OP_PUT, OP_GET };
static const char *const op_name[] = {"PutObject", "GetObject"};

/* An object that a PUT stored: its path is rebuilt from these. */
struct keyref {
    uint16_t clients, tid;
    uint32_t seq;
};

struct cell {
    enum op op;
    size_t size;
    unsigned clients;
    uint64_t ops, errors, new_conns, bytes;
    double secs;
    uint64_t p50, p99;
    struct cpu_use cpu;
    char first_error[300];
};

struct floors {
    uint64_t fsync_p50, fsync_p99, fsync_n;
    uint64_t append_p50, append_p99, append_n;
    struct floor health; /* GET /_sluice/health */
    struct floor echo;   /* the bare loopback round trip */
};

struct idle {
    double rss_mb, hwm_mb, cpu_pct, window_s;
    long threads;
    struct cpu_use cpu;
    bool ok;
};

struct bench {
    struct options o;
    size_t sizes[MAX_SIZES], nsizes;
    size_t clients[MAX_SIZES], nclients;
    bool do_put, do_get;
    char tmp[PATH_MAX - 64];
    char fs_desc[PATH_MAX + 128];
    struct server srv; /* the sluice under test */
    char *payload; /* random bytes: every object is its stamp then these */
    struct keyref *keys;
    size_t nkeys, keys_cap;
    pthread_barrier_t barrier;
    uint64_t deadline;
    struct floors fl;
    struct idle idle_start, idle_end;
    struct cell cells[2 * MAX_SIZES * MAX_SIZES];
    size_t ncells;
};

struct worker {
    struct bench *b;
    enum op op;
    size_t size;
    unsigned clients, tid;
    struct conn *c;
    char *obj;  /* the object sent, or the expected one */
    char *dest; /* where GET bodies land */
    struct lat lat;
    struct keyref *put; /* objects this worker stored */
    size_t nput, put_cap;
    uint64_t ops, errors, end;
    char first_error[300];
    pthread_t th;
};

static void object_path(char *b, size_t n, size_t size, struct keyref k)
{
    snprintf(b, n, "/" BUCKET "/o%zu/c%u/t%u/%" PRIu32, size, (unsigned)k.clients, (unsigned)k.tid,
             k.seq);
}

/* Makes w->obj the object stored at path: the path, NUL-padded to
 * STAMP_LEN, then the shared payload. */
static void object_stamp(char *obj, const char *path, size_t size)
{
    size_t n = size < STAMP_LEN ? size : STAMP_LEN;
    memset(obj, 0, n);
    memcpy(obj, path, strlen(path) < n ? strlen(path) : n);
}

static void worker_error(struct worker *w, const char *fmt, ...)
{
    w->errors++;
    if (w->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
    va_end(ap);
    for (char *p = w->first_error; *p; p++) /* one line in the report */
        if ((unsigned char)*p < ' ')
            *p = ' ';
}

/* One client: runs requests back to back until the deadline (or --count). */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    char err[256], path[160];
    struct http_resp resp;
    bool open_failed = conn_open(w->c, err, sizeof(err)) != 0;
    if (open_failed)
        worker_error(w, "%s", err);
    pthread_barrier_wait(&b->barrier);
    unsigned transport_errors = 0;
    for (uint64_t seq = 0; !open_failed && !g_stop; seq++) {
        if (b->o.count ? seq >= (uint64_t)b->o.count : now_ns() >= b->deadline)
            break;
        struct keyref k = {(uint16_t)w->clients, (uint16_t)w->tid, (uint32_t)seq};
        if (w->op == OP_GET)
            k = b->keys[(w->tid + seq * w->clients) % b->nkeys];
        object_path(path, sizeof(path), w->size, k);
        object_stamp(w->obj, path, w->size);
        struct http_req rq = {.method = w->op == OP_PUT ? "PUT" : "GET",
                              .path = path,
                              .host = b->srv.host,
                              .headers = w->op == OP_PUT
                                             ? "Content-Type: application/octet-stream\r\n"
                                             : NULL,
                              .body = w->op == OP_PUT ? w->obj : NULL,
                              .body_len = w->size};
        uint64_t t0 = now_ns();
        int rc = http_roundtrip(w->c, &rq, w->dest, w->size, &resp, err, sizeof(err));
        uint64_t t1 = now_ns();
        if (rc) {
            worker_error(w, "%s %s: %s", rq.method, path, err);
            if (++transport_errors == MAX_TRANSPORT_ERRORS)
                break;
            continue;
        }
        transport_errors = 0;
        if (resp.status != 200) {
            worker_error(w, "%s %s: HTTP %d %s", rq.method, path, resp.status, resp.snippet);
            continue;
        }
        if (w->op == OP_GET) {
            size_t cmp = w->size < STAMP_LEN ? w->size : STAMP_LEN;
            if (!resp.into_dest || resp.body_len != w->size) {
                worker_error(w, "GET %s: %" PRIu64 " bytes, expected %zu", path, resp.body_len,
                             w->size);
                continue;
            }
            if (memcmp(w->dest, w->obj, cmp) != 0 ||
                (seq % VERIFY_EVERY == 0 && memcmp(w->dest, w->obj, w->size) != 0)) {
                worker_error(w, "GET %s: the body differs from what was put", path);
                continue;
            }
        } else {
            if (w->nput == w->put_cap) {
                size_t cap = w->put_cap ? w->put_cap * 2 : 1024;
                struct keyref *p = realloc(w->put, cap * sizeof(*p));
                if (!p)
                    break;
                w->put = p;
                w->put_cap = cap;
            }
            w->put[w->nput++] = k;
        }
        w->ops++;
        if (lat_add(&w->lat, t1 - t0))
            break;
    }
    w->end = now_ns();
    return NULL;
}

/* Runs one cell: clients workers doing op on objects of size. */
static int run_cell(struct bench *b, enum op op, size_t size, unsigned clients, struct cell *out)
{
    char sz[32];
    fprintf(stderr, "s3bench: %s %s, %u client%s...\n", op_name[op], fmt_size(sz, sizeof(sz), size),
            clients, clients == 1 ? "" : "s");
    memset(out, 0, sizeof(*out));
    out->op = op;
    out->size = size;
    out->clients = clients;
    if (op == OP_GET && b->nkeys == 0) {
        snprintf(out->first_error, sizeof(out->first_error), "no objects of this size were put");
        return 0;
    }
    struct worker *w = calloc(clients, sizeof(*w));
    struct conn *conns = calloc(clients, sizeof(*conns));
    int rc = -1;
    unsigned started = 0;
    if (!w || !conns)
        goto out;
    for (unsigned i = 0; i < clients; i++) {
        w[i] = (struct worker){
            .b = b, .op = op, .size = size, .clients = clients, .tid = i, .c = &conns[i]};
        conn_init(&conns[i], &b->srv.addr);
        w[i].obj = malloc(size);
        w[i].dest = op == OP_GET ? malloc(size) : NULL;
        if (!w[i].obj || (op == OP_GET && !w[i].dest))
            goto out;
        memcpy(w[i].obj, b->payload, size);
    }
    if (pthread_barrier_init(&b->barrier, NULL, clients + 1))
        goto out;
    for (; started < clients; started++)
        if (pthread_create(&w[started].th, NULL, worker_main, &w[started]))
            break;
    if (started < clients) {
        /* The barrier can never open: nothing to do but give up loudly. */
        fprintf(stderr, "s3bench: cannot start %u threads\n", clients);
        exit(1);
    }
    struct cpu_snap c0, c1;
    cpu_snap(b->srv.pid, &c0);
    uint64_t start = now_ns();
    b->deadline = start + (uint64_t)(b->o.duration * 1e9);
    pthread_barrier_wait(&b->barrier);
    uint64_t end = start;
    struct lat all = {0};
    for (unsigned i = 0; i < clients; i++) {
        pthread_join(w[i].th, NULL);
        if (w[i].end > end)
            end = w[i].end;
    }
    cpu_snap(b->srv.pid, &c1);
    out->cpu = cpu_between(&c0, &c1);
    pthread_barrier_destroy(&b->barrier);
    for (unsigned i = 0; i < clients; i++) {
        out->ops += w[i].ops;
        out->errors += w[i].errors;
        out->new_conns += conns[i].connects > 0 ? conns[i].connects - 1 : 0;
        if (!out->first_error[0] && w[i].first_error[0])
            memcpy(out->first_error, w[i].first_error, sizeof(out->first_error));
        for (size_t j = 0; j < w[i].lat.n; j++)
            if (lat_add(&all, w[i].lat.v[j]))
                break;
        for (size_t j = 0; j < w[i].nput; j++) {
            if (b->nkeys == b->keys_cap) {
                size_t cap = b->keys_cap ? b->keys_cap * 2 : 4096;
                struct keyref *k = realloc(b->keys, cap * sizeof(*k));
                if (!k)
                    break;
                b->keys = k;
                b->keys_cap = cap;
            }
            b->keys[b->nkeys++] = w[i].put[j];
        }
    }
    out->bytes = out->ops * size;
    out->secs = (double)(end - start) / 1e9;
    qsort(all.v, all.n, sizeof(*all.v), cmp_u64);
    out->p50 = percentile(all.v, all.n, 0.50);
    out->p99 = percentile(all.v, all.n, 0.99);
    free(all.v);
    rc = 0;
out:
    for (unsigned i = 0; w && conns && i < clients; i++) {
        conn_close(&conns[i]);
        free(w[i].obj);
        free(w[i].dest);
        free(w[i].lat.v);
        free(w[i].put);
    }
    free(w);
    free(conns);
    if (rc)
        fprintf(stderr, "s3bench: out of memory\n");
    return rc;
}

/* ---- floors ------------------------------------------------------------- */

/* ---- the server --------------------------------------------------------- */





/* The server's CPU over an idle window of --idle-window seconds, then its
 * RSS at the end of it. */
static void measure_idle(struct bench *b, struct idle *out)
{
    unsigned long long t0, t1;
    memset(out, 0, sizeof(*out));
    struct cpu_snap s0, s1;
    uint64_t w0 = now_ns();
    cpu_snap(b->srv.pid, &s0);
    if (proc_cpu(b->srv.pid, &t0, NULL))
        return;
    sleep_ms((unsigned)(b->o.idle_window * 1000));
    if (proc_cpu(b->srv.pid, &t1, NULL))
        return;
    cpu_snap(b->srv.pid, &s1);
    out->cpu = cpu_between(&s0, &s1);
    out->window_s = (double)(now_ns() - w0) / 1e9;
    out->cpu_pct = (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / out->window_s * 100;
    out->ok = proc_status(b->srv.pid, &out->rss_mb, &out->hwm_mb, &out->threads) == 0;
}

/* ---- the data directory ------------------------------------------------- */





/* ---- report ------------------------------------------------------------- */

static const struct budget {
    const char *what;
    enum op op;
    size_t size;
    unsigned clients;
    bool mbs; /* the minimum is in MB/s, else in ops/s */
    double min;
} budgets[] = {
    {"durable 1 KiB PutObject, 16 clients", OP_PUT, 1024, 16, false, 5000},
    {"1 MiB GetObject, 16 clients", OP_GET, 1u << 20, 16, true, 500},
};

static const struct budget *cell_budget(const struct cell *c)
{
    for (size_t i = 0; i < ARRAY_LEN(budgets); i++)
        if (budgets[i].op == c->op && budgets[i].size == c->size &&
            budgets[i].clients == c->clients)
            return &budgets[i];
    return NULL;
}

static double cell_ops(const struct cell *c)
{
    return c->secs > 0 ? (double)c->ops / c->secs : 0;
}

static double cell_mbs(const struct cell *c)
{
    return c->secs > 0 ? (double)c->bytes / c->secs / 1e6 : 0;
}

static bool budget_met(const struct budget *bu, const struct cell *c)
{
    return (bu->mbs ? cell_mbs(c) : cell_ops(c)) >= bu->min && c->errors == 0;
}

static void print_header(const struct bench *b)
{
    printf("# Sluice S3 benchmark\n\n");
    print_when_host("the benchmark and the server");
    printf("- server: `%s serve --listen %s --auth dev` (pid %d)\n", b->o.sluice, b->srv.host,
           (int)b->srv.pid);
    printf("- data dir: %s (%s)\n", b->srv.data, b->fs_desc);
    if (b->o.count)
        printf("- each cell: %ld requests per client\n", b->o.count);
    else
        printf("- each cell: %.1f s; floors %.1f s each; idle windows %.1f s\n", b->o.duration,
               b->o.floor_time, b->o.idle_window);
    printf("- MB = 10^6 bytes; latencies are per request, send to last byte received\n\n");
    fflush(stdout);
}

static void print_floors(const struct bench *b)
{
    const struct floors *f = &b->fl;
    char p50[32], p99[32];
    printf("## Floors (same run)\n\n| floor | p50 | p99 | n | note |\n|---|---|---|---|---|\n");
    printf("| fdatasync of a 1 KiB write in place | %s | %s | %" PRIu64
           " | pwrite at offset 0 + fdatasync; denominator of PUT ratios |\n",
           fmt_ns(p50, sizeof(p50), f->fsync_p50), fmt_ns(p99, sizeof(p99), f->fsync_p99),
           f->fsync_n);
    printf("| fdatasync of a 1 KiB append | %s | %s | %" PRIu64
           " | the file grows: the journal commits too |\n",
           fmt_ns(p50, sizeof(p50), f->append_p50), fmt_ns(p99, sizeof(p99), f->append_p99),
           f->append_n);
    printf("| GET /_sluice/health, one client | %s | %s | %" PRIu64
           " | %s; denominator of GET ratios |\n",
           fmt_ns(p50, sizeof(p50), f->health.p50), fmt_ns(p99, sizeof(p99), f->health.p99),
           f->health.n,
           f->health.conns <= 1 ? "one keep-alive connection"
                                : "**the server closed the connection after every response**: "
                                  "each request paid a new TCP connection");
    printf("| bare loopback HTTP round trip | %s | %s | %" PRIu64
           " | keep-alive, to a responder thread in s3bench |\n\n",
           fmt_ns(p50, sizeof(p50), f->echo.p50), fmt_ns(p99, sizeof(p99), f->echo.p99), f->echo.n);
    if (f->health.conns > 1)
        printf("(health: %" PRIu64 " connections for %" PRIu64 " requests)\n\n", f->health.conns,
               f->health.n);
    fflush(stdout);
}

static void print_results_head(void)
{
    printf("## Results\n\nCPU is in %% of one CPU: the server / s3bench / every other process "
           "on the machine / stolen by the hypervisor.\n\n| op | size | clients | ops/s | MB/s | "
           "p50 | p99 | p50 / floor | "
           "errors | new conns | CPU srv / bench / other / steal | budget |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);
}

static void print_cell(const struct bench *b, const struct cell *c)
{
    char sz[32], ops[32], p50[32], p99[32], ratio[48] = "–", bud[64] = "";
    uint64_t floor = c->op == OP_PUT ? b->fl.fsync_p50 : b->fl.health.p50;
    if (floor && c->p50)
        snprintf(ratio, sizeof(ratio), "%.1f× %s", (double)c->p50 / (double)floor,
                 c->op == OP_PUT ? "fsync" : "health");
    const struct budget *bu = cell_budget(c);
    if (bu)
        snprintf(bud, sizeof(bud), "≥ %s %s: **%s**", fmt_count(ops, sizeof(ops), bu->min),
                 bu->mbs ? "MB/s" : "ops/s", budget_met(bu, c) ? "PASS" : "FAIL");
    printf("| %s | %s | %u | %s | %.1f | %s | %s | %s | %" PRIu64 " | %" PRIu64
           " | %.0f / %.0f / %.0f / %.0f | %s |\n",
           op_name[c->op], fmt_size(sz, sizeof(sz), c->size), c->clients,
           fmt_count(ops, sizeof(ops), cell_ops(c)), cell_mbs(c), fmt_ns(p50, sizeof(p50), c->p50),
           fmt_ns(p99, sizeof(p99), c->p99), ratio, c->errors, c->new_conns, c->cpu.server,
           c->cpu.bench, c->cpu.others, c->cpu.steal, bud);
    fflush(stdout);
}

static void print_idle_row(const char *when, const struct idle *i)
{
    if (!i->ok) {
        printf("| %s | not measured | | | | |\n", when);
        return;
    }
    printf("| %s | %.1f MB (**%s**) | %.2f%% over %.1f s (**%s**) | %.1f MB | %ld | %.0f%% |\n",
           when, i->rss_mb, i->rss_mb <= BUDGET_IDLE_RSS_MB ? "PASS" : "FAIL", i->cpu_pct,
           i->window_s, i->cpu_pct <= BUDGET_IDLE_CPU_PCT ? "PASS" : "FAIL", i->hwm_mb, i->threads,
           i->cpu.others);
}

/* Prints the budgets, then what limits them on this machine today, and
 * returns how many failed. */
static int print_budgets(const struct bench *b)
{
    int failed = 0;
    char v[64], m[32];
    printf("\n## Budgets (DESIGN.md)\n\n| budget | measured | result |\n|---|---|---|\n");
    for (size_t i = 0; i < ARRAY_LEN(budgets); i++) {
        const struct budget *bu = &budgets[i];
        const struct cell *c = NULL;
        for (size_t j = 0; j < b->ncells && !c; j++)
            if (cell_budget(&b->cells[j]) == bu)
                c = &b->cells[j];
        if (!c) {
            printf("| %s ≥ %s %s | not run | – |\n", bu->what, fmt_count(m, sizeof(m), bu->min),
                   bu->mbs ? "MB/s" : "ops/s");
            continue;
        }
        bool ok = budget_met(bu, c);
        failed += !ok;
        if (bu->mbs)
            snprintf(v, sizeof(v), "%.0f MB/s", cell_mbs(c));
        else
            snprintf(v, sizeof(v), "%s ops/s", fmt_count(m, sizeof(m), cell_ops(c)));
        printf("| %s ≥ %s %s | %s%s | **%s** |\n", bu->what, fmt_count(m, sizeof(m), bu->min),
               bu->mbs ? "MB/s" : "ops/s", v, c->errors ? " (with errors)" : "",
               ok ? "PASS" : "FAIL");
    }
    const struct idle *id[] = {&b->idle_start, &b->idle_end};
    const char *when[] = {"after start-up", "after the run"};
    for (size_t i = 0; i < 2; i++) {
        if (!id[i]->ok)
            continue;
        bool rss_ok = id[i]->rss_mb <= BUDGET_IDLE_RSS_MB;
        bool cpu_ok = id[i]->cpu_pct <= BUDGET_IDLE_CPU_PCT;
        failed += !rss_ok + !cpu_ok;
        printf("| idle server RSS ≤ %.0f MB, %s | %.1f MB | **%s** |\n", BUDGET_IDLE_RSS_MB,
               when[i], id[i]->rss_mb, rss_ok ? "PASS" : "FAIL");
        printf("| idle server CPU 0%%, %s | %.2f%% | **%s** |\n", when[i], id[i]->cpu_pct,
               cpu_ok ? "PASS" : "FAIL");
    }
    for (size_t i = 0; i < ARRAY_LEN(budgets); i++) {
        if (budgets[i].op != OP_PUT || budgets[i].mbs || !b->fl.fsync_p50)
            continue;
        /* One fsync per batch and one request in flight per client. */
        double ceiling = (double)budgets[i].clients * 1e9 / (double)b->fl.fsync_p50;
        printf("\nGroup-commit ceiling for the %s: %u requests in flight / fsync p50 %s = %s "
               "ops/s%s\n",
               budgets[i].what, budgets[i].clients, fmt_ns(v, sizeof(v), b->fl.fsync_p50),
               fmt_count(m, sizeof(m), ceiling),
               ceiling < budgets[i].min ? ": **the budget is out of reach on this disk today, "
                                          "whatever the server does**."
                                        : ".");
    }
    double worst = 0;
    for (size_t i = 0; i < b->ncells; i++)
        worst = b->cells[i].cpu.others > worst ? b->cells[i].cpu.others : worst;
    print_busy_note(worst, "the cells");
    return failed;
}

/* The first error of each cell that had one. */
static void print_errors(const struct bench *b)
{
    bool any_error = false;
    for (size_t i = 0; i < b->ncells; i++) {
        if (!b->cells[i].first_error[0])
            continue;
        char sz[32];
        if (!any_error)
            printf("\nFirst error of each cell that had one:\n\n");
        any_error = true;
        printf("- %s %s ×%u: %s\n", op_name[b->cells[i].op],
               fmt_size(sz, sizeof(sz), b->cells[i].size), b->cells[i].clients,
               b->cells[i].first_error);
    }
}


/* ---- main --------------------------------------------------------------- */



int main(int argc, char **argv)
{
    g_bench_name = "s3bench";
    static struct bench bench;
    struct bench *b = &bench;
    if (options(&b->o, argc, argv)) {
        print_usage(stderr, option_table, ARRAY_LEN(option_table), USAGE_ARGS);
        return 2;
    }
    if (parse_list(b->o.sizes, b->sizes, MAX_SIZES, &b->nsizes, true) ||
        parse_list(b->o.clients, b->clients, MAX_SIZES, &b->nclients, false)) {
        fprintf(stderr, "s3bench: bad --sizes or --clients\n");
        return 2;
    }
    size_t max_size = 0;
    for (size_t i = 0; i < b->nsizes; i++) {
        if (b->sizes[i] > (64u << 20)) {
            fprintf(stderr, "s3bench: sizes are capped at 64 MiB\n");
            return 2;
        }
        max_size = b->sizes[i] > max_size ? b->sizes[i] : max_size;
    }
    for (size_t i = 0; i < b->nclients; i++) {
        if (b->clients[i] > MAX_CLIENTS) {
            fprintf(stderr, "s3bench: at most %d clients\n", MAX_CLIENTS);
            return 2;
        }
    }
    b->do_put = strstr(b->o.ops, "put") != NULL;
    b->do_get = strstr(b->o.ops, "get") != NULL;
    if (!b->do_put) {
        fprintf(stderr, "s3bench: --ops must include put (GETs read what PUTs wrote)\n");
        return 2;
    }
    if (access(b->o.sluice, X_OK)) {
        fprintf(stderr, "s3bench: %s: %s\n", b->o.sluice, strerror(errno));
        return 2;
    }

    double per_cell = b->o.count ? 60 : b->o.duration + 5;
    install_signals((unsigned)(120 + 4 * b->o.floor_time + 2 * b->o.idle_window +
                               (double)(2 * b->nsizes * b->nclients) * per_cell));

    if (bench_workdir(b->o.dir, b->tmp, sizeof(b->tmp), b->fs_desc, sizeof(b->fs_desc), &b->srv,
                      b->o.sluice))
        return 1;
    int status = 1, failed = 0;
    b->payload = malloc(max_size > 1024 ? max_size : 1024);
    if (!b->payload)
        goto out;
    uint64_t x = now_ns() | 1;
    for (size_t i = 0; i < (max_size > 1024 ? max_size : 1024); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b->payload[i] = (char)x;
    }

    if (server_start(&b->srv))
        goto out;
    print_header(b);
    fprintf(stderr, "s3bench: idle server after start-up...\n");
    measure_idle(b, &b->idle_start);
    printf("Other processes used %.0f%% of one CPU (of %ld00%%) while the server sat idle after "
           "start-up%s.\n\n",
           b->idle_start.cpu.others, sysconf(_SC_NPROCESSORS_ONLN),
           b->idle_start.cpu.others > 20 ? ": **the machine is busy; expect slower, noisier "
                                           "results than its floors alone explain**"
                                         : "");

    fprintf(stderr, "s3bench: floors...\n");
    struct floor fs, fa;
    if (floor_fdatasync(b->tmp, false, b->o.floor_time, &fs) ||
        floor_fdatasync(b->tmp, true, b->o.floor_time, &fa)) {
        fprintf(stderr, "s3bench: fsync floor: %s\n", strerror(errno));
        goto out;
    }
    b->fl.fsync_p50 = fs.p50, b->fl.fsync_p99 = fs.p99, b->fl.fsync_n = fs.n;
    b->fl.append_p50 = fa.p50, b->fl.append_p99 = fa.p99, b->fl.append_n = fa.n;
    if (floor_http(&b->srv.addr, b->srv.host, "/_sluice/health", b->o.floor_time,
                   &b->fl.health) ||
        floor_echo(b->srv.host, b->o.floor_time, &b->fl.echo))
        goto out;
    print_floors(b);

    {
        struct conn *c = malloc(sizeof(*c));
        char err[256] = "out of memory";
        struct http_resp resp = {0};
        struct http_req rq = {
            .method = "PUT", .path = "/" BUCKET, .host = b->srv.host, .body = "", .body_len = 0};
        int rc = -1;
        if (c) {
            conn_init(c, &b->srv.addr);
            rc = http_roundtrip(c, &rq, NULL, 0, &resp, err, sizeof(err));
            conn_close(c);
            free(c);
        }
        if (rc || resp.status != 200) {
            fprintf(stderr, "s3bench: CreateBucket: %s\n",
                    rc                ? err
                    : resp.snippet[0] ? resp.snippet
                                      : "unexpected status");
            goto out;
        }
    }

    print_results_head();
    for (size_t s = 0; s < b->nsizes && !g_stop; s++) {
        b->nkeys = 0;
        for (int op = OP_PUT; op <= OP_GET && !g_stop; op++) {
            if (op == OP_GET && !b->do_get)
                continue;
            for (size_t c = 0; c < b->nclients && !g_stop; c++) {
                struct cell *cell = &b->cells[b->ncells];
                if (run_cell(b, (enum op)op, b->sizes[s], (unsigned)b->clients[c], cell))
                    goto out;
                b->ncells++;
                print_cell(b, cell);
                char sz[32], what[96];
                snprintf(what, sizeof(what), "%s %s ×%u", op_name[op],
                         fmt_size(sz, sizeof(sz), b->sizes[s]), (unsigned)b->clients[c]);
                if (server_gone(&b->srv, what)) {
                    print_errors(b);
                    print_log_findings(b->srv.log);
                    goto out;
                }
            }
        }
    }
    print_errors(b);

    fprintf(stderr, "s3bench: idle server after the run...\n");
    measure_idle(b, &b->idle_end);
    printf("\n## Server resources\n\n| when | idle RSS (≤ %.0f MB) | idle CPU (0%%) | peak RSS "
           "| threads | other processes' CPU |\n|---|---|---|---|---|---|\n",
           BUDGET_IDLE_RSS_MB);
    print_idle_row("after start-up", &b->idle_start);
    print_idle_row("after the run", &b->idle_end);
    failed = print_budgets(b);
    status = run_status();
out:
    free(b->payload);
    free(b->keys);
    return bench_cleanup(&b->srv, b->tmp, b->o.keep, status, failed, b->o.strict);
}
