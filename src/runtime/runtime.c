/*
 * Execution environments and the Runtime API.
 *
 * An environment is a process group started from the function's bootstrap
 * (provided*) or Sluice's bootstrap for a managed runtime, with its own
 * Runtime API listener on 127.0.0.1:<ephemeral>. The process is watched
 * through a pidfd, its stdout and stderr through pipes, all on the engine
 * loop.
 *
 * Threads. One mutex (rt->mu) guards every environment, connection and
 * call. The loop accepts Runtime API connections and serves them; a
 * runtime waiting in GET .../invocation/next, or about to ask on a
 * connection that just carried its answer, is a parked connection that
 * nobody watches. sl_runtime_invoke() and sl_runtime_call() run on the
 * caller's thread: when a warm environment has a parked connection, the
 * caller takes that connection, writes the event to it (after reading the
 * /next if need be) and reads the runtime's answer from it itself. An
 * invoke is then two round trips (client, runtime) with no thread
 * hand-offs; a lone caller of a fast function spins briefly for the
 * answer (spin_budget()). Otherwise (a cold start, or a call that lets its
 * thread go) the loop delivers the event and reads the answer; a waiting
 * caller is woken through its eventfd, a detached call's callback runs.
 *
 * Connections live in the runtime's own epoll set (rt->epfd, watched by
 * the loop) as one-shot entries, so that whichever thread owns one can
 * hand it back to the loop with epoll_ctl(). A connection's buffers and
 * socket belong to its owner; a caller reads and writes its connection
 * without rt->mu (many callers must not queue behind one another's
 * syscalls), and takes the lock to serve what it read.
 *
 * This file holds the runtime's life and what its parts share; envs.c
 * the environments, conns.c the connections, invoke.c the calls
 * (runtime/internal.h).
 */
#include "runtime/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------- */

struct fn_state *sl_rt_fn_state(struct sl_runtime *rt, const char *key, bool create)
{
    for (struct fn_state *f = rt->fns; f; f = f->next)
        if (strcmp(f->key, key) == 0)
            return f;
    if (!create)
        return NULL;
    struct fn_state *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    snprintf(f->key, sizeof(f->key), "%s", key);
    f->next = rt->fns;
    rt->fns = f;
    return f;
}

/* Sends a log line to the sink and to the call's collected log. */
void sl_rt_env_log(struct env *e, const char *line, size_t len)
{
    struct sl_runtime *rt = e->rt;
    if (rt->cfg.log)
        rt->cfg.log(rt->cfg.log_ud, e->fn.account, e->fn.region, e->fn.log_group, e->stream,
                    sl_time_now_ms(), line, len);
    struct call *c = e->call;
    if (c && c->inv->want_log && c->inv->log.len < LOG_TAIL_MAX) {
        sl_buf_append(&c->inv->log, line, len);
        sl_buf_putc(&c->inv->log, '\n');
    }
}


void sl_rt_env_logf(struct env *e, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    sl_rt_env_log(e, line, (size_t)n);
}

/* Billed duration: the duration rounded up to the millisecond. */
static double ceil_ms(double ms)
{
    double whole = (double)(long long)ms;
    return whole < ms ? whole + 1 : whole;
}

int sl_runtime_report_line(char *out, size_t n, const char *request_id, double duration_ms,
                           unsigned memory_mb, unsigned max_used_mb, double init_ms)
{
    struct sl_text t;
    sl_text_init(&t, out, n);
    sl_text_str(&t, "REPORT RequestId: ");
    sl_text_str(&t, request_id);
    sl_text_str(&t, "\tDuration: ");
    sl_text_fixed(&t, duration_ms, 2);
    sl_text_str(&t, " ms\tBilled Duration: ");
    sl_text_fixed(&t, duration_ms < 1 ? 1 : ceil_ms(duration_ms), 0);
    sl_text_str(&t, " ms\tMemory Size: ");
    sl_text_u64(&t, memory_mb, 0);
    sl_text_str(&t, " MB\tMax Memory Used: ");
    sl_text_u64(&t, max_used_mb, 0);
    sl_text_str(&t, " MB\t");
    if (init_ms > 0) {
        sl_text_str(&t, "Init Duration: ");
        sl_text_fixed(&t, init_ms, 2);
        sl_text_str(&t, " ms\t");
    }
    return (int)t.len;
}

/* Peak memory of the environment, in MB (rounded up). */
unsigned sl_rt_max_memory_mb(struct env *e)
{
    return sl_sandbox_max_memory_mb(&e->sb);
}

void sl_invocation_init(struct sl_invocation *inv)
{
    memset(inv, 0, sizeof(*inv));
    sl_buf_init(&inv->response, MAX_RESPONSE + 4096);
    sl_buf_init(&inv->log, LOG_TAIL_MAX + 4096);
}

