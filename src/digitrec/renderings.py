"""Render MNIST digits as the pictures people really give a digit reader.

Each *family* turns one MNIST digit (uint8 `(28, 28)`, light ink on dark)
into an encoded image file (PNG or JPEG bytes) of one kind of real input:
tiny tight scans, form digits, canvas drawings, phone photos, noise,
geometry. `digitrec bench --robustness` renders MNIST **test** digits to
measure the whole predict path per family; training renders MNIST
**training** digits (with other seeds) and passes them through
`normalize`, so that whatever normalization leaves behind is in
distribution for the model.

Pen strokes are redrawn from the digit's skeleton (Zhang and Suen 1984,
through scikit-image) with a round pen of the family's width, so a
thick marker, a canvas brush and a thin pencil all follow the writer's
trajectory. Every setting stays where a person still reads the digit at a
glance; `digitrec bench --robustness` draws one example per family.
"""

import hashlib
import io
import json
import multiprocessing
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage.morphology import skeletonize

from digitrec.masks import resize  # area-averaged shrink, bicubic enlargement

FAMILIES = {  # name: what it imitates
    "clean": "MNIST as is: 28x28 grey, light ink on black",
    "inverted": "28x28 grey, dark ink on white",
    "tight16": "tight crop, aspect kept, 16x16 grey scan (either polarity)",
    "stretched16": "tight crop stretched to fill 16x16, grey (either polarity)",
    "binary16": "stretched 16x16, binarized, thickened strokes (either polarity)",
    "binary32": "32x32 binary form digit, thick strokes, little margin (either polarity)",
    "canvas": "280x280 canvas, thick round pen, dark on white or on transparent, small and off-centre",
    "photo": "phone photo: thin faint pencil, paper texture, lighting gradient, soft shadow band, JPEG 60-85",
    "form": "digit in a printed box or on a ruled line",
    "noise": "salt-and-pepper noise, specks and a stray dot",
    "geometry": "rotated up to 20 degrees and sheared",
    "bigphoto": "small pen digit in a 3000x4000 JPEG photo",
    "marker": "phone photo of a thick felt-tip marker digit in uneven light and a soft shadow, JPEG 60-85",
    "grid": "phone photo of a pen digit on squared paper, a shadow on half of them, JPEG 60-85",
    "ruled": "phone photo of a pen digit sitting on a line of ruled paper, a shadow on half of them, JPEG 60-85",
    "neighbours": "grey scan of a digit cut from a written number: its neighbours' edges at the crop's sides",
    "cell": "grey scan of a digit cut from a form's cell on its printed lines: lines along some of the crop's sides",
}


def render(family, digit, rng):
    """One picture of `digit` as family `family` would show it.

    Args:
        family: a key of `FAMILIES`.
        digit: uint8 `(28, 28)` MNIST digit, light ink on dark.
        rng: `numpy.random.Generator`, the source of all randomness.

    Returns:
        bytes of a PNG or JPEG file.

    Raises:
        KeyError: unknown family.
    """
    return _RENDER[family](np.asarray(digit, np.uint8), rng)


# --------------------------------------------------------------------------- building blocks


def _png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(arr, quality):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=int(quality))
    return buf.getvalue()


def _u8(x):
    return np.clip(np.asarray(x) * 255 + 0.5, 0, 255).astype(np.uint8)


def _ink_box(digit, level=30):
    rows, cols = np.flatnonzero((digit > level).any(1)), np.flatnonzero((digit > level).any(0))
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _polarity(img01, rng):
    """Dark ink on white (as scanned) or light on black, at random; uint8."""
    return _u8(1 - img01) if rng.random() < 0.5 else _u8(img01)


