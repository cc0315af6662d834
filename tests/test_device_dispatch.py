"""Device dispatch at the binding boundary ([Note: device dispatch] in csrc/core/device_dispatch.h).

No GPU exists here: the CUDA path is exercised with a fake array that exposes
``__cuda_array_interface__`` (never dereferenced: the kernel lookup fails before any work)."""

import numpy as np
import pytest
from deepcore import _C

CUDA_BUILT = _C.info()["cuda_built"]


class FakeCudaArray:
    """Looks like a CuPy array to the binding; its pointer is never dereferenced."""

    def __init__(self, shape, dtype=np.float32, ptr=0x10000, strides=None, **extra):
        self.__cuda_array_interface__ = dict(
            shape=tuple(shape),
            typestr=np.dtype(dtype).str,
            data=(ptr, False),
            strides=strides,
            version=3,
            **extra,
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 5), (2, 3, 4), (70001,)])
def test_axpy_cpu_matches_numpy(dtype, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    want = y.astype(np.float64) + np.float64(dtype(-1.5)) * x.astype(np.float64)
    _C.axpy(-1.5, x, y)
    np.testing.assert_allclose(y, want, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-6)


def test_axpy_in_place_on_itself():
    x = np.arange(5, dtype=np.float64)
    _C.axpy(2.0, x, x)
    np.testing.assert_array_equal(x, 3 * np.arange(5))


def test_axpy_bad_input():
    x = np.ones(4, np.float32)
    with pytest.raises(TypeError, match="x must be a numpy array of float32 or float64, got list"):
        _C.axpy(1.0, [1.0], x)
    with pytest.raises(TypeError, match="y has dtype float64 but x has float32"):
        _C.axpy(1.0, x, np.ones(4))
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got int64"):
        _C.axpy(1.0, np.ones(4, np.int64), np.ones(4, np.int64))
    with pytest.raises(ValueError, match="same shape"):
        _C.axpy(1.0, x, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="y must be C-contiguous"):
        _C.axpy(1.0, x, np.ones(8, np.float32)[::2])
    ro = np.ones(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="y must be writeable"):
        _C.axpy(1.0, x, ro)
    buf = np.ones(8, np.float32)
    with pytest.raises(ValueError, match="y must not overlap x"):
        _C.axpy(1.0, buf[:4], buf[2:6])


def test_empty_cuda_slot_is_not_implemented_naming_the_op():
    # float64 has no CUDA kernel whether or not CUDA was built
    x, y = FakeCudaArray((3,), np.float64), FakeCudaArray((3,), np.float64, ptr=0x20000)
    with pytest.raises(NotImplementedError, match="no CUDA kernel for axpy"):
        _C.axpy(1.0, x, y)


@pytest.mark.skipif(CUDA_BUILT, reason="the float32 CUDA slot is filled when CUDA is built")
def test_cuda_array_without_cuda_build_says_so():
    x, y = FakeCudaArray((3,)), FakeCudaArray((3,), ptr=0x20000)
    with pytest.raises(NotImplementedError, match="no CUDA kernel for axpy.*built without CUDA"):
        _C.axpy(1.0, x, y)


def test_mixed_devices_raise():
    with pytest.raises(ValueError, match="y is on cuda but x is on cpu"):
        _C.axpy(1.0, np.ones(3, np.float32), FakeCudaArray((3,)))
    with pytest.raises(ValueError, match="y is on cpu but x is on cuda"):
        _C.axpy(1.0, FakeCudaArray((3,)), np.ones(3, np.float32))


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(shape=(3,), typestr="<f4"), "no 'data'"),
        (dict(shape=(3,), typestr="<f4", data=(16, False), mask=object()), "masked"),
        (dict(shape=(-3,), typestr="<f4", data=(16, False)), "negative extent"),
        (dict(shape=(3,), typestr="<f4", data=(16,)), "pointer, read_only"),
        (dict(shape=(3,), typestr="<f4", data=(0, False)), "null data pointer"),
        (dict(shape=(3,), typestr="<f4", data=(16, False), strides=(4, 4)), "different lengths"),
        (dict(shape=(3,), typestr="<f4", data=(16, False), stream=0), "'stream' must not be 0"),
        (dict(shape=(3,), typestr="<f4", data=(16, False), stream=-1), "invalid"),
        (dict(shape="abc", typestr="<f4", data=(16, False)), "invalid"),
        ("not a dict", "not a dict"),
    ],
)
def test_invalid_cuda_array_interface_names_the_argument(bad, match):
    class Bad:
        __cuda_array_interface__ = bad

    with pytest.raises(ValueError, match=f"x has an invalid __cuda_array_interface__|x: {match}"):
        _C.axpy(1.0, Bad(), FakeCudaArray((3,)))
    with pytest.raises(ValueError, match=match):
        _C.axpy(1.0, Bad(), FakeCudaArray((3,)))


