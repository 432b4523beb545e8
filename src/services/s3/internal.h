/* What the files of the S3 service share. */
#ifndef SL_S3_INTERNAL_H
#define SL_S3_INTERNAL_H

#include <jansson.h>

#include "core/xml.h"
#include "services/s3/s3.h"

#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_NS_BUCKETS "s3.bucket"
#define S3_NS_OBJECTS "s3.object"
#define S3_NS_UPLOADS "s3.upload"
#define S3_NS_PARTS "s3.part"

#define S3_MAX_OBJECT_SIZE (5ULL * 1024 * 1024 * 1024)
#define S3_MAX_METADATA 2048
#define S3_MAX_HEADER_SECTION 8192
#define S3_MAX_XML_BODY (4 * 1024 * 1024)
#define S3_MIN_PART_SIZE (5 * 1024 * 1024)
#define S3_MAX_PARTS 10000

/* S3's errors (its error table). */
#define S3_ERRORS(X) \
    X(S3_E_INTERNAL_ERROR, "InternalError", 500, true) \
    X(S3_E_ACCESS_DENIED, "AccessDenied", 403, false) \
    X(S3_E_BAD_DIGEST, "BadDigest", 400, false) \
    X(S3_E_BUCKET_ALREADY_EXISTS, "BucketAlreadyExists", 409, false) \
    X(S3_E_BUCKET_ALREADY_OWNED_BY_YOU, "BucketAlreadyOwnedByYou", 409, false) \
    X(S3_E_BUCKET_NOT_EMPTY, "BucketNotEmpty", 409, false) \
    X(S3_E_ENTITY_TOO_LARGE, "EntityTooLarge", 400, false) \
    X(S3_E_ENTITY_TOO_SMALL, "EntityTooSmall", 400, false) \
    X(S3_E_INVALID_ARGUMENT, "InvalidArgument", 400, false) \
    X(S3_E_INVALID_BUCKET_NAME, "InvalidBucketName", 400, false) \
    X(S3_E_INVALID_DIGEST, "InvalidDigest", 400, false) \
    X(S3_E_INVALID_LOCATION_CONSTRAINT, "InvalidLocationConstraint", 400, false) \
    X(S3_E_INVALID_PART, "InvalidPart", 400, false) \
    X(S3_E_INVALID_PART_ORDER, "InvalidPartOrder", 400, false) \
    X(S3_E_INVALID_RANGE, "InvalidRange", 416, false) \
    X(S3_E_INVALID_REQUEST, "InvalidRequest", 400, false) \
    X(S3_E_INVALID_URI, "InvalidURI", 400, false) \
    X(S3_E_KEY_TOO_LONG_ERROR, "KeyTooLongError", 400, false) \
    X(S3_E_MALFORMED_XML, "MalformedXML", 400, false) \
    X(S3_E_MAX_MESSAGE_LENGTH_EXCEEDED, "MaxMessageLengthExceeded", 400, false) \
    X(S3_E_METADATA_TOO_LARGE, "MetadataTooLarge", 400, false) \
    X(S3_E_METHOD_NOT_ALLOWED, "MethodNotAllowed", 405, false) \
    X(S3_E_MISSING_CONTENT_LENGTH, "MissingContentLength", 411, false) \
    X(S3_E_NO_SUCH_BUCKET, "NoSuchBucket", 404, false) \
    X(S3_E_NO_SUCH_KEY, "NoSuchKey", 404, false) \
    X(S3_E_NO_SUCH_UPLOAD, "NoSuchUpload", 404, false) \
    X(S3_E_NOT_IMPLEMENTED, "NotImplemented", 501, true) \
    X(S3_E_PRECONDITION_FAILED, "PreconditionFailed", 412, false) \
    X(S3_E_REQUEST_HEADER_SECTION_TOO_LARGE, "RequestHeaderSectionTooLarge", 400, false) \
    X(S3_E_SLOW_DOWN, "SlowDown", 503, true) \
    X(S3_E_USER_KEY_MUST_BE_SPECIFIED, "UserKeyMustBeSpecified", 400, false)

enum { S3_ERRORS(SL_ERROR_ENUM) };
/* The table of those errors, indexed by them (helpers.c). */
extern const struct sl_aws_error sl_s3_errors[];

