"""Our GEMM (dc.kernels.sgemm / dgemm / matmul) against a float64 NumPy reference.

Every result is compared by relative Frobenius error, ||C - C_ref|| / ||C_ref|| < 1e-5 for
float32 (1e-12 for float64). Shapes cover the empty, size-1, prime, skinny and blocked cases
(those that cross the packing panel, MR/NR tile and MC/KC/NC block edges), every transpose
pair, alpha/beta, padded leading dimensions, and each CPU kernel variant.
"""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest

K = dc.kernels
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _rel_err(c: np.ndarray, ref: np.ndarray) -> float:
    ref = np.asarray(ref, dtype=np.float64)
    den = np.linalg.norm(ref)
    num = np.linalg.norm(np.asarray(c, dtype=np.float64) - ref)
    if not np.isfinite(num):
        return float("inf")
    return float(num / den) if den > 0 else float(num)


def _check(c, ref, dtype, what=""):
    assert c.shape == ref.shape, what
    err = _rel_err(c, ref)
    assert err < TOL[dtype], f"{what}: relative error {err:.3g}"


def _matrix(rng, rows, cols, dtype, pad=0):
    """A (rows, cols) matrix, as a row-padded view of a wider array when pad > 0."""
    base = rng.standard_normal((rows, cols + pad)).astype(dtype)
    return base[:, :cols] if pad else base


def _operands(rng, m, n, k, ta, tb, dtype, pad_a=0, pad_b=0):
    a = _matrix(rng, k, m, dtype, pad_a) if ta else _matrix(rng, m, k, dtype, pad_a)
    b = _matrix(rng, n, k, dtype, pad_b) if tb else _matrix(rng, k, n, dtype, pad_b)
    return a, b


def _ref(a, b, ta, tb, alpha=1.0, beta=0.0, c0=None):
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    r = alpha * ((a64.T if ta else a64) @ (b64.T if tb else b64))
    if beta != 0.0:
        r = r + beta * c0.astype(np.float64)
    return r


def _gemm(dtype):
    return K.sgemm if dtype == np.float32 else K.dgemm


SIZES = [1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 47, 64, 97, 129]


def _random_shapes(count, seed):
    rng = np.random.default_rng(seed)
    shapes = []
    for _ in range(count):
        kind = rng.integers(4)
        if kind == 0:  # from the interesting sizes
            m, n, k = (int(rng.choice(SIZES)) for _ in range(3))
        elif kind == 1:  # skinny: one small side
            m, n, k = (int(x) for x in rng.integers(1, 300, 3))
            which = rng.integers(3)
            small = int(rng.integers(1, 5))
            m, n, k = (small if which == i else v for i, v in enumerate((m, n, k)))
        else:  # uniform random up to ~200
            m, n, k = (int(x) for x in rng.integers(1, 200, 3))
        shapes.append((m, n, k))
    return shapes


