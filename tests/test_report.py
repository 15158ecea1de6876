"""digitrec.report on a real (tiny) training run and the real MNIST test set: files, figures, the HTML page, CLI.

The run is trained once per module: the `tutorial` model, one epoch on a
stratified 2,000-image subset (a few seconds), so it still makes mistakes to show.
"""

import base64
import fnmatch
import html
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import html5lib
import numpy as np
import pytest
from matplotlib.colors import same_color
from PIL import Image

import digitrec
from digitrec import cli, data, evaluation, models, plots, reporting
from digitrec.errors import ModelError
from digitrec.inference import BUNDLED_MODEL

FIGURES = ("training_curves.png", "samples.png", "predictions.png", "confusion_matrix.png", "mistakes.png",
           "per_class.png")


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("report") / "run"
    return digitrec.train(model="tutorial", epochs=1, train_size=2000, data_dir=mnist_dir, out=out, verbose=0)


@pytest.fixture(scope="module")
def page(run, mnist_dir):
    return digitrec.report(run, data_dir=mnist_dir)


@pytest.fixture(scope="module")
def predicted(run, mnist_test):
    """(test images, labels, the run model's probabilities (10000, 10))."""
    images, labels = mnist_test
    net = models.load_model(run / "model.keras")
    return images, labels, net.predict(data.to_float(images), batch_size=1000, verbose=0)


def partial_files(folder):
    return [p for p in folder.rglob("*") if fnmatch.fnmatch(p.name, "*.partial*")]


def png_bytes(fig, tmp_path):
    return plots.save_figure(fig, tmp_path / "figure.png").read_bytes()


@pytest.mark.slow
def test_index_html_and_every_figure_written_atomically(run, page):
    assert page == run / "report" / "index.html"
    assert sorted(os.listdir(page.parent)) == sorted([*FIGURES, "index.html"])
    for name in FIGURES:
        with Image.open(page.parent / name) as im:
            im.verify()
            assert im.format == "PNG"
            assert im.size[0] >= 500 and im.size[1] >= 300
    assert partial_files(run) == []


@pytest.mark.slow
def test_pngs_are_the_figures_of_this_run(run, page, predicted, mnist_dir, tmp_path):
    """Each PNG is byte for byte the `plots` figure of the run's data, so the checks below hold for the files."""
    images, labels, probabilities = predicted
    cm = evaluation.scores(probabilities, labels)["confusion_matrix"]
    figures = {
        # The tutorial recipe has no early stopping, so nothing was restored.
        "training_curves.png": plots.plot_training_curves(run / "history.csv", restored=False),
        "samples.png": plots.plot_samples(*data.load_split("train", mnist_dir)),
        "predictions.png": plots.plot_predictions(images, labels, probabilities),
        "confusion_matrix.png": plots.plot_confusion_matrix(cm),
        "mistakes.png": plots.plot_mistakes(images, labels, probabilities),
        "per_class.png": plots.plot_per_class(cm),
    }
    for name, fig in figures.items():
        assert png_bytes(fig, tmp_path) == (page.parent / name).read_bytes(), name


@pytest.mark.slow
def test_red_titles_are_the_wrong_predictions_shown(predicted):
    images, labels, probabilities = predicted
    fig = plots.plot_predictions(images, labels, probabilities)
    index = {img.tobytes(): i for i, img in enumerate(images)}
    shown = [index[np.asarray(ax.images[0].get_array()).tobytes()] for ax in fig.axes]
    assert len(fig.axes) == len(set(shown)) == 36
    predicted_labels = probabilities[shown].argmax(axis=1)
    wrong = [(p, labels[i]) for p, i in zip(predicted_labels, shown) if p != labels[i]]
    red = [ax.get_title() for ax in fig.axes if same_color(ax.title.get_color(), plots.WRONG)]
    green = [ax.get_title() for ax in fig.axes if same_color(ax.title.get_color(), plots.RIGHT)]
    assert len(red) == len(wrong)
    assert len(red) + len(green) == 36
    assert sorted(red) == sorted(f"pred {p}, true {t}" for p, t in wrong)
    assert all(re.fullmatch(r"pred \d", t) for t in green)


