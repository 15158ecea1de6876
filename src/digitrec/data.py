"""MNIST: read, verify, download and split the four standard IDX files.

The MNIST database (LeCun, Cortes and Burges) holds 60,000 training and
10,000 test images of handwritten digits, 28x28 uint8, light ink (255) on a
dark background (0). Each split is two IDX files: big-endian int32 magic
(0x00000803 images, 0x00000801 labels), one big-endian int32 per dimension,
then uint8 data in C order. Files may be gzipped or not.

Where the files come from, in order:
1. the data directory: `data_dir` argument, else `$DIGITREC_DATA_DIR`,
   else `~/.cache/digitrec`;
2. a download from the public mirrors into that directory, through
   `keras.utils.get_file`. `$DIGITREC_MNIST_MIRRORS` (space-separated base
   URLs) replaces the built-in mirror list.

Whatever the source, the SHA-256 of the *decompressed* content must match
the published value, so a recompressed but identical file is accepted and
a corrupt one never is.

Once verified, each decoded array is cached beside its IDX file as
`<name>.npy` (written atomically) and later loads map that file into
memory (`numpy.load(mmap_mode="r")`) instead of decompressing and hashing
again; a cache older than its IDX file, or of the wrong shape, is rebuilt.
A data directory that cannot be written just goes without the cache.
"""

import gzip
import hashlib
import os
import shutil
import zlib
from pathlib import Path

import numpy as np

from digitrec import _atomic
from digitrec.errors import DatasetError

FILES = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "test-images": "t10k-images-idx3-ubyte",
    "test-labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the decompressed files, as published with the verified copy.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# MD5 of the .gz files that the public mirrors serve (checked by get_file).
MIRROR_GZ_MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}

MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

_MAGIC = {3: 0x00000803, 1: 0x00000801}
_COUNTS = {"train": 60000, "test": 10000}


def default_data_dir():
    """The data directory: `$DIGITREC_DATA_DIR`, else `~/.cache/digitrec` (a Path)."""
    return Path(os.environ.get("DIGITREC_DATA_DIR") or Path.home() / ".cache" / "digitrec").expanduser()


