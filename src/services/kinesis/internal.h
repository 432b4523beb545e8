/*
 * What the files of the Kinesis service share: its errors, stream records,
 * the 128-bit hash key space, sequence numbers and shard iterators.
 *
 * Storage:
 *   kv   kinesis.stream  pk "<account>/<region>", sk the stream's name: its
 *                        record (JSON: id, times, mode, retention, shards
 *                        with their hash key ranges, tags)
 *   log  "kinesis:<uuid>" (the record's id): the stream's records, one log
 *                        shard per shard, so a stream made again never sees
 *                        the old one's records
 */
#ifndef SL_KINESIS_INTERNAL_H
#define SL_KINESIS_INTERNAL_H

#include <pthread.h>

#include "services/kinesis/kinesis.h"
#include "services/service.h"

#define KINESIS_NS_STREAM "kinesis.stream"
#define KINESIS_LOG_PREFIX "kinesis:"
#define KINESIS_ON_DEMAND_SHARDS 4
#define KINESIS_SHARDS_MAX 500
#define KINESIS_ITERATOR_MS (5 * 60 * 1000)
#define KINESIS_GET_MAX_BYTES (10 * 1024 * 1024)

#define KINESIS_ERRORS(X)                                                                   \
    X(KINESIS_E_INTERNAL, "InternalFailure", 500, true)                                    \
    X(KINESIS_E_VALIDATION, "ValidationException", 400, false)                             \
    X(KINESIS_E_SERIALIZATION, "SerializationException", 400, false)                       \
    X(KINESIS_E_TOO_BIG, "InvalidArgumentException", 400, false)                           \
    X(KINESIS_E_INVALID, "InvalidArgumentException", 400, false)                           \
    X(KINESIS_E_NOT_FOUND, "ResourceNotFoundException", 400, false)                        \
    X(KINESIS_E_IN_USE, "ResourceInUseException", 400, false)                              \
    X(KINESIS_E_EXPIRED_ITERATOR, "ExpiredIteratorException", 400, false)                  \
    X(KINESIS_E_LIMIT, "LimitExceededException", 400, false)                              \
    X(KINESIS_E_THROUGHPUT, "ProvisionedThroughputExceededException", 400, false)

enum { KINESIS_ERRORS(SL_ERROR_ENUM) KINESIS_E_N };
extern const struct sl_aws_error sl_kinesis_errors[];

/* A 128-bit hash key (unsigned __int128: GCC and clang on 64-bit). */
typedef unsigned __int128 sl_u128;

/* The decimal text of v into out (40 bytes). */
void kinesis_u128_text(sl_u128 v, char out[41]);
/* Parses a decimal hash key (0 .. 2^128 - 1); false when it is not one. */
bool kinesis_u128_parse(const char *s, sl_u128 *out);
/* The hash key of a partition key: MD5 of its bytes, big-endian. */
sl_u128 kinesis_hash_key(const char *key, size_t n);
/* Shard i of n's range when the key space is split evenly, as AWS does. */
void kinesis_even_range(unsigned i, unsigned n, sl_u128 *start, sl_u128 *end);

/* A stream's record, read and parsed. */
#define KINESIS_PARENTS_MAX 4
struct kinesis_shard {
    unsigned n; /* its number: shardId-%012u, and its log shard */
    sl_u128 start, end;
    bool closed;   /* by a resharding: no record goes there any more */
    uint64_t last; /* closed: its last record's log sequence number (0: none) */
    unsigned parents[KINESIS_PARENTS_MAX]; /* the shards it came from */
    size_t nparents;
};
struct kinesis_stream {
    json_t *rec; /* the stored record (owned) */
    const char *id, *name;
    char account[16], region[64], pk[96];
    char arn[320];
    int64_t retention_h;
    struct kinesis_shard *shards; /* every shard, closed ones too, by number (owned) */
    size_t nshards;
};
int kinesis_stream_parse(json_t *rec, struct kinesis_stream *s);
void kinesis_stream_clear(struct kinesis_stream *s);
void kinesis_pk(char *out, size_t n, const char *account, const char *region);
/* The stream name of the call: StreamName, else the name in StreamARN
 * (NULL when neither). */
