"""deepcore.ops: tensor ops as autograd Functions, one module per concern.

    _elementwise.py   add/sub/mul/div/pow, neg/exp/log/sqrt/abs, clip, maximum/minimum, where, cast
    _math.py          trig/hyperbolic and inverses, log2/log10/log1p/expm1, erf/erfinv,
                      rounding, sign, atan2/logaddexp/lerp, integer //, %, fmod, shifts,
                      predicates (isnan, isclose, ...), comparisons and logical ops
    _matmul.py        matmul through deepcore's GEMM, einsum
    _reductions.py    sum/mean/max/min/var/std/prod/logsumexp/norm over axes, argmax/argmin
    _shape.py         reshape/view/flatten/squeeze/unsqueeze/expand_dims/expand/transpose/
                      permute/swapaxes/moveaxis, concat/stack/split/chunk/unbind, pad
    _rearrange.py     flip/roll, tile/repeat/repeat_interleave, diag/tril/triu
    _indexing.py      x[idx] (getitem), x[idx] = v (setitem), take/index_select/
                      take_along_axis, masked_fill, nonzero, one_hot
    _scan.py          cumsum/cumprod/cummax/cummin/logcumsumexp (native scans, csrc/scan.h)
    _scatter.py       gather/scatter/scatter_add/scatter_reduce (native, csrc/scatter.h)
    _sorting.py       sort/argsort/topk (stable)
    _creation.py      zeros/ones/full/empty/*_like/arange/eye/randn/rand/randint
    _segments.py      slice, slice_update, segment_sum / segment_max, in_top_k
    _numpy_extra.py   the rest of Keras's NumPy-style/math/core names (all, diagonal, trace,
                      dot, tensordot, quantile, median, segment_sum, slice_update, bitwise, ...)
    _keras.py         Keras 3's ``keras.ops`` names and argument names over the above
    _numpy_more.py    more NumPy-style names (argpartition, bincount, correlate, cross,
                      histogram, select, ...); ops only
    _fft.py           Keras's FFTs on (real, imag) pairs (fft, fft2, ifft2, rfft, irfft, stft,
                      istft, extract_sequences), differentiable; ops only
    _control.py       Keras's control flow run eagerly (cond, switch, while_loop, fori_loop,
                      scan, associative_scan, map, vectorized_map, custom_gradient); ops only
    _linalg.py        Keras's linear algebra (inv, det, slogdet, solve, cholesky, qr, svd,
                      eigh, lstsq, ...), batched, with the standard gradients; ops only
    _nn_conv.py       keras.ops.nn's convolutions and pooling (conv, conv_transpose, ...)
    _nn_ctc.py        keras.ops.nn's ctc_loss and greedy ctc_decode
    _nn.py            Keras's ``keras.ops.nn`` family (activations, softmax, normalisations,
                      cross-entropies, conv/pool in Keras's layouts, attention) over
                      deepcore.nn.functional's kernels; in ``deepcore.ops`` only
    _common.py        what they share: argument normalisation, dtype rules, gradient shapes

[Note: two audiences, one namespace] ``deepcore.ops`` is Keras 3's ``keras.ops`` (its names
and argument names: ``ops.zeros(shape=...)``, ``ops.clip(x, x_min, x_max)``, ``ops.sort``
returning the values) and ``deepcore.<name>`` is where PyTorch users look (``deepcore.sort``
returning (values, indices), ``deepcore.nonzero`` an (n, ndim) tensor). The two differ only
where Keras and PyTorch give one name two meanings; those few are listed in
``_keras.KERAS_ONLY`` and ``deepcore/__init__.py`` takes the PyTorch ones. Functions accept
PyTorch's keyword spellings (``dim=``, ``keepdim=``, ``diagonal=``) where they are new.
Tensor methods are PyTorch's (``x.sort()``, ``x.repeat(2, 3)`` tiles, ``x.norm(p)``).

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

import types as _types

from ..symbolic import route_symbolic as _route_symbolic
from . import _keras
from ._control import *  # noqa: F403  (keras.ops only: not in __all__)
from ._control import __all__ as _control_all
from ._creation import *  # noqa: F403
from ._creation import __all__ as _creation_all
from ._elementwise import *  # noqa: F403
from ._elementwise import __all__ as _elementwise_all
from ._fft import *  # noqa: F403  (keras.ops only: not in __all__)
from ._fft import __all__ as _fft_all
from ._indexing import *  # noqa: F403
from ._indexing import __all__ as _indexing_all
from ._keras import *  # noqa: F403
from ._keras import KERAS_ONLY as _KERAS_ONLY
from ._keras import __all__ as _keras_all
from ._linalg import *  # noqa: F403  (keras.ops only: not in __all__)
from ._linalg import __all__ as _linalg_all
from ._math import *  # noqa: F403
from ._math import __all__ as _math_all
from ._matmul import *  # noqa: F403
from ._matmul import __all__ as _matmul_all
from ._nn import *  # noqa: F403  (keras.ops only: not in __all__, see [Note: keras.ops.nn over F])
from ._nn import __all__ as _nn_all
from ._nn_conv import *  # noqa: F403  (keras.ops only)
from ._nn_conv import __all__ as _nn_conv_all
from ._nn_ctc import *  # noqa: F403  (keras.ops only)
from ._nn_ctc import __all__ as _nn_ctc_all
from ._numpy_extra import *  # noqa: F403
from ._numpy_extra import NOT_TOP_LEVEL as _NOT_TOP_LEVEL
from ._numpy_extra import __all__ as _numpy_extra_all
from ._numpy_more import *  # noqa: F403  (keras.ops only: not in __all__)
from ._numpy_more import __all__ as _numpy_more_all
from ._rearrange import *  # noqa: F403
from ._rearrange import __all__ as _rearrange_all
from ._reductions import *  # noqa: F403
from ._reductions import __all__ as _reductions_all
from ._scan import *  # noqa: F403
from ._scan import __all__ as _scan_all
from ._scatter import *  # noqa: F403
from ._scatter import __all__ as _scatter_all
from ._segments import *  # noqa: F403
from ._segments import NOT_TOP_LEVEL as _SEGMENTS_NOT_TOP_LEVEL
from ._segments import __all__ as _segments_all
from ._shape import *  # noqa: F403
from ._shape import __all__ as _shape_all
from ._sorting import *  # noqa: F403
from ._sorting import __all__ as _sorting_all

# deepcore re-exports these (``from .ops import *``); getitem / setitem are Tensor methods only
__all__ = list(
    dict.fromkeys(
        [
            *_elementwise_all,
            *_math_all,
            *_matmul_all,
            *_reductions_all,
            *_scan_all,
            *_scatter_all,
            *_shape_all,
            *_rearrange_all,
            *[n for n in _indexing_all if n not in ("getitem", "setitem")],
            *_sorting_all,
            *_creation_all,
            *_keras_all,
            *[n for n in _numpy_extra_all if n not in _NOT_TOP_LEVEL],
            *[n for n in _segments_all if n not in _SEGMENTS_NOT_TOP_LEVEL],
        ]
    )
)

# Keras's meaning of the names Keras and PyTorch share ([Note: two audiences, one namespace]);
# assigned after every star import, whatever order the imports are sorted in
globals().update({_name: getattr(_keras, _name) for _name in _KERAS_ONLY})

#: the functions as defined, for the Tensor methods (deepcore/_tensor_methods.py): a method's
#: ``self`` is never a placeholder, so they skip the symbolic route below
raw = _types.SimpleNamespace(**{_name: globals()[_name] for _name in __all__})

# every op records a graph node when given placeholders of the functional API
# ([Note: ops on placeholders] in deepcore/symbolic.py); these take placeholders as they are
# (nor the control flow, which calls the user's functions on whatever it is given)
_NOT_ROUTED = frozenset(
    {"shape", "convert_to_tensor", "convert_to_numpy", "is_tensor", "ndim", "size", "dtype"}
) | frozenset(_control_all)
_routed: dict = {}  # one wrapper per function: aliases stay one object (arctan2 is atan2)
#: every keras.ops function: the top-level ones plus those kept off ``deepcore.*`` (nn,
#: linalg, some NumPy extras); all are routed and may be recorded in a functional graph
KERAS_OPS = tuple(
    dict.fromkeys(
        [
            *__all__,
            *_nn_all,
            *_nn_conv_all,
            *_nn_ctc_all,
            *_linalg_all,
            *_fft_all,
            *_control_all,
            *_numpy_more_all,
            *_NOT_TOP_LEVEL,
        ]
    )
)
for _name in KERAS_OPS:
    _fn = globals()[_name]
    if isinstance(_fn, _types.FunctionType) and _name not in _NOT_ROUTED:
        if id(_fn) not in _routed:
            _routed[id(_fn)] = _route_symbolic(_fn, _name)
        globals()[_name] = _routed[id(_fn)]
del _name, _fn, _routed
