"""The `digitrec` command, run as a user runs it: a separate process, real files, real data."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from digitrec import cli

METRIC_KEYS = {
    "accuracy", "loss", "recall_macro", "precision_macro", "f1_macro", "per_class_recall",
    "confusion_matrix", "n_test", "params",
}
ENTRY_POINT = Path(sys.executable).with_name("digitrec")


def run_cli(*args, env=None, cwd=None, entry_point=False, timeout=600):
    """Run `python -m digitrec.cli ARGS` (or the installed `digitrec` script) and capture it.

    TF_CPP_MIN_LOG_LEVEL is removed from the environment: keeping TensorFlow's
    logging off stderr is the CLI's job.
    """
    full_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    full_env.update(env or {})
    command = [str(ENTRY_POINT)] if entry_point else [sys.executable, "-m", "digitrec.cli"]
    return subprocess.run(
        [*command, *map(str, args)], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout
    )


def assert_one_line_error(result, *fragments, status=1):
    assert result.returncode == status, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("digitrec: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_usage_error(result, *fragments, verb=None):
    """Exit status 2 and one line: `digitrec VERB: error: ... (try 'digitrec VERB --help')`, no usage block."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    prog = f"digitrec {verb}" if verb else "digitrec"
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{prog}: error: ") and line.endswith(f"(try '{prog} --help')"), line
    for fragment in fragments:
        assert fragment in line, line


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, mnist_dir):
    """`digitrec train` on 2,000 images for one epoch; returns (CompletedProcess, run folder)."""
    cwd = tmp_path_factory.mktemp("cli")
    out = cwd / "run"
    result = run_cli(
        "train", "--model", "baseline", "--epochs", "1", "--train-size", "2000",
        "--data-dir", mnist_dir, "--out", out, cwd=cwd,
    )
    return result, out


# --------------------------------------------------------------------------- train / evaluate


@pytest.mark.slow
def test_train(cli_run):
    result, out = cli_run
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for label in ("accuracy", "recall (macro)", "precision (macro)", "F1 (macro)", "loss", "test images",
                  "parameters", "epochs run", "training time"):
        assert any(line.startswith(label) for line in result.stdout.splitlines()), (label, result.stdout)
    assert "10,000" in result.stdout
    assert "225,034" in result.stdout
    assert f"run folder: {out}" in result.stdout
    assert {"model.keras", "best.keras", "history.csv", "config.json", "metrics.json"} <= set(os.listdir(out))
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "baseline" and config["epochs"] == 1 and config["train_size"] == 2000
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_test"] == 10000 and metrics["epochs_run"] == 1
    assert metrics["accuracy"] > 0.5
    # the accuracy row of the table is the one in metrics.json
    assert f"{metrics['accuracy']:.2%}" in result.stdout


@pytest.mark.slow
def test_evaluate_run_folder_json(cli_run, mnist_dir):
    _, out = cli_run
    result = run_cli("evaluate", "--model", out, "--json", "--data-dir", mnist_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert isinstance(metrics, dict)
    assert set(metrics) >= METRIC_KEYS
    assert metrics["n_test"] == 10000
    assert len(metrics["per_class_recall"]) == 10
    assert sum(map(sum, metrics["confusion_matrix"])) == 10000
    saved = json.loads((out / "metrics.json").read_text())
    assert abs(metrics["accuracy"] - saved["accuracy"]) <= 1e-4
    assert metrics["params"] == saved["params"]


@pytest.mark.slow
def test_evaluate_model_file_with_the_entry_point(cli_run, mnist_dir):
    """The installed `digitrec` script, a .keras path, the data dir from the environment."""
    _, out = cli_run
    assert ENTRY_POINT.exists(), f"{ENTRY_POINT} not installed"
    result = run_cli("evaluate", "--model", out / "model.keras", entry_point=True,
                     env={"DIGITREC_DATA_DIR": str(mnist_dir)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    saved = json.loads((out / "metrics.json").read_text())
    lines = result.stdout.splitlines()
    assert any(line.startswith("accuracy") and f"{saved['accuracy']:.2%}" in line for line in lines), result.stdout
    assert any(line.startswith("test images") and "10,000" in line for line in lines), result.stdout
    assert not any(line.startswith("training time") for line in lines)


def test_help():
    result = run_cli("--help", entry_point=ENTRY_POINT.exists())
    assert result.returncode == 0
    assert "train" in result.stdout and "evaluate" in result.stdout


# --------------------------------------------------------------------------- errors


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_train_without_data_and_network(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(
        "train", "--model", "baseline", "--epochs", "1", "--train-size", "600", "--data-dir", empty,
        "--out", tmp_path / "run", env={"DIGITREC_MNIST_MIRRORS": closed_port_url()}, cwd=tmp_path,
    )
    assert_one_line_error(result, "train-images-idx3-ubyte", str(empty))
    assert not list(empty.glob("*.gz")) and not (empty / ".download").exists()


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_evaluate_missing_model(tmp_path, mnist_dir):
    missing = tmp_path / "no-such-model.keras"
    result = run_cli("evaluate", "--model", missing, "--data-dir", mnist_dir, cwd=tmp_path)
    assert_one_line_error(result, str(missing), "not found")


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_evaluate_garbage_model_file(tmp_path, mnist_dir):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"PK\x03\x04 this is not a keras file\n")
    result = run_cli("evaluate", "--model", run, "--data-dir", mnist_dir, cwd=tmp_path)
    assert_one_line_error(result, str(run / "model.keras"), "not a Keras model archive")


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_train_refuses_an_out_folder_that_holds_files(tmp_path, mnist_dir):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("an earlier run\n")
    result = run_cli("train", "--epochs", "1", "--train-size", "600", "--data-dir", mnist_dir, "--out", out,
                     cwd=tmp_path)
    assert_one_line_error(result, str(out), "--overwrite")
    assert os.listdir(out) == ["notes.txt"] and os.listdir(tmp_path) == ["run"]


@pytest.mark.slow
def test_evaluate_without_model_scores_the_bundled_model(mnist_dir):
    result = run_cli("evaluate", "--json", "--data-dir", mnist_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout)
    assert metrics["n_test"] == 10000 and metrics["params"] == 326_826
    assert metrics["accuracy"] == pytest.approx(0.9967, abs=5e-5)  # the model card's 99.67 %


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_train_unknown_model(tmp_path, mnist_dir):
    result = run_cli("train", "--model", "lenet-9000", "--epochs", "1", "--data-dir", mnist_dir,
                     "--out", tmp_path / "run", cwd=tmp_path)
    line = assert_one_line_error(result, "lenet-9000")
    assert "baseline" in line and "tutorial" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "--epochs", "ten"], "--epochs"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--val-split", "1.5"], "--val-split"),
        (["train", "--val-split", "-0.1"], "--val-split"),
        (["train", "--learning-rate", "0"], "--learning-rate"),
        (["train", "--learning-rate", "inf"], "--learning-rate"),
        (["train", "--learning-rate", "nan"], "--learning-rate"),
        (["train", "--patience", "-1"], "--patience"),
        (["train", "--train-size", "-5"], "--train-size"),
        (["predict"], "PATH"),
        (["fit"], "invalid choice"),
        ([], "command"),
    ],
)
def test_usage_errors(tmp_path, args, fragment):
    result = run_cli(*args, cwd=tmp_path, entry_point=True)
    verb = args[0] if args and args[0] in cli.COMMANDS else None  # errors of a verb's arguments name the verb
    assert_usage_error(result, fragment, verb=verb)
    assert not (tmp_path / "runs").exists()
