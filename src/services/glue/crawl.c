/*
 * One crawl of a crawler's S3 targets, the way Glue's built-in classifiers
 * and its grouping behave in the common cases:
 *
 *   - every object under a target's path is listed; folder markers, names
 *     that begin with '_' or '.' (_SUCCESS, .crc) and the target's
 *     Exclusions (glob patterns relative to the path) are left out;
 *   - each object is classified by its content: Parquet (PAR1 at both
 *     ends; its footer's schema), JSON Lines (objects, one per line), CSV
 *     (a delimiter among , \t ; | sniffed from the sample, a header when
 *     the first row is all strings and the rest is not); its schema is
 *     inferred from its first MiB (engine: formats/infer.h);
 *   - objects directly under the path, or under Hive-style key=value
 *     folders, make one table named after the path; each other folder
 *     directly under the path makes a table of its own, unless there are
 *     several and all have the same format and columns, which then make
 *     one table partitioned by the folder (partition_0, as Glue names a
 *     folder level that is not key=value);
 *   - the folders below a table's root are its partitions (key=value
 *     gives the key's name, else partition_N), one partition per folder
 *     of data;
 *   - the catalog is written in one transaction: the database if missing,
 *     tables created or (UpdateBehavior UPDATE_IN_DATABASE) updated when
 *     their schema, location or format changed, new partitions added, and
 *     tables this crawler made before that are gone deleted
 *     (DELETE_FROM_DATABASE, with partitions that are gone) or marked
 *     (DEPRECATE_IN_DATABASE).
 */
#include "services/glue/internal.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/csv.h"
#include "formats/infer.h"
#include "formats/parquet.h"
#include "services/s3/s3.h"

#define SAMPLE_BYTES (1024 * 1024)
#define PARQUET_MAX (256u * 1024 * 1024)
#define MAX_COLUMNS 1024
#define MAX_LEVELS 16

enum fmt { F_UNKNOWN, F_CSV, F_JSON, F_PARQUET };
static const char *const fmt_names[] = {"unknown", "csv", "json", "parquet"};

/* A table's columns as the samples of its objects show them. */
struct schema {
    size_t n;
    char *names[MAX_COLUMNS];
    struct sl_infer_col inf[MAX_COLUMNS];   /* CSV, JSON */
    struct sl_pq_column pq[MAX_COLUMNS];    /* Parquet */
    bool pq_set[MAX_COLUMNS];
};

/* One object of a target. */
struct cobj {
    char *key;
    char *rel; /* below the target's path */
    uint64_t size;
};

/* A table being made. */
struct ctable {
    char name[GLUE_NAME_MAX + 1];
    char bucket[64];
    char *root; /* the key prefix of its root (ends with '/', or is empty) */
    enum fmt fmt;
    char delim;
    bool header, quoted;
    struct schema *schema;
    size_t levels;                 /* partition levels; SIZE_MAX until the first object */
    char keys[MAX_LEVELS][GLUE_NAME_MAX + 1];
    json_t *parts;                 /* key of the values -> [values] */
    uint64_t objects, bytes, records, sampled_bytes, sampled_records;
    struct ctable *next;
};

struct crawl {
    struct glue_crawl *cr;
    struct ctable *tables;
    bool incomplete; /* a target could not be listed: nothing is deleted */
};

static void logf_(struct glue_crawl *cr, const char *fmt, ...) SL_PRINTF(2, 3);
static void logf_(struct glue_crawl *cr, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cr->log)
        cr->log(cr, msg);
}

static void schema_free(struct schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s);
}

/* The index of column name (added when new): SIZE_MAX past MAX_COLUMNS. */
static size_t column(struct schema *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->names[i]) == len && !strncasecmp(s->names[i], name, len))
            return i;
    if (s->n == MAX_COLUMNS)
        return SIZE_MAX;
    char *copy = malloc(len + 1);
    if (!copy)
        return SIZE_MAX;
    for (size_t i = 0; i < len; i++) /* (Glue keeps column names lower-case) */
        copy[i] = (char)tolower((unsigned char)name[i]);
    copy[len] = '\0';
    s->names[s->n] = copy;
    sl_infer_init(&s->inf[s->n]);
    return s->n++;
}

/* ---- classifying and sampling one object ----------------------------------------------------- */

struct csv_sample {
    struct schema *s;
    size_t map[MAX_COLUMNS];
    size_t width;
    bool header, first;
    uint64_t rows;
    bool quoted;
};

static int csv_row(void *arg, const struct sl_csv_field *f, size_t nf, int64_t line)
{
    (void)line;
    struct csv_sample *cs = arg;
    if (cs->first) {
        cs->first = false;
        cs->width = nf < MAX_COLUMNS ? nf : MAX_COLUMNS;
        for (size_t i = 0; i < cs->width; i++) {
            char gen[24];
            int glen = snprintf(gen, sizeof(gen), "col%zu", i);
            cs->map[i] = cs->header && f[i].n ? column(cs->s, f[i].s, f[i].n)
                                              : column(cs->s, gen, (size_t)glen);
        }
        if (cs->header)
            return 0;
    }
    cs->rows++;
    for (size_t i = 0; i < nf && i < cs->width; i++) {
        if (cs->map[i] == SIZE_MAX)
            continue;
        cs->quoted |= f[i].quoted;
        sl_infer_text(&cs->s->inf[cs->map[i]], f[i].s, f[i].n);
    }
    return 0;
}

