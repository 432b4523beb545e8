/*
 * When a schedule fires, worked out from its record alone (so the fuzz
 * target can drive it): the expression in its zone (engine/schedule.h),
 * held between StartDate and EndDate for rate() and cron() (the Scheduler
 * ignores both for at()), only after the schedule was made or last
 * changed and after its last fire; and the payload a fire delivers.
 *
 * How late a fire may still be made: a schedule missed while Sluice was
 * down fires once at start-up, for its latest missed time, if that time
 * plus its flexible window (the span AWS may pick the invocation from)
 * plus its RetryPolicy's MaximumEventAgeInSeconds (how long AWS keeps
 * retrying an invocation it could not make; 24 hours by default) has not
 * passed: what AWS itself could still have delivered.
 */
#include "services/scheduler/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The latest instant a date may name: 9999-12-31T23:59:59Z. */
#define DATE_MAX_MS 253402300799000LL
/* How many fire times sch_plan_missed() walks at the most: a late_ms of
 * two days at one a minute is 2,880. */
#define MISSED_STEPS_MAX 10000

int sch_date_ms(const json_t *v, int64_t *ms)
{
    *ms = -1;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        double s = json_number_value(v);
        if (!isfinite(s) || s < 0 || s * 1000.0 > (double)DATE_MAX_MS)
            return SL_EINVAL;
        *ms = (int64_t)llround(s * 1000.0);
        return 0;
    }
    time_t t;
    if (!json_is_string(v) || sl_time_parse_iso8601(json_string_value(v), &t) || t < 0 ||
        (int64_t)t * 1000 > DATE_MAX_MS)
        return SL_EINVAL;
    *ms = (int64_t)t * 1000;
    return 0;
}

/* An integer member of a record, or def. */
static int64_t int_or(const json_t *v, int64_t def)
{
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int sch_plan_parse(const json_t *rec, struct sch_plan *p, struct sl_err *err)
{
    memset(p, 0, sizeof(*p));
    const char *expr = json_string_value(json_object_get(rec, "ScheduleExpression"));
    const char *tz = json_string_value(json_object_get(rec, "ScheduleExpressionTimezone"));
    int rc = sl_schedule_parse(expr, tz, SL_SCHEDULE_SCHEDULER, &p->s, err);
    if (rc)
        return rc;
    p->start_ms = p->end_ms = -1;
    if (sl_schedule_kind(p->s) != SL_SCHEDULE_AT &&
        (sch_date_ms(json_object_get(rec, "StartDate"), &p->start_ms) ||
         sch_date_ms(json_object_get(rec, "EndDate"), &p->end_ms))) {
        sch_plan_clear(p);
        return sl_errf(err, SL_EINVAL, "StartDate or EndDate is not a date");
    }
    const json_t *fw = json_object_get(rec, "FlexibleTimeWindow");
    const char *mode = json_string_value(json_object_get(fw, "Mode"));
    int64_t window = mode && strcmp(mode, "FLEXIBLE") == 0
                         ? clamp(int_or(json_object_get(fw, "MaximumWindowInMinutes"), 0), 0,
                                 1440) * 60000
                         : 0;
    const json_t *retry = json_object_get(json_object_get(rec, "Target"), "RetryPolicy");
    int64_t age = clamp(int_or(json_object_get(retry, "MaximumEventAgeInSeconds"),
                               SCH_MAX_AGE_S),
                        60, SCH_MAX_AGE_S);
    p->late_ms = window + age * 1000;
    int64_t made = clamp(int_or(json_object_get(rec, "_from_ms"), 0), 0, DATE_MAX_MS);
    int64_t last = clamp(int_or(json_object_get(rec, "_last_ms"), -1), -1, DATE_MAX_MS);
    p->from_ms = made - 1 > last ? made - 1 : last;
    p->anchor_ms = clamp(int_or(json_object_get(rec, "_anchor_ms"), made), 0, DATE_MAX_MS);
    return 0;
}

void sch_plan_clear(struct sch_plan *p)
{
    sl_schedule_free(p->s);
    p->s = NULL;
}

int64_t sch_plan_next(const struct sch_plan *p, int64_t after_ms)
{
    if (p->start_ms >= 0 && after_ms < p->start_ms - 1)
        after_ms = p->start_ms - 1;
    int64_t t = sl_schedule_next(p->s, p->anchor_ms, after_ms);
    if (t >= 0 && p->end_ms >= 0 && t >= p->end_ms)
        return -1;
    return t;
}

int64_t sch_plan_missed(const struct sch_plan *p, int64_t now_ms)
{
    int64_t lo = p->from_ms;
    if (now_ms - p->late_ms - 1 > lo)
        lo = now_ms - p->late_ms - 1;
    int64_t t = sch_plan_next(p, lo);
    if (t < 0 || t > now_ms)
        return -1;
    for (int i = 0; i < MISSED_STEPS_MAX; i++) {
        int64_t u = sch_plan_next(p, t);
        if (u < 0 || u > now_ms)
            break;
        t = u;
    }
    return t;
}

/* ---- the payload ---------------------------------------------------------------- */

void sch_time_text(int64_t ms, char *out, size_t n)
{
    sl_time_iso8601_ms(ms, out, n);
    size_t len = strlen(out);
    if (len > 5 && out[len - 5] == '.') /* (seconds only: "...:05Z") */
        memmove(out + len - 5, out + len - 1, 2);
}

char *sch_input_expand(const char *input, const char *schedule_arn, int64_t scheduled_ms,
                       const char *execution_id, int attempt, size_t max)
{
    if (!input)
        return strdup("{}");
    char time[40], number[16];
    sch_time_text(scheduled_ms, time, sizeof(time));
    snprintf(number, sizeof(number), "%d", attempt);
    const struct {
        const char *key, *value;
    } attrs[] = {
        {"<aws.scheduler.schedule-arn>", schedule_arn},
        {"<aws.scheduler.scheduled-time>", time},
        {"<aws.scheduler.execution-id>", execution_id},
        {"<aws.scheduler.attempt-number>", number},
    };
    struct sl_buf b;
    sl_buf_init(&b, max);
    int rc = 0;
    const char *s = input;
    for (const char *lt; !rc && (lt = strstr(s, "<aws.scheduler.")) != NULL;) {
        size_t i = 0;
        while (i < SL_ARRAY_LEN(attrs) && strncmp(lt, attrs[i].key, strlen(attrs[i].key)) != 0)
            i++;
        const char *after = i < SL_ARRAY_LEN(attrs) ? lt + strlen(attrs[i].key) : lt + 1;
        rc = sl_buf_append(&b, s, (size_t)(i < SL_ARRAY_LEN(attrs) ? lt - s : after - s));
        if (!rc && i < SL_ARRAY_LEN(attrs))
            rc = sl_buf_puts(&b, attrs[i].value);
        s = after;
    }
    if (!rc)
        rc = sl_buf_puts(&b, s);
    if (rc || !b.data) {
        sl_buf_free(&b);
        return rc ? NULL : strdup("");
    }
    return sl_buf_steal(&b, NULL);
}
