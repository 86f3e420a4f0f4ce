"""`GatedGraphPropagation`: the gated graph neural network of Lee et al.'s structured knowledge graph (SKG), with a
d x d message matrix per edge computed from the two classes' semantic vectors and the edge's relation type."""

import keras
import numpy as np
from keras import ops

from keras_hier.knowledge.graph import RELATIONS
from keras_hier.layers.learned_adjacency import graph_constant


@keras.saving.register_keras_serializable(package="keras_hier")
class GatedGraphPropagation(keras.layers.Layer):
    """T steps of gated graph propagation over the typed edges of a class graph (SKG, Lee et al., CVPR 2018).

    Each edge from v to u of relation type t (`ClassGraph.relations()`: similar, dissimilar, from parent, from
    child) carries a d x d matrix A_uv = reshape(e_u^T M_t e_v), where e = E s + c embeds the semantic vectors
    (50-d) and M_t is the type's bilinear map (50 x 50 x d^2). The matrices form one (N d) x (N d) propagation
    matrix whose rows are divided by their L2 norms, and for T steps each node's state is updated by a GRU cell
    from the message tanh(sum_v A_uv h_v), as the reference code (`skg_official.py`). With `training=True`
    the edges that touch an unseen node are dropped, which leaves the other nodes exactly the training graph.

    Args:
        graph: a `keras_hier.knowledge.ClassGraph` (its typed edges and semantic vectors are stored as
            non-trainable weights). Omit it only when loading.
        steps: T, the propagation steps (the reference configuration: 5).
        relation_dim: the size of the embedded semantic vectors e (SKG: 50).
        negative_threshold: the WUP similarity below which two classes are "dissimilar" (SKG: 0.11).
        return_all_steps: output the states of every step, [batch, T + 1, nodes, d] (the initial states
            first), instead of the last step's.
        num_nodes, num_edges, semantic_dim: sizes (from `graph`; set by `from_config`).

    Call:
        node states [batch, nodes, d] -> [batch, nodes, d] after T steps.

    Example:
    >>> import numpy as np
    >>> from keras_hier.knowledge import ClassGraph
    >>> graph = ClassGraph(["dog", "animal", "car"], ["dog.n.01", "animal.n.01", "car.n.01"], ["seen"] * 3,
    ...                    np.eye(3, dtype="float32"), threshold=0.9)
    >>> tuple(GatedGraphPropagation(graph, steps=2, relation_dim=4)(np.ones((2, 3, 5), "float32")).shape)
    (2, 3, 5)
    """

    def __init__(self, graph=None, steps=5, relation_dim=50, negative_threshold=0.11, return_all_steps=False,
                 num_nodes=None, num_edges=None, semantic_dim=None, **kwargs):
        super().__init__(**kwargs)
        if int(steps) < 1 or int(relation_dim) < 1:
            raise ValueError(f"`steps` and `relation_dim` must be positive; got {steps} and {relation_dim}.")
        if graph is None and None in (num_nodes, num_edges, semantic_dim):
            raise ValueError("Pass the `graph` (a keras_hier.knowledge.ClassGraph).")
        self.steps, self.relation_dim = int(steps), int(relation_dim)
        self.negative_threshold = float(negative_threshold)
        self.return_all_steps = bool(return_all_steps)
        self._edges = self._semantic = self._unseen = None
        if graph is not None:
            self._edges = graph.relations(self.negative_threshold)
            self._semantic, self._unseen = graph.features, graph.mask("unseen")
            num_nodes, num_edges, semantic_dim = graph.num_nodes, len(self._edges), graph.features.shape[1]
        self.num_nodes, self.num_edges, self.semantic_dim = int(num_nodes), int(num_edges), int(semantic_dim)

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.state_dim = d
        given = self._edges is not None
        n, e, s, r = self.num_nodes, self.num_edges, self.semantic_dim, self.relation_dim
        edges = self._edges if given else np.zeros((e, 3), np.int64)
        self.sources = graph_constant(self, "sources", (e,), edges[:, 0] if given else None, "int32")
        self.targets = graph_constant(self, "targets", (e,), edges[:, 1] if given else None, "int32")
        self.types = graph_constant(self, "types", (e,), edges[:, 2] if given else None, "int32")
        self.semantic = graph_constant(self, "semantic", (n, s), self._semantic if given else None)
        self.unseen = graph_constant(self, "unseen", (n,), self._unseen if given else None)
        self.embed_kernel = self.add_weight(name="embed_kernel", shape=(s, r), initializer="glorot_uniform")
        self.embed_bias = self.add_weight(name="embed_bias", shape=(r,), initializer="zeros")
        self.relation_maps = self.add_weight(name="relation_maps", shape=(len(RELATIONS), r, r, d * d),
                                             initializer="glorot_uniform")
        self.cell = keras.layers.GRUCell(d, dtype=self.dtype_policy, name="gru_cell")
        self.cell.build((None, d))
        self._edges = self._semantic = self._unseen = None
        self.built = True

    def message_matrices(self, training=False):
        """A_uv on the edge list, row-normalised: float32 [num_edges, d, d] (A[e, a, b]: from v's b to u's a)."""
        f32 = lambda w: ops.cast(w, "float32")  # noqa: E731
        d = self.state_dim
        embedded = ops.matmul(f32(self.semantic), f32(self.embed_kernel)) + f32(self.embed_bias)  # [N, r]
        # Every (type, receiver, sender) pair at once, [T, N, N, d^2] (small for SKG's target-class graphs),
        # then read per edge: cheaper than a [r, r, d^2] map per edge.
        pairs = ops.einsum("ua,tabk,vb->tuvk", embedded, f32(self.relation_maps), embedded)
        index = ops.stack([self.types, self.targets, self.sources], axis=1)
        blocks = ops.reshape(_gather_nd(pairs, index), (-1, d, d))
        if training:  # the training graph: no unseen node
            absent = ops.take(self.unseen, self.sources, axis=0) + ops.take(self.unseen, self.targets, axis=0)
            blocks = blocks * ops.cast(ops.equal(absent, 0.0), "float32")[:, None, None]
        # Each row (u, a) of the (N d) x (N d) matrix divided by its L2 norm (an empty row stays 0).
        squares = ops.segment_sum(ops.sum(ops.square(blocks), axis=2), self.targets, num_segments=self.num_nodes)
        squares = ops.take(squares, self.targets, axis=0)
        # The square root of 1 where a row is empty: sqrt's derivative at 0 is infinite, and infinity times the zero
        # gradient `where` gives the unused branch is NaN (under JAX every step turned NaN).
        norms = ops.sqrt(ops.where(squares > 0, squares, 1.0))
        return blocks / norms[:, :, None]

    def call(self, node_states, training=None):
        states = ops.convert_to_tensor(node_states, self.compute_dtype)
        blocks = ops.cast(self.message_matrices(training=bool(training)), self.compute_dtype)
        batch = ops.shape(states)[0]
        d = self.state_dim
        history = [states]
        for _ in range(self.steps):
            sent = ops.take(states, self.sources, axis=1)  # [batch, E, d]
            messages = ops.einsum("eab,xeb->exa", blocks, sent)  # [E, batch, d]
            received = ops.segment_sum(messages, self.targets, num_segments=self.num_nodes)  # [N, batch, d]
            received = ops.tanh(ops.transpose(received, (1, 0, 2)))
            flat, _ = self.cell(ops.reshape(received, (-1, d)), [ops.reshape(states, (-1, d))], training=training)
            states = ops.reshape(flat, (batch, self.num_nodes, d))
            history.append(states)
        return ops.stack(history, axis=1) if self.return_all_steps else states

    def compute_output_shape(self, input_shape):
        if self.return_all_steps:
            return (input_shape[0], self.steps + 1) + tuple(input_shape[1:])
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "steps": self.steps, "relation_dim": self.relation_dim,
                "negative_threshold": self.negative_threshold, "return_all_steps": self.return_all_steps,
                "num_nodes": self.num_nodes, "num_edges": self.num_edges, "semantic_dim": self.semantic_dim}


def _gather_nd(values, index):
    """values[index[:, 0], index[:, 1], ...] for an int index [E, k] (k leading axes)."""
    shape = ops.shape(values)
    k = index.shape[1]
    flat = ops.reshape(values, (-1,) + tuple(shape[k:]))
    position = index[:, 0]
    for axis in range(1, k):
        position = position * shape[axis] + index[:, axis]
    return ops.take(flat, position, axis=0)
