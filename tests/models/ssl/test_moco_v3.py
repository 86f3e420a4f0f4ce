"""MoCo v3: the symmetric InfoNCE against numpy on the model's own queries and keys, the momentum encoder starting
as a copy and following the cosine schedule, training lowering the loss, saving, errors."""

import keras
import numpy as np
import pytest

from keras_hier.models.ssl import MoCoV3
from keras_hier.models.ssl.base import cosine_schedule
from tests.models.ssl.conftest import tiny_encoder


def ctr(q, k, t):
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    k = k / np.linalg.norm(k, axis=1, keepdims=True)
    logits = q @ k.T / t
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -np.diag(log_softmax).mean() * 2 * t


def test_loss_matches_numpy(images):
    model = MoCoV3(tiny_encoder(), projection_dim=6, hidden_units=8, temperature=0.2)
    v1, v2 = images[:6], images[6:]
    loss, z1 = model.view_loss(v1, v2, training=False)

    def query(v):
        return np.asarray(model.predictor(model.projector(model.encoder(v))))

    k1, k2 = np.asarray(model.cluster_features(v1)), np.asarray(model.cluster_features(v2))
    want = ctr(query(v1), k2, 0.2) + ctr(query(v2), k1, 0.2)
    assert float(loss) == pytest.approx(want, rel=1e-5)
    online = np.asarray(model.projector(model.encoder(v1)))
    np.testing.assert_allclose(np.asarray(z1), online, atol=1e-6)  # z_0 for HIRL: the raw projection
    unit = online / np.linalg.norm(online, axis=1, keepdims=True)
    np.testing.assert_allclose(k1, unit, atol=1e-6)  # the keys start as a copy of the online network


def test_predictor_as_the_reference():
    from keras_hier.backbones import vit

    # `_build_mlp(2, dim, mlp_dim, dim)`: bias-free Linear layers; for ViTs (`MoCo_ViT`) the last one followed by a
    # BatchNorm1d without affine parameters, for ResNets (`last_bn=False`) by nothing.
    on_vit = MoCoV3(vit((8, 8, 1), "vit_test"), projection_dim=6, hidden_units=8)
    on_cnn = MoCoV3(tiny_encoder(), projection_dim=6, hidden_units=8)
    assert on_vit.predictor_batch_norm and not on_cnn.predictor_batch_norm
    for model in (on_vit, on_cnn):
        assert [len(dense.weights) for dense, _ in model.predictor.hidden] == [1] and len(model.predictor.out.weights) == 1
        assert [len(dense.weights) for dense, _ in model.projector.hidden] == [1, 1]
    assert not on_vit.predictor.out_bn.scale and not on_vit.predictor.out_bn.center  # BatchNorm1d(affine=False)
    assert on_cnn.predictor.out_bn is None
    assert MoCoV3.from_config(on_cnn.get_config()).predictor_batch_norm is False


def test_momentum_schedule_and_training(images):
    assert float(cosine_schedule(0.99, 1.0, 0, 100)) == pytest.approx(0.99)
    assert float(cosine_schedule(0.99, 1.0, 50, 100)) == pytest.approx(0.995)
    model = MoCoV3(tiny_encoder(batch_norm=False), projection_dim=6, hidden_units=8, momentum=0.5,
                   momentum_schedule_steps=2, augmentation=keras.layers.Identity())
    model.compile(optimizer=keras.optimizers.AdamW(0.01))
    before, _ = model.view_loss(images, images, training=True)  # batch statistics, as in training

    def weights(layer):
        return [np.asarray(w).copy() for w in layer.trainable_weights]

    k0 = weights(model.key_encoder)
    model.fit(images, batch_size=12, epochs=1, verbose=0)  # step 0: momentum 0.5 on a copy, no change
    w1 = weights(model.encoder)
    for key, first in zip(weights(model.key_encoder), k0):
        np.testing.assert_allclose(key, first, atol=1e-7)
    model.fit(images, batch_size=12, epochs=1, verbose=0)  # step 1 of 2: the cosine is at 0.75
    k1 = weights(model.key_encoder)
    for key, first, online in zip(k1, k0, w1):
        np.testing.assert_allclose(key, 0.75 * first + 0.25 * online, atol=1e-6)
    model.fit(images, batch_size=12, epochs=1, verbose=0)  # step 2: momentum 1, the keys stay
    for key, last in zip(weights(model.key_encoder), k1):
        np.testing.assert_allclose(key, last, atol=1e-7)
    assert int(model.steps_done.numpy()) == 3
    model.fit(images, batch_size=6, epochs=10, verbose=0)  # the queries learn to find their (fixed) keys
    after, _ = model.view_loss(images, images, training=True)
    assert float(after) < float(before)


def test_save_and_errors(images, tmp_path):
    model = MoCoV3(tiny_encoder(), projection_dim=6, hidden_units=8, momentum_schedule_steps=100)
    model.compile(optimizer="adamw")
    model.fit(images, batch_size=6, verbose=0)
    model.save(tmp_path / "moco_v3.keras")
    loaded = keras.saving.load_model(tmp_path / "moco_v3.keras")
    assert int(loaded.steps_done.numpy()) == 2 and loaded.momentum_schedule_steps == 100
    np.testing.assert_allclose(np.asarray(loaded.cluster_features(images)), np.asarray(model.cluster_features(images)),
                               atol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        MoCoV3(tiny_encoder(), temperature=0)
