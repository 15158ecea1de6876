"""Input normalization: turn any picture of one digit into an MNIST-like 28x28 image.

MNIST was built from NIST scans by fitting each digit into a 20x20 box
(keeping its aspect ratio, with anti-aliasing) and placing it in a 28x28
field so that its centre of mass sits at the centre (LeCun, Bottou, Bengio
and Haffner 1998, "Gradient-based learning applied to document
recognition", and the MNIST page). A model trained on MNIST reads other
handwriting well only when that handwriting is prepared the same way, so
`normalize` repeats those steps after separating ink from paper, a stage
(`digitrec.ink`) that number segmentation shares. The stages, and the modules
that do them (the data flowing one way):

1. (this module) working resolution: tiny images (a 16x16 scan) are enlarged before any
   filtering; large ones are searched at `LOCATE_SIDE` and the region
   around the ink is cut from the full-resolution image;
2. (`digitrec.ink`) noise: a picture whose sensor noise would hide faint
   strokes under the noise floor (a photo taken in low light) is
   median-filtered first (`denoised`); polarity and stroke width, from the
   whole image (`ink_readings`): ink is the
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
   a tiny scan enlarged is also read by one global Otsu threshold, whose
   even paper needs no background, where the other readings lost a quarter
   of its ink (`global_splits`: a blurred scan's strokes);
   where the ink then has two levels, a shadow band narrow enough to pass
   the closing and the darker pen, the darker level alone is a reading too;
   a reading whose ink is a shade (a hard-edged shadow band: ink at most
   two thirds as dark as strokes a third as wide) gives way to those
   strokes (`extract_readings`);
4. clean-up: the lines of squared or ruled paper are lifted from the page
   before the reading (`digitrec.pagelines`); specks, printed boxes and ruled
   lines (`digitrec.formlines`), and marks away from the digit's own
   cluster of strokes are dropped;
5. (this module) layout: crop to the ink; dilate or erode strokes whose width at the
   20 px scale is outside MNIST's usual range (2.1-3.9 px) towards its
   median (never cutting a stroke through); scale the longest side to
   20 px with area averaging, place in 28x28 and shift the intensity
   centre of mass to (14, 14).

An image already in that layout (an MNIST digit in either polarity, or
`normalize`'s own output) is returned unchanged, so `normalize` is the
identity on MNIST and idempotent. Every filter is sized from the estimated
stroke width, never from the image size, and thick strokes are separated on a copy where they are
`ink.STROKE_WORK` pixels wide. The primitives every stage shares (resampling, Otsu's threshold,
connected components, stroke widths) are in `digitrec.masks`. `digitrec bench --robustness` measures the
result on fifteen families of rendered input (`digitrec.renderings`).
"""

import contextlib

import cv2
import numpy as np
from scipy import ndimage

from digitrec import masks
from digitrec._stats import median
from digitrec.decoding import to_grayscale
from digitrec.errors import ImageError
from digitrec.formlines import cell_lines
from digitrec.ink import (
    EIGHT_BIT,
    check_contrast,
    darkest_class,
    divided_by_paper,
    extract_reading,
    extract_readings,
    first_found,
    global_splits,
    ink_readings,
    read_ink,
    stroke_reading,
    stroke_width,
    without_shadows,
)

SIZE = 28  # output side, pixels
BOX = 20  # longest side of the digit in the output, pixels (LeCun et al. 1998)
MNIST_CENTER = (14.0, 14.0)  # mean intensity centre of mass of MNIST digits, (row, col)
# Stroke width of MNIST training digits at the 20 px scale, as `_stroke_width` measures it,
# pixels: median and 5th-95th percentiles (every 30th training image).
MNIST_STROKE, MNIST_STROKE_RANGE = 2.7, (2.1, 3.9)
GAP_BRIDGE = 4.0  # broken strokes' ends this many stroke widths apart or nearer may be joined (`_bridged`)
JOIN_ANGLE = 45  # if each points at the other within this many degrees
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
# A picture that a reduction to under `MIN_SIDE` px and back reproduces within this share of its contrast (its range
# of levels), anywhere, is a tiny scan enlarged smoothly, read at that size (`_smooth_source`). Set a priori between
# what was measured on validation renderings: binary16 scans enlarged 2-16 times (bicubic) differ by at most 0.06,
# the families' photos, canvases, forms and the non-digit pictures by at least 0.2 (of their contrast: at least
# 0.25). Resampling is linear, so its error scales with the contrast: measured in levels, not in shares of the
# contrast (as until 2026-12-05), a faint or hazy photo, or one out of focus, passed for a tiny scan and was read at
# 63 px, where its strokes are a pixel wide and fainter than grain.
SMOOTH_ERROR = 0.1


