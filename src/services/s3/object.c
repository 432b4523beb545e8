/*
 * S3 objects: PutObject, GetObject/HeadObject (ranges, conditions),
 * DeleteObject(s) and CopyObject. The metadata kept with each object is
 * meta.c's.
 */
#include "services/s3/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct put_txn {
    const char *bucket, *key;
    const char *val;
    const struct sl_blob *blob;
    struct s3_write_cond cond;
    struct s3_notify notify;
    const char *event;
    char etag[48];
    uint64_t size;
    int64_t mtime_ms;
    bool no_bucket; /* the bucket was gone (not the key of an If-Match) */
};

static int put_object_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct put_txn *p = arg;
    struct sl_item b;
    int rc = sl_txn_get(t, S3_NS_BUCKETS, "", p->bucket, &b);
    if (rc) {
        p->no_bucket = rc == SL_ENOTFOUND;
        return rc;
    }
    rc = sl_s3_write_condition(t, p->bucket, p->key, &p->cond);
    if (!rc)
        rc = sl_txn_put(t, S3_NS_OBJECTS, p->bucket, p->key, p->val, strlen(p->val), p->blob);
    if (!rc)
        rc = sl_s3_notify_txn(t, &p->notify, &b, p->bucket, p->key, p->event, p->size, p->etag);
    sl_item_free(&b);
    return rc;
}

/* The object's write ended: PutObject's answer is its ETag, CopyObject's
 * a CopyObjectResult. */
static void object_stored(struct s3_req *s, int rc, const struct sl_err *err)
{
    const struct put_txn *p = s->q->write_arg;
    if (rc) {
        sl_blob_discard(s->q->app->store, &s->blob);
        if (p->no_bucket)
            sl_s3_no_such_bucket(s);
        else if (rc == SL_ECONDITION || rc == SL_ENOTFOUND)
            sl_s3_write_cond_error(s, rc);
        else
            sl_s3_internal(s, err);
        return;
    }
    char etag[64];
    snprintf(etag, sizeof(etag), "\"%s\"", p->etag);
    struct sl_http_request *r = s->q->http;
    if (strcmp(s->op, "CopyObject") != 0) {
        sl_http_set_header(r, "ETag", etag);
        sl_s3_send_xml(s, 200);
        return;
    }
    char ts[32];
    sl_s3_time(p->mtime_ms, ts, sizeof(ts));
    struct sl_buf *b = &r->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult xmlns=\"" S3_XMLNS "\">");
    sl_xml_element(b, "LastModified", ts);
    sl_xml_element(b, "ETag", etag);
    sl_buf_puts(b, "</CopyObjectResult>");
    sl_s3_send_xml(s, 200);
}

/* Commits an object whose bytes are in blob (taken), if cond (may be NULL)
 * holds; object_stored() answers. */
static void store_object(struct s3_req *s, const struct s3_object *o, struct sl_blob *blob,
                         const struct s3_write_cond *cond)
{
    s->blob = *blob;
    *blob = (struct sl_blob){0};
    struct put_txn *p = sl_call_alloc(s->q, sizeof(*p));
    const char *val = sl_s3_keep(s, sl_s3_object_dump(o));
    if (!p || !val) {
        sl_blob_discard(s->q->app->store, &s->blob);
        sl_s3_internal(s, NULL);
        return;
    }
    *p = (struct put_txn){.bucket = s->bucket,
                          .key = s->key,
                          .val = val,
                          .blob = &s->blob,
                          .event = strcmp(s->op, "CopyObject") == 0 ? "ObjectCreated:Copy"
                                                                    : "ObjectCreated:Put",
                          .size = o->size,
                          .mtime_ms = o->mtime_ms};
    memcpy(p->etag, o->etag, sizeof(p->etag));
    sl_s3_notify_init(s, &p->notify);
    if (cond)
        p->cond = *cond;
    sl_s3_write(s, put_object_txn, p, object_stored);
}

