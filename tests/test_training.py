"""digitrec.training and digitrec.evaluation: the recipes, real (tiny) training runs, scores.

Every training here is real and small: 600 images for the wiring and
reproducibility checks, 6,000 images for one epoch for the integration check.
"""

import csv
import dataclasses
import fnmatch
import gc
import json
import math
import os
import warnings
import zipfile

import keras
import numpy as np
import pytest

from digitrec import data, evaluation, models, plots, rejection, runs, training

METRIC_KEYS = {
    "accuracy", "loss", "recall_macro", "precision_macro", "f1_macro", "per_class_recall",
    "confusion_matrix", "n_test", "params", "train_seconds", "epochs_run",
}
RUN_FILES = {"model.keras", "best.keras", "history.csv", "config.json", "metrics.json"}


def layer_summary(model):
    """(class name, key settings) per layer, for comparing with the published architectures."""
    out = []
    for layer in model.layers:
        cfg = layer.get_config()
        kind = type(layer).__name__
        if kind == "Conv2D":
            out.append((kind, cfg["filters"], tuple(cfg["kernel_size"]), cfg["activation"]))
        elif kind == "MaxPooling2D":
            out.append((kind, tuple(cfg["pool_size"])))
        elif kind == "Dense":
            out.append((kind, cfg["units"], cfg["activation"]))
        elif kind == "Dropout":
            out.append((kind, cfg["rate"]))
        else:
            out.append((kind,))
    return out


def saved_compile_config(path):
    """The compile settings Keras stored in a .keras file (optimizer, loss)."""
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))["compile_config"]


def partial_files(folder):
    return [name for name in os.listdir(folder) if fnmatch.fnmatch(name, "*.partial*")]


# --------------------------------------------------------------------------- recipes


def test_baseline_architecture():
    net = models.build_model("baseline")
    assert layer_summary(net) == [
        ("Conv2D", 32, (3, 3), "relu"),
        ("MaxPooling2D", (2, 2)),
        ("Conv2D", 64, (3, 3), "relu"),
        ("MaxPooling2D", (2, 2)),
        ("Flatten",),
        ("Dense", 128, "relu"),
        ("Dropout", 0.5),
        ("Dense", 10, "softmax"),
    ]
    assert tuple(net.input_shape) == (None, 28, 28, 1)
    assert tuple(net.output_shape) == (None, 10)
    # 320 + 18,496 + (1600 * 128 + 128) + (128 * 10 + 10)
    assert net.count_params() == 225_034


def test_baseline_recipe():
    recipe = models.get_recipe("baseline")
    assert recipe.loss == "categorical_crossentropy"
    assert recipe.batch_size == 128
    assert recipe.patience == 3
    assert recipe.learning_rate == pytest.approx(1e-3)
    assert recipe.epochs >= 10  # a maximum; early stopping decides
    assert recipe.schedule == "constant"
    assert recipe.augment is False


def test_tutorial_architecture_and_recipe():
    net = models.build_model("tutorial")
    assert layer_summary(net) == [
        ("Conv2D", 32, (3, 3), "relu"),
        ("MaxPooling2D", (2, 2)),
        ("Conv2D", 64, (3, 3), "relu"),
        ("MaxPooling2D", (2, 2)),
        ("Conv2D", 64, (3, 3), "relu"),
        ("Flatten",),
        ("Dense", 64, "relu"),
        ("Dense", 10, "softmax"),
    ]
    assert tuple(net.input_shape) == (None, 28, 28, 1)
    recipe = models.get_recipe("tutorial")
    assert recipe.loss == "sparse_categorical_crossentropy"
    assert recipe.epochs == 5
    assert recipe.patience is None


def test_every_registered_model_maps_images_to_probabilities():
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    for name in models.REGISTRY:
        out = np.asarray(models.build_model(name)(x, training=False))
        assert out.shape == (2, 10), name
        np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-5, err_msg=name)