def _main_cluster(mask, strength):
    """The digit: the cluster of ink components, joined across gaps of up to four stroke widths, with the most ink.

    A 5's detached flag or a broken stroke stays with its digit; stray marks,
    texture and a dot elsewhere on the page go.
    """
    widths = masks.ridge_widths(mask)
    joined = cv2.dilate(mask.astype(np.uint8), masks.disk(4 * float(median(widths)) + 1))
    labels, areas = masks.components(joined)
    if len(areas) <= 1:
        return mask
    mass = np.bincount(labels[mask], weights=strength[mask], minlength=len(areas) + 1)
    return mask & (labels == int(mass[1:].argmax()) + 1)


def _working_image(gray, locate=LOCATE_SIDE):
    """The image at the resolution ink is extracted at.

    Tiny images (a 16x16 scan) are enlarged to at least `MIN_SIDE` first, so
    thresholds and filters work on smooth strokes; large ones are searched
    at `locate` px a side, and the region around the ink (plus a margin) is
    cut from the full-resolution image, so a small digit in a big photo
    keeps its detail. Where the search reads the ink more than one way
    (`ink_readings`: the polarity of thick strokes in doubt, or the paper
    between them read as thin strokes), the region covers what each reading
    finds: the second pass reads the region again, and the classifier
    chooses between its readings.

    Returns `(image, enlargement)`: the enlargement factor is 1 unless the
    image was tiny.
    """
    h, w = gray.shape
    if max(h, w) < MIN_SIDE:
        k = int(np.ceil(MIN_SIDE / max(h, w)))
        return masks.resize(gray, w * k, h * k), k
    if max(h, w) <= locate:
        return gray, 1
    small, scale = _reduced(gray, locate)
    found = first_found(lambda reading: extract_reading(small, reading), ink_readings(small), every=True)
    r0, r1, c0, c1 = np.array([_region(ink, mask, scale * ink.shape[0] / small.shape[0]) for ink, mask, _ in found]).T
    r0, r1, c0, c1 = max(0, r0.min()), min(h, r1.max()), max(0, c0.min()), min(w, c1.max())
    crop = gray[r0:r1, c0:c1]
    return (_reduced(crop, LOCATE_SIDE)[0] if max(crop.shape) > LOCATE_SIDE else crop), 1


def _region(ink, mask, s):
    """`(r0, r1, c0, c1)`: the digit's box in `ink` found at scale `s` (`_working_image`), with a generous margin,
    in the full-resolution image's pixels (not clipped to it)."""
    r0, r1, c0, c1 = masks.bbox(_main_cluster(mask, ink))
    margin = 0.5 * max(r1 - r0, c1 - c0) + 4  # generous: the second pass finds the digit again
    return int((r0 - margin) / s), int((r1 + margin) / s + 1), int((c0 - margin) / s), int((c1 + margin) / s + 1)


