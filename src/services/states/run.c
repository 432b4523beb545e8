/*
 * In-memory runs (run.h). A run is a tree of frames: the top machine's,
 * and one per Parallel branch or Map item under way, each at one state.
 * Everything happens on the loop thread: a frame steps until it must wait
 * (a timer), hand out work (children), or end; a long chain of steps
 * yields to the loop now and then, so that a machine that loops forever
 * does not take the loop with it.
 */
#include "services/states/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/states/step.h"

#define STEPS_PER_TURN 256 /* steps (and children started) before the run yields */
#define DEPTH_MAX 32       /* drive() nested in itself (through joins) before it defers */
#define DATA_MAX (256 * 1024) /* a state's output, as AWS limits it */

struct sl_run;

struct frame {
    struct sl_run *run;
    const struct sl_asl *m;
    size_t state;
    json_t *input;
    json_t *ctx;
    unsigned *attempts;
    struct sl_timer *timer;
    void *task; /* a Task's work under way (the runner's handle) */
    bool cancelled;
    struct frame *parent;
    size_t index;
    /* As the parent of a Parallel's branches or a Map's items: */
    struct frame **kids;
    size_t nkids, started, finished, failed;
    json_t *results, *items;
    json_t *failures; /* a ResultWriter's: each failed item's error */
    long max_conc;
    char kid_error[256];
    char *kid_cause;
    bool kid_failed;
    bool pumping, repump; /* pump() under way; called again meanwhile */
    int after;            /* what its timer is for: AFTER_* */
    struct sl_step deferred; /* AFTER_STEP: the step to go on with */
    struct frame *prev, *next; /* the run's frames */
};

struct sl_run {
    struct sl_loop *loop;
    const struct sl_run_tasks *tasks;
    const struct sl_run_observer *obs;
    sl_run_done_fn done;
    void *arg;
    uint64_t transitions;
    struct sl_timer *timeout;
    bool ended;
    int depth;  /* drive() calls under way: the run is freed when back at 0 */
    int budget; /* steps left in this turn of the loop */
    struct frame *frames;
};

static void drive(struct frame *f, struct sl_step *st);

/* ---- frames' lives -------------------------------------------------------------- */

static void frame_free(struct frame *f)
{
    struct sl_run *r = f->run;
    if (f->prev)
        f->prev->next = f->next;
    else
        r->frames = f->next;
    if (f->next)
        f->next->prev = f->prev;
    json_decref(f->input);
    json_decref(f->ctx);
    json_decref(f->results);
    json_decref(f->items);
    json_decref(f->failures);
    free(f->attempts);
    free(f->kids);
    free(f->kid_cause);
    sl_step_clear(&f->deferred);
    free(f);
}

/* Ends f's part: its timer cancelled, its children too; freed. */
static void frame_cancel(struct frame *f)
{
    for (size_t i = 0; i < f->nkids; i++)
        if (f->kids[i]) {
            f->kids[i]->parent = NULL;
            frame_cancel(f->kids[i]);
            f->kids[i] = NULL;
        }
    if (f->timer) {
        sl_loop_timer_cancel(f->run->loop, f->timer);
        f->timer = NULL;
    }
    if (f->task) {
        f->run->tasks->cancel(f->run->tasks->ctx, f->task);
        f->task = NULL;
    }
    f->cancelled = true;
    frame_free(f);
}

static struct frame *frame_new(struct sl_run *r, const struct sl_asl *m, json_t *ctx)
{
    struct frame *f = calloc(1, sizeof(*f));
    if (!f) {
        json_decref(ctx);
        return NULL;
    }
    f->run = r;
    f->m = m;
    f->ctx = ctx;
    f->next = r->frames;
    if (r->frames)
        r->frames->prev = f;
    r->frames = f;
    return f;
}

/* The run ends (once): done is told, every frame goes. */
static void run_end(struct sl_run *r, enum sl_run_status status, json_t *output, const char *error,
                    const char *cause)
{
    if (r->ended)
        return;
    r->ended = true;
    if (r->timeout) {
        sl_loop_timer_cancel(r->loop, r->timeout);
        r->timeout = NULL;
    }
    struct sl_run_result res = {status, output, error, cause, r->transitions};
    r->done(r->arg, &res);
    /* Every frame goes (each is on the list: none through its parent). */
    while (r->frames) {
        r->frames->nkids = 0;
        frame_cancel(r->frames);
    }
    if (r->depth == 0)
        free(r); /* (else the outermost drive() does, as it returns) */
}