static void put_object_finish(struct s3_req *s)
{
    struct s3_object o = {0};
    struct sl_blob blob = {0};
    int rc = sl_s3_object_from_request(s, &o);
    if (rc == SL_ETOOBIG) {
        sl_s3_error(s, S3_E_METADATA_TOO_LARGE,
                    "Your metadata headers exceed the maximum allowed metadata size.");
        goto done;
    }
    rc = sl_blob_writer_finish(s->writer, &blob);
    s->writer = NULL; /* finish frees it */
    if (rc) {
        sl_s3_internal(s, NULL);
        goto done;
    }
    sl_hex_encode(s->body_md5, SL_MD5_LEN, o.etag);
    o.size = blob.size;
    o.mtime_ms = sl_time_now_ms();
    struct s3_write_cond cond;
    sl_s3_write_cond_init(s, &cond);
    store_object(s, &o, &blob, &cond);
done:
    sl_blob_free(&blob);
    sl_s3_object_free(&o);
}

void sl_s3_put_object_begin(struct s3_req *s)
{
    /* Fail before the body arrives when the bucket is missing, as S3 does
     * (a client sending Expect: 100-continue never uploads the body). */
    if (sl_s3_bucket_check(s))
        return;
    sl_s3_take_blob(s, put_object_finish);
}

/* ---- GetObject / HeadObject ----------------------------------------- */

/* Evaluates the conditional headers (RFC 7232 order, as S3 does): 0 to go
 * on, else the status to answer with (304 or 412). */
static int check_conditions(struct sl_http_request *r, const struct s3_object *o,
                            const char *prefix)
{
    char h[64];
    time_t mtime = (time_t)(o->mtime_ms / 1000), t;
    snprintf(h, sizeof(h), "%sIf-Match", prefix);
    const char *im = sl_http_header(r, h);
    snprintf(h, sizeof(h), "%sIf-None-Match", prefix);
    const char *inm = sl_http_header(r, h);
    snprintf(h, sizeof(h), "%sIf-Modified-Since", prefix);
    const char *ims = sl_http_header(r, h);
    snprintf(h, sizeof(h), "%sIf-Unmodified-Since", prefix);
    const char *ius = sl_http_header(r, h);
    if (im) {
        if (!sl_s3_etag_matches(im, o->etag))
            return 412;
    } else if (ius && sl_time_parse_http(ius, &t) == 0 && mtime > t) {
        return 412;
    }
    if (inm) {
        if (sl_s3_etag_matches(inm, o->etag))
            return 304;
    } else if (ims && sl_time_parse_http(ims, &t) == 0 && mtime <= t) {
        return 304;
    }
    return 0;
}

/* What a Range header asks for. */
enum range {
    RANGE_NONE,          /* the whole object: absent, malformed or several ranges */
    RANGE_PART,          /* [*first, *last] */
    RANGE_UNSATISFIABLE, /* past the object's end */
};

/* Parses a single byte range against size, as S3 does. */
static enum range parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return RANGE_NONE;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        if (p[1] < '0' || p[1] > '9')
            return RANGE_NONE;
        uint64_t n = strtoull(p + 1, &end, 10);
        if (*end)
            return RANGE_NONE;
        if (n == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        *first = n >= size ? 0 : size - n;
        *last = size - 1;
        return RANGE_PART;
    }
    if (*p < '0' || *p > '9')
        return RANGE_NONE;
    uint64_t a = strtoull(p, &end, 10);
    if (*end != '-')
        return RANGE_NONE;
    p = end + 1;
    uint64_t b = UINT64_MAX;
    if (*p) {
        if (*p < '0' || *p > '9')
            return RANGE_NONE;
        b = strtoull(p, &end, 10);
        if (*end || b < a)
            return RANGE_NONE;
    }
    if (a >= size)
        return RANGE_UNSATISFIABLE;
    *first = a;
    *last = b >= size ? size - 1 : b;
    return RANGE_PART;
}

/* response-* query parameters that override headers of a GET. */
static const struct {
    const char *param, *header;
} overrides[] = {
    {"response-content-type", "Content-Type"},
    {"response-content-language", "Content-Language"},
    {"response-expires", "Expires"},
    {"response-cache-control", "Cache-Control"},
    {"response-content-disposition", "Content-Disposition"},
    {"response-content-encoding", "Content-Encoding"},
};

