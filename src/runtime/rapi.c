/*
 * The Runtime API's HTTP/1.1 request parser (RFC 9112, the part a runtime
 * uses): a request line, headers, a body by Content-Length or in chunks.
 * It reparses from the start whenever more bytes arrive; requests are
 * small and a head is capped, and chunked bodies are walked chunk by chunk,
 * not byte by byte.
 */
#include "runtime/rapi.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define CHUNK_LINE_MAX 1024 /* a chunk's size line, extensions included */

/* The line starting at p: its end (before CR LF or LF), with *next at the
 * following line; NULL when the line is not complete before end. */
static const char *line_end(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return NULL;
    *next = nl + 1;
    return nl > p && nl[-1] == '\r' ? nl - 1 : nl;
}

/* The path of an origin-form target, percent-decoded, without its query.
 * False when it does not fit or decodes to a NUL. */
static bool decode_path(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && s[i] != '?'; i++) {
        int c = (unsigned char)s[i];
        if (c == '%' && i + 2 < n && sl_hex_digit(s[i + 1]) >= 0 && sl_hex_digit(s[i + 2]) >= 0) {
            c = sl_hex_digit(s[i + 1]) * 16 + sl_hex_digit(s[i + 2]);
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

static bool token_is(const char *v, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(v, word, n) == 0;
}

/* Whether the comma-separated list v[0..n) holds word. */
static bool list_has(const char *v, size_t n, const char *word)
{
    const char *end = v + n;
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *e = comma ? comma : end;
        const char *a = v, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (token_is(a, (size_t)(b - a), word))
            return true;
        v = comma ? comma + 1 : end;
    }
    return false;
}

static int parse_request_line(const char *p, const char *e, struct sl_rapi_request *rq,
                              bool *http10)
{
    const char *sp1 = memchr(p, ' ', (size_t)(e - p));
    if (!sp1 || sp1 == p)
        return 400;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(e - target));
    if (!sp2 || sp2 == target)
        return 400;
    const char *version = sp2 + 1;
    size_t vn = (size_t)(e - version);
    if (token_is(version, vn, "HTTP/1.1"))
        *http10 = false;
    else if (token_is(version, vn, "HTTP/1.0"))
        *http10 = true;
    else
        return 400;
    size_t mn = (size_t)(sp1 - p);
    rq->method = mn == 3 && memcmp(p, "GET", 3) == 0    ? SL_RAPI_GET
                 : mn == 4 && memcmp(p, "POST", 4) == 0 ? SL_RAPI_POST
                                                        : SL_RAPI_OTHER;
    rq->path[0] = '\0';
    if (*target == '/' && !decode_path(target, (size_t)(sp2 - target), rq->path,
                                       sizeof(rq->path)))
        rq->path[0] = '\0';
    return 0;
}

/* One header line [p, e). */
static int parse_header(const char *p, const char *e, struct sl_rapi_request *rq,
                        bool *have_length, bool *close, bool *keep)
{
    const char *colon = memchr(p, ':', (size_t)(e - p));
    if (!colon || colon == p)
        return 400;
    for (const char *c = p; c < colon; c++)
        if (*c == ' ' || *c == '\t')
            return 400;
    size_t nn = (size_t)(colon - p);
    const char *v = colon + 1, *ve = e;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    size_t vn = (size_t)(ve - v);
    if (token_is(p, nn, "Content-Length")) {
        if (vn == 0 || vn > 15)
            return 400;
        size_t len = 0;
        for (size_t i = 0; i < vn; i++) {
            if (v[i] < '0' || v[i] > '9')
                return 400;
            len = len * 10 + (size_t)(v[i] - '0');
        }
        if (*have_length && len != rq->content_length)
            return 400;
        *have_length = true;
        rq->content_length = len;
    } else if (token_is(p, nn, "Transfer-Encoding")) {
        if (!token_is(v, vn, "chunked"))
            return 501;
        rq->chunked = true;
    } else if (token_is(p, nn, "Connection")) {
        if (list_has(v, vn, "close"))
            *close = true;
        if (list_has(v, vn, "keep-alive"))
            *keep = true;
    } else if (token_is(p, nn, "Expect")) {
        rq->expect_continue = token_is(v, vn, "100-continue");
    } else if (token_is(p, nn, "Lambda-Runtime-Function-Error-Type")) {
        size_t k = vn < sizeof(rq->error_type) - 1 ? vn : sizeof(rq->error_type) - 1;
        memcpy(rq->error_type, v, k);
        rq->error_type[k] = '\0';
    }
    return 0;
}

