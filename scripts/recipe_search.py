"""Recipe search for issue 14: train one setting on 50,000 MNIST training images, score it on the other 10,000.

Never touches the test set. Every trial appends one JSON line to --log with the setting, the validation
accuracy after each epoch, and the training seconds of each epoch (validation excluded).

    nice -n 10 .venv/bin/python scripts/recipe_search.py --name fast-base --arch fast --epochs 2 --log docs/...

The validation split is stratified, 1/6 of each class, with split seed 0 for every trial, so trials are
compared on the same 10,000 images; --seed changes weights and batch order only.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from keras import layers

from digitrec import data


def s2d(size, block):
    n = size // block
    return [layers.Reshape((n, block, n, block)), layers.Permute((1, 3, 2, 4)), layers.Reshape((n, n, block * block))]


def block(filters, order, kernel=3, pool=True, bn=True):
    conv = layers.Conv2D(filters, kernel, padding="same", use_bias=not bn)
    bn, act = (layers.BatchNormalization(scale=SCALE, momentum=MOMENTUM) if bn else layers.Identity()), layers.Activation("relu")
    if not pool:
        return [conv, bn, act]
    pool_layer = layers.MaxPooling2D(2)
    return [conv, pool_layer, bn, act] if order == "pool-first" else [conv, bn, act, pool_layer]


SCALE, MOMENTUM = True, 0.99


def build(args):
    global SCALE, MOMENTUM
    SCALE, MOMENTUM = bool(args.bn_scale), args.bn_momentum
    widths = [int(w) for w in args.widths.split(",")]
    stack = [keras.Input((28, 28, 1))]
    if args.shift_layer:
        factor = args.shift_layer / 28
        stack.append(layers.RandomTranslation(factor, factor, fill_mode="constant", interpolation="nearest"))
    size = 28
    if args.crop:
        stack.append(layers.Cropping2D(args.crop))
        size -= 2 * args.crop
    if args.s2d:
        stack += s2d(size, args.block)
    for i, w in enumerate(widths):
        pool = args.pools[i] == "p" if args.pools else True
        stack += block(w, args.order, args.kernel if i == 0 else 3, pool, bool(args.bn))
    if args.gap:
        stack.append(layers.GlobalMaxPooling2D())
    else:
        stack.append(layers.Flatten())
    if args.hidden:
        stack += [layers.Dense(args.hidden, use_bias=False), layers.BatchNormalization(), layers.Activation("relu")]
    if args.dropout:
        stack.append(layers.Dropout(args.dropout))
    stack.append(layers.Dense(10))
    return keras.Sequential(stack)


class BNAdam(keras.optimizers.Adam):
    """Adam whose BatchNorm scale and offset learn `bn_lr` times faster."""

    def __init__(self, bn_lr=1.0, **kwargs):
        super().__init__(**kwargs)
        self.bn_lr = bn_lr

    def update_step(self, gradient, variable, learning_rate):
        if self.bn_lr != 1.0 and variable.name.split("/")[-1].split(":")[0] in ("gamma", "beta"):
            learning_rate = learning_rate * self.bn_lr
        super().update_step(gradient, variable, learning_rate)

    final = False

    def finalize_variable_values(self, var_list):
        if self.final:  # fit is called once per epoch: swap in the EMA weights after the last one only
            super().finalize_variable_values(var_list)


def schedule(args, steps_per_epoch):
    total = steps_per_epoch * args.epochs
    warm = round(steps_per_epoch * args.warmup)
    if args.sched == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(total - warm, 1), warmup_target=args.lr, warmup_steps=warm,
            alpha=args.final_frac)
    if args.sched == "linear":  # one-cycle (Smith and Topin 2019): linear up, linear down
        return OneCycle(args.lr, warm, total, args.final_frac)
    return args.lr


class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak, warm, total, final_frac):
        self.peak, self.warm, self.total, self.final = peak, warm, total, final_frac

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        up = self.peak * step / max(self.warm, 1)
        down = self.peak * (1 - (1 - self.final) * (step - self.warm) / max(self.total - self.warm, 1))
        return keras.ops.where(step < self.warm, up, down)


def shift(images, rng, pixels):
    """Translate each (28, 28) uint8 image by a random integer offset in [-pixels, pixels], zero fill."""
    n = len(images)
    padded = np.pad(images, ((0, 0), (pixels, pixels), (pixels, pixels)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (28, 28), axis=(1, 2))
    dy, dx = rng.integers(0, 2 * pixels + 1, (2, n))
    return windows[np.arange(n), dy, dx]


def tta_predict(net, images, pixels, batch):
    """Mean logits over the identity and the 4 (or 8) shifts by `pixels`."""
    offsets = [(0, 0)] + [(dy, dx) for dy in (-pixels, 0, pixels) for dx in (-pixels, 0, pixels)
                          if (dy, dx) != (0, 0) and (dy == 0 or dx == 0)]
    total = 0
    for dy, dx in offsets:
        moved = np.roll(images, (dy, dx), axis=(1, 2))
        total = total + net.predict(data.to_float(moved), batch_size=batch, verbose=0)
    return total


def parse(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--log", default="scripts/search-log.jsonl")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--widths", default="32,64")
    p.add_argument("--pools", default="")
    p.add_argument("--order", default="pool-first")
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--crop", type=int, default=2)
    p.add_argument("--s2d", type=int, default=1)
    p.add_argument("--gap", type=int, default=0)
    p.add_argument("--bn", type=int, default=1)
    p.add_argument("--bn-scale", type=int, default=1)
    p.add_argument("--threads", default="", help="intra,inter op threads")
    p.add_argument("--block", type=int, default=2, help="space-to-depth block size")
    p.add_argument("--hidden", type=int, default=0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--warmup", type=float, default=0.4)
    p.add_argument("--sched", default="cosine")
    p.add_argument("--final-frac", type=float, default=0.0)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--smooth", type=float, default=0.0)
    p.add_argument("--ema", type=float, default=0.0)
    p.add_argument("--bn-lr", type=float, default=1.0)
    p.add_argument("--shift", type=int, default=0)
    p.add_argument("--shift-layer", type=int, default=0, help="random translation by up to N px inside the model")
    p.add_argument("--bn-momentum", type=float, default=0.99)
    p.add_argument("--tta", type=int, default=0)
    p.add_argument("--jit", type=int, default=0)
    p.add_argument("--spe", type=int, default=1)
    p.add_argument("--bf16", type=int, default=0)
    p.add_argument("--pipeline", default="numpy", choices=["numpy", "keras"])
    p.add_argument("--train-size", type=int, default=0)
    p.add_argument("--full", type=int, default=0, help="train on all 60,000 (no validation score; timing only)")
    return p.parse_args(argv)


def main():
    args = parse()

    if args.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(args.seed)
    images, labels = data.load_split("train", os.environ.get("DIGITREC_DATA_DIR"))
    train_idx, val_idx = data.stratified_split(labels, 0.0 if args.full else 1 / 6, 0)
    if args.train_size:
        train_idx = train_idx[: args.train_size]
    x_train, y_train = images[train_idx], labels[train_idx]
    x_val, y_val = data.to_float(images[val_idx]), labels[val_idx]

    net = build(args)
    steps = -(-len(train_idx) // args.batch)
    optimizer = BNAdam(bn_lr=args.bn_lr, learning_rate=schedule(args, steps), beta_1=args.beta1, beta_2=args.beta2,
                       use_ema=args.ema > 0, ema_momentum=args.ema or 0.99)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=args.smooth)
    net.compile(optimizer=optimizer, loss=loss, jit_compile=bool(args.jit), steps_per_execution=args.spe)
    rng = np.random.default_rng(args.seed)
    onehot = np.eye(10, dtype="float32")[y_train]
    record = dict(vars(args), params=net.count_params(), n_train=len(train_idx), epoch_seconds=[], epoch_cpu_seconds=[], val_acc=[])
    for epoch in range(args.epochs):
        optimizer.final = epoch == args.epochs - 1
        start, cpu = time.perf_counter(), time.process_time()
        if args.pipeline == "numpy":
            order = rng.permutation(len(y_train))
            xe = x_train[order]
            if args.shift:
                xe = shift(xe, rng, args.shift)
            net.fit(data.to_float(xe), onehot[order], batch_size=args.batch, epochs=epoch + 1, initial_epoch=epoch,
                    shuffle=False, verbose=0)
        else:
            net.fit(data.to_float(x_train), onehot, batch_size=args.batch, epochs=epoch + 1, initial_epoch=epoch,
                    shuffle=True, verbose=0)
        record["epoch_seconds"].append(round(time.perf_counter() - start, 2))
        record["epoch_cpu_seconds"].append(round(time.process_time() - cpu, 2))
        if not args.full:
            logits = net.predict(x_val, batch_size=1000, verbose=0)
            record["val_acc"].append(round(float(np.mean(logits.argmax(1) == y_val)), 5))
        print(args.name, epoch + 1, record["epoch_seconds"][-1], record["epoch_cpu_seconds"][-1], record["val_acc"][-1:] or "", flush=True)
    if args.tta and not args.full:
        logits = tta_predict(net, images[val_idx], args.tta, 1000)
        record["val_acc_tta"] = round(float(np.mean(logits.argmax(1) == y_val)), 5)
    record["train_seconds"] = round(sum(record["epoch_seconds"]), 2)
    record["load"] = os.getloadavg()[0]
    with open(args.log, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps({k: record[k] for k in ("name", "val_acc", "train_seconds", "params")}
                     | ({"tta": record["val_acc_tta"]} if "val_acc_tta" in record else {})))


if __name__ == "__main__":
    main()
