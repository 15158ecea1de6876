"""Segmentation: cut a picture of a handwritten number into its digits, left to right.

Recognition-based over-segmentation, the field's standard design for
numeral strings (Casey and Lecolinet 1996, "A survey of methods and
strategies in character segmentation"; LeCun et al. 1998, section V):

1. ink: `ink.extract_ink`, the stage `normalize` uses, on the
   picture as `normalize` sees it (`preprocessing.source_image`), then the
   connected components (8-connectivity) of the kept ink (the largest
   `MAX_MARKS`, and where those stand in one row the smaller ones beside
   them, a long number's further digits: crumbs of a texture or of noise
   are specks); where what is
   ink is in doubt, each reading of `ink.ink_hypotheses` is
   segmented (`Number.alternatives`) and `Recognizer.read` keeps the one
   whose digits the classifier likes best;
2. geometry: the line height (median height of the tall components, so
   digit heights may vary by +-30 % and the baseline may drift) and the
   common slant: the shear whose vertical projection profile is sharpest
   (largest sum of squares; after Vinciarelli and Luettin 2001). Cuts and
   x-order are taken in this deslanted frame;
3. over-segmentation: a component wider than `SPLIT_WIDTH` line heights
   may hold touching digits; `Recognizer.read` cuts it only where the
   two-digit classifier reads it whole as two digits (Hochuli et al.
   2018's length classification; a letter or a scribble is not cut into
   digit-like strokes). Its candidate cuts come from the minima of
   its vertical projection, the valleys of its upper contour and the peaks
   of its lower contour, each tried as a straight (slanted) cut and as a
   drop-fall path from the top and from the bottom (Congedo, Dimauro,
   Impedovo and Pirlo 1995, "Segmentation of numeric strings", ICDAR),
   which follows the contour into the valley between two digits. The
   pieces between cuts, and the untouched components, are the atoms;
4. candidates: every run of up to `MAX_ATOMS` consecutive atoms that fits
   in `MAX_WIDTH` line heights is one candidate digit. So the pieces of one
   digit (a 5's detached flag, a 4 or 7 written in two strokes, a broken
   thin stroke) can be merged, and touching digits split;
5. the caller normalizes and classifies every candidate (one batch), reads
   every candidate that may hold two touching digits (`pair_candidates`)
   with the two-digit classifier too (`digitrec.pairs`; Hochuli et al.
   2018), and
   `best_path` picks the partition of the atoms into digits whose
   candidates the classifier likes best (dynamic programming over the sum
   of log maximum probabilities, with a penalty for candidates far shorter
   than the line). The classifier thus scores the cuts: a wrong cut or a
   missed one leaves a piece that a model trained with outlier exposure
   does not read as a digit (see `digitrec.outliers`).
"""

import contextlib
import copy
import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from digitrec.decoding import load_image
from digitrec.errors import ImageError
from digitrec.ink import extract_ink, first_found, hypotheses, ink_hypotheses, read_ink
from digitrec.masks import bbox, rescale
from digitrec.preprocessing import LOCATE_SIDE, MIN_SIDE, source_image, with_margin