/* One S3 request's state. */
struct s3_req {
    struct sl_call *q;
    const char *bucket; /* NULL for the service (ListBuckets) */
    const char *key;    /* NULL for bucket operations */
    const char *op;     /* operation name, for errors and logs */
    struct sl_blob_writer *writer; /* PutObject / UploadPart */
    struct sl_buf body;            /* small XML bodies */
    struct sl_hash md5;            /* the body's MD5, for ETag and Content-MD5 */
    uint8_t body_md5[SL_MD5_LEN];  /* its value once the body is in */
    struct sl_hash checksum;       /* x-amz-checksum-* in a header */
    bool has_checksum;
    bool too_large; /* more bytes came than an object may have */
    const struct sl_aws_checksum *checksum_ck;
    void (*finish)(struct s3_req *s); /* what end() runs */
    /* A write under way (sl_s3_write()): what answers once it is durable or
     * failed, and the bytes it commits (freed with the request). */
    void (*then)(struct s3_req *s, int rc, const struct sl_err *err);
    struct sl_blob blob;
};

/* The object metadata kept in an item's value. */
struct s3_object {
    char etag[48]; /* hex, or hex-N for multipart; without quotes */
    uint64_t size;
    int64_t mtime_ms;
    json_t *headers; /* content-type etc., by lower-case header name */
    json_t *meta;    /* x-amz-meta-* without the prefix, lower-case */
};

/* Whether an entity tag list (If-Match, If-None-Match: "*", or quoted
 * tags separated by commas) matches etag (meta.c). */
bool sl_s3_etag_matches(const char *list, const char *etag);

/* Conditional writes: If-Match / If-None-Match on PutObject and
 * CompleteMultipartUpload, evaluated inside the write transaction. */
struct s3_write_cond {
    const char *if_match, *if_none_match;
};
void sl_s3_write_cond_init(struct s3_req *s, struct s3_write_cond *c);
/* 0, SL_ECONDITION (412) or SL_ENOTFOUND (If-Match on a missing key). */
int sl_s3_write_condition(struct sl_txn *t, const char *bucket, const char *key,
                          const struct s3_write_cond *c);
/* Answers a failed condition (rc from sl_s3_write_condition). */
void sl_s3_write_cond_error(struct s3_req *s, int rc);

/* Answers with error id of S3's table (NoSuchBucket and NoSuchKey name
 * the request's bucket and key), with more elements (extra: name/value
 * pairs, NULL-ended); the id of one of S3's codes. */
void sl_s3_error(struct s3_req *s, int id, const char *msg);
void sl_s3_error_ex(struct s3_req *s, int id, const char *const *extra, const char *fmt, ...)
    SL_PRINTF(4, 5);
int sl_s3_error_id(const char *code);
void sl_s3_no_such_bucket(struct s3_req *s);
void sl_s3_no_such_key(struct s3_req *s);
void sl_s3_internal(struct s3_req *s, const struct sl_err *err);

/*
 * Runs fn(arg) in the store's next batch; the request waits for it
 * without holding a thread, then then(s, rc, err) answers, with what
 * sl_store_write() would have returned. arg must live as long as the call
 * (sl_call_alloc()); a blob the write commits goes in s->blob.
 */
void sl_s3_write(struct s3_req *s, sl_txn_fn fn, void *arg,
                 void (*then)(struct s3_req *s, int rc, const struct sl_err *err));
/* A copy of text (malloc'd; freed here) in the request's arena, or NULL. */
const char *sl_s3_keep(struct s3_req *s, char *text);

/* A request's state: made by the router, freed with the call. */
void sl_s3_state_free(struct sl_call *q);

/* The service's state (the cache of buckets): made and freed with it. */
struct sl_s3;
int sl_s3_new(struct sl_app *app, void **state, struct sl_err *err);
void sl_s3_free(void *state);
/* Forgets a bucket the cache may hold (it was deleted). */
void sl_s3_bucket_forget(struct sl_s3 *c, const char *name);

/* Sends body (XML) with status 200. */
void sl_s3_send_xml(struct s3_req *s, int status);

int sl_s3_object_parse(const struct sl_item *it, struct s3_object *o);
char *sl_s3_object_dump(const struct s3_object *o);
void sl_s3_object_free(struct s3_object *o);
/* Collects Content-Type & co and x-amz-meta-* from the request into o;
 * SL_ETOOBIG when the metadata passes S3's 2 KB limit. */
