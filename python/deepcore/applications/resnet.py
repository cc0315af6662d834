"""Keras's ResNet v1 (keras.applications.resnet): the stride on the first 1×1 conv of a
stage, convolutions with biases, BatchNormalization with epsilon 1.001e-5, and Keras's layer
names (conv1_conv, conv2_block1_0_conv, ..., conv5_block3_out, avg_pool, predictions), so
ResNet50 has Keras's 25,583,592 trainable parameters. (The zoo's ``resnet50`` is the
torchvision layout: v1.5, no conv biases, 25,557,032.)"""

from __future__ import annotations

from typing import Any

from .. import nn
from ._common import constructor

__all__ = ["ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2"]


def _resnet_block(x: Any, filters: int, stride: int, shortcut: bool, name: str) -> Any:
    """Keras's ``residual_block_v1``: 1×1 (carrying the stride) – 3×3 – 1×1 (4·filters), each
    convolution with a bias and followed by batch norm, plus the identity or a 1×1 projection
    (``name``_0_conv / _0_bn)."""

    def conv_bn(x: Any, f: int, k: int, s: int, part: str) -> Any:
        x = nn.Conv2D(f, k, strides=s, padding="same", name=f"{name}_{part}_conv")(x)
        return nn.BatchNormalization(epsilon=1.001e-5, name=f"{name}_{part}_bn")(x)

    skip = conv_bn(x, 4 * filters, 1, stride, "0") if shortcut else x
    x = nn.Activation("relu", name=f"{name}_1_relu")(conv_bn(x, filters, 1, stride, "1"))
    x = nn.Activation("relu", name=f"{name}_2_relu")(conv_bn(x, filters, 3, 1, "2"))
    x = conv_bn(x, 4 * filters, 1, 1, "3")
    x = nn.Add(name=f"{name}_add")([skip, x])
    return nn.Activation("relu", name=f"{name}_out")(x)


# blocks per stage (conv2 .. conv5) of Keras's ResNet v1 models
_RESNET_STAGES = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _features(depth: int) -> Any:
    def features(x: Any) -> Any:
        x = nn.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(x)
        x = nn.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
        x = nn.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
        x = nn.Activation("relu", name="conv1_relu")(x)
        x = nn.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
        x = nn.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        for stage, blocks in enumerate(_RESNET_STAGES[depth]):
            filters = 64 * 2**stage
            for b in range(blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                x = _resnet_block(x, filters, stride, b == 0, f"conv{stage + 2}_block{b + 1}")
        return x

    return features


ResNet50 = constructor(
    "ResNet50", "resnet50", _features(50),
    "Keras's ResNet-50 (v1): 25,583,592 trainable parameters with the top, 23,534,592 "
    "without.",
)  # fmt: skip
ResNet101 = constructor("ResNet101", "resnet101", _features(101), "Keras's ResNet-101 (v1).")
ResNet152 = constructor("ResNet152", "resnet152", _features(152), "Keras's ResNet-152 (v1).")


# ------------------------------------------------------------------------------ ResNet v2
def _block_v2(x: Any, filters: int, stride: int, shortcut: bool, name: str) -> Any:
    """Keras's ``residual_block_v2`` (pre-activation): BN-ReLU first, the shortcut a 1×1
    convolution of it or the input (max-pooled 1×1 when strided), 1×1 – padded 3×3 (carrying
    the stride) – 1×1 with a bias, added."""
    bn = dict(epsilon=1.001e-5)
    pre = nn.BatchNormalization(**bn, name=f"{name}_preact_bn")(x)
    pre = nn.Activation("relu", name=f"{name}_preact_relu")(pre)
    if shortcut:
        skip = nn.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(pre)
    else:
        skip = nn.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = nn.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(pre)
    x = nn.BatchNormalization(**bn, name=f"{name}_1_bn")(x)
    x = nn.Activation("relu", name=f"{name}_1_relu")(x)
    x = nn.ZeroPadding2D(((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = nn.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = nn.BatchNormalization(**bn, name=f"{name}_2_bn")(x)
    x = nn.Activation("relu", name=f"{name}_2_relu")(x)
    x = nn.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return nn.Add(name=f"{name}_out")([skip, x])


def _features_v2(depth: int) -> Any:
    def features(x: Any) -> Any:
        x = nn.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(x)
        x = nn.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
        x = nn.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
        x = nn.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        stages = _RESNET_STAGES[depth]
        for stage, blocks in enumerate(stages):
            filters = 64 * 2**stage
            for b in range(blocks):
                # v2 strides on the stage's last block (none in the last stage)
                stride = 2 if b == blocks - 1 and stage < len(stages) - 1 else 1
                x = _block_v2(x, filters, stride, b == 0, f"conv{stage + 2}_block{b + 1}")
        x = nn.BatchNormalization(epsilon=1.001e-5, name="post_bn")(x)
        return nn.Activation("relu", name="post_relu")(x)

    return features


ResNet50V2 = constructor(
    "ResNet50V2", "resnet50v2", _features_v2(50),
    "Keras's ResNet50V2 (pre-activation): 25,613,800 parameters with the top.",
)  # fmt: skip
ResNet101V2 = constructor(
    "ResNet101V2", "resnet101v2", _features_v2(101),
    "Keras's ResNet101V2 (pre-activation): 44,675,560 parameters with the top.",
)  # fmt: skip
ResNet152V2 = constructor(
    "ResNet152V2", "resnet152v2", _features_v2(152),
    "Keras's ResNet152V2 (pre-activation): 60,380,648 parameters with the top.",
)  # fmt: skip
