"""Training step time of recipe_search.py's settings, measured back to back (issue 14).

On a shared machine one timing means little; each setting here trains `--steps` batches per `fit` call, the
settings take turns, and the fastest of `--repeats` rounds counts (the least disturbed one).

    nice -n 10 .venv/bin/python scripts/step_time.py "fast --batch 128" "fast --batch 256" "baseline"

Each argument is a label and recipe_search.py flags; the label "baseline" times the registry's baseline model instead.
"""

import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras
import numpy as np
import recipe_search

from digitrec import models


def setting(spec):
    label, *flags = shlex.split(spec)
    parser_args = recipe_search.parse(["--name", label, *flags])
    if label == "baseline":
        net = models.build_model("baseline")
        loss = "categorical_crossentropy"
    else:
        net = recipe_search.build(parser_args)
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=parser_args.smooth)
    net.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=parser_args.beta1), loss=loss,
                steps_per_execution=parser_args.spe)
    return label, net, parser_args.batch


def main():
    steps, repeats = int(os.environ.get("STEPS", 100)), int(os.environ.get("REPEATS", 7))
    rng = np.random.default_rng(0)
    threads = os.environ.get("THREADS")
    if threads:
        import tensorflow as tf

        intra, inter = map(int, threads.split(","))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    runs = [setting(spec) for spec in sys.argv[1:]]
    data = {}
    for label, net, batch in runs:
        n = steps * batch
        x = rng.random((n, 28, 28, 1), dtype=np.float32)
        y = np.eye(10, dtype="float32")[rng.integers(0, 10, n)]
        data[label] = (x, y)
        net.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)  # tracing, allocation
    best = {label: float("inf") for label, _, _ in runs}
    for _ in range(repeats):
        for label, net, batch in runs:
            x, y = data[label]
            start = time.perf_counter()
            net.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
            best[label] = min(best[label], time.perf_counter() - start)
    for label, _net, batch in runs:
        per_image = best[label] / (steps * batch)
        print(f"{label:40s} batch {batch:5d}  {1000 * best[label] / steps:7.2f} ms/step  "
              f"{1e6 * per_image:6.1f} us/image  {60000 * per_image:6.2f} s per 60,000 images")


if __name__ == "__main__":
    main()
