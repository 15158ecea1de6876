"""Printed boxes and ruled lines dropped from an ink mask, as on forms: a stage of `digitrec.ink`.

Straight runs at least six stroke widths long are found by opening the mask
with line structuring elements (the usual way to find form lines); a group
of them is dropped where it frames the rest of the ink (a box, or a box
whose holes hold the ink), crosses the picture beyond the ink at both ends
(a ruled line) or lies under the ink (an answer line, or the spine of a
comb field open at the top, with its teeth), and strokes a removed line
crossed are bridged (`drop_form_lines`). Lines not level in the picture are searched turned by
the mask's skew (`drop_turned_form_lines`; the angle from
`digitrec.pagelines.skew`), after a box apart from the ink, at any size, turn and lean, is dropped as the pieces
along the outline of the ink's convex hull (`drop_printed_boxes`). The lines of squared and ruled paper, evenly
spaced across the page, are lifted before the ink is read
(`digitrec.pagelines`). The lines of a form's cell along the sides of a
crop cut on them are found apart (`cell_lines`), for normalization to offer
the ink without them too.
"""

import cv2
import numpy as np
from scipy import ndimage

from digitrec import masks
from digitrec._stats import median
from digitrec.pagelines import skew, warped

# A mask is searched for form lines turned by its skew (`drop_turned_form_lines`) where that is at least
# MIN_SKEW degrees and turning sharpens its row profile at least MIN_SKEW_GAIN times (lines put their pixels in a
# few rows; a digit's strokes do not). Measured on the readings' masks: 40 validation digits of each of the 15
# families gain 1.04-1.76 (at most 1.43 but for the two photo families); rows of printed boxes turned 1, 2 and 3
# degrees, 1.64, 2.90 and 2.94 at the median (the masks under it are readings that hold no line). A box around
# one digit gains too little for that (1.0-1.3, turned 1-3 degrees: the digit fills the rows too), so masks of
# at most SKEW_ALWAYS pixels, a digit's crop, are searched turned whatever they gain (the gate saves the cost of
# the search on a photo's big masks): validation digits of the `form` family turned 1-3 degrees
# (`scripts/family_validation.py 5 300 form --turn`) 262 -> 284 of 300 (281 on 2026-12-05, before
# and after the sheared frame of `_lines_frame`). Turned under 0.75 degrees, a line a pixel
# thick still has runs of 76 px along the rows, a form's line for strokes up to 12 px wide, and the search in the
# picture's own frame finds it; at 0.5, a digit's own skew turned an unturned `form` digit's search, and a stroke
# touching its box went with the box (the unturned family 291 -> 290 of 300; comb fields turned 1-3 degrees,
# `scripts/read_validation.py 3 --n 0 --in-boxes 160 --turn`, 109 of 160 at 0.5, 0.75 and 1 degree alike).
MIN_SKEW, MIN_SKEW_GAIN = 0.75, 1.5
FORM_SKEW = 6.0  # the most a form's lines are searched turned or leaning, degrees (`drop_turned_form_lines`)
SKEW_ALWAYS = 256 * 256
EDGE_CONTACT = 0.5  # the share of a side of the picture that ink must lie along to be the page's edge (`drop_page_edges`)
BOX_COVER = 0.8  # the share of the outline of the ink's convex hull that a box covers (`drop_printed_boxes`)
BOX_LINE = 0.2  # a box's pieces are at most this share of their extent thick: lines (`drop_printed_boxes`)
BOX_FILL = 0.4  # the share of a box's height or width that the ink in it reaches (`drop_printed_boxes`)
LINES_ONLY = 0.75  # the share of a mask's pixels in straight runs over which it is printed lines (`all_form_lines`)
# A row (column) at a side of the picture that ink covers at least this share of is a printed line there, a form
# cell's that the crop was cut on (`cell_lines`); set a priori: a printed line is whole, a broken line or a
# handwritten stroke along a side rarely covers nine tenths of it.
EDGE_LINE = 0.9
# ... and it lies within this share of the picture's longer side of its side: a crop cut on a cell's lines or just
# outside them, not a shape drawn with paper around it (a triangle without its upright side read as a 7).
EDGE_MARGIN = 0.1
# ... and it is no thicker than this share of the ink's bounding box across it: a printed line is thin beside its cell
# (a blob of an empty field's shadow, half the box wide, left a sliver read as a 1).
EDGE_THIN = 0.2


def _line_length(width):
    """The shortest straight run that `drop_form_lines` takes for a form's line, among strokes `width` px wide."""
    return int(max(6 * width, 8))


