/*
 * blob.c — blobs of the embedded store: the streaming writer (memory up to
 * SL_BLOB_INLINE_MAX, then a temp file in <dir>/blobs that is fdatasync'd
 * and renamed to a random id when finished), copies of committed blobs,
 * and opening them for reading. Whether a blob is reachable is decided by
 * the item that names it (kv.c); removal of replaced ones by the writer
 * thread (store.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/internal.h"

#define COPY_BUF 65536

struct sl_blob_writer {
    struct sl_store *s;
    char *mem; /* the bytes while they fit inline */
    size_t mem_cap;
    int fd; /* the temp file once spilled, else -1 */
    char tmp[sizeof SL_BLOB_TMP_PREFIX + SL_BLOB_ID_LEN];
    uint64_t size;
    int error; /* sticky: after a failed write the content is undefined */
};

bool sl_blob_id_valid(const char *name)
{
    size_t i = 0;
    for (; name[i]; i++) {
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    }
    return i == SL_BLOB_ID_LEN;
}

static void new_id(char out[SL_BLOB_ID_LEN + 1])
{
    uint8_t raw[SL_BLOB_ID_LEN / 2];
    sl_random(raw, sizeof raw);
    sl_hex_encode(raw, sizeof raw, out);
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *q = p;
    while (n > 0) {
        ssize_t k = write(fd, q, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return SL_EIO; /* (errno says why) */
        }
        q += k;
        n -= (size_t)k;
    }
    return 0;
}

void sl_blob_free(struct sl_blob *b)
{
    if (!b)
        return;
    free(b->inline_data);
    free(b->file_id);
    memset(b, 0, sizeof *b);
}

int sl_blob_writer_new(struct sl_store *s, struct sl_blob_writer **out)
{
    *out = NULL;
    if (!s)
        return SL_EINVAL;
    struct sl_blob_writer *w = calloc(1, sizeof *w);
    if (!w)
        return SL_ENOMEM;
    w->s = s;
    w->fd = -1;
    *out = w;
    return 0;
}

uint64_t sl_blob_writer_size(const struct sl_blob_writer *w)
{
    return w ? w->size : 0;
}

static int fail_io(struct sl_blob_writer *w, const char *what)
{
    sl_warn(SL_STORE_LOG, "blob %s: %s: %s", w->tmp, what, strerror(errno));
    w->error = SL_EIO;
    return SL_EIO;
}

/* Moves the bytes so far from memory to a new temp file. */
static int spill(struct sl_blob_writer *w)
{
    char id[SL_BLOB_ID_LEN + 1];
    new_id(id);
    snprintf(w->tmp, sizeof w->tmp, "%s%s", SL_BLOB_TMP_PREFIX, id);
    w->fd = openat(w->s->blob_fd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd < 0)
        return fail_io(w, "create");
    if (write_all(w->fd, w->mem, (size_t)w->size) != 0)
        return fail_io(w, "write");
    free(w->mem);
    w->mem = NULL;
    w->mem_cap = 0;
    return 0;
}

int sl_blob_writer_write(struct sl_blob_writer *w, const void *p, size_t n)
{
    if (!w)
        return SL_EINVAL;
    if (w->error)
        return w->error;
    if (n == 0)
        return 0;
    if (w->fd < 0 && w->size + n <= SL_BLOB_INLINE_MAX) {
        size_t need = (size_t)w->size + n;
        if (need > w->mem_cap) {
            size_t cap = SL_MAX(SL_MAX(2 * w->mem_cap, need), (size_t)4096);
            cap = SL_MIN(cap, (size_t)SL_BLOB_INLINE_MAX);
            char *m = realloc(w->mem, cap);
            if (!m)
                return SL_ENOMEM; /* not sticky: nothing was lost */
            w->mem = m;
            w->mem_cap = cap;
        }
        memcpy(w->mem + w->size, p, n);
        w->size += n;
        return 0;
    }
    if (w->fd < 0) {
        int rc = spill(w);
        if (rc)
            return rc;
    }
    if (write_all(w->fd, p, n) != 0)
        return fail_io(w, "write");
    w->size += n;
    return 0;
}

/* Frees w and removes its temp file, if any. */
static void writer_free(struct sl_blob_writer *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        unlinkat(w->s->blob_fd, w->tmp, 0);
    }
    free(w->mem);
    free(w);
}

void sl_blob_writer_abort(struct sl_blob_writer *w)
{
    if (w)
        writer_free(w);
}

