"""deepcore.ops: tensor ops as autograd Functions, one module per concern.

    _elementwise.py   add/sub/mul/div/pow, neg/exp/log/sqrt/abs, clip, maximum/minimum, where, cast
    _matmul.py        matmul through deepcore's GEMM
    _reductions.py    sum/mean/max/min/var/std over axes, argmax/argmin
    _scan.py          cumsum/cumprod/cummax/cummin/logcumsumexp (native scans, csrc/scan.h)
    _scatter.py       gather/scatter/scatter_add/scatter_reduce (native, csrc/scatter.h)
    _shape.py         reshape/view/flatten/squeeze/unsqueeze/expand/transpose/permute/swapaxes,
                      concat/stack/split
    _indexing.py      x[idx] (getitem) and x[idx] = v (setitem)
    _creation.py      zeros/ones/full/empty/*_like/arange/eye/randn/rand/randint
    _common.py        what they share: argument normalisation, dtype rules, gradient shapes

Every differentiable op is a :class:`~deepcore.autograd.Function` whose ``forward`` and
``backward`` work on raw storage arrays, calling library functions through the array module
of their inputs ([Note: array module] in deepcore/_array.py); the public functions
(``dc.matmul``, ``dc.concat``, ...) validate and convert arguments, then call
``Function.apply``. The Tensor operators and methods (``x @ w``, ``x.sum(axis=1)``, ``x[idx]``)
are these functions, attached by deepcore/_tensor_methods.py.

Semantics follow NumPy where NumPy has an answer (broadcasting, matmul of 1-D operands,
``axis``/``keepdims``, indexing, dtype promotion between float32 and float64), with three
deliberate differences that keep float32 code in float32:

* Python and NumPy *scalars* are weak: ``x * 2.0`` and ``x * np.float64(2)`` stay float32.
* integer (op) float takes the float operand's dtype (int64 tensor + float32 tensor is
  float32, not NumPy's float64); int (op) Python float and int / int give float32.
* ``transpose(i, j)`` with two axes on a tensor of more than two dimensions swaps them
  (PyTorch's meaning); otherwise ``transpose(*axes)`` is NumPy's permutation.

[Note: broadcast gradients] An input that was broadcast in the forward receives the sum of the
output gradient over the broadcast axes; ``_sum_to`` (_common.py) is the one place that
reduction is done.
"""

from __future__ import annotations

from ._creation import *  # noqa: F403
from ._creation import __all__ as _creation_all
from ._elementwise import *  # noqa: F403
from ._elementwise import __all__ as _elementwise_all
from ._indexing import *  # noqa: F403
from ._matmul import *  # noqa: F403
from ._matmul import __all__ as _matmul_all
from ._reductions import *  # noqa: F403
from ._reductions import __all__ as _reductions_all
from ._scan import *  # noqa: F403
from ._scan import __all__ as _scan_all
from ._scatter import *  # noqa: F403
from ._scatter import __all__ as _scatter_all
from ._shape import *  # noqa: F403
from ._shape import __all__ as _shape_all

# deepcore re-exports these (``from .ops import *``); getitem / setitem are Tensor methods only
__all__ = [
    *_elementwise_all,
    *_matmul_all,
    *_reductions_all,
    *_scan_all,
    *_scatter_all,
    *_shape_all,
    *_creation_all,
]
