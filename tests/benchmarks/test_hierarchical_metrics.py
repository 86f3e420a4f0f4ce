"""benchmarks.hierarchical_metrics: its pair-at-a-time baseline agrees with `lca_distance` (what the speed-up is
measured against)."""

import numpy as np

from benchmarks import hierarchical_metrics
from keras_hier.metrics import lca_distance
from tests.metrics.hierarchies import random_hierarchy


def test_pairwise_baseline_agrees_with_the_matrix():
    h = random_hierarchy(7, nodes=20, dag=True)
    pairs = np.array([(i, j) for i in range(h.num_classes) for j in range(h.num_classes)])
    for kind in ("height", "path"):
        matrix = lca_distance(h, kind)
        np.testing.assert_array_equal(hierarchical_metrics.pairwise_baseline(h, pairs, kind),
                                      matrix[pairs[:, 0], pairs[:, 1]])
