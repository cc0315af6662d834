"""Keras ops added for issue 13's missing-names list: Keras's ``scatter`` / ``scatter_update``
/ ``get_item`` / ``saturate_cast`` (ops/_keras.py), the NumPy windows (ops/_creation.py) and
the NumPy-style extras (ops/_numpy_extra.py). Values against NumPy (the Keras
documentation's examples where it has them), gradients of the differentiable ones, bad
input."""

from __future__ import annotations

import warnings

import deepcore as dc
import numpy as np
import pytest
from deepcore import ops
from deepcore.testing import gradcheck


def _np(t):
    return t.detach().numpy() if isinstance(t, dc.Tensor) else np.asarray(t)


# ---------------------------------------------------------------------- scatter family
def test_scatter_keras_example_and_duplicates():
    # keras.io: indices [[0, 0], [1, 1]], values [1, 1], shape (2, 2) -> [[1, 0], [0, 1]]
    out = ops.scatter([[0, 0], [1, 1]], np.array([1.0, 1.0]), (2, 2))
    np.testing.assert_array_equal(_np(out), [[1.0, 0.0], [0.0, 1.0]])
    # duplicates add up; partial indices write whole slices
    vals = np.arange(6.0).reshape(3, 2)
    out = ops.scatter(np.array([[1], [3], [1]]), vals, (4, 2))
    want = np.zeros((4, 2))
    np.add.at(want, [1, 3, 1], vals)
    np.testing.assert_array_equal(_np(out), want)
    gradcheck(lambda v: (ops.scatter([[0, 1], [2, 0], [0, 1]], v, (3, 2)) ** 2).sum(), [vals[:, 0]])


def test_scatter_update_keras_example_and_gradient():
    # keras.io: inputs zeros (4, 4, 4), indices [[1, 2, 3], [0, 1, 3]], updates [1, 1]
    inputs = np.zeros((4, 4, 4))
    out = ops.scatter_update(inputs, [[1, 2, 3], [0, 1, 3]], np.array([1.0, 1.0]))
    want = inputs.copy()
    want[1, 2, 3] = want[0, 1, 3] = 1.0
    np.testing.assert_array_equal(_np(out), want)
    x = np.random.default_rng(0).normal(size=(3, 4))
    u = np.random.default_rng(1).normal(size=(2, 4))
    out = ops.scatter_update(x, [[2], [0]], u)
    want = x.copy()
    want[[2, 0]] = u
    np.testing.assert_array_equal(_np(out), want)
    gradcheck(lambda a, b: (ops.scatter_update(a, [[2], [0]], b) ** 2).sum(), [x, u])


def test_scatter_bad_input():
    with pytest.raises(IndexError, match="out of range"):
        ops.scatter([[0, 2]], np.array([1.0]), (2, 2))
    with pytest.raises(IndexError, match="out of range"):
        ops.scatter_update(np.zeros((2, 2)), [[-1, 0]], np.array([1.0]))
    with pytest.raises(TypeError, match="integers"):
        ops.scatter(np.array([[0.5]]), np.array([1.0]), (2,))
    with pytest.raises(ValueError, match="values must have shape"):
        ops.scatter([[0]], np.ones((1, 3)), (2, 2))
    with pytest.raises(ValueError, match=r"\(N, k\)"):
        ops.scatter([[0, 0, 0]], np.ones(1), (2, 2))


def test_pytorch_scatter_kept_for_deepcore_and_tensor_method():
    x = dc.zeros(2, 3)
    idx = np.array([[2, 0, 1]])
    src = dc.tensor(np.array([[1.0, 2.0, 3.0]], np.float32))
    np.testing.assert_array_equal(_np(dc.scatter(x, 1, idx, src))[0], [2, 3, 1])
    np.testing.assert_array_equal(_np(x.scatter(1, idx, src))[0], [2, 3, 1])


def test_get_item():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(_np(ops.get_item(x, (1, slice(1, 3)))), x[1, 1:3])
    np.testing.assert_array_equal(_np(ops.get_item(x, 2)), x[2])


def test_saturate_cast():
    # keras.io: saturate_cast of [-256, 1.0, 257.0] to uint8 is [0, 1, 255]
    out = ops.saturate_cast(np.array([-256.0, 1.0, 257.0]), "uint8")
    assert out.dtype == np.uint8 and _np(out).tolist() == [0, 1, 255]
    # int32's max is not a float32: the bound must step below 2**31
    big = ops.saturate_cast(np.array([3e9, -3e9], np.float32), "int32")
    assert _np(big).tolist() == [2147483520, -2147483648]
    assert _np(ops.saturate_cast(np.array([300, -5]), "uint8")).tolist() == [255, 0]
    f = ops.saturate_cast(np.array([1e300, -1e300]), "float32")
    assert np.all(np.isfinite(_np(f)))


