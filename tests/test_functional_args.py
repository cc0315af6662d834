"""[Note: F argument types]: every deepcore.nn.functional op takes Tensors or NumPy arrays for
its array arguments and raises TypeError naming the op and the argument for anything else."""

from __future__ import annotations

import inspect

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from deepcore.nn.functional._args import _array_params

OPS = [
    n
    for n in F.__all__
    if inspect.isfunction(getattr(F, n)) and _array_params(inspect.unwrap(getattr(F, n)))
]


def test_every_op_with_tensor_arguments_is_checked():
    assert len(OPS) >= 30 and "relu" in OPS and "cross_entropy" in OPS
    assert "get_activation" not in OPS
    assert F.get_activation("relu") is F.relu  # one object per op


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("bad", [[1.0, 2.0], (1.0,), 3.0, np.float32(1.0)])
def test_array_arguments_refuse_lists_and_scalars(op, bad):
    """Issue 9: F.relu([1, 2]) raised AttributeError: 'list' object has no attribute 'flags'."""
    fn = getattr(F, op)  # F.silu is F.swish: the message names the function
    for _, name, _ in _array_params(inspect.unwrap(fn)):
        with pytest.raises(
            TypeError, match=rf"{fn.__name__}: argument '{name}' must be a deepcore"
        ):
            fn(**{name: bad})


def test_positional_and_optional_arguments():
    x = np.array([[1.0, -2.0, 3.0]])
    with pytest.raises(TypeError, match="relu: argument 'x'.*got list"):
        F.relu([1, 2])
    with pytest.raises(TypeError, match="linear: argument 'w'"):
        F.linear(x, [[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match=r"linear: argument 'b'.*\(or None\), got float"):
        F.linear(x, np.ones((2, 3)), 1.0)
    with pytest.raises(TypeError, match="cross_entropy: argument 'target'"):
        F.cross_entropy(x, [0])
    np.testing.assert_array_equal(F.relu(x).numpy(), [[1.0, 0.0, 3.0]])  # arrays still work
    assert F.linear(dc.tensor(x), dc.tensor(np.ones((2, 3))), None).shape == (1, 2)
