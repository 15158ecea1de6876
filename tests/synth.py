"""Seeded generator of photo-like pictures of handwritten digits.

Each picture imitates a phone photo of one digit written on paper: an MNIST
digit is enlarged into a pen stroke, placed somewhere on a sheet of light,
slightly tinted paper, and then the "camera" adds what real photos have: a
linear lighting gradient, a soft shadow (a blurred dark region that may
cover part of the digit), paper texture (low-frequency blotches plus fine
grain), coloured ink that is lit like the paper (black, dark grey, blue or dark red,
multiplied onto it), sensor noise, and JPEG compression.

Everything is drawn from the `numpy.random.Generator` passed in, so the
same seed gives the same pictures. The settings are realistic but not
adversarial: a person reads every digit at a glance.

    python tests/synth.py [OUT_DIR] [N]   # write N sample PNGs (default /tmp/synth-samples, 12)
"""

import io

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from digitrec import masks, outliers, renderings
from digitrec.errors import ImageError

INKS = {  # RGB of the ink at full coverage, before lighting
    "black": (25, 25, 30),
    "blue": (20, 45, 150),
    "dark red": (130, 20, 25),
    "dark grey": (60, 60, 65),
}


def pen_stroke(digit, side, rng):
    """Enlarge a 28x28 MNIST digit (or any light-on-dark picture) into a pen-like stroke mask.

    Args:
        digit: uint8 `(28, 28)`, light ink on dark (MNIST), or any `(h, w)`.
        side: output side in pixels (the digit fills about 20/28 of it), or
            `(rows, cols)`.
        rng: `numpy.random.Generator`.

    Returns:
        float32 `(side, side)` (or `(rows, cols)`) ink coverage in [0, 1].
    """
    digit = np.asarray(digit, dtype=np.uint8)
    rows, cols = (side, side) if np.isscalar(side) else side
    px = rows / digit.shape[0]  # output pixels per input pixel
    big = Image.fromarray(digit).resize((cols, rows), Image.BICUBIC)
    # Smooth away the input's pixel grid (about half an input pixel), so contours are round like a pen's.
    big = big.filter(ImageFilter.GaussianBlur(0.5 * px))
    cover = np.asarray(big, dtype="float32") / 255.0
    # A pen draws a fairly even line: steepen MNIST's soft grey profile around a threshold,
    # whose level sets the line width (thin ballpoint ... thick marker).
    level = rng.uniform(0.3, 0.5)
    cover = np.clip((cover - level) / 0.2 + 0.5, 0.0, 1.0)
    soft = Image.fromarray((cover * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(px * digit.shape[0] / 250))
    return np.asarray(soft, dtype="float32") / 255.0


def _smooth_noise(shape, scale, rng):
    """Low-frequency noise in about [-1, 1]: random values on a coarse grid, upscaled bicubically."""
    h, w = shape
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    grid = rng.standard_normal((gh, gw)).astype("float32")
    up = Image.fromarray(grid, mode="F").resize((w, h), Image.BICUBIC)
    return np.asarray(up, dtype="float32") / 1.5


def _shadow(shape, rng, around):
    """A soft shadow: 1 where lit, down to `1 - depth` (0.55 ... 0.8) in the shade.

    The shade is a half-plane (the shadow of a hand, a phone or a ruler edge)
    whose edge passes near or across the digit centred at `around` (y, x),
    or an ellipse next to or over the digit; its edge is blurred by a
    Gaussian of 3-8 % of the shorter side (a penumbra of about 8-20 %).
    """
    h, w = shape
    cy, cx = around
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    if rng.random() < 0.5:
        # A large polygon coming in from one edge, its boundary passing near the digit.
        angle = rng.uniform(0, 2 * np.pi)
        normal = np.array([np.cos(angle), np.sin(angle)])  # (x, y), points into the shadow
        offset = rng.uniform(-0.15, 0.25) * min(h, w)  # boundary distance from the digit centre
        base = np.array([cx, cy]) + normal * offset
        tangent = np.array([-normal[1], normal[0]])
        far = 3 * max(h, w)
        wobble = rng.uniform(-0.2, 0.2)
        pts = [base - tangent * far, base + tangent * far + normal * far * wobble,
               base + tangent * far + normal * far, base - tangent * far + normal * far]
        draw.polygon([tuple(p) for p in pts], fill=255)
    else:
        # An elliptical blob (the shadow of a hand or a phone) near the digit.
        ry, rx = rng.uniform(0.25, 0.6) * h, rng.uniform(0.25, 0.6) * w
        ey = cy + rng.uniform(-1, 1) * 0.6 * ry + rng.choice([-1, 1]) * ry * 0.7
        ex = cx + rng.uniform(-1, 1) * 0.6 * rx + rng.choice([-1, 1]) * rx * 0.7
        draw.ellipse([ex - rx, ey - ry, ex + rx, ey + ry], fill=255)
    blur = rng.uniform(0.03, 0.08) * min(h, w)
    mask = np.asarray(img.filter(ImageFilter.GaussianBlur(blur)), dtype="float32")
    depth = rng.uniform(0.2, 0.45)
    return 1.0 - np.float32(depth / 255.0) * mask


def photo(digit, rng, return_info=False, shadow=0.8):
    """A phone-photo-like RGB picture of one MNIST digit written on paper.

    Args:
        digit: uint8 `(28, 28)` MNIST digit (light ink on dark).
        rng: `numpy.random.Generator`, the source of all randomness.
        return_info: also return a dict of the drawn settings.
        shadow: probability of a shadow (0 for none, 1 for always).

    Returns:
        uint8 `(H, W, 3)` RGB, H and W in [300, 900]; with `return_info`,
        `(image, info)`.
    """
    h, w = (int(v) for v in rng.integers(300, 901, size=2))
    side = int(rng.integers(150, min(400, h, w) + 1))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    cover = np.zeros((h, w), "float32")
    cover[top : top + side, left : left + side] = pen_stroke(digit, side, rng)
    out, info = _photograph(cover, rng, (top + side / 2, left + side / 2), shadow)
    info.update(size=(h, w), box=(top, left, side))
    return (out, info) if return_info else out


def _photograph(cover, rng, around, shadow):
    """Ink coverage `(H, W)` written on paper and photographed: uint8 RGB `(H, W, 3)` and a dict of settings."""
    h, w = cover.shape
    # Paper: a light, slightly tinted sheet with blotchy fibre texture and fine grain.
    paper = (rng.uniform(0.82, 0.97) + rng.uniform(-0.02, 0.015, 3)).astype("float32")
    texture = 0.03 * _smooth_noise((h, w), rng.uniform(20, 60), rng)
    texture += 0.012 * rng.standard_normal((h, w), dtype=np.float32)

    # Lighting: a linear gradient across the page in a random direction, times a soft shadow.
    angle = rng.uniform(0, 2 * np.pi)
    ys = ((np.arange(h, dtype="float32") - h / 2) * np.float32(np.sin(angle) / max(h, w)))[:, None]
    xs = ((np.arange(w, dtype="float32") - w / 2) * np.float32(np.cos(angle) / max(h, w)))[None, :]
    light = 1.0 + np.float32(rng.uniform(0.25, 0.5)) * (ys + xs)  # the ramp spans about [-0.7, 0.7]
    light *= np.float32(rng.uniform(0.85, 1.0) / light.max())
    shadowed = bool(rng.random() < shadow)
    if shadowed:
        light *= _shadow((h, w), rng, around)
    light *= 1.0 + texture  # texture and light act on paper and ink alike

    # Ink, multiplied onto the paper (so it is lit and shadowed like the paper), then a
    # colour cast from the light source (warm indoor light or cool daylight).
    ink_name = str(rng.choice(list(INKS)))
    ink = np.array(INKS[ink_name], "float32") / 255.0
    cover *= np.float32(rng.uniform(0.85, 1.0))  # ink strength
    cast = (1.0 + rng.uniform(-0.05, 0.05, 3)).astype("float32")
    img = np.empty((h, w, 3), "float32")
    for c in range(3):
        img[..., c] = light * (paper[c] * cast[c]) * (1.0 - cover * (1.0 - ink[c]))

    # Sensor noise, then JPEG compression as the phone would save it.
    noise = rng.uniform(0.01, 0.03)
    img += np.float32(noise) * rng.standard_normal(img.shape, dtype=np.float32)
    img *= 255
    img += 0.5
    rgb = np.clip(img, 0, 255).astype(np.uint8)
    quality = int(rng.integers(50, 91))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out, {"ink": ink_name, "shadow": shadowed, "noise": float(noise), "quality": quality}


def number(digits, rng, touching=None, height=(60, 110), slant=0.3, gap=(0.02, 0.4), scale=0.15):
    """Compose a handwritten number from MNIST digits, as one person writes it.

    Each digit is cropped to its ink and scaled to the number's height
    times 1 +- `scale`; digits sit left to right with gaps of `gap` times
    the digits' mean width (at least 2 px), on a drifting baseline (a tilt
    of up to 6 % plus 4 % jitter of the height); then the whole number gets
    one shear (a slant of up to `slant`, about 17 degrees).

    Args:
        digits: uint8 `(n, 28, 28)`, light ink on dark.
        rng: `numpy.random.Generator`.
        touching: None, or the index `i` of the pair (i, i + 1) that touches:
            the right digit is moved left until their strokes meet, then
            1-3 px further.
        height: range of the number's digit height, pixels.

    Returns:
        `(image, boxes)`: uint8 `(H, W)` light ink on dark, and each digit's
        ink box `(x0, y0, x1, y1)` (x1, y1 exclusive).
    """
    base = rng.uniform(*height)
    crops = []
    for d in digits:
        rows, cols = np.flatnonzero(d.any(axis=1)), np.flatnonzero(d.any(axis=0))
        crop = d[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        k = base * rng.uniform(1 - scale, 1 + scale) / crop.shape[0]
        size = (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k)))
        crops.append(np.asarray(Image.fromarray(crop).resize(size, Image.BICUBIC), "float32"))
    mean_width = np.mean([c.shape[1] for c in crops])
    tilt, pad = rng.uniform(-0.06, 0.06), int(base)
    width = int(sum(c.shape[1] for c in crops) + len(crops) * mean_width * gap[1]) + 2 * pad
    layers, x = [], pad
    for i, c in enumerate(crops):
        layer = np.zeros((int(3 * base), width), "float32")
        y = int(base + tilt * (x - pad) + rng.normal(0, 0.04 * base) + base - c.shape[0])  # on the baseline
        y = min(max(y, 0), layer.shape[0] - c.shape[0])
        if touching is not None and i == touching + 1:
            x = _touch(layers[-1], c, x, y) - int(rng.integers(1, 4))
        layer[y : y + c.shape[0], x : x + c.shape[1]] = c
        layers.append(layer)
        x += c.shape[1] + max(2, round(rng.uniform(*gap) * mean_width))
    shear = rng.uniform(-slant, slant)
    boxes, out = [], np.zeros_like(layers[0])
    for layer in layers:
        sheared = np.asarray(Image.fromarray(layer, mode="F").transform(
            layer.shape[::-1], Image.AFFINE, (1, shear, -shear * layer.shape[0] / 2, 0, 1, 0), Image.BILINEAR))
        out = np.maximum(out, sheared)
        rows, cols = np.flatnonzero((sheared > 32).any(axis=1)), np.flatnonzero((sheared > 32).any(axis=0))
        boxes.append((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    y0, x0 = max(0, rows[0] - 8), max(0, cols[0] - 8)
    out = out[y0 : rows[-1] + 9, x0 : cols[-1] + 9]
    boxes = [(a - x0, b - y0, c - x0, d - y0) for a, b, c, d in boxes]
    return np.clip(out, 0, 255).astype(np.uint8), boxes


def _touch(left_layer, crop, x, y):
    """The largest x <= `x` at which `crop` placed at (y, x) touches the solid ink (over half) of `left_layer`."""
    ink = left_layer > 128
    mask = crop > 128
    for nx in range(x, 0, -1):
        region = ink[y : y + crop.shape[0], nx : nx + crop.shape[1]]
        if (region & mask).any() or (np.roll(region, 1, axis=1) & mask).any():
            return nx
    return 0


def canvas(image):
    """A number (light on dark uint8) as drawn on a white canvas: dark ink on white, uint8 `(H, W)`."""
    return 255 - image


def number_photo(image, rng, shadow=0.8):
    """A phone photo of a number (light on dark uint8 `(h, w)`) written on paper: uint8 RGB.

    The number is enlarged 1-2x into a pen stroke and placed with margins
    of 20-100 % of its height on each side, then photographed like `photo`.
    """
    k = rng.uniform(1.0, 2.0)
    rows, cols = round(image.shape[0] * k), round(image.shape[1] * k)
    top, bottom, left, right = (int(rng.uniform(0.2, 1.0) * rows) for _ in range(4))
    cover = np.zeros((rows + top + bottom, cols + left + right), "float32")
    cover[top : top + rows, left : left + cols] = pen_stroke(image, (rows, cols), rng)
    return _photograph(cover, rng, (top + rows / 2, left + cols / 2), shadow)[0]


def beside_a_table(picture, rng):
    """A photo (uint8 `(H, W)` or `(H, W, 3)`) whose page does not fill the frame: a strip of a dark table (3-40 %
    bright, textured) along one side, covering 8-20 % of the picture across and tilted up to 5 degrees, clear of
    the ink (its bounding box, found as what is darker than a 15 px closing by 40 % of the most, and 5 % of the side
    beyond).
    uint8 RGB."""
    rgb = picture if picture.ndim == 3 else np.dstack([picture] * 3)
    rgb, (h, w) = rgb[..., :3].copy(), picture.shape[:2]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    dark = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8)) - grey
    ys, xs = np.nonzero(dark > 0.4 * dark.max())
    tilt = np.tan(np.radians(rng.uniform(-5, 5)))
    rooms = np.array([xs.min() / w, 1 - xs.max() / w, ys.min() / h, 1 - ys.max() / h]) - 0.05 - abs(tilt) / 2
    side = int(np.argmax(rooms))
    share = min(rng.uniform(0.08, 0.2), rooms[side])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    across, along, size = [(xx, yy - h / 2, w), (w - xx, yy - h / 2, w), (yy, xx - w / 2, h), (h - yy, xx - w / 2, h)][side]
    strip = across < share * size + tilt * along
    texture = 1 + 0.15 * cv2.resize(rng.standard_normal((h // 20 + 2, w // 20 + 2)).astype(np.float32), (w, h))
    table = rng.uniform(8, 100) * rng.uniform(0.7, 1.0, 3) * texture[..., None]
    return np.where(strip[..., None], np.clip(table, 0, 255), rgb).astype(np.uint8)


def photos(digits, rng, **kwargs):
    """`photo` for each digit in `digits`, a list of uint8 RGB arrays."""
    return [photo(d, rng, **kwargs) for d in digits]


def marker_page(digit, rng, band=True):
    """A digit in a thick marker (180 px tall, 22 px pen, 80 % dark) on 400x360 paper, crossed through its centre
    by a soft-edged shadow band 50 px wide (about two strokes) that darkens the paper by 35 %, at a random angle,
    as a pen or a ruler lying on the page casts one (float32)."""
    cover = renderings.pen(digit, 180, 22, rng)
    h, w = 360, 400
    ink = np.zeros((h, w), "float32")
    top, left = (h - cover.shape[0]) // 2, (w - cover.shape[1]) // 2
    ink[top : top + cover.shape[0], left : left + cover.shape[1]] = cover
    y, x = np.mgrid[:h, :w].astype("float32")
    angle = np.radians(rng.uniform(0, 180))
    distance = np.abs((x - w / 2) * np.cos(angle) + (y - h / 2) * np.sin(angle))
    shade = 1 / (1 + np.exp((distance - 25) / 3)) if band else 0.0
    noise = 0.01 * rng.standard_normal((h, w))
    return np.clip(0.85 * (1 - 0.35 * shade) * (1 - 0.8 * ink) + noise, 0, 1).astype("float32")



def thin_pen_crossed_by_a_hard_band(digit, rng, band=True):
    """A digit 120 px tall in a 3 px pen (70 % dark) on 240x240 paper, crossed near its centre at a random angle by
    a shadow band 50 px wide, 30 % darker, whose edges are hard (a logistic of scale 1 px, as direct light casts a
    pen's or a ruler's shadow): JPEG bytes (quality 75). The band's sharp edges make it a region as readable as the
    digit: a bar, a confident "1". `band=False`: the same page without it."""
    cover = renderings.pen(digit, 120, 3, rng)
    ink = np.zeros((240, 240), "float32")
    top, left = (240 - cover.shape[0]) // 2, (240 - cover.shape[1]) // 2
    ink[top : top + cover.shape[0], left : left + cover.shape[1]] = cover
    y, x = np.mgrid[:240, :240].astype("float32")
    angle, offset = rng.uniform(0, 2 * np.pi), rng.uniform(-20, 20)
    shade = 1 / (1 + np.exp(np.abs((x - 120 - offset) * np.cos(angle) + (y - 120) * np.sin(angle)) - 25)) * band
    page = np.clip(0.88 * (1 - 0.3 * shade) * (1 - 0.7 * ink) + 0.015 * rng.standard_normal((240, 240)), 0, 1)
    buf = io.BytesIO()
    Image.fromarray((255 * page).astype(np.uint8)).save(buf, "JPEG", quality=75)
    return buf.getvalue()


def motion_blurred(digit, rng, length=12):
    """A digit 120 px tall in a 4 px pen (75 % dark) on 300x300 paper, photographed by a shaking hand: blurred along
    a line `length` px long at a random angle (a linear motion kernel), JPEG bytes (quality 80). Strokes along
    the motion stay dark; strokes across it are smeared several times lighter: the ink has two levels."""
    cover = renderings.pen(digit, 120, 4, rng)
    ink = np.zeros((300, 300), "float32")
    top, left = (300 - cover.shape[0]) // 2, (300 - cover.shape[1]) // 2
    ink[top : top + cover.shape[0], left : left + cover.shape[1]] = cover
    line = Image.new("L", (length, length))
    angle, c = rng.uniform(0, np.pi), (length - 1) / 2
    dx, dy = c * np.cos(angle), c * np.sin(angle)
    ImageDraw.Draw(line).line([(c - dx, c - dy), (c + dx, c + dy)], fill=1)
    kernel = np.asarray(line, "float32")
    blurred = ndimage.convolve(0.85 * (1 - 0.75 * ink), kernel / kernel.sum(), mode="nearest")
    blurred = (255 * np.clip(blurred + 0.01 * rng.standard_normal(blurred.shape), 0, 1)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(blurred).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def thick_marker_beside_a_band(digit, rng):
    """A digit 260 px tall in a 38 px marker on 560x400 paper lit from the left, a pen's soft shadow band (50 px,
    35 % darker) passing its right side at a slant (float32): too thick for the local windows of a 400 px
    picture, so it is read from the flat-fielded page, where the band is dark too."""
    cover = renderings.pen(digit, 260, 38, rng)
    h, w = 400, 560
    ink = np.zeros((h, w), "float32")
    top = (h - cover.shape[0]) // 2
    ink[top : top + cover.shape[0], 40 : 40 + cover.shape[1]] = cover
    y, x = np.mgrid[:h, :w].astype("float32")
    band = 1 / (1 + np.exp((np.abs(x - 0.5 * y - 200) - 25) / 6))
    light = 1 - 0.35 * band - 0.2 * x / w
    noise = 0.01 * rng.standard_normal((h, w))
    return np.clip(0.85 * light * (1 - 0.8 * ink) + noise, 0, 1).astype("float32")


def marker_running_into_a_band(digit, rng, band=True):
    """A digit 150 px tall in a 22 px marker near the top of 480x560 paper lit from the left, and a soft shadow band
    (80 px wide, 45 % darker, edges a logistic of scale 10 px; a pen's or a ruler's) across the page through the
    end of its lowest stroke, within 30 degrees of the vertical (float32). The band is most of the dark side of the
    page's split, whose edges are its penumbra, and around the strokes that run into it a window twice as wide as
    theirs answers to the band too. `band=False`: the same page without it."""
    cover = renderings.pen(digit, 150, 22, rng)
    h, w = 480, 560
    ink = np.zeros((h, w), "float32")
    left = int(rng.integers(120, w - 120 - cover.shape[1]))
    ink[12 : 12 + cover.shape[0], left : left + cover.shape[1]] = cover
    rows, cols = np.nonzero(ink > 0.5)
    end_row, end_col = rows.max(), cols[rows == rows.max()].mean()
    angle = np.radians(rng.uniform(-30, 30))
    y, x = np.mgrid[:h, :w].astype("float32")
    across = np.abs((x - end_col) * np.cos(angle) - (y - end_row) * np.sin(angle))
    light = 1 - 0.45 * band / (1 + np.exp((across - 40) / 10)) - 0.15 * x / w
    noise = 0.01 * rng.standard_normal((h, w))
    return np.clip(0.85 * light * (1 - 0.85 * ink) + noise, 0, 1).astype("float32")


def thick_marker_half_in_shade(digit, rng):
    """A digit 200 px tall in a 38 px marker on 400x475 paper whose top-left half lies in a shadow (half as bright)
    with a soft edge 60 px wide crossing the digit (float32): the global split is soft, so the ink is read from
    local windows, and strokes this thick need a window of 65 px (one of 129 px beside it to tell that they are
    whole): with windows up to 33 px only the narrow paper inside a loop answered, as light ink."""
    cover = renderings.pen(digit, 200, 38, rng)
    h, w = 475, 400
    ink = np.zeros((h, w), "float32")
    left = (w - cover.shape[1]) // 2
    ink[40 : 40 + cover.shape[0], left : left + cover.shape[1]] = cover
    y, x = np.mgrid[:h, :w].astype("float32")
    light = 1 - 0.5 * np.clip(0.5 - (x + y - 380) / np.sqrt(2) / 60, 0, 1)
    noise = 0.01 * rng.standard_normal((h, w))
    return np.clip(0.85 * light * (1 - 0.85 * ink) + noise, 0, 1).astype("float32")


def number_half_in_shade(image, rng, edge):
    """A number (light on dark uint8 `(h, w)`) written twice as large in a pen about as thick as a marker on paper
    whose left `edge` share lies in a shade 45 % darker, its border soft (a logistic of scale 15 px), as a hand or
    a phone casts one: uint8 `(H, W)`. The digits fall on both sides of the border."""
    rows, cols = image.shape[0] * 2, image.shape[1] * 2
    cover = np.zeros((rows + 120, cols + 160), "float32")
    cover[60 : 60 + rows, 80 : 80 + cols] = pen_stroke(image, (rows, cols), rng)
    h, w = cover.shape
    x = np.arange(w, dtype="float32")[None, :]
    light = 1 - 0.45 / (1 + np.exp((x - edge * w) / 15))
    noise = 0.01 * rng.standard_normal((h, w))
    return (255 * np.clip(0.9 * light * (1 - 0.85 * cover) + noise, 0, 1)).astype(np.uint8)


def small_digit_beside_a_wide_band(digit, rng):
    """A digit 64 px tall drawn with a 7 px pen near the foot of a 2048x1536 photo crossed top to bottom by a
    soft shadow band 220 px wide, 35 % darker (float32). Shrunk to 512 px for the search, the band is a dark
    structure 55 px wide, as long as the picture, its edges a penumbra; the digit is 16 px tall."""
    cover = renderings.pen(digit, 64, 7, rng)
    h, w = 2048, 1536
    ink = np.zeros((h, w), "float32")
    ink[1500 : 1500 + cover.shape[0], 800 : 800 + cover.shape[1]] = cover
    y, x = np.mgrid[:h, :w].astype("float32")
    band = 1 / (1 + np.exp((np.abs(x - (1200 - 0.25 * y)) - 110) / 20))
    noise = 0.015 * rng.standard_normal((h, w))
    return np.clip(0.85 * (1 - 0.35 * band) * (1 - 0.8 * ink) + noise, 0, 1).astype("float32")

def number_crossed_by_a_band(digits, rng):
    """Three or more digits (28x28 uint8, light on dark) in a thick marker (120 px tall, 16 px pen, 80 % dark) in a
    row on paper, crossed through the row's middle at 30-60 degrees by a soft-edged shadow band 40 px wide (2.5
    strokes) that darkens the paper by 40 %: JPEG bytes (quality 75). Where the band crosses a digit, ink and band
    form one dark region of two levels."""
    covers = [renderings.pen(d, 120, 16, rng) for d in digits]
    h, w = max(c.shape[0] for c in covers) + 120, sum(c.shape[1] + 40 for c in covers) + 80
    ink, left = np.zeros((h, w), "float32"), 60
    for cover in covers:
        top = (h - cover.shape[0]) // 2
        ink[top : top + cover.shape[0], left : left + cover.shape[1]] = cover
        left += cover.shape[1] + 40
    y, x = np.mgrid[:h, :w].astype("float32")
    angle = np.radians(rng.uniform(30, 60))
    distance = np.abs((x - w / 2) * np.cos(angle) + (y - h / 2) * np.sin(angle))
    shade = 1 / (1 + np.exp((distance - 20) / 3))
    page = np.clip(0.85 * (1 - 0.4 * shade) * (1 - 0.8 * ink) + 0.01 * rng.standard_normal((h, w)), 0, 1)
    buf = io.BytesIO()
    Image.fromarray((255 * page).astype(np.uint8)).save(buf, "JPEG", quality=75)
    return buf.getvalue()


def number_in_boxes(digits, rng, touching=False, photo=None, ticks=None):
    """A number written on a form, one digit in each printed box of a row (a comb field, as for an ID or a
    postcode): `(picture, boxes)`, the picture a uint8 `(H, W)` scan or uint8 RGB photo (`photo` True or False;
    None: half each), and each digit's drawing box `(x0, y0, x1, y1)` (x1, y1 exclusive).

    Digits `(n, 28, 28)` (light on dark) are redrawn 30-80 px tall with one pen (5-12 % of their height) and
    placed anywhere in boxes 1.2-1.5 times as wide and 1.3-1.6 times as tall, a pen width clear of their sides,
    or, with `touching`, up to a pen width into them (touching or crossing a side, as people write). The boxes
    share their sides, printed 1-3 px wide, 40-90 % as dark as the ink, and up to four are left empty at the
    end. The scan has a little grain; the photo is `_photograph`'s (lighting, often a shadow, texture, JPEG).
    With `ticks` (a share of the boxes' height), the field is a comb open at the top: a line under the boxes, and
    their sides rise that far from it (1.0: full-height sides, no top line).
    """
    h = rng.uniform(30, 80)
    pen_width = rng.uniform(0.05, 0.12) * h
    covers = [renderings.pen(d, h * rng.uniform(0.9, 1.05), pen_width, rng) for d in digits]
    box_w = max(max(c.shape[1] for c in covers) + 2 * pen_width, h * rng.uniform(1.2, 1.5))
    box_h = max(max(c.shape[0] for c in covers) + 2 * pen_width, h * rng.uniform(1.3, 1.6))
    x0 = y0 = int(h)
    reach = pen_width * (1 if touching else -1)  # how far past a box side (into the side, or short of it) a digit may go
    cover = np.zeros((int(box_h + 2 * h), int(box_w * (len(digits) + 4) + 2 * h)), "float32")
    boxes = []
    for i, c in enumerate(covers):
        spare_x, spare_y = (box_w - c.shape[1]) / 2 - 1, (box_h - c.shape[0]) / 2 - 1
        left = int(x0 + i * box_w + box_w / 2 - c.shape[1] / 2 + rng.uniform(-1, 1) * (spare_x + reach))
        top = int(y0 + box_h / 2 - c.shape[0] / 2 + rng.uniform(-1, 1) * (spare_y + reach))
        cover[top : top + c.shape[0], left : left + c.shape[1]] = c
        boxes.append((left, top, left + c.shape[1], top + c.shape[0]))
    lines = Image.new("L", cover.shape[::-1])
    draw, thick = ImageDraw.Draw(lines), int(rng.integers(1, 4))
    n_boxes = len(digits) + int(rng.integers(0, 5))  # a field may have boxes to spare, left empty
    right, bottom = x0 + n_boxes * box_w, y0 + box_h
    for i in range(n_boxes + 1):
        draw.line([(x0 + i * box_w, bottom - (ticks or 1.0) * box_h), (x0 + i * box_w, bottom)], fill=255, width=thick)
    if ticks is None:
        draw.line([(x0, y0), (right, y0)], fill=255, width=thick)
    draw.line([(x0, bottom), (right, bottom)], fill=255, width=thick)
    cover = np.maximum(cover, np.asarray(lines, "float32") / 255 * np.float32(rng.uniform(0.4, 0.9)))
    if rng.random() < 0.5 if photo is None else photo:
        return _photograph(cover, rng, (y0 + box_h / 2, cover.shape[1] / 2), shadow=0.8)[0], boxes
    grey = 0.95 - 0.85 * cover + 0.02 * rng.standard_normal(cover.shape)
    return (255 * np.clip(grey, 0, 1)).astype(np.uint8), boxes


def turned(picture, degrees):
    """A scan or photo (uint8 `(H, W)` or `(H, W, 3)`) turned `degrees` about its centre, its border's paper
    repeated, and the (2, 3) matrix that turned it."""
    h, w = picture.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), float(degrees), 1.0)
    return cv2.warpAffine(picture, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), turn


def sheared(picture, degrees):
    """A scan or photo (uint8 `(H, W)` or `(H, W, 3)`) sheared about its centre so that its upright lines lean
    `degrees` and its level lines stay level (a form photographed at an angle: locally, perspective is an affine
    map), its border's paper repeated, and the (2, 3) matrix that sheared it."""
    h, w = picture.shape[:2]
    t = np.tan(np.radians(degrees))
    shear = np.array([[1.0, t, -t * h / 2], [0.0, 1.0, 0.0]])
    return cv2.warpAffine(picture, shear, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), shear


def askew(picture, rng):
    """`picture` turned 1-3 degrees either way (drawn from `rng`), as a form is scanned or photographed askew."""
    return turned(picture, rng.uniform(1, 3) * rng.choice([-1, 1]))[0]


def iou(a, b):
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def numbers(digits, seed, n, touching, lengths=(3, 6)):
    """`n` (truth, picture, boxes, rendering) of `lengths[0]` to `lengths[1]` of `digits` (`(images, labels)`,
    MNIST-like) composed into numbers: two canvases to one photo, with one touching pair when `touching`."""
    images, labels = digits
    rng = np.random.default_rng(seed)
    for i in range(n):
        k = int(rng.integers(lengths[0], lengths[1] + 1))
        idx = rng.choice(len(labels), k, replace=False)
        image, boxes = number(images[idx], rng, touching=int(rng.integers(k - 1)) if touching else None)
        kind = "canvas" if i % 3 else "photo"
        picture = canvas(image) if kind == "canvas" else number_photo(image, rng)
        yield "".join(map(str, labels[idx])), picture, boxes, kind


def digit_on_a_line(digit, rng, printed=True, line=True):
    """A digit 90-150 px tall in a 3-6 px pen (75 % dark) on 300x300 paper, on a line a little wider than it:
    JPEG bytes (quality 80). `printed`: a form's answer line 1-2 px thick, as dark as the ink, its top 0-5 px above
    the digit's foot, reaching 5-60 px beyond the digit at each end; else a line the writer drew under the digit
    with the same pen, 0-10 px below its foot and 10 px beyond it at each end, tilted by up to 5 px.
    `line=False`: the same page without the line."""
    width = rng.uniform(3, 6)
    cover = renderings.pen(digit, rng.uniform(90, 150), width, rng)
    ink = np.zeros((300, 300), "float32")
    top, left = (300 - cover.shape[0]) // 2, (300 - cover.shape[1]) // 2
    ink[top : top + cover.shape[0], left : left + cover.shape[1]] = cover
    foot, right = top + cover.shape[0] - int(width / 2 + 2), left + cover.shape[1]  # within the pen's margin
    drawn = Image.new("L", (300, 300))
    if printed:
        y, a, b = foot - int(rng.integers(0, 6)), left - int(rng.integers(5, 60)), right + int(rng.integers(5, 60))
        ImageDraw.Draw(drawn).rectangle([a, y, b, y + int(rng.integers(0, 2))], fill=255)
    else:
        y = foot + int(rng.integers(0, 10))
        ImageDraw.Draw(drawn).line([(left - 10, y), (right + 10, y + int(rng.integers(-5, 6)))], fill=255,
                                   width=round(width))
    ink = np.maximum(ink, np.asarray(drawn, "float32") / 255 * line)
    page = (255 * np.clip(0.85 * (1 - 0.75 * ink) + 0.01 * rng.standard_normal(ink.shape), 0, 1)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(page).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def number_on_a_line(digits, rng, photo=False):
    """A number of `digits` (`number`) on a line that reaches a little beyond it, dark on light.

    Without `photo`: drawn on a white canvas with 30 px of margin, on a form's printed answer line 1-2 px thick
    (dark grey) whose top is 0-3 px above the digits' median foot, reaching 5-30 px beyond the number at each end
    (digits lower than the median cross it): uint8 `(H, W)`. With `photo`: underlined 2-12 px under its lowest
    digit by a line 3 px thick reaching 10-30 px beyond it at each end, then photographed (`number_photo`, which
    draws the digits' strokes thicker than the line): uint8 RGB.
    """
    image, boxes = number(digits, rng)
    if photo:
        page = np.pad(image, ((0, 30), (30, 30)))
        y = max(box[3] for box in boxes) + int(rng.integers(2, 12))
        x0 = min(box[0] for box in boxes) + 30 - int(rng.integers(10, 30))
        x1 = max(box[2] for box in boxes) + 30 + int(rng.integers(10, 30))
        page[y : y + 3, x0:x1] = 255
        return number_photo(page, rng)
    page = np.pad(canvas(image), 30, constant_values=255)
    y = int(np.median([box[3] for box in boxes])) + 30 - int(rng.integers(0, 4))
    x0 = min(box[0] for box in boxes) + 30 - int(rng.integers(5, 30))
    x1 = max(box[2] for box in boxes) + 30 + int(rng.integers(5, 30))
    page[y : y + int(rng.integers(1, 3)), max(0, x0) : x1] = 40
    return page


def underlined_number(digits, rng):
    """A number of `digits` (`number`, upright) on a white canvas, its strokes thickened by a round pen of 3-6 px,
    underlined by hand: a stroke 3-6 px thick, 6-13 px under its lowest digit, reaching 0-7 px beyond it at each
    end (less than two strokes' widths). uint8 `(H, W)`, dark on light."""
    image, boxes = number(digits, rng, slant=0.0)
    page = np.pad(image, ((0, 40), (20, 20)))
    pen = int(rng.integers(3, 7))
    page = cv2.dilate(page, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (pen, pen)))
    y = max(box[3] for box in boxes) + int(rng.integers(6, 14))
    x0 = min(box[0] for box in boxes) + 20 - int(rng.integers(0, 8))
    x1 = max(box[2] for box in boxes) + 20 + int(rng.integers(0, 8))
    cv2.line(page, (x0, y), (x1, y), 255, int(rng.integers(3, 7)))
    return 255 - page


def skipping_pen(digit, rng, skip=True):
    """A digit 80-150 px tall in a 3-6 px ballpoint that skips, as on glossy paper: 10-25 % of its ink left out in
    gaps across the strokes (where smooth noise with blobs 1.5-3 pen widths across is lowest), dark on white
    300x300 paper, slightly blurred: PNG bytes. `skip=False`: the same page without the gaps."""
    width = rng.uniform(3, 6)
    cover = renderings.pen(digit, rng.uniform(80, 150), width, rng)
    page = np.zeros((300, 300), "float32")
    top, left = (int(rng.integers(0, 301 - n)) for n in cover.shape)
    page[top : top + cover.shape[0], left : left + cover.shape[1]] = cover
    noise = _smooth_noise(page.shape, rng.uniform(1.5, 3.0) * width, rng)
    gaps = np.clip((noise - np.quantile(noise[page > 0.5], rng.uniform(0.1, 0.25))) / 0.05, 0, 1)
    page = 1 - rng.uniform(0.7, 0.9) * page * (gaps if skip else 1)
    blurred = Image.fromarray((255 * page).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))
    buf = io.BytesIO()
    blurred.save(buf, "PNG")
    return buf.getvalue()


def pencil_in_a_box(digit, rng, box=(0.7, 1.0)):
    """A digit in pencil 40-90 px tall, its strokes 10-15 % of its height wide (MNIST's share) and 0.4-0.8 dark,
    in a printed box 1-2 px thick and `box` dark that it may touch, as on a form filled in: uint8, dark on white."""
    height = rng.uniform(40, 90)
    cover = renderings.pen(digit, height, rng.uniform(0.1, 0.15) * height, rng)
    h, w = cover.shape
    side = int(max(h, w) * rng.uniform(1.2, 1.6))
    page = np.zeros((side + 20, side + 20), "float32")
    top, left = 10 + (side - h) // 2, 10 + (side - w) // 2
    page[top : top + h, left : left + w] = cover
    line, m = np.zeros(page.shape, np.uint8), int(rng.integers(-2, 8))
    cv2.rectangle(line, (left - m, top - m), (left + w + m, top + h + m), 1, int(rng.integers(1, 3)))
    grey = 1 - np.maximum(page * rng.uniform(0.4, 0.8), line * rng.uniform(*box))
    return np.round(255 * np.clip(grey, 0, 1)).astype(np.uint8)


def low_light(picture, rng, sigma=16.0):
    """An image file's bytes (or a uint8 array) with Gaussian noise of `sigma` levels (of 255) added to each colour
    channel, not to its alpha, as a phone photo taken in low light: a uint8 array."""
    return _recoloured(picture, lambda colour: colour + rng.normal(0, sigma, colour.shape))


def glared(picture, g, rng):
    """An image file's bytes (or a uint8 array) lit by a hot spot, as a lamp or a flash lights glossy paper and the
    ink on it: each colour level v (not the alpha) becomes v + g w (255 - v), w a Gaussian of standard deviation a
    quarter of the shorter side, 1 at its centre, drawn in the middle 40 % of the picture with `rng`; a uint8
    array. At its centre, what the paper and the ink lack to white shrinks to 1 - g of it."""
    def lit(colour):
        h, w = colour.shape[:2]
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        yy, xx = np.mgrid[0:h, 0:w]
        spot = g * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (min(h, w) / 4) ** 2))
        return colour + spot[..., None] * (255 - colour)

    return _recoloured(picture, lit)


