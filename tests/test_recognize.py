"""Recognition of real-world-like pictures with the bundled model.

Consistency: MNIST test digits that are inverted, padded, scaled, moved to a
corner or JPEG-compressed must get the same label as the plain digit. The
families of real input (scans, canvases, photos, forms) are measured by
`digitrec bench --robustness` (tests/test_robustness.py). Set
DIGITREC_TEST_MODEL to a .keras file to run these tests against another
model than the bundled one.
"""

import contextlib
import io
import os
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import synth
from digitrec import data, formlines, ink, preprocessing, renderings
from digitrec.decoding import to_grayscale
from digitrec.errors import ImageError, ModelError
from digitrec.inference import BUNDLED_MODEL, Prediction, Recognizer
from digitrec.preprocessing import normalize, normalize_hypotheses

N_CONSISTENCY = 500
MIN_CONSISTENCY = 0.97
N_POLARITY = 300  # binary16 renderings of MNIST test digits


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer(os.environ.get("DIGITREC_TEST_MODEL") or None)


@pytest.fixture(scope="module")
def examples(mnist_test, recognizer):
    """One MNIST test digit per class, the first that the model reads right as a plain digit."""
    images, labels = mnist_test
    plain = recognizer.classify(images[:200] / 255.0).argmax(axis=1)
    chosen = [next(i for i in range(200) if labels[i] == d and plain[i] == d) for d in range(10)]
    return images[chosen], labels[chosen]


def _jpeg(array, quality):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf))


def _corner(digit, rng):
    canvas = np.zeros((140, 140), np.uint8)
    r, c = rng.choice([0, 112]), rng.choice([0, 112])
    canvas[r : r + 28, c : c + 28] = digit
    return canvas


TRANSFORMS = {
    "inverted": lambda d, rng: 255 - d,
    "padded": lambda d, rng: np.pad(d, [tuple(rng.integers(5, 60, 2)), tuple(rng.integers(5, 60, 2))]),
    "scaled x5": lambda d, rng: np.asarray(Image.fromarray(d).resize((140, 140), Image.BICUBIC)),
    "in a corner": _corner,
    "JPEG q=75": lambda d, rng: _jpeg(d, 75),
}


# ---------------------------------------------------------------- the API


def test_predict_returns_one_prediction_per_image(tmp_path, recognizer, examples):
    images, labels = examples
    path = tmp_path / "digit.png"
    Image.fromarray(255 - images[0]).resize((112, 112)).save(path)
    inputs = [path, str(path), path.read_bytes(), Image.fromarray(images[1]), images[2],
              images[3].astype("float32") / 255.0, np.dstack([255 - images[4]] * 3)]
    results = recognizer.predict(inputs)
    assert len(results) == len(inputs)
    for result, label in zip(results, [labels[0]] * 3 + list(labels[1:5])):
        assert isinstance(result, Prediction)
        assert isinstance(result.label, int) and 0 <= result.label <= 9
        assert result.label == label
        assert len(result.probabilities) == 10
        assert all(isinstance(p, float) and 0 <= p <= 1 for p in result.probabilities)
        assert sum(result.probabilities) == pytest.approx(1.0, abs=1e-4)
        assert result.confidence == max(result.probabilities) == result.probabilities[result.label]
        top = result.top_k(3)
        assert top[0][0] == result.label and len(top) == 3
        assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_predict_of_no_images_is_an_empty_list(recognizer):
    assert recognizer.predict([]) == []
    assert recognizer.predict(np.zeros((0, 28, 28), np.uint8)) == []


def test_predict_single_image_and_numpy_batch(recognizer, examples):
    images, labels = examples
    [single] = recognizer.predict(images[7])
    assert single.label == labels[7]
    batch = recognizer.predict(images)  # (10, 28, 28) counts as 10 images
    assert [r.label for r in batch] == list(labels)


def test_preprocess_is_the_model_input(recognizer, examples):
    images, _ = examples
    big = np.asarray(Image.fromarray(255 - images[5]).resize((200, 200)))
    x = recognizer.preprocess(big)
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert any(np.array_equal(x, h) for h in normalize_hypotheses(big))  # the reading chosen; `normalize`'s is the first
    p = recognizer.classify(x[None])
    assert p.shape == (1, 10)
    assert recognizer.predict(big)[0].probabilities == pytest.approx(tuple(p[0]), abs=1e-6)


def test_a_doubtful_polarity_is_left_to_the_classifier(mnist_test, recognizer, monkeypatch):
    """Thick binary digits stretched to fill 16x16: where the shapes leave it in doubt which side is ink, both
    readings are classified and the one that looks most like a digit wins; that reads more of them right. (The
    polarity alone: the readings at half the width that such a crop gets, and the global split, are tested below.
    A fourth reading: the dark strokes offered beside light ink that runs along the picture's edge, one picture.)"""
    monkeypatch.setattr(preprocessing, "_fills_its_frame", lambda gray: False)
    monkeypatch.setattr(preprocessing, "global_splits", lambda gray, readings, found: [])  # tested below
    monkeypatch.setattr(preprocessing, "_side_pieces", lambda mask: None)  # tested above
    monkeypatch.setattr(ink, "UNEVEN_LIGHT", 0.0)  # never divided by the paper's light: tested below
    images, labels = mnist_test
    rng = np.random.default_rng(5)
    files = [renderings.render("binary16", images[i], rng) for i in range(N_POLARITY)]
    hypotheses = [normalize_hypotheses(f) for f in files]
    assert all(h.shape[1:] == (28, 28) and 1 <= len(h) <= 4 and np.array_equal(h[0], normalize(f))
               for f, h in zip(files, hypotheses))
    doubtful = [i for i, h in enumerate(hypotheses) if len(h) >= 2]
    assert 0.05 * N_POLARITY < len(doubtful) < 0.5 * N_POLARITY
    first = recognizer.classify(np.stack([h[0] for h in hypotheses])).argmax(axis=1)
    chosen, p = recognizer.choose(hypotheses)
    assert [np.any([np.array_equal(c, x) for x in h]) for c, h in zip(chosen, hypotheses)] == [True] * N_POLARITY
    assert np.mean(p.argmax(axis=1) == labels[:N_POLARITY]) >= np.mean(first == labels[:N_POLARITY]) + 0.005  # 97.7 % vs 96.7 % here
    predicted = recognizer.predict([files[i] for i in doubtful])  # the label, unless rejected as not a digit
    assert [r.label if r.rejected is None else int(r.probabilities.index(max(r.probabilities))) for r in predicted] \
        == list(p[doubtful].argmax(axis=1))
    assert all(np.array_equal(recognizer.preprocess(files[i]), chosen[i]) for i in doubtful[:10])  # what it sees


