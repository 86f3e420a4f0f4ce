"""HierarchicalInfoNCE against a per-sample numpy reference written from the paper's description."""

import math

import keras
import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.losses import HierarchicalInfoNCE

TREE = Hierarchy.from_nested(
    {"root": {"A": {"a1": ["x", "y"], "z": None}, "B": {"b1": ["u", "v"], "b2": ["t"]}, "w": None}}
)
WEIGHTINGS = ["equal", "increasing", "decreasing", "nl_increasing", "nl_decreasing", "inverse_count", "adaptive"]


def reference(h, logits, labels, K, M, negatives="topk", weighting="equal", outer=True, inner=True, flat=False,
              excluded=()):
    nodes = list(h.leaves) + [n for n in h.nodes if n != h.root and not h.is_class(n)]
    col = {n: i for i, n in enumerate(nodes)}
    level = {n: h.depth(n) - 1 for n in nodes}
    L = max(level.values()) + 1
    count = [sum(1 for n in nodes if level[n] == lv) for lv in range(L)]
    raw = {
        "equal": lambda lv: 1.0, "increasing": lambda lv: lv + 1.0, "decreasing": lambda lv: float(L - lv),
        "nl_increasing": lambda lv: (lv + 1.0) ** 3, "nl_decreasing": lambda lv: float(L - lv) ** 3,
        "inverse_count": lambda lv: 1.0 / count[lv], "adaptive": lambda lv: math.exp(100.0 ** (1.0 / count[lv])),
    }[weighting]

    def normalised(items):
        r = np.array([raw(level[n]) for n in items])
        return r / r.sum()

    def chain(n):  # n first, then its ancestors up to level 0
        return list(h.path(n)[1:])[::-1]

    total = []
    for row, y in zip(logits, labels):
        cy = chain(h.leaves[y])
        anchors = cy[:1] if (flat or not outer) else cy[: max(1, math.ceil(K * len(cy)))]
        loss = 0.0
        for a, wo in zip(anchors, normalised(anchors)):
            ca = chain(a)
            inners = ca[:1] if (flat or not inner) else ca[: max(1, math.ceil(M * len(ca)))]
            for b, wi in zip(inners, normalised(inners)):
                if flat:
                    cands = list(h.leaves)
                elif negatives == "topk":
                    cands = [n for n in nodes if level[n] == max(level[b] - 1, 0)]
                elif negatives == "level":
                    cands = [n for n in nodes if level[n] == level[b]]
                elif negatives == "siblings":
                    cands = [n for n in nodes if h.path(n)[-2] == h.path(b)[-2]]  # siblings on canonical paths
                else:
                    cands = nodes
                negs = [c for c in cands if c not in ca and c not in excluded]
                z = np.array([row[col[a]]] + [row[col[c]] for c in negs])
                loss += wo * wi * (np.log(np.exp(z - z.max()).sum()) + z.max() - z[0])
        total.append(loss)
    return float(np.mean(total))


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 12)).astype("float32") * 3, np.arange(7) % 7


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("K, M", [(0.25, 0.5), (1.0, 1.0), (0.5, 0.0)])
def test_matches_reference_for_every_weighting(batch, weighting, K, M):
    logits, labels = batch
    loss = HierarchicalInfoNCE(TREE, outer_ratio=K, inner_ratio=M, weighting=weighting)
    assert float(loss(labels, logits)) == pytest.approx(reference(TREE, logits, labels, K, M, weighting=weighting), rel=1e-5)


@pytest.mark.parametrize("negatives", ["topk", "level", "siblings", "random"])
@pytest.mark.parametrize("outer, inner, flat", [(True, True, False), (False, True, False), (True, False, False),
                                                (True, True, True)])
def test_ablations_strategies_and_flat(batch, negatives, outer, inner, flat):
    logits, labels = batch
    kwargs = dict(negatives=negatives, outer_loss=outer, inner_loss=inner, flat=flat)
    loss = HierarchicalInfoNCE(TREE, outer_ratio=1.0, inner_ratio=1.0, weighting="increasing", **kwargs)
    want = reference(TREE, logits, labels, 1.0, 1.0, weighting="increasing", outer=outer, inner=inner, flat=flat,
                     negatives=negatives)
    assert float(loss(labels, logits)) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("negatives", ["topk", "level", "siblings"])
@pytest.mark.parametrize("weighting", ["equal", "inverse_count"])
def test_internal_classes_and_dag(negatives, weighting):
    # ImageNet-21K style: "dog" has images and children; "cat" sits under B and A (canonical path via B).
    h = Hierarchy.from_parents({"A": "root", "dog": "A", "chihuahua": "dog", "pug": "dog", "B": "root",
                                "cat": ["B", "A"], "car": "root"}, leaves=["dog", "chihuahua", "pug", "cat", "car"],
                               internal_classes=True)
    logits = np.random.default_rng(1).normal(size=(10, 7)).astype("float32") * 3
    labels = np.arange(10) % 5
    loss = HierarchicalInfoNCE(h, outer_ratio=1.0, inner_ratio=1.0, negatives=negatives, weighting=weighting)
    want = reference(h, logits, labels, 1.0, 1.0, negatives=negatives, weighting=weighting)
    assert float(loss(labels, logits)) == pytest.approx(want, rel=1e-5)