static int sample_csv(struct ctable *t, struct schema *s, const char *p, size_t n, bool whole,
                      uint64_t *rows)
{
    char delim = ',';
    bool header = false;
    sl_csv_sniff(p, n, &delim, &header);
    if (t->fmt == F_CSV && t->delim && delim != t->delim)
        return SL_EINVAL;
    struct csv_sample cs = {.s = s, .header = header, .first = true};
    struct sl_csv *csv = NULL;
    struct sl_err err = {0};
    int rc = sl_csv_new(delim, SAMPLE_BYTES, csv_row, &cs, &csv);
    if (!rc)
        rc = sl_csv_feed(csv, p, n, &err);
    /* (A sample cut short may end inside a quoted field: what it
     * completed is enough.) */
    if (!rc && whole)
        rc = sl_csv_finish(csv, &err);
    sl_csv_free(csv);
    if (rc || cs.width < 2)
        return SL_EINVAL;
    t->delim = delim;
    t->header |= header;
    t->quoted |= cs.quoted;
    *rows = cs.rows;
    return 0;
}

static int sample_json(struct schema *s, const char *p, size_t n, uint64_t *rows)
{
    const char *end = p + n;
    uint64_t count = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t skip = 0;
        while (skip < len && isspace((unsigned char)p[skip]))
            skip++;
        if (skip < len) {
            json_t *o = json_loadb(p, len, JSON_DECODE_ANY, NULL);
            if (!json_is_object(o)) {
                json_decref(o);
                return SL_EINVAL;
            }
            const char *k;
            json_t *v;
            json_object_foreach(o, k, v)
            {
                size_t i = column(s, k, strlen(k));
                if (i != SIZE_MAX)
                    sl_infer_json(&s->inf[i], v);
            }
            json_decref(o);
            count++;
        }
        p = nl ? nl + 1 : end;
    }
    *rows = count;
    return count ? 0 : SL_EINVAL;
}

static int sample_parquet(struct schema *s, const char *p, size_t n, uint64_t *rows)
{
    struct sl_pq_file *f = NULL;
    struct sl_err err = {0};
    if (sl_pq_open(p, n, &f, &err))
        return SL_EINVAL;
    const struct sl_pq_column *cols = sl_pq_columns(f);
    for (size_t c = 0; c < sl_pq_ncolumns(f); c++) {
        size_t i = column(s, cols[c].name, strlen(cols[c].name));
        if (i != SIZE_MAX && !s->pq_set[i]) {
            s->pq[i] = cols[c];
            s->pq[i].name = s->names[i]; /* (the file's names go with it) */
            s->pq_set[i] = true;
        }
    }
    *rows = (uint64_t)sl_pq_nrows(f);
    sl_pq_close(f);
    return 0;
}

/* Adds what from saw to into (an object's columns to its table's). */
static void schema_merge(struct schema *into, const struct schema *from)
{
    for (size_t i = 0; i < from->n; i++) {
        size_t at = column(into, from->names[i], strlen(from->names[i]));
        if (at == SIZE_MAX)
            continue;
        sl_infer_merge(&into->inf[at], &from->inf[i]);
        if (from->pq_set[i] && !into->pq_set[at]) {
            into->pq[at] = from->pq[i];
            into->pq[at].name = into->names[at];
            into->pq_set[at] = true;
        }
    }
}

/* The format of an object by its first bytes (PAR1 at the start: Parquet,
 * read whole when it is no larger than PARQUET_MAX). */
static enum fmt classify(const char *p, size_t n)
{
    if (n >= 4 && !memcmp(p, "PAR1", 4))
        return F_PARQUET;
    size_t i = 0;
    while (i < n && isspace((unsigned char)p[i]))
        i++;
    if (i < n && p[i] == '{')
        return F_JSON;
    return i < n ? F_CSV : F_UNKNOWN;
}

/* Reads and samples one object into t: 0; SL_EINVAL when it does not
 * fit the table (another format, or none Sluice classifies); SL_ETOOBIG
 * for a Parquet file over PARQUET_MAX; SL_ENOTFOUND when it is gone. */
