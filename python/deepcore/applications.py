"""``keras.applications``-style constructors over the reference models of deepcore.models.zoo.

    from deepcore import applications
    base = applications.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))
    base.trainable = False
    x = base(inputs, training=False)          # transfer learning: a frozen feature extractor

Keras's arguments: ``include_top`` (the classifier on top, or only the convolutional base),
``weights`` (None: random initialisation; a path: a weights file saved by deepcore for the same
architecture; "imagenet": refused, deepcore ships no pretrained weights), ``input_tensor`` (a
placeholder to build on), ``input_shape`` (default (224, 224, 3) with the top, (None, None, 3)
without), ``pooling`` (without the top: None for the last feature map, "avg" or "max" for a
global pooling), ``classes`` and ``classifier_activation``. Each returns a functional model.

Differences from Keras's models: VGG16 / VGG19 have Keras's layers and names (block1_conv1,
..., fc1, fc2, predictions) and its parameter counts (138,357,544 / 143,667,240). The ResNets
are Keras's ResNet v1 (keras.applications.resnet): the stride on the first 1×1 conv of a
stage, convolutions with biases, BatchNormalization with epsilon 1.001e-5, and Keras's layer
names (conv1_conv, conv2_block1_0_conv, ..., conv5_block3_out, avg_pool, predictions), so
ResNet50 has Keras's 25,583,592 trainable parameters. The zoo's ``resnet50`` is the
torchvision layout (v1.5, no conv biases, 25,557,032).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import nn
from .models import zoo
from .models.functional import Input
from .models.training import Model
from .symbolic import KerasTensor, toposort

__all__ = ["VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152"]


def _check_weights(weights: Any, name: str) -> None:
    if weights == "imagenet":
        raise ValueError(
            f"{name}: deepcore ships no pretrained weights; pass weights=None (random "
            "initialisation) or the path of a weights file saved by deepcore for this model"
        )
    if weights is not None and not isinstance(weights, str):
        raise TypeError(f"{name}: weights must be None or a file path, got {weights!r}")


def _inputs(
    name: str, include_top: bool, input_tensor: Any, input_shape: Sequence[int | None] | None
) -> tuple[Any, Any]:
    """(model inputs, the placeholder to build on)."""
    if input_tensor is not None:
        if not isinstance(input_tensor, KerasTensor):
            raise TypeError(f"{name}: input_tensor must be a placeholder (Input()), got "
                            f"{type(input_tensor).__name__}")  # fmt: skip
        sources = [n.outputs[0] for n in toposort([input_tensor]) if n.is_input]
        return (sources[0] if len(sources) == 1 else sources), input_tensor
    if input_shape is None:
        input_shape = (224, 224, 3) if include_top else (None, None, 3)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"{name}: input_shape must be (height, width, channels), got {shape}")
    x = Input(shape=shape)
    return x, x


def _head(
    x: Any,
    name: str,
    include_top: bool,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    top: Any,
) -> Any:
    if include_top:
        return top(x, classes, classifier_activation)
    if pooling == "avg":
        return nn.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return nn.GlobalMaxPooling2D(name="max_pool")(x)
    if pooling is not None:
        raise ValueError(f"{name}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    return x


def _finish(inputs: Any, outputs: Any, name: str, weights: str | None) -> Any:
    model = Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def _vgg(
    config: str,
    model_name: str,
    include_top: bool,
    weights: str | None,
    input_tensor: Any,
    input_shape: Sequence[int | None] | None,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    name: str,
) -> Any:
    _check_weights(weights, model_name)
    inputs, x = _inputs(model_name, include_top, input_tensor, input_shape)
    for layer in zoo.vgg_conv_layers(config, keras_names=True):
        x = layer(x)

    def top(x: Any, classes: int, activation: Any) -> Any:
        x = nn.Flatten(name="flatten")(x)
        x = nn.Dense(4096, activation="relu", name="fc1")(x)
        x = nn.Dense(4096, activation="relu", name="fc2")(x)
        return nn.Dense(classes, activation=activation, name="predictions")(x)

    out = _head(x, model_name, include_top, pooling, classes, classifier_activation, top)
    return _finish(inputs, out, name, weights)


def VGG16(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Sequence[int | None] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "vgg16",
) -> Any:
    """VGG-16 (config D): 138,357,544 parameters with the top, 14,714,688 without."""
    return _vgg("D", "VGG16", include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation, name)  # fmt: skip


def VGG19(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Sequence[int | None] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "vgg19",
) -> Any:
    """VGG-19 (config E): 143,667,240 parameters with the top, 20,024,384 without."""
    return _vgg("E", "VGG19", include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation, name)  # fmt: skip


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


def _resnet(
    depth: int,
    include_top: bool,
    weights: str | None,
    input_tensor: Any,
    input_shape: Sequence[int | None] | None,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    name: str,
) -> Any:
    model_name = f"ResNet{depth}"
    _check_weights(weights, model_name)
    inputs, x = _inputs(model_name, include_top, input_tensor, input_shape)
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

    def top(x: Any, classes: int, activation: Any) -> Any:
        x = nn.GlobalAveragePooling2D(name="avg_pool")(x)
        return nn.Dense(classes, activation=activation, name="predictions")(x)

    out = _head(x, model_name, include_top, pooling, classes, classifier_activation, top)
    return _finish(inputs, out, name, weights)


def ResNet50(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Sequence[int | None] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet50",
) -> Any:
    """Keras's ResNet-50 (v1): 25,583,592 trainable parameters with the top, 23,534,592
    without."""
    return _resnet(50, include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name)  # fmt: skip


def ResNet101(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Sequence[int | None] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet101",
) -> Any:
    """Keras's ResNet-101 (v1)."""
    return _resnet(101, include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name)  # fmt: skip


def ResNet152(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: Sequence[int | None] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet152",
) -> Any:
    """Keras's ResNet-152 (v1)."""
    return _resnet(152, include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name)  # fmt: skip
