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
superblock counts (``mnt_count``, ``mnt_writers``, ``s_active``) match their holders;
and for propagation (:func:`check_propagation`): peer groups, masters and group ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from pinfs.ebpf.iter import bpf_iter_fops, is_iter_file
from pinfs.ebpf.link import BpfLink, bpf_link_file
from pinfs.ebpf.mapinmap import held_objects, slot_objects
from pinfs.ebpf.objects import BpfMap, BpfObject, BpfProg, bpf_map_fops, bpf_prog_fops
from pinfs.fs.namei import FMODE_WRITER
from pinfs.inode import bpf_link_iops, bpf_map_iops, bpf_prog_iops
from pinfs.mountns import Mount, is_mnt_shared, peers
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


def _open_files(kernel: Kernel) -> dict[int, tuple[File, int]]:
    """Every open file of every task, by ``id()``, with the number of fds pointing at
    it (one pass over the fd tables, shared by the checks of one call)."""
    counts: dict[int, tuple[File, int]] = {}
    for task in kernel.tasks.values():
        for file in task.files.fds:
            if file is not None:
                known = counts.get(id(file))
                counts[id(file)] = (file, 1 if known is None else known[1] + 1)
    return counts


def _file_holders(kernel: Kernel) -> dict[int, list[tuple[File, list[tuple[int, int]]]]]:
    """The open files holding each object (by ``id()``), each with its (pid, fd)s in
    pid and fd order."""
    by_file: dict[int, tuple[File, BpfObject | BpfLink, list[tuple[int, int]]]] = {}
    holds_nothing: set[int] = set()  # files tested once (the console, in every table)
    for pid, task in sorted(kernel.tasks.items()):
        for fd, file in enumerate(task.files.fds):
            if file is None or id(file) in holds_nothing:
                continue
            known = by_file.get(id(file))
            if known is None:
                obj = _held_object(file)
                if obj is None:
                    holds_nothing.add(id(file))
                    continue
                known = by_file[id(file)] = (file, obj, [])
            known[2].append((pid, fd))
    out: dict[int, list[tuple[File, list[tuple[int, int]]]]] = {}
    for file, obj, fds in by_file.values():
        out.setdefault(id(obj), []).append((file, fds))
    return out


def _held_object(file: File) -> BpfObject | BpfLink | None:
    """What an open file holds: its map, program or link, or an iterator's program."""
    f_op = file.f_op  # identity tests first: most open files are not bpf files
    if f_op is bpf_map_fops or f_op is bpf_prog_fops:
        obj: BpfObject = file.private_data
        return obj
    if f_op is bpf_iter_fops:
        prog: BpfProg = file.private_data.prog
        return prog
    return bpf_link_file(file)


def _pinned_inodes(kernel: Kernel) -> list[tuple[Inode, SuperBlock, str | None]]:
    """Every pinned inode of every bpffs, with its superblock and the path of the
    first name met walking parents first (None: unlinked, held only by a file)."""
    pins: list[tuple[Inode, SuperBlock, str | None]] = []
    for sb in kernel.filesystems["bpf"].fs_supers:
        pinned = [inode for inode in sb.s_inodes if _is_pin(inode)]
        if not pinned:
            continue
        names: dict[int, str] = {}
        if sb.s_root is not None:
            for dentry in walk_tree(sb.s_root):
                inode = dentry.d_inode
                if inode is not None and id(inode) not in names and _is_pin(inode):
                    names[id(inode)] = d_path_name(dentry)
        pins.extend((inode, sb, names.get(id(inode))) for inode in pinned)
    return pins


def _is_pin(inode: Inode) -> bool:
    """A bpffs inode holding a map, program or link (its ``i_private``)."""
    iops = inode.i_op
    return (iops is bpf_map_iops or iops is bpf_prog_iops or iops is bpf_link_iops) and (
        inode.i_private is not None
    )


def _pin_name(inode: Inode, sb: SuperBlock, path: str | None) -> str:
    if path is None:
        return f"bpffs dev {sb.s_dev:#x}: ino {inode.i_ino} (unlinked)"
    return f"bpffs dev {sb.s_dev:#x}:{path}"


