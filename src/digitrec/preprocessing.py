"""Input normalization: turn any picture of one digit into an MNIST-like 28x28 image.

MNIST was built from NIST scans by fitting each digit into a 20x20 box
(keeping its aspect ratio, with anti-aliasing) and placing it in a 28x28
field so that its centre of mass sits at the centre (LeCun, Bottou, Bengio
and Haffner 1998, "Gradient-based learning applied to document
recognition", and the MNIST page). A model trained on MNIST reads other
handwriting well only when that handwriting is prepared the same way, so
`normalize` repeats those steps after separating ink from paper, a stage
(`extract_ink`) that number segmentation shares:

1. working resolution: tiny images (a 16x16 scan) are enlarged before any
   filtering; large ones are searched at `LOCATE_SIDE` and the region
   around the ink is cut from the full-resolution image;
2. polarity and stroke width, from the whole image (`_reading`): ink is the
   side whose strokes have a consistent width, not the side that touches the
   border or fills the frame; on photos, whose lighting splits the image
   into soft-edged regions, thin dark or light structures (black-hat and
   top-hat) decide. Where the shapes leave the polarity in doubt (thick
   strokes that fill a tight crop), `normalize_hypotheses` gives both
   readings and the classifier keeps the one that looks most like a digit
   (`Recognizer.choose`);
3. background: a rolling-ball closing three stroke widths wide keeps
   lighting gradients and shadow edges and removes the strokes; ink is the
   darkness relative to it (a flat field), so ink in a shadow keeps its
   contrast; threshold at max(Otsu 1979, 4 robust noise sigmas, 10 %);
   where the ink then has two levels, a shadow band narrow enough to pass
   the closing and the darker pen, the darker level alone is a reading too;
   a reading whose ink is a shade (a hard-edged shadow band: ink at most
   two thirds as dark as strokes a third as wide) gives way to those
   strokes (`_extracted`);
4. clean-up: the lines of squared or ruled paper are lifted from the page
   before the reading (`digitrec.pagelines`); specks, printed boxes and ruled
   lines, and marks away from the digit's own cluster of strokes are
   dropped;
5. layout: crop to the ink; dilate or erode strokes whose width at the
   20 px scale is outside MNIST's usual range (2.1-3.9 px) towards its
   median (never cutting a stroke through); scale the longest side to
   20 px with area averaging, place in 28x28 and shift the intensity
   centre of mass to (14, 14).

An image already in that layout (an MNIST digit in either polarity, or
`normalize`'s own output) is returned unchanged, so `normalize` is the
identity on MNIST and idempotent. Every filter is sized from the estimated
stroke width, never from the image size, and thick strokes are separated on a copy where they are
`STROKE_WORK` pixels wide. `digitrec bench --robustness` measures the
result on fifteen families of rendered input (`digitrec.renderings`).
"""

import contextlib
import functools

import cv2
import numpy as np
from scipy import ndimage

from digitrec._stats import median, percentile
from digitrec.decoding import UNIT_LEVELS, to_grayscale
from digitrec.errors import ImageError
from digitrec.pagelines import lift_page_lines, skew, turned

SIZE = 28  # output side, pixels
BOX = 20  # longest side of the digit in the output, pixels (LeCun et al. 1998)
MNIST_CENTER = (14.0, 14.0)  # mean intensity centre of mass of MNIST digits, (row, col)
# Stroke width of MNIST training digits at the 20 px scale, as `_stroke_width` measures it,
# pixels: median and 5th-95th percentiles (every 30th training image).
MNIST_STROKE, MNIST_STROKE_RANGE = 2.7, (2.1, 3.9)
GAP_BRIDGE = 4.0  # broken strokes' ends this many stroke widths apart or nearer may be joined (`_bridged`)
JOIN_ANGLE = 45  # if each points at the other within this many degrees
SKIP_REACH = 2.0  # ink this many stroke widths from a stroke or nearer is no speck (a skipping pen's dashes)
LOCATE_SIDE = 512  # a larger image is searched for ink at this longest side first, pixels
MIN_SIDE = 64  # a smaller image is enlarged to at least this longest side before any filtering, pixels
# A digit scaled to fill its frame both ways, as in the 16x16 scans of USPS and Semeion, has lost its aspect ratio,
# which tells digits apart (Liu, Nakashima, Sako and Fujisawa 2004, aspect-ratio-adaptive normalization): a 1 with a
# flag and a base becomes a block. Such a tiny image is read at this share of its width too, and the classifier
# chooses (`normalize_hypotheses`). Set a priori at a half (MNIST validation digits' ink boxes are 0.8 as wide as
# tall at the median, its 1s' 0.4; the reading as given stays for the others); 0.3 as well made 16x16 non-digits
# pass as 1s (refused 84 -> 31 %). Validation digits (`scripts/family_validation.py 5 600`): stretched16 588 -> 591,
# binary16 592 -> 593, tight16 and binary32 unchanged.
STRETCHED_ASPECT = 0.5
# A picture that a reduction to under `MIN_SIDE` px and back reproduces within this (anywhere, in [0, 1] levels) is a
# tiny scan enlarged smoothly, read at that size (`_smooth_source`). Set a priori between what was measured on
# validation renderings: binary16 scans enlarged 2-16 times (bicubic) differ by at most 0.06, the families' photos,
# canvases, forms and the non-digit pictures by at least 0.2.
SMOOTH_ERROR = 0.1
STROKE_CV = 0.5  # the most a consistent pen stroke's width varies (coefficient of variation)
# Polarity readings closer than this are both classified (`_reading`); chosen on the validation split's
# binary16 renderings (1,000 digits: 96.8 % -> 98.1 %; 0.15: 97.9 %, 0.5: 98.1 % with twice the cost).
POLARITY_MARGIN = 0.3
# The largest share of the image a side of a split may cover and still be read as strokes: a bold digit cropped
# tightly and stretched to fill 16x16 covers up to 80 %. Chosen on the validation split's binary16 renderings (1,000
# digits: 0.7 -> 97.4 %, 0.8 -> 97.9 %, 0.85 and 0.9 as 0.8); the other families unchanged.
MAX_INK_SHARE = 0.8
# A mask is searched for form lines turned by its skew (`_drop_turned_form_lines`) where that is at least
# MIN_SKEW degrees and turning sharpens its row profile at least MIN_SKEW_GAIN times (lines put their pixels in a
# few rows; a digit's strokes do not). Measured on the readings' masks: 40 validation digits of each of the 15
# families gain 1.04-1.76 (at most 1.43 but for the two photo families); rows of printed boxes turned 1, 2 and 3
# degrees, 1.64, 2.90 and 2.94 at the median (the masks under it are readings that hold no line). A box around
# one digit gains too little for that (1.0-1.3, turned 1-3 degrees: the digit fills the rows too), so masks of
# at most SKEW_ALWAYS pixels, a digit's crop, are searched turned whatever they gain (the gate saves the cost of
# the search on a photo's big masks): validation digits of the `form` family turned 1-3 degrees
# (`scripts/family_validation.py 5 300 form --turn`) 262 -> 284 of 300. Turned under 0.75 degrees, a line a pixel
# thick still has runs of 76 px along the rows, a form's line for strokes up to 12 px wide, and the search in the
# picture's own frame finds it; at 0.5, a digit's own skew turned an unturned `form` digit's search, and a stroke
# touching its box went with the box (the unturned family 291 -> 290 of 300; comb fields turned 1-3 degrees,
# `scripts/read_validation.py 3 --n 0 --in-boxes 160 --turn`, 109 of 160 at 0.5, 0.75 and 1 degree alike).
MIN_SKEW, MIN_SKEW_GAIN = 0.75, 1.5
SKEW_ALWAYS = 256 * 256



def _resize(arr, width, height):
    """float32 `arr` resized to (height, width): area-averaged when shrinking, bicubic when enlarging."""
    shrink = width <= arr.shape[1] and height <= arr.shape[0]
    out = cv2.resize(arr, (int(width), int(height)), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


def rescale(arr, scale):
    """float32 `arr` (values in [0, 1]) scaled by `scale`, each side rounded to at least 1 pixel (see `_resize`)."""
    return _resize(arr, max(1, round(arr.shape[1] * scale)), max(1, round(arr.shape[0] * scale)))


def _fit(arr, side):
    """`arr` scaled so that its longest side is `side` pixels (aspect kept)."""
    return rescale(arr, side / max(arr.shape))


def _odd(x):
    return max(3, int(round(x)) | 1)


def _disk(diameter):
    d = _odd(diameter)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))