def shadowed(picture, darkness, rng):
    """An image file's bytes (or a uint8 array) under a hard-edged shadow, as direct light (the sun, a desk lamp)
    casts a hand's, a phone's, a pen's or a ruler's: a half-plane or, half the time, a band 10-40 % of the shorter
    side wide, its edge or middle passing within a fifth of the shorter side of the picture's centre at any angle,
    its edges a logistic of scale 1 % of the shorter side (at least a quarter pixel: a hard shadow's penumbra is
    narrow); each colour level (not the alpha) is multiplied by 1 - `darkness` inside it. A uint8 array, drawn with
    `rng`. (The families' photos cast soft shadows only, 20-45 % dark: `renderings._lighting`.)"""
    def shaded(colour):
        h, w = colour.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        angle, offset = rng.uniform(0, 2 * np.pi), rng.uniform(-0.2, 0.2) * min(h, w)
        signed = (xx - w / 2) * np.cos(angle) + (yy - h / 2) * np.sin(angle) - offset
        if rng.random() < 0.5:
            signed = rng.uniform(0.05, 0.2) * min(h, w) - np.abs(signed)
        shade = 1 / (1 + np.exp(np.clip(-signed / max(0.01 * min(h, w) / 4, 0.25), -50, 50)))
        return colour * (1 - darkness * shade[..., None])

    return _recoloured(picture, shaded)


