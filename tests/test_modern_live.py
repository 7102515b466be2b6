"""Object ids and BPF_OBJ_GET_INFO_BY_FD, pinfs (LINUX_6_18) beside the live kernel.

The scenario format compares return values only, so what the kernel writes back into
user memory (the info structs, ``next_id``, ``info_len``) is compared here, through
the same raw calls on a :class:`~pinfs.live.kernel.LiveTask` and a pinfs task.
Ids themselves differ (the live machine has other maps and programs), so they are
compared by relation: the id in the info is the one GET_NEXT_ID finds, and so on.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from typing import Any, Protocol

import pytest

import pinfs
from pinfs.base.profiles import LINUX_6_18
from pinfs.ebpf.attr import (
    BPF_F_RDONLY,
    BPF_MAP_CREATE,
    BPF_MAP_GET_FD_BY_ID,
    BPF_MAP_GET_NEXT_ID,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_OBJ_GET_INFO_BY_FD,
    BPF_PROG_GET_FD_BY_ID,
    BPF_PROG_LOAD,
)
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.live.kernel import LiveKernel

pytestmark = pytest.mark.live

ATTR = 168


class Raw(Protocol):
    """What both sides offer: user memory and the raw syscall."""

    def alloc(self, data: bytes) -> int: ...
    def read(self, address: int, size: int) -> bytes: ...
    def free(self, address: int) -> None: ...
    def bpf(self, cmd: int, address: int, size: int) -> int: ...
    def close(self, fd: int) -> None: ...


class PinfsRaw:
    def __init__(self, task: pinfs.Task) -> None:
        self.task = task

    def alloc(self, data: bytes) -> int:
        return self.task.mem.alloc(data)

    def read(self, address: int, size: int) -> bytes:
        return self.task.mem.read(address, size)

    def free(self, address: int) -> None:
        self.task.mem.free(address)

    def bpf(self, cmd: int, address: int, size: int) -> int:
        return self.task.bpf(cmd, address, size)

    def close(self, fd: int) -> None:
        self.task.close(fd)


class LiveRaw:
    def __init__(self, task: Any) -> None:
        self.task = task

    def alloc(self, data: bytes) -> int:
        return int(self.task.write_user(data))

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.task.read_user(address, size))

    def free(self, address: int) -> None:
        self.task.free_user(address)

    def bpf(self, cmd: int, address: int, size: int) -> int:
        return int(self.task.bpf(int(cmd), address, size))

    def close(self, fd: int) -> None:
        self.task.close(fd)


def call(side: Raw, cmd: int, attr: bytes) -> tuple[int, bytes]:
    """bpf(cmd) on a 168-byte attr in the side's memory: (result or -errno, attr after)."""
    address = side.alloc(attr.ljust(ATTR, b"\0"))
    try:
        try:
            result = side.bpf(cmd, address, ATTR)
        except OSError as exc:
            result = -(exc.errno or 0)
        return result, side.read(address, ATTR)
    finally:
        side.free(address)


def map_create(side: Raw, map_type: int, flags: int = 0, name: bytes = b"") -> int:
    attr = struct.pack("<5I", map_type, 4, 8, 3, flags) + bytes(8) + name.ljust(16, b"\0")
    fd, _ = call(side, BPF_MAP_CREATE, attr)
    assert fd >= 0, fd
    return fd


def prog_load(side: Raw, map_fd: int, name: bytes) -> int:
    insns = side.alloc(BPF_LD_MAP_FD(1, map_fd) + RETURN_ZERO)
    license = side.alloc(b"GPL\0")
    try:
        attr = struct.pack("<IIQQ", 1, 4, insns, license).ljust(48, b"\0") + name.ljust(16, b"\0")
        fd, _ = call(side, BPF_PROG_LOAD, attr)
    finally:
        side.free(insns)
        side.free(license)
    assert fd >= 0, fd
    return fd


def info(side: Raw, fd: int, info_len: int, initial: bytes = b"") -> tuple[int, int, bytes]:
    """OBJ_GET_INFO_BY_FD: (result, info_len written back, the info buffer)."""
    buf = side.alloc(initial.ljust(info_len, b"\0"))
    try:
        result, after = call(side, BPF_OBJ_GET_INFO_BY_FD, struct.pack("<IIQ", fd, info_len, buf))
        return result, struct.unpack_from("<I", after, 4)[0], side.read(buf, info_len)
    finally:
        side.free(buf)


@pytest.fixture
def sides(live: LiveKernel) -> Iterator[list[tuple[str, Raw, Raw]]]:
    """(name, root, user) for pinfs and the live kernel."""
    k = pinfs.Kernel(LINUX_6_18)
    pinfs_side = ("pinfs", PinfsRaw(k.spawn(uid=0)), PinfsRaw(k.spawn(uid=1000)))
    live_root, live_user = live.init_task.fork(), live.spawn(uid=1000)
    yield [pinfs_side, ("live", LiveRaw(live_root), LiveRaw(live_user))]
    live_root.exit(0)
    live_user.exit(0)


