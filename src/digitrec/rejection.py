"""Rejection: tell a handwritten digit from everything else ("not a digit").

Method: the maximum softmax probability (MSP, Hendrycks and Gimpel 2017,
"A baseline for detecting misclassified and out-of-distribution examples")
of a model fine-tuned with outlier exposure (Hendrycks, Mazeika and
Dietterich 2019): during training, non-digits (`digitrec.outliers`) get
the uniform distribution as their target, so the model learns to answer
them with a flat softmax, while digits keep a peaked one. The models keep
their `(N, 10)` probability output; MSP needs no logits.

`digit_score` rescales the MSP of K classes to [0, 1]:
`(K * max(p) - 1) / (K - 1)`: 0 for a uniform answer, 1 for a certain one.

The threshold below which a prediction is rejected is calibrated on a
validation split of MNIST training digits that the model never trained on
(`calibrate`): the `REJECT_DIGITS` quantile of their digit scores, so at
most that share of validation digits is rejected. It is kept in a small
JSON file beside the model, `<model file stem>.rejection.json` (e.g.
`default.rejection.json` beside `default.keras`); a model without one
rejects nothing (threshold 0).
"""

from pathlib import Path

import numpy as np

from digitrec import _atomic
from digitrec.errors import ModelError

REJECT_DIGITS = 0.003  # share of validation digits to reject: the issue allows 1 %; 0.3 % keeps realworld-dev under 2 %
REJECTED = "not a digit"
NOT_A_NUMBER = "not a number"  # a reading of several digits, one of them rejected (`inference.Reading`)
MEASURE_SEED = 20260  # seed of the non-digits `measure` draws: never used for training or in the tests


def digit_score(probabilities):
    """How much each input looks like one digit: float32 `(N,)` in [0, 1] from probabilities `(N, K)`."""
    p = np.asarray(probabilities, dtype="float32")
    k = p.shape[-1]
    return np.clip((k * p.max(axis=-1) - 1) / (k - 1), 0.0, 1.0)


def threshold_path(model_path):
    """Where the calibrated threshold of the model file `model_path` lives (a Path)."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.rejection.json")


def load_threshold(model_path, key="threshold", default=None):
    """The calibrated digit-score threshold of a model file, or 0.0 when it has none.

    `key` names another threshold of the same file (`pairs.calibrate`
    writes two); where the file lacks it, `default` is returned if given.

    Raises:
        ModelError: the JSON file exists but cannot be read or has no
            number `key` in [0, 1].
    """
    from digitrec.runs import read_json

    path = threshold_path(model_path) if model_path else None
    if path is None or not path.is_file():
        return 0.0
    try:
        saved = read_json(path)
        threshold = float(saved[key] if default is None or key in saved else default)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path}: cannot read the rejection threshold (no number {key!r}: {e})") from None
    if not 0.0 <= threshold <= 1.0:
        raise ModelError(f"{path}: threshold {threshold} is outside [0, 1]")
    return threshold


def calibrate(scores, reject=REJECT_DIGITS):
    """The threshold that rejects the share `reject` of validation digits.

    Args:
        scores: `digit_score` of held-out digits `(N,)`, each passed through
            `preprocessing.normalize` as inputs are at prediction time.
        reject: float in [0, 1), the share of them to reject.

    Returns:
        dict: `threshold` (float), `reject_target`, `rejected` (the share
        of `scores` under the threshold, at most `reject`) and `n`.
    """
    scores = np.sort(np.asarray(scores, dtype="float64"))
    threshold = float(scores[int(np.floor(reject * len(scores)))]) if len(scores) else 0.0
    return {"threshold": threshold, "reject_target": reject, "rejected": float(np.mean(scores < threshold)),
            "n": int(len(scores))}


def calibrate_model(model, images, reject=REJECT_DIGITS, batch_size=512):
    """`calibrate` a Keras model on held-out digit images.

    Args:
        model: `keras.Model`, `(N, 28, 28, 1)` -> `(N, 10)` probabilities.
        images: uint8 `(N, 28, 28)` validation digits (MNIST style); each is
            passed through `preprocessing.normalize` first, as at prediction time.
        reject: share of them to reject.

    Returns:
        dict, as `calibrate`.
    """
    from digitrec.preprocessing import normalize

    x = np.stack([normalize(image) for image in images])[..., None]
    return calibrate(digit_score(model.predict(x, batch_size=batch_size, verbose=0)), reject)


def write_threshold(model_path, calibration, **details):
    """Save `calibrate`'s result (and `details`) as JSON beside the model file; returns its path."""
    path = threshold_path(model_path)
    _atomic.write_json(path, {**calibration, "score": "digit_score: rescaled maximum softmax probability",
                              "method": "maximum softmax probability (Hendrycks and Gimpel 2017); sharper after "
                                        "outlier exposure (Hendrycks et al. 2019) in training", **details})
    return path


