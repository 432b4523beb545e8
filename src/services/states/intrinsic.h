/*
 * intrinsic — the States Language's intrinsic functions, written as the
 * value of a ".$" key (or of ErrorPath/CausePath): "States.Format('{} of
 * {}', $.n, $$.Execution.Name)". A call is compiled once (its name and
 * number of arguments checked, its paths compiled), then evaluated against
 * a state's input and the context object.
 *
 * Arguments: strings in single quotes (\' \{ \} \\ escape), numbers, true,
 * false, null, paths ($ the input, $$ the context) and other calls.
 * Functions: States.Format, StringToJson, JsonToString, Array,
 * ArrayPartition, ArrayContains, ArrayRange, ArrayGetItem, ArrayLength,
 * ArrayUnique, Base64Encode, Base64Decode, Hash, JsonMerge, MathRandom,
 * MathAdd, StringSplit, UUID — with Step Functions' argument rules and
 * limits (ArrayRange at most 1,000 items; Base64 and Hash inputs of at
 * most 10,000 characters; MathAdd within 32-bit integers; JsonMerge
 * shallow only).
 *
 * May call: core, services/states/jsonpath, jansson, OpenSSL libcrypto.
 */
#ifndef SL_STATES_INTRINSIC_H
#define SL_STATES_INTRINSIC_H

#include <jansson.h>

#include "core/core.h"

struct sl_intrinsic;

/* Whether text is written as a call ("States." then a name and "("). */
bool sl_intrinsic_is_call(const char *text);
/* Compiles text: 0, or SL_EINVAL with what is wrong (for the definition's
 * InvalidDefinition) in err. */
int sl_intrinsic_compile(const char *text, struct sl_intrinsic **out, struct sl_err *err);
void sl_intrinsic_free(struct sl_intrinsic *f);
/* f's value for input and context (either may be NULL: a path into it
 * finds nothing): 0 and a new reference in *out, or SL_EINVAL with the
 * failure (States.Runtime's cause: a path with no value, an argument of
 * the wrong type, a limit passed) in err. */
int sl_intrinsic_eval(const struct sl_intrinsic *f, json_t *input, json_t *context,
                      json_t **out, struct sl_err *err);

#endif
