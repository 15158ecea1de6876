"""Train a registered model on MNIST and write a self-describing run folder.

A run folder holds `model.keras` (the model after the last epoch, or with
early stopping the best epoch's weights; probabilities out), `best.keras`
(the checkpoint of the lowest validation loss, written during training;
without a validation split, a copy of `model.keras`),
`history.csv` (one row per epoch, `keras.callbacks.CSVLogger`),
`config.json` (every setting, for reproduction) and `metrics.json`
(test-set scores, see `digitrec.evaluation`); `digitrec.runs` reads them.

`train` runs four stages: settings (the recipe with the overrides, checked
before anything is read or written), data, callbacks, and writing the run.
"""

import contextlib
import dataclasses
import gc
import math
import numbers
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np

from digitrec import _atomic, data, evaluation, outliers, rejection
from digitrec.augmentation import AugmentedBatches
from digitrec.models import get_recipe, load_model

KEEP = -1  # `patience=KEEP` keeps the recipe's early-stopping patience
BACKUP = "backup"  # the run folder's sub-folder that `resume` continues from


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that saves to a temporary file and renames it into place,

    so a crash mid-save never leaves a half-written checkpoint.
    """

    def __init__(self, filepath, saved=None, **kwargs):
        self.final_path, self.saved = Path(filepath), saved  # saved: the model to save, if not the one fit
        super().__init__(str(self.final_path.with_name(f".{self.final_path.stem}.partial.keras")), **kwargs)

    def set_model(self, model):
        super().set_model(self.saved or model)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final_path)


class EpochCSVLogger(keras.callbacks.CSVLogger):
    """`CSVLogger` whose `epoch` column counts from 1, like the epochs Keras prints, with the columns

    of the first epoch's logs only (Keras's adds empty `val_` columns, "NA", to a run without validation).
    """

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            self.keys = sorted(logs or {})
        super().on_epoch_end(epoch + 1, logs)


def _schedule(recipe, steps_per_epoch):
    if recipe.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(round(steps_per_epoch * (recipe.epochs - recipe.warmup_epochs)), 1),
            warmup_target=recipe.learning_rate, warmup_steps=round(steps_per_epoch * recipe.warmup_epochs),
        )
    return recipe.learning_rate


def _loss(recipe):
    if recipe.label_smoothing:
        return keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
    return recipe.loss


def train(model="fast", epochs=None, batch_size=None, learning_rate=None, val_split=None, patience=KEEP,
          seed=0, data_dir=None, out=None, train_size=None, verbose=None, init=None, augment=None, overwrite=False,
          outlier_exposure=None, freeze=None, resume=False, callbacks=(), split_seed=None):
    """Train the registered model `model` on MNIST and evaluate it on the test set.

    Args:
        model: registry name (see `digitrec.models.REGISTRY`).
        epochs, batch_size: override the recipe's values, integers >= 1
            (None keeps them). `epochs` is the maximum when early stopping.
        learning_rate: override the recipe's (peak) Adam learning rate, a
            finite number > 0 (None keeps it).
        val_split: float in [0, 1), share of the 60,000 training images held
            out (stratified) for validation, early stopping and checkpoints;
            None keeps the recipe's.
        patience: epochs without a lower validation loss before stopping,
            an integer >= 0; `KEEP` (-1) keeps the recipe's value, None or 0
            disables early stopping.
        seed: int; the same seed gives the same split, batches and weights.
        split_seed: int, the seed of the validation split (and of the
            `train_size` subset) alone; None uses `seed`. A second model for
            an ensemble trains with another `seed` on the same split, so
            that the two can be compared and combined on validation images
            that neither saw.
        data_dir: MNIST folder (see `digitrec.data.load_split`).
        out: run folder; default `runs/<timestamp>-<model>`. It must not
            hold files unless `overwrite`.
        train_size: train on a stratified subset of this many images
            (10 to 60,000; for quick experiments), or None for all.
        verbose: Keras verbosity; default a progress bar on a terminal,
            one line per epoch otherwise.
        init: a saved model to start from (fine-tuning) instead of freshly
            initialized weights: a `.keras` file, run folder or "bundled";
            None builds the model.
        augment: train on distorted images (True) or the originals (False);
            None keeps the recipe's choice.
        overwrite: replace a run folder `out` that holds files: the new run
            is written beside it and swapped in when it is complete, so
            the two runs' files never mix.
        outlier_exposure: non-digits added per training digit, a finite
            number >= 0, trained towards the uniform distribution (see
            `digitrec.outliers.expose`); None keeps the recipe's (0). Above
            0, the loss is categorical cross-entropy, and the run also
            calibrates the "not a digit" threshold on its validation split
            (which must not be empty) and writes it beside the model,
            `model.rejection.json` (see `digitrec.rejection`).
        freeze: fine-tune only the layers after the first `freeze` layers
            of `init` (an integer >= 1, less than its number of layers):
            those keep their weights, and every BatchNormalization layer
            runs in inference mode with its statistics fixed, as Keras'
            transfer-learning guide advises for fine-tuning. None trains
            every layer.
        resume: continue the interrupted run in `out` (same settings) from
            the end of its last finished epoch: the weights, optimizer and
            epoch are backed up in `out/backup` after every epoch
            (`keras.callbacks.BackupAndRestore`), which is removed once
            training ends.
        callbacks: more `keras.callbacks.Callback`s for `fit` (`digitrec
            bench` scores the test set after each epoch with one).

    Returns:
        Path of the run folder.

    Raises:
        ModelError: unknown model name, or `init` cannot be loaded.
        DatasetError: MNIST missing or corrupt.
        ValueError: a setting out of range, or `freeze` without `init`
            (before anything is written).
        FileExistsError: `out` holds files and `overwrite` is False.
        FileNotFoundError: `resume` and `out` holds no interrupted run.
    """
    recipe = _settings(model, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                       val_split=val_split, patience=patience, augment=augment, outlier_exposure=outlier_exposure)
    if freeze is not None and not (init and _is_int(freeze) and freeze >= 1):
        raise ValueError(f"freeze must be an integer of at least 1 and needs a model to start from (init), "
                         f"got {freeze!r}")
    out = Path(out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{model}")
    if resume and not (out / BACKUP).is_dir():
        raise FileNotFoundError(f"{out}: no interrupted run to resume (no {BACKUP}/ folder)")
    if not resume:
        _check_out(out, overwrite)
    split_seed = seed if split_seed is None else split_seed
    x, y, train_idx, val_idx = _prepare_data(recipe, data_dir, train_size, split_seed)
    x_train, y_train = x[train_idx], y[train_idx]
    if recipe.outlier_exposure:
        x_train, y_train = outliers.expose(x_train, y_train, recipe.outlier_exposure, seed)
    keras.utils.set_random_seed(seed)
    net = load_model(init) if init else recipe.build()
    fitted = _trainable_part(net, freeze)
    config = {
        "model": model, "epochs": recipe.epochs, "batch_size": recipe.batch_size,
        "learning_rate": recipe.learning_rate, "val_split": recipe.val_split, "patience": recipe.patience,
        "seed": split_seed, "weights_seed": seed, "train_size": train_size, "loss": recipe.loss, "optimizer": "adam",
        "schedule": recipe.schedule, "warmup_epochs": recipe.warmup_epochs, "beta_1": recipe.beta_1,
        "beta_2": recipe.beta_2, "label_smoothing": recipe.label_smoothing, "augment": recipe.augment,
        "renderings": recipe.renderings,
        "init": str(init) if init else None, "freeze": freeze,
        "outlier_exposure": recipe.outlier_exposure, "n_train": len(train_idx), "n_val": len(val_idx),
        "n_outliers": int(np.sum(y_train.max(axis=1) < 1)) if y_train.ndim == 2 else 0, "source": recipe.source,
        "keras": keras.__version__, "backend": keras.backend.backend(),
    }
    with (contextlib.nullcontext(out) if resume else _run_folder(out)) as folder:
        _atomic.write_json(folder / "config.json", config)
        validation = (x[val_idx], y[val_idx]) if len(val_idx) else None
        schedule = _schedule(recipe, -(-len(x_train) // recipe.batch_size))  # outliers included
        fitted.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=recipe.beta_1, beta_2=recipe.beta_2),
                       loss=_loss(recipe), metrics=["accuracy"], steps_per_execution=recipe.steps_per_execution)
        if recipe.augment:
            train_data = {"x": AugmentedBatches(x_train, y_train, recipe.batch_size, seed)}
        else:
            train_data = {"x": x_train, "y": y_train, "batch_size": recipe.batch_size, "shuffle": True}
        # Every object alive now (TensorFlow's and Keras's modules, the model, the data) leaves the cyclic garbage
        # collector's reach (`gc.freeze`): a full collection scans them all otherwise, and one that fell inside
        # training took about 2 s, a third of `fast`'s epoch, in 4 of 6 runs here (fit 5.3-7.5 s; frozen 4.7-4.9 s,
        # 3 of 3). They are unfrozen after `fit`, so that a notebook's models trained before can still be collected.
        gc.freeze()
        start = time.perf_counter()
        try:
            history = fitted.fit(**train_data, epochs=recipe.epochs, validation_data=validation,
                                 callbacks=[*_callbacks(recipe, folder, validation is not None, net), *callbacks],
                                 verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose)
        finally:
            gc.unfreeze()
        _write_run(folder, net, data_dir, train_seconds=time.perf_counter() - start,
                   epochs_run=(fitted._initial_epoch or 0) + len(history.history["loss"]))
        if recipe.outlier_exposure:
            digits = np.round(255 * x[val_idx][..., 0]).astype("uint8")
            rejection.write_threshold(folder / "model.keras", rejection.calibrate_model(net, digits),
                                      val_split=recipe.val_split, seed=split_seed)
    return out


def _trainable_part(net, freeze):
    """The model `fit` trains: `net` itself, or with `freeze`, a model over the same layers whose first
    `freeze` run in inference mode (Dropout off, BatchNormalization statistics fixed) and keep their
    weights, as do the BatchNormalization layers after them; training it trains `net`'s other layers.

    Raises:
        ValueError: `freeze` leaves no layer to train.
    """
    for layer in net.layers:
        layer.trainable = True
    if not freeze:
        return net
    if freeze >= len(net.layers):
        raise ValueError(f"freeze must be less than the model's {len(net.layers)} layers, got {freeze}")
    body = keras.Sequential(net.layers[:freeze], name="frozen")
    body.trainable = False
    inputs = keras.Input(net.input_shape[1:])
    x = body(inputs, training=False)
    for layer in net.layers[freeze:]:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
        x = layer(x)
    return keras.Model(inputs, x, name=net.name)


def _settings(model, patience, **overrides):
    """The recipe registered as `model` with the given settings (None keeps the recipe's), checked.

    Raises:
        ModelError: unknown model name.
        ValueError: a setting out of range.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if patience != KEEP:
        overrides["patience"] = patience or None
    recipe = dataclasses.replace(get_recipe(model), **overrides)
    for name, value in (("epochs", recipe.epochs), ("batch size", recipe.batch_size)):
        if not (_is_int(value) and value >= 1):
            raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
    if recipe.patience is not None and not (_is_int(recipe.patience) and recipe.patience >= 0):
        raise ValueError(f"patience must be an integer >= 0 (0 disables early stopping), got {recipe.patience!r}")
    if not (_is_real(recipe.learning_rate) and math.isfinite(recipe.learning_rate) and recipe.learning_rate > 0):
        raise ValueError(f"learning rate must be a finite number > 0, got {recipe.learning_rate!r}")
    if not (_is_real(recipe.val_split) and 0 <= recipe.val_split < 1):
        raise ValueError(f"validation split must be in [0, 1), got {recipe.val_split!r}")
    oe = recipe.outlier_exposure
    if not (_is_real(oe) and math.isfinite(oe) and oe >= 0):
        raise ValueError(f"outlier exposure must be a finite number >= 0, got {oe!r}")
    if oe and not recipe.val_split:
        raise ValueError("outlier exposure needs a validation split to calibrate the rejection threshold on; "
                         "set a validation split above 0")
    return dataclasses.replace(recipe, epochs=int(recipe.epochs), batch_size=int(recipe.batch_size),
                               learning_rate=float(recipe.learning_rate), val_split=float(recipe.val_split),
                               augment=bool(recipe.augment), outlier_exposure=float(oe),
                               loss="categorical_crossentropy" if oe else recipe.loss)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_out(out, overwrite):
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out}: this run folder already holds files; pass --overwrite (overwrite=True) "
                              "to replace it, or choose another --out")


