"""Evaluation metrics of keras_hier: hierarchy-aware metrics for any classifier (hierarchical precision / recall / F1,
LCA distances, mistake severity, hierarchical distance@k and precision@k, path consistency, the risk-minimising
decision), tree accuracies (HierNet), zero-shot Hit@k, TOR and POR (HGR-Net), multi-label mAP and miAP (multi-label
zero-shot), accuracy by shot group (long tail), k-NN, linear-probe and clustering scores of frozen features (HIRL)."""

from keras_hier.metrics.hierarchical import tree_accuracies
from keras_hier.metrics.hierarchical_f1 import (
    HierarchicalF1,
    HierarchicalPrecision,
    HierarchicalRecall,
    hierarchical_precision_recall_f1,
)
from keras_hier.metrics.hierarchical_summary import hierarchical_summary
from keras_hier.metrics.lca import lca_distance
from keras_hier.metrics.mistakes import (
    HierarchicalDistanceAtK,
    HierarchicalPrecisionAtK,
    MistakeSeverity,
    hierarchical_distance_at_k,
    hierarchical_precision_at_k,
    mistake_severity,
)
from keras_hier.metrics.path_consistency import full_path_accuracy, inconsistent_path_ratio, level_predictions
from keras_hier.metrics.risk import risk_minimising_decision
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
    "lca_distance",
    "hierarchical_precision_recall_f1",
    "HierarchicalPrecision",
    "HierarchicalRecall",
    "HierarchicalF1",
    "mistake_severity",
    "hierarchical_distance_at_k",
    "hierarchical_precision_at_k",
    "MistakeSeverity",
    "HierarchicalDistanceAtK",
    "HierarchicalPrecisionAtK",
    "level_predictions",
    "full_path_accuracy",
    "inconsistent_path_ratio",
    "risk_minimising_decision",
    "hierarchical_summary",
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
