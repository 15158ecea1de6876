"""`digitrec export` and the runtimes it feeds: ONNX Runtime and LiteRT against Keras on real MNIST.

The parity tests export the bundled model with the real command and compare
every runtime with Keras on the 10,000 test images; the TensorFlow-free
tests run the ONNX path in fresh processes, one of them in a virtualenv that
has only `digitrec[onnx,serve]` installed.
"""

import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

import numpy as np
import pytest

from digitrec import runtimes
from digitrec.bench_runtimes import VARIANTS
from digitrec.cli import main
from digitrec.data import to_float
from digitrec.errors import ModelError
from digitrec.inference import BUNDLED_MODEL, BUNDLED_ONNX, Recognizer
from live_server import DIGITS, scan_png

ROOT = Path(__file__).resolve().parents[1]


def probabilities(model, images):
    """`(N, 10)` probabilities of uint8 MNIST `images` through `model`'s runtime, in batches of 1,000."""
    runtime = runtimes.load(model)
    x = to_float(images)
    return np.concatenate([runtime.predict(x[i : i + 1000]) for i in range(0, len(x), 1000)])


@pytest.fixture(scope="module")
def bundled():
    """The bundled model in Keras: `architecture` and `parameters` are what every export must say."""
    return runtimes.load(BUNDLED_MODEL)


@pytest.fixture(scope="module")
def keras_test_probabilities(bundled, mnist_test):
    return probabilities(bundled, mnist_test[0])


@pytest.fixture(scope="module")
def keras_first_1000(bundled, mnist_test):
    return probabilities(bundled, mnist_test[0][:1000])


@pytest.fixture(scope="module")
def exported(tmp_path_factory, mnist_dir):
    """`exported(name)`: the bundled model exported by `digitrec export` as VARIANTS[name], once per module.

    `exported.printed[name]` is what the command printed.
    """
    files, printed = {}, {}

    def get(name):
        if name not in files:
            fmt, quantize, suffix = VARIANTS[name]
            out = tmp_path_factory.mktemp(name) / f"digits{suffix}"
            argv = ["export", "--model", "bundled", "--format", fmt, "--out", str(out), "--data-dir", str(mnist_dir)]
            with contextlib.redirect_stdout(io.StringIO()) as stdout:
                assert main(argv + (["--quantize", quantize] if quantize else [])) == 0
            files[name], printed[name] = out, stdout.getvalue()
        return files[name]

    get.printed = printed
    return get


def one_line_error(capsys, argv):
    """Run the CLI in this process; returns its one stderr line, which must be a `digitrec: error:`."""
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digitrec: error: "), lines
    return lines[0]


# ---------------------------------------------------------------- export: the command and its errors


def test_export_onnx_writes_a_tagged_model_that_matches_keras(exported, bundled, mnist_test, keras_first_1000):
    out = exported("onnx")
    printed = exported.printed["onnx"]
    assert re.fullmatch(rf"exported: {re.escape(str(out))} \(\d+\.\d\d MiB, onnx, float32\)\n", printed), printed
    assert sorted(os.listdir(out.parent)) == ["digits.onnx"]  # written atomically: no temporary file left
    runtime = runtimes.load(out)
    assert (runtime.kind, runtime.architecture, runtime.parameters, runtime.quantization) == (
        "onnx", bundled.architecture, bundled.parameters, None)
    p = probabilities(out, mnist_test[0][:1000])
    assert np.abs(p - keras_first_1000).max() <= 1e-4


@pytest.mark.parametrize("args, message", [
    (["--format", "pdf", "--out", "x.pdf"], "unknown export format 'pdf'; choose one of: onnx, litert"),
    (["--format", "onnx", "--quantize", "int8", "--out", "x.onnx"],
     "--quantize int8 is not supported with --format onnx (supported: --format litert --quantize int8)"),
    (["--format", "litert", "--quantize", "int4", "--out", "x.tflite"], "--quantize int4 is not supported"),
    (["--format", "litert", "--out", "x.onnx"], "x.onnx: a litert file must end with .tflite"),
])
def test_export_option_errors(capsys, monkeypatch, tmp_path, args, message):
    out = Path(args[-1])
    monkeypatch.chdir(tmp_path)
    assert message in one_line_error(capsys, ["export", "--model", "bundled", *args])
    assert not out.exists()


def test_export_refuses_what_is_not_a_digitrec_keras_model(capsys, tmp_path):
    import keras

    other = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    other.save(tmp_path / "cifar.keras")
    (tmp_path / "notes.keras").write_text("not a model\n")
    out = tmp_path / "x.onnx"
    cases = {"cifar.keras": "not a digitrec model: input (N, 32, 32, 3), output (N, 10)",
             "notes.keras": "not a Keras model archive", "missing.keras": "model file not found",
             "default.onnx": "not a .keras file; digitrec export converts a Keras model"}
    for name, message in cases.items():
        model = BUNDLED_ONNX if name == "default.onnx" else tmp_path / name
        line = one_line_error(capsys, ["export", "--model", str(model), "--format", "onnx", "--out", str(out)])
        assert str(model) in line and message in line, line
    assert sorted(os.listdir(tmp_path)) == ["cifar.keras", "notes.keras"]


