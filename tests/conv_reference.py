"""The float64 NumPy reference for conv1d / conv2d / conv3d (the formula of csrc/conv.h, computed
independently of the C++ code) and the check every conv test runs through it: shared by
tests/test_conv.py and the property-based tests/test_fuzz_conv.py.

A configuration is (N, C, (H, W), K, (R, S), (sh, sw), padding, (dh, dw), groups), padding an
int, an (h, w) pair or 'valid' / 'same' / 'full'; conv1d uses its W axis; conv3d
configurations have three spatial entries ((D, H, W), (KD, R, S), ...)."""

from __future__ import annotations

import deepcore as dc
import numpy as np

K = dc.kernels
TOL = {np.float32: 2e-6, np.float64: 1e-12}


def _pair(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


def ref_pads(in_sizes, k, stride, dil, padding):
    """[(lo, hi)] per spatial axis, computed independently of the C++ parser."""
    pads = []
    for i, n in enumerate(in_sizes):
        ext = dil[i] * (k[i] - 1) + 1
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "full":
            pads.append((ext - 1, ext - 1))
        elif padding == "same":
            out = -(-n // stride[i])
            total = max((out - 1) * stride[i] + ext - n, 0)
            pads.append((total // 2, total - total // 2))
        else:
            p = _pair(padding, len(in_sizes))[i]
            pads.append((p, p))
    return pads


def np_conv(x, w, b, stride, padding, dilation, groups):
    """y, and a closure for (dx, dw, db) given dy: the formula of csrc/conv.h in NumPy, for any
    number of spatial axes (loops over the kernel taps only; every tap is one einsum over the
    batch and channels)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nsp = x.ndim - 2
    st, dl = _pair(stride, nsp), _pair(dilation, nsp)
    sp, k = x.shape[2:], w.shape[2:]
    Kc, Cg = w.shape[:2]
    pads = ref_pads(sp, k, st, dl, padding)
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    out = tuple(
        (n + lo + hi - d * (kk - 1) - 1) // s + 1
        for n, (lo, hi), kk, s, d in zip(sp, pads, k, st, dl)
    )
    Kg = Kc // groups
    whole = (slice(None),)

    def window(taps):
        return tuple(
            slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in zip(taps, dl, st, out)
        )

    def blocks():
        for g in range(groups):
            cs, ks = slice(g * Cg, (g + 1) * Cg), slice(g * Kg, (g + 1) * Kg)
            for taps in np.ndindex(*k):
                yield whole + (cs,) + window(taps), ks, (ks, slice(None)) + taps

    y = np.zeros((x.shape[0], Kc) + out)
    for xs, ks, wt in blocks():
        y[:, ks] += np.einsum("nc...,kc->nk...", xp[xs], w[wt])
    if b is not None:
        y += np.asarray(b, np.float64).reshape((1, -1) + (1,) * nsp)

    def grads(dy):
        dy = np.asarray(dy, np.float64)
        dxp = np.zeros_like(xp)
        dw = np.zeros_like(w)
        for xs, ks, wt in blocks():
            dxp[xs] += np.einsum("nk...,kc->nc...", dy[:, ks], w[wt])
            red = [0, *range(2, 2 + nsp)]  # batch and spatial axes
            dw[wt] = np.tensordot(dy[:, ks], xp[xs], axes=(red, red))
        dx = dxp[whole * 2 + tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, sp))]
        return dx, dw, dy.sum(axis=(0, *range(2, 2 + nsp)))

    return y, grads


def conv_data(cfg, dtype, seed=0):
    """x, w, b of the configuration, standard normal."""
    N, C, sp, Kc, k, st, padding, dl, groups = cfg
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C) + sp).astype(dtype)
    w = rng.standard_normal((Kc, C // groups) + k).astype(dtype)
    b = rng.standard_normal(Kc).astype(dtype)
    return x, w, b


def check_conv(cfg, dtype, algos, nsp=2, relu=False):
    """Each of `algos` against np_conv: forward y, dx, dw and db (and, with relu, the fused
    max(y, 0) forward), the error's norm relative to the norm of the same sums over |terms|
    (the float rounding bound): below 2e-6 (float32) or 1e-12 (float64) times sqrt(the
    reduction length)."""
    N, C, sp, Kc, k, st, padding, dl, groups = cfg
    x, w, b = conv_data(cfg, dtype)
    if nsp == 1:  # use the W axis only
        x, w = np.ascontiguousarray(x[:, :, 0]), np.ascontiguousarray(w[:, :, 0])
        st, dl = st[1], dl[1]
        padding = padding if isinstance(padding, str) else _pair(padding, 2)[1]
    pre = f"conv{nsp}d"
    fwd, bin_, bw = (
        getattr(K, f"{pre}_{n}") for n in ("forward", "backward_input", "backward_weight")
    )
    y_ref, grads = np_conv(x, w, b, st, padding, dl, groups)
    dy = np.random.default_rng(1).standard_normal(y_ref.shape).astype(dtype)
    dx_ref, dw_ref, db_ref = grads(dy)
    # the same sums over |terms|: a float32 sum's error is bounded by eps times them, so a
    # result that nearly cancels (dw of 4 products summing to almost 0) is judged by that bound
    # rather than by its own tiny norm (a 3,000-example fuzz run failed on exactly that)
    ya, grads_abs = np_conv(np.abs(x), np.abs(w), np.abs(b), st, padding, dl, groups)
    dxa, dwa, dba = grads_abs(np.abs(dy))

    def close(a, e, scale, tol, name):
        denom = max(float(np.linalg.norm(scale)), 1e-300)
        err = float(np.linalg.norm(np.asarray(a, np.float64) - e)) / denom
        assert np.isfinite(np.asarray(a)).all(), f"{name}: non-finite values"
        assert err < tol, f"{name}: error {err:.3e} relative to the sums of |terms| >= {tol:.1e}"

    tol = TOL[dtype] * np.sqrt(w[0].size)
    red = TOL[dtype] * np.sqrt(max(y_ref[0, 0].size * N, 1))
    for algo in algos:
        what = f"{pre} {algo} {cfg} {np.dtype(dtype).name}"
        y = fwd(x, w, b, st, padding, dl, groups, algo)
        assert y.dtype == dtype and y.shape == y_ref.shape, what
        close(y, y_ref, ya, tol, f"{what} y")
        if relu:
            yr = fwd(x, w, b, st, padding, dl, groups, algo, relu=True)
            assert (yr >= 0).all(), what
            close(yr, np.maximum(y_ref, 0), ya, tol, f"{what} relu(y)")
        dx = bin_(dy, w, x.shape, st, padding, dl, groups, algo)
        dw, db = bw(x, dy, w.shape, st, padding, dl, groups, algo)
        assert dx.shape == dx_ref.shape and dw.shape == dw_ref.shape, what
        close(dx, dx_ref, dxa, tol, f"{what} dx")
        close(dw, dw_ref, dwa, red, f"{what} dw")
        close(db, db_ref, dba, red, f"{what} db")