def test_a_digit_stretched_to_fill_its_frame_is_read_at_half_its_width_too(mnist_test, recognizer):
    """A 1 stretched to fill a 16x16 binary scan (as USPS and Semeion scale their digits) is a block whose aspect
    ratio is lost, often refused as not a digit: it is read at half its width too, and the classifier chooses.
    The first 100 MNIST test 1s: 91 read as 1 without those readings, 96 with them."""
    images, labels = mnist_test
    ones = np.flatnonzero(labels == 1)[:100]
    files = [renderings.render("binary16", images[i], np.random.default_rng([7, int(i)])) for i in ones]
    assert sum(p.label == 1 for p in recognizer.predict(files)) >= 94
    tight = renderings.render("tight16", images[ones[0]], np.random.default_rng(0))  # aspect kept: paper beside it
    stretched = [f for f in files[:10] if preprocessing._fills_its_frame(to_grayscale(f))]  # its ink reaches them
    assert len(stretched) >= 5 and not preprocessing._fills_its_frame(to_grayscale(tight))
    for f in [*stretched, tight]:
        gray = to_grayscale(f)
        half = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0]), interpolation=cv2.INTER_AREA)
        hypotheses = normalize_hypotheses(f)
        assert np.array_equal(hypotheses[0], normalize(f))
        assert any(np.array_equal(h, normalize(half)) for h in hypotheses) == (f is not tight)


def _cut_from_a_number(images, i, rng, column):
    """Test digit `i` cut from a number of three test digits (`i - 1`, `i`, `i + 1`) written in a row (or, turned,
    in a column) 2-5 px apart, by a box that holds 15-35 % of each neighbour: dark on white, as a form's cell is."""
    boxes = [renderings._ink_box(images[j].T if column else images[j]) for j in (i - 1, i, i + 1)]
    h = max(b.shape[0] for b in boxes)
    keep = [max(1, round(b.shape[1] * rng.uniform(0.15, 0.35))) for b in (boxes[0], boxes[2])]
    parts = [boxes[0][:, -keep[0]:], np.zeros((h, rng.integers(2, 6))), boxes[1], np.zeros((h, rng.integers(2, 6))),
             boxes[2][:, : keep[1]]]
    row = np.concatenate([np.pad(p, ((0, h - p.shape[0]), (0, 0))) for p in parts], 1)
    return 255 - (row.T if column else row).astype(np.uint8)


def test_a_digit_cut_from_a_number_is_read_without_its_neighbours_edges(mnist_test, recognizer):
    """A digit cut from a written number (a form's cell, a grid over a line of digits) holds edges of its
    neighbours at the crop's sides, joined to it as one cluster of ink: the whole was refused as not a digit. The
    pieces cut by a side that have paper between them and the rest are offered left out too (`_side_pieces`), and
    the classifier chooses. These 60 test digits (rows and columns): 21 read right before, 59 now."""
    images, labels = mnist_test
    rng = np.random.default_rng(12)
    crops = [_cut_from_a_number(images, i, rng, column=i % 3 == 0) for i in range(1, 61)]
    assert sum(p.label == y for p, y in zip(recognizer.predict(crops), labels[1:61])) >= 57


def _cut_from_a_form(digit, rng, chance=0.6):
    """A test digit cut from a form's cell on its printed lines, or 1-2 px outside them: lines 1-3 px thick along
    each side at a `chance` of 0.6, 1-4 px of paper between them and the digit, dark on white, 1-3 times MNIST's
    size."""
    box = renderings._ink_box(digit).astype(np.float32) / 255
    m = rng.integers(1, 5, 4)
    k = rng.uniform(1, 3)
    cell = cv2.resize(np.pad(box, ((m[0], m[1]), (m[2], m[3]))), None, fx=k, fy=k)
    h, w = cell.shape
    t, level = int(rng.integers(1, 4)), rng.uniform(0.5, 1.0)
    for side in np.flatnonzero(rng.random(4) < chance):
        lines = np.zeros_like(cell)
        lines[[np.s_[:t], np.s_[h - t :], np.s_[:, :t], np.s_[:, w - t :]][side]] = level
        cell = np.maximum(cell, lines)
    return 255 - np.round(255 * np.pad(cell, int(rng.integers(0, 3)))).astype(np.uint8)


def test_a_digit_cut_from_a_form_on_its_lines_is_read_without_them(mnist_test, recognizer):
    """The lines of a form's cell along the sides of a crop cut on them were not taken for form lines (a box must
    frame the rest, a ruled line reach beyond it) and joined the digit's cluster: most were refused. The rows and
    columns along the ink's box that ink covers (`EDGE_LINE`) are offered left out too (`formlines.cell_lines`). These 60:
    38 read right before, 59 now."""
    images, labels = mnist_test
    rng = np.random.default_rng(3)
    crops = [_cut_from_a_form(images[i], rng) for i in range(60)]
    assert sum(p.label == y for p, y in zip(recognizer.predict(crops), labels[:60])) >= 57


@pytest.mark.slow  # several seconds: 100 crops
def test_a_digit_framed_by_its_cells_four_lines_is_read_as_dark_ink(mnist_test, recognizer):
    """Cut on all four of its cell's lines, a digit and the lines are the dark side of the split, whose widths the
    long straight lines make vary more than the paper's in the cell: 10 of these 100 were read as light ink first
    (19 of 100 validation digits, most refused). The dark side is scored without the cell's lines too
    (`ink._side_score`): 2 now; read right 95 -> 96."""
    images, labels = mnist_test
    rng = np.random.default_rng(4)
    crops = [_cut_from_a_form(images[i], rng, chance=1.0) for i in range(100)]
    light = [not ink.ink_readings(preprocessing.to_grayscale(crop))[0][0] for crop in crops]
    assert sum(light) <= 4, np.flatnonzero(light)
    assert sum(p.label == y for p, y in zip(recognizer.predict(crops), labels[:100])) >= 94


