"""Recognize digits in real pictures: normalize like MNIST, then classify; read whole numbers.

    from digitrec import Recognizer
    [result] = Recognizer().predict("my_seven.jpg")
    result.label, result.confidence, result.digit_score, result.top_k(3)
    reading = Recognizer().read("meter.jpg")
    reading.text, reading.confidence, [d.box for d in reading.digits]

A prediction whose `digit_score` is under the model's calibrated threshold
is rejected: its `label` is None and `rejected` is "not a digit" (see
`digitrec.rejection`).
"""

import contextlib
import dataclasses
import itertools
import threading
from pathlib import Path

import numpy as np

from digitrec import pairs, preprocessing, rejection, runs, runtimes, segmentation
from digitrec.decoding import load_image
from digitrec.errors import ImageError
from digitrec.runs import BUNDLED_MODEL, BUNDLED_ONNX  # noqa: F401 (part of this module's API)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One recognized digit.

    Attributes:
        label: int in [0, 9], the most probable class; None when rejected.
        confidence: float in [0, 1], the highest probability.
        probabilities: 10 floats summing to 1, indexed by digit.
        digit_score: float in [0, 1], how much the input looks like one
            handwritten digit (`rejection.digit_score`).
        rejected: None, or "not a digit" when `digit_score` is under the
            recognizer's `min_digit_score`.
    """

    label: int | None
    confidence: float
    probabilities: tuple
    digit_score: float
    rejected: str | None = None

    def top_k(self, k=3):
        """The `k` most probable digits as `[(label, probability), ...]`, best first."""
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(int(i), float(self.probabilities[i])) for i in order]


@dataclasses.dataclass(frozen=True)
class DigitReading(Prediction):
    """One digit of a `Reading`: a `Prediction` plus where it is.

    Attributes:
        box: `(x0, y0, x1, y1)` ints, the digit's ink in source-image
            pixels (x1 and y1 exclusive).
        input: float32 `(28, 28)`, what the model saw (the digit after
            `preprocessing.normalize`; for a digit of a touching pair read
            whole, its half of the two-digit classifier's input).
    """

    box: tuple = dataclasses.field(kw_only=True)
    input: np.ndarray = dataclasses.field(kw_only=True, repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class Reading:
    """A handwritten number read left to right.

    A reading of several digits of which one is rejected ("not a digit")
    is rejected whole: its `rejected` is "not a number" and its `text` all
    "?", as a form's field or a cheque's amount is accepted whole or passed
    to a person; each digit keeps its own label and `rejected`. A letter or
    a doodle cut into a digit-like stroke and a rejected rest ("1?") is thus
    refused, and a number with an unreadable digit was misread anyway:
    validation non-digits read as nothing but "?" 84.0 -> 86.7 % (letters in
    held-out fonts, scribbles and shapes, 100 each, seeds 77 and 11), exact
    numbers the same (292 / 268 of 300 separate / one pair touching, 92 of
    100 two-digit touching ones); `scripts/read_validation.py`.

    Attributes:
        text: str, one character per digit: the label, or "?" where the
            digit was rejected ("not a digit"); all "?" where the reading
            is rejected.
        confidence: float in [0, 1], the product of the digits' confidences
            (the chance that every label is right, if their errors are
            independent).
        digits: tuple of `DigitReading`, left to right.
        rejected: None, or "not a number" where one of several digits is
            rejected.
    """

    text: str
    confidence: float
    digits: tuple
    rejected: str | None = None

    def as_dict(self):
        """JSON-ready: `text`, `confidence` and `digits`, each with `label` (None when rejected),
        `confidence`, `digit_score`, `probabilities`, `box` and, for a rejected digit, `rejected`; and
        `rejected` where the reading is."""
        digits = []
        for d in self.digits:
            digit = {"label": d.label, "confidence": d.confidence, "digit_score": d.digit_score,
                     "probabilities": list(d.probabilities), "box": list(d.box)}
            digits.append({**digit, "rejected": d.rejected} if d.rejected else digit)
        answer = {"text": self.text, "confidence": self.confidence, "digits": digits}
        return {**answer, "rejected": self.rejected} if self.rejected else answer


def _reading(digits):
    """The `Reading` of a list of `DigitReading`s, left to right."""
    confidence = float(np.prod([d.confidence for d in digits]))
    if len(digits) > 1 and any(d.label is None for d in digits):
        return Reading("?" * len(digits), confidence, tuple(digits), rejection.NOT_A_NUMBER)
    return Reading("".join("?" if d.label is None else str(d.label) for d in digits), confidence, tuple(digits))


def _as_list(images):
    """One image, or a sequence or batch of them, as a list of images."""
    if isinstance(images, (list, tuple)):
        return list(images)
    if isinstance(images, np.ndarray) and (images.ndim == 4 or (images.ndim == 3 and images.shape[-1] > 4)):
        return list(images)
    return [images]


class Recognizer:
    """A trained model plus MNIST-style input normalization.

    Args:
        model: None or "bundled" for the bundled model (see
            `digitrec.runs.bundled_model`); the path of a `.keras` file
            (Keras, loaded in safe mode) or a run folder, an `.onnx` file
            (ONNX Runtime) or a `.tflite` file (LiteRT), as written by
            `digitrec export`; or a `keras.Model` that maps `(N, 28, 28, 1)`
            float32 in [0, 1] to `(N, 10)` probabilities. The runtime
            follows the file suffix (`digitrec.runtimes`); normalization is
            the same for all, and an `.onnx` model never imports TensorFlow.
        min_digit_score: float in [0, 1]; predictions with a lower
            `digit_score` are rejected. None uses the threshold calibrated
            for the model file (`rejection.load_threshold`, the same file
            for `default.keras` and its export `default.onnx`): 0, no
            rejection, for a model without one or a `keras.Model`.
        pairs: the two-digit classifier that `read` offers for wide
            candidates (`digitrec.pairs`): "bundled" (`runs.bundled_pairs`),
            the path of a `.keras`, `.onnx` or `.tflite` file of one, or
            None to read every candidate as one digit. It is loaded on the
            first `read` (`predict` never needs it).

    Attributes:
        runtime: the `runtimes.Runtime` that runs the forward pass.
        pairs: the two-digit classifier's `runtimes.Runtime` (loaded when
            first used), or None.
        pairs_path: Path of its file, or None.
        min_pair_score: float, its calibrated threshold (`pairs.calibrate`):
            `read` offers no pair reading whose digit score is under it.
        min_isolated_pair_score: float, the stricter one for a picture
            whose ink is one connected mark (`pairs.calibrate`).
        model_path: Path of the model file, or None for a `keras.Model`.
        min_digit_score: float, the rejection threshold in use.

    Raises:
        ModelError: the model file (or its rejection threshold) is missing,
            broken, not a digitrec model, or its runtime is not installed.
    """

    def __init__(self, model=None, min_digit_score=None, pairs=runs.BUNDLED):
        self.runtime = runtimes.load(model)
        source = runs.bundled_pairs() if str(pairs) == runs.BUNDLED else pairs
        self.pairs_path, self._pairs = source and runs.model_path(source), None
        self.min_pair_score = rejection.load_threshold(self.pairs_path) if source else 0.0
        self.min_isolated_pair_score = (rejection.load_threshold(self.pairs_path, "isolated_threshold",
                                                                 self.min_pair_score) if source else 0.0)
        self.model_path = self.runtime.path
        self.min_digit_score = (rejection.load_threshold(self.model_path) if min_digit_score is None
                                else float(min_digit_score))
        self._lock = threading.Lock()

    @property
    def pairs(self):
        if self._pairs is None and self.pairs_path is not None:
            with self._lock:
                self._pairs = self._pairs or runtimes.load(self.pairs_path, runtimes.PAIRS)
        return self._pairs

    def preprocess(self, image):
        """The `(28, 28)` float32 image in [0, 1] that the model sees for `image`.

        That is `preprocessing.normalize(image)`, or, where the polarity is
        in doubt, the reading of `preprocessing.normalize_hypotheses` that
        `choose` keeps (the model decides).
        """
        hypotheses = preprocessing.normalize_hypotheses(image)
        return hypotheses[0] if len(hypotheses) == 1 else self.choose([hypotheses])[0][0]

    def classify(self, normalized, batch_size=256):
        """Class probabilities for already-normalized images.

        Args:
            normalized: float32 `(N, 28, 28)` or `(N, 28, 28, 1)` in [0, 1].

        Returns:
            float32 `(N, 10)`, rows summing to 1 (an int8 LiteRT model's
            probabilities come in steps of 1/256).

        Safe to call from several threads: forward passes take turns
        (Keras's compiled predict function and the LiteRT interpreter are
        shared state).
        """
        x = np.asarray(normalized, dtype="float32").reshape(-1, 28, 28, 1)
        with self._lock:
            chunks = [self.runtime.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, 10), "float32")

    def predict(self, images):
        """Recognize the digit in each image.

        Args:
            images: one image or a list of them; each a file path, encoded
                bytes, a `PIL.Image.Image` or a NumPy array (see
                `preprocessing.normalize`). A NumPy batch `(N, H, W)` or
                `(N, H, W, C)` counts as N images.

        Returns:
            list of `Prediction`, one per image, in order (empty for no images).

        Raises:
            ImageError: an image cannot be read or holds no ink (the first
                such image stops the call; the CLI handles images one by one).
        """
        hypotheses = [preprocessing.normalize_hypotheses(image) for image in _as_list(images)]
        return [self.to_prediction(p) for p in self.choose(hypotheses)[1]]

    def choose(self, hypotheses):
        """Classify each image's normalized hypotheses and keep the one that looks most like a digit.

        Args:
            hypotheses: list of float32 `(k, 28, 28)`, one per image, as
                `preprocessing.normalize_hypotheses` returns them (k >= 1).

        Returns:
            `(normalized, probabilities)`: float32 `(N, 28, 28)`, the chosen
            hypothesis of each image, and its probabilities `(N, 10)`. The
            hypothesis with the highest `rejection.digit_score` wins (the
            first one on a tie).
        """
        if not hypotheses:
            return np.zeros((0, 28, 28), "float32"), np.zeros((0, 10), "float32")
        x = np.concatenate(hypotheses)
        p = self.classify(x)
        scores, ends = rejection.digit_score(p), np.cumsum([len(h) for h in hypotheses])
        best = [end - len(h) + int(np.argmax(scores[end - len(h) : end])) for h, end in zip(hypotheses, ends)]
        return x[best], p[best]

    def to_prediction(self, p, kind=Prediction, **fields):
        """A `Prediction` (or `kind`, with extra `fields`) from one row of `classify`'s probabilities `(10,)`."""
        label = int(np.argmax(p))
        score = float(rejection.digit_score(p[None])[0])
        rejected = score < self.min_digit_score
        return kind(None if rejected else label, float(p[label]), tuple(float(v) for v in p), score,
                    rejection.REJECTED if rejected else None, **fields)

    def _classify_candidates(self, found):
        """Normalized images `(len(found), 28, 28)` of the candidate digits and their probabilities `(len(found),
        10)`, classified in one batch; of a candidate's `preprocessing.normalize_ink_hypotheses`, the one that
        looks most like a digit (`choose`)."""
        hypotheses, ok = [], np.zeros(len(found), bool)
        for i, candidate in enumerate(found):
            with contextlib.suppress(ImageError):  # too faint once cut out: a uniform answer, never chosen
                hypotheses.append(preprocessing.normalize_ink_hypotheses(candidate.image))
                ok[i] = True
        normalized, probabilities = np.zeros((len(found), 28, 28), "float32"), np.full((len(found), 10), 0.1, "float32")
        normalized[ok], probabilities[ok] = self.choose(hypotheses)
        return normalized, probabilities

    def read(self, image):
        """Read a handwritten number: segment it into digits, then recognize each.

        Args:
            image: one picture (see `preprocessing.normalize` for the kinds),
                holding one or more digits written side by side.

        Returns:
            `Reading`. See `digitrec.segmentation` for the method: candidate
            digits are normalized and classified in one batch, wide ones are
            also read as a pair of touching digits by the two-digit
            classifier (`digitrec.pairs`; each of the two digits gets its
            marginal probabilities and its part of the box; a component is
            cut only where that classifier reads it whole as two digits),
            and the classifiers'
            probabilities choose the cuts. When a digit is
            rejected or unsure (confidence under `segmentation.DOUBTFUL`),
            the other readings of what is ink (`ink.ink_hypotheses`:
            a shade beside thin strokes, thick strokes that fill the picture,
            the darkest ink alone where a shadow band joins the strokes)
            are segmented too, and the one whose digits look most like digits
            (the highest mean `digit_score`) is kept, as `choose` does for one
            digit.

        Raises:
            ImageError: the image cannot be read or holds no ink.
        """
        if isinstance(image, (str, Path, bytes, bytearray)):  # decoded once, for the segmentation and `_as_predicted`
            image = load_image(image)
        number = segmentation.Number(image)
        reading = self._read(number)
        if not reading.digits or not all(d.label is not None and d.confidence >= segmentation.DOUBTFUL
                                         for d in reading.digits):
            readings = [r for r in [reading] + [self._read(other) for other in number.alternatives()] if r.digits]
            if not readings:  # every mark of every reading is a crumb of a texture (`segmentation._texture_crumbs`)
                raise ImageError("no ink found: only the crumbs of a texture (grain), no marks")
            reading = max(readings, key=lambda r: np.mean([d.digit_score for d in r.digits]))  # the first on a tie
        return self._as_predicted(image, reading) if len(reading.digits) == 1 else reading

    def _as_predicted(self, image, reading):
        """A `Reading` of one digit, answered as `predict` answers the whole picture (every reading of its ink,
        `preprocessing.normalize_hypotheses`; the box stays `reading`'s): a digit alone reads alike both ways.
        The candidate cut out of a letter or a doodle was read as a digit where the whole was rejected: validation
        non-digits read as nothing but "?" 241 -> 246 and 243 -> 244 of 300 (`scripts/read_validation.py`, seeds
        77 and 11); validation digits alone (`scripts/family_validation.py 5 60 --read`) 28 of 900 misread before
        and after. `reading` itself where `predict` finds no ink."""
        try:
            hypotheses = preprocessing.normalize_hypotheses(image)
        except ImageError:
            return reading
        normalized, probabilities = self.choose([hypotheses])
        return _reading([self.to_prediction(probabilities[0], DigitReading, box=reading.digits[0].box,
                                            input=normalized[0])])

    def _read(self, number):
        """`read`'s `Reading` of one `segmentation.Number`: each candidate read as one digit and, where it may hold
        two touching ones, as a pair (`segmentation.pair_candidates`); `segmentation.best_partition` chooses. No
        digits where every mark is a crumb of a texture (`segmentation._texture_crumbs`)."""
        if not number.marks:
            return _reading([])
        n_atoms, found, normalized, probabilities = self.classified_candidates(number)
        wide = segmentation.pair_candidates(found) if self.pairs_path is not None else []
        pair_inputs = np.stack([pairs.normalize(found[i].image) for i in wide]) if wide else None
        pair_probabilities = self._classify_pairs(pair_inputs)
        spans = [(c.first, c.last) for c in found] + [(found[i].first, found[i].last) for i in wide]
        scores = np.concatenate([segmentation.candidate_scores(found, probabilities, self.min_digit_score),
                                 segmentation.pair_scores([found[i] for i in wide], pair_probabilities,
                                                          self._min_pair_score(number))])
        path = segmentation.best_partition(n_atoms, spans, scores)
        probabilities = self._with_pair_views(path, found, wide, probabilities, pair_probabilities)
        digits = []
        for i in path:
            if i < len(found):
                digits.append(self.to_prediction(probabilities[i], DigitReading, box=found[i].box, input=normalized[i]))
            else:
                j = i - len(found)
                digits += self._pair_digits(found[wide[j]], pair_inputs[j], pair_probabilities[j])
        return _reading(digits)

    @staticmethod
    def _with_pair_views(path, found, wide, probabilities, pair_probabilities):
        """The digits' probabilities `(len(found), 10)`, where two neighbouring digits of `path` were cut from one
        component that the pair classifier read whole (`found[wide[j]]`, `pair_probabilities[j]`): each times its
        marginal of the pair classifier's answer, renormalized.

        The product rule of classifier combination (Kittler, Hatef, Duin and
        Matas 1998, "On combining classifiers", IEEE TPAMI 20(3)) over the two
        views of a touching pair, its cut pieces and its whole: a cut that
        damages a digit misleads the first, not the second. The reading's
        cuts are not changed. Validation numbers with one touching pair
        (`scripts/read_validation.py`, seeds 7 and 11: 264 -> 269 of 300;
        held-out seeds 21 and 31: 249 -> 259), separate digits the same (287
        and 285 of 300).
        """
        out = np.array(probabilities, "float32")
        whole = {(found[w].first, found[w].last): j for j, w in enumerate(wide)}
        for a, b in itertools.pairwise(path):
            j = whole.get((found[a].first, found[b].last)) if max(a, b) < len(found) else None
            if j is not None and found[a].components & found[b].components:
                for k, marginal in zip((a, b), pairs.marginals(pair_probabilities[j])):
                    q = out[k] * marginal + 1e-12
                    out[k] = q / q.sum()
        return out

    def _pair_digits(self, candidate, pair_input, pair_probabilities):
        """The two `DigitReading`s of a candidate read as a touching pair: the marginals of the pair classifier's
        answer `(101,)`, the parts of the box (`segmentation.split_box`), the halves of its input `(28, 56)`."""
        halves = pair_input[:, :28], pair_input[:, 28:]
        return [self.to_prediction(p, DigitReading, box=box, input=half) for p, box, half in
                zip(pairs.marginals(pair_probabilities), segmentation.split_box(candidate), halves)]

    def _classify_pairs(self, pair_inputs):
        """The two-digit classifier's probabilities `(N, 101)` for float32 `(N, 28, 56)` inputs (or None: none)."""
        if pair_inputs is None:
            return np.zeros((0, pairs.SINGLE + 1), "float32")
        model = self.pairs
        with self._lock:
            return np.asarray(model.predict(pair_inputs[..., None]), "float32")

    def _cuttable(self, split, found, min_pair_score):
        """The components of `split` that the two-digit classifier reads, whole, as two digits.

        The pair classifier serves as the length classifier of Hochuli et al.
        (2018), who first decide how many digits a connected component
        holds: a component it reads as one digit, or rejects (its digit
        score under `min_pair_score`: a letter, a scribble), is not cut, so
        a letter's strokes are no longer read as "111" (validation
        non-digits read as nothing but "?" 43.7 / 42.0 % -> 75.0 / 75.0 %,
        seeds 7 and 11; numbers with one touching pair 265 -> 264 of 300,
        separate digits 288 -> 287; README). Without a pair classifier,
        `split` is returned as it is.

        Args:
            split: frozenset of component indices (`Number.doubtful`).
            found: the uncut `Candidate`s (`Number.candidates()`): each
                component is one of them, alone.
            min_pair_score: the pair classifier's threshold for this number
                (`_min_pair_score`).

        Returns:
            frozenset, the part of `split` to cut.
        """
        if not split or self.pairs_path is None:
            return split
        order = sorted(split)
        whole = [next(f for f in found if f.components == {c} and f.last - f.first == 1) for c in order]
        q = self._classify_pairs(np.stack([pairs.normalize(f.image) for f in whole]))
        two = (q.argmax(axis=1) < pairs.SINGLE) & (rejection.digit_score(q) >= min_pair_score)
        return frozenset(c for c, keep in zip(order, two) if keep)

    def _min_pair_score(self, number):
        """The pair threshold for a `segmentation.Number`: `min_isolated_pair_score` where its ink is one mark."""
        return self.min_isolated_pair_score if number.marks == 1 else self.min_pair_score

    def classified_candidates(self, number):
        """A `segmentation.Number`'s candidate digits, its doubtful components cut (those the pair classifier
        reads as two digits, `_cuttable`), each normalized and classified.

        Returns:
            `(n_atoms, found, normalized, probabilities)`: as `Number.candidates`, then float32 `(len(found),
            28, 28)` and `(len(found), 10)`.
        """
        n_atoms, found = number.candidates()
        normalized, probabilities = self._classify_candidates(found)
        split = self._cuttable(number.doubtful(found, probabilities, self.min_digit_score), found,
                               self._min_pair_score(number))
        if split:  # cut the components whose digit is unsure or too wide; reuse the answers for the rest
            known = {c.key: (x, p) for c, x, p in zip(found, normalized, probabilities)}
            n_atoms, found = number.candidates(split)
            new = [c for c in found if c.key not in known]
            known.update(zip((c.key for c in new), zip(*self._classify_candidates(new))))
            normalized, probabilities = (np.stack(v) for v in zip(*(known[c.key] for c in found)))
        return n_atoms, found, normalized, probabilities