def test_cuda_arrays_are_validated_like_numpy_ones():
    with pytest.raises(ValueError, match="same shape"):
        _C.axpy(1.0, FakeCudaArray((3,)), FakeCudaArray((4,), ptr=0x20000))
    with pytest.raises(TypeError, match="y has dtype float64 but x has float32"):
        _C.axpy(1.0, FakeCudaArray((3,)), FakeCudaArray((3,), np.float64, ptr=0x20000))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        _C.axpy(1.0, FakeCudaArray((3,), strides=(8,)), FakeCudaArray((3,), ptr=0x20000))


# gemm: the converted pilot area (sgemm, dgemm, matmul)


@pytest.mark.parametrize("fn, dtype", [(_C.sgemm, np.float32), (_C.dgemm, np.float64)])
def test_gemm_cuda_arrays_are_validated_before_any_kernel(fn, dtype):
    a = FakeCudaArray((2, 3), dtype)
    with pytest.raises(ValueError, match="inner dimensions"):  # validated as NumPy arrays are
        fn(a, FakeCudaArray((4, 4), dtype, ptr=0x20000))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        _C.matmul(FakeCudaArray((5, 2, 3), dtype), FakeCudaArray((4, 3, 4), dtype, ptr=0x20000))


@pytest.mark.skipif(CUDA_BUILT, reason="csrc/cuda/gemm.cu fills the CUDA slots")
@pytest.mark.parametrize("fn, dtype", [(_C.sgemm, np.float32), (_C.dgemm, np.float64)])
def test_gemm_on_cuda_arrays_without_cuda_build_is_not_implemented(fn, dtype):
    a, b = FakeCudaArray((2, 3), dtype), FakeCudaArray((3, 4), dtype, ptr=0x20000)
    with pytest.raises(NotImplementedError, match="no CUDA kernel for gemm.*built without CUDA"):
        fn(a, b)
    with pytest.raises(NotImplementedError, match="no CUDA kernel for matmul.*without CUDA"):
        _C.matmul(FakeCudaArray((5, 2, 3), dtype), b)


@pytest.mark.skipif(
    not CUDA_BUILT or _C.cuda_device_count() > 0, reason="needs a CUDA build without a GPU"
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_kernel_without_gpu_is_a_clear_error(dtype):
    # the CUDA slot is filled, but no device can run it: a RuntimeError naming CUDA, no crash
    a, b = FakeCudaArray((2, 3), dtype), FakeCudaArray((3, 4), dtype, ptr=0x20000)
    out = FakeCudaArray((2, 4), dtype, ptr=0x30000)
    with pytest.raises(RuntimeError, match="CUDA"):
        (_C.sgemm if dtype == np.float32 else _C.dgemm)(a, b, out=out)
    with pytest.raises(RuntimeError, match="CUDA"):
        _C.matmul(
            FakeCudaArray((2, 2, 3), dtype),
            FakeCudaArray((3, 4), dtype, ptr=0x20000),
            out=FakeCudaArray((2, 2, 4), dtype, ptr=0x30000),
        )


def test_gemm_mixed_devices_raise():
    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="b is on cuda but a is on cpu"):
        _C.sgemm(a, FakeCudaArray((3, 4)))
    with pytest.raises(ValueError, match="out is on cuda but a is on cpu"):
        _C.sgemm(a, b, out=FakeCudaArray((2, 4)))
    with pytest.raises(ValueError, match="b is on cpu but a is on cuda"):
        _C.matmul(FakeCudaArray((2, 3)), b)
    with pytest.raises(ValueError, match="out is on cuda but a is on cpu"):
        _C.matmul(a, b, out=FakeCudaArray((2, 4)))


