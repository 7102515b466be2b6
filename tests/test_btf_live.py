"""BTF objects on pinfs (LINUX_6_18) beside the live 6.18 kernel: BPF_BTF_LOAD's
header, section and type-record checks, libbpf's BTF feature probes, BTF ids, the
info by fd, and maps that name a BTF.

The live kernel holds vmlinux and module BTF (ids from 1), pinfs none: ids are
compared by relation (the id in the map's info is the one the BTF's info shows).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from typing import Any

import pytest

import pinfs
from pinfs.base.profiles import LINUX_6_18
from pinfs.ebpf.attr import (
    BPF_BTF_GET_FD_BY_ID,
    BPF_BTF_GET_NEXT_ID,
    BPF_BTF_LOAD,
    BPF_MAP_CREATE,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_OBJ_GET_INFO_BY_FD,
)
from pinfs.live.kernel import LiveKernel
from test_modern_live import LiveRaw, PinfsRaw, Raw, call

pytestmark = pytest.mark.live

Sides = list[tuple[str, Raw, Raw]]


@pytest.fixture
def sides(live: LiveKernel) -> Iterator[Sides]:
    k = pinfs.Kernel(LINUX_6_18)
    live_root, live_user = live.init_task.fork(), live.spawn(uid=1000)
    yield [
        ("pinfs", PinfsRaw(k.spawn(uid=0)), PinfsRaw(k.spawn(uid=1000))),
        ("live", LiveRaw(live_root), LiveRaw(live_user)),
    ]
    live_root.exit(0)
    live_user.exit(0)


def both(sides: Sides, script: Any) -> Any:
    results = {name: script(root, user) for name, root, user in sides}
    assert results["pinfs"] == results["live"], results
    return results["pinfs"]


# -- BTF blobs (include/uapi/linux/btf.h encodings) --------------------------------------

INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = range(1, 9)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)


def btf_type(name_off: int, kind: int, vlen: int, size_or_type: int, kflag: int = 0) -> bytes:
    """``BTF_TYPE_ENC(name, BTF_INFO_ENC(kind, kflag, vlen), size_or_type)``."""
    return struct.pack("<III", name_off, kflag << 31 | kind << 24 | vlen, size_or_type)


def int_type(name_off: int, bits: int = 32, size: int = 4, encoding: int = 1) -> bytes:
    """``BTF_TYPE_INT_ENC(name, encoding, 0, bits, size)``."""
    return btf_type(name_off, INT, 0, size) + struct.pack("<I", encoding << 24 | bits)


def header(type_len: int, str_len: int, **fields: int) -> bytes:
    values = {
        "magic": 0xEB9F,
        "version": 1,
        "flags": 0,
        "hdr_len": 24,
        "type_off": 0,
        "type_len": type_len,
        "str_off": type_len,
        "str_len": str_len,
    }
    values.update(fields)
    return struct.pack("<HBBIIIII", *values.values())


def raw_btf(types: bytes, strs: bytes, **fields: int) -> bytes:
    """libbpf ``libbpf__load_raw_btf``'s layout: header, types, strings."""
    return header(len(types), len(strs), **fields) + types + strs


INT_BTF = int_type(1)
STRS = b"\0int\0"

