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
    """The data is not an image, or not in one of the supported formats (PNG, JPEG, BMP, GIF, TIFF, WebP)."""


class ImageTooLargeError(ImageError):
    """An image has more pixels than `digitrec.decoding.MAX_PIXELS`."""
