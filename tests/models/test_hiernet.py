"""HierNet: tree construction, label order, routing, weight transfer, saving, export and errors."""

import os
import warnings

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


def diverse_routes(model, images, seed=1):
    """Random node classifiers centred on these images' features, so that their routes differ."""
    rng = np.random.default_rng(seed)
    for node in model.internal_nodes:
        dense = model.node_layer(node, "dense")
        pooled = keras.Model(model.inputs, model.node_layer(node, "pool").output).predict(images, verbose=0)
        kernel = rng.normal(0, 30, dense.kernel.shape)
        dense.kernel.assign(kernel)
        dense.bias.assign(-np.median(pooled @ kernel, axis=0))


def expected_routing(tree, nodes):
    """The router's output by hand: per image, the softmax of its last node over its class children."""
    expected = np.zeros((len(nodes[tree.root]), tree.num_classes))
    for i in range(len(expected)):
        _, last = manual_route(tree, nodes, i)
        for k, child in enumerate(tree.children(last)):
            if tree.is_leaf(child):
                expected[i, tree.label(child)] = nodes[last][i, k]
    return expected


# The router's code paths: TensorFlow's exact partitions (dynamic shapes), fixed chunks without and with XLA.
ROUTER_PATHS = {"partitions": ("auto", False), "chunks": (2, False), "chunks_xla": (5, True)}


# Every path on the deeper tree; the partitions also on TREE2, whose root has a class among its children.
@pytest.mark.parametrize("tree, splits, path",
                         [(TREE2, [2], "partitions")] + [(TREE3, [1, 2], path) for path in ROUTER_PATHS])
def test_routing_follows_the_argmax_route(backbone, images, tree, splits, path):
    model = HierNet.from_backbone(backbone, tree, split_points=splits, classifier_layers=1)
    diverse_routes(model, images)
    nodes = {k: np.asarray(v) for k, v in model.node_model()(images).items()}
    expected = expected_routing(tree, nodes)
    assert len(set(expected.argmax(1))) > 2
    chunk_size, xla = ROUTER_PATHS[path]
    router = model.routing_model(chunk_size=chunk_size)
    router.jit_compile = xla
    np.testing.assert_allclose(router.predict(images, verbose=0), expected, atol=1e-6)
    # Batches of one image, and a batch that leaves every other child of the root without an image.
    np.testing.assert_allclose(router.predict_on_batch(images[3:4]), expected[3:4], atol=1e-6)
    first = nodes[tree.root].argmax(1)
    same = first == first[0]
    assert 1 < same.sum() < len(images)
    np.testing.assert_allclose(router.predict_on_batch(images[same]), expected[same], atol=1e-6)
    assert np.asarray(router(images[:0])).shape == (0, 5)
    if not xla:  # an unknown batch size, as in a SavedModel's signature
        import tensorflow as tf

        served = tf.function(lambda x: router(x, training=False), input_signature=[tf.TensorSpec((None, *SHAPE))])
        np.testing.assert_allclose(served(images), expected, atol=1e-6)
        assert served(images[:0]).shape == (0, 5)


def test_router_chunk_size_is_checked(backbone):
    model = HierNet.from_backbone(backbone, TREE2, split_points=[2])
    for bad in (0, -1, 2.5, True, "32"):
        with pytest.raises(ValueError, match="chunk_size"):
            model.routing_model(chunk_size=bad)
    router = model.routing_model(chunk_size=None)
    router.jit_compile = True
    with pytest.raises(ValueError, match="only TensorFlow runs without XLA"):
        router(np.zeros((2, *SHAPE), "float32"))
    assert model.routing_model(chunk_size=7).get_config()["chunk_size"] == 7


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


