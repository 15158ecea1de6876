"""Reading handwritten numbers: `Recognizer.read`, segmentation into digits, boxes.

Numbers are composed from MNIST *test* digits by `synth.number` (3-6 digits,
gaps of 2-40 % of a digit's width, heights +-15 %, one slant, a drifting
baseline) and rendered as a canvas drawing (dark on white) or as a phone
photo (`synth.number_photo`). Set DIGITREC_TEST_MODEL to a .keras file to
test another model than the bundled one.
"""

import dataclasses
import io
import os
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

import synth
from digitrec import renderings
from digitrec.decoding import to_grayscale
from digitrec.errors import ImageError
from digitrec.inference import DigitReading, Reading, Recognizer
from digitrec.ink import extract_ink, ink_hypotheses, ink_readings
from digitrec.preprocessing import normalize, normalize_ink, normalize_ink_hypotheses, source_image
from digitrec.segmentation import MAX_MARKS, MIN_HEIGHT, WORK_SIDE, Number, best_path

N_NUMBERS = {"canvas": 120, "photo": 60}  # per rendering, for each accuracy test
MIN_SEPARATE, MIN_TOUCHING = 0.8, 0.8  # exact-string accuracy floors, under the measured figures (README: on
# photos 0.950 and 0.850, canvases 0.967 and 0.867) by a margin that no CPU's rounding can cross; the issue asks
# 0.95 and 0.85


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer(os.environ.get("DIGITREC_TEST_MODEL") or None)


# ---------------------------------------------------------------- the API


def test_read_returns_digits_left_to_right_with_boxes(recognizer, mnist_test):
    for truth, picture, boxes, kind in synth.numbers(mnist_test, seed=1, n=3, touching=False):
        reading = recognizer.read(picture)
        assert isinstance(reading, Reading)
        assert reading.text == truth, kind
        assert len(reading.digits) == len(truth)
        for digit, label, box in zip(reading.digits, truth, boxes):
            assert isinstance(digit, DigitReading) and digit.label == int(label) and digit.rejected is None
            assert digit.confidence == max(digit.probabilities) and 0 <= digit.digit_score <= 1
            assert digit.input.shape == (28, 28) and digit.input.dtype == np.float32
            if kind == "canvas":  # the canvas is the composed number itself: its boxes are exact
                assert synth.iou(digit.box, box) > 0.6, (digit.box, box)
        assert reading.confidence == pytest.approx(np.prod([d.confidence for d in reading.digits]))
        assert [d.box[0] for d in reading.digits] == sorted(d.box[0] for d in reading.digits)