void sl_s3_get_object(struct s3_req *s, bool head)
{
    struct sl_http_request *r = s->q->http;
    struct sl_store *st = s->q->app->store;
    if (sl_s3_bucket_check(s))
        return;
    for (int attempt = 0; attempt < 3; attempt++) {
        struct sl_item it;
        int rc = sl_kv_get(st, S3_NS_OBJECTS, s->bucket, s->key, &it);
        if (rc == SL_ENOTFOUND) {
            sl_s3_no_such_key(s);
            return;
        }
        struct s3_object o;
        if (rc || sl_s3_object_parse(&it, &o)) {
            if (!rc)
                sl_item_free(&it);
            sl_s3_internal(s, NULL);
            return;
        }
        int fd = -1;
        rc = sl_blob_open(st, &it.blob, &fd);
        if (rc == SL_ENOTFOUND) {
            /* Replaced between the read and the open: read again. */
            sl_s3_object_free(&o);
            sl_item_free(&it);
            continue;
        }
        if (rc) {
            sl_s3_object_free(&o);
            sl_item_free(&it);
            sl_s3_internal(s, NULL);
            return;
        }
        int cond = check_conditions(r, &o, "");
        uint64_t first = 0, last = o.size ? o.size - 1 : 0;
        enum range range =
            cond ? RANGE_NONE : parse_range(sl_http_header(r, "Range"), o.size, &first, &last);
        if (cond == 412) {
            sl_s3_error(s, S3_E_PRECONDITION_FAILED,
                        "At least one of the pre-conditions you specified did not hold");
        } else if (range == RANGE_UNSATISFIABLE) {
            char actual[32];
            snprintf(actual, sizeof(actual), "%llu", (unsigned long long)o.size);
            const char *extra[] = {"RangeRequested", sl_http_header(r, "Range"),
                                   "ActualObjectSize", actual, NULL};
            sl_s3_error_ex(s, S3_E_INVALID_RANGE, extra, "The requested range is not satisfiable");
        } else {
            sl_s3_object_headers(s, &o);
            sl_aws_set_request_id(r, SL_PROTO_REST_XML, s->q->request_id);
            if (!head) {
                for (size_t k = 0; k < SL_ARRAY_LEN(overrides); k++) {
                    const char *v = sl_http_param(r, overrides[k].param);
                    if (v)
                        sl_http_set_header(r, overrides[k].header, v);
                }
            }
            int status = cond ? cond : range == RANGE_PART ? 206 : 200;
            uint64_t len = o.size ? last - first + 1 : 0;
            if (status == 206) {
                char cr[80];
                snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)first,
                         (unsigned long long)last, (unsigned long long)o.size);
                sl_http_set_header(r, "Content-Range", cr);
            }
            if (status == 304) {
                sl_http_send(r, 304);
            } else if (fd >= 0) {
                sl_http_send_fd(r, status, fd, first, len);
                fd = -1;
            } else {
                sl_buf_append(&r->resp.body, it.blob.inline_data ? it.blob.inline_data + first : "",
                              len);
                sl_http_send(r, status);
            }
        }
        if (fd >= 0)
            close(fd);
        sl_s3_object_free(&o);
        sl_item_free(&it);
        return;
    }
    sl_s3_internal(s, NULL);
}

/* ---- DeleteObject(s) ------------------------------------------------- */

struct delete_txn {
    const char *bucket;
    const char **keys;
    int *results;
    size_t n;
    bool quiet; /* DeleteObjects: list nothing */
    struct s3_notify notify;
};

static int delete_objects_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct delete_txn *d = arg;
    struct sl_item b;
    int rc = sl_txn_get(t, S3_NS_BUCKETS, "", d->bucket, &b);
    if (rc == SL_ENOTFOUND) { /* the bucket went, and its objects with it */
        for (size_t i = 0; i < d->n; i++)
            d->results[i] = 0;
        return 0;
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < d->n && !rc; i++) {
        rc = sl_txn_delete(t, S3_NS_OBJECTS, d->bucket, d->keys[i]);
        if (!rc) /* an object went: its event */
            rc = sl_s3_notify_txn(t, &d->notify, &b, d->bucket, d->keys[i], "ObjectRemoved:Delete",
                                  0, NULL);
        else if (rc == SL_ENOTFOUND)
            rc = 0;
        if (!rc)
            d->results[i] = 0;
    }
    sl_item_free(&b);
    return rc;
}

