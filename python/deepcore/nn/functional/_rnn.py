"""Recurrent layers over whole sequences: simple RNN, LSTM and GRU (csrc/rnn.h).

One call runs one layer in one direction over a batch-first sequence ``x (B, T, I)``; the time
loop, the fused gate math and backpropagation through time all run in native code (see
[Note: RNN plan] in csrc/rnn.h). Weights use PyTorch's layout, so ``nn.LSTM`` / ``nn.GRU`` /
``nn.RNN`` weights copy over unchanged: ``w_ih (G*H, I)``, ``w_hh (G*H, H)``, ``b_ih, b_hh
(G*H,)``, gate blocks in the order i, f, g, o (LSTM), r, z, n (GRU).

Variable lengths: ``lengths (B,)`` (right-padded sequences) or ``mask (B, T)`` (any pattern,
e.g. from ``Embedding(mask_zero=True)``). A masked step carries the state over unchanged; its
output is the last real output (Keras's default) or zero with ``zero_output=True`` (Keras's
``zero_output_for_mask``, and what PyTorch's padded packed sequences give). ``reverse=True``
runs the steps from last to first (``go_backwards``); outputs keep their time positions, and
with right-padded lengths each sequence starts at its own last step, as a backward direction
over PyTorch's packed sequences does. ``h_mask (B, H)``: recurrent dropout, multipliers of
h_{t-1} where it enters the recurrent weights (one mask per sequence; [Note: recurrent dropout]
in csrc/rnn.h).
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from ... import _C
from ..._array import contiguous_or_none as _contig
from ...autograd import Function
from ...tensor import Tensor

__all__ = ["rnn", "lstm", "gru", "conv_lstm"]

ArrayOrTensor = Union[Tensor, np.ndarray]


class _Recurrent(Function):
    """One layer, one direction: forward (out, h_n[, c_n]) and BPTT through _C."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_peep, cell, opts):
        args = [_contig(a) for a in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]
        kw = dict(opts)
        if w_peep is not None:
            kw["w_peephole"] = _contig(w_peep)
        out, h_n, c_n, ws = _C.rnn_forward(cell, *args, **kw)
        ctx.cell = cell
        ctx.opts = {k: v for k, v in kw.items() if k not in ("mask", "lengths")}
        ctx.save_for_backward(*args, ws)
        return (out, h_n) if c_n is None else (out, h_n, c_n)

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n=None):
        *args, ws = ctx.saved
        dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dpeep = _C.rnn_backward(
            ctx.cell, *args, ws, _contig(dout), _contig(dh_n), _contig(dc_n), **ctx.opts
        )
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dpeep, None, None


def _array(a: Any) -> Any:
    return a.data if isinstance(a, Tensor) else a


def _options(
    lengths: Any, mask: Any, zero_output: bool, reverse: bool, h_mask: Any = None, **more: Any
) -> dict:
    opts: dict[str, Any] = dict(more, zero_output=bool(zero_output), reverse=bool(reverse))
    if h_mask is not None:  # constant multipliers, not differentiated
        opts["h_mask"] = np.ascontiguousarray(_array(h_mask))
    if lengths is not None:
        opts["lengths"] = np.asarray(_array(lengths))
    if mask is not None:
        m = np.asarray(_array(mask))
        if m.dtype != np.bool_ and m.dtype != np.uint8:
            if m.dtype.kind not in "iuf":
                raise TypeError(
                    f"mask must be boolean or numeric (nonzero = real step), got {m.dtype}"
                )
            m = m != 0
        opts["mask"] = np.ascontiguousarray(m)
    return opts


def _gated(activation: Any, recurrent_activation: Any, hard_sigmoid: tuple, **more: Any) -> dict:
    """The options every gated cell takes (LSTM, GRU)."""
    return dict(
        more,
        activation=activation,
        recurrent_activation=recurrent_activation,
        hard_sigmoid_slope=float(hard_sigmoid[0]),
        hard_sigmoid_offset=float(hard_sigmoid[1]),
    )


