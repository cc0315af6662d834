"""``Model``: the Keras training API (compile / fit / evaluate / predict) over deepcore.nn.Module.

``Sequential`` and functional graphs (``Model(inputs, outputs)``) subclass it; a subclass that
overrides ``call`` (or ``forward``) is a model too. The plain PyTorch path keeps working on any of
them: ``model.parameters()``, ``optimizer.step()``, ``zero_grad()``.

[Note: lean training step] ``fit`` spends its time in the kernels: losses, metrics, optimizer
and callbacks are resolved once per ``fit``; a step is one forward under the autograd, one
backward, one fused native optimizer step, one ``loss.item()`` and a NumPy arg-max for the
accuracy; the progress bar redraws at most every 50 ms and per-batch callback hooks run only
when a callback defines them (see [Note: lean batch hooks] in callbacks.py).

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

import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optim
from ..autograd import no_grad
from ..nn.module import Module
from ..tensor import Tensor, get_rng
from . import callbacks as cbks
from .saving import compile_config, load_weights, save_model, save_weights
from .summary import summary_text

__all__ = ["Model"]


# ---------------------------------------------------------------------- data helpers
def _to_array(v: Any, what: str) -> np.ndarray:
    if isinstance(v, Tensor):
        return v.data
    if isinstance(v, np.ndarray):
        return v
    try:
        arr = np.asarray(v)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{what} must be an array (NumPy or Tensor), got {type(v).__name__}: {e}"
        ) from None
    if arr.dtype == object:
        raise TypeError(f"{what} must be a numeric array, got {type(v).__name__}")
    return arr


def _as_list(data: Any, names: Sequence[str], what: str) -> list[np.ndarray] | None:
    """Normalise x or y (array, list/tuple of arrays, or dict by name) to a list of arrays."""
    if data is None:
        return None
    if isinstance(data, Mapping):
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"{what} is a dict but lacks {missing} (expected keys: {list(names)})")
        return [_to_array(data[n], f"{what}[{n!r}]") for n in names]
    if (
        isinstance(data, (list, tuple))
        and len(data)
        and not np.isscalar(data[0])
        and (isinstance(data[0], (np.ndarray, Tensor)) or len(names) > 1)
    ):
        return [_to_array(v, f"{what}[{i}]") for i, v in enumerate(data)]
    return [_to_array(data, what)]


def _cast_floats(arrays: list[np.ndarray], dtype: np.dtype) -> list[np.ndarray]:
    """Float data in the model's dtype, C-contiguous, once per fit (not per batch)."""
    out = []
    for a in arrays:
        if a.dtype.kind == "f" and a.dtype != dtype:
            a = a.astype(dtype)
        elif a.dtype.kind in "biu" and a.dtype != np.int64 and a.ndim >= 2 and a.shape[-1] > 1:
            a = a.astype(dtype)  # integer one-hot / multi-hot targets act as floats
        out.append(np.ascontiguousarray(a))
    return out


def _n_samples(arrays: list[np.ndarray], what: str, fn: str | None = None) -> int:
    """The common number of samples; with ``fn``, zero samples is an error (fit / evaluate
    have no loss to report for nothing; predict returns an empty array, as Keras)."""
    ns = {len(a) if a.ndim else 0 for a in arrays}
    if len(ns) != 1:
        raise ValueError(
            f"all arrays in {what} must have the same number of samples, got "
            f"{[len(a) for a in arrays]}"
        )
    n = ns.pop()
    if n == 0 and fn is not None:
        raise ValueError(f"{fn}() got 0 samples in {what}: there is nothing to compute a loss on")
    return n


def _verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _check_batch_size(batch_size: Any) -> int:
    if batch_size is None:
        return 32
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or (batch_size < 1)
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _weight_array(v: Any, n: int, what: str) -> np.ndarray:
    w = _to_array(v, what)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a numeric array, got dtype {w.dtype}")
    if w.ndim == 0 or len(w) != n:
        raise ValueError(
            f"{what} must hold one weight per sample: expected shape ({n},) (or ({n}, ...) "
            f"for sequence outputs), got {tuple(w.shape)}"
        )
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{what} holds non-finite values (NaN or inf)")
    return w


