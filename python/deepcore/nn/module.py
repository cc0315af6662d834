"""Module (alias Layer): the base of every layer and model, Keras-shaped and PyTorch-usable.

Keras style::

    class Scale(nn.Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1],), "ones")
        def call(self, x, training=None):
            return x * self.w

PyTorch style (override ``forward``; assign Parameters and sub-modules as attributes)::

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Dense(64, activation="relu"), nn.Dense(10)
        def forward(self, x):
            return self.fc2(self.fc1(x))

``__call__`` builds the layer from its first input's shape (``build(input_shape)``, batch dim
included), checks the input against ``input_spec``, then runs ``call``.

Weights: ``add_weight(..., trainable=True)`` makes a :class:`Parameter` (requires_grad);
``trainable=False`` makes plain state (BatchNorm moving statistics) that is saved in the
state_dict but never handed to an optimizer. ``named_parameters()`` / ``state_dict()`` names
are dotted paths through public attributes (``fc1.kernel``, ``blocks.0.bias``): a module's own
weights first, in creation order, then its sub-modules' in attribute order, each weight once.
Attributes whose name starts with ``_`` are not traversed (so back-references from graph nodes
cannot create cycles); a container keeping sub-layers privately overrides ``named_children``.

[Note: training mode] ``module.training`` starts True (PyTorch) and is set by ``train()`` /
``eval()``. ``layer(x, training=...)`` overrides it for that call *and every layer called
inside it* (Keras's call context), so ``model(x, training=False)`` runs Dropout and BatchNorm
in inference mode throughout; with no explicit argument each layer uses its own mode.

[Note: masking] Keras's masks: a boolean tensor per sample (and time step) saying which
entries are real data and which are padding. A layer *makes* one with
``compute_mask(inputs, mask=None)`` (``Embedding(mask_zero=True)``: ``inputs != 0``); a layer
with ``supports_masking = True`` *passes* the incoming mask on (the default ``compute_mask``
returns it: element-wise layers, Dense, Dropout, Activation, normalisation); a layer whose
``call`` takes a ``mask=`` argument *consumes* it (GlobalAveragePooling1D averages only the
unmasked steps, and returns no mask). A layer that does neither drops the mask with Keras's
warning (Flatten, Conv, pooling, Reshape). Overriding ``compute_mask`` sets
``supports_masking`` (Keras 3). Masks travel beside the values: ``Sequential`` and
functional models run each layer through :func:`call_with_mask`, which hands the mask to
``call`` when it takes one and computes the output's mask; a nested model returns its output
masks from the same run (``model(x, mask=..., return_masks=True)``), and ``fit`` / ``evaluate``
weight the losses and metrics of a model output that still carries a mask (see
[Note: weighted losses] in deepcore.losses). A subclassed model's own ``call`` sees no masks
unless it passes them itself: ``h = emb(x); y = pool(h, mask=emb.compute_mask(x))``.
Layers still to come plug in the same way: a recurrent layer takes ``call(x, mask=None)``
(skipping masked steps, carrying the state over them) and returns the mask from
``compute_mask`` only with ``return_sequences``; attention takes ``query_mask`` /
``value_mask`` from the mask of its inputs.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import threading
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, Callable, NamedTuple

import numpy as np

from ..autograd import no_grad
from ..symbolic import is_symbolic, symbolic_call
from ..tensor import Tensor
from . import initializers as _initializers
from . import regularizers as _regularizers

__all__ = [
    "Module",
    "Layer",
    "Parameter",
    "InputSpec",
    "StateDictKeyError",
    "serialize",
    "deserialize",
    "get_layer_class",
    "reset_name_counters",
    "call_with_mask",
    "weight_budget",
]


class Parameter(Tensor):
    """A Tensor that is a trainable weight: ``requires_grad=True`` by default, shares storage."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if not isinstance(data, (Tensor, np.ndarray)):
            data = np.asarray(data, dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


# ---------------------------------------------------------------------- names and registry
_registry: dict[str, type] = {}
_name_uids: dict[str, int] = defaultdict(int)
_name_lock = threading.Lock()


def _snake_case(name: str) -> str:
    """Keras's to_snake_case: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    s = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _unique_name(prefix: str) -> str:
    with _name_lock:
        n = _name_uids[prefix]
        _name_uids[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_name_counters() -> None:
    """Restart default layer names at dense, conv2d, ... (Keras's clear_session)."""
    with _name_lock:
        _name_uids.clear()


def get_layer_class(name: str) -> type:
    """The Module subclass registered under ``name`` (its class name)."""
    try:
        return _registry[name]
    except KeyError:
        raise ValueError(
            f"unknown layer class {name!r}: define (import) the class before loading, "
            "or pass it in custom_objects"
        ) from None


def serialize(layer: Module) -> dict:
    """``{"class_name": ..., "config": ...}``: JSON-able; ``deserialize`` rebuilds the layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Module:
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a layer config needs 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    if not isinstance(name, str):
        raise TypeError(f"a layer's class_name must be a string, got {name!r}")
    cls = (custom_objects or {}).get(name) or get_layer_class(name)
    cfg = config.get("config", {})
    if not isinstance(cfg, dict):
        raise TypeError(f"the config of a {name} layer must be an object, got {cfg!r}")
    return cls.from_config(dict(cfg))


class InputSpec:
    """What a built layer accepts: ``ndim`` / ``min_ndim`` and fixed sizes ``axes={-1: 64}``."""

    def __init__(
        self,
        ndim: int | None = None,
        min_ndim: int | None = None,
        max_ndim: int | None = None,
        axes: dict[int, int] | None = None,
    ) -> None:
        self.ndim, self.min_ndim, self.max_ndim = ndim, min_ndim, max_ndim
        self.axes = dict(axes or {})

    def check(self, shape: Sequence[int | None], layer: Module, index: int = 0) -> None:
        nd = len(shape)
        problem = None
        if self.ndim is not None and nd != self.ndim:
            problem = f"expected ndim={self.ndim}, found ndim={nd}"
        elif self.min_ndim is not None and nd < self.min_ndim:
            problem = f"expected min_ndim={self.min_ndim}, found ndim={nd}"
        elif self.max_ndim is not None and nd > self.max_ndim:
            problem = f"expected max_ndim={self.max_ndim}, found ndim={nd}"
        else:
            for ax, size in self.axes.items():
                if -nd <= ax < nd and shape[ax] is not None and shape[ax] != size:
                    problem = (
                        f"expected axis {ax} of size {size}, found {shape[ax]} (the layer was "
                        "built for that size)"
                    )
                    break
        if problem is not None:  # the message is only formatted on failure (hot path)
            raise ValueError(
                f"Input {index} of layer '{layer.name}' ({type(layer).__name__}) is "
                f"incompatible: {problem}; input shape {tuple(shape)}"
            )


class _WeightBudget(threading.local):
    """[Note: weight budget] ``load_model`` builds a model from a file's configuration, which
    may be corrupt or hostile: ``Dense(units=2**31)`` would allocate hundreds of GiB before any
    comparison with the stored tensors. Within ``weight_budget(n, source)`` every ``add_weight``
    (in this thread) first checks that the weights created so far plus the new one hold at
    most ``n`` values, the number the file stores, and raises ``ValueError`` naming the file
    and the weight otherwise; so building allocates no more than the file holds."""

    left: int | None = None
    total: int = 0
    source: str = ""

    def spend(self, layer: Module, name: str, shape: tuple[int, ...]) -> None:
        if self.left is None:
            return
        n = 1
        for d in shape:
            n *= d
        if n > self.left:
            raise ValueError(
                f"{self.source}: the configuration of layer '{layer.name}' "
                f"({type(layer).__name__}) asks for a weight {name!r} of shape {shape}, but the "
                f"file stores {self.total} weight values in all and {self.left} are left: the "
                "configuration does not match the stored weights"
            )
        self.left -= n


_weight_budget = _WeightBudget()


@contextlib.contextmanager
def weight_budget(values: int, source: str) -> Iterator[None]:
    """Limit the weights created in this thread to ``values`` scalars in all (see
    [Note: weight budget]); errors name ``source`` (a file)."""
    b = _weight_budget
    saved = (b.left, b.total, b.source)
    b.left, b.total, b.source = int(values), int(values), source
    try:
        yield
    finally:
        b.left, b.total, b.source = saved


class _CallContext(threading.local):
    training: bool | None = None


_call_ctx = _CallContext()


class StateDictKeyError(KeyError):
    """Missing or unexpected keys in ``load_state_dict(strict=True)``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LoadResult(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


def _shape_of(x: Any) -> Any:
    if isinstance(x, (Tensor, np.ndarray)):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shape_of(v) for v in x]
    raise TypeError(f"layer inputs must be Tensors (or NumPy arrays), got {type(x).__name__}")


def _as_tensor(x: Any, dtype: np.dtype) -> Any:
    """Layer inputs as Tensors, floating ones in the layer's dtype (Keras's autocast: a
    float64 NumPy batch fed to a float32 model is converted, not rejected)."""
    if isinstance(x, Tensor):
        d = x.data.dtype
        if d is not dtype and d != dtype and d.kind == "f":
            return x.to(dtype=dtype)  # differentiable cast
        return x
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "f" and x.dtype != dtype:
            x = x.astype(dtype)
        return Tensor(x)
    if isinstance(x, list):
        return [_as_tensor(v, dtype) for v in x]
    if isinstance(x, tuple):
        return tuple(_as_tensor(v, dtype) for v in x)
    return x


# Bookkeeping attributes of Module itself: never traversed for sub-modules.
_INTERNAL = frozenset(
    {"_weights", "_weight_trainable", "_regularizers", "_call_losses", "input_spec"}
)


def _mark_built(build: Callable) -> Callable:
    """Wrap a subclass's build so ``built`` is set however build is reached (Keras does this):
    by ``__call__`` or directly, e.g. by a Sequential that builds its layers eagerly."""
    if getattr(build, "_dc_marks_built", False):
        return build

    @functools.wraps(build)
    def wrapper(self: Module, input_shape: Any = None) -> None:
        if self._build_input_shape is None:
            self._build_input_shape = input_shape
        build(self, input_shape)
        self.built = True

    wrapper._dc_marks_built = True  # type: ignore[attr-defined]
    return wrapper


class Module:
    """Base class of layers and models. See the module docstring."""

    # Subclasses may declare their input contract up front; build() usually sets it.
    input_spec: InputSpec | list | None = None
    _call_takes_training = False
    #: the layer passes an incoming mask on (see [Note: masking]); Keras's name
    supports_masking: bool = False
    _call_takes_mask = False
    _computes_mask = False  # overrides compute_mask: may make a mask from none
    _returns_masks = False  # a model that gives its output masks (return_masks=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _registry[cls.__name__] = cls
        fn = cls.call if cls.call is not Module.call else cls.forward
        params = inspect.signature(fn).parameters
        cls._call_takes_training = "training" in params
        cls._call_takes_mask = "mask" in params
        cls._computes_mask = cls.compute_mask is not Module.compute_mask
        if "compute_mask" in cls.__dict__ and "supports_masking" not in cls.__dict__:
            cls.supports_masking = True  # Keras 3: a layer that computes masks supports them
        if "build" in cls.__dict__:
            cls.build = _mark_built(cls.__dict__["build"])

    def __init__(
        self,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        input_shape: Sequence[int | None] | None = None,
        batch_input_shape: Sequence[int | None] | None = None,
        input_dim: int | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}"
            )
        d = object.__setattr__
        d(self, "_weights", OrderedDict())  # name -> Tensor, creation order
        d(self, "_weight_trainable", {})  # name -> trainable kind (Parameter) or state
        d(self, "_regularizers", [])  # (weight, regularizer)
        d(self, "_call_losses", [])
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        self.name: str = name or _unique_name(_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self._np_dtype = np.dtype(dtype or "float32")
        self.dtype: str = self._np_dtype.name
        self.training = True
        self.built = False
        self._build_input_shape: Any = None
        # Keras: the first layer of a Sequential may say its input shape (no batch dim).
        if input_shape is None and batch_input_shape is not None:
            batch_size, input_shape = batch_input_shape[0], batch_input_shape[1:]
        if input_shape is None and input_dim is not None:
            input_shape = (input_dim,)
        if input_shape is not None:
            if isinstance(input_shape, (int, np.integer)):
                input_shape = (input_shape,)
            input_shape = tuple(None if s is None else int(s) for s in input_shape)
        self.input_shape_arg: tuple | None = input_shape
        self.batch_size_arg: int | None = batch_size

    # ------------------------------------------------------------------ attribute tracking
    def __setattr__(self, key: str, value: Any) -> None:
        weights = self.__dict__.get("_weights")
        if weights is None and isinstance(value, (Parameter, Module)):
            raise RuntimeError(
                f"cannot assign {type(value).__name__} '{key}' before Module.__init__() "
                "(call super().__init__() first)"
            )
        if isinstance(value, Parameter) and weights is not None:
            if key in weights and weights[key] is not value:
                self._replace_weight(key, value)
            elif not any(w is value for w in weights.values()):
                weights[key] = value
                self._weight_trainable[key] = True
        object.__setattr__(self, key, value)

    def _replace_weight(self, key: str, value: Tensor) -> None:
        old = self._weights[key]
        self._weights[key] = value
        self._regularizers[:] = [(value if w is old else w, r) for w, r in self._regularizers]

    # ------------------------------------------------------------------ weights
    def add_weight(
        self,
        name: str | None = None,
        shape: Sequence[int] | None = None,
        initializer: Any = "glorot_uniform",
        trainable: bool = True,
        regularizer: Any = None,
        dtype: Any = None,
    ) -> Tensor:
        """Create, register and return a weight (a Parameter when trainable).

        Keras 2 order (name, shape, ...); Keras 3's ``add_weight(shape, ...)`` with the shape
        first or ``name`` left out works too (the name is then weight, weight_1, ...)."""
        if shape is None and isinstance(name, (tuple, list, int)):
            name, shape = None, name  # Keras 3: shape is the first positional argument
        if shape is None:
            raise TypeError(f"{self.name}: add_weight needs a shape")
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        if name is None:
            name = "weight"
            i = 0
            while name in self._weights:
                i += 1
                name = f"weight_{i}"
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"{self.name}: weight name must be a non-empty string without '.'")
        if name in self._weights:
            raise ValueError(f"layer '{self.name}' already has a weight named {name!r}")
        init = _initializers.get(initializer)
        if init is None:
            init = _initializers.Zeros()
        shape = self._weight_shape(name, shape)
        _weight_budget.spend(self, name, shape)
        arr = np.asarray(init(shape, dtype or self.dtype))
        if arr.shape != shape:
            raise ValueError(
                f"{self.name}: initializer {init!r} returned shape {arr.shape} for weight "
                f"{name!r} of shape {shape}"
            )
        if trainable:
            w: Tensor = Parameter(arr, requires_grad=self._effective_trainable())
        else:
            w = Tensor(arr)
        w.name = f"{self.name}/{name}"
        self._weights[name] = w
        self._weight_trainable[name] = bool(trainable)
        reg = _regularizers.get(regularizer)
        if reg is not None:
            self._regularizers.append((w, reg))
        return w

    def _weight_shape(self, name: str, shape: Any) -> tuple[int, ...]:
        """``shape`` as a tuple of non-negative ints (a float or bool size is a mistake, not
        something to truncate)."""
        try:
            dims = tuple(shape)
        except TypeError:
            raise TypeError(
                f"layer '{self.name}': the shape of weight {name!r} must be a sequence of "
                f"integers, got {shape!r}"
            ) from None
        for d in dims:
            if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
                raise TypeError(
                    f"layer '{self.name}': the shape of weight {name!r} must hold integers, got "
                    f"{dims!r}"
                )
            if d < 0:
                raise ValueError(
                    f"layer '{self.name}': the shape of weight {name!r} has a negative size: "
                    f"{dims!r}"
                )
        return tuple(int(d) for d in dims)

    def _effective_trainable(self) -> bool:
        return self._trainable

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules: public attributes holding a Module, or lists/dicts of them."""
        for key, value in list(vars(self).items()):
            if key.startswith("_") or key in _INTERNAL:
                continue
            if isinstance(value, Module):
                yield key, value
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, Module):
                        yield f"{key}.{i}", v
            elif isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, Module):
                        yield f"{key}.{k}", v

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(
        self, prefix: str = "", memo: set | None = None
    ) -> Iterator[tuple[str, Module]]:
        """This module and every sub-module (each once), depth first."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def _named_weights(self) -> Iterator[tuple[str, Tensor, bool, bool]]:
        """(dotted name, weight, trainable kind, effectively trainable), each weight once."""
        seen: set[int] = set()

        def walk(mod: Module, prefix: str, trainable: bool, memo: set) -> Iterator:
            if id(mod) in memo:
                return
            memo.add(id(mod))
            trainable = trainable and mod._trainable
            for n, w in mod._weights.items():
                if id(w) in seen:
                    continue
                seen.add(id(w))
                kind = mod._weight_trainable[n]
                yield prefix + n, w, kind, kind and trainable
            for cname, child in mod.named_children():
                yield from walk(child, f"{prefix}{cname}.", trainable, memo)

        yield from walk(self, "", True, set())

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every trainable-kind weight (Parameter), frozen ones included (as PyTorch)."""
        for name, w, kind, _ in self._named_weights():
            if kind:
                yield name, w

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    @property
    def trainable_weights(self) -> list[Tensor]:
        return [w for _, w, _, eff in self._named_weights() if eff]

    @property
    def non_trainable_weights(self) -> list[Tensor]:
        return [w for _, w, _, eff in self._named_weights() if not eff]

    @property
    def weights(self) -> list[Tensor]:
        """Trainable then non-trainable weights (Keras's order)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze / unfreeze this layer and every sub-layer (as Keras): requires_grad follows."""
        for m in self.modules():
            m._trainable = bool(value)
        for _, w, kind, eff in self._named_weights():
            if kind:
                w.requires_grad = eff

    def count_params(self) -> int:
        """Number of scalars in all weights (trainable and not), as Keras."""
        weights = [w for _, w, _, _ in self._named_weights()]
        if not weights and not all(m.built for m in self.modules()):
            raise ValueError(
                f"layer '{self.name}' is not built yet, so its weights do not exist: call it "
                "on an input or build(input_shape) first"
            )
        return int(sum(w.size for w in weights))

    def state_dict(self) -> OrderedDict:
        """name -> copy of the array, trainable and non-trainable weights alike."""
        return OrderedDict((n, np.array(w.data, copy=True)) for n, w, _, _ in self._named_weights())

    def load_state_dict(self, state: dict, strict: bool = True) -> LoadResult:
        """Copy arrays into the existing weights (in place, so optimizer references stay)."""
        own = OrderedDict((n, w) for n, w, _, _ in self._named_weights())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            msg = [f"error loading state_dict into {type(self).__name__} '{self.name}':"]
            if missing:
                msg.append(f"missing key(s): {', '.join(missing)}")
            if unexpected:
                msg.append(f"unexpected key(s): {', '.join(unexpected)}")
            if not own:
                msg.append(
                    "(the module has no weights yet: call it on an input or build() it first)"
                )
            raise StateDictKeyError(" ".join(msg))
        arrays = {}
        for k, w in own.items():  # validate everything before changing anything
            if k not in state:
                continue
            v = state[k]
            arr = v.data if isinstance(v, Tensor) else np.asarray(v)
            if arr.shape != w.shape:
                raise ValueError(
                    f"size mismatch for {k!r} in '{self.name}': the checkpoint has shape "
                    f"{arr.shape}, the module's weight has shape {w.shape}"
                )
            arrays[k] = arr
        for k, arr in arrays.items():
            own[k].data[...] = arr
        return LoadResult(missing, unexpected)

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(w.data, copy=True) for w in self.weights]

    def set_weights(self, arrays: Sequence[Any]) -> None:
        ws = self.weights
        if len(arrays) != len(ws):
            raise ValueError(
                f"layer '{self.name}' has {len(ws)} weights, set_weights got {len(arrays)}"
            )
        arrays = [np.asarray(a.data if isinstance(a, Tensor) else a) for a in arrays]
        for w, a in zip(ws, arrays):
            if a.shape != w.shape:
                raise ValueError(
                    f"layer '{self.name}': weight {w.name} has shape {w.shape}, got {a.shape}"
                )
        for w, a in zip(ws, arrays):
            w.data[...] = a

    def zero_grad(self, set_to_none: bool = True) -> None:
        for _, w, _, _ in self._named_weights():
            if set_to_none or w.grad is None:
                w.grad = None
            else:
                w.grad.data[...] = 0

    def to(self, dtype: Any = None, device: Any = None) -> Module:
        """Cast every weight in place (the Tensor objects stay, so references stay valid)."""
        if device is not None and str(device) not in ("cpu", "cpu:0"):
            raise NotImplementedError("modules on 'cuda' come with the CUDA backend")
        if dtype is not None:
            d = np.dtype(dtype)
            if d.kind != "f":
                raise TypeError(f"modules hold floating-point weights, got dtype {d}")
            for m in self.modules():
                m.dtype, m._np_dtype = d.name, d
            for _, w, _, _ in self._named_weights():
                w.data = w.data.astype(d)
                w.grad = None
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    # ------------------------------------------------------------------ losses
    def add_loss(self, loss: Tensor) -> None:
        """An extra loss from this call (activity regularisation); cleared on the next call."""
        self._call_losses.append(loss)

    @property
    def losses(self) -> list[Tensor]:
        """Weight-regulariser penalties (computed now, from the current weights) and the
        losses added during the last call, of this module and all sub-modules."""
        out = []
        for m in self.modules():
            out.extend(reg(w) for w, reg in m._regularizers)
            out.extend(m._call_losses)
        return out

    def regularization_loss(self) -> Tensor | float:
        """The sum of ``losses`` (0.0 when there are none)."""
        total: Tensor | float = 0.0
        for loss in self.losses:
            total = loss if isinstance(total, float) else total + loss
        return total

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    # ------------------------------------------------------------------ build / call
    def build(self, input_shape: Any) -> None:
        """Create weights for ``input_shape`` (batch dim included, may be None)."""
        self.built = True

    def _maybe_build(self, input_shape: Any) -> None:
        if self.built:
            return
        self._build_input_shape = input_shape
        self.build(input_shape)
        self.built = True

    def call(self, *args: Any, **kwargs: Any) -> Any:
        if type(self).forward is Module.forward:
            raise NotImplementedError(f"{type(self).__name__} must implement call() or forward()")
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if type(self).call is Module.call:
            raise NotImplementedError(f"{type(self).__name__} must implement call() or forward()")
        return self.call(*args, **kwargs)

    def _check_input(self, x: Any) -> None:
        spec = self.input_spec
        if spec is None:
            return
        if isinstance(spec, InputSpec):
            if isinstance(x, (Tensor, np.ndarray)):
                spec.check(self._notional_shape(tuple(x.shape)), self)
            return
        xs = x if isinstance(x, (list, tuple)) else [x]
        for i, (s, xi) in enumerate(zip(spec, xs)):
            if s is not None and isinstance(xi, (Tensor, np.ndarray)):
                s.check(tuple(xi.shape), self, i)

    def _notional_shape(self, shape: tuple) -> tuple:
        """The input shape as the layer's data_format sees it (see layers/layout.py)."""
        return shape

    def __call__(self, *args: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if args:
            x = args[0]
            # hot path: a Tensor already in the layer's dtype needs no conversion
            if type(x) is not Tensor or (
                x.data.dtype is not self._np_dtype and x.data.dtype != self._np_dtype
            ):
                if is_symbolic(x):  # the functional API: record a graph node, compute nothing
                    return symbolic_call(self, args, kwargs)
                x = _as_tensor(x, self._np_dtype)
                args = (x,) + args[1:]
            if not self.built:
                self._maybe_build(self._notional_shape_any(_shape_of(x)))
            if self.input_spec is not None:
                self._check_input(x)
        elif not self.built:
            self._maybe_build(None)
        if self._call_losses:
            self._call_losses.clear()
        ctx = _call_ctx
        if training is None:  # no context change: nothing to restore afterwards
            prev = ctx.training
            training = prev if prev is not None else self.training
            if self._call_takes_training:
                return self.call(*args, training=training, **kwargs)
            return self.call(*args, **kwargs)
        prev = ctx.training
        ctx.training = training = bool(training)
        try:
            if self._call_takes_training:
                return self.call(*args, training=training, **kwargs)
            return self.call(*args, **kwargs)
        finally:
            ctx.training = prev

    def _notional_shape_any(self, shape: Any) -> Any:
        if isinstance(shape, tuple):
            return self._notional_shape(shape)
        return shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of this layer's output for ``inputs`` with input mask ``mask`` (see
        [Note: masking]): the incoming mask when the layer supports masking, else None."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape for ``input_shape`` (batch dim may be None). This default runs the
        layer on zeros with batch 1 in inference mode; layers override it with the formula."""

        def batch1(s: Any) -> Any:
            if isinstance(s, list):
                return [batch1(v) for v in s]
            if any(d is None for d in s[1:]):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': cannot infer the output shape for "
                    f"{s} with unknown non-batch sizes"
                )
            return Tensor(np.zeros((1,) + tuple(s[1:]), self.dtype))

        with no_grad():
            out = self(batch1(input_shape), training=False)

        def unbatch(o: Any) -> Any:
            if isinstance(o, (list, tuple)):
                return [unbatch(v) for v in o]
            return (input_batch,) + tuple(o.shape[1:])

        input_batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        return unbatch(out)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """JSON-able constructor arguments; ``type(self).from_config(cfg)`` rebuilds it."""
        cfg: dict[str, Any] = {"name": self.name, "trainable": self._trainable}
        if self.dtype != "float32":
            cfg["dtype"] = self.dtype
        if self.input_shape_arg is not None:
            cfg["input_shape"] = list(self.input_shape_arg)
        if self.batch_size_arg is not None:
            cfg["batch_size"] = self.batch_size_arg
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> Module:
        config = dict(config)
        params = inspect.signature(cls.__init__).parameters
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        if takes_kwargs:
            return cls(**config)
        # A PyTorch-style __init__ that does not forward Module's arguments: pass what it
        # accepts, then restore the base attributes.
        base = {k: config.pop(k) for k in ("name", "trainable", "dtype") if k in config}
        for k in ("input_shape", "batch_size"):
            if k not in params:
                config.pop(k, None)
        obj = cls(**config)
        if "name" in base:
            obj.name = base["name"]
        if "trainable" in base:
            obj.trainable = base["trainable"]
        if "dtype" in base:
            obj.to(base["dtype"])
        return obj

    # ------------------------------------------------------------------ display
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}(name={self.name!r}"]
        extra = self.extra_repr()
        head = lines[0] + (", " + extra if extra else "")
        kids = list(self.named_children())
        if not kids:
            return head + ")"
        body = []
        for n, m in kids:
            body.append("  (" + n + "): " + repr(m).replace("\n", "\n  "))
        return head + "\n" + "\n".join(body) + "\n)"


Layer = Module


def _live(mask: Any) -> bool:
    if isinstance(mask, (list, tuple)):
        return any(m is not None for m in mask)
    return mask is not None


def call_with_mask(layer: Module, args: Sequence[Any], kwargs: dict, mask: Any) -> tuple:
    """``(output, output mask)`` of ``layer(*args, **kwargs)`` given the mask of its first
    argument (a list of masks for a list of inputs); see [Note: masking]."""
    live = _live(mask)
    if layer._returns_masks:  # a nested model: its masks come from the same run
        return layer(*args, mask=mask if live else None, return_masks=True, **kwargs)
    if live and layer._call_takes_mask:
        out = layer(*args, mask=mask, **kwargs)
    else:
        out = layer(*args, **kwargs)
    if layer.supports_masking:
        return out, layer.compute_mask(args[0], mask if live else None)
    if live:
        warnings.warn(
            f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an input with a "
            "mask attached to it. However, this layer does not support masking and will "
            "therefore destroy the mask information. Downstream layers will not see the mask.",
            stacklevel=3,
        )
    return out, None
