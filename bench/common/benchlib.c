/* The helpers the benchmarks share (benchlib.h). */
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
volatile sig_atomic_t g_server_pid;
const char *g_bench_name = "bench";

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

void lat_sort(struct lat *l)
{
    qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
}

void lat_merged_percentiles(struct lat *const *l, size_t n, uint64_t *p50, uint64_t *p99)
{
    struct lat all = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < l[i]->n; j++)
            if (lat_add(&all, l[i]->v[j]))
                break;
    lat_sort(&all);
    *p50 = percentile(all.v, all.n, 0.50);
    *p99 = percentile(all.v, all.n, 0.99);
    free(all.v);
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

/* ---- growable bytes, function packages, files ------------------------------ */

/* Makes room in b for n more bytes and the NUL. */
static int bytes_reserve(struct bytes *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

int bytes_append(struct bytes *b, const void *p, size_t n)
{
    if (bytes_reserve(b, n))
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int bytes_printf(struct bytes *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || bytes_reserve(b, (size_t)n))
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void put_le(struct bytes *b, uint32_t v, int n, int *failed)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    if (bytes_append(b, x, (size_t)n))
        *failed = 1;
}

uint32_t crc32_of(const void *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (const unsigned char *s = p; n--; s++)
        c = table[(c ^ *s) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

int zip_stored(const struct zip_entry *e, size_t n, struct bytes *out)
{
    int failed = 0;
    uint32_t *offsets = calloc(n, sizeof(*offsets));
    if (!offsets)
        return -1;
    for (size_t i = 0; i < n && !failed; i++) {
        if (e[i].len > UINT32_MAX / 2) {
            free(offsets);
            return -1;
        }
        offsets[i] = (uint32_t)out->len;
        uint32_t crc = crc32_of(e[i].data, e[i].len);
        put_le(out, 0x04034b50, 4, &failed); /* local file header */
        put_le(out, 20, 2, &failed);         /* version needed: 2.0 */
        put_le(out, 0, 2, &failed);          /* flags */
        put_le(out, 0, 2, &failed);          /* stored */
        put_le(out, 0, 2, &failed);          /* time 00:00 */
        put_le(out, 0x21, 2, &failed);       /* date 1980-01-01 */
        put_le(out, crc, 4, &failed);
        put_le(out, (uint32_t)e[i].len, 4, &failed);
        put_le(out, (uint32_t)e[i].len, 4, &failed);
        put_le(out, (uint32_t)strlen(e[i].name), 2, &failed);
        put_le(out, 0, 2, &failed);
        if (bytes_append(out, e[i].name, strlen(e[i].name)) ||
            bytes_append(out, e[i].data, e[i].len))
            failed = 1;
    }
    uint32_t cd = (uint32_t)out->len;
    for (size_t i = 0; i < n && !failed; i++) {
        put_le(out, 0x02014b50, 4, &failed);   /* central directory header */
        put_le(out, 3u << 8 | 20, 2, &failed); /* made by: Unix, 2.0 */
        put_le(out, 20, 2, &failed);
        put_le(out, 0, 2, &failed);
        put_le(out, 0, 2, &failed);
        put_le(out, 0, 2, &failed);
        put_le(out, 0x21, 2, &failed);
        put_le(out, crc32_of(e[i].data, e[i].len), 4, &failed);
        put_le(out, (uint32_t)e[i].len, 4, &failed);
        put_le(out, (uint32_t)e[i].len, 4, &failed);
        put_le(out, (uint32_t)strlen(e[i].name), 2, &failed);
        put_le(out, 0, 2, &failed); /* extra */
        put_le(out, 0, 2, &failed); /* comment */
        put_le(out, 0, 2, &failed); /* disk */
        put_le(out, 0, 2, &failed); /* internal attributes */
        put_le(out, (uint32_t)(0100000 | e[i].mode) << 16, 4, &failed);
        put_le(out, offsets[i], 4, &failed);
        if (bytes_append(out, e[i].name, strlen(e[i].name)))
            failed = 1;
    }
    uint32_t cd_len = (uint32_t)out->len - cd;
    put_le(out, 0x06054b50, 4, &failed); /* end of central directory */
    put_le(out, 0, 2, &failed);
    put_le(out, 0, 2, &failed);
    put_le(out, (uint32_t)n, 2, &failed);
    put_le(out, (uint32_t)n, 2, &failed);
    put_le(out, cd_len, 4, &failed);
    put_le(out, cd, 4, &failed);
    put_le(out, 0, 2, &failed);
    free(offsets);
    return failed ? -1 : 0;
}

int base64_append(struct bytes *out, const unsigned char *p, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {al[v >> 18], al[(v >> 12) & 63], i + 1 < n ? al[(v >> 6) & 63] : '=',
                     i + 2 < n ? al[v & 63] : '='};
        if (bytes_append(out, q, 4))
            return -1;
    }
    return 0;
}

int read_file(const char *path, size_t max, struct bytes *out, char *err, size_t errn)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        snprintf(err, errn, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        snprintf(err, errn, "%s: not a regular file under %zu MiB", path, max >> 20);
        close(fd);
        return -1;
    }
    char chunk[65536];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof(chunk))) > 0)
        if (bytes_append(out, chunk, (size_t)r)) {
            r = -1;
            break;
        }
    close(fd);
    if (r < 0) {
        snprintf(err, errn, "%s: cannot read", path);
        return -1;
    }
    return 0;
}

/* ---- Lambda functions and event source mappings -------------------------- */

#define BOOTSTRAP_MAX (40u << 20)

int function_create(const struct server *s, const struct function_spec *f,
                    const struct zip_entry *e, size_t n, char *err, size_t errn)
{
    struct bytes zip = {0}, body = {0};
    int rc = -1;
    if (zip_stored(e, n, &zip) ||
        bytes_printf(&body,
                     "{\"FunctionName\":\"%s\",\"Runtime\":\"%s\",\"Role\":\"%s\","
                     "\"Handler\":\"%s\",\"MemorySize\":%d,\"Timeout\":%d,"
                     "\"Code\":{\"ZipFile\":\"",
                     f->name, f->runtime, f->role, f->handler, f->memory_mb, f->timeout_s) ||
        base64_append(&body, (const unsigned char *)zip.data, zip.len) ||
        bytes_append(&body, "\"}}", 3)) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    rc = control_request(s, "POST", "/2015-03-31/functions", NULL, &body, 201, NULL, 0, err,
                         errn);
out:
    free(zip.data);
    free(body.data);
    return rc;
}