def both(sides: list[tuple[str, Raw, Raw]], script: Any) -> Any:
    """Run ``script(root, user)`` on both sides, require equal results, return them."""
    results = {name: script(root, user) for name, root, user in sides}
    assert results["pinfs"] == results["live"], results
    return results["pinfs"]


def test_map_info_fields_and_sizes(sides: list[tuple[str, Raw, Raw]]) -> None:
    def script(root: Raw, user: Raw) -> Any:
        fd = map_create(root, BPF_MAP_TYPE_ARRAY, BPF_F_RDONLY, b"abc")
        full = info(root, fd, 300)
        short = info(root, fd, 8)
        fields = struct.unpack_from("<6I", full[2])
        root.close(fd)
        # the id is compared apart: whatever it is, it is not 0
        return full[:2], fields[0], fields[1] != 0, fields[2:], full[2][24:40], short[:2]

    both(sides, script)


def test_prog_info_tag_maps_and_name(sides: list[tuple[str, Raw, Raw]]) -> None:
    def script(root: Raw, user: Raw) -> Any:
        map_fd = map_create(root, BPF_MAP_TYPE_HASH)
        map_id = struct.unpack_from("<I", info(root, map_fd, 104)[2], 4)[0]
        prog_fd = prog_load(root, map_fd, b"prg1")
        ids = root.alloc(bytes(16))
        initial = bytearray(232)
        struct.pack_into("<IQ", initial, 52, 4, ids)  # nr_map_ids, map_ids
        result, info_len, data = info(root, prog_fd, 232, bytes(initial))
        map_ids = root.read(ids, 16)
        root.free(ids)
        root.close(prog_fd)
        root.close(map_fd)
        return (
            result,
            info_len,
            struct.unpack_from("<I", data, 0),  # type
            data[8:16].hex(),  # tag (SHA-256 on 6.18)
            struct.unpack_from("<I", data, 20),  # xlated_prog_len
            struct.unpack_from("<II", data, 48),  # created_by_uid, nr_map_ids
            struct.unpack_from("<I", map_ids, 0)[0] == map_id,
            map_ids[4:],
            data[64:80],  # name
            data[84] & 1,  # gpl_compatible
        )

    both(sides, script)


def test_ids_walk_fd_by_id_and_privilege(sides: list[tuple[str, Raw, Raw]]) -> None:
    def script(root: Raw, user: Raw) -> Any:
        fd = map_create(root, BPF_MAP_TYPE_ARRAY)
        map_id = struct.unpack_from("<I", info(root, fd, 104)[2], 4)[0]
        found, after = call(root, BPF_MAP_GET_NEXT_ID, struct.pack("<I", map_id - 1))
        next_id = struct.unpack_from("<I", after, 4)[0]
        by_id, _ = call(root, BPF_MAP_GET_FD_BY_ID, struct.pack("<III", map_id, 0, BPF_F_RDONLY))
        same = struct.unpack_from("<I", info(root, by_id, 104)[2], 4)[0] == map_id
        denied = call(user, BPF_MAP_GET_FD_BY_ID, struct.pack("<I", map_id))[0]
        denied_next = call(user, BPF_MAP_GET_NEXT_ID, struct.pack("<I", 0))[0]
        denied_prog = call(user, BPF_PROG_GET_FD_BY_ID, struct.pack("<I", 1))[0]
        root.close(by_id)
        root.close(fd)
        gone = call(root, BPF_MAP_GET_FD_BY_ID, struct.pack("<I", map_id))[0]
        return found, next_id == map_id, by_id >= 0, same, denied, denied_next, denied_prog, gone

    found, same_id, opened, same, denied, denied_next, denied_prog, gone = both(sides, script)
    assert (found, same_id, opened, same) == (0, True, True, True)
    assert (denied, denied_next, denied_prog, gone) == (-errno.EPERM,) * 3 + (-errno.ENOENT,)


def test_ids_are_cyclic_not_reused(sides: list[tuple[str, Raw, Raw]]) -> None:
    """A freed id is not handed out again (idr_alloc_cyclic)."""

    def script(root: Raw, user: Raw) -> Any:
        ids = []
        for _ in range(3):
            fd = map_create(root, BPF_MAP_TYPE_ARRAY)
            ids.append(struct.unpack_from("<I", info(root, fd, 104)[2], 4)[0])
            root.close(fd)
        return ids[0] < ids[1] < ids[2]

    assert both(sides, script) is True


# --------------------------------------------------------------------------------------
# Loaders' pinning logic, transliterated (not copied) from their sources, on both sides.

BPF_OBJ_PIN, BPF_OBJ_GET = 6, 7