def _recoloured(picture, change):
    """An image file's bytes (or a uint8 array) as a uint8 array whose colour channels (not its alpha) are
    `change(colour)`: `colour` float64 `(H, W, C)` (C = 1 for a grey picture), rounded and clipped after."""
    out = np.asarray(Image.open(io.BytesIO(picture)) if isinstance(picture, bytes) else picture, np.float64).copy()
    colour = out[..., :3] if out.ndim == 3 else out[..., None]  # a view: not the alpha channel
    colour[...] = change(colour)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def digit_beside_a_shape(digit, seed):
    """A 40 x 80 canvas (uint8, dark on white): an MNIST digit `(28, 28)` on the left, a shape of
    `outliers.shapes` (drawn with `seed`) 28 px wide on the right."""
    shape = cv2.resize(outliers.shapes(np.random.default_rng(seed)), (28, 28), interpolation=cv2.INTER_AREA)
    picture = np.zeros((40, 80), np.float32)
    picture[6:34, 6:34], picture[6:34, 44:72] = digit / 255.0, shape
    return np.round(255 * (1 - picture)).astype(np.uint8)


def read_refused(recognizer, picture):
    """Whether `recognizer.read` refuses `picture`: reads nothing but "?", or finds no ink in it (`ImageError`, as
    for blank paper or marks all too small for a digit)."""
    try:
        return set(recognizer.read(picture).text) == {"?"}
    except ImageError:
        return True


