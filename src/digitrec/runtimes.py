"""Model runtimes: one small interface over Keras, ONNX Runtime and LiteRT.

`load(model)` picks the runtime by the model file's suffix:

| suffix    | runtime                                               | install            |
|-----------|-------------------------------------------------------|--------------------|
| `.keras`  | Keras 3 on TensorFlow (safe mode, `models.load_model`) | `digitrec[keras]`  |
| `.onnx`   | ONNX Runtime, CPU execution provider                   | `digitrec[onnx]`   |
| `.tflite` | LiteRT interpreter (`ai-edge-litert`), XNNPACK on CPU  | `digitrec[litert]` |

Every runtime's `predict(x)` maps float32 `(N, 28, 28, 1)` in [0, 1] to
float32 `(N, 10)` class probabilities (`DIGITS`; the two-digit classifier
of `digitrec.pairs`: `(N, 28, 56, 1)` to `(N, 101)`, `PAIRS`), so input
normalization and all that follows are shared code: only the forward pass
differs. Only the Keras
runtime imports Keras (and so TensorFlow). `digitrec.export` writes the
`.onnx` and `.tflite` files with a `digitrec` metadata entry (JSON:
architecture, parameters, quantization) that the runtimes read back.
"""

import json
import os
from pathlib import Path

import numpy as np

from digitrec import runs
from digitrec.errors import ModelError, missing_extra

INPUT_SHAPE = (28, 28, 1)  # one image: height, width, channels
NUM_CLASSES = 10
DIGITS = (INPUT_SHAPE, NUM_CLASSES)  # a model's signature: one input's shape, its number of classes
PAIRS = ((28, 56, 1), 101)  # the two-digit classifier (`digitrec.pairs`): "00" to "99" and "one digit"
METADATA_KEY = "digitrec"  # ONNX metadata_props key and LiteRT metadata name


def check_signature(path, input_shape, output_shape, signature=DIGITS):
    """Refuse a model that is not a digitrec model.

    Args:
        path: the model file, for the message.
        input_shape, output_shape: sequences, the batch dimension first
            (None, -1 or a name where it is dynamic).
        signature: `DIGITS` or `PAIRS`, what the model must map; None
            for either.

    Returns:
        the signature matched.

    Raises:
        ModelError: the input is not `(N, 28, 28, 1)` or the output not
            `(N, 10)` (for `DIGITS`; `PAIRS`: `(N, 28, 56, 1)`, `(N, 101)`).
    """
    for shape, classes in [signature] if signature else [DIGITS, PAIRS]:
        if tuple(input_shape)[1:] == shape and tuple(output_shape)[1:] == (classes,):
            return shape, classes
    shape, classes = signature or DIGITS
    raise ModelError(f"{path}: not a digitrec model: input {_shape(input_shape)}, output {_shape(output_shape)}; "
                     f"expected {_shape((None, *shape))} images -> (N, {classes}) probabilities")


def _shape(shape):
    return "(" + ", ".join("N" if d is None or isinstance(d, str) or d == -1 else str(d) for d in shape) + ")"


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Runtime:
    """A loaded model and the runtime that executes it.

    Attributes:
        kind: "keras", "onnx" or "litert".
        path: Path of the model file, or None for an in-memory `keras.Model`.
        architecture: the model's registry name ("robust", "fast", ...), or
            None when the file does not say.
        parameters: int, the Keras model's parameter count, or None.
        quantization: None (float32) or "int8".
    """

    kind = ""

    def __init__(self, path, metadata, signature=DIGITS):
        self.path, self.signature = path, signature
        self.architecture = metadata.get("architecture")
        self.parameters = metadata.get("parameters")
        self.quantization = metadata.get("quantization")

    def predict(self, x):
        """float32 `(N, 10)` probabilities for float32 `(N, 28, 28, 1)` images in [0, 1] (or as `signature`)."""
        raise NotImplementedError


class KerasRuntime(Runtime):
    """A `keras.Model`, run by `predict_on_batch`.

    Its compiled predict function is about 4x faster than an eager call for
    one digit, and is shared state: not thread-safe.
    """

    kind = "keras"

    def __init__(self, model, path=None, signature=DIGITS):
        super().__init__(path, {"architecture": model.name, "parameters": int(model.count_params())}, signature)
        self.model = model

    def predict(self, x):
        return np.asarray(self.model.predict_on_batch(x))


