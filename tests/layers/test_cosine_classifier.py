"""CosineClassifier: logits are scaled cosines (hand-computed), learnable scale, weights as unit vectors, saving."""

import keras
import numpy as np
import pytest

from keras_hier.layers import CosineClassifier


def test_logits_are_scaled_cosines():
    layer = CosineClassifier(2, scale=10.0)
    layer.build((None, 2))
    layer.set_class_weights([[3.0, 0.0], [1.0, 1.0]])  # directions (1, 0) and (1, 1) / sqrt 2
    logits = np.asarray(layer(np.array([[0.0, 5.0], [2.0, 0.0]], "float32")))
    np.testing.assert_allclose(logits, [[0.0, 10 / np.sqrt(2)], [10.0, 10 / np.sqrt(2)]], atol=1e-5)
    np.testing.assert_allclose(layer.normalized_weights(), [[1, 0], [2**-0.5, 2**-0.5]], atol=1e-6)
    assert np.asarray(layer(np.zeros((1, 2), "float32"))).tolist() == [[0.0, 0.0]]  # zero features: no NaN


def test_learnable_scale_trains_and_fixed_does_not():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    for learn in (False, True):
        inputs = keras.Input((4,))
        layer = CosineClassifier(2, scale=2.0, learn_scale=learn)
        model = keras.Model(inputs, layer(inputs))
        model.compile(optimizer=keras.optimizers.Adam(0.1), loss=keras.losses.SparseCategoricalCrossentropy(True))
        model.fit(x, y, epochs=5, verbose=0)
        assert (layer.current_scale != pytest.approx(2.0)) == learn


def test_mixed_precision_save_and_errors(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((4,))
        half = CosineClassifier(3, learn_scale=True)  # the compute dtype out, as Keras layers do
        model = keras.Model(inputs, CosineClassifier(3, learn_scale=True, dtype="float32")(inputs))  # a last layer
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    assert model(x).dtype == "float32" and half(x).dtype == "float16"
    half.set_class_weights(model.layers[1].normalized_weights())
    np.testing.assert_allclose(np.asarray(half(x), np.float32), np.asarray(model(x)), atol=0.02)
    model.save(tmp_path / "cos.keras")
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(tmp_path / "cos.keras")(x)), np.asarray(model(x)),
                               atol=1e-6)
    with pytest.raises(ValueError, match=r"`num_classes` must be an integer in \[1, inf\); got 0"):
        CosineClassifier(0)
    with pytest.raises(ValueError, match=r"\[3, 4\]"):
        model.layers[1].set_class_weights(np.zeros((2, 4)))
