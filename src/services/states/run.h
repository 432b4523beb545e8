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
/* The status as the API names it: "SUCCEEDED", "FAILED", "TIMED_OUT". */
const char *sl_run_status_name(enum sl_run_status s);

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
    /* A distributed Map's ItemReader and ResultWriter, run at once (on the
     * loop): 0 and *out (new), or an error with its name (error, en
     * bytes) and cause (malloc'd, may be NULL). read_items: the items of
     * Map state s for its effective input. write_results: stores each
     * item's input (items) and output (results: null for a failed item)
     * and the failures ([{"index", "error", "cause"}]) for state s with
     * its raw input, and answers the Map's result. NULL: the state fails. */
    int (*read_items)(void *ctx, const struct sl_asl_state *s, json_t *input, json_t *context,
                      json_t **out, char *error, size_t en, char **cause);
    int (*write_results)(void *ctx, const struct sl_asl_state *s, json_t *input,
                         json_t *context, json_t *items, json_t *results, json_t *failures,
                         json_t **out, char *error, size_t en, char **cause);
};

/* What a run tells its observer, as it happens (a STANDARD execution's
 * history and progress). */
enum sl_run_ev {
    SL_RUN_EV_ENTERED,   /* state entered with data (its raw input) */
    SL_RUN_EV_EXITED,    /* state left with data (its output) */
    SL_RUN_EV_TASK_STARTED,   /* data: the effective input sent to resource */
    SL_RUN_EV_TASK_SUCCEEDED, /* data: the task's result */
    SL_RUN_EV_TASK_FAILED,    /* error, cause (States.Timeout: timed out) */
    SL_RUN_EV_STARTED,        /* a Parallel's or Map's children start: index = how many */
    SL_RUN_EV_ITERATION_STARTED,   /* a Map's item index */
    SL_RUN_EV_ITERATION_SUCCEEDED, /* (the same) */
    SL_RUN_EV_ITERATION_FAILED,    /* (the same) */
    SL_RUN_EV_JOINED,         /* a Parallel's or Map's children all succeeded */
    SL_RUN_EV_JOIN_FAILED,    /* a Parallel or Map failed */
    /* The top machine's position: at state with input (its raw input) and
     * ctx (the context object), attempts (per retrier), and, when it waits
     * (a Wait state or a retry), until_ms (wall clock) and retry. A run
     * resumed from it (sl_run_resume) goes on from there. */
    SL_RUN_EV_POSITION,
};
struct sl_run_event {
    enum sl_run_ev kind;
    const struct sl_asl_state *state; /* NULL for none */
    bool top;                         /* the state is the top machine's */
    json_t *data;                     /* borrowed, may be NULL */
    const char *error, *cause;
    size_t index;
    /* SL_RUN_EV_POSITION: */
    size_t state_index;
    json_t *ctx;
    const unsigned *attempts;
    size_t nattempts;
    int64_t until_ms; /* 0: not waiting */
    bool retry;       /* the wait is a retrier's */
};
struct sl_run_observer {
    void *ctx;
    void (*event)(void *ctx, const struct sl_run_event *e);
};

/* Starts running machine m (which must outlive the run) with input and the
 * context object's Execution and StateMachine members (both taken), on
 * loop, its Task states run by tasks (which must outlive the run; NULL:
 * a Task fails with States.Runtime), observed by obs (may be NULL; it
 * must outlive the run), for at most max_ms (0: no limit but the machine's TimeoutSeconds;
 * past either, TIMED_OUT); done(arg, result) is called once, on the loop
 * thread, when it ends (*out is valid until then). Call on the loop
 * thread. */
int sl_run_start(struct sl_loop *loop, const struct sl_asl *m, json_t *input, json_t *context,
                 int64_t max_ms, const struct sl_run_tasks *tasks,
                 const struct sl_run_observer *obs, sl_run_done_fn done, void *arg,
                 struct sl_run **out);
/* A run taken up again from a position its observer was told (a STANDARD
 * execution after a restart): state with input and ctx (both taken), the
 * retriers' attempts, and the wait it was in (until_ms 0: none; the state
 * then runs again from its start). deadline_ms: the wall-clock end of the
 * machine's TimeoutSeconds (0: none). As sl_run_start otherwise. */
int sl_run_resume(struct sl_loop *loop, const struct sl_asl *m, size_t state, json_t *input,
                  json_t *ctx, const unsigned *attempts, size_t nattempts, int64_t until_ms,
                  bool retry, int64_t deadline_ms, const struct sl_run_tasks *tasks,
                  const struct sl_run_observer *obs, sl_run_done_fn done, void *arg,
                  struct sl_run **out);
/* Ends run r now as FAILED with error and cause (done is called). Loop
 * thread. */
void sl_run_stop(struct sl_run *r, const char *error, const char *cause);

#endif
