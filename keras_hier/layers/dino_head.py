"""`DINOHead`: DINO's and iBOT's projection head, an MLP to a bottleneck and a weight-normalised last layer."""

import keras
from keras import ops

from keras_hier.initializers import pytorch_default_uniform, reference_normal


@keras.saving.register_keras_serializable(package="keras_hier")
class DINOHead(keras.layers.Layer):
    """The head of DINO (Caron et al., 2021): an MLP (`num_layers` Dense layers, GELU between them, the last one to
    `bottleneck_units`), L2 normalisation, then a bias-free weight-normalised Dense layer to `units` outputs
    (logits over `units` learned "prototypes"). With `norm_last_layer=True` (DINO's default for ViTs) the last
    layer's weight norm stays 1: each output is the cosine of the bottleneck with a learned direction.

    `bottleneck(x)` is the MLP's output (before the normalisation): the embedding HIRL clusters and builds its
    heads on for DINO and iBOT. The MLP's Dense layers start from a normal with standard deviation 0.02 (DINO's
    `trunc_normal_`, which truncates only at +-2) and zero biases, the last layer's directions from PyTorch's default
    `nn.Linear` initialisation, as DINO's (it is created after `_init_weights` runs). Sublayers follow the head's
    dtype policy; the normalised last layer is computed in float32 and returns the compute dtype.

    Args:
        units: outputs of the last layer (DINO: 65536; iBOT: 8192).
        hidden_units: width of the MLP's hidden layers (2048).
        bottleneck_units: width of the bottleneck (256).
        num_layers: Dense layers of the MLP (3).
        norm_last_layer: keep the last layer's weight norm fixed at 1 (otherwise it is learned, from 1).

    Example:
    >>> import numpy as np
    >>> head = DINOHead(10, hidden_units=8, bottleneck_units=4)
    >>> x = np.random.default_rng(0).normal(size=(2, 6)).astype("float32")
    >>> tuple(head(x).shape), tuple(head.bottleneck(x).shape)
    ((2, 10), (2, 4))
    >>> bool(np.all(np.abs(np.asarray(head(x))) <= 1 + 1e-5))  # cosines
    True
    """

    def __init__(self, units=65536, hidden_units=2048, bottleneck_units=256, num_layers=3, norm_last_layer=True,
                 **kwargs):
        super().__init__(**kwargs)
        if min(int(units), int(hidden_units), int(bottleneck_units), int(num_layers)) < 1:
            raise ValueError("`units`, `hidden_units`, `bottleneck_units` and `num_layers` must be positive; got "
                             f"{units}, {hidden_units}, {bottleneck_units} and {num_layers}.")
        self.units, self.hidden_units, self.bottleneck_units = int(units), int(hidden_units), int(bottleneck_units)
        self.num_layers, self.norm_last_layer = int(num_layers), bool(norm_last_layer)
        init = dict(kernel_initializer=reference_normal(0.02), bias_initializer="zeros",
                    dtype=self.dtype_policy)
        widths = [self.hidden_units] * (self.num_layers - 1) + [self.bottleneck_units]
        self.mlp = [keras.layers.Dense(w, activation="gelu" if i < self.num_layers - 1 else None, name=f"dense_{i}",
                                       **init) for i, w in enumerate(widths)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense in self.mlp:
            dense.build(shape)
            shape = shape[:-1] + (dense.units,)
        # Weight normalisation, w = g * v / |v| per output unit (PyTorch's weight_norm on the last Linear).
        self.last_direction = self.add_weight(shape=(self.bottleneck_units, self.units),
                                              initializer=pytorch_default_uniform(self.bottleneck_units),
                                              name="last_direction")
        self.last_norm = self.add_weight(shape=(self.units,), initializer="ones", trainable=not self.norm_last_layer,
                                         name="last_norm")
        self.built = True

    def bottleneck(self, x, training=None):
        """The MLP's output [batch, bottleneck_units] (not normalised)."""
        for dense in self.mlp:
            x = dense(x, training=training)
        return x

    def last_layer(self, bottleneck):
        """The weight-normalised last layer on a bottleneck output, float32 logits."""
        x = ops.normalize(ops.cast(bottleneck, "float32"), axis=-1)
        kernel = ops.normalize(ops.cast(self.last_direction, "float32"), axis=0) * ops.cast(self.last_norm, "float32")
        return ops.matmul(x, kernel)

    def call(self, x, training=None):
        return ops.cast(self.last_layer(self.bottleneck(x, training=training)), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "hidden_units": self.hidden_units,
                "bottleneck_units": self.bottleneck_units, "num_layers": self.num_layers,
                "norm_last_layer": self.norm_last_layer}
