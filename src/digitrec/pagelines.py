"""The lines of squared and ruled paper, lifted from a page before its ink is read.

A maths notebook's squares are as thin as a pen's strokes and cross the
digit written across them, so no reading of strokes alone tells them apart
(`digitrec.preprocessing` reads the ink after this stage): a third of the
`grid` family's digits were read as a patch of lattice. The lines are
straight, span the page and are evenly spaced, which a digit's strokes are
not; they are found, as ruled lines are in document image analysis, by
projection profiles, and lifted to the paper's brightness
(`lift_page_lines`).
"""

import cv2
import numpy as np

from digitrec._stats import median, percentile

LINE_CONTRAST = 0.03  # the least darkness relative to the paper of a pixel that takes part in the search for the angle

# A picture whose shorter side is under this is a tiny crop, not a page with printed lines, pixels: the size under
# which pictures are enlarged before any filtering (`preprocessing.MIN_SIDE`; an enlarged one is not searched
# either). It was 128 until 2026-12-05, and a
# photo of squared or ruled paper reduced to a quarter (100-160 px) kept its lattice as ink:
# `scripts/family_validation.py 5 200 grid ruled --shrink 0.25`, 142 -> 168 and 173 -> 185 of 200.
PAGE_SIDE = 64
PAGE_LINE = 7  # the black-hat disk that finds printed lines: lines up to about 5 px wide, pixels
PAGE_SKEW = 10.0  # the most a page's lines are tilted in the picture, degrees
PAGE_TILE = 0.6  # the side of the tiles searched again for lines that perspective turned, in the page's sides


def turned(a, degrees):
    """`a` turned by `degrees` about its centre onto a canvas that holds all of it (zero outside).

    Returns `(turned, inside, matrix)`: float32, the bool mask of the
    canvas pixels that come from `a`, and the (2, 3) affine matrix.
    """
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return warped(a, np.array([[c, s], [-s, c]]))


def warped(a, linear):
    """`a` mapped by the (2, 2) `linear` (x, y) -> (x', y') about its centre onto a canvas that holds all of it
    (zero outside); `turned` is the rotation. Returns `(warped, inside, matrix)` as `turned` does."""
    h, w = a.shape
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) - (w / 2, h / 2)
    extent = np.abs(corners @ np.asarray(linear, np.float64).T).max(axis=0)
    size = (int(np.ceil(2 * extent[0])), int(np.ceil(2 * extent[1])))
    m = np.hstack([linear, (np.array(size) / 2 - linear @ np.array([w / 2, h / 2]))[:, None]])
    out = cv2.warpAffine(a, m, size, flags=cv2.INTER_LINEAR, borderValue=-1.0)  # `a` is never negative
    inside = out >= 0
    out[~inside] = 0
    return out, inside, m


def skew(points, shape, gain=False, limit=None):
    """The angle (degrees) that turns the lines through `points` onto rows: the sharpest projection profile.

    Postl (1986)'s criterion, the variance of the row sums of the turned
    image, searched over +-`limit` degrees (default `PAGE_SKEW`) in 1 degree steps, then 0.25;
    `points` are `(rows, columns, weights)` of pixels in an image of `shape`.
    With `gain`, `(angle, that variance over the variance unturned)`: how
    much sharper the turn makes the profile.
    """
    y, x, weight = points
    (h, w), length = shape, 2 * sum(shape)
    y, x = (y - h / 2).astype(np.float32), (x - w / 2).astype(np.float32)

    def sharpness(angles):  # all angles in one bincount: row r of angle k counts at k * length + r
        t = np.radians(np.asarray(angles, np.float64))[:, None]
        cos, sin = np.cos(t).astype(np.float32), np.sin(t).astype(np.float32)
        rows = (y * cos - x * sin + (length / 2 + 0.5)).astype(np.int32) + length * np.arange(len(t))[:, None]
        counts = np.bincount(rows.ravel(), np.tile(weight, len(t)), minlength=len(t) * length)
        return counts.reshape(len(t), length).var(axis=1)

    limit = PAGE_SKEW if limit is None else limit
    coarse = np.arange(-limit, limit + 0.01, 1.0)
    fine = coarse[np.argmax(sharpness(coarse))] + np.arange(-0.75, 0.76, 0.25)
    scores = sharpness(np.append(fine, 0.0))
    angle = float(fine[np.argmax(scores[:-1])])
    return (angle, float(scores[:-1].max() / max(scores[-1], 1e-12))) if gain else angle


def _line_rows(level, floor):
    """Runs of rows whose `level` is over `floor`: `[(first, last + 1)]` when at least three, evenly spaced, else []."""
    rows = np.flatnonzero(level > floor)
    if rows.size == 0:
        return []
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    centres = np.array([r.mean() for r in runs])
    spacing = np.diff(centres)
    if len(runs) < 3 or spacing.min() < PAGE_LINE:  # graph paper's finest squares are 1 mm, 7 px and up here
        return []
    steps = spacing / median(spacing)
    if np.abs(steps - np.round(steps)).max() > 0.15:  # not a lattice: a line may be missing, none may be extra
        return []
    return [(int(r[0]), int(r[-1]) + 1) for r in runs]


