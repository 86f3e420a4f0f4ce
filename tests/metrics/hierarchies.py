"""Random trees and DAGs for the metric tests, and brute-force references written from the definitions."""

import numpy as np

from keras_hier import Hierarchy


def random_hierarchy(seed, nodes=14, dag=False):
    """A random hierarchy over `n0..n{nodes-1}` under root `r`: each node hangs under an earlier node (or the root);
    with `dag`, about a third of the nodes get a second parent."""
    rng = np.random.default_rng(seed)
    parents = {}
    for i in range(nodes):
        earlier = ["r"] + [f"n{j}" for j in range(i)]
        first = earlier[rng.integers(len(earlier))]
        parents[f"n{i}"] = [first]
        if dag and i > 1 and rng.random() < 0.35:
            second = earlier[rng.integers(1, len(earlier))]
            if second != first:
                parents[f"n{i}"].append(second)
    return Hierarchy.from_parents(parents)


def heights(h):
    """Longest path down to a leaf, by recursion on the definition."""
    def height(node):
        return 1 + max(height(c) for c in h.children(node)) if h.children(node) else 0
    return {n: height(n) for n in h.nodes}


def up_distances(h, node):
    """Fewest edges from `node` up to each ancestor-or-self, from the enumerated root paths."""
    out = {}
    for path in h.paths(node):
        for i, n in enumerate(path):
            out[n] = min(out.get(n, np.inf), len(path) - 1 - i)
    return out


def brute_lca(h, kind):
    height = heights(h)
    ups = [up_distances(h, leaf) for leaf in h.leaves]
    n = h.num_classes
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            common = set(ups[i]) & set(ups[j])
            if i != j:
                d[i, j] = min(height[c] for c in common) if kind == "height" else \
                    min(ups[i][c] + ups[j][c] for c in common)
    return d
