"""Evaluation metrics of keras_hier: tree accuracies (HierNet), zero-shot Hit@k, TOR and POR (HGR-Net), multi-label
mAP and miAP (multi-label zero-shot), accuracy by shot group (long tail), k-NN, linear-probe and clustering scores of
frozen features (HIRL)."""

from keras_hier.metrics.hierarchical import tree_accuracies
from keras_hier.metrics.long_tail import ShotGroupAccuracy, shot_accuracies
from keras_hier.metrics.multilabel import (
    MeanAveragePrecision,
    MeanImageAveragePrecision,
    average_precision,
    image_average_precision,
    mean_average_precision,
    mean_image_average_precision,
    multilabel_report,
)
from keras_hier.metrics.representation import (
    clustering_accuracy,
    clustering_scores,
    knn_accuracies,
    linear_probe,
    linear_probe_accuracy,
)
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
    "average_precision",
    "image_average_precision",
    "mean_average_precision",
    "mean_image_average_precision",
    "multilabel_report",
    "MeanAveragePrecision",
    "MeanImageAveragePrecision",
    "shot_accuracies",
    "ShotGroupAccuracy",
    "knn_accuracies",
    "linear_probe",
    "linear_probe_accuracy",
    "clustering_accuracy",
    "clustering_scores",
]