def test_a_number_with_a_mark_that_is_no_digit_is_rejected_whole(recognizer, mnist_test):
    """A digit beside a shape read "7?": a reading of several digits, one rejected, is "not a number", its text
    all "?"; each digit keeps its own label and rejection (a letter or a doodle cut into a stroke and a rest was
    read "1?")."""
    images, labels = mnist_test
    for i in range(4):
        reading = recognizer.read(synth.digit_beside_a_shape(images[i], seed=i))
        assert reading.text == "??" and reading.rejected == "not a number", reading.text
        digit, shape = reading.digits
        assert digit.label == labels[i] and digit.rejected is None and shape.label is None
        assert shape.rejected == "not a digit" and reading.as_dict()["rejected"] == "not a number"
    number = recognizer.read(np.concatenate([255 - images[0], 255 - images[1]], axis=1))
    assert number.text == f"{labels[0]}{labels[1]}" and number.rejected is None and "rejected" not in number.as_dict()


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_boxes_are_in_source_pixels_of_a_large_photo(recognizer, mnist_test):
    """A 3000 px wide photo is searched at a working size; the boxes still land on the digits."""
    images, labels = mnist_test
    rng = np.random.default_rng(3)
    number, boxes = synth.number(images[[0, 1, 2]], rng, height=(90, 90))
    big = np.asarray(Image.fromarray(synth.canvas(number)).resize((number.shape[1] * 5, number.shape[0] * 5)))
    page = np.full((big.shape[0] + 400, big.shape[1] + 900), 255, np.uint8)
    page[200 : 200 + big.shape[0], 300 : 300 + big.shape[1]] = big
    encoded = io.BytesIO()
    Image.fromarray(page).save(encoded, "JPEG", quality=90)  # decoded at half size inside the decoder
    for picture in (page, encoded.getvalue()):  # arrays and files over 2048 px are reduced before reading
        reading = recognizer.read(picture)
        assert reading.text == "".join(map(str, labels[:3]))
        for digit, (x0, y0, x1, y1) in zip(reading.digits, boxes):
            assert synth.iou(digit.box, (300 + 5 * x0, 200 + 5 * y0, 300 + 5 * x1, 200 + 5 * y1)) > 0.6


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_grain_in_a_shade_is_not_the_ink_of_a_thick_marker(recognizer, mnist_test):
    """Found on validation photos: one-sided paper grain (2 px wide, contrast 0.04) was taken for the ink, not
    the marker's strokes (20 px wide, contrast 0.4), and "863" read as "9196?3"."""
    images, labels = mnist_test
    rng = np.random.default_rng(33)
    idx = rng.choice(len(labels), 3, replace=False)
    image, _ = synth.number(images[idx], rng)
    assert recognizer.read(synth.number_photo(image, rng)).text == "".join(map(str, labels[idx]))


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
@pytest.mark.parametrize("seed, before", [(53, "no ink found"), (374, "?888111?11111")])
def test_thick_marker_in_uneven_light_is_found_on_the_flattened_page(recognizer, mnist_test, seed, before):
    """Legible numbers in a thick marker (strokes about 40 px) across a lighting gradient and a shade: the page's
    Otsu split is the lighting, the strokes are too wide for the local windows to read, and what was found was
    nothing or paper grain. Subtracting the paper's brightness (a wide median) leaves a split with a pen's edges."""
    images, labels = mnist_test
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), 3, replace=False)
    image, _ = synth.number(images[idx], rng)
    picture = synth.number_photo(image, rng)
    assert recognizer.read(picture).text == "".join(map(str, labels[idx])) != before


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_lit_paper_beside_a_hard_shadow_is_not_the_ink(recognizer, mnist_test):
    """A hard-edged shadow under "227": the lit paper above it is a sharp region as wide as light ink, and the
    first reading of what is ink took it ("1?"). Each reading is segmented; the digits' scores choose."""
    images, labels = mnist_test
    rng = np.random.default_rng(94)
    idx = rng.choice(len(labels), 3, replace=False)
    image, _ = synth.number(images[idx], rng)
    picture = synth.number_photo(image, rng)
    hypotheses, (_, mask) = ink_hypotheses(to_grayscale(picture)), extract_ink(to_grayscale(picture))
    assert len(hypotheses) >= 2 and np.array_equal(hypotheses[0][1], mask)
    assert len(Number(picture).alternatives()) == len(hypotheses) - 1
    assert recognizer.read(picture).text == "".join(map(str, labels[idx])) == "227"


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_thick_marker_in_a_shade_is_read_from_its_strokes(recognizer, mnist_test):
    """"220" in a thick marker across a soft shade: the first reading of what is ink is the lit paper, a region
    86 px wide ("11"); the marker's strokes answer the black-hat only 1.5-2 times more than their gaps answer the
    top-hat, too little to count at first, but they are the extra reading the number's digits choose."""
    images, labels = mnist_test
    rng = np.random.default_rng(398)
    idx = rng.choice(len(labels), 3, replace=False)
    image, _ = synth.number(images[idx], rng)
    picture = synth.number_photo(image, rng)
    assert len(ink_hypotheses(to_grayscale(picture))) >= 2  # the lit paper, the strokes (and a darkest class)
    assert recognizer.read(picture).text == "".join(map(str, labels[idx])) == "220"


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
@pytest.mark.parametrize("seed", [2, 3])
def test_a_number_half_in_a_soft_shade_is_read_from_its_strokes(recognizer, mnist_test, seed):
    """Six digits in a thick pen, a shade over the left third or half of the page: its soft border is a sliver
    of the split's edge beside the digits' sharp edges, so the split reads sharp, and its ink was the lit paper,
    a region ("?", "1493" or no ink found). The strokes, local dark structures half as wide as that region, and
    the flattened page (`_flat_reading`) are offered too, and the region the number is searched in covers every
    reading's ink."""
    images, labels = mnist_test
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), 6, replace=False)
    image, _ = synth.number(images[idx], rng, height=(90, 110))
    for edge in (0.3, 0.5):
        assert recognizer.read(synth.number_half_in_shade(image, rng, edge)).text == "".join(map(str, labels[idx]))


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
@pytest.mark.parametrize("seed", [2, 8])
def test_a_marker_number_crossed_by_a_shadow_band_is_read_from_its_darkest_ink(recognizer, mnist_test, seed):
    """A pen's shadow band, 2.5 strokes wide, crosses a number in a thick marker: where it meets the middle digit,
    ink and band are one dark region of two levels, a bar through the digit ("?" for "489" and "649"; found on
    the marker family as "707"). Each reading of what is ink is offered with its darkest class too, as `normalize`
    offers it for one digit; the digits' scores choose."""
    images, labels = mnist_test
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), 3, replace=False)
    picture = synth.number_crossed_by_a_band(images[idx], rng)
    assert recognizer.read(picture).text == "".join(map(str, labels[idx]))


@pytest.mark.slow  # several seconds: 12 numbers
@pytest.mark.parametrize("photo", [False, True])
def test_a_number_on_a_line_is_read_without_the_line(recognizer, mnist_test, photo):
    """Numbers on a line that reaches a little beyond them (`synth.number_on_a_line`): a form's printed answer
    line on a canvas, or a line under a photographed number, thinner than its strokes. The line joined the digits
    into one mark, read as "?" and pieces (6 of these 12 canvases read exactly, "1456" as "?76"); and in the
    photos, the strokes and the line read together were not of one pen's width, so the line alone was read as the
    ink (6 of 12 once lines under the ink were removed, "1456" as "??1????"). A line under the ink, reaching
    beyond it, goes, also before the strokes' width is read."""
    images, labels = mnist_test
    right = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(labels), int(rng.integers(3, 7)), replace=False)
        picture = synth.number_on_a_line(images[idx], rng, photo=photo)
        right += recognizer.read(picture).text == "".join(map(str, labels[idx]))
    assert right >= 11


@pytest.mark.slow  # several seconds: 20 numbers
def test_a_number_underlined_by_hand_is_read_without_the_underline(recognizer, mnist_test):
    """Numbers underlined by hand (`synth.underlined_number`): the underline is as thick as the strokes and reaches
    less than two strokes' widths beyond the number, so it was neither a hand-drawn underline (which reached two
    widths beyond the ink above it) nor a printed answer line (at most half as thick as the strokes), and it was
    read as a "?" among the digits ("50014" as "50?014"; 7 of these 20 read exactly). A flat line through the
    ink's lowest quarter that reaches beyond two or more marks above it at both ends is an underline: no digit's
    stroke spans the digits beside it (18 of 20 now)."""
    images, labels = mnist_test
    right = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(labels), int(rng.integers(3, 6)), replace=False)
        right += recognizer.read(synth.underlined_number(images[idx], rng)).text == "".join(map(str, labels[idx]))
    assert right >= 17


