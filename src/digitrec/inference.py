"""Recognize digits in real pictures: normalize like MNIST, then classify.

    from digitrec import Recognizer
    [result] = Recognizer().predict("my_seven.jpg")
    result.label, result.confidence, result.top_k(3)
"""

import dataclasses
import threading

import numpy as np

from digitrec import preprocessing, runtimes
from digitrec.runs import BUNDLED_MODEL, BUNDLED_ONNX  # noqa: F401 (part of this module's API)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One recognized digit.

    Attributes:
        label: int in [0, 9], the most probable class.
        confidence: float in [0, 1], the probability of `label`.
        probabilities: 10 floats summing to 1, indexed by digit.
    """

    label: int
    confidence: float
    probabilities: tuple

    def top_k(self, k=3):
        """The `k` most probable digits as `[(label, probability), ...]`, best first."""
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(int(i), float(self.probabilities[i])) for i in order]


def _as_list(images):
    """One image, or a sequence or batch of them, as a list of images."""
    if isinstance(images, (list, tuple)):
        return list(images)
    if isinstance(images, np.ndarray) and (images.ndim == 4 or (images.ndim == 3 and images.shape[-1] > 4)):
        return list(images)
    return [images]


class Recognizer:
    """A trained model plus MNIST-style input normalization.

    Args:
        model: None or "bundled" for the bundled model (see
            `digitrec.runs.bundled_model`); the path of a `.keras` file
            (Keras, loaded in safe mode) or a run folder, an `.onnx` file
            (ONNX Runtime) or a `.tflite` file (LiteRT), as written by
            `digitrec export`; or a `keras.Model` that maps `(N, 28, 28, 1)`
            float32 in [0, 1] to `(N, 10)` probabilities. The runtime
            follows the file suffix (`digitrec.runtimes`); normalization is
            the same for all, and an `.onnx` model never imports TensorFlow.

    Attributes:
        runtime: the `runtimes.Runtime` that runs the forward pass.
        model_path: Path of the model file, or None for a `keras.Model`.

    Raises:
        ModelError: the model file is missing, broken, not a digitrec
            model, or its runtime is not installed.
    """

    def __init__(self, model=None):
        self.runtime = runtimes.load(model)
        self.model_path = self.runtime.path
        self._lock = threading.Lock()

    @staticmethod
    def preprocess(image):
        """The `(28, 28)` float32 image in [0, 1] that the model sees (`preprocessing.normalize`)."""
        return preprocessing.normalize(image)

    def classify(self, normalized, batch_size=256):
        """Class probabilities for already-normalized images.

        Args:
            normalized: float32 `(N, 28, 28)` or `(N, 28, 28, 1)` in [0, 1].

        Returns:
            float32 `(N, 10)`, rows summing to 1 (an int8 LiteRT model's
            probabilities come in steps of 1/256).

        Safe to call from several threads: forward passes take turns
        (Keras's compiled predict function and the LiteRT interpreter are
        shared state).
        """
        x = np.asarray(normalized, dtype="float32").reshape(-1, 28, 28, 1)
        with self._lock:
            chunks = [self.runtime.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, 10), "float32")

    def predict(self, images):
        """Recognize the digit in each image.

        Args:
            images: one image or a list of them; each a file path, encoded
                bytes, a `PIL.Image.Image` or a NumPy array (see
                `preprocessing.normalize`). A NumPy batch `(N, H, W)` or
                `(N, H, W, C)` counts as N images.

        Returns:
            list of `Prediction`, one per image, in order (empty for no images).

        Raises:
            ImageError: an image cannot be read or holds no ink (the first
                such image stops the call; the CLI handles images one by one).
        """
        normalized = [self.preprocess(image) for image in _as_list(images)]
        if not normalized:
            return []
        return [self.to_prediction(p) for p in self.classify(np.stack(normalized))]

    @staticmethod
    def to_prediction(p):
        """A `Prediction` from one row of `classify`'s probabilities `(10,)`."""
        label = int(np.argmax(p))
        return Prediction(label, float(p[label]), tuple(float(v) for v in p))
