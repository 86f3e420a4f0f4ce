"""`MoCoV3`: MoCo v3, a symmetric contrastive loss against a momentum encoder's keys of the same batch."""

import keras
from keras import ops

from keras_hier._validation import check_number
from keras_hier.backbones.vit import VisionTransformer
from keras_hier.distribute import all_gather
from keras_hier.layers.projection_head import ProjectionHead
from keras_hier.models.ssl.base import (SelfSupervisedModel, add_step_counter, cosine_schedule, count_step,
                                        ema_update, mean_cross_entropy, unit)


def contrastive_loss(queries, keys, temperature):
    """MoCo v3's InfoNCE: each query [batch, d] against every key of the global batch (gathered from the replicas
    under a strategy), its own key the positive; the cross entropy times 2 * temperature, float32.

    Example:
    >>> import numpy as np
    >>> q = np.eye(2, dtype="float32")
    >>> round(float(contrastive_loss(q, q, 1.0)), 4)  # 2 * log(1 + e^-1)
    0.6265
    """
    q = ops.normalize(ops.cast(queries, "float32"), axis=-1)
    k, offset = all_gather(ops.normalize(ops.cast(keys, "float32"), axis=-1))
    logits = ops.matmul(q, ops.transpose(ops.stop_gradient(k))) / temperature
    labels = ops.arange(ops.shape(q)[0], dtype="int32") + ops.cast(offset, "int32")
    return mean_cross_entropy(labels, logits) * (2.0 * temperature)


@keras.saving.register_keras_serializable(package="keras_hier")
class MoCoV3(SelfSupervisedModel):
    """MoCo v3 (Chen, Xie & He, 2021): queries q = predictor(projector(encoder(view))) and keys k from a momentum
    copy of encoder + projector; loss = ctr(q1, k2) + ctr(q2, k1), each an InfoNCE over the keys of the batch
    (no queue) scaled by 2 * temperature. The projector is 3 Dense layers (batch norm and ReLU between them, a
    batch norm without scale and offset at the end), the predictor 2 (batch norm and ReLU between; for a ViT encoder
    also the batch norm without scale and offset at the end, the reference's `last_bn=True`). Every Dense layer of
    both MLPs is bias-free, as the reference's Linear layers. The momentum
    rises from `momentum` to 1 along a cosine over `momentum_schedule_steps` and is applied before each step's
    keys, as the reference code.

    For ViTs MoCo v3 also freezes the random patch projection and uses a fixed sine-cosine position embedding:
    `keras_hier.backbones.vit(..., patch_embedding_trainable=False, position_embedding="sincos")`.
    Under HIRL (the paper's notes): z_0 is the online projector's raw output on the first view (the predictor stays
    out), and the clustered features are the momentum encoder's projections (`cluster_features`).
    HIRL-MoCo v3's level heads have 5 layers in the paper (`HIRL(..., head_layers=5)`).

    Args:
        encoder: a Functional `keras.Model` from images to features (a ViT, or a CNN with global pooling).
        projection_dim: the projector's (and predictor's) output width (256).
        hidden_units: the MLPs' hidden width (4096).
        temperature: of the InfoNCE (0.2 for ViTs; MoCo v3 uses 1.0 for ResNets).
        momentum: the momentum at step 0 (0.99).
        momentum_schedule_steps: total training steps of the cosine to 1 (0: constant `momentum`).
        augmentation: the view augmentation (default `view_augmentation`, MoCo v2's views as MoCo v3).
        predictor_batch_norm: end the predictor in a batch norm without scale and offset (None: as the reference,
            True for an encoder holding a `VisionTransformer`, False for a CNN).

    Train it with `model.compile(optimizer=...)` and `model.fit(images, ...)`; one step's loss by hand:

    Example:
    >>> import numpy as np
    >>> from keras_hier.backbones import vit
    >>> model = MoCoV3(vit((8, 8, 1), "vit_test"), projection_dim=8, hidden_units=16)
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    >>> loss, z0 = model.view_loss(*model.views(images), training=True)
    >>> tuple(z0.shape), bool(loss > 0)
    ((4, 8), True)
    """

    def __init__(self, encoder, projection_dim=256, hidden_units=4096, temperature=0.2, momentum=0.99,
                 momentum_schedule_steps=0, augmentation=None, predictor_batch_norm=None, **kwargs):
        super().__init__(encoder, augmentation, **kwargs)
        check_number(temperature, "temperature", low=0, low_open=True)
        check_number(momentum, "momentum", low=0, high=1)
        self.projection_dim, self.hidden_units = int(projection_dim), int(hidden_units)
        self.temperature, self.momentum = float(temperature), float(momentum)
        self.momentum_schedule_steps = int(momentum_schedule_steps)
        if predictor_batch_norm is None:
            predictor_batch_norm = any(isinstance(layer, VisionTransformer) for layer in encoder.layers)
        self.predictor_batch_norm = bool(predictor_batch_norm)
        projector = dict(units=self.projection_dim, num_layers=3, hidden_units=self.hidden_units,
                         output_batch_norm=True, normalize=False)
        self.projector = ProjectionHead(**projector, name="projector")
        self.predictor = ProjectionHead(self.projection_dim, num_layers=2, hidden_units=self.hidden_units,
                                        output_batch_norm=self.predictor_batch_norm, output_bias=False,
                                        normalize=False, name="predictor")
        self.key_encoder = keras.models.clone_model(encoder)
        self.key_projector = ProjectionHead(**projector, name="key_projector")
        self.build_heads(self.projector, self.key_projector)
        self.predictor.build((None, self.projection_dim))
        ema_update(self.key_encoder.weights + self.key_projector.weights,
                   self.encoder.weights + self.projector.weights, 0.0)  # the keys start from the online network
        add_step_counter(self)

    @property
    def online_variables(self):
        return self.encoder.trainable_variables + self.projector.trainable_variables + \
            self.predictor.trainable_variables

    def _keys(self, images, training):
        return ops.stop_gradient(self.key_projector(self.key_encoder(images, training=training), training=training))

    def cluster_features(self, images):
        return unit(self._keys(images, False))

    def before_step(self):
        momentum = cosine_schedule(self.momentum, 1.0, self.steps_done, self.momentum_schedule_steps)
        ema_update(self.key_encoder.trainable_weights + self.key_projector.trainable_weights,
                   self.encoder.trainable_weights + self.projector.trainable_weights, momentum)

    def after_step(self):
        count_step(self)

    def view_loss(self, view_1, view_2, training=True):
        """`(ctr(q1, k2) + ctr(q2, k1), the first view's projection z_0)`."""
        z1 = self.projector(self.encoder(view_1, training=training), training=training)
        z2 = self.projector(self.encoder(view_2, training=training), training=training)
        q1, q2 = self.predictor(z1, training=training), self.predictor(z2, training=training)
        k1, k2 = self._keys(view_1, training), self._keys(view_2, training)
        loss = contrastive_loss(q1, k2, self.temperature) + contrastive_loss(q2, k1, self.temperature)
        return loss, z1

    def get_config(self):
        return {**super().get_config(), "projection_dim": self.projection_dim, "hidden_units": self.hidden_units,
                "temperature": self.temperature, "momentum": self.momentum,
                "momentum_schedule_steps": self.momentum_schedule_steps,
                "predictor_batch_norm": self.predictor_batch_norm}
