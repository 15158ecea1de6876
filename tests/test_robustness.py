"""Real input families: the renderings, the two failure classes of normalization v1, and `bench --robustness`.

The failure classes (issue 10), reproduced from MNIST itself:
1. a digit that touches the image border lost strokes (a 0's side, a 6's
   loop) or gave "no ink found": MNIST test digits cropped to their ink and
   stretched to fill 16x16;
2. in photos, a soft shadow band's edge was kept as ink, bigger than a
   faint thin digit.
"""

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

import synth
from digitrec import cli, renderings, robustness
from digitrec.errors import ImageError
from digitrec.preprocessing import normalize, normalize_hypotheses

SIZES = {"clean": {(28, 28)}, "inverted": {(28, 28)}, "tight16": {(16, 16)}, "stretched16": {(16, 16)},
         "binary16": {(16, 16)}, "binary32": {(32, 32)}, "canvas": {(280, 280)},
         "bigphoto": {(3000, 4000), (4000, 3000)}}


def similarity(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("family", list(renderings.FAMILIES))
def test_every_family_renders_a_seeded_image_file(mnist_test, family):
    images, _ = mnist_test
    a = renderings.render(family, images[0], np.random.default_rng(7))
    assert a == renderings.render(family, images[0], np.random.default_rng(7))
    with Image.open(io.BytesIO(a)) as im:
        assert im.format in ("PNG", "JPEG")
        if family in SIZES:
            assert (im.width, im.height) in SIZES[family]
        assert min(im.size) >= 16
    assert normalize(a).shape == (28, 28)


def test_unknown_family_is_a_key_error(mnist_test):
    with pytest.raises(KeyError):
        renderings.render("nope", mnist_test[0][0], np.random.default_rng(0))


def test_a_canvas_pen_is_never_so_thick_that_the_digit_becomes_a_blob(mnist_test):
    """A 24 px pen on a 60 px digit filled its loops and joins: 4 of the bench's 1,000 canvases (three 3s and an
    8) were blobs nobody can read. The pen is now at most `CANVAS_MAX_PEN` of the digit's height (MNIST's
    thickest 1 %); measured on the picture, pen width (twice the median distance to the background along the
    skeleton) over ink height: 3 of these 300 were over 0.3 before, the largest 0.304."""
    from skimage.morphology import skeletonize

    images, _ = mnist_test
    for k in range(300):
        picture = Image.open(io.BytesIO(renderings.render("canvas", images[k], np.random.default_rng(k))))
        grey, alpha = np.moveaxis(np.asarray(picture.convert("LA")), -1, 0)  # dark on white, or on transparent
        ink = (grey < 128) & (alpha > 127)
        width = 2 * np.median(cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, 5)[skeletonize(ink)])
        rows = np.flatnonzero(ink.any(axis=1))
        assert width / (rows[-1] - rows[0] + 1) <= renderings.CANVAS_MAX_PEN, k


def test_digits_that_fill_a_16x16_frame_keep_every_stroke(mnist_test):
    """Failure class 1: cropped to the ink and stretched to 16x16, then normalized, a digit keeps its shape."""
    images, labels = mnist_test
    for i in range(100):
        stretched = np.asarray(Image.fromarray(renderings._ink_box(images[i])).resize((16, 16), Image.BILINEAR))
        for polarity in (stretched, 255 - stretched):
            out = normalize(polarity)  # never "no ink found"
            assert out.max() > 0.9
            if labels[i] == 0:  # both sides of the 0 survive: ink left and right of its centre of mass
                assert out[:, :12].max() > 0.5 and out[:, 16:].max() > 0.5


def test_binarized_thick_16x16_digits_keep_their_shape(mnist_test):
    """Failure class 1, binarized: a thick stretched 0 and 6 stay closed loops, not fragments."""
    images, labels = mnist_test
    for digit in (0, 6):
        i = int(np.flatnonzero(labels == digit)[0])
        big = np.asarray(Image.fromarray(renderings._ink_box(images[i])).resize((64, 64), Image.BICUBIC)) > 100
        thick = np.asarray(Image.fromarray(big.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(5)))
        binary = np.asarray(Image.fromarray(thick).resize((16, 16), Image.BOX)) > 127
        out = normalize(~binary)  # dark ink on white
        holes = _holes(out > 0.3)
        assert holes >= 1, f"the {digit}'s loop is gone"