static int sample(struct crawl *k, struct ctable *t, const struct cobj *o)
{
    struct sl_app *app = k->cr->app;
    struct sl_buf b;
    sl_buf_init(&b, 0);
    /* (The first MiB, or a Parquet file whole, for its footer.) */
    uint64_t size = 0;
    int rc = sl_s3_read_head(app->store, t->bucket, o->key, SAMPLE_BYTES + 1, &b, &size);
    enum fmt f = rc ? F_UNKNOWN : classify(b.data, b.len);
    if (!rc && f == F_PARQUET && size > b.len) {
        sl_buf_reset(&b);
        bool no_bucket;
        rc = size > PARQUET_MAX
                 ? SL_ETOOBIG
                 : sl_s3_read_object(app->store, t->bucket, o->key, PARQUET_MAX, &b, &no_bucket);
    }
    struct schema *s = rc ? NULL : calloc(1, sizeof(*s));
    if (!rc && !s)
        rc = SL_ENOMEM;
    if (rc) {
        sl_buf_free(&b);
        return rc;
    }
    size_t n = b.len;
    bool whole = n == size;
    if (f != F_PARQUET && n > SAMPLE_BYTES) {
        n = SAMPLE_BYTES;
        while (n && b.data[n - 1] != '\n')
            n--;
    }
    uint64_t rows = 0;
    if (f == F_UNKNOWN || (t->fmt != F_UNKNOWN && f != t->fmt))
        rc = SL_EINVAL;
    else if (f == F_CSV)
        rc = sample_csv(t, s, b.data, n, whole, &rows);
    else if (f == F_JSON)
        rc = sample_json(s, b.data, n, &rows);
    else
        rc = sample_parquet(s, b.data, n, &rows);
    /* (What an object that does not fit saw stays out of the table.) */
    if (!rc) {
        schema_merge(t->schema, s);
        t->fmt = f;
        t->sampled_bytes += n;
        t->sampled_records += rows;
    }
    schema_free(s);
    sl_buf_free(&b);
    return rc;
}

/* ---- tables -------------------------------------------------------------------------------- */

