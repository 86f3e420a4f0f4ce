"""Hierarchical precision, recall and F: hiclass's own examples pinned, equal to hiclass on random trees and DAGs
(internal-node predictions included), label sets, and the streaming metrics' exact sums, serialisation and
MirroredStrategy."""

import warnings

import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.metrics import HierarchicalF1, HierarchicalPrecision, HierarchicalRecall, hierarchical_precision_recall_f1
from tests.metrics.hierarchies import random_hierarchy

PRF = hierarchical_precision_recall_f1


def chains(*paths):
    """A tree whose root-to-leaf paths are `paths` (hiclass's examples write each sample as its path)."""
    parents = {}
    for path in paths:
        for parent, child in zip(("root", *path), path):
            parents[str(child)] = str(parent)
    return Hierarchy.from_parents(parents)


def test_hiclass_examples_pinned():
    # hiclass's f1 docstring: paths [0,1,2],[3,4,5] vs [0,1,2],[6,7,8] -> micro and macro f1 0.5.
    h = chains([0, 1, 2], [3, 4, 5], [6, 7, 8])
    assert PRF(["2", "5"], ["2", "8"], h) == (0.5, 0.5, 0.5)
    assert PRF(["2", "5"], ["2", "8"], h, average="macro") == (0.5, 0.5, 0.5)
    # test_precision_micro_2d_list: [[1,2,3,4],[1,2,5,6]] vs the two swapped -> 0.5; itself -> 1.
    h = chains([1, 2, 3, 4], [1, 2, 5, 6])
    assert PRF(["4", "6"], ["6", "4"], h)[0] == 0.5 and PRF(["4", "6"], ["4", "6"], h)[0] == 1.0
    # test_recall_macro_2d_list: true [1,2] twice (an internal node), predicted [1,5,6,7] and [1,2,3,4]
    # -> macro recall 0.75, and 0.375 with the roles swapped.
    h = chains([1, 2, 3, 4], [1, 5, 6, 7])
    assert PRF(["2", "2"], ["7", "4"], h, average="macro")[1] == 0.75
    assert PRF(["7", "4"], ["2", "2"], h, average="macro")[1] == 0.375
    # test_f1_micro_2d_list_zero_division: disjoint paths -> 0 (hiclass warns; here no warning, no NaN).
    h = chains([1, 2, 3, 4], [5, 6, 7, 8])
    assert PRF(["4", "8"], ["8", "4"], h) == (0.0, 0.0, 0.0)


def test_by_hand_with_labels_beta_and_label_sets():
    h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    # cat->dog: {animal, cat} vs {animal, dog}: 1 of 2 each way. car->car: 1 of 1.
    assert PRF([0, 2], [1, 2], h) == (2 / 3, 2 / 3, pytest.approx(2 / 3))
    assert PRF([0, 2], [1, 2], h, average="macro") == (0.75, 0.75, 0.75)
    # Predicting "animal" for cat: precision 1, recall 1/2; F2 weighs recall: 5 * 1 * 0.5 / (4 * 1 + 0.5) = 5/9.
    p, r, f2 = PRF(["cat"], ["animal"], h, beta=2.0)
    assert (p, r) == (1.0, 0.5) and f2 == pytest.approx(5 / 9)
    # Label sets: {cat, car} -> {animal, cat, car}; predicted {dog} -> {animal, dog}: 1 in common.
    assert PRF(np.array([[1, 0, 1]]), np.array([[0, 1, 0]]), h) == (0.5, 1 / 3, pytest.approx(0.4))
    assert PRF([["cat", "car"]], [["dog"]], h) == PRF(np.array([[1, 0, 1]]), np.array([[0, 1, 0]]), h)
    assert PRF([], [], h) == (0.0, 0.0, 0.0)
    assert PRF(["root"], ["cat"], h, average="macro") == (0.0, 0.0, 0.0)  # the root's set is empty


def test_errors():
    h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    with pytest.raises(ValueError, match=r"class labels in 0..2"):
        PRF([0, 3], [0, 1], h)
    with pytest.raises(ValueError, match="Unknown node 'cow'"):
        PRF(["cow"], ["cat"], h)
    with pytest.raises(ValueError, match="2 labels for 1 predictions"):
        PRF([0, 1], [0], h)
    with pytest.raises(ValueError, match="Unknown average"):
        PRF([0], [0], h, average="weighted")
    with pytest.raises(ValueError, match="beta"):
        HierarchicalF1(h, beta=0)


def hiclass_rows(h, nodes):
    """hiclass's input for `nodes`: per sample every root-to-node path without the root, padded with ""."""
    paths = [[list(p[1:]) for p in h.paths(n)] for n in nodes]
    width = max(len(p) for ps in paths for p in ps)
    count = max(len(ps) for ps in paths)
    return np.array([[p + [""] * (width - len(p)) for p in ps] + [[""] * width] * (count - len(ps)) for ps in paths])


