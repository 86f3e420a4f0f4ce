"""How good frozen features are: weighted k-NN accuracy, linear-probe accuracy and clustering scores (HIRL's
evaluation of self-supervised encoders)."""

import numpy as np

from keras_hier._validation import check_finite, check_number

KNN_KS = (10, 20, 100, 200)


def _checked(features, labels, what):
    features = check_finite(np.asarray(features, np.float32), f"{what.lower()}_features")
    labels = np.asarray(labels).reshape(-1)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"{what} features must be [n, d] with one label each; got {features.shape} and "
                         f"{labels.shape[0]} labels.")
    if len(labels) == 0:
        raise ValueError(f"No {what.lower()} features.")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(f"{what} labels must be class ids >= 0.")
    return features, labels


def knn_accuracies(train_features, train_labels, test_features, test_labels, ks=KNN_KS, temperature=0.07,
                   chunk_size=1024, return_votes=False):
    """Weighted k-NN top-1 accuracy (Wu et al. 2018, as DINO and HIRL evaluate): features L2-normalised, the k
    most cosine-similar training images vote for their class with weight exp(similarity / temperature).

    Args:
        train_features, train_labels: the memory bank, [n, d] and int [n].
        test_features, test_labels: the queries, [m, d] and int [m].
        ks: the k to evaluate (k larger than n uses all n).
        temperature: of the vote weights.
        chunk_size: queries scored at a time (memory ~ chunk_size x n floats).
        return_votes: also return the class votes [m, classes] of the most accurate k (the smallest on ties): the
            k-NN classifier's scores, whose argmax is its prediction (for `hierarchical_summary`).

    Returns:
        `{k: accuracy}` for every k of `ks`; `max(result.values())` is the best-of-k figure HIRL reports. With
        `return_votes`, `(accuracies, votes)`.

    Example:
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> knn_accuracies(train, [0, 0, 1], [[1.0, 0.05], [0.1, 1.0]], [0, 1], ks=(1,))
    {1: 1.0}
    """
    from keras import ops

    train_features, train_labels = _checked(train_features, train_labels, "Training")
    test_features, test_labels = _checked(test_features, test_labels, "Test")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"Training and test features differ in width: {train_features.shape[1]} vs "
                         f"{test_features.shape[1]}.")
    temperature = check_number(temperature, "temperature", low=0, low_open=True)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    bank = ops.normalize(ops.convert_to_tensor(train_features), axis=1)
    bank_labels = ops.convert_to_tensor(train_labels.astype(np.int32))
    if not len(ks) or min(int(k) for k in ks) < 1:
        raise ValueError(f"`ks` must be positive numbers of neighbours; got {ks}.")
    requested = {int(k): min(int(k), len(train_labels)) for k in ks}
    used = sorted(set(requested.values()))
    top = used[-1]
    correct = {k: 0 for k in used}
    kept = {k: [] for k in used}
    for start in range(0, len(test_labels), chunk_size):
        query = ops.normalize(ops.convert_to_tensor(test_features[start : start + chunk_size]), axis=1)
        sim, idx = ops.top_k(ops.matmul(query, ops.transpose(bank)), k=top)
        votes = ops.one_hot(ops.take(bank_labels, idx), num_classes) * ops.exp(sim / temperature)[..., None]
        truth = test_labels[start : start + chunk_size]
        for k in used:
            summed = ops.convert_to_numpy(ops.sum(votes[:, :k], axis=1))
            correct[k] += int((summed.argmax(axis=1) == truth).sum())
            if return_votes:
                kept[k].append(summed)
    accuracies = {k: correct[requested[k]] / len(test_labels) for k in requested}
    if not return_votes:
        return accuracies
    best = max(used, key=lambda k: (correct[k], -k))
    return accuracies, np.concatenate(kept[best]) if kept[best] else np.zeros((0, num_classes), np.float32)


def linear_probe(train_features, train_labels, max_iter=1000, c=1.0, seed=0):
    """A linear classifier trained on frozen features: scikit-learn's multinomial logistic regression on
    standardised features (a fitted `Pipeline` with `predict` and `predict_proba`).

    Args:
        train_features, train_labels: training features [n, d] and int labels [n] (two classes at least).
        max_iter: solver iterations (the solver stops there, without scikit-learn's convergence warning).
        c: inverse L2 regularisation strength.
        seed: of the solver.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(-2, 1, (50, 3)), rng.normal(2, 1, (50, 3))])
    >>> linear_probe(x, np.repeat([0, 1], 50)).predict([[-3, -3, -3], [3, 3, 3]]).tolist()
    [0, 1]
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_features, train_labels = _checked(train_features, train_labels, "Training")
    if len(np.unique(train_labels)) < 2:
        raise ValueError("A linear probe needs training labels of at least two classes.")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter, random_state=seed))
    with warnings.catch_warnings():  # a probe stopped at max_iter is still a probe: no warning wall in recipe logs
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(train_features, train_labels)
    return probe


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, max_iter=1000, c=1.0, seed=0):
    """Top-1 test accuracy of `linear_probe(train_features, train_labels, ...)`.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(-2, 1, (50, 3)), rng.normal(2, 1, (50, 3))])
    >>> y = np.repeat([0, 1], 50)
    >>> linear_probe_accuracy(x, y, x, y) > 0.95
    True
    """
    test_features, test_labels = _checked(test_features, test_labels, "Test")
    probe = linear_probe(train_features, train_labels, max_iter=max_iter, c=c, seed=seed)
    return float((probe.predict(test_features) == test_labels).mean())


def clustering_accuracy(labels, clusters):
    """Accuracy of cluster ids against class labels under the best one-to-one matching of clusters to classes
    (the Hungarian algorithm, scipy's `linear_sum_assignment`); unmatched clusters count as wrong.

    Example:
    >>> clustering_accuracy([0, 0, 1, 1, 2], [5, 5, 3, 3, 3])
    0.8
    """
    from scipy.optimize import linear_sum_assignment

    labels, clusters = np.asarray(labels).reshape(-1), np.asarray(clusters).reshape(-1)
    if len(labels) != len(clusters) or not len(labels):
        raise ValueError(f"Need one cluster per label; got {len(clusters)} clusters for {len(labels)} labels.")
    _, label_ids = np.unique(labels, return_inverse=True)
    _, cluster_ids = np.unique(clusters, return_inverse=True)
    counts = np.zeros((cluster_ids.max() + 1, label_ids.max() + 1), np.int64)
    np.add.at(counts, (cluster_ids, label_ids), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(labels))


def clustering_scores(features, labels, num_clusters=None, seed=0):
    """Clusters `features` with spherical K-means into `num_clusters` (default: the number of classes) and scores
    the clusters against `labels`: Hungarian accuracy, NMI and AMI (scikit-learn).

    Returns:
        `{"accuracy": ..., "nmi": ..., "ami": ...}`.

    Example:
    >>> x = np.array([[1, 0.1], [1, -0.1], [-1, 0.1], [-1, -0.1]], "float32")
    >>> clustering_scores(x, [0, 0, 1, 1])
    {'accuracy': 1.0, 'nmi': 1.0, 'ami': 1.0}
    """
    from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

    from keras_hier.clustering import spherical_kmeans

    features, labels = _checked(features, labels, "The")
    k = len(np.unique(labels)) if num_clusters is None else int(num_clusters)
    _, clusters = spherical_kmeans(features, k, seed=seed)
    return {"accuracy": clustering_accuracy(labels, clusters),
            "nmi": float(normalized_mutual_info_score(labels, clusters)),
            "ami": float(adjusted_mutual_info_score(labels, clusters))}