int echo_function_create(const struct server *s, const char *name, const char *bootstrap,
                         size_t *size, char *err, size_t errn)
{
    struct bytes boot = {0};
    char role[128];
    int rc = -1;
    if (read_file(bootstrap, BOOTSTRAP_MAX, &boot, err, errn))
        goto out;
    *size = boot.len;
    snprintf(role, sizeof(role), "arn:aws:iam::" DEV_ACCOUNT ":role/%s", g_bench_name);
    const struct function_spec f = {.name = name,
                                    .runtime = ECHO_RUNTIME,
                                    .handler = "echo",
                                    .role = role,
                                    .memory_mb = ECHO_MEMORY_MB,
                                    .timeout_s = ECHO_TIMEOUT_S};
    struct zip_entry e = {"bootstrap", boot.data, boot.len, 0755};
    rc = function_create(s, &f, &e, 1, err, errn);
out:
    free(boot.data);
    return rc;
}

int bench_binaries(const char *sluice, const char *given, char *out, size_t outn)
{
    if (given) {
        snprintf(out, outn, "%s", given);
    } else {
        const char *slash = strrchr(sluice, '/');
        int n = slash ? (int)(slash - sluice) : 1;
        snprintf(out, outn, "%.*s/runtimes-c/echo", n, slash ? sluice : ".");
    }
    if (access(sluice, X_OK)) {
        fprintf(stderr, "%s: %s: %s\n", g_bench_name, sluice, strerror(errno));
        return -1;
    }
    if (access(out, R_OK)) {
        fprintf(stderr, "%s: %s: %s%s\n", g_bench_name, out, strerror(errno),
                given ? "" : " (make -C runtimes/c OUT=DIR echo builds it; or give --bootstrap)");
        return -1;
    }
    return 0;
}

int esm_create(const struct server *s, const struct bytes *body, char *uuid, size_t uuidn,
               char *err, size_t errn)
{
    char resp[8192];
    if (control_request(s, "POST", "/2015-03-31/event-source-mappings/", NULL, body, 202, resp,
                        sizeof(resp), err, errn))
        return -1;
    const char *p = resp;
    if (!json_next_str(&p, "UUID", uuid, uuidn)) {
        snprintf(err, errn, "CreateEventSourceMapping: no UUID in %.200s", resp);
        return -1;
    }
    return 0;
}

int esm_delete(const struct server *s, const char *uuid, char *err, size_t errn)
{
    char path[128];
    snprintf(path, sizeof(path), "/2015-03-31/event-source-mappings/%s", uuid);
    return control_request(s, "DELETE", path, NULL, NULL, 202, NULL, 0, err, errn);
}

/* ---- HTTP requests -------------------------------------------------------- */

/* Parses a response head; *cl is UINT64_MAX when the body runs to EOF. */
static int parse_head(const char *h, size_t n, struct http_resp *out, uint64_t *cl, char *err,
                      size_t errn)
{
    if (n < 12 || memcmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ' || h[9] < '1' || h[9] > '5') {
        snprintf(err, errn, "bad status line: %.40s", h);
        return -1;
    }
    bool http10 = h[7] == '0', keep_alive = false, has_cl = false, chunked = false;
    out->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    const char *p = memchr(h, '\n', n);
    const char *end = h + n;
    while (p && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon) {
            size_t nlen = (size_t)(colon - p);
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(eol - v);
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            char val[128];
            snprintf(val, sizeof(val), "%.*s", (int)vlen, v);
            if (nlen == 14 && strncasecmp(p, "Content-Length", nlen) == 0) {
                char *e;
                *cl = strtoull(val, &e, 10);
                if (e == val || *e) {
                    snprintf(err, errn, "bad Content-Length: %s", val);
                    return -1;
                }
                has_cl = true;
            } else if (nlen == 10 && strncasecmp(p, "Connection", nlen) == 0) {
                if (strcasestr(val, "close"))
                    out->close = true;
                if (strcasestr(val, "keep-alive"))
                    keep_alive = true;
            } else if (nlen == 17 && strncasecmp(p, "Transfer-Encoding", nlen) == 0) {
                chunked = strcasestr(val, "chunked") != NULL;
            } else if (nlen == 20 && strncasecmp(p, "X-Amz-Function-Error", nlen) == 0) {
                out->function_error = true;
            } else if (nlen == 16 && strncasecmp(p, "X-Amz-Log-Result", nlen) == 0) {
                snprintf(out->log_result, sizeof(out->log_result), "%.*s", (int)vlen, v);
            }
        }
        p = eol;
    }
    if (chunked) {
        snprintf(err, errn, "chunked responses are not supported");
        return -1;
    }
    if (http10 && !keep_alive)
        out->close = true;
    if (!has_cl) {
        bool bodyless = out->status < 200 || out->status == 204 || out->status == 304;
        *cl = bodyless ? 0 : UINT64_MAX;
        if (!bodyless)
            out->close = true;
    }
    return 0;
}

/* Reads n body bytes (or up to EOF when n is UINT64_MAX) into dest, or
 * drops them when dest is NULL; the first bytes also go to snip. */
static int read_body(struct conn *c, uint64_t n, char *dest, char *snip, size_t snipn,
                     uint64_t *got_out, char *err, size_t errn)
{
    uint64_t got = 0;
    size_t snipped = 0;
    while (got < n) {
        if (c->off < c->len) {
            size_t take = c->len - c->off;
            if (take > n - got)
                take = (size_t)(n - got);
            if (dest)
                memcpy(dest + got, c->buf + c->off, take);
            if (snip && snipped + 1 < snipn) {
                size_t s = take < snipn - 1 - snipped ? take : snipn - 1 - snipped;
                memcpy(snip + snipped, c->buf + c->off, s);
                snipped += s;
                snip[snipped] = '\0';
            }
            c->off += take;
            got += take;
            continue;
        }
        c->off = c->len = 0;
        ssize_t r;
        if (dest) {
            size_t want = n - got > (1u << 30) ? (1u << 30) : (size_t)(n - got);
            r = recv_some(c->fd, dest + got, want);
            if (r > 0)
                got += (uint64_t)r;
        } else {
            size_t want = n - got > sizeof(c->buf) ? sizeof(c->buf) : (size_t)(n - got);
            r = recv_some(c->fd, c->buf, want);
            if (r > 0)
                c->len = (size_t)r;
        }
        if (r == 0 && n == UINT64_MAX)
            break;
        if (r <= 0) {
            snprintf(err, errn, "reading body (%" PRIu64 " of %" PRIu64 " bytes): %s", got, n,
                     r == 0 ? "connection closed" : strerror(errno));
            return -1;
        }
    }
    if (c->off == c->len)
        c->off = c->len = 0;
    *got_out = got;
    return 0;
}

