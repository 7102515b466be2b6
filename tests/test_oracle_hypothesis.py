"""Random scripts, step for step on the live kernel and on pinfs (LINUX_6_18).

Hypothesis draws a few tasks (root, two users, forked children) and a script of map
and program creation, pin, get, close, map updates and lookups, unlink, mkdir, rmdir,
chmod, chown, rename, link, symlink, stat, listdir, fork, exit, umask, unshare and
nested mounts over a small set of names in a fresh bpffs.  One live sandbox serves the
whole module; each example gets its own directory and bpffs instance (detached at the
end) and its own tasks.  50 derandomised examples (500 random ones under
``--hypothesis-profile=nightly``).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pinfs.base.profiles
from pinfs import scenario as S
from pinfs.live.kernel import LiveKernel
from pinfs.oracle import compare
from support import budget

pytestmark = pytest.mark.live

TASKS = (
    "task root uid=0 gid=0 groups= caps=all umask=022\n"
    "task user uid=1000 gid=1000 groups=1000 caps= umask=022\n"
    "task user2 uid=1001 gid=1001 groups=1001,1000 caps= umask=022\n"
)
NAMES = ("a", "b", "c.d", "d1/a", "d1/b", "d1/d2/a", "e/a")
DIRS = ("d1", "d1/d2", "e", "d1/e")
MODES = ("0o600", "0o644", "0o666", "0o000", "0o755", "0o777", "0o1777", "0o2775")
MOUNT_DATA = ("", " 0 mode=0700", " 0 uid=1000,gid=1000", " 0 mode=0777")
OPS = (
    ["map_create"] * 3
    + ["prog_load", "obj_pin", "obj_pin", "obj_pin", "obj_get", "obj_get", "close", "update"]
    + ["lookup", "unlink", "mkdir", "mkdir", "rmdir", "chmod", "chown", "rename"]
    + ["link", "symlink", "stat", "listdir", "fork", "exit", "umask"]
    + ["unshare", "mount", "umount"]
)
_BASE = itertools.count()


@st.composite
def scripts(draw: st.DrawFn) -> list[str]:
    """Steps with ``{B}`` for the example's base directory."""
    tasks: dict[str, list[str]] = {"root": [], "user": [], "user2": []}  # task -> its fd labels
    forked: list[str] = []
    root_children: set[str] = set()
    counter = itertools.count(1)
    lines = [
        "root mkdir {B} 0o755 -> ok",
        "root mount bpf {B} bpf" + draw(st.sampled_from(MOUNT_DATA)),
    ]
    # An optional preamble, so that many scripts start from a populated tree.
    if draw(st.booleans()):
        lines += ["root mkdir {B}/d1 0o777", "root mkdir {B}/e 0o755"]
    if draw(st.booleans()):
        lines += [
            "root map_create BPF_MAP_TYPE_ARRAY 4 4 2 -> fd $m0",
            "root obj_pin $m0 {B}/a",
            f"root chmod {{B}}/a {draw(st.sampled_from(MODES))}",
        ]
        tasks["root"].append("m0")
    for _ in range(draw(st.integers(1, 25))):
        op = draw(st.sampled_from(OPS))
        privileged = [t for t in tasks if t == "root" or t in root_children]
        if op in ("map_create", "prog_load") and draw(st.integers(0, 4)):
            task = draw(st.sampled_from(privileged))
        else:
            task = draw(st.sampled_from(sorted(tasks)))
        fds = tasks[task]
        path = "{B}/" + draw(st.sampled_from(NAMES))
        dirp = "{B}/" + draw(st.sampled_from(DIRS))
        n = next(counter)
        if op == "map_create":
            kind = draw(st.sampled_from(["BPF_MAP_TYPE_ARRAY", "BPF_MAP_TYPE_HASH"]))
            lines.append(f"{task} map_create {kind} 4 4 2 -> fd $m{n}")
            fds.append(f"m{n}")
        elif op == "prog_load":
            lines.append(f"{task} prog_load BPF_PROG_TYPE_SOCKET_FILTER INSNS_RET0 -> fd $p{n}")
            fds.append(f"p{n}")
        elif op == "obj_pin" and fds:
            lines.append(f"{task} obj_pin ${draw(st.sampled_from(fds))} {path}")
        elif op == "obj_get":
            flags = draw(st.sampled_from(["", " BPF_F_RDONLY", " BPF_F_WRONLY"]))
            lines.append(f"{task} obj_get {path}{flags} -> fd $g{n}")
            fds.append(f"g{n}")
        elif op == "close" and fds:
            lines.append(f"{task} close ${draw(st.sampled_from(fds))}")
        elif op in ("update", "lookup") and fds:
            label, key = draw(st.sampled_from(fds)), draw(st.integers(0, 2))
            if op == "update":
                lines.append(f"{task} map_update_elem ${label} le32({key}) le32({n})")
            else:
                lines.append(f"{task} map_lookup_elem ${label} le32({key})")
        elif op == "unlink":
            lines.append(f"{task} unlink {path}")
        elif op == "mkdir":
            lines.append(f"{task} mkdir {dirp} {draw(st.sampled_from(MODES))}")
        elif op == "rmdir":
            lines.append(f"{task} rmdir {dirp}")
        elif op == "chmod":
            lines.append(
                f"{task} chmod {draw(st.sampled_from([path, dirp]))} {draw(st.sampled_from(MODES))}"
            )
        elif op == "chown":
            uid, gid = draw(st.sampled_from([0, 1000, 1001])), draw(st.sampled_from([0, 1000]))
            lines.append(f"{task} chown {draw(st.sampled_from([path, dirp]))} {uid} {gid}")
        elif op == "rename":
            flags = draw(st.sampled_from(["", " RENAME_NOREPLACE", " RENAME_EXCHANGE"]))
            lines.append(f"{task} rename {path} {draw(st.sampled_from([path, dirp]))}{flags}")
        elif op == "link":
            lines.append(f"{task} link {path} {{B}}/{draw(st.sampled_from(NAMES))}")
        elif op == "symlink":
            target = draw(st.sampled_from([path, dirp, "a", "../a"]))
            lines.append(f"{task} symlink {target} {{B}}/{draw(st.sampled_from(NAMES))}")
        elif op == "stat":
            lines.append(f"{task} {draw(st.sampled_from(['stat', 'lstat']))} {path}")
        elif op == "listdir":
            lines.append(f"{task} listdir {draw(st.sampled_from(['{B}', dirp]))}")
        elif op == "fork":
            child = f"c{n}"
            lines.append(f"{task} fork -> task {child}")
            tasks[child] = list(fds)
            forked.append(child)
            if task == "root" or task in root_children:
                root_children.add(child)
        elif op == "exit" and task in forked:
            lines.append(f"{task} exit")
            del tasks[task]
            forked.remove(task)
        elif op == "unshare":
            lines.append(f"{task} unshare CLONE_NEWNS")
        elif op == "mount":
            lines.append(f"{task} mount bpf {dirp} bpf")
        elif op == "umount":
            flags = draw(st.sampled_from(["", " MNT_DETACH"]))
            lines.append(f"{task} umount {dirp}{flags}")
        elif op == "umask":
            lines.append(
                f"{task} umask {draw(st.sampled_from(['0o000', '0o022', '0o077', '0o377']))}"
            )
    lines.append("root umount {B} MNT_DETACH")
    return lines


@settings(
    max_examples=budget(50),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(script=scripts())
def test_random_scripts_agree(live: LiveKernel, script: list[str]) -> None:
    base = f"/h{next(_BASE)}"
    text = TASKS + "\n".join(line.replace("{B}", base) for line in script) + "\n"
    scenario = S.loads(text, f"generated{base.replace('/', '-')}")
    report = compare(scenario, pinfs.base.profiles.LINUX_6_18, live=live)
    if report.disagreements:
        pytest.fail(text + "\n" + report.format(only_problems=True), pytrace=False)