def test_gemm_cpu_results_come_back_as_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 5)), rng.standard_normal((2, 5, 4))
    out = _C.matmul(a, b)
    assert type(out) is np.ndarray and out.shape == (2, 3, 4)
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)
    c = _C.dgemm(a, b[0])
    assert type(c) is np.ndarray
    np.testing.assert_allclose(c, a @ b[0], rtol=1e-12)


# Every converted area ([Note: converting an area to device dispatch]): each binding, called with
# arrays that look like CUDA arrays, looks its kernel up before allocating or touching memory and
# raises NotImplementedError naming the op; with one NumPy array among CUDA ones it raises
# ValueError naming both devices. `make(shape, dtype)` creates each array argument of a call.

F8, I8, I4, U1 = np.float64, np.int64, np.int32, np.uint8


def _rnn_backward(make):
    x, w_ih, w_hh = make((2, 3, 4), F8), make((5, 4), F8), make((5, 5), F8)
    ws = (make((2, 3, 5), F8), None, make((2, 3, 5), F8), None)
    return _C.rnn_backward("rnn", x, None, None, w_ih, w_hh, None, None, ws, None, None, None)


def _conv_lstm_backward(make):
    x, w_x, w_h = make((2, 3, 2, 5), F8), make((8, 2, 3), F8), make((8, 2, 3), F8)
    ws = (make((2, 3, 8, 3), F8), make((2, 3, 2, 3), F8), make((2, 3, 2, 3), F8), None)
    return _C.conv_lstm_backward(x, None, None, w_x, w_h, None, ws, None, None, None)


def _optim_step(make):
    p, g = make((3,), F8), make((3,), F8)
    states = [[make((3,), F8)]]
    return _C.optim_step("adagrad", {"lr": 0.1}, [p], [g], states, np.zeros(1, I8))


# (op name in the error, call)
DEVICE_CASES = [
    ("activation_forward", lambda m: _C.activation_forward(m((2, 3), F8), "relu")),
    ("activation_forward", lambda m: _C.activation_forward(m((3,), F8), "relu", out=m((3,), F8))),
    ("activation_backward", lambda m: _C.activation_backward("relu", m((4,), F8), y=m((4,), F8))),
    ("prelu_forward", lambda m: _C.prelu_forward(m((2, 3), F8), m((3,), F8))),
    ("prelu_backward", lambda m: _C.prelu_backward(m((2, 3), F8), m((3,), F8), m((2, 3), F8))),
    ("bias_add", lambda m: _C.bias_add(m((2, 3), F8), m((3,), F8))),
    ("bias_grad", lambda m: _C.bias_grad(m((2, 3), F8))),
    ("dropout_forward", lambda m: _C.dropout_forward(m((5,), F8), 0.5, 1)),
    ("dropout_backward", lambda m: _C.dropout_backward(m((5,), F8), m((5,), U1), 0.5)),
    ("softmax_forward", lambda m: _C.softmax_forward(m((2, 3), F8))),
    ("softmax_forward", lambda m: _C.softmax_forward(m((2, 3), F8), out=m((2, 3), F8))),
    ("softmax_backward", lambda m: _C.softmax_backward(m((2, 3), F8), m((2, 3), F8))),
    ("cross_entropy_forward", lambda m: _C.cross_entropy_forward(m((2, 3), F8), m((2,), I8))),
    (
        "cross_entropy_backward",
        lambda m: _C.cross_entropy_backward(
            m((2, 3), F8), m((2, 3), F8), m((2, 2), F8), m((1,), F8)
        ),
    ),
    ("layer_norm_forward", lambda m: _C.layer_norm_forward(m((2, 3), F8), m((3,), F8), None, 3)),
    (
        "layer_norm_backward",
        lambda m: _C.layer_norm_backward(
            m((2, 3), F8), m((2, 3), F8), None, m((2,), F8), m((2,), F8), 3
        ),
    ),
    (
        "batch_norm_forward",
        lambda m: _C.batch_norm_forward(m((4, 3), F8), m((3,), F8), None, None, None, True),
    ),
    (
        "batch_norm_backward",
        lambda m: _C.batch_norm_backward(
            m((4, 3), F8), m((4, 3), F8), None, m((3,), F8), m((3,), F8), True
        ),
    ),
    ("scan_forward", lambda m: _C.scan_forward(m((2, 3), F8), 1, "max")),
    (
        "scan_backward",
        lambda m: _C.scan_backward("prod", m((2, 3), F8), 1, m((2, 3), F8), m((2, 3), F8)),
    ),
    ("interpolate_forward", lambda m: _C.interpolate_forward(m((1, 2, 4), F8), 8, "linear")),
    (
        "interpolate_backward",
        lambda m: _C.interpolate_backward(
            m((1, 2, 8), F8), (1, 2, 4), "nearest", out=m((1, 2, 4), F8)
        ),
    ),
    ("gather", lambda m: _C.gather(m((3, 4), F8), 0, m((2, 4), I8))),
    ("scatter", lambda m: _C.scatter(m((3, 4), F8), 0, m((2, 4), I8), m((2, 4), F8))),
    ("gather_backward", lambda m: _C.gather_backward(m((2, 4), F8), 0, m((2, 4), I8), (3, 4))),
    ("lu_factor", lambda m: _C.lu_factor(m((2, 3, 3), F8))),
    ("optim_step", _optim_step),
    ("grad_norms", lambda m: _C.grad_norms([m((3,), F8), m((4,), np.float32)])),
    ("scale_clamp_", lambda m: _C.scale_clamp_([m((3,), F8), m((2,), F8)], 0.5)),
    (
        "rnn_forward",
        lambda m: _C.rnn_forward(
            "lstm",
            m((2, 3, 4), F8),
            m((2, 5), F8),
            None,
            m((20, 4), F8),
            m((20, 5), F8),
            None,
            None,
        ),
    ),
    ("rnn_backward", _rnn_backward),
    (
        "conv_lstm_forward",
        lambda m: _C.conv_lstm_forward(
            m((2, 3, 2, 5), F8), None, None, m((8, 2, 3), F8), m((8, 2, 3), F8), m((8,), F8)
        ),
    ),
    ("conv_lstm_backward", _conv_lstm_backward),
    (
        "attention_forward",
        lambda m: _C.attention_forward(
            m((1, 2, 3, 4), F8), m((1, 2, 5, 4), F8), m((1, 2, 5, 4), F8)
        ),
    ),
    (
        "attention_backward",
        lambda m: _C.attention_backward(
            m((1, 2, 3, 4), F8),
            m((1, 2, 3, 4), F8),
            m((1, 2, 5, 4), F8),
            m((1, 2, 5, 4), F8),
            m((1, 2, 3, 4), F8),
            m((1, 2, 3), F8),
        ),
    ),
]


