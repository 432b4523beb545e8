/*
 * The clone of an execution environment: everything the child needs is
 * prepared before (struct plan: its mounts, its user, its limits, the
 * seccomp filter); between clone and exec the child only makes system
 * calls and allocates nothing. It shares the parent's memory until the
 * exec, as posix_spawn's child does (CLONE_VM | CLONE_VFORK), except
 * where cgroup v2 clones it straight into its cgroup (CLONE_INTO_CGROUP,
 * which needs clone3: then it is a copy).
 */
#include "runtime/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define CHILD_STACK (128 * 1024) /* the child's, between clone and exec */
#define SL_NO_ASAN __attribute__((no_sanitize_address))

/* Makes the directories of path below its first skip bytes (the root,
 * which exists), in place: path is the plan's, writable. */
SL_NO_ASAN static void make_parents(char *path, size_t skip)
{
    for (char *q = path + skip + 1; *q; q++) {
        if (*q == '/') {
            *q = '\0';
            mkdir(path, 0755);
            *q = '/';
        }
    }
}

/* Mounts the read-only overlay o (its layers o->src and empty, opened
 * here, in the child's own mount namespace, at the descriptors its options
 * name): 0, or -1. */
SL_NO_ASAN static int mount_overlay(const struct ovl *o, const char *empty)
{
    const char *layers[] = {o->src, empty};
    for (int k = 0; k < 2; k++) {
        int fd = open(layers[k], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        if (fd != o->fd + k && (dup3(fd, o->fd + k, O_CLOEXEC) < 0 || close(fd)))
            return -1;
    }
    int rc = mount("overlay", o->dst, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, o->opts);
    close(o->fd);
    close(o->fd + 1);
    return rc;
}

/* In a new mount namespace, its mounts made private, mounts the skeleton
 * of a root at p->root: a small tmpfs, the read-only binds of the host's
 * system directories and files, the top symlinks. 0, or a step number. */
SL_NO_ASAN static int mount_skeleton(struct plan *p)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
        return 2;
    if (mount("tmpfs", p->root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"))
        return 3;
    for (int i = 0; i < p->nmounts; i++) {
        struct mnt *m = &p->mounts[i];
        /* The mount point: a directory or an empty file. */
        make_parents(m->dst, strlen(p->root));
        if (m->dir) {
            mkdir(m->dst, 0755);
        } else {
            int fd = open(m->dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0)
                close(fd);
        }
        if (mount(m->src, m->dst, NULL, MS_BIND | MS_REC, NULL))
            return 10 + i;
        unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (m->ro ? MS_RDONLY : 0);
        /* Device nodes are bound as they are; everything else gets nodev. */
        if (strncmp(m->src, "/dev/", 5) != 0)
            flags |= MS_NODEV;
        if (mount(NULL, m->dst, NULL, flags, NULL))
            return 50 + i;
    }
    for (int i = 0; i < p->nlinks; i++)
        if (symlink(p->links[i].target, p->links[i].path))
            return 90 + i;
    return 0;
}

/* Makes p->root the root of this mount namespace, read-only, and drops
 * the old one. 0, or a step number. */
SL_NO_ASAN static int pivot(struct plan *p)
{
    mkdir(p->old, 0700);
    if (syscall(SYS_pivot_root, p->root, p->old))
        return 4;
    if (chdir("/"))
        return 5;
    if (umount2("/.old", MNT_DETACH))
        return 6;
    rmdir("/.old");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL))
        return 8;
    return 0;
}

/* The root built here, in the child's new mount namespace (where there is
 * no template: see roots.c): 0, or a step number. */
