"""ConvLSTM1D, ConvLSTM2D, ConvLSTM3D: Keras 3's convolutional LSTM layers (Shi et al. 2015).

Inputs (batch, time, *spatial, channels) (``data_format="channels_last"``, the default) or
(batch, time, channels, *spatial); the gates are i, f, c, o as Keras's:
``a = conv(x_t, kernel; strides, padding, dilation_rate) + bias + conv(h_{t-1},
recurrent_kernel; stride 1, 'same')``, ``c_t = f*c_{t-1} + i*activation(a_c)``, ``h_t =
o*activation(c_t)``. The whole sequence is one native call, ``F.conv_lstm`` (the time loop and
backpropagation through time in C++, [Note: ConvLSTM plan] in csrc/conv_lstm.h), so the
activations must be ones the kernel fuses (tanh, sigmoid, relu, hard_sigmoid, linear).

Weights (see [Note: Keras weight layouts] in nn/state.py): stored in the conv kernels' layout,
``kernel (4*filters, channels, *kernel_size)``, ``recurrent_kernel (4*filters, filters,
*kernel_size)``, ``bias (4*filters,)``; ``get_weights`` / ``set_weights`` show Keras's
``(*kernel_size, channels, 4*filters)`` and ``(*kernel_size, filters, 4*filters)``. The
recurrent kernel's default "orthogonal" initialiser is drawn as Keras draws it, on the
(prod(kernel_size)*filters, 4*filters) matrix.

The recurrent arguments mean what they mean for LSTM ([Note: recurrent layers] in
recurrent.py): masks, ``go_backwards`` (outputs in processing order), ``stateful`` with
``reset_states()``, ``initial_state=[h, c]`` (each (batch, *output_spatial, filters) in the
layer's data_format), ``dropout`` (one mask per sequence over the input frame) and
``recurrent_dropout`` (one mask per sequence over the state). Keras's constraint and
activity-regularizer arguments are accepted as None only: deepcore has neither.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from ..._checks import is_int, positive_int, unit_rate
from ...tensor import Tensor
from .. import functional as F
from .. import initializers, regularizers
from ..module import InputSpec, Module
from ..serialization import _unique_name
from .activation import activation_name, get_activation, serialize_activation
from .conv import _tuple, conv_output_length
from .recurrent import _StatesAsInputs
from .recurrent_cells import _FUSED, _HARD_SIGMOID, _data, _dropout_mask, forget_bias_init
from .reshaping import _data_format

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]


def _orthogonal_as_keras(init: Any, rank: int) -> Any:
    """The recurrent kernel's initialiser for the stored (4F, F, *k) layout: Orthogonal drawn on
    Keras's flattened (prod(k)*F, 4F) matrix and moved into place; others unchanged (the fans
    of [Note: fans by weight layout] already match Keras's)."""
    if not isinstance(init, initializers.Orthogonal):
        return init

    def draw(shape: tuple, dtype: Any = "float32") -> np.ndarray:
        n4, f, *k = shape
        flat = np.asarray(init((math.prod(k) * f, n4), dtype))
        keras = flat.reshape(*k, f, n4)  # (*k, F, 4F)
        return np.ascontiguousarray(keras.transpose(rank + 1, rank, *range(rank)))

    return draw


