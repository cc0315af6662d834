"""deepcore.Tensor: an n-dimensional array with reverse-mode autograd.

Storage is a NumPy array on the CPU (``Tensor.data``), a CuPy array on "cuda" (``Tensor.device``
says which; see [Note: array module] and [Note: tensors on "cuda"] in _array.py).
Differentiable operators are :class:`deepcore.autograd.Function` subclasses in
:mod:`deepcore.ops` (and ``deepcore.nn.functional``). The operators and methods of Tensor
(``x + y``, ``x @ w``, ``x[idx]``, ``x.sum(axis=1)``, ``x.relu()``) are those functions,
attached by deepcore/_tensor_methods.py: one table there lists them all.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np

from . import autograd
from ._array import device_of, parse_device, require_cuda, to_device

__all__ = ["Tensor", "tensor", "from_numpy", "from_dlpack", "manual_seed", "get_rng"]

# float16 is stored as float16 and computed in float32 ([Note: float16 storage] in autograd.py)
_STORED_FLOATS = (np.float16, np.float32, np.float64)
_FLOAT_DTYPES = {
    "float16": np.float16,
    "half": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "double": np.float64,
    np.float16: np.float16,
    np.float32: np.float32,
    np.float64: np.float64,
    np.dtype(np.float16): np.float16,
    np.dtype(np.float32): np.float32,
    np.dtype(np.float64): np.float64,
    float: np.float32,
}


def _resolve_dtype(dtype: Any) -> type | None:
    if dtype is None:
        return None
    try:
        return _FLOAT_DTYPES[dtype]
    except (KeyError, TypeError):
        pass
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unsupported dtype {dtype!r}") from None
    if d.kind in "iub":
        return d.type
    raise TypeError(
        f"unsupported dtype {dtype!r} (supported: float16, float32, float64, integer, bool)"
    )


def _check_device(device: Any) -> tuple[str, int | None]:
    """The parsed device (parse_device); for "cuda", after require_cuda()'s checks."""
    dev = parse_device(device)
    if dev[0] == "cuda":
        require_cuda()
    return dev


def _storage(data: Any) -> Any:
    """A storage array for an op's result: CuPy arrays as they are, anything else (NumPy
    scalars) as a NumPy array."""
    return data if hasattr(data, "__cuda_array_interface__") else np.asarray(data)


class _ToDevice(autograd.Function):
    """A copy to another device that gradients flow through (back to the source device)."""

    @staticmethod
    def forward(ctx: autograd.Context, x: Any, device: str, index: int | None) -> Any:
        ctx.src = device_of(x)
        return to_device(x, device, index)

    @staticmethod
    def backward(ctx: autograd.Context, g: Any) -> Any:
        return to_device(g, ctx.src)


