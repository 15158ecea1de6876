"""Input normalization: turn any picture of one digit into an MNIST-like 28x28 image.

MNIST was built from NIST scans by fitting each digit into a 20x20 box
(keeping its aspect ratio, with anti-aliasing) and placing it in a 28x28
field so that its centre of mass sits at the centre (LeCun, Bottou, Bengio
and Haffner 1998, "Gradient-based learning applied to document
recognition", and the MNIST page). A model trained on MNIST reads other
handwriting well only when that handwriting is prepared the same way, so
`normalize` repeats those steps, after first separating ink from paper:

1. grayscale, compositing any alpha channel onto a background that
   contrasts with the ink;
2. background: a flat one (the median of the outer ring) for tight crops,
   scans and canvases; for photos, a median filter half as wide as the image's shorter side (on a 32 px copy),
   which ignores pen strokes and keeps shadow edges sharp;
3. polarity: ink is whichever side (darker or lighter than the background)
   departs from it most, so dark-on-light and light-on-dark both work; dark
   ink is divided by the paper's brightness (a flat field), so ink in a
   shadow keeps its contrast;
4. threshold at max(Otsu 1979, 4 robust noise sigmas), then drop specks:
   connected components with under 8 % of the strongest one's ink;
5. crop to the ink; dilate or erode strokes whose width at the 20 px
   scale is outside MNIST's usual range (2.1-3.9 px) towards its median,
   so thin pens on big photos and thick markers both look like MNIST; scale the longest side
   to 20 px with anti-aliasing, place in 28x28 and shift the intensity
   centre of mass to (14, 14), where it lies on average in MNIST.

Large photos are searched at a working resolution first, then the found
region is cut from the full-resolution image and processed again.
"""

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from digitrec.decoding import to_grayscale
from digitrec.errors import ImageError

SIZE = 28  # output side, pixels
BOX = 20  # longest side of the digit in the output, pixels (LeCun et al. 1998)
MNIST_CENTER = (14.0, 14.0)  # mean intensity centre of mass of MNIST digits, (row, col)
# Stroke width of MNIST training digits at the 20 px scale, as `_stroke_width` measures it,
# pixels: median and 5th-95th percentiles (every 30th training image).
MNIST_STROKE, MNIST_STROKE_RANGE = 2.7, (2.1, 3.9)
WORK_SIDE = 512  # longest side at which ink is searched, pixels


def _shrink(arr, side):
    """`arr` resized (anti-aliased) so that its longest side is at most `side` pixels."""
    scale = side / max(arr.shape)
    if scale >= 1:
        return arr
    return _resize(arr, (max(1, round(arr.shape[0] * scale)), max(1, round(arr.shape[1] * scale))))


def _resize(arr, shape):
    """Resize float32 `arr` to `shape` (rows, cols) with anti-aliasing (Lanczos)."""
    out = Image.fromarray(arr.astype("float32"), mode="F").resize((shape[1], shape[0]), Image.LANCZOS)
    return np.asarray(out, dtype="float32")


