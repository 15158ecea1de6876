"""The model registry: named CNNs, each with the training recipe it was published with.

Every model maps a float32 batch `(N, 28, 28, 1)` in [0, 1] (light ink on
dark, as in MNIST) to class probabilities `(N, 10)` (a softmax output).
Only backend-neutral `keras.layers` are used, so the models run on
TensorFlow, JAX or PyTorch.
"""

import dataclasses
from collections.abc import Callable

import keras
from keras import layers

from digitrec import runs, runtimes
from digitrec.errors import ModelError

INPUT_SHAPE = runtimes.INPUT_SHAPE
NUM_CLASSES = runtimes.NUM_CLASSES


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A model builder and the training settings that go with it.

    Attributes:
        build: function of no arguments returning an uncompiled
            `keras.Model` with output `(N, 10)` probabilities.
        loss: "categorical_crossentropy" (one-hot labels) or
            "sparse_categorical_crossentropy" (integer labels).
        epochs: maximum number of epochs.
        batch_size: images per gradient step.
        learning_rate: Adam's (peak) learning rate.
        patience: epochs without a better validation loss before early
            stopping; None trains for exactly `epochs`.
        schedule: "constant", or "cosine" (linear warm-up from zero over
            `warmup_epochs`, then cosine decay to zero; Loshchilov and
            Hutter 2017).
        warmup_epochs: length of the cosine schedule's warm-up, in epochs
            (may be fractional).
        beta_1, beta_2: Adam's decay rates of the first moment (momentum)
            and of the second; 0.9 and 0.999 are Kingma and Ba's defaults.
        label_smoothing: float in [0, 1); the one-hot targets become
            `(1 - s) * onehot + s / 10` (Szegedy et al. 2016). Needs the
            categorical loss.
        steps_per_execution: training steps per call into the compiled
            graph (Keras `compile`); more means less Python per step.
        val_split: share of the training images held out for validation
            (early stopping, checkpoints, curves); 0 trains on all 60,000.
        augment: train on randomly distorted images (see
            `digitrec.augmentation`).
        outlier_exposure: non-digits added per training digit, each with
            the uniform distribution as its target (outlier exposure,
            Hendrycks et al. 2019, whose weight 0.5 this ratio plays; see
            `digitrec.outliers` and `digitrec.rejection`); 0 trains on
            digits only.
        renderings: also train on every training digit rendered as one of
            the input families (scans, canvases, photos, forms) and passed
            through `normalize` (see `digitrec.renderings`), so that what
            normalization leaves behind is in distribution.
        source: where the architecture and recipe come from.
    """

    build: Callable[[], keras.Model]
    loss: str
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int | None
    schedule: str = "constant"
    warmup_epochs: float = 1.0
    beta_1: float = 0.9
    beta_2: float = 0.999
    label_smoothing: float = 0.0
    steps_per_execution: int = 1
    val_split: float = 0.1
    augment: bool = False
    outlier_exposure: float = 0.0
    renderings: bool = False
    source: str = ""


def _baseline():
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="baseline",
    )


def _tutorial():
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="tutorial",
    )


def _conv_bn(filters, kernel, strides=1, padding="valid"):
    return [
        layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False),
        layers.BatchNormalization(),
        layers.Activation("relu"),
    ]


def _robust():
    # Two stages of 3x3, 3x3, strided 5x5 convolutions (a learned pooling),
    # each conv batch-normalized: C. Deotte's Kaggle MNIST CNN (2018).
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            *_conv_bn(32, 3),
            *_conv_bn(32, 3),
            *_conv_bn(32, 5, strides=2, padding="same"),
            layers.Dropout(0.4),
            *_conv_bn(64, 3),
            *_conv_bn(64, 3),
            *_conv_bn(64, 5, strides=2, padding="same"),
            layers.Dropout(0.4),
            *_conv_bn(128, 4),
            layers.Flatten(),
            layers.Dropout(0.4),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="robust",
    )


def _space_to_depth(size, block):
    # (size, size, 1) -> (size/block, size/block, block^2): a lossless reshape that
    # hands each block of pixels to the next convolution as channels.
    n = size // block
    return [layers.Reshape((n, block, n, block)), layers.Permute((1, 3, 2, 4)), layers.Reshape((n, n, block * block))]


def _conv_pool_bn(filters, momentum=0.99):
    # Pooling before normalization and ReLU (as in Keller Jordan's airbench,
    # 2024) gives the same kind of features while BN and ReLU touch a quarter
    # of the values.
    return [
        layers.Conv2D(filters, 3, padding="same", use_bias=False),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(momentum=momentum),
        layers.Activation("relu"),
    ]


def _s2d_cnn(name, widths=(32, 64), hidden=256, shift_px=0, bn_momentum=0.9):
    # Built for CPU time per image (see `digitrec bench`). MNIST's 20x20 digit
    # box (LeCun et al. 1998) lies well inside a central 24x24 crop, and
    # space-to-depth halves the resolution without losing a pixel, so the
    # first convolution runs at 12x12 positions instead of 28x28. A wide
    # batch-normalized hidden layer adds capacity at little cost: a dense
    # layer is one large matrix multiply, the fastest thing a CPU does.
    # BatchNorm's moving statistics follow the last ~10 steps (momentum 0.9
    # instead of Keras' 0.99): in a one-epoch run the weights move too fast
    # for a 100-step average.
    shift = [layers.RandomTranslation(shift_px / 28, shift_px / 28, fill_mode="constant", interpolation="nearest")]
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            *(shift if shift_px else []),  # training only: whole-pixel shifts of up to shift_px
            layers.Cropping2D(2),
            *_space_to_depth(24, 2),
            *(block for filters in widths for block in _conv_pool_bn(filters, bn_momentum)),
            layers.Flatten(),
            layers.Dense(hidden, use_bias=False),
            layers.BatchNormalization(momentum=bn_momentum),
            layers.Activation("relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name=name,
    )


_FAST = Recipe(
    lambda: _s2d_cnn("fast"),
    "categorical_crossentropy",
    epochs=1,
    batch_size=256,
    learning_rate=5e-2,
    patience=None,
    schedule="cosine",
    warmup_epochs=0.15,
    beta_1=0.7,
    beta_2=0.99,
    label_smoothing=0.1,
    steps_per_execution=16,
    val_split=0.0,
    source="digitrec's own, chosen on a validation split (docs/recipe-search.md): batch-normalized CNN "
    "(Ioffe and Szegedy 2015) on a space-to-depth input, pooling before activation and Adam with beta_1 0.7 "
    "(tuomaso/train_mnist_fast), one epoch with warm-up then cosine decay (one-cycle style, Smith 2018), "
    "label smoothing (Szegedy et al. 2016)",
)

REGISTRY = {
    "fast": _FAST,
    "strong": dataclasses.replace(
        _FAST,
        build=lambda: _s2d_cnn("strong", shift_px=1),
        epochs=8,
        learning_rate=2e-2,
        warmup_epochs=0.3,
        source="digitrec's own, chosen on a validation split (docs/recipe-search.md): fast's network and "
        "optimizer, trained 8 epochs on digits shifted by up to 1 pixel (Simard, Steinkraus and Platt 2003)",
    ),
    "baseline": Recipe(
        _baseline,
        "categorical_crossentropy",
        epochs=50,
        batch_size=128,
        learning_rate=1e-3,
        patience=3,
        source="keras-io mnist_convnet.py (Chollet 2015); Adam, early stopping on validation loss",
    ),
    "tutorial": Recipe(
        _tutorial,
        "sparse_categorical_crossentropy",
        epochs=5,
        batch_size=64,
        learning_rate=1e-3,
        patience=None,
        source="TensorFlow 'Convolutional Neural Network' tutorial; 5 fixed epochs",
    ),
    "robust": Recipe(
        _robust,
        "categorical_crossentropy",
        epochs=30,
        batch_size=128,
        learning_rate=2e-3,
        patience=None,
        schedule="cosine",
        augment=True,
        renderings=True,
        source="Deotte 2018 (Kaggle 'How to choose CNN architecture MNIST'); elastic distortion after "
        "Simard et al. 2003; cosine schedule after Loshchilov and Hutter 2017; trained through the "
        "input pipeline on rendered families (digitrec.renderings)",
    ),
}


def get_recipe(name):
    """Return the `Recipe` registered as `name`.

    Raises:
        ModelError: no model of that name; the message lists the known names.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(REGISTRY)}") from None


