"""tree_accuracies against accuracies counted by hand from the node probabilities."""

import keras
import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.backbones import resnet_cifar
from keras_hier.metrics import tree_accuracies
from keras_hier.metrics.hierarchical import routed_classes
from keras_hier.models import HierNet


def test_tree_accuracies_hand_counted():
    keras.utils.set_random_seed(3)
    tree = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"]}})
    model = HierNet.from_backbone(resnet_cifar(1, 4, input_shape=(8, 8, 1)), tree, split_points=[2])
    images = np.random.default_rng(0).random((10, 8, 8, 1)).astype("float32")
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 2])
    batches = [(images[:6], labels[:6]), (images[6:], labels[6:])]
    result = tree_accuracies(model, batches)
    nodes = {k: np.asarray(v) for k, v in model.node_model()(images).items()}
    slow = model.predict(images, verbose=0).argmax(1)
    group = nodes["root"].argmax(1)
    within = np.where(group == 0, nodes["g1"].argmax(1), 2 + nodes["g2"].argmax(1))
    assert result["count"] == 10
    assert result["conditional_accuracy"] == pytest.approx(np.mean(slow == labels))
    assert result["routing_accuracy"] == pytest.approx(np.mean(within == labels))
    assert result["node_accuracy"]["root"] == pytest.approx(np.mean(group == labels // 2))
    in_g1 = labels < 2
    assert result["node_accuracy"]["g1"] == pytest.approx(np.mean(nodes["g1"].argmax(1)[in_g1] == labels[in_g1]))
    assert result["node_support"] == {"root": 10, "g1": 5, "g2": 5}
    with pytest.raises(ValueError, match="Labels must be in 0..3"):
        tree_accuracies(model, [(images[:1], np.array([4]))])


def test_routed_classes_match_the_routing_model_on_a_depth_3_tree():
    keras.utils.set_random_seed(5)
    tree = Hierarchy.from_nested({"root": {"g1": {"h1": ["a", "b"], "c": None}, "g2": ["d", "e"], "f": None}})
    model = HierNet.from_backbone(resnet_cifar(1, 6, input_shape=(8, 8, 1)), tree, split_points=[1, 2])
    images = np.random.default_rng(1).random((32, 8, 8, 1)).astype("float32")
    nodes = {k: np.asarray(v) for k, v in model.node_model()(images).items()}
    routed = routed_classes(tree, nodes, len(images))
    np.testing.assert_array_equal(routed, np.asarray(model.routing_model()(images)).argmax(1))
    # By hand: root -> f (label 5) directly; root -> g1 -> c (label 2).
    hand = {"root": np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]), "g1": np.array([[0.5, 0.5], [0.3, 0.7]]),
            "g2": np.ones((2, 2)) / 2, "h1": np.ones((2, 2)) / 2}
    assert routed_classes(tree, hand, 2).tolist() == [5, 2]
