/*
 * The aws-chunked body decoder: S3's streaming uploads, in which the body is
 * a series of `hex-size[;chunk-signature=sig]\r\n data \r\n` chunks ending
 * with a zero-size chunk, trailer lines and an empty line. Signed chunks
 * chain their signatures from the request's seed signature; a trailer may
 * carry a checksum of the decoded data and, when signed, its own signature.
 *
 * The decoder is a byte-driven state machine: any split of the input gives
 * the same result, and only header and trailer lines (capped) are buffered.
 * Chunk data goes straight to the sink while its SHA-256 is computed; the
 * signature is checked at the chunk's end.
 */
#include "aws/sigv4.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- checksums ------------------------------------------------------------ */


/* ---- helpers ---------------------------------------------------------- */

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (unsigned)(c - 'a' + 10);
    return (unsigned)(c - 'A' + 10);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool equal_ct(const char *a, const char *b, size_t n)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* Marks c failed: every later call returns code. */
static int mark_failed(struct sl_chunked *c, int code, enum sl_sigv4_reason reason)
{
    c->state = SL_CHUNKED_FAILED;
    c->error = code;
    c->reason = reason;
    return code;
}

/* Fails c and describes why in err; evaluates to code. */
#define FAIL(c, err, code, reason, ...)                                                            \
    (mark_failed((c), (code), (reason)), sl_errf((err), (code), __VA_ARGS__))

/* ---- config ------------------------------------------------------------- */

int sl_chunked_config_from(struct sl_chunked_config *cfg, const struct sl_sigv4_request *req,
                           enum sl_sigv4_reason *reason, struct sl_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->decoded_length = -1;
    enum sl_sigv4_reason why = SL_SIGV4_BAD_ENCODING;
    int rc = sl_sigv4_payload_kind(req, &cfg->mode, &why, err);
    if (rc)
        goto fail;
    if (cfg->mode != SL_SIGV4_PAYLOAD_STREAMING &&
        cfg->mode != SL_SIGV4_PAYLOAD_STREAMING_TRAILER &&
        cfg->mode != SL_SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER) {
        rc = sl_errf(err, SL_EINVAL, "x-amz-content-sha256 does not announce an aws-chunked body");
        goto fail;
    }
    cfg->trailer = sl_sigv4_header(req, "x-amz-trailer");
    const char *dl = sl_sigv4_header(req, "x-amz-decoded-content-length");
    if (dl) {
        size_t n = strlen(dl);
        int64_t v = 0;
        if (n == 0 || n > 18) {
            rc = sl_errf(err, SL_EINVAL, "invalid x-amz-decoded-content-length");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            if (dl[i] < '0' || dl[i] > '9') {
                rc = sl_errf(err, SL_EINVAL, "invalid x-amz-decoded-content-length");
                goto fail;
            }
            v = v * 10 + (dl[i] - '0');
        }
        cfg->decoded_length = v;
    }
    return 0;
fail:
    if (reason)
        *reason = why;
    return rc;
}

int sl_chunked_init(struct sl_chunked *c, const struct sl_chunked_config *cfg, struct sl_err *err)
{
    assert(cfg->sink);
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    c->cfg.trailer = NULL; /* resolved below; the caller's string may go */
    c->state = SL_CHUNKED_SIZE;
    int rc;
    switch (cfg->mode) {
    case SL_SIGV4_PAYLOAD_STREAMING:
    case SL_SIGV4_PAYLOAD_STREAMING_TRAILER:
        c->signed_chunks = true;
        c->verify = cfg->seed != NULL;
        break;
    case SL_SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER:
        break;
    default:
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING, "the payload is not aws-chunked");
    }
    if (c->verify) {
        const struct sl_sigv4_result *seed = cfg->seed;
        if (strlen(seed->signature) != SL_SIGV4_SIG_HEX)
            return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING, "no seed signature");
        memcpy(c->key, seed->signing_key, sizeof(c->key));
        memcpy(c->amz_date, seed->amz_date, sizeof(c->amz_date));
        memcpy(c->scope, seed->scope, sizeof(c->scope));
        memcpy(c->prev_sig, seed->signature, sizeof(c->prev_sig));
    }
    if (cfg->trailer) {
        const char *t = cfg->trailer, *e;
        while (is_blank(*t))
            t++;
        for (e = t + strlen(t); e > t && is_blank(e[-1]); e--)
            ;
        if (e > t) {
            if (cfg->mode == SL_SIGV4_PAYLOAD_STREAMING)
                return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                            "x-amz-trailer needs x-amz-content-sha256 "
                            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or "
                            "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
            c->ck = sl_aws_checksum_find(t, (size_t)(e - t));
            if (!c->ck)
                return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                            "unsupported x-amz-trailer \"%.*s\"", (int)SL_MIN(e - t, 64), t);
        }
    }
    if (c->ck && (rc = sl_hash_init(&c->checksum_hash, c->ck->alg)) != 0)
        return FAIL(c, err, rc, SL_SIGV4_OK, "out of memory");
    if (c->verify && cfg->mode == SL_SIGV4_PAYLOAD_STREAMING_TRAILER &&
        (rc = sl_hash_init(&c->trailer_hash, SL_HASH_SHA256)) != 0)
        return FAIL(c, err, rc, SL_SIGV4_OK, "out of memory");
    return 0;
}

