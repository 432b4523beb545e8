/*
 * kinesis — Amazon Kinesis Data Streams (JSON 1.1): streams of shards on
 * the store's log primitive, records placed by the MD5 of their partition
 * key, read in order by shard iterators.
 */
#ifndef SL_KINESIS_H
#define SL_KINESIS_H

#include "services/service.h"

extern const struct sl_service sl_service_kinesis;

#endif
