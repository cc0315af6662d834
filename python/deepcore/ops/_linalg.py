"""Keras 3's ``keras.ops`` linear algebra (``keras.ops.linalg`` and the NumPy-style ``det``,
``slogdet``, ``trace``): batched over leading axes, through the array module's ``linalg``
(LAPACK via NumPy on the CPU).

[Note: linalg gradients] Each differentiable op is a Function with the standard matrix
derivative (Giles 2008, "An extended collection of matrix derivative results"; Murray 2016
for Cholesky), written on the last two axes so batches need no loop:

    inv      Y = A⁻¹                 gA = -Yᵀ g Yᵀ
    det      d = det A               gA = g · d · A⁻ᵀ
    slogdet  l = log|det A|          gA = g · A⁻ᵀ            (the sign has no gradient)
    solve    X = A⁻¹ B               gB = A⁻ᵀ g,  gA = -gB Xᵀ
    cholesky A = L Lᵀ                gA = sym(L⁻ᵀ Φ(Lᵀ g) L⁻¹), Φ: lower triangle, diagonal halved
    eigh     A = V diag(w) Vᵀ        gA = V diag(gw) Vᵀ      (eigenvalues)
    svd      A = U diag(s) Vᴴ        gA = U diag(gs) Vᴴ      (singular values)
    lu       P A = L U               gA = Pᵀ L⁻ᵀ (tril(Lᵀ g, -1) + triu(g Uᵀ)) U⁻ᵀ   (square A;
                                     g: the gradient of the packed lu matrix)

``eigh`` and ``cholesky`` read one triangle of A (the lower), as LAPACK does; their gradients
are the symmetric ones, right for symmetric A and symmetric perturbations. The derivatives of
eigenvectors and of svd's U, V (ill-conditioned at repeated values) are not implemented: a
gradient that reaches them raises NotImplementedError rather than being dropped; ``qr`` and
``lstsq`` return constants (no gradient).
``solve_triangular`` is ``solve`` on the triangle it reads, so its gradient is ``solve``'s.
``lu_factor`` is deepcore's own kernel (csrc/lu.h: LAPACK getrf's partial pivoting; NumPy has
no LU), the others NumPy's LAPACK.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _C
from .._array import array_module
from ..autograd import Function
from ..tensor import Tensor
from ._elementwise import where
from ._numpy_extra import _t
from ._rearrange import tril, triu
from ._shape import expand, reshape

__all__ = [
    "inv",
    "det",
    "slogdet",
    "logdet",
    "solve",
    "solve_triangular",
    "cholesky",
    "qr",
    "svd",
    "eigh",
    "lstsq",
    "lu_factor",
]


def _mT(a: Any) -> Any:
    return a.swapaxes(-1, -2)


def _square(x: Any, fn: str, name: str = "x") -> Tensor:
    """x as a float tensor of square matrices (..., n, n)."""
    t = _matrix(x, fn, name)
    if t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{fn}: {name} must be square in its last two axes, got shape {t.shape}")
    return t


def _matrix(x: Any, fn: str, name: str = "x") -> Tensor:
    t = _t(x, fn, name)
    if t.dtype.kind != "f":
        if t.dtype.kind not in "iub":
            raise TypeError(f"{fn}: {name} must be a real tensor, got {t.dtype}")
        t = t.astype("float32")
    if t.ndim < 2:
        raise ValueError(f"{fn}: {name} must have at least 2 dimensions, got shape {t.shape}")
    return t


class _Inv(Function):
    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        y = array_module(a).linalg.inv(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (y,) = ctx.saved
        yt = _mT(y)
        return -(yt @ g @ yt)


class _Det(Function):
    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        xp = array_module(a)
        d = xp.linalg.det(a)
        ctx.save_for_backward(a, d)
        return xp.asarray(d, dtype=a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        a, d = ctx.saved
        xp = array_module(a)
        return (g * d)[..., None, None] * _mT(xp.linalg.inv(a))


class _Slogdet(Function):
    """(sign, log|det A|); only the second output carries a gradient."""

    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        xp = array_module(a)
        sign, logabs = xp.linalg.slogdet(a)
        ctx.save_for_backward(a)
        return xp.asarray(sign, dtype=a.dtype), xp.asarray(logabs, dtype=a.dtype)

    @staticmethod
    def backward(ctx: Any, gsign: Any, glog: Any) -> Any:
        (a,) = ctx.saved
        xp = array_module(a)
        if glog is None:
            return xp.zeros_like(a)
        return glog[..., None, None] * _mT(xp.linalg.inv(a))


class _Solve(Function):
    """X = A⁻¹ B with B (..., n, k), both of one batch shape (broadcast outside)."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        x = array_module(a).linalg.solve(a, b)
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        a, x = ctx.saved
        gb = array_module(a).linalg.solve(_mT(a), g)
        return -(gb @ _mT(x)), gb


