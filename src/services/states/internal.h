/*
 * What the files of the Step Functions service share: its errors and the
 * places of state machines (service.c), the control plane
 * (machines.c), and executions (executions.c, run.c).
 *
 * Storage:
 *   kv  sfn.machine  pk "<account>/<region>", sk the machine's name:
 *                    {"definition", "roleArn", "type", "created" (ms),
 *                    "updated" (ms, once updated), "logging", "tracing",
 *                    "tags"}
 *   kv  sfn.exec     pk "<account>/<region>/<machine>", sk the execution's
 *                    name: {"name", "status", "input" (text), "start",
 *                    "stop" (ms), "output" (text), "error", "cause",
 *                    "definition", "roleArn", "type"} (STANDARD only)
 *   kv  sfn.hist     pk the execution's ARN, sk the event's id (%010ld):
 *                    {"t" (ms), "type", "prev", "<kind>EventDetails"}
 *   kv  sfn.run      pk "run", sk a running execution's ARN: where it is
 *                    ({"state", "input", "ctx", "attempts", "until",
 *                    "retry", "next_id", "deadline", "pk"}), for a
 *                    restart to take it up
 */
#ifndef SL_STATES_INTERNAL_H
#define SL_STATES_INTERNAL_H

#include <jansson.h>

#include "core/core.h"
#include "services/service.h"
#include "services/states/asl.h"
#include "services/states/run.h"
#include "services/states/states.h"

#define SFN_NS_MACHINE "sfn.machine"
#define SFN_NS_EXEC "sfn.exec"
#define SFN_NS_HIST "sfn.hist"
#define SFN_NS_RUN "sfn.run"
#define SFN_NAME_MAX 80

#define SFN_ERRORS(X)                                                                        \
    X(SFN_E_INTERNAL, "InternalServerError", 500, true)                                     \
    X(SFN_E_VALIDATION, "ValidationException", 400, false)                                  \
    X(SFN_E_SERIALIZATION, "SerializationException", 400, false)                            \
    X(SFN_E_INVALID_ARN, "InvalidArn", 400, false)                                          \
    X(SFN_E_INVALID_DEFINITION, "InvalidDefinition", 400, false)                            \
    X(SFN_E_INVALID_NAME, "InvalidName", 400, false)                                        \
    X(SFN_E_INVALID_LOGGING, "InvalidLoggingConfiguration", 400, false)                     \
    X(SFN_E_INVALID_TOKEN, "InvalidToken", 400, false)                                      \
    X(SFN_E_EXISTS, "StateMachineAlreadyExists", 400, false)                                \
    X(SFN_E_NOT_FOUND, "StateMachineDoesNotExist", 400, false)                              \
    X(SFN_E_MISSING, "MissingRequiredParameter", 400, false)                                \
    X(SFN_E_TYPE, "StateMachineTypeNotSupported", 400, false)                               \
    X(SFN_E_INVALID_INPUT, "InvalidExecutionInput", 400, false)                            \
    X(SFN_E_INVALID_OUTPUT, "InvalidOutput", 400, false)                                    \
    X(SFN_E_TASK_TIMED_OUT, "TaskTimedOut", 400, false)                                     \
    X(SFN_E_EXEC_MISSING, "ExecutionDoesNotExist", 400, false)                              \
    X(SFN_E_EXEC_EXISTS, "ExecutionAlreadyExists", 400, false)

enum { SFN_ERRORS(SL_ERROR_ENUM) SFN_E_N };

/* A state machine's place, from its ARN or its name and the caller's. */
struct sfn_ref {
    char account[16], region[64], name[SFN_NAME_MAX + 1];
    char pk[96]; /* "<account>/<region>" */
    char arn[256];
};
/* An execution's place, from its ARN. */
struct sfn_eref {
    char account[16], region[64], machine[SFN_NAME_MAX + 1], name[SFN_NAME_MAX + 1];
    char pk[176]; /* "<account>/<region>/<machine>" */
    char arn[512];
    char machine_arn[256];
};

void sfn_eref_make(struct sfn_eref *e, const char *account, const char *region,
                   const char *machine, const char *name);
/* false when arn is not a STANDARD execution's
 * (arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME). */
bool sfn_eref_parse(const char *arn, struct sfn_eref *e);
/* CSV text (RFC 4180: quoted fields, "" inside them, line breaks in
 * quotes; blank lines skipped) as an array of rows, each an array of
 * strings (tasks.c: the distributed Map's ItemReader); NULL when it is
 * not UTF-8. */
json_t *sfn_csv_rows(const char *p, size_t n);
/* Whether name is a valid state machine (or execution) name: 1 to 80
 * characters, none of whitespace, brackets, wildcards, the punctuation
 * AWS refuses, or control characters. */
bool sfn_name_ok(const char *name);
void sfn_ref_make(struct sfn_ref *out, const char *account, const char *region,
                  const char *name);
/* false when arn is not a state machine's. */
bool sfn_ref_parse(const char *arn, struct sfn_ref *out);
/* The machine the call's stateMachineArn names: 0, or the call has
 * InvalidArn. */
int sfn_call_ref(struct sl_call *c, struct sfn_ref *r);
/* A page's size from the call's maxResults (0 or none: 100; at most
 * 1,000). */
size_t sfn_page_limit(const struct sl_call *c);
/* A machine's record (a new object): 0, SL_ENOTFOUND, or another error. */
int sfn_read_machine(struct sl_store *s, const struct sfn_ref *r, json_t **rec);
/* v (NULL: null) as a JSON string of its compact text. */
json_t *sfn_json_text(json_t *v);
/* A timestamp member (epoch seconds, as the JSON protocols carry them). */
json_t *sfn_timestamp(int64_t ms);

struct sfn_sync;
struct sfn_exec;
struct batch;
struct sl_consumer;
/* The service's state. */
struct sfn {
    struct sl_app *app;
    struct sfn_sync *active; /* StartSyncExecution's runs under way (loop thread) */
    bool stopping;           /* (loop thread) */
    struct sl_run_tasks tasks; /* how runs run their Task states (tasks.c) */
    void *tokens;              /* tasks waiting for their token: a tsearch tree (loop thread) */
    struct sfn_exec *running;  /* StartExecution's runs under way (loop thread) */
    struct batch *batch;       /* their progress not submitted yet (loop thread) */
    bool flushing;             /* a flush of it is deferred */
    struct sl_consumer *starter; /* starts executions delivered as targets (targets.c) */
    void *syncs; /* .sync tasks waiting for an execution's end (tasks.c; loop thread) */
};
/* An execution ended (loop thread): the .sync tasks waiting for it end,
 * with described (its DescribeExecution, dates in ms) or its failure. */
void sfn_tasks_execution_ended(struct sfn *st, const char *arn, const char *status,
                               json_t *described);
/* State machines as targets (targets.c): the kind, and the consumer that
 * starts what was delivered. */
extern const struct sl_target_kind sfn_targets[];
int sfn_targets_start(struct sfn *st, struct sl_err *err);
void sfn_targets_stop(struct sfn *st);
void sfn_targets_free(struct sfn *st);
/* STANDARD executions (standard.c): start takes up those that were
 * running; stop (loop thread) stores where the runs are and ends them. */
int sfn_standard_start(struct sfn *st, struct sl_err *err);
void sfn_standard_stop(struct sfn *st);
/* Sets up st->tasks; sfn_tasks_free drops what waits still (loop stopped). */
void sfn_tasks_init(struct sfn *st);
void sfn_tasks_free(struct sfn *st);
/* Ends the runs under way (the server stops): their calls answer. */
void sfn_executions_stop(struct sfn *st);

#endif