@pytest.mark.slow
def test_confusion_matrix_counts_sum_to_the_test_set(predicted):
    _, labels, probabilities = predicted
    fig = plots.plot_confusion_matrix(evaluation.scores(probabilities, labels)["confusion_matrix"])
    counts = {(round(t.get_position()[1]), round(t.get_position()[0])): int(t.get_text()) for t in fig.axes[0].texts}
    assert len(counts) == 100
    assert sum(counts.values()) == len(labels) == 10000
    right = int((probabilities.argmax(axis=1) == labels).sum())
    assert sum(counts[d, d] for d in range(10)) == right
    for true in range(10):
        assert sum(counts[true, p] for p in range(10)) == int((labels == true).sum())


@pytest.mark.slow
def test_mistakes_are_the_most_confident_wrong_predictions(predicted):
    images, labels, probabilities = predicted
    predicted_labels = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted_labels != labels)
    assert len(wrong) > 24  # a one-epoch model: enough mistakes to fill the figure
    fig = plots.plot_mistakes(images, labels, probabilities)
    assert len(fig.axes) == 24
    threshold = np.sort(confidence[wrong])[::-1][23]
    shown_confidence = []
    for ax in fig.axes:
        true, pred, p = re.fullmatch(r"true (\d), pred (\d)\np = (\d\.\d\d)", ax.get_title()).groups()
        assert true != pred
        i = next(j for j, img in enumerate(images) if np.array_equal(img, ax.images[0].get_array()))
        assert (labels[i], predicted_labels[i]) == (int(true), int(pred))
        assert f"{confidence[i]:.2f}" == p and confidence[i] >= threshold
        shown_confidence.append(confidence[i])
    assert shown_confidence == sorted(shown_confidence, reverse=True)
    assert f"of {len(wrong):,} wrong" in fig.get_suptitle()


# --------------------------------------------------------------------------- the page