WORK_SIDE = 1024  # longest side of the picture searched for ink, pixels
MIN_HEIGHT = 6  # in a picture of at least `preprocessing.MIN_SIDE` px, ink whose marks are all shorter than this
# (the decoded picture's pixels) is crumbs, not digits: the corners of a filled shape, noise. A tinier picture is a
# low-resolution scan: its ink is the digit (an MNIST digit reduced to 8 x 8 is 5-6 px tall and reads right)
CROP_LINE = 48  # candidate crops are shrunk so the line is at most this tall, pixels (normalize is then fast)
SPLIT_WIDTH = 0.5  # components wider than this many line heights (deslanted) may be cut ...
DOUBTFUL = 0.9  # ... when the classifier's maximum probability for their digit is under this, or it is too wide:
WIDE = 1.0  # candidates wider than this many line heights (90 % of digits are under 1.03) ...
WIDE_PENALTY = 2.0  # ... lose this much log-probability per line height of extra width (two digits, likely)
MAX_WIDTH = 2.0  # widest candidate digit made of several pieces, in line heights (a 2 with a long tail)
MAX_ATOMS = 16  # most atoms merged into one candidate digit
MAX_MARKS = 32  # the largest connected components read (validation numbers: at most 8), more if they stand ...
ROW_HEIGHT = 2.0  # ... in one row: their tops within this many line heights of each other
TEXTURE_NFA = 1.0  # where more components than `MAX_MARKS` do not stand in one row, a mark must be larger than the
# crowd of them is expected to hold this many of (its number of false alarms, a-contrario; 1 is Desolneux, Moisan
# and Morel's usual choice, "Meaningful alignments", IJCV 2000): else it is a crumb of a texture (`_texture_crumbs`)
SHORT = 0.6  # candidates shorter than this share of the line height are penalized ...
SHORT_PENALTY = 4.0  # ... by this much log-probability
CUT_PENALTY = 0.7  # log-probability cost of each cut through a connected component (digits rarely touch)
REJECTED_PENALTY = 2.0  # log-probability cost of a candidate the recognizer would reject ("not a digit")
PAIR_WIDTH = 0.7  # candidates at least this many line heights wide (and not short) may be read as a pair ...
PAIR_PENALTY = 1.5  # ... scored as the pair classifier's log-probability minus this (chosen on validation numbers)
# Start columns of candidate cuts per component, distinct cuts kept from each, and at most this many in all.
# Chosen on numbers composed from MNIST validation digits (150 of each kind, seeds 7 and 8; mean exact-string
# accuracy of separate/touching x canvas/photo): 4 / 3 / 6 -> 0.835, 0.855; 6 / 3 / 10 -> 0.855, 0.883;
# 8 / 3 / 14 -> 0.860, 0.885 for 15 % more time; 5 paths a start instead of 3: 0.835 (seed 7).
MAX_STARTS = 6
CUTS_PER_START = 3
MAX_CUTS = 10
START_GAP = 0.15  # start columns at least this many line heights apart
EDGE = 0.05  # no cut leaves a piece narrower than this many line heights


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One possible digit: the atoms `first` to `last - 1` (left to right).

    Attributes:
        first, last: int, the run of atoms it covers.
        key: hashable, the same for the same ink whatever the atoms around.
        image: float32 `(H, W)` in [0, 1], its ink (light on black) with a
            margin, ready for `preprocessing.normalize`.
        box: `(x0, y0, x1, y1)` int, its ink's bounding box in source-image
            pixels (x1, y1 exclusive).
        height: float, its ink's height in line heights.
        width: float, its ink's width in line heights, deslanted or not,
            whichever is narrower.
        cuts: int, how many of its sides are cuts through a connected
            component (0 to 2 per component it holds part of).
        components: frozenset of the connected components it touches.
    """

    first: int
    last: int
    key: tuple
    image: np.ndarray
    box: tuple
    height: float
    width: float
    cuts: int
    components: frozenset


class Number:
    """A picture of a handwritten number, ready to be over-segmented.

    Args:
        image: anything `preprocessing.to_grayscale` reads (path, bytes,
            Pillow image, array), either polarity, any size.
    Raises:
        ImageError: unreadable image, or no ink found (or, in a picture of
            at least `preprocessing.MIN_SIDE` px, only marks under
            `MIN_HEIGHT` px tall).

    Use: `found = number.candidates()`, classify every `found[i].image`
    after normalizing it, then `number.doubtful(found, probabilities)`
    names the components worth cutting; `number.candidates(split)` adds
    their pieces, and `best_path` picks the digits.
    """

    def __init__(self, image):
        if isinstance(image, (str, Path, bytes, bytearray)):
            image = load_image(image)
        size = image.info.get("source_size", image.size) if isinstance(image, Image.Image) else np.shape(image)[1::-1]
        # Large images are reduced, and one enlarged from a tiny picture is read at that size, as `predict` reads
        # it (blank photos' grain made up to 32 marks at full resolution); boxes are mapped back to `size`.
        gray = source_image(image)
        self.zoom = (size[0] / gray.shape[1], size[1] / gray.shape[0])
        # Soft strokes a hundred pixels wide (a small digit enlarged) are found only at `normalize`'s first search
        # size: a 1000 px copy of a test digit was "no ink found" at 1024 px.
        sides = [WORK_SIDE] + ([LOCATE_SIDE] if max(gray.shape) > LOCATE_SIDE else [])
        (self.work, self.scale, self.offset, self.whole), ink = first_found(lambda side: _searched(gray, side),
                                                                             sides)[0]
        self._segment(*ink)

    def alternatives(self):
        """This number as each other reading of what is ink sees it (`ink.ink_hypotheses`): a list."""
        numbers = []
        for ink, mask in ink_hypotheses(self.work, whole=self.whole)[1:]:
            number = copy.copy(self)
            with contextlib.suppress(ImageError):  # a reading whose marks are all too small for a digit
                number._segment(ink, mask)
                numbers.append(number)
        return numbers

    def _segment(self, ink, mask):
        """Components, line height, slant and ink ownership of the kept ink `mask` (bool, like `ink`)."""
        self.ink, self.mask = ink, mask
        self.labels, _ = ndimage.label(self.mask, structure=np.ones((3, 3)))
        self.objects = ndimage.find_objects(self.labels)
        heights = np.array([s[0].stop - s[0].start for s in self.objects], "float64")
        self.line = float(np.median(heights[heights >= 0.5 * heights.max()]))
        if heights.max() < MIN_HEIGHT * self.scale and max(self.work.shape) >= MIN_SIDE * self.scale:
            raise ImageError(f"no ink found: only marks under {MIN_HEIGHT} px tall, too small for digits")
        ys, xs = np.nonzero(self.mask)
        self.center = float(ys.mean())
        self.shear = _slant(ys, xs, self.center)
        self.shrink = min(1.0, CROP_LINE / self.line)
        # Soft ink around the kept pixels belongs to the nearest kept pixel's component.
        _, (iy, ix) = ndimage.distance_transform_edt(~self.mask, return_indices=True)
        self.owner = np.where(self.ink > 0, self.labels[iy, ix], 0)
        self.specks = self._specks()
        self.marks = len(self.objects) - len(self.specks)  # connected components read (not specks)
        self._pieces = {}

    def candidates(self, split=frozenset()):
        """Candidate digits, with the components in `split` cut into pieces.

        Returns:
            `(n_atoms, [Candidate, ...])`; every atom has its own
            single-atom candidate, so `best_path` always finds a path.
        """
        atoms = []  # (deslanted x centre, component, piece)
        piece_of = {}
        for c in range(len(self.objects)):
            if c in self.specks:
                continue
            pieces = self._cut(c) if c in split else None
            piece_of[c] = pieces
            for k in [-1] if pieces is None else range(int(pieces[2].max()) + 1):  # -1: the whole component
                xd = self._xd(c) if pieces is None else self._xd(c)[pieces[2] == k]
                if len(xd):
                    atoms.append((float(xd.mean()), c, k))
        last_piece = {}
        for _, c, k in atoms:
            last_piece[c] = max(k, last_piece.get(c, -1))
        atoms.sort()
        atom_map = np.full(self.mask.shape, -1, "int32")
        for rank, (_, c, k) in enumerate(atoms):
            region = self.owner == c + 1
            if piece_of[c] is not None:
                region &= piece_of[c][3] == k
            atom_map[region] = rank
        boxes = ndimage.find_objects(atom_map + 1, max_label=len(atoms))
        lo, hi = _deslanted_extents(atom_map, len(atoms), self.shear, self.center)
        found = []
        for first in range(len(atoms)):
            for last in range(first + 1, min(first + MAX_ATOMS, len(atoms)) + 1):
                if last - first > 1 and hi[first:last].max() - lo[first:last].min() > MAX_WIDTH * self.line:
                    break
                upright = max(boxes[i][1].stop for i in range(first, last)) - min(boxes[i][1].start for i in range(first, last))
                width = min(hi[first:last].max() - lo[first:last].min() + 1, upright) / self.line
                found.append(self._candidate(first, last, atoms, boxes, atom_map, width, last_piece))
        return len(atoms), found

    def doubtful(self, found, probabilities, min_digit_score=0.0):
        """Components worth cutting: wide ones in a digit of the best path that is unsure or too wide.

        Returns:
            frozenset of component indices (empty when every digit is clear).
        """
        n_atoms = max(c.last for c in found)
        split = set()
        for i in best_path(n_atoms, found, probabilities, min_digit_score):
            candidate = found[i]
            if candidate.width > WIDE or float(np.max(probabilities[i])) < DOUBTFUL:
                split |= {c for c in candidate.components if self.is_wide(c)}
        return frozenset(split)

    def _xd(self, c):
        ys, xs = np.nonzero(self.labels[self.objects[c]] == c + 1)
        ys, xs = ys + self.objects[c][0].start, xs + self.objects[c][1].start
        return xs - self.shear * (ys - self.center)

    def is_wide(self, c):
        """Whether component `c` is wider (deslanted) than `SPLIT_WIDTH` line heights: one that may be cut."""
        xd = self._xd(c)
        return float(xd.max() - xd.min() + 1) > SPLIT_WIDTH * self.line

    def _cut(self, c):
        """Component `c`'s pieces: (rows, cols, piece of each kept pixel, piece of each pixel of the picture)."""
        if c not in self._pieces:
            sl = self.objects[c]
            ys, xs = np.nonzero(self.labels[sl] == c + 1)
            ys, xs = ys + sl[0].start, xs + sl[1].start
            xd = xs - self.shear * (ys - self.center)
            piece = np.zeros(len(ys), "int32")
            for cut in _cuts(ys, xd, self.line):
                piece += xd >= cut[ys - ys.min()]
            full = np.zeros(self.mask.shape, "int32")
            full[ys, xs] = piece
            _, (iy, ix) = ndimage.distance_transform_edt(self.labels != c + 1, return_indices=True)
            self._pieces[c] = (ys, xs, piece, full[iy, ix])
        return self._pieces[c]

    def _specks(self):
        """Components left out of the digits (a set): all but the `MAX_MARKS` largest (by pixels) and
        `_row_marks`, and among those each isolated speck. Ink crumbs of a texture or of noise can number hundreds,
        and the candidates, each normalized and classified, grow with them: a marker digit in a shade once took
        `read` 21 s (446 crumbs). Where there are more than `MAX_MARKS` and the largest do not stand in one row (a
        long number's digits do), those that do not stand out of the crowd (`_texture_crumbs`) are left out too:
        the grain of a shade beside an empty form field was read as "??????????44??????"."""
        area = np.bincount(self.labels.ravel(), minlength=len(self.objects) + 1)[1:]
        order = np.argsort(-area, kind="stable").tolist()
        spans, smaller = {i: self._span(self.objects[i]) for i in order[:MAX_MARKS]}, order[MAX_MARKS:]
        tops = [self.objects[i][0].start for i in spans]
        if smaller and max(tops) - min(tops) > ROW_HEIGHT * self.line:  # not one row: a crowd, maybe of crumbs
            crumbs = _texture_crumbs(area)
            spans = {i: span for i, span in spans.items() if not crumbs[i]}
        else:
            spans.update(self._row_marks(smaller, spans))
        return set(order) - set(spans) | {i for i in spans if self._isolated_speck(i, spans)}

    def _row_marks(self, smaller, spans):
        """`{component: deslanted x range}` of the `smaller` components (largest first) that overlap in x none of
        `spans` nor any kept before them, `spans` standing in one row (their tops within `ROW_HEIGHT` line heights
        of each other, as a number's digits do, not a cloud of crumbs): a number of 40 digits has more than
        `MAX_MARKS` marks, and was read as 32."""
        kept = dict(spans)
        for i in smaller:
            lo, hi = self._span(self.objects[i])
            if not any(a <= hi and lo <= b for a, b in kept.values()):
                kept[i] = (lo, hi)
        return {i: kept[i] for i in kept if i not in spans}

    def _isolated_speck(self, index, spans):
        """True for a component far smaller than the line and far from every other one of `spans` (their deslanted
        x ranges by component; noise, a dot)."""
        sl = self.objects[index]
        if max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) >= 0.25 * self.line:
            return False
        (lo, hi), gap = spans[index], 0.3 * self.line
        return not any(other != index and a - gap <= hi and lo <= b + gap for other, (a, b) in spans.items())

    def _span(self, sl):
        """Deslanted x range of a bounding box."""
        ys = np.array([sl[0].start, sl[0].stop - 1] * 2)
        xs = np.array([sl[1].start] * 2 + [sl[1].stop - 1] * 2)
        xd = xs - self.shear * (ys - self.center)
        return float(xd.min()), float(xd.max())

    def _candidate(self, first, last, atoms, boxes, atom_map, width, last_piece):
        """The `Candidate` made of atoms `first` to `last - 1`."""
        y0 = min(boxes[i][0].start for i in range(first, last))
        y1 = max(boxes[i][0].stop for i in range(first, last))
        x0 = min(boxes[i][1].start for i in range(first, last))
        x1 = max(boxes[i][1].stop for i in range(first, last))
        member = (atom_map[y0:y1, x0:x1] >= first) & (atom_map[y0:y1, x0:x1] < last)
        crop = rescale(np.where(member, self.ink[y0:y1, x0:x1], 0.0).astype("float32"), self.shrink)
        (zx, zy), (ox, oy) = self.zoom, self.offset
        box = (int(zx * (ox + x0 / self.scale)), int(zy * (oy + y0 / self.scale)),
               int(np.ceil(zx * (ox + x1 / self.scale))), int(np.ceil(zy * (oy + y1 / self.scale))))
        key = tuple(sorted((c, k) for _, c, k in atoms[first:last]))
        components = frozenset(c for c, _ in key)
        cuts = sum(min(k for d, k in key if d == c) > 0 for c in components)
        cuts += sum(max(k for d, k in key if d == c) < last_piece[c] for c in components)
        return Candidate(first, last, key, with_margin(crop), box, (y1 - y0) / self.line, width, cuts, components)


