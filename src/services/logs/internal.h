/*
 * What the files of the CloudWatch Logs service share: the storage
 * layout, the append transaction the sink and PutLogEvents both use, and
 * the filter-pattern matcher (also used by its unit test and fuzz target).
 *
 * Storage (kv items, JSON values):
 *   logs.group   pk "<account>:<region>"                  sk group name
 *                {creationTime, retentionInDays?, arn, storedBytes, _seq}
 *   logs.stream  pk "<account>:<region>:<group>"          sk stream name
 *                {creationTime, arn, storedBytes, firstEventTimestamp?,
 *                 lastEventTimestamp?, lastIngestionTime?}
 *   logs.event   pk "<account>:<region>:<group>:<stream>" sk key (below)
 *                {timestamp, message, ingestionTime}
 * Neither names nor account and region hold ':', so the keys are unambiguous.
 *
 * An event's key is its timestamp and a sequence number, both fixed-width
 * decimal, so that byte order is (timestamp, arrival) order. The sequence
 * comes from the group's _seq: unique in the group, it also makes the key
 * the event's identity across streams (FilterLogEvents' eventId). No event
 * has sequence 0, so the key (t, 0) is a boundary just before time t.
 */
#ifndef SL_LOGS_INTERNAL_H
#define SL_LOGS_INTERNAL_H

#include <jansson.h>

#include "aws/model.h"
#include "services/logs/logs.h"

#define SL_LOGS_NS_GROUP "logs.group"
#define SL_LOGS_NS_STREAM "logs.stream"
#define SL_LOGS_NS_EVENT "logs.event"

#define SL_LOGS_TS_DIGITS 16
#define SL_LOGS_SEQ_DIGITS 16
#define SL_LOGS_KEY_LEN (SL_LOGS_TS_DIGITS + SL_LOGS_SEQ_DIGITS)
#define SL_LOGS_TS_MAX 9999999999999999LL /* the largest timestamp a key holds */

/* Sizes of keys and ARNs: a group name is at most 512 ASCII characters, a
 * stream name 512 characters of UTF-8 (2048 bytes). */
#define SL_LOGS_GPK_MAX 96
#define SL_LOGS_SPK_MAX (SL_LOGS_GPK_MAX + 520)
#define SL_LOGS_EPK_MAX (SL_LOGS_SPK_MAX + 2056)
#define SL_LOGS_ARN_MAX (SL_LOGS_EPK_MAX + 160)

/* CloudWatch's limits: an event counts its UTF-8 bytes plus 26. */
#define SL_LOGS_EVENT_OVERHEAD 26
#define SL_LOGS_EVENT_MAX 262144     /* one event, overhead included */
#define SL_LOGS_BATCH_MAX 1048576    /* one PutLogEvents, overhead included */
#define SL_LOGS_RESPONSE_MAX 1048576 /* events returned by one read */

/* Writes the key of (ts, seq) into out (SL_LOGS_KEY_LEN + 1 bytes); ts is
 * clamped to [0, SL_LOGS_TS_MAX]. */
void sl_logs_key(char *out, int64_t ts, uint64_t seq);
/* Parses exactly SL_LOGS_KEY_LEN digits; 0 or SL_EINVAL. */
int sl_logs_key_parse(const char *s, size_t n, int64_t *ts, uint64_t *seq);

/* The partition keys of a group's streams and of a stream's events. */
void sl_logs_stream_pk(char *out, size_t n, const char *account, const char *region,
                       const char *group);
void sl_logs_event_pk(char *out, size_t n, const char *account, const char *region,
                      const char *group, const char *stream);

/* New values of a group and a stream created at now (caller decrefs). */
json_t *sl_logs_group_value(const char *account, const char *region, const char *group,
                            int64_t now);
json_t *sl_logs_stream_value(const char *account, const char *region, const char *group,
                             const char *stream, int64_t now);

/*
 * Appends s[0..n) to b as a JSON string: escaped, with every byte that is
 * not part of well-formed UTF-8 (and NUL) replaced by U+FFFD, and "\n"
 * added at the end when newline.
 */
int sl_logs_json_string(struct sl_buf *b, const char *s, size_t n, bool newline);

/* One event to append. */
struct sl_logs_event {
    int64_t ts;
    const char *msg;
    size_t len;
};

/* Events for one stream, appended in one transaction. */
struct sl_logs_append {
    const char *account, *region, *group, *stream;
    const struct sl_logs_event *events;
    size_t n;
    bool newline;      /* add "\n" to each message (lines of a function) */
    bool create;       /* create the group and the stream when missing */
    int64_t now;       /* the ingestion time */
    uint64_t last_seq; /* out: the sequence of the last event appended */
    uint64_t bytes;    /* out: bytes stored */
};

