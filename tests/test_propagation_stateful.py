"""A Hypothesis state machine over mount operations in several namespaces, checked
against an independent reference model of propagation.

The model knows nothing of pinfs's rings and slave lists: a peer group is a set of
mount ids with one master group (``Group``), a mount names its group and, when it is
not shared, its own master group.  It follows the rules as documented in
Documentation/filesystems/sharedsubtree.rst: a mount or unmount under a shared mount
happens under every peer and, recursively, under every slave of the group; copies
made for a slave group are slaves of the copies made for its master group; a new
namespace's copies are peers of shared originals; a mount that has mounts of its own
on it is not taken by a propagated unmount.

Every mount lives under a scratch tmpfs whose directories are ``/x`` and ``/y``, and
so is every new tmpfs (bind mounts are of whole mounts), so a propagated copy always
sees its mountpoint.  After each step the two are compared namespace by namespace:
each mount's address (the mountpoint names from the scratch root down), whether it is
shared, which mounts are its peers, which group it is a slave of and whether it is
unbindable.  ``kernel.check_invariants()`` runs after every step too.
"""

from __future__ import annotations

import errno
import itertools
from typing import Any

import attrs
import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import pinfs
from pinfs.base import uapi
from pinfs.base.profiles import LINUX_6_18
from pinfs.mountns import Mount, is_mnt_shared, is_mnt_unbindable
from pinfs.vfs import d_path_name
from support import budget

BASE = "/tmp/s"
STAGE = "/tmp/stage"
DIRS = ("/x", "/y")
PATHS = ["", "x", "y", "x/x", "x/y", "y/x", "y/y", "x/x/y", "x/y/x", "y/x/x"]
TYPES = {"shared": uapi.MS_SHARED, "slave": uapi.MS_SLAVE, "private": uapi.MS_PRIVATE}
TYPES["unbindable"] = uapi.MS_UNBINDABLE


@attrs.define(eq=False)
class MMount:
    """A mount of the model: where it hangs and how it propagates."""

    ident: int
    ns: int
    parent: MMount | None
    at: str  # the directory of the parent's filesystem it is mounted on
    group: int | None = None  # its peer group (None: not shared)
    master: int | None = None  # the group it is a slave of, when not shared
    unbindable: bool = False


@attrs.define
class Group:
    """A peer group: its members and the group they are all slaves of."""

    members: set[int]
    master: int | None = None


