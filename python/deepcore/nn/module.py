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

[Note: training mode] is in nn/call_context.py, [Note: masking] in nn/masking.py.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, Callable

import numpy as np

from .._array import host_copy, to_device
from .._checks import is_int
from ..autograd import _AUTOCAST
from ..symbolic import (
    _NodeAttribute,
    _with_training,
    is_symbolic,
    shape_by_dry_run,
    symbolic_call,
)
from ..tensor import Tensor
from . import dtype_policy as _dtype_policy
from . import initializers as _initializers
from . import regularizers as _regularizers
from .call_context import call_in_context
from .device import device_spec, module_to
from .dtype_policy import PolicyMixin
from .input_spec import InputSpec, _as_tensor, _shape_of
from .masking import attach_mask, call_with_mask
from .parameter import Parameter
from .serialization import (
    _registry,
    _snake_case,
    _unique_name,
    construct,
    deserialize,
    get_layer_class,
    reset_name_counters,
    serialize,
)
from .state import (
    LoadResult,
    StateDictKeyError,
    get_weight_arrays,
    load_state,
    set_weight_arrays,
)
from .weight_budget import _weight_budget, weight_budget

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


class Module(PolicyMixin):
    """Base class of layers and models. See the module docstring."""

    input = _NodeAttribute("input")
    output = _NodeAttribute("output")

    # Subclasses may declare their input contract up front; build() usually sets it.
    input_spec: InputSpec | list | None = None
    _call_takes_training = False
    #: the layer passes an incoming mask on (see [Note: masking]); Keras's name
    supports_masking: bool = False
    _call_takes_mask = False
    _computes_mask = False  # overrides compute_mask: may make a mask from none
    _returns_masks = False  # a model that gives its output masks (return_masks=True)
    #: weight name -> permutation from the stored layout to Keras's (nn/state.py)
    _keras_layouts: dict[str, tuple[int, ...]] = {}

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
        self._set_policy(_dtype_policy.get(dtype))
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
        if device_spec(self)[0] != "cpu":  # [Note: modules on a device]
            arr = to_device(arr, *device_spec(self))
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
            if not is_int(d):
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
        """name -> a NumPy copy of the array, trainable and non-trainable weights alike (on the
        host whatever the module's device: [Note: modules on a device])."""
        return OrderedDict((n, host_copy(w.data)) for n, w, _, _ in self._named_weights())

    def load_state_dict(self, state: dict, strict: bool = True) -> LoadResult:
        """Copy arrays into the existing weights (in place, so optimizer references stay);
        every name and shape is checked before anything changes (nn/state.py)."""
        return load_state(self, state, strict)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of ``weights`` in Keras's order and layouts (see [Note: Keras weight layouts]
        in nn/state.py: convolution kernels as (*kernel_size, in, out))."""
        return get_weight_arrays(self)

    def set_weights(self, arrays: Sequence[Any]) -> None:
        """Copy arrays into ``weights`` (Keras's order and layouts), in place, after checking
        them all."""
        set_weight_arrays(self, arrays)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for _, w, _, _ in self._named_weights():
            if set_to_none or w.grad is None:
                w.grad = None
            else:
                w.grad.data[...] = 0

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Module:
        """``m.to("cuda")``, ``m.to("cpu")``, ``m.to(np.float64)``, ``m.to("cuda", "float64")``,
        ``m.to(device=..., dtype=...)``: every weight moved and / or cast in place, the Tensor
        objects kept ([Note: modules on a device] in nn/device.py). "cuda" needs the CUDA
        build, a GPU and CuPy (a RuntimeError says which is missing)."""
        return module_to(self, args, dtype, device)

    def half(self) -> Module:
        """float16 weights (stored as float16, computed in float32; the optimizers step them
        through a float32 master copy: [Note: float16 parameters] in optim/optimizer.py)."""
        return self.to(np.float16)

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
        if not args and kwargs and any(is_symbolic(v) for v in kwargs.values()):
            # layer(query=q, value=v) on placeholders
            return symbolic_call(self, args, _with_training(kwargs, training))
        incoming = None  # a mask the input carries ([Note: masks on tensors] in masking.py)
        if args:
            x = args[0]
            if type(x) is Tensor:
                incoming = getattr(x, "_keras_mask", None)
            # hot path: a Tensor already in the layer's dtype needs no conversion
            if type(x) is not Tensor or (
                x.data.dtype is not self._np_dtype and x.data.dtype != self._np_dtype
            ):
                if is_symbolic(x) or (  # the functional API: record a graph node, compute nothing
                    kwargs and any(is_symbolic(v) for v in kwargs.values())
                ):
                    return symbolic_call(self, args, _with_training(kwargs, training))
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
        if incoming is not None and self._call_takes_mask and kwargs.get("mask") is None:
            kwargs["mask"] = incoming
        if self._autocast_to is _AUTOCAST.dtype:  # the common case: no policy to switch to
            out = call_in_context(self, args, kwargs, training)
        else:
            out = self._call_autocast(args, kwargs, training)
        if (
            (incoming is not None or self._computes_mask)
            and self.supports_masking
            and args
            and not self._returns_masks  # a model: its masks come from return_masks=True
        ):
            attach_mask(out, self.compute_mask(args[0], kwargs.get("mask", incoming)))
        return out

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
        return shape_by_dry_run(self, input_shape)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """JSON-able constructor arguments; ``type(self).from_config(cfg)`` rebuilds it."""
        cfg: dict[str, Any] = {"name": self.name, "trainable": self._trainable}
        if self._dtype_policy.name != "float32":
            cfg["dtype"] = self._dtype_policy.name
        if self.input_shape_arg is not None:
            cfg["input_shape"] = list(self.input_shape_arg)
        if self.batch_size_arg is not None:
            cfg["batch_size"] = self.batch_size_arg
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> Module:
        return construct(cls, config)

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
