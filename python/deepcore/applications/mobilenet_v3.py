"""Keras's MobileNetV3Small / MobileNetV3Large (keras.applications.mobilenet_v3, Howard et al.
2019): inverted residual blocks with optional squeeze-and-excitation (hard sigmoid gate) and
ReLU or hard swish, the input rescaled to [-1, 1] in the model (``include_preprocessing``),
``minimalistic`` (3×3 kernels, ReLU, no SE), Keras's layer names and parameter counts
(2,554,968 / 5,507,432 with the top at alpha 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from .. import nn
from ._common import build
from .mobilenet import _correct_pad, _divisible, _positive

__all__ = ["MobileNetV3Small", "MobileNetV3Large"]

_BN = dict(epsilon=1e-3, momentum=0.999)


def _relu(x: Any) -> Any:
    return nn.ReLU()(x)


def _hard_swish(x: Any) -> Any:
    return nn.Activation("hard_swish")(x)


def _hard_sigmoid(x: Any) -> Any:
    return nn.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _se(x: Any, filters: int, ratio: float, prefix: str) -> Any:
    s = nn.GlobalAveragePooling2D(keepdims=True, name=prefix + "squeeze_excite_avg_pool")(x)
    s = nn.Conv2D(_divisible(filters * ratio), 1, padding="same",
                  name=prefix + "squeeze_excite_conv")(s)  # fmt: skip
    s = nn.ReLU(name=prefix + "squeeze_excite_relu")(s)
    s = nn.Conv2D(filters, 1, padding="same", name=prefix + "squeeze_excite_conv_1")(s)
    return nn.Multiply(name=prefix + "squeeze_excite_mul")([x, _hard_sigmoid(s)])


def _block(x: Any, expansion: float, filters: int, kernel: int, stride: int, se: float | None,
           act: Callable[[Any], Any], i: int) -> Any:  # fmt: skip
    """Keras's ``_inverted_res_block`` of MobileNetV3."""
    shortcut, channels = x, x.shape[-1]
    prefix = f"expanded_conv_{i}_" if i else "expanded_conv_"
    if i:
        x = nn.Conv2D(_divisible(channels * expansion), 1, padding="same", use_bias=False,
                      name=prefix + "expand")(x)  # fmt: skip
        x = act(nn.BatchNormalization(**_BN, name=prefix + "expand_bn")(x))
    if stride == 2:
        x = nn.ZeroPadding2D(_correct_pad(x, kernel), name=prefix + "depthwise_pad")(x)
    x = nn.DepthwiseConv2D(kernel, strides=stride, padding="same" if stride == 1 else "valid",
                           use_bias=False, name=prefix + "depthwise")(x)  # fmt: skip
    x = act(nn.BatchNormalization(**_BN, name=prefix + "depthwise_bn")(x))
    if se:
        x = _se(x, _divisible(channels * expansion), se, prefix)
    x = nn.Conv2D(filters, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = nn.BatchNormalization(**_BN, name=prefix + "project_bn")(x)
    if stride == 1 and channels == filters:
        x = nn.Add(name=prefix + "add")([shortcut, x])
    return x


# (expansion, filters, kernel ("k": the model's), stride, squeeze-excite, activation ("a": the
# model's, "r": ReLU)) of each block
_SMALL = [
    (1, 16, 3, 2, True, "r"), (72 / 16, 24, 3, 2, False, "r"), (88 / 24, 24, 3, 1, False, "r"),
    (4, 40, "k", 2, True, "a"), (6, 40, "k", 1, True, "a"), (6, 40, "k", 1, True, "a"),
    (3, 48, "k", 1, True, "a"), (3, 48, "k", 1, True, "a"), (6, 96, "k", 2, True, "a"),
    (6, 96, "k", 1, True, "a"), (6, 96, "k", 1, True, "a"),
]  # fmt: skip
_LARGE = [
    (1, 16, 3, 1, False, "r"), (4, 24, 3, 2, False, "r"), (3, 24, 3, 1, False, "r"),
    (3, 40, "k", 2, True, "r"), (3, 40, "k", 1, True, "r"), (3, 40, "k", 1, True, "r"),
    (6, 80, 3, 2, False, "a"), (2.5, 80, 3, 1, False, "a"), (2.3, 80, 3, 1, False, "a"),
    (2.3, 80, 3, 1, False, "a"), (6, 112, 3, 1, True, "a"), (6, 112, 3, 1, True, "a"),
    (6, 160, "k", 2, True, "a"), (6, 160, "k", 1, True, "a"), (6, 160, "k", 1, True, "a"),
]  # fmt: skip


def _v3(model_name: str, blocks: list, last_point: int, input_shape: Any, alpha: float,
        minimalistic: bool, include_top: bool, weights: str | None, input_tensor: Any,
        classes: int, pooling: str | None, dropout_rate: float, classifier_activation: Any,
        include_preprocessing: bool, name: str | None) -> Any:  # fmt: skip
    alpha = _positive(model_name, "alpha", alpha)
    kernel, act, se = (3, _relu, None) if minimalistic else (5, _hard_swish, 0.25)
    if alpha > 1.0:
        last_point = _divisible(last_point * alpha)

    def features(x: Any) -> Any:
        if include_preprocessing:
            x = nn.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
        x = nn.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="conv")(x)
        x = act(nn.BatchNormalization(**_BN, name="conv_bn")(x))
        for i, (e, f, k, s, has_se, a) in enumerate(blocks):
            x = _block(x, e, _divisible(f * alpha), kernel if k == "k" else k, s,
                       se if has_se else None, act if a == "a" else _relu, i)  # fmt: skip
        x = nn.Conv2D(_divisible(x.shape[-1] * 6), 1, padding="same", use_bias=False,
                      name="conv_1")(x)  # fmt: skip
        return act(nn.BatchNormalization(**_BN, name="conv_1_bn")(x))

    def top(x: Any, classes: int, activation: Any) -> Any:
        x = nn.GlobalAveragePooling2D(keepdims=True)(x)
        x = act(nn.Conv2D(last_point, 1, padding="same", name="conv_2")(x))
        if dropout_rate > 0:
            x = nn.Dropout(dropout_rate)(x)
        x = nn.Conv2D(classes, 1, padding="same", name="logits")(x)
        return nn.Activation(activation, name="predictions")(nn.Flatten()(x))

    return build(model_name, features, top, include_top, weights, input_tensor, input_shape,
                 pooling, classes, classifier_activation,
                 name or model_name)  # fmt: skip


