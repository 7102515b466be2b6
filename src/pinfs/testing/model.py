"""A deliberately simple reference model of who holds which bpf object.

:class:`RefModel` knows nothing of pinfs's internals.  It is told the *successful*
operations (``model.map_create(pid, fd, id, ...)``, ``model.close(pid, fd)``,
``model.umount(pid, "/sys/fs/bpf")``, ...) and works out, from what those operations
mean, every holder of every object: the open files (and the ``(pid, fd)`` pairs
pointing at each), the pins (per bpffs superblock), the programs' used maps and the
PROG_ARRAY slots.  An object's expected reference count is the number of its holders;
an object with none is freed, and what it held is let go (a cascade).

:meth:`RefModel.compare` holds that against ``kernel.objects()`` and the tasks' fd
tables, so a bookkeeping bug in the kernel (a missing put, a leaked file, a pin that
outlives its superblock) shows up even though ``kernel.check_invariants()`` computes
its holders from the same data the bug corrupted.

The model follows a restricted world exactly, and says so (:class:`ModelScopeError`)
when a successful operation leaves it:

* bpffs is mounted only on directories of the root filesystem (stacking several
  mounts on one of them is fine), never inside a bpffs and never by bind mount;
* paths contain no ``..`` and no symlinks (``.``, ``//`` and a trailing ``/`` are fine);
  a relative path from a cwd outside bpffs may only reach bpffs through a mount point
  below that cwd;
* renames, rmdirs and unlinks on the root filesystem do not touch a mount point or
  one of its ancestors.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from pinfs.base.uapi import O_CLOEXEC, O_PATH, RENAME_EXCHANGE
from pinfs.ebpf.attr import BPF_MAP_TYPE_PROG_ARRAY, BPF_PSEUDO_MAP_FD, BpfMapType, BpfProgType
from pinfs.machine.invariants import holder_values

if TYPE_CHECKING:
    from pinfs.base.profiles import Profile
    from pinfs.machine.invariants import ObjectInfo
    from pinfs.machine.kernel import Kernel

__all__ = ["ModelMismatch", "ModelScopeError", "RefModel", "kernel_slots"]

_LD_IMM64 = 0x18

Parts = tuple[str, ...]


class ModelMismatch(AssertionError):
    """The kernel disagrees with the reference model."""


class ModelScopeError(Exception):
    """A successful operation the model cannot follow (see the module docstring)."""


# ---------------------------------------------------------------------------------------
# Records


@attrs.define(eq=False)
class _Object:
    id: int
    kind: str  # "map" or "prog"
    type: int
    used_maps: list[int] = attrs.field(factory=list)  # progs: distinct map ids
    slots: dict[int, int] = attrs.field(factory=dict)  # PROG_ARRAY: index -> prog id

    @property
    def is_prog_array(self) -> bool:
        return self.kind == "map" and self.type == BPF_MAP_TYPE_PROG_ARRAY

    @property
    def type_name(self) -> str:
        return _type_name(self.kind, self.type)


@attrs.define(eq=False)
class _File:
    """An open file description: what it holds (an object, a bpffs mount, a pin)."""

    id: int
    obj: int | None = None
    mount: int | None = None
    pin: int | None = None
    nfds: int = 0  # fds (of any task) pointing at it


@attrs.define(eq=False)
class _Task:
    pid: int
    ns: int
    fds: dict[int, int] = attrs.field(factory=dict)  # fd -> file id
    cloexec: set[int] = attrs.field(factory=set)
    cwd_mount: int | None = None  # the bpffs mount of the cwd, or None (root fs)
    cwd: Parts = ()  # inside that mount's superblock, or an absolute root-fs path


@attrs.define(eq=False)
class _Mount:
    id: int
    sb: int
    ns: int | None  # None once detached
    where: Parts | None


@attrs.define(eq=False)
class _Namespace:
    id: int
    stacks: dict[Parts, list[int]] = attrs.field(factory=dict)  # mount point -> mounts


@attrs.define(eq=False)
class _Super:
    id: int
    key_ns: int  # mount_ns: one superblock per mount namespace


@attrs.define(eq=False)
class _Pin:
    id: int
    sb: int
    path: Parts | None  # None once unlinked (held only by O_PATH files)
    obj: int


# ---------------------------------------------------------------------------------------
# The model


class RefModel:
    """Who holds what, from the meaning of each successful operation.

    ``flush_prog_array_on_last_uref`` selects when a PROG_ARRAY empties its slots:
    on every release of one of its files (False, the seed, S95) or when its last file
    and pin are gone (True, c9da161c6517).  Boot state: pid 1 in mount namespace 1
    with the console open as fds 0, 1 and 2 (one file holding nothing; none with
    ``console=False``, the model of a ``Kernel(console=False)``), nothing mounted on
    bpffs, no objects.
    """

    def __init__(
        self,
        flush_prog_array_on_last_uref: bool = False,
        instance_per_mount: bool = False,
        console: bool = True,
    ) -> None:
        self.flush_on_last_uref = flush_prog_array_on_last_uref
        self.instance_per_mount = instance_per_mount
        self.objects: dict[int, _Object] = {}
        self.files: dict[int, _File] = {}
        self.tasks: dict[int, _Task] = {1: _Task(pid=1, ns=1)}
        self.namespaces: dict[int, _Namespace] = {1: _Namespace(1)}
        self.mounts: dict[int, _Mount] = {}
        self.supers: dict[int, _Super] = {}
        self.pins: dict[int, _Pin] = {}
        self._sizes: dict[int, tuple[int, int]] = {}
        # Holder counts kept as operations happen (all holders, and files + pins), so
        # that letting go is cheap; expected() recounts from scratch.
        self._refs: dict[int, int] = {}
        self._urefs: dict[int, int] = {}
        self._vfs_dirty = False  # a mount, cwd, namespace or pin holder may have gone
        self._next = {"file": 0, "mount": 0, "sb": 0, "pin": 0, "ns": 1}
        if console:  # console_on_rootfs: one file at fds 0, 1 and 2 of init
            console_file = _File(self._new("file"), nfds=3)
            self.files[console_file.id] = console_file
            self.tasks[1].fds = dict.fromkeys((0, 1, 2), console_file.id)

    @classmethod
    def for_profile(cls, profile: Profile, console: bool = True) -> RefModel:
        """The model of a kernel running ``profile`` (booted with a console unless
        ``console`` is False): its PROG_ARRAY flush rule and whether every bpffs mount
        is a new instance (e27f4a942a0e)."""
        return cls(
            flush_prog_array_on_last_uref=profile.prog_array_flush_on_last_uref,
            instance_per_mount=bool(getattr(profile, "instance_per_mount", False)),
            console=console,
        )

    def __repr__(self) -> str:
        return (
            f"<RefModel {len(self.tasks)} tasks, {len(self.objects)} objects, "
            f"{len(self.pins)} pins>"
        )

    def _new(self, what: str) -> int:
        self._next[what] += 1
        return self._next[what]

    # -- lookups ------------------------------------------------------------------------

    def task(self, pid: int) -> _Task:
        try:
            return self.tasks[pid]
        except KeyError:
            raise ModelMismatch(f"pid {pid} succeeded but the model has no such task") from None

    def file_at(self, pid: int, fd: int) -> _File:
        file_id = self.task(pid).fds.get(fd)
        if file_id is None:
            raise ModelMismatch(f"pid {pid} fd {fd} used successfully but the model has it closed")
        return self.files[file_id]

    def object_at(self, pid: int, fd: int, kind: str | None = None) -> _Object:
        file = self.file_at(pid, fd)
        obj = self.objects.get(file.obj) if file.obj is not None else None
        if obj is None or (kind is not None and obj.kind != kind):
            raise ModelMismatch(f"pid {pid} fd {fd} is not a bpf {kind or 'object'} in the model")
        return obj

    def lowest_free_fd(self, pid: int, start: int = 0) -> int:
        """The fd the next allocation from ``start`` must get (``__alloc_fd``)."""
        fds = self.task(pid).fds
        fd = start
        while fd in fds:
            fd += 1
        return fd

    def kind_of(self, pid: int, fd: int) -> str | None:
        """ "map", "prog", "prog_array", "file", or None if closed (for test drivers)."""
        task = self.tasks.get(pid)
        file_id = task.fds.get(fd) if task is not None else None
        if file_id is None:
            return None
        obj_id = self.files[file_id].obj
        if obj_id is None or obj_id not in self.objects:
            return "file"
        obj = self.objects[obj_id]
        return "prog_array" if obj.is_prog_array else obj.kind

    def map_sizes(self, obj_id: int) -> tuple[int, int] | None:
        """(key_size, value_size) if the model was told them (see :meth:`map_create`)."""
        return self._sizes.get(obj_id)

    # -- path resolution ----------------------------------------------------------------

    def resolve(self, pid: int, path: str | bytes) -> tuple[int, Parts] | None:
        """(bpffs mount id, path inside its superblock) for ``path`` as ``pid`` sees it,
        or None if it is on the root filesystem."""
        text = _text(path)
        parts = tuple(p for p in text.split("/") if p not in ("", "."))
        if ".." in parts:
            raise ModelScopeError(f"path with '..': {text!r}")
        if not text:
            raise ModelScopeError("empty path")
        task = self.task(pid)
        if text.startswith("/"):
            return self._through_mounts(task.ns, parts, below=None)
        if task.cwd_mount is not None:
            return task.cwd_mount, task.cwd + parts
        return self._through_mounts(task.ns, task.cwd + parts, below=task.cwd)

    def _through_mounts(
        self, ns: int, parts: Parts, below: Parts | None
    ) -> tuple[int, Parts] | None:
        best: Parts | None = None
        for where, stack in self.namespaces[ns].stacks.items():
            if not stack or parts[: len(where)] != where:
                continue
            if below is not None and len(where) <= len(below):
                continue  # the walk starts beneath any mount on the cwd itself
            if best is None or len(where) > len(best):
                best = where
        if best is None:
            return None
        return self.namespaces[ns].stacks[best][-1], parts[len(best) :]

    def _mountpoints(self) -> Iterable[Parts]:
        for ns in self.namespaces.values():
            for where, stack in ns.stacks.items():
                if stack:
                    yield where

    def _check_rootfs_change(self, pid: int, path: str | bytes) -> None:
        """A successful rename/rmdir/unlink on the root fs must not move a mount point."""
        text = _text(path)
        parts = tuple(p for p in text.split("/") if p not in ("", "."))
        task = self.task(pid)
        if not text.startswith("/"):
            parts = task.cwd + parts
        for where in self._mountpoints():
            if where[: len(parts)] == parts:
                raise ModelScopeError(f"{text!r} is (above) a mount point")

    # -- processes ----------------------------------------------------------------------

    def fork(self, parent: int, child: int) -> None:
        """fork(2) (and ``kernel.spawn``, a fork of init): the same files and cwd."""
        p = self.task(parent)
        if child in self.tasks:
            raise ModelMismatch(f"fork returned pid {child}, which is still alive")
        self.tasks[child] = _Task(
            pid=child,
            ns=p.ns,
            fds=dict(p.fds),
            cloexec=set(p.cloexec),
            cwd_mount=p.cwd_mount,
            cwd=p.cwd,
        )
        for file_id in p.fds.values():
            self.files[file_id].nfds += 1

    def exit(self, pid: int) -> None:
        """exit(2): every fd closed, the cwd and the namespace let go."""
        task = self.task(pid)
        for fd in sorted(task.fds):
            self._close(task, fd)
        del self.tasks[pid]
        self._vfs_dirty = True
        self._settle()

    def execve(self, pid: int) -> None:
        """execve(2): close-on-exec fds are closed."""
        task = self.task(pid)
        for fd in sorted(task.cloexec):
            self._close(task, fd)
        self._settle()

    # -- files --------------------------------------------------------------------------

    def _install(
        self, pid: int, fd: int, file: _File, cloexec: bool, lowest_from: int | None = 0
    ) -> None:
        task = self.task(pid)
        expected = fd if lowest_from is None else self.lowest_free_fd(pid, lowest_from)
        if fd != expected:
            raise ModelMismatch(f"pid {pid} got fd {fd}, but the lowest free fd is {expected}")
        if not file.nfds:
            self.files[file.id] = file
            if file.obj is not None:
                self._ref(file.obj, +1, user=True)
        file.nfds += 1
        task.fds[fd] = file.id
        if cloexec:
            task.cloexec.add(fd)

    def _close(self, task: _Task, fd: int) -> None:
        file = self.files[task.fds.pop(fd)]
        task.cloexec.discard(fd)
        file.nfds -= 1
        if file.nfds:
            return
        del self.files[file.id]
        if file.mount is not None or file.pin is not None:
            self._vfs_dirty = True
        obj = self.objects.get(file.obj) if file.obj is not None else None
        if obj is not None:
            if obj.is_prog_array and not self.flush_on_last_uref:
                self._clear_slots(obj)  # the seed's bpf_map_release (S95)
            self._ref(obj.id, -1, user=True)

    def close(self, pid: int, fd: int) -> None:
        """close(2)."""
        task = self.task(pid)
        if fd not in task.fds:
            raise ModelMismatch(f"pid {pid} closed fd {fd}, which the model has closed")
        self._close(task, fd)
        self._settle()

    def dup(self, pid: int, fd: int, new_fd: int) -> None:
        """dup(2): the same file, not close-on-exec."""
        file = self.file_at(pid, fd)
        self._install(pid, new_fd, file, cloexec=False)

    def dup_to(self, pid: int, fd: int, new_fd: int, cloexec: bool) -> None:
        """dup2(2)/dup3(2): the same file at ``new_fd``; what was there is closed
        after the install (``do_dup2``), so a dup onto its own file keeps it."""
        task = self.task(pid)
        file = self.file_at(pid, fd)
        displaced = -1 - new_fd
        if new_fd in task.fds:
            task.fds[displaced] = task.fds.pop(new_fd)
        task.cloexec.discard(new_fd)
        self._install(pid, new_fd, file, cloexec, lowest_from=None)
        if displaced in task.fds:
            self._close(task, displaced)
            self._settle()

    def dupfd(self, pid: int, fd: int, start: int, new_fd: int, cloexec: bool) -> None:
        """fcntl(F_DUPFD/F_DUPFD_CLOEXEC): the lowest free fd >= ``start``."""
        self._install(pid, new_fd, self.file_at(pid, fd), cloexec, lowest_from=start)

    def set_cloexec(self, pid: int, fd: int, on: bool) -> None:
        """fcntl(F_SETFD)."""
        self.file_at(pid, fd)
        cloexec = self.task(pid).cloexec
        if on:
            cloexec.add(fd)
        else:
            cloexec.discard(fd)

    def open(self, pid: int, path: str | bytes, flags: int, fd: int) -> None:
        """open(2): a new file holding the bpffs mount (and, for O_PATH, the pin)."""
        where = self.resolve(pid, path)
        file = _File(self._new("file"))
        if where is not None:
            mount_id, parts = where
            file.mount = mount_id
            pin = self._pin_at(self.mounts[mount_id].sb, parts)
            if pin is not None:
                if not flags & O_PATH:
                    raise ModelMismatch(f"open({path!r}) of a pinned object succeeded")
                file.pin = pin.id
        self._install(pid, fd, file, cloexec=bool(flags & O_CLOEXEC))

    def chdir(self, pid: int, path: str | bytes) -> None:
        """chdir(2)."""
        task = self.task(pid)
        where = self.resolve(pid, path)
        if where is None:
            text = _text(path)
            parts = tuple(p for p in text.split("/") if p not in ("", "."))
            task.cwd_mount, task.cwd = None, parts if text.startswith("/") else task.cwd + parts
        else:
            task.cwd_mount, task.cwd = where
        self._vfs_dirty = True
        self._settle()

    # -- bpf objects ---------------------------------------------------------------------

    def map_create(
        self,
        pid: int,
        fd: int,
        obj_id: int,
        map_type: int,
        key_size: int = 4,
        value_size: int = 4,
    ) -> None:
        """BPF_MAP_CREATE returned ``fd`` for the new map ``obj_id``."""
        self._new_object(pid, fd, _Object(obj_id, "map", map_type))
        self._sizes[obj_id] = (key_size, value_size)

    def prog_load(self, pid: int, fd: int, obj_id: int, prog_type: int, insns: bytes) -> None:
        """BPF_PROG_LOAD: the program holds each distinct map its LD_IMM64s name."""
        used: list[int] = []
        count = len(insns) // 8
        i = 0
        while i < count:
            code, regs = insns[8 * i], insns[8 * i + 1]
            if code == _LD_IMM64:
                if regs >> 4 == BPF_PSEUDO_MAP_FD:
                    map_fd = int.from_bytes(insns[8 * i + 4 : 8 * i + 8], "little")
                    map_id = self.object_at(pid, map_fd, "map").id
                    if map_id not in used:
                        used.append(map_id)
                i += 1
            i += 1
        self._new_object(pid, fd, _Object(obj_id, "prog", prog_type, used_maps=used))
        for map_id in used:
            self._ref(map_id, +1)

    def _new_object(self, pid: int, fd: int, obj: _Object) -> None:
        if obj.id in self.objects:
            raise ModelMismatch(f"new object got id {obj.id}, which is still in use")
        self.objects[obj.id] = obj
        self._refs[obj.id] = self._urefs[obj.id] = 0
        self._install(pid, fd, _File(self._new("file"), obj=obj.id), cloexec=True)

    def map_update(self, pid: int, fd: int, key: bytes, value: bytes) -> None:
        """BPF_MAP_UPDATE_ELEM: for a PROG_ARRAY, slot ``key`` now holds the program at
        fd ``value`` of the same task (the old occupant is let go)."""
        obj = self.object_at(pid, fd, "map")
        if obj.is_prog_array:
            prog = self.object_at(pid, int.from_bytes(value[:4], "little"), "prog")
            self._ref(prog.id, +1)
            old = obj.slots.get(int.from_bytes(key[:4], "little"))
            obj.slots[int.from_bytes(key[:4], "little")] = prog.id
            if old is not None:
                self._ref(old, -1)
            self._settle()

    def map_delete(self, pid: int, fd: int, key: bytes) -> None:
        """BPF_MAP_DELETE_ELEM: a PROG_ARRAY slot is emptied."""
        obj = self.object_at(pid, fd, "map")
        if obj.is_prog_array:
            index = int.from_bytes(key[:4], "little")
            old = obj.slots.pop(index, None)
            if old is None:
                raise ModelMismatch(f"deleting empty slot {index} of map {obj.id} succeeded")
            self._ref(old, -1)
            self._settle()

    def obj_pin(self, pid: int, fd: int, path: str | bytes) -> None:
        """BPF_OBJ_PIN: a new pin (one more holder) at ``path``."""
        obj = self.object_at(pid, fd)
        where = self.resolve(pid, path)
        if where is None:
            raise ModelMismatch(f"OBJ_PIN at {path!r} succeeded outside bpffs")
        sb = self.mounts[where[0]].sb
        if self._pin_at(sb, where[1]) is not None:
            raise ModelMismatch(f"OBJ_PIN at {path!r} succeeded over an existing pin")
        pin_id = self._new("pin")
        self.pins[pin_id] = _Pin(pin_id, sb, where[1], obj.id)
        self._ref(obj.id, +1, user=True)

    def obj_get(self, pid: int, path: str | bytes, fd: int) -> None:
        """BPF_OBJ_GET: a new file on the object pinned at ``path``."""
        where = self.resolve(pid, path)
        pin = self._pin_at(self.mounts[where[0]].sb, where[1]) if where is not None else None
        if pin is None:
            raise ModelMismatch(f"OBJ_GET of {path!r} succeeded but nothing is pinned there")
        self._install(pid, fd, _File(self._new("file"), obj=pin.obj), cloexec=True)

    def _pin_at(self, sb: int, parts: Parts) -> _Pin | None:
        for pin in self.pins.values():
            if pin.sb == sb and pin.path == parts:
                return pin
        return None

    # -- the namespace ------------------------------------------------------------------

    def unlink(self, pid: int, path: str | bytes) -> None:
        """unlink(2): a pin is unlinked (and evicted unless an O_PATH file holds it)."""
        where = self.resolve(pid, path)
        if where is None:
            self._check_rootfs_change(pid, path)
            return
        pin = self._pin_at(self.mounts[where[0]].sb, where[1])
        if pin is None:  # a file that holds nothing (a later kernel's symlink, ...)
            return
        pin.path = None
        self._vfs_dirty = True
        self._settle()

    def rmdir(self, pid: int, path: str | bytes) -> None:
        """rmdir(2): nothing is held by an empty directory."""
        if self.resolve(pid, path) is None:
            self._check_rootfs_change(pid, path)

    def rename(self, pid: int, old: str | bytes, new: str | bytes, flags: int = 0) -> None:
        """renameat2(2).  At the seed bpffs only renames a name onto itself; with later
        kernels' ``rename_link_ops`` a pin or a directory (and every pin and cwd below
        it) moves, a pin it replaces is unlinked, RENAME_EXCHANGE swaps the two."""
        src, dst = self.resolve(pid, old), self.resolve(pid, new)
        if src is None and dst is None:
            self._check_rootfs_change(pid, old)
            self._check_rootfs_change(pid, new)
            return
        if src is None or dst is None or self.mounts[src[0]].sb != self.mounts[dst[0]].sb:
            raise ModelMismatch(f"rename({old!r}, {new!r}) across filesystems succeeded")
        sb, a, b = self.mounts[src[0]].sb, src[1], dst[1]
        if a == b:
            return
        if not flags & RENAME_EXCHANGE:
            victim = self._pin_at(sb, b)
            if victim is not None:
                victim.path = None  # replaced: unlinked
            self._move(sb, a, b)
        else:
            self._move(sb, a, (*b, "\0swap"))
            self._move(sb, b, a)
            self._move(sb, (*b, "\0swap"), b)
        self._vfs_dirty = True
        self._settle()

    def _move(self, sb: int, a: Parts, b: Parts) -> None:
        """Everything at or below ``a`` in ``sb`` is now at or below ``b``."""
        n = len(a)
        for pin in self.pins.values():
            if pin.sb == sb and pin.path is not None and pin.path[:n] == a:
                pin.path = b + pin.path[n:]
        for task in self.tasks.values():
            mount = self.mounts.get(task.cwd_mount) if task.cwd_mount is not None else None
            if mount is not None and mount.sb == sb and task.cwd[:n] == a:
                task.cwd = b + task.cwd[n:]

    def mount(self, pid: int, target: str | bytes) -> None:
        """mount -t bpf: the namespace's superblock (``mount_ns``), new if it has none
        (or always new, with ``instance_per_mount``), on top of whatever is mounted at
        ``target``."""
        task = self.task(pid)
        where = self.resolve(pid, target)
        text = _text(target)
        parts = tuple(p for p in text.split("/") if p not in ("", "."))
        if not text.startswith("/") or (where is not None and where[1]):
            raise ModelScopeError(f"bpffs mounted at {text!r} (inside bpffs or relative)")
        ns = self.namespaces[task.ns]
        for other, stack in ns.stacks.items():
            if stack and other != parts and other[: len(parts)] == parts:
                raise ModelScopeError(f"bpffs mounted above the mount point {other}")
        sb = None
        if not self.instance_per_mount:
            sb = next((s for s in self.supers.values() if s.key_ns == task.ns), None)
        if sb is None:
            sb = _Super(self._new("sb"), task.ns)
            self.supers[sb.id] = sb
        mount = _Mount(self._new("mount"), sb.id, task.ns, parts)
        self.mounts[mount.id] = mount
        ns.stacks.setdefault(parts, []).append(mount.id)

    def umount(self, pid: int, target: str | bytes) -> None:
        """umount2(2): the top mount at ``target`` is detached (with or without
        MNT_DETACH; it lives on while files or cwds use it)."""
        task = self.task(pid)
        where = self.resolve(pid, target)
        if where is None or where[1]:
            raise ModelScopeError(f"umount({target!r}) succeeded on something not bpffs")
        mount = self.mounts[where[0]]
        if mount.ns != task.ns or mount.where is None:
            raise ModelMismatch(f"umount({target!r}) detached a mount not in this namespace")
        self._detach(mount)
        self._vfs_dirty = True
        self._settle()

    def _detach(self, mount: _Mount) -> None:
        assert mount.ns is not None and mount.where is not None
        self.namespaces[mount.ns].stacks[mount.where].remove(mount.id)
        mount.ns = mount.where = None

    def unshare(self, pid: int) -> int:
        """unshare(CLONE_NEWNS): a copy of every mount (same superblocks) in a new
        namespace, whose id is returned; the cwd moves to its copy."""
        task = self.task(pid)
        old = self.namespaces[task.ns]
        new = _Namespace(self._new("ns"))
        self.namespaces[new.id] = new
        copies: dict[int, int] = {}
        for where, stack in old.stacks.items():
            for mount_id in stack:
                copy = _Mount(self._new("mount"), self.mounts[mount_id].sb, new.id, where)
                self.mounts[copy.id] = copy
                new.stacks.setdefault(where, []).append(copy.id)
                copies[mount_id] = copy.id
        if task.cwd_mount is not None:
            task.cwd_mount = copies.get(task.cwd_mount, task.cwd_mount)
        task.ns = new.id
        self._vfs_dirty = True
        self._settle()
        return new.id

    def namespace_of(self, pid: int) -> int:
        return self.task(pid).ns

    # -- lifetimes ------------------------------------------------------------------------

    def _ref(self, obj_id: int, delta: int, user: bool = False) -> None:
        self._refs[obj_id] += delta
        if user:
            self._urefs[obj_id] += delta

    def _clear_slots(self, obj: _Object) -> None:
        for prog_id in obj.slots.values():
            self._ref(prog_id, -1)
        obj.slots.clear()

    def _settle(self) -> None:
        """Let go of everything that lost its last holder, until nothing changes."""
        if self._vfs_dirty:
            self._vfs_dirty = False
            self._settle_vfs()
        changed = True
        while changed:
            changed = False
            for obj in list(self.objects.values()):
                if self.flush_on_last_uref and obj.slots and not self._urefs[obj.id]:
                    self._clear_slots(obj)  # bpf_map_put_uref (c9da161c6517)
                if not self._refs[obj.id]:
                    self._free(obj)
                    changed = True

    def _free(self, obj: _Object) -> None:
        del self.objects[obj.id], self._refs[obj.id], self._urefs[obj.id]
        self._sizes.pop(obj.id, None)
        for map_id in obj.used_maps:  # __prog_put_common
            self._ref(map_id, -1)
        self._clear_slots(obj)  # bpf_map_free (fd_array_map_free)

    def _settle_vfs(self) -> None:
        """Dead namespaces detach their mounts; unused detached mounts go; a superblock
        without mounts dies with its pins; an unlinked pin nothing holds is evicted."""
        live_ns = {t.ns for t in self.tasks.values()}
        for ns in list(self.namespaces.values()):
            if ns.id not in live_ns:  # put_mnt_ns: umount_tree of everything
                for stack in ns.stacks.values():
                    for mount_id in stack:
                        self.mounts[mount_id].ns = self.mounts[mount_id].where = None
                del self.namespaces[ns.id]
        used = {f.mount for f in self.files.values()}
        used.update(t.cwd_mount for t in self.tasks.values())
        for mount in list(self.mounts.values()):
            if mount.ns is None and mount.id not in used:
                del self.mounts[mount.id]
        live_sb = {m.sb for m in self.mounts.values()}
        for sb in list(self.supers.values()):
            if sb.id not in live_sb:  # kill_litter_super: every pin evicted
                del self.supers[sb.id]
        held_pins = {f.pin for f in self.files.values()}
        for pin in list(self.pins.values()):
            if pin.sb not in self.supers or (pin.path is None and pin.id not in held_pins):
                del self.pins[pin.id]  # bpf_evict_inode
                self._ref(pin.obj, -1, user=True)

    def holder_counts(self) -> dict[int, dict[str, int]]:
        """Object id -> holder kind ("file", "pin", "used_map", "slot") -> count."""
        out: dict[int, dict[str, int]] = {}

        def add(obj_id: int, kind: str) -> None:
            counts = out.setdefault(obj_id, {})
            counts[kind] = counts.get(kind, 0) + 1

        for file in self.files.values():
            if file.obj is not None:
                add(file.obj, "file")
        for pin in self.pins.values():
            add(pin.obj, "pin")
        for obj in self.objects.values():
            for map_id in obj.used_maps:
                add(map_id, "used_map")
            for prog_id in obj.slots.values():
                add(prog_id, "slot")
        return out

    def self_check(self) -> None:
        """The running holder counts agree with a recount (a check of the model)."""
        counts = self.holder_counts()
        for obj_id in self.objects:
            kinds = counts.get(obj_id, {})
            refs, urefs = sum(kinds.values()), kinds.get("file", 0) + kinds.get("pin", 0)
            if (self._refs[obj_id], self._urefs[obj_id]) != (refs, urefs):
                raise AssertionError(
                    f"model object {obj_id}: running counts "
                    f"{self._refs[obj_id]}/{self._urefs[obj_id]}, recount {refs}/{urefs}"
                )

    def expected(self) -> dict[int, dict[str, object]]:
        """Per live object: kind, type, refcnt and sorted holder details, in the form
        :meth:`compare` reads from ``kernel.objects()``."""
        # (pid, fd)s of the files that hold an object (the console's fds hold none)
        fds_of: dict[int, list[tuple[int, int]]] = {
            file.id: [] for file in self.files.values() if file.obj is not None
        }
        for task in self.tasks.values():
            for fd, file_id in task.fds.items():
                holding = fds_of.get(file_id)
                if holding is not None:
                    holding.append((task.pid, fd))
        files: dict[int, list[tuple[tuple[int, int], ...]]] = {}
        for file in self.files.values():
            if file.obj is not None:
                files.setdefault(file.obj, []).append(tuple(sorted(fds_of[file.id])))
        pins: dict[int, list[str]] = {}
        for pin in self.pins.values():
            name = "/" + "/".join(pin.path) if pin.path is not None else "(unlinked)"
            pins.setdefault(pin.obj, []).append(name)
        used_by: dict[int, list[int]] = {}
        slots: dict[int, list[tuple[int, int]]] = {}
        for holder in self.objects.values():
            for map_id in holder.used_maps:
                used_by.setdefault(map_id, []).append(holder.id)
            for index, prog_id in holder.slots.items():
                slots.setdefault(prog_id, []).append((holder.id, index))
        out: dict[int, dict[str, object]] = {}
        for obj in self.objects.values():
            obj_files = sorted(files.get(obj.id, []))
            obj_pins = sorted(pins.get(obj.id, []))
            obj_used_by = sorted(used_by.get(obj.id, []))
            obj_slots = sorted(slots.get(obj.id, []))
            out[obj.id] = {
                "kind": obj.kind,
                "type": obj.type_name,
                "refcnt": len(obj_files) + len(obj_pins) + len(obj_used_by) + len(obj_slots),
                "file": obj_files,
                "pin": obj_pins,
                "used_map": obj_used_by,
                "slot": obj_slots,
            }
        return out

    # -- views for properties -------------------------------------------------------------

    def pinned_ids(self) -> set[int]:
        """Ids of the objects that have at least one pin (linked or not)."""
        self._settle()
        return {pin.obj for pin in self.pins.values()}

    def prog_array_slots(self) -> dict[int, dict[int, int]]:
        """PROG_ARRAY id -> {slot: program id}, as the model expects them."""
        self._settle()
        return {o.id: dict(o.slots) for o in self.objects.values() if o.is_prog_array}

    def pinned_at(self, pid: int, path: str | bytes) -> int | None:
        """The id of the object pinned at ``path`` as ``pid`` sees it, if any."""
        self._settle()
        where = self.resolve(pid, path)
        pin = self._pin_at(self.mounts[where[0]].sb, where[1]) if where is not None else None
        return pin.obj if pin is not None else None

    def freed_while_held(self, kernel: Kernel) -> list[int]:
        """Ids the model says something holds but the kernel has freed (a
        use-after-free in the making)."""
        self._settle()
        alive = {info.id for info in kernel.objects()}
        return sorted(set(self.objects) - alive)

    # -- comparison -----------------------------------------------------------------------

    def compare(self, kernel: Kernel) -> list[str]:
        """Every disagreement between the model and ``kernel`` (a :class:`pinfs.Kernel`):
        live pids, each task's open fds, and per object its id, kind, type, refcnt and
        holders (the (pid, fd)s of each file, pin names, using programs, slots)."""
        if self._agrees(kernel):
            return []
        problems: list[str] = []
        if set(kernel.tasks) != set(self.tasks):
            problems.append(f"live pids: kernel {sorted(kernel.tasks)}, model {sorted(self.tasks)}")
        for pid in sorted(set(kernel.tasks) & set(self.tasks)):
            fds = kernel.tasks[pid].files.open_fds()
            if fds != sorted(self.tasks[pid].fds):
                problems.append(
                    f"pid {pid} open fds: kernel {fds}, model {sorted(self.tasks[pid].fds)}"
                )
        want = self.expected()
        got = {info.id: info for info in kernel.objects()}
        for obj_id in sorted(set(want) - set(got)):
            problems.append(
                f"object {obj_id} is held ({_describe(want[obj_id])}) but the kernel freed it"
            )
        for obj_id in sorted(set(got) - set(want) - kernel_own_objects(kernel)):
            problems.append(f"{got[obj_id].obj!r} is alive but the model says nothing holds it")
        for obj_id in sorted(set(want) & set(got)):
            seen = _kernel_view(got[obj_id])
            if seen == want[obj_id]:
                continue  # every key agrees: nothing to name
            for key, value in want[obj_id].items():
                if seen.get(key) != value:
                    problems.append(
                        f"object {obj_id} {key}: kernel {seen.get(key)!r}, model {value!r}"
                    )
        return problems

    def _agrees(self, kernel: Kernel) -> bool:
        """:meth:`compare` would find nothing: the same pids, the same open fds, and
        every object the same as :func:`~pinfs.machine.invariants.holder_values` gives
        (``kernel.objects()`` as values, so no holder text is written or parsed)."""
        tasks = self.tasks
        if kernel.tasks.keys() != tasks.keys():
            return False
        for pid, task in kernel.tasks.items():
            if task.files.open_fds() != sorted(tasks[pid].fds):
                return False
        want = self.expected()
        views = holder_values(kernel)
        if len(views) == len(want):  # as many objects: they agree only if the tables are equal
            return views == want
        if not views.keys() - want.keys() <= kernel_own_objects(kernel):
            return False
        return all(views.get(obj_id) == entry for obj_id, entry in want.items())

    def check(self, kernel: Kernel) -> None:
        """Raise :class:`ModelMismatch` listing every disagreement with ``kernel``."""
        problems = self.compare(kernel)
        if problems:
            raise ModelMismatch(
                "reference model disagrees with the kernel:\n  "
                + "\n  ".join(problems)
                + "\n(if your own code made syscalls on a pinfs.Task directly, the model did not"
                " see them: call through driver.as_task(pid), a Task-shaped handle that keeps"
                " the model in step, or self.run(op, ...) in a PinningMachine rule)"
            )


def kernel_slots(kernel: Kernel) -> dict[int, dict[int, int]]:
    """PROG_ARRAY id -> {slot: program id}, read from ``kernel.objects()`` (only
    arrays with a filled slot appear)."""
    out: dict[int, dict[int, int]] = {}
    for info in kernel.objects():
        for holder in info.holders:
            match = _SLOT.fullmatch(holder.detail) if holder.kind == "slot" else None
            if match:
                out.setdefault(int(match.group(1)), {})[int(match.group(2))] = info.id
    return out


def _text(path: str | bytes) -> str:
    """A path as the kernel decodes it (``pinfs.fs.namei.path_arg``)."""
    return path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path


def _describe(entry: dict[str, object]) -> str:
    return ", ".join(
        f"{k}={v}" for k, v in entry.items() if k in ("file", "pin", "used_map", "slot") and v
    )


_FD = re.compile(r"pid (\d+) fd (\d+)")
_PROG = re.compile(r"prog (\d+)")
_SLOT = re.compile(r"map (\d+)\[(\d+)\]")


def _kernel_view(info: ObjectInfo) -> dict[str, object]:
    """An ``ObjectInfo`` in the shape of :meth:`RefModel.expected` (holder details are
    parsed from their documented text: "pid P fd F, ...", "bpffs dev D:/path",
    "prog P", "map M[I]")."""
    files: list[tuple[tuple[int, int], ...]] = []
    pins: list[str] = []
    used_by: list[int] = []
    slots: list[tuple[int, int]] = []
    for holder in info.holders:
        detail: str = holder.detail
        if holder.kind == "file":
            files.append(tuple(sorted((int(p), int(f)) for p, f in _FD.findall(detail))))
        elif holder.kind == "pin":
            pins.append("(unlinked)" if detail.endswith("(unlinked)") else detail.split(":", 1)[1])
        elif holder.kind == "used_map":
            match = _PROG.fullmatch(detail)
            used_by.append(int(match.group(1)) if match else -1)
        elif holder.kind == "slot":
            match = _SLOT.fullmatch(detail)
            slots.append((int(match.group(1)), int(match.group(2))) if match else (-1, -1))
    return {
        "kind": info.kind,
        "type": info.type,
        "refcnt": info.refcnt,
        "file": sorted(files),
        "pin": sorted(pins),
        "used_map": sorted(used_by),
        "slot": sorted(slots),
    }


@functools.cache
def _type_name(kind: str, type: int) -> str:
    """``array``, ``socket_filter``, ... (the number if the type has no name)."""
    enum_type = BpfMapType if kind == "map" else BpfProgType
    try:
        return str(enum_type(type).name.split("_TYPE_")[1].lower())
    except ValueError:
        return str(type)


def kernel_own_objects(kernel: Kernel) -> set[int]:
    """The kernel's own bpf_preload objects (outside the model): its map, programs and
    the links behind every instance's maps.debug/progs.debug."""
    preload = kernel.bpf_preload
    if preload is None:
        return set()
    own = (preload.rodata, preload.maps_prog, preload.progs_prog)
    return {o.id for o in (*own, preload.maps_link, preload.progs_link)}
