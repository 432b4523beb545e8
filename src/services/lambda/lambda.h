/*
 * lambda — the Lambda service: the control plane (functions, their code
 * and configuration, concurrency, permissions, event invoke configs) over
 * the rest-json protocol, and invocations: synchronous ones handed to the
 * runtime, asynchronous ones stored in a durable queue first.
 */
#ifndef SL_LAMBDA_H
#define SL_LAMBDA_H

#include "services/service.h"

/* The service's row of the service table. */
extern const struct sl_service sl_service_lambda;

#endif