def _otsu(values):
    """Otsu's threshold of float values in [0, 1] (Otsu 1979)."""
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    p = hist.astype("float64") / max(hist.sum(), 1)
    omega, mu = np.cumsum(p), np.cumsum(p * edges[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return float(edges[np.nanargmax(np.nan_to_num(between, nan=-1))])


def _median3(a):
    """3x3 median of values in [-1, 1] (ignores salt-and-pepper noise); arrays under 9 px a side pass as they are."""
    if min(a.shape) < 9:
        return a
    as_bytes = Image.fromarray(np.round((np.clip(a, -1, 1) + 1) * 127.5).astype("uint8"))
    return np.asarray(as_bytes.filter(ImageFilter.MedianFilter(3)), dtype="float32") / 127.5 - 1  # Pillow: fast


def _background(gray):
    """Estimate the paper (or board) under the ink, float32 `(H, W)`.

    A tight crop, scan or canvas has a flat background: when the outer ring
    of pixels is even (interquartile range under 0.1) and under a fifth of
    the image is a half-tone that is neither paper nor ink (shade), it is
    the ring's median everywhere, which never eats into thick strokes. Otherwise (a
    photo: lighting gradients, shadows) it is a median filter a quarter of
    the image wide on a 32 px copy: a median ignores strokes that cover less
    than half of its window and, unlike a mean, keeps a shadow's edge sharp.
    """
    h, w = gray.shape
    k = max(1, min(h, w) // 20)
    ring = np.concatenate([gray[:k].ravel(), gray[-k:].ravel(), gray[:, :k].ravel(), gray[:, -k:].ravel()])
    q1, q2, q3 = np.percentile(ring, [25, 50, 75])
    deviation = np.abs(gray - q2)
    moderate = np.mean((deviation > 0.1) & (deviation < 0.5 * np.percentile(deviation, 99)))
    if q3 - q1 < 0.1 and moderate < 0.2:  # even ring, and only ink (no shade) inside
        return np.full_like(gray, q2)
    small = _shrink(gray, 32)
    background = ndimage.median_filter(small, size=max(3, round(min(small.shape) / 2) | 1), mode="nearest")
    return _resize(background, gray.shape) if background.shape != gray.shape else background


def extract_ink(gray):
    """Separate ink from background: the stage that `normalize` and number segmentation share.

    Args:
        gray: float32 `(H, W)` in [0, 1], either polarity.

    Returns:
        `(ink, mask)`: float32 `(H, W)` in [0, 1] (light ink on zero) and the
        bool mask of the kept ink components.

    Raises:
        ImageError: no ink (a blank or uniform image).
    """
    d = gray - _background(gray)
    smooth = _median3(d)
    dark, light = -float(smooth.min()), float(smooth.max())
    if max(dark, light) < 0.08:
        raise ImageError("no ink found: the image is blank or has too little contrast")
    if dark > light:  # dark ink on paper: divide by the paper's brightness (a flat field)
        fg = np.clip(-d / np.maximum(gray - d, 0.05), 0.0, 1.0)
    else:
        fg = np.clip(d, 0.0, 1.0)

    # Threshold: Otsu, but never inside the noise (median + 4 robust sigmas).
    med = float(np.median(fg))
    sigma = 1.4826 * float(np.median(np.abs(fg - med)))
    threshold = max(_otsu(fg), med + 4 * sigma, 0.04)
    mask = fg > threshold
    if not mask.any():
        raise ImageError("no ink found: nothing stands out from the background")

    # Specks: drop components with much less ink (sum of contrast) than the strongest one.
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    index = np.arange(1, n + 1)
    mass = ndimage.sum_labels(fg, labels, index=index)
    area = ndimage.sum_labels(mask, labels, index=index)
    keep = index[(mass >= 0.08 * mass.max()) & (area >= 2)]
    mask = np.isin(labels, keep if len(keep) else index[mass.argmax()])

    level = float(np.percentile(fg[mask], 90))
    low = 0.5 * threshold
    ink = np.clip((fg - low) / max(level - low, 1e-6), 0.0, 1.0)
    ink *= ndimage.binary_dilation(mask, iterations=2)
    return ink, mask


def _bbox(mask):
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _stroke_width(mask):
    """Mean stroke width of a binary mask, pixels: about 4 x mean distance-to-edge - 2."""
    dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    return max(4.0 * float(dist[mask].mean()) - 2.0, 1.0)


def _locate(gray):
    """Cut a large image down to the region around its ink, at most WORK_SIDE px a side.

    The ink is first found on a copy shrunk to WORK_SIDE; that region (plus a
    margin) is then cut from the full-resolution image, so a small digit in a
    big photo keeps its detail.
    """
    h, w = gray.shape
    if max(h, w) <= WORK_SIDE:
        return gray
    s = WORK_SIDE / max(h, w)
    _, mask = extract_ink(_shrink(gray, WORK_SIDE))
    r0, r1, c0, c1 = _bbox(mask)
    margin = 0.25 * max(r1 - r0, c1 - c0) + 2
    r0, r1 = int(max(0, (r0 - margin) / s)), int(min(h, (r1 + margin) / s + 1))
    c0, c1 = int(max(0, (c0 - margin) / s)), int(min(w, (c1 + margin) / s + 1))
    return _shrink(gray[r0:r1, c0:c1], WORK_SIDE)


def normalize(image):
    """Turn a picture of one handwritten digit into the model's 28x28 input.

    Args:
        image: a file path, encoded bytes, a `PIL.Image.Image`, or a NumPy
            array `(H, W)`, `(H, W, 3)` or `(H, W, 4)`, uint8 in [0, 255] or
            float in [0, 1], any size; dark ink on light paper or light ink
            on dark, a scan, a photo or a canvas drawing.

    Returns:
        float32 `(28, 28)` in [0, 1]: light ink on black, the longest side
        of the digit 20 px, centre of mass at (14, 14), as in MNIST.

    Raises:
        ImageError: unreadable or too-large file, unsupported shape, or no
            ink found (blank image).
    """
    gray = _locate(to_grayscale(image))
    ink, mask = extract_ink(gray)
    r0, r1, c0, c1 = _bbox(mask)
    ink, mask = ink[r0:r1, c0:c1], mask[r0:r1, c0:c1]
    h, w = ink.shape
    scale = BOX / max(h, w)

    # Stroke width: thin pens on large pictures would vanish when shrunk, and markers
    # would fill the loops; dilate or erode towards MNIST's width at the 20 px scale.
    width = _stroke_width(mask)
    excess = width - MNIST_STROKE / scale
    radius = int(round(abs(excess) / 2))
    if radius >= 1 and not MNIST_STROKE_RANGE[0] <= width * scale <= MNIST_STROKE_RANGE[1]:
        yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        disk = yy**2 + xx**2 <= radius**2
        if excess < 0:
            ink = ndimage.grey_dilation(np.pad(ink, radius), footprint=disk)
            h, w = ink.shape
            scale = BOX / max(h, w)
        else:
            ink = ndimage.grey_erosion(ink, footprint=disk)

    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    digit = np.clip(_resize(ink, (new_h, new_w)), 0.0, 1.0)
    peak = float(digit.max())
    if peak <= 0:
        raise ImageError("no ink found after resizing")
    digit /= peak

    out = np.zeros((SIZE, SIZE), "float32")
    top, left = (SIZE - new_h) // 2, (SIZE - new_w) // 2
    out[top : top + new_h, left : left + new_w] = digit
    cy, cx = ndimage.center_of_mass(out)
    shift = (round(MNIST_CENTER[0] - cy), round(MNIST_CENTER[1] - cx))
    return ndimage.shift(out, shift, order=0, mode="constant", cval=0.0)
