"""``--state FILE``: the simulated kernel saved between runs.

Format (version 1): the 8-byte magic ``PINFSST1``, then a pickle of the dict
``{"format": 1, "pinfs": <pinfs version>, "profile": <profile name>, "kernel": Kernel}``.
The kernel is saved after the hosted tasks have exited, so what carries over is what
outlives processes: pins, the directories and symlinks of every bpffs, the objects
pins hold, ids, memlock accounting and the clock.  A pickle runs code when loaded:
load only state files you made yourself.
"""

from __future__ import annotations

import copyreg
import importlib
import io
import os
import pickle
import struct
import sys
import types
from collections.abc import Callable
from importlib import metadata
from typing import Any

import attrs

from pinfs.base.profiles import by_name
from pinfs.machine.kernel import Kernel

MAGIC = b"PINFSST1"
FORMAT = 1


class StateError(ValueError):
    """A state file that cannot be used (another format version, another profile)."""


def _pinfs_version() -> str:
    try:
        return metadata.version("pinfs")
    except metadata.PackageNotFoundError:
        return "unknown"


def _reduce_struct(s: struct.Struct) -> tuple[Any, ...]:
    return struct.Struct, (s.format,)


_BY_VALUE = (int, float, str, bytes, bool, tuple, frozenset, type(None))


def _module_objects() -> dict[int, tuple[str, str, str | None]]:
    """Objects that live in pinfs's modules (profiles, operation tables, filesystem
    types, and the functions made inside other functions that they hold, such as
    each filesystem type's ``mount``) are saved by where they live and taken from
    there again on load: the model compares them by identity, and closures cannot be
    pickled anyway."""
    found: dict[int, tuple[str, str, str | None]] = {}
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("pinfs.") or module_name.startswith("pinfs.host"):
            continue
        for name, value in vars(module).items():
            if isinstance(value, (*_BY_VALUE, type, types.ModuleType, types.FunctionType)):
                continue
            found.setdefault(id(value), (module_name, name, None))
            if not attrs.has(type(value)):
                continue
            for field in attrs.fields(type(value)):
                fn = getattr(value, field.name, None)
                if isinstance(fn, types.FunctionType) and "<locals>" in fn.__qualname__:
                    found.setdefault(id(fn), (module_name, name, field.name))
    return found


class _Pickler(pickle.Pickler):
    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[struct.Struct] = _reduce_struct

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._module_objects = _module_objects()

    def persistent_id(self, obj: Any) -> tuple[str, str, str | None] | None:
        if isinstance(obj, _BY_VALUE):
            return None
        return self._module_objects.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        module_name, name, field = pid
        value = getattr(importlib.import_module(module_name), name)
        return value if field is None else getattr(value, field)


def dumps(kernel: Kernel) -> bytes:
    buf = io.BytesIO()
    buf.write(MAGIC)
    payload = {"format": FORMAT, "pinfs": _pinfs_version(), "profile": kernel.profile.name}
    _Pickler(buf).dump({**payload, "kernel": kernel})
    return buf.getvalue()


def loads(data: bytes, profile_name: str) -> Kernel:
    """The kernel in ``data``; StateError if it is not a version-1 state of that profile."""
    if not data.startswith(MAGIC):
        raise StateError("not a pinfs state file (or one of another format version)")
    try:
        payload = _Unpickler(io.BytesIO(data[len(MAGIC) :])).load()
    except Exception as exc:
        raise StateError(f"unreadable state file: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise StateError(f"state format {payload.get('format')!r}, this pinfs reads {FORMAT}")
    kernel = payload["kernel"]
    if not isinstance(kernel, Kernel):
        raise StateError("the state file holds no kernel")
    if kernel.profile.name != profile_name:
        raise StateError(
            f"the state file is a {kernel.profile.name} kernel, not {profile_name} "
            "(pass --profile to match, or another --state file)"
        )
    return kernel


def load_or_boot(
    path: str | None,
    profile_name: str,
    mounts: tuple[str, ...],
    boot: Callable[[str, tuple[str, ...]], Kernel],
) -> Kernel:
    try:
        profile_name = by_name(profile_name).name
    except KeyError as exc:
        raise StateError(str(exc.args[0])) from None
    if path is None or not os.path.exists(path):
        return boot(profile_name, mounts)
    with open(path, "rb") as f:
        return loads(f.read(), profile_name)


def save(path: str, kernel: Kernel) -> None:
    """Write atomically (a new file renamed over the old)."""
    data = dumps(kernel)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
