"""GatedGraphPropagation against a numpy transcription of the SKG reference code (one (N d) x (N d) propagation
matrix from per-edge bilinear blocks, L2-normalised rows, tanh messages, a GRU cell); the typed relations; the
training graph; saving."""

import keras
import numpy as np
import pytest

from keras_hier.knowledge import ClassGraph
from keras_hier.knowledge.graph import RELATIONS
from keras_hier.layers import GatedGraphPropagation

NAMES = ["dog", "animal", "cat", "car", "truck"]
SYNSETS = ["dog.n.01", "animal.n.01", "cat.n.01", "car.n.01", "truck.n.01"]


@pytest.fixture(scope="module")
def graph():
    kinds = ["seen", "seen", "unseen", "seen", "seen"]
    features = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    return ClassGraph(NAMES, SYNSETS, kinds, features, threshold=0.8)


def test_relations_follow_the_reference_rules(graph):
    typed = {(int(v), int(u)): RELATIONS[t] for v, u, t in graph.relations()}
    assert typed[(1, 0)] == "from_parent" and typed[(0, 1)] == "from_child"  # dog is an animal
    assert typed[(2, 0)] == typed[(0, 2)] == "similar"  # dog ~ cat (WUP 0.86)
    assert typed[(4, 3)] == "similar" and (3, 3) not in typed  # car ~ truck; no self loops
    assert all((u, v) in typed for v, u in typed)  # every relation has its reverse


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference(layer, graph, states, training=False):
    """skg_official.py's PropModel_Multi propagation, written out in numpy."""
    w = {v.name: np.asarray(v) for v in layer.weights}
    n, d = graph.num_nodes, states.shape[-1]
    emb = graph.features @ w["embed_kernel"] + w["embed_bias"]
    big = np.zeros((n * d, n * d))
    for v, u, t in graph.relations():
        if training and (graph.kinds[u] == "unseen" or graph.kinds[v] == "unseen"):
            continue
        flat = emb[u] @ w["relation_maps"][t].reshape(emb.shape[1], -1)  # x @ mat
        block = (flat.reshape(emb.shape[1], d * d).T @ emb[v]).reshape(d, d)  # bmm with y
        big[u * d:(u + 1) * d, v * d:(v + 1) * d] = block
    norm = np.linalg.norm(big, axis=1, keepdims=True)
    big = big / np.where(norm == 0, 1, norm)
    kernel, recurrent, bias = w["kernel"], w["recurrent_kernel"], w["bias"]
    h = states.reshape(len(states), -1)
    for _ in range(layer.steps):
        x = np.tanh(h @ big.T).reshape(-1, d)
        hp = h.reshape(-1, d)
        xi, hi = x @ kernel + bias[0], hp @ recurrent + bias[1]
        z = sigmoid(xi[:, :d] + hi[:, :d])
        r = sigmoid(xi[:, d:2 * d] + hi[:, d:2 * d])
        cand = np.tanh(xi[:, 2 * d:] + r * hi[:, 2 * d:])
        h = (z * hp + (1 - z) * cand).reshape(len(states), -1)
    return h.reshape(states.shape)


@pytest.mark.parametrize("training", [False, True])
def test_matches_the_reference_code(graph, training):
    states = np.random.default_rng(1).normal(size=(3, 5, 4)).astype("float32")
    layer = GatedGraphPropagation(graph, steps=3, relation_dim=5)
    out = np.asarray(layer(states, training=training))
    np.testing.assert_allclose(out, reference(layer, graph, states, training), atol=2e-5)
    every = GatedGraphPropagation(graph, steps=3, relation_dim=5, return_all_steps=True)
    every.build(states.shape)
    every.set_weights(layer.get_weights())
    history = np.asarray(every(states))
    assert history.shape == (3, 4, 5, 4)
    np.testing.assert_allclose(history[:, 0], states)
    np.testing.assert_allclose(history[:, -1], np.asarray(layer(states)), atol=1e-6)


def test_save_load_and_fit(graph, tmp_path):
    states = np.random.default_rng(2).normal(size=(4, 5, 4)).astype("float32")
    inputs = keras.Input((5, 4))
    model = keras.Model(inputs, keras.layers.Dense(1)(GatedGraphPropagation(graph, steps=2, relation_dim=5)(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    history = model.fit(states, np.ones((4, 5, 1), "float32"), epochs=3, verbose=0).history["loss"]
    assert np.isfinite(history).all() and history[-1] < history[0]
    model.save(tmp_path / "skg.keras")
    again = keras.saving.load_model(tmp_path / "skg.keras")
    np.testing.assert_allclose(np.asarray(again(states)), np.asarray(model(states)), atol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        GatedGraphPropagation(graph, steps=0)

