/*
 * core — the bottom layer of Sluice: error codes and error contexts,
 * capped growable buffers, a per-request arena, structured logging, time,
 * hex/base64/URI encodings, hashes, and (core/xml.h) an XML tree. It
 * includes nothing of Sluice's own and may call only libc, OpenSSL's
 * libcrypto, zlib and expat.
 */
#ifndef SL_CORE_H
#define SL_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SL_VERSION "0.1.0"

#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SL_STR_(x) #x
#define SL_STR(x) SL_STR_(x)

#if defined(__GNUC__)
#define SL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SL_PRINTF(f, a)
#endif

/*
 * Error codes. Functions that can fail return 0 or one of these (negative).
 * The text is a short generic description; the detail of one failure
 * travels in a struct sl_err.
 */
#define SL_ERRORS(X)                                          \
    X(SL_ENOMEM, -1, "out of memory")                         \
    X(SL_EIO, -2, "input/output error")                       \
    X(SL_EINVAL, -3, "invalid argument")                      \
    X(SL_ENOTFOUND, -4, "not found")                          \
    X(SL_EEXIST, -5, "already exists")                        \
    X(SL_ECONDITION, -6, "condition failed")                  \
    X(SL_ETOOBIG, -7, "too large")                            \
    X(SL_EAUTH, -8, "authentication failed")                  \
    X(SL_ECORRUPT, -9, "corrupt data")                        \
    X(SL_EBUSY, -10, "busy")                                  \
    X(SL_ECLOSED, -11, "closed")                              \
    X(SL_EAGAIN, -12, "try again")                            \
    X(SL_ENOTSUP, -13, "not supported")

enum sl_error {
    SL_OK = 0,
#define SL_ERR_ENUM(name, value, text) name = value,
    SL_ERRORS(SL_ERR_ENUM)
#undef SL_ERR_ENUM
};

/*
 * Outcomes of a handler that are not failures (positive, so that a
 * negative result is always an error), as nginx's NGX_DONE and NGX_AGAIN:
 * SL_DONE, the request has its answer already (nothing more to do);
 * SL_LATER, it waits for something and is answered when that comes.
 */
enum sl_outcome {
    SL_DONE = 1,
    SL_LATER = 2,
};

/* The generic text of an error code; never NULL. */
const char *sl_strerror(int code);

/* The detail of one failure: a code and a message naming the problem. */
struct sl_err {
    int code;
    char msg[512];
};

/* Records code and a formatted message in err (which may be NULL) and
 * returns code, so that `return sl_errf(err, SL_EINVAL, "...")` works. */
int sl_errf(struct sl_err *err, int code, const char *fmt, ...) SL_PRINTF(3, 4);

/* ---- buffers ---------------------------------------------------------- */

/* A growable byte buffer with a hard cap. data is always NUL-terminated
 * (the terminator is not counted in len). */
struct sl_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* appends that would pass max fail with SL_ETOOBIG */
};

void sl_buf_init(struct sl_buf *b, size_t max);
void sl_buf_free(struct sl_buf *b);
void sl_buf_reset(struct sl_buf *b);
int sl_buf_append(struct sl_buf *b, const void *p, size_t n);
int sl_buf_puts(struct sl_buf *b, const char *s);
int sl_buf_putc(struct sl_buf *b, char c);
int sl_buf_printf(struct sl_buf *b, const char *fmt, ...) SL_PRINTF(2, 3);
int sl_buf_vprintf(struct sl_buf *b, const char *fmt, va_list ap);
/* Makes n more bytes of b the caller's to write: a pointer to them (b->len
 * grew by n; room for the NUL after them), or NULL (SL_ENOMEM or the
 * cap). A writer that used fewer sets b->len back and writes the NUL. */
char *sl_buf_extend(struct sl_buf *b, size_t n);
/* Hands the buffer's memory to the caller (free() it) and resets b. */
char *sl_buf_steal(struct sl_buf *b, size_t *len);

/* Text built in a caller's fixed buffer without printf, for hot paths.
 * What does not fit is cut (over is set); the text stays NUL-terminated. */
struct sl_text {
    char *p;
    size_t len, cap;
    bool over;
};