# ---------------------------------------------------------------------------- sgemm / dgemm


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_sgemm_random_shapes_every_transpose(cpu_capability, ta, tb):
    rng = np.random.default_rng(1)
    for m, n, k in _random_shapes(50, seed=2 * ta + tb):
        a, b = _operands(rng, m, n, k, ta, tb, np.float32)
        c = K.sgemm(a, b, trans_a=ta, trans_b=tb)
        _check(c, _ref(a, b, ta, tb), np.float32, f"{m}x{n}x{k} ta={ta} tb={tb}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "m,n,k",
    [
        (0, 5, 3),
        (5, 0, 3),
        (0, 0, 0),
        (4, 6, 0),
        (1, 1, 1),
        (1, 37, 1),
        (37, 1, 1),
        (1, 1, 300),
        (3, 700, 2),
        (700, 3, 2),
    ],
)
def test_gemm_degenerate_shapes(cpu_capability, dtype, m, n, k):
    rng = np.random.default_rng(2)
    for ta in (False, True):
        for tb in (False, True):
            a, b = _operands(rng, m, n, k, ta, tb, dtype)
            out = np.full((m, n), np.nan, dtype)
            c = _gemm(dtype)(a, b, trans_a=ta, trans_b=tb, out=out)
            assert c is out or np.shares_memory(c, out)
            if m * n:
                _check(out, _ref(a, b, ta, tb), dtype, f"{m}x{n}x{k}")
            if k == 0:
                assert np.all(out == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_alpha_beta(cpu_capability, dtype):
    rng = np.random.default_rng(3)
    for (m, n, k), alpha, beta in [
        ((13, 17, 19), 1.0, 1.0),
        ((64, 48, 33), -0.5, 2.0),
        ((97, 130, 70), 2.5, -1.0),
        ((5, 300, 260), 0.0, 0.5),
        ((40, 41, 42), 0.0, 0.0),
        ((200, 150, 300), 1.5, 0.25),
    ]:
        for ta in (False, True):
            for tb in (False, True):
                a, b = _operands(rng, m, n, k, ta, tb, dtype)
                c0 = rng.standard_normal((m, n)).astype(dtype)
                out = c0.copy()
                _gemm(dtype)(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)
                _check(out, _ref(a, b, ta, tb, alpha, beta, c0), dtype, f"{m}x{n}x{k}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_beta_zero_ignores_nan_in_out(cpu_capability, dtype):
    # beta == 0 means C is write-only: NaN/inf already in C must not leak (0*NaN = NaN).
    rng = np.random.default_rng(4)
    for m, n, k in [(1, 1, 1), (7, 9, 11), (33, 65, 17), (150, 70, 300), (16, 600, 40)]:
        for ta in (False, True):
            for tb in (False, True):
                a, b = _operands(rng, m, n, k, ta, tb, dtype)
                out = np.full((m, n), np.nan, dtype)
                out[::2] = np.inf
                _gemm(dtype)(a, b, trans_a=ta, trans_b=tb, alpha=0.75, beta=0.0, out=out)
                _check(out, _ref(a, b, ta, tb, 0.75), dtype, f"{m}x{n}x{k}")


class _GuardedArrays:
    """Arrays that end exactly where an unreadable page begins (Linux): a kernel that reads or
    writes one element past an operand's end segfaults instead of passing silently."""

    def __init__(self):
        import ctypes
        import mmap

        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.mmap = mmap
        self.keep = []

    def make(self, rows, cols, dtype, pad=0):
        dtype = np.dtype(dtype)
        page = self.mmap.PAGESIZE
        n = rows * (cols + pad)
        data_pages = (n * dtype.itemsize + page - 1) // page
        buf = self.mmap.mmap(-1, (data_pages + 1) * page)
        base = np.frombuffer(buf, dtype=np.uint8)
        addr = base.ctypes.data
        guard = addr + data_pages * page
        if self.libc.mprotect(guard, page, 0) != 0:  # PROT_NONE
            pytest.skip("mprotect unavailable")
        start = data_pages * page - n * dtype.itemsize
        flat = base[start : start + n * dtype.itemsize].view(dtype)
        self.keep.append((buf, base))
        full = flat.reshape(rows, cols + pad)
        full[...] = np.random.default_rng(rows * 7 + cols).standard_normal(full.shape)
        return full[:, :cols] if pad else full


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="needs mprotect")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_reads_nothing_past_operands(cpu_capability, dtype):
    g = _GuardedArrays()
    for m, n, k in [(1, 1, 1), (7, 9, 5), (33, 65, 17), (8, 3, 40), (2, 45, 33), (130, 70, 300)]:
        for ta in (False, True):
            for tb in (False, True):
                a = g.make(k, m, dtype) if ta else g.make(m, k, dtype)
                b = g.make(n, k, dtype, pad=1) if tb else g.make(k, n, dtype, pad=1)
                out = g.make(m, n, dtype)
                c0 = out.copy()
                _gemm(dtype)(a, b, trans_a=ta, trans_b=tb, alpha=1.0, beta=0.5, out=out)
                _check(out, _ref(a, b, ta, tb, 1.0, 0.5, c0), dtype, f"{m}x{n}x{k}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_padded_leading_dimensions(cpu_capability, dtype):
    rng = np.random.default_rng(5)
    for m, n, k in [(9, 10, 11), (65, 33, 129), (120, 200, 90)]:
        for ta in (False, True):
            for tb in (False, True):
                a, b = _operands(rng, m, n, k, ta, tb, dtype, pad_a=3, pad_b=17)
                assert not a.flags.c_contiguous and not b.flags.c_contiguous
                base = np.full((m, n + 5), np.nan, dtype)
                out = base[:, :n]
                c0 = rng.standard_normal((m, n)).astype(dtype)
                out[...] = c0
                _gemm(dtype)(a, b, trans_a=ta, trans_b=tb, alpha=1.0, beta=0.5, out=out)
                _check(out, _ref(a, b, ta, tb, 1.0, 0.5, c0), dtype, f"{m}x{n}x{k}")
                assert np.all(np.isnan(base[:, n:])), "wrote outside out's columns"


@pytest.mark.parametrize("threads", [1, 3])
def test_sgemm_blocked_shapes(cpu_capability, threads):
    # Sizes that cross the cache-blocking boundaries (KC, MC, NC) and leave ragged edge tiles,
    # serial and split into thread strips / blocks.
    rng = np.random.default_rng(6)
    prev = K.get_num_threads()
    K.set_num_threads(threads)
    try:
        _blocked_shapes(rng)
    finally:
        K.set_num_threads(prev)


def _blocked_shapes(rng):
    for m, n, k in [
        (300, 257, 530),
        (8, 4500, 40),
        (517, 24, 700),
        (130, 1030, 260),
        (1100, 70, 50),
        (1100, 400, 300),
    ]:
        for ta, tb in [(False, False), (True, True), (False, True), (True, False)]:
            a, b = _operands(rng, m, n, k, ta, tb, np.float32)
            c = K.sgemm(a, b, trans_a=ta, trans_b=tb)
            _check(c, _ref(a, b, ta, tb), np.float32, f"{m}x{n}x{k} ta={ta} tb={tb}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_gemm_transposed_a_long_k(cpu_capability, dtype, threads):
    # A weight gradient's shape, X^T dY: op(A) = A^T over a long K. K crosses several KC blocks
    # with a ragged last one and is not a multiple of the transposed pack's 8-row step; M
    # leaves a partial MR panel (and crosses MC); A's rows are padded; beta accumulates.
    rng = np.random.default_rng(9)
    prev = K.get_num_threads()
    K.set_num_threads(threads)
    try:
        for m, n, k in [(203, 37, 1283), (64, 96, 771), (1031, 33, 263), (9, 40, 2049)]:
            a, b = _operands(rng, m, n, k, True, False, dtype, pad_a=5)
            c0 = rng.standard_normal((m, n)).astype(dtype)
            out = c0.copy()
            _gemm(dtype)(a, b, trans_a=True, alpha=1.0, beta=0.5, out=out)
            _check(out, _ref(a, b, True, False, 1.0, 0.5, c0), dtype, f"{m}x{n}x{k}")
    finally:
        K.set_num_threads(prev)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_shared_a_and_grid_paths(cpu_capability, dtype):
    # At two threads C at least 2 * 2 B blocks wide (NC 512 float, 256 double) takes the shared
    # packed A ([Note: GEMM shared A]), narrower C the static grid; each side of the line.
    rng = np.random.default_rng(11)
    nc = 512 if dtype == np.float32 else 256
    prev = K.get_num_threads()
    K.set_num_threads(2)
    try:
        for m, n, k in [(40, 4 * nc, 70), (37, 4 * nc - 1, 90), (300, 4 * nc + 33, 21)]:
            for ta, tb in [(False, False), (True, True), (False, True), (True, False)]:
                a, b = _operands(rng, m, n, k, ta, tb, dtype)
                out = np.full((m, n), np.nan, dtype)
                _gemm(dtype)(a, b, trans_a=ta, trans_b=tb, out=out)
                _check(out, _ref(a, b, ta, tb), dtype, f"{m}x{n}x{k} ta={ta} tb={tb}")
    finally:
        K.set_num_threads(prev)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_skinny_paths(cpu_capability, dtype):
    # Narrow outputs (N < NR: solved as C^T, or unpacked dot products) and row vectors
    # (M <= 2: unpacked), with every transpose pair, beta and a NaN-poisoned out.
    rng = np.random.default_rng(9)
    for n in (1, 2, 3, 4, 5, 8, 9, 16, 31):
        for m, k in ((1, 37), (2, 300), (3, 5), (50, 1), (50, 37), (200, 70)):
            for ta in (False, True):
                for tb in (False, True):
                    for mm, nn in ((m, n), (n, m)):  # narrow N and its transpose (small M)
                        a, b = _operands(rng, mm, nn, k, ta, tb, dtype, pad_a=1)
                        out = np.full((mm, nn), np.nan, dtype)
                        _gemm(dtype)(a, b, trans_a=ta, trans_b=tb, out=out)
                        what = f"{mm}x{nn}x{k} ta={ta} tb={tb}"
                        _check(out, _ref(a, b, ta, tb), dtype, what)
                        c0 = rng.standard_normal((mm, nn)).astype(dtype)
                        out[...] = c0
                        _gemm(dtype)(a, b, trans_a=ta, trans_b=tb, alpha=-2.0, beta=0.5, out=out)
                        _check(out, _ref(a, b, ta, tb, -2.0, 0.5, c0), dtype, what + " beta")


def test_sgemm_thread_counts_agree():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((257, 301)).astype(np.float32)
    b = rng.standard_normal((301, 263)).astype(np.float32)
    prev = K.get_num_threads()
    try:
        results = []
        for t in (1, 2, 3):
            K.set_num_threads(t)
            results.append(K.sgemm(a, b))
    finally:
        K.set_num_threads(prev)
    for c in results:
        _check(c, _ref(a, b, False, False), np.float32, "threads")


def test_dgemm_is_float64_accurate():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((120, 130))
    b = rng.standard_normal((130, 110))
    c = K.dgemm(a, b)
    assert c.dtype == np.float64
    assert _rel_err(c, a @ b) < 1e-13


def test_sgemm_bad_inputs():
    a = np.ones((4, 5), np.float32)
    b = np.ones((5, 6), np.float32)
    with pytest.raises(TypeError, match="a must have dtype float32"):
        K.sgemm(a.astype(np.float64), b)
    with pytest.raises(TypeError, match="b must have dtype float32"):
        K.sgemm(a, b.astype(np.int32))
    with pytest.raises(TypeError, match="b must be a numpy array"):
        K.sgemm(a, [[1.0]])
    with pytest.raises(TypeError, match="a must have dtype float64"):
        K.dgemm(a, b)
    with pytest.raises(ValueError, match="inner dimensions"):
        K.sgemm(a, b, trans_b=True)
    with pytest.raises(ValueError, match="inner dimensions"):
        K.sgemm(a, np.ones((4, 6), np.float32))
    with pytest.raises(ValueError, match="a must be 2-dimensional"):
        K.sgemm(np.ones((2, 4, 5), np.float32), b)
    with pytest.raises(ValueError, match="a must have unit stride"):
        K.sgemm(np.ones((4, 10), np.float32)[:, ::2], b)
    with pytest.raises(ValueError, match="b must have unit stride"):
        K.sgemm(a, np.ones((6, 5), np.float32).T)
    with pytest.raises(ValueError, match="row stride"):
        K.sgemm(a, np.ones((6, 5), np.float32)[::-1])
    with pytest.raises(ValueError, match="beta != 0 needs out="):
        K.sgemm(a, b, beta=1.0)
    with pytest.raises(ValueError, match="out must have shape"):
        K.sgemm(a, b, out=np.zeros((4, 7), np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32"):
        K.sgemm(a, b, out=np.zeros((4, 6), np.float64))
    ro = np.zeros((4, 6), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        K.sgemm(a, b, out=ro)
    with pytest.raises(ValueError, match="out must have unit stride"):
        K.sgemm(a, b, out=np.zeros((6, 4), np.float32).T)
    buf = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match="out must not overlap"):
        K.sgemm(buf[:, :4], np.ones((4, 6), np.float32), out=buf)
    with pytest.raises(ValueError, match="out must not overlap"):
        K.sgemm(np.ones((4, 4), np.float32), buf, out=buf)


# ------------------------------------------------------------------------------------ matmul


def _ref_matmul(a, b, ta, tb):
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    if ta:
        a64 = np.swapaxes(a64, -1, -2)
    if tb:
        b64 = np.swapaxes(b64, -1, -2)
    return a64 @ b64


def _stored(shape, t):
    """The stored shape of an operand whose op() is `shape` (transposed when t)."""
    return (*shape[:-2], shape[-1], shape[-2]) if t else tuple(shape)


MATMUL_CASES = [
    # (batch_a, batch_b, M, K, N)
    ((), (), 7, 5, 3),
    ((4,), (4,), 9, 17, 13),
    ((3,), (), 33, 20, 18),
    ((), (5,), 16, 31, 40),
    ((2, 1), (3,), 8, 9, 10),
    ((1, 3), (2, 1), 5, 6, 7),
    ((2, 3, 4), (4,), 3, 4, 5),
    ((64,), (64,), 8, 8, 8),
    ((2,), (2,), 130, 70, 150),
    ((0,), (3, 1), 4, 5, 6),
    ((3,), (3,), 0, 5, 6),
    ((3,), (3,), 4, 0, 6),
    ((5,), (1,), 1, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_broadcast(cpu_capability, dtype, ta, tb):
    rng = np.random.default_rng(10)
    for ba, bb, m, k, n in MATMUL_CASES:
        a = rng.standard_normal(_stored((*ba, m, k), ta)).astype(dtype)
        b = rng.standard_normal(_stored((*bb, k, n), tb)).astype(dtype)
        c = K.matmul(a, b, trans_a=ta, trans_b=tb)
        ref = _ref_matmul(a, b, ta, tb)
        assert c.dtype == dtype and c.flags.c_contiguous
        assert c.shape == ref.shape, (ba, bb, m, k, n)
        if c.size:
            _check(c, ref, dtype, f"{ba} {bb} {m}x{k}x{n}")


def test_matmul_strided_batch_views(cpu_capability):
    rng = np.random.default_rng(11)
    # broadcast_to gives batch stride 0; slicing the batch gives strides > the matrix size;
    # column slicing gives a padded leading dimension; reversed batch gives negative strides.
    w = rng.standard_normal((12, 7)).astype(np.float32)
    wb = np.broadcast_to(w, (6, 12, 7))
    x = rng.standard_normal((12, 9, 15)).astype(np.float32)[::2, :, 1:13]
    assert x.strides[0] != 9 * 15 * 4 and not x.flags.c_contiguous
    y = rng.standard_normal((6, 7, 5)).astype(np.float32)[::-1]
    for a, b, ta, tb in [
        (x, wb, False, False),
        (wb, y, False, False),
        (x, x, True, False),
        (x, x, False, True),
        (wb, wb, True, False),
    ]:
        c = K.matmul(a, b, trans_a=ta, trans_b=tb)
        _check(c, _ref_matmul(a, b, ta, tb), np.float32, f"{a.shape} {b.shape}")


@pytest.mark.parametrize("shapes", [((16, 20, 30), (30, 25)), ((4, 130, 300), (4, 70, 300))])
def test_matmul_out_and_threads(shapes):
    # With 2+ threads a batch is split over threads and each GEMM runs inside the parallel
    # region (single-threaded); with 1 thread the batch loop is serial.
    rng = np.random.default_rng(12)
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = rng.standard_normal(shapes[1]).astype(np.float32)
    tb = b.ndim == 3
    ref = _ref_matmul(a, b, False, tb)
    prev = K.get_num_threads()
    try:
        for t in (1, 2, 3):
            K.set_num_threads(t)
            out = np.full(ref.shape, np.nan, np.float32)
            res = K.matmul(a, b, trans_b=tb, out=out)
            assert res is out or np.shares_memory(res, out)
            _check(out, ref, np.float32, f"threads={t}")
    finally:
        K.set_num_threads(prev)


def test_matmul_bad_inputs():
    a = np.ones((3, 4, 5), np.float32)
    b = np.ones((3, 5, 6), np.float32)
    with pytest.raises(TypeError, match="a must be a numpy array"):
        K.matmul([[1.0]], b)
    with pytest.raises(TypeError, match="b must be a numpy array"):
        K.matmul(a, [[1.0]])
    with pytest.raises(TypeError, match="a must have dtype float32 or float64"):
        K.matmul(a.astype(np.int64), b)
    with pytest.raises(TypeError, match="b has dtype float64 but a has float32"):
        K.matmul(a, b.astype(np.float64))
    with pytest.raises(ValueError, match="inner dimensions"):
        K.matmul(a, b, trans_b=True)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        K.matmul(a, np.ones((2, 5, 6), np.float32))
    with pytest.raises(ValueError, match="a must have at least 2 dimensions"):
        K.matmul(np.ones(5, np.float32), b)
    with pytest.raises(ValueError, match="b must have at least 2 dimensions"):
        K.matmul(a, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="a must have unit stride"):
        K.matmul(np.swapaxes(np.ones((3, 5, 4), np.float32), 1, 2), b)
    with pytest.raises(ValueError, match="b must have unit stride"):
        K.matmul(a, np.ones((3, 5, 12), np.float32)[:, :, ::2])
    with pytest.raises(ValueError, match="out must have shape"):
        K.matmul(a, b, out=np.zeros((3, 4, 7), np.float32))
    with pytest.raises(ValueError, match="out must have shape"):
        K.matmul(a, b, out=np.zeros((4, 6), np.float32))
    with pytest.raises(TypeError, match="out has dtype float64"):
        K.matmul(a, b, out=np.zeros((3, 4, 6), np.float64))
    with pytest.raises(TypeError, match="out must be a numpy array"):
        K.matmul(a, b, out=[1.0])
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        K.matmul(a, b, out=np.zeros((3, 4, 12), np.float32)[:, :, ::2])
    ro = np.zeros((3, 4, 6), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        K.matmul(a, b, out=ro)
    sq = np.ones((3, 5, 5), np.float32)
    with pytest.raises(ValueError, match="out must not overlap"):
        K.matmul(sq, sq, out=sq)
