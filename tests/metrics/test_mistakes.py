"""Mistake severity, hierarchical distance@k and precision@k: by hand, against Making Better Mistakes' computation
written per sample, and the streaming metrics equal the functions on uneven batches (the reference dropped the last
batch and averaged batch means)."""

import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.metrics import (
    HierarchicalDistanceAtK,
    HierarchicalPrecisionAtK,
    MistakeSeverity,
    hierarchical_distance_at_k,
    hierarchical_precision_at_k,
    hierarchical_precision_recall_f1,
    lca_distance,
    mistake_severity,
)
from tests.metrics.hierarchies import random_hierarchy

# Classes x y z u w (heights: a1 1, A 2, B 1, root 3).
TREE = Hierarchy.from_nested({"root": {"A": {"a1": ["x", "y"], "z": None}, "B": ["u"], "w": None}})


def test_by_hand():
    scores = np.array([[0.1, 0.5, 0.2, 0.15, 0.05],   # x ranked y z u x w: top-1 y (1), top-2 y z (1, 2)
                       [0.1, 0.2, 0.6, 0.05, 0.05],   # z right (0), then y (2)
                       [0.5, 0.1, 0.1, 0.2, 0.1]])    # u ranked x (3), u (0)
    labels = [0, 2, 3]
    assert mistake_severity(labels, scores, TREE) == 2.0  # (1 + 3) / 2 over the two mistakes
    assert mistake_severity(labels, scores, TREE, kind="path") == (2 + 5) / 2
    assert hierarchical_distance_at_k(labels, scores, TREE, k=(1, 2)) == pytest.approx({1: 4 / 3, 2: (1.5 + 1 + 1.5) / 3})
    # Similarities 1 - d / 3; the best two for x: x (1) and y (2/3); found y, z: 2/3 + 1/3.
    # For z: best z (1) and x or y (1/3), found z, y: 1 + 1/3. For u: best u (1), then any (0), found x, u: 0 + 1.
    assert hierarchical_precision_at_k(labels, scores, TREE, k=2) == pytest.approx((1 + 4 / 3 + 1) / (5 / 3 + 4 / 3 + 1))
    assert mistake_severity([0], [[0.9, 0.1, 0.0, 0.0, 0.0]], TREE) == 0.0  # no mistake
    assert hierarchical_distance_at_k([], np.zeros((0, 5)), TREE, k=5) == 0.0


def reference(labels, scores, distance, ks):
    """Making Better Mistakes' run_xent.py computation, kept per sample over one batch holding every sample."""
    order = np.argsort(-scores, axis=1, kind="stable")
    top = distance[labels[:, None], order]  # topK_hdist
    mistakes = np.where(top[:, 0] != 0)[0]
    max_dist = distance.max()
    best = 1 - np.sort(distance, axis=1) / max_dist  # _make_best_hier_similarities
    sims = 1 - top / max_dist
    out = {}
    for k in ks:
        out[k] = {"severity": top[mistakes, 0].sum() / len(mistakes), "distance": top[:, :k].mean(),
                  "precision": sims[:, :k].sum() / best[labels][:, :k].sum()}
    return out


@pytest.mark.parametrize("dag", [False, True])
def test_equal_to_making_better_mistakes_on_random_hierarchies(dag):
    worst = 0.0
    for seed in range(8):
        h = random_hierarchy(seed, nodes=24, dag=dag)
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, h.num_classes, 60)
        scores = rng.random((60, h.num_classes))
        ks = (1, 2, 5)
        expected = reference(labels, scores, lca_distance(h).astype(np.float64), ks)
        distance = hierarchical_distance_at_k(labels, scores, h, k=ks)
        precision = hierarchical_precision_at_k(labels, scores, h, k=ks)
        for k in ks:
            worst = max(worst, abs(distance[k] - expected[k]["distance"]), abs(precision[k] - expected[k]["precision"]))
        worst = max(worst, abs(mistake_severity(labels, scores, h) - expected[1]["severity"]))
    print(f"largest difference from the reference's formulas: {worst:.1e}")
    assert worst < 1e-6


