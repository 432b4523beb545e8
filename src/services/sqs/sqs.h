/*
 * sqs — Amazon Simple Queue Service: standard and FIFO queues on the
 * store's queue primitive, in both protocols clients speak (query, and
 * the JSON 1.0 of current SDKs); long polls woken by commits; queues as
 * targets of other services (dead-letter queues, destinations, S3
 * notifications).
 */
#ifndef SL_SQS_H
#define SL_SQS_H

#include "services/service.h"

extern const struct sl_service sl_service_sqs;

#endif
