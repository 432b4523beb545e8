/*
 * AWS Signature Version 4: finding a request's signature (Authorization
 * header or presigned query), rebuilding the canonical request and string
 * to sign exactly as AWS and botocore do, and checking the signature and
 * the request time. The aws-chunked body decoder lives in chunked.c.
 *
 * Reference points: botocore/auth.py (SigV4Auth, S3SigV4Auth and the query
 * signers) for the canonical forms; S3's error documentation for the
 * answers to bad requests.
 */
#include "aws/sigv4.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- reasons ------------------------------------------------------------ */

static const struct {
    const char *s3code;
    int status;
    const char *jsoncode, *querycode;
} reasons[] = {
#define SL_SIGV4_REASON_ROW(name, s3code, status, jsoncode, querycode)                           \
    {s3code, status, jsoncode, querycode},
    SL_SIGV4_REASONS(SL_SIGV4_REASON_ROW)
#undef SL_SIGV4_REASON_ROW
};

const char *sl_sigv4_reason_s3_code(enum sl_sigv4_reason r)
{
    return (size_t)r < SL_ARRAY_LEN(reasons) ? reasons[r].s3code : "InternalError";
}

int sl_sigv4_reason_status(enum sl_sigv4_reason r)
{
    return (size_t)r < SL_ARRAY_LEN(reasons) ? reasons[r].status : 500;
}

const char *sl_sigv4_reason_json_code(enum sl_sigv4_reason r)
{
    return (size_t)r < SL_ARRAY_LEN(reasons) ? reasons[r].jsoncode : "InternalFailure";
}

const char *sl_sigv4_reason_query_code(enum sl_sigv4_reason r)
{
    return (size_t)r < SL_ARRAY_LEN(reasons) ? reasons[r].querycode : "InternalFailure";
}

/* ---- small helpers ---------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char to_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_hex(s[i]))
            return false;
    return true;
}

/* Copies n bytes of s into dst[cap] as a string; false when it does not fit. */
static bool copy_str(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

/* Compares without an early exit, so that the time taken does not tell how
 * much of a guessed signature was right. */
static bool equal_ct(const char *a, const char *b, size_t n)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

const char *sl_sigv4_header(const struct sl_sigv4_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value ? req->headers[i].value : "";
    return NULL;
}

static size_t header_count(const struct sl_sigv4_request *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            n++;
    return n;
}

/* One name=value piece of a raw query string. */
struct qpair {
    const char *k, *v;
    size_t klen, vlen;
};

/* Steps *cur through the raw query q..end, skipping empty pieces. */
static bool query_next(const char **cur, const char *end, struct qpair *p)
{
    const char *s = *cur;
    while (s < end && *s == '&')
        s++;
    if (s >= end)
        return false;
    const char *amp = memchr(s, '&', (size_t)(end - s));
    const char *e = amp ? amp : end;
    const char *eq = memchr(s, '=', (size_t)(e - s));
    p->k = s;
    p->klen = (size_t)((eq ? eq : e) - s);
    p->v = eq ? eq + 1 : e;
    p->vlen = (size_t)(e - p->v);
    *cur = e;
    return true;
}

/* Finds the first query parameter whose decoded name is name and decodes
 * its value ('+' as a space, as in the canonical query) into out.
 * 0, SL_ENOTFOUND, SL_EINVAL (bad escape), SL_ETOOBIG, SL_ENOMEM. */
static int query_get(const char *query, const char *name, struct sl_buf *out)
{
    if (!query)
        return SL_ENOTFOUND;
    const char *cur = query, *end = query + strlen(query);
    struct sl_buf key;
    struct qpair p;
    int rc = SL_ENOTFOUND;
    sl_buf_init(&key, SL_SIGV4_MAX_CANONICAL);
    while (query_next(&cur, end, &p)) {
        sl_buf_reset(&key);
        if (sl_uri_decode(&key, p.k, p.klen, true) != 0 || !key.data || strcmp(key.data, name) != 0)
            continue;
        sl_buf_reset(out);
        rc = sl_uri_decode(out, p.v, p.vlen, true);
        if (rc == 0 && !out->data)
            rc = sl_buf_append(out, "", 0);
        break;
    }
    sl_buf_free(&key);
    return rc;
}

static bool query_has(const char *query, const char *name)
{
    struct sl_buf v;
    sl_buf_init(&v, SL_SIGV4_MAX_CANONICAL);
    int rc = query_get(query, name, &v);
    sl_buf_free(&v);
    return rc != SL_ENOTFOUND;
}

/* ---- parse -------------------------------------------------------------- */

static int malformed(struct sl_sigv4_auth *auth, struct sl_err *err, const char *what)
{
    if (auth->presigned) {
        auth->reason = SL_SIGV4_QUERY_MALFORMED;
        return sl_errf(err, SL_EINVAL, "%s", what);
    }
    auth->reason = SL_SIGV4_HEADER_MALFORMED;
    return sl_errf(err, SL_EINVAL, "The authorization header is malformed; %s", what);
}

static bool scope_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* "AKID/YYYYMMDD/region/service/aws4_request" */
static int parse_credential(struct sl_sigv4_auth *auth, const char *s, size_t n, struct sl_err *err)
{
    static const char *const shape =
        "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/"
        "aws4_request\".";
    const char *part[5];
    size_t len[5], np = 0;
    const char *start = s, *end = s + n;
    for (const char *c = s; c <= end; c++) {
        if (c == end || *c == '/') {
            if (np == 5)
                return malformed(auth, err, shape);
            part[np] = start;
            len[np++] = (size_t)(c - start);
            start = c + 1;
        }
    }
    if (np != 5)
        return malformed(auth, err, shape);
    if (len[0] == 0 || !copy_str(auth->access_key, sizeof(auth->access_key), part[0], len[0]))
        return malformed(auth, err, shape);
    for (size_t i = 0; i < len[0]; i++)
        if ((unsigned char)part[0][i] <= ' ' || part[0][i] == 0x7f || part[0][i] == ',')
            return malformed(auth, err, shape);
    if (len[1] != 8 || !copy_str(auth->date, sizeof(auth->date), part[1], len[1]))
        return malformed(auth, err, shape);
    for (size_t i = 0; i < 8; i++)
        if (part[1][i] < '0' || part[1][i] > '9')
            return malformed(auth, err, "the Credential is mal-formed; invalid date.");
    if (len[2] == 0 || !copy_str(auth->region, sizeof(auth->region), part[2], len[2]) ||
        len[3] == 0 || !copy_str(auth->service, sizeof(auth->service), part[3], len[3]))
        return malformed(auth, err, shape);
    for (size_t i = 0; i < len[2]; i++)
        if (!scope_char(part[2][i]))
            return malformed(auth, err, "the Credential is mal-formed; invalid region.");
    for (size_t i = 0; i < len[3]; i++)
        if (!scope_char(part[3][i]))
            return malformed(auth, err, "the Credential is mal-formed; invalid service.");
    if (len[4] != 12 || memcmp(part[4], "aws4_request", 12) != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "the Credential is mal-formed; incorrect terminal \"%.*s\". This endpoint "
                 "uses \"aws4_request\".",
                 (int)SL_MIN(len[4], 32u), part[4]);
        return malformed(auth, err, msg);
    }
    return 0;
}

