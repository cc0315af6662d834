"""Keras's VGG16 / VGG19 (keras.applications.vgg16 / vgg19): Keras's layers and names
(block1_conv1, ..., fc1, fc2, predictions) and parameter counts (138,357,544 / 143,667,240),
over the zoo's VGG convolution stack."""

from __future__ import annotations

from typing import Any

from .. import nn
from ..models import zoo
from ._common import constructor

__all__ = ["VGG16", "VGG19"]


def _top(x: Any, classes: int, activation: Any) -> Any:
    x = nn.Flatten(name="flatten")(x)
    x = nn.Dense(4096, activation="relu", name="fc1")(x)
    x = nn.Dense(4096, activation="relu", name="fc2")(x)
    return nn.Dense(classes, activation=activation, name="predictions")(x)


def _features(config: str) -> Any:
    def features(x: Any) -> Any:
        for layer in zoo.vgg_conv_layers(config, keras_names=True):
            x = layer(x)
        return x

    return features


VGG16 = constructor(
    "VGG16", "vgg16", _features("D"),
    "VGG-16 (config D): 138,357,544 parameters with the top, 14,714,688 without.", _top,
)  # fmt: skip
VGG19 = constructor(
    "VGG19", "vgg19", _features("E"),
    "VGG-19 (config E): 143,667,240 parameters with the top, 20,024,384 without.", _top,
)  # fmt: skip
