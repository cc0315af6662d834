"""Property-based tests of conv1d / conv2d: random geometry, every algorithm forced (direct,
im2col, implicit, reference, auto), forward (plain and with the fused ReLU), dx, dw and db
against the float64 NumPy reference of tests/conv_reference.py. The budget (examples, seed) is
the profile of tests/conftest.py [Note: fuzz budget].

Each axis is drawn from one of the corner regions where conv index math goes wrong:
  exact - stride > 2 * padding and (in - kernel extent) a multiple of the stride: the padded
          extent equals the input (issue 9 High 1: im2col read such inputs unpadded);
  fill  - the kernel covers the whole padded input (one output position);
  one   - an input of size 1;
  any   - anything valid, 'same' / 'valid' / 'full' padding included;
plus batch 1, one channel, groups (depthwise too), and long rows for conv1d (>= 2048 output
positions: the banded im2col path)."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from conv_reference import check_conv, np_conv
from deepcore.autograd import backward
from helpers import assert_close_rel

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

K = dc.kernels
ALL_ALGOS = ["direct", "im2col", "implicit", "reference", "auto"]
REGIONS = ["exact", "fill", "one", "any"]


@st.composite
def axis(draw, region: str, long: bool = False, small: bool = False):
    """(in, kernel, stride, padding, dilation) along one axis, in `region`; `small`: kernels
    of at most 3 taps and inputs at most 6 past the smallest (for 3-D volumes)."""
    k = draw(st.integers(1, 3 if small else 5))
    dil = draw(st.sampled_from([1, 1, 2, 3])) if k > 1 else 1
    ext = dil * (k - 1) + 1
    if region == "exact":
        pad = draw(st.integers(0, 2))
        stride = draw(st.integers(2 * pad + 1, 2 * pad + 4))
        n = ext + draw(st.integers(0, 3)) * stride
    elif region == "fill":
        pad = draw(st.integers(0, (ext - 1) // 2))
        stride = draw(st.integers(1, 4))
        n = ext - 2 * pad
    elif region == "one":
        pad = draw(st.integers((ext - 1 + 1) // 2, (ext - 1 + 1) // 2 + 2))
        stride = draw(st.integers(1, 3))
        n = 1
    else:
        pad = draw(st.integers(0, 3))
        stride = draw(st.integers(1, 5))
        lo = max(1, ext - 2 * pad)
        n = (
            draw(st.integers(2048, 2200))
            if long
            else draw(st.integers(lo, lo + (6 if small else 12)))
        )
    return n, k, stride, pad, dil


@st.composite
def channels(draw, small: bool = False, wide: bool = False):
    """(N, C, K, groups): batch 1 and one channel often; groups and depthwise. `small`: one
    image and few channels (for long rows). `wide`: many output channels a group (or input
    channels, for the dX), as the 3-D channel-vector tiles need to fill their lanes."""
    if small:
        groups = draw(st.sampled_from([1, 2]))
        return 1, groups * draw(st.integers(1, 2)), groups * draw(st.sampled_from([1, 8])), groups
    if wide:
        groups = draw(st.sampled_from([1, 1, 2]))
        many, few = draw(st.integers(12, 40)), draw(st.integers(1, 3))
        cg, kg = (few, many) if draw(st.booleans()) else (many, few)
        return draw(st.sampled_from([1, 2])), groups * cg, groups * kg, groups
    n = draw(st.sampled_from([1, 1, 2, 3]))
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    cg = draw(st.sampled_from([1, 1, 2, 3]))
    kg = draw(st.sampled_from([1, 2, 3, 8]))  # 8+ output channels: auto picks im2col
    if draw(st.booleans()) and draw(st.booleans()):  # depthwise
        groups, cg = groups * cg, 1
    return n, groups * cg, groups * kg, groups


@st.composite
def conv2d_configs(draw):
    (n, c, kc, groups) = draw(channels())
    h = draw(axis(draw(st.sampled_from(REGIONS))))
    w = draw(axis(draw(st.sampled_from(REGIONS))))
    padding = (h[3], w[3])
    if draw(st.integers(0, 4)) == 0:  # a mode string instead (valid by construction below)
        padding = draw(st.sampled_from(["same", "full", "valid"]))
        if padding == "valid" and any(a[0] < a[4] * (a[1] - 1) + 1 for a in (h, w)):
            padding = "same"
    return (n, c, (h[0], w[0]), kc, (h[1], w[1]), (h[2], w[2]), padding, (h[4], w[4]), groups)


@st.composite
def conv1d_configs(draw):
    region = draw(st.sampled_from(REGIONS + ["long"]))
    (n, c, kc, groups) = draw(channels(small=region == "long"))
    a = draw(axis("any" if region == "long" else region, long=region == "long"))
    padding = a[3] if draw(st.integers(0, 4)) else "same"
    return (n, c, (1, a[0]), kc, (1, a[1]), (1, a[2]), (0, padding), (1, a[4]), groups)


@st.composite
def conv3d_configs(draw, wide: bool = False):
    (n, c, kc, groups) = draw(channels(wide=wide))
    axes = [draw(axis(draw(st.sampled_from(REGIONS)), small=True)) for _ in range(3)]
    padding = tuple(a[3] for a in axes)
    if draw(st.integers(0, 4)) == 0:
        padding = draw(st.sampled_from(["same", "full", "valid"]))
        if padding == "valid" and any(a[0] < a[4] * (a[1] - 1) + 1 for a in axes):
            padding = "same"
    size, k, stride, _, dil = (tuple(a[i] for a in axes) for i in range(5))
    return (n, c, size, kc, k, stride, padding, dil, groups)


DTYPES = st.sampled_from([np.float32, np.float64])


@given(cfg=conv2d_configs(), dtype=DTYPES)
def test_fuzz_conv2d(cfg, dtype):
    check_conv(cfg, dtype, ALL_ALGOS, relu=True)


@given(cfg=conv1d_configs(), dtype=DTYPES)
def test_fuzz_conv1d(cfg, dtype):
    check_conv(cfg, dtype, ALL_ALGOS, nsp=1, relu=True)


@given(cfg=conv3d_configs(), dtype=DTYPES)
def test_fuzz_conv3d(cfg, dtype):
    """conv3d's vol2col + GEMM, its implicit GEMM (direct) and the reference kernels in the
    same corner regions per axis, all three axes drawn independently."""
    check_conv(cfg, dtype, ["direct", "im2col", "reference"], nsp=3, relu=True)


@given(cfg=conv3d_configs(wide=True), dtype=DTYPES)
def test_fuzz_conv3d_wide_channels(cfg, dtype):
    """The same with 12-40 channels on one side: the implicit GEMM's channel-vector tiles
    ([Note: channel-vector tiles] in csrc/conv.cpp) where its rule picks them."""
    check_conv(cfg, dtype, ["direct", "auto"], nsp=3, relu=True)


@given(cfg=conv2d_configs(), algo=st.sampled_from(ALL_ALGOS))
def test_fuzz_conv2d_fused_relu_autograd(cfg, algo):
    """F.conv2d(activation='relu') end to end: y = max(conv, 0), its gradients through the
    fused backward (gy masked by y > 0), float64."""
    N, C, sp, Kc, k, stride, padding, dil, groups = cfg
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s) for s in ((N, C) + sp, (Kc, C // groups) + k, (Kc,)))
    y_ref, grads = np_conv(x, w, b, stride, padding, dil, groups)
    tx, tw, tb = (dc.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(tx, tw, tb, stride, padding, dil, groups, algo=algo, activation="relu")
    assert_close_rel(y.detach().numpy(), np.maximum(y_ref, 0), 1e-12, "y")
    gy = rng.standard_normal(y_ref.shape)
    backward([y], [gy])
    dx, dw, db = grads(gy * (y_ref > 0))
    for got, want, name in [(tx.grad, dx, "dx"), (tw.grad, dw, "dw"), (tb.grad, db, "db")]:
        assert_close_rel(got.numpy(), want, 1e-11, name)


HUGE = st.one_of(st.integers(1, 4), st.integers(1, 2**63 - 1), st.sampled_from([2**31, 2**61]))


@given(
    n=st.integers(1, 9),
    k=st.integers(1, 4),
    pad=st.integers(0, 3),
    stride=HUGE,
    dil=HUGE,
    algo=st.sampled_from(ALL_ALGOS),
)
def test_fuzz_huge_strides_and_dilations(n, k, pad, stride, dil, algo):
    """Any int64 stride or dilation: a ValueError exactly when the dilated kernel does not fit
    the padded input (or its extent overflows), else the reference's answer; never a crash."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, n)), rng.standard_normal((4, 3, k))
    fits = dil * (k - 1) + 1 <= n + 2 * pad  # Python ints: exact
    if not fits:
        with pytest.raises(ValueError, match="dilation|kernel is larger"):
            K.conv1d_forward(x, w, None, stride, pad, dil, 1, algo)
        return
    y = K.conv1d_forward(x, w, None, stride, pad, dil, 1, algo)
    y_ref, grads = np_conv(x, w, None, stride, pad, dil, 1)
    assert_close_rel(y, y_ref, 1e-12, "y")
    dx_ref, dw_ref, _ = grads(y)
    assert_close_rel(K.conv1d_backward_input(y, w, x.shape, stride, pad, dil, 1, algo), dx_ref,
                     1e-12, "dx")  # fmt: skip
    dw, _ = K.conv1d_backward_weight(x, y, w.shape, stride, pad, dil, 1, algo)
    assert_close_rel(dw, dw_ref, 1e-12, "dw")