static bool token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "host;x-amz-date": lower-cased into auth->signed_headers. */
static int parse_signed_headers(struct sl_sigv4_auth *auth, const char *s, size_t n,
                                struct sl_err *err)
{
    if (n == 0 || n > SL_SIGV4_MAX_SIGNED_HEADERS)
        return malformed(auth, err, "invalid SignedHeaders.");
    size_t namelen = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ';') {
            if (namelen == 0)
                return malformed(auth, err, "invalid SignedHeaders: empty header name.");
            namelen = 0;
        } else if (token_char(c)) {
            namelen++;
        } else {
            return malformed(auth, err, "invalid SignedHeaders: bad header name.");
        }
        auth->signed_headers[i] = to_lower(c);
    }
    if (namelen == 0)
        return malformed(auth, err, "invalid SignedHeaders: empty header name.");
    auth->signed_headers[n] = '\0';
    return 0;
}

static int parse_signature(struct sl_sigv4_auth *auth, const char *s, size_t n, struct sl_err *err)
{
    if (n != SL_SIGV4_SIG_HEX || !all_hex(s, n))
        return malformed(auth, err, "the Signature must be 64 hexadecimal characters.");
    for (size_t i = 0; i < n; i++)
        auth->signature[i] = to_lower(s[i]);
    auth->signature[n] = '\0';
    return 0;
}

/* x-amz-date, else Date (converted to the basic format SigV4 signs). */
static int parse_header_date(const struct sl_sigv4_request *req, struct sl_sigv4_auth *auth,
                             struct sl_err *err)
{
    const char *d = sl_sigv4_header(req, "x-amz-date");
    if (d) {
        if (strlen(d) == 16 && sl_time_parse_amz(d, &auth->time) == 0) {
            memcpy(auth->amz_date, d, 17);
            return 0;
        }
    } else if ((d = sl_sigv4_header(req, "date")) != NULL &&
               sl_time_parse_http(d, &auth->time) == 0) {
        sl_time_amz(auth->time, auth->amz_date, sizeof(auth->amz_date));
        return 0;
    }
    auth->reason = SL_SIGV4_MISSING_DATE;
    return sl_errf(err, SL_EINVAL, "AWS authentication requires a valid Date or x-amz-date header");
}

static int parse_token_header(const struct sl_sigv4_request *req, struct sl_sigv4_auth *auth,
                              struct sl_err *err)
{
    const char *t = sl_sigv4_header(req, "x-amz-security-token");
    if (t && !copy_str(auth->security_token, sizeof(auth->security_token), t, strlen(t)))
        return malformed(auth, err, "the security token is too long.");
    return 0;
}

