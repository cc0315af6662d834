"""Interpolation (resampling) as an autograd function: ``F.interpolate`` with PyTorch's
signature and index rules, on the native kernels of csrc/interpolate.h.

x is (N, C, L) or (N, C, H, W). Modes: 'nearest' (PyTorch's legacy rule, floor(o * in / out)),
'nearest-exact' (floor((o + 0.5) * in / out), what Keras' UpSampling2D / Resizing do),
'linear' (3-D) and 'bilinear' (4-D), each with ``align_corners``. Give ``size`` or
``scale_factor``: with a scale factor the output size is floor(in * scale_factor) and the source
coordinates use 1 / scale_factor, as PyTorch does unless ``recompute_scale_factor=True``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ... import _C
from ..._array import contiguous as _contig
from ..._checks import is_real
from ...autograd import Context, Function
from ...tensor import Tensor

__all__ = ["interpolate"]

_MODES = {
    "nearest": (None, "nearest"),
    "nearest-exact": (None, "nearest-exact"),
    "linear": (1, "linear"),
    "bilinear": (2, "linear"),
}


class Interpolate(Function):
    @staticmethod
    def forward(
        ctx: Context, x: Any, size: tuple, mode: str, align_corners: bool, scales: Any
    ) -> Any:
        ctx.args = (x.shape, mode, align_corners, scales)
        return _C.interpolate_forward(_contig(x), size, mode, align_corners, scales)

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        shape, mode, align_corners, scales = ctx.args
        gx = _C.interpolate_backward(_contig(gy), shape, mode, align_corners, scales)
        return gx, None, None, None, None


def _per_axis(value: Any, nsp: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != nsp:
            raise ValueError(
                f"interpolate: {name} must be a number or a sequence of {nsp} (one per spatial "
                f"axis), got {value!r}"
            )
        return list(value)
    return [value] * nsp


def interpolate(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resample ``input`` (N, C, L) / (N, C, H, W) to ``size`` or by ``scale_factor``
    (PyTorch's ``F.interpolate``; see the module docstring for the modes)."""
    x = input.data if isinstance(input, Tensor) else input
    if mode not in _MODES:
        raise ValueError(
            f"interpolate: mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}"
        )
    if x.ndim not in (3, 4):
        raise ValueError(
            f"interpolate: input must be 3-D (N, C, L) or 4-D (N, C, H, W), got shape {x.shape}"
        )
    nsp = x.ndim - 2
    want, kernel_mode = _MODES[mode]
    if want is not None and want != nsp:
        raise ValueError(
            f"interpolate: mode {mode!r} needs a {want + 2}-D input, got shape {x.shape}"
        )
    if kernel_mode != "linear" and align_corners is not None:
        raise ValueError(
            "interpolate: align_corners can only be set with the interpolating modes "
            f"'linear' and 'bilinear', got mode {mode!r}"
        )
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    scales = None
    if size is None:
        factors = _per_axis(scale_factor, nsp, "scale_factor")
        out = []
        for i, f in enumerate(factors):
            if not is_real(f) or not f > 0 or not math.isfinite(f):
                raise ValueError(
                    f"interpolate: scale_factor must be positive and finite, got {scale_factor!r}"
                )
            n = math.floor(float(x.shape[2 + i]) * float(f))
            if n < 1:
                raise ValueError(
                    f"interpolate: scale_factor {f!r} makes spatial axis {i} of size "
                    f"{x.shape[2 + i]} empty"
                )
            out.append(n)
        size = tuple(out)
        if not recompute_scale_factor:
            scales = tuple(float(f) for f in factors)
    return Interpolate.apply(input, size, kernel_mode, bool(align_corners), scales)
