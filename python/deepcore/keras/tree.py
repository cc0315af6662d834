"""``keras.tree``: Keras 3's utilities over nested structures (lists, tuples, namedtuples,
dicts), used by custom layers and cells (keras.io's RNN guide flattens a cell's nested inputs
with ``keras.tree.flatten``).

[Note: tree conventions] As Keras 3: the nodes are lists, tuples (namedtuples included),
deques and mappings; everything else is a leaf, ``None`` included (``flatten(None) ==
[None]``), and so are Tensors, arrays and strings. A dict's children come in the order of its
sorted keys (an ``OrderedDict`` keeps its own order), and rebuilding a dict keeps the original
key order. Two structures are "the same" when every level has the same node type (list,
tuple and each namedtuple class are different; the mappings only need the same keys) and the
same length. The walks recurse over the structure's nodes, never over a tensor's elements.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "MAP_TO_NONE",
    "assert_same_paths",
    "assert_same_structure",
    "flatten",
    "flatten_with_path",
    "is_nested",
    "lists_to_tuples",
    "map_shape_structure",
    "map_structure",
    "map_structure_up_to",
    "pack_sequence_as",
    "traverse",
]


class MAP_TO_NONE:  # noqa: N801  (Keras's name)
    """Special value for :func:`traverse`: a function returns it to replace a sub-tree with
    None."""


def is_nested(structure: Any) -> bool:
    """Is ``structure`` a node (list, tuple, namedtuple, deque or mapping) rather than a leaf?"""
    return isinstance(structure, (list, tuple, collections.deque, Mapping))


def _keys(node: Any) -> list:
    """The child keys of a node, in flattening order: sorted keys for a dict, its own order
    for an OrderedDict, positions for a sequence."""
    if isinstance(node, Mapping):
        if isinstance(node, collections.OrderedDict):
            return list(node)
        try:
            return sorted(node)
        except TypeError as e:
            raise TypeError(f"keras.tree: a dict with keys that cannot be sorted: {e}") from e
    return list(range(len(node)))


def _children(node: Any) -> list:
    keys = _keys(node)
    if isinstance(node, Mapping):
        return [node[k] for k in keys]
    return list(node)


def _rebuild(node: Any, values: list) -> Any:
    """A node like ``node`` holding ``values`` (in flattening order)."""
    if isinstance(node, Mapping):
        by_key = dict(zip(_keys(node), values))
        items = [(k, by_key[k]) for k in node]  # the original key order
        if isinstance(node, collections.defaultdict):
            out = collections.defaultdict(node.default_factory)
            out.update(items)
            return out
        try:
            return type(node)(items)
        except TypeError:
            return dict(items)
    if isinstance(node, tuple) and hasattr(node, "_fields"):  # namedtuple
        return type(node)(*values)
    if isinstance(node, collections.deque):
        return collections.deque(values, maxlen=node.maxlen)
    return type(node)(values)


def flatten(structure: Any) -> list:
    """The leaves of ``structure`` in order, as a list (a leaf gives ``[leaf]``)."""
    out: list = []

    def walk(x: Any) -> None:
        if is_nested(x):
            for c in _children(x):
                walk(c)
        else:
            out.append(x)

    walk(structure)
    return out


def flatten_with_path(structure: Any) -> list[tuple[tuple, Any]]:
    """``(path, leaf)`` pairs in :func:`flatten`'s order; a path is the tuple of keys
    (positions for sequences, namedtuples included; keys for mappings) from the root."""
    out: list = []

    def walk(x: Any, path: tuple) -> None:
        if is_nested(x):
            for k, c in zip(_keys(x), _children(x)):
                walk(c, (*path, k))
        else:
            out.append((path, x))

    walk(structure, ())
    return out


def pack_sequence_as(
    structure: Any, flat_sequence: Any, sequence_fn: Callable | None = None
) -> Any:
    """The leaves of ``flat_sequence`` placed into the shape of ``structure``."""
    flat = list(flat_sequence)
    n = len(flatten(structure))
    if len(flat) != n:
        raise ValueError(
            f"pack_sequence_as: the structure has {n} leaves, the flat sequence {len(flat)}"
        )
    it = iter(flat)

    def build(x: Any) -> Any:
        if not is_nested(x):
            return next(it)
        values = [build(c) for c in _children(x)]
        return sequence_fn(x, values) if sequence_fn is not None else _rebuild(x, values)

    return build(structure)


def _same(a: Any, b: Any, check_types: bool, path: tuple) -> None:
    na, nb = is_nested(a), is_nested(b)
    if na != nb:
        raise ValueError(
            f"The two structures don't have the same nested structure at {list(path)}: "
            f"{type(a).__name__} vs {type(b).__name__}"
        )
    if not na:
        return
    if isinstance(a, Mapping) != isinstance(b, Mapping):
        raise ValueError(f"The two structures differ at {list(path)}: a mapping and a sequence")
    if check_types and not isinstance(a, Mapping) and type(a) is not type(b):
        raise ValueError(
            f"The two structures don't have the same sequence type at {list(path)}: "
            f"{type(a).__name__} vs {type(b).__name__}"
        )
    ka, kb = _keys(a), _keys(b)
    if isinstance(a, Mapping) and set(ka) != set(kb):
        raise ValueError(
            f"The two structures have different keys at {list(path)}: {sorted(map(str, ka))} vs "
            f"{sorted(map(str, kb))}"
        )
    if len(ka) != len(kb):
        raise ValueError(
            f"The two structures don't have the same length at {list(path)}: {len(ka)} vs {len(kb)}"
        )
    ca = _children(a)
    cb = [b[k] for k in ka] if isinstance(b, Mapping) else _children(b)
    for k, x, y in zip(ka, ca, cb):
        _same(x, y, check_types, (*path, k))


def assert_same_structure(a: Any, b: Any, check_types: Any = None) -> None:
    """Raise ValueError unless ``a`` and ``b`` are nested the same way (see [Note: tree
    conventions]). ``check_types`` is accepted for Keras's signature (deprecated there)."""
    _same(a, b, True, ())


