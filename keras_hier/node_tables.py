"""`NodeTables`: a hierarchy's nodes as indices and integer tables, for losses and metrics over every node."""

import numpy as np


class NodeTables:
    """Every node of a hierarchy but the root, indexed for tensor code: the classes first, in label order
    (node `i` is class `i`), then the super-classes by depth.

    Levels follow HGR-Net: the root's children are level 0, and a node's level is its depth minus one on
    its canonical (shortest) path, which is also its chain of ancestors.

    Args:
        hierarchy: a `keras_hier.Hierarchy` (tree or DAG).

    Attributes:
        nodes: tuple of node names in index order.
        level: int array [N], each node's level.
        chain: int array [N, L]: `chain[v, j]` is the index of `v`'s ancestor at level `j` (`v` itself at its
            own level), -1 below `v`.
        layers: list of L int arrays, the nodes at each level.
        num_classes: the number of classes C (nodes 0..C-1).

    Example:
    >>> from keras_hier import Hierarchy
    >>> tables = NodeTables(Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}}))
    >>> tables.nodes, tables.level.tolist()
    (('cat', 'dog', 'car', 'animal'), [1, 1, 0, 0])
    >>> tables.chain.tolist()
    [[3, 0], [3, 1], [2, -1], [3, -1]]
    """

    def __init__(self, hierarchy):
        self.hierarchy = hierarchy
        internal = [n for n in hierarchy.nodes if n != hierarchy.root and not hierarchy.is_class(n)]
        self.nodes = tuple(hierarchy.leaves) + tuple(internal)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.num_classes = hierarchy.num_classes
        self.level = np.array([hierarchy.depth(n) - 1 for n in self.nodes], np.int64)
        levels = int(self.level.max()) + 1
        self.chain = np.full((len(self.nodes), levels), -1, np.int64)
        for i, n in enumerate(self.nodes):
            for j, a in enumerate(hierarchy.path(n)[1:]):
                self.chain[i, j] = self.index[a]
        self.layers = [np.flatnonzero(self.level == j) for j in range(levels)]

    @property
    def num_nodes(self):
        """N, the number of nodes without the root."""
        return len(self.nodes)

    @property
    def num_levels(self):
        """L, the number of levels below the root."""
        return len(self.layers)

    def names(self):
        """The human-readable name of every node, in index order."""
        return [self.hierarchy.name(n) for n in self.nodes]

    def find(self, node, classes_only=False):
        """The index of a node given as its id, its human-readable name, or an index.

        Args:
            node: a node id (e.g. a WordNet id), a name (e.g. "Sandal") or an int index.
            classes_only: accept classes only (indices 0..C-1).

        Raises:
            ValueError: naming the unknown node, or a super-class where a class is required.

        Example:
        >>> from keras_hier import Hierarchy
        >>> tables = NodeTables(Hierarchy.from_nested({"root": {"animal": ["cat", "dog"]}}))
        >>> tables.find("dog"), tables.find("animal"), tables.find(1)
        (1, 2, 1)
        """
        top = self.num_classes if classes_only else self.num_nodes
        what = "class" if classes_only else "node"
        if isinstance(node, str):
            if node in self.index:
                found = self.index[node]
            else:
                if not hasattr(self, "_by_name"):
                    self._by_name = {}
                    for i, name in enumerate(self.names()):
                        self._by_name.setdefault(name, i)
                if node not in self._by_name:
                    raise ValueError(f"{node!r} is not a {what} of the hierarchy (by id or name).")
                found = self._by_name[node]
            if found >= top:
                raise ValueError(f"{node!r} is a super-class, not a class.")
            return found
        if not 0 <= int(node) < top:
            raise ValueError(f"{what.capitalize()} index {node} is outside 0..{top - 1}.")
        return int(node)
