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

/* The service's entry point for a routed request. */
void sl_lambda_begin(struct sl_svc_request *q);

/* Serves a function's deployment package (GetFunction's Code.Location):
 * GET /_sluice/lambda/code/<account>/<region>/<name>. */
void sl_lambda_serve_code(struct sl_app *app, struct sl_http_request *r);

/* Serves GET /_sluice/metrics (Prometheus text format). */
void sl_lambda_serve_metrics(struct sl_app *app, struct sl_http_request *r);

#endif
