"""Property-based fuzzing of the affine warp behind RandomRotation / RandomTranslation /
RandomZoom (see [Note: fuzz budget] in conftest.py): random batches, sizes (1 and odd ones),
transforms (rotations, shears, large shifts that leave the image), fill modes and both
interpolations, against a per-pixel float64 reference written from the formula."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from augment_reference import warp_reference  # noqa: E402
from deepcore.nn.layers.augmentation import affine_warp  # noqa: E402
from deepcore.tensor import Tensor  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def problems(draw):
    n = draw(st.integers(1, 3))
    h = draw(st.sampled_from([1, 2, 3, 5, 8]))
    w = draw(st.sampled_from([1, 2, 4, 7]))
    c = draw(st.sampled_from([1, 3]))
    rows = np.array(
        [[draw(st.floats(-2, 2)), draw(st.floats(-2, 2)), draw(st.floats(-20, 20)),
          draw(st.floats(-2, 2)), draw(st.floats(-2, 2)), draw(st.floats(-20, 20))]
         for _ in range(n)]
    )  # fmt: skip
    return dict(
        shape=(n, h, w, c),
        rows=rows,
        interpolation=draw(st.sampled_from(["bilinear", "nearest"])),
        mode=draw(st.sampled_from(["reflect", "wrap", "nearest", "constant"])),
        fill=draw(st.sampled_from([0.0, -3.5])),
        seed=draw(st.integers(0, 2**16)),
    )


@given(problems())
def test_fuzz_affine_warp(p):
    x = np.random.default_rng(p["seed"]).normal(size=p["shape"])
    got = affine_warp(Tensor(x), p["rows"], p["interpolation"], p["mode"], p["fill"]).numpy()
    want = warp_reference(x, p["rows"], p["interpolation"], p["mode"], p["fill"])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
