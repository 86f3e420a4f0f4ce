"""Multi-label losses over a subset of the label columns (the seen classes of a zero-shot model)."""

import keras
from keras import ops

from keras_hier.losses._checks import check_labels, check_width


def _columns(y_true, y_pred, columns, what):
    """The float32 labels and predictions of the chosen `columns`, after checking the widths (equal, and wide enough
    for `columns`) and that the labels are 0 / 1."""
    y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
    width = y_pred.shape[-1]
    if width is not None:
        check_width(y_true, width, f"{what} labels (as wide as the predictions)")
        if columns is not None and max(columns) >= width:
            raise ValueError(f"{what}: column {max(columns)} is outside the {width} predictions.")
    y_true = check_labels(y_true, 0.0, 1.0, what)
    if columns is not None:
        y_true, y_pred = ops.take(y_true, columns, axis=1), ops.take(y_pred, columns, axis=1)
    return y_true, y_pred


@keras.saving.register_keras_serializable(package="keras_hier")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Sigmoid binary cross-entropy averaged over the chosen label columns (PyTorch's MultiLabelSoftMarginLoss
    on them): the labels of the other columns, e.g. unseen classes at training time, are ignored. Float32.

    Args:
        columns: the label indices that count (e.g. the seen classes); None for all.
        from_logits: whether `y_pred` holds logits (the default) or probabilities.

    Example:
    >>> loss = MaskedBinaryCrossentropy(columns=[0])
    >>> round(float(loss([[1.0, 1.0]], [[0.0, -9.0]])), 4)  # the second column does not count: log 2
    0.6931
    """

    def __init__(self, columns=None, from_logits=True, name="masked_binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.columns = None if columns is None else [int(c) for c in columns]
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        y_true, y_pred = _columns(y_true, y_pred, self.columns, "MaskedBinaryCrossentropy")
        return ops.mean(ops.binary_crossentropy(y_true, y_pred, from_logits=self.from_logits), axis=-1)

    def get_config(self):
        return {**super().get_config(), "columns": self.columns, "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="keras_hier")
class PairwiseRankingLoss(keras.losses.Loss):
    """Fast0Tag's ranking loss: for each image, log(1 + exp(s_neg - s_pos)) averaged over its positive labels
    and `num_negatives` negatives drawn at random per positive (all negatives when None). Images with no
    positive or no negative give 0. Float32.

    Args:
        columns: the label indices that count (e.g. the seen classes); None for all.
        num_negatives: negatives sampled per positive (the official code: 5); None uses every negative.
        seed: seed of the sampling.

    Example:
    >>> loss = PairwiseRankingLoss(num_negatives=None)
    >>> round(float(loss([[1.0, 0.0]], [[2.0, 0.0]])), 4)  # log(1 + e^-2)
    0.1269
    """

    def __init__(self, columns=None, num_negatives=5, seed=None, name="pairwise_ranking", **kwargs):
        super().__init__(name=name, **kwargs)
        self.columns = None if columns is None else [int(c) for c in columns]
        if num_negatives is not None and int(num_negatives) < 1:
            raise ValueError(f"`num_negatives` must be positive or None; got {num_negatives}.")
        self.num_negatives = None if num_negatives is None else int(num_negatives)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, y_true, y_pred):
        y_true, y_pred = _columns(y_true, y_pred, self.columns, "PairwiseRankingLoss")
        pos, neg = y_true, 1.0 - y_true
        pairs = ops.softplus(y_pred[:, None, :] - y_pred[:, :, None])  # [b, positive j, negative i]
        mask = pos[:, :, None] * neg[:, None, :]
        if self.num_negatives is not None:
            # Each positive keeps `num_negatives` of its negatives at random: the top of random keys among them.
            keys = keras.random.uniform(ops.shape(pairs), seed=self.seed_generator) + mask
            k = min(self.num_negatives, int(y_pred.shape[-1]))
            threshold = ops.top_k(keys, k)[0][..., -1:]
            mask = mask * ops.cast(keys >= threshold, "float32")
        total = ops.sum(pairs * mask, axis=(1, 2))
        return total / ops.maximum(ops.sum(mask, axis=(1, 2)), 1.0)

    def get_config(self):
        return {**super().get_config(), "columns": self.columns, "num_negatives": self.num_negatives, "seed": self.seed}
