/*
 * Per-function metrics in the Prometheus text format at GET
 * /_sluice/metrics: Invocations, Errors, Throttles, Duration (sum, count,
 * min, max, p50, p99) and ConcurrentExecutions, as CloudWatch names them
 * in AWS/Lambda. Durations go into a log-scale histogram (5% buckets) from
 * which the quantiles are read.
 */
#include "services/lambda/internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 420
#define BUCKET_BASE 0.01 /* ms: the first bucket's upper bound */
#define BUCKET_GROWTH 1.05

struct fn_metrics {
    char account[16], region[64], name[80];
    uint64_t invocations, errors, throttles;
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

void sl_lambda_metrics_render(struct sl_lambda_metrics *m, struct sl_buf *out)
{
    static const struct {
        const char *name, *type, *help;
    } families[] = {
        {"sluice_lambda_invocations_total", "counter",
         "Times function code ran (Invocations), function errors included, throttles not."},
        {"sluice_lambda_errors_total", "counter", "Invocations that ended in a function error."},
        {"sluice_lambda_throttles_total", "counter", "Invoke requests throttled (429)."},
        {"sluice_lambda_duration_milliseconds", "summary",
         "Time the function code ran (REPORT's Duration)."},
        {"sluice_lambda_duration_min_milliseconds", "gauge", "Shortest Duration."},
        {"sluice_lambda_duration_max_milliseconds", "gauge", "Longest Duration."},
        {"sluice_lambda_concurrent_executions", "gauge", "Invocations running now."},
        {"sluice_lambda_concurrent_executions_max", "gauge", "Most invocations at once."},
    };
    pthread_mutex_lock(&m->mu);
    for (size_t k = 0; k < SL_ARRAY_LEN(families); k++) {
        sl_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[k].name, families[k].help,
                      families[k].name, families[k].type);
        for (struct fn_metrics *f = m->fns; f; f = f->next) {
            char labels[256];
            snprintf(labels, sizeof(labels), "function=\"%s\",account=\"%s\",region=\"%s\"",
                     f->name, f->account, f->region);
            switch (k) {
            case 0:
                sl_buf_printf(out, "%s{%s} %llu\n", families[k].name, labels,
                              (unsigned long long)f->invocations);
                break;
            case 1:
                sl_buf_printf(out, "%s{%s} %llu\n", families[k].name, labels,
                              (unsigned long long)f->errors);
                break;
            case 2:
                sl_buf_printf(out, "%s{%s} %llu\n", families[k].name, labels,
                              (unsigned long long)f->throttles);
                break;
            case 3:
                sl_buf_printf(out, "%s{%s,quantile=\"0.5\"} %.3f\n", families[k].name, labels,
                              quantile(f, 0.5));
                sl_buf_printf(out, "%s{%s,quantile=\"0.99\"} %.3f\n", families[k].name, labels,
                              quantile(f, 0.99));
                sl_buf_printf(out, "%s_sum{%s} %.3f\n", families[k].name, labels, f->dur_sum);
                sl_buf_printf(out, "%s_count{%s} %llu\n", families[k].name, labels,
                              (unsigned long long)f->dur_count);
                break;
            case 4:
                sl_buf_printf(out, "%s{%s} %.3f\n", families[k].name, labels, f->dur_min);
                break;
            case 5:
                sl_buf_printf(out, "%s{%s} %.3f\n", families[k].name, labels, f->dur_max);
                break;
            case 6:
                sl_buf_printf(out, "%s{%s} %ld\n", families[k].name, labels, f->concurrent);
                break;
            case 7:
                sl_buf_printf(out, "%s{%s} %ld\n", families[k].name, labels, f->concurrent_max);
                break;
            }
        }
    }
    pthread_mutex_unlock(&m->mu);
}
