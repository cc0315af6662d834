"""Keras's Xception (keras.applications.xception): an entry flow of strided separable blocks
with 1×1 projected shortcuts, eight middle blocks of three 728-channel separable convolutions
with identity shortcuts, and the exit flow; Keras's layer names and its 22,910,480 parameters
with the top (20,861,480 without). Default image size 299."""

from __future__ import annotations

from typing import Any

from .. import nn
from ._common import constructor

__all__ = ["Xception"]


def _sep_bn(x: Any, filters: int, name: str) -> Any:
    x = nn.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    return nn.BatchNormalization(name=name + "_bn")(x)


def _down_block(x: Any, filters: tuple[int, int], block: int, act_first: bool) -> Any:
    """Two separable convolutions and a strided max pool, plus a strided 1×1 projection."""
    residual = nn.Conv2D(filters[1], 1, strides=2, padding="same", use_bias=False)(x)
    residual = nn.BatchNormalization()(residual)
    if act_first:
        x = nn.Activation("relu", name=f"block{block}_sepconv1_act")(x)
    x = _sep_bn(x, filters[0], f"block{block}_sepconv1")
    x = nn.Activation("relu", name=f"block{block}_sepconv2_act")(x)
    x = _sep_bn(x, filters[1], f"block{block}_sepconv2")
    x = nn.MaxPooling2D(3, strides=2, padding="same", name=f"block{block}_pool")(x)
    return nn.add([x, residual])


def _features(x: Any) -> Any:
    for i, f in enumerate((32, 64), 1):
        x = nn.Conv2D(f, 3, strides=2 if i == 1 else 1, use_bias=False,
                      name=f"block1_conv{i}")(x)  # fmt: skip
        x = nn.BatchNormalization(name=f"block1_conv{i}_bn")(x)
        x = nn.Activation("relu", name=f"block1_conv{i}_act")(x)
    x = _down_block(x, (128, 128), 2, act_first=False)
    x = _down_block(x, (256, 256), 3, act_first=True)
    x = _down_block(x, (728, 728), 4, act_first=True)
    for b in range(5, 13):
        residual = x
        for j in (1, 2, 3):
            x = nn.Activation("relu", name=f"block{b}_sepconv{j}_act")(x)
            x = _sep_bn(x, 728, f"block{b}_sepconv{j}")
        x = nn.add([x, residual])
    x = _down_block(x, (728, 1024), 13, act_first=True)
    for j, f in ((1, 1536), (2, 2048)):
        x = _sep_bn(x, f, f"block14_sepconv{j}")
        x = nn.Activation("relu", name=f"block14_sepconv{j}_act")(x)
    return x


Xception = constructor(
    "Xception", "xception", _features,
    "Keras's Xception: 22,910,480 parameters with the top, 20,861,480 without.", size=299,
)  # fmt: skip
