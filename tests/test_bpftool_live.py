"""bpftool's ``map show pinned FILE`` and ``map dump pinned FILE``, transliterated from
tools/bpf/bpftool (map.c ``do_show``/``show_map_close_plain``, ``do_dump``/``map_dump``/
``dump_map_elem``/``print_entry_plain``/``print_entry_error_msg``; common.c
``open_obj_pinned_any``, ``get_fd_type``, ``get_fdinfo``; ``fprint_hex``) into Python
over the task API, and run on pinfs (LINUX_6_18) and on the live kernel: the printed
text must be the same.

Two values are normalised, as in tests/test_procfs_live.py: the map id (the machines
count differently: replaced by ``ID`` where it is the info's id) and ``memlock``
(v6.18 prints ``map_mem_usage``, pinfs the seed's page charge).  Hash maps are made
with BPF_F_ZERO_SEED so that both kernels walk the buckets in the same order.
"""

from __future__ import annotations

import os
import re
import struct
from typing import Any

import pytest

import pinfs
from pinfs import clients
from pinfs.base.profiles import LINUX_6_18
from pinfs.ebpf.attr import (
    BPF_F_ZERO_SEED,
    BPF_MAP_CREATE,
    BPF_MAP_GET_NEXT_KEY,
    BPF_MAP_LOOKUP_ELEM,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_RINGBUF,
    BPF_MAP_UPDATE_ELEM,
    BPF_OBJ_GET,
    BPF_OBJ_GET_INFO_BY_FD,
    BPF_OBJ_PIN,
)
from pinfs.ebpf.prog import RETURN_ZERO

pytestmark = pytest.mark.live

ATTR = 168
MAP_TYPE_NAMES = {  # libbpf's map_type_name[]
    1: "hash",
    2: "array",
    3: "prog_array",
    4: "perf_event_array",
    5: "percpu_hash",
    6: "percpu_array",
    9: "lru_hash",
    10: "lru_percpu_hash",
    12: "array_of_maps",
    13: "hash_of_maps",
    27: "ringbuf",
}
PROG_TYPE_NAMES = {1: "socket_filter"}


#: conftest's ``live`` fixture mounts the twin's own /proc for this module.
LIVE_MOUNTS_PROC = True


def sides(live: Any) -> list[tuple[str, Any]]:
    k = pinfs.Kernel(LINUX_6_18, mount_proc=True)
    t = live.init_task.fork()
    os.sched_setaffinity(t.host_pid, {0})
    return [("pinfs", k.init_task), ("live", t)]


# -- libbpf's thin wrappers (tools/lib/bpf/bpf.c), over task.mem + task.bpf -------------


def sys_bpf(t: Any, cmd: int, attr: bytes) -> tuple[int, bytes]:
    """(result or -errno, the attr after the call)."""
    address = t.mem.alloc(attr.ljust(ATTR, b"\0"))
    try:
        try:
            result = t.bpf(int(cmd), address, ATTR)
        except OSError as exc:
            result = -(exc.errno or 0)
        return result, t.mem.read(address, ATTR)
    finally:
        t.mem.free(address)


def with_buffers(t: Any, *sizes_or_data: int | bytes) -> list[int]:
    return [t.mem.alloc(bytes(x) if isinstance(x, int) else x) for x in sizes_or_data]


def bpf_obj_get(t: Any, path: str) -> int:
    (name,) = with_buffers(t, path.encode() + b"\0")
    try:
        return sys_bpf(t, BPF_OBJ_GET, struct.pack("<Q", name))[0]
    finally:
        t.mem.free(name)


def bpf_map_get_info_by_fd(t: Any, fd: int) -> dict[str, Any] | int:
    """``bpf_map_get_info_by_fd`` with bpftool's ``struct bpf_map_info`` (88 bytes)."""
    (buf,) = with_buffers(t, 88)
    try:
        result, _ = sys_bpf(t, BPF_OBJ_GET_INFO_BY_FD, struct.pack("<IIQ", fd, 88, buf))
        if result < 0:
            return result
        raw = t.mem.read(buf, 88)
    finally:
        t.mem.free(buf)
    keys = ("type", "id", "key_size", "value_size", "max_entries", "map_flags")
    info: dict[str, Any] = dict(zip(keys, struct.unpack_from("<6I", raw), strict=True))
    info["name"] = raw[24:40].split(b"\0", 1)[0].decode()
    info["btf_id"] = struct.unpack_from("<I", raw, 64)[0]
    return info


