/*
 * Function code: checking a deployment package (a zip) and unpacking it,
 * once per distinct package, into <data-dir>/lambda/code/<sha256 hex>/.
 * Every entry is checked before anything is written: no absolute paths,
 * no "..", no links that leave the package, a cap on entries and on the
 * unzipped size (AWS's 250 MB), and the bytes actually inflated are
 * counted against the sizes the zip declares (zip bombs lie).
 */
#include "services/lambda/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#define MAX_ENTRIES 20000

/* Whether a path inside the package stays inside it. */
static bool safe_name(const char *name)
{
    if (!*name || name[0] == '/' || strchr(name, '\\'))
        return false;
    const char *p = name;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

/* Whether a link target, relative to the link's directory, stays inside. */
static bool safe_link(const char *name, const char *target)
{
    if (!*target || target[0] == '/')
        return false;
    int depth = 0;
    for (const char *p = name; *p; p++)
        if (*p == '/')
            depth++;
    const char *p = target;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            depth--;
        else if (n && !(n == 1 && p[0] == '.'))
            depth++;
        if (depth < 0)
            return false;
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}


/* Writes entry i of za to path, reading at most limit bytes. */
static int extract_file(zip_t *za, zip_uint64_t i, const char *path, mode_t mode,
                        uint64_t limit, uint64_t *written, struct sl_err *err)
{
    zip_file_t *zf = zip_fopen_index(za, i, 0);
    if (!zf)
        return sl_errf(err, SL_EINVAL, "cannot read %s from the zip: %s", path,
                       zip_strerror(za));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        zip_fclose(zf);
        return sl_errf(err, SL_EIO, "create %s: %s", path, strerror(errno));
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        zip_int64_t n = zip_fread(zf, buf, sizeof(buf));
        if (n < 0) {
            rc = sl_errf(err, SL_EINVAL, "the zip is corrupt: %s", zip_file_strerror(zf));
            break;
        }
        if (n == 0)
            break;
        *written += (uint64_t)n;
        if (*written > limit) {
            rc = sl_errf(err, SL_ETOOBIG, "unzipped size exceeds %llu bytes",
                         (unsigned long long)SL_LAMBDA_MAX_UNZIPPED);
            break;
        }
        if (write(fd, buf, (size_t)n) != n) {
            rc = sl_errf(err, SL_EIO, "write %s: %s", path, strerror(errno));
            break;
        }
    }
    zip_fclose(zf);
    if (close(fd) && !rc)
        rc = sl_errf(err, SL_EIO, "close %s: %s", path, strerror(errno));
    return rc;
}

/* Reads the target of a symbolic-link entry. */
static int read_link(zip_t *za, zip_uint64_t i, char *out, size_t cap)
{
    zip_file_t *zf = zip_fopen_index(za, i, 0);
    if (!zf)
        return SL_EIO;
    zip_int64_t n = zip_fread(zf, out, cap - 1);
    zip_fclose(zf);
    if (n < 0 || (size_t)n >= cap - 1)
        return SL_EIO;
    out[n] = '\0';
    return 0;
}

/* Extracts every entry of za under dir (which exists and is empty). */
/* Whether any directory on the way to name (inside dir) is a symbolic
 * link: then a link made there, or its target, would resolve elsewhere. */
static bool parent_is_link(const char *dir, const char *name)
{
    char path[4096];
    size_t base = (size_t)snprintf(path, sizeof(path), "%s/", dir);
    for (const char *p = name; *p && base < sizeof(path) - 1; p++) {
        if (*p == '/') {
            path[base] = '\0';
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
                return true;
        }
        path[base++] = *p;
    }
    return false;
}

