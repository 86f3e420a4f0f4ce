"""CPM grouping against hand-computed merges on small matrices."""

import keras
import numpy as np
import pytest

from keras_hier import grouping


def softmax_model(num_features):
    return keras.Sequential([keras.Input((num_features,)), keras.layers.Softmax()])


def test_cpm_hand_computed():
    # Class 0: logits (0, 0) -> (0.5, 0.5) and (ln 3, 0) -> (0.75, 0.25): mean (0.625, 0.375). Class 1: (0, ln 4).
    x = np.array([[0.0, 0.0], [np.log(3), 0.0], [0.0, np.log(4)]], np.float32)
    batches = [(x[:2], np.array([0, 0])), (x[2:], np.array([1]))]
    cpm = grouping.confusion_probability_matrix(softmax_model(2), batches, 2)
    np.testing.assert_allclose(cpm, [[0.625, 0.375], [0.2, 0.8]], atol=1e-6)
    logits = keras.Sequential([keras.Input((2,)), keras.layers.Identity()])
    np.testing.assert_allclose(grouping.confusion_probability_matrix(logits, batches, 2, from_logits=True), cpm, atol=1e-6)


@pytest.mark.parametrize(
    "batches, message",
    [
        ([(np.zeros((2, 3), np.float32), np.array([0, 0]))], r"Class\(es\) \[1, 2\] have no images"),
        ([(np.zeros((1, 3), np.float32), np.array([3]))], "Label 3 is outside the class range 0..2"),
    ],
)
def test_cpm_errors(batches, message):
    with pytest.raises(ValueError, match=message):
        grouping.confusion_probability_matrix(softmax_model(3), batches, 3)
    with pytest.raises(ValueError, match="do not sum to 1"):
        identity = keras.Sequential([keras.Input((3,)), keras.layers.Identity()])
        grouping.confusion_probability_matrix(identity, [(np.ones((1, 3), np.float32), np.array([0]))], 3)


CPM4 = np.array(
    [
        [0.70, 0.20, 0.06, 0.04],
        [0.10, 0.80, 0.06, 0.04],
        [0.05, 0.05, 0.80, 0.10],
        [0.03, 0.02, 0.15, 0.80],
    ]
)


def test_group_classes_hand_computed():
    # Proximities: d(0,1) = 0.30, d(2,3) = 0.25, d(0,2) = 0.11, d(1,2) = 0.11, d(0,3) = 0.07, d(1,3) = 0.06.
    # Step 1 merges {0, 1} (0.30), step 2 merges {2, 3} (0.25); then d({2,3}, {0,1}) = (0.11+0.11+0.07+0.06)/4 = 0.0875.
    assert grouping.group_classes(CPM4, p_min=0.2, g_max=4) == [[0, 1], [2, 3]]
    # After {0,1} (appended last) and {2,3} (appended after it), the last merge joins [0,1] and [2,3] in list order.
    assert grouping.group_classes(CPM4, p_min=0.08, g_max=4) == [[0, 1, 2, 3]]
    assert grouping.group_classes(CPM4, p_min=0.0875, g_max=4) == [[0, 1], [2, 3]]  # strictly above p_min
    assert grouping.group_classes(CPM4, p_min=0.26, g_max=4) == [[2], [3], [0, 1]]  # merged groups go last
    assert grouping.group_classes(CPM4, p_min=0.0, g_max=1) == [[0], [1], [2], [3]]


def test_group_size_limit_and_ties():
    # g_max = 3: after {0,1} and {2,3}, no merge fits; with p_min 0.1, {0,1} then class 2 joins? d({0,1},2) = 0.11 > 0.1
    # but {2,3} (0.25) is merged first, and {0,1}+{2,3} has 4 > 3 classes.
    assert grouping.group_classes(CPM4, p_min=0.1, g_max=3) == [[0, 1], [2, 3]]
    tie = np.full((3, 3), 0.1) + np.eye(3) * 0.7  # every pair at 0.2: the first pair in list order merges
    assert grouping.group_classes(tie, p_min=0.15, g_max=2) == [[2], [0, 1]]
    with pytest.raises(ValueError, match="square"):
        grouping.group_classes(np.ones((2, 3)), 0.1, 2)


def test_hierarchy_from_confusion_one_and_two_levels():
    names = ["cat", "dog", "car", "truck"]
    h = grouping.hierarchy_from_confusion(CPM4, names, p_min=0.2, g_max=4)
    assert h.leaves == tuple(names) and h.children("root") == ("g1", "g2")
    assert h.children("g1") == ("cat", "dog") and h.name("g2") == "g2: car, truck"
    flat = grouping.hierarchy_from_confusion(CPM4, names, p_min=0.5, g_max=4)
    assert flat.children("root") == tuple(names) and flat.max_depth == 1
    # One group of everything adds no level: the classes stay under the root.
    one = grouping.hierarchy_from_confusion(CPM4, names, p_min=[0.08, 0.2], g_max=4, levels=2)
    assert one.children("root") == tuple(names)
    with pytest.raises(ValueError, match="`p_min` has 2 values for 3 levels"):
        grouping.hierarchy_from_confusion(CPM4, names, p_min=[0.1, 0.1], g_max=4, levels=3)
    with pytest.raises(ValueError, match="4 class names"):
        grouping.hierarchy_from_confusion(CPM4[:3, :3], names, 0.1, 4)


def test_recursive_grouping_builds_three_levels():
    # Six classes: {0,1,2} and {3,4,5} are confused with each other; inside, 0-1 and 3-4 most of all.
    cpm = np.full((6, 6), 0.002)
    for block in ((0, 1, 2), (3, 4, 5)):
        for a in block:
            for b in block:
                cpm[a, b] = 0.05
    cpm[0, 1] = cpm[1, 0] = cpm[3, 4] = cpm[4, 3] = 0.2
    np.fill_diagonal(cpm, 0)
    cpm[np.arange(6), np.arange(6)] = 1 - cpm.sum(axis=1)
    h = grouping.hierarchy_from_confusion(cpm, list("abcdef"), p_min=[0.05, 0.3], g_max=3, levels=2)
    assert h.children("root") == ("g1", "g2") and h.max_depth == 3
    assert set(h.children("g1")) == {"c", "g1.1"} and h.children("g1.1") == ("a", "b")
    assert h.labels_at_level(1).tolist() == [0, 0, 0, 1, 1, 1]
