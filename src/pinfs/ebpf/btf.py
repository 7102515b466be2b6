"""BTF objects (kernel/bpf/btf.c, f56a653c1fd1 and 78958fca7ead, v4.18): BPF_BTF_LOAD,
ids (``btf_idr``), BPF_BTF_GET_FD_BY_ID, BPF_BTF_GET_NEXT_ID (v5.4), the info by fd,
and what a map's ``btf_fd`` / type ids need (``btf_get_by_fd``, ``btf_type_id_size``).

``btf_parse`` is modelled up to the per-kind meta checks: the header
(``btf_parse_hdr``), the sections (``btf_check_sec_info``), the string section
(``btf_parse_str_sec``), the type section's records (``btf_check_all_metas``: size,
``info`` bits, the kinds this kernel knows -- ``Profile.btf_kind_max`` -- the name
offset, and each kind's fixed and per-member size with its simplest checks), then a
light resolve: referenced type ids exist, a FUNC names a FUNC_PROTO, a DECL_TAG's
target is a struct, union, var, func or typedef, INT encodings are sane.  That is what
loaders' feature probes exercise.  Not modelled: the rest of ``btf_check_all_types``
(member offsets against sizes, loops of modifiers, datasec layouts, identifier rules
for every kind), the verifier log's text (nothing is written to ``btf_log_buf``, so
its ENOSPC never happens; ``btf_log_true_size`` reads 0), vmlinux and module BTF
(the live kernel's ids start with them), BPF tokens.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import Any

import attrs

from pinfs.base.cred import CAP_SYS_ADMIN, capable
from pinfs.base.errors import ENOTSUPP, Refusal, kernel_error, refuse
from pinfs.ebpf.attr import BPF_F_TOKEN_FD, BPF_MAP_TYPE_ARRAY
from pinfs.ebpf.context import BpfTask
from pinfs.ebpf.ids import bpf_obj_get_next_id
from pinfs.ebpf.mapcreate import bpf_capable, not_a_btf_or_token
from pinfs.ebpf.objects import anon_inode_getfd
from pinfs.ebpf.prog import verifier_log_attr_valid
from pinfs.ebpf.uarg import bpf_check_uarg_tail_zero
from pinfs.fs.fdtable import check_fd
from pinfs.vfs import File, FileOperations

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
BTF_MAX_SIZE = 16 << 20
BTF_MAX_NAME_OFFSET = 0xFFFFFF
BTF_HEADER_SIZE = 24
BTF_TYPE_SIZE = 12
BTF_INFO_MASK = 0x9F00FFFF
_HEADER = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")

# enum btf_kind
(INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC) = range(1, 13)
FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(13, 20)
KIND_NAMES = [
    "UNKN",
    "INT",
    "PTR",
    "ARRAY",
    "STRUCT",
    "UNION",
    "ENUM",
    "FWD",
    "TYPEDEF",
    "VOLATILE",
    "CONST",
    "RESTRICT",
    "FUNC",
    "FUNC_PROTO",
    "VAR",
    "DATASEC",
    "FLOAT",
    "DECL_TAG",
    "TYPE_TAG",
    "ENUM64",
]
#: Kinds whose ``type`` field names another type (0 is void where allowed).
_REFERENCING = (PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, FUNC, VAR, DECL_TAG)
_MODIFIERS = (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG)
_SIZED = (INT, STRUCT, UNION, ENUM, FLOAT, ENUM64, DATASEC)


@attrs.frozen
class BtfType:
    """One ``struct btf_type`` with what follows it (``extra``)."""

    name_off: int
    info: int
    size_or_type: int
    extra: bytes

    @property
    def kind(self) -> int:
        return (self.info >> 24) & 0x1F

    @property
    def vlen(self) -> int:
        return self.info & 0xFFFF

    @property
    def kflag(self) -> bool:
        return bool(self.info >> 31)


@attrs.define(eq=False, repr=False)
class Btf:
    """``struct btf`` loaded from user space."""

    kernel: Any
    data: bytes
    types: list[BtfType]  # types[0] is void
    refcnt: int = 1
    id: int = 0
    freed: bool = False
    name: bytes = b""

    kind = "btf"

    def put(self) -> None:
        btf_put(self)

    def __repr__(self) -> str:
        state = " FREED" if self.freed else ""
        return f"<btf {self.id} {len(self.types) - 1} types refcnt={self.refcnt}{state}>"


def _einval(check: str, **values: object) -> Exception:
    return kernel_error(errno.EINVAL, None, Refusal("btf_parse", check, dict(values)))


def btf_parse_hdr(data: bytes) -> tuple[int, ...]:
    """``btf_parse_hdr``: the header fields (hdr_len-long, zero past what the kernel
    knows: E2BIG), magic (EINVAL), version and flags (ENOTSUPP), some data (EINVAL),
    then the sections."""
    if len(data) < 8:
        raise _einval("hdr_len not found")
    hdr_len = int.from_bytes(data[4:8], "little")
    if len(data) < hdr_len:
        raise _einval("btf_header not found")
    if hdr_len > BTF_HEADER_SIZE and any(data[BTF_HEADER_SIZE:hdr_len]):
        raise refuse(errno.E2BIG, "btf_parse_hdr", "Unsupported btf_header")
    header = data[: min(hdr_len, BTF_HEADER_SIZE)].ljust(BTF_HEADER_SIZE, b"\0")
    magic, version, flags, _, type_off, type_len, str_off, str_len = _HEADER.unpack(header)
    if magic != BTF_MAGIC:
        raise _einval("Invalid magic")
    if version != BTF_VERSION:
        raise refuse(ENOTSUPP, "btf_parse_hdr", "Unsupported version")
    if flags:
        raise refuse(ENOTSUPP, "btf_parse_hdr", "Unsupported flags")
    if len(data) == hdr_len:
        raise _einval("No data")
    btf_check_sec_info(len(data) - hdr_len, [(type_off, type_len), (str_off, str_len)])
    return hdr_len, type_off, type_len, str_off, str_len


def btf_check_sec_info(expected_total: int, sections: list[tuple[int, int]]) -> None:
    """``btf_check_sec_info``: sorted by offset, the sections tile the data after
    the header exactly: no offset beyond it, no gap, no overlap, no excess."""
    total = 0
    for off, length in sorted(sections, key=lambda s: s[0]):
        if expected_total < off:
            raise _einval("Invalid section offset")
        if total < off:
            raise _einval("Unsupported section found")
        if total > off:
            raise _einval("Section overlap found")
        if expected_total - total < length:
            raise _einval("Total section length too long")
        total += length
    if expected_total != total:
        raise _einval("Unsupported section found")


def btf_parse_str_sec(body: bytes, str_off: int, str_len: int) -> bytes:
    """``btf_parse_str_sec``: the strings end the blob, start with NUL, end with NUL,
    and fit the name offsets."""
    if str_off + str_len != len(body):
        raise _einval("String section is not at the end")
    strings = body[str_off:]
    if not str_len or str_len - 1 > BTF_MAX_NAME_OFFSET or strings[-1]:
        raise _einval("Invalid string section")
    if strings[0]:
        raise _einval("Invalid string section")
    return strings


def _var_meta_size(t: BtfType) -> int:
    """Each kind's ``check_meta`` size after the common ``struct btf_type``."""
    per_member = {STRUCT: 12, UNION: 12, ENUM: 8, FUNC_PROTO: 8, DATASEC: 12, ENUM64: 12}
    fixed = {INT: 4, ARRAY: 12, VAR: 4, DECL_TAG: 4}
    if t.kind in per_member:
        return per_member[t.kind] * t.vlen
    return fixed.get(t.kind, 0)


