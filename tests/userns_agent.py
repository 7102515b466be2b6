"""The live side of the locked-mount differential test (stdlib only).

Run as ``unshare -m --propagation private python -I -S userns_agent.py`` with a JSON
request on stdin: ``{"base": dir, "ops": [...]}``.  In that private mount namespace it
mounts a tmpfs on ``base`` (never the host's own mounts), a bpffs on ``base/bpf`` and
makes the directories ``dst`` and ``sub``; then a child does ``unshare(CLONE_NEWUSER |
CLONE_NEWNS)`` with root mapped to root (``unshare -U -m --map-root-user``), where
every mount it got is a locked copy, runs the ops and prints the outcome of each
("ok" or the errno name) as a JSON list.

Ops (paths relative to ``base``; "" is ``base`` itself):
  ["umount", rel, lazy]            umount2(rel, MNT_DETACH if lazy else 0)
  ["move", src, dst]               mount(src, dst, NULL, MS_MOVE, NULL)
  ["bind", src, dst, rec]          mount(src, dst, NULL, MS_BIND[|MS_REC], NULL)
  ["mount", source, rel, fstype]   mount(source, rel, fstype, 0, NULL)
  ["remount_ro", rel, ro]          mount(NULL, rel, NULL, MS_REMOUNT|MS_BIND[|MS_RDONLY])
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sys
from typing import Any

CLONE_NEWNS = 0x20000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_MOVE = 8192
MS_BIND = 4096
MS_REC = 16384
MNT_DETACH = 2

libc = ctypes.CDLL(None, use_errno=True)


def call(ret: int) -> str:
    if ret == 0:
        return "ok"
    return errno.errorcode[ctypes.get_errno()]


def _c(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def mount(source: str | None, target: str, fstype: str | None, flags: int) -> str:
    return call(libc.mount(_c(source), target.encode(), _c(fstype), flags, None))


def run_op(op: list[Any], base: str) -> str:
    def at(rel: str) -> str:
        return os.path.join(base, rel) if rel else base

    kind = op[0]
    if kind == "umount":
        return call(libc.umount2(at(op[1]).encode(), MNT_DETACH if op[2] else 0))
    if kind == "move":
        return mount(at(op[1]), at(op[2]), None, MS_MOVE)
    if kind == "bind":
        return mount(at(op[1]), at(op[2]), None, MS_BIND | (MS_REC if op[3] else 0))
    if kind == "mount":
        return mount(op[1], at(op[2]), op[3], 0)
    if kind == "remount_ro":
        return mount(None, at(op[1]), None, MS_REMOUNT | MS_BIND | (MS_RDONLY if op[2] else 0))
    raise ValueError(f"unknown op {kind!r}")


def in_user_namespace(ops: list[list[Any]], base: str, out: int) -> None:
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        os.write(out, json.dumps({"error": "unshare: " + os.strerror(ctypes.get_errno())}).encode())
        return
    for name, text in (("setgroups", "deny"), ("uid_map", "0 0 1"), ("gid_map", "0 0 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    os.write(out, json.dumps({"results": [run_op(op, base) for op in ops]}).encode())


def main() -> None:
    request = json.load(sys.stdin)
    base = request["base"]
    ret = mount("scratch", base, "tmpfs", 0)
    if ret != "ok":
        sys.exit(f"tmpfs on {base}: {ret}")
    for sub in ("bpf", "dst", "sub"):
        os.mkdir(os.path.join(base, sub))
    if mount("bpf", os.path.join(base, "bpf"), "bpf", 0) != "ok":
        sys.exit("bpffs could not be mounted")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            in_user_namespace(request["ops"], base, wfd)
        finally:
            os._exit(0)
    os.close(wfd)
    data = b""
    while chunk := os.read(rfd, 65536):
        data += chunk
    os.waitpid(pid, 0)
    print(data.decode())


if __name__ == "__main__":
    main()
