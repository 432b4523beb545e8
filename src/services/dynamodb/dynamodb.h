/*
 * dynamodb — Amazon DynamoDB (JSON 1.0): tables of items on the store's kv
 * primitive, with DynamoDB's expression language.
 */
#ifndef SL_DYNAMODB_H
#define SL_DYNAMODB_H

#include "engine/pattern.h"
#include "engine/stream.h"
#include "services/service.h"

extern const struct sl_service sl_service_dynamodb;

/*
 * A table's stream is also the source of Lambda's event source mappings
 * (engine/stream.h): sl_dynamodb_source_new() makes the context of
 * sl_dynamodb_stream_ops for one mapping, with the mapping's filters
 * (kept by the caller, matched against each record).
 */
/* Whether arn names a stream that exists: 0, SL_EINVAL (not a stream's
 * ARN), SL_ENOTFOUND. */
int sl_dynamodb_stream_check(struct sl_app *app, const char *arn);
struct sl_dynamodb_source;
int sl_dynamodb_source_new(struct sl_app *app, const char *arn, const char *role_arn,
                           struct sl_pattern *const *filters, size_t nfilters,
                           struct sl_dynamodb_source **out, struct sl_err *err);
void sl_dynamodb_source_free(struct sl_dynamodb_source *s);
const char *sl_dynamodb_source_arn(const struct sl_dynamodb_source *s);
extern const struct sl_stream_ops sl_dynamodb_stream_ops;

#endif
