"""docs/errors.md stays true: every example prints exactly the line the page shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).parent.parent / "docs" / "errors.md"
EXAMPLE = re.compile(r"```python\n(?P<code>.*?)```\n+```text\n(?P<output>.*?)```", re.S)
EXAMPLES = [(m["code"], m["output"]) for m in EXAMPLE.finditer(PAGE.read_text())]


def test_the_page_has_its_examples() -> None:
    assert len(EXAMPLES) >= 12


@pytest.mark.parametrize(("code", "output"), EXAMPLES, ids=[str(i) for i in range(len(EXAMPLES))])
def test_each_example_prints_what_the_page_says(code: str, output: str) -> None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(PAGE), "exec"), {})
    assert printed.getvalue() == output
