"""Shared fixtures: the real MNIST files and the real-world development set.

CI sets DIGITREC_DATA_DIR to ../shared/data/mnist; locally it defaults to that.
"""

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("DIGITREC_DATA_DIR", str(ROOT.parent / "shared" / "data" / "mnist"))


@pytest.fixture(scope="session")
def mnist_dir():
    path = Path(os.environ["DIGITREC_DATA_DIR"])
    assert (path / "t10k-images-idx3-ubyte.gz").exists(), f"MNIST not found in {path}"
    return path


@pytest.fixture(scope="session")
def mnist_test(mnist_dir):
    from digitrec import data

    return data.load_split("test", mnist_dir)


@pytest.fixture(scope="session")
def dev_set():
    """(images uint8 (2880, 32, 32) light-on-dark, labels uint8 (2880,)) from realworld-dev."""
    path = Path(os.environ.get("DIGITREC_DEV_DIR", ROOT.parent / "shared" / "data" / "realworld-dev"))
    with np.load(path / "optdigits_dev.npz", allow_pickle=False) as f:
        return f["images"], f["labels"]
