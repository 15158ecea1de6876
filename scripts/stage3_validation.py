"""Compare models on the validation split only: what chose the bundled model's outlier-exposure stage.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/stage3_validation.py MODEL [MODEL ...]

For each model file (`.keras`, `.onnx` or `.tflite`): the validation digits read wrong (the 5,999 digits
of the bundled model's validation split, 10 % with seed 0, as written and as their seed-1 renderings through
`normalize`, from the renderings cache that `digitrec train --model robust` fills), per rendered family;
the threshold that refuses 0.3 % of the clean validation digits (`rejection.calibrate`), and at it the
share of rendered validation digits refused and of validation non-digits rejected (300 of each kind,
`rejection.measurement_non_digits`, the ones `digitrec calibrate` measures; no ink counts as rejected). One JSON
line a model. Neither the MNIST test set nor realworld-dev is read.
"""

import contextlib
import json
import sys

import numpy as np

from digitrec import data, rejection, renderings, runtimes
from digitrec.errors import ImageError
from digitrec.preprocessing import normalize


def probabilities(runtime, images):
    """`(N, 10)` of float32 images `(N, 28, 28)` in [0, 1] (uint8 ones are divided by 255)."""
    x = (images / 255 if images.dtype == np.uint8 else images).astype("float32")[..., None]
    return np.concatenate([runtime.predict(x[i : i + 1000]) for i in range(0, len(x), 1000)])


def non_digits():
    """`{kind: (normalized float32 images, how many had no ink)}` of the validation non-digits."""
    out = {}
    for kind, drawn in rejection.measurement_non_digits().items():
        found = []
        for picture in drawn:
            with contextlib.suppress(ImageError):
                found.append(normalize(picture))
        out[kind] = (np.stack(found), len(drawn) - len(found))
    return out


def main():
    x, y = data.load_split("train")
    _, val = data.stratified_split(y, 0.1, 0)
    rendered, families = renderings.normalized_renderings(x)
    clean, rendered, families, labels = x[val], rendered[val], families[val], y[val]
    names, others = list(renderings.FAMILIES), non_digits()
    for path in sys.argv[1:]:
        runtime = runtimes.load(path)
        pc, pr = probabilities(runtime, clean), probabilities(runtime, rendered)
        wrong = pr.argmax(1) != labels
        threshold = rejection.calibrate(rejection.digit_score(pc))["threshold"]
        rejected = {kind: (np.sum(rejection.digit_score(probabilities(runtime, images)) < threshold) + missing)
                    / (len(images) + missing) for kind, (images, missing) in others.items()}
        print(json.dumps({
            "model": path, "wrong_clean": int(np.sum(pc.argmax(1) != labels)), "wrong_rendered": int(wrong.sum()),
            "wrong_by_family": {names[f]: f"{int(wrong[families == f].sum())}/{int(np.sum(families == f))}"
                                for f in np.unique(families)},
            "threshold": round(threshold, 4),
            "rendered_refused": round(float(np.mean(rejection.digit_score(pr) < threshold)), 4),
            "non_digits_rejected": {k: round(float(v), 4) for k, v in rejected.items()},
            "non_digits_mean": round(float(np.mean(list(rejected.values()))), 4)}), flush=True)


if __name__ == "__main__":
    main()