def _texture_crumbs(areas):
    """Which of a crowd of components, of `areas` pixels (int `(n,)`), do not stand out of it: bool `(n,)`.

    An a-contrario test (Desolneux, Moisan and Morel 2008, "From Gestalt
    Theory to Image Analysis"): the sizes above the crowd's median `u`
    are taken to follow a Pareto tail, its index `alpha` by Hill's (1975)
    estimator, so the crowd is expected to hold `k (a / u) ** -alpha`
    components of `a` pixels or more (`k` of them over `u`), a component's
    number of false alarms. A component is a mark where that is under
    `TEXTURE_NFA`, else a crumb of a texture: grain left as ink in a shade
    is a crowd of hundreds of crumbs whose largest are its tail, while a
    digit among them (a marker digit in a shade's grain) is a hundred times
    larger than they are.
    """
    areas = np.asarray(areas, "float64")
    u = float(np.median(areas))
    tail = areas[areas > u]
    if not len(tail):
        return np.ones(len(areas), bool)
    alpha = len(tail) / max(float(np.sum(np.log(tail / u))), 1e-9)
    return len(tail) * (areas / u) ** -alpha >= TEXTURE_NFA


def best_path(n_atoms, found, probabilities, min_digit_score=0.0):
    """Choose the candidates that partition the atoms into the most probable digits.

    Args:
        n_atoms: int, from `Number.candidates`.
        found: the `Candidate` list from `Number.candidates`.
        probabilities: float `(len(found), 10)`, the classifier's answer
            for each candidate's normalized image.
        min_digit_score: the recognizer's rejection threshold (see
            `digitrec.rejection`).

    Returns:
        list of indices into `found`, left to right, maximizing the sum of
        log maximum probabilities, minus `SHORT_PENALTY` for each candidate
        shorter than `SHORT` line heights, `CUT_PENALTY` for each cut
        through a connected component, `WIDE_PENALTY` per line height of
        width beyond `WIDE`, and `REJECTED_PENALTY` for each candidate whose
        digit score is under `min_digit_score`, twice for a piece cut out of
        a component (a cut that leaves a non-digit is likely a wrong one: a
        letter A was read "?1", its right leg a 1). Chosen on validation:
        non-digits (letters in held-out fonts, scribbles, shapes; 300) read
        as nothing but "?" 24.7 % -> 29.0 %, composed numbers unchanged.
    """
    spans = [(c.first, c.last) for c in found]
    return best_partition(n_atoms, spans, candidate_scores(found, probabilities, min_digit_score))