class Tensor:
    """An array plus what autograd needs: ``requires_grad``, ``grad`` and its graph node.

    Operators and methods beyond the properties, interop and autograd ones below are attached
    by deepcore/_tensor_methods.py (arithmetic, comparisons, matmul, reductions, shape,
    indexing, casts, activations)."""

    __slots__ = (
        "data",
        "grad",
        "requires_grad",
        "_ctx",
        "_out_index",
        "_retain_grad",
        "name",
        "_keras_mask",  # a layer's output mask ([Note: masks on tensors] in nn/masking.py)
        "__weakref__",
    )
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    _autocast_var = False  # Parameter: True ([Note: mixed precision] in nn/dtype_policy.py)

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        dt = _resolve_dtype(dtype)
        if isinstance(data, np.ndarray):
            arr = data if dt is None else data.astype(dt, copy=False)
        elif hasattr(data, "__cuda_array_interface__"):  # CuPy (or any CUDA array): no copy
            arr = require_cuda().asarray(data)
            arr = arr if dt is None else arr.astype(dt, copy=False)
        else:  # Python scalars and lists: float32 unless dtype= says otherwise
            arr = np.asarray(data, dtype=dt)
            if dt is None and arr.dtype.kind in "fiu":
                arr = arr.astype(np.float32)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"cannot make a Tensor of dtype {arr.dtype}")
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got {arr.dtype}")
        self.data: Any = arr  # numpy.ndarray, or cupy.ndarray on "cuda"
        self.grad: Tensor | None = None
        self.requires_grad: bool = bool(requires_grad)
        self._ctx: autograd.Context | None = None
        self._out_index = 0
        self._retain_grad = False
        self.name: str | None = None

    @classmethod
    def _wrap(cls, arr: np.ndarray) -> Tensor:
        """Wrap an array without copying or converting (the result of an op)."""
        t = cls.__new__(cls)
        t.data = arr if isinstance(arr, np.ndarray) else _storage(arr)
        t.grad = None
        t.requires_grad = False
        t._ctx = None
        t._out_index = 0
        t._retain_grad = False
        t.name = None
        return t

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> str:
        """ "cpu" (NumPy storage) or "cuda" (CuPy storage, with the CUDA backend)."""
        return device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> autograd.Context | None:
        return self._ctx

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.data.reshape(()))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iub" or self.size != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.data.reshape(()))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        on_gpu = self.device == "cuda"
        host = self.data.get() if on_gpu else self.data
        body = np.array2string(host, separator=", ", precision=4, threshold=50)
        extra = ", device='cuda'" if on_gpu else ""
        if self.dtype != np.float32:
            extra += f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.fn.__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ------------------------------------------------------------------ interop
    def numpy(self) -> np.ndarray:
        """The underlying array (no copy). Refuses while the tensor records a graph, and on
        "cuda" (as PyTorch: copy it to the host with ``.cpu()`` first)."""
        self._require_host("numpy()")
        if self.requires_grad and self._ctx is not None:
            raise RuntimeError(
                "Can't call numpy() on a Tensor that requires grad. Use tensor.detach().numpy()"
            )
        return self.data

    def item(self) -> float | int | bool:
        if self.size != 1:
            raise ValueError(
                f"only one-element tensors can be converted to a scalar, got {self.shape}"
            )
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def _require_host(self, what: str) -> None:
        if type(self.data) is not np.ndarray and self.device == "cuda":
            raise TypeError(
                f"{what} of a tensor on 'cuda' would need a copy to the host: "
                "use .cpu() (or .to('cpu')) first"
            )

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        self._require_host("__array__")
        arr = self.data
        if dtype is not None and arr.dtype != np.dtype(dtype):
            if copy is False:
                raise ValueError("converting the dtype needs a copy but copy=False was given")
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.data.__dlpack_device__()

    @property
    def __cuda_array_interface__(self) -> dict:
        """The storage's interface on "cuda" (CuPy, PyTorch, Numba and deepcore's kernels read
        the tensor in place); a tensor on the CPU has none (AttributeError, so ``hasattr`` is
        False)."""
        if type(self.data) is np.ndarray:
            raise AttributeError(
                "a tensor on 'cpu' has no __cuda_array_interface__ (move it with .to('cuda'))"
            )
        return self.data.__cuda_array_interface__

    def to(self, device: Any = None, dtype: Any = None) -> Tensor:
        """``t.to("cuda")``, ``t.to("cpu")``, ``t.to(dtype="float64")``, ``t.to(np.float64)``:
        the same tensor when nothing changes, else a copy that records a graph node (the
        gradient flows back to the source device and dtype)."""
        if device is not None and dtype is None and not isinstance(device, str):
            try:  # t.to(np.float64), as in PyTorch's t.to(torch.float64)
                dtype, device = _resolve_dtype(device), None
            except TypeError:
                pass
        out = self
        if device is not None:
            dev, index = _check_device(device)
            if dev != self.device or (index is not None and self.data.device.id != index):
                out = _ToDevice.apply(self, device=dev, index=index)
        if dtype is not None and np.dtype(_resolve_dtype(dtype)) != out.dtype:
            return out.astype(_resolve_dtype(dtype))  # deepcore.ops.cast
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires grad."""
        autograd.backward(self, gradient, retain_graph=retain_graph)

    def detach(self) -> Tensor:
        """The same storage, cut from the graph."""
        return Tensor._wrap(self.data)

    def detach_(self) -> Tensor:
        self._ctx = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf tensors")
        self.requires_grad = bool(requires_grad)
        return self

    def register_post_accumulate_grad_hook(self, hook: Any) -> autograd.RemovableHandle:
        """Call ``hook(self)`` on this leaf after each backward has added its last gradient to
        ``.grad``, while backward goes on ([Note: post-accumulate hooks] in autograd.py);
        ``.remove()`` on the returned handle unregisters it."""
        return autograd.register_post_accumulate_grad_hook(self, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retain_grad = True

    def zero_grad(self) -> None:
        self.grad = None


# ---------------------------------------------------------------------- creation
def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Make a Tensor (copying ``data``). NumPy float arrays keep float16 / float32 / float64;
    Python lists and scalars become float32; ``dtype=`` forces one ("float16" / "half",
    "float32", "float64", np types, ``deepcore.float16`` ...).
    ``device=`` "cpu" or "cuda" ("cuda:<n>"); None keeps a CuPy array's or tensor's device, and
    puts anything else on the CPU."""
    if isinstance(data, Tensor):
        data = data.data
    if device is None:
        device = "cuda" if hasattr(data, "__cuda_array_interface__") else "cpu"
    dev, index = _check_device(device)
    dt = _resolve_dtype(dtype)
    if hasattr(data, "__cuda_array_interface__"):  # CuPy: copied on the GPU, never via the host
        arr = require_cuda().array(data, dtype=dt, copy=True)
        if dt is None and arr.dtype.kind == "f" and arr.dtype not in _STORED_FLOATS:
            arr = arr.astype(np.float32)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"cannot make a tensor of dtype {arr.dtype}")
        return Tensor(to_device(arr, dev, index), requires_grad=requires_grad)
    if isinstance(data, np.ndarray):
        arr = np.array(data, dtype=dt, copy=True)
        if dt is None and arr.dtype.kind == "f" and arr.dtype not in _STORED_FLOATS:
            arr = arr.astype(np.float32)  # (longdouble)
    else:
        try:
            arr = np.array(data, dtype=dt)
        except (TypeError, ValueError) as e:
            raise TypeError(f"cannot make a tensor from {type(data).__name__}: {e}") from None
        if dt is None and arr.dtype.kind in "fiu":
            arr = arr.astype(np.float32)
    if dev == "cuda":
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"cannot make a tensor of dtype {arr.dtype}")
        arr = to_device(arr, dev, index)
    return Tensor(arr, requires_grad=requires_grad)


