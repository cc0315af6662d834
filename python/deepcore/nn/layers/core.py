"""Dense, Dropout, Embedding, Maxout, TimeDistributed, Lambda, Identity, Masking.

[Note: dense kernel layout] ``Dense.kernel`` is stored (input_dim, units), Keras's layout, so
``layer.weights``, ``get_weights`` / ``set_weights`` and saved files exchange with Keras models
as they are; ``F.dense`` multiplies by it with no copy (our GEMM reads either layout), so no
transpose happens per step. PyTorch's ``nn.Linear.weight`` is the transpose (units,
input_dim), the layout ``F.linear`` takes: ``kernel.numpy().T``. Model files of format
version 1 stored the PyTorch layout; ``load_model`` transposes them (models/saving.py,
``_legacy_transposed``). Maxout's kernel follows the same (input_dim, units·pieces) layout.
Both draw their initial kernel as the transpose of an (out, in) draw with the same fans
(``initializers.transposed_draw``): the numbers they drew when stored (out, in), so seeded runs
and the figures recorded from them are unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ... import symbolic
from ..._checks import is_real, positive_int, unit_rate
from ...tensor import Tensor
from .. import functional as F
from .. import initializers, regularizers
from ..module import InputSpec, Module, deserialize, serialize
from ..serialization import _unique_name
from .activation import get_activation, serialize_activation

__all__ = [
    "Dense",
    "Dropout",
    "Embedding",
    "Maxout",
    "TimeDistributed",
    "Lambda",
    "Identity",
    "Masking",
    "OpLambda",
]


def set_kernel_args(
    layer: Module,
    use_bias: bool,
    kernel_initializer: Any,
    bias_initializer: Any,
    kernel_regularizer: Any,
    bias_regularizer: Any = None,
) -> None:
    """Resolve and store the Keras kernel/bias arguments shared by Dense, Maxout and Conv."""
    layer.use_bias = bool(use_bias)
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)
    layer.kernel_regularizer = regularizers.get(kernel_regularizer)
    layer.bias_regularizer = regularizers.get(bias_regularizer)


def kernel_and_bias(
    layer: Module, kernel_shape: tuple, n_out: int, transposed_draw: bool = False
) -> tuple:
    """The (kernel, bias-or-None) weights of Dense / Maxout / Conv from the layer's
    ``*_initializer`` / ``*_regularizer`` / ``use_bias`` attributes; ``transposed_draw`` draws
    an (in, out) kernel in the order of its transpose (``initializers.transposed_draw``)."""
    init = layer.kernel_initializer
    if transposed_draw and init is not None:
        init = initializers.transposed_draw(init)
    kernel = layer.add_weight("kernel", kernel_shape, init, regularizer=layer.kernel_regularizer)
    bias = None
    if layer.use_bias:
        bias = layer.add_weight(
            "bias", (n_out,), layer.bias_initializer, regularizer=layer.bias_regularizer
        )
    return kernel, bias


def kernel_and_bias_config(layer: Module) -> dict:
    return {
        "use_bias": layer.use_bias,
        "kernel_initializer": initializers.serialize(layer.kernel_initializer),
        "bias_initializer": initializers.serialize(layer.bias_initializer),
        "kernel_regularizer": regularizers.serialize(layer.kernel_regularizer),
        "bias_regularizer": regularizers.serialize(layer.bias_regularizer),
    }


class Dense(Module):
    """``y = activation(x · W + b)`` over the last axis (see [Note: dense kernel layout])."""

    supports_masking = True
    #: weights stored transposed by model files of format version 1 (models/saving.py)
    _legacy_transposed = ("kernel",)  # per time step on sequences: the mask passes on (Keras)

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = positive_int("Dense: units", units)
        self.activation = get_activation(activation)
        set_kernel_args(
            self, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer,
        )  # fmt: skip

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"Dense '{self.name}' needs inputs of shape (batch, ..., features) with a known "
                f"last dimension, got {tuple(input_shape)}"
            )
        in_dim = int(input_shape[-1])
        self.kernel, self.bias = kernel_and_bias(
            self, (in_dim, self.units), self.units, transposed_draw=True
        )
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, x: Tensor) -> Tensor:
        # (batch, ..., in): F.dense is one GEMM over all leading positions
        return self.activation(F.dense(x, self.kernel, self.bias))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": serialize_activation(self.activation),
            **kernel_and_bias_config(self),
        }

    def extra_repr(self) -> str:
        return f"units={self.units}, activation={serialize_activation(self.activation)!r}"


class Dropout(Module):
    """Inverted dropout: zero each element with probability ``rate`` and scale the rest by
    1/(1-rate) in training (a new mask every call); the identity at inference.

    ``noise_shape`` (Keras) shares the mask along axes of size 1, e.g. (batch, 1, features)
    drops whole features for every time step. ``seed`` is kept in the config for Keras
    compatibility only: masks come from ``deepcore.get_rng()`` (``deepcore.manual_seed``).
    """

    supports_masking = True

    def __init__(
        self,
        rate: float,
        noise_shape: tuple | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rate = unit_rate("Dropout: rate", rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._layout_elementwise = self.noise_shape is None

    def call(self, x: Tensor, training: bool | None = None) -> Tensor:
        if not training or self.rate == 0.0:
            return x
        shape = None
        if self.noise_shape is not None:
            shape = tuple(x.shape[i] if s is None else s for i, s in enumerate(self.noise_shape))
        return F.dropout(x, self.rate, training=True, noise_shape=shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "rate": self.rate, "seed": self.seed}
        cfg["noise_shape"] = None if self.noise_shape is None else list(self.noise_shape)
        return cfg


class Embedding(Module):
    """Integer indices (batch, ...) -> vectors (batch, ..., output_dim): a table lookup whose
    gradient scatter-adds into the rows that were used.

    ``mask_zero=True`` (Keras): index 0 is padding. The layer's ``compute_mask(inputs)`` is
    ``inputs != 0`` and travels to the next layers (see [Note: masking] in nn/masking.py), so
    pooling, losses and metrics skip the padded steps. As in Keras, index 0 is still a row of
    the table: ``input_dim`` is the vocabulary size + 1.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        mask_zero: bool = False,
        input_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim = positive_int("Embedding: input_dim", input_dim)
        self.output_dim = positive_int("Embedding: output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise TypeError(f"Embedding: mask_zero must be True or False, got {mask_zero!r}")
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero

    def build(self, input_shape: tuple) -> None:
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
        )  # fmt: skip

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """``inputs != 0`` with ``mask_zero=True`` (a bool Tensor of the inputs' shape), else
        None."""
        if not self.mask_zero:
            return None
        idx = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        return Tensor(idx != 0)

    def call(self, x: Tensor) -> Tensor:
        idx = x.data if isinstance(x, Tensor) else np.asarray(x)
        if idx.dtype.kind == "f":
            if not np.all(idx == np.floor(idx)):
                raise TypeError(f"Embedding '{self.name}' needs integer indices, got {idx.dtype}")
            idx = idx.astype(np.int64)
        elif idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding '{self.name}' needs integer indices, got {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.input_dim):
            raise IndexError(  # [Note: index errors] in ops/_indexing.py
                f"Embedding '{self.name}': index out of range [0, {self.input_dim}): "
                f"min {idx.min()}, max {idx.max()}"
            )
        return _embedding(idx, self.embeddings)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict:
        cfg = {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "mask_zero": self.mask_zero,
        }
        return cfg


