"""``keras.mixed_precision``: dtype policies and loss scaling (Keras 3's names, legacy ones
included), over deepcore.nn.dtype_policy and deepcore.optim.LossScaleOptimizer ([Note: mixed
precision] in nn/dtype_policy.py)::

    keras.mixed_precision.set_global_policy("mixed_float16")
"""

from __future__ import annotations

from ..nn.dtype_policy import (
    DTypePolicy,
    Policy,
    dtype_policy,
    global_policy,
    set_dtype_policy,
    set_global_policy,
)
from ..optim.loss_scale import LossScaleOptimizer

__all__ = [
    "DTypePolicy",
    "LossScaleOptimizer",
    "Policy",
    "dtype_policy",
    "global_policy",
    "set_dtype_policy",
    "set_global_policy",
]
