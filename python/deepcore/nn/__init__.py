"""deepcore.nn: Module/Layer, Parameter, Keras-style layers, initialisers and the functional ops.

import deepcore.nn as nn        # (or: import deepcore.nn as layers, Keras-style)
model_layers = [nn.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                nn.MaxPooling2D(), nn.Flatten(), nn.Dense(10)]
"""

from . import (  # noqa: F401
    functional,  # noqa: F401
    initializers,
    regularizers,
)
from .layers import *  # noqa: F401,F403
from .layers import activation as activations  # noqa: F401
from .module import (  # noqa: F401
    InputSpec,
    Layer,
    Module,
    Parameter,
    StateDictKeyError,
    deserialize,
    get_layer_class,
    reset_name_counters,
    serialize,
)
