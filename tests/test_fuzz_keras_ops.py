"""Property-based fuzzing of Keras's ``keras.ops`` names in ``deepcore.ops`` (see [Note: fuzz
budget] in conftest.py): the nn activations on random shapes and values (huge, zeros, at the
kinks), conv and pooling on random geometry against the channels-last references, quantiles
with random axes and methods, the linear-algebra identities on random batches, and the
NumPy-style products, diagonals and segment reductions against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from deepcore import ops  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_keras_ops_nn import ELEMENTWISE, ref_conv, ref_pool  # noqa: E402

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _close(got, want, dtype, scale=1.0):
    tol = TOL[dtype]
    np.testing.assert_allclose(
        np.asarray(got, np.float64), want, rtol=tol["rtol"], atol=tol["atol"] * max(scale, 1.0)
    )


shapes = st.lists(st.sampled_from([0, 1, 2, 3, 7]), min_size=0, max_size=3).map(tuple)
dtypes = st.sampled_from([np.float32, np.float64])


@given(
    st.sampled_from(sorted(ELEMENTWISE)),
    shapes,
    dtypes,
    st.sampled_from(["normal", "huge", "zeros", "kinks"]),
    st.integers(0, 2**32 - 1),
)
def test_fuzz_activations(name, shape, dtype, values, seed):
    rng = np.random.default_rng(seed)
    x = (
        rng.standard_normal(shape)
        * {"normal": 3.0, "huge": 60.0, "zeros": 0.0, "kinks": 1.0}[values]
    )
    if values == "kinks":
        x = np.round(x * 2) / 2  # lands on -1, -0.5, 0, 0.5, 1, ...
    fn, ref = ELEMENTWISE[name]
    xd = np.asarray(x, dtype=dtype)
    got = fn(xd)
    assert got.dtype == dtype and got.shape == x.shape
    want = ref(xd.astype(np.float64))
    scale = float(np.max(np.abs(want))) if want.size else 1.0
    _close(got.numpy(), want, dtype, scale)


@st.composite
def conv_problems(draw):
    nsp = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([1, 2]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    size = tuple(draw(st.integers(1, 7)) for _ in range(nsp))
    stride = draw(st.integers(1, 2))
    dil = draw(st.integers(1, 2))
    pad = draw(st.sampled_from(["valid", "same"]))
    if pad == "valid" and any(dil * (kk - 1) + 1 > n for kk, n in zip(k, size)):
        pad = "same"
    if pad == "same" and stride > 1:
        dil = 1  # Keras refuses 'same' with both strides and dilation > 1
    return nsp, groups, cin, cout, k, size, stride, dil, pad


@given(conv_problems(), st.integers(0, 2**32 - 1))
def test_fuzz_conv(p, seed):
    nsp, groups, cin, cout, k, size, stride, dil, pad = p
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, *size, cin))
    w = rng.standard_normal((*k, cin // groups, cout))
    got = ops.conv(x, w, strides=stride, padding=pad, dilation_rate=dil)
    want = ref_conv(x, w, stride, pad, dil, groups)
    _close(got.numpy(), want, np.float64, float(np.abs(want).max(initial=1.0)))


@given(
    st.integers(1, 2),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from(["valid", "same"]),
    st.sampled_from(["max", "avg"]),
    st.integers(0, 2**32 - 1),
)
def test_fuzz_pool(nsp, size, stride, pad, kind, seed):
    rng = np.random.default_rng(seed)
    spatial = tuple(rng.integers(size, 8, size=nsp))
    x = rng.standard_normal((2, *spatial, 3))
    fn = ops.max_pool if kind == "max" else ops.average_pool
    got = fn(x, size, strides=stride, padding=pad)
    want = ref_pool(x, size, stride, pad, kind)
    _close(got.numpy(), want, np.float64)


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=3),
    st.one_of(st.floats(0, 1), st.lists(st.floats(0, 1), min_size=1, max_size=3)),
    st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]),
    st.booleans(),
    st.data(),
)
def test_fuzz_quantile(shape, q, method, keepdims, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    x = np.random.default_rng(len(shape)).standard_normal(shape)
    x[..., 0] = x.flat[-1]  # ties
    got = ops.quantile(x, q, axis=axis, method=method, keepdims=keepdims)
    want = np.quantile(x, q, axis=axis, method=method, keepdims=keepdims)
    _close(got.numpy(), want, np.float64)


@given(
    st.lists(st.integers(1, 3), min_size=0, max_size=2),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(0, 2**32 - 1),
)
def test_fuzz_linalg_identities(batch, n, k, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((*batch, n, n)) + n * np.eye(n)
    b = rng.standard_normal((*batch, n, k))
    eye = np.broadcast_to(np.eye(n), a.shape)
    np.testing.assert_allclose((ops.inv(a) @ ops.convert_to_tensor(a)).numpy(), eye, atol=1e-10)
    np.testing.assert_allclose(a @ ops.solve(a, b).numpy(), b, atol=1e-10)
    np.testing.assert_allclose(ops.det(a).numpy(), np.linalg.det(a), rtol=1e-10)
    sign, logabs = ops.slogdet(a)
    np.testing.assert_allclose(sign.numpy() * np.exp(logabs.numpy()), np.linalg.det(a), rtol=1e-10)
    spd = a @ np.swapaxes(a, -1, -2)
    low = ops.cholesky(spd).numpy()
    np.testing.assert_allclose(low @ np.swapaxes(low, -1, -2), spd, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ops.eigh(spd)[0].numpy(), np.linalg.eigvalsh(spd), rtol=1e-10)
    np.testing.assert_allclose(
        ops.svd(a, compute_uv=False).numpy(), np.linalg.svd(a, compute_uv=False), rtol=1e-10
    )
    np.testing.assert_allclose(ops.trace(a, axis1=-2, axis2=-1).numpy(), np.trace(a, 0, -2, -1))


@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=3),
    st.lists(st.integers(0, 4), min_size=1, max_size=3),
    st.integers(-3, 3),
    st.integers(0, 2**32 - 1),
)
def test_fuzz_products_and_diagonals(sa, sb, offset, seed):
    rng = np.random.default_rng(seed)
    sb = list(sb)
    sb[-2 if len(sb) >= 2 else 0] = sa[-1]  # aligned for dot
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    _close(ops.dot(a, b).numpy(), np.dot(a, b), np.float64, 10.0)
    _close(ops.outer(a, b).numpy(), np.outer(a, b), np.float64, 10.0)
    if len(sa) >= 2:
        _close(ops.diagonal(a, offset).numpy(), np.diagonal(a, offset), np.float64)
        _close(ops.trace(a, offset).numpy(), np.trace(a, offset), np.float64, 10.0)
        _close(ops.rot90(a, offset).numpy(), np.rot90(a, offset), np.float64)
    ids = rng.integers(0, 3, size=sa[0])
    want = np.zeros((3, *sa[1:]))
    np.add.at(want, ids, a)
    _close(ops.segment_sum(a, ids, 3).numpy(), want, np.float64, 10.0)
