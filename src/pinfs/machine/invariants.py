"""Introspection and invariants: who holds each map and program, and whether the
kernel's own bookkeeping adds up.

``kernel.objects()`` lists live objects with every holder that takes a reference: an
open file (shared by all the fds that point at it), a pinned inode, a program's
``used_maps`` entry, a PROG_ARRAY slot.  ``kernel.check_invariants()`` raises
:class:`InvariantError` if any count disagrees, a freed object is still reachable,
an fd points at a dead file, memlock accounting drifts, or a use-after-free was seen;
and for the mount tree: every namespace's mounts are exactly the tree below its root,
every mount hangs where its parent and its mountpoint say, every mount stacked on a
dentry is a live one, every live mount's superblock is alive, and the mount and
superblock counts (``mnt_count``, ``mnt_writers``, ``s_active``) match their holders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from pinfs.ebpf.arraymap import FdArray
from pinfs.ebpf.iter import is_iter_file
from pinfs.ebpf.link import BpfLink, bpf_link_file
from pinfs.ebpf.objects import BpfMap, BpfObject, BpfProg, bpf_file_object
from pinfs.fs.namei import FMODE_WRITE
from pinfs.inode import bpf_link_iops, bpf_map_iops, bpf_prog_iops
from pinfs.mountns import Mount, subtree
from pinfs.vfs import Dentry, File, Inode, SuperBlock, d_path_name, walk_tree

if TYPE_CHECKING:
    from pinfs.machine.kernel import Kernel


class InvariantError(AssertionError):
    """The simulated kernel's state is inconsistent (or a bug was reproduced)."""


@attrs.frozen
class Holder:
    """One reference on an object: ``kind`` is file, pin, used_map, slot, link (a
    link's program), iter (an iterator file's program), xdp (a device's legacy XDP
    program) or kernel (the bpf_preload module's links)."""

    kind: str
    detail: str


@attrs.frozen
class ObjectInfo:
    """A live map or program, its reference count and everything holding it."""

    id: int
    kind: str
    type: str
    refcnt: int
    holders: tuple[Holder, ...]
    obj: BpfObject | BpfLink = attrs.field(repr=False)


def _file_holders(kernel: Kernel) -> dict[int, list[tuple[File, list[str]]]]:
    by_file: dict[int, tuple[File, list[str]]] = {}
    for pid, task in sorted(kernel.tasks.items()):
        for fd, file in enumerate(task.files.fds):
            if file is not None and _held_object(file) is not None:
                by_file.setdefault(id(file), (file, []))[1].append(f"pid {pid} fd {fd}")
    out: dict[int, list[tuple[File, list[str]]]] = {}
    for file, fds in by_file.values():
        obj = _held_object(file)
        assert obj is not None
        out.setdefault(id(obj), []).append((file, fds))
    return out


def _held_object(file: File) -> BpfObject | BpfLink | None:
    """What an open file holds: its map, program or link, or an iterator's program."""
    if is_iter_file(file):
        prog: BpfProg = file.private_data.prog
        return prog
    return bpf_file_object(file) or bpf_link_file(file)


def _pinned_inodes(kernel: Kernel) -> list[tuple[Inode, str]]:
    pins: list[tuple[Inode, str]] = []
    for sb in kernel.filesystems["bpf"].fs_supers:
        names: dict[int, str] = {}
        if sb.s_root is not None:
            for dentry in walk_tree(sb.s_root):
                if dentry.d_inode is not None:
                    names.setdefault(id(dentry.d_inode), _pin_name(dentry, sb.s_dev))
        for inode in sb.s_inodes:
            pinned = (bpf_map_iops, bpf_prog_iops, bpf_link_iops)
            if inode.i_op in pinned and inode.i_private is not None:
                name = names.get(
                    id(inode), f"bpffs dev {sb.s_dev:#x}: ino {inode.i_ino} (unlinked)"
                )
                pins.append((inode, name))
    return pins


def _pin_name(dentry: Dentry, dev: int) -> str:
    return f"bpffs dev {dev:#x}:{d_path_name(dentry)}"


