"""The user's data for one model: what ``fit`` / ``evaluate`` / ``predict`` / ``train_on_batch``
and the default ``train_step`` do to x, y and the weights before a step sees them. Arrays are
coerced to the model's dtype once per call (building the model for their shapes), a stream's
batches one by one (the first builds the model), targets are checked against compile()'s
outputs, and ``sample_weight`` / ``class_weight`` become one weight array per output. The
model-independent machinery (coercion helpers, batching, the adapters) is data_adapter.py.

[Note: sample weights] ``fit(sample_weight=...)`` / ``evaluate(sample_weight=...)`` take one
weight per sample (shape (n,), or (n, time) for sequence outputs; one array for every output,
or a list / dict per output); ``class_weight={label: weight}`` is turned into such an array from
the (sparse, binary or one-hot) targets of a single-output model, as Keras 3 does, and cannot
be combined with ``sample_weight``. The weights multiply the per-sample losses, reduced as
Keras's "sum_over_batch_size" (see [Note: weighted losses] in deepcore.losses);
``compile(weighted_metrics=[...])`` metrics see them, ``metrics=[...]`` ones do not (see
[Note: weighted metrics] in deepcore.metrics). A weighted metric is logged under its name, or
as ``weighted_<name>`` when an unweighted metric has that name (Keras 3's rule). Without weights
a step takes the unweighted fused path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..nn.module import Module
from ..symbolic import is_string_dtype
from ..tensor import Tensor
from . import data_adapter as da
from .compile_utils import Compiled

__all__ = [
    "prepare",
    "prepare_step_data",
    "prepare_batch",
    "adapter",
    "validation_adapter",
    "per_sample_weights",
]


def feed(a: np.ndarray) -> Any:
    """A batch array as a model input: a Tensor, or the array itself when it holds strings
    (see [Note: string inputs] in deepcore/symbolic.py)."""
    return a if is_string_dtype(a.dtype) else Tensor(a)


def prepare_batch(
    model: Module, x: Any, y: Any, sw: Any, class_weight: Any = None, fn: str = "fit"
) -> da.Batch:
    """One batch from a generator, PyDataset or DataLoader as (batch size, (xs, ys, sws))
    in the model's dtype; builds the model on the first (see [Note: data adapters])."""
    xs = da.as_list(x, model.input_names, "x")
    model._ensure_built(xs)
    dtype = model._model_dtype()
    xs = da.cast_floats(xs, dtype)
    if fn == "predict":
        return da.n_samples(xs, "the batch's x"), (xs, None, None)
    c = model._resolve_compile()
    ys = None
    if y is not None:
        ys = da.cast_floats(da.as_list(y, c.names, "y"), dtype)
    elif c.needs_targets:
        raise ValueError(
            f"{fn}() got a batch without targets: yield (x, y) or (x, y, sample_weight) "
            "batches (the model has a compiled loss or metrics that need y)"
        )
    n = da.n_samples(xs + (ys or []), "the batch", fn)
    sws = None if ys is None else per_sample_weights(model, c, ys, n, sw, class_weight, fn)
    return n, (xs, ys, sws)


def adapter(
    model: Module,
    x: Any,
    y: Any,
    sample_weight: Any,
    class_weight: Any,
    batch_size: int,
    shuffle: bool,
    steps: int | None,
    fn: str,
    sw_name: str = "sample_weight",
    what: str = "x and y",
) -> da.DataAdapter:
    """The data adapter for ``x`` (see [Note: data adapters]); in-memory arrays are
    prepared here, once."""
    if x is None:
        raise ValueError(f"{fn}() needs x: arrays, a generator, a PyDataset or a DataLoader")
    if not da.is_array_data(x):
        for name, v in (("y", y), ("sample_weight", sample_weight)):
            if v is not None:
                raise ValueError(
                    f"{fn}() got {name} with x of type {type(x).__name__}: a generator, "
                    "PyDataset or DataLoader gives its targets and weights in its batches "
                    "(x, y[, sample_weight])"
                )
        stream = da.stream_adapter(
            x,
            lambda bx, by, bsw: prepare_batch(model, bx, by, bsw, class_weight, fn),
            steps,
            shuffle,
            "x",
        )
        if stream.peek() is None:  # the first batch builds the model
            raise ValueError(f"{fn}() got x of type {type(x).__name__} that gives no batches")
        return stream
    xs = da.as_list(x, model.input_names, "x")
    model._ensure_built(xs)
    dtype = model._model_dtype()
    xs = da.cast_floats(xs, dtype)
    if fn == "predict":
        da.n_samples(xs, "x")
        return da.ArrayDataAdapter(xs, None, None, batch_size, False, steps)
    c = model._resolve_compile()
    ys = None
    if y is not None:
        ys = da.cast_floats(da.as_list(y, c.names, "y"), dtype)
        if len(ys) != len(c.names):
            raise ValueError(f"y has {len(ys)} arrays but the model has {len(c.names)} outputs")
    elif c.needs_targets:
        raise ValueError(
            f"{fn}() needs y (targets) for the compiled loss and metrics; only a model "
            "whose losses all come from add_loss() trains without y"
        )
    n = da.n_samples(xs + (ys or []), what, fn)
    sws = None
    if ys is not None:
        sws = per_sample_weights(model, c, ys, n, sample_weight, class_weight, fn, sw_name)
    elif sample_weight is not None or class_weight is not None:
        raise ValueError(f"{fn}() got sample or class weights but no targets y")
    return da.ArrayDataAdapter(xs, ys, sws, batch_size, shuffle, steps)


