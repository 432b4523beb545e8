/*
 * sandbox — starting a runtime process inside its execution environment's
 * isolation: namespaces, a minimal pivot_root root, cgroups, an
 * unprivileged user, rlimits and seccomp (see sandbox.c). Part of the
 * runtime layer; may call core, libseccomp and the kernel.
 */
#ifndef SL_RUNTIME_SANDBOX_H
#define SL_RUNTIME_SANDBOX_H

#include <sys/types.h>

#include "core/core.h"

#define SL_SANDBOX_CGROUPS 3 /* memory, cpu, pids */

struct sl_spawner;
struct sl_tmpvols;

struct sl_sandbox_spec {
    const char *group;        /* this Sluice's cgroups: sluice/<group>/ (sl_sandbox_sweep) */
    struct sl_spawner *spawner; /* group's (sl_spawner_new), or NULL */
    const char *name;         /* unique per environment: cgroup names */
    const char *scratch;      /* this environment's directory (root/, tmp/) */
    const char *code_dir;     /* mounted read-only at /var/task */
    const char *runtimes_dir; /* mounted read-only at /var/runtime */
    unsigned memory_mb, ephemeral_mb;
    /* A filesystem of ephemeral_mb, a detached mount (sl_tmpvols_take),
     * attached at /tmp; -1: a directory of the scratch directory, without
     * a total limit. */
    int tmp_fd;
    bool isolate; /* namespaces and the minimal root; false: rlimits only */
    uid_t uid;    /* the user (and group) it runs as, where isolated: its own */
    /* sluice-init (runtimes/init), opened outside the root: PID 1, which
     * starts argv and reaps the orphans handed to it; -1: argv is PID 1. */
    int init_fd;
    /* Where sluice-init writes the runtime's wait status (a pipe's write
     * end, CLOEXEC), or -1. */
    int status_fd;
    /* The template of roots (sl_roots_new), or NULL: each root is built. */
    struct sl_roots *roots;
};

struct sl_sandbox {
    pid_t pid;  /* in this (the host's) PID namespace */
    int pidfd;  /* readable when the process exits; owned */
    char cgroup[SL_SANDBOX_CGROUPS][1024]; /* "" where not set up */
    char missing[128]; /* the isolation the kernel refused, for the log */
    int peak_fd; /* the memory cgroup's peak usage file, kept open: read
                    after every invoke; -1 when none */
    bool v2;     /* cgroup v2: cgroup[0] (and [1]) is the one directory */
    bool init;   /* pid is sluice-init's: the runtime is its child */
    struct sl_spawner *spawner; /* cloned it, in cgroup[]: it may not have
                                   moved on yet when the process ends */
};

/*
 * Starts argv[0] (a path inside the environment: /var/task/..., /usr/...)
 * with envp, stdout and stderr on out_fd and err_fd. On success sb holds
 * the process; the caller waits for sb->pidfd and then calls
 * sl_sandbox_cleanup().
 */
/*
 * The template of environments' roots: a mount namespace holding the
 * skeleton every root shares (the read-only binds of the host's system
 * directories and files), built once in dir (a directory of its own), and
 * the detached mounts environments attach to their copy of it (overlays of
 * code directories, kept for the next environment; their user's files).
 * An environment enters a copy instead of building its root: tens of
 * microseconds instead of a millisecond. NULL where the kernel cannot (a
 * probe tries it: the new mount API with clones of detached mounts,
 * overlayfs, setns); then each root is built.
 */
struct sl_roots *sl_roots_new(const char *dir);
void sl_roots_free(struct sl_roots *r);
/* The environments of uid have ended: their user's files go. */
void sl_roots_forget(struct sl_roots *r, uid_t uid);

int sl_sandbox_spawn(struct sl_sandbox *sb, const struct sl_sandbox_spec *spec,
                     const char *const argv[], char *const envp[], int out_fd, int err_fd,
                     struct sl_err *err);
