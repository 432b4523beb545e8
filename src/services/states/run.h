/*
 * run — an execution run in memory, on the engine loop (EXPRESS
 * executions): the machine's steps (step.h) taken one after another,
 * Wait states and retries on the loop's timers (nothing blocks), Parallel
 * branches and Map items as child runs of their own machines (at most
 * MaxConcurrency items at once; ToleratedFailureCount/Percentage), the
 * machine's TimeoutSeconds, States.DataLimitExceeded for an output over
 * 256 KiB. A run yields to the loop after 256 steps or children started. Task states are not run yet: an execution
 * that reaches one fails with States.Runtime, saying so.
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

/* Starts running machine m (which must outlive the run) with input and the
 * context object's Execution and StateMachine members (both taken), on
 * loop, for at most max_ms (0: no limit but the machine's TimeoutSeconds;
 * past either, TIMED_OUT); done(arg, result) is called once, on the loop
 * thread, when it ends (*out is valid until then). Call on the loop
 * thread. */
int sl_run_start(struct sl_loop *loop, const struct sl_asl *m, json_t *input, json_t *context,
                 int64_t max_ms, sl_run_done_fn done, void *arg, struct sl_run **out);
/* Ends run r now as FAILED with error and cause (done is called). Loop
 * thread. */
void sl_run_stop(struct sl_run *r, const char *error, const char *cause);

#endif
