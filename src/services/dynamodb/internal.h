/*
 * What the files of the DynamoDB service share: its numbers (number.c),
 * attribute values (value.c), the expression language (expr.c) and its
 * reserved words (reserved.c); its errors, table records and items' keys
 * (service.c).
 *
 * Storage:
 *   kv  dynamodb.table      pk "<account>/<region>", sk the table's name:
 *                           its record (the TableDescription's members,
 *                           an id, private _account and _region)
 *   kv  dynamodb.item:<id>  pk "<id>/<hash key>", sk the range key (""
 *                           without one), each key as order-keeping text
 *                           (numbers by ddb_num_key, binaries in hex):
 *                           the item, its attribute values normalized
 */
#ifndef SL_DYNAMODB_INTERNAL_H
#define SL_DYNAMODB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"
#include "services/dynamodb/dynamodb.h"
#include "services/service.h"

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

/* ---- attribute values: {"S": "text"}, {"N": "1"}, {"M": {...}}... ---- */

enum ddb_type {
    DDB_T_NONE, /* not an attribute value */
    DDB_T_S,
    DDB_T_NUM,
    DDB_T_B,
    DDB_T_BOOL,
    DDB_T_NULL,
    DDB_T_M,
    DDB_T_L,
    DDB_T_SS,
    DDB_T_NS,
    DDB_T_BS,
    DDB_T_COUNT
};
/* v's type (one member named by a type), and that member's value in
 * *inner (may be NULL). */
enum ddb_type ddb_type_of(const json_t *v, const json_t **inner);
const char *ddb_type_name(enum ddb_type t);
enum ddb_type ddb_type_by_name(const char *name);
/* Two S, N or B values of one type compared: -1, 0, 1; 2 when they
 * cannot be (other types, or two types). */
int ddb_value_cmp(const json_t *a, const json_t *b);
/* Equality as DynamoDB sees it: numbers by value, sets unordered, maps and
 * lists deep. */
bool ddb_value_equal(const json_t *a, const json_t *b);
/* Whether set holds elem (a scalar of the set's element type). */
bool ddb_set_has(const json_t *set, const json_t *elem);
/* v as DynamoDB's messages write it: {N:5}, {SS:[a, b]}... */
void ddb_value_text(const json_t *v, struct sl_buf *out);

/* Whether word is one of DynamoDB's reserved words (any case). */
bool ddb_reserved(const char *word);

/* A key attribute of a table or index. */
struct ddb_key_attr {
    const char *name; /* NULL: none (a table without a range key) */
    enum ddb_type type;
};

/* ---- expressions ----------------------------------------------------- */

enum ddb_expr_kind {
    DDB_EXPR_CONDITION,     /* ConditionExpression */
    DDB_EXPR_FILTER,        /* FilterExpression */
    DDB_EXPR_KEY_CONDITION, /* KeyConditionExpression */
    DDB_EXPR_PROJECTION,    /* ProjectionExpression */
    DDB_EXPR_UPDATE,        /* UpdateExpression */
};

/* A document path: names and list indexes from the item's top. */
struct ddb_path_elem {
    const char *name; /* NULL for an index */
    uint32_t index;
};
struct ddb_path {
    struct ddb_path_elem *v;
    size_t n;
};

struct ddb_expr;

/* The placeholders of a request: ExpressionAttributeNames and
 * ExpressionAttributeValues (either may be NULL), and which of them its
 * expressions used (for AWS's "unused" error, once all are parsed). */
struct ddb_placeholders {
    json_t *names, *values;
    json_t *used_names, *used_values; /* objects, filled by the parses */
};

/*
 * Parses text as an expression of kind. 0, or SL_EINVAL with DynamoDB's
 * message in msg ("Invalid UpdateExpression: Syntax error; token: ...").
 */
int ddb_expr_parse(enum ddb_expr_kind kind, const char *text, struct ddb_placeholders *ph,
                   struct ddb_expr **out, char *msg, size_t msgn);
