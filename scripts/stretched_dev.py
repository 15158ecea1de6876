"""`predict` on real digits scanned the way USPS and Semeion scan theirs: cropped to the ink and stretched to 16x16.

    DIGITREC_DEV_DIR=../shared/data/realworld-dev .venv/bin/python scripts/stretched_dev.py [--npz NPZ]
        [--non-digits K] [--seed S] [--zoom K] [--resample nearest|linear|cubic] [--sklearn]

Each digit of realworld-dev (`optdigits_dev.npz`, or NPZ: an `images` array, light ink on black, and `labels`)
is cropped to its ink box and resized to 16x16 by area averaging (grey), and that thresholded at half
(binary). Prints, for each, the share read right, refused ("not a digit") and with no ink found. A sanity
check on real handwriting that issue 10 measured from outside (16x16 scans stretched to fill the frame),
never a set to choose settings on. `--non-digits K` does the same with K validation non-digits (letters in
held-out fonts, scribbles and shapes in turn, seed S, never the tests'; dark on white) and prints how many
are refused. `--zoom K` enlarges every 16x16 picture K times (`family_validation.zoomed`) before it is read.
`--sklearn` reads scikit-learn's bundled 8x8 digits instead (`sklearn.datasets.load_digits`: 1,797 optdigits
digits of 43 writers, each pixel the count of ink in a 4x4 block of the 32x32 bitmap, 0-16; taken as 17 grey
levels, light on black, zoomed as above): real handwriting at half the resolution of any robustness family.
"""

import argparse
import os

import cv2
import numpy as np
from family_validation import RESAMPLE, answers, zoomed

from digitrec import outliers
from digitrec.inference import Recognizer
from digitrec.masks import bbox
from digitrec.preprocessing import _centred


def ink_box(image):
    """`image` (uint8, light ink on 0) cropped to its ink's bounding box."""
    r0, r1, c0, c1 = bbox(image > 0)
    return image[r0:r1, c0:c1]


def stretched(image):
    """The ink box of `image` (uint8, light ink on 0) resized to 16x16 by area averaging."""
    return cv2.resize(ink_box(image), (16, 16), interpolation=cv2.INTER_AREA)


def both(grey):
    """`(name, images)` for the grey 16x16 images and their binarized copies."""
    return ("grey", grey), ("binary", [np.where(g >= 128, 255, 0).astype(np.uint8) for g in grey])


def report_8x8(recognizer, zoom, resample):
    """Print the share of scikit-learn's 8x8 digits read right, refused and with no ink, and the confusion matrix
    (rows: true labels 0-9, columns: the label read, then refused, then no ink); then the share right without
    the rejection threshold, and that of a plain MNIST crop-and-centre (each image's ink box fitted into 20 px,
    bicubic, and centred by mass: `preprocessing._centred`) read by the same model."""
    from sklearn.datasets import load_digits
    from sklearn.metrics import confusion_matrix

    digits = load_digits()
    images = [zoomed(image, zoom, resample) for image in np.round(digits.images * (255 / 16)).astype(np.uint8)]
    found = answers(recognizer, images)
    codes = [10 if a is None else 11 if a == "no ink" else a for a in found]
    print(f"8x8 scikit-learn digits: {np.mean(np.equal(codes, digits.target)):.2%} right, {codes.count(10)} refused,"
          f" {codes.count(11)} no ink, of {len(codes)}")
    print(confusion_matrix(digits.target, codes, labels=list(range(12)))[:10])
    unthresholded = answers(Recognizer(recognizer.runtime, min_digit_score=0.0), images)
    plain = recognizer.classify(np.stack([_centred(ink_box(image) / 255) for image in images])).argmax(axis=1)
    print(f"without the threshold: {np.mean(np.equal(unthresholded, digits.target)):.2%} right;"
          f" plain crop-and-centre: {np.mean(plain == digits.target):.2%} right")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", default=os.path.join(os.environ.get("DIGITREC_DEV_DIR", ""), "optdigits_dev.npz"))
    parser.add_argument("--non-digits", type=int, default=0)
    parser.add_argument("--seed", type=int, default=77)
    parser.add_argument("--zoom", type=int, default=1)
    parser.add_argument("--resample", choices=RESAMPLE, default="nearest")
    parser.add_argument("--sklearn", action="store_true", help="read scikit-learn's 8x8 digits")
    args = parser.parse_args()
    recognizer = Recognizer()
    if args.sklearn:
        return report_8x8(recognizer, args.zoom, args.resample)
    data = np.load(args.npz)
    for name, images in both([stretched(image) for image in data["images"]]):
        found = answers(recognizer, [zoomed(image, args.zoom, args.resample) for image in images])
        right = np.mean([a == label for a, label in zip(found, data["labels"])])
        print(f"16x16 {name}: {right:.2%} right, {found.count(None)} refused, {found.count('no ink')} no ink,"
              f" of {len(found)}", flush=True)
    rng, families = np.random.default_rng(args.seed), ["letters", "scribbles", "shapes"]
    pictures = [outliers.render(families[k % 3], rng, fonts=outliers.held_out_fonts()) for k in range(args.non_digits)]
    light = [np.round(255 * p).astype(np.uint8) for p in pictures if (p > 0.3).any()]
    for name, images in both([stretched(np.where(p > 0.3 * 255, p, 0)) for p in light]) if light else ():
        found = answers(recognizer, [zoomed(255 - image, args.zoom, args.resample) for image in images])
        print(f"16x16 non-digits, {name}: {found.count(None)} refused, {found.count('no ink')} no ink,"
              f" of {len(found)}", flush=True)


if __name__ == "__main__":
    main()
