/*
 * sluice_lambda — the Lambda Runtime API client loop (see sluice_lambda.h).
 *
 * One blocking HTTP/1.1 keep-alive connection to $AWS_LAMBDA_RUNTIME_API:
 * a runtime has at most one request outstanding, and /next must block for
 * as long as the environment sits idle, so there is nothing for an event
 * loop to do. Requests go out in one sendmsg (head and body) with
 * TCP_NODELAY. Responses are parsed strictly enough to fail clearly on
 * anything that is not HTTP/1.x, and leniently where HTTP allows variation:
 * header names in any case, bare LF line ends, interim 1xx responses,
 * Content-Length, chunked or close-delimited bodies. A request on a
 * kept-alive connection that the server had closed is retried once on a
 * new one. Every buffer that grows from the network has a cap.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sluice_lambda.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define API_PREFIX "/2018-06-01/runtime"
#define HEAD_MAX (64 * 1024) /* a response head, and the read buffer */
#define MAX_HEADERS 128
#define ERROR_MESSAGE_MAX (64 * 1024) /* longer messages are cut */
#define ERROR_TYPE_MAX 256
#define REQUEST_ID_MAX 256
#define POST_BODY_MAX (64 * 1024) /* what we keep of a POST's answer */

/* ---- growable buffers ---------------------------------------------------- */

/* data[0..len) plus a NUL at data[len] whenever data is non-NULL. */
struct buf {
    char *data;
    size_t len, cap;
};

/* Makes room for more bytes and the NUL. 0, or -1 on overflow or ENOMEM. */
static int buf_reserve(struct buf *b, size_t more)
{
    if (more > SIZE_MAX - 1 - b->len)
        return -1;
    size_t need = b->len + more + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n))
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

static void buf_clear(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Appends formatted text, at most max bytes of it (cut, not failed). */
static int buf_vprintf(struct buf *b, size_t max, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return -1;
    size_t len = (size_t)n < max ? (size_t)n : max;
    if (buf_reserve(b, len))
        return -1;
    vsnprintf(b->data + b->len, len + 1, fmt, ap);
    b->len += len;
    return 0;
}

/* ---- diagnostics and small helpers -------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr, which Lambda (and Sluice) log for the function. */
static void say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    fprintf(stderr, "sluice_lambda: %s\n", line);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min, cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Appends s as the inside of a JSON string; invalid UTF-8 becomes U+FFFD,
 * so the document stays valid JSON whatever the handler wrote. */
static int json_escape(struct buf *b, const char *s, size_t n)
{
    static const char short_escape[] = {['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
                                        ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't'};
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char ch = p[i];
        char esc[8];
        const char *out = esc;
        size_t len;
        if (ch < sizeof(short_escape) && short_escape[ch]) {
            esc[0] = '\\';
            esc[1] = short_escape[ch];
            len = 2;
            i++;
        } else if (ch < 0x20) {
            len = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", ch);
            i++;
        } else if ((len = utf8_len(p + i, n - i))) {
            out = (const char *)p + i;
            i += len;
        } else {
            out = "\\ufffd";
            len = 6;
            i++;
        }
        if (buf_append(b, out, len))
            return -1;
    }
    return 0;
}

/* {"errorMessage": message, "errorType": type, "stackTrace": []}: the
 * shape AWS's runtimes post and callers of Invoke parse. */
static int error_document(struct buf *b, const char *type, const char *message, size_t mlen)
{
    buf_clear(b);
    if (buf_puts(b, "{\"errorMessage\":\"") || json_escape(b, message, mlen) ||
        buf_puts(b, "\",\"errorType\":\"") || json_escape(b, type, strlen(type)) ||
        buf_puts(b, "\",\"stackTrace\":[]}"))
        return -1;
    return 0;
}

/* Copies s into out as a header value: at most n - 1 bytes, control
 * characters (CR, LF among them) replaced, so it cannot split the head. */
static void header_value(char *out, size_t n, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '_' : s[i];
    out[i] = '\0';
}

/* ---- the connection ------------------------------------------------------ */

struct header {
    const char *name, *value;
};

struct conn {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[192];  /* the Host header: $AWS_LAMBDA_RUNTIME_API as given */
    size_t off, len; /* in[off..len) received and not yet consumed */
    char in[HEAD_MAX];
    char head[HEAD_MAX + 1]; /* the last response head, split by NULs */
    struct header hdr[MAX_HEADERS];
    size_t nhdr;
    bool next_sent; /* a GET /next went out behind the last request, unanswered */
};

struct resp {
    int status;
    bool close; /* the server ends the connection after this response */
};

/* Parses $AWS_LAMBDA_RUNTIME_API (host:port, host numeric or localhost). */
static int conn_setup(struct conn *c)
{
    c->fd = -1;
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api || !*api) {
        say("AWS_LAMBDA_RUNTIME_API is not set: this program runs as a Lambda bootstrap");
        return -1;
    }
    if (strlen(api) >= sizeof(c->host)) {
        say("AWS_LAMBDA_RUNTIME_API is too long");
        return -1;
    }
    header_value(c->host, sizeof(c->host), api);
    char host[192];
    const char *port;
    if (api[0] == '[') {
        const char *close = strchr(api, ']');
        if (!close || close[1] != ':')
            goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(close - api - 1), api + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(api, ':');
        if (!colon)
            goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - api), api);
        port = colon + 1;
    }
    char *end;
    errno = 0;
    unsigned long p = strtoul(port, &end, 10);
    if (end == port || *end || errno || p == 0 || p > 65535)
        goto bad;
    memset(&c->addr, 0, sizeof(c->addr));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&c->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&c->addr;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)p);
        c->addr_len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        c->addr_len = sizeof(*in6);
    } else {
        say("AWS_LAMBDA_RUNTIME_API=%s: the host must be a numeric address or localhost", api);
        return -1;
    }
    return 0;
