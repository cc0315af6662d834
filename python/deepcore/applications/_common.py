"""The arguments every application shares: weights, inputs, the classifier head or pooling,
and the finished functional model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import nn
from ..models.functional import Input
from ..models.training import Model
from ..symbolic import KerasTensor, toposort

__all__ = ["build", "classifier", "constructor"]


def check_weights(weights: Any, name: str) -> None:
    if weights == "imagenet":
        raise ValueError(
            f"{name}: deepcore ships no pretrained weights; pass weights=None (random "
            "initialisation) or the path of a weights file saved by deepcore for this model"
        )
    if weights is not None and not isinstance(weights, str):
        raise TypeError(f"{name}: weights must be None or a file path, got {weights!r}")


def inputs_for(
    name: str,
    include_top: bool,
    input_tensor: Any,
    input_shape: Sequence[int | None] | None,
    size: int = 224,
) -> tuple[Any, Any]:
    """(model inputs, the placeholder to build on); ``size``: the family's default image
    size with the top."""
    if input_tensor is not None:
        if not isinstance(input_tensor, KerasTensor):
            raise TypeError(f"{name}: input_tensor must be a placeholder (Input()), got "
                            f"{type(input_tensor).__name__}")  # fmt: skip
        sources = [n.outputs[0] for n in toposort([input_tensor]) if n.is_input]
        return (sources[0] if len(sources) == 1 else sources), input_tensor
    if input_shape is None:
        input_shape = (size, size, 3) if include_top else (None, None, 3)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"{name}: input_shape must be (height, width, channels), got {shape}")
    x = Input(shape=shape)
    return x, x


def head(
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


def finish(inputs: Any, outputs: Any, name: str, weights: str | None) -> Any:
    model = Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def classifier(x: Any, classes: int, activation: Any) -> Any:
    """The top most families share: global average pooling and one Dense layer."""
    x = nn.GlobalAveragePooling2D(name="avg_pool")(x)
    return nn.Dense(classes, activation=activation, name="predictions")(x)


def build(
    model_name: str,
    features: Callable[[Any], Any],
    top: Callable[[Any, int, Any], Any],
    include_top: bool,
    weights: str | None,
    input_tensor: Any,
    input_shape: Sequence[int | None] | None,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    name: str,
    size: int = 224,
) -> Any:
    """An application's functional model: ``features`` (the convolutional base on the input
    placeholder), then ``top`` or the pooling, with Keras's shared arguments checked."""
    check_weights(weights, model_name)
    inputs, x = inputs_for(model_name, include_top, input_tensor, input_shape, size)
    out = head(features(x), model_name, include_top, pooling, classes, classifier_activation, top)
    return finish(inputs, out, name, weights)


def constructor(
    model_name: str,
    default_name: str,
    features: Callable[[Any], Any],
    doc: str,
    top: Callable[[Any, int, Any], Any] = classifier,
    size: int = 224,
) -> Callable[..., Any]:
    """A public constructor with Keras's signature (the families whose arguments are exactly
    the shared ones; MobileNet's have their own)."""

    def make(
        include_top: bool = True,
        weights: str | None = None,
        input_tensor: Any = None,
        input_shape: Sequence[int | None] | None = None,
        pooling: str | None = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = default_name,
    ) -> Any:
        return build(model_name, features, top, include_top, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name, size)  # fmt: skip

    make.__name__ = make.__qualname__ = model_name
    make.__doc__ = doc
    make.__module__ = features.__module__  # the family's module
    return make
