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

/* Whether name is a valid name for a new bucket (S3's naming rules). */
bool sl_s3_bucket_name_valid(const char *name);

#endif
