"""Figures and a Markdown report for a training run.

Each `plot_*` function returns a `matplotlib.figure.Figure` built directly,
without pyplot, so no global figure state is touched and no display is
needed; `save_figure` renders it to PNG with Matplotlib's Agg canvas.
`write_report` puts it all together for a run folder written by
`digitrec.training.train`:

    run_dir/report/history.png           loss and accuracy per epoch
    run_dir/report/confusion_matrix.png  true vs predicted test digits
    run_dir/report/per_class_recall.png  recall of each digit
    run_dir/report/misclassified.png     the most confidently wrong test images
    run_dir/report/report.md             scores, settings and the links above
"""

import csv
import json
import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from digitrec import _atomic, data, evaluation
from digitrec.errors import ModelError

NUM_CLASSES = 10
DPI = 110
# "Blues" without its near-white end, so a single error is a visible tint; empty cells are white.
_CM_COLORS = ListedColormap(colormaps["Blues"](np.linspace(0.18, 1.0, 256))).with_extremes(bad="white")


def plot_history(history_csv):
    """Training curves: loss (left panel) and accuracy (right panel) per epoch.

    Args:
        history_csv: str or Path of a `history.csv` as written by training:
            an `epoch` column (1, 2, ...) and float columns `loss`, and
            optionally `accuracy`, `val_loss`, `val_accuracy`.

    Returns:
        Figure with two axes; each holds a "training" line and, when the
        `val_` column exists, a "validation" line.

    Raises:
        OSError: the file cannot be read.
        ValueError: no `epoch` or `loss` column, a non-numeric value, or no rows.
    """
    path = Path(history_csv)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"epoch", "loss"} <= rows[0].keys():
        raise ValueError(f"{path}: expected an 'epoch' and a 'loss' column and at least one row")
    try:
        columns = {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: non-numeric value ({e})") from None

    fig = Figure(figsize=(10, 4), layout="constrained")
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        for prefix, label in (("", "training"), ("val_", "validation")):
            if prefix + metric in columns:
                ax.plot(columns["epoch"], columns[prefix + metric], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.set_xlim(columns["epoch"].min() - 0.5, columns["epoch"].max() + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if ax.lines:
            ax.legend()
    return fig


def plot_confusion_matrix(confusion_matrix):
    """Heat map of a 10x10 confusion matrix with every count written in its cell.

    The colour scale is logarithmic (empty cells white), so a handful of
    off-diagonal errors stays visible next to ~1,000 correct predictions.

    Args:
        confusion_matrix: int array-like `(10, 10)`, counts >= 0; rows are
            the true digits, columns the predicted digits.

    Returns:
        Figure whose first axes is the matrix (x: "predicted digit",
        y: "true digit"), followed by its colour bar.

    Raises:
        ValueError: not `(10, 10)` or a negative count.
    """
    cm = np.asarray(confusion_matrix)
    if cm.shape != (NUM_CLASSES, NUM_CLASSES) or (cm < 0).any():
        raise ValueError(f"confusion matrix must be 10x10 non-negative counts, got shape {cm.shape}")
    cm = cm.astype("int64")
    norm = LogNorm(vmin=1, vmax=max(int(cm.max()), 10))
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_equal(cm, 0), cmap=_CM_COLORS, norm=norm)
    for (true, pred), count in np.ndenumerate(cm):
        dark = count > 0 and norm(count) > 0.6
        ax.text(pred, true, str(count), ha="center", va="center", fontsize=7,
                color="white" if dark else ("0.75" if count == 0 else "black"))
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_yticks(range(NUM_CLASSES))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"confusion matrix ({cm.sum():,} images, {cm.sum() - np.trace(cm):,} wrong)")
    fig.colorbar(image, ax=ax, label="images (log scale)")
    return fig


def plot_per_class_recall(per_class_recall):
    """Bar chart of each digit's recall, with the macro (unweighted) mean as a line.

    The y axis starts a little below the lowest recall (not at 0), so small
    differences between digits are visible; each bar is labelled with its value.

    Args:
        per_class_recall: 10 floats in [0, 1], recall of digits 0..9.

    Returns:
        Figure with one axes: 10 bars and a horizontal "macro mean" line.

    Raises:
        ValueError: not 10 values, or a value outside [0, 1].
    """
    recall = np.asarray(per_class_recall, dtype="float64")
    if recall.shape != (NUM_CLASSES,) or not ((recall >= 0) & (recall <= 1)).all():
        raise ValueError(f"per-class recall must be 10 values in [0, 1], got {recall!r}")
    mean = recall.mean()
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(range(NUM_CLASSES), recall, color="tab:blue")
    ax.bar_label(bars, labels=[f"{r:.1%}" for r in recall], fontsize=7, padding=2,
                 bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
    ax.axhline(mean, color="tab:red", linestyle="--", zorder=0.5, label=f"macro mean {mean:.2%}")
    bottom = max(0.0, math.floor((recall.min() - 0.02) * 20) / 20)
    ax.set_ylim(bottom, 1.0 + (1.0 - bottom) * 0.08)
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_xlabel("digit")
    ax.set_ylabel("recall")
    ax.set_title("recall per digit (test set)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_misclassified(images, labels, probabilities, n=25):
    """Grid of the `n` misclassified images with the highest predicted probability.

    Args:
        images: `(N, 28, 28)` or `(N, 28, 28, 1)`, uint8 in [0, 255] or
            float in [0, 1], light ink on dark.
        labels: int `(N,)` in [0, 9], the true digits.
        probabilities: float `(N, 10)`, the model's class probabilities.
        n: int >= 1, the most images to show.

    Returns:
        Figure with one axes per shown image, most confident mistake first,
        each titled "true T / pred P (0.97)" (the predicted class's
        probability). With no mistakes, one empty axes says so.

    Raises:
        ValueError: mismatched lengths, wrong shapes, or `n` < 1.
    """
    images = np.asarray(images)
    labels = np.asarray(labels).astype("int64")
    probabilities = np.asarray(probabilities, dtype="float64")
    if images.ndim == 4:
        images = images[..., 0]
    if n < 1 or images.ndim != 3 or probabilities.shape != (len(labels), NUM_CLASSES) or len(images) != len(labels):
        raise ValueError(f"expected N images, N labels and (N, 10) probabilities and n >= 1; got images "
                         f"{images.shape}, labels {labels.shape}, probabilities {probabilities.shape}, n={n}")
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(labels)), predicted]
    wrong = np.flatnonzero(predicted != labels)
    shown = wrong[np.argsort(-confidence[wrong], kind="stable")][:n]

    if not len(shown):
        fig = Figure(figsize=(4, 2), layout="constrained")
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, f"no misclassified images (of {len(labels):,})", ha="center", va="center")
        ax.axis("off")
        return fig
    cols = math.ceil(math.sqrt(len(shown)))
    rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(1.7 * cols, 1.9 * rows + 0.4), layout="constrained")
    vmax = 255 if images.dtype == np.uint8 else 1.0
    for k, i in enumerate(shown):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=vmax)
        ax.set_title(f"true {labels[i]} / pred {predicted[i]} ({confidence[i]:.2f})", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"most confidently misclassified: {len(shown)} of {len(wrong):,} wrong")
    return fig