#: libbpf src/features.c, the BTF probes (transliterated from their type tables; each
#: ``strs[]`` is a C string literal, so it ends with its own NUL).
LIBBPF_PROBES = {
    "probe_kern_btf": raw_btf(int_type(1), b"\0int\0"),
    "probe_kern_btf_func": raw_btf(
        int_type(1)
        + btf_type(0, FUNC_PROTO, 1, 0)
        + struct.pack("<II", 7, 1)
        + btf_type(5, FUNC, 0, 2),
        b"\0int\0x\0a\0",
    ),
    "probe_kern_btf_func_global": raw_btf(
        int_type(1)
        + btf_type(0, FUNC_PROTO, 1, 0)
        + struct.pack("<II", 7, 1)
        + btf_type(5, FUNC, 1, 2),
        b"\0int\0x\0a\0",
    ),
    "probe_kern_btf_datasec": raw_btf(
        int_type(0)
        + btf_type(1, VAR, 0, 1)
        + struct.pack("<I", 0)
        + btf_type(3, DATASEC, 1, 4)
        + struct.pack("<III", 2, 0, 4),
        b"\0x\0.data\0",
    ),
    "probe_kern_btf_qmark_datasec": raw_btf(
        int_type(0)
        + btf_type(1, VAR, 0, 1)
        + struct.pack("<I", 0)
        + btf_type(3, DATASEC, 1, 4)
        + struct.pack("<III", 2, 0, 4),
        b"\0x\0?.data\0",
    ),
    "probe_kern_btf_float": raw_btf(btf_type(1, FLOAT, 0, 4), b"\0float\0"),
    "probe_kern_btf_decl_tag": raw_btf(
        int_type(0)
        + btf_type(1, VAR, 0, 1)
        + struct.pack("<I", 0)
        + btf_type(1, DECL_TAG, 0, 2)
        + struct.pack("<i", -1),
        b"\0tag\0",
    ),
    "probe_kern_btf_type_tag": raw_btf(
        int_type(0) + btf_type(1, TYPE_TAG, 0, 1) + btf_type(0, PTR, 0, 2), b"\0tag\0"
    ),
    "probe_kern_btf_enum64": raw_btf(btf_type(1, ENUM64, 0, 8), b"\0enum64\0"),
}

#: btf_parse_hdr, btf_check_sec_info, btf_parse_str_sec, btf_check_meta cases.
BAD_BLOBS = {
    "empty": b"",
    "shorter than hdr_len": b"\x9f\xeb\x01\x00",
    "header only": header(0, 0),
    "bad magic": raw_btf(INT_BTF, STRS, magic=0x1234),
    "version 2": raw_btf(INT_BTF, STRS, version=2),
    "flags": raw_btf(INT_BTF, STRS, flags=1),
    "hdr_len 32, zero tail": header(16, 5, hdr_len=32) + bytes(8) + INT_BTF + STRS,
    "hdr_len 32, non-zero tail": header(16, 5, hdr_len=32) + b"\1" + bytes(7) + INT_BTF + STRS,
    "hdr_len past the data": header(0, 0, hdr_len=100),
    "hdr_len 20": header(16, 5, hdr_len=20)[:20] + INT_BTF + STRS,
    "gap": header(16, 5, str_off=20) + INT_BTF + bytes(4) + STRS,
    "overlap": header(16, 5, str_off=12) + INT_BTF + STRS,
    "strings first": header(16, 5, type_off=5, str_off=0) + STRS + INT_BTF,
    "trailing byte": raw_btf(INT_BTF, STRS) + b"\0",
    "strings not NUL-ended": header(16, 4) + INT_BTF + b"\0int",
    "strings not NUL-started": header(16, 5) + INT_BTF + b"xint\0",
    "no strings": header(16, 0) + INT_BTF,
    "no types": header(0, 5) + STRS,
    "unaligned type_off": header(16, 5, type_off=1, str_off=0) + b"\0" + INT_BTF[:-1] + STRS,
    "truncated record": header(8, 5) + INT_BTF[:8] + STRS,
    "kind 0": raw_btf(btf_type(0, 0, 0, 0), STRS),
    "kind 20": raw_btf(btf_type(0, 20, 0, 0), STRS),
    "info bits": raw_btf(struct.pack("<III", 0, 1 << 24 | 1 << 16, 4) + b"\x20\0\0\0", STRS),
    "name offset past strings": raw_btf(int_type(100), STRS),
    "int of 64 bits in 4 bytes": raw_btf(int_type(1, bits=64), STRS),
    "int encoding 8": raw_btf(int_type(1, encoding=8), STRS),
    "ptr to a missing type": raw_btf(btf_type(0, PTR, 0, 5), STRS),
    "named ptr": raw_btf(INT_BTF + btf_type(1, PTR, 0, 1), STRS),
    "typedef with kflag": raw_btf(INT_BTF + btf_type(1, TYPEDEF, 0, 1, 1), STRS),
    "func of an int": raw_btf(INT_BTF + btf_type(1, FUNC, 0, 1), STRS),
    "extern func": raw_btf(btf_type(0, FUNC_PROTO, 0, 0) + btf_type(1, FUNC, 2, 1), STRS),
    "void var": raw_btf(btf_type(1, VAR, 0, 0) + struct.pack("<I", 0), STRS),
    "decl_tag on an int": raw_btf(INT_BTF + btf_type(1, DECL_TAG, 0, 1) + b"\xff" * 4, STRS),
    "struct member past its size": raw_btf(
        INT_BTF + btf_type(1, STRUCT, 1, 4) + struct.pack("<III", 1, 1, 64), STRS
    ),
    "union member at 8": raw_btf(
        INT_BTF + btf_type(1, UNION, 1, 4) + struct.pack("<III", 1, 1, 8), STRS
    ),
    "enum of 3 bytes": raw_btf(btf_type(1, ENUM, 1, 3) + struct.pack("<Ii", 1, 0), STRS),
    "float of 3 bytes": raw_btf(btf_type(1, FLOAT, 0, 3), STRS),
}