/*
 * Walks the chunks from p[off], up to n: 1 with *total (the end of the
 * request) and *sum (the data's length) when they are complete, 0 when
 * more is needed, else a status. Appends the data to out when not NULL.
 */
static int walk_chunks(const char *p, size_t n, size_t off, size_t body_max, struct sl_buf *out,
                       size_t *total, size_t *sum)
{
    const char *end = p + n;
    *sum = 0;
    for (;;) {
        const char *next;
        const char *le = line_end(p + off, end, &next);
        if (!le)
            return n - off > CHUNK_LINE_MAX ? 400 : 0;
        if (le - (p + off) > CHUNK_LINE_MAX)
            return 400;
        const char *c = p + off;
        size_t size = 0;
        int digits = 0;
        for (; c < le && sl_hex_digit(*c) >= 0; c++, digits++) {
            if (size > (SIZE_MAX >> 4))
                return 413;
            size = size * 16 + (size_t)sl_hex_digit(*c);
        }
        if (!digits || (c < le && *c != ';' && *c != ' ' && *c != '\t'))
            return 400;
        off = (size_t)(next - p);
        if (size == 0) {
            /* The trailer section: header lines up to an empty one. */
            size_t trailer = off;
            for (;;) {
                const char *ls = p + off;
                le = line_end(ls, end, &next);
                if (!le || (size_t)(next - p) - trailer > SL_RAPI_HEAD_MAX)
                    return n - trailer > SL_RAPI_HEAD_MAX ? 431 : 0;
                off = (size_t)(next - p);
                if (le == ls) {
                    *total = off;
                    return 1;
                }
            }
        }
        if (size > body_max || *sum > body_max - size)
            return 413;
        if (n - off < size)
            return 0;
        if (out && sl_buf_append(out, p + off, size))
            return SL_ENOMEM;
        *sum += size;
        off += size;
        if (off == n)
            return 0;
        if (p[off] == '\n') {
            off++;
        } else if (p[off] == '\r') {
            if (off + 1 == n)
                return 0;
            if (p[off + 1] != '\n')
                return 400;
            off += 2;
        } else {
            return 400;
        }
    }
}

int sl_rapi_parse(const char *p, size_t n, size_t body_max, struct sl_rapi_request *rq)
{
    memset(rq, 0, sizeof(*rq));
    const char *end = p + n, *lim = n > SL_RAPI_HEAD_MAX ? p + SL_RAPI_HEAD_MAX : end;
    const char *cur = p, *next;
    /* Empty lines before a request line are ignored (RFC 9112 2.2). */
    const char *le;
    while ((le = line_end(cur, lim, &next)) && le == cur)
        cur = next;
    if (!le)
        return lim < end ? 431 : 0;
    bool http10 = false, have_length = false, close = false, keep = false;
    int st = parse_request_line(cur, le, rq, &http10);
    if (st)
        return st;
    cur = next;
    for (;;) {
        le = line_end(cur, lim, &next);
        if (!le)
            return lim < end ? 431 : 0;
        if (le == cur)
            break;
        st = parse_header(cur, le, rq, &have_length, &close, &keep);
        if (st)
            return st;
        cur = next;
    }
    rq->head_len = (size_t)(next - p);
    rq->keep_alive = http10 ? keep && !close : !close;
    if (rq->chunked && have_length)
        return 400; /* both framings: ambiguous (RFC 9112 6.1) */
    if (rq->chunked)
        return walk_chunks(p, n, rq->head_len, body_max, NULL, &rq->total, &rq->body_len);
    if (rq->content_length > body_max)
        return 413;
    if (n - rq->head_len < rq->content_length)
        return 0;
    rq->body_len = rq->content_length;
    rq->total = rq->head_len + rq->content_length;
    return 1;
}

int sl_rapi_body(const char *p, const struct sl_rapi_request *rq, struct sl_buf *out)
{
    if (!rq->chunked)
        return sl_buf_append(out, p + rq->head_len, rq->body_len);
    size_t total, sum;
    int st = walk_chunks(p, rq->total, rq->head_len, SIZE_MAX, out, &total, &sum);
    return st == 1 ? 0 : st < 0 ? st : SL_EINVAL;
}
