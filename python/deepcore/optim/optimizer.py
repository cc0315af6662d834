"""The optimizer base class: parameter groups, state, clipping, the native fused step.

Two construction styles, one object:

    opt = optim.Adam(model.parameters(), lr=1e-3)        # PyTorch: parameters first
    opt = optim.Adam(learning_rate=1e-3)                 # Keras: parameters attached later,
    opt.build(model.trainable_weights)                   #   by Model.compile()/fit() via build()

``build(params)`` (alias ``add_params``) attaches parameters to an optimizer made without them;
it is the method deepcore.models calls. ``add_param_group({"params": ..., "lr": ...})`` adds a
group with its own hyperparameters (PyTorch). Keras argument names are accepted everywhere
(``learning_rate``, ``rho``, ``epsilon``, ``beta_1``, ``beta_2``) next to PyTorch's (``lr``,
``alpha``, ``eps``, ``betas``).

``step()`` updates every parameter whose ``.grad`` is not None, in place on ``p.data``, with one
native call per parameter group: each tensor is updated by a fused kernel that reads the
parameter, its gradient and its state once and writes the parameter and state once
(see [Note: fused optimizer step] in csrc/optim.h). Gradient clipping (``clipnorm``,
``clipvalue``, ``global_clipnorm``) is folded into that same pass and never modifies ``.grad``.

``state_dict()`` holds JSON-able hyperparameters plus, per parameter (by index), its step count
and state arrays; ``flatten_state_dict`` turns it into (JSON metadata, {name: array}) for a
safetensors + JSON file, ``unflatten_state_dict`` back. ``get_config()`` / ``from_config()``
round-trip the hyperparameters alone (Keras).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Iterator
from typing import Any, Callable, ClassVar

import numpy as np

from .. import _C
from .._array import array_module, device_of, host_copy
from .._registry import Registry
from ..autograd import enable_grad
from ..tensor import Tensor
from ._args import (
    LearningRate,
    _check_lr,
    _check_param,
    _count,
    check_range,
    keras_positional,
    pick,
)
from ._half import _F16, _grad_array, _like_param, _master, _state_dtype
from .schedules import LearningRateSchedule
from .state_json import _hyper_from_json, _hyper_to_json, _lr_from_json

__all__ = ["Optimizer", "OPTIMIZERS"]

# The Keras keywords every optimizer takes and the base stores itself (not per group).
_COMMON_KEYWORDS = ("clipnorm", "clipvalue", "global_clipnorm", "name")


class _StateMap:
    """Per-parameter state keyed by the parameter's identity (Tensors need not be hashable)."""

    def __init__(self) -> None:
        self._d: dict[int, tuple[Tensor, dict[str, Any]]] = {}

    def __getitem__(self, p: Tensor) -> dict[str, Any]:
        return self._d[id(p)][1]

    def __setitem__(self, p: Tensor, value: dict[str, Any]) -> None:
        self._d[id(p)] = (p, value)

    def __contains__(self, p: object) -> bool:
        return id(p) in self._d

    def __len__(self) -> int:
        return len(self._d)

    def __iter__(self) -> Iterator[Tensor]:
        return (p for p, _ in self._d.values())

    def items(self) -> Iterator[tuple[Tensor, dict[str, Any]]]:
        return iter(self._d.values())

    def clear(self) -> None:
        self._d.clear()


#: Keras name ("adam") -> optimizer class; class names are aliases (see
#: [Note: one registry per concept] in deepcore/_registry.py). Subclasses with a ``keras_name``
#: register themselves.
OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer")


