"""Normalize images in worker processes, classify them in batches: the local engine of `digitrec predict`.

    for result in predict_files(paths, model="bundled", workers=2):
        print(result)  # {"path", "label", "confidence", "probabilities"} or {"path", "error"}, in input order

Decoding and `preprocessing.normalize` take most of the time per image and
hold the GIL, so they run in worker processes (`concurrent.futures`, started
with the `spawn` method: safe with TensorFlow's threads in the parent, and
the same on Linux, macOS and Windows); the workers import only NumPy, SciPy,
Pillow and scikit-image, never TensorFlow. The parent classifies each chunk
of normalized images in one model call. At most `2 * workers` chunks are in
flight, so memory stays bounded for a folder of millions of files.
"""

import collections
import concurrent.futures
import functools
import multiprocessing
import os
from concurrent.futures.process import BrokenProcessPool

from digitrec.errors import DigitrecError, item_error

CHUNK = 64  # images per task sent to a worker, and per model call


def default_workers():
    """The number of cores this process may use (`os.sched_getaffinity` where it exists)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def process_pool(workers):
    """A `ProcessPoolExecutor` of `workers` processes started with `spawn` (no state inherited from the parent)."""
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_one_thread)


def _one_thread():
    """Run OpenCV single-threaded in a worker: the processes are the parallelism, and OpenCV's idle pool
    threads spin (about 1.7 ms of CPU per 280x280 canvas here, a third of its normalization, for no gain)."""
    import cv2

    cv2.setNumThreads(1)


def normalize_source(source, name=None):
    """`preprocessing.normalize_hypotheses` of an image file or encoded bytes, decoded by `decoding.load_image`.

    Args:
        source: str or Path of a file, or bytes of an encoded image.
        name: how an error message names the image (default: the path).

    Returns:
        float32 `(k, 28, 28)` in [0, 1], k >= 1, as `normalize_hypotheses` gives them (`Recognizer.choose`
        decides).

    Raises:
        ImageError (or its subclasses `UnsupportedImageError`,
        `ImageTooLargeError`): the image cannot be read or holds no ink.
    """
    from digitrec import decoding, preprocessing

    return preprocessing.normalize_hypotheses(decoding.load_image(source, name=name))


def read_source(source, name, model, min_digit_score, pairs=None):
    """`Recognizer(model, min_digit_score, pairs).read` of encoded image bytes (or a file), for a worker process.

    The models (`.onnx` or `.tflite` files: no TensorFlow in the workers;
    `pairs` None reads no pairs) are loaded once per process. Returns the
    `Reading`; raises as `read` does.
    """
    from digitrec import decoding

    recognizer = _recognizer(str(model), min_digit_score, pairs and str(pairs))
    return recognizer.read(decoding.load_image(source, name=name))


@functools.cache
def _recognizer(model, min_digit_score, pairs):
    from digitrec.inference import Recognizer

    return Recognizer(model, min_digit_score, pairs)


def normalize_or_error(source):
    """`(normalize_source(source), None)`, or `(None, message)` when it raises (`errors.item_error`)."""
    try:
        return normalize_source(source), None
    except Exception as e:  # noqa: BLE001 (one bad file never stops a batch)
        return None, item_error(e, source if isinstance(source, str) else "<bytes>")


def normalize_many(sources):
    """`normalize_or_error` of each file in `sources` (list): one task of a worker process."""
    return [normalize_or_error(source) for source in sources]


def normalized_chunks(paths, workers, chunk=CHUNK):
    """Yield, in input order, lists of `(image or None, error or None)` for `chunk` paths at a time.

    Args:
        paths: sequence of str or Path.
        workers: worker processes; 1 normalizes in this process. No more
            processes start than there are tasks (one chunk is normalized
            here: starting a process costs more than a chunk).
        chunk: paths per task.
    """
    tasks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    workers = min(workers, len(tasks))
    if workers <= 1:
        yield from map(normalize_many, tasks)
        return
    with process_pool(workers) as pool:
        pending = collections.deque()
        for task in tasks:
            pending.append((task[0], pool.submit(normalize_many, task)))
            if len(pending) >= 2 * workers:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())


def _result(first, future):
    try:
        return future.result()
    except BrokenProcessPool:
        raise DigitrecError(f"a worker process died while normalizing the images from {first} on (out of memory? "
                            "try fewer --workers)") from None


def predict_files(files, recognizer, workers=None, chunk=CHUNK):
    """Recognize the digit in each file, normalizing in `workers` processes; yields results in input order.

    Args:
        files: sequence of `(path, error)` as `digitrec.files.find_images`
            yields them (error None for a readable file), or of paths.
        recognizer: a `Recognizer`, or a callable returning one, called when
            the first image needs the model (loading it takes seconds).
        workers: processes that decode and normalize (default:
            `default_workers()`); 1 does it in this process.
        chunk: images per worker task and per model call.

    Yields:
        `(path, outcome)` per file, in the order of `files`: outcome is a
        `Prediction`, or a str (the error) for a file that cannot be read
        or holds no ink. One bad file never stops the rest.
    """
    files = [f if isinstance(f, tuple) else (f, None) for f in files]
    chunks = normalized_chunks([str(path) for path, error in files if not error], workers or default_workers(), chunk)
    buffer = collections.deque()
    for path, error in files:
        if not error and not buffer:
            normalized = next(chunks)
            images = [image for image, _ in normalized if image is not None]
            if images and not hasattr(recognizer, "classify"):
                recognizer = recognizer()
            probabilities = iter(recognizer.choose(images)[1] if images else ())  # a chunk of blank files: no model
            buffer.extend(message or recognizer.to_prediction(next(probabilities)) for _, message in normalized)
        yield path, error or buffer.popleft()


def record(path, outcome, top_k=3, min_confidence=0.0):
    """The JSON-ready dict that every engine writes for one file.

    Args:
        path: the file (str or Path).
        outcome: a `Prediction`, or the error message (str).
        top_k: how many ranked guesses to list.
        min_confidence: below this probability `label` is None and `uncertain` is True.

    Returns:
        `{"path", "label", "confidence", "digit_score", "probabilities",
        "top_k": [{"label", "probability"}, ...]}` (plus `"rejected": "not a
        digit"` for a non-digit, whose label is None, or `"uncertain": True`
        below `min_confidence`), or `{"path", "error"}`.
    """
    if isinstance(outcome, str):
        return {"path": str(path), "error": outcome}
    result = {"path": str(path), "label": outcome.label, "confidence": outcome.confidence,
              "digit_score": outcome.digit_score, "probabilities": list(outcome.probabilities),
              "top_k": [{"label": k, "probability": v} for k, v in outcome.top_k(top_k)]}
    if outcome.rejected:
        result["rejected"] = outcome.rejected
    elif outcome.confidence < min_confidence:
        result.update(label=None, uncertain=True)
    return result
