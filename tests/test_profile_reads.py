"""One way to read a profile switch (issue 10): the model layers read every switch as
``kernel.profile.<switch>`` on the :class:`~pinfs.vfs.KernelServices` protocol, reached
as a ``kernel`` attribute (``task.kernel``, ``sb.kernel``, ``map.kernel``) or a
``kernel`` name, at the point of use.  No cached ``profile`` locals, no ``_profile()``
helpers, no ``profile`` parameters; see :mod:`pinfs.base.profiles`."""

from __future__ import annotations

import ast
import pathlib

import attrs

from pinfs.base.profiles import Profile

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "pinfs"
#: The simulated machine: everything but the tools (scenario, live twin, oracle, svg,
#: tour, testing), which may hold a Profile as data.
MODEL = ["base", "fs", "ebpf", "machine", "vfs.py", "mountns.py", "inode.py", "bpf.py"]
SWITCHES = {f.name for f in attrs.fields(Profile)} - {"name"}
#: Who may read a Profile without going through ``kernel.profile``: the Kernel owns its
#: profile (boot reads it as ``profile``/``self.profile``), and ``bpf_dir_iops_for``
#: builds one operations table per profile.
#: A Profile also checks its own switches when it is made (their validation).
OWNERS = {
    ("machine/kernel.py", "Kernel"),
    ("machine/kernel.py", "_check_unpriv_default"),  # Kernel(...) checks its arguments
    ("inode.py", "bpf_dir_iops_for"),
    ("base/profiles.py", "Profile"),
    # Pure functions of a profile, as bpf_dir_iops_for: struct sizes and log rules.
    ("ebpf/info.py", "bpf_map_info_size"),
    ("ebpf/info.py", "bpf_prog_info_size"),
    ("ebpf/prog.py", "verifier_log_attr_valid"),
}


def _model_files() -> list[pathlib.Path]:
    files: list[pathlib.Path] = []
    for entry in MODEL:
        path = SRC / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def _through_kernel(node: ast.expr) -> bool:
    """``kernel.profile`` or ``<anything>.kernel.profile``."""
    if not (isinstance(node, ast.Attribute) and node.attr == "profile"):
        return False
    owner = node.value
    return (isinstance(owner, ast.Name) and owner.id == "kernel") or (
        isinstance(owner, ast.Attribute) and owner.attr == "kernel"
    )


def _switch_reads(tree: ast.AST) -> list[tuple[ast.Attribute, str]]:
    """Every ``<expr>.<switch>`` with the enclosing top-level def or class name."""
    found: list[tuple[ast.Attribute, str]] = []
    for top in ast.iter_child_nodes(tree):
        scope = getattr(top, "name", "<module>")
        for node in ast.walk(top):
            if isinstance(node, ast.Attribute) and node.attr in SWITCHES:
                found.append((node, scope))
    return found


def test_every_switch_is_read_as_kernel_profile() -> None:
    stray = []
    reads = 0
    for path in _model_files():
        rel = path.relative_to(SRC).as_posix()
        for node, scope in _switch_reads(ast.parse(path.read_text())):
            if (rel, scope) in OWNERS:
                continue
            reads += 1
            if not _through_kernel(node.value):
                stray.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    assert not stray, "switches read around kernel.profile:\n" + "\n".join(stray)
    assert reads > 40  # the scan sees the model's reads (it would pass vacuously otherwise)


def test_no_profile_locals_or_helpers() -> None:
    """``profile = <...>.profile`` caches and ``def _profile`` helpers are the other
    paths; they stay out of the model layers."""
    stray = []
    for path in _model_files():
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text())
        for top in ast.iter_child_nodes(tree):
            scope = getattr(top, "name", "<module>")
            if (rel, scope) in OWNERS:
                continue
            if isinstance(top, ast.FunctionDef) and top.name.lstrip("_") == "profile":
                stray.append(f"{rel}:{top.lineno} def {top.name}")
            for node in ast.walk(top):
                if isinstance(node, ast.Assign) and _through_kernel(node.value):
                    stray.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    assert not stray, "\n".join(stray)