def test_a_tight_crop_of_bold_digits_is_read_in_the_whole_pictures_polarity(recognizer, mnist_test):
    """An underlined number photographed in a bold pen (`synth.number_on_a_line`, test digits, seed 36), 1025 px
    wide: wider than `segmentation.WORK_SIDE`, so the number is read in a crop around the ink found on a reduced
    copy. The crop, 10 % of the number's height beyond its ink, is mostly bold strokes, whose polarity then read the
    other way (the paper between them taken for light strokes; read "?"). The crop is read as the whole picture was
    where none of its own readings has the whole picture's polarity (of the 36 such photos of seeds 0-119, 34 read
    exactly before, 35 now)."""
    images, labels = mnist_test
    rng = np.random.default_rng(36)
    idx = rng.choice(len(labels), int(rng.integers(3, 7)), replace=False)
    picture = synth.number_on_a_line(images[idx], rng, photo=True)
    assert max(picture.shape) > WORK_SIDE
    assert recognizer.read(picture).text == "".join(map(str, labels[idx]))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_thin_one_beside_bold_digits_is_not_a_speck(recognizer, mnist_test, seed):
    """Three digits in a bold pen, then a 1 drawn as a thin line as tall as they are: it holds under 8 % of the
    boldest digit's ink, and was dropped as a speck (7 of 10 such numbers lost their 1; seeds 0 and 1: "460",
    "796"). Speck removal keeps a component half as long as the boldest one, whatever its ink."""
    images, labels = mnist_test
    rng = np.random.default_rng(seed)
    idx = rng.choice(np.flatnonzero(labels != 1), 3, replace=False)
    image, boxes = synth.number(images[idx], rng, height=(90, 110), slant=0.0)
    page = np.zeros((image.shape[0], image.shape[1] + 80), np.uint8)
    page[:, : image.shape[1]] = cv2.dilate(image, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15)))
    top, bottom, right = min(b[1] for b in boxes), max(b[3] for b in boxes), image.shape[1]
    cv2.line(page, (right + 30, top + 4), (right + 36, bottom - 4), 255, 5)
    assert recognizer.read(255 - page).text == "".join(map(str, labels[idx])) + "1"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_digits_in_a_row_of_printed_boxes_keep_their_ink_and_the_boxes_go(mnist_test, seed):
    """A number written in a comb field (a row of printed boxes, some left empty): the boxes hold far more ink
    than a thin 1 or a small digit, which speck removal dropped when it ran before the boxes were removed (scans
    of 16 numbers of MNIST test digits, at seeds 0 and 1: 16 of 32 read exactly; 21 once the boxes go first)."""
    images, labels = mnist_test
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), int(rng.integers(3, 7)), replace=False)
    picture, boxes = synth.number_in_boxes(images[idx], rng, photo=False)
    _, mask = extract_ink(to_grayscale(picture))
    digits = np.zeros_like(mask)
    for x0, y0, x1, y1 in boxes:
        assert mask[y0:y1, x0:x1].sum() >= 0.5 * (255 - picture[y0:y1, x0:x1] > 128).sum(), (x0, y0, x1, y1)
        digits[y0:y1, x0:x1] = True
    assert (mask & ~digits).sum() <= 0.02 * mask.sum()  # the printed boxes are gone


@pytest.mark.slow  # half a minute: 40 forms
def test_numbers_touching_their_printed_boxes_are_read(recognizer, mnist_test):
    """Numbers of 3-6 MNIST test digits written in a row of printed boxes, touching or crossing them as people
    write (`synth.number_in_boxes(touching=True)`; scans and photos in turn). A digit's stroke joined to a box's
    line (a 1's stem on the bottom line, a 7's bar under the top one) was one group of straight runs with the
    boxes and went with them: of these 40, 32 read exactly; only the rows and columns whose runs cross the group
    are the boxes' lines now (`formlines._frame_lines`): 36."""
    images, labels = mnist_test
    right = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(labels), int(rng.integers(3, 7)), replace=False)
        picture, _ = synth.number_in_boxes(images[idx], rng, touching=True, photo=seed % 2 == 1)
        right += recognizer.read(picture).text == "".join(map(str, labels[idx]))
    assert right >= 35


@pytest.mark.parametrize("seed, ticks", [(0, 0.3), (1, 0.5), (2, 1.0), (3, 0.3)])
def test_a_comb_field_open_at_the_top_goes_teeth_and_all(mnist_test, seed, ticks):
    """A comb field whose cells are open at the top (a line with a tick, or a full-height side, between cells):
    no box frames the digits, and its ticks hid them from the answer-line test; the ticks were read as 1s or "?"
    (`formlines._comb_teeth`)."""
    images, labels = mnist_test
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), int(rng.integers(3, 7)), replace=False)
    picture, boxes = synth.number_in_boxes(images[idx], rng, photo=False, ticks=ticks)
    _, mask = extract_ink(to_grayscale(picture))
    digits = np.zeros_like(mask)
    for x0, y0, x1, y1 in boxes:
        assert mask[y0:y1, x0:x1].sum() >= 0.5 * (255 - picture[y0:y1, x0:x1] > 128).sum(), (x0, y0, x1, y1)
        digits[y0:y1, x0:x1] = True
    assert (mask & ~digits).sum() <= 0.02 * mask.sum()  # the comb is gone


def test_a_photographed_comb_whose_thin_lines_read_first_is_read_at_the_pens_width(recognizer, mnist_test):
    """A photographed comb field with full-height sides (`synth.number_in_boxes`, seed 8: an example of the
    class): its 1 px lines are the most one-sided thin structure, and at their width the digits' strokes leave
    only crumbs ("no ink found: only the crumbs of a texture"). Where that reading is printed lines
    (`formlines.printed_lines`), the pen's thicker reading comes after it (`ink._stroke_readings`). 40 such
    photos of three test digits (seeds 0-39): 30 read exactly before, 32 after (the README gives the rest)."""
    images, labels = mnist_test
    rng = np.random.default_rng(8)
    idx = rng.choice(len(labels), 3, replace=False)
    picture, _ = synth.number_in_boxes(images[idx], rng, photo=True, ticks=1.0)
    readings = ink_readings(source_image(to_grayscale(picture)))
    assert len(readings) >= 2 and readings[-1][0] == readings[0][0] and readings[-1][1] >= 3 * readings[0][1]
    assert recognizer.read(picture).text == "".join(map(str, labels[idx]))


