"""digitrec.runs: what a model argument names, and reading a run folder's JSON files."""

import pytest

from digitrec import runs
from digitrec.errors import ModelError


def test_model_path_of_each_form(tmp_path):
    assert runs.model_path(None) == runs.model_path("bundled") == runs.BUNDLED_MODEL
    assert runs.BUNDLED_MODEL.is_file()
    (tmp_path / "model.keras").write_bytes(runs.BUNDLED_MODEL.read_bytes())
    assert runs.model_path(tmp_path) == runs.model_path(str(tmp_path)) == tmp_path / "model.keras"
    (tmp_path / "other.keras").write_bytes(runs.BUNDLED_MODEL.read_bytes())
    assert runs.model_path(tmp_path / "other.keras") == tmp_path / "other.keras"


def test_a_folder_without_a_model(tmp_path):
    with pytest.raises(ModelError, match=r"no model\.keras in this folder") as e:
        runs.model_path(tmp_path)
    assert str(e.value).startswith(f"{tmp_path}: ")


def test_read_config_and_metrics(tmp_path):
    (tmp_path / "config.json").write_text('{"model": "fast", "epochs": 2}')
    (tmp_path / "metrics.json").write_text('{"accuracy": 0.99}')
    assert runs.read_config(tmp_path) == {"model": "fast", "epochs": 2}
    assert runs.read_metrics(tmp_path) == {"accuracy": 0.99}


@pytest.mark.parametrize("text", [None, '{"accuracy": 0.9', "[1, 2]", "\xff"])
def test_unreadable_run_files_are_model_errors_naming_the_file(tmp_path, text):
    if text is not None:
        (tmp_path / "metrics.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(ModelError, match="cannot read this run file") as e:
        runs.read_metrics(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'metrics.json'}: ")
