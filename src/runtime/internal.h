/*
 * What the runtime's files share (not part of its interface, runtime.h
 * and sandbox.h).
 */
#ifndef SL_RUNTIME_INTERNAL_H
#define SL_RUNTIME_INTERNAL_H

#include <linux/filter.h>
#include <sys/resource.h>

#include "runtime/sandbox.h"

#define NOBODY 65534

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

/* ---- cgroups (cgroups.c) ---------------------------------------------------- */

/* The v1 controllers environments get, by index. */
extern const char *const sl_cgroup_controllers[SL_SANDBOX_CGROUPS];

/* The cgroup of this process (proc: /proc/self/cgroup) or thread
 * (/proc/thread-self/cgroup) for a v1 controller: 0, or -1. These speak
 * as system calls do: -1, with errno where one failed. */
int sl_cgroup_own(const char *proc, const char *controller, char *out, size_t n);
/* Writes value to a cgroup file: 0 or -1 (errno). */
int sl_cgroup_write(const char *path, const char *value);
/* Whether environments get cgroup v2 (checked once). */
bool sl_cgroup_v2(void);
/* The directory of group's (a data directory's) cgroups under controller
 * i, made when create: 0, or -1 where the controller is not to be had. */
int sl_cgroup_group_dir(int i, const char *group, bool create, char *out, size_t n);
/* A v1 memory cgroup's limit (and its swap's): 0, or -1. */
int sl_cgroup_limit_memory_v1(const char *dir, unsigned memory_mb);
/* Makes sb's cgroups for spec and sets their limits; how many of the
 * controllers were set up. */
int sl_cgroups_create(struct sl_sandbox *sb, const struct sl_sandbox_spec *spec);

/* ---- the filter (seccomp.c) ------------------------------------------------- */

/* The seccomp program, built on first use: {0, NULL} when libseccomp
 * cannot build it. */
const struct sock_fprog *sl_sandbox_seccomp(void);

/* ---- the clone (clone.c) ---------------------------------------------------- */

/* Clones the child that runs p, sharing this process's memory until its
 * exec: its pid (and *pidfd), or -1. */
long sl_clone_shared(struct plan *p, unsigned long flags, int *pidfd);
/* Clones the child of p as a copy, straight into the cgroup cgfd (clone3
 * with CLONE_INTO_CGROUP: cgroup v2): its pid (and *pidfd), or -1. */
long sl_clone_into_cgroup(struct plan *p, unsigned long flags, int cgfd, int *pidfd);

/* ---- the spawner (spawner.c) ------------------------------------------------ */

/* Clones the child of p from the spawner thread, born in the cgroups made
 * for it: false when the spawner cannot (the caller clones it itself). */
bool sl_spawner_spawn(struct sl_spawner *sp, struct sl_sandbox *sb, struct plan *p,
                      unsigned long flags, unsigned memory_mb, long *pid, int *pidfd);
/* Waits until the spawner has moved on to its next cgroups. */
void sl_spawner_wait_moved(struct sl_spawner *sp);

#endif
