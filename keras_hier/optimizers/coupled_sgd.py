"""`CoupledSGD`: SGD with momentum and L2 weight decay added to the gradient, as PyTorch's `torch.optim.SGD`."""

import keras
from keras import ops

from keras_hier._validation import check_number


@keras.saving.register_keras_serializable(package="keras_hier")
class CoupledSGD(keras.optimizers.SGD):
    """SGD with *coupled* weight decay: the update of PyTorch's `torch.optim.SGD(weight_decay=...)`.

    The papers keras_hier implements give their weight decay in PyTorch's convention (or, for HierNet, an
    equivalent scheduled SGDW): the decay is an L2 term added to the gradient *before* momentum,

        d = g + weight_decay * w
        buf = momentum * buf + d                 (buf starts at 0)
        w = w - learning_rate * buf              (nesterov: w - learning_rate * (d + momentum * buf))

    Keras' `keras.optimizers.SGD(weight_decay=wd)` is *decoupled* instead: it shrinks `w` by
    `learning_rate * wd * w` per step, outside the momentum. With momentum 0.9 the coupled decay accumulates in
    the momentum buffer and shrinks weights about `learning_rate * wd / (1 - momentum)` per step: ten times the
    decoupled value. A paper's "SGD, momentum 0.9, weight decay 1e-4" is `CoupledSGD(lr, 0.9, 1e-4)`, not
    `keras.optimizers.SGD(lr, 0.9, weight_decay=1e-4)`; the latter regularises ten times less.

    The momentum buffer is kept in gradient units, as PyTorch's: when a schedule changes the learning rate,
    the next step already moves at the new rate (Keras' SGD keeps the velocity it accumulated at the old one).
    The decay applies to every trained variable, biases and normalisation parameters included (as PyTorch's
    default and HierNet's official SGDW); `exclude_from_weight_decay(var_names=[...])` leaves some out.

    Args:
        learning_rate: a float or a `keras.optimizers.schedules.LearningRateSchedule`.
        momentum: momentum factor in [0, 1] (PyTorch's `momentum`, no dampening).
        weight_decay: the L2 coefficient added to the gradient (PyTorch's `weight_decay`); 0 or None for none.
        nesterov: Nesterov momentum, as PyTorch's `nesterov=True`.
        learning_rate_multipliers: optional dict from a variable-path prefix (e.g. `"cosine_classifier/"`) to a
            factor on the learning rate of the variables whose `path` starts with it (the longest prefix wins;
            others take 1): PyTorch's parameter groups with their own `lr`, e.g. Parisot et al.'s 0.001 for a
            pre-trained encoder and 0.1 for the classifier is `learning_rate=0.001,
            learning_rate_multipliers={"cosine_classifier/": 100}`.
        **kwargs: the other arguments of `keras.optimizers.Optimizer` (`clipnorm`, `global_clipnorm`, `name`...).
            Gradient clipping sees the gradient before the decay is added, as `torch.nn.utils.clip_grad_norm_`
            before `optimizer.step()`.

    Example:
    >>> import numpy as np
    >>> w = keras.Variable(np.array([2.0], "float32"))
    >>> opt = CoupledSGD(learning_rate=0.1, momentum=0.9, weight_decay=0.01)
    >>> opt.apply([np.array([0.5], "float32")], [w])  # w - 0.1 * (0.5 + 0.01 * 2)
    >>> round(float(w.numpy()[0]), 6)
    1.948
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, weight_decay=None, nesterov=False,
                 learning_rate_multipliers=None, **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=float(momentum), nesterov=nesterov, **kwargs)
        if weight_decay is not None:
            check_number(weight_decay, "weight_decay", low=0)
        multipliers = dict(learning_rate_multipliers or {})
        bad = {k: v for k, v in multipliers.items() if not isinstance(k, str) or not float(v) >= 0}
        if bad:
            raise ValueError(f"`learning_rate_multipliers` maps path prefixes to factors >= 0; got {bad}.")
        # Not the base class's `weight_decay`: that one would also apply Keras' decoupled decay.
        self.coupled_weight_decay = float(weight_decay) if weight_decay else 0.0
        self.learning_rate_multipliers = {k: float(v) for k, v in multipliers.items()}

    def learning_rate_multiplier(self, variable):
        """The factor on the learning rate of `variable` (from `learning_rate_multipliers`; 1 by default)."""
        if not self.learning_rate_multipliers:
            return 1.0
        if not hasattr(variable, "path"):  # the TensorFlow backend updates the backend variable
            variable = self._trainable_variables[self._get_variable_index(variable)]
        matches = [k for k in self.learning_rate_multipliers if variable.path.startswith(k)]
        return self.learning_rate_multipliers[max(matches, key=len)] if matches else 1.0

    def update_step(self, gradient, variable, learning_rate):
        """One PyTorch SGD step on `variable` (see the class docstring)."""
        learning_rate = ops.cast(learning_rate, variable.dtype)
        factor = self.learning_rate_multiplier(variable)
        if factor != 1.0:
            learning_rate = ops.multiply(learning_rate, ops.cast(factor, variable.dtype))
        gradient = ops.cast(gradient, variable.dtype)
        if self.coupled_weight_decay and self._use_weight_decay(variable):
            gradient = ops.add(gradient, ops.multiply(variable, ops.cast(self.coupled_weight_decay, variable.dtype)))
        if self.momentum == 0:
            self.assign_sub(variable, ops.multiply(gradient, learning_rate))
            return
        buffer = self.momentums[self._get_variable_index(variable)]
        momentum = ops.cast(self.momentum, variable.dtype)
        self.assign(buffer, ops.add(ops.multiply(buffer, momentum), gradient))
        step = ops.add(gradient, ops.multiply(buffer, momentum)) if self.nesterov else buffer
        self.assign_sub(variable, ops.multiply(step, learning_rate))

    def get_config(self):
        config = super().get_config()
        config["weight_decay"] = self.coupled_weight_decay
        config["learning_rate_multipliers"] = dict(self.learning_rate_multipliers)
        return config