def _reference(call):
    """Marks a call of a binding's CPU-only reference variant (algo='reference' /
    reference=True)."""
    call.reference = True
    return call


DEVICE_CASES += [
    ("lu_factor", _reference(lambda m: _C.lu_factor(m((3, 4), F8), reference=True))),
]


# conv and pool: conv1d and 1-D pooling run as their 2-D twins, so they name the 2-D stubs
X1, X2, X3 = (1, 2, 5), (1, 2, 5, 5), (1, 2, 4, 5, 5)  # inputs
W1, W2, W3 = (3, 2, 3), (3, 2, 3, 3), (3, 2, 2, 3, 3)  # weights
Y1, Y2, Y3 = (1, 3, 3), (1, 3, 3, 3), (1, 3, 3, 3, 3)  # conv outputs
P1, P2 = (1, 2, 2), (1, 2, 2, 2)  # pooled (window 2) and adaptive (output 2) outputs
for d, x, w, y in [("1d", X1, W1, Y1), ("2d", X2, W2, Y2), ("3d", X3, W3, Y3)]:
    stub = "conv3d" if d == "3d" else "conv2d"
    fwd = getattr(_C, f"conv{d}_forward")
    bwd_in = getattr(_C, f"conv{d}_backward_input")
    bwd_w = getattr(_C, f"conv{d}_backward_weight")
    DEVICE_CASES += [
        (f"{stub}_forward", lambda m, f=fwd, x=x, w=w: f(m(x, F8), m(w, F8), m(w[:1], F8))),
        (f"{stub}_forward", lambda m, f=fwd, x=x, w=w: f(m(x, F8), m(w, F8), relu=True)),
        (
            f"{stub}_forward",
            _reference(lambda m, f=fwd, x=x, w=w: f(m(x, F8), m(w, F8), algo="reference")),
        ),
        (f"{stub}_backward_input", lambda m, f=bwd_in, x=x, w=w, y=y: f(m(y, F8), m(w, F8), x)),
        (f"{stub}_backward_weight", lambda m, f=bwd_w, x=x, w=w, y=y: f(m(x, F8), m(y, F8), w)),
        (
            f"{stub}_backward_weight",
            lambda m, f=bwd_w, x=x, w=w, y=y: f(m(x, F8), m(y, F8), w, bias=False),
        ),
    ]
