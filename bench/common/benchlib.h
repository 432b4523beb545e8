/*
 * What Sluice's benchmarks share: a monotonic clock, keep-alive HTTP/1.1
 * connections over loopback and whole request/response round trips, a
 * latency recorder with percentiles, number formatting, a free loopback
 * port, the `sluice serve` under test (start, health wait, stop), control-plane
 * requests to it, the floors every run measures (health GETs, a bare
 * loopback round trip, fdatasync), growable byte buffers, the pieces of a
 * Lambda function package (a stored zip, base64), creating functions and
 * event source mappings, members of JSON answers, the server's metrics and
 * its CPU and memory at rest.
 * Each benchmark (bench/s3, bench/invoke, bench/sqs, bench/streams) builds
 * this file in.
 */
#ifndef SLUICE_BENCHLIB_H
#define SLUICE_BENCHLIB_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <signal.h>
#include <stdio.h>

#define CONN_BUF (64 * 1024) /* read buffer; also the cap on a response head */
#define IO_TIMEOUT_S 30      /* a stalled server fails the request, not the run */
#define MAX_LAT_SAMPLES (1u << 24) /* per recorder: ~2 minutes at 100k ops/s */

/* What the I/O helpers return: done, failed, or the connection was stale
 * (closed by the server before anything was read: worth one reconnect). */
enum { IO_OK = 0, IO_ERR = -1, IO_STALE = 1 };

/* Set by the benchmark's signal handlers: every wait gives up. */
extern volatile sig_atomic_t g_stop;
/* The server being measured (0 when none), for a handler to kill. */
extern volatile sig_atomic_t g_server_pid;
/* The program's name, for messages and the User-Agent; main sets it. */
extern const char *g_bench_name;

#define READY_TIMEOUT_MS 10000   /* the server must answer /_sluice/health by then */
#define STOP_TIMEOUT_MS 15000    /* SIGKILL after SIGTERM and this long */
#define LOG_RESULT_MAX 8192      /* base64 of Lambda's 4 KB log tail fits */

/* qsort comparator of uint64_t. */
int cmp_u64(const void *a, const void *b);

/* One keep-alive connection and its read buffer (buf[off..len) unread). */
struct conn {
    int fd;
    struct sockaddr_in addr;
    size_t len, off;
    uint64_t connects;
    char buf[CONN_BUF];
};

struct lat {
    uint64_t *v;
    size_t n, cap;
};

uint64_t now_ns(void);

void sleep_ms(unsigned ms);

void conn_init(struct conn *c, const struct sockaddr_in *addr);

void conn_close(struct conn *c);

int conn_open(struct conn *c, char *err, size_t errn);

int send_all(int fd, struct iovec *iov, int iovcnt);

/* Receives into p; >0 bytes, 0 at EOF, -1 on error (EINTR retried unless
 * the run is stopping). */
ssize_t recv_some(int fd, void *p, size_t n);

/* Reads until buf[off..] holds a whole response head; *head_len is its
 * length including the blank line. IO_STALE when the peer closed before
 * sending a byte (a keep-alive connection it had already dropped). */
int read_head(struct conn *c, size_t *head_len, char *err, size_t errn);

int lat_add(struct lat *l, uint64_t ns);
/* Sorts l's samples (for percentile). */
void lat_sort(struct lat *l);
/* The p50 and p99 of the recorders l[0..n) together. */
void lat_merged_percentiles(struct lat *const *l, size_t n, uint64_t *p50, uint64_t *p99);

/* Nearest-rank percentile of sorted v. */
uint64_t percentile(const uint64_t *v, size_t n, double p);

const char *fmt_ns(char *b, size_t n, uint64_t ns);

/* "12,345" */
const char *fmt_count(char *b, size_t n, double v);

int free_port(uint16_t *port);

/* ---- growable bytes, function packages, files ----------------------------- */

/* A growable buffer, always NUL-terminated after len bytes; {0} is empty.
 * The owner frees data. */
