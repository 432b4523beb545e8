/*
 * What the files of the Glue Data Catalog share: errors, places, storage.
 *
 * Storage (names lower-cased, as Glue keeps them):
 *   kv  glue.db     pk "<account>/<region>", sk the database's name: the
 *                   Database as GetDatabase answers it (times in ms)
 *   kv  glue.table  pk "<account>/<region>/<database>", sk the table's name:
 *                   the Table
 *   kv  glue.part   pk "<account>/<region>/<database>/<table>", sk the
 *                   partition's values joined by U+001F: the Partition
 *   kv  glue.crawler pk "<account>/<region>", sk the crawler's name: the
 *                   Crawler as GetCrawler answers it, and "_Metrics" (what
 *                   GetCrawlerMetrics answers, with the runs' times) and
 *                   "_Tags"
 */
#ifndef SL_GLUE_INTERNAL_H
#define SL_GLUE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/core.h"
#include "services/glue/glue.h"
#include "engine/engine.h"
#include "services/service.h"

#define GLUE_NS_DB "glue.db"
#define GLUE_NS_TABLE "glue.table"
#define GLUE_NS_PART "glue.part"
#define GLUE_NS_CRAWLER "glue.crawler"
#define GLUE_NAME_MAX 255

#define GLUE_ERRORS(X)                                                                       \
    X(GLUE_E_INTERNAL, "InternalServiceException", 500, true)                                \
    X(GLUE_E_INVALID, "InvalidInputException", 400, false)                                   \
    X(GLUE_E_VALIDATION, "ValidationException", 400, false)                                  \
    X(GLUE_E_SERIALIZATION, "SerializationException", 400, false)                            \
    X(GLUE_E_EXISTS, "AlreadyExistsException", 400, false)                                   \
    X(GLUE_E_NOT_FOUND, "EntityNotFoundException", 400, false)                              \
    X(GLUE_E_CRAWLER_RUNNING, "CrawlerRunningException", 400, false)                         \
    X(GLUE_E_CRAWLER_NOT_RUNNING, "CrawlerNotRunningException", 400, false)                  \
    X(GLUE_E_CRAWLER_STOPPING, "CrawlerStoppingException", 400, false)                       \
    X(GLUE_E_SCHEDULER_RUNNING, "SchedulerRunningException", 400, false)                     \
    X(GLUE_E_SCHEDULER_NOT_RUNNING, "SchedulerNotRunningException", 400, false)              \
    X(GLUE_E_NO_SCHEDULE, "NoScheduleException", 400, false)

enum { GLUE_ERRORS(SL_ERROR_ENUM) GLUE_E_N };

/* The call's names, lower-cased and checked: 0, or the call has its
 * error. */
int glue_name(struct sl_call *c, const char *field, const char *value, char *out, size_t n);
/* pk of the databases, tables of db, partitions of db.table. */
void glue_pk(const struct sl_call *c, const char *db, const char *table, char *out, size_t n);
/* Reads an item as JSON (a new object): 0, SL_ENOTFOUND, or another error. */
int glue_read(struct sl_store *s, const char *ns, const char *pk, const char *sk, json_t **out);
/* The same inside a transaction (a new object): 0, SL_ENOTFOUND, or another
 * error; and a record put as compact JSON. */
int glue_txn_get(struct sl_txn *t, const char *ns, const char *pk, const char *sk, json_t **out);
int glue_txn_put(struct sl_txn *t, const char *ns, const char *pk, const char *sk,
                 const json_t *rec);
/* A timestamp member (epoch seconds, as records keep them). */
json_t *glue_time(int64_t ms);
/* The call's MaxResults (0 or none: 100; at most 1,000). */
size_t glue_page_limit(const struct sl_call *c);
/* A page of the records of (ns, pk) after the call's NextToken (base64 of
 * the last key), those keep (may be NULL) takes, appended to list; the
 * next token into out. 0, or the call has its error. */
int glue_page(struct sl_call *c, const char *ns, const char *pk,
              bool (*keep)(void *arg, json_t *rec), void *arg, json_t *list, json_t *out);

/* One write of the catalog: the record (ns, pk, sk) created, updated or
 * deleted in a transaction that first checks its parent exists. */
enum glue_mode { GLUE_CREATE, GLUE_UPDATE, GLUE_DELETE };
struct glue_write;
typedef int (*glue_child_fn)(struct sl_txn *t, struct glue_write *w);
struct glue_write {
    enum glue_mode mode;
    const char *ns;
    char pk[600], sk[1024];
    json_t *rec; /* CREATE, UPDATE (taken) */
    const char *parent_ns;
    char parent_pk[600], parent_sk[GLUE_NAME_MAX + 1];
    char child_pk[1024]; /* DELETE: what the children are under */
    glue_child_fn children[2];
    size_t nchildren;
    char exists_msg[128], missing_msg[600], parent_missing_msg[600];
    /* The outcome: */
    bool exists, missing, missing_parent;
    int rc;
};
struct glue_write *glue_write_new(struct sl_call *c);
/* Runs w (its answer: {} or the error its outcome names). */
int glue_write(struct sl_call *c, struct glue_write *w);
int glue_write_txn(struct sl_txn *t, void *arg, struct sl_err *err);

/* A partition's key (sk) from its values: 0, or SL_EINVAL. */
int glue_values_key(const json_t *values, char *out, size_t n);

/* The service's state. */
struct glue_job;
struct glue_sched;
struct glue_state {
    struct sl_app *app;
    pthread_mutex_t mu;
    struct glue_job *jobs;     /* crawls under way (mu) */
    struct glue_sched *scheds; /* crawlers' schedules (loop thread only) */
    struct sl_inflight crawls; /* crawl threads */
};

/* Crawlers (crawlers.c): interrupted crawls run again and schedules are
 * armed at start; runs end at stop. */
int glue_crawlers_start(struct glue_state *gs);
void glue_crawlers_stop(struct glue_state *gs);

/* One crawl (crawl.c), run on a thread of its own: the crawler's S3
 * targets listed and sampled, their schemas inferred, and the catalog's
 * tables and partitions written in one transaction. */
struct glue_crawl {
    struct sl_app *app;
    const char *account, *region;
    const json_t *crawler; /* its record */
    atomic_bool *stop;     /* StopCrawler, or Sluice stopping */
    void (*log)(struct glue_crawl *cr, const char *msg);
    void *log_arg;
    /* What it did: */
    unsigned created, updated, deleted;
    char error[512];
};
/* 0 (done), SL_ECANCELED (stopped before it wrote), or another error
 * with cr->error saying why. */
int glue_crawl_run(struct glue_crawl *cr);

/* GetPartitions' expressions (expr.c): a SQL-like predicate over the
 * partition keys. */
struct glue_expr;
/* Compiles text against the keys (names, and whether each is a number
 * type): 0, or SL_EINVAL with why in err. */
int glue_expr_compile(const char *text, const char *const *keys, const bool *numeric, size_t n,
                      struct glue_expr **out, struct sl_err *err);
/* Whether a partition's values (one per key) satisfy e. */
bool glue_expr_eval(const struct glue_expr *e, const char *const *values);
void glue_expr_free(struct glue_expr *e);

#endif
