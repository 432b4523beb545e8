/*
 * csv — CSV text (RFC 4180) read as a stream: the text comes in chunks of
 * any size, split anywhere (an HTTP body, an S3 object), and each row is
 * handed to a callback as it completes, its fields pointing into the
 * chunk or into the parser's own buffer (no allocation per row or field).
 *
 * What it reads: fields separated by one delimiter byte; a field that
 * begins with '"' is quoted, holds delimiters, quotes doubled ("") and
 * line breaks, and ends at the next lone '"'; rows end at LF, CRLF or a
 * lone CR. It skips a UTF-8 byte order mark at the start of the text and
 * empty lines. It forgives as most readers do: a '"' inside an unquoted
 * field is kept as it is, and what follows a closing quote up to the
 * next delimiter or line break is added to the field ("ab"c is abc).
 * Whether the text is UTF-8 is the caller's concern.
 *
 * May call: core, formats (infer, for sniffing).
 */
#ifndef SL_FORMATS_CSV_H
#define SL_FORMATS_CSV_H

#include "core/core.h"

/* The default longest row (sl_csv_new's max_row_bytes 0). */
#define SL_CSV_MAX_ROW (1024 * 1024)

/* A field: s[0..n), not NUL-terminated, never NULL (even when empty).
 * quoted when it began with '"' (an empty quoted field is not a
 * missing one, to a caller that cares). */
struct sl_csv_field {
    const char *s;
    size_t n;
    bool quoted;
};

/* Called with each row: its nf >= 1 fields, valid during the call only,
 * and the 1-based line where it starts. Returns 0 to go on; anything else
 * stops the parser and is what sl_csv_feed or sl_csv_finish returns. */
typedef int (*sl_csv_row_fn)(void *arg, const struct sl_csv_field *f, size_t nf, int64_t line);

struct sl_csv;

/* A parser of rows separated by delim (not '"', CR or LF), none longer
 * than max_row_bytes (its bytes with quotes and delimiters, without its
 * line break; 0: SL_CSV_MAX_ROW): 0, SL_EINVAL (the delimiter) or
 * SL_ENOMEM. */
int sl_csv_new(char delim, size_t max_row_bytes, sl_csv_row_fn fn, void *arg,
               struct sl_csv **out);
/* Reads the next n bytes of the text, calling fn for each row they
 * complete: 0, the callback's non-zero return, SL_ETOOBIG (a row longer
 * than the cap; err names its line) or SL_ENOMEM. After a non-zero
 * return every later call returns the same. */
int sl_csv_feed(struct sl_csv *c, const void *p, size_t n, struct sl_err *err);
/* Whether the text so far ends inside a quoted field (one that
 * sl_csv_finish would call unclosed). */
bool sl_csv_in_quote(const struct sl_csv *c);
/* Ends the text: the last row, if it has no line break, goes to fn. 0,
 * fn's return, or SL_EINVAL when a quoted field is never closed (err
 * names the line where it opens). */
int sl_csv_finish(struct sl_csv *c, struct sl_err *err);
void sl_csv_free(struct sl_csv *c);

/* Guesses from a sample of a text (its first bytes, say) its delimiter
 * among ',', '\t', ';' and '|': the one that splits the sample's rows
 * into the same number (two or more) of fields most consistently, ','
 * when none splits them. And whether its first row is a header, as Glue's
 * CSV classifier decides: when every field of that row is a non-empty
 * string (not a number, boolean, date or timestamp, formats/infer.h) and
 * at least one column of the other rows is not of type string. The rows
 * are those the sample completes with a line break; the unfinished last
 * one counts only when fewer than two are complete (a sample that is the
 * whole of a small text). 0, or SL_ENOMEM. */
int sl_csv_sniff(const char *p, size_t n, char *delim, bool *header);

#endif
