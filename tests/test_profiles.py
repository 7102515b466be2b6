"""Every profile switch, seed beside modern: one script, run under both profiles.

Each entry is (switch, script, seed result, modern result); the script runs on a fresh
kernel with bpffs mounted at /sys/fs/bpf by root and returns what the user would see.
The modern side uses the first preset where the switch is flipped (LATEST unless said).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import pinfs
from pinfs.base import profiles
from pinfs.base.profiles import LATEST, LINUX_4_4, LINUX_4_7, LINUX_5_10, SEED, Profile
from pinfs.base.uapi import AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD
from pinfs.ebpf.attr import (
    BPF_F_PATH_FD,
    BPF_F_RDONLY,
    BPF_MAP_GET_FD_BY_ID,
    BPF_MAP_LOOKUP_AND_DELETE_ELEM,
    BPF_MAP_TYPE_ARRAY,
    pack_attr,
)
from pinfs.ebpf.objects import bpf_prog_tag
from pinfs.ebpf.prog import RETURN_ZERO
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER
from support import err

BPF = "/sys/fs/bpf"
ARRAY = BPF_MAP_TYPE_ARRAY
Script = Callable[[pinfs.Kernel], Any]


def boot(profile: Profile, options: str | None = None) -> pinfs.Kernel:
    k = pinfs.Kernel(profile=profile)
    k.init_task.mount("bpf", BPF, "bpf", data=options)
    return k


def pinned_map(k: pinfs.Kernel, name: str = "m") -> int:
    t = k.init_task
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, f"{BPF}/{name}")
    return fd


def second_mount_same_point(k: pinfs.Kernel) -> Any:
    pinned_map(k)
    return err(k.init_task.mount, "bpf", BPF, "bpf"), k.init_task.listdir(BPF)


def userns_mount(k: pinfs.Kernel) -> int:
    u = k.spawn(uid=1000)
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    u.mkdir("/tmp/mine")
    return err(u.mount, "bpf", "/tmp/mine", "bpf")


def mode_option(k: pinfs.Kernel) -> int:
    k.init_task.mkdir("/tmp/b")
    k.init_task.mount("bpf", "/tmp/b", "bpf", data="mode=0700")
    return k.init_task.stat("/tmp/b").st_mode


def root_owner(k: pinfs.Kernel) -> tuple[int, int]:
    u = k.spawn(uid=0, gid=0)
    u.setresgid(7, 7, 7)
    u.setresuid(-1, 5, -1)  # fsuid follows euid; CAP_SYS_ADMIN stays in permitted...
    u.setresuid(-1, 0, -1)  # ...and back for the mount, with fsuid 0 again
    k.init_task.mkdir("/tmp/b")
    u.mount("bpf", "/tmp/b", "bpf", data="uid=42,gid=43")
    st = u.stat("/tmp/b")
    return st.st_uid, st.st_gid


def preload(k: pinfs.Kernel) -> list[str]:
    return k.init_task.listdir(BPF)


def rename_pin(k: pinfs.Kernel) -> int:
    pinned_map(k)
    return err(k.init_task.rename, f"{BPF}/m", f"{BPF}/n")


def exchange(k: pinfs.Kernel) -> int:
    pinned_map(k, "m")
    pinned_map(k, "n")
    return err(k.init_task.rename, f"{BPF}/m", f"{BPF}/n", 2)  # RENAME_EXCHANGE


def symlink(k: pinfs.Kernel) -> int:
    pinned_map(k)
    return err(k.init_task.symlink, "m", f"{BPF}/s")


def dir_times(k: pinfs.Kernel) -> bool:
    before = k.init_task.stat(BPF).st_mtime_ns
    pinned_map(k)
    return k.init_task.stat(BPF).st_mtime_ns != before


def dot_lookup(k: pinfs.Kernel) -> int:
    return err(k.init_task.stat, f"{BPF}/a.b")


def dot_mode0(k: pinfs.Kernel) -> int:
    t = k.init_task
    t.mkdir(f"{BPF}/d", 0)
    fd = t.map_create(ARRAY, 4, 4, 1)
    return err(t.obj_pin, fd, f"{BPF}/d/a.b")


def prog_array_flush(k: pinfs.Kernel) -> int:
    t = k.init_task
    array = t.map_create(pinfs.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1)
    prog = t.prog_load(pinfs.BPF_PROG_TYPE_SOCKET_FILTER, RETURN_ZERO)
    t.map_update_elem(array, b"\0" * 4, prog.to_bytes(4, "little"))
    t.obj_pin(array, f"{BPF}/tail")
    t.close(t.obj_get(f"{BPF}/tail"))  # any file's release flushed it at the seed
    return len(t.fd_object(array).storage.slots)  # type: ignore[attr-defined]


def refcnt_width(k: pinfs.Kernel) -> int:
    fd = pinned_map(k)
    return 1 << k.profile.refcnt_bits if k.init_task.fd_object(fd) else 0


def refcnt_limit(k: pinfs.Kernel) -> int:
    """Pretend 32766 more holders exist (taking them for real is slow), GET once more."""
    fd = pinned_map(k)
    obj: Any = k.init_task.fd_object(fd)
    obj.refcnt += 32766  # now 32768, BPF_MAX_REFCNT
    result = err(k.init_task.obj_get, f"{BPF}/m")
    obj.refcnt -= 32766
    if result == 0:
        k.init_task.close(1)
    return result


def get_flags(k: pinfs.Kernel) -> int:
    pinned_map(k)
    return err(k.init_task.obj_get, f"{BPF}/m", BPF_F_RDONLY)


def access_mask(k: pinfs.Kernel) -> int:
    pinned_map(k)
    k.init_task.chmod(f"{BPF}/m", 0o222)  # write-only: enough at the seed
    return err(k.spawn(uid=1000).obj_get, f"{BPF}/m")


def fd_mode(k: pinfs.Kernel) -> int:
    pinned_map(k)
    t = k.init_task
    fd = t.obj_get(f"{BPF}/m", BPF_F_RDONLY if k.profile.obj_get_file_flags else 0)
    return err(t.map_update_elem, fd, b"\0" * 4, b"\0" * 4)


def path_first(k: pinfs.Kernel) -> int:
    t = k.init_task
    return err(t.bpf, pinfs.BPF_OBJ_PIN, t.mem.alloc(pack_attr(6, bpf_fd=77)), 48)


def probe_errno(k: pinfs.Kernel) -> int:
    return err(k.init_task.obj_pin, 77, f"{BPF}/x")


def open_pinned(k: pinfs.Kernel) -> int:
    pinned_map(k)
    return err(k.init_task.open, f"{BPF}/m")


def path_fd(k: pinfs.Kernel) -> int:
    t = k.init_task
    pinned_map(k)
    dirfd = t.open(BPF, os.O_RDONLY | os.O_DIRECTORY)
    return err(t.obj_get, "m", 0, dirfd)


def attr_size(k: pinfs.Kernel) -> int:
    t = k.init_task
    attr = pack_attr(0, 100, map_type=ARRAY, key_size=4, value_size=4, max_entries=1)
    return err(t.bpf, 0, t.mem.alloc(attr[:60] + b"\x01" + attr[61:]), 100)


def gate_commands(k: pinfs.Kernel) -> int:
    pinned_map(k)
    k.init_task.chmod(f"{BPF}/m", 0o666)
    k.sysctl["kernel.unprivileged_bpf_disabled"] = 1
    return err(k.spawn(uid=1000).obj_get, f"{BPF}/m")


def gate_caps(k: pinfs.Kernel) -> Any:
    k.sysctl["kernel.unprivileged_bpf_disabled"] = 1
    try:
        task = k.spawn(uid=1000, caps=[pinfs.base.cred.CAP_BPF])
    except OSError:
        return "no CAP_BPF in this kernel"  # capset: bit 39 is beyond CAP_LAST_CAP
    return err(task.map_create, ARRAY, 4, 4, 1)


def sysctl_values(k: pinfs.Kernel) -> int:
    return err(k.init_task.sysctl_write, "kernel.unprivileged_bpf_disabled", 2)


def sysctl_default(k: pinfs.Kernel) -> int:
    return k.sysctl["kernel.unprivileged_bpf_disabled"]


def htab_overflow(k: pinfs.Kernel) -> int:
    return err(k.init_task.map_create, pinfs.BPF_MAP_TYPE_HASH, 4, 4, (1 << 28) + 1)


def next_key_null(k: pinfs.Kernel) -> Any:
    fd = pinned_map(k)
    try:
        return k.init_task.map_get_next_key(fd, None)
    except OSError as exc:
        return errno.errorcode[exc.errno or 0]


def memlock(k: pinfs.Kernel) -> int:
    k.init_task.setrlimit(pinfs.machine.task.RLIMIT_MEMLOCK, 0, 0)
    return err(k.init_task.map_create, ARRAY, 4, 4, 1)


def umount_order(k: pinfs.Kernel) -> int:
    return err(k.spawn(uid=1000).umount, "/missing")


def userns_bind_remount_without_nodev(k: pinfs.Kernel) -> int:
    u = k.spawn(uid=1000)
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    u.mount("none", "/tmp", "tmpfs")
    return err(u.mount, None, "/tmp", None, 32 | 4096)  # MS_REMOUNT|MS_BIND


def mount_on_detached_root(k: pinfs.Kernel) -> int:
    k.init_task.umount("/", 2)  # MNT_DETACH
    return err(k.init_task.mount, "none", "/tmp", "tmpfs")


def unbindable_copy(k: pinfs.Kernel) -> bool:
    """Is the new namespace's copy of an unbindable mount unbindable?"""
    t = k.init_task
    t.mkdir("/tmp/u")
    t.mount("none", "/tmp/u", "tmpfs")
    t.mount(None, "/tmp/u", None, 1 << 17)  # MS_UNBINDABLE
    child = t.fork()
    child.unshare(0x20000)  # CLONE_NEWNS
    copy = next(m for m in child.mnt_ns.mounts if m.source == "none")
    return bool(copy.mnt_t_flags & 0x2)  # T_UNBINDABLE


