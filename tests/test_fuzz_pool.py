"""Property-based fuzzing of the pooling kernels (see [Note: fuzz budget] in conftest.py): max
and average pooling 1-D / 2-D and global average pooling over random shapes, windows, strides
and paddings, steered into the corner regions of their index math (windows reaching into the
padding, stride > kernel, kernel = the padded input, size-1 and narrow planes that take the
whole-vector paths of [Note: narrow planes], the 2x2/2 write-once backward of [Note: write-once
max pooling backward], planes wide enough for the vector interior). Every CPU capability, both
dtypes, forward and backward against the float64 NumPy reference of test_pool.py and the
naive kernels of csrc/ref/; out= buffers are poisoned with NaN and framed by guard elements
that must stay untouched."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
import deepcore as dc  # noqa: E402
from helpers import supported_capabilities  # noqa: E402
from hypothesis import event, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_pool import np_pool2d  # noqa: E402

K = dc.kernels
GUARD = 37  # guard elements on each side of an out= buffer
SENTINEL = 1234.5


@st.composite
def axis_params(draw, corner):
    """(size, kernel, stride or None, padding int) for one spatial axis."""
    if corner == "2x2/2":
        k, s, p = 2, 2, 0
    else:
        k = draw(st.integers(1, 6))
        s = draw(st.one_of(st.none(), st.integers(1, 7)))  # None: the kernel size
        if corner == "stride>kernel":
            s = draw(st.integers(k + 1, k + 4))
        p = draw(st.integers(0, k // 2))
        if corner == "padding":  # edge windows reach into it
            k = max(k, 2)
            p = draw(st.integers(1, k // 2))
    if corner == "kernel=padded":  # one window exactly covering the padded input
        p = draw(st.integers(0, (k - 1) // 2))
        return k - 2 * p, k, s, p
    size = draw(
        st.one_of(
            st.integers(1, 4),  # size-1 and tiny planes
            st.integers(5, 24),  # narrow planes: fewer than 16 interior outputs
            st.integers(30, 90),  # enough for the vector interior
        )
    )
    return max(size, k - 2 * p), k, s, p


CORNERS = ["random", "2x2/2", "stride>kernel", "kernel=padded", "padding"]


@st.composite
def pool_problems(draw, corner):
    nsp = draw(st.sampled_from([1, 2]))
    axes = [draw(axis_params(corner)) for _ in range(nsp)]
    if nsp == 2 and corner != "random" and draw(st.booleans()):
        axes[0] = draw(axis_params("random"))  # the corner on the width axis only
    sizes = tuple(a[0] for a in axes)
    k = tuple(a[1] for a in axes)
    strides = [a[2] for a in axes]
    stride = (
        None if all(s is None for s in strides) else tuple(s or a[1] for s, a in zip(strides, axes))
    )
    padding = draw(
        st.sampled_from(["ints", "ints", "same", "valid"])
        if corner not in ("kernel=padded", "padding")
        else st.just("ints")
    )
    if padding == "ints":
        padding = tuple(a[3] for a in axes)
    elif padding == "valid":  # (an unpadded input must hold a window)
        sizes = tuple(max(n, kk) for n, kk in zip(sizes, k))
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return dict(
        corner=corner,
        nsp=nsp,
        shape=(N, C, *sizes),
        k=k,
        stride=stride,
        padding=padding,
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        capability=draw(st.sampled_from(supported_capabilities())),
        count_include_pad=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def _classify(p, y_shape):
    """Name the code paths an example takes (shown by pytest --hypothesis-show-statistics)."""
    Q = y_shape[-1]
    event("width: " + ("vector interior" if Q >= 18 else "narrow" if Q > 1 else "one output"))
    if isinstance(p["padding"], tuple) and any(p["padding"]):
        event("windows reach into the padding")


def _reference(p, x, dy, mode):
    """(y, dx) in float64 from test_pool.np_pool2d (1-D runs as 2-D with a unit height)."""
    k, stride, padding = p["k"], p["stride"], p["padding"]
    if p["nsp"] == 1:
        x, dy = x[:, :, None], dy[:, :, None]
        k = (1, k[0])
        stride = None if stride is None else (1, stride[0])
        padding = padding if isinstance(padding, str) else (0, padding[0])
    y, grad = np_pool2d(x, k, stride, padding, mode, p["count_include_pad"])
    dx = grad(dy)
    return (y[:, :, 0], dx[:, :, 0]) if p["nsp"] == 1 else (y, dx)


def _out_buffer(shape, dtype):
    """An out= array poisoned with NaN inside a buffer with SENTINEL guards on both sides."""
    n = int(np.prod(shape))
    buf = np.full(n + 2 * GUARD, SENTINEL, dtype)
    buf[GUARD : GUARD + n] = np.nan
    return buf, buf[GUARD : GUARD + n].reshape(shape)


def _check_guards(buf, what):
    assert np.all(buf[:GUARD] == SENTINEL) and np.all(buf[-GUARD:] == SENTINEL), (
        f"{what} wrote outside out="
    )


def _close(a, ref, dtype, what):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    assert a.shape == ref.shape, f"{what}: shape {a.shape} != {ref.shape}"
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1.0)
    np.testing.assert_allclose(a, ref, rtol=tol, atol=tol * scale, err_msg=what)


def _with_capability(p, fn):
    prev = K.get_cpu_capability()
    K.set_cpu_capability(p["capability"])
    try:
        fn()
    finally:
        K.set_cpu_capability(prev)


def _draw(data, corner, mode):
    """(problem, forward kernel, backward kernel, rng) for one example."""
    p = data.draw(pool_problems(corner))
    d = f"{p['nsp']}d"
    fwd, bwd = getattr(K, f"{mode}_pool{d}_forward"), getattr(K, f"{mode}_pool{d}_backward")
    return p, fwd, bwd, np.random.default_rng(p["seed"])


# each corner gets the whole example budget (CI: 100), so none is left to chance
@pytest.mark.parametrize("corner", CORNERS)
@given(data=st.data())
def test_max_pool_matches_reference(corner, data):
    p, fwd, bwd, rng = _draw(data, corner, "max")
    x = rng.permutation(int(np.prod(p["shape"]))).reshape(p["shape"]).astype(p["dtype"])  # no ties
    win = (p["k"], p["stride"], p["padding"])

    def run():
        y, idx = fwd(x, *win)
        _classify(p, y.shape)
        dy = rng.standard_normal(y.shape).astype(p["dtype"])
        y_ref, dx_ref = _reference(p, x, dy, "max")
        _close(y, y_ref, p["dtype"], f"max y {p}")
        y_naive, idx_naive = fwd(x, *win, reference=True)
        np.testing.assert_array_equal(y_naive, y)
        np.testing.assert_array_equal(idx_naive, idx)
        buf, out = _out_buffer(y.shape, p["dtype"])
        fwd(x, *win, return_indices=False, out=out)  # the inference path, into out=
        _check_guards(buf, "max forward")
        np.testing.assert_array_equal(out, y)
        for window in ((), win):  # the general scatter, and the window-aware paths
            buf, out = _out_buffer(x.shape, p["dtype"])
            bwd(dy, idx, x.shape, out, *window)
            _check_guards(buf, "max backward")
            _close(out, dx_ref, p["dtype"], f"max dx {p} window={bool(window)}")

    _with_capability(p, run)


@pytest.mark.parametrize("corner", CORNERS)
@given(data=st.data())
def test_avg_pool_matches_reference(corner, data):
    p, fwd, bwd, rng = _draw(data, corner, "avg")
    x = rng.standard_normal(p["shape"]).astype(p["dtype"])
    win = (p["k"], p["stride"], p["padding"], p["count_include_pad"])

    def run():
        y_shape = fwd(x, *win).shape
        _classify(p, y_shape)
        buf, y = _out_buffer(y_shape, p["dtype"])
        fwd(x, *win, out=y)
        _check_guards(buf, "avg forward")
        dy = rng.standard_normal(y.shape).astype(p["dtype"])
        y_ref, dx_ref = _reference(p, x, dy, "avg")
        _close(y, y_ref, p["dtype"], f"avg y {p}")
        _close(fwd(x, *win, reference=True), y_ref, p["dtype"], f"avg y naive {p}")
        buf, dx = _out_buffer(x.shape, p["dtype"])
        bwd(dy, x.shape, *win, out=dx)
        _check_guards(buf, "avg backward")
        _close(dx, dx_ref, p["dtype"], f"avg dx {p}")
        _close(bwd(dy, x.shape, *win, reference=True), dx_ref, p["dtype"], f"avg dx naive {p}")

    _with_capability(p, run)


@given(
    st.integers(0, 3),
    st.integers(0, 3),
    st.lists(st.integers(1, 40), min_size=1, max_size=3),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from(supported_capabilities()),
    st.integers(0, 2**31 - 1),
)
def test_global_avg_pool_matches_reference(N, C, spatial, dtype, capability, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, *spatial)).astype(dtype)
    dy = rng.standard_normal((N, C)).astype(dtype)
    p = {"capability": capability}

    def run():
        y = K.global_avg_pool_forward(x)
        ref = x.astype(np.float64).reshape(N, C, int(np.prod(spatial))).mean(-1)
        _close(y, ref, dtype, "global y")
        dx = K.global_avg_pool_backward(dy, x.shape)
        want = np.broadcast_to(
            (dy.astype(np.float64) / np.prod(spatial)).reshape(N, C, *[1] * len(spatial)),
            x.shape,
        )
        _close(dx, want, dtype, "global dx")

    _with_capability(p, run)


@st.composite
def pool3d_problems(draw):
    """A 3-D pooling problem: each axis from the corners above (small sizes), ceil_mode."""
    axes = [draw(axis_params(draw(st.sampled_from(CORNERS)))) for _ in range(3)]
    sizes = [min(a[0], 9) for a in axes]
    k = tuple(a[1] for a in axes)
    pads = tuple(a[3] for a in axes)
    sizes = tuple(max(n, kk - 2 * p) for n, kk, p in zip(sizes, k, pads))
    stride = tuple(a[2] or a[1] for a in axes)
    padding = draw(st.sampled_from(["ints", "ints", "same", "valid"]))
    if padding == "ints":
        padding = pads
    elif padding == "valid":
        sizes = tuple(max(n, kk) for n, kk in zip(sizes, k))
    return dict(
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), *sizes),
        k=k,
        stride=stride,
        padding=padding,
        ceil_mode=draw(st.booleans()) and not isinstance(padding, str),
        count_include_pad=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@given(p=pool3d_problems())
def test_pool3d_matches_reference(p):
    """F.max_pool3d / F.avg_pool3d (two separable passes of the 2-D kernels) against the
    one-pass box reference of test_pool3d.np_pool: values, volume indices, gradients."""
    import deepcore.nn.functional as F
    from deepcore.autograd import backward
    from test_pool3d import np_pool

    rng = np.random.default_rng(p["seed"])
    dt = p["dtype"]
    n = int(np.prod(p["shape"]))
    x = (rng.permutation(n).reshape(p["shape"]) / n).astype(dt)  # no ties
    win = (p["k"], p["stride"], p["padding"])
    t = dc.tensor(x, requires_grad=True)
    y, idx = F.max_pool3d(t, *win, ceil_mode=p["ceil_mode"], return_indices=True)
    y_ref, idx_ref, grad = np_pool(x, *win, "max", ceil_mode=p["ceil_mode"])
    np.testing.assert_array_equal(y.detach().numpy(), y_ref.astype(dt))
    np.testing.assert_array_equal(idx.detach().numpy(), idx_ref)
    dy = rng.standard_normal(y.shape).astype(dt)
    backward([y], [dy])
    _close(t.grad.numpy(), grad(dy), dt, f"max dx {p}")
    kw = dict(ceil_mode=p["ceil_mode"], count_include_pad=p["count_include_pad"])
    t = dc.tensor(x, requires_grad=True)
    try:
        y = F.avg_pool3d(t, *win, **kw)
    except ValueError as e:  # count_include_pad with windows past the padded input: refused
        assert kw["ceil_mode"] and kw["count_include_pad"] and "ceil_mode" in str(e)
        return
    y_ref, _, grad = np_pool(x, *win, "avg", **kw)
    _close(y.detach().numpy(), y_ref, dt, f"avg y {p}")
    dy = rng.standard_normal(y.shape).astype(dt)
    backward([y], [dy])
    _close(t.grad.numpy(), grad(dy), dt, f"avg dx {p}")


@given(p=pool_problems("random"))
def test_max_unpool_inverts_max_pool(p):
    """max_unpool of max_pool's (y, indices) (PyTorch's integer padding only) puts every
    maximum back at its index and zeros elsewhere; its gradient gathers at the indices."""
    import deepcore.nn.functional as F
    from deepcore.autograd import backward

    if isinstance(p["padding"], str):
        return
    nsp = p["nsp"]
    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal(p["shape"]).astype(p["dtype"])
    win = (p["k"], p["stride"], p["padding"])
    y, idx = getattr(F, f"max_pool{nsp}d")(dc.tensor(x), *win, return_indices=True)
    t = dc.tensor(y.detach().numpy(), requires_grad=True)
    out = getattr(F, f"max_unpool{nsp}d")(t, idx, *win, output_size=x.shape)
    N, C = x.shape[:2]
    want = np.zeros((N, C, int(np.prod(x.shape[2:]))), x.dtype)
    flat_i = idx.detach().numpy().reshape(N, C, -1)
    np.put_along_axis(want, flat_i, y.detach().numpy().reshape(N, C, -1), axis=2)
    np.testing.assert_array_equal(out.detach().numpy(), want.reshape(x.shape))
    g = rng.standard_normal(x.shape).astype(p["dtype"])
    backward([out], [g])
    np.testing.assert_array_equal(
        t.grad.numpy(), np.take_along_axis(g.reshape(N, C, -1), flat_i, 2).reshape(y.shape)
    )


@pytest.mark.parametrize("corner", ["random", "2x2/2", "padding"])
@given(data=st.data())
def test_max_pool_over_relu_hands_down_the_mask(corner, data):
    """Max pooling over a ReLU output (the relu op or a conv's fused ReLU) masks its own output
    gradient and hands the routed one down ([Note: ReLU masks handed down] in _relu_handoff.py):
    input gradients bitwise equal to the producer masking its gradient itself."""
    import deepcore.nn.functional as F
    import deepcore.nn.functional._pool as _pool

    p = data.draw(pool_problems(corner))
    conv = data.draw(st.booleans())
    rng = np.random.default_rng(p["seed"])
    x = np.round(rng.standard_normal(p["shape"]) * 4).astype(p["dtype"])  # zeros and ties
    nsp, C = p["nsp"], p["shape"][1]
    w = rng.standard_normal((C, C) + (1,) * nsp).astype(p["dtype"])
    pool = getattr(F, f"max_pool{nsp}d")
    convf = getattr(F, f"conv{nsp}d")
    grads = []
    for handoff in (_pool.relu_source, lambda ctx, k=0: None):
        saved, _pool.relu_source = _pool.relu_source, handoff
        try:
            xt, wt = dc.tensor(x, requires_grad=True), dc.tensor(w, requires_grad=True)
            r = convf(xt, wt, activation="relu") if conv else F.relu(xt)
            y = pool(r, p["k"], p["stride"], p["padding"])
            dy = np.random.default_rng(p["seed"]).standard_normal(y.shape).astype(p["dtype"])
            y.backward(dc.tensor(dy))
            grads.append((xt.grad.numpy(), wt.grad.numpy() if conv else None))
        finally:
            _pool.relu_source = saved
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    if conv:
        np.testing.assert_array_equal(grads[0][1], grads[1][1])


@given(
    nsp=st.sampled_from([1, 2, 3]),
    data=st.data(),
    ceil=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_dilated_max_pool_matches_reference(nsp, data, ceil, dtype):
    """Max pooling with dilation (the naive kernel threaded over planes; 3-D through the
    separable passes) against the box reference: values, indices, gradients. Geometry whose
    window reads no input (all taps in the padding) must be refused by name."""
    import deepcore.nn.functional as F
    from deepcore.autograd import backward
    from test_pool3d import np_pool

    k = tuple(data.draw(st.integers(1, 3)) for _ in range(nsp))
    d = tuple(data.draw(st.integers(1, 4)) for _ in range(nsp))
    s = tuple(data.draw(st.integers(1, 4)) for _ in range(nsp))
    ext = [di * (ki - 1) + 1 for di, ki in zip(d, k)]
    p = tuple(data.draw(st.integers(0, e // 2)) for e in ext)
    sizes = tuple(data.draw(st.integers(max(1, e - 2 * pi), e + 8)) for e, pi in zip(ext, p))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), *sizes)
    n = int(np.prod(shape))
    x = (np.random.default_rng(n).permutation(n).reshape(shape) / n).astype(dtype)
    t = dc.tensor(x, requires_grad=True)
    try:
        y, idx = getattr(F, f"max_pool{nsp}d")(t, k, s, p, d, ceil, return_indices=True)
    except ValueError as e:
        assert "reads no input element" in str(e)
        return
    y_ref, idx_ref, grad = np_pool(x, k, s, p, "max", ceil_mode=ceil, dilation=d)
    np.testing.assert_array_equal(y.detach().numpy(), y_ref.astype(dtype))
    np.testing.assert_array_equal(idx.detach().numpy(), idx_ref)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    backward([y], [g])
    _close(t.grad.numpy(), grad(g), dtype, f"dilated max dx {shape} {k} {s} {p} {d}")
