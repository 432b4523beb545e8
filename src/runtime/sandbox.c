/*
 * The sandbox of an execution environment. The runtime process is cloned
 * into new mount, PID, IPC and UTS namespaces (it is PID 1 of its own), is
 * placed in cgroups (v1 memory, cpu and pids here; memory = MemorySize, a
 * CPU quota proportional to memory as on AWS: 1,769 MB is one core), gets
 * a minimal root: read-only binds of /usr and the library directories, a
 * few /etc files, the code read-only at /var/task, Sluice's bootstraps at
 * /var/runtime, its own /proc, passwd and group files and a few /dev
 * nodes, and a writable /tmp of its own (a copy of the template of roots,
 * or built by pivot_root where there is none); then it drops to its own
 * unprivileged user, sets
 * resource limits, and loads a seccomp filter against what functions never
 * need. Sluice's data directory is never mounted.
 *
 * Everything the child needs is prepared before the clone: between clone
 * and exec the child makes system calls (and allocates nothing). It shares
 * the parent's memory until the exec, as posix_spawn's child does, except
 * where cgroup v2 clones it straight into its cgroup (then it is a copy);
 * with cgroup v1 it is cloned by a spawner thread waiting in its cgroups
 * (see "the spawner"). When the
 * kernel refuses a piece (no namespaces, no cgroups), the environment
 * still runs, under rlimits, and sl_sandbox.missing says what it lacks.
 *
 * This file plans an environment's root and limits and starts it; below
 * it, cgroups.c (the cgroups), seccomp.c (the filter), clone.c (the clone
 * and the child's side), spawner.c (the v1 spawner thread) and roots.c
 * (the template of roots).
 */
#include "runtime/internal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
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

/* System paths bound read-only into the root (skipped when absent). */
static const char *const ro_dirs[] = {"/usr", "/etc/ssl", "/etc/ca-certificates",
                                      "/etc/alternatives"};
static const char *const top_links[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64"};
static const char *const ro_files[] = {"/etc/hosts",
                                       "/etc/resolv.conf",   "/etc/nsswitch.conf",
                                       "/etc/ld.so.cache",   "/etc/localtime", "/etc/host.conf",
                                       "/etc/mime.types"};
static const char *const dev_nodes[] = {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"};

static void plan_mount(struct plan *p, const char *src, const char *dst_rel, bool dir, bool ro)
{
    if (p->nmounts == (int)SL_ARRAY_LEN(p->mounts))
        return;
    struct mnt *m = &p->mounts[p->nmounts++];
    snprintf(m->src, sizeof(m->src), "%s", src);
    snprintf(m->dst, sizeof(m->dst), "%s%s", p->root, dst_rel);
    m->dir = dir;
    m->ro = ro;
}

/* A read-only overlay of src (and an empty layer: an overlay without an
 * upper layer needs two) at dst_rel, its layers named /proc/self/fd/N (the
 * child opens them in its own mount namespace: a layer must be there); a
 * bind mount where it cannot be (the child falls back to one too). */
static void plan_overlay(struct plan *p, const char *src, const char *dst_rel, bool overlays)
{
    if (!overlays || p->novls == (int)SL_ARRAY_LEN(p->ovls)) {
        plan_mount(p, src, dst_rel, true, true);
        return;
    }
    struct ovl *o = &p->ovls[p->novls++]; /* (its descriptors: plan_child_fds()) */
    snprintf(o->src, sizeof(o->src), "%s", src);
    snprintf(o->dst, sizeof(o->dst), "%s%s", p->root, dst_rel);
}

/* The descriptors the child moves things to: its overlays' layers and
 * sluice-init's status descriptor, above every one it keeps, so that none
 * is replaced. */
static void plan_child_fds(struct plan *p)
{
    int fds[] = {p->out_fd, p->err_fd, p->null_fd, p->init_fd, p->tmp_fd, p->status_fd};
    int top = 2;
    for (size_t i = 0; i < SL_ARRAY_LEN(fds); i++)
        if (fds[i] > top)
            top = fds[i];
    for (int k = 0; k < p->novls; k++) {
        struct ovl *o = &p->ovls[k];
        o->fd = top + 1 + 2 * k;
        snprintf(o->opts, sizeof(o->opts), "lowerdir=/proc/self/fd/%d:/proc/self/fd/%d", o->fd,
                 o->fd + 1);
    }
    /* sluice-init's status descriptor: above those too, and above the
     * pipe itself (dup2 onto it would leave it CLOEXEC). */
    p->status_to = top + 1 + 2 * p->novls;
    if (p->status_fd >= p->status_to)
        p->status_to = p->status_fd + 1;
    snprintf(p->status_arg, sizeof(p->status_arg), "--status-fd=%d", p->status_to);
}

static int dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void sl_plan_skeleton(struct plan *p)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(ro_dirs); i++)
        if (dir_exists(ro_dirs[i]))
            plan_mount(p, ro_dirs[i], ro_dirs[i], true, true);
    for (size_t i = 0; i < SL_ARRAY_LEN(top_links); i++) {
        char target[256];
        ssize_t n = readlink(top_links[i], target, sizeof(target) - 1);
        if (n > 0 && p->nlinks < (int)SL_ARRAY_LEN(p->links)) {
            target[n] = '\0';
            struct lnk *l = &p->links[p->nlinks++];
            snprintf(l->target, sizeof(l->target), "%s", target);
            snprintf(l->path, sizeof(l->path), "%s%s", p->root, top_links[i]);
        } else if (n < 0 && dir_exists(top_links[i])) {
            plan_mount(p, top_links[i], top_links[i], true, true);
        }
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(ro_files); i++)
        if (access(ro_files[i], R_OK) == 0)
            plan_mount(p, ro_files[i], ro_files[i], false, true);
    for (size_t i = 0; i < SL_ARRAY_LEN(dev_nodes); i++)
        plan_mount(p, dev_nodes[i], dev_nodes[i], false, false);
}