void sl_text_init(struct sl_text *t, char *p, size_t cap);
void sl_text_mem(struct sl_text *t, const void *s, size_t n);
void sl_text_str(struct sl_text *t, const char *s);
/* v in decimal or lower-case hex, zero-padded to width digits (0: none). */
void sl_text_u64(struct sl_text *t, uint64_t v, unsigned width);
void sl_text_hex(struct sl_text *t, uint64_t v, unsigned width);
void sl_text_i64(struct sl_text *t, int64_t v);
/* v >= 0 with decimals (0..6) digits after the point, rounded half up. */
void sl_text_fixed(struct sl_text *t, double v, unsigned decimals);

/* ---- arena ------------------------------------------------------------ */

/* Bump allocator for memory that lives as long as one request. */
struct sl_arena_chunk;
struct sl_arena {
    struct sl_arena_chunk *head;
    size_t used; /* bytes handed out, for caps */
    size_t max;  /* 0 = no cap */
};

void sl_arena_init(struct sl_arena *a, size_t max);
/* Frees every allocation of the arena. */
void sl_arena_free(struct sl_arena *a);
/* Returns zeroed memory owned by the arena, or NULL. */
void *sl_arena_alloc(struct sl_arena *a, size_t n);
char *sl_arena_strdup(struct sl_arena *a, const char *s);
char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n);
char *sl_arena_printf(struct sl_arena *a, const char *fmt, ...) SL_PRINTF(2, 3);

/* ---- logging ---------------------------------------------------------- */

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

void sl_log_set_level(enum sl_log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 on anything else. */
int sl_log_parse_level(const char *s);
/* Writes one logfmt line to stderr: ts=... level=... comp=... msg="..." */
void sl_log(enum sl_log_level level, const char *comp, const char *fmt, ...) SL_PRINTF(3, 4);
#define sl_debug(comp, ...) sl_log(SL_LOG_DEBUG, comp, __VA_ARGS__)
#define sl_info(comp, ...) sl_log(SL_LOG_INFO, comp, __VA_ARGS__)
#define sl_warn(comp, ...) sl_log(SL_LOG_WARN, comp, __VA_ARGS__)
#define sl_error(comp, ...) sl_log(SL_LOG_ERROR, comp, __VA_ARGS__)

/* ---- time ------------------------------------------------------------- */

/* Wall clock in milliseconds since the epoch. */
int64_t sl_time_now_ms(void);
/* Monotonic clock in nanoseconds. */
int64_t sl_time_mono_ns(void);
/* The time ms milliseconds from now on clock (CLOCK_MONOTONIC or
 * CLOCK_REALTIME), as pthread_cond_timedwait() wants it. */
struct timespec sl_time_deadline(clockid_t clock, int64_t ms);
/* "2024-01-02T03:04:05.678Z" into out (at least 32 bytes). */
void sl_time_iso8601_ms(int64_t ms, char *out, size_t n);
/* The same to the second: "2024-01-18T10:15:30Z" (EventBridge's events). */
void sl_time_iso8601_s(int64_t ms, char *out, size_t n);
/* "20240102T030405Z" (SigV4's basic format) into out (at least 17 bytes). */
void sl_time_amz(time_t t, char *out, size_t n);
/* "Tue, 02 Jan 2024 03:04:05 GMT" into out (at least 30 bytes). */
void sl_time_http(time_t t, char *out, size_t n);
/* Parses an HTTP date (RFC 1123, RFC 850 or asctime; RFC 2822's numeric
 * zone and optional weekday too); 0 or SL_EINVAL. */
int sl_time_parse_http(const char *s, time_t *out);
/* Parses "20240102T030405Z"; 0 or SL_EINVAL. */
int sl_time_parse_amz(const char *s, time_t *out);
/* Parses ISO 8601 "2024-01-02T03:04:05(.fff)Z"; 0 or SL_EINVAL. */
int sl_time_parse_iso8601(const char *s, time_t *out);

/* ---- encodings -------------------------------------------------------- */

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void sl_hex_encode(const uint8_t *p, size_t n, char *out);
/* The value of hex digit c (either case), or -1. */
int sl_hex_digit(int c);
/* Decodes 2n hex characters into n bytes; SL_EINVAL on a bad character. */
int sl_hex_decode(const char *s, size_t slen, uint8_t *out);
/* Standard base64 with padding, appended to b. */
int sl_base64_encode(struct sl_buf *b, const uint8_t *p, size_t n);
/* The same into out, which holds 4 * ((n + 2) / 3) + 1 bytes (NUL-ended);
 * returns the characters written. */
size_t sl_base64_encode_to(char *out, const uint8_t *p, size_t n);
/* Decodes strict base64 (padding required) into out, which holds cap
 * bytes; sets *outlen. SL_EINVAL on bad input, SL_ETOOBIG when the
 * decoded bytes would pass cap. With out NULL it only checks s and counts
 * the bytes it holds (cap unused). */
int sl_base64_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen);

