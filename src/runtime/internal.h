/*
 * What the runtime's files share (not part of its interface, runtime.h
 * and sandbox.h).
 */
#ifndef SL_RUNTIME_INTERNAL_H
#define SL_RUNTIME_INTERNAL_H

#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include "runtime/sandbox.h"


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
    struct ovl {
        char src[1200], dst[1200]; /* src: bound instead where no overlay */
        int fd; /* src's descriptor in the child, fd + 1 empty's: above the
                   child's own (chosen by the parent, which writes opts) */
        char opts[96];
    } ovls[2];
    int novls;
    char empty[1200]; /* an empty directory: each overlay's second layer */
    struct lnk {
        char target[256], path[1200];
    } links[8];
    int nlinks;
    char proc[1200];
    char tmp[1200]; /* root/tmp */
    int tmp_fd;     /* a detached mount to attach at tmp, or -1 */
    struct text_file {
        char path[1200], text[256];
        size_t len;
    } passwd, group; /* written into the root */
    struct sock_fprog seccomp;
    struct rlimit data, fsize, nproc, nofile;
    /* The cgroups the child moves itself into ("" for none: none, or it
     * was born in them, cloned into its cgroup or by the spawner), and
     * whether it could (set by the child, which shares this memory then). */
    char procs[SL_SANDBOX_CGROUPS][1100];
    bool placed[SL_SANDBOX_CGROUPS];
    /* Which of those holds the pids controller's limit (-1: none): where
     * one does, the per-user RLIMIT_NPROC is not set (see clone.c). */
    int pids_cg;
    int out_fd, err_fd, null_fd;
    uid_t uid;                  /* the user it runs as (with that group) */
    int init_fd;                /* execveat'd with init_argv, or -1 */
    const char *init_argv[4];   /* "sluice-init", status_arg, runtime_arg */
    char runtime_arg[40];       /* "--runtime-pid=<pid>", the pid written by the child */
    /* The stack of the runtime's clone, between that clone and its exec
     * (the child then execs sluice-init, which adopts it). */
    char runtime_stack[16384] __attribute__((aligned(16)));
    int status_fd;              /* init's status pipe (CLOEXEC), or -1 */
    int status_to;              /* where the child puts it for init (status_arg) */
    char status_arg[32];        /* "--status-fd=<status_to>" */
    const char *const *argv;
    char *const *envp;
    const char *workdir;
    /* The root from the template instead (roots.c): its mount namespace
     * (-1: none; the root is built as above), and the detached mounts
     * attached to a copy of it at their paths. */
    int tmpl_fd;
    struct attach {
        int fd;
        const char *path;
        bool owned; /* opened for this plan: sl_roots_done() closes it */
    } attach[5];
    int nattach;
    /* The template's builder instead of an environment (roots.c): the
     * skeleton, with these mount points, made the root; ns_out gets its
     * namespace (a descriptor the builder opens in the caller's table). */
    bool template;
    struct point {
        char path[1200];
        bool dir;
    } points[8];
    int npoints;
    int ns_out;
    /* roots.c's probe instead: enter the template (tmpl_fd, attach) and
     * end. */
    bool probe;
};

/* Plans the skeleton every root shares (sandbox.c) at p->root. */
void sl_plan_skeleton(struct plan *p);

/* ---- the template (roots.c) ------------------------------------------------- */

/* Plans p's root as a copy of r's template: p->tmpl_fd and p->attach (the
 * overlays of spec's code and runtimes, p's passwd and group files, its
 * /tmp: spec->tmp_fd, or else the directory tmp). 0, or -1 (p unchanged
 * but for descriptors sl_roots_done closes): build the root instead. */
int sl_roots_plan(struct sl_roots *r, struct plan *p, const struct sl_sandbox_spec *spec,
                  const char *tmp);
/* Closes what sl_roots_plan() opened for p (after the clone). */
void sl_roots_done(struct plan *p);

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

/* ---- identities (identity.c) ------------------------------------------------ */

/* The users environments run as: uids first to first + count - 1 (count
 * 0: every environment runs as 65534), claimed by locks on files in dir. */
struct sl_uids {
    uint32_t first, count;
    uint32_t next; /* where the next claim starts looking */
    char dir[1100];
};

/* Claims a uid of u that no environment of any Sluice on this machine
 * holds (those that share u->dir): 0, with *fd holding the claim until
 * closed; -1 (errno EUSERS when every one is held). */
