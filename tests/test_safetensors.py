"""deepcore.io.safetensors: round trips, the byte layout of the format, and hostile files."""

from __future__ import annotations

import importlib.util
import json
import os
import struct

import deepcore as dc
import numpy as np
import pytest
from deepcore.io import safetensors as st

HAS_SAFETENSORS = importlib.util.find_spec("safetensors") is not None


def _sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "w": rng.standard_normal((3, 5)).astype(np.float32),
        "b": rng.standard_normal(7),  # float64
        "idx": np.arange(6, dtype=np.int64).reshape(2, 3),
        "mask": np.array([True, False, True]),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 4), np.float32),
        "half": np.array([1.0, -2.0], np.float16),
        "u8": np.array([0, 255], np.uint8),
        "i32": np.array([[-1], [7]], np.int32),
    }


def _check_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert b[k].dtype == a[k].dtype, k
        assert b[k].shape == a[k].shape, k
        np.testing.assert_array_equal(b[k], a[k])


def test_round_trip_file(tmp_path):
    t = _sample()
    p = tmp_path / "x.safetensors"
    st.save_file(t, p, metadata={"format": "np", "arch": '{"a": [1, 2]}'})
    got, meta = st.load_file_with_metadata(p)
    _check_same(t, got)
    assert meta == {"format": "np", "arch": '{"a": [1, 2]}'}
    assert st.read_metadata(p)["format"] == "np"
    # loaded arrays are ordinary writable, aligned arrays
    for arr in got.values():
        assert arr.flags.writeable and arr.flags.aligned
    assert [f for f in os.listdir(tmp_path)] == ["x.safetensors"]  # no temporary left behind


def test_round_trip_bytes_and_tensors():
    x = dc.tensor(np.arange(4, dtype=np.float32), requires_grad=True)
    got = st.load(st.save({"x": x, "y": np.ones((2, 2))}))
    np.testing.assert_array_equal(got["x"], np.arange(4, dtype=np.float32))
    assert got["y"].dtype == np.float64


def test_byte_layout_matches_the_format():
    """The format written out by hand from the specification."""
    a = np.array([1.0, 2.0], np.float32)
    b = np.array([[3]], np.int64)
    raw = st.save({"a": a, "b": b}, metadata={"k": "v"})
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    assert header == {
        "__metadata__": {"k": "v"},
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "I64", "shape": [1, 1], "data_offsets": [8, 16]},
    }
    assert (8 + n) % 8 == 0  # padded with spaces so the buffer is aligned
    assert raw[8 + n :] == a.astype("<f4").tobytes() + b.astype("<i8").tobytes()


def test_reads_a_hand_made_file_with_unpadded_header_and_bf16():
    # written as another implementation might: no padding, tensors in reverse order, BF16
    bf16 = np.array([1.0, -0.5, 3.0], np.float32).view(np.uint32) >> 16
    body = bf16.astype("<u2").tobytes() + np.array([7, 8], "<i2").tobytes()
    header = {
        "z": {"dtype": "I16", "shape": [2], "data_offsets": [6, 10]},
        "h": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
    }
    hb = json.dumps(header).encode()
    got = st.load(struct.pack("<Q", len(hb)) + hb + body)
    np.testing.assert_array_equal(got["h"], np.array([1.0, -0.5, 3.0], np.float32))
    np.testing.assert_array_equal(got["z"], np.array([7, 8], np.int16))


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="complex"):
        st.save({"c": np.zeros(2, np.complex64)})
    with pytest.raises(ValueError, match="reserved"):
        st.save({"__metadata__": np.zeros(2)})
    with pytest.raises(TypeError, match="metadata"):
        st.save({"a": np.zeros(2)}, metadata={"k": 1})
    with pytest.raises(TypeError, match="names must be str"):
        st.save({1: np.zeros(2)})


def test_save_never_leaves_a_partial_file(tmp_path, monkeypatch):
    p = tmp_path / "m.safetensors"
    st.save_file({"a": np.ones(3, np.float32)}, p)
    before = p.read_bytes()

    def boom(fd):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="simulated"):
        st.save_file({"a": np.zeros(1000, np.float32)}, p)
    monkeypatch.undo()
    assert p.read_bytes() == before  # the old file is intact
    assert os.listdir(tmp_path) == ["m.safetensors"]  # and the temporary is gone


