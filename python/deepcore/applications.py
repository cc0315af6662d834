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
are the zoo's torchvision-style ResNet (v1.5: the stride on the 3×3 conv, no conv biases), so
ResNet50 has 25,557,032 trainable parameters where Keras's v1 has 25,583,592 (its conv
biases) — the same shapes of every feature map.
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
    x = zoo.resnet_features(x, depth)

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
    """ResNet-50 (torchvision layout): 25,557,032 trainable parameters with the top."""
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
    """ResNet-101 (torchvision layout)."""
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
    """ResNet-152 (torchvision layout)."""
    return _resnet(152, include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name)  # fmt: skip
