"""`predict` on validation digits photographed with a distortion, and without it.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/distortion_validation.py KIND
        [--n 300] [--seed 0]

`band`: `tests/synth.py`'s `thin_pen_crossed_by_a_hard_band` (a 3 px pen beside or across a shadow band 50 px
wide, 30 % darker, with 1 px edges); `motion`: its `motion_blurred` (a 4 px pen, blurred 12 px along a line);
`answer-line` and `underline`: its `digit_on_a_line` (a form's printed line 1-2 px thick under a 3-6 px pen digit,
reaching 5-60 px beyond it, or a line the writer drew under it with the same pen); `skip`: its `skipping_pen`
(a 3-6 px ballpoint that skips, 10-25 % of the ink left out in gaps across the strokes); `marker-band`: its
`marker_running_into_a_band` (a 22 px marker digit whose lowest stroke ends in a soft shadow band 80 px wide).
The digits are `--n` of the validation split (10 %, `data.stratified_split` seed 0), never test digits; the same
pages without the distortion are the baseline. Prints the digits read right each way, how many were read "1"
with it, and on how many no ink was found. Compare code by running it with each on `PYTHONPATH`.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from family_validation import answers

import synth
from digitrec.data import load_split, stratified_split
from digitrec.inference import Recognizer

PAGES = {  # distortion: (the page with it, the page without it)
    "band": (synth.thin_pen_crossed_by_a_hard_band, lambda digit, rng: synth.thin_pen_crossed_by_a_hard_band(
        digit, rng, band=False)),
    "motion": (synth.motion_blurred, lambda digit, rng: synth.motion_blurred(digit, rng, length=1)),
    "answer-line": (synth.digit_on_a_line, lambda digit, rng: synth.digit_on_a_line(digit, rng, line=False)),
    "underline": (lambda digit, rng: synth.digit_on_a_line(digit, rng, printed=False),
                  lambda digit, rng: synth.digit_on_a_line(digit, rng, printed=False, line=False)),
    "skip": (synth.skipping_pen, lambda digit, rng: synth.skipping_pen(digit, rng, skip=False)),
    "marker-band": (synth.marker_running_into_a_band,
                    lambda digit, rng: synth.marker_running_into_a_band(digit, rng, band=False)),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(PAGES))
    parser.add_argument("--n", type=int, default=300, help="validation digits")
    parser.add_argument("--seed", type=int, default=0, help="which digits, and the distortions drawn")
    args = parser.parse_args()
    x, y = load_split("train")
    _, val = stratified_split(y, 0.1, seed=0)
    chosen = np.random.default_rng(args.seed).choice(val, args.n, replace=False)
    recognizer = Recognizer()
    for name, page in zip(("without it", "with it"), PAGES[args.kind][::-1]):
        pictures = [page(x[i], np.random.default_rng([args.seed, i])) for i in chosen]
        labels = np.array(answers(recognizer, pictures), dtype=object)
        print(args.kind, name, f"{np.sum(labels == y[chosen])}/{args.n}",
              f'read "1": {np.sum((labels == 1) & (y[chosen] != 1))}', f'no ink: {np.sum(labels == "no ink")}',
              flush=True)


if __name__ == "__main__":
    main()
