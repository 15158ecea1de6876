"""Run folders and where a model lives.

`digitrec train` writes a run folder: `model.keras`, `best.keras`,
`history.csv`, `config.json` (every setting) and `metrics.json` (test
scores). Every verb that takes a model accepts a `.keras` file, a run
folder (its `model.keras`) or `"bundled"` (the model shipped with digitrec);
those that only run it also take `.onnx` and `.tflite` files from
`digitrec export` (see `digitrec.runtimes`):

    runs.model_path("bundled")     # .../digitrec/assets/default.keras
    runs.model_path("runs/a")      # runs/a/model.keras
    runs.read_metrics("runs/a")    # dict, see digitrec.evaluation.scores

Every failure here is a `ModelError` naming the path.
"""

import importlib.util
import json
import zipfile
from pathlib import Path

from digitrec.errors import ModelError

BUNDLED = "bundled"
BUNDLED_MODEL = Path(__file__).with_name("assets") / "default.keras"
BUNDLED_ONNX = BUNDLED_MODEL.with_suffix(".onnx")  # the same model, exported: for installs without Keras
BUNDLED_PAIRS = BUNDLED_MODEL.with_name("pairs.keras")  # the two-digit classifier (`digitrec.pairs`)
BUNDLED_PAIRS_ONNX = BUNDLED_PAIRS.with_suffix(".onnx")


def bundled_model():
    """The bundled model file: `BUNDLED_MODEL`, or `BUNDLED_ONNX` where Keras is not installed (Path)."""
    return BUNDLED_MODEL if importlib.util.find_spec("keras") is not None else BUNDLED_ONNX


def bundled_pairs():
    """The bundled two-digit classifier that `Recognizer.read` uses: `BUNDLED_PAIRS_ONNX` wherever ONNX Runtime is
    installed (the same answers, faster, no TensorFlow), else `BUNDLED_PAIRS` where Keras is (Path); None where
    neither is (a LiteRT-only install reads every candidate as one digit)."""
    if importlib.util.find_spec("onnxruntime") is not None:
        return BUNDLED_PAIRS_ONNX
    return BUNDLED_PAIRS if importlib.util.find_spec("keras") is not None else None


def serving_model(model=None):
    """The model to classify with: for the bundled model (None or "bundled"), its ONNX copy (`BUNDLED_ONNX`)
    wherever ONNX Runtime is installed; any other `model` as it is.

    The copy makes the same predictions (100 % agreement on the MNIST test
    set, probabilities within 1e-6: `digitrec bench --runtimes`), starts in
    about a tenth of the time without importing TensorFlow, and classifies
    one image about 7 times as fast (0.2 against 1.4 ms here). `predict`,
    `read` and `serve` use it; what needs the Keras model (training,
    calibration, reports, exports) keeps `model_path`.
    """
    if (model is None or str(model) == BUNDLED) and importlib.util.find_spec("onnxruntime") is not None:
        return BUNDLED_ONNX
    return model


def model_path(model=None):
    """The model file that `model` names; a `.keras` file is checked to be a Keras model archive (without Keras).

    Args:
        model: None or "bundled" for the bundled model (`bundled_model`), a
            run folder (str or Path) for its `model.keras`, or the path of a
            model file (`.keras`; `.onnx` and `.tflite` files are checked
            when `digitrec.runtimes` loads them).

    Returns:
        Path of the model file.

    Raises:
        ModelError: a folder without `model.keras`; a missing or unreadable
            file; a `.keras` file that is not a Keras model archive (a zip
            file with a `config.json`: an empty, text or truncated file is not).
    """
    path = bundled_model() if model is None or str(model) == BUNDLED else Path(model)
    if path.is_dir():
        if not (path / "model.keras").is_file():
            raise ModelError(f"{path}: no model.keras in this folder (is it a run folder from `digitrec train`?)")
        path = path / "model.keras"
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if path.suffix.lower() != ".keras":
        return path
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise zipfile.BadZipFile("no config.json inside")
    except zipfile.BadZipFile as e:
        reason = "an empty file" if path.stat().st_size == 0 else str(e)[:1].lower() + str(e)[1:]
        raise ModelError(f"{path}: not a Keras model archive ({reason})") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read the model file ({e.strerror or e})") from None
    return path


def read_json(path):
    """The JSON object in the file `path` (dict).

    Raises:
        ModelError: the file cannot be read, is not valid JSON, or holds no object.
    """
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: cannot read this run file ({e})") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path}: cannot read this run file (expected a JSON object)")
    return value


def read_config(run_dir):
    """The settings of a run: `config.json` in the folder `run_dir` (dict)."""
    return read_json(Path(run_dir) / "config.json")


def read_metrics(run_dir):
    """The test scores of a run: `metrics.json` in the folder `run_dir` (dict)."""
    return read_json(Path(run_dir) / "metrics.json")