def candidate_scores(found, probabilities, min_digit_score=0.0):
    """Each candidate's score as one digit in `best_path`: float64 `(len(found),)`, log-probability units."""
    from digitrec.rejection import digit_score

    p = np.asarray(probabilities, "float64")
    score = np.log(np.maximum(p.max(axis=1), 1e-12))
    cuts = np.array([c.cuts for c in found])
    score -= REJECTED_PENALTY * (digit_score(p) < min_digit_score) * (1 + (cuts > 0))
    score -= SHORT_PENALTY * np.array([c.height < SHORT for c in found])
    score -= CUT_PENALTY / 2 * cuts
    score -= WIDE_PENALTY * np.maximum(0.0, np.array([c.width for c in found]) - WIDE)
    return score


def pair_candidates(found):
    """Indices into `found` of the candidates that may be two touching digits: at least `PAIR_WIDTH` line heights
    wide and not short (a list)."""
    return [i for i, c in enumerate(found) if c.width >= PAIR_WIDTH and c.height >= SHORT]


def pair_scores(candidates, pair_probabilities, min_pair_score=0.0):
    """Each candidate's score as the two digits of its most probable pair, to stand beside `candidate_scores`.

    Args:
        candidates: `Candidate`s (from `pair_candidates`).
        pair_probabilities: float `(len(candidates), 101)`, the two-digit
            classifier's answers (`digitrec.pairs`).
        min_pair_score: the pair classifier's rejection threshold: an answer
            whose `rejection.digit_score` is under it is no pair (-inf).

    Returns:
        float64 `(len(candidates),)`: the log-probability of the most
        probable of the 100 pairs, minus `PAIR_PENALTY`, the cuts' penalty,
        `WIDE_PENALTY` per line height of width beyond two digits', and
        `SHORT_PENALTY` where a part of `split_box`'s split is shorter than
        `SHORT` line heights, as for a candidate digit (the classifier was
        trained on digits 0.85-1.15 times as tall as each other; a mark
        whose part is a bar or a hook beside a stroke is no pair: validation
        scribbles read "61" and "76" are refused, seed 77; pen-written letters read
        as nothing but "?" 214 -> 216 of 300 at seed 21, non-digits and
        composed numbers unchanged, `scripts/read_validation.py`).
        `PAIR_PENALTY` was chosen among 0.7, 1.5 and 2.5 on numbers composed
        from validation digits (`scripts/read_validation.py`, seeds 7 and 11:
        separate digits, and one touching pair) and re-checked with the
        bundled pair classifier (0.7 and 1.0 no better; README). With it,
        seeds 8, 12, 22 and 32 read 497 -> 513 of 600 numbers with one
        touching pair exactly, separate digits 571 of 600 as before.
    """
    from digitrec.pairs import SINGLE
    from digitrec.rejection import digit_score

    q = np.asarray(pair_probabilities, "float64").reshape(-1, SINGLE + 1)
    cuts = np.array([c.cuts for c in candidates])
    widths = np.array([c.width for c in candidates])
    score = (np.log(np.maximum(q[:, :SINGLE].max(axis=1), 1e-12)) - PAIR_PENALTY - CUT_PENALTY / 2 * cuts
             - WIDE_PENALTY * np.maximum(0.0, widths - 2 * WIDE)
             - SHORT_PENALTY * np.array([_split_short(c) for c in candidates]))
    return np.where(digit_score(q) < min_pair_score, -np.inf, score)