def build_model(name):
    """Build the uncompiled model registered as `name` (see `get_recipe`)."""
    return get_recipe(name).build()


def load_model(model, signature=runtimes.DIGITS):
    """Load a saved `.keras` model with Keras safe mode (no arbitrary code).

    Args:
        model: str or Path of a `.keras` file written by `digitrec train`,
            a run folder (its `model.keras`), or "bundled" (see
            `digitrec.runs.model_path`).

    Returns:
        `keras.Model` mapping `(N, 28, 28, 1)` float32 to `(N, 10)` probabilities.

    Raises:
        ModelError: as `digitrec.runs.model_path` (missing, unreadable, not
            a Keras model archive), or the model is unsafe, or its input or
            output shape is not `(None, 28, 28, 1)` / `(None, 10)` (or as
            `signature`: `runtimes.PAIRS` for the two-digit classifier, None
            for either; `runtimes.check_signature`).
    """
    path = runs.model_path(model)
    try:
        net = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001 (Keras raises many types for a bad archive; each becomes a ModelError)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: cannot load model ({first})") from None
    runtimes.check_signature(path, net.input_shape, net.output_shape, signature)
    return net


def ensemble(members, name=None):
    """One model answering the mean of its members' probabilities: a deep ensemble.

    Averaging the softmax outputs of networks trained from different
    weights or along different runs lowers the error and sharpens the
    "not a digit" score (Lakshminarayanan, Pritzel and Blundell 2017,
    "Simple and scalable predictive uncertainty estimation using deep
    ensembles", NeurIPS; members from one run's learning-rate restarts as
    in Huang et al. 2017, "Snapshot ensembles: train 1, get M for free",
    ICLR). Built of Keras layers only, so it saves, loads in safe mode and
    exports like any registered model.

    Args:
        members: `keras.Model`s mapping `(N, 28, 28, 1)` float32 to `(N, 10)`
            probabilities, at least two.
        name: the model's name (its `architecture` in exports); default the
            first member's name and "-ensemble".

    Returns:
        `keras.Model` mapping `(N, 28, 28, 1)` float32 to `(N, 10)`
        probabilities, the members' mean; its weights are theirs.

    Raises:
        ValueError: fewer than two members.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least two models, got {len(members)}")
    inputs = keras.Input(INPUT_SHAPE)
    outputs = [keras.Model(m.inputs, m.outputs[0], name=f"member_{i}")(inputs) for i, m in enumerate(members)]
    return keras.Model(inputs, layers.Average()(outputs), name=name or f"{members[0].name}-ensemble")