@pytest.mark.parametrize("index", range(4))
def test_a_digit_cut_out_of_a_row_of_boxes_with_its_neighbours_lines_loses_them(recognizer, mnist_test, index):
    """The first cell of a row of printed boxes cut out with a margin, so that the lines of the cell beside it run
    to the crop's side: the box is closed around the digit, but its group of lines leaves a side of its bounding box
    open (`formlines._encloses`). Validation digits so cut (an ad-hoc loop, 40 scans and 40 photos): 57 ->
    72 read right."""
    images, labels = mnist_test
    digit = cv2.resize(images[index], (84, 84), interpolation=cv2.INTER_CUBIC)
    page = np.full((200, 420), 255, np.uint8)
    for x in (30, 150, 270, 390):
        cv2.line(page, (x, 40), (x, 160), 90, 2)
    for y in (40, 160):
        cv2.line(page, (30, y), (390, y), 90, 2)
    page[58:142, 48:132] = np.minimum(page[58:142, 48:132], 255 - digit)
    cell = page[:, :190]  # the first cell, and 40 px of the one beside it
    _, mask = extract_ink(to_grayscale(cell))
    ink = np.zeros_like(mask)
    ink[58:142, 48:132] = True
    assert (mask & ~ink).sum() <= 0.02 * mask.sum()  # the lines are gone
    assert recognizer.predict([cell])[0].label == labels[index]


@pytest.mark.parametrize("seed, degrees", [(0, 2.0), (1, -3.0), (2, 1.5)])
def test_the_boxes_of_a_turned_form_go_too(mnist_test, seed, degrees):
    """A comb field scanned turned by a few degrees: its thin printed lines have no straight run along the rows or
    the columns as long as a form's line, and the boxes stayed as ink. The digits' regions are turned with it."""
    images, labels = mnist_test
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), int(rng.integers(3, 7)), replace=False)
    picture, boxes = synth.number_in_boxes(images[idx], rng, photo=False)
    regions = np.zeros_like(picture)
    for x0, y0, x1, y1 in boxes:
        regions[y0:y1, x0:x1] = 255
    picture, turn = synth.turned(picture, degrees)
    digits = cv2.warpAffine(regions, turn, regions.shape[::-1], flags=cv2.INTER_NEAREST) > 0
    _, mask = extract_ink(to_grayscale(picture))
    assert (mask & digits).sum() >= 0.5 * ((picture < 128) & digits).sum()
    assert (mask & ~digits).sum() <= 0.02 * mask.sum()  # the printed boxes are gone


@pytest.mark.parametrize("thick", [1, 2])
def test_the_box_around_a_digit_turned_with_its_form_goes(recognizer, mnist_test, thick):
    """Test digits in printed boxes 1 or 2 px wide, scanned turned: the boxes' sides no longer hold a run as long
    as a form's line along the rows or columns; the boxes go (with the code before, 2 of these 6 boxes stayed
    in part, for each width), and `predict` reads the digits (validation digits of the `form` family turned 1-3
    degrees, `scripts/family_validation.py 5 300 form --turn`: 256 of 300 read right before, 284 after, 291
    unturned)."""
    images, labels = mnist_test
    for index, degrees in enumerate((2.5, -2.0, 1.5, -3.0, 2.0, -1.5)):
        page, regions = np.full((150, 150), 255, np.uint8), np.zeros((150, 150), np.uint8)
        page[45:105, 45:105] = 255 - cv2.resize(images[index], (60, 60), interpolation=cv2.INTER_CUBIC)
        regions[45:105, 45:105] = 255
        cv2.rectangle(page, (35, 35), (114, 114), 90, thick)
        picture, turn = synth.turned(page, degrees)
        digit = cv2.warpAffine(regions, turn, regions.shape[::-1], flags=cv2.INTER_NEAREST) > 0
        _, mask = extract_ink(to_grayscale(picture))
        assert (mask & ~digit).sum() <= 0.02 * mask.sum(), (index, degrees)
        assert recognizer.predict(picture)[0].label == labels[index], (index, degrees)


@pytest.mark.parametrize("degrees", [5.0, -8.0])
def test_the_box_around_a_digit_photographed_at_an_angle_goes(recognizer, mnist_test, degrees):
    """Test digits in printed boxes photographed at an angle: the boxes' sides lean while their tops and bottoms
    stay level, so no one turn stands both along the rows and columns (`formlines._lines_frame` finds each
    family's own skew). With the code before, 3 and 6 of the six boxes stayed in part, and 5 and 2 digits were
    read right, leaning 5 and 8 degrees (`scripts/family_validation.py 5 60 form --lean 4`, and `--lean 8`: 52
    and 41 of 60 validation digits read right before, 56 and 56 after; 56 unsheared)."""
    images, labels = mnist_test
    for index in range(6):
        page, regions = np.full((150, 150), 255, np.uint8), np.zeros((150, 150), np.uint8)
        page[45:105, 45:105] = 255 - cv2.resize(images[index], (60, 60), interpolation=cv2.INTER_CUBIC)
        regions[45:105, 45:105] = 255
        cv2.rectangle(page, (35, 35), (114, 114), 90, 1 + index % 2)
        picture, shear = synth.sheared(page, degrees)
        digit = cv2.warpAffine(regions, shear, regions.shape[::-1], flags=cv2.INTER_NEAREST) > 0
        _, mask = extract_ink(to_grayscale(picture))
        assert (mask & ~digit).sum() <= 0.02 * mask.sum(), index
        assert recognizer.predict(picture)[0].label == labels[index], index