void sl_invocation_close(struct sl_invocation *inv)
{
    sl_buf_free(&inv->response);
    sl_buf_free(&inv->log);
}

/* Ends a function's environments once idle. */
void sl_runtime_forget(struct sl_runtime *rt, const char *key)
{
    pthread_mutex_lock(&rt->mu);
    for (struct env *e = rt->envs; e; e = e->next) {
        if (strcmp(e->fs->key, key) != 0)
            continue;
        e->stale = true;
        if (e->state == ENV_IDLE) {
            sl_rt_env_set_state(e, ENV_DEAD);
            sl_rt_env_kill(e);
        }
    }
    pthread_mutex_unlock(&rt->mu);
}

void sl_runtime_prepare(struct sl_runtime *rt, unsigned ephemeral_mb)
{
    if (rt->tmpvols && ephemeral_mb)
        sl_tmpvols_prepare(rt->tmpvols, ephemeral_mb);
}

static void watch_conns(struct sl_loop *l, void *arg)
{
    struct sl_runtime *rt = arg;
    rt->watching = sl_loop_watch(l, rt->epfd, EPOLLIN, sl_rt_on_conns, rt) == 0;
}

/* sluice-init (runtimes/init), built beside this program: every
 * environment's PID 1. Without it a runtime is PID 1 itself, and the
 * orphans handed to it stay zombies. */
static int open_init(void)
{
    char self[PATH_MAX], path[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(path, sizeof(path), "%s/sluice-init", self);
        int fd = open(path, O_PATH | O_CLOEXEC);
        if (fd >= 0 && fd < 3) { /* (a standard descriptor was closed: the
                                    child's dup2()s would replace it) */
            int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
            close(fd);
            fd = high;
        }
        if (fd >= 0)
            return fd;
    }
    sl_warn("runtime", "no sluice-init beside %s: each runtime runs as its environment's PID 1, "
                       "and orphans it is handed stay zombies",
            n > 0 ? self : "this program");
    return -1;
}

int sl_runtime_new(struct sl_runtime **out, const struct sl_runtime_config *cfg,
                   struct sl_err *err)
{
    struct sl_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    rt->cfg = *cfg;
    snprintf(rt->runtimes_dir, sizeof(rt->runtimes_dir), "%s", cfg->runtimes_dir);
    snprintf(rt->scratch_dir, sizeof(rt->scratch_dir), "%s", cfg->scratch_dir);
    snprintf(rt->endpoint, sizeof(rt->endpoint), "%s", cfg->endpoint_url);
    rt->cfg.runtimes_dir = rt->runtimes_dir;
    rt->cfg.scratch_dir = rt->scratch_dir;
    rt->cfg.endpoint_url = rt->endpoint;
    if (!rt->cfg.idle_reap_s)
        rt->cfg.idle_reap_s = 300;
    if (sl_mkdirs(rt->scratch_dir, 0711)) {
        int e = errno;
        free(rt);
        return sl_errf(err, SL_EIO, "cannot create %s: %s", cfg->scratch_dir, strerror(e));
    }
    /* Held for a few microseconds at a time: waiters spin briefly before
     * they sleep, which saves a futex wake on most invokes. */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&rt->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    rt->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (rt->epfd < 0 || sl_loop_call(rt->cfg.loop, watch_conns, rt) || !rt->watching) {
        int e = errno;
        if (rt->epfd >= 0)
            close(rt->epfd);
        pthread_mutex_destroy(&rt->mu);
        free(rt);
        return sl_errf(err, SL_EIO, "cannot watch Runtime API connections: %s", strerror(e));
    }
    /* Environments left by a crash: their directories and cgroups. The
     * cgroups are named after the data directory, which one server at a
     * time owns. */
    sl_rm_tree(rt->scratch_dir);
    mkdir(rt->scratch_dir, 0711);
    char real[PATH_MAX];
    const char *where = realpath(rt->scratch_dir, real) ? real : rt->scratch_dir;
    uint8_t digest[SL_SHA256_LEN];
    sl_sha256(where, strlen(where), digest);
    sl_hex_encode(digest, 8, rt->group);
    sl_sandbox_sweep(rt->group, false);
    rt->uids.first = cfg->uid_count ? cfg->uid_first : SL_RUNTIME_UID_FIRST;
    rt->uids.count = cfg->uid_count ? cfg->uid_count : SL_RUNTIME_UID_COUNT;
    bool uid_ok = false;
    rt->isolate = sl_sandbox_probe((uid_t)rt->uids.first, &uid_ok);
    if (rt->isolate && !uid_ok) {
        sl_warn("runtime", "cannot switch to uid %lu (a user namespace that does not map "
                           "--sandbox-uids?): every environment runs as uid 65534, and one "
                           "function can reach another's Runtime API",
                (unsigned long)rt->uids.first);
        rt->uids.count = 0; /* (one shared user) */
    }
    /* The claims on uids: machine-wide where Sluice may write /run (root),
     * else this data directory's. */
    if (sl_mkdirs("/run/sluice/uids", 0700) == 0 && access("/run/sluice/uids", W_OK) == 0)
        snprintf(rt->uids.dir, sizeof(rt->uids.dir), "/run/sluice/uids");
    else
        snprintf(rt->uids.dir, sizeof(rt->uids.dir), "%s/uids", rt->scratch_dir);
    sl_mkdirs(rt->uids.dir, 0700);
    /* Only an environment may speak to its Runtime API: the caller's user
     * tells (identity.c). */
    rt->diag_fd = sl_diag_open();
    if (rt->diag_fd < 0)
        sl_warn("runtime", "no sock_diag for TCP here (%s): any local process can reach an "
                           "environment's Runtime API",
                strerror(errno));
    rt->init_fd = open_init();
    char vols[1100];
    snprintf(vols, sizeof(vols), "%s/vol", rt->scratch_dir);
    rt->tmpvols = rt->isolate ? sl_tmpvols_new(vols) : NULL;
    if (rt->isolate && !rt->tmpvols)
        sl_warn("runtime", "no loop devices or no mke2fs here: each environment's /tmp is a "
                           "directory on Sluice's disk, its files limited in size but not their total");
    char roots[1100];
    snprintf(roots, sizeof(roots), "%s/roots", rt->scratch_dir);
    rt->roots = rt->isolate && !cfg->no_root_template ? sl_roots_new(roots) : NULL;
    if (rt->isolate && !cfg->no_root_template && !rt->roots)
        sl_info("runtime", "no template of roots here (it needs the new mount API with clones "
                           "of detached mounts, overlayfs, and setns): each environment builds "
                           "its own root, near a millisecond more per cold start");
    rt->spawner = sl_spawner_new(rt->group);
    cpu_set_t cpus;
    rt->spin = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 1;
    FILE *v = popen("/usr/bin/node --version 2>/dev/null", "r");
    if (v) {
        char line[32] = "";
        if (fgets(line, sizeof(line), v))
            snprintf(rt->node_version, sizeof(rt->node_version), "%s",
                     line[0] == 'v' ? line + 1 : line);
        rt->node_version[strcspn(rt->node_version, "\n")] = '\0';
        pclose(v);
    }
    if (!rt->isolate)
        sl_warn("runtime", "the kernel refuses namespaces here: function environments run "
                           "without their own root, PID and mount namespaces");
    *out = rt;
    return 0;
}

