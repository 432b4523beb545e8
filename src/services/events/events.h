/*
 * events — Amazon EventBridge (JSON 1.1): event buses whose rules match
 * events by content (the shared event-pattern module) or fire on a
 * schedule, and hand them, transformed, to their targets through the
 * engine's targets; a bus is itself a target.
 */
#ifndef SL_EVENTS_H
#define SL_EVENTS_H

#include "services/service.h"

extern const struct sl_service sl_service_events;

#endif
