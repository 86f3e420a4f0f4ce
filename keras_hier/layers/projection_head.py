"""`ProjectionHead`: the MLP that maps an embedding to one level of HIRL's hierarchy (and SimCLR-style heads)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hier")
class ProjectionHead(keras.layers.Layer):
    """Dense (no bias) -> BatchNormalization -> ReLU, repeated, then a last Dense; the output L2-normalised.

    With `num_layers=2` this is HIRL's per-level head h_l: Linear(d, d, no bias), BatchNorm, ReLU, Linear(d, d).
    The output is float32 under mixed precision (it feeds a loss).

    Args:
        units: width of the hidden and output layers.
        num_layers: Dense layers in all (at least 1).
        normalize: L2-normalise the output.

    Example:
    >>> import numpy as np
    >>> out = ProjectionHead(8)(np.random.default_rng(0).normal(size=(4, 5)).astype("float32"))
    >>> tuple(out.shape), bool(np.allclose(np.linalg.norm(np.asarray(out), axis=1), 1.0, atol=1e-5))
    ((4, 8), True)
    """

    def __init__(self, units, num_layers=2, normalize=True, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1 or int(num_layers) < 1:
            raise ValueError(f"`units` and `num_layers` must be positive; got {units} and {num_layers}.")
        self.units, self.num_layers, self.normalize = int(units), int(num_layers), bool(normalize)
        self.hidden = []
        for i in range(self.num_layers - 1):
            self.hidden.append((keras.layers.Dense(self.units, use_bias=False, name=f"dense_{i}"),
                                keras.layers.BatchNormalization(name=f"bn_{i}")))
        self.out = keras.layers.Dense(self.units, name=f"dense_{self.num_layers - 1}")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense, bn in self.hidden:
            dense.build(shape)
            shape = shape[:-1] + (self.units,)
            bn.build(shape)
        self.out.build(shape)
        self.built = True

    def call(self, x, training=None):
        for dense, bn in self.hidden:
            x = ops.relu(bn(dense(x), training=training))
        x = ops.cast(self.out(x), "float32")
        if self.normalize:
            x = ops.normalize(x, axis=-1)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers, "normalize": self.normalize}