def outcome(result: int) -> int | str:
    return "fd" if result >= 0 else errno.errorcode.get(-result, str(-result))


def btf_load(
    side: Raw, data: bytes, size: int | None = None, log: tuple[int, int] = (0, 0)
) -> tuple[int, int]:
    """BPF_BTF_LOAD: (fd or -errno, btf_log_true_size after)."""
    blob = side.alloc(data or b"\0")
    level, log_size = log
    log_buf = side.alloc(bytes(log_size)) if log_size else 0
    try:
        attr = struct.pack(
            "<QQIII", blob, log_buf, len(data) if size is None else size, log_size, level
        )
        result, after = call(side, BPF_BTF_LOAD, attr)
        return result, struct.unpack_from("<I", after, 28)[0]
    finally:
        side.free(blob)
        if log_buf:
            side.free(log_buf)


def test_btf_load_validation_agrees(sides: Sides) -> None:
    def script(root: Raw, user: Raw) -> Any:
        out = {}
        for name, data in {**LIBBPF_PROBES, **BAD_BLOBS}.items():
            results = []
            for side in (root, user):
                fd, _ = btf_load(side, data)
                results.append(outcome(fd))
                if fd >= 0:
                    side.close(fd)
            out[name] = tuple(results)
        too_big, _ = btf_load(root, b"\0" * 16, size=17 << 20)
        out["17 MiB"] = (outcome(too_big),)
        fd, true_size = btf_load(root, LIBBPF_PROBES["probe_kern_btf"])
        out["log_true_size without a log"] = (true_size,)
        root.close(fd)
        fd, _ = btf_load(root, LIBBPF_PROBES["probe_kern_btf"], log=(1, 0))
        out["a level without a buffer"] = (outcome(fd),)
        root.close(fd)
        return out

    results = both(sides, script)
    assert all(v == ("fd", "EPERM") for k, v in results.items() if k in LIBBPF_PROBES)


def btf_info(side: Raw, fd: int, info_len: int = 32, **fields: int) -> tuple[int, tuple[int, ...]]:
    """OBJ_GET_INFO_BY_FD of a BTF: (result, (btf, btf_size, id, name, name_len,
    kernel_btf)) with the caller's ``fields`` set first."""
    initial = dict.fromkeys(("btf", "btf_size", "id", "name", "name_len", "kernel_btf"), 0)
    initial.update(fields)
    buf = side.alloc(struct.pack("<QIIQII", *initial.values()).ljust(info_len, b"\0"))
    try:
        result, _ = call(side, BPF_OBJ_GET_INFO_BY_FD, struct.pack("<IIQ", fd, info_len, buf))
        return result, struct.unpack("<QIIQII", side.read(buf, 32))
    finally:
        side.free(buf)


