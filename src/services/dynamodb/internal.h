/*
 * What the files of the DynamoDB service share. So far: its numbers
 * (number.c).
 */
#ifndef SL_DYNAMODB_INTERNAL_H
#define SL_DYNAMODB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A number: 0.d[0..n) × 10^e, negative when neg; n == 0 is zero. Digits
 * have no leading or trailing zeros. */
#define DDB_DIGITS_MAX 38
struct ddb_num {
    bool neg;
    uint8_t n;
    char d[DDB_DIGITS_MAX];
    int32_t e;
};
/* Room for a number's text (plain notation) and its NUL. */
#define DDB_NUM_TEXT_MAX 192

enum ddb_num_error {
    DDB_NUM_OK,
    DDB_NUM_INVALID,   /* not a number's text */
    DDB_NUM_PRECISION, /* more than 38 significant digits */
    DDB_NUM_OVERFLOW,  /* 1E+126 or more */
    DDB_NUM_UNDERFLOW, /* under 1E-130 */
};
/* Parses s (len bytes): [+-]digits[.digits][(e|E)[+-]digits], or with the
 * digits after the point only. */
enum ddb_num_error ddb_num_parse(const char *s, size_t len, struct ddb_num *out);
/* DynamoDB's words for e (ValidationException's message). */
const char *ddb_num_message(enum ddb_num_error e);
/* v as DynamoDB writes it into out (DDB_NUM_TEXT_MAX): plain notation,
 * no needless zeros ("150", "0.0015", "-2.5"). Its length. */
size_t ddb_num_text(const struct ddb_num *v, char *out);
/* -1, 0, 1 as a < b, a == b, a > b. */
int ddb_num_cmp(const struct ddb_num *a, const struct ddb_num *b);
/* a + b and a - b, exact; an error when the result is out of range or
 * needs more than 38 digits. */
enum ddb_num_error ddb_num_add(const struct ddb_num *a, const struct ddb_num *b,
                               struct ddb_num *out);
enum ddb_num_error ddb_num_sub(const struct ddb_num *a, const struct ddb_num *b,
                               struct ddb_num *out);
/* v as text whose byte order is the numbers' order (a key of the store):
 * at most 4 + 38 + 1 bytes and a NUL. Its length. */
#define DDB_NUM_KEY_MAX 48
size_t ddb_num_key(const struct ddb_num *v, char *out);

#endif
