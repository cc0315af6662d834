"""Keras's Fourier transforms: ``fft``, ``fft2``, ``ifft2``, ``rfft``, ``irfft``, ``stft``,
``istft`` and the framing they use, ``extract_sequences``. In ``deepcore.ops`` (keras.ops)
only: ``deepcore.fft`` would be read as PyTorch's module of that name.

deepcore has no complex dtype, so a complex tensor is Keras's pair ``(real, imag)`` of float
tensors of one shape: ``fft((re, im))`` returns such a pair, ``rfft(x)`` takes a real tensor
and returns one, ``irfft((re, im))`` returns a real tensor. The transforms are the array
library's FFT (NumPy's pocketfft), computed in the pair's float dtype's complex counterpart;
results come back in the input's float dtype.

[Note: FFT gradients] The transforms are linear, so each backward is the adjoint transform of
the output gradient, read as the complex number g = g_re + i g_im (the gradient of a real loss
with respect to the real and imaginary parts):
  fft over axes of N points:  grad = N · ifft(g)  (the unnormalised inverse)
  ifft:                        grad = fft(g) / N
  rfft(x, n):                  grad = Re(N · ifft(g padded with zeros to n points)), then cut
                               or zero-padded back to x's length (x was zero-padded / cut to n)
  irfft(z, n):                 grad_k = c_k · rfft(g)_k / n, with c_k = 1 for k = 0 and (n even)
                               k = n/2, else 2 (each such bin stands for itself and its
                               mirror); zero for bins irfft did not read
``stft`` and ``istft`` are compositions of differentiable ops (reflect padding, framing by a
gather, the window, these transforms, overlap-add by scatter_add), so they need no backward
of their own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._array import array_module
from .._checks import is_int
from ..autograd import Context, Function
from ..tensor import Tensor
from ._common import Array
from ._elementwise import mul
from ._indexing import getitem
from ._keras import convert_to_tensor
from ._scatter import scatter_add
from ._shape import pad, reshape

__all__ = [
    "fft",
    "fft2",
    "ifft2",
    "rfft",
    "irfft",
    "stft",
    "istft",
    "extract_sequences",
]


def _real_tensor(x: Any, fn: str, name: str = "x") -> Tensor:
    try:
        t = x if isinstance(x, Tensor) else convert_to_tensor(x)
    except (TypeError, ValueError):
        t = None
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a real tensor, got {type(x).__name__}")
    if t.dtype.kind != "f":
        if t.dtype.kind not in "iub":
            raise TypeError(f"{fn}: {name} must be a real tensor, got dtype {t.dtype}")
        t = Tensor._wrap(t.data.astype(np.float32))
    return t


def _pair(x: Any, fn: str) -> tuple[Tensor, Tensor]:
    """Keras's complex argument: a (real, imag) pair of float tensors of one shape."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(
            f"{fn}: x must be a tuple (real, imag) of two tensors (deepcore has no complex "
            f"dtype), got {type(x).__name__}"
        )
    re, im = _real_tensor(x[0], fn, "x[0] (real)"), _real_tensor(x[1], fn, "x[1] (imag)")
    if re.shape != im.shape:
        raise ValueError(
            f"{fn}: the real and imaginary parts must have one shape, got {re.shape} and {im.shape}"
        )
    if re.dtype != im.dtype:
        dt = np.result_type(re.dtype, im.dtype)
        re, im = re.astype(dt), im.astype(dt)
    return re, im


def _split(z: Array, dt: np.dtype) -> tuple[Array, Array]:
    xp = array_module(z)
    return xp.ascontiguousarray(z.real, dtype=dt), xp.ascontiguousarray(z.imag, dtype=dt)


