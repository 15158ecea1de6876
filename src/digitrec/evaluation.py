"""Honest scores on the 10,000 MNIST test images, which training never sees."""

import numpy as np

from digitrec import data

NUM_CLASSES = 10


def scores(probabilities, labels):
    """Classification metrics from predicted probabilities.

    Args:
        probabilities: float `(N, 10)`, rows summing to 1.
        labels: int `(N,)` in [0, 9], the true classes.

    Returns:
        dict with `accuracy`, `loss` (mean categorical cross-entropy, nats),
        `recall_macro`, `precision_macro`, `f1_macro` (unweighted means over
        the 10 classes), `per_class_recall` (10 floats), `confusion_matrix`
        (10x10 ints, rows = true class, columns = predicted class) and
        `n_test`. A class never predicted has precision 0.
    """
    probabilities = np.asarray(probabilities, dtype="float64")
    labels = np.asarray(labels).astype("int64")
    predicted = probabilities.argmax(axis=1)
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype="int64")
    np.add.at(cm, (labels, predicted), 1)
    tp = np.diag(cm).astype("float64")
    recall = tp / np.maximum(cm.sum(axis=1), 1)
    precision = tp / np.maximum(cm.sum(axis=0), 1)
    f1 = np.where(recall + precision > 0, 2 * recall * precision / np.maximum(recall + precision, 1e-12), 0.0)
    p_true = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {
        "accuracy": float(tp.sum() / len(labels)),
        "loss": float(-np.log(p_true).mean()),
        "recall_macro": float(recall.mean()),
        "precision_macro": float(precision.mean()),
        "f1_macro": float(f1.mean()),
        "per_class_recall": [float(r) for r in recall],
        "confusion_matrix": cm.tolist(),
        "n_test": int(len(labels)),
    }


def evaluate(model, data_dir=None, batch_size=1000):
    """Score a model on the full MNIST test set.

    Args:
        model: a `keras.Model`, a `runtimes.Runtime`, or the path of a
            `.keras`, `.onnx` or `.tflite` file (run by its runtime, see
            `digitrec.runtimes`).
        data_dir: MNIST folder (see `digitrec.data.load_split`).
        batch_size: images per forward pass (memory only, not the result).

    Returns:
        The `scores` dict plus `params` (the model's parameter count; None
        for an exported file without digitrec metadata).

    Raises:
        ModelError: `model` is a path that cannot be loaded.
        DatasetError: the test files are missing or corrupt.
    """
    from digitrec import runtimes

    runtime = runtimes.load(model)
    images, labels = data.load_split("test", data_dir)
    x = data.to_float(images)
    probabilities = np.concatenate([runtime.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    return {**scores(probabilities, labels), "params": runtime.parameters}