def split_box(candidate):
    """The boxes of the two digits of a candidate read as a pair: its ink split at the emptiest column of the
    middle 40 % (its vertical projection's minimum), each part's ink box in source-image pixels (two tuples)."""
    (r0, r1, c0, c1), parts = _split(candidate)
    x0, y0, x1, y1 = candidate.box
    sx, sy = (x1 - x0) / (c1 - c0), (y1 - y0) / (r1 - r0)
    return tuple((int(x0 + sx * (a - c0)), int(y0 + sy * (top - r0)),
                  int(np.ceil(x0 + sx * (b - c0))), int(np.ceil(y0 + sy * (bottom - r0))))
                 for a, b, top, bottom in parts)


def _split(candidate):
    """`split_box`'s split in the candidate's image: its ink's box `(r0, r1, c0, c1)` and, for each part,
    `(first column, last column + 1, top row, bottom row + 1)`."""
    ink = candidate.image > 0.1 * max(float(candidate.image.max()), 1e-6)
    r0, r1, c0, c1 = bbox(ink)
    lo, hi = c0 + int(0.3 * (c1 - c0)), c0 + max(int(0.7 * (c1 - c0)), int(0.3 * (c1 - c0)) + 1)
    cut = lo + int(np.argmin(ink[:, lo:hi].sum(axis=0)))
    parts = []
    for a, b in ((c0, cut), (cut, c1)):
        rows = np.flatnonzero(ink[:, a:b].any(axis=1))
        parts.append((a, b, *((rows[0], rows[-1] + 1) if len(rows) else (r0, r1))))
    return (r0, r1, c0, c1), parts


