"""Benchmark the registered recipes side by side on this machine.

For each recipe, `run` trains it once per seed, each in a fresh process (so
peak memory is that training's alone and no run warms another's caches),
and measures:

- training wall time (seconds of `model.fit`, validation included),
  epochs run and test accuracy (mean and minimum over seeds);
- peak resident memory of the training process (`ru_maxrss`, MiB);
- inference throughput (images/s) over the 10,000 test images at batch
  size 1,000, and single-image latency (p50, p95, milliseconds) through
  `Recognizer.predict`, normalization included;
- achieved GFLOP/s, from the model's forward FLOPs per image
  (`flops_per_image`), with training counted as 3x forward (backward
  pass about 2x forward; Kaplan et al. 2020, appendix).

Times are wall-clock on a machine that should be otherwise idle; compare
recipes only within one run (the baseline-to-fast ratio does that).
"""

import concurrent.futures
import contextlib
import importlib.metadata
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time

import numpy as np

DEFAULT_RECIPES = ("fast", "baseline", "tutorial")
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
    import keras

    versions = {"python": platform.python_version(), "keras": keras.__version__, "backend": keras.backend.backend()}
    for package in ("numpy", "tensorflow", "tensorflow-cpu", "jax", "torch", "onnxruntime", "ai-edge-litert"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), **versions}


def _peak_rss_mib():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)  # bytes on macOS, KiB on Linux


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


def _train_job(recipe, seed, data_dir, train_size, epochs, latency_images):
    """One training run in this (fresh) process; returns its measurements."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from digitrec import runs, training

    with tempfile.TemporaryDirectory(prefix="digitrec-bench-") as tmp:
        run = training.train(model=recipe, seed=seed, data_dir=data_dir, out=tmp, train_size=train_size,
                              epochs=epochs, verbose=0)
        metrics = runs.read_metrics(run)
        result = {
            "seed": seed, "train_seconds": metrics["train_seconds"], "epochs": metrics["epochs_run"],
            "accuracy": metrics["accuracy"], "n_train": runs.read_config(run)["n_train"],
            "peak_rss_mib": _peak_rss_mib(),
        }
        if latency_images:
            result.update(_inference(run / "model.keras", data_dir, latency_images))
    return result


def _in_subprocess(fn, *args):
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
        dict with `machine` (see `machine`), `settings`, `recipes` (a dict
        per recipe: `runs` and the summary keys `train_seconds` (mean),
        `epochs`, `accuracy_mean`, `accuracy_min`, `peak_rss_mib` (max),
        the inference keys of the first run, `train_gflops`) and
        `baseline_to_fast_ratio` (mean training seconds of "baseline" over "fast",
        when both ran).

    Raises:
        ModelError: an unknown recipe name (before anything runs).
        ValueError: `seeds` < 1.
    """
    from digitrec.models import get_recipe

    for name in recipes:
        get_recipe(name)
    settings = dict(QUICK) if quick else {"train_size": None, "epochs": None, "seeds": seeds, "latency_images": 200}
    if settings["seeds"] < 1:
        raise ValueError(f"seeds must be at least 1, got {settings['seeds']}")
    result = {"machine": machine(), "settings": {**settings, "quick": quick}, "recipes": {}}
    for name in recipes:
        runs = []
        for seed in range(settings["seeds"]):
            latency = settings["latency_images"] if seed == 0 else 0
            runs.append(_in_subprocess(_train_job, name, seed, data_dir, settings["train_size"],
                                       settings["epochs"], latency))
            r = runs[-1]
            log(f"{name} seed {seed}: {r['train_seconds']:.1f} s, {r['epochs']} epochs, "
                f"accuracy {r['accuracy']:.4f}, peak RSS {r['peak_rss_mib']:.0f} MiB")
        result["recipes"][name] = _summarize(runs)
    times = {k: v["train_seconds"] for k, v in result["recipes"].items()}
    if "baseline" in times and "fast" in times:
        result["baseline_to_fast_ratio"] = round(times["baseline"] / times["fast"], 2)
    return result


def _summarize(runs):
    first = runs[0]
    train_seconds = float(np.mean([r["train_seconds"] for r in runs]))
    images = np.mean([r["n_train"] * r["epochs"] for r in runs])
    summary = {
        "train_seconds": round(train_seconds, 1),
        "epochs": round(float(np.mean([r["epochs"] for r in runs])), 2),
        "accuracy_mean": round(float(np.mean([r["accuracy"] for r in runs])), 5),
        "accuracy_min": round(float(min(r["accuracy"] for r in runs)), 5),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "train_gflops": round(3 * first["flops_per_image"] * images / train_seconds / 1e9, 2),
        **{k: first[k] for k in ("images_per_second", "latency_ms_p50", "latency_ms_p95", "flops_per_image",
                                 "inference_gflops")},
        "runs": runs,
    }
    return summary


def format_table(result):
    """Render `run`'s result as a plain-text table (str), machine and ratio below it."""
    header = ("recipe", "train s", "epochs", "acc mean", "acc min", "peak RSS MiB", "img/s @1000",
              "p50 ms", "p95 ms", "MFLOP/img", "train GFLOP/s", "infer GFLOP/s")
    rows = [header]
    for name, r in result["recipes"].items():
        rows.append((name, f"{r['train_seconds']:.1f}", f"{r['epochs']:.3g}", f"{r['accuracy_mean']:.2%}",
                     f"{r['accuracy_min']:.2%}", f"{r['peak_rss_mib']:.0f}", f"{r['images_per_second']:,.0f}",
                     f"{r['latency_ms_p50']:.1f}", f"{r['latency_ms_p95']:.1f}",
                     f"{r['flops_per_image'] / 1e6:.2f}", f"{r['train_gflops']:.1f}", f"{r['inference_gflops']:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    m = result["machine"]
    lines.append("")
    lines.append(f"machine: {m['cpu']}, {m['cores']} cores; python {m['python']}, keras {m['keras']} "
                 f"({m['backend']}), numpy {m.get('numpy', '?')}")
    if "baseline_to_fast_ratio" in result:
        lines.append(f"baseline-to-fast training time ratio: {result['baseline_to_fast_ratio']:.1f}x")
    if result["settings"]["quick"]:
        lines.append("quick mode: 1 epoch on 2,000 images; a smoke test, not a benchmark")
    return "\n".join(lines)