def collect_holders(kernel: Kernel) -> dict[int, tuple[BpfObject | BpfLink, list[Holder]]]:
    """Every object reachable from a holder, keyed by ``id()``, with its holders."""
    found: dict[int, tuple[BpfObject | BpfLink, list[Holder]]] = {}

    def add(obj: BpfObject | BpfLink, holder: Holder) -> None:
        found.setdefault(id(obj), (obj, []))[1].append(holder)

    for files in _file_holders(kernel).values():
        for file, fds in files:
            obj = _held_object(file)
            assert obj is not None
            add(obj, Holder("iter" if is_iter_file(file) else "file", ", ".join(fds)))
    for inode, name in _pinned_inodes(kernel):
        add(inode.i_private, Holder("pin", name))
    live = list(kernel.bpf_objects.values())
    for obj in live:
        if isinstance(obj, BpfLink):
            if obj.prog is not None:
                add(obj.prog, Holder("link", f"link {obj.id}"))
        elif isinstance(obj, BpfProg):
            for map in obj.used_maps:
                add(map, Holder("used_map", f"prog {obj.id}"))
        elif isinstance(obj.storage, FdArray):
            for index, slot in sorted(obj.storage.slots.items()):
                if isinstance(slot, BpfProg):
                    add(slot, Holder("slot", f"map {obj.id}[{index}]"))
    for dev in kernel.netdevs.values():
        for state in dev.xdp:
            if state.prog is not None:
                add(state.prog, Holder("xdp", f"dev {dev.name}"))
    preload = kernel.bpf_preload
    if preload is not None:
        for link in (preload.maps_link, preload.progs_link):
            add(link, Holder("kernel", "bpf_preload"))
    return found


def kernel_objects(kernel: Kernel) -> list[ObjectInfo]:
    """Live maps and programs with their holders, by id."""
    holders = collect_holders(kernel)
    out = []
    for obj in sorted(kernel.bpf_objects.values(), key=lambda o: o.id):
        held = tuple(holders.get(id(obj), (obj, []))[1])
        type_name = repr(obj).split()[2]
        out.append(ObjectInfo(obj.id, obj.kind, type_name, obj.refcnt, held, obj))
    return out


def check_invariants(kernel: Kernel) -> None:
    """Raise :class:`InvariantError` listing every broken invariant."""
    problems: list[str] = list(kernel.bugs)
    holders = collect_holders(kernel)
    for obj, held in holders.values():
        if obj.freed:
            kinds = ", ".join(f"{h.kind} ({h.detail})" for h in held)
            problems.append(f"freed {obj!r} is still reachable from {kinds}")
    flush_on_uref = kernel.profile.prog_array_flush_on_last_uref
    for obj in kernel.bpf_objects.values():
        held = holders.get(id(obj), (obj, []))[1]
        if obj.refcnt != len(held):
            problems.append(f"{obj!r}: refcnt {obj.refcnt} but {len(held)} holders")
        if flush_on_uref and isinstance(obj, BpfMap):
            users = sum(1 for h in held if h.kind in ("file", "pin"))
            if obj.usercnt != users:
                problems.append(f"{obj!r}: usercnt {obj.usercnt} but {users} user holders")
    problems.extend(_check_files(kernel))
    problems.extend(_check_memlock(kernel))
    problems.extend(_check_mounts(kernel))
    if problems:
        raise InvariantError("\n".join(problems))


def _check_files(kernel: Kernel) -> list[str]:
    counts: dict[int, tuple[File, int]] = {}
    for task in kernel.tasks.values():
        for file in task.files.fds:
            if file is not None:
                counts[id(file)] = (file, counts.get(id(file), (file, 0))[1] + 1)
    problems = []
    for file, n in counts.values():
        if file.f_count != n:
            problems.append(f"{file!r}: f_count {file.f_count} but {n} fds")
    return problems


def _check_memlock(kernel: Kernel) -> list[str]:
    expected: dict[int, int] = dict(kernel.memlock_leaked)
    for obj in kernel.bpf_objects.values():
        if obj.user is not None:
            expected[obj.user.uid] = expected.get(obj.user.uid, 0) + obj.pages
    problems = []
    for uid, user in kernel.users.items():
        if user.locked_vm != expected.get(uid, 0):
            problems.append(
                f"uid {uid}: locked_vm {user.locked_vm} pages but live objects and "
                f"known leaks account for {expected.get(uid, 0)}"
            )
    return problems


def _path_holders(kernel: Kernel) -> tuple[dict[Mount, int], dict[Mount, int]]:
    """Path references on each mount (task roots and cwds, open files) and the
    writers among the files (``mnt_want_write`` held)."""
    paths: dict[Mount, int] = {}
    writers: dict[Mount, int] = {}
    files: dict[int, File] = {}
    for task in kernel.tasks.values():
        for path in (task.fs.root, task.fs.pwd):
            paths[path.mnt] = paths.get(path.mnt, 0) + 1
        for file in task.files.fds:
            if file is not None:
                files[id(file)] = file
    for file in files.values():
        if file.f_path is not None:
            mnt = file.f_path.mnt
            paths[mnt] = paths.get(mnt, 0) + 1
            if file.f_mode & FMODE_WRITE:
                writers[mnt] = writers.get(mnt, 0) + 1
    return paths, writers


