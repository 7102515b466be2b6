"""The simulated machine: boot, clock, id allocators, namespaces and the task list.

``Kernel()`` boots a ramfs root holding ``/tmp`` (01777), the empty directory
``/sys/fs/bpf`` (sysfs's mount point at the seed; the kernel never mounts bpffs itself)
and, as the kernel's default rootfs does, ``/dev/console``; registers the filesystem
types, and starts ``init_task`` (pid 1, uid/gid 0, every capability, umask 022, cwd
``/``) with the console open as fds 0, 1 and 2 (``console_on_rootfs``), which every
process inherits: the first file a process opens is fd 3, as on Linux.
``Kernel(console=False)`` boots a rootfs without ``/dev`` (like an initramfs that has
no ``/dev/console``): the open fails and init, and so every task, starts with an
empty fd table.
"""

from __future__ import annotations

import errno
import functools
import numbers
import stat
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from pinfs.base import cred as credmod
from pinfs.base import uapi
from pinfs.base.display import repr_mimebundle
from pinfs.base.errors import kernel_error
from pinfs.base.profiles import SEED, Profile
from pinfs.ebpf.attr import CommandLayout, layouts_for
from pinfs.ebpf.ids import Idr
from pinfs.ebpf.link import BpfLink
from pinfs.ebpf.netdev import NetDevice, register_netdev, unregister_netdev
from pinfs.ebpf.objects import BpfMap, BpfProg
from pinfs.ebpf.preload import BpfPreload
from pinfs.fs.char_dev import CONSOLE_DEV, Cdev, Console, console_fops
from pinfs.fs.fdtable import FdTable, fget, fput
from pinfs.fs.namei import FsStruct
from pinfs.fs.open import filp_open
from pinfs.fs.procfs import proc_fs_type
from pinfs.fs.ramfs import ramfs_fs_type, tmpfs_fs_type
from pinfs.inode import bpf_fs_type
from pinfs.machine.boot import BOOT_LAYOUTS, boot_systemd
from pinfs.machine.invariants import ObjectInfo, check_invariants, kernel_objects
from pinfs.machine.render import kernel_tree
from pinfs.machine.sysctl import SYSCTL_RANGES
from pinfs.machine.task import PR_SET_KEEPCAPS, Task
from pinfs.machine.trace import Trace
from pinfs.mountns import (
    Ida,
    Mount,
    MountContext,
    MountNamespace,
    Path,
    new_mount,
    subtree,
    umount_tree,
)
from pinfs.vfs import (
    FS_USERNS_MOUNT,
    Dentry,
    DentryOperations,
    FileSystemType,
    Inode,
    SuperBlock,
    d_make_root,
    ihold,
    new_inode,
)

#: 2015-11-03 00:00:00 UTC, the day the seed commit was merged.
BOOT_TIME_NS = 1_446_508_800 * 10**9
#: How far the clock moves per syscall (coarse kernel time).
TICK_NS = 1_000_000
ANON_INODE_FS_MAGIC = 0x09041934
#: ``KTIME_MAX``: the clock is signed 64-bit nanoseconds.
KTIME_MAX = (1 << 63) - 1
KTIME_MAX_SECONDS = KTIME_MAX // 10**9


@attrs.define(eq=False)
class UserStruct:
    """``struct user_struct``: per-user accounting (memlock pages of bpf objects)."""

    uid: int
    locked_vm: int = 0


