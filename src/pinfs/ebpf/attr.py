"""include/uapi/linux/bpf.h: constants and ``union bpf_attr`` as data.

The layout is one table: for each command, its fields with offset and size as v6.18
lays them out, each tagged with the profile switch of the release that added it
(:data:`_COMMANDS`).  :func:`layouts_for` picks a kernel's fields and the last one
``CHECK_ATTR`` keeps (every byte after it, up to ``sizeof(union bpf_attr)``, must be
zero); :data:`ATTR_LAYOUT` is the seed's.  :func:`pack_attr` builds the bytes a caller
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
    BPF_PROG_GET_NEXT_ID = 11
    BPF_MAP_GET_NEXT_ID = 12
    BPF_PROG_GET_FD_BY_ID = 13
    BPF_MAP_GET_FD_BY_ID = 14
    BPF_OBJ_GET_INFO_BY_FD = 15
    BPF_RAW_TRACEPOINT_OPEN = 17
    BPF_BTF_LOAD = 18
    BPF_BTF_GET_FD_BY_ID = 19
    BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21
    BPF_MAP_FREEZE = 22
    BPF_BTF_GET_NEXT_ID = 23
    BPF_MAP_LOOKUP_BATCH = 24
    BPF_MAP_LOOKUP_AND_DELETE_BATCH = 25
    BPF_MAP_UPDATE_BATCH = 26
    BPF_MAP_DELETE_BATCH = 27
    BPF_LINK_CREATE = 28
    BPF_LINK_UPDATE = 29
    BPF_LINK_GET_FD_BY_ID = 30
    BPF_LINK_GET_NEXT_ID = 31
    BPF_ITER_CREATE = 33
    BPF_LINK_DETACH = 34


class BpfMapType(enum.IntEnum):
    BPF_MAP_TYPE_UNSPEC = 0
    BPF_MAP_TYPE_HASH = 1
    BPF_MAP_TYPE_ARRAY = 2
    BPF_MAP_TYPE_PROG_ARRAY = 3
    BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4
    BPF_MAP_TYPE_PERCPU_HASH = 5
    BPF_MAP_TYPE_PERCPU_ARRAY = 6
    BPF_MAP_TYPE_LRU_HASH = 9
    BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
    BPF_MAP_TYPE_ARRAY_OF_MAPS = 12
    BPF_MAP_TYPE_HASH_OF_MAPS = 13
    BPF_MAP_TYPE_RINGBUF = 27


class BpfProgType(enum.IntEnum):
    BPF_PROG_TYPE_UNSPEC = 0
    BPF_PROG_TYPE_SOCKET_FILTER = 1
    BPF_PROG_TYPE_KPROBE = 2
    BPF_PROG_TYPE_SCHED_CLS = 3
    BPF_PROG_TYPE_SCHED_ACT = 4
    BPF_PROG_TYPE_XDP = 6
    BPF_PROG_TYPE_RAW_TRACEPOINT = 17
    BPF_PROG_TYPE_TRACING = 26


BPF_MAP_CREATE = BpfCmd.BPF_MAP_CREATE
BPF_MAP_LOOKUP_ELEM = BpfCmd.BPF_MAP_LOOKUP_ELEM
BPF_MAP_UPDATE_ELEM = BpfCmd.BPF_MAP_UPDATE_ELEM
BPF_MAP_DELETE_ELEM = BpfCmd.BPF_MAP_DELETE_ELEM
BPF_MAP_GET_NEXT_KEY = BpfCmd.BPF_MAP_GET_NEXT_KEY
BPF_PROG_LOAD = BpfCmd.BPF_PROG_LOAD
BPF_OBJ_PIN = BpfCmd.BPF_OBJ_PIN
BPF_OBJ_GET = BpfCmd.BPF_OBJ_GET
BPF_PROG_GET_NEXT_ID = BpfCmd.BPF_PROG_GET_NEXT_ID
BPF_MAP_GET_NEXT_ID = BpfCmd.BPF_MAP_GET_NEXT_ID
BPF_PROG_GET_FD_BY_ID = BpfCmd.BPF_PROG_GET_FD_BY_ID
BPF_MAP_GET_FD_BY_ID = BpfCmd.BPF_MAP_GET_FD_BY_ID
BPF_OBJ_GET_INFO_BY_FD = BpfCmd.BPF_OBJ_GET_INFO_BY_FD
BPF_MAP_FREEZE = BpfCmd.BPF_MAP_FREEZE
BPF_MAP_LOOKUP_AND_DELETE_ELEM = BpfCmd.BPF_MAP_LOOKUP_AND_DELETE_ELEM
BPF_BTF_LOAD = BpfCmd.BPF_BTF_LOAD
BPF_BTF_GET_FD_BY_ID = BpfCmd.BPF_BTF_GET_FD_BY_ID
BPF_BTF_GET_NEXT_ID = BpfCmd.BPF_BTF_GET_NEXT_ID
BPF_MAP_LOOKUP_BATCH = BpfCmd.BPF_MAP_LOOKUP_BATCH
BPF_MAP_LOOKUP_AND_DELETE_BATCH = BpfCmd.BPF_MAP_LOOKUP_AND_DELETE_BATCH
BPF_MAP_UPDATE_BATCH = BpfCmd.BPF_MAP_UPDATE_BATCH
BPF_MAP_DELETE_BATCH = BpfCmd.BPF_MAP_DELETE_BATCH
BPF_RAW_TRACEPOINT_OPEN = BpfCmd.BPF_RAW_TRACEPOINT_OPEN
BPF_LINK_CREATE = BpfCmd.BPF_LINK_CREATE
BPF_LINK_UPDATE = BpfCmd.BPF_LINK_UPDATE
BPF_LINK_GET_FD_BY_ID = BpfCmd.BPF_LINK_GET_FD_BY_ID
BPF_LINK_GET_NEXT_ID = BpfCmd.BPF_LINK_GET_NEXT_ID
BPF_ITER_CREATE = BpfCmd.BPF_ITER_CREATE
BPF_LINK_DETACH = BpfCmd.BPF_LINK_DETACH

BPF_MAP_TYPE_UNSPEC = BpfMapType.BPF_MAP_TYPE_UNSPEC
BPF_MAP_TYPE_HASH = BpfMapType.BPF_MAP_TYPE_HASH
BPF_MAP_TYPE_ARRAY = BpfMapType.BPF_MAP_TYPE_ARRAY
BPF_MAP_TYPE_PROG_ARRAY = BpfMapType.BPF_MAP_TYPE_PROG_ARRAY
BPF_MAP_TYPE_PERF_EVENT_ARRAY = BpfMapType.BPF_MAP_TYPE_PERF_EVENT_ARRAY
BPF_MAP_TYPE_PERCPU_HASH = BpfMapType.BPF_MAP_TYPE_PERCPU_HASH
BPF_MAP_TYPE_PERCPU_ARRAY = BpfMapType.BPF_MAP_TYPE_PERCPU_ARRAY
BPF_MAP_TYPE_LRU_HASH = BpfMapType.BPF_MAP_TYPE_LRU_HASH
BPF_MAP_TYPE_LRU_PERCPU_HASH = BpfMapType.BPF_MAP_TYPE_LRU_PERCPU_HASH
BPF_MAP_TYPE_ARRAY_OF_MAPS = BpfMapType.BPF_MAP_TYPE_ARRAY_OF_MAPS
BPF_MAP_TYPE_HASH_OF_MAPS = BpfMapType.BPF_MAP_TYPE_HASH_OF_MAPS
BPF_MAP_TYPE_RINGBUF = BpfMapType.BPF_MAP_TYPE_RINGBUF

BPF_PROG_TYPE_UNSPEC = BpfProgType.BPF_PROG_TYPE_UNSPEC
BPF_PROG_TYPE_SOCKET_FILTER = BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER
BPF_PROG_TYPE_KPROBE = BpfProgType.BPF_PROG_TYPE_KPROBE
BPF_PROG_TYPE_SCHED_CLS = BpfProgType.BPF_PROG_TYPE_SCHED_CLS
BPF_PROG_TYPE_SCHED_ACT = BpfProgType.BPF_PROG_TYPE_SCHED_ACT
BPF_PROG_TYPE_XDP = BpfProgType.BPF_PROG_TYPE_XDP
BPF_PROG_TYPE_RAW_TRACEPOINT = BpfProgType.BPF_PROG_TYPE_RAW_TRACEPOINT
BPF_PROG_TYPE_TRACING = BpfProgType.BPF_PROG_TYPE_TRACING

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
    since: str | None = None  # the profile switch of the release that added it

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
        """Every field's value, by name (little-endian, x86_64; a name's 16 bytes as
        one little-endian integer, see :func:`name_bytes`)."""
        values = self.decoder.unpack_from(attr)
        return {
            name: int.from_bytes(v, "little") if isinstance(v, bytes) else v
            for name, v in zip(self.by_name, values, strict=True)
        }


def _decoder(fields: tuple[Field, ...]) -> struct.Struct:
    fmt, pos = "<", 0
    for f in fields:
        fmt += "x" * (f.offset - pos) + {4: "I", 8: "Q", 16: "16s", 32: "32s"}[f.size]
        pos = f.end
    return struct.Struct(fmt)


BPF_OBJ_NAME_LEN = 16


def name_bytes(value: int) -> bytes:
    """The ``char name[BPF_OBJ_NAME_LEN]`` bytes of a decoded name field."""
    return value.to_bytes(BPF_OBJ_NAME_LEN, "little")


_MAP_CREATE = (
    Field("map_type", 0, 4),
    Field("key_size", 4, 4),
    Field("value_size", 8, 4),
    Field("max_entries", 12, 4),
    Field("map_flags", 16, 4, since="map_create_map_flags"),
    Field("inner_map_fd", 20, 4, since="map_create_inner_map_fd"),
    Field("numa_node", 24, 4, since="map_create_numa_node"),
    Field("map_name", 28, 16, since="map_create_map_name"),
    Field("map_ifindex", 44, 4, since="map_create_map_ifindex"),
    Field("btf_fd", 48, 4, since="map_create_btf"),
    Field("btf_key_type_id", 52, 4, since="map_create_btf"),
    Field("btf_value_type_id", 56, 4, since="map_create_btf"),
    Field("btf_vmlinux_value_type_id", 60, 4, since="map_create_btf_vmlinux_value_type_id"),
    Field("map_extra", 64, 8, since="map_create_map_extra"),
    Field("value_type_btf_obj_fd", 72, 4, since="map_create_value_type_btf_obj_fd"),
    Field("map_token_fd", 76, 4, since="map_create_map_token_fd"),
    Field("excl_prog_hash", 80, 8, pointer=True, since="map_create_excl_prog_hash"),
    Field("excl_prog_hash_size", 88, 4, since="map_create_excl_prog_hash"),
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
    Field("prog_flags", 44, 4, since="prog_load_prog_flags"),
    Field("prog_name", 48, 16, since="prog_load_prog_name"),
    Field("prog_ifindex", 64, 4, since="prog_load_prog_ifindex"),
    Field("expected_attach_type", 68, 4, since="prog_load_expected_attach_type"),
    Field("prog_btf_fd", 72, 4, since="prog_load_func_info"),
    Field("func_info_rec_size", 76, 4, since="prog_load_func_info"),
    Field("func_info", 80, 8, pointer=True, since="prog_load_func_info"),
    Field("func_info_cnt", 88, 4, since="prog_load_func_info"),
    Field("line_info_rec_size", 92, 4, since="prog_load_line_info"),
    Field("line_info", 96, 8, pointer=True, since="prog_load_line_info"),
    Field("line_info_cnt", 104, 4, since="prog_load_line_info"),
    Field("attach_btf_id", 108, 4, since="prog_load_attach_btf_id"),
    Field("attach_prog_fd", 112, 4, since="prog_load_attach_prog_fd"),
    Field("core_relo_cnt", 116, 4, since="prog_load_core_relos"),
    Field("fd_array", 120, 8, pointer=True, since="prog_load_fd_array"),
    Field("core_relos", 128, 8, pointer=True, since="prog_load_core_relos"),
    Field("core_relo_rec_size", 136, 4, since="prog_load_core_relos"),
    Field("log_true_size", 140, 4, since="prog_load_log_true_size"),
    Field("prog_token_fd", 144, 4, since="prog_load_prog_token_fd"),
    Field("fd_array_cnt", 148, 4, since="prog_load_fd_array_cnt"),
    Field("signature", 152, 8, pointer=True, since="prog_load_signature"),
    Field("signature_size", 160, 4, since="prog_load_signature"),
    Field("keyring_id", 164, 4, since="prog_load_signature"),
)
_OBJ = (
    Field("pathname", 0, 8, pointer=True),
    Field("bpf_fd", 8, 4),
    Field("file_flags", 12, 4, since="obj_get_file_flags"),
    Field("path_fd", 16, 4, since="path_fd"),
)
_GET_ID = (
    Field("start_id", 0, 4),  # a union: start_id / prog_id / map_id
    Field("next_id", 4, 4),
    Field("open_flags", 8, 4, since="map_get_fd_by_id_open_flags"),
)
_BTF_LOAD = (
    Field("btf", 0, 8, pointer=True),
    Field("btf_log_buf", 8, 8, pointer=True),
    Field("btf_size", 16, 4),
    Field("btf_log_size", 20, 4),
    Field("btf_log_level", 24, 4),
    Field("btf_log_true_size", 28, 4, since="btf_load_log_true_size"),
    Field("btf_flags", 32, 4, since="btf_load_token"),
    Field("btf_token_fd", 36, 4, since="btf_load_token"),
)
_BTF_GET_ID = (
    Field("start_id", 0, 4),  # btf_id / start_id
    Field("next_id", 4, 4),
    Field("open_flags", 8, 4, since="btf_load_token"),
    Field("fd_by_id_token_fd", 12, 4, since="btf_load_token"),
)
_BATCH = (
    Field("in_batch", 0, 8, pointer=True),
    Field("out_batch", 8, 8, pointer=True),
    Field("keys", 16, 8, pointer=True),
    Field("values", 24, 8, pointer=True),
    Field("count", 32, 4),
    Field("map_fd", 36, 4),
    Field("elem_flags", 40, 8),
    Field("flags", 48, 8),
)
_INFO = (
    Field("bpf_fd", 0, 4),
    Field("info_len", 4, 4),
    Field("info", 8, 8, pointer=True),
)

# bpf links (v4.17 raw tracepoints, v5.7 links; see pinfs.ebpf.link)
_RAW_TRACEPOINT = (
    Field("name", 0, 8, pointer=True),
    Field("prog_fd", 8, 4),
    Field("cookie", 16, 8, since="raw_tp_cookie"),
)
_LINK_CREATE = (
    Field("prog_fd", 0, 4),
    Field("target_fd", 4, 4),  # a union: target_fd / target_ifindex
    Field("attach_type", 8, 4),
    Field("flags", 12, 4),
    Field("iter_info", 16, 8, pointer=True, since="bpf_iter"),  # also tcx.relative_fd
    Field("iter_info_len", 24, 4, since="bpf_iter"),  # also tcx.expected_revision
    Field("link_create_tail", 28, 32, since="link_create_multi"),  # kprobe/uprobe_multi
)
_LINK_UPDATE = (
    Field("link_fd", 0, 4),
    Field("new_prog_fd", 4, 4),
    Field("flags", 8, 4),
    Field("old_prog_fd", 12, 4),
)
_LINK_FD = (
    Field("link_fd", 0, 4),
    Field("flags", 4, 4),
)

BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_PATH_FD = 1 << 14
# map_flags (include/uapi/linux/bpf.h)
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_MMAPABLE = 1 << 10
BPF_F_PRESERVE_ELEMS = 1 << 11
BPF_F_INNER_MAP = 1 << 12
BPF_F_TOKEN_FD = 1 << 16

BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG

#: A command: its fields, and the candidates for LAST_FIELD as (switch, field), the
#: last candidate whose switch is on (None: always) winning.  MAP_CREATE and PROG_LOAD
#: end at their last field present; the element commands name theirs.
_LastField = tuple[tuple[str | None, str], ...]
_COMMANDS: dict[BpfCmd, tuple[tuple[Field, ...], _LastField | None, str | None]] = {
    BPF_MAP_CREATE: (_MAP_CREATE, None, None),
    BPF_MAP_LOOKUP_ELEM: (_ELEM, ((None, "value"), ("map_lookup_elem_flags", "flags")), None),
    BPF_MAP_UPDATE_ELEM: (_ELEM, ((None, "flags"),), None),
    BPF_MAP_DELETE_ELEM: (_ELEM, ((None, "key"),), None),
    BPF_MAP_GET_NEXT_KEY: (_NEXT_KEY, ((None, "next_key"),), None),
    BPF_PROG_LOAD: (_PROG_LOAD, None, None),
    BPF_OBJ_PIN: (_OBJ, None, None),
    BPF_OBJ_GET: (_OBJ, None, None),
    BPF_PROG_GET_NEXT_ID: (_GET_ID, ((None, "next_id"),), "object_ids"),
    BPF_MAP_GET_NEXT_ID: (_GET_ID, ((None, "next_id"),), "object_ids"),
    BPF_PROG_GET_FD_BY_ID: (_GET_ID, ((None, "start_id"),), "object_ids"),
    BPF_MAP_GET_FD_BY_ID: (_GET_ID, None, "object_ids"),
    BPF_OBJ_GET_INFO_BY_FD: (_INFO, ((None, "info"),), "object_ids"),
    BPF_MAP_FREEZE: (_ELEM, ((None, "map_fd"),), "map_freeze"),
    BPF_BTF_LOAD: (_BTF_LOAD, None, "btf_load"),
    BPF_BTF_GET_FD_BY_ID: (
        _BTF_GET_ID,
        ((None, "start_id"), ("btf_load_token", "fd_by_id_token_fd")),
        "btf_load",
    ),
    BPF_BTF_GET_NEXT_ID: (_BTF_GET_ID, ((None, "next_id"),), "btf_get_next_id"),
    BPF_MAP_LOOKUP_BATCH: (_BATCH, None, "map_batch_ops"),
    BPF_MAP_LOOKUP_AND_DELETE_BATCH: (_BATCH, None, "map_batch_ops"),
    BPF_MAP_UPDATE_BATCH: (_BATCH, None, "map_batch_ops"),
    BPF_MAP_DELETE_BATCH: (_BATCH, None, "map_batch_ops"),
    BPF_MAP_LOOKUP_AND_DELETE_ELEM: (
        _ELEM,
        ((None, "value"), ("htab_lookup_and_delete", "flags")),
        "map_lookup_and_delete_elem",
    ),
    BPF_RAW_TRACEPOINT_OPEN: (_RAW_TRACEPOINT, None, "raw_tracepoints"),
    BPF_LINK_CREATE: (_LINK_CREATE, None, "bpf_links"),
    BPF_LINK_UPDATE: (_LINK_UPDATE, None, "bpf_links"),
    BPF_LINK_GET_FD_BY_ID: (_GET_ID, ((None, "start_id"),), "link_ids"),
    BPF_LINK_GET_NEXT_ID: (_GET_ID, ((None, "next_id"),), "link_ids"),
    BPF_ITER_CREATE: (_LINK_FD, None, "bpf_iter"),
    BPF_LINK_DETACH: (_LINK_FD, ((None, "link_fd"),), "link_detach"),
}


def _layout(cmd: BpfCmd, switches: object) -> CommandLayout:
    fields, last_rule, _ = _COMMANDS[cmd]
    present = tuple(f for f in fields if f.since is None or getattr(switches, f.since))
    if last_rule is None:
        last = present[-1].name
    else:
        last = [name for switch, name in last_rule if switch is None or getattr(switches, switch)][
            -1
        ]
    return CommandLayout(cmd, present, last)


class _Seed:
    """Every switch off: the seed's layouts."""

    def __getattr__(self, name: str) -> bool:
        return False