def obj_path_call(side: Raw, cmd: int, path: str, fd: int = 0, flags: int = 0) -> int:
    name = side.alloc(path.encode() + b"\0")
    try:
        return call(side, cmd, struct.pack("<QII", name, fd, flags))[0]
    finally:
        side.free(name)


def map_info_fields(side: Raw, fd: int) -> tuple[int, ...] | None:
    """``bpf_map_get_info_by_fd`` as libbpf and cilium/ebpf call it (sizeof their
    struct bpf_map_info, 88 bytes in today's libbpf headers)."""
    result, _, data = info(side, fd, 88)
    if result < 0:
        return None
    return struct.unpack_from("<6I", data) + struct.unpack_from("<Q", data, 80)


def libbpf_map_is_reuse_compat(side: Raw, spec: tuple[int, ...], fd: int) -> bool:
    """libbpf src/libbpf.c ``map_is_reuse_compat``: type, key/value size, max_entries,
    map_flags and map_extra of the pinned map must equal the definition's."""
    fields = map_info_fields(side, fd)
    if fields is None:
        return False
    map_type, _id, key_size, value_size, max_entries, flags, extra = fields
    return (map_type, key_size, value_size, max_entries, flags, extra) == spec


def libbpf_reuse_or_pin(side: Raw, spec: tuple[int, ...], path: str) -> tuple[str, int]:
    """libbpf ``bpf_object__reuse_map`` (OBJ_GET; ENOENT: nothing to reuse; an
    incompatible map: -EINVAL) and, when nothing was reused, map creation then
    ``bpf_map__pin`` (OBJ_PIN)."""
    pin_fd = obj_path_call(side, BPF_OBJ_GET, path)
    if pin_fd >= 0:
        if not libbpf_map_is_reuse_compat(side, spec, pin_fd):
            side.close(pin_fd)
            return "incompatible", -errno.EINVAL
        return "reused", 0
    if pin_fd != -errno.ENOENT:
        return "get failed", pin_fd
    map_type, key_size, value_size, max_entries, flags, _extra = spec
    attr = struct.pack("<5I", map_type, key_size, value_size, max_entries, flags)
    fd, _ = call(side, BPF_MAP_CREATE, attr)
    if fd < 0:
        return "create failed", fd
    return "pinned", obj_path_call(side, BPF_OBJ_PIN, path, fd)


def cilium_load_pinned_map(side: Raw, path: str, spec: tuple[int, ...]) -> str:
    """cilium/ebpf map.go ``LoadPinnedMap`` (OBJ_GET, then ``newMapFromFD`` reads the
    info) and ``MapSpec.Compatible`` (type, key/value size, max entries, flags)."""
    fd = obj_path_call(side, BPF_OBJ_GET, path)
    if fd < 0:
        return f"ObjGet: {errno.errorcode[-fd]}"
    fields = map_info_fields(side, fd)
    side.close(fd)
    if fields is None:
        return "ObjGetInfoByFd failed"
    map_type, _id, key_size, value_size, max_entries, flags, _extra = fields
    return (
        "compatible"
        if (map_type, key_size, value_size, max_entries, flags) == spec[:5]
        else "incompatible"
    )


@pytest.fixture
def bpffs_sides(live: LiveKernel) -> Iterator[list[tuple[str, Raw]]]:
    k = pinfs.Kernel(LINUX_6_18)
    k.init_task.mkdir("/mnt", 0o755)
    k.init_task.mount("bpf", "/mnt", "bpf")
    root = live.init_task.fork()
    root.mkdir("/mnt", 0o755)
    root.mount("bpf", "/mnt", "bpf")
    yield [("pinfs", PinfsRaw(k.init_task)), ("live", LiveRaw(root))]
    root.exit(0)


def test_libbpf_and_cilium_pinning_logic_agree(bpffs_sides: list[tuple[str, Raw]]) -> None:
    spec = (BPF_MAP_TYPE_HASH, 4, 8, 16, 1, 0)  # BPF_F_NO_PREALLOC
    other = (BPF_MAP_TYPE_HASH, 4, 8, 32, 1, 0)

    def script(side: Raw) -> Any:
        return (
            libbpf_reuse_or_pin(side, spec, "/mnt/counts"),
            libbpf_reuse_or_pin(side, spec, "/mnt/counts"),
            libbpf_reuse_or_pin(side, other, "/mnt/counts"),
            cilium_load_pinned_map(side, "/mnt/counts", spec),
            cilium_load_pinned_map(side, "/mnt/counts", other),
            cilium_load_pinned_map(side, "/mnt/missing", spec),
        )

    results = {name: script(side) for name, side in bpffs_sides}
    assert results["pinfs"] == results["live"], results
    assert results["pinfs"][:3] == (("pinned", 0), ("reused", 0), ("incompatible", -errno.EINVAL))
