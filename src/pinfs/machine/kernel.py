"""The simulated machine: boot, clock, id allocators, namespaces and the task list.

``Kernel()`` boots a ramfs root holding ``/tmp`` (01777) and the empty directory
``/sys/fs/bpf`` (sysfs's mount point at the seed; the kernel never mounts bpffs itself),
registers the filesystem types, and starts ``init_task`` (pid 1, uid/gid 0, every
capability, umask 022, cwd ``/``).
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from pinfs.base import cred as credmod
from pinfs.base.errors import kernel_error
from pinfs.base.profiles import SEED, Profile
from pinfs.ebpf.attr import layouts_for
from pinfs.ebpf.ids import Idr
from pinfs.fs.fdtable import FdTable
from pinfs.fs.namei import FsStruct
from pinfs.fs.ramfs import ramfs_fs_type, tmpfs_fs_type
from pinfs.inode import bpf_fs_type
from pinfs.machine.invariants import ObjectInfo, check_invariants, kernel_objects
from pinfs.machine.task import PR_SET_KEEPCAPS, RLIMIT_MEMLOCK, RLIMIT_NOFILE, Task
from pinfs.machine.trace import Trace
from pinfs.mountns import Mount, MountContext, MountNamespace, Path, new_mount, subtree, umount_tree
from pinfs.vfs import FS_USERNS_MOUNT, FileSystemType, Inode, SuperBlock, new_inode

#: 2015-11-03 00:00:00 UTC, the day the seed commit was merged.
BOOT_TIME_NS = 1_446_508_800 * 10**9
#: How far the clock moves per syscall (coarse kernel time).
TICK_NS = 1_000_000
ANON_INODE_FS_MAGIC = 0x09041934


@attrs.define(eq=False)
class UserStruct:
    """``struct user_struct``: per-user accounting (memlock pages of bpf objects)."""

    uid: int
    locked_vm: int = 0


#: Writable sysctls: name -> (min, max) of ``proc_dointvec_minmax``.  The range of
#: ``kernel.unprivileged_bpf_disabled`` comes from the profile (only 1 at the seed).
SYSCTL_RANGES: dict[str, tuple[int, int]] = {
    "kernel.unprivileged_bpf_disabled": (1, 1),
    "fs.protected_symlinks": (0, 1),
    "fs.protected_hardlinks": (0, 1),
}


class Kernel:
    """One simulated Linux machine."""

    def __init__(
        self,
        profile: Profile = SEED,
        *,
        unprivileged_bpf_disabled: int | None = None,
        trace: bool = False,
    ) -> None:
        if not isinstance(profile, Profile):
            raise TypeError(f"profile must be a pinfs.base.profiles.Profile, not {profile!r}")
        self.profile = profile
        #: The running :class:`~pinfs.machine.trace.Trace`, or None (see :meth:`start_trace`).
        self.trace: Trace | None = None
        self.attr_layouts = layouts_for(profile)
        self.bpf_objects: dict[int, Any] = {}  # live maps and programs by id
        self.map_idr, self.prog_idr = Idr(), Idr()  # the ids bpf(2) shows (v4.13)
        self._next_obj_id = 0
        self.bugs: list[str] = []  # use-after-free and the like, as KASAN would report
        self.memlock_leaked: dict[int, int] = {}  # pages the seed leaks (S19)
        self.sysctl: dict[str, int] = {
            "kernel.unprivileged_bpf_disabled": profile.unpriv_sysctl_default
            if unprivileged_bpf_disabled is None
            else unprivileged_bpf_disabled,
            "fs.protected_symlinks": 0,
            "fs.protected_hardlinks": 0,
        }
        self.nr_open = 1 << 20
        self._clock = BOOT_TIME_NS
        self._last_ino = 0
        self._anon_dev = 20
        self._pid = 0
        self._mnt_id = 0
        self._ns_id = 0
        self.tasks: dict[int, Task] = {}
        self.namespaces: list[MountNamespace] = []
        self.users: dict[int, UserStruct] = {}
        self.init_user_ns = credmod.new_init_user_ns()
        self.filesystems: dict[str, FileSystemType] = {}
        for fs_type in (ramfs_fs_type, tmpfs_fs_type, bpf_fs_type):
            self.register_filesystem(fs_type)
        if profile.userns_mount == "refused":  # 612bacad78ba dropped FS_USERNS_MOUNT
            bpf = self.filesystems["bpf"]
            bpf.fs_flags &= ~FS_USERNS_MOUNT
        self.anon_inode = self._make_anon_inode()
        self.init_task = self._boot()
        if trace:
            self.start_trace()

    def start_trace(self) -> Trace:
        """Record every syscall of every task from now on in a new ``kernel.trace``."""
        self.trace = Trace(self)
        return self.trace

    def stop_trace(self) -> Trace | None:
        """Stop recording; returns the trace that was running."""
        trace, self.trace = self.trace, None
        return trace

    def __repr__(self) -> str:
        return f"<Kernel {len(self.tasks)} tasks, {len(self.namespaces)} mount namespaces>"

    # -- services the VFS asks for ------------------------------------------------------

    def current_time(self) -> int:
        return self._clock

    def tick(self) -> None:
        self._clock += TICK_NS

    def advance_clock(self, seconds: float) -> None:
        """Let simulated time pass (e.g. the 24 h of relatime)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._clock += int(seconds * 10**9)

    def get_next_ino(self) -> int:
        """``get_next_ino``: a machine-wide counter, never 0."""
        self._last_ino = (self._last_ino + 1) & 0xFFFFFFFF or 1
        return self._last_ino

    def alloc_anon_dev(self) -> int:
        """``get_anon_bdev``: a device number with major 0."""
        self._anon_dev += 1
        return self._anon_dev

    def next_pid(self) -> int:
        self._pid += 1
        return self._pid

    def next_mnt_id(self) -> int:
        self._mnt_id += 1
        return self._mnt_id

    def register_filesystem(self, fs_type: FileSystemType) -> None:
        """``register_filesystem``."""
        if fs_type.name in self.filesystems:
            raise kernel_error(errno.EBUSY)
        # Each kernel gets its own copy: superblock lists are per machine.
        self.filesystems[fs_type.name] = attrs.evolve(fs_type, fs_supers=[])

    def register_bpf_object(self, obj: Any) -> int:
        """A new map or program gets the next id (for introspection; the seed has no
        user-visible ids)."""
        self._next_obj_id += 1
        self.bpf_objects[self._next_obj_id] = obj
        return self._next_obj_id

    def objects(self) -> list[ObjectInfo]:
        """Live maps and programs, each with its refcnt and every holder."""
        return kernel_objects(self)

    def tree(self) -> str:
        """Mount namespaces, bpffs trees and bpf objects as text (what the tour prints)."""
        from pinfs.machine.render import kernel_tree

        return kernel_tree(self)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        """A picture (SVG) and the text tree, for notebooks."""
        from pinfs.svg import mimebundle

        return mimebundle(self)

    def check_invariants(self) -> None:
        """Raise :class:`pinfs.machine.invariants.InvariantError` if the bookkeeping is off."""
        check_invariants(self)

    def user_struct(self, uid: int) -> UserStruct:
        """``find_user``/``alloc_uid``: the accounting record of a (real) kuid."""
        user = self.users.get(uid)
        if user is None:
            user = self.users[uid] = UserStruct(uid)
        return user

    # -- namespaces ---------------------------------------------------------------------

    def new_mnt_ns(self, user_ns: credmod.UserNamespace) -> MountNamespace:
        self._ns_id += 1
        ns = MountNamespace(ns_id=self._ns_id, user_ns=user_ns)
        self.namespaces.append(ns)
        return ns

    def put_mnt_ns(self, ns: MountNamespace) -> None:
        """``put_mnt_ns``: the last task gone, the namespace's mounts go (lazily)."""
        ns.count -= 1
        if ns.count > 0:
            return
        ns.alive = False
        self.namespaces.remove(ns)
        if ns.root is not None:
            umount_tree(ns.root)

    def mounts_of(self, sb: SuperBlock) -> Iterator[Mount]:
        for ns in self.namespaces:
            for mnt in ns.mounts:
                if mnt.mnt_sb is sb:
                    yield mnt

    def create_user_ns(self, cred: credmod.Cred) -> credmod.Cred:
        """``create_user_ns``: owned by our euid; we get every capability inside."""
        parent = cred.user_ns
        if parent.level >= 32:
            raise kernel_error(errno.EUSERS)
        ns = credmod.UserNamespace(parent=parent, level=parent.level + 1, owner=cred.euid)
        full = (1 << (self.profile.cap_last_cap + 1)) - 1
        return attrs.evolve(
            cred, user_ns=ns, cap_permitted=full, cap_effective=full, cap_inheritable=0,
            cap_bset=full, keep_caps=False,
        )  # fmt: skip

    def write_id_map(self, task: Task, extents: list[tuple[int, int, int]], is_gid: bool) -> None:
        """``map_write``: once per namespace; a single extent mapping the owner's own id,
        or anything if the writer has CAP_SETUID/CAP_SETGID in the parent namespace."""
        ns = task.cred.user_ns
        parent = ns.parent
        current = ns.gid_map if is_gid else ns.uid_map
        if parent is None or current:
            raise kernel_error(errno.EPERM)
        if not extents:
            raise kernel_error(errno.EINVAL)
        lowered: list[tuple[int, int, int]] = []
        for first, lower, count in extents:
            if count <= 0 or first < 0 or lower < 0:
                raise kernel_error(errno.EINVAL)
            kid = parent.make_kgid(lower) if is_gid else parent.make_kuid(lower)
            if kid is None:
                raise kernel_error(errno.EPERM)
            lowered.append((first, kid, count))
        own = task.cred.egid if is_gid else task.cred.euid
        single_self = len(lowered) == 1 and lowered[0][2] == 1 and lowered[0][1] == own
        cap = credmod.CAP_SETGID if is_gid else credmod.CAP_SETUID
        allowed = (single_self and task.cred.euid == ns.owner) or credmod.ns_capable(
            task.cred, parent, cap
        )
        if not allowed:
            raise kernel_error(errno.EPERM)
        if is_gid:
            ns.gid_map = tuple(lowered)
        else:
            ns.uid_map = tuple(lowered)

    # -- boot and tasks -----------------------------------------------------------------

    def _make_anon_inode(self) -> Inode:
        """``anon_inode_init``: the one inode every anon_inode file shares."""
        fs_type = FileSystemType(name="anon_inodefs", mount=_no_mount, kill_sb=_no_kill)
        sb = SuperBlock(
            s_type=fs_type, kernel=self, s_dev=self.alloc_anon_dev(), s_magic=ANON_INODE_FS_MAGIC
        )
        inode = new_inode(sb)
        inode.i_ino = self.get_next_ino()
        inode.i_mode = stat.S_IRUSR | stat.S_IWUSR
        inode.i_atime = inode.i_mtime = inode.i_ctime = self._clock
        return inode

    def _boot(self) -> Task:
        memlock = self.profile.memlock_boot_limit  # 8 MiB (MLOCK_LIMIT) since v5.16
        full = (1 << (self.profile.cap_last_cap + 1)) - 1
        init_cred = credmod.Cred(
            user_ns=self.init_user_ns, cap_permitted=full, cap_effective=full, cap_bset=full
        )
        ns = self.new_mnt_ns(self.init_user_ns)
        fs_type = self.filesystems["ramfs"]
        ctx = MountContext(options="mode=0755", cred=init_cred, mnt_ns=ns)
        root = fs_type.mount(fs_type, self, 0, "rootfs", ctx)
        mnt = new_mount(root.d_sb, root, 0x20, "rootfs", self.next_mnt_id())  # MNT_RELATIME
        mnt.mnt_ns = ns
        ns.root = mnt
        ns.mounts.append(mnt)
        ns.count = 1
        root_path = Path(mnt, root)
        mnt.mnt_count += 2
        root.d_count += 2
        fs = FsStruct(root=root_path, pwd=root_path, umask=0)
        init = Task(
            kernel=self,
            pid=self.next_pid(),
            cred=init_cred,
            fs=fs,
            files=FdTable(),
            mnt_ns=ns,
            rlimits={RLIMIT_NOFILE: (1024, 4096), RLIMIT_MEMLOCK: (memlock, memlock)},
        )
        self.tasks[init.pid] = init
        init.mkdir("/tmp", 0o1777)
        for path in ("/sys", "/sys/fs", "/sys/fs/bpf"):
            init.mkdir(path, 0o755)
        init.fs.umask = 0o022
        return init

    def spawn(
        self,
        uid: int = 0,
        gid: int | None = None,
        groups: Iterable[int] = (),
        caps: Iterable[int] | None = None,
    ) -> Task:
        """A child of init with these credentials, set the way a launcher would:
        setgroups, setresgid, (keepcaps), setresuid, capset.  ``caps`` are capability
        numbers; by default uid 0 keeps every capability and others get none."""
        trace, self.trace = self.trace, None
        try:
            task = self._spawn(uid, gid, groups, caps)
        finally:
            self.trace = trace
        if trace is not None:
            trace._spawned(task, self.init_task)
        return task

    def _spawn(
        self, uid: int, gid: int | None, groups: Iterable[int], caps: Iterable[int] | None
    ) -> Task:
        gid = uid if gid is None else gid
        task = self.init_task.fork()
        try:
            task.setgroups(list(groups))
            task.setresgid(gid, gid, gid)
            full = (1 << (self.profile.cap_last_cap + 1)) - 1
            mask = (full if uid == 0 else 0) if caps is None else credmod.cap_mask(caps)
            if mask and uid != 0:
                task.prctl(PR_SET_KEEPCAPS, 1)
            task.setresuid(uid, uid, uid)
            if task.cred.cap_permitted != mask or task.cred.cap_effective != mask:
                task.capset(mask, mask, 0)
            if task.cred.keep_caps:
                task.prctl(PR_SET_KEEPCAPS, 0)
        except BaseException:
            task.exit(0)
            raise
        return task

    def mounts(self, ns: MountNamespace | None = None) -> list[Mount]:
        """The mounts of ``ns`` (default: init's), parents first."""
        ns = ns or self.init_task.mnt_ns
        return subtree(ns.root) if ns.root is not None else []


def _no_mount(*args: Any) -> Any:
    raise kernel_error(errno.EINVAL)


def _no_kill(sb: SuperBlock) -> None:
    """anon_inodefs is never unmounted."""
