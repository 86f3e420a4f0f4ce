"""Hit@k, TOR and POR on a 3-level toy tree, against values counted by hand."""

import keras
import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.metrics import (
    HitAtK,
    PointOverlapRatio,
    TopOverlapRatio,
    hit_at_k,
    point_overlap_ratio,
    top_overlap_ratio,
)

# Node columns: x y z u v t w | A B | a1 b1 b2 (classes first, then super-classes by depth).
TREE = Hierarchy.from_nested(
    {"root": {"A": {"a1": ["x", "y"], "z": None}, "B": {"b1": ["u", "v"], "b2": ["t"]}, "w": None}}
)
COL = {n: i for i, n in enumerate("x y z u v t w A B a1 b1 b2".split())}


def scores(*rows):
    out = np.zeros((len(rows), 12), np.float32)
    for i, row in enumerate(rows):
        for name, value in row.items():
            out[i, COL[name]] = value
    return out


# x: best overall a1 (its parent: TOR hit); per level A right, a1 right, y wrong -> POR 2/3.
# u: best overall v (a sibling: TOR miss); per level B right, b2 wrong, v wrong -> POR 1/3.
# w: best overall w; its one level right -> POR 1.
LOGITS = scores(
    {"a1": 5, "A": 4, "y": 3, "x": 2},
    {"v": 5, "B": 4, "b2": 3, "b1": 2, "u": 1},
    {"w": 5},
)
LABELS = np.array([COL["x"], COL["u"], COL["w"]])


def test_tor_and_por_by_hand():
    assert top_overlap_ratio(LOGITS, LABELS, TREE) == pytest.approx(2 / 3)
    assert point_overlap_ratio(LOGITS, LABELS, TREE) == pytest.approx((2 / 3 + 1 / 3 + 1) / 3)


def test_hit_at_k_ranks_candidates_only():
    unseen = ["y", "z", "t"]
    logits = scores({"x": 9, "z": 3, "y": 2, "t": 1}, {"t": 3, "a1": 9, "y": 1})  # seen x and node a1 do not count
    labels = [COL["y"], COL["t"]]
    assert hit_at_k(logits, labels, TREE, k=(1, 2, 5), candidates=unseen) == {1: 0.5, 2: 1.0, 5: 1.0}
    assert hit_at_k(logits, labels, TREE, k=1, candidates=[COL[n] for n in unseen]) == 0.5
    named = Hierarchy.from_parents({"n1": "n0", "n2": "n0"}, root="r", names={"n1": "cat", "n2": "dog"})
    assert hit_at_k(np.array([[0.2, 0.9, 0.0]]), [1], named, k=1, candidates=["cat", "dog"]) == 1.0  # by name
    with pytest.raises(ValueError, match="super-class"):
        hit_at_k(logits, labels, TREE, candidates=["y", "A"])
    with pytest.raises(ValueError, match="not among the candidates"):
        hit_at_k(logits, [COL["x"]] * 2, TREE, k=1, candidates=unseen)
    with pytest.raises(ValueError, match=r"logits \[batch, 12\]"):
        hit_at_k(logits[:, :7], labels, TREE, candidates=unseen)
    with pytest.raises(ValueError, match="Label 7 is outside the class range 0..6"):
        top_overlap_ratio(logits, [0, 7], TREE)
    with pytest.raises(ValueError, match="3 labels for 2 rows"):
        point_overlap_ratio(logits, [0, 1, 2], TREE)


def test_keras_metrics_accumulate_and_round_trip():
    metrics = [TopOverlapRatio(TREE), PointOverlapRatio(TREE), HitAtK(TREE, k=1, candidates=["x", "u", "w"])]
    for m in metrics:
        m.update_state(LABELS[:2], LOGITS[:2])
        m.update_state(LABELS[2:], LOGITS[2:])
    assert [round(float(m.result()), 6) for m in metrics] == [round(2 / 3, 6), round(2 / 3, 6), 1.0]
    assert [m.name for m in metrics] == ["tor", "por", "hit@1"]
    for m in metrics:
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(m))
        clone.update_state(LABELS, LOGITS)
        assert float(clone.result()) == pytest.approx(float(m.result()))
