/*
 * s3 — the S3-compatible object store: buckets, objects, listings and
 * multipart uploads over the rest-xml protocol, on the kv and blob
 * primitives.
 */
#ifndef SL_S3_H
#define SL_S3_H

#include "services/service.h"

/* The service's entry point for a routed request. */
void sl_s3_begin(struct sl_svc_request *q);

/* Whether name is a valid name for a new bucket (S3's naming rules). */
bool sl_s3_bucket_name_valid(const char *name);

#endif
