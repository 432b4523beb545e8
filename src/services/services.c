/*
 * The service table, and the server's life around it: making, starting,
 * stopping and freeing every service in the table's order, their options,
 * target kinds, endpoints under /_sluice/ and metrics. Adding a service is
 * its folder and one row below (docs/architecture.md).
 */
#include "services/service.h"

#include <string.h>

#include "services/dynamodb/dynamodb.h"
#include "services/dynamodbstreams/dynamodbstreams.h"
#include "services/events/events.h"
#include "services/glue/glue.h"
#include "services/kinesis/kinesis.h"
#include "services/lambda/lambda.h"
#include "services/logs/logs.h"
#include "services/s3/s3.h"
#include "services/scheduler/scheduler.h"
#include "services/sns/sns.h"
#include "services/sqs/sqs.h"
#include "services/states/states.h"
#include "services/sts/sts.h"

/* In start order: CloudWatch Logs before Lambda, whose functions log
 * into it; SQS before the services that deliver to queues. */
const struct sl_service *const sl_services[] = {
    &sl_service_logs,
    &sl_service_sqs,
    &sl_service_sns,
    &sl_service_events,
    &sl_service_scheduler,
    &sl_service_kinesis,
    &sl_service_dynamodb,
    &sl_service_dynamodbstreams,
    &sl_service_s3,
    &sl_service_lambda,
    &sl_service_states,
    &sl_service_glue,
    &sl_service_sts,
    NULL,
};

const struct sl_service *sl_service_by_name(const char *name)
{
    for (size_t i = 0; sl_services[i]; i++)
        if (strcmp(sl_services[i]->name, name) == 0)
            return sl_services[i];
    return NULL;
}

static int index_of(const struct sl_service *svc)
{
    for (int i = 0; sl_services[i]; i++)
        if (sl_services[i] == svc)
            return i;
    return -1;
}

void *sl_app_state(const struct sl_app *app, const struct sl_service *svc)
{
    int i = index_of(svc);
    return i >= 0 && i < app->started_n ? app->states[i] : NULL;
}

const char *sl_app_option(const struct sl_app *app, const char *flag)
{
    for (size_t i = 0; i + 1 < 2 * app->noptions; i += 2)
        if (strcmp(app->options[i], flag) == 0)
            return app->options[i + 1];
    return NULL;
}

int sl_app_start(struct sl_app *app, struct sl_err *err)
{
    app->started_n = 0;
    if (!app->local_ready) {
        sl_inflight_init(&app->local_calls);
        app->local_ready = true;
    }
    for (int i = 0; sl_services[i]; i++) {
        const struct sl_service *svc = sl_services[i];
        void *state = NULL;
        int rc = svc->new ? svc->new(app, &state, err) : 0;
        if (rc) {
            if (!err->msg[0])
                sl_errf(err, rc, "%s: %s", svc->name, sl_strerror(rc));
            sl_app_free(app);
            return rc;
        }
        app->states[i] = state;
        app->started_n = i + 1;
    }
    for (int i = 0; sl_services[i]; i++) {
        const struct sl_service *svc = sl_services[i];
        for (const struct sl_target_kind *k = svc->targets; k && k->service; k++) {
            int rc = sl_targets_register(app->targets, k->service, k->check, k->deliver,
                                         app->states[i]);
            if (rc) {
                sl_errf(err, rc, "%s: cannot register targets of kind %s", svc->name,
                        k->service);
                sl_app_stop(app);
                sl_app_free(app);
                return rc;
            }
        }
    }
    for (int i = 0; sl_services[i]; i++) {
        const struct sl_service *svc = sl_services[i];
        int rc = svc->start ? svc->start(app->states[i], err) : 0;
        if (rc) {
            if (!err->msg[0])
                sl_errf(err, rc, "%s: %s", svc->name, sl_strerror(rc));
            sl_app_stop(app);
            sl_app_free(app);
            return rc;
        }
    }
    return 0;
}

void sl_app_stop(struct sl_app *app)
{
    for (int i = app->started_n - 1; i >= 0; i--)
        if (sl_services[i]->stop)
            sl_services[i]->stop(app->states[i]);
    if (app->local_ready) {
        sl_inflight_stop(&app->local_calls);
        sl_inflight_wait(&app->local_calls);
    }
}

void sl_app_free(struct sl_app *app)
{
    for (int i = app->started_n - 1; i >= 0; i--) {
        if (sl_services[i]->free)
            sl_services[i]->free(app->states[i]);
        app->states[i] = NULL;
    }
    app->started_n = 0;
    if (app->local_ready) {
        sl_inflight_destroy(&app->local_calls);
        app->local_ready = false;
    }
}

int sl_app_endpoint(struct sl_app *app, struct sl_http_request *r)
{
    for (int i = 0; i < app->started_n; i++) {
        for (const struct sl_endpoint *e = sl_services[i]->endpoints; e && e->prefix; e++) {
            if (strncmp(r->path, e->prefix, strlen(e->prefix)) == 0) {
                e->serve(app->states[i], app, r);
                return 0;
            }
        }
    }
    return SL_ENOTFOUND;
}

void sl_app_metrics(struct sl_app *app, struct sl_buf *out)
{
    for (int i = 0; i < app->started_n; i++)
        if (sl_services[i]->metrics)
            sl_services[i]->metrics(app->states[i], out);
}
