"""A deep, comparable picture of a kernel's state, for "a failed call changed nothing" tests.

``snapshot(kernel)`` walks everything a syscall could half-change and returns plain
Python data (dicts, tuples, ints, strings) so two snapshots compare with ``==`` and a
failing assert shows the difference: every task's credentials, fs context, fd table
(which open file description each fd names, its flags, position and path) and user
memory; every mount namespace with its mounts (ids, parents, mountpoints, flags,
counts); every superblock reachable from a mount, an fd or a cwd, with its whole dentry
tree (names, inode numbers, modes, owners, nlink, sizes, link bodies); every live bpf
object with its refcount and holders; memlock per user; the id and inode counters.

Objects are named by stable keys (inode numbers, mount ids, object ids, positions in
the fd table), never by ``id()``, so a snapshot of a rebuilt kernel can equal another.
"""

from __future__ import annotations

from typing import Any

from pinfs.machine.kernel import Kernel
from pinfs.vfs import Dentry, File, SuperBlock

State = dict[str, Any]


def snapshot(kernel: Kernel) -> State:
    """Everything a syscall may change, as comparable data."""
    superblocks: dict[int, SuperBlock] = {}
    state: State = {
        "tasks": {pid: _task(task, superblocks) for pid, task in sorted(kernel.tasks.items())},
        "namespaces": [_namespace(ns, superblocks) for ns in kernel.namespaces],
        "objects": [_object(info) for info in kernel.objects()],
        # A user with nothing locked is the same as one without a record yet.
        "memlock": {
            u: user.locked_vm for u, user in sorted(kernel.users.items()) if user.locked_vm
        },
        "memlock_leaked": dict(sorted(kernel.memlock_leaked.items())),
        "sysctl": dict(sorted(kernel.sysctl.items())),
        "bugs": list(kernel.bugs),
        "counters": (kernel._last_ino, kernel._pid, kernel._mnt_id, kernel._ns_id),
    }
    state["superblocks"] = {
        dev: _superblock(sb) for dev, sb in sorted(superblocks.items(), key=lambda kv: kv[0])
    }
    return state


def _dentry_key(dentry: Dentry | None) -> tuple[Any, ...] | None:
    if dentry is None:
        return None
    ino = dentry.d_inode.i_ino if dentry.d_inode is not None else None
    return (dentry.d_sb.s_dev, ino, dentry.d_name)


def _path_key(path: Any, superblocks: dict[int, SuperBlock]) -> tuple[Any, ...] | None:
    if path is None:
        return None
    superblocks[path.dentry.d_sb.s_dev] = path.dentry.d_sb
    return (path.mnt.mnt_id, _dentry_key(path.dentry))


def _file(file: File, files: dict[int, int], superblocks: dict[int, SuperBlock]) -> Any:
    # Open file descriptions shared by several fds get one number per task table.
    shared = files.setdefault(id(file), len(files))
    inode = file.f_inode
    return {
        "description": shared,
        "f_flags": file.f_flags,
        "f_mode": file.f_mode,
        "f_count": file.f_count,
        "f_pos": file.f_pos,
        "f_cursor": _dentry_key(file.f_cursor),
        "anon": file.anon_name,
        "path": _path_key(file.f_path, superblocks),
        "ino": None if inode is None else (inode.i_sb.s_dev, inode.i_ino),
    }


def _task(task: Any, superblocks: dict[int, SuperBlock]) -> State:
    files: dict[int, int] = {}
    cred = task.cred
    return {
        "alive": task.alive,
        "exit_status": task.exit_status,
        "cred": (
            (cred.uid, cred.euid, cred.suid, cred.fsuid),
            (cred.gid, cred.egid, cred.sgid, cred.fsgid),
            tuple(sorted(cred.groups)),
            (cred.cap_inheritable, cred.cap_permitted, cred.cap_effective, cred.cap_bset),
            cred.keep_caps,
            id(cred.user_ns) if cred.user_ns is not task.kernel.init_user_ns else "init",
        ),
        "umask": task.fs.umask,
        "root": _path_key(task.fs.root, superblocks),
        "cwd": _path_key(task.fs.pwd, superblocks),
        "mnt_ns": task.mnt_ns.ns_id,
        "fds": {
            fd: _file(file, files, superblocks)
            for fd, file in enumerate(task.files.fds)
            if file is not None
        },
        "cloexec": sorted(task.files.cloexec),
        "rlimits": dict(sorted(task.rlimits.items())),
        "memory": task.mem.image(),
    }


def _namespace(ns: Any, superblocks: dict[int, SuperBlock]) -> State:
    mounts = []
    for mnt in ns.mounts:
        superblocks[mnt.mnt_sb.s_dev] = mnt.mnt_sb
        mounts.append(
            {
                "id": mnt.mnt_id,
                "parent": None if mnt.mnt_parent is None else mnt.mnt_parent.mnt_id,
                "mountpoint": _dentry_key(mnt.mnt_mountpoint),
                "root": _dentry_key(mnt.mnt_root),
                "sb": mnt.mnt_sb.s_dev,
                "flags": mnt.mnt_flags,
                "count": mnt.mnt_count,
                "writers": mnt.mnt_writers,
                "attached": mnt.attached,
                "expiry_mark": mnt.expiry_mark,
                "propagation": (
                    mnt.mnt_t_flags,
                    mnt.mnt_group_id,
                    tuple(m.mnt_id for m in mnt.mnt_share),
                    None if mnt.mnt_master is None else mnt.mnt_master.mnt_id,
                    tuple(m.mnt_id for m in mnt.mnt_slave_list),
                ),
                "children": sorted(
                    (_dentry_key(at), tuple(m.mnt_id for m in stack))
                    for at, stack in mnt.mounts_at.items()
                ),
            }
        )
    return {
        "id": ns.ns_id,
        "alive": ns.alive,
        "count": ns.count,
        "root": None if ns.root is None else ns.root.mnt_id,
        "mounts": mounts,
    }


def _superblock(sb: SuperBlock) -> State:
    return {
        "type": sb.s_type.name,
        "flags": sb.s_flags,
        "active": sb.s_active,
        "inodes": sorted(
            (i.i_ino, i.i_mode, i.i_uid, i.i_gid, i.i_nlink, i.i_size, i.i_link, i.i_count)
            for i in sb.s_inodes
        ),
        "tree": _tree(sb.s_root),
    }


def _tree(dentry: Dentry | None) -> Any:
    if dentry is None:
        return None
    inode = dentry.d_inode
    node: dict[str, Any] = {
        "ino": None if inode is None else inode.i_ino,
        "count": dentry.d_count,
        "hashed": dentry.hashed,
    }
    if inode is not None:
        node.update(mode=inode.i_mode, owner=(inode.i_uid, inode.i_gid), nlink=inode.i_nlink)
        node.update(times=(inode.i_atime, inode.i_mtime, inode.i_ctime), link=inode.i_link)
    children = {
        name: _tree(child) for name, child in dentry.d_subdirs.items() if child is not dentry
    }
    if children:
        node["children"] = children
    return node


def _object(info: Any) -> tuple[Any, ...]:
    # Sorted: pins come in the order of a superblock's inode set, which is not state.
    holders = tuple(sorted(repr(h) for h in info.holders))
    return (info.id, info.kind, info.type, info.refcnt, holders)
