"""digitrec.plots on hand-made inputs: every figure is checked through what it drew.

The figures of a real model on the real MNIST test set are checked in test_report.py.
"""

import os

import numpy as np
import pytest
from matplotlib.colors import same_color
from matplotlib.figure import Figure
from PIL import Image

from digitrec import plots


def cell_texts(ax):
    """{(row, column): text} of the annotations written in a confusion-matrix axes."""
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}


def shown_indices(fig, images):
    """The index into `images` of the image each axes of `fig` shows (images must be distinct)."""
    index = {img.tobytes(): i for i, img in enumerate(images)}
    assert len(index) == len(images)
    return [index[np.asarray(ax.images[0].get_array()).astype(images.dtype).tobytes()] for ax in fig.axes]


def make_predictions(n=20, wrong=None, seed=0):
    """Distinct images, labels and probabilities where exactly the items in `wrong` are misclassified.

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


# --------------------------------------------------------------------------- confusion matrix


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
    assert sum(int(t) for t in texts.values()) == cm.sum()
    assert "8 wrong" in ax.get_title()
    # The single error gets a colour of its own, distinct from the empty cells.
    image = ax.images[0]
    assert np.ma.is_masked(image.get_array()[0, 1])
    assert not np.ma.is_masked(image.get_array()[4, 9])


@pytest.mark.parametrize("bad", [np.zeros((9, 10)), np.zeros((10,)), -np.eye(10)])
def test_confusion_matrix_and_per_class_reject_bad_input(bad):
    with pytest.raises(ValueError, match="10x10"):
        plots.plot_confusion_matrix(bad)
    with pytest.raises(ValueError, match="10x10"):
        plots.plot_per_class(bad)


# --------------------------------------------------------------------------- predictions


def test_predictions_red_titles_are_exactly_the_wrong_ones():
    wrong = {4: (9, 0.55), 11: (7, 0.97), 17: (1, 0.80)}
    images, labels, probabilities = make_predictions(wrong=wrong)
    fig = plots.plot_predictions(images, labels, probabilities)  # n=36 > 20: every item, in random order
    shown = shown_indices(fig, images)
    assert sorted(shown) == list(range(20))
    red = 0
    for ax, i in zip(fig.axes, shown):
        title = ax.title
        if i in wrong:
            assert title.get_text() == f"pred {wrong[i][0]}, true {labels[i]}"
            assert same_color(title.get_color(), plots.WRONG)
            red += 1
        else:
            assert title.get_text() == f"pred {labels[i]}"
            assert same_color(title.get_color(), plots.RIGHT)
    assert red == 3
    assert "17 right (green), 3 wrong (red)" in fig.get_suptitle()


def test_predictions_sample_is_random_but_reproducible():
    wrong = {i: ((i + 1) % 10, 0.9) for i in range(0, 200, 7)}
    images, labels, probabilities = make_predictions(n=200, wrong=wrong)
    fig = plots.plot_predictions(images[..., None], labels, probabilities, n=25, seed=1)
    shown = shown_indices(fig, images)
    assert len(shown) == len(set(shown)) == 25
    assert shown != sorted(shown)
    reds = sum(same_color(ax.title.get_color(), plots.WRONG) for ax in fig.axes)
    assert reds == sum(i in wrong for i in shown)
    assert shown_indices(plots.plot_predictions(images, labels, probabilities, n=25, seed=1), images) == shown
    assert shown_indices(plots.plot_predictions(images, labels, probabilities, n=25, seed=2), images) != shown


# --------------------------------------------------------------------------- mistakes


def test_mistakes_shows_exactly_the_wrong_items_most_confident_first():
    wrong = {4: (9, 0.55), 11: (7, 0.97), 17: (1, 0.80)}
    images, labels, probabilities = make_predictions(wrong=wrong)
    fig = plots.plot_mistakes(images, labels, probabilities)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["true 1, pred 7\np = 0.97", "true 7, pred 1\np = 0.80", "true 4, pred 9\np = 0.55"]
    assert shown_indices(fig, images) == [11, 17, 4]


def test_mistakes_limits_to_n_and_accepts_channel_axis():
    wrong = {4: (9, 0.55), 11: (7, 0.97), 17: (1, 0.80)}
    images, labels, probabilities = make_predictions(wrong=wrong)
    fig = plots.plot_mistakes(images[..., None], labels, probabilities, n=2)
    assert [ax.get_title() for ax in fig.axes] == ["true 1, pred 7\np = 0.97", "true 7, pred 1\np = 0.80"]
    assert "2 most confident mistakes (of 3 wrong" in fig.get_suptitle()


def test_mistakes_with_no_mistakes():
    images, labels, probabilities = make_predictions()
    fig = plots.plot_mistakes(images, labels, probabilities)
    assert len(fig.axes) == 1
    assert not fig.axes[0].images
    assert fig.axes[0].texts[0].get_text() == "no mistakes in 20 images"


def test_predictions_and_mistakes_reject_mismatched_input():
    images, labels, probabilities = make_predictions()
    for plot in (plots.plot_predictions, plots.plot_mistakes):
        with pytest.raises(ValueError, match="expected N images"):
            plot(images[:5], labels, probabilities)
        with pytest.raises(ValueError, match="expected N images"):
            plot(images, labels, probabilities[:, :9])
        with pytest.raises(ValueError, match="n >= 1"):
            plot(images, labels, probabilities, n=0)


# --------------------------------------------------------------------------- samples


def test_samples_one_row_per_class():
    # Every image of digit d is filled with the value 20 * d + 5, so each panel tells its class.
    labels = np.repeat(np.arange(10), 15)[::-1].copy()
    images = np.broadcast_to((20 * labels + 5).astype(np.uint8)[:, None, None], (150, 28, 28)).copy()
    images[:, 0, 0] = np.arange(150)  # and the corner its index, so panels are distinct images
    fig = plots.plot_samples(images, labels, per_class=6)
    assert len(fig.axes) == 60
    shown = shown_indices(fig, images)
    assert len(set(shown)) == 60
    for k, (ax, i) in enumerate(zip(fig.axes, shown)):
        row = k // 6
        assert labels[i] == row
        assert ax.get_ylabel() == (str(row) if k % 6 == 0 else "")
    assert "6 per class" in fig.get_suptitle()


def test_samples_needs_enough_of_each_class():
    labels = np.repeat(np.arange(10), 5)
    labels[labels == 7] = 8  # no 7 at all
    with pytest.raises(ValueError, match="digit 7 has 0 images"):
        plots.plot_samples(np.zeros((50, 28, 28), np.uint8), labels, per_class=3)


# --------------------------------------------------------------------------- per class


def test_per_class_precision_and_recall_bars():
    cm = np.diag([90, 100, 100, 100, 100, 100, 100, 100, 100, 100])
    cm[3, 5] = 10  # ten 3s called 5: recall(3) = 100/110, precision(5) = 100/110
    cm[0, 1] = 10  # recall(0) = 90/100, precision(1) = 100/110
    fig = plots.plot_per_class(cm)
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    precision, recall = heights[:10], heights[10:]
    assert precision == pytest.approx([1, 100 / 110, 1, 1, 1, 100 / 110, 1, 1, 1, 1])
    assert recall == pytest.approx([0.9, 1, 1, 100 / 110, 1, 1, 1, 1, 1, 1])
    assert ax.get_ylim()[0] <= 0.9  # every bar visible
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [f"precision (macro {np.mean(precision):.2%})", f"recall (macro {np.mean(recall):.2%})"]


# --------------------------------------------------------------------------- training curves


def test_training_curves_from_csv_mark_the_best_epoch(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n1,0.8,0.6,0.85,0.5\n2,0.9,0.3,0.92,0.25\n"
                    "3,0.95,0.2,0.91,0.3\n")
    fig = plots.plot_training_curves(path)
    loss_ax, acc_ax = fig.axes
    for ax in (loss_ax, acc_ax):
        assert ax.get_xlabel() == "epoch"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            "training", "validation", "restored best epoch (2, lowest val loss)"]
        assert list(ax.lines[2].get_xdata()) == [2, 2]  # the vertical marker
    assert list(loss_ax.lines[0].get_ydata()) == [0.6, 0.3, 0.2]
    assert list(loss_ax.lines[1].get_ydata()) == [0.5, 0.25, 0.3]
    assert list(acc_ax.lines[1].get_ydata()) == [0.85, 0.92, 0.91]
    assert list(acc_ax.lines[0].get_xdata()) == [1, 2, 3]
    label = plots.plot_training_curves(path, restored=False).axes[0].get_legend().get_texts()[2].get_text()
    assert label == "best epoch (2, lowest val loss)"


def test_training_curves_without_validation_and_bad_files(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,loss\n1,0.8,0.6\n2,0.85,0.4\n")
    loss_ax, _ = plots.plot_training_curves(path).axes
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == [
        "training", "restored best epoch (2, lowest loss)"]
    path.write_text("epoch,accuracy\n1,0.8\n")
    with pytest.raises(ValueError, match="loss"):
        plots.plot_training_curves(path)
    path.write_text("epoch,loss\n1,abc\n")
    with pytest.raises(ValueError, match="non-numeric"):
        plots.plot_training_curves(path)


# --------------------------------------------------------------------------- time to accuracy


def test_time_to_accuracy_one_line_per_recipe_with_a_point_per_epoch():
    curves = {"fast": [[4.1, 0.9871], [7.9, 0.9925]], "baseline": [[20.0, 0.981], [39.5, 0.986], [61.0, 0.9902]]}
    fig = plots.plot_time_to_accuracy(curves)
    [ax] = fig.axes
    recipe_lines = [line for line in ax.lines if line.get_marker() == "o"]
    assert [line.get_label() for line in recipe_lines] == ["fast", "baseline"]
    assert list(recipe_lines[0].get_xdata()) == [4.1, 7.9]
    assert list(recipe_lines[1].get_ydata()) == [0.981, 0.986, 0.9902]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fast", "baseline"]
    # dotted targets at 99.2 % and 99.5 %, all points inside the axes
    assert sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":") == [0.992, 0.995]
    bottom, top = ax.get_ylim()
    assert bottom <= 0.981 and top == 1.0
    assert ax.get_xscale() == "log" and "seconds" in ax.get_xlabel()


@pytest.mark.parametrize("curves", [{}, {"fast": []}])
def test_time_to_accuracy_needs_points(curves):
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_time_to_accuracy(curves)


# --------------------------------------------------------------------------- saving


def test_save_figure_writes_png_atomically(tmp_path):
    fig = plots.plot_per_class(np.eye(10) * 100)
    path = plots.save_figure(fig, tmp_path / "sub" / "per_class.png")
    assert path == tmp_path / "sub" / "per_class.png"
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == (round(8.5 * plots.DPI), round(4.6 * plots.DPI))
    assert os.listdir(tmp_path / "sub") == ["per_class.png"]