def rnn(
    x: ArrayOrTensor,
    h0: ArrayOrTensor | None,
    w_ih: ArrayOrTensor,
    w_hh: ArrayOrTensor,
    b_ih: ArrayOrTensor | None = None,
    b_hh: ArrayOrTensor | None = None,
    nonlinearity: str | None = "tanh",
    *,
    lengths: Any = None,
    mask: Any = None,
    zero_output: bool = False,
    reverse: bool = False,
    h_mask: Any = None,
) -> tuple[Tensor, Tensor]:
    """Simple (Elman) RNN over x (B, T, I): h_t = f(W x_t + b_ih + U h_{t-1} + b_hh) with f
    ``nonlinearity`` ('tanh', 'relu', 'sigmoid', 'hard_sigmoid', or None / 'linear').
    w_ih (H, I), w_hh (H, H); h0 (B, H) or None (zeros). Returns out (B, T, H), h_n (B, H)."""
    opts = _options(lengths, mask, zero_output, reverse, h_mask, activation=nonlinearity)
    return _Recurrent.apply(x, h0, None, w_ih, w_hh, b_ih, b_hh, None, "rnn", opts)


def lstm(
    x: ArrayOrTensor,
    hx: tuple[ArrayOrTensor | None, ArrayOrTensor | None] | None,
    w_ih: ArrayOrTensor,
    w_hh: ArrayOrTensor,
    b_ih: ArrayOrTensor | None = None,
    b_hh: ArrayOrTensor | None = None,
    *,
    variant: str = "standard",
    w_peephole: ArrayOrTensor | None = None,
    activation: str | None = "tanh",
    recurrent_activation: str | None = "sigmoid",
    hard_sigmoid: tuple[float, float] = (0.2, 0.5),
    lengths: Any = None,
    mask: Any = None,
    zero_output: bool = False,
    reverse: bool = False,
    h_mask: Any = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """LSTM over x (B, T, I). hx = (h0, c0), each (B, H) or None (zeros), or None.

    i, f, o = sigma(W x + b_ih + U h + b_hh) (``recurrent_activation``), g = tanh(...)
    (``activation``), c_t = f*c_{t-1} + i*g, h_t = o*tanh(c_t); w_ih (4H, I), w_hh (4H, H),
    gate blocks i, f, g, o. ``variant``: 'standard'; 'no_forget' (c_t = c_{t-1} + i*g, gates
    i, g, o); 'coupled' (i = 1 - f, gates f, g, o). ``w_peephole``: peephole weights, one
    (H,) block per sigmoid gate in the order i, f, o (i and f see c_{t-1}, o sees c_t).
    ``hard_sigmoid = (slope, offset)`` when an activation is 'hard_sigmoid' (Keras 2: 0.2, 0.5).
    Returns out (B, T, H), (h_n, c_n)."""
    h0, c0 = (None, None) if hx is None else hx
    gated = _gated(activation, recurrent_activation, hard_sigmoid, lstm_variant=variant)
    opts = _options(lengths, mask, zero_output, reverse, h_mask, **gated)
    out, h_n, c_n = _Recurrent.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_peephole, "lstm", opts)
    return out, (h_n, c_n)