def _trajectory(digit, rng, smoothing=3):
    """The pen's path: the digit's skeleton at twice MNIST's resolution, smoothed.

    Thinning at this resolution (2-3 px strokes) leaves no spurs at the tips;
    a few rounds of Laplacian smoothing along the skeleton graph turn its
    pixel staircase into a pen's curve. Returns float32 `(N, 2, 2)` segment
    end points `(x, y)` and the `(height, width)` of the ink box they lie in.
    """
    box = _ink_box(digit).astype("float32") / 255
    big = cv2.GaussianBlur(cv2.resize(box, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), (0, 0), 0.7)
    skeleton = np.pad(skeletonize(big > rng.uniform(0.3, 0.45)), 1)
    index = np.full(skeleton.shape, -1)
    ys, xs = np.nonzero(skeleton)
    index[ys, xs] = np.arange(len(ys))
    edges = np.concatenate([np.stack([index[ys, xs], index[ys + dy, xs + dx]], 1)
                            for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1))])
    edges = edges[edges[:, 1] >= 0]
    points = np.stack([xs, ys], 1).astype("float64") - 1
    degree = np.bincount(edges.ravel(), minlength=len(points))[:, None] + 1
    for _ in range(smoothing):
        total = points.copy()
        np.add.at(total, edges[:, 0], points[edges[:, 1]])
        np.add.at(total, edges[:, 1], points[edges[:, 0]])
        points = total / degree
    loops = np.arange(len(points))[:, None].repeat(2, 1)  # isolated pixels become dots
    return points[np.concatenate([edges, loops])].astype("float32"), big.shape


def pen(digit, height, width_px, rng):
    """Redraw a digit with a round pen: float32 coverage in [0, 1], about `height` px tall.

    The pen follows the digit's skeleton (`_trajectory`); every pixel within
    `width_px / 2` of the path is ink, with a one-pixel anti-aliased edge.
    The array frames the digit with a margin of the pen's width.
    """
    segments, (h, w) = _trajectory(digit, rng)
    scale = height / h
    pad = width_px / 2 + 2
    size = (int(np.ceil(w * scale + 2 * pad)), int(np.ceil(h * scale + 2 * pad)))
    path = np.full(size[::-1], 255, np.uint8)
    for (x0, y0), (x1, y1) in np.round((segments * scale + pad) * 16).astype(np.int64):
        cv2.line(path, (int(x0), int(y0)), (int(x1), int(y1)), 0, 1, cv2.LINE_8, shift=4)
    dist = cv2.distanceTransform(path, cv2.DIST_L2, 5)
    return np.clip(width_px / 2 + 0.5 - dist, 0, 1).astype("float32")


def _place(cover, shape, rng, where=None):
    """Put `cover` into a zero array of `shape` at a random (or given) top-left corner.

    A cover larger than `shape` (a wide digit on a narrow page) is first shrunk to fit, aspect kept.
    """
    out = np.zeros(shape, "float32")
    h, w = cover.shape
    if h > shape[0] or w > shape[1]:
        scale = min(shape[0] / h, shape[1] / w)
        cover = resize(cover, max(1, int(w * scale)), max(1, int(h * scale)))
        h, w = cover.shape
    top, left = where or (int(rng.integers(0, shape[0] - h + 1)), int(rng.integers(0, shape[1] - w + 1)))
    out[top : top + h, left : left + w] = cover
    return out, (top, left)


def _smooth_noise(shape, cell, rng):
    """Low-frequency noise, about [-1, 1]: a coarse random grid enlarged bicubically."""
    gh, gw = max(2, int(shape[0] / cell) + 2), max(2, int(shape[1] / cell) + 2)
    grid = rng.standard_normal((gh, gw)).astype("float32")
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC) / 1.5


