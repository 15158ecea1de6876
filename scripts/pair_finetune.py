"""Fine-tune the pair classifier on the candidates `read` cuts from numbers (`scripts/pair_pipeline_data.py`).

    DIGITREC_DATA_DIR=../shared/data/mnist python scripts/pair_finetune.py BASE.keras OUT.keras DATA.npz [DATA.npz ...]

Starts from BASE, the pair classifier as `scripts/pair_classifier.py` trains it; one epoch over `CANDIDATES` of the rightly segmented candidates (pairs and
single digits; the wrong segmentations are left out) mixed with half as many of `pairs.dataset`'s images (training
digits, seed 5, with its non-digits), Adam with a cosine decay from `LEARNING_RATE`, batch `pairs.BATCH_SIZE`; then
`pairs.calibrate` writes its threshold. About 6 minutes here.
"""

import sys

import keras
import numpy as np

from digitrec import _atomic, data, pairs

LEARNING_RATE, EPOCHS = 5e-4, 1
CANDIDATES = 80_000  # at most this many candidates (a random choice), and half as many of `pairs.dataset`'s


def main():
    base, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    parts = [np.load(f) for f in files]
    xp = np.concatenate([p["x"] for p in parts]).astype("float32")[..., None] / 255
    cls = np.concatenate([p["y"] for p in parts]).astype("int64")
    xp, cls = xp[cls >= 0], cls[cls >= 0]  # measured with the wrong segmentations as outliers too: worse (README)
    keep = np.random.default_rng(0).permutation(len(cls))[:CANDIDATES]
    xp, cls = xp[keep], cls[keep]
    yp = keras.utils.to_categorical(cls, pairs.SINGLE + 1).astype("float32")
    x, y = data.load_split("train")
    train_idx, val_idx = data.stratified_split(y, 0.1, 0)
    xs, ys = pairs.dataset(x[train_idx], y[train_idx], len(xp) // 2, 5)
    xv, yv = pairs.dataset(x[val_idx], y[val_idx], 6000, 2, outlier_share=0.0)
    xt, yt = np.concatenate([xp, xs]), np.concatenate([yp, ys])
    keras.utils.set_random_seed(0)
    net = keras.saving.load_model(base)
    steps = EPOCHS * -(-len(xt) // pairs.BATCH_SIZE)
    net.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)),
                "categorical_crossentropy", metrics=["accuracy"])
    print("validation pairs before:", net.evaluate(xv, yv, verbose=0)[1], flush=True)
    net.fit(xt, yt, batch_size=pairs.BATCH_SIZE, epochs=EPOCHS, shuffle=True, validation_data=(xv, yv), verbose=2)
    saved = pairs.build()
    saved.set_weights(net.get_weights())
    with _atomic.atomic_path(out, suffix=".keras") as tmp:
        saved.save(tmp)
    print(pairs.calibrate(out))


if __name__ == "__main__":
    main()