/* ---- entering states -------------------------------------------------------------- */

/* Makes f's context object its own before it changes: paths and templates
 * hand out references to it ("$$"), which must keep what they saw. */
static void own_context(struct frame *f)
{
    if (f->ctx && f->ctx->refcount > 1) {
        json_t *copy = json_copy(f->ctx);
        if (copy) {
            json_decref(f->ctx);
            f->ctx = copy;
        }
    }
}

/* Tells the run's observer ev about f's state. */
static void emit(struct frame *f, struct sl_run_event *ev)
{
    const struct sl_run_observer *obs = f->run->obs;
    if (!obs || f->run->ended)
        return;
    ev->state = &f->m->states[f->state];
    ev->top = !f->parent;
    obs->event(obs->ctx, ev);
}

static void tell(struct frame *f, enum sl_run_ev kind, json_t *data, size_t index)
{
    struct sl_run_event ev = {.kind = kind, .data = data, .index = index};
    emit(f, &ev);
}

/* The top machine's position (a wait: until_ms, else 0). */
static void tell_position(struct frame *f, int64_t until_ms, bool retry)
{
    if (f->parent || !f->run->obs)
        return;
    struct sl_run_event ev = {.kind = SL_RUN_EV_POSITION,
                              .data = f->input,
                              .state_index = f->state,
                              .ctx = f->ctx,
                              .attempts = f->attempts,
                              .nattempts = f->m->states[f->state].nretry,
                              .until_ms = until_ms,
                              .retry = retry};
    emit(f, &ev);
}

/* Takes state f->state's step (sl_step_run): a Task of the
 * .waitForTaskToken pattern gets a new token in $$.Task.Token first, and
 * any other state none. */
static void step_run(struct frame *f, struct sl_step *st)
{
    const struct sl_asl_state *s = &f->m->states[f->state];
    bool token = s->type == SL_ASL_TASK && s->res.mode == SL_RES_TOKEN && f->run->tasks;
    if (token || json_object_get(f->ctx, "Task")) {
        own_context(f);
        json_object_del(f->ctx, "Task");
        if (token) {
            char tok[512];
            f->run->tasks->token(f->run->tasks->ctx, tok, sizeof(tok));
            json_object_set_new(f->ctx, "Task", json_pack("{s:s}", "Token", tok));
        }
    }
    sl_step_run(f->m, f->state, f->input, f->ctx, sl_time_now_ms(), st);
}

/* Whether v's JSON text would be longer than max (a walk that stops as
 * soon as it is). */
static bool too_big(const json_t *v, size_t max, size_t *size)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        *size += 2;
        json_object_foreach((json_t *)v, k, m)
        {
            *size += strlen(k) + 4;
            if (*size > max || too_big(m, max, size))
                return true;
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        *size += 2;
        json_array_foreach((json_t *)v, i, m)
        {
            *size += 1;
            if (*size > max || too_big(m, max, size))
                return true;
        }
        break;
    }
    case JSON_STRING:
        *size += json_string_length(v) + 2;
        break;
    default:
        *size += 8;
        break;
    }
    return *size > max;
}

static int enter(struct frame *f, size_t state, json_t *input)
{
    const struct sl_asl_state *s = &f->m->states[state];
    json_decref(f->input);
    f->input = input;
    f->state = state;
    free(f->attempts);
    f->attempts = s->nretry ? calloc(s->nretry, sizeof(*f->attempts)) : NULL;
    char at[40];
    sl_time_iso8601_ms(sl_time_now_ms(), at, sizeof(at));
    own_context(f);
    json_object_set_new(f->ctx, "State", json_pack("{s:s, s:s, s:i}", "Name", s->name,
                                                   "EnteredTime", at, "RetryCount", 0));
    f->run->transitions++;
    if (s->nretry && !f->attempts)
        return SL_ENOMEM;
    tell(f, SL_RUN_EV_ENTERED, input, 0);
    tell_position(f, 0, false);
    return 0;
}

/* ---- children: Parallel's branches, Map's items ------------------------------------------ */

/* What a frame's timer is for. */
enum { AFTER_WAIT = 1, AFTER_RETRY, AFTER_YIELD, AFTER_PUMP, AFTER_STEP };

static void pump(struct frame *f);
static void on_timer(struct sl_loop *l, void *arg);
static void write_results(struct frame *f, struct sl_step *st);

