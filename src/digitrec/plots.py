"""Figures of what a model learned, drawn with Matplotlib.

Each `plot_*` function returns a `matplotlib.figure.Figure` built directly,
without pyplot, so no global figure state is touched and no display is
needed; `save_figure` renders it to PNG with Matplotlib's Agg canvas.
Everything a figure says can be read back from its artists (titles, texts,
bar heights, images), which is how the tests check them.
`digitrec.reporting.write_report` puts them all on one HTML page.

Digits are drawn as dark ink on white paper (MNIST stores light ink on dark).
"""

import csv
import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from digitrec import _atomic, evaluation

NUM_CLASSES = 10
DPI = 110
RIGHT, WRONG = "#1a7f37", "#cf222e"  # title colours of right and wrong predictions
# "Blues" without its near-white end, so a single error is a visible tint; empty cells are white.
_CM_COLORS = ListedColormap(colormaps["Blues"](np.linspace(0.18, 1.0, 256))).with_extremes(bad="white")


def read_history(history_csv):
    """The columns of a `history.csv` written by training, as float arrays.

    Args:
        history_csv: str or Path; an `epoch` column (1, 2, ...), a `loss`
            column and optionally `accuracy`, `val_loss`, `val_accuracy`.

    Returns:
        dict column name -> float64 `(epochs,)`.

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
        return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: non-numeric value ({e})") from None


def plot_training_curves(history_csv, restored=True):
    """Loss (left) and accuracy (right) per epoch, training vs validation, best epoch marked.

    The best epoch is the one with the lowest validation loss (training loss
    without validation): the weights in `best.keras`, and in `model.keras`
    when early stopping restored them.

    Args:
        history_csv: str or Path of a run's `history.csv` (see `read_history`).
        restored: whether training restored the best epoch's weights
            (early stopping); only the marker's label changes.

    Returns:
        Figure with two axes, each with a "training" line, a "validation"
        line when the `val_` column exists, and a dashed vertical line at
        the best epoch.

    Raises:
        OSError, ValueError: as `read_history`.
    """
    columns = read_history(history_csv)
    epochs = columns["epoch"]
    monitor = "val_loss" if "val_loss" in columns else "loss"
    best = int(epochs[np.argmin(columns[monitor])])
    mark = f"{'restored ' if restored else ''}best epoch ({best}, lowest {monitor.replace('_', ' ')})"

    fig = Figure(figsize=(10, 4.2), layout="constrained")
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        for prefix, label in (("", "training"), ("val_", "validation")):
            if prefix + metric in columns:
                ax.plot(epochs, columns[prefix + metric], marker="o", label=label)
        ax.axvline(best, color="0.3", linestyle="--", linewidth=1, label=mark)
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy loss" if metric == "loss" else "accuracy")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.legend(fontsize=9)
    fig.suptitle("Training curves")
    return fig


def _digit_grid(images, rows, cols, titles=(), colors=(), figsize=None):
    """Figure with one axes per image (row-major), dark ink on white, optional coloured titles."""
    images = np.asarray(images)
    vmax = 255 if images.dtype == np.uint8 else 1.0
    fig = Figure(figsize=figsize or (1.25 * cols, 1.45 * rows + 0.5), layout="constrained")
    for k, image in enumerate(images):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        if k < len(titles):
            ax.set_title(titles[k], fontsize=10, color=colors[k] if k < len(colors) else "black")
    return fig


def _check_predictions(images, labels, probabilities, n):
    images = np.asarray(images)
    labels = np.asarray(labels).astype("int64")
    probabilities = np.asarray(probabilities, dtype="float64")
    if images.ndim == 4:
        images = images[..., 0]
    if (n < 1 or images.ndim != 3 or len(images) != len(labels)
            or probabilities.shape != (len(labels), NUM_CLASSES)):
        raise ValueError(f"expected N images, N labels, (N, 10) probabilities and n >= 1; got images "
                         f"{images.shape}, labels {labels.shape}, probabilities {probabilities.shape}, n={n}")
    return images, labels, probabilities


def plot_samples(images, labels, per_class=10, seed=0):
    """A grid of digits, one row per class (0 at the top), picked at random.

    Args:
        images: `(N, 28, 28)`, uint8 in [0, 255] or float in [0, 1], light ink on dark.
        labels: int `(N,)` in [0, 9].
        per_class: int >= 1, the images per row.
        seed: int; the same seed picks the same images.

    Returns:
        Figure with 10 * `per_class` axes, row-major; each row's first axes
        has the digit as its y label.

    Raises:
        ValueError: mismatched lengths, or a class with fewer than `per_class` images.
    """
    images, labels = np.asarray(images), np.asarray(labels).astype("int64")
    if len(images) != len(labels) or per_class < 1:
        raise ValueError(f"expected N images and N labels and per_class >= 1; got {images.shape}, {labels.shape}")
    rng = np.random.default_rng(seed)
    picked = []
    for digit in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == digit)
        if len(idx) < per_class:
            raise ValueError(f"digit {digit} has {len(idx)} images, fewer than the {per_class} to show")
        picked.extend(rng.choice(idx, per_class, replace=False))
    fig = _digit_grid(images[picked], NUM_CLASSES, per_class, figsize=(0.9 * per_class + 0.5, 9.4))
    for digit in range(NUM_CLASSES):
        fig.axes[digit * per_class].set_ylabel(str(digit), rotation=0, fontsize=14, labelpad=12, va="center")
    fig.suptitle(f"Training digits, {per_class} per class")
    return fig


def plot_predictions(images, labels, probabilities, n=36, seed=0):
    """Random digits with the predicted label: green title when right, red when wrong.

    Args:
        images: `(N, 28, 28)` or `(N, 28, 28, 1)`, uint8 in [0, 255] or float
            in [0, 1], light ink on dark.
        labels: int `(N,)` in [0, 9], the true digits.
        probabilities: float `(N, 10)`, the model's class probabilities.
        n: int >= 1, how many digits to show (all of them if N is smaller).
        seed: int; the same seed picks the same digits.

    Returns:
        Figure with one axes per digit, titled "pred P" in `RIGHT` colour or
        "pred P, true T" in `WRONG` colour.

    Raises:
        ValueError: mismatched lengths, wrong shapes, or `n` < 1.
    """
    images, labels, probabilities = _check_predictions(images, labels, probabilities, n)
    shown = np.random.default_rng(seed).choice(len(labels), min(n, len(labels)), replace=False)
    predicted = probabilities[shown].argmax(axis=1)
    right = predicted == labels[shown]
    titles = [f"pred {p}" if ok else f"pred {p}, true {t}" for p, t, ok in zip(predicted, labels[shown], right)]
    cols = math.ceil(math.sqrt(len(shown)))
    fig = _digit_grid(images[shown], math.ceil(len(shown) / cols), cols, titles,
                      [RIGHT if ok else WRONG for ok in right])
    for ax, ok in zip(fig.axes, right):
        ax.title.set_fontweight("normal" if ok else "bold")
    fig.suptitle(f"{len(shown)} random test digits: {int(right.sum())} right (green), "
                 f"{int((~right).sum())} wrong (red)")
    return fig


def plot_mistakes(images, labels, probabilities, n=24):
    """The `n` wrong predictions the model was most sure of, most confident first.

    Args:
        images, labels, probabilities: as `plot_predictions`.
        n: int >= 1, the most images to show.

    Returns:
        Figure with one axes per shown image, titled "true T, pred P" and
        "p = 0.97" (the predicted class's probability). With no mistakes,
        one empty axes says so.

    Raises:
        ValueError: mismatched lengths, wrong shapes, or `n` < 1.
    """
    images, labels, probabilities = _check_predictions(images, labels, probabilities, n)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(labels)), predicted]
    wrong = np.flatnonzero(predicted != labels)
    shown = wrong[np.argsort(-confidence[wrong], kind="stable")][:n]
    if not len(shown):
        fig = Figure(figsize=(5, 2), layout="constrained")
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, f"no mistakes in {len(labels):,} images", ha="center", va="center", fontsize=12)
        ax.axis("off")
        return fig
    titles = [f"true {labels[i]}, pred {predicted[i]}\np = {confidence[i]:.2f}" for i in shown]
    cols = min(len(shown), 8)
    rows = math.ceil(len(shown) / cols)
    fig = _digit_grid(images[shown], rows, cols, titles, figsize=(1.3 * cols + 0.3, 1.75 * rows + 0.5))
    fig.suptitle(f"The {len(shown)} most confident mistakes (of {len(wrong):,} wrong; "
                 f"p: probability of the predicted digit)")
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
        y: "true digit") with one text per cell, followed by its colour bar.

    Raises:
        ValueError: not `(10, 10)` or a negative count.
    """
    cm = np.asarray(confusion_matrix)
    if cm.shape != (NUM_CLASSES, NUM_CLASSES) or (cm < 0).any():
        raise ValueError(f"confusion matrix must be 10x10 non-negative counts, got shape {cm.shape}")
    cm = cm.astype("int64")
    norm = LogNorm(vmin=1, vmax=max(int(cm.max()), 10))
    fig = Figure(figsize=(7.5, 6.3), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_equal(cm, 0), cmap=_CM_COLORS, norm=norm)
    for (true, pred), count in np.ndenumerate(cm):
        dark = count > 0 and norm(count) > 0.6
        ax.text(pred, true, str(count), ha="center", va="center", fontsize=9,
                color="white" if dark else ("0.7" if count == 0 else "black"))
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_yticks(range(NUM_CLASSES))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"Confusion matrix ({cm.sum():,} images, {cm.sum() - np.trace(cm):,} wrong)")
    fig.colorbar(image, ax=ax, label="images (log scale)")
    return fig


