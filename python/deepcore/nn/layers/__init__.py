"""Keras-style layers (also exported from ``deepcore.nn``)."""

from .activation import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .augmentation import *  # noqa: F401,F403
from .bidirectional import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .conv_recurrent import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .einsum_dense import *  # noqa: F401,F403
from .grouped_query_attention import *  # noqa: F401,F403
from .hashing import *  # noqa: F401,F403
from .input_layer import *  # noqa: F401,F403
from .layout import *  # noqa: F401,F403
from .lookup import *  # noqa: F401,F403
from .merge import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .preprocessing import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .regularization import *  # noqa: F401,F403
from .reshaping import *  # noqa: F401,F403
from .separable import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
