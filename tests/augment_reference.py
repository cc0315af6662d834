"""float64 per-pixel reference of the affine warp behind the augmentation layers ([Note:
affine warps] in deepcore/nn/layers/augmentation.py), written from the formula with loops."""

from __future__ import annotations

import math

import numpy as np


def fix_index(i, n, mode):
    if mode == "nearest":
        return min(max(i, 0), n - 1), True
    if mode == "wrap":
        return i % n, True
    if mode == "reflect":
        m = i % (2 * n)
        return (2 * n - 1 - m if m >= n else m), True
    return i, 0 <= i < n


def warp_reference(x, rows, interpolation, mode, fill):
    n, h, w, c = x.shape
    out = np.zeros((n, h, w, c))
    for b in range(n):
        a = rows[b]
        for r in range(h):
            for q in range(w):
                sx = a[0] * q + a[1] * r + a[2]
                sy = a[3] * q + a[4] * r + a[5]
                if interpolation == "nearest":
                    taps = [(int(np.rint(sy)), int(np.rint(sx)), 1.0)]
                else:
                    y0, x0 = math.floor(sy), math.floor(sx)
                    fy, fx = sy - y0, sx - x0
                    taps = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                            (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]  # fmt: skip
                for ty, tx, wt in taps:
                    iy, oky = fix_index(ty, h, mode)
                    ix, okx = fix_index(tx, w, mode)
                    out[b, r, q] += wt * (x[b, iy, ix] if oky and okx else fill)
    return out
