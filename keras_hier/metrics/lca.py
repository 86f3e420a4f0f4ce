"""`lca_distance`: the class x class distance matrix of a hierarchy that mistake severity and the risk-minimising
decision use (the height of the lowest common ancestor, or the length of the path through it)."""

import collections

import numpy as np

from keras_hier.hierarchy import Hierarchy

KINDS = ("height", "path")


def as_hierarchy(hierarchy):
    """A `Hierarchy` from a `Hierarchy` or its JSON text (what serialised metrics and layers keep)."""
    if isinstance(hierarchy, Hierarchy):
        return hierarchy
    if isinstance(hierarchy, str):
        return Hierarchy.from_json(hierarchy)
    raise ValueError(f"Expected a keras_hier.Hierarchy (or its JSON); got {type(hierarchy).__name__}.")


def node_heights(hierarchy):
    """Dict node -> its height: the number of edges on the longest path from it down to a leaf (leaves: 0)."""
    order = topological_order(hierarchy)
    height = {}
    for node in reversed(order):  # children before parents
        children = hierarchy.children(node)
        height[node] = 1 + max(height[c] for c in children) if children else 0
    return height


def topological_order(hierarchy):
    """Every node, each after all of its parents (Kahn's algorithm; for a tree, breadth first)."""
    waiting = {n: len(hierarchy.parents(n)) for n in hierarchy.nodes}
    order, ready = [], collections.deque([hierarchy.root])
    while ready:
        node = ready.popleft()
        order.append(node)
        for child in hierarchy.children(node):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return order


def class_ancestors(hierarchy):
    """For each class (in label order), a dict ancestor-or-self -> the fewest edges up to it (the class: 0)."""
    out = []
    for leaf in hierarchy.leaves:
        up, queue = {leaf: 0}, collections.deque([leaf])
        while queue:  # breadth first: each node is first reached by a shortest route
            node = queue.popleft()
            for parent in hierarchy.parents(node):
                if parent not in up:
                    up[parent] = up[node] + 1
                    queue.append(parent)
        out.append(up)
    return out


def lca_distance(hierarchy, kind="height"):
    """The class x class matrix of hierarchical distances between the classes of `hierarchy`.

    - `kind="height"` (Making Better Mistakes, Bertinetto et al. CVPR 2020, and ILSVRC's hierarchical error): the
      height of the lowest common ancestor (LCA) of classes i and j, where a node's height is the number of edges
      on its longest path down to a leaf (so a leaf's is 0). Two siblings that are leaves are at distance 1.
    - `kind="path"`: the number of edges on the shortest path between i and j through a common ancestor: for a
      tree, depth(i) + depth(j) - 2 depth(LCA). Two sibling leaves are at distance 2.

    The diagonal is 0. In a DAG the common ancestor giving the smallest value is used (a pair may have several
    lowest common ancestors). With `internal_classes`, a class that is an ancestor of another is their LCA.
    Published numbers use both kinds: say which one a table reports.

    Args:
        hierarchy: a `Hierarchy` (tree or DAG) or its JSON.
        kind: `"height"` or `"path"`.

    Returns:
        float32 array [num_classes, num_classes] in label order, symmetric.

    Example:
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> lca_distance(h).tolist()
    [[0.0, 1.0, 2.0], [1.0, 0.0, 2.0], [2.0, 2.0, 0.0]]
    >>> lca_distance(h, kind="path").tolist()
    [[0.0, 2.0, 3.0], [2.0, 0.0, 3.0], [3.0, 3.0, 0.0]]
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}: use one of {KINDS}.")
    hierarchy = as_hierarchy(hierarchy)
    # For every node, the classes below it (and itself, if a class) and their fewest edges up to it.
    below = collections.defaultdict(lambda: ([], []))
    for label, up in enumerate(class_ancestors(hierarchy)):
        for node, edges in up.items():
            below[node][0].append(label)
            below[node][1].append(edges)
    n = hierarchy.num_classes
    if kind == "height":
        height = node_heights(hierarchy)
        distance = np.zeros((n, n), np.float32)
        # Highest first: a lower common ancestor overwrites a higher one, so each pair ends with its lowest height.
        for node in sorted(below, key=lambda node: -height[node]):
            labels = np.asarray(below[node][0])
            distance[np.ix_(labels, labels)] = height[node]
    else:
        distance = np.full((n, n), np.inf, np.float32)
        for labels, edges in below.values():
            labels, edges = np.asarray(labels), np.asarray(edges, np.float32)
            block = np.ix_(labels, labels)
            distance[block] = np.minimum(distance[block], edges[:, None] + edges[None, :])
    np.fill_diagonal(distance, 0.0)
    return distance
