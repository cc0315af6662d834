"""``plot_model`` / ``model_to_dot``: a Sequential or functional model's layer graph, drawn by
Graphviz. Graphviz and pydot are optional: the DOT text is written by deepcore itself (so
``to_file="model.dot"`` needs neither); an image needs pydot or Graphviz's ``dot`` program, and
their absence is an ImportError that says what to install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

__all__ = ["plot_model", "model_to_dot", "model_to_dot_source"]

_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "gif", "ps", "dot")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _rows(model: Any) -> list[tuple]:
    rows = getattr(model, "_summary_rows", None)
    if rows is None:
        raise ValueError(
            f"plot_model needs a Sequential or functional model, got {type(model).__name__} "
            "(a subclassed model has no layer graph until it is written as one)"
        )
    return rows()


def model_to_dot_source(
    model: Any,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> str:
    """The model's layer graph as Graphviz DOT text: one box per layer (type, and as asked
    its name, output shape, dtype, activation, trainability), an edge per connection."""
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    from ..models.summary import format_shape  # noqa: PLC0415  (utils stays light to import)

    rows = _rows(model)
    layers = {getattr(layer, "name", None): layer for layer in getattr(model, "layers", [])}
    lines = [
        f"digraph {_quote(getattr(model, 'name', 'model'))} {{",
        f"  graph [rankdir={rankdir}, dpi={int(dpi)}];",
        "  node [shape=box, fontname=Helvetica];",
    ]
    ids = {}
    for i, (name, kind, shape, _params, _conn, trainable) in enumerate(rows):
        ids[name] = f"n{i}"
        label = [f"{name} ({kind})" if show_layer_names else kind]
        layer = layers.get(name)
        if show_layer_activations and layer is not None:
            act = getattr(layer, "activation", None)
            if act is not None:
                label.append(f"activation: {getattr(act, '__name__', act)}")
        if show_shapes:
            label.append(f"output: {format_shape(shape)}")
        if show_dtype and layer is not None:
            label.append(f"dtype: {getattr(layer, 'dtype', '?')}")
        if show_trainable:
            label.append(f"trainable: {bool(trainable)}")
        lines.append(f"  n{i} [label={_quote(chr(10).join(label))}];")
    for i, (_name, _kind, _shape, _params, conn, _t) in enumerate(rows):
        if conn is None:  # a chain: each layer takes the previous one's output
            if i:
                lines.append(f"  n{i - 1} -> n{i};")
            continue
        for ref in conn:  # "layer_name[node][tensor]"
            src = re.sub(r"(\[\d+\])+$", "", ref)
            if src in ids:
                lines.append(f"  {ids[src]} -> n{i};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _import_pydot() -> Any:
    try:
        import pydot  # noqa: PLC0415  (optional dependency)
    except ImportError:
        return None
    return pydot


def model_to_dot(model: Any, **kwargs: Any) -> Any:
    """The layer graph as a ``pydot.Dot`` (needs pydot: ``pip install pydot``)."""
    pydot = _import_pydot()
    if pydot is None:
        raise ImportError(
            "model_to_dot needs pydot (pip install pydot) and Graphviz "
            "(https://graphviz.org/download/); model_to_dot_source() gives the DOT text "
            "without them"
        )
    return pydot.graph_from_dot_data(model_to_dot_source(model, **kwargs))[0]


def plot_model(
    model: Any,
    to_file: str | os.PathLike = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    **kwargs: Any,
) -> None:
    """Draw the model's layer graph into ``to_file``; the format is its extension (png, svg,
    pdf, ...; ``.dot`` writes the DOT text and needs no Graphviz)."""
    if kwargs:
        raise TypeError(f"plot_model() got unexpected keyword argument(s) {sorted(kwargs)}")
    path = os.fspath(to_file)
    ext = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    if ext not in _FORMATS:
        raise ValueError(f"to_file must end in one of {', '.join(_FORMATS)}, got {path!r}")
    src = model_to_dot_source(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        rankdir=rankdir,
        expand_nested=expand_nested,
        dpi=dpi,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    if ext == "dot":
        with open(path, "w") as f:
            f.write(src)
        return
    fmt = "jpeg" if ext == "jpg" else ext
    dot = shutil.which("dot")
    if dot is not None:
        done = subprocess.run(
            [dot, f"-T{fmt}", "-o", path], input=src.encode(), capture_output=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"Graphviz dot failed: {done.stderr.decode(errors='replace')}")
        return
    pydot = _import_pydot()
    if pydot is not None:
        try:
            pydot.graph_from_dot_data(src)[0].write(path, format=fmt)
            return
        except (OSError, FileNotFoundError) as e:  # pydot without the Graphviz programs
            raise ImportError(
                f"plot_model: pydot could not run Graphviz ({e}); install Graphviz "
                "(https://graphviz.org/download/, e.g. apt install graphviz)"
            ) from None
    raise ImportError(
        f"plot_model needs Graphviz to draw {path!r}: install it (https://graphviz.org/download/, "
        "e.g. apt install graphviz; pip install pydot), or write the DOT text with "
        "to_file='model.dot'"
    )
