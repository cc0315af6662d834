"""``Model.summary()``: Keras's table of layers, output shapes and parameter counts.

    Model: "sequential"
    _________________________________________________________________
     Layer (type)                Output Shape              Param #
    =================================================================
     conv2d (Conv2D)             (None, 26, 26, 32)        320
     ...
    =================================================================
    Total params: 93,322 (364.54 KB)
    Trainable params: 93,322 (364.54 KB)
    Non-trainable params: 0 (0.00 B)
    _________________________________________________________________

Columns grow to fit long names instead of wrapping them; functional graphs with merges get
Keras's fourth column, "Connected to".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["summary_text", "format_shape", "format_size"]


def format_shape(shape: Any) -> str:
    """(None, 26, 26, 32), or a list of them for several outputs; "?" when unknown."""
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def format_size(n_bytes: float) -> str:
    """Keras 3's memory figure: 364.54 KB."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1024 or unit == "TB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} TB"  # pragma: no cover


def _count(weights: Sequence[Any]) -> tuple[int, int]:
    return sum(int(w.size) for w in weights), sum(int(w.data.nbytes) for w in weights)


def summary_text(
    model: Any,
    line_length: int | None = None,
    positions: Sequence[float] | None = None,
    show_trainable: bool = False,
) -> str:
    rows = model._summary_rows()  # [(name, type, shape, params, connected_to or None)]
    connected = any(r[4] is not None for r in rows)
    headers = ["Layer (type)", "Output Shape", "Param #"]
    if connected:
        headers.append("Connected to")
    if show_trainable:
        headers.append("Trainable")
    cells = []
    for name, kind, shape, params, conn, *rest in rows:
        row = [f"{name} ({kind})", format_shape(shape), f"{params:,}"]
        if connected:
            row.append(", ".join(conn or []))
        if show_trainable:
            row.append("Y" if (rest[0] if rest else True) else "N")
        cells.append(row)
    # Keras's default widths for 65 (98 with "Connected to") columns, grown to fit the cells
    total = line_length or (98 if connected else 65)
    pos = (
        list(positions)
        if positions
        else ([0.33, 0.55, 0.67, 1.0] if connected else [0.45, 0.85, 1.0])
    )
    pos = pos + [1.0] * (len(headers) - len(pos))
    if all(p <= 1.0 for p in pos):
        pos = [int(total * p) for p in pos]
    widths = [pos[0]] + [pos[i] - pos[i - 1] for i in range(1, len(headers))]
    for i in range(len(headers)):
        need = max([len(headers[i])] + [len(r[i]) for r in cells]) + 2
        widths[i] = max(widths[i], need)
    width = sum(widths) + 1

    def line(values: Sequence[str]) -> str:
        return (" " + "".join(v.ljust(w) for v, w in zip(values, widths))).rstrip()

    out = [f'Model: "{model.name}"', "_" * width, line(headers), "=" * width]
    out += [line(r) for r in cells]
    all_n, all_b = _count(model.weights)
    tr_n, tr_b = _count(model.trainable_weights)
    nt_n, nt_b = _count(model.non_trainable_weights)
    out.append("=" * width)
    out.append(f"Total params: {all_n:,} ({format_size(all_b)})")
    out.append(f"Trainable params: {tr_n:,} ({format_size(tr_b)})")
    out.append(f"Non-trainable params: {nt_n:,} ({format_size(nt_b)})")
    opt = getattr(model, "optimizer", None)
    if opt is not None and getattr(opt, "state", None):
        st = [a for p in opt.state for a in opt.state[p].values() if hasattr(a, "nbytes")]
        if st:
            n = sum(int(a.size) for a in st)
            out.append(f"Optimizer params: {n:,} ({format_size(sum(a.nbytes for a in st))})")
    out.append("_" * width)
    return "\n".join(out)