void sl_chunked_close(struct sl_chunked *c)
{
    if (!c)
        return;
    sl_hash_close(&c->chunk_hash);
    sl_hash_close(&c->trailer_hash);
    sl_hash_close(&c->checksum_hash);
    explicit_bzero(c->key, sizeof(c->key));
}

const char *sl_chunked_checksum(const struct sl_chunked *c, const char **name)
{
    if (c->state != SL_CHUNKED_DONE || !c->have_checksum)
        return NULL;
    if (name)
        *name = c->ck->header;
    return c->checksum;
}

/* ---- decoding ------------------------------------------------------------- */

/* Checks the signature of the chunk whose data hashes to hash. */
static int check_chunk(struct sl_chunked *c, const uint8_t hash[SL_SHA256_LEN], struct sl_err *err)
{
    char want[SL_SIGV4_SIG_HEX + 1];
    sl_sigv4_chunk_signature(c->key, c->amz_date, c->scope, c->prev_sig, hash, want);
    if (!equal_ct(want, c->chunk_sig, SL_SIGV4_SIG_HEX))
        return FAIL(c, err, SL_EAUTH, SL_SIGV4_MISMATCH,
                    "The request signature we calculated does not match the signature you "
                    "provided (chunk %u).",
                    c->chunks);
    memcpy(c->prev_sig, want, sizeof(want));
    return 0;
}

/* A chunk header line, CRLF included: "hex-size[;chunk-signature=sig]". */
static int size_line(struct sl_chunked *c, struct sl_err *err)
{
    const char *l = c->line;
    size_t n = c->line_len;
    if (n < 2 || l[n - 2] != '\r')
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                    "chunk header %u is not terminated by CRLF", c->chunks + 1);
    n -= 2;
    size_t i = 0;
    uint64_t size = 0;
    while (i < n && is_hex(l[i])) {
        if (i == 16)
            return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING, "chunk size too large");
        size = size << 4 | hex_val(l[i]);
        i++;
    }
    if (i == 0)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                    "chunk header %u does not start with a hexadecimal size", c->chunks + 1);
    static const char ext[] = ";chunk-signature=";
    size_t extlen = sizeof(ext) - 1;
    if (c->signed_chunks) {
        if (n - i != extlen + SL_SIGV4_SIG_HEX || memcmp(l + i, ext, extlen) != 0)
            return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                        "chunk header %u must be hex-size;chunk-signature=<64 hex digits>",
                        c->chunks + 1);
        for (size_t k = 0; k < SL_SIGV4_SIG_HEX; k++) {
            char h = l[i + extlen + k];
            if (!is_hex(h))
                return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                            "chunk header %u has a malformed chunk-signature", c->chunks + 1);
            c->chunk_sig[k] = h >= 'A' && h <= 'F' ? (char)(h - 'A' + 'a') : h;
        }
        c->chunk_sig[SL_SIGV4_SIG_HEX] = '\0';
    } else if (i != n) {
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                    "chunk header %u has unexpected data after the size", c->chunks + 1);
    }
    uint64_t limit =
        c->cfg.decoded_length >= 0 ? (uint64_t)c->cfg.decoded_length : SL_CHUNKED_MAX_DECODED;
    if (size > limit - c->decoded)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                    c->cfg.decoded_length >= 0
                        ? "the chunks hold more than the %llu bytes of x-amz-decoded-content-length"
                        : "the chunks hold more than %llu bytes",
                    (unsigned long long)limit);
    c->chunks++;
    if (size == 0) {
        c->state = SL_CHUNKED_TRAILER;
        if (c->verify) {
            uint8_t empty[SL_SHA256_LEN];
            sl_sha256("", 0, empty);
            return check_chunk(c, empty, err);
        }
        return 0;
    }
    if (c->verify) {
        sl_hash_close(&c->chunk_hash);
        int rc = sl_hash_init(&c->chunk_hash, SL_HASH_SHA256);
        if (rc)
            return FAIL(c, err, rc, SL_SIGV4_OK, "out of memory");
    }
    c->remaining = size;
    c->state = SL_CHUNKED_DATA;
    return 0;
}