def test_only_pieces_cut_by_a_side_with_paper_between_them_and_the_rest_are_left_out():
    mask = np.zeros((20, 20), bool)
    mask[2:18, 8:11] = True  # the digit
    mask[5:9, 0:4] = True  # a neighbour's edge, cut by the left side
    assert preprocessing._side_pieces(mask)[6, 1] and not preprocessing._side_pieces(mask)[10, 9]
    mask[5:9, 0:9] = True  # joined to the digit: one piece
    assert preprocessing._side_pieces(mask) is None


def test_only_thin_lines_at_the_pictures_sides_are_taken_for_a_cells_lines():
    mask = np.zeros((40, 40), bool)
    mask[0:2, :] = True  # a cell's top line, along the picture's side
    mask[8:36, 18:22] = True  # the digit, with paper between
    lines = formlines.cell_lines(mask)
    assert lines[1, 5] and not lines[20, 20] and lines.sum() == 80
    shape = np.zeros((60, 60), bool)
    shape[10:50, 10:50] = mask  # the same ink with paper around it: a drawing, not a crop
    assert formlines.cell_lines(shape) is None
    mask[0:8, :] = True  # a band over a fifth of the ink's height (`EDGE_THIN`): a shadow's, no printed line
    assert formlines.cell_lines(mask) is None
    assert formlines.cell_lines(np.zeros((1, 3000), bool)) is None  # a blank picture's split (`ink._side_score`)


def test_what_a_cells_side_leaves_along_it_does_not_count_as_the_digit():
    """The rest must not reach from a removed line to the one opposite (an empty box in perspective, its sides no
    full column, read as a 1); what a faint or broken side line leaves along a side is no part of the rest there,
    or the lines of a cell whose digit lies between such remnants stayed (validation `cell` digits, seed 31: 386 ->
    391 of 400)."""
    mask = np.zeros((40, 40), bool)
    mask[0:2, :], mask[38:40, :] = True, True  # the cell's top and bottom lines
    mask[2:38, 1:3] = True  # a side line too faint to cover nine tenths of the rows: a broken, thinner remnant
    mask[4:37:4, 1:3] = False
    mask[8:32, 18:22] = True  # the digit
    lines = formlines.cell_lines(mask)
    assert lines is not None and lines[0, 20] and lines[39, 20] and not lines[20, 20]
    mask[8:32, 18:22] = False  # an empty box: only the remnant is left between the lines
    assert formlines.cell_lines(mask) is None


def test_a_clear_polarity_has_one_reading(mnist_test, monkeypatch):
    images, _ = mnist_test
    rng = np.random.default_rng(6)
    monkeypatch.setattr(ink, "UNEVEN_LIGHT", 0.0)  # the photo's copy divided by its paper's light is no polarity
    for family in ("clean", "inverted", "canvas", "photo", "form"):
        assert normalize_hypotheses(renderings.render(family, images[0], rng)).shape == (1, 28, 28)


def test_the_paper_between_thick_marker_strokes_is_not_the_ink(mnist_test, recognizer):
    """Phone photos of one digit in a felt-tip marker (the `marker` family): the paper in a loop or between close
    strokes answers as light thin strokes, more one-sided than the marker's own dark ones. These two were read from
    that paper (the 5 rejected, the 6 read as 1) until the thick reading of the other polarity was offered beside
    the thin one (`ink.ink_readings`) for the classifier to choose."""
    images, labels = mnist_test
    for seed in (75, 126):
        rng = np.random.default_rng(seed)
        i = int(rng.integers(len(labels)))
        assert recognizer.predict(renderings.render("marker", images[i], rng))[0].label == labels[i]


def test_a_thick_marker_in_uneven_light_is_found(mnist_test, recognizer):
    """Phone photos of one digit in a thick marker across a lighting gradient and a shade (`synth.number_photo`):
    the page's split is the lighting and the strokes are too wide for the local readings; each of these gave "no
    ink found" until the paper's brightness was subtracted before the split (`ink._flat_reading`)."""
    images, labels = mnist_test
    truth, predicted = [], []
    for seed in (1, 50, 84, 155, 159, 220):
        rng = np.random.default_rng(seed)
        i = int(rng.integers(len(labels)))
        image, _ = synth.number(images[[i]], rng)
        predicted.append(recognizer.predict(synth.number_photo(image, rng))[0].label)
        truth.append(int(labels[i]))
    assert predicted == truth


def test_a_narrow_shadow_band_across_a_marker_digit_is_left_out(mnist_test, recognizer):
    """The pages of `synth.marker_page`: the classifier keeps the reading without the band (test_robustness).
    19 of these 20 are read right (the 20 pages without the band: all 20); 9 were before."""
    images, labels = mnist_test
    pages = [synth.marker_page(images[i], np.random.default_rng(i)) for i in range(20)]
    assert sum(p.label == y for p, y in zip(recognizer.predict(pages), labels[:20])) >= 18


def test_a_form_digit_under_a_hard_shadow_is_read(mnist_test, recognizer):
    """Test digits in a printed box or on a ruled line (the `form` family) photographed under a hard-edged shadow
    45 % dark (`synth.shadowed`: a half-plane or a band, as direct light casts a hand's or a pen's). The page's
    split often takes the paper lit beside the shadow for light ink; where that runs along a quarter of the
    picture's edge, the thin dark strokes are offered to the classifier too (`ink.LIT_EDGE`): 32 of these 40 were
    read right, 29 before; 34 since dark strokes of any width, or the darkest of three levels, are offered there
    and a box is dropped despite a speck outside it (2026-12-06; the cases below)."""
    images, labels = mnist_test
    pages = []
    for i in range(40):
        rng = np.random.default_rng(i)
        pages.append(synth.shadowed(renderings.render("form", images[i], rng), 0.45, rng))
    assert sum(p.label == y for p, y in zip(recognizer.predict(pages), labels[:40])) >= 33


