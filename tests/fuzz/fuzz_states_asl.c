/* libFuzzer target: state machine definitions (services/states/asl.h),
 * which CreateStateMachine takes from the network. Whatever parses has
 * every transition inside the machine, and every state's input and
 * output processing runs on a sample input (never a crash; a value or a
 * failure with a message), and so does every state's step (with an error
 * through its retriers and catchers). The text is also taken as a state
 * machine's ARN (whatever parses names the same machine again) and as a
 * definition error to take apart for ValidateStateMachineDefinition, and
 * as a Task's Resource (whatever parses names an operation of a service),
 * as an execution's ARN (whatever parses names the same execution again)
 * and as the CSV an ItemReader reads (every row an array of strings). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/states/internal.h"
#include "services/states/step.h"

static void check(const struct sl_asl *m, json_t *input, json_t *ctx)
{
    if (m->start >= m->n)
        abort();
    for (size_t i = 0; i < m->n; i++) {
        const struct sl_asl_state *s = &m->states[i];
        if (s->next != SL_ASL_NONE && s->next >= m->n)
            abort();
        for (size_t k = 0; k < s->nchoices; k++)
            if (s->choices[k].next >= m->n)
                abort();
        struct sl_err err = {0};
        json_t *in = NULL, *out = NULL;
        const char *error = NULL;
        if (sl_asl_input(s, input, ctx, &in, &err) == 0) {
            (void)sl_asl_output(s, input, in, ctx, &out, &error, &err);
            json_decref(out);
            json_decref(in);
        }
        struct sl_step st;
        sl_step_run(m, i, input, ctx, 0, &st);
        sl_step_clear(&st);
        unsigned attempts[64] = {0};
        if (s->nretry <= 64) {
            sl_step_error(m, i, input, "States.TaskFailed", "cause", attempts, ctx, 0, &st);
            if (st.kind == SL_STEP_NEXT && st.next >= m->n)
                abort();
            sl_step_clear(&st);
        }
        for (size_t k = 0; k < s->nbranches; k++)
            check(s->branches[k], input, ctx);
        if (s->processor)
            check(s->processor, input, ctx);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct sfn_ref r, again;
    if (sfn_ref_parse(s, &r) && (!sfn_ref_parse(r.arn, &again) || strcmp(again.arn, r.arn)))
        abort();
    struct sfn_eref e, e2;
    if (sfn_eref_parse(s, &e) && (!sfn_eref_parse(e.arn, &e2) || strcmp(e2.arn, e.arn)))
        abort();
    json_t *rows = sfn_csv_rows((const char *)data, size); /* (NULL: not UTF-8) */
    size_t ri;
    json_t *row;
    json_array_foreach(rows, ri, row)
    {
        if (!json_is_array(row))
            abort();
    }
    json_decref(rows);
    char code[64], what[256], where[128];
    sl_asl_diagnostic(s, code, sizeof(code), what, sizeof(what), where, sizeof(where));
    struct sl_asl *m = NULL;
    struct sl_err err = {0};
    struct sl_asl_resource res;
    if (sl_asl_resource_parse(s, &res, &err) == 0 && res.kind != SL_RES_UNSUPPORTED &&
        (!res.op[0] || !res.botocore[0] || !res.prefix[0] || strlen(res.op) >= sizeof(res.op)))
        abort();
    if (sl_asl_parse(s, &m, &err) == 0) {
        json_t *input = json_pack("{s:i, s:{s:s}, s:[i,i]}", "n", 1, "o", "k", "v", "a", 1, 2);
        json_t *ctx = json_pack("{s:{s:s}}", "Execution", "Name", "run");
        check(m, input, ctx);
        json_decref(input);
        json_decref(ctx);
        sl_asl_free(m);
    }
    free(s);
    return 0;
}
