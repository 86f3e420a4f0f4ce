"""ScheduledAdamW: DINO's cosine weight-decay schedule step by step against the formula, biases and norms left
undecayed, the configuration round trip, errors."""

import keras
import numpy as np
import pytest

from keras_hier.optimizers import ScheduledAdamW


def test_decay_follows_dinos_cosine_schedule():
    # DINO's `cosine_scheduler(0.04, 0.4, epochs, niter_per_ep)`: end + (start - end) * (1 + cos(pi * it / T)) / 2.
    opt = ScheduledAdamW(0.5, weight_decay=0.04, weight_decay_end=0.4, weight_decay_steps=4)
    kernel, bias = keras.Variable(np.ones(2, "float32"), name="kernel"), keras.Variable(np.ones(2, "float32"),
                                                                                         name="bias")
    gamma = keras.Variable(np.ones(2, "float32"), name="gamma")
    opt.build([kernel, bias, gamma])
    want = 1.0
    for step in range(6):
        decay = 0.4 + (0.04 - 0.4) * 0.5 * (1 + np.cos(np.pi * min(step / 4, 1.0)))
        assert float(opt.weight_decay_now()) == pytest.approx(decay, abs=1e-7)
        opt.apply([np.zeros(2, "float32")] * 3, [kernel, bias, gamma])  # zero gradients: only the decay moves
        want *= 1 - 0.5 * decay
        assert float(kernel.numpy()[0]) == pytest.approx(want, rel=1e-6)
    assert float(bias.numpy()[0]) == float(gamma.numpy()[0]) == 1.0  # DINO's `get_params_groups`
    assert opt.weight_decay == 0.04  # the constant Keras keeps is untouched by the steps


def test_config_and_errors():
    opt = ScheduledAdamW(1e-3, weight_decay=0.04, weight_decay_end=0.4, weight_decay_steps=100, clipnorm=0.3)
    again = ScheduledAdamW.from_config(opt.get_config())
    assert (again.weight_decay_end, again.weight_decay_steps, again.clipnorm) == (0.4, 100, 0.3)
    constant = ScheduledAdamW(1e-3, weight_decay=0.1, exclude_biases_and_norms=False)
    assert float(constant.weight_decay_now()) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="weight_decay_steps"):
        ScheduledAdamW(weight_decay_steps=-1)
