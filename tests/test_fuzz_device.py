"""Property-based fuzzing of the device-dispatch boundary (bindings/array_arg.h): axpy against
NumPy on random shapes and dtypes, and crafted __cuda_array_interface__ dicts, which must give a
TypeError / ValueError / NotImplementedError, never a crash or a kernel call on a bad pointer.
Examples and seed are fixed in CI ([Note: fuzz budget] in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import _C

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
given = hypothesis.given


@given(
    shape=st.lists(st.integers(0, 9), min_size=0, max_size=3),
    dtype=st.sampled_from([np.float32, np.float64]),
    a=st.floats(-4, 4),
)
def test_axpy_matches_numpy(shape, dtype, a):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    want = y.astype(np.float64) + np.float64(dtype(a)) * x.astype(np.float64)
    _C.axpy(a, x, y)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


_values = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=4),
    st.tuples(st.integers(-5, 5)),
    st.tuples(st.integers(-(2**65), 2**65), st.booleans()),
    st.lists(st.integers(-3, 9), max_size=3).map(tuple),
)


@given(
    cai=st.dictionaries(
        st.sampled_from(["shape", "typestr", "data", "strides", "mask", "version"]), _values
    ),
    typestr=st.sampled_from(["<f8", "<i4", "|b1", "zz", None]),
)
def test_crafted_cuda_interface_never_crashes(cai, typestr):
    cai.pop("typestr", None)  # never float32: with CUDA built its slot is filled
    if typestr is not None:
        cai["typestr"] = typestr

    class Crafted:
        __cuda_array_interface__ = cai

    # float64 (or no valid dtype): no CUDA kernel is ever reached, so a pointer is never used
    y = Crafted()
    with pytest.raises((TypeError, ValueError, NotImplementedError)):
        _C.axpy(1.0, Crafted(), y)
