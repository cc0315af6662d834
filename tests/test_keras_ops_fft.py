"""Keras's FFT ops on (real, imag) pairs (ops/_fft.py): values against float64 NumPy over
odd, even, size-1 and batched shapes, float64 finite-difference gradients (the adjoint rules
of [Note: FFT gradients]), stft / istft against PyTorch and scipy (what Keras computes with),
and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from deepcore import ops
from deepcore.testing import gradcheck

SHAPES_1D = [(1,), (2,), (7,), (8,), (3, 5), (2, 3, 6)]
SHAPES_2D = [(1, 1), (3, 4), (5, 7), (2, 4, 6)]


def _pair(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)


def _np(t):
    return t.numpy()


@pytest.mark.parametrize("shape", SHAPES_1D)
def test_fft_matches_numpy(shape):
    re, im = _pair(shape)
    got_re, got_im = ops.fft((re, im))
    want = np.fft.fft(re + 1j * im, axis=-1)
    np.testing.assert_allclose(_np(got_re), want.real, atol=1e-12)
    np.testing.assert_allclose(_np(got_im), want.imag, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("name", ["fft2", "ifft2"])
def test_fft2_ifft2_match_numpy(shape, name):
    re, im = _pair(shape, 1)
    got_re, got_im = getattr(ops, name)((re, im))
    want = getattr(np.fft, name)(re + 1j * im)
    np.testing.assert_allclose(_np(got_re), want.real, atol=1e-12)
    np.testing.assert_allclose(_np(got_im), want.imag, atol=1e-12)


def test_float32_stays_float32():
    re, im = _pair((4, 6), 2, np.float32)
    out = ops.fft((re, im))
    assert out[0].dtype == np.float32 and out[1].dtype == np.float32
    want = np.fft.fft(re.astype(np.float64) + 1j * im, axis=-1)
    np.testing.assert_allclose(_np(out[0]), want.real, atol=1e-5)
    r = ops.rfft(re)
    assert r[0].dtype == np.float32
    assert ops.irfft(r).dtype == np.float32


@pytest.mark.parametrize("shape", SHAPES_1D)
@pytest.mark.parametrize("n", [None, 1, 5, 8, 11])
def test_rfft_irfft_match_numpy(shape, n):
    x, _ = _pair(shape, 3)
    re, im = ops.rfft(x, n)
    want = np.fft.rfft(x, n=n, axis=-1)
    np.testing.assert_allclose(_np(re), want.real, atol=1e-12)
    np.testing.assert_allclose(_np(im), want.imag, atol=1e-12)
    zr, zi = _pair(shape, 4)
    if n is None and shape[-1] == 1:
        n_eff = 1
    else:
        n_eff = n
    got = ops.irfft((zr, zi), n_eff)
    np.testing.assert_allclose(_np(got), np.fft.irfft(zr + 1j * zi, n=n_eff, axis=-1), atol=1e-12)


def test_rfft_then_irfft_round_trip():
    x, _ = _pair((3, 10), 5)
    np.testing.assert_allclose(_np(ops.irfft(ops.rfft(x), 10)), x, atol=1e-12)


@pytest.mark.parametrize("shape", [(1,), (4,), (5,), (2, 3)])
def test_complex_fft_gradients(shape):
    re, im = _pair(shape, 6)
    w = _pair(shape, 7)  # a fixed random projection makes a real loss of both outputs
    for name in ("fft", "fft2", "ifft2"):
        if name != "fft" and len(shape) < 2:
            continue

        def f(a, b, name=name):
            yr, yi = getattr(ops, name)((a, b))
            return (yr * w[0] + yi * w[1]).sum()

        gradcheck(f, [re, im])


@pytest.mark.parametrize("length,n", [(6, None), (5, None), (5, 8), (8, 5), (7, 7), (1, 4)])
def test_rfft_gradient(length, n):
    x, _ = _pair((2, length), 8)
    bins = (n or length) // 2 + 1
    w = _pair((2, bins), 9)

    def f(a):
        yr, yi = ops.rfft(a, n)
        return (yr * w[0] + yi * w[1]).sum()

    gradcheck(f, [x])


@pytest.mark.parametrize("bins,n", [(4, None), (4, 6), (4, 7), (5, 8), (3, 9), (6, 4), (1, 1)])
def test_irfft_gradient(bins, n):
    zr, zi = _pair((2, bins), 10)
    out_n = n or 2 * (bins - 1)
    w = np.random.default_rng(11).normal(size=(2, out_n))

    def f(a, b):
        return (ops.irfft((a, b), n) * w).sum()

    gradcheck(f, [zr, zi])


# ---------------------------------------------------------------------- stft / istft
STFT_CASES = [
    # (length, sequence_length, sequence_stride, fft_length, center)
    (32, 8, 4, 8, True),
    (33, 8, 3, 16, True),
    (40, 10, 5, 16, False),
    (17, 5, 2, 8, True),
]


@pytest.mark.parametrize("case", STFT_CASES)
@pytest.mark.parametrize("window", ["hann", "hamming", None])
def test_stft_matches_torch(case, window):
    torch = pytest.importorskip("torch")
    length, seq, stride, nfft, center = case
    x = np.random.default_rng(12).normal(size=(2, length))
    re, im = ops.stft(x, seq, stride, nfft, window=window, center=center)
    if window == "hann":
        win = torch.hann_window(seq, dtype=torch.float64)
    elif window == "hamming":
        win = torch.hamming_window(seq, dtype=torch.float64)
    else:  # Keras: no window is ones over the whole fft_length frame
        win = torch.ones(nfft, dtype=torch.float64)
    want = torch.stft(
        torch.from_numpy(x), nfft, stride, win_length=len(win), window=win, center=center,
        pad_mode="reflect", onesided=True, return_complex=True,
    ).transpose(-1, -2).numpy()  # fmt: skip
    np.testing.assert_allclose(_np(re), want.real, atol=1e-10)
    np.testing.assert_allclose(_np(im), want.imag, atol=1e-10)


@pytest.mark.parametrize("case", STFT_CASES)
@pytest.mark.parametrize("window", ["hann", None])
def test_istft_matches_scipy_as_keras_calls_it(case, window):
    """Keras's NumPy backend: scipy.signal.istft of the zero-padded window, divided by the
    window's sum (or by the stride without a window), cut to the centre."""
    signal = pytest.importorskip("scipy.signal")
    length, seq, stride, nfft, center = case
    rng = np.random.default_rng(13)
    frames = (length - seq) // stride + 3
    zr, zi = (
        rng.normal(size=(2, frames, nfft // 2 + 1)),
        rng.normal(size=(2, frames, nfft // 2 + 1)),
    )
    got = ops.istft((zr, zi), seq, stride, nfft, window=window, center=center)
    left = (nfft - seq) // 2
    win = (
        np.pad(signal.get_window("hann", seq), (left, nfft - seq - left))
        if window
        else np.ones(nfft)
    )
    with warnings.catch_warnings():  # scipy's NOLA warning: the window is 0 at the edges
        warnings.simplefilter("ignore")
        y = signal.istft(
            zr + 1j * zi, fs=1.0, window=win, nperseg=nfft, noverlap=nfft - stride, nfft=nfft,
            boundary=False, time_axis=-2, freq_axis=-1,
        )[-1]  # fmt: skip
    y = y / win.sum() if window else y / stride
    total = nfft + stride * (frames - 1)
    start = nfft // 2 if center else 0
    end = total - nfft // 2 if center else total
    np.testing.assert_allclose(_np(got), y[..., start:end], atol=1e-10)


def test_stft_istft_round_trip_and_length():
    x = np.random.default_rng(14).normal(size=(3, 64))
    spec = ops.stft(x, 16, 4, 16)
    back = ops.istft(spec, 16, 4, 16, length=64)
    np.testing.assert_allclose(_np(back), x, atol=1e-10)


def test_stft_istft_gradients():
    x = np.random.default_rng(15).normal(size=(1, 20))
    w = _pair((1, 6, 5), 16)

    def f(a):
        yr, yi = ops.stft(a, 6, 4, 8)
        return (yr * w[0] + yi * w[1]).sum()

    gradcheck(f, [x])
    zr, zi = _pair((1, 4, 5), 17)
    v = np.random.default_rng(18).normal(size=(1, 12))

    def g(a, b):
        return (ops.istft((a, b), 6, 4, 8) * v).sum()

    gradcheck(g, [zr, zi])


def test_extract_sequences():
    x = np.arange(20.0).reshape(2, 10)
    got = _np(ops.extract_sequences(x, 4, 3))
    want = np.stack([x[:, i : i + 4] for i in range(0, 7, 3)], axis=1)
    np.testing.assert_array_equal(got, want)
    assert ops.extract_sequences(x, 11, 1).shape == (2, 0, 11)
    gradcheck(lambda a: (ops.extract_sequences(a, 3, 2) ** 2).sum(), [x[:, :7]])


def test_bad_input():
    x = np.zeros(8)
    with pytest.raises(ValueError, match="tuple"):
        ops.fft(x)
    with pytest.raises(ValueError, match="one shape"):
        ops.fft((np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="2 dimension"):
        ops.fft2((x, x))
    with pytest.raises(TypeError, match="real"):
        ops.rfft(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="fft_length"):
        ops.rfft(x, 0)
    with pytest.raises(TypeError, match="fft_length"):
        ops.rfft(x, 2.5)
    with pytest.raises(ValueError, match="fft_length"):
        ops.stft(x, 8, 2, 4)
    with pytest.raises(ValueError, match="window"):
        ops.stft(x, 4, 2, 4, window="kaiser")
    with pytest.raises(ValueError, match="window"):
        ops.stft(x, 4, 2, 4, window=np.ones(3))
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.stft(np.arange(8), 4, 2, 4)
    with pytest.raises(ValueError, match="sequence_stride"):
        ops.stft(x, 4, 0, 4)
    with pytest.raises(ValueError, match="reflect"):
        ops.stft(np.zeros(3), 4, 2, 8)
    with pytest.raises(ValueError, match="sequence_length"):
        ops.extract_sequences(x, -1, 1)
