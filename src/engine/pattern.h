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
/* Arrays within arrays an event may nest before matching stops looking
 * into them (jansson itself parses 2048 levels; this bounds the
 * matcher's stack). */
#define SL_PATTERN_MAX_ARRAY_DEPTH 32

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

/*
 * Guards: what lets many patterns be matched together (engine/ruleset.h)
 * without trying each one. A key is a condition on one value of an event:
 * at a path (object keys from the top; arrays on the way are looked
 * through, as matching does, down to the same depth) the event holds a
 * scalar (anything but an object or an array; null too) that
 *   STRING     is that string, byte for byte
 *   NUMBER     is a number equal to d
 *   NULL, TRUE, FALSE  is that literal
 *   PREFIX / SUFFIX    is a string starting / ending with s[0..n)
 *   PREFIX_IC / SUFFIX_IC / EQUALS_IC  the same, or equal, with ASCII
 *              letters folded (s is lower case)
 *   PRESENT    exists at all.
 * A guard of a pattern is a set of keys such that every event the pattern
 * matches holds at least one of them. A pattern's conditions are what it
 * ANDs: each leaf outside $or (those of nested objects too, each on its
 * own) and each $or. A leaf gives its keys (PRESENT alone when one of its
 * rules is a numeric range, a cidr, an anything-but or {"exists":true}),
 * except one that allows {"exists":false}, which gives no guard; a $or
 * gives the union of the cheapest guard of each branch (one of its
 * conditions, or of theirs), when every branch has one. Every condition
 * with a guard gives one; a pattern has none exactly when it matches {}.
 */
enum sl_pattern_key_kind {
    SL_PATTERN_KEY_STRING,
    SL_PATTERN_KEY_NUMBER,
    SL_PATTERN_KEY_NULL,
    SL_PATTERN_KEY_TRUE,
    SL_PATTERN_KEY_FALSE,
    SL_PATTERN_KEY_PREFIX,
    SL_PATTERN_KEY_PREFIX_IC,
    SL_PATTERN_KEY_SUFFIX,
    SL_PATTERN_KEY_SUFFIX_IC,
    SL_PATTERN_KEY_EQUALS_IC,
    SL_PATTERN_KEY_PRESENT,
};

/* The most guards sl_pattern_guards hands out for one pattern. */
#define SL_PATTERN_MAX_GUARDS 8

/* One object key of a path (not NUL-terminated). */
struct sl_pattern_name {
    const char *p;
    size_t n;
};

/* A key as sl_pattern_guards hands it out: every pointer points into the
 * pattern or the caller's stack and is valid during the callback only. */
struct sl_pattern_key {
    const struct sl_pattern_name *path; /* path[0..depth), depth >= 1 */
    size_t depth;
    enum sl_pattern_key_kind kind;
    const char *s; /* the string kinds: s[0..n) */
    size_t n;
    double d; /* NUMBER (never -0.0) */
};

/* How sl_pattern_guards weighs keys and hands out the guards it chose. */
struct sl_pattern_guard_ops {
    /* The price of guarding by k (>= 0: the caller's estimate of how
     * often events hold it, or of what holding it costs). Called, perhaps
     * more than once, for every key of every condition of p. */
    double (*cost)(void *arg, const struct sl_pattern_key *k);
    /* Receives key k of guard number g (the same key may come more than
     * once); a negative SL_E* code stops and is returned. */
    int (*emit)(void *arg, size_t g, const struct sl_pattern_key *k);
    void *arg;
};

/* Chooses up to max (at most SL_PATTERN_MAX_GUARDS) of p's guards, those
 * of its cheapest conditions (the total cost of their keys), and hands
 * each key of guard g (0 the cheapest, then 1...) to ops->emit. Returns
 * how many guards, 0 when p has none (it matches {}; emit is never
 * called), or emit's error. *exact (may be NULL) tells whether holding a
 * key of each guard is not only needed for p to match but enough: when
 * every condition of p was handed out and each is exact (its keys all
 * equality, affixes or {"exists":true}: no range, cidr, anything-but,
 * wildcard with a `*` or integer beyond 2^53; a $or whose branches are
 * one exact condition each; a nested object with one condition, since
 * several must hold within one element of an array of objects). Never
 * allocates; any thread. */
int sl_pattern_guards(const struct sl_pattern *p, const struct sl_pattern_guard_ops *ops,
                      size_t max, bool *exact);

#endif