/* Child index of f ended (kid: its frame, gone now; NULL when it could not
 * start). */
static void kid_done(struct frame *f, size_t index, struct frame *kid, bool ok, json_t *output,
                     const char *error, const char *cause)
{
    if (kid) {
        if (f)
            f->kids[index] = NULL;
        kid->parent = NULL;
        frame_cancel(kid);
    }
    if (!f || f->cancelled || f->run->ended)
        return;
    f->finished++;
    if (f->m->states[f->state].type == SL_ASL_MAP)
        tell(f, ok ? SL_RUN_EV_ITERATION_SUCCEEDED : SL_RUN_EV_ITERATION_FAILED, NULL, index);
    if (ok) {
        json_array_set(f->results, index, output);
    } else {
        f->failed++;
        if (f->m->states[f->state].result_writer) {
            json_t *one = json_pack("{s:I, s:s}", "index", (json_int_t)index, "error",
                                    error ? error : "");
            if (one && cause)
                json_object_set_new(one, "cause", json_string(cause));
            json_array_append_new(f->failures, one);
        }
        if (!f->kid_failed) {
            f->kid_failed = true;
            sl_strlcpy(f->kid_error, error ? error : "", sizeof(f->kid_error));
            f->kid_cause = cause ? strdup(cause) : NULL;
        }
    }
    pump(f);
}

static void start_kid(struct frame *f, size_t i)
{
    const struct sl_asl_state *s = &f->m->states[f->state];
    const struct sl_asl *m = s->type == SL_ASL_PARALLEL ? s->branches[i] : s->processor;
    json_t *ctx = json_copy(f->ctx);
    if (ctx)
        json_object_del(ctx, "State");
    json_t *input = s->type == SL_ASL_PARALLEL ? json_incref(f->items)
                                               : json_incref(json_array_get(f->items, i));
    struct frame *k = ctx ? frame_new(f->run, m, ctx) : NULL;
    f->started++;
    f->run->budget--;
    if (!k) {
        json_decref(input);
        kid_done(f, i, NULL, false, NULL, "States.Runtime", "out of memory");
        return;
    }
    k->parent = f;
    k->index = i;
    f->kids[i] = k;
    if (s->type == SL_ASL_MAP)
        tell(f, SL_RUN_EV_ITERATION_STARTED, NULL, i);
    if (s->type == SL_ASL_MAP)
        json_object_set_new(k->ctx, "Map", json_pack("{s:{s:I, s:O}}", "Item", "Index",
                                                     (json_int_t)i, "Value", input));
    struct sl_step st;
    if (enter(k, m->start, input)) {
        kid_done(f, i, k, false, NULL, "States.Runtime", "out of memory");
        return;
    }
    step_run(k, &st);
    drive(k, &st);
}

/* Whether a Map's failures so far are more than it tolerates (any failure
 * of a Parallel, or of a Map that tolerates none). */
static bool too_many_failures(const struct frame *f, const struct sl_asl_state *s)
{
    if (s->type != SL_ASL_MAP || (!s->tolerated_count && !s->tolerated_percentage))
        return f->failed > 0;
    bool over_count = (long)f->failed > s->tolerated_count;
    bool over_pct = (double)f->failed * 100.0 / (double)f->nkids > s->tolerated_percentage;
    if (s->tolerated_count && s->tolerated_percentage)
        return over_count || over_pct; /* (either threshold passed) */
    return s->tolerated_count ? over_count : over_pct;
}

/* The parent's progress: children started while the state allows, then
 * the state's end once they are all done, or its failure. Never nested
 * for one frame: a child that ends at once only asks for another pass. */