def _check_namespace_tree(ns_mounts: list[Mount], root: Mount | None, ns: object) -> list[str]:
    """The namespace's list is its tree, each mount hung where its records say."""
    problems = []
    tree = subtree(root) if root is not None else []
    if {id(m) for m in tree} != {id(m) for m in ns_mounts} or len(tree) != len(ns_mounts):
        problems.append(f"{ns!r}: its mount list is not the tree below its root")
    for mnt in ns_mounts:
        if mnt.mnt_ns is not ns or not mnt.attached:
            problems.append(f"{mnt!r} is listed in {ns!r} but says otherwise")
        parent, mountpoint = mnt.mnt_parent, mnt.mnt_mountpoint
        if mnt is root:
            if parent is not None:
                problems.append(f"{ns!r}: its root {mnt!r} has a parent")
            continue
        if parent is None or mountpoint is None or parent.mnt_ns is not ns:
            problems.append(f"{mnt!r} in {ns!r} has no parent in the namespace")
        elif mnt not in parent.mounts_at.get(mountpoint, ()) or mnt not in mountpoint.d_mounted:
            problems.append(f"{mnt!r} is not stacked on its mountpoint")
    return problems


def _check_superblock(sb: SuperBlock, holders: list[Mount]) -> list[str]:
    problems = []
    if sb.s_active <= 0 or sb.s_root is None or sb not in sb.s_type.fs_supers:
        problems.append(
            f"{sb.s_type.name} sb dev {sb.s_dev:#x} is dead (s_active {sb.s_active}) "
            f"but still mounted by {holders!r}"
        )
    elif sb.s_active != len(holders):
        problems.append(
            f"{sb.s_type.name} sb dev {sb.s_dev:#x}: s_active {sb.s_active} "
            f"but {len(holders)} live mounts"
        )
    return problems


def _check_mounts(kernel: Kernel) -> list[str]:
    """Mount namespaces, the mount tree, and mount/superblock reference counts."""
    problems: list[str] = []
    paths, writers = _path_holders(kernel)
    live: dict[int, Mount] = {}
    for ns in kernel.namespaces:
        if not ns.alive:
            problems.append(f"{ns!r} is listed but dead")
        problems.extend(_check_namespace_tree(ns.mounts, ns.root, ns))
        live.update((id(m), m) for m in ns.mounts)
    for mnt in paths:
        if id(mnt) not in live and (mnt.attached or mnt.mnt_ns is not None):
            problems.append(f"{mnt!r} is held by a path and attached to no listed namespace")
        live.setdefault(id(mnt), mnt)  # detached, held alive by a path (lazy umount)
    by_sb: dict[int, tuple[SuperBlock, list[Mount]]] = {}
    for mnt in live.values():
        by_sb.setdefault(id(mnt.mnt_sb), (mnt.mnt_sb, []))[1].append(mnt)
        if mnt.mnt_count != paths.get(mnt, 0):
            problems.append(f"{mnt!r}: mnt_count {mnt.mnt_count} but {paths.get(mnt, 0)} paths")
        if mnt.mnt_writers != writers.get(mnt, 0):
            problems.append(
                f"{mnt!r}: mnt_writers {mnt.mnt_writers} but {writers.get(mnt, 0)} writers"
            )
    for fs_type in kernel.filesystems.values():
        for sb in fs_type.fs_supers:
            by_sb.setdefault(id(sb), (sb, []))
    for sb, holders in by_sb.values():
        problems.extend(_check_superblock(sb, holders))
        if sb.s_root is not None:
            problems.extend(_check_stacked(sb.s_root, live))
    return problems


def _check_stacked(root: Dentry, live: dict[int, Mount]) -> list[str]:
    """Every mount stacked on a dentry of this tree is a live mount hung there."""
    problems = []
    for dentry in (root, *walk_tree(root)):
        for mnt in dentry.d_mounted:
            if id(mnt) not in live or mnt.mnt_mountpoint is not dentry:
                problems.append(
                    f"{mnt!r} is stacked on {d_path_name(dentry) or '/'} of "
                    f"{dentry.d_sb.s_type.name} dev {dentry.d_sb.s_dev:#x} but is not mounted"
                )
    return problems
