"""Ink extraction: which side of a picture is ink, how wide its strokes are, and where it lies.

Shared by `normalize` (one digit, `digitrec.preprocessing`) and number
segmentation (`digitrec.segmentation`), steps 2-4 of the pipeline that
`digitrec.preprocessing` describes:

- sensor noise (a photo taken in low light) smoothed away first where it is
  strong enough to hide faint strokes (`denoised`);
- polarity and stroke width from the whole image (`ink_readings`): the side
  of an Otsu split whose strokes have a consistent width (Epshtein, Ofek and
  Wexler 2010), or, on photos whose lighting splits the image into
  soft-edged regions, the thin dark or light structures that black-hat and
  top-hat windows find (`_local_readings`);
- the paper under the ink estimated by a rolling-ball closing three stroke
  widths wide (Sternberg 1983), ink being the darkness relative to it,
  thresholded at Otsu's level or the noise floor (`_ink_mask`); a shade read
  as ink gives way to darker, thinner strokes (`extract_readings`); a tiny
  scan's even paper is also split by one global threshold (`global_split`);
- specks, form lines (`digitrec.formlines`) and the lines of squared and ruled
  paper (`digitrec.pagelines`) dropped.

`extract_ink` and `ink_hypotheses` are the entry points; every filter is
sized from the stroke width, never from the image size.
"""

import contextlib
import functools

import cv2
import numpy as np
from scipy import ndimage

from digitrec import masks
from digitrec._stats import median, percentile
from digitrec.decoding import UNIT_LEVELS
from digitrec.errors import ImageError
from digitrec.formlines import (
    all_form_lines,
    cell_lines,
    drop_form_lines,
    drop_page_edges,
    drop_turned_form_lines,
    has_a_line,
    printed_lines,
)
from digitrec.pagelines import lift_page_lines

STROKE_CV = 0.5  # the most a consistent pen stroke's width varies (coefficient of variation)
# Polarity readings closer than this are both classified (`ink_readings`); chosen on the validation split's
# binary16 renderings (1,000 digits: 96.8 % -> 98.1 %; 0.15: 97.9 %, 0.5: 98.1 % with twice the cost).
POLARITY_MARGIN = 0.3
# The largest share of the image a side of a split may cover and still be read as strokes: a bold digit cropped
# tightly and stretched to fill 16x16 covers up to 80 %. Chosen on the validation split's binary16 renderings (1,000
# digits: 0.7 -> 97.4 %, 0.8 -> 97.9 %, 0.85 and 0.9 as 0.8); the other families unchanged.
MAX_INK_SHARE = 0.8


def stroke_reading(mask, strength, by_area=False):
    """(variation, width, length) of the strokes of a candidate ink mask, after dropping specks.

    Ink drawn with one pen has a nearly constant width; paper between
    strokes, shadows and blotches do not. `variation` is the coefficient of
    variation of the ridge widths (`masks.ridge_widths`), `width` in pixels their
    75th percentile (the median is pulled down by the short ridges of
    jagged, blotchy edges: thick binary scans), or their median weighted by
    width (the pen that laid half the ink) where that is larger: where the
    long thin lines of a printed box around a thick digit make most of the
    ridges; with `by_area` (an Otsu split of the whole picture, which holds
    any printed box), also `_pen_of_most_ink` where that is larger. `length`
    is the area of the largest connected component over the
    width (pixels: how long its strokes run). A mask with no
    pixels, or with more than `MAX_INK_SHARE` of the image, gets an infinite variation.
    """
    if not 0 < np.count_nonzero(mask) / mask.size <= MAX_INK_SHARE:  # mask.mean(), 8 times as fast
        return np.inf, 0.0, 0.0
    mask, areas = masks.drop_specks(mask, strength)
    ridge = masks.ridge_widths(mask, where=True)
    widths = np.sort(ridge[0])
    ink = np.cumsum(widths)  # a ridge pixel stands for about `width` pixels of ink
    width = max(float(percentile(widths, 75)), float(widths[np.searchsorted(ink, 0.5 * ink[-1])]),
                _pen_of_most_ink(mask, ridge) if by_area else 0.0)
    length = float(areas.max() if len(areas) else 0) / max(width, 1.0)
    return float(widths.std() / max(widths.mean(), 1e-6)), width, length