def validation_images(model_path, data_dir=None):
    """The MNIST validation digits a model never trained on: uint8 `(N, 28, 28)`.

    The split (share, seed, and the `--train-size` subset it was held out
    of: `data.training_subset`) comes from the run's `config.json` beside
    the model, else 10 % of all 60,000 with seed 0, as the bundled model
    was trained.
    """
    from digitrec import data, runs

    config = Path(model_path).with_name("config.json") if model_path else None
    settings = runs.read_json(config) if config and config.is_file() else {}
    images, labels = data.load_split("train", data_dir)
    keep = data.training_subset(labels, settings.get("train_size"), settings.get("seed", 0))
    _, val = data.stratified_split(labels[keep], settings.get("val_split") or 0.1, settings.get("seed", 0))
    return images[keep][val]


def measurement_non_digits(n_per_family=300, seed=MEASURE_SEED):
    """The non-digits `measure` draws: `{kind: [float32 (H, W) picture, ...]}`, `n_per_family` of each kind.

    Kinds (keys): `non-digits: letters` (training fonts), `scribbles`,
    `shapes`, `texture`, `letters, unseen fonts` (`outliers.held_out_fonts()`,
    Greek letters included) and `letters with a pen, unseen fonts`
    (`outliers.pen_letters`), drawn in that order from one generator seeded
    with `seed`.
    """
    from digitrec import outliers

    rng = np.random.default_rng(seed)
    out = {f"non-digits: {family}": [outliers.render(family, rng) for _ in range(n_per_family)]
           for family in ("letters", "scribbles", "shapes", "texture")}
    for family, kind in (("letters", "letters, unseen fonts"), ("pen_letters", "letters with a pen, unseen fonts")):
        out[f"non-digits: {kind}"] = [outliers.render(family, rng, fonts=outliers.held_out_fonts())
                                      for _ in range(n_per_family)]
    return out


def measure(recognizer, data_dir=None, dev_images=None, n_per_family=300, seed=MEASURE_SEED):
    """Share of inputs `recognizer.predict` rejects, by kind of input.

    Non-digits are drawn with `seed` (never used for training or tests):
    `letters` in the training fonts and in `outliers.held_out_fonts()`
    (with Greek letters), `scribbles`, `shapes` and `texture`; a picture in
    which no ink is found counts as rejected. Digits: the 10,000 MNIST test
    images, and `dev_images` (e.g. realworld-dev) when given.

    Returns:
        dict of shares in [0, 1].
    """
    from digitrec import data
    from digitrec.errors import ImageError
    from digitrec.preprocessing import normalize

    def rejected(pictures):
        scores = []
        for picture in pictures:
            try:
                scores.append(recognizer.classify(normalize(picture)[None])[0])
            except ImageError:
                scores.append(np.full(10, 0.1, "float32"))
        return float(np.mean(digit_score(np.array(scores)) < recognizer.min_digit_score))

    result = {kind: rejected(pictures) for kind, pictures in measurement_non_digits(n_per_family, seed).items()}
    test, _ = data.load_split("test", data_dir)
    x = np.stack([normalize(image) for image in test])
    result["MNIST test digits"] = float(np.mean(digit_score(recognizer.classify(x)) < recognizer.min_digit_score))
    if dev_images is not None:
        x = np.stack([normalize(image) for image in dev_images])
        result["realworld-dev digits"] = float(np.mean(digit_score(recognizer.classify(x)) < recognizer.min_digit_score))
    return result