/* After the trailer: the checksum, the trailer signature and the length. */
static int finish_trailer(struct sl_chunked *c, struct sl_err *err)
{
    if (c->cfg.mode == SL_SIGV4_PAYLOAD_STREAMING_TRAILER && !c->have_trailer_sig)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                    "the trailer has no x-amz-trailer-signature");
    if (c->ck) {
        const char *label = c->ck->label;
        size_t len = c->ck->len;
        if (!c->have_checksum)
            return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                        "the trailer has no %s declared by x-amz-trailer", c->ck->header);
        uint8_t got[72], want[SL_SHA256_LEN];
        size_t gotlen = 0, vlen = strlen(c->checksum);
        sl_hash_final(&c->checksum_hash, want);
        if (vlen > 4 * sizeof(got) / 3 || sl_base64_decode(c->checksum, vlen, got, sizeof(got), &gotlen) ||
            gotlen != len)
            return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                        "Value for %s trailing header is invalid.", c->ck->header);
        if (memcmp(got, want, len) != 0)
            return FAIL(c, err, SL_ECORRUPT, SL_SIGV4_BAD_DIGEST,
                        "The %s you specified did not match the calculated checksum.", label);
    }
    if (c->cfg.decoded_length >= 0 && c->decoded != (uint64_t)c->cfg.decoded_length)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_INCOMPLETE_BODY,
                    "You did not provide the number of bytes specified by the "
                    "x-amz-decoded-content-length header (%llu of %lld).",
                    (unsigned long long)c->decoded, (long long)c->cfg.decoded_length);
    c->state = SL_CHUNKED_DONE;
    return 0;
}

/* One trailer line, its LF included (CRLF expected; a bare LF is taken, as
 * some clients end the checksum line with one). */
static int trailer_line(struct sl_chunked *c, struct sl_err *err)
{
    size_t n = c->line_len - 1;
    if (n && c->line[n - 1] == '\r')
        n--;
    c->line[n] = '\0';
    if (n == 0) {
        /* Those same clients put an empty line before the signature. */
        if (c->cfg.mode == SL_SIGV4_PAYLOAD_STREAMING_TRAILER && !c->have_trailer_sig &&
            c->have_checksum && !c->skipped_blank) {
            c->skipped_blank = true;
            return 0;
        }
        return finish_trailer(c, err);
    }
    if (c->cfg.mode == SL_SIGV4_PAYLOAD_STREAMING)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                    "unexpected data after the final chunk");
    if (c->have_trailer_sig)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                    "trailer line after x-amz-trailer-signature");
    char *colon = memchr(c->line, ':', n);
    if (!colon || colon == c->line)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING, "malformed trailer line");
    const char *name = c->line, *ne = colon, *v = colon + 1, *ve = c->line + n;
    while (ne > name && is_blank(ne[-1]))
        ne--;
    while (v < ve && is_blank(*v))
        v++;
    while (ve > v && is_blank(ve[-1]))
        ve--;
    size_t nlen = (size_t)(ne - name), vlen = (size_t)(ve - v);

    static const char signame[] = "x-amz-trailer-signature";
    if (nlen == sizeof(signame) - 1 && strncasecmp(name, signame, nlen) == 0) {
        if (c->cfg.mode != SL_SIGV4_PAYLOAD_STREAMING_TRAILER)
            return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                        "x-amz-trailer-signature in an unsigned trailer");
        if (vlen != SL_SIGV4_SIG_HEX)
            return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                        "malformed x-amz-trailer-signature");
        char claimed[SL_SIGV4_SIG_HEX + 1];
        for (size_t k = 0; k < SL_SIGV4_SIG_HEX; k++) {
            if (!is_hex(v[k]))
                return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                            "malformed x-amz-trailer-signature");
            claimed[k] = v[k] >= 'A' && v[k] <= 'F' ? (char)(v[k] - 'A' + 'a') : v[k];
        }
        claimed[SL_SIGV4_SIG_HEX] = '\0';
        if (c->verify) {
            uint8_t hash[SL_SHA256_LEN];
            char want[SL_SIGV4_SIG_HEX + 1];
            sl_hash_final(&c->trailer_hash, hash);
            sl_sigv4_trailer_signature(c->key, c->amz_date, c->scope, c->prev_sig, hash, want);
            if (!equal_ct(want, claimed, SL_SIGV4_SIG_HEX))
                return FAIL(c, err, SL_EAUTH, SL_SIGV4_MISMATCH,
                            "The request signature we calculated does not match the signature "
                            "you provided (trailer).");
            memcpy(c->prev_sig, want, sizeof(want));
        }
        c->have_trailer_sig = true;
        return 0;
    }
    if (!c->ck || strlen(c->ck->header) != nlen ||
        strncasecmp(name, c->ck->header, nlen) != 0)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                    "trailer \"%.*s\" was not declared by x-amz-trailer", (int)SL_MIN(nlen, 64u),
                    name);
    if (c->have_checksum)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING, "trailer \"%.*s\" is repeated",
                    (int)SL_MIN(nlen, 64u), name);
    if (vlen >= sizeof(c->checksum))
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                    "Value for %s trailing header is invalid.", c->ck->header);
    memcpy(c->checksum, v, vlen);
    c->checksum[vlen] = '\0';
    c->have_checksum = true;
    if (c->verify && c->cfg.mode == SL_SIGV4_PAYLOAD_STREAMING_TRAILER) {
        /* The signature covers the canonical form: "name:value\n". */
        const char *lname = c->ck->header;
        sl_hash_update(&c->trailer_hash, lname, strlen(lname));
        sl_hash_update(&c->trailer_hash, ":", 1);
        sl_hash_update(&c->trailer_hash, v, vlen);
        sl_hash_update(&c->trailer_hash, "\n", 1);
    }
    return 0;
}

