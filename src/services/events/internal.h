/*
 * What the files of the EventBridge service share: its errors, buses,
 * rules and targets as stored (service.c), and the delivery of events
 * (put.c).
 *
 * Storage:
 *   kv  events.bus     pk "<account>/<region>", sk the bus's name: its
 *                      record (the default bus has one once it is used)
 *   kv  events.rule    pk "<account>/<region>/<bus>", sk the rule's name:
 *                      its record (DescribeRule's members)
 *   kv  events.target  pk "<account>/<region>/<bus>/<rule>", sk the
 *                      target's Id: the Target as PutTargets gave it
 */
#ifndef SL_EVENTS_INTERNAL_H
#define SL_EVENTS_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "engine/pattern.h"
#include "engine/targets.h"
#include "services/events/events.h"
#include "services/service.h"

#define EV_NS_BUS "events.bus"
#define EV_NS_RULE "events.rule"
#define EV_NS_TARGET "events.target"
#define EV_ENTRY_MAX (256 * 1024)
#define EV_DEPTH_MAX 4 /* buses an event may pass through (bus → bus targets) */
#define EV_DELIVERIES_MAX 1000 /* deliveries one event may cause, over every hop */

#define EV_ERRORS(X)                                                                         \
    X(EV_E_INTERNAL, "InternalException", 500, true)                                        \
    X(EV_E_VALIDATION, "ValidationException", 400, false)                                   \
    X(EV_E_SERIALIZATION, "SerializationException", 400, false)                             \
    X(EV_E_NOT_FOUND, "ResourceNotFoundException", 400, false)                              \
    X(EV_E_EXISTS, "ResourceAlreadyExistsException", 400, false)                            \
    X(EV_E_PATTERN, "InvalidEventPatternException", 400, false)                             \
    X(EV_E_LIMIT, "LimitExceededException", 400, false)                                     \
    X(EV_E_MANAGED, "ManagedRuleException", 400, false)

enum { EV_ERRORS(SL_ERROR_ENUM) EV_E_N };

/* A bus's place: from its name or ARN and the caller's account. */
struct ev_bus_ref {
    char account[16], region[64], name[257];
    char pk[96];    /* "<account>/<region>" */
    char rules[400]; /* its rules' pk: "<account>/<region>/<name>" */
    char arn[400];
};
void ev_bus_ref_make(struct ev_bus_ref *out, const char *account, const char *region,
                     const char *name);
/* A bus named by name_or_arn (NULL: "default"): false when it is not a
 * name or a bus's ARN. */
bool ev_bus_ref_parse(const char *name_or_arn, const char *account, const char *region,
                      struct ev_bus_ref *out);
/* Whether the bus exists (the default one always does). */
int ev_bus_exists(struct sl_store *s, const struct ev_bus_ref *b);
int ev_bus_exists_txn(struct sl_txn *t, const struct ev_bus_ref *b);
/* The rule ARN of name on b. */
void ev_rule_arn(const struct ev_bus_ref *b, const char *name, char *out, size_t n);
/* The targets' pk of rule name on b. */
void ev_targets_pk(const struct ev_bus_ref *b, const char *name, char *out, size_t n);

/* Counts per rule, for /_sluice/metrics. */
struct ev_count {
    char arn[400];
    atomic_uint_fast64_t matched, invocations, failed;
    struct ev_count *next;
};

/* The service's state. */
struct ev {
    struct sl_app *app;
    pthread_mutex_t mu;
    struct ev_count *counts;
    /* The compiled rule sets of the buses, dropped when a rule changes
     * (put.c). */
    uint64_t gen;
    void *sets;
    struct ev_sched *sched; /* schedules of rules (schedule.c) */
};
struct ev_count *ev_count_of(struct ev *st, const char *arn);
/* After a change of any rule is durable: the compiled sets are built
 * again, and scheduled rules looked at again. */
void ev_rules_changed(struct ev *st);

/* ---- events (put.c) ------------------------------------------------------ */

/* Inside a transaction: event (a whole EventBridge event, its id set)
 * goes to the targets of every enabled rule of bus b that it matches.
 * depth: buses it has passed through; *budget: the deliveries it may
 * still cause (a loop of buses ends there). */
int ev_route_txn(struct sl_txn *t, struct ev *st, const struct ev_bus_ref *b, json_t *event,
                 int depth, int *budget);
/* Whether a target's delivery failed for a reason of the store's (the
 * transaction must fail), rather than the target's. */
bool ev_fatal(int rc);
/* Inside a transaction: event goes to the targets of one rule (a
 * schedule's). */
int ev_rule_deliver_txn(struct sl_txn *t, struct ev *st, const struct ev_bus_ref *b,
                        const char *rule, json_t *event);
/* A target's input for event (Input, InputPath or InputTransformer):
 * malloc'd text. */
char *ev_target_input(const json_t *target, const json_t *event, const char *rule_name,
                      const char *rule_arn);
/* A JSON path of EventBridge's ($, .name, ['name'], [n]) in event: the
 * value, or NULL. */
json_t *ev_path(const json_t *event, const char *path);

/* ---- schedules (schedule.c) ---------------------------------------------- */

int ev_sched_new(struct ev *st);
int ev_sched_start(struct ev *st);
void ev_sched_stop(struct ev *st);
void ev_sched_free(struct ev *st);
/* The scheduled rules read again (after a change is durable). */
void ev_sched_reload(struct ev *st);
/* Whether expr is a schedule expression rules take: 0, or SL_EINVAL. */
int ev_sched_check(const char *expr, struct sl_err *err);

#endif
