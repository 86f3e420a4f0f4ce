"""Accuracies of tree classifiers: conditional (full evaluation), routing, and per-node decisions."""

import weakref

import numpy as np

from keras_hier._validation import check_finite


def routed_classes(hierarchy, node_probs, batch_size):
    """The classes that routing ("fast" evaluation) reaches: from the root, the most probable child at
    every node, down to a leaf.

    Args:
        hierarchy: a tree `Hierarchy`.
        node_probs: dict of internal node -> array [batch, number of children] of child probabilities.
        batch_size: the batch's number of images.

    Returns:
        int array [batch] of class labels.

    Example:
    >>> from keras_hier import Hierarchy
    >>> tree = Hierarchy.from_nested({"root": {"g": ["a", "b"], "c": None}})
    >>> routed_classes(tree, {"root": np.array([[0.6, 0.4], [0.3, 0.7]]), "g": np.array([[0.2, 0.8], [0.9, 0.1]])}, 2)
    array([1, 2])
    """
    current = np.full(batch_size, hierarchy.root, dtype=object)
    for _ in range(hierarchy.max_depth):
        for node, probs in node_probs.items():
            at = current == node
            if at.any():
                current[at] = np.asarray(hierarchy.children(node), dtype=object)[probs[at].argmax(axis=1)]
    return np.array([hierarchy.label(leaf) for leaf in current], dtype=np.int64)


_EVALUATION_MODELS = weakref.WeakKeyDictionary()


def _slow_and_nodes(hiernet):
    """A model from images to the slow output and every node's softmax (one graph), kept per HierNet so that
    repeated evaluations reuse its compiled predict function."""
    import keras

    if hiernet not in _EVALUATION_MODELS:
        outputs = {n: hiernet.node_layer(n, "softmax").output for n in hiernet.internal_nodes}
        outputs["__probabilities__"] = hiernet.outputs[0]
        _EVALUATION_MODELS[hiernet] = keras.Model(hiernet.inputs[0], outputs, name=f"{hiernet.name}_evaluation")
    return _EVALUATION_MODELS[hiernet]


def tree_accuracies(hiernet, dataset, return_predictions=False):
    """The three accuracies of a `HierNet` on a labelled data set.

    - `conditional_accuracy`: the argmax of the full ("slow") output, the product of the branch probabilities
      along every route (the model's own output) equals the label.
    - `routing_accuracy`: the class reached by following the most probable child at every node ("fast"
      evaluation, `hiernet.routing_model()`) equals the label.
    - `node_accuracy[node]`: among the images whose class lies under an internal node, the fraction for which
      the node's most probable child is the one on the class's route (the super-class decision); with
      `node_support[node]`, the number of such images.

    Args:
        hiernet: a `keras_hier.HierNet`.
        dataset: iterable of `(images, labels)` batches with integer labels in the hierarchy's label order.
        return_predictions: also return `predictions`: a dict of the `labels` [n], the slow `probabilities`
            [n, classes] and the `routed` classes [n] (for `hierarchical_summary` and the like).

    Returns:
        dict with `conditional_accuracy`, `routing_accuracy`, `node_accuracy`, `node_support`, `count` (and
        `predictions`).
    """
    hierarchy = hiernet.hierarchy
    internal = hiernet.internal_nodes
    # One compiled pass gives the slow output and every node's softmax; the route is followed from the node
    # softmaxes (the classes `hiernet.routing_model()` reaches: tested against it), so no second pass is needed.
    slow_and_nodes = _slow_and_nodes(hiernet)
    # For each internal node: the child position on each class's route, or -1 when the class is not below it.
    target = {n: np.full(hierarchy.num_classes, -1, np.int64) for n in internal}
    for label, leaf in enumerate(hierarchy.leaves):
        route = hierarchy.path(leaf)
        for parent, child in zip(route, route[1:]):
            target[parent][label] = hierarchy.children(parent).index(child)
    correct = {"conditional": 0, "routing": 0}
    node_correct = {n: 0 for n in internal}
    node_count = {n: 0 for n in internal}
    count = 0
    kept = {"labels": [], "probabilities": [], "routed": []}
    for images, labels in dataset:
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= hierarchy.num_classes):
            raise ValueError(f"Labels must be in 0..{hierarchy.num_classes - 1}; got {labels.min()}..{labels.max()}.")
        node_probs = slow_and_nodes.predict_on_batch(images)
        slow = check_finite(node_probs["__probabilities__"], "probabilities")
        routed = routed_classes(hierarchy, {n: np.asarray(node_probs[n]) for n in internal}, len(labels))
        if return_predictions:
            kept["labels"].append(labels)
            kept["probabilities"].append(np.asarray(slow, np.float32))
            kept["routed"].append(routed)
        correct["conditional"] += int((slow.argmax(axis=1) == labels).sum())
        correct["routing"] += int((routed == labels).sum())
        for n in internal:
            want = target[n][labels]
            below = want >= 0
            choice = np.asarray(node_probs[n]).argmax(axis=1)
            node_correct[n] += int((choice[below] == want[below]).sum())
            node_count[n] += int(below.sum())
        count += len(labels)
    if count == 0:
        raise ValueError("The data set is empty.")
    result = {
        "conditional_accuracy": correct["conditional"] / count,
        "routing_accuracy": correct["routing"] / count,
        "node_accuracy": {n: node_correct[n] / node_count[n] if node_count[n] else float("nan") for n in internal},
        "node_support": node_count,
        "count": count,
    }
    if return_predictions:
        result["predictions"] = {k: np.concatenate(v) for k, v in kept.items()}
    return result
