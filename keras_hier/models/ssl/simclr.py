"""`SimCLR`: two-view contrastive learning with the other images of the batch as negatives (NT-Xent)."""

import keras
from keras import ops

from keras_hier._validation import check_number
from keras_hier.distribute import all_gather
from keras_hier.layers.projection_head import ProjectionHead
from keras_hier.models.ssl.base import SelfSupervisedModel, mean_cross_entropy, unit


@keras.saving.register_keras_serializable(package="keras_hier")
class SimCLR(SelfSupervisedModel):
    """SimCLR (Chen et al., 2020): the embeddings of two views of an image attract each other and repel the other
    2(B - 1) views of the batch; loss = NT-Xent, softmax cross entropy over cosine similarities / temperature.

    Args:
        encoder: a `keras.Model` from images to feature vectors.
        projection_dim: width of the embedding.
        hidden_units: width of the projection head's hidden layer (Dense, batch norm, ReLU, Dense).
        temperature: the softmax temperature.
        augmentation: the view augmentation (default `view_augmentation`).

    Example:
    >>> import numpy as np
    >>> inputs = keras.Input((8, 8, 1))
    >>> encoder = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))
    >>> model = SimCLR(encoder, projection_dim=8, hidden_units=16)
    >>> model.compile(optimizer="sgd")
    >>> history = model.fit(np.random.default_rng(0).uniform(size=(8, 8, 8, 1)), batch_size=4, verbose=0)
    >>> sorted(history.history)
    ['loss']
    """

    def __init__(self, encoder, projection_dim=128, hidden_units=512, temperature=0.5, augmentation=None, **kwargs):
        super().__init__(encoder, augmentation, **kwargs)
        check_number(temperature, "temperature", low=0, low_open=True)
        self.projection_dim, self.hidden_units, self.temperature = int(projection_dim), int(hidden_units), \
            float(temperature)
        self.projector = ProjectionHead(self.projection_dim, hidden_units=self.hidden_units, normalize=False,
                                        name="projector")
        self.build_heads(self.projector)

    def view_loss(self, view_1, view_2, training=True):
        """`(NT-Xent loss, unit-norm embedding of view_1)`. Under a multi-replica strategy the negatives are the
        views of the whole global batch (gathered from every replica), as on one device."""
        raw = self.project(view_1, training)
        z1, z2 = unit(raw), self.embed(view_2, training)
        both, offset = all_gather(ops.concatenate([z1, z2], axis=1))  # one collective for both views
        all_1, all_2 = ops.split(both, 2, axis=1)
        b, total = ops.shape(z1)[0], ops.shape(all_1)[0]
        rows = ops.arange(b, dtype="int32") + ops.cast(offset, "int32")
        logits = ops.matmul(ops.concatenate([z1, z2], axis=0),
                            ops.transpose(ops.concatenate([all_1, all_2], axis=0))) / self.temperature
        # A view is not its own negative: its self-similarity drops out of the softmax.
        own = ops.concatenate([rows, rows + total], axis=0)
        columns = ops.arange(2 * total, dtype="int32")
        logits = logits - 1e9 * ops.cast(ops.equal(own[:, None], columns[None, :]), logits.dtype)
        # A column no view ever picks, so that an empty batch still has one class (its loss is then 0, not an error).
        logits = ops.pad(logits, [[0, 0], [0, 1]], constant_values=-1e9)
        positives = ops.concatenate([rows + total, rows], axis=0)
        return mean_cross_entropy(positives, logits), raw

    def get_config(self):
        return {**super().get_config(), "projection_dim": self.projection_dim, "hidden_units": self.hidden_units,
                "temperature": self.temperature}
