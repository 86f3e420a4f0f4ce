"""Full-path accuracy and inconsistent paths on a hand-checked tree, and the level marginals' argmax."""

import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.metrics import full_path_accuracy, inconsistent_path_ratio, level_predictions

# Levels: 1 = (A, B, w), 2 = (a1, z, u, w), 3 = (x, y, z, u, w): z, u and w stand for themselves further down.
TREE = Hierarchy.from_nested({"root": {"A": {"a1": ["x", "y"], "z": None}, "B": ["u"], "w": None}})


def test_by_hand():
    assert TREE.level(1) == ("A", "B", "w") and TREE.level(2) == ("a1", "z", "u", "w")
    # x predicted A, a1, x: right and a path. y predicted A, a1, x: a path, wrong at the leaf.
    # u predicted A, u, u: u is not under A (inconsistent), wrong at level 1. w predicted w, w, w: right.
    levels = [[0, 0, 0, 2], [0, 0, 2, 3], [0, 0, 3, 4]]
    labels = [0, 1, 3, 4]
    assert full_path_accuracy(labels, levels, TREE) == 0.5
    assert inconsistent_path_ratio(levels, TREE) == 0.25
    assert full_path_accuracy([], [[], [], []], TREE) == 0.0 and inconsistent_path_ratio([[], [], []], TREE) == 0.0


def test_level_marginals():
    # A holds x, y, z: 0.45; B 0.35; w 0.2. Under A the best level-2 node is z (0.25 vs a1's 0.2)... but u (0.35)
    # beats them at level 2 across parents: the marginals' argmax gives A, then u: an inconsistent path.
    probabilities = np.array([[0.1, 0.1, 0.25, 0.35, 0.2]])
    levels = level_predictions(probabilities, TREE)
    assert [p.tolist() for p in levels] == [[0], [2], [3]]
    assert inconsistent_path_ratio(levels, TREE) == 1.0
    assert full_path_accuracy([3], levels, TREE) == 0.0


def test_errors():
    with pytest.raises(ValueError, match="one prediction per level 1..3"):
        full_path_accuracy([0], [[0], [0]], TREE)
    with pytest.raises(ValueError, match=r"Level 2 predictions must be in 0..3"):
        inconsistent_path_ratio([[0], [4], [0]], TREE)
    with pytest.raises(ValueError, match=r"probabilities \[n, 5\]"):
        level_predictions(np.ones((1, 4)), TREE)
