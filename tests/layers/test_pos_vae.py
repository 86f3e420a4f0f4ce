"""PosVAE: the loss against numpy (reconstruction + closed-form KL, itself checked by Monte Carlo), Gaussian noise
while training, mu at inference, empty batches, mixed precision, saving."""

import keras
import numpy as np
import pytest

from keras_hier.layers import PosVAE

SEMANTIC = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")


@pytest.fixture
def probs():
    logits = np.random.default_rng(1).normal(size=(3, 4))
    return (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype("float32")


def dense(w, x, relu=False):
    y = x @ w[0] + w[1]
    return np.maximum(y, 0) if relu else y


def numpy_forward(vae, probs):
    x = probs[..., None] * np.asarray(vae.prob_kernel) + np.asarray(vae.prob_bias)
    s = np.broadcast_to(SEMANTIC, x.shape)
    hidden = dense(vae.encoder_hidden.get_weights(), np.concatenate([x, s], -1), relu=True)
    mean, log_var = dense(vae.encoder_mean.get_weights(), hidden), dense(vae.encoder_log_var.get_weights(), hidden)
    x_hat = dense(vae.decoder_out.get_weights(), dense(vae.decoder_hidden.get_weights(), np.concatenate([s, mean], -1), True))
    return x, mean, log_var, x_hat


def kl_closed_form(mean, log_var):
    return 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=-1)


def test_kl_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(2)
    mean, log_var = np.array([0.7, -1.2, 0.1]), np.array([-0.5, 0.8, 0.0])
    z = mean + np.exp(0.5 * log_var) * rng.normal(size=(400_000, 3))
    log_q = -0.5 * (((z - mean) ** 2) / np.exp(log_var) + log_var + np.log(2 * np.pi))
    log_p = -0.5 * (z**2 + np.log(2 * np.pi))
    assert np.mean(np.sum(log_q - log_p, axis=1)) == pytest.approx(kl_closed_form(mean, log_var), abs=0.01)


def test_inference_states_and_loss_match_numpy(probs):
    vae = PosVAE(6, SEMANTIC, hidden_units=7, kl_weight=0.5, loss_weight=2.0)
    states = np.asarray(vae(probs))
    x, mean, log_var, x_hat = numpy_forward(vae, probs)
    np.testing.assert_allclose(states, mean, atol=1e-5)
    per_node = 0.5 * np.sum((x - x_hat) ** 2, -1) + 0.5 * kl_closed_form(mean, log_var)
    assert float(vae.losses[0]) == pytest.approx(2.0 * per_node.mean(), rel=1e-5)


def test_training_draws_gaussian_noise():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=256).astype("float32")
    vae = PosVAE(32, SEMANTIC, hidden_units=8, seed=1)
    states = np.asarray(vae(probs, training=True))
    _, mean, log_var, _ = numpy_forward(vae, probs)
    eps = (states - mean) / np.exp(0.5 * log_var)
    assert abs(eps.mean()) < 0.02 and abs(eps.std() - 1) < 0.02 and eps.min() < -3  # N(0, 1), not U[0, 1)
    assert not np.allclose(np.asarray(vae(probs, training=True)), states)


def test_empty_batch_and_mixed_precision(probs):
    vae = PosVAE(6, SEMANTIC, hidden_units=7)
    assert np.asarray(vae(np.zeros((0, 4), "float32"))).shape == (0, 4, 6)
    assert float(vae.losses[0]) == 0.0
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        half = PosVAE(6, SEMANTIC, hidden_units=7)
        out = half(probs, training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == "float16" and half.losses[0].dtype == "float32" and np.isfinite(float(half.losses[0]))


def test_save_load_and_fit(probs, tmp_path):
    inputs = keras.Input((4,))
    states = PosVAE(6, SEMANTIC, hidden_units=7, seed=0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(states)))
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(probs, np.zeros((3, 1)), epochs=2, verbose=0).history["loss"]
    assert np.isfinite(history).all()
    model.save(tmp_path / "vae.keras")
    again = keras.saving.load_model(tmp_path / "vae.keras")
    np.testing.assert_allclose(np.asarray(again(probs)), np.asarray(model(probs)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(again.layers[1].semantic), SEMANTIC)


def test_bad_arguments():
    with pytest.raises(ValueError, match="4 external classes but got probabilities of size 3"):
        PosVAE(6, SEMANTIC)(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="Pass `semantic_vectors`"):
        PosVAE(6)
    with pytest.raises(ValueError, match="positive"):
        PosVAE(0, SEMANTIC)