SL_NO_ASAN static int build_root(struct plan *p)
{
    int step = mount_skeleton(p);
    if (step)
        return step;
    for (int i = 0; i < p->novls; i++) {
        struct ovl *o = &p->ovls[i];
        make_parents(o->dst, strlen(p->root));
        mkdir(o->dst, 0755);
        if (mount_overlay(o, p->empty) &&
            (mount(o->src, o->dst, NULL, MS_BIND | MS_REC, NULL) ||
             mount(NULL, o->dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                   NULL)))
            return 80 + i;
    }
    /* Its own /tmp filesystem, attached into this namespace. */
    if (p->tmp_fd >= 0 && ((mkdir(p->tmp, 0755) && errno != EEXIST) ||
                           move_mount(p->tmp_fd, "", AT_FDCWD, p->tmp, MOVE_MOUNT_F_EMPTY_PATH)))
        return 98;
    struct text_file *files[] = {&p->passwd, &p->group};
    for (int i = 0; i < 2; i++) {
        make_parents(files[i]->path, strlen(p->root));
        int fd = open(files[i]->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        bool ok = fd >= 0 && write(fd, files[i]->text, files[i]->len) == (ssize_t)files[i]->len;
        if (fd >= 0)
            close(fd);
        if (!ok)
            return 95 + i;
    }
    mkdir(p->proc, 0555);
    step = pivot(p);
    if (step)
        return step;
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
        return 7;
    sethostname("sandbox", 7);
    return 0;
}

/* The root from the template (roots.c): a copy of its mount namespace,
 * this environment's own mounts attached to it. Tens of microseconds,
 * where building one is near a millisecond. 0, or a step number. */
SL_NO_ASAN static int enter_template(struct plan *p)
{
    if (setns(p->tmpl_fd, CLONE_NEWNS))
        return 100;
    if (unshare(CLONE_NEWNS))
        return 101;
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
        return 7;
    for (int i = 0; i < p->nattach; i++)
        if (move_mount(p->attach[i].fd, "", AT_FDCWD, p->attach[i].path, MOVE_MOUNT_F_EMPTY_PATH))
            return 102 + i;
    sethostname("sandbox", 7);
    return 0;
}

/* The template's builder (roots.c), in a new mount namespace: the
 * skeleton, with mount points for what each environment attaches, made
 * the root; p->ns_out gets the namespace. 0, or a step number. */
SL_NO_ASAN static int build_template(struct plan *p)
{
    int step = mount_skeleton(p);
    if (step)
        return step;
    for (int i = 0; i < p->npoints; i++) {
        struct point *m = &p->points[i];
        make_parents(m->path, strlen(p->root));
        if (m->dir) {
            if (mkdir(m->path, 0755) && errno != EEXIST)
                return 110 + i;
            continue;
        }
        int fd = open(m->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return 110 + i;
        close(fd);
    }
    p->ns_out = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC); /* (shared descriptors) */
    if (p->ns_out < 0)
        return 109;
    return pivot(p);
}

/* Writes prefix and n (>= 0) into out, a string (room for 20 digits). */
SL_NO_ASAN static void put_number(char *out, const char *prefix, long n)
{
    while (*prefix)
        *out++ = *prefix++;
    char digits[24];
    int k = 0;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    while (k > 0)
        *out++ = digits[--k];
    *out = '\0';
}

SL_NO_ASAN static void say(const char *s)
{
    if (write(2, s, strlen(s)) < 0) {
        /* nothing more to do */
    }
}

/* The runtime, cloned by PID 1 before it becomes sluice-init: its exec,
 * with what PID 1 set up, but not init's status descriptor. */
SL_NO_ASAN static int runtime_main(void *arg)
{
    struct plan *p = arg;
    if (p->status_fd >= 0)
        close(p->status_to);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* (without a PID namespace) */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(p->argv[0], (char *const *)p->argv, p->envp);
    int e = errno;
    say("sluice-init: cannot run ");
    say(p->argv[0]);
    say("\n");
    _exit(e == ENOENT ? 127 : 126);
}

/*
 * Child side: returns only on failure (a step number for the log). Not
 * instrumented by ASan: sharing the parent's memory, the child must not
 * poison the shadow of a stack that the parent then unmaps, nor report on
 * it as a thread's.
 */
SL_NO_ASAN static int child_setup(struct plan *p)
{
    /* Into its cgroups first, so that they count all it does. "0" is the
     * writer itself, whatever its PID namespace calls it. The migration
     * waits for an RCU grace period: milliseconds. */
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++) {
        if (!p->procs[i][0])
            continue;
        int fd = open(p->procs[i], O_WRONLY | O_CLOEXEC);
        p->placed[i] = fd >= 0 && write(fd, "0", 1) == 1;
        if (fd >= 0)
            close(fd);
    }
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Handlers of the parent would run on its memory: the defaults. Signals
     * stay blocked (as the parent blocked them) until the exec. */
    for (int s = 1; s < NSIG; s++) {
        struct sigaction sa;
        if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
            sa.sa_handler != SIG_IGN) {
            sa.sa_handler = SIG_DFL;
            sa.sa_flags = 0;
            sigaction(s, &sa, NULL);
        }
    }
    signal(SIGPIPE, SIG_DFL);
    int step = p->tmpl_fd >= 0 ? enter_template(p) : p->ns ? build_root(p) : 0;
    if (step)
        return step;
    /* sluice-init's status descriptor, kept across its exec (it makes it
     * CLOEXEC for the runtime); before the environment's lower limit on
     * descriptors, which its number may be above. */
    if (p->init_fd >= 0 && p->status_fd >= 0 && dup2(p->status_fd, p->status_to) < 0)
        return 15;
    setrlimit(RLIMIT_DATA, &p->data);
    setrlimit(RLIMIT_FSIZE, &p->fsize);
    setrlimit(RLIMIT_NOFILE, &p->nofile);
    /* The environment's own unprivileged user, where the root was built:
     * without it the code stays in Sluice's private data directory, which
     * that user cannot read. */
    /* Raw system calls: glibc's setuid() & co. signal every thread of the
     * process, and this child of a multi-threaded parent has only one. */
    if (p->ns && (syscall(SYS_setgroups, 0, NULL) ||
                  syscall(SYS_setresgid, p->uid, p->uid, p->uid) ||
                  syscall(SYS_setresuid, p->uid, p->uid, p->uid)))
        return 9;
    /* A change of credentials clears the parent-death signal: set it again. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* After the user change: RLIMIT_NPROC counts that user's processes.
     * Isolated, the user is this environment's own, so the count is its
     * alone (as the pids controller's, where one holds it too). Without
     * isolation the user is Sluice's: where the pids controller holds the
     * environment, that count would only let other processes of Sluice's
     * user stop its forks, so the limit it inherited stays. */
    int cg = p->pids_cg;
    if (p->ns || cg < 0 || cg >= SL_SANDBOX_CGROUPS || (p->procs[cg][0] && !p->placed[cg]))
        setrlimit(RLIMIT_NPROC, &p->nproc);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        return 11;
    if (p->seccomp.len && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p->seccomp))
        return 12;
    dup2(p->null_fd, 0);
    dup2(p->out_fd, 1);
    dup2(p->err_fd, 2);
    if (chdir(p->workdir))
        return 13;
    /* With sluice-init: the runtime first, its child, then this process
     * becomes sluice-init, which adopts it; so the runtime starts without
     * waiting for init's exec. Signals stay blocked here until then: a
     * SIGCHLD of a runtime that ends at once stays pending for init. */
    if (p->init_fd >= 0) {
        if (!p->ns) /* (not PID 1: what the runtime leaves comes here) */
            prctl(PR_SET_CHILD_SUBREAPER, 1);
        long pid = clone(runtime_main, p->runtime_stack + sizeof(p->runtime_stack),
                         CLONE_VM | CLONE_VFORK | SIGCHLD, p);
        if (pid < 0)
            return 120;
        put_number(p->runtime_arg, "--runtime-pid=", pid);
        syscall(SYS_execveat, p->init_fd, "", (char *const *)p->init_argv, p->envp,
                AT_EMPTY_PATH);
        return 14;
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(p->argv[0], (char *const *)p->argv, p->envp);
    return 14;
}

