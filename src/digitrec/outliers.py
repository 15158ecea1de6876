"""Non-digits: pictures of things that are not one handwritten digit.

They serve two purposes:

- outlier exposure (Hendrycks, Mazeika and Dietterich 2019, "Deep anomaly
  detection with outlier exposure", ICLR): during training the model learns
  to answer the uniform distribution on them, so its maximum softmax
  probability (Hendrycks and Gimpel 2017) separates digits from everything
  else (see `digitrec.rejection`);
- measuring rejection, on seeds and fonts that training never saw.

Families (each a function `rng -> float32 (H, W)` picture, light ink on
black, any size):

- `letters`: letters and symbols that nobody writes as a digit, rendered
  from fonts with a random rotation, shear, aspect and stroke weight.
  Glyphs that are written like a digit are left out, so real digits keep
  their confidence: O o Q D (0), I l i j | / ! and the hooked J f t r (a 1
  with a flag or a base), S s (5), B (8), b G (6), g q (9), and h H u U y Y
  (an open-topped 4). Training uses matplotlib's bundled DejaVu and Computer
  Modern fonts (the same on every machine); `HELD_OUT_FONTS` (STIX) are
  for measurement only;
- `pen_letters`: the same glyphs as written with a pen (even stroke width, a
  wavering line), nearer to handwriting than a font's;
- `scribbles`: smooth random pen paths, one to three strokes;
- `shapes`: rectangles, triangles, stars, arrows, crosses, hearts, grids,
  ticks, smileys, spirals, waves, hatching, filled blobs;
- `texture`: blank paper (blotches, grain, a crease), whose only "ink" is
  what the ink extraction finds in the texture;
- `fragments`: partial strokes, a random part of a real digit cut off by a
  line, keeping 25-60 % of its ink (what a wrong cut produces);
- `pairs`: two or three real digits side by side, touching or nearly, or a
  digit with a piece of its neighbour (what a missed cut produces; LeCun,
  Bottou, Bengio and Haffner 1998, section V, train their recognizer to
  give such mis-segmentations low scores).

`fragments` and `pairs` need real digits (`digits=`); pass training digits
when training and other digits when measuring.
"""

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from digitrec.errors import ImageError

# Letters and symbols that are never written as a digit. Left out on purpose, because handwriting
# uses them for digits or they look like one: O o Q D 0-likes, I l i j | ! / ( ) [ ] and the
# hooked J f t r 1-likes (a 1 with a flag or a base), S s 5, B 8, b G 6, g q 9, h H u U y Y
# (an open-topped 4), and dots and commas (too small to be anything).
LETTERS = "ACEFKLMNPRTVWXZacdekmnpvwxz"
SYMBOLS = "+#%&@?*<>{}$~^=€£¥§¶\u00d7÷±∞→←↑↓♥★✓"  # \u00d7: the multiplication sign
GREEK = "αγεζηλμνπρτφχψωΓΔΛΞΠΣΦΨΩ"
_MPL_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
              "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")
_MPL_LATIN_ONLY = ("cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf", "cmti10.ttf")  # letters only
_HELD_OUT = ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf")
CANVAS = 96  # side of the square the families draw in, pixels


def _mpl_font_dir():
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.cache
def training_fonts():
    """`[(font path, characters)]`: matplotlib's bundled DejaVu and Computer Modern fonts."""
    folder = _mpl_font_dir()
    return [(folder / f, LETTERS + SYMBOLS) for f in _MPL_FONTS] + [(folder / f, LETTERS) for f in _MPL_LATIN_ONLY]


@functools.cache
def held_out_fonts():
    """`[(font path, characters)]`: matplotlib's STIX fonts, never used in training; Greek letters included."""
    return [(_mpl_font_dir() / f, LETTERS + SYMBOLS + GREEK) for f in _HELD_OUT]


@functools.cache
def _font(path, size):
    return ImageFont.truetype(str(path), size)


def _affine(image, rng, max_rotation=20.0, max_shear=0.3):
    """`image` (Pillow "L") rotated, sheared and stretched at random around its centre, on a padded canvas."""
    side = int(max(image.size) * 1.6)
    canvas = Image.new("L", (side, side), 0)
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    a = np.radians(rng.uniform(-max_rotation, max_rotation))
    shear, stretch = rng.uniform(-max_shear, max_shear), np.exp(rng.uniform(-0.3, 0.3))
    m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[stretch, shear], [0, 1 / stretch]])
    inv = np.linalg.inv(m)
    c = np.array([side / 2, side / 2])
    offset = c - inv @ c
    return canvas.transform(canvas.size, Image.AFFINE, (*inv[0], offset[0], *inv[1], offset[1]), Image.BILINEAR)


