"""Scenario files: SibylFS-style text traces run on pinfs or on the live kernel.

A scenario is a plain text file, one line per item, meant to be read and diffed::

    # pin-then-get: a reader needs read and write permission at the pin
    profile LINUX_6_18
    task root uid=0 gid=0 groups= caps=all umask=022
    task user uid=1000 gid=1000 groups=1000 caps= umask=022
    root mkdir /mnt 0o755                         -> ok
    root mount bpf /mnt bpf                       -> ok
    root map_create BPF_MAP_TYPE_ARRAY 4 4 1      -> fd $m
    root map_update_elem $m le32(0) le32(42)      -> ok
    root obj_pin $m /mnt/m                        -> ok
    user obj_get /mnt/m                           -> EACCES
    root chmod /mnt/m 0o666                       -> ok
    user obj_get /mnt/m                           -> fd $g
    user map_lookup_elem $g le32(0)               -> b'\\x2a\\x00\\x00\\x00'
    root stat /mnt/m                              -> stat(mode=0o100666, nlink=1, uid=0)
    root fork                                     -> task child
    child exit                                    -> ok
    root bpf BPF_OBJ_GET attr(pathname=str:/mnt/m) -> fd $x

**Header** (before the first step): ``profile NAME`` (a preset of :mod:`pinfs.base.profiles`,
by attribute or preset name), ``sysctl NAME=VALUE ...`` and ``task NAME uid= gid=
groups=A,B caps=all|CAP_X,CAP_Y umask=022 [cwd=/dir]``.  Every task is forked from
init at the start with those credentials (``caps=all`` is the full set *available* on
the machine that runs the scenario; see :data:`REFERENCE_ALL_CAPS`).  Sysctls not
given take the reference machine's values (:data:`REFERENCE_SYSCTLS`).

**Steps**: ``TASK OP ARG... [-> RESULT] [# comment]``; the operations and their
arguments are in :data:`OPS`.  Arguments: integers (``42``, ``-1``, ``0o755``,
``0x10``), constant names and flag expressions (``O_CREAT|O_WRONLY``, resolved against
:mod:`os` and pinfs: ``O_*``, ``MS_*``, ``MNT_*``, ``CLONE_*``, ``BPF_*``, ``RENAME_*``,
``S_I*``, ``AT_FDCWD``, ``RLIMIT_*``), labels (``$m``: the number bound by an earlier
result), paths and strings (bare, or quoted like Python: ``'/a b'``; ``None`` is
NULL), bytes (``b'\\x00'``, ``hex:00ff``, ``le32(N)``, ``le64(N)``, ``ld_map_fd($m)``
-- the 16-byte ``r1 = map`` load -- and ``INSNS_RET0``, joined with ``+``), lists
(``[1000,2000]``) and, for raw ``bpf``, ``attr(field=value,...)``: a field of the
command (``pathname``, ``bpf_fd``, ``file_flags``, ``path_fd``, ``map_fd``, ``key``,
...) set to an integer, ``str:TEXT`` (a pointer to that C string), bytes (a pointer
to a copy), ``buf:N`` (a pointer to N zero bytes) or ``null``; ``@OFFSET=BYTE`` or
``@OFFSET=BYTES`` puts raw bytes in the attr itself.  ``bpf CMD ATTR [SIZE]``: the
attr is ``max(48, its end)`` bytes, padded with zeros to SIZE, and SIZE is passed.

**Results**: ``ok`` (None, or 0 from raw ``bpf``), an errno name (kernel-internal
ones too: ``ENOTSUPP``; else ``E524``), ``fd $label`` (the first time, binds the label
to whatever number came back; afterwards requires the same number -- a different
number shows as a fresh label ``$label_``), ``task NAME`` (fork), literals (``0o022``,
``'text'``, ``b'..'``, ``['a', 'b']``), ``stat(mode=, nlink=, uid=, gid=, size=)``
(any subset, in any order; by default all but a directory's size, which is
filesystem-specific; ``ino=$i``/``dev=$d`` compare by label, never by number) and
``statfs(type=, namelen=, flags=)``.  ``!message`` is a harness failure (a Python
exception, a dead task, an unbound label).  ``listdir`` results are sorted.  A step
without ``-> RESULT`` has no expectation (:func:`record` fills it in; fds then get
labels named after the operation: ``$m``, ``$m2``, ``$p``, ``$g``, ``$f``, ...).

:func:`loads`/:func:`dumps` parse and print (``dumps(loads(dumps(s))) == dumps(s)``,
and ``loads(dumps(s)) == s``); :func:`run_scenario` executes on a backend
(:class:`PinfsBackend`, :class:`LiveBackend`, or ``"pinfs"``/``"live"``) and
:func:`record` freezes the observed results into the scenario.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import errno as _errno
import os
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinfs.live.kernel import CAP_NAMES

if TYPE_CHECKING:
    from pinfs.base.profiles import Profile
    from pinfs.live.kernel import LiveKernel

__all__ = [
    "OPS",
    "REFERENCE_ALL_CAPS",
    "REFERENCE_SYSCTLS",
    "LiveBackend",
    "PinfsBackend",
    "Run",
    "Scenario",
    "ScenarioSyntaxError",
    "Step",
    "StepResult",
    "TaskDecl",
    "dumps",
    "load",
    "loads",
    "record",
    "resolve_profile",
    "run_scenario",
]

# --------------------------------------------------------------------------- syntax tree


@dataclasses.dataclass(frozen=True)
class Int:
    """An integer literal; ``base`` (10, 8 or 16) only affects printing."""

    value: int
    base: int = dataclasses.field(default=10, compare=False)


@dataclasses.dataclass(frozen=True)
class Name:
    """A constant (``O_CREAT``, ``BPF_OBJ_GET``, ``INSNS_RET0``), resolved when run."""

    name: str


@dataclasses.dataclass(frozen=True)
class Label:
    """``$name``: a number bound by an earlier result."""

    name: str


@dataclasses.dataclass(frozen=True)
class Flags:
    """``A|B|0x10``: the bitwise or of two or more parts."""

    parts: tuple[Int | Name | Label, ...]


IntExpr = Int | Name | Label | Flags


@dataclasses.dataclass(frozen=True)
class Str:
    """A path or string argument, or a string result."""

    value: str


@dataclasses.dataclass(frozen=True)
class Null:
    """``None``: a NULL pointer or an absent value."""


@dataclasses.dataclass(frozen=True)
class Bytes:
    """A bytes literal: ``b'\\x00'`` or, with ``hex``, ``hex:00``."""

    value: bytes
    hex: bool = False


@dataclasses.dataclass(frozen=True)
class BytesFn:
    """``le32(x)``, ``le64(x)`` or ``ld_map_fd(x)``."""

    fn: str
    arg: IntExpr


BytesPart = Bytes | BytesFn | Name


@dataclasses.dataclass(frozen=True)
class BytesCat:
    """Two or more byte parts joined with ``+``."""

    parts: tuple[BytesPart, ...]


BytesExpr = Bytes | BytesFn | Name | BytesCat


@dataclasses.dataclass(frozen=True)
class IntList:
    """``[1, 2]``: a list of integers (``setgroups``)."""

    items: tuple[IntExpr, ...]


@dataclasses.dataclass(frozen=True)
class CStr:
    """``str:TEXT`` in an attr: a pointer to the NUL-terminated string."""

    value: str


@dataclasses.dataclass(frozen=True)
class Buf:
    """``buf:N`` in an attr: a pointer to N zero bytes."""

    size: int


AttrValue = Int | Name | Label | Flags | CStr | Bytes | BytesFn | Name | BytesCat | Buf | Null


@dataclasses.dataclass(frozen=True)
class Attr:
    """``attr(name=value, @offset=bytes, ...)`` for raw ``bpf``."""

    items: tuple[tuple[str, AttrValue], ...]


Arg = Int | Name | Label | Flags | Str | Null | Bytes | BytesFn | BytesCat | IntList | Attr


# results


@dataclasses.dataclass(frozen=True)
class Ok:
    """``ok``: success without a value."""


@dataclasses.dataclass(frozen=True)
class Errno:
    """A failure with this errno (canonical name, e.g. ``ENOENT``)."""

    name: str


@dataclasses.dataclass(frozen=True)
class FdResult:
    """``fd $label`` (or ``fd 5`` when a number contradicts the label)."""

    ref: Label | Int


@dataclasses.dataclass(frozen=True)
class TaskResult:
    """``task NAME``: fork made a task of that name."""

    name: str


@dataclasses.dataclass(frozen=True)
class ValueList:
    """``['a', 'b']`` or ``[1024, 4096]``."""

    items: tuple[Int | Str, ...]


@dataclasses.dataclass(frozen=True)
class Value:
    """A literal result."""

    value: Int | Str | Bytes | Null | ValueList


@dataclasses.dataclass(frozen=True)
class Record:
    """``stat(...)`` or ``statfs(...)``: a projection of the result's fields."""

    kind: str
    fields: tuple[tuple[str, Int | Label], ...]


