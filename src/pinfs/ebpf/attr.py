"""include/uapi/linux/bpf.h at the seed: constants and ``union bpf_attr`` as data.

The layout is one table (:data:`ATTR_LAYOUT`): for each command, its fields with offset
and size, and the last field ``CHECK_ATTR`` keeps (every byte after it, up to
``sizeof(union bpf_attr)``, must be zero).  :func:`pack_attr` builds the bytes a caller
passes; :func:`read_field` is how the dispatcher reads them.
"""

from __future__ import annotations

import enum
import struct

import attrs


class BpfCmd(enum.IntEnum):
    BPF_MAP_CREATE = 0
    BPF_MAP_LOOKUP_ELEM = 1
    BPF_MAP_UPDATE_ELEM = 2
    BPF_MAP_DELETE_ELEM = 3
    BPF_MAP_GET_NEXT_KEY = 4
    BPF_PROG_LOAD = 5
    BPF_OBJ_PIN = 6
    BPF_OBJ_GET = 7


class BpfMapType(enum.IntEnum):
    BPF_MAP_TYPE_UNSPEC = 0
    BPF_MAP_TYPE_HASH = 1
    BPF_MAP_TYPE_ARRAY = 2
    BPF_MAP_TYPE_PROG_ARRAY = 3
    BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4


class BpfProgType(enum.IntEnum):
    BPF_PROG_TYPE_UNSPEC = 0
    BPF_PROG_TYPE_SOCKET_FILTER = 1
    BPF_PROG_TYPE_KPROBE = 2
    BPF_PROG_TYPE_SCHED_CLS = 3
    BPF_PROG_TYPE_SCHED_ACT = 4


BPF_MAP_CREATE = BpfCmd.BPF_MAP_CREATE
BPF_MAP_LOOKUP_ELEM = BpfCmd.BPF_MAP_LOOKUP_ELEM
BPF_MAP_UPDATE_ELEM = BpfCmd.BPF_MAP_UPDATE_ELEM
BPF_MAP_DELETE_ELEM = BpfCmd.BPF_MAP_DELETE_ELEM
BPF_MAP_GET_NEXT_KEY = BpfCmd.BPF_MAP_GET_NEXT_KEY
BPF_PROG_LOAD = BpfCmd.BPF_PROG_LOAD
BPF_OBJ_PIN = BpfCmd.BPF_OBJ_PIN
BPF_OBJ_GET = BpfCmd.BPF_OBJ_GET

BPF_MAP_TYPE_UNSPEC = BpfMapType.BPF_MAP_TYPE_UNSPEC
BPF_MAP_TYPE_HASH = BpfMapType.BPF_MAP_TYPE_HASH
BPF_MAP_TYPE_ARRAY = BpfMapType.BPF_MAP_TYPE_ARRAY
BPF_MAP_TYPE_PROG_ARRAY = BpfMapType.BPF_MAP_TYPE_PROG_ARRAY
BPF_MAP_TYPE_PERF_EVENT_ARRAY = BpfMapType.BPF_MAP_TYPE_PERF_EVENT_ARRAY

BPF_PROG_TYPE_UNSPEC = BpfProgType.BPF_PROG_TYPE_UNSPEC
BPF_PROG_TYPE_SOCKET_FILTER = BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER
BPF_PROG_TYPE_KPROBE = BpfProgType.BPF_PROG_TYPE_KPROBE
BPF_PROG_TYPE_SCHED_CLS = BpfProgType.BPF_PROG_TYPE_SCHED_CLS
BPF_PROG_TYPE_SCHED_ACT = BpfProgType.BPF_PROG_TYPE_SCHED_ACT

# map_update_elem flags
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2

BPF_PSEUDO_MAP_FD = 1
BPF_MAXINSNS = 4096
BPF_FS_MAGIC = 0xCAFE4A11

#: sizeof(union bpf_attr) at the seed.
SEED_ATTR_SIZE = 48


@attrs.frozen
class Field:
    """One field of ``union bpf_attr`` for one command."""

    name: str
    offset: int
    size: int
    pointer: bool = False  # a user-space address (u64)

    @property
    def end(self) -> int:
        return self.offset + self.size


