"""Optimizers whose hyper-parameters mean what they mean in the papers keras_hier implements."""

from keras_hier.optimizers.coupled_sgd import CoupledSGD
from keras_hier.optimizers.scheduled_adamw import ScheduledAdamW

__all__ = ["CoupledSGD", "ScheduledAdamW"]
