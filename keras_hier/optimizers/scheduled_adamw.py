"""`ScheduledAdamW`: AdamW whose weight decay follows DINO's cosine schedule, biases and norms left undecayed."""

import keras

from keras_hier._validation import check_number

# What DINO's, iBOT's and HIRL's `get_params_groups` leave undecayed: biases and normalisation parameters.
BIASES_AND_NORMS = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="keras_hier")
class ScheduledAdamW(keras.optimizers.AdamW):
    """AdamW (decoupled decay, as PyTorch's `torch.optim.AdamW`: `w <- w - lr * wd * w` before the Adam step) with
    the weight decay of DINO and iBOT: it rises from `weight_decay` to `weight_decay_end` along a half cosine over
    `weight_decay_steps` optimizer steps (DINO: 0.04 -> 0.4 over the whole run), and by default biases and
    normalisation parameters (variables named `bias`, `gamma`, `beta`) are not decayed, as their `get_params_groups`.
    The class token, position embeddings and mask token are decayed, as there (they are not one-dimensional in
    PyTorch). Pass `clipnorm` for their per-parameter gradient clipping (`clip_gradients`: each gradient scaled to a
    norm of at most `clipnorm`; DINO and iBOT 3.0, HIRL's configurations of both 0.3).

    Args:
        learning_rate: a float or a `keras.optimizers.schedules.LearningRateSchedule`.
        weight_decay: the decay at step 0 (DINO: 0.04).
        weight_decay_end: the decay at `weight_decay_steps` (DINO: 0.4; None: constant `weight_decay`).
        weight_decay_steps: length of the cosine in optimizer steps (0: constant `weight_decay`).
        exclude_biases_and_norms: leave `bias`, `gamma` and `beta` variables undecayed.
        **kwargs: the other arguments of `keras.optimizers.AdamW` (`beta_1`, `beta_2`, `epsilon`, `clipnorm`...).

    Example:
    >>> import numpy as np
    >>> opt = ScheduledAdamW(1.0, weight_decay=0.04, weight_decay_end=0.4, weight_decay_steps=4)
    >>> w = keras.Variable(np.ones(2, "float32"), name="kernel")
    >>> opt.build([w])
    >>> round(float(opt.weight_decay_now()), 4)
    0.04
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.04, weight_decay_end=None, weight_decay_steps=0,
                 exclude_biases_and_norms=True, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        end = weight_decay if weight_decay_end is None else weight_decay_end
        check_number(weight_decay, "weight_decay", low=0)
        check_number(end, "weight_decay_end", low=0)
        check_number(weight_decay_steps, "weight_decay_steps", low=0, integer=True)
        self.weight_decay_end, self.weight_decay_steps = float(end), int(weight_decay_steps)
        self.exclude_biases_and_norms = bool(exclude_biases_and_norms)
        if self.exclude_biases_and_norms:
            self.exclude_from_weight_decay(var_names=list(BIASES_AND_NORMS))

    def weight_decay_now(self):
        """The decay of this step (`iterations` steps done): DINO's `cosine_scheduler`, end + (start - end) * (1 +
        cos(pi * step / steps)) / 2, the same half cosine as the teachers' momentum (`cosine_schedule`)."""
        from keras_hier.models.ssl.base import cosine_schedule

        return cosine_schedule(self.weight_decay, self.weight_decay_end, self.iterations, self.weight_decay_steps)

    def _apply_weight_decay(self, variables):
        # Keras' own step (each backend's, distribution-aware) with this step's decay in place of the constant.
        start = self.weight_decay
        self.weight_decay = self.weight_decay_now()
        try:
            super()._apply_weight_decay(variables)
        finally:
            self.weight_decay = start

    def get_config(self):
        return {**super().get_config(), "weight_decay_end": self.weight_decay_end,
                "weight_decay_steps": self.weight_decay_steps,
                "exclude_biases_and_norms": self.exclude_biases_and_norms}
