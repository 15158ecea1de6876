"""Where to cut for the bundled model's outlier-exposure stage (issue 12): train only the layers after --cut.

Never touches the test set. The model's first --cut layers are run once, in inference mode, over
the training and validation digits (as written and rendered), over generated non-digits, and over
realworld-dev; the layers after the cut (BatchNormalization fixed, as `digitrec train --freeze` does) are
then trained on those features with outlier exposure (Hendrycks et al. 2019), and after each epoch it prints:
validation accuracy on the digits as written and rendered, the threshold that rejects 0.2 % of the
validation digits, the share of 3,000 held-out non-digits rejected at it (validation seeds; pairs and
fragments of validation digits; letters in unseen fonts), and realworld-dev accuracy and rejection.

The model card's figures came from the bundled model before that stage (stage 2) and, as renderings, the
cache file `digitrec train --model robust` had made on 2026-11-30 from the pipeline as it then stood
(`renderings-741c988805d0-seed1-625d527f4f92.npz`):

    git show e37daaf:src/digitrec/assets/default.keras > stage2.keras
    python scripts/freeze_search.py --model stage2.keras --renderings ~/.cache/digitrec/renderings-...npz \
        --cut 19 --oe-weight 0.5          # then --cut 16 --oe-weight 0.5, --cut 13 --oe-weight 0.5,
                                          # and --cut 13 --outliers 13500 (what the CLI's ratio 0.125 gives)

Non-digits (about 10 minutes on one core) and features are cached in --work. Batches are not seeded: a
re-run differs by a few images (cut 19 rejected 85.2 % and 85.5 % of the non-digits in two runs).
"""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from digitrec import data, outliers, rejection
from digitrec.models import load_model
from digitrec.preprocessing import normalize


def non_digits(path, images, labels, train, val):
    if not path.exists():
        x_oe, _ = outliers.generate(27000, [0, 1], digits=images[train])
        ones = outliers.serif_ones(images[train][labels[train] == 1], 2000, np.random.default_rng([0, 2]))
        xv, fv = outliers.generate(2500, [0, 7], digits=images[val])
        xh, _ = outliers.generate(500, [0, 8], mix={"letters": 1}, fonts=outliers.held_out_fonts())
        np.savez(path, x_oe=x_oe, ones=ones, xv=np.concatenate([xv, xh]), fv=np.concatenate([fv, ["heldout"] * 500]))
    return np.load(path)


def features(path, net, cut, inputs):
    if not path.exists():
        body = keras.Model(net.inputs, net.layers[cut - 1].output)
        as_float = lambda x: x.astype("float32")[..., None] / 255.0 if x.dtype == np.uint8 else x[..., None]  # noqa: E731
        np.savez(path, **{k: body.predict(as_float(v), batch_size=1024, verbose=0) for k, v in inputs().items()})
    return dict(np.load(path))


def head(net, cut, shape):
    x = inputs = keras.Input(shape)
    for layer in net.layers[cut:]:
        copy = layer.__class__.from_config(layer.get_config())
        x = copy(x)
        copy.set_weights(layer.get_weights())
        copy.trainable = not isinstance(copy, keras.layers.BatchNormalization)
    return keras.Model(inputs, x)


def report(model, f, labels, families, dev_labels, tag):
    p = {k: model.predict(f[k], batch_size=2048, verbose=0) for k in ("val", "val_rendered", "val_norm", "ood", "dev")}
    threshold = rejection.calibrate(rejection.digit_score(p["val_norm"]), 0.002)["threshold"]
    refused = rejection.digit_score(p["ood"]) < threshold
    result = {"acc_raw": np.mean(p["val"].argmax(1) == labels), "acc_rendered": np.mean(p["val_rendered"].argmax(1) == labels),
              "threshold": threshold, **{f"rejected_{k}": refused[families == k].mean() for k in np.unique(families)},
              "rejected_all": refused.mean(), "dev_acc": np.mean(p["dev"].argmax(1) == dev_labels),
              "dev_rejected": np.mean(rejection.digit_score(p["dev"]) < threshold)}
    print(tag, json.dumps({k: round(float(v), 4) for k, v in result.items()}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the model to start from (.keras)")
    ap.add_argument("--renderings", required=True, help="a normalized-renderings .npz of the 60,000 training digits")
    ap.add_argument("--dev", default="../shared/data/realworld-dev/optdigits_dev.npz")
    ap.add_argument("--cut", type=int, default=13, help="train the layers from this index on")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--oe-weight", type=float, default=1.0, help="loss weight of each non-digit")
    ap.add_argument("--outliers", type=int, default=27000, help="use the first N of the 27,000 non-digits")
    ap.add_argument("--work", default="runs/freeze-search")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    images, labels = data.load_split("train")
    train, val = data.stratified_split(labels, 0.1, 0)
    with np.load(args.renderings) as r:
        rendered = r[r.files[0]]
    with np.load(args.dev) as d:
        dev_images, dev_labels = d["images"], d["labels"]
    ood = non_digits(work / "non-digits.npz", images, labels, train, val)
    net = load_model(args.model)
    f = features(work / f"features-{args.cut}.npz", net, args.cut, lambda: {
        "train": np.concatenate([images[train], rendered[train]]), "val": images[val], "val_rendered": rendered[val],
        "val_norm": np.stack([normalize(i) for i in images[val]]), "ood_train": ood["x_oe"], "ones": ood["ones"],
        "ood": ood["xv"], "dev": np.stack([normalize(i) for i in dev_images])})
    model = head(net, args.cut, f["train"].shape[1:])
    report(model, f, labels[val], ood["fv"], dev_labels, "before")
    f["ood_train"] = f["ood_train"][: args.outliers]
    x = np.concatenate([f["train"], f["ones"], f["ood_train"]])
    y = np.concatenate([keras.utils.to_categorical(np.concatenate([labels[train]] * 2), 10),
                        keras.utils.to_categorical(np.ones(len(f["ones"])), 10),
                        np.full((len(f["ood_train"]), 10), 0.1, "float32")])
    weight = np.concatenate([np.ones(len(x) - len(f["ood_train"])), np.full(len(f["ood_train"]), args.oe_weight)])
    steps = args.epochs * -(-len(x) // 128)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(args.learning_rate, steps)),
                  "categorical_crossentropy")
    for epoch in range(args.epochs):
        model.fit(x, y, sample_weight=weight, batch_size=128, epochs=1, shuffle=True, verbose=0)
        report(model, f, labels[val], ood["fv"], dev_labels, f"cut {args.cut}, epoch {epoch + 1}/{args.epochs}")


if __name__ == "__main__":
    main()
