"""deepcore.nn.functional: differentiable ops on Tensors, weight layouts as in PyTorch.

One private module per area; each lists its public names in ``__all__``.
"""

from ._activation import *  # noqa: F401,F403
from ._attention import *  # noqa: F401,F403
from ._conv import *  # noqa: F401,F403
from ._dropout import *  # noqa: F401,F403
from ._linear import *  # noqa: F401,F403
from ._loss import *  # noqa: F401,F403
from ._norm import *  # noqa: F401,F403
from ._pool import *  # noqa: F401,F403
from ._rnn import *  # noqa: F401,F403
