"""Walking the propagation graph (fs/pnode.c): where a new mount and an unmount go.

The state (peer rings, masters, slave lists, group ids) and ``change_mnt_propagation``
live in :mod:`pinfs.mountns`; this module follows it.  Events on a mount reach its
peers, every slave of any of them, those slaves' peers, and so on down: never up to a
master.  ``propagate_mnt`` makes the copies a new mount (or bind mount, or moved tree)
gets on every receiving mount; ``propagate_umount`` finds what an unmount takes with it
on the other side; ``propagate_mount_busy`` is EBUSY's look across peers.

Simplifications (each one a choice, named here): the order in which peer groups are
visited is depth first over our own lists, so the mount ids of propagated copies may be
handed out in another order than Linux's; a candidate for a propagated unmount that
has anything mounted on it stays (6.17's ``reparent`` slides a full overmount down
instead; not modelled); ``count_mounts`` (sysctl fs.mount-max) is not modelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pinfs.mountns import (
    CL_MAKE_SHARED,
    CL_SLAVE,
    MNT_LOCKED,
    Mount,
    Path,
    copy_tree,
    is_mnt_shared,
    is_mnt_unbindable,
    is_subdir,
    peer_ring,
    subtree,
)
from pinfs.vfs import Dentry


def is_mnt_new(mnt: Mount) -> bool:
    """``IS_MNT_NEW``: not in a namespace yet (a copy being made, or a new mount)."""
    return mnt.mnt_ns is None


def propagation_walk(origin: Mount) -> Iterator[Mount]:
    """``propagation_next`` from ``origin`` until NULL: every mount that receives
    ``origin``'s events (its peers, their slaves, the slaves' peers ...), ``origin``
    left out.  A mount not in a namespace passes nothing on to its slaves."""
    seen = {origin}
    stack = [origin]
    while stack:
        m = stack.pop()
        if m is not origin:
            yield m
        nexts = list(peer_ring(m)[1:])
        if not is_mnt_new(m):
            nexts.extend(m.mnt_slave_list)
        for n in reversed(nexts):
            if n not in seen:
                seen.add(n)
                stack.append(n)


def lookup_child(parent: Mount, mountpoint: Dentry) -> Mount | None:
    """``__lookup_mnt(parent, mountpoint)``: the mount hanging on exactly that dentry of
    ``parent`` (the bottom of its stack)."""
    stack = parent.mounts_at.get(mountpoint)
    return stack[0] if stack else None


def need_secondary(mnt: Mount, dest_mp: Dentry) -> bool:
    """``need_secondary``: not a copy made by this propagation, and the mountpoint is
    visible under this mount's root."""
    return not is_mnt_new(mnt) and is_subdir(dest_mp, mnt.mnt_root)


def _slave_groups(group: list[Mount]) -> list[list[Mount]]:
    """The peer groups among the slaves of ``group``'s members, each in ring order."""
    out: list[list[Mount]] = []
    seen: set[Mount] = set()
    for member in group:
        if is_mnt_new(member):
            continue
        for slave in member.mnt_slave_list:
            if slave not in seen:
                ring = peer_ring(slave)
                seen.update(ring)
                out.append(ring)
    return out


def propagate_mnt(
    dest_mnt: Mount, dest_mp: Dentry, source_mnt: Mount, next_id: Callable[[], int]
) -> list[tuple[Mount, Mount]]:
    """``propagate_mnt``: a copy of the ``source_mnt`` tree for every mount receiving
    propagation from ``dest_mnt`` that can see ``dest_mp``, as (receiver, copy).

    Copies for ``dest_mnt``'s peers are peers of ``source_mnt`` (CL_MAKE_SHARED); the
    first copy in a slave peer group is a slave of a copy made for its master group
    (``find_master``: the master's own copy, else any copy of that group, else that
    group's master copy), shared if the group is (CL_SLAVE|CL_MAKE_SHARED); the rest of
    that group are its peers."""
    out: list[tuple[Mount, Mount]] = []

    def visit(group: list[Mount], master_copy: Mount, first_type: int) -> None:
        made: dict[Mount, Mount] = {}
        previous: Mount | None = None
        for n in group:
            if n is dest_mnt:
                made[n] = previous = source_mnt
                continue
            if not need_secondary(n, dest_mp):
                continue
            if previous is None:
                this, _ = copy_tree(master_copy, master_copy.mnt_root, next_id, first_type)
            else:
                this, _ = copy_tree(previous, previous.mnt_root, next_id, CL_MAKE_SHARED)
            made[n] = previous = this
            out.append((n, this))
        for slaves in _slave_groups(group):
            master = slaves[0].mnt_master
            copy = made.get(master) if master is not None else None
            if copy is None:
                copy = previous if previous is not None else master_copy
            kind = CL_SLAVE | (CL_MAKE_SHARED if is_mnt_shared(slaves[0]) else 0)
            visit(slaves, copy, kind)

    visit(peer_ring(dest_mnt), source_mnt, CL_MAKE_SHARED)
    return out


