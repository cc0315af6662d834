"""A reader and writer for the safetensors format (no pickle, no third-party dependency).

The format (https://github.com/huggingface/safetensors):

    8 bytes        N, the header length, unsigned little-endian 64-bit
    N bytes        a UTF-8 JSON object:
                     {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
                      ...,
                      "__metadata__": {"<str>": "<str>", ...}}   (optional)
                   padded with trailing spaces (we pad so the data starts 8-byte aligned)
    rest           the byte buffer: every tensor's raw little-endian, C-ordered bytes at
                   [begin, end) relative to the start of the buffer

[Note: safetensors validation] A file may be truncated or tampered with, so the reader trusts
nothing, and it looks before it allocates: it reads the 8-byte length first, then only the
header (at most ``MAX_HEADER_SIZE`` bytes, and never more than the file holds), and validates
it completely before reading any tensor: the header must be a JSON object of the shape above,
every dtype must be known, every byte range must match its dtype and shape exactly, and the
ranges, sorted, must tile the buffer with no overlap, gap or trailing bytes (the same rules as
the reference implementation). Only then are the tensors read, each straight into its own
array, so what is allocated is exactly what the file holds. Any violation raises
``ValueError`` naming the file, the tensor and the rule; nothing is read outside the buffer.

[Note: safetensors digest] The writer stores a CRC-32 of the file's contents in the metadata
(``DIGEST_KEY``, value ``"crc32:<8 hex digits>"``): of the canonical JSON of the header without
the digest itself (sorted keys, ASCII, no spaces) followed by the data buffer, so a flipped
byte in a weight or in the metadata (a model's configuration) is caught, not only a broken
structure. The writer computes it while it streams the tensors out (a fixed-length
placeholder in the header, patched at the end), the reader verifies it while it streams them
in, and raises ``ValueError`` naming the file on a mismatch; for large files the hashing runs
on a worker thread, overlapping the I/O. The digest is for accidental corruption (disks, copies,
transfers), not tampering: anyone who edits a file can drop or recompute it, and files without
one (older deepcore files, other tools' safetensors) load as before. CRC-32 rather than SHA-256:
it is what zip and PNG use for the same purpose and costs about half as much (bench/file_digest.py).
The key is removed from the metadata that loading returns.

Writes are atomic (deepcore/io/atomic.py: a temporary beside the target, renamed over it).
"""

from __future__ import annotations

import json
import os
import queue
import re
import struct
import threading
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Union

import numpy as np

from .atomic import atomic_write

__all__ = [
    "save_file",
    "load_file",
    "load_file_with_metadata",
    "save",
    "load",
    "read_metadata",
    "safe_open",
    "atomic_write",
    "DIGEST_KEY",
]

PathLike = Union[str, "os.PathLike[str]"]

# safetensors dtype code <-> little-endian NumPy dtype. BF16 has no NumPy dtype: it is read as
# its bit pattern and widened to float32 (exact), and never written.
_CODE_TO_DTYPE: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
    "BF16": np.dtype("<u2"),
}
_KIND_SIZE_TO_CODE = {(d.kind, d.itemsize): c for c, d in _CODE_TO_DTYPE.items() if c != "BF16"}

# The reference implementation refuses headers above 100 MB; so do we (a tampered length field
# must not make us allocate gigabytes).
MAX_HEADER_SIZE = 100_000_000

#: the metadata key of the file's digest (see [Note: safetensors digest])
DIGEST_KEY = "deepcore.digest"


# ---------------------------------------------------------------------- digest
def _digest_prefix(entries: Mapping[str, Any], metadata: Mapping[str, str]) -> bytes:
    """The canonical header text the digest covers: every tensor entry and the metadata except
    the digest itself (see [Note: safetensors digest])."""
    header = dict(entries)
    meta = {k: v for k, v in metadata.items() if k != DIGEST_KEY}
    if meta:
        header["__metadata__"] = meta
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _format_digest(crc: int) -> str:
    return f"crc32:{crc & 0xFFFFFFFF:08x}"


def _expected_crc(value: str, source: str) -> int:
    alg, _, hexd = value.partition(":")
    if alg != "crc32" or not re.fullmatch(r"[0-9a-f]{8}", hexd):
        raise ValueError(
            f"{source}: unsupported digest {value!r} in the metadata key {DIGEST_KEY!r} (this "
            "deepcore verifies 'crc32:<8 hex digits>'; drop the key to load the file unverified)"
        )
    return int(hexd, 16)


