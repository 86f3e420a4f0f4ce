"""Losses of keras_hier, registered for `.keras` saving under the package name `keras_hier`."""

from keras_hier.losses.balanced_softmax import BalancedSoftmax
from keras_hier.losses.hierarchical_infonce import HierarchicalInfoNCE
from keras_hier.losses.multilabel import MaskedBinaryCrossentropy, PairwiseRankingLoss
from keras_hier.losses.semantic_path import SemanticPathDiscrimination

__all__ = [
    "BalancedSoftmax",
    "HierarchicalInfoNCE",
    "MaskedBinaryCrossentropy",
    "PairwiseRankingLoss",
    "SemanticPathDiscrimination",
]