static struct ctable *table_new(struct crawl *k, const char *bucket, const char *root,
                                const char *name)
{
    struct ctable *t = calloc(1, sizeof(*t));
    if (!t || !(t->schema = calloc(1, sizeof(*t->schema))) || !(t->root = strdup(root)) ||
        !(t->parts = json_object())) {
        if (t) {
            free(t->schema);
            free(t->root);
            free(t);
        }
        return NULL;
    }
    const char *prefix = json_string_value(json_object_get(k->cr->crawler, "TablePrefix"));
    snprintf(t->name, sizeof(t->name), "%s%s", prefix ? prefix : "", name);
    /* (Glue's table names: lower case, and _ for what is not a letter or
     * a digit.) */
    for (char *p = t->name; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    /* Two roots that make the same name: the later one's gets a hash of
     * its place after it, as Glue adds one. */
    for (struct ctable *o = k->tables; o; o = o->next)
        if (!strcmp(o->name, t->name)) {
            char where[1200];
            snprintf(where, sizeof(where), "%s/%s", bucket, root);
            size_t len = strlen(t->name);
            snprintf(t->name + (len > GLUE_NAME_MAX - 9 ? GLUE_NAME_MAX - 9 : len), 10, "_%08x",
                     sl_fnv1a(2166136261u, where));
            break;
        }
    snprintf(t->bucket, sizeof(t->bucket), "%s", bucket);
    t->levels = SIZE_MAX;
    t->next = k->tables;
    k->tables = t;
    return t;
}

static void tables_free(struct ctable *t)
{
    while (t) {
        struct ctable *next = t->next;
        schema_free(t->schema);
        free(t->root);
        json_decref(t->parts);
        free(t);
        t = next;
    }
}

/* Adds object o to t (sampled, or counted only, past the target's
 * SampleSize): its folders below t's root (dirs, n of them) are its
 * partition. */
static int table_add(struct crawl *k, struct ctable *t, const struct cobj *o, char **dirs,
                     size_t n, bool sampled)
{
    if (t->levels == SIZE_MAX) {
        if (n > MAX_LEVELS) {
            logf_(k->cr, "Skipping s3://%s/%s: more than %d folder levels", t->bucket, o->key,
                  MAX_LEVELS);
            return 0;
        }
        t->levels = n;
        for (size_t i = 0; i < n; i++) {
            const char *eq = strchr(dirs[i], '=');
            if (eq && eq != dirs[i])
                snprintf(t->keys[i], sizeof(t->keys[i]), "%.*s", (int)(eq - dirs[i]), dirs[i]);
            else
                snprintf(t->keys[i], sizeof(t->keys[i]), "partition_%zu", i);
            for (char *p = t->keys[i]; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        }
    } else if (n != t->levels) {
        logf_(k->cr, "Skipping s3://%s/%s: its folders are %zu levels deep, the table's %zu",
              t->bucket, o->key, n, t->levels);
        return 0;
    }
    int rc = sampled ? sample(k, t, o) : 0;
    if (rc == SL_EINVAL || rc == SL_ETOOBIG || rc == SL_ENOTFOUND) {
        logf_(k->cr, "Skipping s3://%s/%s: %s%s", t->bucket, o->key,
              rc == SL_ENOTFOUND ? "it is gone"
              : rc == SL_ETOOBIG ? "a Parquet file over 256 MiB (its footer is not read)"
              : t->fmt           ? "not of the table's format "
                                 : "not of a format Sluice classifies",
              rc == SL_EINVAL && t->fmt ? fmt_names[t->fmt] : "");
        return 0;
    }
    if (rc)
        return rc;
    t->objects++;
    t->bytes += o->size;
    if (n) {
        /* The partition: its values, and the folders it really is (the
         * Location; keys take their case from the first object). */
        json_t *values = json_array();
        struct sl_buf path;
        sl_buf_init(&path, 0);
        for (size_t i = 0; i < n; i++) {
            const char *eq = strchr(dirs[i], '=');
            json_array_append_new(values, json_string(eq && eq != dirs[i] ? eq + 1 : dirs[i]));
            sl_buf_printf(&path, "%s/", dirs[i]);
        }
        char key[8192];
        if (json_array_size(values) == n && path.data &&
            !glue_values_key(values, key, sizeof(key)) && !json_object_get(t->parts, key))
            json_object_set_new(t->parts, key,
                                json_pack("{s:O, s:s}", "values", values, "path", path.data));
        json_decref(values);
        sl_buf_free(&path);
    }
    return 0;
}

/* Splits rel at '/' into at most max folders (rel is changed); the number
 * of folders, or SIZE_MAX when there are more. */
static size_t split_dirs(char *rel, char **dirs, size_t max)
{
    size_t n = 0;
    for (char *p = rel, *slash; (slash = strchr(p, '/')); p = slash + 1) {
        if (n == max)
            return SIZE_MAX;
        *slash = '\0';
        dirs[n++] = p;
    }
    return n;
}

static bool is_partition_dir(const char *d)
{
    const char *eq = strchr(d, '=');
    return eq && eq != d;
}

/* Whether two tables could be one: the same format and the same columns. */
static bool alike(const struct ctable *a, const struct ctable *b)
{
    if (a->fmt != b->fmt || a->fmt == F_UNKNOWN || a->schema->n != b->schema->n ||
        a->levels != b->levels)
        return false;
    for (size_t i = 0; i < a->schema->n; i++)
        if (strcmp(a->schema->names[i], b->schema->names[i]) != 0)
            return false;
    return true;
}

/* Whether the object key (under a path of plen bytes) is crawled: not a
 * folder marker, a hidden or underscored name, or one of the target's
 * Exclusions. */
static bool wanted(const char *key, size_t plen, const json_t *excl)
{
    const char *rel = key + plen, *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    if (!*rel || !*base || base[0] == '_' || base[0] == '.')
        return false;
    size_t e;
    json_t *pat;
    json_array_foreach(excl, e, pat)
    {
        /* (As Glue's globs: * stays within a folder, ** crosses them.) */
        const char *g = json_string_value(pat);
        if (g && !fnmatch(g, rel, strstr(g, "**") ? 0 : FNM_PATHNAME))
            return false;
    }
    return true;
}

/* Adds the objects of list that are wanted to t, whose root is root: each
 * sampled, up to sample_size (when positive) in each folder, and the rest
 * counted, as Glue's SampleSize says. */
static int add_objects(struct crawl *k, struct ctable *t, const json_t *list, const char *root,
                       size_t plen, const json_t *excl, json_int_t sample_size)
{
    json_t *per_folder = json_object(), *item;
    size_t i;
    int rc = 0;
    json_array_foreach(list, i, item)
    {
        const char *key = json_string_value(json_object_get(item, "Key"));
        if (!wanted(key, plen, excl))
            continue;
        struct cobj ob = {.key = (char *)key,
                          .size = (uint64_t)json_integer_value(json_object_get(item, "Size"))};
        const char *slash = strrchr(key, '/');
        char folder[1100];
        snprintf(folder, sizeof(folder), "%.*s", slash ? (int)(slash - key) : 0, key);
        json_int_t seen = json_integer_value(json_object_get(per_folder, folder));
        json_object_set_new(per_folder, folder, json_integer(seen + 1));
        char *rel = strdup(key + strlen(root)), *dirs[MAX_LEVELS + 1];
        if (!rel) {
            rc = SL_ENOMEM;
            break;
        }
        size_t nd = split_dirs(rel, dirs, MAX_LEVELS + 1);
        rc = nd == SIZE_MAX ? 0
                            : table_add(k, t, &ob, dirs, nd, sample_size <= 0 || seen < sample_size);
        free(rel);
        if (rc || (rc = atomic_load(k->cr->stop) ? SL_ECLOSED : 0))
            break;
    }
    json_decref(per_folder);
    return rc;
}

/* The name of a table at a target's path: its last folder (prefix, plen
 * bytes, ends with '/'), or the bucket's for the bucket itself. */
static void path_name(const char *bucket, const char *prefix, size_t plen, char *name, size_t n)
{
    const char *end = prefix + plen - (plen ? 1 : 0), *start = end;
    while (start > prefix && start[-1] != '/')
        start--;
    snprintf(name, n, "%.*s", (int)(end - start), start);
    if (!*name)
        snprintf(name, n, "%s", bucket);
}

/* Adds the tables of one S3 target. */
static int crawl_target(struct crawl *k, const json_t *target)
{
    struct glue_crawl *cr = k->cr;
    const char *path = json_string_value(json_object_get(target, "Path"));
    char bucket[64], prefix[1024];
    const char *b = path + 5, *slash = strchr(b, '/');
    size_t blen = slash ? (size_t)(slash - b) : strlen(b);
    if (blen >= sizeof(bucket)) {
        logf_(cr, "Skipping target %s: no such bucket", path);
        k->incomplete = true;
        return 0;
    }
    memcpy(bucket, b, blen);
    bucket[blen] = '\0';
    snprintf(prefix, sizeof(prefix), "%s", slash ? slash + 1 : "");
    size_t plen = strlen(prefix);
    if (plen && prefix[plen - 1] != '/' && plen + 1 < sizeof(prefix)) {
        prefix[plen++] = '/';
        prefix[plen] = '\0';
    }
    json_t *list = NULL;
    int rc = sl_s3_list_keys(cr->app->store, bucket, prefix, 0, &list);
    if (rc == SL_ENOTFOUND) {
        logf_(cr, "Skipping target %s: the bucket %s does not exist", path, bucket);
        k->incomplete = true;
        return 0;
    }
    if (rc)
        return rc;
    const json_t *excl = json_object_get(target, "Exclusions");
    json_int_t sample_size = json_integer_value(json_object_get(target, "SampleSize"));
    /* The objects, by the folder directly under the path ("" for the
     * path itself and its key=value folders). */
    json_t *groups = json_object(), *item;
    size_t i;
    json_array_foreach(list, i, item)
    {
        const char *key = json_string_value(json_object_get(item, "Key"));
        if (!wanted(key, plen, excl))
            continue;
        const char *rel = key + plen, *first = strchr(rel, '/');
        char group[1024] = "";
        if (first) {
            snprintf(group, sizeof(group), "%.*s", (int)(first - rel), rel);
            if (is_partition_dir(group))
                group[0] = '\0';
        }
        json_t *g = json_object_get(groups, group);
        if (!g)
            json_object_set_new(groups, group, g = json_array());
        json_array_append(g, item);
    }
    /* One table per group, to begin with. */
    struct ctable *before = k->tables;
    const char *gname;
    json_t *objs;
    struct ctable *first_plain = NULL;
    size_t nplain = 0;
    bool all_alike = true;
    json_object_foreach(groups, gname, objs)
    {
        if (atomic_load(cr->stop)) {
            rc = SL_ECLOSED;
            break;
        }
        char root[2100], name[GLUE_NAME_MAX + 1];
        if (*gname) {
            snprintf(root, sizeof(root), "%s%s/", prefix, gname);
            snprintf(name, sizeof(name), "%s", gname);
        } else {
            snprintf(root, sizeof(root), "%s", prefix);
            path_name(bucket, prefix, plen, name, sizeof(name));
        }
        struct ctable *t = table_new(k, bucket, root, name);
        if (!t) {
            rc = SL_ENOMEM;
            break;
        }
        if ((rc = add_objects(k, t, objs, root, plen, excl, sample_size)))
            break;
        if (*gname) {
            nplain++;
            if (!first_plain)
                first_plain = t;
            else if (!alike(first_plain, t))
                all_alike = false;
        }
    }
    /* Several folders alike and nothing beside them: one table, partitioned
     * by the folder. */
    if (!rc && nplain > 1 && all_alike && !json_object_get(groups, "")) {
        /* (This target's tables are those made since it began: the list
         * grows at its head.) */
        while (k->tables != before) {
            struct ctable *t = k->tables;
            k->tables = t->next;
            t->next = NULL;
            tables_free(t);
        }
        char name[GLUE_NAME_MAX + 1];
        path_name(bucket, prefix, plen, name, sizeof(name));
        struct ctable *one = table_new(k, bucket, prefix, name);
        rc = one ? add_objects(k, one, list, prefix, plen, excl, sample_size) : SL_ENOMEM;
    }
    json_decref(groups);
    json_decref(list);
    return rc;
}

/* ---- the catalog ------------------------------------------------------------------------- */

static json_t *table_params(const struct crawl *k, const struct ctable *t)
{
    char n[32];
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "classification", fmt_names[t->fmt],
                          "compressionType", "none", "typeOfData", "file",
                          "CrawlerSchemaSerializerVersion", "1.0",
                          "CrawlerSchemaDeserializerVersion", "1.0", "UPDATED_BY_CRAWLER",
                          json_string_value(json_object_get(k->cr->crawler, "Name")));
    snprintf(n, sizeof(n), "%llu", (unsigned long long)t->objects);
    json_object_set_new(p, "objectCount", json_string(n));
    snprintf(n, sizeof(n), "%llu", (unsigned long long)t->bytes);
    json_object_set_new(p, "sizeKey", json_string(n));
    uint64_t records = t->sampled_bytes && t->fmt != F_PARQUET
                           ? (uint64_t)((double)t->sampled_records * (double)t->bytes /
                                        (double)t->sampled_bytes)
                           : t->sampled_records;
    snprintf(n, sizeof(n), "%llu", (unsigned long long)records);
    json_object_set_new(p, "recordCount", json_string(n));
    snprintf(n, sizeof(n), "%llu", (unsigned long long)(records ? t->bytes / records : 0));
    json_object_set_new(p, "averageRecordSize", json_string(n));
    if (t->fmt == F_CSV) {
        char d[2] = {t->delim, '\0'};
        json_object_set_new(p, "delimiter", json_string(d));
        json_object_set_new(p, "areColumnsQuoted", json_string(t->quoted ? "true" : "false"));
        if (t->header)
            json_object_set_new(p, "skip.header.line.count", json_string("1"));
    }
    return p;
}

/* The table's storage descriptor at location. */
static json_t *storage(const struct ctable *t, const char *location, json_t *params)
{
    json_t *cols = json_array();
    const struct schema *s = t->schema;
    for (size_t i = 0; i < s->n; i++) {
        struct sl_pq_column c = {0};
        char type[64];
        if (t->fmt == F_PARQUET)
            c = s->pq[i];
        else
            sl_infer_result(&s->inf[i], &c);
        if (c.type == SL_PQ_TIMESTAMP_US)
            c.type = SL_PQ_TIMESTAMP_MS; /* (Glue has one timestamp type) */
        json_array_append_new(cols, json_pack("{s:s, s:s}", "Name", s->names[i], "Type",
                                              sl_pq_type_name(&c, type, sizeof(type))));
    }
    const char *in = "org.apache.hadoop.mapred.TextInputFormat",
               *out = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat", *serde;
    json_t *sp;
    if (t->fmt == F_PARQUET) {
        in = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
        out = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
        serde = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
        sp = json_pack("{s:s}", "serialization.format", "1");
    } else if (t->fmt == F_JSON) {
        serde = "org.openx.data.jsonserde.JsonSerDe";
        struct sl_buf paths;
        sl_buf_init(&paths, 0);
        for (size_t i = 0; i < s->n; i++)
            sl_buf_printf(&paths, "%s%s", i ? "," : "", s->names[i]);
        sp = json_pack("{s:s}", "paths", paths.data ? paths.data : "");
        sl_buf_free(&paths);
    } else {
        char d[2] = {t->delim, '\0'};
        if (t->quoted) {
            serde = "org.apache.hadoop.hive.serde2.OpenCSVSerde";
            sp = json_pack("{s:s, s:s}", "separatorChar", d, "quoteChar", "\"");
        } else {
            serde = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
            sp = json_pack("{s:s}", "field.delim", d);
        }
    }
    return json_pack("{s:o, s:s, s:s, s:s, s:b, s:i, s:{s:s, s:o}, s:[], s:[], s:o, s:b}",
                     "Columns", cols, "Location", location, "InputFormat", in, "OutputFormat",
                     out, "Compressed", 0, "NumberOfBuckets", -1, "SerdeInfo",
                     "SerializationLibrary", serde, "Parameters", sp, "BucketColumns",
                     "SortColumns", "Parameters", params, "StoredAsSubDirectories", 0);
}

struct catalog {
    struct crawl *k;
    char db[GLUE_NAME_MAX + 1];
    char dbpk[96], tpk[400];
    bool update, delete_gone, deprecate_gone;
    unsigned created, updated, deleted;
    int64_t now;
};

/* Whether a stored table differs from the crawled one in what a crawl
 * decides: columns, location, format, partition keys. */
static bool differs(const json_t *old, const json_t *rec)
{
    const json_t *a = json_object_get(old, "StorageDescriptor"),
                 *b = json_object_get(rec, "StorageDescriptor");
    static const char *const sd[] = {"Columns", "Location", "InputFormat"};
    for (size_t i = 0; i < SL_ARRAY_LEN(sd); i++)
        if (!json_equal(json_object_get(a, sd[i]), json_object_get(b, sd[i])))
            return true;
    return !json_equal(json_object_get(old, "PartitionKeys"), json_object_get(rec, "PartitionKeys"));
}

static int write_table(struct sl_txn *tx, struct catalog *cat, const struct ctable *t)
{
    struct crawl *k = cat->k;
    char location[2200], ppk[700];
    snprintf(location, sizeof(location), "s3://%s/%s", t->bucket, t->root);
    json_t *params = table_params(k, t);
    json_t *keys = json_array();
    for (size_t i = 0; i < t->levels && t->levels != SIZE_MAX; i++)
        json_array_append_new(keys, json_pack("{s:s, s:s}", "Name", t->keys[i], "Type", "string"));
    const char *role = json_string_value(json_object_get(k->cr->crawler, "Role"));
    char by[400];
    snprintf(by, sizeof(by), "arn:aws:sts::%s:assumed-role/%.200s/AWS-Crawler", k->cr->account,
             role && strrchr(role, '/') ? strrchr(role, '/') + 1 : role ? role : "");
    json_t *rec = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:o, s:o, s:s, s:O, s:s, s:b, s:s, s:s}", "Name",
        t->name, "DatabaseName", cat->db, "Owner", "owner", "CreateTime", glue_time(cat->now),
        "UpdateTime", glue_time(cat->now), "LastAccessTime", glue_time(cat->now), "Retention", 0,
        "StorageDescriptor", storage(t, location, json_deep_copy(params)), "PartitionKeys", keys,
        "TableType", "EXTERNAL_TABLE", "Parameters", params, "CreatedBy", by,
        "IsRegisteredWithLakeFormation", 0, "CatalogId", k->cr->account, "VersionId", "0");
    json_decref(params);
    json_t *old = NULL;
    int rc = glue_txn_get(tx, GLUE_NS_TABLE, cat->tpk, t->name, &old);
    if (rc == SL_ENOTFOUND) {
        rc = glue_txn_put(tx, GLUE_NS_TABLE, cat->tpk, t->name, rec);
        cat->created++;
    } else if (!rc && cat->update && differs(old, rec)) {
        static const char *const keep[] = {"CreateTime", "CreatedBy", "Owner", "Description"};
        for (size_t i = 0; i < SL_ARRAY_LEN(keep); i++)
            if (json_object_get(old, keep[i]))
                json_object_set(rec, keep[i], json_object_get(old, keep[i]));
        char version[24];
        const char *v = json_string_value(json_object_get(old, "VersionId"));
        snprintf(version, sizeof(version), "%lld", (v ? atoll(v) : 0) + 1);
        json_object_set_new(rec, "VersionId", json_string(version));
        rc = glue_txn_put(tx, GLUE_NS_TABLE, cat->tpk, t->name, rec);
        cat->updated++;
    } else if (!rc) {
        /* (Unchanged, or LOG: the stored table stays; partitions follow
         * it.) */
        json_decref(rec);
        rec = json_incref(old);
    }
    json_decref(old);
    /* Its partitions: those new are added, and with DELETE_FROM_DATABASE
     * those gone are deleted. */
    snprintf(ppk, sizeof(ppk), "%s/%s", cat->tpk, t->name);
    const char *key;
    json_t *entry;
    json_object_foreach(t->parts, key, entry)
    {
        if (rc)
            break;
        if ((rc = sl_txn_exists(tx, GLUE_NS_PART, ppk, key)) != SL_ENOTFOUND)
            continue;
        json_t *values = json_object_get(entry, "values");
        struct sl_buf ploc;
        sl_buf_init(&ploc, 0);
        sl_buf_printf(&ploc, "%s%s", location, json_string_value(json_object_get(entry, "path")));
        json_t *sd = json_deep_copy(json_object_get(rec, "StorageDescriptor"));
        json_object_set_new(sd, "Location", json_string(ploc.data ? ploc.data : location));
        sl_buf_free(&ploc);
        json_t *part = json_pack("{s:O, s:s, s:s, s:o, s:o, s:o, s:O, s:s}", "Values", values,
                                 "DatabaseName", cat->db, "TableName", t->name, "CreationTime",
                                 glue_time(cat->now), "LastAccessTime", glue_time(cat->now),
                                 "StorageDescriptor", sd, "Parameters",
                                 json_object_get(rec, "Parameters"), "CatalogId",
                                 k->cr->account);
        rc = glue_txn_put(tx, GLUE_NS_PART, ppk, key, part);
        json_decref(part);
    }
    if (!rc && cat->delete_gone) {
        struct sl_item *items = NULL;
        size_t n = 0;
        rc = sl_txn_list(tx, GLUE_NS_PART, ppk, NULL, SIZE_MAX, &items, &n);
        for (size_t i = 0; i < n; i++) {
            if (!rc && !json_object_get(t->parts, items[i].sk))
                rc = sl_txn_delete(tx, GLUE_NS_PART, ppk, items[i].sk);
            sl_item_free(&items[i]);
        }
        free(items);
    }
    json_decref(rec);
    return rc;
}