def gru(
    x: ArrayOrTensor,
    h0: ArrayOrTensor | None,
    w_ih: ArrayOrTensor,
    w_hh: ArrayOrTensor,
    b_ih: ArrayOrTensor | None = None,
    b_hh: ArrayOrTensor | None = None,
    reset_after: bool = True,
    *,
    z_keeps_state: bool = True,
    activation: str | None = "tanh",
    recurrent_activation: str | None = "sigmoid",
    hard_sigmoid: tuple[float, float] = (0.2, 0.5),
    lengths: Any = None,
    mask: Any = None,
    zero_output: bool = False,
    reverse: bool = False,
    h_mask: Any = None,
) -> tuple[Tensor, Tensor]:
    """GRU over x (B, T, I); w_ih (3H, I), w_hh (3H, H), gate blocks r, z, n.

    r, z = sigma(W x + b_ih + U h + b_hh); ``reset_after`` (PyTorch, cuDNN, Keras default):
    n = tanh(W_n x + b_in + r*(U_n h + b_hn)); else the textbook n = tanh(W_n x + b_in +
    U_n (r*h) + b_hn). ``z_keeps_state``: h_t = z*h_{t-1} + (1-z)*n (PyTorch, Keras); False:
    h_t = (1-z)*h_{t-1} + z*n. Returns out (B, T, H), h_n (B, H)."""
    gated = _gated(
        activation,
        recurrent_activation,
        hard_sigmoid,
        reset_after=bool(reset_after),
        z_keeps_state=bool(z_keeps_state),
    )
    opts = _options(lengths, mask, zero_output, reverse, h_mask, **gated)
    return _Recurrent.apply(x, h0, None, w_ih, w_hh, b_ih, b_hh, None, "gru", opts)


class _ConvLstm(Function):
    """A convolutional LSTM over a whole sequence: forward and BPTT through _C
    (csrc/conv_lstm.h)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_x, w_h, b, geometry, opts):
        args = [_contig(a) for a in (x, h0, c0, w_x, w_h, b)]
        out, h_n, c_n, ws = _C.conv_lstm_forward(*args, *geometry, **opts)
        ctx.geometry = geometry
        ctx.opts = {k: v for k, v in opts.items() if k not in ("mask", "lengths")}
        ctx.save_for_backward(*args, ws)
        return out, h_n, c_n

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n):
        *args, ws = ctx.saved
        dx, dh0, dc0, dw_x, dw_h, db = _C.conv_lstm_backward(
            *args, ws, _contig(dout), _contig(dh_n), _contig(dc_n), *ctx.geometry, **ctx.opts
        )
        return dx, dh0, dc0, dw_x, dw_h, db, None, None


def conv_lstm(
    x: ArrayOrTensor,
    hx: tuple[ArrayOrTensor | None, ArrayOrTensor | None] | None,
    w_x: ArrayOrTensor,
    w_h: ArrayOrTensor,
    b: ArrayOrTensor | None = None,
    *,
    strides: Any = 1,
    padding: Any = "valid",
    dilation: Any = 1,
    activation: str | None = "tanh",
    recurrent_activation: str | None = "sigmoid",
    hard_sigmoid: tuple[float, float] = (0.2, 0.5),
    lengths: Any = None,
    mask: Any = None,
    zero_output: bool = False,
    reverse: bool = False,
    h_mask: Any = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Convolutional LSTM (Shi et al. 2015) over channels-first frames x (B, T, C, *S) with 1
    to 3 spatial axes. hx = (h0, c0), each (B, F, *P) or None (zeros), or None.

    a = conv(x_t, w_x; strides, padding, dilation) + b + conv(h_{t-1}, w_h; stride 1, 'same');
    i, f, o = recurrent_activation(a_{i,f,o}), g = activation(a_g), c_t = f*c_{t-1} + i*g,
    h_t = o*activation(c_t). w_x (4F, C, *k), w_h (4F, F, *k), b (4F,): the conv kernels'
    layout, gate blocks i, f, g, o (Keras's i, f, c, o). ``padding``: 'valid', 'same' (Keras's
    split) or ints, as F.conv2d. Masks, ``reverse`` and ``h_mask`` (B, F, *P) as for F.lstm.
    Returns out (B, T, F, *P), (h_n, c_n). The time loop and BPTT run in native code
    ([Note: ConvLSTM plan] in csrc/conv_lstm.h)."""
    h0, c0 = (None, None) if hx is None else hx
    opts = _options(
        lengths,
        mask,
        zero_output,
        reverse,
        h_mask,
        **_gated(activation, recurrent_activation, hard_sigmoid),
    )
    out, h_n, c_n = _ConvLstm.apply(x, h0, c0, w_x, w_h, b, (strides, padding, dilation), opts)
    return out, (h_n, c_n)
