"""Keras 3's linear algebra in ``deepcore.ops`` (ops/_linalg.py): values against NumPy in
float64 over batched, 1 x 1 and empty-batch shapes, float64 gradchecks of the differentiable
ones ([Note: linalg gradients]), bad input."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import ops
from deepcore.testing import gradcheck
from helpers import check_op

SQUARE = [(1, 1), (3, 3), (2, 4, 4), (2, 1, 3, 3), (0, 2, 2), (5, 5)]


def _well_conditioned(shapes, rng):
    out = []
    for s in shapes:
        a = rng.uniform(-1, 1, size=s)
        if len(s) >= 2 and s[-1] == s[-2]:
            a = a + s[-1] * np.eye(s[-1])  # diagonally dominant: invertible, det > 0
        out.append(a)
    return out


def _spd(shapes, rng):
    out = []
    for s in shapes:
        a = rng.uniform(-1, 1, size=s)
        out.append(a @ np.swapaxes(a, -1, -2) + s[-1] * np.eye(s[-1]))
    return out


def test_inv():
    check_op(
        ops.inv,
        np.linalg.inv,
        SQUARE,
        make_inputs=_well_conditioned,
        tols={np.float32: dict(rtol=1e-5, atol=1e-5)},
    )


def test_det_slogdet_logdet():
    check_op(
        ops.det,
        np.linalg.det,
        SQUARE,
        make_inputs=_well_conditioned,
        tols={np.float32: dict(rtol=1e-5, atol=1e-5)},
    )
    check_op(
        ops.slogdet,
        lambda a: tuple(np.linalg.slogdet(a)),
        SQUARE,
        make_inputs=_well_conditioned,
        grad=False,
        tols={np.float32: dict(rtol=1e-5, atol=1e-5)},
    )
    rng = np.random.default_rng(0)
    for s in SQUARE:
        a = _well_conditioned([s], rng)[0]
        if a.size and a.size <= 64:
            gradcheck(lambda t: ops.slogdet(t)[1], [a])
            gradcheck(lambda t: ops.slogdet(t)[1] * 2.0 + ops.slogdet(t)[0], [a])
    check_op(
        ops.logdet,
        lambda a: np.linalg.slogdet(a)[1],
        SQUARE,
        make_inputs=_spd,
        tols={np.float32: dict(rtol=1e-5, atol=1e-5)},
    )
    # log(det) of a matrix with a negative determinant is NaN, of a singular one -inf
    assert np.isnan(ops.logdet(np.diag([1.0, -2.0])).numpy())
    assert ops.logdet(np.zeros((2, 2))).numpy() == -np.inf


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 3), (3,)),
        ((3, 3), (3, 2)),
        ((2, 4, 4), (2, 4, 1)),
        ((1, 1), (1, 5)),
        ((2, 3, 3), (3, 2)),
        ((3, 3), (2, 3, 4)),
        ((3, 3), (3, 0)),
    ],
)
def test_solve(sa, sb):
    def ref(a, b):
        if b.ndim == 1:
            return np.linalg.solve(a, b)
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return np.linalg.solve(
            np.broadcast_to(a, batch + a.shape[-2:]), np.broadcast_to(b, batch + b.shape[-2:])
        )

    check_op(
        ops.solve,
        ref,
        [(sa, sb)],
        make_inputs=_well_conditioned,
        tols={np.float32: dict(rtol=1e-5, atol=1e-5)},
    )


@pytest.mark.parametrize("lower", [True, False])
def test_solve_triangular(lower):
    tri = np.tril if lower else np.triu

    def ref(a, b):
        return np.linalg.solve(tri(a), b)

    check_op(
        lambda a, b: ops.solve_triangular(a, b, lower=lower),
        ref,
        [((3, 3), (3,)), ((4, 4), (4, 2)), ((2, 3, 3), (2, 3, 1)), ((1, 1), (1, 1))],
        make_inputs=_well_conditioned,
        tols={np.float32: dict(rtol=1e-5, atol=1e-5)},
    )
    # only the triangle is read: garbage in the other one changes nothing
    rng = np.random.default_rng(1)
    a = _well_conditioned([(4, 4)], rng)[0]
    b = rng.standard_normal(4)
    other = np.triu(np.full((4, 4), 1e3), 1) if lower else np.tril(np.full((4, 4), 1e3), -1)
    np.testing.assert_allclose(
        ops.solve_triangular(a + other, b, lower=lower).numpy(), ref(a, b), rtol=1e-12
    )


def test_cholesky():
    def sym(f):  # f of the symmetric part: what a symmetric-input function's FD sees
        return lambda a: f((a + np.swapaxes(a, -1, -2)) / 2)

    shapes = [(1, 1), (3, 3), (2, 4, 4), (0, 2, 2)]
    check_op(
        lambda a: ops.cholesky((a + ops.swapaxes(a, -1, -2)) * 0.5),
        sym(np.linalg.cholesky),
        shapes,
        make_inputs=_spd,
        tols={np.float32: dict(rtol=1e-5, atol=1e-5)},
    )
    check_op(
        lambda a: ops.cholesky((a + ops.swapaxes(a, -1, -2)) * 0.5, upper=True),
        sym(lambda a: np.swapaxes(np.linalg.cholesky(a), -1, -2)),
        shapes[:2],
        make_inputs=_spd,
        tols={np.float32: dict(rtol=1e-5, atol=1e-5)},
    )


def test_eigh_and_svd_values():
    rng = np.random.default_rng(2)
    for s in [(1, 1), (3, 3), (2, 4, 4), (0, 3, 3)]:
        a = rng.standard_normal(s)
        a = a + np.swapaxes(a, -1, -2)
        w, v = ops.eigh(a)
        np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(a), rtol=1e-12, atol=1e-12)
        # the eigenvectors reconstruct a (signs may differ from NumPy's)
        np.testing.assert_allclose(
            (v.numpy() * w.numpy()[..., None, :]) @ np.swapaxes(v.numpy(), -1, -2), a, atol=1e-12
        )
        if 0 < a.size <= 64:
            gradcheck(lambda t: ops.eigh((t + ops.swapaxes(t, -1, -2)) * 0.5)[0], [a])
    for s in [(1, 1), (3, 3), (4, 2), (2, 3, 5), (0, 2, 3)]:
        a = rng.standard_normal(s)
        np.testing.assert_allclose(
            ops.svd(a, compute_uv=False).numpy(),
            np.linalg.svd(a, compute_uv=False),
            rtol=1e-12,
            atol=1e-12,
        )
        for full in (True, False):
            u, sv, vh = ops.svd(a, full_matrices=full)
            nu, ns, nvh = np.linalg.svd(a, full_matrices=full)
            assert u.shape == nu.shape and vh.shape == nvh.shape
            k = min(s[-2:])
            np.testing.assert_allclose(
                (u.numpy()[..., :k] * sv.numpy()[..., None, :]) @ vh.numpy()[..., :k, :],
                a,
                atol=1e-12,
            )
        if 0 < a.size <= 64:
            gradcheck(lambda t: ops.svd(t, compute_uv=False), [a])
            gradcheck(lambda t: ops.svd(t)[1], [a])


def test_vector_gradients_are_refused_not_dropped():
    import deepcore as dc

    a = dc.tensor(np.diag([1.0, 2.0, 3.0]) + 0.1, requires_grad=True)
    with pytest.raises(NotImplementedError, match="eigh"):
        ops.eigh(a)[1].sum().backward()
    with pytest.raises(NotImplementedError, match="svd"):
        ops.svd(a)[0].sum().backward()
    # the values alone differentiate; unused vectors are fine
    w, _ = ops.eigh(a)
    w.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.eye(3), atol=1e-12)


def test_qr_and_lstsq():
    rng = np.random.default_rng(3)
    for s in [(1, 1), (4, 3), (3, 4), (2, 5, 3)]:
        a = rng.standard_normal(s)
        for mode in ("reduced", "complete"):
            q, r = ops.qr(a, mode=mode)
            nq, nr = np.linalg.qr(a, mode=mode)
            np.testing.assert_allclose(q.numpy(), nq, atol=1e-12)
            np.testing.assert_allclose(r.numpy(), nr, atol=1e-12)
    for sa, sb in [((5, 3), (5,)), ((4, 4), (4, 2)), ((2, 3), (2, 1)), ((1, 1), (1,))]:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        np.testing.assert_allclose(
            ops.lstsq(a, b).numpy(), np.linalg.lstsq(a, b, rcond=None)[0], atol=1e-12
        )


def test_float32_stays_float32():
    a = (np.eye(3) * 2).astype(np.float32)
    for out in (ops.inv(a), ops.det(a), ops.solve(a, np.ones(3, np.float32)), ops.cholesky(a)):
        assert out.dtype == np.float32


BAD = [
    (lambda: ops.inv(np.ones(3)), ValueError, "at least 2 dimensions"),
    (lambda: ops.inv(np.ones((2, 3))), ValueError, "square"),
    (lambda: ops.inv(np.zeros((2, 2))), ValueError, "singular"),
    (lambda: ops.det("x"), TypeError, "det: x"),
    (lambda: ops.solve(np.eye(3), np.ones(4)), ValueError, "does not match"),
    (lambda: ops.solve(np.zeros((2, 2)), np.ones(2)), ValueError, "singular"),
    (lambda: ops.solve(np.ones((2, 3, 3)), np.ones((4, 3, 1))), ValueError, "broadcast"),
    (lambda: ops.cholesky(-np.eye(2)), ValueError, "positive definite"),
    (lambda: ops.qr(np.eye(2), mode="r"), ValueError, "mode"),
    (lambda: ops.lstsq(np.ones((3, 2)), np.ones(4)), ValueError, "does not match"),
    (lambda: ops.eigh(np.ones((2, 3))), ValueError, "square"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input(i):
    call, exc, msg = BAD[i]
    with pytest.raises(exc, match=msg):
        call()
