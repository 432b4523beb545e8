/*
 * kinesis — Amazon Kinesis Data Streams (JSON 1.1): streams of shards on
 * the store's log primitive, records placed by the MD5 of their partition
 * key, read in order by shard iterators.
 *
 * A stream is also the source of Lambda's event source mappings
 * (engine/stream.h): sl_kinesis_source_new() makes the context of
 * sl_kinesis_stream_ops for one mapping, with the function's role (the
 * records' invokeIdentityArn) and the mapping's filters (kept by the
 * caller, matched against each record with its data parsed when it is
 * JSON).
 */
#ifndef SL_KINESIS_H
#define SL_KINESIS_H

#include "engine/pattern.h"
#include "engine/stream.h"
#include "services/service.h"

extern const struct sl_service sl_service_kinesis;

/* Whether arn names a stream that exists: 0, SL_EINVAL (not a stream's
 * ARN), SL_ENOTFOUND. */
int sl_kinesis_stream_check(struct sl_app *app, const char *arn);

struct sl_kinesis_source;
int sl_kinesis_source_new(struct sl_app *app, const char *arn, const char *role_arn,
                          struct sl_pattern *const *filters, size_t nfilters,
                          struct sl_kinesis_source **out, struct sl_err *err);
void sl_kinesis_source_free(struct sl_kinesis_source *s);
/* The stream's ARN, as Kinesis writes it. */
const char *sl_kinesis_source_arn(const struct sl_kinesis_source *s);
extern const struct sl_stream_ops sl_kinesis_stream_ops;

#endif
