/*
 * What S3's operations share: the error table and answers, parameters and
 * times, taking a request's body (a blob or a small XML document) with its
 * digests checked, waiting for a write, and the cache of buckets with the
 * access check every request makes.
 */
#include "services/s3/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- errors ---------------------------------------------------------- */

const struct sl_aws_error sl_s3_errors[] = {S3_ERRORS(SL_ERROR_ROW)};

void sl_s3_error_ex(struct s3_req *s, int id, const char *const *extra, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_call_fail_ex(s->q, id, extra, NULL, "%s", msg);
}

void sl_s3_error(struct s3_req *s, int id, const char *msg)
{
    const char *extra[7] = {0};
    size_t n = 0;
    if (s->bucket && id == S3_E_NO_SUCH_BUCKET) {
        extra[n++] = "BucketName";
        extra[n++] = s->bucket;
    }
    if (s->key && id == S3_E_NO_SUCH_KEY) {
        extra[n++] = "Key";
        extra[n++] = s->key;
    }
    sl_s3_error_ex(s, id, extra, "%s", msg);
}

int sl_s3_error_id(const char *code)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(sl_s3_errors); i++)
        if (strcmp(sl_s3_errors[i].code, code) == 0)
            return (int)i;
    return S3_E_INTERNAL_ERROR;
}

void sl_s3_no_such_bucket(struct s3_req *s)
{
    sl_s3_error(s, S3_E_NO_SUCH_BUCKET, "The specified bucket does not exist");
}

void sl_s3_no_such_key(struct s3_req *s)
{
    sl_s3_error(s, S3_E_NO_SUCH_KEY, "The specified key does not exist.");
}

void sl_s3_internal(struct s3_req *s, const struct sl_err *err)
{
    sl_error("s3", "%s %s/%s: %s", s->op, s->bucket ? s->bucket : "", s->key ? s->key : "",
             err && err->msg[0] ? err->msg : "internal error");
    sl_s3_error(s, S3_E_INTERNAL_ERROR, "We encountered an internal error. Please try again.");
}

void sl_s3_send_xml(struct s3_req *s, int status)
{
    sl_aws_set_request_id(s->q->http, SL_PROTO_REST_XML, s->q->request_id);
    sl_http_set_header(s->q->http, "Content-Type", "application/xml");
    sl_http_send(s->q->http, status);
}

long sl_s3_int_param(struct s3_req *s, const char *name, long def)
{
    const char *v = sl_http_param(s->q->http, name);
    if (!v)
        return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 0 || errno)
        return -1;
    return n;
}

void sl_s3_time(int64_t ms, char *out, size_t n)
{
    sl_time_iso8601_ms(ms, out, n);
}

void sl_s3_owner_id(const char *account, char out[65])
{
    uint8_t h[SL_SHA256_LEN];
    sl_sha256(account, strlen(account), h);
    sl_hex_encode(h, sizeof(h), out);
}

/* ---- bucket names ---------------------------------------------------- */

bool sl_s3_bucket_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 63)
        return false;
    int dots = 0, digits_only = 1;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '-')
            return false;
        if ((i == 0 || i == n - 1) && !alnum)
            return false;
        if (c == '.') {
            dots++;
            if (name[i + 1] == '.' || name[i + 1] == '-' || (i && name[i - 1] == '-'))
                return false;
        } else if (!(c >= '0' && c <= '9')) {
            digits_only = 0;
        }
    }
    if (dots == 3 && digits_only)
        return false; /* looks like an IP address */
    if (strncmp(name, "xn--", 4) == 0 || strncmp(name, "sthree-", 7) == 0)
        return false;
    if (n >= 8 && strcmp(name + n - 8, "-s3alias") == 0)
        return false;
    if (n >= 7 && strcmp(name + n - 7, "--ol-s3") == 0)
        return false;
    return true;
}

/* ---- bodies ---------------------------------------------------------- */

