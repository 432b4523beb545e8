/*
 * The spawner (cgroup v1): moving a process into a v1 cgroup waits for an
 * RCU grace period (5 to 80 ms), but a child is born in the cgroups of the
 * thread that clones it. So a spawner thread waits inside cgroups made
 * ahead for the next environment, clones it there when asked, and moves
 * on to a new set off the cold start's path.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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
    return sl_cgroup_write(path, tid);
}

/* The spawner thread's own v1 cgroup under controller i (where it started:
 * Sluice's), as a directory. */
static int home_cgroup(int i, char *out, size_t n)
{
    char own[512];
    if (sl_cgroup_own("/proc/thread-self/cgroup", sl_cgroup_controllers[i], own, sizeof(own)))
        return -1;
    return (size_t)snprintf(out, n, "/sys/fs/cgroup/%s%s", sl_cgroup_controllers[i], own) < n ? 0 : -1;
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
    sl_cgroups_create(&sb, &spec);
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
            long pid = sl_clone_shared(sp->job, sp->flags, &pidfd);
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
    if (sl_cgroup_v2() || sl_cgroup_group_dir(0, group, false, dir, sizeof(dir)) || strlen(group) >= 64)
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
void sl_spawner_wait_moved(struct sl_spawner *sp)
{
    pthread_mutex_lock(&sp->mu);
    while (sp->state == SP_MOVING)
        pthread_cond_wait(&sp->cv, &sp->mu);
    pthread_mutex_unlock(&sp->mu);
}

/* Has the spawner clone p's child in the cgroups it waits in, which sb
 * then owns (their memory limited to memory_mb first). False when it
 * waits in none (the caller spawns it itself); else *pid is the clone's. */
bool sl_spawner_spawn(struct sl_spawner *sp, struct sl_sandbox *sb, struct plan *p,
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
    if (sp->next[0][0] && sl_cgroup_limit_memory_v1(sp->next[0], memory_mb)) {
        /* The caller makes a set of its own; the spawner a new one. */
        sp->state = SP_MOVING;
        pthread_cond_broadcast(&sp->cv);
        pthread_mutex_unlock(&sp->mu);
        return false;
    }
    p->pids_cg = sp->next[2][0] ? 2 : -1; /* it is in each of them (spawner_move) */
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
