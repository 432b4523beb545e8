/*
 * Per-function metrics in the Prometheus text format at GET
 * /_sluice/metrics: Invocations, Errors, Throttles, Duration (sum, count,
 * min, max, p50, p99), ConcurrentExecutions and the asynchronous ones
 * (AsyncEventsReceived, AsyncEventAge, AsyncEventsDropped,
 * DestinationDeliveryFailures, DeadLetterErrors), as CloudWatch names them
 * in AWS/Lambda. Durations go into a log-scale histogram (5% buckets) from
 * which the quantiles are read.
 */
#include "services/lambda/internal.h"

#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 420
#define BUCKET_BASE 0.01 /* ms: the first bucket's upper bound */
#define BUCKET_GROWTH 1.05

struct fn_metrics {
    char account[16], region[64], name[80];
    uint64_t invocations, errors, throttles;
    uint64_t async_received, async_dropped, dest_failed, dlq_failed, age_count;
    double age_sum, age_max;
    long concurrent, concurrent_max;
    double dur_sum, dur_min, dur_max;
    uint64_t dur_count;
    uint32_t hist[BUCKETS];
    struct fn_metrics *next;
};

struct sl_lambda_metrics {
    pthread_mutex_t mu;
    struct fn_metrics *fns;
};

int sl_lambda_metrics_new(struct sl_lambda_metrics **out)
{
    struct sl_lambda_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return SL_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return 0;
}

