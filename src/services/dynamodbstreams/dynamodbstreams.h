/*
 * dynamodbstreams — Amazon DynamoDB Streams (JSON 1.0): ListStreams,
 * DescribeStream, GetShardIterator and GetRecords over the streams of
 * DynamoDB's tables (services/dynamodb).
 */
#ifndef SL_DYNAMODBSTREAMS_H
#define SL_DYNAMODBSTREAMS_H

#include "services/service.h"

extern const struct sl_service sl_service_dynamodbstreams;

#endif
