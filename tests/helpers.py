"""Shared test helpers. Import as `from helpers import ...` (tests/ is on sys.path via conftest)."""

from __future__ import annotations

import importlib.util

import deepcore as dc
import numpy as np
import pytest
from deepcore.testing import assert_close_rel, gradcheck  # noqa: F401

HAS_TORCH = importlib.util.find_spec("torch") is not None
requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")


def supported_capabilities() -> list[str]:
    order = ["generic", "avx2", "avx512"]
    best = dc.kernels.info()["cpu_capability_supported"]
    return order[: order.index(best) + 1]


@pytest.fixture(params=supported_capabilities())
def cpu_capability(request):
    """Run the test once per CPU kernel variant this machine supports."""
    prev = dc.kernels.get_cpu_capability()
    dc.kernels.set_cpu_capability(request.param)
    yield request.param
    dc.kernels.set_cpu_capability(prev)


def rand(*shape, dtype=np.float64, seed=None, low=-1.0, high=1.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape).astype(dtype)


# ------------------------------------------------------------------------------ op-test helper
# Tolerances for comparing a result in `dtype` with a float64 reference (relative to the
# reference's scale, one pair per dtype: float32 about 2e-5 relative, float64 about 1e-10).
TOLS = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _cases(shapes):
    """Each case is a tuple of input shapes; a bare shape (tuple of ints) is a unary case."""
    out = []
    for case in shapes:
        if len(case) == 0 or isinstance(case[0], (int, np.integer)):
            case = (tuple(case),)
        out.append(tuple(tuple(s) for s in case))
    return out


def _assert_allclose(actual, expected, dtype, what, tols=None):
    tol = (tols or TOLS).get(np.dtype(dtype).type) or TOLS[np.dtype(dtype).type]
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != expected {e.shape}"
    scale = float(np.max(np.abs(e))) if e.size else 1.0
    np.testing.assert_allclose(
        a, e, rtol=tol["rtol"], atol=tol["atol"] * max(scale, 1.0), err_msg=what
    )


def check_op(
    dc_fn,
    np_fn,
    shapes,
    torch_fn=None,
    grad=True,
    dtypes=(np.float32, np.float64),
    low=-2.0,
    high=2.0,
    make_inputs=None,
    grad_max_size=64,
    seed=0,
    gradcheck_kw=None,
    np_vjp=None,
    tols=None,
):
    """Check one op over many shapes: the one op-test helper (every op test calls it).

    dc_fn(*tensors) -> Tensor (or tuple of Tensors); np_fn(*float64 arrays) -> the float64
    reference (array or tuple); torch_fn(*torch tensors) -> the PyTorch equivalent;
    np_vjp(*float64 arrays, cotangent) -> the float64 reference gradient of each input (a
    tuple; None where an input has none).

    For every case in ``shapes`` (a tuple of input shapes; a bare shape means one input):
      * forward in each of ``dtypes`` against the float64 NumPy reference, result dtype kept;
        the reference sees the inputs as rounded to that dtype (so a float32 input that rounds
        onto a kink is compared with the function at the kink);
      * with ``np_vjp``: the backward in each dtype, for a random cotangent, against it (every
        size, not only gradcheck's small ones);
      * ``gradcheck`` in float64 when ``grad`` and every input has at most ``grad_max_size``
        elements;
      * with PyTorch installed and ``torch_fn`` given: forward and input gradients (for a
        random cotangent) against PyTorch in float64.
    Inputs are uniform in [low, high) unless ``make_inputs(shapes, rng) -> list of float64
    arrays`` is given (e.g. positive inputs for log, well-separated values for max).
    ``tols`` ({dtype: dict(rtol=, atol=)}) overrides ``TOLS`` for an op whose error grows
    with its reduction length (norms).
    """
    rng = np.random.default_rng(seed)
    for case in _cases(shapes):
        if make_inputs is not None:
            xs = [np.asarray(x, dtype=np.float64) for x in make_inputs(case, rng)]
        else:
            xs = [rng.uniform(low, high, size=s) for s in case]
        for dt in dtypes:
            xr = [x.astype(dt).astype(np.float64) for x in xs]  # what the op sees, in float64
            ref = np_fn(*xr)
            refs = ref if isinstance(ref, tuple) else (ref,)
            ts = [dc.tensor(x.astype(dt), requires_grad=np_vjp is not None) for x in xs]
            out = dc_fn(*ts)
            outs = out if isinstance(out, tuple) else (out,)
            assert len(outs) == len(refs), f"{len(outs)} outputs, expected {len(refs)}"
            for i, (o, r) in enumerate(zip(outs, refs)):
                assert isinstance(o, dc.Tensor), f"output {i} is {type(o).__name__}"
                if np.asarray(r).dtype.kind == "f":
                    assert o.dtype == dt, f"case {case}: output dtype {o.dtype}, expected {dt}"
                what = f"case {case} {np.dtype(dt).name} out {i}"
                _assert_allclose(o.detach().numpy(), r, dt, what, tols)
            if np_vjp is not None and out.size:  # np_vjp: single-output ops
                g = rng.standard_normal(out.shape)
                out.backward(g.astype(dt))
                for i, (t, want) in enumerate(zip(ts, np_vjp(*xr, g))):
                    if want is not None:
                        what = f"case {case} {np.dtype(dt).name} grad of input {i}"
                        _assert_allclose(t.grad.numpy(), want, dt, what, tols)
        if grad and all(x.size <= grad_max_size for x in xs):
            gradcheck(dc_fn, xs, **(gradcheck_kw or {}))
        if torch_fn is not None and HAS_TORCH:
            _check_torch(dc_fn, torch_fn, xs, grad, rng)


