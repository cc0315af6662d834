"""Where the shared test data lives, and a tiny IDX writer for synthetic MNIST-format files."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

_REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """The shared data folder (mnist/, text/): $DEEPCORE_TEST_DATA or ../shared/data."""
    env = os.environ.get("DEEPCORE_TEST_DATA")
    candidates = [Path(env)] if env else []
    candidates += [_REPO.parent / "shared" / "data", _REPO.parent.parent / "shared" / "data"]
    for c in candidates:
        if (c / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
            return c
    return None


SHARED = shared_data_dir()
requires_shared_data = pytest.mark.skipif(SHARED is None, reason="shared/data not found")
MNIST_DIR = SHARED / "mnist" if SHARED else None
ALICE = SHARED / "text" / "alice-11-0.txt" if SHARED else None


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (magic 0x0000080<ndim>, big-endian dims)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    return header + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray) -> Path:
    data = idx_bytes(arr)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def synthetic_mnist(directory: Path, n_train: int = 50, n_test: int = 20, seed: int = 0) -> dict:
    """Write four small random MNIST-format .gz files; return the arrays by FILES key."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    from deepcore.datasets.mnist import FILES

    directory.mkdir(parents=True, exist_ok=True)
    for key, arr in arrays.items():
        write_idx(directory / (FILES[key][0] + ".gz"), arr)
    return arrays
