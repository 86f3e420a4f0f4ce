"""MultiLabelZeroShot: every variant fits on a toy graph with the seen-label loss, the backbone stays frozen, PosVAE and
RGCN-XL add their losses, float32 logits, save / load, export, errors."""

import keras
import numpy as np
import pytest

from keras_hier.knowledge import ClassGraph
from keras_hier.losses import MaskedBinaryCrossentropy, PairwiseRankingLoss
from keras_hier.models import MultiLabelZeroShot
from keras_hier.models.multilabel_zsl import VARIANTS

NAMES = ["dog", "cat", "car", "sandal", "wolf", "sneaker", "truck"]
SYNSETS = ["dog.n.01", "cat.n.01", "car.n.01", "sandal.n.01", "wolf.n.01", "sneaker.n.01", "truck.n.01"]
KINDS = ["seen", "seen", "seen", "unseen", "external", "external", "external"]


@pytest.fixture(scope="module")
def graph():
    return ClassGraph(NAMES, SYNSETS, KINDS, np.random.default_rng(0).normal(size=(7, 6)).astype("float32"))


def make_backbone(num_probabilities=3):
    keras.utils.set_random_seed(0)
    images = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(images)
    features = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(images, [features, keras.layers.Dense(num_probabilities, activation="softmax")(features)])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return rng.random((16, 12, 12, 1)).astype("float32"), (rng.random((16, 4)) < 0.4).astype("float32")


def build(graph, variant, **kwargs):
    model = MultiLabelZeroShot(make_backbone(), graph, variant=variant, hidden_units=8, graph_units=(8, 8),
                               edge_hidden=4, output_hidden=4, seed=0, **kwargs)
    ranking = variant in ("fast0tag", "skg")
    loss = PairwiseRankingLoss(columns=model.seen, seed=0) if ranking else MaskedBinaryCrossentropy(model.seen)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    return model


@pytest.fixture(scope="module")
def fitted(graph, data):
    """`fitted(variant)`: `(model, loss history, backbone weights before)` after 3 epochs, trained once per module."""
    cache = {}

    def get(variant):
        if variant not in cache:
            x, y = data
            model = build(graph, variant)
            frozen = [np.asarray(w).copy() for w in model.backbone.weights]
            cache[variant] = model, model.fit(x, y, batch_size=8, epochs=3, verbose=0).history["loss"], frozen
        return cache[variant]

    return get


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_fits_and_keeps_the_backbone_frozen(graph, data, fitted, variant):
    x, y = data
    model, history, frozen = fitted(variant)
    assert np.isfinite(history).all() and history[-1] < history[0]
    for before, after in zip(frozen, model.backbone.weights):
        np.testing.assert_array_equal(before, np.asarray(after))
    logits = model.predict(x, verbose=0)
    assert logits.shape == (16, 4) and logits.dtype == np.float32 and np.isfinite(logits).all()
    assert model.seen.tolist() == [0, 1, 2] and model.unseen.tolist() == [3]
    extra = {"rgcn_posvae": 1, "rgcn_xl": 1}.get(variant, 0)
    model(x[:2], training=True)
    assert len(model.losses) == extra  # the PosVAE or the probability-matching loss


def test_graph_sizes_per_variant(graph):
    assert build(graph, "rgcn").get_layer("graph_conv_0").num_nodes == 4  # targets only
    assert build(graph, "rgcn_posvae").get_layer("graph_conv_0").num_nodes == 7
    assert build(graph, "rgcn_posvae", messages_into_external=False).get_layer("adjacency").messages_into_external is False
    # The node-state MLP runs on the targets only where PosVAE states the external classes; on all of RGCN-XL's.
    assert build(graph, "rgcn_posvae").get_layer("repeat_features").n == 4
    assert build(graph, "rgcn_xl").get_layer("repeat_features").n == 7