def _embedding(idx: np.ndarray, table: Tensor) -> Tensor:
    return table[idx]  # advanced indexing: its backward scatter-adds (np.add.at)


class Maxout(Module):
    """A maxout unit layer (Goodfellow et al. 2013): ``y_j = max_k (x · W_kjᵀ + b_kj)`` for
    ``units`` outputs of ``pieces`` linear pieces each (Keras 1's MaxoutDense(output_dim,
    nb_feature)). Weights: kernel (input_dim, units·pieces), bias (units·pieces,)."""

    _legacy_transposed = ("kernel",)  # see [Note: dense kernel layout]

    def __init__(
        self,
        units: int,
        pieces: int = 4,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = positive_int("Maxout: units", units)
        self.pieces = positive_int("Maxout: pieces", pieces)
        set_kernel_args(
            self, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer,
        )  # fmt: skip

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"Maxout '{self.name}' needs inputs (batch, features), got {tuple(input_shape)}"
            )
        in_dim = int(input_shape[-1])
        n = self.units * self.pieces
        self.kernel, self.bias = kernel_and_bias(self, (in_dim, n), n, transposed_draw=True)
        self.input_spec = InputSpec(ndim=2, axes={-1: in_dim})

    def call(self, x: Tensor) -> Tensor:
        z = F.dense(x, self.kernel, self.bias)  # (N, units*pieces), unit-major
        return z.reshape(x.shape[0], self.units, self.pieces).max(axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.units)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "pieces": self.pieces,
            **kernel_and_bias_config(self),
        }


