"""`RiskMinimisingDecision`: CRM (`keras_hier.metrics.risk_minimising_decision`) as a layer, for exported models."""

import keras
from keras import ops

from keras_hier.metrics.risk import cost_matrix


@keras.saving.register_keras_serializable(package="keras_hier")
class RiskMinimisingDecision(keras.layers.Layer):
    """Scores whose argmax is the conditional-risk-minimising decision: -sum_i C(i, j) p(i | x) for each class j.

    Put it after a classifier's softmax: the argmax, the top-k and Keras' accuracy metrics of its output then follow
    CRM (Karthik et al. ICLR 2021) instead of the most probable class. The cost matrix is a non-trainable weight
    (saved with the model); the risks are computed in float32 and returned in the layer's compute dtype.

    Args:
        cost: a cost matrix [classes, classes] (C(i, j): predicting j for class i), or a `Hierarchy` (or its JSON)
            whose `lca_distance(kind="height")` is the cost (the paper's).
        num_classes: the number of classes, when `cost` is None (a layer built from its config: the weights file
            holds the matrix).

    Example:
    >>> import numpy as np
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> scores = RiskMinimisingDecision(h)(np.array([[0.3, 0.3, 0.4]], "float32"))
    >>> int(np.argmax(scores))  # an animal: expected cost 0.3 + 2 * 0.4 = 1.1, car's 2 * 0.6 = 1.2
    0
    """

    def __init__(self, cost=None, num_classes=None, **kwargs):
        super().__init__(**kwargs)
        if cost is None and num_classes is None:
            raise ValueError("Give `cost` (a cost matrix or a Hierarchy).")
        self._initial = None if cost is None else cost_matrix(cost)
        self.num_classes = int(num_classes if cost is None else self._initial.shape[0])
        if self._initial is not None and num_classes is not None and int(num_classes) != self.num_classes:
            raise ValueError(f"`num_classes` {num_classes} disagrees with the {self.num_classes}-class cost.")

    def build(self, input_shape):
        if input_shape[-1] is not None and int(input_shape[-1]) != self.num_classes:
            raise ValueError(f"Expected probabilities [batch, {self.num_classes}]; got shape {tuple(input_shape)}.")
        self.cost = self.add_weight(name="cost", shape=(self.num_classes, self.num_classes), trainable=False,
                                    initializer="zeros", dtype="float32")
        if self._initial is not None:
            self.cost.assign(self._initial)
        self.built = True

    def call(self, probabilities):
        risk = ops.matmul(ops.cast(probabilities, "float32"), self.cost)
        return ops.cast(-risk, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        # The matrix travels in the weights; the config keeps its size.
        return {**super().get_config(), "num_classes": self.num_classes}
