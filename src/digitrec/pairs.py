"""The two-digit classifier: read a wide candidate of a number as one of the 100 two-digit strings.

Segmentation-free reading of touching digits (Hochuli, Oliveira, Britto and
Sabourin 2018, "Handwritten digit segmentation: Is it still necessary?",
Pattern Recognition 78): where two digits touch, a cut through their ink
often leaves pieces that do not look like digits, while a CNN that sees the
pair whole reads it as one of 100 classes, "00" to "99" (class `10 a + b`),
or as one digit (class `SINGLE`). `Recognizer.read` offers its most
probable pair beside the single-digit readings of every wide candidate
(`digitrec.segmentation.best_partition` chooses).

The model maps float32 `(N, 28, 56, 1)` in [0, 1] (`normalize`) to `(N,
101)` probabilities; it ships as `assets/pairs.keras` and its ONNX copy
`assets/pairs.onnx` (`digitrec.runtimes.PAIRS` is its signature), with its
rejection threshold `assets/pairs.rejection.json` (`calibrate`). `train`
makes it from the training part of the bundled model's split of MNIST
training digits (10 % held out, seed 0; never validation or test digits):

    DIGITREC_DATA_DIR=../shared/data/mnist python scripts/pair_classifier.py OUT.keras
"""

import cv2
import numpy as np

from digitrec import data, outliers
from digitrec.masks import bbox, rescale
from digitrec.outliers import ink_columns

SHAPE = (28, 56)  # the input, pixels: the ink's box 20 px high (as MNIST's digits), at most 52 wide
SINGLE = 100  # the class "one digit"
TRAIN_PAIRS, EPOCHS, BATCH_SIZE, LEARNING_RATE = 120_000, 4, 128, 2e-3  # about 25 minutes on 2 cores
SINGLE_SHARE, OUTLIER_SHARE = 0.2, 0.15  # shares of single digits and of non-digits in the training data
SLANT_SPREAD = 0.2  # standard deviation of the second digit's slant about the first's (x pixels per pixel down)
ISOLATED_REJECT = 0.01  # share of validation pairs not read as two digits where the pair is a picture's only mark


