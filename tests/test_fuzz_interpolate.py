"""Property-based fuzzing of interpolation and transposed convolution (see [Note: fuzz budget]
in conftest.py): random shapes, sizes, scale factors, modes and align_corners for
F.interpolate, steered into the corners of its index math (output 1, input 1, exact integer
factors that take the repeat paths, out == in with a scale factor, downsampling); random
stride / padding / output_padding (including output_padding >= stride) / groups / dilation for
F.conv_transpose*d. Forward and backward against the float64 NumPy references, the naive
kernels and (when installed) PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
import deepcore as dc  # noqa: E402
import deepcore.nn.functional as F  # noqa: E402
from deepcore import _C  # noqa: E402
from helpers import HAS_TORCH  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from interp_reference import (  # noqa: E402
    conv_transpose_ref,
    interp_backward,
    interp_forward,
    interp_matrices,
)


@st.composite
def interp_problems(draw):
    nsp = draw(st.sampled_from([1, 2]))
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "linear"]))
    ins = tuple(draw(st.one_of(st.just(1), st.integers(1, 9))) for _ in range(nsp))
    how = draw(st.sampled_from(["size", "int factor", "float factor"]))
    scales = None
    if how == "size":
        out = tuple(draw(st.one_of(st.just(1), st.just(n), st.integers(1, 19))) for n in ins)
        size, factor = out, None
    else:
        if how == "int factor":
            f = tuple(float(draw(st.integers(1, 4))) for _ in ins)
        else:
            f = tuple(draw(st.sampled_from([0.5, 0.75, 1.2, 1.5, 1.7, 2.5, 3.3])) for _ in ins)
        out = tuple(int(np.floor(n * s)) for n, s in zip(ins, f))
        if min(out) < 1:
            f = tuple(max(s, 1.0) for s in f)
            out = tuple(int(np.floor(n * s)) for n, s in zip(ins, f))
        size, factor, scales = None, f, f
    align = draw(st.booleans()) if mode == "linear" else None
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return dict(
        shape=(N, C, *ins),
        out=out,
        size=size,
        factor=factor,
        scales=scales,
        mode=mode,
        align=align,
        dtype=draw(st.sampled_from([np.float32, np.float64])),
    )


@given(interp_problems(), st.integers(0, 2**32 - 1))
def test_fuzz_interpolate(p, seed):
    rng = np.random.default_rng(seed)
    dt = p["dtype"]
    x = rng.standard_normal(p["shape"]).astype(dt)
    nsp = len(p["shape"]) - 2
    mode = p["mode"]
    public = "bilinear" if mode == "linear" and nsp == 2 else mode
    xt = dc.tensor(x, requires_grad=True)
    y = F.interpolate(
        xt, size=p["size"], scale_factor=p["factor"], mode=public, align_corners=p["align"]
    )
    Ms = interp_matrices(x.shape, p["out"], mode, bool(p["align"]), p["scales"])
    x64 = x.astype(np.float64)
    # (float32 weights come from float32 source coordinates, as in PyTorch)
    tol = dict(rtol=1e-4, atol=1e-4) if dt == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(y.detach().numpy(), interp_forward(x64, Ms), **tol)
    g = rng.standard_normal(y.shape).astype(dt)
    y.backward(g)
    np.testing.assert_allclose(
        xt.grad.detach().numpy(), interp_backward(g.astype(np.float64), Ms), **tol
    )
    args = (mode, bool(p["align"]), p["scales"])
    np.testing.assert_allclose(
        y.detach().numpy(), _C.interpolate_forward(x, p["out"], *args, reference=True), **tol
    )
    if HAS_TORCH:
        import torch

        xq = torch.tensor(x64, requires_grad=True)
        yq = torch.nn.functional.interpolate(
            xq, size=p["size"], scale_factor=p["factor"], mode=public, align_corners=p["align"]
        )
        # (float64 on both sides: the nearest source indices must agree exactly)
        y64 = F.interpolate(
            dc.tensor(x64),
            size=p["size"],
            scale_factor=p["factor"],
            mode=public,
            align_corners=p["align"],
        )
        np.testing.assert_allclose(
            y64.detach().numpy(), yq.detach().numpy(), rtol=1e-12, atol=1e-13
        )


@st.composite
def transpose_problems(draw):
    nsp = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    cog = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nsp))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    dil = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    opad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dil))
    ins = tuple(draw(st.integers(1, 5)) for _ in range(nsp))
    # padding small enough for a positive output
    pad = []
    for i in range(nsp):
        full = (ins[i] - 1) * stride[i] + dil[i] * (k[i] - 1) + opad[i] + 1
        pad.append(draw(st.integers(0, max((full - 1) // 2, 0))))
    return dict(
        x=(draw(st.integers(1, 2)), cin, *ins),
        w=(cin, cog, *k),
        stride=stride,
        padding=tuple(pad),
        opad=opad,
        groups=groups,
        dil=dil,
        bias=draw(st.booleans()),
    )


@given(transpose_problems(), st.integers(0, 2**32 - 1))
def test_fuzz_conv_transpose(p, seed):
    rng = np.random.default_rng(seed)
    nsp = len(p["x"]) - 2
    x = rng.standard_normal(p["x"])
    w = rng.standard_normal(p["w"])
    b = rng.standard_normal(p["w"][1] * p["groups"]) if p["bias"] else None
    fn = F.conv_transpose2d if nsp == 2 else F.conv_transpose1d
    geo = (p["stride"], p["padding"], p["opad"], p["groups"], p["dil"])
    xt, wt = dc.tensor(x, requires_grad=True), dc.tensor(w, requires_grad=True)
    bt = None if b is None else dc.tensor(b, requires_grad=True)
    y = fn(xt, wt, bt, *geo)
    want = conv_transpose_ref(x, w, b, *geo)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    # gradients: the reference is linear in x and in w, so its vjp is the same map's adjoint;
    # compared with PyTorch when installed, else by a directional finite difference
    if HAS_TORCH:
        import torch

        tf = (
            torch.nn.functional.conv_transpose2d
            if nsp == 2
            else torch.nn.functional.conv_transpose1d
        )
        xq, wq = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        bq = None if b is None else torch.tensor(b, requires_grad=True)
        tf(xq, wq, bq, *geo).backward(torch.tensor(g))
        np.testing.assert_allclose(
            xt.grad.detach().numpy(), xq.grad.detach().numpy(), rtol=1e-10, atol=1e-10
        )
        np.testing.assert_allclose(
            wt.grad.detach().numpy(), wq.grad.detach().numpy(), rtol=1e-10, atol=1e-10
        )
        if b is not None:
            np.testing.assert_allclose(
                bt.grad.detach().numpy(), bq.grad.detach().numpy(), rtol=1e-10, atol=1e-10
            )
    dx, dw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    lin = (conv_transpose_ref(dx, w, None, *geo) * g).sum() + (
        conv_transpose_ref(x, dw, None, *geo) * g
    ).sum()
    got = (xt.grad.detach().numpy() * dx).sum() + (wt.grad.detach().numpy() * dw).sum()
    np.testing.assert_allclose(got, lin, rtol=1e-9, atol=1e-9)
