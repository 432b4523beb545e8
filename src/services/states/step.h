/*
 * step — what one state does with its input, as a value the caller acts
 * on: the interpreter's pure core, shared by EXPRESS executions (in
 * memory) and STANDARD ones (each step stored as it is taken). It never
 * waits, invokes or stores: a Wait answers its deadline, a Task the input
 * to send to its resource, a Parallel or Map the inputs of its branches
 * or items; the caller comes back with what happened (the task's result
 * or error, the branches' outputs), and the step answers where to go.
 *
 * Errors follow the States Language: a runtime failure of the state's own
 * processing is States.Runtime (not caught by States.ALL); a Task's or a
 * Parallel's or Map's error goes through its Retry (a retry is a wait,
 * then the same state again) and Catch (the error output {"Error",
 * "Cause"} at the catcher's ResultPath, then its Next), else the
 * execution fails with it.
 *
 * May call: core, services/states (asl and what it uses), jansson.
 */
#ifndef SL_STATES_STEP_H
#define SL_STATES_STEP_H

#include <jansson.h>

#include "core/core.h"
#include "services/states/asl.h"

enum sl_step_kind {
    SL_STEP_NEXT,     /* go to state next with output */
    SL_STEP_END,      /* the machine ends with output */
    SL_STEP_FAIL,     /* the machine fails with error and cause */
    SL_STEP_WAIT,     /* come back at until_ms (sl_step_after_wait) */
    SL_STEP_TASK,     /* run resource with input (sl_step_task_result / _error) */
    SL_STEP_RETRY,    /* run the same state again at until_ms (a retrier's wait) */
    SL_STEP_PARALLEL, /* run each branch with input (sl_step_join) */
    SL_STEP_MAP,      /* run the processor with each of items (sl_step_join) */
};

struct sl_step {
    enum sl_step_kind kind;
    size_t next;
    json_t *output; /* NEXT, END */
    char error[256];
    char *cause;  /* FAIL (malloc'd, may be NULL) */
    int64_t until_ms;        /* WAIT, RETRY */
    const char *resource;    /* TASK */
    json_t *input;           /* TASK: the effective input; PARALLEL: each branch's */
    json_t *items;           /* MAP: an array of each item's input (ItemSelector applied);
                              * NULL for a Map with an ItemReader (input: its effective
                              * input; the caller reads the items and selects them with
                              * sl_step_map_select) */
    long max_concurrency;    /* MAP (0: no limit) */
    int64_t timeout_ms, heartbeat_ms; /* TASK: 0 when none */
};

/* Releases what a step holds. */
void sl_step_clear(struct sl_step *st);

/* What state i of m does with input (the state's raw input) at now_ms.
 * context is the context object ($$), which the caller keeps (State,
 * Map.Item, Task.Token). Always answers a step (a failure is a FAIL). */
void sl_step_run(const struct sl_asl *m, size_t i, json_t *input, json_t *context,
                 int64_t now_ms, struct sl_step *out);
/* After a WAIT: the state's output and where it goes. */
void sl_step_after_wait(const struct sl_asl *m, size_t i, json_t *input, json_t *context,
                        struct sl_step *out);
/* After a TASK's (or a PARALLEL's or MAP's joined) result. */
void sl_step_result(const struct sl_asl *m, size_t i, json_t *input, json_t *result,
                    json_t *context, struct sl_step *out);
/* After an error of a TASK, PARALLEL or MAP: attempts[] counts the tries
 * each retrier made (the caller keeps it, s->nretry long, zeroed when the
 * state is entered; NULL: no retry); answers RETRY, NEXT (a catcher's),
 * or FAIL. */
void sl_step_error(const struct sl_asl *m, size_t i, json_t *input, const char *error,
                   const char *cause, unsigned *attempts, json_t *context, int64_t now_ms,
                   struct sl_step *out);

/* A Map's items as its iterations take them (ItemSelector applied, in
 * ItemBatcher's batches): 0 and *out (new), or SL_EINVAL with
 * States.Runtime's cause. input: the state's effective input. */
int sl_step_map_select(const struct sl_asl_state *s, json_t *input, json_t *items,
                       json_t *context, json_t **out, struct sl_err *err);

/* The delay before retry attempt (1-based) of r, before jitter, in ms. */
int64_t sl_step_retry_delay_ms(const struct sl_asl_retrier *r, unsigned attempt);

#endif