static int parse_authorization(const struct sl_sigv4_request *req, const char *h,
                               struct sl_sigv4_auth *auth, struct sl_err *err)
{
    const char *s = h;
    while (is_space(*s))
        s++;
    const char *alg = s;
    while (*s && !is_space(*s))
        s++;
    size_t alglen = (size_t)(s - alg);
    if (alglen != strlen(SL_SIGV4_ALGORITHM) || memcmp(alg, SL_SIGV4_ALGORITHM, alglen) != 0) {
        auth->reason = SL_SIGV4_UNSUPPORTED;
        return sl_errf(err, SL_EINVAL,
                       "The authorization mechanism you have provided is not supported. Please "
                       "use AWS4-HMAC-SHA256.");
    }
    const char *cred = NULL, *sh = NULL, *sig = NULL;
    size_t credlen = 0, shlen = 0, siglen = 0;
    while (*s) {
        while (*s == ',' || is_space(*s))
            s++;
        if (!*s)
            break;
        const char *k = s;
        while (*s && *s != '=' && *s != ',' && !is_space(*s))
            s++;
        size_t klen = (size_t)(s - k);
        if (*s != '=')
            return malformed(auth, err, "expecting Key=Value components separated by commas.");
        const char *v = ++s;
        while (*s && *s != ',' && !is_space(*s))
            s++;
        size_t vlen = (size_t)(s - v);
        const char **slot = NULL;
        size_t *slotlen = NULL;
        if (klen == 10 && memcmp(k, "Credential", 10) == 0) {
            slot = &cred;
            slotlen = &credlen;
        } else if (klen == 13 && memcmp(k, "SignedHeaders", 13) == 0) {
            slot = &sh;
            slotlen = &shlen;
        } else if (klen == 9 && memcmp(k, "Signature", 9) == 0) {
            slot = &sig;
            slotlen = &siglen;
        } else {
            continue; /* AWS ignores components it does not know */
        }
        if (*slot)
            return malformed(auth, err, "a component is repeated.");
        *slot = v;
        *slotlen = vlen;
    }
    if (!cred || !sh || !sig)
        return malformed(auth, err,
                         "the authorization header requires three components: Credential, "
                         "SignedHeaders, and Signature.");
    int rc = parse_credential(auth, cred, credlen, err);
    if (!rc)
        rc = parse_signed_headers(auth, sh, shlen, err);
    if (!rc)
        rc = parse_signature(auth, sig, siglen, err);
    if (!rc)
        rc = parse_header_date(req, auth, err);
    if (!rc)
        rc = parse_token_header(req, auth, err);
    return rc;
}

/* Reads the decimal X-Amz-Expires, 1..SL_SIGV4_MAX_EXPIRES. */
static int parse_expires(struct sl_sigv4_auth *auth, const char *s, struct sl_err *err)
{
    bool neg = s[0] == '-';
    const char *d = neg ? s + 1 : s;
    size_t n = strlen(d);
    int64_t v = 0;
    if (n == 0)
        return malformed(auth, err, "X-Amz-Expires should be a number");
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return malformed(auth, err, "X-Amz-Expires should be a number");
        if (v <= SL_SIGV4_MAX_EXPIRES)
            v = v * 10 + (d[i] - '0');
    }
    if (neg && v > 0)
        return malformed(auth, err, "X-Amz-Expires must be non-negative");
    if (v < 1)
        return malformed(auth, err, "X-Amz-Expires must be greater than 0");
    if (v > SL_SIGV4_MAX_EXPIRES)
        return malformed(auth, err,
                         "X-Amz-Expires must be less than a week (in seconds) that is 604800");
    auth->expires = v;
    return 0;
}