/* Tables this crawler made that no target has any more. */
static int gone_tables(struct sl_txn *tx, struct catalog *cat)
{
    const char *me = json_string_value(json_object_get(cat->k->cr->crawler, "Name"));
    struct sl_item *items = NULL;
    size_t n = 0;
    int rc = sl_txn_list(tx, GLUE_NS_TABLE, cat->tpk, NULL, SIZE_MAX, &items, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *rec = rc ? NULL : json_loadb(items[i].val, items[i].val_len, 0, NULL);
        json_t *params = json_object_get(rec, "Parameters");
        const char *by = json_string_value(json_object_get(params, "UPDATED_BY_CRAWLER"));
        bool found = false;
        for (struct ctable *t = cat->k->tables; t && !found; t = t->next)
            found = t->objects && !strcmp(t->name, items[i].sk);
        if (rec && by && me && !strcmp(by, me) && !found) {
            if (cat->delete_gone) {
                char ppk[700];
                snprintf(ppk, sizeof(ppk), "%s/%s", cat->tpk, items[i].sk);
                rc = sl_txn_delete(tx, GLUE_NS_TABLE, cat->tpk, items[i].sk);
                if (!rc)
                    rc = sl_txn_delete_pk(tx, GLUE_NS_PART, ppk, NULL);
                cat->deleted++;
            } else if (cat->deprecate_gone && !json_object_get(params, "DEPRECATED_BY_CRAWLER")) {
                char when[24];
                snprintf(when, sizeof(when), "%lld", (long long)cat->now);
                json_object_set_new(params, "DEPRECATED_BY_CRAWLER", json_string(when));
                rc = glue_txn_put(tx, GLUE_NS_TABLE, cat->tpk, items[i].sk, rec);
            }
        }
        json_decref(rec);
        sl_item_free(&items[i]);
    }
    free(items);
    return rc;
}

