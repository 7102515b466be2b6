"""``python -m bench.compiled``: would an optional compiled build of pinfs pay (issue 17)?

It copies ``src/`` (and the scenario catalog its symlink points at) into a scratch
directory, compiles the modules that loops (a)-(c) run through there, and times the
same loops on the pure-Python package and on the compiled copy.  The checkout itself is
never touched: nothing here is a way to install pinfs compiled.  See the section
"An optional compiled build" of ``docs/performance.md`` for what it measured::

    python -m bench.compiled                          # every variant whose compiler is there
    python -m bench.compiled --variants mypyc --rounds 5 --machine
    python -m bench.compiled --variants cython --keep /tmp/pinfs-cy   # keep the build
    PYTHONPATH=/tmp/pinfs-cy/src python -m pytest -q -p no:randomly   # the suite on it

Variants (``mypyc`` comes with the ``dev`` extra; Cython is ``pip install cython``):

* ``mypyc``: the hot modules with only the rewrites mypyc needs to build and import
  them (listed in :data:`MYPYC_REWRITES`); the ``attrs`` classes stay Python classes.
* ``mypyc-native``: also ``@attrs.define(eq=False)`` (and ``..., weakref_slot=False)``)
  -> ``@attr.s(auto_attribs=True, eq=False)`` in ``vfs``, ``fs.namei`` and
  ``fs.fdtable``, the spelling mypyc compiles to native classes: the ceiling of a
  rewrite of the data classes.
* ``cython``: Cython 3 on the unchanged ``.py`` files (``annotation_typing`` off, so
  no argument checks come from the annotations), the hot set plus the modules around
  it (:data:`CYTHON_MODULES`).

Timing: each round runs one child process per tree (pure first, then each variant),
and each child takes, per loop, the minimum over 7 repetitions of the CPU time
(``time.process_time``) of 3,000 operations; the table gives the median over the rounds
of those minima.  ``--machine`` adds (e): steps per CPU second of the bench's
``PinningMachine`` run (50 examples of at most 50 steps, derandomized).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent

#: The modules (b)'s mkdir+rmdir and create+unlink loops spend their time in
#: (``python -m bench.profile --loops mkdir,create``), minus those mypyc cannot take
#: unchanged: ``machine/task.py`` and ``base/syscall.py`` (a method under a decorator
#: becomes a callable object without ``__name__``, so ``functools.wraps`` fails) and
#: ``mountns.py`` (tests monkeypatch its functions; compiled callers would not see it).
HOT_MODULES = [
    "pinfs/fs/namei.py",
    "pinfs/fs/permission.py",
    "pinfs/fs/libfs.py",
    "pinfs/fs/ramfs.py",
    "pinfs/fs/open.py",
    "pinfs/fs/at.py",
    "pinfs/fs/fdtable.py",
    "pinfs/vfs.py",
    "pinfs/base/cstring.py",
]
#: Cython takes unchanged modules and keeps module globals patchable, so it gets the
#: modules around the hot set too: the task, the syscall decorator, errors, creds,
#: mounts and the bpf side of (a) and (c).
CYTHON_MODULES = [
    *HOT_MODULES,
    "pinfs/mountns.py",
    "pinfs/machine/task.py",
    "pinfs/machine/kernel.py",
    "pinfs/base/syscall.py",
    "pinfs/base/errors.py",
    "pinfs/base/cred.py",
    "pinfs/inode.py",
    "pinfs/bpf.py",
]
#: (module, old, new): what mypyc needs before it builds and imports the hot set.
MYPYC_REWRITES = [
    # mypy#15267: mypyc types ``x: list[T] = attrs.field(factory=list)`` by the
    # plugin's return type and checks the class-body value against it at import
    # (TypeError: list object expected; got _CountingAttr); an Any-typed alias skips it.
    *(
        (m, "attrs.field(", "_attrs_field(")
        for m in ("pinfs/vfs.py", "pinfs/fs/fdtable.py", "pinfs/fs/libfs.py")
    ),
    # mypyc cannot make a native class of a RuntimeError subclass.
    (
        "pinfs/fs/libfs.py",
        "\nclass WouldBlockForever(RuntimeError):",
        "\n@mypyc_attr(native_class=False)\nclass WouldBlockForever(RuntimeError):",
    ),
]
MYPYC_PRELUDE = (
    "from typing import Any as _Any\n\n"
    "from mypy_extensions import mypyc_attr\n\n"
    "_attrs_field: _Any = attrs.field\n"
)
NATIVE_MODULES = ["pinfs/vfs.py", "pinfs/fs/namei.py", "pinfs/fs/fdtable.py"]

LOOPS = ["cycle", "mkdir", "create", "get1", "get16"]
CHILD_OPS, CHILD_REPS = 3000, 7


# ----------------------------------------------------------------------------- build


def _copy_tree(dest: Path) -> Path:
    """``src/`` and ``tests/scenarios`` (the catalog symlink's target) under ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.c", "build")
    shutil.copytree(ROOT / "src", dest / "src", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "tests" / "scenarios", dest / "tests" / "scenarios")
    return dest / "src"


def _edit(src: Path, module: str, edit: Callable[[str], str]) -> None:
    path = src / module
    path.write_text(edit(path.read_text()))


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        if old not in text:
            raise RuntimeError(f"rewrite target not found: {old!r}")
        return text.replace(old, new)

    return edit


def _after_import_attrs(extra: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        return re.sub(r"^import attrs\n", lambda m: m.group(0) + extra, text, count=1, flags=re.M)

    return edit


#: ``@attrs.define(eq=False)``, with or without ``weakref_slot=False`` (a native class
#: has no ``__weakref__`` slot either).
_DEFINE = re.compile(r"^@attrs\.define\(eq=False(?:, weakref_slot=False)?\)$", re.M)


def _native_decorators(text: str) -> str:
    text, n = _DEFINE.subn("@attr.s(auto_attribs=True, eq=False)", text)
    if not n:
        raise RuntimeError("rewrite target not found: @attrs.define(eq=False)")
    return text


def _prepare_mypyc(src: Path, native: bool) -> list[str]:
    for module in {m for m, _, _ in MYPYC_REWRITES}:
        _edit(src, module, _after_import_attrs(MYPYC_PRELUDE))
    for module, old, new in MYPYC_REWRITES:
        _edit(src, module, _replace(old, new))
    if native:
        for module in NATIVE_MODULES:
            _edit(src, module, _after_import_attrs("import attr\n"))
            _edit(src, module, _native_decorators)
            _edit(src, module, lambda t: t.replace("_attrs_field(factory=", "attr.ib(factory="))
    return [sys.executable, "-m", "mypyc", *HOT_MODULES]


CYTHON_SETUP = """\
import sys
from Cython.Build import cythonize
from setuptools import setup
modules = sys.argv[1].split(",")
setup(
    name="pinfs-cython-trial",
    ext_modules=cythonize(
        modules,
        language_level=3,
        compiler_directives={"annotation_typing": False, "binding": True},
        quiet=True,
    ),
    script_args=["build_ext", "--inplace"],
)
"""


def _prepare_cython(src: Path) -> list[str]:
    (src / "cython_setup.py").write_text(CYTHON_SETUP)
    return [sys.executable, "cython_setup.py", ",".join(CYTHON_MODULES)]


def available(variant: str) -> str | None:
    """None if ``variant`` can be built here, else why not."""
    need = "Cython" if variant == "cython" else "mypyc"
    if importlib.util.find_spec(need) is None:
        return f"{need} is not installed"
    return None


def build(variant: str, dest: Path) -> float:
    """Build ``variant`` under ``dest``; the seconds the compiler took."""
    src = _copy_tree(dest)
    if variant == "cython":
        cmd = _prepare_cython(src)
    else:
        cmd = _prepare_mypyc(src, native=variant == "mypyc-native")
    start = time.perf_counter()
    # In src/: mypyc builds in place from the current directory, where no
    # pyproject.toml of ours is (the venv's setuptools need not read it).
    proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise RuntimeError(f"{variant} build failed ({proc.returncode}):\n{tail}")
    return seconds


# ----------------------------------------------------------------------------- measure


def child(machine: bool) -> dict[str, object]:
    """Per-op CPU microseconds of each loop for the pinfs on ``sys.path``."""
    import pinfs.fs.namei
    from bench.profile import LOOPS as FACTORIES

    out: dict[str, object] = {"compiled": not pinfs.fs.namei.__file__.endswith(".py")}
    for name in LOOPS:
        contender = FACTORIES[name]()
        contender.timer(200)
        best = float("inf")
        for _ in range(CHILD_REPS):
            start = time.process_time()
            contender.timer(CHILD_OPS)
            best = min(best, time.process_time() - start)
        contender.check()
        out[name] = best / CHILD_OPS * 1e6
    if machine:
        from bench.machine import measure_machine

        measure_machine(2, 50, 1)  # warm-up
        start = time.process_time()
        result = measure_machine(50, 50, 1)
        cpu = time.process_time() - start
        steps = result["runs"][0]["steps"] if result["status"] == "ok" else 0
        out["machine_steps_per_cpu_s"] = steps / cpu if cpu else 0.0
    return out


def _run_child(src: Path, machine: bool) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(ROOT)]))
    cmd = [sys.executable, "-m", "bench.compiled", "--child"] + (["--machine"] * machine)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"timing child for {src} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _table(medians: dict[str, dict[str, float]], builds: dict[str, float]) -> str:
    keys = [k for k in next(iter(medians.values())) if k != "compiled"]
    unit = {k: "steps/CPU-s" if k.startswith("machine") else "us/op" for k in keys}
    lines = ["tree           " + "".join(f"{k[:14]:>15}" for k in keys) + "   build s"]
    pure = medians["pure"]
    for tree, row in medians.items():
        cells = "".join(f"{row[k]:>15.2f}" for k in keys)
        lines.append(f"{tree:<15}{cells}   {builds.get(tree, 0.0):7.1f}")
        if tree != "pure":
            gains = []
            for k in keys:
                gain = row[k] / pure[k] if unit[k] != "us/op" else pure[k] / row[k]
                gains.append(f"{gain:>14.2f}x")
            lines.append(f"{'  speed-up':<15}" + "".join(gains))
    lines.append("(us/op: median over rounds of the min CPU time per op; lower is better)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="mypyc,mypyc-native,cython")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--machine", action="store_true", help="also (e), the state machine")
    p.add_argument("--keep", metavar="DIR", help="build under DIR (one variant) and keep it")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.machine)))
        return 0

    variants = [v for v in args.variants.split(",") if v]
    if args.keep and len(variants) != 1:
        p.error("--keep takes one variant")
    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pinfs-compiled-"))
    trees: dict[str, Path] = {"pure": ROOT / "src"}
    builds: dict[str, float] = {}
    try:
        for variant in variants:
            why = available(variant)
            if why is not None:
                print(f"{variant}: skipped ({why})", file=sys.stderr)
                continue
            dest = scratch if args.keep else scratch / variant
            builds[variant] = build(variant, dest)
            trees[variant] = dest / "src"
            print(f"{variant}: built in {builds[variant]:.1f} s", file=sys.stderr)
        rounds: dict[str, list[dict[str, object]]] = {t: [] for t in trees}
        for i in range(args.rounds):
            for tree, src in trees.items():
                rounds[tree].append(_run_child(src, args.machine))
            print(f"round {i + 1}/{args.rounds} done", file=sys.stderr)
        for tree, runs in rounds.items():
            if tree != "pure" and not all(r["compiled"] for r in runs):
                raise RuntimeError(f"{tree}: the child imported the pure-Python pinfs")
        medians = {
            tree: {
                k: statistics.median(float(r[k]) for r in runs)  # type: ignore[arg-type]
                for k in runs[0]
                if k != "compiled"
            }
            for tree, runs in rounds.items()
        }
        print(_table(medians, builds))
        if args.json:
            doc = {"builds_s": builds, "medians": medians, "rounds": rounds}
            Path(args.json).write_text(json.dumps(doc, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
