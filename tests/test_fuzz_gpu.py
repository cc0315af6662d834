"""Property-based fuzzing of the index math of the CUDA kernels (csrc/cuda/*.cu): random shapes
and axes (sizes 1..9, ranks 1..4, so every (outer, C, inner) split and both per-channel block
layouts occur) for the ops whose kernels view a tensor as (outer, C, inner) or as rows: bias add
and its gradient, PReLU, softmax along any axis, batch norm, layer norm. Oracle: the CPU kernels
in float64 ([Note: GPU test oracle] in gpu_helpers.py). Marked `gpu`; examples and seed fixed
in CI ([Note: fuzz budget] in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import _C
from gpu_helpers import close, cupy_fixture, f64, nan_like, poison_pool  # noqa: F401 (fixture)

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
given = hypothesis.given

pytestmark = pytest.mark.gpu

shapes = st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple)


@given(shape=shapes, data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_channel_and_row_kernels(cp, shape, data, dtype):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(sum(shape) * 7 + axis)
    x = rng.standard_normal(shape).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    C = shape[axis]
    b = rng.standard_normal(C).astype(dtype)
    xd, gyd = cp.asarray(x), cp.asarray(gy)

    out = nan_like(cp, shape, dtype)
    _C.bias_add(xd, cp.asarray(b), axis, out=out)
    close(out, _C.bias_add(f64(x), f64(b), axis), dtype)
    close(_C.bias_grad(gyd, axis), _C.bias_grad(f64(gy), axis), dtype)

    poison_pool(cp, (shape, dtype), (shape, dtype))
    gx, gw = _C.prelu_backward(xd, cp.asarray(np.abs(b)), gyd, axis)
    rgx, rgw = _C.prelu_backward(f64(x), np.abs(f64(b)), f64(gy), axis)
    close(gx, rgx, dtype)
    close(gw, rgw, dtype)

    out = nan_like(cp, shape, dtype)
    _C.softmax_forward(xd, axis, False, out=out)
    close(out, _C.softmax_forward(f64(x), axis, False), dtype)

    if len(shape) >= 2 and x.size > C:  # one value per channel: training refuses it
        poison_pool(cp, (shape, dtype), ((C,), dtype), ((C,), dtype))
        y, _, _ = _C.batch_norm_forward(xd, None, None, None, None, True, axis=axis)
        close(
            y, _C.batch_norm_forward(f64(x), None, None, None, None, True, axis=axis)[0], dtype, 3
        )

    n = shape[-1]
    w = rng.standard_normal(n).astype(dtype)
    poison_pool(cp, (shape, dtype))
    y, _, _ = _C.layer_norm_forward(xd, cp.asarray(w), None, n)
    close(y, _C.layer_norm_forward(f64(x), f64(w), None, n)[0], dtype, 3)
