"""keras_hier/_validation.py and its use: NaN, infinities and out-of-range numbers never pass silently, whether as a
hyper-parameter, a metric's scores or a prototype's features; the error names the argument."""

import math

import keras
import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier._validation import check_finite, check_number, check_numbers

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("value, bounds, ok", [
    (0.5, dict(low=0, low_open=True), True), (0.0, dict(low=0, low_open=True), False),
    (0.0, dict(low=0), True), (NAN, dict(low=0), False), (NAN, {}, False), (INF, {}, False), (-INF, {}, False),
    (1.0, dict(low=0, high=1), True), (1.0, dict(low=0, high=1, high_open=True), False),
    (np.float32(2.0), dict(low=1, integer=True), True), (2.5, dict(low=1, integer=True), False),
    (True, {}, False), ("1", {}, False), (np.array([1.0]), {}, False), (np.array(1.0), {}, True),
])
def test_check_number(value, bounds, ok):
    if ok:
        assert check_number(value, "x", **bounds) == float(value)
    else:
        with pytest.raises(ValueError, match="`x` must be"):
            check_number(value, "x", **bounds)


def test_check_numbers_lengths_and_items():
    np.testing.assert_array_equal(check_numbers(0.25, "std", length=(1, 3), low=0, low_open=True), [0.25])
    with pytest.raises(ValueError, match=r"`std\[1\]` must be a finite number in \(0, inf\); got -0.25"):
        check_numbers([0.2, -0.25, 0.3], "std", length=(1, 3), low=0, low_open=True)
    with pytest.raises(ValueError, match="`mean` must hold 1 or 3 value"):
        check_numbers([0.1, 0.2], "mean", length=(1, 3))
    with pytest.raises(ValueError, match="`image_size` must hold 2 value"):
        check_numbers([], "image_size", length=2)
    first = r"`y_score` holds 2 NaN or infinite value\(s\) \(the first at index \(1, 0\)\)"
    with pytest.raises(ValueError, match=first):
        check_finite([[0.0, 1.0], [NAN, INF]], "y_score")


def swav(**kwargs):
    from keras_hier.models.ssl import SwAV
    from tests.models.ssl.conftest import tiny_encoder

    return SwAV(tiny_encoder(), projection_dim=4, hidden_units=4, num_prototypes=3, **kwargs)


def dino(**kwargs):
    from keras_hier.backbones import vit
    from keras_hier.models.ssl import DINO

    return DINO(vit((8, 8, 1), "vit_test"), output_dim=8, hidden_units=8, bottleneck_units=6, local_size=4, **kwargs)


@pytest.mark.parametrize("make, name", [
    (lambda: swav(temperature=NAN), "temperature"),
    (lambda: swav(epsilon=NAN), "epsilon"),
    (lambda: swav(temperature=INF), "temperature"),
    (lambda: dino(student_temperature=NAN), "student_temperature"),
    (lambda: dino(momentum=NAN), "momentum"),
    (lambda: __import__("keras_hier").layers.CosineClassifier(3, scale=NAN), "scale"),
    (lambda: __import__("keras_hier").layers.PosVAE(4, kl_weight=NAN), "kl_weight"),
    (lambda: __import__("keras_hier").layers.ProjectionHead(4, batch_norm_epsilon=NAN), "batch_norm_epsilon"),
    (lambda: __import__("keras_hier").layers.RandomApply(keras.layers.Identity(), probability=NAN), "probability"),
    (lambda: __import__("keras_hier").optimizers.CoupledSGD(0.1, weight_decay=NAN), "weight_decay"),
    (lambda: __import__("keras_hier").optimizers.ScheduledAdamW(weight_decay_end=NAN), "weight_decay_end"),
    (lambda: __import__("keras_hier").datasets.pipeline.make_dataset(
        np.zeros((2, 4, 4, 1), np.uint8), [0, 1], normalize="standardize", std=[-0.25]), r"std"),
    (lambda: __import__("keras_hier").datasets.pipeline.make_dataset(
        np.zeros((2, 4, 4, 1), np.uint8), [0, 1], normalize="standardize", mean=[NAN]), r"mean"),
])
def test_bad_hyper_parameters_name_the_argument(make, name):
    with pytest.raises(ValueError, match=rf"`{name}` must"):
        make()


def test_metrics_refuse_nan_scores():
    from keras_hier.metrics import hit_at_k, knn_accuracies, mean_image_average_precision

    y_true = np.array([[1, 0, 1], [0, 1, 0]])
    scores = np.array([[0.9, NAN, 0.1], [0.2, 0.8, 0.1]])
    with pytest.raises(ValueError, match="`y_score` holds 1 NaN"):
        mean_image_average_precision(y_true, scores)  # was 0.333
    tree = Hierarchy.from_nested({"r": {"A": ["a", "b"], "c": None}})
    with pytest.raises(ValueError, match="`logits` holds"):
        hit_at_k(np.full((2, 4), NAN), [0, 1], tree, k=(1, 2))  # was {1: 0.0, 2: 1.0}
    train = np.array([[1.0, 0.0], [NAN, 1.0]])
    with pytest.raises(ValueError, match="`training_features` holds 1 NaN"):
        knn_accuracies(train, [0, 1], [[1.0, 0.0]], [0], ks=(1,))
    with pytest.raises(ValueError, match="`temperature` must"):
        knn_accuracies([[1.0, 0.0]], [0], [[1.0, 0.0]], [0], ks=(1,), temperature=NAN)