int sl_uid_claim(struct sl_uids *u, uid_t *uid, int *fd);
/* A NETLINK_SOCK_DIAG socket, for sl_peer_uid(): -1 when the kernel has
 * none. */
int sl_diag_open(void);
/* The owner of the TCP socket on this host whose end is peer and whose
 * other end is local (an accepted connection's caller): 0, or -1 (errno
 * ENOENT when there is none: it has gone). */
int sl_peer_uid(int diag_fd, const struct sockaddr_in *local, const struct sockaddr_in *peer,
                uid_t *uid);

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

/* ==== the runtime ====
 *
 * runtime.c holds its life (new, shutdown, free) and what all share;
 * envs.c the environments, conns.c the Runtime API's connections,
 * invoke.c the calls. They share one mutex (rt->mu) and one state
 * machine, so they call each other: a runtime's answer, read by the
 * connection server, ends a call and makes its environment idle. */

#include "engine/engine.h"
#include "engine/governor.h"
#include "runtime/rapi.h"
#include "runtime/runtime.h"

#define RAPI_PREFIX "/2018-06-01/runtime/"
#define MAX_RESPONSE 6291556 /* 6 MiB + 100 bytes, as AWS */
#define INIT_LIMIT_MS 10000
#define LINE_MAX_BYTES (256 * 1024)
#define LOG_TAIL_MAX (64 * 1024)
/* A connection's input: one request with the largest body, its head, and
 * room for chunk framing. */
#define CONN_IN_MAX (MAX_RESPONSE + SL_RAPI_HEAD_MAX + 64 * 1024)
#define CONN_IN_MIN 8192           /* first allocation */
#define CONN_KEEP (64 * 1024)      /* buffers above this are freed when empty */
#define CONN_OUT_MAX (8u << 20)    /* an event (6 MiB) and its headers */
#define CONNS_PER_ENV 32           /* a runtime needs one or two */
#define SPIN_MAX_NS 200000         /* the longest a lone caller spins for an answer */
#define LONE_PATIENCE_MS 2         /* sl_runtime_call(): a lone caller's wait on its thread */

struct env;
struct conn;

/* One invocation in flight: on the stack of the thread in
 * sl_runtime_invoke(), which waits on efd and enforces the deadline; or,
 * from sl_runtime_start(), on the heap, seen through by the loop (a timer
 * enforces its deadline) and ended by its callback. */
struct call {
    struct sl_runtime *rt;
    struct sl_function fn; /* copy: the caller's may change */
    struct sl_invocation *inv;
    pthread_t tid; /* the caller */
    int efd;       /* the caller's eventfd: written when done or bound */
    bool done;
    bool async;              /* sl_runtime_start()'s */
    sl_invoke_cb cb;         /* async: called once it ends */
    void *cb_arg;
    struct sl_timer *timer;  /* async: its deadline (the loop's thread alone) */
    int refs;                /* async: its end, and posts of call_arm_task() */
    bool slot; /* holds a governor slot no environment has taken yet */
    struct env *env;
    struct conn *own; /* a connection the caller reads itself */
    bool delivered;
    int64_t start_ms; /* delivery */
    int64_t start_ns; /* the same, for REPORT's Duration */
};

/* A function's environments share this: its key (the governor's). */
struct fn_state {
    char key[256];
    struct fn_state *next;
};

enum env_state { ENV_INIT, ENV_IDLE, ENV_BUSY, ENV_DEAD };

struct linebuf {
    char *data;
    size_t len, cap;
};

/* Who may read and write a connection. */
enum conn_owner {
    CONN_LOOP,   /* armed in rt->epfd; the loop serves it */
    CONN_PARKED, /* a runtime in /next, or about to ask on it: disarmed */
    CONN_CALLER, /* a caller delivered an event on it and reads the answer */
};

struct conn {
    struct sl_runtime *rt;
    struct env *e; /* NULL once its environment is gone (a caller held it) */
    int fd;
    enum conn_owner owner;
    char *in; /* bytes received, not yet consumed */
    size_t in_len, in_cap;
    struct sl_buf out; /* bytes not yet sent, from out_off */
    size_t out_off;
    size_t discard;  /* body bytes of a refused request still to skip */
    bool continued;  /* 100 Continue sent for the request in progress */
    bool held;       /* sends wait for the owner, and nothing more is served */
    bool asked;      /* parked: its GET /next has been read */
    bool closing;    /* close once out is sent */
    bool broken;     /* EOF or an error: close */
    bool dead;       /* closed; freed with rt->zombies */
    bool corked;     /* the loop's answers wait for the end of its round */
    struct conn *next;
    struct conn *cork_next; /* in rt->corked */
};

