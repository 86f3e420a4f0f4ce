"""SwAV: Sinkhorn-Knopp codes against SwAV's algorithm in numpy (each sample's codes sum to 1, the prototypes share
the batch equally), the swapped-prediction loss against numpy on the model's own embeddings, prototypes normalised
and frozen for the first steps, the queue filling and joining the Sinkhorn step once full, training lowering the loss,
saving, errors."""

import keras
import numpy as np
import pytest

from keras_hier.models.ssl import SwAV
from keras_hier.models.ssl.swav import sinkhorn_knopp
from tests.models.ssl.conftest import tiny_encoder


def sinkhorn_reference(scores, epsilon=0.05, iterations=3):
    """SwAV's `distributed_sinkhorn` on one device, step by step."""
    q = np.exp(scores.astype("float64") / epsilon).T
    q /= q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q /= q.sum(axis=1, keepdims=True)
        q /= k
        q /= q.sum(axis=0, keepdims=True)
        q /= b
    return (q * b).T


def swav(**kwargs):
    options = dict(projection_dim=6, hidden_units=8, num_prototypes=4, num_local_crops=1, local_size=4,
                   augmentation=keras.layers.Identity(), local_augmentation=keras.layers.Resizing(4, 4))
    options.update(kwargs)
    return SwAV(tiny_encoder(), **options)


def test_sinkhorn_matches_swav():
    scores = np.random.default_rng(0).uniform(-1, 1, size=(6, 4)).astype("float32")
    codes = np.asarray(sinkhorn_knopp(scores))
    np.testing.assert_allclose(codes, sinkhorn_reference(scores), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(codes.sum(axis=1), 1.0, atol=1e-5)
    # The prototypes' shares move towards equal (6 / 4 each) from the plain softmax's.
    softmax = np.exp(scores / 0.05) / np.exp(scores / 0.05).sum(1, keepdims=True)
    assert np.abs(codes.sum(0) - 1.5).sum() < 0.6 * np.abs(softmax.sum(0) - 1.5).sum()
    # Identical samples get identical codes, spread over the prototypes rather than all on the best one.
    same = np.asarray(sinkhorn_knopp(np.tile([[0.9, 0.1, 0.0, -0.2]], (4, 1)).astype("float32"), iterations=50))
    np.testing.assert_allclose(same, 0.25, atol=1e-3)


def test_loss_matches_numpy(images):
    model = swav()
    views = (images[:4], images[4:8], images[8:12, 2:6, 2:6])
    loss, z1 = model.view_loss(*views, training=False)
    z = [np.asarray(model.embed(v)) for v in views[:2]]
    local = np.asarray(model.projector(model.local_encoder(views[2], training=False)))
    z.append(local / np.linalg.norm(local, axis=1, keepdims=True))
    c = np.asarray(model.prototypes)
    log_p = [s / 0.1 - np.log(np.exp(s / 0.1).sum(1, keepdims=True)) for s in (zi @ c for zi in z)]
    want = 0.0
    for i in range(2):
        q = sinkhorn_reference(z[i] @ c)
        want += np.mean([-(q * log_p[v]).sum(1).mean() for v in range(3) if v != i]) / 2
    assert float(loss) == pytest.approx(want, rel=1e-4)
    np.testing.assert_allclose(np.asarray(z1), np.asarray(model.project(views[0])), atol=1e-6)  # z_0: raw


def test_training_normalises_freezes_and_queues(images):
    model = swav(freeze_prototypes_steps=2, queue_size=8)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    start = np.asarray(model.prototypes).copy()
    before, _ = model.view_loss(images, images, images[:, 2:6, 2:6], training=False)
    model.fit(images[:8], batch_size=4, epochs=1, verbose=0, shuffle=False)  # 2 steps: frozen
    np.testing.assert_allclose(np.asarray(model.prototypes), start / np.linalg.norm(start, axis=0), atol=1e-6)
    queue = np.asarray(model.queue)
    np.testing.assert_allclose(np.linalg.norm(queue, axis=-1), 1.0, atol=1e-5)  # both views of 8 images: full
    model.fit(images, batch_size=4, epochs=4, verbose=0)
    moved = np.asarray(model.prototypes)
    assert not np.allclose(moved, start / np.linalg.norm(start, axis=0), atol=1e-3)
    model.before_step()  # each step starts from unit prototypes
    np.testing.assert_allclose(np.asarray(model.prototypes), moved / np.linalg.norm(moved, axis=0), atol=1e-6)
    after, _ = model.view_loss(images, images, images[:, 2:6, 2:6], training=False)
    assert float(after) < float(before)


def test_save_and_errors(images, tmp_path):
    model = swav(queue_size=8)
    model.compile(optimizer="sgd")
    model.fit(images, batch_size=6, verbose=0)
    model.save(tmp_path / "swav.keras")
    loaded = keras.saving.load_model(tmp_path / "swav.keras")
    for name in ("queue", "prototypes", "steps_done"):
        np.testing.assert_array_equal(np.asarray(getattr(loaded, name)), np.asarray(getattr(model, name)))
    np.testing.assert_allclose(np.asarray(loaded.embed(images)), np.asarray(model.embed(images)), atol=1e-6)
    with pytest.raises(ValueError, match="epsilon"):
        swav(epsilon=0)
    with pytest.raises(ValueError, match="two views"):
        model.view_loss(images, training=False)
