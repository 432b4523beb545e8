/*
 * The sandbox of an execution environment. The runtime process is cloned
 * into new mount, PID, IPC and UTS namespaces (it is PID 1 of its own), is
 * placed in cgroups (v1 memory, cpu and pids here; memory = MemorySize, a
 * CPU quota proportional to memory as on AWS: 1,769 MB is one core), gets
 * a minimal root by pivot_root: read-only binds of /usr and the library
 * directories, a few /etc files, the code read-only at /var/task, Sluice's
 * bootstraps at /var/runtime, its own /proc and a few /dev nodes, and a
 * writable /tmp on disk; then it drops to an unprivileged user, sets
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
 */
#include "runtime/sandbox.h"

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

#define NOBODY 65534
#define CPU_PERIOD_US 100000
#define MB_PER_CORE 1769
#define CHILD_STACK (128 * 1024) /* the child's, between clone and exec */
#define SL_NO_ASAN __attribute__((no_sanitize_address))

/* System paths bound read-only into the root (skipped when absent). */
static const char *const ro_dirs[] = {"/usr", "/etc/ssl", "/etc/ca-certificates",
                                      "/etc/alternatives"};
static const char *const top_links[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64"};
static const char *const ro_files[] = {"/etc/passwd",        "/etc/group",     "/etc/hosts",
                                       "/etc/resolv.conf",   "/etc/nsswitch.conf",
                                       "/etc/ld.so.cache",   "/etc/localtime", "/etc/host.conf",
                                       "/etc/mime.types"};
static const char *const dev_nodes[] = {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"};

/* Syscalls functions never need; they fail with EPERM. */
static const int denied_syscalls[] = {
    SCMP_SYS(mount),          SCMP_SYS(umount2),         SCMP_SYS(pivot_root),
    SCMP_SYS(unshare),        SCMP_SYS(setns),           SCMP_SYS(kexec_load),
    SCMP_SYS(kexec_file_load), SCMP_SYS(init_module),    SCMP_SYS(finit_module),
    SCMP_SYS(delete_module),  SCMP_SYS(reboot),          SCMP_SYS(swapon),
    SCMP_SYS(swapoff),        SCMP_SYS(ptrace),          SCMP_SYS(bpf),
    SCMP_SYS(perf_event_open), SCMP_SYS(keyctl),         SCMP_SYS(add_key),
    SCMP_SYS(request_key),    SCMP_SYS(userfaultfd),     SCMP_SYS(open_by_handle_at),
    SCMP_SYS(name_to_handle_at), SCMP_SYS(iopl),         SCMP_SYS(ioperm),
    SCMP_SYS(acct),           SCMP_SYS(quotactl),        SCMP_SYS(settimeofday),
    SCMP_SYS(clock_settime),  SCMP_SYS(syslog),          SCMP_SYS(process_vm_writev),
    SCMP_SYS(fsopen),         SCMP_SYS(fsmount),         SCMP_SYS(move_mount),
    SCMP_SYS(open_tree),      SCMP_SYS(chroot),
};

/* ---- cgroups (v1) ------------------------------------------------------- */

/* The cgroup of this process (proc: /proc/self/cgroup) or thread
 * (/proc/thread-self/cgroup) for a v1 controller, e.g. "/process_api/x". */
static int own_cgroup(const char *proc, const char *controller, char *out, size_t n)
{
    FILE *f = fopen(proc, "r");
    if (!f)
        return -1;
    char line[512];
    int rc = -1;
    while (fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        /* "4:memory:/path" or "2:cpu,cpuacct:/path" */
        char *list = c1 + 1, *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (strcmp(t, controller) == 0) {
                char *path = c2 + 1;
                path[strcspn(path, "\n")] = '\0';
                snprintf(out, n, "%s", strcmp(path, "/") == 0 ? "" : path);
                rc = 0;
            }
        }
    }
    fclose(f);
    return rc;
}

static int write_file(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, value, strlen(value));
    close(fd);
    return n == (ssize_t)strlen(value) ? 0 : -1;
}

static long long read_number(const char *path)
{
    char buf[64] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    return n > 0 ? strtoll(buf, NULL, 10) : -1;
}

static const char *const controllers[SL_SANDBOX_CGROUPS] = {"memory", "cpu", "pids"};

