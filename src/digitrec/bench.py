"""Benchmark the registered recipes side by side on this machine.

For each recipe, `run` trains it once per seed, each in a fresh process
(`python -m digitrec.bench`, so peak memory is that training's alone and
no run warms another's caches), and measures:

- training seconds: the wall time of `model.fit` (validation and
  checkpoints included), less the time spent scoring the test set after
  each epoch for the time-to-accuracy curve (that scoring chooses nothing);
- training CPU seconds: the CPU time of all the process's threads from
  the start to the end of training (Keras' `on_train_begin` and
  `on_train_end`), less that of the per-epoch scoring; on a machine shared
  with other jobs this varies far less than wall time;
- whole-process seconds: from starting the process to its exit
  (interpreter, TensorFlow import, data loading, training, the final test
  evaluation and saving), less the same per-epoch scoring;
- epochs run and test accuracy (mean and minimum over seeds), and test
  accuracy after every epoch against training seconds (`curve`);
- peak resident memory of the training process (`ru_maxrss` of the child,
  MiB);
- inference throughput (images/s) over the 10,000 test images at batch
  size 1,000, and single-image latency (p50, p95, milliseconds) through
  `Recognizer.predict`, normalization included;
- achieved GFLOP/s, from the model's forward FLOPs per image
  (`flops_per_image`), with training counted as 3x forward (backward
  pass about 2x forward; Kaplan et al. 2020, appendix), next to this
  machine's peak: the best rate of a large float32 matrix multiply
  (`peak_gflops`).

Times are wall-clock on a machine that should be otherwise idle; compare
recipes only within one run (the ratios to `REFERENCE` do that).
"""

import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from digitrec.errors import DigitrecError

DEFAULT_RECIPES = ("fast", "strong", "baseline")
REFERENCE = "baseline"  # every other recipe's times are given as ratios to this one's
QUICK = {"train_size": 2000, "epochs": 1, "seeds": 1, "latency_images": 20}


def flops_per_image(model):
    """Forward-pass FLOPs of one image through `model`'s Conv2D and Dense layers.

    A multiply-add counts as 2 FLOPs. Normalization, pooling, activations
    and additions are left out (a few percent for the registered models).

    Args:
        model: a built `keras.Model` whose layers have known output shapes.

    Returns:
        int, FLOPs per image.
    """
    total = 0
    for layer in _leaf_layers(model):
        kind = type(layer).__name__
        if kind not in ("Conv2D", "Dense"):
            continue
        out = layer.output.shape[1:]
        kernel = layer.kernel.shape  # Conv2D: (kh, kw, c_in, c_out); Dense: (in, out)
        positions = int(np.prod(out[:-1])) if len(out) > 1 else 1
        total += 2 * positions * int(np.prod(kernel))
    return total


def _leaf_layers(model):
    for layer in model.layers:
        yield from _leaf_layers(layer) if hasattr(layer, "layers") else (layer,)