int sl_chunked_feed(struct sl_chunked *c, const void *p, size_t n, struct sl_err *err)
{
    const char *s = p, *end = s + n;
    int rc = 0;
    if (c->state == SL_CHUNKED_FAILED)
        return sl_errf(err, c->error, "the aws-chunked body has already failed");
    while (s < end && !rc) {
        switch (c->state) {
        case SL_CHUNKED_SIZE:
        case SL_CHUNKED_TRAILER: {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            size_t take = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
            if (take > SL_CHUNKED_MAX_LINE - c->line_len)
                return FAIL(
                    c, err, SL_ETOOBIG, SL_SIGV4_BAD_ENCODING, "%s line longer than %d bytes",
                    c->state == SL_CHUNKED_SIZE ? "chunk header" : "trailer", SL_CHUNKED_MAX_LINE);
            memcpy(c->line + c->line_len, s, take);
            c->line_len += take;
            s += take;
            if (!nl)
                break;
            rc = c->state == SL_CHUNKED_SIZE ? size_line(c, err) : trailer_line(c, err);
            c->line_len = 0;
            break;
        }
        case SL_CHUNKED_DATA: {
            size_t take = (size_t)SL_MIN(c->remaining, (uint64_t)(end - s));
            if (c->verify)
                sl_hash_update(&c->chunk_hash, s, take);
            if (c->ck)
                sl_hash_update(&c->checksum_hash, s, take);
            rc = c->cfg.sink(c->cfg.ud, s, take);
            if (rc)
                return FAIL(c, err, rc, SL_SIGV4_OK, "storing the upload: %s", sl_strerror(rc));
            s += take;
            c->remaining -= take;
            c->decoded += take;
            if (c->remaining == 0) {
                c->state = SL_CHUNKED_DATA_CR;
                if (c->verify) {
                    uint8_t hash[SL_SHA256_LEN];
                    sl_hash_final(&c->chunk_hash, hash);
                    rc = check_chunk(c, hash, err);
                }
            }
            break;
        }
        case SL_CHUNKED_DATA_CR:
        case SL_CHUNKED_DATA_LF:
            if (*s != (c->state == SL_CHUNKED_DATA_CR ? '\r' : '\n'))
                return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                            "chunk %u data is not followed by CRLF", c->chunks);
            c->state = c->state == SL_CHUNKED_DATA_CR ? SL_CHUNKED_DATA_LF : SL_CHUNKED_SIZE;
            s++;
            break;
        case SL_CHUNKED_DONE:
            return FAIL(c, err, SL_EINVAL, SL_SIGV4_BAD_ENCODING,
                        "unexpected data after the end of the aws-chunked body");
        case SL_CHUNKED_FAILED:
            return c->error;
        }
    }
    return rc;
}

int sl_chunked_finish(struct sl_chunked *c, struct sl_err *err)
{
    if (c->state == SL_CHUNKED_FAILED)
        return sl_errf(err, c->error, "the aws-chunked body has already failed");
    if (c->state != SL_CHUNKED_DONE)
        return FAIL(c, err, SL_EINVAL, SL_SIGV4_INCOMPLETE_BODY,
                    "The aws-chunked body ended before its final chunk and trailer.");
    return 0;
}
