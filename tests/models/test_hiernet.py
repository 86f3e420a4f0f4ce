"""HierNet: tree construction, label order, routing, weight transfer, saving, export and errors."""

import os

import keras
import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.backbones import resnet_cifar
from keras_hier.models import HierNet

SHAPE = (16, 16, 1)


@pytest.fixture(scope="module")
def backbone():
    keras.utils.set_random_seed(0)
    return resnet_cifar(1, 5, input_shape=SHAPE)  # 3 residual blocks


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((12, *SHAPE)).astype("float32")


# Depth 2, labels in the user's order (not the tree's), "e" a class directly under the root.
TREE2 = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"], "e": None}}, leaves=["d", "a", "e", "c", "b"])
# Depth 3, unbalanced: g1 -> {a, g11 -> {b, c}}, g2 -> {d, e}.
TREE3 = Hierarchy.from_nested({"root": {"g1": {"a": None, "g11": ["b", "c"]}, "g2": ["d", "e"]}})


def manual_products(hierarchy, node_probs):
    """Each class's probability as the product of its route's node probabilities (numpy reference)."""
    out = np.ones((len(next(iter(node_probs.values()))), hierarchy.num_classes))
    for label, leaf in enumerate(hierarchy.leaves):
        route = hierarchy.path(leaf)
        for parent, child in zip(route, route[1:]):
            out[:, label] *= node_probs[parent][:, hierarchy.children(parent).index(child)]
    return out


def manual_route(hierarchy, node_probs, i):
    node = hierarchy.root
    while True:
        child = hierarchy.children(node)[int(np.argmax(node_probs[node][i]))]
        if hierarchy.is_leaf(child):
            return hierarchy.label(child), node
        node = child


@pytest.mark.parametrize("tree, splits, extra", [(TREE2, [2], 1), (TREE3, [1, 2], 1), (TREE2, [1], 0)])
def test_slow_output_is_the_product_in_label_order(backbone, images, tree, splits, extra):
    model = HierNet.from_backbone(backbone, tree, split_points=splits, classifier_layers=extra)
    probs = model.predict(images, verbose=0)
    assert probs.shape == (12, 5) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    nodes = {k: np.asarray(v) for k, v in model.node_model()(images).items()}
    assert set(nodes) == {n for n in tree.nodes if not tree.is_leaf(n)}
    np.testing.assert_allclose(probs, manual_products(tree, nodes), atol=1e-6)


@pytest.mark.parametrize("tree, splits", [(TREE2, [2]), (TREE3, [1, 2])])
def test_routing_follows_the_argmax_route(backbone, images, tree, splits):
    model = HierNet.from_backbone(backbone, tree, split_points=splits, classifier_layers=1)
    # Make the routes differ between images: random classifier weights, centred on these images' features.
    rng = np.random.default_rng(1)
    for node in model.internal_nodes:
        dense = model.node_layer(node, "dense")
        pooled = keras.Model(model.inputs, model.node_layer(node, "pool").output).predict(images, verbose=0)
        kernel = rng.normal(0, 30, dense.kernel.shape)
        dense.kernel.assign(kernel)
        dense.bias.assign(-np.median(pooled @ kernel, axis=0))
    routed = model.routing_model().predict(images, verbose=0)
    nodes = {k: np.asarray(v) for k, v in model.node_model()(images).items()}
    routes = set()
    for i in range(len(images)):
        label, last = manual_route(tree, nodes, i)
        routes.add(label)
        assert routed[i].argmax() == label
        expected = np.zeros(5)
        for k, child in enumerate(tree.children(last)):
            if tree.is_leaf(child):
                expected[tree.label(child)] = nodes[last][i, k]
        np.testing.assert_allclose(routed[i], expected, atol=1e-6)
    assert len(routes) > 1
    assert model.routing_model()(images[:0]).shape == (0, 5)