/*
 * Sends rq on c (connecting first when c has no connection) and reads the
 * whole response. A 2xx body that fits in dest_cap goes to dest; any other
 * body is read and dropped (its start kept in out->snippet). A request on
 * a reused connection that the server had closed is retried once on a new
 * one. The connection is closed after a response that says so. Returns 0,
 * or -1 with the reason in err (the connection is then closed).
 */
int http_roundtrip(struct conn *c, const struct http_req *rq, char *dest, size_t dest_cap,
                          struct http_resp *out, char *err, size_t errn)
{
    char head[2048];
    const char *more = rq->headers ? rq->headers : "";
    int hn;
    if (rq->body)
        hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n%s"
                      "Content-Length: %zu\r\n\r\n",
                      rq->method, rq->path, rq->host, g_bench_name, more, rq->body_len);
    else
        hn = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n%s\r\n",
                      rq->method, rq->path, rq->host, g_bench_name, more);
    if (hn < 0 || (size_t)hn >= sizeof(head)) {
        snprintf(err, errn, "request head too long");
        return -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = c->fd < 0;
        if (fresh && conn_open(c, err, errn))
            return -1;
        /* Field by field: log_result is large and this is the hot loop. */
        out->status = 0;
        out->body_len = 0;
        out->into_dest = out->close = out->function_error = false;
        out->log_result[0] = out->snippet[0] = '\0';
        struct iovec iov[2] = {{head, (size_t)hn}, {(void *)rq->body, rq->body ? rq->body_len : 0}};
        if (send_all(c->fd, iov, 2)) {
            int e = errno;
            conn_close(c);
            if (!fresh && (e == EPIPE || e == ECONNRESET))
                continue;
            snprintf(err, errn, "sending request: %s", strerror(e));
            return -1;
        }
        size_t head_len;
        uint64_t cl = 0;
        int rc;
        do { /* skip interim 1xx responses */
            rc = read_head(c, &head_len, err, errn);
            if (rc == IO_STALE && fresh) {
                snprintf(err, errn, "connection closed before any response");
                rc = IO_ERR;
            }
            if (rc)
                break;
            rc = parse_head(c->buf + c->off, head_len, out, &cl, err, errn) ? IO_ERR : IO_OK;
            c->off += head_len;
        } while (rc == IO_OK && out->status < 200);
        if (rc == IO_STALE) {
            conn_close(c);
            continue;
        }
        if (rc)
            goto fail;
        bool head_only = strcmp(rq->method, "HEAD") == 0;
        out->into_dest = !head_only && out->status / 100 == 2 && dest && cl <= dest_cap;
        bool snip = out->status / 100 != 2;
        if (!head_only && read_body(c, cl, out->into_dest ? dest : NULL, snip ? out->snippet : NULL,
                                    sizeof(out->snippet), &out->body_len, err, errn))
            goto fail;
        if (out->close)
            conn_close(c);
        return 0;
    }
    snprintf(err, errn, "connection closed twice before any response");
    return -1;
fail:
    conn_close(c);
    return -1;
}

void print_log_tail(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[1024];
    char ring[10][1024];
    size_t n = 0;
    while (fgets(line, sizeof(line), f))
        snprintf(ring[n++ % 10], sizeof(ring[0]), "%s", line);
    fclose(f);
    fprintf(stderr, "%s: last lines of the server log:\n", g_bench_name);
    for (size_t i = n > 10 ? n - 10 : 0; i < n; i++)
        fprintf(stderr, "  %s", ring[i % 10]);
}

/* Starts `sluice serve` on a free loopback port with its data in b->data
 * and waits (with a deadline) until it answers /_sluice/health. */
int server_start(struct server *b)
{
    uint16_t port;
    if (free_port(&port)) {
        fprintf(stderr, "%s: no free loopback port: %s\n", g_bench_name, strerror(errno));
        return -1;
    }
    b->addr = (struct sockaddr_in){
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    snprintf(b->host, sizeof(b->host), "127.0.0.1:%u", port);
    int logfd = open(b->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0) {
        fprintf(stderr, "%s: %s: %s\n", g_bench_name, b->log, strerror(errno));
        return -1;
    }
    const char *argv[8 + SERVER_EXTRA_ARGS_MAX + 1] = {
        b->sluice, "serve", "--listen", b->host, "--data-dir", b->data, "--auth", "dev"};
    size_t argc = 8;
    for (const char *const *a = b->extra_args; a && *a; a++) {
        if (argc == 8 + SERVER_EXTRA_ARGS_MAX) {
            fprintf(stderr, "%s: over %d extra arguments for the server\n", g_bench_name,
                    SERVER_EXTRA_ARGS_MAX);
            close(logfd);
            return -1;
        }
        argv[argc++] = *a;
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
        signal(SIGPIPE, SIG_DFL);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "%s: exec %s: %s\n", g_bench_name, argv[0], strerror(errno));
        _exit(127);
    }
    close(logfd);
    b->pid = pid;
    g_server_pid = pid;
    struct conn *c = malloc(sizeof(*c));
    if (!c)
        return -1;
    conn_init(c, &b->addr);
    uint64_t until = now_ns() + (uint64_t)READY_TIMEOUT_MS * 1000000u;
    struct http_req rq = {.method = "GET", .path = "/_sluice/health", .host = b->host};
    int rc = -1;
    while (!g_stop && now_ns() < until) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            b->pid = 0;
            g_server_pid = 0;
            fprintf(stderr, "%s: the server exited during start-up (%s %d)\n", g_bench_name,
                    WIFSIGNALED(status) ? "signal" : "exit status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            break;
        }
        char err[256], body[512];
        struct http_resp resp;
        if (http_roundtrip(c, &rq, body, sizeof(body), &resp, err, sizeof(err)) == 0 &&
            resp.status == 200) {
            rc = 0;
            break;
        }
        conn_close(c);
        sleep_ms(10);
    }
    conn_close(c);
    free(c);
    if (rc) {
        fprintf(stderr, "%s: the server did not become ready\n", g_bench_name);
        print_log_tail(b->log);
    }
    return rc;
}