def userns_too_deep(k: pinfs.Kernel) -> int:
    t = k.init_task
    for _ in range(33):
        t.unshare(CLONE_NEWUSER)
    return err(t.unshare, CLONE_NEWUSER)


def creat_directory(k: pinfs.Kernel) -> int:
    return err(k.init_task.open, "/tmp/new", os.O_CREAT | os.O_DIRECTORY)


def whiteout_unprivileged(k: pinfs.Kernel) -> int:
    k.init_task.mkdir("/tmp/t")
    k.init_task.mount("none", "/tmp/t", "tmpfs")  # tmpfs has whiteouts (ramfs does not)
    u = k.spawn(uid=1000)
    u.mknod("/tmp/t/f", 0o100644)
    return err(u.rename, "/tmp/t/f", "/tmp/t/g", 4)  # RENAME_WHITEOUT


def source_option(k: pinfs.Kernel) -> int:
    k.init_task.mkdir("/tmp/b")
    return err(k.init_task.mount, "bpf", "/tmp/b", "bpf", 0, "source=x")


def big_key(k: pinfs.Kernel) -> int:
    return err(k.init_task.map_create, pinfs.BPF_MAP_TYPE_HASH, 600, 4, 1)


def big_value(k: pinfs.Kernel) -> int:
    k.init_task.setrlimit(
        pinfs.machine.task.RLIMIT_MEMLOCK,
        pinfs.machine.task.RLIM_INFINITY,
        pinfs.machine.task.RLIM_INFINITY,
    )
    return err(k.init_task.map_create, pinfs.BPF_MAP_TYPE_HASH, 4, 1 << 28, 1)