bad:
    say("AWS_LAMBDA_RUNTIME_API=%s is not host:port", api);
    return -1;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->off = c->len = 0;
}

static int conn_open(struct conn *c)
{
    conn_close(c);
    int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        say("socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&c->addr, c->addr_len)) {
        /* Interrupted, the connection goes on: wait for its outcome. */
        int err = errno;
        if (err == EINTR) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            socklen_t n = sizeof(err);
            while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
                ;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n))
                err = errno;
        }
        if (err) {
            say("connect to the Runtime API at %s: %s", c->host, strerror(err));
            close(fd);
            return -1;
        }
    }
    c->fd = fd;
    return 0;
}

/* Sends all of iov; -1 with errno set. */
static int send_all(int fd, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
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

static ssize_t recv_some(int fd, void *p, size_t n)
{
    for (;;) {
        ssize_t r = recv(fd, p, n, 0);
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

/* Receives more into in[], compacting it first. >0, 0 at EOF, -1. */
static ssize_t conn_fill(struct conn *c)
{
    if (c->off) {
        memmove(c->in, c->in + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == sizeof(c->in)) {
        errno = EMSGSIZE;
        return -1;
    }
    ssize_t r = recv_some(c->fd, c->in + c->len, sizeof(c->in) - c->len);
    if (r > 0)
        c->len += (size_t)r;
    return r;
}

enum { IO_OK = 0, IO_ERR = -1, IO_STALE = 1 };

/* Reads until in[off..] starts with a whole response head (a blank line
 * ends it, CRLF or bare LF); *head_len counts it. IO_STALE when the peer
 * closed or reset the connection before sending a byte. */
static int read_head(struct conn *c, size_t *head_len)
{
    size_t i = 0; /* no head end starts in in[off..off+i) */
    for (;;) {
        const char *p = c->in + c->off;
        size_t avail = c->len - c->off;
        for (; i < avail; i++) {
            if (p[i] != '\n')
                continue;
            if (i + 1 >= avail || (p[i + 1] == '\r' && i + 2 >= avail))
                break; /* the next bytes decide: read them */
            if (p[i + 1] == '\n') {
                *head_len = i + 2;
                return IO_OK;
            }
            if (p[i + 1] == '\r' && p[i + 2] == '\n') {
                *head_len = i + 3;
                return IO_OK;
            }
        }
        ssize_t r = conn_fill(c); /* moves in[off..] to in[0..] */
        if (r > 0)
            continue;
        if (r == 0 || errno == ECONNRESET) {
            if (avail == 0)
                return IO_STALE;
            say("the Runtime API closed the connection in the middle of a response head");
        } else {
            say("reading from the Runtime API: %s",
                errno == EMSGSIZE ? "response head over 64 KiB" : strerror(errno));
        }
        return IO_ERR;
    }
}

/* Splits the head at in[off..off+n) into c->head and c->hdr: the status
 * line, then "name: value" lines. */
static int parse_head(struct conn *c, size_t n, struct resp *out)
{
    memcpy(c->head, c->in + c->off, n);
    c->head[n] = '\0';
    c->off += n;
    c->nhdr = 0;
    char *line = c->head, *end = c->head + n;
    char *eol = memchr(line, '\n', (size_t)(end - line));
    /* "HTTP/1.x NNN[ reason]" */
    if (!eol || eol - line < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
        line[7] > '9' || line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' ||
        line[10] > '9' || line[11] < '0' || line[11] > '9' ||
        (line[12] != ' ' && line[12] != '\r' && line[12] != '\n')) {
        say("the Runtime API sent something that is not an HTTP/1.x response: \"%.60s\"", c->head);
        return -1;
    }
    out->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    bool http10 = line[7] == '0';
    for (line = eol + 1; line < end; line = eol + 1) {
        eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        char *stop = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
        if (stop == line)
            break; /* the blank line */
        if (*line == ' ' || *line == '\t') {
            say("the Runtime API folded a header line (obsolete in HTTP/1.1)");
            return -1;
        }
        char *colon = memchr(line, ':', (size_t)(stop - line));
        if (!colon || colon == line) {
            say("the Runtime API sent a malformed header line: \"%.60s\"", line);
            return -1;
        }
        if (c->nhdr == MAX_HEADERS) {
            say("the Runtime API sent over %d headers", MAX_HEADERS);
            return -1;
        }
        char *v = colon + 1;
        while (v < stop && (*v == ' ' || *v == '\t'))
            v++;
        char *ve = stop;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        *colon = '\0';
        *ve = '\0';
        c->hdr[c->nhdr++] = (struct header){line, v};
    }
    out->close = http10;
    for (size_t i = 0; i < c->nhdr; i++) {
        if (strcasecmp(c->hdr[i].name, "Connection") != 0)
            continue;
        /* A token list: "close", "keep-alive", ... */
        for (const char *t = c->hdr[i].value; *t;) {
            size_t len = strcspn(t, ", \t");
            if (len == 5 && strncasecmp(t, "close", 5) == 0)
                out->close = true;
            else if (len == 10 && strncasecmp(t, "keep-alive", 10) == 0 && http10)
                out->close = false;
            t += len;
            t += strspn(t, ", \t");
        }
    }
    return 0;
}

/* The first header called name (any case), or NULL. */
static const char *header(const struct conn *c, const char *name)
{
    for (size_t i = 0; i < c->nhdr; i++)
        if (strcasecmp(c->hdr[i].name, name) == 0)
            return c->hdr[i].value;
    return NULL;
}

/* Moves n bytes of body into out: what in[] holds first, then straight
 * from the socket. */
static int read_exact(struct conn *c, struct buf *out, size_t n)
{
    if (buf_reserve(out, n)) {
        say("out of memory for a %zu-byte response body", n);
        return -1;
    }
    size_t take = c->len - c->off < n ? c->len - c->off : n;
    memcpy(out->data + out->len, c->in + c->off, take);
    c->off += take;
    out->len += take;
    for (size_t got = take; got < n;) {
        ssize_t r = recv_some(c->fd, out->data + out->len, n - got);
        if (r <= 0) {
            say("reading a response body from the Runtime API (%zu of %zu bytes): %s", got, n,
                r == 0 ? "connection closed" : strerror(errno));
            return -1;
        }
        out->len += (size_t)r;
        got += (size_t)r;
    }
    out->data[out->len] = '\0';
    return 0;
}

/* One line of a chunked body (size line, chunk end, trailer), without its
 * line end: *line points into in[] until the next read. */
static int read_line(struct conn *c, char **line, size_t *n)
{
    for (;;) {
        char *p = c->in + c->off;
        char *nl = memchr(p, '\n', c->len - c->off);
        if (nl) {
            *line = p;
            *n = (size_t)(nl - p) - (nl > p && nl[-1] == '\r');
            c->off += (size_t)(nl - p) + 1;
            return 0;
        }
        ssize_t r = conn_fill(c);
        if (r <= 0) {
            say("reading a chunked body from the Runtime API: %s", r == 0 ? "connection closed"
                                                                   : errno == EMSGSIZE
                                                                       ? "line over 64 KiB"
                                                                       : strerror(errno));
            return -1;
        }
    }
}

static int read_chunked(struct conn *c, struct buf *out, size_t max)
{
    for (;;) {
        char *line;
        size_t n;
        if (read_line(c, &line, &n))
            return -1;
        size_t size = 0, i = 0;
        for (; i < n; i++) {
            int d = line[i] >= '0' && line[i] <= '9'   ? line[i] - '0'
                    : line[i] >= 'a' && line[i] <= 'f' ? line[i] - 'a' + 10
                    : line[i] >= 'A' && line[i] <= 'F' ? line[i] - 'A' + 10
                                                       : -1;
            if (d < 0)
                break;
            if (size > (max >> 4)) {
                say("a chunk of the Runtime API's response is over %zu bytes", max);
                return -1;
            }
            size = size << 4 | (size_t)d;
        }
        if (i == 0 || (i < n && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
            say("the Runtime API sent a bad chunk size line: \"%.*s\"", (int)(n < 40 ? n : 40),
                line);
            return -1;
        }
        if (size == 0)
            break;
        if (size > max - out->len) {
            say("the Runtime API's response is over %zu bytes", max);
            return -1;
        }
        if (read_exact(c, out, size) || read_line(c, &line, &n))
            return -1;
        if (n) {
            say("a chunk of the Runtime API's response does not end where its size says");
            return -1;
        }
    }
    /* Trailer fields, up to the blank line: not used. */
    for (;;) {
        char *line;
        size_t n;
        if (read_line(c, &line, &n))
            return -1;
        if (!n)
            return 0;
    }
}

/* A body that runs to the end of the connection. */
static int read_to_eof(struct conn *c, struct buf *out, size_t max)
{
    size_t take = c->len - c->off;
    if (take > max) {
        say("the Runtime API's response is over %zu bytes", max);
        return -1;
    }
    if (buf_append(out, c->in + c->off, take))
        return -1;
    c->off = c->len;
    for (;;) {
        if (out->len == max) {
            char probe;
            ssize_t r = recv_some(c->fd, &probe, 1);
            if (r == 0)
                return 0;
            say("the Runtime API's response is over %zu bytes", max);
            return -1;
        }
        size_t want = max - out->len < 65536 ? max - out->len : 65536;
        if (buf_reserve(out, want))
            return -1;
        ssize_t r = recv_some(c->fd, out->data + out->len, want);
        if (r == 0)
            return 0;
        if (r < 0) {
            say("reading a response body from the Runtime API: %s", strerror(errno));
            return -1;
        }
        out->len += (size_t)r;
        out->data[out->len] = '\0';
    }
}

/* Reads the body of the response whose head was parsed: its framing is
 * Transfer-Encoding chunked, else Content-Length, else the end of the
 * connection. Over max bytes is an error. */
static int read_body(struct conn *c, struct resp *rs, struct buf *out, size_t max)
{
    buf_clear(out);
    if (buf_reserve(out, 0))
        return -1;
    const char *te = NULL, *cl = NULL;
    for (size_t i = 0; i < c->nhdr; i++) {
        const struct header *h = &c->hdr[i];
        if (strcasecmp(h->name, "Transfer-Encoding") == 0) {
            te = h->value;
        } else if (strcasecmp(h->name, "Content-Length") == 0) {
            if (cl && strcmp(cl, h->value) != 0) {
                say("the Runtime API sent two different Content-Lengths");
                return -1;
            }
            cl = h->value;
        }
    }
    if (rs->status == 204 || rs->status == 304)
        return 0;
    if (te) {
        /* Sluice and Lambda send Content-Length; chunked is read too. Any
         * other coding (gzip, ...) is not ours to undo. */
        if (strcasecmp(te, "chunked") != 0) {
            say("the Runtime API sent Transfer-Encoding \"%.40s\", which this client cannot read",
                te);
            return -1;
        }
        return read_chunked(c, out, max);
    }
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (end == cl || *end || errno || cl[0] == '-' || cl[0] == '+') {
            say("the Runtime API sent a bad Content-Length: \"%.40s\"", cl);
            return -1;
        }
        if (v > max) {
            say("the Runtime API's response is %llu bytes, over the %zu this client takes", v, max);
            return -1;
        }
        return read_exact(c, out, (size_t)v);
    }
    rs->close = true;
    return read_to_eof(c, out, max);
}

#define NEXT_PATH API_PREFIX "/invocation/next"

/* A request's head in head[0..cap); its length, or -1 when too long. */
static int request_head(const struct conn *c, char *head, size_t cap, const char *method,
                        const char *path, const char *extra, bool body, size_t len)
{
    int hn;
    if (body || strcmp(method, "POST") == 0)
        hn = snprintf(head, cap,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice_lambda/1\r\n%s"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, c->host, extra ? extra : "", len);
    else
        hn = snprintf(head, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice_lambda/1\r\n%s\r\n",
                      method, path, c->host, extra ? extra : "");
    if (hn < 0 || (size_t)hn >= cap) {
        say("request head too long for %s", path);
        return -1;
    }
    return hn;
}

/*
 * Sends one request and reads its whole response: the head's fields in
 * c->hdr, the body in out (at most max bytes). extra is more header lines,
 * each ending in CRLF. A request on a connection the server had closed
 * (a reset, or EOF before any byte of answer) is sent again once on a new
 * connection. then_next: a GET /next goes out in the same write, right
 * behind (HTTP/1.1 pipelining), and its answer is the next one read: the
 * runtime's result and its next /next cost one write, and the Runtime API
 * answers both at once when it has the next event. A GET /next already
 * sent that way is not sent again. 0, or -1 after saying why (the
 * connection is closed then).
 */
static int http_request(struct conn *c, const char *method, const char *path, const char *extra,
                        const void *body, size_t len, struct resp *rs, struct buf *out, size_t max,
                        bool then_next)
{
    /* This is the /next sent behind the last request: only its answer is
     * read (and it is sent again if the connection had closed). */
    bool sent = c->next_sent && strcmp(path, NEXT_PATH) == 0;
    c->next_sent = false;
    char head[2048], next[512];
    int hn = request_head(c, head, sizeof(head), method, path, extra, body != NULL, len);
    int nn = then_next ? request_head(c, next, sizeof(next), "GET", NEXT_PATH, NULL, false, 0) : 0;
    if (hn < 0 || nn < 0) {
        conn_close(c);
        return -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = c->fd < 0;
        if (fresh && conn_open(c))
            return -1;
        struct iovec iov[3] = {{head, (size_t)hn}, {(void *)body, body ? len : 0},
                               {next, (size_t)nn}};
        if (sent)
            sent = false; /* (once: a retry sends it) */
        else if (send_all(c->fd, iov, 3)) {
            int e = errno;
            conn_close(c);
            if (!fresh && (e == EPIPE || e == ECONNRESET))
                continue;
            say("sending %s %s: %s", method, path, strerror(e));
            return -1;
        }
        size_t head_len;
        int rc;
        bool answered = false; /* an interim 1xx came: the request arrived */
        for (;;) {
            rc = read_head(c, &head_len);
            if (rc == IO_OK)
                rc = parse_head(c, head_len, rs) ? IO_ERR : IO_OK;
            if (rc != IO_OK || rs->status >= 200)
                break;
            answered = true;
        }
        if (rc == IO_STALE && answered) {
            say("%s %s: the Runtime API closed the connection after an interim answer", method,
                path);
            rc = IO_ERR;
        }
        if (rc == IO_STALE && !fresh) {
            conn_close(c);
            continue;
        }
        if (rc == IO_STALE)
            say("%s %s: the Runtime API closed the connection without answering", method, path);
        if (rc || read_body(c, rs, out, max)) {
            conn_close(c);
            return -1;
        }
        if (rs->close)
            conn_close(c);
        c->next_sent = then_next && c->fd >= 0; /* a close lost it */
        return 0;
    }
    say("%s %s: the Runtime API closed the connection twice without answering", method, path);
    return -1;
}

/* ---- the reply ------------------------------------------------------------ */

struct sl_lambda_reply {
    struct buf own; /* bytes of sl_lambda_reply_copy() and _printf() */
    bool use_own;
    const void *body; /* else: the body of _ref() or _take() */
    size_t len;
    void *taken; /* free()d once posted */
    bool oom;    /* a copy or printf failed */
    bool failed; /* sl_lambda_reply_error() was called */
    char type[ERROR_TYPE_MAX];
    struct buf message;
};

static void reply_drop_body(struct sl_lambda_reply *r)
{
    free(r->taken);
    r->taken = NULL;
    r->body = NULL;
    r->len = 0;
    r->use_own = false;
    buf_clear(&r->own);
}

static void reply_reset(struct sl_lambda_reply *r)
{
    reply_drop_body(r);
    r->oom = r->failed = false;
    r->type[0] = '\0';
    buf_clear(&r->message);
    /* A big response once should not pin its memory for the environment's life. */
    if (r->own.cap > (1u << 20))
        buf_free(&r->own);
}

int sl_lambda_reply_copy(struct sl_lambda_reply *r, const void *body, size_t len)
{
    reply_drop_body(r);
    r->use_own = true;
    if (buf_append(&r->own, body, len)) {
        r->oom = true;
        return -1;
    }
    return 0;
}

void sl_lambda_reply_ref(struct sl_lambda_reply *r, const void *body, size_t len)
{
    reply_drop_body(r);
    r->body = body;
    r->len = body ? len : 0;
}

void sl_lambda_reply_take(struct sl_lambda_reply *r, void *body, size_t len)
{
    reply_drop_body(r);
    r->taken = body;
    r->body = body;
    r->len = body ? len : 0;
}

int sl_lambda_reply_printf(struct sl_lambda_reply *r, const char *fmt, ...)
{
    if (!r->use_own)
        reply_drop_body(r);
    r->use_own = true;
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&r->own, SIZE_MAX / 2, fmt, ap);
    va_end(ap);
    if (rc)
        r->oom = true;
    return rc;
}

int sl_lambda_reply_error(struct sl_lambda_reply *r, const char *type, const char *fmt, ...)
{
    r->failed = true;
    snprintf(r->type, sizeof(r->type), "%s", type && *type ? type : "HandlerError");
    buf_clear(&r->message);
    va_list ap;
    va_start(ap, fmt);
    if (buf_vprintf(&r->message, ERROR_MESSAGE_MAX, fmt, ap))
        buf_clear(&r->message);
    va_end(ap);
    return SL_LAMBDA_FAILED;
}

int64_t sl_lambda_remaining_ms(const struct sl_lambda_event *ev)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ev->deadline_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* ---- the loop --------------------------------------------------------------- */

struct client {
    struct conn c;
    struct buf event;   /* the body of /next */
    struct buf answer;  /* the body of a POST's answer */
    struct buf strings; /* the event's header values */
    struct buf doc;     /* error documents */
    struct sl_lambda_reply reply;
};

static struct client *client_new(void)
{
    struct client *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        say("out of memory");
        return NULL;
    }
    if (conn_setup(&cl->c)) {
        free(cl);
        return NULL;
    }
    return cl;
}

static void client_free(struct client *cl)
{
    if (!cl)
        return;
    conn_close(&cl->c);
    buf_free(&cl->event);
    buf_free(&cl->answer);
    buf_free(&cl->strings);
    buf_free(&cl->doc);
    reply_drop_body(&cl->reply);
    buf_free(&cl->reply.own);
    buf_free(&cl->reply.message);
    free(cl);
}

/* $_X_AMZN_TRACE_ID is set per invocation, as AWS's runtimes do. putenv()
 * with one buffer updated in place: setenv() would keep every distinct
 * value it was given for the life of the process. */
static char trace_env[512] = "_X_AMZN_TRACE_ID=";

static void set_trace_env(const char *trace)
{
    const size_t prefix = strlen("_X_AMZN_TRACE_ID=");
    if (trace && *trace && strlen(trace) < sizeof(trace_env) - prefix) {
        strcpy(trace_env + prefix, trace);
        putenv(trace_env); /* again each time: the handler may have set it itself */
    } else {
        unsetenv("_X_AMZN_TRACE_ID");
    }
}

/* GET /next: waits (without a time limit) for an invocation. */
static int next_event(struct client *cl, struct sl_lambda_event *ev)
{
    struct resp rs = {0};
    if (http_request(&cl->c, "GET", NEXT_PATH, NULL, NULL, 0, &rs, &cl->event, SL_LAMBDA_MAX_EVENT,
                     false))
        return -1;
    if (rs.status != 200) {
        say("GET /runtime/invocation/next answered HTTP %d%s: %.300s", rs.status,
            rs.status == 500 ? " (the environment is ending)" : "",
            cl->event.data ? cl->event.data : "");
        return -1;
    }
    const char *id = header(&cl->c, "Lambda-Runtime-Aws-Request-Id");
    if (!id || !*id || strlen(id) > REQUEST_ID_MAX) {
        say("the Runtime API sent an event without a usable Lambda-Runtime-Aws-Request-Id");
        return -1;
    }
    /* The values move to strings: the next response head overwrites c->head. */
    const char *names[] = {"Lambda-Runtime-Aws-Request-Id", "Lambda-Runtime-Invoked-Function-Arn",
                           "Lambda-Runtime-Trace-Id", "Lambda-Runtime-Client-Context",
                           "Lambda-Runtime-Cognito-Identity"};
    size_t at[5];
    bool present[5];
    buf_clear(&cl->strings);
    for (size_t i = 0; i < 5; i++) {
        const char *v = header(&cl->c, names[i]);
        present[i] = v != NULL;
        at[i] = cl->strings.len;
        if (buf_append(&cl->strings, v ? v : "", v ? strlen(v) + 1 : 1)) {
            say("out of memory");
            return -1;
        }
    }
    const char *deadline = header(&cl->c, "Lambda-Runtime-Deadline-Ms");
    *ev = (struct sl_lambda_event){
        .payload = cl->event.data,
        .payload_len = cl->event.len,
        .request_id = cl->strings.data + at[0],
        .deadline_ms = deadline ? strtoll(deadline, NULL, 10) : 0,
        .function_arn = cl->strings.data + at[1],
        .trace_id = cl->strings.data + at[2],
        .client_context = present[3] ? cl->strings.data + at[3] : NULL,
        .cognito_identity = present[4] ? cl->strings.data + at[4] : NULL,
    };
    set_trace_env(ev->trace_id);
    return 0;
}

/* The request id as a path segment: UUIDs need no escaping, anything
 * else is percent-encoded. */
static int id_path(char *out, size_t n, const char *id, const char *what)
{
    size_t o = (size_t)snprintf(out, n, "%s/invocation/", API_PREFIX);
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (o + 4 >= n)
            return -1;
        o += (size_t)(plain ? snprintf(out + o, n - o, "%c", *p)
                            : snprintf(out + o, n - o, "%%%02X", *p));
    }
    int w = snprintf(out + o, n - o, "/%s", what);
    return w < 0 || (size_t)w >= n - o ? -1 : 0;
}

/* Posts an error document to path. type goes in the header too;
 * then_next: see http_request(). */
static int post_error(struct client *cl, const char *path, const char *type, const char *message,
                      size_t mlen, struct resp *rs, bool then_next)
{
    char extra[ERROR_TYPE_MAX + 128], safe_type[ERROR_TYPE_MAX];
    header_value(safe_type, sizeof(safe_type), type);
    snprintf(extra, sizeof(extra),
             "Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: %s\r\n",
             safe_type);
    if (error_document(&cl->doc, type, message, mlen)) {
        say("out of memory");
        return -1;
    }
    return http_request(&cl->c, "POST", path, extra, cl->doc.data, cl->doc.len, rs, &cl->answer,
                        POST_BODY_MAX, then_next);
}

/* Posts what the handler answered (rc is its return value). Only a
 * failure to talk to the Runtime API at all, or a 5xx, ends the loop. */
static int post_result(struct client *cl, const struct sl_lambda_event *ev, int rc)
{
    struct sl_lambda_reply *r = &cl->reply;
    char path[REQUEST_ID_MAX * 3 + 64];
    if (id_path(path, sizeof(path), ev->request_id, rc == 0 && !r->oom ? "response" : "error")) {
        say("request id too long");
        return -1;
    }
    struct resp rs = {0};
    int err;
    size_t sent = 0;
    if (rc == 0 && !r->oom) {
        const void *body = r->use_own ? r->own.data : r->body;
        sent = r->use_own ? r->own.len : r->len;
        err = http_request(&cl->c, "POST", path, "Content-Type: application/json\r\n", body, sent,
                           &rs, &cl->answer, POST_BODY_MAX, true);
    } else if (rc == 0) {
        static const char msg[] = "the handler's reply could not be allocated";
        err = post_error(cl, path, "Runtime.OutOfMemory", msg, sizeof(msg) - 1, &rs, true);
    } else if (r->failed) {
        err = post_error(cl, path, r->type, r->message.data ? r->message.data : "", r->message.len,
                         &rs, true);
    } else {
        char msg[64];
        int n = snprintf(msg, sizeof(msg), "the handler failed (returned %d)", rc);
        err = post_error(cl, path, "HandlerError", msg, (size_t)n, &rs, true);
    }
    reply_drop_body(r); /* the payload it may point to is replaced next */
    if (err)
        return -1;
    if (rs.status / 100 == 2)
        return 0;
    const char *answer = cl->answer.data ? cl->answer.data : "";
    if (rs.status == 413)
        say("the response (%zu bytes) is over the Runtime API's limit; the invocation "
            "failed: %.300s",
            sent, answer);
    else
        say("POST %s answered HTTP %d: %.300s", path, rs.status, answer);
    /* 400 (stale request id) and 403 (bad state) end this invocation only;
     * a 5xx means the environment cannot go on. */
    return rs.status >= 500 ? -1 : 0;
}

int sl_lambda_run(sl_lambda_handler_fn fn, void *ud)
{
    struct client *cl = client_new();
    if (!cl)
        return -1;
    for (;;) {
        struct sl_lambda_event ev;
        if (next_event(cl, &ev))
            break;
        reply_reset(&cl->reply);
        int rc = fn(&ev, &cl->reply, ud);
        if (post_result(cl, &ev, rc))
            break;
    }
    client_free(cl);
    return -1;
}

int sl_lambda_init_error(const char *type, const char *fmt, ...)
{
    struct client *cl = client_new();
    if (!cl)
        return -1;
    struct buf msg = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&msg, ERROR_MESSAGE_MAX, fmt, ap);
    va_end(ap);
    struct resp rs = {0};
    if (!type || !*type)
        type = "Runtime.Unknown";
    if (rc == 0)
        rc = post_error(cl, API_PREFIX "/init/error", type, msg.data ? msg.data : "", msg.len, &rs,
                        false);
    if (rc == 0 && rs.status / 100 != 2) {
        say("POST /runtime/init/error answered HTTP %d: %.300s", rs.status,
            cl->answer.data ? cl->answer.data : "");
        rc = -1;
    }
    buf_free(&msg);
    client_free(cl);
    return rc ? -1 : 0;
}