@pytest.mark.slow
def test_form_digits_photographed_at_an_angle_are_read(recognizer, mnist_test):
    """80 test digits rendered by the robustness bench's `form` family (boxes of any line width and size, digits
    touching them or not, ruled lines) and sheared 6 degrees either way (`synth.sheared`: a form photographed at
    an angle). Where a box is as wide as the picture, its level lines went as ruled lines and its leaning sides
    stayed beside the digit. Measured: 73 read right with the code before, 78 since a box apart from the digit
    is the pieces along the ink's convex hull (`formlines.drop_printed_boxes`; validation digits,
    `scripts/family_validation.py 6 200 form --lean 8`: 182 -> 196 of 200)."""
    images, labels = mnist_test
    right = 0
    for i in range(80):
        rng = np.random.default_rng([101, i])
        picture = np.asarray(Image.open(io.BytesIO(renderings.render("form", images[i], rng))))
        picture = synth.sheared(picture, 6.0 * rng.choice([-1, 1]))[0]
        right += recognizer.predict(picture)[0].label == labels[i]
    assert right >= 76, right


def test_an_empty_box_drawn_by_hand_is_not_read_as_the_slivers_of_its_sides(recognizer):
    """A box with nothing in it, drawn with a wobbling hand: its sides' line openings miss slivers along their
    edges, which were taken for ink the box frames and read as 1s ("11", "?11"). Measured with the code before:
    8 of these 24 read as nothing but "?", 4 kept the box's ink; after: 23 and 23 (22 and 22 at
    the head of the thirty-second session)."""
    rng = np.random.default_rng(0)
    refused = kept = 0
    for _ in range(24):
        w, h = rng.uniform(0.2, 0.4, 2)
        corners = [(0.5 - w, 0.5 - h), (0.5 + w, 0.5 - h), (0.5 + w, 0.5 + h), (0.5 - w, 0.5 + h)]
        corners = [(96 * (x + rng.normal(0, 0.015)), 96 * (y + rng.normal(0, 0.015))) for x, y in corners]
        picture = Image.new("L", (96, 96), 255)
        ImageDraw.Draw(picture).line(corners + corners[:1], fill=0, width=int(rng.integers(4, 10)), joint="curve")
        picture = np.asarray(picture)
        _, mask = extract_ink(to_grayscale(picture))
        kept += mask.sum() >= 0.8 * (picture < 128).sum()
        refused += set(recognizer.read(picture).text) == {"?"}
    assert kept >= 20 and refused >= 20, (kept, refused)


def test_a_single_digit_reads_as_a_one_character_number(recognizer, mnist_test):
    images, labels = mnist_test
    picture = 255 - np.asarray(Image.fromarray(images[4]).resize((140, 140), Image.BICUBIC))
    reading = recognizer.read(picture)
    assert reading.text == str(labels[4]) and len(reading.digits) == 1
    [prediction] = recognizer.predict(picture)
    assert reading.digits[0].label == prediction.label


def test_blank_picture_is_an_image_error(recognizer):
    with pytest.raises(ImageError, match="no ink"):
        recognizer.read(np.full((100, 300), 255, np.uint8))


@pytest.mark.slow  # 30 photos
def test_a_blank_phone_photo_is_seen_at_the_resolution_of_its_detail_not_read_as_its_grain(recognizer):
    """Phone photos of blank paper (`scripts/blank_photos.py`'s pages: tint, a lighting gradient, grain, JPEG, a
    shadow across 7 in 10) were segmented at full resolution, where grain in a shade and a shadow's edge made
    up to 32 marks: at this seed 3 of the 30 read as strings of 5 to 9 digits ("1???????7????11????1?11???1??1").
    `read` sees a picture as `predict` does (`preprocessing.source_image`), and the crumbs of a texture that stand
    out of no crowd are no marks (`segmentation._texture_crumbs`): a blank page, whose soft shade no longer passes
    for a tiny scan enlarged (its smoothness measured against its contrast), keeps only the hard-edged band that
    `predict` reads as a 1 too (seed 7, 300 pages: 24 as one digit, 1 as two or more; README). The bounds leave
    room."""
    rng, digits = np.random.default_rng(11), []
    for _ in range(30):
        h, w = (int(v) for v in rng.integers(300, 801, size=2))
        page = renderings.photo(np.zeros((h, w), np.float32), rng, 0.5, int(rng.integers(60, 86)),
                                shadow=bool(rng.random() < 0.7))
        if not synth.read_refused(recognizer, page):
            digits.append(recognizer.read(page).text.replace("?", ""))
    assert len(digits) <= 6 and all(len(text) <= 3 for text in digits), digits


def test_crumbs_too_small_for_a_digit_are_no_ink(recognizer):
    """Marks all under `MIN_HEIGHT` px tall in a 96 px picture (the corners of a filled shape that survive ink
    extraction, noise) were read as digits: three 4 x 2 px dots read "111" at digit score 0.88. Refused as no ink;
    the rejection test's non-digits read as nothing but "?" (or no ink) 78.3 -> 83.3 %."""
    picture = np.full((96, 96), 255, np.uint8)
    for x, y in ((20, 40), (48, 44), (75, 38)):
        picture[y : y + MIN_HEIGHT - 2, x : x + 2] = 0
    with pytest.raises(ImageError, match=f"under {MIN_HEIGHT} px"):
        recognizer.read(picture)
    picture[30 : 30 + MIN_HEIGHT, 48:50] = 0  # one mark as tall as the smallest digit: read, not refused
    assert len(recognizer.read(picture).digits) >= 1


