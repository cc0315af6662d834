"""deepcore.io.safetensors: round trips, the byte layout of the format, and hostile files."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import struct
import subprocess
import sys
import zlib

import deepcore as dc
import numpy as np
import pytest
from deepcore.io import safetensors as st
from helpers import join_safetensors, split_safetensors

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
    entries = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "I64", "shape": [1, 1], "data_offsets": [8, 16]},
    }
    data = a.astype("<f4").tobytes() + b.astype("<i8").tobytes()
    # [Note: safetensors digest]: CRC-32 of the canonical header without the digest, then data
    canonical = json.dumps({**entries, "__metadata__": {"k": "v"}}, sort_keys=True)
    crc = zlib.crc32(canonical.replace(", ", ",").replace(": ", ":").encode() + data)
    assert header == {"__metadata__": {"k": "v", st.DIGEST_KEY: f"crc32:{crc:08x}"}, **entries}
    assert (8 + n) % 8 == 0  # padded with spaces so the buffer is aligned
    assert raw[8 + n :] == data


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
_header, _assemble = split_safetensors, join_safetensors


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
    assert meta == {"a": "b"}  # no digest: it loads unverified


# ---------------------------------------------------------------------- header first
def test_a_huge_file_is_rejected_from_its_header_without_reading_it(tmp_path):
    """[Note: safetensors validation]: the reader looks at the length and the header before it
    allocates anything (it used to read the whole file first: MemoryError for a 64 GiB one)."""
    p = tmp_path / "sparse.safetensors"
    with open(p, "wb") as f:  # sparse: 64 GiB of apparent size, no disk used
        f.write(struct.pack("<Q", 2**40))
        f.truncate(64 << 30)
    with pytest.raises(ValueError, match="invalid header length"):
        st.load_file(p)
    with open(p, "r+b") as f:  # a valid header that leaves 64 GiB of trailing junk
        hb = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
        f.write(struct.pack("<Q", len(hb)) + hb)
    with pytest.raises(ValueError, match="trailing"):
        st.load_file(p)
    with pytest.raises(ValueError, match="trailing"):
        st.read_metadata(p)


def test_safe_open_gives_the_header_alone(tmp_path):
    p = tmp_path / "x.safetensors"
    st.save_file(_sample(), p, metadata={"k": "v"})
    with st.safe_open(p) as f:
        assert f.metadata() == {"k": "v"}
        assert f.shapes()["w"] == ("F32", (3, 5))
        assert sorted(f.keys()) == sorted(_sample())
        _check_same(_sample(), f.read())


# ---------------------------------------------------------------------- digest
def _flip(raw: bytes, pos: int) -> bytes:
    b = bytearray(raw)
    b[pos] ^= 0x01
    return bytes(b)


def test_digest_catches_a_flipped_bit_in_the_data_or_the_metadata(tmp_path):
    """[Note: safetensors digest] (a flipped weight bit used to load silently)."""
    raw = st.save(_sample(), metadata={"lr": "0.001"})
    (n,) = struct.unpack("<Q", raw[:8])
    p = tmp_path / "flip.safetensors"
    for pos in (8 + n, len(raw) - 1, 8 + n + 30):  # first, last and a middle data byte
        p.write_bytes(_flip(raw, pos))
        with pytest.raises(ValueError, match="flip.safetensors: the file is corrupted"):
            st.load_file(p)
        with pytest.raises(ValueError, match="corrupted"):
            st.load(_flip(raw, pos))
    # a metadata value changed, the JSON still valid: 0.001 -> 0.009
    p.write_bytes(raw.replace(b'"0.001"', b'"0.009"'))
    with pytest.raises(ValueError, match="corrupted"):
        st.load_file(p)
    # the digest is not returned as metadata, and cannot be given as metadata
    ok = tmp_path / "ok.safetensors"
    st.save_file({"a": np.arange(3.0)}, ok, metadata={"k": "v"})
    assert st.load_file_with_metadata(ok)[1] == {"k": "v"}
    with pytest.raises(ValueError, match="reserved"):
        st.save({"a": np.zeros(1)}, metadata={st.DIGEST_KEY: "crc32:00000000"})


def test_files_without_a_digest_still_load_and_unknown_digests_are_refused():
    h, body = _header(GOOD)
    del h["__metadata__"][st.DIGEST_KEY]
    _check_same(st.load(GOOD), st.load(_assemble(h, body)))
    h["__metadata__"][st.DIGEST_KEY] = "md5:0123"
    with pytest.raises(ValueError, match="unsupported digest"):
        st.load(_assemble(h, body))


# ---------------------------------------------------------------------- temporaries
_WRITER = """
import os, signal, sys
import numpy as np
from deepcore.io import safetensors as st
path, sig = sys.argv[1], int(sys.argv[2])
st.save_file({"a": np.ones(3, np.float32)}, path)
def write(f):
    f.write(b"partial")
    f.flush()
    os.kill(os.getpid(), sig)
