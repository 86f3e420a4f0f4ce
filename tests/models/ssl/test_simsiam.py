"""SimSiam: the symmetric negative cosine against numpy, the stop-gradient (no gradient through the targets),
empty batch, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hier.models.ssl import SimSiam


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_loss_matches_numpy_and_stops_gradients(encoder, images):
    model = SimSiam(encoder, projection_dim=6, predictor_units=3)
    v1, v2 = images[:6], images[6:]
    loss, z1 = model.view_loss(v1, v2, training=False)
    p = lambda v: np.asarray(model.projector(model.encoder(v, training=False), training=False))  # noqa: E731
    q = lambda z: np.asarray(model.predictor(z, training=False))  # noqa: E731
    z_1, z_2 = p(v1), p(v2)
    want = -((unit(q(z_1)) * unit(z_2)).sum(1).mean() + (unit(q(z_2)) * unit(z_1)).sum(1).mean()) / 2
    assert float(loss) == pytest.approx(want, abs=1e-5)
    np.testing.assert_allclose(np.asarray(z1), z_1, atol=1e-5)  # z_0 for HIRL: the raw projection
    # The projector output enters only as a target through the stop-gradient or via the predictor: a loss that
    # only reads the targets has no gradient.
    z = tf.constant(z_1)
    with tf.GradientTape() as tape:
        tape.watch(z)
        target_only = tf.reduce_sum(tf.stop_gradient(z))
    assert tape.gradient(target_only, z) is None
    empty, _ = model.view_loss(images[:0], images[:0], training=False)
    assert float(empty) == 0.0


def test_fit_and_save(encoder, images, tmp_path):
    model = SimSiam(encoder, projection_dim=6, predictor_units=3)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(images, batch_size=6, epochs=2, verbose=0)
    assert all(-1.0 <= v <= 1.0 for v in history.history["loss"])
    model.save(tmp_path / "simsiam.keras")
    loaded = keras.saving.load_model(tmp_path / "simsiam.keras")
    np.testing.assert_allclose(np.asarray(loaded.embed(images)), np.asarray(model.embed(images)), atol=1e-6)
