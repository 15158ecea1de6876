"""digitrec.plots: the figures on hand-made inputs, and a report of a real (tiny) training run.

The run folder is built once per module: the `seed` model, one epoch on a
stratified 1,200-image subset (about 20 s on a laptop CPU).
"""

import fnmatch
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from digitrec import plots, training
from digitrec.errors import ModelError

PNGS = ("history.png", "confusion_matrix.png", "per_class_recall.png", "misclassified.png")


def partial_files(folder):
    return [p for p in folder.rglob("*") if fnmatch.fnmatch(p.name, "*.partial*")]


def cell_texts(ax):
    """{(row, column): text} of the annotations written in a confusion-matrix axes."""
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("plots") / "run"
    return training.train(model="seed", epochs=1, train_size=1200, data_dir=mnist_dir, out=out, verbose=0)


@pytest.fixture(scope="module")
def report(run, mnist_dir):
    return plots.write_report(run, mnist_dir)


# --------------------------------------------------------------------------- figures on hand-made inputs


def test_confusion_matrix_labels_and_counts():
    cm = np.diag([980, 1130, 1030, 1000, 980, 890, 950, 1020, 970, 1000])
    cm[3, 5] = 7  # seven 3s predicted as 5
    cm[4, 9] = 1
    fig = plots.plot_confusion_matrix(cm)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted digit"
    assert ax.get_ylabel() == "true digit"
    texts = cell_texts(ax)
    assert len(texts) == 100
    assert texts[(3, 5)] == "7"  # row = true digit, column = predicted digit
    assert texts[(5, 3)] == "0"
    assert texts[(4, 9)] == "1"
    assert texts[(1, 1)] == "1130"
    assert "8 wrong" in ax.get_title()
    # The single error gets a colour of its own, distinct from the empty cells.
    image = ax.images[0]
    assert np.ma.is_masked(image.get_array()[0, 1])
    assert not np.ma.is_masked(image.get_array()[4, 9])


@pytest.mark.parametrize("bad", [np.zeros((9, 10)), np.zeros((10,)), -np.eye(10)])
def test_confusion_matrix_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        plots.plot_confusion_matrix(bad)


def make_predictions(n=20, wrong=None, seed=0):
    """Images, labels and probabilities where exactly the items in `wrong` are misclassified.

    `wrong` maps index -> (predicted digit, confidence); every other item is
    predicted right with confidence 0.99.
    """
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n) % 10
    probabilities = np.full((n, 10), 0.01 / 9)
    probabilities[np.arange(n), labels] = 0.99
    for i, (pred, conf) in (wrong or {}).items():
        probabilities[i] = (1 - conf) / 9
        probabilities[i, pred] = conf
    return images, labels, probabilities


def test_misclassified_shows_exactly_the_wrong_items_most_confident_first():
    wrong = {4: (9, 0.55), 11: (7, 0.97), 17: (1, 0.80)}
    images, labels, probabilities = make_predictions(wrong=wrong)
    fig = plots.plot_misclassified(images, labels, probabilities)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["true 1 / pred 7 (0.97)", "true 7 / pred 1 (0.80)", "true 4 / pred 9 (0.55)"]
    # Each panel shows the image of the item its title names.
    assert np.array_equal(fig.axes[0].images[0].get_array(), images[11])
    assert np.array_equal(fig.axes[2].images[0].get_array(), images[4])


def test_misclassified_limits_to_n_and_accepts_channel_axis():
    wrong = {4: (9, 0.55), 11: (7, 0.97), 17: (1, 0.80)}
    images, labels, probabilities = make_predictions(wrong=wrong)
    fig = plots.plot_misclassified(images[..., None], labels, probabilities, n=2)
    assert [ax.get_title() for ax in fig.axes] == ["true 1 / pred 7 (0.97)", "true 7 / pred 1 (0.80)"]


def test_misclassified_with_no_mistakes():
    images, labels, probabilities = make_predictions()
    fig = plots.plot_misclassified(images, labels, probabilities)
    assert len(fig.axes) == 1
    assert not fig.axes[0].images
    assert "no misclassified images" in fig.axes[0].texts[0].get_text()


def test_misclassified_rejects_mismatched_input():
    images, labels, probabilities = make_predictions()
    with pytest.raises(ValueError):
        plots.plot_misclassified(images[:5], labels, probabilities)
    with pytest.raises(ValueError):
        plots.plot_misclassified(images, labels, probabilities[:, :9])
    with pytest.raises(ValueError):
        plots.plot_misclassified(images, labels, probabilities, n=0)


