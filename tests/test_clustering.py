"""Spherical and hierarchical K-means: separated clusters recovered, unit centroids, nearest-centroid assignments, no
empty cluster, consistent paths, the Hierarchy view, errors; every test on both implementations (TensorFlow's,
used under its backend, and NumPy's, used under the others)."""

import keras
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from keras_hier.clustering import hierarchical_kmeans, spherical_kmeans


@pytest.fixture(autouse=True, params=["tensorflow", "numpy"])
def implementation(request, monkeypatch):
    """Runs the test with the TensorFlow K-means, then with the NumPy one (what a JAX process uses)."""
    if request.param == "numpy":
        monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    return request.param


def blobs(seed=0, per=40, dim=16, groups=6, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dim))
    labels = np.repeat(np.arange(groups), per)
    return (centres[labels] + spread * rng.normal(size=(len(labels), dim))).astype("float32"), labels


@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_spherical_kmeans_recovers_separated_clusters(init):
    x, labels = blobs()
    centroids, assign = spherical_kmeans(x, 6, init=init, seed=1, chunk_size=50)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_array_equal(assign, (unit @ centroids.T).argmax(1))  # nearest by cosine
    if init == "kmeans++":
        assert adjusted_rand_score(labels, assign) == pytest.approx(1.0)
    again = spherical_kmeans(x, 6, init=init, seed=1)[1]
    assert adjusted_rand_score(assign, again) == pytest.approx(1.0)  # chunking does not change the result


def test_no_cluster_is_left_empty():
    x, _ = blobs(groups=2, per=10)
    _, assign = spherical_kmeans(x, 20, init="random", seed=0)
    assert np.bincount(assign, minlength=20).min() >= 1


def test_hierarchical_kmeans_tree():
    x, labels = blobs(groups=6, per=30)
    result = hierarchical_kmeans(x, (12, 6, 2), seed=0, verbose=False)
    assert [p.shape for p in result.prototypes] == [(12, 16), (6, 16), (2, 16)]
    assert [len(p) for p in result.parents] == [12, 6]
    paths = result.paths()
    assert paths.shape == (12, 3) and (paths[:, 0] == np.arange(12)).all()
    # Level 1 (6 prototypes) recovers the 6 groups; each sample's path follows its level-0 prototype.
    assert adjusted_rand_score(labels, result.sample_assignments(1)) == pytest.approx(1.0)
    np.testing.assert_array_equal(result.sample_assignments(0), result.assignments)
    np.testing.assert_array_equal(result.sample_assignments(2), result.parents[1][result.parents[0][result.assignments]])
    h = result.to_hierarchy()
    assert h.num_classes == 12 and h.max_depth == 3 and h.is_tree
    assert h.parents("L0_0") == (f"L1_{result.parents[0][0]}",)


def test_errors():
    x, _ = blobs()
    with pytest.raises(ValueError, match="not increasing"):
        hierarchical_kmeans(x, (5, 10), verbose=False)
    with pytest.raises(ValueError, match="n >= 1000"):
        hierarchical_kmeans(x, (1000,), verbose=False)
    with pytest.raises(ValueError, match="Unknown `init`"):
        spherical_kmeans(x, 3, init="forgy")
    with pytest.raises(ValueError, match="1 <= k <= n"):
        spherical_kmeans(x[:3], 4)


def test_kmeans_plus_plus_is_reproducible_and_handles_identical_points():
    x, _ = blobs(seed=3)
    a, b = spherical_kmeans(x, 6, seed=5), spherical_kmeans(x, 6, seed=5)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0])
    same = np.ones((10, 4), "float32")  # every distance 0: seeding still picks k rows, nothing is NaN
    centroids, assign = spherical_kmeans(same, 3, seed=0)
    np.testing.assert_allclose(centroids, 0.5)  # all equal to the one point (ties go to the first)
    assert ((assign >= 0) & (assign < 3)).all()


def test_nested_blobs_are_recovered_at_every_level():
    # 2 super-groups far apart, 3 groups in each, 2 sub-groups in each group: 12 / 6 / 2 clusters.
    rng = np.random.default_rng(0)
    dim = 32
    top = 8.0 * rng.normal(size=(2, dim))
    mid = np.repeat(top, 3, axis=0) + 2.0 * rng.normal(size=(6, dim))
    low = np.repeat(mid, 2, axis=0) + 0.5 * rng.normal(size=(12, dim))
    leaf = np.repeat(np.arange(12), 25)
    x = (low[leaf] + 0.05 * rng.normal(size=(len(leaf), dim))).astype("float32")
    result = hierarchical_kmeans(x, (12, 6, 2), seed=0, verbose=False)
    for level, truth in enumerate((leaf, leaf // 2, leaf // 6)):
        assert adjusted_rand_score(truth, result.sample_assignments(level)) == pytest.approx(1.0), level


# Four points whose best 2-way split (objective 3.193, the sum of cosines to the centroids, found by trying every
# split) one k-means++ seeding misses for 8 of the seeds 0-19, ending in splits scoring 2.63 or 2.71.
FOUR = np.array([[0.12573022, -0.13210486, 0.64042264], [0.10490011, -0.5356694, 0.36159506],
                 [1.304, 0.94708097, -0.70373523], [-1.2654215, -0.62327445, 0.04132598]], "float32")


def best_two_way_objective(x):
    from itertools import product

    from keras_hier.clustering import kmeans_objective

    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    splits = (np.array(s) for s in product((0, 1), repeat=len(x)) if 0 < sum(s) < len(x))
    return max(kmeans_objective(unit, np.stack([unit[s == j].sum(0) for j in (0, 1)])) for s in splits)


def test_restarts_keep_the_best_of_several_seedings():
    from keras_hier.clustering import kmeans_objective

    optimum = best_two_way_objective(FOUR)
    assert optimum == pytest.approx(3.1927, abs=1e-3)
    once = [kmeans_objective(FOUR, spherical_kmeans(FOUR, 2, seed=s)[0]) for s in range(20)]
    assert sum(o < optimum - 1e-4 for o in once) >= 5  # one seeding is often stuck: the case tests something
    for seed in range(20):  # the reference's 5 (faiss nredo) find the optimum every time
        centroids, assign = spherical_kmeans(FOUR, 2, seed=seed, restarts=5)
        assert kmeans_objective(FOUR, centroids) == pytest.approx(optimum, abs=1e-4)
    # One restart is the single run; hierarchical_kmeans passes restarts to every level.
    single, restart = spherical_kmeans(FOUR, 2, seed=3), spherical_kmeans(FOUR, 2, seed=3, restarts=1)
    np.testing.assert_array_equal(single[1], restart[1])
    tree = hierarchical_kmeans(np.concatenate([FOUR, FOUR + 0.01]), (4, 2), restarts=5, verbose=False)
    assert kmeans_objective(tree.prototypes[0], tree.prototypes[1]) == pytest.approx(
        best_two_way_objective(tree.prototypes[0]), abs=1e-4)
    with pytest.raises(ValueError, match="restarts"):
        spherical_kmeans(FOUR, 2, restarts=0)
