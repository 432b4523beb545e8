/*
 * S3 multipart uploads: Create, UploadPart, Complete (ETag md5-of-md5s-N),
 * Abort, ListParts, ListMultipartUploads. An upload is an item of
 * S3_NS_UPLOADS (pk bucket, sk upload id); its parts are items of
 * S3_NS_PARTS (pk upload id, sk the zero-padded part number) with blobs.
 */
#include "services/s3/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void no_such_upload(struct s3_req *s)
{
    const char *extra[] = {"UploadId", sl_http_param(s->q->http, "uploadId"), NULL};
    sl_s3_error_ex(s, S3_E_NO_SUCH_UPLOAD, extra,
                 "The specified upload does not exist. The upload ID may be invalid, or the "
                 "upload may have been aborted or completed.");
}

/* Loads the upload named by ?uploadId and checks it belongs to this key. */
static int load_upload(struct s3_req *s, json_t **out)
{
    const char *id = sl_http_param(s->q->http, "uploadId");
    struct sl_item it;
    if (!id || !*id || sl_kv_get(s->q->app->store, S3_NS_UPLOADS, s->bucket, id, &it)) {
        no_such_upload(s);
        return SL_ENOTFOUND;
    }
    json_t *v = json_loadb(it.val, it.val_len, 0, NULL);
    sl_item_free(&it);
    const char *key = json_string_value(json_object_get(v, "key"));
    if (!key || strcmp(key, s->key) != 0) {
        json_decref(v);
        no_such_upload(s);
        return SL_ENOTFOUND;
    }
    *out = v;
    return 0;
}

/* ---- Create ---------------------------------------------------------- */

struct upload_put {
    const char *bucket, *id, *val;
};

static int upload_put_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct upload_put *u = arg;
    int rc = sl_txn_exists(t, S3_NS_BUCKETS, "", u->bucket);
    if (rc)
        return rc;
    return sl_txn_put(t, S3_NS_UPLOADS, u->bucket, u->id, u->val, strlen(u->val), NULL);
}

static void upload_created(struct s3_req *s, int rc, const struct sl_err *err)
{
    const struct upload_put *u = s->q->write_arg;
    if (rc) {
        if (rc == SL_ENOTFOUND)
            sl_s3_no_such_bucket(s);
        else
            sl_s3_internal(s, err);
        return;
    }
    struct sl_buf *b = &s->q->http->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"" S3_XMLNS "\">");
    sl_xml_element(b, "Bucket", s->bucket);
    sl_xml_element(b, "Key", s->key);
    sl_xml_element(b, "UploadId", u->id);
    sl_buf_puts(b, "</InitiateMultipartUploadResult>");
    sl_s3_send_xml(s, 200);
}

void sl_s3_create_multipart(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    struct s3_object o = {0};
    if (sl_s3_object_from_request(s, &o) == SL_ETOOBIG) {
        sl_s3_object_free(&o);
        sl_s3_error(s, S3_E_METADATA_TOO_LARGE,
                    "Your metadata headers exceed the maximum allowed metadata size.");
        return;
    }
    /* Upload ids start with the initiation time, so that they sort in the
     * order S3 lists uploads of one key, which upload-id-marker pages by. */
    uint8_t raw[18];
    char id[64], rnd[40];
    sl_random(raw, sizeof(raw));
    sl_hex_encode(raw, sizeof(raw), rnd);
    snprintf(id, sizeof(id), "%012llx%s", (unsigned long long)sl_time_now_ms(), rnd);
    json_t *v = json_pack("{s:s, s:I, s:O, s:O}", "key", s->key, "initiated",
                          (json_int_t)sl_time_now_ms(), "headers", o.headers, "meta", o.meta);
    char *val = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    sl_s3_object_free(&o);
    if (!val) {
        sl_s3_internal(s, NULL);
        return;
    }
    struct upload_put *u = sl_call_alloc(s->q, sizeof(*u));
    const char *kept = sl_s3_keep(s, val);
    if (!u || !kept || !(u->id = sl_arena_strdup(&s->q->http->arena, id))) {
        sl_s3_internal(s, NULL);
        return;
    }
    u->bucket = s->bucket;
    u->val = kept;
    sl_s3_write(s, upload_put_txn, u, upload_created);
}

/* ---- UploadPart ------------------------------------------------------ */

