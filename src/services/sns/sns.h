/*
 * sns — Amazon SNS (query): topics, standard and FIFO, whose messages fan
 * out to their subscriptions (Lambda functions and SQS queues) through
 * the engine's targets, filtered by the shared event-pattern module; a
 * topic is itself a target (S3 notifications, destinations, DLQs).
 */
#ifndef SL_SNS_H
#define SL_SNS_H

#include "services/service.h"

extern const struct sl_service sl_service_sns;

#endif
