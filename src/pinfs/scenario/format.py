"""Printing scenarios (:func:`dumps`): the canonical text, results aligned."""

from __future__ import annotations

from typing import Any

from pinfs.scenario.parse import _SAFE
from pinfs.scenario.syntax import (
    Arg,
    AttrValue,
    Buf,
    Bytes,
    BytesCat,
    BytesExpr,
    BytesFn,
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
    ValueList,
)
from pinfs.scenario.values import _BYTES_CONSTANTS

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


def _fmt_switches(items: tuple[tuple[str, Any], ...]) -> list[str]:
    return [f"{k}={v!r}" for k, v in items]


def _fmt_task(t: TaskDecl) -> str:
    caps = "all" if t.caps is None else ",".join(t.caps)
    groups = ",".join(str(g) for g in t.groups)
    out = f"task {t.name} uid={t.uid} gid={t.gid} groups={groups} caps={caps} umask={t.umask:03o}"
    if t.cwd != "/":
        out += f" cwd={_fmt_str(t.cwd)}"
    if t.parent is not None:
        out += f" from={t.parent}"
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
            out.append(" ".join([f"profile {line.name}", *_fmt_switches(line.switches)]))
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
