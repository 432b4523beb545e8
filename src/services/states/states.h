/*
 * states — AWS Step Functions (json 1.0, AWSStepFunctions): state
 * machines in the Amazon States Language. So far the control plane
 * (Create/Describe/List/Update/DeleteStateMachine and
 * ValidateStateMachineDefinition); executions come next.
 */
#ifndef SL_STATES_H
#define SL_STATES_H

#include "services/service.h"

/* The service's row of the service table. */
extern const struct sl_service sl_service_states;

#endif