struct part_put {
    const char *bucket, *upload, *val;
    char sk[24], etag[40];
    const struct sl_blob *blob;
};

static int part_put_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct part_put *p = arg;
    int rc = sl_txn_exists(t, S3_NS_UPLOADS, p->bucket, p->upload);
    if (rc)
        return rc;
    return sl_txn_put(t, S3_NS_PARTS, p->upload, p->sk, p->val, strlen(p->val), p->blob);
}

static long part_number(struct s3_req *s)
{
    const char *pn = sl_http_param(s->q->http, "partNumber");
    char *end;
    long n = pn ? strtol(pn, &end, 10) : -1;
    if (!pn || !*pn || *end || n < 1 || n > S3_MAX_PARTS)
        return -1;
    return n;
}

static void part_stored(struct s3_req *s, int rc, const struct sl_err *err)
{
    const struct part_put *p = s->q->write_arg;
    if (rc) {
        sl_blob_discard(s->q->app->store, &s->blob);
        if (rc == SL_ENOTFOUND)
            no_such_upload(s);
        else
            sl_s3_internal(s, err);
        return;
    }
    char quoted[48];
    snprintf(quoted, sizeof(quoted), "\"%s\"", p->etag);
    sl_http_set_header(s->q->http, "ETag", quoted);
    sl_s3_send_xml(s, 200);
}

static void upload_part_finish(struct s3_req *s)
{
    int rc = sl_blob_writer_finish(s->writer, &s->blob);
    s->writer = NULL; /* finish frees it */
    if (rc) {
        sl_s3_internal(s, NULL);
        return;
    }
    struct part_put *p = sl_call_alloc(s->q, sizeof(*p));
    if (!p) {
        sl_blob_discard(s->q->app->store, &s->blob);
        sl_s3_internal(s, NULL);
        return;
    }
    sl_hex_encode(s->body_md5, SL_MD5_LEN, p->etag);
    snprintf(p->sk, sizeof(p->sk), "%05ld", part_number(s));
    json_t *v = json_pack("{s:s, s:I, s:I}", "etag", p->etag, "size",
                          (json_int_t)s->blob.size, "mtime", (json_int_t)sl_time_now_ms());
    p->val = sl_s3_keep(s, v ? json_dumps(v, JSON_COMPACT) : NULL);
    json_decref(v);
    if (!p->val) {
        sl_blob_discard(s->q->app->store, &s->blob);
        sl_s3_internal(s, NULL);
        return;
    }
    p->bucket = s->bucket;
    p->upload = sl_http_param(s->q->http, "uploadId");
    p->blob = &s->blob;
    sl_s3_write(s, part_put_txn, p, part_stored);
}

void sl_s3_upload_part_begin(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    if (sl_http_header(s->q->http, "x-amz-copy-source")) {
        sl_s3_error(s, S3_E_NOT_IMPLEMENTED, "UploadPartCopy is not implemented by Sluice yet.");
        return;
    }
    if (part_number(s) < 0) {
        sl_s3_error(s, S3_E_INVALID_ARGUMENT,
                    "Part number must be an integer between 1 and 10000, inclusive");
        return;
    }
    json_t *u;
    if (load_upload(s, &u))
        return;
    json_decref(u);
    sl_s3_take_blob(s, upload_part_finish);
}

/* ---- Complete -------------------------------------------------------- */

struct complete_txn {
    const char *bucket, *key, *upload, *val;
    const struct sl_blob *blob;
    struct s3_write_cond cond;
    struct s3_notify notify;
    char etag[48];
    uint64_t size;
    bool no_upload; /* the upload was gone (not the key of an If-Match) */
};

static int complete_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct complete_txn *c = arg;
    int rc = sl_txn_exists(t, S3_NS_UPLOADS, c->bucket, c->upload);
    if (rc) {
        c->no_upload = rc == SL_ENOTFOUND;
        return rc;
    }
    rc = sl_s3_write_condition(t, c->bucket, c->key, &c->cond);
    if (!rc)
        rc = sl_txn_put(t, S3_NS_OBJECTS, c->bucket, c->key, c->val, strlen(c->val), c->blob);
    /* Every part goes, listed or not, with the upload: in this transaction,
     * so that a part committed meanwhile cannot be left behind. */
    if (!rc)
        rc = sl_txn_delete_pk(t, S3_NS_PARTS, c->upload, NULL);
    if (!rc)
        rc = sl_txn_delete(t, S3_NS_UPLOADS, c->bucket, c->upload);
    struct sl_item b;
    if (!rc && (rc = sl_txn_get(t, S3_NS_BUCKETS, "", c->bucket, &b)) == 0) {
        rc = sl_s3_notify_txn(t, &c->notify, &b, c->bucket, c->key,
                              "ObjectCreated:CompleteMultipartUpload", c->size, c->etag);
        sl_item_free(&b);
    }
    return rc;
}