void sl_s3_state_free(struct sl_call *q)
{
    struct s3_req *s = q->state;
    if (!s)
        return;
    sl_blob_writer_abort(s->writer);
    sl_blob_free(&s->blob);
    sl_buf_free(&s->body);
    sl_hash_close(&s->md5);
    sl_hash_close(&s->checksum);
    free(s);
    q->state = NULL;
}

static int body_blob(struct sl_call *q, const char *data, size_t n)
{
    struct s3_req *s = q->state;
    /* The declared size was checked; the bytes that come are counted. */
    if (s->too_large || sl_blob_writer_size(s->writer) + n > S3_MAX_OBJECT_SIZE) {
        s->too_large = true;
        return 0; /* drained; end() answers */
    }
    sl_hash_update(&s->md5, data, n);
    if (s->has_checksum)
        sl_hash_update(&s->checksum, data, n);
    return sl_blob_writer_write(s->writer, data, n);
}

static int body_xml(struct sl_call *q, const char *data, size_t n)
{
    struct s3_req *s = q->state;
    sl_hash_update(&s->md5, data, n);
    if (s->has_checksum)
        sl_hash_update(&s->checksum, data, n);
    return sl_buf_append(&s->body, data, n);
}

/* Checks Content-MD5 and x-amz-checksum-* against what was received; answers
 * and returns false on a mismatch. md5 receives the body's MD5. */
static bool verify_digests(struct s3_req *s, uint8_t md5[SL_MD5_LEN])
{
    sl_hash_final(&s->md5, md5);
    const char *want = sl_http_header(s->q->http, "Content-MD5");
    if (want) {
        uint8_t got[SL_MD5_LEN + 3];
        size_t len = 0;
        if (sl_base64_decode(want, strlen(want), got, sizeof(got), &len) || len != SL_MD5_LEN) {
            sl_s3_error(s, S3_E_INVALID_DIGEST, "The Content-MD5 you specified was invalid.");
            return false;
        }
        if (memcmp(got, md5, SL_MD5_LEN) != 0) {
            sl_s3_error(s, S3_E_BAD_DIGEST,
                        "The Content-MD5 you specified did not match what we received.");
            return false;
        }
    }
    if (s->has_checksum) {
        uint8_t digest[64];
        size_t dlen = sl_hash_final(&s->checksum, digest);
        const char *val = sl_http_header(s->q->http, s->checksum_ck->header);
        struct sl_buf b;
        sl_buf_init(&b, 0);
        sl_base64_encode(&b, digest, dlen);
        bool ok = b.data && strcmp(b.data, val) == 0;
        sl_buf_free(&b);
        if (!ok) {
            char msg[128];
            snprintf(msg, sizeof(msg), "The %s you specified did not match the calculated checksum.",
                     s->checksum_ck->label);
            sl_s3_error(s, S3_E_BAD_DIGEST, msg);
            return false;
        }
        sl_http_set_header(s->q->http, s->checksum_ck->header, val);
    }
    return true;
}

/* What a step of a request returns once it ran: answered (SL_DONE), or
 * waiting (SL_LATER). */
static int outcome(struct sl_call *q)
{
    return q->http->resp.ready ? SL_DONE : q->waiting ? SL_LATER : SL_EIO;
}

static int s3_end(struct sl_call *q)
{
    struct s3_req *s = q->state;
    if (s->too_large) {
        sl_s3_error(s, S3_E_ENTITY_TOO_LARGE,
                    "Your proposed upload exceeds the maximum allowed object size.");
        return SL_DONE;
    }
    if (!verify_digests(s, s->body_md5))
        return SL_DONE;
    s->finish(s);
    return outcome(q);
}

static int written(struct sl_call *q)
{
    struct s3_req *s = q->state;
    s->then(s, q->write_rc, &q->write_err);
    return outcome(q);
}

void sl_s3_write(struct s3_req *s, sl_txn_fn fn, void *arg,
                 void (*then)(struct s3_req *s, int rc, const struct sl_err *err))
{
    s->then = then;
    sl_call_write(s->q, fn, arg, written);
}

