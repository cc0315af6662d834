"""deepcore: a deep-learning tensor engine with C++/OpenMP and CUDA kernels.

import deepcore as dc
x = dc.tensor([[1.0, 2.0]], requires_grad=True)
(x * x).sum().backward(); x.grad
"""

from __future__ import annotations

import numpy as _np

from . import _C as _C
from . import _tensor_methods  # noqa: F401  (attaches the Tensor operators and methods)
from . import kernels as kernels
from . import ops as ops
from . import tensor as tensor  # the module, callable as the tensor() factory (tensor.py)
from ._C import get_matmul_precision as get_matmul_precision  # [Note: matmul precision]
from ._C import set_matmul_precision as set_matmul_precision
from ._version import __version__ as __version__
from .autograd import enable_grad as enable_grad
from .autograd import is_grad_enabled as is_grad_enabled
from .autograd import no_grad as no_grad
from .autograd import set_grad_enabled as set_grad_enabled
from .ops import *  # noqa: F403
from .ops._indexing import nonzero as nonzero  # PyTorch's meanings of the names deepcore.ops
from .ops._scatter import scatter as scatter  # (PyTorch's scatter(input, dim, index, src))
from .ops._sorting import sort as sort  # gives Keras's ([Note: two audiences, one namespace])
from .tensor import Tensor as Tensor
from .tensor import from_dlpack as from_dlpack
from .tensor import from_numpy as from_numpy
from .tensor import get_rng as get_rng
from .tensor import manual_seed as manual_seed

# deepcore.<name> is PyTorch's audience: the ops as defined, without deepcore.ops's symbolic
# route ([Note: ops on placeholders] in symbolic.py), so eager calls here pay nothing for it
globals().update(
    {_n: _f for _n, _f in vars(ops.raw).items() if _n not in ops._KERAS_ONLY}  # noqa: F405
)

# dtypes by name, PyTorch-style (dc.float16 is np.float16: t.dtype == dc.float16 holds);
# float16 is stored as float16 and computed in float32 ([Note: float16 storage] in autograd.py)
float16 = half = _np.float16
float32 = _np.float32
float64 = double = _np.float64
int32 = _np.int32
int64 = _np.int64
