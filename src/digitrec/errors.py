"""Named exceptions. Every error a user can cause is a `DigitrecError`.

The CLI prints `str(error)` as one line on stderr and exits non-zero, so each
message says *what* went wrong and *where* (file, argument or input).
"""


class DigitrecError(Exception):
    """Base class of every error digitrec raises on purpose."""


class DatasetError(DigitrecError):
    """An MNIST file is missing, truncated, corrupt or cannot be downloaded."""


class ModelError(DigitrecError):
    """A model file is missing, broken, unsafe or incompatible, or a model name is unknown."""


class ImageError(DigitrecError):
    """An input image cannot be decoded, is too large, has a bad shape, or holds no ink."""


class UnsupportedImageError(ImageError):
    """The data is not an image, or not in one of the supported formats (PNG, JPEG, BMP, GIF, TIFF, WebP, HEIF)."""


class ImageTooLargeError(ImageError):
    """An image has more pixels than `digitrec.decoding.MAX_PIXELS`."""


def item_error(error, name):
    """The one-line message that stands for one item of a batch (a file, a row) that failed.

    A `DigitrecError` is the input's fault and says so itself; any other
    exception is a bug in digitrec, reported with its type so that the
    image can be sent with the report, and never stops the rest of the batch.

    Args:
        error: the exception raised while processing the item.
        name: str, how the message names the item (its path).
    """
    if isinstance(error, DigitrecError):
        return str(error)
    return f"{name}: internal error ({type(error).__name__}: {error}); please report it with this image"


# Optional dependencies (top-level module name) and the pyproject extra that installs each.
EXTRAS = {
    "keras": "keras", "tensorflow": "keras", "matplotlib": "keras",
    "onnxruntime": "onnx", "ai_edge_litert": "litert", "tf2onnx": "export", "onnx": "export",
    "fastapi": "serve", "fastapi_offline": "serve", "uvicorn": "serve", "multipart": "serve",
    "python_multipart": "serve", "starlette": "serve", "anyio": "serve", "h11": "serve", "pydantic": "serve",
    "ray": "scale", "pyarrow": "scale",
}


def missing_extra(error, needed_for, extra=None):
    """The `DigitrecError` for an optional dependency that is not installed, or None.

    Args:
        error: a `ModuleNotFoundError`.
        needed_for: what needed the module, e.g. "a .onnx model" or "digitrec train".
        extra: the extra to name instead of the module's own (one that
            brings everything `needed_for` needs, e.g. "export").

    Returns:
        `DigitrecError` whose message names the module and the
        `pip install 'digitrec[EXTRA]'` that brings it, or None when the
        module is not one of `EXTRAS` (a bug, not a missing extra).
    """
    module = (getattr(error, "name", None) or "").split(".")[0]
    if module not in EXTRAS:
        return None
    extra = extra or EXTRAS[module]
    return DigitrecError(f"{needed_for} needs {module}, which is not installed: pip install 'digitrec[{extra}]'")