static void pump(struct frame *f)
{
    if (f->pumping) {
        f->repump = true;
        return;
    }
    f->pumping = true;
    const struct sl_asl_state *s = &f->m->states[f->state];
    struct sl_step st;
    do {
        f->repump = false;
        if (f->run->ended || f->cancelled) {
            f->pumping = false;
            return;
        }
        if (f->failed && too_many_failures(f, s)) {
            /* The state fails: what is still under way stops. */
            for (size_t i = 0; i < f->nkids; i++)
                if (f->kids[i]) {
                    f->kids[i]->parent = NULL;
                    frame_cancel(f->kids[i]);
                    f->kids[i] = NULL;
                }
            bool tolerance =
                s->type == SL_ASL_MAP && (s->tolerated_count || s->tolerated_percentage);
            char err[256];
            char *why = f->kid_cause ? strdup(f->kid_cause) : NULL;
            sl_strlcpy(err, tolerance ? "States.ExceedToleratedFailureThreshold" : f->kid_error,
                       sizeof(err));
            f->pumping = false;
            tell(f, SL_RUN_EV_JOIN_FAILED, NULL, 0);
            sl_step_error(f->m, f->state, f->input, err,
                          tolerance ? "The specified tolerated failure threshold was exceeded"
                                    : why,
                          f->attempts, f->ctx, sl_time_now_ms(), &st);
            free(why);
            drive(f, &st);
            return;
        }
        if (f->finished == f->nkids) {
            f->pumping = false;
            if (s->result_writer) {
                write_results(f, &st);
                drive(f, &st);
                return;
            }
            tell(f, SL_RUN_EV_JOINED, f->results, 0);
            sl_step_result(f->m, f->state, f->input, f->results, f->ctx, &st);
            drive(f, &st);
            return;
        }
        while (f->started < f->nkids && !f->run->ended && !f->cancelled &&
               !(f->failed && too_many_failures(f, s)) &&
               (f->max_conc <= 0 || (long)(f->started - f->finished) < f->max_conc)) {
            if (f->run->budget <= 0) {
                /* The rest in a later turn of the loop. */
                f->after = AFTER_PUMP;
                f->timer = sl_loop_timer(f->run->loop, sl_loop_now_ms(), on_timer, f);
                if (f->timer) {
                    f->pumping = false;
                    return;
                }
            }
            start_kid(f, f->started);
        }
    } while (f->repump);
    f->pumping = false;
}

/* A distributed Map's ResultWriter at its end: st is the state's result,
 * or its error. */
static void write_results(struct frame *f, struct sl_step *st)
{
    const struct sl_asl_state *s = &f->m->states[f->state];
    const struct sl_run_tasks *tasks = f->run->tasks;
    char error[256] = "States.ResultWriterFailed";
    char *cause = NULL;
    json_t *out = NULL;
    int rc = tasks && tasks->write_results
                 ? tasks->write_results(tasks->ctx, s, f->input, f->ctx, f->items, f->results,
                                        f->failures, &out, error, sizeof(error), &cause)
                 : SL_ENOTSUP;
    if (rc) {
        tell(f, SL_RUN_EV_JOIN_FAILED, NULL, 0);
        sl_step_error(f->m, f->state, f->input, error,
                      cause ? cause : "This execution cannot write a Map's results", f->attempts,
                      f->ctx, sl_time_now_ms(), st);
    } else {
        tell(f, SL_RUN_EV_JOINED, out, 0);
        sl_step_result(f->m, f->state, f->input, out, f->ctx, st);
    }
    json_decref(out);
    free(cause);
}

/* A distributed Map's items from its ItemReader (st->input: the state's
 * effective input): 0 with st->items set, or the state's error in st. */
static int read_items(struct frame *f, struct sl_step *st)
{
    const struct sl_asl_state *s = &f->m->states[f->state];
    const struct sl_run_tasks *tasks = f->run->tasks;
    char error[256] = "States.ItemReaderFailed";
    char *cause = NULL;
    json_t *raw = NULL, *items = NULL;
    int rc = tasks && tasks->read_items ? tasks->read_items(tasks->ctx, s, st->input, f->ctx,
                                                            &raw, error, sizeof(error), &cause)
                                        : SL_ENOTSUP;
    struct sl_err err = {0};
    if (!rc && (rc = sl_step_map_select(s, st->input, raw, f->ctx, &items, &err)) != 0) {
        sl_strlcpy(error, "States.Runtime", sizeof(error));
        free(cause);
        cause = strdup(err.msg[0] ? err.msg : "out of memory");
    }
    json_decref(raw);
    sl_step_clear(st);
    if (rc) {
        sl_step_error(f->m, f->state, f->input, error,
                      cause ? cause : "This execution cannot read a Map's items", f->attempts,
                      f->ctx, sl_time_now_ms(), st);
        free(cause);
        return rc;
    }
    free(cause);
    st->kind = SL_STEP_MAP;
    st->items = items;
    st->max_concurrency = s->max_concurrency;
    return 0;
}