int sl_sandbox_spawn(struct sl_sandbox *sb, const struct sl_sandbox_spec *spec,
                     const char *const argv[], char *const envp[], int out_fd, int err_fd,
                     struct sl_err *err)
{
    memset(sb, 0, sizeof(*sb));
    sb->pid = -1;
    sb->pidfd = -1;
    sb->peak_fd = -1;
    struct plan *p = calloc(1, sizeof(*p));
    if (!p)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    p->tmpl_fd = p->tmp_fd = -1;
    int rc = 0;

    /* The scratch directory: root/ (mount point of the skeleton) and tmp/
     * (the function's /tmp, on disk, owned by the function's user). */
    char tmp[1100];
    snprintf(p->root, sizeof(p->root), "%s/root", spec->scratch);
    snprintf(tmp, sizeof(tmp), "%s/tmp", spec->scratch);
    if ((mkdir(spec->scratch, 0711) && errno != EEXIST) ||
        (spec->tmp_fd < 0 && ((mkdir(tmp, 0700) && errno != EEXIST) || chown(tmp, spec->uid, spec->uid)))) {
        rc = sl_errf(err, SL_EIO, "scratch directory %s: %s", spec->scratch, strerror(errno));
        goto out;
    }
    snprintf(p->old, sizeof(p->old), "%s/.old", p->root);
    snprintf(p->proc, sizeof(p->proc), "%s/proc", p->root);
    p->ns = spec->isolate;
    p->uid = spec->uid;
    /* Its own user and group files, naming its user as AWS's sandboxes do
     * (the host's would list the host's users). */
    snprintf(p->passwd.path, sizeof(p->passwd.path), "%s/etc/passwd", p->root);
    p->passwd.len = (size_t)snprintf(p->passwd.text, sizeof(p->passwd.text),
                                     "root:x:0:0:root:/root:/sbin/nologin\n"
                                     "sbx_user1051:x:%lu:%lu::/tmp:/sbin/nologin\n"
                                     "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
                                     (unsigned long)spec->uid, (unsigned long)spec->uid);
    snprintf(p->group.path, sizeof(p->group.path), "%s/etc/group", p->root);
    p->group.len = (size_t)snprintf(p->group.text, sizeof(p->group.text),
                                    "root:x:0:\nsbx_user1051:x:%lu:\nnogroup:x:65534:\n",
                                    (unsigned long)spec->uid);
    /* The root: a copy of the template's (roots.c), or else built in the
     * child from the plan. */
    if (!p->ns || !spec->roots || sl_roots_plan(spec->roots, p, spec, tmp)) {
        if (p->ns && mkdir(p->root, 0755) && errno != EEXIST) {
            rc = sl_errf(err, SL_EIO, "scratch directory %s: %s", p->root, strerror(errno));
            goto out;
        }
        sl_plan_skeleton(p);
        /* The code and Sluice's bootstraps: read-only overlays whose layers are
         * named by descriptor, so that the environment's mount table shows no
         * host path (a bind mount shows its directory's path on its disk). */
        snprintf(p->empty, sizeof(p->empty), "%s/empty", spec->scratch);
        bool overlays = p->ns && (mkdir(p->empty, 0555) == 0 || errno == EEXIST);
        plan_overlay(p, spec->code_dir, "/var/task", overlays);
        plan_overlay(p, spec->runtimes_dir, "/var/runtime", overlays);
        p->tmp_fd = p->ns ? spec->tmp_fd : -1;
        snprintf(p->tmp, sizeof(p->tmp), "%s/tmp", p->root);
        if (p->tmp_fd < 0)
            plan_mount(p, tmp, "/tmp", true, false);
    }
    if (p->ns && spec->tmp_fd < 0)
        sl_strlcat(sb->missing, "a /tmp of its own size ", sizeof(sb->missing));
    /* Limits that hold even without cgroups. */
    rlim_t mem = (rlim_t)spec->memory_mb << 20;
    p->data = (struct rlimit){mem * 4, mem * 4}; /* heap and mappings; V8 reserves more */
    p->fsize = (struct rlimit){(rlim_t)spec->ephemeral_mb << 20, (rlim_t)spec->ephemeral_mb << 20};
    p->nproc = (struct rlimit){1024, 1024};
    p->nofile = (struct rlimit){1024, 1024};
    p->seccomp = *sl_sandbox_seccomp();
    if (!p->seccomp.len)
        sl_strlcat(sb->missing, "seccomp ", sizeof(sb->missing));

