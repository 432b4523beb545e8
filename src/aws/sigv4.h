/*
 * sigv4 — AWS Signature Version 4 for the front door: parsing a request's
 * signature (Authorization header or presigned query), verifying it the way
 * AWS does, and decoding S3's streaming `Content-Encoding: aws-chunked`
 * bodies with their chained chunk signatures and checksum trailers.
 *
 * Part of the aws layer (beside http and engine). It works on a view of the
 * request that is independent of the HTTP library, so the http layer never
 * needs to know about it and tests need no server. May call: core, libc.
 *
 * The usual flow of the front door:
 *
 *   sl_sigv4_parse()            unsigned → anonymous; malformed → 400
 *   (dev mode stops here: the scope gives region and service)
 *   look up the secret for auth.access_key
 *   sl_sigv4_verify()           SL_EAGAIN → hash the body, call again
 *   body: x-amz-content-sha256 says how (sl_sigv4_payload_kind):
 *     a hex digest   → hash the body, compare (XAmzContentSHA256Mismatch)
 *     STREAMING-*    → sl_chunked_init/feed/finish, fed with the raw body
 *
 * Failures return a negative SL_E* code, describe the problem in the
 * struct sl_err and, where AWS answers with a specific error, say which in
 * a `reason` (enum sl_sigv4_reason), whose table gives the S3 error code
 * and HTTP status.
 */
#ifndef SL_AWS_SIGV4_H
#define SL_AWS_SIGV4_H

#include "aws/aws.h"
#include "core/core.h"

#define SL_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* How far the request time may be from the server's clock (15 minutes). */
#define SL_SIGV4_MAX_SKEW 900
/* X-Amz-Expires must be 1..this (one week). */
#define SL_SIGV4_MAX_EXPIRES 604800
/* Cap on the canonical request (query string + signed headers). */
#define SL_SIGV4_MAX_CANONICAL (256 * 1024)

#define SL_SIGV4_MAX_ACCESS_KEY 128
#define SL_SIGV4_MAX_SCOPE_PART 63 /* region, service */
#define SL_SIGV4_MAX_SIGNED_HEADERS 2048
#define SL_SIGV4_MAX_TOKEN 4096
#define SL_SIGV4_MAX_SECRET 256 /* AWS's are 40 characters */
#define SL_SIGV4_SIG_HEX 64
/* "YYYYMMDD/region/service/aws4_request" and its NUL. */
#define SL_SIGV4_SCOPE_SIZE (9 + 2 * (SL_SIGV4_MAX_SCOPE_PART + 1) + 13)

