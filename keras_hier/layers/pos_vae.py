"""`PosVAE`: node states of the external classes from a classifier's probabilities, by a conditional VAE."""

import keras
import numpy as np
from keras import ops

from keras_hier._validation import check_number

RECONSTRUCT = ("probability", "log_probability", "embedding")
# "log_probability": probabilities below this count as it (log-scaled input in [0, 1]).
LOG_FLOOR = 1e-6
INFERENCE = ("mean", "sample")


def standardize_over_batch(values, epsilon=1e-6):
    """`values` [batch, classes] standardised per class over the batch, (v - mean) / sqrt(var + epsilon), as a
    stop-gradient float32 target; 0 where a class does not vary (a batch of one, or an empty batch: no NaN).

    Example:
    >>> import numpy as np
    >>> np.round(np.asarray(standardize_over_batch(np.array([[0.0, 5.0], [2.0, 5.0]], "float32"))), 3).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    values = ops.stop_gradient(ops.cast(values, "float32"))
    count = ops.maximum(ops.cast(ops.shape(values)[0], "float32"), 1.0)
    mean = ops.sum(values, axis=0, keepdims=True) / count
    variance = ops.sum(ops.square(values - mean), axis=0, keepdims=True) / count
    return (values - mean) / ops.sqrt(variance + epsilon)


@keras.saving.register_keras_serializable(package="keras_hier")
class PosVAE(keras.layers.Layer):
    """A conditional VAE that turns an image's probability of each external class into that class's node state.

    For external class k with probability p_k and semantic vector s_k (e.g. GloVe), as Huang et al. §3.3: the
    encoder projects p_k into the semantic space, x_k = p_k * w + b (w, b learnt vectors of the semantic size,
    drawn from U[0, 1) as the reference code), and maps [x_k; s_k] through an MLP (one hidden layer, ReLU) to
    mu_k and log sigma_k^2; the state is h_k = mu_k + sigma_k * eps with eps ~ N(0, I) while training. The
    decoder MLP([s_k; h_k]) reconstructs p_k, scored by the Gaussian log-likelihood
    (p_k - p̂_k)^2 / (2 probability_std^2) (the paper's MSE on the probability). The layer adds
    `loss_weight * (reconstruction + kl_weight * KL(N(mu, sigma^2) || N(0, I)))`, averaged over images and
    classes, with `add_loss` (float32; 0 for an empty batch). The node states come out in the compute dtype.

    `reconstruct="embedding"` reconstructs x_k instead with 0.5 ||x_k - x̂_k||^2 (the reference code). Then
    the loss can fall by shrinking w, which makes x_k, and so mu_k, forget p_k: trained on its own loss,
    |w| falls from 0.1 to 0.001. A probability in [0, 1] under a unit-variance Gaussian is worth less than the
    KL cost of encoding it (mu_k would collapse to 0 as well); `probability_std=0.1` gives the weight the
    reference code's loss has at initialisation (0.5 ||w||^2 (p - p̂)^2 with w ~ U[0, 1)^300, ||w||^2 = 100).

    `reconstruct="log_probability"` is a remedy for many external classes (not in the paper). With ImageNet's
    ~1,000 classes almost every p_k is near 0 and varies across images by far less than `probability_std`, so the
    paper's reconstruction term is worth less than the KL cost of encoding p_k and the posterior collapses to the
    prior: mu_k stops depending on p_k (docs/multilabel.md measures it at 10, 100 and 1,000 classes). The remedy
    feeds the encoder the log-scaled probability l_k = 1 + log(max(p_k, 1e-6)) / log(1e6) in [0, 1] (x_k = l_k * w +
    b) and has the decoder reconstruct l_k standardised per class over the batch ((l_k - mean) / std, a
    stop-gradient target), under the same Gaussian likelihood: keeping l_k to within `probability_std` of its spread
    is then worth log(1 / probability_std) nats per node whatever the number of classes.

    Args:
        latent_dim: size of the node states h.
        semantic_vectors: float array [num_classes, semantic_dim], the external classes' semantic vectors
            (stored as non-trainable weights). Omit it only when loading.
        hidden_units: hidden size of the encoder and decoder (the paper: 256).
        kl_weight: weight of the KL term (the paper: 1).
        loss_weight: lambda, the weight of the whole VAE loss in the model's loss (the paper: 1).
        reconstruct: `"probability"` (the paper), `"log_probability"` (the remedy above) or `"embedding"` (the
            reference code's x_k).
        probability_std: the standard deviation of the Gaussian likelihood on p (`"probability"` only).
        inference: the states at inference, `"mean"` (mu) or `"sample"` (mu + sigma * eps, as the paper).
        seed: seed of the reparameterisation noise.
        num_classes, semantic_dim: sizes (from `semantic_vectors`; set by `from_config`).

    Call:
        probabilities [batch, num_classes] -> node states [batch, num_classes, latent_dim].

    Example:
    >>> import numpy as np
    >>> vae = PosVAE(8, np.eye(3, dtype="float32"), hidden_units=16)
    >>> tuple(vae(np.full((2, 3), 1 / 3, "float32")).shape), len(vae.losses)
    ((2, 3, 8), 1)
    """

    def __init__(
        self,
        latent_dim,
        semantic_vectors=None,
        hidden_units=256,
        kl_weight=1.0,
        loss_weight=1.0,
        reconstruct="probability",
        probability_std=0.1,
        inference="mean",
        seed=None,
        num_classes=None,
        semantic_dim=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(latent_dim) < 1 or int(hidden_units) < 1:
            raise ValueError(f"`latent_dim` and `hidden_units` must be positive; got {latent_dim}, {hidden_units}.")
        check_number(kl_weight, "kl_weight", low=0)
        check_number(loss_weight, "loss_weight", low=0)
        if reconstruct not in RECONSTRUCT:
            raise ValueError(f"Unknown `reconstruct` {reconstruct!r}: use one of {RECONSTRUCT}.")
        if inference not in INFERENCE:
            raise ValueError(f"Unknown `inference` {inference!r}: use one of {INFERENCE}.")
        if not probability_std > 0:
            raise ValueError(f"`probability_std` must be > 0; got {probability_std}.")
        if semantic_vectors is not None:
            semantic_vectors = np.asarray(semantic_vectors, np.float32)
            if semantic_vectors.ndim != 2:
                raise ValueError(f"`semantic_vectors` must be [num_classes, dim]; got {semantic_vectors.shape}.")
            num_classes, semantic_dim = semantic_vectors.shape
        elif num_classes is None or semantic_dim is None:
            raise ValueError("Pass `semantic_vectors`: one vector per external class.")
        self.latent_dim = int(latent_dim)
        self.hidden_units = int(hidden_units)
        self.kl_weight = float(kl_weight)
        self.loss_weight = float(loss_weight)
        self.reconstruct = reconstruct
        self.probability_std = float(probability_std)
        self.inference = inference
        self.seed = seed
        self.num_classes, self.semantic_dim = int(num_classes), int(semantic_dim)
        self._semantic_init = semantic_vectors
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.encoder_hidden = keras.layers.Dense(self.hidden_units, activation="relu", name="encoder_hidden")
        self.encoder_mean = keras.layers.Dense(self.latent_dim, name="encoder_mean")
        self.encoder_log_var = keras.layers.Dense(self.latent_dim, name="encoder_log_var")
        self.decoder_hidden = keras.layers.Dense(self.hidden_units, activation="relu", name="decoder_hidden")
        out = self.semantic_dim if reconstruct == "embedding" else 1
        self.decoder_out = keras.layers.Dense(out, name="decoder_out")

    def build(self, input_shape):
        if input_shape[-1] is not None and int(input_shape[-1]) != self.num_classes:
            raise ValueError(
                f"PosVAE has {self.num_classes} external classes but got probabilities of size {input_shape[-1]}."
            )
        init = self._semantic_init
        self.semantic = self.add_weight(
            name="semantic", shape=(self.num_classes, self.semantic_dim), trainable=False,
            initializer=keras.initializers.Constant(init) if init is not None else "zeros",
        )
        # The paper's prob embedding: W, b in R^{semantic dim}, started from U[0, 1) as the official code.
        for name in ("prob_kernel", "prob_bias"):
            weight = self.add_weight(name=name, shape=(self.semantic_dim,),
                                     initializer=keras.initializers.RandomUniform(0.0, 1.0))
            setattr(self, name, weight)
        s, h = self.semantic_dim, self.latent_dim
        self.encoder_hidden.build((None, None, 2 * s))
        self.encoder_mean.build((None, None, self.hidden_units))
        self.encoder_log_var.build((None, None, self.hidden_units))
        self.decoder_hidden.build((None, None, s + h))
        self.decoder_out.build((None, None, self.hidden_units))
        self._semantic_init = None
        self.built = True

    def _semantic_for(self, batch_like):
        semantic = ops.cast(self.semantic, self.compute_dtype)[None]
        return ops.broadcast_to(semantic, (ops.shape(batch_like)[0], self.num_classes, self.semantic_dim))

    def encoder_input(self, probabilities):
        """What the encoder reads of each probability: p itself, or its log-scaled value l in [0, 1] with
        `reconstruct="log_probability"`; float32 [batch, classes]."""
        p = ops.cast(probabilities, "float32")
        if self.reconstruct != "log_probability":
            return p
        return 1.0 + ops.log(ops.maximum(p, LOG_FLOOR)) / float(np.log(1.0 / LOG_FLOOR))

    def embed(self, probabilities):
        """x = p * w + b (or l * w + b, see `encoder_input`): [batch, classes] -> [batch, classes, semantic_dim]."""
        p = ops.cast(self.encoder_input(probabilities), self.compute_dtype)[..., None]
        return p * ops.cast(self.prob_kernel, self.compute_dtype) + ops.cast(self.prob_bias, self.compute_dtype)

    def encode(self, probabilities):
        """(mu, log sigma^2), each [batch, classes, latent_dim]."""
        x = self.embed(probabilities)
        hidden = self.encoder_hidden(ops.concatenate([x, self._semantic_for(x)], axis=-1))
        return self.encoder_mean(hidden), self.encoder_log_var(hidden)

    def decode(self, states):
        """The reconstruction from node states [batch, classes, latent_dim]: p̂ [batch, classes, 1], or x̂
        [batch, classes, semantic_dim] with `reconstruct="embedding"`."""
        semantic = self._semantic_for(states)
        return self.decoder_out(self.decoder_hidden(ops.concatenate([semantic, states], axis=-1)))

    def call(self, probabilities, training=None):
        mean, log_var = self.encode(probabilities)
        if training or self.inference == "sample":
            noise = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
            states = mean + ops.exp(0.5 * log_var) * noise
        else:
            states = mean
        if self.reconstruct == "embedding":
            target, scale = self.embed(probabilities), 1.0
        elif self.reconstruct == "log_probability":
            target, scale = standardize_over_batch(self.encoder_input(probabilities))[..., None], self.probability_std
        else:
            target, scale = ops.convert_to_tensor(probabilities)[..., None], self.probability_std
        target = ops.cast(target, "float32")
        estimate = ops.cast(self.decode(states), "float32")
        mean, log_var = ops.cast(mean, "float32"), ops.cast(log_var, "float32")
        reconstruction = 0.5 * ops.sum(ops.square(target - estimate), axis=-1) / scale**2
        kl = 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1)
        per_node = reconstruction + self.kl_weight * kl
        count = ops.maximum(ops.cast(ops.size(per_node), "float32"), 1.0)
        self.add_loss(self.loss_weight * ops.sum(per_node) / count)
        return ops.cast(states, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes, self.latent_dim)

    def information(self, probabilities):
        """What the posterior keeps of the probabilities, measured on `probabilities` [n, classes] (NumPy, n >= 4):
        a dict of `r2_probability` and `r2_log_probability` (R² of p and of log max(p, 1e-6) predicted linearly from
        mu, one ridge regression per class fitted on half of the images and scored on the other half, pooled over
        classes; scale-free, so it still finds p in variations of mu far below the noise), how much mu varies over
        images (`mu_spread`, the mean standard deviation) against the posterior's own `sigma` (mean), the mean KL to
        the prior per latent dimension (`kl_per_dimension`, nats) and the number of dimensions whose KL exceeds
        0.01 nats (`active_dimensions`)."""
        p = np.asarray(probabilities, np.float32)
        if p.ndim != 2 or len(p) < 4:
            raise ValueError(f"`information` needs probabilities [n >= 4, classes]; got shape {p.shape}.")
        mean, log_var = (np.asarray(t, np.float64) for t in self.encode(p))
        kl = 0.5 * (np.exp(log_var) + mean**2 - 1.0 - log_var).mean(axis=(0, 1))
        half = len(p) // 2
        scores = {}
        for name, target in (("probability", p), ("log_probability", np.log(np.maximum(p, LOG_FLOOR)))):
            design = np.concatenate([mean, np.ones(mean.shape[:2] + (1,))], axis=-1).transpose(1, 0, 2)
            fit, test = design[:, :half], design[:, half:]
            y = target.T.astype(np.float64)  # [classes, n]
            gram = np.einsum("kni,knj->kij", fit, fit)
            ridge = 1e-3 * np.einsum("kii->k", gram)[:, None, None] / gram.shape[-1] * np.eye(gram.shape[-1])
            gram, moment = gram + ridge, np.einsum("kni,kn->ki", fit, y[:, :half])
            coef = np.linalg.solve(gram, moment[..., None])[..., 0]
            residual = y[:, half:] - np.einsum("kni,ki->kn", test, coef)
            spread = y[:, half:] - y[:, half:].mean(axis=1, keepdims=True)
            scores[f"r2_{name}"] = float(1.0 - (residual**2).sum() / max((spread**2).sum(), 1e-30))
        return {**scores, "mu_spread": float(mean.std(axis=0).mean()), "sigma": float(np.exp(0.5 * log_var).mean()),
                "kl_per_dimension": float(kl.mean()), "active_dimensions": int((kl > 0.01).sum())}

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            hidden_units=self.hidden_units,
            kl_weight=self.kl_weight,
            loss_weight=self.loss_weight,
            reconstruct=self.reconstruct,
            probability_std=self.probability_std,
            inference=self.inference,
            seed=self.seed,
            num_classes=self.num_classes,
            semantic_dim=self.semantic_dim,
        )
        return config