def _otsu(values):
    """Otsu's threshold (Otsu 1979, OpenCV's, on 256 levels) of values in [0, 1]; 0.5 when they are all equal.

    The values are clipped to [0, 1] and rounded to 256 levels by OpenCV
    (negatives to zero, then a saturating scale that rounds half to even, as
    NumPy's `round`): the same levels as NumPy's, at a third of the cost.
    """
    values = np.asarray(values, dtype="float32").reshape(1, -1)
    if values.size == 0:
        return 0.5
    levels = cv2.convertScaleAbs(cv2.threshold(values, 0, 0, cv2.THRESH_TOZERO)[1], alpha=255)
    low, high, _, _ = cv2.minMaxLoc(levels)
    if low == high:
        return 0.5
    return (cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0] + 0.5) / 255


def _noise_floor(*arrays):
    """Median plus 4 robust standard deviations (1.4826 x the median absolute deviation) of the arrays' values.

    Estimated on an evenly strided sample of at most 16,384 of them (the
    statistic of a quarter-megapixel image in well under a millisecond),
    taken as from their concatenation, without copying it.
    """
    step = max(1, sum(np.size(a) for a in arrays) // 16384)
    sample, offset = [], 0
    for a in arrays:
        flat = np.asarray(a).ravel()
        sample.append(flat[-offset % step :: step])
        offset += flat.size
    values = np.concatenate(sample)
    med = float(median(values))
    return med + 4 * 1.4826 * float(median(np.abs(values - med)))



def _components(mask, strength=None):
    """8-connected components of a mask: (label image int32, per-label areas (n,)[, per-label sums of `strength`]).

    The areas (and, given `strength` like `mask`, the sums of it over each
    component) are counted over the mask's pixels rather than taken from
    OpenCV's statistics, which cost several times the labelling itself.
    """
    mask = np.asarray(mask, bool)
    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    on = labels[mask]
    areas = np.bincount(on, minlength=n)[1:]
    if strength is None:
        return labels, areas
    return labels, areas, np.bincount(on, weights=strength[mask], minlength=n)[1:]


def _boxes(mask):
    """OpenCV's 8-connected components of a bool mask with their statistics: `(n, labels, stats, centroids)`;
    `stats[i]` is `(left, top, width, height, area)` in pixels, row 0 the background's."""
    return cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)


def _drop_specks(mask, strength, tall=False, reach=0):
    """Keep the components with at least 8 % of the strongest one's ink (sum of `strength`) and 2 px, and with
    `tall`, those at least half its extent too (the longer side of the bounding box): a thin 1 beside a
    number's bold digits has little ink, but is as tall as they are. With `reach` (pixels), the pieces of stroke
    that gaps of up to `reach` link to the kept ink are kept too (`_near_strokes`): the dashes of a stroke that the
    pen skipped.

    Returns the kept mask and the kept components' areas `(n,)`.
    """
    labels, areas, mass = _components(mask, strength)
    if len(areas) <= 1:
        return mask, areas
    keep = np.concatenate([[False], (mass >= 0.08 * mass.max()) & (areas >= 2)])
    if reach and keep[1:].any() and not keep[1:].all():
        keep = _near_strokes(keep, labels, areas, mask, strength, reach)
    if keep[1:].all():
        return mask, areas
    strongest = int(mass.argmax())
    maybe = ~keep[1:] & (areas >= np.sqrt(areas[strongest]) / 2)  # a side half the strongest's needs this many px
    if tall and maybe.any():  # the labels are connectedComponents' (the same algorithm)
        stats = _boxes(mask)[2][1:]
        extents = stats[:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]].max(axis=1)
        keep[1:] |= maybe & (extents >= 0.5 * extents[strongest])
    if not keep.any():
        keep[strongest + 1] = True
    kept, where = np.zeros(mask.shape, bool), np.flatnonzero(mask)  # the mask's pixels only: the labels' table
    kept.ravel()[where] = keep[labels.ravel()[where]]  # lookup over every pixel costs 3-6 times as much
    return kept, areas[keep[1:]]


def _near_strokes(keep, labels, areas, mask, strength, reach):
    """`keep` (bool `(n + 1,)` over `labels`, [0] the background) and every piece of stroke linked to a kept
    component by pieces of stroke with gaps up to `reach` px (joined by a dilation): the dashes of a stroke that
    the pen skipped. A piece of stroke is at least half as thick as a stroke (`reach` / `SKIP_REACH` px), as large
    as half a square of its side, and half as strong as the kept ink (mean `strength`); salt noise, a line's
    remnants and faint texture beside the strokes are not, and texture away from the strokes is linked to none.
    """
    index, width = np.arange(1, len(keep)), reach / SKIP_REACH
    dist = cv2.distanceTransform(_pad(mask), cv2.DIST_L2, 3)[1:-1, 1:-1]
    mean = ndimage.mean(strength, labels, index)
    stroke = np.concatenate([[False], (ndimage.maximum(dist, labels, index) >= width / 4) & (areas >= width**2 / 2)
                             & (mean >= 0.5 * median(mean[keep[1:]]))])
    pieces = np.take(keep | stroke, labels) & mask
    groups = _components(cv2.dilate(pieces.view(np.uint8), _disk(reach)) > 0)[0]
    seeded = np.zeros(groups.max() + 1, bool)
    seeded[groups[np.take(keep, labels) & mask]] = True
    group_of = np.zeros(len(keep), np.int64)
    group_of[labels[pieces]] = groups[pieces]
    return keep | (stroke & seeded[group_of])


def _pad(mask):
    """A bool mask as uint8 with a one-pixel border of zeros (the distance transform's edge is then the mask's)."""
    return cv2.copyMakeBorder(mask.view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)


def _ridge_widths(mask):
    """Stroke widths along the ridges of a mask, pixels: twice the distance to the edge at its local maxima.

    Measured within the mask's bounding box (everything beyond it is
    background, as the padding is: the same distances up to OpenCV's
    rounding, which differs by an ulp at some positions, at a fraction of
    the cost where the mask holds a digit in a big picture).
    """
    if mask.any():
        r0, r1, c0, c1 = bbox(mask)
        mask = mask[r0:r1, c0:c1]
    dist = cv2.distanceTransform(_pad(mask), cv2.DIST_L2, 3)[1:-1, 1:-1]
    ridge = mask & (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8)))
    return 2 * dist[ridge]


def _stroke_reading(mask, strength):
    """(variation, width, length) of the strokes of a candidate ink mask, after dropping specks.

    Ink drawn with one pen has a nearly constant width; paper between
    strokes, shadows and blotches do not. `variation` is the coefficient of
    variation of the ridge widths (`_ridge_widths`), `width` in pixels their
    75th percentile (the median is pulled down by the short ridges of
    jagged, blotchy edges: thick binary scans), or their median weighted by
    width (the pen that laid half the ink) where that is larger: where the
    long thin lines of a printed box around a thick digit make most of the
    ridges, `length` the area of the largest connected component over the
    width (pixels: how long its strokes run). A mask with no
    pixels, or with more than `MAX_INK_SHARE` of the image, gets an infinite variation.
    """
    if not 0 < np.count_nonzero(mask) / mask.size <= MAX_INK_SHARE:  # mask.mean(), 8 times as fast
        return np.inf, 0.0, 0.0
    mask, areas = _drop_specks(mask, strength)
    widths = np.sort(_ridge_widths(mask))
    ink = np.cumsum(widths)  # a ridge pixel stands for about `width` pixels of ink
    width = max(float(percentile(widths, 75)), float(widths[np.searchsorted(ink, 0.5 * ink[-1])]))
    length = float(areas.max() if len(areas) else 0) / max(width, 1.0)
    return float(widths.std() / max(widths.mean(), 1e-6)), width, length


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
# A rolling ball must be wider than the ink it rolls under (Sternberg 1983): where it is not, the paper estimate
# there is the ink itself, and the middle of a bold stroke or of a filled blob is taken for paper (a marker's 8 with
# a filled crossing reads "0" or "3"). `_reading`'s width may come from another reading than the ink's (a photo's
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
MIN_CONTRAST = 0.1  # the faintest ink kept: darkness relative to the paper (paper texture stays under it)
# How much stronger the darker class of the ink must be than the lighter to be offered alone (`_darkest_class`):
# chosen on the validation split's marker renderings (400 digits: none 93.5 %, 1.5 95.25 % at twice the cost,
# 2 95.25 %, 2.5 95.0 %). The quarter of the lighter class beyond a stroke width was tried once, not tuned: it keeps
# marker's gain and gives back what tight16 and stretched16 lost (1 of 1,000 each: their soft edges offered alone)
# and the non-digit photos the classifier then took for digits (letters 23 -> 26 -> 23 of 150, shapes 16 -> 18 -> 17).
CORE_CONTRAST = 2.0
# A reading of what is ink is a shade, not ink, where one of its polarity this many times thinner finds ink this
# many times darker (median contrasts; `_extracted`): a pen is darker than any shadow it lies in. Set a priori, the
# width ratio as `_reading`'s "three times thicker" and the contrast "half again as dark"; checked on the validation
# split: 300 digits beside a hard-edged band 286 -> 293 of 300 (`scripts/distortion_validation.py band`), and 300
# of each family read digit for digit as before (`scripts/family_validation.py 5 300`).
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
    (`_stroke_reading`), narrower than the window, and at
    least five widths long (strokes, not dots or the edges of thicker
    strokes), and at least 1 / `FAINT` of the strongest reading's contrast.
    `asymmetry` is the ratio of the two sides' responses. Windows
    no wider than `finest` pixels are not read: their structures would be
    thinner. Windows of `SHARP_SCALE` px or more read strokes only where
    their largest piece has a pen's sharp edges (`_largest_sharpness`): a
    shadow band that wide has a penumbra. Where a form's line (`_drop_form_lines`)
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
        floor = max(_noise_floor(*hat), INK_CONTRAST)
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
    mask = hat > max(_otsu(hat), floor)
    cv, width, length = _stroke_reading(mask, hat)
    if cv > STROKE_CV and width and _has_a_line(mask, width):  # consistent strokes once a form's thinner line goes?
        lined, mask = mask, _drop_form_lines(mask, width, hat)
        if mask is not lined:
            cv, width, length = _stroke_reading(mask, hat)
    if not (cv <= STROKE_CV and width < side and length >= STROKE_LENGTH * width):
        return None
    around = cv2.dilate(mask.astype(np.uint8), _disk(width)).astype(bool)  # the strokes and their edges
    response = hat[around].sum()
    asymmetry = response / max(other[around].sum(), 1e-6)
    whole = around if beside == 1.0 else cv2.dilate(mask.astype(np.uint8), _disk(beside * width)).astype(bool)
    if not (asymmetry >= one_sided and wider[whole].sum() <= 1.5 * hat[whole].sum()):
        return None
    return asymmetry, width, dark, mask, float(median(hat[mask]))


