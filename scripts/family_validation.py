"""`predict` (the whole path: every reading, the classifier choosing) on validation digits rendered by the families.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/family_validation.py SEED N [FAMILY ...]
        [--zoom K] [--resample nearest|linear|cubic] [--turn] [--tilt D] [--lean D] [--haze C] [--glare G]
        [--shadow D] [--blur S] [--noise S] [--shrink F] [--read] [--four-lines]

For each family of `renderings.FAMILIES` (or those named), N digits of the validation split (10 %,
`data.stratified_split` seed 0; never test digits), drawn with `(SEED, the family's index)`, each rendered with
`(SEED, the family's index, the digit's index)`. Prints the digits read right, the mean milliseconds of `predict`
and the misreads as (label, answer), "no ink" where normalization found none. Compare code, digit for digit, by
running it with each on `PYTHONPATH`. `--zoom K` enlarges every picture K times first (`--resample nearest`: by
repeating pixels, as a viewer zooms; `linear`, `cubic`: smoothly), as a user who enlarged a tiny scan gives it.
`--turn` turns every picture 1-3 degrees either way (drawn with the digit's rendering seed; the border repeated),
as a form is scanned or photographed askew; `--tilt D` turns it D degrees either way instead, and `--lean D` shears
it so that its upright lines lean D degrees either way, its level lines level (`synth.sheared`: a page photographed
at an angle, locally). `--haze C` maps every level v of every picture's colour channels to
0.85 * 255 * (1 - C) + C v, as in a washed-out photo (haze or glare adds light: the share C of the contrast is left;
0.35: 141 + 0.35 v). `--glare G` adds a hot spot, as a lamp or a flash lights glossy paper (`synth.glared`,
drawn with the digit's rendering seed; after `--haze`). `--shadow D` casts a hard-edged shadow D dark across it
(`synth.shadowed`: a half-plane or a band, as direct light casts a hand's or a pen's; drawn with the rendering seed,
after `--glare`). `--blur S` blurs every picture's colour channels by a
Gaussian of standard deviation S pixels, as a photo out of focus is (after `--shadow`); `--noise S` adds Gaussian
noise of standard deviation S levels (of 255), as a photo taken in low light (after `--blur`); `--shrink F` reduces
every picture to F (< 1) of its size by area averaging first, as a small crop of a photo. `--read` answers with
`Recognizer.read` instead (a reading of anything but the one digit counts as a misread, its text shown).
`--four-lines` draws all four of every `cell` picture's lines (`renderings.CELL_LINES`): a digit cut from its cell
just outside the cell's frame.
"""

import argparse
import io
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import synth
from digitrec import renderings
from digitrec.data import load_split, stratified_split
from digitrec.errors import ImageError
from digitrec.inference import Recognizer

RESAMPLE = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


def decoded(picture):
    """An image file's bytes, or a uint8 array, as a uint8 array."""
    return np.asarray(Image.open(io.BytesIO(picture))) if isinstance(picture, bytes) else picture


def zoomed(picture, k, resample):
    """An image file's bytes (or a uint8 array) enlarged `k` times by `resample` (a key of `RESAMPLE`): a uint8 array,
    or the picture itself for `k` 1."""
    if k == 1:
        return picture
    return cv2.resize(decoded(picture), None, fx=k, fy=k, interpolation=RESAMPLE[resample])


def _colour_mapped(picture, f):
    """A picture (bytes or uint8 array) as a uint8 array with `f` applied to its colour channels (not its alpha;
    uint8 in, any numbers out: rounded and clipped)."""
    out = decoded(picture).copy()
    colour = out[..., :3] if out.ndim == 3 else out
    colour[...] = np.clip(np.round(f(np.ascontiguousarray(colour))), 0, 255)
    return out


def hazy(picture, c):
    """`--haze C`: a picture's colour channels mapped from v to 0.85 * 255 * (1 - c) + c v, uint8."""
    return _colour_mapped(picture, lambda v: 0.85 * 255 * (1 - c) + c * v.astype(np.float32))