# ---------------------------------------------------------------- runtimes: foreign and broken files


def test_runtimes_refuse_broken_and_foreign_files(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    onnx.save(helper.make_model(graph), tmp_path / "other.onnx")
    (tmp_path / "garbage.onnx").write_bytes(os.urandom(2048))
    (tmp_path / "garbage.tflite").write_bytes(os.urandom(2048))
    (tmp_path / "model.h5").write_bytes(b"\x89HDF")
    cases = {"other.onnx": "not a digitrec model: input (N, 3), output (N, 3); expected (N, 28, 28, 1)",
             "garbage.onnx": "cannot load ONNX model", "garbage.tflite": "cannot load LiteRT model",
             "model.h5": "unknown model format '.h5'; expected one of .keras, .onnx, .tflite",
             "missing.onnx": "model file not found"}
    for name, message in cases.items():
        with pytest.raises(ModelError) as e:
            Recognizer(tmp_path / name)
        assert str(tmp_path / name) in str(e.value) and message in str(e.value)
        assert len(str(e.value).splitlines()) == 1


def test_predict_cli_with_a_broken_onnx_file(capsys, tmp_path):
    (tmp_path / "digits.onnx").write_bytes(b"not onnx")
    (tmp_path / "seven.png").write_bytes(scan_png(np.eye(28, dtype=np.uint8) * 255))
    line = one_line_error(capsys, ["predict", "--model", str(tmp_path / "digits.onnx"), str(tmp_path / "seven.png")])
    assert "digits.onnx: cannot load ONNX model" in line


# ---------------------------------------------------------------- parity with Keras on the 10,000 test images


def test_bundled_onnx_is_the_bundled_keras_model(mnist_test, keras_first_1000):
    """default.onnx must follow default.keras: re-export it whenever the bundled model changes."""
    p = probabilities(BUNDLED_ONNX, mnist_test[0][:1000])
    assert np.abs(p - keras_first_1000).max() <= 1e-4, (
        "src/digitrec/assets/default.onnx is stale: digitrec export --model bundled --format onnx "
        "--out src/digitrec/assets/default.onnx")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["onnx", "litert"])
def test_float_exports_agree_with_keras(exported, name, mnist_test, keras_test_probabilities):
    p = probabilities(exported(name), mnist_test[0])
    agreement = np.mean(p.argmax(1) == keras_test_probabilities.argmax(1))
    assert agreement >= 0.9995, f"{name}: the same digit as Keras on {agreement:.4%} of 10,000 images"
    assert np.abs(p - keras_test_probabilities).max() <= 1e-4


@pytest.mark.slow
def test_int8_litert_keeps_accuracy_in_under_30_percent_of_the_size(exported, mnist_test, keras_test_probabilities):
    images, labels = mnist_test
    int8, float32 = exported("litert-int8"), exported("litert")
    runtime = runtimes.load(int8)
    assert (runtime.kind, runtime.quantization) == ("litert", "int8")
    assert runtime._in["dtype"] == np.int8 and runtime._out["dtype"] == np.int8  # integer-only input and output
    keras_accuracy = np.mean(keras_test_probabilities.argmax(1) == labels)
    int8_accuracy = np.mean(probabilities(int8, images).argmax(1) == labels)
    assert int8_accuracy >= keras_accuracy - 0.001, (int8_accuracy, keras_accuracy)
    assert int8.stat().st_size <= 0.30 * float32.stat().st_size, (int8.stat().st_size, float32.stat().st_size)


