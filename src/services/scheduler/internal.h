/*
 * What the files of the EventBridge Scheduler service share: its errors,
 * the places of groups and schedules (service.c), one transaction per
 * change (service.c), a schedule's fire times (plan.c) and the runner
 * that fires them on the engine loop (fire.c).
 *
 * Storage:
 *   kv  scheduler.group     pk "<account>/<region>", sk the group's name:
 *                           GetScheduleGroup's members and "Tags" (an
 *                           object); "default" has a record only once
 *                           tagged, and exists without one
 *   kv  scheduler.schedule  pk "<account>/<region>/<group>", sk the
 *                           schedule's name: GetSchedule's members, and
 *                           Sluice's own: _version (bumped by every
 *                           change), _from_ms (the schedule fires only
 *                           after this: when it was made or last changed),
 *                           _anchor_ms (where a rate() counts from),
 *                           _last_ms (the scheduled time of its last
 *                           fire), _token (CreateSchedule's ClientToken)
 */
#ifndef SL_SCHEDULER_INTERNAL_H
#define SL_SCHEDULER_INTERNAL_H

#include <jansson.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "engine/schedule.h"
#include "engine/targets.h"
#include "services/scheduler/scheduler.h"
#include "services/service.h"

#define SCH_NS_GROUP "scheduler.group"
#define SCH_NS_SCHEDULE "scheduler.schedule"
#define SCH_NAME_MAX 64 /* schedule and group names */
#define SCH_DEFAULT_GROUP "default"
/* A target's RetryPolicy when none is given, as AWS shows it. */
#define SCH_MAX_AGE_S 86400
#define SCH_MAX_RETRIES 185

#define SCH_ERRORS(X)                                                                        \
    X(SCH_E_INTERNAL, "InternalServerException", 500, true)                                 \
    X(SCH_E_VALIDATION, "ValidationException", 400, false)                                  \
    X(SCH_E_NOT_FOUND, "ResourceNotFoundException", 404, false)                             \
    X(SCH_E_CONFLICT, "ConflictException", 409, false)

enum { SCH_ERRORS(SL_ERROR_ENUM) SCH_E_N };

/* A group's or a schedule's place. */
struct sch_ref {
    char account[16], region[64];
    char group[SCH_NAME_MAX + 1], name[SCH_NAME_MAX + 1]; /* name: "" for a group */
    char pk[96];         /* groups' pk: "<account>/<region>" */
    char schedules[176]; /* its schedules' pk: "<account>/<region>/<group>" */
    char group_arn[256];
    char arn[320]; /* the schedule's ("" for a group) */
};
/* Whether s is a name of a schedule or group ([0-9a-zA-Z-_.], 1 to 64). */
bool sch_name_ok(const char *s);
/* The place of group (NULL: "default") and schedule name (NULL or "": the
 * group itself); false when a name is not one. */
bool sch_ref_make(struct sch_ref *out, const char *account, const char *region,
                  const char *group, const char *name);
/* The place an ARN of a schedule group or a schedule names; false when it
 * names neither. */
bool sch_ref_parse_arn(const char *arn, struct sch_ref *out);
/* The place of schedules' pk "<account>/<region>/<group>" and name. */
bool sch_ref_parse_pk(const char *pk, const char *name, struct sch_ref *out);

/* Counts for /_sluice/metrics. */
struct sch_counts {
    atomic_uint_fast64_t invocations, failed, dead_lettered;
};

struct sch_runner;

/* The service's state. */
struct sch {
    struct sl_app *app;
    regex_t *patterns;       /* the model's patterns, compiled (service.c) */
    struct sch_runner *runner; /* fire.c */
    struct sch_counts counts;
};

/* ---- one transaction per change (service.c) ------------------------------- */

/* A change: fn runs in the transaction; a refusal (sch_change_fail)
 * carries its error and message to the answer; out is the answer. */