class _Cholesky(Function):
    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        xp = array_module(a)
        try:
            low = xp.linalg.cholesky(a)
        except xp.linalg.LinAlgError:
            raise ValueError("cholesky: x is not positive definite") from None
        ctx.save_for_backward(low)
        return low

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (low,) = ctx.saved
        xp = array_module(low)
        n = low.shape[-1]
        p = xp.tril(_mT(low) @ g)
        p[..., xp.arange(n), xp.arange(n)] *= 0.5
        # S = L⁻ᵀ P L⁻¹ by two solves (never forming L⁻¹)
        s = xp.linalg.solve(_mT(low), p)
        s = _mT(xp.linalg.solve(_mT(low), _mT(s)))
        return 0.5 * (s + _mT(s))


class _LuFactor(Function):
    """P A = L U with partial pivoting (csrc/lu.h); outputs (lu, pivots), the row order P
    applies kept for backward."""

    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        lu, piv, perm, _ = _C.lu_factor(array_module(a).ascontiguousarray(a))
        ctx.save_for_backward(lu, perm)
        return lu, piv

    @staticmethod
    def backward(ctx: Any, g: Any, _gpiv: Any) -> Any:
        lu, perm = ctx.saved
        m, n = lu.shape[-2:]
        if m != n:
            raise NotImplementedError(
                f"lu_factor: the gradient is implemented for square matrices, got {m}x{n}"
            )
        xp = array_module(lu)
        low = xp.tril(lu, -1) + xp.eye(n, dtype=lu.dtype)
        up = xp.triu(lu)
        mid = xp.tril(_mT(low) @ g, -1) + xp.triu(g @ _mT(up))
        try:  # Pᵀ L⁻ᵀ mid U⁻ᵀ by two solves
            y = xp.linalg.solve(_mT(low), mid)
            z = _mT(xp.linalg.solve(up, _mT(y)))
        except xp.linalg.LinAlgError:
            raise ValueError(
                "lu_factor: no gradient at a singular matrix (U is singular)"
            ) from None
        return xp.take_along_axis(z, xp.argsort(perm, axis=-1)[..., :, None], axis=-2)


def _no_vector_grad(fn: str, *gs: Any) -> None:
    """Refuse, rather than drop, a gradient that reached eigenvectors or singular vectors."""
    if any(g is not None and bool(g.any()) for g in gs):
        raise NotImplementedError(
            f"{fn}: the gradient through the eigen/singular vectors is not implemented (only "
            "through the values; see [Note: linalg gradients])"
        )


class _Eigh(Function):
    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        w, v = array_module(a).linalg.eigh(a)
        ctx.save_for_backward(v)
        return w, v

    @staticmethod
    def backward(ctx: Any, gw: Any, gv: Any) -> Any:
        _no_vector_grad("eigh", gv)
        (v,) = ctx.saved
        return (v * gw[..., None, :]) @ _mT(v)


class _Svd(Function):
    """(u, s, vh); only s carries a gradient: gA = U diag(gs) Vh over the first k columns."""

    @staticmethod
    def forward(ctx: Any, a: Any, full: bool) -> Any:
        u, s, vh = array_module(a).linalg.svd(a, full_matrices=full)
        ctx.save_for_backward(u, vh)
        return u, s, vh

    @staticmethod
    def backward(ctx: Any, gu: Any, gs: Any, gvh: Any) -> Any:
        _no_vector_grad("svd", gu, gvh)
        u, vh = ctx.saved
        k = gs.shape[-1]
        return (u[..., :k] * gs[..., None, :]) @ vh[..., :k, :], None


def _const(a: Any) -> Tensor:
    return Tensor._wrap(a)


def inv(x: Any) -> Tensor:
    """The inverse of each square matrix (..., n, n); differentiable. A singular matrix
    raises ValueError."""
    a = _square(x, "inv")
    try:
        return _Inv.apply(a)
    except array_module(a.data).linalg.LinAlgError:
        raise ValueError("inv: x is singular") from None


def det(x: Any) -> Tensor:
    """The determinant of each square matrix (..., n, n) -> (...); differentiable where A is
    invertible."""
    return _Det.apply(_square(x, "det"))


def slogdet(x: Any) -> tuple[Tensor, Tensor]:
    """(sign, log|det|) of each square matrix; the log is differentiable."""
    return _Slogdet.apply(_square(x, "slogdet"))


def logdet(x: Any) -> Tensor:
    """log(det x) for (Hermitian positive-definite) matrices: NaN where det < 0, -inf where
    det = 0; differentiable (gradient x⁻ᵀ)."""
    sign, logabs = slogdet(x)
    return where(sign.detach() > 0, logabs, where(sign.detach() < 0, float("nan"), -float("inf")))