@attrs.frozen
class CommandLayout:
    """The anonymous struct a command reads, and where CHECK_ATTR's zero tail starts."""

    cmd: BpfCmd
    fields: tuple[Field, ...]
    last_field: str
    # Derived once: name -> field, the first byte that must be zero, and a decoder.
    by_name: dict[str, Field] = attrs.field(init=False, repr=False, eq=False)
    check_from: int = attrs.field(init=False)
    decoder: struct.Struct = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        offsets = [f.offset for f in self.fields]
        if offsets != sorted(offsets):  # decode/encode zip fields with struct order
            raise ValueError(f"{self.cmd!r}: fields must be declared in offset order")
        by_name = {f.name: f for f in self.fields}
        object.__setattr__(self, "by_name", by_name)
        object.__setattr__(self, "check_from", by_name[self.last_field].end)
        object.__setattr__(self, "decoder", _decoder(self.fields))

    def field(self, name: str) -> Field:
        return self.by_name[name]

    def decode(self, attr: bytes) -> dict[str, int]:
        """Every field's value, by name (little-endian, x86_64)."""
        return dict(zip(self.by_name, self.decoder.unpack_from(attr), strict=True))


def _decoder(fields: tuple[Field, ...]) -> struct.Struct:
    fmt, pos = "<", 0
    for f in fields:
        fmt += "x" * (f.offset - pos) + {4: "I", 8: "Q"}[f.size]
        pos = f.end
    return struct.Struct(fmt)


_MAP_CREATE = (
    Field("map_type", 0, 4),
    Field("key_size", 4, 4),
    Field("value_size", 8, 4),
    Field("max_entries", 12, 4),
)
_ELEM = (
    Field("map_fd", 0, 4),
    Field("key", 8, 8, pointer=True),
    Field("value", 16, 8, pointer=True),
    Field("flags", 24, 8),
)
_NEXT_KEY = (
    Field("map_fd", 0, 4),
    Field("key", 8, 8, pointer=True),
    Field("next_key", 16, 8, pointer=True),
)
_PROG_LOAD = (
    Field("prog_type", 0, 4),
    Field("insn_cnt", 4, 4),
    Field("insns", 8, 8, pointer=True),
    Field("license", 16, 8, pointer=True),
    Field("log_level", 24, 4),
    Field("log_size", 28, 4),
    Field("log_buf", 32, 8, pointer=True),
    Field("kern_version", 40, 4),
)
_OBJ = (Field("pathname", 0, 8, pointer=True), Field("bpf_fd", 8, 4))
_OBJ_FLAGS = (*_OBJ, Field("file_flags", 12, 4))
_OBJ_PATH_FD = (*_OBJ_FLAGS, Field("path_fd", 16, 4))

BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_PATH_FD = 1 << 14

#: The seed's layout: command -> fields and LAST_FIELD (syscall.c's ``*_LAST_FIELD``).
ATTR_LAYOUT: dict[BpfCmd, CommandLayout] = {
    BPF_MAP_CREATE: CommandLayout(BPF_MAP_CREATE, _MAP_CREATE, "max_entries"),
    BPF_MAP_LOOKUP_ELEM: CommandLayout(BPF_MAP_LOOKUP_ELEM, _ELEM, "value"),
    BPF_MAP_UPDATE_ELEM: CommandLayout(BPF_MAP_UPDATE_ELEM, _ELEM, "flags"),
    BPF_MAP_DELETE_ELEM: CommandLayout(BPF_MAP_DELETE_ELEM, _ELEM, "key"),
    BPF_MAP_GET_NEXT_KEY: CommandLayout(BPF_MAP_GET_NEXT_KEY, _NEXT_KEY, "next_key"),
    BPF_PROG_LOAD: CommandLayout(BPF_PROG_LOAD, _PROG_LOAD, "kern_version"),
    BPF_OBJ_PIN: CommandLayout(BPF_OBJ_PIN, _OBJ, "bpf_fd"),
    BPF_OBJ_GET: CommandLayout(BPF_OBJ_GET, _OBJ, "bpf_fd"),
}