def read_idx(path, expect_ndim, expect_count=None, expect_sha256=None):
    """Read one IDX file (gzipped or not) into a NumPy array.

    Args:
        path: str or Path of the file. A name ending in `.gz` is gunzipped.
        expect_ndim: 3 for images, 1 for labels.
        expect_count: required number of items, or None for any.
        expect_sha256: required SHA-256 hex digest of the decompressed
            content, or None to skip the check.

    Returns:
        uint8 array, `(N, rows, cols)` for images or `(N,)` for labels.

    Raises:
        DatasetError: the file is missing, not gzip, truncated, too long,
            has the wrong magic number, dimensions, item count or checksum.
            The message names the file.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a corrupt deflate stream is zlib.error
        raise DatasetError(f"{path}: not a valid gzip file ({e})") from None
    header_len = 4 + 4 * expect_ndim
    if len(raw) < header_len:
        raise DatasetError(f"{path}: truncated header ({len(raw)} bytes, need {header_len})")
    magic = int.from_bytes(raw[:4], "big")
    if magic != _MAGIC[expect_ndim]:
        raise DatasetError(f"{path}: bad magic number 0x{magic:08x}, expected 0x{_MAGIC[expect_ndim]:08x}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(expect_ndim))
    if expect_ndim == 3 and dims[1:] != (28, 28):
        raise DatasetError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
    if expect_count is not None and dims[0] != expect_count:
        raise DatasetError(f"{path}: holds {dims[0]} items, expected {expect_count}")
    size = int(np.prod(dims))
    if len(raw) - header_len != size:
        what = "truncated" if len(raw) - header_len < size else "has trailing bytes"
        raise DatasetError(f"{path}: {what}: {len(raw) - header_len} data bytes, header says {size}")
    if expect_sha256 is not None and hashlib.sha256(raw).hexdigest() != expect_sha256:
        raise DatasetError(f"{path}: SHA-256 of the content does not match the published MNIST file (corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def _find_local(data_dir, name):
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def _mirrors():
    env = os.environ.get("DIGITREC_MNIST_MIRRORS")
    return tuple(env.split()) if env else MIRRORS


def _download(data_dir, name):
    """Fetch `name.gz` from the first mirror that serves a verified copy.

    Downloads go to `data_dir/.download/`; only a file whose content passed
    the SHA-256 check is renamed into `data_dir`, so an interrupted or bad
    download leaves nothing behind.
    """
    import keras  # deferred: importing Keras takes seconds

    staging = data_dir / ".download"
    # get_file silently falls back to /tmp/.keras when cache_dir is not writable (or does
    # not exist yet, as on first use), which would put the download outside `staging`.
    data_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    for base in _mirrors():
        url = base.rstrip("/") + f"/{name}.gz"
        md5 = MIRROR_GZ_MD5[name] if base in MIRRORS else None
        target = staging / f"{name}.gz"
        try:
            keras.utils.get_file(
                fname=f"{name}.gz", origin=url, file_hash=md5, cache_dir=str(data_dir), cache_subdir=".download"
            )
            read_idx(target, 3 if "images" in name else 1, expect_sha256=SHA256[name])
            os.replace(target, data_dir / f"{name}.gz")
            return data_dir / f"{name}.gz"
        except (Exception, KeyboardInterrupt) as e:
            target.unlink(missing_ok=True)
            if isinstance(e, KeyboardInterrupt):
                raise
            errors.append(f"{url}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    raise DatasetError(f"{name}: not in {data_dir} and no mirror gave a verified copy ({'; '.join(errors)})")


def _cached(path, ndim, count, sha256):
    """The verified array of IDX file `path`, through its `.npy` cache beside it."""
    cache = path.with_name(path.name.removesuffix(".gz") + ".npy")
    try:
        if cache.stat().st_mtime >= path.stat().st_mtime:
            array = np.load(cache, mmap_mode="r", allow_pickle=False)
            if array.dtype == np.uint8 and array.shape[0] == count and array.shape[1:] == (28, 28)[: ndim - 1]:
                return np.asarray(array)
    except (OSError, ValueError):  # no cache yet, or an unreadable one: rebuild it
        pass
    array = read_idx(path, ndim, count, sha256)
    try:
        with _atomic.atomic_path(cache, suffix=".npy") as tmp:
            np.save(tmp, array, allow_pickle=False)
    except OSError:  # a read-only data directory: no cache
        pass
    return array


def load_split(split="train", data_dir=None, download=True):
    """Load one MNIST split, downloading it if it is not in the data directory.

    Args:
        split: "train" (60,000 images) or "test" (10,000 images).
        data_dir: folder holding the IDX files (gzipped or not); default
            `default_data_dir()`.
        download: fetch missing files from the mirrors (True) or fail (False).

    Returns:
        `(images, labels)`: uint8 `(N, 28, 28)` in [0, 255], light ink on
        dark, and uint8 `(N,)` in [0, 9]; read-only arrays (mapped from the
        `.npy` cache when there is one, see the module docstring).

    Raises:
        DatasetError: a file is missing (and cannot be downloaded), corrupt
            or fails its SHA-256 check.
        ValueError: `split` is not "train" or "test".
    """
    if split not in _COUNTS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
    arrays = []
    for kind, ndim in (("images", 3), ("labels", 1)):
        name = FILES[f"{split}-{kind}"]
        path = _find_local(data_dir, name)
        if path is None:
            if not download:
                raise DatasetError(f"{name}: not found in {data_dir}")
            path = _download(data_dir, name)
        arrays.append(_cached(path, ndim, _COUNTS[split], SHA256[name]))
    return arrays[0], arrays[1]


def stratified_split(labels, val_fraction, seed=0):
    """Split indices into train and validation, keeping class proportions.

    Args:
        labels: int array `(N,)`.
        val_fraction: float in [0, 1), the share of each class held out.
        seed: int seed of the shuffle; the same seed gives the same split.

    Returns:
        `(train_idx, val_idx)`: int64 index arrays, each shuffled.

    Raises:
        ValueError: `val_fraction` is outside [0, 1).
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"validation split must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(len(idx) * val_fraction))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val))


def training_subset(labels, train_size=None, seed=0):
    """The indices of a run's `--train-size` subset of `labels`, class proportions kept: int64 `(train_size,)`.

    All indices, in order, when `train_size` is None or not smaller than
    `len(labels)`; else the training part of `stratified_split` with that
    `seed` (shuffled). `digitrec.training` trains on it and holds its
    validation split out of it; `rejection.validation_images` finds that
    split again.
    """
    if not train_size or train_size >= len(labels):
        return np.arange(len(labels))
    return stratified_split(labels, 1 - train_size / len(labels), seed)[0]


def to_float(images):
    """Scale uint8 images to the model's input.

    Args:
        images: uint8 `(N, 28, 28)` in [0, 255] (or float in [0, 1]).

    Returns:
        float32 `(N, 28, 28, 1)` in [0, 1].
    """
    x = np.asarray(images)
    x = x.astype("float32") / 255.0 if x.dtype == np.uint8 else x.astype("float32")
    return x[..., None]
