/*
 * The template of environments' roots. Building a root in each child (a
 * tmpfs, a score of bind mounts and their read-only remounts, overlays,
 * pivot_root and the unmount of the old root, which waits for an RCU grace
 * period) costs near a millisecond of every cold start. All roots share
 * the same skeleton, so it is built once, as the root of a mount namespace
 * of its own that no process lives in (its descriptor keeps it): the
 * template. A child enters it (setns), takes a copy of it (unshare), and
 * attaches what is its own, made ready by Sluice as detached mounts: the
 * overlays of its code and of Sluice's bootstraps, its user's passwd and
 * group files, its /tmp. Tens of microseconds.
 *
 * - Overlays are made once per directory and kept (the last CACHED): each
 *   environment attaches a clone of one (open_tree), which also keeps the
 *   overlay's cache of lookups warm from one environment to the next. Code
 *   directories are named by their content (lambda/code/<sha256>); one is
 *   checked by its inode at each use, in case it was removed and made
 *   again (Sluice never removes one).
 * - The passwd and group files of each user are files of a detached tmpfs
 *   (<uid>.passwd, <uid>.group), bound read-only over the template's, and
 *   removed when that user's environment ends: the environment's mount
 *   table shows these names, never a host path.
 * - The files bound into the template (/etc/resolv.conf, /etc/hosts, ...)
 *   are checked at each use: when one has changed on the host (replaced by
 *   a rename, as resolvers do), the template is built again.
 * - A probe at start-up enters the template as an environment would
 *   (cloning a detached mount needs a recent kernel): where it cannot,
 *   there is no template and each environment builds its root.
 */
#include "runtime/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CACHED 64 /* overlays kept */

/* A file bound into the template, as it was then. */
struct stamp {
    char path[sizeof(((struct plan *)0)->mounts[0].src)];
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
};

struct overlay {
    char dir[1024];
    dev_t dev;
    ino_t ino;
    int fd; /* the detached overlay; -1: a free slot */
    uint64_t used;
};

struct sl_roots {
    pthread_mutex_t mu;
    char dir[1024];   /* root/: where the builder mounts the skeleton; empty/ */
    char empty[1100]; /* the overlays' second layer (an overlay without an upper needs two) */
    int ns_fd;        /* the template's mount namespace */
    struct stamp stamps[32];
    int nstamps;
    int files_fd; /* the users' files: a detached tmpfs */
    struct overlay ovls[CACHED];
    uint64_t tick;
};