def collect_holders(kernel: Kernel) -> dict[int, tuple[BpfObject | BpfLink, list[Holder]]]:
    """Every object reachable from a holder, keyed by ``id()``, with its holders."""
    found: dict[int, tuple[BpfObject | BpfLink, list[Holder]]] = {}

    def add(obj: BpfObject | BpfLink, holder: Holder) -> None:
        found.setdefault(id(obj), (obj, []))[1].append(holder)

    for files in _file_holders(kernel).values():
        for file, fds in files:
            obj = _held_object(file)
            assert obj is not None
            text = ", ".join([f"pid {pid} fd {fd}" for pid, fd in fds])
            add(obj, Holder("iter" if is_iter_file(file) else "file", text))
    for inode, sb, path in _pinned_inodes(kernel):
        add(inode.i_private, Holder("pin", _pin_name(inode, sb, path)))
    live = list(kernel.bpf_objects.values())
    for obj in live:
        if isinstance(obj, BpfLink):
            if obj.prog is not None:
                add(obj.prog, Holder("link", f"link {obj.id}"))
        elif isinstance(obj, BpfProg):
            for map in obj.used_maps:
                add(map, Holder("used_map", f"prog {obj.id}"))
        else:  # prog-array slots hold programs, map-of-maps slots hold maps
            for index, slot in held_objects(obj.storage):
                if isinstance(slot, (BpfProg, BpfMap)):
                    add(slot, Holder("slot", f"map {obj.id}[{index}]"))
    for dev, prog in _xdp_programs(kernel):
        add(prog, Holder("xdp", f"dev {dev}"))
    for link in _preload_links(kernel):
        add(link, Holder("kernel", "bpf_preload"))
    return found


def _xdp_programs(kernel: Kernel) -> list[tuple[str, BpfProg]]:
    """(device name, program) of every legacy XDP attachment."""
    return [
        (dev.name, state.prog)
        for dev in kernel.netdevs.values()
        for state in dev.xdp
        if state.prog is not None
    ]


def _preload_links(kernel: Kernel) -> list[BpfLink]:
    """The links the bpf_preload module holds (``maps.debug``, ``progs.debug``)."""
    preload = kernel.bpf_preload
    return [] if preload is None else [preload.maps_link, preload.progs_link]


def kernel_objects(kernel: Kernel) -> list[ObjectInfo]:
    """Live maps, programs and links with their holders, by id."""
    holders = collect_holders(kernel)
    out = []
    for obj in sorted(kernel.bpf_objects.values(), key=lambda o: o.id):
        held = tuple(holders.get(id(obj), (obj, []))[1])
        out.append(ObjectInfo(obj.id, obj.kind, _type_name(obj), obj.refcnt, held, obj))
    return out


def holder_values(kernel: Kernel) -> dict[int, dict[str, object]]:
    """``kernel.objects()`` as values, for the reference model (``pinfs.testing.model``
    compares this every step): per object id its kind, type, refcnt and the holders
    it follows, sorted: ``file`` (each file's (pid, fd)s; iterator files are not
    files), ``pin`` (the path in its bpffs, or "(unlinked)"), ``used_map`` (program
    ids) and ``slot`` ((array id, index)).  The same walks as :func:`collect_holders`,
    without writing holder texts that the model would parse back."""
    files: dict[int, list[tuple[tuple[int, int], ...]]] = {}
    for key, held in _file_holders(kernel).items():
        files[key] = [tuple(fds) for file, fds in held if not is_iter_file(file)]
    pins: dict[int, list[str]] = {}
    for inode, _, path in _pinned_inodes(kernel):
        text = "(unlinked)" if path is None or path.endswith("(unlinked)") else path
        pins.setdefault(id(inode.i_private), []).append(text)
    used_by: dict[int, list[int]] = {}
    slots: dict[int, list[tuple[int, int]]] = {}
    live = kernel.bpf_objects.values()  # (the holder lists are sorted below)
    for obj in live:
        if isinstance(obj, BpfProg):
            for map in obj.used_maps:
                used_by.setdefault(id(map), []).append(obj.id)
        elif isinstance(obj, BpfMap):
            for label, slot in held_objects(obj.storage):
                if isinstance(slot, (BpfProg, BpfMap)):
                    # what the model reads from "map M[I]": a hash key's hex may not parse
                    numeric = label.isascii() and label.isdigit()
                    slots.setdefault(id(slot), []).append(
                        (obj.id, int(label)) if numeric else (-1, -1)
                    )
    return {
        obj.id: {
            "kind": obj.kind,
            "type": _type_name(obj),
            "refcnt": obj.refcnt,
            "file": sorted(files.get(id(obj), ())),
            "pin": sorted(pins.get(id(obj), ())),
            "used_map": sorted(used_by.get(id(obj), ())),
            "slot": sorted(slots.get(id(obj), ())),
        }
        for obj in live
    }


