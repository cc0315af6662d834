"""keras.ops.lu_factor (ops/_linalg.py over csrc/lu.h): LU with partial pivoting, LAPACK getrf's
semantics and SciPy / Keras's return convention ``(lu, pivots)`` with 0-based row swaps.
Checked against a float64 NumPy reference of the same algorithm written here (values and
pivots), the reconstruction P·L·U = A, SciPy when installed, the single-threaded reference
kernel of csrc/ref/lu_ref.cpp (threaded paths included), gradients (float64 gradcheck of the
packed lu matrix, square matrices), singular matrices and bad input."""

from __future__ import annotations

import deepcore as dc
import deepcore.keras as keras
import numpy as np
import pytest
from deepcore import _C, ops
from helpers import check_op

SQUARE = [(1, 1), (3, 3), (2, 4, 4), (2, 1, 3, 3), (0, 2, 2), (5, 5), (7, 7)]
RECT = [(3, 5), (5, 3), (2, 4, 2), (1, 7), (7, 1), (2, 0, 3), (3, 0)]


def lu_reference(a):
    """getrf in float64, vectorised over the batch: (lu, pivots, perm)."""
    a = np.array(a, np.float64)
    *lead, m, n = a.shape
    k = min(m, n)
    a = a.reshape(int(np.prod(lead)), m, n)
    b = np.arange(len(a))
    piv = np.zeros((len(a), k), np.int32)
    perm = np.tile(np.arange(m), (len(a), 1))
    for j in range(k):
        p = j + np.argmax(np.abs(a[:, j:, j]), axis=1)  # the first largest magnitude
        piv[:, j] = p
        nz = a[b, p, j] != 0
        swap = nz & (p != j)
        rows = a[b, j].copy()
        a[b[swap], j] = a[b[swap], p[swap]]
        a[b[swap], p[swap]] = rows[swap]
        pj = perm[b, j].copy()
        perm[b[swap], j] = perm[b[swap], p[swap]]
        perm[b[swap], p[swap]] = pj[swap]
        d = np.where(nz, a[:, j, j], 1.0)
        mult = np.where(nz[:, None], a[:, j + 1 :, j] / d[:, None], a[:, j + 1 :, j])
        a[:, j + 1 :, j] = mult
        a[:, j + 1 :, j + 1 :] -= np.where(
            nz[:, None, None], mult[:, :, None] * a[:, j, None, j + 1 :], 0.0
        )
    return a.reshape(*lead, m, n), piv.reshape(*lead, k), perm.reshape(*lead, m)


def _rows_from_pivots(piv, m):
    """The row order P applies, from the swaps (a test-side replay of LAPACK's ipiv)."""
    perm = np.tile(np.arange(m), (*piv.shape[:-1], 1))
    for j in range(piv.shape[-1]):
        p = piv[..., j].astype(np.int64)
        a, b = np.take_along_axis(perm, p[..., None], -1), perm[..., j : j + 1].copy()
        perm[..., j : j + 1] = a
        np.put_along_axis(perm, p[..., None], b, -1)
    return perm


def _reconstruct(lu, piv):
    """P x from (lu, pivots): L U, and x's rows in P's order."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    low = np.tril(lu, -1)[..., :, :k] + np.eye(m, k)
    up = np.triu(lu)[..., :k, :]
    return low @ up, _rows_from_pivots(piv, m)


def _inputs(shapes, rng):
    return [rng.uniform(-1, 1, size=s) for s in shapes]


def _lu_ref_values(a):
    return lu_reference(a)[0]


@pytest.mark.parametrize("shapes", [SQUARE, RECT], ids=["square", "rectangular"])
def test_lu_matches_the_reference(shapes):
    check_op(
        lambda x: ops.lu_factor(x)[0],
        _lu_ref_values,
        shapes,
        make_inputs=_inputs,
        grad=shapes is SQUARE,
        tols={np.float32: dict(rtol=1e-5, atol=1e-5)},
    )


@pytest.mark.parametrize("shape", SQUARE + RECT + [(4, 6, 6), (40, 40)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pivots_and_reconstruction(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    lu, piv = ops.lu_factor(x)
    assert lu.dtype == dtype and lu.shape == shape
    assert piv.dtype == np.int32 and piv.shape == (*shape[:-2], min(shape[-2:]))
    ref_lu, ref_piv, _ = lu_reference(x)
    np.testing.assert_array_equal(piv.data, ref_piv)
    prod, rows = _reconstruct(lu.data.astype(np.float64), piv.data)
    px = np.take_along_axis(x.astype(np.float64), rows[..., :, None], axis=-2)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(prod, px, rtol=tol, atol=tol * max(1, shape[-1]))
    low = np.tril(lu.data, -1)
    assert np.all(np.abs(low) <= 1 + tol)  # partial pivoting: |L| <= 1


def test_against_scipy():
    sl = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    for shape in [(1, 1), (4, 4), (9, 9), (3, 6), (6, 3)]:
        x = rng.standard_normal(shape)
        lu, piv = ops.lu_factor(x)
        if shape[0] == shape[1]:
            ref_lu, ref_piv = sl.lu_factor(x)
        else:  # scipy's lu_factor wants square matrices; its getrf does not
            ref_lu, ref_piv, _ = sl.lapack.dgetrf(x)
        np.testing.assert_array_equal(piv.data, ref_piv)
        np.testing.assert_allclose(lu.data, ref_lu, rtol=1e-12, atol=1e-12)


def _rel(a, b):
    return np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b), 1e-300)


def test_driver_matches_the_reference_kernel_on_threaded_and_blocked_paths():
    """The threaded unblocked loop, a batch over threads, and the blocked form ([Note: blocked
    LU], min(m, n) >= 128: panels of 64, a trsm, a GEMM update; same pivots, sums in another
    order) against the one-element-at-a-time reference kernel."""
    rng = np.random.default_rng(4)
    cases = [(300, 300), (200, 8, 8), (3, 130, 150), (150, 130), (129, 400), (257, 131)]
    for shape in cases:
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal(shape).astype(dtype)
            lu, piv, perm, zero = _C.lu_factor(x)
            rlu, rpiv, rperm, rzero = _C.lu_factor(x, reference=True)
            np.testing.assert_array_equal(piv, rpiv)
            np.testing.assert_array_equal(perm, rperm)
            assert _rel(lu, rlu) < (1e-5 if dtype == np.float32 else 1e-13), shape
            assert zero == rzero == 0
            np.testing.assert_array_equal(perm, _rows_from_pivots(piv, shape[-2]))
            prod, rows = _reconstruct(lu.astype(np.float64), piv)
            px = np.take_along_axis(x.astype(np.float64), rows[..., :, None], axis=-2)
            assert _rel(prod, px) < (1e-5 if dtype == np.float32 else 1e-13)


def test_blocked_path_with_zero_pivots_across_panels():
    """Zero columns at a panel's first, middle and last column and in the next panel: the
    blocked form leaves them as the unblocked one does (no swap, no scaling)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 200))
    x[:, [64, 90, 127, 130]] = 0.0
    lu, piv, perm, zero = _C.lu_factor(x)
    rlu, rpiv, rperm, rzero = _C.lu_factor(x, reference=True)
    assert zero == rzero == 4
    np.testing.assert_array_equal(piv, rpiv)
    assert _rel(lu, rlu) < 1e-13
    assert np.all(np.diag(lu)[[64, 90, 127, 130]] == 0)


