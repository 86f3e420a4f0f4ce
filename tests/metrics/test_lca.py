"""`lca_distance` on hand-counted trees and DAGs, and against the definitions on random ones."""

import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.metrics import lca_distance
from tests.metrics.hierarchies import brute_lca, random_hierarchy

# Classes x y z u w. Heights: leaves 0, a1 1, B 1, A 2, root 3.
TREE = Hierarchy.from_nested({"root": {"A": {"a1": ["x", "y"], "z": None}, "B": ["u"], "w": None}})


def test_tree_by_hand():
    height = np.array([[0, 1, 2, 3, 3], [1, 0, 2, 3, 3], [2, 2, 0, 3, 3], [3, 3, 3, 0, 3], [3, 3, 3, 3, 0]])
    path = np.array([[0, 2, 3, 5, 4], [2, 0, 3, 5, 4], [3, 3, 0, 4, 3], [5, 5, 4, 0, 3], [4, 4, 3, 3, 0]])
    np.testing.assert_array_equal(lca_distance(TREE), height)
    np.testing.assert_array_equal(lca_distance(TREE, kind="path"), path)
    assert lca_distance(TREE).dtype == np.float32
    assert np.array_equal(lca_distance(TREE.to_json()), height)  # the JSON form, as configs keep it


def test_dag_takes_the_lowest_common_ancestor():
    # c has parents p and q: it is close to both d (under p) and e (under q), which meet only at the root.
    dag = Hierarchy.from_parents({"c": ["p", "q"], "d": "p", "e": "q", "p": "r", "q": "r"})
    assert dag.leaves == ("c", "d", "e")
    np.testing.assert_array_equal(lca_distance(dag), [[0, 1, 1], [1, 0, 2], [1, 2, 0]])
    np.testing.assert_array_equal(lca_distance(dag, kind="path"), [[0, 2, 2], [2, 0, 4], [2, 4, 0]])


def test_internal_classes():
    # "dog" is a class with a child class: it is its own LCA with "puppy" (height 1), the root's with "cat".
    h = Hierarchy.from_parents({"dog": "animal", "puppy": "dog", "cat": "animal"}, leaves=["dog", "puppy", "cat"],
                               internal_classes=True)
    np.testing.assert_array_equal(lca_distance(h), [[0, 1, 2], [1, 0, 2], [2, 2, 0]])
    np.testing.assert_array_equal(lca_distance(h, kind="path"), [[0, 1, 2], [1, 0, 3], [2, 3, 0]])


@pytest.mark.parametrize("dag", [False, True])
def test_random_hierarchies_follow_the_definitions(dag):
    for seed in range(12):
        h = random_hierarchy(seed, nodes=16, dag=dag)
        for kind in ("height", "path"):
            np.testing.assert_array_equal(lca_distance(h, kind), brute_lca(h, kind), err_msg=f"{seed} {kind}")


def test_errors():
    with pytest.raises(ValueError, match="Unknown kind 'edges'"):
        lca_distance(TREE, kind="edges")
    with pytest.raises(ValueError, match="Hierarchy"):
        lca_distance({"root": ["a"]})