def letters(rng, fonts=None):
    """A letter or symbol from `fonts` (default `training_fonts()`), float32 `(H, W)`, light on black."""
    path, chars = (fonts or training_fonts())[rng.integers(len(fonts or training_fonts()))]
    font = _font(path, 64)
    char = chars[rng.integers(len(chars))]
    if font.getmask(char).getbbox() is None:  # the font has no such glyph: fall back on a Latin letter
        char = LETTERS[rng.integers(len(LETTERS))]
    image = Image.new("L", (CANVAS + 32, CANVAS + 32), 0)
    ImageDraw.Draw(image).text((16, 8), char, font=font, fill=255, stroke_width=int(rng.integers(0, 4)),
                               stroke_fill=255)
    return np.asarray(_affine(image, rng), "float32") / 255.0


def pen_letters(rng, fonts=None):
    """A `letters` glyph as written with a round pen, float32 `(H, W)`, light on black.

    The glyph (a 64 px font) is reduced to its skeleton (Zhang and Suen 1984,
    `skimage.morphology.skeletonize`), redrawn with a disk 3-7 px wide
    (MNIST's stroke-to-height ratio) and distorted elastically as training
    digits are, at 4-5 times their scale (`augmentation.distort`, a 150 px
    field smoothed over 16 px; Simard, Steinkraus and Platt 2003): letters
    of even stroke width and a wavering line, as a person writes them, where
    fonts have thick and thin parts and straight edges.
    """
    from skimage import morphology

    from digitrec.augmentation import distort

    skeleton = morphology.skeletonize(letters(rng, fonts) > 0.5)
    ink = ndimage.binary_dilation(skeleton, morphology.disk(int(rng.integers(1, 4)))).astype("float32")
    ink = distort(ink[None], rng, rotation_deg=0.0, scale=(1.0, 1.0), shear=0.0, shift_px=0.0, alpha_px=150.0,
                  sigma_px=16.0, stroke=0.0)[0]
    return ndimage.gaussian_filter(ink, 0.6)


def _draw(lines, rng, fill=()):
    """Polylines (lists of (x, y) in [0, 1]) and filled polygons drawn with one random pen width."""
    image = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(image)
    width = int(rng.integers(3, 10))
    for polygon in fill:
        draw.polygon([(x * CANVAS, y * CANVAS) for x, y in polygon], fill=255)
    for line in lines:
        draw.line([(x * CANVAS, y * CANVAS) for x, y in line], fill=255, width=width, joint="curve")
    return np.asarray(image, "float32") / 255.0