def _line_length(width):
    """The shortest straight run that `_drop_form_lines` takes for a form's line, among strokes `width` px wide."""
    return int(max(6 * width, 8))


def _has_a_line(mask, width):
    """Whether the lowest quarter of `mask`'s ink holds a horizontal straight run of `_line_length(width)` pixels or
    more (one erosion), as a line under the ink (`_underlines`) does."""
    top, bottom = bbox(mask)[:2]
    low = mask[max(0, int(top + 0.75 * (bottom - top) - 1.5 * width)) : bottom]
    return bool(cv2.erode(low.view(np.uint8), np.ones((1, _line_length(width)), np.uint8)).any())


def _one_bar(mask, width):
    """Whether the largest connected component of `mask` (strokes `width` px wide) is a flat horizontal bar: a
    printed line, not writing."""
    labels, areas = _components(mask)  # a third of the cost of OpenCV's statistics of every component
    if not len(areas):
        return False
    r0, r1, c0, c1 = bbox(labels == int(areas.argmax()) + 1)
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
    labels, areas = _components(mask)
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
    rest = side & ~cv2.dilate(strokes.astype(np.uint8), _disk(6 * width + 1)).astype(bool)
    edge = rest & cv2.dilate((~side).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # not the cut
    if edge.sum() <= strokes.sum() / (4 * width):
        return False
    r0, r1, c0, c1 = bbox(strokes)
    return (_edge_sharpness(gray, side, edge) < SHARP_EDGE
            or float(percentile(_ridge_widths(rest), 75)) >= max(r1 - r0, c1 - c0) / 2)


def _global_reading(gray):
    """Otsu's split of `gray`: `(threshold, sides, sharpness)`.

    `sides` are `(score, width, dark)` for its dark and light sides, the
    likelier ink first: the score is the variation of the side's stroke
    width (`_stroke_reading`) plus half its share of the image.
    `sharpness` is the split's `_edge_sharpness`.
    """
    t = _otsu(gray)
    sides = []
    for mask, strength, dark in ((gray < t, 1.0 - gray, True), (gray > t, gray, False)):
        cv, width, _ = _stroke_reading(mask, strength)
        sides.append((cv + 0.5 * mask.mean(), width, dark))
    return t, sorted(sides), _edge_sharpness(gray, gray < t)


def _flat_paper(gray, ink, finest=1.0):
    """Whether the paper beside the `ink` (bool) of a split is one level, as on a drawing (a canvas, a PNG scan).

    Every pixel of the paper side is within 1/255 of the paper's most
    common level but for the ink's anti-aliased edge: within two pixels of
    the ink, or two of `finest`'s in an enlarged tiny image (`_reading`). A
    photo's or a scan's paper has grain, and a shade a penumbra: there is
    then nothing beside the strokes for local readings to tell apart from
    them (`_reading`).
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
    paper = cv2.medianBlur(half, min(_odd(FLAT_WINDOW * min(gray.shape) / 2), MEDIAN_MAX))
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    flat = np.clip(0.5 + gray - paper, 0.0, 1.0)
    if FAINT * strongest >= float(flat.max() - flat.min()):  # no split of it can be contrasted enough
        return None
    t, ((_, width, dark), _), _ = _global_reading(flat)
    if _largest_sharpness(flat, flat < t if dark else flat > t) < SHARP_EDGE:
        return None
    below = flat < t
    if below.all() or not below.any():  # one side empty: no split (and no "Mean of empty slice" warning)
        return None
    contrast = abs(float(flat[below].mean()) - float(flat[~below].mean()))
    return (dark, width) if contrast > FAINT * strongest else None


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
    closed = cv2.morphologyEx(strokes.astype(np.uint8), cv2.MORPH_CLOSE, _disk(width + 1))
    inside = ndimage.binary_fill_holes(closed)
    return (thin[3] & inside).sum() >= GAP_SHARE * thin[3].sum()


def _reading(gray, finest=1.0):
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
    local reading comes last. Where the split's ink is a region, strokes of
    any narrower width count there, and in a picture that was not enlarged
    the flat-fielded reading comes last too: the region may be the paper lit
    beside a soft shade whose border is a sliver of the split's edge, the
    rest being the sharp edges of thick strokes on both sides of it.

    Where nothing reads and the split is soft, the local readings are looked
    for again with strokes judged whole on a narrower margin around them
    (`WHOLE_BESIDE`): strokes that run into a soft shadow band.

    Returns:
        list of one to four `(dark, width)`: True for dark ink on light
        paper; the stroke width in pixels.

    Raises:
        ImageError: nothing in the image looks like ink.
    """
    t, ((score, width, dark), (other, other_width, _)), sharpness = _global_reading(gray)
    sharp = sharpness >= SHARP_EDGE
    region = width >= min(gray.shape) / 6  # the split's ink is a region, not strokes: either polarity may be ink
    # on a sharp split only local strokes under a third of its width count: none can be when that is `finest`, and
    # none are looked for in a drawing, whose paper is one level (`_flat_paper`)
    scales = LOCAL_SCALES[:-1] if sharp else LOCAL_SCALES  # see LOCAL_SCALES
    drawn = sharp and not region and score <= STROKE_CV and _flat_paper(gray, gray < t if dark else gray > t, finest)
    local = [] if drawn or (sharp and width / 3 <= finest) else [
        r for r in _local_readings(gray, finest, scales=scales) if r[1] >= finest]
    strongest, doubt = max((r[4] for r in local), default=0.0), []
    if sharp:  # a sharp split, unless one side joins full-contrast thin strokes to a shade
        # strokes under a third of the split's width (not the gaps between its strokes), or, where its ink is a
        # region (a bold crop, or the paper lit beside a shade), any narrower strokes of either polarity
        thin = [r for r in local if r[1] < (width if region else width / 3) and (r[2] == dark or region)]
        local = [r for r in thin if _joins_a_shade(gray, gray < t, r)]
        doubt = [(r[2], r[1]) for r in [max(thin, key=lambda r: r[0])]] if thin and not local else []
        if region and not local and finest <= 1:  # the region may be paper lit beside a shade (not in a tiny scan)
            doubt += [r for r in [_flat_reading(gray, strongest)] if r]
    else:
        flat = _flat_reading(gray, strongest)
        if flat:
            return [flat]
    if local:
        return _stroke_readings(local)
    if sharpness < SHARP_EDGE / 3:  # no strokes, and no edges at all: a blank page in uneven light, or strokes
        # that run into a soft shadow band, which answers beside them to the next window too (see WHOLE_BESIDE)
        near = [r for r in _local_readings(gray, finest, scales=scales, beside=WHOLE_BESIDE) if r[1] >= finest]
        if not near:
            raise ImageError("no ink found: the image is blank or has too little contrast")
        return _stroke_readings(near)
    return [(dark, width)] + ([(not dark, other_width)] if other - score < POLARITY_MARGIN else []) + doubt


def _stroke_readings(local):
    """`_reading`'s answer from local readings of strokes (`_local_readings`): the most one-sided one, then the
    most one-sided of the other polarity at least three times thicker, whose gaps it may be; or that thicker one
    alone where the thin strokes lie within it (`_between_strokes`)."""
    best = max(local, key=lambda r: r[0])
    other = max((r for r in local if r[2] != best[2] and r[1] > best[1]), key=lambda r: r[0], default=None)
    if other and _between_strokes(best, other):  # the most one-sided thin strokes are the paper between thick ones
        return [(other[2], other[1])]
    _, width, dark, _, _ = best
    thick = [r for r in local if r[2] != dark and r[1] >= 3 * width]  # whose gaps may be the thin strokes
    return [(dark, width)] + [(r[2], r[1]) for r in sorted(thick, key=lambda r: -r[0])[:1]]


def _closes_its_box(group, width):
    """Whether `group` runs along at least half of every side of its bounding box, as a printed box does.

    The straight strokes of a digit (a 4's stem and bar around its
    diagonal) enclose the rest of the ink too, but leave sides open.
    """
    r0, r1, c0, c1 = bbox(group)
    band = max(2, int(round(2 * width)))
    sides = (group[r0 : r0 + band, c0:c1].any(axis=0), group[r1 - band : r1, c0:c1].any(axis=0),
             group[r0:r1, c0 : c0 + band].any(axis=1), group[r0:r1, c1 - band : c1].any(axis=1))
    return all(side.mean() >= 0.5 for side in sides)


def _drop_form_lines(mask, width, strength):
    """Remove printed boxes and ruled lines from the ink mask.

    Straight runs at least six stroke widths long are found by opening with
    line structuring elements (the usual way to find form lines). A group of
    runs is dropped when it is a frame around the rest of the ink (a box), or
    when it crosses at least 90 % of the image and reaches beyond the rest of
    the ink at both ends (a ruled line); a horizontal run is dropped too where
    it is a shorter line under the ink (`_underlines`: a form's answer line, an
    underline). A 7's bar or a 2's base, which end where the digit does,
    stays. Strokes a removed line crossed are bridged.
    A box must frame the rest of the ink without its specks (`_drop_specks`
    on `strength`, float32 like `mask`); a ruled line must reach beyond all
    of it, specks too (the straight edge of a shadow band is no such line
    where bits of the band lie beyond the digit). It runs before speck
    removal: a row of printed boxes may hold ten times the ink of a thin 1
    in one of them. Where all that would be left is the removed lines' rims
    (`_only_rims`), nothing is removed: the box is the ink.

    It works on the mask's bounding box with a margin of a line's length:
    no opening or closing reaches farther, so the answer is the same as on
    the whole image, at a fraction of the cost where a small digit's mask
    lies in a big picture. Returns `mask` itself where it removes nothing.
    """
    if not mask.any():
        return mask
    r0, r1, c0, c1 = bbox(mask)
    m = _line_length(width)
    window = np.s_[max(0, r0 - m) : r1 + m, max(0, c0 - m) : c1 + m]
    part = mask[window]
    kept = _drop_lines_in(part, width, strength[window], mask.shape)
    if kept is part:
        return mask
    out = np.zeros_like(mask)
    out[window] = kept
    return out


def _drop_lines_in(mask, width, strength, shape):
    """`_drop_form_lines` on a part of the image holding all its ink, `shape` the whole image's (rows, columns)."""
    h, w = shape
    length = _line_length(width)
    m8 = mask.astype(np.uint8)
    across, down = (cv2.morphologyEx(m8, cv2.MORPH_OPEN, np.ones(shape, np.uint8)).astype(bool)
                    for shape in ((1, length), (length, 1)))
    lines = across | down
    if not lines.any():
        return mask
    (_, labels, boxes, _), (top, bottom, _, _) = _boxes(across), bbox(mask)
    low = [i for i, (_, r0, _, height) in enumerate(boxes[1:, :4], 1)  # flat, through the lowest quarter or under
           if height <= 3 * width and 2 * r0 + height >= 2 * top + 1.5 * (bottom - top)
           and r0 > width]  # (with ink above it: OpenCV would crash on labelling an empty array)
    under = [i for i in low if _underlines(labels == i, mask, width)]
    kept = mask & ~np.isin(labels, under) if under else mask.copy()
    _, labels, boxes, _ = _boxes(lines)
    rest = None
    for label, (c0, r0, box_w, box_h, area) in enumerate(boxes[1:], 1):
        r1, c1 = r0 + box_h, c0 + box_w
        hollow = area < 0.5 * box_h * box_w
        if not (hollow or c1 - c0 >= 0.9 * w or r1 - r0 >= 0.9 * h):  # (before any whole-image work: texture)
            continue
        group = labels == label
        boxlike = hollow and _closes_its_box(group, width)
        if not (boxlike or c1 - c0 >= 0.9 * w or r1 - r0 >= 0.9 * h) or not (mask & ~group).any():
            continue
        o0, o1, p0, p1 = bbox(mask & ~group)  # a ruled line reaches beyond all the rest, noise too
        ruled = ((c1 - c0 >= 0.9 * w and c0 < p0 - width and c1 > p1 + width)
                 or (r1 - r0 >= 0.9 * h and r0 < o0 - width and r1 > o1 + width))
        frame = False
        if boxlike:  # a box frames the rest of the ink, noise aside
            rest = _drop_specks(mask & ~lines, strength)[0] if rest is None else rest
            inner = rest | (lines & ~group)
            if inner.any():
                o0, o1, p0, p1 = bbox(inner)
                frame = r0 <= o0 + width and r1 >= o1 - width and c0 <= p0 + width and c1 >= p1 - width
        if frame or ruled:
            kept &= ~group
    if kept.sum() == mask.sum() or _only_rims(kept, mask & ~kept):  # nothing in the box: the box is the ink
        return mask
    return _bridged_across(kept, mask, width)


def _bridged_across(kept, mask, width):
    """`kept` with the pixels of `mask` that join its strokes across a removed line (closings along rows and
    columns, `2 * width + 3` px long)."""
    for shape in ((int(2 * width + 3), 1), (1, int(2 * width + 3))):
        kept |= mask & cv2.morphologyEx(kept.astype(np.uint8), cv2.MORPH_CLOSE, np.ones(shape, np.uint8)).astype(bool)
    return kept


def _drop_turned_form_lines(mask, width, strength):
    """`_drop_form_lines` for a form scanned or photographed turned by up to `pagelines.PAGE_SKEW` degrees.

    Turned a degree or more, a thin printed line has no straight run along
    the rows or columns as long as a form's line (`_line_length`), and a row
    of printed boxes stayed as ink, or went in part. Where `_lines_skew`
    finds the mask's lines turned, its contrast `strength` is turned by
    their skew so that they run along the rows and columns, and
    `_drop_form_lines` runs there on it, thresholded at half the mask's
    faintest contrast (a line a pixel thick that the turn blurred is
    whole); what that removes is turned back, widened by 2 px, and removed
    from the mask, the strokes that crossed it bridged again
    (`_bridged_across`). Where it removes nothing, or everything, the
    search in the picture's own frame stands.
    """
    kept = _drop_form_lines(mask, width, strength)
    angle = _lines_skew(mask)
    if angle is None:
        return kept
    level_strength, _, matrix = turned(strength.astype(np.float32), angle)
    level = level_strength >= 0.5 * strength[mask].min()  # thin lines that turning blurred under the threshold too
    found = _drop_form_lines(level, width, level_strength)
    if found is level:
        return kept
    removed = cv2.warpAffine((level & ~found).view(np.uint8), matrix, mask.shape[::-1],
                             flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    removed = cv2.dilate(removed, np.ones((5, 5), np.uint8)).astype(bool)  # the turns round, and a line has rims
    rest = mask & ~removed
    return _bridged_across(rest, mask, width) if rest.any() else kept


def _lines_skew(mask):
    """The skew (degrees) of the lines of a bool mask (`pagelines.skew` of up to 1024 of its pixels), or None where
    it is under `MIN_SKEW`, or where the mask has more than `SKEW_ALWAYS` pixels and turning sharpens its row
    profile less than `MIN_SKEW_GAIN` times (no lines)."""
    y, x = np.nonzero(mask)
    step = max(1, y.size // 1024)
    angle, gain = skew((y[::step], x[::step], np.ones(len(y[::step]), np.float32)), mask.shape, gain=True)
    return angle if abs(angle) >= MIN_SKEW and (gain >= MIN_SKEW_GAIN or mask.size <= SKEW_ALWAYS) else None


def _only_rims(kept, removed):
    """Whether every pixel of `kept` lies within half a line's thickness of the `removed` lines (the median of
    `_ridge_widths(removed)`, pixels): what is left is their rims, and there was nothing in the box.

    The line openings of `_drop_form_lines` take a drawn or slightly turned
    line's straight core and leave slivers along its edges and corners; an
    empty box drawn by hand was dropped as the frame of its own slivers,
    which were read as 1s ("11", "?11"). A pen's stroke reaches farther.
    """
    reach = max(1.0, float(median(_ridge_widths(removed))) / 2)
    return not (kept & (cv2.distanceTransform((~removed).view(np.uint8), cv2.DIST_L2, 3) > reach)).any()


def _underlines(group, mask, width):
    """Whether `group`, a flat straight horizontal run in `mask` through the ink's lowest quarter or under it
    (`_drop_form_lines` chooses: a digit sitting on it, a 4's or a 9's stem through it), is a line the ink is
    written on or underlined with, not a digit's stroke.

    It is where it reaches beyond the ink above it at both ends by two
    stroke widths (a hand-drawn underline, whose pen is the digit's), or at
    least as far where it is at most half the stroke width thick (a printed
    answer line; its median thickness over its columns, twice the largest
    distance to its edge in each). The ink above it is the connected
    components above its top row that rise more than a stroke width above
    it: not a tilted line's rim, which the opening leaves; but a 2's
    diagonal down to its base, which then stays.
    """
    r0, r1, c0, c1 = bbox(group)
    above = _boxes(mask[:r0] & ~group[:r0])[2][1:]
    above = above[above[:, cv2.CC_STAT_TOP] < r0 - width]  # a tilted line's rim, which the opening leaves, is not
    if not len(above):
        return False
    p0, p1 = above[:, cv2.CC_STAT_LEFT].min(), (above[:, cv2.CC_STAT_LEFT] + above[:, cv2.CC_STAT_WIDTH]).max()
    margin = int(2 * width) + 1
    top = max(0, r0 - margin)
    dist = cv2.distanceTransform(_pad(mask[top : r1 + margin, c0:c1]), cv2.DIST_L2, 3)[1:-1, 1:-1]
    thickness = 2 * float(median(dist[r0 - top : r1 - top].max(axis=0)))  # where digits cross it, it is thicker
    return (c0 < p0 - 2 * width and c1 > p1 + 2 * width) or (thickness <= 0.5 * width and c0 <= p0 and c1 >= p1)


def _main_cluster(mask, strength):
    """The digit: the cluster of ink components, joined across gaps of up to four stroke widths, with the most ink.

    A 5's detached flag or a broken stroke stays with its digit; stray marks,
    texture and a dot elsewhere on the page go.
    """
    widths = _ridge_widths(mask)
    joined = cv2.dilate(mask.astype(np.uint8), _disk(4 * float(median(widths)) + 1))
    labels, areas = _components(joined)
    if len(areas) <= 1:
        return mask
    mass = np.bincount(labels[mask], weights=strength[mask], minlength=len(areas) + 1)
    return mask & (labels == int(mass[1:].argmax()) + 1)


def _separate(g, width, dashes=True):
    """Ink and mask of dark ink `g` (float32, dark on light) drawn `width` px wide (see `extract_ink`), and the ink's
    median contrast (darkness relative to the paper, in [0, 1]). `dashes=False` drops a skipping pen's dashes as
    specks too (`_near_strokes`): in a number's candidate digit, the specks are its neighbours' cut-off slivers.

    Where the ink found holds strokes more than `BOLD` times wider than `width` (the 95th percentile of its ridge
    widths), the paper is estimated again with a rolling ball sized from those (`_ink_mask`)."""
    contrast, threshold, mask = _ink_mask(g, width, width, dashes)
    bold = float(percentile(_ridge_widths(mask), 95))
    if bold > BOLD * width:
        with contextlib.suppress(ImageError):  # the wider ball finds no ink beyond its noise floor: the first stands
            contrast, threshold, mask = _ink_mask(g, width, bold, dashes)
    level = float(percentile(contrast[mask], 90))
    low = 0.5 * threshold
    ink = np.clip((contrast - low) / max(level - low, 1e-6), 0.0, 1.0)
    ink *= cv2.dilate(mask.astype(np.uint8), _disk(width / 2)).astype(bool)
    return ink, mask, float(median(contrast[mask]))


def _ink_mask(g, width, ball, dashes):
    """`_separate`'s contrast (the darkness relative to the paper), threshold and ink mask, without form lines and
    specks, for strokes `width` px wide, the paper being the closing by a disk of `3 * ball + 1` px."""
    paper = cv2.morphologyEx(g, cv2.MORPH_CLOSE, _disk(3 * ball + 1))
    contrast = np.clip((paper - g) / np.maximum(paper, 0.05), 0.0, 1.0)
    otsu = _otsu(contrast)
    paper_side = contrast[contrast <= otsu]  # the noise floor is measured on the paper, which may be the minority
    threshold = max(otsu, _noise_floor(paper_side), MIN_CONTRAST)
    mask = contrast > threshold
    if not mask.any():
        raise ImageError("no ink found: nothing stands out from the background")
    mask = _drop_specks(_drop_turned_form_lines(mask, width, contrast), contrast, tall=True,
                        reach=SKIP_REACH * width * dashes)[0]
    return contrast, threshold, mask


def extract_ink(gray):
    """Separate ink from paper: the stage that `normalize` and number segmentation share.

    The polarity and stroke width come from `_reading`; strokes wider than
    `STROKE_WORK` are separated on a copy shrunk until they are that wide
    (every filter is sized from the stroke width, so this changes nothing
    but the cost). The paper under the ink is a morphological closing (a
    rolling-ball background, Sternberg 1983) with a disk three stroke widths
    wide: it removes the strokes and keeps lighting gradients and shadow
    edges, which are wider or are steps. Ink contrast is the darkness
    relative to that paper (a flat field), so ink in a shadow keeps its
    contrast; it is thresholded at max(Otsu, 4 robust noise sigmas of the
    paper), with a wider ball where the ink found is bolder than the
    reading's width (`BOLD`); specks and form lines (`_drop_form_lines`) are dropped, but not
    the dashes of a skipping pen near the strokes (`_near_strokes`).

    Args:
        gray: float32 `(H, W)` in [0, 1], either polarity.

    Returns:
        `(ink, mask)`: float32 `(H, W)` in [0, 1] (light ink on zero) and the
        bool mask of the kept ink.

    Raises:
        ImageError: no ink (a blank or uniform image).
    """
    return ink_hypotheses(gray, alternatives=False)[0]


def ink_hypotheses(gray, alternatives=True):
    """`extract_ink`'s ink and mask, and the other readings' where what is ink is in doubt.

    The readings are `_reading`'s, as for `normalize_hypotheses`, and, where
    the first is a region rather than strokes, the most one-sided thin
    strokes that were not one-sided enough to count (`NEAR_ASYMMETRY`);
    each reading whose ink has a second, darker level (a shadow band joined
    to the strokes: `_darkest_class`) is offered with that level alone too,
    as `normalize_hypotheses` offers it for one digit. A caller that can
    judge the results (reading a number, by how much its digits look like
    digits) chooses among them.

    Returns:
        list of `(ink, mask)` as `extract_ink` returns them, 1 to 8 of them;
        `[0]` is `extract_ink(gray)`. Only the first with `alternatives=False`.

    Raises:
        ImageError: as for `extract_ink`.
    """
    _check_contrast(gray)
    gray = lift_page_lines(gray)
    readings = _reading(gray)
    region = readings[0][1] >= min(gray.shape) / 6  # the ink read first is a region, not strokes
    near = _local_readings(gray, 1.0, one_sided=NEAR_ASYMMETRY) if alternatives and region else []
    if near:  # the most one-sided thin strokes, though not one-sided enough to count
        _, width, dark, _, _ = max(near, key=lambda r: r[0])
        readings += [] if (dark, width) in readings else [(dark, width)]
    found = _extracted(gray, readings, alternatives)
    if alternatives:  # each reading's darkest class too, where its ink has two levels (a shadow band joined to it)
        found += [(ink * core, core) for ink, mask in found if (core := _darkest_class(ink, mask)) is not None]
    return [_full_size(ink, mask, gray.shape) for ink, mask in found]


def _full_size(ink, mask, shape):
    """`_extract`'s ink and mask brought back to the `shape` of the image they came from."""
    if ink.shape == shape:
        return ink, mask
    h, w = shape
    ink = np.clip(cv2.resize(ink, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return ink, cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5


def _check_contrast(gray):
    if float(gray.max() - gray.min()) < 0.08:
        raise ImageError("no ink found: the image is blank or has too little contrast")


def _extract(gray, reading, dashes=True):
    """`extract_ink`'s ink and mask, on the copy where thick strokes are `STROKE_WORK` px wide, and the ink's median
    contrast (`_separate`, which takes `dashes`).

    `reading` is `(dark, width)`, one of `_reading`'s.
    """
    _check_contrast(gray)
    dark, width = reading
    g = gray if dark else 1.0 - gray
    f = STROKE_WORK / width
    if f > 0.75:
        return _separate(g, width, dashes)
    return _separate(rescale(g, f), STROKE_WORK, dashes)


def bbox(mask):
    """`(r0, r1, c0, c1)`: the rows and columns of `mask`'s True pixels (bool `(H, W)`, not all False), ends
    exclusive."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _working_image(gray, locate=LOCATE_SIDE):
    """The image at the resolution ink is extracted at.

    Tiny images (a 16x16 scan) are enlarged to at least `MIN_SIDE` first, so
    thresholds and filters work on smooth strokes; large ones are searched
    at `locate` px a side, and the region around the ink (plus a margin) is
    cut from the full-resolution image, so a small digit in a big photo
    keeps its detail. Where the search reads the ink more than one way
    (`_reading`: the polarity of thick strokes in doubt, or the paper
    between them read as thin strokes), the region covers what each reading
    finds: the second pass reads the region again, and the classifier
    chooses between its readings.

    Returns `(image, enlargement)`: the enlargement factor is 1 unless the
    image was tiny.
    """
    h, w = gray.shape
    if max(h, w) < MIN_SIDE:
        k = int(np.ceil(MIN_SIDE / max(h, w)))
        return _resize(gray, w * k, h * k), k
    if max(h, w) <= locate:
        return gray, 1
    small, scale = _reduced(gray, locate)
    found = first_found(lambda reading: _extract(small, reading), _reading(small), every=True)
    r0, r1, c0, c1 = np.array([_region(ink, mask, scale * ink.shape[0] / small.shape[0]) for ink, mask, _ in found]).T
    r0, r1, c0, c1 = max(0, r0.min()), min(h, r1.max()), max(0, c0.min()), min(w, c1.max())
    crop = gray[r0:r1, c0:c1]
    return (_reduced(crop, LOCATE_SIDE)[0] if max(crop.shape) > LOCATE_SIDE else crop), 1


def _region(ink, mask, s):
    """`(r0, r1, c0, c1)`: the digit's box in `ink` found at scale `s` (`_working_image`), with a generous margin,
    in the full-resolution image's pixels (not clipped to it)."""
    r0, r1, c0, c1 = bbox(_main_cluster(mask, ink))
    margin = 0.5 * max(r1 - r0, c1 - c0) + 4  # generous: the second pass finds the digit again
    return int((r0 - margin) / s), int((r1 + margin) / s + 1), int((c0 - margin) / s), int((c1 + margin) / s + 1)


def _reduced(gray, side):
    """`gray` shrunk to a longest side of `side` pixels, in 256 levels, and the scale (its pixels per `gray`'s).

    A whole factor is taken first by OpenCV's block averaging (its fast
    path; the last rows and columns that fill no block, under a pixel at
    `side`, are left out), the rest by area averaging (`_fit`): a box
    slightly wider than one area average's, at a third of the cost on a
    big photo (validation photo and bigphoto renderings, 400 each at two
    seeds, read as with one area average, digit for digit). The copy is
    rounded to 256 levels as `to_grayscale` reads an 8-bit picture
    (`EIGHT_BIT`): it reads as that photo given at the reduced size would,
    and `_hats` works on it in uint8 (12 MP 52 -> 48 ms side by side).
    Validation renderings of the five photo families (400 each at two
    seeds) then read 3 of 4,000 differently (1 more right, 2 fewer), and
    non-digit photos alike but for 2 fewer blank pages taken for digits.
    """
    k = max(1, min(max(gray.shape) // side, min(gray.shape)))  # a block never wider than a 1-px strip
    h, w = (n - n % k for n in gray.shape)
    if k > 1:
        gray = cv2.resize(gray[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)
    small = _fit(gray, side)
    return cv2.LUT(np.round(small * 255).astype(np.uint8), EIGHT_BIT[1]), small.shape[0] / h


def _stroke_width(mask):
    """Mean stroke width of a binary mask, pixels: about 4 x mean distance-to-edge - 2."""
    dist = cv2.distanceTransform(_pad(mask), cv2.DIST_L2, 5)[1:-1, 1:-1]
    return max(4.0 * float(dist[mask].mean()) - 2.0, 1.0)


def _mnist_layout(ink, mask, halfway=False):
    """Keep the main cluster of ink, join its broken strokes (`_bridged`), crop to it, bring the stroke width into
    MNIST's range, fit into 20 px and centre by mass in 28x28.

    Returns a list of float32 `(28, 28)` images: the layout, and with
    `halfway`, where a bold digit's strokes were thinned, its layout thinned
    half as much too (thinning strokes a fifth of the digit's size or more
    can turn a blob into a wiggle or open what a person reads as closed; the
    classifier chooses, `Recognizer.choose`).
    """
    mask = _main_cluster(mask, ink)
    stroke = float(median(_ridge_widths(mask)))
    ink, mask = _bridged(ink * cv2.dilate(mask.astype(np.uint8), _disk(stroke / 2)), mask, stroke)
    r0, r1, c0, c1 = bbox(mask)
    ink, mask = ink[r0:r1, c0:c1], mask[r0:r1, c0:c1]
    scale = BOX / max(ink.shape)
    width = _stroke_width(mask)
    excess = width - MNIST_STROKE / scale
    radius = int(round(abs(excess) / 2))
    inks = [ink]
    if radius >= 1 and not MNIST_STROKE_RANGE[0] <= width * scale <= MNIST_STROKE_RANGE[1]:
        if excess < 0:  # thin pen on a big picture: it would vanish when shrunk
            inks = [cv2.dilate(np.pad(ink, radius), _disk(2 * radius + 1))]
        else:  # a marker: it would fill the loops
            radius = _whole_erosion(mask, radius)
            halves = [round(radius / 2)] if halfway and radius >= 2 else []  # a radius of 0 or 1 erodes alike
            inks = [cv2.erode(ink, _disk(2 * r + 1)) for r in [radius, *halves]]
    return [_centred(i) for i in inks]


def _bridged(ink, mask, width):
    """A digit in pieces (a ballpoint skipping on glossy paper, a broken thin stroke) with its broken strokes'
    ends joined.

    Two ends of the skeletons (Zhang and Suen 1984, scikit-image's
    `skeletonize`) of different pieces are joined by a straight stroke
    `width` px wide where they are at most `GAP_BRIDGE` stroke widths apart
    and each points at the other: within `JOIN_ANGLE` of the join, the
    stroke's direction taken over its last 2 widths of skeleton. This is
    good continuation, the rule by which aligned pieces of a contour are
    seen as one (the "association field" of Field, Hayes and Hess 1993,
    Vision Research 33). Each end is joined once, nearest pairs first. A
    dot, a speck or a detached flag whose end points elsewhere stays apart.

    Args:
        ink: float32 `(H, W)`, light ink on 0; mask: bool `(H, W)`, its
            pixels; width: the strokes' width, pixels.

    Returns:
        `(ink, mask)` with the joins drawn in (at the ink's median strength),
        or the inputs themselves where nothing is joined.
    """
    labels, areas = _components(mask)
    if len(areas) <= 1:
        return ink, mask
    from skimage.morphology import skeletonize  # here: 0.1 s at start-up otherwise, for broken digits only

    joins = _joins(*_stroke_ends(skeletonize(mask), labels, width), GAP_BRIDGE * width)
    if not joins:
        return ink, mask
    ink, joined, value = ink.copy(), mask.view(np.uint8).copy(), float(median(ink[mask]))
    for p, q in joins:
        for image, level in ((joined, 1), (ink, value)):
            cv2.line(image, (int(p[1]), int(p[0])), (int(q[1]), int(q[0])), level, max(1, int(round(width))))
    return ink, joined.astype(bool)


def _stroke_ends(skeleton, labels, width):
    """The skeleton's end points (one neighbour; int `(n, 2)` of `(row, col)`), the directions the strokes run out
    along (float `(n, 2)`, from the mean of their skeleton within 2 `width` of the end, found with a k-d tree) and
    the labels of their pieces `(n,)`; pieces whose skeleton is shorter than 2 `width` (dots) have none."""
    from scipy.spatial import cKDTree  # here, as `_bridged`'s skeletonize: 70 ms more at every start-up otherwise

    neighbours = cv2.filter2D(skeleton.view(np.uint8), -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT)
    track, pieces = np.argwhere(skeleton), labels[skeleton]
    points = np.argwhere(skeleton & (neighbours == 2))
    points = points[np.bincount(pieces)[labels[tuple(points.T)]] >= 2 * width]  # not the ends of dots
    own_piece = labels[tuple(points.T)]
    near = cKDTree(track).query_ball_point(points, 2 * width * (1 + 1e-9)) if len(points) else []
    directions = np.zeros((len(points), 2))
    for k, (end, found) in enumerate(zip(points, near)):  # the skeleton of its own piece within 2 widths
        found = np.sort(found)  # in the track's order, as the mean was taken before the k-d tree
        own = track[found][(pieces[found] == own_piece[k]) & (np.hypot(*(track[found] - end).T) <= 2 * width)]
        directions[k] = end - own.mean(axis=0)
    return points, directions, own_piece


def _joins(points, directions, pieces, reach):
    """`[(p, q)]`: the pairs of stroke ends (`_stroke_ends`) of different pieces, at most `reach` px apart, that
    point at each other (`_point_at`), nearest first, each end once. Pairs are looked up in a k-d tree (SciPy's)
    and tested together, not one by one: a blotchy marker digit's skeleton has hundreds of spurs."""
    from scipy.spatial import cKDTree

    if len(points) < 2:
        return []
    first, later = cKDTree(points).query_pairs(reach * (1 + 1e-9), output_type="ndarray").T  # first < later
    gap = np.hypot(*(points[first] - points[later]).T)
    ok = ((gap <= reach) & (pieces[later] != pieces[first]) & _point_at(points[later], directions[later], points[first])
          & _point_at(points[first], directions[first], points[later]))
    used, joins = set(), []
    for k in np.flatnonzero(ok)[np.lexsort((first[ok], later[ok], gap[ok]))]:
        if not {later[k], first[k]} & used:
            used |= {later[k], first[k]}
            joins.append((points[later[k]], points[first[k]]))
    return joins


def _point_at(p, direction, q):
    """Whether strokes ending at `p` (`(n, 2)`) and running out along `direction` point at `q`: within `JOIN_ANGLE`
    (bool `(n,)`)."""
    d = (q - p).astype(np.float64)
    dot = d[:, 0] * direction[:, 0] + d[:, 1] * direction[:, 1]
    return dot >= np.cos(np.radians(JOIN_ANGLE)) * np.hypot(*d.T) * np.hypot(*direction.T)


def _centred(ink):
    """`ink` (float32, cropped to the digit) fitted into `BOX` px and centred by mass in 28x28, peak 1."""
    digit = _fit(ink, BOX)
    peak = float(digit.max())
    if peak <= 0:
        raise ImageError("no ink found after resizing")
    digit /= peak
    h, w = digit.shape
    out = np.zeros((SIZE, SIZE), "float32")
    top, left = (SIZE - h) // 2, (SIZE - w) // 2
    out[top : top + h, left : left + w] = digit
    cy, cx = ndimage.center_of_mass(out)
    shift = (round(MNIST_CENTER[0] - cy), round(MNIST_CENTER[1] - cx))
    return ndimage.shift(out, shift, order=0, mode="constant", cval=0.0)


def _whole_erosion(mask, radius):
    """The largest erosion radius up to `radius` (pixels, at least 1) that leaves `mask` in as many pieces.

    Thinning a marker's strokes towards MNIST's pen must not cut a stroke
    through (a small digit drawn with a thick pen has narrow necks between
    its blobs) or erase a piece (a 5's flag): the connected components of
    the eroded mask must be as many as the mask's, as in the topology
    preservation that thinning algorithms guarantee (Lam, Lee and Suen 1992,
    "Thinning methodologies: a comprehensive survey", IEEE PAMI 14).
    """
    pieces = len(_components(mask)[1])
    while radius > 1 and len(_components(cv2.erode(mask.astype(np.uint8), _disk(2 * radius + 1)) > 0)[1]) != pieces:
        radius -= 1
    return radius


def _source_resolution(gray):
    """`gray` (float32 `(H, W)`) as it was before it was enlarged by repeating each pixel k x k times (k >= 2), or
    `gray` itself.

    Viewers, pixel editors and plotting tools enlarge tiny scans that way
    (nearest-neighbour): such a picture is read as the tiny scan it shows,
    so that what is read of tiny images (their enlargement, a stretched
    digit's aspect) holds for it too. k is the greatest common divisor of
    the runs of identical rows and columns, and the repetition must be exact
    (a photo or an anti-aliased drawing fails at its first two rows, which
    costs nothing to check). Pictures over `2 * LOCATE_SIDE` px a side are
    not searched (a big scan's blank margins would cost a full pass).
    """
    h, w = gray.shape
    if not 2 <= min(h, w) <= max(h, w) <= 2 * LOCATE_SIDE or np.gcd(h, w) < 2 or not (
            np.array_equal(gray[0], gray[1]) and np.array_equal(gray[:, 0], gray[:, 1])):
        return gray
    changes = [(np.diff(gray, axis=axis) != 0).any(axis=1 - axis) for axis in (0, 1)]  # between rows, columns
    runs = [np.diff(np.flatnonzero(np.concatenate([[True], c, [True]]))) for c in changes]
    k = int(np.gcd.reduce(np.concatenate(runs)))
    small = gray[::k, ::k]
    if k < 2 or not np.array_equal(np.repeat(np.repeat(small, k, axis=0), k, axis=1), gray):
        return gray
    return small


def _smooth_source(gray):
    """`gray` (float32 `(H, W)`) reduced to a tiny picture (under `MIN_SIDE`) where it holds no finer detail:
    a tiny scan enlarged smoothly (bicubic, bilinear), whose edges are ramps many pixels wide and read as a
    shadow's; else `gray` itself.

    The test: an area reduction to `MIN_SIDE - 1` px on the longest side,
    enlarged back (bicubic), differs from `gray` by under `SMOOTH_ERROR`
    anywhere. Pictures under `MIN_SIDE` px, or over `2 * LOCATE_SIDE`,
    are left as they are.
    """
    h, w = gray.shape
    if not MIN_SIDE <= max(h, w) <= 2 * LOCATE_SIDE:
        return gray
    scale = (MIN_SIDE - 1) / max(h, w)
    small = _resize(gray, max(1, round(w * scale)), max(1, round(h * scale)))
    return small if cv2.norm(_resize(small, w, h), gray, cv2.NORM_INF) < SMOOTH_ERROR else gray


def source_image(image):
    """`to_grayscale(image)` at the resolution whose detail it holds: a picture enlarged by pixel repetition or
    smoothly from a tiny one, as that tiny one (`_source_resolution`, `_smooth_source`); float32 `(H, W)`."""
    return _smooth_source(_source_resolution(to_grayscale(image)))


def _in_mnist_layout(gray):
    """`gray` as light ink on black if it already has MNIST's layout, else None.

    That is a 28x28 digit on an exactly uniform black (or white) background,
    its ink box 18-20 px and its centre of mass within half a pixel of
    `MNIST_CENTER`: MNIST's own images (all 10,000 test digits) and
    `normalize`'s output, so `normalize` is idempotent. Extracting their ink
    again could only lose detail.
    """
    if gray.shape != (SIZE, SIZE):
        return None
    for img in (gray, 1.0 - gray):
        ink = img > 0.5 / 255
        if not ink.any() or ink.mean() > 0.5:
            continue
        r0, r1, c0, c1 = bbox(ink)
        offset = np.subtract(ndimage.center_of_mass(img), MNIST_CENTER)
        if BOX - 2 <= max(r1 - r0, c1 - c0) <= BOX and np.abs(offset).max() <= 0.5:
            return img.astype(np.float32)
    return None


def normalize(image):
    """Turn a picture of one handwritten digit into the model's 28x28 input.

    Args:
        image: a file path, encoded bytes, a `PIL.Image.Image`, or a NumPy
            array `(H, W)`, `(H, W, 3)` or `(H, W, 4)`, uint8 in [0, 255] or
            float in [0, 1], any size; dark ink on light paper or light ink
            on dark, a scan, a photo or a canvas drawing.

    Returns:
        float32 `(28, 28)` in [0, 1]: light ink on black, the longest side
        of the digit 20 px, centre of mass at (14, 14), as in MNIST. An
        image already in that layout (an MNIST digit, either polarity, or
        `normalize`'s own output) is returned as it is.

    Raises:
        ImageError: unreadable or too-large file, unsupported shape, or no
            ink found (blank image).
    """
    return normalize_hypotheses(image, alternatives=False)[0]


def normalize_ink(ink):
    """`normalize` for ink that `extract_ink` already separated from its paper (a number's candidate digit).

    Its polarity is known (light on exact black) and it holds no shade,
    texture or page lines, so of `_reading` only the stroke width is taken
    (of the light side of Otsu's split, as `_global_reading` measures it); the ink is then
    extracted again at that width and laid out as MNIST, as `normalize` does.
    Ink that touches the frame gets a margin of black first (15 % of the
    longest side, `with_margin`, as `segmentation` gives its candidates), so that the
    paper estimate has room beside the strokes.

    Args:
        ink: float32 `(H, W)` in [0, 1], light ink on 0.

    Returns:
        float32 `(28, 28)` in [0, 1], as `normalize`.

    Raises:
        ImageError: no ink found.
    """
    return normalize_ink_hypotheses(ink, alternatives=False)[0]


def normalize_ink_hypotheses(ink, alternatives=True):
    """`normalize_ink`'s image and, for a bold digit whose strokes it thinned, that digit thinned half as much.

    Thinning a bold digit's strokes to MNIST's pen can erode a blotted 8
    into a fragment; the classifier chooses (`Recognizer.choose`), as it
    does for `normalize_hypotheses`' readings of a picture.

    Args:
        ink: as for `normalize_ink`.
        alternatives: False returns the first image only (`normalize_ink`).

    Returns:
        float32 `(k, 28, 28)` in [0, 1], k = 1 or 2; `[0]` is `normalize_ink(ink)`.

    Raises:
        ImageError: no ink found.
    """
    ink = np.asarray(ink, "float32")
    if ink[[0, -1]].any() or ink[:, [0, -1]].any():
        ink = with_margin(ink)
    work, _ = _working_image(ink)
    _check_contrast(work)
    _, width, _ = _stroke_reading(work > _otsu(work), work)  # the light side of `_global_reading`'s split
    if not width:  # no strokes of a consistent width on the light side: read it as any picture
        return normalize(ink)[None]
    return np.stack(_mnist_layout(*_extract(work, (False, width), dashes=False)[:2], halfway=alternatives))


def with_margin(ink):
    """`ink` (float32 `(H, W)`, light on 0) in a black margin of 15 % of its longest side (at least 2 px) all round."""
    return np.pad(ink, max(2, round(0.15 * max(ink.shape))))


def normalize_hypotheses(image, alternatives=True):
    """`normalize`'s image, and other readings of it where what is ink is in doubt.

    Thick strokes that fill a tight crop (a 16x16 binary scan) leave paper
    between them that looks like strokes too, and which side is ink is
    then not clear from the shapes alone (`_reading`, `POLARITY_MARGIN`);
    and a sharp-edged region (a hard shadow) may hold thin strokes of its
    own. The image is then normalized each way, and the classifier decides:
    `Recognizer.choose` keeps the one that looks most like a digit. Each
    reading whose ink has a second, darker level (a narrow shadow band
    joined to the strokes: `_darkest_class`) is offered without its lighter
    level too, and each bold digit, whose strokes are thinned towards
    MNIST's pen, thinned half as much too (`_mnist_layout`).
    A tiny image whose ink reaches all four borders (a digit stretched to
    fill its frame) is read at `STRETCHED_ASPECT` of its width too: the
    stretch lost its aspect ratio.
    A picture enlarged by pixel repetition, or smoothly from a tiny one, is
    read as the tiny one it shows (`_source_resolution`, `_smooth_source`).

    Args:
        image: as for `normalize`.
        alternatives: False returns the first image only (`normalize`).

    Returns:
        float32 `(k, 28, 28)` in [0, 1], k = 1 to 18; `[0]` is `normalize(image)`.

    Raises:
        ImageError: as for `normalize`.
    """
    gray = source_image(image)
    same = _in_mnist_layout(gray)
    if same is not None:
        return same[None]
    # A big photo is searched at LOCATE_SIDE; one over twice that side, where that finds no ink, at twice that again:
    # a small digit drawn with a thin pen is under a pixel wide at the first scale, where a shadow's edge may be
    # taken for the ink. (Smaller photos keep at least half their stroke width at the first scale; searching them
    # again at full resolution read 41 of 200 blank-paper photos as digits instead of 23.)
    locate = [LOCATE_SIDE] + ([2 * LOCATE_SIDE] if max(gray.shape) > 2 * LOCATE_SIDE else [])
    found = first_found(lambda side: _hypotheses(*_working_image(gray, side), alternatives), locate)[0]
    if not (alternatives and _fills_its_frame(gray)):
        return found
    narrow = _resize(gray, max(1, round(STRETCHED_ASPECT * gray.shape[1])), gray.shape[0])
    with contextlib.suppress(ImageError):
        found = np.concatenate([found, _hypotheses(*_working_image(narrow), alternatives)])
    return found


def _fills_its_frame(gray):
    """Whether a tiny image (under `MIN_SIDE`) has ink reaching all four of its borders: the smaller side of Otsu's
    split (the ink of all but the boldest digits) touches each."""
    if max(gray.shape) >= MIN_SIDE:
        return False
    ink = gray > _otsu(gray)
    if 2 * np.count_nonzero(ink) > ink.size:
        ink = ~ink
    return bool(ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any())


def _hypotheses(work, enlargement, alternatives):
    """`normalize_hypotheses` on the working image `work` (see `_working_image`)."""
    _check_contrast(work)
    work = lift_page_lines(work)
    readings = _reading(work, finest=enlargement)
    found = _extracted(work, readings, alternatives)
    return np.stack([image for ink, mask in found for image in _layouts(ink, mask, alternatives)])


def _layouts(ink, mask, alternatives):
    """`_mnist_layout(ink, mask)`, and with `alternatives`, a bold digit thinned half as much and the layout of the
    ink's darkest class where it has one."""
    core = _darkest_class(ink, mask) if alternatives else None
    return _mnist_layout(ink, mask, alternatives) + ([] if core is None else _mnist_layout(ink * core, core))


def _darkest_class(ink, mask):
    """The mask of the darker class of Otsu's split of the ink's strength, where it is a second, darker level.

    A shadow band no wider than three strokes passes the rolling-ball
    background and joins the strokes it crosses (a pen or a ruler lying on
    the page); a pen's ink is darker than any shadow, and darker still inside
    one. Where Otsu's split of the strength within `mask` leaves a darker
    class at least `CORE_CONTRAST` times as strong on average as the lighter,
    each with at least a tenth of the pixels, the lighter class reaches the
    picture's border and at least a quarter of it lies more than a stroke
    width from the darker (a band crossing the page, not the soft edges of
    the strokes themselves, nor the strokes that a shaking hand smeared
    lighter across the direction of its motion, which stay within the
    digit), the darker class is returned (Otsu applied again to the darker
    side, as Cheriet, Said and Suen 1998, "A recursive thresholding technique for
    image segmentation", IEEE TIP 7, extract the darkest object of a
    cheque); else None. The classifier decides between the two
    (`Recognizer.choose`).
    """
    strength = ink[mask]
    darker = strength > _otsu(strength)
    if not 0.1 <= darker.mean() <= 0.9:
        return None
    if strength[darker].mean() < CORE_CONTRAST * strength[~darker].mean():
        return None
    core = np.zeros_like(mask)
    core[mask] = darker
    lighter = mask & ~core
    if not (lighter[[0, -1]].any() or lighter[:, [0, -1]].any()):  # no band crossing the picture (motion blur)
        return None
    near = cv2.dilate(core.astype(np.uint8), _disk(2 * float(median(_ridge_widths(core))) + 1)).astype(bool)
    return core if (lighter & ~near).sum() >= 0.25 * lighter.sum() else None


def _extracted(gray, readings, alternatives):
    """`(ink, mask)` of `_extract` for each of `readings` that finds ink (the first only, without `alternatives`),
    each shade replaced by the ink it was read instead of.

    A pen's ink is darker than any shadow it lies in or beside: a reading
    is a shade (a hard-edged shadow band, read as a bar: a "1") where a
    reading of its polarity at least `SHADOW_WIDTH` times thinner finds ink
    `SHADOW_CONTRAST` times its median contrast; the darkest such reading
    takes its place (once). Where the first reading that finds ink is that
    much wider than others of its polarity, they are extracted too,
    alternatives or not, so that `extract_ink` and `normalize` read what
    their alternatives' first is.

    Raises:
        ImageError: no reading finds ink (the first one's error).
    """
    def extract(reading):
        return (reading, *_extract(gray, reading))

    def thinner(reading, than):  # of the same polarity, at least SHADOW_WIDTH times thinner
        return reading[0] == than[0] and SHADOW_WIDTH * reading[1] <= than[1]

    found = first_found(extract, readings, alternatives)
    narrower = [] if alternatives else [r for r in readings if thinner(r, found[0][0])]
    with contextlib.suppress(ImageError):  # thinner readings that find no ink are no evidence
        found += first_found(extract, narrower, every=True) if narrower else []
    kept = {}  # reading: (ink, mask), in the order of the readings they stand for
    for f in found:  # each replaced by the darkest reading that shows it up as a shade, if any
        darker = [o for o in found if thinner(o[0], f[0]) and o[3] >= SHADOW_CONTRAST * f[3]]
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
