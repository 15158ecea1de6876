"""The Ray Data engine on a real local Ray instance (127.0.0.1, 2 CPUs): labels equal the local engine's.

Uses the bundled model's ONNX copy, so that the actors start without TensorFlow (the engine's code is the
same for every runtime).
"""

import json
import subprocess
import sys

import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the Ray engine needs the 'scale' extra: pip install 'digitrec[scale]'")

import digitrec  # noqa: E402
from digitrec import parallel, scale  # noqa: E402
from digitrec.inference import BUNDLED_ONNX, Recognizer  # noqa: E402

N_IMAGES = 500
BAD = {"digit_0100.png": b"\x89PNG\r\n\x1a\n truncated", "digit_0300.png": b""}


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, mnist_test):
    """N_IMAGES MNIST test digits as 56x56 PNG scans, two of them broken (BAD)."""
    root = tmp_path_factory.mktemp("scale")
    for i, digit in enumerate(mnist_test[0][:N_IMAGES]):
        path = root / f"digit_{i:04d}.png"
        if path.name in BAD:
            path.write_bytes(BAD[path.name])
        else:
            Image.fromarray(255 - digit).resize((56, 56), Image.BICUBIC).save(path)
    return root


@pytest.fixture(scope="module")
def local(folder):
    """{file name: record} of the local engine."""
    paths = sorted(folder.iterdir())
    results = parallel.predict_files(paths, Recognizer(BUNDLED_ONNX), workers=1)
    return {path.name: parallel.record(path, outcome) for path, outcome in results}


def _by_name(records):
    return {r["path"].rsplit("/", 1)[-1]: r for r in records}


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_predict_dataset_labels_equal_the_local_engine(cluster, folder, local):
    ds = digitrec.predict_dataset(scale.read_files([folder]), model=BUNDLED_ONNX, batch_size=100)
    rows = _by_name(map(scale.as_record, ds.take_all()))
    assert set(rows) == set(local)
    assert {n: r.get("label") for n, r in rows.items()} == {n: r.get("label") for n, r in local.items()}
    for name in BAD:
        assert set(rows[name]) == {"path", "error"} and name in rows[name]["error"]
    good = [n for n in local if n not in BAD]
    assert all(set(rows[n]) == set(local[n]) for n in good)  # the same fields


@pytest.mark.slow
def test_cli_writes_parquet_through_address(cluster, folder, local, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "digitrec.cli", "predict", "--engine", "ray", "--address", cluster,
           "--model", str(BUNDLED_ONNX), "--output", str(out), "--format", "parquet", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(out)
    assert table.schema.names == list(scale.FIELDS)
    rows = _by_name(map(scale.as_record, table.to_pylist()))
    assert {n: r.get("label") for n, r in rows.items()} == {n: r.get("label") for n, r in local.items()}


@pytest.mark.slow
def test_cli_prints_json_lines_in_input_order(cluster, folder, local):
    small = sorted(folder.iterdir())[95:105]  # digit_0100.png, broken, among them
    cmd = [sys.executable, "-m", "digitrec.cli", "predict", "--engine", "ray", "--address", cluster,
           "--model", str(BUNDLED_ONNX), "--json", *map(str, small)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr  # one file failed, the others were recognized
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"].rsplit("/", 1)[-1] for r in records] == [p.name for p in small]
    assert [r.get("label") for r in records] == [local[p.name].get("label") for p in small]


@pytest.mark.slow
def test_cli_table_equals_the_local_engines(cluster, folder):
    """The same header and columns (the digit score was missing from the Ray engine's table), the same rows."""
    small = [str(p) for p in sorted(folder.iterdir())[95:102]]  # digit_0100.png, broken, among them
    tables = [subprocess.run([sys.executable, "-m", "digitrec.cli", "predict", *engine, "--model", str(BUNDLED_ONNX),
                              *small], capture_output=True, text=True, timeout=300)
              for engine in (["--engine", "ray", "--address", cluster], [])]
    assert [proc.returncode for proc in tables] == [1, 1], [proc.stderr for proc in tables]
    ray_lines, local_lines = (proc.stdout.splitlines() for proc in tables)
    assert "digit score" in ray_lines[0] and len(ray_lines) == len(small) + 1
    assert ray_lines == local_lines


def test_predict_dataset_takes_an_image_column(cluster, mnist_test):
    images = mnist_test[0][:20]  # arrays (28, 28) uint8, light ink on black, as ray.data.read_images gives them
    ds = ray.data.from_items([{"image": image} for image in images])
    rows = digitrec.predict_dataset(ds, model=BUNDLED_ONNX).take_all()
    assert [r["label"] for r in rows] == [p.label for p in Recognizer(BUNDLED_ONNX).predict(list(images))]
    assert all(r["path"] is None and r["error"] is None for r in rows)
