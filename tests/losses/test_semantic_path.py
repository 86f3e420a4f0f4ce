"""SemanticPathDiscrimination against a numpy reference on a hand-made 2-level tree; negatives never the positive;
no NaN at the extremes; float32; errors."""

import keras
import numpy as np
import pytest

from keras_hier.clustering import HierarchicalClusters
from keras_hier.losses import SemanticPathDiscrimination

# Level 0: 4 prototypes on the unit circle; level 1: 2 prototypes; prototypes 0, 1 -> 0 and 2, 3 -> 1.
LEVEL0 = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], "float32")
LEVEL1 = np.array([[0.6, 0.8], [-0.6, -0.8]], "float32")
CLUSTERS = HierarchicalClusters([LEVEL0, LEVEL1], np.array([0, 1, 2, 3]), [np.array([0, 0, 1, 1])])


def s(z, path):
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return (1 + z[0] @ LEVEL0[path[0]]) / 2 * (1 + z[1] @ LEVEL1[path[1]]) / 2


def test_all_negatives_match_numpy():
    # With many draws every other prototype is drawn; compare with the exact mean over the 3 others via the path
    # similarity itself (the sampled mean converges to it).
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 2, 2)).astype("float32")
    labels = np.array([0, 2, 3])
    loss = SemanticPathDiscrimination(num_negative_paths=20000, seed=0)
    loss.set_clusters(CLUSTERS)
    paths = CLUSTERS.paths()
    want = []
    for zi, y in zip(z, labels):
        others = [k for k in range(4) if k != y]
        want.append(-np.log(s(zi, paths[y])) - np.mean([np.log(1 - s(zi, paths[k])) for k in others]))
    assert float(loss(labels, z)) == pytest.approx(float(np.mean(want)), rel=1e-2)
    np.testing.assert_allclose(np.asarray(loss.path_similarity(z, paths[labels])),
                               [s(zi, paths[y]) for zi, y in zip(z, labels)], rtol=1e-5)


def test_negatives_are_never_the_positive_and_extremes_are_finite():
    loss = SemanticPathDiscrimination(num_negative_paths=50, seed=1)
    loss.set_clusters(CLUSTERS)
    # An embedding exactly on its positive path, and one exactly opposite: s = 1 and s = 0, no NaN or inf.
    z = np.stack([np.stack([LEVEL0[0], LEVEL1[0]]), np.stack([-LEVEL0[0], -LEVEL1[0]])]).astype("float32")
    value = np.asarray(loss.call(np.array([0, 0]), z))
    assert np.isfinite(value).all() and value[0] < value[1]
    positive = np.array([0, 1, 2, 3] * 25)
    drawn = np.asarray(loss.negative_prototypes(positive))
    assert drawn.shape == (100, 50) and (drawn != positive[:, None]).all()
    for p in range(4):  # uniform over the three others
        counts = np.bincount(drawn[positive == p].ravel(), minlength=4)
        assert counts[p] == 0 and counts.sum() == 1250 and counts[counts > 0].min() > 330
    half = loss(np.array([0, 1]), keras.ops.cast(z, "float16"))
    assert half.dtype == "float32"


def test_errors_and_config():
    loss = SemanticPathDiscrimination(num_negative_paths=4)
    with pytest.raises(ValueError, match="set_clusters"):
        loss(np.array([0]), np.zeros((1, 2, 2), "float32"))
    loss.set_clusters(CLUSTERS)
    with pytest.raises(ValueError, match=r"\[batch, 2, d\]"):
        loss(np.array([0]), np.zeros((1, 3, 2), "float32"))
    other = HierarchicalClusters([LEVEL0[:3], LEVEL1], np.array([0, 1, 2]), [np.array([0, 0, 1])])
    with pytest.raises(ValueError, match="other sizes"):
        loss.set_clusters(other)
    assert SemanticPathDiscrimination.from_config(loss.get_config()).num_negative_paths == 4
    with pytest.raises(ValueError, match="positive"):
        SemanticPathDiscrimination(num_negative_paths=0)