def prog_array_lookup(k: pinfs.Kernel) -> Any:
    t = k.init_task
    array = t.map_create(pinfs.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1)
    prog = t.prog_load(pinfs.BPF_PROG_TYPE_SOCKET_FILTER, RETURN_ZERO)
    t.map_update_elem(array, b"\0" * 4, prog.to_bytes(4, "little"))
    try:
        return t.map_lookup_elem(array, b"\0" * 4) == t.fd_object(prog).idr_id.to_bytes(4, "little")  # type: ignore[attr-defined]
    except OSError as exc:
        return errno.errorcode[exc.errno or 0]


def small_log(k: pinfs.Kernel) -> int:
    return err(k.init_task.prog_load, pinfs.BPF_PROG_TYPE_SOCKET_FILTER, RETURN_ZERO, "GPL", 1, 100)


def kprobe_version(k: pinfs.Kernel) -> int:
    return err(k.init_task.prog_load, pinfs.BPF_PROG_TYPE_KPROBE, RETURN_ZERO, kern_version=1)


def raw_attr(cmd: int, at: dict[int, bytes], base: str = "hash") -> Script:
    """bpf(cmd) with an attr of the profile's size: a base (a small hash map, or a
    socket filter returning 0), then raw bytes at offsets (fields the seed lacks)."""

    def script(k: pinfs.Kernel) -> int:
        t = k.init_task
        attr = bytearray(k.profile.bpf_attr_size if max(at) < 48 else 168)
        buffers = []
        if base == "hash":
            attr[0:16] = struct.pack("<4I", pinfs.BPF_MAP_TYPE_HASH, 4, 4, 4)
        elif base == "prog":
            insns, license = t.mem.alloc(RETURN_ZERO), t.mem.alloc(b"GPL\0")
            buffers += [insns, license]
            attr[0:24] = struct.pack("<IIQQ", 1, 2, insns, license)
        for offset, data in at.items():
            attr[offset : offset + len(data)] = data
        address = t.mem.alloc(bytes(attr))
        try:
            result = err(t.bpf, cmd, address, len(attr))
        finally:
            for buf in [*buffers, address]:
                t.mem.free(buf)
        return result if isinstance(result, int) and result < 200 else 0

    return script


