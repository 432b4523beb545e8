/*
 * asl — a state machine's definition in the Amazon States Language
 * (JSONPath), parsed and checked once: every state's fields, its paths,
 * templates, rules, retriers and catchers compiled, every transition
 * resolved to the index of its target, Parallel branches and Map
 * processors parsed as machines of their own. A definition that is not
 * valid gets Step Functions' kind of message:
 *   Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: <what>
 *   at /States/<name>/<field>'
 * (MISSING_TRANSITION_TARGET, UNREACHABLE_STATE and the others as AWS
 * names them).
 *
 * Input and output processing (InputPath, Parameters, ResultSelector,
 * ResultPath, OutputPath) is here too, shared by every state that has it.
 *
 * May call: core, services/states (jsonpath, intrinsic, template, choice),
 * jansson.
 */
#ifndef SL_STATES_ASL_H
#define SL_STATES_ASL_H

#include <jansson.h>

#include "core/core.h"
#include "services/states/choice.h"
#include "services/states/intrinsic.h"
#include "services/states/jsonpath.h"
#include "services/states/template.h"

enum sl_asl_type {
    SL_ASL_PASS,
    SL_ASL_TASK,
    SL_ASL_CHOICE,
    SL_ASL_WAIT,
    SL_ASL_SUCCEED,
    SL_ASL_FAIL,
    SL_ASL_PARALLEL,
    SL_ASL_MAP,
};

#define SL_ASL_NONE ((size_t)-1) /* no transition (End) */

/* A path field: absent (the default: "$"), null (discard), or a path. */
struct sl_asl_path {
    bool null;
    struct sl_jsonpath *path; /* NULL and !null: the default */
};

/* A string field that may come from a path or a call instead
 * (ErrorPath, CausePath). */
struct sl_asl_text {
    const char *text;         /* the literal, or NULL */
    struct sl_jsonpath *path; /* or */
    struct sl_intrinsic *call;
};

/* A number of seconds given as a number or by a path (TimeoutSeconds /
 * TimeoutSecondsPath, HeartbeatSeconds, Wait's Seconds). */
struct sl_asl_seconds {
    double value;             /* 0: not given */
    struct sl_jsonpath *path; /* or */
};

struct sl_asl_retrier {
    const char **errors; /* ErrorEquals (borrowed from the definition) */
    size_t nerrors;
    double interval_s, backoff;
    long max_attempts, max_delay_s; /* max_delay_s 0: none */
    bool jitter_full;
};

struct sl_asl_catcher {
    const char **errors;
    size_t nerrors;
    size_t next;
    struct sl_asl_path result_path;
};

struct sl_asl_choice {
    struct sl_choice_rule *rule;
    size_t next;
};

struct sl_asl;

/* What a Task's Resource names: a function by its ARN, one of Step
 * Functions' optimized integrations (arn:aws:states:::sqs:sendMessage),
 * or an AWS SDK integration (arn:aws:states:::aws-sdk:sqs:sendMessage),
 * with its pattern (.sync, .waitForTaskToken). */
enum sl_asl_res_kind {
    SL_RES_FUNCTION,
    SL_RES_OPTIMIZED,
    SL_RES_SDK,
    SL_RES_UNSUPPORTED, /* valid on AWS, not run by Sluice (an activity, ECS, Glue, ...):
                         * the Task fails with States.Runtime */
};
enum sl_asl_res_mode { SL_RES_RESPONSE, SL_RES_SYNC, SL_RES_TOKEN };
struct sl_asl_resource {
    enum sl_asl_res_kind kind;
    enum sl_asl_res_mode mode;
    bool sync2;          /* .sync:2 (states:startExecution: output as JSON) */
    char service[32];    /* the resource's: "sqs", "dynamodb", "states", "sfn", ... */
    char botocore[32];   /* the service's botocore name: "sqs", "stepfunctions" */
    char op[64];         /* the API's operation: "SendMessage" */
    char prefix[32];     /* its errors' prefix: "SQS" (optimized), "Sqs" (SDK) */
};
/* Parses arn as a Task's Resource: 0, or SL_EINVAL with why in err (what
 * Step Functions itself refuses). */
int sl_asl_resource_parse(const char *arn, struct sl_asl_resource *out, struct sl_err *err);