def test_prototype_functions_refuse_nan():
    from keras_hier.models.compositional_transfer import transfer_weights
    from keras_hier.prototypes import class_prototypes

    w, p, counts = [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.6, 0.8]], [500, 3]
    for name, kwargs in (("temperature", dict(temperature=NAN)), ("mix", dict(mix=NAN)), ("k", dict(k=NAN))):
        with pytest.raises(ValueError, match=f"`{name}` must"):
            transfer_weights(w, p, counts, **{"k": 20, **kwargs})
    with pytest.raises(ValueError, match="`prototypes` holds"):
        transfer_weights(w, [[1.0, 0.0], [NAN, 0.8]], counts, k=20)
    with pytest.raises(ValueError, match="`features` holds"):
        class_prototypes(None, (np.array([[1.0, NAN]]), np.array([0])))
    assert not math.isnan(float(transfer_weights(w, p, counts, k=20)[1, 0]))


def test_small_crops_must_cover_a_patch():
    from keras_hier.backbones import vit
    from keras_hier.models.ssl import DINO, IBOT

    with pytest.raises(ValueError, match=r"`local_size` \(2 pixels\).*'vit_test'.*4-pixel patches"):
        DINO(vit((8, 8, 1), "vit_test"), local_size=2)  # failed inside Conv2D at fit
    with pytest.raises(ValueError, match=r"`local_size` \(12 pixels\).*'vit_small'.*16-pixel"):
        DINO(vit((28, 28, 1)))  # the default 12-pixel crops, the default preset's 16-pixel patches
    with pytest.raises(ValueError, match="`local_size` must"):
        IBOT(vit((8, 8, 1), "vit_test", mask_token=True), local_size=0)
    assert DINO(vit((8, 8, 1), "vit_test"), local_size=2, num_local_crops=0).num_local_crops == 0


def test_image_size_of_files_dataset_is_checked_at_construction():
    from keras_hier.datasets.image_folder import files_dataset

    for size, match in (((0, 0), r"`image_size\[0\]` must be an integer in \[1, inf\)"),
                        ((32,), "`image_size` must hold 2 value"), ((32.5, 32), "image_size")):
        with pytest.raises(ValueError, match=match):
            files_dataset(["a.png"], [0], image_size=size)
    with pytest.raises(ValueError, match="`channels` must be 1"):
        files_dataset(["a.png"], [0], image_size=(8, 8), channels=2)


def test_random_apply_keeps_the_compute_dtype_at_every_probability():
    from keras_hier.layers import RandomApply

    images = np.random.default_rng(0).uniform(size=(4, 8, 8, 3)).astype("float32")
    for probability in (0.0, 0.5, 1.0):
        layer = RandomApply(keras.layers.RandomBrightness(0.2, value_range=(0, 1), seed=0), probability,
                            seed=0, dtype="mixed_float16")
        out = layer(images, training=True)
        assert keras.backend.standardize_dtype(out.dtype) == "float16", probability


def test_a_non_finite_batch_stops_the_step_before_the_weights():
    """HIRL(SwAV) on images with one NaN pixel: the step stops with an error naming the batch, and the weights stay
    finite (before, it trained on, ending with NaN kernels while the displayed losses stayed finite)."""
    import tensorflow as tf

    from keras_hier.models import HIRL

    images = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    images[3, 2, 2, 0] = NAN
    model = HIRL(swav(num_local_crops=1, local_size=4), num_prototypes=(4, 2), num_negative_paths=2, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="SwAV: the input batch holds NaN"):
        model.fit(images, np.arange(8), batch_size=8, epochs=1, verbose=0)
    assert all(np.isfinite(np.asarray(v)).all() for v in model.weights)


def test_stateful_metrics_turn_nan_scores_into_a_nan_result():
    from keras_hier.metrics import HitAtK, MeanAveragePrecision, MeanImageAveragePrecision, ShotGroupAccuracy

    tree = Hierarchy.from_nested({"r": {"A": ["a", "b"], "c": None}})
    y_true, scores = np.array([[1, 0, 1], [0, 1, 0]], "float32"), np.array([[0.9, NAN, 0.1], [0.2, 0.8, 0.1]])
    for metric, labels, good, bad in (
            (MeanImageAveragePrecision(), y_true, scores[1:], scores),
            (MeanAveragePrecision(3), y_true, np.nan_to_num(scores), scores),
            (HitAtK(tree, k=1), np.array([0, 1]), np.zeros((2, 4), "float32"), np.full((2, 4), NAN)),
            (ShotGroupAccuracy([500, 50, 5], group="total"), np.array([0, 1]), np.eye(3)[:2], scores[:, :3])):
        metric.update_state(labels[: len(good)], good)
        assert np.isfinite(float(metric.result())), metric.name
        metric.update_state(labels, bad)
        assert np.isnan(float(metric.result())), metric.name
    from keras_hier.metrics import shot_accuracies

    with pytest.raises(ValueError, match="`y_pred` holds"):
        shot_accuracies([0, 1], scores[:, :3], [500, 50, 5])