struct bytes {
    char *data;
    size_t len, cap;
};
/* 0, or -1 when out of memory (b unchanged). */
int bytes_append(struct bytes *b, const void *p, size_t n);
int bytes_printf(struct bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the n low bytes of v, little-endian; sets *failed when out of
 * memory (so a run of them is checked once). */
void put_le(struct bytes *b, uint32_t v, int n, int *failed);
/* The CRC-32 of zip (and gzip, PNG). */
uint32_t crc32_of(const void *p, size_t n);

struct zip_entry {
    const char *name;
    const void *data;
    size_t len;
    unsigned mode; /* Unix permission bits, kept in the external attributes */
};
/* Appends to out a zip of the entries, stored without compression ("made
 * by" Unix, so the mode bits count: a bootstrap must be executable). */
int zip_stored(const struct zip_entry *e, size_t n, struct bytes *out);
/* Appends the standard base64 of p[0..n), padded. */
int base64_append(struct bytes *out, const unsigned char *p, size_t n);
/* Appends the contents of the regular file path, of at most max bytes. 0, or
 * -1 with the reason in err. */
int read_file(const char *path, size_t max, struct bytes *out, char *err, size_t errn);

/* ---- HTTP requests and the server under test ----------------------------- */

struct http_req {
    const char *method;
    const char *path;
    const char *host;    /* Host header */
    const char *headers; /* more header lines, each ending in CRLF, or NULL */
    const void *body;    /* NULL: no body and no Content-Length */
    size_t body_len;
};

struct http_resp {
    int status;
    uint64_t body_len;               /* bytes of body received */
    bool into_dest;                  /* the body went to dest */
    bool close;                      /* the server closes the connection after this response */
    bool function_error;             /* X-Amz-Function-Error was set */
    char log_result[LOG_RESULT_MAX]; /* X-Amz-Log-Result, "" when absent */
    char snippet[200];               /* the start of a non-2xx body, for reports */
};

/*
 * Sends rq on c (connecting first when c has no connection) and reads the
 * whole response. A 2xx body that fits in dest_cap goes to dest; any other
 * body is read and dropped (its start kept in out->snippet). A request on
 * a reused connection that the server had closed is retried once on a new
 * one. The connection is closed after a response that says so. Returns 0,
 * or -1 with the reason in err (the connection is then closed).
 */
int http_roundtrip(struct conn *c, const struct http_req *rq, char *dest, size_t dest_cap,
                   struct http_resp *out, char *err, size_t errn);

#define SERVER_EXTRA_ARGS_MAX 16 /* arguments a benchmark may add to `sluice serve` */

/* A `sluice serve` started by the benchmark. Fill sluice, data and log, and
 * extra_args when the benchmark needs more options than the defaults. */
struct server {
    const char *sluice;
    const char *const *extra_args; /* NULL-terminated, after --auth dev; NULL: none */
    char data[PATH_MAX], log[PATH_MAX];
    pid_t pid;
    struct sockaddr_in addr;
    char host[32];   /* "127.0.0.1:PORT" */
    int died_status; /* wait status of a server that died on its own */
};
/* Starts it on a free loopback port (--auth dev and extra_args, output to
 * log) and waits, with a deadline, until it answers /_sluice/health. */
int server_start(struct server *s);
/* Whether it has exited on its own (reaping it if so). */
bool server_died(struct server *s);
/* SIGTERM, then wait; SIGKILL after STOP_TIMEOUT_MS. */
void server_stop(struct server *s, double *ms, int *status, bool *killed);
/* Stops it (if it runs) and says on stdout how it went and what its log
 * warned of. */
void server_stop_report(struct server *s);
/* The last lines of a server log, on stderr. */
void print_log_tail(const char *log);

/*
 * A control-plane request on a connection of its own (opened and closed
 * here): method path with body (NULL: none) and the header lines headers
 * (each ending in CRLF; NULL: "Content-Type: application/json"). Expects
 * HTTP status want; a 2xx body goes to resp (NUL-terminated, at most
 * resp_cap - 1 bytes; a longer one fails the request), or is dropped when
 * resp is NULL. 0, or -1 with the reason (the status and the start of the
 * body, for an unexpected status) in err.
 */
int control_request(const struct server *s, const char *method, const char *path,
                    const char *headers, const struct bytes *body, int want, char *resp,
                    size_t resp_cap, char *err, size_t errn);

/* A floor: sequential GETs over one keep-alive connection. */
struct floor {
    uint64_t p50, p99, n, conns;
};
int floor_http(const struct sockaddr_in *addr, const char *host, const char *path,
               double seconds, struct floor *out);
/* The bare loopback HTTP round trip, to a responder thread in this
 * process. */
int floor_echo(const char *host, double seconds, struct floor *out);

/* A floor: write(1 KiB) + fdatasync of a file made in dir, for seconds: in
 * place when append is false (the cheapest durable write), else appending
 * (the file's new size is committed too). The file is removed after. */
int floor_fdatasync(const char *dir, bool append, double seconds, struct floor *out);

/* ---- /proc, the filesystem, signals -------------------------------------- */

/* VmRSS (and VmHWM when hwm_mb is not NULL) in MB (10^6 bytes) and
 * Threads from /proc/PID/status. */
int proc_status(pid_t pid, double *rss_mb, double *hwm_mb, long *threads);
/* utime + stime of pid in clock ticks, and its parent (ppid may be NULL). */
int proc_cpu(pid_t pid, unsigned long long *ticks, pid_t *ppid);

/* A snapshot of the machine's, the server's, its children's (the
 * functions') and this process's CPU time. */
struct cpu_snap {
    double busy_s, steal_s, server_s, fn_s, self_s;
    uint64_t t;
};
/* Where the machine's CPU went between two snapshots, in % of one CPU;
 * others is everything that was neither of the rest. */
struct cpu_use {
    double server, functions, bench, others, steal;
};
void cpu_snap(pid_t server, struct cpu_snap *s);
struct cpu_use cpu_between(const struct cpu_snap *a, const struct cpu_snap *b);

/* "ext4 without a journal on /dev/vda, mounted at /, 81 GB free" for the
 * filesystem of dir; refuses tmpfs and ramfs (durable writes need a disk). */
int describe_fs(const char *dir, char *out, size_t outn);
/* The warn and error lines of a server log, on stdout, and their count. */
void print_log_findings(const char *log);
/* rm -rf dir. */
void remove_tree(const char *dir);
/* SIGINT/SIGTERM set g_stop; SIGPIPE is ignored; after limit_s seconds the
 * server is killed and the program exits 124. */
void install_signals(unsigned limit_s);

/* ---- answers: JSON members, metrics, the idle server ---------------------- */

/* Parses a comma-separated list of counts ("1,8"), each 1..max, at most cap
 * of them, into out[0..*n). 0, or -1 when s is not such a list. */
int parse_counts(const char *s, unsigned max, unsigned *out, size_t cap, size_t *n);

/* The next JSON string member "name" of the text json from *from: its raw
 * text (escapes kept, so it can go back into a JSON string as is) copied to
 * out, and *from moved past it. false when there is none more, or it does
 * not fit out. A scan, not a parser: for answers whose string values never
 * hold the quoted name. */
bool json_next_str(const char **from, const char *name, char *out, size_t outn);
/* The number of the first member "name" of the text json; false when there
 * is none (or it is not a number). */
bool json_number(const char *json, const char *name, double *out);

/* The value of the first series of Prometheus text whose name, labels
 * included up to where they go on, starts with name; -1 when there is none. */
double metrics_value(const char *text, const char *name);

/* GET /_sluice/metrics: its text, NUL-terminated, for the caller to free;
 * NULL when it cannot be read. */
char *metrics_text(const struct server *s);

/* GET /_sluice/metrics on the keep-alive connection c (a sampler's own):
 * its text into text, NUL-terminated (at most cap - 1 bytes). 0, or -1
 * with err. */
int metrics_get(const struct server *s, struct conn *c, char *text, size_t cap, char *err,
                size_t errn);

/* Every series of Prometheus text whose name, labels included up to where
 * they go on, starts with name (as metrics_value matches it): their sum
 * into *sum and their largest value into *max (either may be NULL; both 0
 * when there is none). Returns how many there were. */
size_t metrics_fold(const char *text, const char *name, double *sum, double *max);

/* The store's commit counters, from /_sluice/metrics. */
struct store_stats {
    double batches;      /* commits (one fsync each) */
    double transactions; /* write transactions in them */
};
/* 0, or -1 (out zeroed) when the metrics cannot be read. */
int store_stats_read(const struct server *s, struct store_stats *out);
/* The same from metrics text already read (NULL: none, out zeroed). */
int store_stats_of(const char *text, struct store_stats *out);
/* b - a. */
struct store_stats store_stats_delta(const struct store_stats *a, const struct store_stats *b);

/* The server at rest: its CPU ticks over settle_s (the end of a burst:
 * last flushes, memory given back), then over window_s (what a budget
 * checks) with its children's (the functions') CPU seconds, then its RSS
 * and threads. ok is false when it could not be read. */
struct idle_sample {
    bool ok;
    unsigned long long settle_ticks, ticks;
    double settle_s, window_s, fn_s, rss_mb;
    long threads;
};
void idle_measure(pid_t pid, double settle_s, double window_s, struct idle_sample *out);

/* "3.2× fsync": v / floor with what after it; "–" when either is 0. */
const char *fmt_ratio(char *out, size_t n, uint64_t v, uint64_t floor, const char *what);

/* ---- Lambda functions and event source mappings -------------------------- */

#define DEV_ACCOUNT "000000000000" /* the account of --auth dev requests */
#define DEV_REGION "us-east-1"

/* A function to create: the members of CreateFunction besides its code. */
struct function_spec {
    const char *name, *runtime, *handler, *role;
    int memory_mb, timeout_s;
};
/* CreateFunction f, its code the stored zip of entries e[0..n) sent as
 * base64 ZipFile. 0, or -1 with err. */
int function_create(const struct server *s, const struct function_spec *f,
                    const struct zip_entry *e, size_t n, char *err, size_t errn);
/* The native function of the event source mapping cells: what CreateFunction
 * makes of the file bootstrap (runtimes/c's echo example). */
#define ECHO_RUNTIME "provided.al2023"
#define ECHO_MEMORY_MB 1769 /* one full core, as on AWS */
#define ECHO_TIMEOUT_S 10
/* CreateFunction name: the file bootstrap (of at most 40 MiB; its size to
 * *size) as the zip's executable `bootstrap`, on ECHO_RUNTIME with
 * ECHO_MEMORY_MB and ECHO_TIMEOUT_S, its role arn:aws:iam::DEV_ACCOUNT:
 * role/NAME (NAME: g_bench_name). 0, or -1 with err. */
int echo_function_create(const struct server *s, const char *name, const char *bootstrap,
                         size_t *size, char *err, size_t errn);
/* The native bootstrap of the mapping cells into out: given, or when it is
 * NULL runtimes-c/echo in the directory of the sluice binary (runtimes/c's
 * echo example, which bench/sqs's Makefile builds there). Checks that
 * sluice can run and the bootstrap can be read: 0, or -1 after saying why
 * on stderr. */
int bench_binaries(const char *sluice, const char *given, char *out, size_t outn);

/* CreateEventSourceMapping with the JSON body (202 expected); its UUID
 * into uuid. 0, or -1 with err. */
int esm_create(const struct server *s, const struct bytes *body, char *uuid, size_t uuidn,
               char *err, size_t errn);
/* DeleteEventSourceMapping uuid. 0, or -1 with err. */
int esm_delete(const struct server *s, const char *uuid, char *err, size_t errn);

/* ---- the parts of a run ---------------------------------------------------- */

/* Keeps the first error said into slot (nothing when it holds one), on one
 * line. */
void keep_first_error(char *slot, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Control characters to spaces: one line in a report. */
void one_line(char *s);

/*
 * The run's temporary directory, dir/NAME.XXXXXX (NAME: g_bench_name) on a
 * disk (describe_fs into fs_desc), and the server (binary sluice) set up to
 * keep its data and log in it. 0, or -1 after saying why.
 */
int bench_workdir(const char *dir, char *tmp, size_t tmpn, char *fs_desc, size_t fs_descn,
                  struct server *srv, const char *sluice);
/* The exit status of a run that got to its end: 0, or 130 when it was
 * interrupted (then it says the results are partial). */
int run_status(void);
/* The end of a run: stops the server (server_stop_report), then keeps tmp
 * (saying so) or removes it. Returns the exit status: status, or 3 when it
 * is 0 but budgets failed and strict is set. */
int bench_cleanup(struct server *srv, const char *tmp, bool keep, int status, int failed,
                  bool strict);
/* Whether the server died during what; says so on stdout if it did. */
bool server_gone(struct server *s, const char *what);

/* The floors of sqsbench and streamsbench. */
struct floor_set {
    struct floor fsync, append; /* fdatasync of 1 KiB, in place and appending */
    struct floor health;        /* GET /_sluice/health */
    struct floor echo;          /* the bare loopback round trip */
};
/* Measures them for seconds each, fdatasync in dir. 0, or -1 after saying
 * why. */
int floor_set_measure(const struct server *s, const char *dir, double seconds,
                      struct floor_set *out);
/* Their markdown table. */
void floor_set_print(const struct floor_set *f);

/*
 * A gang of n threads timed together. Each thread, once set up, calls
 * gang_ready (which returns when the clock has started) and gang_done as
 * it ends. gang_start starts them (the program exits when one cannot
 * start) and returns once all are ready, with the server's store counters
 * and CPU taken and start set; gang_go lets them go; gang_join waits for
 * them and says what the run took: the server's CPU, its store commits,
 * the seconds from start to the last thread's end.
 */
struct gang {
    pthread_barrier_t ready, go;
    const struct server *srv;
    unsigned n;
    pthread_t *th;
    uint64_t start, end;
    struct store_stats store;
    struct cpu_snap cpu;
};
void gang_start(struct gang *g, const struct server *s, unsigned n, void *(*fn)(void *),
                void *const *objs);
void gang_go(struct gang *g);
void gang_ready(struct gang *g);
void gang_done(struct gang *g);
void gang_join(struct gang *g, struct cpu_use *cpu, struct store_stats *store, double *secs);

/* "- when: …; host … (…), N CPUs shared by " then shared_by. */
void print_when_host(const char *shared_by);
/* The warning that other processes took up to worst % of one CPU during
 * what, when it is over 20 %. */
void print_busy_note(double worst, const char *during);

/* ---- options ------------------------------------------------------------- */

/* A command-line option: a field of the benchmark's options struct at
 * offset (const char *, double seconds in (0, 3600], long count, bool). */
enum opt_kind { OPT_STR, OPT_SECONDS, OPT_COUNT, OPT_FLAG };
struct option_spec {
    const char *flag;
    enum opt_kind kind;
    const char *def; /* NULL: none */
    const char *help;
    size_t offset;
};
/* "usage: NAME args [options]" and the table. */
void print_usage(FILE *f, const struct option_spec *t, size_t n, const char *args);
/* Zeroes opts (size bytes), applies the defaults, then argv (--flag VALUE
 * or --flag=VALUE; -h prints the usage and exits). Counts above count_max
 * are refused. 0, or -1 after saying why on stderr. */
int parse_options(const struct option_spec *t, size_t n, void *opts, size_t size,
                  long count_max, const char *args, int argc, char **argv);
/* parse_options, then that the OPT_STR option required (its flag:
 * "--sluice") was given. 0, or -1 after saying why and printing the usage
 * on stderr. */
int parse_options_requiring(const struct option_spec *t, size_t n, void *opts, size_t size,
                            long count_max, const char *args, int argc, char **argv,
                            const char *required);

#endif