# ---------------------------------------------------------------------- hostile files
def _header(raw: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _assemble(header: dict, body: bytes) -> bytes:
    hb = json.dumps(header).encode()
    return struct.pack("<Q", len(hb)) + hb + body


GOOD = st.save({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(3.0)})


def _tamper(fn) -> bytes:
    h, body = _header(GOOD)
    body = fn(h, body)
    return _assemble(h, body)


def _set(h, name, key, value):
    h[name][key] = value


CORRUPTIONS = {
    "empty file": (b"", "shorter than the 8-byte"),
    "length only": (GOOD[:8], "invalid header length"),
    "huge length": (struct.pack("<Q", 2**62) + GOOD[8:], "invalid header length"),
    "length past end": (struct.pack("<Q", len(GOOD)) + GOOD[8:], "invalid header length"),
    "truncated body": (GOOD[:-4], "covers|out of range"),
    "trailing bytes": (GOOD + b"\0" * 8, "trailing|cover"),
    "header not json": (GOOD[:8] + b"#" + GOOD[9:], "not valid UTF-8 JSON"),
    "header not utf8": (GOOD[:8] + b"\xff" + GOOD[9:], "not valid UTF-8 JSON"),
    "header a list": (_assemble([1, 2], b""), "must be a JSON object"),  # type: ignore[arg-type]
    "unknown dtype": (_tamper(lambda h, b: (_set(h, "a", "dtype", "F12"), b)[1]), "unknown dtype"),
    "shape mismatch": (
        _tamper(lambda h, b: (_set(h, "a", "shape", [3, 3]), b)[1]),
        "need 36 bytes",
    ),
    "negative dim": (_tamper(lambda h, b: (_set(h, "a", "shape", [-2, -3]), b)[1]), "non-negative"),
    "offsets out of range": (
        _tamper(lambda h, b: (_set(h, "b", "data_offsets", [24, 4096]), b)[1]),
        "out of range",
    ),
    "offsets reversed": (
        _tamper(lambda h, b: (_set(h, "b", "data_offsets", [48, 24]), b)[1]),
        "out of range",
    ),
    "offsets overlap": (
        _tamper(lambda h, b: (_set(h, "b", "data_offsets", [0, 24]), b)[1]),
        "overlap",
    ),
    "offsets gap": (
        _tamper(
            lambda h, b: (
                _set(h, "a", "data_offsets", [0, 24]),
                _set(h, "b", "data_offsets", [32, 56]),
                b + b"\0" * 8,
            )[2]
        ),
        "gap",
    ),
    "offsets not ints": (
        _tamper(lambda h, b: (_set(h, "a", "data_offsets", [0.0, 24]), b)[1]),
        "data_offsets must be",
    ),
    "missing key": (_tamper(lambda h, b: (h["a"].pop("shape"), b)[1]), "exactly the keys"),
    "bad metadata": (_assemble({"__metadata__": {"k": 1}}, b""), "__metadata__"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupted_bytes_raise_clear_errors(name, tmp_path):
    data, msg = CORRUPTIONS[name]
    with pytest.raises(ValueError, match=msg):
        st.load(data)
    p = tmp_path / "bad.safetensors"
    p.write_bytes(data)
    with pytest.raises(ValueError, match="bad.safetensors"):  # the message names the file
        st.load_file(p)


def test_random_byte_flips_never_crash():
    """Flip bytes anywhere: the result is a ValueError or a successful load, nothing else."""
    rng = np.random.default_rng(1)
    for _ in range(300):
        data = bytearray(GOOD)
        for pos in rng.integers(0, len(data), size=rng.integers(1, 4)):
            data[pos] = rng.integers(0, 256)
        try:
            out = st.load(bytes(data))
        except ValueError:
            continue
        for arr in out.values():  # a load that succeeds must give whole arrays
            assert arr.nbytes <= len(data)
    for cut in range(len(GOOD)):
        with pytest.raises(ValueError):
            st.load(GOOD[:cut])


@pytest.mark.skipif(not HAS_SAFETENSORS, reason="the safetensors package is not installed")
def test_interop_with_the_safetensors_package(tmp_path):
    from safetensors.numpy import load_file as ref_load
    from safetensors.numpy import save_file as ref_save

    t = {k: v for k, v in _sample().items()}
    p = tmp_path / "ours.safetensors"
    st.save_file(t, p, metadata={"a": "b"})
    _check_same(t, ref_load(str(p)))
    q = tmp_path / "theirs.safetensors"
    ref_save(t, str(q), metadata={"a": "b"})
    got, meta = st.load_file_with_metadata(q)
    _check_same(t, got)
    assert meta == {"a": "b"}
