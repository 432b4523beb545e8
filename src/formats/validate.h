/*
 * validate — rule sets that check rows of data (CSV cells or JSON Lines
 * objects) for a "validate" data blueprint, compiled once (regular
 * expressions, enums, bounds) so that checking a row allocates nothing
 * (see sl_rules_check for the one exception).
 *
 * A rule set comes from a JSON Schema (draft 2020-12; the subset below)
 * describing one row as an object, or from a Glue table's columns. Either
 * way it is a list of properties in order; a row is handed to
 * sl_rules_check as one cell per property, in that order.
 *
 * JSON Schema subset. Top level: "type": "object" (optional),
 * "properties", "required", "additionalProperties" (true, false or {}).
 * Per property (a schema object, or true / false): "type" (null, boolean,
 * integer, number, string, array, object, or an array of them), "enum",
 * "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
 * "multipleOf", "minLength", "maxLength" (code points), "pattern",
 * "format" ("date", "date-time", "time": RFC 3339, calendar-checked; a
 * date-time and a time need an offset or Z; a leap second only at 23:59
 * UTC). Annotations ($schema, $id, $comment, $defs, title, description,
 * default, examples, deprecated, readOnly, writeOnly, content*, x-*) are
 * ignored; any other keyword (allOf, $ref, items, nested properties, a
 * typo...) is refused with SL_EINVAL naming it, as is another format.
 * Unlike draft 2020-12's default vocabulary, where "format" only
 * annotates and an unknown one is ignored, "format" here asserts (as the
 * format-assertion vocabulary does), and an unknown format is refused.
 *
 * JSON cells follow the specification: 1.0 is an integer, 1 == 1.0 in
 * enum and const (which may go together), minimum and friends apply to
 * numbers only, pattern, format and lengths to strings only; a member
 * that is null is present. Integers are compared exactly within int64 (as
 * jansson reads them), reals as doubles, an integer against a real
 * exactly. multipleOf is exact for integers, else within 1e-9 of a whole
 * quotient.
 *
 * Text cells (CSV): an empty cell is null, which passes unless the
 * property is required ("missing (required)"). Other text is read as each
 * type the property allows, and passes when one reading passes every rule:
 * integer = [+-]?[0-9]+ (any length; past int64 it is past every int64
 * bound, and compared as a double with a real one), number =
 * [+-]?(digits[.digits]|.digits)([eE][+-]?digits)? (a double, from its
 * first 40 significant digits), boolean = true / false in any case,
 * string = any UTF-8 text (no NUL); no whitespace is trimmed. enum and
 * const compare the reading (a cell "3" equals 3 when the property takes
 * integers, "3" when it takes strings). A property without "type" takes,
 * for text, the types its other keywords constrain (number for numeric
 * keywords, string for string ones, the types of enum / const values), or
 * any type when there are none.
 *
 * Patterns are ECMA-262 regular expressions translated to POSIX extended
 * ones (compiled with REG_NOSUB, matched anywhere in the string, in the C
 * locale with glibc): literals, ., [...] and [^...] (ASCII members and
 * ranges; positive classes may also list non-ASCII characters), \d \D \w
 * \W \s \S (ASCII sets), \b \B, \t \n \r \f \v \xHH \uHHHH, escaped
 * punctuation, groups ( ) (?: ) (?<name> ), |, ^ $, * + ? {n} {n,} {n,m}
 * (up to 1000; lazy forms are the same for a yes/no match); strings are
 * matched as code points (. and negated classes take one, a quantifier
 * all of a non-ASCII literal), as with the u flag; . excludes \n and \r
 * only (U+2028 and U+2029 match it). Refused at compile time: lookahead
 * and lookbehind, backreferences (\1, \k<>), \p{...}, \cX, \0, [] and
 * [^], non-ASCII ranges or negated members, unknown escapes, ^ $ \b \B
 * inside a repeated group (glibc gets those wrong), patterns past 4 KiB
 * or whose expansion (counted repetitions multiplied out) passes 1000.
 *
 * Glue columns (sl_rules_from_columns): a present value must be one the
 * conversion to the column's type takes, through the same scanners
 * (formats/pqtext.h). Text, as sl_pq_value_from_text: boolean true/false
 * (any case); int / bigint [+-]digits in range; float / double a number
 * (an overflow is an infinity; a float past its range that is finite
 * fails); string UTF-8; binary any bytes; date YYYY-MM-DD; timestamp
 * YYYY-MM-DD[( |T)hh:mm:ss[.f...][Z|±hh:mm]]; decimal(p,s) [+-]d[.d] with
 * at most s fraction digits (zeros past them aside) and p-s integer
 * digits (p past 18 is 18). JSON, as sl_pq_value_from_json: a boolean; an
 * integer, in range; a number; a string; base64 text; a date string or
 * days; a timestamp string or a number of its unit; a decimal string, or
 * a number within the precision. A null JSON value is as an empty cell.
 * A column is required when its optional is false (a Glue table's
 * columns are all optional: set it true unless the caller requires the
 * column). Names match without regard to ASCII case, as Glue's do; other
 * columns are allowed.
 *
 * May call: core, formats (parquet.h for column types, pqtext.h for the
 * scanners), jansson, the C library's regex.
 */
