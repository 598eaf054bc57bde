"""The notebooks in notebooks/: stored with their outputs (each with at least one inline figure), executed
again here with nbclient (a cell that raises fails the test; MPLBACKEND=Agg in the environment is fine,
``%matplotlib inline`` in the notebooks selects the inline backend in the kernel).  Each was written to run in
well under a minute; the time is reported, not asserted (a hung cell fails by nbclient's per-cell timeout).

To refresh the stored outputs after changing a notebook:  ``python tests/test_notebooks.py --store``.
"""
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _images(nb):
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "image/png" in o.get("data", {}))


def execute(nb, workdir):
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0


def test_notebooks_exist():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 5
    for key in ("quick_start", "lyapunov", "memory", "spectral", "training"):
        assert any(key in n for n in names), key


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_notebook_has_outputs_with_an_inline_figure(path):
    nb = nbformat.read(path, as_version=4)
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "%matplotlib inline" in src and "matplotlib.use(" not in src
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), f"{path.name} is stored unexecuted"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    assert _images(nb) >= 1, f"{path.name} has no stored image output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
@pytest.mark.slow  # measured > 5 s (pytest --durations); deselect with -m "not slow"
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    seconds = execute(nb, tmp_path)  # information only: a hang is caught by the per-cell timeout
    assert sum(c.cell_type == "code" for c in nb.cells) >= 2
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), f"after {seconds:.0f} s"
    assert _images(nb) >= 1, f"no inline figure was produced ({seconds:.0f} s)"


def test_a_raising_cell_fails(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('boom')")]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError, match="boom"):
        client.execute()


def store():
    """Execute every notebook and store it with its outputs (atomically); print the time each took."""
    import tempfile
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory() as d:
            seconds = execute(nb, d)
        tmp = path.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
        print(f"{path.name}: {seconds:.1f} s, {_images(nb)} image(s)")


if __name__ == "__main__" and "--store" in sys.argv:
    store()
