"""What the model file's digest costs ([Note: safetensors digest] in deepcore/io/safetensors.py).

    PYTHONPATH=python python3 bench/file_digest.py [--mparams 138] [--pairs 5] [--dir /tmp]

A VGG-16-sized set of float32 tensors (config D's 16 weight layers: 138.4 M parameters,
553 MB) is
  1. hashed with each candidate digest: zlib.crc32 (what the file stores), hashlib.sha256 and
     hashlib.blake2b, timed alternately: GB/s and the per-pair ratio to crc32;
  2. saved with ``safetensors.save_file`` (validation of the arrays, the digest, the atomic
     write: temporary, fsync, rename) against the floor without any of it: the same bytes
     written to a temporary, fsync'ed and renamed;
  3. loaded with ``safetensors.load_file`` (header validation, tensor by tensor reads, digest
     verified) against the floor: the same tensors read into preallocated arrays; and the same
     file without its digest, loaded (what the digest adds, against what fresh arrays cost),
     and the digest hashed on the reading thread instead of the worker (what the overlap
     buys; nothing on a machine whose cores are all busy).
Validation first: the loaded tensors must equal the saved ones, bit for bit. Times are wall
times of whole saves / loads on this machine's file system (page cache warm after the first
round), medians over the pairs; the ratio is the median of the per-pair ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import tempfile
import zlib

import numpy as np
from deepcore.io import safetensors as st
from harness import alternate, banner

VGG16 = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256)]
VGG16 += [(512, 256), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]


def vgg16_tensors(scale: float) -> dict[str, np.ndarray]:
    """The weight and bias shapes of VGG-16 (config D), the dense layers scaled by ``scale``."""
    rng = np.random.default_rng(0)
    shapes = [((k, c, 3, 3), (k,)) for k, c in VGG16]
    d = int(4096 * scale)
    shapes += [((d, 25088), (d,)), ((d, d), (d,)), ((1000, d), (1000,))]
    out = {}
    for i, (w, b) in enumerate(shapes):
        out[f"layer{i}.weight"] = rng.standard_normal(w, dtype=np.float32)
        out[f"layer{i}.bias"] = rng.standard_normal(b, dtype=np.float32)
    return out


def raw_save(tensors: dict[str, np.ndarray], path: str) -> None:
    """The floor: the same bytes to a temporary, fsync, rename (no validation, no digest)."""
    tmp = path + ".raw.tmp"
    with open(tmp, "wb") as f:
        for a in tensors.values():
            f.write(memoryview(a.reshape(-1).view(np.uint8)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def raw_load(path: str, out: dict[str, np.ndarray]) -> None:
    with open(path, "rb") as f:
        for a in out.values():
            f.readinto(memoryview(a.reshape(-1).view(np.uint8)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mparams", type=float, default=138.4, help="model size (VGG-16: 138.4)")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    scale = max(args.mparams / 138.4, 0.01) ** 0.5  # the dense layers hold ~90%
    tensors = vgg16_tensors(scale)
    nbytes = sum(a.nbytes for a in tensors.values())
    banner(
        f"{sum(a.size for a in tensors.values()) / 1e6:.1f} M float32 params, {nbytes / 1e6:.0f} MB"
    )

    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        path, raw_path = os.path.join(d, "vgg.safetensors"), os.path.join(d, "vgg.raw")
        st.save_file(tensors, path)
        got = st.load_file(path)
        for k, a in tensors.items():  # validate: bit-exact round trip
            if got[k].dtype != a.dtype or not np.array_equal(
                got[k].view(np.uint32), a.view(np.uint32)
            ):
                raise SystemExit(f"validation failed: tensor {k} differs after the round trip")
        del got

        views = [memoryview(a.reshape(-1).view(np.uint8)) for a in tensors.values()]

        def crc32() -> None:
            c = 0
            for v in views:
                c = zlib.crc32(v, c)

        def hasher(name: str):
            def run() -> None:
                h = hashlib.new(name)
                for v in views:
                    h.update(v)
                h.digest()

            return run

        r = alternate(crc32, hasher("sha256"), hasher("blake2b"), rounds=args.pairs, reps=1)
        print("\n| digest | ms | GB/s | time / crc32 |\n|---|---|---|---|")
        for i, name in enumerate(("crc32 (stored)", "sha256", "blake2b")):
            t = r.median(i)
            print(f"| {name} | {t * 1e3:.0f} | {nbytes / t / 1e9:.2f} | {r.ratio(i, 0):.2f}x |")

        out = {k: np.empty_like(a) for k, a in tensors.items()}
        raw_save(tensors, raw_path)
        s = alternate(
            lambda: st.save_file(tensors, path),
            lambda: raw_save(tensors, raw_path),
            rounds=args.pairs,
            reps=1,
            warmup=1,
        )
        nodigest = os.path.join(d, "vgg.nodigest.safetensors")
        with open(path, "rb") as f, open(nodigest, "wb") as g:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            del header["__metadata__"]
            hb = json.dumps(header).encode()
            g.write(struct.pack("<Q", len(hb)) + hb)
            shutil.copyfileobj(f, g, 16 << 20)

        def load_inline() -> None:  # the digest hashed on the reading thread
            saved, st._BACKGROUND_BYTES = st._BACKGROUND_BYTES, 1 << 62
            try:
                st.load_file(path)
            finally:
                st._BACKGROUND_BYTES = saved

        lo = alternate(
            lambda: st.load_file(path),
            lambda: raw_load(raw_path, out),
            lambda: st.load_file(nodigest),
            load_inline,
            rounds=args.pairs,
            reps=1,
            warmup=1,
        )
        print("\n| operation | deepcore ms | floor ms | deepcore / floor |\n|---|---|---|---|")
        for name, t in (
            ("save_file (digest, atomic)", s),
            ("load_file (validated, digest verified)", lo),
        ):
            ms = f"{t.median(0) * 1e3:.0f} | {t.median(1) * 1e3:.0f}"
            print(f"| {name} | {ms} | {t.ratio(0, 1):.2f}x |")
        for i, name in ((2, "load_file, a file without digest"), (3, "load_file, hashed inline")):
            print(f"| {name} | {lo.median(i) * 1e3:.0f} | | {lo.ratio(i, 1):.2f}x |")


if __name__ == "__main__":
    main()