static int parse_presigned(const struct sl_sigv4_request *req, struct sl_sigv4_auth *auth,
                           struct sl_err *err)
{
    static const char *const required =
        "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
        "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";
    enum { ALG, CRED, DATE, SH, SIG, EXP, TOKEN, NPARAM };
    static const char *const names[NPARAM] = {
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",          "X-Amz-SignedHeaders",
        "X-Amz-Signature", "X-Amz-Expires",    "X-Amz-Security-Token"};
    struct sl_buf v[NPARAM];
    bool have[NPARAM];
    int rc = 0;
    auth->presigned = true;
    for (int i = 0; i < NPARAM; i++)
        sl_buf_init(&v[i], SL_SIGV4_MAX_CANONICAL);
    for (int i = 0; i < NPARAM; i++) {
        int q = query_get(req->query, names[i], &v[i]);
        have[i] = q == 0;
        if (q == SL_EINVAL) {
            rc = malformed(auth, err, "a query parameter has a malformed percent-encoding.");
            goto done;
        }
        if (q && q != SL_ENOTFOUND) {
            rc = sl_errf(err, q, "%s: %s", names[i], sl_strerror(q));
            auth->reason = SL_SIGV4_QUERY_MALFORMED;
            goto done;
        }
    }
    if (!have[ALG] || !have[CRED] || !have[DATE] || !have[SH] || !have[SIG]) {
        rc = malformed(auth, err, required);
        goto done;
    }
    if (strcmp(v[ALG].data, SL_SIGV4_ALGORITHM) != 0) {
        rc = malformed(auth, err, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
        goto done;
    }
    if ((rc = parse_credential(auth, v[CRED].data, v[CRED].len, err)) != 0)
        goto done;
    if (!have[EXP] && strcmp(auth->service, "s3") == 0) {
        rc = malformed(auth, err, required);
        goto done;
    }
    if (v[DATE].len != 16 || sl_time_parse_amz(v[DATE].data, &auth->time) != 0) {
        rc = malformed(auth, err,
                       "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
        goto done;
    }
    memcpy(auth->amz_date, v[DATE].data, 17);
    if (have[EXP] && (rc = parse_expires(auth, v[EXP].data, err)) != 0)
        goto done;
    if ((rc = parse_signed_headers(auth, v[SH].data, v[SH].len, err)) != 0)
        goto done;
    if ((rc = parse_signature(auth, v[SIG].data, v[SIG].len, err)) != 0)
        goto done;
    if (have[TOKEN] &&
        !copy_str(auth->security_token, sizeof(auth->security_token), v[TOKEN].data, v[TOKEN].len))
        rc = malformed(auth, err, "X-Amz-Security-Token is too long.");
done:
    for (int i = 0; i < NPARAM; i++)
        sl_buf_free(&v[i]);
    return rc;
}

int sl_sigv4_parse(const struct sl_sigv4_request *req, struct sl_sigv4_auth *auth,
                   struct sl_err *err)
{
    memset(auth, 0, sizeof(*auth));
    const char *h = sl_sigv4_header(req, "authorization");
    if (h) {
        const char *s = h;
        while (is_space(*s))
            s++;
        if (!*s)
            h = NULL; /* an empty Authorization is no signature */
    }
    bool presigned = query_has(req->query, "X-Amz-Algorithm") ||
                     query_has(req->query, "X-Amz-Credential") ||
                     query_has(req->query, "X-Amz-Signature");
    if (h && presigned) {
        auth->reason = SL_SIGV4_MULTIPLE_AUTH;
        return sl_errf(err, SL_EINVAL,
                       "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                       "parameter, Signature query string parameter or the Authorization header "
                       "should be specified");
    }
    if (h) {
        if (header_count(req, "authorization") > 1)
            return malformed(auth, err, "more than one Authorization header.");
        return parse_authorization(req, h, auth, err);
    }
    if (presigned)
        return parse_presigned(req, auth, err);
    if (query_has(req->query, "AWSAccessKeyId") && query_has(req->query, "Signature")) {
        auth->reason = SL_SIGV4_UNSUPPORTED;
        return sl_errf(err, SL_EINVAL,
                       "The authorization mechanism you have provided is not supported. Please "
                       "use AWS4-HMAC-SHA256.");
    }
    return sl_errf(err, SL_ENOTFOUND, "the request is not signed");
}

/* ---- payload ------------------------------------------------------------ */

int sl_sigv4_payload_kind(const struct sl_sigv4_request *req, enum sl_sigv4_payload *out,
                          enum sl_sigv4_reason *reason, struct sl_err *err)
{
    static const struct {
        const char *literal;
        enum sl_sigv4_payload kind;
    } literals[] = {
        {SL_SIGV4_UNSIGNED_PAYLOAD, SL_SIGV4_PAYLOAD_UNSIGNED},
        {SL_SIGV4_STREAMING_PAYLOAD, SL_SIGV4_PAYLOAD_STREAMING},
        {SL_SIGV4_STREAMING_PAYLOAD_TRAILER, SL_SIGV4_PAYLOAD_STREAMING_TRAILER},
        {SL_SIGV4_STREAMING_UNSIGNED_TRAILER, SL_SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
    };
    const char *v = sl_sigv4_header(req, "x-amz-content-sha256");
    if (!v) {
        *out = SL_SIGV4_PAYLOAD_NONE;
        return 0;
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(literals); i++) {
        if (strcmp(v, literals[i].literal) == 0) {
            *out = literals[i].kind;
            return 0;
        }
    }
    if (strlen(v) == 64 && all_hex(v, 64)) {
        *out = SL_SIGV4_PAYLOAD_SHA256;
        return 0;
    }
    if (reason)
        *reason = SL_SIGV4_BAD_CONTENT_SHA256;
    return sl_errf(err, SL_EINVAL,
                   "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                   "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.");
}

bool sl_sigv4_needs_payload_hash(const struct sl_sigv4_request *req,
                                 const struct sl_sigv4_auth *auth)
{
    if (sl_sigv4_header(req, "x-amz-content-sha256"))
        return false;
    return !(auth->presigned && strcmp(auth->service, "s3") == 0);
}

/* ---- signing primitives ------------------------------------------------- */

void sl_sigv4_signing_key(const char *secret_key, const char *date, const char *region,
                          const char *service, uint8_t out[SL_SHA256_LEN])
{
    char key[4 + SL_SIGV4_MAX_SECRET];
    uint8_t k[SL_SHA256_LEN];
    size_t slen = strlen(secret_key);
    assert(slen <= SL_SIGV4_MAX_SECRET);
    memcpy(key, "AWS4", 4);
    memcpy(key + 4, secret_key, slen);
    sl_hmac_sha256(key, 4 + slen, date, strlen(date), k);
    sl_hmac_sha256(k, sizeof(k), region, strlen(region), k);
    sl_hmac_sha256(k, sizeof(k), service, strlen(service), k);
    sl_hmac_sha256(k, sizeof(k), "aws4_request", 12, out);
    explicit_bzero(key, sizeof(key));
    explicit_bzero(k, sizeof(k));
}

void sl_sigv4_sign(const uint8_t key[SL_SHA256_LEN], const char *string_to_sign, size_t n,
                   char out[SL_SIGV4_SIG_HEX + 1])
{
    uint8_t mac[SL_SHA256_LEN];
    sl_hmac_sha256(key, SL_SHA256_LEN, string_to_sign, n, mac);
    sl_hex_encode(mac, sizeof(mac), out);
}

static void sign_chained(const uint8_t key[SL_SHA256_LEN], const char *alg, const char *amz_date,
                         const char *scope, const char *prev, const char *extra,
                         const uint8_t hash[SL_SHA256_LEN], char out[SL_SIGV4_SIG_HEX + 1])
{
    char hex[2 * SL_SHA256_LEN + 1];
    char sts[64 + 17 + SL_SIGV4_SCOPE_SIZE + 2 * 65 + 65 + 8];
    sl_hex_encode(hash, SL_SHA256_LEN, hex);
    int n =
        snprintf(sts, sizeof(sts), "%s\n%s\n%s\n%s\n%s%s", alg, amz_date, scope, prev, extra, hex);
    sl_sigv4_sign(key, sts, (size_t)SL_MIN(n, (int)sizeof(sts) - 1), out);
}

void sl_sigv4_chunk_signature(const uint8_t key[SL_SHA256_LEN], const char *amz_date,
                              const char *scope, const char *prev_signature,
                              const uint8_t chunk_sha256[SL_SHA256_LEN],
                              char out[SL_SIGV4_SIG_HEX + 1])
{
    sign_chained(key, "AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev_signature,
                 SL_SIGV4_EMPTY_SHA256 "\n", chunk_sha256, out);
}

void sl_sigv4_trailer_signature(const uint8_t key[SL_SHA256_LEN], const char *amz_date,
                                const char *scope, const char *prev_signature,
                                const uint8_t trailer_sha256[SL_SHA256_LEN],
                                char out[SL_SIGV4_SIG_HEX + 1])
{
    sign_chained(key, "AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev_signature, "",
                 trailer_sha256, out);
}

/* ---- canonical request -------------------------------------------------- */

void sl_sigv4_result_init(struct sl_sigv4_result *res)
{
    memset(res, 0, sizeof(*res));
    sl_buf_init(&res->canonical_request, SL_SIGV4_MAX_CANONICAL);
    sl_buf_init(&res->string_to_sign, 1024);
}

void sl_sigv4_result_close(struct sl_sigv4_result *res)
{
    if (!res)
        return;
    sl_buf_free(&res->canonical_request);
    sl_buf_free(&res->string_to_sign);
    explicit_bzero(res->signing_key, sizeof(res->signing_key));
}

/*
 * The path of a non-S3 request, as botocore's normalize_url_path: "" is
 * "/", empty and "." segments go, ".." drops the segment before it; a
 * leading and (with segments left) a trailing '/' stay.
 */
static int normalize_path(const char *p, struct sl_buf *out)
{
    size_t n = strlen(p);
    if (n == 0)
        return sl_buf_putc(out, '/');
    size_t cap = n / 2 + 2, nseg = 0;
    const char **seg = malloc(cap * sizeof(*seg));
    size_t *seglen = malloc(cap * sizeof(*seglen));
    int rc = SL_ENOMEM;
    if (!seg || !seglen)
        goto fail;
    for (const char *s = p, *end = p + n; s <= end;) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *e = slash ? slash : end;
        size_t len = (size_t)(e - s);
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            if (nseg)
                nseg--;
        } else if (len && !(len == 1 && s[0] == '.')) {
            seg[nseg] = s;
            seglen[nseg++] = len;
        }
        s = e + 1;
    }
    rc = 0;
    if (p[0] == '/')
        rc = sl_buf_putc(out, '/');
    for (size_t i = 0; i < nseg && !rc; i++) {
        if (i)
            rc = sl_buf_putc(out, '/');
        if (!rc)
            rc = sl_buf_append(out, seg[i], seglen[i]);
    }
    if (!rc && p[n - 1] == '/' && nseg)
        rc = sl_buf_putc(out, '/');
    if (!rc && !out->data)
        rc = sl_buf_append(out, "", 0);
fail:
    free(seg);
    free(seglen);
    return rc;
}

/* Appends s in SigV4's encoding: decoded, then encoded again with only the
 * unreserved characters (and '/' when keep_slash) left as they are. In a
 * query ('+' is a space there, as S3 reads it) plus_space is set. A
 * malformed escape is kept as sent. */
static int append_reencoded(struct sl_buf *out, const char *s, size_t n, bool keep_slash,
                            bool plus_space)
{
    struct sl_buf dec;
    sl_buf_init(&dec, SL_SIGV4_MAX_CANONICAL);
    int rc = sl_uri_decode(&dec, s, n, plus_space);
    if (rc == SL_EINVAL)
        rc = sl_buf_append(out, s, n);
    else if (rc == 0)
        rc = sl_uri_encode(out, dec.data ? dec.data : "", dec.len, keep_slash);
    sl_buf_free(&dec);
    return rc;
}

struct qent {
    const char *k, *v;
};

static int qent_cmp(const void *a, const void *b)
{
    const struct qent *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

/* The canonical query string: pieces re-encoded, sorted by name then value,
 * X-Amz-Signature left out of a presigned request. */
static int append_canonical_query(struct sl_buf *out, const char *q, bool presigned)
{
    if (!q || !*q)
        return 0;
    const char *end = q + strlen(q), *cur = q;
    size_t count = 1;
    for (const char *s = q; s < end; s++)
        count += *s == '&';
    struct sl_buf scratch;
    sl_buf_init(&scratch, SL_SIGV4_MAX_CANONICAL);
    size_t *off = malloc(2 * count * sizeof(*off));
    struct qent *ent = malloc(count * sizeof(*ent));
    size_t nent = 0;
    int rc = SL_ENOMEM;
    struct qpair p;
    if (!off || !ent)
        goto fail;
    /* Offsets first: scratch may move while it grows. */
    while (query_next(&cur, end, &p)) {
        size_t koff = scratch.len;
        if ((rc = append_reencoded(&scratch, p.k, p.klen, false, true)) != 0 ||
            (rc = sl_buf_putc(&scratch, '\0')) != 0)
            goto fail;
        if (presigned && strcmp(scratch.data + koff, "X-Amz-Signature") == 0) {
            scratch.len = koff;
            continue;
        }
        size_t voff = scratch.len;
        if ((rc = append_reencoded(&scratch, p.v, p.vlen, false, true)) != 0 ||
            (rc = sl_buf_putc(&scratch, '\0')) != 0)
            goto fail;
        off[2 * nent] = koff;
        off[2 * nent + 1] = voff;
        nent++;
    }
    for (size_t i = 0; i < nent; i++) {
        ent[i].k = scratch.data + off[2 * i];
        ent[i].v = scratch.data + off[2 * i + 1];
    }
    qsort(ent, nent, sizeof(*ent), qent_cmp);
    rc = 0;
    for (size_t i = 0; i < nent && !rc; i++) {
        if (i)
            rc = sl_buf_putc(out, '&');
        if (!rc)
            rc = sl_buf_puts(out, ent[i].k);
        if (!rc)
            rc = sl_buf_putc(out, '=');
        if (!rc)
            rc = sl_buf_puts(out, ent[i].v);
    }
fail:
    free(off);
    free(ent);
    sl_buf_free(&scratch);
    return rc;
}

/* A header value trimmed, with inner runs of white space made one space. */
static int append_trimmed(struct sl_buf *out, const char *v)
{
    bool wrote = false, space = false;
    for (; *v; v++) {
        if (is_space(*v)) {
            space = true;
            continue;
        }
        if (space && wrote) {
            int rc = sl_buf_putc(out, ' ');
            if (rc)
                return rc;
        }
        int rc = sl_buf_putc(out, *v);
        if (rc)
            return rc;
        space = false;
        wrote = true;
    }
    return 0;
}

/* "name:value\n" for each signed header, in the order signed; repeated
 * headers joined with ','. A signed header that is absent signs as empty. */
static int append_canonical_headers(struct sl_buf *out, const struct sl_sigv4_request *req,
                                    const char *signed_headers)
{
    char name[SL_SIGV4_MAX_SIGNED_HEADERS + 1];
    const char *s = signed_headers;
    while (*s) {
        const char *e = strchr(s, ';');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        memcpy(name, s, n);
        name[n] = '\0';
        int rc = sl_buf_append(out, name, n);
        if (!rc)
            rc = sl_buf_putc(out, ':');
        bool first = true;
        for (size_t i = 0; i < req->nheaders && !rc; i++) {
            const struct sl_sigv4_header *h = &req->headers[i];
            if (!h->name || strcasecmp(h->name, name) != 0)
                continue;
            if (!first)
                rc = sl_buf_putc(out, ',');
            if (!rc)
                rc = append_trimmed(out, h->value ? h->value : "");
            first = false;
        }
        if (!rc)
            rc = sl_buf_putc(out, '\n');
        if (rc)
            return rc;
        s = e ? e + 1 : s + n;
    }
    return 0;
}

static bool is_signed(const char *signed_headers, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = signed_headers; *s;) {
        const char *e = strchr(s, ';');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && strncasecmp(s, name, n) == 0)
            return true;
        s += len + (e ? 1 : 0);
    }
    return false;
}

/* Builds the canonical request with canonical URI uri, the string to sign,
 * and the signature they give under res->signing_key. */
static int compute(const struct sl_sigv4_request *req, const struct sl_sigv4_auth *auth,
                   const char *uri, size_t urilen, const char *payload_hash,
                   struct sl_buf *canonical, struct sl_buf *sts, const struct sl_sigv4_result *res,
                   char sig[SL_SIGV4_SIG_HEX + 1])
{
    sl_buf_reset(canonical);
    sl_buf_reset(sts);
    int rc = sl_buf_puts(canonical, req->method ? req->method : "");
    if (!rc)
        rc = sl_buf_putc(canonical, '\n');
    if (!rc)
        rc = sl_buf_append(canonical, uri, urilen);
    if (!rc)
        rc = sl_buf_putc(canonical, '\n');
    if (!rc)
        rc = append_canonical_query(canonical, req->query, auth->presigned);
    if (!rc)
        rc = sl_buf_putc(canonical, '\n');
    if (!rc)
        rc = append_canonical_headers(canonical, req, auth->signed_headers);
    if (!rc)
        rc = sl_buf_printf(canonical, "\n%s\n%s", auth->signed_headers, payload_hash);
    if (rc)
        return rc;
    uint8_t h[SL_SHA256_LEN];
    char hex[2 * SL_SHA256_LEN + 1];
    sl_sha256(canonical->data, canonical->len, h);
    sl_hex_encode(h, sizeof(h), hex);
    rc = sl_buf_printf(sts, "%s\n%s\n%s\n%s", SL_SIGV4_ALGORITHM, auth->amz_date, res->scope, hex);
    if (rc)
        return rc;
    sl_sigv4_sign(res->signing_key, sts->data, sts->len, sig);
    return 0;
}

static void swap_buf(struct sl_buf *a, struct sl_buf *b)
{
    struct sl_buf t = *a;
    *a = *b;
    *b = t;
}

static int refuse(struct sl_sigv4_result *res, enum sl_sigv4_reason reason, struct sl_err *err,
                  int code, const char *msg)
{
    res->reason = reason;
    return sl_errf(err, code, "%s", msg);
}

int sl_sigv4_verify(const struct sl_sigv4_request *req, const struct sl_sigv4_auth *auth,
                    const char *secret_key, const char *payload_hash, time_t now,
                    struct sl_sigv4_result *res, struct sl_err *err)
{
    bool s3 = strcmp(auth->service, "s3") == 0;
    struct sl_buf uri, alt, alt_canonical, alt_sts;
    char alt_sig[SL_SIGV4_SIG_HEX + 1];
    const char *ph = sl_sigv4_header(req, "x-amz-content-sha256");
    const char *path = req->path && *req->path ? req->path : "/";
    int64_t skew = (int64_t)auth->time - (int64_t)now;
    bool matched = false;
    int rc;
    sl_buf_init(&uri, SL_SIGV4_MAX_CANONICAL);
    sl_buf_init(&alt, SL_SIGV4_MAX_CANONICAL);
    sl_buf_init(&alt_canonical, SL_SIGV4_MAX_CANONICAL);
    sl_buf_init(&alt_sts, 1024);
    res->reason = SL_SIGV4_OK;
    sl_buf_reset(&res->canonical_request);
    sl_buf_reset(&res->string_to_sign);
    res->signature[0] = '\0';

