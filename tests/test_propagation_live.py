"""Differential tests of mount propagation, MS_MOVE, chroot and pivot_root against the
live kernel.

Each scenario is a list of ops (see ``tests/propagation_agent.py``).  The live side runs
them in a throwaway process under ``unshare -m --propagation private``, on a tmpfs
mounted at a fresh directory inside that private namespace, so the host's own mounts
are never touched; pinfs runs them on a systemd-layout kernel whose first namespace
was made private the same way.  Compared: every op's outcome (ok or the errno) and
every ``view`` (the mountinfo lines under the scratch directory, with peer group ids
renamed in order of appearance).
"""

from __future__ import annotations

import importlib.util
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
from pinfs.base.profiles import LINUX_6_18

pytestmark = pytest.mark.live

AGENT = Path(__file__).with_name("propagation_agent.py")
_spec = importlib.util.spec_from_file_location("propagation_agent", AGENT)
assert _spec is not None and _spec.loader is not None
agent = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agent)

TYPES: dict[str, int] = agent.TYPES


def _unavailable() -> str | None:
    if sys.platform != "linux":
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root (unshare -m and mount in a private mount namespace)"
    if shutil.which("unshare") is None:
        return "needs unshare(1)"
    return None


# ---------------------------------------------------------------------------------------
# The two sides