int sl_blob_writer_finish(struct sl_blob_writer *w, struct sl_blob *out)
{
    memset(out, 0, sizeof *out);
    if (!w)
        return SL_EINVAL;
    int rc = w->error;
    if (rc)
        goto fail;
    if (w->fd < 0) {
        /* Inline: hand the bytes over, NUL-terminated like item values. */
        char *m = realloc(w->mem, (size_t)w->size + 1);
        if (!m) {
            rc = SL_ENOMEM;
            goto fail;
        }
        m[w->size] = '\0';
        out->inline_data = m;
        out->size = w->size;
        w->mem = NULL;
        writer_free(w);
        return 0;
    }
    char id[SL_BLOB_ID_LEN + 1];
    new_id(id);
    char *file_id = strdup(id);
    if (!file_id) {
        rc = SL_ENOMEM;
        goto fail;
    }
    /* Data first, then the name: the directory fsync comes with the commit. */
    if (fdatasync(w->fd) != 0 || renameat(w->s->blob_fd, w->tmp, w->s->blob_fd, id) != 0) {
        rc = fail_io(w, "fdatasync and rename");
        free(file_id);
        goto fail;
    }
    close(w->fd);
    w->fd = -1;
    out->file_id = file_id;
    out->size = w->size;
    writer_free(w);
    return 0;
fail:
    writer_free(w);
    return rc;
}

/* Copies n bytes from src to the writer with read/write. */
static int copy_rw(struct sl_blob_writer *w, int src, uint64_t n)
{
    char *buf = malloc(COPY_BUF);
    if (!buf)
        return SL_ENOMEM;
    int rc = 0;
    while (n > 0) {
        ssize_t k = read(src, buf, (size_t)SL_MIN(n, (uint64_t)COPY_BUF));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = fail_io(w, "read source blob");
            goto fail;
        }
        if (k == 0) {
            rc = w->error = SL_ECORRUPT; /* the source is shorter than its size */
            goto fail;
        }
        rc = sl_blob_writer_write(w, buf, (size_t)k);
        if (rc)
            goto fail;
        n -= (uint64_t)k;
    }
fail:
    free(buf);
    return rc;
}

/* Copies n bytes from src to the spilled writer, in the kernel if it can
 * (a reflink on file systems that have them). */
static int copy_kernel(struct sl_blob_writer *w, int src, uint64_t n)
{
    while (n > 0) {
        ssize_t k = copy_file_range(src, NULL, w->fd, NULL, (size_t)SL_MIN(n, (uint64_t)1 << 30), 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                      errno == EOPNOTSUPP || errno == EBADF))
            return copy_rw(w, src, n); /* both offsets moved on: go on from there */
        if (k < 0)
            return fail_io(w, "copy_file_range");
        if (k == 0)
            return w->error = SL_ECORRUPT;
        w->size += (uint64_t)k;
        n -= (uint64_t)k;
    }
    return 0;
}

int sl_blob_writer_append_blob(struct sl_blob_writer *w, const struct sl_blob *src)
{
    if (!w || !src)
        return SL_EINVAL;
    if (w->error)
        return w->error;
    if (!src->file_id) {
        if (src->size > 0 && !src->inline_data)
            return SL_EINVAL; /* a listed item's blob: its bytes were not loaded */
        return sl_blob_writer_write(w, src->inline_data, (size_t)src->size);
    }
    if (!sl_blob_id_valid(src->file_id))
        return SL_EINVAL;
    int fd = openat(w->s->blob_fd, src->file_id, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SL_ENOTFOUND : fail_io(w, "open source blob");
    int rc;
    if (w->fd < 0 && w->size + src->size <= SL_BLOB_INLINE_MAX) {
        rc = copy_rw(w, fd, src->size);
    } else {
        rc = w->fd < 0 ? spill(w) : 0;
        if (!rc)
            rc = copy_kernel(w, fd, src->size);
    }
    close(fd);
    return rc;
}

int sl_blob_copy(struct sl_store *s, const struct sl_blob *src, struct sl_blob *out)
{
    memset(out, 0, sizeof *out);
    if (!s || !src)
        return SL_EINVAL;
    struct sl_blob_writer *w;
    int rc = sl_blob_writer_new(s, &w);
    if (rc)
        return rc;
    rc = sl_blob_writer_append_blob(w, src);
    if (rc) {
        sl_blob_writer_abort(w);
        return rc;
    }
    return sl_blob_writer_finish(w, out);
}

void sl_blob_discard(struct sl_store *s, struct sl_blob *b)
{
    if (!s || !b || !b->file_id || !sl_blob_id_valid(b->file_id))
        return;
    if (unlinkat(s->blob_fd, b->file_id, 0) != 0 && errno != ENOENT)
        sl_warn(SL_STORE_LOG, "discard blob %s: %s", b->file_id, strerror(errno));
}

int sl_blob_open(struct sl_store *s, const struct sl_blob *b, int *fd)
{
    *fd = -1;
    if (!s || !b)
        return SL_EINVAL;
    if (!b->file_id)
        return b->size > 0 && !b->inline_data ? SL_EINVAL : 0;
    if (!sl_blob_id_valid(b->file_id))
        return SL_EINVAL;
    int f = openat(s->blob_fd, b->file_id, O_RDONLY | O_CLOEXEC);
    if (f < 0) {
        if (errno == ENOENT)
            return SL_ENOTFOUND;
        sl_warn(SL_STORE_LOG, "open blob %s: %s", b->file_id, strerror(errno));
        return SL_EIO;
    }
    *fd = f;
    return 0;
}
