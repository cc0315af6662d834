"""The recurrent cells with Keras's names and arguments: SimpleRNNCell, LSTMCell, GRUCell (one
time step each; ``RNN(cell)`` in recurrent.py runs them over a sequence), what they share, and
their weights in PyTorch's layout for the fused whole-sequence kernels. The weights are
Keras's: see [Note: recurrent layers] in recurrent.py.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..._checks import positive_int, unit_rate
from ...autograd import Function
from ...tensor import Tensor, get_rng
from .. import initializers, regularizers
from ..module import Module
from .activation import activation_name, get_activation, serialize_activation

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell"]

# activations the fused kernels apply (csrc/rnn.h RnnAct), by registered name
_FUSED = {"tanh": "tanh", "sigmoid": "sigmoid", "relu": "relu", "hard_sigmoid": "hard_sigmoid"}
_FUSED["linear"] = None
_HARD_SIGMOID = (1.0 / 6.0, 0.5)  # F.hard_sigmoid's defaults (Keras 3)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _dropout_mask(shape: tuple, rate: float, dtype: Any) -> Tensor:
    """One inverted-dropout mask (scaled by 1/(1-rate)), constant: no gradient flows into it."""
    keep = get_rng().random(shape) >= rate
    return Tensor((keep / (1.0 - rate)).astype(dtype))


def forget_bias_init(base: Any, n: int) -> Callable[..., np.ndarray]:
    """An LSTM's (4n,) bias initialiser with ``unit_forget_bias``: ``base``, then the forget
    gate's block (i, f, c, o order) set to 1, so the gate starts open (Jozefowicz et al. 2015)."""

    def init(shape: tuple, dtype: Any = "float32") -> np.ndarray:
        b = np.asarray(base((4 * n,), dtype))
        b[n : 2 * n] = 1.0
        return b

    return init


class _ToTorch(Function):
    """A Keras weight (..., G*units) in PyTorch's layout: gate columns reordered by ``perm``
    (or not), then transposed when ``transpose``; contiguous both ways (the optimizers take
    contiguous gradients)."""

    @staticmethod
    def forward(ctx: Any, w: np.ndarray, perm: np.ndarray | None, transpose: bool) -> np.ndarray:
        ctx.perm, ctx.transpose = perm, transpose
        out = w if perm is None else w[..., perm]
        return np.ascontiguousarray(out.T if transpose else out)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple:
        g = g.T if ctx.transpose else g
        if ctx.perm is None:
            return np.ascontiguousarray(g), None, None
        out = np.empty_like(g)
        out[..., ctx.perm] = g
        return out, None, None


# ------------------------------------------------------------------------------ cells
class _Cell(Module):
    """What the built-in cells share: Keras's weights and arguments, dropout masks per
    sequence, and ``call(inputs, states, training)`` -> (output, new_states) for one step."""

    _gates = 1
    _kind = "rnn"

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = "tanh",
        recurrent_activation: str | Callable | None = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.units = positive_int(f"{cls}: units", units)
        self.activation = get_activation(activation)
        self.recurrent_activation = get_activation(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = unit_rate(f"{cls}: dropout", dropout)
        self.recurrent_dropout = unit_rate(f"{cls}: recurrent_dropout", recurrent_dropout)
        self._dp_mask: Tensor | None = None
        self._rec_dp_mask: Tensor | None = None

    # Keras's cell interface
    @property
    def state_size(self) -> Any:
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def _n_states(self) -> int:
        return 1

    def get_initial_state(self, batch_size: int, dtype: Any = None) -> list[Tensor]:
        d = dtype or self._np_dtype  # the compute dtype ([Note: mixed precision])
        return [Tensor(np.zeros((batch_size, self.units), d)) for _ in range(self._n_states())]

    def _bias_shape(self) -> tuple:
        return (self._gates * self.units,)

    def _bias_init(self) -> Any:
        return self.bias_initializer

    def build(self, input_shape: tuple) -> None:
        if input_shape is None or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs inputs with a known feature size, got "
                f"{input_shape}"
            )
        n_in, n = int(input_shape[-1]), self._gates * self.units
        self.kernel = self.add_weight(
            "kernel", (n_in, n), self.kernel_initializer, regularizer=self.kernel_regularizer
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, n), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", self._bias_shape(), self._bias_init(), regularizer=self.bias_regularizer
            )

    # dropout: one mask per sequence (Keras's DropoutRNNCell), drawn at its first step
    def reset_dropout_mask(self) -> None:
        self._dp_mask = self._rec_dp_mask = None

    def _dropped(self, x: Tensor, h: Tensor, training: bool) -> tuple[Tensor, Tensor]:
        if training and self.dropout > 0:
            if self._dp_mask is None or self._dp_mask.shape != x.shape:
                self._dp_mask = _dropout_mask(x.shape, self.dropout, x.dtype)
            x = x * self._dp_mask
        if training and self.recurrent_dropout > 0:
            if self._rec_dp_mask is None or self._rec_dp_mask.shape != h.shape:
                self._rec_dp_mask = _dropout_mask(h.shape, self.recurrent_dropout, h.dtype)
            h = h * self._rec_dp_mask
        return x, h

    def _affine(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """(x @ kernel + input bias, h @ recurrent_kernel) for one step."""
        zx = x @ self.kernel
        if self.bias is not None:
            zx = zx + (self.bias[0] if self.bias.ndim == 2 else self.bias)
        return zx, h @ self.recurrent_kernel

    # the fused path: PyTorch-layout weights for F
    def _fusable(self) -> bool:
        names = [activation_name(self.activation), activation_name(self.recurrent_activation)]
        return type(self) in _BUILTIN_CELLS and all(n in _FUSED for n in names)

    def _torch_order(self) -> np.ndarray | None:
        """Column permutation from Keras's gate order to PyTorch's (None: the same)."""
        return None

    def _torch_weights(self) -> tuple:
        """(w_ih, w_hh, b_ih, b_hh) as Tensors in PyTorch's layout, differentiable."""
        perm = self._torch_order()
        w_ih = _ToTorch.apply(self.kernel, perm, True)
        w_hh = _ToTorch.apply(self.recurrent_kernel, perm, True)
        b = self.bias
        if b is None:
            return w_ih, w_hh, None, None
        b = _ToTorch.apply(b, perm, False)
        return (w_ih, w_hh, b[0], b[1]) if b.ndim == 2 else (w_ih, w_hh, b, None)

    def _fused_options(self) -> dict:
        opts = {"activation": _FUSED[activation_name(self.activation)]}
        if self._kind != "rnn":
            opts["recurrent_activation"] = _FUSED[activation_name(self.recurrent_activation)]
            opts["hard_sigmoid"] = _HARD_SIGMOID
        return opts

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": serialize_activation(self.activation),
            "recurrent_activation": serialize_activation(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }


class SimpleRNNCell(_Cell):
    """h_t = activation(x_t W + h_{t-1} U + b): one step of a SimpleRNN."""

    def __init__(self, units: int, activation: str | Callable | None = "tanh", **kwargs: Any):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)

    def call(self, inputs: Tensor, states: Any, training: bool | None = None) -> tuple:
        h = states[0] if isinstance(states, (list, tuple)) else states
        x, hd = self._dropped(inputs, h, bool(training))
        zx, zh = self._affine(x, hd)
        out = self.activation(zx + zh)
        return out, [out]

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("recurrent_activation")
        return cfg


