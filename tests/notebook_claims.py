"""Errnos a lesson's text names, checked against what its cells actually did.

A markdown cell's neighbours are the code cell just before it (whose output it usually
comments on; not when the cell opens with a heading, a new topic) and the code cells after it up to the next markdown cell (which it
introduces).  What the neighbours *show* is every errno in their outputs (by name, as
``[Errno N]`` or as an exception repr ``...Error(N, '...')``) and every errno their
``assert`` lines check (``== "EACCES"``, ``errno.EACCES``): asserts ran, so they are
outcomes too.  The rule: when the text names errnos and its neighbours show some, each
errno shown must be named in the text.  Text that says EPERM next to a cell that
printed EACCES fails; background prose (errnos of other lessons, of things pinfs cannot
show) next to cells that show no errno is not judged.
"""

from __future__ import annotations

import errno
import re
from typing import Any

ERRNO_NAMES = frozenset(errno.errorcode.values()) | {"ENOTSUPP"}
_WORD = re.compile(r"\b(E[A-Z0-9]{2,})\b")
_NUMBERED = re.compile(r"\[Errno (\d+)\]|Error\((\d+), '")


def named_errnos(text: str) -> set[str]:
    """The errno names in ``text`` (``EACCES``), and those given by number."""
    found = {w for w in _WORD.findall(text) if w in ERRNO_NAMES}
    for bracketed, in_repr in _NUMBERED.findall(text):
        name = errno.errorcode.get(int(bracketed or in_repr))
        if name is not None:
            found.add(name)
    return found


def _output_text(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append(output["text"])
        if "text/plain" in output.get("data", {}):
            parts.append(output["data"]["text/plain"])
        if output.get("output_type") == "error":
            parts.append(f"{output.get('ename', '')} {output.get('evalue', '')}")
    return "\n".join(parts)


def shown_errnos(cell: Any) -> set[str]:
    """The errnos a code cell printed or asserted."""
    asserts = "\n".join(
        line for line in cell.source.splitlines() if line.lstrip().startswith("assert ")
    )
    return named_errnos(_output_text(cell)) | named_errnos(asserts)


def errno_claim_problems(nb: Any) -> list[str]:
    """One message per markdown cell that names errnos but not one its neighbours show."""
    cells = nb.cells
    problems = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        claimed = named_errnos(cell.source)
        if not claimed:
            continue
        comments_above = i > 0 and not cell.source.lstrip().startswith("#")  # "#": new topic
        neighbours = [cells[i - 1]] if comments_above and cells[i - 1].cell_type == "code" else []
        for after in cells[i + 1 :]:
            if after.cell_type != "code":
                break
            neighbours.append(after)
        shown: set[str] = set()
        for code in neighbours:
            shown |= shown_errnos(code)
        missing = shown - claimed
        if shown and missing:
            first = " ".join(cell.source.split())[:70]
            problems.append(
                f"cell {i} ({first}...) names {sorted(claimed)} but the cells next to it "
                f"show {sorted(missing)}"
            )
    return problems
