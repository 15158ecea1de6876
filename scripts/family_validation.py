"""`predict` (the whole path: every reading, the classifier choosing) on validation digits rendered by the families.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/family_validation.py SEED N [FAMILY ...]

For each family of `renderings.FAMILIES` (or those named), N digits of the validation split (10 %,
`data.stratified_split` seed 0; never test digits), drawn with `(SEED, the family's index)`, each rendered with
`(SEED, the family's index, the digit's index)`. Prints the digits read right, the mean milliseconds of `predict`
and the misreads as (label, answer), "no ink" where normalization found none. Compare code, digit for digit, by
running it with each on `PYTHONPATH`.
"""

import sys
import time

import numpy as np

from digitrec import renderings
from digitrec.data import load_split, stratified_split
from digitrec.errors import ImageError
from digitrec.inference import Recognizer


def main():
    seed, n, families = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:] or list(renderings.FAMILIES)
    x, y = load_split("train")
    _, val = stratified_split(y, 0.1, seed=0)
    recognizer, wrong = Recognizer(), 0
    for family in families:
        f = list(renderings.FAMILIES).index(family)
        chosen = np.random.default_rng([seed, f]).choice(val, n, replace=False)
        pictures = [renderings.render(family, x[i], np.random.default_rng([seed, f, int(i)])) for i in chosen]
        start, answers = time.perf_counter(), []
        for picture in pictures:
            try:
                answers.append(recognizer.predict([picture])[0].label)
            except ImageError:
                answers.append("no ink")
        misread = [(int(y[i]), a) for i, a in zip(chosen, answers) if a != y[i]]
        wrong += len(misread)
        print(f"{family}: {n - len(misread)}/{n} ({(time.perf_counter() - start) / n * 1000:.0f} ms)", misread,
              flush=True)
    print("total wrong", wrong)


if __name__ == "__main__":
    main()