def blurred(picture, sigma):
    """`--blur S`: a picture's colour channels blurred by a Gaussian of `sigma` px, uint8."""
    return _colour_mapped(picture, lambda v: cv2.GaussianBlur(v, (0, 0), sigma))


def answers(recognizer, pictures, read=False):
    """Each picture's label from `recognizer.predict`, None where refused, "no ink" where normalization found none;
    with `read`, the label where `recognizer.read` reads one digit, else the text it reads."""
    out = []
    for picture in pictures:
        try:
            if read:
                text = recognizer.read(picture).text
                out.append(int(text) if text.isdigit() and len(text) == 1 else text)
            else:
                out.append(recognizer.predict([picture])[0].label)
        except ImageError:
            out.append("no ink")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int)
    parser.add_argument("n", type=int)
    parser.add_argument("families", nargs="*", default=list(renderings.FAMILIES))
    parser.add_argument("--zoom", type=int, default=1)
    parser.add_argument("--resample", choices=RESAMPLE, default="nearest")
    parser.add_argument("--turn", action="store_true", help="turn every picture 1-3 degrees either way")
    parser.add_argument("--tilt", type=float, help="turn every picture this many degrees either way")
    parser.add_argument("--lean", type=float, help="shear every picture so that upright lines lean this many degrees")
    parser.add_argument("--haze", type=float, help="the share of every picture's contrast to leave")
    parser.add_argument("--glare", type=float, help="the share of the light lacking to white a hot spot adds")
    parser.add_argument("--shadow", type=float, help="the share of the light a hard-edged shadow takes")
    parser.add_argument("--blur", type=float, help="the standard deviation of a defocus blur, pixels")
    parser.add_argument("--noise", type=float, help="the standard deviation of Gaussian noise, levels of 255")
    parser.add_argument("--shrink", type=float, help="reduce every picture to this share of its size first")
    parser.add_argument("--read", action="store_true", help="answer with Recognizer.read, not predict")
    parser.add_argument("--four-lines", action="store_true", help="draw all four of every `cell` picture's lines")
    args = parser.parse_args()
    seed, n = args.seed, args.n
    if args.four_lines:
        renderings.CELL_LINES = (1.0,) * 4
    x, y = load_split("train")
    _, val = stratified_split(y, 0.1, seed=0)
    recognizer, wrong = Recognizer(), 0
    for family in args.families:
        f = list(renderings.FAMILIES).index(family)
        chosen = np.random.default_rng([seed, f]).choice(val, n, replace=False)
        pictures = []
        for i in chosen:
            rng = np.random.default_rng([seed, f, int(i)])
            picture = renderings.render(family, x[i], rng)
            if args.shrink:
                picture = cv2.resize(decoded(picture), None, fx=args.shrink, fy=args.shrink, interpolation=cv2.INTER_AREA)
            picture = zoomed(picture, args.zoom, args.resample)
            picture = synth.askew(decoded(picture), rng) if args.turn else picture
            picture = synth.turned(decoded(picture), args.tilt * rng.choice([-1, 1]))[0] if args.tilt else picture
            picture = synth.sheared(decoded(picture), args.lean * rng.choice([-1, 1]))[0] if args.lean else picture
            picture = picture if args.haze is None else hazy(picture, args.haze)
            picture = picture if args.glare is None else synth.glared(picture, args.glare, rng)
            picture = picture if args.shadow is None else synth.shadowed(picture, args.shadow, rng)
            picture = picture if args.blur is None else blurred(picture, args.blur)
            pictures.append(picture if args.noise is None else synth.low_light(picture, rng, args.noise))
        start = time.perf_counter()
        misread = [(int(y[i]), a) for i, a in zip(chosen, answers(recognizer, pictures, args.read)) if a != y[i]]
        wrong += len(misread)
        print(f"{family}: {n - len(misread)}/{n} ({(time.perf_counter() - start) / n * 1000:.0f} ms)", misread,
              flush=True)
    print("total wrong", wrong)


if __name__ == "__main__":
    main()