/* The child's whole life: setup and the exec, or a word on where setup
 * failed and an exit. */
SL_NO_ASAN static int child_main(void *arg)
{
    struct plan *p = arg;
    int step = p->template ? build_template(p) : p->probe ? enter_template(p) : child_setup(p);
    if (step == 0)
        _exit(0); /* (the template's builder: done) */
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "sluice sandbox: setup failed at step %d (errno %d)\n", step,
                     errno);
    if (write(p->err_fd, msg, (size_t)n) < 0) {
        /* nothing more to do */
    }
    _exit(125);
}

/* Clones child_main(p) sharing this process's memory, on a stack of its
 * own, and returns once it has exec'd or died: its PID, or -1. */
long sl_clone_shared(struct plan *p, unsigned long flags, int *pidfd)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = CHILD_STACK + page;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
    if (stack == MAP_FAILED)
        return -1;
    mprotect(stack, page, PROT_NONE); /* a guard below it */
    /* No handler of this process may run in the child: it would run on
     * this memory. The child unblocks them after resetting its handlers. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    long pid = clone(child_main, stack + size, (int)(flags | CLONE_VM | CLONE_VFORK | SIGCHLD), p,
                     pidfd);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, size);
    errno = e;
    return pid;
}

long sl_clone_into_cgroup(struct plan *p, unsigned long flags, int cgfd, int *pidfd)
{
    struct clone_args ca = {
        .flags = CLONE_PIDFD | CLONE_INTO_CGROUP | flags,
        .pidfd = (uint64_t)(uintptr_t)pidfd,
        .exit_signal = SIGCHLD,
        .cgroup = (uint64_t)cgfd,
    };
    /* Signals blocked in the child as in sl_clone_shared()'s, until its
     * exec (a SIGCHLD of a runtime that ends at once stays pending). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0)
        child_main(p);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return pid;
}
