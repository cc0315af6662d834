"""The activation layers (Activation, ReLU, LeakyReLU, ELU, Softmax, PReLU).

Activations by name come from the one table in ``deepcore.nn.functional`` (``get_activation``,
``serialize_activation``; names and defaults as described in
[Note: activation names and defaults] there), re-exported here as Keras's
``keras.activations.get`` / ``serialize``.
"""

from __future__ import annotations

from typing import Any, Callable

from ...tensor import Tensor
from .. import functional as F
from .. import initializers, regularizers
from ..functional import activation_name, get_activation, serialize_activation
from ..module import InputSpec, Module

__all__ = [
    "get_activation",
    "serialize_activation",
    "activation_name",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "PReLU",
]


class Activation(Module):
    """Applies an activation function: ``Activation("relu")``."""

    supports_masking = True  # the mask passes on (see [Note: masking])

    _layout_elementwise = True  # see layers/layout.py

    def __init__(self, activation: str | Callable, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = get_activation(activation)
        if activation_name(self.activation) in ("softmax", "log_softmax"):
            self._layout_elementwise = False  # works along the last axis

    def call(self, x: Tensor) -> Tensor:
        return self.activation(x)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": serialize_activation(self.activation)}


class ReLU(Module):
    """max(x, 0); Keras's ``ReLU(max_value, negative_slope)`` clipped / leaky forms too."""

    supports_masking = True  # the mask passes on (see [Note: masking])

    _layout_elementwise = True

    def __init__(
        self, max_value: float | None = None, negative_slope: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU: max_value must be >= 0, got {max_value}")
        if negative_slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0, got {negative_slope}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)

    def call(self, x: Tensor) -> Tensor:
        if self.negative_slope:
            y = F.leaky_relu(x, self.negative_slope)
        else:
            y = F.relu(x)
        if self.max_value is not None:  # min(y, m) = y - relu(y - m)
            y = y - F.relu(y - self.max_value)
        return y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
        }


class LeakyReLU(Module):
    """x if x > 0 else negative_slope·x (Keras 3 default slope 0.3; ``alpha`` is Keras 2's)."""

    supports_masking = True  # the mask passes on (see [Note: masking])

    _layout_elementwise = True

    def __init__(self, negative_slope: float = 0.3, alpha: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope if alpha is None else alpha)

    def call(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Module):
    supports_masking = True  # the mask passes on (see [Note: masking])
    _layout_elementwise = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Module):
    supports_masking = True  # the mask passes on (see [Note: masking])

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, x: Tensor) -> Tensor:
        return F.softmax(x, axis=self.axis)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class PReLU(Module):
    """x if x > 0 else α·x with a learnable α (He et al. 2015), Keras's arguments.

    α has the input's shape without the batch dim, except along ``shared_axes`` (1-based, as
    Keras) where it is shared: ``PReLU(shared_axes=[1, 2])`` on (N, H, W, C) images gives one
    slope per channel — the paper's channel-wise PReLU.
    """

    supports_masking = True  # the mask passes on (see [Note: masking])

    def __init__(
        self,
        alpha_initializer: Any = "zeros",
        alpha_regularizer: Any = None,
        shared_axes: int | list | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if shared_axes is None:
            self.shared_axes: list[int] | None = None
        elif isinstance(shared_axes, int):
            self.shared_axes = [shared_axes]
        else:
            self.shared_axes = [int(a) for a in shared_axes]

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) < 2:
            raise ValueError(f"PReLU '{self.name}' needs inputs of rank >= 2, got {input_shape}")
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            if not 1 <= a < len(input_shape):
                raise ValueError(
                    f"PReLU '{self.name}': shared axis {a} out of range for input {input_shape}"
                )
            shape[a - 1] = 1
        if any(s is None for s in shape):
            raise ValueError(f"PReLU '{self.name}': unknown size in {input_shape}; share that axis")
        self.alpha = self.add_weight(
            "alpha", shape, self.alpha_initializer, regularizer=self.alpha_regularizer
        )
        axes = {i + 1: s for i, s in enumerate(shape) if s != 1}
        self.input_spec = InputSpec(ndim=len(input_shape), axes=axes)

    def call(self, x: Tensor) -> Tensor:
        shape = self.alpha.shape
        chan = [i for i, s in enumerate(shape) if s != 1]
        if len(chan) <= 1:  # one slope per channel: the fused kernel
            axis = 1 + (chan[0] if chan else len(shape) - 1)
            return F.prelu(x, self.alpha.reshape(-1), axis=axis)
        return F.relu(x) - self.alpha * F.relu(-x)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "shared_axes": self.shared_axes,
        }