# ---------------------------------------------------------------------- windows
@pytest.mark.parametrize("name", ["bartlett", "blackman", "hamming", "hanning"])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 8])
def test_windows(name, n):
    got = getattr(ops, name)(n)
    assert got.dtype == np.float32
    np.testing.assert_allclose(_np(got), getattr(np, name)(n), atol=1e-7)


def test_kaiser_and_bad_windows():
    np.testing.assert_allclose(_np(ops.kaiser(9, 14.0)), np.kaiser(9, 14.0), atol=1e-7)
    with pytest.raises(ValueError, match=">= 0"):
        ops.hanning(-1)
    with pytest.raises(TypeError, match="int"):
        ops.bartlett(2.5)
    with pytest.raises(TypeError, match="beta"):
        ops.kaiser(4, "x")


# ---------------------------------------------------------------------- NumPy extras
def test_argpartition():
    x = np.random.default_rng(2).normal(size=(4, 7))
    for kth in (0, 3, -1):
        idx = _np(ops.argpartition(x, kth))
        part = np.take_along_axis(x, idx, -1)
        k = kth % 7
        srt = np.sort(x, -1)
        np.testing.assert_array_equal(part[:, k], srt[:, k])
        assert np.all(part[:, :k] <= part[:, k : k + 1]) and np.all(
            part[:, k:] >= part[:, k : k + 1]
        )
    with pytest.raises(ValueError, match="kth"):
        ops.argpartition(x, 7)


@pytest.mark.parametrize("sections", [1, 3, 4, [2, 5], [0, 0, 9]])
def test_array_split(sections):
    x = np.arange(14.0).reshape(7, 2)
    got = ops.array_split(x, sections)
    want = np.array_split(x, sections)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(_np(g), w)
    gradcheck(lambda a: sum((p**2).sum() for p in ops.array_split(a, 3, axis=1)), [x[:2].T.copy()])
    with pytest.raises(ValueError, match="sections"):
        ops.array_split(x, 0)


def test_bincount():
    x = np.array([0, 1, 1, 3])
    np.testing.assert_array_equal(_np(ops.bincount(x)), np.bincount(x))
    np.testing.assert_array_equal(_np(ops.bincount(x, minlength=6)), np.bincount(x, minlength=6))
    w = np.array([0.5, 1.0, 2.0, 4.0])
    got = ops.bincount(x, weights=w)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(_np(got), np.bincount(x, weights=w))
    rows = np.array([[0, 2, 2], [1, 1, 0]])
    np.testing.assert_array_equal(_np(ops.bincount(rows)), [[1, 0, 2], [1, 2, 0]])
    with pytest.raises(ValueError, match="non-negative"):
        ops.bincount(np.array([-1, 2]))
    with pytest.raises(TypeError, match="integers"):
        ops.bincount(np.array([0.5]))


@pytest.mark.parametrize("m,n", [(5, 3), (3, 5), (4, 4), (1, 1), (6, 1), (1, 4), (7, 2)])
@pytest.mark.parametrize("mode", ["valid", "same", "full"])
def test_correlate(m, n, mode):
    rng = np.random.default_rng(m * 10 + n)
    a, v = rng.normal(size=m), rng.normal(size=n)
    np.testing.assert_allclose(_np(ops.correlate(a, v, mode)), np.correlate(a, v, mode), atol=1e-12)
    if mode == "same":
        gradcheck(lambda x, y: (ops.correlate(x, y, mode) ** 2).sum(), [a, v])


def test_correlate_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        ops.correlate(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="mode"):
        ops.correlate(np.ones(3), np.ones(2), "circular")


@pytest.mark.parametrize(
    "sa,sb",
    [((3,), (3,)), ((4, 3), (3,)), ((2, 3), (2, 3)), ((2,), (3,)), ((3,), (2,)), ((5, 2), (5, 2))],
)
def test_cross(sa, sb):
    rng = np.random.default_rng(len(sa) + sb[-1])
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    with warnings.catch_warnings():  # NumPy 2 deprecates 2-vectors; Keras still takes them
        warnings.simplefilter("ignore", DeprecationWarning)
        want = np.cross(a, b)
    np.testing.assert_allclose(_np(ops.cross(a, b)), want, atol=1e-12)
    gradcheck(lambda x, y: (ops.cross(x, y) ** 2).sum(), [a, b])