/* DeleteObject's answer, or DeleteObjects' DeleteResult. */
static void objects_deleted(struct s3_req *s, int rc, const struct sl_err *err)
{
    const struct delete_txn *d = s->q->write_arg;
    if (rc) {
        sl_s3_internal(s, err);
        return;
    }
    if (strcmp(s->op, "DeleteObjects") != 0) {
        sl_s3_send_xml(s, 204);
        return;
    }
    struct sl_buf *b = &s->q->http->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"" S3_XMLNS "\">");
    for (size_t i = 0; i < d->n && !d->quiet; i++) {
        sl_buf_puts(b, "<Deleted>");
        sl_xml_element(b, "Key", d->keys[i]);
        sl_buf_puts(b, "</Deleted>");
    }
    sl_buf_puts(b, "</DeleteResult>");
    sl_s3_send_xml(s, 200);
}

/* Deletes keys (n of them, in the arena): objects_deleted() answers. */
static void delete_keys(struct s3_req *s, const char **keys, size_t n, bool quiet)
{
    struct delete_txn *d = sl_call_alloc(s->q, sizeof(*d));
    int *results = sl_call_alloc(s->q, n * sizeof(*results));
    if (!d || !results) {
        sl_s3_internal(s, NULL);
        return;
    }
    *d = (struct delete_txn){.bucket = s->bucket, .keys = keys, .results = results, .n = n,
                             .quiet = quiet};
    for (size_t i = 0; i < n; i++)
        results[i] = -1;
    sl_s3_notify_init(s, &d->notify);
    sl_s3_write(s, delete_objects_txn, d, objects_deleted);
}

void sl_s3_delete_object(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    const char **keys = sl_call_alloc(s->q, sizeof(*keys));
    if (!keys) {
        sl_s3_internal(s, NULL);
        return;
    }
    keys[0] = s->key;
    delete_keys(s, keys, 1, true);
}

static void malformed_xml(struct s3_req *s)
{
    sl_s3_error(s, S3_E_MALFORMED_XML,
                "The XML you provided was not well-formed or did not validate against our "
                "published schema");
}

static void delete_objects_finish(struct s3_req *s)
{
    struct sl_arena *a = &s->q->http->arena;
    struct sl_xml_node *root;
    struct sl_err err = {0};
    if (sl_xml_parse(a, s->body.data ? s->body.data : "", s->body.len, &root, &err) ||
        strcmp(root->name, "Delete") != 0) {
        malformed_xml(s);
        return;
    }
    const char *quiet = sl_xml_child_text(root, "Quiet");
    bool is_quiet = quiet && strcasecmp(quiet, "true") == 0;
    size_t n = 0;
    for (struct sl_xml_node *c = root->children; c; c = c->next)
        if (strcmp(c->name, "Object") == 0)
            n++;
    if (n == 0 || n > 1000) {
        malformed_xml(s);
        return;
    }
    const char **keys = sl_arena_alloc(a, n * sizeof(*keys));
    if (!keys) {
        sl_s3_internal(s, NULL);
        return;
    }
    size_t i = 0;
    for (struct sl_xml_node *c = root->children; c; c = c->next) {
        if (strcmp(c->name, "Object") != 0)
            continue;
        keys[i] = sl_xml_child_text(c, "Key");
        if (!keys[i]) {
            malformed_xml(s);
            return;
        }
        if (!keys[i][0]) { /* S3 names no key "" */
            sl_s3_error(s, S3_E_USER_KEY_MUST_BE_SPECIFIED,
                        "The bucket POST request must contain the specified field name. If it is "
                        "specified, check the order of the fields.");
            return;
        }
        i++;
    }
    delete_keys(s, keys, n, is_quiet);
}

void sl_s3_delete_objects(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    struct sl_http_request *r = s->q->http;
    bool has_digest = sl_http_header(r, "Content-MD5") != NULL;
    for (size_t i = 0; i < r->nheaders && !has_digest; i++)
        has_digest = strncasecmp(r->headers[i].name, "x-amz-checksum-", 15) == 0;
    if (!has_digest) {
        sl_s3_error(s, S3_E_INVALID_REQUEST,
                    "Missing required header for this request: Content-MD5");
        return;
    }
    sl_s3_take_xml(s, delete_objects_finish);
}

/* ---- CopyObject ------------------------------------------------------ */