static void upload_completed(struct s3_req *s, int rc, const struct sl_err *err)
{
    const struct complete_txn *ct = s->q->write_arg;
    if (rc) {
        sl_blob_discard(s->q->app->store, &s->blob);
        if (ct->no_upload)
            no_such_upload(s);
        else if (rc == SL_ECONDITION || rc == SL_ENOTFOUND)
            sl_s3_write_cond_error(s, rc);
        else
            sl_s3_internal(s, err);
        return;
    }
    char location[2048], etag[64];
    snprintf(location, sizeof(location), "/%s/%s", s->bucket, s->key);
    snprintf(etag, sizeof(etag), "\"%s\"", ct->etag);
    struct sl_buf *b = &s->q->http->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"" S3_XMLNS "\">");
    sl_xml_element(b, "Location", location);
    sl_xml_element(b, "Bucket", s->bucket);
    sl_xml_element(b, "Key", s->key);
    sl_xml_element(b, "ETag", etag);
    sl_buf_puts(b, "</CompleteMultipartUploadResult>");
    sl_s3_send_xml(s, 200);
}

static void invalid_part(struct s3_req *s)
{
    sl_s3_error(s, S3_E_INVALID_PART,
                "One or more of the specified parts could not be found. The part may not have "
                "been uploaded, or the specified entity tag may not match the part's entity tag.");
}

