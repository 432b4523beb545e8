/* Unit tests of the runtime's pure pieces: the REPORT line AWS writes,
 * byte for byte, and where cgroup v2 puts
 * environments (from a mount table and /proc/self/cgroup of our own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/internal.h"
#include "runtime/runtime.h"
#include "runtime/sandbox.h"

static void test_report_line(void **state)
{
    (void)state;
    char line[512];
    sl_runtime_report_line(line, sizeof(line), "57f231fb-1730-4395-85cb-4f71bd2b87b8", 128.831,
                           128, 74, 166.62);
    assert_string_equal(line, "REPORT RequestId: 57f231fb-1730-4395-85cb-4f71bd2b87b8\t"
                              "Duration: 128.83 ms\tBilled Duration: 129 ms\t"
                              "Memory Size: 128 MB\tMax Memory Used: 74 MB\t"
                              "Init Duration: 166.62 ms\t");
    /* Warm: no Init Duration; billing rounds up to the millisecond. */
    sl_runtime_report_line(line, sizeof(line), "id", 3.0, 512, 40, 0);
    assert_string_equal(line, "REPORT RequestId: id\tDuration: 3.00 ms\tBilled Duration: 3 ms\t"
                              "Memory Size: 512 MB\tMax Memory Used: 40 MB\t");
    sl_runtime_report_line(line, sizeof(line), "id", 0.2, 128, 10, 0);
    assert_non_null(strstr(line, "Billed Duration: 1 ms"));
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_cgroup_v2_parent(void **state)
{
    (void)state;
    const char *base = getenv("SLUICE_TEST_TMP");
    char dir[600], mnt[650], cg[700], out[800], mountinfo[800];
    snprintf(dir, sizeof(dir), "%s/cg2-XXXXXX", base ? base : "/tmp");
    if (base)
        sl_mkdirs(base, 0755);
    assert_non_null(mkdtemp(dir));
    /* A unified hierarchy at <dir>/fs, Sluice in /system.slice/sluice.service. */
    snprintf(mnt, sizeof(mnt), "%s/fs", dir);
    snprintf(cg, sizeof(cg), "%s/system.slice/sluice.service", mnt);
    assert_int_equal(sl_mkdirs(cg, 0755), 0);
    char table[1600];
    snprintf(table, sizeof(table),
             "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
             "30 22 0:26 / %s rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
             "rw,nsdelegate\n",
             mnt);
    write_text(dir, "mountinfo", table);
    write_text(dir, "cgroup", "0::/system.slice/sluice.service\n");
    snprintf(mountinfo, sizeof(mountinfo), "%s/mountinfo", dir);
    char self[700];
    snprintf(self, sizeof(self), "%s/cgroup", dir);
    write_text(cg, "cgroup.controllers", "cpuset cpu io memory pids\n");
    assert_int_equal(sl_sandbox_v2_parent(mountinfo, self, out, sizeof(out)), 0);
    char want[800];
    snprintf(want, sizeof(want), "%s/system.slice", mnt);
    assert_string_equal(out, want);
    /* Without one of the three controllers: not v2. */
    write_text(cg, "cgroup.controllers", "cpu io memory\n");
    assert_int_equal(sl_sandbox_v2_parent(mountinfo, self, out, sizeof(out)), -1);
    /* In the root cgroup: the hierarchy's root is the parent. */
    write_text(dir, "cgroup", "0::/\n");
    write_text(mnt, "cgroup.controllers", "cpu memory pids\n");
    assert_int_equal(sl_sandbox_v2_parent(mountinfo, self, out, sizeof(out)), 0);
    assert_string_equal(out, mnt);
    /* A container's view: a subtree of the hierarchy mounted (4th field). */
    snprintf(table, sizeof(table),
             "30 22 0:26 /kubepods/pod1 %s rw,relatime - cgroup2 cgroup2 rw\n", mnt);
    write_text(dir, "mountinfo", table);
    write_text(dir, "cgroup", "0::/kubepods/pod1/system.slice/sluice.service\n");
    write_text(cg, "cgroup.controllers", "cpu memory pids\n");
    assert_int_equal(sl_sandbox_v2_parent(mountinfo, self, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/system.slice", mnt);
    assert_string_equal(out, want);
    write_text(dir, "cgroup", "0::/elsewhere/sluice.service\n");
    assert_int_equal(sl_sandbox_v2_parent(mountinfo, self, out, sizeof(out)), -1);
    /* A v1-only system (no 0:: line, no cgroup2 mount). */
    write_text(dir, "cgroup", "4:memory:/\n2:cpu,cpuacct:/\n");
    assert_int_equal(sl_sandbox_v2_parent(mountinfo, self, out, sizeof(out)), -1);
    write_text(dir, "cgroup", "0::/\n");
    write_text(dir, "mountinfo", "22 1 8:1 / / rw - ext4 /dev/vda1 rw\n");
    assert_int_equal(sl_sandbox_v2_parent(mountinfo, self, out, sizeof(out)), -1);
    sl_rm_tree(dir);
}

/* A uid is held by one claim at a time, across every claimant (two
 * ranges over the same uids and claims directory here), and free again
 * once its claim closes. */
static void test_uid_claims(void **state)
{
    (void)state;
    /* A range of this process's own: no other test run claims it. */
    uint32_t first = 3000000000u;
    char dir[] = "/tmp/sluice-uids-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct sl_uids a = {.first = first, .count = 2}, b = {.first = first, .count = 2};
    snprintf(a.dir, sizeof(a.dir), "%s", dir);
    snprintf(b.dir, sizeof(b.dir), "%s", dir);
    uid_t u1, u2, u3;
    int f1, f2, f3;
    assert_int_equal(sl_uid_claim(&a, &u1, &f1), 0);
    assert_int_equal(sl_uid_claim(&b, &u2, &f2), 0); /* b starts at the one a holds */
    assert_true(u1 != u2 && u1 >= first && u2 >= first && u1 < first + 2 && u2 < first + 2);
    assert_int_equal(sl_uid_claim(&a, &u3, &f3), -1);
    assert_int_equal(errno, EUSERS);
    close(f1);
    assert_int_equal(sl_uid_claim(&b, &u3, &f3), 0);
    assert_int_equal(u3, u1);
    close(f2);
    close(f3);
    assert_int_equal(sl_rm_tree(dir), 0);
}

/* The kernel names the user owning the caller's end of an accepted
 * connection; an end that does not exist is ENOENT. */
static void test_peer_uid(void **state)
{
    (void)state;
    int diag = sl_diag_open();
    if (diag < 0) {
        skip(); /* a kernel without sock_diag */
        return;
    }
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(local);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(l, (struct sockaddr *)&local, sizeof(local)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&local, &n), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&local, sizeof(local)), 0);
    struct sockaddr_in peer;
    n = sizeof(peer);
    int s = accept(l, (struct sockaddr *)&peer, &n);
    assert_true(s >= 0);
    uid_t uid = 12345;
    assert_int_equal(sl_peer_uid(diag, &local, &peer, &uid), 0);
    assert_int_equal(uid, geteuid());
    peer.sin_port = htons((uint16_t)(ntohs(peer.sin_port) ^ 1));
    assert_int_equal(sl_peer_uid(diag, &local, &peer, &uid), -1);
    assert_int_equal(errno, ENOENT);
    close(s);
    close(c);
    close(l);
    close(diag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_line),
        cmocka_unit_test(test_cgroup_v2_parent),
        cmocka_unit_test(test_uid_claims),
        cmocka_unit_test(test_peer_uid),
    };
    return cmocka_run_group_tests_name("runtime", tests, NULL, NULL);
}
