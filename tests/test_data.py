"""digitrec.data: the IDX reader, the real MNIST files, splits, and the verified download.

The download tests run a real HTTP server on 127.0.0.1 and point the product at it
through $DIGITREC_MNIST_MIRRORS; nothing leaves the machine.
"""

import functools
import gzip
import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from digitrec import data
from digitrec.errors import DatasetError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
TEST_CACHES = ("t10k-images-idx3-ubyte.npy", "t10k-labels-idx1-ubyte.npy")  # written beside them on first load


# --------------------------------------------------------------------------- helpers


def idx_bytes(array, magic=None, dims=None):
    """The IDX encoding of a uint8 array: big-endian magic, one int32 per dim, data.

    `magic` and `dims` override what the array implies, to build corrupt files.
    """
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    dims = array.shape if dims is None else dims
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in dims)
    return header + array.tobytes()


def write_idx(path, payload, gz=None):
    """Write `payload` bytes to `path`, gzipped when the name ends in .gz (or `gz` says so)."""
    path = Path(path)
    if gz if gz is not None else path.suffix == ".gz":
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def sample_images(n=3):
    rng = np.random.default_rng(42)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def assert_dataset_error(excinfo, path, *fragments):
    message = str(excinfo.value)
    assert Path(path).name in message, message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """Start real HTTP servers for folders; returns `serve(folder) -> base URL`."""
    servers = []

    def start(folder):
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder))
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def copy_test_split(mnist_dir, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in TEST_FILES:
        (folder / name).write_bytes((mnist_dir / name).read_bytes())
    return folder


def corrupt_test_split(mnist_dir, folder):
    """A mirror whose files are valid gzip and valid IDX but with altered pixels/labels."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in TEST_FILES:
        raw = bytearray(gzip.decompress((mnist_dir / name).read_bytes()))
        for i in range(len(raw) - 50, len(raw) - 40):  # data bytes, not the header
            raw[i] ^= 0x01
        (folder / name).write_bytes(gzip.compress(bytes(raw), compresslevel=1))
    return folder


def folder_contents(folder):
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*"))


# --------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_images(tmp_path, suffix):
    images = sample_images(3)
    path = write_idx(tmp_path / f"imgs-idx3-ubyte{suffix}", idx_bytes(images))
    out = data.read_idx(path, 3, 3, hashlib.sha256(idx_bytes(images)).hexdigest())
    assert out.shape == (3, 28, 28)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_labels(tmp_path, suffix):
    labels = np.array([7, 0, 9, 3, 3], dtype=np.uint8)
    path = write_idx(tmp_path / f"labels-idx1-ubyte{suffix}", idx_bytes(labels))
    out = data.read_idx(str(path), 1, 5, hashlib.sha256(idx_bytes(labels)).hexdigest())
    assert out.shape == (5,)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, labels)


def test_read_idx_without_count_or_checksum(tmp_path):
    images = sample_images(2)
    path = write_idx(tmp_path / "imgs.gz", idx_bytes(images))
    np.testing.assert_array_equal(data.read_idx(path, 3), images)


def test_read_idx_recompressed_file_is_accepted(tmp_path, mnist_dir):
    """The checksum is of the content: a different gzip wrapper of the same bytes passes."""
    name = "t10k-labels-idx1-ubyte"
    raw = gzip.decompress((mnist_dir / f"{name}.gz").read_bytes())
    path = tmp_path / f"{name}.gz"
    path.write_bytes(gzip.compress(raw, compresslevel=1, mtime=12345))
    assert path.read_bytes() != (mnist_dir / f"{name}.gz").read_bytes()
    labels = data.read_idx(path, 1, 10000, data.SHA256[name])
    assert labels.shape == (10000,)


def test_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "bad-magic.gz", idx_bytes(sample_images(), magic=0x00000802))
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3)
    assert_dataset_error(e, path, "magic", "0x00000802")


def test_labels_file_read_as_images_has_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "labels-as-images", idx_bytes(np.zeros(784 * 2, np.uint8)))
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3)
    assert_dataset_error(e, path, "magic")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_data(tmp_path, suffix):
    payload = idx_bytes(sample_images(3))[:-100]
    path = write_idx(tmp_path / f"short{suffix}", payload)
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3)
    assert_dataset_error(e, path, "truncated")


def test_trailing_bytes(tmp_path):
    path = write_idx(tmp_path / "long.gz", idx_bytes(sample_images(3)) + b"\x00\x01")
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3)
    assert_dataset_error(e, path, "trailing")


def test_wrong_item_count(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "ten-labels", idx_bytes(labels))
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 1, expect_count=11)
    assert_dataset_error(e, path, "10 items", "expected 11")


def test_header_count_disagrees_with_data(tmp_path):
    """The header claims more items than the file holds: truncated."""
    labels = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "lying-header", idx_bytes(labels, dims=(12,)))
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 1)
    assert_dataset_error(e, path, "truncated")


def test_images_not_28x28(tmp_path):
    images = np.zeros((2, 32, 32), dtype=np.uint8)
    path = write_idx(tmp_path / "big-images.gz", idx_bytes(images))
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3)
    assert_dataset_error(e, path, "32x32", "28x28")


@pytest.mark.parametrize("length", [0, 3, 11])
def test_truncated_header(tmp_path, length):
    path = write_idx(tmp_path / "stub", idx_bytes(sample_images(1))[:length])
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3)
    assert_dataset_error(e, path, "header")


def test_plain_bytes_in_a_gz_file(tmp_path):
    path = write_idx(tmp_path / "not-really-gzip.gz", idx_bytes(sample_images()), gz=False)
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3)
    assert_dataset_error(e, path, "gzip")


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(sample_images(5)))[:-200])
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3)
    assert_dataset_error(e, path, "gzip")


def test_corrupt_deflate_stream(tmp_path, mnist_dir):
    """Bytes flipped inside the compressed stream (zlib.error or a CRC failure) are a DatasetError."""
    blob = bytearray((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    for i in range(200, 260):
        blob[i] ^= 0xFF
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 1)
    assert_dataset_error(e, path, "gzip")


def test_sha256_mismatch(tmp_path):
    images = sample_images(2)
    path = write_idx(tmp_path / "imgs.gz", idx_bytes(images))
    wrong = hashlib.sha256(idx_bytes(images[::-1])).hexdigest()
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3, 2, wrong)
    assert_dataset_error(e, path, "SHA-256")


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere-idx3-ubyte.gz"
    with pytest.raises(DatasetError) as e:
        data.read_idx(path, 3)
    assert_dataset_error(e, path, "not found")


# --------------------------------------------------------------------------- the real files


def test_load_test_split(mnist_test):
    images, labels = mnist_test
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels.min() == 0 and labels.max() == 9
    assert set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images.min() == 0
    # light ink on a dark background: most pixels are background
    assert np.median(images) == 0


@pytest.fixture(scope="session")
def mnist_train(mnist_dir):
    return data.load_split("train", mnist_dir)


def test_load_train_split(mnist_train):
    images, labels = mnist_train
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels.min() == 0 and labels.max() == 9
    counts = np.bincount(labels, minlength=10)
    assert len(counts) == 10 and counts.min() > 5000  # every class present, roughly balanced


def test_load_split_reads_uncompressed_files(tmp_path, mnist_dir):
    for name in TEST_FILES:
        (tmp_path / name[:-3]).write_bytes(gzip.decompress((mnist_dir / name).read_bytes()))
    images, labels = data.load_split("test", tmp_path, download=False)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)


def test_load_split_default_dir_comes_from_environment(monkeypatch, mnist_dir):
    monkeypatch.setenv("DIGITREC_DATA_DIR", str(mnist_dir))
    assert data.default_data_dir() == mnist_dir
    images, _ = data.load_split("test", download=False)
    assert images.shape == (10000, 28, 28)


def test_load_split_no_download_on_empty_dir(tmp_path):
    with pytest.raises(DatasetError) as e:
        data.load_split("test", tmp_path, download=False)
    assert "t10k-images-idx3-ubyte" in str(e.value)
    assert folder_contents(tmp_path) == []


def test_load_split_rejects_a_corrupt_local_file(tmp_path, mnist_dir):
    corrupt_test_split(mnist_dir, tmp_path)
    with pytest.raises(DatasetError) as e:
        data.load_split("test", tmp_path, download=False)
    assert_dataset_error(e, "t10k-images-idx3-ubyte.gz", "SHA-256")
    assert folder_contents(tmp_path) == sorted(TEST_FILES)  # nothing unverified is cached


def test_load_split_maps_its_cache_on_the_next_load(tmp_path, mnist_dir, mnist_test):
    copy_test_split(mnist_dir, tmp_path)
    first = data.load_split("test", tmp_path, download=False)
    assert folder_contents(tmp_path) == sorted(TEST_FILES + TEST_CACHES)
    # The next load never opens the IDX files: replace them by garbage (mtime kept older than the cache).
    for name in TEST_FILES:
        stat = (tmp_path / name).stat()
        (tmp_path / name).write_bytes(b"not gzip")
        os.utime(tmp_path / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    images, labels = data.load_split("test", tmp_path, download=False)
    assert isinstance(images.base, np.memmap) and not images.flags.writeable
    for got, loaded, expected in zip((images, labels), first, mnist_test):
        assert type(got) is np.ndarray and got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(loaded, expected)


@pytest.mark.parametrize("damage", ["stale", "truncated", "wrong shape"])
def test_load_split_rebuilds_a_bad_cache_from_the_verified_files(tmp_path, mnist_dir, mnist_test, damage):
    copy_test_split(mnist_dir, tmp_path)
    cache = tmp_path / TEST_CACHES[0]
    if damage == "stale":  # older than its IDX file, e.g. the file was replaced since
        np.save(cache, np.zeros((10000, 28, 28), np.uint8))
        os.utime(cache, (0, 0))
    elif damage == "truncated":
        data.load_split("test", tmp_path, download=False)
        cache.write_bytes(cache.read_bytes()[:5000])
    else:
        np.save(cache, np.zeros((5, 28, 28), np.uint8))
    images, _ = data.load_split("test", tmp_path, download=False)
    np.testing.assert_array_equal(images, mnist_test[0])
    np.testing.assert_array_equal(np.load(cache), mnist_test[0])
    assert folder_contents(tmp_path) == sorted(TEST_FILES + TEST_CACHES)


def test_load_split_without_a_writable_cache_still_loads(tmp_path, mnist_dir, mnist_test):
    # A folder where the cache file should go: it can neither be read nor replaced.
    copy_test_split(mnist_dir, tmp_path)
    (tmp_path / TEST_CACHES[0]).mkdir()
    images, labels = data.load_split("test", tmp_path, download=False)
    np.testing.assert_array_equal(images, mnist_test[0])
    np.testing.assert_array_equal(labels, mnist_test[1])
    assert folder_contents(tmp_path) == sorted(TEST_FILES + TEST_CACHES)  # no temporary file left behind


@pytest.mark.parametrize("split", ["val", "TRAIN", "", None])
def test_load_split_bad_name(split, mnist_dir):
    with pytest.raises(ValueError, match="split"):
        data.load_split(split, mnist_dir)


# --------------------------------------------------------------------------- splits


def uneven_labels():
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(10), [5, 17, 33, 100, 1, 2, 64, 250, 9, 40])
    return rng.permutation(labels).astype(np.uint8)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_stratified_split_partitions_and_keeps_proportions(fraction, mnist_test):
    for labels in (uneven_labels(), mnist_test[1]):
        train, val = data.stratified_split(labels, fraction, seed=3)
        assert train.dtype.kind == "i" and val.dtype.kind == "i"
        assert len(np.intersect1d(train, val)) == 0
        both = np.concatenate([train, val])
        assert len(both) == len(labels)
        np.testing.assert_array_equal(np.sort(both), np.arange(len(labels)))
        for c in range(10):
            n_c = np.sum(labels == c)
            n_val_c = np.sum(labels[val] == c)
            assert abs(n_val_c - fraction * n_c) <= 1, (c, n_c, n_val_c)


def test_stratified_split_is_shuffled(mnist_test):
    train, val = data.stratified_split(mnist_test[1], 0.1, seed=0)
    # not grouped by class: the first 100 validation labels span several classes
    assert len(np.unique(mnist_test[1][val[:100]])) >= 5
    assert not np.all(np.diff(train) > 0)


def test_stratified_split_seed(mnist_test):
    labels = mnist_test[1]
    a_train, a_val = data.stratified_split(labels, 0.2, seed=11)
    b_train, b_val = data.stratified_split(labels, 0.2, seed=11)
    np.testing.assert_array_equal(a_train, b_train)
    np.testing.assert_array_equal(a_val, b_val)
    c_train, c_val = data.stratified_split(labels, 0.2, seed=12)
    assert not np.array_equal(np.sort(a_val), np.sort(c_val))
    assert not np.array_equal(a_train, c_train)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_stratified_split_bad_fraction(fraction):
    with pytest.raises(ValueError, match="validation split"):
        data.stratified_split(uneven_labels(), fraction)


def test_to_float(mnist_test):
    images = mnist_test[0][:64]
    x = data.to_float(images)
    assert x.dtype == np.float32
    assert x.shape == (64, 28, 28, 1)
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x[..., 0] * 255, images, atol=1e-4)


def test_to_float_keeps_float_input():
    x = np.array([[[0.0, 0.5], [0.25, 1.0]]], dtype="float64")
    out = data.to_float(x)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(out[..., 0], x)


# --------------------------------------------------------------------------- download


def test_download_from_mirror(tmp_path, mnist_dir, mnist_test, serve, monkeypatch):
    base = serve(copy_test_split(mnist_dir, tmp_path / "mirror"))
    monkeypatch.setenv("DIGITREC_MNIST_MIRRORS", base)
    target = tmp_path / "data"
    target.mkdir()
    images, labels = data.load_split("test", target)
    np.testing.assert_array_equal(images, mnist_test[0])
    np.testing.assert_array_equal(labels, mnist_test[1])
    assert folder_contents(target) == sorted(TEST_FILES + TEST_CACHES)
    # the next load finds the files locally
    images2, _ = data.load_split("test", target, download=False)
    np.testing.assert_array_equal(images2, images)


def test_download_creates_the_data_dir(tmp_path, mnist_dir, serve, monkeypatch):
    """First use: the data directory does not exist yet (as ~/.cache/digitrec)."""
    monkeypatch.setenv("DIGITREC_MNIST_MIRRORS", serve(copy_test_split(mnist_dir, tmp_path / "mirror")))
    target = tmp_path / "new" / "data"
    images, labels = data.load_split("test", target)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert folder_contents(target) == sorted(TEST_FILES + TEST_CACHES)


@pytest.mark.parametrize("damage", ["content", "truncated"])
def test_download_of_a_corrupt_copy_fails_and_leaves_nothing(tmp_path, mnist_dir, serve, monkeypatch, damage):
    mirror = tmp_path / "mirror"
    if damage == "content":
        corrupt_test_split(mnist_dir, mirror)
    else:
        copy_test_split(mnist_dir, mirror)
        for name in TEST_FILES:
            blob = (mirror / name).read_bytes()
            (mirror / name).write_bytes(blob[: len(blob) // 2])
    monkeypatch.setenv("DIGITREC_MNIST_MIRRORS", serve(mirror))
    target = tmp_path / "data"
    target.mkdir()
    with pytest.raises(DatasetError) as e:
        data.load_split("test", target)
    assert "t10k-images-idx3-ubyte" in str(e.value)
    assert ("SHA-256" if damage == "content" else "gzip") in str(e.value)
    assert folder_contents(target) == []


def test_download_falls_back_to_the_next_mirror(tmp_path, mnist_dir, mnist_test, serve, monkeypatch):
    bad = serve(corrupt_test_split(mnist_dir, tmp_path / "bad"))
    good = serve(copy_test_split(mnist_dir, tmp_path / "good"))
    monkeypatch.setenv("DIGITREC_MNIST_MIRRORS", f"{bad} {good}")
    target = tmp_path / "data"
    target.mkdir()
    images, labels = data.load_split("test", target)
    np.testing.assert_array_equal(images, mnist_test[0])
    np.testing.assert_array_equal(labels, mnist_test[1])
    assert folder_contents(target) == sorted(TEST_FILES + TEST_CACHES)


def test_download_from_a_closed_port(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITREC_MNIST_MIRRORS", closed_port_url())
    target = tmp_path / "data"
    target.mkdir()
    with pytest.raises(DatasetError) as e:
        data.load_split("test", target)
    assert "t10k-images-idx3-ubyte" in str(e.value)
    assert str(target) in str(e.value)
    assert folder_contents(target) == []


def test_download_missing_file_on_mirror(tmp_path, mnist_dir, serve, monkeypatch):
    """A mirror that answers 404 for the labels: the error names that file."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / TEST_FILES[0]).write_bytes((mnist_dir / TEST_FILES[0]).read_bytes())
    monkeypatch.setenv("DIGITREC_MNIST_MIRRORS", serve(mirror))
    target = tmp_path / "data"
    target.mkdir()
    with pytest.raises(DatasetError) as e:
        data.load_split("test", target)
    assert "t10k-labels-idx1-ubyte" in str(e.value) and "404" in str(e.value)
    # the verified images file (and its decoded cache) is kept, nothing else
    assert folder_contents(target) == [TEST_FILES[0], TEST_CACHES[0]]