def _straight_runs(mask, width):
    """`(across, down)`: the pixels of bool `mask` in horizontal and in vertical straight runs of at least
    `_line_length(width)` pixels (openings with line structuring elements)."""
    m8, length = mask.view(np.uint8), _line_length(width)
    return tuple(cv2.morphologyEx(m8, cv2.MORPH_OPEN, np.ones(shape, np.uint8)).astype(bool)
                 for shape in ((1, length), (length, 1)))


def has_a_line(mask, width):
    """Whether the lowest quarter of `mask`'s ink holds a horizontal straight run of `_line_length(width)` pixels or
    more (one erosion), as a line under the ink (`_underlines`) does."""
    top, bottom = masks.bbox(mask)[:2]
    low = mask[max(0, int(top + 0.75 * (bottom - top) - 1.5 * width)) : bottom]
    return bool(cv2.erode(low.view(np.uint8), np.ones((1, _line_length(width)), np.uint8)).any())


def printed_lines(mask, width):
    """The straight runs of a form's line length (`_line_length(width)`) of the bool `mask` (not empty), where
    they hold at least `LINES_ONLY` of its pixels (bool like `mask`); else None."""
    lines = np.logical_or(*_straight_runs(mask, width))
    return lines if np.count_nonzero(lines) >= LINES_ONLY * np.count_nonzero(mask) else None


def all_form_lines(mask, width):
    """Whether the ink `mask` (bool, not empty) is printed lines and nothing else: its straight runs of a form's
    line length (`_line_length(width)`) hold at least `LINES_ONLY` of its pixels, and they close a box more than
    four stroke widths across (`_closes_its_box`; a lone stroke closes its own bounding box) or are a flat line
    across 90 % of the picture's width (a ruled line; not upright: a 1 may span a tight crop's height)."""
    lines = printed_lines(mask, width)
    if lines is None:
        return False
    r0, r1, c0, c1 = masks.bbox(lines)
    box = min(r1 - r0, c1 - c0) > 4 * width and _closes_its_box(lines, width)
    return bool(box or (c1 - c0 >= 0.9 * mask.shape[1] and r1 - r0 <= 3 * width))


def _closes_its_box(group, width):
    """Whether `group` runs along at least half of every side of its bounding box, as a printed box does.

    The straight strokes of a digit (a 4's stem and bar around its
    diagonal) enclose the rest of the ink too, but leave sides open.
    """
    r0, r1, c0, c1 = masks.bbox(group)
    band = max(2, int(round(2 * width)))
    sides = (group[r0 : r0 + band, c0:c1].any(axis=0), group[r1 - band : r1, c0:c1].any(axis=0),
             group[r0:r1, c0 : c0 + band].any(axis=1), group[r0:r1, c1 - band : c1].any(axis=1))
    return all(side.mean() >= 0.5 for side in sides)


def _encloses(group, ink):
    """Whether at least 90 % of the bool `ink` (not empty) lies in the holes of `group`: a box closed around the
    digit, where the lines of the cells beside it, cut by the crop, leave sides of the group's bounding box
    open (a digit cut out of a row of printed boxes with a margin)."""
    r0, r1, c0, c1 = masks.bbox(group)  # no hole reaches beyond the group's box: fill only that
    window = group[r0:r1, c0:c1]
    holes = ndimage.binary_fill_holes(window) & ~window
    return bool(ink.any()) and np.count_nonzero(ink[r0:r1, c0:c1] & holes) >= 0.9 * np.count_nonzero(ink)