def elem_call(t: Any, cmd: int, fd: int, key: bytes | None, out_size: int) -> tuple[int, bytes]:
    """``bpf_map_lookup_elem`` / ``bpf_map_get_next_key``: (result, what was written)."""
    kaddr = 0 if key is None else t.mem.alloc(key)
    (out,) = with_buffers(t, max(out_size, 1))
    try:
        result, _ = sys_bpf(t, cmd, struct.pack("<IIQQ", fd, 0, kaddr, out))
        return result, t.mem.read(out, out_size)
    finally:
        t.mem.free(out)
        if kaddr:
            t.mem.free(kaddr)


# -- bpftool ------------------------------------------------------------------------------


def get_fdinfo(t: Any, fd: int, key: str) -> str | None:
    """common.c ``get_fdinfo``: the value after "key:\\t" on the first matching line."""
    try:
        lines = clients.read_lines(t, f"/proc/self/fdinfo/{fd}")
    except OSError:
        return None
    for line in lines:
        if line.startswith(key) and line[len(key) : len(key) + 1] == ":":
            return line[len(key) + 1 :].strip("\t\n")
    return None


def open_obj_pinned_any(t: Any, path: str, out: list[str]) -> int:
    """common.c ``open_obj_pinned_any(path, BPF_OBJ_MAP)``."""
    fd = bpf_obj_get(t, path)
    if fd < 0:
        out.append(f"Error: bpf obj get ({path}): {os.strerror(-fd)}\n")
        return -1
    fd_type = clients.get_fd_type(t, fd)
    if fd_type < 0:
        t.close(fd)
        return -1
    if fd_type != clients.BPF_OBJ_MAP:
        out.append("Error: incorrect object type\n")
        t.close(fd)
        return -1
    return fd


def show_map_close_plain(t: Any, fd: int, info: dict[str, Any], out: list[str]) -> None:
    """map.c ``show_map_close_plain`` (no ``-f``: no pinned paths; no pids)."""
    memlock = get_fdinfo(t, fd, "memlock")
    frozen_str = get_fdinfo(t, fd, "frozen")
    text = f"{info['id']}: "
    name = MAP_TYPE_NAMES.get(info["type"])
    text += f"{name}  " if name else f"type {info['type']}  "
    if info["name"]:
        text += f"name {info['name']}  "
    text += f"flags {info['map_flags']:#x}" if info["map_flags"] else "flags 0x0"
    text += f"\n\tkey {info['key_size']}B  value {info['value_size']}B  "
    text += f"max_entries {info['max_entries']}"
    if memlock:
        text += f"  memlock {memlock}B"
    if info["type"] == BPF_MAP_TYPE_PROG_ARRAY:
        owner_prog_type = get_fdinfo(t, fd, "owner_prog_type")
        owner_jited = get_fdinfo(t, fd, "owner_jited")
        if owner_prog_type or owner_jited:
            text += "\n\t"
        if owner_prog_type:
            ptype = int(owner_prog_type)
            text += f"owner_prog_type {PROG_TYPE_NAMES.get(ptype, ptype)}  "
        if owner_jited:
            text += "owner jited" if int(owner_jited) else "owner not jited"
    frozen = int(frozen_str) if frozen_str else 0
    if info["btf_id"] or frozen:
        text += "\n\t"
    if info["btf_id"]:
        text += f"btf_id {info['btf_id']}"
    if frozen:
        text += ("  " if info["btf_id"] else "") + "frozen"
    out.append(text + "\n")
    t.close(fd)


def do_show_pinned(t: Any, path: str) -> str:
    """map.c ``do_show`` for ``map show pinned PATH``."""
    out: list[str] = []
    fd = open_obj_pinned_any(t, path, out)
    if fd < 0:
        return "".join(out)
    info = bpf_map_get_info_by_fd(t, fd)
    if isinstance(info, int):
        out.append(f"Error: can't get map info: {os.strerror(-info)}\n")
        t.close(fd)
    else:
        show_map_close_plain(t, fd, info, out)
    return "".join(out)


