#!/usr/bin/env python3
"""Smoke-test built deepcore wheels: each is installed into a fresh virtual environment in a
temporary folder outside the source tree and a short run of checks imports it from there:
the native module and its vendored libraries, every CPU kernel variant, one op per area against
NumPy (GEMM, convolution, pooling, activations, normalisation, losses, autograd, an optimizer
step), a tiny Keras-style fit, and a save/load round trip. A wheel missing a file or a library
fails loudly (non-zero exit).

    python3 tools/wheel_smoke.py dist/deepcore-*.whl              # interpreter chosen per wheel tag
    python3 tools/wheel_smoke.py --python python3.12 dist/X.whl   # or named
    python3 tools/wheel_smoke.py --offline dist/X.whl             # no registry: NumPy comes from
                                                                  # the interpreter's own packages
    python tools/wheel_smoke.py --installed        # checks only, on the deepcore installed in
                                                   # this Python (cibuildwheel's test-command)
    python3 tools/wheel_smoke.py --expect-cuda yes dist/X.whl     # the wheel must hold CUDA kernels

On a machine with a CUDA GPU the CUDA toolchain kernel also runs on it; without one the CUDA
entry points must refuse with a clear error.
"""

from __future__ import annotations

import argparse
import glob
import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile


# ----------------------------------------------------------------------------------- driver
def find_python(minor: int) -> str:
    """An interpreter for CPython 3.<minor>: on PATH, else a pyenv install."""
    names = [shutil.which(f"python3.{minor}")]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    names += sorted(glob.glob(f"{root}/versions/3.{minor}.*/bin/python3.{minor}"), reverse=True)
    for py in names:
        if not py:
            continue
        r = subprocess.run(
            [py, "-c", "import sys; print(sys.version_info[1])"], capture_output=True, text=True
        )
        if r.returncode == 0 and r.stdout.strip() == str(minor):
            return py
    raise SystemExit(f"wheel_smoke: no CPython 3.{minor} found (pass --python)")