class LSTMCell(_Cell):
    """One LSTM step (Keras gate order i, f, c, o): c = f*c + i*act(.), h = o*act(c)."""

    _gates = 4
    _kind = "lstm"

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def _n_states(self) -> int:
        return 2

    def _bias_init(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        return forget_bias_init(self.bias_initializer, self.units)

    def call(self, inputs: Tensor, states: Any, training: bool | None = None) -> tuple:
        h, c = states[0], states[1]
        x, hd = self._dropped(inputs, h, bool(training))
        zx, zh = self._affine(x, hd)
        z = zx + zh
        n = self.units
        ra, a = self.recurrent_activation, self.activation
        i, f, g, o = ra(z[:, :n]), ra(z[:, n : 2 * n]), a(z[:, 2 * n : 3 * n]), ra(z[:, 3 * n :])
        c = f * c + i * g
        h = o * a(c)
        return h, [h, c]

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """One GRU step (Keras gate order z, r, h): h = z*h_{t-1} + (1-z)*hh with
    hh = act(x W_h + r*(h U_h + b_rh)) (``reset_after``, the default) or act(x W_h + (r*h) U_h)."""

    _gates = 3
    _kind = "gru"

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _torch_order(self) -> np.ndarray:
        n = self.units  # PyTorch's r, z, n from Keras's z, r, h
        return np.concatenate([np.arange(n, 2 * n), np.arange(n), np.arange(2 * n, 3 * n)])

    def call(self, inputs: Tensor, states: Any, training: bool | None = None) -> tuple:
        h = states[0] if isinstance(states, (list, tuple)) else states
        x, hd = self._dropped(inputs, h, bool(training))
        n = self.units
        zx = x @ self.kernel
        if self.bias is not None:
            zx = zx + (self.bias[0] if self.reset_after else self.bias)
        ra, a = self.recurrent_activation, self.activation
        U = self.recurrent_kernel
        if self.reset_after:
            zh = hd @ U
            if self.bias is not None:
                zh = zh + self.bias[1]
            z = ra(zx[:, :n] + zh[:, :n])
            r = ra(zx[:, n : 2 * n] + zh[:, n : 2 * n])
            hh = a(zx[:, 2 * n :] + r * zh[:, 2 * n :])
        else:
            zh = hd @ U[:, : 2 * n]
            z = ra(zx[:, :n] + zh[:, :n])
            r = ra(zx[:, n : 2 * n] + zh[:, n:])
            hh = a(zx[:, 2 * n :] + (r * hd) @ U[:, 2 * n :])
        out = z * h + (1 - z) * hh
        return out, [out]

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": self.reset_after}


_BUILTIN_CELLS = (SimpleRNNCell, LSTMCell, GRUCell)
