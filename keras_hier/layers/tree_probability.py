"""`TreeProbability`: leaf probabilities of a tree from the softmax outputs of its internal nodes."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hier")
class TreeProbability(keras.layers.Layer):
    """Multiplies node probabilities along every root-to-leaf route (HierNet's training output).

    The inputs are the softmax outputs of the tree's internal nodes, `inputs[i]` of shape
    [batch, num_children(i)]. Each class's probability is the product of the probabilities of the branches
    on its route, `paths[c]` listing the `(node, child)` pairs from the root down; the result is [batch,
    num_classes] in the order of `paths` (the user's label order), and sums to 1 over the classes. Computed
    in float32; the output is in the layer's compute dtype. Its dtype policy is `"float32"` unless given, whatever
    the global policy: it is the last layer of a HierNet, whose probabilities stay float32 under mixed precision.

    Args:
        paths: for each class, the list of `(node_index, child_position)` pairs on its route.

    Example:
    >>> import numpy as np
    >>> layer = TreeProbability(paths=[[(0, 0), (1, 0)], [(0, 0), (1, 1)], [(0, 1)]])
    >>> root = np.array([[0.8, 0.2]], "float32")   # group {a, b} vs class c
    >>> group = np.array([[0.25, 0.75]], "float32")  # a vs b
    >>> [round(float(v), 3) for v in keras.ops.convert_to_numpy(layer([root, group]))[0]]
    [0.2, 0.6, 0.2]
    """

    def __init__(self, paths, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.paths = [[(int(n), int(k)) for n, k in path] for path in paths]
        if not self.paths or any(not p for p in self.paths):
            raise ValueError("`paths` needs one non-empty route per class.")

    def build(self, input_shape):
        widths = [int(s[-1]) for s in input_shape]
        offsets = [0]
        for w in widths:
            offsets.append(offsets[-1] + w)
        for c, path in enumerate(self.paths):
            for n, k in path:
                if n >= len(widths) or k >= widths[n]:
                    have = widths[n] if n < len(widths) else 0
                    raise ValueError(f"Route of class {c} uses child {k} of node {n}, which has {have} children.")
        depth = max(len(p) for p in self.paths)
        ones = offsets[-1]  # index of a column of ones that pads shorter routes
        self._index = [[offsets[n] + k for n, k in path] + [ones] * (depth - len(path)) for path in self.paths]

    def call(self, inputs):
        flat = ops.concatenate([ops.cast(x, "float32") for x in inputs], axis=-1)
        flat = ops.concatenate([flat, ops.ones_like(flat[:, :1])], axis=-1)
        gathered = ops.take(flat, ops.convert_to_tensor(self._index, "int32"), axis=1)  # [batch, classes, depth]
        return ops.cast(ops.prod(gathered, axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], len(self.paths))

    def get_config(self):
        config = super().get_config()
        config["paths"] = self.paths
        return config