def _prepare_data(recipe, data_dir, train_size, seed):
    """`(x, y, train indices, validation indices)`: float32 images `(N, 28, 28, 1)`, targets for the recipe's loss.

    Raises:
        DatasetError: MNIST missing or corrupt.
        ValueError: `train_size` larger than the training set.
    """
    images, labels = data.load_split("train", data_dir)
    if train_size is not None and not (_is_int(train_size) and 10 <= train_size <= len(labels)):
        raise ValueError(f"train size must be between 10 and {len(labels)}, got {train_size!r}")
    keep = data.training_subset(labels, train_size, seed)
    images, labels = images[keep], labels[keep]
    train_idx, val_idx = data.stratified_split(labels, recipe.val_split, seed)
    if recipe.renderings:  # each digit twice: as written, and rendered then normalized (held out alike)
        from digitrec import renderings

        rendered, _ = renderings.normalized_renderings(images, log=lambda line: print(line, file=sys.stderr))
        n = len(labels)
        images, labels = np.concatenate([images, rendered]), np.concatenate([labels, labels])
        train_idx, val_idx = np.concatenate([train_idx, train_idx + n]), np.concatenate([val_idx, val_idx + n])
    y = keras.utils.to_categorical(labels, 10) if recipe.loss == "categorical_crossentropy" else labels
    return data.to_float(images), y, train_idx, val_idx