def test_a_distance_matrix_for_a_subset_of_classes():
    # Zero-shot: the candidates' distances in the whole tree, scores over the candidates only.
    candidates = [1, 2, 3]  # y z u
    sub = lca_distance(TREE)[np.ix_(candidates, candidates)]
    assert mistake_severity([0, 1], [[0.1, 0.9, 0.0], [0.0, 0.0, 1.0]], sub) == (2 + 3) / 2
    with pytest.raises(ValueError, match="square"):
        mistake_severity([0], [[1.0, 0.0]], np.zeros((2, 3)))


def test_streaming_equals_the_functions_across_uneven_batches():
    h = random_hierarchy(5, nodes=24, dag=True)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, h.num_classes, 45)
    scores = rng.random((45, h.num_classes)).astype("float32")
    metrics = {"severity": MistakeSeverity(h), "distance": HierarchicalDistanceAtK(h, k=3),
               "precision": HierarchicalPrecisionAtK(h, k=3), "path": MistakeSeverity(h, kind="path")}
    for m in metrics.values():
        for start, stop in ((0, 16), (16, 16), (16, 32), (32, 45)):  # an empty batch and a short last batch
            m.update_state(labels[start:stop], scores[start:stop])
    assert float(metrics["severity"].result()) == pytest.approx(mistake_severity(labels, scores, h), rel=1e-6)
    assert float(metrics["path"].result()) == pytest.approx(mistake_severity(labels, scores, h, kind="path"), rel=1e-6)
    assert float(metrics["distance"].result()) == pytest.approx(hierarchical_distance_at_k(labels, scores, h, k=3),
                                                                rel=1e-6)
    assert float(metrics["precision"].result()) == pytest.approx(hierarchical_precision_at_k(labels, scores, h, k=3),
                                                                 rel=1e-6)
    for m in metrics.values():
        again = type(m).from_config(m.get_config())
        assert again.get_config() == m.get_config()
        m.reset_state()
        assert float(m.result()) == 0.0


def test_errors():
    with pytest.raises(ValueError, match=r"Labels must be in 0..4"):
        mistake_severity([5], np.ones((1, 5)), TREE)
    with pytest.raises(ValueError, match=r"scores \[1, 5\]"):
        mistake_severity([0], np.ones((1, 4)), TREE)
    with pytest.raises(ValueError, match="NaN"):
        hierarchical_distance_at_k([0], [[np.nan] * 5], TREE)
    with pytest.raises(ValueError, match="k must be positive"):
        HierarchicalDistanceAtK(TREE, k=0)
    with pytest.raises(ValueError, match="Unknown kind"):
        MistakeSeverity(TREE, kind="edges")


def test_summary_over_zero_shot_candidates():
    from keras_hier.metrics import hierarchical_summary

    # Candidates y, z, u (labels 1, 2, 3); scores over them only. y->z (2), z->z, u->y (3).
    scores = np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.6, 0.1, 0.3]])
    row = hierarchical_summary([1, 2, 3], TREE, y_score=scores, candidates=[1, 2, 3], k=2)
    assert row["accuracy"] == pytest.approx(1 / 3) and row["mistake_severity"] == 2.5
    # distance@2 among the candidates: y: z, y -> (2 + 0) / 2; z: z, y -> 1; u: y, u -> 1.5.
    assert row["hierarchical_distance@2"] == pytest.approx((1 + 1 + 1.5) / 3)
    assert row["hierarchical_f1"] == hierarchical_precision_recall_f1([1, 2, 3], [2, 2, 1], TREE)[2]
    with pytest.raises(ValueError, match="not among the candidates"):
        hierarchical_summary([0], TREE, y_score=scores[:1], candidates=[1, 2, 3])