/* ---- cgroup v2 ---- */

int sl_sandbox_v2_parent(const char *mountinfo, const char *proc_cgroup, char *out, size_t n)
{
    char line[1024], mnt[512] = "", root[512] = "/", self[512] = "";
    FILE *f = fopen(mountinfo, "r");
    while (f && !mnt[0] && fgets(line, sizeof(line), f)) {
        /* "36 25 0:31 / /sys/fs/cgroup rw,... - cgroup2 cgroup2 rw": the
         * 4th field is the hierarchy's directory mounted there, the 5th
         * where. */
        char *dash = strstr(line, " - ");
        if (!dash || strncmp(dash + 3, "cgroup2 ", 8) != 0)
            continue;
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 1; tok && i < 5; i++) {
            tok = strtok_r(NULL, " ", &save);
            if (tok && i == 3)
                snprintf(root, sizeof(root), "%s", tok);
        }
        if (tok)
            snprintf(mnt, sizeof(mnt), "%s", tok);
    }
    if (f)
        fclose(f);
    f = fopen(proc_cgroup, "r");
    while (f && !self[0] && fgets(line, sizeof(line), f))
        if (strncmp(line, "0::/", 4) == 0)
            snprintf(self, sizeof(self), "%.*s", (int)strcspn(line + 3, "\n"), line + 3);
    if (f)
        fclose(f);
    if (!mnt[0] || !self[0])
        return -1;
    /* A mount of a subtree (a container's): Sluice's path below it. */
    if (strcmp(root, "/") != 0) {
        size_t rl = strlen(root);
        if (strncmp(self, root, rl) != 0 || (self[rl] != '/' && self[rl] != '\0'))
            return -1;
        memmove(self, self + rl, strlen(self + rl) + 1);
        if (!self[0])
            snprintf(self, sizeof(self), "/");
    }
    /* Sluice's cgroup must have all three controllers, which its parent
     * then gives to a new child too. */
    char path[1100], have[256] = "";
    snprintf(path, sizeof(path), "%s%s/cgroup.controllers", mnt,
             strcmp(self, "/") == 0 ? "" : self);
    f = fopen(path, "r");
    if (!f || !fgets(have, sizeof(have), f)) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++) {
        char *save = NULL, copy[256];
        bool found = false;
        snprintf(copy, sizeof(copy), "%s", have);
        for (char *t = strtok_r(copy, " \n", &save); t && !found; t = strtok_r(NULL, " \n", &save))
            found = strcmp(t, controllers[i]) == 0;
        if (!found)
            return -1;
    }
    char *slash = strrchr(self, '/');
    *slash = '\0'; /* the parent; "" for the root */
    if ((size_t)snprintf(out, n, "%s%s", mnt, self) >= n)
        return -1;
    return 0;
}

/* Whether environments get cgroup v2, and under which directory. */
static struct {
    pthread_once_t once;
    bool on;
    char parent[700]; /* the parent of Sluice's cgroup */
} v2 = {.once = PTHREAD_ONCE_INIT};

static void v2_init(void)
{
    v2.on = sl_sandbox_v2_parent("/proc/self/mountinfo", "/proc/self/cgroup", v2.parent,
                                 sizeof(v2.parent)) == 0;
    /* Sluice's cgroup has the controllers, so its parent gives them to its
     * children already, unless the parent is the hierarchy's root (whose
     * processes are exempt from that rule): enabled there once, harmless
     * where they are. */
    if (v2.on) {
        char path[800];
        snprintf(path, sizeof(path), "%s/cgroup.subtree_control", v2.parent);
        write_file(path, "+memory +cpu +pids");
    }
}

static bool v2_on(void)
{
    pthread_once(&v2.once, v2_init);
    return v2.on;
}

/* The directory of group's cgroups under controller i (created when
 * create): 0, or -1 where the controller is not to be had. With cgroup v2
 * all three are one directory, i == 0's: a sibling of Sluice's own cgroup
 * (which holds processes, so under v2's rules it cannot pass controllers
 * to children) with the controllers enabled for its children. */
