"""Compare the model runtimes side by side: Keras, ONNX Runtime, LiteRT float32 and LiteRT int8.

    digitrec bench --runtimes [--model PATH|bundled] [--quick] [--out FILE]

`run` exports one `.keras` model with `digitrec.export` (ONNX, LiteRT,
LiteRT full-integer int8) into a temporary folder, then measures each file
in fresh processes (`python -m digitrec.bench_runtimes`), one at a time:

- start-up to first prediction (seconds): from starting the process to the
  first `Prediction` for a PNG file (Python and library imports, model
  loading, decoding, normalization, forward pass); the median of
  `startup_runs` processes;
- single-image latency (ms, p50 and p95): one normalized image through
  `Recognizer.classify`, the forward pass alone (normalization is shared
  code, the same for every runtime), after one warm-up call;
- batch-1,000 throughput (images/s): the test images in batches of 1,000,
  after one warm-up batch;
- test accuracy, the share of images whose argmax agrees with Keras's, and
  the largest absolute probability difference from Keras;
- file size (bytes).

Each runtime uses its own default threading (all cores for TensorFlow and
ONNX Runtime; `os.cpu_count()` threads for LiteRT). Times are wall-clock:
compare runtimes within one run, on an otherwise idle machine.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VARIANTS = {  # name -> (export format, quantization, suffix)
    "onnx": ("onnx", None, ".onnx"),
    "litert": ("litert", None, ".tflite"),
    "litert-int8": ("litert", "int8", ".tflite"),
}
FULL = {"latency_images": 200, "startup_runs": 3, "test_images": 10000}
QUICK = {"latency_images": 20, "startup_runs": 1, "test_images": 2000}


def run(model=None, quick=False, data_dir=None, log=print):
    """Export `model` and measure every runtime; returns a JSON-ready dict.

    Args:
        model: a `.keras` file, a run folder, or None or "bundled" (see
            `digitrec.runs.model_path`).
        quick: a smoke test (`QUICK` settings: fewer images and processes).
        data_dir: MNIST folder (see `digitrec.data.load_split`).
        log: function called with one line of progress per step.

    Returns:
        dict with `machine` (see `digitrec.bench.machine`), `settings`, and
        `runtimes`: for "keras", "onnx", "litert" and "litert-int8", a dict
        with `file`, `bytes`, `startup_s`, `latency_ms_p50`,
        `latency_ms_p95`, `images_per_second`, `accuracy`,
        `agreement_with_keras`, `max_abs_diff_from_keras`, and
        `startup_speedup` and `throughput_ratio` (Keras's start-up time over
        this one's; this one's throughput over Keras's).

    Raises:
        DigitrecError: an export or a measuring process failed (the message
            has its last error line); ModelError, DatasetError as in
            `digitrec.export.export`.
    """
    from digitrec import bench, data, export, runs

    settings = dict(QUICK if quick else FULL, quick=quick)
    result = {"machine": bench.machine(), "settings": settings, "runtimes": {}}
    images, labels = data.load_split("test", data_dir)
    labels = labels[: settings["test_images"]]
    with tempfile.TemporaryDirectory(prefix="digitrec-runtimes-") as tmp:
        tmp = Path(tmp)
        files = {"keras": runs.model_path(model)}
        for name, (fmt, quantize, suffix) in VARIANTS.items():
            start = time.perf_counter()
            files[name] = export.export(files["keras"], tmp / f"model-{name}{suffix}", fmt, quantize, data_dir)
            log(f"exported {name}: {files[name].stat().st_size:,} bytes in {time.perf_counter() - start:.1f} s")
        png = tmp / "digit.png"
        _save_png(255 - images[0], png)  # a dark-on-white scan of the first test digit
        np.save(tmp / "test.npy", images[: settings["test_images"]])
        keras_p = None
        for name, path in files.items():
            row, p = _measure(path, png, tmp, settings, data_dir)
            keras_p = p if keras_p is None else keras_p
            row.update(accuracy=round(float(np.mean(p.argmax(1) == labels)), 5),
                       agreement_with_keras=round(float(np.mean(p.argmax(1) == keras_p.argmax(1))), 5),
                       max_abs_diff_from_keras=float(np.abs(p - keras_p).max()))
            result["runtimes"][name] = row
            log(f"{name}: start-up {row['startup_s']:.2f} s, latency p50 {row['latency_ms_p50']:.2f} ms, "
                f"{row['images_per_second']:,.0f} images/s, accuracy {row['accuracy']:.4f}")
    keras = result["runtimes"]["keras"]
    for row in result["runtimes"].values():
        row["startup_speedup"] = round(keras["startup_s"] / row["startup_s"], 2)
        row["throughput_ratio"] = round(row["images_per_second"] / keras["images_per_second"], 2)
    return result


def _save_png(image, path):
    from PIL import Image

    Image.fromarray(image).save(path)


def _measure(path, png, tmp, settings, data_dir):
    """Start `startup_runs` processes on `path`; the first also measures. Returns (row, probabilities)."""
    out = tmp / f"{path.stem}.probabilities.npy"
    starts = []
    for i in range(settings["startup_runs"]):
        args = [str(path), str(png)] + ([str(tmp / "test.npy"), str(settings["latency_images"]), str(out)]
                                        if i == 0 else [])
        started = time.time()
        child = subprocess.run([sys.executable, "-m", "digitrec.bench_runtimes", *args], capture_output=True,
                               text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False)
        if child.returncode != 0:
            from digitrec.errors import DigitrecError

            last = (child.stderr.strip().splitlines() or ["no output"])[-1]
            raise DigitrecError(f"measuring {path.name} failed: {last}")
        report = json.loads(child.stdout.strip().splitlines()[-1])
        starts.append(report.pop("ready") - started)
        if i == 0:
            row = {"file": path.name, "bytes": path.stat().st_size, **report}
    row["startup_s"] = round(float(np.median(starts)), 3)
    return row, np.load(out)


def _child(model, png, test_images=None, latency_images=0, out=None):
    """In a fresh process: first prediction, then (optionally) latency and throughput. Prints one JSON line."""
    from digitrec.data import to_float
    from digitrec.inference import Recognizer

    recognizer = Recognizer(model)
    recognizer.predict(png)
    report = {"ready": time.time()}
    if test_images:
        x = to_float(np.load(test_images))
        recognizer.classify(x[:1])
        latencies = []
        for image in x[1 : int(latency_images) + 1]:
            start = time.perf_counter()
            recognizer.classify(image[None])
            latencies.append(1000 * (time.perf_counter() - start))
        recognizer.classify(x[:1000], batch_size=1000)
        start = time.perf_counter()
        p = recognizer.classify(x, batch_size=1000)
        report.update(images_per_second=round(len(x) / (time.perf_counter() - start), 1),
                      latency_ms_p50=round(float(np.percentile(latencies, 50)), 3),
                      latency_ms_p95=round(float(np.percentile(latencies, 95)), 3))
        np.save(out, p)
    print(json.dumps(report))


def format_table(result):
    """Render `run`'s result as a plain-text table (str), machine and ratios below it."""
    header = ("runtime", "file MiB", "accuracy", "agree w/ Keras", "max |dp|", "p50 ms", "p95 ms", "img/s @1000",
              "start-up s")
    rows = [header]
    for name, r in result["runtimes"].items():
        rows.append((name, f"{r['bytes'] / 2**20:.2f}", f"{r['accuracy']:.2%}", f"{r['agreement_with_keras']:.2%}",
                     f"{r['max_abs_diff_from_keras']:.1e}", f"{r['latency_ms_p50']:.2f}", f"{r['latency_ms_p95']:.2f}",
                     f"{r['images_per_second']:,.0f}", f"{r['startup_s']:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    m, s = result["machine"], result["settings"]
    versions = f"onnxruntime {m.get('onnxruntime', '?')}, ai-edge-litert {m.get('ai-edge-litert', '?')}"
    lines += ["", f"machine: {m['cpu']}, {m['cores']} cores; python {m['python']}, keras {m['keras']}, {versions}"]
    lines += [f"vs Keras: {name} starts {r['startup_speedup']:.1f}x faster, batch throughput "
              f"{r['throughput_ratio']:.2f}x" for name, r in result["runtimes"].items() if name != "keras"]
    quick = " (quick mode: a smoke test)" if s["quick"] else ""
    lines.append(f"{s['test_images']:,} test images, {s['latency_images']} latency samples, "
                 f"start-up median of {s['startup_runs']} processes{quick}")
    return "\n".join(lines)


if __name__ == "__main__":
    _child(*sys.argv[1:])
