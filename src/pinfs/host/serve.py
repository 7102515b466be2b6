"""The supervisor: each intercepted syscall served by pinfs or passed to the real kernel.

:class:`Supervisor` owns the simulated :class:`~pinfs.machine.kernel.Kernel`, one
simulated task per hosted process (by tgid, with that process's credentials or root's),
the placeholders of :mod:`pinfs.host.fds` and the path resolver of
:mod:`pinfs.host.paths`.  A handler returns an int (the syscall's result), raises
``OSError`` (its errno is the answer) or returns :data:`PASS` (the real kernel runs it).
"""

from __future__ import annotations

import errno
import os
import re
import resource
import stat
import struct
from collections.abc import Callable
from typing import NoReturn

import attrs

from pinfs.base.errors import KernelError
from pinfs.fs.attr import Kstat
from pinfs.fs.fdtable import fput
from pinfs.fs.libfs import KStatFs
from pinfs.fs.namei import path_lookupat
from pinfs.fs.permission import inode_permission
from pinfs.host import abi, detour, fileops, procview, record
from pinfs.host import creds as credsmod
from pinfs.host.childmem import ChildMemory
from pinfs.host.context import Call
from pinfs.host.fds import MirrorFdTable, Placeholders
from pinfs.host.paths import AT_FDCWD, MISSING, Landing, Resolver
from pinfs.host.seccomp import Listener, Notification
from pinfs.machine.kernel import Kernel
from pinfs.machine.task import RLIMIT_MEMLOCK, Task
from pinfs.mountns import MNT_READONLY
from pinfs.vfs import PATH_MAX, File, d_path_name

PASS = fileops.PASS  # SECCOMP_USER_NOTIF_FLAG_CONTINUE
PASS_DONE = fileops.PASS_DONE  # answered already (by ADDFD)
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
BPF_F_PATH_FD = 1 << 14
BPF_OBJ_PIN = 6
BPF_OBJ_GET = 7

#: Stand-ins in the model for paths that land on the real system, so that bpf(2)
#: answers them with the errno a non-bpffs path gets (EPERM, EACCES, ENOENT, EEXIST)
#: after the same checks of the attr and the fd.
HOST_DIR = "/.host/dir"
HOST_FILE = "/.host/file"
HOST_MISSING = "/.host/missing/entry"


