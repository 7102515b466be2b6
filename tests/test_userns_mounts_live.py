"""Locked mounts in a user namespace, differential against the live kernel.

``unshare -U -m --map-root-user`` gives root in a new user namespace a copy of every
mount, each locked (MNT_LOCKED, ``lock_mnt_tree``): it may not be unmounted or moved
(``can_umount``, ``do_move_mount``: EINVAL), a non-recursive bind may not uncover what
it hides (``do_loopback``: EINVAL), and on 6.18 a new bpffs is EPERM
(``bpf_fill_super`` wants CAP_SYS_ADMIN in the initial user namespace).  The live
side runs in ``unshare -m --propagation private`` on a scratch tmpfs (see
``tests/userns_agent.py``); its outcomes are recorded in
``tests/data/userns_locked_live.json`` so pinfs is checked against them without root
too (``PINFS_RECORD_USERNS=1`` re-records).

Not in the list: procfs, which Linux refuses (EPERM) in a user namespace that does
not own the pid namespace; pinfs has one pid namespace and does not model that check.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import pinfs
from pinfs.base import uapi
from pinfs.base.errors import KernelError
from pinfs.base.profiles import LINUX_6_18

AGENT = Path(__file__).with_name("userns_agent.py")
RECORDED = Path(__file__).parent / "data" / "userns_locked_live.json"
BASE = "/tmp/pinfs-userns-scratch"

OPS: list[list[Any]] = [
    ["umount", "bpf", False],
    ["umount", "bpf", True],
    ["move", "bpf", "dst"],
    ["bind", "", "dst", False],
    ["bind", "", "dst", True],
    ["umount", "dst", False],
    ["umount", "dst", True],
    ["mount", "bpf", "sub", "bpf"],
    ["mount", "t", "bpf", "tmpfs"],
    ["umount", "bpf", False],
    ["remount_ro", "bpf", True],
    ["remount_ro", "bpf", False],
    ["move", "dst", "sub"],
]


def _unavailable() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs Linux, root and unshare(1)"
    return None


def run_live(ops: list[list[Any]]) -> list[str]:
    base = tempfile.mkdtemp(prefix="pinfs-userns-")
    try:
        cmd = ["unshare", "-m", "--propagation", "private", sys.executable, "-I", "-S"]
        request = json.dumps({"base": base, "ops": ops})
        done = subprocess.run(
            [*cmd, str(AGENT)], input=request, capture_output=True, text=True, check=False
        )
    finally:
        os.rmdir(base)
    if done.returncode != 0 or not done.stdout.strip():
        pytest.skip(f"the live agent could not run: {done.stderr.strip()[-300:]}")
    answer: dict[str, Any] = json.loads(done.stdout)
    if "results" not in answer:
        pytest.skip(f"no user namespace here: {answer.get('error')}")
    results: list[str] = answer["results"]
    return results


def run_pinfs(ops: list[list[Any]]) -> list[str]:
    """The same on pinfs: a private namespace with the scratch tree, then a child in a
    new user and mount namespace mapping root to root."""
    k = pinfs.Kernel(LINUX_6_18, boot="systemd", mount_proc=True)
    first = k.spawn()
    first.unshare(uapi.CLONE_NEWNS)
    first.mount(None, "/", None, uapi.MS_REC | uapi.MS_PRIVATE)
    first.mkdir(BASE, 0o700)
    first.mount("scratch", BASE, "tmpfs")
    for sub in ("bpf", "dst", "sub"):
        first.mkdir(f"{BASE}/{sub}", 0o755)
    first.mount("bpf", f"{BASE}/bpf", "bpf")
    child = first.fork()
    child.unshare(uapi.CLONE_NEWUSER | uapi.CLONE_NEWNS)
    child.write_uid_map([(0, 0, 1)])
    out = [_outcome(child, op) for op in ops]
    k.check_invariants()
    return out


def _outcome(task: pinfs.Task, op: list[Any]) -> str:
    def at(rel: str) -> str:
        return f"{BASE}/{rel}" if rel else BASE

    kind = op[0]
    try:
        if kind == "umount":
            task.umount(at(op[1]), uapi.MNT_DETACH if op[2] else 0)
        elif kind == "move":
            task.mount(at(op[1]), at(op[2]), None, uapi.MS_MOVE)
        elif kind == "bind":
            task.mount(at(op[1]), at(op[2]), None, uapi.MS_BIND | (uapi.MS_REC if op[3] else 0))
        elif kind == "mount":
            task.mount(op[1], at(op[2]), op[3])
        elif kind == "remount_ro":
            ro = uapi.MS_RDONLY if op[2] else 0
            task.mount(None, at(op[1]), None, uapi.MS_REMOUNT | uapi.MS_BIND | ro)
        else:
            raise ValueError(kind)
    except KernelError as e:
        return errno.errorcode[e.errno]
    return "ok"


def test_pinfs_matches_the_recorded_live_kernel() -> None:
    recorded = json.loads(RECORDED.read_text())
    assert recorded["ops"] == OPS, "the ops changed: re-record with PINFS_RECORD_USERNS=1"
    assert run_pinfs(OPS) == recorded["results"]


@pytest.mark.live
def test_pinfs_matches_the_live_kernel() -> None:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    assert run_pinfs(OPS) == run_live(OPS)


@pytest.mark.skipif(not os.environ.get("PINFS_RECORD_USERNS"), reason="recording only")
def test_record_live_run() -> None:
    results = run_live(OPS)
    RECORDED.write_text(json.dumps({"ops": OPS, "results": results}, indent=1) + "\n")