def _sample_weights(sw: Any, names: Sequence[str], n: int, what: str) -> list | None:
    """``sample_weight`` as one array (or None) per output, validated against ``n`` samples."""
    if sw is None:
        return None
    if isinstance(sw, Mapping):
        unknown = [k for k in sw if k not in names]
        if unknown:
            raise ValueError(f"{what} has keys {unknown} that are not outputs of the model")
        per = [sw.get(k) for k in names]
    elif (
        isinstance(sw, (list, tuple))
        and len(names) > 1
        and len(sw) == len(names)
        and all(v is None or isinstance(v, (np.ndarray, Tensor, list, tuple)) for v in sw)
    ):
        per = list(sw)
    else:
        per = [sw] * len(names)  # Keras: one array weights every output
    out = [
        None if v is None else _weight_array(v, n, what if len(names) == 1 else f"{what}[{i}]")
        for i, v in enumerate(per)
    ]
    return None if all(v is None for v in out) else out


def _class_weight_array(
    class_weight: Mapping[Any, float], y: np.ndarray, sparse: bool, out_ndim: int | None
) -> np.ndarray:
    """Keras 3's class_weight_to_sample_weights: each sample weighs its class's weight (1 for
    classes not listed); labels are the targets themselves (sparse / binary) or their arg-max
    (one-hot). Sparse sequence targets give one weight per time step."""
    if not isinstance(class_weight, Mapping):
        raise TypeError(
            f"class_weight must be a dict {{class: weight}}, got {type(class_weight).__name__}"
        )
    keys, vals = [], []
    for k, v in class_weight.items():
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"class_weight keys must be non-negative class ids, got {k!r}")
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"class_weight[{k}] must be a number, got {v!r}") from None
        if not np.isfinite(fv):
            raise ValueError(f"class_weight[{k}] must be finite, got {v!r}")
        keys.append(int(k))
        vals.append(fv)
    if sparse:
        labels = y.reshape(y.shape[:-1]) if y.ndim > 1 and y.ndim == out_ndim else y
    elif y.ndim > 1 and y.shape[-1] != 1:
        labels = np.argmax(y, axis=-1)
    else:
        labels = y.reshape(y.shape[:-1]) if y.ndim > 1 else y
    labels = np.round(labels).astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"class_weight needs non-negative class labels, got {labels.min()}")
    size = max(int(labels.max()) + 1 if labels.size else 0, max(keys, default=-1) + 1)
    table = np.ones(size, np.float64)
    table[keys] = vals
    return table[labels]


