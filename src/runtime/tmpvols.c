/*
 * The /tmp of each environment: a filesystem of its own, EphemeralStorage
 * in size, so that a write past it fails with ENOSPC inside the function
 * and the host's disk never holds more than that for it. Each is an ext4
 * filesystem (no journal: it is scratch) in a sparse image file on a loop
 * device, mounted detached (fsmount: in no mount namespace, held by a
 * descriptor), which the environment's child attaches at /tmp in its own
 * namespace (move_mount). Its image is unlinked as soon as the loop device
 * holds it, and the loop device lets go once the filesystem is unmounted
 * (autoclear), which happens when the environment's mount namespace has
 * ended and Sluice's descriptor is closed: nothing is left to clean up,
 * even when Sluice is killed, and no mount of Sluice's own namespace
 * changes. Sluice keeps that descriptor while the environment lives and
 * this thread closes it afterwards: unmounting costs about a millisecond
 * of the kernel's work (the filesystem, the loop device), which the
 * environment's exit would otherwise do in the middle of the next cold
 * start. The
 * environment sees a filesystem whose root is /tmp (no host path in its
 * mount table) and that starts empty.
 *
 * Making one costs about 2 ms (a copy of a formatted template's few
 * blocks, the loop device, the mount), too much for a cold start: a thread
 * at low priority keeps a few ready for the sizes asked for lately (the
 * last of them made between cold starts, not during one). The
 * first of a size (its template: mke2fs) and any asked for while none is
 * ready are made on the asking thread.
 */
#include "runtime/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STOCK 3 /* ready per size */
#define SIZES 4 /* sizes kept ready: the last asked for */
#define DROPS_HELD 16 /* given back and not closed while others start, at most */

extern char **environ;

struct sl_tmpvols {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t template_mu; /* one mke2fs at a time */
    bool quit;
    char dir[1024];
    char mke2fs[64];
    uint64_t ids;
    struct size_stock {
        unsigned mb;        /* 0: unused */
        uint64_t used;      /* when last asked for, in asks */
        int n;
        int fd[STOCK];      /* detached mounts, ready */
        bool failed;        /* the last making failed: again when next asked */
    } sizes[SIZES];
    uint64_t asks;
    unsigned starting; /* environments taken one and not started yet */
    int *drops;        /* given back, to close (and so unmount) */
    size_t ndrops, cap_drops;
};

/* Runs argv (its program's path first) with stdout and stderr on
 * /dev/null: whether it exited 0. */
static bool ran(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int status = 0;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc == 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    return rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Formats the template of size mb (once): 0, or -1. */
static int make_template(struct sl_tmpvols *v, unsigned mb, const char *path)
{
    if (access(path, R_OK) == 0)
        return 0;
    char part[1200], size[24];
    snprintf(part, sizeof(part), "%s.part", path);
    snprintf(size, sizeof(size), "%uM", mb);
    int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)mb << 20)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    /* No journal (scratch), no room to grow, inode tables left unwritten:
     * the template holds a few hundred kilobytes. */
    char *argv[] = {v->mke2fs, "-q", "-F", "-t", "ext4", "-O", "^has_journal,^resize_inode",
                    "-E", "lazy_itable_init=1,nodiscard,root_owner=0:0", "-m", "0",
                    part, size, NULL};
    /* Without lost+found: /tmp starts empty, as AWS's does. */
    char debugfs[80];
    snprintf(debugfs, sizeof(debugfs), "%.*sdebugfs", (int)(strrchr(v->mke2fs, '/') + 1 - v->mke2fs),
             v->mke2fs);
    char *dargv[] = {debugfs, "-w", "-R", "rmdir lost+found", part, NULL};
    if (!ran(argv) || !ran(dargv) || rename(part, path)) {
        unlink(part);
        return -1;
    }
    return 0;
}

/* Copies the blocks of template that hold data into a sparse file of its
 * size: the descriptor of the copy, or -1. */
static int copy_template(const char *template, const char *path)
{
    int in = open(template, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    struct stat st;
    int ok = out >= 0 && fstat(in, &st) == 0 && ftruncate(out, st.st_size) == 0;
    char buf[16384];
    for (off_t pos = 0; ok;) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            break; /* ENXIO: no data past pos */
        off_t hole = lseek(in, data, SEEK_HOLE);
        for (off_t o = data; ok && o < hole;) {
            size_t n = (size_t)(hole - o) < sizeof(buf) ? (size_t)(hole - o) : sizeof(buf);
            ssize_t r = pread(in, buf, n, o);
            ok = r > 0 && pwrite(out, buf, (size_t)r, o) == r;
            o += r > 0 ? r : 0;
        }
        pos = hole;
    }
    close(in);
    if (!ok) {
        if (out >= 0) {
            close(out);
            unlink(path);
        }
        return -1;
    }
    return out;
}