def _lighting(shape, rng, centre, shadow=True):
    """Paper brightness: a linear gradient across the page times a soft shadow band.

    The shadow is a half-plane (cast by a hand or a phone) or a band (a pen,
    a ruler) whose edge passes within a fifth of the shorter side of the
    digit centre, with a penumbra of 3-10 % of the shorter side; it darkens
    the paper (and the ink on it) by 20-45 %. Drawn at most 512 px a side, then
    enlarged (light varies slowly).
    """
    h, w = shape
    f = max(1.0, max(h, w) / 512)
    sh, sw = max(2, round(h / f)), max(2, round(w / f))
    yy, xx = np.mgrid[0:sh, 0:sw].astype("float32") * np.float32(f)
    angle = rng.uniform(0, 2 * np.pi)
    light = 1 + np.float32(rng.uniform(0.2, 0.5) / max(h, w)) * (
        (yy - h / 2) * np.float32(np.sin(angle)) + (xx - w / 2) * np.float32(np.cos(angle)))
    light *= np.float32(rng.uniform(0.85, 1.0)) / light.max()
    if shadow:  # a half-plane (a hand, a phone) or a band (a pen, a ruler) with soft edges
        theta = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(-0.2, 0.2) * min(h, w)
        signed = (xx - centre[1]) * np.float32(np.cos(theta)) + (yy - centre[0]) * np.float32(np.sin(theta)) - offset
        if rng.random() < 0.5:
            signed = rng.uniform(0.05, 0.2) * min(h, w) - np.abs(signed)
        penumbra = rng.uniform(0.03, 0.1) * min(h, w)
        shade = 1 / (1 + np.exp(np.clip(-signed / np.float32(penumbra / 4), -50, 50)))
        light *= (1 - rng.uniform(0.2, 0.45) * shade).astype("float32")
    light *= 1 + 0.03 * _smooth_noise((sh, sw), rng.uniform(20, 60) / f, rng)
    return cv2.resize(light, (w, h), interpolation=cv2.INTER_LINEAR)


def photo(cover, rng, ink_darkness, quality, shadow=True, centre=None):
    """A phone photo of `cover` written on tinted paper: RGB JPEG bytes (OpenCV: fast at 12 MP).

    Args:
        cover: float32 `(H, W)` in [0, 1], the ink's coverage of each pixel
            (all zero: a blank page).
        rng: NumPy `Generator`.
        ink_darkness: float in [0, 1], the share of the light that full
            coverage absorbs.
        quality: int, the JPEG quality (the families use 60-85).
        shadow: whether a shadow (a half-plane or a band, `_lighting`)
            crosses the page near `centre`.
        centre: `(y, x)` pixels, where the light is brightest (default: the
            middle).
    """
    h, w = cover.shape
    light = _lighting((h, w), rng, centre or (h / 2, w / 2), shadow)
    grey = cv2.multiply(light, cv2.addWeighted(cover, -float(ink_darkness), cover, 0.0, 1.0))
    cv2.setRNGSeed(int(rng.integers(2**31)))
    grain = cv2.randn(np.empty((h, w), np.float32), 0.0, float(rng.uniform(0.01, 0.025)))
    grey = cv2.convertScaleAbs(cv2.add(grey, grain), alpha=255)
    paper = rng.uniform(0.8, 0.96) + rng.uniform(-0.02, 0.015, 3)
    return _jpeg(cv2.merge([cv2.convertScaleAbs(grey, alpha=float(p)) for p in paper]), quality)


# --------------------------------------------------------------------------- the families


def _clean(digit, rng):
    return _png(digit)


def _inverted(digit, rng):
    return _png(255 - digit)


