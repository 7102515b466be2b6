"""Differential tests of procfs under LINUX_6_18: the same steps on pinfs and on the
live kernel (a private mount + pid namespace, proc mounted at the sandbox's /proc).

Compared exactly: ``/proc/self/fd/N`` readlink text, the link and directory modes,
fdinfo's keys in order and every value but these, normalised and why:

* ``mnt_id`` of an anonymous (bpf) file: Linux numbers its internal anon_inodefs
  mount, pinfs does not (prints 0); for ordinary files it is compared with the id
  the same side's mountinfo gives the mount;
* ``ino``: compared with the same side's ``fstat(fd).st_ino``;
* ``map_id``/``prog_id``: the machine-wide counters differ; compared with each other
  (two maps get ids one apart on both sides);
* a map's ``memlock``: v6.18 prints ``map_mem_usage`` (allocator-specific), pinfs the
  seed's page charge;
* ``verified_insns``: the verifier's analysis is not modelled, pinfs prints no line.

Nothing is written to a live sysctl: those are global, not namespaced.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import pytest

import pinfs
from pinfs.base.profiles import LINUX_6_18
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH
from pinfs.ebpf.prog import RETURN_ZERO

pytestmark = pytest.mark.live

CLONE_NEWNS = 0x00020000
MS_NOSUID = 2
MS_NODEV = 4
SOCKET_FILTER = 1
O_PATH = 0o10000000


#: conftest's ``live`` fixture mounts the twin's own /proc for this module.
LIVE_MOUNTS_PROC = True


def both(live: Any) -> list[tuple[str, Any]]:
    """A fresh pinfs 6.18 machine with /proc, and a fresh task of the live one."""
    k = pinfs.Kernel(LINUX_6_18, mount_proc=True)
    return [("pinfs", k.init_task), ("live", live.init_task.fork())]


def map_create(t: Any, map_type: int, key: int, value: int, entries: int) -> int:
    create = getattr(t, "bpf_map_create", None) or t.map_create
    return int(create(int(map_type), key, value, entries))


def prog_load(t: Any) -> int:
    load = getattr(t, "bpf_prog_load", None) or t.prog_load
    return int(load(SOCKET_FILTER, RETURN_ZERO, "GPL"))


def cat(t: Any, path: str) -> str:
    fd = t.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := t.read(fd, 4096):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        t.close(fd)


def fdinfo(t: Any, fd: int) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in cat(t, f"/proc/self/fdinfo/{fd}").splitlines())


def mountinfo(t: Any) -> list[list[str]]:
    return [line.split(" ") for line in cat(t, "/proc/self/mountinfo").splitlines()]


def finish(t: Any) -> None:
    if not isinstance(t, pinfs.Task):
        t.exit(0)


def scratch(t: Any, name: str) -> str:
    base = f"/tmp/procfs-{name}"
    t.mkdir(base)
    return base


# ---------------------------------------------------------------------------------------


def test_fd_readlink_text(live: Any) -> None:
    seen = {}
    for side, t in both(live):
        base = scratch(t, f"links-{t.getpid()}")
        m = map_create(t, BPF_MAP_TYPE_HASH, 4, 8, 16)
        p = prog_load(t)
        a = map_create(t, BPF_MAP_TYPE_ARRAY, 4, 4, 1)
        d = t.open(base, os.O_RDONLY | os.O_DIRECTORY)
        f = t.open(f"{base}/x", os.O_CREAT | os.O_WRONLY, 0o600)
        t.unlink(f"{base}/x")
        links = [t.readlink(f"/proc/self/fd/{fd}").replace(base, "BASE") for fd in (m, p, a, d, f)]
        modes = [stat.S_IMODE(t.lstat(f"/proc/self/fd/{fd}").st_mode) for fd in (m, d, f)]
        self_is_pid = t.readlink("/proc/self") == str(t.getpid())
        dirs = [stat.filemode(t.stat(f"/proc/self/{n}").st_mode) for n in ("fd", "fdinfo")]
        try:
            t.open(f"/proc/self/fd/{m}", os.O_RDONLY)
            opened = "ok"
        except OSError as e:
            opened = errno.errorcode[e.errno or 0]
        via_link = t.stat(f"/proc/self/fd/{m}")
        same_inode = (via_link.st_ino, via_link.st_mode) == (t.fstat(m).st_ino, t.fstat(m).st_mode)
        o_path = t.open(f"/proc/self/fd/{m}", O_PATH)
        anon = (opened, same_inode, oct(via_link.st_mode), t.readlink(f"/proc/self/fd/{o_path}"))
        seen[side] = (links, modes, self_is_pid, dirs, anon)
        finish(t)
    assert seen["pinfs"] == seen["live"]
    assert seen["pinfs"][0] == [
        "anon_inode:bpf-map", "anon_inode:bpf-prog", "anon_inode:bpf-map", "BASE",
        "BASE/x (deleted)",
    ]  # fmt: skip
    assert seen["pinfs"][4] == ("ENXIO", True, "0o600", "anon_inode:bpf-map")


def _normalised_bpf_fdinfo(t: Any, fd: int) -> dict[str, str]:
    info = fdinfo(t, fd)
    assert info.pop("ino") == str(t.fstat(fd).st_ino)
    info["mnt_id"] = "anon"
    for key in ("map_id", "prog_id"):
        if key in info:
            info[key] = "id"
    if "map_type" in info:
        info["memlock"] = "n"
    info.pop("verified_insns", None)
    return info


def test_fdinfo_of_a_hash_map_and_a_program(live: Any) -> None:
    seen: dict[str, Any] = {}
    for side, t in both(live):
        m = map_create(t, BPF_MAP_TYPE_HASH, 4, 8, 16)
        m2 = map_create(t, BPF_MAP_TYPE_HASH, 8, 16, 32)
        p = prog_load(t)
        raw_prog_keys = list(fdinfo(t, p))
        ids = int(fdinfo(t, m2)["map_id"]) - int(fdinfo(t, m)["map_id"])
        seen[side] = (
            _normalised_bpf_fdinfo(t, m),
            list(fdinfo(t, m)),
            _normalised_bpf_fdinfo(t, m2),
            _normalised_bpf_fdinfo(t, p),
            [k for k in raw_prog_keys if k != "verified_insns"],
            ids,
        )
        finish(t)
    assert seen["pinfs"] == seen["live"]
    hash_map = seen["pinfs"][0]
    assert hash_map["flags"] == "02000002"
    assert (hash_map["key_size"], hash_map["value_size"], hash_map["max_entries"]) == (
        "4",
        "8",
        "16",
    )
    assert seen["pinfs"][3]["prog_tag"] == "59f4a931744dcdc6"
    assert seen["pinfs"][3]["memlock"] == "4096"


def test_fdinfo_of_ordinary_files(live: Any) -> None:
    seen = {}
    for side, t in both(live):
        base = scratch(t, f"files-{t.getpid()}")
        t.mkdir(f"{base}/b")
        t.mount("bpf", f"{base}/b", "bpf")
        ro = t.open(f"{base}/b", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        wr = t.open(f"{base}/f", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, 0o600)
        dup = t.dup(ro)
        mnt_id = next(line[0] for line in mountinfo(t) if line[4] == f"{base}/b")
        infos = []
        for fd in (ro, wr, dup):
            info = fdinfo(t, fd)
            assert info.pop("ino") == str(t.fstat(fd).st_ino)
            infos.append(info)
        same_mount = infos[0].pop("mnt_id") == mnt_id == infos[2].pop("mnt_id")
        infos[1].pop("mnt_id")
        seen[side] = (infos, same_mount)
        finish(t)
    assert seen["pinfs"] == seen["live"]
    assert [i["flags"] for i in seen["pinfs"][0]] == ["02300000", "0102001", "0300000"]


def test_mountinfo_of_a_bpffs_in_a_private_namespace(live: Any) -> None:
    seen = {}
    for side, t in both(live):
        t.unshare(CLONE_NEWNS)
        base = scratch(t, f"mnt-{t.getpid()}")
        t.mount("bpf", base, "bpf", MS_NOSUID | MS_NODEV, "mode=0700")
        lines = mountinfo(t)
        bpf = next(line for line in lines if line[4] == base)
        by_id = {line[0]: line for line in lines}
        parent = by_id[bpf[1]]
        major, _ = bpf[2].split(":")
        mounts = cat(t, "/proc/self/mounts").splitlines()
        seen[side] = (
            [field.replace(base, "BASE") for field in bpf[3:]],
            parent[4],
            major,
            next(line for line in mounts if f" {base} " in line).replace(base, "BASE"),
        )
        finish(t)
    assert seen["pinfs"] == seen["live"]
    assert seen["pinfs"][0][1:] == [
        "BASE",
        "rw,nosuid,nodev,relatime",
        "-",
        "bpf",
        "bpf",
        "rw,mode=700",
    ]


def test_sysctl_read_and_permission(live: Any) -> None:
    seen = {}
    for side, t in both(live):
        path = "/proc/sys/kernel/unprivileged_bpf_disabled"
        text = cat(t, path)
        mode = stat.filemode(t.stat(path).st_mode)
        mode += stat.filemode(t.stat("/proc/sys/fs/protected_symlinks").st_mode)
        t.setresuid(1000, 1000, 1000)
        try:
            t.open(path, os.O_WRONLY)
            refused = 0
        except OSError as e:
            refused = e.errno or 0
        seen[side] = (text, mode, refused)
        finish(t)
    live_value = seen["live"][0]
    assert seen["pinfs"][1:] == seen["live"][1:] == ("-rw-r--r--" * 2, errno.EACCES)
    assert seen["pinfs"][0] == "2\n"  # LINUX_6_18's CONFIG_BPF_UNPRIV_DEFAULT_OFF
    assert live_value.strip() in ("0", "1", "2")