def drop_form_lines(mask, width, strength):
    """Remove printed boxes and ruled lines from the ink mask.

    Straight runs at least six stroke widths long are found by opening with
    line structuring elements (the usual way to find form lines). A group of
    runs is dropped when it is a frame around the rest of the ink (a box), or
    when it crosses at least 90 % of the image and reaches beyond the rest of
    the ink at both ends (a ruled line); a horizontal run is dropped too where
    it is a shorter line under the ink (`_underlines`: a form's answer line, an
    underline). A 7's bar or a 2's base, which end where the digit does,
    stays. Strokes a removed line crossed are bridged.
    A box must frame the rest of the ink without its specks (`masks.drop_specks`
    on `strength`, float32 like `mask`, judged against all the ink but the
    box: a digit of straight strokes lies in straight runs too, and a speck
    that a hard shadow's edge left at the picture's border, judged against
    the few pixels the runs left of a 1, once kept its box); a ruled line
    must reach beyond all of it, specks too (the straight edge of a shadow
    band is no such line where bits of the band lie beyond the digit). It runs before speck
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
    r0, r1, c0, c1 = masks.bbox(mask)
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
    """`drop_form_lines` on a part of the image holding all its ink, `shape` the whole image's (rows, columns)."""
    h, w = shape
    across, down = _straight_runs(mask, width)
    lines = across | down
    if not lines.any():
        return mask
    (_, labels, boxes, _), (top, bottom, _, _) = masks.boxes(across), masks.bbox(mask)
    low = [i for i, (_, r0, _, height) in enumerate(boxes[1:, :4], 1)  # flat, through the lowest quarter or under
           if height <= 3 * width and 2 * r0 + height >= 2 * top + 1.5 * (bottom - top)
           and r0 > width]  # (with ink above it: OpenCV would crash on labelling an empty array)
    kept = mask.copy()
    for i in low:
        group = labels == i
        above = _marks_above(group, mask)
        teeth = _comb_teeth(mask, above)
        if teeth is not None or _underlines(mask, width, above):
            kept &= ~group if teeth is None else ~(group | teeth)
    upright = masks.boxes(down)
    spanning = _crossing(labels, boxes, cv2.CC_STAT_WIDTH, w) | _crossing(*upright[1:3], cv2.CC_STAT_HEIGHT, h)
    _, labels, boxes, _ = masks.boxes(lines)
    for label, (c0, r0, box_w, box_h, area) in enumerate(boxes[1:], 1):
        r1, c1 = r0 + box_h, c0 + box_w
        hollow = area < 0.5 * box_h * box_w
        if not (hollow or c1 - c0 >= 0.9 * w or r1 - r0 >= 0.9 * h):  # (before any whole-image work: texture)
            continue
        group = labels == label
        inner = masks.drop_specks(mask & ~group, strength)[0] if hollow else None  # the rest of the ink, no specks
        boxlike = hollow and (_closes_its_box(group, width) or _encloses(group, inner))
        if not (boxlike or c1 - c0 >= 0.9 * w or r1 - r0 >= 0.9 * h) or not (mask & ~group).any():
            continue
        line = group & spanning  # a ruled line reaches beyond all the rest (noise too) but its fellows
        others = mask & ~spanning
        o0, o1, p0, p1 = masks.bbox(others) if others.any() else (r0, r1, c0, c1)
        l0, l1, m0, m1 = masks.bbox(line) if line.any() else (0, 0, 0, 0)
        ruled = ((m1 - m0 >= 0.9 * w and m0 < p0 - width and m1 > p1 + width)
                 or (l1 - l0 >= 0.9 * h and l0 < o0 - width and l1 > o1 + width))
        frame = False
        if boxlike and inner.any():  # a box frames the rest of the ink, noise aside
            o0, o1, p0, p1 = masks.bbox(inner)
            frame = r0 <= o0 + width and r1 >= o1 - width and c0 <= p0 + width and c1 >= p1 - width
        if frame or ruled:
            kept &= ~(_frame_lines(group, mask, across, down) if frame else line)
    if kept.sum() == mask.sum() or _only_rims(kept, mask & ~kept):  # nothing in the box: the box is the ink
        return mask
    return _bridged_across(kept, mask, width)


def _frame_lines(group, mask, across, down):
    """A box's printed lines in `group`, a group of straight runs that frames the ink (`across` and `down` as
    `_straight_runs` returns them): the rows where the runs cross 90 % of the group's width, with the rows beside
    them where they cross a quarter of it (hysteresis: a line's thinner edges, or its drift where a turned form
    was levelled only nearly) up to 2 px and that drift (`MIN_SKEW` across the group) beyond them (a 7's bar
    joined to the line along half the box went with it: a 7 read as 1), and the connected upright runs through the
    columns where they cross 90 % of its height (projection profiles; a sheared box's sides lean across several
    columns); the group whole where no row or no column does (a turned box's steps, a sheared box's thin sides). A
    digit's stroke joined to a side where it touches the box, a 1's stem or a 7's bar, crosses no box, and stays.
    So do the pieces of `mask` (the ink) left beside the lines but for those wholly within 2 px of them: slivers
    along the edges of a turned line that no run holds, which were kept and, where a 0 touched the line, bridged
    to it across the line as a bar (a 0 read "not a digit": `scripts/family_validation.py 31 200 form`).

    Validation numbers written in a row of boxes touching them (`scripts/read_validation.py SEED --n 0 --in-boxes
    160`, half of them touching): seed 7 66 -> 71 of 80 read exactly, 58 -> 75 turned 1-3 degrees (`--turn`),
    seed 11 65 -> 74; clear of the boxes 68 -> 67, 70 -> 71 and 60 -> 60 (a photo whose box lines are its first
    reading lost the digits' reading beside it); digits in one box (`scripts/family_validation.py SEED 400 form`,
    seeds 5, 6, 21, 22) 29 -> 27 wrong, turned and leaning as before. With a pixel either side and the rows
    crossing half of the group only, a turned row's levelled lines left slivers read as digits (seed 7, turned,
    clear of the boxes: 3 more misread). The slivers go since (the rows' 2 px either side, asked of OpenCV until
    then, had dilated nothing: a 1-D array is a row to it); measured with `drop_printed_boxes`' convex hull, new
    in the same commit: turned (`--turn`, seed 7) 146 -> 148 of 160, unturned the same; `form` digits turned
    (`SEED 300 form --turn`, seeds 5, 6) 19 -> 18 wrong, unturned the same."""
    r0, r1, c0, c1 = masks.bbox(group)
    level = np.count_nonzero(group & across, axis=1) / (c1 - c0)
    columns = np.count_nonzero(group & down, axis=0) >= 0.9 * (r1 - r0)
    if not ((level >= 0.9).any() and columns.any()):
        return group
    bands, _ = ndimage.label(level >= 0.25)  # a line's rows, its thinner edges too (hysteresis)
    rows = np.isin(bands, np.setdiff1d(bands[level >= 0.9], [0]))
    rows &= ndimage.distance_transform_edt(level < 0.9) <= 2 + np.tan(np.radians(MIN_SKEW)) * (c1 - c0)
    upright = masks.components(group & down)[0]
    lines = group & rows[:, None] | np.isin(upright, np.setdiff1d(upright[:, columns], [0]))
    beside = cv2.distanceTransform((~lines).view(np.uint8), cv2.DIST_L2, 3) <= 2
    pieces = masks.components(mask & ~lines)[0]
    return lines | np.isin(pieces, np.setdiff1d(pieces, pieces[~beside]))


