"""`MoCoV2`: contrastive learning against a queue of keys from a momentum encoder."""

import keras
import numpy as np
from keras import ops

from keras_hier._validation import check_number
from keras_hier.distribute import all_gather
from keras_hier.layers.projection_head import ProjectionHead
from keras_hier.models.ssl.base import SelfSupervisedModel, ema_update, mean_cross_entropy, unit


@keras.saving.register_keras_serializable(package="keras_hier")
class MoCoV2(SelfSupervisedModel):
    """MoCo v2 (Chen et al., 2020): a query q (online encoder + MLP head, view 1) is classified against its key
    k+ (momentum encoder, view 2) among the `queue_size` keys of earlier batches: loss = cross entropy of
    softmax([q.k+, q.queue] / temperature) with k+ as the target. After each step the momentum encoder moves
    to m * key + (1 - m) * online and the batch's keys replace the oldest in the queue.

    MoCo shuffles the keys' batch-norm batches across GPUs so that a query and its key never share batch
    statistics; here queries and keys run in `shuffle_groups` sub-batches, the keys' drawn at random, which does the
    same on one device. HIRL clusters the momentum encoder's embeddings (`cluster_features`), as the official code.

    Args:
        encoder: a Functional `keras.Model` from images to feature vectors (cloned for the momentum encoder).
        projection_dim: width of the embedding (the paper: 128).
        hidden_units: width of the head's hidden layer (Dense, ReLU, Dense; the paper: 2048).
        queue_size: negatives kept (the paper: 65536).
        momentum: of the key encoder (the paper: 0.999).
        temperature: the softmax temperature (MoCo v2: 0.2).
        shuffle_groups: batch-norm sub-batches (1 turns the shuffling off).
        augmentation: the view augmentation (default `view_augmentation`).
        seed: seed of the initial queue and of the shuffling.

    Example:
    >>> inputs = keras.Input((8, 8, 1))
    >>> encoder = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))
    >>> model = MoCoV2(encoder, projection_dim=8, hidden_units=16, queue_size=32)
    >>> model.compile(optimizer="sgd")
    >>> history = model.fit(np.random.default_rng(0).uniform(size=(8, 8, 8, 1)), batch_size=4, verbose=0)
    >>> int(model.queue_pointer.numpy())  # two batches of 4 keys queued
    8
    """

    def __init__(self, encoder, projection_dim=128, hidden_units=2048, queue_size=65536, momentum=0.999,
                 temperature=0.2, shuffle_groups=2, augmentation=None, seed=None, **kwargs):
        super().__init__(encoder, augmentation, **kwargs)
        check_number(momentum, "momentum", low=0, high=1)
        check_number(temperature, "temperature", low=0, low_open=True)
        check_number(queue_size, "queue_size", low=1, integer=True)
        check_number(shuffle_groups, "shuffle_groups", low=1, integer=True)
        self.projection_dim, self.hidden_units, self.queue_size = int(projection_dim), int(hidden_units), \
            int(queue_size)
        self.momentum, self.temperature, self.shuffle_groups, self.seed = float(momentum), float(temperature), \
            int(shuffle_groups), seed
        # Unnormalised heads: z_0 (HIRL's input) is the raw projection; the loss normalises q and k.
        head = dict(units=self.projection_dim, hidden_units=self.hidden_units, batch_norm=False, normalize=False)
        self.projector = ProjectionHead(**head, name="projector")
        self.key_encoder = keras.models.clone_model(encoder)
        self.key_projector = ProjectionHead(**head, name="key_projector")
        self.build_heads(self.projector, self.key_projector)
        ema_update(self._key_weights(), self._online_weights(), 0.0)  # the keys start from the online network
        rng = np.random.default_rng(seed)
        initial = rng.normal(size=(self.queue_size, self.projection_dim)).astype("float32")
        initial /= np.linalg.norm(initial, axis=1, keepdims=True)
        self.queue = self.add_weight(shape=initial.shape, initializer=lambda shape, dtype=None: initial,
                                     trainable=False, name="queue", aggregation="only_first_replica")
        self.queue_pointer = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False,
                                             name="queue_pointer", aggregation="only_first_replica")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _online_weights(self):
        return self.encoder.weights + self.projector.weights

    def _key_weights(self):
        return self.key_encoder.weights + self.key_projector.weights

    @property
    def online_variables(self):
        return self.encoder.trainable_variables + self.projector.trainable_variables

    def _grouped(self, encoder, projector, images, training, shuffle=False):
        """Embeddings of `images`, batch-norm statistics taken over `shuffle_groups` sub-batches (random ones when
        `shuffle`)."""
        if self.shuffle_groups == 1 or not training:
            return projector(encoder(images, training=training), training=training)
        b = ops.shape(images)[0]
        order = keras.random.shuffle(ops.arange(b), seed=self.seed_generator) if shuffle else ops.arange(b)
        g = self.shuffle_groups
        shuffled = ops.take(images, order, axis=0)
        if keras.backend.backend() == "tensorflow":  # the batch size may be known only when the step runs
            import tensorflow as tf

            chunks = tf.split(shuffled, b // g + ops.cast(ops.arange(g) < b % g, "int32"))
        else:  # static shapes: the sizes are numbers
            sizes = [b // g + (i < b % g) for i in range(g)]
            chunks = ops.split(shuffled, list(np.cumsum(sizes)[:-1]))
        out = ops.concatenate([projector(encoder(c, training=training), training=training) for c in chunks], 0)
        return ops.take(out, ops.argsort(order), axis=0)  # back in the batch's order

    def project(self, images, training=False):
        return self._grouped(self.encoder, self.projector, images, training)

    def cluster_features(self, images):
        return unit(self.key_projector(self.key_encoder(images, training=False), training=False))

    def view_loss(self, view_1, view_2, training=True):
        """`(cross entropy of the query against its key and the queue, the query's raw projection z_0)`; enqueues
        the keys in training."""
        z = self.project(view_1, training)
        q = unit(z)
        k = ops.stop_gradient(unit(self._grouped(self.key_encoder, self.key_projector, view_2, training,
                                                 shuffle=True)))
        positive = ops.sum(q * k, axis=-1, keepdims=True)
        negative = ops.matmul(q, ops.transpose(ops.convert_to_tensor(self.queue)))
        logits = ops.concatenate([positive, negative], axis=1) / self.temperature
        loss = mean_cross_entropy(ops.zeros((ops.shape(q)[0],), "int32"), logits)
        if training:
            self._enqueue(k)
        return loss, z

    def _enqueue(self, keys):
        keys, _ = all_gather(keys)  # under a multi-replica strategy, the keys of the whole global batch
        b = ops.shape(keys)[0]
        slots = (self.queue_pointer + ops.arange(b, dtype="int32")) % self.queue_size
        self.queue.assign(ops.scatter_update(self.queue, slots[:, None], ops.cast(keys, "float32")))
        self.queue_pointer.assign((self.queue_pointer + ops.cast(b, "int32")) % self.queue_size)

    def after_step(self):
        ema_update(self.key_encoder.trainable_weights + self.key_projector.trainable_weights,
                   self.encoder.trainable_weights + self.projector.trainable_weights, self.momentum)

    def get_config(self):
        return {**super().get_config(), "projection_dim": self.projection_dim, "hidden_units": self.hidden_units,
                "queue_size": self.queue_size, "momentum": self.momentum, "temperature": self.temperature,
                "shuffle_groups": self.shuffle_groups, "seed": self.seed}