@dataclasses.dataclass(frozen=True)
class Failure:
    """``!Kind: message``: the harness could not make the call."""

    text: str


Result = Ok | Errno | FdResult | TaskResult | Value | Record | Failure


# lines


@dataclasses.dataclass(frozen=True)
class Comment:
    """A ``#`` line (``text`` is what follows the ``#``) or, with ``text=None``, a
    blank line."""

    text: str | None


@dataclasses.dataclass(frozen=True)
class ProfileLine:
    name: str


@dataclasses.dataclass(frozen=True)
class SysctlLine:
    values: tuple[tuple[str, int], ...]


@dataclasses.dataclass(frozen=True)
class TaskDecl:
    """A task forked from init when the scenario starts."""

    name: str
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    caps: tuple[str, ...] | None = None  # None: all
    umask: int = 0o022
    cwd: str = "/"


@dataclasses.dataclass(frozen=True)
class Step:
    task: str
    op: str
    args: tuple[Arg, ...]
    expect: Result | None = None
    comment: str | None = None


Line = Comment | ProfileLine | SysctlLine | TaskDecl | Step


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A parsed scenario: its lines, in order (each is one line of text)."""

    lines: tuple[Line, ...]
    name: str = dataclasses.field(default="", compare=False)

    @property
    def profile(self) -> str | None:
        for line in self.lines:
            if isinstance(line, ProfileLine):
                return line.name
        return None

    @property
    def sysctls(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in self.lines:
            if isinstance(line, SysctlLine):
                out.update(line.values)
        return out

    @property
    def tasks(self) -> tuple[TaskDecl, ...]:
        return tuple(line for line in self.lines if isinstance(line, TaskDecl))

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(line for line in self.lines if isinstance(line, Step))

    def numbered_steps(self) -> Iterator[tuple[int, Step]]:
        """(line number, step) pairs."""
        for i, line in enumerate(self.lines, 1):
            if isinstance(line, Step):
                yield i, line

    @property
    def description(self) -> str:
        """The leading comment block."""
        out = []
        for line in self.lines:
            if not isinstance(line, Comment) or line.text is None:
                break
            out.append(line.text.strip())
        return " ".join(out)


# --------------------------------------------------------------------------- operations


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """Argument kinds (``p`` path/string, ``P`` path or None, ``i`` integer, ``b``
    bytes, ``B`` bytes or None, ``l`` integer list, ``a`` attr or bytes), how many are
    required, and the result kind."""

    args: str
    required: int
    result: str
    doc: str = ""


OPS: dict[str, OpSpec] = {
    "mkdir": OpSpec("pi", 1, "none", "mkdir PATH [MODE=0o777]"),
    "rmdir": OpSpec("p", 1, "none"),
    "unlink": OpSpec("p", 1, "none"),
    "rename": OpSpec("ppi", 2, "none", "rename OLD NEW [FLAGS] (renameat2)"),
    "link": OpSpec("pp", 2, "none"),
    "symlink": OpSpec("pp", 2, "none", "symlink TARGET LINKPATH"),
    "readlink": OpSpec("p", 1, "str"),
    "mknod": OpSpec("pii", 2, "none", "mknod PATH MODE [DEV]"),
    "open": OpSpec("pii", 1, "fd", "open PATH [FLAGS=O_RDONLY] [MODE=0o666]"),
    "close": OpSpec("i", 1, "none"),
    "dup": OpSpec("i", 1, "fd"),
    "stat": OpSpec("p", 1, "stat"),
    "lstat": OpSpec("p", 1, "stat"),
    "fstat": OpSpec("i", 1, "stat"),
    "statfs": OpSpec("p", 1, "statfs"),
    "listdir": OpSpec("p", 1, "names", "listdir PATH: sorted names"),
    "chmod": OpSpec("pi", 2, "none"),
    "chown": OpSpec("pii", 3, "none"),
    "truncate": OpSpec("pi", 2, "none"),
    "chdir": OpSpec("p", 1, "none"),
    "getcwd": OpSpec("", 0, "str"),
    "umask": OpSpec("i", 1, "mode", "umask MASK: the old mask"),
    "mount": OpSpec("PpPiP", 3, "none", "mount SOURCE TARGET FSTYPE [FLAGS] [DATA]"),
    "umount": OpSpec("pi", 1, "none", "umount TARGET [FLAGS] (umount2)"),
    "unshare": OpSpec("i", 1, "none"),
    "fork": OpSpec("", 0, "task", "fork -> task NAME"),
    "exit": OpSpec("i", 0, "none"),
    "execve": OpSpec("", 0, "none", "execve: its effect on fds and capabilities"),
    "setresuid": OpSpec("iii", 3, "none"),
    "setresgid": OpSpec("iii", 3, "none"),
    "setgroups": OpSpec("l", 1, "none"),
    "capset": OpSpec("iii", 3, "none", "capset EFFECTIVE PERMITTED INHERITABLE (masks)"),
    "setrlimit": OpSpec("iii", 3, "none"),
    "getrlimit": OpSpec("i", 1, "ints"),
    "map_create": OpSpec("iiiii", 4, "fd", "map_create TYPE KEY_SIZE VALUE_SIZE MAX [FLAGS]"),
    "map_update_elem": OpSpec("ibbi", 3, "none", "map_update_elem FD KEY VALUE [FLAGS]"),
    "map_lookup_elem": OpSpec("ib", 2, "bytes"),
    "map_delete_elem": OpSpec("ib", 2, "none"),
    "map_get_next_key": OpSpec("iB", 1, "bytes", "map_get_next_key FD [KEY|None]"),
    "prog_load": OpSpec("ibpi", 2, "fd", "prog_load TYPE INSNS [LICENSE=GPL] [KERN_VERSION]"),
    "obj_pin": OpSpec("ipii", 2, "none", "obj_pin FD PATH [FILE_FLAGS] [PATH_FD]"),
    "obj_get": OpSpec("pii", 1, "fd", "obj_get PATH [FILE_FLAGS] [PATH_FD]"),
    "bpf": OpSpec("iai", 2, "bpf", "bpf CMD ATTR [SIZE]: raw bpf(2)"),
}

#: bpf(2) commands whose non-negative result is a new fd.
FD_COMMANDS = frozenset({0, 5, 7, 13, 14, 18, 19, 28, 29, 30, 36})

_KEYWORDS = frozenset({"profile", "sysctl", "task"})
_FD_PREFIX = {
    "open": "f",
    "dup": "d",
    "map_create": "m",
    "prog_load": "p",
    "obj_get": "g",
    "bpf": "x",
}

# --------------------------------------------------------------------------- constants

#: Capabilities of root on the reference machine (Linux 6.18, a container without
#: CAP_SYS_RESOURCE): what ``caps=all`` means when no live kernel says otherwise.
REFERENCE_ALL_CAPS: tuple[int, ...] = tuple(c for c in range(41) if c != 24)

#: The reference machine's sysctls; a scenario's ``sysctl`` lines override them.
REFERENCE_SYSCTLS: dict[str, int] = {
    "kernel.unprivileged_bpf_disabled": 2,
    "fs.protected_hardlinks": 1,
    "fs.protected_symlinks": 0,
}

#: Capability names by number: the live twin's table (livekernel imports nothing from
#: pinfs, so that it can be loaded on its own inside the sandbox).
_CAP_NAMES: tuple[str, ...] = CAP_NAMES

#: uapi values for names that pinfs may not define (pinfs's own values win).
_UAPI: dict[str, int] = {
    "AT_FDCWD": -100,
    "O_PATH": 0o10000000,
    "MS_RDONLY": 1, "MS_NOSUID": 2, "MS_NODEV": 4, "MS_NOEXEC": 8, "MS_REMOUNT": 32,
    "MS_NOATIME": 1024, "MS_NODIRATIME": 2048, "MS_BIND": 4096, "MS_MOVE": 8192,
    "MS_REC": 16384, "MS_SILENT": 32768, "MS_PRIVATE": 1 << 18, "MS_SHARED": 1 << 20,
    "MS_RELATIME": 1 << 21, "MS_STRICTATIME": 1 << 24,
    "MNT_FORCE": 1, "MNT_DETACH": 2, "MNT_EXPIRE": 4, "UMOUNT_NOFOLLOW": 8,
    "CLONE_FS": 0x200, "CLONE_FILES": 0x400, "CLONE_NEWNS": 0x20000,
    "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "RENAME_NOREPLACE": 1, "RENAME_EXCHANGE": 2, "RENAME_WHITEOUT": 4,
    "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIM_INFINITY": (1 << 64) - 1,
    "BPF_MAP_CREATE": 0, "BPF_MAP_LOOKUP_ELEM": 1, "BPF_MAP_UPDATE_ELEM": 2,
    "BPF_MAP_DELETE_ELEM": 3, "BPF_MAP_GET_NEXT_KEY": 4, "BPF_PROG_LOAD": 5,
    "BPF_OBJ_PIN": 6, "BPF_OBJ_GET": 7, "BPF_OBJ_GET_INFO_BY_FD": 15,
    "BPF_MAP_TYPE_UNSPEC": 0, "BPF_MAP_TYPE_HASH": 1, "BPF_MAP_TYPE_ARRAY": 2,
    "BPF_MAP_TYPE_PROG_ARRAY": 3, "BPF_MAP_TYPE_PERF_EVENT_ARRAY": 4,
    "BPF_PROG_TYPE_UNSPEC": 0, "BPF_PROG_TYPE_SOCKET_FILTER": 1, "BPF_PROG_TYPE_KPROBE": 2,
    "BPF_PROG_TYPE_SCHED_CLS": 3, "BPF_PROG_TYPE_SCHED_ACT": 4,
    "BPF_ANY": 0, "BPF_NOEXIST": 1, "BPF_EXIST": 2,
    "BPF_F_RDONLY": 1 << 3, "BPF_F_WRONLY": 1 << 4, "BPF_F_PATH_FD": 1 << 14,
    "BPF_PSEUDO_MAP_FD": 1,
}  # fmt: skip

_INSNS_RET0 = bytes.fromhex("b7000000000000009500000000000000")
_BYTES_CONSTANTS: dict[str, bytes] = {"INSNS_RET0": _INSNS_RET0}

_CONSTANTS: dict[str, int] = {}
_CONSTANT_PREFIXES = (
    "O_", "MS_", "MNT_", "UMOUNT_", "CLONE_", "BPF_", "RENAME_", "S_I", "AT_", "RLIMIT_",
    "RLIM_", "PR_",
)  # fmt: skip


def constants() -> dict[str, int]:
    """Every name an integer argument may use."""
    if not _CONSTANTS:
        table: dict[str, int] = dict(_UAPI)
        for name in dir(os):
            if name.startswith(("O_", "S_I")) and isinstance(getattr(os, name), int):
                table[name] = getattr(os, name)
        import stat as _stat

        for name in dir(_stat):
            if name.startswith("S_I") and isinstance(getattr(_stat, name), int):
                table[name] = getattr(_stat, name)
        import importlib

        for mod in ("vfs", "mountns", "fs.namei", "machine.task", "ebpf.attr", "base.cred"):
            try:
                module = importlib.import_module(f"pinfs.{mod}")
            except ImportError:  # pragma: no cover - a module mid-edit
                continue
            for name, value in vars(module).items():
                if (
                    name.startswith((*_CONSTANT_PREFIXES, "CAP_"))
                    and isinstance(value, int)
                    and name.isupper()
                ):
                    table[name] = int(value)
        for i, name in enumerate(_CAP_NAMES):
            table[name] = i
        _CONSTANTS.update(table)
    return _CONSTANTS


# --------------------------------------------------------------------------- parsing


class ScenarioSyntaxError(ValueError):
    """A scenario file that does not parse (with its name and line number)."""

    def __init__(self, message: str, name: str = "", lineno: int = 0) -> None:
        where = f"{name or '<scenario>'}:{lineno}: " if lineno else ""
        super().__init__(where + message)
        self.lineno = lineno


_OPEN = "([{"
_CLOSE = ")]}"
#: Kernel-internal errnos (include/linux/errno.h) that bpf(2) can leak to user space.
KERNEL_ERRNOS: dict[int, str] = {
    512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 515: "ENOIOCTLCMD",
    516: "ERESTART_RESTARTBLOCK", 517: "EPROBE_DEFER", 518: "EOPENSTALE", 519: "ENOPARAM",
    521: "EBADHANDLE", 522: "ENOTSYNC", 523: "EBADCOOKIE", 524: "ENOTSUPP", 525: "ETOOSMALL",
    526: "ESERVERFAULT", 527: "EBADTYPE", 528: "EJUKEBOX", 529: "EIOCBQUEUED",
    530: "ERECALLCONFLICT",
}  # fmt: skip
_ERRNO_BY_NAME: dict[str, int] = {
    **{name: getattr(_errno, name) for name in dir(_errno) if re.fullmatch(r"E[A-Z0-9]+", name)},
    **{name: num for num, name in KERNEL_ERRNOS.items()},
}


def errno_name(err: int) -> str:
    """The canonical name of an errno (kernel-internal ones included, else ``E<n>``)."""
    return _errno.errorcode.get(err) or KERNEL_ERRNOS.get(err) or f"E{err}"


def _canonical_errno(name: str) -> str:
    if name in _ERRNO_BY_NAME:
        return errno_name(_ERRNO_BY_NAME[name])
    return name  # E<n>


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONST = re.compile(r"[A-Z_][A-Z0-9_]*")
_LABEL = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_SAFE = re.compile(r"[A-Za-z0-9_./+:@%,=~^-]+")


def _split(text: str) -> tuple[list[str], str | None]:
    """Whitespace-separated tokens (quotes and brackets kept whole) and a trailing
    comment (what follows a ``#`` that starts a token)."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == "#":
            return tokens, text[i + 1 :]
        start, depth, quote = i, 0, ""
        while i < n:
            c = text[i]
            if quote:
                if c == "\\":
                    i += 1
                elif c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c in _OPEN:
                depth += 1
            elif c in _CLOSE:
                depth -= 1
            elif c.isspace() and depth <= 0:
                break
            i += 1
        if quote:
            raise ValueError("unterminated quote")
        if depth:
            raise ValueError("unbalanced brackets")
        tokens.append(text[start:i])
    return tokens, None


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside quotes and brackets."""
    parts: list[str] = []
    depth, quote, start, i = 0, "", 0, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _parse_int_literal(tok: str) -> Int:
    t = tok.strip()
    neg = t.startswith("-")
    body = t[1:] if neg else t
    low = body.lower()
    if low.startswith("0o"):
        value, base = int(body[2:], 8), 8
    elif low.startswith("0x"):
        value, base = int(body[2:], 16), 16
    elif body.isdigit():
        value, base = int(body, 10), 10
    else:
        raise ValueError(f"not an integer: {tok!r}")
    return Int(-value if neg else value, base)


def _parse_int_atom(tok: str) -> Int | Name | Label:
    t = tok.strip()
    m = _LABEL.fullmatch(t)
    if m:
        return Label(m.group(1))
    if _CONST.fullmatch(t) and not t.isdigit():
        return Name(t)
    return _parse_int_literal(t)


def _parse_int(tok: str) -> IntExpr:
    parts = _split_top(tok, "|")
    if len(parts) > 1:
        return Flags(tuple(_parse_int_atom(p) for p in parts))
    return _parse_int_atom(tok)


def _parse_quoted(tok: str) -> Any:
    return ast.literal_eval(tok)


def _parse_str(tok: str, allow_none: bool) -> Str | Null:
    if tok == "None":
        if not allow_none:
            raise ValueError("None is not allowed here")
        return Null()
    if tok[:1] in "'\"":
        value = _parse_quoted(tok)
        if not isinstance(value, str):
            raise ValueError(f"not a string: {tok!r}")
        return Str(value)
    return Str(tok)


def _parse_bytes_part(tok: str) -> BytesPart:
    t = tok.strip()
    if t[:2] in ("b'", 'b"'):
        value = _parse_quoted(t)
        if not isinstance(value, bytes):
            raise ValueError(f"not bytes: {tok!r}")
        return Bytes(value)
    if t.startswith("hex:"):
        return Bytes(bytes.fromhex(t[4:]), hex=True)
    m = re.fullmatch(r"(le32|le64|ld_map_fd)\((.*)\)", t)
    if m:
        return BytesFn(m.group(1), _parse_int(m.group(2)))
    if t in _BYTES_CONSTANTS:
        return Name(t)
    raise ValueError(f"not a bytes expression: {tok!r}")


def _parse_bytes(tok: str, allow_none: bool = False) -> BytesExpr | Null:
    if tok == "None":
        if not allow_none:
            raise ValueError("None is not allowed here")
        return Null()
    parts = _split_top(tok, "+")
    if len(parts) > 1:
        return BytesCat(tuple(_parse_bytes_part(p) for p in parts))
    return _parse_bytes_part(tok)


def _parse_list_inner(tok: str) -> list[str]:
    if not (tok.startswith("[") and tok.endswith("]")):
        raise ValueError(f"not a list: {tok!r}")
    inner = tok[1:-1].strip()
    return [p.strip() for p in _split_top(inner, ",")] if inner else []


def _parse_attr(tok: str) -> Attr | Bytes:
    if tok.startswith(("hex:", "b'", 'b"')):
        part = _parse_bytes_part(tok)
        assert isinstance(part, Bytes)
        return part
    if not (tok.startswith("attr(") and tok.endswith(")")):
        raise ValueError(f"not an attr: {tok!r}")
    inner = tok[5:-1].strip()
    items: list[tuple[str, AttrValue]] = []
    for item in _split_top(inner, ",") if inner else []:
        key, eq, val = item.strip().partition("=")
        key, val = key.strip(), val.strip()
        if not eq:
            raise ValueError(f"attr item without '=': {item!r}")
        if key.startswith("@"):
            if not key[1:].isdigit():
                raise ValueError(f"bad attr offset {key!r}")
            items.append((key, _parse_attr_value(val, raw=True)))
        elif _IDENT.fullmatch(key):
            items.append((key, _parse_attr_value(val, raw=False)))
        else:
            raise ValueError(f"bad attr field {key!r}")
    return Attr(tuple(items))


def _parse_attr_value(val: str, raw: bool) -> AttrValue:
    if val.startswith("str:"):
        rest = val[4:]
        if rest[:1] in "'\"":
            s = _parse_quoted(rest)
            if not isinstance(s, str):
                raise ValueError(f"not a string: {rest!r}")
            return CStr(s)
        return CStr(rest)
    if val.startswith("buf:"):
        return Buf(int(val[4:]))
    if val == "null":
        return Null()
    if val.startswith(("b'", 'b"', "hex:", "le32(", "le64(", "ld_map_fd(")) or (
        val in _BYTES_CONSTANTS
    ):
        b = _parse_bytes(val)
        assert not isinstance(b, Null)
        return b
    return _parse_int(val)


def _parse_arg(kind: str, tok: str) -> Arg:
    if kind == "p":
        return _parse_str(tok, allow_none=False)
    if kind == "P":
        return _parse_str(tok, allow_none=True)
    if kind == "i":
        return _parse_int(tok)
    if kind in "bB":
        return _parse_bytes(tok, allow_none=kind == "B")
    if kind == "l":
        return IntList(tuple(_parse_int(p) for p in _parse_list_inner(tok)))
    if kind == "a":
        return _parse_attr(tok)
    raise AssertionError(kind)


def _parse_result(text: str) -> Result:
    t = text.strip()
    if t == "ok":
        return Ok()
    if t.startswith("!"):
        return Failure(t[1:].strip())
    if t in _ERRNO_BY_NAME or re.fullmatch(r"E[0-9]+", t):
        return Errno(_canonical_errno(t))
    if t.startswith("fd "):
        ref = t[3:].strip()
        m = _LABEL.fullmatch(ref)
        return FdResult(Label(m.group(1)) if m else _parse_int_literal(ref))
    if t.startswith("task "):
        name = t[5:].strip()
        if not _IDENT.fullmatch(name) or name in _KEYWORDS:
            raise ValueError(f"bad task name {name!r}")
        return TaskResult(name)
    m = re.fullmatch(r"(stat|statfs)\((.*)\)", t, re.S)
    if m:
        fields: list[tuple[str, Int | Label]] = []
        inner = m.group(2).strip()
        for item in _split_top(inner, ",") if inner else []:
            key, eq, val = item.strip().partition("=")
            if not eq or not _IDENT.fullmatch(key.strip()):
                raise ValueError(f"bad field {item!r}")
            atom = _parse_int_atom(val)
            if isinstance(atom, Name):
                raise ValueError(f"bad field value {val!r}")
            fields.append((key.strip(), atom))
        return Record(m.group(1), tuple(fields))
    return Value(_parse_value(t))


def _parse_value(t: str) -> Int | Str | Bytes | Null | ValueList:
    if t == "None":
        return Null()
    if t.startswith("["):
        items: list[Int | Str] = []
        for p in _parse_list_inner(t):
            v = _parse_value(p)
            if not isinstance(v, (Int, Str)):
                raise ValueError(f"list items are ints or strings: {p!r}")
            items.append(v)
        return ValueList(tuple(items))
    if t[:1] in "'\"":
        s = _parse_quoted(t)
        if not isinstance(s, str):
            raise ValueError(f"not a string: {t!r}")
        return Str(s)
    if t[:2] in ("b'", 'b"') or t.startswith("hex:"):
        part = _parse_bytes_part(t)
        assert isinstance(part, Bytes)
        return part
    return _parse_int_literal(t)


def _parse_task_decl(tokens: list[str]) -> TaskDecl:
    if len(tokens) < 2 or not _IDENT.fullmatch(tokens[1]) or tokens[1] in _KEYWORDS:
        raise ValueError("task NAME key=value...")
    kw: dict[str, Any] = {"name": tokens[1]}
    for tok in tokens[2:]:
        key, eq, val = tok.partition("=")
        if not eq:
            raise ValueError(f"expected key=value, got {tok!r}")
        if key in ("uid", "gid"):
            kw[key] = int(val, 0)
        elif key == "groups":
            kw[key] = tuple(int(g, 0) for g in val.split(",") if g)
        elif key == "caps":
            kw[key] = None if val == "all" else tuple(_cap_name(c) for c in val.split(",") if c)
        elif key == "umask":
            kw[key] = int(val, 8) if not val.startswith("0o") else int(val[2:], 8)
        elif key == "cwd":
            kw[key] = _parse_str(val, allow_none=False).value  # type: ignore[union-attr]
        else:
            raise ValueError(f"unknown task key {key!r}")
    if "gid" not in kw:
        kw["gid"] = kw.get("uid", 0)
    if "caps" not in kw and kw.get("uid", 0) != 0:
        kw["caps"] = ()
    return TaskDecl(**kw)


def _cap_name(c: str) -> str:
    name = c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
    if name not in _CAP_NAMES:
        raise ValueError(f"unknown capability {c!r}")
    return name


def _parse_line(text: str, seen_step: bool, tasks: set[str]) -> Line:
    stripped = text.strip()
    if not stripped:
        return Comment(None)
    if stripped.startswith("#"):
        return Comment(text.lstrip()[1:])
    tokens, comment = _split(text)
    head = tokens[0]
    if head == "profile":
        if seen_step or len(tokens) != 2 or comment is not None:
            raise ValueError("profile NAME (before the first step)")
        return ProfileLine(tokens[1])
    if head == "sysctl":
        if seen_step or comment is not None:
            raise ValueError("sysctl lines come before the first step")
        values = []
        for tok in tokens[1:]:
            key, eq, val = tok.partition("=")
            if not eq:
                raise ValueError(f"expected NAME=VALUE, got {tok!r}")
            values.append((key, int(val, 0)))
        return SysctlLine(tuple(values))
    if head == "task":
        if seen_step or comment is not None:
            raise ValueError("task lines come before the first step")
        decl = _parse_task_decl(tokens)
        if decl.name in tasks:
            raise ValueError(f"task {decl.name!r} declared twice")
        tasks.add(decl.name)
        return decl
    if len(tokens) < 2:
        raise ValueError("a step is TASK OP ARGS... [-> RESULT]")
    task, op = tokens[0], tokens[1]
    if task not in tasks:
        raise ValueError(f"unknown task {task!r} (declare it or fork it first)")
    spec = OPS.get(op)
    if spec is None:
        raise ValueError(f"unknown operation {op!r}")
    rest = tokens[2:]
    expect: Result | None = None
    if "->" in rest:
        i = rest.index("->")
        if i == len(rest) - 1:
            raise ValueError("'->' without a result")
        expect = _parse_result(" ".join(rest[i + 1 :]))
        rest = rest[:i]
    if not spec.required <= len(rest) <= len(spec.args):
        raise ValueError(f"{op} takes {spec.doc or spec.args!r}: got {len(rest)} arguments")
    args = tuple(_parse_arg(kind, tok) for kind, tok in zip(spec.args, rest, strict=False))
    if isinstance(expect, TaskResult):
        if op != "fork":
            raise ValueError("only fork results in a task")
        if expect.name in tasks:
            raise ValueError(f"task {expect.name!r} exists already")
        tasks.add(expect.name)
    return Step(task, op, args, expect, comment)


def loads(text: str, name: str = "") -> Scenario:
    """Parse scenario text."""
    lines: list[Line] = []
    tasks: set[str] = set()
    seen_step = False
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    for lineno, line in enumerate(raw, 1):
        try:
            item = _parse_line(line, seen_step, tasks)
        except (ValueError, SyntaxError, KeyError) as e:
            raise ScenarioSyntaxError(str(e), name, lineno) from None
        seen_step = seen_step or isinstance(item, Step)
        lines.append(item)
    return Scenario(tuple(lines), name)


def load(path: str | os.PathLike[str]) -> Scenario:
    """Parse a scenario file (its name is the file's stem)."""
    p = Path(path)
    return loads(p.read_text(), p.stem)


# --------------------------------------------------------------------------- printing

_ALIGN_MAX = 46


def _fmt_int(v: Int) -> str:
    sign = "-" if v.value < 0 else ""
    a = abs(v.value)
    if v.base == 8:
        return f"{sign}0o{a:03o}"
    if v.base == 16:
        return f"{sign}0x{a:x}"
    return f"{sign}{a}"


def _fmt_int_expr(e: IntExpr) -> str:
    if isinstance(e, Int):
        return _fmt_int(e)
    if isinstance(e, Name):
        return e.name
    if isinstance(e, Label):
        return "$" + e.name
    return "|".join(_fmt_int_expr(p) for p in e.parts)


def _fmt_str(s: str) -> str:
    if _SAFE.fullmatch(s) and s not in ("None", "->", "null") and not s.startswith("b'"):
        return s
    return repr(s)


def _fmt_bytes(b: Bytes) -> str:
    if b.hex:
        return "hex:" + b.value.hex()
    return "b'" + "".join(f"\\x{c:02x}" for c in b.value) + "'"


def _fmt_bytes_expr(e: BytesExpr | Null) -> str:
    if isinstance(e, Null):
        return "None"
    if isinstance(e, Bytes):
        return _fmt_bytes(e)
    if isinstance(e, BytesFn):
        return f"{e.fn}({_fmt_int_expr(e.arg)})"
    if isinstance(e, Name):
        return e.name
    return "+".join(_fmt_bytes_expr(p) for p in e.parts)


def _fmt_attr_value(v: AttrValue) -> str:
    if isinstance(v, CStr):
        text = _fmt_str(v.value)
        return "str:" + (repr(v.value) if "," in text and text[:1] not in "'\"" else text)
    if isinstance(v, Buf):
        return f"buf:{v.size}"
    if isinstance(v, Null):
        return "null"
    if isinstance(v, (Bytes, BytesFn, BytesCat)):
        return _fmt_bytes_expr(v)
    if isinstance(v, Name) and v.name in _BYTES_CONSTANTS:
        return v.name
    return _fmt_int_expr(v)


def _fmt_arg(a: Arg) -> str:
    if isinstance(a, (Int, Name, Label, Flags)) and not (
        isinstance(a, Name) and a.name in _BYTES_CONSTANTS
    ):
        return _fmt_int_expr(a)
    if isinstance(a, Str):
        return _fmt_str(a.value)
    if isinstance(a, Null):
        return "None"
    if isinstance(a, (Bytes, BytesFn, BytesCat, Name)):
        return _fmt_bytes_expr(a)
    if isinstance(a, IntList):
        return "[" + ",".join(_fmt_int_expr(i) for i in a.items) + "]"
    items = ",".join(f"{k}={_fmt_attr_value(v)}" for k, v in a.items)
    return f"attr({items})"


def format_result(r: Result) -> str:
    """The text of a result, as it appears after ``->``."""
    if isinstance(r, Ok):
        return "ok"
    if isinstance(r, Errno):
        return r.name
    if isinstance(r, FdResult):
        ref = r.ref
        return "fd " + ("$" + ref.name if isinstance(ref, Label) else _fmt_int(ref))
    if isinstance(r, TaskResult):
        return "task " + r.name
    if isinstance(r, Failure):
        return "!" + r.text
    if isinstance(r, Record):
        inner = ", ".join(
            f"{k}={'$' + v.name if isinstance(v, Label) else _fmt_int(v)}" for k, v in r.fields
        )
        return f"{r.kind}({inner})"
    return _fmt_value(r.value)


def _fmt_value(v: Int | Str | Bytes | Null | ValueList) -> str:
    if isinstance(v, Int):
        return _fmt_int(v)
    if isinstance(v, Str):
        return repr(v.value)
    if isinstance(v, Bytes):
        return _fmt_bytes(v)
    if isinstance(v, Null):
        return "None"
    return "[" + ", ".join(_fmt_value(i) for i in v.items) + "]"


def format_call(step: Step) -> str:
    """``TASK OP ARGS`` of a step."""
    return " ".join([step.task, step.op, *(_fmt_arg(a) for a in step.args)])


def _fmt_task(t: TaskDecl) -> str:
    caps = "all" if t.caps is None else ",".join(t.caps)
    groups = ",".join(str(g) for g in t.groups)
    out = f"task {t.name} uid={t.uid} gid={t.gid} groups={groups} caps={caps} umask={t.umask:03o}"
    if t.cwd != "/":
        out += f" cwd={_fmt_str(t.cwd)}"
    return out


def dumps(scenario: Scenario) -> str:
    """Print a scenario (the canonical text: results aligned, one space elsewhere)."""
    calls = [format_call(s) for s in scenario.steps if s.expect is not None]
    fitting = [len(c) for c in calls if len(c) <= _ALIGN_MAX]
    width = max(fitting, default=0)
    out: list[str] = []
    for line in scenario.lines:
        if isinstance(line, Comment):
            out.append("" if line.text is None else "#" + line.text)
        elif isinstance(line, ProfileLine):
            out.append(f"profile {line.name}")
        elif isinstance(line, SysctlLine):
            out.append(" ".join(["sysctl", *(f"{k}={v}" for k, v in line.values)]))
        elif isinstance(line, TaskDecl):
            out.append(_fmt_task(line))
        else:
            text = format_call(line)
            if line.expect is not None:
                text = f"{text.ljust(width)} -> {format_result(line.expect)}"
            if line.comment is not None:
                text += "  #" + line.comment
            out.append(text)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- profiles


def resolve_profile(name: str | None) -> tuple[Profile, str | None]:
    """The profile called ``name`` (``LINUX_6_18`` or ``linux-6.18``) and a warning,
    or SEED and a warning when it is unknown."""
    from pinfs.base import profiles

    if name is None:
        return profiles.SEED, None
    obj = getattr(profiles, name, None)
    if isinstance(obj, profiles.Profile):
        return obj, None
    by_name = getattr(profiles, "by_name", None)
    if by_name is not None:
        try:
            found = by_name(name)
        except (KeyError, ValueError):
            pass
        else:
            if isinstance(found, profiles.Profile):
                return found, None
    return profiles.SEED, f"unknown profile {name!r}: using SEED"


# --------------------------------------------------------------------------- running


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What one step gave on one backend."""

    index: int  # 1-based among the steps
    lineno: int
    step: Step
    observed: Result
    text: str  # format_result(observed)

    @property
    def matches(self) -> bool | None:
        """Whether the observation is the expectation (None if there is none)."""
        if self.step.expect is None:
            return None
        return results_equal(self.step.expect, self.observed)


def results_equal(a: Result, b: Result) -> bool:
    """Equal results (integers compare by value whatever their base)."""
    return format_result(_canon(a)) == format_result(_canon(b))


def _canon(r: Result) -> Result:
    if isinstance(r, Value) and isinstance(r.value, Int):
        return Value(Int(r.value.value))
    if isinstance(r, Record):
        return Record(
            r.kind, tuple((k, Int(v.value) if isinstance(v, Int) else v) for k, v in r.fields)
        )
    if isinstance(r, Value) and isinstance(r.value, ValueList):
        return Value(
            ValueList(tuple(Int(i.value) if isinstance(i, Int) else i for i in r.value.items))
        )
    return r


class Run(list[StepResult]):
    """The step results of one run, with the backend's name and its warnings."""

    def __init__(self, backend: str, results: Iterable[StepResult] = ()) -> None:
        super().__init__(results)
        self.backend = backend
        self.warnings: list[str] = []
        self.all_caps: tuple[int, ...] = ()  # what caps=all meant


class _Unbound(Exception):
    pass


class _Dead(Exception):
    pass


class Session:
    """One run on one backend: tasks by name and the label bindings."""

    backend_name = "?"

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.all_caps: tuple[int, ...] = ()

    def spawn(self, decl: TaskDecl) -> Any:
        raise NotImplementedError

    def call(self, task: Any, op: str, args: list[Any]) -> Any:
        raise NotImplementedError

    def alloc(self, task: Any, data: bytes) -> int:
        raise NotImplementedError

    def free(self, task: Any, address: int) -> None:
        raise NotImplementedError

    def raw_bpf(self, task: Any, cmd: int, address: int, size: int) -> int:
        raise NotImplementedError

    def alive(self, task: Any) -> bool:
        raise NotImplementedError

    def finish(self) -> None:
        """Release what the run made."""


class Backend:
    """Makes a :class:`Session` per scenario run."""

    name = "?"

    def start(self, scenario: Scenario) -> Session:
        raise NotImplementedError


def effective_sysctls(scenario: Scenario) -> dict[str, int]:
    """The reference sysctls, overridden by the scenario's ``sysctl`` lines."""
    values = dict(REFERENCE_SYSCTLS)
    values.update(scenario.sysctls)
    return values


class PinfsBackend(Backend):
    """A fresh :class:`pinfs.Kernel` per run.  ``profile`` overrides the scenario's;
    ``all_caps`` is what ``caps=all`` means (default :data:`REFERENCE_ALL_CAPS`)."""

    name = "pinfs"

    def __init__(
        self,
        profile: Profile | str | None = None,
        *,
        all_caps: Iterable[int] | None = None,
        sysctls: dict[str, int] | None = None,
        check_invariants: bool = True,
    ) -> None:
        self.profile = profile
        self.all_caps = tuple(REFERENCE_ALL_CAPS if all_caps is None else all_caps)
        self.sysctls = dict(sysctls or {})
        self.check_invariants = check_invariants

    def start(self, scenario: Scenario) -> Session:
        from pinfs.base import profiles

        warnings: list[str] = []
        prof = self.profile
        if isinstance(prof, profiles.Profile):
            profile = prof
        else:
            profile, warning = resolve_profile(prof if prof is not None else scenario.profile)
            if warning:
                warnings.append(warning)
        session = _PinfsSession(profile, self.all_caps, self.check_invariants)
        session.warnings.extend(warnings)
        values = effective_sysctls(scenario)
        values.update(self.sysctls)
        for key, value in values.items():
            if key in session.kernel.sysctl:
                session.kernel.sysctl[key] = value
            else:
                session.warnings.append(f"pinfs has no sysctl {key}")
        return session


class _PinfsSession(Session):
    backend_name = "pinfs"

    def __init__(self, profile: Profile, all_caps: tuple[int, ...], check: bool) -> None:
        super().__init__()
        from pinfs.machine.kernel import Kernel

        self.kernel = Kernel(profile=profile)
        self.all_caps = all_caps
        self.check = check

    def spawn(self, decl: TaskDecl) -> Any:
        caps = (
            list(self.all_caps) if decl.caps is None else [_CAP_NAMES.index(c) for c in decl.caps]
        )
        available = self.kernel.init_task.cred.cap_permitted
        kept = [c for c in caps if available >> c & 1]
        if len(kept) != len(caps):
            dropped = sorted(set(caps) - set(kept))
            names = ",".join(_CAP_NAMES[c] for c in dropped)
            self.warnings.append(f"pinfs init lacks {names}: task {decl.name} runs without them")
        task = self.kernel.spawn(uid=decl.uid, gid=decl.gid, groups=decl.groups, caps=kept)
        task.umask(decl.umask)
        if decl.cwd != "/":
            task.chdir(decl.cwd)
        return task

    def call(self, task: Any, op: str, args: list[Any]) -> Any:
        if op == "listdir":
            return task.listdir(*args)
        if op == "prog_load":
            prog_type, insns, *rest = args
            kw: dict[str, Any] = {}
            if rest:
                kw["license"] = rest[0]
            if len(rest) > 1:
                kw["kern_version"] = rest[1]
            return task.prog_load(prog_type, insns, **kw)
        return getattr(task, op)(*args)

    def alloc(self, task: Any, data: bytes) -> int:
        return int(task.mem.alloc(data))

    def free(self, task: Any, address: int) -> None:
        task.mem.free(address)

    def raw_bpf(self, task: Any, cmd: int, address: int, size: int) -> int:
        return int(task.bpf(cmd, address, size))

    def alive(self, task: Any) -> bool:
        return bool(getattr(task, "alive", True))

    def finish(self) -> None:
        if self.check:
            try:
                self.kernel.check_invariants()
            except Exception as e:
                self.warnings.append(f"pinfs invariants broken after the run: {e}")


class LiveBackend(Backend):
    """The live kernel: ``kernel`` is reused (each run spawns and ends its own tasks),
    or a fresh :class:`~pinfs.live.kernel.LiveKernel` is started per run."""

    name = "live"

    def __init__(self, kernel: LiveKernel | None = None) -> None:
        self.kernel = kernel

    def start(self, scenario: Scenario) -> Session:
        from pinfs.live.kernel import LiveKernel

        own = self.kernel is None
        kernel = LiveKernel() if self.kernel is None else self.kernel
        session = _LiveSession(kernel, own)
        for key, want in effective_sysctls(scenario).items():
            have = host_sysctl(key)
            if have is not None and have != want:
                session.warnings.append(f"live host has {key}={have}, the scenario assumes {want}")
        return session


def host_sysctl(key: str) -> int | None:
    """The host's value of a sysctl (None if unreadable)."""
    try:
        with open("/proc/sys/" + key.replace(".", "/")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


#: sizeof(struct bpf_map_info) is about 100 bytes on 6.18; bpf_prog_info over 200.
_MAP_INFO_MAX = 160


def _caps_of(decl: TaskDecl, all_caps: tuple[int, ...]) -> list[int]:
    if decl.caps is None:
        return list(all_caps)
    return [_CAP_NAMES.index(c) for c in decl.caps]


def live_all_caps(kernel: LiveKernel) -> tuple[int, ...]:
    """The capabilities a live root can have (its init's permitted set)."""
    _, permitted, _ = kernel.init_task.capget()
    return tuple(c for c in range(64) if permitted >> c & 1)


class _LiveSession(Session):
    backend_name = "live"

    def __init__(self, kernel: LiveKernel, own: bool) -> None:
        super().__init__()
        self.kernel = kernel
        self.own = own
        self.tasks: list[Any] = []
        self.all_caps = live_all_caps(kernel)

    def spawn(self, decl: TaskDecl) -> Any:
        caps = (
            list(self.all_caps) if decl.caps is None else [_CAP_NAMES.index(c) for c in decl.caps]
        )
        kept = [c for c in caps if c in self.all_caps]
        if len(kept) != len(caps):
            names = ",".join(_CAP_NAMES[c] for c in sorted(set(caps) - set(kept)))
            self.warnings.append(f"live init lacks {names}: task {decl.name} runs without them")
        task = self.kernel.spawn(uid=decl.uid, gid=decl.gid, groups=decl.groups, caps=kept)
        self.tasks.append(task)
        task.umask(decl.umask)
        if decl.cwd != "/":
            task.chdir(decl.cwd)
        return task

    def call(self, task: Any, op: str, args: list[Any]) -> Any:
        if op == "map_lookup_elem":
            key_size, value_size = self._map_sizes(task, args[0])
            return self._elem(task, 1, args[0], args[1], value_size)
        if op == "map_get_next_key":
            key_size, _ = self._map_sizes(task, args[0])
            return self._elem(task, 4, args[0], args[1] if len(args) > 1 else None, key_size)
        if op == "prog_load":
            prog_type, insns, *rest = args
            kw: dict[str, Any] = {}
            if len(rest) > 1:
                kw["kern_version"] = rest[1]
            return task.prog_load(prog_type, insns, rest[0] if rest else "GPL", **kw)
        if op == "fork":
            child = task.fork()
            self.tasks.append(child)
            return child
        return getattr(task, op)(*args)

    def _map_sizes(self, task: Any, fd: int) -> tuple[int, int]:
        """Key and value sizes of the map at ``fd`` via BPF_OBJ_GET_INFO_BY_FD, or
        (8, 8) if it is not a map (the kernel then refuses the fd before it touches
        the buffers).  A program's info is far longer than a map's, which tells
        them apart (LiveTask.bpf_map_info reads a program's info as a map's)."""
        size = 512
        buf = task.write_user(bytes(size))
        attr = task.write_user(struct.pack("<IIQ", fd & 0xFFFFFFFF, size, buf))
        try:
            task.bpf(15, attr, 16)
            info_len = struct.unpack_from("<I", task.read_user(attr, 16), 4)[0]
            info = task.read_user(buf, 24)
        except OSError:
            return 8, 8
        finally:
            task.free_user(attr)
            task.free_user(buf)
        if info_len > _MAP_INFO_MAX:
            return 8, 8
        _, _, key_size, value_size = struct.unpack_from("<4I", info)
        return key_size, value_size

    def _elem(self, task: Any, cmd: int, fd: int, key: bytes | None, out_size: int) -> bytes:
        """LOOKUP_ELEM / GET_NEXT_KEY with an ``out_size`` output buffer."""
        out = task.write_user(bytes(max(out_size, 1)))
        kaddr = task.write_user(key) if key is not None else 0
        attr = task.write_user(struct.pack("<IIQQQ", fd & 0xFFFFFFFF, 0, kaddr, out, 0))
        try:
            task.bpf(cmd, attr, 32)
            return bytes(task.read_user(out, out_size))
        finally:
            for addr in (attr, out, kaddr):
                if addr:
                    task.free_user(addr)

    def alloc(self, task: Any, data: bytes) -> int:
        return int(task.write_user(data))

    def free(self, task: Any, address: int) -> None:
        task.free_user(address)

    def raw_bpf(self, task: Any, cmd: int, address: int, size: int) -> int:
        return int(task.bpf(cmd, address, size))

    def alive(self, task: Any) -> bool:
        return bool(task.alive)

    def finish(self) -> None:
        if self.own:
            self.kernel.close()
            return
        for task in self.tasks:
            if task.alive:
                with contextlib.suppress(OSError, RuntimeError):
                    task.exit(0)


# ---- evaluation of arguments


@dataclasses.dataclass
class _Env:
    labels: dict[str, int] = dataclasses.field(default_factory=dict)
    tasks: dict[str, Any] = dataclasses.field(default_factory=dict)
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


#: uapi ``union bpf_attr`` fields by command: name -> (offset, size).
_ATTR_FIELDS: dict[int, dict[str, tuple[int, int]]] = {
    0: {"map_type": (0, 4), "key_size": (4, 4), "value_size": (8, 4), "max_entries": (12, 4),
        "map_flags": (16, 4), "inner_map_fd": (20, 4), "numa_node": (24, 4),
        "map_name": (28, 16)},
    1: {"map_fd": (0, 4), "key": (8, 8), "value": (16, 8), "next_key": (16, 8), "flags": (24, 8)},
    5: {"prog_type": (0, 4), "insn_cnt": (4, 4), "insns": (8, 8), "license": (16, 8),
        "log_level": (24, 4), "log_size": (28, 4), "log_buf": (32, 8), "kern_version": (40, 4),
        "prog_flags": (44, 4), "prog_name": (48, 16)},
    6: {"pathname": (0, 8), "bpf_fd": (8, 4), "file_flags": (12, 4), "path_fd": (16, 4)},
}  # fmt: skip
for _c in (2, 3, 4):
    _ATTR_FIELDS[_c] = _ATTR_FIELDS[1]
_ATTR_FIELDS[7] = _ATTR_FIELDS[6]
_ATTR_ALL = {k: v for fields in _ATTR_FIELDS.values() for k, v in fields.items()}


def _raw_bpf(
    session: Session, task: Any, cmd: int, attr: Attr | Bytes, size: int | None, env: _Env
) -> int:
    """Build the attr in the task's memory (pointers to buffers made for it), call
    bpf(2), and unmap everything."""
    addresses: list[int] = []
    try:
        if isinstance(attr, Bytes):
            buf = bytearray(attr.value)
        else:
            fields = _ATTR_FIELDS.get(cmd, _ATTR_ALL)
            writes: list[tuple[int, bytes]] = []
            for key, value in attr.items:
                if key.startswith("@"):
                    off = int(key[1:])
                    if isinstance(value, (Int, Name, Label, Flags)):
                        data = bytes([_eval_int(value, env) & 0xFF])
                    elif isinstance(value, (Bytes, BytesFn, BytesCat)):
                        data = _eval_bytes(value, env)
                    else:
                        raise _Unbound(f"@{off} takes a byte or bytes")
                    writes.append((off, data))
                    continue
                spec = fields.get(key) or _ATTR_ALL.get(key)
                if spec is None:
                    raise _Unbound(f"unknown attr field {key!r}")
                off, width = spec
                if isinstance(value, CStr):
                    addr = session.alloc(task, os.fsencode(value.value) + b"\0")
                    addresses.append(addr)
                    number = addr
                elif isinstance(value, Buf):
                    addr = session.alloc(task, bytes(value.size))
                    addresses.append(addr)
                    number = addr
                elif isinstance(value, Null):
                    number = 0
                elif isinstance(value, (Bytes, BytesFn, BytesCat)) or (
                    isinstance(value, Name) and value.name in _BYTES_CONSTANTS
                ):
                    raw = _eval_bytes(value, env)
                    if key in ("map_name", "prog_name"):
                        writes.append((off, raw[:width]))
                        continue
                    addr = session.alloc(task, raw)
                    addresses.append(addr)
                    number = addr
                else:
                    number = _eval_int(value, env)
                writes.append((off, (number & ((1 << 8 * width) - 1)).to_bytes(width, "little")))
            end = max((off + len(data) for off, data in writes), default=0)
            buf = bytearray(max(48, end))
            for off, data in writes:
                buf[off : off + len(data)] = data
        if size is None:
            size = len(buf)
        if size > len(buf):
            buf.extend(bytes(size - len(buf)))
        addr = session.alloc(task, bytes(buf))
        addresses.append(addr)
        return session.raw_bpf(task, cmd, addr, size)
    finally:
        for addr in addresses:
            with contextlib.suppress(Exception):  # the task may have died
                session.free(task, addr)


def _typed_as_raw(op: str, args: list[Any]) -> tuple[int, Attr] | None:
    """obj_pin/obj_get/map_create with the optional later fields go through raw bpf on
    every backend (the typed helpers may not take them)."""
    if op == "obj_pin" and len(args) > 2:
        fd, path, flags, *rest = args
        items: list[tuple[str, AttrValue]] = [
            ("pathname", CStr(path)),
            ("bpf_fd", Int(fd)),
            ("file_flags", Int(flags)),
        ]
        if rest:
            items.append(("path_fd", Int(rest[0])))
        return 6, Attr(tuple(items))
    if op == "obj_get" and len(args) > 1:
        path, flags, *rest = args
        items = [("pathname", CStr(path)), ("file_flags", Int(flags))]
        if rest:
            items.append(("path_fd", Int(rest[0])))
        return 7, Attr(tuple(items))
    if op == "map_create" and len(args) > 4:
        names = ("map_type", "key_size", "value_size", "max_entries", "map_flags")
        return 0, Attr(tuple((n, Int(v)) for n, v in zip(names, args, strict=False)))
    return None


# ---- rendering observations


def _bind(label: Label, value: int, env: _Env) -> Label:
    """``label`` if it is unbound (it gets ``value``) or already has ``value``;
    otherwise a fresh label for ``value`` (which then fails the comparison)."""
    if label.name in env.labels:
        if env.labels[label.name] == value:
            return label
        label = _fresh_label(label.name + "_", env)
    env.labels[label.name] = value
    return label


def _fresh_label(prefix: str, env: _Env) -> Label:
    n = 1
    while True:
        name = prefix if n == 1 else f"{prefix}{n}"
        if name not in env.labels:
            return Label(name)
        n += 1


_STAT_DEFAULT = ("mode", "nlink", "uid", "gid", "size")
_STATFS_DEFAULT = ("type", "namelen")
_OCTAL_FIELDS = {"mode"}
_HEX_FIELDS = {"type", "flags"}


def _render_record(kind: str, value: Any, expect: Result | None, env: _Env, op: str) -> Record:
    if isinstance(expect, Record) and expect.kind == kind and expect.fields:
        wanted = [k for k, _ in expect.fields]
        expected = dict(expect.fields)
    else:
        wanted = list(_STAT_DEFAULT if kind == "stat" else _STATFS_DEFAULT)
        expected = {}
        if kind == "stat" and (value.st_mode & 0o170000) == 0o040000:
            wanted.remove("size")  # directory sizes are filesystem-specific
    fields: list[tuple[str, Int | Label]] = []
    for key in wanted:
        raw = getattr(value, ("st_" if kind == "stat" else "f_") + key, None)
        if raw is None:
            raise _Unbound(f"{kind} has no field {key!r}")
        if isinstance(raw, tuple):
            raw = raw[0]
        raw = int(raw)
        exp = expected.get(key)
        if isinstance(exp, Label):
            fields.append((key, _bind(exp, raw, env)))
        elif key in ("ino", "dev") and exp is None:
            fields.append((key, _bind(_fresh_label(key[0], env), raw, env)))
        else:
            base = 8 if key in _OCTAL_FIELDS else 16 if key in _HEX_FIELDS else 10
            fields.append((key, Int(raw, base)))
    return Record(kind, tuple(fields))


def _render(
    step: Step, kind: str, value: Any, env: _Env, new_task: Any = None, cmd: int = -1
) -> Result:
    expect = step.expect
    if kind == "bpf":
        if cmd in FD_COMMANDS and value >= 0:
            kind = "fd"
        elif value == 0:
            return Ok()
        else:
            return Value(Int(int(value)))
    if kind == "none":
        return Ok()
    if kind == "fd":
        v = int(value)
        if isinstance(expect, FdResult) and isinstance(expect.ref, Label):
            return FdResult(_bind(expect.ref, v, env))
        prefix = _FD_PREFIX.get(step.op, "x")
        if expect is not None:  # an fd where something else was expected
            prefix += "_"  # (never one of the scenario's own labels)
        label = _fresh_label(prefix, env)
        env.labels[label.name] = v
        return FdResult(label)
    if kind == "task":
        if isinstance(expect, TaskResult):
            name = expect.name
        else:
            env.forked += 1
            name = f"child{env.forked}"
            while name in env.tasks:
                env.forked += 1
                name = f"child{env.forked}"
        env.tasks[name] = new_task
        return TaskResult(name)
    if kind == "mode":
        return Value(Int(int(value), 8))
    if kind == "int":
        return Value(Int(int(value)))
    if kind == "bytes":
        return Value(Bytes(bytes(value)))
    if kind == "str":
        return Value(Str(str(value)))
    if kind == "names":
        return Value(ValueList(tuple(Str(str(n)) for n in sorted(value))))
    if kind == "ints":
        return Value(ValueList(tuple(Int(int(n)) for n in value)))
    if kind in ("stat", "statfs"):
        return _render_record(kind, value, expect, env, step.op)
    raise AssertionError(kind)


def clean_failure(text: str) -> str:
    """A harness message made safe for a result: no quotes, brackets or ``#``, and
    single spaces."""
    text = re.sub(r"[\'\"()\[\]{}#\\]", " ", text)
    return " ".join(text.split()) or "failure"


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno:
        return int(exc.errno)
    return None


def _run_step(session: Session, step: Step, env: _Env) -> Result:
    spec = OPS[step.op]
    task = env.tasks.get(step.task)
    if task is None:
        return Failure(f"no task {step.task}")
    if not session.alive(task):
        return Failure(f"task {step.task} has exited")
    cmd = -1
    try:
        args = [_eval_arg(k, a, env) for k, a in zip(spec.args, step.args, strict=False)]
        if step.op == "bpf":
            cmd = args[0]
            size = args[2] if len(args) > 2 else None
            value: Any = _raw_bpf(session, task, cmd, step.args[1], size, env)  # type: ignore[arg-type]
        else:
            raw = _typed_as_raw(step.op, args)
            if raw is not None:
                cmd = raw[0]
                value = _raw_bpf(session, task, raw[0], raw[1], None, env)
            else:
                value = session.call(task, step.op, args)
    except _Unbound as e:
        return Failure(clean_failure(str(e)))
    except Exception as e:
        err = _errno_of(e)
        if err is not None:
            return Errno(errno_name(err))
        return Failure(clean_failure(f"{type(e).__name__}: {e}"))
    try:
        if step.op == "fork":
            return _render(step, "task", None, env, new_task=value)
        return _render(step, spec.result, value, env, cmd=cmd)
    except _Unbound as e:
        return Failure(clean_failure(str(e)))


def _backend(backend: Backend | str) -> Backend:
    if isinstance(backend, Backend):
        return backend
    if backend == "pinfs":
        return PinfsBackend()
    if backend == "live":
        return LiveBackend()
    raise ValueError(f"unknown backend {backend!r}: 'pinfs', 'live' or a Backend")


def run_scenario(scenario: Scenario, backend: Backend | str = "pinfs") -> Run:
    """Run every step on ``backend``; a step's failure never stops the run."""
    b = _backend(backend)
    session = b.start(scenario)
    run = Run(b.name)
    run.all_caps = session.all_caps
    env = _Env()
    try:
        for decl in scenario.tasks:
            env.tasks[decl.name] = session.spawn(decl)
        for index, (lineno, step) in enumerate(scenario.numbered_steps(), 1):
            observed = _run_step(session, step, env)
            run.append(StepResult(index, lineno, step, observed, format_result(observed)))
    finally:
        session.finish()
        run.warnings.extend(session.warnings)
    return run


def with_results(scenario: Scenario, results: Sequence[StepResult]) -> Scenario:
    """The scenario with every step's expectation replaced by what was observed."""
    by_line = {r.lineno: r.observed for r in results}
    lines = [
        dataclasses.replace(line, expect=by_line[i])
        if isinstance(line, Step) and i in by_line
        else line
        for i, line in enumerate(scenario.lines, 1)
    ]
    return Scenario(tuple(lines), scenario.name)


def record(scenario: Scenario, backend: Backend | str = "live") -> tuple[Scenario, Run]:
    """Run ``scenario`` and freeze the observed results into it (SibylFS's
    ``posix -o``); returns the new scenario and the run."""
    run = run_scenario(scenario, backend)
    return with_results(scenario, run), run


def iter_scenarios(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Scenario files: the files given, and ``*.scn`` under the directories given."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from sorted(path.rglob("*.scn"))
        else:
            yield path


def describe_ops() -> str:
    """The operation table as text."""
    lines = []
    for name, spec in OPS.items():
        lines.append(f"{name:18} {spec.doc or spec.args:50} -> {spec.result}")
    return "\n".join(lines)
