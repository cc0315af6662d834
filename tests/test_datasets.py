"""deepcore.datasets (MNIST IDX loader with download + checksums, char text) and deepcore.utils."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import socket
import threading
from pathlib import Path

import deepcore as dc
import numpy as np
import pytest
from data_helpers import (
    ALICE,
    MNIST_DIR,
    idx_bytes,
    requires_shared_data,
    synthetic_mnist,
    write_idx,
)
from deepcore.datasets import mnist, synthetic, text
from deepcore.utils import (
    iterate_minibatches,
    normalize,
    scale_to_unit,
    to_categorical,
    to_channels_first,
    to_channels_last,
)


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test sees the user's data, cache or the internet: mirrors point at a closed port."""
    monkeypatch.delenv("DEEPCORE_DATA", raising=False)
    monkeypatch.delenv("DEEPCORE_OFFLINE", raising=False)
    monkeypatch.setenv("DEEPCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPCORE_MNIST_MIRRORS", _closed_port_url())


@pytest.fixture
def http_dir(tmp_path):
    """Serve a fresh directory over HTTP on 127.0.0.1 (random port); yield (dir, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *args):  # keep pytest output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/mnist/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _serve_shared_test_set(root: Path) -> Path:
    d = root / "mnist"
    d.mkdir(exist_ok=True)
    for key in ("test_images", "test_labels"):
        name = mnist.FILES[key][0] + ".gz"
        shutil.copy(MNIST_DIR / name, d / name)
    return d


# ---------------------------------------------------------------------------------------------
# The shared 10k test set


@requires_shared_data
def test_shared_files_match_official_md5():
    for key in ("test_images", "test_labels"):
        stem, md5 = mnist.FILES[key]
        assert hashlib.md5((MNIST_DIR / (stem + ".gz")).read_bytes()).hexdigest() == md5


@requires_shared_data
def test_load_test_shared():
    x, y = mnist.load_test(MNIST_DIR)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert y.min() == 0 and y.max() == 9
    assert list(y[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test labels
    assert np.bincount(y, minlength=10).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    assert x.max() == 255 and x.min() == 0 and x.flags.writeable
    # a digit has ink in the middle and a blank border row
    assert x[:, 14, 10:18].mean() > 50 and x[:, 0, :].max() == 0


@requires_shared_data
def test_load_data_names_missing_training_files():
    with pytest.raises(mnist.MnistNotFoundError) as e:
        mnist.load_data(MNIST_DIR)
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg
    assert "t10k" not in msg.split("\n")[0]
    assert "DEEPCORE_DATA" in msg and "path=" in msg and "load_test_split" in msg


@requires_shared_data
def test_load_test_split():
    (xtr, ytr), (xte, yte) = mnist.load_test_split(MNIST_DIR, n_train=8000)
    x, y = mnist.load_test(MNIST_DIR)
    assert xtr.shape == (8000, 28, 28) and xte.shape == (2000, 28, 28)
    np.testing.assert_array_equal(np.concatenate([xtr, xte]), x)
    np.testing.assert_array_equal(np.concatenate([ytr, yte]), y)
    for bad in (0, 10000, -5):
        with pytest.raises(ValueError, match="n_train"):
            mnist.load_test_split(MNIST_DIR, n_train=bad)


@requires_shared_data
@pytest.mark.parametrize("layout", ["root", "subdir"])
def test_deepcore_data_env(monkeypatch, layout):
    monkeypatch.setenv("DEEPCORE_DATA", str(MNIST_DIR if layout == "root" else MNIST_DIR.parent))
    x, y = mnist.load_test(download=False)
    assert x.shape == (10000, 28, 28)


@requires_shared_data
def test_load_falls_back_to_split_and_says_so(monkeypatch):
    monkeypatch.setenv("DEEPCORE_DATA", str(MNIST_DIR))
    (
        (xtr, _),
        (xte, _),
    ) = mnist.load(n_train=8000)[0]
    _, desc = mnist.load(n_train=8000)
    assert len(xtr) == 8000 and len(xte) == 2000
    assert "test set only" in desc and "8000" in desc and "2000" in desc


def test_full_set_preferred_over_split(tmp_path):
    arrays = synthetic_mnist(tmp_path / "full")
    ((xtr, ytr), (xte, yte)), desc = mnist.load(tmp_path / "full")
    np.testing.assert_array_equal(xtr, arrays["train_images"])
    np.testing.assert_array_equal(yte, arrays["test_labels"])
    assert desc.startswith("MNIST: 50 training / 20 test")


# ---------------------------------------------------------------------------------------------
# IDX parsing


def test_uncompressed_and_gz_files(tmp_path):
    arrays = synthetic_mnist(tmp_path / "gz")
    raw = tmp_path / "raw"
    raw.mkdir()
    for key, arr in arrays.items():
        write_idx(raw / mnist.FILES[key][0], arr)
    for d in (tmp_path / "gz", raw):
        (xtr, ytr), (xte, yte) = mnist.load_data(d)
        np.testing.assert_array_equal(xtr, arrays["train_images"])
        np.testing.assert_array_equal(ytr, arrays["train_labels"])
        np.testing.assert_array_equal(xte, arrays["test_images"])
        np.testing.assert_array_equal(yte, arrays["test_labels"])


@pytest.mark.parametrize(
    "arr",
    [np.zeros((0,), np.uint8), np.arange(7, dtype=np.uint8), np.ones((2, 3, 5), np.uint8)],
)
def test_read_idx_roundtrip(tmp_path, arr):
    np.testing.assert_array_equal(mnist.read_idx(write_idx(tmp_path / "a", arr)), arr)


def test_read_idx_big_endian_types(tmp_path):
    a = np.arange(-3, 9, dtype=">i4").reshape(3, 4)
    (tmp_path / "i").write_bytes(
        bytes([0, 0, 0x0C, 2]) + np.asarray(a.shape, ">u4").tobytes() + a.tobytes()
    )
    got = mnist.read_idx(tmp_path / "i")
    assert got.dtype == np.int32 and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


def _bad_files():
    good = idx_bytes(np.ones((3, 28, 28), np.uint8))
    return {
        "truncated": (good[:-5], "truncated"),
        "trailing": (good + b"\0", "trailing"),
        "magic": (b"\x01\x02" + good[2:], "magic"),
        "typecode": (good[:2] + b"\x07" + good[3:], "magic"),
        "header": (good[:9], "header"),
        "tiny": (b"\0\0", "not an IDX"),
    }


@pytest.mark.parametrize("case", sorted(_bad_files()))
def test_read_idx_rejects_corrupt(tmp_path, case):
    data, match = _bad_files()[case]
    (tmp_path / "f").write_bytes(data)
    with pytest.raises(ValueError, match=match):
        mnist.read_idx(tmp_path / "f")


def test_truncated_gzip_is_value_error(tmp_path):
    gz = gzip.compress(idx_bytes(np.ones((3, 28, 28), np.uint8)))
    (tmp_path / "f.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(ValueError, match="gzip"):
        mnist.read_idx(tmp_path / "f.gz")


def test_mnist_shape_and_label_checks(tmp_path):
    d = tmp_path / "d"
    synthetic_mnist(d)
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.full(19, 3, np.uint8))
    with pytest.raises(ValueError, match="20 images but .* 19 labels"):
        mnist.load_test(d)
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.full(20, 10, np.uint8))
    with pytest.raises(ValueError, match="out of range"):
        mnist.load_test(d)
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((20, 28, 27), np.uint8))
    with pytest.raises(ValueError, match=r"\(n, 28, 28\)"):
        mnist.load_test(d)


# ---------------------------------------------------------------------------------------------
# Download (local HTTP server on 127.0.0.1)


def test_download_full_set_into_cache(http_dir, tmp_path):
    root, url = http_dir
    arrays = synthetic_mnist(root / "mnist")
    sums = {
        k: hashlib.md5((root / "mnist" / (mnist.FILES[k][0] + ".gz")).read_bytes()).hexdigest()
        for k in arrays
    }
    cache = tmp_path / "c"
    # the first mirror refuses connections: the loader must go on to the next one
    (xtr, ytr), (xte, yte) = mnist.load_data(
        mirrors=[_closed_port_url(), url], cache=cache, checksums=sums
    )
    np.testing.assert_array_equal(xtr, arrays["train_images"])
    np.testing.assert_array_equal(yte, arrays["test_labels"])
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        mnist.FILES[k][0] + ".gz" for k in arrays
    )
    # now cached: works with downloads off and the server emptied
    shutil.rmtree(root / "mnist")
    (xtr2, _), _ = mnist.load_data(cache=cache, download=False)
    np.testing.assert_array_equal(xtr2, xtr)


@requires_shared_data
def test_download_verifies_official_md5(http_dir, monkeypatch):
    root, url = http_dir
    _serve_shared_test_set(root)
    monkeypatch.setenv("DEEPCORE_MNIST_MIRRORS", url)  # mirrors from the environment
    x, y = mnist.load_test()
    assert x.shape == (10000, 28, 28)
    cached = mnist.cache_dir() / "t10k-images-idx3-ubyte.gz"
    assert hashlib.md5(cached.read_bytes()).hexdigest() == mnist.FILES["test_images"][1]


@requires_shared_data
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupted_download_leaves_nothing(http_dir, tmp_path, damage):
    root, url = http_dir
    d = _serve_shared_test_set(root)
    f = d / "t10k-images-idx3-ubyte.gz"
    data = bytearray(f.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 3]
    f.write_bytes(bytes(data))
    cache = tmp_path / "c"
    with pytest.raises(mnist.ChecksumError, match="does not match"):
        mnist.load_test(mirrors=[url], cache=cache)
    assert not (cache / "t10k-images-idx3-ubyte.gz").exists()
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]


def test_offline_error_says_how_to_point_at_files(tmp_path):
    with pytest.raises(mnist.MnistNotFoundError) as e:
        mnist.load_data(cache=tmp_path / "c", timeout=5)
    msg = str(e.value)
    assert "Download failed" in msg and "127.0.0.1" in msg
    assert "DEEPCORE_DATA" in msg and "path=" in msg
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())


def test_404_mirror_is_reported(http_dir, tmp_path):
    _, url = http_dir  # serves an empty directory
    with pytest.raises(mnist.MnistNotFoundError, match="Not Found|404"):
        mnist.load_test(mirrors=[url], cache=tmp_path / "c")


@pytest.mark.parametrize("how", ["argument", "env"])
def test_download_can_be_disabled(http_dir, monkeypatch, tmp_path, how):
    root, url = http_dir
    synthetic_mnist(root / "mnist")
    if how == "env":
        monkeypatch.setenv("DEEPCORE_OFFLINE", "1")
    with pytest.raises(mnist.MnistNotFoundError, match="No download was attempted"):
        mnist.load_data(mirrors=[url], cache=tmp_path / "c", download=how != "argument")


# ---------------------------------------------------------------------------------------------
# utils


def test_to_categorical():
    y = np.array([0, 2, 1, 2])
    got = to_categorical(y)
    np.testing.assert_array_equal(got, np.eye(3, dtype=np.float32)[y])
    assert got.dtype == np.float32
    assert to_categorical(y[:, None], 5).shape == (4, 5)  # Keras drops a trailing 1
    assert to_categorical(np.array([[1, 0], [3, 2]]), 4).shape == (2, 2, 4)
    assert to_categorical(np.array([], np.int64), 3).shape == (0, 3)
    assert to_categorical([1.0, 0.0], 2, dtype="float64").dtype == np.float64
    with pytest.raises(ValueError, match="0..2"):
        to_categorical([0, 3], 3)
    with pytest.raises(ValueError, match="0..2"):
        to_categorical([-1, 0], 3)
    with pytest.raises(ValueError, match="integer"):
        to_categorical([0.5], 3)
    with pytest.raises(TypeError, match="dtype"):
        to_categorical(np.array(["a"]), 3)


def test_scale_to_unit():
    x = np.array([0, 51, 255], np.uint8)
    got = scale_to_unit(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [0, 0.2, 1], rtol=1e-6)
    np.testing.assert_allclose(scale_to_unit(np.array([-2.0, 0.0, 2.0])), [0, 0.5, 1])
    np.testing.assert_allclose(scale_to_unit(np.array([3.0, 3.0])), [0, 0])
    np.testing.assert_allclose(scale_to_unit(np.array([5.0]), low=0, high=10), [0.5])
    with pytest.raises(TypeError):
        scale_to_unit(np.array(["a"]))


def test_normalize_keras():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0, 0]])


def test_iterate_minibatches():
    x = np.arange(10)
    y = x * 2
    dc.manual_seed(0)
    batches = list(iterate_minibatches(x, y, batch_size=4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    xs = np.concatenate([b[0] for b in batches])
    assert sorted(xs) == list(range(10)) and not np.array_equal(xs, x)
    for bx, by in batches:
        np.testing.assert_array_equal(by, bx * 2)
    second = np.concatenate([b[0] for b in iterate_minibatches(x, y, batch_size=4)])
    assert not np.array_equal(second, xs)  # a new order every epoch
    ordered = list(iterate_minibatches(x, batch_size=3, shuffle=False, drop_last=True))
    assert [b[0].tolist() for b in ordered] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    with pytest.raises(ValueError, match="length"):
        list(iterate_minibatches(x, y[:3], batch_size=2))
    with pytest.raises(ValueError, match="batch_size"):
        list(iterate_minibatches(x, batch_size=0))


def test_channels_layout():
    x = np.random.default_rng(0).random((2, 5, 7, 3))
    cf = to_channels_first(x)
    assert cf.shape == (2, 3, 5, 7) and cf.flags.c_contiguous
    np.testing.assert_array_equal(cf[1, 2], x[1, :, :, 2])
    np.testing.assert_array_equal(to_channels_last(cf), x)
    with pytest.raises(ValueError):
        to_channels_first(np.ones((2, 3)))


# ---------------------------------------------------------------------------------------------
# text


def test_vocabulary_and_windows_small():
    s = "hello world"
    v = text.Vocabulary.from_text(s)
    assert v.index_to_char == sorted(set(s)) and len(v) == 8
    ids = v.encode(s)
    assert [v.char_to_index[c] for c in s] == ids.tolist()
    assert v.decode(ids) == s
    x, y = text.windows(ids, seqlen=4, step=3)
    # windows start at 0, 3, 6 (6+4 = 10 < 11 leaves a next char)
    assert [v.decode(r) for r in x] == ["hell", "lo w", "worl"]
    assert v.decode(y) == "o" + "o" + "d"
    xs, ys = text.windows(ids, seqlen=4, step=3, sequence_targets=True)
    assert [v.decode(r) for r in ys] == ["ello", "o wo", "orld"]
    with pytest.raises(ValueError, match="not in vocabulary"):
        v.encode("xyz")
    with pytest.raises(ValueError, match="seqlen"):
        text.windows(ids, seqlen=11)
    with pytest.raises(ValueError, match="1-D"):
        text.windows(np.zeros((2, 2)))


def test_windows_match_naive_loop():
    ids = np.random.default_rng(1).integers(0, 50, 97)
    for seqlen, step in [(1, 1), (10, 1), (10, 3), (7, 5), (96, 1)]:
        x, y = text.windows(ids, seqlen, step)
        starts = range(0, len(ids) - seqlen, step)
        np.testing.assert_array_equal(x, [ids[i : i + seqlen] for i in starts])
        np.testing.assert_array_equal(y, [ids[i + seqlen] for i in starts])


@pytest.mark.skipif(ALICE is None, reason="shared/data not found")
def test_alice_windows():
    d = text.load_char_windows(ALICE, seqlen=10, step=1)
    s = d.text
    assert not s.startswith("\ufeff") and "Alice" in s
    assert len(d.vocab) == len(set(s))
    assert d.x.shape == (len(s) - 10, 10) and d.y.shape == (len(s) - 10,)
    assert d.vocab.decode(d.x[1234]) == s[1234:1244] and d.vocab.decode(d.y[1234:1235]) == s[1244]
    assert d.x.dtype == np.int64
    small = text.load_char_windows(ALICE, seqlen=10, step=3, one_hot=True, max_chars=400)
    v = len(small.vocab)
    assert small.x.shape == ((400 - 10 - 1) // 3 + 1, 10, v) and small.y.shape[1:] == (v,)
    assert small.x.dtype == np.float32 and np.all(small.x.sum(-1) == 1)
    lower = text.load_char_windows(ALICE, lower=True)
    assert len(lower.vocab) < len(d.vocab) and "A" not in lower.vocab.char_to_index


# ---------------------------------------------------------------------------------------------
# synthetic digits (the examples' no-download fallback)


def test_synthetic_digits_format_and_determinism():
    x, y = synthetic.digits(300, seed=3)
    assert x.shape == (300, 28, 28) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert np.bincount(y, minlength=10).tolist() == [30] * 10
    x2, y2 = synthetic.digits(300, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(synthetic.digits(300, seed=4)[0], x)
    # white strokes on a dark background, like MNIST
    assert x.max() == 255 and np.median(x) < 40 and (x > 128).mean() > 0.05
    (xtr, ytr), (xte, yte) = synthetic.load_digits(50, 20)
    assert xtr.shape == (50, 28, 28) and yte.shape == (20,)


def test_synthetic_digits_learnable_but_not_trivial():
    x, y = synthetic.digits(3000, seed=0)
    f = np.c_[x.reshape(len(x), -1) / 255.0, np.ones(len(x))]
    a = f[:2500]
    w = np.linalg.solve(a.T @ a + 1e-1 * np.eye(a.shape[1]), a.T @ np.eye(10)[y[:2500]])
    acc = (np.argmax(f[2500:] @ w, 1) == y[2500:]).mean()
    assert 0.5 < acc < 0.97, acc  # a linear model learns it, imperfectly


def test_unknown_checksum_key(tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        mnist.load_data(cache=tmp_path, checksums={"train-images": "0" * 32})