def _crossing(labels, stats, extent, length):
    """The straight runs (`labels` and `stats` of `masks.boxes` on `_straight_runs`' `across` or `down`) whose
    `extent` (`cv2.CC_STAT_WIDTH` or `HEIGHT`) is at least 90 % of the picture's `length` along it: ruled lines,
    without the strokes that stand on them (a 1's stem, in the vertical runs, joins the line it touches)."""
    return np.isin(labels, 1 + np.flatnonzero(stats[1:, extent] >= 0.9 * length))


def drop_printed_boxes(mask, strength, width=np.inf):
    """The ink mask without a box printed around the rest of the ink and apart from it, at any size, turn and lean.

    The box lies along the outline of the convex hull of all the ink
    (`cv2.convexHull`: Sklansky 1982, "Finding the convex hull of a simple
    polygon", Pattern Recognition Letters 1), a rectangle turned with its
    form or a parallelogram where the form was photographed at an angle: it
    is the connected components with 97 % of
    their pixels within their thickness plus a pixel of that outline, at most
    `BOX_LINE` of their extent thick (pieces of lines, not the paper's corners
    between a tiny scan's bold strokes, read as ink in the other polarity), and
    they cover `BOX_COVER` of it (a thin line's anti-aliased print may break
    into pieces). The rest of the ink (specks dropped, `masks.drop_specks` on
    `strength`) keeps clear of the outline (90 % of it) and reaches
    `BOX_FILL` of the outline's height or width. The line openings of
    `drop_form_lines` need a box's sides six stroke widths long and level
    within a degree or so: a box drawn narrow around a 1, or a thin box
    turned a degree around a bold 1, stayed; and a box as wide as the
    picture whose sides lean lost its level lines as ruled lines, its sides
    staying beside the digit (validation `form` digits sheared 4 and 8
    degrees, `scripts/family_validation.py SEED N form --lean D`, wrong:
    seed 5 (100) 9 -> 4 and 13 -> 6, seed 6 (200) 14 -> 3 and 18 -> 4;
    along the minimum-area rectangle, `cv2.minAreaRect`, until then).

    The box's inner lines go with it (`_dividers`): a row of cells printed
    faint, whose dividers the threshold broke from its frame, had them read
    as 1s beside the digits ("368" as "31618"). `width` is the handwriting's
    stroke width (pixels): dividers are thinner. Numbers in rows of boxes
    (`scripts/read_validation.py SEED --n 0 --in-boxes 160`): 133 -> 134 of
    160 at seed 11, 148 -> 149 turned (`--turn`) at seed 7, the rest as
    before.

    Returns `mask` itself where it drops nothing, or would drop all of it.
    """
    r0, r1, c0, c1 = masks.bbox(mask)
    window = np.s_[r0:r1, c0:c1]
    ink = np.pad(mask[window], 2)  # background around the ink: its lines' thickness is measured to it
    box, outline, to_outline, thickness = _along_outline(ink)
    if not box.any() or box.sum() == ink.sum():
        return mask
    reach = cv2.distanceTransform(1 - box.view(np.uint8), cv2.DIST_L2, 3) <= thickness + 1
    rest = masks.drop_specks(ink & ~box, np.pad(strength[window], 2))[0]
    clear = np.count_nonzero(rest & (to_outline > thickness + 1)) >= 0.9 * np.count_nonzero(rest)
    if not (np.mean(reach[outline]) >= BOX_COVER and clear and _fills_box(rest, outline)):
        return mask
    kept = mask[window] & ~(box | _dividers(ink & ~box, box, thickness, width))[2:-2, 2:-2]
    if not kept.any():  # the box is the ink: a row of empty cells
        return mask
    out = mask.copy()
    out[window] = kept
    return out