#: Every field of ``union bpf_attr`` a caller may set, by command: the fields above plus
#: later uapi ones the model does not read (include/uapi/linux/bpf.h).  Raw ``bpf``
#: scenarios lay out their attrs with this table; each kernel's CHECK_ATTR layout is a
#: prefix of it (:data:`ATTR_LAYOUT`, :func:`layouts_for`).
UAPI_FIELDS: dict[int, tuple[Field, ...]] = {
    BPF_MAP_CREATE: (
        *_MAP_CREATE,
        Field("map_flags", 16, 4),
        Field("inner_map_fd", 20, 4),
        Field("numa_node", 24, 4),
        Field("map_name", 28, 16),
    ),
    BPF_MAP_LOOKUP_ELEM: _ELEM,
    BPF_MAP_UPDATE_ELEM: _ELEM,
    BPF_MAP_DELETE_ELEM: _ELEM,
    BPF_MAP_GET_NEXT_KEY: _NEXT_KEY,
    BPF_PROG_LOAD: (*_PROG_LOAD, Field("prog_flags", 44, 4), Field("prog_name", 48, 16)),
    BPF_OBJ_PIN: _OBJ_PATH_FD,
    BPF_OBJ_GET: _OBJ_PATH_FD,
}

#: OBJ_PIN/OBJ_GET as later kernels lay them out: (file_flags?, path_fd?) -> layouts.
_OBJ_LAYOUTS: dict[tuple[bool, bool], tuple[tuple[Field, ...], str]] = {
    (False, False): (_OBJ, "bpf_fd"),
    (True, False): (_OBJ_FLAGS, "file_flags"),
    (True, True): (_OBJ_PATH_FD, "path_fd"),
}


def layouts_for(file_flags: bool, path_fd: bool) -> dict[int, CommandLayout]:
    """The attr layout table of a kernel with (or without) OBJ_* ``file_flags`` and
    ``path_fd``.  Other commands keep the seed's fields: later fields (map_flags,
    BTF ids, prog names, ...) are not modelled, so non-zero bytes there stay EINVAL."""
    fields, last = _OBJ_LAYOUTS[(file_flags, path_fd or False)]
    table: dict[int, CommandLayout] = {int(cmd): layout for cmd, layout in ATTR_LAYOUT.items()}
    for cmd in (BPF_OBJ_PIN, BPF_OBJ_GET):
        table[cmd] = CommandLayout(cmd, fields, last)
    return table


#: :data:`ATTR_LAYOUT` keyed by plain ints, as :func:`pack_attr_in` takes tables.
_SEED_LAYOUTS = layouts_for(file_flags=False, path_fd=False)


def read_field(attr: bytes, field: Field) -> int:
    """A field's value from the (little-endian, x86_64) attr bytes."""
    return int.from_bytes(attr[field.offset : field.end], "little")


def pack_attr(cmd: int, size: int = SEED_ATTR_SIZE, **values: int) -> bytes:
    """The bytes of ``union bpf_attr`` for ``cmd`` with the named fields set.

    >>> pack_attr(BPF_OBJ_GET, pathname=0x10000).hex()[:16]
    '0000010000000000'
    """
    return pack_attr_in(_SEED_LAYOUTS, cmd, size, values)


def pack_attr_in(
    layouts: dict[int, CommandLayout], cmd: int, size: int, values: dict[str, int]
) -> bytes:
    """:func:`pack_attr` against another layout table (e.g. a later kernel's)."""
    layout = layouts[cmd]
    for name, value in values.items():
        f = layout.by_name[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be int, not {type(value).__name__}")
        if not 0 <= value < 1 << (8 * f.size):
            raise ValueError(f"{name}={value} does not fit in {f.size} bytes")
    packed = layout.decoder.pack(*(values.get(name, 0) for name in layout.by_name))
    return packed.ljust(max(size, layout.check_from), b"\0")


def describe_layout() -> str:
    """The layout table as text (for docs and notebooks)."""
    lines = []
    for cmd, layout in ATTR_LAYOUT.items():
        fields = ", ".join(f"{f.name}@{f.offset}:{f.size}" for f in layout.fields)
        lines.append(f"{cmd.name:22} {fields}  | zero from byte {layout.check_from}")
    return "\n".join(lines)