static void complete_finish(struct s3_req *s)
{
    struct sl_http_request *r = s->q->http;
    struct sl_store *st = s->q->app->store;
    struct sl_arena *a = &r->arena;
    const char *upload = sl_http_param(r, "uploadId");
    json_t *u = NULL;
    struct sl_item *parts = NULL;
    size_t nparts = 0;
    struct sl_blob_writer *w = NULL;
    struct sl_blob blob = {0};
    struct s3_object o = {0};
    struct sl_xml_node *root;
    struct sl_err err = {0};

    if (load_upload(s, &u))
        return;
    if (sl_xml_parse(a, s->body.data ? s->body.data : "", s->body.len, &root, &err) ||
        strcmp(root->name, "CompleteMultipartUpload") != 0) {
        sl_s3_error(s, S3_E_MALFORMED_XML,
                    "The XML you provided was not well-formed or did not validate against our "
                    "published schema");
        goto done;
    }
    if (sl_kv_list(st, S3_NS_PARTS, upload, NULL, NULL, S3_MAX_PARTS, &parts, &nparts)) {
        sl_s3_internal(s, NULL);
        goto done;
    }
    size_t listed = 0;
    long prev = 0;
    bool in_order = true;
    for (struct sl_xml_node *c = root->children; c; c = c->next) {
        if (strcmp(c->name, "Part") != 0)
            continue;
        listed++;
        const char *pn = sl_xml_child_text(c, "PartNumber");
        long n = pn ? strtol(pn, NULL, 10) : 0;
        if (n <= prev)
            in_order = false;
        prev = n;
    }
    if (listed && !in_order) {
        sl_s3_error(s, S3_E_INVALID_PART_ORDER,
                    "The list of parts was not in ascending order. Parts must be ordered by part "
                    "number.");
        goto done;
    }
    if (listed == 0) {
        sl_s3_error(s, S3_E_MALFORMED_XML,
                    "The XML you provided was not well-formed or did not validate against our "
                    "published schema");
        goto done;
    }
    struct sl_hash md5;
    if (sl_hash_init(&md5, SL_HASH_MD5)) {
        sl_s3_internal(s, NULL);
        goto done;
    }
    if (sl_blob_writer_new(st, &w)) {
        sl_hash_close(&md5);
        sl_s3_internal(s, NULL);
        goto done;
    }
    size_t done_parts = 0;
    bool failed = false;
    for (struct sl_xml_node *c = root->children; c && !failed; c = c->next) {
        if (strcmp(c->name, "Part") != 0)
            continue;
        const char *pn = sl_xml_child_text(c, "PartNumber");
        const char *et = sl_xml_child_text(c, "ETag");
        char *end;
        long n = pn ? strtol(pn, &end, 10) : 0;
        if (!pn || !*pn || *end || !et) {
            sl_s3_error(s, S3_E_MALFORMED_XML,
                        "The XML you provided was not well-formed or did not validate against our "
                        "published schema");
            failed = true;
            break;
        }
        char sk[24];
        snprintf(sk, sizeof(sk), "%05ld", n);
        struct sl_item *part = NULL;
        for (size_t i = 0; i < nparts && !part; i++)
            if (strcmp(parts[i].sk, sk) == 0)
                part = &parts[i];
        json_t *pv = part ? json_loadb(part->val, part->val_len, 0, NULL) : NULL;
        const char *petag = json_string_value(json_object_get(pv, "etag"));
        uint64_t psize = (uint64_t)json_integer_value(json_object_get(pv, "size"));
        /* The ETag may come quoted or not. */
        size_t elen = strlen(et);
        if (elen >= 2 && et[0] == '"' && et[elen - 1] == '"') {
            et++;
            elen -= 2;
        }
        if (!petag || strlen(petag) != elen || strncmp(petag, et, elen) != 0) {
            json_decref(pv);
            invalid_part(s);
            failed = true;
            break;
        }
        done_parts++;
        if (done_parts < listed && psize < S3_MIN_PART_SIZE) {
            json_decref(pv);
            sl_s3_error(s, S3_E_ENTITY_TOO_SMALL,
                        "Your proposed upload is smaller than the minimum allowed object size.");
            failed = true;
            break;
        }
        uint8_t bin[SL_MD5_LEN];
        sl_hex_decode(petag, 2 * SL_MD5_LEN, bin);
        sl_hash_update(&md5, bin, sizeof(bin));
        json_decref(pv);
        /* The part item as listed carries no blob bytes: read it whole. */
        struct sl_item full;
        if (sl_kv_get(st, S3_NS_PARTS, upload, sk, &full)) {
            invalid_part(s);
            failed = true;
            break;
        }
        int rc = sl_blob_writer_append_blob(w, &full.blob);
        sl_item_free(&full);
        if (rc) {
            sl_s3_internal(s, NULL);
            failed = true;
        }
    }
    uint8_t digest[SL_MD5_LEN];
    sl_hash_final(&md5, digest);
    sl_hash_close(&md5);
    if (failed)
        goto done;
    int frc = sl_blob_writer_finish(w, &blob);
    w = NULL; /* finish frees it */
    if (frc) {
        sl_s3_internal(s, NULL);
        goto done;
    }
    char hex[2 * SL_MD5_LEN + 1];
    sl_hex_encode(digest, SL_MD5_LEN, hex);
    snprintf(o.etag, sizeof(o.etag), "%s-%u", hex, (unsigned)(listed % 100000));
    o.size = blob.size;
    o.mtime_ms = sl_time_now_ms();
    o.headers = json_incref(json_object_get(u, "headers"));
    o.meta = json_incref(json_object_get(u, "meta"));
    if (!o.headers)
        o.headers = json_object();
    if (!o.meta)
        o.meta = json_object();
    s->blob = blob;
    blob = (struct sl_blob){0};
    struct complete_txn *ct = sl_call_alloc(s->q, sizeof(*ct));
    const char *kept = sl_s3_keep(s, sl_s3_object_dump(&o));
    if (!ct || !kept) {
        sl_blob_discard(st, &s->blob);
        sl_s3_internal(s, NULL);
        goto done;
    }
    *ct = (struct complete_txn){.bucket = s->bucket, .key = s->key, .upload = upload,
                                .val = kept, .blob = &s->blob, .size = o.size};
    memcpy(ct->etag, o.etag, sizeof(ct->etag));
    sl_s3_write_cond_init(s, &ct->cond);
    sl_s3_notify_init(s, &ct->notify);
    sl_s3_write(s, complete_txn, ct, upload_completed);
done:
    sl_s3_object_free(&o);
    sl_blob_free(&blob);
    sl_blob_writer_abort(w);
    for (size_t i = 0; i < nparts; i++)
        sl_item_free(&parts[i]);
    free(parts);
    json_decref(u);
}