def _pen_of_most_ink(mask, ridge):
    """The width of the pen that laid at least half the ink by area: each connected component's median ridge
    width (`ridge`: `masks.ridge_widths(mask, where=True)`), the median of those weighted by the components'
    areas. A thick stroke's ridge is sparse (the distance map peaks only where the stroke narrows), so that
    the thin printed box around a thick digit holds most ridge pixels, and even most of their widths."""
    widths, (rows, cols) = ridge
    labels, areas = masks.components(mask)
    owner = labels[rows, cols] - 1
    order = np.lexsort((widths, owner))
    owner, widths = owner[order], widths[order]
    first = np.flatnonzero(np.diff(owner, prepend=-1))  # each component's first ridge pixel, by width
    count = np.diff(first, append=len(owner))
    pens = widths[first + count // 2]  # each component's median ridge width
    by_width = np.argsort(pens)
    laid = np.cumsum(areas[owner[first]][by_width])
    return float(pens[by_width][np.searchsorted(laid, 0.5 * laid[-1])])


# Black-hat / top-hat window sides of `_local_readings`, pixels. A window reads strokes only with a wider one beside
# it (to tell that they are whole), and only in a picture at least four windows wide. 129 lets the 65 px window read
# marker strokes 33-65 px wide in a 260-500 px photo (validation marker renderings, 400 at each of two seeds: 95.5 ->
# 96.25 % and 97.25 -> 97.75 %; the other families identical). It is used only where the global split is soft:
# where it is sharp, local readings serve to find strokes thinner than the split's, which it cannot add.
LOCAL_SCALES = (3, 5, 9, 17, 33, 65, 129)
SHARP_SCALE = 65  # windows this wide read strokes only where their edges are sharp (`_edge_sharpness`)
EXACT_HATS = 65  # wider windows' hats are computed on the image in 256 levels (uint8 morphology: 4 times as fast)
# The float32 images an 8-bit picture becomes, level by level: x / 255 (Pillow's path, and `_hats`' wide windows) and
# x * (1 / 255) (`to_grayscale`'s for uint8 arrays) differ by one unit in the last place at 126 of the 256 levels.
EIGHT_BIT = (np.arange(256, dtype=np.float32) / 255, UNIT_LEVELS)
SHARP_EDGE = 0.1  # edge sharpness (1/pixels) under which a two-level split is lighting, not ink
STROKE_WORK = 6.0  # thicker strokes are separated from the paper on a copy where they are this wide, pixels
FINE_WORK = 2.0  # ... but thinner readings of the same polarity stay at least this wide there, pixels (`work_width`)
# A rolling ball must be wider than the ink it rolls under (Sternberg 1983): where it is not, the paper estimate
# there is the ink itself, and the middle of a bold stroke or of a filled blob is taken for paper (a marker's 8 with
# a filled crossing reads "0" or "3"). `ink_readings`'s width may come from another reading than the ink's (a photo's
# local reading of the edges, the thinner digits of a number beside a bold one); where the ink found is more than
# BOLD times as wide (95th percentile of its ridge widths), the paper is estimated again with a ball three times
# that wide. Set a priori; validation (`scripts/read_validation.py`, numbers of MNIST validation digits, 150 of each
# kind): seeds 7 and 11, separate photos 96 -> 100 of 100, one touching pair 93 -> 98 of 100, canvases the same;
# held-out seed 21 the same to the number; 15 families x 300 digits 81 -> 80 wrong (form +1); non-digits read as
# nothing but "?" +1 of 300 at seeds 11 and 21.
BOLD = 1.5
INK_CONTRAST = 0.03  # response above which a thin structure counts when reading polarity and width
# The least ratio of a local reading's side's response to the other's around its strokes (JPEG ringing and grain
# answer on the other side of faint pencil). Chosen on the validation split's photo renderings (1,300 digits: 3 ->
# 97.2 %, 2.5 -> 98.3 %, 2 -> 98.5 %), blank pages unchanged (400 photos and textures: 46 / 47 read as digits).
LOCAL_ASYMMETRY = 2.0
# The least asymmetry of the extra reading `ink_hypotheses` offers where the ink read first is a region (strokes a
# sixth of the picture wide): the most one-sided thin strokes that `LOCAL_ASYMMETRY` turned down (tightly written
# thick strokes, whose gaps answer as light strokes too). Tried once, not tuned: validation photos of numbers (MNIST
# validation digits, 150 with separate digits, seed 11, and 150 with a touching pair, seed 12) 90.0 -> 91.3 % and
# 84.0 -> 85.3 % read exactly, non-digits unchanged; offered for every first reading, 93.3 % and 84.7 %, but
# validation non-digits read as nothing but "?" 28.3 -> 25.0 %.
NEAR_ASYMMETRY = 1.5
# A one-sided thin structure this many times fainter than the strongest one found is texture (grain in a shade),
# not ink: ink is the image's strongest thin structure (found where big photos of thick strokes read as light grain).
FAINT = 4.0
STROKE_LENGTH = 5.0  # the shortest a local reading's longest stroke may be, in stroke widths (not dots, not edges)
# The share of the picture's edge along which a split's light ink may be paper lit beside a hard shadow (`ink_readings`:
# dark thin strokes are offered then too). Set a priori (lit paper beside a shadow crossing the page runs along half
# its edge or more; light strokes touch it at a few points); checked on the validation split (family_validation.py
# --shadow 0.45, and the families without it digit for digit; README).
LIT_EDGE = 0.25
MIN_CONTRAST = 0.1  # the faintest ink kept: darkness relative to the paper (paper texture stays under it)
# A reading of what is ink is a shade, not ink, where one of its polarity this many times thinner finds ink this
# many times darker (median contrasts; `extract_readings`): a pen is darker than any shadow it lies in. Set a priori, the
# width ratio as `ink_readings`'s "three times thicker" and the contrast "half again as dark"; checked on the validation
# split: 300 digits beside a hard-edged band 286 -> 293 of 300 (`scripts/distortion_validation.py band`), and 300
# of each family read digit for digit as before (`scripts/family_validation.py 5 300`). `darkest_class` asks the
# same contrast of a pen's ink over the shadow band that joins it (twice until 2026-12-06, chosen on the validation
# marker renderings without a hard shadow: 400 digits, none 93.5 %, 1.5 95.25 % at twice the cost, 2 95.25 %,
# 2.5 95.0 %; with it, 13 more of 2,500 validation digits under a hard shadow read right, none lost: README).
SHADOW_WIDTH, SHADOW_CONTRAST = 3.0, 1.5
# The share of a thin local reading lying within a thicker one of the other polarity (closed and filled) that makes
# it the paper between its strokes (`_between_strokes`). Chosen on validation renderings: 0.75 gave marker 96.25 ->
# 97.0 % (400, seed 9600) but read a thin digit inside a lit patch of a ruled page, and a big photo, as gaps (1 of 300
# each); 0.9: marker 96.75 % (9600), 97.75 % (9500, unchanged), the other families identical.
GAP_SHARE = 0.9
# Where no local reading's strokes are whole and the page's split is soft (no ink found otherwise), the strokes are
# judged whole on themselves and this share of a stroke width around them (a diameter: a quarter width each side),
# not half a width each side: strokes that run into a soft shadow band are refused there, since the band answers to
# the next window beside them. Set a priori; validation (`scripts/distortion_validation.py marker-band`, 300 digits):
# 276 -> 282 read right, "no ink found" 17 -> 10; everything that read before reads the same (15 families x 300 but
# one marker 9 found, blank pages, numbers, non-digits). Not everywhere: there, a window's partial strokes of a
# number's thick writing passed as whole too (2 of 100 validation photos of numbers lost).
WHOLE_BESIDE = 0.5
FLAT_WINDOW = 1 / 3  # side of the median filter estimating the paper under thick strokes, in the image's shorter side
# A page is unevenly lit where the darkest 5 % of its paper's estimated light (`divided_by_paper`) is under this share
# of the brightest 5 %: a hard shadow 45 % dark leaves 0.55 of the light, a soft one 20-45 % dark 0.8-0.55. Set a
# priori; 5 %, not 1 %: a thick pen's strokes wider than the closing stay in its estimate, over a smaller share of
# the picture than a shadow's (a 280 px canvas, validation seed 31, read a 5 as 0 on its divided copy at 1 %).
UNEVEN_LIGHT = 0.8
PAPER_CLOSING = 0.1  # diameter of the closing that estimates the paper's light, in the picture's shorter side
# side of the median filter that tells dark ink from light (`_dark_ink`), in stroke widths: wide enough that the ink
# is the window's minority, narrow beside a shadow band (10-40 % of the side in `synth.shadowed`). Set a priori;
# 3 and 8 told the polarity of 40 validation renderings of each page family alike (seed 5).
POLARITY_WINDOW = 5
# OpenCV's median filter of uint8 images counts each window in 16-bit histograms: a window of 257 x 257 pixels or
# more overflows them where most of it is one level, and the filter fails (an assertion in `medianBlur_8u_O1`).
MEDIAN_MAX = 255


def _local_readings(gray, finest=0.0, one_sided=LOCAL_ASYMMETRY, scales=LOCAL_SCALES, beside=1.0):
    """Readings `(asymmetry, width, dark, mask, contrast)` of thin structures, one per window side in `scales`.

    The black-hat and top-hat (Serra 1982) hold the dark and light
    structures narrower than the window, whatever the lighting: shadow edges
    (steps) and gradients give nothing. Paper texture and noise fill both
    alike, ink adds to one side only: a reading counts only where, around
    its strokes, its side holds at least `LOCAL_ASYMMETRY` times the other's response; its
    strokes are whole (around them, the response grows by under half at the
    next window side: a plateau of the granulometry, Matheron 1975), consistent
    (`stroke_reading`), narrower than the window, and at
    least five widths long (strokes, not dots or the edges of thicker
    strokes), and at least 1 / `FAINT` of the strongest reading's contrast.
    `asymmetry` is the ratio of the two sides' responses. Windows
    no wider than `finest` pixels are not read: their structures would be
    thinner. Windows of `SHARP_SCALE` px or more read strokes only where
    their largest piece has a pen's sharp edges (`_largest_sharpness`): a
    shadow band that wide has a penumbra. Where a form's line (`drop_form_lines`)
    joins strokes of another width, the strokes are measured without it; a
    reading whose largest piece is one flat bar is such a line, not writing
    (`_one_bar`). `scales`: increasing odd window sides, pixels.
    """
    sides = [side for side in scales if side <= min(gray.shape) // 2]
    hats = _hats(gray, sides)
    readings = []
    for side, hat, wider in zip(sides, hats, hats[1:]):  # the widest window only tells whether strokes are whole
        if side > min(gray.shape) // 4 or side <= finest:
            continue
        floor = max(masks.noise_floor(*hat), INK_CONTRAST)
        found = [_local_reading(hat[ink], hat[1 - ink], wider[ink], floor, side, ink == 0, one_sided, beside)
                 for ink in (0, 1)]  # 0: dark ink (black-hat), 1: light ink (top-hat)
        found = [reading for reading in found if reading]
        if side >= SHARP_SCALE:
            found = [reading for reading in found if _largest_sharpness(gray, reading[3]) >= SHARP_EDGE]
        if len(found) == 1:  # both sides at once: the jagged edges of thicker strokes, not strokes
            readings += found
    readings = [r for r in readings if not _one_bar(r[3], r[1])]
    strongest = max((r[4] for r in readings), default=0.0)
    return [r for r in readings if FAINT * r[4] >= strongest]


def _hats(gray, sides):
    """`[black-hat, top-hat]` of `gray` with square windows of each of the increasing odd `sides` (pixels).

    The dilation and erosion of each window are grown from the previous
    window's (a square window of side a then one of side b cover one of side
    a + b - 1: the same maxima and minima, exactly, at a fraction of the cost).
    Morphology works on `gray` in 256 levels (uint8: about 4 times as fast)
    wherever that is exact: on an 8-bit picture (`gray` is one of
    `EIGHT_BIT`'s lattices), whose maxima and minima are the same levels;
    and for windows wider than `EXACT_HATS` on any, since rounding commutes
    with maxima and minima (their closings and openings are the exact ones
    rounded to 1/255).
    """
    levels = np.round(gray * 255).astype(np.uint8)
    lattice = next((lut for lut in EIGHT_BIT if np.array_equal(cv2.LUT(levels, lut), gray)), None)
    hats, grown, previous = [], [gray, gray], 1
    for side in sides:
        lut = EIGHT_BIT[0] if side > EXACT_HATS else lattice
        if lut is not None and grown[0].dtype != np.uint8:
            grown = [levels, levels] if grown[0] is gray else [np.round(g * 255).astype(np.uint8) for g in grown]
        step, window = (cv2.getStructuringElement(cv2.MORPH_RECT, (s, s)) for s in (side - previous + 1, side))
        grown = [cv2.dilate(grown[0], step), cv2.erode(grown[1], step)]
        closing, opening = cv2.erode(grown[0], window), cv2.dilate(grown[1], window)
        if closing.dtype == np.uint8:
            closing, opening = cv2.LUT(closing, lut), cv2.LUT(opening, lut)
        hats.append([cv2.subtract(closing, gray), cv2.subtract(gray, opening)])  # NumPy's, at a third of the cost
        previous = side
    return hats


def _local_reading(hat, other, wider, floor, side, dark, one_sided, beside=1.0):
    """`(asymmetry, width, dark, mask, contrast)` of the strokes in one hat transform, or None (`_local_readings`).

    `other` is the opposite hat transform and `wider` the same one with the
    next window side; `floor` is the noise floor; the strokes are whole where
    the response within `beside` / 2 stroke widths of them grows by under half.
    """
    if not (hat > floor).any():
        return None
    mask = hat > max(masks.otsu(hat), floor)
    cv, width, length = stroke_reading(mask, hat)
    if cv > STROKE_CV and width and has_a_line(mask, width):  # consistent strokes once a form's thinner line goes?
        lined, mask = mask, drop_form_lines(mask, width, hat)
        if mask is not lined:
            cv, width, length = stroke_reading(mask, hat)
    if not (cv <= STROKE_CV and width < side and length >= STROKE_LENGTH * width):
        return None
    around = cv2.dilate(mask.astype(np.uint8), masks.disk(width)).astype(bool)  # the strokes and their edges
    response = hat[around].sum()
    asymmetry = response / max(other[around].sum(), 1e-6)
    whole = around if beside == 1.0 else cv2.dilate(mask.astype(np.uint8), masks.disk(beside * width)).astype(bool)
    if not (asymmetry >= one_sided and wider[whole].sum() <= 1.5 * hat[whole].sum()):
        return None
    return asymmetry, width, dark, mask, float(median(hat[mask]))


def _one_bar(mask, width):
    """Whether the largest connected component of `mask` (strokes `width` px wide) is a flat horizontal bar: a
    printed line, not writing."""
    labels, areas = masks.components(mask)  # a third of the cost of OpenCV's statistics of every component
    if not len(areas):
        return False
    r0, r1, c0, c1 = masks.bbox(labels == int(areas.argmax()) + 1)
    return r1 - r0 <= 3 * width and c1 - c0 >= 6 * width


def _edge_sharpness(gray, mask, edge=None):
    """How sharp the edges of `mask` are in `gray`: the gradient along them over the contrast, 1/pixels.

    The 30th percentile along the edge, so that a split is sharp only when
    most of its edge is: a pen's edge is one or two pixels wide (about
    0.2-0.5 here, 0.1-0.2 for enlarged tiny scans); a shadow's penumbra spans
    many (under 0.05). By default the edge is measured on both sides of the
    boundary, inner and outer, and the sharper side counts: the gradient is
    zero at the centre of a one-pixel line (a printed box, a grain of salt),
    but not beside it. A split whose sides differ by under twice
    `MIN_CONTRAST` scores 0. `edge` (bool, like `gray`) measures part of
    the edge only.
    """
    if mask.all() or not mask.any():
        return 0.0
    contrast = abs(float(gray[mask].mean()) - float(gray[~mask].mean()))
    if contrast < 2 * MIN_CONTRAST:  # not two levels at all: texture or noise split in two
        return 0.0
    gradient = cv2.magnitude(*(cv2.Sobel(gray, cv2.CV_32F, dx, 1 - dx, ksize=3) / 8 for dx in (1, 0)))
    edges = [edge] if edge is not None else [
        side & ~cv2.erode(side.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) for side in (mask, ~mask)]
    return max((float(percentile(gradient[e], 30)) for e in edges if e.any()), default=0.0) / contrast


def _largest_sharpness(gray, mask):
    """`_edge_sharpness` of the largest connected component of `mask` (0 for an empty mask): the ink's edges, where
    the mask holds pieces of a shadow band too, with soft ones."""
    labels, areas = masks.components(mask)
    return _edge_sharpness(gray, labels == int(np.argmax(areas)) + 1) if len(areas) else 0.0


def _joins_a_shade(gray, split, reading):
    """Whether the two-level `split` is the thin strokes of a local `reading` plus a shade.

    The strokes must have at least half the split's contrast, and what the
    split holds beyond them (and three stroke widths around them) must be a
    shade: soft-edged (`_edge_sharpness`: a penumbra), or, for a harsh
    shadow, a region at least half as wide as the strokes' extent, wider
    than any pen that drew them could be.
    """
    _, width, dark, strokes, contrast = reading
    side = split if dark else ~split
    if contrast < abs(float(gray[split].mean()) - float(gray[~split].mean())) / 2:
        return False
    rest = side & ~cv2.dilate(strokes.astype(np.uint8), masks.disk(6 * width + 1)).astype(bool)
    edge = rest & cv2.dilate((~side).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # not the cut
    if edge.sum() <= strokes.sum() / (4 * width):
        return False
    r0, r1, c0, c1 = masks.bbox(strokes)
    return (_edge_sharpness(gray, side, edge) < SHARP_EDGE
            or float(percentile(masks.ridge_widths(rest), 75)) >= max(r1 - r0, c1 - c0) / 2)


def _edge_share(mask):
    """The share of the picture's edge (its outermost pixels) that the bool `mask` covers, in [0, 1]."""
    edge = np.concatenate([mask[0], mask[-1], mask[1:-1, 0], mask[1:-1, -1]])
    return float(edge.mean())


def _split_sides(gray, t):
    """`(score, width, dark)` of the dark and light sides of the split of `gray` at `t` (Otsu's), the likelier
    ink first: the score is the variation of the side's stroke width (`stroke_reading`) plus half its share of
    the image."""
    return sorted((*_side_score(mask, strength), dark) for mask, strength, dark in
                  ((gray < t, 1.0 - gray, True), (gray > t, gray, False)))


def _side_score(mask, strength):
    """`_split_sides`' `(score, width)` of one side of the split, `mask`: where it is the minority (ink and
    the lines printed with it are), scored without the lines of a form's cell along its sides too (`cell_lines`),
    where it has some, the better of the two standing. A digit cut from a cell on its four lines is dark ink and
    lines on light paper, the lines' long straight runs make the ink's widths vary, and the paper in the cell,
    scored better, was read as light ink (validation digits framed by all four lines, `scripts/family_validation.py
    SEED 400 cell --four-lines`: refused). The paper is not: the rows of paper above a row of boxes, cut off by
    its top line, are no line, and the paper scored without them was read as the ink."""
    lines = cell_lines(mask) if 2 * np.count_nonzero(mask) < mask.size else None
    scored = []
    for ink in [mask] + ([] if lines is None else [mask & ~lines]):
        cv, width, _ = stroke_reading(ink, strength, by_area=True)
        scored.append((cv + 0.5 * ink.mean(), width))
    return min(scored)


def _flat_paper(gray, ink, finest=1.0):
    """Whether the paper beside the `ink` (bool) of a split is one level, as on a drawing (a canvas, a PNG scan).

    Every pixel of the paper side is within 1/255 of the paper's most
    common level but for the ink's anti-aliased edge: within two pixels of
    the ink, or two of `finest`'s in an enlarged tiny image (`ink_readings`). A
    photo's or a scan's paper has grain, and a shade a penumbra: there is
    then nothing beside the strokes for local readings to tell apart from
    them (`ink_readings`).
    """
    levels = np.round(gray * 255).astype(np.uint8)
    paper = levels[~ink]
    if not paper.size:
        return False
    level = int(np.bincount(paper, minlength=256).argmax())
    off = ~ink & (cv2.absdiff(levels, level) > 1)
    near = cv2.dilate(ink.astype(np.uint8), _chamfer_disk(2 * max(finest, 1.0))).astype(bool)
    return not (off & ~near).any()


@functools.cache
def _chamfer_disk(radius):
    """A structuring element: the offsets within `radius` pixels of its centre by `cv2.distanceTransform`'s
    DIST_L2 3x3 chamfer metric (Borgefors 1986). Dilating by it marks the pixels that a distance transform
    would put within `radius` of a set, in a tenth of the time."""
    n = int(np.ceil(radius / 0.9))  # the metric's axial step is 0.955: no farther offset can be within `radius`
    centre = np.ones((2 * n + 1, 2 * n + 1), np.uint8)
    centre[n, n] = 0
    return (cv2.distanceTransform(centre, cv2.DIST_L2, 3) <= radius).astype(np.uint8)


def _flat_reading(gray, strongest):
    """`(dark, width)` of the global split of `gray` flat-fielded, or None: thick strokes in uneven light.

    The paper's brightness is estimated by a median filter a `FLAT_WINDOW`
    of the image's shorter side wide (wider than any stroke it holds, so
    the median is the paper, and a hard shadow's straight edge is kept) and
    subtracted (background estimation then a global split, as in Lu, Su and
    Tan 2010, "Document image binarization using background estimation and
    stroke edges", IJDAR 13). The median runs on a copy of half the size
    (area-averaged, the window halved) and is enlarged back bilinearly: the
    paper's brightness varies at the window's scale, and a quarter of the
    pixels cost a quarter of the time (ImageJ's rolling-ball background
    subtraction shrinks the image for large radii alike; Schindelin et al.
    2012, "Fiji", Nature Methods 9). The reading counts when the largest connected
    component of the ink side of that split has a pen's sharp edges (the
    split may hold pieces of a shadow band too, whose edges are soft) and
    its contrast is more than `FAINT` times the
    `strongest` local reading's: thin local structures that faint beside
    such strokes are paper grain or the gaps between thick strokes.
    """
    h, w = gray.shape
    half = cv2.resize(np.round(gray * 255).astype(np.uint8), ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    paper = cv2.medianBlur(half, min(masks.odd(FLAT_WINDOW * min(gray.shape) / 2), MEDIAN_MAX))
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    flat = np.clip(0.5 + gray - paper, 0.0, 1.0)
    if FAINT * strongest >= float(flat.max() - flat.min()):  # no split of it can be contrasted enough
        return None
    t = masks.otsu(flat)
    (_, width, dark), _ = _split_sides(flat, t)
    if _largest_sharpness(flat, flat < t if dark else flat > t) < SHARP_EDGE:
        return None
    below = flat < t
    if below.all() or not below.any():  # one side empty: no split (and no "Mean of empty slice" warning)
        return None
    contrast = abs(float(flat[below].mean()) - float(flat[~below].mean()))
    return (dark, width) if contrast > FAINT * strongest else None


def divided_by_paper(gray, width=None, dark=False):
    """`gray` (float32 `(H, W)` in [0, 1]) divided by its paper's light where it is dark ink on unevenly lit paper,
    else None; `width` (pixels) is the ink's stroke width where a reading gave one (`stroke_width`), and `dark` says
    that a reading told the ink dark already (a tiny scan's bold strokes may fill most of any window: `_dark_ink`
    cannot tell them).

    A shadow multiplies the light that reaches the paper and the ink on it
    alike, so the picture divided by the light it received shows the ink as
    equally dark on both sides of a hard shadow's edge (flat-field
    correction: reflectance is the image over its illumination, as in
    Retinex; Land and McCann 1971, "Lightness and Retinex theory", JOSA 61).
    The light is the paper's level estimated by a grey-level closing with a
    disk `PAPER_CLOSING` of the picture's shorter side: it fills the dark
    strokes narrower than the disk and keeps the edge of a shadow wider than
    it (Gonzalez and Woods, "Digital image processing": a closing removes
    the dark details smaller than its structuring element). The paper is
    unevenly lit where the darkest 5 % of that light is under `UNEVEN_LIGHT`
    times the brightest 5 %, and the ink is dark where `_dark_ink` says so.
    """
    disk, paper = _paper_light(gray)
    low, high = np.percentile(paper, (5, 95))
    if low >= UNEVEN_LIGHT * high or not (dark or _dark_ink(gray, paper, disk, width)):
        return None
    return np.clip(gray / np.maximum(paper, 1.0 / 255), 0.0, 1.0)


def _paper_light(gray, share=PAPER_CLOSING):
    """`(disk, closing)`: the disk `share` of `gray`'s shorter side and `gray`'s closing by it, the paper's light
    where the ink is dark (`divided_by_paper`, `is_shadow`)."""
    disk = masks.disk(share * min(gray.shape))
    return disk, masks.closing(gray, disk)


SHADOW_SIDE = 64  # `is_shadow` tells shadows on pictures at least this wide (pixels): on a narrower one the closing
# is narrower than bold strokes, which vanish from the quotient too (a bold 4 cut 65 x 33 px from a written number
# was "only a shadow")
SHADOW_CLOSING = 0.2  # diameter of `is_shadow`'s closing, in the picture's shorter side: wider than the bold strokes of
# a digit photographed and cropped to its ink (a pen up to a sixth of its height), which a tenth left as a region that
# vanished from the quotient; 150 such crops (validation digits, scratch script) read 108 -> 134 right, blank photos
# under a hard shadow read as a digit 22 -> 23 of 150 (`scripts/blank_photos.py 3 150 --shadow 0.45`)
SHADE_DARKNESS = 0.55  # `_bold_ink`: regions darker than this, relative to the paper, may be ink: a marker's strokes
# absorb 60-90 % of the light (`synth.tight_bold_photo`), the families' soft shadows 20-45 % and the hard ones tested
# 30-45 %; compounded (a hard shadow 60 % dark over a soft one) they reach 78 %, where the solidity alone tells them
SHADE_SOLIDITY = 0.8  # `_bold_ink`: a region at least this share of its convex hull is a shade (a band or half-plane
# cut by the picture's sides is convex; on 150 blank photos under a shadow 60 % dark the masks of those darker than
# SHADE_DARKNESS measured 0.85-0.96 but 2 (0.73, 0.79); bold digits cropped to their ink 0.54-0.84, bold 1s 0.92-0.94)


def without_shadows(gray, readings):
    """`(readings, shades)`: `readings` of a page `gray` without those that are shadows (`is_shadow`), except a
    shadow beside a thinner reading of its polarity, a pen's ink, which `extract_readings` puts in its place
    (`shades`, the shadows so kept: a list).

    The pen replaces a shadow whatever its contrast: faint pencil is not
    `SHADOW_CONTRAST` times as dark as a hard band 45 % dark, and until
    2026-12-08 such a band stayed a reading, a confident "1"
    (`scripts/family_validation.py 5 100 photo --shadow 0.45`: 92 -> 94 read
    right). Dropping the shadow instead lets a reading of the lit paper
    beside it come first (`normalize` then reads the paper, not the pen).
    """
    shadows = [r for r in readings if is_shadow(gray, r)]
    pens = [r for r in readings if r not in shadows]
    shades = [r for r in shadows if any(p[0] == r[0] and SHADOW_WIDTH * p[1] <= r[1] for p in pens)]
    return [r for r in readings if r not in shadows or r in shades], shades


def is_shadow(gray, reading):
    """Whether a reading `(dark, width)` of a page `gray` (float32 `(H, W)` in [0, 1]) is a region of shade, not ink:
    a region (`_is_region`) whose ink, in the picture (in the reading's polarity) divided by its paper's light (a
    closing as `divided_by_paper`'s, its disk `SHADOW_CLOSING` of the shorter side), is not `MIN_CONTRAST` darker
    than the rest. A shadow's band or half-plane multiplies the paper's light and vanishes from the quotient, ink
    does not (Retinex: reflectance is the image over its illumination; Land and McCann 1971); nor do dark strokes
    wider than the closing, but these are darker than a shade and not convex (`_bold_ink`). Not on a picture
    narrower than `SHADOW_SIDE`."""
    dark, width = reading
    if min(gray.shape) < SHADOW_SIDE or not _is_region(width, gray.shape):
        return False
    try:
        mask = _full_size(*extract_reading(gray, reading)[:2], gray.shape)[1]
    except ImageError:
        return False
    if mask.all() or not mask.any():
        return False
    g = gray if dark else 1.0 - gray
    quotient = g / np.maximum(_paper_light(g, SHADOW_CLOSING)[1], 1.0 / 255)
    paper = float(np.median(quotient[~mask]))
    return paper - float(np.median(quotient[mask])) < MIN_CONTRAST * paper and not (dark and _bold_ink(g, mask))


def _bold_ink(gray, mask):
    """Whether the dark region `mask` (bool) of `gray` (float32, dark on light) that vanished from `is_shadow`'s
    quotient is bold strokes wider than its closing (a felt-tip digit photographed and cropped to its ink), not a
    shade: darker than `SHADE_DARKNESS` (its median level under `1 - SHADE_DARKNESS` of the rest's) and not convex
    (its area under `SHADE_SOLIDITY` of its convex hull's, `skimage.morphology.convex_hull_image`). A shadow's
    half-plane or band meets the picture in a convex region, whatever its darkness; a digit's strokes bend and
    enclose paper."""
    from skimage.morphology import convex_hull_image  # here: few pictures need it

    if np.median(gray[mask]) > (1.0 - SHADE_DARKNESS) * max(float(np.median(gray[~mask])), 1.0 / 255):
        return False
    return int(mask.sum()) < SHADE_SOLIDITY * int(convex_hull_image(mask).sum())


def _dark_ink(gray, closed, disk, width=None):
    """Whether the ink of `gray` (float32 `(H, W)` in [0, 1]) is darker than its paper, by either of two estimates of
    the paper's level around it; `closed` is `gray`'s closing by `disk`, a disk `PAPER_CLOSING` of its shorter side.

    - Median: the picture lies below its median over windows
      `POLARITY_WINDOW` stroke widths `width` wide (pixels; at most twice
      `PAPER_CLOSING` of the shorter side, and that much where `width` is
      None) more than above it. Ink is the minority of such a window, so the
      median is the paper's level there and the ink lies on its side of it
      (the median filter as the paper's estimate: Lu, Su and Tan 2010, see
      `_flat_reading`); paper grain lies on both sides alike, and a straight
      shadow edge gives as much on each side of it.
    - Closing: what the closing fills (the black top-hat) outweighs what the
      opening by the same disk removes (the white top-hat).

    The closing fills the corners between faint thin strokes and a hard
    shadow's edge, which can outweigh the ink (2 of the 8 validation photos
    misread under a hard shadow, `scripts/family_validation.py 5 200 photo
    --shadow 0.45`, were for it); the median is fooled where a bold digit's
    loops or the lit paper between two shadow bands are narrower than its
    window (alone it lost 4 of 150 `marker` digits under the shadow, seed 7).
    A false "dark" only offers one more reading for the classifier to choose
    among; a false "light" withholds the one that shows the digit.
    """
    limit = 2 * PAPER_CLOSING * min(gray.shape)
    window = limit if width is None else min(max(3.0, POLARITY_WINDOW * width), limit)
    levels = np.round(gray * 255).astype(np.uint8)
    paper = cv2.medianBlur(levels, min(masks.odd(window), MEDIAN_MAX))
    if int(paper.sum(dtype=np.int64)) > int(levels.sum(dtype=np.int64)):
        return True
    light = 1.0 - gray
    return float((closed - gray).sum()) > float((masks.closing(light, disk) - light).sum())


def stroke_width(readings, shape):
    """The stroke width (pixels) of the first of `readings` (`(dark, width)` pairs) that reads strokes, not a region
    (`_is_region`) in a picture of `shape`; None where none does."""
    return next((width for _, width in readings if not _is_region(width, shape)), None)


def _between_strokes(thin, thick):
    """Whether the strokes of the local reading `thin` are the paper between those of `thick`, of the other polarity.

    They are when at least `GAP_SHARE` of them lie within `thick`'s strokes
    once these are closed by a disk a stroke wide and their holes filled:
    the narrow paper inside a loop or between two strokes of a marker digit
    answers as a thin stroke of the other polarity (Gonzalez and Woods,
    "Digital image processing": closing fills the gaps narrower than the
    structuring element, hole filling the enclosed background).
    """
    _, width, _, strokes, _ = thick
    closed = cv2.morphologyEx(strokes.astype(np.uint8), cv2.MORPH_CLOSE, masks.disk(width + 1))
    inside = ndimage.binary_fill_holes(closed)
    return (thin[3] & inside).sum() >= GAP_SHARE * thin[3].sum()


def ink_readings(gray, finest=1.0):
    """Decide the ink's polarity and stroke width from the whole image.

    `finest` (pixels) is the width of one source pixel in an enlarged tiny
    image: thinner local structures are resampling artifacts (the edges of
    thick strokes), not strokes.

    Ink is drawn with one pen, so its strokes have a nearly constant width
    (the stroke-width consistency of Epshtein, Ofek and Wexler 2010), and
    they are thin. Two kinds of reading:

    - global: the two sides of an Otsu split, the ink being the side whose
      width varies least, plus half its share of the image (ink is thin and
      usually the minority, but may fill most of a tight crop, and it need
      not be the side that fills the border), as on scans, crops and
      canvases, where the split has a pen's
      sharp edges (`_edge_sharpness`) and strokes may be thick and touch or
      fill the frame;
    - local (`_local_readings`): thin dark or light structures, as on photos,
      where lighting and shadows make the global split meaningless (soft
      edges: a shadow's penumbra, or no two levels at all), or join the
      strokes to something three times wider whose own edges are soft (a
      shadow band). The most one-sided local reading wins; the global one
      stands when there is none. Where its thin strokes lie within a
      thicker reading's of the other polarity (`_between_strokes`), they are
      the paper between those, and the thicker reading alone stands; where a
      reading of the other polarity three times thicker was found otherwise,
      that one comes second: the thin strokes may still be the paper between
      thick ones (a 2's narrow loop written in a felt-tip marker), and the
      classifier decides;
    - flat-fielded (`_flat_reading`): where the split is soft, the global
      reading of the image with its paper's brightness subtracted, when
      its edges are sharp and the local readings are faint beside it
      (thick marker strokes in a shade, too wide for the local windows).

    On a drawing (a sharp split of consistent strokes, not a region, on
    paper of one level: `_flat_paper`) there is no shade and no texture, and
    local readings are not looked for: on the drawing page's canvases they
    found only the pen's anti-aliased rim, and cost two thirds of the time.

    When the global reading stands and its two sides score within
    `POLARITY_MARGIN` of each other (thick strokes that fill a tight crop,
    so that the paper between them looks like strokes too), both are
    returned, the better first: the classifier decides
    (`normalize_hypotheses`). So does it where the split is sharp and thin
    strokes were found too, but not joined to a shade (a digit beside a
    hard-edged shadow, or one drawn inside a dark region): the most one-sided
    local reading comes last. Dark strokes count there too where the
    split's ink is light and runs along a quarter of the picture's edge
    (`LIT_EDGE`): the paper lit beside a hard shadow that crosses a form's
    box or line, in pieces no wider than strokes; there the most one-sided
    dark strokes of any width come last in every case (a pen's strokes in a
    scan half in shadow are as wide as a third of the lit paper's, or thin
    light strokes along the shadow's edge were found: validation digits of
    the `form` family under a hard shadow 45 % dark,
    `scripts/family_validation.py 5 200 form --shadow 0.45`, 164 -> 176
    read right, with the box fix of `formlines.drop_form_lines` (1d33992);
    held-out seed 6: 169 -> 176, and 189 -> 195 at 30 %; unshadowed families,
    blank pages and non-digits as before); where no local reading found
    dark strokes there (salt and pepper noise), the darkest of three levels
    (`_darkest_level`). Where the split's ink is a
    region, strokes of any narrower width count there, and in a picture that
    was not enlarged the flat-fielded reading comes last too: the region may be the paper lit
    beside a soft shade whose border is a sliver of the split's edge, the
    rest being the sharp edges of thick strokes on both sides of it.

    Where nothing reads and the split is soft, the local readings are looked
    for again with strokes judged whole on a narrower margin around them
    (`WHOLE_BESIDE`): strokes that run into a soft shadow band. Where the
    soft split's ink is a region that crosses the picture but does not
    reach all four of its sides (`_is_shade`), and the picture is read at
    its own size (not a tiny scan enlarged), there is no ink: a region with
    a penumbra for an edge, from side to side, is a shade, such as a pen's
    or a ruler's shadow band across a blank page, which was read as a "1".
    Blank phone photos (`scripts/blank_photos.py 7 300`, 7 in 10 with a
    soft shadow band) read as a digit, the code before and after: 25 -> 15
    of 300 (`--read`: 24 -> 15); with a hard-edged shadow too (`--shadow
    0.45`) 58 -> 52; empty form fields (`--field`) 10 -> 7. Validation
    digits (`family_validation.py` draws, 100 a family: seed 31; seed 5
    blurred by 1.5 px; seed 5 under a hard shadow 45 % dark), with the rule
    alone (no region's extent asked, so that it fires on more pictures),
    read as before but one faint pencil 1 under a hard shadow, whose band
    had been read as the "1". Tried on 2026-12-06 without the extent, the
    rule cost test digits cropped to their ink, enlarged to 200 px tall,
    blurred by 3 or 6 px and noisy 2 and 5 of 200 (a bold 1 out of focus,
    cropped, is a band's shape); as it is now, 0 and 1 of 200 (ad-hoc
    script, JPEG quality 80).

    Returns:
        list of one to five `(dark, width)`: True for dark ink on light
        paper; the stroke width in pixels.

    Raises:
        ImageError: nothing in the image looks like ink.
    """
    t = masks.otsu(gray)
    sharpness = _edge_sharpness(gray, gray < t)
    sharp = sharpness >= SHARP_EDGE
    soft = None if sharp else _soft_readings(gray, sharpness, finest)
    if soft:  # the split's sides are scored only where it is sharp or nothing else reads (a photo's: costly)
        return soft
    (score, width, dark), (other, other_width, _) = _split_sides(gray, t)
    region = _is_region(width, gray.shape)  # the split's ink is a region, not strokes: either polarity may be ink
    doubt, beside = [], []
    if sharp:  # a sharp split, unless one side joins full-contrast thin strokes to a shade
        # only local strokes under a third of its width count: none can be when that is `finest`, and none are
        # looked for in a drawing, whose paper is one level (`_flat_paper`)
        drawn = not region and score <= STROKE_CV and _flat_paper(gray, gray < t if dark else gray > t, finest)
        local = [] if drawn or width / 3 <= finest else [
            r for r in _local_readings(gray, finest, scales=LOCAL_SCALES[:-1]) if r[1] >= finest]  # see LOCAL_SCALES
        strongest = max((r[4] for r in local), default=0.0)
        # strokes under a third of the split's width (not the gaps between its strokes), or, where its ink is a
        # region (a bold crop, or the paper lit beside a shade), any narrower strokes of either polarity; in doubt,
        # also dark ones where the split's ink is light and runs along much of the picture's edge (the paper lit
        # beside a hard shadow)
        lit = not dark and _edge_share(gray >= t) >= LIT_EDGE
        narrower = [r for r in local if r[1] < (width if region else width / 3) and (r[2] == dark or region or lit)]
        darkest = max((r for r in local if r[2]), key=lambda r: r[0], default=None)  # the most one-sided dark strokes
        beside = ([(True, darkest[1])] if darkest else _darkest_level(gray)) if lit else []  # a hard shadow's ink
        local = [r for r in narrower if (r[2] == dark or region) and _joins_a_shade(gray, gray < t, r)]
        doubt = [(r[2], r[1]) for r in [max(narrower, key=lambda r: r[0])]] if narrower and not local else []
        if region and not local and finest <= 1:  # the region may be paper lit beside a shade (not in a tiny scan)
            doubt += [r for r in [_flat_reading(gray, strongest)] if r]
        if local:
            return list(dict.fromkeys(_stroke_readings(local) + beside))
    elif region and finest <= 1 and _is_shade(gray < t if dark else gray > t):
        raise ImageError("no ink found: only a soft-edged shade (a shadow or uneven light), no strokes")
    found = [(dark, width)] + ([(not dark, other_width)] if other - score < POLARITY_MARGIN else []) + doubt + beside
    return list(dict.fromkeys(found))


def _soft_readings(gray, sharpness, finest):
    """`ink_readings` of a picture whose Otsu split is soft (`sharpness` under `SHARP_EDGE`), or None where it
    falls back on the split: the flat-fielded reading, else the local strokes; where the split has no edges at
    all, the local strokes judged whole on a narrower margin.

    Raises:
        ImageError: no edges and no strokes (a blank page in uneven light).
    """
    local = [r for r in _local_readings(gray, finest) if r[1] >= finest]
    flat = _flat_reading(gray, max((r[4] for r in local), default=0.0))
    if flat:  # light ink there may be the paper between bold dark strokes, which fooled the median: both come
        return [flat] + ([] if flat[0] else _dark_side(gray))
    if local:
        return list(dict.fromkeys(_stroke_readings(local)))
    if sharpness >= SHARP_EDGE / 3:
        return None
    # no strokes, and no edges at all: a blank page in uneven light, or strokes that run into a soft shadow band,
    # which answers beside them to the next window too (see WHOLE_BESIDE)
    near = [r for r in _local_readings(gray, finest, beside=WHOLE_BESIDE) if r[1] >= finest]
    if not near:
        raise ImageError("no ink found: the image is blank or has too little contrast")
    return _stroke_readings(near)


def _dark_side(gray):
    """`[(True, width)]`, the dark side of `gray`'s Otsu split as a reading, or `[]` where it has no strokes.

    The flat-fielded reading's median (`_flat_reading`) is the ink where
    bold strokes fill most of its window, as in a felt-tip digit
    photographed and cropped to its ink: the paper between them then reads
    as light strokes. The dark side comes second and the classifier decides
    (`normalize_hypotheses`), as where the global split's sides score alike
    (`POLARITY_MARGIN`). 150 such crops of validation digits
    (`synth.tight_bold_photo`, scratch script): 134 -> 137 read right at
    seed 5, 139 both at seed 8; 17 families under a hard shadow and
    unshadowed (seed 5) and blank photos under a hard shadow as before.
    """
    _, width = _side_score(gray < masks.otsu(gray), 1.0 - gray)
    return [(True, width)] if width > 0 else []


def _is_shade(region):
    """Whether the soft split's bool `region` crosses the picture (`_crosses`: a band, or a shadow's side) without
    reaching all four of its sides, as the ink of a crop cut to it does (`ink_readings`)."""
    return _crosses(region) and not masks.reaches_every_side(region)


def _is_region(width, shape):
    """Whether a reading `width` px wide in a picture of `shape` is a region rather than strokes: as wide as a sixth
    of the picture's shorter side."""
    return width >= min(shape) / 6


def _darkest_level(gray):
    """`[(True, width)]` for the darkest class of a three-class Otsu split of `gray` (Liao, Chen and Chung 2001,
    `skimage.filters.threshold_multiotsu`) where its strokes are consistent (`stroke_reading`; specks dropped)
    and not a region (as wide as a sixth of the picture, as in `ink_readings`), else `[]`: the ink of a picture
    whose paper a hard shadow splits into a lit and a shaded level, where no local reading found dark strokes
    (salt and pepper noise answers both ways alike). Validation digits under a hard shadow 45 % dark
    (`scripts/family_validation.py 5 200 --shadow 0.45`, with the rest of that day's change to `ink_readings`):
    `noise` 150 -> 189 of 200, `tight16` 171 -> 184, all 15 families 283 -> 194 wrong of 3,000; held-out seed
    6, 100 each: 123 -> 88 wrong of 1,500 (`noise` 79 -> 97); unshadowed, blank pages and non-digits as before
    (README)."""
    from skimage.filters import threshold_multiotsu  # here: few pictures need it

    try:
        low = threshold_multiotsu(gray, classes=3)[0]
    except ValueError:  # under three levels (a binary picture): no third class
        return []
    variation, width, _ = stroke_reading(gray < low, 1.0 - gray)
    return [(True, width)] if variation <= STROKE_CV and not _is_region(width, gray.shape) else []


def _stroke_readings(local):
    """`ink_readings`'s answer from local readings of strokes (`_local_readings`): the most one-sided one, then the
    most one-sided of the other polarity at least three times thicker, whose gaps it may be; or that thicker one
    alone where the thin strokes lie within it (`_between_strokes`). Where the most one-sided reading is printed
    lines (`formlines.printed_lines`: a form photographed, its 1 px lines more one-sided than a pen's strokes,
    which at that width leave only crumbs), the most one-sided of its polarity at least three times thicker comes
    last: the pen's."""
    best = max(local, key=lambda r: r[0])
    other = max((r for r in local if r[2] != best[2] and r[1] > best[1]), key=lambda r: r[0], default=None)
    if other and _between_strokes(best, other):  # the most one-sided thin strokes are the paper between thick ones
        return [(other[2], other[1])]
    _, width, dark, mask, _ = best
    thick = [r for r in local if r[2] != dark and r[1] >= 3 * width]  # whose gaps may be the thin strokes
    pen = [r for r in local if r[2] == dark and r[1] >= 3 * width] if printed_lines(mask, width) is not None else []
    return [(dark, width)] + [(r[2], r[1]) for kind in (thick, pen) for r in sorted(kind, key=lambda r: -r[0])[:1]]


def _separate(g, width, dashes=True, page=True):
    """Ink and mask of dark ink `g` (float32, dark on light) drawn `width` px wide (see `extract_ink`), and the ink's
    median contrast (darkness relative to the paper, in [0, 1]). `dashes=False` drops a skipping pen's dashes as
    specks too (`masks._near_strokes`): in a number's candidate digit, the specks are its neighbours' cut-off slivers.
    `page=False` keeps what lies along the picture's sides (`formlines.drop_page_edges`): a tiny scan enlarged.

    Where the ink found holds strokes more than `BOLD` times wider than `width` (the 95th percentile of its ridge
    widths), the paper is estimated again with a rolling ball sized from those (`_ink_mask`)."""
    contrast, threshold, mask = _ink_mask(g, width, width, dashes, page)
    bold = float(percentile(masks.ridge_widths(mask), 95))
    if bold > BOLD * width:
        with contextlib.suppress(ImageError):  # the wider ball finds no ink beyond its noise floor: the first stands
            contrast, threshold, mask = _ink_mask(g, width, bold, dashes, page)
    level = float(percentile(contrast[mask], 90))
    low = 0.5 * threshold
    ink = np.clip((contrast - low) / max(level - low, 1e-6), 0.0, 1.0)
    ink *= cv2.dilate(mask.astype(np.uint8), masks.disk(width / 2)).astype(bool)
    return ink, mask, float(median(contrast[mask]))


def _ink_mask(g, width, ball, dashes, page):
    """`_separate`'s contrast (the darkness relative to the paper), threshold and ink mask, without form lines, the
    table beside the page (where `page`) and specks, for strokes `width` px wide, the paper being the closing by a
    disk of `3 * ball + 1` px."""
    paper = masks.closing(g, masks.disk(3 * ball + 1))
    contrast = np.clip((paper - g) / np.maximum(paper, 0.05), 0.0, 1.0)
    otsu = masks.otsu(contrast)
    paper_side = contrast[contrast <= otsu]  # the noise floor is measured on the paper, which may be the minority
    threshold = max(otsu, masks.noise_floor(paper_side), MIN_CONTRAST)
    mask = contrast > threshold
    if not mask.any():
        raise ImageError("no ink found: nothing stands out from the background")
    mask = drop_turned_form_lines(mask, width, contrast)
    mask = drop_page_edges(mask, width, contrast) if page else mask
    mask = masks.drop_specks(mask, contrast, tall=True, reach=masks.SKIP_REACH * width * dashes)[0]
    return contrast, threshold, mask


def extract_ink(gray, whole=None):
    """Separate ink from paper: the stage that `normalize` and number segmentation share.

    The polarity and stroke width come from `ink_readings`; strokes wider than
    `STROKE_WORK` are separated on a copy shrunk until they are that wide
    (every filter is sized from the stroke width, so this changes nothing
    but the cost), or less where a thinner reading of their polarity would
    fall under `FINE_WORK` px there (`work_width`). The paper under the ink is a morphological closing (a
    rolling-ball background, Sternberg 1983) with a disk three stroke widths
    wide: it removes the strokes and keeps lighting gradients and shadow
    edges, which are wider or are steps. Ink contrast is the darkness
    relative to that paper (a flat field), so ink in a shadow keeps its
    contrast; it is thresholded at max(Otsu, 4 robust noise sigmas of the
    paper), with a wider ball where the ink found is bolder than the
    reading's width (`BOLD`); specks and form lines (`drop_form_lines`) are dropped, but not
    the dashes of a skipping pen near the strokes (`masks._near_strokes`).

    Args:
        gray: float32 `(H, W)` in [0, 1], either polarity.
        whole: `(dark, width)`, the reading of a larger picture that `gray`
            was cropped from, or None (`ink_hypotheses`).

    Returns:
        `(ink, mask)`: float32 `(H, W)` in [0, 1] (light ink on zero) and the
        bool mask of the kept ink.

    Raises:
        ImageError: no ink (a blank or uniform image).
    """
    return ink_hypotheses(gray, alternatives=False, whole=whole)[0]


def ink_hypotheses(gray, alternatives=True, whole=None):
    """`extract_ink`'s ink and mask, and the other readings' where what is ink is in doubt.

    The readings are `ink_readings`'s, as for `normalize_hypotheses`, and, where
    the first is a region rather than strokes, the most one-sided thin
    strokes that were not one-sided enough to count (`NEAR_ASYMMETRY`);
    each reading whose ink has a second, darker level (a shadow band joined
    to the strokes: `darkest_class`) is offered with that level alone too,
    as `normalize_hypotheses` offers it for one digit. A caller that can
    judge the results (reading a number, by how much its digits look like
    digits) chooses among them.

    `whole` is the first reading `(dark, width)` of a larger picture that
    `gray` was cropped from (`read_ink`), or None: where none of `gray`'s
    own readings has its polarity, it is read as the whole was.

    Returns:
        list of `(ink, mask)` as `extract_ink` returns them, 1 to 8 of them;
        `[0]` is `extract_ink(gray)`. Only the first with `alternatives=False`.

    Raises:
        ImageError: as for `extract_ink`.
    """
    return hypotheses(*read_ink(gray, whole), alternatives)


def read_ink(gray, whole=None, finest=1.0, lift=True):
    """The picture whose ink is read and its `ink_readings` (`finest` as there), for `hypotheses` and `normalize`:
    `gray` (float32 `(H, W)` in [0, 1]) median-filtered where it is noisy (`denoised`), with the lines of squared
    or ruled paper lifted where `lift` (`lift_page_lines`); `whole` as for `ink_hypotheses`.

    Raises:
        ImageError: "no ink found" where `gray` has too little contrast (`check_contrast`).
    """
    check_contrast(gray)
    gray = denoised(gray)
    gray = lift_page_lines(gray) if lift else gray
    readings = ink_readings(gray, finest)
    if whole and all(dark != whole[0] for dark, _ in readings):  # a tight crop of bold strokes read inside out
        readings = [whole]
    return gray, readings


def hypotheses(gray, readings, alternatives=True):
    """`ink_hypotheses` of the picture `gray` and its `readings`, as `read_ink` gives them."""
    region = _is_region(readings[0][1], gray.shape)  # the ink read first is a region, not strokes
    near = _local_readings(gray, 1.0, one_sided=NEAR_ASYMMETRY) if alternatives and region else []
    if near:  # the most one-sided thin strokes, though not one-sided enough to count
        _, width, dark, _, _ = max(near, key=lambda r: r[0])
        readings = readings + ([] if (dark, width) in readings else [(dark, width)])
    found = extract_readings(gray, readings, alternatives)
    if alternatives:  # each reading's darkest class too, where its ink has two levels (a shadow band joined to it)
        found += [(ink * core, core) for ink, mask in found if (core := darkest_class(ink, mask)) is not None]
    return [_full_size(ink, mask, gray.shape) for ink, mask in found]


def _full_size(ink, mask, shape):
    """`extract_reading`'s ink and mask brought back to the `shape` of the image they came from."""
    if ink.shape == shape:
        return ink, mask
    h, w = shape
    ink = np.clip(cv2.resize(ink, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return ink, cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5


# Noise (standard deviation, in levels of 1) over which a picture is median-filtered before its ink is read: over
# the 3.0 levels at most that `noise_level` gives the photo, marker, grid, ruled and form renderings (100 validation
# renderings each; 0 for scans, canvases and salt-and-pepper noise), under the 5.2-6.7 of the same with Gaussian
# noise of 8 levels per colour channel. At that noise the 4-sigma noise floor of the ink thresholds (0.078) nears
# MIN_CONTRAST, the faintest ink kept.
NOISE_GATE = 5 / 255


def noise_level(gray):
    """The standard deviation of Gaussian noise in float32 `gray` `(H, W)`, in its levels.

    Donoho and Johnstone's (1994) estimate: the median absolute finest
    diagonal wavelet coefficient over 0.6745, with Haar's wavelet ((a - b -
    c + d) / 2 of each 2x2 block) where `skimage.restoration.estimate_sigma`
    takes Daubechies' db2: Haar's support leaves horizontal and vertical
    edges at zero, so a bilevel scan or drawing has no noise at any size
    (db2 gave binary digits of 64-100 px 6-17 levels), and it takes a third
    of the time.
    """
    g = gray[: gray.shape[0] // 2 * 2, : gray.shape[1] // 2 * 2]
    diagonal = (g[0::2, 0::2] - g[0::2, 1::2]) - (g[1::2, 0::2] - g[1::2, 1::2])
    return float(np.median(np.abs(diagonal))) / 2 / 0.6745


def denoised(gray):
    """`gray` (float32 `(H, W)` in [0, 1]) median-filtered over 3x3 pixels where its `noise_level` exceeds
    `NOISE_GATE`.

    The 3x3 median (Tukey 1977) removes Gaussian and salt-and-pepper noise
    alike and keeps strokes two pixels wide or more, as photos with that
    much noise have. Without it, the 4-sigma noise floor of the ink
    thresholds rises over faint strokes and the local readings find the
    noise as one-sided as the ink: with Gaussian noise of 16 levels, 100
    validation photos of squared paper read 83 right and 6 without ink,
    98 and none with it.
    """
    if noise_level(gray) <= NOISE_GATE:
        return gray
    return cv2.medianBlur(np.ascontiguousarray(gray, dtype=np.float32), 3)


def check_contrast(gray):
    """Raises ImageError ("no ink found") where float32 `gray`'s levels span less than 0.08."""
    if float(gray.max() - gray.min()) < 0.08:
        raise ImageError("no ink found: the image is blank or has too little contrast")


def extract_reading(gray, reading, dashes=True, finest=None, page=True, enlargement=1):
    """`extract_ink`'s ink and mask, on the copy where thick strokes are `STROKE_WORK` px wide, and the ink's median
    contrast (`_separate`, which takes `dashes` and `page`).

    `reading` is `(dark, width)`, one of `ink_readings`'s; `finest` (pixels)
    is the thinnest reading of its polarity, if any, and `enlargement` how
    many times a tiny scan was enlarged to `gray`: see `work_width`.
    """
    check_contrast(gray)
    dark, width = reading
    g = gray if dark else 1.0 - gray
    work = work_width(width, finest, enlargement)
    if work == width:
        return _separate(g, width, dashes, page)
    return _separate(masks.rescale(g, work / width), work, dashes, page)


def work_width(width, finest=None, enlargement=1):
    """The stroke width, pixels, on the copy where `extract_reading` separates strokes `width` px wide.

    `width`, or `STROKE_WORK` where that shrinks the copy by more than a
    quarter; but never so small that structures `finest` px wide (a thinner
    reading of the same polarity: a printed box's lines beside a marker's
    strokes) become thinner than `FINE_WORK` px: shrunk further, such lines
    fade into the paper in pieces, and a box's remnants are no longer a box
    (`drop_form_lines`); nor, for a tiny scan enlarged `enlargement` times,
    smaller than the scan itself: a scan out of focus has a fat Otsu split,
    so its strokes read several times wider than they are (a 3 blurred by 2
    px at 28x28: 26.8 px in the 84 px working image, 7.6 unblurred), and the
    copy where they are 6 px wide, 19 px a side, closed its loops into a blob
    read "1". Validation digits blurred by 2 px (`scripts/family_validation.py
    5 200 clean inverted binary32 tight16 stretched16 binary16 --blur 2`):
    510 -> 492 wrong of 1,200 (`clean` 147 -> 153, `inverted` 147 -> 154,
    `binary32` 182 -> 185 of 200).
    """
    work = max(STROKE_WORK, FINE_WORK * width / finest) if finest else STROKE_WORK
    if enlargement > 1:
        work = max(work, width / enlargement)
    return width if work / width > 0.75 else work


# The share of `global_split`'s ink that the other readings must have lost for it to be offered: a quarter. Set a
# priori; the first reading keeps 85-95 % of it for undistorted scans, letters and shapes of 16-28 px (the 5th and 50th
# percentiles), and 27-89 % for scans of 16 px blurred by 1 px (5th and 50th; validation renderings, 60 each).
KEPT_SHARE = 0.75


def global_split(gray, dark, kept):
    """A tiny scan's ink read by one global threshold: the `dark` (else light) side of Otsu's (1979) split of
    float32 `gray` `(H, W)` in [0, 1], as scans of forms were read (the paper of a scan cropped to one digit is
    even), its strength rising from the paper's median level to the ink's 10th percentile. Returns `(ink, mask)`
    as `extract_ink` does, or None where that side covers more than `MAX_INK_SHARE` of the picture, or where
    `kept` (bool, like `gray`: the ink the other readings kept) holds `KEPT_SHARE` of it or more: another reading of
    the same ink is only another chance for a letter or a shape to pass for a digit.

    `_ink_mask`'s threshold serves photos: it is at least 4 robust sigmas of
    the paper side's levels, their noise and texture. In a scan of 16 px
    whose strokes the scanner's optics blurred and which the digit fills,
    that side is mostly the strokes' soft shoulders, the floor rises to 0.8
    of the contrast, and only the strokes' darkest cores are kept (a 0 read
    as a 1, an 8 as a 1). The classifier chooses among the readings
    (`Recognizer.choose`).
    """
    g = gray if dark else 1.0 - gray
    mask = g <= masks.otsu(g)
    if not 0 < np.count_nonzero(mask) <= MAX_INK_SHARE * mask.size:
        return None
    if np.count_nonzero(mask & kept) >= KEPT_SHARE * np.count_nonzero(mask):
        return None
    paper, core = float(median(g[~mask])), float(percentile(g[mask], 10))
    return np.clip((paper - g) / max(paper - core, 1e-3), 0.0, 1.0).astype(np.float32), mask


def global_splits(gray, readings, found):
    """`global_split` of `gray` in the polarity of the first of `readings` (`ink_readings`'s), beside the `(ink,
    mask)` list that `extract_readings` `found` (at any size): a list of one `(ink, mask)` or none.

    The other polarity's split, where the polarity is in doubt, is the paper between the strokes of a digit that
    fills its frame, a block that reads as a "1": offered too, it read 4 more of scikit-learn's 8x8 digits wrong
    (8s as 1s, the rejection threshold aside; `scripts/stretched_dev.py --sklearn`), though 13 more of 2,400
    tiny validation renderings blurred by 1 px right (`scripts/family_validation.py 6 300 ... --blur 1`).
    """
    kept = np.logical_or.reduce([_full_size(ink, mask, gray.shape)[1] for ink, mask in found])
    split = global_split(gray, readings[0][0], kept)
    return [split] if split else []


def darkest_class(ink, mask, page=True):
    """The mask of the darker class of Otsu's split of the ink's strength, where it is a second, darker level.

    A shadow band no wider than three strokes passes the rolling-ball
    background and joins the strokes it crosses (a pen or a ruler lying on
    the page); a pen's ink is darker than any shadow, and darker still inside
    one. Where Otsu's split of the strength within `mask` leaves a darker
    class at least `SHADOW_CONTRAST` times as strong on average as the lighter,
    each with at least a tenth of the pixels, the lighter class reaches the
    picture's border and at least a quarter of it lies more than a stroke
    width from the darker (a band crossing the page, not the soft edges of
    the strokes themselves, nor the strokes that a shaking hand smeared
    lighter across the direction of its motion, which stay within the
    digit), the darker class is returned (Otsu applied again to the darker
    side, as Cheriet, Said and Suen 1998, "A recursive thresholding technique for
    image segmentation", IEEE TIP 7, extract the darkest object of a
    cheque); else None. On a `page` (a picture read at its own size, not a
    tiny scan enlarged, whose ink may touch its frame), the darker class
    must not cross the picture itself (`_crosses`): then it is a band too,
    darker than a form's printed line under it, or where two shadows
    overlap. The classifier decides between the two (`Recognizer.choose`).
    """
    strength = ink[mask]
    darker = strength > masks.otsu(strength)
    if not 0.1 <= darker.mean() <= 0.9:
        return None
    if strength[darker].mean() < SHADOW_CONTRAST * strength[~darker].mean():
        return None
    core = np.zeros_like(mask)
    core[mask] = darker
    lighter = mask & ~core
    if not (lighter[[0, -1]].any() or lighter[:, [0, -1]].any()):  # no band crossing the picture (motion blur)
        return None
    if page and _crosses(core):
        return None
    near = cv2.dilate(core.astype(np.uint8), masks.disk(2 * float(median(masks.ridge_widths(core))) + 1)).astype(bool)
    return core if (lighter & ~near).sum() >= 0.25 * lighter.sum() else None


def _crosses(mask):
    """Whether a connected component of the bool `mask` reaches two sides of the picture (a band crossing it)."""
    labels, areas = masks.components(mask)
    reached = sum(np.bincount(side, minlength=len(areas) + 1) > 0 for side in (labels[0], labels[-1], labels[:, 0],
                                                                                labels[:, -1]))
    return bool((reached[1:] >= 2).any())


def extract_readings(gray, readings, alternatives, page=True, enlargement=1, shades=()):
    """`(ink, mask)` of `extract_reading` for each of `readings` that finds ink (the first only, without `alternatives`),
    each shade replaced by the ink it was read instead of.

    A pen's ink is darker than any shadow it lies in or beside: a reading
    is a shade (a hard-edged shadow band, read as a bar: a "1") where a
    reading of its polarity at least `SHADOW_WIDTH` times thinner finds ink
    `SHADOW_CONTRAST` times its median contrast, or at any contrast where it
    is one of `shades` (`is_shadow` told it: `without_shadows`); the darkest
    such reading takes its place (once). Where the first reading that finds ink is that
    much wider than others of its polarity, they are extracted too,
    alternatives or not, so that `extract_ink` and `normalize` read what
    their alternatives' first is. `page` and `enlargement` as for `extract_reading`.

    Raises:
        ImageError: no reading finds ink (the first one's error).
    """
    def finest(reading):  # the thinnest reading of its polarity
        return min(width for dark, width in readings if dark == reading[0])

    def extract(reading):
        return (reading, *extract_reading(gray, reading, finest=finest(reading), page=page, enlargement=enlargement))

    def thinner(reading, than):  # of the same polarity, at least SHADOW_WIDTH times thinner
        return reading[0] == than[0] and SHADOW_WIDTH * reading[1] <= than[1]

    found = first_found(extract, readings, alternatives)
    narrower = [] if alternatives else [r for r in readings if thinner(r, found[0][0])]
    with contextlib.suppress(ImageError):  # thinner readings that find no ink are no evidence
        found += first_found(extract, narrower, every=True) if narrower else []
    pens = [f for f in found if not all_form_lines(f[2], work_width(f[0][1], finest(f[0]), enlargement))]
    found = pens or found  # a reading that finds a printed box alone, beside one that finds a pen's ink, is no ink
    kept = {}  # reading: (ink, mask), in the order of the readings they stand for
    for f in found:  # each replaced by the darkest reading that shows it up as a shade, if any
        darker = [o for o in found if thinner(o[0], f[0]) and (f[0] in shades or o[3] >= SHADOW_CONTRAST * f[3])]
        reading, ink, mask, _ = max(darker, key=lambda o: o[3], default=f)
        kept.setdefault(reading, (ink, mask))
    return list(kept.values())[: None if alternatives else 1]


def first_found(extract, readings, every=False):
    """`[extract(reading)]` for the first of `readings` that finds ink, or for each that does (`every`).

    A reading that leaves no ink (the paper between thick strokes taken for
    ink) gives way to the next. Raises the first reading's `ImageError`
    when none finds ink.
    """
    found, errors = [], []
    for reading in readings:
        try:
            found.append(extract(reading))
        except ImageError as error:
            errors.append(error)
        if found and not every:
            break
    if not found:
        raise errors[0]
    return found