def _along(rows, window):
    """A slowly varying level of each row: upper quartiles of `window`-long pieces, linearly interpolated.

    The upper quartile: a line's darkness, not lowered by the steps of a
    tilted line nor raised by strokes across a quarter of the window or less.
    """
    n, w = rows.shape
    pieces = -(-w // window)
    padded = np.pad(rows, ((0, 0), (0, pieces * window - w)), mode="reflect")
    levels = np.percentile(padded.reshape(n, pieces, window), 75, axis=2).astype(np.float32)
    return cv2.resize(levels, (pieces * window, n), interpolation=cv2.INTER_LINEAR)[:, :w]


def _one_family(response, points):
    """The darkness (contrast) of the lines of `response` that run along its rows, give or take `PAGE_SKEW`.

    `points`: a sample of its responding pixels, as `skew` takes them.
    Returns float32, the shape of `response`: over a band a few pixels
    wide around each line, the line's darkness there; 0 elsewhere.
    """
    angle = skew(points, response.shape)
    upright, inside, matrix = turned(response, angle)
    band = cv2.dilate(upright, np.ones((5, 1), np.uint8))  # a line may drift a pixel or two across a row
    paper = float(percentile(band[::4, ::4][inside[::4, ::4]], 25))  # the response of the paper's grain
    floor = max(2 * paper, paper + 0.03)
    length = inside.sum(axis=1)
    level = np.zeros(len(upright), np.float32)
    busy = (band.sum(axis=1) > floor * length) & (length >= min(response.shape) / 2)  # no row is a line without it
    ordered = np.sort(np.where(inside[busy], band[busy], np.inf), axis=1)
    level[busy] = ordered[np.arange(len(ordered)), length[busy] // 4]  # a line crosses most of its row; strokes don't
    runs = _line_rows(level, floor)
    if not runs:
        return np.zeros_like(response)
    darkness = np.zeros_like(upright)
    # a stroke darker than the darkest line keeps the rest (graph paper's major lines are darker than its minor ones)
    cap = 1.5 * float(np.max([level[a:b].max() for a, b in runs]))
    window = int(min(upright.shape[1], 3 * median(np.diff([a for a, _ in runs]))))
    mean = upright.sum(axis=1) / np.maximum(length, 1)
    for a, b in runs:
        core = a + np.flatnonzero(mean[a:b] > 0.3 * mean[a:b].max())  # the line itself, where it drifts included
        if core.size:  # none when the run's rows respond only through `band`'s spread from a neighbour
            a, b = max(0, core[0] - 1), min(len(upright), core[-1] + 2)
        darkness[a:b] = np.minimum(_along(band[a:b], window).max(axis=0), cap)
    h, w = response.shape
    return cv2.warpAffine(darkness, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def lift_page_lines(gray):
    """`gray` with the printed lines of squared or ruled paper lifted to the paper's brightness.

    The lines are found by projection profiles of a thin-line response (a
    black-hat `PAGE_LINE` px wide, relative to the paper): the page is turned so that
    one family of lines runs along the rows (`skew`, Postl 1986), and a
    row is a line where three quarters of it are at least as dark as the
    paper's grain allows (`_one_family`). At least three evenly spaced lines
    make a family (ruled paper has one, squared paper two); a digit, a
    form's box or a single ruled line (`formlines.drop_form_lines`'s)
    never do. A
    line's pixels are then lifted to the paper's brightness, by the line's
    darkness measured along it (upper quartiles over three line spacings),
    while ink twice as dark as the line where it crosses the line stays
    (a pen's ink covers the line). Pages only (`PAGE_SIDE`); dark lines on
    light paper. In perspective, or on a bent page, the lines of a family
    are not quite parallel: once the whole page has a family, four
    overlapping tiles (`PAGE_TILE` of its sides) are searched again, each
    for its own.

    Args:
        gray: float32 `(H, W)` in [0, 1].

    Returns:
        float32 `(H, W)`: `gray` itself (the same object) when no family of
        lines is found.
    """
    lifted = _lift_lines(gray)
    if lifted is gray:
        return gray
    h, w = gray.shape
    th, tw = int(PAGE_TILE * h), int(PAGE_TILE * w)
    for top, left in ((0, 0), (0, w - tw), (h - th, 0), (h - th, w - tw)):
        tile = lifted[top : top + th, left : left + tw]
        tile[:] = _lift_lines(tile)
    return lifted


def _lift_lines(gray):
    """`lift_page_lines` on the whole of `gray` at once: `gray` itself when it holds no family of lines."""
    if min(gray.shape) < PAGE_SIDE:
        return gray
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (PAGE_LINE, PAGE_LINE))
    paper = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, disk)
    response = np.clip((paper - gray) / np.maximum(paper, 0.05), 0.0, 1.0)
    dark = response > LINE_CONTRAST
    if np.count_nonzero(dark) < 2 * min(gray.shape):  # not even two lines across the page (counting is fast)
        return gray
    y, x = np.nonzero(dark)
    step = max(1, y.size // 4096)  # an even sample: a line has hundreds of pixels
    y, x = y[::step], x[::step]
    weight = response[y, x]
    across = _one_family(np.ascontiguousarray(response.T), (x, y, weight)).T
    darkness = np.maximum(_one_family(response, (y, x, weight)), across)
    if not darkness.any():
        return gray
    # a line's pixels are lifted, ink over a line twice as dark as it is not (a pen's ink covers the line)
    share = np.where(darkness > 0, np.clip(2 - response / np.maximum(darkness, 1e-3), 0, 1), 0)
    grain = float(median(response[::4, ::4][darkness[::4, ::4] == 0]))  # the closing's lift over the grain
    return gray + (paper * (1 - grain) - gray) * share