void ddb_expr_free(struct ddb_expr *e);
/* After every expression of a request is parsed: 0, or SL_EINVAL with the
 * message naming the names or values none of them used. */
int ddb_placeholders_check(const struct ddb_placeholders *ph, char *msg, size_t msgn);

/* A condition or filter on item (an object of attribute values; NULL: no
 * item): 0 with *result, or SL_EINVAL with the message (a BETWEEN whose
 * bounds are out of order...). */
int ddb_expr_test(const struct ddb_expr *e, const json_t *item, bool *result, char *msg,
                  size_t msgn);
/* A projection of item: a new object of the attributes (and the parts of
 * them) it names. */
json_t *ddb_expr_project(const struct ddb_expr *e, const json_t *item);
/* An update applied to item (changed in place; an object, maybe empty):
 * 0, or SL_EINVAL with DynamoDB's message. *paths (may be NULL) gets the
 * top-level attribute names it touches, for the key check and
 * UPDATED_OLD/UPDATED_NEW (a new array). */
int ddb_expr_update(const struct ddb_expr *e, json_t *item, json_t **paths, char *msg,
                    size_t msgn);
/* The top-level attribute names an update's actions name (a new array). */
json_t *ddb_expr_update_targets(const struct ddb_expr *e);

/* A Query's KeyConditionExpression taken apart: the partition key's value
 * and the sort key's condition. */
enum ddb_kc_op { DDB_KC_NONE, DDB_KC_EQ, DDB_KC_LT, DDB_KC_LE, DDB_KC_GT, DDB_KC_GE,
                 DDB_KC_BETWEEN, DDB_KC_BEGINS };
struct ddb_key_cond {
    const json_t *hash;
    enum ddb_kc_op op;
    const json_t *v1, *v2; /* the sort key's operands (v2: BETWEEN's upper) */
};
/* e (a key condition) for a table or index keyed by hash and range (NULL
 * when it has none): 0, or SL_EINVAL with DynamoDB's message. */
int ddb_expr_key_condition(const struct ddb_expr *e, const struct ddb_key_attr *hash,
                           const struct ddb_key_attr *range, struct ddb_key_cond *out, char *msg,
                           size_t n);

/* ---- the service ------------------------------------------------------ */

#define DDB_NS_TABLE "dynamodb.table"
#define DDB_NS_TABLE_V "dynamodb.tablev" /* "<id>:<_v>" of each table's record */
#define DDB_NS_ITEMS "dynamodb.item:"
#define DDB_NS_INDEX "dynamodb.ix:"
#define DDB_NS_TTL "dynamodb.ttl"
#define DDB_TTL_PK "all"
#define DDB_LOG_PREFIX "dynamodb:"
#define DDB_ITEM_MAX (400 * 1024)

#define DDB_NS_V "com.amazonaws.dynamodb.v20120810#"
#define DDB_ERRORS(X)                                                                          \
    X(DDB_E_INTERNAL, DDB_NS_V "InternalServerError", 500, true)                             \
    X(DDB_E_VALIDATION, "com.amazon.coral.validate#ValidationException", 400, false)         \
    X(DDB_E_SERIALIZATION, "com.amazon.coral.service#SerializationException", 400, false)    \
    X(DDB_E_NOT_FOUND, DDB_NS_V "ResourceNotFoundException", 400, false)                     \
    X(DDB_E_IN_USE, DDB_NS_V "ResourceInUseException", 400, false)                           \
    X(DDB_E_CONDITION, DDB_NS_V "ConditionalCheckFailedException", 400, false)               \
    X(DDB_E_LIMIT, DDB_NS_V "LimitExceededException", 400, false)                            \
    X(DDB_E_TXN_CANCELED, DDB_NS_V "TransactionCanceledException", 400, false)               \
    X(DDB_E_IDEMPOTENT, DDB_NS_V "IdempotentParameterMismatchException", 400, false)