class Model:
    """Mount namespaces as trees of :class:`MMount`, propagation as sets."""

    def __init__(self) -> None:
        self.mounts: dict[int, MMount] = {}
        self.groups: dict[int, Group] = {}
        self.roots: dict[int, MMount] = {}  # ns -> its scratch mount
        self._ids = itertools.count(1)

    # -- the pieces -----------------------------------------------------------------

    def new(self, ns: int, parent: MMount | None, at: str) -> MMount:
        m = MMount(next(self._ids), ns, parent, at)
        self.mounts[m.ident] = m
        return m

    def master_of(self, m: MMount) -> int | None:
        return self.groups[m.group].master if m.group is not None else m.master

    def children(self, m: MMount) -> list[MMount]:
        return [c for c in self.mounts.values() if c.parent is m]

    def child_at(self, m: MMount, at: str) -> MMount | None:
        return next((c for c in self.children(m) if c.at == at), None)

    def subtree(self, m: MMount) -> list[MMount]:
        out = [m]
        for x in out:
            out.extend(self.children(x))
        return out

    def resolve(self, ns: int, path: str) -> tuple[MMount, str]:
        """Walk ``path`` under the scratch root: ENOENT for a missing directory; every
        mount on a directory is followed down to the top of its stack."""
        m, rel = self.follow(self.roots[ns], "/")
        for name in filter(None, path.split("/")):
            rel = f"/{name}" if rel == "/" else f"{rel}/{name}"
            if rel not in DIRS:
                raise OSError(errno.ENOENT, path)
            m, rel = self.follow(m, rel)
        return m, rel

    def follow(self, m: MMount, rel: str) -> tuple[MMount, str]:
        while (child := self.child_at(m, rel)) is not None:
            m, rel = child, "/"
        return m, rel

    def join(self, m: MMount, group: int) -> None:
        m.group, m.master = group, None
        self.groups[group].members.add(m.ident)

    def new_group(self, m: MMount, master: int | None) -> None:
        gid = max(self.groups, default=0) + 1
        self.groups[gid] = Group(set(), master)
        self.join(m, gid)

    def leave(self, m: MMount) -> None:
        """``do_make_slave`` as sets: leave the group and become its slave; the last
        member takes the group's slaves down to the group's own master."""
        if m.group is None:
            return
        gid, group = m.group, self.groups[m.group]
        group.members.discard(m.ident)
        m.group = None
        if group.members:
            m.master = gid
            return
        m.master = group.master
        del self.groups[gid]
        for other in self.mounts.values():
            if other.master == gid:
                other.master = group.master
        for g in self.groups.values():
            if g.master == gid:
                g.master = group.master

    def make(self, m: MMount, kind: str) -> None:
        if kind == "shared":
            if m.group is None:
                self.new_group(m, m.master)
            m.unbindable = False
            return
        self.leave(m)
        if kind != "slave":
            m.master = None
            m.unbindable = kind == "unbindable"

    def receivers(self, m: MMount) -> list[list[MMount]]:
        """The mounts receiving from ``m`` as a tree of levels: first ``m``'s peers
        (``m`` first), then each slave group (or lone slave) of any group reached,
        each paired with the level it is a slave of (returned as index)."""
        if m.group is None:
            return []
        out: list[list[MMount]] = [[m, *self.peers_of(m)]]
        levels = [(m.group, 0)]
        for gid, _ in levels:
            slaves = [x for x in self.mounts.values() if self.master_of(x) == gid]
            seen: set[int] = set()
            for s in sorted(slaves, key=lambda x: x.ident):
                if s.ident in seen:
                    continue
                ring = [s, *self.peers_of(s)] if s.group is not None else [s]
                seen.update(x.ident for x in ring)
                out.append(ring)
                if s.group is not None:
                    levels.append((s.group, len(out) - 1))
        return out

    def peers_of(self, m: MMount) -> list[MMount]:
        assert m.group is not None
        return sorted(
            (self.mounts[i] for i in self.groups[m.group].members if i != m.ident),
            key=lambda x: x.ident,
        )

    # -- the operations ----------------------------------------------------------------

    def clone(self, orig: MMount, ns: int, parent: MMount | None, at: str) -> MMount:
        """A plain clone (bind, new namespace): a peer of a shared original, a slave
        of the same master; unbindable is not kept (6.17+)."""
        c = self.new(ns, parent, at)
        if orig.group is not None:
            self.join(c, orig.group)
        else:
            c.master = orig.master
        return c

    def attach(self, tree: list[MMount], dest: MMount, rel: str) -> None:
        """``attach_recursive_mnt``: ``tree`` (parents first, its root unattached) goes
        on ``rel`` of ``dest``; under a shared ``dest`` every receiver gets a copy."""
        top = tree[0]
        top.parent, top.at = dest, rel
        if dest.group is None:
            return
        new = {t.ident for t in tree}  # IS_MNT_NEW: the tree itself receives nothing
        rings = [[q for q in ring if q.ident not in new] for ring in self.receivers(dest)]
        levels = [ring for ring in rings if ring]
        for t in tree:
            if t.group is None:
                self.new_group(t, t.master)
        copies: dict[int, dict[int, MMount]] = {0: {t.ident: t for t in tree}}
        slave_level = self._slave_levels(levels)
        for index, ring in enumerate(levels):
            if index == 0:
                made = copies[0]
                receivers = ring[1:]
            else:
                made = {}
                receivers = ring
            for q in receivers:
                self._copy_onto(q, rel, tree, made, copies[slave_level[index]], index)
            copies[index] = made

    def _slave_levels(self, levels: list[list[MMount]]) -> dict[int, int]:
        """Each level's master level (the one holding its master group)."""
        out = {0: 0}
        for index, ring in enumerate(levels[1:], start=1):
            master = self.master_of(ring[0])
            out[index] = next(i for i, r in enumerate(levels) if r[0].group == master)
        return out

    def _copy_onto(
        self,
        q: MMount,
        rel: str,
        tree: list[MMount],
        made: dict[int, MMount],
        masters: dict[int, MMount],
        level: int,
    ) -> None:
        below = self.child_at(q, rel)
        new: dict[int, MMount] = {}
        for t in tree:
            parent = q if t is tree[0] else new[t.parent.ident]  # type: ignore[union-attr]
            c = self.new(q.ns, parent, rel if t is tree[0] else t.at)
            c.unbindable = False
            if level == 0:
                self.join(c, t.group)  # type: ignore[arg-type]
            elif t.ident in made:
                self.join(c, made[t.ident].group)  # type: ignore[arg-type]
            else:
                master = masters[t.ident].group
                if q.group is not None:
                    self.new_group(c, master)
                else:
                    c.master = master
            new[t.ident] = c
            made.setdefault(t.ident, c)
        if below is not None:
            top, _ = self.follow(new[tree[0].ident], "/")
            below.parent, below.at = top, "/"

    def umount(self, m: MMount, lazy: bool) -> None:
        if not lazy and self.children(m):
            raise OSError(errno.EBUSY, "umount")
        going = self.subtree(m)
        gone = {x.ident for x in going}
        candidates: list[MMount] = []
        for u in going:
            assert u.parent is not None
            for ring in self.receivers(u.parent):
                for q in ring:
                    c = self.child_at(q, u.at)
                    if q is not u.parent and c is not None and c.ident not in gone:
                        candidates.append(c)
        changed = True
        while changed:
            changed = False
            for c in candidates:
                if c.ident not in gone and all(x.ident in gone for x in self.children(c)):
                    gone.add(c.ident)
                    going.append(c)
                    changed = True
        for x in going:
            self.make(x, "private")
        for x in going:
            del self.mounts[x.ident]

    def copy_ns(self, old: int, new: int) -> None:
        copies: dict[int, MMount] = {}
        for m in self.subtree(self.roots[old]):
            parent = copies[m.parent.ident] if m.parent is not None else None
            copies[m.ident] = self.clone(m, new, parent, m.at)
        self.roots[new] = copies[self.roots[old].ident]

    # -- what is compared --------------------------------------------------------------

    def view(self, ns: int) -> list[tuple[Any, ...]]:
        def address(m: MMount) -> tuple[str, ...]:
            return (*address(m.parent), m.at) if m.parent is not None else ()

        rows = [
            (address(m), m.group, self.master_of(m), m.unbindable)
            for m in self.subtree(self.roots[ns])
        ]
        return canonical(rows)