const char *sl_s3_keep(struct s3_req *s, char *text)
{
    const char *kept = text ? sl_arena_strdup(&s->q->http->arena, text) : NULL;
    free(text);
    return kept;
}

static void s3_abort(struct sl_call *q)
{
    sl_s3_state_free(q);
}

/* Picks the x-amz-checksum-* header a request carries, if any. */
static int setup_checksum(struct s3_req *s)
{
    struct sl_http_request *r = s->q->http;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct sl_aws_checksum *ck =
            sl_aws_checksum_find(r->headers[i].name, strlen(r->headers[i].name));
        if (ck) {
            const char *v = r->headers[i].value;
            uint8_t raw[64];
            size_t n = 0;
            if (sl_base64_decode(v, strlen(v), raw, sizeof(raw), &n) || n != ck->len) {
                char msg[128];
                snprintf(msg, sizeof(msg), "Value for %s header is invalid.", ck->header);
                sl_s3_error(s, S3_E_INVALID_REQUEST, msg);
                return SL_EINVAL;
            }
            s->checksum_ck = ck;
            s->has_checksum = true;
            return sl_hash_init(&s->checksum, ck->alg);
        }
    }
    return 0;
}

static bool take_common(struct s3_req *s, void (*finish)(struct s3_req *s))
{
    if (sl_hash_init(&s->md5, SL_HASH_MD5)) {
        sl_s3_internal(s, NULL);
        return false;
    }
    int rc = setup_checksum(s);
    if (rc) {
        if (rc != SL_EINVAL)
            sl_s3_internal(s, NULL);
        return false;
    }
    s->finish = finish;
    s->q->end = s3_end;
    s->q->abort = s3_abort;
    return true;
}

void sl_s3_take_blob(struct s3_req *s, void (*finish)(struct s3_req *s))
{
    struct sl_http_request *r = s->q->http;
    /* An aws-chunked body's size is x-amz-decoded-content-length (and it
     * may come with Transfer-Encoding: chunked instead of Content-Length);
     * any other body's is Content-Length. */
    const char *sha = sl_http_header(r, "x-amz-content-sha256");
    bool streaming = sha && strncmp(sha, "STREAMING-", 10) == 0;
    const char *decoded = sl_http_header(r, "x-amz-decoded-content-length");
    uint64_t len = r->content_length;
    if (streaming && decoded) {
        char *end;
        len = strtoull(decoded, &end, 10);
        if (!*decoded || *end) {
            sl_s3_error(s, S3_E_INVALID_ARGUMENT, "Invalid x-amz-decoded-content-length");
            return;
        }
    } else if (!r->has_content_length || streaming) {
        sl_s3_error(s, S3_E_MISSING_CONTENT_LENGTH,
                    "You must provide the Content-Length HTTP header.");
        return;
    }
    if (len > S3_MAX_OBJECT_SIZE) {
        sl_s3_error(s, S3_E_ENTITY_TOO_LARGE,
                    "Your proposed upload exceeds the maximum allowed object size.");
        return;
    }
    if (!take_common(s, finish))
        return;
    if (sl_blob_writer_new(s->q->app->store, &s->writer)) {
        sl_s3_internal(s, NULL);
        return;
    }
    s->q->body_cb = body_blob;
}

void sl_s3_take_xml(struct s3_req *s, void (*finish)(struct s3_req *s))
{
    struct sl_http_request *r = s->q->http;
    if (r->has_content_length && r->content_length > S3_MAX_XML_BODY) {
        sl_s3_error(s, S3_E_MAX_MESSAGE_LENGTH_EXCEEDED, "Your request was too big.");
        return;
    }
    if (!take_common(s, finish))
        return;
    sl_buf_init(&s->body, S3_MAX_XML_BODY);
    s->q->body_cb = body_xml;
}

/* ---- buckets --------------------------------------------------------- */

/* ---- the bucket cache ------------------------------------------------- */

