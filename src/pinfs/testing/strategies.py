"""Hypothesis strategies for pinfs: credentials, modes, names and paths, map and
program specs, raw ``union bpf_attr`` bytes, and whole operation scripts.

Every public function returns a strategy; the values it draws are plain Python (ints,
strs, bytes) or small named tuples whose ``repr`` is valid Python, so a failing
example can be pasted back (``from pinfs.testing import *`` brings the names in)::

    from hypothesis import given
    from pinfs.testing import strategies as pst

    @given(spec=pst.map_specs(valid=True))
    def test_create(kernel, spec):
        fd = kernel.init_task.map_create(*spec)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    from pinfs.testing._deps import MISSING

    raise ImportError(MISSING) from exc

from pinfs.base import cred as _cred
from pinfs.base.uapi import O_PATH, PAGE_SIZE
from pinfs.base.usermem import TASK_SIZE_MAX
from pinfs.ebpf.attr import (
    ATTR_LAYOUT,
    BPF_ANY,
    BPF_EXIST,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAXINSNS,
    BPF_NOEXIST,
    SEED_ATTR_SIZE,
    BpfCmd,
    Field,
    pack_attr,
)
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER
from pinfs.mountns import MNT_DETACH
from pinfs.testing.runner import ARENA, BPFFS, CHDIR_PATHS, DIRS, MOUNTPOINTS, PIN_PATHS
from pinfs.vfs import MS_RDONLY

__all__ = [
    "BpfCall",
    "Creds",
    "MapSpec",
    "ProgSpec",
    "arena_bpf_calls",
    "bad_pointers",
    "bpf_attrs",
    "bpf_calls",
    "bpffs_path",
    "bpffs_paths",
    "capabilities",
    "credentials",
    "gids",
    "insns",
    "invalid_map_specs",
    "licenses",
    "malformed_bpf_attrs",
    "map_specs",
    "modes",
    "names",
    "outside_paths",
    "patched_attr",
    "paths",
    "prog_specs",
    "prog_types",
    "scripts",
    "uids",
    "umasks",
    "valid_map_specs",
]

# ---------------------------------------------------------------------------------------
# Values


class Creds(NamedTuple):
    """Credentials for ``kernel.spawn(**creds._asdict())``; ``caps`` None means the
    default (every capability for uid 0, none otherwise)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    caps: tuple[int, ...] | None = None


class MapSpec(NamedTuple):
    """BPF_MAP_CREATE's arguments: ``task.map_create(*spec)``."""

    map_type: int
    key_size: int
    value_size: int
    max_entries: int


class ProgSpec(NamedTuple):
    """BPF_PROG_LOAD's arguments: ``task.prog_load(*spec)``."""

    prog_type: int
    insns: bytes
    license: str = "GPL"


class BpfCall(NamedTuple):
    """A raw bpf(2): ``driver.bpf(pid, *call)`` copies ``attr`` into user memory and
    passes ``size`` (None: ``len(attr)``; it may also be shorter or past the end)."""

    cmd: int
    attr: bytes
    size: int | None = None


# ---------------------------------------------------------------------------------------
# Credentials, modes


_COMMON_IDS = (0, 1000, 1001, 65534)


def uids() -> st.SearchStrategy[int]:
    """User ids: the usual suspects (0, 1000, 1001, nobody) and any valid uid_t."""
    return st.one_of(st.sampled_from(_COMMON_IDS), st.integers(0, 0xFFFFFFFE))


def gids() -> st.SearchStrategy[int]:
    """Group ids, like :func:`uids`."""
    return uids()


def _modelled_caps() -> list[int]:
    """The capability numbers pinfs names as ``CAP_*`` constants (it checks only those)."""
    return [cap for cap, name in enumerate(_cred.CAP_NAMES) if hasattr(_cred, name)]


def capabilities(last_cap: int = 37) -> st.SearchStrategy[int]:
    """Capability numbers up to ``last_cap`` (37, CAP_AUDIT_READ, at the seed; later
    profiles' ``cap_last_cap`` adds CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE)."""
    return st.sampled_from([cap for cap in _modelled_caps() if cap <= last_cap])