def canonical(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Sort by address and rename group ids in order of appearance."""
    names: dict[Any, int] = {}
    out = []
    for address, group, master, unbindable in sorted(rows, key=lambda r: r[0]):
        g = names.setdefault(("g", group), len(names)) if group is not None else None
        mm = names.setdefault(("g", master), len(names)) if master is not None else None
        out.append((address, g, mm, unbindable))
    return out


def pinfs_view(root: Mount) -> list[tuple[Any, ...]]:
    def address(m: Mount) -> tuple[str, ...]:
        if m is root or m.mnt_parent is None or m.mnt_mountpoint is None:
            return ()
        return (*address(m.mnt_parent), d_path_name(m.mnt_mountpoint) or "/")

    mounts = [root]
    for m in mounts:
        mounts.extend(m.children())
    rows = []
    for m in mounts:
        group = m.mnt_group_id if is_mnt_shared(m) else None
        master = m.mnt_master.mnt_group_id if m.mnt_master is not None else None
        rows.append((address(m), group, master, is_mnt_unbindable(m)))
    return canonical(rows)


# ---------------------------------------------------------------------------------------
# The machine

ns_index = st.integers(0, 2)
paths = st.sampled_from(PATHS)


class PropagationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.kernel = pinfs.Kernel(LINUX_6_18, boot="systemd")
        first = self.kernel.spawn()
        first.unshare(uapi.CLONE_NEWNS)
        first.mount(None, "/", None, uapi.MS_REC | uapi.MS_PRIVATE)
        first.mkdir(BASE)
        first.mkdir(STAGE)
        self.new_tmpfs(first, BASE)
        self.tasks = [first]
        self.model = Model()
        self.model.roots[0] = self.model.new(0, None, "/")

    @staticmethod
    def new_tmpfs(task: Any, where: str) -> None:
        """A tmpfs holding ``/x`` and ``/y`` before it arrives at ``where`` (made on a
        private staging directory, then MS_MOVE, which propagates as a new mount)."""
        task.mount("none", STAGE, "tmpfs")
        for d in DIRS:
            task.mkdir(STAGE + d)
        try:
            task.mount(STAGE, where, None, uapi.MS_MOVE)
        except OSError:
            task.umount(STAGE)
            raise

    def both(self, real: Any, model: Any) -> None:
        """Run the pinfs call and the model step; the same errno or both succeed."""
        try:
            real()
        except OSError as e:
            got: int | None = e.errno
        else:
            got = None
        try:
            model()
        except OSError as e:
            want: int | None = e.errno
        else:
            want = None
        assert got == want, (got, want)

    @initialize(start=st.sampled_from(["private", "shared", "shared peers", "chain"]))
    def start(self, start: str) -> None:
        """Most interesting states begin with a shared scratch mount, often with a
        peer of it at ``x``, or with a shared slave of it there (``chain``): start
        there as often as from a private one."""
        if start != "private":
            self.make(0, "", "shared", False)
        if start in ("shared peers", "chain"):
            self.bind(0, "", "x", False)
        if start == "chain":
            self.make(0, "x", "slave", False)
            self.make(0, "x", "shared", False)

    def task(self, ns: int) -> Any:
        return self.tasks[ns % len(self.tasks)]

    @precondition(lambda self: len(self.tasks) < 3)
    @rule(source=ns_index)
    def new_namespace(self, source: int) -> None:
        parent = self.task(source)
        child = parent.fork()
        child.unshare(uapi.CLONE_NEWNS)
        self.tasks.append(child)
        self.model.copy_ns(source % (len(self.tasks) - 1), len(self.tasks) - 1)

    @rule(ns=ns_index, path=paths)
    def mount_tmpfs(self, ns: int, path: str) -> None:
        task, n = self.task(ns), ns % len(self.tasks)
        where = f"{BASE}/{path}".rstrip("/")

        def model() -> None:
            dest, rel = self.model.resolve(n, path)
            self.model.attach([self.model.new(n, None, "/")], dest, rel)

        self.both(lambda: self.new_tmpfs(task, where), model)

    @rule(ns=ns_index, src=paths, dst=paths, rec=st.booleans())
    def bind(self, ns: int, src: str, dst: str, rec: bool) -> None:
        task, n = self.task(ns), ns % len(self.tasks)
        try:
            source, rel = self.model.resolve(n, src)
        except OSError:
            source, rel = None, ""
        if source is None or rel != "/":
            return  # binds of whole mounts only (an assume() would drop the whole run)
        flags = uapi.MS_BIND | (uapi.MS_REC if rec else 0)

        def real() -> None:
            task.mount(f"{BASE}/{src}".rstrip("/"), f"{BASE}/{dst}".rstrip("/"), None, flags)

        def model() -> None:
            dest, drel = self.model.resolve(n, dst)
            if source.unbindable:
                raise OSError(errno.EINVAL, "bind")
            tree = self._bind_tree(source, n, rec)
            self.model.attach(tree, dest, drel)

        self.both(real, model)

    def _bind_tree(self, source: MMount, ns: int, rec: bool) -> list[MMount]:
        top = self.model.clone(source, ns, None, "/")
        tree, copies = [top], {source.ident: top}
        if rec:
            for m in self.model.subtree(source)[1:]:
                assert m.parent is not None
                if m.unbindable or m.parent.ident not in copies:
                    continue
                copies[m.ident] = c = self.model.clone(m, ns, copies[m.parent.ident], m.at)
                tree.append(c)
        return tree

    @rule(ns=ns_index, path=paths, kind=st.sampled_from(sorted(TYPES)), rec=st.booleans())
    def make(self, ns: int, path: str, kind: str, rec: bool) -> None:
        task, n = self.task(ns), ns % len(self.tasks)
        flags = TYPES[kind] | (uapi.MS_REC if rec else 0)

        def model() -> None:
            m, rel = self.model.resolve(n, path)
            if rel != "/":
                raise OSError(errno.EINVAL, "make")
            for x in self.model.subtree(m) if rec else [m]:
                self.model.make(x, kind)

        self.both(lambda: task.mount(None, f"{BASE}/{path}".rstrip("/"), None, flags), model)

    @rule(ns=ns_index, path=st.sampled_from(PATHS[1:]), lazy=st.booleans())
    def umount(self, ns: int, path: str, lazy: bool) -> None:
        task, n = self.task(ns), ns % len(self.tasks)
        flags = uapi.MNT_DETACH if lazy else 0

        def model() -> None:
            m, rel = self.model.resolve(n, path)
            if rel != "/" or m is self.model.roots[n]:
                raise OSError(errno.EINVAL, "umount")
            self.model.umount(m, lazy)

        self.both(lambda: task.umount(f"{BASE}/{path}", flags), model)

    @invariant()
    def agree(self) -> None:
        self.kernel.check_invariants()
        for n, task in enumerate(self.tasks):
            scratch = task.mnt_ns.root
            found = [m for m in task.mnt_ns.mounts if m.source == "none"]
            top = min(found, key=lambda m: m.mnt_id)
            assert scratch is not None
            assert pinfs_view(top) == self.model.view(n), n


TestPropagationMachine = PropagationMachine.TestCase
TestPropagationMachine.settings = settings(
    max_examples=budget(200),
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
