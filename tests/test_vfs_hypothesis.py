"""Random syscall sequences keep the dcache, inode and file bookkeeping consistent.

Several tasks (root with umask 022, uid 1000 with umask 077, uid 1001 in group 1000
with umask 002, plus forked children) run mkdir, rmdir, unlink, mknod, symlink,
rename (with and without flags), link, chmod, open/close/dup, chdir, mount/umount
(lazy too), unshare(CLONE_NEWNS), fork and exit/execve on a small name space inside
a sticky tmpfs at /tmp/w; half of the path arguments are names that exist at that
moment.  After every step:

* every hashed child is found under its name in its parent's ``d_subdirs`` and no
  negative dentry is left behind;
* a directory's ``i_nlink`` is 2 + its subdirectories, a non-directory's is the number
  of names it has;
* each dentry's ``d_count`` is its creation reference + its children + the open files,
  cwds, roots and mounts that hold it; each inode's ``i_count`` is the number of
  dentries on it; nothing in ``s_inodes`` is freed; each file's ``f_count`` is the
  number of fd slots pointing at it;
* every failure was an OSError (KernelError) with a known errno.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import pinfs
from pinfs.fs.ramfs import WouldBlockForever
from pinfs.machine.task import CLONE_NEWNS, Task
from support import budget

O_PATH = 0o10000000
NAMES = ["a", "b", "c"]
MODES = [0o777, 0o755, 0o700, 0o1777, 0o2775, 0o000, 0o644]
OPEN_FLAGS = [
    os.O_RDONLY,
    os.O_WRONLY,
    os.O_RDWR | os.O_TRUNC,
    os.O_RDONLY | os.O_DIRECTORY,
    os.O_CREAT | os.O_WRONLY,
    os.O_CREAT | os.O_EXCL | os.O_RDWR,
    os.O_RDONLY | os.O_NOFOLLOW,
    O_PATH,
    O_PATH | os.O_NOFOLLOW,
    os.O_RDONLY | os.O_CLOEXEC,
]

names = st.sampled_from(NAMES)
odd = st.sampled_from([*NAMES, ".", "..", "l"])
paths = st.one_of(
    names.map(lambda a: f"/tmp/w/{a}"),
    names.map(lambda a: f"/tmp/w/{a}"),
    st.tuples(names, names).map(lambda p: f"/tmp/w/{p[0]}/{p[1]}"),
    names,  # relative to the cwd
    st.builds(
        lambda parts, absolute, slash: ("/tmp/w/" if absolute else "") + "/".join(parts) + slash,
        st.lists(odd, min_size=1, max_size=3),
        st.booleans(),
        st.sampled_from(["", "/"]),
    ),
)
task_ids = st.integers(min_value=0, max_value=7)
sel = st.integers(min_value=0, max_value=1000)


class VfsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.k = pinfs.Kernel()
        root = self.k.init_task
        root.mkdir("/tmp/w")
        root.mount("none", "/tmp/w", "tmpfs", 0, "mode=1777")
        root.mkdir("/tmp/w/a", 0o777)
        root.mknod("/tmp/w/a/b", stat.S_IFREG | 0o666)
        root.mknod("/tmp/w/b", stat.S_IFREG | 0o644)
        root.symlink("a", "/tmp/w/l")
        u1 = self.k.spawn(uid=1000, gid=1000)
        u1.umask(0o077)
        u2 = self.k.spawn(uid=1001, gid=1001, groups=(1000,))
        u2.umask(0o002)
        fd = root.open("/tmp/w", O_PATH)
        self.wroot = root.fd_file(fd).f_path.dentry
        root.close(fd)
        self.tasks: list[Task] = [root, u1, u2]
        self.fds: dict[int, list[int]] = {t.pid: t.files.open_fds() for t in self.tasks}
        for t in self.tasks:
            t.chdir("/tmp/w")
        self.errors: Counter[str] = Counter()

    # -- helpers ------------------------------------------------------------------------

    def task(self, i: int) -> Task:
        return self.tasks[i % len(self.tasks)]

    def pick(self, p: str, sel: int) -> str:
        """Half of the time ``p`` as generated, else an existing name under /tmp/w
        (found in the dcache, so that renames, links and unlinks often hit)."""
        if sel % 2:
            return p
        found = []
        stack = [("/tmp/w", self.wroot)]
        while stack:
            path, d = stack.pop()
            for name, child in sorted(d.d_subdirs.items()):
                if child.d_inode is not None:
                    found.append(f"{path}/{name}")
                    stack.append((f"{path}/{name}", child))
        return found[sel // 2 % len(found)] if found else p

    def call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except OSError as e:
            assert isinstance(e, pinfs.KernelError), repr(e)
            assert e.errno in errno.errorcode, e.errno
            self.errors[errno.errorcode[e.errno]] += 1
            return None
        except WouldBlockForever:  # a blocking FIFO open: only another task could finish it
            self.errors["would-block"] += 1
            return None

    # -- rules --------------------------------------------------------------------------

    @rule(i=task_ids, p=paths, mode=st.sampled_from(MODES))
    def mkdir(self, i: int, p: str, mode: int) -> None:
        self.call(self.task(i).mkdir, p, mode)

    @rule(i=task_ids, p=paths, sel=sel)
    def rmdir(self, i: int, p: str, sel: int) -> None:
        self.call(self.task(i).rmdir, self.pick(p, sel))

    @rule(i=task_ids, p=paths, sel=sel)
    def unlink(self, i: int, p: str, sel: int) -> None:
        self.call(self.task(i).unlink, self.pick(p, sel))

    @rule(i=task_ids, p=paths, kind=st.sampled_from([stat.S_IFREG, stat.S_IFIFO, 0]))
    def mknod(self, i: int, p: str, kind: int) -> None:
        self.call(self.task(i).mknod, p, kind | 0o664)

    @rule(i=task_ids, body=paths, p=paths)
    def symlink(self, i: int, body: str, p: str) -> None:
        self.call(self.task(i).symlink, body, p)

    @rule(i=task_ids, old=paths, new=paths, s1=sel, s2=sel, flags=st.sampled_from([0, 0, 1, 2]))
    def rename(self, i: int, old: str, new: str, s1: int, s2: int, flags: int) -> None:
        self.call(self.task(i).rename, self.pick(old, s1), self.pick(new, s2), flags)

    @rule(i=task_ids, old=paths, new=paths, s1=sel)
    def link(self, i: int, old: str, new: str, s1: int) -> None:
        self.call(self.task(i).link, self.pick(old, s1), new)

    @rule(i=task_ids, p=paths, sel=sel, mode=st.sampled_from(MODES))
    def chmod(self, i: int, p: str, sel: int, mode: int) -> None:
        self.call(self.task(i).chmod, self.pick(p, sel), mode)

    @rule(i=task_ids, p=paths, sel=sel, flags=st.sampled_from(OPEN_FLAGS))
    def open(self, i: int, p: str, sel: int, flags: int) -> None:
        t = self.task(i)
        fd = self.call(t.open, self.pick(p, sel), flags, 0o666)
        if fd is not None:
            self.fds[t.pid].append(fd)

    @rule(i=task_ids, n=st.integers(min_value=0, max_value=5))
    def close(self, i: int, n: int) -> None:
        t = self.task(i)
        fds = self.fds[t.pid]
        if fds:
            t.close(fds.pop(n % len(fds)))
        else:
            self.call(t.close, 0)

    @rule(i=task_ids, p=paths, sel=sel)
    def chdir(self, i: int, p: str, sel: int) -> None:
        self.call(self.task(i).chdir, self.pick(p, sel))

    @rule(i=task_ids, p=paths)
    def stat_and_list(self, i: int, p: str) -> None:
        t = self.task(i)
        self.call(t.lstat, p)
        names = self.call(t.listdir, p)
        if names is not None:
            assert len(names) == len(set(names))

    @rule(i=task_ids, n=st.integers(min_value=0, max_value=5))
    def dup(self, i: int, n: int) -> None:
        t = self.task(i)
        fds = self.fds[t.pid]
        if fds:
            self.fds[t.pid].append(t.dup(fds[n % len(fds)]))

    @rule(i=task_ids, p=paths, sel=sel, fstype=st.sampled_from(["tmpfs", "ramfs"]))
    def mount(self, i: int, p: str, sel: int, fstype: str) -> None:
        self.call(self.task(i).mount, "none", self.pick(p, sel), fstype)

    @rule(i=task_ids, p=paths, sel=sel, flags=st.sampled_from([0, 0, 2]))
    def umount(self, i: int, p: str, sel: int, flags: int) -> None:
        self.call(self.task(i).umount, self.pick(p, sel), flags)

    @rule(i=task_ids)
    def unshare(self, i: int) -> None:
        self.call(self.task(i).unshare, CLONE_NEWNS)

    @rule(i=task_ids)
    def fork(self, i: int) -> None:
        if len(self.tasks) < 6:
            parent = self.task(i)
            child = parent.fork()
            self.tasks.append(child)
            self.fds[child.pid] = list(self.fds[parent.pid])

    @rule(i=task_ids)
    def exit_or_exec(self, i: int) -> None:
        t = self.task(i)
        if t.pid != 1 and len(self.tasks) > 3 and self.tasks.index(t) >= 3:
            t.exit(0)
            self.tasks.remove(t)
            del self.fds[t.pid]
        else:
            t.execve()
            self.fds[t.pid] = t.files.open_fds()

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def fd_bookkeeping_matches(self) -> None:
        for t in self.tasks:
            assert sorted(self.fds[t.pid]) == t.files.open_fds()

    @invariant()
    def dcache_is_consistent(self) -> None:
        check_consistency(self.k)


def live_dentries(k: pinfs.Kernel) -> tuple[list[Any], Counter[int], list[Any]]:
    """Every dentry alive (in a tree or held by something), the references held on
    each from outside the dcache (files, cwds, roots, mounts), and the superblocks."""
    holders: Counter[int] = Counter()
    found: dict[int, Any] = {}
    sbs: dict[int, Any] = {}
    held: list[Any] = []
    mounts: dict[int, Any] = {}
    for ns in k.namespaces:
        for m in k.mounts(ns):
            mounts[id(m)] = m
    files: dict[int, Any] = {}
    for t in k.tasks.values():
        for path in (t.fs.pwd, t.fs.root):
            holders[id(path.dentry)] += 1
            held.append(path.dentry)
            mounts[id(path.mnt)] = path.mnt  # maybe detached (MNT_DETACH)
        for fd in t.files.open_fds():
            f = t.fd_file(fd)
            files[id(f)] = f
    for f in files.values():
        if f.f_path is not None:
            holders[id(f.f_path.dentry)] += 1
            held.append(f.f_path.dentry)
            mounts[id(f.f_path.mnt)] = f.f_path.mnt
    for m in mounts.values():
        assert m.mnt_count >= 0
        sbs[id(m.mnt_sb)] = m.mnt_sb
        holders[id(m.mnt_root)] += 1
        held.append(m.mnt_root)
        if m.mnt_mountpoint is not None:
            holders[id(m.mnt_mountpoint)] += 1
            held.append(m.mnt_mountpoint)
    for sb in sbs.values():
        stack = [sb.s_root]
        while stack:
            d = stack.pop()
            found[id(d)] = d
            stack.extend(d.d_subdirs.values())
    for d in held:
        while id(d) not in found:
            found[id(d)] = d
            d = d.d_parent
    return list(found.values()), holders, list(sbs.values())


def check_consistency(k: pinfs.Kernel) -> None:
    dentries, holders, sbs = live_dentries(k)
    roots = {id(sb.s_root) for sb in sbs}
    children: Counter[int] = Counter()
    names: Counter[int] = Counter()
    subdirs: Counter[int] = Counter()
    on_inode: Counter[int] = Counter()
    for d in dentries:
        parent = d.d_parent
        assert parent is not None
        if parent is not d:
            children[id(parent)] += 1
        if d.d_inode is not None:
            on_inode[id(d.d_inode)] += 1
        if d.hashed and id(d) not in roots:
            # A hashed dentry is reachable under its name; none is negative.
            assert parent.d_subdirs.get(d.d_name) is d, d
            assert d.d_inode is not None, f"negative dentry left behind: {d!r}"
            names[id(d.d_inode)] += 1
            if d.d_inode.is_dir:
                subdirs[id(parent.d_inode)] += 1
    for d in dentries:
        for name, child in d.d_subdirs.items():
            assert child.d_parent is d and child.d_name == name and child.hashed
        creation = 1 if (d.hashed and d.d_inode is not None) or id(d) in roots else 0
        expected = creation + children[id(d)] + holders[id(d)]
        assert d.d_count == expected, (d, d.d_count, expected)
        inode = d.d_inode
        if inode is None:
            continue
        assert not inode.freed, d
        assert inode.i_count == on_inode[id(inode)], (inode, inode.i_count)
        if not d.hashed and id(d) not in roots:
            continue  # unlinked but held: nlink tells how many names are left
        if inode.is_dir:
            assert inode.i_nlink == 2 + subdirs[id(inode)], (d, inode.i_nlink)
        else:
            assert inode.i_nlink == names[id(inode)], (d, inode.i_nlink)
    for d in dentries:
        inode = d.d_inode
        if inode is not None and not d.hashed and id(d) not in roots and not inode.is_dir:
            assert inode.i_nlink == names[id(inode)]
    for sb in sbs:
        for inode in sb.s_inodes:
            assert not inode.freed
            assert inode.i_count == on_inode[id(inode)] >= 1, inode
    file_slots: Counter[int] = Counter()
    files = {}
    for t in k.tasks.values():
        for fd in t.files.open_fds():
            f = t.fd_file(fd)
            file_slots[id(f)] += 1
            files[id(f)] = f
    for key, f in files.items():
        assert f.f_count == file_slots[key], f


TestVfsMachine = VfsMachine.TestCase
TestVfsMachine.settings = settings(
    max_examples=budget(100),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_consistency_checker_catches_a_leak() -> None:
    """The checker itself: a stray dget, an extra nlink and a negative dentry are
    all reported."""
    import pytest

    from pinfs.vfs import d_alloc, dget, dput

    k = pinfs.Kernel()
    t = k.init_task
    t.mkdir("/tmp/d")
    check_consistency(k)
    d = t.fs.root.dentry.d_subdirs["tmp"].d_subdirs["d"]
    dget(d)
    with pytest.raises(AssertionError, match=r"<dentry 'd' .*count=2"):
        check_consistency(k)
    dput(d)
    d.d_inode.i_nlink += 1
    with pytest.raises(AssertionError, match=r"<dentry 'd' .*, 3\)"):
        check_consistency(k)
    d.d_inode.i_nlink -= 1
    neg = d_alloc(d, "ghost")
    with pytest.raises(AssertionError, match="negative dentry left behind: <dentry 'ghost'"):
        check_consistency(k)
    dput(neg)
    check_consistency(k)