#: (kind, type number) -> the type word of the object's repr ("array", "socket_filter").
_TYPE_NAMES: dict[tuple[str, int], str] = {}


def _type_name(obj: BpfObject | BpfLink) -> str:
    """The third word of ``repr(obj)``, once per kind and type number."""
    if isinstance(obj, BpfMap):
        key = (obj.kind, obj.map_type)
    elif isinstance(obj, BpfProg):
        key = (obj.kind, obj.prog_type)
    else:
        key = (obj.kind, obj.link_type)
    name = _TYPE_NAMES.get(key)
    if name is None:
        name = _TYPE_NAMES[key] = repr(obj).split()[2]
    return name


def _holder_counts(
    kernel: Kernel, files: dict[int, tuple[File, int]] | None = None
) -> dict[int, tuple[BpfObject | BpfLink, int, int]]:
    """What :func:`collect_holders` finds, counted and not named: per object (by
    ``id()``) its holders and, of those, its user holders (files and pins)."""
    counts: dict[int, tuple[BpfObject | BpfLink, int, int]] = {}

    def add(obj: BpfObject | BpfLink, user: int) -> None:
        known = counts.get(id(obj))
        if known is None:
            counts[id(obj)] = (obj, 1, user)
        else:
            counts[id(obj)] = (obj, known[1] + 1, known[2] + user)

    for file, _ in (_open_files(kernel) if files is None else files).values():
        obj = _held_object(file)
        if obj is not None:
            add(obj, 1)
    for sb in kernel.filesystems["bpf"].fs_supers:
        for inode in sb.s_inodes:
            if _is_pin(inode):
                add(inode.i_private, 1)
    for obj in kernel.bpf_objects.values():
        if isinstance(obj, BpfLink):
            if obj.prog is not None:
                add(obj.prog, 0)
        elif isinstance(obj, BpfProg):
            for map in obj.used_maps:
                add(map, 0)
        else:  # prog-array slots hold programs, map-of-maps slots hold maps
            for slot in slot_objects(obj.storage):
                if isinstance(slot, BpfProg | BpfMap):
                    add(slot, 0)
    for _, prog in _xdp_programs(kernel):
        add(prog, 0)
    for link in _preload_links(kernel):
        add(link, 0)
    return counts


def _objects_add_up(kernel: Kernel, files: dict[int, tuple[File, int]] | None = None) -> bool:
    """The object facts :func:`check_invariants` checks, without naming anyone: no
    freed object is reachable, every refcnt is its holders and (where the profile
    counts them) every usercnt its files and pins."""
    counts = _holder_counts(kernel, files)
    if any(obj.freed for obj, _, _ in counts.values()):
        return False
    flush_on_uref = kernel.profile.prog_array_flush_on_last_uref
    for obj in kernel.bpf_objects.values():
        _, held, users = counts.get(id(obj), (obj, 0, 0))
        if obj.refcnt != held:
            return False
        if flush_on_uref and isinstance(obj, BpfMap) and obj.usercnt != users:
            return False
    return True


def check_invariants(kernel: Kernel) -> None:
    """Raise :class:`InvariantError` listing every broken invariant.  The objects'
    counts are checked first without building names; only if they do not add up are
    the holders named (:func:`collect_holders`) for the message."""
    problems: list[str] = list(kernel.bugs)
    files = _open_files(kernel)
    if not _objects_add_up(kernel, files):
        problems.extend(_object_problems(kernel))
    problems.extend(_check_files(files))
    problems.extend(_check_memlock(kernel))
    problems.extend(_check_mounts(kernel, files))
    problems.extend(check_propagation(kernel))
    if problems:
        raise InvariantError("\n".join(problems))


