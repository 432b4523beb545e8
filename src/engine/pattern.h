/*
 * pattern — EventBridge's event-pattern language, written once for every
 * place AWS uses it: Lambda event-source-mapping FilterCriteria,
 * EventBridge rules and SNS filter policies. A pattern is compiled once
 * into its own structures (fields, rules per leaf, numbers, CIDR ranges,
 * wildcard pieces) and then matched against many events without
 * allocating.
 *
 * The language: a pattern is a JSON object that mirrors the event's
 * nesting; every leaf is an array of rules. An event matches when every
 * field the pattern names matches (AND), and a field matches when one of
 * its rules matches (OR). Rules: exact strings (byte for byte), numbers
 * (by value), null, true, false; prefix, suffix, equals-ignore-case (each
 * also case-insensitive: {"prefix":{"equals-ignore-case":..}}), wildcard,
 * anything-but (of a value, a list, a prefix, a suffix, an
 * equals-ignore-case or a wildcard), numeric (=, <, <=, >, >= and ranges),
 * cidr (IPv4 and IPv6) and exists. "$or" (an array of two or more
 * objects) matches when one of its objects does. An event array matches a
 * leaf when one of its elements does; an array of objects matches a
 * nested pattern when one of its objects does ("crushed", keeping the
 * fields of one match within one element). A field whose value is an
 * object has no value as a leaf; a nested pattern reads a missing or
 * non-object value as an object without fields (so that only
 * {"exists":false} can match under it). Case-insensitive comparisons fold
 * ASCII letters only.
 *
 * May call: core, jansson, libc.
 */
#ifndef SL_ENGINE_PATTERN_H
#define SL_ENGINE_PATTERN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

/* Limits of a pattern, as EventBridge's: how deep objects nest (counting
 * $or branches), how many combinations its $or expand into, and the
 * range of numeric operands. */
#define SL_PATTERN_MAX_DEPTH 64
#define SL_PATTERN_MAX_COMBINATIONS 1000
#define SL_PATTERN_NUMERIC_MAX 5.0e9

struct sl_pattern;

/* Compiles pattern text[0..len) (a JSON object; a duplicate key: the last
 * one wins). On success *out is the caller's (sl_pattern_free). SL_EINVAL
 * with a message naming the problem in err ("Unrecognized match type
 * wildcardx", "Numeric value must be within ..."), SL_ENOMEM; *out is
 * then NULL. */
int sl_pattern_compile(const char *text, size_t len, struct sl_pattern **out, struct sl_err *err);

/* Whether event (a JSON object; anything else matches as an object
 * without fields) matches p. Never fails and never allocates; any thread,
 * as long as no one frees p. */
bool sl_pattern_match(const struct sl_pattern *p, const json_t *event);

/* Whether p names top-level field key, in itself or in a top-level $or
 * branch (FilterCriteria asks whether a pattern looks into "body"). */
bool sl_pattern_uses(const struct sl_pattern *p, const char *key);

void sl_pattern_free(struct sl_pattern *p); /* NULL ok */

#endif
