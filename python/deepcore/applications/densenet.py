"""Keras's DenseNet121 / 169 / 201 (keras.applications.densenet): dense blocks of
BN-ReLU-1×1-BN-ReLU-3×3 layers (growth rate 32) whose outputs are concatenated, transition
layers halving the channels and the image, Keras's layer names, and its parameter counts
(8,062,504 / 14,307,880 / 20,242,984 with the top)."""

from __future__ import annotations

from typing import Any

from .. import nn
from ._common import constructor

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201"]

_EPS = 1.001e-5
_BLOCKS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}


def _bn_relu(x: Any, name: str) -> Any:
    x = nn.BatchNormalization(epsilon=_EPS, name=name + "_bn")(x)
    return nn.Activation("relu", name=name + "_relu")(x)


def _conv_block(x: Any, growth: int, name: str) -> Any:
    y = nn.Conv2D(4 * growth, 1, use_bias=False, name=name + "_1_conv")(_bn_relu(x, name + "_0"))
    y = _bn_relu(y, name + "_1")
    y = nn.Conv2D(growth, 3, padding="same", use_bias=False, name=name + "_2_conv")(y)
    return nn.Concatenate(axis=-1, name=name + "_concat")([x, y])


def _transition(x: Any, name: str) -> Any:
    x = _bn_relu(x, name)
    x = nn.Conv2D(x.shape[-1] // 2, 1, use_bias=False, name=name + "_conv")(x)
    return nn.AveragePooling2D(2, strides=2, name=name + "_pool")(x)


def _features(depth: int) -> Any:
    def features(x: Any) -> Any:
        x = nn.ZeroPadding2D(((3, 3), (3, 3)))(x)
        x = nn.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
        x = _bn_relu(x, "conv1")
        x = nn.ZeroPadding2D(((1, 1), (1, 1)))(x)
        x = nn.MaxPooling2D(3, strides=2, name="pool1")(x)
        blocks = _BLOCKS[depth]
        for stage, n in enumerate(blocks):
            for i in range(n):
                x = _conv_block(x, 32, f"conv{stage + 2}_block{i + 1}")
            if stage < len(blocks) - 1:
                x = _transition(x, f"pool{stage + 2}")
        x = nn.BatchNormalization(epsilon=_EPS, name="bn")(x)
        return nn.Activation("relu", name="relu")(x)

    return features


DenseNet121 = constructor(
    "DenseNet121", "densenet121", _features(121),
    "Keras's DenseNet121: 8,062,504 parameters with the top, 7,037,504 without.",
)  # fmt: skip
DenseNet169 = constructor(
    "DenseNet169", "densenet169", _features(169),
    "Keras's DenseNet169: 14,307,880 parameters with the top.",
)  # fmt: skip
DenseNet201 = constructor(
    "DenseNet201", "densenet201", _features(201),
    "Keras's DenseNet201: 20,242,984 parameters with the top.",
)  # fmt: skip
