"""deepcore.nn.functional: differentiable ops on Tensors, weight layouts as in PyTorch.

One private module per area; each lists its public names in ``__all__``. Those names, here and
in their modules, are the ops with their array arguments' types checked (see
[Note: F argument types] in ``_args``).
"""

from . import (
    _activation,
    _attention,
    _conv,
    _ctc,
    _dropout,
    _interpolate,
    _linear,
    _loss,
    _loss_elementwise,
    _norm,
    _pad,
    _pool,
    _pool3d,
    _rnn,
)
from ._args import checked as _checked

__all__: list[str] = []
for _module in (
    _activation,
    _attention,
    _conv,
    _ctc,
    _dropout,
    _interpolate,
    _linear,
    _loss,
    _loss_elementwise,
    _norm,
    _pad,
    _pool,
    _pool3d,
    _rnn,
):
    for _name in getattr(_module, "__all__", ()):
        _op = _checked(getattr(_module, _name))
        setattr(_module, _name, _op)  # one object per op: F.relu is get_activation("relu")
        globals()[_name] = _op
        __all__.append(_name)
del _module, _name, _op