def test_mlps_as_the_reference(graph):
    # `models/mlp.py`: F_in and F_out end in a Linear with no activation, LeakyReLU(0.1) after each hidden layer.
    model = build(graph, "rgcn_posvae")
    names = [layer.name for layer in model.layers]
    assert "node_states" not in names  # no activation after the node-state MLP's output
    assert model.get_layer("output_hidden_activation").negative_slope == pytest.approx(0.1)
    assert model.get_layer("output_hidden").activation is keras.activations.linear
    # The node-state MLP's last Dense feeds the graph directly (joined with PosVAE's states).
    assert model.get_layer("all_states").input[0] is model.get_layer("node_state_1").output


def edge_mlp_weights(model):
    return [w for w in model.weights if w.name.startswith("edge_")]


@pytest.mark.parametrize("variant", ["rgcn", "rgcn_posvae"])
def test_graph_layers_share_one_adjacency(graph, data, variant):
    """The paper's Eq. 7: one learnt Ŵ; both convolutions propagate over the same Â."""
    x, _ = data
    model = build(graph, variant)
    assert len(edge_mlp_weights(model)) == 5  # one edge MLP: receiver, sender, hidden bias, out, out bias
    adjacency = model.get_layer("adjacency")
    assert adjacency.activation is keras.activations.leaky_relu and adjacency.negative_slope == 0.1
    seen = {}
    for i in range(2):
        conv = model.get_layer(f"graph_conv_{i}")
        assert not conv.learn_edges and conv.adjacency is None
        node = conv._inbound_nodes[0]
        seen[i] = node.arguments.args[1]  # the edge weights each convolution is called with
    assert seen[0] is seen[1] is adjacency.output
    per_layer = build(graph, variant, shared_edges=False)
    assert len(edge_mlp_weights(per_layer)) == 10


def test_visual_semantic_scores_the_projected_feature_by_class_embeddings(graph, data):
    """Akata et al.'s baseline as the paper's §4.1: logit_y = <W f, s_y>."""
    x, _ = data
    model = build(graph, "visual_semantic")
    features = np.asarray(model.backbone(x)[0])
    w = np.asarray(model.get_layer("to_semantic").kernel)
    expected = (features @ w) @ graph.features[:4].T
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-4, atol=1e-5)


def test_external_columns_are_renormalised(graph, data):
    x, _ = data
    model = MultiLabelZeroShot(make_backbone(5), graph, hidden_units=8, graph_units=(8,), edge_hidden=4,
                               external_columns=[4, 0, 2])
    probs = np.asarray(make_backbone(5)(x)[1])
    kept = model.get_layer("external_probabilities")(probs)
    np.testing.assert_allclose(np.asarray(kept), probs[:, [4, 0, 2]] / probs[:, [4, 0, 2]].sum(1, keepdims=True), rtol=1e-5)