struct sl_asl_state {
    const char *name; /* borrowed from the definition */
    enum sl_asl_type type;
    size_t next; /* SL_ASL_NONE: End (or a terminal state) */
    struct sl_asl_path input_path, output_path, result_path;
    struct sl_template *parameters, *result_selector;
    json_t *result; /* Pass's Result (borrowed), or NULL */
    /* Task */
    const char *resource;
    struct sl_asl_resource res;
    struct sl_asl_seconds timeout, heartbeat;
    struct sl_asl_retrier *retry;
    size_t nretry;
    struct sl_asl_catcher *catch_;
    size_t ncatch;
    /* Choice */
    struct sl_asl_choice *choices;
    size_t nchoices;
    size_t default_next; /* SL_ASL_NONE: no Default */
    /* Wait: seconds (value or path), or a timestamp (text or path) */
    struct sl_asl_seconds wait_seconds;
    const char *wait_timestamp;
    struct sl_jsonpath *wait_timestamp_path;
    /* Fail */
    struct sl_asl_text error, cause;
    /* Parallel */
    struct sl_asl **branches;
    size_t nbranches;
    /* Map */
    struct sl_asl *processor;
    struct sl_asl_path items_path;
    struct sl_template *item_selector;
    long max_concurrency; /* 0: no limit */
    double tolerated_percentage;
    long tolerated_count;
    bool distributed;        /* ProcessorConfig.Mode DISTRIBUTED */
    const json_t *item_reader, *result_writer; /* borrowed, or NULL */
    /* ItemReader: an S3 object (s3:getObject, read as reader_type) or a
     * listing (s3:listObjectsV2), its Parameters, ReaderConfig. */
    bool reader_list;
    const char *reader_type;      /* "JSON", "JSONL", "CSV" (getObject) */
    const json_t *csv_headers;    /* CSVHeaderLocation GIVEN: the headers, else NULL */
    long reader_max;              /* MaxItems (0: all) */
    struct sl_template *reader_params, *writer_params;
    /* ItemBatcher */
    long batch_max;               /* MaxItemsPerBatch (0: no batches) */
    struct sl_template *batch_input;
};

struct sl_asl {
    json_t *doc; /* the definition (the top machine's own reference) */
    size_t start;
    struct sl_asl_state *states;
    size_t n;
    long timeout_s; /* 0: none */
};

/* Whether m may be an EXPRESS machine's: 0, or SL_EINVAL with the
 * InvalidDefinition message (a Task of the .sync or .waitForTaskToken
 * pattern, which EXPRESS workflows do not take). */
int sl_asl_check_express(const struct sl_asl *m, struct sl_err *err);
/* Parses and checks a definition (text): 0, or SL_EINVAL with the
 * InvalidDefinition message in err. */
int sl_asl_parse(const char *text, struct sl_asl **out, struct sl_err *err);
void sl_asl_free(struct sl_asl *m);
/* The parts of sl_asl_parse's message (ValidateStateMachineDefinition's
 * diagnostic): its code ("SCHEMA_VALIDATION_FAILED"), what is wrong, and
 * where ("/States/A/Next"; "" when nowhere in particular). */
void sl_asl_diagnostic(const char *msg, char *code, size_t cn, char *what, size_t wn, char *where,
                       size_t ln);
/* The index of state name in m, or SL_ASL_NONE. */
size_t sl_asl_find(const struct sl_asl *m, const char *name);

/* A state's effective input: InputPath, then Parameters (or, for Map,
 * applied per item by the caller). 0 and a new reference, or SL_EINVAL
 * with States.Runtime's cause. */
int sl_asl_input(const struct sl_asl_state *s, json_t *input, json_t *context, json_t **out,
                 struct sl_err *err);
/* A state's output from its raw input and its result: ResultSelector,
 * ResultPath (States.ResultPathMatchFailure when it cannot be applied:
 * *error names which), OutputPath. */
int sl_asl_output(const struct sl_asl_state *s, json_t *input, json_t *result, json_t *context,
                  json_t **out, const char **error, struct sl_err *err);
/* Applies a path field to doc (absent: doc itself; null: {}). */
int sl_asl_path_apply(const struct sl_asl_path *p, json_t *doc, json_t *context, json_t **out,
                      struct sl_err *err);

/* Whether error matches ErrorEquals (States.ALL matches all but
 * States.Runtime; States.TaskFailed all but States.Timeout). */
bool sl_asl_error_matches(const char *const *errors, size_t n, const char *error);

#endif