/*
 * Inside a transaction: appends a's events to its stream and updates the
 * stream's and the group's counters. When the group or the stream is
 * missing and !a->create: SL_ENOTFOUND with CloudWatch's message in err.
 */
int sl_logs_append_txn(struct sl_txn *t, struct sl_logs_append *a, struct sl_err *err);

/* Inside a transaction: an item's JSON value (caller decrefs), SL_ENOTFOUND
 * when absent; and storing one. */
int sl_logs_txn_get_json(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                         json_t **out);
int sl_logs_txn_put_json(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                         json_t *v);

/* ---- the API (api.c, streams.c, read.c) ---------------------------------- */

#define SL_LOGS_DAY_MS (24LL * 3600 * 1000)
#define SL_LOGS_DESCRIBE_DEFAULT 50  /* DescribeLogGroups/Streams' page */
#define SL_LOGS_EVENTS_DEFAULT 10000 /* GetLogEvents/FilterLogEvents' page */

/* The errors of CloudWatch Logs. */
#define SL_LOGS_ERRORS(X)                                                                      \
    X(LOGS_E_UNAVAILABLE, "ServiceUnavailableException", 500, true)                            \
    X(LOGS_E_INVALID_PARAMETER, "InvalidParameterException", 400, false)                       \
    X(LOGS_E_NOT_FOUND, "ResourceNotFoundException", 400, false)                               \
    X(LOGS_E_EXISTS, "ResourceAlreadyExistsException", 400, false)                             \
    X(LOGS_E_SERIALIZATION, "SerializationException", 400, false)

enum { SL_LOGS_ERRORS(SL_ERROR_ENUM) };

/* One API request's state (the name is short: it is private to the
 * service), made by sl_logs_req() on first use and kept with the call. */
struct lgreq {
    struct sl_call *c;
    json_t *in;                /* the validated input */
    char gpk[SL_LOGS_GPK_MAX]; /* "<account>:<region>": the partition of its groups */
    int64_t now;
};

/* The state of call c (NULL when out of memory). */
struct lgreq *sl_logs_req(struct sl_call *c);

/* Answers with error id (the detail of an internal one goes to Sluice's
 * log; a group that does not exist: its ResourceNotFoundException), and
 * returns SL_DONE. */
int sl_logs_error(struct lgreq *l, int id, const char *fmt, ...) SL_PRINTF(3, 4);
int sl_logs_internal(struct lgreq *l, const struct sl_err *err);
int sl_logs_group_not_found(struct lgreq *l);

/* Members of the input (strings: NULL when absent), or of a value. */
const char *sl_logs_in_str(struct lgreq *l, const char *name);
int64_t sl_logs_in_int(struct lgreq *l, const char *name, int64_t def);
int64_t sl_logs_json_int(json_t *o, const char *name, int64_t def);

/* nextToken of the describe and filter operations: an opaque encoding of
 * a kind and a cursor (malloc'd, NULL when out of memory). */
char *sl_logs_token_make(char kind, const char *cursor);
/* Decodes the input's nextToken of kind into *cursor (malloc'd; NULL
 * without a token). 0, or answers InvalidParameterException (SL_DONE). */
int sl_logs_token_read(struct lgreq *l, char kind, char **cursor);

/* Reads a group's value (caller decrefs). 0, or answers (SL_DONE). */
int sl_logs_load_group(struct lgreq *l, const char *name, json_t **out);
/* The oldest timestamp a group's retention keeps at now (0: all). */
int64_t sl_logs_retention_floor(json_t *group, int64_t now);

/* Lists every item of (ns, pk) with prefix (caller frees with
 * sl_logs_items_free). */
int sl_logs_list_all(struct sl_store *st, const char *ns, const char *pk, const char *prefix,
                     struct sl_item **out, size_t *count);
void sl_logs_items_free(struct sl_item *items, size_t n);

/*
 * Filter patterns with CloudWatch's term semantics. A pattern is a list of
 * terms separated by spaces: a word, or a "quoted phrase" (with \" and \\
 * escapes). Each plain term must occur in the message, none of the terms
 * with a leading '-' may occur, and when there are terms with a leading
 * '?' at least one of them must occur. Matching is case-sensitive. The
 * empty pattern matches everything. JSON ({...}), space-delimited ([...])
 * and regular-expression (%...%) patterns are refused with SL_EINVAL.
 */
struct sl_logs_filter;
int sl_logs_filter_parse(const char *pattern, size_t len, struct sl_logs_filter **out,
                         struct sl_err *err);
bool sl_logs_filter_match(const struct sl_logs_filter *f, const char *msg, size_t len);
/* The number of terms (for tests). */
size_t sl_logs_filter_terms(const struct sl_logs_filter *f);
void sl_logs_filter_free(struct sl_logs_filter *f);

#endif