def propagate_mount_busy(mnt: Mount, refcnt: int) -> bool:
    """``propagate_mount_busy``: ``mnt`` has submounts or more than ``refcnt`` users;
    or a mount the unmount would propagate to (on the same mountpoint of a mount
    receiving from our parent) has no submounts and is in use."""
    if any(True for _ in mnt.children()) or mnt.mnt_count > refcnt:
        return True
    parent = mnt.mnt_parent
    if parent is None or mnt.mnt_mountpoint is None:
        return False
    for m in propagation_walk(parent):
        child = lookup_child(m, mnt.mnt_mountpoint)
        if child is None or any(True for _ in child.children()):
            continue
        if child.mnt_count > 0:
            return True
    return False


def propagate_umount(mounts: list[Mount]) -> list[Mount]:
    """``propagate_umount``: the mounts to unmount along with ``mounts`` (parents
    first).  A candidate is the mount on the same mountpoint of any mount receiving
    from an unmounted mount's parent; it goes when it is not locked and everything
    mounted on it goes too (``gather_candidates``, ``trim_one``)."""
    going = set(mounts)
    candidates: list[Mount] = []
    for m in mounts:
        parent, mountpoint = m.mnt_parent, m.mnt_mountpoint
        if parent is None or mountpoint is None:
            continue
        for q in propagation_walk(parent):
            child = lookup_child(q, mountpoint)
            if child is not None and child not in going and child not in candidates:
                candidates.append(child)
    added: list[Mount] = []
    changed = True
    while changed:
        changed = False
        for c in candidates:
            if c in going or c.mnt_flags & MNT_LOCKED:
                continue
            if all(child in going for child in c.children()):
                going.add(c)
                added.append(c)
                changed = True
    # parents before children, as umount_mounts expects
    depth = {m: len(_ancestors(m)) for m in added}
    return sorted(added, key=lambda m: depth[m])


def _ancestors(mnt: Mount) -> list[Mount]:
    out = []
    parent = mnt.mnt_parent
    while parent is not None:
        out.append(parent)
        parent = parent.mnt_parent
    return out


def is_path_reachable(mnt: Mount, dentry: Dentry, root: Path) -> bool:
    """``is_path_reachable``: (``mnt``, ``dentry``) is at or under ``root``."""
    while mnt is not root.mnt and mnt.mnt_parent is not None:
        assert mnt.mnt_mountpoint is not None
        dentry = mnt.mnt_mountpoint
        mnt = mnt.mnt_parent
    return mnt is root.mnt and is_subdir(dentry, root.dentry)


def get_dominating_id(mnt: Mount, root: Path) -> int:
    """``get_dominating_id``: the group id of the nearest master group with a member
    in our namespace under our root (mountinfo's ``propagate_from:``), else 0."""
    master = mnt.mnt_master
    while master is not None:
        for m in peer_ring(master):
            if m.mnt_ns is mnt.mnt_ns and is_path_reachable(m, m.mnt_root, root):
                return m.mnt_group_id
        master = master.mnt_master
    return 0


def tree_contains_unbindable(mnt: Mount) -> bool:
    """``tree_contains_unbindable``."""
    return any(is_mnt_unbindable(m) for m in subtree(mnt))