static void spawn(struct frame *f, struct sl_step *st)
{
    const struct sl_asl_state *s = &f->m->states[f->state];
    if (st->kind == SL_STEP_MAP && !st->items && read_items(f, st)) {
        drive(f, st);
        return;
    }
    bool map = st->kind == SL_STEP_MAP;
    json_decref(f->items);
    f->nkids = map ? json_array_size(st->items) : s->nbranches;
    f->items = map ? st->items : st->input; /* (Parallel: every branch's input) */
    if (map)
        st->items = NULL;
    else
        st->input = NULL;
    f->max_conc = map ? st->max_concurrency : 0;
    f->started = f->finished = f->failed = 0;
    f->kid_failed = false;
    free(f->kid_cause);
    f->kid_cause = NULL;
    json_decref(f->results);
    f->results = json_array();
    json_decref(f->failures);
    f->failures = s->result_writer ? json_array() : NULL;
    free(f->kids);
    f->kids = calloc(f->nkids ? f->nkids : 1, sizeof(*f->kids));
    for (size_t i = 0; f->results && i < f->nkids; i++)
        json_array_append_new(f->results, json_null());
    sl_step_clear(st);
    tell(f, SL_RUN_EV_STARTED, NULL, f->nkids);
    if (!f->kids || !f->results) {
        sl_step_error(f->m, f->state, f->input, "States.Runtime", "out of memory", NULL, f->ctx,
                      sl_time_now_ms(), st);
        drive(f, st);
        return;
    }
    pump(f);
}

/* f's machine ended: the run's, or its parent's child. */
static void frame_end(struct frame *f, bool ok, json_t *output, const char *error,
                      const char *cause)
{
    if (!f->parent) {
        run_end(f->run, ok ? SL_RUN_SUCCEEDED : SL_RUN_FAILED, output, error, cause);
        return;
    }
    kid_done(f->parent, f->index, f, ok, output, error, cause);
}

/* ---- tasks ---------------------------------------------------------------------------- */

/* A Task's work ended (the loop's thread, from the runner). */
static void task_done(void *arg, json_t *result, const char *error, const char *cause)
{
    struct frame *f = arg;
    f->task = NULL;
    f->run->budget = STEPS_PER_TURN;
    struct sl_step st;
    struct sl_run_event ev = {.kind = error ? SL_RUN_EV_TASK_FAILED : SL_RUN_EV_TASK_SUCCEEDED,
                              .data = result,
                              .error = error,
                              .cause = cause};
    emit(f, &ev);
    if (!error)
        sl_step_result(f->m, f->state, f->input, result, f->ctx, &st);
    else
        sl_step_error(f->m, f->state, f->input, error, cause, f->attempts, f->ctx,
                      sl_time_now_ms(), &st);
    drive(f, &st);
}

/* Hands step st's Task to the runner: true when it is under way (st
 * cleared), false when it could not start (st is then the state's
 * error). */
static bool start_task(struct frame *f, struct sl_step *st)
{
    const struct sl_run_tasks *tasks = f->run->tasks;
    struct sl_run_task t = {.state = &f->m->states[f->state],
                            .input = st->input,
                            .context = f->ctx,
                            .timeout_ms = st->timeout_ms,
                            .heartbeat_ms = st->heartbeat_ms};
    tell(f, SL_RUN_EV_TASK_STARTED, st->input, 0);
    f->task = tasks ? tasks->start(tasks->ctx, &t, task_done, f) : NULL;
    sl_step_clear(st);
    if (f->task)
        return true;
    sl_step_error(f->m, f->state, f->input, "States.Runtime",
                  tasks ? "The task could not start: out of memory"
                        : "This execution cannot run Task states",
                  NULL, f->ctx, 0, st);
    return false;
}

/* ---- stepping ------------------------------------------------------------------------ */


static void drive_inner(struct frame *f, struct sl_step *st);

/* Goes on from step st (taken) of f. Joins that end at once call this
 * again from inside itself: past DEPTH_MAX the step waits for a timer due
 * now, so that the stack stays shallow. */
static void drive(struct frame *f, struct sl_step *st)
{
    struct sl_run *r = f->run;
    if (r->depth >= DEPTH_MAX) {
        f->deferred = *st;
        memset(st, 0, sizeof(*st));
        f->after = AFTER_STEP;
        f->timer = sl_loop_timer(r->loop, sl_loop_now_ms(), on_timer, f);
        if (f->timer)
            return;
        *st = f->deferred;
        memset(&f->deferred, 0, sizeof(f->deferred));
    }
    r->depth++;
    drive_inner(f, st);
    if (--r->depth == 0 && r->ended)
        free(r);
}

