/*
 * The seccomp filter of execution environments: the system calls
 * functions never need (mount, ptrace, bpf, module loading, kexec, ...)
 * fail with EPERM. Built once, before any clone, with libseccomp.
 */
#include "runtime/internal.h"

#include <errno.h>
#include <linux/filter.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

const struct sock_fprog *sl_sandbox_seccomp(void)
{
    pthread_once(&seccomp_prog.once, build_seccomp);
    return &seccomp_prog.prog;
}