struct env {
    struct sl_runtime *rt;
    struct fn_state *fs;
    struct sl_function fn; /* copy of the spec it was started with (env not kept) */
    enum env_state state;
    bool slot; /* holds a governor slot: initialising or busy */
    pid_t pid;
    int pidfd, out_fd, err_fd, listen_fd;
    struct linebuf out_lb, err_lb;
    uint16_t port;
    struct call *call;
    struct conn *conns;
    unsigned nconns;
    struct conn *parked; /* a runtime waiting in /next, or to ask on it */
    int64_t spawned_ms;
    double init_ms; /* until the first /next; reported once */
    bool init_reported;
    bool stale; /* end once idle */
    char init_error[128]; /* /init/error's type, when it came */
    struct sl_buf init_error_body;
    struct sl_timer *reap_timer; /* from the first /next until the end */
    int64_t idle_since_ms;
    uint64_t idle_seq; /* when it last became idle, in rt->idle_seq's order */
    struct {
        bool on;
        char request_id[37];
        double duration_ms;
    } end; /* END and REPORT of a settled call, not yet written */
    int64_t bound_ms; /* when the current call was bound to it */
    int64_t answer_ns; /* event to answer, a moving average (0: none yet) */
    char stream[96];
    struct sl_sandbox sb;
    char scratch[1100]; /* the environment's directory: its root and /tmp */
    uid_t uid;     /* its user: its own (isolated) or Sluice's */
    int uid_fd;    /* holds the claim on uid (sl_uid_claim), or -1 */
    bool refused;  /* a stranger's connection was refused (logged once) */
    struct sl_env_credentials creds; /* its session ("" key: placeholders) */
    int tmp_fd;        /* its /tmp (sl_tmpvols_take), dropped at the end; -1 */
    int status_fd;     /* sluice-init's report of the runtime's wait status; -1 */
    bool tmp_starting; /* took a /tmp: sl_tmpvols_started() once started */
    struct env *next;
};

struct sl_runtime {
    struct sl_runtime_config cfg;
    pthread_mutex_t mu;
    char runtimes_dir[1024], scratch_dir[1024], endpoint[256];
    char group[17]; /* this data directory's cgroups: sluice/<group>/ */
    struct sl_spawner *spawner; /* clones environments (cgroup v1), or NULL */
    int epfd;      /* Runtime API connections, one-shot */
    bool watching; /* epfd is on the loop */
    struct fn_state *fns;
    struct env *envs;
    struct conn *zombies; /* closed connections, freed by the loop */
    struct conn *corked;  /* with answers to send at the end of the loop's round */
    uint64_t idle_seq;    /* environments that became idle, counted */
    unsigned callers; /* threads in sl_runtime_invoke() */
    bool spin;        /* more than one CPU: a lone caller may spin (above) */
    bool isolate; /* namespaces work here */
    struct sl_uids uids; /* environments' users */
    struct sl_tmpvols *tmpvols; /* environments' /tmp filesystems, or NULL */
    struct sl_roots *roots;     /* the template of their roots, or NULL */
    int diag_fd;  /* NETLINK_SOCK_DIAG: whose a Runtime API connection is; -1 */
    int init_fd;  /* sluice-init, next to this program (O_PATH), or -1 */
    bool closed;  /* shut down: calls fail at once */
    char node_version[32]; /* the machine's node, "20.20.2"; "" when none */
};

/* ---- the runtime (runtime.c) -------------------------------------------- */
/* The state a function's environments share, by its key (made when
 * create); NULL when out of memory or absent. Under rt->mu. */
struct fn_state *sl_rt_fn_state(struct sl_runtime *rt, const char *key, bool create);
/* Sends a log line to the sink and to the call's collected log. */
void sl_rt_env_log(struct env *e, const char *line, size_t len);
/* The same, formatted. */
void sl_rt_env_logf(struct env *e, const char *fmt, ...) SL_PRINTF(2, 3);
/* Peak memory of the environment, in MB (rounded up). */
unsigned sl_rt_max_memory_mb(struct env *e);

/* ---- environments (envs.c) ---------------------------------------------- */
/* Kills e's process group; its exit (on the loop) frees it. */
void sl_rt_env_kill(struct env *e);
/* Moves e to state s: an initialising or busy environment holds its slot
 * of the governor, an idle one gives it back. */