int sl_s3_object_from_request(struct s3_req *s, struct s3_object *o);
/* Sets the response headers of an object (ETag, Last-Modified, ...). */
void sl_s3_object_headers(struct s3_req *s, const struct s3_object *o);

/* Whether the request's bucket exists and belongs to the caller's
 * account; answers NoSuchBucket or AccessDenied and returns non-zero if
 * not. */
int sl_s3_bucket_check(struct s3_req *s);
/* The same for any bucket; region (may be NULL) receives its region. */
int sl_s3_bucket_access(struct s3_req *s, const char *bucket, char *region, size_t rcap);

void sl_s3_time(int64_t ms, char *out, size_t n);
/* A non-negative integer query parameter: def when absent, -1 when it is
 * not one. */
long sl_s3_int_param(struct s3_req *s, const char *name, long def);
void sl_s3_owner_id(const char *account, char out[65]);

/* The service principal S3's events come from. */
#define S3_PRINCIPAL "s3.amazonaws.com"

/* Event notifications' events (events.c). The request's side of an event,
 * set up before the transaction. */
struct s3_notify {
    struct sl_targets *targets;
    const char *request_id, *account, *source_ip;
};
void sl_s3_notify_init(struct s3_req *s, struct s3_notify *n);
/*
 * Inside the transaction that wrote or deleted bucket/key: queues the
 * event (e.g. "ObjectCreated:Put"; etag NULL for a removal, which has no
 * size or ETag) for every configuration of bucket_item (the bucket's item,
 * read in this transaction) that matches it. A delivery that cannot be
 * queued fails the transaction.
 */
int sl_s3_notify_txn(struct sl_txn *t, const struct s3_notify *n, const struct sl_item *bucket_item,
                     const char *bucket, const char *key, const char *event, uint64_t size,
                     const char *etag);
/* What a configuration's checks share with the events: whether e is one
 * of S3's event types; whether two event patterns ("s3:ObjectCreated:*")
 * can match one event; a rule's string member ("" when absent). */
bool sl_s3_event_known(const char *e);
bool sl_s3_events_share(const char *a, const char *b);
const char *sl_s3_rule_str(json_t *rule, const char *name);
/* A bucket's notification configuration (notify.c): parses and validates
 * a NotificationConfiguration document (all of S3's checks but the
 * destinations'); *out is {"rules": [...], "eventbridge"}.
 * On failure e says what S3 answers (code, argument, message). */
struct s3_notify_error {
    char code[32], arg_name[32], arg_value[256], msg[256];
};
int sl_s3_notification_parse(struct sl_arena *a, const char *data, size_t len, json_t **out,
                             struct s3_notify_error *e);
void sl_s3_put_notification(struct s3_req *s);
void sl_s3_get_notification(struct s3_req *s);

/* Operations, by file. */
void sl_s3_list_buckets(struct s3_req *s);
void sl_s3_create_bucket(struct s3_req *s);
void sl_s3_head_bucket(struct s3_req *s);
void sl_s3_delete_bucket(struct s3_req *s);
void sl_s3_get_bucket_location(struct s3_req *s);
void sl_s3_list_objects(struct s3_req *s, int version);
void sl_s3_put_object_begin(struct s3_req *s);
void sl_s3_get_object(struct s3_req *s, bool head);
void sl_s3_delete_object(struct s3_req *s);
void sl_s3_delete_objects(struct s3_req *s);
void sl_s3_copy_object(struct s3_req *s);
void sl_s3_create_multipart(struct s3_req *s);
void sl_s3_upload_part_begin(struct s3_req *s);
void sl_s3_complete_multipart(struct s3_req *s);
void sl_s3_abort_multipart(struct s3_req *s);
void sl_s3_list_parts(struct s3_req *s);
void sl_s3_list_uploads(struct s3_req *s);

/* Starts taking the body: into a blob (streaming) or a capped buffer. */
void sl_s3_take_blob(struct s3_req *s, void (*finish)(struct s3_req *s));
void sl_s3_take_xml(struct s3_req *s, void (*finish)(struct s3_req *s));

#endif
