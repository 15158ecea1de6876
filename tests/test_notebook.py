"""notebooks/walkthrough.ipynb: committed clean, public API only, and it runs top to bottom.

The notebook runs with nbclient in a `python3` kernel, which jupyter_client
starts with this interpreter (the project's venv); it trains for real, so
this takes about a minute (reported, never asserted).
"""

import ast
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import digitrec

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def read():
    return nbformat.read(NOTEBOOK, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_committed_without_outputs():
    nb = read()
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert code_cells(nb)
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_uses_only_the_public_api():
    """Imports of digitrec are `import digitrec`; every `digitrec.X` is in `digitrec.__all__`."""
    used = set()
    for cell in code_cells(read()):
        tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith("%")))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("digitrec"), ast.unparse(node)
            if isinstance(node, ast.Import):
                assert all(a.name == "digitrec" or not a.name.startswith("digitrec") for a in node.names)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "digitrec":
                used.add(node.attr)
    assert used <= set(digitrec.__all__), used - set(digitrec.__all__)
    assert {"load_split", "train", "evaluate", "predict", "report", "plot_samples", "plot_training_curves",
            "plot_predictions", "plot_confusion_matrix"} <= used


def test_every_public_name_resolves():
    assert all(callable(getattr(digitrec, name)) for name in digitrec.__all__)


@pytest.fixture(scope="module")
def executed(tmp_path_factory, mnist_dir):
    """The notebook run from its own folder, with TMPDIR (where it writes) in pytest's temporary folder.

    One cell is appended to report the kernel's interpreter.
    """
    nb = read()
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    tmp = tmp_path_factory.mktemp("notebook")
    before = sorted(os.listdir(NOTEBOOK.parent))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", str(tmp))  # the kernel inherits the environment
        mp.setenv("DIGITREC_DATA_DIR", str(mnist_dir))
        start = time.perf_counter()
        NotebookClient(nb, kernel_name="python3", timeout=600,
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
        seconds = time.perf_counter() - start
    assert sorted(os.listdir(NOTEBOOK.parent)) == before  # it wrote nothing next to itself
    return nb, tmp, seconds


def text_of(cell):
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def cell_with(nb, snippet):
    [cell] = [c for c in code_cells(nb) if snippet in c.source]
    return cell


@pytest.mark.slow
def test_runs_top_to_bottom_in_this_venv(executed):
    nb, _, seconds = executed
    assert not [o for c in code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert text_of(nb.cells[-1]).strip() == sys.executable
    print(f"notebook ran in {seconds:.0f} s")  # reported, not asserted: it depends on the machine


@pytest.mark.slow
def test_every_figure_and_image_is_shown(executed):
    nb, _, _ = executed
    for cell in code_cells(nb):
        shows_picture = re.search(r"digitrec\.plot_\w+\(|Image\.open\(|\.resize\(", cell.source)
        pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(pngs) == (1 if shows_picture else 0), cell.source[:60]


@pytest.mark.slow
def test_outputs_tell_the_story(executed):
    nb, tmp, _ = executed
    assert "(60000, 28, 28) uint8 test: (10000, 28, 28)" in text_of(cell_with(nb, "load_split"))
    accuracy = float(re.search(r"accuracy\s+([\d.]+)%", text_of(cell_with(nb, "digitrec.evaluate"))).group(1))
    assert 80 < accuracy <= 100
    assert re.search(r"label: 3 confidence: (0\.9\d\d|1\.000)", text_of(cell_with(nb, "digitrec.predict")))
    page = Path(text_of(cell_with(nb, "digitrec.report")).splitlines()[0])
    assert page.name == "index.html" and page.is_file() and tmp in page.parents
    assert "digitrec serve" in nb.cells[-2].source