    if (strlen(secret_key) > SL_SIGV4_MAX_SECRET) {
        rc = sl_errf(err, SL_EINVAL, "the secret key is longer than %d bytes", SL_SIGV4_MAX_SECRET);
        goto done;
    }
    if (memcmp(auth->date, auth->amz_date, 8) != 0) {
        rc = refuse(res, auth->presigned ? SL_SIGV4_QUERY_MALFORMED : SL_SIGV4_HEADER_MALFORMED,
                    err, SL_EINVAL, "Invalid credential date. Date is not the same as X-Amz-Date.");
        goto done;
    }
    if ((rc = sl_sigv4_payload_kind(req, &res->payload, &res->reason, err)) != 0)
        goto done;
    if (!ph && auth->presigned && s3) {
        ph = SL_SIGV4_UNSIGNED_PAYLOAD;
        res->payload = SL_SIGV4_PAYLOAD_UNSIGNED;
    }
    if (!ph) {
        if (!payload_hash) {
            rc = sl_errf(err, SL_EAGAIN, "the payload hash is needed to verify this request");
            goto done;
        }
        if (strlen(payload_hash) != 64 || !all_hex(payload_hash, 64)) {
            rc = sl_errf(err, SL_EINVAL, "the payload hash must be 64 hexadecimal characters");
            goto done;
        }
        ph = payload_hash;
    }
    snprintf(res->payload_hash, sizeof(res->payload_hash), "%s", ph);
    snprintf(res->scope, sizeof(res->scope), "%s/%s/%s/aws4_request", auth->date, auth->region,
             auth->service);
    memcpy(res->amz_date, auth->amz_date, sizeof(res->amz_date));
    sl_sigv4_signing_key(secret_key, auth->date, auth->region, auth->service, res->signing_key);