for d, x, p in [("1d", X1[:2] + (4,), P1), ("2d", X2[:2] + (4, 4), P2)]:
    mp_f, mp_b = getattr(_C, f"max_pool{d}_forward"), getattr(_C, f"max_pool{d}_backward")
    ap_f, ap_b = getattr(_C, f"avg_pool{d}_forward"), getattr(_C, f"avg_pool{d}_backward")
    aa_f = getattr(_C, f"adaptive_avg_pool{d}_forward")
    aa_b = getattr(_C, f"adaptive_avg_pool{d}_backward")
    am_f = getattr(_C, f"adaptive_max_pool{d}_forward")
    DEVICE_CASES += [
        ("max_pool2d_forward", lambda m, f=mp_f, x=x: f(m(x, F8), 2)),
        ("max_pool2d_forward", _reference(lambda m, f=mp_f, x=x: f(m(x, F8), 2, reference=True))),
        (
            "max_pool2d_forward",
            lambda m, f=mp_f, x=x, p=p: f(m(x, F8), 2, return_indices=False, out=m(p, F8)),
        ),
        ("max_pool2d_backward", lambda m, f=mp_b, x=x, p=p: f(m(p, F8), m(p, I4), x)),
        (
            "max_pool2d_backward",
            lambda m, f=mp_b, x=x, p=p: f(m(p, F8), m(p, I4), x, out=m(x, F8), kernel_size=2),
        ),
        ("avg_pool2d_forward", lambda m, f=ap_f, x=x: f(m(x, F8), 2)),
        ("avg_pool2d_forward", lambda m, f=ap_f, x=x, p=p: f(m(x, F8), 2, out=m(p, F8))),
        ("avg_pool2d_backward", lambda m, f=ap_b, x=x, p=p: f(m(p, F8), x, 2)),
        ("avg_pool2d_backward", lambda m, f=ap_b, x=x, p=p: f(m(p, F8), x, 2, out=m(x, F8))),
        (
            "avg_pool2d_backward",
            _reference(lambda m, f=ap_b, x=x, p=p: f(m(p, F8), x, 2, reference=True)),
        ),
        ("adaptive_avg_pool2d_forward", lambda m, f=aa_f, x=x: f(m(x, F8), 2)),
        ("adaptive_avg_pool2d_backward", lambda m, f=aa_b, x=x, p=p: f(m(p, F8), x)),
        ("adaptive_max_pool2d_forward", lambda m, f=am_f, x=x: f(m(x, F8), 2)),
        ("adaptive_max_pool2d_forward", lambda m, f=am_f, x=x: f(m(x, F8), 2, False)),
    ]
DEVICE_CASES += [
    ("global_avg_pool_forward", lambda m: _C.global_avg_pool_forward(m((2, 3, 4, 4), F8))),
    ("global_avg_pool_backward", lambda m: _C.global_avg_pool_backward(m((2, 3), F8), (2, 3, 4))),
]
_ids = [f"{op}-{i}" for i, (op, _) in enumerate(DEVICE_CASES)]


def _fake_maker(numpy_first=False, count_only=False):
    made = []

    def make(shape, dtype):
        made.append(shape)
        if numpy_first and len(made) == 1:
            return np.zeros(shape, dtype)
        # count_only: int8 arrays, which every binding refuses (dtype) before any kernel
        dt = np.int8 if count_only else dtype
        return FakeCudaArray(shape, dt, ptr=len(made) << 24)  # disjoint, never dereferenced

    return make, made


