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
nothing: the header length must fit in the file, the header must be a JSON object of the shape
above, every dtype must be known, every byte range must match its dtype and shape exactly, and
the ranges, sorted, must tile the buffer with no overlap, gap or trailing bytes (the same rules
as the reference implementation). Any violation raises ``ValueError`` naming the tensor and the
rule; nothing is ever read outside the buffer.

Writes are atomic: the file is written under a temporary name in the target directory, flushed
and fsync'ed, then ``os.replace``'d over the target, so a crash or an exception mid-write never
leaves a partial file at ``path``.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Mapping
from typing import Any, Union

import numpy as np

__all__ = [
    "save_file",
    "load_file",
    "load_file_with_metadata",
    "save",
    "load",
    "read_metadata",
    "atomic_write",
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


def _header_bytes(
    items: list[tuple[str, str, np.ndarray]], metadata: Mapping[str, str] | None
) -> bytes:
    header: dict[str, Any] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise TypeError("metadata must be a mapping of str -> str")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, code, arr in items:
        header[name] = {
            "dtype": code,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)  # the buffer starts 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def save(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> bytes:
    """Serialize ``{name: array}`` (and ``metadata``, str -> str) to safetensors bytes."""
    items = _prepare(tensors)
    parts = [_header_bytes(items, metadata)]
    parts += [arr.tobytes() for _, _, arr in items]
    return b"".join(parts)


def atomic_write(path: PathLike, write: Any) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, fsync it, then rename it
    over ``path``. On any exception the temporary file is removed and ``path`` is untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    # make the rename itself durable (best effort: not every platform can fsync a directory)
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def save_file(
    tensors: Mapping[str, Any], path: PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``{name: array}`` to ``path`` in safetensors format, atomically."""
    items = _prepare(tensors)
    header = _header_bytes(items, metadata)

    def write(f: Any) -> None:
        f.write(header)
        for _, _, arr in items:
            if arr.nbytes:
                f.write(memoryview(arr.reshape(-1)).cast("B"))

    atomic_write(path, write)


# ---------------------------------------------------------------------- reading
def _parse_header(data: memoryview, source: str) -> tuple[dict, int]:
    """Validate the length prefix and the JSON header. Returns (header, buffer start)."""
    total = len(data)
    if total < 8:
        raise ValueError(
            f"{source}: not a safetensors file: {total} bytes is shorter than the 8-byte header "
            "length (truncated?)"
        )
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_SIZE:
        raise ValueError(f"{source}: invalid header length {n} (more than {MAX_HEADER_SIZE})")
    if 8 + n > total:
        raise ValueError(
            f"{source}: invalid header length {n}: the file has only {total - 8} bytes after the "
            "length field (truncated or corrupted)"
        )
    raw = bytes(data[8 : 8 + n])
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{source}: header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{source}: header must be a JSON object, got {type(header).__name__}")
    return header, 8 + n


def _validate_entries(header: dict, buffer_len: int, source: str) -> tuple[dict, list]:
    metadata = header.pop("__metadata__", None)
    if metadata is not None and (
        not isinstance(metadata, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise ValueError(f"{source}: __metadata__ must be an object of str -> str")
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
    return (metadata or {}), entries


def _decode(data: Any, source: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    view = memoryview(data).cast("B")
    header, start = _parse_header(view, source)
    metadata, entries = _validate_entries(header, len(view) - start, source)
    tensors: dict[str, np.ndarray] = {}
    for begin, end, name, code, shape in entries:
        dt = _CODE_TO_DTYPE[code]
        arr = np.frombuffer(view[start + begin : start + end], dtype=dt).reshape(shape)
        if code == "BF16":  # bfloat16 is the top half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        else:
            if not arr.flags.aligned or not arr.flags.writeable:
                arr = arr.copy()
            arr = arr.astype(dt.newbyteorder("="), copy=False)
        tensors[name] = arr
    return tensors, metadata


def _read(path: PathLike) -> bytearray:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        buf = bytearray(size)
        got = f.readinto(buf)
        if got != size:
            raise ValueError(f"{os.fspath(path)}: short read ({got} of {size} bytes)")
    return buf


def load(data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """Deserialize safetensors bytes to ``{name: array}``."""
    return _decode(data, "<bytes>")[0]


def load_file_with_metadata(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read ``path``: ``({name: array}, metadata)``. Invalid files raise ``ValueError``."""
    return _decode(_read(path), os.fspath(path))


def load_file(path: PathLike) -> dict[str, np.ndarray]:
    """Read ``path`` to ``{name: array}``. Invalid files raise ``ValueError``."""
    return load_file_with_metadata(path)[0]


def read_metadata(path: PathLike) -> dict[str, str]:
    """Only the ``__metadata__`` of ``path`` (the whole file is still validated)."""
    return load_file_with_metadata(path)[1]
