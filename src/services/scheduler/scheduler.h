/*
 * scheduler — Amazon EventBridge Scheduler (rest-json): schedule groups
 * and schedules (at(), rate() and cron() in any time zone, between a
 * StartDate and an EndDate) that the engine loop fires on time into their
 * targets (functions, queues, topics, event buses, streams) through the
 * engine's targets, with a dead-letter queue for targets that are gone.
 */
#ifndef SL_SCHEDULER_H
#define SL_SCHEDULER_H

#include "services/service.h"

extern const struct sl_service sl_service_scheduler;

#endif