def test_fast_model_crops_and_rearranges_pixels_losslessly():
    # Cropping2D(2) then space-to-depth: channel 2a+b at (i, j) is pixel (2 + 2i + a, 2 + 2j + b).
    import keras

    net = models.build_model("fast")
    stem = keras.Model(net.inputs, net.layers[3].output)
    x = np.arange(28 * 28, dtype="float32").reshape(1, 28, 28, 1)
    out = np.asarray(stem([x]))
    assert out.shape == (1, 12, 12, 4)
    expected = x[0, 2:26, 2:26, 0].reshape(12, 2, 12, 2).transpose(0, 2, 1, 3).reshape(12, 12, 4)
    np.testing.assert_array_equal(out[0], expected)
    assert out[0, 0, 0].tolist() == [2 * 28 + 2, 2 * 28 + 3, 3 * 28 + 2, 3 * 28 + 3]


def test_strong_model_trains_on_whole_pixel_shifts_and_predicts_on_the_image_as_it_is():
    shift = models.build_model("strong").layers[0]
    assert type(shift).__name__ == "RandomTranslation"
    x = np.zeros((64, 28, 28, 1), "float32")
    x[:, 14, 14] = 1.0
    moved = np.asarray(shift(x, training=True))
    offsets = [np.argwhere(m[..., 0] == 1.0)[0] - 14 for m in moved]
    assert all(m.sum() == 1.0 for m in moved)  # one pixel, moved whole (nearest), nothing blurred
    assert {tuple(o) for o in offsets} <= {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    assert len({tuple(o) for o in offsets}) > 3  # and the shifts vary
    np.testing.assert_array_equal(np.asarray(shift(x, training=False)), x)


def test_fast_and_strong_recipes_train_on_all_images_with_a_fixed_schedule():
    for name in ("fast", "strong"):
        recipe = models.get_recipe(name)
        assert recipe.val_split == 0 and recipe.patience is None and recipe.schedule == "cosine"
        assert recipe.loss == "categorical_crossentropy" and 0 < recipe.label_smoothing < 1
    assert models.get_recipe("fast").epochs < models.get_recipe("strong").epochs


def test_unknown_model_name(tmp_path):
    from digitrec.errors import ModelError

    with pytest.raises(ModelError, match="baseline"):
        training.train(model="lenet-9000", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs"), ({"epochs": 1.5}, "epochs"), ({"batch_size": 0}, "batch size"),
        ({"learning_rate": -1.0}, "learning rate"), ({"learning_rate": math.inf}, "learning rate"),
        ({"learning_rate": math.nan}, "learning rate"), ({"val_split": 1.0}, "validation split"),
        ({"val_split": -0.1}, "validation split"), ({"val_split": math.nan}, "validation split"),
        ({"patience": -2}, "patience"), ({"patience": 2.5}, "patience"), ({"train_size": 5}, "train size"),
        ({"train_size": 60_001}, "train size"), ({"outlier_exposure": -0.5}, "outlier exposure"),
        ({"outlier_exposure": math.inf}, "outlier exposure"),
        ({"outlier_exposure": 0.5, "val_split": 0.0}, "needs a validation split"),
        ({"freeze": 3}, "needs a model to start from"), ({"freeze": 0, "init": "bundled"}, "freeze"),
        ({"freeze": 99, "init": "bundled"}, "less than the model's 26 layers"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, mnist_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        training.train(model="baseline", data_dir=mnist_dir, out=tmp_path / "run", **kwargs)
    assert os.listdir(tmp_path) == []


def test_recipe_settings_are_overridden_with_dataclasses_replace():
    recipe = training._settings("baseline", patience=0, epochs=3, batch_size=None, learning_rate=0.5,
                                val_split=None, augment=None)
    assert recipe == dataclasses.replace(models.get_recipe("baseline"), epochs=3, learning_rate=0.5, patience=None)
    assert training._settings("baseline", patience=training.KEEP).patience == 3


def test_an_out_folder_with_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("an earlier run\n")
    with pytest.raises(FileExistsError, match="overwrite"):
        training.train(model="baseline", out=tmp_path)
    assert os.listdir(tmp_path) == ["notes.txt"]


# --------------------------------------------------------------------------- tiny real runs


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, mnist_dir):
    """Real trainings on 600 images for 1 epoch: baseline twice (same seed) and once with another seed on the
    same split, tutorial and fast once.

    `keras.callbacks.EarlyStopping` is replaced by a subclass that only records its
    instances (the real callback still runs), to see what `train` builds.
    """
    base = tmp_path_factory.mktemp("tiny")
    created = {}

    class RecordingEarlyStopping(keras.callbacks.EarlyStopping):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            created.setdefault(current, []).append(self)

    folders = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(keras.callbacks, "EarlyStopping", RecordingEarlyStopping)
        for current, model in (("baseline-a", "baseline"), ("baseline-b", "baseline"), ("tutorial", "tutorial"),
                               ("fast", "fast"), ("baseline-seed1", "baseline")):
            folders[current] = training.train(
                model=model, epochs=1, train_size=600, data_dir=mnist_dir, out=base / current, verbose=0,
                **({"seed": 1, "split_seed": 0} if current == "baseline-seed1" else {"seed": 0}))
    # tutorial again, without a validation split, over a folder that holds an earlier run's files
    (base / "again").mkdir()
    (base / "again" / "stale.txt").write_text("from an earlier run\n")
    folders["again"] = training.train(model="tutorial", epochs=1, train_size=600, val_split=0, data_dir=mnist_dir,
                                      out=base / "again", seed=0, verbose=0, overwrite=True)
    return folders, created


@pytest.mark.slow
def test_training_leaves_the_garbage_collector_as_it_found_it(tiny_runs):
    """`train` freezes the objects alive before `fit` (a full collection mid-epoch cost 2 s) and unfreezes them
    after, so that what a notebook drops later (an earlier model, its data) can still be collected."""
    assert gc.get_freeze_count() == 0


@pytest.mark.slow
def test_train_builds_early_stopping_on_val_loss(tiny_runs):
    _, created = tiny_runs
    assert len(created["baseline-a"]) == 1
    es = created["baseline-a"][0]
    assert es.monitor == "val_loss"
    assert es.patience == 3
    assert es.restore_best_weights is True
    assert es.model is not None  # handed to fit
    assert math.isfinite(es.best)  # and it watched val_loss during the epoch
    # the tutorial recipe trains a fixed number of epochs
    assert "tutorial" not in created


@pytest.mark.slow
def test_overwrite_replaces_the_whole_folder(tiny_runs):
    folders, _ = tiny_runs
    assert sorted(os.listdir(folders["again"])) == sorted(RUN_FILES)  # no stale.txt
    assert sorted(os.listdir(folders["again"].parent)) == ["again", "baseline-a", "baseline-b", "baseline-seed1", "fast",
                                                          "tutorial"]


@pytest.mark.slow
def test_history_csv_of_a_run_without_validation_has_no_empty_columns(tiny_runs):
    folders, _ = tiny_runs
    assert runs.read_config(folders["again"])["n_val"] == 0
    assert (folders["again"] / "history.csv").read_text().splitlines()[0] == "epoch,accuracy,loss"
    history = plots.read_history(folders["again"] / "history.csv")
    assert history["epoch"].tolist() == [1] and 0 < history["loss"][0] < 10


@pytest.mark.slow
def test_train_compiles_adam_with_the_recipe_loss(tiny_runs):
    folders, _ = tiny_runs
    cfg = saved_compile_config(folders["baseline-a"] / "model.keras")
    assert cfg["optimizer"]["class_name"] == "Adam"
    assert cfg["optimizer"]["config"]["learning_rate"] == pytest.approx(1e-3)
    assert cfg["loss"] == "categorical_crossentropy"
    cfg = saved_compile_config(folders["tutorial"] / "model.keras")
    assert cfg["optimizer"]["class_name"] == "Adam"
    assert cfg["loss"] == "sparse_categorical_crossentropy"


@pytest.mark.slow
def test_config_json_records_the_settings(tiny_runs):
    folders, _ = tiny_runs
    cfg = json.loads((folders["baseline-a"] / "config.json").read_text())
    assert cfg["model"] == "baseline"
    assert cfg["epochs"] == 1
    assert cfg["batch_size"] == 128
    assert cfg["learning_rate"] == pytest.approx(1e-3)
    assert cfg["patience"] == 3
    assert cfg["seed"] == 0
    assert cfg["train_size"] == 600
    assert cfg["loss"] == "categorical_crossentropy"
    assert cfg["optimizer"] == "adam"
    assert cfg["source"] == models.get_recipe("baseline").source
    assert cfg["val_split"] == pytest.approx(0.1)
    assert abs(cfg["n_train"] + cfg["n_val"] - 600) <= 10
    assert abs(cfg["n_val"] - 60) <= 10
    cfg = json.loads((folders["tutorial"] / "config.json").read_text())
    assert cfg["loss"] == "sparse_categorical_crossentropy"
    assert cfg["batch_size"] == 64
    assert cfg["patience"] is None


@pytest.mark.slow
def test_another_seed_on_the_same_split_trains_other_weights_for_an_ensemble(tiny_runs, mnist_dir):
    folders, _ = tiny_runs
    a, b = (folders[k] / "model.keras" for k in ("baseline-a", "baseline-seed1"))
    config = json.loads((folders["baseline-seed1"] / "config.json").read_text())
    assert (config["seed"], config["weights_seed"], config["n_val"]) == (0, 1, runs.read_json(
        folders["baseline-a"] / "config.json")["n_val"])
    assert np.array_equal(rejection.validation_images(a, mnist_dir), rejection.validation_images(b, mnist_dir))
    # the run itself held out the seed-0 split: its last val_loss is the loss on those images, not on seed 1's
    x, y, _, val = training._prepare_data(models.get_recipe("baseline"), mnist_dir, 600, 0)
    assert np.array_equal(data.to_float(rejection.validation_images(b, mnist_dir)), x[val])  # of the 600, not 60,000
    last = list(csv.DictReader((folders["baseline-seed1"] / "history.csv").open()))[-1]
    loss = keras.losses.categorical_crossentropy(y[val], models.load_model(b).predict(x[val], verbose=0))
    assert float(np.mean(loss)) == pytest.approx(float(last["val_loss"]), rel=1e-4)
    nets = [models.load_model(m) for m in (a, b)]
    assert not np.array_equal(nets[0].get_weights()[0], nets[1].get_weights()[0])
    x = data.to_float(rejection.validation_images(a, mnist_dir)[:64])
    mean = models.ensemble(nets).predict(x, verbose=0)
    assert np.allclose(mean, (nets[0].predict(x, verbose=0) + nets[1].predict(x, verbose=0)) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="at least two"):
        models.ensemble(nets[:1])


@pytest.mark.slow
def test_fixed_schedule_without_validation_keeps_its_final_model_as_best(tiny_runs):
    run = tiny_runs[0]["fast"]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["n_val"] == 0 and abs(cfg["n_train"] - 600) <= 10 and cfg["patience"] is None
    assert (cfg["beta_1"], cfg["beta_2"], cfg["label_smoothing"]) == (0.7, 0.99, 0.1)
    optimizer = saved_compile_config(run / "model.keras")["optimizer"]["config"]
    assert (optimizer["beta_1"], optimizer["beta_2"]) == (0.7, 0.99)
    assert (run / "best.keras").read_bytes() == (run / "model.keras").read_bytes()
    with open(run / "history.csv", newline="") as f:
        assert next(csv.reader(f)) == ["epoch", "accuracy", "loss"]


@pytest.mark.slow
def test_tiny_run_models_load(tiny_runs):
    folders, _ = tiny_runs
    for run in folders.values():
        for name in ("model.keras", "best.keras"):
            net = models.load_model(run / name)
            assert tuple(net.output_shape) == (None, 10)
        assert partial_files(run) == []


@pytest.mark.slow
def test_outlier_exposure_run_calibrates_its_rejection_threshold(tmp_path, mnist_dir):
    """A tiny real run of the sparse-label tutorial recipe with non-digits: one-hot targets, a threshold file."""
    from digitrec import rejection
    from digitrec.inference import Recognizer

    run = training.train(model="tutorial", epochs=1, train_size=600, val_split=0.2, outlier_exposure=0.5,
                         data_dir=mnist_dir, out=tmp_path / "oe", verbose=0)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["outlier_exposure"] == 0.5 and cfg["loss"] == "categorical_crossentropy"
    assert cfg["n_outliers"] == round(0.5 * cfg["n_train"])
    saved = json.loads((run / "model.rejection.json").read_text())
    assert saved["n"] == cfg["n_val"] and saved["rejected"] <= rejection.REJECT_DIGITS
    assert saved["val_split"] == 0.2 and 0 <= saved["threshold"] <= 1
    assert Recognizer(run / "model.keras").min_digit_score == saved["threshold"]
    assert saved_compile_config(run / "model.keras")["loss"] == "categorical_crossentropy"


@pytest.mark.slow
def test_robust_recipe_trains_on_each_digit_as_written_and_as_rendered(tmp_path, mnist_dir, monkeypatch):
    """The bundled model's recipe: every training digit also rendered as an input family and normalized (in worker
    processes, cached once), the rendering of a validation digit held out with it."""
    from digitrec import renderings

    monkeypatch.setenv("DIGITREC_CACHE_DIR", str(tmp_path / "cache"))
    run = training.train(model="robust", epochs=1, train_size=100, data_dir=mnist_dir, out=tmp_path / "r", verbose=0)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["renderings"] and (cfg["n_train"], cfg["n_val"]) == (180, 20)
    [cached] = (tmp_path / "cache").glob("renderings-*.npz")
    written = cached.stat().st_mtime_ns
    images, labels = data.load_split("train", mnist_dir)
    keep, _ = data.stratified_split(labels, 1 - 100 / len(labels), 0)  # the subset train_size=100 draws, seed 0
    x, families = renderings.normalized_renderings(images[keep])
    assert list((tmp_path / "cache").glob("*.npz")) == [cached] and cached.stat().st_mtime_ns == written
    assert x.shape == (100, 28, 28) and x.dtype == np.uint8 and len(set(families)) >= 8
    assert (x > 128).sum(axis=(1, 2)).min() > 10, "a rendering lost its digit"


@pytest.mark.slow
def test_freeze_fine_tunes_only_the_layers_after_the_first_n(tmp_path, mnist_dir):
    """The first N layers and every BatchNormalization keep their weights; the layers after them learn."""
    start = training.train(model="fast", epochs=1, train_size=600, data_dir=mnist_dir, out=tmp_path / "a", verbose=0)
    run = training.train(model="fast", init=start / "model.keras", freeze=10, epochs=1, train_size=600,
                         data_dir=mnist_dir, out=tmp_path / "b", verbose=0)
    before, after = models.load_model(start / "model.keras"), models.load_model(run / "model.keras")
    assert json.loads((run / "config.json").read_text())["freeze"] == 10
    for i, (old, new) in enumerate(zip(before.layers, after.layers)):
        same = all(np.array_equal(a, b) for a, b in zip(old.get_weights(), new.get_weights()))
        fixed = i < 10 or isinstance(old, keras.layers.BatchNormalization)
        assert same == fixed or not old.get_weights(), (i, old.name)


@pytest.mark.slow
def test_training_is_reproducible(tiny_runs):
    """Same seed, same data, same settings: identical weights and scores."""
    folders, _ = tiny_runs
    a = models.load_model(folders["baseline-a"] / "model.keras").get_weights()
    b = models.load_model(folders["baseline-b"] / "model.keras").get_weights()
    assert len(a) == len(b)
    differing = [i for i, (wa, wb) in enumerate(zip(a, b)) if not np.array_equal(wa, wb)]
    max_diff = max((float(np.max(np.abs(a[i] - b[i]))) for i in differing), default=0.0)
    assert differing == [], f"weights differ in tensors {differing} (max abs diff {max_diff:g})"
    ma = runs.read_metrics(folders["baseline-a"])
    mb = runs.read_metrics(folders["baseline-b"])
    for m in (ma, mb):
        m.pop("train_seconds")
    assert ma == mb
    ha = (folders["baseline-a"] / "history.csv").read_text()
    hb = (folders["baseline-b"] / "history.csv").read_text()
    assert ha == hb


# --------------------------------------------------------------------------- integration


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("integration") / "run"
    # One epoch on 5,400 images (the rest is the validation split): batch 16 gives 338 steps.
    returned = training.train(model="baseline", epochs=1, batch_size=16, train_size=6000, data_dir=mnist_dir, out=out,
                              seed=0, verbose=0)
    assert returned == out
    return out


@pytest.mark.slow
def test_run_folder_contents(baseline_run):
    assert set(os.listdir(baseline_run)) >= RUN_FILES
    assert partial_files(baseline_run) == []
    cfg = json.loads((baseline_run / "config.json").read_text())
    assert cfg["train_size"] == 6000 and abs(cfg["n_train"] + cfg["n_val"] - 6000) <= 10


@pytest.mark.slow
def test_history_csv(baseline_run):
    with open(baseline_run / "history.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header[0] == "epoch"
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(header)
    assert len(body) == 1
    assert body[0][0] == "1"
    assert all(math.isfinite(float(v)) for v in body[0][1:])


@pytest.mark.slow
def test_metrics_json(baseline_run, mnist_test):
    m = runs.read_metrics(baseline_run)
    assert set(m) == METRIC_KEYS
    assert m["n_test"] == 10000
    assert m["epochs_run"] == 1
    assert m["params"] == models.build_model("baseline").count_params()
    assert m["train_seconds"] > 0
    assert len(m["per_class_recall"]) == 10
    assert all(0 <= r <= 1 for r in m["per_class_recall"])
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (10, 10)
    assert all(isinstance(v, int) for row in m["confusion_matrix"] for v in row)
    assert cm.sum() == 10000
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(mnist_test[1], minlength=10))
    assert m["accuracy"] == pytest.approx(np.trace(cm) / 10000)
    assert m["recall_macro"] == pytest.approx(np.mean(m["per_class_recall"]))
    for key in ("precision_macro", "f1_macro"):
        assert 0 < m[key] <= 1
    assert 0 < m["loss"] < 1
    # The bar: one epoch on a 6,000-image subset scores >= 95 % on the full test set
    # (0.9571 with batch 16 and seed 0 here; batch 128 gives only 43 steps and about 0.90).
    assert m["accuracy"] >= 0.95, m["accuracy"]


@pytest.mark.slow
def test_saved_model_reproduces_the_metrics(baseline_run, mnist_dir, mnist_test):
    net = models.load_model(baseline_run / "model.keras")
    probs = net.predict(mnist_test[0][:200, ..., None].astype("float32") / 255, verbose=0)
    assert probs.shape == (200, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert (probs >= 0).all()
    m = evaluation.evaluate(baseline_run / "model.keras", mnist_dir)
    saved = runs.read_metrics(baseline_run)
    assert m["n_test"] == 10000
    assert abs(m["accuracy"] - saved["accuracy"]) <= 1e-4
    assert m["loss"] == pytest.approx(saved["loss"], abs=1e-4)
    assert m["params"] == saved["params"]


@pytest.mark.slow
def test_best_checkpoint_loads(baseline_run, mnist_test):
    net = models.load_model(baseline_run / "best.keras")
    probs = net.predict(mnist_test[0][:50, ..., None].astype("float32") / 255, verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


# --------------------------------------------------------------------------- scores


def hand_made():
    """12 images of all 10 classes; a 9 predicted as 0 and a 1 predicted as 7."""
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
    predicted = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 7])
    probs = np.full((12, 10), 0.01)
    for i, (t, p) in enumerate(zip(labels, predicted)):
        if t == p:
            probs[i, p] = 0.91
        else:
            probs[i, p], probs[i, t] = 0.60, 0.32
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    return probs, labels


def test_scores_hand_made():
    probs, labels = hand_made()
    s = evaluation.scores(probs, labels)
    assert s["n_test"] == 12
    assert s["accuracy"] == pytest.approx(10 / 12)
    recall = [1, 0.5, 1, 1, 1, 1, 1, 1, 1, 0]
    precision = [2 / 3, 1, 1, 1, 1, 1, 1, 0.5, 1, 0]  # 0 is predicted 3 times, 7 twice, 9 never
    f1 = [2 * r * p / (r + p) if r + p else 0 for r, p in zip(recall, precision)]
    assert s["per_class_recall"] == pytest.approx(recall)
    assert s["recall_macro"] == pytest.approx(0.85)
    assert s["precision_macro"] == pytest.approx(49 / 60)
    assert s["f1_macro"] == pytest.approx(np.mean(f1))
    assert s["f1_macro"] == pytest.approx((0.8 + 2 / 3 + 2 / 3 + 6) / 10)
    expected_cm = np.eye(10, dtype=int)
    expected_cm[0, 0] = 2
    expected_cm[1, 7] = 1
    expected_cm[9, 9] = 0
    expected_cm[9, 0] = 1
    assert s["confusion_matrix"] == expected_cm.tolist()
    assert s["loss"] == pytest.approx(-(10 * math.log(0.91) + 2 * math.log(0.32)) / 12)
    json.dumps(s)  # plain Python types only


def test_per_class_scores_from_a_confusion_matrix():
    probs, labels = hand_made()
    cm = evaluation.scores(probs, labels)["confusion_matrix"]
    precision, recall, f1 = evaluation.per_class_scores(cm)
    assert precision == pytest.approx([2 / 3, 1, 1, 1, 1, 1, 1, 0.5, 1, 0])
    assert recall == pytest.approx([1, 0.5, 1, 1, 1, 1, 1, 1, 1, 0])
    assert f1 == pytest.approx([0.8, 2 / 3, 1, 1, 1, 1, 1, 2 / 3, 1, 0])
    # a digit never present and never predicted scores 0, without a warning
    empty = np.zeros((10, 10), int)
    empty[1, 1] = 3
    assert evaluation.per_class_scores(empty)[1].tolist() == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]


def test_scores_of_float32_probabilities_warn_nothing():
    probs, labels = hand_made()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = evaluation.scores(probs.astype("float32"), labels)
    assert s["loss"] == pytest.approx(evaluation.scores(probs, labels)["loss"], rel=1e-6)


def test_scores_perfect_and_clipped_loss():
    labels = np.arange(10).repeat(2)
    s = evaluation.scores(np.eye(10)[labels], labels)
    assert s["accuracy"] == 1 and s["recall_macro"] == 1 and s["precision_macro"] == 1 and s["f1_macro"] == 1
    assert s["loss"] == pytest.approx(0, abs=1e-6)
    # a confident wrong answer costs -log(float64 epsilon) (sklearn.metrics.log_loss clips), not infinity
    wrong = evaluation.scores(np.eye(10)[[5]], np.array([3]))
    assert wrong["accuracy"] == 0
    assert wrong["loss"] == pytest.approx(-math.log(np.finfo("float64").eps))
    assert wrong["confusion_matrix"][3][5] == 1
