"""Environments under cgroup v2, in a User-mode Linux guest.

The development and CI machines give the memory, cpu and pids controllers
to cgroup v1, where Sluice's other tests run. Debian's user-mode-linux
kernel (installed by scripts/install-deps.sh) boots in seconds as a
process, on the host's files read-only, with a cgroup v2 hierarchy that has
them: there a real `sluice serve` (the plain build: ASan cannot lay out its
shadow memory in a UML process) is driven with boto3 by the guest's init,
tests/integration/uml_guest.py, which reports what it saw."""

import json
import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import ROOT

UML = shutil.which("linux.uml") or "/usr/bin/linux.uml"
PLAIN = os.environ.get("SLUICE_PLAIN_BIN", os.path.join(ROOT, "build", "sluice"))

HANDLER = """
import mmap, time
def handler(event, context):
    if event.get("hog"):
        blocks = []
        while True:  # populated by the kernel, not page by page: UML faults are slow
            blocks.append(mmap.mmap(-1, 16 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
                                    | mmap.MAP_POPULATE))
    end = time.monotonic() + event.get("spin", 0)
    while time.monotonic() < end:
        pass
    return open("/proc/self/cgroup").read()
"""


_can_run = {}


def uml_can_run_processes(tmp_path_factory):
    """Whether this User-mode Linux kernel can run a process on this host:
    Debian 12's (6.1) fails to restore the FP registers of CPUs whose xstate
    holds AMX tiles ("ptrace set fp regs failed, errno = 14"), and every
    process it starts, init first, dies of SIGSEGV. Probed once by booting
    /bin/true as init: it exits 0 where processes can run. Returns (ok,
    what the kernel said)."""
    if "ok" not in _can_run:
        d = tmp_path_factory.mktemp("uml-probe")
        run = subprocess.run([UML, "mem=128M", "rootfstype=hostfs", "rootflags=/", "ro",
                              "init=/bin/true", "con=null", "con0=fd:0,fd:1", f"uml_dir={d}"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=120,
                             env={**os.environ, "TMPDIR": str(d)})
        out = run.stdout.decode(errors="replace")
        _can_run["ok"] = "Attempted to kill init! exitcode=0x00000000" in out
        _can_run["said"] = "; ".join(l.strip() for l in out.splitlines()
                                     if "fp regs" in l or "exitcode" in l)
    return _can_run["ok"], _can_run["said"]


def boot(tmp_path_factory, mode, *kernel_args):
    """Boots the guest; returns what its init reported."""
    if not os.access(UML, os.X_OK):
        pytest.skip("no User-mode Linux kernel (Debian package user-mode-linux)")
    ok, said = uml_can_run_processes(tmp_path_factory)
    if not ok:
        pytest.skip(f"this host's CPU defeats User-mode Linux 6.1, which can run no process "
                    f"here ({said})")
    d = tmp_path_factory.mktemp("uml")
    init = d / "init.py"
    shutil.copy(os.path.join(ROOT, "tests", "integration", "uml_guest.py"), init)
    init.chmod(init.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    handler = d / "app.py"
    handler.write_text(HANDLER)
    cmd = [UML, "mem=1G", "rootfstype=hostfs", "rootflags=/", "ro", f"init={init}",
           "con=null", "con0=fd:0,fd:1", "quiet", "loglevel=1", f"uml_dir={d}",
           f"SLUICE={PLAIN}", f"RUNTIMES={os.path.join(ROOT, 'runtimes')}",
           f"HANDLER={handler}", f"MODE={mode}", *kernel_args]
    run = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=600, env={**os.environ, "TMPDIR": str(d)})
    out = run.stdout.decode(errors="replace")
    m = re.search(r"^SLUICE-V2-RESULT (.*)$", out, re.M)
    assert m, out[-4000:]
    result = json.loads(m.group(1))
    assert "exception" not in result, result.get("exception")
    return result


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    return boot(tmp_path_factory, "full")


@pytest.fixture(scope="module")
def guest_without_memory(tmp_path_factory):
    """A kernel that refuses the memory controller (cgroup_disable=memory)."""
    return boot(tmp_path_factory, "lean", "cgroup_disable=memory")


def test_environment_limits_under_cgroup_v2(guest):
    """The environment's cgroup is a sibling of Sluice's own (a v2 cgroup
    holding processes cannot give its children controllers), under this
    data directory's group, with memory.max = MemorySize, no swap, 1,024
    pids, a CPU quota of MemorySize/1,769 of a core after init, which a
    busy handler runs into; the runtime and its PID 1 (sluice-init) are
    alone in it."""
    assert {"memory", "cpu", "pids"} <= set(guest["controllers"])
    assert re.fullmatch(r"/sys/fs/cgroup/sluice-[0-9a-f]{16}/[0-9a-f]+", guest["cgroup"]), guest
    f = guest["files"]
    assert f["memory.max"] == str(128 << 20)
    assert f["memory.swap.max"] == "0"
    assert f["pids.max"] == "1024"
    assert f["cpu.max"] == f"{100000 * 128 // 1769} 100000"
    throttled = dict(line.split() for line in f["cpu.stat"].splitlines())
    assert int(throttled["nr_throttled"]) > 0, f["cpu.stat"]
    assert len(f["cgroup.procs"].split()) == 2
    assert guest["spin"]["error"] is None, guest["spin"]


def test_nothing_is_missing_under_cgroup_v2(guest):
    """With every piece of the sandbox to be had, the environment's log
    says nothing is missing."""
    assert guest["kernel_seccomp"]
    assert not [m for m in guest["log_events"] if "runs without" in m], guest["log_events"]


def test_a_refused_piece_is_logged_and_the_function_runs(guest_without_memory):
    """A kernel without the memory controller: cgroup v2 lacks one of the
    three controllers and v1 has none, so environments get no cgroups. The
    function still runs (under rlimits), its cgroup is Sluice's own, and
    its log says that cgroups are missing."""
    g = guest_without_memory
    assert "memory" not in g["controllers"]
    assert g["spin"]["error"] is None, g["spin"]
    assert g["cgroup"] == "/sys/fs/cgroup/svc"
    missing = [m for m in g["log_events"] if "runs without" in m]
    assert len(missing) == 1 and "cgroups" in missing[0], g["log_events"]
    assert g["exit"] == 0, g["server_log"]


def test_out_of_memory_under_cgroup_v2(guest):
    """Past memory.max the kernel kills the runtime: the invoke fails with
    Runtime.OutOfMemory, and REPORT's Max Memory Used (memory.peak) is at
    the limit."""
    hog = guest["hog"]
    assert hog["error"] == "Unhandled"
    assert hog["payload"]["errorType"] == "Runtime.OutOfMemory", hog
    report = next(l for l in hog["log"].splitlines() if l.startswith("REPORT"))
    assert int(report.split("Max Memory Used: ")[1].split(" MB")[0]) >= 120, report


def test_clean_stop_removes_cgroup_v2_groups(guest):
    """A clean stop leaves no cgroup of Sluice's behind."""
    assert guest["exit"] == 0, guest["server_log"]
    assert not [d for d in guest["left"] if d.startswith("sluice-")], guest["left"]
