"""Compositional transfer: the attention head on a hand-computed 3-class example, k thresholds, the continual variant,
multi-head chunks, the Keras head (single and ensemble), saving and export."""

import keras
import numpy as np
import pytest

from keras_hier.models import CompositionalTransferHead
from keras_hier.models.compositional_transfer import attention_weights, transfer_weights

W = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])  # class 2 is few-shot
P = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
COUNTS = np.array([200, 150, 5])


def unit(v):
    return np.asarray(v) / np.linalg.norm(v)


def test_hand_computed_three_classes():
    alpha = np.exp([0.8, 0.6]) / np.exp([0.8, 0.6]).sum()  # <p_2, w_0> = 0.8, <p_2, w_1> = 0.6, tau = 1
    out = transfer_weights(W, P, COUNTS, k=20, temperature=1.0)
    np.testing.assert_allclose(out[2], unit(W[2] + alpha), atol=1e-6)
    np.testing.assert_allclose(out[:2], W[:2], atol=1e-7)  # classes at or above k keep their classifier
    np.testing.assert_allclose(attention_weights(W, P, COUNTS, 20, 1.0)[2], [alpha[0], alpha[1], 0.0], atol=1e-7)
    half = transfer_weights(W, P, COUNTS, k=20, temperature=1.0, mix=0.5)
    np.testing.assert_allclose(half[2], unit(W[2] + 0.5 * alpha), atol=1e-6)
    continual = transfer_weights(W, P, COUNTS, k=20, temperature=1.0, continual=True)
    np.testing.assert_allclose(continual[2], unit(P[2] + alpha), atol=1e-6)  # the prototype, not w_2
    np.testing.assert_allclose(continual[:2], W[:2], atol=1e-7)  # old classes untouched


def test_thresholds():
    assert np.allclose(transfer_weights(W, P, COUNTS, k=5, temperature=1.0), W)  # nobody below 5
    moved = transfer_weights(W, P, COUNTS, k=160, temperature=1.0)  # classes 1 and 2 borrow from class 0 only
    np.testing.assert_allclose(moved[1], unit(W[1] + W[0]), atol=1e-6)
    every = transfer_weights(W, P, COUNTS, k=0, temperature=1.0)  # k = 0: every class, every source
    scores = P @ W.T
    alpha = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    np.testing.assert_allclose(every, np.stack([unit(W[c] + alpha[c] @ W) for c in range(3)]), atol=1e-6)
    with pytest.raises(ValueError, match="No class has 300"):
        transfer_weights(W, P, COUNTS, k=300)


def test_thresholds_follow_oltr_shot_groups():
    """few < 20 <= medium <= 100 < many: w^h(20) rebuilds exactly the few-shot classes, w^h(100) exactly the few-
    and medium-shot ones (a class with 100 images is medium-shot, so a target, not a source)."""
    from keras_hier.datasets.long_tail import shot_groups
    from keras_hier.models.compositional_transfer import _roles

    counts = np.array([500, 101, 100, 20, 19, 5])
    groups = shot_groups(counts)
    targets, sources = _roles(counts, 20)
    assert targets.tolist() == groups["few"].tolist() == [4, 5] and sources.tolist() == [0, 1, 2, 3]
    targets, sources = _roles(counts, 100)
    assert targets.tolist() == sorted(groups["few"].tolist() + groups["medium"].tolist()) == [2, 3, 4, 5]
    assert sources.tolist() == groups["many"].tolist() == [0, 1]
    rng = np.random.default_rng(3)
    w, p = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    rebuilt = transfer_weights(w, p, counts, k=100)
    unit_w = w / np.linalg.norm(w, axis=1, keepdims=True)
    np.testing.assert_allclose(rebuilt[:2], unit_w[:2], atol=1e-6)  # the many-shot classes keep their classifier
    assert not np.allclose(rebuilt[2], unit_w[2])  # 100 images: rebuilt


@pytest.mark.parametrize("attention", ["w->p", "w->w", "p->p"])
def test_attention_roles_of_the_supplement(attention):
    """Supplement Table 1: the query representation attends over the key representation, which is also the value."""
    query, key = ({"p": P, "w": W}[side] for side in attention.split("->"))
    scores = np.array([unit(query[2]) @ unit(key[0]), unit(query[2]) @ unit(key[1])])
    alpha = np.exp(scores) / np.exp(scores).sum()
    out = transfer_weights(W, P, COUNTS, k=20, temperature=1.0, attention=attention)
    np.testing.assert_allclose(out[2], unit(W[2] + alpha @ np.stack([unit(key[0]), unit(key[1])])), atol=1e-6)
    head = CompositionalTransferHead.from_classifier(W, P, COUNTS, ks=20, temperature=1.0, attention=attention)
    assert attention in head.description
    with pytest.raises(ValueError, match="attention"):
        transfer_weights(W, P, COUNTS, k=20, attention="p->q")