@pytest.mark.slow  # about 20 s: 100 photos read two ways
def test_a_marker_digit_under_a_hard_shadow_is_read_on_its_paper_divided_by_the_light(mnist_test, recognizer,
                                                                                       monkeypatch):
    """100 test digits written with a felt-tip marker (the `marker` family) under a hard-edged shadow 45 % dark
    (`synth.shadowed`). The picture divided by its paper's light (`ink.divided_by_paper`) is read too and the
    classifier chooses: 96 are read right, 91 without it (the band, or the paper lit beside the shadow, taken for
    the ink). The same pages without the division, as before, for the comparison."""
    images, labels = mnist_test
    pages = []
    for i in range(100):
        rng = np.random.default_rng(i)
        pages.append(synth.shadowed(renderings.render("marker", images[i], rng), 0.45, rng))

    def read_right():
        right = 0
        for page, label in zip(pages, labels):
            with contextlib.suppress(ImageError):
                right += recognizer.predict([page])[0].label == label
        return right

    assert read_right() >= 95
    monkeypatch.setattr(ink, "UNEVEN_LIGHT", 0.0)  # never divided: the reading before
    assert read_right() <= 93


@pytest.mark.parametrize(("family", "index"), [("form", 41266), ("form", 25261), ("form", 26258), ("noise", 10614),
                                               ("noise", 49436), ("marker", 30637), ("marker", 4270),
                                               ("marker", 53669), ("cell", 37077), ("cell", 55863), ("cell", 55812),
                                               ("cell", 47339), ("cell", 51946), ("photo", 6181),
                                               ("photo", 30528), ("stretched16", 27113), ("stretched16", 34502),
                                               ("stretched16", 29270), ("binary16", 15348), ("binary16", 41822),
                                               ("binary16", 38992), ("photo", 958)])
def test_a_digit_half_in_a_hard_shadow_is_read(mnist_dir, recognizer, family, index):
    """MNIST training digits 41266 (a 1 of thick straight strokes), 25261 (a 2) and 26258 (a 0) as the `form` family
    renders them in a printed box, and 10614 (a 9) and 49436 (a 6) as the `noise` family does (salt and pepper),
    each under a hard shadow's half-plane or band (`scripts/family_validation.py 5 100 form noise --shadow 0.45`):
    Otsu's split took the paper lit beside the shadow for light ink, and the digit was refused. The 1: the reading
    that found it kept its box, held by a speck of the shadow's edge at the picture's border, and was taken for a
    box alone. The 2 and the 0: their dark strokes were not offered, being wider than a third of the lit paper's
    width (the 2), or beside thin light strokes along the shadow's edge (the 0). The 9 and the 6: no local reading
    found dark strokes among the noise; the darkest of three Otsu classes is offered now. The `marker` 4 (30637), 0
    (4270) and 2 (53669): the band joined the thick strokes it crosses, and their darker class was offered alone only
    where it was twice as dark as the band (`ink.darkest_class`), not half again as dark: all were refused. The
    `cell` 9, 7, 4, 5 and 3 (37077, 55863, 55812, 47339, 51946): tiny scans, which were never divided by their
    paper's light (`ink.divided_by_paper`); the paper lit beside the shadow was taken for light ink, and then
    nothing stood out: "no ink found". The `photo` 1 and 5 (6181, 30528): faint pencil strokes, a band across the
    1 and a half-plane's edge beside the 5; the page was not divided, its ink told light (the closing's top-hats
    alone, `ink._dark_ink`: the grain and the corners between the strokes and the shadow's edge outweighed them),
    and the shadow was read as the ink and refused. The `stretched16` 2, 0 and 3 (27113, 34502, 29270): a tiny scan
    whose first reading was of dark ink, too wide for its strokes with the shade beside them, so that nothing stood
    out of its paper ("no ink found"); such a scan was divided by its paper's light only where its first reading
    took light ink, and now also where its own reading finds none. The `binary16` 6, 3 and 9 (15348, 41822, 38992):
    the same, their bold strokes the majority of every window, so that neither polarity test (`ink._dark_ink`)
    told them dark: divided as the dark ink their reading found. The `photo` 6 (958): faint pencil beside a hard
    band, which `ink.is_shadow` tells from ink but kept, since the pen's thinner reading could take its place; the
    pen, under `ink.SHADOW_CONTRAST` times as dark as the band, did not, and the band read as a "1" more confidently
    than the 6. A shadow that `is_shadow` told now gives its place to the pen whatever the pen's contrast."""
    images, labels = data.load_split("train", mnist_dir)
    rng = np.random.default_rng([5, list(renderings.FAMILIES).index(family), index])
    picture = synth.shadowed(renderings.render(family, images[index], rng), 0.45, rng)
    assert recognizer.predict([picture])[0].label == labels[index]


def test_a_hard_shadow_on_blank_paper_is_no_ink(recognizer):
    """Phone photos of blank paper (`scripts/blank_photos.py`'s pages, no soft shadow) under a hard shadow's band or
    half-plane: the shade was read as a region of ink, a bar, and 6 of these 20 were read as a 1. A region reading
    whose ink the picture divided by its paper's light shows as paper is a shadow (`ink.is_shadow`): none is read."""
    rng, read, shadow = np.random.default_rng(17), 0, 0
    for _ in range(20):
        h, w = (int(v) for v in rng.integers(300, 801, size=2))
        page = renderings.photo(np.zeros((h, w), np.float32), rng, 0.5, int(rng.integers(60, 86)), shadow=False)
        page = synth.shadowed(page, 0.45, rng)
        try:
            read += recognizer.predict([page])[0].label is not None
        except ImageError as error:
            shadow += "only a shadow" in str(error)
    assert read <= 2 and shadow >= 3, (read, shadow)


def test_a_bold_digit_photographed_and_cropped_to_its_ink_is_no_shadow(mnist_test, recognizer):
    """The first 40 test digits in a felt-tip pen, photographed and cropped to their ink (`synth.tight_bold_photo`,
    pages 64-220 px): their bold strokes are a region of the crop, and `ink.is_shadow`'s closing, a tenth of the
    shorter side, was narrower than them, so they vanished from the quotient as a shadow does: 4 were "no ink
    found: only a shadow" and 23 read right. Its closing is a fifth of the side (`ink.SHADOW_CLOSING`): none is a
    shadow, 30 read right; strokes wider than that, darker than a shade and not convex are ink (`ink._bold_ink`),
    not a shadow that left the paper between them to be read: 34 (the rest: the paper between strokes read as ink)."""
    images, labels = mnist_test
    right, shadows = 0, 0
    for i in range(40):
        try:
            right += recognizer.predict([synth.tight_bold_photo(images[i], np.random.default_rng(i))])[0].label == labels[i]
        except ImageError as error:
            shadows += "only a shadow" in str(error)
    assert shadows == 0 and right >= 32, (shadows, right)