void sl_rt_env_set_state(struct env *e, enum env_state s);
/* The idle reaper: one timer per environment from its first /next on,
 * which does nothing per invoke; when it fires it ends the environment
 * if it has been idle long enough, else sets itself again. */
void sl_rt_on_reap(struct sl_loop *l, void *arg);
/* Writes the END and REPORT a settled call left, if any. */
void sl_rt_env_flush_end(struct env *e);
/* Ends the current call of e (response, error, timeout or exit): logs END
 * and REPORT (or leaves them for sl_runtime_settle(): defer), and makes e
 * idle unless it is dying. */
void sl_rt_env_end_call(struct env *e, bool dying, bool defer);
/* Frees e (loop thread, under rt->mu). A connection a caller holds stays
 * with that caller, which closes it. */
void sl_rt_env_free(struct env *e);
/*
 * Starts an environment for fn and binds c to it. 0, or fails c (with the
 * error a caller sees) and returns an error code.
 */
int sl_rt_env_spawn(struct sl_runtime *rt, struct fn_state *fs, struct call *c);

/* ---- Runtime API connections (conns.c) ---------------------------------- */
/* Sends what is queued. */
void sl_rt_conn_flush(struct conn *c);
/* Whether c has bytes still to send. */
bool sl_rt_conn_pending(const struct conn *c);
/* Closes c (loop or owner, under rt->mu). Its memory goes to the zombie
 * list: the loop may still hold an event fetched for it. */
void sl_rt_conn_close(struct conn *c);
/* Frees the closed connections (the loop, once nothing refers to them). */
void sl_rt_free_zombies(struct sl_runtime *rt);
/* At shutdown, on the loop under rt->mu: what waits for the end of the
 * loop's round is sent now, and that round's flush dropped (rt goes). */
void sl_rt_conns_uncork(struct sl_runtime *rt);
/* Reads what c's socket has (non-blocking); EOF or an error marks it
 * broken. */
void sl_rt_conn_read(struct conn *c);
/* One turn of service for c by its owner: send, read (unless the owner
 * has read already, or leaves the rest to the loop), serve. Closes it when
 * its runtime hung up or it is done. */
void sl_rt_conn_service(struct conn *c, bool read);
/* The loop's side: connections of every environment, one-shot. */
void sl_rt_on_conns(struct sl_loop *l, int fd, uint32_t events, void *arg);
/* The loop's side: an environment's listener accepts its runtime. */
void sl_rt_on_listen(struct sl_loop *l, int fd, uint32_t events, void *arg);
/* Hands e's undelivered call to a runtime parked in /next, if any: the
 * caller's own thread takes the connection (direct), the loop serves it
 * otherwise. */
void sl_rt_env_deliver(struct env *e, bool direct);
/*
 * A caller's connection once its call is over. Its runtime asks for the
 * next event on it next (most runtimes keep one connection), so rather
 * than the loop reading that /next and handing it on, the connection goes
 * to a call already waiting for the environment, or is kept parked for
 * the next one; to the loop otherwise.
 */
void sl_rt_conn_hand_on(struct conn *conn);
/* A caller's connection after it is done with it: back to the loop (or
 * on to the next call), or closed when its environment is gone. */
void sl_rt_conn_release(struct conn *conn);

/* ---- calls (invoke.c) --------------------------------------------------- */
/* Marks c done and wakes its caller. The caller may return (and c, on its
 * stack, vanish) as soon as rt->mu is released. An async call's callback
 * runs once the loop is done with what it is handling (never under
 * rt->mu: it may start the next call). */
void sl_rt_call_wake(struct call *c);
/* Records a call's result. The caller learns of it from sl_rt_call_wake(). */
void sl_rt_call_finish(struct call *c, enum sl_invoke_result result, const char *error_type,
                       const char *body, size_t len);
/* Wakes c's caller to look again (its deadline may have moved), unless
 * this is the caller's own thread; an async call's timer is set to its
 * deadline instead (by the loop, which sees async calls through and alone
 * touches their timers). Under rt->mu. */
void sl_rt_call_nudge(struct call *c);
/* Finishes c with a platform error payload: {"errorType": type,
 * "errorMessage": the message}. */
void sl_rt_call_fail(struct call *c, const char *type, const char *fmt, ...) SL_PRINTF(3, 4);

#endif