st.atomic_write(path, write)
"""


def _killed_save(path, sig: int) -> int:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run(
        [sys.executable, "-c", _WRITER, str(path), str(sig)], env=env, timeout=60
    ).returncode


def test_sigterm_mid_save_removes_the_temporary(tmp_path):
    p = tmp_path / "m.safetensors"
    assert _killed_save(p, signal.SIGTERM) == -signal.SIGTERM  # it still dies of the signal
    assert os.listdir(tmp_path) == ["m.safetensors"]
    assert st.load_file(p)["a"].tolist() == [1, 1, 1]


def test_the_next_save_removes_temporaries_orphaned_by_a_killed_save(tmp_path):
    p = tmp_path / "m.safetensors"
    assert _killed_save(p, signal.SIGKILL) == -signal.SIGKILL
    orphans = [n for n in os.listdir(tmp_path) if n != "m.safetensors"]
    assert len(orphans) == 1 and orphans[0].startswith(".m.safetensors.")  # what SIGKILL leaves
    others = [".m.safetensors.notes", ".n.safetensors.abcdefgh.tmp", "m.safetensors.tmp"]
    for name in others:  # look-alikes that are not temporaries of this target
        (tmp_path / name).write_bytes(b"keep")
    fcntl = pytest.importorskip("fcntl")
    busy = tmp_path / ".m.safetensors.busy1234.tmp"  # a live writer's: it holds the lock
    busy.write_bytes(b"")
    with open(busy, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        st.save_file({"a": np.zeros(2)}, p)
    assert sorted(os.listdir(tmp_path)) == sorted(["m.safetensors", busy.name, *others])
    np.testing.assert_array_equal(st.load_file(p)["a"], np.zeros(2))


def test_large_file_path_chunks_and_hashes_on_a_worker_thread(tmp_path, monkeypatch):
    """Files from _BACKGROUND_BYTES up hash on a worker thread in _CHUNK steps, the writer
    patching the digest in at the end: shrink both so small tensors take that path."""
    monkeypatch.setattr(st, "_BACKGROUND_BYTES", 0)
    monkeypatch.setattr(st, "_CHUNK", 7)  # odd, smaller than most tensors
    t = _sample()
    p = tmp_path / "big.safetensors"
    st.save_file(t, p, metadata={"k": "v"})
    assert p.read_bytes() == st.save(t, metadata={"k": "v"})  # the same bytes, digest included
    got, meta = st.load_file_with_metadata(p)
    _check_same(t, got)
    p.write_bytes(_flip(p.read_bytes(), len(p.read_bytes()) - 9))
    with pytest.raises(ValueError, match="corrupted"):
        st.load_file(p)
    st.save_file({"a": np.zeros(100_000, np.float32)}, p)  # more than the read buffer
    with st.safe_open(p) as f:  # the file shrinks between the header and the data
        os.truncate(p, os.path.getsize(p) - 20)
        with pytest.raises(ValueError, match="short read"):
            f.read()
