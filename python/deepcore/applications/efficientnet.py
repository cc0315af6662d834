"""Keras's EfficientNetB0 ... B7 (keras.applications.efficientnet, Tan & Le 2019): the
inverted-residual MBConv blocks with squeeze-and-excitation and swish of the B0 baseline,
widths and depths scaled per model (round_filters / round_repeats), stochastic depth as
per-sample dropout before each residual add, and the input's Rescaling(1/255) +
Normalization in the model, as Keras; Keras's layer names (stem_conv, block1a_dwconv, ...,
top_conv, predictions) and initialisers."""

from __future__ import annotations

import math
from typing import Any

from .. import nn
from ..nn import initializers
from ._common import constructor
from .mobilenet import _correct_pad

__all__ = [
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
]

# (kernel, repeats, filters in, filters out, expansion, stride) of the B0 stages; every block
# has an identity skip when shapes allow and squeeze-and-excitation at ratio 0.25
_STAGES = [
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
]


def _conv_init() -> Any:
    return initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="truncated_normal")


def _block(x: Any, drop: float, name: str, f_in: int, f_out: int, kernel: int, stride: int,
           expand: int) -> Any:  # fmt: skip
    """Keras's MBConv ``block``: expansion 1×1, depthwise k×k, squeeze-and-excitation, 1×1
    projection, and the residual with stochastic depth."""
    inputs = x
    filters = f_in * expand
    if expand != 1:
        x = nn.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=_conv_init(),
                      name=name + "expand_conv")(x)  # fmt: skip
        x = nn.BatchNormalization(name=name + "expand_bn")(x)
        x = nn.Activation("swish", name=name + "expand_activation")(x)
    if stride == 2:
        x = nn.ZeroPadding2D(_correct_pad(x, kernel), name=name + "dwconv_pad")(x)
    x = nn.DepthwiseConv2D(kernel, strides=stride, padding="valid" if stride == 2 else "same",
                           use_bias=False, depthwise_initializer=_conv_init(),
                           name=name + "dwconv")(x)  # fmt: skip
    x = nn.BatchNormalization(name=name + "bn")(x)
    x = nn.Activation("swish", name=name + "activation")(x)
    se = nn.GlobalAveragePooling2D(name=name + "se_squeeze")(x)
    se = nn.Reshape((1, 1, filters), name=name + "se_reshape")(se)
    se = nn.Conv2D(max(1, int(f_in * 0.25)), 1, padding="same", activation="swish",
                   kernel_initializer=_conv_init(), name=name + "se_reduce")(se)  # fmt: skip
    se = nn.Conv2D(filters, 1, padding="same", activation="sigmoid",
                   kernel_initializer=_conv_init(), name=name + "se_expand")(se)  # fmt: skip
    x = nn.multiply([x, se], name=name + "se_excite")
    x = nn.Conv2D(f_out, 1, padding="same", use_bias=False, kernel_initializer=_conv_init(),
                  name=name + "project_conv")(x)  # fmt: skip
    x = nn.BatchNormalization(name=name + "project_bn")(x)
    if stride == 1 and f_in == f_out:
        if drop > 0:
            x = nn.Dropout(drop, noise_shape=(None, 1, 1, 1), name=name + "drop")(x)
        x = nn.add([x, inputs], name=name + "add")
    return x


def _efficientnet(width: float, depth: float, dropout: float) -> tuple[Any, Any]:
    """(features, top) of one EfficientNet."""

    def filters(n: int, divisor: int = 8) -> int:  # Keras's round_filters
        n *= width
        out = max(divisor, int(n + divisor / 2) // divisor * divisor)
        return int(out + divisor if out < 0.9 * n else out)

    def repeats(n: int) -> int:  # Keras's round_repeats
        return int(math.ceil(depth * n))

    def features(x: Any) -> Any:
        x = nn.Rescaling(1.0 / 255.0)(x)
        x = nn.Normalization(axis=-1)(x)
        x = nn.ZeroPadding2D(_correct_pad(x, 3), name="stem_conv_pad")(x)
        x = nn.Conv2D(filters(32), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=_conv_init(), name="stem_conv")(x)  # fmt: skip
        x = nn.BatchNormalization(name="stem_bn")(x)
        x = nn.Activation("swish", name="stem_activation")(x)
        total = float(sum(repeats(s[1]) for s in _STAGES))
        b = 0
        for i, (k, n, f_in, f_out, expand, stride) in enumerate(_STAGES):
            f_in, f_out = filters(f_in), filters(f_out)
            for j in range(repeats(n)):
                x = _block(x, 0.2 * b / total, f"block{i + 1}{chr(j + 97)}_",
                           f_in if j == 0 else f_out, f_out, k, stride if j == 0 else 1,
                           expand)  # fmt: skip
                b += 1
        x = nn.Conv2D(filters(1280), 1, padding="same", use_bias=False,
                      kernel_initializer=_conv_init(), name="top_conv")(x)  # fmt: skip
        x = nn.BatchNormalization(name="top_bn")(x)
        return nn.Activation("swish", name="top_activation")(x)

    def top(x: Any, classes: int, activation: Any) -> Any:
        x = nn.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout > 0:
            x = nn.Dropout(dropout, name="top_dropout")(x)
        init = initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_out",
                                            distribution="uniform")  # fmt: skip
        return nn.Dense(classes, activation=activation, kernel_initializer=init,
                        name="predictions")(x)  # fmt: skip

    return features, top


# (width, depth, default image size, top dropout) of B0 ... B7
_SCALES = [
    (1.0, 1.0, 224, 0.2),
    (1.0, 1.1, 240, 0.2),
    (1.1, 1.2, 260, 0.3),
    (1.2, 1.4, 300, 0.3),
    (1.4, 1.8, 380, 0.4),
    (1.6, 2.2, 456, 0.4),
    (1.8, 2.6, 528, 0.5),
    (2.0, 3.1, 600, 0.5),
]


def _make(i: int) -> Any:
    width, depth, size, dropout = _SCALES[i]
    features, top = _efficientnet(width, depth, dropout)
    return constructor(
        f"EfficientNetB{i}", f"efficientnetb{i}", features,
        f"Keras's EfficientNetB{i} (width x{width}, depth x{depth}, {size}x{size} images by "
        "default). The model rescales its input from [0, 255] itself (Rescaling + "
        "Normalization, whose mean and variance are 0 and 1 until set or adapted).",
        top, size,
    )  # fmt: skip


EfficientNetB0 = _make(0)
EfficientNetB1 = _make(1)
EfficientNetB2 = _make(2)
EfficientNetB3 = _make(3)
EfficientNetB4 = _make(4)
EfficientNetB5 = _make(5)
EfficientNetB6 = _make(6)
EfficientNetB7 = _make(7)
