"""``Sequential``: a linear stack of layers (Keras).

    model = Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    ...

The first layer's ``input_shape=`` (or a leading ``Input(shape=...)``) builds the model at once,
each later layer inferring its input from the previous layer's output shape; without one the
model builds on its first call (or ``build(input_shape)``).

Building calls the layers on an input placeholder, as Keras does, so a built Sequential has
``inputs`` / ``outputs`` and each layer its ``input`` / ``output``: Keras's feature extractor
``Model(model.inputs, [layer.output for layer in model.layers])`` works on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..nn import module as nn_module
from ..nn.functional import activation_name
from ..nn.layers.input_layer import Input, InputLayer
from ..nn.layers.layout import layout_stale, new_plan_id, plan_channels_last, reset_layout
from ..nn.module import Module, call_with_mask
from ..symbolic import KerasTensor
from .training import Model

__all__ = ["Sequential"]


def _has_softmax(layer: Module) -> bool:
    """Does the layer end in a softmax over its last axis that ``call_logits`` can skip (see
    [Note: fused softmax cross-entropy] in deepcore.losses)?"""
    kind = type(layer).__name__
    if kind == "Softmax":
        return getattr(layer, "axis", None) == -1
    if kind in ("Dense", "Activation"):
        return activation_name(getattr(layer, "activation", None)) == "softmax"
    return False


def _identity(x: Any) -> Any:
    return x


def call_logits(layer: Module, x: Any) -> Any:
    """The output of a layer for which ``_has_softmax`` holds, without its final softmax."""
    if type(layer).__name__ in ("Softmax", "Activation"):
        return x
    act = layer.activation
    object.__setattr__(layer, "activation", _identity)  # for this one call
    try:
        return layer(x)
    finally:
        object.__setattr__(layer, "activation", act)


class Sequential(Model):
    """A stack of layers, each feeding the next; Keras masks travel along (see [Note: masking]
    in nn/masking.py)."""

    supports_masking = True
    _returns_masks = True

    def __init__(
        self,
        layers: Iterable[Module] | None = None,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        super().__init__(name=name, trainable=trainable)
        self.layers: list[Module] = []
        object.__setattr__(self, "_layer_shapes", [])
        object.__setattr__(self, "_layer_outputs", [])  # placeholders, once built
        object.__setattr__(self, "_input_tensor", None)
        object.__setattr__(self, "_input_shape", None)
        object.__setattr__(self, "_layout_id", new_plan_id())
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ construction
    def add(self, layer: Any) -> None:
        """Append a layer; it is built right away when the model's input shape is known."""
        if isinstance(layer, InputLayer):  # Keras 3 configs list it first
            layer = layer.output
        if isinstance(layer, KerasTensor):  # model.add(Input(shape=...))
            if self.layers:
                raise ValueError("an Input can only be the first thing added to a Sequential")
            object.__setattr__(self, "_input_shape", tuple(layer.shape))
            return
        if not isinstance(layer, Module):
            raise TypeError(
                f"Sequential.add() expects a layer (deepcore.nn.Module), got {type(layer).__name__}"
            )
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(
                f"all layers added to a Sequential model should have unique names; "
                f"'{layer.name}' is already the name of a layer in this model"
            )
        if layer is self:
            raise ValueError("cannot add a Sequential model to itself")
        self.layers.append(layer)
        object.__setattr__(self, "_compiled", None)
        if len(self.layers) == 1 and self._input_shape is None:
            shape = getattr(layer, "input_shape_arg", None)
            if shape is not None:
                batch = getattr(layer, "batch_size_arg", None)
                object.__setattr__(self, "_input_shape", (batch, *shape))
        if self.built:
            # append to a built stack: build only the new layer
            prev = self._layer_outputs[-1] if self._layer_outputs else self._input_tensor
            self._call_symbolic(layer, prev)
            self._plan_layout()
        elif self._input_shape is not None:
            self.build(self._input_shape)

    def pop(self) -> Module:
        if not self.layers:
            raise TypeError("there are no layers in the model")
        layer = self.layers.pop()
        if self._layer_shapes:
            self._layer_shapes.pop()
            self._layer_outputs.pop()
        reset_layout([layer])
        self._plan_layout()
        object.__setattr__(self, "_compiled", None)
        return layer

    def build(self, input_shape: Any = None) -> None:
        """Build every layer in order from ``input_shape`` (batch dim included, may be None)."""
        if input_shape is None:
            input_shape = self._input_shape
        if input_shape is None:
            raise ValueError(
                "Sequential.build() needs an input shape: give the first layer input_shape=..., "
                "or call the model on data"
            )
        shape = tuple(input_shape)
        self._build_input_shape = shape
        reset_layout(self.layers)  # placeholders carry the declared (notional) shapes
        x = Input(batch_shape=shape, name=f"{self.name}_input")
        object.__setattr__(self, "_input_tensor", x)
        object.__setattr__(self, "_layer_shapes", [])
        object.__setattr__(self, "_layer_outputs", [])
        for layer in self.layers:
            x = self._call_symbolic(layer, x)
        self._plan_layout()
        self.built = True

    def _call_symbolic(self, layer: Module, x: KerasTensor) -> KerasTensor:
        """Build ``layer`` for ``x`` by calling it on the placeholder (Keras's way): its
        output placeholder gives the next layer's input shape and the layer's ``output``."""
        try:
            y = layer(x)
        except (ValueError, TypeError) as e:
            raise type(e)(
                f"layer '{layer.name}' ({type(layer).__name__}) of Sequential "
                f"'{self.name}' cannot take input of shape {tuple(x.shape)}: {e}"
            ) from e
        if not isinstance(y, KerasTensor):
            raise ValueError(
                f"layer '{layer.name}' ({type(layer).__name__}) of Sequential '{self.name}' "
                "has several outputs: a Sequential model's layers must have one"
            )
        self._layer_shapes.append(y.shape)
        self._layer_outputs.append(y)
        return y

    def _plan_layout(self) -> None:
        """Keep channels-last image data NCHW between consecutive conv/pool layers (see
        [Note: channels-last] in deepcore.nn.layers.layout)."""
        plan_channels_last(self.layers, owner=self._layout_id)

    # ------------------------------------------------------------------ call
    def call(
        self,
        x: Any,
        training: bool | None = None,
        return_logits: Any = None,
        mask: Any = None,
        return_masks: bool = False,
    ) -> Any:
        """The stack's output for ``x`` (and input mask ``mask``); ``return_masks=True`` gives
        ``(output, output mask)``."""
        layers = self.layers
        if not layers:
            raise ValueError(f"Sequential '{self.name}' has no layers")
        if layout_stale(self._layout_id, layers):  # a layer was planned by another model
            self._plan_layout()
        last = len(layers) - 1 if return_logits and return_logits[0] else len(layers)
        for i in range(last):
            layer = layers[i]
            if mask is None and not layer._computes_mask:  # the lean path: no mask to carry
                x = layer(x)
            else:
                x, mask = call_with_mask(layer, (x,), {}, mask)
        if last < len(layers):
            layer = layers[last]
            mask = layer.compute_mask(x, mask) if mask is not None else None
            x = call_logits(layer, x)
        return (x, mask) if return_masks else x

    def _softmax_outputs(self) -> list[bool]:
        return [bool(self.layers) and _has_softmax(self.layers[-1])]

    # ------------------------------------------------------------------ structure
    @property
    def output_names(self) -> list[str]:
        return [self.layers[-1].name] if self.layers else ["output"]

    def _placeholders(self, what: str) -> list[KerasTensor]:
        if not self.built or self._input_tensor is None:
            raise ValueError(
                f"Sequential model '{self.name}' has no defined {what} yet: give its first "
                "layer input_shape=..., start it with Input(shape=...), or build() it"
            )
        if what == "inputs":
            return [self._input_tensor]
        return [self._layer_outputs[-1] if self._layer_outputs else self._input_tensor]

    @property
    def inputs(self) -> list[KerasTensor]:
        """The input placeholder of the built model, in a list (Keras)."""
        return self._placeholders("inputs")

    @property
    def outputs(self) -> list[KerasTensor]:
        return self._placeholders("outputs")

    @property
    def input(self) -> KerasTensor:
        return self._placeholders("inputs")[0]

    @property
    def output(self) -> KerasTensor:
        return self._placeholders("outputs")[0]

    @property
    def input_shape(self) -> Any:
        return self._build_input_shape if self.built else self._input_shape

    @property
    def output_shape(self) -> Any:
        if not self._layer_shapes:
            raise AttributeError(f"Sequential '{self.name}' is not built yet")
        return self._layer_shapes[-1]

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def _summary_rows(self) -> list[tuple]:
        rows = []
        for i, layer in enumerate(self.layers):
            shape = self._layer_shapes[i] if i < len(self._layer_shapes) else None
            params = layer.count_params() if layer.built else 0
            rows.append((layer.name, type(layer).__name__, shape, params, None, layer.trainable))
        return rows

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        cfg = {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [nn_module.serialize(layer) for layer in self.layers],
        }
        if self.built:
            cfg["build_input_shape"] = list(self._build_input_shape)
        elif self._input_shape is not None:
            cfg["build_input_shape"] = list(self._input_shape)
        return self._with_policy(cfg)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Sequential:
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for lc in config.get("layers", []):
            model.add(nn_module.deserialize(lc, custom_objects))
        shape = config.get("build_input_shape")
        if shape is not None and not model.built:
            model.build(tuple(shape))
        return model._policy_from(config)
