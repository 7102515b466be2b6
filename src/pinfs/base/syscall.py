"""The :func:`syscall` decorator: the one hook between a syscall entry point and tracing.

Syscall methods live in several layers (the bpf dispatcher's mixin, the task); the
recorder (:class:`pinfs.machine.trace.Trace`) lives in the machine.  The decorator only
needs ``self.kernel.trace``: while it is None the call goes straight to the method, else
through the trace's ``_call``, which records it.

The wrapper has the method's own parameter names, so an ordinary call (every required
argument, nothing unknown) costs one frame and no ``*args``/``**kwargs`` packing.  Its
defaults are a marker, so the trace still learns which arguments the caller gave.  Any
other call (a missing or an unknown argument, one too many) goes through
:func:`_generic`, which is what every call did before: the same ``TypeError`` from the
method itself, recorded by a running trace.  A method with other kinds of parameters
(``*args``, keyword-only, ...) keeps that generic wrapper for every call.
"""

from __future__ import annotations

import functools
import inspect
import linecache
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

__all__ = ["Recorder", "syscall"]

F = TypeVar("F", bound=Callable[..., Any])


class Recorder(Protocol):
    """What a running trace offers the decorator."""

    def _call(
        self,
        fn: Callable[..., Any],
        sig: inspect.Signature,
        name: str,
        task: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any: ...


class _Missing:
    """The wrapper's default for every parameter: "the caller did not pass it"."""

    def __repr__(self) -> str:
        return "<not given>"


MISSING: Any = _Missing()


def syscall(fn: F) -> F:
    """Record calls of ``fn`` (a syscall method of a task) in ``self.kernel.trace``."""
    name = fn.__name__
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # nothing to read the parameters from
        return _generic_wrapper(fn)
    params = list(sig.parameters.values())[1:]  # after self
    names = [p.name for p in params]
    defaults = [p.default for p in params]
    # The generated text names its own helpers _M, _fn, ...: no syscall or parameter may;
    # and only plain parameters can be spelled out.
    if name.startswith("_") or any(
        p.kind is not p.POSITIONAL_OR_KEYWORD or p.name.startswith("_") for p in params
    ):
        return _generic_wrapper(fn)

    def given(values: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call as the caller wrote it, as far as binding can tell: the arguments
        up to the first one not given by position, the rest by keyword."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        by_keyword = False
        for n, v in zip(names, values, strict=True):
            if v is MISSING:
                by_keyword = True
            elif by_keyword:
                kwargs[n] = v
            else:
                args.append(v)
        return tuple(args), kwargs

    def traced(trace: Recorder, task: Any, values: tuple[Any, ...]) -> Any:
        """An ordinary call while a trace runs: every argument up to the last one
        given, by position (a default in between counts as given; the trace's
        ``given`` is the same).  The trace turns positional iterators into lists, so
        an iterator given by keyword is now recorded (and passed on) as a list too."""
        last = max((i for i, v in enumerate(values) if v is not MISSING), default=-1)
        args = tuple(defaults[i] if v is MISSING else v for i, v in enumerate(values[: last + 1]))
        return trace._call(fn, sig, name, task, args, {})

    def generic(
        task: Any, values: tuple[Any, ...], extra: tuple[Any, ...], kw: dict[str, Any]
    ) -> Any:
        args, kwargs = given(values)
        return _generic(fn, sig, name, task, args + extra, {**kwargs, **kw})

    required = [n for n, d in zip(names, defaults, strict=True) if d is inspect.Parameter.empty]
    passed = ", ".join(
        n if d is inspect.Parameter.empty else f"_d{i} if {n} is _M else {n}"
        for i, (n, d) in enumerate(zip(names, defaults, strict=True))
    )
    values = "".join(f"{n}, " for n in names)
    odd = "".join(f" or {n} is _M" for n in required)
    source = (
        f"def {name}(self, {''.join(f'{n}=_M, ' for n in names)}*_extra, **_kw):\n"
        f"    if _extra or _kw{odd}:\n"
        f"        return _generic(self, ({values}), _extra, _kw)\n"
        f"    _trace = self.kernel.trace\n"
        f"    if _trace is None:\n"
        f"        return _fn(self, {passed})\n"
        f"    return _traced(_trace, self, ({values}))\n"
    )
    namespace: dict[str, Any] = {"_M": MISSING, "_fn": fn, "_traced": traced, "_generic": generic}
    namespace.update({f"_d{i}": d for i, d in enumerate(defaults)})
    filename = f"<syscall {name}>"
    exec(compile(source, filename, "exec"), namespace)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks
    wrapper = namespace[name]
    return cast(F, functools.wraps(fn)(wrapper))


def _generic(
    fn: Callable[..., Any],
    sig: inspect.Signature,
    name: str,
    task: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Any call, as every call went before: straight on, or through the trace."""
    trace: Recorder | None = task.kernel.trace
    if trace is None:
        return fn(task, *args, **kwargs)
    return trace._call(fn, sig, name, task, args, kwargs)


def _generic_wrapper(fn: F) -> F:
    """The wrapper for a method whose parameters cannot be spelled out: every call
    through :func:`_generic`."""
    name = fn.__name__
    sig: list[inspect.Signature] = []

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        trace: Recorder | None = self.kernel.trace
        if trace is None:
            return fn(self, *args, **kwargs)
        if not sig:
            sig.append(inspect.signature(fn))
        return trace._call(fn, sig[0], name, self, args, kwargs)

    return cast(F, wrapper)
