/*
 * infer — a column's type guessed from its values, as AWS Glue's crawlers
 * and its CSV and JSON classifiers guess it; shared by the Glue crawler
 * and the CSV/JSON Lines to Parquet converter. One accumulator per column
 * observes the values one by one and ends as a struct sl_pq_column.
 *
 * The kinds of a value, from its text (a CSV cell):
 *   boolean    "true" or "false", in any case;
 *   bigint     [+-]digits that fit 64 bits, without a superfluous leading
 *              zero ("007" is a string: a code whose zeros matter);
 *   double     [+-]digits[.digits][e[+-]digits] with a point or an
 *              exponent (".5" and "5." too), or an integer past 64 bits;
 *              the same leading-zero rule; "NaN" and "inf" are strings;
 *   date       YYYY-MM-DD, a day the calendar has;
 *   timestamp  a date, 'T' (or 't' or ' '), HH:MM:SS, an optional
 *              fraction and an optional zone (Z or ±hh:mm): RFC 3339 and
 *              Hive's "YYYY-MM-DD HH:MM:SS[.f…]";
 *   string     anything else.
 * Every text of a kind converts to it with sl_pq_value_from_text
 * (parquet.h), which takes more (leading zeros, say) but never less.
 *
 * From JSON (a JSON Lines value): integers are bigint, reals double,
 * booleans boolean; strings are dates, timestamps or strings (never
 * numbers: sl_pq_value_from_json takes no number from a string); objects
 * and arrays are strings (a converter writes their JSON text).
 *
 * A column's type widens as kinds meet: bigint and double make double,
 * date and timestamp make timestamp, any other mix makes string; a column
 * of nulls alone is string.
 *
 * May call: core, formats (parquet, pqtext), jansson.
 */
#ifndef SL_FORMATS_INFER_H
#define SL_FORMATS_INFER_H

#include "formats/parquet.h"

enum sl_infer_kind {
    SL_INFER_NULL = 0,
    SL_INFER_BOOL = 1 << 0,
    SL_INFER_BIGINT = 1 << 1,
    SL_INFER_DOUBLE = 1 << 2,
    SL_INFER_DATE = 1 << 3,
    SL_INFER_TIMESTAMP = 1 << 4,
    SL_INFER_STRING = 1 << 5,
};

/* What a column has seen. Plain data: copy it, zero it (== init). */
struct sl_infer_col {
    unsigned kinds;  /* the SL_INFER_* kinds of its values, or-ed */
    bool null;       /* it saw a null: an empty cell, JSON null, a missing key */
    uint64_t values; /* values seen, nulls included */
};

void sl_infer_init(struct sl_infer_col *c);
/* The kind of one cell's text s[0..n): SL_INFER_NULL when empty. */
enum sl_infer_kind sl_infer_kind_of(const char *s, size_t n);
/* Observes a CSV cell (empty: null). */
void sl_infer_text(struct sl_infer_col *c, const char *s, size_t n);
/* Observes a JSON value (NULL, for a missing key, or null: null). */
void sl_infer_json(struct sl_infer_col *c, const json_t *j);
/* Adds what other saw to c (the same column in another file). */
void sl_infer_merge(struct sl_infer_col *c, const struct sl_infer_col *other);
/* The column's type into out->type (precision and scale 0) and
 * out->optional: true when it saw a null or nothing at all, so that a
 * converter writing what it observed never meets a null in a required
 * column; a converter that would rather have every column optional (as
 * Glue's tables are) sets it so. out->name is left to the caller. */
void sl_infer_result(const struct sl_infer_col *c, struct sl_pq_column *out);

#endif