#: The seed's layout: command -> fields and LAST_FIELD (syscall.c's ``*_LAST_FIELD``).
ATTR_LAYOUT: dict[BpfCmd, CommandLayout] = {
    cmd: _layout(cmd, _Seed()) for cmd, (_, _, since) in _COMMANDS.items() if since is None
}


class _Everything:
    """Every switch on: v6.18's layouts (what the typed helpers write)."""

    def __getattr__(self, name: str) -> bool:
        return True


def layouts_for(profile: object) -> dict[int, CommandLayout]:
    """The attr layout table of the kernel ``profile`` describes (a
    :class:`~pinfs.base.profiles.Profile`; ``None`` means every field v6.18 has).
    Commands the kernel lacks are absent (EINVAL)."""
    switches = _Everything() if profile is None else profile
    return {
        int(cmd): _layout(cmd, switches)
        for cmd, (_, _, since) in _COMMANDS.items()
        if since is None or getattr(switches, since)
    }


#: :data:`ATTR_LAYOUT` keyed by plain ints, as :func:`pack_attr_in` takes tables.
_SEED_LAYOUTS: dict[int, CommandLayout] = {int(cmd): layout for cmd, layout in ATTR_LAYOUT.items()}


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
    packed = layout.decoder.pack(
        *(
            values.get(name, 0).to_bytes(f.size, "little") if f.size >= 16 else values.get(name, 0)
            for name, f in layout.by_name.items()
        )
    )
    return packed.ljust(max(size, layout.check_from), b"\0")


def describe_layout() -> str:
    """The layout table as text (for docs and notebooks)."""
    lines = []
    for cmd, layout in ATTR_LAYOUT.items():
        fields = ", ".join(f"{f.name}@{f.offset}:{f.size}" for f in layout.fields)
        lines.append(f"{cmd.name:22} {fields}  | zero from byte {layout.check_from}")
    return "\n".join(lines)


#: Every field of ``union bpf_attr`` a caller may set, by command, as v6.18 lays them
#: out: raw ``bpf`` scenarios lay out their attrs with this table; each kernel's
#: CHECK_ATTR layout is a prefix of it (:func:`layouts_for`).
UAPI_FIELDS: dict[int, tuple[Field, ...]] = {
    cmd: layout.fields for cmd, layout in layouts_for(None).items()
}