def test_cross_axes_and_bad_input():
    a = np.random.default_rng(5).normal(size=(3, 4))
    b = np.random.default_rng(6).normal(size=(4, 3))
    np.testing.assert_allclose(
        _np(ops.cross(a, b, axisa=0, axisb=1, axisc=0)), np.cross(a, b, axisa=0, axisb=1, axisc=0)
    )
    with pytest.raises(ValueError, match="size 2 or 3"):
        ops.cross(np.ones(4), np.ones(4))


def test_diagflat_digitize_histogram_searchsorted():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    for k in (0, 1, -2):
        np.testing.assert_array_equal(_np(ops.diagflat(x, k)), np.diagflat(x, k))
    gradcheck(lambda a: (ops.diagflat(a, 1) ** 2).sum(), [x])
    v = np.array([0.2, 6.4, 3.0, 1.6, -1.0])
    bins = np.array([0.0, 1.0, 2.5, 4.0, 10.0])
    np.testing.assert_array_equal(_np(ops.digitize(v, bins)), np.digitize(v, bins))
    with pytest.raises(ValueError, match="increasing"):
        ops.digitize(v, bins[::-1])
    h, e = ops.histogram(v, bins=4)
    wh, we = np.histogram(v, bins=4)
    np.testing.assert_array_equal(_np(h), wh)
    np.testing.assert_allclose(_np(e), we)
    h, e = ops.histogram(v, bins=3, range=(0.0, 3.0))
    np.testing.assert_array_equal(_np(h), np.histogram(v, bins=3, range=(0.0, 3.0))[0])
    with pytest.raises(ValueError, match="finite"):
        ops.histogram(np.array([1.0, np.nan]))
    s = np.array([1.0, 2.0, 2.0, 5.0])
    for side in ("left", "right"):
        np.testing.assert_array_equal(
            _np(ops.searchsorted(s, v, side=side)), np.searchsorted(s, v, side=side)
        )
    with pytest.raises(ValueError, match="side"):
        ops.searchsorted(s, v, side="middle")


def test_select_and_vdot():
    x = np.arange(6.0) - 2
    conds = [x < 0, x > 2]
    choices = [x**2, x + 10]
    np.testing.assert_array_equal(
        _np(ops.select(conds, choices, default=-1.0)), np.select(conds, choices, default=-1.0)
    )
    gradcheck(lambda a: ops.select([a < 0, a > 2], [a * a, a + 10], a * 0).sum(), [x + 0.5])
    with pytest.raises(ValueError, match="number of entries"):
        ops.select([x < 0], choices)
    with pytest.raises(TypeError, match="bool"):
        ops.select([x], [x])
    a, b = (
        np.random.default_rng(7).normal(size=(2, 3)),
        np.random.default_rng(8).normal(size=(3, 2)),
    )
    np.testing.assert_allclose(float(_np(ops.vdot(a, b))), np.vdot(a, b))
    gradcheck(lambda p, q: ops.vdot(p, q), [a, b])
    with pytest.raises(ValueError, match="one size"):
        ops.vdot(np.ones(3), np.ones(4))


def test_ctc_loss_matches_torch_and_gradient():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(3, 8, 5))
    target = np.array([[1, 2, 2, 0], [3, 0, 0, 0], [4, 1, 3, 2]])
    tl, ol = np.array([3, 1, 4]), np.array([8, 5, 8])
    for blank in (0, 4):
        t = np.where(target == blank, (blank + 1) % 5, target)
        got = ops.ctc_loss(t, logits, tl, ol, mask_index=blank)
        want = torch.nn.functional.ctc_loss(
            torch.from_numpy(logits).log_softmax(-1).transpose(0, 1), torch.from_numpy(t),
            torch.from_numpy(ol), torch.from_numpy(tl), blank=blank, reduction="none",
        ).numpy()  # fmt: skip
        assert got.shape == (3,)
        np.testing.assert_allclose(_np(got), want, rtol=1e-10)
    gradcheck(
        lambda z: ops.ctc_loss(target[:2, :2], z, tl[:2] * 0 + 1, ol[:2] * 0 + 4).sum(),
        [logits[:2, :4]],
    )
    with pytest.raises(ValueError, match="batch, max_length, classes"):
        ops.ctc_loss(target, logits[0], tl, ol)
    with pytest.raises(TypeError, match="integer labels"):
        ops.ctc_loss(target.astype(float), logits, tl, ol)