def assert_same_paths(a: Any, b: Any) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same leaf paths (node types ignored)."""
    pa = {p for p, _ in flatten_with_path(a)}
    pb = {p for p, _ in flatten_with_path(b)}
    if pa != pb:
        raise ValueError(
            f"The two structures don't have the same paths: only in the first "
            f"{sorted(pa - pb, key=str)}, only in the second {sorted(pb - pa, key=str)}"
        )


def map_structure(func: Callable, *structures: Any, none_is_leaf: bool = True) -> Any:
    """``func`` applied to the leaves of ``structures`` (all nested the same way), in a
    structure like the first; with ``none_is_leaf=False`` a None stays None."""
    if not callable(func):
        raise TypeError(f"map_structure: func must be callable, got {type(func).__name__}")
    if not structures:
        raise TypeError("map_structure needs at least one structure")
    for other in structures[1:]:
        assert_same_structure(structures[0], other)
    flats = [flatten(s) for s in structures]

    def call(*leaves: Any) -> Any:
        if not none_is_leaf and leaves[0] is None:
            return None
        return func(*leaves)

    return pack_sequence_as(structures[0], [call(*leaves) for leaves in zip(*flats)])


def map_structure_up_to(shallow_structure: Any, func: Callable, *structures: Any) -> Any:
    """``func`` applied to the sub-trees of ``structures`` found at ``shallow_structure``'s
    leaves (the structures may be nested deeper there, not shallower)."""
    if not callable(func):
        raise TypeError(f"map_structure_up_to: func must be callable, got {type(func).__name__}")
    if not structures:
        raise TypeError("map_structure_up_to needs at least one structure")

    def walk(shallow: Any, subs: tuple, path: tuple) -> Any:
        if not is_nested(shallow):
            return func(*subs)
        keys = _keys(shallow)
        for s in subs:
            if not is_nested(s):
                raise ValueError(
                    f"map_structure_up_to: a structure is shallower than shallow_structure at "
                    f"{list(path)}"
                )
            if isinstance(shallow, Mapping) != isinstance(s, Mapping) or (
                isinstance(s, Mapping) and set(_keys(s)) != set(keys)
            ):
                raise ValueError(f"map_structure_up_to: structures differ at {list(path)}")
            if not isinstance(s, Mapping) and len(s) != len(keys):
                raise ValueError(
                    f"map_structure_up_to: lengths differ at {list(path)}: {len(keys)} vs {len(s)}"
                )
        values = [
            walk(
                shallow[k] if isinstance(shallow, Mapping) else _children(shallow)[k],
                tuple(s[k] if isinstance(s, Mapping) else _children(s)[k] for s in subs),
                (*path, k),
            )
            for k in keys
        ]
        return _rebuild(shallow, values)

    return walk(shallow_structure, structures, ())


def traverse(func: Callable, structure: Any, top_down: bool = True) -> Any:
    """Visit every sub-tree (nodes and leaves) depth-first. Top-down: ``func(sub)`` not None
    replaces ``sub`` and stops the descent into it (``MAP_TO_NONE`` replaces it with None).
    Bottom-up: children first, then ``func`` on the rebuilt node; a non-None result replaces
    it."""

    def result(v: Any) -> Any:
        return None if v is MAP_TO_NONE or isinstance(v, MAP_TO_NONE) else v

    def down(x: Any) -> Any:
        r = func(x)
        if r is not None:
            return result(r)
        if is_nested(x):
            return _rebuild(x, [down(c) for c in _children(x)])
        return x

    def up(x: Any) -> Any:
        if is_nested(x):
            x = _rebuild(x, [up(c) for c in _children(x)])
        r = func(x)
        return x if r is None else result(r)

    return down(structure) if top_down else up(structure)


def lists_to_tuples(structure: Any) -> Any:
    """The structure with every list turned into a tuple."""

    def walk(x: Any) -> Any:
        if not is_nested(x):
            return x
        values = [walk(c) for c in _children(x)]
        return tuple(values) if isinstance(x, list) else _rebuild(x, values)

    return walk(structure)


def _is_shape(x: Any) -> bool:
    return isinstance(x, (tuple, list)) and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in x
    )


def map_shape_structure(func: Callable, structure: Any) -> Any:
    """:func:`map_structure` where a tuple (or list) of ints and Nones is one leaf: a
    shape."""

    def walk(x: Any) -> Any:
        if _is_shape(x) or not is_nested(x):
            return func(x)
        return _rebuild(x, [walk(c) for c in _children(x)])

    return walk(structure)
