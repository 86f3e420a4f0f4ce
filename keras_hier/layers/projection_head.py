"""`ProjectionHead`: the MLP on top of an embedding: HIRL's per-level heads and the projectors and predictor of the
self-supervised base methods (SimCLR, MoCo v2, SimSiam)."""

import keras
from keras import ops

from keras_hier._validation import check_number
from keras_hier.distribute import batch_normalization
from keras_hier.initializers import pytorch_default_uniform


@keras.saving.register_keras_serializable(package="keras_hier")
class ProjectionHead(keras.layers.Layer):
    """Dense -> [BatchNormalization] -> ReLU, repeated, then a last Dense [and BatchNormalization]; the output
    optionally L2-normalised.

    Every method that uses it has PyTorch reference code, so its batch norms are PyTorch's `BatchNorm1d` by default:
    running statistics updated with weight 0.1 (Keras `momentum=0.9`, where Keras' own default is 0.99) and
    epsilon 1e-5 (Keras: 1e-3), and its Dense layers start as PyTorch's `nn.Linear` (kernel and bias uniform in
    +-1/sqrt(fan_in); Keras' `glorot_uniform` is sqrt(3) times wider on a square layer, and Keras' biases start at 0).

    With the defaults (`num_layers=2`) this is HIRL's per-level head h_l: Linear(d, d, no bias), BatchNorm, ReLU,
    Linear(d, d), L2 norm. Other settings give the base methods' heads: MoCo v2's projector is
    `ProjectionHead(128, hidden_units=2048, batch_norm=False)`, SimSiam's projector
    `ProjectionHead(2048, num_layers=3, output_batch_norm=True, normalize=False)` and its predictor
    `ProjectionHead(2048, hidden_units=512, normalize=False)`. Its sublayers follow the head's dtype policy; the
    L2 normalisation is computed in float32 and the output is in the compute dtype (the losses of keras_hier cast
    their inputs to float32).

    Args:
        units: width of the output.
        num_layers: Dense layers in all (at least 1).
        hidden_units: width of the hidden layers (default `units`).
        batch_norm: batch normalisation after each hidden Dense (which then has no bias).
        output_batch_norm: batch normalisation, without scale and offset, after the last Dense (SimSiam).
        normalize: L2-normalise the output.
        output_bias: a bias in the last Dense when it has no batch norm after it (MoCo v3's predictor has none:
            every Linear of its MLPs is bias-free).
        batch_norm_momentum: Keras momentum of the batch norms' moving statistics (0.9: PyTorch's 0.1).
        batch_norm_epsilon: of the batch norms (1e-5, PyTorch's).
        weight_init: `"pytorch"` (`nn.Linear`'s default, as the reference heads) or `"keras"` (glorot-uniform
            kernels, zero biases).

    Example:
    >>> import numpy as np
    >>> out = ProjectionHead(8)(np.random.default_rng(0).normal(size=(4, 5)).astype("float32"))
    >>> tuple(out.shape), bool(np.allclose(np.linalg.norm(np.asarray(out), axis=1), 1.0, atol=1e-5))
    ((4, 8), True)
    """

    def __init__(self, units, num_layers=2, hidden_units=None, batch_norm=True, output_batch_norm=False,
                 normalize=True, output_bias=True, batch_norm_momentum=0.9, batch_norm_epsilon=1e-5,
                 weight_init="pytorch", **kwargs):
        super().__init__(**kwargs)
        hidden_units = units if hidden_units is None else hidden_units
        if min(int(units), int(num_layers), int(hidden_units)) < 1:
            raise ValueError(f"`units`, `hidden_units` and `num_layers` must be positive; got {units}, "
                             f"{hidden_units} and {num_layers}.")
        self.units, self.num_layers, self.hidden_units = int(units), int(num_layers), int(hidden_units)
        check_number(batch_norm_momentum, "batch_norm_momentum", low=0, high=1, high_open=True)
        check_number(batch_norm_epsilon, "batch_norm_epsilon", low=0, low_open=True)
        self.batch_norm, self.output_batch_norm, self.normalize = bool(batch_norm), bool(output_batch_norm), \
            bool(normalize)
        if weight_init not in ("pytorch", "keras"):
            raise ValueError(f"`weight_init` must be 'pytorch' or 'keras'; got {weight_init!r}.")
        self.output_bias, self.weight_init = bool(output_bias), weight_init
        self.batch_norm_momentum, self.batch_norm_epsilon = float(batch_norm_momentum), float(batch_norm_epsilon)
        bn = dict(momentum=self.batch_norm_momentum, epsilon=self.batch_norm_epsilon, dtype=self.dtype_policy)
        self.hidden = []
        for i in range(self.num_layers - 1):
            dense = keras.layers.Dense(self.hidden_units, use_bias=not self.batch_norm, name=f"dense_{i}",
                                       dtype=self.dtype_policy)
            norm = batch_normalization(name=f"bn_{i}", **bn) if self.batch_norm else None
            self.hidden.append((dense, norm))
        self.out = keras.layers.Dense(self.units, use_bias=self.output_bias and not self.output_batch_norm,
                                      name=f"dense_{self.num_layers - 1}", dtype=self.dtype_policy)
        self.out_bn = (batch_normalization(center=False, scale=False, name="bn_out", **bn)
                       if self.output_batch_norm else None)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense, bn in self.hidden:
            self._pytorch_init(dense, shape)
            dense.build(shape)
            shape = shape[:-1] + (self.hidden_units,)
            if bn is not None:
                bn.build(shape)
        self._pytorch_init(self.out, shape)
        self.out.build(shape)
        if self.out_bn is not None:
            self.out_bn.build(shape[:-1] + (self.units,))
        self.built = True

    def _pytorch_init(self, dense, input_shape):
        """Before `dense` builds (`weight_init="pytorch"`): nn.Linear's kernel and bias, uniform in +-1/sqrt(fan_in)."""
        if self.weight_init == "pytorch":
            dense.kernel_initializer = dense.bias_initializer = pytorch_default_uniform(int(input_shape[-1]))

    def call(self, x, training=None):
        for dense, bn in self.hidden:
            x = dense(x)
            x = ops.relu(x if bn is None else bn(x, training=training))
        x = self.out(x)
        if self.out_bn is not None:
            x = self.out_bn(x, training=training)
        if self.normalize:
            x = ops.normalize(ops.cast(x, "float32"), axis=-1)
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers,
                "hidden_units": self.hidden_units, "batch_norm": self.batch_norm,
                "output_batch_norm": self.output_batch_norm, "normalize": self.normalize,
                "output_bias": self.output_bias, "batch_norm_momentum": self.batch_norm_momentum,
                "batch_norm_epsilon": self.batch_norm_epsilon, "weight_init": self.weight_init}