class _ComplexFFT(Function):
    """(re, im) -> (re, im) of the complex FFT (``inverse``: the normalised inverse) over
    ``axes`` ([Note: FFT gradients])."""

    @staticmethod
    def forward(ctx: Context, re: Array, im: Array, axes: tuple, inverse: bool) -> tuple:
        xp = array_module(re)
        ctx.axes, ctx.inverse, ctx.dt = axes, inverse, re.dtype
        z = re + 1j * im  # complex64 from float32, complex128 from float64
        y = (xp.fft.ifftn if inverse else xp.fft.fftn)(z, axes=axes)
        return _split(y, re.dtype)

    @staticmethod
    def backward(ctx: Context, g_re: Array, g_im: Array) -> tuple:
        xp = array_module(g_re)
        g = g_re + 1j * g_im
        # the adjoint: unnormalised inverse of a forward FFT, forward / N of an inverse one
        adj = (xp.fft.fftn if ctx.inverse else xp.fft.ifftn)(g, axes=ctx.axes, norm="forward")
        return _split(adj, ctx.dt)


def _fft_axes(fn: str, x: Any, k: int) -> tuple[Tensor, Tensor]:
    re, im = _pair(x, fn)
    if re.ndim < k:
        raise ValueError(f"{fn}: x must have at least {k} dimension(s), got shape {re.shape}")
    return re, im


def fft(x: Any) -> tuple[Tensor, Tensor]:
    """The discrete Fourier transform of the complex tensor ``x = (real, imag)`` along its last
    axis, as a (real, imag) pair. Differentiable ([Note: FFT gradients])."""
    re, im = _fft_axes("fft", x, 1)
    return _ComplexFFT.apply(re, im, axes=(-1,), inverse=False)


def fft2(x: Any) -> tuple[Tensor, Tensor]:
    """The 2-D discrete Fourier transform of ``x = (real, imag)`` over its last two axes."""
    re, im = _fft_axes("fft2", x, 2)
    return _ComplexFFT.apply(re, im, axes=(-2, -1), inverse=False)


def ifft2(x: Any) -> tuple[Tensor, Tensor]:
    """The inverse 2-D discrete Fourier transform (normalised by 1/(m n)) of ``x = (real,
    imag)`` over its last two axes."""
    re, im = _fft_axes("ifft2", x, 2)
    return _ComplexFFT.apply(re, im, axes=(-2, -1), inverse=True)


def _fft_length(fn: str, n: Any, default: int) -> int:
    if n is None:
        n = default
    if not is_int(n):
        raise TypeError(f"{fn}: fft_length must be an int, got {n!r}")
    if n < 1:
        raise ValueError(f"{fn}: fft_length must be positive, got {n}")
    return int(n)


class _RFFT(Function):
    """x (real, last axis of length L) -> (re, im) of its n-point real FFT (n // 2 + 1 bins)."""

    @staticmethod
    def forward(ctx: Context, x: Array, n: int) -> tuple:
        ctx.n, ctx.length = n, x.shape[-1]
        return _split(array_module(x).fft.rfft(x, n=n, axis=-1), x.dtype)

    @staticmethod
    def backward(ctx: Context, g_re: Array, g_im: Array) -> Array:
        xp = array_module(g_re)
        n, length = ctx.n, ctx.length
        g = xp.zeros(g_re.shape[:-1] + (n,), xp.result_type(g_re.dtype, xp.complex64))
        g[..., : g_re.shape[-1]] = g_re + 1j * g_im
        gx = xp.fft.ifft(g, axis=-1, norm="forward").real.astype(g_re.dtype)
        if length <= n:
            return xp.ascontiguousarray(gx[..., :length])
        out = xp.zeros(g_re.shape[:-1] + (length,), g_re.dtype)
        out[..., :n] = gx
        return out


def rfft(x: Any, fft_length: int | None = None) -> tuple[Tensor, Tensor]:
    """The real-input FFT along the last axis: ``fft_length`` points (default: the axis's
    length; the input is cut or zero-padded to it), ``fft_length // 2 + 1`` bins as a (real,
    imag) pair. Differentiable ([Note: FFT gradients])."""
    t = _real_tensor(x, "rfft")
    if t.ndim < 1:
        raise ValueError("rfft: x must have at least 1 dimension")
    n = _fft_length("rfft", fft_length, t.shape[-1])
    return _RFFT.apply(t, n=n)


