"""deepcore: a deep-learning tensor engine with C++/OpenMP and CUDA kernels.

    import deepcore as dc
    x = dc.tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward(); x.grad
"""

from __future__ import annotations

from . import _C, kernels
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor, from_dlpack, from_numpy, get_rng, manual_seed, tensor
from . import ops  # noqa: E402,F401  (installs the Tensor operators)
from .ops import *  # noqa: F401,F403,E402

__version__ = "0.1.0"
