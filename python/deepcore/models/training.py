"""``Model``: the Keras training API (compile / fit / evaluate / predict) over deepcore.nn.Module.

``Sequential`` and functional graphs (``Model(inputs, outputs)``) subclass it; a subclass that
overrides ``call`` (or ``forward``) is a model too. The plain PyTorch path keeps working on any of
them: ``model.parameters()``, ``optimizer.step()``, ``zero_grad()``.

[Note: lean training step] ``fit`` spends its time in the kernels: losses, metrics, optimizer
and callbacks are resolved once per ``fit``; a step is one forward under the autograd, one
backward, one fused native optimizer step, one ``loss.item()`` and a NumPy arg-max for the
accuracy; the progress bar redraws at most every 50 ms and per-batch callback hooks run only
when a callback defines them (see [Note: lean batch hooks] in models/callbacks/__init__.py).

The loops (fit / evaluate / predict and the on-batch calls) are the ``Trainer`` mixin
(trainer.py); the user's data is prepared for the model in model_data.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from .. import optim
from .._array import to_device, to_host
from .._checks import positive_int
from ..autograd import no_grad
from ..distributed._distribution import Replica
from ..nn.device import device_spec
from ..nn.module import Module
from ..symbolic import KerasTensor, _flatten, is_string_dtype
from ..tensor import Tensor
from . import callbacks as cbks
from . import data_adapter as da
from . import model_data as md
from .compile_utils import Compiled, resolve
from .saving import compile_config, load_weights, save_model, save_weights
from .summary import summary_text
from .trainer import _ONE, Trainer

__all__ = ["Model"]


def _graph_arguments(args: tuple, kwargs: dict) -> bool:
    """``(inputs, outputs)`` of a graph: the inputs given (first positional or ``inputs=``)
    with the outputs, and made of placeholders (``Input()`` results)."""
    if not (
        len(args) >= 2 or (args and "outputs" in kwargs) or {"inputs", "outputs"} <= set(kwargs)
    ):
        return False
    inputs = args[0] if args else kwargs["inputs"]
    flat = list(inputs.values()) if isinstance(inputs, dict) else _flatten(inputs)
    return bool(flat) and all(isinstance(t, KerasTensor) for t in flat)


_FUNCTIONAL_SUBCLASSES: dict[type, type] = {}


def _functional_subclass(cls: type, graph: type) -> type:
    """[Note: functional subclass] Keras builds a graph model when a subclass of ``Model`` is
    called with ``(inputs, outputs)`` (the "customizing fit" guides' ``CustomModel(inputs,
    outputs)`` that overrides only ``train_step``): the subclass's methods on top of the
    functional model's. Here that is one class per subclass, ``class X(cls, Functional)``,
    named as ``cls`` (so ``type(m).__name__``, ``isinstance(m, cls)`` and saved configs read
    as the user's class); its ``__init__`` reaches ``Functional.__init__`` through the
    subclass's own ``super().__init__(*args, **kwargs)``."""
    made = _FUNCTIONAL_SUBCLASSES.get(cls)
    if made is None:
        made = type(
            cls.__name__,
            (cls, graph),
            {"__module__": cls.__module__, "__qualname__": cls.__qualname__},
        )
        _FUNCTIONAL_SUBCLASSES[cls] = made
    return made


class Model(Trainer, Module):
    """A trainable graph of layers with Keras's compile / fit / evaluate / predict.

    ``Model(inputs=x, outputs=y)`` builds a functional graph (see functional.py); subclasses
    implement ``call`` for arbitrary models.
    """

    supports_masking = False  # Sequential and functional models: True (they carry masks)
    _casts_inputs = False  # each layer casts its own input ([Note: mixed precision])

    #: what ``Model(inputs, outputs)`` builds: the Functional class, which subclasses Model and
    #: so sets this itself (functional.py) rather than being imported here
    _graph_model: type | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Model:
        graph = cls._graph_model
        if graph is None or issubclass(cls, graph):
            return object.__new__(cls)
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return object.__new__(graph)
        if cls is not Model and _graph_arguments(args, kwargs):
            return object.__new__(_functional_subclass(cls, graph))
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
        if graph is not None and isinstance(config, dict) and "input_layers" in config:
            if cls is Model:
                return graph.from_config(config, custom_objects=custom_objects)
            if not issubclass(
                cls, graph
            ):  # a subclass saved as a graph: [Note: functional subclass]
                target = _functional_subclass(cls, graph)
                return target.from_config(config, custom_objects=custom_objects)
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

    def _with_policy(self, cfg: dict) -> dict:
        """``cfg`` with the model's dtype policy when it is not float32 (as Module's)."""
        if self._dtype_policy.name != "float32":
            cfg["dtype"] = self._dtype_policy.name
        return cfg

    def _policy_from(self, config: dict) -> Model:
        """This model with the dtype policy its saved ``config`` names (float32 if none)."""
        self.dtype_policy = config.get("dtype", "float32")
        return self

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
        auto_scale_loss: bool = True,
        **kwargs: Any,
    ) -> None:
        """Configure training: optimizer (name or object), loss (name, callable, Loss, or a
        list/dict per output; None when the model adds its own losses with ``add_loss``),
        metrics, loss_weights (list/dict per output), weighted_metrics (metrics that see the
        sample / class weights; see [Note: sample weights] in model_data.py).

        ``run_eagerly``, ``jit_compile`` and ``steps_per_execution`` are accepted (and
        validated) for Keras scripts and change nothing: deepcore runs every step eagerly on
        its native kernels, one batch per step, so there is no graph to compile and no
        dispatch overhead to amortise over several steps.

        ``fuse_softmax_cross_entropy``: compute cross-entropy from the logits of a softmax
        output (see [Note: fused softmax cross-entropy] in deepcore.losses).

        ``auto_scale_loss``: under the "mixed_float16" dtype policy the optimizer is wrapped in
        a ``LossScaleOptimizer`` (as Keras 3 does; [Note: mixed precision] in
        nn/dtype_policy.py)."""
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {sorted(kwargs)}")
        if steps_per_execution is None:
            steps_per_execution = 1
        steps_per_execution = positive_int("steps_per_execution", steps_per_execution)
        if jit_compile not in (None, True, False, "auto"):
            raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
        self.steps_per_execution = steps_per_execution
        self.jit_compile = False  # what Keras reports when it does not compile
        self.run_eagerly = True
        if isinstance(optimizer, optim.Optimizer):
            opt = optimizer
        else:
            opt = optim.get(optimizer)
        if (
            auto_scale_loss
            and self.dtype_policy.name == "mixed_float16"
            and not isinstance(opt, optim.LossScaleOptimizer)
        ):
            opt = optim.LossScaleOptimizer(opt)
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
                "auto_scale_loss": bool(auto_scale_loss),
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

    # ------------------------------------------------------------------ device
    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Model:
        """``Module.to`` and the optimizer's state with it ([Note: modules on a device] in
        nn/device.py)."""
        Module.to(self, *args, dtype=dtype, device=device)
        if self.optimizer is not None and self.optimizer.built:
            self.optimizer._follow_params()
        return self

    def _on_device(self, arrays: list | None) -> list | None:
        """A batch's arrays (NumPy) on the model's device (string arrays stay on the host,
        [Note: string inputs]): the same list on the CPU."""
        dev, index = device_spec(self)
        if arrays is None or dev == "cpu":
            return arrays
        return [
            a if a is None or is_string_dtype(a.dtype) else to_device(a, dev, index) for a in arrays
        ]

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
                self._forward([Tensor(a) for a in self._on_device([a[:1] for a in xs])], False)
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
        return outs, [
            None if m is None else to_host(getattr(m, "data", m)).astype(bool) for m in masks
        ]

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
        ys_host, sws_host = ys, sws  # metrics run on the host ([Note: modules on a device])
        xs, ys, sws = self._on_device(xs), self._on_device(ys), self._on_device(sws)
        outs, masks = self._forward_masked([md.feed(a) for a in xs], True, c.fused)
        total, per = replica.loss_terms(c, ys, outs, sws, self._on_device(masks), n)
        total = self._add_extra_losses(total, mods, replica, len(xs[0]), n)
        opt = self.optimizer
        opt.zero_grad()
        opt.scale_loss(total).backward()  # the loss itself unless loss scaling is on
        total, per = replica.reduce_step(
            opt, total, per, lambda: c.update_metrics(ys_host, outs, sws_host, masks)
        )
        opt.step()
        return total, per

    def _test_step(
        self, c: Compiled, xs: list, ys: list, sws: list | None, mods: list[Module]
    ) -> tuple[Tensor, list]:
        """The losses and metrics of one batch in inference mode (``evaluate``, validation)."""
        ys_host, sws_host = ys, sws  # metrics run on the host ([Note: modules on a device])
        xs, ys, sws = self._on_device(xs), self._on_device(ys), self._on_device(sws)
        outs, masks = self._forward_masked([md.feed(a) for a in xs], False, c.fused)
        total, per = c.loss_terms(ys, outs, sws, self._on_device(masks))
        total = self._add_extra_losses(total, mods)
        c.update_metrics(ys_host, outs, sws_host, masks)
        return total, per

    # ------------------------------------------------------------------ Keras's step API
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
