"""``keras.applications``-style constructors: Keras's model families, built as functional
models from deepcore's layers, one module per family (vgg, resnet, mobilenet, xception,
densenet, efficientnet, inception) over the shared arguments of _common.py.

    from deepcore import applications
    base = applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3))
    base.trainable = False
    x = base(inputs, training=False)          # transfer learning: a frozen feature extractor

Keras's arguments: ``include_top`` (the classifier on top, or only the convolutional base),
``weights`` (None: random initialisation; a path: a weights file saved by deepcore for the same
architecture; "imagenet": refused, deepcore ships no pretrained weights), ``input_tensor`` (a
placeholder to build on), ``input_shape`` (default the family's image size with the top,
(None, None, 3) without), ``pooling`` (without the top: None for the last feature map, "avg" or
"max" for a global pooling), ``classes`` and ``classifier_activation``; MobileNet's ``alpha``,
``depth_multiplier`` and ``dropout``, MobileNetV2's ``alpha``. Each returns a functional model
with Keras's layer names and parameter counts (listed in each constructor's docstring and
checked by tests/test_applications.py).
"""

from .convnext import (
    ConvNeXtBase,
    ConvNeXtLarge,
    ConvNeXtSmall,
    ConvNeXtTiny,
    ConvNeXtXLarge,
)
from .densenet import DenseNet121, DenseNet169, DenseNet201
from .efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from .inception import InceptionV3
from .mobilenet import MobileNet, MobileNetV2
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from .resnet import ResNet50, ResNet50V2, ResNet101, ResNet101V2, ResNet152, ResNet152V2
from .vgg import VGG16, VGG19
from .xception import Xception

__all__ = [
    "VGG16",
    "VGG19",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Small",
    "MobileNetV3Large",
    "Xception",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "InceptionV3",
    "ConvNeXtTiny",
    "ConvNeXtSmall",
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtXLarge",
]