/* The payload-hash literals of x-amz-content-sha256. */
#define SL_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SL_SIGV4_STREAMING_PAYLOAD "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define SL_SIGV4_STREAMING_PAYLOAD_TRAILER "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
#define SL_SIGV4_STREAMING_UNSIGNED_TRAILER "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
/* Hex SHA-256 of the empty string. */
#define SL_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/*
 * Why a request was refused: reason, S3 error code, HTTP status, and the
 * error codes the JSON-protocol and the query-protocol services use
 * (their status comes from the service's model). The message in struct
 * sl_err is S3's wording.
 */
#define SL_SIGV4_REASONS(X)                                                                        \
    X(SL_SIGV4_OK, "", 200, "", "")                                                                \
    X(SL_SIGV4_UNSUPPORTED, "InvalidRequest", 400, "IncompleteSignatureException",                 \
      "IncompleteSignature")                                                                       \
    X(SL_SIGV4_HEADER_MALFORMED, "AuthorizationHeaderMalformed", 400,                              \
      "IncompleteSignatureException", "IncompleteSignature")                                       \
    X(SL_SIGV4_QUERY_MALFORMED, "AuthorizationQueryParametersError", 400,                          \
      "IncompleteSignatureException", "IncompleteSignature")                                       \
    X(SL_SIGV4_MULTIPLE_AUTH, "InvalidArgument", 400, "IncompleteSignatureException",              \
      "IncompleteSignature")                                                                       \
    X(SL_SIGV4_MISSING_DATE, "AccessDenied", 403, "IncompleteSignatureException",                  \
      "IncompleteSignature")                                                                       \
    X(SL_SIGV4_MISMATCH, "SignatureDoesNotMatch", 403, "InvalidSignatureException",                \
      "SignatureDoesNotMatch")                                                                     \
    X(SL_SIGV4_SKEWED, "RequestTimeTooSkewed", 403, "InvalidSignatureException",                   \
      "SignatureDoesNotMatch")                                                                     \
    X(SL_SIGV4_EXPIRED, "AccessDenied", 403, "InvalidSignatureException", "RequestExpired")        \
    X(SL_SIGV4_NOT_YET_VALID, "AccessDenied", 403, "InvalidSignatureException", "RequestExpired")  \
    X(SL_SIGV4_UNSIGNED_HEADERS, "AccessDenied", 403, "InvalidSignatureException",                 \
      "SignatureDoesNotMatch")                                                                     \
    X(SL_SIGV4_BAD_CONTENT_SHA256, "InvalidArgument", 400, "InvalidSignatureException",            \
      "SignatureDoesNotMatch")                                                                     \
    X(SL_SIGV4_CONTENT_SHA256_MISMATCH, "XAmzContentSHA256Mismatch", 400,                          \
      "InvalidSignatureException", "SignatureDoesNotMatch")                                        \
    X(SL_SIGV4_BAD_DIGEST, "BadDigest", 400, "InvalidRequestException", "InvalidParameterValue")   \
    X(SL_SIGV4_INCOMPLETE_BODY, "IncompleteBody", 400, "SerializationException",                   \
      "MalformedQueryString")                                                                      \
    X(SL_SIGV4_BAD_ENCODING, "InvalidRequest", 400, "SerializationException",                      \
      "MalformedQueryString")

enum sl_sigv4_reason {
#define SL_SIGV4_REASON_ENUM(name, s3code, status, jsoncode, querycode) name,
    SL_SIGV4_REASONS(SL_SIGV4_REASON_ENUM)
#undef SL_SIGV4_REASON_ENUM
};

/* The S3 error code of a reason ("" for SL_SIGV4_OK); never NULL. */
const char *sl_sigv4_reason_s3_code(enum sl_sigv4_reason r);
/* The HTTP status S3 answers a reason with. */
int sl_sigv4_reason_status(enum sl_sigv4_reason r);
/* The error code JSON-protocol services use for a reason; never NULL. */
const char *sl_sigv4_reason_json_code(enum sl_sigv4_reason r);
/* The error code query-protocol services (STS, SQS, SNS) use; never NULL. */
const char *sl_sigv4_reason_query_code(enum sl_sigv4_reason r);

/* ---- the request view ------------------------------------------------- */

struct sl_sigv4_header {
    const char *name;  /* as received, any case; NUL-terminated */
    const char *value; /* as received */
};

/*
 * A request as it came on the wire. The http layer must hand over the path
 * and query exactly as the client sent them: SigV4 signs the encoded form,
 * and S3 signs its path without normalizing it. Headers may repeat.
 * Nothing here is copied; the strings must outlive the calls that use them.
 */
struct sl_sigv4_request {
    const char *method;
    const char *path;  /* percent-encoded, no query; "" is taken as "/" */
    const char *query; /* without '?'; NULL or "" when none */
    const struct sl_sigv4_header *headers;
    size_t nheaders;
};

/* The first header named name (case-insensitive), or NULL. */
const char *sl_sigv4_header(const struct sl_sigv4_request *req, const char *name);

/* ---- parse -------------------------------------------------------------- */

/* A request's signature, as parsed. All strings are copies (no pointers
 * into the request); the struct is plain data, with no close. */
struct sl_sigv4_auth {
    bool presigned; /* from the query string rather than Authorization */
    char access_key[SL_SIGV4_MAX_ACCESS_KEY + 1];
    char date[9]; /* the scope's date, YYYYMMDD */
    char region[SL_SIGV4_MAX_SCOPE_PART + 1];
    char service[SL_SIGV4_MAX_SCOPE_PART + 1];
    /* Request time, "20240102T030405Z": x-amz-date, X-Amz-Date, or the Date
     * header converted to this form. */
    char amz_date[17];
    time_t time; /* amz_date in seconds since the epoch */
    /* "host;x-amz-date", lower-cased, in the order signed. */
    char signed_headers[SL_SIGV4_MAX_SIGNED_HEADERS + 1];
    char signature[SL_SIGV4_SIG_HEX + 1];        /* lower-case hex */
    int64_t expires;                             /* presigned: X-Amz-Expires in seconds; else 0 */
    char security_token[SL_SIGV4_MAX_TOKEN + 1]; /* "" when none */
    enum sl_sigv4_reason reason;                 /* set when parse fails */
};

/*
 * Finds and parses the signature of req into *auth (which it overwrites).
 * Returns 0; SL_ENOTFOUND when the request carries no signature at all
 * (anonymous); SL_EINVAL when it carries a malformed one, with err naming
 * the problem and auth->reason saying which AWS error to answer with
 * (SL_SIGV4_UNSUPPORTED for another scheme such as SigV2 or SigV4a, which
 * a development mode may choose to treat as anonymous). Checks only the
 * signature's form; nothing is checked against a clock or a key.
 */
int sl_sigv4_parse(const struct sl_sigv4_request *req, struct sl_sigv4_auth *auth,
                   struct sl_err *err);

/* ---- verify ------------------------------------------------------------- */

/* What x-amz-content-sha256 says about the body. */
enum sl_sigv4_payload {
    SL_SIGV4_PAYLOAD_NONE,                       /* no header: the caller hashes the body */
    SL_SIGV4_PAYLOAD_SHA256,                     /* a hex digest the body must hash to */
    SL_SIGV4_PAYLOAD_UNSIGNED,                   /* UNSIGNED-PAYLOAD */
    SL_SIGV4_PAYLOAD_STREAMING,                  /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    SL_SIGV4_PAYLOAD_STREAMING_TRAILER,          /* ...-PAYLOAD-TRAILER */
    SL_SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

/*
 * Classifies req's x-amz-content-sha256 header. SL_EINVAL (reason
 * SL_SIGV4_BAD_CONTENT_SHA256 in *reason, which may be NULL) for a value
 * that is none of the above, including SigV4a's streaming modes.
 */
int sl_sigv4_payload_kind(const struct sl_sigv4_request *req, enum sl_sigv4_payload *out,
                          enum sl_sigv4_reason *reason, struct sl_err *err);

/*
 * Whether verifying req needs the hash of its body from the caller: true
 * when neither an x-amz-content-sha256 header nor a presigned S3 URL
 * supplies the payload hash (the JSON and query services).
 */
bool sl_sigv4_needs_payload_hash(const struct sl_sigv4_request *req,
                                 const struct sl_sigv4_auth *auth);

/* What verify computed. Embedded: _init before use, _close after. */
struct sl_sigv4_result {
    enum sl_sigv4_reason reason;     /* why verify failed, else OK */
    struct sl_buf canonical_request; /* S3 reports it on SignatureDoesNotMatch */
    struct sl_buf string_to_sign;    /* likewise */
    char scope[SL_SIGV4_SCOPE_SIZE]; /* date/region/service/aws4_request */
    char amz_date[17];
    uint8_t signing_key[SL_SHA256_LEN];   /* for chunk signatures; wiped by _close */
    char signature[SL_SIGV4_SIG_HEX + 1]; /* the signature computed; on success
                                             the seed of the chunk chain */
    enum sl_sigv4_payload payload;        /* what x-amz-content-sha256 said */
    char payload_hash[64 + 1];            /* the payload hash signed (hex or literal) */
};

void sl_sigv4_result_init(struct sl_sigv4_result *res);
void sl_sigv4_result_close(struct sl_sigv4_result *res);

/*
 * Verifies auth (from sl_sigv4_parse on the same req) with secret_key at
 * time now. payload_hash is the lower-case hex SHA-256 of the body, for
 * requests whose payload hash is not given otherwise (see
 * sl_sigv4_needs_payload_hash), else ignored; pass NULL if not computed.
 *
 * The canonical request follows botocore: for service "s3" the path is
 * used exactly as on the wire; for every other service it is normalized
 * (dot segments and empty segments removed) and encoded again. The query
 * is split, each name and value put into canonical encoding, sorted by
 * name then value; a presigned request leaves out X-Amz-Signature.
 *
 * Returns 0 when the signature matches and the time is acceptable; res
 * then holds the signing key and seed signature for sl_chunked_init.
 * SL_EAGAIN when payload_hash is needed but NULL. SL_EINVAL when the
 * secret is longer than SL_SIGV4_MAX_SECRET. SL_EAUTH when refused,
 * with res->reason SL_SIGV4_MISMATCH, _SKEWED (request time more than 15
 * minutes from now), _EXPIRED, _NOT_YET_VALID (presigned) or
 * _UNSIGNED_HEADERS (S3: an x-amz-* header that is not signed). SL_EINVAL
 * for a malformed request (bad x-amz-content-sha256, a scope date that is
 * not the request's date), SL_ETOOBIG / SL_ENOMEM past the caps.
 * res->canonical_request and res->string_to_sign are filled whenever they
 * could be built, so that SignatureDoesNotMatch can report them.
 */
int sl_sigv4_verify(const struct sl_sigv4_request *req, const struct sl_sigv4_auth *auth,
                    const char *secret_key, const char *payload_hash, time_t now,
                    struct sl_sigv4_result *res, struct sl_err *err);

/* ---- signing primitives (also used by tests and by chunk verification) */

/* kSigning = HMAC chain of "AWS4"+secret over date, region, service,
 * "aws4_request". The secret is at most SL_SIGV4_MAX_SECRET bytes. */
void sl_sigv4_signing_key(const char *secret_key, const char *date, const char *region,
                          const char *service, uint8_t out[SL_SHA256_LEN]);
/* Hex HMAC-SHA256 of a string to sign under key. */
void sl_sigv4_sign(const uint8_t key[SL_SHA256_LEN], const char *string_to_sign, size_t n,
                   char out[SL_SIGV4_SIG_HEX + 1]);
/* The signature of one aws-chunked chunk whose data hashes to chunk_sha256
 * ("AWS4-HMAC-SHA256-PAYLOAD" string to sign). */
void sl_sigv4_chunk_signature(const uint8_t key[SL_SHA256_LEN], const char *amz_date,
                              const char *scope, const char *prev_signature,
                              const uint8_t chunk_sha256[SL_SHA256_LEN],
                              char out[SL_SIGV4_SIG_HEX + 1]);
/* The signature of an aws-chunked trailer whose canonical lines
 * ("name:value\n" each) hash to trailer_sha256 ("AWS4-HMAC-SHA256-TRAILER"). */
void sl_sigv4_trailer_signature(const uint8_t key[SL_SHA256_LEN], const char *amz_date,
                                const char *scope, const char *prev_signature,
                                const uint8_t trailer_sha256[SL_SHA256_LEN],
                                char out[SL_SIGV4_SIG_HEX + 1]);

/* ---- signing (the client side) ------------------------------------------------ */

/* The Authorization header's value for req signed for service and region
 * at now: every header of req is signed (host, x-amz-date — which must be
 * now's — and x-amz-content-sha256 among them; x-amz-security-token when
 * the keys are a session's), and req->path is percent-encoded as it will
 * be sent. Canonicalized exactly as sl_sigv4_verify() does. 0, SL_EINVAL
 * (more than 32 headers, parts too long), SL_ETOOBIG (out too small). */
int sl_sigv4_sign_request(const struct sl_sigv4_request *req, const char *service,
                          const char *region, const char *access_key, const char *secret_key,
                          const char *payload_hash, time_t now, char *out, size_t outlen);

/* ---- aws-chunked bodies --------------------------------------------------- */

/* The longest chunk header or trailer line (the decoder's one buffer). */
#define SL_CHUNKED_MAX_LINE 4096
/* Without x-amz-decoded-content-length, the most a body may decode to
 * (S3's largest object, 5 TiB). */
#define SL_CHUNKED_MAX_DECODED (5ull << 40)

/* Receives decoded bytes in order. A non-zero return (a negative SL_E*
 * code) stops decoding; sl_chunked_feed returns it as is. */
typedef int (*sl_chunked_sink_cb)(void *ud, const void *p, size_t n);

struct sl_chunked_config {
    /* SL_SIGV4_PAYLOAD_STREAMING, _STREAMING_TRAILER or
     * _STREAMING_UNSIGNED_TRAILER. */
    enum sl_sigv4_payload mode;
    /* The verified seed: signing key, seed signature, amz_date and scope
     * (copied). NULL decodes signed modes without checking signatures (the
     * development mode, which has no secret). Ignored when unsigned. */
    const struct sl_sigv4_result *seed;
    /* The x-amz-trailer header: the trailer the body ends with (one of
     * x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256), or NULL. */
    const char *trailer;
    /* x-amz-decoded-content-length, or -1 when absent. */
    int64_t decoded_length;
    sl_chunked_sink_cb sink;
    void *ud;
};

/*
 * Fills cfg from req's headers (x-amz-content-sha256, x-amz-trailer,
 * x-amz-decoded-content-length); seed, sink and ud are left NULL for the
 * caller. SL_EINVAL (with *reason) when the body is not aws-chunked or a
 * header is malformed.
 */
int sl_chunked_config_from(struct sl_chunked_config *cfg, const struct sl_sigv4_request *req,
                           enum sl_sigv4_reason *reason, struct sl_err *err);

enum sl_chunked_state {
    SL_CHUNKED_SIZE,    /* reading a chunk header line */
    SL_CHUNKED_DATA,    /* inside a chunk's data */
    SL_CHUNKED_DATA_CR, /* after the data: expecting "\r\n" */
    SL_CHUNKED_DATA_LF,
    SL_CHUNKED_TRAILER, /* after the final chunk: trailer lines */
    SL_CHUNKED_DONE,
    SL_CHUNKED_FAILED,
};

/*
 * An aws-chunked decoder. Fed the raw body in pieces of any size, it hands
 * the decoded bytes to the sink as they arrive (never holding a chunk),
 * hashes each chunk as it streams and checks its signature at the chunk's
 * end, so the sink has already received a chunk whose signature turns out
 * wrong: on any error the caller discards the whole upload. Embedded:
 * _init, then _close (always, even after a failed _init). Only reason is
 * for the caller to read; the rest belongs to chunked.c.
 */
struct sl_chunked {
    struct sl_chunked_config cfg;
    enum sl_chunked_state state;
    enum sl_sigv4_reason reason; /* why it failed, else SL_SIGV4_OK */
    int error;                   /* the sticky error code once FAILED */
    bool verify;                 /* chunk signatures are checked */
    bool signed_chunks;          /* chunk headers carry chunk-signature */
    uint64_t remaining;          /* data bytes left in this chunk */
    uint64_t decoded;            /* decoded bytes so far */
    unsigned chunks;
    struct sl_hash chunk_hash;    /* SHA-256 of this chunk's data */
    struct sl_hash trailer_hash;  /* SHA-256 of the canonical trailer lines */
    struct sl_hash checksum_hash; /* the x-amz-trailer checksum of the data */
    const struct sl_aws_checksum *ck; /* the x-amz-trailer checksum, or NULL */
    uint8_t key[SL_SHA256_LEN];
    char amz_date[17];
    char scope[SL_SIGV4_SCOPE_SIZE];
    char prev_sig[SL_SIGV4_SIG_HEX + 1];  /* last verified signature */
    char chunk_sig[SL_SIGV4_SIG_HEX + 1]; /* this chunk's claimed signature */
    char checksum[96];                    /* the trailer's checksum value, base64 */
    bool have_checksum, have_trailer_sig;
    bool skipped_blank; /* the one blank trailer line some clients send */
    size_t line_len;
    char line[SL_CHUNKED_MAX_LINE + 1];
};

/* SL_EINVAL on a bad config (mode, unknown trailer); SL_ENOMEM. */
int sl_chunked_init(struct sl_chunked *c, const struct sl_chunked_config *cfg, struct sl_err *err);
/*
 * Decodes the next n bytes of the raw body. Returns 0 or, sticky (every
 * later call returns it again) and with c->reason set: the sink's error;
 * SL_EINVAL for malformed framing (non-hex size, missing CRLF, bytes after
 * the end, a missing or undeclared trailer, more data than
 * x-amz-decoded-content-length; reason BAD_ENCODING); SL_ETOOBIG for a
 * line past SL_CHUNKED_MAX_LINE; SL_EAUTH for a wrong chunk or trailer
 * signature (MISMATCH); SL_ECORRUPT for a checksum trailer that does not
 * match the data (BAD_DIGEST, "The CRC32 you specified did not match the
 * calculated checksum.").
 */
int sl_chunked_feed(struct sl_chunked *c, const void *p, size_t n, struct sl_err *err);
/* Called at the end of the raw body: 0 when the stream ended properly,
 * SL_EINVAL (INCOMPLETE_BODY) when it was cut short, or the sticky error. */
int sl_chunked_finish(struct sl_chunked *c, struct sl_err *err);
/* The checksum trailer received and verified ("x-amz-checksum-crc32" and
 * its base64 value, owned by c), once finished; NULL when none. */
const char *sl_chunked_checksum(const struct sl_chunked *c, const char **name);
void sl_chunked_close(struct sl_chunked *c);

#endif
