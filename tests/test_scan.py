"""Cumulative scans (cumsum, cumprod, cummax, cummin, logcumsumexp): float64 NumPy references
over many shapes and every axis, finite differences, PyTorch parity, edge cases (zeros in
cumprod, ties and NaN in cummax/cummin, huge values in logcumsumexp) and bad input."""

import deepcore as dc
import numpy as np
import pytest
from deepcore import _C
from helpers import HAS_TORCH, check_op, gradcheck, requires_torch

# (shape, axis)
CASES = [
    ((), 0),
    ((1,), 0),
    ((7,), -1),
    ((3, 5), 0),
    ((3, 5), 1),
    ((2, 3, 4), 1),
    ((2, 3, 4), 0),
    ((2, 3, 4), 2),
    ((1, 1, 1), 1),
    ((0,), 0),
    ((3, 0), 1),
    ((3, 0), 0),
    ((2, 5, 70), 1),  # inner > one block of columns
    ((3, 40, 130), 1),  # threaded
    ((200, 257), 1),  # threaded, long rows
]


def _np_extreme(x, axis, mx):
    """(values, indices) of cummax / cummin: ties take the later index, NaN wins and stays."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    v, ix = np.empty_like(x), np.zeros(x.shape, np.int64)
    for line in np.ndindex(*x.shape[:-1]):
        best, bi = None, 0
        for i, e in enumerate(x[line]):
            if best is None:
                take = True
            else:
                better = e >= best if mx else e <= best
                take = not np.isnan(best) and (np.isnan(e) or better)
            if take:
                best, bi = e, i
            v[line + (i,)], ix[line + (i,)] = best, bi
    return np.moveaxis(v, -1, axis), np.moveaxis(ix, -1, axis)


def _rcumsum(g, axis):
    return np.flip(np.cumsum(np.flip(g, axis), axis), axis)


def _ax(shape, axis):
    return 0 if len(shape) == 0 else axis


def _torch(name):
    def f(axis):
        return lambda t: getattr(t, name)(dim=axis)

    return f


@pytest.mark.parametrize("shape,axis", CASES)
def test_cumsum(shape, axis, cpu_capability):
    a = _ax(shape, axis)
    check_op(
        lambda x: dc.cumsum(x, axis),
        lambda x: np.cumsum(x, a).reshape(x.shape),
        [shape],
        torch_fn=_torch("cumsum")(axis) if len(shape) else None,
        np_vjp=lambda x, g: (_rcumsum(np.atleast_1d(g), a).reshape(x.shape),),
    )


@pytest.mark.parametrize("shape,axis", CASES)
def test_cumprod(shape, axis, cpu_capability):
    a = _ax(shape, axis)
    check_op(
        lambda x: dc.cumprod(x, axis),
        lambda x: np.cumprod(x, a).reshape(x.shape),
        [shape],
        torch_fn=_torch("cumprod")(axis) if len(shape) else None,
        low=0.5,
        high=1.5,
    )


@pytest.mark.parametrize("shape,axis", CASES)
def test_logcumsumexp(shape, axis, cpu_capability):
    a = _ax(shape, axis)

    def vjp(x, g):
        y = np.logaddexp.accumulate(np.atleast_1d(x), a)
        gx = _rcumsum(np.atleast_1d(g) * np.exp(-y), a) * np.exp(np.atleast_1d(x))
        return (gx.reshape(x.shape),)

    check_op(
        lambda x: dc.logcumsumexp(x, axis),
        lambda x: np.logaddexp.accumulate(np.atleast_1d(x), a).reshape(x.shape),
        [shape],
        torch_fn=_torch("logcumsumexp")(axis) if len(shape) else None,
        np_vjp=vjp,
    )


@pytest.mark.parametrize("name,mx", [("cummax", True), ("cummin", False)])
@pytest.mark.parametrize("shape,axis", CASES[:-2])
def test_cummax_cummin(name, mx, shape, axis, cpu_capability):
    a = _ax(shape, axis)

    def ref(x):
        v, _ = _np_extreme(x.reshape(-1) if not x.ndim else x, a, mx)
        return v.reshape(x.shape)

    def vjp(x, g):
        _, ix = _np_extreme(x.reshape(-1) if not x.ndim else x, a, mx)
        gx = np.zeros(ix.shape)
        gl = g.reshape(ix.shape)
        xm, im, gm = (np.moveaxis(t, a, -1) for t in (gx, ix, gl))
        for line in np.ndindex(*im.shape[:-1]):
            np.add.at(xm[line], im[line], gm[line])
        return (gx.reshape(x.shape),)

    def op(t):
        v, i = getattr(dc, name)(t, axis)
        assert i.dtype == np.int64 and not i.requires_grad
        return v

    # well-separated values: finite differences never cross a tie
    def make(case, rng):
        return [rng.permutation(int(np.prod(case[0]))).reshape(case[0]) * 0.1]

    check_op(op, ref, [shape], np_vjp=vjp, make_inputs=make)
    x = np.random.default_rng(0).integers(0, 3, shape).astype(np.float64)  # ties
    v, i = getattr(dc, name)(dc.tensor(x), axis)
    rv, ri = _np_extreme(x.reshape(-1) if not x.ndim else x, a, mx)
    np.testing.assert_array_equal(v.detach().numpy(), rv.reshape(shape))
    np.testing.assert_array_equal(i.detach().numpy(), ri.reshape(shape))
    if HAS_TORCH and len(shape):
        import torch

        _, ti = getattr(torch, name)(torch.tensor(x), dim=axis)
        np.testing.assert_array_equal(i.detach().numpy(), ti.detach().numpy())


def test_scan_kernels_match_naive_reference():
    rng = np.random.default_rng(3)
    for shape, axis in CASES[2:]:
        for dt in (np.float32, np.float64):
            x = rng.uniform(0.5, 1.5, shape).astype(dt)
            for op in ("sum", "prod", "logsumexp", "max", "min"):
                got = _C.scan_forward(x, axis, op)
                want = _C.scan_forward(x, axis, op, reference=True)
                for g, w in zip(
                    got if isinstance(got, tuple) else (got,),
                    want if isinstance(want, tuple) else (want,),
                ):
                    np.testing.assert_allclose(g, w, rtol=1e-6 if dt == np.float32 else 1e-13)
            rev = _C.scan_forward(x, axis, "sum", reverse=True)
            np.testing.assert_allclose(rev, _rcumsum(x.astype(np.float64), axis), rtol=1e-5)


@pytest.mark.parametrize("zeros", [[0], [3], [1, 4], [0, 5], [5], [2, 2]])
def test_cumprod_gradient_with_zeros(zeros):
    x = np.random.default_rng(1).uniform(0.5, 2.0, (2, 6))
    for z in zeros:
        x[:, z] = 0.0
    gradcheck(lambda u: dc.cumprod(u, 1), [x])
    g = np.random.default_rng(2).standard_normal(x.shape)
    t = dc.tensor(x, requires_grad=True)
    dc.cumprod(t, 1).backward(g)
    # brute force: d y[j] / d x[i] = prod_{k <= j, k != i} x[k]
    want = np.zeros_like(x)
    for r in range(2):
        for i in range(6):
            for j in range(i, 6):
                want[r, i] += g[r, j] * np.prod(np.delete(x[r, : j + 1], i))
    np.testing.assert_allclose(t.grad.detach().numpy(), want, rtol=1e-12, atol=1e-12)


def test_cumsum_float32_accumulates_in_double():
    x = np.array([2.0**24] + [1.0] * 8, np.float32)
    y = dc.cumsum(dc.tensor(x)).detach().numpy()
    assert y[-1] == np.float32(2**24 + 8)  # a float32 running sum sticks at 2**24
    x2 = np.ones((3, 2**12), np.float32) * 0.1
    np.testing.assert_allclose(
        dc.cumsum(dc.tensor(x2), 1).detach().numpy()[:, -1], 409.6, rtol=1e-7
    )


def test_logcumsumexp_huge_and_infinite_values():
    x = np.array([1000.0, 1000.0, -np.inf, 1e4, -1e4])
    y = dc.logcumsumexp(dc.tensor(x)).detach().numpy()
    np.testing.assert_allclose(y, np.logaddexp.accumulate(x), rtol=1e-14)
    assert np.isneginf(dc.logcumsumexp(dc.tensor(np.full(3, -np.inf))).detach().numpy()).all()
    t = dc.tensor(x[:2], requires_grad=True)
    dc.logcumsumexp(t).sum().backward()
    np.testing.assert_allclose(t.grad.detach().numpy(), [1.5, 0.5])


def test_cummax_nan_propagates_with_its_index():
    x = np.array([1.0, np.nan, 3.0, np.nan, 0.0])
    v, i = dc.cummax(dc.tensor(x), 0)
    np.testing.assert_array_equal(np.isnan(v.detach().numpy()), [False, True, True, True, True])
    np.testing.assert_array_equal(i.detach().numpy(), [0, 1, 1, 1, 1])


def test_integer_cumsum_and_cumprod_promote_to_int64():
    x = dc.tensor(np.array([[1, 2], [3, 4]], np.int32))
    np.testing.assert_array_equal(dc.cumsum(x, 0).detach().numpy(), [[1, 2], [4, 6]])
    assert dc.cumsum(x, 0).dtype == np.int64
    np.testing.assert_array_equal(x.cumprod(dim=1).detach().numpy(), [[1, 2], [3, 12]])
    np.testing.assert_array_equal(dc.cumsum(x).detach().numpy(), [1, 3, 6, 10])


def test_methods_and_flattened_default():
    x = np.arange(6.0).reshape(2, 3)
    t = dc.tensor(x)
    np.testing.assert_array_equal(t.cumsum(1).detach().numpy(), np.cumsum(x, 1))
    np.testing.assert_array_equal(t.cumsum().detach().numpy(), np.cumsum(x))
    v, i = t.cummin(dim=0)
    np.testing.assert_array_equal(v.detach().numpy(), np.minimum.accumulate(x, 0))
    np.testing.assert_array_equal(i.detach().numpy(), [[0, 0, 0], [0, 0, 0]])


@requires_torch
def test_cumprod_zeros_match_torch():
    import torch

    x = np.array([[2.0, 0.0, 3.0, 0.0, 4.0], [0.0, 1.5, 2.0, 2.5, 3.0]])
    t = dc.tensor(x, requires_grad=True)
    dc.cumprod(t, 1).sum().backward()
    q = torch.tensor(x, requires_grad=True)
    torch.cumprod(q, 1).sum().backward()
    np.testing.assert_allclose(t.grad.detach().numpy(), q.grad.detach().numpy(), rtol=1e-14)


def test_scan_bad_inputs():
    t = dc.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="axis"):
        dc.cumsum(t, 2)
    with pytest.raises(TypeError, match="axis"):
        dc.cumsum(t, 1.0)
    with pytest.raises(TypeError, match="axis or dim"):
        dc.cumsum(t, 1, dim=1)
    with pytest.raises(TypeError, match="required"):
        dc.cummax(t)
    with pytest.raises(TypeError, match="Tensor"):
        dc.cumsum(np.ones(3))
    with pytest.raises(TypeError, match="float32 or float64"):
        dc.logcumsumexp(dc.tensor(np.ones(3, np.int64)), 0)
    with pytest.raises(TypeError, match="float32 or float64"):
        dc.cummax(dc.tensor(np.ones(3, np.int64)), 0)
    with pytest.raises(ValueError, match="op"):
        _C.scan_forward(np.ones(3), 0, "mean")
    with pytest.raises(ValueError, match="reverse"):
        _C.scan_forward(np.ones(3), 0, "max", reverse=True)
    with pytest.raises(ValueError, match="idx holds"):
        _C.scan_backward("max", np.ones(3), 0, idx=np.array([0, 3, 1]))
    with pytest.raises(ValueError, match="shape"):
        _C.scan_backward("prod", np.ones(3), 0, x=np.ones(4), y=np.ones(3))
    with pytest.raises(TypeError, match="dtype"):
        _C.scan_backward("max", np.ones(3), 0, idx=np.array([0, 1, 1], np.int32))


@pytest.mark.parametrize("shape, axis", [((3,), 0), ((40, 1000), 1), ((1000, 40), 0)])
@pytest.mark.parametrize("bad", [-1, 3, 10**12])
def test_extreme_backward_rejects_indices_outside_the_axis(shape, axis, bad):
    """scan_backward of max / min checks idx as it reads it (csrc/scan.h): a value outside the
    axis anywhere (the last line of a threaded call included) is a ValueError naming it,
    never a write outside dx."""
    n = shape[axis]
    idx = np.zeros(shape, np.int64)
    idx.reshape(-1)[-1] = bad if bad != 3 else n
    with pytest.raises(ValueError, match=f"idx holds {idx.reshape(-1)[-1]}, outside"):
        _C.scan_backward("max", np.ones(shape), axis, idx=idx)
    idx.reshape(-1)[-1] = n - 1  # in range: accepted
    assert _C.scan_backward("min", np.ones(shape), axis, idx=idx).shape == shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cumprod_backward_across_columns_matches_line_by_line(dtype):
    """[Note: cumprod backward across columns]: along axis 0 the columns of a block go down
    their rows together; a column with a zero (first row, last row, several), an inf before a
    zero (a NaN gradient) or a NaN is redone line by line. Every column must equal the gradient
    of the same line taken along the last axis (the line-by-line loop), bit for bit, over blocks
    of 64 columns and a partial last block."""
    rng = np.random.default_rng(5)
    n, cols = 9, 150
    x = rng.uniform(0.5, 1.5, (n, cols)).astype(dtype)
    x[0, 3] = 0  # first row
    x[n - 1, 64] = 0  # last row, first column of the second block
    x[[2, 5], 70] = 0  # two zeros
    x[4, 149] = 0  # the partial block's last column
    x[1, 100], x[3, 100] = np.inf, 0  # inf, then a zero
    x[6, 120] = np.nan
    g = rng.standard_normal((n, cols)).astype(dtype)
    t = dc.tensor(x, requires_grad=True)
    dc.cumprod(t, 0).backward(g)
    tl = dc.tensor(np.ascontiguousarray(x.T), requires_grad=True)
    dc.cumprod(tl, 1).backward(np.ascontiguousarray(g.T))
    np.testing.assert_array_equal(t.grad.detach().numpy(), tl.grad.detach().numpy().T)
    # and a column with a zero against the brute force d y[j] / d x[i]
    c = x[:, 70].astype(np.float64)
    want = [
        sum(g[j, 70] * np.prod(np.delete(c[: j + 1], i)) for j in range(i, n)) for i in range(n)
    ]
    np.testing.assert_allclose(t.grad.detach().numpy()[:, 70], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cumsum_rows_in_vector_blocks(dtype, cpu_capability):
    """[Note: vector row scan]: along the last axis, blocks of eight elements with four rows in
    flight; lengths around the block size (a partial block at the end forward, at the start
    backward) and row counts around four, forward and reverse, against float64 NumPy."""
    rng = np.random.default_rng(11)
    for rows in (1, 3, 4, 5, 13):
        for n in (8, 9, 15, 16, 23, 130):
            x = rng.standard_normal((rows, n)).astype(dtype)
            x64 = x.astype(np.float64)
            tol = 1e-6 if dtype == np.float32 else 1e-13
            for reverse, want in ((False, np.cumsum(x64, 1)), (True, _rcumsum(x64, 1))):
                got = _C.scan_forward(x, 1, "sum", reverse=reverse)
                assert got.dtype == dtype
                np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(n))
                ref = _C.scan_forward(x, 1, "sum", reverse=reverse, reference=True)
                np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.sqrt(n))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_running_rows_skewed_match_the_reference_bitwise(dtype, cpu_capability):
    """[Note: skewed rows]: along the last axis cumprod and logcumsumexp run eight rows at a
    time, row r r cache lines behind row 0. Every row still gets the same operations in the
    same order as the naive kernel, so the products agree bitwise: row counts around eight,
    lengths around the skew's lag (7 lines: 112 float32 / 56 float64 elements), rows 4 KiB
    apart, forward and reverse."""
    rng = np.random.default_rng(12)
    lag = 7 * 64 // np.dtype(dtype).itemsize
    for rows in (7, 8, 9, 17):
        for n in (1, 15, lag - 1, lag, lag + 1, 2 * lag + 3, 4096 // np.dtype(dtype).itemsize):
            x = rng.uniform(0.9, 1.1, (rows, n)).astype(dtype)
            for reverse in (False, True):
                got = _C.scan_forward(x, 1, "prod", reverse=reverse)
                want = _C.scan_forward(x, 1, "prod", reverse=reverse, reference=True)
                np.testing.assert_array_equal(got, want)
                x64 = x.astype(np.float64)
                want64 = np.cumprod(x64[:, ::-1], 1)[:, ::-1] if reverse else np.cumprod(x64, 1)
                np.testing.assert_allclose(got, want64, rtol=1e-6 if dtype == np.float32 else 1e-13)
            got = _C.scan_forward(x, 1, "logsumexp")
            want = _C.scan_forward(x, 1, "logsumexp", reference=True)
            np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-13)
