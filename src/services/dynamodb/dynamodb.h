/*
 * dynamodb — Amazon DynamoDB (JSON 1.0): tables of items on the store's kv
 * primitive, with DynamoDB's expression language.
 */
#ifndef SL_DYNAMODB_H
#define SL_DYNAMODB_H

#include "services/service.h"

extern const struct sl_service sl_service_dynamodb;

#endif
