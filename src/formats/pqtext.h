/*
 * pqtext — the text forms of Parquet values, shared inside formats: CSV
 * cells (sl_pq_value_from_text), JSON strings (sl_pq_value_from_json) and
 * type inference (formats/infer.h) read values through these scanners,
 * so that whatever inference calls a bigint, a double, a date, a
 * timestamp or a boolean converts to one. Every scanner takes text with
 * its length (not NUL-terminated) and accepts it whole or not at all: no
 * spaces around, no trailing characters.
 */
#ifndef SL_FORMATS_PQTEXT_H
#define SL_FORMATS_PQTEXT_H

#include "formats/parquet.h"

/* Days since 1970-01-01 of a civil date (proleptic Gregorian), and back. */
int64_t pq_days_from_civil(int64_t y, unsigned m, unsigned d);
void pq_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* 10^n for n in 0..18. */
int64_t pq_pow10(int n);

/* "true" or "false", in any case. */
bool pq_text_bool(const char *s, size_t n, bool *b);

/* The shape of a number: [+-]? digits* (. digits*)? ([eE] [+-]? digits+)?
 * with at least one digit before the exponent. PQ_NUM_INT when it has
 * neither a point nor an exponent. *lead0 tells whether its integer part
 * has a superfluous leading zero ("007", "00.5"; "0" and "0.5" do not). */
enum pq_num { PQ_NUM_NONE, PQ_NUM_INT, PQ_NUM_REAL };
enum pq_num pq_text_number(const char *s, size_t n, bool *lead0);
/* An integer ([+-]? digits): 0, SL_EINVAL when the text is not one, or
 * SL_ETOOBIG when it does not fit 64 bits. */
int pq_text_int(const char *s, size_t n, int64_t *v);
/* A number of the shape above as the nearest double (overflow gives an
 * infinity): 0, SL_EINVAL, or SL_ENOMEM (a long text is copied). */
int pq_text_double(const char *s, size_t n, double *d);

/* "YYYY-MM-DD", a date the calendar has: days since the epoch. */
bool pq_text_date(const char *s, size_t n, int64_t *days);
/* A date, or a date and a time: "YYYY-MM-DD", then 'T', 't' or ' ',
 * "HH:MM:SS", optionally a fraction ('.' and digits, kept to the
 * microsecond, the rest cut), optionally a zone: 'Z', 'z' or ±hh:mm (none
 * is UTC). Microseconds since the epoch, UTC. */
bool pq_text_timestamp(const char *s, size_t n, int64_t *us);

/* A decimal ([+-]? digits* (. digits*)?, a digit at least) as the
 * unscaled integer at scale: PQ_DEC_OK, or why not. Fraction digits past
 * scale may only be zeros; the integer part (leading zeros aside) may
 * have at most precision - scale digits. precision outside 1..18 is 18. */
enum pq_dec { PQ_DEC_OK, PQ_DEC_SYNTAX, PQ_DEC_FRACTION, PQ_DEC_PRECISION };
enum pq_dec pq_text_decimal(const char *s, size_t n, int precision, int scale, int64_t *v);
/* A decimal column's precision and scale as pq_text_decimal takes them
 * (a precision outside 1..18 is 18, a scale within 0..precision). */
void pq_decimal_ps(const struct sl_pq_column *c, int *precision, int *scale);

#endif
