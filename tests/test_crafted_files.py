"""Crafted and corrupted model files (issue 9, "keep them out"; [Note: hostile model files]).

Small saved models (Dense, Conv2D, BatchNormalization, Embedding, Dropout, a functional graph,
the seed convnet) are rewritten: every numeric field of the configuration set to 0, -1, 2**31,
2**61, 2**63, a float, a string and null; the file truncated, bytes flipped, the header length
made huge, the tensor offsets made to overlap or run past the end. ``load_model`` must load the
file or raise a TypeError / ValueError that names it: never another exception, a crash, or a
large allocation. The cases run in ONE child process under an address-space limit
(``RLIMIT_AS``), so an over-allocation fails the case (MemoryError) instead of the machine; the
child reports one JSON line per case, so a crash still names the case that caused it.

    python tests/test_crafted_files.py DIR     # the child alone, printing its report
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time

from helpers import join_safetensors, split_safetensors

ADDRESS_SPACE_LIMIT = 2 << 30  # bytes: the child's whole virtual memory
VALUES = [0, -1, 2**31, 2**61, 2**63, 2.5, "x", None]


# ---------------------------------------------------------------------- the child
def _models() -> dict:
    import deepcore as dc
    import deepcore.nn as layers
    import numpy as np
    from deepcore import models

    dc.manual_seed(0)
    rng = np.random.default_rng(0)
    out = {}

    def fit(name, m, x, y, loss="mse"):
        m.compile(optimizer="adam", loss=loss)
        m.fit(x, y, epochs=1, batch_size=len(x), verbose=0)  # so the optimizer has state
        out[name] = m

    x4 = rng.standard_normal((8, 4)).astype(np.float32)
    fit(
        "dense",
        models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(3)]),
        x4,
        np.zeros((8, 3), np.float32),
    )
    fit(
        "conv2d",
        models.Sequential(
            [
                layers.Conv2D(3, 3, strides=2, padding="same", input_shape=(6, 6, 2)),
                layers.Flatten(),
                layers.Dense(2),
            ]
        ),
        rng.standard_normal((4, 6, 6, 2)).astype(np.float32),
        np.zeros((4, 2), np.float32),
    )
    fit(
        "batchnorm",
        models.Sequential(
            [layers.Dense(4, input_shape=(4,)), layers.BatchNormalization(), layers.Dense(1)]
        ),
        x4,
        np.zeros((8, 1), np.float32),
    )
    fit(
        "embedding",
        models.Sequential(
            [
                layers.Embedding(20, 4, input_shape=(5,)),
                layers.GlobalAveragePooling1D(),
                layers.Dense(2),
            ]
        ),
        rng.integers(0, 20, (4, 5)).astype(np.float32),
        np.zeros((4, 2), np.float32),
    )
    fit(
        "dropout",
        models.Sequential(
            [layers.Dense(4, input_shape=(4,)), layers.Dropout(0.5), layers.Dense(1)]
        ),
        x4,
        np.zeros((8, 1), np.float32),
    )
    inp = models.Input(shape=(4,))
    h = layers.Dense(4)(inp)
    fit(
        "functional",
        models.Model(inp, layers.Dense(1)(layers.Add()([h, inp]))),
        x4,
        np.zeros((8, 1), np.float32),
    )
    seed = models.zoo.seed_convnet()
    seed.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    out["seed_convnet"] = seed  # compiled, never fitted: no optimizer state
    return out


def _numeric_paths(obj, path=()):
    """Paths to every int / float leaf (not bool) of a JSON value."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numeric_paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numeric_paths(v, (*path, i))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def _config_cases(raw: bytes, keys: tuple[str, ...]):
    """Every numeric field of the JSON metadata ``keys`` set to every value in VALUES (the
    digest dropped, as a hand edit would)."""
    header, body = split_safetensors(raw)
    meta = header["__metadata__"]
    meta.pop("deepcore.digest")
    for key in keys:
        if key not in meta:
            continue
        cfg = json.loads(meta[key])
        for path in list(_numeric_paths(cfg)):
            for value in VALUES:
                edited = json.loads(meta[key])
                _set(edited, path, value)
                h = json.loads(json.dumps(header))
                h["__metadata__"][key] = json.dumps(edited)
                yield f"{key}:{'.'.join(map(str, path))}={value!r}", join_safetensors(h, body)