/*
 * A thread that clones the environments of group (a runtime's, the one
 * spec.group names) with cgroup v1, where it waits between spawns inside
 * the cgroups of the next environment, made ahead: the child is born in
 * them, instead of being moved into them after its clone, which waits for
 * an RCU grace period (milliseconds, on the cold start's path). NULL where
 * cgroup v1 is not what environments get (v2 clones into a cgroup) or has
 * no memory controller. Its environments are killed when the thread ends
 * (their parent-death signal): free it after every one of them is
 * cleaned up (sl_sandbox_cleanup() may wait for it).
 */
struct sl_spawner *sl_spawner_new(const char *group);
void sl_spawner_free(struct sl_spawner *sp);
/* Whether this kernel lets Sluice create the namespaces and mounts of a
 * sandbox, and (*uid_ok) switch to the user uid, which a user namespace
 * may not map (checked once, by cloning a child that tries). */
bool sl_sandbox_probe(uid_t uid, bool *uid_ok);
/* Sets the CPU quota proportional to memory (1,769 MB = one core). The
 * runtime calls it once init is done: as on AWS, init runs unthrottled. */
void sl_sandbox_limit_cpu(struct sl_sandbox *sb, unsigned memory_mb);
/* Peak memory of the environment, in MB rounded up (one pread when the
 * memory cgroup exists). */
unsigned sl_sandbox_max_memory_mb(const struct sl_sandbox *sb);
/* Whether the memory cgroup killed the environment for want of memory. */
bool sl_sandbox_oom_killed(const struct sl_sandbox *sb);
/*
 * Removes the empty cgroups under sluice/<group>/ of every controller:
 * those a killed Sluice left (a server that stops cleanly leaves none),
 * before the first spawn; with remove_group, sluice/<group>/ itself too,
 * once every environment is gone. group names one data directory, so no
 * other live server has cgroups there.
 */
void sl_sandbox_sweep(const char *group, bool remove_group);
/*
 * Where environments' cgroups go with cgroup v2, given the mount table and
 * Sluice's /proc/self/cgroup: the parent of Sluice's own cgroup (out),
 * when that cgroup has the memory, cpu and pids controllers. -1 when cgroup
 * v2 is not mounted or lacks one of them (then v1 is used, where mounted).
 */
int sl_sandbox_v2_parent(const char *mountinfo, const char *proc_cgroup, char *out, size_t n);
/*
 * The /tmp filesystems of environments (tmpvols.c): each its own, of
 * EphemeralStorage, mounted detached (in no namespace), a few made ahead
 * by a thread; dir holds their templates. NULL where this machine cannot
 * (no loop devices, no mke2fs, no right to mount).
 */
struct sl_tmpvols *sl_tmpvols_new(const char *dir);
/* A new, empty /tmp of mb megabytes owned by uid: a detached mount's
 * descriptor (sl_sandbox_spec.tmp_fd), or -1. Keep it while the
 * environment lives, then give it to sl_tmpvols_drop(). */
int sl_tmpvols_take(struct sl_tmpvols *v, unsigned mb, uid_t uid);
/* Has the thread make some of mb megabytes ahead (its template too), for
 * a function configured with that size. */
void sl_tmpvols_prepare(struct sl_tmpvols *v, unsigned mb);
/* Closes a /tmp's descriptor on the thread, once no environment is
 * starting: the filesystem and its loop device go then. */
void sl_tmpvols_drop(struct sl_tmpvols *v, int fd);
/* The environment that took one has answered its first call (or ended):
 * those dropped are closed only while none is starting. */
void sl_tmpvols_started(struct sl_tmpvols *v);
/* Closes the ready ones and those dropped, and ends the thread. */
void sl_tmpvols_free(struct sl_tmpvols *v);

/* Removes the cgroups (after the process is reaped) and closes the pidfd. */
void sl_sandbox_cleanup(struct sl_sandbox *sb, const char *scratch);

#endif