def save_figure(fig, path):
    """Render `fig` to a PNG file at `DPI` dots per inch, atomically.

    Args:
        fig: a `matplotlib.figure.Figure`.
        path: str or Path of the PNG; parent folders are created.

    Returns:
        The Path written. A failure leaves `path` untouched and no temporary file.

    Raises:
        OSError: the folder is not writable.
    """
    path = Path(path)
    with _atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return path


def _read_json(path):
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def _markdown(run_dir, metrics, config, images, n_wrong):
    def pct(key):
        return f"{metrics[key]:.2%}" if key in metrics else "n/a"

    seconds = metrics.get("train_seconds")
    table = [
        ("accuracy", pct("accuracy")),
        ("recall (macro)", pct("recall_macro")),
        ("precision (macro)", pct("precision_macro")),
        ("F1 (macro)", pct("f1_macro")),
        ("loss (cross-entropy)", f"{metrics['loss']:.4f}" if "loss" in metrics else "n/a"),
        ("parameters", f"{metrics['params']:,}" if "params" in metrics else "n/a"),
        ("epochs run", str(metrics.get("epochs_run", "n/a"))),
        ("training time", f"{seconds:.0f} s" if seconds is not None else "n/a"),
    ]
    settings = [("model", "model"), ("max epochs", "epochs"), ("batch size", "batch_size"),
                ("learning rate", "learning_rate"), ("validation split", "val_split"), ("seed", "seed")]
    if config.get("train_size"):
        settings.append(("training subset", "train_size"))
    lines = [
        f"# Training report: {run_dir.resolve().name}",
        "",
        f"Scores on the {metrics.get('n_test', 10000):,} MNIST test images, which training never sees.",
        "",
        "| metric | value |",
        "|---|---:|",
        *(f"| {name} | {value} |" for name, value in table),
        "",
        "## Configuration",
        "",
        "| setting | value |",
        "|---|---|",
        *(f"| {name} | {config.get(key, 'n/a')} |" for name, key in settings),
        "",
        "## Figures",
        "",
    ]
    captions = {
        "history.png": "Loss and accuracy per epoch",
        "confusion_matrix.png": "Confusion matrix (rows: true digit, columns: predicted digit; log colour scale)",
        "per_class_recall.png": "Recall per digit, with the macro mean",
        "misclassified.png": f"The most confidently misclassified test images ({n_wrong:,} wrong in all)",
    }
    for name in images:
        lines += [f"### {captions[name]}", "", f"![{captions[name]}]({name})", ""]
    return "\n".join(lines)


