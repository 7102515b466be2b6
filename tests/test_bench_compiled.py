"""``python -m bench.compiled`` still applies to the tree (no compiler is run here).

The script measures an optional compiled build in a scratch copy of ``src/``; before
mypyc can build it, it rewrites a few lines there (``bench.compiled.MYPYC_REWRITES``).
This checks that those lines are still there to rewrite, so the write-up in
docs/performance.md stays reproducible.  It times nothing and compiles nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import compiled


@pytest.mark.parametrize("native", [False, True], ids=["mypyc", "mypyc-native"])
def test_the_mypyc_rewrites_apply_to_the_copy(tmp_path: Path, native: bool) -> None:
    src = compiled._copy_tree(tmp_path)
    cmd = compiled._prepare_mypyc(src, native=native)
    assert cmd[-len(compiled.HOT_MODULES) :] == compiled.HOT_MODULES
    libfs = (src / "pinfs/fs/libfs.py").read_text()
    assert "@mypyc_attr(native_class=False)\nclass WouldBlockForever" in libfs
    vfs = (src / "pinfs/vfs.py").read_text()
    assert "attrs.field(" not in vfs
    assert ("@attr.s(auto_attribs=True, eq=False)" in vfs) == native
    assert ("@attrs.define(eq=False" in vfs) != native  # every data class, or none
    # the checkout itself is untouched
    assert "@mypyc_attr" not in (compiled.ROOT / "src/pinfs/fs/libfs.py").read_text()


def test_every_module_the_builds_name_exists() -> None:
    src = compiled.ROOT / "src"
    for module in {*compiled.CYTHON_MODULES, *compiled.NATIVE_MODULES}:
        assert (src / module).is_file(), module
