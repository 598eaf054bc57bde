"""Execute every notebook in notebooks/ with nbclient; a cell that raises fails the test.

The notebooks are stored without outputs (checked here too) and each runs in well under 30 s.
"""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 5
    for key in ("quick_start", "lyapunov", "memory", "spectral", "training"):
        assert any(key in n for n in names), key


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name} is stored with outputs"
            assert cell.get("execution_count") is None
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    assert n_code >= 2
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def test_a_raising_cell_fails(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('boom')")]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError, match="boom"):
        client.execute()