/* Whether the server has exited on its own (reaping it if so). */
bool server_died(struct server *b)
{
    if (b->pid <= 0 || waitpid(b->pid, &b->died_status, WNOHANG) != b->pid)
        return false;
    b->pid = 0;
    g_server_pid = 0;
    return true;
}

/* SIGTERM, then wait; SIGKILL after STOP_TIMEOUT_MS. *ms is how long it
 * took, *status the wait status. */
void server_stop(struct server *b, double *ms, int *status, bool *killed)
{
    *killed = false;
    *status = 0;
    *ms = 0;
    if (b->pid <= 0)
        return;
    uint64_t t0 = now_ns();
    kill(b->pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(b->pid, status, WNOHANG);
        if (r == b->pid || (r < 0 && errno != EINTR))
            break;
        if (now_ns() - t0 > (uint64_t)STOP_TIMEOUT_MS * 1000000u && !*killed) {
            kill(b->pid, SIGKILL);
            *killed = true;
        }
        sleep_ms(5);
    }
    *ms = (double)(now_ns() - t0) / 1e6;
    b->pid = 0;
    g_server_pid = 0;
}

int control_request(const struct server *s, const char *method, const char *path,
                    const char *headers, const struct bytes *body, int want, char *resp,
                    size_t resp_cap, char *err, size_t errn)
{
    struct conn *c = malloc(sizeof(*c));
    struct http_resp *out = malloc(sizeof(*out));
    int rc = -1;
    if (!c || !out || (resp && !resp_cap)) {
        snprintf(err, errn, "out of memory");
        goto done;
    }
    conn_init(c, &s->addr);
    struct http_req rq = {.method = method,
                          .path = path,
                          .host = s->host,
                          .headers = headers ? headers : "Content-Type: application/json\r\n",
                          .body = body ? body->data : NULL,
                          .body_len = body ? body->len : 0};
    rc = http_roundtrip(c, &rq, resp, resp ? resp_cap - 1 : 0, out, err, errn);
    conn_close(c);
    if (!rc && out->status != want) {
        snprintf(err, errn, "%s %s: HTTP %d %s", method, path, out->status, out->snippet);
        rc = -1;
    } else if (!rc && resp && out->status / 100 == 2 && !out->into_dest) {
        snprintf(err, errn, "%s %s: a response body over %zu bytes", method, path, resp_cap - 1);
        rc = -1;
    }
    if (resp)
        resp[!rc && out->into_dest ? out->body_len : 0] = '\0';
done:
    free(c);
    free(out);
    return rc;
}

int floor_http(const struct sockaddr_in *addr, const char *host, const char *path,
               double seconds, struct floor *out)
{
    struct conn *c = malloc(sizeof(*c));
    struct lat l = {0};
    char err[256], body[4096];
    struct http_resp resp;
    int rc = -1;
    if (!c)
        return -1;
    conn_init(c, addr);
    if (conn_open(c, err, sizeof(err)))
        goto done;
    struct http_req rq = {.method = "GET", .path = path, .host = host};
    uint64_t until = now_ns() + (uint64_t)(seconds * 1e9);
    while (now_ns() < until && l.n < 200000 && !g_stop) {
        uint64_t t0 = now_ns();
        if (http_roundtrip(c, &rq, body, sizeof(body), &resp, err, sizeof(err)))
            goto done;
        if (resp.status != 200) {
            snprintf(err, sizeof(err), "HTTP %d", resp.status);
            goto done;
        }
        if (lat_add(&l, now_ns() - t0))
            goto done;
    }
    qsort(l.v, l.n, sizeof(*l.v), cmp_u64);
    out->p50 = percentile(l.v, l.n, 0.5);
    out->p99 = percentile(l.v, l.n, 0.99);
    out->n = l.n;
    out->conns = c->connects;
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "%s: floor GET %s: %s\n", g_bench_name, path, err);
    conn_close(c);
    free(c);
    free(l.v);
    return rc;
}

/* The responder of the bare loopback HTTP floor: answers every request
 * head on one accepted connection with a fixed response, until EOF. */
static void *echo_main(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    char buf[4096];
    size_t len = 0;
    for (;;) {
        char *e = len >= 4 ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
        if (e) {
            size_t used = (size_t)(e - buf) + 4;
            memmove(buf, buf + used, len - used);
            len -= used;
            if (send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(reply) - 1)
                break;
            continue;
        }
        if (len == sizeof(buf))
            break;
        ssize_t r = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    return NULL;
}

int floor_echo(const char *host, double seconds, struct floor *out)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    pthread_t th;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1) ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) ||
        pthread_create(&th, NULL, echo_main, &lfd)) {
        if (lfd >= 0)
            close(lfd);
        return -1;
    }
    int rc = floor_http(&a, host, "/", seconds, out);
    if (rc) {
        /* Unblock accept() if the client never connected. */
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            close(fd);
        else if (fd >= 0)
            close(fd);
    }
    pthread_join(th, NULL);
    close(lfd);
    return rc;
}

int floor_fdatasync(const char *dir, bool append, double seconds, struct floor *out)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/fdatasync.probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    char blk[1024];
    uint64_t x = now_ns() | 1;
    for (size_t i = 0; i < sizeof(blk); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        blk[i] = (char)x;
    }
    struct lat l = {0};
    int rc = -1;
    if (pwrite(fd, blk, sizeof(blk), 0) != (ssize_t)sizeof(blk) || fsync(fd))
        goto done;
    uint64_t until = now_ns() + (uint64_t)(seconds * 1e9);
    for (off_t off = 0; now_ns() < until && l.n < 100000 && !g_stop; off += (off_t)sizeof(blk)) {
        uint64_t t0 = now_ns();
        if (pwrite(fd, blk, sizeof(blk), append ? off + (off_t)sizeof(blk) : 0) !=
                (ssize_t)sizeof(blk) ||
            fdatasync(fd))
            goto done;
        if (lat_add(&l, now_ns() - t0))
            goto done;
    }
    qsort(l.v, l.n, sizeof(*l.v), cmp_u64);
    out->p50 = percentile(l.v, l.n, 0.5);
    out->p99 = percentile(l.v, l.n, 0.99);
    out->n = l.n;
    out->conns = 0;
    rc = 0;