def test_btf_ids_info_and_maps(sides: Sides) -> None:
    """``btf_get_info_by_fd`` (the blob copied back, its size, the id, the empty
    name), BTF_GET_NEXT_ID / BTF_GET_FD_BY_ID (CAP_SYS_ADMIN), a map's ``btf_fd``
    and type ids (``map_check_btf``), the map's info naming the BTF."""

    def script(root: Raw, user: Raw) -> Any:
        data = raw_btf(INT_BTF, STRS)
        fd, _ = btf_load(root, data)
        copy = root.alloc(bytes(len(data)))
        result, info = btf_info(root, fd, btf=copy, btf_size=len(data))
        btf_id = info[2]
        steps: list[Any] = [result, info[1], info[4:], root.read(copy, len(data)) == data]
        steps.append(btf_info(root, fd, 40)[0])
        steps.append(btf_info(root, fd, name_len=8)[0])  # a length without a buffer
        found, after = call(root, BPF_BTF_GET_NEXT_ID, struct.pack("<I", btf_id - 1))
        steps.append((found, struct.unpack_from("<I", after, 4)[0] == btf_id))
        by_id, _ = call(root, BPF_BTF_GET_FD_BY_ID, struct.pack("<I", btf_id))
        steps.append(btf_info(root, by_id)[1][2] == btf_id)
        steps.append(outcome(call(user, BPF_BTF_GET_FD_BY_ID, struct.pack("<I", btf_id))[0]))
        steps.append(outcome(call(user, BPF_BTF_GET_NEXT_ID, struct.pack("<I", 0))[0]))
        steps.append(
            outcome(call(root, BPF_BTF_GET_FD_BY_ID, struct.pack("<III", btf_id, 0, 1))[0])
        )
        root.close(by_id)

        def create(map_type: int, ks: int, vs: int, btf_fd: int, kid: int, vid: int) -> int:
            attr = struct.pack("<6I", map_type, ks, vs, 1, 0, 0) + bytes(24)
            return call(root, BPF_MAP_CREATE, attr + struct.pack("<III", btf_fd, kid, vid))[0]

        maps: list[int] = []
        for case in (
            (BPF_MAP_TYPE_ARRAY, 4, 4, fd, 1, 1),
            (BPF_MAP_TYPE_HASH, 4, 4, fd, 1, 1),
            (BPF_MAP_TYPE_HASH, 8, 4, fd, 1, 1),
            (BPF_MAP_TYPE_HASH, 4, 4, fd, 1, 9),
            (BPF_MAP_TYPE_HASH, 4, 4, fd, 0, 1),
            (BPF_MAP_TYPE_ARRAY, 4, 4, fd, 0, 1),
            (BPF_MAP_TYPE_HASH, 4, 4, 999, 1, 1),
        ):
            map_fd = create(*case)
            steps.append(outcome(map_fd))
            if map_fd >= 0:
                buf = root.alloc(bytes(88))
                call(root, BPF_OBJ_GET_INFO_BY_FD, struct.pack("<IIQ", map_fd, 88, buf))
                ids = struct.unpack_from("<III", root.read(buf, 88), 64)
                steps.append((ids[0] == btf_id, ids[1:]))
                root.free(buf)
                maps.append(map_fd)
        root.close(fd)  # the maps still hold the BTF
        again, _ = call(root, BPF_BTF_GET_FD_BY_ID, struct.pack("<I", btf_id))
        steps.append(outcome(again))
        for map_fd in [again, *maps]:  # (the live kernel puts a map's BTF in a work item,
            root.close(map_fd)  # so when the id goes is not compared)
        root.free(copy)
        return steps

    both(sides, script)
