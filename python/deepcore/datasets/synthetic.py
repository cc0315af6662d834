"""Procedurally drawn digit images: a built-in stand-in for MNIST that needs no download.

    from deepcore.datasets import synthetic
    (x_train, y_train), (x_test, y_test) = synthetic.load_digits()   # uint8 (n,28,28), labels

Each digit 0–9 is a fixed polyline "glyph" in a unit box. Every sample draws it with its own
random rotation, scale, shear, shift and stroke width, anti-aliased, plus pixel noise. It is
*not* MNIST (the examples say so when they fall back to it), but it has MNIST's format and is
hard enough that a linear model does clearly worse than a convnet.

Rendering is vectorised over samples × segments × pixels (distance from every pixel to every
stroke segment), in chunks to bound memory.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GLYPHS", "digits", "load_digits"]


def _ring(cx: float, cy: float, rx: float, ry: float, n: int = 12) -> list[tuple[float, float]]:
    t = np.linspace(0, 2 * np.pi, n + 1)
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


# Polylines per digit in a unit box (x right, y down).
GLYPHS: dict[int, list[list[tuple[float, float]]]] = {
    0: [_ring(0.5, 0.5, 0.28, 0.4)],
    1: [[(0.35, 0.25), (0.52, 0.1), (0.52, 0.9)]],
    2: [[(0.2, 0.3), (0.35, 0.12), (0.65, 0.12), (0.8, 0.3), (0.72, 0.5), (0.2, 0.9), (0.82, 0.9)]],
    3: [
        [
            (0.2, 0.15),
            (0.75, 0.15),
            (0.45, 0.45),
            (0.72, 0.55),
            (0.78, 0.75),
            (0.58, 0.9),
            (0.2, 0.85),
        ]
    ],  # fmt: skip
    4: [[(0.65, 0.9), (0.65, 0.1), (0.15, 0.65), (0.85, 0.65)]],
    5: [
        [
            (0.8, 0.1),
            (0.27, 0.1),
            (0.23, 0.45),
            (0.6, 0.42),
            (0.8, 0.6),
            (0.75, 0.83),
            (0.5, 0.92),
            (0.2, 0.85),
        ]
    ],  # fmt: skip
    6: [
        [
            (0.7, 0.1),
            (0.38, 0.33),
            (0.23, 0.65),
            (0.32, 0.88),
            (0.6, 0.9),
            (0.78, 0.7),
            (0.6, 0.5),
            (0.27, 0.58),
        ]
    ],  # fmt: skip
    7: [[(0.15, 0.1), (0.85, 0.1), (0.4, 0.9)]],
    8: [_ring(0.5, 0.28, 0.18, 0.18, 10), _ring(0.5, 0.7, 0.23, 0.2, 10)],
    9: [_ring(0.5, 0.32, 0.22, 0.2, 10), [(0.72, 0.32), (0.62, 0.9)]],
}


def _segments(digit: int) -> np.ndarray:
    """(S, 2, 2): start and end point of each stroke segment of a glyph."""
    segs = [(p, q) for line in GLYPHS[digit] for p, q in zip(line[:-1], line[1:])]
    return np.asarray(segs, dtype=np.float32)


_SIZE = 28
_GRID = (np.stack(np.meshgrid(np.arange(_SIZE), np.arange(_SIZE)), -1).reshape(-1, 2) + 0.5).astype(
    np.float32
)  # (784, 2) pixel centres as (x, y)


def _render(segs: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw n random variations of one glyph: (n, 28, 28) float32 in [0, 1]."""
    angle = rng.uniform(-0.25, 0.25, n)  # radians, about ±14°
    scale = rng.uniform(15.0, 21.0, n)  # glyph box side in pixels
    shear = rng.uniform(-0.3, 0.3, n)
    aspect = rng.uniform(0.75, 1.1, n)
    shift = rng.uniform(-2.5, 2.5, (n, 2))
    width = rng.uniform(0.9, 1.8, n)  # stroke half-width in pixels
    c, s = np.cos(angle), np.sin(angle)
    # per-sample 2×2 linear map: rotation · shear · (scale·aspect, scale)
    m = np.empty((n, 2, 2), np.float32)
    m[:, 0, 0] = c * scale * aspect
    m[:, 0, 1] = (c * shear - s) * scale
    m[:, 1, 0] = s * scale * aspect
    m[:, 1, 1] = (s * shear + c) * scale
    centred = segs - 0.5  # (S, 2, 2)
    pts = (
        np.einsum("nij,spj->nspi", m, centred)
        + (_SIZE / 2 + shift).astype(np.float32)[:, None, None, :]
    )
    # x and y planes separately keep every temporary (n, S, 784) and float32
    ax, ay = pts[:, :, 0, 0, None], pts[:, :, 0, 1, None]  # (n, S, 1)
    abx, aby = pts[:, :, 1, 0, None] - ax, pts[:, :, 1, 1, None] - ay
    apx, apy = _GRID[:, 0] - ax, _GRID[:, 1] - ay  # (n, S, 784)
    t = (apx * abx + apy * aby) / np.maximum(abx * abx + aby * aby, 1e-6)
    np.clip(t, 0.0, 1.0, out=t)
    apx -= t * abx
    apy -= t * aby
    d = np.sqrt((apx * apx + apy * apy).min(axis=1))  # (n, 784) distance to the nearest stroke
    img = np.clip(width[:, None].astype(np.float32) + 0.5 - d, 0.0, 1.0)  # anti-aliased edge
    return img.reshape(n, _SIZE, _SIZE)


def digits(n: int = 10000, seed: int = 0, noise: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    """n random digit images (uint8, (n, 28, 28), white on black) and labels (uint8, (n,)).

    Labels are balanced (cycled 0..9) and then shuffled; the same seed gives the same data.
    """
    if n < 0:
        raise ValueError(f"digits: n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    images = np.empty((n, _SIZE, _SIZE), np.float32)
    for d in range(10):
        idx = np.flatnonzero(labels == d)
        for start in range(0, len(idx), 512):  # chunks bound the (n, S, 784, 2) temporaries
            part = idx[start : start + 512]
            images[part] = _render(_segments(d), rng, len(part))
    images += rng.normal(0.0, noise, images.shape).astype(np.float32)
    return (np.clip(images, 0.0, 1.0) * 255 + 0.5).astype(np.uint8), labels


def load_digits(
    n_train: int = 8000, n_test: int = 2000, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)`` of synthetic digits, in mnist.load_data's format."""
    x, y = digits(n_train + n_test, seed)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