done:
    free(l.v);
    close(fd);
    unlink(path);
    return rc;
}

/* ---- options -------------------------------------------------------------- */

void print_usage(FILE *f, const struct option_spec *t, size_t n, const char *args)
{
    fprintf(f, "usage: %s %s [options]\n\noptions:\n", g_bench_name, args);
    for (size_t i = 0; i < n; i++) {
        const struct option_spec *s = &t[i];
        fprintf(f, "  %-14s %s%s%s%s\n", s->flag, s->help, s->def ? " (default " : "",
                s->def ? s->def : "", s->def ? ")" : "");
    }
}

static int option_set(void *opts, const struct option_spec *s, const char *val, long count_max)
{
    void *slot = (char *)opts + s->offset;
    char *end;
    switch (s->kind) {
    case OPT_STR:
        *(const char **)slot = val;
        return 0;
    case OPT_SECONDS: {
        double v = strtod(val, &end);
        if (*end || !(v > 0 && v <= 3600))
            return -1;
        *(double *)slot = v;
        return 0;
    }
    case OPT_COUNT: {
        long v = strtol(val, &end, 10);
        if (*end || v < 0 || v > count_max)
            return -1;
        *(long *)slot = v;
        return 0;
    }
    case OPT_FLAG:
        *(bool *)slot = true;
        return 0;
    }
    return -1;
}

int parse_options(const struct option_spec *t, size_t n, void *opts, size_t size,
                  long count_max, const char *args, int argc, char **argv)
{
    memset(opts, 0, size);
    for (size_t i = 0; i < n; i++)
        if (t[i].def && option_set(opts, &t[i], t[i].def, count_max))
            return -1;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a], *val = NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_usage(stdout, t, n, args);
            exit(0);
        }
        const struct option_spec *spec = NULL;
        for (size_t i = 0; i < n && !spec; i++) {
            size_t len = strlen(t[i].flag);
            if (strncmp(arg, t[i].flag, len) == 0 && (arg[len] == '=' || !arg[len])) {
                spec = &t[i];
                val = arg[len] == '=' ? arg + len + 1 : NULL;
            }
        }
        if (!spec) {
            fprintf(stderr, "%s: unknown option %s\n", g_bench_name, arg);
            return -1;
        }
        if (!val && spec->kind != OPT_FLAG) {
            if (a + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", g_bench_name, arg);
                return -1;
            }
            val = argv[++a];
        }
        if (option_set(opts, spec, val ? val : "", count_max)) {
            fprintf(stderr, "%s: bad value for %s: %s\n", g_bench_name, spec->flag, val);
            return -1;
        }
    }
    return 0;
}

int parse_options_requiring(const struct option_spec *t, size_t n, void *opts, size_t size,
                            long count_max, const char *args, int argc, char **argv,
                            const char *required)
{
    int rc = parse_options(t, n, opts, size, count_max, args, argc, argv);
    const char *value = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].flag, required) == 0)
            memcpy(&value, (const char *)opts + t[i].offset, sizeof(value));
    if (!rc && value)
        return 0;
    if (!value)
        fprintf(stderr, "%s: %s PATH is required\n", g_bench_name, required);
    print_usage(stderr, t, n, args);
    return -1;
}

/* ---- CPU, memory and the filesystem, from /proc --------------------------- */

int proc_status(pid_t pid, double *rss_mb, double *hwm_mb, long *threads)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int found = 0, want = hwm_mb ? 3 : 2;
    while (fgets(line, sizeof(line), f)) {
        long v;
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            *rss_mb = (double)v * 1024 / 1e6, found++;
        else if (hwm_mb && sscanf(line, "VmHWM: %ld kB", &v) == 1)
            *hwm_mb = (double)v * 1024 / 1e6, found++;
        else if (sscanf(line, "Threads: %ld", &v) == 1)
            *threads = v, found++;
    }
    fclose(f);
    return found == want ? 0 : -1;
}

int proc_cpu(pid_t pid, unsigned long long *ticks, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    int pp;
    /* After the command: state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime. */
    if (!p ||
        sscanf(p + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &pp, &ut, &st) != 3)
        return -1;
    *ticks = ut + st;
    if (ppid)
        *ppid = pp;
    return 0;
}

/* CPU ticks of the server's child processes (the functions' sandboxes). */
/* The CPU time of every process below server (its environments: each one's
 * sluice-init, the runtime under it and what that started). */
static unsigned long long children_ticks(pid_t server)
{
    enum { MAX_PROCS = 65536 };
    struct proc {
        pid_t pid, ppid;
        unsigned long long ticks;
    } *procs = malloc(MAX_PROCS * sizeof(*procs));
    size_t n = 0;
    DIR *d = procs ? opendir("/proc") : NULL;
    if (!d) {
        free(procs);
        return 0;
    }
    for (struct dirent *e; (e = readdir(d)) && n < MAX_PROCS;) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (proc_cpu((pid_t)pid, &procs[n].ticks, &procs[n].ppid) == 0)
            procs[n++].pid = (pid_t)pid;
    }
    closedir(d);
    unsigned long long sum = 0;
    for (size_t i = 0; i < n; i++) {
        /* Up its ancestors (a few steps: environments are shallow). */
        pid_t up = procs[i].ppid;
        for (int depth = 0; up > 1 && up != server && depth < 16; depth++) {
            pid_t next = 0;
            for (size_t k = 0; k < n && !next; k++)
                if (procs[k].pid == up)
                    next = procs[k].ppid;
            up = next;
        }
        if (up == server)
            sum += procs[i].ticks;
    }
    free(procs);
    return sum;
}