def test_a_digit_in_a_picture_too_small_for_the_crumbs_rule_is_read(recognizer, mnist_test):
    """A picture under `preprocessing.MIN_SIDE` px is a low-resolution scan: its ink is the digit, however few
    pixels tall (MNIST test digits reduced to 8 x 8 are 5-6 px tall; `predict` reads them)."""
    images, labels = mnist_test
    right = 0
    for i in range(10):
        picture = 255 - cv2.resize(images[i], (8, 8), interpolation=cv2.INTER_AREA)
        right += recognizer.read(picture).text == str(labels[i])
    assert right >= 8, right


@pytest.mark.parametrize("side", [1000, 3000])
def test_a_digit_enlarged_to_fill_a_big_picture_is_read_as_predict_reads_it(recognizer, mnist_test, side):
    """Test digits resized bicubically to 1000 or 3000 px (soft strokes about 100 px wide that fill the frame) were
    "no ink found" for `read` (searched at 1024 px) and read by `predict` (searched at 512 px first): `read` now
    searches at 512 px where 1024 finds nothing."""
    images, labels = mnist_test
    for i in range(3):
        picture = Image.fromarray(255 - images[i]).resize((side, side), Image.BICUBIC)
        [prediction] = recognizer.predict(picture)
        reading = recognizer.read(picture)
        assert reading.text == str(labels[i]) == str(prediction.label)
        rows, cols = np.flatnonzero(images[i].max(axis=1) > 30), np.flatnonzero(images[i].max(axis=0) > 30)
        ink = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]) * side / 28  # in the picture's pixels
        assert synth.iou(reading.digits[0].box, ink) > 0.8, (reading.digits[0].box, ink)


def test_a_tiny_gradient_is_no_ink_without_a_numpy_warning(recognizer):
    """A 26x4 left-to-right gradient (found by fuzzing `read`): the flat-fielded reading's split left one side
    empty, and NumPy printed "Mean of empty slice" on the way to the right answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match="no ink"):
            recognizer.read(np.tile(np.linspace(0, 255, 4).astype(np.uint8), (26, 1)))


def test_hundreds_of_ink_crumbs_are_specks_beside_the_largest_marks(recognizer, mnist_test):
    """A marker 4 in a shade (the robustness family, test digit 4, seed 4) left 446 crumbs of paper texture as
    ink: each was an atom, and `read` took 21 s to answer "4". Only the `MAX_MARKS` largest components are read."""
    images, labels = mnist_test
    picture = renderings.render("marker", images[4], np.random.default_rng(4))
    number = Number(picture)
    assert len(number.objects) > 10 * MAX_MARKS
    assert number.candidates()[0] <= MAX_MARKS
    assert recognizer.read(picture).text == str(labels[4])


@pytest.mark.parametrize("seed", [124, 128, 173])
def test_the_grain_of_a_shade_beside_an_empty_ruled_line_is_no_number(recognizer, seed):
    """Phone photos of an empty form field (`scripts/blank_photos.py --field`'s ruled line, drawn here with one
    seed per page, a shadow on each): the line goes as a form line, and the grain of the shade was left as 127 to
    694 crumbs, whose 32 largest were read as "????????1?1111???11???1?111" and the like. None stands out of the
    crowd of crumbs (`segmentation._texture_crumbs`): no ink. `blank_photos.py N 300 --field --read`, strings of two
    digits or more: seed 7 10 -> 4, seed 13 9 -> 2 (those left hold 2 to 25 components, too few for a crowd)."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(300, 801, size=2))
    cover, thick, level = np.zeros((h, w), np.float32), int(rng.integers(2, 9)), float(rng.uniform(0.4, 0.9))
    y = int(rng.uniform(0.5, 0.9) * h)
    cv2.line(cover, (0, y), (w, y), level, thick)
    page = renderings.photo(cover, rng, 0.5, int(rng.integers(60, 86)), shadow=True)
    assert len(Number(page).objects) > 100
    assert synth.read_refused(recognizer, page)


def test_salt_noise_has_no_marks_and_few_marks_are_all_kept(recognizer):
    """Salt noise was read as its `MAX_MARKS` largest crumbs; none of them stands out of the crowd of thousands
    (`segmentation._texture_crumbs`), so now it has no atoms at all, and `read` finds no ink in it."""
    salt = np.full((572, 408), 255, np.uint8)
    salt[np.random.default_rng(0).random(salt.shape) < 0.3] = 0
    number = Number(salt)
    assert len(number.objects) > 10 * MAX_MARKS and number.marks == 0 and number.candidates()[0] == 0
    with pytest.raises(ImageError, match="no ink found"):
        recognizer.read(salt)
    strokes = Number(_strokes(FIVE + _shift(FOUR, 0.85) + _shift(SEVEN, 1.6)))
    assert strokes.specks == set() and strokes.candidates()[0] == 6


def test_a_number_of_forty_digits_keeps_every_digit(recognizer, mnist_test):
    """More marks than `MAX_MARKS`, standing in one row: a long number (an account or serial number) lost the
    digits beyond the 32 largest marks as specks (40 digits were read as 32)."""
    images, labels = mnist_test
    row = np.concatenate([np.pad(digit[:, 3:25], ((4, 4), (2, 2))) for digit in images[100:140]], axis=1)
    picture, truth = np.pad(255 - row, 20, constant_values=255), "".join(map(str, labels[100:140]))
    number = Number(picture)
    assert len(number.objects) >= 40 and not number.specks
    text = recognizer.read(picture).text
    assert len(text) == 40 and sum(a == b for a, b in zip(text, truth)) >= 38, (text, truth)


# ---------------------------------------------------------------- segmentation


