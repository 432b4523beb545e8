/*
 * thrift — Apache Thrift's compact protocol, as Parquet's footer and page
 * headers use it: a writer of structs, fields, lists and scalars into a
 * buffer, and a reader that walks the same, skipping what it does not
 * know. Only what Parquet needs (no maps, no sets beyond skipping them).
 *
 * May call: core.
 */
#ifndef SL_FORMATS_THRIFT_H
#define SL_FORMATS_THRIFT_H

#include "core/core.h"

/* The compact protocol's element types. */
enum {
    SL_TC_STOP = 0,
    SL_TC_TRUE = 1,
    SL_TC_FALSE = 2,
    SL_TC_I8 = 3,
    SL_TC_I16 = 4,
    SL_TC_I32 = 5,
    SL_TC_I64 = 6,
    SL_TC_DOUBLE = 7,
    SL_TC_BINARY = 8,
    SL_TC_LIST = 9,
    SL_TC_SET = 10,
    SL_TC_MAP = 11,
    SL_TC_STRUCT = 12,
};

#define SL_TC_DEPTH 16 /* structs nested in structs, at most */

/* ---- writing ----------------------------------------------------------------------- */

/* An unsigned LEB128 varint (Thrift's, and Parquet's RLE headers). */
int sl_varint_put(struct sl_buf *out, uint64_t v);

struct sl_tc_writer {
    struct sl_buf *out;
    int16_t last[SL_TC_DEPTH]; /* the last field id of each open struct */
    int depth;
    int rc; /* the first error (SL_ENOMEM, SL_EINVAL): later calls do nothing */
};

void sl_tc_writer_init(struct sl_tc_writer *w, struct sl_buf *out);
/* A field's header (for a bool field, its value: sl_tc_field_bool). */
void sl_tc_field(struct sl_tc_writer *w, int16_t id, int type);
void sl_tc_field_bool(struct sl_tc_writer *w, int16_t id, bool v);
void sl_tc_field_i32(struct sl_tc_writer *w, int16_t id, int32_t v);
void sl_tc_field_i64(struct sl_tc_writer *w, int16_t id, int64_t v);
void sl_tc_field_binary(struct sl_tc_writer *w, int16_t id, const void *p, size_t n);
void sl_tc_field_string(struct sl_tc_writer *w, int16_t id, const char *s);
/* A struct field: its fields follow, then sl_tc_struct_end. */
void sl_tc_field_struct(struct sl_tc_writer *w, int16_t id);
/* A struct as a list's element (or the top struct). */
void sl_tc_struct_begin(struct sl_tc_writer *w);
void sl_tc_struct_end(struct sl_tc_writer *w);
/* A list field of n elements of type; the elements follow. */
void sl_tc_field_list(struct sl_tc_writer *w, int16_t id, int type, size_t n);
/* Elements of a list. */
void sl_tc_i32(struct sl_tc_writer *w, int32_t v);
void sl_tc_i64(struct sl_tc_writer *w, int64_t v);
void sl_tc_binary(struct sl_tc_writer *w, const void *p, size_t n);

/* ---- reading ----------------------------------------------------------------------- */

struct sl_tc_reader {
    const uint8_t *p, *end;
    int16_t last[SL_TC_DEPTH];
    int depth;
    bool bool_value; /* a bool field's value (in its header) */
    int rc;          /* SL_EINVAL once the input is malformed */
};

void sl_tc_reader_init(struct sl_tc_reader *r, const void *p, size_t n);
/* Enters a struct (the top one, or a field's or an element's). */
void sl_tc_enter(struct sl_tc_reader *r);
/* The next field of the struct entered last: false at its end (the
 * struct is then left) or on an error. */
bool sl_tc_next(struct sl_tc_reader *r, int16_t *id, int *type);
/* Values (each checks the element type it gets). */
int64_t sl_tc_int(struct sl_tc_reader *r, int type); /* I8, I16, I32, I64 */
bool sl_tc_bool(struct sl_tc_reader *r, int type);   /* a field's (TRUE/FALSE) */
double sl_tc_double(struct sl_tc_reader *r);
/* A binary's bytes, in the input (valid as long as it is). */
const uint8_t *sl_tc_binary_read(struct sl_tc_reader *r, size_t *n);
/* A list's header: its element type and size. */
size_t sl_tc_list(struct sl_tc_reader *r, int *elem);
/* Skips a value of type (structs, lists, maps nested at most SL_TC_DEPTH). */
void sl_tc_skip(struct sl_tc_reader *r, int type);
/* Bytes consumed so far. */
size_t sl_tc_consumed(const struct sl_tc_reader *r, const void *start);

#endif
