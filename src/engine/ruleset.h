/*
 * ruleset — many event patterns matched against an event together: the
 * rules of an EventBridge bus (or any list of patterns, engine/pattern.h),
 * indexed once so that matching an event costs about the values it holds
 * and the few patterns those values concern, not one sl_pattern_match per
 * pattern.
 *
 * Each pattern is filed under its guards (sl_pattern_guards, up to four
 * of the conditions it ANDs): each a set of keys at field paths (an exact
 * string, number, boolean or null; a prefix or suffix, with or without
 * case; or a value being there at all) one of which every event the
 * pattern matches holds. Keys are priced by how many patterns name them,
 * so the conditions kept are the rarer ones. Matching walks the event
 * once, along the paths the index knows only, and looks each value up in
 * a hash table; a pattern is a candidate when the event holds a key of
 * each of its guards (patterns without a guard, those that match {},
 * always are). Candidates are confirmed with sl_pattern_match, but for
 * patterns whose guards say all there is to them (exact ones: equality,
 * prefix and suffix conditions, say a source and a detail-type), so the
 * answer is exactly that of matching every pattern in turn.
 *
 * May call: core, jansson, libc.
 */
#ifndef SL_ENGINE_RULESET_H
#define SL_ENGINE_RULESET_H

#include <jansson.h>
#include <stddef.h>

#include "engine/pattern.h"

struct sl_ruleset;

/* Receives the index i of a pattern an event matched. */
typedef void (*sl_ruleset_cb)(void *arg, size_t i);

/* Indexes patterns[0..n). The patterns stay the caller's and must outlive
 * the ruleset (the array itself is copied); one pattern may appear more
 * than once, and a NULL one never matches. On success *out is the
 * caller's (sl_ruleset_free); SL_ENOMEM, *out then NULL. */
int sl_ruleset_build(struct sl_pattern *const *patterns, size_t n, struct sl_ruleset **out);

/* Calls cb(arg, i) (cb may be NULL) for every i, in increasing order, such
 * that sl_pattern_match(patterns[i], event) holds, and returns how many
 * there were. event: any JSON value (anything but an object matches as an
 * object without fields, as sl_pattern_match has it). Never fails and
 * never allocates; its state is on the calling thread's stack (about
 * 2 KiB), so any number of threads may match against one ruleset at once
 * as long as no one frees it. */
size_t sl_ruleset_match(const struct sl_ruleset *rs, const json_t *event, sl_ruleset_cb cb,
                        void *arg);

/* How many patterns sl_ruleset_match would confirm with sl_pattern_match
 * for event: the candidates that are not exact (for tests and
 * benchmarks). */
size_t sl_ruleset_candidates(const struct sl_ruleset *rs, const json_t *event);

struct sl_ruleset_stats {
    size_t patterns; /* n */
    size_t always;   /* patterns without a guard, candidates for every event */
    size_t exact;    /* patterns the index alone decides */
    size_t keys;     /* distinct keys of the index */
    size_t postings; /* (key, pattern) pairs */
    size_t paths;    /* field paths the walk follows, the event's top included */
};

void sl_ruleset_stats(const struct sl_ruleset *rs, struct sl_ruleset_stats *st);

void sl_ruleset_free(struct sl_ruleset *rs); /* NULL ok */

#endif