def test_bold_digits_that_cover_most_of_a_16x16_frame_are_still_read_as_ink(mnist_test):
    """A bold digit cropped tightly to 16x16 can cover 70-80 % of the frame. The side of the split that covers
    most of the image was never read as strokes, so the paper between the strokes was taken for the ink, in either
    polarity (median similarity to the digit 0.13 before, 0.64 now, over the 22 of the first 300 test digits that
    this thickening makes 70-80 % ink)."""
    images, _ = mnist_test
    found = []
    for i in range(300):
        big = cv2.resize(renderings._ink_box(images[i]), (64, 64), interpolation=cv2.INTER_CUBIC) > 127
        thick = cv2.dilate(big.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
        binary = cv2.resize(thick * 255, (16, 16), interpolation=cv2.INTER_AREA) > 127
        if 0.7 < binary.mean() <= 0.8:
            reference = normalize(images[i])
            found += [max(similarity(h, reference) for h in normalize_hypotheses(side.astype(np.uint8) * 255))
                      for side in (binary, ~binary)]
    assert len(found) >= 30
    assert np.median(found) > 0.5


@pytest.mark.parametrize("index", [19, 125, 428, 605, 673, 724])
def test_thinning_a_small_marker_digit_never_cuts_a_stroke(mnist_test, index):
    """A small digit drawn with a thick pen (64 px tall, a 24 px pen) has narrow necks between the blobs of its
    joins and loops. Thinned towards MNIST's stroke width by an erosion, these test digits came out in two
    pieces (25 of the first 1,500 test digits drawn so; 8 now): the erosion now stops short of cutting a neck."""
    images, _ = mnist_test
    cover = renderings.pen(images[index], 64, 24.0, np.random.default_rng(index))
    page = np.full((280, 280), 255, np.uint8)
    page[20 : 20 + cover.shape[0], 20 : 20 + cover.shape[1]] = np.round(255 * (1 - cover)).astype(np.uint8)
    assert _pieces(page < 128) == 1
    assert _pieces(normalize(page) > 0.3) == 1


def _pieces(mask):
    """Connected components of at least 3 px."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= 3).sum())


def _holes(mask):
    """Background components enclosed by ink (a loop's inside)."""
    from scipy import ndimage

    labels, n = ndimage.label(~mask)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
    return len(set(range(1, n + 1)) - border)


def test_a_shadow_band_is_not_ink(mnist_test):
    """Failure class 2: a faint thin digit beside a soft shadow band normalizes like the digit alone."""
    images, _ = mnist_test
    rng = np.random.default_rng(3)
    for i in range(10):
        cover = renderings.pen(images[i], 200, 3, rng)
        page = np.zeros((500, 600), "float32")
        page[150 : 150 + cover.shape[0], 100 : 100 + cover.shape[1]] = cover
        xx = np.arange(600, dtype="float32")[None, :]
        band = 1 / (1 + np.exp(-(xx - 330) / 8)) * (1 - 1 / (1 + np.exp(-(xx - 480) / 8)))  # soft edges, 150 px wide
        light = 0.9 * (1 - 0.45 * band)
        photo = np.clip(light * (1 - 0.4 * page), 0, 1)
        clean = np.clip(0.9 * (1 - 0.4 * page), 0, 1)
        assert similarity(normalize(photo), normalize(clean)) > 0.9


def test_a_soft_shadow_band_across_a_blank_page_is_no_ink():
    """A pen's or a ruler's shadow band across a blank phone photo is a region whose edges are a penumbra: a shade,
    no ink (`ink.ink_readings`). Of these four pages, `predict` read page 14 as a "1" and refused the others before
    (2026-12-07)."""
    for i in (3, 7, 14, 45):
        rng = np.random.default_rng([2026, 12, 7, i])
        h, w = (int(v) for v in rng.integers(300, 801, size=2))
        photo = renderings.photo(np.zeros((h, w), np.float32), rng, 0.5, int(rng.integers(60, 86)), shadow=True)
        with pytest.raises(ImageError, match="soft-edged shade"):
            normalize_hypotheses(np.asarray(Image.open(io.BytesIO(photo))))


def test_a_narrow_shadow_band_across_a_marker_digit_is_not_ink(mnist_test):
    """A shadow band about two strokes wide passes the rolling-ball background as a stroke and joins the digit it
    crosses (most of the `marker` family's errors). The ink is darker than any shadow, so the darker class of the
    ink's strength is offered as a reading of its own: one of the readings is the digit alone (similarity to the
    same page without the band 0.78-1.0; before, 16 of these 20 were under 0.5)."""
    images, _ = mnist_test
    for i in range(20):
        clean = normalize(synth.marker_page(images[i], np.random.default_rng(i), band=False))
        readings = normalize_hypotheses(synth.marker_page(images[i], np.random.default_rng(i)))
        assert max(similarity(h, clean) for h in readings) > 0.75, i


# The bench (docs/robustness.json, 500 digits a family) reads every family at issue 10's floor or above (canvas
# 98.2 % since its pen is capped at 0.3 of the digit's height; 97.8 % before). The quick mode reads the first 200
# of those digits, where binary32 (98.5 %), form (98.0 %) and marker (97.5 %) are within a digit of their floors
# (`digitrec bench --robustness --quick`, 2026-12-04): they are held at the 500's figure less 3 points instead, so
# that one digit read differently cannot fail the suite, nor can they get worse unseen. Canvas reads 99.0 % of the
# 200 (98.5 % before the cap) and is held at its floor. `cell` read 98.2 % of the 500 (b96a229), within a
# digit of its floor there too: held at that less 3 points (98.8 % since 04344e7; the hold is kept).
NEAR_FLOOR = {"binary32": 0.96, "form": 0.952, "marker": 0.95, "cell": 0.952}


@pytest.mark.slow  # 17 families x 200 digits through the predict path, a 12-megapixel photo among them
def test_quick_robustness_bench_meets_every_floor(mnist_dir, tmp_path, capsys):
    out = tmp_path / "robustness.json"
    status = cli.main(["bench", "--robustness", "--quick", "--out", str(out), "--data-dir", str(mnist_dir)])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert (tmp_path / "robustness.png").stat().st_size > 10_000
    assert result["n"] == robustness.QUICK_N and list(result["families"]) == list(renderings.FAMILIES)
    floors = {f: NEAR_FLOOR.get(f, r["floor"]) for f, r in result["families"].items()}
    below = {f: r["accuracy"] for f, r in result["families"].items() if r["accuracy"] < floors[f]}
    assert not below, f"families below their floor: {below}"
    assert status == (0 if all(r["passed"] for r in result["families"].values()) else 1)
    assert result["families"]["clean"]["accuracy"] >= result["raw_accuracy"] - robustness.CLEAN_TOLERANCE
    speed = result["normalize_ms"]  # timed and reported, never judged here: the targets are the bench's (README)
    assert all(speed[k] > 0 and speed["best"][k] > 0 for k in ("28x28", "12mp_photo")), speed
    for family in renderings.FAMILIES:
        assert family in printed
