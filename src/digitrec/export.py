"""Export a digitrec model for other runtimes: ONNX, LiteRT, and LiteRT full-integer int8.

    digitrec export --model PATH|bundled --format onnx|litert [--quantize int8] --out FILE

Both formats come from Keras 3's own `Model.export` (TensorFlow backend):
"onnx" converts the forward pass with tf2onnx, "litert" with the
TensorFlow Lite converter, limited to LiteRT's built-in operators so that
the plain LiteRT interpreter runs the file (no TensorFlow "select" ops).

`quantize="int8"` is full-integer post-training quantization (Jacob et al.
2018, "Quantization and training of neural networks for efficient
integer-arithmetic-only inference"; TensorFlow's "Post-training integer
quantization" guide): int8 weights (per channel) and activations, int8
input and output, with activation ranges calibrated on a representative
dataset of `REPRESENTATIVE_IMAGES` training images (a stratified sample;
test images are never used). The guide's example calibrates on 100 images;
500 gives every digit 50.

Every file carries a `digitrec` metadata entry (JSON: `architecture`,
`parameters`, `quantization`, `source`, `digitrec_version`) that
`digitrec.runtimes` reads back, and is checked by loading it in its runtime
before it is moved into place (atomically).
"""

import json
import warnings
from pathlib import Path

import numpy as np

from digitrec import __version__, _atomic, data, runs, runtimes
from digitrec.errors import DigitrecError, ModelError, missing_extra

FORMATS = {"onnx": ".onnx", "litert": ".tflite"}  # format -> the file suffix its runtime needs
QUANTIZATIONS = {"onnx": (), "litert": ("int8",)}
REPRESENTATIVE_IMAGES = 500


def check_options(format, quantize, out):
    """Refuse an unknown format, an unsupported quantization or a wrong suffix, before any work.

    Raises:
        DigitrecError: with a one-line message naming the option.
    """
    if format not in FORMATS:
        raise DigitrecError(f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS[format]:
        supported = [f"--format {f} --quantize {q}" for f, qs in QUANTIZATIONS.items() for q in qs]
        raise DigitrecError(f"--quantize {quantize} is not supported with --format {format} "
                            f"(supported: {', '.join(supported)})")
    if Path(out).suffix.lower() != FORMATS[format]:
        raise DigitrecError(f"{out}: a {format} file must end with {FORMATS[format]} "
                            "(the runtime is chosen by the suffix)")


def export(model, out, format="onnx", quantize=None, data_dir=None):
    """Write `model` in another format.

    Args:
        model: a `.keras` file, a run folder or "bundled" (see
            `digitrec.runs.model_path`), or a `keras.Model` mapping
            `(N, 28, 28, 1)` float32 in [0, 1] to `(N, 10)` probabilities
            (or the two-digit classifier, `runtimes.PAIRS`; float32 only).
        out: str or Path of the file to write: `.onnx` for "onnx",
            `.tflite` for "litert".
        format: "onnx" or "litert" (see `FORMATS`).
        quantize: None (float32) or "int8" (LiteRT only; see above).
        data_dir: MNIST folder, for the int8 representative dataset (see
            `digitrec.data.load_split`).

    Returns:
        Path of the written file.

    Raises:
        DigitrecError: a bad option (see `check_options`), or the export
            extra is not installed (`pip install 'digitrec[export]'`).
        ModelError: `model` cannot be loaded or is not a digitrec model.
        DatasetError: int8 needs the MNIST training set and it is missing.
    """
    check_options(format, quantize, out)
    try:
        net, source = _keras_model(model)
        signature = runtimes.check_signature(source or net.name, net.input_shape, net.output_shape, None)
        if quantize and signature != runtimes.DIGITS:
            raise DigitrecError(f"{source or net.name}: --quantize {quantize} is for the digit classifier only")
        net(np.zeros((1, *signature[0]), "float32"))  # Keras exports only a model that has been called
        with _atomic.atomic_path(out, suffix=FORMATS[format]) as tmp:
            metadata = {"architecture": net.name, "parameters": int(net.count_params()), "quantization": quantize,
                        "source": source,
                        "digitrec_version": __version__}
            if format == "onnx":
                _export_onnx(net, tmp, metadata)
            else:
                _export_litert(net, tmp, metadata, quantize, data_dir)
            runtimes.load(tmp, signature)
    except ModuleNotFoundError as e:
        error = missing_extra(e, "digitrec export", extra="export")
        if error is None:
            raise
        raise error from None
    return Path(out)


def _keras_model(model):
    """`(keras.Model, file name or None)` for `export`'s `model`."""
    if model is not None and not isinstance(model, (str, Path)):
        return model, None
    from digitrec.models import load_model  # first: without Keras, the error names the export extra

    path = runs.model_path(model)
    if path.suffix.lower() != ".keras":
        raise ModelError(f"{path}: not a .keras file; digitrec export converts a Keras model "
                         "(a .keras file, a run folder or 'bundled')")
    return load_model(path, signature=None), path.name


def _export_onnx(net, path, metadata):
    import onnx
    import tf2onnx  # noqa: F401  (Keras imports it lazily; import it here to name the extra when it is missing)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Keras's numpy-2 patch of tf2onnx probes np.object
        net.export(str(path), format="onnx", verbose=False)
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {runtimes.METADATA_KEY: json.dumps(metadata)})
    onnx.save(proto, str(path))


def representative_images(data_dir=None, n=REPRESENTATIVE_IMAGES, seed=0):
    """A stratified sample of MNIST training images for int8 calibration.

    Returns:
        float32 `(n, 28, 28, 1)` in [0, 1] (about n/10 of each digit).
    """
    images, labels = data.load_split("train", data_dir)
    _, sample = data.stratified_split(labels, n / len(labels), seed)
    return data.to_float(images[sample])


def _export_litert(net, path, metadata, quantize, data_dir):
    import tensorflow as tf

    options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize == "int8":
        x = representative_images(data_dir)
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "representative_dataset": lambda: ([x[i : i + 1]] for i in range(len(x))),
                   "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
                   "inference_input_type": tf.int8, "inference_output_type": tf.int8}
    net.export(str(path), format="litert", verbose=False, **options)
    _add_litert_metadata(path, metadata)


def _add_litert_metadata(path, metadata):
    """Append the `digitrec` metadata entry to a LiteRT flatbuffer (the schema's object API)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)
    buffer = schema.BufferT()
    buffer.data = list(json.dumps(metadata).encode())
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = runtimes.METADATA_KEY, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    Path(path).write_bytes(builder.Output())