def plot_per_class(confusion_matrix):
    """Precision and recall of each digit as paired bars; the legend gives the macro means.

    The y axis starts a little below the lowest value (not at 0), so small
    differences between digits are visible.

    Args:
        confusion_matrix: int array-like `(10, 10)`, as `plot_confusion_matrix`.

    Returns:
        Figure with one axes: 10 "precision" bars then 10 "recall" bars.

    Raises:
        ValueError: not `(10, 10)` or a negative count.
    """
    cm = np.asarray(confusion_matrix)
    if cm.shape != (NUM_CLASSES, NUM_CLASSES) or (cm < 0).any():
        raise ValueError(f"confusion matrix must be 10x10 non-negative counts, got shape {cm.shape}")
    precision, recall, _ = evaluation.per_class_scores(cm)
    digits = np.arange(NUM_CLASSES)
    fig = Figure(figsize=(8.5, 4.6), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(digits - 0.2, precision, 0.4, label=f"precision (macro {precision.mean():.2%})", color="tab:blue")
    ax.bar(digits + 0.2, recall, 0.4, label=f"recall (macro {recall.mean():.2%})", color="tab:orange")
    low = min(precision.min(), recall.min())
    bottom = max(0.0, math.floor((low - 0.01) * 50) / 50)
    ax.set_ylim(bottom, 1.0 + (1.0 - bottom) * 0.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xticks(digits)
    ax.set_xlabel("digit")
    ax.set_ylabel("score (test set)")
    ax.set_title("Precision and recall per digit")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2)
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