    if (s3)
        rc = sl_buf_puts(&uri, path);
    else if ((rc = normalize_path(path, &alt)) == 0)
        rc = sl_uri_encode(&uri, alt.data, alt.len, true);
    if (rc)
        goto too_big;
    if ((rc = compute(req, auth, uri.data, uri.len, ph, &res->canonical_request,
                      &res->string_to_sign, res, res->signature)) != 0)
        goto too_big;
    matched = equal_ct(res->signature, auth->signature, SL_SIGV4_SIG_HEX);
    if (!matched && s3) {
        /* S3 signs the path as sent; a client that encoded it differently
         * from its canonical form (a literal '!' or '*', say) signed the
         * canonical form. */
        sl_buf_reset(&alt);
        rc = append_reencoded(&alt, path, strlen(path), true, false);
        if (rc == 0 && strcmp(alt.data ? alt.data : "", uri.data) != 0 &&
            compute(req, auth, alt.data, alt.len, ph, &alt_canonical, &alt_sts, res, alt_sig) ==
                0 &&
            equal_ct(alt_sig, auth->signature, SL_SIGV4_SIG_HEX)) {
            matched = true;
            swap_buf(&res->canonical_request, &alt_canonical);
            swap_buf(&res->string_to_sign, &alt_sts);
            memcpy(res->signature, alt_sig, sizeof(alt_sig));
        }
    }