class PageParser(HTMLParser):
    """Collects the doctype, tags and attributes, and every end tag that does not close the open element."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                      "wbr"})

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.doctype, self.open, self.errors, self.tags, self.title = None, [], [], [], ""
        self.feed(text)
        self.close()

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"</{tag}> at line {self.getpos()[0]}")

    def handle_data(self, text):
        if self.open and self.open[-1] == "title":
            self.title += text


@pytest.mark.slow
def test_index_html_is_valid_and_self_contained(page):
    text = page.read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True).parse(text)  # raises on any HTML5 parse error (a missing doctype too)
    parsed = PageParser(text)
    assert parsed.doctype == "DOCTYPE html"
    assert parsed.errors == [] and parsed.open == []
    assert parsed.tags[0] == ("html", {"lang": "en"})
    assert parsed.title == "digitrec report: run"
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == len(FIGURES)
    for attrs, name in zip(images, FIGURES):  # in this order on the page, each the file next to it
        assert attrs["alt"] == reporting.CAPTIONS[name]
        assert attrs["src"] == "data:image/png;base64," + base64.b64encode((page.parent / name).read_bytes()).decode()
    links = {attrs["href"] for tag, attrs in parsed.tags if tag == "a"}
    assert links == set(FIGURES)
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "link", "iframe")]


@pytest.mark.slow
def test_index_html_scores_config_and_model_summary(run, page):
    text = html.unescape(page.read_text(encoding="utf-8"))
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    cm = np.array(metrics["confusion_matrix"])

    def row(name, *values):
        return f"<tr><th scope=row>{name}</th>" + "".join(f"<td class=num>{v}</td>" for v in values) + "</tr>"

    assert row("accuracy", f"{metrics['accuracy']:.2%}") in text
    assert row("F1 (macro)", f"{metrics['f1_macro']:.2%}") in text
    assert row("wrong predictions", f"{cm.sum() - np.trace(cm):,}") in text
    assert row("parameters", f"{metrics['params']:,}") in text
    assert row("epochs run", "1") in text
    assert row("training time", f"{metrics['train_seconds']:.0f} s") in text
    precision, recall, _ = evaluation.per_class_scores(cm)
    for d in range(10):
        assert row(d, f"{cm[d].sum():,}", f"{precision[d]:.2%}", f"{recall[d]:.2%}") in text
    for key, value in config.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        assert f"<tr><th scope=row>{key}</th><td>{shown}</td></tr>" in text
    assert "<tr><th scope=row>model</th><td>tutorial</td></tr>" in text
    assert f"Total params: {metrics['params']:,}" in text
    assert 'Model: "tutorial"' in text and "conv2d" in text


# --------------------------------------------------------------------------- model files, errors, CLI


def digitrec_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "digitrec.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.slow
def test_cli_report_of_a_model_file(run, page, mnist_dir, tmp_path):
    model = tmp_path / "tiny.keras"
    shutil.copy(run / "model.keras", model)
    result = digitrec_cli("report", "--model", str(model), "--data-dir", str(mnist_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "reports" / "tiny"  # created, with its parent
    assert result.stdout.strip() == f"report: {os.path.join('reports', 'tiny', 'index.html')}"
    assert sorted(os.listdir(out)) == sorted([*FIGURES[1:], "index.html"])
    text = (out / "index.html").read_text()
    html5lib.HTMLParser(strict=True).parse(text)
    assert "No training_curves.png: training curves need a run folder" in text
    assert "No training configuration" in text
    assert text.count("<img ") == len(FIGURES) - 1
    # Same model, same test set: the same scores and figures as the run's report.
    accuracy = json.loads((run / "metrics.json").read_text())["accuracy"]
    assert f"<td class=num>{accuracy:.2%}</td>" in text
    assert (out / "confusion_matrix.png").read_bytes() == (page.parent / "confusion_matrix.png").read_bytes()
    assert "<td class=num>n/a</td>" in text  # no training time for a bare model file
    assert partial_files(tmp_path) == []


def test_report_arguments_and_default_folders(tmp_path):
    args = cli.build_parser().parse_args(["report", "runs/a", "--out", "x"])
    assert (args.run, args.model, args.out) == ("runs/a", None, "x")
    args = cli.build_parser().parse_args(["report", "--model", "bundled"])
    assert (args.run, args.model, args.out) == (None, "bundled", None)
    assert reporting._resolve(None, "bundled", None) == (BUNDLED_MODEL, None, reporting.Path("reports/default"))
    shutil.copy(BUNDLED_MODEL, tmp_path / "model.keras")
    assert reporting._resolve(tmp_path, None, None) == (tmp_path / "model.keras", tmp_path, tmp_path / "report")
    for both_or_neither in ((None, None), (tmp_path, "bundled")):
        with pytest.raises(ValueError, match="either a run folder or a model file"):
            digitrec.report(both_or_neither[0], model=both_or_neither[1])


@pytest.mark.parametrize("args", [(), ("runs/a", "--model", "b.keras")])
def test_cli_report_needs_exactly_one_source(args, tmp_path):
    result = digitrec_cli("report", *args, cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("digitrec report: error: ") and "RUN_DIR" in line


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_report_without_model_is_a_clear_error(tmp_path, mnist_dir):
    (tmp_path / "history.csv").write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(ModelError, match=re.escape(str(tmp_path))):
        digitrec.report(tmp_path, data_dir=mnist_dir)
    result = digitrec_cli("report", str(tmp_path), "--data-dir", str(mnist_dir), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"digitrec: error: {tmp_path}: no model.keras in this folder " \
                                    "(is it a run folder from `digitrec train`?)"
    result = digitrec_cli("report", "--model", "missing.keras", "--data-dir", str(mnist_dir), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "digitrec: error: missing.keras: model file not found"
    assert sorted(os.listdir(tmp_path)) == ["history.csv"]  # no report folder for a failed report