def _split_short(candidate):
    """Whether a part of `split_box`'s split is shorter than `SHORT` line heights (bool)."""
    (r0, r1, _, _), parts = _split(candidate)
    return min(bottom - top for _, _, top, bottom in parts) / (r1 - r0) * candidate.height < SHORT


def best_partition(n_atoms, spans, scores):
    """Dynamic programming: the spans `(first, last)` that partition atoms 0 to `n_atoms` with the highest
    sum of `scores`; a list of indices into `spans`, left to right (a single-atom span for every atom
    guarantees a path)."""
    best = np.full(n_atoms + 1, -np.inf)
    best[0], back = 0.0, [None] * (n_atoms + 1)
    for i, (first, last) in sorted(enumerate(spans), key=lambda item: item[1][1]):
        if best[first] + scores[i] > best[last]:
            best[last], back[last] = best[first] + scores[i], i
    path, end = [], n_atoms
    while end > 0:
        path.append(back[end])
        end = spans[back[end]][0]
    return path[::-1]


def _searched(gray, side):
    """`_working_image(gray, side)` and `extract_ink`'s `(ink, mask)` of that image."""
    work = _working_image(gray, side)
    return work, extract_ink(work[0], whole=work[3])


def _working_image(gray, side=WORK_SIDE):
    """`gray` at most `side` px a side, around its ink; with the map back: source = work / scale + offset; and the
    whole picture's first reading of the ink (`ink.read_ink`'s first: polarity and stroke width, in the working image's
    pixels), or None where the working image is the whole picture.

    The region covers what every reading of the ink finds (`ink_hypotheses`), as in `normalize`: where the
    first reading is the paper lit beside a shade, the digits lie in the others. A crop this tight may be mostly
    bold strokes, whose polarity then reads the other way (the paper between them taken for light strokes): the
    whole picture's reading stands where the crop has none of its polarity.
    """
    h, w = gray.shape
    if max(h, w) <= side:
        return gray, 1.0, (0, 0), None
    scale = side / max(h, w)
    page, readings = read_ink(rescale(gray, scale))
    mask = np.any([mask for _, mask in hypotheses(page, readings)], axis=0)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    margin = 0.1 * (rows[-1] - rows[0] + 1) + 4
    y0, y1 = int(max(0, (rows[0] - margin) / scale)), int(min(h, (rows[-1] + 1 + margin) / scale))
    x0, x1 = int(max(0, (cols[0] - margin) / scale)), int(min(w, (cols[-1] + 1 + margin) / scale))
    crop = gray[y0:y1, x0:x1]
    dark, width = readings[0]
    crop_scale = min(1.0, side / max(crop.shape))
    return rescale(crop, crop_scale), crop_scale, (x0, y0), (dark, width * crop_scale / scale)


