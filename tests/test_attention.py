"""Fused scaled dot-product attention (csrc/attention.h, F.scaled_dot_product_attention):
the kernel against the materialised float64 reference on every CPU variant, PyTorch parity in
float64 (values and dq, dk, dv), finite differences, masks, fully masked rows, dropout, strided
operands, memory at L = 8192, bad inputs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from deepcore import _C
from helpers import HAS_TORCH, gradcheck, requires_torch

SDPA = F.scaled_dot_product_attention


def _qkv(B, H, Lq, Lk, D, Dv=None, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    Dv = D if Dv is None else Dv
    q = rng.standard_normal((B, H, Lq, D)).astype(dtype)
    k = rng.standard_normal((B, H, Lk, D)).astype(dtype)
    v = rng.standard_normal((B, H, Lk, Dv)).astype(dtype)
    return q, k, v


def _mask(kind, B, H, Lq, Lk, dtype, seed=1):
    """A mask of `kind` broadcastable to (B, H, Lq, Lk); every row keeps at least one key."""
    rng = np.random.default_rng(seed)
    if kind is None:
        return None
    if kind == "bool_full":
        m = rng.random((B, H, Lq, Lk)) > 0.4
    elif kind == "bool_keys":  # key padding, (B, 1, 1, Lk)
        m = rng.random((B, 1, 1, Lk)) > 0.4
    elif kind == "bool_2d":  # (Lq, Lk), shared by batch and heads
        m = rng.random((Lq, Lk)) > 0.4
    elif kind == "float_full":
        return rng.standard_normal((B, H, Lq, Lk)).astype(dtype)
    elif kind == "float_heads":  # (H, Lq, Lk) bias, e.g. relative positions
        return rng.standard_normal((H, Lq, Lk)).astype(dtype)
    elif kind == "float_neginf":  # additive -inf entries
        m = np.where(rng.random((B, 1, Lq, Lk)) > 0.4, 0.0, -np.inf).astype(dtype)
        m[..., 0] = 0.0
        return m
    else:
        raise ValueError(kind)
    m[..., 0] = True
    return m


def _tols(dtype):
    return dict(rtol=1e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)


# Shapes (B, H, Lq, Lk, D, Dv): 1s, odd and prime lengths, Lq != Lk both ways, D from 1 to 128,
# Dv != D, lengths crossing the 64-row query block and 256-key block.
KERNEL_CASES = [
    (1, 1, 1, 1, 1, 1),
    (1, 1, 5, 7, 3, 2),
    (2, 3, 13, 13, 8, 8),
    (1, 2, 67, 31, 16, 16),
    (1, 1, 31, 67, 5, 9),
    (2, 1, 97, 263, 64, 64),
    (1, 1, 70, 41, 128, 128),
    (1, 2, 129, 130, 33, 7),
]
MASKS = [None, "bool_full", "bool_keys", "bool_2d", "float_full", "float_heads", "float_neginf"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", KERNEL_CASES)
def test_kernel_matches_reference(shape, dtype, cpu_capability):
    B, H, Lq, Lk, D, Dv = shape
    q, k, v = _qkv(*shape, dtype=dtype)
    go = np.random.default_rng(5).standard_normal((B, H, Lq, Dv)).astype(dtype)
    for causal in (False, True):
        o, lse = _C.attention_forward(q, k, v, None, causal)
        np.testing.assert_allclose(
            o, _C.attention_forward_ref(q, k, v, None, causal), **_tols(dtype)
        )
        got = _C.attention_backward(go, q, k, v, o, lse, None, causal)
        want = _C.attention_backward_ref(go, q, k, v, None, causal)
        for name, a, b in zip("qkv", got, want):
            np.testing.assert_allclose(a, b, err_msg=f"d{name}", **_tols(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", MASKS[1:])
def test_kernel_masks_match_reference(kind, dtype, cpu_capability):
    B, H, Lq, Lk, D = 2, 3, 70, 45, 12
    q, k, v = _qkv(B, H, Lq, Lk, D, dtype=dtype)
    m = _mask(kind, B, H, Lq, Lk, dtype)
    go = np.random.default_rng(5).standard_normal((B, H, Lq, D)).astype(dtype)
    for causal in (False, True):
        o, lse = _C.attention_forward(q, k, v, m, causal, 0.3)
        np.testing.assert_allclose(
            o, _C.attention_forward_ref(q, k, v, m, causal, 0.3), **_tols(dtype)
        )
        got = _C.attention_backward(go, q, k, v, o, lse, m, causal, 0.3)
        want = _C.attention_backward_ref(go, q, k, v, m, causal, 0.3)
        for name, a, b in zip("qkv", got, want):
            np.testing.assert_allclose(a, b, err_msg=f"d{name}", **_tols(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_dropout_matches_reference(dtype, cpu_capability):
    # the reference draws the same counter-hash mask, so the two agree element for element
    for shape, causal, mask in [
        ((2, 2, 37, 300, 8, 8), False, None),
        ((1, 1, 130, 130, 16, 4), True, "bool_keys"),
    ]:
        q, k, v = _qkv(*shape, dtype=dtype)
        B, H, Lq, Lk, _, Dv = shape
        m = _mask(mask, B, H, Lq, Lk, dtype)
        go = np.random.default_rng(5).standard_normal((B, H, Lq, Dv)).astype(dtype)
        o, lse = _C.attention_forward(q, k, v, m, causal, None, 0.3, 1234)
        np.testing.assert_allclose(
            o, _C.attention_forward_ref(q, k, v, m, causal, None, 0.3, 1234), **_tols(dtype)
        )
        got = _C.attention_backward(go, q, k, v, o, lse, m, causal, None, 0.3, 1234)
        want = _C.attention_backward_ref(go, q, k, v, m, causal, None, 0.3, 1234)
        for name, a, b in zip("qkv", got, want):
            np.testing.assert_allclose(a, b, err_msg=f"d{name}", **_tols(dtype))


# ------------------------------------------------------------------------------ PyTorch parity
def _torch_sdpa(q, k, v, mask=None, causal=False, scale=None, go=None):
    """PyTorch's output and (dq, dk, dv) for cotangent go, in float64. A causal call with a
    mask becomes one combined boolean/additive mask (PyTorch refuses both at once)."""
    import torch

    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tm = None if mask is None else torch.tensor(mask)
    if causal and tm is not None:
        tri = torch.ones(q.shape[2], k.shape[2], dtype=torch.bool).tril()
        tm = tm & tri if tm.dtype == torch.bool else tm.masked_fill(~tri, float("-inf"))
        causal = False
    out = torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, attn_mask=tm, is_causal=causal, scale=scale
    )
    out.backward(torch.tensor(go))
    return out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


def _ours(q, k, v, mask=None, causal=False, scale=None, go=None, dropout_p=0.0):
    tq, tk, tv = (dc.tensor(a, requires_grad=True) for a in (q, k, v))
    out = SDPA(tq, tk, tv, attn_mask=mask, is_causal=causal, scale=scale, dropout_p=dropout_p)
    (out * dc.tensor(go)).sum().backward()
    return out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


TORCH_CASES = [
    (1, 1, 1, 1, 1, 1),
    (2, 3, 7, 7, 1, 1),
    (1, 2, 13, 29, 3, 5),
    (2, 1, 31, 17, 32, 16),
    (1, 1, 97, 97, 64, 64),
    (1, 2, 67, 131, 128, 128),
]


@requires_torch
@pytest.mark.parametrize("shape", TORCH_CASES)
def test_torch_parity_float64(shape):
    B, H, Lq, Lk, D, Dv = shape
    q, k, v = _qkv(*shape, seed=sum(shape))
    go = np.random.default_rng(3).standard_normal((B, H, Lq, Dv))
    for causal in (False, True):
        for scale in (None, 0.7):
            ours = _ours(q, k, v, causal=causal, scale=scale, go=go)
            ref = _torch_sdpa(q, k, v, causal=causal, scale=scale, go=go)
            for name, a, b in zip(("out", "dq", "dk", "dv"), ours, ref):
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=name)


@requires_torch
@pytest.mark.parametrize("kind", MASKS[1:])
def test_torch_parity_masks(kind):
    B, H, Lq, Lk, D = 2, 2, 23, 37, 8
    q, k, v = _qkv(B, H, Lq, Lk, D, seed=7)
    m = _mask(kind, B, H, Lq, Lk, np.float64)
    go = np.random.default_rng(3).standard_normal((B, H, Lq, D))
    for causal in (False, True):
        ours = _ours(q, k, v, m, causal, go=go)
        ref = _torch_sdpa(q, k, v, m, causal, go=go)
        for name, a, b in zip(("out", "dq", "dk", "dv"), ours, ref):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=f"{kind} {name}")


@requires_torch
def test_torch_parity_float32():
    # float32 against PyTorch's float32, both judged against the float64 truth
    q, k, v = _qkv(2, 4, 300, 300, 64, seed=11)
    go = np.random.default_rng(3).standard_normal(q.shape)
    truth = _torch_sdpa(q, k, v, causal=True, go=go)
    f32 = [a.astype(np.float32) for a in (q, k, v, go)]
    ours = _ours(*f32[:3], causal=True, go=f32[3])
    theirs = _torch_sdpa(*f32[:3], causal=True, go=f32[3])
    for name, a, b, t in zip(("out", "dq", "dk", "dv"), ours, theirs, truth):
        assert a.dtype == np.float32
        err, perr = np.abs(a - t).max(), np.abs(b - t).max()
        assert err <= 2 * perr + 1e-6, f"{name}: ours {err:.2e} vs PyTorch {perr:.2e}"


# ------------------------------------------------------------------------------ fully masked rows
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fully_masked_rows_give_zeros(dtype):
    B, H, Lq, Lk, D = 2, 2, 9, 11, 4
    q, k, v = _qkv(B, H, Lq, Lk, D, dtype=dtype)
    keep = np.ones((B, 1, Lq, Lk), bool)
    keep[0, 0, 3] = False  # row 3 of batch 0 sees nothing
    keep[1, 0, :, :] = False  # batch 1 sees nothing at all
    add = np.where(keep, 0.0, -np.inf).astype(dtype)
    for m in (keep, add):
        tq, tk, tv = (dc.tensor(a, requires_grad=True) for a in (q, k, v))
        out = SDPA(tq, tk, tv, attn_mask=m)
        go = np.ones(out.shape, dtype)
        (out * dc.tensor(go)).sum().backward()
        o = out.detach().numpy()
        assert np.all(np.isfinite(o)) and np.all(o[0, :, 3] == 0) and np.all(o[1] == 0)
        for t in (tq, tk, tv):
            assert np.all(np.isfinite(t.grad.numpy()))
        assert np.all(tq.grad.numpy()[0, :, 3] == 0) and np.all(tq.grad.numpy()[1] == 0)
        assert np.all(tk.grad.numpy()[1] == 0) and np.all(tv.grad.numpy()[1] == 0)
        # the other rows are ordinary attention
        np.testing.assert_allclose(o, _C.attention_forward_ref(q, k, v, m), **_tols(dtype))
        if HAS_TORCH and dtype == np.float64:
            ref = _torch_sdpa(
                q[:1], k[:1], v[:1], keep[:1] | (np.arange(Lq) != 3)[:, None], go=go[:1]
            )
            rows = np.arange(Lq) != 3
            np.testing.assert_allclose(o[0][:, rows], ref[0][0][:, rows], rtol=1e-9, atol=1e-11)


def test_zero_length_keys_give_zeros():
    q, k, v = _qkv(2, 1, 3, 0, 4, 5)
    tq, tk, tv = (dc.tensor(a, requires_grad=True) for a in (q, k, v))
    out = SDPA(tq, tk, tv)
    assert out.shape == (2, 1, 3, 5) and np.all(out.detach().numpy() == 0)
    out.sum().backward()
    assert np.all(tq.grad.numpy() == 0) and tk.grad.shape == (2, 1, 0, 4)


@pytest.mark.parametrize(
    "shape", [(0, 2, 3, 3, 4, 4), (2, 0, 3, 3, 4, 4), (1, 2, 0, 5, 4, 4), (1, 1, 4, 5, 3, 0)]
)
def test_empty_shapes(shape):
    q, k, v = _qkv(*shape)
    tq, tk, tv = (dc.tensor(a, requires_grad=True) for a in (q, k, v))
    out = SDPA(tq, tk, tv)
    B, H, Lq, Lk, D, Dv = shape
    assert out.shape == (B, H, Lq, Dv)
    out.sum().backward()
    for t in (tq, tk, tv):
        assert t.grad.shape == t.shape and np.all(t.grad.numpy() == 0)


# ------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize(
    "shape,mask,causal",
    [
        ((1, 2, 3, 4, 2, 3), None, False),
        ((1, 1, 4, 4, 3, 2), None, True),
        ((2, 1, 3, 5, 2, 2), "bool_keys", False),
        ((1, 2, 4, 3, 2, 2), "float_heads", True),
    ],
)
def test_gradcheck(shape, mask, causal):
    B, H, Lq, Lk, D, Dv = shape
    q, k, v = _qkv(*shape, seed=4)
    m = _mask(mask, B, H, Lq, Lk, np.float64)
    gradcheck(lambda a, b, c: SDPA(a, b, c, attn_mask=m, is_causal=causal), [q, k, v])


def test_gradcheck_with_dropout():
    # The same seed before every evaluation gives the same dropout mask, so finite differences
    # of the dropped-out function check that backward regenerates forward's mask.
    q, k, v = _qkv(1, 2, 4, 5, 3, 2, seed=9)

    def f(a, b, c):
        dc.manual_seed(123)
        return SDPA(a, b, c, dropout_p=0.4)

    gradcheck(f, [q, k, v])


# ------------------------------------------------------------------------------ dropout
def test_dropout_determinism_and_rate():
    q, k, v = _qkv(2, 2, 64, 64, 8, dtype=np.float32)
    dc.manual_seed(5)
    a = SDPA(q, k, v, dropout_p=0.5).numpy()
    dc.manual_seed(5)
    b = SDPA(q, k, v, dropout_p=0.5).numpy()
    c = SDPA(q, k, v, dropout_p=0.5).numpy()  # the next seed: a different mask
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # v = identity columns reads the dropped probabilities back: about half are zero
    eye = np.broadcast_to(np.eye(64, dtype=np.float32), (2, 2, 64, 64)).copy()
    p = SDPA(q, k, eye, dropout_p=0.5).numpy()
    frac = np.mean(p == 0)
    assert 0.45 < frac < 0.55, frac
    # and the kept ones are the softmax probabilities scaled by 1/(1 - p)
    full = SDPA(q, k, eye).numpy()
    kept = p != 0
    np.testing.assert_allclose(p[kept], 2 * full[kept], rtol=1e-5)
    # p = 0 is exact attention
    np.testing.assert_array_equal(SDPA(q, k, v, dropout_p=0.0).numpy(), SDPA(q, k, v).numpy())


# ------------------------------------------------------------------------------ layouts
def test_strided_heads_read_in_place():
    # heads split out of a (B, L, H, D) projection: read through strides, no copy; the output
    # and gradients come back in the same heads-inner memory layout
    B, L, H, D = 2, 19, 3, 8
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((B, L, H, D)) for _ in range(3)]
    views = [a.transpose(0, 2, 1, 3) for a in x]
    conts = [np.ascontiguousarray(a) for a in views]
    tv = [dc.tensor(a, requires_grad=True) for a in views]
    tc = [dc.tensor(a, requires_grad=True) for a in conts]
    ov, oc = SDPA(*tv, is_causal=True), SDPA(*tc, is_causal=True)
    assert ov.detach().numpy().transpose(0, 2, 1, 3).flags.c_contiguous
    np.testing.assert_allclose(ov.detach().numpy(), oc.detach().numpy(), rtol=1e-12, atol=1e-13)
    go = rng.standard_normal(ov.shape)
    (ov * dc.tensor(go)).sum().backward()
    (oc * dc.tensor(go)).sum().backward()
    for a, b in zip(tv, tc):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-13)
    # a strided last axis is copied, not misread
    q2 = np.random.default_rng(1).standard_normal((1, 1, 5, 8))[..., ::2]
    k2, v2 = conts[1][:1, :1, :, :4].copy(), conts[2][:1, :1].copy()
    ref = _C.attention_forward_ref(np.ascontiguousarray(q2), k2, v2)
    np.testing.assert_allclose(SDPA(q2, k2, v2).numpy(), ref, rtol=1e-12)


def test_broadcast_mask_views_are_not_expanded():
    # np.broadcast_to views (stride 0) are read as they are
    B, H, Lq, Lk, D = 2, 2, 6, 7, 4
    q, k, v = _qkv(B, H, Lq, Lk, D)
    m = np.random.default_rng(2).random((1, 1, 1, Lk)) > 0.3
    m[..., 0] = True
    big = np.broadcast_to(m, (B, H, Lq, Lk))
    np.testing.assert_allclose(
        SDPA(q, k, v, attn_mask=big).numpy(), SDPA(q, k, v, attn_mask=m).numpy(), rtol=1e-13
    )


# ------------------------------------------------------------------------------ memory
_MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import deepcore as dc
    import deepcore.nn.functional as F
    from deepcore.nn.functional._attention import _sdpa_materialized
    from deepcore.testing import peak_rss_growth
    if sys.argv[1] == "fused":
        sdpa = F.scaled_dot_product_attention
    else:
        def sdpa(q, k, v, is_causal):
            return _sdpa_materialized(q, k, v, is_causal=is_causal)[0]
    L, D = 8192, 16
    rng = np.random.default_rng(0)
    q, k, v = (dc.tensor(rng.standard_normal((1, 1, L, D), dtype=np.float32), requires_grad=True)
               for _ in range(3))
    small = [dc.tensor(a.numpy()[:, :, :256].copy(), requires_grad=True) for a in (q, k, v)]
    sdpa(*small, is_causal=True).sum().backward()  # warm up
    grown = peak_rss_growth(lambda: sdpa(q, k, v, is_causal=True).sum().backward())
    assert np.isfinite(q.grad.numpy()).all()
    print(grown)
    """
)