@attrs.define
class Creds:
    """What a simulated task is spawned with."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    caps: tuple[int, ...]

    @classmethod
    def of_this_process(cls) -> Creds:
        with open("/proc/self/status") as status:
            fields = dict(line.split(":", 1) for line in status)
        eff = int(fields["CapEff"].strip(), 16)
        caps = tuple(bit for bit in range(64) if eff >> bit & 1)
        return cls(os.geteuid(), os.getegid(), tuple(os.getgroups()), caps)

    @classmethod
    def root(cls) -> Creds:
        return cls(0, 0, (), tuple(range(64)))


Handler = Callable[["Supervisor", "Call"], object]


@attrs.define(eq=False)
class Supervisor:
    kernel: Kernel
    mounts: tuple[str, ...]
    creds: Creds
    check: bool = False
    mirror_creds: bool = False  # follow the processes' own credential changes
    listener: Listener | None = None
    placeholders: Placeholders = attrs.field(factory=Placeholders)
    tasks: dict[int, Task] = attrs.field(factory=dict)  # tgid -> task
    tgids: dict[int, int] = attrs.field(factory=dict)  # tid -> tgid
    sim_cwd: dict[int, str] = attrs.field(factory=dict)  # tgid -> cwd inside a mount
    hosted_pids: dict[int, int] = attrs.field(factory=dict)  # model pid -> real pid
    unmodelled: list[str] = attrs.field(factory=list)
    served: int = 0
    last_host: str | None = None  # where the last path that :meth:`land` passed lands
    last_detour: bool = False  # ... and it went through a simulated mount to get there
    _walker: Task | None = None  # whose model lookups the resolver makes
    resolver: Resolver = attrs.field(init=False)
    _dir_buffers: dict[int, bytes] = attrs.field(factory=dict)
    creds_changed: set[int] = attrs.field(factory=set)  # tgids to mirror again
    captures: dict[int, record.RawBpf] = attrs.field(factory=dict)  # trace index -> attr

    def __attrs_post_init__(self) -> None:
        self.resolver = Resolver(self.mounts, model_link=self._model_link)
        self.placeholders.holder = self.kernel.spawn(0)  # holds the hosted fds' files

    # -- the loop's pieces ------------------------------------------------------------

    def task_of(self, pid: int) -> Task:
        """The simulated task of the process thread ``pid`` belongs to (made on
        first use, with a mirror of that process's fd table)."""
        tgid = self.tgids.get(pid)
        if tgid is None:
            tgid, ppid = _tgid_ppid(pid)
            self.tgids[pid] = tgid
            if tgid not in self.tasks and ppid in self.sim_cwd:  # fork keeps the cwd
                self.sim_cwd[tgid] = self.sim_cwd[ppid]
        task = self.tasks.get(tgid)
        if task is None:
            self.reap()
            task = self._new_task(tgid)
            self.tasks[tgid] = task
            self.hosted_pids[task.pid] = tgid
            if self.mirror_creds:
                self.creds_changed.add(tgid)  # a child may have others than ours
        if self.creds_changed and tgid in self.creds_changed:
            self.creds_changed.discard(tgid)
            status = credsmod.read_status(pid)
            if status is not None:
                credsmod.mirror(task, status)
        return task

    def _new_task(self, tgid: int) -> Task:
        """A hosted process's simulated task: a fork of its parent's if the parent is
        hosted too (so the trace, and a scenario made of it, has the fork and the
        inherited fds), else a task spawned with the run's credentials."""
        _, ppid = _tgid_ppid(tgid)
        parent = self.tasks.get(ppid)
        if parent is not None and parent.alive:
            task = parent.fork()
        else:
            c = self.creds
            task = self.kernel.spawn(c.uid, c.gid, c.groups, self._caps(c))
        old = task.files
        for fd in old.open_fds():  # a new task's own files (console fds): the mirror's now
            fput(old.remove(fd))
        task.mem = ChildMemory(pid=tgid, tgid=tgid)
        task.files = MirrorFdTable(pid=tgid, placeholders=self.placeholders)
        return task

    @staticmethod
    def table(task: Task) -> MirrorFdTable:
        files = task.files
        assert isinstance(files, MirrorFdTable)
        return files

    def _caps(self, creds: Creds) -> tuple[int, ...]:
        last = self.kernel.profile.cap_last_cap
        return tuple(cap for cap in creds.caps if cap <= last)

    def reap(self) -> None:
        """Exit the simulated tasks of processes that are gone."""
        for tgid, task in list(self.tasks.items()):
            if not _alive(tgid):
                del self.tasks[tgid]
                self.sim_cwd.pop(tgid, None)
                self._forget(task)
                task.exit(0)
        self.tgids = {tid: tgid for tid, tgid in self.tgids.items() if tgid in self.tasks}

    def exit_all(self) -> None:
        """The run is over: every hosted task exits (its fds are closed)."""
        for task in self.tasks.values():
            self._forget(task)
            task.exit(0)
        self.tasks.clear()
        self.placeholders.release_all()
        holder = self.placeholders.holder
        if holder is not None and holder.alive:
            holder.exit(0)

    def _forget(self, task: Task) -> None:
        """Before a hosted task exits: its pending files, its open /proc files."""
        table = self.table(task)
        table.drop_fresh()
        table.forget()
        mem = task.mem
        if isinstance(mem, ChildMemory):
            mem.forget()

    def release_closed(self) -> None:
        """Put the pinfs files whose last placeholder the child has closed."""
        self.placeholders.poll(0)

    def handle(self, notif: Notification) -> None:
        """Serve or pass one notification, and answer it."""
        listener = self.listener
        assert listener is not None
        handler = HANDLERS.get(notif.nr)
        try:
            if handler is None or (notif.nr in NOTIFY_FD_FROM and not self.placeholders.by_ino):
                # (no pinfs file is open anywhere: a read or mmap cannot be on one)
                listener.pass_through(notif.id)
                return
            task = self.task_of(notif.pid)
            table = self.table(task)
            if table.fresh:
                table.drop_fresh()
            mem = task.mem
            assert isinstance(mem, ChildMemory)
            mem.pid = notif.pid
            if mem.overlays:
                mem.overlays.clear()
            result = handler(self, Call(notif, task, mem))
        except (TypeError, ValueError) as exc:  # no C value means this: the kernel's EINVAL
            result = OSError(errno.EINVAL, str(exc))
        except OSError as exc:
            result = exc
        if isinstance(result, OSError):
            if listener.id_valid(notif.id):
                listener.fail(notif.id, result.errno or errno.EIO)
                self._after_call()
            return
        if result is PASS_DONE:
            self._after_call()
            return
        if result is PASS:
            listener.pass_through(notif.id)
            return
        assert isinstance(result, int)
        listener.reply(notif.id, result)
        self._after_call()

    def _after_call(self) -> None:
        self.served += 1
        if self.check:
            self.kernel.check_invariants()

    def served_fd(self, call: Call, fd: int, cloexec: bool) -> int:
        """The model put a new file at ``fd`` of the mirror: the holder takes it over
        and the child gets a placeholder for it (ADDFD, which also answers the call
        with the child's fd number); returns that number (-1 if the child died)."""
        listener = self.listener
        assert listener is not None
        file = self.table(call.task).take(fd)
        write_end = self.placeholders.make(file, cloexec)
        try:
            child_fd = listener.reply_fd(call.notif.id, write_end, cloexec)
        finally:
            os.close(write_end)  # if the child has no copy, the pipe hangs up: released
        self._trace_fd(call.task, fd, child_fd)
        return child_fd

    def listener_reply_fd(self, call: Call, fd: int, cloexec: bool) -> int:
        listener = self.listener
        assert listener is not None
        return listener.reply_fd(call.notif.id, fd, cloexec)

    def _trace_fd(self, task: Task, model_fd: int, child_fd: int) -> None:
        """The trace shows the fd the program got, not the model's momentary one."""
        trace = self.kernel.trace
        if trace is None or not trace.events or child_fd < 0:
            return
        last = trace.events[-1]
        if last.pid == task.pid and last.result == model_fd and last.error is None:
            trace.events[-1] = attrs.evolve(last, result=child_fd)

    # -- shared steps -----------------------------------------------------------------

    def base(self, call: Call, dirfd: int) -> str:
        """The directory a relative path starts from: the cwd (a simulated one if
        the process has changed into a simulated directory) or ``dirfd``'s."""
        if dirfd == AT_FDCWD:
            cwd = self.sim_cwd.get(self.tgids.get(call.pid, call.pid))
            return cwd if cwd is not None else os.readlink(f"/proc/{call.pid}/cwd")
        file = self.placeholder_file(call, dirfd)
        if file is not None:
            return sim_path(file)
        try:
            return os.readlink(f"/proc/{call.pid}/fd/{dirfd}")
        except OSError:
            raise OSError(errno.EBADF, "bad dirfd") from None

    def placeholder_file(self, call: Call, fd: int) -> File | None:
        if fd < 0:
            return None
        link = self.table(call.task).link(fd)
        return None if link is None else self.placeholders.file_of(link)

    def land(
        self, call: Call, dirfd: int, path: str, follow: bool, host_ok: bool = False
    ) -> str | None:
        """The model's path for ``path`` if it lands on a simulated mount.  A real
        path reached through a simulated mount (a detour: the real kernel would walk
        the program's path another way) is refused as unmodelled unless the caller
        serves it on the real system itself (``host_ok``; see :attr:`last_detour`)."""
        self.last_host, self.last_detour = None, False
        if not path:
            return None
        found = self.resolve(call, dirfd, path, follow)
        self.last_host, self.last_detour = found.host, found.detour
        if found.simulated is None and found.detour and not host_ok:
            return self.unmodelled_call("a real path reached through a simulated mount", path)
        return found.simulated

    def resolve(self, call: Call, dirfd: int, path: str, follow: bool) -> Landing:
        base = "/" if path.startswith("/") else self.base(call, dirfd)
        self._walker = call.task
        try:
            return self.resolver.resolve(call.pid, base, path, follow)
        finally:
            self._walker = None

    def _model_link(self, path: str) -> str | object | None:
        """For the resolver: what the model has at ``path`` (untraced lookups)."""
        task = self._walker
        assert task is not None
        kernel = self.kernel
        trace, kernel.trace = kernel.trace, None
        try:
            st = task.lstat(path)
            return task.readlink(path) if stat.S_ISLNK(st.st_mode) else None
        except (KernelError, ValueError):
            return MISSING
        finally:
            kernel.trace = trace

    def set_cwd(self, call: Call, model: str | None) -> None:
        """The process's cwd is now the simulated ``model`` (None: a real one)."""
        tgid = self.tgids.get(call.pid, call.pid)
        if model is None:
            self.sim_cwd.pop(tgid, None)
        else:
            self.sim_cwd[tgid] = model

    def stand_in(self, call: Call, dirfd: int, path: str, follow: bool) -> str:
        """A model path that answers like the real ``path`` (see HOST_DIR)."""
        landing = self.resolve(call, dirfd, path, follow)
        if landing.simulated is not None:
            return landing.simulated
        real = f"/proc/{call.pid}/root{landing.host}"
        if os.path.lexists(real):
            return HOST_DIR if os.path.isdir(real) else HOST_FILE
        parent = os.path.dirname(real.rstrip("/"))
        return HOST_DIR + "/absent" if os.path.isdir(parent) else HOST_MISSING

    def unmodelled_call(self, name: str, path: str) -> NoReturn:
        """A syscall pinfs does not model, on a simulated path: refused, never passed."""
        self.unmodelled.append(f"{name}({path!r}): EOPNOTSUPP")
        raise OSError(errno.EOPNOTSUPP, f"{name} is not modelled")


def _tgid_ppid(pid: int) -> tuple[int, int]:
    """The thread group (process) of thread ``pid``, and that process's parent."""
    tgid, ppid = pid, 0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Tgid:"):
                    tgid = int(line.split()[1])
                elif line.startswith("PPid:"):
                    ppid = int(line.split()[1])
                    break
    except OSError:
        pass
    return tgid, ppid


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def sim_path(file: File) -> str:
    """Where an open simulated file is, as a path in the model."""
    path = file.f_path
    if path is None:
        raise OSError(errno.ENOTDIR, "not a directory")
    parts = [d_path_name(path.dentry).rstrip("/")]
    mnt = path.mnt
    while mnt.mnt_parent is not None and mnt.mnt_mountpoint is not None:
        parts.append(d_path_name(mnt.mnt_mountpoint).rstrip("/"))
        mnt = mnt.mnt_parent
    return "".join(reversed(parts)) or "/"


# ---------------------------------------------------------------------------------------
# bpf(2)


def serve_bpf(sup: Supervisor, call: Call) -> object:
    """bpf(2): always served (the real kernel never sees it).  Path arguments of
    OBJ_PIN/OBJ_GET are rewritten to the model's absolute path; every fd the model
    installs becomes a placeholder in the child."""
    cmd, uattr, size = call.sarg(0), call.arg(1), call.arg(2) & 0xFFFFFFFF
    task = call.task
    if task.kernel.profile.memlock_rlimit:
        soft, hard = resource.prlimit(call.pid, resource.RLIMIT_MEMLOCK)
        task.rlimits[RLIMIT_MEMLOCK] = (soft & (1 << 64) - 1, hard & (1 << 64) - 1)
    if cmd in (BPF_OBJ_PIN, BPF_OBJ_GET):
        _rewrite_obj_path(sup, call, cmd, uattr, size)
    trace = sup.kernel.trace
    if trace is None:
        result = task.bpf(cmd, uattr, size)
    else:
        captured = record.capture(task, cmd, uattr, size)
        try:
            result = task.bpf(cmd, uattr, size)
        finally:
            if captured is not None and trace.events:
                sup.captures[len(trace.events) - 1] = captured
    table = sup.table(task)
    if not table.fresh:
        return result
    if result in table.fresh:  # a new fd: the model's, until the child has its own
        sup.served_fd(call, result, result in table.cloexec)
        return PASS_DONE
    table.drop_fresh()
    return result


def _rewrite_obj_path(sup: Supervisor, call: Call, cmd: int, uattr: int, size: int) -> None:
    """Lay an overlay over the attr and its path: the absolute model path, and no
    BPF_F_PATH_FD when the directory fd is a real one."""
    try:
        attr = bytearray(call.mem.read(uattr, min(size, 20)))
        pathname = int.from_bytes(attr[0:8], "little")
        path = call.mem.strncpy_from_user(pathname, PATH_MAX).decode("utf-8", "surrogateescape")
    except (KernelError, ValueError):
        return  # the model will say EFAULT (or E2BIG, EINVAL) itself
    if not path or len(attr) < 16:
        return
    flags = int.from_bytes(attr[12:16], "little")
    dirfd = AT_FDCWD
    if flags & BPF_F_PATH_FD and len(attr) >= 20 and sup.kernel.profile.path_fd:
        dirfd = int.from_bytes(attr[16:20], "little", signed=True)
        if sup.placeholder_file(call, dirfd) is not None or path.startswith("/"):
            if not path.startswith("/"):
                return  # a simulated directory fd: the model resolves it
            dirfd = AT_FDCWD
        attr[12:16] = (flags & ~BPF_F_PATH_FD).to_bytes(4, "little")
        attr[16:20] = bytes(4)
        call.mem.overlays[uattr] = bytes(attr)
    try:
        model = sup.stand_in(call, dirfd, path, follow=cmd == BPF_OBJ_GET)
    except OSError:
        return
    call.mem.overlays[pathname] = model.encode("utf-8", "surrogateescape") + b"\0"


# ---------------------------------------------------------------------------------------
# path and fd syscalls


def _stat_common(sup: Supervisor, call: Call, dirfd: int, pidx: int, flags: int) -> object:
    path = call.path(pidx)
    if not path and flags & AT_EMPTY_PATH:
        return _fstat_fd(sup, call, dirfd)
    follow = not flags & AT_SYMLINK_NOFOLLOW
    model = sup.land(call, dirfd, path, follow=follow, host_ok=True)
    if model is None:
        return detour.stat(sup, call) if sup.last_detour else PASS
    return model_stat(call.task, model, follow=follow)


def model_stat(task: Task, path: str, follow: bool) -> Kstat:
    return task.stat(path) if follow else task.lstat(path)


def _fstat_fd(sup: Supervisor, call: Call, fd: int) -> object:
    file = sup.placeholder_file(call, fd)
    if file is None:
        return PASS
    return call.task.fstat(fd)


def _write_stat(call: Call, index: int, st: object, packer: Callable[[Kstat], bytes]) -> int:
    if st is PASS:
        return PASS  # type: ignore[return-value]
    assert isinstance(st, Kstat)
    call.mem.write(call.arg(index), packer(st))
    return 0


def serve_stat(sup: Supervisor, call: Call) -> object:
    return _write_stat(call, 1, _stat_common(sup, call, AT_FDCWD, 0, 0), abi.pack_stat)


def serve_lstat(sup: Supervisor, call: Call) -> object:
    st = _stat_common(sup, call, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW)
    return _write_stat(call, 1, st, abi.pack_stat)


def serve_newfstatat(sup: Supervisor, call: Call) -> object:
    st = _stat_common(sup, call, call.sarg(0), 1, call.arg(3))
    return _write_stat(call, 2, st, abi.pack_stat)


def serve_statx(sup: Supervisor, call: Call) -> object:
    st = _stat_common(sup, call, call.sarg(0), 1, call.arg(2))
    return _write_stat(call, 4, st, abi.pack_statx)


def serve_fstat(sup: Supervisor, call: Call) -> object:
    return _write_stat(call, 1, _fstat_fd(sup, call, call.sarg(0)), abi.pack_stat)


def _open(sup: Supervisor, call: Call, dirfd: int, pidx: int, flags: int, mode: int) -> object:
    path = call.path(pidx)
    follow = not flags & (os.O_NOFOLLOW | os.O_EXCL) or not flags & os.O_CREAT
    follow = follow and not flags & os.O_NOFOLLOW
    model = sup.land(call, dirfd, path, follow=follow, host_ok=True)
    if model is None and sup.last_detour:
        return detour.open_on_host(sup, call, flags, mode)
    if model is None:
        text = procview.proc_file_text(sup, sup.last_host, flags, call.task.cred)
        if text is None:
            return PASS
        memfd = procview.memfd_with(text)
        try:
            sup.listener_reply_fd(call, memfd, bool(flags & os.O_CLOEXEC))
        finally:
            os.close(memfd)
        return PASS_DONE
    fd = call.task.open(model, flags & 0xFFFFFFFF, mode & 0o7777)
    sup.served_fd(call, fd, bool(flags & os.O_CLOEXEC))
    return PASS_DONE


def serve_open(sup: Supervisor, call: Call) -> object:
    return _open(sup, call, AT_FDCWD, 0, call.arg(1), call.arg(2))


def serve_openat(sup: Supervisor, call: Call) -> object:
    return _open(sup, call, call.sarg(0), 1, call.arg(2), call.arg(3))


def serve_openat2(sup: Supervisor, call: Call) -> object:
    how = call.mem.read(call.arg(2), 16)
    flags, mode = struct.unpack("=QQ", how)
    return _open(sup, call, call.sarg(0), 1, flags, mode)


def _one_path(name: str, dirfd_arg: int | None, pidx: int, follow: bool = False) -> Handler:
    """A handler for a syscall on one path the model has as a task method."""

    def handler(sup: Supervisor, call: Call) -> object:
        dirfd = AT_FDCWD if dirfd_arg is None else call.sarg(dirfd_arg)
        if name == "readlink":
            served = _readlink_proc_fd(sup, call, dirfd, pidx)
            if served is not None:
                return served
        path = call.path(pidx)
        host_ok = name in detour.SERVED
        model = sup.land(call, dirfd, path, follow=follow, host_ok=host_ok)
        if model is None:
            return detour.SERVED[name](sup, call, pidx) if sup.last_detour else PASS
        return _PATH_OPS[name](sup, call, model, pidx)

    return handler


_PROC_FD = re.compile(r"/proc/(\d+)(?:/task/\d+)?/fd/(\d+)")


def _readlink_proc_fd(sup: Supervisor, call: Call, dirfd: int, pidx: int) -> object:
    """readlink of ``/proc/PID/fd/N`` when N is a placeholder: what the kernel's
    procfs shows for the pinfs file (``anon_inode:bpf-map``, or its bpffs path)."""
    path = call.path(pidx)
    host = sup.resolve(call, dirfd, path, follow=False).host
    match = _PROC_FD.fullmatch(host or "")
    if match is None:
        return None
    file = sup.placeholders.child_fd(int(match.group(1)), int(match.group(2)))
    if file is None or file is sup.placeholders.host_file:
        return None
    text = f"anon_inode:{file.anon_name}" if file.f_path is None else sim_path(file)
    size = call.sarg(pidx + 2)
    if size <= 0:
        raise OSError(errno.EINVAL, "bufsiz")
    body = text.encode("utf-8", "surrogateescape")[:size]
    call.mem.write(call.arg(pidx + 1), body)
    return len(body)


def _mkdir(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    call.task.mkdir(model, call.arg(pidx + 1) & 0o7777)
    return 0


def _unlinkat(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    if call.arg(pidx + 1) & AT_REMOVEDIR:
        call.task.rmdir(model)
    else:
        call.task.unlink(model)
    return 0


def _rmdir(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    call.task.rmdir(model)
    return 0


def _unlink(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    call.task.unlink(model)
    return 0


def _readlink(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    size = call.sarg(pidx + 2)
    if size <= 0:
        raise OSError(errno.EINVAL, "bufsiz")
    body = call.task.readlink(model).encode("utf-8", "surrogateescape")[:size]
    call.mem.write(call.arg(pidx + 1), body)
    return len(body)


def _statfs(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    call.mem.write(call.arg(pidx + 1), abi.pack_statfs(call.task.statfs(model)))
    return 0


def _chmod(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    call.task.chmod(model, call.arg(pidx + 1) & 0o7777)
    return 0


def _chown(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    uid, gid = call.sarg(pidx + 1), call.sarg(pidx + 2)
    call.task.chown(model, uid, gid)
    return 0


def _truncate(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    length = call.arg(pidx + 1)
    call.task.truncate(model, length - (1 << 64) if length >= 1 << 63 else length)
    return 0


def _symlink_at(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    call.task.symlink(call.path(0), model)
    return 0


def _mknod(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    call.task.mknod(model, call.arg(pidx + 1) & 0xFFFFFFFF, call.arg(pidx + 2) & 0xFFFFFFFF)
    return 0


def _access(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    """``do_faccessat``: resolve, then ``inode_permission`` for R/W/X (MAY_READ,
    MAY_WRITE, MAY_EXEC have the same bits), EROFS for W_OK on a read-only mount.
    The task's credentials are used as they are (no real-id override)."""
    mode = call.arg(pidx + 1) & 0xFFFFFFFF
    if mode & ~7:
        raise OSError(errno.EINVAL, "mode")
    call.task.stat(model)  # the errno of the walk (ENOENT, ENOTDIR, EACCES, ELOOP)
    if not mode:
        return 0
    found = path_lookupat(call.task, model, follow=True)
    inode = found.dentry.d_inode
    assert inode is not None
    err = inode_permission(call.task.cred, inode, mode)
    if not err and mode & os.W_OK and found.mnt.mnt_flags & MNT_READONLY:
        err = errno.EROFS
    if err:
        raise OSError(err, "access")
    return 0


def _chdir(sup: Supervisor, call: Call, model: str, pidx: int) -> object:
    """chdir into a simulated directory, checked by the model.  Into a mount's root
    it is done for real too (the cwd is then the covering tmpfs, from which relative
    paths land on the mount again); deeper, the process gets a simulated cwd that
    the supervisor resolves relative paths from (see :meth:`Supervisor.base`)."""
    call.task.chdir(model)
    if model.rstrip("/") in sup.mounts and call.notif.nr == NR_CHDIR:
        sup.set_cwd(call, None)
        return PASS
    sup.set_cwd(call, model.rstrip("/") or "/")  # fchdir's fd is a pipe: never passed
    return 0


NR_CHDIR = 80


def _getxattr(sup: Supervisor, call: Call, model: str, pidx: int) -> int:
    """bpffs has no xattr handlers: ``vfs_getxattr`` and friends say EOPNOTSUPP once
    the path resolves; ``listxattr`` lists nothing."""
    call.task.lstat(model) if call.notif.nr in _NOFOLLOW_XATTR else call.task.stat(model)
    if call.notif.nr in _LISTXATTR:
        return 0
    raise OSError(errno.EOPNOTSUPP, "no xattrs on a simulated bpffs")


_NOFOLLOW_XATTR = {192, 195, 189, 198}  # lgetxattr, llistxattr, lsetxattr, lremovexattr
_LISTXATTR = {194, 195}


_PATH_OPS: dict[str, Callable[[Supervisor, Call, str, int], object]] = {
    "mkdir": _mkdir,
    "unlinkat": _unlinkat,
    "rmdir": _rmdir,
    "unlink": _unlink,
    "readlink": _readlink,
    "statfs": _statfs,
    "chmod": _chmod,
    "chown": _chown,
    "truncate": _truncate,
    "symlink": _symlink_at,
    "mknod": _mknod,
    "access": _access,
    "chdir": _chdir,
    "xattr": _getxattr,
}


def _two_paths(name: str, old_fd: int | None, old_p: int, new_fd: int | None, new_p: int,
               flags_arg: int | None) -> Handler:  # fmt: skip
    """rename and link: both ends simulated (served), both real (passed), or EXDEV."""

    def handler(sup: Supervisor, call: Call) -> object:
        old_dir = AT_FDCWD if old_fd is None else call.sarg(old_fd)
        new_dir = AT_FDCWD if new_fd is None else call.sarg(new_fd)
        flags = 0 if flags_arg is None else call.arg(flags_arg) & 0xFFFFFFFF
        follow = name == "link" and bool(flags & AT_SYMLINK_FOLLOW)
        old = sup.land(call, old_dir, call.path(old_p), follow=follow)
        new = sup.land(call, new_dir, call.path(new_p), follow=False)
        if old is None and new is None:
            return PASS
        if old is None or new is None:
            raise OSError(errno.EXDEV, "across a simulated mount")
        if name == "rename":
            call.task.rename(old, new, flags)
        else:
            call.task.link(old, new)
        return 0

    return handler


def serve_getdents64(sup: Supervisor, call: Call) -> object:
    """getdents64 of a simulated directory fd: the model's entries, as many as fit."""
    fd = call.sarg(0)
    file = sup.placeholder_file(call, fd)
    if file is None:
        return PASS
    key = id(file)
    pending = sup._dir_buffers.pop(key, None)
    if pending is None:
        pending = b"".join(
            abi.dirent_bytes(entry, index + 1) for index, entry in enumerate(call.task.getdents(fd))
        )
    count = call.arg(2) & 0xFFFFFFFF
    out = b""
    while pending:
        length = int.from_bytes(pending[16:18], "little")
        if len(out) + length > count:
            break
        out, pending = out + pending[:length], pending[length:]
    if pending and not out:
        sup._dir_buffers[key] = pending
        raise OSError(errno.EINVAL, "buffer too small")
    if pending:
        sup._dir_buffers[key] = pending
    call.mem.write(call.arg(1), out)
    return len(out)


def serve_fstatfs(sup: Supervisor, call: Call) -> object:
    file = sup.placeholder_file(call, call.sarg(0))
    if file is None:
        return PASS
    if file.f_path is None:  # a map or program: anon_inodefs
        st = call.task.kernel.anon_inode.i_sb
        statfs = KStatFs(f_type=st.s_magic, f_bsize=4096)
    else:
        statfs = call.task.statfs(sim_path(file))
    call.mem.write(call.arg(1), abi.pack_statfs(statfs))
    return 0


F_GETFL = 3
_FMODE_FLAGS_DROPPED = os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC | os.O_CLOEXEC


def serve_fcntl(sup: Supervisor, call: Call) -> object:
    """fcntl(F_GETFL) of a placeholder (the filter notifies no other fcntl): the
    pinfs file's ``f_flags``, not the pipe's."""
    file = sup.placeholder_file(call, call.sarg(0))
    if file is None:
        return PASS
    flags = file.f_flags & ~_FMODE_FLAGS_DROPPED
    if file.f_path is not None:
        flags |= os.O_LARGEFILE  # force_o_largefile() on 64-bit
    return flags


def serve_fchdir(sup: Supervisor, call: Call) -> object:
    """fchdir: into a simulated directory, a simulated cwd; elsewhere, for real."""
    file = sup.placeholder_file(call, call.sarg(0))
    if file is None:
        sup.set_cwd(call, None)
        return PASS
    if file.f_path is None:
        raise OSError(errno.ENOTDIR, "not a directory")
    return _chdir(sup, call, sim_path(file), 0)


def serve_chdir(sup: Supervisor, call: Call) -> object:
    path = call.path(0)
    model = sup.land(call, AT_FDCWD, path, follow=True)
    if model is None:
        sup.set_cwd(call, None)
        return PASS
    return _chdir(sup, call, model, 0)


def serve_getcwd(sup: Supervisor, call: Call) -> object:
    """getcwd in a simulated directory: its path, as ``d_path`` would give it."""
    cwd = sup.sim_cwd.get(sup.tgids.get(call.pid, call.pid))
    if cwd is None:
        return PASS
    data = cwd.encode("utf-8", "surrogateescape") + b"\0"
    if len(data) > call.arg(1):
        raise OSError(errno.ERANGE, "buffer too small")
    call.mem.write(call.arg(0), data)
    return len(data)


def serve_cred_change(sup: Supervisor, call: Call) -> object:
    """setuid and friends, capset: the real kernel decides; the simulated task
    takes the outcome before the process's next served call."""
    if sup.mirror_creds:
        sup.creds_changed.add(sup.tgids.get(call.pid, call.pid))
    return PASS


def serve_execve(sup: Supervisor, call: Call) -> object:
    """execve/execveat, passed through: the process may get a new address space, so
    its open ``/proc/TGID/mem`` is dropped (a ``vfork`` child's would otherwise go
    on reading its parent's memory, which stays alive), and new credentials
    (``cap_bprm_creds_from_file``), read again at its next served call."""
    mem = call.task.mem
    if isinstance(mem, ChildMemory):
        mem.forget()
    return serve_cred_change(sup, call)  # exec computes new credentials too


# x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl)
HANDLERS: dict[int, Handler] = {
    321: serve_bpf,
    2: serve_open,
    257: serve_openat,
    437: serve_openat2,
    4: serve_stat,
    6: serve_lstat,
    262: serve_newfstatat,
    332: serve_statx,
    5: serve_fstat,
    83: _one_path("mkdir", None, 0),
    258: _one_path("mkdir", 0, 1),
    84: _one_path("rmdir", None, 0),
    87: _one_path("unlink", None, 0),
    263: _one_path("unlinkat", 0, 1),
    89: _one_path("readlink", None, 0),
    267: _one_path("readlink", 0, 1),
    137: _one_path("statfs", None, 0, follow=True),
    138: serve_fstatfs,
    90: _one_path("chmod", None, 0, follow=True),
    268: _one_path("chmod", 0, 1, follow=True),
    92: _one_path("chown", None, 0, follow=True),
    94: _one_path("chown", None, 0),
    260: _one_path("chown", 0, 1, follow=True),
    76: _one_path("truncate", None, 0, follow=True),
    88: _one_path("symlink", None, 1),
    266: _one_path("symlink", 1, 2),
    133: _one_path("mknod", None, 0),
    259: _one_path("mknod", 0, 1),
    21: _one_path("access", None, 0, follow=True),
    269: _one_path("access", 0, 1, follow=True),
    439: _one_path("access", 0, 1, follow=True),
    80: serve_chdir,
    79: serve_getcwd,
    81: serve_fchdir,
    82: _two_paths("rename", None, 0, None, 1, None),
    264: _two_paths("rename", 0, 1, 2, 3, None),
    316: _two_paths("rename", 0, 1, 2, 3, 4),
    86: _two_paths("link", None, 0, None, 1, None),
    265: _two_paths("link", 0, 1, 2, 3, 4),
    217: serve_getdents64,
    72: serve_fcntl,
    59: serve_execve,
    **{nr: serve_cred_change for nr in credsmod.CRED_SYSCALLS},
    322: serve_execve,
    **{nr: _one_path("xattr", None, 0, follow=True) for nr in (191, 192, 194, 195)},
    **{nr: _one_path("xattr", None, 0, follow=True) for nr in (188, 189, 197, 198)},
}

#: Syscalls notified only for one value of one argument: (index, value).
NOTIFY_WHEN: dict[int, tuple[int, int]] = {72: (1, F_GETFL)}

#: File calls on an fd (x86_64 number: the fd's argument index), notified only for
#: fds from 3 up (see :mod:`pinfs.host.fileops`).
FD_CALLS: dict[int, tuple[int, Handler]] = {
    0: (0, fileops.serve_read),
    1: (0, fileops.serve_write),
    17: (0, fileops.serve_pread),
    18: (0, fileops.serve_pwrite),
    19: (0, fileops.serve_readv),
    20: (0, fileops.serve_writev),
    295: (0, fileops.serve_positioned_vector),  # preadv
    296: (0, fileops.serve_positioned_vector),  # pwritev
    327: (0, fileops.serve_positioned_vector),  # preadv2
    328: (0, fileops.serve_positioned_vector),  # pwritev2
    8: (0, fileops.serve_lseek),
    16: (0, fileops.serve_ioctl),
    9: (4, fileops.serve_mmap),
}
HANDLERS.update({nr: handler for nr, (_arg, handler) in FD_CALLS.items()})
NOTIFY_FD_FROM: dict[int, int] = {nr: arg for nr, (arg, _handler) in FD_CALLS.items()}
FIRST_NOTIFIED_FD = 3
