/*
 * What the files of the Step Functions service share: its errors and the
 * places of state machines (service.c), and the control plane
 * (machines.c).
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
    X(SFN_E_TYPE, "StateMachineTypeNotSupported", 400, false)

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

#endif