def _object_problems(kernel: Kernel) -> list[str]:
    """Freed objects still reachable, refcnts and usercnts against their holders."""
    problems: list[str] = []
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
    return problems


def _check_files(files: dict[int, tuple[File, int]]) -> list[str]:
    """Every open file's ``f_count`` is the number of fds pointing at it."""
    problems = []
    for file, n in files.values():
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


def _path_holders(
    kernel: Kernel, files: dict[int, tuple[File, int]]
) -> tuple[dict[Mount, int], dict[Mount, int]]:
    """Path references on each mount (task roots and cwds, open files) and the
    writers among the files (``mnt_want_write`` held)."""
    paths: dict[Mount, int] = {}
    writers: dict[Mount, int] = {}
    for task in kernel.tasks.values():
        for path in (task.fs.root, task.fs.pwd):
            paths[path.mnt] = paths.get(path.mnt, 0) + 1
    for file, _ in files.values():
        if file.f_path is not None:
            mnt = file.f_path.mnt
            paths[mnt] = paths.get(mnt, 0) + 1
            if file.f_mode & FMODE_WRITER:
                writers[mnt] = writers.get(mnt, 0) + 1
    return paths, writers


def _check_namespace_tree(ns_mounts: list[Mount], root: Mount | None, ns: object) -> list[str]:
    """The namespace's list is its tree, each mount hung where its records say."""
    problems = []
    tree = [] if root is None else [root]
    for m in tree:  # subtree(root), without a generator per mount
        for stack in m.mounts_at.values():
            tree.extend(stack)
    if len(tree) != len(ns_mounts) or set(map(id, tree)) != set(map(id, ns_mounts)):
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


def _check_mounts(kernel: Kernel, files: dict[int, tuple[File, int]] | None = None) -> list[str]:
    """Mount namespaces, the mount tree, and mount/superblock reference counts."""
    problems: list[str] = []
    paths, writers = _path_holders(kernel, _open_files(kernel) if files is None else files)
    live: dict[int, Mount] = {}
    for ns in kernel.namespaces:
        if not ns.alive:
            problems.append(f"{ns!r} is listed but dead")
        problems.extend(_check_namespace_tree(ns.mounts, ns.root, ns))
        for m in ns.mounts:
            live[id(m)] = m
    for mnt in paths:
        if id(mnt) not in live:  # detached, held alive by a path (lazy umount)
            if mnt.attached or mnt.mnt_ns is not None:
                problems.append(f"{mnt!r} is held by a path and attached to no listed namespace")
            live[id(mnt)] = mnt
    by_sb: dict[int, tuple[SuperBlock, list[Mount]]] = {}
    for mnt in live.values():
        known = by_sb.get(id(mnt.mnt_sb))
        if known is None:
            known = by_sb[id(mnt.mnt_sb)] = (mnt.mnt_sb, [])
        known[1].append(mnt)
        if mnt.mnt_count != paths.get(mnt, 0):
            problems.append(f"{mnt!r}: mnt_count {mnt.mnt_count} but {paths.get(mnt, 0)} paths")
        if mnt.mnt_writers != writers.get(mnt, 0):
            problems.append(
                f"{mnt!r}: mnt_writers {mnt.mnt_writers} but {writers.get(mnt, 0)} writers"
            )
    for fs_type in kernel.filesystems.values():
        for sb in fs_type.fs_supers:
            if id(sb) not in by_sb:
                by_sb[id(sb)] = (sb, [])
    for sb, holders in by_sb.values():
        problems.extend(_check_superblock(sb, holders))
        if sb.s_root is not None:
            problems.extend(_check_stacked(sb.s_root, live))
    return problems


def _check_stacked(root: Dentry, live: dict[int, Mount]) -> list[str]:
    """Every mount stacked on a dentry of this tree is a live mount hung there."""
    problems: list[str] = []
    _check_stacked_on(root, live, problems)
    stack = [root]  # walk_tree's order, without a generator per tree
    while stack:
        for child in stack.pop().d_subdirs.values():
            if child.d_mounted:
                _check_stacked_on(child, live, problems)
            stack.append(child)
    return problems