def missing_files(wheel: str) -> list[str]:
    """The package files tracked in this checkout (python/deepcore/) that the wheel lacks;
    [] when this script does not run from a git checkout."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run(
        ["git", "-C", src, "ls-files", "python/deepcore"], capture_output=True, text=True
    )
    if r.returncode != 0:
        return []
    want = {p[len("python/") :] for p in r.stdout.split()}
    return sorted(want - set(zipfile.ZipFile(wheel).namelist()))


def smoke_one(wheel: str, python: str | None, offline: bool, expect_cuda: str) -> float:
    missing = missing_files(wheel)
    if missing:
        raise RuntimeError(f"the wheel lacks files of the package: {missing}")
    m = re.search(r"-cp3(\d+)-", os.path.basename(wheel))
    if not m:
        raise SystemExit(f"wheel_smoke: {wheel} is not a CPython wheel")
    py = python or find_python(int(m.group(1)))
    t0 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="deepcore-smoke-")
    try:
        venv = os.path.join(tmp, "venv")
        cmd = [py, "-m", "venv", venv] + (["--system-site-packages"] if offline else [])
        subprocess.run(cmd, check=True)
        vpy = os.path.join(venv, "bin", "python")
        pip = [vpy, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        pip += ["--no-index"] if offline else []
        subprocess.run(pip + [os.path.abspath(wheel)], check=True)
        # run a copy of this file from the temporary folder, isolated (-I: no PYTHONPATH, no
        # user site, no current folder on sys.path), so nothing of the source tree can leak in
        script = os.path.join(tmp, "smoke_child.py")
        shutil.copy(__file__, script)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.setdefault("OMP_NUM_THREADS", "2")
        subprocess.run(
            [vpy, "-I", script, "--child", "--expect-cuda", expect_cuda],
            check=True,
            cwd=tmp,
            env=env,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------ child
def child(expect_cuda: str) -> None:
    import deepcore as dc
    import deepcore.nn as layers
    import deepcore.nn.functional as F
    import numpy as np
    from deepcore import models

    here = os.path.dirname(os.path.abspath(dc.__file__))
    assert here.startswith(os.path.realpath(sys.prefix)) or here.startswith(sys.prefix), (
        f"deepcore imported from {here}, not from the fresh environment {sys.prefix}"
    )
    # every module of the package imports (examples run only under __main__)
    names = [m.name for m in pkgutil.walk_packages(dc.__path__, "deepcore.")]
    for name in names:
        importlib.import_module(name)
    info = dc.kernels.info()
    print(f"  {len(names)} modules import; deepcore {dc.__version__} from {here}")
    print("  info: " + ", ".join(f"{k}={info[k]}" for k in sorted(info)))

    # vendored libraries: a repaired wheel keeps them in deepcore.libs/ and must load those
    libs_dir = os.path.join(os.path.dirname(here), "deepcore.libs")
    vendored = sorted(os.listdir(libs_dir)) if os.path.isdir(libs_dir) else []
    with open("/proc/self/maps") as f:
        mapped = {line.split()[-1] for line in f if ".so" in line}
    gomp = sorted(p for p in mapped if "libgomp" in os.path.basename(p))
    print(f"  vendored: {vendored or 'none'}; OpenMP runtime loaded: {gomp}")
    if vendored:
        for name in vendored:
            assert any(os.path.basename(p) == name for p in mapped), f"{name} is not loaded"
        assert all(p.startswith(os.path.realpath(libs_dir)) for p in gomp), (
            f"a libgomp outside the wheel was loaded: {gomp}"
        )

    rng = np.random.default_rng(0)

    # every CPU kernel variant this machine supports is inside the module
    order = ["generic", "avx2", "avx512"]
    best = info["cpu_capability_supported"]
    a32, b32 = rng.standard_normal((37, 29), np.float32), rng.standard_normal((29, 41), np.float32)
    for cap in order[: order.index(best) + 1]:
        dc.kernels.set_cpu_capability(cap)
        c = dc.kernels.matmul(a32, b32)
        np.testing.assert_allclose(c, a32.astype(np.float64) @ b32, rtol=1e-4, atol=1e-4)
    dc.kernels.set_cpu_capability(best)

    def close(got, want, what, tol=1e-9):
        got = got.data if isinstance(got, dc.Tensor) else np.asarray(got)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=what)

    # GEMM + autograd: d(sum(x @ w))/dw = x^T 1
    x = dc.tensor(rng.standard_normal((5, 7)), requires_grad=True)
    w = dc.tensor(rng.standard_normal((7, 3)), requires_grad=True)
    y = x @ w
    close(y, x.numpy() @ w.numpy(), "matmul")
    y.sum().backward()
    close(w.grad, x.numpy().T @ np.ones((5, 3)), "matmul backward")

    # convolution: direct NumPy cross-correlation, stride 1, padding 1
    xi = rng.standard_normal((2, 3, 6, 5))
    wk = rng.standard_normal((4, 3, 3, 3))
    xp = np.pad(xi, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((2, 4, 6, 5))
    for r in range(3):
        for s in range(3):
            ref += np.einsum("nchw,kc->nkhw", xp[:, :, r : r + 6, s : s + 5], wk[:, :, r, s])
    close(F.conv2d(dc.tensor(xi), dc.tensor(wk), padding=1), ref, "conv2d")

    # pooling, activations, softmax, normalisation, a loss
    xi = rng.standard_normal((2, 3, 6, 4))
    close(F.max_pool2d(dc.tensor(xi), 2), xi.reshape(2, 3, 3, 2, 2, 2).max(axis=(3, 5)), "pool")
    close(F.relu(dc.tensor(xi)), np.maximum(xi, 0), "relu")
    e = np.exp(xi - xi.max(axis=-1, keepdims=True))
    close(F.softmax(dc.tensor(xi)), e / e.sum(axis=-1, keepdims=True), "softmax")
    mu, var = xi.mean(axis=-1, keepdims=True), xi.var(axis=-1, keepdims=True)
    close(F.layer_norm(dc.tensor(xi), 4), (xi - mu) / np.sqrt(var + 1e-5), "layer_norm")
    p, t = rng.uniform(0.1, 0.9, (6, 3)), rng.uniform(0, 1, (6, 3))
    close(F.mse_loss(dc.tensor(p), dc.tensor(t)), np.mean((p - t) ** 2), "mse_loss")

    # one optimizer step: SGD without momentum is p - lr * grad
    from deepcore import optim

    v0 = rng.standard_normal(4)
    v = dc.tensor(v0.copy(), requires_grad=True)
    opt = optim.SGD([v], lr=0.1)
    (v * v).sum().backward()
    opt.step()
    close(v, v0 - 0.1 * 2 * v0, "SGD step")

    # a tiny fit on separable data, then save/load gives the same predictions
    xs = rng.standard_normal((256, 4)).astype(np.float32)
    ys = (xs[:, 0] + xs[:, 1] > 0).astype(np.int64)
    dc.manual_seed(0)
    model = models.Sequential(
        [
            layers.Dense(16, activation="relu", input_shape=(4,)),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=optim.Adam(lr=0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    hist = model.fit(xs, ys, epochs=8, batch_size=32, verbose=0).history
    print(
        f"  fit: loss {hist['loss'][0]:.3f} -> {hist['loss'][-1]:.3f}, "
        f"accuracy {hist['accuracy'][-1]:.3f}"
    )
    assert hist["loss"][-1] < 0.7 * hist["loss"][0], f"training did not reduce the loss: {hist}"
    assert hist["accuracy"][-1] > 0.85, f"training did not learn a linear rule: {hist}"
    path = os.path.join(os.getcwd(), "m.deepcore")
    model.save(path)
    again = models.load_model(path)
    np.testing.assert_array_equal(
        np.asarray(again.predict(xs, verbose=0)), np.asarray(model.predict(xs, verbose=0))
    )

    # CUDA: kernels inside as promised; on a GPU they run, without one they refuse clearly
    if expect_cuda == "yes":
        assert info["cuda_built"], "this wheel should hold the CUDA kernels but does not"
        assert info["cuda_archs"].split() == ["80", "90"], info["cuda_archs"]
    elif expect_cuda == "no":
        assert not info["cuda_built"], "this wheel should not hold CUDA kernels"
    xc = rng.standard_normal(1000).astype(np.float32)
    yc = rng.standard_normal(1000).astype(np.float32)
    if info["cuda_available"]:
        want = yc + 2.0 * xc
        dc._C.cuda_saxpy_numpy(2.0, xc, yc)
        np.testing.assert_allclose(yc, want, rtol=1e-6)
        print(f"  CUDA: saxpy ran on {info['cuda_devices']}")
    else:
        try:
            dc._C.cuda_saxpy_numpy(2.0, xc, yc)
        except RuntimeError as err:
            print(f"  CUDA: no GPU here, the CUDA path says: {err}")
        else:
            raise AssertionError("the CUDA path ran without a GPU")
    print("  smoke: all checks passed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("wheels", nargs="*")
    ap.add_argument("--python", help="interpreter for the venv (default: per wheel tag)")
    ap.add_argument("--offline", action="store_true", help="no registry: --system-site-packages")
    ap.add_argument("--expect-cuda", choices=["yes", "no", "any"], default="any")
    ap.add_argument(
        "--installed", action="store_true", help="check the deepcore installed in this Python"
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child or args.installed:
        child(args.expect_cuda)
        return
    if not args.wheels:
        ap.error("no wheel given")
    failed = []
    for whl in args.wheels:
        print(f"wheel_smoke: {os.path.basename(whl)}", flush=True)
        try:
            secs = smoke_one(whl, args.python, args.offline, args.expect_cuda)
            print(f"wheel_smoke: PASS {os.path.basename(whl)} ({secs:.0f} s)", flush=True)
        except (subprocess.CalledProcessError, RuntimeError) as err:
            print(f"wheel_smoke: FAIL {os.path.basename(whl)}: {err}", flush=True)
            failed.append(whl)
    print(f"wheel_smoke: {len(args.wheels) - len(failed)} of {len(args.wheels)} wheels pass")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
