"""What `predict` or `read` answers for phone photos of blank paper or of an empty form field: no digit on the page.

    .venv/bin/python scripts/blank_photos.py SEED N [--haze C] [--shadow D] [--read] [--field]

N pages 300-800 px a side, drawn with SEED: `renderings.photo` of an empty cover (paper tint, a lighting gradient,
grain, JPEG 60-85), 7 in 10 with a shadow band or half-plane across the middle (penumbra 3-10 % of the shorter
side). Prints how many `predict` finds no ink in, refuses ("not a digit") and reads as a digit, with the digits
read. `--haze C` leaves the share C of the contrast first (`family_validation.py --haze`); `--shadow D`
then casts a hard-edged shadow D dark (`synth.shadowed`, drawn with SEED). `--read` asks `read`
instead: refused means nothing but "?" read, and "read as digits" counts texts of two digits or more. `--field`
puts an empty form field on every page, as a crop of one field of a photographed form: in turn a printed box
(its sides 80-96 % of the page's) and a ruled line across the page, 2-8 px thick, at 40-90 % darkness.
"""

import argparse
import collections
import io
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from family_validation import hazy

import synth
from digitrec import renderings
from digitrec.errors import ImageError
from digitrec.inference import Recognizer


def empty_field(shape, rng, box):
    """float32 `shape` cover of an empty form field (`--field`): a printed box filling most of the page, or a
    ruled line across the page in its lower half."""
    h, w = shape
    cover, thick, level = np.zeros(shape, np.float32), int(rng.integers(2, 9)), float(rng.uniform(0.4, 0.9))
    if box:
        bh, bw = int(rng.uniform(0.8, 0.96) * h), int(rng.uniform(0.8, 0.96) * w)
        top, left = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
        cv2.rectangle(cover, (left, top), (left + bw, top + bh), level, thick)
    else:
        y = int(rng.uniform(0.5, 0.9) * h)
        cv2.line(cover, (0, y), (w, y), level, thick)
    return cover


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int)
    parser.add_argument("n", type=int)
    parser.add_argument("--haze", type=float, help="the share of every page's contrast to leave")
    parser.add_argument("--shadow", type=float, help="the share of the light a hard-edged shadow takes")
    parser.add_argument("--read", action="store_true", help="read each page as a number")
    parser.add_argument("--field", action="store_true", help="an empty printed box or ruled line on every page")
    args = parser.parse_args()
    recognizer, rng, outcome, digits = Recognizer(), np.random.default_rng(args.seed), collections.Counter(), []
    for i in range(args.n):
        h, w = (int(v) for v in rng.integers(300, 801, size=2))
        cover = empty_field((h, w), rng, box=i % 2 == 0) if args.field else np.zeros((h, w), np.float32)
        page = renderings.photo(cover, rng, 0.5, int(rng.integers(60, 86)), shadow=bool(rng.random() < 0.7))
        page = np.asarray(Image.open(io.BytesIO(page))) if args.haze is None else hazy(page, args.haze)
        page = page if args.shadow is None else synth.shadowed(page, args.shadow, rng)
        try:
            label = recognizer.read(page).text if args.read else recognizer.predict([page])[0].label
        except ImageError:
            outcome["no ink"] += 1
            continue
        text = "" if label is None else str(label).replace("?", "")
        outcome["refused" if not text else "read as a digit" if len(text) == 1 else "read as digits"] += 1
        digits += [label] if text else []
    print(dict(outcome), "read:", dict(collections.Counter(digits)))


if __name__ == "__main__":
    main()