void sl_s3_copy_object(struct s3_req *s)
{
    struct sl_http_request *r = s->q->http;
    struct sl_store *st = s->q->app->store;
    struct sl_arena *a = &r->arena;
    if (sl_s3_bucket_check(s))
        return;
    /* x-amz-copy-source: [/]bucket/key[?versionId=...], URL-encoded. */
    const char *src = sl_http_header(r, "x-amz-copy-source");
    struct sl_buf dec;
    sl_buf_init(&dec, 4096);
    const char *q = strchr(src, '?');
    size_t n = q ? (size_t)(q - src) : strlen(src);
    if (sl_uri_decode(&dec, src, n, false) || !dec.data) {
        sl_buf_free(&dec);
        sl_s3_error(s, S3_E_INVALID_ARGUMENT, "Invalid copy source encoding");
        return;
    }
    const char *p = dec.data[0] == '/' ? dec.data + 1 : dec.data;
    const char *slash = strchr(p, '/');
    if (!slash || !slash[1]) {
        sl_buf_free(&dec);
        sl_s3_error(s, S3_E_INVALID_ARGUMENT,
                    "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
        return;
    }
    const char *src_bucket = sl_arena_strndup(a, p, (size_t)(slash - p));
    const char *src_key = sl_arena_strdup(a, slash + 1);
    sl_buf_free(&dec);

    const char *directive = sl_http_header(r, "x-amz-metadata-directive");
    bool replace = directive && strcasecmp(directive, "REPLACE") == 0;
    if (directive && !replace && strcasecmp(directive, "COPY") != 0) {
        sl_s3_error(s, S3_E_INVALID_ARGUMENT, "Unknown metadata directive.");
        return;
    }
    if (!replace && strcmp(src_bucket, s->bucket) == 0 && strcmp(src_key, s->key) == 0) {
        sl_s3_error(s, S3_E_INVALID_REQUEST,
                    "This copy request is illegal because it is trying to copy an object to "
                    "itself without changing the object's metadata, storage class, website "
                    "redirect location or encryption attributes.");
        return;
    }
    /* Reading the source needs the right to read its bucket. */
    if (sl_s3_bucket_access(s, src_bucket, NULL, 0))
        return;
    if (!sl_utf8_valid(src_key, strlen(src_key))) {
        sl_s3_error(s, S3_E_INVALID_ARGUMENT, "Invalid copy source object key");
        return;
    }
    struct sl_item it;
    int rc = sl_kv_get(st, S3_NS_OBJECTS, src_bucket, src_key, &it);
    if (rc) {
        const char *extra[] = {"Key", src_key, NULL};
        sl_s3_error_ex(s, S3_E_NO_SUCH_KEY, extra, "The specified key does not exist.");
        return;
    }
    struct s3_object o = {0}, dst = {0};
    struct sl_blob blob = {0};
    if (sl_s3_object_parse(&it, &o)) {
        sl_item_free(&it);
        sl_s3_internal(s, NULL);
        return;
    }
    int cond = check_conditions(r, &o, "x-amz-copy-source-");
    if (cond) {
        sl_s3_error(s, S3_E_PRECONDITION_FAILED,
                    "At least one of the pre-conditions you specified did not hold");
        goto done;
    }
    if (replace) {
        if (sl_s3_object_from_request(s, &dst) == SL_ETOOBIG) {
            sl_s3_error(s, S3_E_METADATA_TOO_LARGE,
                        "Your metadata headers exceed the maximum allowed metadata size.");
            goto done;
        }
    } else {
        dst.headers = json_incref(o.headers);
        dst.meta = json_incref(o.meta);
    }
    memcpy(dst.etag, o.etag, sizeof(dst.etag));
    dst.size = o.size;
    dst.mtime_ms = sl_time_now_ms();
    rc = sl_blob_copy(st, &it.blob, &blob);
    if (rc == SL_ENOTFOUND) {
        /* The source was replaced while we read it: S3 copies one of the
         * versions; ask the client to try again rather than fail hard. */
        sl_s3_error(s, S3_E_SLOW_DOWN, "Please reduce your request rate.");
        goto done;
    }
    if (rc) {
        sl_s3_internal(s, NULL);
        goto done;
    }
    store_object(s, &dst, &blob, NULL);
done:
    sl_blob_free(&blob);
    sl_s3_object_free(&dst);
    sl_s3_object_free(&o);
    sl_item_free(&it);
}