static int group_dir(int i, const char *group, bool create, char *out, size_t n)
{
    if (v2_on()) {
        if (i != 0 || (size_t)snprintf(out, n, "%s/sluice-%s", v2.parent, group) >= n)
            return -1;
        if (create && mkdir(out, 0755) == 0) { /* new: its children get the controllers */
            char path[900];
            snprintf(path, sizeof(path), "%s/cgroup.subtree_control", out);
            if (write_file(path, "+memory +cpu +pids")) {
                rmdir(out);
                return -1;
            }
        } else if (create && errno != EEXIST) {
            return -1;
        }
        return 0;
    }
    char own[512];
    if (own_cgroup("/proc/self/cgroup", controllers[i], own, sizeof(own)))
        return -1;
    snprintf(out, n, "/sys/fs/cgroup/%s%s/sluice", controllers[i], own);
    if (create && mkdir(out, 0755) && errno != EEXIST)
        return -1;
    sl_strlcat(out, "/", n);
    if (sl_strlcat(out, group, n) >= n)
        return -1;
    if (create && mkdir(out, 0755) && errno != EEXIST)
        return -1;
    return 0;
}

void sl_sandbox_sweep(const char *group, bool remove_group)
{
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++) {
        char dir[800];
        if (group_dir(i, group, false, dir, sizeof(dir)))
            continue;
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_type != DT_DIR || de->d_name[0] == '.')
                continue;
            char path[1100];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            rmdir(path); /* EBUSY while a process is in it: kept */
        }
        closedir(d);
        if (remove_group)
            rmdir(dir);
    }
}

/* A v1 memory cgroup's limit, without swap beyond it where the kernel
 * accounts swap (the swap limit may not be below the other). */
static int limit_memory_v1(const char *dir, unsigned memory_mb)
{
    char path[1100], val[64];
    char memsw[1100];
    snprintf(val, sizeof(val), "%llu", (unsigned long long)memory_mb << 20);
    snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", dir);
    snprintf(memsw, sizeof(memsw), "%s/memory.memsw.limit_in_bytes", dir);
    /* Lowering: the limit first; raising: the swap limit first. */
    int rc = write_file(path, val);
    write_file(memsw, val);
    if (rc)
        rc = write_file(path, val);
    return rc;
}

/* Creates the environment's cgroup under each controller and sets its
 * limits (with cgroup v1 and no memory_mb, all but memory's). Returns how
 * many controllers were set up. */
static int cgroups_create(struct sl_sandbox *sb, const struct sl_sandbox_spec *spec)
{
    int ok = 0;
    sb->v2 = v2_on();
    if (sb->v2) {
        for (int i = 0; i < SL_SANDBOX_CGROUPS; i++)
            sb->cgroup[i][0] = '\0';
        char parent[800], path[1100], val[64];
        if (group_dir(0, spec->group, true, parent, sizeof(parent)))
            return 0;
        snprintf(sb->cgroup[0], sizeof(sb->cgroup[0]), "%s/%s", parent, spec->name);
        if (mkdir(sb->cgroup[0], 0755) && errno != EEXIST) {
            sb->cgroup[0][0] = '\0';
            return 0;
        }
        snprintf(path, sizeof(path), "%s/memory.max", sb->cgroup[0]);
        snprintf(val, sizeof(val), "%llu", (unsigned long long)spec->memory_mb << 20);
        int rc = write_file(path, val);
        snprintf(path, sizeof(path), "%s/memory.swap.max", sb->cgroup[0]);
        write_file(path, "0"); /* where the kernel accounts swap */
        snprintf(path, sizeof(path), "%s/pids.max", sb->cgroup[0]);
        rc |= write_file(path, "1024");
        /* The quota comes with sl_sandbox_limit_cpu(), after init. */
        snprintf(path, sizeof(path), "%s/cpu.max", sb->cgroup[0]);
        snprintf(val, sizeof(val), "max %d", CPU_PERIOD_US);
        rc |= write_file(path, val);
        if (rc) {
            rmdir(sb->cgroup[0]);
            sb->cgroup[0][0] = '\0';
            return 0;
        }
        /* One directory for all three: the CPU quota is written there too. */
        memcpy(sb->cgroup[1], sb->cgroup[0], sizeof(sb->cgroup[1]));
        return SL_SANDBOX_CGROUPS;
    }
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++) {
        sb->cgroup[i][0] = '\0';
        char parent[800];
        if (group_dir(i, spec->group, true, parent, sizeof(parent)))
            continue;
        snprintf(sb->cgroup[i], sizeof(sb->cgroup[i]), "%s/%s", parent, spec->name);
        if (mkdir(sb->cgroup[i], 0755) && errno != EEXIST) {
            sb->cgroup[i][0] = '\0';
            continue;
        }
        char path[1100], val[64];
        int rc = 0;
        if (i == 0) {
            if (spec->memory_mb)
                rc = limit_memory_v1(sb->cgroup[i], spec->memory_mb);
            snprintf(path, sizeof(path), "%s/memory.swappiness", sb->cgroup[i]);
            write_file(path, "0");
        } else if (i == 1) {
            /* The quota comes with sl_sandbox_limit_cpu(), after init. */
            snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", sb->cgroup[i]);
            snprintf(val, sizeof(val), "%d", CPU_PERIOD_US);
            rc = write_file(path, val);
        } else {
            snprintf(path, sizeof(path), "%s/pids.max", sb->cgroup[i]);
            rc = write_file(path, "1024");
        }
        if (rc) {
            rmdir(sb->cgroup[i]);
            sb->cgroup[i][0] = '\0';
            continue;
        }
        ok++;
    }
    return ok;
}