def write_report(run_dir, data_dir=None):
    """Score a run's model on the MNIST test set and write figures and a summary.

    Args:
        run_dir: str or Path of a run folder written by `digitrec train`;
            it needs `model.keras`, and uses `metrics.json`, `config.json`
            and `history.csv` where present (scores are recomputed when
            `metrics.json` is missing; no history plot without `history.csv`).
        data_dir: MNIST folder (see `digitrec.data.load_split`).

    Returns:
        Path of `run_dir/report/report.md`; the PNGs lie next to it. Every
        file is written atomically.

    Raises:
        ModelError: no `model.keras` in `run_dir` (the message names the
            folder), or it cannot be loaded.
        DatasetError: the MNIST test files are missing or corrupt.
        ValueError: `metrics.json`, `config.json` or `history.csv` is malformed.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "model.keras").is_file():
        raise ModelError(f"{run_dir}: no model.keras in this folder (is it a run folder from `digitrec train`?)")
    from digitrec.models import load_model  # deferred: importing Keras takes seconds

    model = load_model(run_dir / "model.keras")
    images, labels = data.load_split("test", data_dir)
    probabilities = model.predict(data.to_float(images), batch_size=1000, verbose=0)
    scores = evaluation.scores(probabilities, labels)

    if (run_dir / "metrics.json").is_file():
        metrics = _read_json(run_dir / "metrics.json")
    else:
        metrics = {**scores, "params": int(model.count_params())}
    config = _read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}

    out = run_dir / "report"
    figures = {}
    if (run_dir / "history.csv").is_file():
        figures["history.png"] = plot_history(run_dir / "history.csv")
        if "epochs_run" not in metrics:
            with (run_dir / "history.csv").open(newline="") as f:
                metrics["epochs_run"] = sum(1 for _ in csv.DictReader(f))
    figures["confusion_matrix.png"] = plot_confusion_matrix(scores["confusion_matrix"])
    figures["per_class_recall.png"] = plot_per_class_recall(scores["per_class_recall"])
    figures["misclassified.png"] = plot_misclassified(images, labels, probabilities)
    for name, fig in figures.items():
        save_figure(fig, out / name)

    n_wrong = scores["n_test"] - int(np.trace(np.asarray(scores["confusion_matrix"])))
    report = out / "report.md"
    _atomic.write_text(report, _markdown(run_dir, metrics, config, figures, n_wrong))
    return report