def test_excluded_nodes_are_never_negatives(batch):
    logits, labels = batch
    for flat in (False, True):
        loss = HierarchicalInfoNCE(TREE, outer_ratio=1.0, inner_ratio=1.0, weighting="equal", flat=flat,
                                   excluded=["y", "b2", 4])  # 4: "v"
        want = reference(TREE, logits, labels, 1.0, 1.0, flat=flat, excluded=("y", "b2", "v"))
        assert float(loss(labels, logits)) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="'q' is not a node"):
        HierarchicalInfoNCE(TREE, excluded=["q"])


def test_hand_computed_value():
    # Class x (chain w/o root: A, a1, x), K = M = 1, equal weights; all logits 0 except x = 1.
    logits = np.zeros((1, 12), np.float32)  # x y z u v t w, A B, a1 b1 b2
    logits[0, 0] = 1.0
    loss = HierarchicalInfoNCE(TREE, outer_ratio=1.0, inner_ratio=1.0, weighting="equal")
    # Anchor x: inner x (level-1 negatives z, b1, b2), a1 (level 0: B, w), A (level 0: B, w): weights 1/3 each.
    x_terms = (math.log(math.e + 3) - 1 + 2 * (math.log(math.e + 2) - 1)) / 3
    # Anchor a1 (logit 0): inner a1 (B, w), A (B, w): log 3 each. Anchor A: inner A (B, w): log 3.
    want = (x_terms + math.log(3) + math.log(3)) / 3
    assert float(loss(np.array([0]), logits)) == pytest.approx(want, rel=1e-6)


def test_sampling_caps_compare_sets_and_never_uses_the_chain():
    rng = np.random.default_rng(1)
    h = Hierarchy.from_parents({f"c{i}": f"g{i % 5}" for i in range(40)}, root="root")
    loss = HierarchicalInfoNCE(h, negatives="random", max_classes=4, weighting="equal", seed=0, reduction="none")
    labels = rng.integers(0, 40, 64)
    # All logits equal: every term is log(size of its compare set): the cap (4), less the draws that hit the
    # sample's own chain (the draw is shared by the batch, as the official one-class batches share it).
    values = np.asarray(loss(labels, np.zeros((64, 45), np.float32)))
    assert np.isclose(values[:, None], np.log([2, 3, 4])[None], atol=1e-5).any(axis=1).all()
    assert values.max() == pytest.approx(math.log(4))
    # The chain (class and ancestors) far above the rest: a chain node drawn as a negative would cost >= log 2.
    logits = np.zeros((64, 45), np.float32)
    for i, y in enumerate(labels):
        logits[i, [y, 40 + y % 5]] = 50.0
    assert values.shape == (64,) and float(np.max(loss(labels, logits))) < 1e-6


def test_empty_batch_mixed_precision_gradients_and_config():
    import tensorflow as tf

    loss = HierarchicalInfoNCE(TREE, weighting="adaptive")
    # An empty batch: no NaN (0 in a graph of unknown batch size, an empty per-sample vector eagerly).
    graph = tf.function(loss, input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 12], tf.float32)])
    assert float(graph(np.zeros((0,), np.int32), np.zeros((0, 12), np.float32))) == 0.0
    assert np.asarray(loss(np.zeros((0,), int), np.zeros((0, 12), np.float32))).size == 0
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        dense = keras.layers.Dense(12)
        x = tf.constant(np.random.default_rng(0).normal(size=(5, 3)), tf.float32)
        with tf.GradientTape() as tape:
            logits = dense(x) * 20.0
            value = loss(np.zeros(5, int), logits)
        assert logits.dtype == tf.float16 and value.dtype == tf.float32
        grads = tape.gradient(value, dense.trainable_variables + loss.trainable_variables)
        assert all(np.isfinite(np.asarray(g, np.float32)).all() for g in grads)
        assert np.abs(np.asarray(grads[-1])).sum() > 0  # the adaptive weights get a gradient
    finally:
        keras.mixed_precision.set_global_policy("float32")
    clone = HierarchicalInfoNCE.from_config(loss.get_config())
    logits = np.random.default_rng(2).normal(size=(4, 12)).astype("float32")
    assert float(clone(np.arange(4), logits)) == pytest.approx(float(loss(np.arange(4), logits)))
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss)).hierarchy == TREE


@pytest.mark.parametrize("kwargs, message", [({"weighting": "soft"}, "weighting"), ({"negatives": "near"}, "negatives"),
                                             ({"outer_ratio": 2}, "outer_ratio"), ({"max_classes": 1}, "max_classes")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HierarchicalInfoNCE(TREE, **kwargs)


def test_widths_and_labels_are_checked():
    import tensorflow as tf

    loss = HierarchicalInfoNCE(TREE, seed=0)
    width = loss.tables.num_nodes
    with pytest.raises(ValueError, match=rf"expected predictions \[batch, {width}\]"):
        loss(np.array([0, 1]), np.zeros((2, width + 1), "float32"))
    for label in (-1, TREE.num_classes):
        with pytest.raises(tf.errors.InvalidArgumentError, match=rf"labels must lie in 0..{TREE.num_classes - 1}"):
            loss(np.array([0, label]), np.zeros((2, width), "float32"))
