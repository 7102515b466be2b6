"""Open a pinned map if it is there and compatible, else create and pin a new one.

The reuse rule is libbpf's ``map_is_reuse_compat`` (tools/lib/bpf/libbpf.c) in
spirit: type, key size, value size and max_entries must all match the spec, or the
loader refuses (it never silently uses a map of another shape). Written against
``pinfs.Task``: nothing here knows it runs on a simulated kernel.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import pinfs


class MapSpec(NamedTuple):
    """What the loader needs: ``bpf_map_def`` of an ELF object, in short."""

    map_type: int
    key_size: int
    value_size: int
    max_entries: int


class Mismatch(Exception):
    """The pinned map exists but has another shape: the field that differs."""


class TaskLike(Protocol):
    """The part of ``pinfs.Task`` the loader uses (a DrivenTask has it too)."""

    def obj_get(self, path: str) -> int: ...
    def obj_pin(self, fd: int, path: str) -> None: ...
    def map_create(
        self, map_type: int, key_size: int, value_size: int, max_entries: int
    ) -> int: ...
    def close(self, fd: int) -> None: ...
    def fd_map(self, fd: int) -> pinfs.BpfMap: ...


def pin_or_reuse(task: TaskLike, path: str, spec: MapSpec) -> tuple[int, bool]:
    """The fd of the map pinned at ``path`` (reused) or of a new one pinned there.

    Returns ``(fd, reused)``. Raises :class:`Mismatch` if the pinned map has another
    shape, and the kernel's ``OSError`` for anything else (EACCES, EPERM, ...).
    """
    try:
        fd = task.obj_get(path)
    except FileNotFoundError:
        return _create_and_pin(task, path, spec), False
    found = task.fd_map(fd)
    for field in MapSpec._fields:
        want, have = getattr(spec, field), getattr(found, field)
        if want != have:
            task.close(fd)
            raise Mismatch(f"{path}: {field} is {have}, the loader needs {want}")
    return fd, True


def _create_and_pin(task: TaskLike, path: str, spec: MapSpec) -> int:
    fd = task.map_create(*spec)
    try:
        task.obj_pin(fd, path)
    except OSError:
        task.close(fd)  # leave nothing behind on failure
        raise
    return fd