void sl_lambda_metrics_free(struct sl_lambda_metrics *m)
{
    if (!m)
        return;
    while (m->fns) {
        struct fn_metrics *f = m->fns;
        m->fns = f->next;
        free(f);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* The entry of a function, created on first use; under m->mu. */
static struct fn_metrics *entry(struct sl_lambda_metrics *m, const char *account,
                                const char *region, const char *name)
{
    for (struct fn_metrics *f = m->fns; f; f = f->next)
        if (!strcmp(f->name, name) && !strcmp(f->account, account) && !strcmp(f->region, region))
            return f;
    struct fn_metrics *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    snprintf(f->account, sizeof(f->account), "%s", account);
    snprintf(f->region, sizeof(f->region), "%s", region);
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->next = m->fns;
    m->fns = f;
    return f;
}

void sl_lambda_metrics_begin(struct sl_lambda_metrics *m, const char *account, const char *region,
                             const char *name)
{
    pthread_mutex_lock(&m->mu);
    struct fn_metrics *f = entry(m, account, region, name);
    if (f && ++f->concurrent > f->concurrent_max)
        f->concurrent_max = f->concurrent;
    pthread_mutex_unlock(&m->mu);
}

static int bucket_of(double ms)
{
    if (ms <= BUCKET_BASE)
        return 0;
    int b = (int)ceil(log(ms / BUCKET_BASE) / log(BUCKET_GROWTH));
    return b >= BUCKETS ? BUCKETS - 1 : b;
}

static double bucket_value(int b)
{
    return BUCKET_BASE * pow(BUCKET_GROWTH, b);
}

void sl_lambda_metrics_end(struct sl_lambda_metrics *m, const char *account, const char *region,
                           const char *name, enum sl_lambda_outcome outcome, double duration_ms)
{
    pthread_mutex_lock(&m->mu);
    struct fn_metrics *f = entry(m, account, region, name);
    if (f) {
        f->concurrent--;
        if (outcome == SL_LAMBDA_THROTTLED) {
            f->throttles++;
        } else if (outcome != SL_LAMBDA_NOT_RUN) {
            f->invocations++;
            if (outcome == SL_LAMBDA_ERROR)
                f->errors++;
            if (f->dur_count == 0 || duration_ms < f->dur_min)
                f->dur_min = duration_ms;
            if (duration_ms > f->dur_max)
                f->dur_max = duration_ms;
            f->dur_sum += duration_ms;
            f->dur_count++;
            f->hist[bucket_of(duration_ms)]++;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

void sl_lambda_metrics_async(struct sl_lambda_metrics *m, const char *account, const char *region,
                             const char *name, enum sl_lambda_async_metric what, double value_ms)
{
    pthread_mutex_lock(&m->mu);
    struct fn_metrics *f = entry(m, account, region, name);
    if (f) {
        switch (what) {
        case SL_LAMBDA_ASYNC_RECEIVED:
            f->async_received++;
            break;
        case SL_LAMBDA_ASYNC_AGE:
            f->age_sum += value_ms;
            f->age_count++;
            if (value_ms > f->age_max)
                f->age_max = value_ms;
            break;
        case SL_LAMBDA_ASYNC_DROPPED:
            f->async_dropped++;
            break;
        case SL_LAMBDA_ASYNC_DESTINATION_FAILED:
            f->dest_failed++;
            break;
        case SL_LAMBDA_ASYNC_DLQ_FAILED:
            f->dlq_failed++;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

static double quantile(const struct fn_metrics *f, double q)
{
    if (!f->dur_count)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)f->dur_count), seen = 0;
    for (int b = 0; b < BUCKETS; b++) {
        seen += f->hist[b];
        if (seen >= want) {
            double v = bucket_value(b);
            return v > f->dur_max ? f->dur_max : v < f->dur_min ? f->dur_min : v;
        }
    }
    return f->dur_max;
}

/* Where a family's value is: a uint64_t counter, a long gauge or a double
 * gauge of struct fn_metrics, or a summary rendered by its own code. */
enum kind { U64, LONG, DOUBLE, DURATION, AGE };

void sl_lambda_metrics_render(struct sl_lambda_metrics *m, struct sl_buf *out)
{
    static const struct {
        const char *name, *type, *help;
        enum kind kind;
        size_t off;
    } families[] = {
        {"sluice_lambda_invocations_total", "counter",
         "Times function code ran (Invocations), function errors included, throttles not.", U64,
         offsetof(struct fn_metrics, invocations)},
        {"sluice_lambda_errors_total", "counter", "Invocations that ended in a function error.",
         U64, offsetof(struct fn_metrics, errors)},
        {"sluice_lambda_throttles_total", "counter", "Invoke requests throttled (429).", U64,
         offsetof(struct fn_metrics, throttles)},
        {"sluice_lambda_duration_milliseconds", "summary",
         "Time the function code ran (REPORT's Duration).", DURATION, 0},
        {"sluice_lambda_duration_min_milliseconds", "gauge", "Shortest Duration.", DOUBLE,
         offsetof(struct fn_metrics, dur_min)},
        {"sluice_lambda_duration_max_milliseconds", "gauge", "Longest Duration.", DOUBLE,
         offsetof(struct fn_metrics, dur_max)},
        {"sluice_lambda_concurrent_executions", "gauge", "Invocations running now.", LONG,
         offsetof(struct fn_metrics, concurrent)},
        {"sluice_lambda_concurrent_executions_max", "gauge", "Most invocations at once.", LONG,
         offsetof(struct fn_metrics, concurrent_max)},
        {"sluice_lambda_async_events_received_total", "counter",
         "Asynchronous events queued (AsyncEventsReceived).", U64,
         offsetof(struct fn_metrics, async_received)},
        {"sluice_lambda_async_event_age_milliseconds", "summary",
         "Time from queueing to each invoke of an event (AsyncEventAge).", AGE, 0},
        {"sluice_lambda_async_event_age_max_milliseconds", "gauge", "Oldest AsyncEventAge.",
         DOUBLE, offsetof(struct fn_metrics, age_max)},
        {"sluice_lambda_async_events_dropped_total", "counter",
         "Events discarded without a successful run (AsyncEventsDropped).", U64,
         offsetof(struct fn_metrics, async_dropped)},
        {"sluice_lambda_destination_delivery_failures_total", "counter",
         "Records that could not be sent to a destination (DestinationDeliveryFailures).", U64,
         offsetof(struct fn_metrics, dest_failed)},
        {"sluice_lambda_dead_letter_errors_total", "counter",
         "Events that could not be sent to the dead-letter queue (DeadLetterErrors).", U64,
         offsetof(struct fn_metrics, dlq_failed)},
    };
    pthread_mutex_lock(&m->mu);
    for (size_t k = 0; k < SL_ARRAY_LEN(families); k++) {
        const char *name = families[k].name;
        sl_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, families[k].help, name,
                      families[k].type);
        for (struct fn_metrics *f = m->fns; f; f = f->next) {
            char labels[256];
            snprintf(labels, sizeof(labels), "function=\"%s\",account=\"%s\",region=\"%s\"",
                     f->name, f->account, f->region);
            const char *at = (const char *)f + families[k].off;
            switch (families[k].kind) {
            case U64:
                sl_buf_printf(out, "%s{%s} %llu\n", name, labels,
                              (unsigned long long)*(const uint64_t *)(const void *)at);
                break;
            case LONG:
                sl_buf_printf(out, "%s{%s} %ld\n", name, labels, *(const long *)(const void *)at);
                break;
            case DOUBLE:
                sl_buf_printf(out, "%s{%s} %.3f\n", name, labels,
                              *(const double *)(const void *)at);
                break;
            case DURATION:
                sl_buf_printf(out, "%s{%s,quantile=\"0.5\"} %.3f\n", name, labels,
                              quantile(f, 0.5));
                sl_buf_printf(out, "%s{%s,quantile=\"0.99\"} %.3f\n", name, labels,
                              quantile(f, 0.99));
                sl_buf_printf(out, "%s_sum{%s} %.3f\n", name, labels, f->dur_sum);
                sl_buf_printf(out, "%s_count{%s} %llu\n", name, labels,
                              (unsigned long long)f->dur_count);
                break;
            case AGE:
                sl_buf_printf(out, "%s_sum{%s} %.3f\n", name, labels, f->age_sum);
                sl_buf_printf(out, "%s_count{%s} %llu\n", name, labels,
                              (unsigned long long)f->age_count);
                break;
            }
        }
    }
    pthread_mutex_unlock(&m->mu);
}