def _check_torch(dc_fn, torch_fn, xs, grad, rng):
    import torch

    ts = [dc.tensor(x, requires_grad=grad) for x in xs]
    pts = [torch.tensor(x, requires_grad=grad) for x in xs]
    out = dc_fn(*ts)
    pout = torch_fn(*pts)
    outs = out if isinstance(out, tuple) else (out,)
    pouts = pout if isinstance(pout, (tuple, list)) else (pout,)
    for i, (o, p) in enumerate(zip(outs, pouts)):
        _assert_allclose(o.detach().numpy(), p.detach().numpy(), np.float64, f"torch out {i}")
    if not grad:
        return
    cots = [rng.standard_normal(o.shape) for o in outs]
    total = None
    for o, c in zip(outs, cots):
        term = (o * dc.tensor(c)).sum()
        total = term if total is None else total + term
    total.backward()
    ptotal = sum((p * torch.tensor(c)).sum() for p, c in zip(pouts, cots))
    ptotal.backward()
    for i, (t, p) in enumerate(zip(ts, pts)):
        g = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        pg = np.zeros(t.shape) if p.grad is None else p.grad.numpy()
        _assert_allclose(g, pg, np.float64, f"torch grad of input {i}")


# Shapes that cover the awkward cases: scalars, size-1 axes, odd sizes, empty tensors.
UNARY_SHAPES = [
    (),
    (1,),
    (7,),
    (3, 5),
    (1, 4),
    (2, 3, 4),
    (2, 1, 3, 1),
    (1, 2, 1, 2, 3),
    (0,),
    (3, 0),
]
BINARY_SHAPES = [
    ((), ()),
    ((5,), ()),
    ((), (4,)),
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((1,), (2, 3)),
    ((2, 1, 3), (4, 1)),
    ((0,), (1,)),
    ((3, 0), (3, 1)),
    ((2, 1, 2, 1, 3), (1, 2, 1, 2, 1)),
]


def np_softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis in NumPy (a reference for tests)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def split_safetensors(raw: bytes) -> tuple[dict, bytes]:
    """(header JSON, data buffer) of safetensors bytes, for tests that edit files by hand."""
    import json
    import struct

    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def join_safetensors(header: dict, body: bytes) -> bytes:
    """Inverse of ``split_safetensors`` (an unpadded header, as another writer may make)."""
    import json
    import struct

    hb = json.dumps(header).encode()
    return struct.pack("<Q", len(hb)) + hb + body
