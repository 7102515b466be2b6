"""The errno-claim check of tests/notebook_claims.py, on small hand-made notebooks
(the lessons themselves are checked after executing, in tests/test_notebooks.py)."""

from __future__ import annotations

from typing import Any

from notebook_claims import errno_claim_problems, named_errnos, shown_errnos


class Cell(dict[str, Any]):
    """Enough of an nbformat cell: attribute access to its keys."""

    def __getattr__(self, name: str) -> Any:
        return self[name]


class Notebook:
    def __init__(self, *cells: Cell) -> None:
        self.cells = list(cells)


def md(text: str) -> Cell:
    return Cell(cell_type="markdown", source=text)


def code(source: str, *printed: str) -> Cell:
    outputs = [{"output_type": "stream", "name": "stdout", "text": t} for t in printed]
    return Cell(cell_type="code", source=source, outputs=outputs)


LESSON_7_CELL = code("print(failure)", "name '.': KernelPermissionError(13, 'Permission denied')\n")


def test_the_lesson_7_mistake_is_found() -> None:
    """The text said EPERM where the cell above it printed EACCES (as an exception repr)."""
    nb = Notebook(LESSON_7_CELL, md("bpffs refuses any name containing a dot (`EPERM`)."))
    [problem] = errno_claim_problems(nb)
    assert "names ['EPERM']" in problem and "show ['EACCES']" in problem


def test_text_naming_what_the_cells_show_passes() -> None:
    nb = Notebook(LESSON_7_CELL, md("`.` is the directory: `EACCES`; `a.b` is `EPERM`."))
    assert errno_claim_problems(nb) == []


def test_asserted_errnos_are_outcomes_too() -> None:
    nb = Notebook(
        md("Bob may not open Alice's pin: `EPERM`."),
        code('assert attempt(bob.obj_get, "/sys/fs/bpf/m") == "EACCES"'),
        code("import errno\nassert exc.errno == errno.ENOENT  # not EPERM"),
    )
    [problem] = errno_claim_problems(nb)
    assert "show ['EACCES', 'ENOENT']" in problem
    # a comment or a non-assert line is not an outcome
    assert shown_errnos(code("x = 'EBUSY'  # EIO")) == set()


def test_a_heading_starts_a_new_topic_and_prose_without_outcomes_is_not_judged() -> None:
    nb = Notebook(
        LESSON_7_CELL,
        md("## EPERM when /sys/fs/bpf is not a bpffs"),  # not about the cell above
        code("k = pinfs.Kernel()"),
        md("Background: a security module can also say `EPERM` (not shown here)."),
    )
    assert errno_claim_problems(nb) == []


def test_errnos_by_name_and_number() -> None:
    assert named_errnos("[Errno 2] No such file or directory; EBUSY, EXAMPLE, E2BIG") == {
        "ENOENT",
        "EBUSY",
        "E2BIG",
    }
    assert named_errnos("KernelError(524, 'Unknown error 524') ENOTSUPP") == {"ENOTSUPP"}
