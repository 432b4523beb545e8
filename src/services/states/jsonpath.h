/*
 * jsonpath — the paths of the Amazon States Language (JSONPath as Step
 * Functions reads it): InputPath, OutputPath, ItemsPath, the values of
 * ".$" keys and the "...Path" fields take a path; ResultPath and the
 * Choice rules' Variable take a reference path, which names one node.
 *
 * A path starts at "$" (the state's input, or whatever document the
 * caller gives) or "$$" (the context object), then steps:
 *   .name   ['name'] ["name"]   a member (brackets for any characters,
 *                               and after a dot as well: $.a.['b c'])
 *   [n]                         an array element (negative: from the end)
 *   .* [*]                      every member or element
 *   ..name ..*                  recursive descent
 *   [a,b] ['x','y']             unions of indexes or names
 *   [start:end:step]            slices
 *   [?(@.x > 1 && @.y)]         filters: comparisons (== != < <= > >=) of
 *                               a relative path with a number, string,
 *                               true, false or null; a path alone tests
 *                               presence; joined by && and ||
 *   .length()                   the length of an array, string or object
 *                               (last step only)
 * A reference path has members and indexes only.
 *
 * A path whose steps name one node each is definite: its value is that
 * node, or it has none. Any other path answers the array of what it
 * matched, in document order (Jayway's, which AWS uses).
 *
 * May call: core, jansson.
 */
#ifndef SL_STATES_JSONPATH_H
#define SL_STATES_JSONPATH_H

#include <jansson.h>

#include "core/core.h"

struct sl_jsonpath;

enum {
    SL_JSONPATH_REFERENCE = 1, /* compile: only a reference path is valid */
};

/* Compiles text: 0, or SL_EINVAL with what is wrong in err. */
int sl_jsonpath_compile(const char *text, unsigned flags, struct sl_jsonpath **out,
                        struct sl_err *err);
void sl_jsonpath_free(struct sl_jsonpath *p);

/* Whether p starts at the context object ("$$"). */
bool sl_jsonpath_is_context(const struct sl_jsonpath *p);
/* Whether p names at most one node (see above). */
bool sl_jsonpath_is_definite(const struct sl_jsonpath *p);
/* The path as written. */
const char *sl_jsonpath_text(const struct sl_jsonpath *p);

/* p over doc: a definite path's node (a new reference) or SL_ENOTFOUND;
 * any other path's matches, a new array (empty when none). */
int sl_jsonpath_get(const struct sl_jsonpath *p, json_t *doc, json_t **out);

/* Puts value (a new reference is taken) at reference path p in *doc:
 * "$" replaces *doc; otherwise the members on the way are made as
 * objects. SL_EINVAL when a step meets a value of another kind (a member
 * of a string, an index past an array's end), with why in err. */
int sl_jsonpath_set(const struct sl_jsonpath *p, json_t **doc, json_t *value,
                    struct sl_err *err);

#endif
