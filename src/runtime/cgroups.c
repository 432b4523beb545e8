/*
 * The cgroups of execution environments: v2 where Sluice's cgroup can
 * hand the memory, cpu and pids controllers to children (the environments
 * then live under a sibling of Sluice's own), else v1 where those
 * controllers are mounted. Memory = MemorySize, a CPU quota proportional
 * to memory as on AWS (1,769 MB is one core), 1,024 pids; the peak memory
 * and OOM kills read back for REPORT and Runtime.OutOfMemory; the groups a
 * killed server left behind swept at the next start.
 */
#include "runtime/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define CPU_PERIOD_US 100000
#define MB_PER_CORE 1769

/* ---- cgroups (v1) ------------------------------------------------------- */

/* The cgroup of this process (proc: /proc/self/cgroup) or thread
 * (/proc/thread-self/cgroup) for a v1 controller, e.g. "/process_api/x". */
int sl_cgroup_own(const char *proc, const char *controller, char *out, size_t n)
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

int sl_cgroup_write(const char *path, const char *value)
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

const char *const sl_cgroup_controllers[SL_SANDBOX_CGROUPS] = {"memory", "cpu", "pids"};

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
            found = strcmp(t, sl_cgroup_controllers[i]) == 0;
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
        sl_cgroup_write(path, "+memory +cpu +pids");
    }
}

bool sl_cgroup_v2(void)
{
    pthread_once(&v2.once, v2_init);
    return v2.on;
}

/* The directory of group's cgroups under controller i (created when
 * create): 0, or -1 where the controller is not to be had. With cgroup v2
 * all three are one directory, i == 0's: a sibling of Sluice's own cgroup
 * (which holds processes, so under v2's rules it cannot pass controllers
 * to children) with the controllers enabled for its children. */
int sl_cgroup_group_dir(int i, const char *group, bool create, char *out, size_t n)
{
    if (sl_cgroup_v2()) {
        if (i != 0 || (size_t)snprintf(out, n, "%s/sluice-%s", v2.parent, group) >= n)
            return -1;
        if (create && mkdir(out, 0755) == 0) { /* new: its children get the controllers */
            char path[900];
            snprintf(path, sizeof(path), "%s/cgroup.subtree_control", out);
            if (sl_cgroup_write(path, "+memory +cpu +pids")) {
                rmdir(out);
                return -1;
            }
        } else if (create && errno != EEXIST) {
            return -1;
        }
        return 0;
    }
    char own[512];
    if (sl_cgroup_own("/proc/self/cgroup", sl_cgroup_controllers[i], own, sizeof(own)))
        return -1;
    snprintf(out, n, "/sys/fs/cgroup/%s%s/sluice", sl_cgroup_controllers[i], own);
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
        if (sl_cgroup_group_dir(i, group, false, dir, sizeof(dir)))
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
int sl_cgroup_limit_memory_v1(const char *dir, unsigned memory_mb)
{
    char path[1100], val[64];
    char memsw[1100];
    snprintf(val, sizeof(val), "%llu", (unsigned long long)memory_mb << 20);
    snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", dir);
    snprintf(memsw, sizeof(memsw), "%s/memory.memsw.limit_in_bytes", dir);
    /* Lowering: the limit first; raising: the swap limit first. */
    int rc = sl_cgroup_write(path, val);
    sl_cgroup_write(memsw, val);
    if (rc)
        rc = sl_cgroup_write(path, val);
    return rc;
}

/* Creates the environment's cgroup under each controller and sets its
 * limits (with cgroup v1 and no memory_mb, all but memory's). Returns how
 * many controllers were set up. */
int sl_cgroups_create(struct sl_sandbox *sb, const struct sl_sandbox_spec *spec)
{
    int ok = 0;
    sb->v2 = sl_cgroup_v2();
    if (sb->v2) {
        for (int i = 0; i < SL_SANDBOX_CGROUPS; i++)
            sb->cgroup[i][0] = '\0';
        char parent[800], path[1100], val[64];
        if (sl_cgroup_group_dir(0, spec->group, true, parent, sizeof(parent)))
            return 0;
        snprintf(sb->cgroup[0], sizeof(sb->cgroup[0]), "%s/%s", parent, spec->name);
        if (mkdir(sb->cgroup[0], 0755) && errno != EEXIST) {
            sb->cgroup[0][0] = '\0';
            return 0;
        }
        snprintf(path, sizeof(path), "%s/memory.max", sb->cgroup[0]);
        snprintf(val, sizeof(val), "%llu", (unsigned long long)spec->memory_mb << 20);
        int rc = sl_cgroup_write(path, val);
        snprintf(path, sizeof(path), "%s/memory.swap.max", sb->cgroup[0]);
        sl_cgroup_write(path, "0"); /* where the kernel accounts swap */
        snprintf(path, sizeof(path), "%s/pids.max", sb->cgroup[0]);
        rc |= sl_cgroup_write(path, "1024");
        /* The quota comes with sl_sandbox_limit_cpu(), after init. */
        snprintf(path, sizeof(path), "%s/cpu.max", sb->cgroup[0]);
        snprintf(val, sizeof(val), "max %d", CPU_PERIOD_US);
        rc |= sl_cgroup_write(path, val);
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
        if (sl_cgroup_group_dir(i, spec->group, true, parent, sizeof(parent)))
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
                rc = sl_cgroup_limit_memory_v1(sb->cgroup[i], spec->memory_mb);
            snprintf(path, sizeof(path), "%s/memory.swappiness", sb->cgroup[i]);
            sl_cgroup_write(path, "0");
        } else if (i == 1) {
            /* The quota comes with sl_sandbox_limit_cpu(), after init. */
            snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", sb->cgroup[i]);
            snprintf(val, sizeof(val), "%d", CPU_PERIOD_US);
            rc = sl_cgroup_write(path, val);
        } else {
            snprintf(path, sizeof(path), "%s/pids.max", sb->cgroup[i]);
            rc = sl_cgroup_write(path, "1024");
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
    if (sl_cgroup_write(path, val))
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
    /* Without a memory cgroup: the runtime process's own peak (sluice-init's
     * child, when it is in front). */
    char path[64], line[256];
    int pid = (int)sb->pid;
    if (sb->init) {
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
        FILE *c = fopen(path, "r");
        int child = 0;
        if (c && fscanf(c, "%d", &child) == 1 && child > 0)
            pid = child;
        if (c)
            fclose(c);
    }
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
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
