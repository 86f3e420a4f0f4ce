"""`SimSiam`: two views predict each other through a predictor head, with a stop-gradient and no negatives."""

import keras
from keras import ops

from keras_hier.layers.projection_head import ProjectionHead
from keras_hier.models.ssl.base import SelfSupervisedModel, safe_mean


@keras.saving.register_keras_serializable(package="keras_hier")
class SimSiam(SelfSupervisedModel):
    """SimSiam (Chen & He, 2021): z = projector(encoder(view)), p = predictor(z);
    loss = -(cos(p1, sg(z2)) + cos(p2, sg(z1))) / 2, where sg stops the gradient.

    The projector is `projector_layers` Dense layers with batch norm (the last one's without scale and offset),
    the predictor a bottleneck MLP (Dense, batch norm, ReLU, Dense). HIRL builds on the raw projector output.

    Args:
        encoder: a `keras.Model` from images to feature vectors.
        projection_dim: width of the projector's output (the paper: 2048).
        predictor_units: width of the predictor's hidden layer (the paper: 512).
        projector_layers: Dense layers of the projector (the paper: 3).
        augmentation: the view augmentation (default `view_augmentation`).

    Example:
    >>> import numpy as np
    >>> inputs = keras.Input((8, 8, 1))
    >>> encoder = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))
    >>> model = SimSiam(encoder, projection_dim=8, predictor_units=4)
    >>> model.compile(optimizer="sgd")
    >>> loss = model.fit(np.random.default_rng(0).uniform(size=(8, 8, 8, 1)), batch_size=4, verbose=0)
    >>> -1.0 <= loss.history["loss"][0] <= 1.0
    True
    """

    def __init__(self, encoder, projection_dim=2048, predictor_units=512, projector_layers=3, augmentation=None,
                 **kwargs):
        super().__init__(encoder, augmentation, **kwargs)
        self.projection_dim, self.predictor_units, self.projector_layers = int(projection_dim), \
            int(predictor_units), int(projector_layers)
        self.projector = ProjectionHead(self.projection_dim, num_layers=self.projector_layers,
                                        output_batch_norm=True, normalize=False, name="projector")
        self.predictor = ProjectionHead(self.projection_dim, hidden_units=self.predictor_units, normalize=False,
                                        name="predictor")
        self.build_heads(self.projector)
        self.predictor.build((None, self.projection_dim))

    def _project(self, images, training):
        return self.projector(self.encoder(images, training=training), training=training)

    def view_loss(self, view_1, view_2, training=True):
        """`(symmetric negative cosine, the projection z_0 of view_1)`."""
        z1, z2 = self._project(view_1, training), self._project(view_2, training)
        p1, p2 = self.predictor(z1, training=training), self.predictor(z2, training=training)

        def cosine(p, z):
            p, z = ops.cast(p, "float32"), ops.cast(ops.stop_gradient(z), "float32")  # float16's epsilon underflows
            return ops.sum(ops.normalize(p, axis=-1) * ops.normalize(z, axis=-1), axis=-1)

        loss = -(safe_mean(cosine(p1, z2)) + safe_mean(cosine(p2, z1))) / 2.0
        return loss, z1

    def get_config(self):
        return {**super().get_config(), "projection_dim": self.projection_dim,
                "predictor_units": self.predictor_units, "projector_layers": self.projector_layers}
