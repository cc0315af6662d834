"""MNIST handwritten digits (LeCun, Cortes, Burges), read from the original IDX files.

    from deepcore.datasets import mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()   # uint8 (n,28,28), uint8 (n,)

Where the files come from, in order:

1. ``path=DIR`` if given (only there: an explicit directory is never replaced by a download);
2. ``$DEEPCORE_DATA`` and ``$DEEPCORE_DATA/mnist``;
3. the cache, ``$DEEPCORE_CACHE/mnist`` (default ``~/.cache/deepcore/mnist``);
4. a download into the cache from the public mirrors (``mirrors=`` or ``$DEEPCORE_MNIST_MIRRORS``,
   comma-separated base URLs), each file checked against its official MD5 before it is renamed
   into place. ``download=False`` or ``$DEEPCORE_OFFLINE=1`` skips this step.

Each file may be plain (``train-images-idx3-ubyte``) or gzipped (``...-ubyte.gz``).

Only the 10k test set at hand (as in ``shared/data/mnist``)? ``load_data`` then names the missing
training files; :func:`load_test_split` splits the 10k set into a train part (first ``n_train``)
and a test part (the rest), and :func:`load` picks whichever is available and says which.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Union  # runtime alias below: py39 has no X | Y at run time

import numpy as np

__all__ = [
    "FILES",
    "MIRRORS",
    "ChecksumError",
    "MnistNotFoundError",
    "cache_dir",
    "load",
    "load_data",
    "load_test",
    "load_test_split",
    "read_idx",
]

PathLike = Union[str, "os.PathLike[str]"]
Arrays = tuple[np.ndarray, np.ndarray]

# Official file names and MD5s of the gzipped files (as published with the dataset and used
# by torchvision / Keras mirrors).
FILES: dict[str, tuple[str, str]] = {
    "train_images": ("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c"),
}

# Base URLs serving the four ``.gz`` files; tried in order.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

IMAGE_SIZE = 28
NUM_CLASSES = 10

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class MnistNotFoundError(FileNotFoundError):
    """The MNIST files are not on disk and could not be downloaded."""


class ChecksumError(ValueError):
    """A downloaded file did not match its published checksum (it was discarded)."""


# --------------------------------------------------------------------------------------------
# IDX parsing


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from e


def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a NumPy array of its stored dtype.

    The header is validated: magic number (two zero bytes, a known type code, the rank), the
    dimensions, and that the payload holds exactly prod(dims) items. Anything else raises
    ValueError naming the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: bad IDX magic number 0x{data[:4].hex()}")
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{path}: truncated IDX header (rank {ndim}, {len(data)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: IDX file {what}: dims {dims} need {expected} bytes, file has {len(data)}"
        )
    # bytearray keeps the result writable (Keras returns writable arrays).
    arr = np.frombuffer(bytearray(data), dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def _read_pair(images_path: Path, labels_path: Path) -> Arrays:
    x, y = read_idx(images_path), read_idx(labels_path)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (n, 28, 28), got {x.dtype} {x.shape}"
        )
    if y.dtype != np.uint8 or y.ndim != 1:
        raise ValueError(f"{labels_path}: expected uint8 labels of shape (n,), got {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{images_path} has {len(x)} images but {labels_path} has {len(y)} labels")
    if len(y) and int(y.max()) >= NUM_CLASSES:
        raise ValueError(f"{labels_path}: label {int(y.max())} out of range 0..9")
    return x, y


# --------------------------------------------------------------------------------------------
# Locating and downloading


def cache_dir() -> Path:
    """The download cache: ``$DEEPCORE_CACHE/mnist``, default ``~/.cache/deepcore/mnist``."""
    root = os.environ.get("DEEPCORE_CACHE") or Path.home() / ".cache" / "deepcore"
    return Path(root) / "mnist"


def _search_dirs(path: PathLike | None, cache: PathLike | None) -> list[Path]:
    if path is not None:
        return [Path(path)]
    dirs = []
    env = os.environ.get("DEEPCORE_DATA")
    if env:
        dirs += [Path(env), Path(env) / "mnist"]
    dirs.append(Path(cache) if cache is not None else cache_dir())
    return dirs


def _find(stem: str, dirs: Sequence[Path]) -> Path | None:
    for d in dirs:
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    return None


def _mirrors(mirrors: Sequence[str] | None) -> list[str]:
    if mirrors is None:
        env = os.environ.get("DEEPCORE_MNIST_MIRRORS")
        mirrors = [m for m in env.replace(",", " ").split()] if env else list(MIRRORS)
    return [m if m.endswith("/") else m + "/" for m in mirrors]


def _download_one(url: str, dest: Path, md5: str, timeout: float) -> None:
    """Fetch url into dest atomically: a temp file in dest's folder, MD5 checked, then renamed.

    On any failure the temp file is removed, so the cache never holds a partial or corrupt file.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        digest = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise ChecksumError(
                f"{url}: MD5 {digest.hexdigest()} does not match the expected {md5} "
                "(corrupted or truncated download; discarded)"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _download(
    stem: str, md5: str, cache: Path, mirrors: Sequence[str], timeout: float
) -> tuple[Path | None, list[str], bool]:
    """Try each mirror; return (path or None, failure messages, any checksum failure)."""
    errors: list[str] = []
    bad_checksum = False
    for base in mirrors:
        url = base + stem + ".gz"
        try:
            _download_one(url, cache / (stem + ".gz"), md5, timeout)
            return cache / (stem + ".gz"), errors, bad_checksum
        except ChecksumError as e:
            bad_checksum = True
            errors.append(str(e))
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
    return None, errors, bad_checksum


def _offline() -> bool:
    return os.environ.get("DEEPCORE_OFFLINE", "").lower() not in ("", "0", "false", "no")


def _resolve(
    keys: Sequence[str],
    path: PathLike | None,
    download: bool,
    mirrors: Sequence[str] | None,
    cache: PathLike | None,
    checksums: Mapping[str, str] | None,
    timeout: float,
) -> dict[str, Path]:
    unknown = set(checksums or {}) - set(FILES)
    if unknown:
        raise ValueError(f"checksums: unknown keys {sorted(unknown)}; expected keys of FILES")
    dirs = _search_dirs(path, cache)
    found = {k: _find(FILES[k][0], dirs) for k in keys}
    missing = [k for k in keys if found[k] is None]
    if not missing:
        return found  # type: ignore[return-value]

    errors: list[str] = []
    bad_checksum = False
    may_download = download and path is None and not _offline()
    if may_download:
        target = Path(cache) if cache is not None else cache_dir()
        sums = {k: v[1] for k, v in FILES.items()} | dict(checksums or {})
        urls = _mirrors(mirrors)
        for k in missing:
            got, errs, bad = _download(FILES[k][0], sums[k], target, urls, timeout)
            found[k] = got
            errors += errs
            bad_checksum |= bad
            if got is None:
                break  # the mirrors failed for this file; they will fail for the next too
        missing = [k for k in keys if found[k] is None]
        if not missing:
            return found  # type: ignore[return-value]

    names = ", ".join(FILES[k][0] + "(.gz)" for k in missing)
    lines = [f"MNIST file(s) not found: {names}."]
    lines.append("Looked in: " + ", ".join(str(d) for d in dirs) + ".")
    if errors:
        lines.append("Download failed:\n  " + "\n  ".join(errors))
    elif not may_download:
        why = "an explicit path was given" if path is not None else "downloads are disabled"
        lines.append(f"No download was attempted ({why}).")
    lines.append(
        "To use local files, put the IDX files in a directory and pass path=DIR "
        "(or --data DIR to the examples) or set DEEPCORE_DATA=DIR."
    )
    test_only = all(_find(FILES[k][0], dirs) for k in ("test_images", "test_labels"))
    if test_only and any(k.startswith("train") for k in missing):
        lines.append(
            "Only the 10k test set is present: deepcore.datasets.mnist.load_test_split() "
            "splits it into train/test parts."
        )
    cls = ChecksumError if bad_checksum else MnistNotFoundError
    raise cls("\n".join(lines))


# --------------------------------------------------------------------------------------------
# Public loaders


def load_data(
    path: PathLike | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    cache: PathLike | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[Arrays, Arrays]:
    """Return ``(x_train, y_train), (x_test, y_test)``: 60,000 / 10,000 uint8 images and labels.

    Args:
        path: a directory holding the four IDX files (searched alone, never downloaded into).
        download: allow a download into the cache when the files are not found.
        mirrors: base URLs to download from (default: ``$DEEPCORE_MNIST_MIRRORS`` or MIRRORS).
        cache: the cache directory (default :func:`cache_dir`).
        checksums: MD5 overrides by key of FILES (for private mirrors and tests).
        timeout: seconds per connection attempt.

    Raises:
        MnistNotFoundError: files missing and not downloadable (the message says how to point
            at local files).
        ChecksumError: a download did not match its checksum (nothing is left in the cache).
        ValueError: a file on disk is not a valid MNIST IDX file.
    """
    keys = ("train_images", "train_labels", "test_images", "test_labels")
    p = _resolve(keys, path, download, mirrors, cache, checksums, timeout)
    train = _read_pair(p["train_images"], p["train_labels"])
    test = _read_pair(p["test_images"], p["test_labels"])
    return train, test


def load_test(
    path: PathLike | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    cache: PathLike | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Arrays:
    """Return ``(x_test, y_test)``, the 10,000-image test set only (same lookup as load_data)."""
    keys = ("test_images", "test_labels")
    p = _resolve(keys, path, download, mirrors, cache, checksums, timeout)
    return _read_pair(p["test_images"], p["test_labels"])


def load_test_split(
    path: PathLike | None = None, n_train: int = 8000, **kwargs
) -> tuple[Arrays, Arrays]:
    """Split the 10k test set: the first ``n_train`` images to train, the rest to test.

    For machines that only have the test files (e.g. ``shared/data/mnist``). Keyword arguments
    are those of :func:`load_test`.
    """
    x, y = load_test(path, **kwargs)
    if not 0 < n_train < len(x):
        raise ValueError(f"n_train must be in 1..{len(x) - 1}, got {n_train}")
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def load(
    path: PathLike | None = None, *, n_train: int = 8000, **kwargs
) -> tuple[tuple[Arrays, Arrays], str]:
    """Load full MNIST if available, else split the 10k test set; also say which was loaded.

    Returns ``(((x_train, y_train), (x_test, y_test)), description)``. Raises as load_data when
    neither is available. Keyword arguments are those of :func:`load_data`.
    """
    try:
        data = load_data(path, **kwargs)
        return data, f"MNIST: {len(data[0][0])} training / {len(data[1][0])} test images"
    except MnistNotFoundError as full_error:
        # Fall back to the split only when the test files are really there; otherwise re-raise
        # load_data's message (it explains where we looked and how to point at files).
        try:
            data = load_test_split(path, n_train, **{**kwargs, "download": False})
        except MnistNotFoundError:
            raise full_error from None
        n_test = len(data[1][0])
        return data, (
            "MNIST 10k test set only (training files not found): first "
            f"{n_train} images used for training, last {n_test} for testing"
        )