def le32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def unprivileged_bad_sizes(k: pinfs.Kernel) -> int:
    k.sysctl["kernel.unprivileged_bpf_disabled"] = 1
    return err(k.spawn(uid=1000).map_create, pinfs.BPF_MAP_TYPE_HASH, 0, 4, 1)


def unlimited(k: pinfs.Kernel) -> pinfs.Task:
    t = k.init_task
    inf = pinfs.machine.task.RLIM_INFINITY
    t.setrlimit(pinfs.machine.task.RLIMIT_MEMLOCK, inf, inf)
    return t


def hash_key_plus_value(k: pinfs.Kernel) -> int:
    return err(unlimited(k).map_create, pinfs.BPF_MAP_TYPE_HASH, 1, (1 << 22) - 48 - 1, 1)


def array_value_int_max(k: pinfs.Kernel) -> int:
    return err(unlimited(k).map_create, BPF_MAP_TYPE_ARRAY, 4, 1 << 31, 1)


def full_hash_exist(k: pinfs.Kernel) -> int:
    t = k.init_task
    fd = t.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 1)
    t.map_update_elem(fd, le32(1), le32(1))
    return err(t.map_update_elem, fd, le32(2), le32(2), 2)  # BPF_EXIST


def lookup_lock_bad_fd(k: pinfs.Kernel) -> int:
    t = k.init_task
    key, value = t.mem.alloc(le32(0)), t.mem.alloc(le32(0))
    attr = struct.pack("<IIQQQ", 999, 0, key, value, 4).ljust(k.profile.bpf_attr_size, b"\0")
    return err(t.bpf, pinfs.BPF_MAP_LOOKUP_ELEM, t.mem.alloc(attr), len(attr))


def next_map_id(k: pinfs.Kernel) -> Any:
    pinned_map(k)
    try:
        return ("id", k.init_task.map_get_next_id(0))
    except OSError as exc:
        return exc.errno


def fd_by_id_rdonly(k: pinfs.Kernel) -> Any:
    pinned_map(k)
    attr = struct.pack("<III", 1, 0, BPF_F_RDONLY).ljust(k.profile.bpf_attr_size, b"\0")
    t = k.init_task
    try:
        fd = t.bpf(BPF_MAP_GET_FD_BY_ID, t.mem.alloc(attr), len(attr))
    except OSError as exc:
        return exc.errno
    return errno.errorcode[err(t.map_update_elem, fd, le32(0), le32(1))]


def memlock_at_boot(k: pinfs.Kernel) -> tuple[int, int]:
    return k.init_task.getrlimit(pinfs.machine.task.RLIMIT_MEMLOCK)


def console_flags(k: pinfs.Kernel) -> int:
    """The flags of init's console fd, as F_GETFL (and fdinfo) show them."""
    return k.init_task.fcntl(0, pinfs.machine.task.F_GETFL)


def program_of_4096_insns(k: pinfs.Kernel) -> int:
    insns = pinfs.ebpf.prog.BPF_MOV64_IMM(0, 0) * 4095 + pinfs.ebpf.prog.BPF_EXIT_INSN()
    return err(k.init_task.prog_load, pinfs.BPF_PROG_TYPE_SOCKET_FILTER, insns)


def no_insns_bad_license(k: pinfs.Kernel) -> int:
    t = k.init_task
    attr = struct.pack("<IIQQ", 1, 0, t.mem.alloc(RETURN_ZERO), 0).ljust(48, b"\0")
    return err(t.bpf, pinfs.BPF_PROG_LOAD, t.mem.alloc(attr), len(attr))


def freeze_then_update(k: pinfs.Kernel) -> tuple[int, int]:
    t = k.init_task
    fd = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    return err(t.map_freeze, fd), err(t.map_update_elem, fd, le32(0), le32(1))


def unprivileged_freeze(k: pinfs.Kernel) -> int:
    pinned_map(k)
    k.init_task.chmod(f"{BPF}/m", 0o666)
    user = k.spawn(uid=1000)
    return err(user.map_freeze, user.obj_get(f"{BPF}/m"))