static int extract_all(zip_t *za, const char *dir, struct sl_err *err)
{
    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n < 0 || n > MAX_ENTRIES)
        return sl_errf(err, SL_EINVAL, "the zip has too many entries (at most %d)",
                       MAX_ENTRIES);
    /* First pass: names and declared sizes. */
    uint64_t declared = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t st;
        if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) || !(st.valid & ZIP_STAT_NAME))
            return sl_errf(err, SL_EINVAL, "the zip is corrupt");
        if (!safe_name(st.name))
            return sl_errf(err, SL_EINVAL, "the zip entry \"%.200s\" points outside the package",
                           st.name);
        if (st.valid & ZIP_STAT_SIZE)
            declared += st.size;
        if (declared > SL_LAMBDA_MAX_UNZIPPED)
            return sl_errf(err, SL_ETOOBIG, "unzipped size exceeds %llu bytes",
                           (unsigned long long)SL_LAMBDA_MAX_UNZIPPED);
    }
    /* Second pass: directories and files; third: links. No link exists
     * while files are written, so no write can pass through one; and a link
     * is made only where no parent is a link. */
    uint64_t written = 0;
    for (int pass = 0; pass < 2; pass++)
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t st;
        zip_stat_index(za, (zip_uint64_t)i, 0, &st);
        char path[4096];
        if (snprintf(path, sizeof(path), "%s/%s", dir, st.name) >= (int)sizeof(path))
            return sl_errf(err, SL_EINVAL, "the zip entry name is too long");
        size_t len = strlen(path);
        bool is_dir = len && path[len - 1] == '/';
        zip_uint8_t opsys = 0;
        zip_uint32_t attr = 0;
        mode_t mode = 0644;
        bool link = false;
        if (zip_file_get_external_attributes(za, (zip_uint64_t)i, 0, &opsys, &attr) == 0 &&
            opsys == ZIP_OPSYS_UNIX) {
            mode_t m = (mode_t)(attr >> 16);
            link = S_ISLNK(m);
            if (m & 0111)
                mode = 0755;
        }
        if (link != (pass == 1))
            continue;
        /* Parent directories, created as needed. */
        char *slash = strrchr(path, '/');
        if (slash && slash != path) {
            *slash = '\0';
            int r = sl_mkdirs(path, 0755);
            *slash = '/';
            if (r)
                return sl_errf(err, SL_EIO, "mkdir for %s: %s", st.name, strerror(errno));
        }
        if (is_dir) {
            path[len - 1] = '\0';
            if (mkdir(path, 0755) && errno != EEXIST)
                return sl_errf(err, SL_EIO, "mkdir %s: %s", st.name, strerror(errno));
            continue;
        }
        if (link) {
            char target[1024];
            if (read_link(za, (zip_uint64_t)i, target, sizeof(target)) ||
                !safe_link(st.name, target) || parent_is_link(dir, st.name))
                return sl_errf(err, SL_EINVAL,
                               "the zip entry \"%.200s\" links outside the package", st.name);
            if (symlink(target, path))
                return sl_errf(err, SL_EIO, "symlink %s: %s", st.name, strerror(errno));
            continue;
        }
        int rc = extract_file(za, (zip_uint64_t)i, path, mode, SL_LAMBDA_MAX_UNZIPPED, &written,
                              err);
        if (rc)
            return rc;
    }
    return 0;
}

int sl_lambda_code_unpack(const char *data_dir, const struct sl_lambda_code *code, char *dir,
                          size_t dir_cap, struct sl_err *err)
{
    char base[2048];
    snprintf(base, sizeof(base), "%s/lambda/code", data_dir);
    if (sl_mkdirs(base, 0700))
        return sl_errf(err, SL_EIO, "mkdir %s: %s", base, strerror(errno));
    snprintf(dir, dir_cap, "%s/%s", base, code->sha_hex);
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0; /* this package is unpacked already */

    static const char empty[] = "Uploaded file must be a non-empty zip";
    if (code->fd < 0 && code->len == 0)
        return sl_errf(err, SL_EINVAL, "%s", empty);
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *src = code->fd >= 0
                            ? zip_source_filep_create(fdopen(dup(code->fd), "rb"), 0, -1, &zerr)
                            : zip_source_buffer_create(code->data, code->len, 0, &zerr);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr) : NULL;
    if (!za) {
        if (src)
            zip_source_free(src);
        zip_error_fini(&zerr);
        return sl_errf(err, SL_EINVAL,
                       "Could not unzip uploaded file. Please check your file, then try to "
                       "upload again.");
    }
    zip_error_fini(&zerr);
    if (zip_get_num_entries(za, 0) <= 0) { /* AWS refuses an archive without files */
        zip_discard(za);
        return sl_errf(err, SL_EINVAL, "%s", empty);
    }
    char tmp[2200];
    uint8_t r[8];
    char rhex[17];
    sl_random(r, sizeof(r));
    sl_hex_encode(r, sizeof(r), rhex);
    snprintf(tmp, sizeof(tmp), "%s/tmp-%s", base, rhex);
    int rc = 0;
    if (mkdir(tmp, 0755))
        rc = sl_errf(err, SL_EIO, "mkdir %s: %s", tmp, strerror(errno));
    if (!rc)
        rc = extract_all(za, tmp, err);
    zip_discard(za);
    if (!rc && rename(tmp, dir) && errno != EEXIST && errno != ENOTEMPTY)
        rc = sl_errf(err, SL_EIO, "rename %s: %s", tmp, strerror(errno));
    sl_rm_tree(tmp); /* gone after a rename; a failure or a lost race leaves it */
    return rc;
}
