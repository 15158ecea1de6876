"""`digitrec predict --workers N`: worker processes normalize, the model runs batched, order and errors kept.

Real MNIST test digits written as PNG scans; labels compared with `Recognizer.predict` on the same files.
The bundled model's ONNX copy keeps TensorFlow out of these processes (the engine is the same for every runtime).
"""

import functools
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from digitrec import parallel
from digitrec.inference import BUNDLED_ONNX, Recognizer

N_IMAGES = 150  # three chunks of 64 (the CLI's), so --workers 2 really starts two processes
BAD = 75  # index of the corrupt file, in the middle


@functools.cache
def recognizer():
    return Recognizer(BUNDLED_ONNX)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, mnist_test):
    """N_IMAGES MNIST test digits as dark-on-white 56x56 PNG scans, and one corrupt PNG among them."""
    root = tmp_path_factory.mktemp("scans")
    images, _ = mnist_test
    for i in range(N_IMAGES):
        path = root / f"digit_{i:04d}.png"
        if i == BAD:
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a PNG" * 8)
        else:
            Image.fromarray(255 - images[i]).resize((56, 56), Image.BICUBIC).save(path)
    return root


@pytest.fixture(scope="module")
def expected(folder):
    """{file name: label} from `Recognizer.predict`, for every good file."""
    good = [p for p in sorted(folder.iterdir()) if p.name != f"digit_{BAD:04d}.png"]
    return {p.name: r.label for p, r in zip(good, recognizer().predict(good))}


@pytest.mark.parametrize("workers", [1, 2])
def test_labels_equal_recognizer_predict_in_input_order(folder, expected, workers):
    paths = sorted(folder.iterdir())
    results = list(parallel.predict_files(paths, recognizer(), workers=workers, chunk=16))
    assert [path for path, _ in results] == paths  # input order, one result per file
    labels = {path.name: outcome.label for path, outcome in results if not isinstance(outcome, str)}
    assert labels == expected
    bad = results[BAD][1]
    assert isinstance(bad, str) and f"digit_{BAD:04d}.png" in bad


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_cli_streams_json_lines_in_order_with_an_error_record(folder, expected):
    cmd = [sys.executable, "-m", "digitrec.cli", "predict", "--model", str(BUNDLED_ONNX), "--json", "--workers", "2",
           str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    code, stdout = proc.returncode, proc.stdout
    assert code == 1, proc.stderr  # one file failed
    records = [json.loads(line) for line in stdout.splitlines()]
    names = [r["path"].rsplit("/", 1)[-1] for r in records]
    assert names == sorted(p.name for p in folder.iterdir())
    assert set(records[BAD]) == {"path", "error"} and "digit_0075.png" in records[BAD]["error"]
    assert {n: r["label"] for n, r in zip(names, records) if "error" not in r} == expected
    assert all(np.isclose(sum(r["probabilities"]), 1, atol=1e-3) for r in records if "error" not in r)


def test_errors_of_find_images_pass_through_in_place(tmp_path, folder):
    paths = sorted(folder.iterdir())[:3]
    files = [(paths[0], None), (tmp_path / "gone.png", "gone.png: file not found"), (paths[1], None)]
    results = list(parallel.predict_files(files, recognizer, workers=1))
    assert [p for p, _ in results] == [paths[0], tmp_path / "gone.png", paths[1]]
    assert results[1][1] == "gone.png: file not found"
    assert [r.label for r in recognizer().predict(paths[:2])] == [results[0][1].label, results[2][1].label]


def test_a_chunk_of_blank_files_is_errors_and_loads_no_model(tmp_path, folder, expected):
    """A chunk holding no ink at all once called `choose` on the recognizer's factory (a traceback from
    `digitrec predict blank.png`); the model is now loaded for the first chunk with an image in it."""
    blank, good = tmp_path / "blank.png", sorted(folder.iterdir())[0]
    Image.new("L", (40, 40), 255).save(blank)
    made = []

    def factory():
        made.append(1)
        return recognizer()

    results = list(parallel.predict_files([blank, blank, good], factory, workers=1, chunk=2))
    assert ["no ink found" in str(outcome) for _, outcome in results] == [True, True, False]
    assert results[2][1].label == expected[good.name] and made == [1]


def test_predict_of_one_blank_file_is_one_error_line_and_exit_1(tmp_path, capsys):
    from digitrec import cli

    Image.new("L", (1, 3000), 255).save(tmp_path / "strip.png")
    assert cli.main(["predict", "--workers", "1", str(tmp_path / "strip.png")]) == 1
    out = capsys.readouterr().out
    assert "strip.png" in out and "error: no ink found" in out and "Traceback" not in out


@pytest.mark.parametrize("args, message", [
    (["--address", "127.0.0.1:6379"], "--address and --output need --engine ray"),
    (["--output", "out"], "--address and --output need --engine ray"),
    (["--format", "parquet"], "--format needs --output"),
])
def test_ray_options_without_the_ray_engine_are_one_error_line(folder, args, message, capsys):
    from digitrec import cli

    assert cli.main(["predict", *args, str(folder)]) == 1
    err = capsys.readouterr().err
    assert err == f"digitrec: error: {message}" + err.split(message, 1)[1] and err.count("\n") == 1


def test_workers_run_opencv_on_one_thread():
    """The processes are the parallelism: OpenCV's own pool threads in each would spin on the same cores
    (a third more CPU per canvas here, for no gain in wall time)."""
    import cv2

    with parallel.process_pool(2) as pool:
        assert {pool.submit(cv2.getNumThreads).result() for _ in range(4)} == {1}


def test_onnx_sessions_do_not_spin_between_calls():
    """ONNX Runtime's intra-op threads busy-wait after each call by default, taking the cores that the
    normalizing workers and the server's event loop need (about 4 ms of CPU a request under load, here)."""
    options = recognizer().runtime.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def _read_in_a_worker(data, model, min_digit_score, pairs):
    """`parallel.read_source` in a worker process, and whether that process imported TensorFlow."""
    return parallel.read_source(data, "number.png", model, min_digit_score, pairs), "tensorflow" in sys.modules


def test_a_number_is_read_in_a_worker_process_as_here_and_without_tensorflow(mnist_test):
    """The server reads numbers in its worker processes (an ONNX model): the same reading as in this process."""
    import io

    import synth

    images, labels = mnist_test
    number, _ = synth.number(images[[3, 2, 1]], np.random.default_rng(8))
    buffer = io.BytesIO()
    Image.fromarray(synth.canvas(number)).save(buffer, format="PNG")
    here = recognizer().read(buffer.getvalue())
    with parallel.process_pool(1) as pool:
        there, tensorflow = pool.submit(_read_in_a_worker, buffer.getvalue(), BUNDLED_ONNX,
                                        recognizer().min_digit_score, recognizer().pairs.path).result()
    assert not tensorflow
    assert there.text == here.text == "".join(map(str, labels[[3, 2, 1]]))
    assert [d.box for d in there.digits] == [d.box for d in here.digits]
    assert np.allclose([d.probabilities for d in there.digits], [d.probabilities for d in here.digits], atol=1e-6)