def from_numpy(a: np.ndarray) -> Tensor:
    """Share ``a``'s memory (no copy)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(a).__name__}")
    return Tensor(a)


_DL_CPU, _DL_CUDA = 1, 2  # DLPack device types (kDLCPU, kDLCUDA)


def from_dlpack(obj: Any) -> Tensor:
    """Import a tensor from any DLPack producer, no copy: NumPy, PyTorch, CuPy arrays on the CPU
    (a tensor on "cpu"), or on a CUDA GPU (a tensor on "cuda", through CuPy)."""
    if isinstance(obj, Tensor):
        return obj
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"{type(obj).__name__} does not implement the DLPack protocol")
    dev_type, _ = obj.__dlpack_device__()
    if dev_type == _DL_CPU:
        return Tensor(np.from_dlpack(obj))
    if dev_type == _DL_CUDA:
        _check_device("cuda")
        return Tensor(require_cuda().from_dlpack(obj))
    raise ValueError(
        f"from_dlpack: {type(obj).__name__} lives on DLPack device type {dev_type}; "
        "deepcore takes CPU (1) and CUDA (2) arrays"
    )


_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed deepcore's random generator (initialisers, dropout, shuffling)."""
    global _rng
    _rng = np.random.default_rng(seed)


def get_rng() -> np.random.Generator:
    return _rng


autograd._Tensor = Tensor


class _CallableModule(types.ModuleType):
    """``deepcore.tensor`` is both this module (``import deepcore.tensor as t``) and the
    ``tensor()`` factory (``deepcore.tensor([1.0, 2.0])``): a package attribute can hold only
    one object, so the module forwards calls to the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        return tensor(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