def lookup_and_delete(map_type: int) -> Script:
    def script(k: pinfs.Kernel) -> int:
        t = k.init_task
        fd = t.map_create(map_type, 4, 4, 1)
        if map_type == pinfs.BPF_MAP_TYPE_HASH:
            t.map_update_elem(fd, le32(0), le32(5))
        key, value = t.mem.alloc(le32(0)), t.mem.alloc(le32(0))
        attr = struct.pack("<IIQQ", fd, 0, key, value).ljust(k.profile.bpf_attr_size, b"\0")
        return err(t.bpf, BPF_MAP_LOOKUP_AND_DELETE_ELEM, t.mem.alloc(attr), len(attr))

    return script


MAP, PROG = pinfs.BPF_MAP_CREATE, pinfs.BPF_PROG_LOAD
E2BIG, EINVAL = errno.E2BIG, errno.EINVAL


#: switch -> (script, seed result, modern result, modern profile)
def proc_text(k: pinfs.Kernel, path: str) -> str:
    t = k.init_task
    if "proc" not in [m.mnt_sb.s_type.name for m in k.mounts()]:
        t.mkdir("/proc", 0o555)
        t.mount("proc", "/proc", "proc")
    fd = t.open(path)
    try:
        return t.read(fd, 1 << 16).decode()
    finally:
        t.close(fd)


def fdinfo_names(k: pinfs.Kernel, fd: int) -> list[str]:
    text = proc_text(k, f"/proc/self/fdinfo/{fd}")
    return [line.split(":")[0] for line in text.splitlines()][3:]


def fdinfo_ino(k: pinfs.Kernel) -> bool:
    return "ino" in fdinfo_names(k, pinned_map(k))


def fdinfo_mode(k: pinfs.Kernel) -> int:
    proc_text(k, "/proc/self/mounts")
    return k.init_task.stat("/proc/self/fdinfo").st_mode


def map_fields(k: pinfs.Kernel) -> list[str]:
    return [n for n in fdinfo_names(k, pinned_map(k)) if n != "ino"]


def prog_fields(k: pinfs.Kernel) -> list[str]:
    fd = k.init_task.prog_load(pinfs.BPF_PROG_TYPE_SOCKET_FILTER, RETURN_ZERO)
    return [n for n in fdinfo_names(k, fd) if n != "ino"]


def prog_tag(k: pinfs.Kernel) -> str:
    fd = k.init_task.prog_load(pinfs.BPF_PROG_TYPE_SOCKET_FILTER, RETURN_ZERO)
    return bpf_prog_tag(k.init_task.fd_file(fd).private_data)


def protected_sysctl_mode(k: pinfs.Kernel) -> int:
    proc_text(k, "/proc/self/mounts")
    return k.init_task.stat("/proc/sys/fs/protected_symlinks").st_mode & 0o777


def uname_release(k: pinfs.Kernel) -> str:
    return k.init_task.uname().release


def _errno_or(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except OSError as e:
        return errno.errorcode[e.errno or 0]


def statx_root(k: pinfs.Kernel) -> Any:
    return _errno_or(lambda: k.init_task.statx(AT_FDCWD, "/", 0).stx_mode & 0o170000)


def statx_mnt_id(k: pinfs.Kernel) -> Any:
    return _errno_or(lambda: bool(k.init_task.statx(AT_FDCWD, BPF, 0).stx_mask & 0x1000))


def statx_tmpfs_times(k: pinfs.Kernel) -> Any:
    t = k.init_task
    t.mkdir("/tmp/t")
    t.mount("tmpfs", "/tmp/t", "tmpfs")
    return _errno_or(lambda: hex(t.statx(AT_FDCWD, "/tmp/t", 0, 0).stx_mask & 0xC0))


def empty_path_bad_flag(k: pinfs.Kernel) -> Any:
    fd = k.init_task.open("/")
    return _errno_or(lambda: k.init_task.fstatat(fd, "", AT_EMPTY_PATH | 0x8000).st_nlink > 0)


def openat2_root(k: pinfs.Kernel) -> Any:
    return _errno_or(lambda: k.init_task.openat2(AT_FDCWD, "/", os.O_RDONLY) >= 0)


def fchmod_map_fd(k: pinfs.Kernel) -> Any:
    fd = k.init_task.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 1)
    return _errno_or(lambda: k.init_task.fchmod(fd, 0o644))


def faccessat2_root(k: pinfs.Kernel) -> Any:
    return _errno_or(lambda: k.init_task.faccessat2(AT_FDCWD, "/", os.R_OK, AT_EACCESS))


MAP_4_7 = ["map_type", "key_size", "value_size", "max_entries", "map_flags"]
PROG_6_18 = [
    "prog_type", "prog_jited", "prog_tag", "memlock", "prog_id", "run_time_ns", "run_cnt",
    "recursion_misses",
]  # fmt: skip

