"""``deepcore.keras``: Keras 3's top-level namespace over deepcore, so that a Keras script runs
with only its imports changed::

    import deepcore.keras as keras                 # was: import keras
    from deepcore.keras import layers, ops         # was: from keras import layers, ops

    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    ...
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")

[Note: the keras namespace] Nothing here is a second implementation: every name is the
deepcore object that already serves it (``keras.layers`` *is* ``deepcore.nn``, ``keras.ops``
*is* ``deepcore.ops``, ``keras.optimizers`` is ``deepcore.optim``, ...). The submodules are
registered under ``deepcore.keras.<name>`` too, so ``from deepcore.keras.layers import Dense``
and ``import deepcore.keras.ops`` work as they do with Keras. Only the few Keras modules that
have no deepcore counterpart of the same shape live in this package: ``activations`` (the
activation functions by Keras name), ``random`` (Keras's random ops), ``saving``
(``register_keras_serializable``), ``tree`` (nested-structure utilities) and
``mixed_precision`` (dtype policies, LossScaleOptimizer).
"""

from __future__ import annotations

import sys

from .. import applications, callbacks, datasets, losses, metrics, models, nn, ops, optim, utils
from ..models import Input, InputLayer, Model, Sequential
from ..nn import InputSpec, Layer
from ..nn.dtype_policy import DTypePolicy, FloatDTypePolicy
from ..tensor import Tensor
from . import activations, mixed_precision, random, saving, tree

layers = nn
optimizers = optim
initializers = nn.initializers
regularizers = nn.regularizers

# ``keras.Variable``: a trainable tensor (deepcore's weights are Parameters).
from ..nn import Parameter as Variable  # noqa: E402

__all__ = [
    "DTypePolicy",
    "FloatDTypePolicy",
    "Input",
    "InputLayer",
    "InputSpec",
    "Layer",
    "Model",
    "Sequential",
    "Tensor",
    "Variable",
    "activations",
    "applications",
    "callbacks",
    "datasets",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "saving",
    "tree",
    "utils",
]

version = "3 (deepcore)"


def _alias_submodules() -> None:
    """Register every keras.<name> module, and the submodules of it already imported, under
    deepcore.keras.<name>[.<sub>], so a dotted import finds the same module object instead of
    executing a second copy."""
    names = (
        "layers",
        "models",
        "ops",
        "losses",
        "metrics",
        "optimizers",
        "callbacks",
        "utils",
        "applications",
        "datasets",
        "initializers",
        "regularizers",
    )
    for name in names:
        mod = globals()[name]
        sys.modules[f"{__name__}.{name}"] = mod
        real = mod.__name__ + "."
        for key, sub in list(sys.modules.items()):
            if key.startswith(real):
                sys.modules[f"{__name__}.{name}.{key[len(real) :]}"] = sub


_alias_submodules()
