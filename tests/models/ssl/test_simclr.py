"""SimCLR: NT-Xent against numpy on the model's own embeddings, a training step moves the weights, empty batch,
saving."""

import keras
import numpy as np
import pytest

from keras_hier.models.ssl import SimCLR


def nt_xent(z1, z2, t):
    z = np.concatenate([z1, z2])
    logits = z @ z.T / t
    np.fill_diagonal(logits, -np.inf)
    n = len(z1)
    positives = np.concatenate([np.arange(n) + n, np.arange(n)])
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -log_softmax[np.arange(2 * n), positives].mean()


def test_loss_matches_numpy(encoder, images):
    model = SimCLR(encoder, projection_dim=6, hidden_units=8, temperature=0.3)
    v1, v2 = images[:6], images[6:]
    loss, z1 = model.view_loss(v1, v2, training=False)
    e1, e2 = np.asarray(model.embed(v1)), np.asarray(model.embed(v2))
    np.testing.assert_allclose(np.asarray(z1), np.asarray(model.project(v1)), atol=1e-6)  # z_0: raw
    np.testing.assert_allclose(e1, np.asarray(z1) / np.linalg.norm(np.asarray(z1), axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(e1, axis=1), 1.0, atol=1e-5)
    assert float(loss) == pytest.approx(nt_xent(e1, e2, 0.3), rel=1e-5)
    empty, _ = model.view_loss(images[:0], images[:0], training=False)
    assert float(empty) == 0.0


def test_fit_and_save(encoder, images, tmp_path):
    model = SimCLR(encoder, projection_dim=6, hidden_units=8)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    before = [w.copy() for w in model.encoder.get_weights()]
    history = model.fit(images, batch_size=6, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.allclose(a, b) for a, b in zip(before, model.encoder.get_weights()))
    model.save(tmp_path / "simclr.keras")
    loaded = keras.saving.load_model(tmp_path / "simclr.keras")
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(model(images)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.embed(images)), np.asarray(model.embed(images)), atol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        SimCLR(encoder, temperature=0)


def test_a_method_without_a_loss_is_refused(encoder):
    from keras_hier.models.ssl import SelfSupervisedModel

    with pytest.raises(TypeError, match="view_loss"):
        SelfSupervisedModel(encoder)


MIRRORED = r"""
from keras_hier.distribute import get_strategy, split_cpu
split_cpu(2)
import keras, numpy as np, tensorflow as tf
from keras_hier.models.ssl import MoCoV2, SimCLR
from tests.models.ssl.conftest import tiny_encoder

images = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
data = tf.data.Dataset.from_tensors(images)

def simclr(strategy):
    with strategy.scope():
        model = SimCLR(tiny_encoder(batch_norm=False), projection_dim=6, hidden_units=8,
                       augmentation=keras.layers.Identity())
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    return model.fit(data, epochs=3, verbose=0).history["loss"], model.get_weights()

mirrored = get_strategy("mirrored")
(one, w1), (two, w2) = simclr(get_strategy("none")), simclr(mirrored)
with get_strategy("mirrored").scope():  # the same instance (a second one would reuse its collective keys)
    moco = MoCoV2(tiny_encoder(batch_norm=False), projection_dim=6, hidden_units=8, queue_size=16, seed=0)
    moco.compile(optimizer=keras.optimizers.SGD(0.5))
before = np.array(moco.queue)
moco.fit(data, epochs=1, verbose=0)
print(np.allclose(one, two, rtol=1e-4), all(np.allclose(a, b, rtol=1e-3, atol=1e-4) for a, b in zip(w1, w2)), one[0] > one[2],
      int(moco.queue_pointer.numpy()), int((np.abs(np.array(moco.queue) - before).sum(1) > 0).sum()))
"""


def test_mirrored_negatives_and_queue_span_the_global_batch(run_mirrored):
    # Two replicas of 4 images each: SimCLR contrasts every view with all 16 views of the global batch, and the
    # per-replica losses are scaled so that the summed gradients are those of one device (same losses, same
    # weights after 3 steps); MoCo queues the keys of all 8 images, not only the first replica's 4.
    assert run_mirrored(MIRRORED).strip().splitlines()[-1] == "True True True 8 8"
