"""deepcore.models: Keras-style models and their training loop.

``Sequential``, the functional API (``Input``, ``Model(inputs, outputs)``), compile / fit /
evaluate / predict / summary (training.py), callbacks, ``save`` / ``load_model`` (one
safetensors file), and the reference architectures in ``deepcore.models.zoo``.
"""

from __future__ import annotations

from . import callbacks, zoo
from .functional import Functional, Input, InputLayer, KerasTensor
from .saving import load_model, model_from_json, save_model
from .sequential import Sequential
from .training import Model

__all__ = [
    "Model",
    "Sequential",
    "Functional",
    "Input",
    "InputLayer",
    "KerasTensor",
    "load_model",
    "model_from_json",
    "save_model",
    "callbacks",
    "zoo",
]