def tight_bold_photo(digit, rng):
    """A digit written 90-220 px tall with a round pen 8-16 % of its height (a felt-tip marker), photographed
    (`renderings.photo`: tinted paper, grain, a lighting gradient, a soft shadow in half of them, JPEG 60-85) and
    cropped to its ink or 1-2 px into it, as a user crops a photo to the digit: JPEG bytes. A crop under 64 px wide
    is widened with paper to 64."""
    height = int(rng.integers(90, 220))
    cover = renderings.pen(digit, height, int(rng.uniform(0.08, 0.16) * height), rng)
    r0, r1, c0, c1 = masks.bbox(cover > 0.5)
    m = int(rng.integers(0, 3))
    cover = cover[r0 + m : r1 - m, c0 + m : c1 - m]
    if cover.shape[1] < 64:
        cover = np.pad(cover, ((0, 0), ((64 - cover.shape[1]) // 2 + 1,) * 2))
    return renderings.photo(cover, rng, float(rng.uniform(0.6, 0.9)), int(rng.integers(60, 86)),
                            shadow=bool(rng.random() < 0.5))


if __name__ == "__main__":
    import os
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from digitrec import data

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/synth-samples")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    out.mkdir(parents=True, exist_ok=True)
    images, labels = data.load_split("test", os.environ.get("DIGITREC_DATA_DIR",
                                                            Path(__file__).resolve().parents[2] / "shared/data/mnist"))
    rng = np.random.default_rng(0)
    for i in range(n):
        img, info = photo(images[i], rng, return_info=True)
        Image.fromarray(img).save(out / f"synth_{i:02d}_label{labels[i]}.png")
        print(i, labels[i], info)
