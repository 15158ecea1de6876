"""Exact-string accuracy and time of `Recognizer.read` on numbers composed from MNIST *validation* digits.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/read_validation.py SEED [--n 150] [--model M]
        [--pairs P|none] [--pair-penalty X] [--non-digits K] [--pen-letters K] [--on-a-line K] [--two-digits K]
        [--in-boxes K] [--in-combs K] [--turn] [-v]

The digits are the validation split of the training set (10 %, `data.stratified_split` seed 0), never
test digits; the numbers are composed as the slow tests compose theirs (`tests/synth.py`'s `numbers`:
3-6 digits, two canvases to one photo), `--n` with separate digits (seed SEED) and `--n` with one touching
pair (seed SEED + 1). Prints the accuracy per rendering and the mean milliseconds a number (the bundled
model as `Recognizer()` loads it, or `--model`, a model file with its rejection threshold beside it; the
bundled two-digit classifier, or `--pairs`, or none, with `segmentation.PAIR_PENALTY` or `--pair-penalty`);
`--non-digits K` also reads K validation non-digits
(letters in held-out fonts, scribbles, shapes; seed SEED, never the tests' seeds) and prints the share read
as nothing but "?"; `--pen-letters K`, K letters in held-out fonts as written with a pen
(`outliers.pen_letters`, seed SEED) and the share read as nothing but "?"; `--on-a-line K`, K numbers on a line a
little wider than they are (`synth.number_on_a_line`, seed SEED: a printed line on a canvas, and a line under a
photographed number) and the shares read exactly;
`--two-digits K`, K two-digit numbers whose digits touch (one connected mark; `synth.numbers`, two canvases to one
photo, seed SEED + 2) and how many are read exactly; `--in-boxes K`, K numbers written in a row of printed boxes
(`synth.number_in_boxes`, seed SEED: scans and photos in turn, the digits clear of the boxes in one pair of them
and touching them in the next) and how many of each are read exactly; `--in-combs K`, K numbers in a comb field
open at the top (the same, clear of the sides, with `ticks`: sides rising 0.2-0.5 of the cells' height from the
line under them in one pair, full-height sides without a top line in the next); `--turn` turns the pictures of
`--on-a-line`, `--in-boxes` and `--in-combs` 1-3 degrees either way (as a form is scanned or photographed askew);
`-v` lists every misread, and what the non-digits and pen letters not refused were read as. Settings were compared
with it, old code against new, by running it with each on `PYTHONPATH`, and models by `--model`.
"""

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import synth
from digitrec import outliers, segmentation
from digitrec.data import load_split, stratified_split
from digitrec.errors import ImageError
from digitrec.inference import Recognizer


def read_text(recognizer, picture):
    """`recognizer.read(picture).text`, or "(no ink)" where it finds none."""
    try:
        return recognizer.read(picture).text
    except ImageError:
        return "(no ink)"


def report_refused(name, recognizer, pictures, verbose):
    """Print the share of `pictures` (float, light ink on black; read drawn dark on white) that `read` refuses
    (`synth.read_refused`), and with `verbose` what it read in the others."""
    pictures = [np.round(255 * (1 - p)).astype(np.uint8) for p in pictures]
    refused = [synth.read_refused(recognizer, p) for p in pictures]
    print(f"{name} read as nothing but '?' (or no ink):", np.mean(refused), flush=True)
    for picture in [p for p, r in zip(pictures, refused) if not r] if verbose else []:
        print(f"   read {read_text(recognizer, picture)}")