enum { DDB_ERRORS(SL_ERROR_ENUM) DDB_E_N };
extern const struct sl_aws_error sl_dynamodb_errors[];

/* What a table's stream records carry (StreamViewType). */
enum ddb_view { DDB_VIEW_KEYS_ONLY, DDB_VIEW_NEW_IMAGE, DDB_VIEW_OLD_IMAGE, DDB_VIEW_BOTH };

/* A secondary index of a table, as its record describes it. */
enum ddb_projection { DDB_PROJ_ALL, DDB_PROJ_KEYS_ONLY, DDB_PROJ_INCLUDE };
struct ddb_index {
    const char *name;
    bool global;
    struct ddb_key_attr hash, range;
    enum ddb_projection proj;
    const json_t *non_key; /* INCLUDE's NonKeyAttributes */
    char ns[80];           /* its entries' namespace */
};

/* A table's record, read and parsed. */
struct ddb_table {
    json_t *rec; /* owned */
    const char *id, *name;
    struct ddb_key_attr hash, range;
    char items_ns[80];
    const char *stream_log; /* the log of its enabled stream, or NULL */
    enum ddb_view view;
    const char *ttl_attr; /* TimeToLive's attribute, or NULL */
    struct ddb_index *ix;  /* malloc'd */
    size_t nix;
    int64_t version; /* _v: bumped by each write of the record */
};
int ddb_table_parse(json_t *rec, struct ddb_table *t);
void ddb_table_clear(struct ddb_table *t);
void ddb_pk(char *out, size_t n, const char *account, const char *region);
int ddb_table_read(struct sl_store *s, const char *pk, const char *name, struct ddb_table *t);
int ddb_table_read_txn(struct sl_txn *tx, const char *pk, const char *name, struct ddb_table *t);
/* Inside a transaction: writes rec (a table's record) as the version
 * after the one stored (its _v), with its version item. */
int ddb_table_put_txn(struct sl_txn *tx, const char *pk, json_t *rec, int64_t was);
/* Inside a transaction: whether t (read before it) is still the table's
 * record; if another version is, t becomes it. 0, or SL_ENOTFOUND when
 * the table is gone (or is another of the name). */
int ddb_table_check_txn(struct sl_txn *tx, struct ddb_table *t);
/* A table's record through the cache of parsed records: as
 * ddb_table_read (service.c). */
int ddb_table_get(struct sl_app *app, const char *pk, const char *name, struct ddb_table *t);
/* After a change of any table's record is durable: the cached records
 * are read again (service.c). */
void ddb_tables_changed(struct sl_app *app);
/* The table the call's TableName names (through the cache): 0, or the
 * call has its answer (ResourceNotFoundException) and SL_DONE is
 * returned. */
int ddb_call_table(struct sl_call *c, struct ddb_table *t);

/* Attribute values as DynamoDB stores them (numbers normalized), checked:
 * a new value, or NULL with the ValidationException's message. */
json_t *ddb_value_normalize(const json_t *v, int depth, char *msg, size_t n);
json_t *ddb_item_normalize(const json_t *item, int depth, char *msg, size_t n);
/* An item's size as DynamoDB counts it (names and values). */
size_t ddb_item_size(const json_t *item);

/* An item's place in the store (malloc'd texts). */
struct ddb_key {
    char *pk, *sk;
};
/* The key of obj (an item, or with exact a Key: its key attributes and no
 * other): 0, or SL_EINVAL with DynamoDB's message. */
int ddb_item_key(const struct ddb_table *t, const json_t *obj, bool exact, struct ddb_key *k,
                 char *msg, size_t n);
void ddb_key_clear(struct ddb_key *k);
/* One key value's order-keeping text (appended to out): 0, or SL_EINVAL
 * with DynamoDB's message (a type that is not the key's, an empty one). */
int ddb_key_text(const struct ddb_key_attr *a, const json_t *v, struct sl_buf *out, char *msg,
                 size_t n);
/* The key attributes of item, as a new object. */
json_t *ddb_key_of(const struct ddb_table *t, const json_t *item);