def normalize(ink):
    """The pair classifier's input for a candidate's ink.

    Args:
        ink: float `(H, W)` in [0, 1], light ink on 0 (a `segmentation.Candidate`'s image).

    Returns:
        float32 `SHAPE` in [0, 1]: the ink's box (pixels over a tenth of its
        maximum) scaled to 20 px high, or 52 px wide if that is smaller
        (aspect kept; `masks.rescale`), centred, its maximum 1.
    """
    ink = np.asarray(ink, "float32")
    if not ink.max() > 0:
        return np.zeros(SHAPE, "float32")
    r0, r1, c0, c1 = bbox(ink > 0.1 * ink.max())
    crop = ink[r0:r1, c0:c1] / ink.max()
    crop = rescale(crop, min(20 / crop.shape[0], 52 / crop.shape[1]))
    out = np.zeros(SHAPE, "float32")
    y0, x0 = (SHAPE[0] - crop.shape[0]) // 2, (SHAPE[1] - crop.shape[1]) // 2
    out[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return np.clip(out / max(float(out.max()), 1e-6), 0, 1)


def slant(image):
    """The slant of float `image`'s ink, `mu11 / mu02` of its image moments: x moves this many pixels per pixel down
    (0 upright, negative for ink leaning right); 0 for a picture without ink."""
    m = cv2.moments(np.asarray(image, "float32"))
    return m["mu11"] / m["mu02"] if m["mu02"] > 0 else 0.0


def sheared(image, shear):
    """float `image` `(H, W)` sheared about its ink's centre row, x' = x + shear (y - row), wide enough to keep its
    ink: float32 `(H, W + 2 pad)`."""
    image = np.asarray(image, "float32")
    m = cv2.moments(image)
    row = m["m01"] / m["m00"] if m["m00"] > 0 else image.shape[0] / 2
    pad = int(np.ceil(abs(shear) * image.shape[0])) + 1
    matrix = np.float32([[1, shear, pad - shear * row], [0, 1, 0]])
    return cv2.warpAffine(image, matrix, (image.shape[1] + 2 * pad, image.shape[0]), flags=cv2.INTER_LINEAR)


def leaning_as(rng, b, a):
    """float `b` `(H, W)` in [0, 1] sheared to lean as `a` does, give or take `SLANT_SPREAD`: float32 `(H, W')`.

    One writer's digits share a slant. The slant is read from the image
    moments (`slant`), as moment normalization deslants characters (Casey
    1970, "Moment normalization of handprinted characters", IBM J. Res.
    Dev. 14(5)); MNIST's digits lean from -0.58 to 0.34 (5th to 95th
    percentile), so two drawn apart may lean apart as the strokes of a V do.
    """
    return np.clip(sheared(b, slant(a) + rng.normal(0, SLANT_SPREAD) - slant(b)), 0, 1)


def touching_pair(rng, a, b):
    """Two float digits `a`, `b` (28 x 28, in [0, 1]) side by side, touching, leaning alike.

    `b` leans as `a` does (`leaning_as`: a pair of 1s is rarely a V or an
    M) and is 0.85-1.15 times as tall; the two overlap by -1 to 6 px
    (MNIST's scale; -1 leaves a gap of one pixel) and each sits at a random
    height in a band 6 px taller than the taller one. Returns float32
    `(H, W)`.
    """
    a, b = ink_columns(a), ink_columns(leaning_as(rng, b, a))
    k = rng.uniform(0.85, 1.15)
    b = rescale(b, k)
    overlap = min(int(rng.integers(-1, 7)), a.shape[1] - 1, b.shape[1] - 1)
    height, width = max(28, b.shape[0]) + 6, a.shape[1] + b.shape[1] - overlap
    out = np.zeros((height, width), "float32")
    ya, yb = int(rng.integers(0, height - 27)), int(rng.integers(0, height - b.shape[0] + 1))
    out[ya : ya + 28, : a.shape[1]] = a
    right = out[yb : yb + b.shape[0], width - b.shape[1] :]
    right[:] = np.maximum(right, b)
    return out


def non_digit(rng):
    """A wide non-digit, float32 `(H, W)` in [0, 1]: a letter, scribble or shape of `digitrec.outliers` (training
    fonts) 28 px high and stretched to 1-2 times its width, or two of them touching as `touching_pair` places
    digits."""
    def draw():
        image = outliers.render(str(rng.choice(["letters", "scribbles", "shapes"])), rng)
        return rescale(image, 28 / image.shape[0])

    if rng.random() < 0.5:
        return touching_pair(rng, draw(), draw())
    image = draw()
    width = max(1, round(image.shape[1] * rng.uniform(1.0, 2.0)))
    return np.clip(cv2.resize(image, (width, image.shape[0]), interpolation=cv2.INTER_CUBIC), 0, 1)


def dataset(digits, labels, n, seed, outlier_share=OUTLIER_SHARE):
    """`n` normalized training images and their targets.

    Args:
        digits: uint8 `(M, 28, 28)` MNIST digits; labels: int `(M,)`.
        n: int, how many images; seed: int, for NumPy's generator.
        outlier_share: float, the share of non-digits (`non_digit`).

    Returns:
        `(x, y)`: float32 `(n, 28, 56, 1)` and float32 `(n, 101)` targets:
        one-hot `10 a + b` for a touching pair, `SINGLE` for one digit
        (`SINGLE_SHARE` of them), the uniform distribution for a non-digit
        (outlier exposure, Hendrycks, Mazeika and Dietterich 2019, as the
        digit classifier's last stage: `digitrec.outliers`).
    """
    rng = np.random.default_rng(seed)
    x, y = np.zeros((n, *SHAPE, 1), "float32"), np.zeros((n, SINGLE + 1), "float32")
    for i in range(n):
        draw = rng.random()
        if draw < outlier_share:
            x[i, ..., 0], y[i] = normalize(non_digit(rng)), 1 / (SINGLE + 1)
        elif draw < outlier_share + SINGLE_SHARE:
            x[i, ..., 0], y[i, SINGLE] = normalize(digits[rng.integers(len(digits))] / 255), 1
        else:
            j, k = rng.integers(len(digits), size=2)
            x[i, ..., 0] = normalize(touching_pair(rng, digits[j] / 255, digits[k] / 255))
            y[i, 10 * labels[j] + labels[k]] = 1
    return x, y


def build():
    """The pair classifier, untrained: three VGG-style blocks (two 3x3 convolutions with batch normalization, max
    pooling; 32, 64, 128 filters), a 256-unit dense layer, dropout 0.3; about 1.0 M parameters."""
    import keras
    from keras import layers

    def block(filters):
        return [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU(),
                layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU(),
                layers.MaxPooling2D(2)]

    return keras.Sequential([keras.Input((*SHAPE, 1)), *block(32), *block(64), *block(128), layers.Flatten(),
                             layers.Dropout(0.3), layers.Dense(256, activation="relu"), layers.Dropout(0.3),
                             layers.Dense(SINGLE + 1, activation="softmax")], name="pairs")


def train(out, data_dir=None, n=TRAIN_PAIRS, epochs=EPOCHS, outlier_share=OUTLIER_SHARE):
    """Train the pair classifier and save it to `out` (a `.keras` file, written atomically).

    Adam with a cosine schedule (5 % warm-up to `LEARNING_RATE`), `epochs`
    epochs of `n` images (`dataset`, seed 1, the share `outlier_share` of
    them non-digits) in batches of `BATCH_SIZE`; prints the accuracy on
    6,000 pairs made from the held-out validation digits (seed 2). Returns
    the Keras `History`.

    Raises:
        DatasetError: the MNIST training set is missing (`data.load_split`).
    """
    import keras

    from digitrec import _atomic

    x, y = data.load_split("train", data_dir)
    train_idx, val_idx = data.stratified_split(y, 0.1, 0)
    xt, yt = dataset(x[train_idx], y[train_idx], n, 1, outlier_share)
    xv, yv = dataset(x[val_idx], y[val_idx], 6000, 2, outlier_share=0.0)
    keras.utils.set_random_seed(0)
    net, steps = build(), epochs * -(-n // BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=LEARNING_RATE,
                                                      warmup_steps=steps // 20)
    net.compile(keras.optimizers.Adam(schedule), "categorical_crossentropy", metrics=["accuracy"])
    history = net.fit(xt, yt, batch_size=BATCH_SIZE, epochs=epochs, validation_data=(xv, yv), verbose=2)
    saved = build()  # uncompiled: the file holds no optimizer state (a third of the size)
    saved.set_weights(net.get_weights())
    with _atomic.atomic_path(out, suffix=".keras") as tmp:
        saved.save(tmp)
    calibrate(out, data_dir)
    return history


def calibrate(model_path, data_dir=None):
    """Write the pair classifier's rejection threshold beside it (`rejection.write_threshold`).

    The threshold is the `rejection.REJECT_DIGITS` quantile of the digit
    scores (`rejection.digit_score` of the 101 probabilities) of 6,000
    pairs of held-out validation digits (as `train` validates): `read`
    offers no pair reading under it. A picture whose ink is one connected
    mark is read as a pair only above a stricter threshold, the
    `ISOLATED_REJECT` quantile (`isolated_threshold`): a mark alone is far
    more often one digit, or a letter or a doodle, than a two-digit number
    written in one stroke, so its reading as two needs more evidence
    (the prior odds of the alternatives, not the pair's likelihood, change).
    Returns the calibration dict.
    """
    from digitrec import rejection, runtimes

    x, y = data.load_split("train", data_dir)
    _, val_idx = data.stratified_split(y, 0.1, 0)
    xv, yv = dataset(x[val_idx], y[val_idx], 6000, 2, outlier_share=0.0)
    p = runtimes.load(model_path, runtimes.PAIRS).predict(xv[yv[:, SINGLE] == 0])
    scores = rejection.digit_score(p)
    calibration = rejection.calibrate(scores)
    isolated = rejection.calibrate(scores, ISOLATED_REJECT)
    rejection.write_threshold(model_path, calibration, measured_on="pairs of MNIST validation digits",
                              isolated_threshold=isolated["threshold"], isolated_reject_target=ISOLATED_REJECT,
                              isolated_rejected=isolated["rejected"])
    return calibration


def marginals(q):
    """The two digits' probabilities under the pair classifier's answer `q` (float `(101,)`): float32 `(2, 10)`,
    the left digit's and the right one's, over the 100 pair classes renormalized."""
    grid = np.asarray(q[:SINGLE], "float64").reshape(10, 10)
    grid /= max(grid.sum(), 1e-12)
    return np.stack([grid.sum(axis=1), grid.sum(axis=0)]).astype("float32")
