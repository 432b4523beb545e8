/*
 * template — the States Language's payload templates: Parameters,
 * ResultSelector, ItemSelector. A template is any JSON value; inside it a
 * member whose key ends in ".$" takes its value from a path (over the
 * state's input, or the context object for "$$") or an intrinsic function
 * call, under the key without the ".$". Members and elements are
 * processed at every depth; what has nothing to compute is kept as it is.
 *
 * May call: core, services/states (jsonpath, intrinsic), jansson.
 */
#ifndef SL_STATES_TEMPLATE_H
#define SL_STATES_TEMPLATE_H

#include <jansson.h>

#include "core/core.h"

struct sl_template;

/* Compiles tpl (borrowed; copied as needed): 0, or SL_EINVAL with what is
 * wrong (a ".$" value that is neither a path nor a call; a key given
 * twice once its ".$" is dropped) in err, for InvalidDefinition. */
int sl_template_compile(const json_t *tpl, struct sl_template **out, struct sl_err *err);
void sl_template_free(struct sl_template *t);
/* t's value for input and context: 0 and a new reference, or SL_EINVAL
 * with States.Runtime's cause in err (a path with no value, a call that
 * failed). */
int sl_template_eval(const struct sl_template *t, json_t *input, json_t *context, json_t **out,
                     struct sl_err *err);

#endif