def test_ctc_decode_greedy():
    # steps' best classes: sample 0 [1, 1, 0, 1, 2, 2], sample 1 [3, 0, 3, 3, 1, 1] (length 4)
    best = np.array([[1, 1, 0, 1, 2, 2], [3, 0, 3, 3, 1, 1]])
    x = np.full((2, 6, 4), -1.0)
    np.put_along_axis(x, best[..., None], np.arange(12.0).reshape(2, 6, 1) / 10, axis=-1)
    labels, scores = ops.ctc_decode(x, np.array([6, 4]))
    assert labels.dtype == np.int32 and labels.shape == (1, 2, 6)
    assert _np(labels)[0].tolist() == [[1, 1, 2, -1, -1, -1], [3, 3, -1, -1, -1, -1]]
    np.testing.assert_allclose(
        _np(scores)[:, 0], [-(0.0 + 0.1 + 0.2 + 0.3 + 0.4 + 0.5), -(0.6 + 0.7 + 0.8 + 0.9)]
    )
    labels, _ = ops.ctc_decode(x, np.array([6, 6]), merge_repeated=False)
    assert _np(labels)[0].tolist() == [[1, 1, 1, 2, 2, -1], [3, 3, 3, 1, 1, -1]]
    labels, _ = ops.ctc_decode(x, np.array([6, 6]), mask_index=None)  # blank: the last class
    assert _np(labels)[0].tolist() == [[1, 0, 1, 2, -1, -1], [0, 1, -1, -1, -1, -1]]
    with pytest.raises(NotImplementedError, match="beam_search"):
        ops.ctc_decode(x, np.array([6, 6]), strategy="beam_search")
    with pytest.raises(ValueError, match="mask_index"):
        ops.ctc_decode(x, np.array([6, 6]), mask_index=4)
    with pytest.raises(ValueError, match="sequence_lengths"):
        ops.ctc_decode(x, np.array([6]))


@pytest.mark.parametrize("nsp", [1, 2])
@pytest.mark.parametrize("stride,k", [(1, 3), (2, 3), (3, 2), (2, 4)])
def test_conv_transpose_matches_torch_and_the_layer(nsp, stride, k):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(nsp * 10 + stride * 3 + k)
    x = rng.normal(size=(2, *(5,) * nsp, 3))  # channels_last
    kern = rng.normal(size=(*(k,) * nsp, 4, 3))  # (*k, out, in)
    got = ops.conv_transpose(x, kern, strides=stride, padding="valid")
    tfn = torch.nn.functional.conv_transpose1d if nsp == 1 else torch.nn.functional.conv_transpose2d
    perm = (nsp + 1, nsp, *range(nsp))
    want = tfn(
        torch.from_numpy(np.moveaxis(x, -1, 1)),
        torch.from_numpy(kern.transpose(perm)),
        stride=stride,
    ).numpy()
    if k < stride:  # Keras: n * stride samples (the window's tail is zeros)
        pad = [(0, 0), (0, 0)] + [(0, stride - k)] * nsp
        want = np.pad(want, pad)
    np.testing.assert_allclose(_np(got), np.moveaxis(want, 1, -1), atol=1e-10)
    layer_cls = dc.nn.Conv1DTranspose if nsp == 1 else dc.nn.Conv2DTranspose
    for padding in ("same", "valid"):
        layer = layer_cls(4, k, strides=stride, padding=padding, use_bias=False, dtype="float64")
        layer.build(x.shape)
        layer.set_weights([kern])
        np.testing.assert_allclose(
            _np(ops.conv_transpose(x, kern, strides=stride, padding=padding)),
            _np(layer(x)),
            atol=1e-12,
        )
    gradcheck(lambda a, b: (ops.conv_transpose(a, b, stride, "same") ** 2).sum(), [x[:1], kern])


def test_conv_transpose_channels_first_output_padding_and_bad_input():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 2, 4, 4))
    kern = rng.normal(size=(3, 3, 5, 2))
    y = ops.conv_transpose(x, kern, 2, "same", output_padding=1, data_format="channels_first")
    # Keras: (n - 1) * stride + k - 2 * (k // 2) + output_padding = 3 * 2 + 3 - 2 + 1 = 8
    assert y.shape == (1, 5, 8, 8)
    with pytest.raises(ValueError, match="inputs' channels"):
        ops.conv_transpose(x, kern[..., :1], 2, data_format="channels_first")
    with pytest.raises(ValueError, match="output_padding"):
        ops.conv_transpose(x, kern, 2, output_padding=2, data_format="channels_first")
    with pytest.raises(ValueError, match="strides"):
        ops.conv_transpose(x, kern, 0, data_format="channels_first")
    with pytest.raises(ValueError, match="padding"):
        ops.conv_transpose(x, kern, 1, padding="full", data_format="channels_first")