def _dividers(rest, box, thickness, width):
    """The pieces of `rest` that are a printed box's inner lines (a row of cells' dividers, broken from the box
    where its print is faint): straight along the rows or columns, no thicker than the box's lines nor than 0.7
    stroke widths but as thick as the box's lines within a pixel (printed with them: not a thin pen's 1 in a bold
    box), and across at least a quarter of the box."""
    n, labels, stats, _ = masks.boxes(rest)
    thick = _thicknesses(rest, labels, n)
    r0, r1, c0, c1 = masks.bbox(box)
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    straight = ((w <= thick + 2) & (h >= 0.25 * (r1 - r0))) | ((h <= thick + 2) & (w >= 0.25 * (c1 - c0)))
    lines = straight & (thick <= min(thickness, 0.7 * width)) & (thick >= thickness - 1)
    lines[0] = False
    return lines[labels]


def _along_outline(ink):
    """`(box, outline, to_outline, thickness)` of the bool mask `ink` (`drop_printed_boxes`): its connected
    components that lie along the outline of its convex hull and are lines, the outline drawn 1 px wide, each
    pixel's distance to it (float32, pixels) and the thickest of those components (pixels; 0 where there are
    none)."""
    n, labels, stats, _ = masks.boxes(ink)
    outline = np.zeros(ink.shape, np.uint8)
    if n < 3:  # a box needs ink inside it
        return np.zeros_like(ink), outline.astype(bool), None, 0.0
    thickness = _thicknesses(ink, labels, n)
    cv2.polylines(outline, [cv2.convexHull(cv2.findNonZero(ink.view(np.uint8)))], True, 1, 1)
    to_outline = cv2.distanceTransform(1 - outline, cv2.DIST_L2, 3)
    near = to_outline <= thickness[labels] + 1
    on = np.bincount(labels.ravel(), near.ravel(), n) >= 0.97 * np.bincount(labels.ravel(), minlength=n)
    on &= thickness <= BOX_LINE * stats[:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]].max(axis=1)  # lines are thin
    on[0] = False
    return on[labels], outline.astype(bool), to_outline, float(thickness[on].max(initial=0.0))


def _thicknesses(ink, labels, n):
    """The thickness of each of the `n` connected components `labels` of the bool mask `ink` (`masks.boxes`):
    twice its largest distance to the background (float32 `(n,)`, pixels; [0] the background's)."""
    dist = cv2.distanceTransform(ink.view(np.uint8), cv2.DIST_L2, 3)
    return 2 * ndimage.maximum(dist, labels, np.arange(n)).astype(np.float32)


def _fills_box(rest, outline):
    """Whether the bool ink `rest` reaches `BOX_FILL` of the height or width of the bool `outline`'s box."""
    r0, r1, c0, c1 = masks.bbox(rest)
    f0, f1, g0, g1 = masks.bbox(outline)
    return max((r1 - r0) / (f1 - f0), (c1 - c0) / (g1 - g0)) >= BOX_FILL


def drop_page_edges(mask, width, strength):
    """The ink mask without what lies along a side of the picture apart from the ink: the table beyond the paper.

    A phone photo rarely holds only paper: a strip of the table, or the
    shade of the page's edge, runs along a side of the picture, and where it
    is narrower than the paper's rolling ball (`digitrec.ink`) it is as dark
    as ink, and was read as a bar beside the digit. The connected components
    lying on at least `EDGE_CONTACT` of a side are dropped where the rest of
    the ink (its specks dropped, `masks.drop_specks` on `strength`) keeps a
    stroke width clear of them and does not reach two opposite sides of the
    picture: in a tight crop, whose strokes fill it from side to side,
    nothing is dropped (nor in a tiny scan enlarged: `ink.extract_reading`'s
    `page`). Removing dark borders connected to the picture's sides is how
    document imaging cleans marginal noise (Fan, Wang and Lay 2002,
    "Marginal noise removal of document images", Pattern Recognition 35;
    Shafait, van Beusekom, Keysers and Breuel 2008, "Document cleanup using
    page frame detection", IJDAR 11).

    Returns `mask` itself where it drops nothing.
    """
    labels, areas = masks.components(mask)  # the labels alone: a third of the cost of `masks.boxes`
    n = len(areas) + 1
    if n < 3:  # one mark or none: nothing else to be the ink
        return mask
    contact = sum(np.bincount(side, minlength=n) >= EDGE_CONTACT * len(side)
                  for side in (labels[0], labels[-1], labels[:, 0], labels[:, -1]))
    contact[0] = 0
    edge = contact[labels] > 0
    if not edge.any() or not (mask & ~edge).any():
        return mask
    rest = masks.drop_specks(mask & ~edge, strength)[0]
    (r0, r1, c0, c1), (h, w) = masks.bbox(rest), mask.shape
    fills = (r0 <= width and r1 >= h - width) or (c0 <= width and c1 >= w - width)  # a tight crop
    if fills or (cv2.dilate(edge.view(np.uint8), masks.disk(2 * width + 1)).astype(bool) & rest).any():
        return mask
    return mask & ~edge