def fprint_hex(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


PERCPU = (BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, 10)


def get_possible_cpus() -> int:
    """common.c ``get_possible_cpus``: /sys/devices/system/cpu/possible."""
    with open("/sys/devices/system/cpu/possible") as f:
        spec = f.read().strip()
    return sum(
        int(b or a) - int(a) + 1 for a, _, b in (part.partition("-") for part in spec.split(","))
    )


def print_entry_plain(info: dict[str, Any], key: bytes, value: bytes) -> str:
    if info["type"] not in PERCPU:
        break_names = info["key_size"] > 16 or info["value_size"] > 16
        single_line = info["key_size"] + info["value_size"] <= 24 and not break_names
        sep = "\n" if break_names else " "
        return (
            f"key:{sep}{fprint_hex(key)}{'  ' if single_line else chr(10)}"
            f"value:{sep}{fprint_hex(value)}\n"
        )
    step = -(-info["value_size"] // 8) * 8
    text = f"key:\n{fprint_hex(key)}\n"
    for cpu in range(get_possible_cpus()):
        sep = "\n" if info["value_size"] > 16 else " "
        chunk = value[cpu * step : cpu * step + info["value_size"]]
        text += f"value (CPU {cpu:02d}):{sep}{fprint_hex(chunk)}\n"
    return text


def print_entry_error_msg(info: dict[str, Any], key: bytes, msg: str) -> str:
    break_names = info["key_size"] > 16 or len(msg) > 16
    single_line = info["key_size"] + len(msg) <= 24 and not break_names
    sep = "\n" if break_names else " "
    return f"key:{sep}{fprint_hex(key)}{'  ' if single_line else chr(10)}value:{sep}{msg}\n"


def do_dump_pinned(t: Any, path: str) -> str:
    """map.c ``do_dump`` -> ``map_dump`` for ``map dump pinned PATH`` (plain output):
    walk GET_NEXT_KEY from NULL, look each key up, print it, count the elements."""
    out: list[str] = []
    fd = open_obj_pinned_any(t, path, out)
    if fd < 0:
        return "".join(out)
    info = bpf_map_get_info_by_fd(t, fd)
    assert not isinstance(info, int)
    value_size = info["value_size"]
    if info["type"] in PERCPU:  # alloc_value
        value_size = -(-value_size // 8) * 8 * get_possible_cpus()
    prev_key: bytes | None = None
    num_elems = 0
    while True:
        err, key = elem_call(t, BPF_MAP_GET_NEXT_KEY, fd, prev_key, info["key_size"])
        if err:
            if -err != 2:  # ENOENT ends the walk quietly
                out.append(f"Error: can't get next key: {os.strerror(-err)}\n")
            break
        result, value = elem_call(t, BPF_MAP_LOOKUP_ELEM, fd, key, value_size)
        if result == 0:
            out.append(print_entry_plain(info, key, value))
            num_elems += 1
        elif info["type"] not in (BPF_MAP_TYPE_ARRAY_OF_MAPS, 13, BPF_MAP_TYPE_PROG_ARRAY):
            msg = "<no entry>" if -result == 2 else os.strerror(-result)
            out.append(print_entry_error_msg(info, key, msg))
        prev_key = key
    out.append(f"Found {num_elems} element{'s' if num_elems != 1 else ''}\n")
    t.close(fd)
    return "".join(out)


# -- the test ------------------------------------------------------------------------------


def create(t: Any, *fields: int, name: bytes = b"") -> int:
    attr = struct.pack(f"<{len(fields)}I", *fields).ljust(28, b"\0") + name.ljust(16, b"\0")
    fd, _ = sys_bpf(t, BPF_MAP_CREATE, attr)
    assert fd >= 0, fd
    return fd


def update(t: Any, fd: int, key: bytes, value: bytes) -> None:
    k, v = with_buffers(t, key, value)
    try:
        result, _ = sys_bpf(t, BPF_MAP_UPDATE_ELEM, struct.pack("<IIQQQ", fd, 0, k, v, 0))
        assert result == 0, result
    finally:
        t.mem.free(k)
        t.mem.free(v)


def pin(t: Any, fd: int, path: str) -> None:
    (name,) = with_buffers(t, path.encode() + b"\0")
    try:
        assert sys_bpf(t, BPF_OBJ_PIN, struct.pack("<QI", name, fd))[0] == 0
    finally:
        t.mem.free(name)


def build(t: Any) -> list[tuple[str, int]]:
    """Pinned maps of several types with some elements; returns (path, id)."""
    t.mkdir("/mnt", 0o755)
    t.mount("bpf", "/mnt", "bpf")
    cpus = get_possible_cpus()
    maps: list[tuple[str, int]] = []

    def add(path: str, fd: int) -> None:
        pin(t, fd, path)
        info = bpf_map_get_info_by_fd(t, fd)
        assert not isinstance(info, int)
        maps.append((path, info["id"]))

    h = create(t, BPF_MAP_TYPE_HASH, 4, 8, 16, BPF_F_ZERO_SEED, name=b"counts")
    for i in (7, 1, 300, 42):
        update(t, h, struct.pack("<I", i), struct.pack("<Q", i * i))
    add("/mnt/counts", h)
    a = create(t, BPF_MAP_TYPE_ARRAY, 4, 20, 3)
    update(t, a, struct.pack("<I", 1), bytes(range(20)))
    add("/mnt/array", a)
    pa = create(t, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2)
    update(t, pa, struct.pack("<I", 0), bytes(range(8 * cpus)))
    add("/mnt/percpu", pa)
    lru = create(t, BPF_MAP_TYPE_LRU_HASH, 8, 4, 4, BPF_F_ZERO_SEED)
    for i in range(9):
        update(t, lru, struct.pack("<Q", i), struct.pack("<I", i))
    add("/mnt/lru", lru)
    add("/mnt/ring", create(t, BPF_MAP_TYPE_RINGBUF, 0, 0, 4096))
    progs = create(t, BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2)
    prog = t.prog_load(1, RETURN_ZERO)
    update(t, progs, struct.pack("<I", 1), struct.pack("<I", prog))
    add("/mnt/progs", progs)
    (buf,) = with_buffers(t, 8)
    sys_bpf(t, BPF_OBJ_GET_INFO_BY_FD, struct.pack("<IIQ", prog, 8, buf))
    maps.append(("<prog>", struct.unpack("<I", t.mem.read(buf, 8)[4:])[0]))
    add("/mnt/outer", create(t, BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, h))
    return maps


def normalise(text: str, ids: list[int], prog_id: int | None = None) -> str:
    """The machine-wide ids and the memlock figure (see the module docstring); in a
    prog array's dump, the program id its slot reads as."""
    for map_id in ids:
        text = re.sub(rf"^{map_id}: ", "ID: ", text, flags=re.M)
    if prog_id is not None:
        text = text.replace(f"value: {fprint_hex(struct.pack('<I', prog_id))}", "value: PROG_ID")
    return re.sub(r"memlock \d+B", "memlock NB", text)


def test_bpftool_map_show_and_dump_pinned(live: Any) -> None:
    seen = {}
    for side, t in sides(live):
        maps = build(t)
        prog_id = dict(maps).pop("<prog>")
        maps = [(path, map_id) for path, map_id in maps if path != "<prog>"]
        paths = [path for path, _ in maps] + ["/mnt/missing"]
        ids = [map_id for _, map_id in maps]
        shown = [normalise(do_show_pinned(t, path), ids) for path in paths]
        dumped = [
            normalise(do_dump_pinned(t, path), ids, prog_id if path == "/mnt/progs" else None)
            for path in paths  # (the map of maps' slots are empty: ENOENT, skipped)
        ]
        seen[side] = (shown, dumped)
        if not isinstance(t, pinfs.Task):
            t.exit(0)
    assert seen["pinfs"] == seen["live"], seen
    shown, dumped = seen["pinfs"]
    assert shown[0].startswith("ID: hash  name counts  flags 0x40\n\tkey 4B  value 8B")
    assert dumped[0].endswith("Found 4 elements\n")