    p->out_fd = out_fd;
    p->err_fd = err_fd;
    p->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    p->argv = argv;
    p->init_fd = -1;
    p->status_fd = -1;
    if (spec->init_fd >= 0) {
        size_t a = 0;
        p->init_argv[a++] = "sluice-init";
        p->status_fd = spec->status_fd;
        if (p->status_fd >= 0)
            p->init_argv[a++] = p->status_arg; /* (written with status_to) */
        p->init_argv[a++] = p->runtime_arg;    /* (written by the child) */
        p->init_argv[a] = NULL;
        p->init_fd = spec->init_fd;
        sb->init = true;
    }
    p->envp = envp;
    p->workdir = p->ns ? "/var/task" : spec->code_dir;
    plan_child_fds(p);

    /* (From the template, the child enters a copy of its mount namespace
     * instead of copying Sluice's.) */
    unsigned long ns = p->ns ? CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS : 0;
    if (p->ns && p->tmpl_fd < 0)
        ns |= CLONE_NEWNS;
    int pidfd = -1;
    long pid = -1;
    sb->v2 = sl_cgroup_v2();
    bool spawned = spec->spawner && !sb->v2 &&
                   sl_spawner_spawn(spec->spawner, sb, p, CLONE_PIDFD | ns, spec->memory_mb, &pid,
                                 &pidfd);
    if (!spawned)
        sl_cgroups_create(sb, spec);
    /* With cgroup v2 the child is cloned straight into its cgroup (no
     * migration, which waits for an RCU grace period). That needs clone3,
     * for which glibc has no wrapper running a function on a new stack: the
     * child gets a copy of the parent's memory. */
    if (!spawned) /* (v2: one directory for all; v1: pids is the third) */
        p->pids_cg = sb->v2 ? (sb->cgroup[0][0] ? 0 : -1) : (sb->cgroup[2][0] ? 2 : -1);
    int cgfd = !spawned && sb->v2 && sb->cgroup[0][0]
                   ? open(sb->cgroup[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                   : -1;
    if (cgfd >= 0) {
        pid = sl_clone_into_cgroup(p, (unsigned long)ns, cgfd, &pidfd);
        close(cgfd);
    }
    /* Otherwise (cgroup v1, none, or a kernel before 5.7) the child shares
     * the parent's memory, as posix_spawn's does: no copy of Sluice's page
     * tables to make and to tear down at the exec, which with a 15 MB
     * server costs more than a millisecond. This thread waits until the
     * exec; the child moves itself into its cgroups. */
    if (!spawned && pid < 0) {
        for (int i = 0; i < (sb->v2 ? 1 : SL_SANDBOX_CGROUPS); i++)
            if (sb->cgroup[i][0])
                snprintf(p->procs[i], sizeof(p->procs[i]), "%s/cgroup.procs", sb->cgroup[i]);
        pid = sl_clone_shared(p, CLONE_PIDFD | ns, &pidfd);
    }
    /* Namespaces refused now although the start-up probe had them (a
     * limit reached): fail rather than run the function unconfined. */
    if (pid < 0) {
        rc = sl_errf(err, SL_EIO, "clone: %s", strerror(errno));
        goto out;
    }
    sb->pid = (pid_t)pid;
    sb->pidfd = pidfd;
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++) {
        if (!p->procs[i][0] || p->placed[i])
            continue;
        sl_warn("sandbox", "cannot place pid %d in %s", (int)pid, sb->cgroup[i]);
        rmdir(sb->cgroup[i]);
        sb->cgroup[i][0] = '\0';
        if (sb->v2)
            sb->cgroup[1][0] = '\0'; /* the same directory */
    }
    if (!sb->cgroup[0][0] || !sb->cgroup[1][0] || !(sb->v2 || sb->cgroup[2][0]))
        sl_strlcat(sb->missing, "cgroups ", sizeof(sb->missing));
    if (sb->cgroup[0][0]) {
        char path[1100];
        /* memory.peak: kernels from 5.19; without it, the process's peak. */
        snprintf(path, sizeof(path), "%s/%s", sb->cgroup[0],
                 sb->v2 ? "memory.peak" : "memory.max_usage_in_bytes");
        sb->peak_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
out:
    sl_roots_done(p);
    if (p->null_fd > 0)
        close(p->null_fd);
    free(p);
    if (sb->missing[0])
        sb->missing[strlen(sb->missing) - 1] = '\0';
    return rc;
}

/* The probe's child: can it make its mounts private (1 if not), and take
 * the user uid (2 if not: a user namespace that does not map it)? */
static int probe_child(uid_t uid)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
        return 1;
    if (syscall(SYS_setgroups, 0, NULL) || syscall(SYS_setresgid, uid, uid, uid) ||
        syscall(SYS_setresuid, uid, uid, uid))
        return 2;
    return 0;
}

bool sl_sandbox_probe(uid_t uid, bool *uid_ok)
{
    struct clone_args ca = {
        .flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS,
        .exit_signal = SIGCHLD,
    };
    *uid_ok = false;
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0)
        _exit(probe_child(uid));
    if (pid < 0)
        return false;
    int status = 0;
    while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {
    }
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    *uid_ok = rc == 0;
    return rc == 0 || rc == 2;
}

void sl_sandbox_cleanup(struct sl_sandbox *sb, const char *scratch)
{
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++) {
        if (sb->cgroup[i][0]) {
            /* Empty once the process is reaped, unless the spawner that
             * cloned it is still there (an environment that ended within
             * milliseconds): then once the spawner has moved on. */
            if (rmdir(sb->cgroup[i]) && errno == EBUSY && sb->spawner) {
                sl_spawner_wait_moved(sb->spawner);
                rmdir(sb->cgroup[i]);
            }
            sb->cgroup[i][0] = '\0';
        }
    }
    if (sb->pidfd >= 0) {
        close(sb->pidfd);
        sb->pidfd = -1;
    }
    if (sb->peak_fd >= 0) {
        close(sb->peak_fd);
        sb->peak_fd = -1;
    }
    (void)scratch;
}
