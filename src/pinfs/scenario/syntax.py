"""The syntax tree of a scenario: one record per kind of line, argument and result."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs


@attrs.frozen
class Int:
    """An integer literal; ``base`` (10, 8 or 16) only affects printing."""

    value: int
    base: int = attrs.field(default=10, eq=False)


@attrs.frozen
class Name:
    """A constant (``O_CREAT``, ``BPF_OBJ_GET``, ``INSNS_RET0``), resolved when run."""

    name: str


@attrs.frozen
class Label:
    """``$name``: a number bound by an earlier result."""

    name: str


@attrs.frozen
class Flags:
    """``A|B|0x10``: the bitwise or of two or more parts."""

    parts: tuple[Int | Name | Label, ...]


IntExpr = Int | Name | Label | Flags


@attrs.frozen
class Str:
    """A path or string argument, or a string result."""

    value: str


@attrs.frozen
class Null:
    """``None``: a NULL pointer or an absent value."""


@attrs.frozen
class Bytes:
    """A bytes literal: ``b'\\x00'`` or, with ``hex``, ``hex:00``."""

    value: bytes
    hex: bool = False


@attrs.frozen
class BytesFn:
    """``le32(x)``, ``le64(x)`` or ``ld_map_fd(x)``."""

    fn: str
    arg: IntExpr


BytesPart = Bytes | BytesFn | Name


@attrs.frozen
class BytesCat:
    """Two or more byte parts joined with ``+``."""

    parts: tuple[BytesPart, ...]


BytesExpr = Bytes | BytesFn | Name | BytesCat


@attrs.frozen
class IntList:
    """``[1, 2]``: a list of integers (``setgroups``)."""

    items: tuple[IntExpr, ...]


@attrs.frozen
class CStr:
    """``str:TEXT`` in an attr: a pointer to the NUL-terminated string."""

    value: str


@attrs.frozen
class Buf:
    """``buf:N`` in an attr: a pointer to N zero bytes."""

    size: int


AttrValue = Int | Name | Label | Flags | CStr | Bytes | BytesFn | Name | BytesCat | Buf | Null


@attrs.frozen
class Attr:
    """``attr(name=value, @offset=bytes, ...)`` for raw ``bpf``."""

    items: tuple[tuple[str, AttrValue], ...]


Arg = Int | Name | Label | Flags | Str | Null | Bytes | BytesFn | BytesCat | IntList | Attr


@attrs.frozen
class Ok:
    """``ok``: success without a value."""


@attrs.frozen
class Errno:
    """A failure with this errno (canonical name, e.g. ``ENOENT``)."""

    name: str


@attrs.frozen
class FdResult:
    """``fd $label`` (or ``fd 5`` when a number contradicts the label)."""

    ref: Label | Int


@attrs.frozen
class TaskResult:
    """``task NAME``: fork made a task of that name."""

    name: str


@attrs.frozen
class ValueList:
    """``['a', 'b']`` or ``[1024, 4096]``."""

    items: tuple[Int | Str, ...]


@attrs.frozen
class Value:
    """A literal result."""

    value: Int | Str | Bytes | Null | ValueList


@attrs.frozen
class Record:
    """``stat(...)`` or ``statfs(...)``: a projection of the result's fields."""

    kind: str
    fields: tuple[tuple[str, Int | Label], ...]


@attrs.frozen
class Failure:
    """``!Kind: message``: the harness could not make the call."""

    text: str


Result = Ok | Errno | FdResult | TaskResult | Value | Record | Failure


@attrs.frozen
class Comment:
    """A ``#`` line (``text`` is what follows the ``#``) or, with ``text=None``, a
    blank line."""

    text: str | None


@attrs.frozen
class ProfileLine:
    """``profile NAME [SWITCH=VALUE ...]``: a preset, with some switches changed."""

    name: str
    switches: tuple[tuple[str, Any], ...] = ()


@attrs.frozen
class SysctlLine:
    values: tuple[tuple[str, int], ...]


@attrs.frozen
class TaskDecl:
    """A task forked from init when the scenario starts; after a step, a task that
    ``parent`` (``from=NAME``) spawns there, the way a launcher would: fork, then the
    credentials, umask and cwd."""

    name: str
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    caps: tuple[str, ...] | None = None  # None: all
    umask: int = 0o022
    cwd: str = "/"
    parent: str | None = None


@attrs.frozen
class Step:
    task: str
    op: str
    args: tuple[Arg, ...]
    expect: Result | None = None
    comment: str | None = None


Line = Comment | ProfileLine | SysctlLine | TaskDecl | Step


@attrs.frozen
class Scenario:
    """A parsed scenario: its lines, in order (each is one line of text)."""

    lines: tuple[Line, ...]
    name: str = attrs.field(default="", eq=False)

    @property
    def profile(self) -> str | None:
        for line in self.lines:
            if isinstance(line, ProfileLine):
                return line.name
        return None

    @property
    def profile_switches(self) -> dict[str, Any]:
        """The switches the ``profile`` line changes from its preset."""
        for line in self.lines:
            if isinstance(line, ProfileLine):
                return dict(line.switches)
        return {}

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