def _strokes(strokes, height=100, width=None, pen=9):
    """A dark-on-white picture of pen strokes given in units of `height` ((x, y) lists)."""
    width = width or int(height * max(x for s in strokes for x, _ in s) + height * 0.3)
    image = Image.new("L", (width, int(height * 1.3)), 255)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line([(x * height, 0.15 * height + y * height) for x, y in stroke], fill=0, width=pen, joint="curve")
    return np.asarray(image)


def _arc(cx, cy, rx, ry, start, sweep, n=16):
    a = np.radians(start + sweep * np.arange(n + 1) / n)
    return list(zip(cx + rx * np.cos(a), cy + ry * np.sin(a)))


# Digits whose strokes do not touch: a 5 with a detached flag, a 4 in two strokes, a 7 whose bar
# and stem are apart. Each is several connected components that segmentation must merge.
FIVE = [[(0.15, 0.0), (0.55, 0.0)], [(0.12, 0.08), (0.1, 0.45), *_arc(0.3, 0.68, 0.24, 0.3, -120, 230)]]
FOUR = [[(0.3, 0.0), (0.05, 0.6), (0.32, 0.6)], [(0.45, 0.05), (0.42, 1.0)]]
SEVEN = [[(0.05, 0.0), (0.5, 0.0)], [(0.5, 0.07), (0.2, 1.0)]]


def _shift(strokes, dx):
    return [[(x + dx, y) for x, y in s] for s in strokes]


def test_pieces_of_one_digit_are_merged(recognizer):
    picture = _strokes(FIVE + _shift(FOUR, 0.85) + _shift(SEVEN, 1.6))
    assert len(Number(picture).objects) == 6  # six strokes, none touching
    assert recognizer.read(picture).text == "547"


def test_heights_30_percent_apart_and_a_drifting_baseline(recognizer, mnist_test):
    images, labels = mnist_test
    idx = [0, 1, 2, 3]  # 7 2 1 0
    crops = [Image.fromarray(images[i]).resize((s, s), Image.BICUBIC) for i, s in zip(idx, (84, 120, 156, 110))]
    page = Image.new("L", (620, 320), 0)
    for k, (crop, dy) in enumerate(zip(crops, (10, 60, 90, 150))):
        page.paste(crop, (20 + 145 * k, dy))
    reading = recognizer.read(255 - np.asarray(page))
    assert reading.text == "".join(map(str, labels[idx]))


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_touching_digits_are_split(recognizer, mnist_test):
    """Each number holds one pair of touching digits: it is cut into as many digits as it has, nearly always right."""
    texts = [(truth, recognizer.read(picture).text) for truth, picture, _, _ in synth.numbers(mnist_test, 11, 4, True)]
    assert all(len(text) == len(truth) for truth, text in texts), texts
    assert sum(text == truth for truth, text in texts) >= 3, texts


def test_best_path_prefers_confident_digits():
    """The dynamic programme picks the partition with the most probable digits, cuts cost extra."""
    from digitrec.segmentation import Candidate

    def cand(first, last, cuts=0, height=1.0):
        return Candidate(first, last, (first, last), np.zeros((4, 4), "float32"), (0, 0, 1, 1), height, 0.5,
                         cuts, frozenset())

    sure, unsure = np.eye(10)[3] * 0.99 + 0.001, np.full(10, 0.1)
    found = [cand(0, 1), cand(1, 2), cand(0, 2)]
    assert best_path(2, found, [sure, sure, unsure]) == [0, 1]  # two clear digits beat one doubtful
    assert best_path(2, found, [unsure, unsure, sure]) == [2]  # one clear digit beats two doubtful pieces
    cut = [cand(0, 1, cuts=1), cand(1, 2, cuts=1), cand(0, 2)]
    fair = np.eye(10)[3] * 0.8 + 0.02
    assert best_path(2, found, [sure, sure, fair]) == [0, 1]  # between separate components: the better
    assert best_path(2, cut, [sure, sure, fair]) == [2]  # a cut through ink needs more than a small gain
    short = [cand(0, 1, height=0.3), cand(1, 2), cand(0, 2)]
    assert best_path(2, short, [sure, sure, fair]) == [2]  # a speck-sized digit is unlikely
    wide = [cand(0, 1), cand(1, 2), dataclasses.replace(cand(0, 2), width=1.6)]
    assert best_path(2, wide, [fair, fair, sure]) == [0, 1]  # one digit 1.6 lines wide is likely two
    glyph = [cand(0, 1, cuts=1), cand(1, 2, cuts=1), dataclasses.replace(cand(0, 2), width=1.4)]
    assert best_path(2, glyph, [sure, unsure, unsure]) == [0, 1]  # a wide non-digit, cut: a digit and a mark ...
    assert best_path(2, glyph, [sure, unsure, unsure], min_digit_score=0.3) == [2]  # ... unless the mark is rejected


def test_a_candidate_digit_is_normalized_from_its_ink_as_its_picture_is(recognizer, mnist_test):
    """`read` normalizes each candidate digit from its ink (`normalize_ink`: polarity known, no shade to look for)
    in half the time; the result is close to the picture's `normalize`, also when the ink fills its crop."""
    images, labels = mnist_test
    similarity, inputs = [], []
    for i in range(30):
        picture = synth.canvas(np.pad(images[i], 6))
        ink, mask = extract_ink(to_grayscale(picture))
        r0, r1 = np.flatnonzero(mask.any(axis=1))[[0, -1]]
        c0, c1 = np.flatnonzero(mask.any(axis=0))[[0, -1]]
        for crop in (ink, ink[r0 : r1 + 1, c0 : c1 + 1]):  # with a margin, and tight
            inputs.append(normalize_ink(crop))
            similarity.append(np.corrcoef(inputs[-1].ravel(), normalize(picture).ravel())[0, 1])
    assert np.mean(similarity) > 0.9 and min(similarity) > 0.5
    read = np.argmax(recognizer.classify(np.stack(inputs)), axis=1)
    assert np.mean(read == np.repeat(labels[:30], 2)) >= 0.95