@pytest.mark.parametrize("dag", [False, True])
def test_equal_to_hiclass_on_random_hierarchies(dag):
    metrics = pytest.importorskip("hiclass.metrics")
    worst = 0.0
    for seed in range(10):
        h = random_hierarchy(seed, nodes=18, dag=dag)
        rng = np.random.default_rng(seed)
        others = [n for n in h.nodes if n != h.root]
        truth = [h.leaves[i] for i in rng.integers(0, h.num_classes, 40)]
        predicted = [others[i] for i in rng.integers(0, len(others), 40)]  # internal nodes too
        for average in ("micro", "macro"):
            ours = PRF(truth, predicted, h, average=average)
            t, p = hiclass_rows(h, truth), hiclass_rows(h, predicted)
            if dag:  # hiclass's 3-d form: a sample's several paths, padded to one shape
                width = max(t.shape[-1], p.shape[-1])
                count = max(t.shape[1], p.shape[1])
                t, p = (np.pad(a, ((0, 0), (0, count - a.shape[1]), (0, width - a.shape[2])), constant_values="")
                        for a in (t, p))
            else:
                t, p = t[:, 0], p[:, 0]
                width = max(t.shape[-1], p.shape[-1])
                t, p = (np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values="") for a in (t, p))
            with warnings.catch_warnings():  # "F-score is ill-defined" where P = R = 0; it counts 0 there, as ours
                warnings.simplefilter("ignore")
                # (hiclass's zero_division=0.0 fails for average="macro": a falsy value drops the argument.)
                theirs = (metrics.precision(t, p, average), metrics.recall(t, p, average), metrics.f1(t, p, average))
            worst = max(worst, *np.abs(np.subtract(ours, theirs)))
    print(f"largest difference from hiclass ({'DAG' if dag else 'tree'}s): {worst:.1e}")
    assert worst < 1e-12


def test_streaming_sums_equal_the_function_across_uneven_batches():
    h = random_hierarchy(3, nodes=20)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, h.num_classes, 50)
    scores = rng.random((50, h.num_classes)).astype("float32")
    for average in ("micro", "macro"):
        expected = PRF(labels, scores.argmax(1), h, average=average, beta=0.5)
        metrics = [cls(h, average=average, beta=0.5) for cls in (HierarchicalPrecision, HierarchicalRecall,
                                                                  HierarchicalF1)]
        for m in metrics:
            for start, stop in ((0, 32), (32, 32), (32, 50)):  # an empty batch, then a short last one
                m.update_state(labels[start:stop], scores[start:stop])
        np.testing.assert_allclose([float(m.result()) for m in metrics], expected, rtol=1e-6, err_msg=average)
    m = metrics[-1]
    m.reset_state()
    assert float(m.result()) == 0.0
    again = HierarchicalF1.from_config(m.get_config())
    assert again.get_config() == m.get_config() and again.hierarchy == h


def test_streaming_label_sets():
    h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    m = HierarchicalF1(h, multilabel=True, threshold=0.5)
    m.update_state(np.array([[1, 0, 1]]), np.array([[0.2, 0.9, 0.4]]))  # {cat, car} vs {dog}: P 1/2, R 1/3
    assert float(m.result()) == pytest.approx(0.4)


def test_same_numbers_under_mirrored_strategy(run_mirrored):
    printed = run_mirrored(r"""
from keras_hier.distribute import get_strategy, split_cpu
split_cpu(2)
import keras, numpy as np, tensorflow as tf
from keras_hier import Hierarchy
from keras_hier.metrics import HierarchicalF1, HierarchicalDistanceAtK, MistakeSeverity
h = Hierarchy.from_nested({"root": {"A": {"a1": ["x", "y"], "z": None}, "B": ["u", "v"], "w": None}})
rng = np.random.default_rng(0)
x, y = rng.normal(size=(22, 4)).astype("float32"), rng.integers(0, 6, 22)

def evaluate():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(6, activation="softmax")(inputs))
    model.compile(loss="sparse_categorical_crossentropy", metrics=[
        HierarchicalF1(h), HierarchicalF1(h, average="macro", name="macro_f1"), MistakeSeverity(h),
        HierarchicalDistanceAtK(h, k=2)])
    return model.evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), verbose=0, return_dict=True)

single = evaluate()
with get_strategy("mirrored").scope():
    mirrored = evaluate()
print(get_strategy("mirrored").num_replicas_in_sync,
      all(abs(single[k] - mirrored[k]) < 1e-6 for k in single), sorted(single))
""")
    replicas, same, names = printed.strip().splitlines()[-1].split(" ", 2)
    assert replicas == "2" and same == "True", printed
    assert "mistake_severity" in names and "hierarchical_distance@2" in names