def _bridged_across(kept, mask, width):
    """`kept` with the pixels of `mask` that join its strokes across a removed line (closings along rows and
    columns, `2 * width + 3` px long)."""
    for shape in ((int(2 * width + 3), 1), (1, int(2 * width + 3))):
        kept |= mask & cv2.morphologyEx(kept.astype(np.uint8), cv2.MORPH_CLOSE, np.ones(shape, np.uint8)).astype(bool)
    return kept


def drop_turned_form_lines(mask, width, strength):
    """`drop_form_lines` for a form scanned or photographed turned or sheared by up to `FORM_SKEW` degrees.

    Turned a degree or more, a thin printed line has no straight run along
    the rows or columns as long as a form's line (`_line_length`), and a row
    of printed boxes stayed as ink, or went in part. Where `_lines_frame`
    finds the mask's lines turned (or, where the search in the picture's own
    frame removes nothing, leaning), its contrast `strength` is mapped so
    that they run along the rows and columns, and `drop_form_lines` runs
    there on it, thresholded at half the mask's faintest contrast (a line a
    pixel thick that the turn blurred is whole); what that removes is mapped
    back, widened by 2 px, and removed from the mask, the strokes that
    crossed it bridged again (`_bridged_across`). Where it removes nothing,
    or everything, the search in the picture's own frame stands.

    Leaning lines: a form photographed at an angle shows its boxes sheared
    as well as turned (locally, perspective is an affine map), and no turn
    stands both families of lines along the rows and columns. Validation
    digits of the `form` family (`scripts/family_validation.py 5 60 form
    --lean 4`, and `--lean 8`): 52 and 41 of 60 read right with the turn
    alone, 56 and 56 now (56 unsheared). Where the own frame removes a line,
    the upright lines stay square to the level ones: slanted handwriting
    leans too, and an underlined "179" searched sheared lost its 7's foot.

    First, a box printed around the ink and apart from it goes whole, at any
    size, turn and lean, with its inner lines (`drop_printed_boxes`).
    """
    mask = drop_printed_boxes(mask, strength, width)
    kept = drop_form_lines(mask, width, strength)
    linear = _lines_frame(mask, lean=kept is mask)
    if linear is None:
        return kept
    level_strength, _, matrix = warped(strength.astype(np.float32), linear)
    level = level_strength >= 0.5 * strength[mask].min()  # thin lines that turning blurred under the threshold too
    found = drop_form_lines(level, width, level_strength)
    if found is level:
        return kept
    removed = cv2.warpAffine((level & ~found).view(np.uint8), matrix, mask.shape[::-1],
                             flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    removed = cv2.dilate(removed, np.ones((5, 5), np.uint8)).astype(bool)  # the turns round, and a line has rims
    rest = mask & ~removed
    return _bridged_across(rest, mask, width) if rest.any() else kept


def _lines_frame(mask, lean=True):
    """The (2, 2) linear map (x, y) -> (x', y') that levels the lines of a bool mask and stands its upright lines
    up, or None where neither family is skewed `MIN_SKEW` degrees or more, or where the mask has more than
    `SKEW_ALWAYS` pixels and turning sharpens neither its row nor its column profile `MIN_SKEW_GAIN` times (no
    lines).

    Each family's skew is `pagelines.skew` of up to 1024 of the mask's pixels (of their transpose for the upright
    lines), up to `FORM_SKEW` degrees. A family with too little gain is taken square to the other, and so are the
    upright lines unless `lean`.
    """
    y, x = np.nonzero(mask)
    step = max(1, y.size // 1024)
    y, x, weight = y[::step], x[::step], np.ones(len(y[::step]), np.float32)
    rows, rows_gain = skew((y, x, weight), mask.shape, gain=True, limit=FORM_SKEW)
    columns, columns_gain = skew((x, y, weight), mask.shape[::-1], gain=True, limit=FORM_SKEW)
    small = mask.size <= SKEW_ALWAYS
    rows_found, columns_found = small or rows_gain >= MIN_SKEW_GAIN, small or columns_gain >= MIN_SKEW_GAIN
    if not (rows_found or columns_found):
        return None
    rows, columns = (rows if rows_found else -columns), (columns if columns_found and lean else -rows)
    if max(abs(rows), abs(columns)) < MIN_SKEW:
        return None
    t, u = np.radians(rows), np.radians(columns)
    return np.array([[np.cos(u), -np.sin(u)], [-np.sin(t), np.cos(t)]])


def _only_rims(kept, removed):
    """Whether every pixel of `kept` lies within half a line's thickness of the `removed` lines (the median of
    `masks.ridge_widths(removed)`, pixels): what is left is their rims, and there was nothing in the box.

    The line openings of `drop_form_lines` take a drawn or slightly turned
    line's straight core and leave slivers along its edges and corners; an
    empty box drawn by hand was dropped as the frame of its own slivers,
    which were read as 1s ("11", "?11"). A pen's stroke reaches farther.
    """
    reach = max(1.0, float(median(masks.ridge_widths(removed))) / 2)
    return not (kept & (cv2.distanceTransform((~removed).view(np.uint8), cv2.DIST_L2, 3) > reach)).any()


def _marks_above(group, mask):
    """`(box, components)`: `masks.bbox` of `group` (bool like `mask`: a flat straight run, not empty) and
    `masks.boxes` of the ink of `mask` above its top row, which `_comb_teeth` and `_underlines` judge the run by."""
    box = masks.bbox(group)
    return box, masks.boxes(mask[: box[0]] & ~group[: box[0]])


def _comb_teeth(mask, above):
    """The teeth of a comb field standing on a flat straight run under the ink (`drop_form_lines` chooses;
    `above`: `_marks_above` of it), or None where it is no comb's spine: bool like `mask`.

    A comb field (a form's row of cells open at the top: a printed line
    with a tick, or a full-height side, at each cell's border) frames its
    digits from below and from the sides only, so `_closes_its_box` does
    not take it for a box, and its ticks hid the digits' ink from
    `_underlines`. Its teeth are the components standing on the line
    (touching its top row) no wider than twice its thickness plus 2 px
    (printed, as the line is) nor than a third of their height (thin
    uprights: not a 1 beside a 2 whose flat base is the line), at least two
    of them, as tall as each other
    (within 25 % of their median height), the outermost at the line's two
    ends (within twice its thickness plus 2 px), and the marks above the
    line (at least half as tall as the tallest) lie between those two.
    """
    (r0, r1, c0, c1), (n, labels, stats, _) = above  # `_marks_above`
    reach = 2 * (r1 - r0) + 2
    left, top, w, h = (stats[1:, k] for k in range(4))
    teeth = np.flatnonzero((top + h >= r0) & (w <= reach) & (3 * w <= h))
    teeth = teeth[np.abs(h[teeth] - np.median(h[teeth])) <= 0.25 * np.median(h[teeth])] if len(teeth) else teeth
    if len(teeth) < 2 or left[teeth].min() > c0 + reach or (left + w)[teeth].max() < c1 - reach:
        return None
    rest = np.setdiff1d(np.arange(n - 1), teeth)
    rest = rest[h[rest] >= 0.5 * h[rest].max()] if len(rest) else rest  # marks, not specks
    if not len(rest) or left[rest].min() < left[teeth].min() or (left + w)[rest].max() > (left + w)[teeth].max():
        return None
    out = np.zeros_like(mask)
    out[:r0] = np.isin(labels, teeth + 1)
    return out


def _underlines(mask, width, above):
    """Whether a flat straight horizontal run in `mask` through the ink's lowest quarter or under it
    (`drop_form_lines` chooses: a digit sitting on it, a 4's or a 9's stem through it; `above`: `_marks_above` of
    it) is a line the ink is written on or underlined with, not a digit's stroke.

    It is where it reaches beyond the ink above it at both ends by two
    stroke widths (a hand-drawn underline, whose pen is the digit's), or at
    least as far where it is at most half the stroke width thick (a printed
    answer line; its median thickness over its columns, twice the largest
    distance to its edge in each) or where two or more marks at least half
    as tall as the tallest lie above it clear of it (an underlined number,
    not the sides of a printed box that stand on it, nor the specks of a
    texture: no digit's stroke spans the digits beside it,
    and a line drawn by hand under a number ends near its ends; 13 of 20
    numbers underlined so, `tests/synth.py`'s `underlined_number`, read a
    "?" among their digits). The ink above it is the connected
    components above its top row that rise more than a stroke width above
    it: not a tilted line's rim, which the opening leaves; but a 2's
    diagonal down to its base, which then stays.
    """
    (r0, r1, c0, c1), (_, _, stats, _) = above  # `_marks_above`
    above = stats[1:][stats[1:, cv2.CC_STAT_TOP] < r0 - width]  # a tilted line's rim, which the opening leaves, is not
    if not len(above):
        return False
    p0, p1 = above[:, cv2.CC_STAT_LEFT].min(), (above[:, cv2.CC_STAT_LEFT] + above[:, cv2.CC_STAT_WIDTH]).max()
    margin = int(2 * width) + 1
    top = max(0, r0 - margin)
    dist = cv2.distanceTransform(masks.pad(mask[top : r1 + margin, c0:c1]), cv2.DIST_L2, 3)[1:-1, 1:-1]
    thickness = 2 * float(median(dist[r0 - top : r1 - top].max(axis=0)))  # where digits cross it, it is thicker
    tops, heights = above[:, cv2.CC_STAT_TOP], above[:, cv2.CC_STAT_HEIGHT]
    clear = np.count_nonzero((tops + heights < r0) & (heights >= 0.5 * heights.max()))  # marks, clear of it
    spans = c0 <= p0 and c1 >= p1
    return (c0 < p0 - 2 * width and c1 > p1 + 2 * width) or (spans and (thickness <= 0.5 * width or clear > 1))


def cell_lines(mask):
    """The ink of the lines along the sides of the ink's bounding box: from each side inwards, past rows (columns)
    that ink covers less than half of (a line's blurred edge), the rows that it covers at least `EDGE_LINE` of
    across the box: a form cell's printed lines, left along the sides of a crop cut on them or just outside them.
    A bool mask, or None where there are none or nothing else; where one is thicker than `EDGE_THIN` of the box
    (a band of shadow) or lies farther than `EDGE_MARGIN` from the picture's side (a triangle's upright side, with
    paper around the shape, read as a 7 without it); where the rest reaches across from one line to the line
    opposite (what is left of an empty box turned or in perspective: its sides, which no column holds whole, read
    as a 1); and where no piece of the rest is a third as tall as the box (the crumbs that the lines of an empty
    box leave, the paper's grain along them, read as a 1). The rest is judged without what a faint or broken side
    line leaves along a side (`_slivers`). None for an empty mask (a blank picture's split)."""
    if not mask.any():
        return None
    r0, r1, c0, c1 = masks.bbox(mask)
    box, (h, w) = mask[r0:r1, c0:c1], mask.shape
    runs = np.array([_edge_run(cover) for cover in (box.mean(1), box.mean(1)[::-1], box.mean(0), box.mean(0)[::-1])])
    across, paper = np.array([r1 - r0, r1 - r0, c1 - c0, c1 - c0]), np.array([r0, h - r1, c0, w - c1])
    if not runs.any() or (runs > EDGE_THIN * across).any() or (paper[runs > 0] > EDGE_MARGIN * max(h, w)).any():
        return None
    top, bottom, left, right = runs[0], across[0] - runs[1], runs[2], across[2] - runs[3]
    rest = np.zeros_like(box)
    rest[top:bottom, left:right] = box[top:bottom, left:right]
    rest &= ~_slivers(rest)
    if not rest.any():
        return None
    q0, q1, p0, p1 = masks.bbox(rest)
    if (0 < top == q0 and q1 == bottom < len(box)) or (0 < left == p0 and p1 == right < box.shape[1]):
        return None
    if 3 * masks.boxes(rest)[2][1:, 3].max() < len(box):
        return None
    lines = np.zeros_like(mask)
    lines[r0:r1, c0:c1] = box & ~rest
    return lines


def _slivers(mask):
    """The pieces of the bool `mask` that lie within `EDGE_THIN` of its height (width) of a side of the picture:
    what a line's blurred edge, a faint or broken line, or an empty box's side in perspective leaves along a cell's
    side (bool like `mask`)."""
    _, labels, stats, _ = masks.boxes(mask)
    (h, w), (x0, y0, dx, dy) = mask.shape, stats[1:, :4].T
    band = EDGE_THIN * np.array([w, h])
    along = (x0 + dx <= band[0]) | (x0 >= w - band[0]) | (y0 + dy <= band[1]) | (y0 >= h - band[1])
    return np.isin(labels, np.flatnonzero(along) + 1)


def _edge_run(cover):
    """How many rows from the first of `cover` (each row's share of ink) a line along that side takes: the rows
    before the first that ink covers half of (its blurred edge: no more of them than the line is thick), and from
    it the full ones (`EDGE_LINE`), where the row after them is under half covered (the line's inner edge: a
    digit's stroke filling a tight crop thins gradually); 0 where there is no such line."""
    first = int(np.argmax(np.append(cover, 1) >= 0.5))  # len(cover) where no row is half covered
    run = int(np.argmin(np.append(cover[first:] >= EDGE_LINE, False)))  # the full rows from there
    inner = np.append(cover, 0)[first + run]
    return first + run if 0 < run >= first and inner < 0.5 else 0
