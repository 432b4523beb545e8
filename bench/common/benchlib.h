/*
 * What Sluice's benchmarks share: a monotonic clock, keep-alive HTTP/1.1
 * connections over loopback and whole request/response round trips, a
 * latency recorder with percentiles, number formatting, a free loopback
 * port, the `sluice serve` under test (start, health wait, stop), control-plane
 * requests to it, the floors every run measures (health GETs, a bare
 * loopback round trip, fdatasync), growable byte buffers, and the pieces of
 * a Lambda function package (a stored zip, base64).
 * Each benchmark (bench/s3, bench/invoke, bench/sqs) builds this file in.
 */
#ifndef SLUICE_BENCHLIB_H
#define SLUICE_BENCHLIB_H

#include <netinet/in.h>
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

/* A `sluice serve` started by the benchmark. Fill sluice, data and log. */
struct server {
    const char *sluice;
    char data[PATH_MAX], log[PATH_MAX];
    pid_t pid;
    struct sockaddr_in addr;
    char host[32];   /* "127.0.0.1:PORT" */
    int died_status; /* wait status of a server that died on its own */
};
/* Starts it on a free loopback port (--auth dev, output to log) and waits,
 * with a deadline, until it answers /_sluice/health. */
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

#endif
