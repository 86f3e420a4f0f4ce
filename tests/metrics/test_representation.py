"""Representation metrics: weighted k-NN against a brute-force numpy computation, Hungarian clustering accuracy on
hand-made labels, NMI / AMI of perfect and shuffled clusterings, the linear probe, errors."""

import numpy as np
import pytest

from keras_hier.metrics import clustering_accuracy, clustering_scores, knn_accuracies, linear_probe_accuracy


def knn_numpy(train, train_labels, test, test_labels, k, t):
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    test = test / np.linalg.norm(test, axis=1, keepdims=True)
    correct = 0
    for q, y in zip(test, test_labels):
        sim = train @ q
        top = np.argsort(-sim, kind="stable")[:k]
        votes = np.zeros(train_labels.max() + 1)
        for j in top:
            votes[train_labels[j]] += np.exp(sim[j] / t)
        correct += int(votes.argmax() == y)
    return correct / len(test_labels)


def test_knn_matches_brute_force():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8))
    train_labels = rng.integers(0, 4, size=300)
    test_labels = rng.integers(0, 4, size=77)
    train = centres[train_labels] + 1.5 * rng.normal(size=(300, 8))
    test = centres[test_labels] + 1.5 * rng.normal(size=(77, 8))
    result = knn_accuracies(train, train_labels, test, test_labels, ks=(1, 10, 20, 100, 500), chunk_size=16)
    for k in (1, 10, 20, 100):
        assert result[k] == pytest.approx(knn_numpy(train, train_labels, test, test_labels, k, 0.07))
    assert result[500] == pytest.approx(knn_numpy(train, train_labels, test, test_labels, 300, 0.07))  # k > n: all
    assert 0.5 < max(result.values()) <= 1.0


def test_knn_weights_by_similarity():
    # Two far neighbours of class 1 against one very close neighbour of class 0: the weights decide.
    train = np.array([[1.0, 0.0], [0.0, 1.0], [0.05, 1.0]])
    assert knn_accuracies(train, [0, 1, 1], [[1.0, 0.01]], [0], ks=(3,), temperature=0.07) == {3: 1.0}
    assert knn_accuracies(train, [0, 1, 1], [[1.0, 0.01]], [0], ks=(3,), temperature=100.0) == {3: 0.0}


def test_clustering_accuracy_by_hand():
    # Clusters 5 -> class 0 (2 right), 3 -> class 1 (2 right, 1 wrong): 4 / 5.
    assert clustering_accuracy([0, 0, 1, 1, 2], [5, 5, 3, 3, 3]) == pytest.approx(0.8)
    assert clustering_accuracy([0, 1, 2, 0], [2, 0, 1, 2]) == 1.0  # any renaming
    # More clusters than classes: the unmatched cluster's images count as wrong.
    assert clustering_accuracy([0, 0, 1, 1], [0, 1, 2, 2]) == pytest.approx(0.75)


def test_clustering_scores_and_probe():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    directions = np.eye(3, 6) * 5
    x = directions[labels] + 0.3 * rng.normal(size=(120, 6))
    scores = clustering_scores(x, labels)
    assert scores == {"accuracy": 1.0, "nmi": pytest.approx(1.0), "ami": pytest.approx(1.0)}
    noise = clustering_scores(rng.normal(size=(120, 6)), labels)
    assert noise["ami"] < 0.1 and noise["accuracy"] < 0.6
    assert linear_probe_accuracy(x[::2], labels[::2], x[1::2], labels[1::2]) == 1.0


def test_errors():
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match="one label each"):
        knn_accuracies(x, [0, 1], x, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="width"):
        knn_accuracies(x, [0, 1, 0, 1], np.ones((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="ks"):
        knn_accuracies(x, [0, 1, 0, 1], x, [0, 1, 0, 1], ks=(0,))
    with pytest.raises(ValueError, match="class ids"):
        knn_accuracies(x, [0, -1, 0, 1], x, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="two classes"):
        linear_probe_accuracy(x, [1, 1, 1, 1], x, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="one cluster per label"):
        clustering_accuracy([0, 1], [0])


def test_knn_votes_are_the_best_k_classifier():
    rng = np.random.default_rng(3)
    train, test = rng.normal(size=(60, 4)), rng.normal(size=(25, 4))
    train_labels, test_labels = rng.integers(0, 3, 60), rng.integers(0, 3, 25)
    accuracies, votes = knn_accuracies(train, train_labels, test, test_labels, ks=(1, 5, 20), return_votes=True)
    assert accuracies == knn_accuracies(train, train_labels, test, test_labels, ks=(1, 5, 20))
    assert votes.shape == (25, 3) and (votes >= 0).all()
    assert (votes.argmax(1) == test_labels).mean() == max(accuracies.values())
