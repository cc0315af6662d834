"""out= and in-place arguments that share memory with an input ([Note: out= aliasing] in
csrc/bindings/checks.h): exact aliasing only where the kernel is safe in place, every other
overlap a ValueError naming both arguments, never silently wrong values. Also the raw kernels'
other nonsense arguments (dropout p, shared BatchNorm / optimizer state)."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest

K = dc.kernels


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _shifted(n, seed=0):
    """(a, b): two length-n float32 views of one buffer, b one element after a."""
    buf = _rand(n + 1, seed=seed)
    return buf[:-1], buf[1:]


# ------------------------------------------------------------------ element-wise and row kernels
# Each case: (call(inputs..., out) -> result, [input arrays], index of the input `out` may alias
# exactly or None). Inputs are 1-D float32 of a size that takes the multi-threaded path.
N = 40003


def _act_fwd(x, out):
    return K.activation_forward(x, "gelu", out=out)


def _act_bwd_x(gy, x, out):
    return K.activation_backward("gelu", gy, x=x, out=out)


def _act_bwd_y(gy, y, out):
    return K.activation_backward("sigmoid", gy, y=y, out=out)


def _bias_add(x, out):
    return K.bias_add(x.reshape(-1, 1), np.ones(1, np.float32), out=out.reshape(-1, 1))


def _softmax(x, out):
    return K.softmax_forward(x.reshape(1, -1), out=out.reshape(1, -1))


def _softmax_bwd(y, gy, out):
    return K.softmax_backward(y.reshape(1, -1), gy.reshape(1, -1), out=out.reshape(1, -1))


def _log_softmax_bwd(y, gy, out):
    return K.softmax_backward(y.reshape(1, -1), gy.reshape(1, -1), log=True, out=out.reshape(1, -1))


def _ce_bwd(x, out):
    x2 = x.reshape(-1, 7)
    t = np.arange(x2.shape[0], dtype=np.int64) % 7
    _, stats = K.cross_entropy_forward(x2, t)
    return K.cross_entropy_backward(x2, t, stats, np.ones(1, np.float32), out=out.reshape(-1, 7))


def _ce_bwd_prob(x, tp, out):
    x2, tp2 = x.reshape(-1, 7), tp.reshape(-1, 7)  # (any weights: the kernel does not care)
    _, stats = K.cross_entropy_forward(x2, tp2)
    return K.cross_entropy_backward(x2, tp2, stats, np.ones(1, np.float32), out=out.reshape(-1, 7))


ELEMENTWISE = {
    "activation_forward": (_act_fwd, 1),
    "activation_backward(x)": (_act_bwd_x, 2),
    "activation_backward(y)": (_act_bwd_y, 2),
    "bias_add": (_bias_add, 1),
    "softmax_forward": (_softmax, 1),
    "softmax_backward": (_softmax_bwd, 2),
    "log_softmax_backward": (_log_softmax_bwd, 2),
    "cross_entropy_backward": (_ce_bwd, 1),
    "cross_entropy_backward(prob)": (_ce_bwd_prob, 2),
}
N7 = N - N % 7  # (cross-entropy rows of 7 classes)
CASES = [(name, i) for name, (_, n_in) in ELEMENTWISE.items() for i in range(n_in)]


@pytest.mark.parametrize("name,which", CASES)
@pytest.mark.parametrize("direction", ["out after input", "out before input"])
def test_partial_overlap_with_out_is_refused(name, which, direction):
    fn, n_in = ELEMENTWISE[name]
    inputs = [_rand(N7, seed=s) for s in range(n_in)]
    a, b = _shifted(N7)
    inp, out = (a, b) if direction == "out after input" else (b, a)
    inputs[which] = inp
    with pytest.raises(ValueError, match="out partially overlaps"):
        fn(*inputs, out)


@pytest.mark.parametrize("name,which", CASES)
def test_exact_aliasing_computes_in_place(name, which):
    fn, n_in = ELEMENTWISE[name]
    inputs = [_rand(N7, seed=s) for s in range(n_in)]
    if name.startswith("activation_backward(y)") or name.startswith("softmax") and which == 0:
        inputs[0] = np.abs(inputs[0]) * 0.1  # a plausible saved output
    want = fn(*[a.copy() for a in inputs], np.empty(N7, np.float32))
    got = fn(*inputs, inputs[which])
    assert np.shares_memory(got, inputs[which])
    np.testing.assert_array_equal(got.reshape(-1), want.reshape(-1))


def test_bias_add_out_must_not_touch_bias():
    # in place on x is fine, but here the bias is x's second row: it would change under the add
    x = _rand(2, 4)
    with pytest.raises(ValueError, match="out must not overlap bias"):
        K.bias_add(x, x[1], out=x)


def test_cross_entropy_backward_out_must_not_touch_stats_or_g():
    x = _rand(4, 3)
    t = np.array([0, 1, 2, 0])
    _, stats = K.cross_entropy_forward(x, t)
    buf = np.ones(20, np.float32)
    stats_in_buf = buf[:8].reshape(4, 2)
    stats_in_buf[:] = stats
    with pytest.raises(ValueError, match="out must not overlap stats"):
        K.cross_entropy_backward(
            x, t, stats_in_buf, np.ones(1, np.float32), out=buf[6:18].reshape(4, 3)
        )
    g = buf[:4]
    with pytest.raises(ValueError, match="out must not overlap g"):
        K.cross_entropy_backward(x, t, stats, g, out=buf[:12].reshape(4, 3))


# ---------------------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("nsp", [1, 2])
def test_pooling_out_overlapping_input_is_refused(nsp):
    d = f"{nsp}d"
    shape = (2, 3, 8) if nsp == 1 else (2, 3, 4, 8)
    x = _rand(*shape)
    # kernel 1 / stride 1: y has x's shape, so out=x type-checks; it must still be refused
    for fwd in ("max", "avg"):
        f = getattr(K, f"{fwd}_pool{d}_forward")
        with pytest.raises(ValueError, match="out must not overlap x"):
            f(x, 1, out=x) if fwd == "avg" else f(x, 1, return_indices=False, out=x)
    xk = x.copy()
    y, idx = getattr(K, f"max_pool{d}_forward")(xk, 2)
    big = np.zeros(x.size + y.size, np.float32)
    dy = big[: y.size].reshape(y.shape)
    with pytest.raises(ValueError, match="out must not overlap dy"):
        getattr(K, f"max_pool{d}_backward")(dy, idx, x.shape, out=big[: x.size].reshape(x.shape))
    with pytest.raises(ValueError, match="out must not overlap dy"):
        getattr(K, f"avg_pool{d}_backward")(
            dy, x.shape, 2, out=big[y.size - 1 : y.size - 1 + x.size].reshape(x.shape)
        )
    ibuf = np.zeros(x.size, np.float32)
    idx_view = ibuf[: idx.size].view(np.int32)
    idx_view[:] = idx.reshape(-1)
    with pytest.raises(ValueError, match="out must not overlap idx"):
        getattr(K, f"max_pool{d}_backward")(
            y, idx_view.reshape(idx.shape), x.shape, out=ibuf.reshape(x.shape)
        )


# ---------------------------------------------------------------------------- item 12: nonsense
@pytest.mark.parametrize("p", [1.0, 2.0, -0.5, float("nan"), float("inf")])
def test_dropout_backward_rejects_bad_p(p):
    g, mask = np.ones(4, np.float32), np.ones(4, np.uint8)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        K.dropout_backward(g, mask, p)


def _bn(x, w, b, rm, rv):
    return K.batch_norm_forward(x, w, b, rm, rv, True)


def test_batch_norm_running_stats_must_own_memory():
    x = _rand(4, 3)
    w, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    rm = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="running_var must not overlap running_mean"):
        _bn(x, w, b, rm, rm)
    buf = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="running_var must not overlap running_mean"):
        _bn(x, w, b, buf[:3], buf[2:])
    with pytest.raises(ValueError, match="running_mean must not overlap weight"):
        _bn(x, w, b, w, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="running_var must not overlap bias"):
        _bn(x, w, b, rm, b)
    with pytest.raises(ValueError, match="running_mean must not overlap x"):
        _bn(x, w, b, x[0], np.ones(3, np.float32))
    # separate arrays still work, and are updated
    rv = np.ones(3, np.float32)
    _bn(x, w, b, rm, rv)
    assert np.all(rm != 0) and np.all(rv != 1)


def _adam_args(n=2, size=5):
    params = [np.ones(size, np.float32) for _ in range(n)]
    grads = [np.full(size, 0.5, np.float32) for _ in range(n)]
    states = [[np.zeros(size, np.float32), np.zeros(size, np.float32)] for _ in range(n)]
    return params, grads, states, np.zeros(n, np.int64)


def test_optimizer_state_shared_between_parameters_is_refused():
    params, grads, states, steps = _adam_args()
    states[1][0] = states[0][0]
    with pytest.raises(ValueError, match=r"states\[0\]\[0\] and states\[1\]\[0\] share memory"):
        dc._C.optim_step("adam", {}, params, grads, states, steps)
    params, grads, states, steps = _adam_args()
    states[0][1] = states[0][0]  # first and second moment one array
    with pytest.raises(ValueError, match=r"states\[0\]\[0\] and states\[0\]\[1\] share"):
        dc._C.optim_step("adam", {}, params, grads, states, steps)
    params, grads, states, steps = _adam_args()
    states[1][1] = params[0]  # another parameter's storage
    with pytest.raises(ValueError, match=r"share memory"):
        dc._C.optim_step("adam", {}, params, grads, states, steps)
    params, grads, states, steps = _adam_args()
    grads[1] = states[0][0]  # a gradient read from memory the step writes
    with pytest.raises(ValueError, match=r"grads\[1\] must not overlap states\[0\]\[0\]"):
        dc._C.optim_step("adam", {}, params, grads, states, steps)
    steps = np.zeros(1, np.int64)
    with pytest.raises(ValueError, match=r"grads\[0\] must not overlap steps"):
        dc._C.optim_step("sgd", {}, [np.ones(2, np.float32)], [steps.view(np.float32)], [[]], steps)


def test_optimizer_shared_gradient_is_allowed():
    # one gradient array read by two parameters is harmless (never written)
    params, grads, states, steps = _adam_args()
    grads[1] = grads[0]
    dc._C.optim_step("adam", {}, params, grads, states, steps)
    np.testing.assert_array_equal(params[0], params[1])
    assert np.all(params[0] < 1)