# The ops whose CUDA slots csrc/cuda/ fills when CUDA is built (activation.cu, softmax.cu,
# norm.cu, optim.cu, conv.cu, pool.cu). In such a build their fake-array calls would run a kernel
# on pointers that are not device memory, so they are only made where no GPU can run one; their
# reference variants (_reference) stay CPU-only in every build.
CUDA_KERNEL_OPS = {
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv3d_forward",
    "conv3d_backward_input",
    "conv3d_backward_weight",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d_forward",
    "global_avg_pool_forward",
    "global_avg_pool_backward",
    "activation_forward",
    "activation_backward",
    "prelu_forward",
    "prelu_backward",
    "bias_add",
    "bias_grad",
    "dropout_forward",
    "dropout_backward",
    "softmax_forward",
    "softmax_backward",
    "cross_entropy_forward",
    "cross_entropy_backward",
    "layer_norm_forward",
    "layer_norm_backward",
    "batch_norm_forward",
    "batch_norm_backward",
    "optim_step",
    "grad_norms",
    "scale_clamp_",
}


@pytest.mark.parametrize("op, call", DEVICE_CASES, ids=_ids)
def test_every_converted_op_on_cuda_arrays_is_not_implemented(op, call):
    filled = CUDA_BUILT and op in CUDA_KERNEL_OPS
    if filled and not getattr(call, "reference", False):
        pytest.skip(f"csrc/cuda/ fills the CUDA slot of {op} in this build")
    make, _ = _fake_maker()
    # a reference variant of a filled slot names the CPU-only reference instead
    match = "no CUDA kernel for .*reference" if filled else f"no CUDA kernel for {op}\\b"
    with pytest.raises(NotImplementedError, match=match):
        call(make)


def _kernel_call(op, call):
    """A call that reaches a filled CUDA slot in a CUDA build (not a reference variant)."""
    return op in CUDA_KERNEL_OPS and not getattr(call, "reference", False)


def test_cuda_kernel_ops_are_device_cases():
    assert CUDA_KERNEL_OPS <= {op for op, _ in DEVICE_CASES}


@pytest.mark.skipif(
    not CUDA_BUILT or _C.cuda_device_count() > 0, reason="needs a CUDA build without a GPU"
)
@pytest.mark.parametrize(
    "op, call",
    [c for c in DEVICE_CASES if _kernel_call(*c)],
    ids=[f"{op}-{i}" for i, (op, call) in enumerate(DEVICE_CASES) if _kernel_call(op, call)],
)
def test_filled_cuda_slot_without_gpu_is_a_clear_error(op, call):
    # the kernel exists but nothing can run it: allocating a CUDA output asks for CuPy, a
    # launch into a given output reports the CUDA error; never a crash
    make, _ = _fake_maker()
    with pytest.raises((RuntimeError, TypeError), match="CUDA|CuPy"):
        call(make)


def _array_count(call):
    # Python builds every argument before the call, so the count is complete whatever the
    # binding then raises; with a CUDA build no kernel may run on these pointers
    make, made = _fake_maker(count_only=True)
    try:
        call(make)
    except (TypeError, ValueError, NotImplementedError):
        pass
    return len(made)


# the calls with more than one array argument, whose first is then made a NumPy array
MIXED_CASES = [(op, call) for op, call in DEVICE_CASES if _array_count(call) >= 2]


@pytest.mark.parametrize(
    "op, call", MIXED_CASES, ids=[f"{op}-{i}" for i, (op, _) in enumerate(MIXED_CASES)]
)
def test_every_converted_op_refuses_mixed_devices(op, call):
    make, _ = _fake_maker(numpy_first=True)
    with pytest.raises(ValueError, match=r"is on (cuda|cpu) but .* is on (cpu|cuda) \(all arrays"):
        call(make)


def test_mixed_device_cases_cover_most_ops():
    assert len({op for op, _ in MIXED_CASES}) >= 32


def test_every_conv_and_pool_binding_is_covered():
    # each conv*/pool binding taking arrays appears in DEVICE_CASES (through its own name or,
    # for conv1d and 1-D pooling, the call made by the loops above)
    names = {n for n in dir(_C) if n.startswith(("conv", "max_pool", "avg_pool", "adaptive_"))}
    names |= {n for n in dir(_C) if n.startswith("global_avg_pool")}
    # (queries about shapes, no arrays)
    names -= {n for n in names if n.endswith(("_algorithm", "_output_shape", "_tiles"))}
    called = set()
    for _, call in DEVICE_CASES:
        f = (call.__defaults__ or (None,))[0]
        called.add(getattr(f, "__name__", None))
        called |= {n for n in call.__code__.co_names if n in names}
    assert names <= called, names - called
