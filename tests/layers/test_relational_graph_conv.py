"""RelationalGraphConv against a numpy reference of act(Â H W + b); sparse == dense; training graph; no messages into
external nodes; mixed precision; saving."""

import keras
import numpy as np
import pytest

from keras_hier.knowledge import ClassGraph
from keras_hier.layers import LearnedAdjacency, RelationalGraphConv

NAMES = ["cat", "dog", "car", "wolf", "truck"]
SYNSETS = ["cat.n.01", "dog.n.01", "car.n.01", "wolf.n.01", "truck.n.01"]


@pytest.fixture(scope="module")
def graph():
    kinds = ["seen", "unseen", "seen", "external", "external"]
    return ClassGraph(NAMES, SYNSETS, kinds, np.random.default_rng(0).normal(size=(5, 4)).astype("float32"))


@pytest.fixture
def states():
    return np.random.default_rng(1).normal(size=(3, 5, 6)).astype("float32")


def reference_adjacency(w, graph, training=False, into_external=True, slope=0.1):
    """Â from the definition: the edge MLP on [s_u; s_v] as one Dense on the concatenation, LeakyReLU(`slope`)."""
    first = np.concatenate([w["edge_receiver"], w["edge_sender"]], axis=0)
    n = graph.num_nodes
    a = np.zeros((n, n))
    for v, u in graph.edges:  # v sends, u receives
        if training and (graph.kinds[u] == "unseen" or graph.kinds[v] == "unseen"):
            continue
        if not into_external and graph.kinds[u] == "external" and u != v:
            continue
        pre = np.concatenate([graph.features[u], graph.features[v]]) @ first + w["edge_hidden_bias"]
        hidden = np.where(pre > 0, pre, slope * pre)
        logit = hidden @ w["edge_out"][:, 0] + w["edge_out_bias"][0]
        a[u, v] = 1.0 if u == v else 1 / (1 + np.exp(-logit))
    return a / np.maximum(a.sum(axis=1, keepdims=True), 1e-12)


def reference(layer, graph, states, training=False, into_external=True, slope=0.1):
    """act(Â H W + b) written from the definition."""
    w = {v.name: np.asarray(v) for v in layer.weights}
    a = reference_adjacency(w, graph, training, into_external, slope)
    return np.einsum("uv,bvd->bud", a, states) @ w["kernel"] + w["bias"]


@pytest.mark.parametrize("units", [2, 9])  # transform before / after propagating
@pytest.mark.parametrize("propagation", ["sparse", "dense"])
def test_matches_reference(graph, states, units, propagation):
    layer = RelationalGraphConv(units, graph, edge_hidden=8, propagation=propagation)
    out = np.asarray(layer(states))
    np.testing.assert_allclose(out, reference(layer, graph, states), atol=1e-5)
    # Each receiver's weights sum to 1 (the reference counts a self loop 1 before normalising).
    weights = np.asarray(layer.edge_weights())
    np.testing.assert_allclose(np.bincount(graph.edges[:, 1], weights), 1.0, atol=1e-6)


def test_edge_activation_is_an_argument(graph, states):
    layer = RelationalGraphConv(3, graph, edge_hidden=8, edge_activation="relu")
    np.testing.assert_allclose(np.asarray(layer(states)), reference(layer, graph, states, slope=0.0), atol=1e-5)
    again = RelationalGraphConv.from_config(layer.get_config())
    assert again.adjacency.activation is keras.activations.relu


def test_shared_adjacency_feeds_every_layer(graph, states):
    """The paper's Eq. 7: one Ŵ for the network; each layer given it propagates over exactly that Â."""
    adjacency = LearnedAdjacency(graph, hidden_units=8)
    shared = adjacency(states)
    w = {v.name: np.asarray(v) for v in adjacency.weights}
    np.testing.assert_allclose(shared, reference_adjacency(w, graph)[graph.edges[:, 1], graph.edges[:, 0]], atol=1e-6)
    first = RelationalGraphConv(4, graph, learn_edges=False)
    second = RelationalGraphConv(2, graph, learn_edges=False)
    hidden = np.asarray(first(states, shared))
    out = np.asarray(second(hidden, shared))
    a = reference_adjacency(w, graph)
    for layer, x, y in ((first, states, hidden), (second, hidden, out)):
        k = {v.name: np.asarray(v) for v in layer.weights}
        np.testing.assert_allclose(y, np.einsum("uv,bvd->bud", a, x) @ k["kernel"] + k["bias"], atol=1e-5)
        assert not any("edge" in v.name for v in layer.weights)  # no edge MLP of its own
    with pytest.raises(ValueError, match="second argument"):
        first(states)
    with pytest.raises(ValueError, match="second argument"):
        RelationalGraphConv(2, graph)(states, shared)