struct sch_change {
    struct sch *st;
    struct sch_ref r;
    json_t *in;  /* the call's input */
    json_t *rec; /* what fn writes, prepared by the handler (owned) */
    int (*fn)(struct sl_txn *t, struct sch_change *w);
    json_t *out;   /* (owned) */
    bool schedules; /* a change of schedules: the runner reads them again */
    int code;
    char msg[512];
};
/* The call's change (its state, freed with it), or NULL. */
struct sch_change *sch_change_new(struct sl_call *c, int (*fn)(struct sl_txn *,
                                                               struct sch_change *));
/* In fn: refuses the change with error code and message; returns
 * SL_EINVAL (fn returns it). */
int sch_change_fail(struct sch_change *w, int code, const char *fmt, ...) SL_PRINTF(3, 4);
/* Runs the change in a transaction and answers once it is durable. */
int sch_change_run(struct sl_call *c, struct sch_change *w);

/* In a transaction: 0 when group r->group exists ("default" always),
 * SL_ENOTFOUND, or a store error. */
int sch_group_exists_txn(struct sl_txn *t, const struct sch_ref *r);
int sch_group_exists(struct sl_store *s, const struct sch_ref *r);
/* The message of a missing group. */
#define SCH_GROUP_MISSING "Schedule group %s does not exist."
#define SCH_SCHEDULE_MISSING "Schedule %s does not exist."

/* A record as the API shows it: without Sluice's own members (taken,
 * returned). */
json_t *sch_shown(json_t *rec);
/* A stored record (NULL on failure). */
json_t *sch_record_parse(const struct sl_item *it);
/* Writes v as item (ns, pk, sk). */
int sch_put_json(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                 const json_t *v);
/* Seconds since the epoch as the JSON protocols carry timestamps. */
json_t *sch_timestamp(int64_t ms);

/* ---- fire times (plan.c) ---------------------------------------------------- */

/* When a schedule fires, from its record. */
struct sch_plan {
    struct sl_schedule *s; /* owned */
    int64_t anchor_ms;     /* where a rate() counts from */
    int64_t start_ms, end_ms; /* StartDate, EndDate; -1: none (at(): always none) */
    int64_t from_ms;       /* it fires only after this */
    int64_t late_ms;       /* how long after its time a fire may still be made */
};
/* Reads rec's expression, zone, dates, window and retry policy: 0, or
 * SL_EINVAL (err says why), SL_ENOMEM, SL_EIO. */
int sch_plan_parse(const json_t *rec, struct sch_plan *p, struct sl_err *err);
void sch_plan_clear(struct sch_plan *p);
/* The first fire time strictly after after_ms, between the dates; -1 when
 * there is none. */
int64_t sch_plan_next(const struct sch_plan *p, int64_t after_ms);
/* The latest fire time in (from_ms, now_ms] that is not later than its
 * late_ms: the one fire made up for those missed; -1 when none is. */
int64_t sch_plan_missed(const struct sch_plan *p, int64_t now_ms);
/* A timestamp member of the input or a record (a number of seconds, or
 * ISO 8601 text) in milliseconds: 0, or SL_EINVAL (not one, or outside
 * years 1970-9999); absent: *ms = -1. */
int sch_date_ms(const json_t *v, int64_t *ms);

/* "2024-01-02T03:04:05Z": a time as the Scheduler writes it (out: 40
 * bytes). */
void sch_time_text(int64_t ms, char *out, size_t n);
/* The payload of a fire: input with the Scheduler's context attributes
 * (<aws.scheduler.schedule-arn>, <aws.scheduler.scheduled-time>,
 * <aws.scheduler.execution-id>, <aws.scheduler.attempt-number>) put in;
 * "{}" when input is NULL. malloc'd, or NULL (out of memory, or past
 * max bytes). */
char *sch_input_expand(const char *input, const char *schedule_arn, int64_t scheduled_ms,
                       const char *execution_id, int attempt, size_t max);

/* ---- the runner (fire.c) ------------------------------------------------------ */

int sch_runner_new(struct sch *st);
int sch_runner_start(struct sch *st);
void sch_runner_stop(struct sch *st);
void sch_runner_free(struct sch *st);
/* The schedules read again (after a change is durable). */
void sch_runner_reload(struct sch *st);

#endif
