/*
 * S3's router: a request to its operation (path-style and virtual-host
 * style, the bucket and key checked as S3 does), each operation's handler
 * over the files below it, and the service's row. Operations live in
 * buckets.c, object.c, list.c, multipart.c and notify.c; what they share
 * in helpers.c, meta.c and events.c.
 */
#include "services/s3/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    q->state_free = sl_s3_state_free;

    if (r->header_bytes + strlen(r->query_raw) > S3_MAX_HEADER_SECTION) {
        sl_s3_error(s, S3_E_REQUEST_HEADER_SECTION_TOO_LARGE,
                    "Your request header section exceeds the maximum allowed size.");
        return SL_DONE;
    }
    struct sl_arena *a = &r->arena;
    const char *path = r->path;
    if (path[0] != '/') {
        sl_s3_error(s, S3_E_INVALID_URI, "Couldn't parse the specified URI.");
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
        sl_s3_error(s, S3_E_INVALID_BUCKET_NAME, "The specified bucket is not valid.");
        return SL_DONE;
    }
    if (s->key && strlen(s->key) > 1024) {
        sl_s3_error(s, S3_E_KEY_TOO_LONG_ERROR, "Your key is too long");
        return SL_DONE;
    }
    if (s->key && !sl_utf8_valid(s->key, strlen(s->key))) {
        sl_s3_error(s, S3_E_INVALID_URI, "Couldn't parse the specified URI.");
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
        sl_s3_error(s, S3_E_METHOD_NOT_ALLOWED,
                    "The specified method is not allowed against this resource.");
    else
        sl_s3_list_buckets(s);
    return SL_DONE;
}

SL_OP(s3, CreateBucket)
{
    sl_s3_create_bucket(op_state(c));
    return begun(c);
}

SL_OP(s3, HeadBucket)
{
    sl_s3_head_bucket(op_state(c));
    return begun(c);
}

SL_OP(s3, DeleteBucket)
{
    sl_s3_delete_bucket(op_state(c));
    return begun(c);
}

SL_OP(s3, GetBucketLocation)
{
    sl_s3_get_bucket_location(op_state(c));
    return begun(c);
}

SL_OP(s3, ListObjects)
{
    sl_s3_list_objects(op_state(c), 1);
    return begun(c);
}

SL_OP(s3, ListObjectsV2)
{
    sl_s3_list_objects(op_state(c), 2);
    return begun(c);
}

SL_OP(s3, ListMultipartUploads)
{
    sl_s3_list_uploads(op_state(c));
    return begun(c);
}

SL_OP(s3, DeleteObjects)
{
    sl_s3_delete_objects(op_state(c));
    return begun(c);
}

SL_OP(s3, PutBucketNotificationConfiguration)
{
    sl_s3_put_notification(op_state(c));
    return begun(c);
}

SL_OP(s3, GetBucketNotificationConfiguration)
{
    sl_s3_get_notification(op_state(c));
    return begun(c);
}

SL_OP(s3, PutObject)
{
    sl_s3_put_object_begin(op_state(c));
    return begun(c);
}

SL_OP(s3, CopyObject)
{
    sl_s3_copy_object(op_state(c));
    return begun(c);
}

SL_OP(s3, UploadPart)
{
    sl_s3_upload_part_begin(op_state(c));
    return begun(c);
}

SL_OP(s3, GetObject)
{
    sl_s3_get_object(op_state(c), false);
    return begun(c);
}

SL_OP(s3, HeadObject)
{
    sl_s3_get_object(op_state(c), true);
    return begun(c);
}

SL_OP(s3, DeleteObject)
{
    sl_s3_delete_object(op_state(c));
    return begun(c);
}

SL_OP(s3, ListParts)
{
    sl_s3_list_parts(op_state(c));
    return begun(c);
}

SL_OP(s3, CreateMultipartUpload)
{
    sl_s3_create_multipart(op_state(c));
    return begun(c);
}

SL_OP(s3, CompleteMultipartUpload)
{
    sl_s3_complete_multipart(op_state(c));
    return begun(c);
}

SL_OP(s3, AbortMultipartUpload)
{
    sl_s3_abort_multipart(op_state(c));
    return begun(c);
}

SL_SERVICE_TABLES(s3);

const struct sl_service sl_service_s3 = {
    .name = "s3",
    .model = &sl_model_s3,
    .handlers = sl_s3_handlers,
    .errors = sl_s3_errors,
    .e_internal = S3_E_INTERNAL_ERROR,
    .e_validation = S3_E_INVALID_ARGUMENT,
    .e_serialization = S3_E_MALFORMED_XML,
    .e_too_big = S3_E_MAX_MESSAGE_LENGTH_EXCEEDED,
    .body_cap = S3_MAX_XML_BODY,
    .streaming = true,
    .prepare = s3_prepare,
    .new = sl_s3_new,
    .free = sl_s3_free,
};