@pytest.mark.parametrize("index", [442, 487])
def test_a_tight_bold_crop_whose_paper_between_strokes_reads_light_is_read_from_its_dark_strokes(
        mnist_test, recognizer, index):
    """Test digits 442 (a 3) and 487 (a 9) as `synth.tight_bold_photo` crops: their bold strokes fill most of the
    flat-fielded reading's median window, so the median was the ink there and the paper between the strokes read as
    light ink (read 1 and refused). The split's dark side now comes second (`ink._dark_side`) and is chosen."""
    images, labels = mnist_test
    prediction = recognizer.predict([synth.tight_bold_photo(images[index], np.random.default_rng(index))])[0]
    assert prediction.label == labels[index], prediction


def test_a_bilevel_tiny_scan_is_not_divided_by_its_papers_light(dev_set, recognizer):
    """realworld-dev's 32x32 scans are bilevel (0 and 255), light strokes on black, so bold that they fill most of
    any window: each was divided by its paper's light as a tiny scan under a shadow is (since b9c6941), and the
    classifier chose among near copies of its reading (a 4 read as 9 at 0.91 beside 4 at 0.43; realworld-dev 28 ->
    30 misread). No shadow lies on a bilevel picture (its light would be a third level): the 4s 16, 19 and 1269,
    the 1s 204 and 2087 and the 6 1708 are read right again (the classifier's answer: 204 and 1708 stay under the
    rejection threshold, as before), and none of the six is divided."""
    images, labels = dev_set
    index = [16, 19, 204, 1269, 1708, 2087]
    predictions = recognizer.predict(list(images[index]))
    assert [int(np.argmax(p.probabilities)) for p in predictions] == list(labels[index])
    for image in images[index]:
        assert len(preprocessing.normalize_hypotheses(image)) <= 2, "divided readings offered"


def test_a_thick_marker_digit_beside_a_shadow_band_is_read(mnist_test, recognizer):
    """The pages of `synth.thick_marker_beside_a_band`: the flat-fielded page's split holds the digit and pieces
    of the band; only the digit, its largest piece, need a pen's sharp edges. 11 of these 20 were read right when
    the whole split had to (the band's soft edges rejected the reading and the band was taken for the ink)."""
    images, labels = mnist_test
    pages = [synth.thick_marker_beside_a_band(images[i], np.random.default_rng(i)) for i in range(20)]
    assert sum(p.label == y for p, y in zip(recognizer.predict(pages), labels[:20])) >= 18


@pytest.mark.slow  # several seconds: 60 pages
def test_a_marker_digit_running_into_a_soft_shadow_band_is_found(mnist_test, recognizer):
    """The pages of `synth.marker_running_into_a_band`, 60 test digits: ink is found on every one, and 59 are read
    right. Before strokes were judged whole on a quarter of a stroke width around them where nothing else reads
    (`ink.WHOLE_BESIDE`), 3 gave "no ink found" (two 1s and a 3): within half a width, the band beside
    them answers to the next window side too."""
    images, labels = mnist_test
    answers = []
    for i in range(60):
        try:
            answers.append(recognizer.predict([synth.marker_running_into_a_band(images[i], np.random.default_rng(i))])[0].label)
        except ImageError as e:
            answers.append(str(e))
    assert not [a for a in answers if isinstance(a, str)], answers
    assert sum(a == y for a, y in zip(answers, labels[:60])) >= 58


def test_a_thick_marker_digit_half_in_a_soft_shadow_is_read(mnist_test, recognizer):
    """The pages of `synth.thick_marker_half_in_shade`, 40 test digits: 39 read right; 32 when the local windows
    stopped at 65 px (its strokes were not read, and the paper inside a loop was taken for light ink)."""
    images, labels = mnist_test
    pages = [synth.thick_marker_half_in_shade(images[i], np.random.default_rng(i)) for i in range(40)]
    assert sum(p.label == y for p, y in zip(recognizer.predict(pages), labels[:40])) >= 37


def test_the_paper_between_marker_strokes_in_a_shade_is_not_light_ink(mnist_test, recognizer):
    """Four `marker` renderings of test digits (a 9, two 4s and a 2 near a pen's shadow, drawn with
    `default_rng([7, i])`) where the paper in a loop or between two strokes answered as thin light strokes, more
    one-sided than the marker's own, and was read as the ink (none of the four read right). Those thin strokes lie
    within the marker's strokes once closed and filled, so they are its gaps. Of the 500 first test digits rendered
    this way, 485 were read right before, 489 now, none lost."""
    images, labels = mnist_test
    index = [20, 109, 238, 467]
    pages = [renderings.render("marker", images[i], np.random.default_rng([7, i])) for i in index]
    assert [p.label for p in recognizer.predict(pages)] == [int(labels[i]) for i in index]


@pytest.mark.parametrize("index", [184, 249])
def test_a_hard_edged_shadow_band_beside_a_thin_pen_digit_is_not_the_digit(recognizer, mnist_test, index):
    """A shadow band 50 px wide with hard edges beside or across a digit in a 3 px pen: its sharp edges make it a
    region read first, a bar the classifier takes for a confident "1" (the 8 and the 2 here; 9 of the first 300
    test digits so drawn were read "1"). A pen's ink is darker than any shadow it lies in: a reading of the same
    polarity with strokes a third as wide or less and ink half again as dark makes the wider one a shade, dropped
    from the readings, by `normalize` as by `predict` and `read`."""
    images, labels = mnist_test
    picture = synth.thin_pen_crossed_by_a_hard_band(images[index], np.random.default_rng(index))
    assert recognizer.predict([picture])[0].label == labels[index]
    assert np.array_equal(normalize(picture), normalize_hypotheses(picture)[0])
    assert recognizer.read(picture).text == str(labels[index])