void sl_sandbox_limit_cpu(struct sl_sandbox *sb, unsigned memory_mb)
{
    if (!sb->cgroup[1][0])
        return;
    unsigned long quota = (unsigned long)CPU_PERIOD_US * memory_mb / MB_PER_CORE;
    if (quota < 1000)
        quota = 1000;
    char path[1100], val[48];
    if (sb->v2) {
        snprintf(path, sizeof(path), "%s/cpu.max", sb->cgroup[1]);
        snprintf(val, sizeof(val), "%lu %d", quota, CPU_PERIOD_US);
    } else {
        snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", sb->cgroup[1]);
        snprintf(val, sizeof(val), "%lu", quota);
    }
    if (write_file(path, val))
        sl_warn("sandbox", "cannot set the CPU quota in %s", sb->cgroup[1]);
}

unsigned sl_sandbox_max_memory_mb(const struct sl_sandbox *sb)
{
    if (sb->peak_fd >= 0) {
        char buf[32];
        ssize_t n = pread(sb->peak_fd, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            long long v = strtoll(buf, NULL, 10);
            return (unsigned)((v + (1 << 20) - 1) >> 20);
        }
    }
    /* Without a memory cgroup: the process's own peak. */
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)sb->pid);
    FILE *f = fopen(path, "r");
    unsigned long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (unsigned)((kb + 1023) / 1024);
}

bool sl_sandbox_oom_killed(const struct sl_sandbox *sb)
{
    if (!sb->cgroup[0][0])
        return false;
    char path[1100], line[128];
    snprintf(path, sizeof(path), "%s/%s", sb->cgroup[0],
             sb->v2 ? "memory.events" : "memory.oom_control");
    FILE *f = fopen(path, "r");
    bool oom = false;
    long long n;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "oom_kill %lld", &n) == 1 && n > 0)
            oom = true;
    if (f)
        fclose(f);
    if (!oom && !sb->v2) {
        snprintf(path, sizeof(path), "%s/memory.failcnt", sb->cgroup[0]);
        long long fail = read_number(path);
        snprintf(path, sizeof(path), "%s/memory.max_usage_in_bytes", sb->cgroup[0]);
        long long max = read_number(path);
        snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", sb->cgroup[0]);
        long long limit = read_number(path);
        oom = fail > 0 && max >= limit;
    }
    return oom;
}

/* ---- the root ------------------------------------------------------------ */