def fields_read(recognizer, digits, rng, n, second, turn, verbose=False):
    """How many of `n` numbers written in a form's field (`synth.number_in_boxes`) are read exactly, by kind (a
    Counter of `(scan or photo, second kind)`): scans and photos in turn, and the two kinds of `second` in the next
    pair each, `("clear", "touching")` (printed boxes; the digits touching them) or `("ticks", "sides")` (comb
    fields open at the top: sides 0.2-0.5 of the cells' height, or full-height sides). With `verbose`, prints each
    misread: its index, kind, the number and what was read."""
    x, y, val = digits
    right = collections.Counter()
    for i in range(n):
        idx = rng.choice(val, int(rng.integers(3, 7)), replace=False)
        kind = ("scan", "photo")[i % 2], second[i // 2 % 2]
        ticks = rng.uniform(0.2, 0.5) if kind[1] == "ticks" else 1.0 if kind[1] == "sides" else None
        picture, _ = synth.number_in_boxes(x[idx], rng, touching=kind[1] == "touching", photo=kind[0] == "photo",
                                           ticks=ticks)
        picture = synth.askew(picture, rng) if turn else picture
        text, truth = read_text(recognizer, picture), "".join(map(str, y[idx]))
        right[kind] += text == truth
        if verbose and text != truth:
            print(f"   {i} {' '.join(kind)}: {truth} read {text}")
    return right


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int)
    parser.add_argument("--n", type=int, default=150, help="numbers of each kind")
    parser.add_argument("--model", help="a model file (default: the bundled model)")
    parser.add_argument("--pairs", default="bundled", help="the two-digit classifier, or none")
    parser.add_argument("--pair-penalty", type=float, help="instead of segmentation.PAIR_PENALTY")
    parser.add_argument("--non-digits", type=int, default=0, help="non-digits to read too")
    parser.add_argument("--pen-letters", type=int, default=0, help="letters written with a pen to read too")
    parser.add_argument("--on-a-line", type=int, default=0, help="numbers on a line (canvas and photo) to read too")
    parser.add_argument("--two-digits", type=int, default=0, help="two-digit touching numbers to read too")
    parser.add_argument("--in-boxes", type=int, default=0, help="numbers in a row of printed boxes to read too")
    parser.add_argument("--in-combs", type=int, default=0, help="numbers in a comb field open at the top to read too")
    parser.add_argument("--turn", action="store_true", help="turn the on-a-line and in-boxes pictures 1-3 degrees")
    parser.add_argument("-v", action="store_true", help="list the misreads")
    args = parser.parse_args()
    if args.pair_penalty is not None:
        segmentation.PAIR_PENALTY = args.pair_penalty
    recognizer = Recognizer(args.model, pairs=None if args.pairs == "none" else args.pairs)
    if args.non_digits:
        rng, families = np.random.default_rng(args.seed), ["letters", "scribbles", "shapes"]
        report_refused("non-digits", recognizer, [outliers.render(families[i % 3], rng, fonts=outliers.held_out_fonts())
                                                  for i in range(args.non_digits)], args.v)
    if args.pen_letters:
        rng = np.random.default_rng(args.seed)
        report_refused("pen letters", recognizer, [outliers.pen_letters(rng, outliers.held_out_fonts())
                                                   for _ in range(args.pen_letters)], args.v)
    x, y = load_split("train")
    _, val = stratified_split(y, 0.1, seed=0)
    for photo in (False, True) if args.on_a_line else ():
        rng, right = np.random.default_rng(args.seed), 0
        for _ in range(args.on_a_line):
            idx = rng.choice(val, int(rng.integers(3, 7)), replace=False)
            picture = synth.number_on_a_line(x[idx], rng, photo=photo)
            picture = synth.askew(picture, rng) if args.turn else picture
            right += read_text(recognizer, picture) == "".join(map(str, y[idx]))
        print("on a line", "(photo)" if photo else "(canvas)", round(right / args.on_a_line, 3), flush=True)
    for name, n, second in (("in boxes", args.in_boxes, ("clear", "touching")), ("in combs", args.in_combs,
                                                                              ("ticks", "sides"))):
        if n:
            right = fields_read(recognizer, (x, y, val), np.random.default_rng(args.seed), n, second, args.turn, args.v)
            print(name, {" ".join(k): v for k, v in sorted(right.items())}, "of", n, flush=True)
    if args.two_digits:
        right, total = collections.Counter(), collections.Counter()
        for truth, picture, _, kind in synth.numbers((x[val], y[val]), args.seed + 2, args.two_digits, True, (2, 2)):
            right[kind] += read_text(recognizer, picture) == truth
            total[kind] += 1
        print("two digits touching", {k: f"{right[k]} of {total[k]}" for k in total}, flush=True)
    for touching in (False, True) if args.n else ():  # --n 0: the other measures only
        right, total, misread, start = {}, {}, [], time.perf_counter()
        for truth, picture, _, kind in synth.numbers((x[val], y[val]), args.seed + touching, args.n, touching):
            text = read_text(recognizer, picture)
            total[kind] = total.get(kind, 0) + 1
            right[kind] = right.get(kind, 0) + (text == truth)
            misread += [(kind, truth, text)] if text != truth else []
        ms = (time.perf_counter() - start) / args.n * 1000
        print("touching" if touching else "separate", {k: round(right[k] / total[k], 3) for k in total},
              f"{ms:.0f} ms/number", flush=True)
        for kind, truth, text in misread if args.v else []:
            print(f"   {kind} {truth} read {text}")


if __name__ == "__main__":
    main()