def test_fit_save_load_and_export(backbone, images, tmp_path, run_served):
    model = HierNet.from_backbone(backbone, TREE3, split_points=[1, 2], classifier_layers=1)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(images, np.arange(12) % 5, batch_size=6, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "hiernet.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, HierNet) and again.hierarchy == TREE3
    np.testing.assert_allclose(again.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    routed = model.routing_model().predict(images, verbose=0)
    np.testing.assert_allclose(again.routing_model().predict(images, verbose=0), routed, atol=1e-6)
    export = tmp_path / "served"
    model.export(export, verbose=False)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]
    raw = np.round(images * 255).astype("uint8")  # the serving contract: uint8 images, divided by 255 inside
    np.save(tmp_path / "images.npy", raw)
    out = run_served(
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(export)!r})\n"
        f"x = np.load({str(tmp_path / 'images.npy')!r})\n"
        "empty = served.signatures['serving_default'](images=tf.zeros((0,) + x.shape[1:], tf.uint8))\n"
        "assert {k: tuple(v.shape) for k, v in empty.items()} == {'probabilities': (0, 5), 'routed_class': (0,), "
        "'routed_probabilities': (0, 5), 'top_k_indices': (0, 5), 'top_k_classes': (0, 5)}, empty\n"
        "out = served.signatures['serving_default'](images=tf.constant(x))\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, out['probabilities'].numpy())\n"
        f"np.save({str(tmp_path / 'c.npy')!r}, out['routed_class'].numpy())\n"
        f"np.save({str(tmp_path / 'n.npy')!r}, out['top_k_classes'].numpy().astype(str)[:, 0])\n"
        "print(sorted(out))\n"
    )
    assert "routed_class" in out and "probabilities" in out
    scaled = raw / np.float32(255)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(scaled, verbose=0), atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"),
                                  model.routing_model().predict(scaled, verbose=0).argmax(1))
    np.testing.assert_array_equal(np.load(tmp_path / "n.npy"),
                                  np.array(TREE3.leaves)[model.predict(scaled, verbose=0).argmax(1)])
    with pytest.raises(ValueError, match="takes uint8 `images`"):
        model.export(tmp_path / "other", input_signature=[keras.InputSpec(shape=(None, *SHAPE))])


def _keras_hub_classifier():
    import keras_hub

    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[2, 2], stackwise_num_strides=[1, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(32, 32, 3),
    )
    return keras_hub.models.ResNetImageClassifier(backbone, num_classes=4, dropout=0.1)


# name -> (backbone factory, split point, the feature layer: the last 4-D map, final activation included)
BACKBONES = {
    "resnet_cifar_relu": (lambda: resnet_cifar(1, 4, input_shape=(32, 32, 3), name="relu"), 2, "features"),
    "resnet_cifar_elu": (lambda: resnet_cifar(1, 4, activation="elu", input_shape=(32, 32, 3)), 2, "features"),
    "ResNet50": (lambda: keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=4),
                 "conv4_block6_out", "conv5_block3_out"),
    "EfficientNetB0": (lambda: keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=4),
                       "block5c_add", "top_activation"),
    "MobileNetV2": (lambda: keras.applications.MobileNetV2((32, 32, 3), alpha=0.35, weights=None, classes=4),
                    "block_5_add", "out_relu"),
    "keras_hub_ImageClassifier": (_keras_hub_classifier, "stack0_block1_out", "stack1_block1_out"),
}


