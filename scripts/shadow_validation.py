"""`predict` on validation digits in a thin pen beside or across a hard-edged shadow band, and without it.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/shadow_validation.py [--n 300] [--seed 0]

The pages are `tests/synth.py`'s `thin_pen_crossed_by_a_hard_band` (a 3 px pen, a band 50 px wide, 30 % darker,
1 px edges) of `--n` digits of the validation split (10 %, `data.stratified_split` seed 0), never test digits;
the same pages without the band are the baseline. Prints the digits read right each way and how many were read
"1" with the band. Compare code by running it with each on `PYTHONPATH`.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import synth
from digitrec.data import load_split, stratified_split
from digitrec.inference import Recognizer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="validation digits")
    parser.add_argument("--seed", type=int, default=0, help="which digits, and the bands' angles")
    args = parser.parse_args()
    x, y = load_split("train")
    _, val = stratified_split(y, 0.1, seed=0)
    chosen = np.random.default_rng(args.seed).choice(val, args.n, replace=False)
    recognizer = Recognizer()
    for band in (False, True):
        pages = [synth.thin_pen_crossed_by_a_hard_band(x[i], np.random.default_rng([args.seed, i]), band) for i in chosen]
        labels = np.array([p.label for p in recognizer.predict(pages)], dtype=object)
        print("with the band" if band else "without it", f"{np.sum(labels == y[chosen])}/{args.n}",
              f'read "1": {np.sum((labels == 1) & (y[chosen] != 1))}', flush=True)


if __name__ == "__main__":
    main()