void sl_s3_complete_multipart(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    sl_s3_take_xml(s, complete_finish);
}

/* ---- Abort ----------------------------------------------------------- */

struct abort_txn {
    const char *bucket, *upload;
};

static int abort_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct abort_txn *a = arg;
    int rc = sl_txn_delete(t, S3_NS_UPLOADS, a->bucket, a->upload);
    if (!rc)
        rc = sl_txn_delete_pk(t, S3_NS_PARTS, a->upload, NULL);
    return rc;
}

static void upload_aborted(struct s3_req *s, int rc, const struct sl_err *err)
{
    if (rc == SL_ENOTFOUND)
        no_such_upload(s);
    else if (rc)
        sl_s3_internal(s, err);
    else
        sl_s3_send_xml(s, 204);
}

void sl_s3_abort_multipart(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    json_t *u;
    if (load_upload(s, &u))
        return;
    json_decref(u);
    struct abort_txn *a = sl_call_alloc(s->q, sizeof(*a));
    if (!a) {
        sl_s3_internal(s, NULL);
        return;
    }
    *a = (struct abort_txn){s->bucket, sl_http_param(s->q->http, "uploadId")};
    sl_s3_write(s, abort_txn, a, upload_aborted);
}

/* ---- listings -------------------------------------------------------- */

static void owner_elements(struct sl_buf *b, const char *account, const char *name)
{
    char owner[65];
    sl_s3_owner_id(account, owner);
    sl_buf_printf(b, "<%s>", name);
    sl_xml_element(b, "ID", owner);
    sl_xml_element(b, "DisplayName", account);
    sl_buf_printf(b, "</%s>", name);
}

void sl_s3_list_parts(struct s3_req *s)
{
    struct sl_http_request *r = s->q->http;
    if (sl_s3_bucket_check(s))
        return;
    json_t *u;
    if (load_upload(s, &u))
        return;
    json_decref(u);
    const char *upload = sl_http_param(r, "uploadId");
    long max = sl_s3_int_param(s, "max-parts", 1000);
    long mark = sl_s3_int_param(s, "part-number-marker", 0);
    if (max < 0 || mark < 0) {
        sl_s3_error(s, S3_E_INVALID_ARGUMENT,
                    "max-parts and part-number-marker must be non-negative integers");
        return;
    }
    if (max == 0 || max > 1000)
        max = 1000;
    char after[24];
    snprintf(after, sizeof(after), "%05ld", mark);
    struct sl_item *parts = NULL;
    size_t n = 0;
    if (sl_kv_list(s->q->app->store, S3_NS_PARTS, upload, NULL, mark ? after : NULL,
                   (size_t)max + 1, &parts, &n)) {
        sl_s3_internal(s, NULL);
        return;
    }
    bool truncated = n > (size_t)max;
    if (truncated)
        n = (size_t)max;
    struct sl_buf *b = &r->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult xmlns=\"" S3_XMLNS "\">");
    sl_xml_element(b, "Bucket", s->bucket);
    sl_xml_element(b, "Key", s->key);
    sl_xml_element(b, "UploadId", upload);
    owner_elements(b, s->q->account, "Initiator");
    owner_elements(b, s->q->account, "Owner");
    sl_buf_puts(b, "<StorageClass>STANDARD</StorageClass>");
    sl_buf_printf(b, "<PartNumberMarker>%ld</PartNumberMarker>", mark);
    long last = mark;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_loadb(parts[i].val, parts[i].val_len, 0, NULL);
        char ts[32];
        sl_s3_time(json_integer_value(json_object_get(v, "mtime")), ts, sizeof(ts));
        last = strtol(parts[i].sk, NULL, 10);
        sl_buf_printf(b, "<Part><PartNumber>%ld</PartNumber>", last);
        sl_xml_element(b, "LastModified", ts);
        sl_buf_printf(b, "<ETag>&quot;%s&quot;</ETag><Size>%lld</Size></Part>",
                      json_string_value(json_object_get(v, "etag")) ?: "",
                      (long long)json_integer_value(json_object_get(v, "size")));
        json_decref(v);
    }
    sl_buf_printf(b, "<NextPartNumberMarker>%ld</NextPartNumberMarker>", last);
    sl_buf_printf(b, "<MaxParts>%ld</MaxParts><IsTruncated>%s</IsTruncated>", max,
                  truncated ? "true" : "false");
    sl_buf_puts(b, "</ListPartsResult>");
    for (size_t i = 0; i < n + (truncated ? 1 : 0); i++)
        sl_item_free(&parts[i]);
    free(parts);
    sl_s3_send_xml(s, 200);
}

