"""The display hook: how kernel objects show themselves in a notebook.

``SuperBlock``, ``MountNamespace``, ``Task`` and ``Kernel`` live in layers that must not
import the picture code (:mod:`pinfs.svg` is a tool above them all).  Their
``_repr_mimebundle_`` is :func:`repr_mimebundle`, which asks the renderer registered
here; :mod:`pinfs.svg` registers itself when it is imported (``import pinfs`` wires it
on first use of the machine, see :mod:`pinfs`).  With no renderer the bundle is the
text form only.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Renderer", "mimebundle", "register_renderer", "repr_mimebundle"]

#: ``obj -> {"image/svg+xml": ..., "text/plain": ...}``
Renderer = Callable[[object], dict[str, str]]

_renderers: list[Renderer] = []


def register_renderer(renderer: Renderer) -> None:
    """Make ``renderer`` draw every displayable object (the last one registered wins)."""
    if not callable(renderer):
        raise TypeError(f"renderer must be callable, not {type(renderer).__name__}")
    _renderers.append(renderer)


def mimebundle(obj: object) -> dict[str, str]:
    """The registered renderer's bundle for ``obj``, or its repr as text."""
    if not _renderers:
        return {"text/plain": repr(obj)}
    return _renderers[-1](obj)


def repr_mimebundle(self: object, include: object = None, exclude: object = None) -> dict[str, str]:
    """A picture (SVG) and the text tree, for notebooks (IPython's display protocol)."""
    return mimebundle(self)
