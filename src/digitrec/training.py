"""Train a registered model on MNIST and write a self-describing run folder.

A run folder holds `model.keras` (the final model, probabilities out; with
early stopping, the best epoch's weights),
`best.keras` (the checkpoint, written during training), `history.csv`
(one row per epoch), `config.json` (every setting, for reproduction) and
`metrics.json` (test-set scores, see `digitrec.evaluation`).
"""

import csv
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import keras

from digitrec import _atomic, data, evaluation, outliers, rejection
from digitrec.augmentation import AugmentedBatches
from digitrec.models import get_recipe, load_model


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that saves to a temporary file and renames it into place,

    so a crash mid-save never leaves a half-written checkpoint.
    """

    def __init__(self, filepath, **kwargs):
        self.final_path = Path(filepath)
        super().__init__(str(self.final_path.with_name(f".{self.final_path.stem}.partial.keras")), **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final_path)


def _schedule(recipe, learning_rate, steps_per_epoch, epochs):
    if recipe.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(round(steps_per_epoch * (epochs - recipe.warmup_epochs)), 1),
            warmup_target=learning_rate, warmup_steps=round(steps_per_epoch * recipe.warmup_epochs),
        )
    return learning_rate


def train(model="fast", epochs=None, batch_size=None, learning_rate=None, val_split=None, patience=-1,
          seed=0, data_dir=None, out=None, train_size=None, verbose=None, init=None, augment=None,
          outlier_exposure=None):
    """Train the registered model `model` on MNIST and evaluate it on the test set.

    Args:
        model: registry name (see `digitrec.models.REGISTRY`).
        epochs, batch_size, learning_rate: override the recipe's values
            (None keeps them). `epochs` is the maximum when early stopping.
        val_split: float in [0, 1), share of the 60,000 training images held
            out (stratified) for validation, early stopping and checkpoints;
            None keeps the recipe's (0.1, or 0 for `fast`).
        patience: epochs without a lower validation loss before stopping;
            -1 keeps the recipe's value, None or 0 disables early stopping.
        seed: int; the same seed gives the same split, batches and weights.
        data_dir: MNIST folder (see `digitrec.data.load_split`).
        out: run folder; default `runs/<timestamp>-<model>`.
        train_size: train on a stratified subset of this many images
            (for quick experiments), or None for all.
        verbose: Keras verbosity; default a progress bar on a terminal,
            one line per epoch otherwise.
        init: path of a saved `.keras` model to start from (fine-tuning)
            instead of freshly initialized weights; None builds the model.
        augment: train on distorted images (True) or the originals (False);
            None keeps the recipe's choice.
        outlier_exposure: float >= 0, non-digits added per training digit
            with a uniform target (see `digitrec.outliers`); None keeps the
            recipe's (0). When above 0 the run also calibrates the
            rejection threshold on the validation split and writes it
            beside the model (`model.rejection.json`, see
            `digitrec.rejection`), so it needs a validation split.

    Returns:
        Path of the run folder.

    Raises:
        ModelError: unknown model name.
        DatasetError: MNIST missing or corrupt.
        ValueError: a setting out of range.
    """
    recipe = get_recipe(model)
    epochs = recipe.epochs if epochs is None else int(epochs)
    batch_size = recipe.batch_size if batch_size is None else int(batch_size)
    learning_rate = recipe.learning_rate if learning_rate is None else float(learning_rate)
    patience = recipe.patience if patience == -1 else patience
    augment = recipe.augment if augment is None else bool(augment)
    val_split = recipe.val_split if val_split is None else float(val_split)
    outlier_exposure = recipe.outlier_exposure if outlier_exposure is None else float(outlier_exposure)
    for name, value in (("epochs", epochs), ("batch size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if learning_rate <= 0:
        raise ValueError(f"learning rate must be positive, got {learning_rate}")
    if outlier_exposure < 0 or (outlier_exposure > 0 and not val_split):
        raise ValueError(f"outlier exposure must be >= 0 and needs a validation split to calibrate the rejection "
                         f"threshold, got {outlier_exposure} with validation split {val_split}")
    images, labels = data.load_split("train", data_dir)
    if train_size and not 10 <= train_size <= len(labels):
        raise ValueError(f"train size must be between 10 and {len(labels)}, got {train_size}")
    out = Path(out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{model}")
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    if train_size and train_size < len(labels):
        keep, _ = data.stratified_split(labels, 1 - train_size / len(labels), seed)
        images, labels = images[keep], labels[keep]
    train_idx, val_idx = data.stratified_split(labels, val_split, seed)
    x = data.to_float(images)
    loss = "categorical_crossentropy" if outlier_exposure else recipe.loss  # uniform targets need one-hot labels
    y = keras.utils.to_categorical(labels, 10) if loss == "categorical_crossentropy" else labels
    validation = (x[val_idx], y[val_idx]) if len(val_idx) else None
    monitor = "val_loss" if validation else "loss"

    net = load_model(init) if init else recipe.build()
    steps = -(-len(train_idx) // batch_size)
    net.compile(
        optimizer=keras.optimizers.Adam(_schedule(recipe, learning_rate, steps, epochs)),
        loss=loss,
        metrics=["accuracy"],
    )
    callbacks = [AtomicModelCheckpoint(out / "best.keras", monitor=monitor, save_best_only=True)]
    if patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True))
    x_train, y_train = x[train_idx], y[train_idx]
    if outlier_exposure:
        x_train, y_train = outliers.expose(x_train, y_train, images[train_idx], outlier_exposure, seed)
    if augment:
        train_data = dict(x=AugmentedBatches(x_train, y_train, batch_size, seed))
    else:
        train_data = dict(x=x_train, y=y_train, batch_size=batch_size, shuffle=True)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    config = {
        "model": model, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
        "val_split": val_split, "patience": patience, "seed": seed, "train_size": train_size,
        "loss": loss, "optimizer": "adam", "outlier_exposure": outlier_exposure, "schedule": recipe.schedule,
        "warmup_epochs": recipe.warmup_epochs, "augment": augment,
        "init": str(init) if init else None,
        "n_train": int(len(train_idx)), "n_val": int(len(val_idx)), "n_outliers": int(len(x_train) - len(train_idx)),
        "source": recipe.source,
        "keras": keras.__version__, "backend": keras.backend.backend(),
    }
    _atomic.write_json(out / "config.json", config)

    start = time.perf_counter()
    history = net.fit(**train_data, epochs=epochs, validation_data=validation, callbacks=callbacks, verbose=verbose)
    train_seconds = time.perf_counter() - start

    with _atomic.atomic_path(out / "model.keras", suffix=".keras") as tmp:
        net.save(tmp)
    _write_history(out / "history.csv", history.history)
    if outlier_exposure:
        rejection.write_threshold(out / "model.keras", rejection.calibrate_model(net, images[val_idx]),
                                  val_split=val_split, seed=seed)
    metrics = evaluation.evaluate(net, data_dir)
    metrics.update(train_seconds=round(train_seconds, 1), epochs_run=len(history.history["loss"]))
    _atomic.write_json(out / "metrics.json", metrics)
    return out


def _write_history(path, history):
    buf = io.StringIO()
    writer = csv.writer(buf)
    keys = list(history)
    writer.writerow(["epoch", *keys])
    for i in range(len(history[keys[0]])):
        writer.writerow([i + 1, *(f"{float(history[k][i]):.6g}" for k in keys)])
    _atomic.write_text(path, buf.getvalue())


def read_metrics(run_dir):
    """Load `metrics.json` from a run folder (dict)."""
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def read_config(run_dir):
    """Load `config.json` from a run folder (dict)."""
    return json.loads((Path(run_dir) / "config.json").read_text())