/* What the child does, prepared by the parent. */
struct plan {
    bool ns;          /* set up the root (new mount namespace) */
    char root[1100];  /* the new root: a tmpfs skeleton */
    char old[1200];   /* root/.old, for pivot_root */
    struct mnt {
        char src[1200], dst[1200];
        bool dir, ro;
    } mounts[32];
    int nmounts;
    struct lnk {
        char target[256], path[1200];
    } links[8];
    int nlinks;
    char proc[1200];
    struct sock_fprog seccomp;
    struct rlimit data, fsize, nproc, nofile;
    /* The cgroups the child moves itself into ("" for none: none, or it
     * was born in them, cloned into its cgroup or by the spawner), and
     * whether it could (set by the child, which shares this memory then). */
    char procs[SL_SANDBOX_CGROUPS][1100];
    bool placed[SL_SANDBOX_CGROUPS];
    int out_fd, err_fd, null_fd;
    const char *const *argv;
    char *const *envp;
    const char *workdir;
};

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
    if (p->ns) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
            return 2;
        if (mount("tmpfs", p->root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"))
            return 3;
        for (int i = 0; i < p->nmounts; i++) {
            struct mnt *m = &p->mounts[i];
            /* The mount point: a directory or an empty file. */
            char *slash = m->dst + strlen(p->root);
            for (char *q = slash + 1; *q; q++) {
                if (*q == '/') {
                    *q = '\0';
                    mkdir(m->dst, 0755);
                    *q = '/';
                }
            }
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
        mkdir(p->proc, 0555);
        mkdir(p->old, 0700);
        if (syscall(SYS_pivot_root, p->root, p->old))
            return 4;
        if (chdir("/"))
            return 5;
        if (umount2("/.old", MNT_DETACH))
            return 6;
        rmdir("/.old");
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
            return 7;
        if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL))
            return 8;
        sethostname("sandbox", 7);
    }
    setrlimit(RLIMIT_DATA, &p->data);
    setrlimit(RLIMIT_FSIZE, &p->fsize);
    setrlimit(RLIMIT_NOFILE, &p->nofile);
    /* An unprivileged user, where the root was built: without it the code
     * stays in Sluice's private data directory, which that user cannot
     * read. */
    /* Raw system calls: glibc's setuid() & co. signal every thread of the
     * process, and this child of a multi-threaded parent has only one. */
    if (p->ns && (syscall(SYS_setgroups, 0, NULL) ||
                  syscall(SYS_setresgid, NOBODY, NOBODY, NOBODY) ||
                  syscall(SYS_setresuid, NOBODY, NOBODY, NOBODY)))
        return 9;
    /* A change of credentials clears the parent-death signal: set it again. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* After the user change: RLIMIT_NPROC counts that user's processes. */
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
    int step = child_setup(p);
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "sluice sandbox: setup failed at step %d (errno %d)\n", step,
                     errno);
    if (write(p->err_fd, msg, (size_t)n) < 0) {
        /* nothing more to do */
    }
    _exit(125);
}

/* The seccomp program, built once: {0, NULL} when libseccomp cannot. */
static struct {
    pthread_once_t once;
    struct sock_fprog prog;
} seccomp_prog = {.once = PTHREAD_ONCE_INIT};

static void build_seccomp(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return;
    int rc = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(denied_syscalls) && !rc; i++)
        if (denied_syscalls[i] >= 0)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied_syscalls[i], 0);
    int fd = -1;
    if (!rc)
        fd = memfd_create("seccomp", MFD_CLOEXEC);
    if (fd < 0 || seccomp_export_bpf(ctx, fd)) {
        seccomp_release(ctx);
        if (fd >= 0)
            close(fd);
        return;
    }
    seccomp_release(ctx);
    off_t len = lseek(fd, 0, SEEK_END);
    void *mem = len > 0 ? malloc((size_t)len) : NULL;
    if (!mem || pread(fd, mem, (size_t)len, 0) != len) {
        close(fd);
        free(mem);
        return;
    }
    close(fd);
    seccomp_prog.prog.len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
    seccomp_prog.prog.filter = mem; /* kept for the process's life */
}

/* Clones child_main(p) sharing this process's memory, on a stack of its
 * own, and returns once it has exec'd or died: its PID, or -1. */
static long spawn_shared(struct plan *p, unsigned long flags, int *pidfd)
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

/* ---- the spawner (cgroup v1) --------------------------------------------- */

/*
 * With cgroup v1 a process can be moved into its cgroups only after it is
 * cloned, and the move waits for an RCU grace period: 5 to 80 ms on the
 * development VM, half of a Python cold start or more. But a child is born in the
 * cgroups of the thread that clones it, and v1 moves a thread alone. So a
 * spawner thread waits, between spawns, in cgroups made ahead for the next
 * environment: the child is born in them, and the thread then moves on to
 * the next ones, off the cold start's path. A thread of Sluice in an
 * environment's memory cgroup is charged only for the kernel memory it
 * uses there (its pages belong to the process), and the OOM killer looks
 * at thread group leaders only.
 */
