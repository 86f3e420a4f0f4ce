"""Optimizers whose hyper-parameters mean what they mean in the papers keras_hier implements."""

from keras_hier.optimizers.coupled_sgd import CoupledSGD

__all__ = ["CoupledSGD"]
