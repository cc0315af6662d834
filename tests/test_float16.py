"""float16 storage ([Note: float16 storage] in deepcore/autograd.py): float16 tensors are
stored as float16 and computed in float32, each op's float32 result rounded back to float16
(PyTorch's CPU half semantics); float16 leaves get float16 gradients; an op or kernel that
cannot take float16 says so with a TypeError naming it and the dtype."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as nn
import deepcore.nn.functional as F
import numpy as np
import pytest
from deepcore import models
from deepcore.io import safetensors

F16, F32 = np.dtype(np.float16), np.dtype(np.float32)


def _arr(shape, seed, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float16)


# ---------------------------------------------------------------------------- making float16
@pytest.mark.parametrize(
    "make",
    [
        lambda: dc.tensor([1.0, 2.0], dtype="float16"),
        lambda: dc.tensor([1.0, 2.0], dtype="half"),
        lambda: dc.tensor([1.0, 2.0], dtype=dc.float16),
        lambda: dc.tensor([1.0, 2.0], dtype=dc.half),
        lambda: dc.tensor([1.0, 2.0], dtype=np.dtype(np.float16)),
        lambda: dc.tensor(np.array([1.0, 2.0], np.float16)),  # a float16 array keeps its dtype
        lambda: dc.from_numpy(np.array([1.0, 2.0], np.float16)),
        lambda: dc.tensor([1.0, 2.0]).half(),
        lambda: dc.tensor([1.0, 2.0]).to(dc.float16),
        lambda: dc.tensor([1.0, 2.0]).to(dtype="float16"),
        lambda: dc.tensor([1.0, 2.0]).astype("float16"),
        lambda: dc.tensor([1.0, 2.0], dtype="float64").astype(np.float16),
        lambda: dc.ops.convert_to_tensor(np.array([1.0, 2.0], np.float16)),
        lambda: dc.ops.convert_to_tensor([1.0, 2.0], dtype="float16"),
    ],
)
def test_float16_tensors_are_stored_as_float16(make):
    t = make()
    assert t.dtype == F16 and t.data.dtype == F16
    np.testing.assert_array_equal(t.data, [1.0, 2.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda d: dc.zeros(2, 3, dtype=d),
        lambda d: dc.ones((2, 3), dtype=d),
        lambda d: dc.ops.zeros(shape=(2, 3), dtype=d),  # Keras's spelling
        lambda d: dc.full((2, 3), 1.5, dtype=d),
        lambda d: dc.empty(2, 3, dtype=d),
        lambda d: dc.zeros_like(dc.ones(2, 3), dtype=d),
        lambda d: dc.ones_like(dc.ones(2, 3, dtype=d)),  # the *_like dtype is x's
        lambda d: dc.arange(0, 3, 0.5, dtype=d),
        lambda d: dc.eye(3, dtype=d),
        lambda d: dc.randn(2, 3, dtype=d),
        lambda d: dc.rand(2, 3, dtype=d),
    ],
)
@pytest.mark.parametrize("name", ["float16", "half", np.float16, dc.float16])
def test_creation_functions_take_float16(make, name):
    assert make(name).dtype == F16


def test_float16_repr_and_module_half():
    assert "dtype=float16" in repr(dc.ones(2, dtype="float16"))
    layer = nn.Dense(3)
    layer(dc.ones((2, 4)))
    layer.half()
    assert all(w.dtype == F16 for w in layer.weights)
    y = layer(dc.ones((2, 4), dtype="float16"))
    assert y.dtype == F16 and y.shape == (2, 3)


def test_unsupported_dtypes_are_type_errors():
    for bad in ("bfloat16", "float8", np.complex64, "float128"):
        with pytest.raises(TypeError, match="dtype"):
            dc.tensor([1.0], dtype=bad)


# ------------------------------------------------------------------- ops: float16 vs float32
def _vec(shape, seed):
    return _arr(shape, seed)


def _pos(shape, seed):
    return _arr(shape, seed, 0.25, 2.0)


_IDX = np.array([[2, 0, 1, 2], [1, 1, 0, 3]])

# name: (fn(*tensors) -> Tensor or tuple, input makers, composite?)  The float16 result must be
# the float32 computation on the same (float16-valued) inputs, rounded to float16: exactly for
# an op that is one Function, within float16 rounding of its intermediates for the others.
OPS = {
    "add": (lambda a, b: a + b, [_vec((3, 4), 0), _vec((4,), 1)], False),
    "sub": (lambda a, b: a - b, [_vec((3, 4), 0), _vec((3, 4), 1)], False),
    "mul": (lambda a, b: a * b, [_vec((3, 4), 0), _vec((3, 1), 1)], False),
    "div": (lambda a, b: a / b, [_vec((3, 4), 0), _pos((3, 4), 1)], False),
    "pow": (lambda a, b: a**b, [_pos((3, 4), 0), _vec((3, 4), 1)], False),
    "scalar": (lambda a: a * 3.0 + 1, [_vec((5,), 0)], True),
    "exp": (lambda a: a.exp(), [_vec((7,), 0)], False),
    "log": (lambda a: a.log(), [_pos((7,), 0)], False),
    "sqrt": (lambda a: a.sqrt(), [_pos((7,), 0)], False),
    "tanh": (lambda a: a.tanh(), [_vec((7,), 0)], False),
    "sin": (dc.sin, [_vec((7,), 0)], False),
    "erf": (dc.erf, [_vec((7,), 0)], False),
    "log1p": (dc.log1p, [_pos((7,), 0)], False),
    "clip": (lambda a: dc.clip(a, -0.5, 0.5), [_vec((9,), 0)], False),
    "maximum": (dc.maximum, [_vec((3, 4), 0), _vec((3, 4), 1)], False),
    "where": (lambda a, b: dc.where(a > 0, a, b), [_vec((3, 4), 0), _vec((3, 4), 1)], False),
    "lerp": (lambda a, b: dc.lerp(a, b, 0.3), [_vec((5,), 0), _vec((5,), 1)], True),
    "relu": (F.relu, [_vec((3, 5), 0)], False),
    "gelu": (F.gelu, [_vec((3, 5), 0)], False),
    "sigmoid": (F.sigmoid, [_vec((3, 5), 0)], False),
    "softmax": (lambda a: F.softmax(a, axis=-1), [_vec((3, 5), 0)], False),
    "log_softmax": (lambda a: F.log_softmax(a, axis=-1), [_vec((3, 5), 0)], False),
    "sum": (lambda a: a.sum(axis=1), [_vec((3, 50), 0)], False),
    "mean": (lambda a: a.mean(), [_vec((3, 50), 0)], False),
    "max": (lambda a: a.max(axis=0), [_vec((4, 5), 0)], False),
    "var": (lambda a: a.var(axis=1), [_vec((3, 9), 0)], True),
    "logsumexp": (lambda a: dc.logsumexp(a, axis=1), [_vec((3, 9), 0)], True),
    "prod": (lambda a: dc.prod(a, axis=1), [_pos((3, 5), 0)], False),
    "norm": (lambda a: dc.norm(a), [_vec((3, 5), 0)], True),
    "matmul": (lambda a, b: a @ b, [_vec((4, 6), 0), _vec((6, 3), 1)], False),
    "bmm": (lambda a, b: a @ b, [_vec((2, 4, 6), 0), _vec((2, 6, 3), 1)], False),
    "einsum": (lambda a, b: dc.einsum("ij,jk->ik", a, b), [_vec((4, 6), 0), _vec((6, 3), 1)], True),
    "linear": (F.linear, [_vec((4, 6), 0), _vec((3, 6), 1), _vec((3,), 2)], True),
    "layer_norm": (lambda a: F.layer_norm(a, (6,)), [_vec((4, 6), 0)], True),
    "conv2d": (F.conv2d, [_vec((2, 3, 7, 6), 0), _vec((4, 3, 3, 3), 1), _vec((4,), 2)], True),
    "conv_transpose2d": (
        lambda a, w: F.conv_transpose2d(a, w, None, 2),
        [_vec((2, 3, 4, 5), 0), _vec((3, 2, 3, 3), 1)],
        True,
    ),
    "max_pool2d": (lambda a: F.max_pool2d(a, 2), [_vec((2, 3, 6, 6), 0)], True),
    "avg_pool2d": (lambda a: F.avg_pool2d(a, 3, 2, 1), [_vec((2, 3, 7, 7), 0)], True),
    "interpolate": (
        lambda a: F.interpolate(a, scale_factor=2, mode="bilinear"),
        [_vec((1, 2, 3, 4), 0)],
        True,
    ),
    "cumsum": (lambda a: dc.cumsum(a, 1), [_vec((3, 40), 0)], False),
    "cumprod": (lambda a: dc.cumprod(a, 0), [_pos((6, 3), 0)], False),
    "cummax": (lambda a: dc.cummax(a, 1), [_vec((3, 8), 0)], False),
    "logcumsumexp": (lambda a: dc.logcumsumexp(a, 1), [_vec((3, 8), 0)], False),
    "gather": (lambda a: dc.gather(a, 1, _IDX), [_vec((2, 5), 0)], False),
    "scatter_add": (
        lambda a, s: dc.scatter_add(a, 1, _IDX, s),
        [_vec((2, 5), 0), _vec((2, 4), 1)],
        False,
    ),
    "sort": (lambda a: dc.sort(a, 1), [_vec((3, 7), 0)], True),
    "topk": (lambda a: dc.topk(a, 2), [_vec((3, 7), 0)], True),
    "getitem": (lambda a: a[1:, [0, 2]], [_vec((3, 4), 0)], False),
    "reshape": (lambda a: a.reshape(4, 3).T, [_vec((3, 4), 0)], True),
    "concat": (lambda a, b: dc.concat([a, b], axis=0), [_vec((2, 3), 0), _vec((1, 3), 1)], False),
    "stack": (lambda a, b: dc.stack([a, b]), [_vec((2, 3), 0), _vec((2, 3), 1)], False),
    "pad": (lambda a: F.pad(a, (1, 2), "reflect"), [_vec((2, 5), 0)], True),
    "flip": (lambda a: dc.flip(a, 0), [_vec((3, 4), 0)], True),
    "roll": (lambda a: dc.roll(a, 1, 1), [_vec((3, 4), 0)], True),
    "mse_loss": (F.mse_loss, [_vec((4, 3), 0), _vec((4, 3), 1)], True),
    "cross_entropy": (lambda a: F.cross_entropy(a, np.array([0, 2, 1])), [_vec((3, 4), 0)], True),
    "dropout_eval": (lambda a: F.dropout(a, 0.5, training=False), [_vec((3, 4), 0)], False),
}


def _outs(r):
    return [o for o in (r if isinstance(r, tuple) else (r,))]


@pytest.mark.parametrize("name", list(OPS))
def test_float16_op_matches_float32_computation(name):
    fn, arrays, composite = OPS[name]
    tol = dict(rtol=8e-3, atol=8e-3) if composite else dict(rtol=0, atol=0)
    # forward: float16 storage in and out
    out16 = _outs(fn(*[dc.tensor(a) for a in arrays]))
    out32 = _outs(fn(*[dc.tensor(a.astype(np.float32)) for a in arrays]))
    for o16, o32 in zip(out16, out32):
        if o32.dtype.kind != "f":  # indices (cummax, sort, topk)
            assert o16.dtype == o32.dtype
            np.testing.assert_array_equal(o16.data, o32.data)
            continue
        assert o16.dtype == F16, f"{name}: result is {o16.dtype}"
        scale = max(1.0, float(np.abs(o32.data).max(initial=0)))
        np.testing.assert_allclose(
            o16.data.astype(np.float32),
            o32.data.astype(np.float16).astype(np.float32),
            rtol=tol["rtol"],
            atol=tol["atol"] * scale,
            err_msg=f"{name} forward",
        )
    # backward: float16 leaves get float16 gradients, the float32 ones rounded
    x16 = [dc.tensor(a, requires_grad=True) for a in arrays]
    x32 = [dc.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    y16, y32 = _outs(fn(*x16))[0], _outs(fn(*x32))[0]
    g = _arr(y16.shape, 7)
    y16.backward(g)
    y32.backward(g.astype(np.float32))
    for i, (a, b) in enumerate(zip(x16, x32)):
        assert a.grad is not None and a.grad.dtype == F16, f"{name}: grad {i}"
        scale = max(1.0, float(np.abs(b.grad.data).max(initial=0)))
        np.testing.assert_allclose(
            a.grad.data.astype(np.float32),
            b.grad.data.astype(np.float16).astype(np.float32),
            rtol=tol["rtol"],
            atol=tol["atol"] * scale,
            err_msg=f"{name} gradient {i}",
        )


def test_float16_rounds_once_per_op():
    """1 + 2**-11 is halfway between two float16 numbers and rounds to 1 (ties to even): each
    op's result is stored in float16, so adding 2**-11 twice leaves 1, where float32 storage
    would give 1 + 2**-10 (a float16 number)."""
    one = dc.tensor([1.0], dtype="float16")
    tiny = dc.tensor([2.0**-11], dtype="float16")
    assert (one + tiny).data[0] == 1.0
    assert ((one + tiny) + tiny).data[0] == 1.0
    assert ((one.float() + tiny.float()) + tiny.float()).half().data[0] == 1.0 + 2.0**-10


def test_float16_mixed_with_float32_gives_float32():
    a = dc.tensor(_vec((3,), 0), requires_grad=True)
    b = dc.tensor(_vec((3,), 1).astype(np.float32), requires_grad=True)
    y = a * b
    assert y.dtype == F32
    np.testing.assert_array_equal(y.data, a.data.astype(np.float32) * b.data)
    y.sum().backward()
    assert a.grad.dtype == F16 and b.grad.dtype == F32
    np.testing.assert_array_equal(a.grad.data, b.data.astype(np.float16))
    # a Python scalar or an integer tensor does not widen float16
    assert (a * 2.5).dtype == F16
    assert (a + dc.tensor(np.arange(3))).dtype == F16
    assert (a @ b).dtype == F32


def test_float16_gradient_accumulates_in_float16():
    x = dc.tensor(_vec((4,), 0), requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.dtype == F16
    np.testing.assert_array_equal(x.grad.data, np.full(4, 5.0, np.float16))


def test_float16_overflow_is_inf_as_in_float16():
    x = dc.tensor([60000.0], dtype="float16")
    assert np.isinf((x * 2).data[0])  # 120000 does not fit float16
    assert (x * 2).dtype == F16
    assert float(((x * 2) / 4).data[0]) == np.inf  # rounded between ops, as PyTorch


@pytest.mark.parametrize("torch_name", ["add", "mul", "exp", "softmax", "sum", "matmul"])
def test_float16_agrees_with_torch_half(torch_name):
    torch = pytest.importorskip("torch")
    a, b = _vec((4, 5), 0), _vec((4, 5), 1)
    ours = {
        "add": lambda x, y: x + y,
        "mul": lambda x, y: x * y,
        "exp": lambda x, y: x.exp(),
        "softmax": lambda x, y: F.softmax(x, axis=-1),
        "sum": lambda x, y: x.sum(axis=1),
        "matmul": lambda x, y: x @ y.T,
    }[torch_name]
    theirs = {
        "add": lambda x, y: x + y,
        "mul": lambda x, y: x * y,
        "exp": lambda x, y: x.exp(),
        "softmax": lambda x, y: torch.softmax(x, -1),
        "sum": lambda x, y: x.sum(1),
        "matmul": lambda x, y: x @ y.T,
    }[torch_name]
    r = ours(dc.tensor(a), dc.tensor(b))
    t = theirs(torch.from_numpy(a), torch.from_numpy(b))
    assert t.dtype == torch.float16 and r.dtype == F16
    # both compute in float32 and round once: equal, or one float16 ulp apart where the
    # float32 accumulation order differs (matmul, sum)
    np.testing.assert_allclose(r.data.astype(np.float32), t.numpy().astype(np.float32),
                               rtol=1e-3, atol=1e-3)  # fmt: skip


# ---------------------------------------------------------------------------- save and load
def test_float16_safetensors_round_trip(tmp_path):
    a = _vec((3, 4), 0)
    raw = safetensors.save({"w": a})
    back = safetensors.load(raw)["w"]
    assert back.dtype == F16
    np.testing.assert_array_equal(back, a)


def test_float16_model_save_and_load(tmp_path):
    dc.manual_seed(0)
    model = models.Sequential([nn.Dense(3, input_shape=(4,))])
    model.half()
    path = tmp_path / "m.deepcore"
    model.save(path)
    back = models.load_model(path)
    for w, v in zip(model.weights, back.weights):
        assert v.dtype == F16
        np.testing.assert_array_equal(w.data, v.data)
    x = dc.ones((2, 4), dtype="float16")
    np.testing.assert_array_equal(back(x).data, model(x).data)


# ---------------------------------------------------------------------------------- bad input
def test_optimizers_refuse_integer_parameters_by_name():
    """float16 parameters are stepped through a float32 master copy (tests/test_mixed_precision.py);
    integer ones cannot be optimized: a TypeError naming the parameter and its dtype."""
    p = dc.Tensor(np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="parameter 0 must be float16, float32 or float64.*int32"):
        dc.optim.SGD([p], lr=0.1)


@pytest.mark.parametrize(
    "call",
    [
        lambda h: dc.kernels.sgemm(h, h),
        lambda h: dc._C.scan_forward(h, 1, "sum"),
        lambda h: dc._C.gather(h, 1, np.zeros((4, 4), np.int64)),
        lambda h: dc._C.scatter(h, 1, np.zeros((4, 4), np.int64), h),
        lambda h: dc._C.activation_forward(h, "relu", 0.0, 0.0),
        lambda h: dc._C.softmax_forward(h),
    ],
)
def test_native_kernels_refuse_float16_arrays(call):
    """The bindings check dtypes exactly: a float16 array reaching a kernel directly is a
    TypeError naming the argument and the dtype, never a crash or a reinterpretation."""
    h = np.ones((4, 4), np.float16)
    with pytest.raises(TypeError, match="float16"):
        call(h)