/* Whether s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF) without NUL bytes. */
bool sl_utf8_valid(const char *s, size_t n);

/* Whether text[0..n) is one JSON value (RFC 8259) that jansson's
 * json_loadb(JSON_DECODE_ANY) accepts, checked without allocating. False
 * also means "not sure" (integer parts past 15 digits, exponents past 290,
 * \u0000, surrogate escapes, nesting past 512): ask jansson. */
bool sl_json_valid(const char *text, size_t n);

/* URI-encodes s the way SigV4 wants (RFC 3986 unreserved kept, everything
 * else %XX upper-case); '/' is kept when keep_slash. Appends to b. */
int sl_uri_encode(struct sl_buf *b, const char *s, size_t n, bool keep_slash);
/* Percent-decodes s into b; '+' becomes ' ' when plus_space. SL_EINVAL on a
 * malformed escape. */
int sl_uri_decode(struct sl_buf *b, const char *s, size_t n, bool plus_space);

/* ---- hashes ----------------------------------------------------------- */

#define SL_SHA256_LEN 32
#define SL_MD5_LEN 16

void sl_sha256(const void *p, size_t n, uint8_t out[SL_SHA256_LEN]);
void sl_hmac_sha256(const void *key, size_t keylen, const void *p, size_t n,
                    uint8_t out[SL_SHA256_LEN]);
void sl_md5(const void *p, size_t n, uint8_t out[SL_MD5_LEN]);

/* Incremental hashing of a stream; algorithms by name. */
enum sl_hash_alg {
    SL_HASH_MD5,
    SL_HASH_SHA1,
    SL_HASH_SHA256,
    SL_HASH_CRC32,
    SL_HASH_CRC32C,
    SL_HASH_CRC64NVME,
};
struct sl_hash {
    enum sl_hash_alg alg;
    void *ctx; /* EVP_MD_CTX for md5/sha1/sha256 */
    uint32_t crc;
    uint64_t crc64;
};
int sl_hash_init(struct sl_hash *h, enum sl_hash_alg alg);
void sl_hash_update(struct sl_hash *h, const void *p, size_t n);
/* Writes the digest (CRCs big-endian: 4 or 8 bytes) and returns its length. */
size_t sl_hash_final(struct sl_hash *h, uint8_t *out);
void sl_hash_close(struct sl_hash *h);

uint32_t sl_crc32c_update(uint32_t crc, const void *p, size_t n);
/* CRC-64/NVME (reflected, init and xorout all ones), as S3 computes it. */
uint64_t sl_crc64nvme_update(uint64_t crc, const void *p, size_t n);

/* Copies src to dst (of size n > 0), cut to fit and NUL-terminated;
 * returns strlen(src). */
size_t sl_strlcpy(char *dst, const char *src, size_t n);
/* Appends src to dst (of size n), always NUL-terminated; returns the
 * length it tried to create. */
size_t sl_strlcat(char *dst, const char *src, size_t n);
/* Whether s begins, or ends, with p. */
bool sl_str_starts_with(const char *s, const char *p);
bool sl_str_ends_with(const char *s, const char *p);
/* mkdir -p: creates path and its missing parents. 0, or -1 (errno). */
int sl_mkdirs(const char *path, unsigned mode);
/* Removes path and, for a directory, everything below it, without
 * following symbolic links. 0, or -1 with errno from the last failure. */
int sl_rm_tree(const char *path);

/* FNV-1a of the string s, continuing from h (SL_FNV1A_SEED to begin): a
 * hash for in-memory tables, not for anything an attacker must not steer. */
#define SL_FNV1A_SEED 2166136261u
uint32_t sl_fnv1a(uint32_t h, const char *s);

/* Random bytes from the kernel; never fails (aborts if getrandom does). */
void sl_random(void *p, size_t n);
/* A random UUID v4 string into out (37 bytes). */
void sl_uuid(char *out);

#endif