class TimeDistributed(Module):
    """Apply ``layer`` to every time step of (batch, time, ...) inputs with shared weights:
    the batch and time axes are merged into one, so the inner layer runs once, batched.
    A (batch, time) mask passes on unchanged."""

    supports_masking = True

    def __init__(self, layer: Module, **kwargs: Any) -> None:
        if not isinstance(layer, Module):
            raise TypeError(f"TimeDistributed wraps a layer, got {type(layer).__name__}")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed '{self.name}' needs inputs (batch, time, ...), got "
                f"{tuple(input_shape)}"
            )
        if not self.layer.built:
            self.layer.build((None, *input_shape[2:]))
        self.input_spec = InputSpec(min_ndim=3)

    def call(self, x: Tensor) -> Tensor:
        n, t = x.shape[:2]
        y = self.layer(x.reshape(n * t, *x.shape[2:]))
        return y.reshape(n, t, *y.shape[1:])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> TimeDistributed:
        config = dict(config)
        config["layer"] = deserialize(config["layer"], custom_objects)
        return cls(**config)


class Identity(Module):
    """Returns its input unchanged (a placeholder layer); masks pass through."""

    supports_masking = True
    _layout_elementwise = True

    def call(self, x: Any) -> Any:
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


class Masking(Module):
    """Marks padding time steps: a step whose features all equal ``mask_value`` is masked for
    the layers after it (see [Note: masking]) and its output is zeroed, as Keras does."""

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not is_real(mask_value):
            raise TypeError(f"Masking: mask_value must be a number, got {mask_value!r}")
        self.mask_value = float(mask_value)

    def _keep(self, x: Any) -> np.ndarray:
        a = x.data if isinstance(x, Tensor) else np.asarray(x)
        return np.any(a != self.mask_value, axis=-1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor:
        return Tensor(self._keep(inputs))

    def call(self, x: Tensor) -> Tensor:
        keep = self._keep(x)
        if keep.all():
            return x
        return x * Tensor(keep[..., None].astype(x.dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}


class Lambda(Module):
    """Wraps an expression as a layer: ``Lambda(lambda x: x ** 2)``.

    ``function(inputs, **arguments)`` runs on Tensors (or a list of them). ``output_shape``
    (a shape without the batch axis, or a function of the input shape) is needed only when a
    dry run cannot infer it. ``mask`` is an output mask, or a function ``(inputs, mask)`` that
    computes one.

    Saving: code is never written to a model file. A Lambda is saved with its function's
    name and rebuilt from ``custom_objects={name: fn}`` (``load_model`` / ``from_config``), or
    from deepcore's activations / ``deepcore.ops`` when the name is one of theirs; an anonymous
    ``lambda`` cannot be rebuilt (loading says so)."""

    def __init__(
        self,
        function: Callable,
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {type(function).__name__}")
        self.function = function
        self.output_shape_arg = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None

    def call(self, inputs: Any) -> Any:
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def compute_output_shape(self, input_shape: Any) -> Any:
        spec = self.output_shape_arg
        if spec is None:
            return super().compute_output_shape(input_shape)
        if callable(spec):
            return spec(input_shape)
        batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        return (batch, *spec)

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "function": _function_name(self.function)}
        spec = self.output_shape_arg
        if callable(spec):
            cfg["output_shape"] = {"function": _function_name(spec)}
        else:
            cfg["output_shape"] = None if spec is None else list(spec)
        if self.arguments:
            cfg["arguments"] = self.arguments
        return cfg

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Lambda:
        config = dict(config)
        config["function"] = _resolve_function(config.get("function"), custom_objects)
        spec = config.get("output_shape")
        if isinstance(spec, dict):
            config["output_shape"] = _resolve_function(spec.get("function"), custom_objects)
        return cls(**config)


def _function_name(fn: Callable) -> str:
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else "<lambda>"


def _resolve_function(name: Any, custom_objects: dict | None) -> Callable:
    """A Lambda's function by its saved name: custom_objects first, then deepcore's own
    functions (activations, ``deepcore.ops``). Never code from the file."""
    if not isinstance(name, str):
        raise TypeError(f"a Lambda layer's saved function must be a name, got {name!r}")
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name == "<lambda>":
        raise ValueError(
            "this Lambda layer wraps an anonymous lambda, whose code is not saved: define the "
            "function with def and pass custom_objects={'name': fn} when loading"
        )
    from ..functional._activation import ACTIVATIONS

    op = _graph_op(name)
    if op is not None:
        return op
    if name in ACTIVATIONS:
        return get_activation(name)
    raise ValueError(
        f"unknown function {name!r} in a Lambda layer: pass custom_objects={{{name!r}: fn}}"
    )


_OPERATORS = frozenset(
    {"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"}
    | {"neg", "pos", "abs", "getitem", "lt", "le", "gt", "ge"}
)


# Operations a graph may not record: they make arrays from numbers alone, or multiply the size
# of their input by a number from the configuration, so a crafted model file could ask for
# any allocation (see [Note: hostile model files] in deepcore.models.saving).
_SIZE_MAKING_OPS = frozenset(
    {"expand", "broadcast_to", "tile", "repeat", "pad", "one_hot", "outer", "kron", "eye"}
    | {"arange", "linspace", "full", "zeros", "ones", "empty", "tri", "meshgrid", "identity"}
    | {"multi_hot", "slice", "segment_sum", "segment_max", "logspace", "array", "append"}
)


def _graph_op(name: str) -> Callable | None:
    """The ``deepcore.ops`` function ``name`` when a saved graph may name it (not one of the
    size-making ones above), else None."""
    from ... import ops
    from ...ops import _creation

    if name in _SIZE_MAKING_OPS or name in _creation.__all__:
        return None
    return getattr(ops, name) if name in getattr(ops, "KERAS_OPS", ()) else None


def _resolve_op(op: Any) -> Callable:
    import operator

    if not isinstance(op, str):
        raise TypeError(f"OpLambda: op must be a name, got {op!r}")
    if op in _OPERATORS:
        return getattr(operator, op)
    fn = _graph_op(op)
    if fn is None:
        raise ValueError(
            f"OpLambda: unknown operation {op!r} (operations that make arrays whose size comes "
            "from their arguments are not recorded in a graph: use a custom layer)"
        )
    return fn


class OpLambda(Module):
    """An operation on placeholders of the functional API recorded as a graph node: ``x + y``,
    ``x * 2``, ``x[:, -1]`` or ``symbolic_op("mean", x, axis=1)`` (deepcore/symbolic.py). It
    applies the operator or ``deepcore.ops`` function ``op`` by name, so it saves and reloads
    like any layer; ``args`` / ``kwargs`` hold the constants, with ``{"__tensor__": i}`` where
    the call's i-th tensor goes. Like Keras's operations it holds no weights and is not listed
    in ``model.layers``."""

    _is_operation = True

    def __init__(self, op: str, args: list | None = None, kwargs: dict | None = None, **kw: Any):
        kw.setdefault("name", _unique_name(op if op not in _OPERATORS else f"tensor_{op}"))
        super().__init__(**kw)
        self._fn = _resolve_op(op)
        self.op = op
        self.op_args = symbolic.op_args_from_json(list(args or []))
        self.op_kwargs = symbolic.op_args_from_json(dict(kwargs or {}))

    def call(self, inputs: Any) -> Any:
        tensors = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        args = symbolic.decode_op_args(self.op_args, tensors)
        kwargs = {k: symbolic.decode_op_args(v, tensors) for k, v in self.op_kwargs.items()}
        return self._fn(*args, **kwargs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "op": self.op,
            "args": symbolic.op_args_to_json(self.op_args),
            "kwargs": symbolic.op_args_to_json(self.op_kwargs),
        }

    def extra_repr(self) -> str:
        return f"op={self.op!r}"


symbolic._op_layer = OpLambda
