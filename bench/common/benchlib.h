/*
 * What Sluice's benchmarks share: a monotonic clock, keep-alive HTTP/1.1
 * connections over loopback (connect, send, read a response head), a latency
 * recorder with percentiles, number formatting, and a free loopback port.
 * Each benchmark (bench/s3, bench/invoke) builds this file in.
 */
#ifndef SLUICE_BENCHLIB_H
#define SLUICE_BENCHLIB_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <signal.h>

#define CONN_BUF (64 * 1024) /* read buffer; also the cap on a response head */
#define IO_TIMEOUT_S 30      /* a stalled server fails the request, not the run */
#define MAX_LAT_SAMPLES (1u << 24) /* per recorder: ~2 minutes at 100k ops/s */

/* What the I/O helpers return: done, failed, or the connection was stale
 * (closed by the server before anything was read: worth one reconnect). */
enum { IO_OK = 0, IO_ERR = -1, IO_STALE = 1 };

/* Set by the benchmark's signal handlers: every wait gives up. */
extern volatile sig_atomic_t g_stop;

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

#endif