def test_transfer_weights_reproduces_the_backbone(backbone, images):
    model = HierNet.from_backbone(backbone, TREE2, split_points=[2], classifier_layers=1)
    features = keras.Model(backbone.inputs[0], backbone.get_layer("features").output)
    trunk_end = keras.Model(backbone.inputs[0], backbone.get_layer("block2_out").output)
    trunk = model.node_layer("root", "edge")(images)
    np.testing.assert_allclose(trunk, trunk_end(images), atol=1e-5)
    for node in ("g1", "g2"):
        np.testing.assert_allclose(model.node_layer(node, "edge")(trunk), features(images), atol=1e-5)
    np.testing.assert_allclose(model.node_layer("root", "extra")(trunk), features(images), atol=1e-5)
    # Nodes over classes start as the backbone's softmax renormalised within their group.
    reference = backbone.predict(images, verbose=0)
    nodes = model.node_model()(images)
    for node in ("g1", "g2"):
        labels = [TREE2.label(c) for c in TREE2.children(node)]
        within = reference[:, labels] / reference[:, labels].sum(axis=1, keepdims=True)
        np.testing.assert_allclose(nodes[node], within, atol=1e-5)
    fresh = HierNet.from_backbone(backbone, TREE2, split_points=[2], transfer_weights=False)
    assert not np.allclose(fresh.node_layer("g1", "edge")(trunk), features(images), atol=1e-3)


def test_fit_save_load_and_export(backbone, images, tmp_path, run_python):
    model = HierNet.from_backbone(backbone, TREE3, split_points=[1, 2], classifier_layers=1)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(images, np.arange(12) % 5, batch_size=6, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "hiernet.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, HierNet) and again.hierarchy == TREE3
    np.testing.assert_allclose(again.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    np.testing.assert_allclose(
        again.routing_model().predict(images, verbose=0), model.routing_model().predict(images, verbose=0), atol=1e-6
    )
    export = tmp_path / "served"
    model.export(export, verbose=False)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]
    np.save(tmp_path / "images.npy", images)
    out = run_python(
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(export)!r})\n"
        f"x = np.load({str(tmp_path / 'images.npy')!r})\n"
        "out = served.signatures['serving_default'](image=tf.constant(x))\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, out['probabilities'].numpy())\n"
        f"np.save({str(tmp_path / 'c.npy')!r}, out['routed_class'].numpy())\n"
        "print(sorted(out))\n"
    )
    assert "routed_class" in out and "probabilities" in out
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(images, verbose=0), atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), model.routing_model().predict(images, verbose=0).argmax(1))


def test_keras_applications_backbone():
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=4)
    tree = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"]}})
    model = HierNet.from_backbone(backbone, tree, split_points=["block_5_add"], classifier_layers=["block_9_add"])
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert model.features == "out_relu"
    features = keras.Model(backbone.inputs[0], backbone.get_layer("out_relu").output)
    trunk = model.node_layer("root", "edge")(x)
    np.testing.assert_allclose(model.node_layer("g1", "edge")(trunk), features(x), atol=1e-4)


def test_mixed_precision_keeps_float32_probabilities(images):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        backbone = resnet_cifar(1, 5, input_shape=SHAPE)
        model = HierNet.from_backbone(backbone, TREE2, split_points=[2])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.node_layer("g1", "edge").compute_dtype == "float16"
    probs = model.predict(images, verbose=0)
    assert probs.dtype == np.float32 and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-3)


@pytest.mark.parametrize(
    "tree, splits, kwargs, message",
    [
        (TREE2, ["nope"], {}, "Split point 'nope': the backbone 'resnet8' has no layer 'nope'"),
        (TREE2, [7], {}, "has no layer 'block7_out'"),
        (TREE2, [2, 3], {}, "needs 1 split point"),
        (TREE3, [2], {}, "needs 2 split point"),
        (TREE2, ["block2_conv1"], {}, "skip connection crosses the split point"),
        (Hierarchy.from_nested({"r": {"g": ["a", "b"], "c": None}}), [2], {}, "3 classes but the backbone outputs 5"),
        (Hierarchy.from_parents({"g1": "r", "g2": "r", "a": "g1", "b": "g1", "c": "g2", "d": "g2", "e": ["g1", "g2"]}), [2], {}, "needs a tree"),
        (Hierarchy.from_parents({"g1": "r", "a": "g1", "b": "g1", "c": "g1", "d": "r", "e": "d"}, leaves=list("abcde"),
                                internal_classes=True), [2], {}, "class 'd' has children"),
        (TREE2, [2], {"classifier_layers": ["block3_out", "x"]}, "one `classifier_layers` name per split point"),
        (TREE2, [2], {"pooling": "max"}, "pooling"),
    ],
)
def test_errors(backbone, tree, splits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        HierNet.from_backbone(backbone, tree, split_points=splits, **kwargs)