static void shutdown_all(struct sl_loop *l, void *arg)
{
    struct sl_runtime *rt = arg;
    pthread_mutex_lock(&rt->mu);
    rt->closed = true;
    while (rt->envs) {
        struct env *e = rt->envs;
        if (e->call) {
            struct call *c = e->call;
            sl_rt_call_fail(c, "Runtime.Unknown", "RequestId: %s Error: Sluice is shutting down",
                      c->inv->request_id);
            e->call = NULL;
            c->env = NULL;
            sl_rt_call_wake(c);
        }
        sl_rt_env_kill(e);
        if (e->pid > 0)
            waitpid(e->pid, NULL, 0);
        sl_rt_env_free(e);
    }
    sl_rt_conns_uncork(rt);
    if (rt->watching)
        sl_loop_unwatch(l, rt->epfd);
    rt->watching = false;
    sl_rt_free_zombies(rt);
    pthread_mutex_unlock(&rt->mu);
}

void sl_runtime_shutdown(struct sl_runtime *rt)
{
    if (!rt)
        return;
    pthread_mutex_lock(&rt->mu);
    bool closed = rt->closed;
    pthread_mutex_unlock(&rt->mu);
    if (!closed)
        sl_loop_call(rt->cfg.loop, shutdown_all, rt);
}

void sl_runtime_free(struct sl_runtime *rt)
{
    if (!rt)
        return;
    sl_runtime_shutdown(rt);
    sl_spawner_free(rt->spawner);
    sl_tmpvols_free(rt->tmpvols); /* (every environment is gone) */
    sl_roots_free(rt->roots);
    sl_sandbox_sweep(rt->group, true);
    sl_rt_free_zombies(rt); /* the callers' last connections */
    close(rt->epfd);
    if (rt->diag_fd >= 0)
        close(rt->diag_fd);
    if (rt->init_fd >= 0)
        close(rt->init_fd);
    while (rt->fns) {
        struct fn_state *f = rt->fns;
        rt->fns = f->next;
        free(f);
    }
    pthread_mutex_destroy(&rt->mu);
    free(rt);
}