static void drive_inner(struct frame *f, struct sl_step *st)
{
    for (;;) {
        if (f->run->ended || f->cancelled) {
            sl_step_clear(st);
            return;
        }
        /* A state's output is at most 256 KiB, as AWS's. */
        size_t size = 0;
        if ((st->kind == SL_STEP_NEXT || st->kind == SL_STEP_END) &&
            too_big(st->output, DATA_MAX, &size)) {
            sl_step_clear(st);
            sl_step_error(f->m, f->state, f->input, "States.DataLimitExceeded",
                          "The state's output is larger than 262144 characters", NULL, f->ctx,
                          0, st);
            continue;
        }
        switch (st->kind) {
        case SL_STEP_NEXT: {
            json_t *o = st->output;
            size_t next = st->next;
            st->output = NULL;
            sl_step_clear(st);
            tell(f, SL_RUN_EV_EXITED, o, 0);
            if (enter(f, next, o)) {
                sl_step_error(f->m, f->state, f->input, "States.Runtime", "out of memory", NULL,
                              f->ctx, 0, st);
                continue;
            }
            if (--f->run->budget <= 0) {
                /* Other work of the loop goes first: a timer due now runs
                 * after the loop's I/O and tasks. */
                f->after = AFTER_YIELD;
                f->timer = sl_loop_timer(f->run->loop, sl_loop_now_ms(), on_timer, f);
                if (f->timer)
                    return;
            }
            step_run(f, st);
            continue;
        }
        case SL_STEP_END: {
            json_t *o = st->output;
            st->output = NULL;
            sl_step_clear(st);
            tell(f, SL_RUN_EV_EXITED, o, 0);
            frame_end(f, true, o, NULL, NULL);
            json_decref(o);
            return;
        }
        case SL_STEP_FAIL: {
            char error[256];
            sl_strlcpy(error, st->error, sizeof(error));
            char *cause = st->cause;
            st->cause = NULL;
            sl_step_clear(st);
            frame_end(f, false, NULL, error, cause);
            free(cause);
            return;
        }
        case SL_STEP_WAIT:
        case SL_STEP_RETRY: {
            int64_t until = st->until_ms;
            int what = st->kind == SL_STEP_WAIT ? AFTER_WAIT : AFTER_RETRY;
            sl_step_clear(st);
            f->after = what;
            tell_position(f, until, what == AFTER_RETRY);
            /* (until is wall-clock time; the loop's timers are monotonic.) */
            int64_t wait = until - sl_time_now_ms();
            f->timer = sl_loop_timer(f->run->loop, sl_loop_now_ms() + (wait > 0 ? wait : 0),
                                     on_timer, f);
            if (!f->timer)
                frame_end(f, false, NULL, "States.Runtime", "cannot set a timer");
            return;
        }
        case SL_STEP_TASK:
            if (start_task(f, st))
                return;
            continue; /* (it could not start: st is the state's error) */
        case SL_STEP_PARALLEL:
        case SL_STEP_MAP:
            spawn(f, st);
            return;
        }
    }
}

static void on_timer(struct sl_loop *l, void *arg)
{
    (void)l;
    struct frame *f = arg;
    f->timer = NULL;
    f->run->budget = STEPS_PER_TURN;
    struct sl_step st;
    switch (f->after) {
    case AFTER_WAIT:
        sl_step_after_wait(f->m, f->state, f->input, f->ctx, &st);
        break;
    case AFTER_PUMP:
        pump(f);
        return;
    case AFTER_STEP:
        st = f->deferred;
        memset(&f->deferred, 0, sizeof(f->deferred));
        break;
    case AFTER_RETRY: {
        unsigned tries = 0;
        const struct sl_asl_state *s = &f->m->states[f->state];
        for (size_t i = 0; i < s->nretry; i++)
            tries += f->attempts[i];
        /* (A new State member: the old one may be someone's "$$.State".) */
        own_context(f);
        json_t *state = json_copy(json_object_get(f->ctx, "State"));
        if (state) {
            json_object_set_new(state, "RetryCount", json_integer(tries));
            json_object_set_new(f->ctx, "State", state);
        }
    }
        /* fall through */
    default: /* AFTER_YIELD */
        step_run(f, &st);
        break;
    }
    drive(f, &st);
}

