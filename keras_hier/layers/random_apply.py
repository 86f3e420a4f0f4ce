"""`RandomApply`: applies a random augmentation layer to each image of a batch with a given probability."""

import keras
from keras import ops

from keras_hier._validation import check_number


@keras.saving.register_keras_serializable(package="keras_hier")
class RandomApply(keras.layers.Layer):
    """Applies `layer` to each image with probability `probability` (torchvision's `RandomApply`), per image.

    MoCo v2, SimCLR and SimSiam apply colour jitter to 80 % of the views; Keras' `RandomColorJitter` has no
    such probability, so wrap it: `RandomApply(keras.layers.RandomColorJitter(...), 0.8)`. With `training=False`
    images pass through.

    Args:
        layer: a Keras layer (e.g. a random preprocessing layer, or a `keras.Sequential` of several).
        probability: the chance that an image is transformed, in [0, 1].
        seed: seed of the draw.

    Call:
        images [batch, height, width, channels] -> the same shape; each image either `layer`'s output or itself.

    Example:
    >>> import numpy as np
    >>> flip = RandomApply(keras.layers.RandomFlip("horizontal", seed=0), probability=0.5, seed=0)
    >>> tuple(flip(np.zeros((4, 8, 8, 1), "float32"), training=True).shape)
    (4, 8, 8, 1)
    """

    def __init__(self, layer, probability=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"`layer` must be a Keras layer; got {type(layer).__name__}.")
        self.layer = layer
        self.probability = check_number(probability, "probability", low=0, high=1)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, images, training=None):
        if not training or self.probability == 0.0:
            return images
        # In the compute dtype at every probability (the inner layer may compute in float32).
        transformed = ops.cast(self.layer(images, training=True), images.dtype)
        if self.probability == 1.0:
            return transformed
        draw = keras.random.uniform((ops.shape(images)[0],), seed=self.seed_generator)
        chosen = ops.reshape(draw < self.probability, (-1,) + (1,) * (len(images.shape) - 1))
        return ops.where(chosen, transformed, images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self.layer),
                "probability": self.probability, "seed": self.seed}