/* The image on a free loop device, which lets it go with its last user
 * (autoclear): the device's descriptor, or -1. */
static int attach_loop(int image, char *dev, size_t n)
{
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return -1;
    for (int tries = 0; tries < 8; tries++) {
        int k = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (k < 0)
            break;
        snprintf(dev, n, "/dev/loop%d", k);
        int fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            break;
        struct loop_config lc = {.fd = (uint32_t)image,
                                 .info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO};
        if (ioctl(fd, LOOP_CONFIGURE, &lc) == 0) {
            close(ctl);
            return fd;
        }
        int e = errno;
        close(fd);
        if (e != EBUSY) /* (EBUSY: another process took it first) */
            break;
    }
    close(ctl);
    return -1;
}

/* Makes a /tmp of mb: a detached mount of it (a descriptor), or -1.
 * Called without v->mu. */
static int make_one(struct sl_tmpvols *v, unsigned mb)
{
    char template[1100], image[1200], dev[32];
    snprintf(template, sizeof(template), "%s/template-%u.img", v->dir, mb);
    pthread_mutex_lock(&v->template_mu);
    int t = make_template(v, mb, template);
    pthread_mutex_unlock(&v->template_mu);
    if (t)
        return -1;
    uint64_t id = __atomic_add_fetch(&v->ids, 1, __ATOMIC_RELAXED);
    snprintf(image, sizeof(image), "%s/%llu.img", v->dir, (unsigned long long)id);
    int img = copy_template(template, image);
    if (img < 0)
        return -1;
    int loop = attach_loop(img, dev, sizeof(dev));
    close(img);
    unlink(image); /* the loop device holds it; its blocks go with it */
    if (loop < 0)
        return -1;
    /* noinit_itable: the inode tables stay unwritten (the template's are
     * not initialised and need not be). nobarrier: no cache flushes, which
     * the loop device turns into fsyncs of the image on Sluice's disk
     * (at mount and unmount): scratch needs no durability. */
    int fs = fsopen("ext4", FSOPEN_CLOEXEC), mnt = -1;
    if (fs >= 0 && fsconfig(fs, FSCONFIG_SET_STRING, "source", dev, 0) == 0 &&
        fsconfig(fs, FSCONFIG_SET_FLAG, "noinit_itable", NULL, 0) == 0 &&
        fsconfig(fs, FSCONFIG_SET_FLAG, "nobarrier", NULL, 0) == 0 &&
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (fs >= 0)
        close(fs);
    close(loop); /* the filesystem holds the device now */
    return mnt;
}

/* The stock of size mb, made when create (replacing the least recently
 * asked for); NULL when not kept. */
static struct size_stock *stock_of(struct sl_tmpvols *v, unsigned mb, bool create)
{
    struct size_stock *oldest = &v->sizes[0];
    for (int i = 0; i < SIZES; i++) {
        if (v->sizes[i].mb == mb)
            return &v->sizes[i];
        if (v->sizes[i].used < oldest->used)
            oldest = &v->sizes[i];
    }
    if (!create)
        return NULL;
    /* Another size displaces it: its ready ones go. */
    for (int i = 0; i < oldest->n; i++)
        close(oldest->fd[i]);
    oldest->mb = mb;
    oldest->n = 0;
    oldest->failed = false;
    return oldest;
}

static void *maker_main(void *arg)
{
    struct sl_tmpvols *v = arg;
    /* Its work is off every call's path: below the loop and the callers. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_mutex_lock(&v->mu);
    while (!v->quit) {
        /* Unmounting one (closing its last descriptor) waits until no
         * environment is starting: its kernel work (the filesystem, the
         * loop device) would hold the cold start up by a millisecond; but
         * not for ever (each holds a loop device and its disk space) when
         * environments never stop starting. Making the last of a size's
         * stock waits so too (its kernel work is not lowered by this
         * thread's priority); the first two do not wait: they must keep up
         * with environments that start all the time. */
        struct size_stock *s = NULL;
        for (int i = 0; i < SIZES && !s; i++)
            if (v->sizes[i].mb && v->sizes[i].n < STOCK && !v->sizes[i].failed &&
                (v->sizes[i].n < STOCK - 1 || !v->starting))
                s = &v->sizes[i];
        bool drop = v->ndrops && (!v->starting || v->ndrops > DROPS_HELD);
        if (!s && !drop) {
            pthread_cond_wait(&v->cv, &v->mu);
            continue;
        }
        if (drop) {
            int fd = v->drops[--v->ndrops];
            pthread_mutex_unlock(&v->mu);
            close(fd);
            pthread_mutex_lock(&v->mu);
            continue;
        }
        unsigned mb = s->mb;
        pthread_mutex_unlock(&v->mu);
        int fd = make_one(v, mb);
        pthread_mutex_lock(&v->mu);
        if (fd < 0) {
            /* Not now (out of loop devices, of disk): when next asked. */
            if (s->mb == mb)
                s->failed = true;
            continue;
        }
        if (s->mb == mb && s->n < STOCK)
            s->fd[s->n++] = fd;
        else
            close(fd);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

struct sl_tmpvols *sl_tmpvols_new(const char *dir)
{
    static const char *const mkfs[] = {"/usr/sbin/mke2fs", "/sbin/mke2fs"};
    const char *tool = NULL;
    for (size_t i = 0; i < SL_ARRAY_LEN(mkfs) && !tool; i++)
        if (access(mkfs[i], X_OK) == 0)
            tool = mkfs[i];
    if (!tool || access("/dev/loop-control", R_OK | W_OK) != 0 || strlen(dir) >= 1000 ||
        (mkdir(dir, 0700) && errno != EEXIST))
        return NULL;
    struct sl_tmpvols *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    snprintf(v->dir, sizeof(v->dir), "%s", dir);
    snprintf(v->mke2fs, sizeof(v->mke2fs), "%s", tool);
    pthread_mutex_init(&v->mu, NULL);
    pthread_mutex_init(&v->template_mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    /* One made here tells whether this machine can (loop devices, the
     * ext4 driver, the right to mount), and readies the default size. */
    int fd = make_one(v, 512);
    if (fd < 0 || pthread_create(&v->thread, NULL, maker_main, v)) {
        if (fd >= 0)
            close(fd);
        pthread_mutex_destroy(&v->mu);
        pthread_mutex_destroy(&v->template_mu);
        pthread_cond_destroy(&v->cv);
        free(v);
        return NULL;
    }
    pthread_setname_np(v->thread, "sl-tmpvols");
    pthread_mutex_lock(&v->mu);
    struct size_stock *s = stock_of(v, 512, true);
    s->fd[s->n++] = fd;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    return v;
}

/* Size mb is asked for (under v->mu): its stock, the most recently asked
 * for, made again if its last making failed; the thread is woken to fill
 * it. */
static struct size_stock *ask(struct sl_tmpvols *v, unsigned mb)
{
    struct size_stock *s = stock_of(v, mb, true);
    s->used = ++v->asks;
    s->failed = false;
    pthread_cond_signal(&v->cv);
    return s;
}

int sl_tmpvols_take(struct sl_tmpvols *v, unsigned mb, uid_t uid)
{
    pthread_mutex_lock(&v->mu);
    struct size_stock *s = ask(v, mb);
    int fd = s->n > 0 ? s->fd[--s->n] : -1;
    v->starting++;
    pthread_mutex_unlock(&v->mu);
    if (fd < 0)
        fd = make_one(v, mb); /* none ready: the slow way */
    if (fd < 0) {
        sl_tmpvols_started(v);
        return -1;
    }
    /* Its root, the environment's user's alone. */
    int root = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = root >= 0 && fchown(root, uid, uid) == 0 && fchmod(root, 0700) == 0;
    if (root >= 0)
        close(root);
    if (!ok) {
        close(fd);
        sl_tmpvols_started(v);
        return -1;
    }
    return fd;
}

void sl_tmpvols_prepare(struct sl_tmpvols *v, unsigned mb)
{
    pthread_mutex_lock(&v->mu);
    ask(v, mb);
    pthread_mutex_unlock(&v->mu);
}

void sl_tmpvols_drop(struct sl_tmpvols *v, int fd)
{
    pthread_mutex_lock(&v->mu);
    if (v->ndrops == v->cap_drops) {
        size_t cap = v->cap_drops ? 2 * v->cap_drops : 16;
        int *d = realloc(v->drops, cap * sizeof(*d));
        if (d) {
            v->drops = d;
            v->cap_drops = cap;
        }
    }
    bool queued = v->ndrops < v->cap_drops;
    if (queued) {
        v->drops[v->ndrops++] = fd;
        pthread_cond_signal(&v->cv);
    }
    pthread_mutex_unlock(&v->mu);
    if (!queued) /* (out of memory: here, then) */
        close(fd);
}

void sl_tmpvols_started(struct sl_tmpvols *v)
{
    pthread_mutex_lock(&v->mu);
    if (v->starting && --v->starting == 0)
        pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

void sl_tmpvols_free(struct sl_tmpvols *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&v->mu);
    v->quit = true;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    pthread_join(v->thread, NULL);
    for (size_t i = 0; i < v->ndrops; i++)
        close(v->drops[i]);
    free(v->drops);
    for (int i = 0; i < SIZES; i++)
        for (int k = 0; k < v->sizes[i].n; k++)
            close(v->sizes[i].fd[k]);
    pthread_mutex_destroy(&v->mu);
    pthread_mutex_destroy(&v->template_mu);
    pthread_cond_destroy(&v->cv);
    free(v);
}
