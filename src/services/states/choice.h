/*
 * choice — the rules of a Choice state (JSONPath query language): a rule
 * is And, Or or Not of rules, or a comparison of the value at Variable:
 *   String{Equals,LessThan,GreaterThan,LessThanEquals,GreaterThanEquals}
 *   StringMatches (* any run, \* and \\ escapes)
 *   Numeric..., Boolean Equals, Timestamp... (RFC 3339 times)
 *   each with a ...Path form that takes the other side from the input;
 *   IsNull, IsPresent, IsNumeric, IsString, IsBoolean, IsTimestamp.
 * A comparison of values of another type is false; a Variable (or a
 * ...Path) without a value is a runtime error, except for IsPresent.
 *
 * May call: core, services/states/jsonpath, jansson.
 */
#ifndef SL_STATES_CHOICE_H
#define SL_STATES_CHOICE_H

#include <jansson.h>

#include "core/core.h"

struct sl_choice_rule;

/* Compiles rule (a member of Choices when top, where it must have Next,
 * which nested rules must not; the Next is not kept): 0, or SL_EINVAL
 * with what is wrong in err. */
int sl_choice_compile(const json_t *rule, bool top, struct sl_choice_rule **out,
                      struct sl_err *err);
void sl_choice_free(struct sl_choice_rule *r);
/* Whether r holds for input (context for "$$" paths): 0 with *holds, or
 * SL_EINVAL with States.Runtime's cause in err. */
int sl_choice_eval(const struct sl_choice_rule *r, json_t *input, json_t *context, bool *holds,
                   struct sl_err *err);

/* An RFC 3339 timestamp as microseconds since the epoch; false when text
 * is not one. (Also for Wait's Timestamp.) */
bool sl_rfc3339_parse(const char *text, int64_t *us);

#endif
