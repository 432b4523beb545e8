/*
 * S3: routing a request to its operation (path-style and virtual-host
 * style), taking bodies, errors, and the bucket operations.
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

static const struct sl_aws_error errors[] = {S3_ERRORS(SL_ERROR_ROW)};

void s3_error_ex(struct s3_req *s, int id, const char *const *extra, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_call_fail_ex(s->q, id, extra, NULL, "%s", msg);
}

void s3_error(struct s3_req *s, int id, const char *msg)
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
    s3_error_ex(s, id, extra, "%s", msg);
}

int s3_error_id(const char *code)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(errors); i++)
        if (strcmp(errors[i].code, code) == 0)
            return (int)i;
    return S3_E_INTERNAL_ERROR;
}

void s3_no_such_bucket(struct s3_req *s)
{
    s3_error(s, S3_E_NO_SUCH_BUCKET, "The specified bucket does not exist");
}

void s3_no_such_key(struct s3_req *s)
{
    s3_error(s, S3_E_NO_SUCH_KEY, "The specified key does not exist.");
}

void s3_internal(struct s3_req *s, const struct sl_err *err)
{
    sl_error("s3", "%s %s/%s: %s", s->op, s->bucket ? s->bucket : "", s->key ? s->key : "",
             err && err->msg[0] ? err->msg : "internal error");
    s3_error(s, S3_E_INTERNAL_ERROR, "We encountered an internal error. Please try again.");
}

void s3_send_xml(struct s3_req *s, int status)
{
    sl_aws_set_request_id(s->q->http, SL_PROTO_REST_XML, s->q->request_id);
    sl_http_set_header(s->q->http, "Content-Type", "application/xml");
    sl_http_send(s->q->http, status);
}

long s3_int_param(struct s3_req *s, const char *name, long def)
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

void s3_time(int64_t ms, char *out, size_t n)
{
    sl_time_iso8601_ms(ms, out, n);
}

void s3_owner_id(const char *account, char out[65])
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

/* Names that can never be a bucket, even a legacy one. */
static bool bucket_name_plausible(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* ---- bodies ---------------------------------------------------------- */

static void s3_state_free(struct sl_call *q)
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
            s3_error(s, S3_E_INVALID_DIGEST, "The Content-MD5 you specified was invalid.");
            return false;
        }
        if (memcmp(got, md5, SL_MD5_LEN) != 0) {
            s3_error(s, S3_E_BAD_DIGEST,
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
            s3_error(s, S3_E_BAD_DIGEST, msg);
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
        s3_error(s, S3_E_ENTITY_TOO_LARGE,
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

void s3_write(struct s3_req *s, sl_txn_fn fn, void *arg,
              void (*then)(struct s3_req *s, int rc, const struct sl_err *err))
{
    s->then = then;
    sl_call_write(s->q, fn, arg, written);
}

const char *s3_keep(struct s3_req *s, char *text)
{
    const char *kept = text ? sl_arena_strdup(&s->q->http->arena, text) : NULL;
    free(text);
    return kept;
}

static void s3_abort(struct sl_call *q)
{
    s3_state_free(q);
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
                s3_error(s, S3_E_INVALID_REQUEST, msg);
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
        s3_internal(s, NULL);
        return false;
    }
    int rc = setup_checksum(s);
    if (rc) {
        if (rc != SL_EINVAL)
            s3_internal(s, NULL);
        return false;
    }
    s->finish = finish;
    s->q->end = s3_end;
    s->q->abort = s3_abort;
    return true;
}

void s3_take_blob(struct s3_req *s, void (*finish)(struct s3_req *s))
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
            s3_error(s, S3_E_INVALID_ARGUMENT, "Invalid x-amz-decoded-content-length");
            return;
        }
    } else if (!r->has_content_length || streaming) {
        s3_error(s, S3_E_MISSING_CONTENT_LENGTH, "You must provide the Content-Length HTTP header.");
        return;
    }
    if (len > S3_MAX_OBJECT_SIZE) {
        s3_error(s, S3_E_ENTITY_TOO_LARGE,
                 "Your proposed upload exceeds the maximum allowed object size.");
        return;
    }
    if (!take_common(s, finish))
        return;
    if (sl_blob_writer_new(s->q->app->store, &s->writer)) {
        s3_internal(s, NULL);
        return;
    }
    s->q->body_cb = body_blob;
}