struct sl_spawner {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char group[64];
    /* SP_GONE: the thread has ended (sl_spawner_free), for any waiter. */
    enum { SP_MOVING, SP_READY, SP_UNREADY, SP_JOB, SP_DONE, SP_GONE } state;
    bool quit;
    char next[SL_SANDBOX_CGROUPS][1024]; /* SP_READY: the cgroups it is in */
    bool owned; /* next[] went to an environment: not the spawner's to remove */
    struct plan *job;                    /* SP_JOB */
    unsigned long flags;
    long pid; /* SP_DONE: the result */
    int pidfd, error;
};

/* Writes this thread's ID into the tasks file of dir; 0 or -1. */
static int enter_cgroup(const char *dir)
{
    char path[1100], tid[24];
    if ((size_t)snprintf(path, sizeof(path), "%s/tasks", dir) >= sizeof(path))
        return -1;
    snprintf(tid, sizeof(tid), "%ld", (long)syscall(SYS_gettid));
    return write_file(path, tid);
}

/* The spawner thread's own v1 cgroup under controller i (where it started:
 * Sluice's), as a directory. */
static int home_cgroup(int i, char *out, size_t n)
{
    char own[512];
    if (own_cgroup("/proc/thread-self/cgroup", controllers[i], own, sizeof(own)))
        return -1;
    return (size_t)snprintf(out, n, "/sys/fs/cgroup/%s%s", controllers[i], own) < n ? 0 : -1;
}

/* Into new cgroups for the next environment, their memory not yet limited;
 * where one cannot be made or entered, back home for that controller
 * (away[i]: it is not home). True when it is in at least one of them and
 * nowhere else but home. */
static bool spawner_move(struct sl_spawner *sp, const char home[][800], bool away[])
{
    uint8_t rnd[8];
    char name[20];
    sl_random(rnd, sizeof(rnd));
    sl_hex_encode(rnd, sizeof(rnd), name);
    struct sl_sandbox sb = {0};
    struct sl_sandbox_spec spec = {.group = sp->group, .name = name};
    cgroups_create(&sb, &spec);
    int in = 0;
    bool stray = false;
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++) {
        if (sb.cgroup[i][0] && enter_cgroup(sb.cgroup[i]) == 0) {
            away[i] = true;
            in++;
            continue;
        }
        if (sb.cgroup[i][0]) {
            rmdir(sb.cgroup[i]);
            sb.cgroup[i][0] = '\0';
        }
        if (away[i] && home[i][0] && enter_cgroup(home[i]) == 0)
            away[i] = false;
        stray |= away[i]; /* still in the last environment's */
    }
    /* The cgroups it left, unless an environment has them: a set a failed
     * spawn or limit left behind. */
    for (int i = 0; !sp->owned && i < SL_SANDBOX_CGROUPS; i++)
        if (sp->next[i][0])
            rmdir(sp->next[i]);
    memcpy(sp->next, sb.cgroup, sizeof(sp->next));
    sp->owned = false;
    return in > 0 && !stray;
}

static void *spawner_main(void *arg)
{
    struct sl_spawner *sp = arg;
    char home[SL_SANDBOX_CGROUPS][800];
    bool away[SL_SANDBOX_CGROUPS] = {false};
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++)
        if (home_cgroup(i, home[i], sizeof(home[i])))
            home[i][0] = '\0';
    pthread_mutex_lock(&sp->mu);
    while (!sp->quit || sp->state == SP_JOB) {
        if (sp->state == SP_MOVING) {
            pthread_mutex_unlock(&sp->mu);
            bool ok = spawner_move(sp, (const char(*)[800])home, away);
            pthread_mutex_lock(&sp->mu);
            sp->state = ok ? SP_READY : SP_UNREADY;
            pthread_cond_broadcast(&sp->cv);
        } else if (sp->state == SP_JOB) {
            pthread_mutex_unlock(&sp->mu);
            int pidfd = -1;
            long pid = spawn_shared(sp->job, sp->flags, &pidfd);
            int e = errno;
            pthread_mutex_lock(&sp->mu);
            sp->pid = pid;
            sp->pidfd = pidfd;
            sp->error = e;
            sp->state = SP_DONE;
            pthread_cond_broadcast(&sp->cv);
        } else {
            pthread_cond_wait(&sp->cv, &sp->mu);
        }
    }
    pthread_mutex_unlock(&sp->mu);
    /* Home, so that the cgroups it waited in can go. */
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++)
        if (away[i] && home[i][0])
            enter_cgroup(home[i]);
    for (int i = 0; !sp->owned && i < SL_SANDBOX_CGROUPS; i++)
        if (sp->next[i][0])
            rmdir(sp->next[i]);
    pthread_mutex_lock(&sp->mu);
    sp->state = SP_GONE;
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    return NULL;
}

