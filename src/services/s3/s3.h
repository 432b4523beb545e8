/*
 * s3 — the S3-compatible object store: buckets, objects, listings and
 * multipart uploads over the rest-xml protocol, on the kv and blob
 * primitives.
 */
#ifndef SL_S3_H
#define SL_S3_H

#include "services/service.h"

/* The service's row of the service table (its state: a cache of buckets). */
extern const struct sl_service sl_service_s3;

/* Reads the item of an object, blob included (caller sl_item_free()s it).
 * SL_ENOTFOUND when the object does not exist. For services that read
 * objects, such as Lambda taking code from S3. */
int sl_s3_object_item(struct sl_store *st, const char *bucket, const char *key,
                      struct sl_item *out);

/* An object's bytes (at most max: SL_ETOOBIG past it), appended to out.
 * SL_ENOTFOUND when there is no such key, *no_bucket set when the bucket
 * itself does not exist. */
int sl_s3_read_object(struct sl_store *st, const char *bucket, const char *key, size_t max,
                      struct sl_buf *out, bool *no_bucket);
/* The first max bytes of an object (all of it when smaller), appended to
 * out, and its size: 0 or SL_ENOTFOUND. For a crawler's samples. */
int sl_s3_read_head(struct sl_store *st, const char *bucket, const char *key, size_t max,
                    struct sl_buf *out, uint64_t *size);
/* The objects of bucket whose keys start with prefix (at most max; 0:
 * all), in key order, as Step Functions' ItemReader gives them: [{"Key",
 * "Size", "Etag" (quoted), "LastModified" (epoch seconds),
 * "StorageClass"}]. SL_ENOTFOUND: no such bucket. */
int sl_s3_list_keys(struct sl_store *st, const char *bucket, const char *prefix, size_t max,
                       json_t **out);
/* Writes an object of len bytes as PutObject does (its notifications
 * too) and waits until it is durable: 0, SL_ENOTFOUND (no such bucket),
 * or another error, with why in err. Not on the store's writer thread. */
int sl_s3_write_object(struct sl_app *app, const char *account, const char *bucket,
                       const char *key, const void *data, size_t len, const char *content_type,
                       struct sl_err *err);

/* Whether name is a valid name for a new bucket (S3's naming rules). */
bool sl_s3_bucket_name_valid(const char *name);

#endif