def _tight16(digit, rng):
    box = _ink_box(digit).astype("float32") / 255
    scale = 16 / max(box.shape)
    small = resize(box, max(1, round(box.shape[1] * scale)), max(1, round(box.shape[0] * scale)))
    out, _ = _place(small, (16, 16), rng, ((16 - small.shape[0]) // 2, (16 - small.shape[1]) // 2))
    return _png(_polarity(out, rng))


def _stretched(digit):
    return resize(_ink_box(digit).astype("float32") / 255, 16, 16)


def _stretched16(digit, rng):
    return _png(_polarity(_stretched(digit), rng))


def _binary16(digit, rng):
    big = resize(_ink_box(digit).astype("float32") / 255, 64, 64)
    radius = int(rng.integers(1, 4))  # thicken by 1-3 px at 64 px, 0.25-0.75 px at 16
    big = cv2.dilate((big > 0.5).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    return _png(_polarity(resize(big.astype("float32"), 16, 16) > 0.5, rng))


def _binary32(digit, rng):
    height = int(rng.integers(26, 33))
    cover = pen(digit, 4 * height - 8, rng.uniform(8, 16), rng)
    h, w = cover.shape
    scale = min(4 * height / h, 128 / w)
    cover = resize(cover, max(1, round(w * scale)), max(1, round(h * scale)))
    big, _ = _place(cover, (128, 128), rng, ((128 - cover.shape[0]) // 2, int(rng.integers(0, 128 - cover.shape[1] + 1))))
    return _png(_polarity(resize(big, 32, 32) > 0.5, rng))


# The canvas pen's width is at most this share of the digit's height: MNIST's thickest digits (training digits'
# stroke width, ink area over skeleton length, over ink height: 99th percentile 0.31, median 0.15;
# `scripts/stroke_ratio.py`). A thicker pen fills a small digit's loops and joins, and nobody can read the blob it
# leaves (issue 10: a person must read every generated image); 24 px on a 60 px digit was 0.4.
CANVAS_MAX_PEN = 0.3


def _canvas(digit, rng):
    height = rng.uniform(60, 160)
    cover = pen(digit, height, min(rng.uniform(10, 24), CANVAS_MAX_PEN * height), rng)
    scale = min(1.0, 270 / max(cover.shape))
    if scale < 1:
        cover = resize(cover, round(cover.shape[1] * scale), round(cover.shape[0] * scale))
    cover, _ = _place(cover, (280, 280), rng)
    ink = rng.uniform(0, 0.25)  # a dark pen colour
    if rng.random() < 0.5:  # dark ink on a transparent canvas
        rgba = np.dstack([np.full((280, 280, 3), ink, "float32"), cover])
        return _png(_u8(rgba))
    return _png(_u8(1 - (1 - ink) * cover))


def _photo_family(digit, rng):
    h, w = (int(v) for v in rng.integers(300, 801, size=2))
    cover = pen(digit, rng.uniform(0.3, 0.7) * min(h, w), rng.uniform(2, 4), rng)
    page, (top, left) = _place(cover, (h, w), rng)
    centre = (top + min(cover.shape[0], h) / 2, left + min(cover.shape[1], w) / 2)
    cover = page
    return photo(cover, rng, rng.uniform(0.3, 0.6), rng.integers(60, 86), centre=centre)


def _form(digit, rng):
    cover = pen(digit, rng.uniform(40, 90), rng.uniform(3, 7), rng)
    h, w = cover.shape
    side = int(max(h, w) * rng.uniform(1.2, 1.6))
    img, (top, left) = _place(cover, (side + 20, side + 20), rng, (10 + (side - h) // 2, 10 + (side - w) // 2))
    line = np.zeros_like(img, dtype=np.uint8)
    thick = int(rng.integers(1, 4))
    if rng.random() < 0.5:  # a printed box around the digit, which the digit may touch
        m = int(rng.integers(-2, 8))
        cv2.rectangle(line, (left - m, top - m), (left + w + m, top + h + m), 1, thick)
    else:  # a ruled line under (or through the foot of) the digit, across the whole field
        y = top + h - int(rng.integers(-3, 8))
        cv2.line(line, (0, y), (line.shape[1], y), 1, thick)
    grey = 1 - np.maximum(img * rng.uniform(0.7, 1.0), line * rng.uniform(0.4, 0.9))
    grey += np.float32(0.02) * rng.standard_normal(grey.shape, dtype=np.float32)
    return _png(_u8(grey))


def _noise(digit, rng):
    side = int(rng.integers(56, 113))
    img = resize(digit.astype("float32") / 255, side, side)
    amount = rng.uniform(0.01, 0.05)  # salt-and-pepper
    hit = rng.random(img.shape) < amount
    img = np.where(hit, rng.integers(0, 2, img.shape), img).astype("float32")
    for _ in range(int(rng.integers(2, 8))):  # specks of 1-2 px
        y, x = rng.integers(0, side - 2, 2)
        img[y : y + rng.integers(1, 3), x : x + rng.integers(1, 3)] = 1
    yy, xx = np.mgrid[0:side, 0:side]
    corner = rng.integers(0, 4)  # a stray dot in a corner, away from the digit
    cy, cx = [(0.12, 0.12), (0.12, 0.88), (0.88, 0.12), (0.88, 0.88)][corner]
    img[(yy - cy * side) ** 2 + (xx - cx * side) ** 2 <= (side * rng.uniform(0.02, 0.04)) ** 2] = 1
    return _png(_polarity(img, rng))


def _geometry(digit, rng):
    side = 56
    img = resize(digit.astype("float32") / 255, side, side)
    angle, shear = rng.uniform(-20, 20), rng.uniform(-0.3, 0.3)
    m = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
    m = m @ np.array([[1, shear, -shear * side / 2], [0, 1, 0], [0, 0, 1]])
    img = cv2.warpAffine(img, m, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)
    return _png(_polarity(img, rng))


def _bigphoto(digit, rng):
    h, w = (4000, 3000) if rng.random() < 0.5 else (3000, 4000)
    cover = pen(digit, rng.uniform(100, 300), rng.uniform(5, 12), rng)
    top, left = int(rng.integers(0, h - cover.shape[0])), int(rng.integers(0, w - cover.shape[1]))
    full = np.zeros((h, w), "float32")
    full[top : top + cover.shape[0], left : left + cover.shape[1]] = cover
    centre = (top + cover.shape[0] / 2, left + cover.shape[1] / 2)
    return photo(full, rng, rng.uniform(0.6, 0.9), 85, shadow=rng.random() < 0.5, centre=centre)


def _marker(digit, rng):
    h, w = (int(v) for v in rng.integers(200, 601, size=2))
    height = rng.uniform(0.3, 0.7) * min(h, w)
    cover = pen(digit, height, rng.uniform(0.08, 0.18) * height, rng)  # strokes 8-18 % of the digit's height
    page, (top, left) = _place(cover, (h, w), rng)
    centre = (top + min(cover.shape[0], h) / 2, left + min(cover.shape[1], w) / 2)
    return photo(page, rng, rng.uniform(0.6, 0.9), rng.integers(60, 86), centre=centre)


def _grid(digit, rng):
    return _notebook(digit, rng, squared=True)


def _ruled(digit, rng):
    return _notebook(digit, rng, squared=False)


def _notebook(digit, rng, squared):
    """A pen digit on a notebook page: across one or two squares of squared paper, or on ruled paper sitting on a
    line (lines 0.8-1.4 digit heights apart). Lines 1-2 px, 15-35 % as dark as the ink, the page tilted up to 3
    degrees in the photo, a shadow on half of them."""
    h, w = (int(v) for v in rng.integers(200, 501, size=2))
    height = rng.uniform(0.15, 0.4) * min(h, w)
    cover = pen(digit, height, rng.uniform(0.04, 0.1) * height, rng)
    page, (top, left) = _place(cover, (h, w), rng)
    lines = np.zeros((h, w), np.uint8)
    cell, thickness = height / rng.uniform(*((1.0, 2.0) if squared else (0.7, 1.2))), int(rng.integers(1, 3))
    tilt, side = np.tan(np.radians(rng.uniform(-3, 3))), max(h, w)  # the page a little askew in the photo
    if squared:
        start = rng.uniform(0, cell)
    else:  # a line under the digit's foot (y = k + tilt x), give or take a few pixels
        foot = top + np.flatnonzero(cover.max(axis=1) > 0.5)[-1] + rng.uniform(-2, 4)
        start = (foot - tilt * (left + cover.shape[1] / 2) + side) % cell
    for k in np.arange(-side, 2 * side, cell) + start:
        cv2.line(lines, (-side, int(k - tilt * side)), (2 * side, int(k + 2 * tilt * side)), 1, thickness)
        if squared:
            cv2.line(lines, (int(k + tilt * side), -side), (int(k - 2 * tilt * side), 2 * side), 1, thickness)
    page = np.maximum(page, lines * np.float32(rng.uniform(0.15, 0.35)))
    centre = (top + min(cover.shape[0], h) / 2, left + min(cover.shape[1], w) / 2)
    return photo(page, rng, rng.uniform(0.6, 0.9), rng.integers(60, 86), shadow=rng.random() < 0.5, centre=centre)


def _neighbours(digit, rng):
    """A digit cut from a number written in a row (a column, one in four) by a box one digit wide, as a form's
    cells or a grid over a line of digits cut it: the crop holds the inner 15-35 % of each neighbour (the same
    writer's digit, 85-115 % as tall, its baseline 10 % higher or lower), 10-30 % of a digit's height away. Grey,
    1-2.5 times MNIST's size (at least 16 px a side), either polarity."""
    box = _ink_box(digit).astype("float32") / 255
    column = rng.random() < 0.25
    box = box.T if column else box  # a column is laid out as a row of transposed digits, then transposed back
    h = box.shape[0]
    edges = []
    for side in (0, 1):  # the left neighbour's right edge, the right one's left edge
        other = resize(box, *(max(1, round(n * rng.uniform(0.85, 1.15))) for n in box.shape[::-1]))
        keep = max(1, round(other.shape[1] * rng.uniform(0.15, 0.35)))
        edges.append((other[:, -keep:] if side == 0 else other[:, :keep], int(h * rng.uniform(-0.1, 0.1))))
    gaps = [(np.zeros((1, max(1, round(h * rng.uniform(0.1, 0.3)))), "float32"), 0) for _ in (0, 1)]
    parts = [edges[0], gaps[0], (box, 0), gaps[1], edges[1]]
    m0, m1 = (int(m) for m in rng.integers(0, 3, size=2))  # the crop: the digit's rows and a pixel or two
    row = np.zeros((h + m0 + m1, sum(p.shape[1] for p, _ in parts)), "float32")
    x = 0
    for p, shift in parts:
        y0 = m0 + shift
        clipped = p[max(0, -y0) : row.shape[0] - y0]
        row[max(0, y0) : max(0, y0) + clipped.shape[0], x : x + p.shape[1]] = clipped
        x += p.shape[1]
    row = row.T if column else row
    k = max(rng.uniform(1, 2.5), 16 / min(row.shape))  # a narrow 1's crop at least 16 px wide
    img = resize(row, max(1, round(row.shape[1] * k)), max(1, round(row.shape[0] * k)))
    img = np.clip(img + np.float32(0.02) * rng.standard_normal(img.shape, dtype=np.float32), 0, 1)
    return _png(_polarity(img, rng))


CELL_LINES = (0.7, 0.7, 0.5, 0.5)  # the chance of each of a `cell` picture's lines: top, bottom, left, right


def _cell(digit, rng):
    """A digit cut from a form's cell (a row of boxes) on its printed lines, or up to 2 px outside them: the row's
    top and bottom lines across the whole crop, each at a chance of 0.7, the cell's sides at 0.5 (`CELL_LINES`),
    lines 1-3 px at 40-100 % of the ink's darkness; 1-4 px of paper between them and the digit at MNIST's size
    (more beside a narrow digit: the cell is at least 0.7 as wide as tall), 1-3 times that size. Grey, dark on
    white."""
    box = _ink_box(digit).astype("float32") / 255
    (top, bottom), (left, right) = rng.integers(1, 5, (2, 2))
    wider = max(0, round(0.7 * (box.shape[0] + top + bottom)) - box.shape[1] - left - right)  # a cell, not a 1's box
    box = np.pad(box, ((int(top), int(bottom)), (int(left + wider // 2), int(right + wider - wider // 2))))
    k = rng.uniform(1, 3)
    cell = resize(box, max(1, round(box.shape[1] * k)), max(1, round(box.shape[0] * k)))
    out = int(rng.integers(0, 3))  # px of paper beyond the lines
    page = np.pad(cell, out)
    h, w = page.shape
    lines = np.zeros_like(page)
    for side, chance in enumerate(CELL_LINES):
        if rng.random() < chance:
            t = int(rng.integers(1, 4))
            at = (out, h - out - t, out, w - out - t)[side]
            if side < 2:
                lines[at : at + t, :] = 1
            else:
                lines[out : h - out, at : at + t] = 1
    grey = 1 - np.maximum(page, lines * np.float32(rng.uniform(0.4, 1.0)))
    return _png(_u8(grey + np.float32(0.02) * rng.standard_normal(grey.shape, dtype=np.float32)))


_RENDER = {
    "clean": _clean, "inverted": _inverted, "tight16": _tight16, "stretched16": _stretched16,
    "binary16": _binary16, "binary32": _binary32, "canvas": _canvas, "photo": _photo_family, "form": _form,
    "noise": _noise, "geometry": _geometry, "bigphoto": _bigphoto, "marker": _marker, "grid": _grid,
    "ruled": _ruled, "neighbours": _neighbours, "cell": _cell,
}


# --------------------------------------------------------------------------- training through the pipeline

TRAIN_SEED = 1  # training renders use this seed; `digitrec bench --robustness` uses others
# Families drawn for training, relative weights: every family alike, but the 12-megapixel photo
# costs 30 times the others to render, and normalizing it ends like a photo or a canvas.
TRAIN_WEIGHTS = {name: {"bigphoto": 0.25}.get(name, 1.0) for name in FAMILIES}


def cache_dir():
    """Where normalized renderings are cached: `$DIGITREC_CACHE_DIR`, else `~/.cache/digitrec` (a Path)."""
    return Path(os.environ.get("DIGITREC_CACHE_DIR") or Path.home() / ".cache" / "digitrec").expanduser()


def _pipeline_version(digit):
    """A fingerprint of what rendering and normalization make of `digit`: one file per family, normalized.

    Any change to the renderings, decoding or normalization that changes
    their output changes it (and so invalidates cached renderings); edits
    that change nothing do not.
    """
    from digitrec.errors import ImageError
    from digitrec.preprocessing import normalize

    digest = hashlib.sha256(json.dumps(TRAIN_WEIGHTS, sort_keys=True).encode())
    for k, family in enumerate(FAMILIES):
        try:
            digest.update(np.round(normalize(render(family, digit, np.random.default_rng(k))) * 255).tobytes())
        except ImageError as e:
            digest.update(str(e).encode())
    return digest.hexdigest()[:12]


def _normalize_rendered(args):
    """Worker: render digit `i` as a family drawn by `(seed, i)` and normalize it; uint8 (28, 28), family index."""
    from digitrec.errors import ImageError
    from digitrec.preprocessing import normalize

    digit, seed, i = args
    rng = np.random.default_rng([seed, i])
    names, weights = list(TRAIN_WEIGHTS), np.array(list(TRAIN_WEIGHTS.values()))
    family = int(rng.choice(len(names), p=weights / weights.sum()))
    try:
        out = normalize(render(names[family], digit, rng))
    except ImageError:  # a rendering normalization cannot read (a few in 10,000) teaches nothing
        out = normalize(digit)
    return np.round(out * 255).astype(np.uint8), family


def normalized_renderings(images, seed=TRAIN_SEED, workers=None, log=None):
    """Each digit rendered as a family drawn at random, then normalized: what the model sees in use.

    Computed once per set of digits, seed and pipeline version (see
    `_pipeline_version`), in `workers` processes, and cached as an `.npz`
    in `cache_dir()`, written atomically.

    Args:
        images: uint8 `(N, 28, 28)` MNIST digits, light ink on dark.
        seed: int; digit `i` is rendered with `numpy.random.default_rng([seed, i])`.
        workers: processes (default: the number of CPU cores).
        log: function called with a line of progress, or None.

    Returns:
        `(x, families)`: uint8 `(N, 28, 28)` normalized renderings and int
        `(N,)` family indices into `list(FAMILIES)`.
    """
    from digitrec import _atomic

    key = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:12]
    path = cache_dir() / f"renderings-{key}-seed{seed}-{_pipeline_version(images[0])}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            return f["x"], f["families"]
    if log:
        log(f"rendering and normalizing {len(images):,} digits once (cached in {path})")
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers or os.cpu_count()) as pool:
        results = pool.map(_normalize_rendered, ((d, seed, i) for i, d in enumerate(images)), chunksize=256)
    x = np.stack([r[0] for r in results])
    families = np.array([r[1] for r in results])
    with _atomic.atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, x=x, families=families)
    return x, families
