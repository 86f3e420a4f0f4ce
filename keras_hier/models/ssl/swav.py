"""`SwAV`: online clustering with learnable prototypes, Sinkhorn-Knopp codes and swapped prediction."""

import keras
from keras import ops

from keras_hier._validation import check_number
from keras_hier.distribute import all_gather
from keras_hier.layers.projection_head import ProjectionHead
from keras_hier.models.ssl.base import add_step_counter, count_step, frozen_for_steps, safe_mean, unit
from keras_hier.models.ssl.multi_crop import MultiCropModel


def sinkhorn_knopp(scores, epsilon=0.05, iterations=3):
    """SwAV's codes: the equal-partition soft assignment of B samples to K prototypes from their `scores`
    [B, K] (cosines): Q = exp(scores / epsilon), then `iterations` rounds of normalising the prototypes' rows to
    1/K and the samples' columns to 1/B; returned per sample [B, K], each row summing to 1. Float32, computed
    stably (the scores' maximum is subtracted first, which the normalisations cancel).

    Example:
    >>> import numpy as np
    >>> q = np.asarray(sinkhorn_knopp(np.array([[1.0, 0.0], [0.9, 0.1]], "float32"), iterations=3))
    >>> q.sum(axis=1).round(4).tolist(), bool(q[0, 0] > q[1, 0] and q[1, 1] > q[0, 1])
    ([1.0, 1.0], True)
    """
    scores = ops.cast(scores, "float32")
    q = ops.exp((scores - ops.max(scores)) / epsilon)
    q = ops.transpose(q / ops.sum(q))  # [K, B]
    k, b = ops.cast(ops.shape(q)[0], "float32"), ops.cast(ops.shape(q)[1], "float32")
    for _ in range(int(iterations)):
        q = q / ops.sum(q, axis=1, keepdims=True) / k
        q = q / ops.sum(q, axis=0, keepdims=True) / b
    return ops.transpose(q * b)


