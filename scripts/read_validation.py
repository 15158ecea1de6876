"""Exact-string accuracy and time of `Recognizer.read` on numbers composed from MNIST *validation* digits.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/read_validation.py SEED [--n 150] [--model M] [-v]

The digits are the validation split of the training set (10 %, `data.stratified_split` seed 0), never
test digits; the numbers are composed as the slow tests compose theirs (`tests/synth.py`'s `numbers`:
3-6 digits, two canvases to one photo), `--n` with separate digits (seed SEED) and `--n` with one touching
pair (seed SEED + 1). Prints the accuracy per rendering and the mean milliseconds a number (the bundled
model as `Recognizer()` loads it, or `--model`, a model file with its rejection threshold beside it); `-v`
lists every misread. Settings were compared with it, old code against new, by running it with each on
`PYTHONPATH`, and models by `--model`.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import synth
from digitrec.data import load_split, stratified_split
from digitrec.errors import ImageError
from digitrec.inference import Recognizer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int)
    parser.add_argument("--n", type=int, default=150, help="numbers of each kind")
    parser.add_argument("--model", help="a model file (default: the bundled model)")
    parser.add_argument("-v", action="store_true", help="list the misreads")
    args = parser.parse_args()
    recognizer = Recognizer(args.model)
    x, y = load_split("train")
    _, val = stratified_split(y, 0.1, seed=0)
    for touching in (False, True):
        right, total, misread, start = {}, {}, [], time.perf_counter()
        for truth, picture, _, kind in synth.numbers((x[val], y[val]), args.seed + touching, args.n, touching):
            try:
                text = recognizer.read(picture).text
            except ImageError:
                text = "(no ink)"
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