void cpu_snap(pid_t server, struct cpu_snap *s)
{
    double hz = (double)sysconf(_SC_CLK_TCK);
    unsigned long long v[8] = {0}, srv = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        /* user nice system idle iowait irq softirq steal */
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) != 8)
            memset(v, 0, sizeof(v));
        fclose(f);
    }
    s->busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
    s->steal_s = (double)v[7] / hz;
    s->server_s = server > 0 && proc_cpu(server, &srv, NULL) == 0 ? (double)srv / hz : 0;
    s->fn_s = server > 0 ? (double)children_ticks(server) / hz : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s->self_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    s->t = now_ns();
}

struct cpu_use cpu_between(const struct cpu_snap *a, const struct cpu_snap *b)
{
    double secs = (double)(b->t - a->t) / 1e9;
    struct cpu_use u = {0};
    if (secs <= 0)
        return u;
    double fn = b->fn_s - a->fn_s > 0 ? b->fn_s - a->fn_s : 0;
    u.server = (b->server_s - a->server_s) / secs * 100;
    u.functions = fn / secs * 100;
    u.bench = (b->self_s - a->self_s) / secs * 100;
    u.others =
        ((b->busy_s - a->busy_s) - (b->server_s - a->server_s) - fn - (b->self_s - a->self_s)) /
        secs * 100;
    if (u.others < 0)
        u.others = 0;
    u.steal = (b->steal_s - a->steal_s) / secs * 100;
    return u;
}

static void unescape_mount(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* " without a journal" for an ext3/4 filesystem on /dev/NAME that has no
 * jbd2 journal (its fsync is cheaper than a journaled one), else "". */
static const char *ext_journal(const char *type, const char *src)
{
    if (strcmp(type, "ext4") != 0 && strcmp(type, "ext3") != 0)
        return "";
    const char *name = strrchr(src, '/');
    name = name ? name + 1 : src;
    DIR *d = opendir("/proc/fs/jbd2");
    if (!d)
        return "";
    bool found = false;
    size_t n = strlen(name);
    for (struct dirent *e; !found && (e = readdir(d));)
        found = strncmp(e->d_name, name, n) == 0 && e->d_name[n] == '-';
    closedir(d);
    return found ? "" : " without a journal";
}

/* Describes the filesystem dir is on ("ext4 on /dev/vda, mounted at /, 83
 * GB free") and refuses memory-backed ones, where fsync costs nothing. */
int describe_fs(const char *dir, char *out, size_t outn)
{
    struct statfs sf;
    struct statvfs sv;
    char real[PATH_MAX];
    if (statfs(dir, &sf) || statvfs(dir, &sv) || !realpath(dir, real)) {
        fprintf(stderr, "%s: %s: %s\n", g_bench_name, dir, strerror(errno));
        return -1;
    }
    if (sf.f_type == 0x01021994 /* tmpfs */ || sf.f_type == 0x858458f6 /* ramfs */) {
        fprintf(stderr,
                "%s: %s is on a memory filesystem; durable writes need a disk "
                "(pick another --dir)\n",
                g_bench_name, dir);
        return -1;
    }
    char best_mnt[PATH_MAX] = "?", best_type[64] = "?", best_src[PATH_MAX] = "?";
    size_t best_len = 0;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    while (f && fgets(line, sizeof(line), f)) {
        char mnt[PATH_MAX], type[64], src[PATH_MAX];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(dash + 3, "%63s %4095s", type, src) != 2)
            continue;
        unescape_mount(mnt);
        size_t n = strlen(mnt);
        bool under = strcmp(mnt, "/") == 0 ||
                     (strncmp(real, mnt, n) == 0 && (real[n] == '/' || real[n] == '\0'));
        if (under && n >= best_len) {
            best_len = n;
            snprintf(best_mnt, sizeof(best_mnt), "%s", mnt);
            snprintf(best_type, sizeof(best_type), "%s", type);
            snprintf(best_src, sizeof(best_src), "%s", src);
        }
    }
    if (f)
        fclose(f);
    snprintf(out, outn, "%.63s%s on %.1000s, mounted at %.1000s, %.0f GB free",
             best_type, ext_journal(best_type, best_src), best_src, best_mnt,
             (double)sv.f_bavail * (double)sv.f_frsize / 1e9);
    return 0;
}

/* Lines of the server log at level warn or error. */
void print_log_findings(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[1024];
    size_t warn = 0, error = 0, shown = 0;
    while (fgets(line, sizeof(line), f)) {
        bool w = strstr(line, "level=warn") != NULL, e = strstr(line, "level=error") != NULL;
        warn += w;
        error += e;
        if ((w || e) && shown < 10) {
            if (!shown++)
                printf("\nServer log warnings and errors (first 10):\n\n```\n");
            fputs(line, stdout);
        }
    }
    fclose(f);
    if (shown)
        printf("```\n");
    printf("\nServer log: %zu warning(s), %zu error(s).\n", warn, error);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void remove_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- signals ---------------------------------------------------------------- */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Past the run's time limit the server is killed and the benchmark exits
 * (its temporary directory stays behind). */
static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = ": over its time limit; killing the server\n";
    if (g_server_pid > 0)
        kill((pid_t)g_server_pid, SIGKILL);
    ssize_t r = write(STDERR_FILENO, g_bench_name, strlen(g_bench_name));
    r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)r;
    _exit(124);
}

void install_signals(unsigned limit_s)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction al = {.sa_handler = on_alarm};
    sigemptyset(&al.sa_mask);
    sigaction(SIGALRM, &al, NULL);
    alarm(limit_s);
}

void server_stop_report(struct server *s)
{
    double stop_ms;
    int wstatus;
    bool killed;
    bool had_server = s->pid > 0;
    server_stop(s, &stop_ms, &wstatus, &killed);
    if (had_server) {
        printf("\nServer stopped by SIGTERM in %.0f ms: %s", stop_ms,
               killed               ? "**did not exit; killed with SIGKILL**"
               : WIFEXITED(wstatus) ? (WEXITSTATUS(wstatus) ? "exited with an error" : "exit 0")
                                    : "**killed by a signal**");
        if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus))
            printf(" (status %d)", WEXITSTATUS(wstatus));
        else if (WIFSIGNALED(wstatus))
            printf(" (signal %d)", WTERMSIG(wstatus));
        printf(".\n");
        print_log_findings(s->log);
    }
}

/* ---- answers: JSON members, metrics, the idle server ----------------------- */