struct upload_entry {
    const char *key, *id;
    int64_t initiated;
};

static int upload_cmp(const void *a, const void *b)
{
    const struct upload_entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return strcmp(x->id, y->id); /* ids begin with the initiation time */
}

void sl_s3_list_uploads(struct s3_req *s)
{
    struct sl_http_request *r = s->q->http;
    struct sl_arena *a = &r->arena;
    if (sl_s3_bucket_check(s))
        return;
    const char *prefix = sl_http_param(r, "prefix");
    const char *key_marker = sl_http_param(r, "key-marker");
    const char *id_marker = sl_http_param(r, "upload-id-marker");
    long max = sl_s3_int_param(s, "max-uploads", 1000);
    if (max < 0) {
        sl_s3_error(s, S3_E_INVALID_ARGUMENT, "max-uploads must be a non-negative integer");
        return;
    }
    if (max == 0 || max > 1000)
        max = 1000;
    struct sl_item *items = NULL;
    size_t n = 0;
    if (sl_kv_list(s->q->app->store, S3_NS_UPLOADS, s->bucket, NULL, NULL, 1000000, &items, &n)) {
        sl_s3_internal(s, NULL);
        return;
    }
    struct upload_entry *e = sl_arena_alloc(a, (n + 1) * sizeof(*e));
    size_t m = 0;
    for (size_t i = 0; e && i < n; i++) {
        json_t *v = json_loadb(items[i].val, items[i].val_len, 0, NULL);
        const char *key = json_string_value(json_object_get(v, "key"));
        /* After the markers: a later key, or the marker key's uploads
         * whose ids (which sort by initiation) come after upload-id-marker. */
        int kc = key && key_marker ? strcmp(key, key_marker) : 1;
        bool after = kc > 0 || (kc == 0 && id_marker && strcmp(items[i].sk, id_marker) > 0);
        if (key && (!prefix || strncmp(key, prefix, strlen(prefix)) == 0) && after) {
            e[m].key = sl_arena_strdup(a, key);
            e[m].id = sl_arena_strdup(a, items[i].sk);
            e[m].initiated = json_integer_value(json_object_get(v, "initiated"));
            m++;
        }
        json_decref(v);
    }
    if (e)
        qsort(e, m, sizeof(*e), upload_cmp);
    bool truncated = m > (size_t)max;
    if (truncated)
        m = (size_t)max;
    struct sl_buf *b = &r->resp.body;
    sl_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult xmlns=\"" S3_XMLNS "\">");
    sl_xml_element(b, "Bucket", s->bucket);
    sl_xml_element(b, "KeyMarker", key_marker ? key_marker : "");
    sl_xml_element(b, "UploadIdMarker", id_marker ? id_marker : "");
    if (truncated && m) {
        sl_xml_element(b, "NextKeyMarker", e[m - 1].key);
        sl_xml_element(b, "NextUploadIdMarker", e[m - 1].id);
    }
    if (prefix)
        sl_xml_element(b, "Prefix", prefix);
    sl_buf_printf(b, "<MaxUploads>%ld</MaxUploads><IsTruncated>%s</IsTruncated>", max,
                  truncated ? "true" : "false");
    for (size_t i = 0; i < m; i++) {
        char ts[32];
        sl_s3_time(e[i].initiated, ts, sizeof(ts));
        sl_buf_puts(b, "<Upload>");
        sl_xml_element(b, "Key", e[i].key);
        sl_xml_element(b, "UploadId", e[i].id);
        owner_elements(b, s->q->account, "Initiator");
        owner_elements(b, s->q->account, "Owner");
        sl_buf_puts(b, "<StorageClass>STANDARD</StorageClass>");
        sl_xml_element(b, "Initiated", ts);
        sl_buf_puts(b, "</Upload>");
    }
    sl_buf_puts(b, "</ListMultipartUploadsResult>");
    for (size_t i = 0; i < n; i++)
        sl_item_free(&items[i]);
    free(items);
    sl_s3_send_xml(s, 200);
}