class Optimizer:
    """Base of every optimizer; subclasses set ``kind`` (the native kernel), ``keras_name``,
    and implement ``_state_names(group)`` and ``_native_hyper(group)``. A subclass ``__init__``
    spells out its signature and hands its ``locals()`` to ``_init_from_args``, which turns
    them into ``defaults`` (``aliases`` lists the hyperparameters Keras names differently).

    Attributes: ``param_groups`` (list of dicts: ``params`` plus hyperparameters, PyTorch-style;
    ``lr`` may be a float or a LearningRateSchedule), ``state`` (per-parameter dict of arrays),
    ``defaults``, ``iterations`` (number of ``step()`` calls, Keras), ``lr`` / ``learning_rate``
    (the current learning rate of the first group; setting it sets every group's).
    """

    kind: ClassVar[str] = ""
    keras_name: ClassVar[str] = ""
    #: hyperparameters with a PyTorch and a Keras name: {PyTorch name: (Keras name, default)}
    aliases: ClassVar[dict[str, tuple[str, Any]]] = {
        "lr": ("learning_rate", 0.001),
        "eps": ("epsilon", 1e-7),
    }
    # the subclass __init__'s arguments in order, each with whether it is a flag (bool default)
    _init_args: ClassVar[tuple[tuple[str, bool], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "keras_name" in cls.__dict__:  # a subclass that does not rename itself is not "adam"
            OPTIMIZERS.register(cls.keras_name, cls, aliases=(cls.__name__,))
        cls._init_args = tuple(
            (n, isinstance(a.default, bool))
            for n, a in inspect.signature(cls.__init__).parameters.items()
        )

    def __init__(
        self,
        params: Any,
        defaults: dict[str, Any],
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        set_clips = [
            k
            for k, v in (
                ("clipnorm", clipnorm),
                ("clipvalue", clipvalue),
                ("global_clipnorm", global_clipnorm),
            )
            if v is not None
        ]
        if len(set_clips) > 1:
            raise ValueError(
                f"only one of clipnorm, clipvalue, global_clipnorm can be set; got "
                f"{', '.join(set_clips)}"
            )
        for k, v in (
            ("clipnorm", clipnorm),
            ("clipvalue", clipvalue),
            ("global_clipnorm", global_clipnorm),
        ):
            if v is not None:
                check_range(k, v, 0.0, lo_open=True)
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.clipvalue = None if clipvalue is None else float(clipvalue)
        self.global_clipnorm = None if global_clipnorm is None else float(global_clipnorm)
        self.name = name or self.keras_name or type(self).__name__.lower()
        defaults = dict(defaults)
        defaults["lr"] = _check_lr(defaults["lr"])
        self._validate(defaults)
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.state = _StateMap()
        self.iterations = 0
        # per group: int64 step counts and (nadam) mu products, aligned with group["params"]
        self._steps: list[np.ndarray] = []
        self._mu: list[np.ndarray] = []
        self._slots: list[tuple[tuple[str, ...], list[list[np.ndarray]]] | None] = []
        self._reference = False  # tests: run the naive csrc/ref/ loop instead of the kernels
        if params is not None:
            self.build(params)

    def _init_from_args(self, args: dict[str, Any]) -> None:
        """The body of a subclass ``__init__``, given its ``locals()``. A learning rate passed
        first Keras-style is told from parameters; each hyperparameter with two names
        (``aliases``) is taken from whichever was given; flags (arguments with a bool default)
        are stored as bools; the rest of the arguments, in signature order, become
        ``defaults``, and the common Keras keywords (clipnorm, clipvalue, global_clipnorm,
        name) go to ``Optimizer.__init__``."""
        args = dict(args)
        params, args["learning_rate"] = keras_positional(args["params"], args["learning_rate"])
        skip = {"self", "params", *_COMMON_KEYWORDS, *self._keras_spellings()}
        defaults = {}
        for n, flag in self._init_args:
            if n not in skip:
                v = self._hyper_value(n, args)
                defaults[n] = bool(v) if flag else v
        Optimizer.__init__(self, params, defaults, **{k: args[k] for k in _COMMON_KEYWORDS})

    def _keras_spellings(self) -> set[str]:
        """Constructor arguments that only spell another hyperparameter (Keras names)."""
        return {keras for keras, _ in self.aliases.values()}

    def _hyper_value(self, name: str, args: dict[str, Any]) -> Any:
        """Hyperparameter ``name`` from the constructor's arguments (see ``aliases``)."""
        if name in self.aliases:
            keras, default = self.aliases[name]
            return pick(name, args[name], keras, args[keras], default)
        return args[name]

    # ------------------------------------------------------------------ subclass hooks
    def _validate(self, group: dict[str, Any]) -> None:
        """Raise ValueError for out-of-range hyperparameters of a group."""
        check_range("weight_decay", group.get("weight_decay", 0.0), 0.0)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        """Names of the per-parameter state arrays the kernel reads, in kernel order."""
        raise NotImplementedError

    def _native_hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        """The group's hyperparameters under the names the native step reads (csrc/optim.h)."""
        raise NotImplementedError

    def _init_state(self, name: str, p: Tensor, group: dict[str, Any]) -> np.ndarray:
        # on the parameter's device, float32 for float16 ([Note: float16 parameters])
        return array_module(p.data).zeros_like(p.data, dtype=_state_dtype(p.data))

    # ------------------------------------------------------------------ parameters
    @property
    def built(self) -> bool:
        return bool(self.param_groups)

    def build(self, params: Any) -> Optimizer:
        """Attach parameters (Keras ``optimizer.build(variables)``; Model.compile calls it).

        ``params``: an iterable of Tensors, or of dicts (PyTorch parameter groups). Parameters
        already attached are skipped, so calling it again with the same list is harmless."""
        if isinstance(params, Tensor):
            raise TypeError(
                "params must be an iterable of Tensors (or of dicts), not a Tensor; "
                "wrap it in a list"
            )
        items = list(params)
        if not items:
            if not self.param_groups:
                raise ValueError("optimizer got an empty parameter list")
            return self
        if all(isinstance(x, dict) for x in items):
            for g in items:
                self.add_param_group(g)
        else:
            known = {id(p) for g in self.param_groups for p in g["params"]}
            new = [p for p in items if id(p) not in known]
            if new:
                self.add_param_group({"params": new})
        return self

    add_params = build

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (PyTorch)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for i, p in enumerate(ps):
            _check_param(p, i)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in ps:
            if id(p) in seen:
                raise ValueError("some parameters appear in more than one parameter group")
            seen.add(id(p))
        if len({id(p) for p in ps}) != len(ps):
            raise ValueError("a parameter appears twice in one parameter group")
        group["params"] = ps
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        group["lr"] = _check_lr(group["lr"])
        self._validate(group)
        self.param_groups.append(group)
        self._steps.append(np.zeros(len(ps), np.int64))
        self._mu.append(np.ones(len(ps), np.float64))
        self._slots.append(None)
        for p in ps:
            self._ensure_state(p, group)

    def _ensure_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        if p not in self.state:
            self.state[p] = {}
        st = self.state[p]
        for n in self._state_names(group):
            if n not in st:
                st[n] = self._init_state(n, p, group)
        return st

    def parameters(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    # ------------------------------------------------------------------ learning rate
    def _resolve_lr(self, lr: LearningRate) -> float:
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self.iterations))
        if callable(lr):  # Keras: a callable of no arguments returning the value to use
            return float(lr())
        return float(lr)

    @property
    def lr(self) -> float:
        """The current learning rate of the first group (a schedule is evaluated now)."""
        src = self.param_groups[0]["lr"] if self.param_groups else self.defaults["lr"]
        return self._resolve_lr(src)

    @lr.setter
    def lr(self, value: LearningRate) -> None:
        value = _check_lr(value)
        self.defaults["lr"] = value
        for g in self.param_groups:
            g["lr"] = value

    learning_rate = lr

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none=False``: fill it with zeros)."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._apply([[(p, p.grad) for p in g["params"]] for g in self.param_groups])
        return loss

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Tensor]]) -> None:
        """Keras: apply (gradient, variable) pairs; builds on first use."""
        pairs = list(grads_and_vars)
        if not self.built:
            self.build([v for _, v in pairs])
        by_id = {id(v): g for g, v in pairs}
        known = {id(p) for g in self.param_groups for p in g["params"]}
        missing = [v for _, v in pairs if id(v) not in known]
        if missing:
            self.build(missing)
        self._apply([[(p, by_id.get(id(p))) for p in g["params"]] for g in self.param_groups])

    def apply(self, grads: Iterable[Any], trainable_variables: Iterable[Tensor]) -> None:
        """Keras 3: ``optimizer.apply(grads, variables)``."""
        self.apply_gradients(zip(grads, trainable_variables))

    def _group_slots(self, gi: int, group: dict[str, Any]) -> list[list[np.ndarray]]:
        """Each parameter's state arrays in kernel order, cached until the state names change
        (a hyperparameter such as momentum turned on) or the state is reloaded."""
        names = tuple(self._state_names(group))
        cached = self._slots[gi]
        if cached is None or cached[0] != names:
            slots = []
            for p in group["params"]:
                st = self._ensure_state(p, group)
                slots.append([st[n] for n in names])
            cached = self._slots[gi] = (names, slots)
        return cached[1]

    def _follow_params(self) -> None:
        """Every state array on its parameter's device and in its dtype ([Note: modules on a
        device]): after ``model.to("cuda")`` (or a dtype cast) of parameters the optimizer
        already holds."""
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state[p] if p in self.state else {}
                for n, a in list(st.items()):
                    st[n] = _like_param(a, p)
        self._slots = [None] * len(self.param_groups)

    def scale_loss(self, loss: Any) -> Any:
        """Keras: the loss to differentiate (a LossScaleOptimizer multiplies it by its scale;
        a plain optimizer returns it as is)."""
        return loss

    def _apply(self, groups_pairs: list[list[tuple[Tensor, Any]]], grad_scale: float = 1.0) -> None:
        """Step every parameter paired with a gradient; the gradients are ``grad_scale`` times
        the true ones (a LossScaleOptimizer's 1 / scale), folded into the fused update."""
        # (index, param, grad array) of every parameter with a gradient; the binding rejects a
        # gradient that is not an array of the parameter's dtype and shape, naming it. float16
        # gradients are stepped in float32 ([Note: float16 parameters]).
        live = [
            [(i, p, _grad_array(g)) for i, (p, g) in enumerate(pairs) if g is not None]
            for pairs in groups_pairs
        ]
        scales = self._clip_scales(live, grad_scale)
        for gi, (group, row) in enumerate(zip(self.param_groups, live)):
            if not row:
                continue
            slots = self._group_slots(gi, group)
            first, data = slots[row[0][0]], row[0][1].data
            if first and (
                first[0].dtype != _state_dtype(data) or device_of(first[0]) != device_of(data)
            ):
                self._follow_params()  # parameters moved or cast ([Note: modules on a device])
                slots = self._group_slots(gi, group)
            params = [p.data for _, p, _ in row]
            half = [j for j, a in enumerate(params) if a.dtype == _F16]
            for j in half:  # [Note: float16 parameters]
                params[j] = _master(row[j][1], self.state[row[j][1]])
            grads = [a for _, _, a in row]
            states = [slots[i] for i, _, _ in row]
            hyper = self._native_hyper(group)
            hyper["lr"] = self._resolve_lr(group["lr"])
            if self.clipvalue is not None:
                hyper["clipvalue"] = self.clipvalue
            full = len(row) == len(group["params"])
            idx = None if full else np.fromiter((i for i, _, _ in row), np.int64, len(row))
            steps = self._steps[gi] if full else self._steps[gi][idx]
            mu = self._mu[gi] if full else self._mu[gi][idx]
            _C.optim_step(
                self.kind,
                hyper,
                params,
                grads,
                states,
                steps,
                None if scales is None else scales[gi],
                mu,
                self._reference,
            )
            if not full:
                self._steps[gi][idx] = steps
                self._mu[gi][idx] = mu
            if half:
                with np.errstate(over="ignore"):  # beyond float16's range is inf
                    for j in half:
                        row[j][1].data[...] = params[j]
        self.iterations += 1

    def _clip_scales(
        self, live: list[list[tuple[int, Tensor, np.ndarray]]], grad_scale: float = 1.0
    ) -> list | None:
        """Per-tensor gradient factors: ``grad_scale`` times those of clipnorm /
        global_clipnorm (Keras semantics: g * min(1, c / ||g||), the norm of the true
        gradient), from one native norm reduction per tensor; None when all are 1."""
        if self.clipnorm is None and self.global_clipnorm is None:
            if grad_scale == 1.0:
                return None
            return [np.full(len(row), grad_scale) for row in live]
        norms = [_C.grad_norms([a for _, _, a in row], 2.0) * grad_scale for row in live]
        if self.clipnorm is not None:
            c = self.clipnorm
            return [
                grad_scale * np.minimum(1.0, c / np.maximum(n, np.finfo(np.float64).tiny))
                for n in norms
            ]
        total = math.sqrt(sum(float(np.dot(n, n)) for n in norms))
        s = 1.0 if total <= self.global_clipnorm else self.global_clipnorm / total
        return [np.full(len(row), grad_scale * s) for row in live]

    # ------------------------------------------------------------------ (de)serialisation
    def get_config(self) -> dict[str, Any]:
        """JSON-able hyperparameters (Keras names where they exist); ``from_config`` inverts."""
        cfg = _hyper_to_json(self.defaults)
        cfg.update(
            name=self.name,
            clipnorm=self.clipnorm,
            clipvalue=self.clipvalue,
            global_clipnorm=self.global_clipnorm,
        )
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """Inverse of ``get_config``; a hyperparameter left out (``lr`` too) takes its default,
        as in Keras, and an unknown one raises ``TypeError`` naming it."""
        if not isinstance(config, dict):
            raise TypeError(
                f"{cls.__name__}.from_config: config must be a dict, got {type(config).__name__}"
            )
        cfg = dict(config)
        if "lr" in cfg:
            cfg["lr"] = _lr_from_json(cfg["lr"])
        for k, v in list(cfg.items()):
            if isinstance(v, list):
                cfg[k] = tuple(v)
        return cls(**cfg)

    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {"step": int, <name>: array, ...}}, "param_groups": [...],
        "iterations": int, "class_name": str, "config": get_config()}. Parameters are indexed
        in order over all groups (as PyTorch)."""
        state: dict[int, dict[str, Any]] = {}
        groups = []
        idx = 0
        for gi, group in enumerate(self.param_groups):
            ids = []
            for j, p in enumerate(group["params"]):
                st = {"step": int(self._steps[gi][j])}
                if self.kind == "nadam":
                    st["mu_product"] = float(self._mu[gi][j])
                for n, a in self.state[p].items():
                    st[n] = host_copy(a)  # device-independent ([Note: modules on a device])
                state[idx] = st
                ids.append(idx)
                idx += 1
            g = _hyper_to_json(group)
            g["params"] = ids
            groups.append(g)
        return {
            "state": state,
            "param_groups": groups,
            "iterations": self.iterations,
            "class_name": type(self).__name__,
            "config": self.get_config(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` produced, for the same parameters in the same order.
        Everything is validated (hyperparameters as the constructor does, step counts, state
        shapes) before anything changes, so a bad state dict (say from a corrupt file) raises
        and leaves the optimizer as it was."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        groups = state_dict["param_groups"]
        if not isinstance(groups, list) or len(groups) != len(self.param_groups):
            n = len(groups) if isinstance(groups, list) else groups
            raise ValueError(
                f"state_dict has {n!r} parameter groups, this optimizer has "
                f"{len(self.param_groups)}"
            )
        state = {_count("state index", k): v for k, v in state_dict["state"].items()}
        new_groups, new_state = [], []
        for gi, (saved, group) in enumerate(zip(groups, self.param_groups)):
            pids = saved["params"]
            if not isinstance(pids, list) or len(pids) != len(group["params"]):
                raise ValueError(
                    f"parameter group {gi} has {pids!r} parameters in the state_dict but "
                    f"{len(group['params'])} here"
                )
            g = {**group, **_hyper_from_json(saved), "params": group["params"]}
            g["lr"] = _check_lr(g["lr"])
            self._validate(g)
            new_groups.append(g)
            names = self._state_names(g)
            for j, (pid, p) in enumerate(zip(pids, group["params"])):
                st = state.get(_count("parameter index", pid))
                if st is None:
                    continue
                step = _count(f"step of parameter {pid}", st.get("step", 0))
                mu = check_range(f"mu_product of parameter {pid}", st.get("mu_product", 1.0), 0.0)
                new = {}
                # a float16 parameter's master copy too ([Note: float16 parameters])
                master = ["master"] if p.data.dtype == _F16 and "master" in st else []
                for n in [*names, *master]:
                    if n not in st:
                        raise ValueError(f"state of parameter {pid} lacks {n!r}")
                    a = st[n] if hasattr(st[n], "__cuda_array_interface__") else np.asarray(st[n])
                    if a.shape != p.data.shape:
                        raise ValueError(
                            f"state {n!r} of parameter {pid} has shape {a.shape}, "
                            f"the parameter has {p.data.shape}"
                        )
                    new[n] = _like_param(a, p, copy=True)
                new_state.append((gi, j, p, step, mu, new))
        iterations = _count("iterations", state_dict.get("iterations", self.iterations))
        for gi, g in enumerate(new_groups):
            self.param_groups[gi].update(g)
        self._slots = [None] * len(self.param_groups)
        for gi, j, p, step, mu, new in new_state:
            self._steps[gi][j], self._mu[gi][j] = step, mu
            self.state[p] = new
        self.iterations = iterations

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        n = sum(len(g["params"]) for g in self.param_groups)
        return f"{type(self).__name__}({hp}; {n} parameters)"
