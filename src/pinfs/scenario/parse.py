"""Parsing scenario text (:func:`loads`, :func:`load`)."""

from __future__ import annotations

import ast
import errno as _errno
import os
import re
from pathlib import Path
from typing import Any

from pinfs.base.errors import KERNEL_ERRNOS, errno_name
from pinfs.base.profiles import switches
from pinfs.scenario.ops import _KEYWORDS, OPS
from pinfs.scenario.syntax import (
    Arg,
    Attr,
    AttrValue,
    Buf,
    Bytes,
    BytesCat,
    BytesExpr,
    BytesFn,
    BytesPart,
    Comment,
    CStr,
    Errno,
    Failure,
    FdResult,
    Flags,
    Int,
    IntExpr,
    IntList,
    Label,
    Line,
    Name,
    Null,
    Ok,
    ProfileLine,
    Record,
    Result,
    Scenario,
    Step,
    Str,
    SysctlLine,
    TaskDecl,
    TaskResult,
    Value,
    ValueList,
)
from pinfs.scenario.values import _BYTES_CONSTANTS, _CAP_NAMES


class ScenarioSyntaxError(ValueError):
    """A scenario file that does not parse (with its name and line number)."""

    def __init__(self, message: str, name: str = "", lineno: int = 0) -> None:
        where = f"{name or '<scenario>'}:{lineno}: " if lineno else ""
        super().__init__(where + message)
        self.lineno = lineno


_OPEN = "([{"
_CLOSE = ")]}"
_ERRNO_BY_NAME: dict[str, int] = {
    **{name: getattr(_errno, name) for name in dir(_errno) if re.fullmatch(r"E[A-Z0-9]+", name)},
    **{name: num for num, name in KERNEL_ERRNOS.items()},
}


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


def _is_bytes_expr(val: str) -> bool:
    """Whether an attr value is bytes: its first ``+`` part (``INSNS_RET0+b''`` too)."""
    first = _split_top(val, "+")[0].strip()
    return first.startswith(("b'", 'b"', "hex:", "le32(", "le64(", "ld_map_fd(")) or (
        first in _BYTES_CONSTANTS
    )


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
    if _is_bytes_expr(val):
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


def _parse_switch(tok: str) -> tuple[str, Any]:
    """``SWITCH=VALUE``: a profile switch and a Python literal."""
    key, eq, value = tok.partition("=")
    if not eq or key not in switches():
        raise ValueError(f"not a profile switch: {tok!r}")
    return key, ast.literal_eval(value)


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
        elif key == "from" and _IDENT.fullmatch(val):
            kw["parent"] = val
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
        if seen_step or len(tokens) < 2 or comment is not None:
            raise ValueError("profile NAME [SWITCH=VALUE ...] (before the first step)")
        return ProfileLine(tokens[1], tuple(_parse_switch(t) for t in tokens[2:]))
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
    if head == "task":  # after the first step: spawned there
        if comment is not None:
            raise ValueError("a task line takes no comment")
        decl = _parse_task_decl(tokens)
        if decl.name in tasks:
            raise ValueError(f"task {decl.name!r} declared twice")
        if decl.parent is not None and decl.parent not in tasks:
            raise ValueError(f"task {decl.name!r}: from={decl.parent} is not a task yet")
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
