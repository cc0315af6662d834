"""Keras's MobileNet (v1, keras.applications.mobilenet) and MobileNetV2
(keras.applications.mobilenet_v2): depthwise-separable convolutions with ReLU6, Keras's layer
names and parameter counts (MobileNet 4,253,864 and MobileNetV2 3,538,984 with the top at
alpha 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import nn
from .._checks import is_real
from ._common import build

__all__ = ["MobileNet", "MobileNetV2"]


def _positive(name: str, what: str, v: Any) -> float:
    if not is_real(v) or not v > 0:
        raise ValueError(f"{name}: {what} must be a positive number, got {v!r}")
    return float(v)


# ------------------------------------------------------------------------------ MobileNet v1
# (pointwise filters, stride) of the 13 depthwise-separable blocks
_V1_BLOCKS = (
    [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    + [(512, 1)] * 5
    + [
        (1024, 2),
        (1024, 1),
    ]
)


def _v1_block(x: Any, filters: int, alpha: float, multiplier: int, stride: int, i: int) -> Any:
    """Keras's ``_depthwise_conv_block``: (pad) 3×3 depthwise, BN, ReLU6, 1×1, BN, ReLU6."""
    if stride != 1:
        x = nn.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{i}")(x)
    x = nn.DepthwiseConv2D(3, padding="same" if stride == 1 else "valid",
                           depth_multiplier=multiplier, strides=stride, use_bias=False,
                           name=f"conv_dw_{i}")(x)  # fmt: skip
    x = nn.BatchNormalization(name=f"conv_dw_{i}_bn")(x)
    x = nn.ReLU(6.0, name=f"conv_dw_{i}_relu")(x)
    x = nn.Conv2D(int(filters * alpha), 1, padding="same", use_bias=False, name=f"conv_pw_{i}")(x)
    x = nn.BatchNormalization(name=f"conv_pw_{i}_bn")(x)
    return nn.ReLU(6.0, name=f"conv_pw_{i}_relu")(x)


def MobileNet(  # noqa: N802 - Keras's name
    input_shape: Sequence[int | None] | None = None,
    alpha: float = 1.0,
    depth_multiplier: int = 1,
    dropout: float = 1e-3,
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
) -> Any:
    """Keras's MobileNet (v1): 4,253,864 parameters with the top at alpha 1 (3,228,864
    without); ``alpha`` scales every layer's filters, ``depth_multiplier`` the depthwise
    convolutions' channels."""
    alpha = _positive("MobileNet", "alpha", alpha)
    if (
        isinstance(depth_multiplier, bool)
        or not isinstance(depth_multiplier, int)
        or (depth_multiplier < 1)
    ):
        raise ValueError(f"MobileNet: depth_multiplier must be a positive integer, got "
                         f"{depth_multiplier!r}")  # fmt: skip

    def features(x: Any) -> Any:
        x = nn.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False,
                      name="conv1")(x)  # fmt: skip
        x = nn.BatchNormalization(name="conv1_bn")(x)
        x = nn.ReLU(6.0, name="conv1_relu")(x)
        for i, (filters, stride) in enumerate(_V1_BLOCKS, 1):
            x = _v1_block(x, filters, alpha, depth_multiplier, stride, i)
        return x

    def top(x: Any, classes: int, activation: Any) -> Any:
        x = nn.GlobalAveragePooling2D(keepdims=True)(x)
        x = nn.Dropout(dropout, name="dropout")(x)
        x = nn.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
        x = nn.Reshape((classes,), name="reshape_2")(x)
        return nn.Activation(activation, name="predictions")(x)

    return build("MobileNet", features, top, include_top, weights, input_tensor, input_shape,
                 pooling, classes, classifier_activation,
                 name or f"mobilenet_{alpha:.2f}_{_size(input_shape)}")  # fmt: skip


def _size(input_shape: Sequence[int | None] | None) -> Any:
    return 224 if input_shape is None else input_shape[0]