def _check_digest(crc: int, expected: int, source: str) -> None:
    if crc != expected:
        raise ValueError(
            f"{source}: the file is corrupted: its contents do not match the digest stored when "
            f"it was written ({_format_digest(expected)} stored, {_format_digest(crc)} computed)"
        )


# ---------------------------------------------------------------------- writing
def _dtype_code(name: str, arr: np.ndarray) -> str:
    code = _KIND_SIZE_TO_CODE.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise TypeError(f"tensor {name!r}: dtype {arr.dtype} has no safetensors equivalent")
    return code


def _prepare(tensors: Mapping[str, Any]) -> list[tuple[str, str, np.ndarray]]:
    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors must be a mapping of name -> array, got {type(tensors).__name__}")
    out = []
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, got {type(name).__name__}")
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved and cannot name a tensor")
        arr = np.asarray(value)  # Tensors too (via __array__)
        code = _dtype_code(name, arr)
        # little-endian, C-ordered bytes (a no-op copy for the usual contiguous native arrays)
        arr = np.asarray(arr, dtype=arr.dtype.newbyteorder("<"), order="C")
        out.append((name, code, arr))
    return out


def _bytes_of(arr: np.ndarray) -> memoryview:
    """The raw bytes of a C-contiguous array (0-d and empty arrays included)."""
    return memoryview(arr.reshape(-1).view(np.uint8))


def _header_parts(
    items: list[tuple[str, str, np.ndarray]], metadata: Mapping[str, str] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensor entries and the (checked) user metadata of the header."""
    meta: dict[str, str] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise TypeError("metadata must be a mapping of str -> str")
        if DIGEST_KEY in metadata:
            raise ValueError(f"the metadata key {DIGEST_KEY!r} is reserved (the file's digest)")
        meta = dict(metadata)
    entries: dict[str, Any] = {}
    offset = 0
    for name, code, arr in items:
        entries[name] = {
            "dtype": code,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
    return entries, meta


def _header_bytes(entries: dict[str, Any], meta: dict[str, str], crc: int) -> tuple[bytes, int]:
    """The length prefix and the padded JSON header with the digest ``crc``, and the offset of
    the digest's value in them (every digest has the same length, so it can be patched)."""
    header = {"__metadata__": {**meta, DIGEST_KEY: _format_digest(crc)}, **entries}
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)  # the buffer starts 8-byte aligned
    key = json.dumps({DIGEST_KEY: ""}, separators=(",", ":"))[1:-2].encode()  # "<key>":"
    return struct.pack("<Q", len(raw)) + raw, 8 + raw.index(key) + len(key)


_CHUNK = 16 << 20  # bytes per read / write / hash step of large tensors
_BACKGROUND_BYTES = 64 << 20  # data sections from this size hash on a worker thread


def _chunks(buf: memoryview) -> Iterator[memoryview]:
    for i in range(0, len(buf), _CHUNK):
        yield buf[i : i + _CHUNK]