def _slant(ys, xs, center):
    """The shear `s` (x' = x - s (y - center)) whose vertical projection is sharpest, in [-1, 1] (+-45 degrees)."""
    best, best_score = 0.0, -1.0
    for s in np.tan(np.radians(np.arange(-45, 46, 3))):
        xd = np.round(xs - s * (ys - center)).astype("int64")
        counts = np.bincount(xd - xd.min())
        score = float(np.dot(counts, counts))
        if score > best_score:
            best, best_score = float(s), score
    return best


def _cuts(ry, xd, line):
    """Candidate cuts of one component: a list of `(rows,)` deslanted x positions, one per row of its box.

    Start columns: the local minima of the vertical projection and the
    valleys of the upper and lower contours, fewest ink pixels first, at
    least `START_GAP` line heights apart. From each, a straight cut and
    drop-fall paths from the top and from the bottom, each preferring left
    or right (the four variants of Khan 1998's extended drop-fall); at most
    `CUTS_PER_START` distinct ones and `MAX_CUTS` in all. Cuts that leave a
    sliver are dropped.
    """
    x0, top = int(np.floor(xd.min())), int(ry.min())
    grid = np.zeros((int(np.ptp(ry)) + 1, int(np.floor(xd.max())) - x0 + 1), bool)
    grid[ry - top, np.floor(xd).astype("int64") - x0] = True
    h, w = grid.shape
    edge, gap = max(2, int(EDGE * line)), max(2, int(START_GAP * line))
    profile = ndimage.uniform_filter1d(grid.sum(axis=0).astype("float64"), 3)
    upper = np.where(grid.any(axis=0), grid.argmax(axis=0), h)
    lower = np.where(grid.any(axis=0), h - 1 - grid[::-1].argmax(axis=0), -1)
    peaks = set()
    for signal in (-profile, upper, -lower):  # local maxima of each
        inner = signal[edge - 1 : w - edge + 1]
        up = (inner[1:-1] >= inner[:-2]) & (inner[1:-1] >= inner[2:]) & ((inner[1:-1] > inner[:-2]) | (inner[1:-1] > inner[2:]))
        peaks.update(int(x) + edge for x in np.flatnonzero(up))
    starts = []
    for x in sorted(peaks, key=lambda x: (profile[x], x)):  # least ink crossed first
        if all(abs(x - s) >= gap for s in starts):
            starts.append(x)
    kept, sides = [], []
    for x in starts[:MAX_STARTS]:
        mirrored = w - 1 - x
        paths = [np.full(h, x), _drop_fall(grid, x), _drop_fall(grid[::-1], x)[::-1],
                 w - 1 - _drop_fall(grid[:, ::-1], mirrored), w - 1 - _drop_fall(grid[::-1, ::-1], mirrored)[::-1]]
        found = 0
        for path in paths:
            side = xd - x0 >= path[ry - top]
            if not 0.03 < side.mean() < 0.97 or any(np.mean(side != s) < 0.03 for s in sides):
                continue
            if min(np.ptp(xd[~side]), np.ptp(xd[side])) + 1 < edge:
                continue
            kept.append(path.astype("float64") + x0)
            sides.append(side)
            found += 1
            if found == CUTS_PER_START or len(kept) == MAX_CUTS:
                break
    return kept


