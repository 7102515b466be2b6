"""Text pictures of kernel state for terminals: mounts (with their propagation and
whether a later mount covers them), peer groups across namespaces, bpffs trees and
objects.

``kernel.tree()`` is what the tour prints: every mount namespace with its mounts, the
tree of every bpf superblock (inode numbers, modes, owners, what each pin holds), and
every live map and program with its refcount and holders.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from pinfs.inode import bpf_map_iops, bpf_prog_iops
from pinfs.mountns import Mount, is_mnt_shared, is_mnt_unbindable, peer_ring
from pinfs.vfs import Dentry, SuperBlock

if TYPE_CHECKING:
    from pinfs.machine.kernel import Kernel


def mount_point(mnt: Mount) -> str:
    """Where ``mnt`` is mounted, as a path from its namespace's root (for pictures)."""
    parts: list[str] = []
    m = mnt
    while m.mnt_parent is not None and m.mnt_mountpoint is not None:
        parts.append(_below_root(m.mnt_mountpoint, m.mnt_parent.mnt_root))
        m = m.mnt_parent
    return "".join(reversed(parts)) or "/"


def _below_root(dentry: Dentry, root: Dentry) -> str:
    """``dentry``'s path under ``root`` (a bind mount's root need not be its fs's)."""
    names: list[str] = []
    d = dentry
    while d is not root and d.d_parent is not None and d.d_parent is not d:
        names.append(d.d_name)
        d = d.d_parent
    return "".join("/" + name for name in reversed(names))


def is_covered(mnt: Mount) -> bool:
    """Hidden by a later mount: one stacked on the same mount point, or on our root
    (what a second ``mount -t bpf`` on ``/sys/fs/bpf`` does to the first)."""
    if mnt.mounts_at.get(mnt.mnt_root):
        return True
    parent, point = mnt.mnt_parent, mnt.mnt_mountpoint
    if parent is None or point is None:
        return False
    stack = parent.mounts_at.get(point, [])
    return bool(stack) and stack[-1] is not mnt


def propagation_tags(mnt: Mount) -> str:
    """The propagation of ``mnt`` as mountinfo names it: `` shared:N``,
    `` master:N``, `` unbindable`` (nothing for a private mount)."""
    tags = f" shared:{mnt.mnt_group_id}" if is_mnt_shared(mnt) else ""
    if mnt.mnt_master is not None:
        tags += f" master:{mnt.mnt_master.mnt_group_id}"
    return tags + (" unbindable" if is_mnt_unbindable(mnt) else "")


def peer_group_lines(kernel: Kernel) -> list[str]:
    """Every peer group: its members in every namespace, and who receives from it
    (the slaves), so propagation between namespaces can be seen at a glance."""
    groups: dict[int, list[Mount]] = {}
    slaves: dict[int, list[Mount]] = {}
    for ns in kernel.namespaces:
        for mnt in ns.mounts:
            if is_mnt_shared(mnt):
                groups.setdefault(mnt.mnt_group_id, peer_ring(mnt))
            if mnt.mnt_master is not None:
                slaves.setdefault(mnt.mnt_master.mnt_group_id, []).append(mnt)
    out = []
    for gid in sorted(groups):
        members = ", ".join(_where(m) for m in groups[gid])
        out.append(f"peer group {gid}: {members}")
        if gid in slaves:
            out.append("  slaves: " + ", ".join(_where(m) for m in slaves[gid]))
    return out


def _where(mnt: Mount) -> str:
    ns = mnt.mnt_ns.ns_id if mnt.mnt_ns is not None else "-"
    return f"ns {ns} {mount_point(mnt)} (mount {mnt.mnt_id})"


def _inode_line(dentry: Dentry) -> str:
    inode = dentry.d_inode
    assert inode is not None
    line = f"{stat.filemode(inode.i_mode)} {inode.i_uid}:{inode.i_gid} ino={inode.i_ino}"
    if inode.i_op in (bpf_map_iops, bpf_prog_iops) and inode.i_private is not None:
        line += f"  -> {inode.i_private!r}"
    return line


def dentry_tree(
    root: Dentry, descend: Callable[[Dentry], bool] = lambda dentry: True
) -> Iterator[tuple[Dentry, str]]:
    """Every dentry under ``root`` in drawing order (each directory's entries newest
    first, a subtree right after its directory), with the ``|-- ``/`` `-- `` branch
    text that leads to it.  Iterative: a tree may be deeper than Python's recursion
    limit (PATH_MAX allows about 2000 levels)."""
    # A stack of (siblings, index of the next one, the prefix their branches share).
    stack: list[tuple[list[Dentry], int, str]] = [(list(root.children()), 0, "")]
    while stack:
        siblings, index, prefix = stack.pop()
        if index == len(siblings):
            continue
        stack.append((siblings, index + 1, prefix))
        child, last = siblings[index], index == len(siblings) - 1
        yield child, prefix + ("`-- " if last else "|-- ")
        if descend(child):
            stack.append((list(child.children()), 0, prefix + ("    " if last else "|   ")))


def superblock_tree(sb: SuperBlock) -> list[str]:
    """The dentry tree of one superblock, newest entries first (readdir order)."""
    if sb.s_root is None:
        return ["(dead)"]
    lines = [f"/  {_inode_line(sb.s_root)}"]
    for child, branch in dentry_tree(sb.s_root):
        lines.append(f"{branch}{child.d_name}  {_inode_line(child)}")
    return lines


def kernel_tree(kernel: Kernel) -> str:
    """Mount namespaces, bpffs trees and bpf objects, as text."""
    out: list[str] = []
    for ns in kernel.namespaces:
        pids = sorted(pid for pid, t in kernel.tasks.items() if t.mnt_ns is ns)
        out.append(f"mount namespace {ns.ns_id} (tasks {', '.join(map(str, pids)) or '-'}):")
        for mnt in kernel.mounts(ns):
            sb = mnt.mnt_sb
            ro = " ro" if mnt.read_only else ""
            where = mount_point(mnt)
            hidden = " covered" if is_covered(mnt) else ""
            tags = propagation_tags(mnt)
            out.append(f"  {where:<16} {sb.s_type.name:<6} sb dev={sb.s_dev:#x}{ro}{tags}{hidden}")
    out.extend(peer_group_lines(kernel))
    for sb in kernel.filesystems["bpf"].fs_supers:
        mounts = "1 mount" if sb.s_active == 1 else f"{sb.s_active} mounts"
        out.append(f"bpffs superblock dev={sb.s_dev:#x} ({mounts}):")
        out.extend("  " + line for line in superblock_tree(sb))
    objects = kernel.objects()
    out.append("bpf objects:" if objects else "bpf objects: none")
    for info in objects:
        held = "; ".join(f"{h.kind} {h.detail}" for h in info.holders) or "nothing"
        out.append(f"  {info.kind} {info.id} ({info.type}) refcnt={info.refcnt}: {held}")
    return "\n".join(out)
