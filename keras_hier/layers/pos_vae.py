"""`PosVAE`: node states of the external classes from a classifier's probabilities, by a conditional VAE."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hier")
class PosVAE(keras.layers.Layer):
    """A conditional VAE that turns an image's probability of each external class into that class's node state.

    For external class k with probability p_k and semantic vector s_k (e.g. GloVe): the probability embedding
    x_k = p_k * w + b (w, b learnt vectors of the semantic size); the encoder MLP([x_k; s_k]) (one hidden
    layer) gives mu_k and log sigma_k^2; the state is h_k = mu_k + sigma_k * eps with eps ~ N(0, I) while
    training, and mu_k at inference; the decoder MLP([s_k; h_k]) reconstructs x_k. The layer adds
    `loss_weight * (0.5 ||x - x_hat||^2 + kl_weight * KL(N(mu, sigma^2) || N(0, I)))`, averaged over images and
    classes, with `add_loss` (float32; 0 for an empty batch).

    Args:
        latent_dim: size of the node states h.
        semantic_vectors: float array [num_classes, semantic_dim], the external classes' semantic vectors
            (stored as non-trainable weights). Omit it only when loading.
        hidden_units: hidden size of the encoder and decoder (the paper: 256).
        kl_weight: weight of the KL term (the paper: 1).
        loss_weight: lambda, the weight of the whole VAE loss in the model's loss (the paper: 1).
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
        seed=None,
        num_classes=None,
        semantic_dim=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(latent_dim) < 1 or int(hidden_units) < 1:
            raise ValueError(f"`latent_dim` and `hidden_units` must be positive; got {latent_dim}, {hidden_units}.")
        if kl_weight < 0 or loss_weight < 0:
            raise ValueError(f"`kl_weight` and `loss_weight` must be >= 0; got {kl_weight}, {loss_weight}.")
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
        self.seed = seed
        self.num_classes, self.semantic_dim = int(num_classes), int(semantic_dim)
        self._semantic_init = semantic_vectors
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.encoder_hidden = keras.layers.Dense(self.hidden_units, activation="relu", name="encoder_hidden")
        self.encoder_mean = keras.layers.Dense(self.latent_dim, name="encoder_mean")
        self.encoder_log_var = keras.layers.Dense(self.latent_dim, name="encoder_log_var")
        self.decoder_hidden = keras.layers.Dense(self.hidden_units, activation="relu", name="decoder_hidden")
        self.decoder_out = keras.layers.Dense(self.semantic_dim, name="decoder_out")

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
        self.prob_kernel = self.add_weight(name="prob_kernel", shape=(self.semantic_dim,), initializer="random_uniform")
        self.prob_bias = self.add_weight(name="prob_bias", shape=(self.semantic_dim,), initializer="random_uniform")
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

    def embed(self, probabilities):
        """x = p * w + b: [batch, classes] -> [batch, classes, semantic_dim]."""
        p = ops.cast(probabilities, self.compute_dtype)[..., None]
        return p * ops.cast(self.prob_kernel, self.compute_dtype) + ops.cast(self.prob_bias, self.compute_dtype)

    def encode(self, probabilities):
        """(mu, log sigma^2), each [batch, classes, latent_dim]."""
        x = self.embed(probabilities)
        hidden = self.encoder_hidden(ops.concatenate([x, self._semantic_for(x)], axis=-1))
        return self.encoder_mean(hidden), self.encoder_log_var(hidden)

    def decode(self, states):
        """The reconstructed probability embedding from node states [batch, classes, latent_dim]."""
        semantic = self._semantic_for(states)
        return self.decoder_out(self.decoder_hidden(ops.concatenate([semantic, states], axis=-1)))

    def call(self, probabilities, training=None):
        mean, log_var = self.encode(probabilities)
        if training:
            noise = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
            states = mean + ops.exp(0.5 * log_var) * noise
        else:
            states = mean
        x = ops.cast(self.embed(probabilities), "float32")
        x_hat = ops.cast(self.decode(states), "float32")
        mean, log_var = ops.cast(mean, "float32"), ops.cast(log_var, "float32")
        reconstruction = 0.5 * ops.sum(ops.square(x - x_hat), axis=-1)
        kl = 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1)
        per_node = reconstruction + self.kl_weight * kl
        count = ops.maximum(ops.cast(ops.size(per_node), "float32"), 1.0)
        self.add_loss(self.loss_weight * ops.sum(per_node) / count)
        return states

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes, self.latent_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            hidden_units=self.hidden_units,
            kl_weight=self.kl_weight,
            loss_weight=self.loss_weight,
            seed=self.seed,
            num_classes=self.num_classes,
            semantic_dim=self.semantic_dim,
        )
        return config