def _drop_fall(grid, x):
    """Descending drop-fall (Congedo et al. 1995): the column where a drop started above `x` crosses each row.

    The drop moves down if it can, else down-left, else down-right, else
    slides right or left along the ink (never back the way it came), and
    cuts straight down through the ink when stuck. It strays at most the
    grid's height from its start. Returns int64 `(rows,)` grid columns.
    """
    h, w = grid.shape
    g = np.pad(grid, 1)  # free border all around: g's row y is grid's row y - 1
    y, x, came, start = 0, x + 1, 0, x + 1
    out = np.empty(h, "int64")
    while y < h:
        if not g[y + 1, x]:
            dy, dx = 1, 0
        elif not g[y + 1, x - 1]:
            dy, dx = 1, -1
        elif not g[y + 1, x + 1]:
            dy, dx = 1, 1
        elif not g[y, x + 1] and came != -1 and x + 1 - start <= h:
            dy, dx = 0, 1
        elif not g[y, x - 1] and came != 1 and start - x + 1 <= h:
            dy, dx = 0, -1
        else:
            dy, dx = 1, 0  # stuck: cut through the ink
        y, x, came = y + dy, min(max(x + dx, 1), w), dx
        if y >= 1:
            out[y - 1] = x - 1
    return out


def _deslanted_extents(atom_map, n, shear, center):
    """Per atom, the smallest and largest deslanted x of its ink, float64 `(n,)` each."""
    ys, xs = np.nonzero(atom_map >= 0)
    ids = atom_map[ys, xs]
    xd = xs - shear * (ys - center)
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(lo, ids, xd)
    np.maximum.at(hi, ids, xd)
    return lo, hi
