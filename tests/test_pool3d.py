"""3-D max / average / adaptive / global pooling (F.*_pool3d, separable on the 2-D kernels:
[Note: 3-D pooling by the 2-D kernels]) and the Keras 3-D pooling and shape layers: an
n-d float64 NumPy reference that pools the whole box at once (one strided view per tap, not
separable), over odd sizes, size 1, windows in the padding, ceil_mode, 'same' / 'valid';
indices, ties and NaN against PyTorch; finite differences; bad input."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from deepcore import models
from deepcore.autograd import backward
from deepcore.nn import layers
from helpers import assert_close_rel, gradcheck, requires_torch


def _ntuple(v, n):
    return (v,) * n if isinstance(v, (int, np.integer)) else tuple(v)


def np_pool(x, k, stride, padding, mode, count_include_pad=True, ceil_mode=False, dilation=1):
    """(y, flat argmax within each volume (max) or None, dx_fn) for pooling x (N, C, *sp) with
    a box window (taps `dilation` apart), all taps at once, in float64 (PyTorch's rules for
    ceil_mode)."""
    x = np.asarray(x, np.float64)
    nsp = x.ndim - 2
    sp = x.shape[2:]
    k = _ntuple(k, nsp)
    st = k if stride is None else _ntuple(stride, nsp)
    dl = _ntuple(dilation, nsp)
    ext = [d * (kk - 1) + 1 for d, kk in zip(dl, k)]
    pads = []
    for i, n in enumerate(sp):
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "same":
            total = max((-(-n // st[i]) - 1) * st[i] + ext[i] - n, 0)
            pads.append((total // 2, total - total // 2))
        else:
            p = _ntuple(padding, nsp)[i]
            pads.append((p, p))
    out = []
    for n, (lo, hi), kk, s in zip(sp, pads, ext, st):
        o = (n + lo + hi - kk) // s + 1
        if ceil_mode and (n + lo + hi - kk) % s and o * s < n + lo:
            o += 1
        out.append(o)
    # pad further at the end for ceil_mode windows past the padded input
    extra = [max((o - 1) * s + kk - (n + lo + hi), 0) for o, s, kk, n, (lo, hi) in
             zip(out, st, ext, sp, pads)]  # fmt: skip
    full = [(lo, hi + e) for (lo, hi), e in zip(pads, extra)]
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), *full), constant_values=fill)
    inside = np.pad(np.ones(sp), full)
    padded_box = np.pad(np.ones(sp), pads, constant_values=1.0)
    padded_box = np.pad(padded_box, [(0, e) for e in extra])
    taps = list(np.ndindex(*k))

    def tap(a, t):
        return a[(Ellipsis,) + tuple(slice(ti * d, ti * d + s * (o - 1) + 1, s)
                                     for ti, d, s, o in zip(t, dl, st, out))]  # fmt: skip

    stacked = np.stack([tap(xp, t) for t in taps])
    arg = idx = None
    if mode == "max":
        y = stacked.max(axis=0)
        arg = stacked.argmax(axis=0)
        # flat index within the volume of each window's winner
        grids = np.meshgrid(*[np.arange(o) for o in out], indexing="ij")
        idx = np.zeros(y.shape, np.int64)
        for i, t in enumerate(taps):
            flat = 0
            for ax in range(nsp):
                pos = grids[ax] * st[ax] - pads[ax][0] + t[ax] * dl[ax]
                flat = flat * sp[ax] + pos
            idx = np.where(arg == i, flat, idx)
    else:
        div = sum(tap(padded_box if count_include_pad else inside, t) for t in taps)
        y = stacked.sum(axis=0) / div

    def grad(dy):
        dy = np.asarray(dy, np.float64)
        dxp = np.zeros_like(xp)
        for i, t in enumerate(taps):
            tap(dxp, t)[...] += dy * (arg == i) if mode == "max" else dy / div
        return dxp[(slice(None), slice(None)) + tuple(slice(lo, lo + n) for (lo, _), n in
                                                      zip(pads, sp))]  # fmt: skip

    return y, idx, grad


def np_adaptive3d(x, out, mode):
    """(y, flat argmax) of adaptive pooling with PyTorch's windows, one window at a time."""
    N, C, *sp = x.shape
    y = np.zeros((N, C, *out))
    idx = np.zeros((N, C, *out), np.int64)
    for o in np.ndindex(*out):
        win = tuple(slice(oi * n // m, -(-(oi + 1) * n // m)) for oi, n, m in zip(o, sp, out))
        block = x[(slice(None), slice(None)) + win]
        flat = block.reshape(N, C, -1)
        if mode == "avg":
            y[(Ellipsis,) + o] = flat.mean(-1)
        else:
            a = flat.argmax(-1)
            y[(Ellipsis,) + o] = flat.max(-1)
            local = np.unravel_index(a, block.shape[2:])
            idx[(Ellipsis,) + o] = np.ravel_multi_index(
                tuple(li + w.start for li, w in zip(local, win)), sp
            )
    return y, idx


# (shape, kernel_size, stride, padding, ceil_mode)
CASES = [
    ((2, 3, 5, 6, 7), 2, None, 0, False),
    ((1, 2, 7, 5, 9), (3, 2, 3), (2, 1, 2), (1, 1, 0), False),
    ((2, 1, 4, 4, 4), 3, 1, 1, False),
    ((1, 2, 9, 7, 5), (2, 3, 2), (3, 2, 1), "same", False),
    ((1, 1, 1, 1, 1), 1, None, 0, False),
    ((2, 2, 1, 5, 3), (1, 3, 3), (1, 2, 2), "same", False),
    ((1, 3, 6, 6, 6), 3, 3, "valid", False),
    ((1, 2, 7, 8, 6), (3, 3, 2), 2, (1, 0, 1), True),
    ((2, 2, 5, 5, 5), 2, 2, 0, True),
    ((0, 2, 4, 4, 4), 2, None, 0, False),  # empty batch
]


def _data(shape, dtype, seed=0):
    # distinct values: no ties, so the argmax (and the max's gradient) is unique
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape).astype(dtype) / max(n, 1)


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool3d_against_numpy(case, dtype):
    shape, k, s, p, ceil = case
    x = _data(shape, dtype)
    y_ref, idx_ref, grad = np_pool(x, k, s, p, "max", ceil_mode=ceil)
    t = dc.tensor(x, requires_grad=True)
    y, idx = F.max_pool3d(t, k, s, p, ceil_mode=ceil, return_indices=True)
    assert y.dtype == dtype and y.shape == y_ref.shape
    np.testing.assert_array_equal(y.detach().numpy(), y_ref.astype(dtype))
    np.testing.assert_array_equal(idx.detach().numpy(), idx_ref)
    dy = np.random.default_rng(1).standard_normal(y_ref.shape).astype(dtype)
    backward([y], [dy])
    assert_close_rel(t.grad.numpy(), grad(dy), 1e-6 if dtype == np.float32 else 1e-12)
    # inference: no indices, the same values
    with dc.no_grad():
        y_inf = F.max_pool3d(dc.tensor(x), k, s, p, ceil_mode=ceil)
    np.testing.assert_array_equal(y_inf.numpy(), y_ref.astype(dtype))


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool3d_against_numpy(case, count_include_pad, dtype):
    shape, k, s, p, ceil = case
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    kw = dict(ceil_mode=ceil, count_include_pad=count_include_pad)
    t = dc.tensor(x, requires_grad=True)
    try:
        y = F.avg_pool3d(t, k, s, p, **kw)
    except ValueError as e:  # windows past the padded input with count_include_pad=True
        assert ceil and count_include_pad and "ceil_mode=True" in str(e)
        return
    y_ref, _, grad = np_pool(x, k, s, p, "avg", **kw)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert y.dtype == dtype
    assert_close_rel(y.detach().numpy(), y_ref, tol)
    dy = np.random.default_rng(3).standard_normal(y_ref.shape).astype(dtype)
    backward([y], [dy])
    assert_close_rel(t.grad.numpy(), grad(dy), tol)


@pytest.mark.parametrize("out", [(1, 1, 1), (2, 3, 4), (5, 4, 3), (7, 6, 9), (3, None, 2)])
def test_adaptive_pool3d_against_numpy(out):
    x = _data((2, 3, 5, 4, 7), np.float64)
    full = tuple(n if o is None else o for o, n in zip(out, x.shape[2:]))
    ya, _ = np_adaptive3d(x, full, "avg")
    ym, im = np_adaptive3d(x, full, "max")
    assert_close_rel(F.adaptive_avg_pool3d(dc.tensor(x), out).detach().numpy(), ya, 1e-12)
    y, idx = F.adaptive_max_pool3d(dc.tensor(x), out, return_indices=True)
    np.testing.assert_array_equal(y.detach().numpy(), ym)
    np.testing.assert_array_equal(idx.detach().numpy(), im)


def test_pool3d_gradcheck():
    x = _data((2, 2, 4, 5, 3), np.float64, seed=4)
    gradcheck(lambda x: F.max_pool3d(x, (2, 3, 2), (2, 1, 1), (1, 1, 0)), [x])
    gradcheck(lambda x: F.avg_pool3d(x, 3, 2, 1, count_include_pad=False, ceil_mode=True), [x])
    gradcheck(lambda x: F.avg_pool3d(x, (2, 2, 3), 1, "same"), [x])
    gradcheck(lambda x: F.adaptive_avg_pool3d(x, (3, 2, 2)), [x])
    gradcheck(lambda x: F.adaptive_max_pool3d(x, (3, 4, 2)), [x])
    gradcheck(lambda x: F.global_avg_pool3d(x), [x])


@requires_torch
@pytest.mark.parametrize(
    "shape,kw",
    [
        ((2, 3, 7, 6, 5), dict(kernel_size=3, stride=2, padding=1)),
        ((1, 2, 8, 9, 7), dict(kernel_size=(2, 3, 2), stride=(2, 2, 3), ceil_mode=True)),
        ((2, 2, 5, 5, 5), dict(kernel_size=2, stride=1)),
    ],
)
def test_pool3d_torch_parity_with_ties_and_nan(shape, kw):
    import torch

    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, size=shape).astype(np.float64)  # many ties
    x.flat[rng.choice(x.size, 4, replace=False)] = np.nan
    ty, ti = torch.nn.functional.max_pool3d(torch.tensor(x), return_indices=True, **kw)
    y, i = F.max_pool3d(dc.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(i.detach().numpy(), ti.detach().numpy())
    x = rng.standard_normal(shape)
    for cip in (True, False):
        akw = {k: v for k, v in kw.items()}
        try:
            ta = torch.nn.functional.avg_pool3d(torch.tensor(x), count_include_pad=cip, **akw)
            ours = F.avg_pool3d(dc.tensor(x), count_include_pad=cip, **akw)
        except ValueError:
            assert akw.get("ceil_mode") and cip
            continue
        assert_close_rel(ours.detach().numpy(), ta.detach().numpy(), 1e-12)


@requires_torch
def test_adaptive_pool3d_torch_parity():
    import torch

    rng = np.random.default_rng(6)
    x = rng.integers(0, 4, size=(2, 3, 7, 5, 6)).astype(np.float64)
    x.flat[rng.choice(x.size, 3, replace=False)] = np.nan
    for out in [(3, 2, 4), (1, 1, 1), (9, 5, 7)]:
        ty, ti = torch.nn.functional.adaptive_max_pool3d(torch.tensor(x), out, return_indices=True)
        y, i = F.adaptive_max_pool3d(dc.tensor(x), out, return_indices=True)
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(i.detach().numpy(), ti.detach().numpy())
        xs = rng.standard_normal(x.shape)
        ta = torch.nn.functional.adaptive_avg_pool3d(torch.tensor(xs), out)
        assert_close_rel(
            F.adaptive_avg_pool3d(dc.tensor(xs), out).detach().numpy(), ta.detach().numpy(), 1e-12
        )


def test_pool3d_bad_inputs():
    x = dc.tensor(np.zeros((1, 2, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"5-dimensional \(N, C, D, H, W\)"):
        F.max_pool3d(dc.tensor(np.zeros((1, 2, 4, 4), np.float32)), 2)
    with pytest.raises(ValueError, match=r"5-dimensional \(N, C, D, H, W\)"):
        F.avg_pool3d(dc.tensor(np.zeros((2, 4, 4), np.float32)), 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.max_pool3d(dc.tensor(np.zeros((1, 2, 4, 4, 4), np.int32)), 2)
    with pytest.raises(ValueError, match="kernel_size must be an int or a tuple of 3"):
        F.max_pool3d(x, (2, 2))
    with pytest.raises(ValueError, match="padding must be at most half"):
        F.avg_pool3d(x, 2, padding=(2, 0, 0))
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.max_pool3d(x, (5, 1, 1))
    with pytest.raises(ValueError, match="dilation must be positive"):
        F.max_pool3d(x, 2, dilation=0)
    with pytest.raises(ValueError, match="reads no input element"):
        F.max_pool3d(dc.tensor(np.zeros((1, 1, 2, 4, 4))), (2, 1, 1), 1, (1, 0, 0), dilation=3)
    with pytest.raises(ValueError, match="kernel_size"):
        F.max_pool3d(x, 2**62)
    with pytest.raises(ValueError, match="stride"):
        F.avg_pool3d(x, 2, stride=0)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool3d(x, (2, 2))
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_max_pool3d(x, (2**62, 1, 1))
    with pytest.raises(ValueError, match=r"5-dimensional \(N, C, D, H, W\)"):
        F.global_avg_pool3d(dc.tensor(np.zeros((1, 2, 4, 4), np.float32)))


# ---- layers -------------------------------------------------------------------------------


def test_pooling3d_layers_channels_last():
    x = _data((2, 5, 6, 7, 3), np.float32, seed=7)  # the layers' dtype
    xc = x.transpose(0, 4, 1, 2, 3)
    for cls, mode in [(layers.MaxPooling3D, "max"), (layers.AveragePooling3D, "avg")]:
        for kw in [dict(), dict(pool_size=(3, 2, 2), strides=(2, 1, 3), padding="same")]:
            layer = cls(**kw)
            y = layer(dc.tensor(x)).detach().numpy()
            ref, _, _ = np_pool(xc, layer.pool_size, layer.strides, layer.padding, mode,
                                count_include_pad=False)  # fmt: skip
            assert_close_rel(y, ref.transpose(0, 2, 3, 4, 1), 1e-6)
            assert layer.compute_output_shape((None, 5, 6, 7, 3)) == (None, *y.shape[1:])
    g = layers.GlobalAveragePooling3D()(dc.tensor(x)).detach().numpy()
    assert_close_rel(g, x.mean(axis=(1, 2, 3)), 1e-6)
    g = layers.GlobalMaxPooling3D(keepdims=True)(dc.tensor(x)).detach().numpy()
    np.testing.assert_array_equal(g, x.max(axis=(1, 2, 3), keepdims=True))
    g = layers.GlobalAveragePooling3D(data_format="channels_first")(dc.tensor(xc)).detach().numpy()
    assert_close_rel(g, xc.mean(axis=(2, 3, 4)), 1e-6)


def test_padding_cropping_upsampling_3d():
    x = _data((2, 3, 4, 5, 2), np.float32, seed=8)  # the layers' dtype
    y = layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1)))(dc.tensor(x)).detach().numpy()
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (1, 0), (0, 2), (1, 1), (0, 0))))
    assert layers.ZeroPadding3D(1).compute_output_shape((None, 3, 4, 5, 2)) == (None, 5, 6, 7, 2)
    y = layers.Cropping3D(((1, 0), (1, 2), (0, 1)))(dc.tensor(x)).detach().numpy()
    np.testing.assert_array_equal(y, x[:, 1:, 1:2, 0:4])
    y = layers.UpSampling3D((2, 1, 3))(dc.tensor(x)).detach().numpy()
    np.testing.assert_array_equal(y, x.repeat(2, 1).repeat(3, 3))
    u = layers.UpSampling3D(2, data_format="channels_first")
    assert u.compute_output_shape((None, 2, 3, 4, 5)) == (None, 2, 6, 8, 10)
    for bad in [(2, 2), 1.5, (2, 0, 1), (2, 2, True)]:
        with pytest.raises(ValueError, match="size must be 3 positive integers"):
            layers.UpSampling3D(bad)
    with pytest.raises(ValueError, match="too large"):
        layers.UpSampling3D(2**40)(dc.tensor(x))
    with pytest.raises(ValueError, match="padding must be non-negative"):
        layers.ZeroPadding3D(-1)
    with pytest.raises(ValueError, match="padding must have 3 entries"):
        layers.ZeroPadding3D((1, 2))
    with pytest.raises(ValueError, match="removes more"):
        layers.Cropping3D(2)(dc.tensor(x))