#ifndef SL_FORMATS_VALIDATE_H
#define SL_FORMATS_VALIDATE_H

#include <jansson.h>
#include <sys/types.h>

#include "core/core.h"
#include "formats/parquet.h"

/* One value of a row: text (a CSV cell: s/n, j NULL) or JSON (j, from
 * JSON Lines); present false when the row lacks the column. For text, an
 * empty cell is null. Nothing is owned. */
struct sl_cell {
    const char *s;
    size_t n;
    const json_t *j;
    bool present;
};

struct sl_rules;

/* Compiles a JSON Schema (the subset above) into *out (the caller's, to
 * sl_rules_free): 0, SL_ENOMEM, or SL_EINVAL with err naming the property
 * and the keyword. Properties are in the order of "properties", then
 * names "required" lists that it lacks. The rule set keeps no reference
 * to schema. */
int sl_rules_from_json_schema(const json_t *schema, struct sl_rules **out, struct sl_err *err);
/* Compiles rules from n columns (names copied): 0, SL_ENOMEM, or
 * SL_EINVAL (a NULL or repeated name, a type out of range). */
int sl_rules_from_columns(const struct sl_pq_column *cols, size_t n, struct sl_rules **out,
                          struct sl_err *err);
void sl_rules_free(struct sl_rules *r);

/* The number of properties, and property i's name (owned by r). */
size_t sl_rules_count(const struct sl_rules *r);
const char *sl_rules_name(const struct sl_rules *r, size_t i);
/* The index of the property called name[0..n) (case-insensitive for
 * column rules), or -1 when it is not one. */
ssize_t sl_rules_index(const struct sl_rules *r, const char *name, size_t n);

/* Fills cells (sl_rules_count of them) from a JSON object's members
 * (borrowed from row) and sets *extra to the number of members that are
 * not properties: 0, or SL_EINVAL when row is not an object. */
int sl_rules_json_cells(const struct sl_rules *r, const json_t *row, struct sl_cell *cells,
                        size_t *extra);

/* Checks one row: cells holds sl_rules_count(r) values in property order;
 * extra is the number of input columns or members that are not properties
 * (they fail when additionalProperties is false). 0 when the row passes;
 * else SL_EINVAL, with the first failure (naming the property and the
 * rule: "amount: -3 is less than the minimum 0") in why (whylen bytes,
 * NUL-terminated; why may be NULL). Allocates nothing, but for a pattern
 * against a text cell of 4 KiB or more (or a JSON string of 4 KiB or more
 * holding a newline, when the pattern has ^ or $ inside it or \b): then
 * SL_ENOMEM is possible. r may be shared by threads. */
int sl_rules_check(const struct sl_rules *r, const struct sl_cell *cells, size_t extra, char *why,
                   size_t whylen);

#endif
