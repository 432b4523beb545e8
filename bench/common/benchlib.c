/* The helpers both benchmarks use (benchlib.h). */
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

#include "benchlib.h"

volatile sig_atomic_t g_stop;

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR && !g_stop)
        ;
}

void conn_init(struct conn *c, const struct sockaddr_in *addr)
{
    c->fd = -1;
    c->addr = *addr;
    c->len = c->off = 0;
    c->connects = 0;
}

void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = c->off = 0;
}

int conn_open(struct conn *c, char *err, size_t errn)
{
    conn_close(c);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    int one = 1;
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    while (connect(fd, (const struct sockaddr *)&c->addr, sizeof(c->addr))) {
        if (errno != EINTR || g_stop)
            goto fail;
    }
    c->fd = fd;
    c->connects++;
    return 0;
fail:
    snprintf(err, errn, "connect: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int send_all(int fd, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR && !g_stop)
                continue;
            return -1;
        }
        size_t left = (size_t)n;
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Receives into p; >0 bytes, 0 at EOF, -1 on error (EINTR retried unless
 * the run is stopping). */
ssize_t recv_some(int fd, void *p, size_t n)
{
    for (;;) {
        ssize_t r = recv(fd, p, n, 0);
        if (r >= 0 || errno != EINTR || g_stop)
            return r;
    }
}

/* Reads until buf[off..] holds a whole response head; *head_len is its
 * length including the blank line. IO_STALE when the peer closed before
 * sending a byte (a keep-alive connection it had already dropped). */
int read_head(struct conn *c, size_t *head_len, char *err, size_t errn)
{
    size_t scanned = 0;
    for (;;) {
        size_t avail = c->len - c->off;
        if (avail >= 4) {
            size_t from = scanned > 3 ? scanned - 3 : 0;
            const char *e = memmem(c->buf + c->off + from, avail - from, "\r\n\r\n", 4);
            if (e) {
                *head_len = (size_t)(e - (c->buf + c->off)) + 4;
                return IO_OK;
            }
            scanned = avail;
        }
        if (c->off) {
            memmove(c->buf, c->buf + c->off, avail);
            c->len = avail;
            c->off = 0;
        }
        if (c->len == sizeof(c->buf)) {
            snprintf(err, errn, "response head over %d bytes", CONN_BUF);
            return IO_ERR;
        }
        ssize_t r = recv_some(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (r == 0 && avail == 0)
            return IO_STALE;
        if (r <= 0) {
            snprintf(err, errn, "reading response head: %s",
                     r == 0 ? "connection closed" : strerror(errno));
            return IO_ERR;
        }
        c->len += (size_t)r;
    }
}

int lat_add(struct lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        if (cap > MAX_LAT_SAMPLES)
            return -1;
        uint64_t *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ns;
    return 0;
}

int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
uint64_t percentile(const uint64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t rank = (size_t)(p * (double)n + 0.999999);
    return v[rank ? rank - 1 : 0];
}

const char *fmt_ns(char *b, size_t n, uint64_t ns)
{
    if (!ns)
        snprintf(b, n, "–");
    else if (ns < 10000)
        snprintf(b, n, "%.1f µs", (double)ns / 1e3);
    else if (ns < 10000000)
        snprintf(b, n, "%.0f µs", (double)ns / 1e3);
    else if (ns < 10000000000ull)
        snprintf(b, n, "%.1f ms", (double)ns / 1e6);
    else
        snprintf(b, n, "%.2f s", (double)ns / 1e9);
    return b;
}

/* "12,345" */
const char *fmt_count(char *b, size_t n, double v)
{
    char raw[32];
    snprintf(raw, sizeof(raw), "%.0f", v);
    size_t len = strlen(raw), o = 0;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            b[o++] = ',';
        b[o++] = raw[i];
    }
    b[o] = '\0';
    return b;
}

int free_port(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int rc = fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
             getsockname(fd, (struct sockaddr *)&a, &alen);
    if (fd >= 0)
        close(fd);
    *port = ntohs(a.sin_port);
    return rc ? -1 : 0;
}
