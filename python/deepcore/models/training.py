"""``Model``: the Keras training API (compile / fit / evaluate / predict) over deepcore.nn.Module.

``Sequential`` and functional graphs (``Model(inputs, outputs)``) subclass it; a subclass that
overrides ``call`` (or ``forward``) is a model too. The plain PyTorch path keeps working on any of
them: ``model.parameters()``, ``optimizer.step()``, ``zero_grad()``.

[Note: lean training step] ``fit`` spends its time in the kernels: losses, metrics, optimizer
and callbacks are resolved once per ``fit``; a step is one forward under the autograd, one
backward, one fused native optimizer step, one ``loss.item()`` and a NumPy arg-max for the
accuracy; the progress bar redraws at most every 50 ms and per-batch callback hooks run only
when a callback defines them (see [Note: lean batch hooks] in models/callbacks/__init__.py).

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

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from .. import optim
from ..autograd import no_grad
from ..distributed._distribution import Replica, replica_for
from ..nn.module import Module
from ..tensor import Tensor
from . import callbacks as cbks
from . import data_adapter as da
from .compile_utils import Compiled, Totals, log_value, resolve
from .saving import compile_config, load_weights, save_model, save_weights
from .summary import summary_text

__all__ = ["Model"]

_ONE = Replica()  # a world of one process: the step as it always was


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
        #: a deepcore.distributed.DataParallel for this model's fit (None: the one set by
        #: deepcore.distributed.set_distribution, if any)
        object.__setattr__(self, "distribution", None)

    # ------------------------------------------------------------------ structure (overridden)
    @property
    def output_names(self) -> list[str]:
        """One name per model output (multi-output losses and logs use them)."""
        return ["output"]

    @property
    def input_names(self) -> list[str]:
        return ["input"]

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Module:
        """Keras's ``Model.from_config``: the config of a functional model (``get_config()``)
        rebuilds it from ``Model`` itself; other models by their own class."""
        graph = cls._graph_model
        if cls is Model and graph is not None and isinstance(config, dict):
            if "input_layers" in config:
                return graph.from_config(config, custom_objects=custom_objects)
        return super().from_config(config)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON (``deepcore.models.model_from_json`` rebuilds it)."""
        from .saving import model_to_json

        return model_to_json(self, **kwargs)

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
        list/dict per output; None when the model adds its own losses with ``add_loss``),
        metrics, loss_weights (list/dict per output), weighted_metrics (metrics that see the
        sample / class weights; see [Note: sample weights]).

        ``run_eagerly``, ``jit_compile`` and ``steps_per_execution`` are accepted (and
        validated) for Keras scripts and change nothing: deepcore runs every step eagerly on
        its native kernels, one batch per step, so there is no graph to compile and no
        dispatch overhead to amortise over several steps.

        ``fuse_softmax_cross_entropy``: compute cross-entropy from the logits of a softmax
        output (see [Note: fused softmax cross-entropy] in deepcore.losses)."""
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {sorted(kwargs)}")
        if steps_per_execution is None:
            steps_per_execution = 1
        if (
            isinstance(steps_per_execution, bool)
            or not isinstance(steps_per_execution, (int, np.integer))
            or steps_per_execution < 1
        ):
            raise ValueError(
                f"steps_per_execution must be a positive integer, got {steps_per_execution!r}"
            )
        if jit_compile not in (None, True, False, "auto"):
            raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
        self.steps_per_execution = int(steps_per_execution)
        self.jit_compile = False  # what Keras reports when it does not compile
        self.run_eagerly = True
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

    def _resolve_compile(self) -> Compiled:
        """compile()'s arguments as per-output objects (once, when the model is built)."""
        if self._compile_args is None:
            raise RuntimeError(
                "you must compile the model before training/testing: "
                "model.compile(optimizer=..., loss=...)"
            )
        if self._compiled is None:
            soft = self._softmax_outputs()
            c = resolve(self._compile_args, self.output_names, soft)
            object.__setattr__(self, "_compiled", c)
        return self._compiled

    @property
    def metrics_names(self) -> list[str]:
        c = self._compiled
        return ["loss"] if c is None else ["loss", *c.metric_keys()]

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
        carries one); see [Note: masking] in nn/masking.py."""
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

    def _add_extra_losses(
        self,
        total: Tensor | None,
        mods: list[Module],
        replica: Replica = _ONE,
        n_local: int = 0,
        n: int = 0,
    ) -> Tensor:
        """The compiled loss plus the regularisers' and ``add_loss`` losses of this call (as
        one ``replica`` of a data-parallel job, scaled so that the ranks' sum counts each
        once: [Note: data-parallel step] in deepcore.distributed)."""
        for m in mods:
            for w, reg in m._regularizers:
                e = replica.scale_penalty(reg(w))
                total = e if total is None else total + e
            for e in m._call_losses:
                e = replica.scale_batch_term(e, n_local, n)
                total = e if total is None else total + e
        if total is None:
            raise ValueError(
                "no loss to compute: give compile() a loss, or add losses in the model's call "
                "with self.add_loss(...)"
            )
        return total

    def _train_step(
        self,
        c: Compiled,
        xs: list,
        ys: list,
        sws: list | None,
        mods: list[Module],
        replica: Replica = _ONE,
        n: int = 0,
    ) -> tuple[Any, list]:
        """One optimizer step on one batch, shared by ``fit`` and ``train_on_batch`` (see
        [Note: lean training step]): forward, losses, backward, metrics, update. Returns
        (the total loss, each output's loss). As one ``replica`` of a data-parallel job the
        batch is this rank's shard of a global batch of ``n`` samples, and the replica scales
        the loss terms and reduces gradients, losses and metrics over the ranks ([Note:
        data-parallel step] in deepcore.distributed)."""
        outs, masks = self._forward_masked([Tensor(a) for a in xs], True, c.fused)
        total, per = replica.loss_terms(c, ys, outs, sws, masks, n)
        total = self._add_extra_losses(total, mods, replica, len(xs[0]), n)
        opt = self.optimizer
        opt.zero_grad()
        total.backward()
        total, per = replica.reduce_step(
            opt, total, per, lambda: c.update_metrics(ys, outs, sws, masks)
        )
        opt.step()
        return total, per

    def _test_step(
        self, c: Compiled, xs: list, ys: list, sws: list | None, mods: list[Module]
    ) -> tuple[Tensor, list]:
        """The losses and metrics of one batch in inference mode (``evaluate``, validation)."""
        outs, masks = self._forward_masked([Tensor(a) for a in xs], False, c.fused)
        total, per = c.loss_terms(ys, outs, sws, masks)
        total = self._add_extra_losses(total, mods)
        c.update_metrics(ys, outs, sws, masks)
        return total, per

    # ------------------------------------------------------------------ Keras's step API
    def _steps(self, c: Compiled, mods: list[Module], train: bool, replica: Replica = _ONE) -> Any:
        """The runner of fit's (``train``) or evaluate's steps: the compiled fast path (as one
        ``replica`` of a data-parallel job when training), or the model's own ``train_step``
        / ``test_step`` (see [Note: custom steps])."""
        own = type(self).train_step if train else type(self).test_step
        if own is not (Model.train_step if train else Model.test_step):
            return _CustomSteps(self, self.train_step if train else self.test_step)
        return _CompiledSteps(self, c, mods, train, replica)

    @property
    def metrics(self) -> list[Any]:
        """Keras's ``model.metrics``: the loss tracker ('loss') and the compiled metrics (their
        state; ``reset_state`` at every epoch). A subclass overrides it to list its own
        trackers for a custom ``train_step``."""
        tracker = self.__dict__.get("_loss_tracker")
        if tracker is None:
            from .. import metrics as metrics_mod  # noqa: PLC0415  (compile_utils imports it)

            tracker = metrics_mod.Mean(name="loss")
            object.__setattr__(self, "_loss_tracker", tracker)
        out = [tracker]
        c = self._compiled if self._compile_args is not None else None
        if c is None and self._compile_args is not None and self.built:
            c = self._resolve_compile()
        if c is not None:
            for ms in c.metrics + c.wmetrics:
                out.extend(ms)
        return out

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Tensor:
        """Keras's ``compute_loss``: the compiled loss of ``(y, y_pred)`` (``y_pred`` as the
        model returns it, probabilities included) plus the model's own losses (``add_loss``,
        regularisers) of its last call."""
        c = self._resolve_compile()
        total: Tensor | None = None
        if y is not None and y_pred is not None:
            ys = da.as_list(da.to_numpy_tree(y), c.names, "y")
            outs = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
            sws = None
            if sample_weight is not None:
                sws = da.sample_weights(
                    da.to_numpy_tree(sample_weight), c.names, len(ys[0]), "sample_weight"
                )
            for i, lf in enumerate(c.losses):
                if lf is None:
                    continue
                sw = None if sws is None else sws[i]
                li = lf(ys[i], outs[i]) if sw is None else lf(ys[i], outs[i], sample_weight=sw)
                term = li if c.weights[i] == 1.0 else li * c.weights[i]
                total = term if total is None else total + term
        return self._add_extra_losses(total, list(self.modules()))

    def compute_metrics(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
    ) -> dict[str, Any]:
        """Update the compiled metrics with a batch and return every metric's result."""
        c = self._resolve_compile()
        ys = da.as_list(da.to_numpy_tree(y), c.names, "y")
        outs = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
        arrays = [da.to_numpy_tree(o) for o in outs]
        sws = None
        if sample_weight is not None:
            sws = da.sample_weights(
                da.to_numpy_tree(sample_weight), c.names, len(ys[0]), "sample_weight"
            )
        c.update_metrics(ys, [Tensor._wrap(np.asarray(a)) for a in arrays], sws)
        return self.get_metrics_result()

    def get_metrics_result(self) -> dict[str, Any]:
        """Every metric's current result by name (Keras's ``get_metrics_result``)."""
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data: Any) -> dict[str, Any]:
        """One optimizer step on ``data`` (``x``, ``(x, y)`` or ``(x, y, sample_weight)``);
        returns the logs. ``fit`` runs its compiled fast path unless a subclass overrides
        this (Keras's "customizing what happens in fit")."""
        x, y, sw = da.unpack_batch(data)
        c, xs, ys = self._prepare(da.to_numpy_tree(x), None if y is None else da.to_numpy_tree(y))
        sws = None
        if ys is not None and sw is not None:
            sws = da.sample_weights(da.to_numpy_tree(sw), c.names, len(xs[0]), "sample_weight")
        total, _ = self._train_step(c, xs, ys, sws, list(self.modules()))
        self.metrics[0].update_state(total.item())
        return self.get_metrics_result()

    def test_step(self, data: Any) -> dict[str, Any]:
        """The loss and metrics of one batch in inference mode; returns the logs."""
        x, y, sw = da.unpack_batch(data)
        c, xs, ys = self._prepare(da.to_numpy_tree(x), None if y is None else da.to_numpy_tree(y))
        sws = None
        if ys is not None and sw is not None:
            sws = da.sample_weights(da.to_numpy_tree(sw), c.names, len(xs[0]), "sample_weight")
        with no_grad():
            total, _ = self._test_step(c, xs, ys, sws, list(self.modules()))
        self.metrics[0].update_state(total.item())
        return self.get_metrics_result()

    def predict_step(self, data: Any) -> Any:
        """The model's outputs for one batch ``data`` (its x; targets are ignored)."""
        x, _, _ = da.unpack_batch(data)
        return self(x, training=False)

    # ------------------------------------------------------------------ data
    def _prepare_batch(
        self, x: Any, y: Any, sw: Any, class_weight: Any = None, fn: str = "fit"
    ) -> da.Batch:
        """One batch from a generator, PyDataset or DataLoader as (batch size, (xs, ys, sws))
        in the model's dtype; builds the model on the first (see [Note: data adapters])."""
        xs = da.as_list(x, self.input_names, "x")
        self._ensure_built(xs)
        dtype = self._model_dtype()
        xs = da.cast_floats(xs, dtype)
        if fn == "predict":
            return da.n_samples(xs, "the batch's x"), (xs, None, None)
        c = self._resolve_compile()
        ys = None
        if y is not None:
            ys = da.cast_floats(da.as_list(y, c.names, "y"), dtype)
        elif c.needs_targets:
            raise ValueError(
                f"{fn}() got a batch without targets: yield (x, y) or (x, y, sample_weight) "
                "batches (the model has a compiled loss or metrics that need y)"
            )
        n = da.n_samples(xs + (ys or []), "the batch", fn)
        sws = None if ys is None else self._per_sample_weights(c, ys, n, sw, class_weight, fn)
        return n, (xs, ys, sws)

    def _adapter(
        self,
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
            adapter = da.stream_adapter(
                x,
                lambda bx, by, bsw: self._prepare_batch(bx, by, bsw, class_weight, fn),
                steps,
                shuffle,
                "x",
            )
            if adapter.peek() is None:  # the first batch builds the model
                raise ValueError(f"{fn}() got x of type {type(x).__name__} that gives no batches")
            return adapter
        xs = da.as_list(x, self.input_names, "x")
        self._ensure_built(xs)
        dtype = self._model_dtype()
        xs = da.cast_floats(xs, dtype)
        if fn == "predict":
            da.n_samples(xs, "x")
            return da.ArrayDataAdapter(xs, None, None, batch_size, False, steps)
        c = self._resolve_compile()
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
            sws = self._per_sample_weights(c, ys, n, sample_weight, class_weight, fn, sw_name)
        elif sample_weight is not None or class_weight is not None:
            raise ValueError(f"{fn}() got sample or class weights but no targets y")
        return da.ArrayDataAdapter(xs, ys, sws, batch_size, shuffle, steps)

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
        """Train for ``epochs`` epochs of mini-batches; returns History.

        ``x`` may be arrays (with ``y``; reshuffled every epoch), a Python generator of
        batches, a ``deepcore.utils.PyDataset`` or an iterable of batches such as a PyTorch
        ``DataLoader`` (batches ``(x, y[, sample_weight])``; see [Note: data adapters]).
        ``steps_per_epoch`` caps an epoch (a generator needs it to span several epochs).
        ``sample_weight`` / ``class_weight`` weight each sample's loss, and the
        ``weighted_metrics``; ``validation_data`` may be ``(x, y)``, ``(x, y, sample_weight)``
        or a source of batches (``validation_steps`` caps it); see [Note: sample weights]."""
        batch_size = da.check_batch_size(batch_size)
        verbose = da.check_verbose(verbose)
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        data = self._adapter(
            x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch, "fit"
        )
        val: da.DataAdapter | None = None
        if validation_data is not None:
            val = self._validation_adapter(
                validation_data, validation_batch_size or batch_size, validation_steps
            )
        elif validation_split:
            if not isinstance(data, da.ArrayDataAdapter):
                raise ValueError(
                    "validation_split needs in-memory arrays; give validation_data for a "
                    "generator, PyDataset or DataLoader"
                )
            xs, ys, sws = data.arrays
            (xs, ys, sws), (vx, vy, vsw) = da.split_validation(xs, ys, sws, validation_split)
            data = da.ArrayDataAdapter(xs, ys, sws, batch_size, shuffle, steps_per_epoch)
            val = da.ArrayDataAdapter(
                vx, vy, vsw, validation_batch_size or batch_size, False, validation_steps
            )
        c = self._resolve_compile()

        self._attach_optimizer()
        n = data.n if isinstance(data, da.ArrayDataAdapter) else None
        replica = replica_for(self)
        data.distribute(replica.shard(), replica.same_everywhere)
        if not replica.is_chief:  # only rank 0 prints and writes files
            verbose = 0
            callbacks = [cb for cb in callbacks or [] if not getattr(cb, "chief_only", False)]
        history = cbks.History()
        cb_list = cbks.CallbackList(
            # History after the user's callbacks (it sees what they add to the logs), the
            # progress bar last (its final line shows the epoch's complete logs), as Keras
            [*(callbacks or []), history, *([cbks.ProgbarLogger(verbose)] if verbose else [])],
            model=self,
            params={
                "epochs": epochs,
                "steps": data.steps,
                "verbose": verbose,
                "batch_size": batch_size,
                "samples": n,
            },
        )
        self.history = history
        self.stop_training = False
        mods = list(self.modules())
        metrics = [m for ms in c.metrics + c.wmetrics for m in ms]
        steps = self._steps(c, mods, train=True, replica=replica)

        with replica.running(self, self.optimizer, metrics):
            cb_list.on_train_begin()
            # a callback may say where to resume (BackupAndRestore sets _initial_epoch, as Keras)
            start = getattr(self, "_initial_epoch", None)
            start = initial_epoch if start is None else start
            object.__setattr__(self, "_initial_epoch", None)
            self.train()
            for epoch in range(start, epochs):
                cb_list.on_epoch_begin(epoch)
                steps.reset()
                for step, (bs, (xb, yb, swb)) in enumerate(data.batches()):
                    if cb_list.wants_batch_begin:
                        cb_list.on_train_batch_begin(step)
                    steps.run(bs, xb, yb, swb)
                    if cb_list.batch_end_due():  # builds logs only for a hook that reads them
                        cb_list.on_train_batch_end(step, steps.logs())
                    if self.stop_training:
                        break
                if getattr(data, "exhausted", False) and not steps.seen:
                    break  # a generator ran dry (warned): Keras ends training
                logs = steps.logs()
                if val is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                    vlogs = self._evaluate_adapter(val)
                    logs.update({"val_" + k: v for k, v in vlogs.items()})
                data.on_epoch_end()
                cb_list.on_epoch_end(epoch, logs)
                if self.stop_training or getattr(data, "exhausted", False):
                    break
            cb_list.on_train_end()
        return history

    def _per_sample_weights(
        self,
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
        if sparse and hasattr(self, "output_shape"):
            try:
                out_ndim = len(self.output_shape)
            except (AttributeError, TypeError):
                out_ndim = None
        return [da.class_weight_array(class_weight, ys[0], sparse, out_ndim)]

    def _validation_adapter(
        self, validation_data: Any, batch_size: int, steps: int | None
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
            return self._adapter(
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
        return self._adapter(validation_data, None, None, None, batch_size, False, steps, "fit")

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_adapter(
        self, data: da.DataAdapter, bar: cbks.Progbar | None = None
    ) -> dict[str, float]:
        steps = self._steps(self._resolve_compile(), list(self.modules()), train=False)
        steps.reset()
        was = self.training
        self.eval()
        try:
            with no_grad():
                for step, (bs, (xb, yb, swb)) in enumerate(data.batches()):
                    steps.run(bs, xb, yb, swb)
                    if bar is not None and bar.due():
                        bar.update(step + 1, steps.logs())
        finally:
            self.train(was)
        return steps.logs()

    def _prepare(self, x: Any, y: Any) -> tuple[Compiled, list[np.ndarray], list[np.ndarray]]:
        """Build the model for x if needed, resolve compile(), and give x and y as lists of
        arrays in the model's dtype."""
        xs = da.as_list(x, self.input_names, "x")
        self._ensure_built(xs)
        c = self._resolve_compile()
        dtype = self._model_dtype()
        ys = None if y is None else da.cast_floats(da.as_list(y, c.names, "y"), dtype)
        return c, da.cast_floats(xs, dtype), ys

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
        metrics), or a dict with ``return_dict=True``. ``x`` may be arrays or a source of
        batches (see fit); ``sample_weight`` weights the loss and the weighted_metrics (see
        [Note: sample weights])."""
        batch_size = da.check_batch_size(batch_size)
        verbose = da.check_verbose(verbose)
        if not replica_for(self).is_chief:
            verbose = 0  # a data-parallel job prints on rank 0 only
        data = self._adapter(x, y, sample_weight, None, batch_size, False, steps, "evaluate")
        c = self._resolve_compile()
        bar = cbks.Progbar(data.steps, verbose=verbose)
        logs = self._evaluate_adapter(data, bar)
        bar.update(bar.target if bar.target is not None else bar.current, logs, finalize=True)
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[k] for k in c.metric_keys()]
        return values[0] if len(values) == 1 else values

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Any = None,
    ) -> Any:
        """Outputs for ``x`` (arrays or a source of batches, whose targets are ignored) in
        inference mode, batch by batch: an array (a list of arrays for several outputs)."""
        batch_size = da.check_batch_size(batch_size)
        verbose = da.check_verbose(verbose)
        if not replica_for(self).is_chief:
            verbose = 0  # a data-parallel job prints on rank 0 only
        data = self._adapter(x, None, None, None, batch_size, False, steps, "predict")
        bar = cbks.Progbar(data.steps, verbose=verbose)
        custom_predict = type(self).predict_step is not Model.predict_step
        chunks: list[list[np.ndarray]] = []
        was = self.training
        self.eval()
        step = 0
        try:
            with no_grad():
                for step, (_, (xb, _, _)) in enumerate(data.batches(), 1):
                    if custom_predict:
                        out = self.predict_step(_step_data(xb, None, None))
                        outs = list(out) if isinstance(out, (list, tuple)) else [out]
                    else:
                        outs = self._forward([Tensor(a) for a in xb], False)
                    chunks.append([np.asarray(getattr(o, "data", o)) for o in outs])
                    if bar.due():
                        bar.update(step)
        finally:
            self.train(was)
        bar.update(step, finalize=True)
        if not chunks:
            if not isinstance(data, da.ArrayDataAdapter):
                raise ValueError("predict() got x that gives no batches")
            with no_grad():
                self.eval()
                try:
                    outs = self._forward([Tensor(a[:0]) for a in data.arrays[0]], False)
                finally:
                    self.train(was)
            chunks = [[o.data for o in outs]]
        result = [np.concatenate(parts, axis=0) for parts in zip(*chunks)]
        return result[0] if len(result) == 1 else result

    def predict_on_batch(self, x: Any) -> Any:
        return self.predict(
            x, batch_size=max(1, len(da.as_list(x, self.input_names, "x")[0])), verbose=0
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
        n = da.n_samples(xs + (ys or []), "x and y", "train_on_batch")
        sws = None
        if ys is not None:
            sws = self._per_sample_weights(c, ys, n, sample_weight, class_weight, "train_on_batch")
        self._attach_optimizer()
        c.reset_metrics()
        self.train()
        replica = replica_for(self)  # under DataParallel: this rank's rows of the batch
        _, (xs, ys, sws) = next(da.batches((xs, ys, sws), n, n, 1, None, replica.shard()))
        metrics = [m for ms in c.metrics + c.wmetrics for m in ms]
        with replica.running(self, self.optimizer, metrics):
            total, per = self._train_step(c, xs, ys, sws, list(self.modules()), replica, n)
        totals = Totals(c)
        totals.add(total, per, n)
        logs = totals.logs()
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[k] for k in c.metric_keys()]
        return values[0] if len(values) == 1 else values

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        n = len(da.as_list(x, self.input_names, "x")[0])
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


# [Note: custom steps] Keras lets a Model subclass override ``train_step(data)`` (and
# ``test_step``, ``predict_step``): ``fit`` then calls it once per batch with the batch as
# Tensors (``x``, or ``(x, y)`` / ``(x, y, sample_weight)``), logs what it returns (a dict of
# results; nested dicts are flattened) and resets ``model.metrics`` at every epoch. Without
# an override fit runs the compiled fast path (see [Note: lean training step]). Both are a
# "steps" object with reset / run / logs / seen, so the loops do not branch on which.
def _step_data(xs: list, ys: list | None, sws: list | None) -> Any:
    """A batch as a custom step receives it: Tensors, a single one where there is one."""

    def one(arrays: list) -> Any:
        ts = [Tensor._wrap(a) for a in arrays]
        return ts[0] if len(ts) == 1 else ts

    if ys is None:
        return one(xs)
    if sws is None:
        return one(xs), one(ys)
    return one(xs), one(ys), one(sws)


def _flat_logs(out: Any) -> dict[str, Any]:
    logs: dict[str, Any] = {}
    if out is None:
        return logs
    if not isinstance(out, Mapping):
        raise TypeError(
            f"train_step / test_step must return a dict of results, got {type(out).__name__}"
        )
    for k, v in out.items():
        if isinstance(v, Mapping):
            logs.update(_flat_logs(v))
        else:
            logs[k] = log_value(v)
    return logs


class _CompiledSteps:
    """fit / evaluate steps through compile()'s losses and metrics (the fast path)."""

    def __init__(
        self, model: Model, c: Compiled, mods: list[Module], train: bool, replica: Replica
    ) -> None:
        self.model, self.train, self.replica = model, train, replica
        self.c, self.mods = c, mods
        self.totals = Totals(c)

    @property
    def seen(self) -> int:
        return self.totals.seen

    def reset(self) -> None:
        self.c.reset_metrics()
        self.totals = Totals(self.c)

    def run(self, bs: int, xb: list, yb: list | None, swb: list | None) -> None:
        if self.train:
            step = self.model._train_step(self.c, xb, yb, swb, self.mods, self.replica, bs)
        else:
            step = self.model._test_step(self.c, xb, yb, swb, self.mods)
        self.totals.add(*step, bs)

    def logs(self) -> dict[str, Any]:
        return self.totals.logs()


class _CustomSteps:
    """fit / evaluate steps through the model's own train_step / test_step."""

    def __init__(self, model: Model, step: Callable[[Any], Any]) -> None:
        self.model, self.step = model, step
        self.last: dict[str, Any] = {}
        self.seen = 0

    def reset(self) -> None:
        for m in self.model.metrics:
            m.reset_state()
        self.last, self.seen = {}, 0

    def run(self, bs: int, xb: list, yb: list | None, swb: list | None) -> None:
        self.last = _flat_logs(self.step(_step_data(xb, yb, swb)))
        self.seen += bs

    def logs(self) -> dict[str, Any]:
        return dict(self.last)
