"""`BalancedSoftmax`: cross-entropy on logits shifted by the log class priors (Ren et al., 2020)."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hier")
class BalancedSoftmax(keras.losses.Loss):
    """Softmax cross-entropy of `logits + log(prior)`, with the prior the training class frequencies.

    Adding the log prior during training only makes the model's own logits estimate the class-balanced
    posterior: at test time (balanced classes) the logits are used as they are. Computed in float32.

    Args:
        class_counts: training images per class [C] (every class needs at least one).
        from_logits: must be True (the loss shifts logits).

    Example:
    >>> loss = BalancedSoftmax([30, 10])
    >>> round(float(loss([0], [[0.0, 0.0]])), 4)  # -log(30 / 40): the prior shifts equal logits
    0.2877
    """

    def __init__(self, class_counts, name="balanced_softmax", **kwargs):
        super().__init__(name=name, **kwargs)
        counts = np.asarray(class_counts, np.float64).reshape(-1)
        if not len(counts) or (counts <= 0).any():
            raise ValueError(f"`class_counts` must be positive for every class; got {counts.tolist()[:10]}.")
        self.class_counts = counts.tolist()
        self.log_prior = np.log(counts / counts.sum()).astype(np.float32)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32") + self.log_prior
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        return ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts}
