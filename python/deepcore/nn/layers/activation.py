"""Activations by Keras name, and the activation layers (Activation, ReLU, LeakyReLU, ELU,
Softmax, PReLU).

``get_activation("relu")`` returns a callable on Tensors backed by ``deepcore.nn.functional``
(fused native kernels); ``serialize_activation`` turns it back into its name so layer configs
stay JSON. Names follow Keras 3: 'leaky_relu' has slope 0.2, 'hard_sigmoid' is
relu6(x + 3) / 6 (Keras 2's was clip(0.2x + 0.5)), 'swish' == 'silu' is x·σ(x), 'selu' uses
Klambauer et al.'s constants. 'gelu' is the exact x·Φ(x) (PyTorch's and tf.keras 2's default;
Keras 3 defaults to the tanh approximation: pass ``lambda x: F.gelu(x, approximate="tanh")``
or use ``F.gelu`` directly for that).
"""

from __future__ import annotations

from typing import Any, Callable

from ...tensor import Tensor
from .. import functional as F
from .. import initializers, regularizers
from ..module import InputSpec, Module

__all__ = [
    "get_activation",
    "serialize_activation",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "PReLU",
]


def _F(name: str) -> Callable:
    fn = getattr(F, name, None)
    if fn is None:
        raise NotImplementedError(f"deepcore.nn.functional.{name} is not available in this build")
    return fn


def _linear(x: Tensor) -> Tensor:
    return x


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _selu(x: Tensor) -> Tensor:
    selu = getattr(F, "selu", None)
    if selu is not None:
        return selu(x)
    return _F("elu")(x, _SELU_ALPHA) * _SELU_SCALE


# name -> builder of the callable. Looked up in F at call time so the table does not depend on
# import order of the functional modules.
_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": _linear,
    "relu": lambda x: _F("relu")(x),
    "sigmoid": lambda x: _F("sigmoid")(x),
    "tanh": lambda x: _F("tanh")(x),
    "softmax": lambda x: _F("softmax")(x, axis=-1),
    "log_softmax": lambda x: _F("log_softmax")(x, axis=-1),
    "elu": lambda x: _F("elu")(x),
    "selu": _selu,
    "softplus": lambda x: _F("softplus")(x),
    "swish": lambda x: _F("swish")(x),
    "gelu": lambda x: _F("gelu")(x),
    "leaky_relu": lambda x: _F("leaky_relu")(x, 0.2),
    "hard_sigmoid": lambda x: _F("hard_sigmoid")(x, 1.0 / 6.0, 0.5),
}
_ALIASES = {"silu": "swish", "logistic": "sigmoid", None: "linear"}
for _name, _fn in _ACTIVATIONS.items():
    _fn.__name__ = _name


def get_activation(identifier: str | Callable | None) -> Callable[[Tensor], Tensor]:
    """A name ('relu'), None (linear) or a callable on Tensors."""
    if identifier is None or isinstance(identifier, str):
        key = _ALIASES.get(identifier, identifier)
        if key not in _ACTIVATIONS:
            raise ValueError(
                f"unknown activation {identifier!r}; known: {', '.join(sorted(_ACTIVATIONS))}"
            )
        return _ACTIVATIONS[key]
    if isinstance(identifier, dict):  # Keras-style {"class_name": ..., "config": ...}
        return get_activation(identifier.get("config", {}).get("name", identifier.get("name")))
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a callable, got {identifier!r}")


def serialize_activation(fn: Callable | None) -> str:
    """The name of a built-in activation (or of an F function with the same name)."""
    if fn is None:
        return "linear"
    for name, f in _ACTIVATIONS.items():
        if f is fn:
            return name
    name = getattr(fn, "__name__", None)
    if name in _ACTIVATIONS and getattr(F, name, None) is fn:
        return name
    raise ValueError(
        f"cannot serialise activation {fn!r}: pass one of {sorted(_ACTIVATIONS)} by name "
        "(or override get_config)"
    )


class Activation(Module):
    """Applies an activation function: ``Activation("relu")``."""

    supports_masking = True  # the mask passes on (see [Note: masking])

    _layout_elementwise = True  # see layers/layout.py

    def __init__(self, activation: str | Callable, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = get_activation(activation)
        if activation in ("softmax", "log_softmax"):
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
            y = _F("leaky_relu")(x, self.negative_slope)
        else:
            y = _F("relu")(x)
        if self.max_value is not None:  # min(y, m) = y - relu(y - m)
            y = y - _F("relu")(y - self.max_value)
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
        return _F("leaky_relu")(x, self.negative_slope)

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
        return _F("elu")(x, self.alpha)

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
        return _F("softmax")(x, axis=self.axis)

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
        if len(chan) <= 1 and hasattr(F, "prelu"):  # one slope per channel: the fused kernel
            axis = 1 + (chan[0] if chan else len(shape) - 1)
            return F.prelu(x, self.alpha.reshape(-1), axis=axis)
        relu = _F("relu")
        return relu(x) - self.alpha * relu(-x)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "shared_axes": self.shared_axes,
        }
