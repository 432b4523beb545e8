/*
 * What other services use of S3 (s3.h): an object's bytes, a prefix's
 * listing, and a small object written as PutObject writes it (its
 * notifications included) — for Step Functions' distributed Map, whose
 * ItemReader reads and whose ResultWriter writes objects.
 */
#include "services/s3/internal.h"
#include "services/s3/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool bucket_exists(struct sl_store *st, const char *bucket)
{
    struct sl_item b;
    if (sl_kv_get(st, S3_NS_BUCKETS, "", bucket, &b))
        return false;
    sl_item_free(&b);
    return true;
}

/* The object's bytes, at most max of them: whole (SL_ETOOBIG past max),
 * or its first max bytes when head. */
static int read_object(struct sl_store *st, const char *bucket, const char *key, size_t max,
                       bool head, struct sl_buf *out, bool *no_bucket, uint64_t *size)
{
    *no_bucket = false;
    struct sl_item it;
    int rc = sl_kv_get(st, S3_NS_OBJECTS, bucket, key, &it);
    if (rc == SL_ENOTFOUND)
        *no_bucket = !bucket_exists(st, bucket);
    if (rc)
        return rc;
    if (size)
        *size = it.blob.size;
    if (it.blob.size > max && !head) {
        sl_item_free(&it);
        return SL_ETOOBIG;
    }
    size_t want = it.blob.size > max ? max : (size_t)it.blob.size;
    int fd = -1;
    rc = it.has_blob ? sl_blob_open(st, &it.blob, &fd) : 0;
    if (!rc && fd < 0 && it.has_blob)
        rc = sl_buf_append(out, it.blob.inline_data, want);
    char chunk[65536];
    size_t got = 0;
    while (!rc && fd >= 0 && got < want) {
        size_t ask = want - got < sizeof(chunk) ? want - got : sizeof(chunk);
        ssize_t n = read(fd, chunk, ask);
        if (n < 0)
            rc = SL_EIO;
        else if (n == 0)
            break;
        else {
            rc = sl_buf_append(out, chunk, (size_t)n);
            got += (size_t)n;
        }
    }
    if (fd >= 0)
        close(fd);
    sl_item_free(&it);
    return rc;
}

int sl_s3_read_object(struct sl_store *st, const char *bucket, const char *key, size_t max,
                      struct sl_buf *out, bool *no_bucket)
{
    return read_object(st, bucket, key, max, false, out, no_bucket, NULL);
}

int sl_s3_read_head(struct sl_store *st, const char *bucket, const char *key, size_t max,
                    struct sl_buf *out, uint64_t *size)
{
    bool no_bucket;
    return read_object(st, bucket, key, max, true, out, &no_bucket, size);
}

int sl_s3_list_keys(struct sl_store *st, const char *bucket, const char *prefix, size_t max,
                       json_t **out)
{
    if (!bucket_exists(st, bucket))
        return SL_ENOTFOUND;
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_kv_list(st, S3_NS_OBJECTS, bucket, prefix, NULL, max ? max : SIZE_MAX, &items,
                        &n);
    if (rc)
        return rc;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        struct s3_object o;
        if (!sl_s3_object_parse(&items[i], &o)) {
            char etag[64];
            snprintf(etag, sizeof(etag), "\"%s\"", o.etag);
            json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:I, s:s}", "Key", items[i].sk,
                                                  "Size", (json_int_t)o.size, "Etag", etag,
                                                  "LastModified", (json_int_t)(o.mtime_ms / 1000),
                                                  "StorageClass", "STANDARD"));
            sl_s3_object_free(&o);
        }
        sl_item_free(&items[i]);
    }
    free(items);
    *out = list;
    return list ? 0 : SL_ENOMEM;
}

struct write {
    const char *bucket, *key, *val;
    struct sl_blob *blob;
    struct s3_notify notify;
    uint64_t size;
    char etag[48];
    bool no_bucket;
};

static int write_txn(struct sl_txn *t, void *arg, struct sl_err *err)
{
    (void)err;
    struct write *w = arg;
    struct sl_item b;
    int rc = sl_txn_get(t, S3_NS_BUCKETS, "", w->bucket, &b);
    if (rc) {
        w->no_bucket = rc == SL_ENOTFOUND;
        return rc;
    }
    rc = sl_txn_put(t, S3_NS_OBJECTS, w->bucket, w->key, w->val, strlen(w->val), w->blob);
    if (!rc)
        rc = sl_s3_notify_txn(t, &w->notify, &b, w->bucket, w->key, "ObjectCreated:Put", w->size,
                              w->etag);
    sl_item_free(&b);
    return rc;
}

int sl_s3_write_object(struct sl_app *app, const char *account, const char *bucket,
                       const char *key, const void *data, size_t len, const char *content_type,
                       struct sl_err *err)
{
    struct sl_blob_writer *bw = NULL;
    struct sl_blob blob = {0};
    int rc = sl_blob_writer_new(app->store, &bw);
    if (!rc && (rc = sl_blob_writer_write(bw, data, len)) != 0)
        sl_blob_writer_abort(bw);
    else if (!rc)
        rc = sl_blob_writer_finish(bw, &blob);
    if (rc)
        return sl_errf(err, rc, "the object's bytes: %s", sl_strerror(rc));
    uint8_t md5[SL_MD5_LEN];
    sl_md5(data, len, md5);
    struct s3_object o = {.size = len, .mtime_ms = sl_time_now_ms()};
    sl_hex_encode(md5, SL_MD5_LEN, o.etag);
    o.headers = json_pack("{s:s}", "content-type", content_type ? content_type : "application/octet-stream");
    o.meta = json_object();
    char *val = sl_s3_object_dump(&o);
    char request_id[40];
    sl_aws_request_id(request_id);
    struct write w = {.bucket = bucket, .key = key, .val = val, .blob = &blob, .size = len,
                      .notify = {.targets = app->targets, .request_id = request_id,
                                 .account = account, .source_ip = "127.0.0.1"}};
    memcpy(w.etag, o.etag, sizeof(w.etag));
    rc = val ? sl_store_write(app->store, write_txn, &w, err) : SL_ENOMEM;
    if (rc) {
        sl_blob_discard(app->store, &blob);
        if (w.no_bucket)
            rc = sl_errf(err, SL_ENOTFOUND, "The specified bucket does not exist: %s", bucket);
    }
    sl_blob_free(&blob);
    free(val);
    sl_s3_object_free(&o);
    return rc;
}