def _combine_weights(sw: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray | None:
    """Per-entry weights for a metric: the sample weights times the output mask."""
    if mask is None:
        return sw
    m = mask.astype(np.float64)
    if sw is None:
        return m
    return losses_mod.expand_weights(sw, m.shape, "sample_weight") * m


def _softmax_np(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _Compiled:
    """What compile() resolved, per output: the loss, its weight, the metrics, the fusion."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.losses: list[losses_mod.Loss | None] = []
        self.weights: list[float] = []
        self.metrics: list[list[metrics_mod.Metric]] = []
        self.wmetrics: list[list[metrics_mod.Metric]] = []  # weighted_metrics
        self.keys: list[list[str]] = []  # log names of metrics, per output
        self.wkeys: list[list[str]] = []  # log names of weighted_metrics, per output
        self.fused: list[bool] = []
        self.probs_needed: list[bool] = []


class Model(Module):
    """A trainable graph of layers with Keras's compile / fit / evaluate / predict.

    ``Model(inputs=x, outputs=y)`` builds a functional graph (see functional.py); subclasses
    implement ``call`` for arbitrary models.
    """

    supports_masking = False  # Sequential and functional models: True (they carry masks)

    #: what ``Model(inputs, outputs)`` builds: the Functional class, which subclasses Model and
    #: so sets this itself (functional.py) rather than being imported here
    _graph_model: type | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Model:
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return object.__new__(cls._graph_model)
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_compile_args", None)
        object.__setattr__(self, "_compiled", None)
        self.optimizer: Any = None
        self.stop_training = False
        self.history: cbks.History | None = None

    # ------------------------------------------------------------------ structure (overridden)
    @property
    def output_names(self) -> list[str]:
        """One name per model output (multi-output losses and logs use them)."""
        return ["output"]

    @property
    def input_names(self) -> list[str]:
        return ["input"]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Module:
        """A layer of the model by name or position."""
        layers = getattr(self, "layers", [])
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r} in model '{self.name}'")

    def _softmax_outputs(self) -> list[bool]:
        """Per output: does it end in a softmax that can be fused with the loss?"""
        return [False] * len(self.output_names)

    def _model_dtype(self) -> np.dtype:
        for _, w, _, _ in self._named_weights():
            if w.dtype.kind == "f":
                return w.dtype
        return np.dtype(self.dtype)

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: Any = None,
        steps_per_execution: Any = None,
        jit_compile: Any = None,
        fuse_softmax_cross_entropy: bool = True,
        **kwargs: Any,
    ) -> None:
        """Configure training: optimizer (name or object), loss (name, callable, Loss, or a
        list/dict per output), metrics, loss_weights (list/dict per output), weighted_metrics
        (metrics that see the sample / class weights; see [Note: sample weights]).

        ``fuse_softmax_cross_entropy``: compute cross-entropy from the logits of a softmax
        output (see [Note: fused softmax cross-entropy] in deepcore.losses)."""
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {sorted(kwargs)}")
        if isinstance(optimizer, optim.Optimizer):
            opt = optimizer
        else:
            opt = optim.get(optimizer)
        self.optimizer = opt
        object.__setattr__(
            self,
            "_compile_args",
            {
                "loss": loss,
                "metrics": metrics,
                "weighted_metrics": weighted_metrics,
                "loss_weights": loss_weights,
                "fuse": bool(fuse_softmax_cross_entropy),
            },
        )
        object.__setattr__(self, "_compiled", None)
        if self.built:
            self._resolve_compile()

    @property
    def compiled(self) -> bool:
        return self._compile_args is not None

    def _per_output(self, value: Any, what: str) -> list[Any]:
        names = self.output_names
        n = len(names)
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(
                    f"{what} has keys {unknown} that are not outputs of the model "
                    f"(outputs: {names})"
                )
            return [value.get(k) for k in names]
        if isinstance(value, (list, tuple)) and what not in ("metrics", "weighted_metrics"):
            if len(value) != n:
                raise ValueError(f"{what} has {len(value)} entries but the model has {n} outputs")
            return list(value)
        return [value] * n

    def _resolve_compile(self) -> _Compiled:
        """Turn compile()'s arguments into per-output objects (once, when the model is built)."""
        if self._compile_args is None:
            raise RuntimeError(
                "you must compile the model before training/testing: "
                "model.compile(optimizer=..., loss=...)"
            )
        if self._compiled is not None:
            return self._compiled
        args = self._compile_args
        c = _Compiled()
        c.names = list(self.output_names)
        n = len(c.names)
        if args["loss"] is None:
            raise ValueError("compile() needs a loss to train or evaluate the model")
        raw_losses = self._per_output(args["loss"], "loss")
        c.losses = [None if v is None else losses_mod.get(v) for v in raw_losses]
        if all(v is None for v in c.losses):
            raise ValueError("compile() got no loss for any output")
        lw = args["loss_weights"]
        c.weights = (
            [1.0] * n
            if lw is None
            else [1.0 if w is None else float(w) for w in self._per_output(lw, "loss_weights")]
        )
        c.metrics = self._resolve_metrics(args["metrics"], "metrics", c.losses)
        c.wmetrics = self._resolve_metrics(
            args.get("weighted_metrics"), "weighted_metrics", c.losses
        )
        self._name_metrics(c)
        soft = self._softmax_outputs() if args["fuse"] else [False] * n
        c.fused = [
            bool(soft[i] and c.losses[i] is not None and c.losses[i].fusable_with_softmax)
            for i in range(n)
        ]
        c.probs_needed = [
            c.fused[i] and any(not mt.argmax_only for mt in c.metrics[i] + c.wmetrics[i])
            for i in range(n)
        ]
        object.__setattr__(self, "_compiled", c)
        return c

    def _resolve_metrics(self, m: Any, what: str, losses: list) -> list[list[metrics_mod.Metric]]:
        """compile()'s ``metrics`` or ``weighted_metrics``: a list of Metrics per output."""
        n = len(losses)
        if m is None:
            per: list[list[Any]] = [[] for _ in range(n)]
        elif isinstance(m, Mapping):
            per = [
                list(v) if isinstance(v, (list, tuple)) else [v] for v in self._per_output(m, what)
            ]
            per = [[] if v == [None] else v for v in per]
        elif (
            isinstance(m, (list, tuple))
            and n > 1
            and len(m) == n
            and all(isinstance(v, (list, tuple)) for v in m)
        ):
            per = [list(v) for v in m]
        else:
            per = [list(m) if isinstance(m, (list, tuple)) else [m] for _ in range(n)]
        out = []
        for i in range(n):
            ms = []
            for ident in per[i]:
                # a Metric object given for every output must not share its state
                metric = metrics_mod.get(ident, loss=losses[i])
                if n > 1 and isinstance(ident, metrics_mod.Metric) and i > 0:
                    metric = type(ident)()
                ms.append(metric)
            out.append(ms)
        return out

    @staticmethod
    def _name_metrics(c: _Compiled) -> None:
        """Log names, Keras 3's rules: ``<output>_<name>`` for several outputs, a repeated name
        gets ``_1``, ``_2``; a weighted metric whose name is taken becomes ``weighted_<name>``."""
        multi = len(c.names) > 1
        taken: dict[str, int] = {}

        def unique(name: str) -> str:
            if name not in taken:
                taken[name] = 1
                return name
            k = taken[name]
            taken[name] += 1
            return f"{name}_{k}"

        c.keys = [
            [unique(f"{nm}_{m.name}" if multi else m.name) for m in ms]
            for nm, ms in zip(c.names, c.metrics)
        ]
        c.wkeys = []
        for nm, ms in zip(c.names, c.wmetrics):
            keys = []
            for m in ms:
                key = f"{nm}_{m.name}" if multi else m.name
                if key in taken:
                    key = f"{nm}_weighted_{m.name}" if multi else f"weighted_{m.name}"
                keys.append(unique(key))
            c.wkeys.append(keys)

    @property
    def metrics_names(self) -> list[str]:
        c = self._compiled
        if c is None:
            return ["loss"]
        return ["loss"] + self._metric_keys(c)

    def _metric_keys(self, c: _Compiled) -> list[str]:
        multi = len(c.names) > 1
        keys = []
        if multi:
            keys += [f"{nm}_loss" for nm, lf in zip(c.names, c.losses) if lf is not None]
        for ks in c.keys:
            keys += ks
        for ks in c.wkeys:
            keys += ks
        return keys

    def _reset_metrics(self, c: _Compiled) -> None:
        for ms in c.metrics + c.wmetrics:
            for m in ms:
                m.reset_state()

    # ------------------------------------------------------------------ building
    def _ensure_built(self, xs: list[np.ndarray]) -> None:
        if self.built:
            return
        shapes = [(None,) + tuple(a.shape[1:]) for a in xs]
        try:
            self._maybe_build(shapes[0] if len(shapes) == 1 else shapes)
        except NotImplementedError:
            pass
        if not any(True for _ in self.parameters()):
            # a subclassed model creates its weights on its first call: run one small batch
            was = self.training
            with no_grad():
                self._forward([Tensor(a[:1]) for a in xs], training=False)
            self.train(was)

    def _attach_optimizer(self) -> None:
        opt = self.optimizer
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable weights to optimize")
        opt.build(params)

    # ------------------------------------------------------------------ forward
    def _forward(self, xs: list[Tensor], training: bool, logits: Sequence[bool] = ()) -> list:
        """The model's outputs as a list; ``logits[i]`` asks output i without its softmax."""
        x = xs[0] if len(xs) == 1 else list(xs)
        if any(logits):
            out = self(x, training=training, return_logits=list(logits))
        else:
            out = self(x, training=training)
        if isinstance(out, (list, tuple)):
            return list(out)
        return [out]

    def _forward_masked(
        self, xs: list[Tensor], training: bool, logits: Sequence[bool] = ()
    ) -> tuple[list, list | None]:
        """``_forward`` and the outputs' Keras masks as NumPy bool arrays (None when no output
        carries one); see [Note: masking] in nn/module.py."""
        if not self._returns_masks:
            return self._forward(xs, training, logits), None
        x = xs[0] if len(xs) == 1 else list(xs)
        if any(logits):
            out, masks = self(x, training=training, return_logits=list(logits), return_masks=True)
        else:
            out, masks = self(x, training=training, return_masks=True)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        masks = list(masks) if isinstance(masks, (list, tuple)) else [masks]
        if all(m is None for m in masks):
            return outs, None
        return outs, [None if m is None else np.asarray(getattr(m, "data", m), bool) for m in masks]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The output mask(s) of a Sequential or functional model for ``inputs`` (runs it in
        inference mode); a subclassed model has none."""
        if not self._returns_masks:
            return None
        with no_grad():
            return self(inputs, mask=mask, training=False, return_masks=True)[1]

    def _extra_losses(self, mods: list[Module]) -> list[Tensor]:
        out = []
        for m in mods:
            if m._regularizers:
                out.extend(reg(w) for w, reg in m._regularizers)
            if m._call_losses:
                out.extend(m._call_losses)
        return out

    def _loss_terms(
        self,
        c: _Compiled,
        ys: list[np.ndarray],
        outs: list[Tensor],
        sws: list | None = None,
        masks: list | None = None,
    ) -> tuple[Tensor, list[Tensor | None]]:
        total = None
        per: list[Tensor | None] = []
        for i, lf in enumerate(c.losses):
            if lf is None:
                per.append(None)
                continue
            sw = None if sws is None else sws[i]
            mk = None if masks is None else masks[i]
            if sw is None and mk is None:  # the lean path
                li = lf.fused_softmax_call(ys[i], outs[i]) if c.fused[i] else lf(ys[i], outs[i])
            elif c.fused[i]:
                li = lf.fused_softmax_call(ys[i], outs[i], sample_weight=sw, mask=mk)
            else:
                li = lf(ys[i], outs[i], sample_weight=sw, mask=mk)
            per.append(li)
            term = li if c.weights[i] == 1.0 else li * c.weights[i]
            total = term if total is None else total + term
        return total, per

    def _update_metrics(
        self,
        c: _Compiled,
        ys: list[np.ndarray],
        outs: list[Tensor],
        sws: list | None = None,
        masks: list | None = None,
    ) -> None:
        for i, ms in enumerate(c.metrics):
            wms = c.wmetrics[i]
            if not ms and not wms:
                continue
            pred = outs[i].data
            probs = _softmax_np(pred) if c.probs_needed[i] else pred
            mk = None if masks is None or masks[i] is None else np.asarray(masks[i])
            w = None if mk is None else mk.astype(np.float64)
            for m in ms:
                if w is None:
                    m.update_state(ys[i], pred if m.argmax_only else probs)
                else:
                    m.update_state(ys[i], pred if m.argmax_only else probs, sample_weight=w)
            if wms:
                w = _combine_weights(None if sws is None else sws[i], mk)
                for m in wms:
                    if w is None:
                        m.update_state(ys[i], pred if m.argmax_only else probs)
                    else:
                        m.update_state(ys[i], pred if m.argmax_only else probs, sample_weight=w)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Sequence[cbks.Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> cbks.History:
        """Train for ``epochs`` epochs of mini-batches (reshuffled every epoch); returns History.

        ``sample_weight`` / ``class_weight`` weight each sample's loss, and the
        ``weighted_metrics``; ``validation_data`` may be ``(x, y)`` or ``(x, y, sample_weight)``
        (see [Note: sample weights])."""
        if x is None or y is None:
            raise ValueError("fit() needs x and y arrays")
        batch_size = _check_batch_size(batch_size)
        verbose = _verbose(verbose)
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")

        xs = _as_list(x, self.input_names, "x")
        self._ensure_built(xs)
        c = self._resolve_compile()
        ys = _as_list(y, c.names, "y")
        if len(ys) != len(c.names):
            raise ValueError(f"y has {len(ys)} arrays but the model has {len(c.names)} outputs")
        dtype = self._model_dtype()
        xs, ys = _cast_floats(xs, dtype), _cast_floats(ys, dtype)
        n = _n_samples(xs + ys, "x and y", "fit")
        sws = _sample_weights(sample_weight, c.names, n, "sample_weight")
        if class_weight is not None:
            if sws is not None:
                raise ValueError(
                    "fit() got both class_weight and sample_weight: give one of them (fold the "
                    "class weights into sample_weight)"
                )
            sws = [self._class_weights(c, ys, class_weight)]

        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                    "sample_weight_val)"
                )
            vx = _cast_floats(_as_list(validation_data[0], self.input_names, "x_val"), dtype)
            vy = _cast_floats(_as_list(validation_data[1], c.names, "y_val"), dtype)
            nv = _n_samples(vx + vy, "validation_data", "fit")
            vsw = None
            if len(validation_data) == 3:
                vsw = _sample_weights(validation_data[2], c.names, nv, "validation sample_weight")
            val = (vx, vy, vsw)
        elif validation_split:
            # Keras: the last fraction of the samples, taken before any shuffling
            split = int(n * (1.0 - float(validation_split)))
            if split == 0 or split == n:
                raise ValueError(
                    f"validation_split={validation_split} leaves an empty training or "
                    f"validation set for {n} samples"
                )
            vsw = None if sws is None else [None if w is None else w[split:] for w in sws]
            val = ([a[split:] for a in xs], [a[split:] for a in ys], vsw)
            xs, ys = [a[:split] for a in xs], [a[:split] for a in ys]
            if sws is not None:
                sws = [None if w is None else w[:split] for w in sws]
            n = split

        self._attach_optimizer()
        steps = max(1, math.ceil(n / batch_size)) if n else 0
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))

        history = cbks.History()
        cb_list = cbks.CallbackList(
            [*(callbacks or []), history],  # History last: it sees what callbacks add
            model=self,
            params={
                "epochs": epochs,
                "steps": steps,
                "verbose": verbose,
                "batch_size": batch_size,
                "samples": n,
            },
        )
        self.history = history
        self.stop_training = False
        mods = list(self.modules())
        opt = self.optimizer
        rng = get_rng()
        fused = c.fused
        single_x = len(xs) == 1
        multi_out = len(c.names) > 1
        out_keys = [f"{nm}_loss" for nm in c.names]

        cb_list.on_train_begin()
        self.train()
        for epoch in range(initial_epoch, epochs):
            cb_list.on_epoch_begin(epoch)
            self._reset_metrics(c)
            bar = cbks.Progbar(steps, verbose=verbose)
            if verbose:
                sys.stdout.write(f"Epoch {epoch + 1}/{epochs}\n")
                sys.stdout.flush()
            perm = rng.permutation(n) if shuffle else None
            loss_sum = 0.0
            seen = 0
            out_sums = [0.0] * len(c.names)
            logs: dict[str, float] = {}
            for step in range(steps):
                if cb_list.wants_batch_begin:
                    cb_list.on_train_batch_begin(step)
                lo = step * batch_size
                hi = min(lo + batch_size, n)
                swb = None
                if perm is None:
                    xb = [a[lo:hi] for a in xs]
                    yb = [a[lo:hi] for a in ys]
                    if sws is not None:
                        swb = [None if w is None else w[lo:hi] for w in sws]
                else:
                    idx = perm[lo:hi]
                    xb = [a.take(idx, axis=0) for a in xs]
                    yb = [a.take(idx, axis=0) for a in ys]
                    if sws is not None:
                        swb = [None if w is None else w.take(idx, axis=0) for w in sws]
                bs = hi - lo
                xt = [Tensor(xb[0])] if single_x else [Tensor(a) for a in xb]
                outs, masks = self._forward_masked(xt, True, fused)
                total, per = self._loss_terms(c, yb, outs, swb, masks)
                extra = self._extra_losses(mods)
                for e in extra:
                    total = total + e
                opt.zero_grad()
                total.backward()
                opt.step()
                loss_sum += total.item() * bs
                seen += bs
                if multi_out:
                    for i, li in enumerate(per):
                        if li is not None:
                            out_sums[i] += li.item() * bs
                self._update_metrics(c, yb, outs, swb, masks)
                if cb_list.wants_batch_end or bar.due():
                    logs = self._logs(c, loss_sum, seen, out_sums, out_keys)
                    if cb_list.wants_batch_end:
                        cb_list.on_train_batch_end(step, logs)
                    bar.update(step + 1, logs)
                if self.stop_training:
                    break
            logs = self._logs(c, loss_sum, seen, out_sums, out_keys)
            if val is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                vlogs = self._evaluate_arrays(
                    val[0],
                    val[1],
                    validation_batch_size or batch_size,
                    validation_steps,
                    sws=val[2],
                )
                logs.update({"val_" + k: v for k, v in vlogs.items()})
            cb_list.on_epoch_end(epoch, logs)
            bar.update(bar.target, logs, finalize=True)
            if self.stop_training:
                break
        cb_list.on_train_end()
        return history

    def _logs(
        self, c: _Compiled, loss_sum: float, seen: int, out_sums: list[float], out_keys: list[str]
    ) -> dict[str, float]:
        """The running logs: Keras 3's order (metrics and loss by name)."""
        logs: dict[str, float] = {"loss": loss_sum / seen if seen else float("nan")}
        multi = len(c.names) > 1
        if multi:
            for i, lf in enumerate(c.losses):
                if lf is not None:
                    logs[out_keys[i]] = out_sums[i] / seen if seen else float("nan")
        for ms, ks in zip(c.metrics + c.wmetrics, c.keys + c.wkeys):
            for m, k in zip(ms, ks):
                logs[k] = m.result()
        return dict(sorted(logs.items()))

    def _class_weights(
        self, c: _Compiled, ys: list[np.ndarray], class_weight: Mapping[int, float]
    ) -> np.ndarray:
        """``class_weight`` as per-sample weights from the targets (see [Note: sample weights])."""
        if len(ys) != 1:
            raise ValueError(
                "class_weight is only supported for models with a single output; give "
                "sample_weight per output instead"
            )
        lf = c.losses[0]
        sparse = bool(getattr(lf, "sparse_targets", False))
        out_ndim = None
        if sparse and hasattr(self, "output_shape"):
            try:
                out_ndim = len(self.output_shape)
            except (AttributeError, TypeError):
                out_ndim = None
        return _class_weight_array(class_weight, ys[0], sparse, out_ndim)

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_arrays(
        self,
        xs: list[np.ndarray],
        ys: list[np.ndarray],
        batch_size: int,
        steps: int | None = None,
        bar: cbks.Progbar | None = None,
        sws: list | None = None,
    ) -> dict[str, float]:
        c = self._resolve_compile()
        n = _n_samples(xs + ys, "x and y")
        self._reset_metrics(c)
        was = self.training
        self.eval()
        loss_sum = 0.0
        out_sums = [0.0] * len(c.names)
        out_keys = [f"{nm}_loss" for nm in c.names]
        seen = 0
        mods = list(self.modules())
        n_steps = math.ceil(n / batch_size) if n else 0
        if steps is not None:
            n_steps = min(n_steps, int(steps))
        try:
            with no_grad():
                for step in range(n_steps):
                    lo, hi = step * batch_size, min((step + 1) * batch_size, n)
                    xt = [Tensor(a[lo:hi]) for a in xs]
                    yb = [a[lo:hi] for a in ys]
                    swb = None if sws is None else [None if w is None else w[lo:hi] for w in sws]
                    outs, masks = self._forward_masked(xt, False, c.fused)
                    total, per = self._loss_terms(c, yb, outs, swb, masks)
                    for e in self._extra_losses(mods):
                        total = total + e
                    bs = hi - lo
                    loss_sum += total.item() * bs
                    for i, li in enumerate(per):
                        if li is not None:
                            out_sums[i] += li.item() * bs
                    seen += bs
                    self._update_metrics(c, yb, outs, swb, masks)
                    if bar is not None and bar.due():
                        bar.update(step + 1, self._logs(c, loss_sum, seen, out_sums, out_keys))
        finally:
            self.train(was)
        return self._logs(c, loss_sum, seen, out_sums, out_keys)

    def _prepare(self, x: Any, y: Any) -> tuple[_Compiled, list[np.ndarray], list[np.ndarray]]:
        """Build the model for x if needed, resolve compile(), and give x and y as lists of
        arrays in the model's dtype."""
        xs = _as_list(x, self.input_names, "x")
        self._ensure_built(xs)
        c = self._resolve_compile()
        dtype = self._model_dtype()
        ys = _cast_floats(_as_list(y, c.names, "y"), dtype)
        return c, _cast_floats(xs, dtype), ys

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics over (x, y): ``[loss, metric...]`` (a float when there are no
        metrics), or a dict with ``return_dict=True``. ``sample_weight`` weights the loss and
        the weighted_metrics (see [Note: sample weights])."""
        batch_size = _check_batch_size(batch_size)
        verbose = _verbose(verbose)
        c, xs, ys = self._prepare(x, y)
        n = _n_samples(xs + ys, "x and y", "evaluate")
        sws = _sample_weights(sample_weight, c.names, n, "sample_weight")
        bar = cbks.Progbar(math.ceil(n / batch_size) if n else 0, verbose=verbose)
        logs = self._evaluate_arrays(xs, ys, batch_size, steps, bar, sws)
        bar.update(bar.target, logs, finalize=True)
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[k] for k in self._metric_keys(c)]
        return values[0] if len(values) == 1 else values

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Any = None,
    ) -> Any:
        """Outputs for ``x`` in inference mode, batch by batch: an array (a list of arrays for
        several outputs)."""
        batch_size = _check_batch_size(batch_size)
        verbose = _verbose(verbose)
        xs = _as_list(x, self.input_names, "x")
        self._ensure_built(xs)
        xs = _cast_floats(xs, self._model_dtype())
        n = _n_samples(xs, "x")
        n_steps = math.ceil(n / batch_size) if n else 0
        if steps is not None:
            n_steps = min(n_steps, int(steps))
        bar = cbks.Progbar(n_steps, verbose=verbose)
        chunks: list[list[np.ndarray]] = []
        was = self.training
        self.eval()
        try:
            with no_grad():
                for step in range(n_steps):
                    lo, hi = step * batch_size, min((step + 1) * batch_size, n)
                    outs = self._forward([Tensor(a[lo:hi]) for a in xs], False)
                    chunks.append([o.data for o in outs])
                    if bar.due():
                        bar.update(step + 1)
        finally:
            self.train(was)
        bar.update(n_steps, finalize=True)
        if not chunks:
            with no_grad():
                self.eval()
                try:
                    outs = self._forward([Tensor(a[:0]) for a in xs], False)
                finally:
                    self.train(was)
            chunks = [[o.data for o in outs]]
        result = [np.concatenate(parts, axis=0) for parts in zip(*chunks)]
        return result[0] if len(result) == 1 else result

    def predict_on_batch(self, x: Any) -> Any:
        return self.predict(
            x, batch_size=max(1, len(_as_list(x, self.input_names, "x")[0])), verbose=0
        )

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """One optimizer step on this batch; returns its loss (and metrics)."""
        c, xs, ys = self._prepare(x, y)
        n = _n_samples(xs + ys, "x and y", "train_on_batch")
        sws = _sample_weights(sample_weight, c.names, n, "sample_weight")
        if class_weight is not None:
            if sws is not None:
                raise ValueError("train_on_batch() got both class_weight and sample_weight")
            sws = [self._class_weights(c, ys, class_weight)]
        self._attach_optimizer()
        self._reset_metrics(c)
        self.train()
        outs, masks = self._forward_masked([Tensor(a) for a in xs], True, c.fused)
        total, per = self._loss_terms(c, ys, outs, sws, masks)
        for e in self._extra_losses(list(self.modules())):
            total = total + e
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        self._update_metrics(c, ys, outs, sws, masks)
        logs = self._logs(
            c,
            total.item() * n,
            n,
            [0.0 if li is None else li.item() * n for li in per],
            [f"{nm}_loss" for nm in c.names],
        )
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[k] for k in self._metric_keys(c)]
        return values[0] if len(values) == 1 else values

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        n = len(_as_list(x, self.input_names, "x")[0])
        return self.evaluate(
            x,
            y,
            batch_size=max(1, n),
            verbose=0,
            sample_weight=sample_weight,
            return_dict=return_dict,
        )

    # ------------------------------------------------------------------ summary / saving
    def summary(
        self,
        line_length: int | None = None,
        positions: Sequence[float] | None = None,
        print_fn: Callable[[str], Any] | None = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
    ) -> str:
        """Print Keras's table of layers, output shapes and parameter counts; returns it."""
        text = summary_text(
            self, line_length=line_length, positions=positions, show_trainable=show_trainable
        )
        if print_fn is None:
            print(text)
        else:
            for line in text.split("\n"):
                print_fn(line)
        return text

    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """One safetensors file: architecture, compile and optimizer configuration (JSON) and
        every tensor (weights, non-trainable state, optimizer state). See saving.py."""
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: Any, strict: bool = True) -> None:
        load_weights(self, filepath, strict=strict)

    def get_compile_config(self) -> dict | None:
        return compile_config(self)
