"""Image and mask primitives that every stage of normalization shares.

Resampling (`resize`, `rescale`, `fit`), structuring elements (`disk`), grey-level closing (`closing`),
thresholds (Otsu 1979's `otsu`; `noise_floor`, a robust median + 4 sigma),
8-connected components and their statistics (`components`, `boxes`), speck
removal (`drop_specks`) and stroke widths along a mask's ridges
(`ridge_widths`, the distance transform's local maxima). Images are float32
in [0, 1] unless said otherwise; masks are bool; sizes are in pixels.
"""

import cv2
import numpy as np

from digitrec._stats import median, median_and_mad

WIDE_KERNEL = 41  # `closing` works on 256 levels in uint8 from this kernel side on, pixels (20 -> 9 ms there)
SKIP_REACH = 2.0  # ink this many stroke widths from a stroke or nearer is no speck (a skipping pen's dashes)


def resize(arr, width, height):
    """float32 `arr` resized to (height, width): area-averaged when shrinking, bicubic when enlarging."""
    shrink = width <= arr.shape[1] and height <= arr.shape[0]
    out = cv2.resize(arr, (int(width), int(height)), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


def rescale(arr, scale):
    """float32 `arr` (values in [0, 1]) scaled by `scale`, each side rounded to at least 1 pixel (see `resize`)."""
    return resize(arr, max(1, round(arr.shape[1] * scale)), max(1, round(arr.shape[0] * scale)))


def fit(arr, side):
    """`arr` scaled so that its longest side is `side` pixels (aspect kept)."""
    return rescale(arr, side / max(arr.shape))


def odd(x):
    """The odd integer nearest `x`, at least 3: the side of a filter window, pixels."""
    return max(3, int(round(x)) | 1)


def disk(diameter):
    """An elliptical structuring element (uint8, `odd(diameter)` px square) for OpenCV's morphology."""
    d = odd(diameter)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))


def closing(image, kernel):
    """OpenCV's grey-level closing of float32 `image` by the structuring element `kernel`, exactly.

    A closing only selects among the image's own values, so it commutes with
    any increasing map of them. Where the kernel is at least `WIDE_KERNEL` px
    wide and the image holds one value per level of 256 (an 8-bit picture,
    or one minus it: not a resampled copy), it runs on those levels in uint8,
    whose morphology is several times as fast (a 91 px disk on a 500 x 450
    photo: 93 -> 35 ms, the check included), and they are mapped back to
    the values. Elsewhere it runs on `image` itself (the check costs about
    2 ms on a quarter-megapixel image; a narrower kernel saves less).
    """
    if kernel.shape[0] >= WIDE_KERNEL:
        levels = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
        values = np.zeros(256, image.dtype)
        values[levels.ravel()] = image.ravel()
        if np.array_equal(values[levels], image):  # one value per level, so levels and values rise together
            return values[cv2.morphologyEx(levels, cv2.MORPH_CLOSE, kernel)]
    return cv2.morphologyEx(image, cv2.MORPH_CLOSE, kernel)


def otsu(values):
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


def noise_floor(*arrays):
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
    med, deviation = median_and_mad(np.concatenate(sample))
    return med + 4 * 1.4826 * float(deviation)


def components(mask, strength=None):
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


def boxes(mask):
    """OpenCV's 8-connected components of a bool mask with their statistics: `(n, labels, stats, centroids)`;
    `stats[i]` is `(left, top, width, height, area)` in pixels, row 0 the background's."""
    return cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)