def _smooth_path(points, n=48):
    """A Catmull-Rom spline through `points` ((k, 2) array), `n` samples per segment."""
    p = np.concatenate([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, n, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    return [tuple(q) for q in np.concatenate([*out, p[-2:-1]])]


def scribbles(rng):
    """One to three smooth random strokes through 5-9 points each, float32 `(H, W)`."""
    strokes = []
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.5:  # a pen wandering with momentum
            angle, pos, pts = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.7, 2), []
            for _ in range(rng.integers(5, 10)):
                pts.append(pos.copy())
                angle += rng.normal(0, 1.2)
                pos = np.clip(pos + 0.18 * np.array([np.cos(angle), np.sin(angle)]), 0.1, 0.9)
            pts = np.array(pts)
        else:
            pts = rng.uniform(0.1, 0.9, (rng.integers(5, 10), 2))
        strokes.append(_smooth_path(pts))
    return _draw(strokes, rng)


def _regular(n, r, phase=0.0, cx=0.5, cy=0.5, aspect=1.0):
    a = phase + 2 * np.pi * np.arange(n) / n
    return [(cx + r * aspect * np.cos(t), cy + r * np.sin(t)) for t in a]


def shapes(rng):
    """A geometric shape or doodle drawn with a pen, float32 `(H, W)`."""
    kind = rng.integers(14)
    j = lambda pts: [(x + rng.normal(0, 0.015), y + rng.normal(0, 0.015)) for x, y in pts]  # noqa: E731 hand wobble
    aspect = np.exp(rng.uniform(-0.4, 0.4))
    fill = ()
    if kind == 0:  # rectangle
        w, h = 0.35 * aspect, 0.35 / aspect
        lines = [j([(0.5 - w, 0.5 - h), (0.5 + w, 0.5 - h), (0.5 + w, 0.5 + h), (0.5 - w, 0.5 + h), (0.5 - w, 0.5 - h)])]
    elif kind == 1:  # triangle
        pts = _regular(3, 0.38, rng.uniform(0, 2 * np.pi), aspect=aspect)
        lines = [j(pts + pts[:1])]
    elif kind == 2:  # five-pointed star
        pts = [_regular(5, 0.4, -np.pi / 2)[i * 2 % 5] for i in range(5)]
        lines = [j(pts + pts[:1])]
    elif kind == 3:  # arrow
        lines = [j([(0.1, 0.5), (0.9, 0.5)]), j([(0.65, 0.3), (0.9, 0.5), (0.65, 0.7)])]
    elif kind == 4:  # cross (x)
        lines = [j([(0.15, 0.15), (0.85, 0.85)]), j([(0.85, 0.15), (0.15, 0.85)])]
    elif kind == 5:  # plus
        lines = [j([(0.5, 0.1), (0.5, 0.9)]), j([(0.1, 0.5), (0.9, 0.5)])]
    elif kind == 6:  # heart
        t = np.linspace(0, 2 * np.pi, 60)
        x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        lines = [j(list(zip(0.5 + x / 40, 0.45 - y / 40)))]
    elif kind == 7:  # grid (#)
        lines = [j([(0.35, 0.1), (0.3, 0.9)]), j([(0.7, 0.1), (0.65, 0.9)]),
                 j([(0.1, 0.35), (0.9, 0.35)]), j([(0.1, 0.65), (0.9, 0.65)])]
    elif kind == 8:  # tick
        lines = [j([(0.15, 0.55), (0.4, 0.85), (0.9, 0.15)])]
    elif kind == 9:  # smiley
        t = np.linspace(0, 2 * np.pi, 48)
        mouth = np.linspace(0.2 * np.pi, 0.8 * np.pi, 16)
        lines = [j(list(zip(0.5 + 0.4 * np.cos(t), 0.5 + 0.4 * np.sin(t)))),
                 j(list(zip(0.5 + 0.22 * np.cos(mouth), 0.52 + 0.18 * np.sin(mouth)))),
                 [(0.37, 0.37), (0.37, 0.4)], [(0.63, 0.37), (0.63, 0.4)]]
    elif kind == 10:  # spiral of two to three turns
        t = np.linspace(0, rng.uniform(4, 6) * np.pi, 120)
        lines = [j(list(zip(0.5 + 0.4 * t / t[-1] * np.cos(t) * aspect, 0.5 + 0.4 * t / t[-1] * np.sin(t))))]
    elif kind == 11:  # wave
        x = np.linspace(0.05, 0.95, 60)
        lines = [j(list(zip(x, 0.5 + 0.25 * np.sin(x * rng.uniform(3, 5) * 2 * np.pi))))]
    elif kind == 12:  # hatching: parallel strokes
        n, tilt = rng.integers(3, 7), rng.uniform(-0.3, 0.3)
        lines = [j([(x - tilt, 0.15), (x + tilt, 0.85)]) for x in np.linspace(0.2, 0.8, n)]
    else:  # filled blob
        k = rng.integers(5, 9)
        r = rng.uniform(0.2, 0.4, k)
        a = np.sort(rng.uniform(0, 2 * np.pi, k))
        fill, lines = [list(zip(0.5 + r * np.cos(a), 0.5 + r * np.sin(a)))], []
    return _draw(lines, rng, fill)


def texture(rng):
    """Blank paper as a camera sees it (blotches, grain, maybe a crease), float32 `(H, W)`, dark on light."""
    side = int(rng.integers(48, 160))
    coarse = rng.standard_normal((side // 12 + 2, side // 12 + 2)).astype("float32")
    blotches = np.asarray(Image.fromarray(coarse, mode="F").resize((side, side), Image.BICUBIC), "float32")
    paper = 0.85 + rng.uniform(0.01, 0.05) * blotches + rng.uniform(0.005, 0.03) * rng.standard_normal((side, side))
    if rng.random() < 0.5:  # a crease or a faint pencil line across the page, within 30 degrees of level
        yy, xx = np.mgrid[:side, :side]  # (a steeper line would be a 1)
        a, d = np.pi / 2 + rng.uniform(-np.pi / 6, np.pi / 6), rng.uniform(-0.3, 0.3) * side
        dist = np.abs((xx - side / 2) * np.cos(a) + (yy - side / 2) * np.sin(a) - d)
        paper -= rng.uniform(0.03, 0.15) * np.exp(-((dist / rng.uniform(1, 3)) ** 2))
    return np.clip(paper, 0, 1).astype("float32")


def _as_float(digit):
    digit = np.asarray(digit)
    return digit.astype("float32") / 255.0 if digit.dtype == np.uint8 else digit.astype("float32")


def fragments(rng, digits):
    """A random part of a real digit: a half-plane cut keeping 25-60 % of its ink, float32 `(28, 28)`.

    Parts that are themselves written as digits are drawn again: a stroke
    within 45 degrees of upright (a 1, perhaps with a hook: its ink's second
    moments are over 3 times longer than wide) or a closed loop (a 0).
    """
    for _ in range(50):
        digit = _as_float(digits[rng.integers(len(digits))])
        yy, xx = np.mgrid[:28, :28]
        a = rng.uniform(0, 2 * np.pi)
        proj = (xx - 14) * np.cos(a) + (yy - 14) * np.sin(a)
        ink = digit > 0.3
        cut = np.quantile(proj[ink], rng.uniform(0.4, 0.75)) if ink.any() else 0
        part = digit * (proj > cut)
        kept = part[ink].sum() / max(digit[ink].sum(), 1e-6)
        mask = part > 0.3
        if not 0.25 <= kept <= 0.6 or not mask.any():
            continue
        loop = ndimage.binary_fill_holes(mask).sum() > 1.3 * mask.sum()
        if not _upright_stroke(mask) and not loop:
            return part
    return part


def _upright_stroke(mask):
    """True when `mask` is one straight-ish stroke within 45 degrees of vertical (how a 1 is written)."""
    yy, xx = np.nonzero(mask)
    if len(yy) < 3:
        return False
    cov = np.cov(np.stack([yy, xx]).astype("float64"))
    values, vectors = np.linalg.eigh(cov)  # ascending: vectors[:, 1] is the long axis (dy, dx)
    return values[1] > 3 * max(values[0], 1e-6) and abs(vectors[0, 1]) >= abs(vectors[1, 1])


def ink_columns(digit):
    """float `digit` `(H, W)` cut to the columns that hold ink (over 0.1); all of it when none does."""
    cols = np.flatnonzero((digit > 0.1).any(0))
    return digit[:, cols[0] : cols[-1] + 1] if len(cols) else digit


def pairs(rng, digits):
    """Two or three real digits side by side, touching or nearly, or a digit plus a piece of a neighbour.

    Half the pairs hold a narrow digit (the narrowest of 20 drawn, mostly a
    1): a 1 touching its neighbour is the mis-segmentation that most often
    still looks like one digit.
    """
    count = 2 if rng.random() < 0.8 else 3
    parts = [_as_float(digits[rng.integers(len(digits))]) for _ in range(count)]
    if rng.random() < 0.5:
        pool = [_as_float(digits[i]) for i in rng.integers(len(digits), size=20)]
        parts[rng.integers(count)] = min(pool, key=lambda d: np.count_nonzero((d > 0.3).any(axis=0)))
    elif count == 2 and rng.random() < 0.4:
        parts[rng.integers(2)] = fragments(rng, digits)
    crops = [ink_columns(p) for p in parts]
    out = crops[0]
    for crop in crops[1:]:
        overlap = min(int(rng.integers(-2, 5)), out.shape[1] - 1, crop.shape[1] - 1)  # pixels; negative: a gap
        width = out.shape[1] + crop.shape[1] - overlap
        merged = np.zeros((28, width), "float32")
        merged[:, : out.shape[1]] = out
        merged[:, width - crop.shape[1] :] = np.maximum(merged[:, width - crop.shape[1] :], crop)
        out = merged
    return out


TRAINING = {"letters": 0.4, "scribbles": 0.2, "shapes": 0.15, "texture": 0.05, "pairs": 0.2}
FAMILIES = {"letters": letters, "pen_letters": pen_letters, "scribbles": scribbles, "shapes": shapes,
            "texture": texture, "fragments": fragments, "pairs": pairs}


def render(family, rng, digits=None, fonts=None):
    """One picture of `family` (a key of `FAMILIES`), float32 `(H, W)` in [0, 1]."""
    if family in ("fragments", "pairs"):
        return FAMILIES[family](rng, digits)
    if family in ("letters", "pen_letters"):
        return FAMILIES[family](rng, fonts)
    return FAMILIES[family](rng)


def generate(n, seed, digits=None, mix=None, fonts=None):
    """`n` normalized non-digits for outlier exposure or for measuring rejection.

    Args:
        n: how many.
        seed: int; the same seed gives the same images. Use different seeds
            for training, calibration and tests.
        digits: uint8 `(N, 28, 28)` real digits for `fragments` and `pairs`;
            None leaves those families out.
        mix: `{family: share}` (default `TRAINING`), renormalized.
        fonts: `[(path, characters)]` for `letters` (default `training_fonts()`).

    Returns:
        `(images, families)`: float32 `(n, 28, 28)` in [0, 1], each passed
        through `preprocessing.normalize` as the model's inputs are, and the
        family of each, a str array `(n,)`. Pictures in which normalization
        finds no ink (blank texture) are drawn again.
    """
    from digitrec.preprocessing import normalize

    mix = {k: v for k, v in (mix or TRAINING).items() if digits is not None or k not in ("fragments", "pairs")}
    names, shares = list(mix), np.array(list(mix.values()), "float64")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(names, size=n, p=shares / shares.sum())
    out = np.zeros((n, 28, 28), "float32")
    for i, family in enumerate(chosen):
        while True:
            try:
                out[i] = normalize(render(family, rng, digits, fonts))
                break
            except ImageError:
                continue
    return out, chosen


def serif_ones(ones, n, rng):
    """`n` upright real 1s redrawn with a flag and often a base serif, float32 `(n, 28, 28)`, normalized.

    The 1 most people outside North America write (a flag from the top,
    often a base) is rare in MNIST; without examples of it, outlier exposure
    pushes it out with the hooked strokes and letters it resembles. Only
    upright 1s get one: on a slanted stem a flag makes a 7.

    Args:
        ones: uint8 `(N, 28, 28)` MNIST 1s.
    """
    from digitrec.preprocessing import normalize

    out = np.zeros((n, 28, 28), "float32")
    i = 0
    while i < n:
        one = Image.fromarray(np.asarray(ones[rng.integers(len(ones))], np.uint8)).resize((112, 112), Image.BICUBIC)
        ink = np.asarray(one) > 96
        rows = np.flatnonzero(ink.any(axis=1))
        top, bottom = rows[0], rows[-1]
        tx, bx = np.flatnonzero(ink[top]).mean(), np.flatnonzero(ink[bottom]).mean()
        height = bottom - top
        if abs(tx - bx) > 0.12 * height:
            continue
        width = int(np.clip(ink.sum() / max(height, 1), 6, 14))  # the pen: ink area over stroke length
        draw = ImageDraw.Draw(one)
        length, angle = rng.uniform(0.25, 0.4) * height, np.radians(rng.uniform(130, 150))  # down and to the left
        draw.line([(tx, top), (tx + length * np.cos(angle), top + length * np.sin(angle))], fill=255, width=width)
        if rng.random() < 0.5:
            half = rng.uniform(0.15, 0.3) * height
            draw.line([(bx - half, bottom), (bx + half, bottom + rng.normal(0, 2))], fill=255, width=width)
        out[i] = normalize(np.asarray(one))
        i += 1
    return out


def expose(x, y, ratio, seed):
    """Training data for outlier exposure: digits plus non-digits with uniform targets.

    Args:
        x: float32 `(N, 28, 28, 1)` training digits in [0, 1] (MNIST's
            uint8 over 255); y: one-hot `(N, 10)`. Their pairs make the
            `pairs` family.
        ratio: non-digits per digit (Hendrycks et al. 2019 weight their
            outlier loss 0.5; with equal batches this ratio plays that part).
        seed: the run's seed; the non-digits use seed `[seed, 1]`.

    Returns:
        `(x, y)` with `round(ratio * N)` non-digits appended, their target
        the uniform distribution (cross-entropy to it is the outlier
        exposure loss), and 1s with a flag (`serif_ones`, 2 % of N) with
        their label.
    """
    digits = np.round(255 * x[..., 0]).astype(np.uint8)
    rng = np.random.default_rng([seed, 2])
    ones = serif_ones(digits[y.argmax(axis=1) == 1], int(round(0.02 * len(x))), rng)
    images, _ = generate(int(round(ratio * len(x))), [seed, 1], digits=digits)
    uniform = np.full((len(images), y.shape[1]), 1.0 / y.shape[1], y.dtype)
    one_hot = np.zeros((len(ones), y.shape[1]), y.dtype)
    one_hot[:, 1] = 1
    return np.concatenate([x, ones[..., None], images[..., None]]), np.concatenate([y, one_hot, uniform])