const char *kinesis_stream_name(struct sl_call *c);
/* The stream named by the call's StreamName (or StreamARN): 0, or the call
 * has its answer (ResourceNotFoundException) and SL_DONE is returned. */
int kinesis_call_stream(struct sl_call *c, struct kinesis_stream *s);
int kinesis_stream_read_txn(struct sl_txn *t, const char *pk, const char *name,
                            struct kinesis_stream *s);
/* The open shard of s whose range holds key, or NULL. */
const struct kinesis_shard *kinesis_shard_for(const struct kinesis_stream *s, sl_u128 key);
/* The shard named id (open or closed), or NULL. */
const struct kinesis_shard *kinesis_shard_by_id(const struct kinesis_stream *s, const char *id);
int kinesis_fail_no_stream(struct sl_call *c, const char *name);

/* Sequence numbers: "49", the shard's number in 12 digits, the log's
 * sequence number in 20 (34 digits: they grow per shard, and are unique
 * in the stream). parse gives both back; false for what is not one. */
void kinesis_seq_text(unsigned shard, uint64_t seq, char out[48]);
/* The same written at p (34 characters, no NUL): what follows them. */
char *kinesis_seq_put(char *p, unsigned shard, uint64_t seq);
/* Shard n's id written at p (20 characters, no NUL): what follows. */
char *kinesis_shard_id_put(char *p, unsigned n);
bool kinesis_seq_parse(const char *s, unsigned *shard, uint64_t *seq);
void kinesis_shard_id(unsigned n, char out[32]);

/* Shard iterators: opaque text naming the stream (its place and id), the
 * shard, the next sequence number to read and when it was made. */
struct kinesis_iterator {
    char account[16], region[64], name[129], id[64];
    unsigned shard;
    uint64_t seq;
    int64_t made_ms;
};
void kinesis_iterator_text(const struct kinesis_iterator *it, struct sl_buf *out);
bool kinesis_iterator_parse(const char *text, struct kinesis_iterator *it);

/* PutRecords read as text, for the usual shape (sl_service's fast). */
int kinesis_fast(struct sl_call *c);
#define PUT_MAX 500
struct span {
    char *p;
    size_t n;
};
struct fast_rec {
    struct span key, data;
};
/* Whether body (len bytes) is a PutRecords of that shape, with values the
 * model takes: its stream's name and its records (PUT_MAX of v at most)
 * as spans of body. Nothing is written to body. */
bool kinesis_scan_put_records(char *body, size_t len, struct span *name,
                              struct fast_rec *v, size_t *nrecs);

/* The service's state (limits.c): each stream's counts, and the
 * throughput limits of provisioned streams' shards. */
struct kinesis_stats;
struct kinesis {
    struct sl_app *app;
    bool limits; /* provisioned streams enforce AWS's per-shard limits */
    pthread_mutex_t mu;
    struct kinesis_stats *streams; /* by (pk, name): a stream made again goes on counting */
};
int kinesis_state_new(struct sl_app *app, void **out, struct sl_err *err);
void kinesis_state_free(void *state);
void kinesis_metrics(void *state, struct sl_buf *out);
/* A record a put would append: throttled is set when the shard's write
 * limit refuses it. */
struct kinesis_write {
    unsigned shard;
    size_t bytes; /* data and partition key */
    bool throttled;
};
void kinesis_admit_writes(struct kinesis *k, const struct kinesis_stream *s,
                          struct kinesis_write *w, size_t n);
/* Whether a GetRecords of the shard may run now; then what it read. */
bool kinesis_admit_read(struct kinesis *k, const struct kinesis_stream *s, unsigned shard);
void kinesis_count_read(struct kinesis *k, const struct kinesis_stream *s, unsigned shard,
                        size_t records, size_t bytes);
/* Streams as targets of other services (source.c). */
int kinesis_target_check(void *ctx, const char *arn, const char *principal,
                         const char *source_arn, const char *source_account);
int kinesis_target_deliver(void *ctx, struct sl_txn *t, const char *arn, const char *payload,
                           size_t len, const struct sl_target_source *src);
/* Records an event source mapping read from stream (pk, name). */
void kinesis_count_out(struct kinesis *k, const char *pk, const char *name, const char *arn,
                       size_t records);

#endif
