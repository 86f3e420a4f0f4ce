"""Evaluation metrics of keras_hier."""

from keras_hier.metrics.hierarchical import tree_accuracies

__all__ = ["tree_accuracies"]
