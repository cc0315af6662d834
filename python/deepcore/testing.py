"""Testing helpers: finite-difference gradient checks and reference comparisons.

    from deepcore.testing import gradcheck
    gradcheck(lambda x, w: F.conv2d(x, w), [x64, w64])   # float64 inputs

``gradcheck`` compares the analytic gradient of ``sum(out * r)`` (r a fixed random cotangent)
with central differences, one input element at a time (the test harness loops over elements;
the ops themselves never do).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from .autograd import no_grad
from .tensor import Tensor

__all__ = ["gradcheck", "assert_close_rel", "peak_rss_growth"]


def _as_list(out: Any) -> list[Tensor]:
    """The floating-point Tensor outputs of fn (integer outputs such as indices carry no
    gradient)."""
    outs = [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]
    return [o for o in outs if o.dtype.kind == "f"]


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
    check: Sequence[bool] | None = None,
) -> None:
    """Raise AssertionError if the autograd gradient of ``fn`` disagrees with finite differences.

    ``inputs`` are arrays or Tensors; the ones selected by ``check`` (default: every
    floating-point one) are differentiated. Floating-point inputs are checked in float64
    (float32 ones are promoted: central differences in float32 cannot resolve a gradient).
    Non-array inputs are passed to ``fn`` unchanged.
    """
    rng = np.random.default_rng(seed)
    tensors = []
    for x in inputs:
        arr = x.data if isinstance(x, Tensor) else x
        if isinstance(arr, np.ndarray):
            arr = np.array(arr, dtype=np.float64 if arr.dtype.kind == "f" else arr.dtype)
            tensors.append(Tensor(arr))
        else:
            tensors.append(arr)
    if check is None:
        check = [isinstance(t, Tensor) and t.dtype.kind == "f" for t in tensors]
    if len(check) != len(tensors):
        raise ValueError(f"check has {len(check)} entries for {len(tensors)} inputs")
    for t, c in zip(tensors, check):
        if c:
            t.requires_grad = True

    outs = _as_list(fn(*tensors))
    cotangents = [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]

    def objective() -> float:
        with no_grad():
            res = _as_list(fn(*tensors))
        return float(sum(np.sum(o.data.astype(np.float64) * r) for o, r in zip(res, cotangents)))

    total = None
    for o, r in zip(outs, cotangents):
        term = (o * Tensor(r)).sum()
        total = term if total is None else total + term
    if total is None or not total.requires_grad:
        raise AssertionError("gradcheck: the function's output does not depend on any input")
    total.backward()

    for idx, (t, c) in enumerate(zip(tensors, check)):
        if not c:
            continue
        analytic = np.zeros(t.shape) if t.grad is None else t.grad.data.astype(np.float64)
        numeric = np.zeros(t.shape)
        flat = t.data.reshape(-1)  # a view: perturb in place
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            fp = objective()
            flat[i] = orig - eps
            fm = objective()
            flat[i] = orig
            numeric.reshape(-1)[i] = (fp - fm) / (2 * eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            err = np.abs(analytic - numeric)
            worst = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
            raise AssertionError(
                f"gradcheck failed for input {idx} (shape {t.shape}): max abs error "
                f"{err.max():.3e} at {worst}: analytic {analytic[worst]!r} vs numeric "
                f"{numeric[worst]!r}"
            )


def assert_close_rel(actual: Any, expected: Any, tol: float, name: str = "result") -> None:
    """Assert ||actual - expected|| / ||expected|| < tol (Frobenius norms, float64)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: shape {a.shape} != expected {e.shape}")
    if not np.all(np.isfinite(a)):
        raise AssertionError(f"{name}: non-finite values in the result")
    denom = np.linalg.norm(e)
    err = np.linalg.norm(a - e) / (denom if denom > 0 else 1.0)
    if not err < tol:
        raise AssertionError(f"{name}: relative error {err:.3e} >= {tol:.1e}")


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def peak_rss_growth(fn: Callable[[], Any]) -> int:
    """Bytes by which ``fn()`` raises the process's peak resident memory above the resident
    memory it started from.

    On Linux the peak (VmHWM) is first reset to the current resident size (writing 5 to
    /proc/self/clear_refs), so an earlier, higher peak (the imports' transient allocations, an
    earlier call) cannot hide the growth. Where that reset is not available, falls back to the
    growth of ``ru_maxrss``, which under-reports whenever ``fn``'s peak stays below an earlier
    one.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _proc_status_kib("VmRSS")
    except OSError:
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fn()
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    fn()
    return max(_proc_status_kib("VmHWM") - before, 0) * 1024