void s3_take_xml(struct s3_req *s, void (*finish)(struct s3_req *s))
{
    struct sl_http_request *r = s->q->http;
    if (r->has_content_length && r->content_length > S3_MAX_XML_BODY) {
        s3_error(s, S3_E_MAX_MESSAGE_LENGTH_EXCEEDED, "Your request was too big.");
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

static int s3_new(struct sl_app *app, void **state, struct sl_err *err)
{
    (void)app;
    struct sl_s3 *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    *state = s;
    return 0;
}

static void s3_free(void *state)
{
    struct sl_s3 *s = state;
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static size_t bucket_slot(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % BUCKET_CACHE;
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

static void cache_forget(struct sl_s3 *c, const char *name)
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

int s3_bucket_access(struct s3_req *s, const char *bucket, char *region, size_t rcap)
{
    struct sl_s3 *cache = s->q->svc;
    struct bucket_entry b;
    uint64_t gen = 0;
    if (!cache_get(cache, bucket, &b, &gen)) {
        struct sl_item it;
        int rc = sl_kv_get(s->q->app->store, S3_NS_BUCKETS, "", bucket, &it);
        if (rc == SL_ENOTFOUND) {
            const char *extra[] = {"BucketName", bucket, NULL};
            s3_error_ex(s, S3_E_NO_SUCH_BUCKET, extra, "The specified bucket does not exist");
            return rc;
        }
        if (rc) {
            s3_internal(s, NULL);
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
        s3_error(s, S3_E_ACCESS_DENIED, "Access Denied");
        return SL_EAUTH;
    }
    return 0;
}

int s3_bucket_check(struct s3_req *s)
{
    return s3_bucket_access(s, s->bucket, NULL, 0);
}

struct bucket_create {
    const char *name, *account, *region;
    int64_t now_ms;
    bool existed_mine;
};

static int create_bucket_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    struct bucket_create *c = arg;
    struct sl_item it;
    int rc = sl_txn_get(t, S3_NS_BUCKETS, "", c->name, &it);
    if (rc == 0) {
        json_t *v = json_loadb(it.val, it.val_len, 0, NULL);
        const char *owner = json_string_value(json_object_get(v, "owner"));
        c->existed_mine = owner && strcmp(owner, c->account) == 0;
        json_decref(v);
        sl_item_free(&it);
        return SL_EEXIST;
    }
    if (rc != SL_ENOTFOUND)
        return rc;
    json_t *v = json_pack("{s:s, s:s, s:I}", "owner", c->account, "region", c->region,
                          "created", (json_int_t)c->now_ms);
    char *val = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!val)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    rc = sl_txn_put(t, S3_NS_BUCKETS, "", c->name, val, strlen(val), NULL);
    free(val);
    return rc;
}

static void bucket_created(struct s3_req *s, int rc, const struct sl_err *err)
{
    const struct bucket_create *c = s->q->write_arg;
    if (rc == SL_EEXIST) {
        if (!c->existed_mine) {
            s3_error(s, S3_E_BUCKET_ALREADY_EXISTS,
                     "The requested bucket name is not available. The bucket namespace is "
                     "shared by all users of the system. Please select a different name and "
                     "try again.");
            return;
        }
        if (strcmp(c->region, "us-east-1") != 0) {
            s3_error(s, S3_E_BUCKET_ALREADY_OWNED_BY_YOU,
                     "Your previous request to create the named bucket succeeded and you "
                     "already own it.");
            return;
        }
    } else if (rc) {
        s3_internal(s, err);
        return;
    }
    char loc[300];
    snprintf(loc, sizeof(loc), "/%s", s->bucket);
    sl_http_set_header(s->q->http, "Location", loc);
    s3_send_xml(s, 200);
}

static void create_bucket_finish(struct s3_req *s)
{
    struct sl_arena *a = &s->q->http->arena;
    const char *region = s->q->region;
    if (s->body.len) {
        struct sl_xml_node *root;
        struct sl_err err = {0};
        if (sl_xml_parse(a, s->body.data, s->body.len, &root, &err) ||
            strcmp(root->name, "CreateBucketConfiguration") != 0) {
            s3_error(s, S3_E_MALFORMED_XML,
                     "The XML you provided was not well-formed or did not validate against our "
                     "published schema");
            return;
        }
        const char *loc = sl_xml_child_text(root, "LocationConstraint");
        if (loc && *loc) {
            if (strcmp(loc, "us-east-1") == 0 || strlen(loc) > 30) {
                s3_error(s, S3_E_INVALID_LOCATION_CONSTRAINT,
                         "The specified location-constraint is not valid");
                return;
            }
            region = loc;
        }
    }
    struct bucket_create *c = sl_call_alloc(s->q, sizeof(*c));
    if (!c) {
        s3_internal(s, NULL);
        return;
    }
    *c = (struct bucket_create){.name = s->bucket,
                                .account = s->q->account,
                                .region = region,
                                .now_ms = sl_time_now_ms()};
    s3_write(s, create_bucket_txn, c, bucket_created);
}

void s3_create_bucket(struct s3_req *s)
{
    if (!sl_s3_bucket_name_valid(s->bucket)) {
        s3_error(s, S3_E_INVALID_BUCKET_NAME, "The specified bucket is not valid.");
        return;
    }
    s3_take_xml(s, create_bucket_finish);
}

void s3_head_bucket(struct s3_req *s)
{
    char region[64];
    if (s3_bucket_access(s, s->bucket, region, sizeof(region)))
        return;
    sl_http_set_header(s->q->http, "x-amz-bucket-region", region);
    s3_send_xml(s, 200);
}

void s3_get_bucket_location(struct s3_req *s)
{
    if (s3_bucket_check(s))
        return;
    struct sl_item it;
    if (sl_kv_get(s->q->app->store, S3_NS_BUCKETS, "", s->bucket, &it)) {
        s3_no_such_bucket(s);
        return;
    }
    json_t *v = json_loadb(it.val, it.val_len, 0, NULL);
    const char *region = json_string_value(json_object_get(v, "region"));
    struct sl_buf *b = &s->q->http->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"" S3_XMLNS "\">");
    if (region && strcmp(region, "us-east-1") != 0)
        sl_xml_escape(b, region);
    sl_buf_puts(b, "</LocationConstraint>");
    json_decref(v);
    sl_item_free(&it);
    s3_send_xml(s, 200);
}

struct bucket_delete {
    const char *name;
};

static int delete_bucket_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct bucket_delete *d = arg;
    size_t n = 0;
    int rc = sl_txn_count(t, S3_NS_OBJECTS, d->name, 1, &n);
    if (rc)
        return rc;
    if (n)
        return SL_ECONDITION;
    /* Unfinished multipart uploads do not keep a bucket alive (as on S3):
     * they go with it, parts and all. */
    for (;;) {
        struct sl_item *ups = NULL;
        size_t nu = 0;
        rc = sl_txn_list(t, S3_NS_UPLOADS, d->name, NULL, 256, &ups, &nu);
        for (size_t i = 0; !rc && i < nu; i++) {
            rc = sl_txn_delete_pk(t, S3_NS_PARTS, ups[i].sk, NULL);
            if (!rc)
                rc = sl_txn_delete(t, S3_NS_UPLOADS, d->name, ups[i].sk);
        }
        for (size_t i = 0; i < nu; i++)
            sl_item_free(&ups[i]);
        free(ups);
        if (rc)
            return rc;
        if (nu < 256)
            break;
    }
    return sl_txn_delete(t, S3_NS_BUCKETS, "", d->name);
}

static void bucket_deleted(struct s3_req *s, int rc, const struct sl_err *err)
{
    cache_forget(s->q->svc, s->bucket);
    if (rc == SL_ECONDITION) {
        s3_error(s, S3_E_BUCKET_NOT_EMPTY, "The bucket you tried to delete is not empty");
        return;
    }
    if (rc == SL_ENOTFOUND) {
        s3_no_such_bucket(s);
        return;
    }
    if (rc) {
        s3_internal(s, err);
        return;
    }
    s3_send_xml(s, 204);
}

void s3_delete_bucket(struct s3_req *s)
{
    if (s3_bucket_check(s))
        return;
    struct bucket_delete *d = sl_call_alloc(s->q, sizeof(*d));
    if (!d) {
        s3_internal(s, NULL);
        return;
    }
    d->name = s->bucket;
    s3_write(s, delete_bucket_txn, d, bucket_deleted);
}

void s3_list_buckets(struct s3_req *s)
{
    struct sl_item *items = NULL;
    size_t count = 0;
    int rc = sl_kv_list(s->q->app->store, S3_NS_BUCKETS, "", NULL, NULL, 100000, &items, &count);
    if (rc) {
        s3_internal(s, NULL);
        return;
    }
    char owner[65];
    s3_owner_id(s->q->account, owner);
    struct sl_buf *b = &s->q->http->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"" S3_XMLNS "\"><Owner>");
    sl_xml_element(b, "ID", owner);
    sl_xml_element(b, "DisplayName", s->q->account);
    sl_buf_puts(b, "</Owner><Buckets>");
    for (size_t i = 0; i < count; i++) {
        json_t *v = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        const char *o = json_string_value(json_object_get(v, "owner"));
        if (o && strcmp(o, s->q->account) == 0) {
            char ts[32];
            s3_time(json_integer_value(json_object_get(v, "created")), ts, sizeof(ts));
            sl_buf_puts(b, "<Bucket>");
            sl_xml_element(b, "Name", items[i].sk);
            sl_xml_element(b, "CreationDate", ts);
            sl_buf_puts(b, "</Bucket>");
        }
        json_decref(v);
        sl_item_free(&items[i]);
    }
    free(items);
    sl_buf_puts(b, "</Buckets></ListAllMyBucketsResult>");
    s3_send_xml(s, 200);
}

