"""Losses of keras_hier, registered for `.keras` saving under the package name `keras_hier`."""

from keras_hier.losses.hierarchical_infonce import HierarchicalInfoNCE

__all__ = ["HierarchicalInfoNCE"]