def _constructor(model_name: str, blocks: list, last_point: int, doc: str) -> Any:
    """A MobileNetV3 constructor with Keras's signature (input_shape first, as Keras)."""

    def make(
        input_shape: Sequence[int | None] | None = None,
        alpha: float = 1.0,
        minimalistic: bool = False,
        include_top: bool = True,
        weights: str | None = None,
        input_tensor: Any = None,
        classes: int = 1000,
        pooling: str | None = None,
        dropout_rate: float = 0.2,
        classifier_activation: Any = "softmax",
        include_preprocessing: bool = True,
        name: str | None = None,
    ) -> Any:
        return _v3(model_name, blocks, last_point, input_shape, alpha, minimalistic,
                   include_top, weights, input_tensor, classes, pooling, dropout_rate,
                   classifier_activation, include_preprocessing, name)  # fmt: skip

    make.__name__ = make.__qualname__ = model_name
    make.__doc__ = doc
    return make


MobileNetV3Small = _constructor(
    "MobileNetV3Small", _SMALL, 1024,
    "Keras's MobileNetV3Small: 2,554,968 parameters with the top at alpha 1.",
)  # fmt: skip
MobileNetV3Large = _constructor(
    "MobileNetV3Large", _LARGE, 1280,
    "Keras's MobileNetV3Large: 5,507,432 parameters with the top at alpha 1.",
)  # fmt: skip
