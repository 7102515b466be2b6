"""``pinfs run -- CMD ARGS...``: run an unmodified program on the simulated kernel.

The child (before ``execve``): a private mount namespace (inside a new user namespace
when unprivileged) in which every simulated mount point is covered by an empty,
read-only tmpfs, so that nothing it does, not even a call racing the supervisor's path
check, reaches the host's own ``/sys/fs/bpf``; then no_new_privs and the seccomp filter
of :mod:`pinfs.host.seccomp`, whose listener goes to the parent over a socketpair.  The
parent serves every notification (:mod:`pinfs.host.serve`) until the last hosted task
is gone, and exits with the program's status.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import socket
import sys
import traceback

from pinfs.base.errors import KernelError
from pinfs.base.profiles import LATEST, by_name
from pinfs.host import record
from pinfs.host import state as statemod
from pinfs.host.seccomp import HostUnsupported, Listener, check_platform, install_filter
from pinfs.host.serve import (
    HANDLERS,
    HOST_DIR,
    HOST_FILE,
    NOTIFY_FD_FROM,
    NOTIFY_WHEN,
    Creds,
    Supervisor,
)
from pinfs.machine.invariants import InvariantError
from pinfs.machine.kernel import Kernel

DEFAULT_MOUNTS = ("/sys/fs/bpf",)
BPF_FS_MAGIC = 0xCAFE4A11
PROC_SUPER_MAGIC = 0x9FA0
CLONE_NEWNS = 0x20000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]  # fmt: skip
_libc.unshare.argtypes = [ctypes.c_int]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pinfs run",
        description="Run CMD with every bpf(2) call and every file operation on a "
        "simulated bpffs served by pinfs; no root needed.",
    )
    p.add_argument("--profile", default=LATEST.name, help="kernel profile (default: latest)")
    p.add_argument("--state", metavar="FILE", help="load the simulated kernel from FILE "
                   "(if it exists) and save it there afterwards")  # fmt: skip
    p.add_argument("--trace", metavar="FILE", help="write the served syscalls, strace-style")
    p.add_argument("--scenario", metavar="FILE", help="write the served syscalls as a "
                   "scenario that replays on pinfs and the live kernel")  # fmt: skip
    p.add_argument("--check", action="store_true", help="check_invariants() after every call")
    p.add_argument("--tree", action="store_true", help="print the kernel tree at the end")
    creds = p.add_mutually_exclusive_group()
    creds.add_argument("--as-root", action="store_true",
                       help="the simulated task is root with every capability")  # fmt: skip
    creds.add_argument("--mirror-creds", action="store_true",
                       help="each simulated task has its process's uid, gids and "
                       "capabilities, changes (setuid, capset, ...) followed: the "
                       "default")  # fmt: skip
    p.add_argument("--mount", action="append", default=[], metavar="PATH",
                   help="another simulated bpffs mount point (default: /sys/fs/bpf)")  # fmt: skip
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    return p


def boot(profile_name: str, mounts: tuple[str, ...]) -> Kernel:
    """A fresh simulated kernel with bpffs mounted at ``mounts`` and the stand-ins
    for real paths (see :data:`pinfs.host.serve.HOST_DIR`)."""
    kernel = Kernel(by_name(profile_name))
    init = kernel.init_task
    old = init.umask(0)
    for path in ("/.host", HOST_DIR):
        init.mkdir(path, 0o755 if path == "/.host" else 0o777)
    init.close(init.open(HOST_FILE, os.O_CREAT | os.O_WRONLY, 0o666))
    init.umask(old)
    mount_bpffs(kernel, mounts)
    return kernel


def mount_bpffs(kernel: Kernel, mounts: tuple[str, ...]) -> None:
    """A bpffs at each mount point that is not on one yet (a state file made with
    fewer ``--mount`` options gets the new ones), and the model's own procfs at
    ``/proc`` (where the supervisor reads fdinfo and mount tables; never served as
    a path)."""
    init = kernel.init_task
    _mkdir_p(kernel, "/proc")
    if init.statfs("/proc").f_type != PROC_SUPER_MAGIC:
        init.mount("proc", "/proc", "proc")
    for mount_point in mounts:
        _mkdir_p(kernel, mount_point)
        if init.statfs(mount_point).f_type != BPF_FS_MAGIC:
            init.mount("bpf", mount_point, "bpf")


def _mkdir_p(kernel: Kernel, path: str) -> None:
    parts = [p for p in path.split("/") if p]
    for depth in range(1, len(parts) + 1):
        try:
            kernel.init_task.mkdir("/" + "/".join(parts[:depth]), 0o755)
        except KernelError as exc:
            if exc.errno != errno.EEXIST:
                raise


def _die(message: str, status: int = 126) -> None:
    os.write(2, f"pinfs run: {message}\n".encode())
    os._exit(status)


def _check_libc(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        _die(f"{what}: {os.strerror(err)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def contain(mounts: tuple[str, ...]) -> None:
    """In the child: a private mount namespace whose simulated mount points are empty
    read-only tmpfs (in a new user namespace, mapping our own ids, if unprivileged)."""
    uid, gid = os.geteuid(), os.getegid()
    if uid != 0:
        if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            _die(
                "cannot make a user + mount namespace to keep the host's bpffs out of "
                f"reach ({os.strerror(err)}); check sysctl user.max_user_namespaces "
                "(and kernel.unprivileged_userns_clone / AppArmor's "
                "apparmor_restrict_unprivileged_userns where they exist)"
            )
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    else:
        _check_libc(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check_libc(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount(MS_PRIVATE)")
    for path in mounts:
        if os.path.isdir(path):
            flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
            result = _libc.mount(b"pinfs", path.encode(), b"tmpfs", flags, b"mode=0755")
            _check_libc(result, f"covering {path} with a tmpfs")


def child(sock: socket.socket, cmd: list[str], mounts: tuple[str, ...]) -> None:
    """The forked child: contain, filter, hand over the listener, exec."""
    try:
        contain(mounts)
        listener = install_filter(HANDLERS, NOTIFY_WHEN, NOTIFY_FD_FROM)
        socket.send_fds(sock, [b"L"], [listener])
        os.close(listener)
        sock.close()
        os.execvp(cmd[0], cmd)
    except OSError as exc:  # as a shell says it: 127 not found, 126 not executable
        _die(f"{cmd[0]}: {exc.strerror or exc}", 127 if exc.errno == errno.ENOENT else 126)
    except BaseException as exc:
        _die(str(exc))


def serve(sup: Supervisor, listener: Listener) -> None:
    """Answer notifications until every filtered task is gone (placeholders that
    close meanwhile are released before the next notification is served)."""
    sup.placeholders.listen(listener.fd)
    while True:
        ready, gone = sup.placeholders.poll(-1)
        if ready:
            notif = listener.receive()
            if notif is not None:
                sup.handle(notif)
        elif gone:
            return


def run(argv: list[str], export: record.Exporter | None = None) -> int:
    """``pinfs run``; ``export`` writes ``--scenario`` files (the scenario tools'
    :func:`pinfs.scenario.export.from_trace`, given by the ``pinfs`` command)."""
    args = parser().parse_args(argv)
    if args.scenario and export is None:
        parser().error("--scenario needs the scenario tools (run it as `pinfs run`)")
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser().error("no command given (pinfs run [options] -- CMD ARGS...)")
    mounts = tuple(dict.fromkeys([*DEFAULT_MOUNTS, *map(os.path.normpath, args.mount)]))
    try:
        check_platform()
        kernel = statemod.load_or_boot(args.state, args.profile, mounts, boot)
        mount_bpffs(kernel, mounts)
    except (HostUnsupported, statemod.StateError) as exc:
        print(f"pinfs run: {exc}", file=sys.stderr)
        return 125
    trace = kernel.start_trace() if args.trace or args.scenario else None
    creds = Creds.root() if args.as_root else Creds.of_this_process()
    sup = Supervisor(kernel, mounts, creds, check=args.check, mirror_creds=not args.as_root)
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        parent_sock.close()
        child(child_sock, cmd, mounts)
    child_sock.close()
    status = _supervise(sup, parent_sock, pid)
    sup.exit_all()
    if trace is not None:
        kernel.stop_trace()
    if trace is not None and args.scenario and export is not None:
        with open(args.scenario, "w") as out:
            out.write(record.scenario(export, trace, sup.captures, mounts))
    if trace is not None and args.trace:
        with open(args.trace, "w") as out:
            for model_pid, real_pid in sup.hosted_pids.items():
                out.write(f"# pid {model_pid} is process {real_pid}\n")
            out.write(str(trace) + "\n")
            for refused in sup.unmodelled:
                out.write(f"# not modelled, refused: {refused}\n")
    if sup.unmodelled:
        print("pinfs run: not modelled, refused: " + ", ".join(sup.unmodelled), file=sys.stderr)
    if args.tree:
        print(kernel.tree(), file=sys.stderr)
    if args.state:
        statemod.save(args.state, kernel)
    return status


def _supervise(sup: Supervisor, sock: socket.socket, pid: int) -> int:
    try:
        _msg, fds, _flags, _addr = socket.recv_fds(sock, 1, 1)
    except OSError:
        fds = []
    sock.close()
    if fds:
        listener = Listener(fds[0])
        sup.listener = listener
        try:
            serve(sup, listener)
        except InvariantError as exc:
            print(f"pinfs run: invariant broken after call {sup.served}:\n{exc}", file=sys.stderr)
            os.kill(pid, 9)
        except Exception:  # a bug in the host or the model: stop, loudly
            traceback.print_exc()
            print(f"pinfs run: internal error after call {sup.served}; program killed",
                  file=sys.stderr)  # fmt: skip
            os.kill(pid, 9)
        finally:
            os.close(listener.fd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
