"""dcache_readdir's cursor between getdents64 calls, on pinfs and on the live kernel.

The kernel keeps a cursor dentry inside the directory's child list; pinfs keeps the
entry the cursor sits before (``File.f_cursor``) and moves it on when that entry
leaves the list (``d_unlink``).  The script makes, removes, renames and exchanges
entries between short reads, seeks into the middle and past the end, and reads an
empty directory before it gets an entry.  It runs on bpffs, whose directories list
through ``dcache_readdir`` (tmpfs lists through stable offsets since 6.6), in a
private mount namespace; every step records the names one getdents64 call returned,
in order.
"""

from __future__ import annotations

import errno
import os
import random
from typing import Any

import pytest

import pinfs
from pinfs.base.profiles import LINUX_6_18
from pinfs.fs.readdir import parse_dirents

CLONE_NEWNS = 0x20000
MS_REC, MS_PRIVATE = 1 << 14, 1 << 18
RENAME_EXCHANGE = 2
TWO = 48  # two 24-byte records ("." or a two-letter name) per call


def private_bpffs_dir(t: Any, base: str) -> str:
    """A directory ``base/d`` on a fresh bpffs at ``base``, in the task's own mount
    namespace (so the live side leaves the host's mounts alone)."""
    t.unshare(CLONE_NEWNS)
    t.mount("none", "/", None, MS_REC | MS_PRIVATE)
    t.mkdir(base)
    t.mount("bpf", base, "bpf")
    t.mkdir(f"{base}/d")
    return f"{base}/d"


def cursor_script(t: Any, base: str) -> list[Any]:
    out: list[Any] = []
    d = private_bpffs_dir(t, base)
    for i in range(10):
        t.mkdir(f"{d}/e{i}")

    def dents(fd: int, count: int = TWO) -> Any:
        try:
            return [e.d_name for e in parse_dirents(t.getdents64(fd, count))]
        except OSError as e:
            return errno.errorcode[e.errno or 0]

    fd = t.open(d, os.O_RDONLY | os.O_DIRECTORY)
    other = t.open(d, os.O_RDONLY | os.O_DIRECTORY)  # with a cursor of its own
    out.append(dents(fd))  # . ..
    out.append(dents(fd))  # e9 e8: the cursor sits before e7
    t.rmdir(f"{d}/e7")  # the entry after the cursor goes
    t.mkdir(f"{d}/n1")  # a new name at the head
    out.append(dents(fd))
    t.rename(f"{d}/e4", f"{d}/r4")  # the next one is renamed: to the head
    t.rename(f"{d}/e9", f"{d}/r9")  # one already listed is renamed
    out.append(dents(fd))
    t.rename(f"{d}/e1", f"{d}/e8", RENAME_EXCHANGE)  # the next one and a listed one
    out.append(dents(fd))
    out.append(dents(fd))  # the end
    t.mkdir(f"{d}/n2")
    out.append(dents(fd))  # still the end
    out.append(dents(other, 4096))  # the other fd lists everything, newest first

    out.append(t.lseek(fd, 4))  # after two entries
    t.rmdir(f"{d}/n2")  # one before the cursor goes
    t.rmdir(f"{d}/e1")  # ... and the one the cursor sits before
    out.append(dents(fd, 4096))
    out.append(t.lseek(fd, 2))  # position 2: from the head again
    out.append(dents(fd, 4096))
    out.append(t.lseek(fd, 99))  # past the end
    t.mkdir(f"{d}/n3")
    out.append(dents(fd, 4096))

    for name in ("empty", "empty2"):
        t.mkdir(f"{base}/{name}")
    e = t.open(f"{base}/empty", os.O_RDONLY | os.O_DIRECTORY)
    out.append(dents(e, 4096))  # . .. and the end, at position 2
    t.mkdir(f"{base}/empty/x")
    out.append(dents(e, 4096))  # a read at position 2 starts from the head
    e2 = t.open(f"{base}/empty2", os.O_RDONLY | os.O_DIRECTORY)
    out.append(t.lseek(e2, 5))  # past the end of an empty directory
    t.mkdir(f"{base}/empty2/y")
    out.append(dents(e2, 4096))
    for fd_ in (fd, other, e, e2):
        t.close(fd_)
    return out