int parse_counts(const char *s, unsigned max, unsigned *out, size_t cap, size_t *n)
{
    *n = 0;
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || (*end && *end != ',') || v == 0 || v > max || *n == cap)
            return -1;
        out[(*n)++] = (unsigned)v;
        s = *end ? end + 1 : end;
    }
    return *n ? 0 : -1;
}

/* Where the value of the member "name" starts in json from *from (after the
 * colon and blanks), or NULL; *from is moved to the value. */
static const char *json_member(const char **from, const char *name)
{
    char key[128];
    int kn = snprintf(key, sizeof(key), "\"%s\"", name);
    if (kn < 0 || (size_t)kn >= sizeof(key))
        return NULL;
    for (const char *p = *from; (p = strstr(p, key)); p++) {
        const char *v = p + kn;
        v += strspn(v, " \t\r\n");
        if (*v != ':')
            continue;
        v++;
        v += strspn(v, " \t\r\n");
        *from = v;
        return v;
    }
    return NULL;
}

bool json_next_str(const char **from, const char *name, char *out, size_t outn)
{
    const char *p = *from, *v;
    while ((v = json_member(&p, name))) {
        if (*v != '"')
            continue;
        const char *s = ++v;
        while (*v && *v != '"')
            v += *v == '\\' && v[1] ? 2 : 1;
        if (!*v || (size_t)(v - s) >= outn)
            return false;
        memcpy(out, s, (size_t)(v - s));
        out[v - s] = '\0';
        *from = v + 1;
        return true;
    }
    return false;
}

bool json_number(const char *json, const char *name, double *out)
{
    const char *p = json, *v = json_member(&p, name);
    char *end;
    if (!v)
        return false;
    *out = strtod(v, &end);
    return end != v;
}

/* The next series from the line at *from whose name, labels included up
 * to where they go on, starts with name: its value into *v, and *from
 * moved to the line after it. false when there is none more. */
static bool metrics_next(const char **from, const char *name, double *v)
{
    size_t n = strlen(name);
    for (const char *p = *from; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) != 0 || !strchr(" {,", p[n]))
            continue;
        const char *eol = strchr(p, '\n');
        const char *sp = eol ? eol : p + strlen(p);
        while (sp > p && sp[-1] != ' ')
            sp--;
        *v = strtod(sp, NULL);
        *from = eol ? eol + 1 : sp + strlen(sp);
        return true;
    }
    return false;
}

double metrics_value(const char *text, const char *name)
{
    double v;
    return metrics_next(&text, name, &v) ? v : -1;
}

size_t metrics_fold(const char *text, const char *name, double *sum, double *max)
{
    double v, s = 0, m = 0;
    size_t n = 0;
    while (text && metrics_next(&text, name, &v)) {
        s += v;
        m = n++ == 0 || v > m ? v : m;
    }
    if (sum)
        *sum = s;
    if (max)
        *max = m;
    return n;
}

int metrics_get(const struct server *s, struct conn *c, char *text, size_t cap, char *err,
                size_t errn)
{
    struct http_req rq = {.method = "GET", .path = "/_sluice/metrics", .host = s->host};
    struct http_resp resp;
    text[0] = '\0';
    if (http_roundtrip(c, &rq, text, cap - 1, &resp, err, errn))
        return -1;
    if (resp.status != 200 || !resp.into_dest) {
        snprintf(err, errn, "GET /_sluice/metrics: HTTP %d%s %s", resp.status,
                 resp.status == 200 ? ", over the buffer" : "", resp.snippet);
        return -1;
    }
    text[resp.body_len] = '\0';
    return 0;
}

#define METRICS_CAP (1u << 20)

char *metrics_text(const struct server *s)
{
    char err[300];
    char *text = malloc(METRICS_CAP);
    if (text && control_request(s, "GET", "/_sluice/metrics", "", NULL, 200, text, METRICS_CAP,
                                err, sizeof(err))) {
        free(text);
        return NULL;
    }
    return text;
}

int store_stats_of(const char *text, struct store_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!text)
        return -1;
    out->batches = metrics_value(text, "sluice_store_batches_total");
    out->transactions = metrics_value(text, "sluice_store_transactions_total");
    return out->batches < 0 || out->transactions < 0 ? -1 : 0;
}

int store_stats_read(const struct server *s, struct store_stats *out)
{
    char *text = metrics_text(s);
    int rc = store_stats_of(text, out);
    free(text);
    return rc;
}

struct store_stats store_stats_delta(const struct store_stats *a, const struct store_stats *b)
{
    struct store_stats d = {b->batches - a->batches, b->transactions - a->transactions};
    return d;
}

void idle_measure(pid_t pid, double settle_s, double window_s, struct idle_sample *out)
{
    unsigned long long t0, t1, t2;
    struct cpu_snap s0, s1;
    memset(out, 0, sizeof(*out));
    out->settle_s = settle_s;
    out->window_s = window_s;
    if (proc_cpu(pid, &t0, NULL))
        return;
    sleep_ms((unsigned)(settle_s * 1000));
    cpu_snap(pid, &s0);
    if (proc_cpu(pid, &t1, NULL))
        return;
    sleep_ms((unsigned)(window_s * 1000));
    if (g_stop || proc_cpu(pid, &t2, NULL))
        return;
    cpu_snap(pid, &s1);
    out->settle_ticks = t1 - t0;
    out->ticks = t2 - t1;
    out->fn_s = s1.fn_s - s0.fn_s > 0 ? s1.fn_s - s0.fn_s : 0;
    out->ok = proc_status(pid, &out->rss_mb, NULL, &out->threads) == 0;
}

const char *fmt_ratio(char *out, size_t n, uint64_t v, uint64_t floor, const char *what)
{
    if (!v || !floor)
        snprintf(out, n, "–");
    else
        snprintf(out, n, "%.1f×%s%s", (double)v / (double)floor, *what ? " " : "", what);
    return out;
}

/* ---- the parts of a run ----------------------------------------------------- */

void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ')
            *s = ' ';
}