def test_sparse_and_dense_agree_on_a_larger_graph(states):
    rng = np.random.default_rng(2)
    names = [f"c{i}" for i in range(40)]
    g = ClassGraph(names, [None] * 40, ["seen"] * 40, rng.normal(size=(40, 7)).astype("float32"),
                   _wup=rng.random((40, 40)))
    x = rng.normal(size=(4, 40, 16)).astype("float32")
    sparse = RelationalGraphConv(8, g, propagation="sparse", activation="relu")
    dense = RelationalGraphConv(8, g, propagation="dense", activation="relu")
    sparse.build(x.shape)
    dense.build(x.shape)
    dense.set_weights(sparse.get_weights())
    np.testing.assert_allclose(np.asarray(sparse(x)), np.asarray(dense(x)), atol=1e-5)
    assert RelationalGraphConv(8, g).chosen_propagation == "dense"  # half the pairs are edges
    only_loops = ClassGraph([f"c{i}" for i in range(120)], [None] * 120, ["seen"] * 120, np.zeros((120, 2)))
    assert RelationalGraphConv(8, only_loops).chosen_propagation == "sparse"  # 120 loops in 14,400 pairs: 0.8 %


def test_training_graph_leaves_unseen_nodes_out(graph, states):
    layer = RelationalGraphConv(3, graph, edge_hidden=8)
    out = np.asarray(layer(states, training=True))
    np.testing.assert_allclose(out, reference(layer, graph, states, training=True), atol=1e-5)
    # Equal to the same layer on the training graph (unseen node removed), for every remaining node.
    sub = graph.training_graph()
    keep = [i for i, k in enumerate(graph.kinds) if k != "unseen"]
    small = RelationalGraphConv(3, sub, edge_hidden=8)
    small.build(states[:, keep].shape)
    trained = {v.name: v for v in layer.weights}
    for v in small.trainable_weights:
        v.assign(trained[v.name])
    np.testing.assert_allclose(np.asarray(small(states[:, keep])), out[:, keep], atol=1e-5)


def test_no_messages_into_external_nodes(graph, states):
    layer = RelationalGraphConv(3, graph, edge_hidden=8, messages_into_external=False)
    out = np.asarray(layer(states))
    np.testing.assert_allclose(out, reference(layer, graph, states, into_external=False), atol=1e-5)
    w = {v.name: np.asarray(v) for v in layer.weights}
    np.testing.assert_allclose(out[:, 3:], states[:, 3:] @ w["kernel"] + w["bias"], atol=1e-5)


def test_mixed_precision(graph, states):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = RelationalGraphConv(3, graph, edge_hidden=8, activation="relu")
        out = layer(states)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == "float16" and np.isfinite(np.asarray(out)).all()
    assert layer.edge_weights().dtype == "float32"


def test_save_load_round_trip(graph, states, tmp_path):
    inputs = keras.Input((5, 6))
    x = RelationalGraphConv(4, graph, edge_hidden=8, activation="relu", propagation="sparse")(inputs)
    model = keras.Model(inputs, RelationalGraphConv(2, graph, edge_hidden=8)(x))
    model.save(tmp_path / "rgcn.keras")
    again = keras.saving.load_model(tmp_path / "rgcn.keras")
    np.testing.assert_allclose(np.asarray(again(states)), np.asarray(model(states)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(again(states, training=True)), np.asarray(model(states, training=True)),
                               atol=1e-6)
    assert again.layers[1].chosen_propagation == "sparse"


def test_bad_arguments(graph):
    for kwargs, message in (({"propagation": "csr"}, "propagation"), ({"units": 0}, "positive")):
        with pytest.raises(ValueError, match=message):
            RelationalGraphConv(**{"units": 2, "graph": graph, **kwargs})
    with pytest.raises(ValueError, match="Pass the `graph`"):
        RelationalGraphConv(2)


@pytest.mark.parametrize("propagation", ["sparse", "dense"])
def test_fit_trains_the_edge_mlp(graph, states, propagation):
    inputs = keras.Input((5, 6))
    model = keras.Model(inputs, RelationalGraphConv(1, graph, edge_hidden=8, propagation=propagation)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    before = np.asarray(model.layers[1].edge_weights())
    history = model.fit(states, np.ones((3, 5, 1), "float32"), epochs=3, verbose=0).history["loss"]
    assert np.isfinite(history).all() and history[-1] < history[0]
    assert not np.allclose(np.asarray(model.layers[1].edge_weights()), before)