static int catalog_txn(struct sl_txn *tx, void *arg, struct sl_err *err)
{
    (void)err;
    struct catalog *cat = arg;
    cat->created = cat->updated = cat->deleted = 0;
    int rc = sl_txn_exists(tx, GLUE_NS_DB, cat->dbpk, cat->db);
    if (rc == SL_ENOTFOUND) {
        json_t *db = json_pack("{s:s, s:o, s:s}", "Name", cat->db, "CreateTime",
                               glue_time(cat->now), "CatalogId", cat->k->cr->account);
        rc = glue_txn_put(tx, GLUE_NS_DB, cat->dbpk, cat->db, db);
        json_decref(db);
    }
    for (struct ctable *t = cat->k->tables; t && !rc; t = t->next)
        if (t->objects)
            rc = write_table(tx, cat, t);
    if (!rc && !cat->k->incomplete && (cat->delete_gone || cat->deprecate_gone))
        rc = gone_tables(tx, cat);
    return rc;
}

int glue_crawl_run(struct glue_crawl *cr)
{
    const json_t *c = cr->crawler;
    const char *db = json_string_value(json_object_get(c, "DatabaseName"));
    if (!db || !*db || strlen(db) > GLUE_NAME_MAX || strchr(db, '/')) {
        snprintf(cr->error, sizeof(cr->error), "The crawler has no DatabaseName to write to.");
        return SL_EINVAL;
    }
    const json_t *targets = json_object_get(c, "Targets");
    const char *kind;
    json_t *list;
    json_object_foreach((json_t *)targets, kind, list)
    {
        if (strcmp(kind, "S3Targets") != 0 && json_array_size(list)) {
            snprintf(cr->error, sizeof(cr->error),
                     "%.64s are not crawled by Sluice: only S3Targets are.", kind);
            return SL_ENOTSUP;
        }
    }
    struct crawl k = {.cr = cr};
    int rc = 0;
    size_t i;
    json_t *target;
    json_array_foreach(json_object_get(targets, "S3Targets"), i, target)
    {
        if (rc)
            break;
        rc = crawl_target(&k, target);
    }
    if (!rc && atomic_load(cr->stop))
        rc = SL_ECLOSED;
    if (!rc) {
        struct catalog cat = {.k = &k, .now = sl_time_now_ms()};
        const json_t *policy = json_object_get(c, "SchemaChangePolicy");
        const char *upd = json_string_value(json_object_get(policy, "UpdateBehavior"));
        const char *del = json_string_value(json_object_get(policy, "DeleteBehavior"));
        cat.update = !upd || strcmp(upd, "LOG") != 0;
        cat.delete_gone = del && !strcmp(del, "DELETE_FROM_DATABASE");
        cat.deprecate_gone = !del || !strcmp(del, "DEPRECATE_IN_DATABASE");
        for (size_t j = 0; db[j] && j < GLUE_NAME_MAX; j++)
            cat.db[j] = (char)tolower((unsigned char)db[j]);
        snprintf(cat.dbpk, sizeof(cat.dbpk), "%.15s/%.63s", cr->account, cr->region);
        snprintf(cat.tpk, sizeof(cat.tpk), "%s/%s", cat.dbpk, cat.db);
        struct sl_err err = {0};
        rc = sl_store_write(cr->app->store, catalog_txn, &cat, &err);
        if (rc)
            snprintf(cr->error, sizeof(cr->error), "The catalog could not be written: %.400s",
                     err.msg[0] ? err.msg : sl_strerror(rc));
        cr->created = cat.created;
        cr->updated = cat.updated;
        cr->deleted = cat.deleted;
        for (struct ctable *t = k.tables; t && !rc; t = t->next)
            if (t->objects)
                logf_(cr, "Table %s.%s: %s, %zu columns, %llu objects, %zu partitions, at s3://%s/%s",
                      cat.db, t->name, fmt_names[t->fmt], t->schema->n,
                      (unsigned long long)t->objects, json_object_size(t->parts), t->bucket,
                      t->root);
    } else if (rc != SL_ECLOSED && !cr->error[0]) {
        snprintf(cr->error, sizeof(cr->error), "The crawl failed: %s", sl_strerror(rc));
    }
    tables_free(k.tables);
    return rc;
}
