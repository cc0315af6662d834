"""Property-based fuzzing of the native activation kernels (see [Note: fuzz budget] in
conftest.py): every kind of the activation list with its parameters, every CPU capability,
both dtypes, lengths around the vector widths (the masked tail of each ISA copy), values drawn
to include each kind's kinks (0, +-3, the hard-sigmoid corners), forward and backward against
the naive double loops of csrc/ref/."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from deepcore import _C  # noqa: E402
from helpers import supported_capabilities  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_activation import KIND_PARAMS, _tol  # noqa: E402

KINKS = [0.0, -3.0, 3.0, -2.5, 2.5, 1.0, -1.0]


@given(
    st.sampled_from(KIND_PARAMS),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from(supported_capabilities()),
    st.lists(st.one_of(st.sampled_from(KINKS), st.floats(-30, 30)), min_size=0, max_size=70),
)
def test_kernels_match_reference_on_any_values(kind_params, dtype, capability, values):
    kind, p0, p1 = kind_params
    x = np.asarray(values, dtype)
    g = np.linspace(-1.5, 2.0, x.size).astype(dtype)
    prev = _C.get_cpu_capability()
    _C.set_cpu_capability(capability)
    try:
        y = _C.activation_forward(x, kind, p0, p1)
        saved = {"y": y} if _C.activation_reads_output(kind) else {"x": x}
        gx = _C.activation_backward(kind, g, p0=p0, p1=p1, **saved)
    finally:
        _C.set_cpu_capability(prev)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, _C.activation_forward_ref(x64, kind, p0, p1), **_tol(dtype))
    want = _C.activation_backward_ref(kind, g.astype(np.float64), x64, p0, p1)
    if _C.activation_reads_output(kind):  # from the rounded y, as test_activation.py
        tol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gx, want, **tol)
    else:
        np.testing.assert_allclose(gx, want, **_tol(dtype))
