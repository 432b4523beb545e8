/*
 * S3's bucket operations: CreateBucket, HeadBucket, GetBucketLocation,
 * DeleteBucket (with the multipart uploads it still holds) and ListBuckets.
 */
#include "services/s3/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            sl_s3_error(s, S3_E_BUCKET_ALREADY_EXISTS,
                        "The requested bucket name is not available. The bucket namespace is "
                        "shared by all users of the system. Please select a different name and "
                        "try again.");
            return;
        }
        if (strcmp(c->region, "us-east-1") != 0) {
            sl_s3_error(s, S3_E_BUCKET_ALREADY_OWNED_BY_YOU,
                        "Your previous request to create the named bucket succeeded and you "
                        "already own it.");
            return;
        }
    } else if (rc) {
        sl_s3_internal(s, err);
        return;
    }
    char loc[300];
    snprintf(loc, sizeof(loc), "/%s", s->bucket);
    sl_http_set_header(s->q->http, "Location", loc);
    sl_s3_send_xml(s, 200);
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
            sl_s3_error(s, S3_E_MALFORMED_XML,
                        "The XML you provided was not well-formed or did not validate against our "
                        "published schema");
            return;
        }
        const char *loc = sl_xml_child_text(root, "LocationConstraint");
        if (loc && *loc) {
            if (strcmp(loc, "us-east-1") == 0 || strlen(loc) > 30) {
                sl_s3_error(s, S3_E_INVALID_LOCATION_CONSTRAINT,
                            "The specified location-constraint is not valid");
                return;
            }
            region = loc;
        }
    }
    struct bucket_create *c = sl_call_alloc(s->q, sizeof(*c));
    if (!c) {
        sl_s3_internal(s, NULL);
        return;
    }
    *c = (struct bucket_create){.name = s->bucket,
                                .account = s->q->account,
                                .region = region,
                                .now_ms = sl_time_now_ms()};
    sl_s3_write(s, create_bucket_txn, c, bucket_created);
}

void sl_s3_create_bucket(struct s3_req *s)
{
    if (!sl_s3_bucket_name_valid(s->bucket)) {
        sl_s3_error(s, S3_E_INVALID_BUCKET_NAME, "The specified bucket is not valid.");
        return;
    }
    sl_s3_take_xml(s, create_bucket_finish);
}

void sl_s3_head_bucket(struct s3_req *s)
{
    char region[64];
    if (sl_s3_bucket_access(s, s->bucket, region, sizeof(region)))
        return;
    sl_http_set_header(s->q->http, "x-amz-bucket-region", region);
    sl_s3_send_xml(s, 200);
}

void sl_s3_get_bucket_location(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    struct sl_item it;
    if (sl_kv_get(s->q->app->store, S3_NS_BUCKETS, "", s->bucket, &it)) {
        sl_s3_no_such_bucket(s);
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
    sl_s3_send_xml(s, 200);
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
    sl_s3_bucket_forget(s->q->svc, s->bucket);
    if (rc == SL_ECONDITION) {
        sl_s3_error(s, S3_E_BUCKET_NOT_EMPTY, "The bucket you tried to delete is not empty");
        return;
    }
    if (rc == SL_ENOTFOUND) {
        sl_s3_no_such_bucket(s);
        return;
    }
    if (rc) {
        sl_s3_internal(s, err);
        return;
    }
    sl_s3_send_xml(s, 204);
}

void sl_s3_delete_bucket(struct s3_req *s)
{
    if (sl_s3_bucket_check(s))
        return;
    struct bucket_delete *d = sl_call_alloc(s->q, sizeof(*d));
    if (!d) {
        sl_s3_internal(s, NULL);
        return;
    }
    d->name = s->bucket;
    sl_s3_write(s, delete_bucket_txn, d, bucket_deleted);
}

void sl_s3_list_buckets(struct s3_req *s)
{
    struct sl_item *items = NULL;
    size_t count = 0;
    int rc = sl_kv_list(s->q->app->store, S3_NS_BUCKETS, "", NULL, NULL, 100000, &items, &count);
    if (rc) {
        sl_s3_internal(s, NULL);
        return;
    }
    char owner[65];
    sl_s3_owner_id(s->q->account, owner);
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
            sl_s3_time(json_integer_value(json_object_get(v, "created")), ts, sizeof(ts));
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
    sl_s3_send_xml(s, 200);
}