def test_per_class_recall_bars_and_mean():
    recall = [0.99, 0.995, 0.97, 0.98, 0.985, 0.96, 0.99, 0.975, 0.965, 0.97]
    fig = plots.plot_per_class_recall(recall)
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx(recall)
    (mean_line,) = ax.lines
    assert mean_line.get_ydata()[0] == pytest.approx(np.mean(recall))
    assert ax.get_ylim()[0] <= min(recall)  # every bar visible
    with pytest.raises(ValueError):
        plots.plot_per_class_recall(recall[:9])
    with pytest.raises(ValueError):
        plots.plot_per_class_recall([1.5] + recall[1:])


def test_history_from_csv(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n1,0.8,0.6,0.85,0.5\n2,0.9,0.3,0.92,0.25\n")
    fig = plots.plot_history(path)
    loss_ax, acc_ax = fig.axes
    for ax in (loss_ax, acc_ax):
        assert ax.get_xlabel() == "epoch"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]
    assert list(loss_ax.lines[0].get_ydata()) == [0.6, 0.3]
    assert list(loss_ax.lines[1].get_ydata()) == [0.5, 0.25]
    assert list(acc_ax.lines[1].get_ydata()) == [0.85, 0.92]
    assert list(acc_ax.lines[0].get_xdata()) == [1, 2]


def test_history_without_validation_and_bad_files(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,loss\n1,0.8,0.6\n")
    loss_ax, _ = plots.plot_history(path).axes
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["training"]
    path.write_text("epoch,accuracy\n1,0.8\n")
    with pytest.raises(ValueError, match="loss"):
        plots.plot_history(path)
    path.write_text("epoch,loss\n1,abc\n")
    with pytest.raises(ValueError, match="non-numeric"):
        plots.plot_history(path)


def test_save_figure_writes_png_atomically(tmp_path):
    fig = plots.plot_per_class_recall([0.9] * 10)
    path = plots.save_figure(fig, tmp_path / "sub" / "recall.png")
    assert path == tmp_path / "sub" / "recall.png"
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == (round(8 * plots.DPI), round(4 * plots.DPI))
    assert os.listdir(tmp_path / "sub") == ["recall.png"]


# --------------------------------------------------------------------------- the report of a real run


def test_report_writes_valid_pngs_and_no_temp_files(run, report):
    assert report == run / "report" / "report.md"
    assert sorted(os.listdir(run / "report")) == sorted([*PNGS, "report.md"])
    for name in PNGS:
        with Image.open(run / "report" / name) as im:
            im.verify()
            assert im.format == "PNG"
            assert im.size[0] > 100 and im.size[1] > 100
    assert partial_files(run) == []


def test_report_markdown_summarizes_metrics_and_config(run, report):
    text = report.read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"| accuracy | {metrics['accuracy']:.2%} |" in text
    assert f"| F1 (macro) | {metrics['f1_macro']:.2%} |" in text
    assert f"| parameters | {metrics['params']:,} |" in text
    assert "| epochs run | 1 |" in text
    assert "| model | seed |" in text
    assert "| batch size | 128 |" in text
    assert "| training subset | 1200 |" in text
    for name in PNGS:
        assert f"]({name})" in text


def test_report_misclassified_count_matches_metrics(run, report):
    metrics = json.loads((run / "metrics.json").read_text())
    n_wrong = round((1 - metrics["accuracy"]) * metrics["n_test"])
    assert f"({n_wrong:,} wrong in all)" in report.read_text()


def test_report_recomputes_scores_without_metrics_json(run, report, tmp_path, mnist_dir):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run / "model.keras", bare / "model.keras")
    text = plots.write_report(bare, mnist_dir).read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"| accuracy | {metrics['accuracy']:.2%} |" in text
    assert f"| parameters | {metrics['params']:,} |" in text
    assert "| training time | n/a |" in text
    assert "history.png" not in text
    assert sorted(os.listdir(bare / "report")) == sorted([*PNGS[1:], "report.md"])


def test_report_without_model_raises_model_error(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(ModelError, match=str(tmp_path)):
        plots.write_report(tmp_path)
    assert not (tmp_path / "report").exists()


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "digitrec.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_report(run, report, mnist_dir, tmp_path):
    before = (run / "report" / "report.md").stat().st_mtime_ns
    result = cli("report", "--run", str(run), "--data-dir", str(mnist_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"report: {run / 'report' / 'report.md'}"
    assert (run / "report" / "report.md").stat().st_mtime_ns > before
    assert partial_files(run) == []


def test_cli_report_without_model(tmp_path, mnist_dir):
    result = cli("report", "--run", str(tmp_path), "--data-dir", str(mnist_dir), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("digitrec: error:")
    assert str(tmp_path) in lines[0]
