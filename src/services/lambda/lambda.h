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

/* AWS's schedules of asynchronous invocation, divided by scale: the wait
 * before retry `attempt` (1, 2) of a function error, and after the n-th
 * throttle (1 s doubling to 5 minutes). Exposed for the unit test of the
 * unscaled schedule. */
int64_t sl_lambda_async_retry_delay_ms(unsigned attempt, double scale);
int64_t sl_lambda_async_throttle_delay_ms(unsigned throttles, double scale);

#endif
