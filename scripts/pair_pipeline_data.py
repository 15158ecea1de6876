"""Wide candidates that `read`'s segmentation cuts from numbers of *training* digits, labelled for the pair classifier.

    DIGITREC_DATA_DIR=../shared/data/mnist python scripts/pair_pipeline_data.py SEED N OUT.npz

Numbers are composed as the read tests compose theirs (`tests/synth.py`'s `numbers`, 3-6 digits, two canvases to
one photo; every other number with one touching pair) from the training part of the bundled model's split (never
validation or test digits). Each number is segmented (`segmentation.Number`, every wide component cut) and every
candidate the pair classifier reads (`segmentation.pair_candidates`, and each whole component) is labelled by its
box: a pair class `10 a + b` where it matches the union of two neighbouring digits' true boxes, `pairs.SINGLE` where
it matches one digit's, -1 (no reading: a wrong segmentation; `KEEP_WRONG` of them kept) otherwise; box IoU at least
`MATCH`. Writes `x`
uint8 `(N, 28, 56)` (`pairs.normalize`, times 255) and `y` int16 `(N,)`.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import synth
from digitrec import data, pairs, segmentation
from digitrec.errors import ImageError

MATCH = 0.75
KEEP_WRONG = 0.2  # share of the wrong segmentations kept (most candidates; `pair_finetune.py` leaves them out)


def union(a, b):
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def label(box, truth, boxes):
    """The candidate's class from its box and the number's true digit boxes."""
    best, cls = MATCH, -1
    for i, b in enumerate(boxes):
        if synth.iou(box, b) >= best:
            best, cls = synth.iou(box, b), pairs.SINGLE
        if i + 1 < len(boxes) and synth.iou(box, union(b, boxes[i + 1])) >= best:
            best, cls = synth.iou(box, union(b, boxes[i + 1])), 10 * int(truth[i]) + int(truth[i + 1])
    return cls


def main():
    seed, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    x, y = data.load_split("train")
    train_idx, _ = data.stratified_split(y, 0.1, seed=0)
    xs, ys, rng = [], [], np.random.default_rng(seed)
    for touching in (False, True):
        for truth, picture, boxes, _ in synth.numbers((x[train_idx], y[train_idx]), seed + touching, n // 2, touching):
            try:
                number = segmentation.Number(picture)
            except ImageError:
                continue
            _, whole = number.candidates()
            split = frozenset(c for c in range(len(number.objects)) if c not in number.specks and number.is_wide(c))
            _, found = number.candidates(split)
            chosen = [found[i] for i in segmentation.pair_candidates(found)] + [w for w in whole if w.components <= split]
            for c in chosen:
                cls = label(c.box, truth, boxes)
                if cls == -1 and rng.random() > KEEP_WRONG:
                    continue
                xs.append(np.round(255 * pairs.normalize(c.image)).astype("uint8"))
                ys.append(cls)
    np.savez_compressed(out, x=np.stack(xs), y=np.array(ys, "int16"))
    y = np.array(ys)
    print(len(y), "candidates:", np.sum(y == -1), "wrong,", np.sum(y == pairs.SINGLE), "single,", np.sum((y >= 0) & (y < 100)), "pairs")


if __name__ == "__main__":
    main()
