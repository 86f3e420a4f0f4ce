"""NodeTables: classes first, levels from the canonical (shortest) path, chains of ancestors."""

import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.node_tables import NodeTables


def test_tree_tables():
    h = Hierarchy.from_nested({"root": {"A": {"a1": ["x", "y"], "z": None}, "w": None}})
    t = NodeTables(h)
    assert t.nodes == ("x", "y", "z", "w", "A", "a1") and t.num_classes == 4 and t.num_levels == 3
    assert t.level.tolist() == [2, 2, 1, 0, 0, 1]
    assert t.chain.tolist() == [[4, 5, 0], [4, 5, 1], [4, 2, -1], [3, -1, -1], [4, -1, -1], [4, 5, -1]]
    assert [layer.tolist() for layer in t.layers] == [[3, 4], [2, 5], [0, 1]]
    assert t.names() == ["x", "y", "z", "w", "A", "a1"]


def test_dag_uses_the_shortest_path():
    # "x" sits under both "deep" (level 1) and "A" (level 0): its chain is the shorter route through A.
    h = Hierarchy.from_parents({"A": None, "B": None, "deep": "B", "x": ["deep", "A"], "y": "A"}, root="root")
    t = NodeTables(h)
    x = t.index["x"]
    assert t.level[x] == 1
    assert [t.nodes[i] for i in t.chain[x] if i >= 0] == ["A", "x"]
    assert np.all(t.chain[np.arange(t.num_nodes), t.level] == np.arange(t.num_nodes))


def test_find_by_id_name_or_index():
    h = Hierarchy.from_parents({"n1": "n0", "n2": "n0"}, root="root", names={"n0": "animal", "n1": "cat", "n2": "dog"})
    t = NodeTables(h)
    assert [t.find("n2"), t.find("dog"), t.find(0), t.find("animal")] == [1, 1, 0, 2]
    for node, kwargs, message in (("cow", {}, "'cow' is not a node"), ("animal", {"classes_only": True}, "super-class"),
                                  (2, {"classes_only": True}, r"Class index 2 is outside 0..1"), (3, {}, "outside")):
        with pytest.raises(ValueError, match=message):
            t.find(node, **kwargs)


def test_internal_classes_come_first_with_their_own_level():
    h = Hierarchy.from_parents({"A": None, "dog": "A", "chihuahua": "dog", "cat": "A"}, root="root",
                               leaves=["chihuahua", "dog", "cat"], internal_classes=True)
    t = NodeTables(h)
    assert t.nodes == ("chihuahua", "dog", "cat", "A") and t.num_classes == 3
    assert t.level.tolist() == [2, 1, 1, 0]
    assert t.chain.tolist() == [[3, 1, 0], [3, 1, -1], [3, 2, -1], [3, -1, -1]]