class OnnxRuntime(Runtime):
    """An ONNX file run by ONNX Runtime on the CPU (thread-safe)."""

    kind = "onnx"

    def __init__(self, path, signature=DIGITS):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: a bad file raises, with the message
        # its intra-op threads would busy-wait after each call, on the cores that normalization needs
        # (ONNX Runtime's thread management docs): a request under load took 4 ms more CPU in the server
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 (ONNX Runtime's errors, InvalidProtobuf and more, are plain Exceptions)
            raise ModelError(f"{path}: cannot load ONNX model ({_first_line(e)})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or inputs[0].type != "tensor(float)":
            raise ModelError(f"{path}: not a digitrec model: {len(inputs)} inputs, {len(outputs)} outputs; "
                             "expected one float32 image batch in and one probability batch out")
        check_signature(path, inputs[0].shape, outputs[0].shape, signature)
        self.input_name = inputs[0].name
        custom = self.session.get_modelmeta().custom_metadata_map
        super().__init__(path, _parse_metadata(custom.get(METADATA_KEY)), signature)

    def predict(self, x):
        return self.session.run(None, {self.input_name: x})[0]


class LiteRTRuntime(Runtime):
    """A LiteRT (TensorFlow Lite) flatbuffer run by the LiteRT interpreter; not thread-safe.

    A full-integer model (int8 input and output) gets its input quantized
    and its output dequantized with the scale and zero point stored in the
    file: `q = round(x / scale) + zero_point`, `p = (q - zero_point) * scale`.
    """

    kind = "litert"

    def __init__(self, path, signature=DIGITS):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{path}: cannot load LiteRT model ({_first_line(e)})") from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path}: not a digitrec model: {len(inputs)} inputs, {len(outputs)} outputs; "
                             "expected one image batch in and one probability batch out")
        self._in, self._out = inputs[0], outputs[0]
        check_signature(path, self._in["shape_signature"], self._out["shape_signature"], signature)
        self._batch = None
        super().__init__(path, _parse_metadata(_litert_metadata(path)), signature)

    def predict(self, x):
        if len(x) != self._batch:
            self.interpreter.resize_tensor_input(self._in["index"], [len(x), *self.signature[0]])
            self.interpreter.allocate_tensors()
            self._batch = len(x)
        dtype, (scale, zero) = self._in["dtype"], self._in["quantization"]
        if np.issubdtype(dtype, np.integer):
            limits = np.iinfo(dtype)
            x = np.clip(np.round(x / scale) + zero, limits.min, limits.max).astype(dtype)
        self.interpreter.set_tensor(self._in["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self._out["index"])
        scale, zero = self._out["quantization"]
        return (y.astype("float32") - zero) * scale if np.issubdtype(y.dtype, np.integer) else y


def _litert_metadata(path):
    """The text of the `digitrec` metadata entry of a LiteRT flatbuffer, or None."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == METADATA_KEY.encode():
            return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode("utf-8", "replace")
    return None


def _parse_metadata(text):
    try:
        metadata = json.loads(text) if text else {}
    except ValueError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def _load_keras(path, signature=DIGITS):
    from digitrec.models import load_model

    return KerasRuntime(load_model(path, signature), path, signature)


LOADERS = {".keras": _load_keras, ".onnx": OnnxRuntime, ".tflite": LiteRTRuntime}


def load(model=None, signature=DIGITS):
    """Load a model with the runtime its file suffix calls for (see the table above).

    Args:
        model: None or "bundled" for the bundled model, a run folder, or
            str or Path of a `.keras`, `.onnx` or `.tflite` file (see
            `digitrec.runs.model_path`); a `keras.Model` mapping
            `(N, 28, 28, 1)` to `(N, 10)`; or a `Runtime` (returned as it is).
        signature: `DIGITS`, or `PAIRS` for a two-digit classifier (whose
            `model` must name a file: None means the digit classifier).

    Returns:
        `Runtime`.

    Raises:
        ModelError: as `runs.model_path` (missing file, broken `.keras`
            archive, ...), or the file has another suffix, cannot be loaded,
            is not a digitrec model (see `check_signature`), or its runtime
            is not installed (the message names the extra to install).
    """
    if isinstance(model, Runtime):
        return model
    if model is not None and not isinstance(model, (str, Path)):
        return KerasRuntime(model, signature=signature)
    path = runs.model_path(model)
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise ModelError(f"{path}: unknown model format {path.suffix or '(no suffix)'!r}; "
                         f"expected one of {', '.join(LOADERS)}")
    try:
        return loader(path, signature)
    except ModuleNotFoundError as e:
        error = missing_extra(e, f"a {path.suffix} model")
        if error is None:
            raise
        raise ModelError(f"{path}: {error}") from None