    if (auth->presigned && auth->expires > 0) {
        if (skew > SL_SIGV4_MAX_SKEW) {
            rc = refuse(res, SL_SIGV4_NOT_YET_VALID, err, SL_EAUTH, "Request is not valid yet");
            goto done;
        }
        if (-skew > auth->expires) {
            rc = refuse(res, SL_SIGV4_EXPIRED, err, SL_EAUTH, "Request has expired");
            goto done;
        }
    } else if (skew > SL_SIGV4_MAX_SKEW || -skew > SL_SIGV4_MAX_SKEW) {
        if (s3) {
            rc = refuse(res, SL_SIGV4_SKEWED, err, SL_EAUTH,
                        "The difference between the request time and the current time is too "
                        "large.");
        } else {
            char nowbuf[17], edge[17];
            sl_time_amz(now, nowbuf, sizeof(nowbuf));
            res->reason = SL_SIGV4_SKEWED;
            if (skew < 0) {
                sl_time_amz(now - SL_SIGV4_MAX_SKEW, edge, sizeof(edge));
                rc = sl_errf(err, SL_EAUTH,
                             "Signature expired: %s is now earlier than %s (%s - 15 min.)",
                             auth->amz_date, edge, nowbuf);
            } else {
                sl_time_amz(now + SL_SIGV4_MAX_SKEW, edge, sizeof(edge));
                rc = sl_errf(err, SL_EAUTH,
                             "Signature not yet current: %s is still later than %s (%s + 15 min.)",
                             auth->amz_date, edge, nowbuf);
            }
        }
        goto done;
    }
    if (s3 && !auth->presigned) {
        for (size_t i = 0; i < req->nheaders; i++) {
            const char *name = req->headers[i].name;
            if (name && strncasecmp(name, "x-amz-", 6) == 0 &&
                !is_signed(auth->signed_headers, name)) {
                res->reason = SL_SIGV4_UNSIGNED_HEADERS;
                rc = sl_errf(err, SL_EAUTH,
                             "There were headers present in the request which were not signed: %s",
                             name);
                goto done;
            }
        }
    }
    if (!matched) {
        rc = refuse(res, SL_SIGV4_MISMATCH, err, SL_EAUTH,
                    s3 ? "The request signature we calculated does not match the signature you "
                         "provided. Check your key and signing method."
                       : "The request signature we calculated does not match the signature you "
                         "provided. Check your AWS Secret Access Key and signing method. Consult "
                         "the service documentation for details.");
        goto done;
    }
    rc = 0;
    goto done;
too_big:
    if (rc == SL_ETOOBIG)
        sl_errf(err, rc, "the request is too large to verify its signature");
    else
        sl_errf(err, rc, "verifying the signature: %s", sl_strerror(rc));
done:
    sl_buf_free(&uri);
    sl_buf_free(&alt);
    sl_buf_free(&alt_canonical);
    sl_buf_free(&alt_sts);
    return rc;
}

/* ---- signing a request (the client side) ------------------------------------------------ */

static int hdr_name_cmp(const void *a, const void *b)
{
    return strcasecmp(((const struct sl_sigv4_header *)a)->name,
                      ((const struct sl_sigv4_header *)b)->name);
}

int sl_sigv4_sign_request(const struct sl_sigv4_request *req, const char *service,
                          const char *region, const char *access_key, const char *secret_key,
                          const char *payload_hash, time_t now, char *out, size_t outlen)
{
    struct sl_sigv4_auth auth = {0};
    struct sl_sigv4_result res;
    char amz_date[17];
    sl_time_amz(now, amz_date, sizeof(amz_date));
    if (strlen(region) > SL_SIGV4_MAX_SCOPE_PART || strlen(service) > SL_SIGV4_MAX_SCOPE_PART ||
        strlen(secret_key) > SL_SIGV4_MAX_SECRET || req->nheaders > 32)
        return SL_EINVAL;
    memcpy(auth.amz_date, amz_date, sizeof(auth.amz_date));
    memcpy(auth.date, amz_date, 8);
    snprintf(auth.region, sizeof(auth.region), "%s", region);
    snprintf(auth.service, sizeof(auth.service), "%s", service);
    /* Every header is signed, in the canonical (sorted, lower-case) order. */
    struct sl_sigv4_header sorted[32];
    memcpy(sorted, req->headers, req->nheaders * sizeof(*sorted));
    qsort(sorted, req->nheaders, sizeof(*sorted), hdr_name_cmp);
    size_t at = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        size_t n = strlen(sorted[i].name);
        if (at + n + 2 > sizeof(auth.signed_headers))
            return SL_EINVAL;
        if (i)
            auth.signed_headers[at++] = ';';
        for (size_t k = 0; k < n; k++)
            auth.signed_headers[at++] = to_lower(sorted[i].name[k]);
    }
    auth.signed_headers[at] = '\0';
    sl_sigv4_result_init(&res);
    snprintf(res.scope, sizeof(res.scope), "%s/%s/%s/aws4_request", auth.date, region, service);
    sl_sigv4_signing_key(secret_key, auth.date, region, service, res.signing_key);
    struct sl_buf uri, norm;
    sl_buf_init(&uri, SL_SIGV4_MAX_CANONICAL);
    sl_buf_init(&norm, SL_SIGV4_MAX_CANONICAL);
    const char *path = req->path && *req->path ? req->path : "/";
    int rc;
    if (strcmp(service, "s3") == 0)
        rc = sl_buf_puts(&uri, path);
    else if ((rc = normalize_path(path, &norm)) == 0)
        rc = sl_uri_encode(&uri, norm.data, norm.len, true);
    if (!rc)
        rc = compute(req, &auth, uri.data, uri.len, payload_hash, &res.canonical_request,
                     &res.string_to_sign, &res, res.signature);
    if (!rc && snprintf(out, outlen, "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                        SL_SIGV4_ALGORITHM, access_key, res.scope, auth.signed_headers,
                        res.signature) >= (int)outlen)
        rc = SL_ETOOBIG;
    sl_buf_free(&uri);
    sl_buf_free(&norm);
    sl_sigv4_result_close(&res);
    return rc;
}
