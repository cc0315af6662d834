"""Float64 NumPy references for gather / scatter (element by element, in index order), shared
by tests/test_scatter.py and tests/test_fuzz_scatter.py."""

from __future__ import annotations

import numpy as np


def np_gather(x, axis, index):
    lead = tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(index.shape))
    return np.take_along_axis(x[lead], index, axis)


def np_scatter(x, axis, index, src, reduce="assign", include_self=True):
    """PyTorch's scatter / scatter_reduce, sequentially (the last 'assign' wins)."""
    out = np.array(x, copy=True)
    src = np.broadcast_to(src, index.shape) if np.ndim(src) == 0 else src
    dests = {}
    for pos in np.ndindex(*index.shape):
        d = pos[:axis] + (int(index[pos]),) + pos[axis + 1 :]
        dests.setdefault(d, []).append(src[pos])
    for d, vals in dests.items():
        if reduce == "assign":
            out[d] = vals[-1]
            continue
        acc = list(vals) if not include_self else [x[d]] + list(vals)
        if reduce == "sum":
            out[d] = np.sum(acc, dtype=out.dtype) if out.dtype.kind != "f" else sum(acc)
        elif reduce == "prod":
            r = acc[0]
            for v in acc[1:]:
                r = r * v
            out[d] = r
        elif reduce == "mean":
            s = sum(acc)
            out[d] = s / len(acc) if out.dtype.kind == "f" else s // len(acc)
        elif reduce == "amax":
            out[d] = np.nan if any(np.isnan(a) for a in acc) else max(acc)
        elif reduce == "amin":
            out[d] = np.nan if any(np.isnan(a) for a in acc) else min(acc)
    return out
