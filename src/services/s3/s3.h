/*
 * s3 — the S3-compatible object store: buckets, objects, listings and
 * multipart uploads over the rest-xml protocol, on the kv and blob
 * primitives.
 */
#ifndef SL_S3_H
#define SL_S3_H

#include "services/service.h"

/* The service's state (its cache of buckets). */
struct sl_s3;
int sl_s3_new(struct sl_s3 **out);
void sl_s3_free(struct sl_s3 *s);

/* The service's entry point for a routed request. */
void sl_s3_begin(struct sl_svc_request *q);

/* Reads the item of an object, blob included (caller sl_item_free()s it).
 * SL_ENOTFOUND when the object does not exist. For services that read
 * objects, such as Lambda taking code from S3. */
int sl_s3_object_item(struct sl_store *st, const char *bucket, const char *key,
                      struct sl_item *out);

/* Whether name is a valid name for a new bucket (S3's naming rules). */
bool sl_s3_bucket_name_valid(const char *name);

#endif
