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