def machine():
    """Describe this machine and the library versions (dict of strings and ints)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version()}  # from the package metadata: no Keras import here
    for package in ("keras", "numpy", "tensorflow", "tensorflow-cpu", "jax", "torch", "onnxruntime",
                    "ai-edge-litert"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), **versions}


def peak_gflops(size=2048, repeats=5):
    """This machine's float32 peak, as measured: the best rate of a large matrix multiply.

    Args:
        size: int, the side of the two square float32 matrices (NumPy's
            BLAS, all cores).
        repeats: int >= 1, products timed; the fastest counts.

    Returns:
        float, GFLOP/s (2 * size**3 FLOPs per product).
    """
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)
    a @ b  # warm-up: threads and pages
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _inference(model_path, data_dir, latency_images):
    from digitrec import data, inference, models

    model = models.load_model(model_path)
    images, _ = data.load_split("test", data_dir)
    x = data.to_float(images)
    model.predict(x[:1000], batch_size=1000, verbose=0)  # warm-up: tracing and allocation
    start = time.perf_counter()
    model.predict(x, batch_size=1000, verbose=0)
    throughput = len(x) / (time.perf_counter() - start)

    recognizer = inference.Recognizer(model)
    recognizer.predict(images[0])
    latencies = []
    for image in images[1:latency_images + 1]:
        start = time.perf_counter()
        recognizer.predict(image)
        latencies.append(1000 * (time.perf_counter() - start))
    flops = flops_per_image(model)
    return {
        "images_per_second": round(throughput, 1),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2),
        "flops_per_image": flops,
        "inference_gflops": round(flops * throughput / 1e9, 2),
    }


def _test_curve_callback(data_dir):
    """A Keras callback that scores the test set after each epoch and times that scoring.

    Its `points` are `[training seconds so far, test accuracy]` per epoch,
    the seconds counted from the start of training without the scoring;
    `cpu_seconds` is the process's CPU time over training, without the
    scoring's.
    """
    import keras

    from digitrec import data

    images, labels = data.load_split("test", data_dir)
    x = data.to_float(images)

    class TestCurve(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.points, self.scoring_seconds, self.scoring_cpu, self.start, self.cpu_seconds = [], 0.0, 0.0, None, None

        def on_train_begin(self, logs=None):
            self.start, self.cpu_start = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            now, cpu = time.perf_counter(), time.process_time()
            accuracy = float(np.mean(self.model.predict(x, batch_size=1000, verbose=0).argmax(1) == labels))
            self.points.append([round(now - self.start - self.scoring_seconds, 2), accuracy])
            self.scoring_seconds += time.perf_counter() - now
            self.scoring_cpu += time.process_time() - cpu

        def on_train_end(self, logs=None):
            self.cpu_seconds = time.process_time() - self.cpu_start - self.scoring_cpu

    return TestCurve()


def _train_job(recipe, seed, data_dir, out, train_size, epochs):
    """One training run in this (fresh) process; writes its measurements to `out/bench-run.json`."""
    from digitrec import models, runs, training

    curve = _test_curve_callback(data_dir)
    run = training.train(model=recipe, seed=seed, data_dir=data_dir, out=out, train_size=train_size, epochs=epochs,
                         verbose=0, callbacks=[curve])
    metrics, config = runs.read_metrics(run), runs.read_config(run)
    result = {
        "seed": seed, "train_seconds": round(metrics["train_seconds"] - curve.scoring_seconds, 2),
        "epochs": metrics["epochs_run"], "accuracy": metrics["accuracy"], "n_train": config["n_train"],
        "train_cpu_seconds": round(curve.cpu_seconds, 2), "scoring_seconds": round(curve.scoring_seconds, 2),
        "curve": curve.points,
        "train_flops_per_image": flops_per_image(models.build_model(recipe)), "backend": config["backend"],
    }
    Path(out, "bench-run.json").write_text(json.dumps(result))


def _in_process(recipe, seed, data_dir, out, train_size, epochs):
    """Run `_train_job` in a fresh Python process; add its whole-process seconds and peak memory."""
    job = json.dumps([recipe, seed, None if data_dir is None else str(data_dir), str(out), train_size, epochs])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    with tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "digitrec.bench", job], stdout=subprocess.DEVNULL,
                                 stderr=stderr, env=env)
        _, status, usage = os.wait4(child.pid, 0)  # the child's own rusage: its peak RSS, not the largest child's
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            stderr.seek(0)
            lines = stderr.read().strip().splitlines() or [f"exit status {child.returncode}"]
            raise DigitrecError(f"bench: training {recipe} with seed {seed} failed: {lines[-1]}")
    result = json.loads(Path(out, "bench-run.json").read_text())
    result["process_seconds"] = round(seconds - result["scoring_seconds"], 2)
    result["peak_rss_mib"] = round(usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10), 1)
    return result


def _in_subprocess(fn, *args):
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def run(recipes=DEFAULT_RECIPES, seeds=3, quick=False, data_dir=None, log=print):
    """Train and measure each recipe; returns a JSON-ready dict.

    Args:
        recipes: registry names, in the order to run them.
        seeds: int >= 1; training runs per recipe (seeds 0, 1, ...).
        quick: a smoke test: 1 seed, 1 epoch on 2,000 training images and 20
            latency samples; the numbers only show the pipeline works.
        data_dir: MNIST folder (see `digitrec.data.load_split`).
        log: function called with one line of progress per training run.

    Returns:
        dict with `machine` (see `machine`, plus `peak_gflops` from
        `peak_gflops` and the Keras `backend`), `settings`, `recipes` (a
        dict per recipe: `runs` and the summary keys `train_seconds` and
        `process_seconds` and `train_cpu_seconds` (means), `epochs`, `accuracy_mean`,
        `accuracy_min`, `peak_rss_mib` (max), `curve` (seed 0's
        `[seconds, test accuracy]` per epoch), `train_gflops`,
        `train_peak_share` and the inference keys of seed 0's model) and
        `speedups`: for each recipe other than `REFERENCE`, when that ran,
        `REFERENCE`'s mean seconds over this recipe's, for `train`,
        `process` and `train_cpu`.

    Raises:
        ModelError: an unknown recipe name (before anything runs).
        ValueError: `seeds` < 1.
        DatasetError: MNIST is missing (and cannot be downloaded) or corrupt.
        DigitrecError: a training process failed (the message ends with its
            last line on stderr).
    """
    from digitrec import data
    from digitrec.models import get_recipe

    recipes = list(recipes)
    for name in recipes:
        get_recipe(name)
    for split in ("train", "test"):  # download and cache once, here, rather than fail in every child
        data.load_split(split, data_dir)
    settings = dict(QUICK) if quick else {"train_size": None, "epochs": None, "seeds": seeds, "latency_images": 200}
    if settings["seeds"] < 1:
        raise ValueError(f"seeds must be at least 1, got {settings['seeds']}")
    result = {"machine": {**machine(), "peak_gflops": round(peak_gflops(), 1)},
              "settings": {**settings, "quick": quick}, "recipes": {}}
    runs = {name: [] for name in recipes}
    for seed in range(settings["seeds"]):  # seed by seed, so a slower spell of a shared machine hits every recipe
        for name in recipes:
            with tempfile.TemporaryDirectory(prefix="digitrec-bench-") as tmp:
                r = _in_process(name, seed, data_dir, tmp, settings["train_size"], settings["epochs"])
                if seed == 0:
                    r.update(_in_subprocess(_inference, Path(tmp, "model.keras"), data_dir,
                                            settings["latency_images"]))
            runs[name].append(r)
            log(f"{name} seed {seed}: {r['train_seconds']:.1f} s training ({r['train_cpu_seconds']:.1f} CPU s), "
                f"{r['process_seconds']:.1f} s process, "
                f"{r['epochs']} epochs, accuracy {r['accuracy']:.4f}, peak RSS {r['peak_rss_mib']:.0f} MiB")
    result["machine"]["backend"] = runs[recipes[0]][0]["backend"]
    result["machine"]["peak_gflops"] = max(result["machine"]["peak_gflops"], round(peak_gflops(), 1))  # least disturbed
    result["recipes"] = {name: _summarize(runs[name], result["machine"]["peak_gflops"]) for name in recipes}
    reference = result["recipes"].get(REFERENCE)
    if reference:
        result["speedups"] = {
            name: {key: round(reference[f"{key}_seconds"] / r[f"{key}_seconds"], 2) for key in ("train", "process", "train_cpu")}
            for name, r in result["recipes"].items() if name != REFERENCE}
    return result


def _summarize(runs, peak):
    first = runs[0]
    train_seconds = float(np.mean([r["train_seconds"] for r in runs]))
    images = np.mean([r["n_train"] * r["epochs"] for r in runs])
    train_gflops = 3 * first["train_flops_per_image"] * images / train_seconds / 1e9
    return {
        "train_seconds": round(train_seconds, 1),
        "process_seconds": round(float(np.mean([r["process_seconds"] for r in runs])), 1),
        "train_cpu_seconds": round(float(np.mean([r["train_cpu_seconds"] for r in runs])), 1),
        "epochs": round(float(np.mean([r["epochs"] for r in runs])), 2),
        "accuracy_mean": round(float(np.mean([r["accuracy"] for r in runs])), 5),
        "accuracy_min": round(float(min(r["accuracy"] for r in runs)), 5),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "curve": first["curve"],
        "train_gflops": round(train_gflops, 2),
        "train_peak_share": round(train_gflops / peak, 4),
        **{k: first[k] for k in ("train_flops_per_image", "images_per_second", "latency_ms_p50", "latency_ms_p95",
                                 "flops_per_image", "inference_gflops")},
        "runs": runs,
    }


def format_table(result):
    """Render `run`'s result as a plain-text table (str), machine and ratios below it."""
    peak = result["machine"]["peak_gflops"]
    header = ("recipe", "train s", "train CPU s", "process s", "epochs", "acc mean", "acc min", "peak RSS MiB", "img/s @1000",
              "p50 ms", "p95 ms", "MFLOP/img", "train GFLOP/s", "infer GFLOP/s")
    rows = [header]
    for name, r in result["recipes"].items():
        rows.append((name, f"{r['train_seconds']:.1f}", f"{r['train_cpu_seconds']:.1f}", f"{r['process_seconds']:.1f}", f"{r['epochs']:.3g}",
                     f"{r['accuracy_mean']:.2%}", f"{r['accuracy_min']:.2%}", f"{r['peak_rss_mib']:.0f}",
                     f"{r['images_per_second']:,.0f}", f"{r['latency_ms_p50']:.1f}", f"{r['latency_ms_p95']:.1f}",
                     f"{r['train_flops_per_image'] / 1e6:.2f}",
                     f"{r['train_gflops']:.1f} ({r['train_gflops'] / peak:.0%})",
                     f"{r['inference_gflops']:.1f} ({r['inference_gflops'] / peak:.0%})"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    m = result["machine"]
    lines.append("")
    lines.append(f"machine: {m['cpu']}, {m['cores']} cores, float32 matmul peak {peak:.0f} GFLOP/s "
                 f"(percentages above); python {m['python']}, keras {m.get('keras', '?')} "
                 f"({m.get('backend', '?')}), numpy {m.get('numpy', '?')}")
    for name, ratio in result.get("speedups", {}).items():
        lines.append(f"{REFERENCE}-to-{name} time ratio: training {ratio['train']:.1f}x, "
                     f"whole process {ratio['process']:.1f}x, training CPU time {ratio['train_cpu']:.1f}x")
    if result["settings"]["quick"]:
        lines.append("quick mode: 1 epoch on 2,000 images; a smoke test, not a benchmark")
    return "\n".join(lines)


if __name__ == "__main__":  # one training run of `run`, in a fresh process: python -m digitrec.bench JOB_JSON
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        _train_job(*json.loads(sys.argv[1]))
    except DigitrecError as e:
        sys.exit(str(e))  # one line on stderr, exit status 1