class _Crc32:
    """The running CRC-32 of a stream of buffers (see [Note: safetensors digest]). For a large
    stream it is computed on a worker thread, so hashing one chunk overlaps reading or writing
    the next (zlib.crc32 and file I/O both release the GIL); ``value()`` waits for it. Use as
    a context manager so the worker always ends."""

    def __init__(self, prefix: bytes, nbytes: int) -> None:
        self.crc = zlib.crc32(prefix)
        self._queue: queue.SimpleQueue | None = None
        if nbytes >= _BACKGROUND_BYTES:
            self._queue = queue.SimpleQueue()
            self._worker = threading.Thread(target=self._run, name="deepcore-crc32", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        q = self._queue
        while (buf := q.get()) is not None:  # type: ignore[union-attr]
            self.crc = zlib.crc32(buf, self.crc)

    def update(self, buf: memoryview) -> None:
        if self._queue is None:
            self.crc = zlib.crc32(buf, self.crc)
        else:
            self._queue.put(buf)

    def value(self) -> int:
        if self._queue is not None:
            self._queue.put(None)
            self._worker.join()
            self._queue = None
        return self.crc

    def __enter__(self) -> _Crc32:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.value()


def save(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> bytes:
    """Serialize ``{name: array}`` (and ``metadata``, str -> str) to safetensors bytes."""
    items = _prepare(tensors)
    entries, meta = _header_parts(items, metadata)
    crc = zlib.crc32(_digest_prefix(entries, meta))
    for _, _, arr in items:
        crc = zlib.crc32(_bytes_of(arr), crc)
    parts = [_header_bytes(entries, meta, crc)[0]]
    parts += [arr.tobytes() for _, _, arr in items]
    return b"".join(parts)


def save_file(
    tensors: Mapping[str, Any], path: PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``{name: array}`` to ``path`` in safetensors format, atomically."""
    items = _prepare(tensors)
    entries, meta = _header_parts(items, metadata)
    header, digest_at = _header_bytes(entries, meta, 0)  # the digest is patched in at the end
    nbytes = sum(arr.nbytes for _, _, arr in items)

    def write(f: Any) -> None:
        f.write(header)
        with _Crc32(_digest_prefix(entries, meta), nbytes) as crc:
            for _, _, arr in items:
                for chunk in _chunks(_bytes_of(arr)):
                    f.write(chunk)
                    crc.update(chunk)
            digest = _format_digest(crc.value()).encode()
        f.seek(digest_at)
        f.write(digest)
        f.seek(0, os.SEEK_END)

    atomic_write(path, write)


# ---------------------------------------------------------------------- reading
def _parse_header(read: Callable[[int, int], bytes], total: int, source: str) -> tuple[dict, int]:
    """Validate the length prefix and the JSON header, reading only those bytes through
    ``read(offset, n)`` from a source of ``total`` bytes. Returns (header, buffer start)."""
    if total < 8:
        raise ValueError(
            f"{source}: not a safetensors file: {total} bytes is shorter than the 8-byte header "
            "length (truncated?)"
        )
    (n,) = struct.unpack("<Q", read(0, 8))
    if n > MAX_HEADER_SIZE:
        raise ValueError(f"{source}: invalid header length {n} (more than {MAX_HEADER_SIZE})")
    if 8 + n > total:
        raise ValueError(
            f"{source}: invalid header length {n}: the file has only {total - 8} bytes after the "
            "length field (truncated or corrupted)"
        )
    raw = read(8, n)
    if len(raw) != n:
        raise ValueError(f"{source}: short read of the header (the file changed while reading)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, or an int too long
        raise ValueError(f"{source}: header is not valid UTF-8 JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"{source}: header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise ValueError(f"{source}: header must be a JSON object, got {type(header).__name__}")
    return header, 8 + n


class _Layout:
    """A validated header: tensors sorted by offset, the user metadata, the digest (if any)."""

    def __init__(self, header: dict, buffer_len: int, source: str) -> None:
        metadata = header.pop("__metadata__", None)
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        ):
            raise ValueError(f"{source}: __metadata__ must be an object of str -> str")
        metadata = metadata or {}
        self.source = source
        self.expected_crc = (
            _expected_crc(metadata[DIGEST_KEY], source) if DIGEST_KEY in metadata else None
        )
        self.digest_prefix = (
            _digest_prefix(header, metadata) if self.expected_crc is not None else b""
        )
        self.metadata = {k: v for k, v in metadata.items() if k != DIGEST_KEY}
        self.entries = _validate_entries(header, buffer_len, source)

    def shapes(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        return {name: (code, shape) for _, _, name, code, shape in self.entries}


def _validate_entries(header: dict, buffer_len: int, source: str) -> list:
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(
                f"{source}: tensor {name!r}: entry must be an object with exactly the keys "
                "dtype, shape, data_offsets"
            )
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(code, str) or code not in _CODE_TO_DTYPE:
            raise ValueError(
                f"{source}: tensor {name!r}: unknown dtype {code!r} "
                f"(known: {', '.join(_CODE_TO_DTYPE)})"
            )
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise ValueError(
                f"{source}: tensor {name!r}: shape must be a list of non-negative integers, "
                f"got {shape!r}"
            )
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
        ):
            raise ValueError(
                f"{source}: tensor {name!r}: data_offsets must be [begin, end] integers, "
                f"got {offsets!r}"
            )
        begin, end = offsets
        if not 0 <= begin <= end <= buffer_len:
            raise ValueError(
                f"{source}: tensor {name!r}: data_offsets [{begin}, {end}] out of range for a "
                f"{buffer_len}-byte data buffer"
            )
        nbytes = _CODE_TO_DTYPE[code].itemsize
        for d in shape:
            nbytes *= d
        if nbytes != end - begin:
            raise ValueError(
                f"{source}: tensor {name!r}: dtype {code} and shape {shape} need {nbytes} bytes "
                f"but data_offsets [{begin}, {end}] hold {end - begin}"
            )
        entries.append((begin, end, name, code, tuple(shape)))
    entries.sort()
    pos = 0
    for begin, end, name, _, _ in entries:
        if begin < pos:
            raise ValueError(f"{source}: tensor {name!r}: data_offsets overlap another tensor")
        if begin > pos:
            raise ValueError(
                f"{source}: tensor {name!r}: gap of {begin - pos} bytes before its data "
                "(offsets must cover the buffer contiguously)"
            )
        pos = end
    if pos != buffer_len:
        raise ValueError(
            f"{source}: the data buffer has {buffer_len} bytes but the tensors cover {pos} "
            "(truncated, or trailing bytes)"
        )
    return entries


def _finish(arr: np.ndarray, code: str) -> np.ndarray:
    """A stored array as a native, aligned, writeable one (BF16 widened to float32)."""
    if code == "BF16":  # bfloat16 is the top half of a float32
        return (arr.astype(np.uint32) << 16).view(np.float32)
    if not arr.flags.aligned or not arr.flags.writeable:
        arr = arr.copy()
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _decode(data: Any, source: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata from safetensors bytes in memory."""
    view = memoryview(data).cast("B")
    header, start = _parse_header(lambda o, n: bytes(view[o : o + n]), len(view), source)
    layout = _Layout(header, len(view) - start, source)
    if layout.expected_crc is not None:
        crc = zlib.crc32(view[start:], zlib.crc32(layout.digest_prefix))
        _check_digest(crc, layout.expected_crc, source)
    tensors: dict[str, np.ndarray] = {}
    for begin, end, name, code, shape in layout.entries:
        dt = _CODE_TO_DTYPE[code]
        arr = np.frombuffer(view[start + begin : start + end], dtype=dt).reshape(shape)
        tensors[name] = _finish(arr, code)
    return tensors, layout.metadata


class safe_open:  # noqa: N801 - the safetensors package's name for the same thing
    """A safetensors file opened for reading: the header is read and validated at once (see
    [Note: safetensors validation]), the tensors only by ``read()``. Use as a context manager::

        with safe_open(path) as f:
            f.metadata(), f.keys(), f.shapes()   # from the header alone
            tensors = f.read()                   # every tensor, digest verified
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        self._f = open(self.path, "rb")  # noqa: SIM115 - closed by close() / __exit__
        try:
            size = os.fstat(self._f.fileno()).st_size
            header, self._start = _parse_header(self._read_at, size, self.path)
            self._layout = _Layout(header, size - self._start, self.path)
        except BaseException:
            self._f.close()
            raise

    def _read_at(self, offset: int, n: int) -> bytes:
        self._f.seek(offset)
        return self._f.read(n)

    def metadata(self) -> dict[str, str]:
        """The ``__metadata__`` (without the digest)."""
        return dict(self._layout.metadata)

    def keys(self) -> list[str]:
        return [name for _, _, name, _, _ in self._layout.entries]

    def shapes(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """``{name: (dtype code, shape)}`` from the header."""
        return self._layout.shapes()

    def read(self) -> dict[str, np.ndarray]:
        """Every tensor, each read straight into its own array; the digest (when the file has
        one) is verified on the way, and a mismatch raises ``ValueError``."""
        layout, f = self._layout, self._f
        verify = layout.expected_crc is not None
        nbytes = layout.entries[-1][1] if layout.entries and verify else 0
        f.seek(self._start)
        tensors: dict[str, np.ndarray] = {}
        with _Crc32(layout.digest_prefix, nbytes) as crc:
            for _, _, name, code, shape in layout.entries:  # sorted, contiguous
                arr = np.empty(shape, _CODE_TO_DTYPE[code])
                for chunk in _chunks(_bytes_of(arr)):
                    if f.readinto(chunk) != len(chunk):
                        raise ValueError(
                            f"{self.path}: short read of tensor {name!r} (the file changed "
                            "while reading)"
                        )
                    if verify:
                        crc.update(chunk)
                tensors[name] = _finish(arr, code)
            if verify:
                _check_digest(crc.value(), layout.expected_crc, self.path)
        return tensors

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> safe_open:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def load(data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """Deserialize safetensors bytes to ``{name: array}``."""
    return _decode(data, "<bytes>")[0]


def load_file_with_metadata(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read ``path``: ``({name: array}, metadata)``. Invalid files raise ``ValueError``."""
    with safe_open(path) as f:
        return f.read(), f.metadata()


def load_file(path: PathLike) -> dict[str, np.ndarray]:
    """Read ``path`` to ``{name: array}``. Invalid files raise ``ValueError``."""
    return load_file_with_metadata(path)[0]


def read_metadata(path: PathLike) -> dict[str, str]:
    """Only the ``__metadata__`` of ``path`` (its header is validated; no tensor is read)."""
    with safe_open(path) as f:
        return f.metadata()