def _container_cases(raw: bytes):
    """Truncations, flipped bytes, bad header lengths and offsets."""
    header, body = split_safetensors(raw)
    n = len(raw) - len(body)
    for cut in sorted({0, 4, 8, 9, n // 2, n - 1, n, n + 1, (n + len(raw)) // 2, len(raw) - 1}):
        yield f"truncated at {cut}", raw[:cut]
    for pos in sorted({8, 9, n // 3, n // 2, n - 2, n, n + 5, len(raw) - 1}):
        flipped = bytearray(raw)
        flipped[pos] ^= 0x5A
        yield f"byte {pos} flipped", bytes(flipped)
    for length in (0, 1, n - 9, n - 7, 2**31, 2**62, 2**63, 2**64 - 1):  # 2**64-1: "-1"
        yield f"header length {length}", struct.pack("<Q", length) + raw[8:]
    header.pop("__metadata__")["deepcore.digest"] = "x"  # drop it: the structure must hold
    names = [k for k in header]
    a, b = names[0], names[-1]
    edits = {
        "offsets overlap": lambda h: h[b].update(data_offsets=[0, h[b]["data_offsets"][1]]),
        "offsets past the end": lambda h: h[b].update(data_offsets=[0, 2**62]),
        "offsets negative": lambda h: h[a].update(data_offsets=[-8, 0]),
        "shape huge": lambda h: h[a].update(shape=[2**61, 2**61]),
        "shape of 2**63": lambda h: h[a].update(shape=[2**63]),
        "shape negative": lambda h: h[a].update(shape=[-1]),
        "shape a string": lambda h: h[a].update(shape="big"),
        "dtype unknown": lambda h: h[a].update(dtype="F128"),
        "entry null": lambda h: h.update({a: None}),
        "metadata null": lambda h: h.update(__metadata__=None),
    }
    for name, edit in edits.items():
        h = json.loads(json.dumps(header))
        edit(h)
        yield name, join_safetensors(h, body)


def child(directory: str) -> int:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    from deepcore import models

    t0 = time.perf_counter()
    saved = {}
    for name, m in _models().items():
        path = os.path.join(directory, f"{name}.deepcore")
        m.save(path)
        with open(path, "rb") as f:
            saved[name] = f.read()
    print(json.dumps({"models": len(saved), "setup_s": round(time.perf_counter() - t0, 2)}))
    counts = {"cases": 0, "loaded": 0, "refused": 0, "bad": 0}
    for name, raw in saved.items():
        keys = ("model_config", "build_input_shape")
        if name == "dense":  # one model covers the compile and optimizer metadata
            keys += ("compile_config", "optimizer_state")
        cases = list(_config_cases(raw, keys))
        if name in ("dense", "seed_convnet"):
            cases += list(_container_cases(raw))
        for case, data in cases:
            # a fresh name per case: rewriting one file truncates it, which ext4 flushes
            bad_file = os.path.join(directory, f"crafted{counts['cases']}.deepcore")
            with open(bad_file, "wb") as f:
                f.write(data)
            counts["cases"] += 1
            try:
                models.load_model(bad_file)
            except (TypeError, ValueError) as e:
                if bad_file in str(e):
                    counts["refused"] += 1
                    continue
                outcome = f"{type(e).__name__} without the file name: {e}"
            except BaseException as e:  # noqa: BLE001 - any other outcome is the finding
                outcome = f"{type(e).__name__}: {e}"
            else:
                counts["loaded"] += 1
                continue
            finally:
                os.unlink(bad_file)
            counts["bad"] += 1
            print(json.dumps({"model": name, "case": case, "outcome": outcome[:300]}), flush=True)
    counts["run_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(counts), flush=True)
    return 0


# ---------------------------------------------------------------------- the test
def test_crafted_model_files_load_or_raise_clear_errors_without_over_allocating(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run(
        [sys.executable, __file__, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    findings = [r for r in lines if "case" in r]
    assert proc.returncode == 0, (
        f"the child died (rc {proc.returncode}) after {findings[-1:] or lines[-1:]}: "
        f"{proc.stderr[-2000:]}"
    )
    summary = lines[-1]
    assert not findings, "\n".join(json.dumps(r) for r in findings)
    assert summary["cases"] == summary["loaded"] + summary["refused"] and summary["cases"] > 1000
    print(f"crafted files: {summary}")


if __name__ == "__main__":
    sys.exit(child(sys.argv[1]))
