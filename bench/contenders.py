"""The pinfs and pyfakefs loops of benchmarks (a), (b) and (c).

Every factory returns a :class:`Contender`: a :data:`~bench.timing.Timer` plus a
``check`` run after the timing (outside it) that asserts the loop left the simulated
machine as it found it, so a benchmark that silently stopped doing work would fail.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

import pinfs
from bench.timing import Timer

__all__ = [
    "DEPTH_DIRS",
    "Contender",
    "fakefs_available",
    "fakefs_create",
    "fakefs_mkdir",
    "pinfs_create",
    "pinfs_cycle",
    "pinfs_get_depth",
    "pinfs_mkdir",
    "pinfs_setup",
]

BPFFS = "/sys/fs/bpf"
#: depth k: the pin sits under k directories below the bpffs root (d1/d2/.../dk/m).
DEPTH_DIRS = 16
CREATE_FLAGS = os.O_CREAT | os.O_WRONLY


@dataclasses.dataclass
class Contender:
    timer: Timer
    check: Callable[[], None]


def depth_path(root: str, depth: int) -> str:
    return root + "".join(f"/d{i}" for i in range(1, depth + 1)) + "/m"


def pinfs_setup() -> tuple[pinfs.Kernel, pinfs.Task, int]:
    """A fresh kernel with a bpffs on /sys/fs/bpf and one ARRAY 4/4/1 map (fd)."""
    k = pinfs.Kernel()
    t = k.init_task
    t.mount("bpf", BPFFS, "bpf")
    fd = t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    return k, t, fd


def _check_quiet(k: pinfs.Kernel, expected_refcnt: int) -> Callable[[], None]:
    def check() -> None:
        k.check_invariants()
        refcnts = [o.refcnt for o in k.objects()]
        if refcnts != [expected_refcnt]:
            raise AssertionError(f"benchmark left objects behind: {k.objects()}")

    return check


def pinfs_cycle() -> Contender:
    """(a) OBJ_PIN + OBJ_GET + close + unlink of one map at /sys/fs/bpf/m."""
    k, t, fd = pinfs_setup()
    path = BPFFS + "/m"

    def timer(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            t.obj_pin(fd, path)
            g = t.obj_get(path)
            t.close(g)
            t.unlink(path)
        return time.perf_counter() - start

    return Contender(timer, _check_quiet(k, 1))


def pinfs_mkdir() -> Contender:
    """(b) mkdir + rmdir of /tmp/d on the root fs (ramfs)."""
    k, t, _ = pinfs_setup()
    path = "/tmp/d"

    def timer(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            t.mkdir(path)
            t.rmdir(path)
        return time.perf_counter() - start

    def check() -> None:
        _check_quiet(k, 1)()
        if t.listdir("/tmp"):
            raise AssertionError("mkdir benchmark left entries in /tmp")

    return Contender(timer, check)


def pinfs_create() -> Contender:
    """(b) open(O_CREAT|O_WRONLY) + close + unlink of /tmp/f on the root fs."""
    k, t, _ = pinfs_setup()
    path = "/tmp/f"

    def timer(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            f = t.open(path, CREATE_FLAGS, 0o644)
            t.close(f)
            t.unlink(path)
        return time.perf_counter() - start

    def check() -> None:
        _check_quiet(k, 1)()
        if t.listdir("/tmp"):
            raise AssertionError("create benchmark left entries in /tmp")

    return Contender(timer, check)


def pinfs_get_depth() -> tuple[Contender, Contender]:
    """(c) OBJ_GET + close of a pin at depth 1 and at depth 16 (one kernel, two pins)."""
    k, t, fd = pinfs_setup()
    d = BPFFS
    for i in range(1, DEPTH_DIRS + 1):
        d += f"/d{i}"
        t.mkdir(d, 0o700)
    shallow, deep = depth_path(BPFFS, 1), depth_path(BPFFS, DEPTH_DIRS)
    t.obj_pin(fd, shallow)
    t.obj_pin(fd, deep)

    def make(path: str) -> Timer:
        def timer(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                g = t.obj_get(path)
                t.close(g)
            return time.perf_counter() - start

        return timer

    check = _check_quiet(k, 3)
    return Contender(make(shallow), check), Contender(make(deep), check)


# --------------------------------------------------------------------------- pyfakefs


def fakefs_available() -> str | None:
    """``None`` if pyfakefs can be imported, else the reason it cannot."""
    try:
        import pyfakefs.fake_filesystem
        import pyfakefs.fake_os  # noqa: F401
    except ImportError as e:
        return f"pyfakefs is not installed ({e}); pip install -e '.[bench]'"
    return None


def _fakefs() -> Any:
    from pyfakefs.fake_filesystem import FakeFilesystem
    from pyfakefs.fake_os import FakeOsModule

    fos = FakeOsModule(FakeFilesystem())
    fos.makedirs("/tmp", exist_ok=True)
    return fos


def fakefs_mkdir() -> Contender:
    """(b) pyfakefs (explicit FakeOsModule, no patching): mkdir + rmdir of /tmp/d."""
    fos = _fakefs()
    path = "/tmp/d"

    def timer(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fos.mkdir(path)
            fos.rmdir(path)
        return time.perf_counter() - start

    def check() -> None:
        if fos.listdir("/tmp"):
            raise AssertionError("pyfakefs mkdir benchmark left entries in /tmp")

    return Contender(timer, check)


def fakefs_create() -> Contender:
    """(b) pyfakefs: os.open(O_CREAT|O_WRONLY) + close + unlink of /tmp/f."""
    fos = _fakefs()
    path = "/tmp/f"

    def timer(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            f = fos.open(path, CREATE_FLAGS, 0o644)
            fos.close(f)
            fos.unlink(path)
        return time.perf_counter() - start

    def check() -> None:
        if fos.listdir("/tmp"):
            raise AssertionError("pyfakefs create benchmark left entries in /tmp")

    return Contender(timer, check)