@keras.saving.register_keras_serializable(package="keras_hier")
class SwAV(MultiCropModel):
    """SwAV (Caron et al., 2020): each view's normalised projection z is scored against `num_prototypes`
    learnable unit prototypes; the codes q of each large view (`sinkhorn_knopp` of its scores over the global
    batch, and over the queue when there is one, with no gradient) are predicted from every *other* view's
    softmax(scores / temperature): loss = mean over the two large views i of the mean over views v != i of
    -sum(q_i * log softmax(z_v . C / temperature)). The prototypes are renormalised before each step and frozen
    for the first `freeze_prototypes_steps` steps (the paper: 313, one ImageNet epoch at batch 4096).
    Multi-crop: 2 large and `num_local_crops` small views.

    With `queue_size > 0` the large views' embeddings of earlier batches (from step `queue_start_step` on) join
    the Sinkhorn step once the queue is full, as SwAV does with small batches.

    Under HIRL (the paper's notes): z_0 is the projection of the first large view, and the clustered features are
    the same projection of the unaugmented images (`cluster_features`); the reference code reassigns each batch's
    level-0 prototype from the second view every step (`HIRL(..., reassign_each_step=True)`).

    Args:
        encoder: a Functional `keras.Model` from images to features (global pooling, for the small crops).
        projection_dim: width of z (128).
        hidden_units: the projector's hidden width (2048).
        num_prototypes: K (3000).
        temperature: of the prediction softmax (0.1).
        epsilon: Sinkhorn-Knopp's entropic regularisation (0.05).
        sinkhorn_iterations: 3.
        queue_size: embeddings kept per large view (0: no queue; SwAV: 3840 at batch 256).
        queue_start_step: the step from which batches enter the queue (SwAV: epoch 15).
        freeze_prototypes_steps: steps without prototype updates.
        num_local_crops, local_size, global_scale, local_scale, augmentation, local_augmentation: the views
            (`MultiCropModel`; SwAV: 2 x 224 px of (0.14, 1) and 6 x 96 px of (0.05, 0.14)).

    Train it with `model.compile(optimizer=...)` and `model.fit(images, ...)`; one step's loss by hand:

    Example:
    >>> import numpy as np
    >>> inputs = keras.Input((8, 8, 1))
    >>> encoder = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))
    >>> model = SwAV(encoder, projection_dim=8, hidden_units=16, num_prototypes=5, num_local_crops=2, local_size=4)
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    >>> views = model.views(images)
    >>> [tuple(v.shape[1:3]) for v in views]  # two large views, two small ones
    [(8, 8), (8, 8), (4, 4), (4, 4)]
    >>> loss, z0 = model.view_loss(*views, training=True)
    >>> tuple(z0.shape), bool(loss > 0)
    ((4, 8), True)
    """

    def __init__(self, encoder, projection_dim=128, hidden_units=2048, num_prototypes=3000, temperature=0.1,
                 epsilon=0.05, sinkhorn_iterations=3, queue_size=0, queue_start_step=0, freeze_prototypes_steps=0,
                 num_local_crops=6, local_size=None, global_scale=(0.14, 1.0), local_scale=(0.05, 0.14),
                 augmentation=None, local_augmentation=None, **kwargs):
        super().__init__(encoder, num_local_crops=num_local_crops, local_size=local_size, global_scale=global_scale,
                         local_scale=local_scale, augmentation=augmentation, local_augmentation=local_augmentation,
                         **kwargs)
        check_number(temperature, "temperature", low=0, low_open=True)
        check_number(epsilon, "epsilon", low=0, low_open=True)
        check_number(num_prototypes, "num_prototypes", low=1, integer=True)
        check_number(sinkhorn_iterations, "sinkhorn_iterations", low=1, integer=True)
        check_number(queue_size, "queue_size", low=0, integer=True)
        self.projection_dim, self.hidden_units, self.num_prototypes = int(projection_dim), int(hidden_units), \
            int(num_prototypes)
        self.temperature, self.epsilon, self.sinkhorn_iterations = float(temperature), float(epsilon), \
            int(sinkhorn_iterations)
        self.queue_size, self.queue_start_step = int(queue_size), int(queue_start_step)
        self.freeze_prototypes_steps = int(freeze_prototypes_steps)
        self.projector = ProjectionHead(self.projection_dim, hidden_units=self.hidden_units, normalize=False,
                                        name="projector")
        self.build_heads(self.projector)
        self.prototypes = self.add_weight(shape=(self.projection_dim, self.num_prototypes),
                                          initializer="glorot_uniform", name="prototypes")
        if self.queue_size:
            self.queue = self.add_weight(shape=(2, self.queue_size, self.projection_dim), initializer="zeros",
                                         trainable=False, name="queue", aggregation="only_first_replica")
        add_step_counter(self)

    def _scores(self, z):
        return ops.matmul(ops.cast(z, "float32"), ops.cast(self.prototypes, "float32"))

    def before_step(self):
        self.prototypes.assign(ops.normalize(self.prototypes, axis=0))

    def after_step(self):
        count_step(self)

    def adjust_gradients(self, gradients, variables):
        return frozen_for_steps(gradients, variables, (self.prototypes,), self, self.freeze_prototypes_steps)

    def codes(self, z, view, training):
        """The Sinkhorn codes of large view `view`'s embeddings `z` [batch, d] (this replica's rows), computed
        over the global batch and, once it is full, the queue; enqueues the batch in training."""
        gathered, offset = all_gather(ops.stop_gradient(ops.cast(z, "float32")))
        scores = self._scores(gathered)
        if self.queue_size:
            queue = ops.convert_to_tensor(self.queue[view])
            full = ops.any(ops.not_equal(queue[-1], 0.0))
            with_queue = ops.concatenate([self._scores(queue), scores], axis=0)
            codes = ops.cond(full,
                             lambda: sinkhorn_knopp(with_queue, self.epsilon, self.sinkhorn_iterations)[self.queue_size:],
                             lambda: sinkhorn_knopp(scores, self.epsilon, self.sinkhorn_iterations))
            if training:
                self._enqueue(view, gathered)
        else:
            codes = sinkhorn_knopp(scores, self.epsilon, self.sinkhorn_iterations)
        b = ops.shape(z)[0]
        return ops.stop_gradient(ops.slice(codes, (ops.cast(offset, "int32"), 0), (b, self.num_prototypes)))

    def _enqueue(self, view, embeddings):
        active = self.steps_done >= self.queue_start_step
        queue = ops.convert_to_tensor(self.queue)
        shifted = ops.concatenate([embeddings, queue[view]], axis=0)[: self.queue_size]
        updated = ops.where(active, shifted, queue[view])
        self.queue.assign(ops.stack([updated if i == view else queue[i] for i in range(2)], axis=0))

    def view_loss(self, *views, training=True):
        """`(swapped-prediction loss, the first large view's raw projection z_0)`; fills the queue in training."""
        if len(views) < 2:
            raise ValueError(f"SwAV needs at least two views; got {len(views)}.")
        b = ops.shape(views[0])[0]
        z = [self.projector(self.encoder(ops.concatenate(list(views[:2]), axis=0), training=training),
                            training=training)]
        if len(views) > 2:
            z.append(self.projector(self.encode_local(views[2:], training), training=training))
        raw = ops.concatenate(z, axis=0)
        z = unit(raw)
        log_p = ops.log_softmax(self._scores(z) / self.temperature, axis=-1)
        log_p = ops.split(log_p, len(views), axis=0)
        z_large = ops.split(z[: 2 * b], 2, axis=0)
        loss = 0.0
        for i in range(2):
            q = self.codes(z_large[i], i, training)
            others = [safe_mean(-ops.sum(q * log_p[v], axis=-1)) for v in range(len(views)) if v != i]
            loss = loss + sum(others) / len(others)
        return loss / 2.0, raw[:b]

    def get_config(self):
        return {**super().get_config(), "projection_dim": self.projection_dim, "hidden_units": self.hidden_units,
                "num_prototypes": self.num_prototypes, "temperature": self.temperature, "epsilon": self.epsilon,
                "sinkhorn_iterations": self.sinkhorn_iterations, "queue_size": self.queue_size,
                "queue_start_step": self.queue_start_step, "freeze_prototypes_steps": self.freeze_prototypes_steps}
