"""The architecture (docs/architecture.md), checked from the source text.

An AST scan of ``src/pinfs`` builds the import graph three ways: top-level imports,
plus imports inside functions, plus ``TYPE_CHECKING`` imports.  The first two must be
acyclic; the third is reported, and may only hold the type-only edges listed in
:data:`TYPE_ONLY_UPWARD` and :data:`TYPE_ONLY_WITHIN_MACHINE` (annotations that still
name the task or the kernel).  The scan also checks the layer order and that maps and programs are made
only by the bpf() command handlers.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pinfs
from pinfs.base import cred, display
from pinfs.live import kernel as live

SRC = Path(pinfs.__file__).resolve().parent.parent

#: Bottom to top.  A module may import from its own layer and the layers below it.
LAYERS: list[tuple[str, ...]] = [
    ("pinfs.base",),
    ("pinfs.vfs",),
    ("pinfs.mountns",),
    ("pinfs.fs",),
    ("pinfs.ebpf",),
    ("pinfs.inode",),
    ("pinfs.bpf",),
    ("pinfs.machine",),
    ("pinfs.live", "pinfs.svg", "pinfs.tour", "pinfs.testing", "pinfs.host", "pinfs.clients"),
    ("pinfs.scenario",),
    ("pinfs.oracle",),
    ("pinfs.__main__",),
]

#: Type-only imports that point up a layer: none since the typed-context Protocols
#: (vfs.KernelServices, fs.namei.Current, ebpf.context) replaced them.
TYPE_ONLY_UPWARD: set[tuple[str, str]] = set()
#: Type-only imports inside the machine layer: the task, the trace, the renderer and the
#: invariant checker annotate with ``Kernel``/``Task``, which import them.
TYPE_ONLY_WITHIN_MACHINE = {
    ("pinfs.machine.invariants", "pinfs.machine.kernel"),
    ("pinfs.machine.render", "pinfs.machine.kernel"),
    ("pinfs.machine.task", "pinfs.machine.kernel"),
    ("pinfs.machine.trace", "pinfs.machine.kernel"),
    ("pinfs.machine.trace", "pinfs.machine.task"),
}

#: Where ``BpfMap(...)``/``BpfProg(...)`` may be called: the bpf() command handlers,
#: and the kernel's own bpf_preload skeleton (``load_skel``, which calls bpf() from the
#: kernel in Linux).
OBJECT_MAKERS = {
    "BpfMap": {("pinfs.bpf", "map_create"), ("pinfs.ebpf.preload", "bpf_preload_load")},
    "BpfProg": {("pinfs.ebpf.prog", "bpf_prog_load"), ("pinfs.ebpf.preload", "bpf_preload_load")},
}


# --------------------------------------------------------------------------- the scan


def _modules(src: Path = SRC) -> dict[str, Path]:
    out = {}
    for path in sorted((src / "pinfs").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def _imports(module: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, str]]:
    """(target module, kind) for each pinfs import; kind is top, local or typing."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            pkg = package
            for _ in range(node.level - 1):
                pkg = pkg.rpartition(".")[0]
            base = f"{pkg}.{base}" if base else pkg
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]

    def walk(node: ast.AST, kind: str) -> Iterator[tuple[str, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk_stmt(stmt, "typing")
                for stmt in child.orelse:
                    yield from walk_stmt(stmt, kind)
            else:
                yield from walk_stmt(child, kind)

    def walk_stmt(node: ast.AST, kind: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in targets(node):
                found = resolve(name)
                if found is not None and found != module:
                    yield found, kind
            return
        inner = kind
        if kind == "top" and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = "local"
        yield from walk(node, inner)

    yield from walk(tree, "top")


def import_graph(kinds: set[str], src: Path = SRC) -> dict[str, set[str]]:
    modules = _modules(src)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for target, kind in _imports(module, path, modules):
            if kind in kinds:
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in layer):
            return i
    return None  # the package root, the public facade


# --------------------------------------------------------------------------- cycles


def test_the_scan_sees_the_old_cycle() -> None:
    """The scan itself: a small package with a function-local import closing a loop."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_scan_classifies_top_level_local_and_type_checking_imports(tmp_path: Path) -> None:
    """On a small package: a function-local import and a TYPE_CHECKING import each close
    a loop that the top-level imports alone do not."""
    pkg = tmp_path / "pinfs"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pinfs.high import H\n"
        "def f():\n    from pinfs import mid\n"
    )
    (pkg / "mid.py").write_text("from pinfs.low import f\n")
    (pkg / "high.py").write_text("from pinfs import mid\nclass H: ...\n")
    assert cycles(import_graph({"top"}, tmp_path)) == []
    assert cycles(import_graph({"top", "local"}, tmp_path)) == [["pinfs.low", "pinfs.mid"]]
    assert cycles(import_graph({"top", "local", "typing"}, tmp_path)) == [
        ["pinfs.high", "pinfs.low", "pinfs.mid"]
    ]


def test_no_import_cycle_among_top_level_imports() -> None:
    assert cycles(import_graph({"top"})) == []


def test_no_import_cycle_counting_imports_inside_functions() -> None:
    assert cycles(import_graph({"top", "local"})) == []


def test_type_checking_imports_close_no_loop_but_the_listed_type_only_edges() -> None:
    """The second, reported count: with TYPE_CHECKING imports too.  The only cycles
    are closed by the listed annotation-only edges (without them: none)."""
    graph = import_graph({"top", "local", "typing"})
    found = cycles(graph)
    print(f"cycles with TYPE_CHECKING imports: {[len(c) for c in found]}")
    for source, target in TYPE_ONLY_UPWARD | TYPE_ONLY_WITHIN_MACHINE:
        graph[source].discard(target)
    assert cycles(graph) == []


def test_no_import_inside_a_function_names_a_pinfs_module() -> None:
    modules = _modules()
    local = [
        (module, target)
        for module, path in modules.items()
        for target, kind in _imports(module, path, modules)
        if kind == "local"
    ]
    assert local == []


# --------------------------------------------------------------------------- layers


def test_every_module_has_a_layer() -> None:
    assert [m for m in _modules() if _layer(m) is None] == ["pinfs"]


def test_no_import_points_up_a_layer() -> None:
    modules = _modules()
    upward = []
    for module, path in modules.items():
        for target, kind in _imports(module, path, modules):
            low, high = _layer(module), _layer(target)
            if low is None or high is None:
                continue
            siblings = low == high and len(LAYERS[low]) > 1
            same = siblings and target.split(".")[:2] == module.split(".")[:2]
            if high > low or (siblings and not same):
                if kind == "typing" and (module, target) in TYPE_ONLY_UPWARD:
                    continue
                upward.append((module, target, kind))
    assert upward == []


def test_the_type_only_list_is_not_stale() -> None:
    modules = _modules()
    typing_edges = {
        (module, target)
        for module, path in modules.items()
        for target, kind in _imports(module, path, modules)
        if kind == "typing"
    }
    assert typing_edges >= TYPE_ONLY_UPWARD | TYPE_ONLY_WITHIN_MACHINE


def test_importing_the_vfs_loads_only_the_lower_layers() -> None:
    """``import pinfs.vfs`` (a fresh interpreter) loads no bpf, task, kernel or tool."""
    code = "import sys, pinfs.vfs; print(' '.join(sorted(m for m in sys.modules if m.startswith('pinfs'))))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "pinfs.vfs" in out
    assert all(_layer(m) in (None, 0, 1) for m in out), out


def test_importing_bpf_loads_no_tool() -> None:
    code = "import sys, pinfs.bpf; print(' '.join(sorted(m for m in sys.modules if m.startswith('pinfs'))))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "pinfs.bpf" in out
    machine = LAYERS.index(("pinfs.machine",))
    assert [m for m in out if (_layer(m) or 0) > machine] == []


# --------------------------------------------------------------------------- objects


def _calls(tree: ast.Module, name: str) -> Iterator[str]:
    """The enclosing top-level function (or class.method) of each ``name(...)`` call."""

    def walk(node: ast.AST, where: str) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            here = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                here = f"{where}.{child.name}" if where else child.name
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Name)
                and child.func.id == name
            ):
                yield where
            yield from walk(child, here)

    yield from walk(tree, "")


@pytest.mark.parametrize("cls", sorted(OBJECT_MAKERS))
def test_maps_and_programs_are_made_only_by_the_bpf_command_handlers(cls: str) -> None:
    made = {
        (module, where)
        for module, path in _modules().items()
        for where in _calls(ast.parse(path.read_text()), cls)
    }
    assert made == OBJECT_MAKERS[cls]


# --------------------------------------------------------------------------- one table


def test_the_display_hook_draws_through_the_registered_renderer() -> None:
    k = pinfs.Kernel()  # the package wires pinfs.svg on first use of the machine
    bundle = k._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"}
    assert bundle["text/plain"] == k.tree()
    seen: list[object] = []

    def renderer(obj: object) -> dict[str, str]:
        seen.append(obj)
        return {"text/plain": "drawn"}

    display.register_renderer(renderer)
    try:
        ns = k.init_task.mnt_ns
        assert ns._repr_mimebundle_() == {"text/plain": "drawn"}
        assert k.init_task._repr_mimebundle_() == {"text/plain": "drawn"}
        assert seen == [ns, k.init_task]
    finally:
        display._renderers.remove(renderer)
    with pytest.raises(TypeError, match="renderer must be callable"):
        display.register_renderer("svg")  # type: ignore[arg-type]


def test_the_live_twin_names_capabilities_as_the_base_table() -> None:
    """The sandbox loads live/kernel.py on its own (``python -I -S``), so it keeps its
    own tuple; it must be the base layer's."""
    assert live.CAP_NAMES == cred.CAP_NAMES
    assert cred.CAP_NAMES[cred.CAP_SYS_ADMIN] == "CAP_SYS_ADMIN"
    assert cred.CAP_NAMES[cred.CAP_BPF] == "CAP_BPF"