def _check_kind_meta(t: BtfType, strings: bytes) -> None:
    """The simplest per-kind ``check_meta`` rules: vlen and kflag where they must be
    0, names where they must be absent or present, INT's data (``btf_int_check_meta``),
    FUNC's linkage, FLOAT's size."""
    kind = t.kind
    if kind in (INT, PTR, ARRAY, TYPEDEF, VOLATILE, CONST, RESTRICT, FLOAT, VAR) and t.vlen:
        raise _einval("vlen != 0")
    if t.kflag and kind in (INT, PTR, ARRAY, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO):
        raise _einval("Invalid btf_info kind_flag")
    if t.kflag and kind in (FLOAT, DATASEC, VAR, TYPEDEF):
        raise _einval("Invalid btf_info kind_flag")
    if kind in (PTR, ARRAY, VOLATILE, CONST, RESTRICT, FUNC_PROTO) and t.name_off:
        raise _einval("Invalid name")
    if kind in (TYPEDEF, FUNC, VAR, DATASEC, DECL_TAG, TYPE_TAG) and not strings[t.name_off]:
        raise _einval("Invalid name")
    if kind == INT:
        (data,) = struct.unpack("<I", t.extra)
        bits, offset, encoding = data & 0xFF, (data >> 16) & 0xFF, (data >> 24) & 0xF
        if data & ~0x0FFFFFFF or bits + offset > 128:
            raise _einval("Invalid int_data")
        if -(-(bits + offset) // 8) > t.size_or_type:
            raise _einval("nr_bits exceeds type_size")
        if encoding not in (0, 1, 2, 4):  # SIGNED, CHAR, BOOL
            raise refuse(ENOTSUPP, "btf_int_check_meta", "Unsupported encoding")
    if kind in (STRUCT, UNION):
        _check_members(t, strings)
    if kind in (ENUM, ENUM64) and (
        not t.size_or_type or t.size_or_type > 8 or t.size_or_type & (t.size_or_type - 1)
    ):
        raise _einval("Unexpected size")
    if kind == FUNC and t.vlen > 1:  # BTF_FUNC_STATIC, BTF_FUNC_GLOBAL
        raise _einval("Invalid func linkage")
    if kind == FLOAT and t.size_or_type not in (2, 4, 8, 12, 16):
        raise _einval("Invalid type_size")


def _check_members(t: BtfType, strings: bytes) -> None:
    """``btf_struct_check_meta``'s member loop: name offsets, no void member, a union's
    members at 0, no member starting past the struct's size."""
    for i in range(t.vlen):
        name_off, type_id, offset = struct.unpack_from("<III", t.extra, 12 * i)
        if name_off >= len(strings):
            raise _einval("Invalid member name_offset")
        if not type_id:
            raise _einval("Invalid type_id")
        bit_offset = offset & 0xFFFFFF if t.kflag else offset
        if t.kind == UNION and bit_offset:
            raise _einval("Invalid member bits_offset")
        if -(-bit_offset // 8) > t.size_or_type:
            raise _einval("Member bits_offset exceeds its struct size")


def btf_check_all_metas(section: bytes, strings: bytes, kind_max: int) -> list[BtfType]:
    """``btf_check_all_metas`` + ``btf_check_meta`` for each record."""
    types = [BtfType(0, 0, 0, b"")]
    cur = 0
    while cur < len(section):
        if len(section) - cur < BTF_TYPE_SIZE:
            raise _einval("[{id}] meta_left too small", id=len(types))
        name_off, info, size_or_type = _TYPE.unpack_from(section, cur)
        kind = (info >> 24) & 0x1F
        if info & ~BTF_INFO_MASK:
            raise _einval("[{id}] Invalid btf_info", id=len(types))
        if kind > kind_max or kind == 0:
            raise _einval("[{id}] Invalid kind:{kind}", id=len(types), kind=kind)
        if name_off >= len(strings) or name_off > BTF_MAX_NAME_OFFSET:
            raise _einval("[{id}] Invalid name_offset", id=len(types))
        probe = BtfType(name_off, info, size_or_type, b"")
        extra_size = _var_meta_size(probe)
        start = cur + BTF_TYPE_SIZE
        if len(section) - start < extra_size:
            raise _einval("[{id}] meta_left too small", id=len(types))
        t = attrs.evolve(probe, extra=section[start : start + extra_size])
        _check_kind_meta(t, strings)
        types.append(t)
        cur = start + extra_size
    return types


def _referenced(t: BtfType) -> list[int]:
    """The type ids a record names."""
    if t.kind in _REFERENCING:
        return [t.size_or_type]
    if t.kind == ARRAY:
        elem, index, _ = struct.unpack("<III", t.extra)
        return [elem, index]
    if t.kind in (STRUCT, UNION):
        return [struct.unpack_from("<I", t.extra, 12 * i + 4)[0] for i in range(t.vlen)]
    if t.kind == FUNC_PROTO:
        params = [struct.unpack_from("<I", t.extra, 8 * i + 4)[0] for i in range(t.vlen)]
        return [t.size_or_type, *params]
    if t.kind == DATASEC:
        return [struct.unpack_from("<I", t.extra, 12 * i)[0] for i in range(t.vlen)]
    return []


def btf_check_all_types(types: list[BtfType]) -> None:
    """The part of ``btf_check_all_types`` modelled: ids in range, FUNC -> FUNC_PROTO,
    VAR not void, DECL_TAG targets."""
    for type_id, t in enumerate(types[1:], 1):
        for ref in _referenced(t):
            if ref >= len(types):
                raise _einval("[{id}] Invalid type_id", id=type_id)
        target = types[t.size_or_type] if t.kind in _REFERENCING else None
        if t.kind == FUNC and (target is None or target.kind != FUNC_PROTO):
            raise _einval("[{id}] Invalid type_id", id=type_id)
        if t.kind == VAR and t.size_or_type == 0:
            raise _einval("[{id}] Invalid type_id", id=type_id)
        if t.kind == DECL_TAG and (
            target is None or target.kind not in (STRUCT, UNION, VAR, FUNC, TYPEDEF)
        ):
            raise _einval("[{id}] Invalid decl_tag target", id=type_id)


def btf_parse(task: BpfTask, data: bytes) -> list[BtfType]:
    """``btf_parse`` after the copy: header, strings, types."""
    hdr_len, type_off, type_len, str_off, str_len = btf_parse_hdr(data)
    body = data[hdr_len:]
    strings = btf_parse_str_sec(body, str_off, str_len)
    if type_off % 4:
        raise _einval("Unaligned type_off")
    if not type_len:
        raise _einval("No type found")
    section = body[type_off : type_off + type_len]
    types = btf_check_all_metas(section, strings, task.kernel.profile.btf_kind_max)
    btf_check_all_types(types)
    return types


# ---------------------------------------------------------------------------------------
# The object: refcount, fds, ids


def btf_put(btf: Btf) -> None:
    """``btf_put``: at zero the object leaves ``btf_idr`` and is freed."""
    btf.refcnt -= 1
    if btf.refcnt == 0:
        btf.freed = True
        btf.kernel.btf_idr.remove(btf.id)


def _btf_release(file: File) -> None:
    btf_put(file.private_data)


def _btf_show_fdinfo(file: File) -> str:
    """``bpf_btf_show_fdinfo``: the id."""
    return f"btf_id:\t{file.private_data.id}\n"


btf_fops = FileOperations(name="btf_fops", release=_btf_release, show_fdinfo=_btf_show_fdinfo)


def btf_new_fd(task: BpfTask, btf: Btf) -> int:
    """``__btf_new_fd``: an O_RDONLY anon inode file."""
    return anon_inode_getfd(task, "btf", btf_fops, btf, os.O_RDONLY)  # type: ignore[arg-type]


def btf_get_by_fd(task: BpfTask, ufd: int) -> Btf:
    """``btf_get_by_fd``: EBADF for a closed fd, EINVAL for a file that is no BTF;
    +1 on the object."""
    file = task.files.lookup(check_fd(ufd) & 0xFFFFFFFF)
    if file is None:
        raise kernel_error(errno.EBADF)
    if file.f_op is not btf_fops:
        raise kernel_error(errno.EINVAL)
    btf: Btf = file.private_data
    btf.refcnt += 1
    return btf


def _token_fd(task: BpfTask, flags: int, token_fd: int) -> None:
    if flags & BPF_F_TOKEN_FD:
        not_a_btf_or_token(task, token_fd)


def bpf_btf_load(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_btf_load``: ``btf_flags`` (EINVAL), the token, CAP_BPF (EPERM), then
    ``btf_new_fd``: the size bound (E2BIG), the log attrs (EINVAL), the copy (EFAULT),
    ``btf_parse``, an id, an O_RDONLY fd; ``btf_log_true_size`` is written back."""
    flags = attr.get("btf_flags", 0)
    if flags & ~BPF_F_TOKEN_FD:
        raise kernel_error(errno.EINVAL)
    _token_fd(task, flags, attr.get("btf_token_fd", 0))
    if not bpf_capable(task):
        raise kernel_error(errno.EPERM)
    size = attr["btf_size"]
    if size > BTF_MAX_SIZE:
        raise kernel_error(errno.E2BIG)
    log = (attr["btf_log_level"], attr["btf_log_size"], attr["btf_log_buf"])
    if not verifier_log_attr_valid(task.kernel.profile, *log):
        raise kernel_error(errno.EINVAL)
    data = task.mem.read(attr["btf"], size) if size else b""
    btf = Btf(task.kernel, data, btf_parse(task, data))
    if "btf_log_true_size" in attr and attr["<size>"] >= 32:
        task.mem.write(attr["<uattr>"] + 28, bytes(4))
    btf.id = task.kernel.btf_idr.alloc_cyclic(btf)
    try:
        return btf_new_fd(task, btf)
    except BaseException:
        btf_put(btf)
        raise


def bpf_btf_get_fd_by_id(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_btf_get_fd_by_id``: ``open_flags`` only BPF_F_TOKEN_FD (EINVAL), the
    token, CAP_SYS_ADMIN (EPERM), the object (ENOENT), a new fd."""
    open_flags = attr.get("open_flags", 0)
    if open_flags & ~BPF_F_TOKEN_FD:
        raise kernel_error(errno.EINVAL)
    _token_fd(task, open_flags, attr.get("fd_by_id_token_fd", 0))
    if not capable(task.cred, task.kernel.init_user_ns, CAP_SYS_ADMIN):
        raise kernel_error(errno.EPERM)
    btf: Btf | None = task.kernel.btf_idr.find(attr["start_id"])
    if btf is None or btf.refcnt == 0:
        raise kernel_error(errno.ENOENT)
    btf.refcnt += 1
    try:
        return btf_new_fd(task, btf)
    except BaseException:
        btf_put(btf)
        raise


def btf_get_next_id(task: BpfTask, attr: dict[str, int]) -> int:
    """BPF_BTF_GET_NEXT_ID (1b9ed84ecf26, v5.4): ``bpf_obj_get_next_id`` on ``btf_idr``."""
    return bpf_obj_get_next_id(task, attr, task.kernel.btf_idr)


def btf_get_info_by_fd(task: BpfTask, btf: Btf, attr: dict[str, int]) -> int:
    """``bpf_btf_get_info_by_fd`` + ``btf_get_info_by_fd``: the tail check, the
    caller's struct read, the blob copied into ``btf`` (up to ``btf_size``), the id,
    the real size; a name buffer and its length go together (EINVAL); the name
    (empty for loaded BTF) fits or ENOSPC after the copy-back."""
    size = 32 if task.kernel.profile.btf_info_name else 16  # sizeof(struct bpf_btf_info)
    bpf_check_uarg_tail_zero(task, attr["info"], size, attr["info_len"])
    info_copy = min(size, attr["info_len"])
    info = bytearray(task.mem.read(attr["info"], info_copy).ljust(32, b"\0"))
    ubtf, ubtf_size = struct.unpack_from("<QI", info, 0)
    struct.pack_into("<I", info, 12, btf.id)
    copy = min(len(btf.data), ubtf_size)
    if copy:
        task.mem.write(ubtf, btf.data[:copy])
    struct.pack_into("<I", info, 8, len(btf.data))
    nospc = False
    if size >= 32:
        uname, uname_len = struct.unpack_from("<QI", info, 16)
        if bool(uname) != bool(uname_len):
            raise kernel_error(errno.EINVAL)
        struct.pack_into("<II", info, 24, len(btf.name), 0)  # name_len, kernel_btf
        if uname:
            if uname_len >= len(btf.name) + 1:
                task.mem.write(uname, btf.name + b"\0")
            else:
                task.mem.write(uname, btf.name[: uname_len - 1] + b"\0")
                nospc = True
    task.mem.write(attr["info"], bytes(info[:info_copy]))
    task.mem.write(attr["<uattr>"] + 4, info_copy.to_bytes(4, "little"))
    if nospc:
        raise kernel_error(errno.ENOSPC)
    return 0


# ---------------------------------------------------------------------------------------
# Maps with BTF


def btf_type_id_size(btf: Btf, type_id: int) -> tuple[BtfType, int] | None:
    """``btf_type_id_size``: the type behind modifiers and typedefs, and its size
    (None when it has none: void, FUNC, FWD, ...)."""
    seen = 0
    while 0 < type_id < len(btf.types) and seen < len(btf.types):
        t = btf.types[type_id]
        if t.kind in _MODIFIERS:
            type_id, seen = t.size_or_type, seen + 1
            continue
        if t.kind in _SIZED:
            return t, t.size_or_type
        if t.kind == PTR:
            return t, 8
        if t.kind == ARRAY:
            elem, _, nelems = struct.unpack("<III", t.extra)
            inner = btf_type_id_size(btf, elem)
            return None if inner is None else (t, inner[1] * nelems)
        return None
    return None


def map_check_btf(task: BpfTask, map: Any, btf: Btf, key_id: int, value_id: int) -> None:
    """``map_check_btf`` (the modelled part): the key and value types' sizes equal the
    map's (EINVAL); without a key type only an ARRAY of one DATASEC value may pass
    (``array_map_check_btf``); an ARRAY's key must be a 32-bit INT."""
    key = None
    if key_id:
        key = btf_type_id_size(btf, key_id)
        if key is None or key[1] != map.key_size:
            raise kernel_error(errno.EINVAL)
    elif map.map_type != BPF_MAP_TYPE_ARRAY:
        raise kernel_error(errno.EINVAL)  # no map_check_btf for a keyless BTF
    value = btf_type_id_size(btf, value_id)
    if value is None or value[1] != map.value_size:
        raise kernel_error(errno.EINVAL)
    if map.map_type != BPF_MAP_TYPE_ARRAY:
        return
    if key is None:
        if map.max_entries != 1 or value[0].kind != DATASEC:
            raise kernel_error(errno.EINVAL)
        return
    int_data = struct.unpack("<I", key[0].extra)[0] if key[0].kind == INT else 0
    if key[0].kind != INT or int_data & 0xFF != 32 or (int_data >> 16) & 0xFF:
        raise kernel_error(errno.EINVAL)