def per_sample_weights(
    model: Module,
    c: Compiled,
    ys: list[np.ndarray],
    n: int,
    sample_weight: Any,
    class_weight: Mapping[int, float] | None,
    fn: str,
    sw_name: str = "sample_weight",
) -> list | None:
    """``sample_weight`` or ``class_weight`` as one weight array (or None) per output (see
    [Note: sample weights])."""
    sws = da.sample_weights(sample_weight, c.names, n, sw_name)
    if class_weight is None:
        return sws
    if sws is not None:
        raise ValueError(
            f"{fn}() got both class_weight and sample_weight: give one of them (fold the "
            "class weights into sample_weight)"
        )
    if len(ys) != 1:
        raise ValueError(
            "class_weight is only supported for models with a single output; give "
            "sample_weight per output instead"
        )
    sparse = bool(getattr(c.losses[0], "sparse_targets", False))
    out_ndim = None
    if sparse and hasattr(model, "output_shape"):
        try:
            out_ndim = len(model.output_shape)
        except (AttributeError, TypeError):
            out_ndim = None
    return [da.class_weight_array(class_weight, ys[0], sparse, out_ndim)]


def validation_adapter(
    model: Module, validation_data: Any, batch_size: int, steps: int | None
) -> da.DataAdapter:
    """``fit(validation_data=...)``: a tuple ``(x, y[, sample_weight])`` of arrays, or a
    source of batches."""
    if isinstance(validation_data, (tuple, list)):
        if len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                "sample_weight_val), or a generator / PyDataset / DataLoader"
            )
        vsw = validation_data[2] if len(validation_data) == 3 else None
        return adapter(
            model,
            validation_data[0],
            validation_data[1],
            vsw,
            None,
            batch_size,
            False,
            steps,
            "fit",
            "validation sample_weight",
            "validation_data",
        )
    if da.is_array_data(validation_data):
        raise ValueError(
            "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
            "sample_weight_val), or a generator / PyDataset / DataLoader"
        )
    return adapter(model, validation_data, None, None, None, batch_size, False, steps, "fit")


def prepare(model: Module, x: Any, y: Any) -> tuple[Compiled, list[np.ndarray], list[np.ndarray]]:
    """Build the model for x if needed, resolve compile(), and give x and y as lists of
    arrays in the model's dtype."""
    xs = da.as_list(x, model.input_names, "x")
    model._ensure_built(xs)
    c = model._resolve_compile()
    dtype = model._model_dtype()
    ys = None if y is None else da.cast_floats(da.as_list(y, c.names, "y"), dtype)
    return c, da.cast_floats(xs, dtype), ys


def prepare_step_data(model: Module, data: Any) -> tuple[Compiled, list, list | None, list | None]:
    """The batch a default ``train_step`` / ``test_step`` receives (``x``, ``(x, y)`` or
    ``(x, y, sample_weight)``, Tensors or arrays) as compile() and arrays in the model's dtype:
    (compiled, xs, ys, sample weights per output)."""
    x, y, sw = da.unpack_batch(data)
    c, xs, ys = prepare(model, da.to_numpy_tree(x), None if y is None else da.to_numpy_tree(y))
    sws = None
    if ys is not None and sw is not None:
        sws = da.sample_weights(da.to_numpy_tree(sw), c.names, len(xs[0]), "sample_weight")
    return c, xs, ys, sws