SIDE_BY_SIDE: dict[str, tuple[Script, Any, Any, Profile]] = {
    "fdinfo_ino": (fdinfo_ino, False, True, LATEST),
    "fdinfo_world_readable": (fdinfo_mode, 0o40500, 0o40555, LATEST),
    "map_fdinfo_fields": (map_fields, [], MAP_4_7, LINUX_4_7),
    "prog_fdinfo_fields": (prog_fields, [], PROG_6_18, LATEST),
    "prog_tag_hash": (prog_tag, "a04f5eef06a7f555", "59f4a931744dcdc6", LATEST),
    "uname_release": (uname_release, "4.3.0", "6.18.0", LATEST),
    "protected_sysctl_mode": (protected_sysctl_mode, 0o600, 0o644, LATEST),
    "instance_per_mount": (second_mount_same_point, (errno.EBUSY, ["m"]), (0, []), LINUX_4_7),
    "userns_mount": (userns_mount, 0, errno.EPERM, LATEST),
    "mount_mode_option": (mode_option, 0o41777, 0o41700, LATEST),
    "mount_uid_gid_options": (root_owner, (0, 0), (42, 43), LATEST),
    "preload_debug_files": (preload, [], ["progs.debug", "maps.debug"], LATEST),
    "rename_link_ops": (rename_pin, errno.EPERM, 0, LINUX_4_7),
    "rename_flags": (exchange, errno.EPERM, 0, LATEST),
    "symlinks": (symlink, errno.EPERM, 0, LATEST),
    "dir_times_on_create": (dir_times, False, True, LATEST),
    "dot_check_at_lookup": (dot_lookup, errno.ENOENT, errno.EPERM, LATEST),
    "dot_check_skips_mode0_dir": (dot_mode0, errno.EPERM, 0, LATEST),
    "prog_array_flush_on_last_uref": (prog_array_flush, 0, 1, LINUX_4_4),
    "refcnt_bits": (refcnt_width, 1 << 32, 1 << 64, LATEST),
    "refcnt_limit": (refcnt_limit, 0, errno.EBUSY, LINUX_4_7),
    "obj_get_file_flags": (get_flags, errno.EINVAL, 0, LATEST),
    "obj_get_access_mask": (access_mask, 0, errno.EACCES, LATEST),
    "map_fd_mode_from_flags": (fd_mode, 0, errno.EPERM, LATEST),
    "pin_reads_path_first": (path_first, errno.EFAULT, errno.EINVAL, LATEST),
    "probe_bad_fd_errno": (probe_errno, errno.EBADF, errno.EINVAL, LATEST),
    "open_pinned_errno": (open_pinned, errno.ENXIO, errno.EIO, LATEST),
    "path_fd": (path_fd, errno.EINVAL, 0, LATEST),
    "bpf_attr_size": (attr_size, errno.E2BIG, errno.EINVAL, LATEST),
    "unpriv_gate_commands": (gate_commands, errno.EPERM, 0, LATEST),
    "unpriv_gate_caps": (gate_caps, "no CAP_BPF in this kernel", 0, LATEST),
    "cap_last_cap": (gate_caps, "no CAP_BPF in this kernel", 0, LATEST),
    "unpriv_sysctl_values": (sysctl_values, errno.EINVAL, 0, LATEST),
    "unpriv_sysctl_default": (sysctl_default, 0, 2, LATEST),
    "htab_overflow_errno": (htab_overflow, errno.ENOMEM, errno.E2BIG, LINUX_4_4),
    "get_next_key_null_start": (next_key_null, "EFAULT", b"\0" * 4, LATEST),
    "linux_version_code": (kprobe_version, errno.EINVAL, errno.EINVAL, LINUX_4_4),
    "kprobe_version_checked": (kprobe_version, errno.EINVAL, 0, LATEST),
    "memlock_rlimit": (memlock, errno.EPERM, 0, LATEST),
    "umount_lookup_first": (umount_order, errno.EPERM, errno.ENOENT, LATEST),
    "open_creat_directory_einval": (creat_directory, 0, errno.EINVAL, LATEST),
    "userns_mount_nodev": (userns_bind_remount_without_nodev, errno.EPERM, 0, LATEST),
    "lock_mount_needs_mounted": (mount_on_detached_root, errno.EINVAL, errno.ENOENT, LATEST),
    "clone_keeps_unbindable": (unbindable_copy, True, False, LATEST),
    "userns_depth_errno": (userns_too_deep, errno.EUSERS, errno.ENOSPC, LATEST),
    "rename_whiteout_needs_cap_mknod": (whiteout_unprivileged, errno.EPERM, 0, LATEST),
    "mount_options_fs_parse": (source_option, 0, errno.EINVAL, LATEST),
    "htab_key_size_limit": (big_key, errno.E2BIG, 0, LATEST),
    "htab_value_size_limit": (big_value, 0, errno.E2BIG, LINUX_4_4),
    "fd_array_sys_lookup": (prog_array_lookup, "ENOENT", True, LATEST),
    "verifier_log_rules": (small_log, errno.EINVAL, 0, LATEST),
    "map_create_map_flags": (raw_attr(MAP, {16: le32(1)}), EINVAL, 0, LINUX_4_7),
    "map_create_inner_map_fd": (raw_attr(MAP, {20: le32(99)}), EINVAL, 0, LINUX_5_10),
    "map_create_numa_node": (raw_attr(MAP, {24: le32(7)}), EINVAL, 0, LINUX_5_10),
    "map_create_map_name": (raw_attr(MAP, {28: b"abc"}), EINVAL, 0, LINUX_5_10),
    "map_create_map_ifindex": (raw_attr(MAP, {44: le32(1)}), EINVAL, errno.EOPNOTSUPP, LATEST),
    "map_create_btf": (raw_attr(MAP, {48: le32(99)}), E2BIG, 0, LINUX_5_10),
    "map_create_btf_vmlinux_value_type_id": (raw_attr(MAP, {60: le32(1)}), E2BIG, EINVAL, LATEST),
    "map_create_map_extra": (raw_attr(MAP, {64: le32(1)}), E2BIG, EINVAL, LATEST),
    "map_create_value_type_btf_obj_fd": (raw_attr(MAP, {72: le32(5)}), E2BIG, 0, LATEST),
    "map_create_map_token_fd": (raw_attr(MAP, {76: le32(5)}), E2BIG, 0, LATEST),
    "map_create_excl_prog_hash": (raw_attr(MAP, {88: le32(32)}), E2BIG, EINVAL, LATEST),
    "map_create_flags": (raw_attr(MAP, {16: le32(1 << 6)}), EINVAL, 0, LINUX_5_10),
    "map_alloc_check_before_gate": (unprivileged_bad_sizes, errno.EPERM, EINVAL, LATEST),
    "htab_key_value_size_check": (hash_key_plus_value, 0, E2BIG, LATEST),
    "array_value_size_check": (array_value_int_max, 0, E2BIG, LATEST),
    "htab_check_flags_before_alloc": (full_hash_exist, E2BIG, errno.ENOENT, LINUX_4_7),
    "prog_load_prog_flags": (raw_attr(PROG, {44: le32(1)}, "prog"), EINVAL, 0, LINUX_5_10),
    "prog_load_flags": (raw_attr(PROG, {44: le32(4)}, "prog"), EINVAL, 0, LINUX_5_10),
    "prog_load_prog_name": (raw_attr(PROG, {48: b"p"}, "prog"), E2BIG, 0, LINUX_5_10),
    "prog_load_prog_ifindex": (raw_attr(PROG, {64: le32(1)}, "prog"), E2BIG, EINVAL, LATEST),
    "prog_load_expected_attach_type": (raw_attr(PROG, {68: le32(1)}, "prog"), E2BIG, 0, LATEST),
    "prog_load_func_info": (raw_attr(PROG, {72: le32(99)}, "prog"), E2BIG, 0, LATEST),
    "prog_load_line_info": (raw_attr(PROG, {92: le32(1)}, "prog"), E2BIG, 0, LATEST),
    "prog_load_attach_btf_id": (raw_attr(PROG, {108: le32(1)}, "prog"), E2BIG, EINVAL, LATEST),
    "prog_load_attach_prog_fd": (raw_attr(PROG, {112: le32(1)}, "prog"), E2BIG, EINVAL, LATEST),
    "prog_load_fd_array": (raw_attr(PROG, {120: le32(1)}, "prog"), E2BIG, 0, LATEST),
    "prog_load_core_relos": (raw_attr(PROG, {136: le32(1)}, "prog"), E2BIG, 0, LATEST),
    "prog_load_log_true_size": (raw_attr(PROG, {140: le32(1)}, "prog"), E2BIG, 0, LATEST),
    "prog_load_prog_token_fd": (raw_attr(PROG, {144: le32(1)}, "prog"), E2BIG, 0, LATEST),
    "prog_load_fd_array_cnt": (raw_attr(PROG, {148: le32(1)}, "prog"), E2BIG, errno.EFAULT, LATEST),
    "prog_load_signature": (raw_attr(PROG, {164: le32(1)}, "prog"), E2BIG, 0, LATEST),
    "map_lookup_elem_flags": (lookup_lock_bad_fd, EINVAL, errno.EBADF, LATEST),
    "object_ids": (next_map_id, EINVAL, ("id", 1), LATEST),
    "map_get_fd_by_id_open_flags": (fd_by_id_rdonly, EINVAL, "EPERM", LATEST),
    "prog_load_cap_bpf": (program_of_4096_insns, errno.EINVAL, 0, LINUX_5_10),
    "prog_load_license_after_insns": (no_insns_bad_license, errno.EFAULT, E2BIG, LATEST),
    "map_freeze": (freeze_then_update, (EINVAL, 0), (0, errno.EPERM), LINUX_5_10),
    "map_freeze_needs_write_fd": (unprivileged_freeze, EINVAL, 0, LATEST),
    "map_lookup_and_delete_elem": (lookup_and_delete(ARRAY), EINVAL, 524, LINUX_5_10),
    "htab_lookup_and_delete": (lookup_and_delete(pinfs.BPF_MAP_TYPE_HASH), EINVAL, 0, LATEST),
    "memlock_boot_limit": (memlock_at_boot, (65536, 65536), (8 << 20, 8 << 20), LATEST),
    "statx": (statx_root, "ENOSYS", stat.S_IFDIR, LINUX_5_10),
    "statx_mnt_id": (statx_mnt_id, "ENOSYS", True, LINUX_5_10),
    "statx_mgtime": (statx_tmpfs_times, "ENOSYS", "0x0", LATEST),
    "empty_path_is_fstat": (empty_path_bad_flag, "EINVAL", True, LATEST),
    "faccessat2": (faccessat2_root, "ENOSYS", None, LINUX_5_10),
    "openat2": (openat2_root, "ENOSYS", True, LINUX_5_10),
    "anon_inode_setattr_blocked": (fchmod_map_fd, None, errno.errorcode[errno.EOPNOTSUPP], LATEST),
    "console_f_flags": (console_flags, os.O_RDWR | 0o100000, os.O_RDWR, LINUX_5_10),
}