void keep_first_error(char *slot, size_t n, const char *fmt, ...)
{
    if (slot[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(slot, n, fmt, ap);
    va_end(ap);
    one_line(slot);
}

int bench_workdir(const char *dir, char *tmp, size_t tmpn, char *fs_desc, size_t fs_descn,
                  struct server *srv, const char *sluice)
{
    if (describe_fs(dir, fs_desc, fs_descn))
        return -1;
    snprintf(tmp, tmpn, "%s/%s.XXXXXX", dir, g_bench_name);
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "%s: mkdtemp in %s: %s\n", g_bench_name, dir, strerror(errno));
        return -1;
    }
    srv->sluice = sluice;
    snprintf(srv->data, sizeof(srv->data), "%.*s/data", (int)tmpn, tmp);
    snprintf(srv->log, sizeof(srv->log), "%.*s/server.log", (int)tmpn, tmp);
    return 0;
}

int run_status(void)
{
    if (g_stop)
        printf("\n**Interrupted: the results above are partial.**\n");
    return g_stop ? 130 : 0;
}

int bench_cleanup(struct server *srv, const char *tmp, bool keep, int status, int failed,
                  bool strict)
{
    server_stop_report(srv);
    if (keep)
        printf("\nKept %s (data and server.log).\n", tmp);
    else
        remove_tree(tmp);
    return status == 0 && failed && strict ? 3 : status;
}

bool server_gone(struct server *s, const char *what)
{
    if (!server_died(s))
        return false;
    printf("\n**The server died during %s (%s %d); the run stops here.**\n", what,
           WIFSIGNALED(s->died_status) ? "signal" : "exit status",
           WIFSIGNALED(s->died_status) ? WTERMSIG(s->died_status) : WEXITSTATUS(s->died_status));
    return true;
}

int floor_set_measure(const struct server *s, const char *dir, double seconds,
                      struct floor_set *out)
{
    fprintf(stderr, "%s: floors...\n", g_bench_name);
    if (floor_fdatasync(dir, false, seconds, &out->fsync) ||
        floor_fdatasync(dir, true, seconds, &out->append)) {
        fprintf(stderr, "%s: fdatasync floor: %s\n", g_bench_name, strerror(errno));
        return -1;
    }
    if (floor_http(&s->addr, s->host, "/_sluice/health", seconds, &out->health) ||
        floor_echo(s->host, seconds, &out->echo))
        return -1;
    return 0;
}

void floor_set_print(const struct floor_set *f)
{
    char p50[32], p99[32];
    printf("## Floors (same run)\n\n| floor | p50 | p99 | n | note |\n|---|---|---|---|---|\n");
    printf("| fdatasync of a 1 KiB write in place | %s | %s | %" PRIu64
           " | pwrite at offset 0 + fdatasync: one durable commit at best |\n",
           fmt_ns(p50, sizeof(p50), f->fsync.p50), fmt_ns(p99, sizeof(p99), f->fsync.p99),
           f->fsync.n);
    printf("| fdatasync of a 1 KiB append | %s | %s | %" PRIu64
           " | the file grows: the journal commits too |\n",
           fmt_ns(p50, sizeof(p50), f->append.p50), fmt_ns(p99, sizeof(p99), f->append.p99),
           f->append.n);
    printf("| GET /_sluice/health, one client | %s | %s | %" PRIu64 " | %s |\n",
           fmt_ns(p50, sizeof(p50), f->health.p50), fmt_ns(p99, sizeof(p99), f->health.p99),
           f->health.n,
           f->health.conns <= 1 ? "one keep-alive connection, one trip through the front door"
                                : "**the server closed the connection after every response**");
    printf("| bare loopback HTTP round trip | %s | %s | %" PRIu64
           " | keep-alive, to a responder thread in %s |\n\n",
           fmt_ns(p50, sizeof(p50), f->echo.p50), fmt_ns(p99, sizeof(p99), f->echo.p99), f->echo.n,
           g_bench_name);
    fflush(stdout);
}

void gang_start(struct gang *g, const struct server *s, unsigned n, void *(*fn)(void *),
                void *const *objs)
{
    g->srv = s;
    g->n = n;
    if (!(g->th = calloc(n ? n : 1, sizeof(*g->th))) ||
        pthread_barrier_init(&g->ready, NULL, n + 1) || pthread_barrier_init(&g->go, NULL, n + 1)) {
        fprintf(stderr, "%s: cannot make barriers\n", g_bench_name);
        exit(1);
    }
    for (unsigned i = 0; i < n; i++)
        if (pthread_create(&g->th[i], NULL, fn, objs[i])) {
            /* The barriers can never open: nothing to do but give up loudly. */
            fprintf(stderr, "%s: cannot start %u threads\n", g_bench_name, n);
            exit(1);
        }
    pthread_barrier_wait(&g->ready);
    store_stats_read(s, &g->store);
    cpu_snap(s->pid, &g->cpu);
    g->start = g->end = now_ns();
}

void gang_go(struct gang *g)
{
    pthread_barrier_wait(&g->go);
}

void gang_ready(struct gang *g)
{
    pthread_barrier_wait(&g->ready);
    pthread_barrier_wait(&g->go);
}

void gang_done(struct gang *g)
{
    uint64_t t = now_ns(), e = __atomic_load_n(&g->end, __ATOMIC_RELAXED);
    while (t > e && !__atomic_compare_exchange_n(&g->end, &e, t, true, __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED)) {
    }
}

void gang_join(struct gang *g, struct cpu_use *cpu, struct store_stats *store, double *secs)
{
    struct cpu_snap c1;
    struct store_stats s1;
    for (unsigned i = 0; i < g->n; i++)
        pthread_join(g->th[i], NULL);
    cpu_snap(g->srv->pid, &c1);
    store_stats_read(g->srv, &s1);
    pthread_barrier_destroy(&g->ready);
    pthread_barrier_destroy(&g->go);
    free(g->th);
    g->th = NULL;
    *cpu = cpu_between(&g->cpu, &c1);
    *store = store_stats_delta(&g->store, &s1);
    *secs = (double)(g->end - g->start) / 1e9;
}

void print_when_host(const char *shared_by)
{
    struct utsname u;
    uname(&u);
    time_t t = time(NULL);
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
    printf("- when: %s; host %s (%s %s), %ld CPUs shared by %s\n", when, u.nodename, u.sysname,
           u.release, sysconf(_SC_NPROCESSORS_ONLN), shared_by);
}

void print_busy_note(double worst, const char *during)
{
    if (worst > 20)
        printf("\nOther processes took up to %.0f%% of one CPU during %s: the machine was not "
               "quiet, so the absolute figures understate Sluice.\n",
               worst, during);
}
