"""Image decoding: untrusted files and bytes become Pillow images or grayscale arrays, safely.

This is the first stage of the input pipeline (then `preprocessing.normalize`).
Its one policy, shared by the CLI, the Python API and the web server:

- only the documented formats are opened (`FORMATS`: PNG, JPEG, BMP, GIF,
  TIFF, WebP, and HEIF, the HEIC photos that iPhones take, through
  pillow-heif's libheif reader, which applies the photo's turn itself);
  Pillow's other readers (DDS, SPIDER, ...) never see the data;
- an image whose decoder would produce more than `MAX_PIXELS` pixels is
  refused before it is decoded (JPEG counts at the scale it is decoded at, see
  below);
- large images are decoded at a reduced size: JPEG at 1/2, 1/4 or 1/8 scale
  inside the decoder (Pillow `draft`), other formats box-filtered right after
  decoding, so the longest side is at most `MAX_SIDE` pixels before any
  conversion to float (a 4000x4000 1-bit PNG then costs tens of MB, not
  hundreds);
- any exception while decoding one image, whatever its type (crafted files
  make Pillow's readers raise `NotImplementedError`, `AttributeError`,
  `struct.error`, ...), becomes an `ImageError` that names the image; Pillow's
  warnings about damaged files are silenced (the image decodes, or fails).
"""

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from digitrec.errors import ImageError, ImageTooLargeError, UnsupportedImageError

register_heif_opener()  # Pillow opens HEIF (.heic, .heif) once it is named in `FORMATS`
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "HEIF")  # Pillow format IDs that `load_image` opens
MAX_PIXELS = 16_000_000  # width x height the decoder may produce (a 12-megapixel phone photo fits)
MAX_SIDE = 2048  # longest side of a decoded image after the reduction, pixels
UNIT_LEVELS = np.arange(256, dtype=np.float32) * np.float32(1 / 255)  # an 8-bit array's levels in [0, 1], float32


