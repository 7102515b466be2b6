"""The lessons in docs/notebooks run: as plain scripts, and as Jupyter notebooks.

Each lesson is a jupytext ``py:percent`` file.  It must run top to bottom with
``python NN_name.py`` (no IPython needed: pictures fall back to text), and, converted to
``.ipynb`` in a temporary directory, execute cell by cell in a real IPython kernel
through nbclient, failing on the first cell that raises.  Every lesson must also draw at
least one SVG picture when run as a notebook, and its text must name the errnos its
cells print or assert (``tests/notebook_claims.py``).

The notebook half needs jupytext, nbclient, nbformat and ipykernel (the ``test`` extra).
Without them it is skipped locally; with ``CI`` set, a missing package is an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from notebook_claims import errno_claim_problems

NOTEBOOK_DIR = Path(__file__).parent.parent / "docs" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
IDS = [p.stem for p in NOTEBOOKS]


def need(module: str) -> ModuleType:
    """Import a notebook tool; in CI a missing one fails instead of skipping."""
    if os.environ.get("CI"):
        return __import__(module)
    return pytest.importorskip(module)


def test_there_are_lessons() -> None:
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_runs_as_a_script(notebook: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(notebook)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bpf objects" in result.stdout  # pictures fell back to kernel.tree() text


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_is_a_jupytext_percent_notebook(notebook: Path) -> None:
    jupytext = need("jupytext")
    text = notebook.read_text()
    nb = jupytext.reads(text, fmt="py:percent")
    kinds = [cell.cell_type for cell in nb.cells]
    assert kinds[0] == "markdown" and kinds.count("markdown") >= 3 and "code" in kinds
    assert nb.cells[0].source.startswith("# "), "a lesson opens with its title"
    # stable under `jupytext --sync` (which also stamps its version into the header)
    assert body(jupytext.writes(nb, fmt="py:percent")) == body(text)


def body(text: str) -> str:
    """A percent script without its ``# ---`` metadata header."""
    if text.startswith("# ---\n"):
        return text.split("\n# ---\n", 1)[1]
    return text


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kernelspec for *this* interpreter, so the notebooks import this pinfs."""
    need("ipykernel")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "pinfs-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "pinfs test", "language": "python"})
    )
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(root), os.environ.get("JUPYTER_PATH", "")) if p
    )
    return "pinfs-test"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_executes_as_a_notebook(notebook: Path, tmp_path: Path, kernel_name: str) -> None:
    jupytext = need("jupytext")
    nbclient = need("nbclient")
    nbformat = need("nbformat")
    nb = jupytext.read(notebook)
    ipynb = tmp_path / f"{notebook.stem}.ipynb"
    nbformat.write(nb, ipynb)  # what `jupytext --to ipynb` writes
    nb = nbformat.read(ipynb, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name=kernel_name,
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError at the first failing cell
    nbformat.write(nb, ipynb)
    pictures = [
        output["data"]["image/svg+xml"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/svg+xml" in output.get("data", {})
    ]
    assert pictures, f"{notebook.name} shows no picture"
    for picture in pictures:
        root = ET.fromstring(picture)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    errors = [
        output
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    # the text names the errnos its cells printed or asserted (tests/notebook_claims.py)
    assert not errno_claim_problems(nb), errno_claim_problems(nb)