/* Builds the template: r->ns_fd and r->stamps, 0; or -1. */
static int build(struct sl_roots *r)
{
    struct plan *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    snprintf(p->root, sizeof(p->root), "%s/root", r->dir);
    snprintf(p->old, sizeof(p->old), "%s/.old", p->root);
    if (mkdir(p->root, 0755) && errno != EEXIST) {
        free(p);
        return -1;
    }
    sl_plan_skeleton(p);
    static const struct {
        const char *path;
        bool dir;
    } points[] = {{"/var/task", true}, {"/var/runtime", true}, {"/tmp", true},
                  {"/proc", true},     {"/etc/passwd", false}, {"/etc/group", false}};
    for (size_t i = 0; i < SL_ARRAY_LEN(points); i++) {
        snprintf(p->points[i].path, sizeof(p->points[i].path), "%s%s", p->root, points[i].path);
        p->points[i].dir = points[i].dir;
    }
    p->npoints = (int)SL_ARRAY_LEN(points);
    /* (Kept only with the template they describe.) */
    struct stamp stamps[SL_ARRAY_LEN(r->stamps)];
    int nstamps = 0;
    for (int i = 0; i < p->nmounts && nstamps < (int)SL_ARRAY_LEN(stamps); i++) {
        struct stat st;
        if (p->mounts[i].dir || strncmp(p->mounts[i].src, "/dev/", 5) == 0 ||
            stat(p->mounts[i].src, &st))
            continue; /* (device nodes are not replaced) */
        struct stamp *s = &stamps[nstamps++];
        snprintf(s->path, sizeof(s->path), "%s", p->mounts[i].src);
        s->dev = st.st_dev;
        s->ino = st.st_ino;
        s->mtime = st.st_mtim;
    }
    p->template = true;
    p->ns_out = -1;
    p->tmpl_fd = -1;
    p->err_fd = STDERR_FILENO; /* (where the builder tells what failed) */
    int pidfd = -1;
    long pid = sl_clone_shared(p, CLONE_NEWNS | CLONE_FILES, &pidfd);
    int status = 0;
    while (pid > 0 && waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {
    }
    int fd = p->ns_out;
    bool ok = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && fd >= 0;
    free(p);
    if (!ok) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (r->ns_fd >= 0)
        close(r->ns_fd);
    r->ns_fd = fd;
    memcpy(r->stamps, stamps, sizeof(stamps));
    r->nstamps = nstamps;
    return 0;
}

/* A file bound into the template that has changed since, or NULL. */
static const char *stale(const struct sl_roots *r)
{
    for (int i = 0; i < r->nstamps; i++) {
        const struct stamp *s = &r->stamps[i];
        struct stat st;
        if (stat(s->path, &st) || st.st_dev != s->dev || st.st_ino != s->ino ||
            st.st_mtim.tv_sec != s->mtime.tv_sec || st.st_mtim.tv_nsec != s->mtime.tv_nsec)
            return s->path;
    }
    return NULL;
}

/* A detached read-only overlay of dir (its layers named by descriptor: no
 * escaping of the path), or -1. */
static int make_overlay(const struct sl_roots *r, const char *dir)
{
    int lower = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int empty = open(r->empty, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fs = fsopen("overlay", FSOPEN_CLOEXEC), mnt = -1;
    char opts[96];
    snprintf(opts, sizeof(opts), "/proc/self/fd/%d:/proc/self/fd/%d", lower, empty);
    if (lower >= 0 && empty >= 0 && fs >= 0 &&
        fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", opts, 0) == 0 &&
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        mnt = fsmount(fs, FSMOUNT_CLOEXEC,
                      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    int e = errno;
    if (fs >= 0)
        close(fs);
    if (lower >= 0)
        close(lower);
    if (empty >= 0)
        close(empty);
    errno = e;
    return mnt;
}

/* A clone of the detached mount fd (path under it, "" for itself), or -1. */
static int clone_mount(int fd, const char *path)
{
    return open_tree(fd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (*path ? 0 : AT_EMPTY_PATH));
}

/* A detached overlay of dir for one environment: a clone of the one kept,
 * made first where none is. -1 on failure. */
static int overlay_for(struct sl_roots *r, const char *dir)
{
    struct stat st;
    if (stat(dir, &st))
        return -1;
    struct overlay *slot = NULL;
    for (int i = 0; i < CACHED; i++) {
        struct overlay *o = &r->ovls[i];
        if (o->fd >= 0 && strcmp(o->dir, dir) == 0) {
            if (o->dev == st.st_dev && o->ino == st.st_ino) {
                o->used = ++r->tick;
                return clone_mount(o->fd, "");
            }
            close(o->fd); /* made again */
            o->fd = -1;
        }
        if (!slot || (slot->fd >= 0 && (o->fd < 0 || o->used < slot->used)))
            slot = o;
    }
    int mnt = make_overlay(r, dir);
    int fd = mnt >= 0 ? clone_mount(mnt, "") : -1;
    if (fd < 0) {
        if (mnt >= 0)
            close(mnt);
        return -1;
    }
    if (slot->fd >= 0)
        close(slot->fd);
    snprintf(slot->dir, sizeof(slot->dir), "%s", dir);
    slot->dev = st.st_dev;
    slot->ino = st.st_ino;
    slot->fd = mnt;
    slot->used = ++r->tick;
    return fd;
}

/* The read-only bind of the user's file kind (passwd, group) holding
 * text, made first where it is not: a detached mount, or -1. The text of
 * a user's file never changes, so one made is kept as it is. */
static int user_file(struct sl_roots *r, uid_t uid, const char *kind, const char *text,
                     size_t len)
{
    char name[48];
    snprintf(name, sizeof(name), "%lu.%s", (unsigned long)uid, kind);
    int fd = openat(r->files_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
        bool ok = write(fd, text, len) == (ssize_t)len;
        close(fd);
        if (!ok) {
            unlinkat(r->files_fd, name, 0);
            return -1;
        }
    } else if (errno != EEXIST) {
        return -1;
    }
    int mnt = clone_mount(r->files_fd, name);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                          MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
    if (mnt >= 0 && mount_setattr(mnt, "", AT_EMPTY_PATH, &attr, sizeof(attr))) {
        close(mnt);
        return -1;
    }
    return mnt;
}

static void attach(struct plan *p, int fd, const char *path, bool owned)
{
    p->attach[p->nattach++] = (struct attach){.fd = fd, .path = path, .owned = owned};
}

int sl_roots_plan(struct sl_roots *r, struct plan *p, const struct sl_sandbox_spec *spec,
                  const char *tmp)
{
    pthread_mutex_lock(&r->mu);
    const char *changed = stale(r);
    if (changed) {
        char what[sizeof(r->stamps[0].path)];
        snprintf(what, sizeof(what), "%s", changed); /* (build() rewrites the stamps) */
        if (build(r)) {
            /* Each environment builds its root, with the file as it is now,
             * until the template can be built again. */
            pthread_mutex_unlock(&r->mu);
            sl_warn("sandbox", "cannot build the template of roots again (%s changed)", what);
            return -1;
        }
        sl_info("sandbox", "built the template of roots again: %s changed", what);
    }
    p->tmpl_fd = fcntl(r->ns_fd, F_DUPFD_CLOEXEC, 3);
    attach(p, overlay_for(r, spec->code_dir), "/var/task", true);
    attach(p, overlay_for(r, spec->runtimes_dir), "/var/runtime", true);
    attach(p, user_file(r, spec->uid, "passwd", p->passwd.text, p->passwd.len), "/etc/passwd",
           true);
    attach(p, user_file(r, spec->uid, "group", p->group.text, p->group.len), "/etc/group", true);
    pthread_mutex_unlock(&r->mu);
    if (spec->tmp_fd >= 0) {
        attach(p, spec->tmp_fd, "/tmp", false);
    } else {
        /* A directory of Sluice's disk (no filesystem of its own to be had). */
        int fd = clone_mount(AT_FDCWD, tmp);
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
        if (fd >= 0 && mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr))) {
            close(fd);
            fd = -1;
        }
        attach(p, fd, "/tmp", true);
    }
    bool ok = p->tmpl_fd >= 0;
    for (int i = 0; i < p->nattach; i++)
        ok = ok && p->attach[i].fd >= 0;
    if (!ok) {
        sl_roots_done(p);
        return -1;
    }
    return 0;
}

void sl_roots_done(struct plan *p)
{
    for (int i = 0; i < p->nattach; i++)
        if (p->attach[i].owned && p->attach[i].fd >= 0)
            close(p->attach[i].fd);
    p->nattach = 0;
    if (p->tmpl_fd >= 0)
        close(p->tmpl_fd);
    p->tmpl_fd = -1;
}

void sl_roots_forget(struct sl_roots *r, uid_t uid)
{
    if (!r)
        return;
    const char *kinds[] = {"passwd", "group"};
    for (size_t i = 0; i < SL_ARRAY_LEN(kinds); i++) {
        char name[48];
        snprintf(name, sizeof(name), "%lu.%s", (unsigned long)uid, kinds[i]);
        unlinkat(r->files_fd, name, 0);
    }
}

/* Whether an environment can enter the template: a child that attaches a
 * clone of a kept overlay and a user's file to a copy of it, as each
 * environment's does (the kernel's new mount API, overlayfs, clones of
 * detached mounts, setns and its privileges). */
static bool probe(struct sl_roots *r)
{
    /* (An overlay of a directory of its own: layers may not overlap.) */
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/probe", r->dir);
    struct plan *p = mkdir(dir, 0555) == 0 || errno == EEXIST ? calloc(1, sizeof(*p)) : NULL;
    if (!p)
        return false;
    p->probe = true;
    p->err_fd = -1;
    p->tmpl_fd = fcntl(r->ns_fd, F_DUPFD_CLOEXEC, 3);
    attach(p, overlay_for(r, dir), "/var/task", true);
    attach(p, user_file(r, 0, "probe", "probe\n", 6), "/etc/passwd", true);
    bool ok = p->tmpl_fd >= 0 && p->attach[0].fd >= 0 && p->attach[1].fd >= 0;
    int pidfd = -1, status = 0;
    /* (Its own UTS namespace: it names its host, as environments do.) */
    long pid = ok ? sl_clone_shared(p, CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS, &pidfd) : -1;
    while (pid > 0 && waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {
    }
    ok = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    sl_roots_done(p);
    unlinkat(r->files_fd, "0.probe", 0);
    free(p);
    return ok;
}

struct sl_roots *sl_roots_new(const char *dir)
{
    struct sl_roots *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->ns_fd = r->files_fd = -1;
    for (int i = 0; i < CACHED; i++)
        r->ovls[i].fd = -1;
    snprintf(r->dir, sizeof(r->dir), "%s", dir);
    snprintf(r->empty, sizeof(r->empty), "%s/empty", dir);
    int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
    if (fs >= 0 && fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) == 0 &&
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        r->files_fd = fsmount(fs, FSMOUNT_CLOEXEC,
                              MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (fs >= 0)
        close(fs);
    if ((mkdir(dir, 0711) && errno != EEXIST) || (mkdir(r->empty, 0555) && errno != EEXIST) ||
        r->files_fd < 0 || build(r) || !probe(r)) {
        sl_roots_free(r);
        return NULL;
    }
    return r;
}

void sl_roots_free(struct sl_roots *r)
{
    if (!r)
        return;
    for (int i = 0; i < CACHED; i++)
        if (r->ovls[i].fd >= 0)
            close(r->ovls[i].fd);
    if (r->ns_fd >= 0)
        close(r->ns_fd);
    if (r->files_fd >= 0)
        close(r->files_fd);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
