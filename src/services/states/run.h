/*
 * run — an execution run in memory, on the engine loop (EXPRESS
 * executions): the machine's steps (step.h) taken one after another,
 * Wait states and retries on the loop's timers (nothing blocks), Parallel
 * branches and Map items as child runs of their own machines (at most
 * MaxConcurrency items at once; ToleratedFailureCount/Percentage), the
 * machine's TimeoutSeconds, States.DataLimitExceeded for an output over
 * 256 KiB. A run yields to the loop after 256 steps or children started.
 * Task states are handed to the caller's task runner (struct sl_run_tasks):
 * the frame waits for the task's end as it waits for a timer; a task of
 * the .waitForTaskToken pattern finds its token minted in $$.Task.Token.
 *
 * May call: core, engine (loop), services/states (step and what it uses),
 * jansson.
 */
#ifndef SL_STATES_RUN_H
#define SL_STATES_RUN_H

#include <jansson.h>

#include "core/core.h"
#include "engine/engine.h"
#include "services/states/asl.h"

enum sl_run_status { SL_RUN_SUCCEEDED, SL_RUN_FAILED, SL_RUN_TIMED_OUT };

/* The end of a run. */
struct sl_run_result {
    enum sl_run_status status;
    json_t *output; /* SUCCEEDED (the run's reference: take one to keep it) */
    const char *error, *cause; /* FAILED, TIMED_OUT (valid during the call) */
    uint64_t transitions;      /* states entered */
};
typedef void (*sl_run_done_fn)(void *arg, const struct sl_run_result *r);

struct sl_run;

/* A Task state's work, as a run hands it out. */
struct sl_run_task {
    const struct sl_asl_state *state; /* its Resource (res) */
    json_t *input;   /* the effective input (borrowed during start) */
    json_t *context; /* $$ (borrowed during start): Execution, StateMachine, Task.Token */
    int64_t timeout_ms, heartbeat_ms; /* 0: none */
};
/* A task's end: result (borrowed) when it succeeded, else error and cause
 * (cause may be NULL). */
typedef void (*sl_run_task_fn)(void *arg, json_t *result, const char *error, const char *cause);
struct sl_run_tasks {
    void *ctx;
    /* Starts t: its end comes through done(arg, ...) on the loop thread,
     * never before start returns. Returns a handle, or NULL when it cannot
     * start (the state then fails with States.Runtime). */
    void *(*start)(void *ctx, const struct sl_run_task *t, sl_run_task_fn done, void *arg);
    /* Drops the task of handle: done is not called. */
    void (*cancel)(void *ctx, void *handle);
    /* A new task token (out: n bytes, NUL-ended). */
    void (*token)(void *ctx, char *out, size_t n);
};

/* Starts running machine m (which must outlive the run) with input and the
 * context object's Execution and StateMachine members (both taken), on
 * loop, its Task states run by tasks (which must outlive the run; NULL:
 * a Task fails with States.Runtime), for at most max_ms (0: no limit but the machine's TimeoutSeconds;
 * past either, TIMED_OUT); done(arg, result) is called once, on the loop
 * thread, when it ends (*out is valid until then). Call on the loop
 * thread. */
int sl_run_start(struct sl_loop *loop, const struct sl_asl *m, json_t *input, json_t *context,
                 int64_t max_ms, const struct sl_run_tasks *tasks, sl_run_done_fn done,
                 void *arg, struct sl_run **out);
/* Ends run r now as FAILED with error and cause (done is called). Loop
 * thread. */
void sl_run_stop(struct sl_run *r, const char *error, const char *cause);

#endif