/*
 * Buckets rarely change and nearly every request checks one, so their
 * owner and region are cached (direct-mapped by name). The cache only
 * answers the early checks: every write still checks the bucket inside its
 * transaction. A deletion bumps the generation, so that a lookup which
 * read the store before it cannot put the deleted bucket back.
 */
#define BUCKET_CACHE 256

struct bucket_entry {
    char name[64], owner[16], region[64];
    bool valid;
};

struct sl_s3 {
    pthread_mutex_t mu;
    uint64_t gen;
    struct bucket_entry cache[BUCKET_CACHE];
};

int sl_s3_new(struct sl_app *app, void **state, struct sl_err *err)
{
    (void)app;
    struct sl_s3 *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    *state = s;
    return 0;
}

void sl_s3_free(void *state)
{
    struct sl_s3 *s = state;
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static size_t bucket_slot(const char *name)
{
    return sl_fnv1a(SL_FNV1A_SEED, name) % BUCKET_CACHE;
}

static bool cache_get(struct sl_s3 *c, const char *name, struct bucket_entry *out, uint64_t *gen)
{
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    struct bucket_entry *e = &c->cache[bucket_slot(name)];
    bool hit = e->valid && strcmp(e->name, name) == 0;
    if (hit)
        *out = *e;
    *gen = c->gen;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static void cache_put(struct sl_s3 *c, const char *name, const char *owner, const char *region,
                      uint64_t gen)
{
    if (!c || strlen(name) >= sizeof(c->cache[0].name))
        return;
    pthread_mutex_lock(&c->mu);
    if (gen == c->gen) {
        struct bucket_entry *e = &c->cache[bucket_slot(name)];
        snprintf(e->name, sizeof(e->name), "%s", name);
        snprintf(e->owner, sizeof(e->owner), "%s", owner);
        snprintf(e->region, sizeof(e->region), "%s", region);
        e->valid = true;
    }
    pthread_mutex_unlock(&c->mu);
}

void sl_s3_bucket_forget(struct sl_s3 *c, const char *name)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->gen++;
    struct bucket_entry *e = &c->cache[bucket_slot(name)];
    if (e->valid && strcmp(e->name, name) == 0)
        e->valid = false;
    pthread_mutex_unlock(&c->mu);
}

int sl_s3_bucket_access(struct s3_req *s, const char *bucket, char *region, size_t rcap)
{
    struct sl_s3 *cache = s->q->svc;
    struct bucket_entry b;
    uint64_t gen = 0;
    if (!cache_get(cache, bucket, &b, &gen)) {
        struct sl_item it;
        int rc = sl_kv_get(s->q->app->store, S3_NS_BUCKETS, "", bucket, &it);
        if (rc == SL_ENOTFOUND) {
            const char *extra[] = {"BucketName", bucket, NULL};
            sl_s3_error_ex(s, S3_E_NO_SUCH_BUCKET, extra, "The specified bucket does not exist");
            return rc;
        }
        if (rc) {
            sl_s3_internal(s, NULL);
            return rc;
        }
        json_t *v = json_loadb(it.val, it.val_len, 0, NULL);
        const char *owner = json_string_value(json_object_get(v, "owner"));
        const char *r = json_string_value(json_object_get(v, "region"));
        snprintf(b.name, sizeof(b.name), "%s", bucket);
        snprintf(b.owner, sizeof(b.owner), "%s", owner ? owner : "");
        snprintf(b.region, sizeof(b.region), "%s", r ? r : "us-east-1");
        json_decref(v);
        sl_item_free(&it);
        cache_put(cache, bucket, b.owner, b.region, gen);
    }
    if (region)
        snprintf(region, rcap, "%s", b.region);
    if (strcmp(b.owner, s->q->account) != 0) {
        sl_s3_error(s, S3_E_ACCESS_DENIED, "Access Denied");
        return SL_EAUTH;
    }
    return 0;
}

int sl_s3_bucket_check(struct s3_req *s)
{
    return sl_s3_bucket_access(s, s->bucket, NULL, 0);
}
