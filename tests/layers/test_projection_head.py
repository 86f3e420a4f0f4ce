"""ProjectionHead: the HIRL head computed by hand (Dense, BatchNorm, ReLU, Dense, L2 norm), training vs inference
batch norm, float32 output under mixed precision, saving."""

import keras
import numpy as np
import pytest

from keras_hier.layers import ProjectionHead


def test_matches_the_layers_by_hand():
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    head = ProjectionHead(4)
    out = np.asarray(head(x, training=False))
    (w0,) = head.hidden[0][0].get_weights()
    gamma, beta, mean, var = head.hidden[0][1].get_weights()
    h = np.maximum((x @ w0 - mean) / np.sqrt(var + 1e-5) * gamma + beta, 0)  # PyTorch's epsilon
    w1, b1 = head.out.get_weights()
    y = h @ w1 + b1
    np.testing.assert_allclose(out, y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-6), atol=1e-5)
    # Training mode normalises with the batch statistics instead (the moving averages at their start differ).
    assert not np.allclose(np.asarray(head(x, training=True)), out)
    assert ProjectionHead(4, num_layers=1, normalize=False)(x).shape == (6, 4)


def test_batch_norms_are_pytorchs():
    # BatchNorm1d's defaults: running statistics <- 0.9 * running + 0.1 * batch, epsilon 1e-5 (Keras': 0.99, 1e-3).
    x = np.random.default_rng(4).normal(size=(8, 5)).astype("float32")
    head = ProjectionHead(4, hidden_units=6, output_batch_norm=True)
    head(x, training=True)
    (w0,) = head.hidden[0][0].get_weights()
    bn = head.hidden[0][1]
    assert (bn.momentum, bn.epsilon, head.out_bn.momentum, head.out_bn.epsilon) == (0.9, 1e-5, 0.9, 1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_mean), 0.1 * (x @ w0).mean(0), atol=1e-6)
    keras_like = ProjectionHead(4, batch_norm_momentum=0.99, batch_norm_epsilon=1e-3)
    keras_like(x)
    assert (keras_like.hidden[0][1].momentum, keras_like.hidden[0][1].epsilon) == (0.99, 1e-3)
    assert ProjectionHead.from_config(keras_like.get_config()).batch_norm_momentum == 0.99
    with pytest.raises(ValueError, match="batch_norm_momentum"):
        ProjectionHead(4, batch_norm_momentum=1.0)
    # No bias in the last Dense (MoCo v3's predictor).
    bias_free = ProjectionHead(4, output_bias=False, normalize=False)
    bias_free(x)
    assert len(bias_free.out.weights) == 1


def test_mixed_precision_saving_and_errors(tmp_path):
    keras.utils.set_random_seed(0)  # and 32 hidden units: with 4, a row can meet all-dead ReLUs (a zero vector)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((5,))
        head = ProjectionHead(4, num_layers=3, hidden_units=32)
        model = keras.Model(inputs, head(inputs))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = np.random.default_rng(1).normal(size=(3, 5)).astype("float32")
    assert model(x).dtype == "float16"  # the compute dtype, as Keras layers
    assert {w.dtype for w in head.weights} == {"float32"} and head.out.compute_dtype == "float16"
    np.testing.assert_allclose(np.linalg.norm(np.asarray(model(x), np.float32), axis=1), 1.0, atol=5e-3)  # float16
    model.save(tmp_path / "head.keras")
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(tmp_path / "head.keras")(x)), np.asarray(model(x)),
                               atol=1e-3)
    with pytest.raises(ValueError, match="positive"):
        ProjectionHead(4, num_layers=0)


def test_base_method_variants_and_config():
    x = np.random.default_rng(2).normal(size=(6, 5)).astype("float32")
    moco = ProjectionHead(3, hidden_units=7, batch_norm=False)
    moco(x)
    (w0, b0), (w1, b1) = moco.hidden[0][0].get_weights(), moco.out.get_weights()
    y = np.maximum(x @ w0 + b0, 0) @ w1 + b1
    np.testing.assert_allclose(np.asarray(moco(x)), y / np.linalg.norm(y, axis=1, keepdims=True), atol=1e-5)
    simsiam = ProjectionHead(4, num_layers=3, output_batch_norm=True, normalize=False)
    out = np.asarray(simsiam(x, training=True))
    # The output batch norm has no scale or offset: in training each unit has mean 0 over the batch.
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-4)
    assert len(simsiam.out.get_weights()) == 1  # no bias before a batch norm
    config = simsiam.get_config()
    assert (config["num_layers"], config["hidden_units"], config["output_batch_norm"]) == (3, 4, True)
    assert ProjectionHead.from_config(config).output_batch_norm


def test_dense_layers_start_as_pytorchs_linear():
    # nn.Linear's default: kernel and bias uniform in +-1/sqrt(fan_in) (fan_in 64 first, then 32).
    keras.utils.set_random_seed(0)
    head = ProjectionHead(16, hidden_units=32, batch_norm=False, normalize=False)
    head.build((None, 64))
    (w0, b0), (w1, b1) = head.hidden[0][0].get_weights(), head.out.get_weights()
    for w, b, fan_in in ((w0, b0, 64), (w1, b1, 32)):
        bound = fan_in ** -0.5
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
        assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound  # not Keras' zeros
    keras_init = ProjectionHead(16, hidden_units=32, batch_norm=False, weight_init="keras")
    keras_init.build((None, 64))
    assert not keras_init.out.get_weights()[1].any()
    assert ProjectionHead.from_config(keras_init.get_config()).weight_init == "keras"
    with pytest.raises(ValueError, match="weight_init"):
        ProjectionHead(4, weight_init="xavier")