/* A request's ExpressionAttributeNames and ExpressionAttributeValues
 * (normalized) from in: 0, or SL_EINVAL with the message. Clear it with
 * ddb_placeholders_clear() either way. */
int ddb_placeholders_init(struct ddb_placeholders *ph, const json_t *in, char *msg, size_t n);
void ddb_placeholders_clear(struct ddb_placeholders *ph);

/* ---- item writes (write.c) --------------------------------------------- */

/* The entry of item (at k) in index ix: its pk and sk (appended), and
 * with proj the item as the index projects it (a new object); or
 * SL_ENOTFOUND when the item lacks the index's keys (a sparse index), or
 * SL_EINVAL with DynamoDB's message (a key of the wrong type). */
int ddb_index_entry(const struct ddb_table *tb, const struct ddb_index *ix,
                    const struct ddb_key *k, const json_t *item, struct sl_buf *pk,
                    struct sl_buf *sk, json_t **proj, char *msg, size_t n);
/* Inside a transaction: drops the entries of ix; after a table's record
 * changes from was's to rec, drops the entries of the indexes it lost and
 * fills those it gained (index.c). */
int ddb_index_drop(struct sl_txn *t, const struct ddb_index *ix);
int ddb_indexes_sync(struct sl_txn *t, const struct ddb_table *was, json_t *rec);
/* Inside a transaction: after a table's record changes from was (NULL:
 * created) to rec (NULL: deleted), its streams' records follow: a stream
 * enabled is listed, one disabled is closed at its last record (stream.c). */
int ddb_streams_sync(struct sl_txn *t, const char *pk, json_t *was, json_t *rec);

/* ---- streams (stream.c) -------------------------------------------------- */

#define DDB_NS_STREAM "dynamodb.stream"
#define DDB_STREAM_RETENTION_MS (24LL * 3600 * 1000)
#define DDB_SEQ_TEXT_MAX 24

/* A stream, as stream.c keeps it. */
struct ddb_stream {
    json_t *rec; /* owned: the description's members, and the private ones */
    const char *arn, *log, *shard;
    bool closed;   /* disabled: no more records */
    uint64_t last; /* closed: its last sequence number (0: none) */
};
/* The stream arn names: 0, SL_EINVAL (not a stream's ARN), SL_ENOTFOUND
 * (none, or gone past its retention). */
int ddb_stream_read(struct sl_store *st, const char *arn, struct ddb_stream *out);
void ddb_stream_clear(struct ddb_stream *s);
/* The "<account>/<region>" of a stream's ARN: false when it is not one. */
bool ddb_stream_arn_parse(const char *arn, char *pk, size_t n);
/* Sequence numbers as DynamoDB Streams writes them, and back. */
void ddb_seq_text(uint64_t seq, char out[DDB_SEQ_TEXT_MAX]);
bool ddb_seq_parse(const char *text, uint64_t *seq);
/* Shard iterators: opaque text naming the stream, the next sequence
 * number to read (0: the oldest kept) and when it was made. */
#define DDB_ARN_MAX 512
void ddb_iterator_text(const char *arn, uint64_t seq, int64_t made_ms, struct sl_buf *out);
bool ddb_iterator_parse(const char *text, char arn[DDB_ARN_MAX], uint64_t *seq,
                        int64_t *made_ms);
/* A record of log as GetRecords answers it (a new object), or NULL. */
json_t *ddb_stream_record(const char *log, const char *region, const struct sl_log_record *r);

const char *ddb_view_name(enum ddb_view v);
int ddb_view_by_name(const char *name, enum ddb_view *out);
/* The epoch seconds at which TimeToLive deletes item (NULL ok), or -1. */
int64_t ddb_ttl_of(const struct ddb_table *tb, const json_t *item);
/* The sort key of an item's TimeToLive entry (appended to out). */
void ddb_ttl_sk(struct sl_buf *out, int64_t at, const struct ddb_key *k);
/* Inside a transaction: the item's TimeToLive entry follows its change
 * from old to fresh (either NULL). */