class _IRFFT(Function):
    """(re, im) of m bins -> the real n-point inverse FFT."""

    @staticmethod
    def forward(ctx: Context, re: Array, im: Array, n: int) -> Array:
        ctx.n, ctx.m = n, re.shape[-1]
        z = re + 1j * im
        return array_module(re).fft.irfft(z, n=n, axis=-1).astype(re.dtype)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        xp = array_module(g)
        n, m = ctx.n, ctx.m
        G = xp.fft.rfft(g, axis=-1)  # n // 2 + 1 bins
        c = xp.full(G.shape[-1], 2.0)
        c[0] = 1.0
        if n % 2 == 0:
            c[-1] = 1.0
        G = G * (c / n)
        out = xp.zeros(g.shape[:-1] + (m,), G.dtype)
        k = min(m, G.shape[-1])
        out[..., :k] = G[..., :k]
        return _split(out, g.dtype)


def irfft(x: Any, fft_length: int | None = None) -> Tensor:
    """The inverse of ``rfft``: the real ``fft_length``-point signal (default 2 (m - 1) for
    m bins) whose real FFT is ``x = (real, imag)``. Differentiable ([Note: FFT gradients])."""
    re, im = _pair(x, "irfft")
    if re.ndim < 1 or re.shape[-1] < 1:
        raise ValueError(f"irfft: x must have a non-empty last axis, got shape {re.shape}")
    n = _fft_length("irfft", fft_length, 2 * (re.shape[-1] - 1) if re.shape[-1] > 1 else 1)
    return _IRFFT.apply(re, im, n=n)


def _positive(fn: str, name: str, v: Any) -> int:
    if not is_int(v) or v < 1:
        raise ValueError(f"{fn}: {name} must be a positive int, got {v!r}")
    return int(v)