def run_live(ops: list[list[Any]], base: str) -> dict[str, Any]:
    cmd = ["unshare", "-m", "--propagation", "private", sys.executable, "-I", "-S", str(AGENT)]
    request = json.dumps({"base": base, "ops": ops})
    done = subprocess.run(cmd, input=request, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"the live agent could not run: {done.stderr.strip()[-300:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_pinfs(ops: list[list[Any]], base: str) -> dict[str, Any]:
    """The same ops on pinfs: namespace "A" is a task of a systemd-layout kernel after
    ``unshare -m --propagation private``; ``newns`` forks a task and unshares."""
    k = pinfs.Kernel(LINUX_6_18, boot="systemd", mount_proc=True)
    first = k.spawn()
    first.unshare(uapi.CLONE_NEWNS)
    first.mount(None, "/", None, uapi.MS_REC | uapi.MS_PRIVATE)
    first.mkdir(base, 0o700)
    first.mount("scratch", base, "tmpfs")
    tasks = {"A": first}
    results: list[Any] = []
    views: list[tuple[str, str]] = []

    def path(rel: str) -> str:
        if rel.startswith("!"):
            return rel[1:]
        return (base + "/" + rel.lstrip("/")).rstrip("/") or "/"

    for op in ops:
        kind = op[0]
        try:
            value: Any = "ok"
            if kind == "newns":
                task = tasks[op[2]].fork()
                task.unshare(uapi.CLONE_NEWNS)
                tasks[op[1]] = task
            elif kind == "become":
                for task in tasks.values():
                    task.setresgid(op[1], op[1], op[1])
                    task.setresuid(op[1], op[1], op[1])
            else:
                task = tasks[op[1]]
                value = _pinfs_op(task, kind, op, path)
                if kind == "view":
                    views.append((op[1], value))
                    value = "ok"
            results.append(value)
        except OSError as e:
            results.append(agent.errno.errorcode[e.errno])
    k.check_invariants()
    return {"results": results, "views": views}


def _pinfs_op(task: Any, kind: str, op: list[Any], path: Any) -> Any:
    if kind == "mkdir":
        task.mkdir(path(op[2]))
    elif kind == "touch":
        task.close(task.open(path(op[2]), os.O_CREAT | os.O_WRONLY, 0o644))
    elif kind == "chmod":
        task.chmod(path(op[2]), op[3])
    elif kind == "tmpfs":
        task.mount(op[3], path(op[2]), "tmpfs")
    elif kind == "bind":
        task.mount(path(op[2]), path(op[3]), None, uapi.MS_BIND | (uapi.MS_REC if op[4] else 0))
    elif kind == "make":
        task.mount(None, path(op[2]), None, TYPES[op[3]] | (uapi.MS_REC if op[4] else 0))
    elif kind == "move":
        task.mount(path(op[2]), path(op[3]), None, uapi.MS_MOVE)
    elif kind == "mount_flags":
        task.mount(None, path(op[2]), None, op[3])
    elif kind == "umount":
        task.umount(path(op[2]), uapi.MNT_DETACH if op[3] else 0)
    elif kind == "chroot":
        task.chroot(path(op[2]))
    elif kind == "chdir":
        task.chdir(path(op[2]))
    elif kind == "pivot_root":
        task.pivot_root(path(op[2]), path(op[3]))
    elif kind == "listdir":
        return sorted(task.listdir(op[2]))
    elif kind == "view":
        fd = task.open("/proc/self/mountinfo")
        text = b""
        while chunk := task.read(fd, 65536):
            text += chunk
        task.close(fd)
        return text.decode()
    else:
        raise ValueError(f"unknown op {op!r}")
    return "ok"


# ---------------------------------------------------------------------------------------
# Scenarios

SHARED_AB = [  # a shared tmpfs at a, and b a bind of it: a and b are peers
    ["mkdir", "A", "a"],
    ["tmpfs", "A", "a", "s1"],
    ["make", "A", "a", "shared", False],
    ["mkdir", "A", "b"],
    ["bind", "A", "a", "b", False],
]

SCENARIOS: dict[str, list[list[Any]]] = {
    "peers_receive_mounts": [
        *SHARED_AB,
        ["mkdir", "A", "a/x"],
        ["tmpfs", "A", "a/x", "s2"],
        ["view", "A"],
    ],
    "peers_receive_umounts": [
        *SHARED_AB,
        ["mkdir", "A", "a/x"],
        ["tmpfs", "A", "b/x", "s2"],
        ["umount", "A", "a/x", False],
        ["view", "A"],
    ],
    "slave_receives_but_does_not_send": [
        *SHARED_AB,
        ["make", "A", "b", "slave", False],
        ["mkdir", "A", "a/x"],
        ["mkdir", "A", "a/y"],
        ["tmpfs", "A", "a/x", "s2"],
        ["tmpfs", "A", "b/y", "s3"],
        ["view", "A"],
        ["umount", "A", "a/x", False],
        ["view", "A"],
    ],
    "umount_keeps_a_peer_copy_with_submounts": [
        *SHARED_AB,
        ["mkdir", "A", "a/x"],
        ["tmpfs", "A", "a/x", "s2"],
        ["make", "A", "b/x", "private", False],
        ["mkdir", "A", "b/x/z"],
        ["tmpfs", "A", "b/x/z", "s3"],
        ["umount", "A", "a/x", False],
        ["view", "A"],
    ],
    "lazy_umount_across_peers": [
        *SHARED_AB,
        ["mkdir", "A", "a/x"],
        ["tmpfs", "A", "a/x", "s2"],
        ["mkdir", "A", "a/x/y"],
        ["tmpfs", "A", "a/x/y", "s3"],
        ["umount", "A", "b/x", False],
        ["umount", "A", "b/x", True],
        ["view", "A"],
    ],
    "new_namespace_copies_are_peers": [
        ["mkdir", "A", "a"],
        ["tmpfs", "A", "a", "s1"],
        ["make", "A", "a", "shared", False],
        ["newns", "B", "A"],
        ["mkdir", "A", "a/x"],
        ["tmpfs", "A", "a/x", "s2"],
        ["mkdir", "B", "a/y"],
        ["tmpfs", "B", "a/y", "s3"],
        ["view", "A"],
        ["view", "B"],
    ],
    "rslave_namespace": [
        ["mkdir", "A", "a"],
        ["tmpfs", "A", "a", "s1"],
        ["mkdir", "A", "a/sub"],
        ["tmpfs", "A", "a/sub", "s4"],
        ["make", "A", "a", "shared", True],
        ["newns", "B", "A"],
        ["make", "B", "!/", "slave", True],
        ["mkdir", "A", "a/x"],
        ["tmpfs", "A", "a/x", "s2"],
        ["mkdir", "B", "a/y"],
        ["tmpfs", "B", "a/y", "s3"],
        ["umount", "A", "a/sub", False],
        ["view", "A"],
        ["view", "B"],
    ],
    "shared_slave_chain_and_propagate_from": [
        ["mkdir", "A", "a"],
        ["tmpfs", "A", "a", "s1"],
        ["make", "A", "a", "shared", False],
        ["newns", "B", "A"],
        ["make", "B", "a", "slave", False],
        ["make", "B", "a", "shared", False],
        ["newns", "C", "B"],
        ["make", "C", "a", "slave", False],
        ["mkdir", "A", "a/x"],
        ["tmpfs", "A", "a/x", "s2"],
        ["view", "A"],
        ["view", "B"],
        ["view", "C"],
    ],
    "unbindable": [
        ["mkdir", "A", "a"],
        ["tmpfs", "A", "a", "s1"],
        ["mkdir", "A", "a/u"],
        ["tmpfs", "A", "a/u", "s2"],
        ["make", "A", "a/u", "unbindable", False],
        ["mkdir", "A", "b"],
        ["bind", "A", "a/u", "b", False],
        ["bind", "A", "a", "b", True],
        ["newns", "B", "A"],
        ["view", "A"],
        ["view", "B"],
        ["make", "A", "a/u", "shared", False],
        ["view", "A"],
    ],
    "tucked_under_an_existing_mount": [
        *SHARED_AB,
        ["make", "A", "b", "slave", False],
        ["mkdir", "A", "a/x"],
        ["tmpfs", "A", "b/x", "s2"],
        ["tmpfs", "A", "a/x", "s3"],
        ["view", "A"],
    ],
    "change_type_errors": [
        ["mkdir", "A", "a"],
        ["tmpfs", "A", "a", "s1"],
        ["mkdir", "A", "a/d"],
        ["make", "A", "a/d", "shared", False],
        ["mount_flags", "A", "a", TYPES["shared"] | TYPES["slave"]],
        ["mount_flags", "A", "a", TYPES["shared"] | 1],  # MS_RDONLY
        ["mount_flags", "A", "a", TYPES["private"] | 2],  # MS_NOSUID: dropped
        ["view", "A"],
    ],
    "move_mount": [
        ["mkdir", "A", "a"],
        ["tmpfs", "A", "a", "s1"],
        ["mkdir", "A", "a/d"],
        ["touch", "A", "a/f"],
        ["mkdir", "A", "b"],
        ["tmpfs", "A", "b", "s2"],
        ["mkdir", "A", "b/in"],
        ["move", "A", "a/d", "b"],  # not a mount root
        ["move", "A", "a", "a/d"],  # under itself
        ["move", "A", "a", "a/f"],  # a directory onto a file
        ["move", "A", "missing", "b"],
        ["move", "A", "b", "a/d"],
        ["view", "A"],
        ["make", "A", "", "shared", False],  # the scratch root: a's parent
        ["move", "A", "a", "b"],  # from a shared parent
        ["make", "A", "", "private", False],
        ["make", "A", "a/d", "unbindable", False],
        ["make", "A", "a/d/in", "shared", False],
        ["move", "A", "a/d", "a/d/in"],  # under itself
        ["mkdir", "A", "c"],
        ["move", "A", "a/d", "c"],
        ["view", "A"],
    ],
    "chroot_errors": [
        ["mkdir", "A", "d"],
        ["touch", "A", "f"],
        ["mkdir", "A", "closed"],
        ["chmod", "A", "closed", 0o700],
        ["chroot", "A", "missing"],
        ["chroot", "A", "f"],
        ["become", 1000],
        ["chroot", "A", "closed"],
        ["chroot", "A", "d"],
        ["chroot", "A", "missing"],
    ],
    "chroot_then_listdir": [
        ["mkdir", "A", "d"],
        ["mkdir", "A", "d/inside"],
        ["chdir", "A", "d"],
        ["chroot", "A", "d"],
        ["listdir", "A", "/"],
        ["listdir", "A", "/.."],
    ],
    "pivot_root_errors": [
        ["mkdir", "A", "new"],
        ["tmpfs", "A", "new", "s1"],
        ["mkdir", "A", "new/old"],
        ["mkdir", "A", "plain"],
        ["mkdir", "A", "plain/old"],
        ["touch", "A", "file"],
        ["mkdir", "A", "other"],
        ["pivot_root", "A", "missing", "new/old"],
        ["pivot_root", "A", "file", "new/old"],
        ["pivot_root", "A", "new", "file"],
        ["pivot_root", "A", "plain", "plain/old"],  # not a mount point
        ["pivot_root", "A", "new", "other"],  # put_old not under new_root
        ["pivot_root", "A", "!/tmp", "new/old"],  # new_root on the root mount
        ["make", "A", "", "shared", False],  # new_root's parent shared
        ["pivot_root", "A", "new", "new/old"],
        ["make", "A", "", "private", False],
        ["become", 1000],
        ["pivot_root", "A", "missing", "new/old"],
    ],
    "lazy_umount_of_a_copied_tree_reaches_back": [
        ["mkdir", "A", "a"],
        ["tmpfs", "A", "a", "s1"],
        ["make", "A", "a", "shared", False],
        ["mkdir", "A", "a/x"],
        ["tmpfs", "A", "a/x", "s2"],
        ["newns", "B", "A"],
        ["umount", "B", "", True],  # the scratch copy: private parent of a peer of a
        ["view", "A"],
    ],
    "pivot_root_like_runc": [
        ["mkdir", "A", "rootfs"],
        ["tmpfs", "A", "rootfs", "s1"],
        ["mkdir", "A", "rootfs/etc"],
        ["chdir", "A", "rootfs"],
        ["pivot_root", "A", "!.", "!."],
        ["umount", "A", "!.", True],
        ["chdir", "A", "!/"],
        ["listdir", "A", "/"],
        ["tmpfs", "A", "!/etc", "s2"],  # the new root is still mounted
        ["listdir", "A", "/etc"],
    ],
}


RECORDED = Path(__file__).parent / "data" / "propagation_live.json"
RECORD_BASE = "/tmp/pinfs-prop-recorded"


@pytest.mark.skipif(not os.environ.get("PINFS_RECORD_PROPAGATION"), reason="recording only")
def test_record_live_runs() -> None:
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    out = {}
    for name, ops in sorted(SCENARIOS.items()):
        os.makedirs(RECORD_BASE, exist_ok=True)
        live = run_live(ops, RECORD_BASE)
        os.rmdir(RECORD_BASE)
        views = agent.normalize(live["views"], RECORD_BASE)
        out[name] = {"ops": ops, "results": live["results"], "views": views}
    RECORDED.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


@pytest.fixture
def base() -> Any:
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    where = tempfile.mkdtemp(prefix="pinfs-prop-")
    yield where
    os.rmdir(where)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_matches_live_kernel(name: str, base: str) -> None:
    ops = SCENARIOS[name]
    live = run_live(ops, base)
    model = run_pinfs(ops, base)
    assert model["results"] == live["results"]
    assert agent.normalize(model["views"], base) == agent.normalize(live["views"], base)