@pytest.mark.slow
def test_a_bold_candidate_is_also_thinned_half_as_much_and_the_classifier_chooses(recognizer, mnist_test):
    """Thinning a blotted 8 (a marker whose strokes nearly close its loops) to MNIST's pen can erode it into a
    fragment; `normalize_ink_hypotheses` offers it thinned half as much too. 30 test 8s, 84 px tall in a 13 px
    pen: measured 15 read right from the fully thinned image alone, 19 by `choose`, 22 by `read` (18 before)."""
    images, labels = mnist_test
    first = chosen = read = 0
    for i in np.flatnonzero(labels == 8)[:30]:
        big = cv2.resize(images[i], (84, 84), interpolation=cv2.INTER_CUBIC)
        page = np.pad(255 - cv2.dilate(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))), 20,
                      constant_values=255)
        ink = extract_ink(to_grayscale(page))[0]
        hypotheses = normalize_ink_hypotheses(ink)
        assert 1 <= len(hypotheses) <= 2 and np.array_equal(hypotheses[0], normalize_ink(ink))
        first += int(recognizer.classify(hypotheses[:1]).argmax()) == 8
        chosen += int(recognizer.choose([hypotheses])[1].argmax()) == 8
        read += recognizer.read(page).text == "8"
    assert chosen >= first + 2 and read >= 20, (first, chosen, read)


# ---------------------------------------------------------------- accuracy (the targets)


def _accuracy(recognizer, mnist_test, seed, touching):
    right, total, misread = {}, {}, []
    for truth, picture, _, kind in synth.numbers(mnist_test, seed, sum(N_NUMBERS.values()), touching):
        try:
            text = recognizer.read(picture).text
        except ImageError as e:  # no ink found: read as nothing, which is wrong
            text = f"({e})"
        total[kind] = total.get(kind, 0) + 1
        right[kind] = right.get(kind, 0) + (text == truth)
        if text != truth:
            misread.append((kind, truth, text))
    return {k: right[k] / total[k] for k in total}, total, misread


@pytest.mark.slow
def test_separate_digits_exact_string_accuracy(recognizer, mnist_test):
    accuracy, total, misread = _accuracy(recognizer, mnist_test, seed=100, touching=False)
    print("separate digits, exact-string accuracy:", accuracy)  # shown by pytest -rP (README figures)
    assert total == N_NUMBERS
    assert min(accuracy.values()) >= MIN_SEPARATE, (accuracy, misread)


@pytest.mark.slow
def test_one_touching_pair_exact_string_accuracy(recognizer, mnist_test):
    accuracy, total, misread = _accuracy(recognizer, mnist_test, seed=200, touching=True)
    print("one touching pair, exact-string accuracy:", accuracy)
    assert total == N_NUMBERS
    assert min(accuracy.values()) >= MIN_TOUCHING, (accuracy, misread)


@pytest.mark.slow
def test_numbers_in_comb_fields_open_at_the_top_exact_string_accuracy(recognizer, mnist_test):
    """Numbers of 3-6 MNIST test digits in comb fields open at the top (`synth.number_in_boxes` with `ticks`:
    sides rising 0.2-0.5 of the cells' height, or full-height sides without a top line; 20 scans, 20 photos).
    Validation numbers (`scripts/read_validation.py 21 --n 0 --in-combs 80`): 29 of 80 read exactly before
    `formlines._comb_teeth`, 65 after, 67 once the pen's reading follows a reading of printed lines; these scans /
    photos: 7 / 1 of 20 read exactly before, 19 / 16 after, 19 / 15 with the pen's reading."""
    images, labels = mnist_test
    rng = np.random.default_rng(410)
    right = {"scan": 0, "photo": 0}
    for i in range(40):
        idx = rng.choice(len(labels), int(rng.integers(3, 7)), replace=False)
        kind = "photo" if i % 2 else "scan"
        ticks = rng.uniform(0.2, 0.5) if i // 2 % 2 else 1.0
        picture, _ = synth.number_in_boxes(images[idx], rng, photo=kind == "photo", ticks=ticks)
        right[kind] += recognizer.read(picture).text == "".join(map(str, labels[idx]))
    accuracy = {k: v / 20 for k, v in right.items()}
    print("numbers in comb fields open at the top, exact-string accuracy:", accuracy)
    assert min(accuracy.values()) >= 0.7, accuracy


@pytest.mark.slow
@pytest.mark.parametrize("turned", [False, True])
def test_numbers_in_printed_boxes_exact_string_accuracy(recognizer, mnist_test, turned):
    """Numbers of 3-6 MNIST test digits written in a row of printed boxes (`synth.number_in_boxes`, clear of the
    boxes; 20 scans, 20 photos), and the same turned 1-3 degrees either way, as a form is scanned or photographed
    askew. Comb fields read less well than free-written numbers: the README gives the figures; the floor is under
    them."""
    images, labels = mnist_test
    rng = np.random.default_rng(400)
    right, misread = {"scan": 0, "photo": 0}, []
    for i in range(40):
        idx = rng.choice(len(labels), int(rng.integers(3, 7)), replace=False)
        kind = "photo" if i % 2 else "scan"
        picture, _ = synth.number_in_boxes(images[idx], rng, photo=kind == "photo")
        if turned:
            picture = synth.askew(picture, rng)
        text, truth = recognizer.read(picture).text, "".join(map(str, labels[idx]))
        right[kind] += text == truth
        if text != truth:
            misread.append((kind, truth, text))
    accuracy = {k: v / 20 for k, v in right.items()}
    print(f"numbers in printed boxes{', turned' if turned else ''}, exact-string accuracy:", accuracy)
    assert min(accuracy.values()) >= 0.6, (accuracy, misread)