class Kernel:
    """One simulated Linux machine, booted as the module docstring describes.

    ``profile`` is the kernel imitated; ``unprivileged_bpf_disabled`` the sysctl's boot
    value; ``trace`` starts :attr:`trace` at once; ``mount_proc`` mounts procfs on
    ``/proc``; ``console=False`` boots without ``/dev/console``, so init and every task
    start with an empty fd table (with it, fds 0, 1 and 2 are the console, whose
    output is :attr:`console`).  ``with Kernel() as k:`` ends with :meth:`shutdown`.
    """

    def __init__(
        self,
        profile: Profile = SEED,
        *,
        unprivileged_bpf_disabled: int | None = None,
        trace: bool = False,
        mount_proc: bool = False,
        boot: str = "kernel",
        console: bool = True,
        possible_cpus: int = 2,
    ) -> None:
        if not isinstance(profile, Profile):
            raise TypeError(f"profile must be a pinfs.base.profiles.Profile, not {profile!r}")
        if unprivileged_bpf_disabled is not None:
            _check_unpriv_default(profile, unprivileged_bpf_disabled)
        if not isinstance(trace, bool):
            raise TypeError(f"trace must be bool, not {type(trace).__name__}")
        if boot not in BOOT_LAYOUTS:
            raise ValueError(f"boot must be one of {', '.join(BOOT_LAYOUTS)}, not {boot!r}")
        if not isinstance(console, bool):
            raise TypeError(f"console must be bool, not {type(console).__name__}")
        self.profile = profile
        #: ``num_possible_cpus()``: per-CPU map values come once per possible CPU
        #: (2, as on the reference machine).
        self.num_possible_cpus = _check_cpus(possible_cpus)
        #: The running :class:`~pinfs.machine.trace.Trace`, or None (see :meth:`start_trace`).
        self.trace: Trace | None = None
        self.attr_layouts = dict(_attr_layouts(profile))  # its own table, shared layouts
        self.bpf_objects: dict[int, Any] = {}  # live maps and programs by id
        self.map_idr, self.prog_idr = Idr(), Idr()  # the ids bpf(2) shows (v4.13)
        self.btf_idr = Idr()  # BTF objects' ids (v4.18)
        self.link_idr = Idr()  # link ids (v5.8)
        self.netdevs: dict[int, NetDevice] = {}  # by ifindex; lo at boot
        register_netdev(self, "lo")
        self.raw_tp_probes: dict[str, list[Any]] = {}  # raw tracepoint -> links
        self.bpf_preload: BpfPreload | None = None  # kernel/bpf/preload, once loaded
        self._next_obj_id = 0
        self.bugs: list[str] = []  # use-after-free and the like, as KASAN would report
        self.memlock_leaked: dict[int, int] = {}  # pages the seed leaks (S19)
        self.sysctl: dict[str, int] = {
            "kernel.unprivileged_bpf_disabled": profile.unpriv_sysctl_default
            if unprivileged_bpf_disabled is None
            else unprivileged_bpf_disabled,
            "fs.protected_symlinks": 0,
            "fs.protected_hardlinks": 0,
            "net.core.bpf_jit_enable": profile.bpf_jit_default,
        }
        self.nr_open = 1 << 20
        self._clock = BOOT_TIME_NS
        self._last_ino = 0
        self._anon_dev = 20
        self._pid = 0
        self._mnt_id = 0
        self._ns_id = 0
        self.mnt_group_ida = Ida()  # peer group ids (fs/namespace.c mnt_group_ida)
        self.tasks: dict[int, Task] = {}
        self.namespaces: list[MountNamespace] = []
        self.users: dict[int, UserStruct] = {}
        self.init_user_ns = credmod.new_init_user_ns()
        self.filesystems: dict[str, FileSystemType] = {}
        for fs_type in (ramfs_fs_type, tmpfs_fs_type, bpf_fs_type, proc_fs_type):
            self.register_filesystem(fs_type)
        if profile.userns_mount == "refused":  # 612bacad78ba dropped FS_USERNS_MOUNT
            bpf = self.filesystems["bpf"]
            bpf.fs_flags &= ~FS_USERNS_MOUNT
        self.anon_inode = self._make_anon_inode()
        #: The system console (/dev/console, fds 0, 1, 2 of every task): its output.
        self.console = Console()
        self.cdev_map: dict[int, Cdev] = {CONSOLE_DEV: Cdev(console_fops, self.console)}
        #: The kernel log (``printk``): boot warnings.
        self.dmesg: list[str] = []
        self._current: Task | None = None
        self.init_task = self._boot(console)
        if boot == "systemd":
            boot_systemd(self.init_task)
        if mount_proc:  # what an init system does first; the seed layout has no /proc
            self.init_task.mkdir("/proc", 0o555)
            self.init_task.mount("proc", "/proc", "proc")
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

    def __enter__(self) -> Kernel:
        """``with Kernel() as k:`` (like ``with LiveKernel() as lk:``): leaving the
        block is :meth:`shutdown`."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Every task but init exits, newest first (closing its fds), and the trace
        stops: what is left is what outlives processes -- pins, mounts, init's own
        fds.  init cannot exit; the kernel stays usable."""
        for pid in sorted(self.tasks, reverse=True):
            task = self.tasks.get(pid)
            if task is not None and pid != 1:
                task.exit(0)
        self.stop_trace()

    # -- services the VFS asks for ------------------------------------------------------

    def current_time(self) -> int:
        return self._clock

    def tick(self) -> None:
        self._clock += TICK_NS

    def advance_clock(self, seconds: float) -> None:
        """Let simulated time pass (e.g. the 24 h of relatime).  The clock is a
        ``ktime_t`` (signed 64-bit nanoseconds); it may not run past that."""
        if not isinstance(seconds, numbers.Real) or isinstance(seconds, bool):
            raise TypeError(f"seconds must be a real number, not {type(seconds).__name__}")
        if not 0 <= seconds < KTIME_MAX_SECONDS:  # also refuses NaN
            raise ValueError(f"seconds must be in [0, {KTIME_MAX_SECONDS}), not {seconds}")
        step = int(seconds * 10**9)
        if self._clock + step > KTIME_MAX:
            raise ValueError(f"seconds={seconds} would run the clock past KTIME_MAX")
        self._clock += step

    def get_next_ino(self) -> int:
        """``get_next_ino``: a machine-wide counter, never 0."""
        self._last_ino = (self._last_ino + 1) & 0xFFFFFFFF or 1
        return self._last_ino

    def alloc_anon_dev(self) -> int:
        """``get_anon_bdev``: a device number with major 0."""
        self._anon_dev += 1
        return self._anon_dev

    def current_task(self) -> Task:
        """``current``: the task whose syscall is running (init before any)."""
        return self._current if self._current is not None else self.init_task

    def sysctl_mode(self, name: str) -> int:
        """The ``ctl_table`` mode of a sysctl: 0644, the ``fs.protected_*`` ones per
        the profile."""
        return self.profile.protected_sysctl_mode if name.startswith("fs.protected_") else 0o644

    def sysctl_store(self, cred: credmod.Cred, name: str, value: int) -> None:
        """The ``proc_handler`` of a writable sysctl: ``proc_dointvec_minmax``'s range
        (EINVAL), and for ``kernel.unprivileged_bpf_disabled`` from v5.13
        ``bpf_unpriv_handler`` (CAP_SYS_ADMIN, and 1 is locked: EPERM); for
        ``net.core.bpf_jit_enable`` ``proc_dointvec_minmax_bpf_enable`` per the profile."""
        path = "/proc/sys/" + name.replace(".", "/")
        if name not in SYSCTL_RANGES:
            raise kernel_error(errno.EACCES, path)  # read-only
        low, high = SYSCTL_RANGES[name]
        if name == "net.core.bpf_jit_enable" and self.profile.bpf_jit_sysctl_checked:
            # proc_dointvec_minmax_bpf_enable: CAP_SYS_ADMIN first, then the range
            if not credmod.capable(cred, self.init_user_ns, credmod.CAP_SYS_ADMIN):
                raise kernel_error(errno.EPERM, path)
            low, high = (1, 1) if self.profile.bpf_jit_always_on else (0, 2)
        if name == "kernel.unprivileged_bpf_disabled":
            values = self.profile.unpriv_sysctl_values
            low, high = min(values), max(values)
            if len(values) > 1:  # bpf_unpriv_handler (v5.13)
                if not credmod.capable(cred, self.init_user_ns, credmod.CAP_SYS_ADMIN):
                    raise kernel_error(errno.EPERM, path)
                if low <= value <= high and self.sysctl[name] == 1 and value != 1:
                    raise kernel_error(errno.EPERM, path)  # 1 is locked
        if not low <= value <= high:
            raise kernel_error(errno.EINVAL, path)
        self.sysctl[name] = value

    def next_pid(self) -> int:
        self._pid += 1
        return self._pid

    def next_mnt_id(self) -> int:
        self._mnt_id += 1
        return self._mnt_id

    def register_filesystem(self, fs_type: FileSystemType) -> None:
        """``register_filesystem``."""
        if not isinstance(fs_type, FileSystemType):
            raise TypeError(f"fs_type must be a FileSystemType, not {type(fs_type).__name__}")
        if fs_type.name in self.filesystems:
            raise kernel_error(errno.EBUSY)
        # Each kernel gets its own copy: superblock lists are per machine.
        self.filesystems[fs_type.name] = attrs.evolve(fs_type, fs_supers=[])

    def register_bpf_object(self, obj: Any) -> int:
        """A new map or program gets the next id (for introspection; the seed has no
        user-visible ids)."""
        if not isinstance(obj, (BpfMap, BpfProg, BpfLink)) or obj.kernel is not self:
            raise TypeError(f"obj must be a map, program or link of this kernel, not {obj!r}")
        if any(known is obj for known in self.bpf_objects.values()):
            raise ValueError(f"{obj!r} is already registered")
        self._next_obj_id += 1
        self.bpf_objects[self._next_obj_id] = obj
        return self._next_obj_id

    def add_netdev(self, name: str) -> int:
        """A new network device (``register_netdevice``); returns its ifindex."""
        return register_netdev(self, name).ifindex

    def remove_netdev(self, name: str) -> None:
        """Unregister a device: its XDP and tcx attachments end (links stay)."""
        unregister_netdev(self, name)

    def objects(self) -> list[ObjectInfo]:
        """Live maps and programs, each with its refcnt and every holder."""
        return kernel_objects(self)

    def tree(self) -> str:
        """Mount namespaces, bpffs trees and bpf objects as text (what the tour prints)."""
        return kernel_tree(self)

    _repr_mimebundle_ = repr_mimebundle

    def check_invariants(self) -> None:
        """Raise :class:`pinfs.machine.invariants.InvariantError` if the bookkeeping is off."""
        check_invariants(self)

    def user_struct(self, uid: int) -> UserStruct:
        """``find_user``/``alloc_uid``: the accounting record of a (real) kuid."""
        _check_id(uid, "uid")
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
        self._check_live_mnt_ns(ns, "ns")
        users = sum(1 for task in self.tasks.values() if task.mnt_ns is ns)
        if ns.count <= users:  # each task holds one; the caller must hold one more
            raise ValueError(f"ns has {users} task(s) and no reference to drop: {ns!r}")
        ns.count -= 1
        if ns.count > 0:
            return
        ns.alive = False
        self.namespaces.remove(ns)
        if ns.root is not None:
            umount_tree(ns.root)

    def _check_live_mnt_ns(self, ns: object, what: str) -> None:
        if not isinstance(ns, MountNamespace):
            raise TypeError(f"{what} must be a MountNamespace, not {type(ns).__name__}")
        if not any(live is ns for live in self.namespaces):
            raise ValueError(f"{what} is not a live mount namespace of this kernel: {ns!r}")

    def mounts_of(self, sb: SuperBlock) -> Iterator[Mount]:
        for ns in self.namespaces:
            for mnt in ns.mounts:
                if mnt.mnt_sb is sb:
                    yield mnt

    def create_user_ns(self, cred: credmod.Cred, chrooted: bool = False) -> credmod.Cred:
        """``create_user_ns``: owned by our euid; we get every capability inside.
        A caller whose root is not its mount namespace's root (``current_chrooted``,
        e.g. after ``umount("/", MNT_DETACH)``) may not make one: EPERM."""
        if not isinstance(cred, credmod.Cred):
            raise TypeError(f"cred must be a Cred, not {type(cred).__name__}")
        parent = cred.user_ns
        if parent.level > 32:  # 33 nested namespaces at most
            raise kernel_error(getattr(errno, self.profile.userns_depth_errno))
        if chrooted:
            raise kernel_error(errno.EPERM)
        ns = credmod.UserNamespace(parent=parent, level=parent.level + 1, owner=cred.euid)
        full = (1 << (self.profile.cap_last_cap + 1)) - 1
        return attrs.evolve(
            cred, user_ns=ns, cap_permitted=full, cap_effective=full, cap_inheritable=0,
            cap_bset=full, keep_caps=False,
        )  # fmt: skip

    def write_id_map(self, task: Task, extents: list[tuple[int, int, int]], is_gid: bool) -> None:
        """``map_write``: once per namespace; the extents must parse (EINVAL); a single
        extent mapping the owner's own id, or anything if the writer has
        CAP_SETUID/CAP_SETGID in the parent namespace (EPERM); every range must map
        into the parent namespace (EPERM)."""
        if not isinstance(task, Task) or task.kernel is not self:
            raise TypeError(f"task must be a Task of this kernel, not {task!r}")
        lines = credmod.check_id_extents(extents)
        if not isinstance(is_gid, bool):
            raise TypeError(f"is_gid must be bool, not {type(is_gid).__name__}")
        ns = task.cred.user_ns
        parent = ns.parent
        current = ns.gid_map if is_gid else ns.uid_map
        if parent is None or current:
            raise kernel_error(errno.EPERM)
        if not credmod.map_write_extents_valid(lines):
            raise kernel_error(errno.EINVAL)
        own = task.cred.egid if is_gid else task.cred.euid
        parent_map = parent.gid_map if is_gid else parent.uid_map
        first_kid = credmod.map_id_range_down(parent_map, lines[0][1], 1)
        single_self = len(lines) == 1 and lines[0][2] == 1 and first_kid == own
        cap = credmod.CAP_SETGID if is_gid else credmod.CAP_SETUID
        allowed = (single_self and task.cred.euid == ns.owner) or credmod.ns_capable(
            task.cred, parent, cap
        )
        if not allowed:
            raise kernel_error(errno.EPERM)  # new_idmap_permitted
        lowered: list[tuple[int, int, int]] = []
        for first, lower, count in lines:
            kid = credmod.map_id_range_down(parent_map, lower, count)
            if kid is None:
                raise kernel_error(errno.EPERM)
            lowered.append((first, kid, count))
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
        root = sb.s_root = d_make_root(inode)
        ihold(inode)
        # kern_mount: outside every namespace, never unmounted; pinfs gives it no id.
        self.anon_inode_mnt = Mount(mnt_sb=sb, mnt_root=root, mnt_flags=0, mnt_id=0)
        self._anon_dentries: dict[str, Dentry] = {}
        return inode

    def anon_inode_path(self, name: str) -> Path:
        """The path an anon_inode file called ``name`` has (``alloc_file_pseudo``'s
        dentry, one per name here); ``d_path`` prints it ``anon_inode:<name>``."""
        dentry = self._anon_dentries.get(name)
        if dentry is None:
            ihold(self.anon_inode)
            dentry = Dentry(d_name=name, d_sb=self.anon_inode.i_sb, d_inode=self.anon_inode)
            dentry.d_parent = dentry
            dentry.d_op = _anon_dentry_ops
            self._anon_dentries[name] = dentry
        return Path(self.anon_inode_mnt, dentry)

    def _boot(self, console: bool) -> Task:
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
            rlimits={uapi.RLIMIT_NOFILE: (1024, 4096), uapi.RLIMIT_MEMLOCK: (memlock, memlock)},
        )
        self.tasks[init.pid] = init
        init.mkdir("/tmp", 0o1777)
        for path in ("/sys", "/sys/fs", "/sys/fs/bpf"):
            init.mkdir(path, 0o755)
        if console:  # default_rootfs (init/noinitramfs.c); pinfs leaves out its /root
            init.mkdir("/dev", 0o755)
            init.mknod("/dev/console", stat.S_IFCHR | 0o600, CONSOLE_DEV)
        init.fs.umask = 0o022
        self._console_on_rootfs(init)
        return init

    def _console_on_rootfs(self, init: Task) -> None:
        """``console_on_rootfs``: init opens /dev/console and installs it as fds 0, 1
        and 2 (``init_dup`` three times: one file, no close-on-exec).  If the open
        fails, the kernel warns and init starts with no fds at all."""
        self._current = init
        try:
            file = filp_open(init, "/dev/console", self.profile.console_f_flags, 0)
        except OSError:
            self.dmesg.append("Warning: unable to open an initial console.")
            return
        finally:
            self._current = None
        for _ in range(3):
            init.files.install(fget(file), False, init.rlimit(uapi.RLIMIT_NOFILE))
        fput(file)

    def spawn(
        self,
        uid: int = 0,
        gid: int | None = None,
        groups: Iterable[int] = (),
        caps: Iterable[int] | None = None,
        parent: Task | None = None,
        close_fds: bool = False,
    ) -> Task:
        """A child of init (or of ``parent``) with these credentials, set the way a
        launcher would: setgroups, setresgid, (keepcaps), setresuid, capset.  ``caps``
        are capability numbers; by default uid 0 keeps every capability and others get
        none.  The child inherits the parent's fds (for a child of init: the console
        as 0, 1 and 2); with ``close_fds`` the launcher closes them all first, so the
        child starts with an empty table.  The values are checked before the parent
        forks, so junk costs no pid."""
        parent = self.init_task if parent is None else parent
        if not isinstance(parent, Task) or parent.kernel is not self:
            raise TypeError(f"parent must be a task of this kernel, not {parent!r}")
        _check_id(uid, "uid")
        if gid is not None:
            _check_id(gid, "gid")
        if isinstance(groups, (str, bytes)) or not isinstance(groups, Iterable):
            raise TypeError(f"groups must be an iterable of ids, not {type(groups).__name__}")
        groups = list(groups)
        for group in groups:
            _check_id(group, "groups")
        if caps is not None:
            if isinstance(caps, (str, bytes)) or not isinstance(caps, Iterable):
                raise TypeError(f"caps must be an iterable of numbers, not {type(caps).__name__}")
            caps = list(caps)
            for cap in caps:
                if not isinstance(cap, int) or isinstance(cap, bool):
                    raise TypeError(f"caps must be capability numbers, not {cap!r}")
                if not 0 <= cap < 64:
                    raise ValueError(f"caps: capability number out of range: {cap}")
        if not isinstance(close_fds, bool):
            raise TypeError(f"close_fds must be bool, not {type(close_fds).__name__}")
        trace, self.trace = self.trace, None
        try:
            task = self._spawn(parent, uid, gid, groups, caps)
        finally:
            self.trace = trace
        if trace is not None:
            trace._spawned(task, parent)
        if close_fds:  # the launcher's own close(2)s, which a trace records and replays
            for fd in task.files.open_fds():
                task.close(fd)
        return task

    def _spawn(
        self,
        parent: Task,
        uid: int,
        gid: int | None,
        groups: Iterable[int],
        caps: Iterable[int] | None,
    ) -> Task:
        gid = uid if gid is None else gid
        task = parent.fork()
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
        if ns is None:
            ns = self.init_task.mnt_ns
        elif not isinstance(ns, MountNamespace):
            raise TypeError(f"ns must be a MountNamespace or None, not {type(ns).__name__}")
        return subtree(ns.root) if ns.root is not None else []


