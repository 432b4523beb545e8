/*
 * sluice-init — PID 1 of a function's environment, in front of its
 * runtime, as Lambda's own init is: `sluice-init BOOTSTRAP [ARG...]`, or
 * `sluice-init --runtime-pid=PID` to adopt a runtime that its process
 * started before it exec'd this program (what Sluice does: the runtime
 * then need not wait for this exec).
 *
 * A process whose parent ends is handed to PID 1 of its PID namespace;
 * PID 1 must wait for it or it stays a zombie for the environment's whole
 * life. A runtime is not written to be PID 1 (a shell's `(sleep 1 &)`
 * under Python leaves one zombie per call), and it cannot reap children it
 * did not start without taking exit statuses its own code waits for. So
 * this program has the runtime as its only child (started, or adopted) and
 * waits for every process handed to it. Signals sent to it go on to the runtime. When the
 * runtime ends, it ends too, with the runtime's exit status, or 128 plus
 * the signal that killed the runtime (PID 1 cannot be killed from inside
 * its namespace, so it cannot die of that signal itself). With
 * `--status-fd=N` first, it also writes the runtime's wait status (4 bytes)
 * to descriptor N, which the runtime does not inherit, so that an exit
 * status of 129 is not taken for a signal. Without a PID
 * namespace it is not PID 1: it then asks to be the subreaper of what it
 * starts.
 *
 * It starts with every environment, beside the runtime, and on the virtual
 * machines Sluice is measured on an exec costs about a page fault per page
 * touched: built static and, on x86-64 and arm64, without the C library
 * (whose start-up alone costs 0.7 ms there), its exec takes about 0.2 ms
 * of the other core. Elsewhere it is the same program on the C library's
 * wrappers.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>

#define PR_SET_PDEATHSIG_ 1
#define F_SETFD_ 2
#define FD_CLOEXEC_ 1
#define PR_SET_CHILD_SUBREAPER_ 36
#define WNOHANG_ 1

#if defined(__x86_64__) || defined(__aarch64__)

static inline __attribute__((always_inline)) long sys6(long n, long a, long b, long c, long d,
                                                      long e)
{
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return r;
#else
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
#endif
}

#define SYS(n, a, b, c, d) sys6(SYS_##n, (long)(a), (long)(b), (long)(c), (long)(d), 0)

/* The kernel's start: argc, then argv and envp, on the stack. */
#if defined(__x86_64__)
__asm__(".text\n.globl _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n and $-16, %rsp\n"
        " call init_start\n hlt\n");
#else
__asm__(".text\n.globl _start\n_start:\n mov x29, #0\n mov x0, sp\n bl init_start\n");
#endif

static void out(const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    SYS(write, 2, s, n, 0);
}

static void quit(int code)
{
    SYS(exit_group, code, 0, 0, 0);
    for (;;) {
    }
}

/* As vfork: the child borrows this memory and stack until its exec, this
 * process waiting meanwhile (a fork would copy them, and each page this
 * process wrote next would fault). Everything the child runs here is
 * inlined: it pushes no frame that this process's would later miss. */
static inline __attribute__((always_inline)) long start_runtime(char **argv, char **envp)
{
    long pid = sys6(SYS_clone, 0x4000 | 0x100 | SIGCHLD, 0, 0, 0, 0); /* CLONE_VFORK|CLONE_VM */
    if (pid == 0) {
        uint64_t none = 0;
        SYS(prctl, PR_SET_PDEATHSIG_, SIGKILL, 0, 0); /* (without a PID namespace) */
        SYS(rt_sigprocmask, SIG_SETMASK, &none, 0, sizeof(none));
        long e = SYS(execve, argv[0], argv, envp, 0);
        out("sluice-init: cannot run ");
        out(argv[0]);
        out("\n");
        quit(e == -2 ? 127 : 126); /* ENOENT */
    }
    return pid;
}

static int run(int argc, char **argv, char **envp);

__attribute__((used)) void init_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    quit(run(argc, argv, argv + argc + 1));
}

