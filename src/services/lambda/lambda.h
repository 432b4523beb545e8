/*
 * lambda — the Lambda service: the control plane (functions, their code
 * and configuration, concurrency) over the rest-json protocol, and the
 * invocation path that hands events to the runtime.
 */
#ifndef SL_LAMBDA_H
#define SL_LAMBDA_H

#include "services/service.h"

struct sl_lambda;
struct sl_runtime;

/* The service's state: invocations go to rt. */
int sl_lambda_new(struct sl_lambda **out, struct sl_runtime *rt);
void sl_lambda_free(struct sl_lambda *l);
/* Tells the runtime every stored function's reserved concurrency, so that
 * after a restart the unreserved pool leaves out reservations of
 * functions not invoked yet. */
int sl_lambda_load_reservations(struct sl_app *app);

/*
 * Asynchronous invocation (async.c): a dispatcher and `workers` threads
 * that run the events of the "lambda.async" queue; AWS's delays divided
 * by time_scale. Start once the app is complete; stop before the runtime
 * shuts down (events still running are put back), free after it.
 */
struct sl_lambda_async;
int sl_lambda_async_start(struct sl_app *app, unsigned workers, double time_scale,
                          struct sl_lambda_async **out, struct sl_err *err);
void sl_lambda_async_stop(struct sl_lambda_async *a);
void sl_lambda_async_free(struct sl_lambda_async *a);
/* AWS's schedules, divided by scale: the wait before retry `attempt` (1,
 * 2) of a function error, and after the n-th throttle (1 s doubling to 5
 * minutes). Exposed for the unit test of the unscaled schedule. */
int64_t sl_lambda_async_retry_delay_ms(unsigned attempt, double scale);
int64_t sl_lambda_async_throttle_delay_ms(unsigned throttles, double scale);

/* The service's entry point for a routed request. */
void sl_lambda_begin(struct sl_svc_request *q);

/* Serves a function's deployment package (GetFunction's Code.Location):
 * GET /_sluice/lambda/code/<account>/<region>/<name>. */
void sl_lambda_serve_code(struct sl_app *app, struct sl_http_request *r);

/* Serves GET /_sluice/metrics (Prometheus text format). */
void sl_lambda_serve_metrics(struct sl_app *app, struct sl_http_request *r);

#endif