def _frame_index(xp: Any, length: int, sequence_length: int, sequence_stride: int) -> Array:
    """(frames, sequence_length) indices of the frames starting every ``sequence_stride``."""
    count = max((length - sequence_length) // sequence_stride + 1, 0)
    return xp.arange(count)[:, None] * sequence_stride + xp.arange(sequence_length)


def extract_sequences(x: Any, sequence_length: int, sequence_stride: int) -> Tensor:
    """Frames of the last axis: (..., L) -> (..., frames, sequence_length), a frame starting
    every ``sequence_stride`` samples, as many as fit ((L - sequence_length) // stride + 1).
    Differentiable (a gather)."""
    t = x if isinstance(x, Tensor) else convert_to_tensor(x)
    fn = "extract_sequences"
    n = _positive(fn, "sequence_length", sequence_length)
    s = _positive(fn, "sequence_stride", sequence_stride)
    if t.ndim < 1:
        raise ValueError(f"{fn}: x must have at least 1 dimension")
    idx = _frame_index(array_module(t.data), t.shape[-1], n, s)
    return getitem(t, (Ellipsis, idx))


def _window(
    xp: Any, fn: str, window: Any, sequence_length: int, fft_length: int, dt: np.dtype
) -> Array:
    """The window of ``sequence_length`` samples ('hann' / 'hamming': periodic, as
    scipy.signal.get_window; an array; None: ones), zero-padded to ``fft_length`` with the
    extra zeros split evenly (one more on the right)."""
    if window is None:
        return xp.ones(fft_length, dt)
    if isinstance(window, str):
        k = xp.arange(sequence_length) * (2.0 * math.pi / sequence_length)
        if window == "hann":
            w = 0.5 - 0.5 * xp.cos(k)
        elif window == "hamming":
            w = 0.54 - 0.46 * xp.cos(k)
        else:
            raise ValueError(
                f"{fn}: window must be 'hann', 'hamming', an array or None, got {window!r}"
            )
    else:
        w = xp.asarray(window.numpy() if isinstance(window, Tensor) else window, np.float64)
        if w.shape != (sequence_length,):
            raise ValueError(
                f"{fn}: window must have shape (sequence_length,) = ({sequence_length},), got "
                f"{w.shape}"
            )
    left = (fft_length - sequence_length) // 2
    return xp.pad(w, (left, fft_length - sequence_length - left)).astype(dt)


def _stft_args(fn: str, sequence_length: Any, sequence_stride: Any, fft_length: Any) -> tuple:
    n = _positive(fn, "sequence_length", sequence_length)
    s = _positive(fn, "sequence_stride", sequence_stride)
    f = _positive(fn, "fft_length", fft_length)
    if f < n:
        raise ValueError(f"{fn}: fft_length ({f}) must be at least sequence_length ({n})")
    return n, s, f


def stft(
    x: Any,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    window: Any = "hann",
    center: bool = True,
) -> tuple[Tensor, Tensor]:
    """Keras's short-time Fourier transform of real signals (..., L): frames of
    ``fft_length`` samples every ``sequence_stride``, each multiplied by the window (of
    ``sequence_length`` samples, centred in the frame) and transformed by ``rfft``; (real,
    imag) of shape (..., frames, fft_length // 2 + 1). ``center`` first reflect-pads the
    signal by fft_length // 2 on each side (frame t is then centred on sample t * stride).
    The same numbers as ``torch.stft(..., center=center, pad_mode="reflect")`` with the
    window zero-padded to n_fft. Differentiable."""
    n, s, f = _stft_args("stft", sequence_length, sequence_stride, fft_length)
    t = x if isinstance(x, Tensor) else convert_to_tensor(x)
    if t.dtype not in (np.float32, np.float64):
        raise TypeError(f"stft: x must be float32 or float64, got {t.dtype}")
    if t.ndim < 1:
        raise ValueError("stft: x must have at least 1 dimension")
    if center:
        if t.shape[-1] <= f // 2:
            raise ValueError(
                f"stft: center=True reflect-pads by fft_length // 2 = {f // 2}, which needs more "
                f"than that many samples, got {t.shape[-1]}"
            )
        t = pad(t, [(0, 0)] * (t.ndim - 1) + [(f // 2, f // 2)], mode="reflect")
    if t.shape[-1] < f:
        raise ValueError(
            f"stft: the signal ({t.shape[-1]} samples) is shorter than fft_length ({f})"
        )
    win = _window(array_module(t.data), "stft", window, n, f, t.dtype)
    frames = mul(extract_sequences(t, f, s), Tensor._wrap(win))
    return rfft(frames, f)


def istft(
    x: Any,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    length: int | None = None,
    window: Any = "hann",
    center: bool = True,
) -> Tensor:
    """Keras's inverse of ``stft``: each frame of ``x = (real, imag)`` (..., frames, bins)
    back by ``irfft``, windowed, overlap-added every ``sequence_stride`` samples and divided
    by the overlap-added squared window (where that exceeds 1e-10); without a window, the
    frames are overlap-added and scaled by fft_length / (sequence_stride · overlap count).
    ``center`` drops the fft_length // 2 samples stft's padding added at each end;
    ``length`` keeps that many samples. Differentiable."""
    n, s, f = _stft_args("istft", sequence_length, sequence_stride, fft_length)
    re, im = _pair(x, "istft")
    if re.ndim < 2:
        raise ValueError(f"istft: x must be (..., frames, bins), got shape {re.shape}")
    frames = irfft((re, im), f)  # (..., T, f)
    T = frames.shape[-2]
    if T < 1:
        raise ValueError("istft: x has no frames")
    xp = array_module(frames.data)
    win = _window(xp, "istft", window, n, f, frames.dtype)
    total = f + s * (T - 1)
    idx = _frame_index(xp, total, f, s)  # (T, f): where each frame's samples go
    lead = frames.shape[:-2]
    flat = reshape(mul(frames, Tensor._wrap(win)), (*lead, T * f))
    index = xp.broadcast_to(idx.reshape(-1), (*lead, T * f))
    zeros = Tensor._wrap(xp.zeros((*lead, total), frames.dtype))
    y = scatter_add(zeros, -1, index, flat)
    norm = xp.bincount(idx.reshape(-1), weights=xp.tile(win.astype(np.float64) ** 2, T))
    norm = xp.where(norm > 1e-10, norm, 1.0)
    # scipy.signal.istft (which Keras calls) multiplies by the window's sum; Keras divides
    # by it again, or by the stride when there is no window
    scale = 1.0 if window is not None else f / s
    y = mul(y, Tensor._wrap((scale / norm).astype(frames.dtype)))
    start = f // 2 if center else 0
    if length is not None:
        end = start + _positive("istft", "length", length)
    else:
        end = total - f // 2 if center else total
    return getitem(y, (Ellipsis, slice(start, end)))
