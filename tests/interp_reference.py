"""Float64 NumPy references for F.interpolate and F.conv_transpose*d (shared by the op tests
and the fuzz tests)."""

from __future__ import annotations

import numpy as np


def interp_matrix(n_in, n_out, mode, align_corners=False, scale=None, shortcuts=True):
    """(n_out, n_in) matrix M of one axis: y = M @ x along that axis (PyTorch's index rules;
    nearest indices computed in float32 as PyTorch does; ``shortcuts``: its 2-D kernel's
    out == in and out == 2 in index rules, which its 1-D kernel does not have)."""
    o = np.arange(n_out)
    M = np.zeros((n_out, n_in))
    if mode == "linear" and n_out == n_in:  # PyTorch copies an axis of unchanged size
        M[o, o] = 1.0
        return M
    if mode == "linear":
        if align_corners:
            sc = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            src = sc * o
        else:
            sc = 1.0 / scale if scale else n_in / n_out
            src = np.maximum(sc * (o + 0.5) - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
        lam = np.clip(src - i0, 0.0, 1.0)
        np.add.at(M, (o, i0), 1 - lam)
        np.add.at(M, (o, i1), lam)
        return M
    sc = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
    of = o.astype(np.float32)
    if mode == "nearest-exact":
        i = np.floor((of + np.float32(0.5)) * sc)
    elif shortcuts and n_out == n_in:
        i = o
    elif shortcuts and n_out == 2 * n_in:
        i = o // 2
    else:
        i = np.floor(of * sc)
    i = np.minimum(np.asarray(i).astype(np.int64), n_in - 1)
    M[o, i] = 1.0
    return M


def interp_matrices(in_shape, size, mode, align_corners=False, scales=None):
    nsp = len(in_shape) - 2
    scales = scales or (None,) * nsp
    return [
        interp_matrix(in_shape[2 + i], size[i], mode, align_corners, scales[i], nsp == 2)
        for i in range(nsp)
    ]


def interp_forward(x, Ms):
    if len(Ms) == 1:
        return x @ Ms[0].T
    return Ms[0] @ x @ Ms[1].T


def interp_backward(g, Ms):
    if len(Ms) == 1:
        return g @ Ms[0]
    return Ms[0].T @ g @ Ms[1]


def conv_transpose_ref(x, w, b, stride, padding, output_padding, groups, dilation):
    """y (N, C_out, out...) of a transposed convolution, by scattering each input position
    through the kernel (x (N, C_in, in...), w (C_in, C_out/groups, k...))."""
    nsp = x.ndim - 2
    N, Cin = x.shape[:2]
    Cog = w.shape[1]
    Cig = Cin // groups
    ks = w.shape[2:]
    out = [
        (x.shape[2 + i] - 1) * stride[i]
        - 2 * padding[i]
        + dilation[i] * (ks[i] - 1)
        + output_padding[i]
        + 1
        for i in range(nsp)
    ]
    full = [
        (x.shape[2 + i] - 1) * stride[i] + dilation[i] * (ks[i] - 1) + 1 + output_padding[i]
        for i in range(nsp)
    ]
    y = np.zeros((N, Cog * groups, *full))
    for g in range(groups):
        xg = x[:, g * Cig : (g + 1) * Cig]
        wg = w[g * Cig : (g + 1) * Cig]
        for kk in np.ndindex(*ks):  # every input position through kernel tap kk at once
            dst = tuple(
                slice(
                    kk[i] * dilation[i],
                    kk[i] * dilation[i] + (x.shape[2 + i] - 1) * stride[i] + 1,
                    stride[i],
                )
                for i in range(nsp)
            )
            tap = wg[(slice(None), slice(None)) + kk]  # (C_in/groups, C_out/groups)
            contrib = np.moveaxis(np.tensordot(xg, tap, axes=([1], [0])), -1, 1)
            y[(slice(None), slice(g * Cog, (g + 1) * Cog)) + dst] += contrib
    crop = tuple(slice(padding[i], padding[i] + out[i]) for i in range(nsp))
    y = y[(slice(None), slice(None)) + crop]
    if b is not None:
        y = y + b.reshape((-1,) + (1,) * nsp)
    return y