def credentials(
    uid: st.SearchStrategy[int] | None = None, caps: bool = True, last_cap: int = 37
) -> st.SearchStrategy[Creds]:
    """Credentials a launcher would set: uid, gid, supplementary groups and (with
    ``caps``) sometimes an explicit capability set (see :func:`capabilities`)."""
    cap_sets: st.SearchStrategy[tuple[int, ...] | None] = st.none()
    if caps:
        cap_sets = st.one_of(st.none(), st.lists(capabilities(last_cap), unique=True).map(tuple))
    return st.builds(
        Creds,
        uid=uid if uid is not None else uids(),
        gid=gids(),
        groups=st.lists(gids(), max_size=3).map(tuple),
        caps=cap_sets,
    )


class Mode(int):
    """An ``int`` that shows itself in octal (``0o755``), so falsifying examples read
    as a person writes modes and umasks."""

    def __repr__(self) -> str:
        return f"0o{int(self):03o}"


def modes() -> st.SearchStrategy[int]:
    """Permission bits (with setuid/setgid/sticky), common ones most often."""
    common = (0o755, 0o700, 0o777, 0o1777, 0o600, 0o644, 0o000, 0o2755, 0o311)
    return st.one_of(st.sampled_from(common), st.integers(0, 0o7777)).map(Mode)


def umasks() -> st.SearchStrategy[int]:
    """umask(2) values."""
    common = (0o022, 0o077, 0o002, 0o000, 0o777)
    return st.one_of(st.sampled_from(common), st.integers(0, 0o777)).map(Mode)


# ---------------------------------------------------------------------------------------
# Names and paths

_PLAIN = "abcdefghijklmnopqrstuvwxyz0123456789_-"


def _plain_names() -> st.SearchStrategy[str]:
    return st.text(_PLAIN, min_size=1, max_size=12)


def _dotted_names() -> st.SearchStrategy[str]:
    fixed = st.sampled_from((".", "..", "...", ".a", "a.", "a.b", ".hidden"))
    return st.one_of(fixed, st.tuples(_plain_names(), _plain_names()).map(".".join))


def _long_names() -> st.SearchStrategy[str]:
    """Over NAME_MAX (255 bytes): long ASCII, or 128 two-byte characters (short in
    characters, too long in bytes)."""
    return st.one_of(
        st.integers(256, 300).map(lambda n: "a" * n),
        st.integers(128, 140).map(lambda n: "\u00e9" * n),
        st.just("a" * 255),  # the longest valid name
    )


def _non_ascii_names(dots: bool = True) -> st.SearchStrategy[str]:
    # With dots=False no name may hold a '.' (bpffs refuses those): names(dotted=False).
    alphabet = st.characters(codec="utf-8", exclude_characters="/\0" if dots else "/\0.")
    return st.text(alphabet, min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))


def names(
    *, dotted: bool = True, long: bool = True, non_ascii: bool = True
) -> st.SearchStrategy[str]:
    """One path component (no "/" or NUL): plain names, and optionally dotted ones
    ("." , "..", "a.b": bpffs reserves any name with a dot), names over 255 bytes,
    and non-ASCII names."""
    kinds = [_plain_names()]
    if dotted:
        kinds.append(_dotted_names())
    if long:
        kinds.append(_long_names())
    if non_ascii:
        kinds.append(_non_ascii_names(dots=dotted))
    return st.one_of(kinds)


def bpffs_path(mount: str, parts: Sequence[str], doubled: int = 0, trailing: bool = False) -> str:
    """``mount/part/part...``, with the first ``doubled`` slashes after the mount
    point doubled and optionally a trailing slash (what :func:`bpffs_paths` draws)."""
    rest = "/".join(parts)
    if doubled:
        rest = rest.replace("/", "//", doubled - 1)
    return mount.rstrip("/") + "/" * min(doubled, 1) + "/" + rest + ("/" if trailing else "")


def bpffs_paths(
    mount: str = BPFFS, components: st.SearchStrategy[str] | None = None, max_depth: int = 3
) -> st.SearchStrategy[str]:
    """Absolute paths below the bpffs mounted at ``mount``, sometimes with doubled
    slashes or a trailing slash."""
    parts = st.lists(
        components if components is not None else names(), min_size=1, max_size=max_depth
    )
    return st.builds(
        bpffs_path,
        st.just(mount),
        parts,
        st.sampled_from((0, 0, 0, 1, 2)),
        st.sampled_from((False, False, False, True)),
    )


