"""``keras.tree`` on the examples of Keras 3's API documentation (keras.io/api/tree), and its
bad inputs; see [Note: tree conventions] in keras/tree.py."""

from __future__ import annotations

import collections

import deepcore as dc
import numpy as np
import pytest
from deepcore.keras import tree

Foo = collections.namedtuple("Foo", ["a", "b"])


def test_flatten_examples():
    assert tree.flatten([[1, 2, 3], [4, [5], [[6]]]]) == [1, 2, 3, 4, 5, 6]
    assert tree.flatten(None) == [None]
    assert tree.flatten(1) == [1]
    assert tree.flatten({100: "world!", 6: "Hello"}) == ["Hello", "world!"]
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    assert tree.flatten(od) == [1, 2]  # an OrderedDict keeps its order
    t = dc.tensor(np.ones((2, 3)))
    assert tree.flatten((t, [t])) == [t, t]  # tensors are leaves
    assert tree.flatten("abc") == ["abc"]


def test_is_nested_and_paths():
    assert tree.is_nested([1]) and tree.is_nested((1,)) and tree.is_nested({"a": 1})
    assert not tree.is_nested(1) and not tree.is_nested(None) and not tree.is_nested("ab")
    assert tree.flatten_with_path({"b": [1, 2], "a": 3}) == [
        (("a",), 3),
        (("b", 0), 1),
        (("b", 1), 2),
    ]
    tree.assert_same_paths([0, 1], (2, 3))
    Point1 = collections.namedtuple("Point1", ["x", "y"])
    Point2 = collections.namedtuple("Point2", ["x", "y"])
    tree.assert_same_paths(Point1(0, 1), Point2(2, 3))
    with pytest.raises(ValueError, match="paths"):
        tree.assert_same_paths([0, 1], [0, 1, 2])


def test_assert_same_structure_examples():
    tree.assert_same_structure([(0, 1)], [(2, 3)])
    tree.assert_same_structure({"a": 1, "b": [2]}, collections.OrderedDict(b=[5], a=4))
    AlsoFoo = collections.namedtuple("Foo", ["a", "b"])
    with pytest.raises(ValueError):
        tree.assert_same_structure(Foo(0, 1), AlsoFoo(2, 3))
    with pytest.raises(ValueError):
        tree.assert_same_structure([0, 1], (0, 1))
    with pytest.raises(ValueError):
        tree.assert_same_structure([0, 1], [0, 1, 2])
    with pytest.raises(ValueError):
        tree.assert_same_structure({"a": 1}, {"b": 1})
    with pytest.raises(ValueError):
        tree.assert_same_structure([0, [1]], [0, 1])


def test_map_structure_examples():
    structure = [[1], [2], [3]]
    assert tree.map_structure(lambda v: v**2, structure) == [[1], [4], [9]]
    assert tree.map_structure(lambda x, y: x * y, structure, structure) == [[1], [4], [9]]
    assert tree.map_structure(lambda v: v * 2, Foo(a=1, b=2)) == Foo(a=2, b=4)
    assert tree.map_structure(lambda v: 0, [None, 1]) == [0, 0]
    assert tree.map_structure(lambda v: 0, [None, 1], none_is_leaf=False) == [None, 0]
    d = tree.map_structure(lambda v: v + 1, {"b": 1, "a": 2})
    assert d == {"b": 2, "a": 3} and list(d) == ["b", "a"]  # key order kept
    with pytest.raises(ValueError):
        tree.map_structure(lambda x, y: x, [1, 2], [1])
    with pytest.raises(TypeError):
        tree.map_structure(1, [1])
    with pytest.raises(TypeError):
        tree.map_structure(lambda v: v)


def test_map_structure_up_to_examples():
    structure = [[1, 1], [2, 2]]
    assert tree.map_structure_up_to([None, None], len, structure) == [2, 2]
    assert tree.map_structure_up_to([None, [None, None]], str, structure) == ["[1, 1]", ["2", "2"]]
    with pytest.raises(ValueError):
        tree.map_structure_up_to([None, [None, None]], str, [1, 2])


def test_pack_sequence_as_and_lists_to_tuples():
    s = {"b": [0, (0, 0)], "a": Foo(0, 0)}
    flat = list(range(5))
    packed = tree.pack_sequence_as(s, flat)
    assert packed == {"b": [2, (3, 4)], "a": Foo(0, 1)}
    assert tree.flatten(packed) == flat
    with pytest.raises(ValueError, match="leaves"):
        tree.pack_sequence_as(s, [1, 2])
    assert tree.lists_to_tuples([1, [2, {"a": [3]}]]) == (1, (2, {"a": (3,)}))


def test_traverse_examples():
    v = []
    out = tree.traverse(v.append, [(1, 2), [3], {"a": 4}], top_down=True)
    assert out == [(1, 2), [3], {"a": 4}]
    assert v == [[(1, 2), [3], {"a": 4}], (1, 2), 1, 2, [3], 3, {"a": 4}, 4]
    v = []
    out = tree.traverse(v.append, [(1, 2), [3], {"a": 4}], top_down=False)
    assert out == [(1, 2), [3], {"a": 4}]
    assert v == [1, 2, (1, 2), 3, [3], 4, {"a": 4}, [(1, 2), [3], {"a": 4}]]
    # a non-None result replaces the sub-tree; MAP_TO_NONE replaces it with None
    out = tree.traverse(lambda x: tree.MAP_TO_NONE if x == [3] else None, [(1, 2), [3]])
    assert out == [(1, 2), None]
    out = tree.traverse(lambda x: x * 10 if isinstance(x, int) else None, [1, (2,)], top_down=False)
    assert out == [10, (20,)]


def test_map_shape_structure():
    shapes = {"x": (None, 3), "y": [(2, 4), (5,)]}
    out = tree.map_shape_structure(lambda s: tuple(1 if d is None else d for d in s), shapes)
    assert out == {"x": (1, 3), "y": [(2, 4), (5,)]}


def test_unsortable_dict_keys_raise_type_error():
    with pytest.raises(TypeError, match="sorted"):
        tree.flatten({1: "a", "b": 2})


# ------------------------------------------------------------------------------ properties
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_structures = st.recursive(
    st.one_of(st.integers(), st.none(), st.text(max_size=3)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=4),
    ),
    max_leaves=20,
)


@given(_structures)
def test_flatten_pack_and_map_round_trip(s):
    flat = tree.flatten(s)
    assert tree.pack_sequence_as(s, flat) == s
    assert tree.map_structure(lambda v: v, s) == s
    tree.assert_same_structure(s, tree.map_structure(lambda v: 0, s))
    assert [leaf for _, leaf in tree.flatten_with_path(s)] == flat
    assert tree.traverse(lambda x: None, s) == s
    assert tree.flatten(tree.lists_to_tuples(s)) == flat