def load_image(source, name=None):
    """Decode an image file or encoded bytes into a Pillow image, at most `MAX_SIDE` pixels a side.

    Args:
        source: str or Path of a file, or bytes of an encoded image in one of
            `FORMATS`.
        name: how error messages name the image (default: the path, or
            `<bytes>`).

    Returns:
        `PIL.Image.Image`, fully decoded, EXIF orientation applied. An image
        larger than `MAX_SIDE` pixels a side is reduced by an integer factor
        (box filter; JPEG partly inside the decoder), so that its longest side
        is at most `MAX_SIDE`; its mode may then change from `1` or `P` to
        `L`, `RGB` or `RGBA`. `info["source_size"]` keeps the `(width,
        height)` before the reduction.

    Raises:
        UnsupportedImageError: not an image, or not one of `FORMATS`.
        ImageTooLargeError: more than `MAX_PIXELS` pixels to decode.
        ImageError: missing file, a folder, corrupt or truncated data, or
            any other failure of the decoder. Every message names the image.
    """
    if name is None:
        name = str(source) if isinstance(source, (str, Path)) else "<bytes>"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's complaints ("Corrupt EXIF data", bomb warnings): the
            # image decodes or raises; MAX_PIXELS is the limit here
            fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
            with Image.open(fp, formats=FORMATS) as im:
                full = im.size  # before the decoder's draft
                factor = -(-max(im.size) // MAX_SIDE)  # ceil: the reduction that brings it to MAX_SIDE
                if factor > 1 and im.format == "JPEG":
                    im.draft(im.mode, (im.width // factor, im.height // factor))  # DCT scaling: 1/2, 1/4, 1/8
                if im.width * im.height > MAX_PIXELS:
                    raise ImageTooLargeError(f"{name}: image too large: {im.width}x{im.height} is "
                                             f"{im.width * im.height / 1e6:.1f} megapixels; "
                                             f"the limit is {MAX_PIXELS:,} pixels")
                im.load()
                if im.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8):  # turned a quarter
                    full = full[::-1]
                ImageOps.exif_transpose(im, in_place=True)  # first: the reduced copy would not keep TIFF tags
                im.info["source_size"] = full
                return _reduce(im)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not an image") from None
    except UnidentifiedImageError:
        raise UnsupportedImageError(f"{name}: not an image, or not one of the supported formats "
                                    f"({', '.join(FORMATS)})") from None
    except Image.DecompressionBombError as e:  # Pillow's own check, far above MAX_PIXELS
        raise ImageTooLargeError(f"{name}: image too large ({e}); the limit is {MAX_PIXELS:,} pixels") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{name}: corrupt or truncated image ({e})") from None
    except Exception as e:  # noqa: BLE001 - a crafted file can make a reader fail in any way: still this image's fault
        raise ImageError(f"{name}: cannot decode the image ({type(e).__name__}: {e})") from None


def _reduce(im):
    """`im` box-filtered by an integer factor to at most `MAX_SIDE` pixels a side (`im` itself if it fits)."""
    factor = -(-max(im.size) // MAX_SIDE)
    if factor <= 1:
        return im
    if im.mode in ("1", "P", "PA"):  # bits and palette indices cannot be averaged
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "L" if im.mode == "1" else "RGB")
    return im.resize((-(-im.width // factor), -(-im.height // factor)), Image.Resampling.BOX)


def to_grayscale(image):
    """Convert any supported image to a float32 grayscale array.

    Args:
        image: a file path, encoded bytes, a `PIL.Image.Image`, or a NumPy
            array `(H, W)`, `(H, W, 1)`, `(H, W, 3)` or `(H, W, 4)` (RGB(A));
            uint8 in [0, 255], or float in [0, 1] (float values above 1 are
            taken as [0, 255] and divided by 255, for arrays and Pillow mode
            `F` images alike).

    Returns:
        float32 `(H, W)` in [0, 1]. Transparent pixels are composited onto a
        background that contrasts with the visible ink (see `_composite`).

    Raises:
        ImageError: unreadable file (see `load_image`), unsupported shape or
            dtype, or an empty or non-finite array.
    """
    if isinstance(image, (str, Path, bytes, bytearray)):
        image = load_image(image)
    if isinstance(image, np.ndarray) and image.size == 0:
        raise ImageError(f"empty image array of shape {image.shape}")
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and (image.ndim == 2 or (
            image.ndim == 3 and image.shape[2] in (1, 2, 3, 4))):
        image = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
        factor = -(-max(image.shape[:2]) // MAX_SIDE)
        if factor > 1:  # the same reduction as a decoded file's, before any conversion (OpenCV: fast)
            size = (-(-image.shape[1] // factor), -(-image.shape[0] // factor))
            image = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
        if image.ndim == 2 or image.shape[2] == 3:
            gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
            return cv2.LUT(gray, UNIT_LEVELS)  # x * (1 / 255) in float32, in one pass
        image = Image.fromarray(image)  # with alpha: Pillow's modes handle the compositing below
    if isinstance(image, Image.Image) and image.mode == "F":
        image = np.asarray(image, dtype="float32")  # float pixels follow the float-array rule below
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(image, dtype="float32")
            arr = arr / (65535.0 if image.mode.startswith("I;16") or arr.max() > 255 else 255.0)
            return np.clip(arr, 0.0, 1.0)
        if image.mode not in ("L", "LA", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
        gray = np.asarray(image.convert("L"), dtype="float32") / 255.0
        if "A" not in image.mode:
            return gray
        return _composite(gray, np.asarray(image.getchannel("A"), dtype="float32") / 255.0)
    arr = np.asarray(image)
    if arr.dtype == np.uint8:  # only shapes that the fast path above does not take reach here
        arr = arr.astype("float32") / 255.0
    elif arr.dtype == np.bool_:
        arr = arr.astype("float32")
    elif arr.dtype == np.uint16:
        arr = arr.astype("float32") / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype("float32")
        if arr.size and np.isfinite(arr).all() and arr.max() > 1.0:
            arr = arr / 255.0
    else:
        raise ImageError(f"unsupported array dtype {arr.dtype}; use uint8, uint16 or float")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)) or min(arr.shape[:2]) < 1:
        raise ImageError(f"unsupported image shape {arr.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if not np.isfinite(arr).all():
        raise ImageError("image holds NaN or infinite values")
    arr = np.clip(arr, 0.0, 1.0)
    if arr.ndim == 2:
        return arr
    color, alpha = (arr[..., :-1], arr[..., -1]) if arr.shape[2] in (2, 4) else (arr, None)
    gray = color[..., 0] if color.shape[2] == 1 else color @ np.array([0.299, 0.587, 0.114], "float32")
    return gray if alpha is None else _composite(gray, alpha)


def _composite(gray, alpha):
    """Composite `gray` over a background that contrasts with the visible ink.

    Two kinds of transparent pictures exist. A colour-keyed one (a GIF or
    palette PNG whose paper colour is marked transparent) keeps the paper's
    colour under its transparent pixels, and that colour differs from the
    ink: it is the background. A canvas export stores ink colour (often
    black) under transparent pixels too, with anti-aliasing in the alpha
    channel: then the background is the opposite of the visible pixels'
    mean brightness (white under dark ink, black under light ink).

    Args:
        gray: float32 `(H, W)` in [0, 1], the colour channels as gray.
        alpha: float32 `(H, W)` in [0, 1], 1 = opaque.

    Returns:
        float32 `(H, W)` in [0, 1].
    """
    visible = alpha > 0.5
    if visible.all() or not visible.any():
        return gray
    hidden = float(np.median(gray[~visible]))  # the colour stored under the transparent pixels
    if np.percentile(np.abs(gray[visible] - hidden), 90) > 0.5:  # the visible ink stands out from it: a colour key
        background = hidden
    else:
        background = 0.0 if gray[visible].mean() > 0.5 else 1.0
    return gray * alpha + background * (1.0 - alpha)