def outside_paths(mount: str = BPFFS) -> st.SearchStrategy[str]:
    """Paths not below ``mount``: the root fs, ``/tmp``, the mount point's parent, a
    sibling sharing its prefix, relative names."""
    parent = mount.rstrip("/").rsplit("/", 1)[0] or "/"
    fixed = st.sampled_from(("/", "/tmp", "/tmp/x", parent, mount.rstrip("/") + "x", "."))
    return st.one_of(
        fixed,
        _plain_names().map(lambda n: "/tmp/" + n),
        names(long=False),  # relative to the cwd
    )


def paths(mount: str = BPFFS) -> st.SearchStrategy[str]:
    """Any path a caller might pass: inside bpffs, outside it, the mount point
    itself, the empty path and paths over PATH_MAX."""
    return st.one_of(
        bpffs_paths(mount),
        outside_paths(mount),
        st.sampled_from((mount, mount + "/", "")),
        st.integers(4096, 4200).map(lambda n: "/" + "a/" * (n // 2)),
    )


# ---------------------------------------------------------------------------------------
# Maps and programs

_FD_ARRAYS = (BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY)


def valid_map_specs(
    map_types: Sequence[int] = (1, 2, 3, 4), max_entries: int = 8
) -> st.SearchStrategy[MapSpec]:
    """Specs every seed kernel accepts (small enough for the default RLIMIT_MEMLOCK)."""
    small = st.integers(1, max_entries)

    def for_type(map_type: int) -> st.SearchStrategy[MapSpec]:
        if map_type == BPF_MAP_TYPE_HASH:
            sizes = st.sampled_from((4, 8, 1, 16, 64))
            return st.builds(MapSpec, st.just(map_type), sizes, sizes, small)
        if map_type == BPF_MAP_TYPE_ARRAY:
            return st.builds(
                MapSpec, st.just(map_type), st.just(4), st.sampled_from((4, 8, 1, 64)), small
            )
        return st.builds(MapSpec, st.just(map_type), st.just(4), st.just(4), small)

    return st.one_of([for_type(t) for t in map_types])


def invalid_map_specs() -> st.SearchStrategy[MapSpec]:
    """Specs the seed rejects at create (S9-S16): unknown types, zero sizes, a hash key
    over 512 bytes, an array key that is not 4 bytes, an fd array value not 4 bytes."""
    u32 = st.integers(0, 0xFFFFFFFF)
    return st.one_of(
        st.builds(MapSpec, st.sampled_from((0, 5, 6, 0xFFFFFFFF)), u32, u32, u32),
        st.builds(
            MapSpec, st.just(BPF_MAP_TYPE_HASH), st.just(0), st.integers(1, 8), st.integers(1, 8)
        ),
        st.builds(
            MapSpec, st.just(BPF_MAP_TYPE_HASH), st.integers(1, 8), st.integers(1, 8), st.just(0)
        ),
        st.builds(
            MapSpec, st.just(BPF_MAP_TYPE_HASH), st.integers(513, 4096), st.just(4), st.just(1)
        ),
        st.builds(
            MapSpec, st.just(BPF_MAP_TYPE_ARRAY), st.sampled_from((0, 1, 8)), st.just(4), st.just(1)
        ),
        st.builds(
            MapSpec, st.sampled_from(_FD_ARRAYS), st.just(4), st.sampled_from((0, 8)), st.just(1)
        ),
        st.builds(MapSpec, st.sampled_from((1, 2, 3, 4)), st.just(4), st.just(4), st.just(0)),
    )


def map_specs(valid: bool | None = None) -> st.SearchStrategy[MapSpec]:
    """Map specs: valid ones (``valid=True``), invalid ones (False) or both (None,
    mostly valid)."""
    if valid is True:
        return valid_map_specs()
    if valid is False:
        return invalid_map_specs()
    return st.one_of(valid_map_specs(), valid_map_specs(), valid_map_specs(), invalid_map_specs())


def prog_types(valid: bool = True) -> st.SearchStrategy[int]:
    """Program types: the seed's four (socket filter, kprobe, sched_cls, sched_act),
    and with ``valid=False`` also unknown ones."""
    known = st.sampled_from((1, 1, 3, 4, 2))
    return known if valid else st.one_of(known, st.sampled_from((0, 5, 0xFFFFFFFF)))


def licenses() -> st.SearchStrategy[str]:
    """License strings, GPL-compatible or not."""
    return st.sampled_from(("GPL", "GPL v2", "Dual BSD/GPL", "MIT", "Proprietary", ""))


def insns(
    map_fds: st.SearchStrategy[int] | None = None, max_maps: int = 2
) -> st.SearchStrategy[bytes]:
    """Instructions ending in ``r0 = 0; exit``, after up to ``max_maps`` BPF_LD_MAP_FD
    loads of fds drawn from ``map_fds`` (none if it is None)."""
    if map_fds is None:
        return st.just(RETURN_ZERO)
    loads = st.lists(map_fds.map(lambda fd: BPF_LD_MAP_FD(1, fd)), max_size=max_maps)
    return loads.map(lambda ls: b"".join(ls) + RETURN_ZERO)


def prog_specs(
    map_fds: st.SearchStrategy[int] | None = None, valid: bool = True
) -> st.SearchStrategy[ProgSpec]:
    """Program specs: type, instructions (see :func:`insns`) and license.  With
    ``valid=False`` also unknown types, empty and odd-sized instruction strings."""
    code = insns(map_fds)
    if not valid:
        code = st.one_of(code, st.binary(max_size=64), st.just(b""))
    return st.builds(ProgSpec, prog_types(valid), code, licenses())


# ---------------------------------------------------------------------------------------
# Raw bpf(2)

#: Addresses that are never valid user buffers.
_BAD_POINTERS = (
    0,  # NULL
    1,
    PAGE_SIZE,  # below the first mapping
    TASK_SIZE_MAX - 1,
    TASK_SIZE_MAX,  # access_ok fails from here
    0xFFFF_8800_0000_0000,  # a kernel address
    0xFFFF_FFFF_FFFF_FFFF,
    0x7000_0000_0000,  # unmapped user space
)


def bad_pointers() -> st.SearchStrategy[int]:
    """u64 pointers no task has mapped (NULL, kernel addresses, unmapped user space)
    and arbitrary u64s."""
    return st.one_of(st.sampled_from(_BAD_POINTERS), st.integers(0, (1 << 64) - 1))


def _u(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, (1 << bits) - 1)


#: Interesting values per field name (anything else: any value of the field's width).
_FIELD_VALUES: dict[str, st.SearchStrategy[int]] = {
    "map_type": st.sampled_from((1, 2, 3, 4, 0, 5)),
    "key_size": st.sampled_from((4, 8, 1, 0, 512, 513, 0xFFFFFFFF)),
    "value_size": st.sampled_from((4, 8, 1, 0, 0xFFFFFFFF)),
    "max_entries": st.sampled_from((1, 4, 0, (1 << 28) + 1, 0xFFFFFFFF)),
    "map_fd": st.integers(0, 11),  # 0-2: the console; objects from 3
    "bpf_fd": st.integers(0, 11),
    "flags": st.sampled_from((BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3, 1 << 63)),
    "prog_type": st.sampled_from((1, 3, 4, 2, 0, 5)),
    "insn_cnt": st.sampled_from((2, 4, 0, 1, BPF_MAXINSNS - 1, BPF_MAXINSNS)),
    "log_level": st.sampled_from((0, 1, 2)),
    "log_size": st.sampled_from((0, 128, 127, 256, 0xFFFFFFFF)),
    "kern_version": st.sampled_from((0, 0x040300, 0x040400)),
}


def _default_field(field: Field) -> st.SearchStrategy[int]:
    if field.pointer:
        return bad_pointers()
    if field.name not in _FIELD_VALUES:  # (one_of(any, any) would be any, one draw dearer)
        return _u(8 * field.size)
    return st.one_of(_FIELD_VALUES[field.name], _u(8 * field.size))


def bpf_attrs(
    cmd: int,
    *,
    fields: Mapping[str, st.SearchStrategy[int]] | None = None,
    size: int = SEED_ATTR_SIZE,
) -> st.SearchStrategy[bytes]:
    """Well-formed ``union bpf_attr`` bytes for ``cmd`` (``size`` bytes, every byte
    after the command's last field zero), built with :func:`pinfs.ebpf.attr.pack_attr`.
    ``fields`` overrides the strategy of any field by name (values must fit); pointer
    fields default to :func:`bad_pointers`, since only the caller knows what is mapped
    (see :func:`arena_bpf_calls` for pointers into the standard world)."""
    layout = ATTR_LAYOUT[cmd]  # type: ignore[index]
    given = fields or {}
    chosen = {
        f.name: given[f.name] if f.name in given else _default_field(f)
        for f in layout.fields
        if f.end <= layout.check_from  # fields after LAST_FIELD stay zero
    }
    return st.fixed_dictionaries(chosen).map(lambda values: pack_attr(cmd, size=size, **values))


def patched_attr(attr: bytes, length: int, offset: int, value: int) -> bytes:
    """``attr`` zero-padded to ``length`` bytes, with byte ``offset`` set to ``value``
    (what :func:`malformed_bpf_attrs` draws)."""
    buf = bytearray(attr.ljust(length, b"\0"))
    if 0 <= offset < len(buf):
        buf[offset] = value
    return bytes(buf)


def _malformed_for(cmd: int) -> st.SearchStrategy[bytes]:
    layout = ATTR_LAYOUT[cmd]  # type: ignore[index]
    base = bpf_attrs(cmd)
    nonzero = st.integers(1, 255)
    # Oversize: a non-zero byte past sizeof(union bpf_attr) (E2BIG), or past a page.
    oversize = st.integers(SEED_ATTR_SIZE + 1, PAGE_SIZE)
    past = st.integers(SEED_ATTR_SIZE, PAGE_SIZE - 1)
    kinds = [
        st.builds(patched_attr, base, oversize, past, nonzero).filter(
            lambda attr: any(attr[SEED_ATTR_SIZE:])
        ),
        st.builds(
            patched_attr, base, st.integers(PAGE_SIZE + 1, PAGE_SIZE + 64), st.just(0), st.just(0)
        ),
    ]
    if layout.check_from < SEED_ATTR_SIZE:  # a non-zero byte after LAST_FIELD (EINVAL)
        offsets = st.integers(layout.check_from, SEED_ATTR_SIZE - 1)
        kinds.append(st.builds(patched_attr, base, st.just(SEED_ATTR_SIZE), offsets, nonzero))
    return st.one_of(kinds)


def malformed_bpf_attrs(cmd: int | None = None) -> st.SearchStrategy[bytes]:
    """``union bpf_attr`` bytes the seed must reject before the command runs: a
    non-zero byte after the command's last field (EINVAL, S8), or longer than 48 bytes
    with a non-zero byte past them or longer than a page (E2BIG, S4/S5).  (Bad
    pointers are what :func:`bpf_attrs` draws by default.)"""
    return st.one_of([_malformed_for(c) for c in (ATTR_LAYOUT if cmd is None else (cmd,))])


def bpf_calls(
    cmds: Sequence[int] | None = None,
    *,
    fields: Mapping[str, st.SearchStrategy[int]] | None = None,
    malformed: bool = True,
) -> st.SearchStrategy[BpfCall]:
    """Raw bpf(2) calls: a command (unknown ones too unless ``cmds`` is given), attr
    bytes (well-formed, or with ``malformed`` also :func:`malformed_bpf_attrs`) and a
    size, usually the attr's length but sometimes shorter, zero or past its end."""

    def for_cmd(cmd: int) -> st.SearchStrategy[BpfCall]:
        layout_cmd = cmd if cmd in ATTR_LAYOUT else BpfCmd.BPF_MAP_CREATE
        attrs = bpf_attrs(layout_cmd, fields=fields)
        if malformed:
            attrs = st.one_of(attrs, attrs, attrs, _malformed_for(layout_cmd))
        # the size: usually the attr's length, sometimes anything up to 16 bytes past it
        sizes = _SIZES
        return st.builds(BpfCall, st.just(int(cmd)), attrs, sizes)

    chosen = list(cmds) if cmds is not None else [*ATTR_LAYOUT, -1, 8, 0x7FFFFFFF]
    return st.one_of([for_cmd(cmd) for cmd in chosen])


#: bpf(2) sizes: usually the attr's length (None), else short, exact or past the end.
_SIZES = st.sampled_from((None, None, None, None, None, None, 0, 1, 8, 47, 48, 49, 56, 64))


def _arena(*names: str) -> st.SearchStrategy[int]:
    return st.sampled_from([ARENA[n] for n in names])


def _mix(good: st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    """Mostly ``good``, one time in six a bad pointer."""
    return st.one_of(good, good, good, good, good, st.sampled_from(_BAD_POINTERS))


#: The fds the arena has buffers for (``fd:N``, ``insns:mapN``), likely ones first: a
#: task's objects start at 3, after the console.
_ARENA_FDS = (3, 4, 5, 6, 7, 0, 1, 2)


def _prog_load_attrs() -> st.SearchStrategy[bytes]:
    """insns and insn_cnt that agree, a license, and a log that is off or sane."""
    programs = [{"insns": ARENA["insns:ret0"], "insn_cnt": 2}] + [
        {"insns": ARENA[f"insns:map{i}"], "insn_cnt": 4} for i in _ARENA_FDS
    ]
    out = ARENA["out"]
    logs: list[dict[str, int]] = [
        {},
        {},
        {"log_level": 1, "log_size": 256, "log_buf": out},
        {"log_level": 1, "log_size": 128, "log_buf": out},
        {"log_level": 1, "log_size": 64, "log_buf": out},
    ]
    rest = st.fixed_dictionaries(
        {"prog_type": st.sampled_from((1, 1, 3, 4, 0)), "license": _mix(_arena("license"))}
    )
    parts = st.tuples(st.sampled_from(programs), st.sampled_from(logs), rest)
    return parts.map(lambda p: pack_attr(5, **p[0], **p[1], **p[2]))


def arena_bpf_calls(
    malformed: bool = False, cmds: Sequence[int] | None = None
) -> st.SearchStrategy[BpfCall]:
    """Raw calls for the standard world of :class:`~pinfs.testing.runner.Driver` and
    :class:`~pinfs.testing.PinningMachine`: pointer fields name the arena's buffers
    (pin paths, slot keys, fd values, programs, the license, an output buffer), only
    sometimes a bad pointer, and fds are small, so many calls succeed.  With
    ``malformed``, a quarter are :func:`malformed_bpf_attrs` instead.  ``cmds`` keeps
    only these commands (default: the eight of the seed)."""
    low_fds = st.sampled_from((3, 3, 3, 4, 4, 5, 6, 8, 0))  # 0: the console, not bpf's
    elem = {
        "map_fd": low_fds,
        "key": _mix(_arena(*(f"key:{i}" for i in range(4)), "zero8")),
        "value": _mix(_arena(*(f"fd:{i}" for i in _ARENA_FDS), "zero8", "out")),
        "next_key": _mix(_arena("out")),
        "flags": st.sampled_from((0, 0, 1, 2, 3)),
    }
    common = _arena(*(f"path:{p}" for p in PIN_PATHS[:2]))  # /sys/fs/bpf/a and /b
    paths = _mix(st.one_of(common, _arena(*(f"path:{p}" for p in PIN_PATHS + MOUNTPOINTS))))
    attrs = {
        BpfCmd.BPF_MAP_CREATE: map_specs().map(lambda spec: pack_attr(0, **spec._asdict())),
        BpfCmd.BPF_PROG_LOAD: _prog_load_attrs(),
        BpfCmd.BPF_OBJ_PIN: bpf_attrs(6, fields={"pathname": paths, "bpf_fd": low_fds}),
        BpfCmd.BPF_OBJ_GET: bpf_attrs(7, fields={"pathname": paths, "bpf_fd": st.just(0)}),
    }
    for cmd in (1, 2, 3, 4):
        attrs[BpfCmd(cmd)] = bpf_attrs(cmd, fields=elem)
    if cmds is not None:
        unknown = set(cmds) - set(attrs)
        if unknown or not cmds:
            raise ValueError(f"cmds must be commands 0-7 of the seed, not {sorted(cmds)}")
        attrs = {cmd: attr for cmd, attr in attrs.items() if cmd in cmds}
    calls = []
    for cmd, attr in attrs.items():
        if malformed:
            attr = st.one_of(attr, attr, attr, _malformed_for(cmd))
        sizes = _SIZES
        calls.append(st.builds(BpfCall, st.just(int(cmd)), attr, sizes))
    return st.one_of(calls)


# ---------------------------------------------------------------------------------------
# Operation scripts

_PIDS = st.sampled_from((1, 1, 1, 2, 3, 4, 5))  # init most often; forks get 2, 3, ...
#: The lowest fds after the console's 0, 1 and 2 are the likely ones; 0 itself sometimes.
_FDS = st.sampled_from((3, 3, 3, 4, 4, 5, 6, 8, 10, 0))


def _u32_bytes(values: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    return values.map(lambda v: v.to_bytes(4, "little"))


def _script_args() -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    d = st.fixed_dictionaries
    pin_path = st.sampled_from(PIN_PATHS)
    open_flags = st.sampled_from(
        (
            os.O_RDONLY,
            O_PATH,
            os.O_RDONLY | os.O_DIRECTORY,
            os.O_RDONLY | os.O_CLOEXEC,
            os.O_WRONLY,
        )
    )
    return {
        "spawn": d({"uid": st.sampled_from((0, 1000, 1001))}),
        "fork": d({"pid": _PIDS}),
        "exit": d({"pid": st.integers(2, 5)}),
        "execve": d({"pid": _PIDS}),
        "setresuid": st.builds(
            lambda p, u: {"pid": p, "ruid": u, "euid": u, "suid": u},
            _PIDS,
            st.sampled_from((0, 1000, 1001)),
        ),
        "unshare": d(
            {"pid": _PIDS, "flags": st.sampled_from((CLONE_NEWNS, CLONE_NEWNS | CLONE_NEWUSER))}
        ),
        "mount": d(
            {
                "pid": _PIDS,
                "target": st.sampled_from(MOUNTPOINTS),
                "flags": st.sampled_from((0, MS_RDONLY)),
            }
        ),
        "umount": d(
            {
                "pid": _PIDS,
                "target": st.sampled_from(MOUNTPOINTS),
                "flags": st.sampled_from((0, MNT_DETACH)),
            }
        ),
        "mkdir": d({"pid": _PIDS, "path": st.sampled_from(DIRS), "mode": modes()}),
        "rmdir": d({"pid": _PIDS, "path": st.sampled_from(DIRS)}),
        "unlink": d({"pid": _PIDS, "path": pin_path}),
        "rename": d({"pid": _PIDS, "old": pin_path, "new": pin_path}),
        "chmod": d({"pid": _PIDS, "path": pin_path, "mode": modes()}),
        "chdir": d({"pid": _PIDS, "path": st.sampled_from(CHDIR_PATHS)}),
        "open": d(
            {"pid": _PIDS, "path": st.sampled_from(CHDIR_PATHS + PIN_PATHS), "flags": open_flags}
        ),
        "close": d({"pid": _PIDS, "fd": _FDS}),
        "dup": d({"pid": _PIDS, "fd": _FDS}),
        "map_create": st.builds(lambda p, s: {"pid": p, **s._asdict()}, _PIDS, valid_map_specs()),
        "map_update_elem": d(
            {
                "pid": _PIDS,
                "fd": _FDS,
                "key": _u32_bytes(st.integers(0, 3)),
                "value": _u32_bytes(_FDS),
            }
        ),
        "map_delete_elem": d({"pid": _PIDS, "fd": _FDS, "key": _u32_bytes(st.integers(0, 3))}),
        "prog_load": st.builds(lambda p, s: {"pid": p, **s._asdict()}, _PIDS, prog_specs(_FDS)),
        "obj_pin": d({"pid": _PIDS, "fd": _FDS, "path": pin_path}),
        "obj_get": d({"pid": _PIDS, "path": pin_path}),
        "bpf": st.builds(lambda p, c: {"pid": p, **c._asdict()}, _PIDS, arena_bpf_calls()),
    }


def scripts(
    ops: Sequence[str] | None = None, min_ops: int = 1, max_ops: int = 20
) -> st.SearchStrategy[list[tuple[str, dict[str, Any]]]]:
    """Operation scripts for :func:`pinfs.testing.runner.run_script`: lists of
    ``(op, kwargs)`` over the standard world (pids 1-5, fds 0-10, its pin paths and
    mount points), drawn from ``ops`` (default: every operation below)."""
    table = _script_args()
    chosen = table if ops is None else {op: table[op] for op in ops}
    step = st.one_of([st.tuples(st.just(op), args) for op, args in sorted(chosen.items())])
    return st.lists(step, min_size=min_ops, max_size=max_ops)