EXPECTED = [
    [".", ".."],
    ["e9", "e8"],
    ["e6", "e5"],
    ["e3", "e2"],
    ["e0"],
    [],
    [],
    [".", "..", "n2", "e8", "e1", "r9", "r4", "n1", "e6", "e5", "e3", "e2", "e0"],
    4,
    ["r9", "r4", "n1", "e6", "e5", "e3", "e2", "e0"],
    2,
    ["e8", "r9", "r4", "n1", "e6", "e5", "e3", "e2", "e0"],
    99,
    [],
    [".", ".."],
    ["x"],
    5,
    [],
]


def on_pinfs() -> list[Any]:
    k = pinfs.Kernel(LINUX_6_18)
    return cursor_script(k.init_task.fork(), "/tmp/readdir-cursor")


def test_the_cursor_stays_in_place_while_entries_come_and_go() -> None:
    assert on_pinfs() == EXPECTED


def test_closing_a_directory_drops_its_cursor() -> None:
    k = pinfs.Kernel(LINUX_6_18)
    t = k.init_task
    t.mkdir("/tmp/p")
    for name in "abc":
        t.mkdir(f"/tmp/p/{name}")
    fd = t.open("/tmp/p", os.O_RDONLY | os.O_DIRECTORY)
    file = t.files.fdget(fd)
    assert file.f_inode is not None
    sb = file.f_inode.i_sb
    t.getdents64(fd, 72)  # . .. c: the cursor sits before b
    assert file in sb.s_cursors and file.f_cursor is not None
    assert file.f_cursor.d_name == "b"
    t.close(fd)
    assert file not in sb.s_cursors and file.f_cursor is None


@pytest.mark.live
def test_the_cursor_agrees_with_the_live_kernel(live: Any) -> None:
    child = live.init_task.fork()
    try:
        on_live = cursor_script(child, "/tmp/readdir-cursor")
    finally:
        child.exit(0)
    assert on_pinfs() == on_live


def random_script(seed: int, steps: int = 300) -> Any:
    """Random mkdir/rmdir/rename/exchange between short reads and seeks of three fds."""

    def script(t: Any, base: str) -> list[Any]:
        rng = random.Random(seed)
        out: list[Any] = []
        d = private_bpffs_dir(t, base)
        names = [f"{a}{b}" for a in "abcdefgh" for b in "0123456789"]
        live: list[str] = []
        for name in rng.sample(names, 8):
            t.mkdir(f"{d}/{name}")
            live.append(name)
        fds = [t.open(d, os.O_RDONLY | os.O_DIRECTORY) for _ in range(3)]
        for _ in range(steps):
            op = rng.randrange(6)
            free = [n for n in names if n not in live]
            if op == 0 and free:
                name = rng.choice(free)
                t.mkdir(f"{d}/{name}")
                live.append(name)
            elif op == 1 and live:
                name = rng.choice(live)
                t.rmdir(f"{d}/{name}")
                live.remove(name)
            elif op == 2 and live and free:
                old, new = rng.choice(live), rng.choice(free)
                t.rename(f"{d}/{old}", f"{d}/{new}")
                live[live.index(old)] = new
            elif op == 3 and len(live) > 1:
                a, b = rng.sample(live, 2)
                t.rename(f"{d}/{a}", f"{d}/{b}", RENAME_EXCHANGE)
            elif op == 4:
                fd, count = rng.choice(fds), rng.choice((20, 24, 48, 72, 4096))
                try:
                    out.append([e.d_name for e in parse_dirents(t.getdents64(fd, count))])
                except OSError as e:
                    out.append(errno.errorcode[e.errno or 0])
            else:
                out.append(t.lseek(rng.choice(fds), rng.randrange(len(live) + 5)))
        for fd in fds:
            t.close(fd)
        return out

    return script


@pytest.mark.live
@pytest.mark.parametrize("seed", range(4))
def test_random_reads_between_changes_agree_with_the_live_kernel(live: Any, seed: int) -> None:
    script = random_script(seed)
    child = live.init_task.fork()
    try:
        on_live = script(child, f"/tmp/readdir-random-{seed}")
    finally:
        child.exit(0)
    on_pinfs = script(pinfs.Kernel(LINUX_6_18).init_task.fork(), f"/tmp/readdir-random-{seed}")
    bad = [
        f"step {i}: pinfs {a!r}, live {b!r}"
        for i, (a, b) in enumerate(zip(on_pinfs, on_live, strict=True))
        if a != b
    ]
    assert not bad, "\n".join(bad[:5])
