"""Property-based fuzz of float16 parameters in the optimizers against a float32 reference
([Note: float16 parameters] in optim/_half.py; the examples are tests/test_optim_float16.py)."""

import deepcore as dc
import numpy as np
from deepcore import optim
from hypothesis import given, settings
from hypothesis import strategies as st

F16, F32 = np.dtype(np.float16), np.dtype(np.float32)


@settings(deadline=None)
@given(
    shape=st.sampled_from([(1,), (3,), (2, 5), (17,)]),
    lr=st.floats(1e-4, 0.5),
    scale=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**16),
)
def test_fuzz_float16_adam_matches_float32_reference(shape, lr, scale, seed):
    """Random shapes, learning rates and gradient scales (large ones overflow float16 to inf,
    which the reference then sees too)."""
    rng = np.random.default_rng(seed)
    p16 = dc.nn.Parameter(rng.standard_normal(shape).astype(F16))
    p32 = dc.nn.Parameter(p16.data.astype(F32))
    opt16, opt32 = optim.Adam([p16], lr=lr), optim.Adam([p32], lr=lr)
    for _ in range(3):
        with np.errstate(over="ignore"):
            g = (rng.standard_normal(shape) * scale).astype(F16)
        p16.grad, p32.grad = dc.tensor(g), dc.tensor(g.astype(F32))
        opt16.step()
        opt32.step()
        with np.errstate(over="ignore", invalid="ignore"):
            np.testing.assert_array_equal(p16.data, p32.data.astype(F16))
