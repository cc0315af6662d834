"""Keras's ConvNeXtTiny / Small / Base / Large / XLarge (keras.applications.convnext, Liu et
al. 2022): a 4×4 patchify stem, four stages of blocks (7×7 depthwise convolution,
LayerNormalization, an inverted MLP of two Dense layers with GELU on the channels, a learned
per-channel LayerScale, stochastic depth) separated by 2×2 strided downsampling, ImageNet
normalisation of the [0, 255] input in the model (``include_preprocessing``); Keras's layer
names and trainable parameter counts (ConvNeXtTiny 28,589,128 with the top)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import nn
from ..models.sequential import Sequential
from ..nn import initializers
from ._common import build

__all__ = [
    "ConvNeXtTiny",
    "ConvNeXtSmall",
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtXLarge",
    "LayerScale",
]


class LayerScale(nn.Layer):
    """Keras's ConvNeXt ``LayerScale``: the input times a learned per-channel ``gamma``
    (initialised to ``init_values``)."""

    def __init__(self, init_values: float, projection_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.init_values = float(init_values)
        self.projection_dim = int(projection_dim)

    def build(self, input_shape: Any) -> None:
        init = initializers.Constant(self.init_values)
        self.gamma = self.add_weight(shape=(self.projection_dim,), initializer=init, name="gamma")

    def call(self, x: Any) -> Any:
        return x * self.gamma

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(init_values=self.init_values, projection_dim=self.projection_dim)
        return cfg


def _block(x: Any, dim: int, drop: float, scale: float | None, name: str) -> Any:
    inputs = x
    x = nn.Conv2D(dim, 7, padding="same", groups=dim, name=name + "_depthwise_conv")(x)
    x = nn.LayerNormalization(epsilon=1e-6, name=name + "_layernorm")(x)
    x = nn.Dense(4 * dim, name=name + "_pointwise_conv_1")(x)
    x = nn.Activation("gelu", name=name + "_gelu")(x)
    x = nn.Dense(dim, name=name + "_pointwise_conv_2")(x)
    if scale is not None:
        x = LayerScale(scale, dim, name=name + "_layer_scale")(x)
    if drop:  # Keras's StochasticDepth: the whole residual dropped per sample
        x = nn.Dropout(drop, noise_shape=(None, 1, 1, 1), name=name + "_stochastic_depth")(x)
    else:
        x = nn.Activation("linear", name=name + "_identity")(x)
    return inputs + x


def _convnext(model_name: str, depths: Sequence[int], dims: Sequence[int], prefix: str,
              include_top: bool, include_preprocessing: bool, weights: str | None,
              input_tensor: Any, input_shape: Any, pooling: str | None, classes: int,
              classifier_activation: Any, drop_path_rate: float = 0.0,
              layer_scale_init_value: float | None = 1e-6) -> Any:  # fmt: skip
    def features(x: Any) -> Any:
        if include_preprocessing:
            mean = [0.485 * 255, 0.456 * 255, 0.406 * 255]
            var = [(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2]
            x = nn.Normalization(mean=mean, variance=var,
                                 name=prefix + "_prestem_normalization")(x)  # fmt: skip
        rates = [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]
        cur = 0
        for i, (depth, dim) in enumerate(zip(depths, dims)):
            if i == 0:
                down = Sequential([
                    nn.Conv2D(dim, 4, strides=4, name=prefix + "_stem_conv"),
                    nn.LayerNormalization(epsilon=1e-6, name=prefix + "_stem_layernorm"),
                ], name=prefix + "_stem")  # fmt: skip
            else:
                down = Sequential([
                    nn.LayerNormalization(epsilon=1e-6,
                                          name=f"{prefix}_downsampling_layernorm_{i - 1}"),
                    nn.Conv2D(dim, 2, strides=2, name=f"{prefix}_downsampling_conv_{i - 1}"),
                ], name=f"{prefix}_downsampling_block_{i - 1}")  # fmt: skip
            x = down(x)
            for j in range(depth):
                x = _block(x, dim, rates[cur + j], layer_scale_init_value,
                           f"{prefix}_stage_{i}_block_{j}")  # fmt: skip
            cur += depth
        return x

    def top(x: Any, classes: int, activation: Any) -> Any:
        x = nn.GlobalAveragePooling2D(name=prefix + "_head_gap")(x)
        x = nn.LayerNormalization(epsilon=1e-6, name=prefix + "_head_layernorm")(x)
        return nn.Dense(classes, activation=activation, name=prefix + "_head_dense")(x)

    if not include_top and pooling in ("avg", "max"):
        # Keras normalises the pooled features without the top
        base = build(model_name, features, top, False, weights, input_tensor, input_shape,
                     pooling, classes, classifier_activation, prefix)  # fmt: skip
        return _pooled_layernorm(base, prefix)
    return build(model_name, features, top, include_top, weights, input_tensor, input_shape,
                 pooling, classes, classifier_activation, prefix)  # fmt: skip


def _pooled_layernorm(base: Any, name: str) -> Any:
    from ..models.training import Model  # noqa: PLC0415

    out = nn.LayerNormalization(epsilon=1e-6)(base.outputs[0])
    return Model(base.inputs, out, name=name)


_SIZES = {
    "Tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "Small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "Base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
    "Large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
    "XLarge": ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}


def _make(size: str) -> Any:
    depths, dims = _SIZES[size]
    model_name = f"ConvNeXt{size}"
    prefix = f"convnext_{size.lower()}"

    def make(
        include_top: bool = True,
        include_preprocessing: bool = True,
        weights: str | None = None,
        input_tensor: Any = None,
        input_shape: Sequence[int | None] | None = None,
        pooling: str | None = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
    ) -> Any:
        return _convnext(model_name, depths, dims, prefix, include_top, include_preprocessing,
                         weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation)  # fmt: skip

    make.__name__ = make.__qualname__ = model_name
    make.__doc__ = (f"Keras's {model_name}: stages of {depths} blocks with {dims} channels; "
                    "the input in [0, 255] is normalised in the model.")  # fmt: skip
    return make


ConvNeXtTiny = _make("Tiny")
ConvNeXtSmall = _make("Small")
ConvNeXtBase = _make("Base")
ConvNeXtLarge = _make("Large")
ConvNeXtXLarge = _make("XLarge")