def _peak_growth(path: str) -> int:
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, path],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_memory_grows_with_L_not_L_squared():
    # L = 8192: one L x L float32 matrix is 256 MiB; the fused forward + backward must grow the
    # peak resident memory by far less (a fresh process; the peak is reset before the step, so
    # the imports' own peak cannot hide it), while the materialised path, measured the same
    # way, grows by at least one such matrix (the measurement sees what it must)
    one_matrix = 8192 * 8192 * 4
    fused = _peak_growth("fused")
    assert fused < one_matrix / 16, f"fused: peak grew by {fused / 2**20:.1f} MiB"
    materialized = _peak_growth("materialized")
    assert materialized >= one_matrix, f"materialised: {materialized / 2**20:.1f} MiB"


# ------------------------------------------------------------------------------ bad input
def test_bad_inputs():
    q, k, v = _qkv(2, 3, 5, 6, 4, dtype=np.float32)
    with pytest.raises(ValueError, match="4-dimensional"):
        SDPA(q[0], k, v)
    with pytest.raises(ValueError, match="k must be"):
        SDPA(q, k[:1], v)
    with pytest.raises(ValueError, match="k must be"):
        SDPA(q, k[:, :2], v)
    with pytest.raises(ValueError, match="head_dim"):
        SDPA(q, k[..., :3].copy(), v)
    with pytest.raises(ValueError, match="v must be"):
        SDPA(q, k, v[:, :, :4])
    with pytest.raises(TypeError, match="k has dtype float64"):
        SDPA(q, k.astype(np.float64), v)
    with pytest.raises(TypeError, match="v has dtype float64"):
        SDPA(q, k, v.astype(np.float64))
    with pytest.raises(TypeError, match="float32 or float64"):
        SDPA(q.astype(np.int32), k, v)
    with pytest.raises(ValueError, match="does not broadcast"):
        SDPA(q, k, v, attn_mask=np.ones((5, 5), bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        SDPA(q, k, v, attn_mask=np.ones((2, 2, 5, 6), bool))
    with pytest.raises(ValueError, match="at most 4"):
        SDPA(q, k, v, attn_mask=np.ones((1, 2, 3, 5, 6), bool))
    with pytest.raises(TypeError, match="attn_mask must have dtype bool or float32"):
        SDPA(q, k, v, attn_mask=np.ones((5, 6), np.float64))
    with pytest.raises(TypeError, match="attn_mask must have dtype"):
        SDPA(q, k, v, attn_mask=np.ones((5, 6), np.int64))
    with pytest.raises(ValueError, match="dropout_p"):
        SDPA(q, k, v, dropout_p=1.0)
    with pytest.raises(TypeError, match="dropout_p"):
        SDPA(q, k, v, None, True)  # SPEC-style positional is_causal lands in dropout_p
    with pytest.raises(TypeError, match="is_causal"):
        SDPA(q, k, v, is_causal="yes")
    with pytest.raises(ValueError, match="scale must be finite"):
        SDPA(q, k, v, scale=float("nan"))
    with pytest.raises(ValueError, match="requires grad"):
        SDPA(q, k, v, attn_mask=dc.tensor(np.zeros((5, 6), np.float32), requires_grad=True))
    with pytest.raises(TypeError, match="query"):
        SDPA([[1.0]], k, v)
    # the raw kernels check their outputs and the backward's saved arrays
    o, lse = _C.attention_forward(q, k, v)
    with pytest.raises(ValueError, match="out must have shape"):
        _C.attention_forward(q, k, v, out=np.empty((2, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="out must not overlap"):
        _C.attention_forward(q, q, q, out=q)
    with pytest.raises(ValueError, match="lse must have shape"):
        _C.attention_backward(o, q, k, v, o, lse[:, :, :2].copy())
    with pytest.raises(ValueError, match="go must have"):
        _C.attention_backward(o[:, :, :2].copy(), q, k, v, o, lse)


@pytest.mark.parametrize("kind", [None, "bool_keys", "float_neginf"])
def test_materialized_path_matches_fused(kind):
    # the unfused path (layers asked for their scores, the benchmark's baseline) follows the
    # same conventions, fully masked rows included
    from deepcore.nn.functional._attention import _sdpa_materialized

    B, H, Lq, Lk, D = 2, 2, 6, 7, 3
    q, k, v = _qkv(B, H, Lq, Lk, D, seed=3)
    m = _mask(kind, B, H, Lq, Lk, np.float64)
    if kind == "bool_keys":
        m = m.copy()
        m[1] = False  # batch 1: nothing to attend
    go = np.random.default_rng(4).standard_normal((B, H, Lq, D))
    for causal in (False, True):
        fused = _ours(q, k, v, m, causal, go=go)
        tq, tk, tv = (dc.tensor(a, requires_grad=True) for a in (q, k, v))
        out, p = _sdpa_materialized(tq, tk, tv, m, 0.0, causal)
        (out * dc.tensor(go)).sum().backward()
        mat = (out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy())
        for name, a, b in zip(("out", "dq", "dk", "dv"), mat, fused):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)
        assert np.allclose(p.detach().numpy().sum(-1), 1.0) or kind == "bool_keys"