def test_mixed_precision_logits_are_float32(graph, data):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build(graph, "rgcn_posvae")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x, y = data
    assert np.isfinite(model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"]).all()
    assert model(x).dtype == "float32"


@pytest.mark.parametrize("variant", ["rgcn_posvae", "rgcn_xl", "skg"])
def test_save_load_and_export(graph, data, fitted, variant, tmp_path, serve_fresh):
    x, y = data
    model, _, _ = fitted(variant)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert again.graph.names == graph.names and again.variant == variant
    model.export(str(tmp_path / "served"), verbose=False)
    raw = np.round(x * 255).astype("uint8")  # the serving contract: uint8 images, divided by 255 inside
    served = serve_fresh(tmp_path / "served", raw)
    logits = model.predict(raw / np.float32(255), verbose=0)
    np.testing.assert_allclose(served["probabilities"], 1 / (1 + np.exp(-logits)), atol=1e-5)
    assert served["top_k_classes"][0, 0] == graph.names[int(logits[0].argmax())]


def test_errors(graph):
    targets_only = graph.subgraph([0, 1, 2, 3])
    for kwargs, message in (
        ({"variant": "gcn"}, "Unknown variant"),
        ({"graph": targets_only}, "needs external classes"),
        ({"backbone": make_backbone(5)}, "pass `external_columns`"),
        ({"backbone": make_backbone(5), "external_columns": [0, 1]}, "must pick 3"),
        ({"graph": "graph.json"}, "ClassGraph"),
        ({"posvae_inference": "mode"}, "posvae_inference"),
    ):
        with pytest.raises(ValueError, match=message):
            MultiLabelZeroShot(**{"backbone": make_backbone(), "graph": graph, **kwargs})
    two = make_backbone()
    single = keras.Model(two.inputs, two.outputs[0])
    with pytest.raises(ValueError, match=r"\[features, probabilities\]"):
        MultiLabelZeroShot(single, graph)


def test_skg_loads_without_wordnet(graph, data, tmp_path, monkeypatch):
    """SKG's typed WordNet relations travel in the saved config: loading needs no WordNet."""
    from keras_hier.knowledge import wordnet

    x, _ = data
    model = build(graph, "skg", skg_state_dim=3, skg_steps=2)
    layer = model.get_layer("skg_propagation")
    assert layer.num_nodes == 4 and layer.steps == 2 and layer.num_edges == len(graph.subgraph([0, 1, 2, 3]).relations())
    model.save(tmp_path / "skg.keras")

    def no_wordnet(*args, **kwargs):
        raise AssertionError("WordNet was read while loading")

    monkeypatch.setattr(wordnet, "synset_from_wnid", no_wordnet)
    again = keras.saving.load_model(tmp_path / "skg.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("variant", ["rgcn_posvae", "fast0tag"])
def test_training_on_precomputed_backbone_outputs_equals_training_on_images(graph, data, variant):
    """The frozen backbone's outputs computed once: the same steps, weights and logits as on the images (variants
    without dropout, whose masks would differ: SKG's layers draw their seeds when built)."""
    from keras_hier.models.multilabel_zsl import backbone_outputs, precomputed_backbone

    x, y = data
    backbone = make_backbone()
    rows = backbone_outputs(backbone, x)
    features, probabilities = backbone.predict(x, verbose=0)
    np.testing.assert_array_equal(rows, np.concatenate([features, probabilities], 1))  # features, then probabilities
    settings = dict(variant=variant, hidden_units=8, graph_units=(8, 8), edge_hidden=4, output_hidden=4, seed=0)
    keras.utils.set_random_seed(0)
    on_rows = MultiLabelZeroShot(precomputed_backbone(backbone), graph, **settings)
    on_images = on_rows.with_backbone(backbone)  # the same settings and initial weights, on the images
    assert on_images.backbone is backbone and on_images.inputs[0].shape[1:] == (12, 12, 1)
    trained = []
    for model, inputs in ((on_rows, rows), (on_images, x)):
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MaskedBinaryCrossentropy(model.seen))
        model.fit(inputs, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        trained.append([np.asarray(w) for layer in model.layers[2:] for w in layer.weights])
    for a, b in zip(*trained):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(on_images.with_backbone(backbone).predict(x, verbose=0),
                               on_rows.predict(rows, verbose=0), rtol=1e-5, atol=1e-5)
    if variant == "rgcn_posvae":
        with pytest.raises(ValueError, match="2 probabilities but the graph has 3 external"):
            on_rows.with_backbone(make_backbone(num_probabilities=2))


def test_backbone_outputs_traces_the_backbone_once_and_does_not_keep_it():
    import gc
    import weakref

    from keras_hier.models.multilabel_zsl import backbone_outputs

    traced = []
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Lambda(lambda t: traced.append(1) or t)(inputs)  # runs when the backbone is traced
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3)(x))
    backbone = keras.Model(inputs, [features, keras.layers.Dense(2, activation="softmax")(features)])
    rng = np.random.default_rng(0)
    splits = [rng.random((n, 8, 8, 1)).astype("float32") for n in (5, 3, 7)]  # batch_size 2: last batches of 1
    traced.clear()
    rows = [backbone_outputs(backbone, images, batch_size=2) for images in splits]
    assert len(traced) == 1
    for images, got in zip(splits, rows):
        np.testing.assert_allclose(got, np.concatenate([np.asarray(o) for o in backbone(images)], 1), atol=1e-6)
    alive = weakref.ref(backbone)
    del backbone
    gc.collect()
    assert alive() is None
