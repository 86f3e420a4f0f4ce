"""MoCo v2: the queue loss against numpy, the queue filling with keys, the momentum update, shuffled batch-norm
groups keeping the batch order, empty batch, saving, errors."""

import keras
import numpy as np
import pytest

from keras_hier.models.ssl import MoCoV2
from tests.models.ssl.conftest import tiny_encoder


def test_loss_matches_numpy(encoder, images):
    model = MoCoV2(encoder, projection_dim=6, hidden_units=8, queue_size=10, temperature=0.2, seed=0)
    v1, v2 = images[:6], images[6:]
    loss, q = model.view_loss(v1, v2, training=False)
    k = np.asarray(model.cluster_features(v2))
    np.testing.assert_allclose(np.asarray(q), np.asarray(model.project(v1)), atol=1e-6)  # z_0: the raw projection
    q = np.asarray(q) / np.linalg.norm(np.asarray(q), axis=1, keepdims=True)
    queue = np.asarray(model.queue)
    np.testing.assert_allclose(np.linalg.norm(queue, axis=1), 1.0, atol=1e-5)
    logits = np.concatenate([(q * k).sum(1, keepdims=True), q @ queue.T], axis=1) / 0.2
    want = -(logits[:, 0] - np.log(np.exp(logits).sum(1))).mean()
    assert float(loss) == pytest.approx(want, rel=1e-5)
    assert int(model.queue_pointer.numpy()) == 0  # no enqueue at inference
    empty, _ = model.view_loss(images[:0], images[:0], training=False)
    assert float(empty) == 0.0


def test_training_fills_the_queue_and_moves_the_key_encoder(images):
    # momentum 0: the key encoder copies the online one after each step.
    model = MoCoV2(tiny_encoder(), projection_dim=6, hidden_units=8, queue_size=8, momentum=0.0, seed=0)
    np.testing.assert_allclose(np.asarray(model.cluster_features(images)), np.asarray(model.embed(images)),
                               atol=1e-6)  # keys start as a copy
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(images[:6], batch_size=6, epochs=1, verbose=0, shuffle=False)
    assert int(model.queue_pointer.numpy()) == 6
    for key, online in zip(model.key_encoder.trainable_weights, model.encoder.trainable_weights):
        np.testing.assert_allclose(np.asarray(key), np.asarray(online), atol=1e-6)
    model.fit(images[:6], batch_size=6, epochs=1, verbose=0)
    assert int(model.queue_pointer.numpy()) == 4  # 12 keys through a queue of 8 wrap around
    # momentum 1: the key encoder never moves.
    frozen = MoCoV2(tiny_encoder(), projection_dim=6, hidden_units=8, queue_size=8, momentum=1.0, seed=0)
    start = [np.asarray(w).copy() for w in frozen.key_encoder.trainable_weights]
    frozen.compile(optimizer=keras.optimizers.SGD(0.5))
    frozen.fit(images, batch_size=6, epochs=1, verbose=0)
    for key, first in zip(frozen.key_encoder.trainable_weights, start):
        np.testing.assert_array_equal(np.asarray(key), first)
    assert not np.allclose(np.asarray(frozen.encoder.trainable_weights[0]), start[0])


def test_shuffled_groups_keep_the_batch_order(images):
    # Without batch norm the grouping cannot change any embedding, only (if it were wrong) their order.
    model = MoCoV2(tiny_encoder(batch_norm=False), projection_dim=6, hidden_units=8, queue_size=8,
                   shuffle_groups=3, seed=0)
    grouped = model._grouped(model.key_encoder, model.key_projector, images[:7], training=True, shuffle=True)
    grouped = np.asarray(grouped) / np.linalg.norm(np.asarray(grouped), axis=1, keepdims=True)
    np.testing.assert_allclose(grouped, np.asarray(model.cluster_features(images[:7])), atol=1e-6)


def test_save_and_errors(encoder, images, tmp_path):
    model = MoCoV2(encoder, projection_dim=6, hidden_units=8, queue_size=8, seed=0)
    model.compile(optimizer="sgd")
    model.fit(images, batch_size=6, verbose=0)
    model.save(tmp_path / "moco.keras")
    loaded = keras.saving.load_model(tmp_path / "moco.keras")
    np.testing.assert_allclose(np.asarray(loaded.queue), np.asarray(model.queue))
    np.testing.assert_allclose(np.asarray(loaded.cluster_features(images)), np.asarray(model.cluster_features(images)),
                               atol=1e-6)
    with pytest.raises(ValueError, match="momentum"):
        MoCoV2(encoder, momentum=1.5)
    with pytest.raises(ValueError, match="global pooling"):
        inputs = keras.Input((8, 8, 1))
        MoCoV2(keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs)))