# ------------------------------------------------------------------------------ MobileNetV2
def _divisible(v: float, divisor: int = 8) -> int:
    """Keras's ``_make_divisible``: ``v`` rounded to a multiple of ``divisor``, at most 10 %
    below ``v``."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


def _correct_pad(x: Any, kernel: int) -> tuple:
    """Keras's ``imagenet_utils.correct_pad``: the zero padding before a strided 'valid'
    convolution that gives 'same''s output size (one less on the top/left for even sizes)."""
    h, w = x.shape[1], x.shape[2]
    adjust = (1, 1) if h is None else (1 - h % 2, 1 - w % 2)
    c = kernel // 2
    return ((c - adjust[0], c), (c - adjust[1], c))


# (filters, stride, expansion) of the 17 inverted residual blocks
_V2_BLOCKS = (
    [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6)]
    + [(64, 1, 6)] * 3
    + [(96, 1, 6)] * 3
    + [(160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6)]
)


def _v2_block(x: Any, filters: int, alpha: float, stride: int, expansion: int, i: int) -> Any:
    """Keras's ``_inverted_res_block``: 1×1 expansion (not in block 0), 3×3 depthwise, 1×1
    linear projection, and the identity added when shapes allow."""
    bn = dict(epsilon=1e-3, momentum=0.999)
    inputs, channels = x, x.shape[-1]
    out_filters = _divisible(int(filters * alpha), 8)
    prefix = f"block_{i}_" if i else "expanded_conv_"
    if i:
        x = nn.Conv2D(expansion * channels, 1, padding="same", use_bias=False,
                      name=prefix + "expand")(x)  # fmt: skip
        x = nn.BatchNormalization(**bn, name=prefix + "expand_BN")(x)
        x = nn.ReLU(6.0, name=prefix + "expand_relu")(x)
    if stride == 2:
        x = nn.ZeroPadding2D(_correct_pad(x, 3), name=prefix + "pad")(x)
    x = nn.DepthwiseConv2D(3, strides=stride, use_bias=False,
                           padding="same" if stride == 1 else "valid",
                           name=prefix + "depthwise")(x)  # fmt: skip
    x = nn.BatchNormalization(**bn, name=prefix + "depthwise_BN")(x)
    x = nn.ReLU(6.0, name=prefix + "depthwise_relu")(x)
    x = nn.Conv2D(out_filters, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = nn.BatchNormalization(**bn, name=prefix + "project_BN")(x)
    if channels == out_filters and stride == 1:
        return nn.Add(name=prefix + "add")([inputs, x])
    return x


def MobileNetV2(  # noqa: N802 - Keras's name
    input_shape: Sequence[int | None] | None = None,
    alpha: float = 1.0,
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
) -> Any:
    """Keras's MobileNetV2: 3,538,984 parameters with the top at alpha 1 (2,257,984
    without)."""
    alpha = _positive("MobileNetV2", "alpha", alpha)
    bn = dict(epsilon=1e-3, momentum=0.999)

    def features(x: Any) -> Any:
        x = nn.Conv2D(_divisible(32 * alpha, 8), 3, strides=2, padding="same", use_bias=False,
                      name="Conv1")(x)  # fmt: skip
        x = nn.BatchNormalization(**bn, name="bn_Conv1")(x)
        x = nn.ReLU(6.0, name="Conv1_relu")(x)
        for i, (filters, stride, expansion) in enumerate(_V2_BLOCKS):
            x = _v2_block(x, filters, alpha, stride, expansion, i)
        last = _divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
        x = nn.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
        x = nn.BatchNormalization(**bn, name="Conv_1_bn")(x)
        return nn.ReLU(6.0, name="out_relu")(x)

    def top(x: Any, classes: int, activation: Any) -> Any:
        x = nn.GlobalAveragePooling2D()(x)
        return nn.Dense(classes, activation=activation, name="predictions")(x)

    return build("MobileNetV2", features, top, include_top, weights, input_tensor, input_shape,
                 pooling, classes, classifier_activation,
                 name or f"mobilenetv2_{alpha:.2f}_{_size(input_shape)}")  # fmt: skip
