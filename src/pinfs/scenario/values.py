"""Constants and the evaluation of arguments: names, labels, bytes expressions, attrs."""

from __future__ import annotations

import struct
from typing import Any

import attrs

from pinfs.base.cred import CAP_NAMES
from pinfs.ebpf.attr import UAPI_FIELDS
from pinfs.machine.constants import constants
from pinfs.scenario.syntax import (
    Arg,
    Bytes,
    BytesExpr,
    BytesFn,
    Int,
    IntExpr,
    IntList,
    Label,
    Name,
    Null,
    Str,
)

#: Capabilities of root on the reference machine (Linux 6.18, a container without
#: CAP_SYS_RESOURCE): what ``caps=all`` means when no live kernel says otherwise.
REFERENCE_ALL_CAPS: tuple[int, ...] = tuple(c for c in range(41) if c != 24)
#: The reference machine's sysctls; a scenario's ``sysctl`` lines override them.
REFERENCE_SYSCTLS: dict[str, int] = {
    "kernel.unprivileged_bpf_disabled": 2,
    "fs.protected_hardlinks": 1,
    "fs.protected_symlinks": 0,
}
#: Capability names by number.
_CAP_NAMES: tuple[str, ...] = CAP_NAMES
_INSNS_RET0 = bytes.fromhex("b7000000000000009500000000000000")
_BYTES_CONSTANTS: dict[str, bytes] = {"INSNS_RET0": _INSNS_RET0}


class _Unbound(Exception):
    pass


@attrs.define
class _Env:
    labels: dict[str, int] = attrs.field(factory=dict)
    tasks: dict[str, Any] = attrs.field(factory=dict)
    forked: int = 0


def _eval_int(e: IntExpr, env: _Env) -> int:
    if isinstance(e, Int):
        return e.value
    if isinstance(e, Label):
        if e.name not in env.labels:
            raise _Unbound(f"unbound label ${e.name}")
        return env.labels[e.name]
    if isinstance(e, Name):
        table = constants()
        if e.name not in table:
            raise _Unbound(f"unknown constant {e.name}")
        return table[e.name]
    value = 0
    for p in e.parts:
        value |= _eval_int(p, env)
    return value


def _eval_bytes(e: BytesExpr, env: _Env) -> bytes:
    if isinstance(e, Bytes):
        return e.value
    if isinstance(e, Name):
        if e.name not in _BYTES_CONSTANTS:
            raise _Unbound(f"unknown bytes constant {e.name}")
        return _BYTES_CONSTANTS[e.name]
    if isinstance(e, BytesFn):
        v = _eval_int(e.arg, env)
        if e.fn == "le32":
            return (v & 0xFFFFFFFF).to_bytes(4, "little")
        if e.fn == "le64":
            return (v & (1 << 64) - 1).to_bytes(8, "little")
        # BPF_LD_IMM64 r1, BPF_PSEUDO_MAP_FD, fd: two 8-byte instructions.
        return struct.pack("<BBhi", 0x18, 0x10 | 1, 0, v) + bytes(8)
    return b"".join(_eval_bytes(p, env) for p in e.parts)


def _eval_arg(kind: str, a: Arg, env: _Env) -> Any:
    if isinstance(a, Null):
        return None
    if kind in "pP":
        assert isinstance(a, Str)
        return a.value
    if kind == "i":
        return _eval_int(a, env)  # type: ignore[arg-type]
    if kind in "bB":
        return _eval_bytes(a, env)  # type: ignore[arg-type]
    if kind == "l":
        assert isinstance(a, IntList)
        return [_eval_int(i, env) for i in a.items]
    return a  # attrs are built by _raw_bpf


#: uapi ``union bpf_attr`` fields by command: name -> (offset, size) (one table:
#: :data:`pinfs.ebpf.attr.UAPI_FIELDS`).
_ATTR_FIELDS: dict[int, dict[str, tuple[int, int]]] = {
    int(cmd): {f.name: (f.offset, f.size) for f in fields} for cmd, fields in UAPI_FIELDS.items()
}
_ATTR_ALL = {k: v for fields in _ATTR_FIELDS.values() for k, v in fields.items()}