int ddb_ttl_apply(struct sl_txn *t, const struct ddb_table *tb, const struct ddb_key *k,
                  const json_t *old, const json_t *fresh);

/* The deletions of expired items (ttl.c): the service's state. */
struct ddb_ttl;
int ddb_ttl_new(struct sl_app *app, struct ddb_ttl **out);
int ddb_ttl_start(struct ddb_ttl *st);
void ddb_ttl_stop(struct ddb_ttl *st);
void ddb_ttl_free(struct ddb_ttl *st);

enum ddb_op { DDB_OP_PUT, DDB_OP_DELETE, DDB_OP_UPDATE, DDB_OP_CHECK, DDB_OP_GET };

/* One item's write: a PutItem, DeleteItem or UpdateItem, or an element of
 * a transaction or a batch (DDB_OP_CHECK: a ConditionCheck; DDB_OP_GET: a
 * read of the item, for GetItem and TransactGetItems). */
struct ddb_write {
    enum ddb_op op;
    struct ddb_table t;
    struct ddb_placeholders ph;
    struct ddb_expr *cond, *update, *proj;
    struct ddb_key key;
    json_t *item;     /* put: the new item; the others: the Key */
    const char *ret;  /* ReturnValues (in's) */
    bool ret_on_fail; /* ReturnValuesOnConditionCheckFailure ALL_OLD */
    /* Filled by ddb_write_txn: */
    json_t *old, *fresh;
    json_t *paths; /* update: the top-level attributes it touched */
    char msg[512];
};
/*
 * Reads in (an operation's input, or a transaction's element) into w for
 * table t (taken, even on failure): its expressions, Key or Item. 0, or
 * SL_EINVAL with DynamoDB's message in w->msg. Clear w either way.
 */
int ddb_write_init(struct ddb_write *w, enum ddb_op op, struct ddb_table *t, const json_t *in);
void ddb_write_clear(struct ddb_write *w);
/* Inside a transaction: reads the item, tests the condition, and applies
 * the write (ddb_apply). 0; SL_ECONDITION when the condition failed;
 * SL_EINVAL with the message in w->msg. */
int ddb_write_txn(struct sl_txn *t, struct ddb_write *w);
/*
 * Inside a transaction: makes the item at k old (NULL: none) into fresh
 * (NULL: deleted), with its index entries, its TimeToLive entry and, on
 * a table with a stream, its stream record (none when nothing changed);
 * by_ttl marks a deletion of TimeToLive's (the record's userIdentity).
 * 0, or SL_EINVAL with the message (an index key of the wrong type).
 */
int ddb_apply(struct sl_txn *t, const struct ddb_table *tb, const struct ddb_key *k,
              const json_t *old, const json_t *fresh, bool by_ttl, char *msg, size_t n);

/* ---- requests of many items (batch.c) ------------------------------------ */

/* The elements of a BatchGetItem, BatchWriteItem, TransactGetItems or
 * TransactWriteItems, read one by one into w: each table's record is read
 * once per request, and no two elements may name one item. */
struct ddb_many {
    struct ddb_write *w; /* calloc'd: room for cap, n read */
    size_t n, cap;
    json_t *tables; /* name -> the table's record */
    json_t *seen;   /* the items named so far */
};
int ddb_many_init(struct ddb_many *m, size_t cap);
void ddb_many_clear(struct ddb_many *m);
/*
 * The next element: op on the item in (an operation's input or an element
 * of a transaction: its Item or Key and expressions) of table. 0, or the
 * call has its answer and SL_DONE is returned: ResourceNotFoundException,
 * or ValidationException with DynamoDB's message (dup when an earlier
 * element named the same item). in must outlive m.
 */
int ddb_many_add(struct sl_call *c, struct ddb_many *m, enum ddb_op op, const char *table,
                 const json_t *in, const char *dup);

#endif
