"""MNIST training digits' stroke width over their height, the source of `renderings.CANVAS_MAX_PEN`.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/stroke_ratio.py [N]

For the first N training digits (20,000 by default), the ink (levels over 127): stroke width as ink area over
skeleton length (`skimage.morphology.skeletonize`), over the ink's height in rows. Prints the median and the 90th,
99th and 99.9th percentiles.
"""

import sys

import numpy as np
from skimage.morphology import skeletonize

from digitrec import data


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    ratios = []
    for image in data.load_split("train")[0][:n]:
        ink = image > 127
        rows = np.flatnonzero(ink.any(axis=1))
        ratios.append(ink.sum() / max(skeletonize(ink).sum(), 1) / (rows[-1] - rows[0] + 1))
    print(dict(zip(("median", "90th", "99th", "99.9th"), np.percentile(ratios, [50, 90, 99, 99.9]).round(3).tolist())))


if __name__ == "__main__":
    main()