@pytest.mark.slow
def test_evaluate_scores_an_exported_model(exported, bundled, capsys, mnist_dir, keras_test_probabilities,
                                           mnist_test):
    assert main(["evaluate", "--model", str(exported("litert")), "--json", "--data-dir", str(mnist_dir)]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["accuracy"] == np.mean(keras_test_probabilities.argmax(1) == mnist_test[1])
    assert metrics["params"] == bundled.parameters and metrics["n_test"] == 10000


# ---------------------------------------------------------------- the TensorFlow-free path

TF_FREE = """
import json, sys
from fastapi.testclient import TestClient
from digitrec import Recognizer
from digitrec.cli import main
from digitrec.server import create_app

model, png = sys.argv[1:]
[prediction] = Recognizer(model).predict(png)
status = main(["predict", "--json", "--model", model, png])
with TestClient(create_app(model), base_url="http://127.0.0.1") as client:  # a Host the server answers
    answer = client.post("/api/predict", files={"file": ("digit.png", open(png, "rb"), "image/png")}).json()
    reading = client.post("/api/read", files={"file": ("digit.png", open(png, "rb"), "image/png")}).json()
    info = client.get("/api/model").json()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx"))
print(json.dumps({"label": prediction.label, "status": status, "served": answer["label"], "info": info,
                  "read": reading["text"],
                  "loaded": loaded}))
"""


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_onnx_predict_and_serve_never_import_tensorflow(tmp_path, bundled, mnist_test):
    images, labels = mnist_test
    png = tmp_path / "digit.png"
    png.write_bytes(scan_png(images[18]))
    model = tmp_path / "digits.onnx"
    shutil.copy(BUNDLED_ONNX, model)
    shutil.copy(BUNDLED_MODEL.with_name("MODEL_CARD.md"), tmp_path)
    child = subprocess.run([sys.executable, "-c", TF_FREE, str(model), str(png)], capture_output=True, text=True,
                           timeout=300, check=False)
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert result["label"] == result["served"] == labels[18] == 3 and result["status"] == 0 and result["read"] == "3"
    info = result["info"]
    assert (info["runtime"], info["architecture"], info["parameters"], info["name"]) == (
        "onnx", bundled.architecture, bundled.parameters, "digits")
    assert info["metrics"]["accuracy"] > 0.99 and info["metrics_source"] == "MODEL_CARD.md"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_onnx_extra_alone_predicts_and_serves(tmp_path, mnist_dir, mnist_test):
    """A fresh virtualenv with `digitrec[onnx,serve]` only: no TensorFlow, no Keras, and predict, evaluate
    and serve work; the verbs that need Keras say which extra to install."""
    import httpx

    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, digitrec = env_dir / "bin" / "python", env_dir / "bin" / "digitrec"
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", f"{source}[onnx,serve]"],
                             capture_output=True, text=True, timeout=900, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    for module in ("tensorflow", "keras"):
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, check=False)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, module

    images, _ = mnist_test
    for index, label in DIGITS.items():
        (tmp_path / f"{label}.png").write_bytes(scan_png(images[index]))
    pngs = [tmp_path / f"{label}.png" for label in range(10)]
    model = tmp_path / "digits.onnx"
    shutil.copy(BUNDLED_ONNX, model)
    for extra in ([], ["--model", str(model)]):  # the bundled model (its ONNX copy here) and a given file
        predict = subprocess.run([digitrec, "predict", "--json", *extra, *map(str, pngs)], capture_output=True,
                                 text=True, timeout=300, check=False)
        assert predict.returncode == 0, predict.stderr[-3000:]
        assert [json.loads(line)["label"] for line in predict.stdout.splitlines()] == list(range(10))

    evaluate = subprocess.run([digitrec, "evaluate", "--json", "--model", str(model), "--data-dir", str(mnist_dir)],
                              capture_output=True, text=True, timeout=300, check=False)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert json.loads(evaluate.stdout)["accuracy"] >= 0.99

    keras_model = tmp_path / "digits.keras"
    shutil.copy(BUNDLED_MODEL, keras_model)
    missing = "needs keras, which is not installed: pip install"
    needs_keras = {  # verbs that need Keras, and the one line each must print
        ("train", "--epochs", "1"): f"digitrec train {missing} 'digitrec[keras]'",
        ("predict", "--model", str(keras_model), str(pngs[0])): f"{keras_model}: a .keras model {missing} "
                                                                 "'digitrec[keras]'",
        ("export", "--model", "bundled", "--format", "onnx", "--out", str(tmp_path / "x.onnx")):
            f"digitrec export {missing} 'digitrec[export]'",
    }
    for argv, message in needs_keras.items():
        refused = subprocess.run([digitrec, *argv], capture_output=True, text=True, timeout=300, check=False)
        assert refused.returncode == 1 and refused.stderr.strip() == f"digitrec: error: {message}", refused.stderr

    port = _free_port()
    server = subprocess.Popen([digitrec, "serve", "--model", str(model), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read()[-3000:]
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        answer = httpx.post(f"{url}/api/predict", files={"file": ("seven.png", pngs[7].read_bytes())}, timeout=30)
        assert answer.status_code == 200 and answer.json()["label"] == 7
        assert httpx.get(f"{url}/api/model", timeout=10).json()["runtime"] == "onnx"
    finally:
        server.terminate()
        server.wait(timeout=30)


# ---------------------------------------------------------------- digitrec bench --runtimes


@pytest.mark.slow
def test_bench_runtimes_quick(capsys, tmp_path, mnist_dir):
    out = tmp_path / "runtimes.json"
    assert main(["bench", "--runtimes", "--quick", "--out", str(out), "--data-dir", str(mnist_dir)]) == 0
    result = json.loads(out.read_text())
    rows = result["runtimes"]
    assert list(rows) == ["keras", "onnx", "litert", "litert-int8"]
    for name, row in rows.items():
        assert row["startup_s"] > 0 and 0 < row["latency_ms_p50"] <= row["latency_ms_p95"]
        assert row["images_per_second"] > 0 and row["accuracy"] > 0.98, (name, row)
    for name in ("onnx", "litert"):
        assert rows[name]["agreement_with_keras"] >= 0.9995 and rows[name]["max_abs_diff_from_keras"] <= 1e-4
    assert rows["litert-int8"]["bytes"] <= 0.30 * rows["litert"]["bytes"]
    assert rows["keras"]["startup_speedup"] == 1.0 and rows["keras"]["throughput_ratio"] == 1.0
    table = capsys.readouterr().out
    assert "litert-int8" in table and "vs Keras: onnx starts" in table