def test_singular_matrices_factor_completely():
    """getrf finishes the factorisation of a singular matrix (info > 0) with a zero on U's
    diagonal; so does lu_factor (no error), and P·L·U still equals the matrix."""
    cases = [
        np.array([[1.0, 2.0], [2.0, 4.0]]),  # rank 1
        np.zeros((3, 3)),
        np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 4.0], [0.0, 5.0, 6.0]]),  # a zero column
        np.array([[2.0, 1.0, 1.0], [4.0, 2.0, 1.0], [6.0, 3.0, 1.0]]),  # zero pivot mid-way
    ]
    for x in cases:
        lu, piv = ops.lu_factor(x)
        ref_lu, ref_piv, _ = lu_reference(x)
        np.testing.assert_array_equal(piv.data, ref_piv)
        np.testing.assert_allclose(lu.data, ref_lu, atol=1e-15)
        assert np.any(np.diag(lu.data) == 0)
        prod, rows = _reconstruct(lu.data, piv.data)
        np.testing.assert_allclose(prod, x[rows], atol=1e-12)
        assert _C.lu_factor(x)[3] >= 1  # zero pivots counted
    np.testing.assert_array_equal(ops.lu_factor(np.zeros((3, 3)))[1].data, [0, 1, 2])


def test_keras_names_and_symbolic_use():
    x = np.array([[4.0, 3.0], [6.0, 3.0]], np.float32)
    lu, piv = keras.ops.lu_factor(x)
    np.testing.assert_array_equal(piv.data, [1, 1])
    np.testing.assert_allclose(lu.data, [[6.0, 3.0], [4.0 / 6.0, 1.0]], rtol=1e-6)
    assert keras.ops.linalg.lu_factor is ops.lu_factor if hasattr(keras.ops, "linalg") else True
    inp = keras.Input(shape=(3, 3))
    s_lu, s_piv = keras.ops.lu_factor(inp)
    assert tuple(s_lu.shape) == (None, 3, 3) and tuple(s_piv.shape) == (None, 3)
    assert s_piv.dtype == "int32"


def test_float16_and_integer_inputs():
    x16 = np.array([[1.0, 2.0], [3.0, 4.0]], np.float16)
    lu, piv = ops.lu_factor(x16)
    assert lu.dtype == np.float16
    ref_lu, ref_piv, _ = lu_reference(x16.astype(np.float32))
    np.testing.assert_array_equal(piv.data, ref_piv)
    np.testing.assert_allclose(lu.data.astype(np.float64), ref_lu, rtol=1e-3)
    lu_i, _ = ops.lu_factor(np.array([[1, 2], [3, 4]]))
    assert lu_i.dtype == np.float32


def test_nan_propagates_without_error():
    x = np.array([[np.nan, 1.0], [2.0, 3.0]])
    lu, _ = ops.lu_factor(x)
    assert np.isnan(lu.data).any()


def test_gradient_errors():
    t = dc.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    lu, _ = ops.lu_factor(t)
    with pytest.raises(NotImplementedError, match="square matrices, got 3x4"):
        lu.sum().backward()
    s = dc.tensor(np.array([[1.0, 2.0], [2.0, 4.0]]), requires_grad=True)
    lu, _ = ops.lu_factor(s)
    with pytest.raises(ValueError, match="singular"):
        lu.sum().backward()


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: ops.lu_factor(np.ones(3)), ValueError, "at least 2 dimensions"),
        (lambda: ops.lu_factor(np.array([["a"]])), TypeError, "lu_factor: x"),
        (lambda: ops.lu_factor([[1j]]), TypeError, "lu_factor"),
        (lambda: _C.lu_factor(np.ones((2, 2), np.float16)), TypeError, "float16"),
        (lambda: _C.lu_factor(np.ones(3)), ValueError, "at least 2 dimensions"),
        (lambda: _C.lu_factor(np.ones((4, 4))[:, ::2]), ValueError, "contiguous"),
        (lambda: _C.lu_factor([[1.0]]), TypeError, "x"),
    ],
)
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