#define GETPID() SYS(getpid, 0, 0, 0, 0)
#define SUBREAPER() SYS(prctl, PR_SET_CHILD_SUBREAPER_, 1, 0, 0)
#define BLOCK_ALL(all) SYS(rt_sigprocmask, SIG_SETMASK, &(all), 0, sizeof(all))
#define WAIT_SIGNAL(all, info) sys6(SYS_rt_sigtimedwait, (long)&(all), (long)(info), 0, \
                                    sizeof(all), 0)
#define REAP(status) SYS(wait4, -1, &(status), WNOHANG_, 0)
#define SEND(pid, sig) SYS(kill, pid, sig, 0, 0)
#define WRITE(fd, p, n) SYS(write, fd, p, n, 0)
#define CLOEXEC(fd) SYS(fcntl, fd, F_SETFD_, FD_CLOEXEC_, 0)

#else /* the C library's wrappers */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static long start_runtime(char **argv, char **envp)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(argv[0], argv, envp);
        fprintf(stderr, "sluice-init: cannot run %s\n", argv[0]);
        _exit(127);
    }
    return pid;
}

static int run(int argc, char **argv, char **envp);

extern char **environ;

int main(int argc, char **argv)
{
    return run(argc, argv, environ);
}

#define out(s) fputs(s, stderr)
#define GETPID() getpid()
#define SUBREAPER() prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
#define BLOCK_ALL(all) sigprocmask(SIG_SETMASK, &(all), NULL)
#define WAIT_SIGNAL(all, info) sigwaitinfo(&(all), (siginfo_t *)(void *)(info))
#define REAP(status) waitpid(-1, &(status), WNOHANG)
#define SEND(pid, sig) kill((pid_t)(pid), sig)
#define WRITE(fd, p, n) write(fd, p, n)
#define CLOEXEC(fd) fcntl(fd, F_SETFD, FD_CLOEXEC)

#endif

/* N of arg "<want>N", or -1 when arg is not that option. */
static long number_option(const char *arg, const char *want)
{
    int i = 0;
    for (; want[i]; i++)
        if (arg[i] != want[i])
            return -1;
    long n = 0;
    if (arg[i] < '0' || arg[i] > '9')
        return -1;
    for (; arg[i] >= '0' && arg[i] <= '9' && n < 100000000; i++)
        n = n * 10 + (arg[i] - '0');
    return arg[i] ? -1 : n;
}

static int run(int argc, char **argv, char **envp)
{
    int status_fd = argc >= 2 ? (int)number_option(argv[1], "--status-fd=") : -1;
    if (status_fd >= 0) {
        argc--;
        argv++;
        CLOEXEC(status_fd); /* (not the runtime's) */
    }
    /* --runtime-pid=PID (PID above 0, alone), or else the runtime to start. */
    const char *opt = "--runtime-pid";
    int adopt = argc >= 2;
    for (int i = 0; adopt && opt[i]; i++)
        adopt = argv[1][i] == opt[i];
    long runtime = adopt && argc == 2 ? number_option(argv[1], "--runtime-pid=") : -1;
    if (argc < 2 || (adopt && runtime <= 0)) {
        out("usage: sluice-init [--status-fd=N] (BOOTSTRAP [ARG...] | --runtime-pid=PID)\n");
        return 2;
    }
    if (GETPID() != 1)
        SUBREAPER();
#if defined(__x86_64__) || defined(__aarch64__)
    uint64_t all = ~(uint64_t)0;
#else
    sigset_t all;
    sigfillset(&all);
#endif
    BLOCK_ALL(all); /* the runtime unblocks them after the fork */
    if (runtime <= 0)
        runtime = start_runtime(argv + 1, envp);
    if (runtime < 0) {
        out("sluice-init: cannot fork\n");
        return 126;
    }
    uint64_t info[16]; /* a siginfo_t's 128 bytes */
    for (;;) {
        /* Every child that ended: orphans handed here, and the runtime
         * (which, adopted, may have ended before this program started). */
        int status;
        long pid;
        while ((pid = REAP(status)) > 0) {
            if (pid != runtime)
                continue;
            if (status_fd >= 0)
                WRITE(status_fd, &status, sizeof(status));
            if ((status & 0x7f) != 0) /* killed by a signal */
                return 128 + (status & 0x7f);
            return (status >> 8) & 0xff;
        }
        long sig = WAIT_SIGNAL(all, info);
        if (sig > 0 && sig != SIGCHLD)
            SEND(runtime, sig);
    }
}