def test_head_scale_defaults_to_the_classifier_scale():
    from keras_hier.layers import CosineClassifier

    classifier = CosineClassifier(3, scale=30.0)
    classifier.build((None, 2))
    classifier.set_class_weights(W)
    head = CompositionalTransferHead.from_classifier(classifier, P, COUNTS, ks=20)
    assert head.scale == pytest.approx(30.0)
    assert CompositionalTransferHead.from_classifier(classifier, P, COUNTS, ks=20, scale=10.0).scale == 10.0
    assert CompositionalTransferHead.from_classifier(W, P, COUNTS, ks=20).scale == 16.0  # weights alone: 16


def test_heads_attend_per_chunk():
    rng = np.random.default_rng(0)
    w, p = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    counts = [100, 90, 80, 3]
    out = transfer_weights(w, p, counts, k=10, temperature=0.5, num_heads=2)
    wn, pn = w / np.linalg.norm(w, axis=1, keepdims=True), p / np.linalg.norm(p, axis=1, keepdims=True)
    parts = []
    for part in (slice(0, 3), slice(3, 6)):
        keys = wn[:3, part] / np.linalg.norm(wn[:3, part], axis=1, keepdims=True)
        q = pn[3, part] / np.linalg.norm(pn[3, part])
        a = np.exp(keys @ q / 0.5)
        parts.append((a / a.sum()) @ wn[:3, part])
    np.testing.assert_allclose(out[3], unit(wn[3] + np.concatenate(parts)), atol=1e-6)
    with pytest.raises(ValueError, match="num_heads"):
        transfer_weights(w, p, counts, k=10, num_heads=4)


def test_keras_head_single_ensemble_save_and_export(tmp_path, serve_fresh):
    x = np.random.default_rng(1).normal(size=(5, 2)).astype("float32")
    single = CompositionalTransferHead.from_classifier(W, P, COUNTS, ks=20, temperature=1.0, scale=10.0)
    weights = transfer_weights(W, P, COUNTS, 20, 1.0)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(single(x)), 10.0 * xn @ weights.T, atol=1e-5)
    assert single.description == "w^h(20)"
    ensemble = CompositionalTransferHead.from_classifier(W, P, COUNTS, ks=(0, 20, 100), temperature=1.0, scale=10.0)
    members = [10.0 * xn @ transfer_weights(W, P, COUNTS, k, 1.0).T for k in (0, 20, 100)]
    probs = np.mean([np.exp(m) / np.exp(m).sum(1, keepdims=True) for m in members], axis=0)
    np.testing.assert_allclose(np.exp(np.asarray(ensemble(x))), probs, atol=1e-5)
    assert ensemble.description == "ensemble(w^h(0), w^h(20), w^h(100))"

    inputs = keras.Input((3,))
    features = keras.layers.Dense(2, name="encoder")(inputs)
    model = keras.Model(inputs, ensemble(features))
    model.save(tmp_path / "head.keras")
    data = np.random.default_rng(2).normal(size=(4, 3)).astype("float32")
    again = keras.saving.load_model(tmp_path / "head.keras")
    np.testing.assert_allclose(np.asarray(again(data)), np.asarray(model(data)), atol=1e-6)
    model.export(str(tmp_path / "served"), verbose=False)
    np.testing.assert_allclose(serve_fresh(tmp_path / "served", data), np.asarray(model(data)), atol=1e-5)
    with pytest.raises(ValueError, match="2 dimensions; features have 3"):
        CompositionalTransferHead.from_classifier(W, P, COUNTS)(np.zeros((1, 3), "float32"))


def test_continual_transfer_refuses_a_class_without_images():
    w = np.eye(3)
    prototypes = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 0]])  # class 2 has no image: no prototype
    with pytest.raises(ValueError, match=r"Class\(es\) \[2\] have no training image"):
        transfer_weights(w, prototypes, [500, 200, 0], k=20, continual=True)
    assert np.isfinite(transfer_weights(w, prototypes, [500, 200, 0], k=20)).all()
    with pytest.raises(ValueError, match="non-negative"):
        transfer_weights(w, prototypes, [500, -1, 3], k=20)