def _check_stacked_on(dentry: Dentry, live: dict[int, Mount], problems: list[str]) -> None:
    for mnt in dentry.d_mounted:
        if id(mnt) not in live or mnt.mnt_mountpoint is not dentry:
            problems.append(
                f"{mnt!r} is stacked on {d_path_name(dentry) or '/'} of "
                f"{dentry.d_sb.s_type.name} dev {dentry.d_sb.s_dev:#x} but is not mounted"
            )


def check_propagation(kernel: Kernel) -> list[str]:
    """Peer groups and masters (fs/pnode.c's assumptions): a peer ring is one list
    every member holds, of shared mounts of one superblock with one group id, and no
    two rings share an id; the IDA holds exactly the ids in use; a slave is on its
    master's slave list and every slave list entry names its owner as master; a
    master is shared (a private mount hands its slaves on), attached, and no chain of
    masters loops or reaches a peer of the slave."""
    problems: list[str] = []
    mounts = [m for ns in kernel.namespaces for m in ns.mounts]
    listed = {id(m) for m in mounts}
    ring_of_id: dict[int, int] = {}
    for m in mounts:
        # most mounts are private, peerless and masterless: nothing to look at
        if m.mnt_share or m.mnt_group_id or m.mnt_master is not None or m.mnt_slave_list:
            problems.extend(_check_peers(m, listed, ring_of_id))
            problems.extend(_check_master(m, listed))
        elif is_mnt_shared(m):
            problems.append(f"{_where(m)}: shared=True but group id {m.mnt_group_id}")
    used = set(ring_of_id)
    if kernel.mnt_group_ida.used != used:
        problems.append(
            f"group ids allocated {sorted(kernel.mnt_group_ida.used)}, used {sorted(used)}"
        )
    return problems


def _where(m: Mount) -> str:
    """A mount as the propagation messages name it (built only for a message)."""
    return f"{m!r} (ns {m.mnt_ns.ns_id if m.mnt_ns else None})"


def _check_peers(m: Mount, listed: set[int], ring_of_id: dict[int, int]) -> list[str]:
    problems = []
    if is_mnt_shared(m) != bool(m.mnt_group_id):
        problems.append(f"{_where(m)}: shared={is_mnt_shared(m)} but group id {m.mnt_group_id}")
    ring = m.mnt_share
    if ring:
        if m not in ring or len(ring) < 2:
            problems.append(f"{_where(m)}: a peer ring without it, or of one")
        for peer in ring:
            if peer.mnt_share is not ring or not peers(peer, m) or peer.mnt_sb is not m.mnt_sb:
                problems.append(f"{_where(m)}: {peer!r} is in its ring but not its peer")
            if id(peer) not in listed:
                problems.append(f"{_where(m)}: peer {peer!r} is in no namespace")
    if m.mnt_group_id:
        owner = ring_of_id.setdefault(m.mnt_group_id, id(ring) if ring else id(m))
        if owner != (id(ring) if ring else id(m)):
            problems.append(f"{_where(m)}: group id {m.mnt_group_id} is used by two peer groups")
    return problems


def _check_master(m: Mount, listed: set[int]) -> list[str]:
    problems = []
    for slave in m.mnt_slave_list:
        if slave.mnt_master is not m:
            problems.append(f"{_where(m)}: {slave!r} is on its slave list with another master")
    if m.mnt_slave_list and not is_mnt_shared(m):
        problems.append(f"{_where(m)}: has slaves but is not shared")
    seen: set[int] = {id(m)}
    master = m.mnt_master
    while master is not None:
        if id(master) in seen:
            problems.append(f"{_where(m)}: its chain of masters loops")
            break
        if peers(master, m):
            problems.append(f"{_where(m)}: is a slave of its own peer group")
        if id(master) not in listed:
            problems.append(f"{_where(m)}: master {master!r} is in no namespace")
        if master is m.mnt_master and m not in master.mnt_slave_list:
            problems.append(f"{_where(m)}: not on its master's slave list")
        seen.add(id(master))
        master = master.mnt_master
    return problems