@pytest.mark.parametrize("index", [41, 48, 125])
def test_a_motion_blurred_digit_is_not_read_from_its_darkest_strokes(recognizer, mnist_test, index):
    """A shaking hand blurs the photo along one direction: strokes along it stay dark, strokes across it are
    smeared lighter, so the ink has two levels, as where a shadow band joins the strokes. The darker level alone
    (the 7's or the 4's or the 9's upright) was offered as a reading and the classifier took it for a confident
    "1" (7 of the first 150 test digits so photographed). A shadow band crosses the picture; the lighter level
    of a blurred digit does not reach its border, and the darker level is then no reading of its own."""
    images, labels = mnist_test
    picture = synth.motion_blurred(images[index], np.random.default_rng(index))
    assert recognizer.predict([picture])[0].label == labels[index]
    assert len(normalize_hypotheses(picture)) == 1


@pytest.mark.slow  # several seconds: 80 photos
@pytest.mark.parametrize("printed", [True, False])
def test_a_digit_on_a_line_a_little_wider_than_it_is_read_without_the_line(recognizer, mnist_test, printed):
    """A digit on a form's printed answer line, or underlined by its writer, the line reaching a little beyond it
    (`synth.digit_on_a_line`): a ruled line was removed only where it crossed 90 % of the picture, and the digit
    with its line read as a "2" or as not a digit (of these 40 test digits, 23 printed and 26 underlined read
    right). A flat line under the ink that reaches beyond it at both ends goes, as a ruled line does."""
    images, labels = mnist_test
    pages = [synth.digit_on_a_line(images[i], np.random.default_rng(i), printed) for i in range(40)]
    assert sum(p.label == y for p, y in zip(recognizer.predict(pages), labels[:40])) >= 36


@pytest.mark.slow  # several seconds: 100 pages
def test_a_digit_whose_ballpoint_skipped_keeps_its_dashes(recognizer, mnist_test):
    """A digit in a ballpoint that skips on glossy paper (`synth.skipping_pen`: 10-25 % of the ink left out in gaps
    across the strokes). Its dashes were dropped as specks (each under 8 % of the largest piece's ink) and the
    broken strokes read apart: of these 100 test digits 93 read right (98 without the gaps). Pieces of stroke near
    the strokes are kept and broken ends that point at each other are joined: 95."""
    images, labels = mnist_test
    pages = [synth.skipping_pen(images[i], np.random.default_rng(i)) for i in range(100)]
    assert sum(p.label == y for p, y in zip(recognizer.predict(pages), labels[:100])) >= 94


@pytest.mark.slow  # several seconds: 90 photos
def test_a_photo_taken_in_low_light_is_read_through_its_noise(recognizer, mnist_test):
    """Photos of digits on squared, ruled and plain paper (the robustness families) with Gaussian noise of 16 levels
    in each colour channel, as a phone takes them in low light (`synth.low_light`): the noise floor of the ink
    thresholds rose over faint strokes and the local readings found the noise as one-sided as the ink, so that no
    ink was found or a blot was read; of these 90 test digits 71 read right. A picture whose noise exceeds
    `ink.NOISE_GATE` is median-filtered first: 86."""
    images, labels = mnist_test
    right = 0
    for family in ("grid", "ruled", "photo"):
        for i in range(30):
            rng = np.random.default_rng(i)
            picture = synth.low_light(renderings.render(family, images[i], rng), rng)
            with contextlib.suppress(ImageError):  # no ink found: a misread
                right += recognizer.predict(picture)[0].label == labels[i]
    assert right >= 80


@pytest.mark.slow  # several seconds: 90 photos
def test_a_photo_whose_page_does_not_fill_the_frame_is_read_without_the_table(recognizer, mnist_test):
    """Photos of the robustness families (`photo`, `marker`, `grid`) with a strip of a dark table along one side,
    clear of the digit (`synth.beside_a_table`): where the strip is narrower than the paper's rolling ball it is as
    dark as ink, and was read as a bar beside the digit, or as the digit (a 1). Of these 90 test digits 78 read
    right before `formlines.drop_page_edges`, 83 now."""
    images, labels = mnist_test
    right = 0
    for family in ("photo", "marker", "grid"):
        for i in range(30):
            rng = np.random.default_rng(i)
            picture = synth.beside_a_table(np.asarray(Image.open(io.BytesIO(renderings.render(family, images[i], rng)))),
                                           rng)
            with contextlib.suppress(ImageError):  # no ink found: a misread
                right += recognizer.predict(picture)[0].label == labels[i]
    assert right >= 82