class _ConvLSTM(_StatesAsInputs, Module):
    """What ConvLSTM1D/2D/3D share; ``_rank`` spatial axes."""

    _rank = 2
    supports_masking = True

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: str | Callable | None = "tanh",
        recurrent_activation: str | Callable | None = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("name") is None:  # Keras 3's name (our snake case splits "LST_M")
            kwargs["name"] = _unique_name(f"conv_lstm{self._rank}d")
        super().__init__(**kwargs)
        cls, n = type(self).__name__, self._rank
        for arg, v in (
            ("activity_regularizer", activity_regularizer),
            ("kernel_constraint", kernel_constraint),
            ("recurrent_constraint", recurrent_constraint),
            ("bias_constraint", bias_constraint),
        ):
            if v is not None:
                raise ValueError(f"{cls}: {arg} is not supported by deepcore (give None)")
        self.filters = positive_int(f"{cls}: filters", filters)
        self.kernel_size = _tuple(cls, "kernel_size", kernel_size, n)
        self.strides = _tuple(cls, "strides", strides, n)
        self.dilation_rate = _tuple(cls, "dilation_rate", dilation_rate, n)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{cls}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()
        self.data_format = _data_format(cls, data_format)
        self.activation = get_activation(activation)
        self.recurrent_activation = get_activation(recurrent_activation)
        for arg, fn in (("activation", activation), ("recurrent_activation", recurrent_activation)):
            name = activation_name(get_activation(fn))
            if name not in _FUSED:
                raise ValueError(
                    f"{cls}: {arg} must be one of {sorted(_FUSED)} (the activations the native "
                    f"kernel fuses), got {fn!r}"
                )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = unit_rate(f"{cls}: dropout", dropout)
        self.recurrent_dropout = unit_rate(f"{cls}: recurrent_dropout", recurrent_dropout)
        if seed is not None and not is_int(seed):
            raise TypeError(f"{cls}: seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._rng = None if seed is None else np.random.default_rng(self.seed)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted, ignored: the native loop runs either way
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._states: list[Tensor] | None = None  # stateful: (B, F, *P) each, channels-first
        perm = (*range(2, n + 2), 1, 0)  # stored (4F, C, *k) -> Keras (*k, C, 4F)
        self._keras_layouts = {"kernel": perm, "recurrent_kernel": perm}

    # ------------------------------------------------------------------ shapes
    def _frame(self, shape: Sequence) -> tuple[Any, tuple]:
        """(channels, spatial) of an input shape (batch, time, ...)."""
        if self.data_format == "channels_last":
            return shape[-1], tuple(shape[2:-1])
        return shape[2], tuple(shape[3:])

    def _out_spatial(self, spatial: Sequence) -> tuple:
        return tuple(
            conv_output_length(n, k, self.padding, s, d)
            for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        )

    def _state_shape(self, batch: Any, spatial: Sequence) -> tuple:
        if self.data_format == "channels_last":
            return (batch, *spatial, self.filters)
        return (batch, self.filters, *spatial)

    def build(self, input_shape: Any) -> None:
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        cls, nd = type(self).__name__, self._rank + 3
        if shape is None or len(shape) != nd:
            raise ValueError(
                f"{cls} '{self.name}' needs inputs of rank {nd} (batch, time, "
                f"{'*spatial, channels' if self.data_format == 'channels_last' else 'channels, *spatial'}"  # noqa: E501
                f"), got {None if shape is None else tuple(shape)}"
            )
        c, _ = self._frame(shape)
        if c is None:
            raise ValueError(f"{cls} '{self.name}': the channel dimension must be known")
        c, f, k = int(c), self.filters, self.kernel_size
        self.kernel = self.add_weight(
            "kernel", (4 * f, c, *k), self.kernel_initializer, regularizer=self.kernel_regularizer
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (4 * f, f, *k),
            _orthogonal_as_keras(self.recurrent_initializer, self._rank),
            regularizer=self.recurrent_regularizer,
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            init = self.bias_initializer
            if self.unit_forget_bias:
                init = forget_bias_init(init, f)
            self.bias = self.add_weight("bias", (4 * f,), init, regularizer=self.bias_regularizer)
        axis = -1 if self.data_format == "channels_last" else 2
        self.input_spec = InputSpec(ndim=nd, axes={axis: c})

    def _check_input(self, x: Any) -> None:
        super()._check_input(x[0] if isinstance(x, list) else x)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        state = self._state_shape(shape[0], self._out_spatial(self._frame(shape)[1]))
        out = (state[0], shape[1], *state[1:]) if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out, None, None] if self.return_state else out

    # ------------------------------------------------------------------ layouts
    def _first(self, x: Tensor, lead: int) -> Tensor:
        """(lead axes, *spatial, C) -> (lead axes, C, *spatial) when channels_last."""
        if self.data_format != "channels_last":
            return x
        nd = x.ndim
        return x.permute(*range(lead), nd - 1, *range(lead, nd - 1))

    def _last(self, x: Tensor, lead: int) -> Tensor:
        """The inverse of _first."""
        if self.data_format != "channels_last":
            return x
        nd = x.ndim
        return x.permute(*range(lead), *range(lead + 1, nd), lead)

    # ------------------------------------------------------------------ states
    def reset_states(self, states: Any = None) -> None:
        """Stateful layers: zero the kept states, or set them to ``states`` ([h, c] in the
        layer's data_format)."""
        if not self.stateful:
            raise AttributeError(f"layer '{self.name}' is not stateful")
        if states is None:
            self._states = None
            return
        states = states if isinstance(states, (list, tuple)) else [states]
        self._states = [
            self._first(Tensor(np.asarray(_data(s), self._np_dtype)), 1) for s in states
        ]

    @property
    def states(self) -> list[Tensor] | None:
        """The kept states (stateful), in the layer's data_format."""
        return None if self._states is None else [self._last(s, 1) for s in self._states]

    def _initial_states(self, batch: int, spatial: tuple, initial_state: Any) -> list:
        """[h0, c0] channels-first (B, F, *P), or [None, None] (zeros)."""
        want = (batch, self.filters, *spatial)
        if initial_state is None and self.stateful and self._states is not None:
            if self._states[0].shape != want:
                raise ValueError(
                    f"stateful layer '{self.name}' kept states of shape "
                    f"{self._last(self._states[0], 1).shape}, this batch needs "
                    f"{self._state_shape(batch, spatial)}"
                )
            return list(self._states)
        if initial_state is None:
            return [None, None]
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else []
        if len(states) != 2:
            raise ValueError(
                f"layer '{self.name}' has 2 states (h, c); initial_state must be [h, c]"
            )
        out = []
        for s in states:
            s = s if isinstance(s, Tensor) else Tensor(np.asarray(s, self._np_dtype))
            if s.shape != self._state_shape(batch, spatial):
                raise ValueError(
                    f"layer '{self.name}': initial state of shape {s.shape}, expected "
                    f"{self._state_shape(batch, spatial)}"
                )
            out.append(self._first(s, 1))
        return out

    def _mask(self, shape: tuple, rate: float) -> Tensor:
        if self._rng is None:
            return _dropout_mask(shape, rate, self._np_dtype)
        keep = self._rng.random(shape) >= rate
        return Tensor((keep / (1.0 - rate)).astype(self._np_dtype))

    # ------------------------------------------------------------------ call
    def call(
        self,
        inputs: Any,
        mask: Any = None,
        training: bool | None = None,
        initial_state: Any = None,
    ) -> Any:
        if isinstance(inputs, (list, tuple)):  # [x, h, c] (see _StatesAsInputs)
            inputs, initial_state = inputs[0], list(inputs[1:]) or initial_state
        x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
        if x.dtype.kind != "f":
            x = Tensor(x.data.astype(self._np_dtype))
        if x.ndim != self._rank + 3:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs inputs of rank {self._rank + 3} "
                f"(batch, time, ...), got shape {x.shape}"
            )
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        x = self._first(x, 2)  # (B, T, C, *S)
        B = x.shape[0]
        spatial = self._out_spatial(x.shape[3:])
        h0, c0 = self._initial_states(B, spatial, initial_state)
        if training and self.dropout > 0:  # one mask per sequence, over the input frame
            x = x * self._mask((B, 1, *x.shape[2:]), self.dropout)
        h_mask = None
        if training and self.recurrent_dropout > 0:
            h_mask = self._mask((B, self.filters, *spatial), self.recurrent_dropout).data
        out, (h, c) = F.conv_lstm(
            x, (h0, c0), self.kernel, self.recurrent_kernel, self.bias,
            strides=self.strides, padding=self.padding, dilation=self.dilation_rate,
            activation=_FUSED[activation_name(self.activation)],
            recurrent_activation=_FUSED[activation_name(self.recurrent_activation)],
            hard_sigmoid=_HARD_SIGMOID, mask=None if mask is None else _data(mask),
            zero_output=self.zero_output_for_mask, reverse=self.go_backwards, h_mask=h_mask,
        )  # fmt: skip
        if self.stateful:
            self._states = [h.detach(), c.detach()]
        # Keras's outputs are in processing order; ours stay at their time positions
        if self.return_sequences:
            y = self._last(out[:, ::-1] if self.go_backwards else out, 2)
        elif mask is not None:
            y = self._last(out[:, 0] if self.go_backwards else out[:, -1], 1)
        else:
            y = self._last(h, 1)
        if self.return_state:
            return [y, self._last(h, 1), self._last(c, 1)]
        return y

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": serialize_activation(self.activation),
            "recurrent_activation": serialize_activation(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": None,
            "kernel_constraint": None,
            "recurrent_constraint": None,
            "bias_constraint": None,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }

    def extra_repr(self) -> str:
        return (
            f"filters={self.filters}, kernel_size={self.kernel_size}, "
            f"return_sequences={self.return_sequences}"
        )


class ConvLSTM1D(_ConvLSTM):
    """1-D convolutional LSTM: inputs (batch, time, steps, channels) (Keras arguments)."""

    _rank = 1


class ConvLSTM2D(_ConvLSTM):
    """2-D convolutional LSTM: inputs (batch, time, rows, cols, channels) (Keras arguments)."""

    _rank = 2


class ConvLSTM3D(_ConvLSTM):
    """3-D convolutional LSTM: inputs (batch, time, depth, rows, cols, channels) (Keras
    arguments)."""

    _rank = 3