@pytest.mark.parametrize("switch", sorted(SIDE_BY_SIDE))
def test_switch_seed_and_modern_side_by_side(switch: str) -> None:
    script, seed_result, modern_result, modern = SIDE_BY_SIDE[switch]
    assert getattr(modern, switch) != getattr(SEED, switch) or switch == "linux_version_code"
    seed_kernel, modern_kernel = boot(SEED), boot(modern)
    assert (script(seed_kernel), script(modern_kernel)) == (seed_result, modern_result)
    # Flipping only this switch on the seed reproduces the modern result, unless the
    # behaviour needs a companion switch of the same commit.
    seed_kernel.check_invariants()
    modern_kernel.check_invariants()


def test_every_switch_has_a_side_by_side_test() -> None:
    assert sorted(SIDE_BY_SIDE) == sorted(profiles.switches())


@pytest.mark.parametrize("switch", profiles.switches())
def test_every_switch_documents_its_commit_and_release(switch: str) -> None:
    source = Path(profiles.__file__).read_text()
    doc = source.split(f"    {switch}:", 1)[1].split('"""', 2)[1]
    assert re.search(
        r"\b[0-9a-f]{12}\b|Al Viro|CONFIG_|LINUX_VERSION_CODE|[Ww]idth|not recovered", doc
    ), doc
    assert re.search(r"v\d+\.\d+|seed", doc), doc


def test_presets_are_plain_values_and_resolve_by_name() -> None:
    assert profiles.by_name("latest") is profiles.LINUX_6_18
    assert profiles.by_name("LINUX_4_7") is profiles.LINUX_4_7
    assert pinfs.Kernel().profile is SEED
    for preset in profiles.PRESETS.values():
        assert attrs.evolve(preset) == preset
    with pytest.raises(KeyError):
        profiles.by_name("linux-9.9")


def test_path_fd_flag_with_a_regular_fd_is_enotdir_path_init() -> None:
    k = boot(LATEST)
    t = k.init_task
    pinned_map(k)
    t.mknod("/tmp/f", 0o100644)
    fd = t.open("/tmp/f")
    assert err(t.obj_get, "m", 0, fd) == errno.ENOTDIR
    assert t.obj_get(f"{BPF}/m", 0, 9999) >= 0  # absolute: path_fd ignored
    assert err(t.bpf, 7, t.mem.alloc(pack_attr(7) + b""), 48) == errno.EFAULT
    assert BPF_F_PATH_FD == 1 << 14