struct sl_spawner *sl_spawner_new(const char *group)
{
    char dir[800];
    if (v2_on() || group_dir(0, group, false, dir, sizeof(dir)) || strlen(group) >= 64)
        return NULL;
    struct sl_spawner *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return NULL;
    snprintf(sp->group, sizeof(sp->group), "%s", group);
    sp->state = SP_MOVING;
    pthread_mutex_init(&sp->mu, NULL);
    pthread_cond_init(&sp->cv, NULL);
    if (pthread_create(&sp->thread, NULL, spawner_main, sp)) {
        pthread_mutex_destroy(&sp->mu);
        pthread_cond_destroy(&sp->cv);
        free(sp);
        return NULL;
    }
    pthread_setname_np(sp->thread, "sl-spawner"); /* (for top and perf) */
    return sp;
}

void sl_spawner_free(struct sl_spawner *sp)
{
    if (!sp)
        return;
    pthread_mutex_lock(&sp->mu);
    sp->quit = true;
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    pthread_join(sp->thread, NULL);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->cv);
    free(sp);
}

/* Returns once the spawner has left the cgroups it was in. */
static void spawner_wait_moved(struct sl_spawner *sp)
{
    pthread_mutex_lock(&sp->mu);
    while (sp->state == SP_MOVING)
        pthread_cond_wait(&sp->cv, &sp->mu);
    pthread_mutex_unlock(&sp->mu);
}

/* Has the spawner clone p's child in the cgroups it waits in, which sb
 * then owns (their memory limited to memory_mb first). False when it
 * waits in none (the caller spawns it itself); else *pid is the clone's. */
static bool spawner_spawn(struct sl_spawner *sp, struct sl_sandbox *sb, struct plan *p,
                          unsigned long flags, unsigned memory_mb, long *pid, int *pidfd)
{
    pthread_mutex_lock(&sp->mu);
    while (sp->state == SP_MOVING || sp->state == SP_JOB || sp->state == SP_DONE)
        pthread_cond_wait(&sp->cv, &sp->mu);
    if (sp->state != SP_READY) {
        if (sp->state == SP_UNREADY) {
            sp->state = SP_MOVING; /* try again, for the next one */
            pthread_cond_broadcast(&sp->cv);
        }
        pthread_mutex_unlock(&sp->mu);
        return false;
    }
    if (sp->next[0][0] && limit_memory_v1(sp->next[0], memory_mb)) {
        /* The caller makes a set of its own; the spawner a new one. */
        sp->state = SP_MOVING;
        pthread_cond_broadcast(&sp->cv);
        pthread_mutex_unlock(&sp->mu);
        return false;
    }
    sp->job = p;
    sp->flags = flags;
    sp->state = SP_JOB;
    pthread_cond_broadcast(&sp->cv);
    while (sp->state != SP_DONE)
        pthread_cond_wait(&sp->cv, &sp->mu);
    *pid = sp->pid;
    *pidfd = sp->pidfd;
    errno = sp->error;
    if (*pid >= 0) { /* the child has them */
        memcpy(sb->cgroup, sp->next, sizeof(sb->cgroup));
        sb->spawner = sp;
        sp->owned = true;
    }
    sp->state = SP_MOVING; /* to new ones: these are the child's, or limited */
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    return true;
}