@functools.cache
def _attr_layouts(profile: Profile) -> dict[int, CommandLayout]:
    """``layouts_for(profile)``, built once per profile (the layouts are frozen)."""
    return layouts_for(profile)


def _check_id(value: object, what: str) -> None:
    """A uid/gid a launcher can set: an int below (uid_t)-1."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    if not 0 <= value < 0xFFFFFFFF:
        raise ValueError(f"{what} out of range for a uid_t/gid_t id: {value}")


def _check_unpriv_default(profile: Profile, value: object) -> None:
    """The boot value of ``kernel.unprivileged_bpf_disabled``: 0 or a value the
    profile's sysctl knows (``CONFIG_BPF_UNPRIV_DEFAULT_OFF`` boots with 2)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"unprivileged_bpf_disabled must be int, not {type(value).__name__}")
    allowed = sorted({0, *profile.unpriv_sysctl_values})
    if value not in allowed:
        raise ValueError(f"unprivileged_bpf_disabled must be one of {allowed}, not {value}")


_anon_dentry_ops = DentryOperations(
    name="anon_inodefs_dentry_operations", d_dname=lambda d: f"anon_inode:{d.d_name}"
)


def _no_mount(*args: Any) -> Any:
    raise kernel_error(errno.EINVAL)


def _no_kill(sb: SuperBlock) -> None:
    """anon_inodefs is never unmounted."""


def _check_cpus(possible_cpus: object) -> int:
    if not isinstance(possible_cpus, int) or isinstance(possible_cpus, bool):
        raise TypeError(f"possible_cpus must be int, not {type(possible_cpus).__name__}")
    if not 1 <= possible_cpus <= 8192:  # NR_CPUS of x86_64 with MAXSMP
        raise ValueError(f"possible_cpus must be in [1, 8192], not {possible_cpus}")
    return possible_cpus
