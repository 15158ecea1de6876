"""Honest scores on the 10,000 MNIST test images, which training never sees."""

import numpy as np
from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support

from digitrec import data, runtimes

NUM_CLASSES = 10


def per_class_scores(confusion_matrix):
    """Precision, recall and F1 of each digit from a confusion matrix.

    Computed with scikit-learn's `precision_recall_fscore_support`, each cell
    weighted by its count.

    Args:
        confusion_matrix: int array-like `(10, 10)`, counts >= 0; rows are
            the true digits, columns the predicted digits.

    Returns:
        `(precision, recall, f1)`, float64 `(10,)` each; a digit never
        predicted has precision 0, a digit never present recall 0.
    """
    cm = np.asarray(confusion_matrix)
    true, predicted = np.nonzero(cm)
    precision, recall, f1, _ = precision_recall_fscore_support(
        true, predicted, labels=range(NUM_CLASSES), sample_weight=cm[true, predicted], zero_division=0)
    return precision, recall, f1


def scores(probabilities, labels):
    """Classification metrics from predicted probabilities, with scikit-learn.

    Args:
        probabilities: float `(N, 10)`, rows summing to 1.
        labels: int `(N,)` in [0, 9], the true classes.

    Returns:
        dict with `accuracy`, `loss` (mean categorical cross-entropy, nats,
        `sklearn.metrics.log_loss`), `recall_macro`, `precision_macro`,
        `f1_macro` (unweighted means over the 10 classes, see
        `per_class_scores`), `per_class_recall` (10 floats),
        `confusion_matrix` (10x10 ints, rows = true class, columns =
        predicted class) and `n_test`.
    """
    probabilities = np.asarray(probabilities, dtype="float64")
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)  # float32 rows sum to 1 +- 1e-7
    labels = np.asarray(labels).astype("int64")
    cm = confusion_matrix(labels, probabilities.argmax(axis=1), labels=range(NUM_CLASSES))
    precision, recall, f1 = per_class_scores(cm)
    return {
        "accuracy": float(np.trace(cm) / len(labels)),
        "loss": float(log_loss(labels, probabilities, labels=range(NUM_CLASSES))),
        "recall_macro": float(recall.mean()),
        "precision_macro": float(precision.mean()),
        "f1_macro": float(f1.mean()),
        "per_class_recall": [float(r) for r in recall],
        "confusion_matrix": cm.tolist(),
        "n_test": len(labels),
    }


def predict_test_set(model, data_dir=None, batch_size=1000):
    """The model's probabilities for the 10,000 MNIST test images.

    Args:
        model: a `keras.Model` or a `runtimes.Runtime` (or anything
            `runtimes.load` takes).
        data_dir: MNIST folder (see `digitrec.data.load_split`).
        batch_size: images per forward pass (memory only, not the result).

    Returns:
        `(images, labels, probabilities)`: uint8 `(10000, 28, 28)`, uint8
        `(10000,)` and float32 `(10000, 10)`.

    Raises:
        DatasetError: the test files are missing or corrupt.
    """
    runtime = runtimes.load(model)
    images, labels = data.load_split("test", data_dir)
    x = data.to_float(images)
    probabilities = np.concatenate([runtime.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    return images, labels, probabilities


def evaluate(model=None, data_dir=None, batch_size=1000):
    """Score a model on the full MNIST test set.

    Args:
        model: a `keras.Model`, a `runtimes.Runtime`, a `.keras`, `.onnx`
            or `.tflite` file (run by its runtime, see `digitrec.runtimes`),
            a run folder, or None or "bundled" for the bundled model.
        data_dir: MNIST folder (see `digitrec.data.load_split`).
        batch_size: images per forward pass (memory only, not the result).

    Returns:
        The `scores` dict plus `params` (the model's parameter count; None
        for an exported file without digitrec metadata).

    Raises:
        ModelError: `model` is a path that cannot be loaded.
        DatasetError: the test files are missing or corrupt.
    """
    runtime = runtimes.load(model)  # a bad path fails before Keras is imported (seconds)
    _, labels, probabilities = predict_test_set(runtime, data_dir, batch_size)
    return {**scores(probabilities, labels), "params": runtime.parameters}