def test_conv3d_pool3d_model_trains(tmp_path):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 6, 6, 6, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3, 4)) > 0).astype(np.float32)[:, None]
    model = models.Sequential([
        layers.Input(shape=(6, 6, 6, 1)), layers.Conv3D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling3D(), layers.Conv3D(4, 2), layers.GlobalAveragePooling3D(),
        layers.Dense(1, activation="sigmoid"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="binary_crossentropy")
    hist = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert model.predict(x, verbose=0).shape == (8, 1)
    # saved and reloaded (Keras kernel layouts of Conv3D in the file), the same predictions
    path = tmp_path / "m.deepcore"
    model.save(path)
    np.testing.assert_allclose(models.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)  # fmt: skip
    m2 = models.Sequential([
        layers.Input(shape=(4, 4, 4, 2)), layers.Conv3DTranspose(3, 2, strides=2),
        layers.UpSampling3D((1, 2, 1)), layers.ZeroPadding3D(1), layers.Cropping3D(1),
        layers.AveragePooling3D(2, padding="same"), layers.GlobalMaxPooling3D(),
    ])  # fmt: skip
    x2 = rng.standard_normal((3, 4, 4, 4, 2)).astype(np.float32)
    assert m2.predict(x2, verbose=0).shape == (3, 3) and m2.output_shape == (None, 3)
    m2.save(tmp_path / "m2.deepcore")
    np.testing.assert_allclose(models.load_model(tmp_path / "m2.deepcore").predict(x2, verbose=0),
                               m2.predict(x2, verbose=0), rtol=1e-6, atol=1e-6)  # fmt: skip


# ---- max pooling dilation (1-D, 2-D, 3-D) --------------------------------------------------

DILATED = [
    ((2, 3, 11), 3, None, 0, 2, False),
    ((2, 3, 12), 2, 1, 1, 3, True),
    ((1, 2, 9, 10), (3, 2), (2, 1), (2, 1), (2, 3), False),
    ((2, 2, 7, 8), 3, 2, 1, 2, True),
    ((1, 2, 13, 6), (2, 3), 1, "same", (4, 1), False),
    ((1, 2, 7, 6, 8), (2, 3, 2), (1, 2, 2), (1, 1, 0), (3, 1, 2), False),
    ((1, 1, 9, 9, 9), 3, 3, 2, 2, True),
    ((1, 2, 9, 10), (3, 2), (2, 1), 1, (2, 3), True),
    ((1, 1, 9, 8, 9), 3, (3, 2, 1), 1, (2, 1, 3), False),
]


@pytest.mark.parametrize("case", DILATED, ids=range(len(DILATED)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dilated_max_pool_against_numpy(case, dtype):
    shape, k, s, p, d, ceil = case
    nsp = len(shape) - 2
    x = _data(shape, dtype, seed=10)
    y_ref, idx_ref, grad = np_pool(x, k, s, p, "max", ceil_mode=ceil, dilation=d)
    t = dc.tensor(x, requires_grad=True)
    y, idx = getattr(F, f"max_pool{nsp}d")(t, k, s, p, d, ceil, return_indices=True)
    np.testing.assert_array_equal(y.detach().numpy(), y_ref.astype(dtype))
    np.testing.assert_array_equal(idx.detach().numpy(), idx_ref)
    dy = np.random.default_rng(11).standard_normal(y_ref.shape).astype(dtype)
    backward([y], [dy])
    assert_close_rel(t.grad.numpy(), grad(dy), 1e-6 if dtype == np.float32 else 1e-12)
    if nsp < 3:  # the naive kernel agrees, and the output shape entry knows the dilation
        K = dc.kernels
        fwd = getattr(K, f"max_pool{nsp}d_forward")
        yn, ixn = fwd(x, k, s, p, reference=True, ceil_mode=ceil, dilation=d)
        np.testing.assert_array_equal(yn, y.detach().numpy())
        np.testing.assert_array_equal(ixn, idx.detach().numpy())
        assert getattr(K, f"pool{nsp}d_output_shape")(shape, k, s, p, ceil, d) == y.shape


def test_dilated_max_pool_gradcheck():
    x = _data((1, 2, 7, 9), np.float64, seed=12)
    gradcheck(lambda t: F.max_pool2d(t, (2, 3), 1, 1, (3, 2)), [x])
    gradcheck(lambda t: F.max_pool1d(t, 3, 2, 1, 2, ceil_mode=True), [x[0]])


@requires_torch
@pytest.mark.parametrize("case", DILATED, ids=range(len(DILATED)))
def test_dilated_max_pool_torch_parity(case):
    import torch

    shape, k, s, p, d, ceil = case
    nsp = len(shape) - 2
    if p == "same":
        pytest.skip("PyTorch has no 'same' pooling")
    if any(pi > ki // 2 for pi, ki in zip(_ntuple(p, nsp), _ntuple(k, nsp))):
        pytest.skip("PyTorch caps padding at half the kernel size (ours: half the extent)")
    rng = np.random.default_rng(13)
    x = rng.integers(0, 3, size=shape).astype(np.float64)  # ties
    ty, ti = getattr(torch.nn.functional, f"max_pool{nsp}d")(
        torch.tensor(x), k, s, p, d, ceil, return_indices=True
    )
    y, i = getattr(F, f"max_pool{nsp}d")(dc.tensor(x), k, s, p, d, ceil, return_indices=True)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(i.detach().numpy(), ti.detach().numpy())
