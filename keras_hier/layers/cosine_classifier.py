"""`CosineClassifier`: logits as scaled cosines between features and class weight vectors."""

import keras
import numpy as np
from keras import ops

from keras_hier._validation import check_number


@keras.saving.register_keras_serializable(package="keras_hier")
class CosineClassifier(keras.layers.Layer):
    """logit_c(x) = s * <x / ||x||, w_c / ||w_c||>: a linear classifier on the unit sphere.

    The scale s is fixed, or learnable (stored as its logarithm, so it stays positive). The class weights can be
    read and replaced as unit vectors (`normalized_weights`, `set_class_weights`), which is how prototypes and
    transferred classifiers become classifiers without training. The cosines are computed in float32; the logits come
    out in the layer's compute dtype, as Keras layers do (under mixed precision, give the layer `dtype="float32"` when
    it is a model's last layer).

    Args:
        num_classes: number of classes C.
        scale: s (16 is common for long-tail cosine classifiers).
        learn_scale: whether s trains.

    Example:
    >>> import numpy as np
    >>> layer = CosineClassifier(3, scale=10.0)
    >>> logits = layer(np.ones((2, 4), "float32"))
    >>> bool(np.all(np.abs(np.asarray(logits)) <= 10.0 + 1e-5))
    True
    """

    def __init__(self, num_classes, scale=16.0, learn_scale=False, **kwargs):
        super().__init__(**kwargs)
        check_number(num_classes, "num_classes", low=1, integer=True)
        check_number(scale, "scale", low=0, low_open=True)
        self.num_classes = int(num_classes)
        self.scale = float(scale)
        self.learn_scale = bool(learn_scale)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(dim, self.num_classes), initializer="glorot_uniform")
        self.log_scale = self.add_weight(
            name="log_scale", shape=(), initializer=keras.initializers.Constant(float(np.log(self.scale))),
            trainable=self.learn_scale,
        )
        self.built = True

    def call(self, features):
        x = ops.normalize(ops.cast(features, "float32"), axis=-1)
        w = ops.normalize(ops.cast(self.kernel, "float32"), axis=0)
        return ops.cast(ops.exp(ops.cast(self.log_scale, "float32")) * ops.matmul(x, w), self.compute_dtype)

    def normalized_weights(self):
        """The class weights as unit vectors, numpy [C, dim]."""
        w = np.asarray(self.kernel, np.float32).T
        return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)

    def set_class_weights(self, weights):
        """Replaces the class weights by `weights` [C, dim] (any norm: only their direction counts)."""
        weights = np.asarray(weights, np.float32)
        if weights.shape != (self.num_classes, int(self.kernel.shape[0])):
            raise ValueError(f"Expected class weights [{self.num_classes}, {self.kernel.shape[0]}]; got {weights.shape}.")
        self.kernel.assign(weights.T)

    @property
    def current_scale(self):
        """The scale s as a float."""
        return float(np.exp(np.asarray(self.log_scale)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_classes,)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "scale": self.scale,
                "learn_scale": self.learn_scale}
