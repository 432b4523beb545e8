/* Small string and file-system helpers. */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t sl_strlcpy(char *dst, const char *src, size_t n)
{
    size_t s = strlen(src), copy = s < n - 1 ? s : n - 1;
    memcpy(dst, src, copy);
    dst[copy] = '\0';
    return s;
}

bool sl_str_starts_with(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

bool sl_str_ends_with(const char *s, const char *p)
{
    size_t n = strlen(s), m = strlen(p);
    return n >= m && strcmp(s + n - m, p) == 0;
}

size_t sl_strlcat(char *dst, const char *src, size_t n)
{
    size_t d = strnlen(dst, n), s = strlen(src);
    if (d == n)
        return n + s;
    size_t copy = s < n - d - 1 ? s : n - d - 1;
    memcpy(dst + d, src, copy);
    dst[d + copy] = '\0';
    return d + s;
}

int sl_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st))
        return 0;
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                    continue;
                char *child = NULL;
                if (asprintf(&child, "%s/%s", path, e->d_name) >= 0 && child &&
                    sl_rm_tree(child))
                    rc = -1;
                free(child);
            }
            closedir(d);
        }
        return rmdir(path) ? -1 : rc;
    }
    return unlink(path) ? -1 : 0;
}

int sl_mkdirs(const char *path, unsigned mode)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(buf, (mode_t)mode);
        *p = '/';
        if (r && errno != EEXIST)
            return -1;
    }
    return mkdir(buf, (mode_t)mode) && errno != EEXIST ? -1 : 0;
}