@pytest.mark.parametrize("name", list(BACKBONES))
def test_routes_reproduce_the_backbone_features_and_classifier(name):
    make, split, feature_layer = BACKBONES[name]
    keras.utils.set_random_seed(0)
    backbone = make()
    tree = Hierarchy.from_nested({"root": {"g1": ["a", "c"], "g2": ["b", "d"]}}, leaves=list("abcd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the classifier rows must transfer without a warning
        model = HierNet.from_backbone(backbone, tree, split_points=[split])
    assert model.features == feature_layer
    inner = getattr(backbone, "backbone", backbone)  # keras-hub: the classifier's nested backbone
    features = keras.Model(inner.inputs[0], inner.get_layer(feature_layer).output)
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    trunk = model.node_layer("root", "edge")(x)
    kernel, bias = backbone.get_layer("logits" if name.startswith("resnet_cifar") else "predictions").get_weights()
    for node, labels in (("g1", [0, 2]), ("g2", [1, 3])):
        np.testing.assert_array_equal(model.node_layer(node, "edge")(trunk), features(x))
        dense = model.node_layer(node, "dense")
        np.testing.assert_array_equal(dense.kernel.numpy(), kernel[:, labels])
        np.testing.assert_array_equal(dense.bias.numpy(), bias[labels])


def test_keras_hub_classifier_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    tree = Hierarchy.from_nested({"root": {"g1": ["a", "c"], "g2": ["b", "d"]}}, leaves=list("abcd"))
    model = HierNet.from_backbone(_keras_hub_classifier(), tree, split_points=["stack0_block1_out"])
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "hub.keras")
    again = keras.saving.load_model(tmp_path / "hub.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_warns_when_the_classifier_rows_cannot_transfer(backbone):
    with pytest.warns(UserWarning, match="is not Flatten -> Dense"):
        HierNet.from_backbone(backbone, TREE2, split_points=[2], pooling="flatten")
    keras.utils.set_random_seed(0)
    vgg = keras.applications.VGG16(weights=None, input_shape=(32, 32, 1), classes=5)  # Flatten -> fc1 -> fc2 -> Dense
    with pytest.warns(UserWarning, match="start random"):
        model = HierNet.from_backbone(vgg, TREE2, split_points=["block4_pool"], pooling="flatten")
    assert model.features == "block5_pool"


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
        (TREE2, ["nope"], {}, "Split point 'nope': the backbone 'resnet8' has no layer 'nope'.*Valid split points of "
                              r"'resnet8' \(HierNet.split_candidates\): 'block1_out', 'block2_out'\.$"),
        (TREE2, [7], {}, "has no layer 'block7_out'"),
        (TREE2, [2, 3], {}, "needs 1 split point"),
        (TREE3, [2], {}, "needs 2 split point"),
        (TREE2, ["block2_conv1"], {}, "Split point 'block2_conv1': a skip connection or a concatenation crosses it "
                                      ".*Valid split points .*'block1_out', 'block2_out'"),
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


def test_a_nested_backbone_behind_other_layers_is_refused():
    inputs = keras.Input((32, 32, 3))
    net = keras.applications.MobileNetV2((32, 32, 3), alpha=0.35, weights=None, include_top=False)
    outputs = keras.layers.Dense(4, activation="softmax")(keras.layers.GlobalAveragePooling2D()(
        net(keras.layers.Rescaling(2.0)(inputs))))
    tree = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"]}})
    with pytest.raises(ValueError, match="inside the nested model .* pass `input_tensor=`"):
        HierNet.from_backbone(keras.Model(inputs, outputs), tree, split_points=["block_5_add"])


def test_a_subclassed_backbone_is_refused_by_name():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv, self.pool, self.dense = keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(), \
                keras.layers.Dense(5)

        def call(self, x):
            return self.dense(self.pool(self.conv(x)))

    net = Net()
    net(np.zeros((1, *SHAPE), "float32"))
    with pytest.raises(ValueError, match="must be a Functional.*got Net"):
        HierNet.from_backbone(net, TREE2, split_points=[1])


def test_one_router_per_chunk_size_kept_out_of_the_saved_file(backbone, images, tmp_path):
    # A new router per call traced a new predict function each time (TensorFlow's retracing warnings).
    model = HierNet.from_backbone(backbone, TREE2, split_points=[2])
    router = model.routing_model()
    assert model.routing_model() is router and model.routing_model(chunk_size=4) is not router
    routed = [router.predict(images[:n], verbose=0) for n in (3, 5, 7)]
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert len(again.weights) == len(model.weights)
    np.testing.assert_allclose(again.routing_model().predict(images[:7], verbose=0), routed[-1], atol=1e-6)