static void on_timeout(struct sl_loop *l, void *arg)
{
    (void)l;
    struct sl_run *r = arg;
    r->timeout = NULL;
    run_end(r, SL_RUN_TIMED_OUT, NULL, "States.Timeout",
            "The execution ran longer than its state machine's TimeoutSeconds");
}

const char *sl_run_status_name(enum sl_run_status s)
{
    static const char *const names[] = {"SUCCEEDED", "FAILED", "TIMED_OUT"};
    return names[s];
}

void sl_run_stop(struct sl_run *r, const char *error, const char *cause)
{
    run_end(r, SL_RUN_FAILED, NULL, error, cause);
}

/* A run with its top frame (ctx taken), its timeout set to end at
 * limit_ms from now (0: none); NULL when out of memory. */
static struct sl_run *run_new(struct sl_loop *loop, const struct sl_asl *m, json_t *ctx,
                              int64_t limit_ms, const struct sl_run_tasks *tasks,
                              const struct sl_run_observer *obs, sl_run_done_fn done,
                              void *arg)
{
    struct sl_run *r = calloc(1, sizeof(*r));
    if (!r) {
        json_decref(ctx);
        return NULL;
    }
    r->loop = loop;
    r->tasks = tasks;
    r->obs = obs;
    r->done = done;
    r->arg = arg;
    if (!frame_new(r, m, ctx)) {
        free(r);
        return NULL;
    }
    if (limit_ms > 0)
        r->timeout = sl_loop_timer(loop, sl_loop_now_ms() + limit_ms, on_timeout, r);
    r->budget = STEPS_PER_TURN;
    return r;
}

int sl_run_resume(struct sl_loop *loop, const struct sl_asl *m, size_t state, json_t *input,
                  json_t *ctx, const unsigned *attempts, size_t nattempts, int64_t until_ms,
                  bool retry, int64_t deadline_ms, const struct sl_run_tasks *tasks,
                  const struct sl_run_observer *obs, sl_run_done_fn done, void *arg,
                  struct sl_run **out)
{
    int64_t now = sl_time_now_ms();
    struct sl_run *r = state < m->n ? run_new(loop, m, ctx, deadline_ms ? (deadline_ms > now ? deadline_ms - now : 1) : 0,
                                              tasks, obs, done, arg)
                                    : NULL;
    if (!r) {
        json_decref(input);
        return state < m->n ? SL_ENOMEM : SL_EINVAL;
    }
    struct frame *f = r->frames;
    const struct sl_asl_state *s = &m->states[state];
    f->state = state;
    f->input = input;
    f->attempts = s->nretry ? calloc(s->nretry, sizeof(*f->attempts)) : NULL;
    for (size_t i = 0; f->attempts && i < s->nretry && i < nattempts; i++)
        f->attempts[i] = attempts[i];
    *out = r;
    if (s->nretry && !f->attempts) {
        frame_end(f, false, NULL, "States.Runtime", "out of memory");
        return 0;
    }
    if (until_ms) {
        /* The wait it was in, to its deadline (past: at once). */
        f->after = retry ? AFTER_RETRY : AFTER_WAIT;
        f->timer = sl_loop_timer(loop, sl_loop_now_ms() + (until_ms > now ? until_ms - now : 0),
                                 on_timer, f);
        if (!f->timer)
            frame_end(f, false, NULL, "States.Runtime", "cannot set a timer");
        return 0;
    }
    struct sl_step st;
    step_run(f, &st);
    drive(f, &st);
    return 0;
}

int sl_run_start(struct sl_loop *loop, const struct sl_asl *m, json_t *input, json_t *context,
                 int64_t max_ms, const struct sl_run_tasks *tasks,
                 const struct sl_run_observer *obs, sl_run_done_fn done, void *arg,
                 struct sl_run **out)
{
    int64_t limit = m->timeout_s ? (int64_t)m->timeout_s * 1000 : 0;
    if (max_ms > 0 && (!limit || max_ms < limit))
        limit = max_ms;
    struct sl_run *r = run_new(loop, m, context, limit, tasks, obs, done, arg);
    if (!r) {
        json_decref(input);
        return SL_ENOMEM;
    }
    struct frame *f = r->frames;
    *out = r;
    struct sl_step st;
    if (enter(f, m->start, input)) {
        frame_end(f, false, NULL, "States.Runtime", "out of memory");
        return 0;
    }
    step_run(f, &st);
    drive(f, &st);
    return 0;
}