/* ---- the service ------------------------------------------------------ */

/* Finds the bucket of a virtual-host-style request in Host, if any. */
static const char *vhost_bucket(struct sl_call *q)
{
    const char *host = sl_http_header(q->http, "Host");
    if (!host)
        return NULL;
    const char *end = strrchr(host, ':');
    if (!end || strchr(end, ']'))
        end = host + strlen(host);
    static const char suffix[] = ".localhost";
    size_t n = (size_t)(end - host), sn = sizeof(suffix) - 1;
    if (n <= sn || strncasecmp(end - sn, suffix, sn) != 0)
        return NULL;
    size_t bn = n - sn;
    if (bn >= 4 && strncasecmp(end - sn - 3, ".s3", 3) == 0)
        bn -= 3; /* bucket.s3.localhost */
    if (bn == 2 && strncasecmp(host, "s3", 2) == 0)
        return NULL;
    return sl_arena_strndup(&q->http->arena, host, bn);
}

/* Before routing: the request's bucket and key (path-style or
 * virtual-host-style, where the path the operations are routed by gets
 * the bucket in front), and S3's limits on them. 0, or answered. */
static int s3_prepare(struct sl_call *q)
{
    struct sl_http_request *r = q->http;
    struct s3_req *s = calloc(1, sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    s->q = q;
    s->op = "Unknown";
    q->state = s;
    q->state_free = s3_state_free;

    if (r->header_bytes + strlen(r->query_raw) > S3_MAX_HEADER_SECTION) {
        s3_error(s, S3_E_REQUEST_HEADER_SECTION_TOO_LARGE,
                 "Your request header section exceeds the maximum allowed size.");
        return SL_DONE;
    }
    struct sl_arena *a = &r->arena;
    const char *path = r->path;
    if (path[0] != '/') {
        s3_error(s, S3_E_INVALID_URI, "Couldn't parse the specified URI.");
        return SL_DONE;
    }
    const char *vb = vhost_bucket(q);
    if (vb) {
        s->bucket = vb;
        if (path[1])
            s->key = sl_arena_strdup(a, path + 1);
        size_t bn = strlen(vb), pn = strlen(r->path_raw);
        char *routed = sl_arena_alloc(a, bn + pn + 2);
        if (!routed)
            return SL_ENOMEM;
        routed[0] = '/';
        memcpy(routed + 1, vb, bn);
        memcpy(routed + 1 + bn, r->path_raw, pn + 1);
        r->path_raw = routed;
    } else if (path[1]) {
        const char *slash = strchr(path + 1, '/');
        if (!slash) {
            s->bucket = sl_arena_strdup(a, path + 1);
        } else {
            s->bucket = sl_arena_strndup(a, path + 1, (size_t)(slash - path - 1));
            if (slash[1])
                s->key = sl_arena_strdup(a, slash + 1);
        }
    }
    if (s->bucket && strlen(s->bucket) == 0)
        s->bucket = NULL;
    if (s->bucket && !bucket_name_plausible(s->bucket)) {
        s3_error(s, S3_E_INVALID_BUCKET_NAME, "The specified bucket is not valid.");
        return SL_DONE;
    }
    if (s->key && strlen(s->key) > 1024) {
        s3_error(s, S3_E_KEY_TOO_LONG_ERROR, "Your key is too long");
        return SL_DONE;
    }
    if (s->key && !sl_utf8_valid(s->key, strlen(s->key))) {
        s3_error(s, S3_E_INVALID_URI, "Couldn't parse the specified URI.");
        return SL_DONE;
    }
    return 0;
}

/* The request's state of an operation's handler, named for errors and logs. */
static struct s3_req *op_state(struct sl_call *c)
{
    struct s3_req *s = c->state;
    s->op = c->op->name;
    return s;
}

/* What an operation's handler returns: answered (SL_DONE), waiting
 * (SL_LATER), or taking the body (0). */
static int begun(struct sl_call *c)
{
    return c->http->resp.ready ? SL_DONE : c->waiting ? SL_LATER : 0;
}

SL_OP(s3, ListBuckets)
{
    struct s3_req *s = op_state(c);
    if (s->bucket)
        s3_error(s, S3_E_METHOD_NOT_ALLOWED,
                 "The specified method is not allowed against this resource.");
    else
        s3_list_buckets(s);
    return SL_DONE;
}

SL_OP(s3, CreateBucket)
{
    s3_create_bucket(op_state(c));
    return begun(c);
}

SL_OP(s3, HeadBucket)
{
    s3_head_bucket(op_state(c));
    return begun(c);
}

SL_OP(s3, DeleteBucket)
{
    s3_delete_bucket(op_state(c));
    return begun(c);
}

SL_OP(s3, GetBucketLocation)
{
    s3_get_bucket_location(op_state(c));
    return begun(c);
}

SL_OP(s3, ListObjects)
{
    s3_list_objects(op_state(c), 1);
    return begun(c);
}

SL_OP(s3, ListObjectsV2)
{
    s3_list_objects(op_state(c), 2);
    return begun(c);
}

SL_OP(s3, ListMultipartUploads)
{
    s3_list_uploads(op_state(c));
    return begun(c);
}

SL_OP(s3, DeleteObjects)
{
    s3_delete_objects(op_state(c));
    return begun(c);
}

SL_OP(s3, PutBucketNotificationConfiguration)
{
    s3_put_notification(op_state(c));
    return begun(c);
}

SL_OP(s3, GetBucketNotificationConfiguration)
{
    s3_get_notification(op_state(c));
    return begun(c);
}

SL_OP(s3, PutObject)
{
    s3_put_object_begin(op_state(c));
    return begun(c);
}

SL_OP(s3, CopyObject)
{
    s3_copy_object(op_state(c));
    return begun(c);
}

SL_OP(s3, UploadPart)
{
    s3_upload_part_begin(op_state(c));
    return begun(c);
}

SL_OP(s3, GetObject)
{
    s3_get_object(op_state(c), false);
    return begun(c);
}

SL_OP(s3, HeadObject)
{
    s3_get_object(op_state(c), true);
    return begun(c);
}

SL_OP(s3, DeleteObject)
{
    s3_delete_object(op_state(c));
    return begun(c);
}

SL_OP(s3, ListParts)
{
    s3_list_parts(op_state(c));
    return begun(c);
}

SL_OP(s3, CreateMultipartUpload)
{
    s3_create_multipart(op_state(c));
    return begun(c);
}

SL_OP(s3, CompleteMultipartUpload)
{
    s3_complete_multipart(op_state(c));
    return begun(c);
}

SL_OP(s3, AbortMultipartUpload)
{
    s3_abort_multipart(op_state(c));
    return begun(c);
}

SL_SERVICE_TABLES(s3);

const struct sl_service sl_service_s3 = {
    .name = "s3",
    .model = &sl_model_s3,
    .handlers = sl_s3_handlers,
    .errors = errors,
    .e_internal = S3_E_INTERNAL_ERROR,
    .e_validation = S3_E_INVALID_ARGUMENT,
    .e_serialization = S3_E_MALFORMED_XML,
    .e_too_big = S3_E_MAX_MESSAGE_LENGTH_EXCEEDED,
    .body_cap = S3_MAX_XML_BODY,
    .streaming = true,
    .prepare = s3_prepare,
    .new = s3_new,
    .free = s3_free,
};
