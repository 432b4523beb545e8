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
    X(SFN_E_TASK_MISSING, "TaskDoesNotExist", 400, false)                                   \
    X(SFN_E_TASK_TIMED_OUT, "TaskTimedOut", 400, false)

enum { SFN_ERRORS(SL_ERROR_ENUM) SFN_E_N };

/* A state machine's place, from its ARN or its name and the caller's. */
struct sfn_ref {
    char account[16], region[64], name[SFN_NAME_MAX + 1];
    char pk[96]; /* "<account>/<region>" */
    char arn[256];
};
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
/* A machine's record (a new object): 0, SL_ENOTFOUND, or another error. */
int sfn_read_machine(struct sl_store *s, const struct sfn_ref *r, json_t **rec);
/* A timestamp member (epoch seconds, as the JSON protocols carry them). */
json_t *sfn_timestamp(int64_t ms);

struct sfn_sync;
/* The service's state. */
struct sfn {
    struct sl_app *app;
    struct sfn_sync *active; /* StartSyncExecution's runs under way (loop thread) */
    bool stopping;           /* (loop thread) */
    struct sl_run_tasks tasks; /* how runs run their Task states (tasks.c) */
    void *tokens;              /* tasks waiting for their token: a tsearch tree (loop thread) */
};
/* Sets up st->tasks; sfn_tasks_free drops what waits still (loop stopped). */
void sfn_tasks_init(struct sfn *st);
void sfn_tasks_free(struct sfn *st);
/* Ends the runs under way (the server stops): their calls answer. */
void sfn_executions_stop(struct sfn *st);

#endif