def _callbacks(recipe, folder, validation, net):
    """The backup to resume from, `history.csv`, with a validation split the best-epoch checkpoint, and with a
    patience early stopping.

    A fixed schedule without a validation split has no best epoch to keep: `_write_run` copies the final
    model to `best.keras`.
    """
    monitor = "val_loss" if validation else "loss"
    callbacks = [keras.callbacks.BackupAndRestore(str(folder / BACKUP)),
                 EpochCSVLogger(str(folder / "history.csv"), append=(folder / BACKUP).is_dir())]
    if validation:
        callbacks.append(AtomicModelCheckpoint(folder / "best.keras", saved=net, monitor=monitor, save_best_only=True))
    if recipe.patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=recipe.patience,
                                                       restore_best_weights=True))
    return callbacks


@contextlib.contextmanager
def _run_folder(out):
    """Yield the folder to write the run into: `out` itself when it holds no files, else a new
    sibling that replaces `out` once the run is complete (removed if training fails)."""
    if not (out.is_dir() and any(out.iterdir())):
        out.mkdir(parents=True, exist_ok=True)
        yield out
        return
    new = out.with_name(f".{out.name}.partial-{os.getpid()}-{time.time_ns()}")
    new.mkdir()
    try:
        yield new
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    old = out.with_name(f".{out.name}.old-{os.getpid()}-{time.time_ns()}")
    out.rename(old)
    new.rename(out)
    shutil.rmtree(old)


def _write_run(folder, net, data_dir, train_seconds, epochs_run):
    """Save the final model and its test scores (`metrics.json`, with the training time and epochs)."""
    with _atomic.atomic_path(folder / "model.keras", suffix=".keras") as tmp:
        net.save(tmp)
    if not (folder / "best.keras").exists():
        with _atomic.atomic_path(folder / "best.keras", suffix=".keras") as tmp:
            shutil.copyfile(folder / "model.keras", tmp)
    metrics = evaluation.evaluate(net, data_dir)
    metrics.update(train_seconds=round(train_seconds, 1), epochs_run=epochs_run)
    _atomic.write_json(folder / "metrics.json", metrics)