def _solve_args(fn: str, a: Any, b: Any) -> tuple[Tensor, Tensor, bool]:
    at = _square(a, fn, "a")
    bt = _t(b, fn, "b")
    if bt.dtype.kind != "f":
        bt = bt.astype("float32")
    dt = at.dtype if at.dtype == bt.dtype else "float64"
    at, bt = (t if t.dtype == dt else t.astype(dt) for t in (at, bt))
    vector = bt.ndim == 1
    n = at.shape[-1]
    if (bt.shape[0] if vector else (bt.shape[-2] if bt.ndim >= 2 else -1)) != n:
        raise ValueError(f"{fn}: b of shape {bt.shape} does not match a of shape {at.shape}")
    return at, bt, vector


def _solve(fn: str, a: Tensor, b: Tensor, vector: bool) -> Tensor:
    col = reshape(b, (b.shape[0], 1)) if vector else b
    try:
        batch = tuple(np.broadcast_shapes(a.shape[:-2], col.shape[:-2]))
    except ValueError:
        raise ValueError(
            f"{fn}: the batch shapes of a {a.shape} and b {b.shape} do not broadcast"
        ) from None
    a2 = a if a.shape[:-2] == batch else expand(a, *batch, *a.shape[-2:])
    c2 = col if col.shape[:-2] == batch else expand(col, *batch, *col.shape[-2:])
    try:
        out = _Solve.apply(a2, c2)
    except array_module(a.data).linalg.LinAlgError:
        raise ValueError(f"{fn}: a is singular") from None
    return reshape(out, (b.shape[0],)) if vector else out


def solve(a: Any, b: Any) -> Tensor:
    """X with a X = b: a (..., n, n), b (n,) or (..., n, k); differentiable in both. A singular
    a raises ValueError."""
    at, bt, vector = _solve_args("solve", a, b)
    return _solve("solve", at, bt, vector)


def solve_triangular(a: Any, b: Any, lower: bool = False) -> Tensor:
    """X with a X = b reading only the lower (``lower=True``) or upper triangle of a;
    differentiable (the gradient of a lands on that triangle)."""
    at, bt, vector = _solve_args("solve_triangular", a, b)
    return _solve("solve_triangular", tril(at) if lower else triu(at), bt, vector)


def cholesky(x: Any, upper: bool = False) -> Tensor:
    """The Cholesky factor of each symmetric positive-definite matrix: lower L with x = L Lᵀ
    (``upper=True``: Lᵀ); differentiable. Not positive definite: ValueError."""
    low = _Cholesky.apply(_square(x, "cholesky"))
    return low.swapaxes(-1, -2) if upper else low


def qr(x: Any, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """(q, r) of each matrix (..., m, n); ``mode`` "reduced" or "complete". No gradient."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode must be 'reduced' or 'complete', got {mode!r}")
    a = _matrix(x, "qr")
    q, r = array_module(a.data).linalg.qr(a.data, mode=mode)
    return _const(q), _const(r)


def svd(x: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """(u, s, vh) with x = u diag(s) vh, or s alone when not ``compute_uv``; differentiable
    through s (a gradient reaching u or vh raises NotImplementedError)."""
    u, s, vh = _Svd.apply(_matrix(x, "svd"), bool(full_matrices and compute_uv))
    return (u, s, vh) if compute_uv else s


def eigh(x: Any) -> tuple[Tensor, Tensor]:
    """(w, v): ascending eigenvalues and eigenvectors (columns) of each symmetric matrix (its
    lower triangle is read); differentiable through w (a gradient reaching v raises
    NotImplementedError)."""
    return _Eigh.apply(_square(x, "eigh"))


def lu_factor(x: Any) -> tuple[Tensor, Tensor]:
    """Keras's ``ops.lu_factor`` (SciPy's ``lu_factor``): ``(lu, pivots)`` of each matrix
    (..., m, n) with P x = L U by partial pivoting (LAPACK getrf). ``lu`` holds U on and above
    the diagonal and L's multipliers below it (L's unit diagonal implied); ``pivots``
    (int32, (..., min(m, n))) says that at step i row i was swapped with row pivots[i]
    (0-based). A singular matrix factors completely, with a zero on U's diagonal.
    Differentiable through ``lu`` for square matrices."""
    return _LuFactor.apply(_matrix(x, "lu_factor"))


def lstsq(a: Any, b: Any, rcond: float | None = None) -> Tensor:
    """The least-squares solution x of a x ≈ b, a (m, n), b (m,) or (m, k). No gradient."""
    at = _matrix(a, "lstsq", "a")
    if at.ndim != 2:
        raise ValueError(f"lstsq: a must be 2-D, got shape {at.shape}")
    bt = _t(b, "lstsq", "b")
    if bt.ndim not in (1, 2) or bt.shape[0] != at.shape[0]:
        raise ValueError(f"lstsq: b of shape {bt.shape} does not match a of shape {at.shape}")
    dt = at.dtype
    bd = bt.data.astype(dt, copy=False)
    sol = array_module(at.data).linalg.lstsq(at.data, bd, rcond=rcond)[0]
    return _const(sol)