@pytest.mark.slow  # seconds: 92 pages
def test_a_one_on_a_ruled_line_or_in_a_turned_thin_box_is_read(recognizer):
    """Drawn 1s on forms. An upright 1 standing on a ruled line across the picture, pens 3-6 px, lines 1-5 px: its
    stem and the line were one group of straight runs, dropped whole, and then nothing, so the line stayed (12 of
    these 20 read as 1). A bold slanted 1 in a box of 1 px lines turned 0.75-1.5 degrees with its form, 36-56 px
    wide: the box's level sides were shorter than a form's line of the 1's width, or broke into pieces, and stayed
    (50 of these 72 read as 1)."""
    pages = []
    for pen in (3, 4, 5, 6):
        for thick in (1, 2, 3, 4, 5):
            page = np.full((130, 160), 235, np.uint8)
            cv2.line(page, (80, 25), (80, 100), 30, pen)
            cv2.line(page, (0, 100), (159, 100), 60, thick)
            pages.append(page)
    assert [p.label for p in recognizer.predict(pages)] == [1] * len(pages)
    pages = []
    for angle in (-1.5, -1.0, -0.75, 0.75, 1.0, 1.5):
        for pen in (3, 4, 5, 6):
            for width in (36, 46, 56):
                page = np.zeros((110, 110), np.uint8)
                cv2.rectangle(page, (55 - width // 2, 15), (55 + width // 2, 95), 170, 1)
                page = cv2.warpAffine(page, cv2.getRotationMatrix2D((55, 55), angle, 1), (110, 110))
                cv2.line(page, (52, 25), (58, 85), 220, pen)
                pages.append(255 - page)
    assert sum(p.label == 1 for p in recognizer.predict(pages)) >= 70


@pytest.mark.slow  # several seconds: 120 forms
def test_a_pencil_digit_in_a_printed_box_darker_than_it_is_read_not_the_box(recognizer, mnist_test):
    """A digit in grey pencil, its strokes as wide for its height as MNIST's, in a thin printed box (`synth.
    pencil_in_a_box`: a form filled in with a pencil). Where the box is darker than the pencil, its thin lines read
    as a thin pen beside a shade, and the digit's reading gave way to the box's (a pen is darker than any shadow
    it lies in), whose remnant read as a 1; or the box set the stroke width (its thin lines hold more ridge pixels
    than the thick digit); or a reading whose ink was gone at 20 px took the others with it ("no ink found"). Of
    these 60 test digits in a dark box and 60 in a light one 46 and 53 read right; 51 and 56 now."""
    images, labels = mnist_test
    right = 0
    for box in ((0.7, 1.0), (0.3, 0.5)):
        for i in range(60):
            with contextlib.suppress(ImageError):  # no ink found: a misread
                picture = synth.pencil_in_a_box(images[i], np.random.default_rng(i), box)
                right += recognizer.predict(picture)[0].label == labels[i]
    assert right >= 103


@pytest.mark.slow  # several seconds: 60 forms of 250-600 px
def test_a_form_scanned_at_a_high_resolution_loses_its_thin_box(recognizer, mnist_test):
    """`synth.pencil_in_a_box` (dark box) enlarged 4 times, as a form scanned at four times the resolution: the
    pencil strokes are 16-50 px wide and separated from the paper on a copy shrunk until they are 6 px wide, where
    the box's lines, 4-8 px, were under a pixel and faded into the paper in pieces that no longer framed the digit,
    and a side was kept as ink. The copy now keeps the thinnest reading of the ink's polarity (here the box's
    lines) at least 2 px wide (`ink.work_width`). Of these 60 test digits 48 read right before, 52 now (51 of 60 at
    the size they were drawn)."""
    images, labels = mnist_test
    right = 0
    for i in range(60):
        with contextlib.suppress(ImageError):  # no ink found: a misread
            picture = synth.pencil_in_a_box(images[i], np.random.default_rng(i), (0.7, 1.0))
            picture = cv2.resize(picture, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
            right += recognizer.predict(picture)[0].label == labels[i]
    assert right >= 51


def test_a_wide_soft_shadow_band_is_not_a_marker_stroke(mnist_test, recognizer):
    """The photos of `synth.small_digit_beside_a_wide_band`: at the search scale the band is as wide as a marker's
    stroke, and once windows of 65 px read such strokes it was taken for one (8 of these 20 read right); strokes
    that wide are read only where their largest piece has a pen's sharp edges. All 20 were read right before those
    windows, and are again."""
    images, labels = mnist_test
    pages = [synth.small_digit_beside_a_wide_band(images[i], np.random.default_rng(i)) for i in range(20)]
    assert sum(p.label == y for p, y in zip(recognizer.predict(pages), labels[:20])) >= 19


def test_a_bold_digit_is_offered_thinned_half_as_much(mnist_test, recognizer):
    """Five `binary16` renderings of test digits (`default_rng([7, i])`) whose strokes, a fifth of the digit's size
    or more, thinning towards MNIST's pen turned into shapes of other digits (none of the five read right): the
    digit thinned half as much is offered too, and the classifier chooses. Of the first 1,000 test digits so
    rendered 966 were read right before, 971 now, none lost (canvas: 965 -> 968, 5 gained and 2 lost)."""
    images, labels = mnist_test
    index = [322, 332, 580, 761, 903]
    pages = [renderings.render("binary16", images[i], np.random.default_rng([7, i])) for i in index]
    assert [p.label for p in recognizer.predict(pages)] == [int(labels[i]) for i in index]


@pytest.mark.slow
def test_a_blurred_tiny_scan_is_read_by_one_global_threshold_too(mnist_test, recognizer, monkeypatch):
    """Scans of 16 px that the digit fills, out of focus: the rolling-ball reading's noise floor, measured on the
    paper side of its split, rises over the blurred strokes' soft shoulders and keeps only their darkest cores (a 0
    read as a 1, an 8 as a 1). Where the readings lost a quarter of the ink of one global Otsu split of the scan,
    that split is offered too (`ink.global_splits`). Of these 300 test digits (validation: 400 renderings, 367
    -> 379), 284 were read right with it and 278 without when this test was written (0bddbd7), 282 and 275 on
    2026-12-06 (8491418), 283 and 276 on 2026-12-07 (a tiny scan whose lit paper beside a shade was read as ink is
    divided by its paper's light too): the floor sits two digits under that, so that a digit on the edge cannot fail
    it on another CPU."""
    images, labels = mnist_test
    files = [renderings.render(("binary16", "stretched16")[i % 2], images[i], np.random.default_rng(i)) for i in range(300)]
    pictures = [cv2.GaussianBlur(np.asarray(Image.open(io.BytesIO(f))), (0, 0), 1.0) for f in files]  # blurred by 1 px
    right = sum(p.label == y for p, y in zip(recognizer.predict(pictures), labels))
    monkeypatch.setattr(preprocessing, "global_splits", lambda gray, readings, found: [])
    before = sum(p.label == y for p, y in zip(recognizer.predict(pictures), labels))
    print("blurred tiny scans read right:", right, "of 300, without the global split", before)
    assert right >= 280 and right >= before + 4, (right, before)


def test_choose_keeps_the_hypothesis_that_looks_most_like_a_digit(recognizer, examples):
    images, labels = examples
    digit = images[3] / np.float32(255)
    blob = np.zeros((28, 28), "float32")
    blob[4:24, 4:24] = 1.0  # a filled square: no digit
    chosen, p = recognizer.choose([np.stack([blob, digit]), digit[None], np.stack([digit, blob])])
    assert all(np.array_equal(c, digit) for c in chosen)
    assert list(p.argmax(axis=1)) == [labels[3]] * 3
    assert recognizer.choose([])[1].shape == (0, 10)


def test_predict_rejects_a_blank_image(recognizer, examples):
    images, _ = examples
    with pytest.raises(ImageError, match="no ink found"):
        recognizer.predict([images[0], np.full((50, 50), 255, np.uint8)])


def test_bundled_model_is_the_default():
    assert BUNDLED_MODEL.is_file(), f"{BUNDLED_MODEL} is missing"
    assert Recognizer().model_path == BUNDLED_MODEL


# ---------------------------------------------------------------- broken models


def _zip_without_config():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", "a zip file, but not a Keras model\n")
    return buf.getvalue()


BROKEN_MODELS = {
    "empty": lambda: b"",
    "text": lambda: b"not a model\n",
    "random": lambda: np.random.default_rng(0).bytes(4096),
    "zip-magic": lambda: b"PK\x03\x04 this is not a keras file\n",
    "truncated": lambda: BUNDLED_MODEL.read_bytes()[:5000],
    "zip-without-config": _zip_without_config,
}


@pytest.mark.parametrize("kind", BROKEN_MODELS)
def test_broken_model_files_are_not_keras_archives(tmp_path, kind):
    path = tmp_path / "broken.keras"
    path.write_bytes(BROKEN_MODELS[kind]())
    with pytest.raises(ModelError, match="not a Keras model archive") as e:
        Recognizer(str(path))
    assert str(e.value).startswith(f"{path}: ")


def test_model_by_name_and_by_run_folder(tmp_path):
    (tmp_path / "model.keras").symlink_to(BUNDLED_MODEL)
    assert Recognizer("bundled").model_path == BUNDLED_MODEL
    assert Recognizer(tmp_path).model_path == tmp_path / "model.keras"
    with pytest.raises(ModelError, match=r"no model\.keras in this folder"):
        Recognizer(tmp_path / "..")


def test_missing_model_file(tmp_path):
    path = tmp_path / "missing.keras"
    with pytest.raises(ModelError, match="not found") as e:
        Recognizer(path)
    assert str(path) in str(e.value)


# ---------------------------------------------------------------- hard cases, one digit per class


def test_tiny_16x16_digits(recognizer, examples):
    images, labels = examples
    tiny = [np.asarray(Image.fromarray(255 - d).resize((16, 16), Image.LANCZOS)) for d in images]
    predicted = [r.label for r in recognizer.predict(tiny)]
    assert np.mean(np.array(predicted) == labels) >= 0.9, f"predicted {predicted}, true {list(labels)}"


def test_small_digits_off_centre_in_big_canvases(recognizer, examples):
    images, labels = examples
    rng = np.random.default_rng(3)
    canvases = []
    for d in images:
        canvas = np.full((1200, 1600), 245, np.uint8)
        small = 255 - np.asarray(Image.fromarray(d).resize((84, 84), Image.BICUBIC))
        r, c = int(rng.choice([20, 1080])), int(rng.choice([30, 1470]))  # a corner
        canvas[r : r + 84, c : c + 84] = small
        canvases.append(canvas)
    assert [r.label for r in recognizer.predict(canvases)] == list(labels)


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_large_3000x4000_photos(tmp_path, recognizer, examples):
    images, labels = examples
    rng = np.random.default_rng(4)
    paths = []
    for k in (2, 7):  # 12-megapixel JPEG files, the digit drawn 1000 px high
        cover = np.zeros((4000, 3000), "float32")
        pen = renderings.pen(images[k], 1000, 60, rng)
        top, left = int(rng.integers(200, 2800)), int(rng.integers(200, 1800))
        cover[top : top + pen.shape[0], left : left + pen.shape[1]] = pen
        gray = (0.92 - 0.15 * np.linspace(0, 1, 3000, dtype="float32")[None, :]) * (1 - 0.9 * cover)
        rgb = (np.dstack([gray, gray, gray * 0.97]) * 255).astype(np.uint8)
        paths.append(tmp_path / f"large{k}.jpg")
        Image.fromarray(rgb).save(paths[-1], quality=85)
    assert [r.label for r in recognizer.predict(paths)] == [labels[2], labels[7]]


# ---------------------------------------------------------------- rates


@pytest.mark.slow  # 2,500 normalizations: minutes on a loaded 2-core machine
def test_consistency_with_plain_mnist(mnist_test, recognizer):
    """Transformed MNIST digits get the label of the plain digit (>= 97 % for each transform)."""
    images, _ = mnist_test
    rng = np.random.default_rng(2024)
    idx = rng.choice(len(images), N_CONSISTENCY, replace=False)
    digits = images[idx]
    plain = recognizer.classify(digits / 255.0).argmax(axis=1)
    rates, bad = {}, {}
    for name, transform in TRANSFORMS.items():
        results = recognizer.predict([transform(d, rng) for d in digits])
        predicted = np.array([-1 if p.label is None else p.label for p in results])  # -1: rejected, not a digit
        rates[name] = float(np.mean(predicted == plain))
        bad[name] = [(int(idx[i]), int(plain[i]), int(predicted[i])) for i in np.flatnonzero(predicted != plain)[:5]]
    print("consistency:", {k: f"{v:.1%}" for k, v in rates.items()})
    failing = {k: v for k, v in rates.items() if v < MIN_CONSISTENCY}
    assert not failing, f"agreement with the plain digit below 97 %: {failing}; examples (index, plain, got): " + \
        str({k: bad[k] for k in failing})


def test_digit_inside_a_big_shadow_that_leaves_the_border_lit(recognizer, examples):
    # The page's edge is evenly lit, so only the inside shows the shade: the background
    # must not be taken as flat (regression: "no ink found" on such a photo).
    yy, xx = np.mgrid[:340, :750]
    shade = ((yy - 150) / 170.0) ** 2 + ((xx - 330) / 330.0) ** 2 < 1
    light = 0.85 - 0.35 * ndimage.gaussian_filter(shade.astype("float32"), 25)
    photos = []
    for digit in examples[0]:
        ink = np.zeros(light.shape, "float32")
        ink[40:260, 220:440] = np.asarray(Image.fromarray(digit).resize((220, 220), Image.BICUBIC), "float32") / 255
        rgb = light[..., None] * (1 - ink[..., None] * np.array([0.3, 0.85, 0.85]))  # dark red ink
        photos.append((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    assert [p.label for p in recognizer.predict(photos)] == list(examples[1])