def _reduced(gray, side):
    """`gray` shrunk to a longest side of `side` pixels, in 256 levels, and the scale (its pixels per `gray`'s).

    A whole factor is taken first by OpenCV's block averaging (its fast
    path; the last rows and columns that fill no block, under a pixel at
    `side`, are left out), the rest by area averaging (`masks.fit`): a box
    slightly wider than one area average's, at a third of the cost on a
    big photo (validation photo and bigphoto renderings, 400 each at two
    seeds, read as with one area average, digit for digit). The copy is
    rounded to 256 levels as `to_grayscale` reads an 8-bit picture
    (`EIGHT_BIT`): it reads as that photo given at the reduced size would,
    and `ink._hats` works on it in uint8 (12 MP 52 -> 48 ms side by side).
    Validation renderings of the five photo families (400 each at two
    seeds) then read 3 of 4,000 differently (1 more right, 2 fewer), and
    non-digit photos alike but for 2 fewer blank pages taken for digits.
    """
    k = max(1, min(max(gray.shape) // side, min(gray.shape)))  # a block never wider than a 1-px strip
    h, w = (n - n % k for n in gray.shape)
    if k > 1:
        gray = cv2.resize(gray[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)
    small = masks.fit(gray, side)
    return cv2.LUT(np.round(small * 255).astype(np.uint8), EIGHT_BIT[1]), small.shape[0] / h


def _stroke_width(mask):
    """Mean stroke width of a binary mask, pixels: about 4 x mean distance-to-edge - 2."""
    dist = cv2.distanceTransform(masks.pad(mask), cv2.DIST_L2, 5)[1:-1, 1:-1]
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
    stroke = float(median(masks.ridge_widths(mask)))
    ink, mask = _bridged(ink * cv2.dilate(mask.astype(np.uint8), masks.disk(stroke / 2)), mask, stroke)
    r0, r1, c0, c1 = masks.bbox(mask)
    ink, mask = ink[r0:r1, c0:c1], mask[r0:r1, c0:c1]
    scale = BOX / max(ink.shape)
    width = _stroke_width(mask)
    excess = width - MNIST_STROKE / scale
    radius = int(round(abs(excess) / 2))
    inks = [ink]
    if radius >= 1 and not MNIST_STROKE_RANGE[0] <= width * scale <= MNIST_STROKE_RANGE[1]:
        if excess < 0:  # thin pen on a big picture: it would vanish when shrunk
            inks = [cv2.dilate(np.pad(ink, radius), masks.disk(2 * radius + 1))]
        else:  # a marker: it would fill the loops
            radius = _whole_erosion(mask, radius)
            halves = [round(radius / 2)] if halfway and radius >= 2 else []  # a radius of 0 or 1 erodes alike
            inks = [cv2.erode(ink, masks.disk(2 * r + 1)) for r in [radius, *halves]]
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
    labels, areas = masks.components(mask)
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
    digit = masks.fit(ink, BOX)
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
    pieces = len(masks.components(mask)[1])
    while radius > 1 and len(masks.components(cv2.erode(mask.astype(np.uint8), masks.disk(2 * radius + 1)) > 0)[1]) != pieces:
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
    times `gray`'s range of levels, anywhere: the same for the picture at
    any contrast. Pictures under `MIN_SIDE` px, or over `2 * LOCATE_SIDE`,
    are left as they are.
    """
    h, w = gray.shape
    if not MIN_SIDE <= max(h, w) <= 2 * LOCATE_SIDE:
        return gray
    scale = (MIN_SIDE - 1) / max(h, w)
    small = masks.resize(gray, max(1, round(w * scale)), max(1, round(h * scale)))
    contrast = float(gray.max() - gray.min())  # resampling is linear: its error scales with the contrast
    return small if cv2.norm(masks.resize(small, w, h), gray, cv2.NORM_INF) < SMOOTH_ERROR * contrast else gray


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
        r0, r1, c0, c1 = masks.bbox(ink)
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
    texture or page lines, so of `ink_readings` only the stroke width is taken
    (of the light side of Otsu's split, as `ink._split_sides` measures it); the ink is then
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
    check_contrast(work)
    # the light side of `ink._split_sides`' split
    _, width, _ = stroke_reading(work > masks.otsu(work), work, by_area=True)
    if not width:  # no strokes of a consistent width on the light side: read it as any picture
        return normalize(ink)[None]
    return np.stack(_mnist_layout(*extract_reading(work, (False, width), dashes=False)[:2], halfway=alternatives))


def with_margin(ink):
    """`ink` (float32 `(H, W)`, light on 0) in a black margin of 15 % of its longest side (at least 2 px) all round."""
    return np.pad(ink, max(2, round(0.15 * max(ink.shape))))


def normalize_hypotheses(image, alternatives=True):
    """`normalize`'s image, and other readings of it where what is ink is in doubt.

    Thick strokes that fill a tight crop (a 16x16 binary scan) leave paper
    between them that looks like strokes too, and which side is ink is
    then not clear from the shapes alone (`ink_readings`, `POLARITY_MARGIN`);
    and a sharp-edged region (a hard shadow) may hold thin strokes of its
    own. The image is then normalized each way, and the classifier decides:
    `Recognizer.choose` keeps the one that looks most like a digit. Each
    reading whose ink has a second, darker level (a narrow shadow band
    joined to the strokes: `darkest_class`) is offered without its lighter
    level too, and each bold digit, whose strokes are thinned towards
    MNIST's pen, thinned half as much too (`_mnist_layout`).
    A tiny image whose ink reaches all four borders (a digit stretched to
    fill its frame) is read at `STRETCHED_ASPECT` of its width too: the
    stretch lost its aspect ratio. A tiny image's ink is also read by one
    global Otsu split of its levels where the others lost some (`ink.global_splits`).
    A picture enlarged by pixel repetition, or smoothly from a tiny one, is
    read as the tiny one it shows (`_source_resolution`, `_smooth_source`);
    one enlarged smoothly, which may as well be a photo out of focus whose
    digit is a tenth of the picture (a few pixels tall at that size), is
    read at its own size too. Each reading whose ink holds pieces cut by a
    side of the picture with paper between them and the rest (the edges of
    a digit's neighbours, in a crop from a written number) is offered
    without them too (`_side_pieces`), and each with full rows or columns
    of ink along the sides of its bounding box (the printed lines of a
    form's cell that the crop was cut on) without those (`cell_lines`).
    A picture of dark ink on unevenly lit paper (a hard shadow's edge across
    it) is read divided by its paper's light too (`divided_by_paper`, the
    ink's polarity told at its strokes' scale), each reading of that offered
    as well: a page always; a tiny scan enlarged where its first reading
    took light ink (the paper lit beside the shadow), or where its own
    reading, of dark ink, finds none (divided as dark ink). Figures and the
    variants left out: README, "Shadows and uneven light" and "What it
    still misreads".

    Args:
        image: as for `normalize`.
        alternatives: False returns the first image only (`normalize`).

    Returns:
        float32 `(k, 28, 28)` in [0, 1], k >= 1 (a tiny scan's global split adds up to three; twice as
        many for a smooth picture, read at two sizes, or an unevenly lit picture, read divided by its paper's light
        too), and up to two more for each reading with pieces or lines at the sides to leave out; `[0]` is
        `normalize(image)` where that finds ink (an unevenly lit picture's ink may be found divided only).

    Raises:
        ImageError: as for `normalize`.
    """
    full = _source_resolution(to_grayscale(image))
    gray = _smooth_source(full)
    same = _in_mnist_layout(gray)
    if same is not None:
        return same[None]
    # a smooth picture is read at full size too: a photo out of focus holds no finer detail than a tiny scan
    # enlarged, but its digit may be a tenth of the picture, a few pixels tall at 63 px
    sizes = [gray] if gray is full or not alternatives else [gray, full]
    return np.concatenate(first_found(lambda g: _hypotheses_of(g, alternatives), sizes, every=True))


def _hypotheses_of(gray, alternatives):
    """`normalize_hypotheses` of the source image `gray` (float32 `(H, W)`), once smoothness is settled."""
    # A big photo is searched at LOCATE_SIDE; one over twice that side, where that finds no ink, at twice that again:
    # a small digit drawn with a thin pen is under a pixel wide at the first scale, where a shadow's edge may be
    # taken for the ink. (Smaller photos keep at least half their stroke width at the first scale; searching them
    # again at full resolution read 41 of 200 blank-paper photos as digits instead of 23.)
    locate = [LOCATE_SIDE] + ([2 * LOCATE_SIDE] if max(gray.shape) > 2 * LOCATE_SIDE else [])
    divide = not _bilevel(gray)
    found = first_found(lambda side: _hypotheses(*_working_image(gray, side), alternatives, divide=divide), locate)[0]
    if not (alternatives and _fills_its_frame(gray)):
        return found
    narrow = masks.resize(gray, max(1, round(STRETCHED_ASPECT * gray.shape[1])), gray.shape[0])
    with contextlib.suppress(ImageError):
        found = np.concatenate([found, _hypotheses(*_working_image(narrow), alternatives, split=False, divide=divide)])
    return found


def _bilevel(gray):
    """Whether a tiny image (under `MIN_SIDE`) holds two grey levels at most: a bilevel scan (a fax, a form scanned
    in black and white), which no shadow lies on (its light would be a third level), so it is never divided by its
    paper's light (`divided_by_paper`)."""
    return max(gray.shape) < MIN_SIDE and len(np.unique(gray)) <= 2


def _fills_its_frame(gray):
    """Whether a tiny image (under `MIN_SIDE`) has ink reaching all four of its borders: the smaller side of Otsu's
    split (the ink of all but the boldest digits) touches each."""
    if max(gray.shape) >= MIN_SIDE:
        return False
    ink = gray > masks.otsu(gray)
    if 2 * np.count_nonzero(ink) > ink.size:
        ink = ~ink
    return masks.reaches_every_side(ink)


def _hypotheses(work, enlargement, alternatives, split=True, divide=True):
    """`normalize_hypotheses` on the working image `work` (see `_working_image`); with `split`, a tiny scan's
    global split too (`global_splits`); with `divide`, an unevenly lit picture divided by its paper's light too
    (`divided_by_paper`, its polarity told at the stroke width read first): a page always, a tiny scan where its
    first reading takes light ink (the paper lit beside a hard shadow; its bold strokes alone may make its light look
    uneven), and else only where its own reading, of dark ink, finds none (divided as dark ink)."""
    page = enlargement == 1  # a tiny scan enlarged is no page: no lines to lift, no table beside it
    try:
        gray, readings = read_ink(work, finest=enlargement, lift=page)
    except ImageError as error:  # a page's ink may be found divided only
        if not (alternatives and divide and page):
            raise
        gray, readings, missing = None, [], error
    shades = []
    if page and readings:  # a shadow's band or half-plane read as a region of ink is no ink
        (readings, shades), missing = without_shadows(gray, readings), ImageError(
            "no ink found: only a shadow, which vanishes divided by the light")

    def own():  # where neither finds ink, the picture's own error is the one raised
        if not readings:
            raise missing
        return _read_hypotheses(gray, readings, enlargement, alternatives, split, shades)

    readers = [own]
    # a tiny scan is read divided beside its own reading where that took light ink, and else (its ink told dark)
    # where that finds none
    every = page or not readings[0][0]
    if alternatives and divide:
        flat = divided_by_paper(work, stroke_width(readings, work.shape), dark=not every)
        if flat is not None:
            readers.append(lambda: _hypotheses(flat, enlargement, alternatives, split, divide=False))
    return np.concatenate(first_found(lambda read: read(), readers, every=every))


def _read_hypotheses(gray, readings, enlargement, alternatives, split, shades=()):
    """`_hypotheses` of the picture `gray` whose ink `read_ink` read as `readings` (`shades` as for
    `extract_readings`)."""
    page = enlargement == 1
    found = extract_readings(gray, readings, alternatives, page, enlargement, shades)
    if alternatives and split and not page:  # a tiny scan enlarged: its ink read by one global threshold too
        found += global_splits(gray, readings, found)
    # a reading whose ink is gone at 20 px (crumbs beside a thick digit) is no ink, not the end of the others
    laid_out = first_found(lambda reading: _layouts(*reading, alternatives, page), found, every=True)
    return np.stack([image for images in laid_out for image in images])


def _layouts(ink, mask, alternatives, page):
    """`_mnist_layout(ink, mask)`, and with `alternatives`, a bold digit thinned half as much, the layout of the
    ink's darkest class where it has one (`darkest_class`; `page` as there) and those of the ink without the pieces
    at the picture's sides (`_side_pieces`) and without the lines along them (`cell_lines`) where it has some."""
    core = darkest_class(ink, mask, page) if alternatives else None
    side = _side_pieces(mask) if alternatives else None
    edges = cell_lines(mask) if alternatives else None
    return (_mnist_layout(ink, mask, alternatives) + ([] if core is None else _mnist_layout(ink * core, core))
            + ([] if side is None else _mnist_layout(ink, mask & ~side))
            + ([] if edges is None else _mnist_layout(ink, mask & ~edges)))


def _side_pieces(mask):
    """The pieces of ink cut by a side of the picture, in that side's half of it and with paper between them and
    the rest (no column, or row, holds both): fragments of a digit's neighbours in a crop from a written number
    (left and right) or a column of them (top and bottom). A bool mask, or None where there are none."""
    _, labels, stats, _ = masks.boxes(mask)
    start, end, size = stats[1:, :2], stats[1:, :2] + stats[1:, 2:4], np.array(mask.shape[::-1])  # (x, y) each
    before, after = (start == 0) & (2 * end <= size), (end == size) & (2 * start >= size)
    cut = (before | after).any(1)
    if not cut.any() or cut.all():
        return None
    apart = ((before & (end <= start[~cut].min(0))) | (after & (start >= end[~cut].max(0)))).any(1)
    return np.isin(labels, 1 + np.flatnonzero(apart)) if apart.any() else None
