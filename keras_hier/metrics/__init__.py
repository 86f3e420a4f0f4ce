"""Evaluation metrics of keras_hier: tree accuracies (HierNet) and zero-shot Hit@k, TOR and POR (HGR-Net)."""

from keras_hier.metrics.hierarchical import tree_accuracies
from keras_hier.metrics.zero_shot import (
    HitAtK,
    PointOverlapRatio,
    TopOverlapRatio,
    hit_at_k,
    point_overlap_ratio,
    top_overlap_ratio,
)

__all__ = [
    "tree_accuracies",
    "hit_at_k",
    "top_overlap_ratio",
    "point_overlap_ratio",
    "HitAtK",
    "TopOverlapRatio",
    "PointOverlapRatio",
]
