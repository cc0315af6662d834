"""Keras's InceptionV3 (keras.applications.inception_v3, Szegedy et al. 2015): the stem, three
35×35 blocks (mixed0-2), a grid reduction (mixed3), four 17×17 blocks with factorised 7×7
convolutions (mixed4-7), a reduction (mixed8) and two 8×8 blocks with split 3×3s
(mixed9-10); every convolution without a bias, followed by BatchNormalization without a scale
and ReLU, as Keras; 23,851,784 parameters with the top. Default image size 299."""

from __future__ import annotations

from typing import Any

from .. import nn
from ._common import constructor

__all__ = ["InceptionV3"]


def _cbr(x: Any, filters: int, kh: int, kw: int, padding: str = "same", strides: int = 1) -> Any:
    """Keras's ``conv2d_bn``: convolution (no bias), batch norm (no scale), ReLU."""
    x = nn.Conv2D(filters, (kh, kw), strides=strides, padding=padding, use_bias=False)(x)
    x = nn.BatchNormalization(scale=False)(x)
    return nn.Activation("relu")(x)


def _pool_branch(x: Any, filters: int) -> Any:
    return _cbr(nn.AveragePooling2D(3, strides=1, padding="same")(x), filters, 1, 1)


def _block35(x: Any, pool_filters: int, name: str) -> Any:
    b1 = _cbr(x, 64, 1, 1)
    b5 = _cbr(_cbr(x, 48, 1, 1), 64, 5, 5)
    b3 = _cbr(_cbr(_cbr(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
    return nn.concatenate([b1, b5, b3, _pool_branch(x, pool_filters)], axis=-1, name=name)


def _block17(x: Any, mid: int, name: str) -> Any:
    b1 = _cbr(x, 192, 1, 1)
    b7 = _cbr(_cbr(_cbr(x, mid, 1, 1), mid, 1, 7), 192, 7, 1)
    d = _cbr(x, mid, 1, 1)
    for f, (kh, kw) in ((mid, (7, 1)), (mid, (1, 7)), (mid, (7, 1)), (192, (1, 7))):
        d = _cbr(d, f, kh, kw)
    return nn.concatenate([b1, b7, d, _pool_branch(x, 192)], axis=-1, name=name)


def _block8(x: Any, i: int) -> Any:
    b1 = _cbr(x, 320, 1, 1)
    b3 = _cbr(x, 384, 1, 1)
    b3 = nn.concatenate([_cbr(b3, 384, 1, 3), _cbr(b3, 384, 3, 1)], axis=-1, name=f"mixed9_{i}")
    d = _cbr(_cbr(x, 448, 1, 1), 384, 3, 3)
    d = nn.concatenate([_cbr(d, 384, 1, 3), _cbr(d, 384, 3, 1)], axis=-1)
    return nn.concatenate([b1, b3, d, _pool_branch(x, 192)], axis=-1, name=f"mixed{9 + i}")


def _features(x: Any) -> Any:
    x = _cbr(x, 32, 3, 3, padding="valid", strides=2)
    x = _cbr(x, 32, 3, 3, padding="valid")
    x = _cbr(x, 64, 3, 3)
    x = nn.MaxPooling2D(3, strides=2)(x)
    x = _cbr(x, 80, 1, 1, padding="valid")
    x = _cbr(x, 192, 3, 3, padding="valid")
    x = nn.MaxPooling2D(3, strides=2)(x)
    for i, pool_filters in enumerate((32, 64, 64)):
        x = _block35(x, pool_filters, f"mixed{i}")
    b3 = _cbr(x, 384, 3, 3, padding="valid", strides=2)
    d = _cbr(_cbr(_cbr(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, padding="valid", strides=2)
    x = nn.concatenate([b3, d, nn.MaxPooling2D(3, strides=2)(x)], axis=-1, name="mixed3")
    for i, mid in enumerate((128, 160, 160, 192)):
        x = _block17(x, mid, f"mixed{4 + i}")
    b3 = _cbr(_cbr(x, 192, 1, 1), 320, 3, 3, padding="valid", strides=2)
    d = _cbr(_cbr(_cbr(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
    d = _cbr(d, 192, 3, 3, padding="valid", strides=2)
    x = nn.concatenate([b3, d, nn.MaxPooling2D(3, strides=2)(x)], axis=-1, name="mixed8")
    for i in range(2):
        x = _block8(x, i)
    return x


InceptionV3 = constructor(
    "InceptionV3", "inception_v3", _features,
    "Keras's InceptionV3: 23,851,784 parameters with the top, 21,802,784 without.", size=299,
)  # fmt: skip