def drop_specks(mask, strength, tall=False, reach=0):
    """Keep the components with at least 8 % of the strongest one's ink (sum of `strength`) and 2 px, and with
    `tall`, those at least half its extent too (the longer side of the bounding box): a thin 1 beside a
    number's bold digits has little ink, but is as tall as they are. With `reach` (pixels), the pieces of stroke
    that gaps of up to `reach` link to the kept ink are kept too (`_near_strokes`): the dashes of a stroke that the
    pen skipped.

    Returns the kept mask and the kept components' areas `(n,)`.
    """
    labels, areas, mass = components(mask, strength)
    if len(areas) <= 1:
        return mask, areas
    keep = np.concatenate([[False], (mass >= 0.08 * mass.max()) & (areas >= 2)])
    if reach and keep[1:].any() and not keep[1:].all():
        keep = _near_strokes(keep, labels, areas, mass, mask, reach)
    if keep[1:].all():
        return mask, areas
    strongest = int(mass.argmax())
    maybe = ~keep[1:] & (areas >= np.sqrt(areas[strongest]) / 2)  # a side half the strongest's needs this many px
    if tall and maybe.any():  # the labels are connectedComponents' (the same algorithm)
        stats = boxes(mask)[2][1:]
        extents = stats[:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]].max(axis=1)
        keep[1:] |= maybe & (extents >= 0.5 * extents[strongest])
    if not keep.any():
        keep[strongest + 1] = True
    kept, where = np.zeros(mask.shape, bool), np.flatnonzero(mask)  # the mask's pixels only: the labels' table
    kept.ravel()[where] = keep[labels.ravel()[where]]  # lookup over every pixel costs 3-6 times as much
    return kept, areas[keep[1:]]


def _near_strokes(keep, labels, areas, mass, mask, reach):
    """`keep` (bool `(n + 1,)` over `labels`, [0] the background) and every piece of stroke linked to a kept
    component by pieces of stroke with gaps up to `reach` px (joined by a dilation): the dashes of a stroke that
    the pen skipped. A piece of stroke is at least half as thick as a stroke (`reach` / `SKIP_REACH` px), as large
    as half a square of its side, and half as strong as the kept ink (mean strength: `mass`, each component's sum of
    it, over `areas`); salt noise, a line's
    remnants and faint texture beside the strokes are not, and texture away from the strokes is linked to none.
    """
    width = reach / SKIP_REACH
    dist = cv2.distanceTransform(pad(mask), cv2.DIST_L2, 3)[1:-1, 1:-1]
    mean = mass / areas  # the components' mean strength
    thick = np.bincount(labels[dist >= width / 4], minlength=len(keep))[1:] > 0  # ndimage.maximum's sort: 10x the cost
    stroke = np.concatenate([[False], thick & (areas >= width**2 / 2) & (mean >= 0.5 * median(mean[keep[1:]]))])
    pieces = np.take(keep | stroke, labels) & mask
    groups = components(cv2.dilate(pieces.view(np.uint8), disk(reach)) > 0)[0]
    seeded = np.zeros(groups.max() + 1, bool)
    seeded[groups[np.take(keep, labels) & mask]] = True
    group_of = np.zeros(len(keep), np.int64)
    group_of[labels[pieces]] = groups[pieces]
    return keep | (stroke & seeded[group_of])


def pad(mask):
    """A bool mask as uint8 with a one-pixel border of zeros (the distance transform's edge is then the mask's)."""
    return cv2.copyMakeBorder(mask.view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)


def ridge_widths(mask, where=False):
    """Stroke widths along the ridges of a mask, pixels: twice the distance to the edge at its local maxima.

    Measured within the mask's bounding box (everything beyond it is
    background, as the padding is: the same distances up to OpenCV's
    rounding, which differs by an ulp at some positions, at a fraction of
    the cost where the mask holds a digit in a big picture). With `where`,
    `(widths, (rows, columns))`: the ridge pixels too, in `mask`'s frame.
    """
    r0, c0 = 0, 0
    if mask.any():
        r0, r1, c0, c1 = bbox(mask)
        mask = mask[r0:r1, c0:c1]
    dist = cv2.distanceTransform(pad(mask), cv2.DIST_L2, 3)[1:-1, 1:-1]
    rows, cols = np.nonzero(mask & (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))))
    widths = 2 * dist[rows, cols]
    return (widths, (rows + r0, cols + c0)) if where else widths


def bbox(mask):
    """`(r0, r1, c0, c1)`: the rows and columns of `mask`'s True pixels (bool `(H, W)`, not all False), ends
    exclusive."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def reaches_every_side(mask):
    """Whether the bool `mask` (`(H, W)`) has True pixels in its first and last rows and columns: ink that reaches
    all four sides of the picture, as a digit's in a crop cut to it does."""
    return bool(mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any())
