"""DINO: the cross-view distillation loss against numpy on the model's own outputs (teacher centred and sharpened,
same-view pairs skipped), the centre as a running mean of the teacher's outputs, the teacher temperature warm-up,
the head's last layer frozen for the first steps, training lowering the loss, saving, errors."""

import keras
import numpy as np
import pytest

from keras_hier.backbones import vit
from keras_hier.models.ssl import DINO
from keras_hier.models.ssl.dino import distillation_loss


def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def dino(**kwargs):
    keras.utils.set_random_seed(0)
    options = dict(output_dim=10, hidden_units=8, bottleneck_units=4, num_local_crops=1, local_size=4,
                   augmentation=keras.layers.Identity(), local_augmentation=keras.layers.Resizing(4, 4))
    options.update(kwargs)
    return DINO(vit((8, 8, 1), "vit_test"), **options)


def test_distillation_loss_skips_same_view_pairs():
    rng = np.random.default_rng(0)
    teacher = [softmax(rng.normal(size=(3, 5))) for _ in range(2)]
    student = [rng.normal(size=(3, 5)).astype("float32") for _ in range(3)]

    def ce(p, s):
        return -(p * (s - np.log(np.exp(s).sum(1, keepdims=True)))).sum(1).mean()

    want = np.mean([ce(teacher[q], student[v]) for q in range(2) for v in range(3) if v != q])
    assert float(distillation_loss(teacher, student)) == pytest.approx(want, rel=1e-5)


def test_loss_and_centre_match_numpy(images):
    model = dino(teacher_temperature=0.07, warmup_teacher_temperature=0.04, teacher_temperature_warmup_steps=10)
    model.center.assign(np.linspace(-0.1, 0.1, 10).astype("float32"))
    views = (images[:4], images[4:8], images[8:12, :4, :4])
    center = np.asarray(model.center).copy()
    loss, z1 = model.view_loss(*views, training=True)  # the teacher's weights equal the student's at the start

    def outputs(v, local=False):
        encoder = model.local_encoder if local else model.encoder
        return np.asarray(model.head(encoder(v, training=True), training=True))

    student = [outputs(views[0]) / 0.1, outputs(views[1]) / 0.1, outputs(views[2], local=True) / 0.1]
    teacher = [outputs(v) for v in views[:2]]
    probs = [softmax((t - center) / 0.04) for t in teacher]  # step 0: the warm-up's first temperature
    assert float(loss) == pytest.approx(float(distillation_loss(probs, student)), rel=1e-4)
    # The centre moved by 1 - 0.9 of the way to the mean teacher output over both large views.
    np.testing.assert_allclose(np.asarray(model.center), 0.9 * center + 0.1 * np.concatenate(teacher).mean(0),
                               atol=1e-6)
    bottleneck = np.asarray(model.head.bottleneck(model.encoder(views[0], training=True)))
    np.testing.assert_allclose(np.asarray(z1), bottleneck, atol=1e-5)  # z_0 for HIRL: the raw bottleneck
    model.steps_done.assign(5)
    assert float(model.teacher_temperature_now()) == pytest.approx(0.055)


def test_frozen_last_layer_then_training(images):
    # A fixed teacher and centre (momenta 1): the student learns to match the teacher, so the loss falls.
    model = dino(freeze_last_layer_steps=2, momentum=1.0, center_momentum=1.0)
    teacher_start = [np.asarray(w).copy() for w in model.teacher_encoder.weights]
    model.compile(optimizer=keras.optimizers.AdamW(0.01, weight_decay=0.0))
    last = np.asarray(model.head.last_direction).copy()
    first_dense = np.asarray(model.head.mlp[0].kernel).copy()
    model.fit(images, batch_size=6, epochs=1, verbose=0)  # 2 steps
    np.testing.assert_array_equal(np.asarray(model.head.last_direction), last)
    assert not np.allclose(np.asarray(model.head.mlp[0].kernel), first_dense)
    before = float(model.view_loss(images, images, images[:, :4, :4], training=False)[0])
    model.fit(images, batch_size=6, epochs=8, verbose=0)
    assert not np.allclose(np.asarray(model.head.last_direction), last)
    assert float(model.view_loss(images, images, images[:, :4, :4], training=False)[0]) < before
    for teacher, first in zip(model.teacher_encoder.weights, teacher_start):
        np.testing.assert_array_equal(np.asarray(teacher), first)


def test_save_and_errors(images, tmp_path):
    model = dino()
    model.compile(optimizer="adamw")
    model.fit(images, batch_size=6, verbose=0)
    model.save(tmp_path / "dino.keras")
    loaded = keras.saving.load_model(tmp_path / "dino.keras")
    np.testing.assert_array_equal(np.asarray(loaded.center), np.asarray(model.center))
    np.testing.assert_allclose(np.asarray(loaded.cluster_features(images)), np.asarray(model.cluster_features(images)),
                               atol=1e-6)
    assert loaded.embedding_dim == 4
    with pytest.raises(ValueError, match="student_temperature"):
        dino(student_temperature=0)
    with pytest.raises(ValueError, match="two views"):
        model.view_loss(images, training=False)
