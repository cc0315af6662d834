"""Property-based fuzzing (see [Note: fuzz budget] in conftest.py) of keras.ops.lu_factor
(csrc/lu.h): small integer matrices, so ties between pivot candidates, zero columns and
singular matrices are common. The pivots must equal the float64 reference of
tests/test_lu_factor.py (the first largest magnitude wins a tie, as LAPACK's idamax), the
multipliers be at most 1 in magnitude, and P·L·U reproduce the matrix."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from deepcore import ops  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_lu_factor import _reconstruct, lu_reference  # noqa: E402

dims = st.integers(1, 6)
lead = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


@given(lead, dims, dims, st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_fuzz_lu_factor_invariants(shape, m, n, spread, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-spread, spread + 1, size=(*shape, m, n)).astype(np.float64)
    lu, piv = ops.lu_factor(x)
    ref_lu, ref_piv, _ = lu_reference(x)
    np.testing.assert_array_equal(piv.data, ref_piv)
    np.testing.assert_allclose(lu.data, ref_lu, rtol=1e-12, atol=1e-12)
    assert np.all(np.abs(np.tril(lu.data, -1)) <= 1.0)
    k = min(m, n)
    assert np.all((piv.data >= np.arange(k)) & (piv.data < m))
    prod, rows = _reconstruct(lu.data, piv.data)
    np.testing.assert_allclose(prod, np.take_along_axis(x, rows[..., :, None], -2), atol=1e-9)
