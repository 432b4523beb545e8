#!/usr/bin/python3
"""PID 1 of the User-mode Linux guest of test_cgroup_v2.py.

The guest's root is the host's, read-only (hostfs); its kernel has a
cgroup v2 hierarchy with the memory, cpu and pids controllers free, which
the host's v1 hierarchies hold. This mounts what Sluice needs, brings up
loopback, enables the controllers, puts itself (and so the server it
starts) in /svc, and drives the server with boto3. It prints one line,
"SLUICE-V2-RESULT <json>", of what it saw, and powers the guest off. The
test on the host asserts on it. The kernel command line passes SLUICE (the
binary), RUNTIMES (its runtimes directory), HANDLER (the function's
source), and MODE: "full", or "lean" for a kernel booted without a
controller (only one invoke then, and no memory hog).
"""
import base64
import ctypes
import fcntl
import io
import json
import os
import socket
import struct
import subprocess
import time
import traceback
import zipfile

libc = ctypes.CDLL(None, use_errno=True)


def mount(src, dst, fstype):
    if libc.mount(src.encode(), dst.encode(), fstype.encode(), 0, None):
        raise OSError(ctypes.get_errno(), f"mount {fstype} on {dst}")


def load_module(rel):
    """Loads a module of Debian's UML kernel (finit_module); where it is
    not to be had, Sluice does without what it gives."""
    path = f"/usr/lib/uml/modules/{os.uname().release}/kernel/{rel}"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    libc.syscall(313, fd, b"", 0)  # finit_module (x86-64, UML's only arch here)
    os.close(fd)


def read(path):
    with open(path) as f:
        return f.read().strip()


def main(out):
    mount("proc", "/proc", "proc")
    mount("sys", "/sys", "sysfs")
    mount("run", "/run", "tmpfs")
    mount("cgroup2", "/sys/fs/cgroup", "cgroup2")
    load_module("drivers/block/loop.ko")  # for environments' /tmp filesystems
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", 0x1 | 0x8))  # SIOCSIFFLAGS: up
    s.close()
    for ctl in ("memory", "cpu", "pids"):  # those this kernel has
        try:
            with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as f:
                f.write("+" + ctl)
        except OSError:
            pass
    os.mkdir("/sys/fs/cgroup/svc")
    with open("/sys/fs/cgroup/svc/cgroup.procs", "w") as f:
        f.write(str(os.getpid()))
    out["controllers"] = read("/sys/fs/cgroup/svc/cgroup.controllers").split()

    log = open("/run/sluice.log", "wb")
    srv = subprocess.Popen([os.environ["SLUICE"], "serve", "--listen", "127.0.0.1:4566",
                            "--data-dir", "/run/data", "--runtimes-dir", os.environ["RUNTIMES"]],
                           stdout=log, stderr=subprocess.STDOUT)
    import boto3
    import botocore.config
    lam = boto3.client("lambda", endpoint_url="http://127.0.0.1:4566", region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="y",
                       config=botocore.config.Config(retries={"max_attempts": 0},
                                                     read_timeout=300))
    deadline = time.monotonic() + 120
    while True:
        try:
            lam.list_functions()
            break
        except Exception:
            if time.monotonic() > deadline or srv.poll() is not None:
                raise
            time.sleep(0.1)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        with open(os.environ["HANDLER"]) as f:
            z.writestr("app.py", f.read())
    lam.create_function(FunctionName="f", Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/r",
                        Code={"ZipFile": code.getvalue()}, MemorySize=128, Timeout=120)

    def invoke(event):
        r = lam.invoke(FunctionName="f", Payload=json.dumps(event), LogType="Tail")
        return {"error": r.get("FunctionError"), "payload": json.loads(r["Payload"].read()),
                "log": base64.b64decode(r["LogResult"]).decode()}

    out["spin"] = invoke({"spin": 0.3})
    cg = "/sys/fs/cgroup" + out["spin"]["payload"].split("::", 1)[1].strip()
    out["cgroup"] = cg
    out["files"] = {f: read(os.path.join(cg, f)) for f in
                    ("memory.max", "memory.swap.max", "pids.max", "cpu.max", "cpu.stat",
                     "cgroup.procs") if os.path.exists(os.path.join(cg, f))}
    logs = boto3.client("logs", endpoint_url="http://127.0.0.1:4566", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y")
    out["log_events"] = [e["message"] for e in
                         logs.filter_log_events(logGroupName="/aws/lambda/f")["events"]]
    with open("/proc/self/status") as f:
        out["kernel_seccomp"] = any(line.startswith("Seccomp:") for line in f)
    if os.environ.get("MODE") != "lean":
        out["hog"] = invoke({"hog": True})
    srv.terminate()
    out["exit"] = srv.wait(timeout=60)
    out["left"] = sorted(os.listdir("/sys/fs/cgroup"))
    log.close()
    out["server_log"] = read("/run/sluice.log")[-4000:]


if __name__ == "__main__":
    result = {}
    try:
        main(result)
    except BaseException:
        result["exception"] = traceback.format_exc()
    print("SLUICE-V2-RESULT " + json.dumps(result), flush=True)
    with open("/proc/sysrq-trigger", "w") as f:
        f.write("o")  # power off
