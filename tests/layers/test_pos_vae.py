"""PosVAE: the loss against numpy (reconstruction of p or of x + closed-form KL, itself checked by Monte Carlo),
mu keeps depending on p after training on the VAE loss alone, Gaussian noise while training, mu (or a sample) at
inference, empty batches, mixed precision, saving."""

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
    decoded = dense(vae.decoder_out.get_weights(), dense(vae.decoder_hidden.get_weights(), np.concatenate([s, mean], -1), True))
    return x, mean, log_var, decoded


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
    """The paper's loss: the Gaussian log-likelihood of p (MSE scaled by 1 / (2 std^2)) plus the KL term."""
    vae = PosVAE(6, SEMANTIC, hidden_units=7, kl_weight=0.5, loss_weight=2.0, probability_std=0.2)
    states = np.asarray(vae(probs))
    _, mean, log_var, p_hat = numpy_forward(vae, probs)
    assert p_hat.shape == (3, 4, 1)
    np.testing.assert_allclose(states, mean, atol=1e-5)
    per_node = (probs - p_hat[..., 0]) ** 2 / (2 * 0.2**2) + 0.5 * kl_closed_form(mean, log_var)
    assert float(vae.losses[0]) == pytest.approx(2.0 * per_node.mean(), rel=1e-5)


def test_embedding_target_matches_numpy(probs):
    """The reference code's variant: reconstruct x = p w + b with 0.5 ||x - x_hat||^2; w, b start in U[0, 1)."""
    vae = PosVAE(6, SEMANTIC, hidden_units=7, reconstruct="embedding")
    vae(probs)
    x, mean, log_var, x_hat = numpy_forward(vae, probs)
    per_node = 0.5 * np.sum((x - x_hat) ** 2, -1) + kl_closed_form(mean, log_var)
    assert float(vae.losses[0]) == pytest.approx(per_node.mean(), rel=1e-5)
    for w in (vae.prob_kernel, vae.prob_bias):
        w = np.asarray(w)
        assert w.min() >= 0 and w.max() < 1 and w.max() > 0.05  # not U(-0.05, 0.05), Keras' "random_uniform"
    assert not np.allclose(np.asarray(vae.prob_kernel), np.asarray(vae.prob_bias))


def test_log_probability_target_matches_numpy(probs):
    """The remedy: the encoder reads l = 1 + log(max(p, 1e-6)) / log(1e6), the decoder reconstructs l standardised
    per class over the batch, under the Gaussian likelihood of std `probability_std`."""
    from keras_hier.layers.pos_vae import standardize_over_batch

    vae = PosVAE(6, SEMANTIC, hidden_units=7, reconstruct="log_probability", probability_std=0.2)
    vae(probs)
    tiny = np.concatenate([probs[:1], np.full((1, 4), 1e-9, "float32")])
    np.testing.assert_allclose(np.asarray(vae.encoder_input(tiny))[1], 0.0, atol=1e-6)  # below the floor: 0
    level = 1 + np.log(probs) / np.log(1e6)
    np.testing.assert_allclose(np.asarray(vae.encoder_input(probs)), level, atol=1e-6)
    _, mean, log_var, l_hat = numpy_forward(vae, level)  # x = l w + b
    target = (level - level.mean(0)) / np.sqrt(level.var(0) + 1e-6)
    np.testing.assert_allclose(np.asarray(standardize_over_batch(level)), target, atol=1e-5)
    per_node = (target - l_hat[..., 0]) ** 2 / (2 * 0.2**2) + kl_closed_form(mean, log_var)
    assert float(vae.losses[0]) == pytest.approx(per_node.mean(), rel=1e-5)
    # A batch of one has nothing to standardise: a zero target, a finite loss.
    vae(probs[:1])
    assert np.isfinite(float(vae.losses[-1]))
    assert PosVAE.from_config(vae.get_config()).reconstruct == "log_probability"


def fit_on_vae_loss(reconstruct, probabilities, epochs=12):
    keras.utils.set_random_seed(0)
    semantic = np.random.default_rng(4).normal(size=(4, 8)).astype("float32")
    vae = PosVAE(16, semantic, hidden_units=32, reconstruct=reconstruct, seed=0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, vae(inputs))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(probabilities, epochs=epochs, batch_size=64, verbose=0)
    return vae, np.asarray(vae.encode(probabilities)[0])


def test_mu_keeps_depending_on_p_after_training_on_the_vae_loss_alone():
    """Reconstructing p, the encoder cannot lower the loss by forgetting p; reconstructing x = p w + b it can
    (w shrinks), and mu stops moving with p."""
    probabilities = np.random.default_rng(5).dirichlet(np.full(4, 0.5), size=1024).astype("float32")
    vae, mean = fit_on_vae_loss("probability", probabilities)
    spread = mean.std(axis=0).mean()
    for k in range(4):  # a linear function of p_k explains almost all of mu_k's variation
        design = np.c_[probabilities[:, k], np.ones(len(probabilities))]
        residual = mean[:, k] - design @ np.linalg.lstsq(design, mean[:, k], rcond=None)[0]
        assert residual.var() < 0.1 * mean[:, k].var()
    _, collapsed = fit_on_vae_loss("embedding", probabilities)
    assert spread > 0.03 and collapsed.std(axis=0).mean() < 0.1 * spread


def test_training_draws_gaussian_noise():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=256).astype("float32")
    vae = PosVAE(32, SEMANTIC, hidden_units=8, seed=1)
    states = np.asarray(vae(probs, training=True))
    _, mean, log_var, _ = numpy_forward(vae, probs)
    eps = (states - mean) / np.exp(0.5 * log_var)
    assert abs(eps.mean()) < 0.02 and abs(eps.std() - 1) < 0.02 and eps.min() < -3  # N(0, 1), not U[0, 1)
    assert not np.allclose(np.asarray(vae(probs, training=True)), states)


def test_sampled_inference(probs):
    vae = PosVAE(6, SEMANTIC, hidden_units=7, inference="sample", seed=3)
    first, second = np.asarray(vae(probs)), np.asarray(vae(probs))
    assert not np.allclose(first, second)
    np.testing.assert_allclose(first.mean(), numpy_forward(vae, probs)[1].mean(), atol=0.5)


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
    with pytest.raises(ValueError, match="n >= 4"):
        PosVAE(6, SEMANTIC).information(np.full((2, 4), 0.25, "float32"))
    for kwargs, message in (({"reconstruct": "x"}, "reconstruct"), ({"inference": "mode"}, "inference"),
                            ({"probability_std": 0}, "probability_std")):
        with pytest.raises(ValueError, match=message):
            PosVAE(6, SEMANTIC, **kwargs)
