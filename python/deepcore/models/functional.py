"""The functional API: ``Input()`` placeholders, layers called on them, ``Model(inputs, outputs)``.

    x = Input(shape=(28, 28, 1))
    h = layers.Conv2D(32, 3, activation="relu")(x)
    a = layers.Dense(10, activation="softmax")(layers.Flatten()(h))
    b = layers.Dense(1, activation="sigmoid")(layers.Flatten()(h))
    model = Model(inputs=x, outputs=[a, b])

Calling a layer on :class:`KerasTensor` placeholders computes nothing but records a graph node
(deepcore/symbolic.py). ``Model`` walks the nodes back from the outputs, orders them
topologically, and runs them in that order on real tensors. A layer called more than once is
shared (one set of weights, one node per call). ``get_config()`` describes the graph by layer
names and node indices so ``from_config`` (and ``load_model``) rebuild it.

``model.layers`` lists the layers as Keras does — the ``InputLayer`` of every input included,
ordered by depth from the outputs, ties in discovery order — so ``model.layers[i]`` is the same
layer as in Keras and ``Model(model.inputs, [l.output for l in model.layers])`` is a feature
extractor. Operations on placeholders (``OpLambda`` nodes: ``x + y``) are not listed, as in
Keras. Weights keep the names they had before InputLayers were listed (``layers.<i>.<weight>``
with i counting only the model's own layers in the order they are first called), so files
saved by earlier versions load.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import module as nn_module
from ..nn.layers.input_layer import Input, InputLayer
from ..nn.layers.layout import layout_stale, new_plan_id, plan_channels_last, reset_layout
from ..nn.module import Module, call_with_mask
from ..symbolic import KerasTensor, Node, _flatten, _map, symbolic_call, toposort
from .sequential import _has_softmax, call_logits
from .training import Model

__all__ = ["Input", "InputLayer", "KerasTensor", "Node", "Functional", "symbolic_call"]


class Functional(Model):
    """A model defined by a graph of layers from input placeholders to outputs. Keras masks
    travel along the graph (see [Note: masking] in nn/masking.py)."""

    supports_masking = True
    _returns_masks = True

    def __init__(
        self, inputs: Any, outputs: Any, name: str | None = None, trainable: bool = True
    ) -> None:
        super().__init__(name=name or nn_module._unique_name("functional"), trainable=trainable)
        ins = (
            list(inputs.values())
            if isinstance(inputs, dict)
            else (list(inputs) if isinstance(inputs, (list, tuple)) else [inputs])
        )
        outs = (
            list(outputs.values())
            if isinstance(outputs, dict)
            else (list(outputs) if isinstance(outputs, (list, tuple)) else [outputs])
        )
        for t in ins + outs:
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"Model(inputs, outputs) takes placeholders from Input() and layer calls, "
                    f"got {type(t).__name__}"
                )
        for t in ins:
            if not t.node.is_input:
                raise ValueError(f"model inputs must come from Input(), got {t}")
        object.__setattr__(self, "_single_output", not isinstance(outputs, (list, tuple, dict)))
        object.__setattr__(self, "_inputs", ins)
        object.__setattr__(self, "_outputs", outs)
        nodes = toposort(outs)
        reached = [n.layer for n in nodes if n.is_input]
        missing = [il.name for il in reached if all(il is not t.node.layer for t in ins)]
        if missing:
            raise ValueError(
                f"Graph disconnected: the outputs depend on input(s) {missing} that are not in "
                "the model's inputs"
            )
        object.__setattr__(self, "_nodes", [n for n in nodes if not n.is_input])
        graph_layers: list[Module] = []
        for n in self._nodes:
            if all(n.layer is not lyr for lyr in graph_layers):
                graph_layers.append(n.layer)
        names = [lyr.name for lyr in graph_layers] + [t.node.layer.name for t in ins]
        dup = sorted({nm for nm in names if names.count(nm) > 1})
        if dup:
            raise ValueError(f"layer names must be unique in a model, repeated: {dup}")
        # the layers in execution order (config, weights); Keras's listing for users
        object.__setattr__(self, "_graph_layers", graph_layers)
        object.__setattr__(
            self, "_weight_layers", [lyr for lyr in graph_layers if not _is_operation(lyr)]
        )
        self.layers: list[Module] = _keras_layer_order(outs, ins)
        object.__setattr__(self, "_layout_id", new_plan_id())
        self._plan_layout()
        self.built = True
        self._build_input_shape = [t.shape for t in ins] if len(ins) > 1 else ins[0].shape

    def named_children(self) -> Any:
        """The model's own layers as ``layers.<i>`` (InputLayers and operations hold no
        weights and are left out, so weight names stay as files store them)."""
        for i, layer in enumerate(self._weight_layers):
            yield f"layers.{i}", layer

    def _plan_layout(self) -> None:
        """Plan channels-last layouts along the graph's chains (see [Note: channels-last] in
        deepcore.nn.layers.layout): a chain is a maximal path of nodes each feeding only the
        next, which takes only that input; layers called by several nodes stay standalone.
        Layers shared with another model are re-planned when this model runs after it."""
        reset_layout(self._graph_layers)
        plan_channels_last([], owner=self._layout_id, claim=self._graph_layers)
        consumers: dict[int, int] = {}
        for n in self._nodes:
            for t in n.inbound:
                consumers[id(t)] = consumers.get(id(t), 0) + 1
        for t in self._outputs:
            consumers[id(t)] = consumers.get(id(t), 0) + 1
        calls: dict[int, int] = {}
        for n in self._nodes:
            calls[id(n.layer)] = calls.get(id(n.layer), 0) + 1

        def simple(n: Node) -> bool:
            return calls[id(n.layer)] == 1 and len(n.outputs) == 1 and not n.kwargs

        chain: list[Module] = []
        prev: Node | None = None
        for n in self._nodes:  # topological order: a chain's nodes are consecutive
            ins = n.inbound
            links = (
                prev is not None
                and simple(n)
                and len(n.args) == 1
                and len(ins) == 1
                and ins[0].node is prev
                and consumers.get(id(ins[0]), 0) == 1
            )
            if not links:
                if len(chain) > 1:
                    plan_channels_last(chain, owner=self._layout_id)
                chain = []
            if simple(n):
                chain.append(n.layer)
                prev = n
            else:
                prev = None
        if len(chain) > 1:
            plan_channels_last(chain, owner=self._layout_id)

    # ------------------------------------------------------------------ structure
    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._outputs)

    @property
    def input(self) -> Any:
        """The input placeholder (a list of them for several inputs), as Keras."""
        return self._inputs[0] if len(self._inputs) == 1 else list(self._inputs)

    @property
    def output(self) -> Any:
        """The output placeholder (a list of them for several outputs), as Keras."""
        return self._outputs[0] if self._single_output else list(self._outputs)

    @property
    def input_names(self) -> list[str]:
        return [t.node.layer.name for t in self._inputs]

    @property
    def output_names(self) -> list[str]:
        names: list[str] = []
        for t in self._outputs:
            nm = t.node.layer.name
            while nm in names:  # the same layer's outputs twice (multi-output layers)
                nm = f"{nm}_{t.index}"
            names.append(nm)
        return names

    @property
    def input_shape(self) -> Any:
        return self._build_input_shape

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if self._single_output else shapes

    def _softmax_outputs(self) -> list[bool]:
        flags = []
        for t in self._outputs:
            node = t.node
            # the output must be the layer's only output and not consumed by other nodes
            consumed = any(any(u is t for u in n.inbound) for n in self._nodes)
            flags.append(
                not node.is_input
                and len(node.outputs) == 1
                and not consumed
                and len(node.args) == 1
                and not node.kwargs
                and _has_softmax(node.layer)
            )
        return flags

    # ------------------------------------------------------------------ call
    def call(
        self,
        inputs: Any,
        training: bool | None = None,
        return_logits: Any = None,
        mask: Any = None,
        return_masks: bool = False,
    ) -> Any:
        """The outputs for ``inputs`` (with input masks ``mask``: one, or one per input);
        ``return_masks=True`` gives ``(outputs, output masks)``."""
        if layout_stale(self._layout_id, self._graph_layers):
            self._plan_layout()
        xs = (
            list(inputs.values())
            if isinstance(inputs, dict)
            else (list(inputs) if isinstance(inputs, (list, tuple)) else [inputs])
        )
        if isinstance(inputs, dict):
            xs = [inputs[nm] for nm in self.input_names]
        if len(xs) != len(self._inputs):
            raise ValueError(
                f"model '{self.name}' expects {len(self._inputs)} input(s), got {len(xs)}"
            )
        values: dict[int, Any] = {id(t): x for t, x in zip(self._inputs, xs)}
        masks: dict[int, Any] = {}  # id(KerasTensor) -> its mask, where it has one
        if mask is not None:
            in_masks = mask if isinstance(mask, (list, tuple)) else [mask]
            if len(in_masks) != len(self._inputs):
                raise ValueError(
                    f"model '{self.name}' has {len(self._inputs)} input(s), got "
                    f"{len(in_masks)} mask(s)"
                )
            masks = {id(t): m for t, m in zip(self._inputs, in_masks) if m is not None}
        logit_nodes = set()
        if return_logits:
            for t, want in zip(self._outputs, return_logits):
                if want:
                    logit_nodes.add(id(t.node))

        def value(t: Any) -> Any:
            return values[id(t)] if isinstance(t, KerasTensor) else t

        def mask_of(t: Any) -> Any:
            return masks.get(id(t)) if isinstance(t, KerasTensor) else None

        for node in self._nodes:
            layer = node.layer
            args = [_map(a, value) for a in node.args]
            kwargs = {k: _map(v, value) for k, v in node.kwargs.items()} if node.kwargs else {}
            if not (masks and node.args):
                in_mask = None
            elif getattr(layer, "_masks_per_argument", False):  # attention: query, value, key
                in_mask = [_map(a, mask_of) for a in node.args]
            else:
                in_mask = _map(node.args[0], mask_of)
            if in_mask is not None and not any(m is not None for m in _flatten(in_mask)):
                in_mask = None
            out_mask = None
            if id(node) in logit_nodes:
                if in_mask is not None:
                    out_mask = layer.compute_mask(args[0], in_mask)
                out = call_logits(layer, args[0])
            elif in_mask is None and not layer._computes_mask:  # the lean path
                out = layer(*args, **kwargs)
            else:
                out, out_mask = call_with_mask(layer, args, kwargs, in_mask)
            if len(node.outputs) == 1 and not isinstance(out, (list, tuple)):
                values[id(node.outputs[0])] = out
            else:
                for t, o in zip(node.outputs, out):
                    values[id(t)] = o
            if out_mask is not None:
                several = isinstance(out_mask, (list, tuple))
                for i, t in enumerate(node.outputs):
                    mi = out_mask[i] if several else out_mask
                    if mi is not None:
                        masks[id(t)] = mi
        result = [values[id(t)] for t in self._outputs]
        if return_masks:
            out_masks = [masks.get(id(t)) for t in self._outputs]
            if self._single_output:
                return result[0], out_masks[0]
            return result, out_masks
        return result[0] if self._single_output else result

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.output_shape

    # ------------------------------------------------------------------ summary
    def _summary_rows(self) -> list[tuple]:
        rows = []
        seen: set[int] = set()
        merge = any(len(n.inbound) > 1 for n in self._nodes) or len(self._inputs) > 1
        for t in self._inputs:
            il = t.node.layer
            rows.append((il.name, "InputLayer", t.shape, 0, [] if merge else None, True))
        for node in self._nodes:
            layer = node.layer
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            shapes = [t.shape for t in node.outputs]
            conn = (
                [
                    f"{t.node.layer.name}[{self._node_index(t.node)}][{t.index}]"
                    for t in node.inbound
                ]
                if merge
                else None
            )
            rows.append(
                (
                    layer.name,
                    type(layer).__name__,
                    shapes[0] if len(shapes) == 1 else shapes,
                    layer.count_params() if layer.built else 0,
                    conn,
                    layer.trainable,
                )
            )
        return rows

    def _node_index(self, node: Node) -> int:
        if node.is_input:
            return 0
        same = [n for n in self._nodes if n.layer is node.layer]
        return next(i for i, n in enumerate(same) if n is node)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        def ref(t: Any) -> Any:
            if isinstance(t, KerasTensor):
                return {"__ref__": [t.node.layer.name, self._node_index(t.node), t.index]}
            if isinstance(t, (np.integer, np.floating)):
                return t.item()
            return t

        layers = []
        for t in self._inputs:
            layers.append(
                {
                    "class_name": "InputLayer",
                    "config": t.node.layer.get_config(),
                    "name": t.node.layer.name,
                    "inbound_nodes": [],
                }
            )
        for layer in self._graph_layers:
            nodes = [
                {
                    "args": [_map(a, ref) for a in n.args],
                    "kwargs": {k: _map(v, ref) for k, v in n.kwargs.items()},
                }
                for n in self._nodes
                if n.layer is layer
            ]
            layers.append(
                {**nn_module.serialize(layer), "name": layer.name, "inbound_nodes": nodes}
            )

        def out_ref(t: KerasTensor) -> list:
            return [t.node.layer.name, self._node_index(t.node), t.index]

        return self._with_policy(
            {
                "name": self.name,
                "trainable": self.trainable,
                "layers": layers,
                "input_layers": [out_ref(t) for t in self._inputs],
                "output_layers": [out_ref(t) for t in self._outputs],
                "single_output": self._single_output,
            }
        )

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Functional:
        made: dict[str, Any] = {}  # layer name -> layer
        node_outputs: dict[tuple[str, int], list[KerasTensor]] = {}
        pending = []
        for lc in config["layers"]:
            if lc["class_name"] == "InputLayer":
                c = lc["config"]
                t = Input(
                    batch_shape=tuple(c["batch_shape"]),
                    dtype=c.get("dtype", "float32"),
                    name=c["name"],
                )
                node_outputs[(c["name"], 0)] = [t]
            else:
                made[lc["name"]] = nn_module.deserialize(
                    {"class_name": lc["class_name"], "config": lc["config"]}, custom_objects
                )
                for i, nd in enumerate(lc["inbound_nodes"]):
                    pending.append((lc["name"], i, nd))

        def resolve(v: Any) -> Any:
            if isinstance(v, dict) and "__ref__" in v:
                name, ni, ti = v["__ref__"]
                return node_outputs[(name, ni)][ti]
            return v

        def ready(v: Any) -> bool:
            if isinstance(v, dict) and "__ref__" in v:
                name, ni, _ = v["__ref__"]
                return (name, ni) in node_outputs
            if isinstance(v, list):
                return all(ready(u) for u in v)
            return True

        # replay the calls in an order where every input already exists
        while pending:
            progressed = False
            for item in list(pending):
                name, i, nd = item
                kwargs = nd.get("kwargs", {})
                if not all(ready(a) for a in [*nd["args"], *kwargs.values()]):
                    continue
                args = [_map_json(a, resolve) for a in nd["args"]]
                kwargs = {k: _map_json(v, resolve) for k, v in kwargs.items()}
                out = made[name](*args, **kwargs)
                node_outputs[(name, i)] = list(out) if isinstance(out, list) else [out]
                pending.remove(item)
                progressed = True
            if not progressed:
                raise ValueError("the saved graph references layers or nodes that do not exist")

        def get(r: list) -> KerasTensor:
            return node_outputs[(r[0], r[1])][r[2]]

        ins = [get(r) for r in config["input_layers"]]
        outs = [get(r) for r in config["output_layers"]]
        model = cls(
            ins if len(ins) > 1 else ins[0],
            outs[0] if config.get("single_output", len(outs) == 1) else outs,
            name=config.get("name"),
            trainable=config.get("trainable", True),
        )
        return model._policy_from(config)


def _is_operation(layer: Any) -> bool:
    return getattr(layer, "_is_operation", False)


def _keras_layer_order(outputs: list[KerasTensor], inputs: list[KerasTensor]) -> list[Module]:
    """The layers of the graph as Keras lists them (``model.layers``): by depth from the
    outputs, deepest (the inputs) first; ties in the order a depth-first walk from the outputs
    first meets them. Operations (``OpLambda``) are left out."""
    index: dict[int, int] = {}  # id(layer) -> discovery order
    layers: dict[int, Any] = {}
    order: list[Node] = []  # nodes, each after the nodes it reads from
    done: set[int] = set()
    input_ids = {id(t) for t in inputs}
    for out in outputs:
        stack: list[tuple[Node, bool]] = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in done:
                continue
            done.add(id(node))
            if id(node.layer) not in index:
                index[id(node.layer)] = len(index)
                layers[id(node.layer)] = node.layer
            stack.append((node, True))
            if not node.is_input and not any(id(t) in input_ids for t in node.outputs):
                for t in reversed(node.inbound):
                    if id(t.node) not in done:
                        stack.append((t.node, False))
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for node in reversed(order):  # consumers before producers
        d = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = d
        for t in node.inbound:
            node_depth[id(t.node)] = max(node_depth.get(id(t.node), 0), d + 1)
    ranked = sorted(index, key=lambda i: (-layer_depth.get(i, 0), index[i]))
    unused = [t.node.layer for t in inputs if id(t.node.layer) not in index]  # listed last
    return [layers[i] for i in ranked if not _is_operation(layers[i])] + unused


def _map_json(x: Any, fn: Any) -> Any:
    if isinstance(x, list):
        return [_map_json(v, fn) for v in x]
    return fn(x)


Model._graph_model = Functional  # Model(inputs, outputs) builds a Functional