static int dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
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
    int rc = 0;

    /* The scratch directory: root/ (mount point of the skeleton) and tmp/
     * (the function's /tmp, on disk, owned by the function's user). */
    char tmp[1100];
    snprintf(p->root, sizeof(p->root), "%s/root", spec->scratch);
    snprintf(tmp, sizeof(tmp), "%s/tmp", spec->scratch);
    if ((mkdir(spec->scratch, 0711) && errno != EEXIST) || (mkdir(p->root, 0755) && errno != EEXIST) ||
        (mkdir(tmp, 0700) && errno != EEXIST) || chown(tmp, NOBODY, NOBODY)) {
        rc = sl_errf(err, SL_EIO, "scratch directory %s: %s", spec->scratch, strerror(errno));
        goto out;
    }
    snprintf(p->old, sizeof(p->old), "%s/.old", p->root);
    snprintf(p->proc, sizeof(p->proc), "%s/proc", p->root);
    p->ns = spec->isolate;
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
    plan_mount(p, spec->code_dir, "/var/task", true, true);
    plan_mount(p, spec->runtimes_dir, "/var/runtime", true, true);
    plan_mount(p, tmp, "/tmp", true, false);

    /* Limits that hold even without cgroups. */
    rlim_t mem = (rlim_t)spec->memory_mb << 20;
    p->data = (struct rlimit){mem * 4, mem * 4}; /* heap and mappings; V8 reserves more */
    p->fsize = (struct rlimit){(rlim_t)spec->ephemeral_mb << 20, (rlim_t)spec->ephemeral_mb << 20};
    p->nproc = (struct rlimit){1024, 1024};
    p->nofile = (struct rlimit){1024, 1024};
    pthread_once(&seccomp_prog.once, build_seccomp);
    p->seccomp = seccomp_prog.prog;
    if (!p->seccomp.len)
        sl_strlcat(sb->missing, "seccomp ", sizeof(sb->missing));

    p->out_fd = out_fd;
    p->err_fd = err_fd;
    p->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    p->argv = argv;
    p->envp = envp;
    p->workdir = p->ns ? "/var/task" : spec->code_dir;

    unsigned long ns = p->ns ? CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS : 0;
    int pidfd = -1;
    long pid = -1;
    sb->v2 = v2_on();
    bool spawned = spec->spawner && !sb->v2 &&
                   spawner_spawn(spec->spawner, sb, p, CLONE_PIDFD | ns, spec->memory_mb, &pid,
                                 &pidfd);
    if (!spawned)
        cgroups_create(sb, spec);
    /* With cgroup v2 the child is cloned straight into its cgroup (no
     * migration, which waits for an RCU grace period). That needs clone3,
     * for which glibc has no wrapper running a function on a new stack: the
     * child gets a copy of the parent's memory. */
    int cgfd = !spawned && sb->v2 && sb->cgroup[0][0]
                   ? open(sb->cgroup[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                   : -1;
    if (cgfd >= 0) {
        struct clone_args ca = {
            .flags = CLONE_PIDFD | CLONE_INTO_CGROUP | ns,
            .pidfd = (uint64_t)(uintptr_t)&pidfd,
            .exit_signal = SIGCHLD,
            .cgroup = (uint64_t)cgfd,
        };
        pid = syscall(SYS_clone3, &ca, sizeof(ca));
        if (pid == 0)
            child_main(p);
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
        pid = spawn_shared(p, CLONE_PIDFD | ns, &pidfd);
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
    if (p->null_fd > 0)
        close(p->null_fd);
    free(p);
    if (sb->missing[0])
        sb->missing[strlen(sb->missing) - 1] = '\0';
    return rc;
}

/* The probe's child: can it make its mounts private? */
static int probe_child(void)
{
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 ? 0 : 1;
}

bool sl_sandbox_probe(void)
{
    struct clone_args ca = {
        .flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS,
        .exit_signal = SIGCHLD,
    };
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0)
        _exit(probe_child());
    if (pid < 0)
        return false;
    int status = 0;
    while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void sl_sandbox_cleanup(struct sl_sandbox *sb, const char *scratch)
{
    for (int i = 0; i < SL_SANDBOX_CGROUPS; i++) {
        if (sb->cgroup[i][0]) {
            /* Empty once the process is reaped, unless the spawner that
             * cloned it is still there (an environment that ended within
             * milliseconds): then once the spawner has moved on. */
            if (rmdir(sb->cgroup[i]) && errno == EBUSY && sb->spawner) {
                spawner_wait_moved(sb->spawner);
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
