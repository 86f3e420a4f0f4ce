"""`RelationalGraphConv`: a graph convolution over a `ClassGraph` whose edge weights are learnt from the
classes' semantic vectors, for a whole batch of images at once."""

import keras
import numpy as np
from keras import ops

PROPAGATIONS = ("auto", "sparse", "dense")
# "auto" takes the dense path (one [N, N] matrix product) when at least this share of node pairs are edges
# and the matrix stays small; the edge list otherwise. benchmarks/rgcn.py on the COCO + ImageNet graph (2 CPU
# cores): dense 1.7x faster at 1.55 % density, the edge list 1.5x faster at 0.48 % and 2.1x at 0.22 %.
DENSE_MIN_DENSITY = 0.01
DENSE_MAX_ENTRIES = 2**26


@keras.saving.register_keras_serializable(package="keras_hier")
class RelationalGraphConv(keras.layers.Layer):
    """H' = act(Â H W + b) on a class graph, with Â learnt from the classes' semantic vectors.

    For each edge from node v to node u (u receives), w_uv = sigmoid(MLP([s_u; s_v])) where s are the nodes'
    semantic vectors (the graph's `features`, fixed); self loops weigh 1. Each node's incoming weights are
    normalised to sum to 1 over its real neighbours (non-edges take no part), so Â is a weighted average.
    The edge MLP runs once per call, on the edge list, whatever the batch size; node states carry the batch:
    `[batch, nodes, dim]`.

    Training sees the graph without its unseen nodes: with `training=True` every edge that touches an unseen
    node is dropped, which gives the other nodes exactly the result of the training graph. With
    `messages_into_external=False`, external nodes receive nothing but their own state.

    Two propagations give the same result: `"sparse"` gathers the node states onto the edge list and
    sums them at the receivers with TF-GNN's `broadcast_node_to_edges` / `pool_edges_to_node`; `"dense"`
    scatters Â into an [N, N] matrix and multiplies. `"auto"` takes the dense path for graphs with at least
    1 % of the node pairs as edges (WUP >= 0.5 over COCO + ImageNet has 39 %) that fit in 2^26 entries.

    Args:
        units: output size per node.
        graph: a `keras_hier.knowledge.ClassGraph` (its edges, semantic vectors and node kinds are stored as
            non-trainable weights, so a saved layer needs no graph). Omit it only when loading.
        edge_hidden: hidden size of the edge MLP (the official COCO code: 128; the paper text: 256).
        activation: activation of the output (None: linear, as the last layer).
        propagation: `"auto"`, `"sparse"` or `"dense"`.
        messages_into_external: whether external nodes receive messages from their neighbours.
        use_bias: add b.
        num_nodes, num_edges, semantic_dim: the graph's sizes (taken from `graph`; set by `from_config`).

    Example:
    >>> import numpy as np
    >>> from keras_hier.knowledge import ClassGraph
    >>> graph = ClassGraph(["cat", "dog", "car"], ["cat.n.01", "dog.n.01", "car.n.01"], ["seen", "unseen", "seen"],
    ...                    np.eye(3, dtype="float32"))
    >>> layer = RelationalGraphConv(4, graph, edge_hidden=8)
    >>> tuple(layer(np.zeros((2, 3, 5), "float32")).shape)
    (2, 3, 4)
    """

    def __init__(
        self,
        units,
        graph=None,
        edge_hidden=128,
        activation=None,
        propagation="auto",
        messages_into_external=True,
        use_bias=True,
        num_nodes=None,
        num_edges=None,
        semantic_dim=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) < 1 or int(edge_hidden) < 1:
            raise ValueError(f"`units` and `edge_hidden` must be positive; got {units} and {edge_hidden}.")
        if propagation not in PROPAGATIONS:
            raise ValueError(f"Unknown `propagation` {propagation!r}: use one of {PROPAGATIONS}.")
        if graph is None and None in (num_nodes, num_edges, semantic_dim):
            raise ValueError("Pass the `graph` (a keras_hier.knowledge.ClassGraph).")
        self.units = int(units)
        self.edge_hidden = int(edge_hidden)
        self.activation = keras.activations.get(activation)
        self.propagation = propagation
        self.messages_into_external = bool(messages_into_external)
        self.use_bias = bool(use_bias)
        self._graph = graph
        if graph is not None:
            num_nodes, num_edges, semantic_dim = graph.num_nodes, graph.num_edges, graph.features.shape[1]
        self.num_nodes, self.num_edges, self.semantic_dim = int(num_nodes), int(num_edges), int(semantic_dim)
        density = self.num_edges / float(self.num_nodes**2)
        dense = density >= DENSE_MIN_DENSITY and self.num_nodes**2 <= DENSE_MAX_ENTRIES
        self.chosen_propagation = propagation if propagation != "auto" else ("dense" if dense else "sparse")

    def build(self, input_shape):
        dim = int(input_shape[-1])
        g = self._graph

        def fixed(name, shape, value, dtype="float32"):  # graph constants; zeros until loaded without a graph
            init = keras.initializers.Constant(np.asarray(value, dtype)) if g is not None else "zeros"
            return self.add_weight(name=name, shape=shape, dtype=dtype, trainable=False, initializer=init)

        n, e, s = self.num_nodes, self.num_edges, self.semantic_dim
        self.sources = fixed("sources", (e,), g.edges[:, 0] if g else None, "int32")
        self.targets = fixed("targets", (e,), g.edges[:, 1] if g else None, "int32")
        self.semantic = fixed("semantic", (n, s), g.features if g else None)
        self.unseen = fixed("unseen", (n,), g.mask("unseen") if g else None)
        self.external = fixed("external", (n,), g.mask("external") if g else None)
        # The edge MLP on [s_u; s_v]: its first layer splits into a receiver part and a sender part, applied
        # once per node instead of once per edge.
        h = self.edge_hidden
        self.edge_receiver = self.add_weight(name="edge_receiver", shape=(s, h), initializer="glorot_uniform")
        self.edge_sender = self.add_weight(name="edge_sender", shape=(s, h), initializer="glorot_uniform")
        self.edge_hidden_bias = self.add_weight(name="edge_hidden_bias", shape=(h,), initializer="zeros")
        self.edge_out = self.add_weight(name="edge_out", shape=(h, 1), initializer="glorot_uniform")
        self.edge_out_bias = self.add_weight(name="edge_out_bias", shape=(1,), initializer="zeros")
        self.kernel = self.add_weight(name="kernel", shape=(dim, self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros") if self.use_bias else None
        self._graph = None  # the weights hold it now
        self.built = True

    def edge_weights(self, training=False):
        """Â on the edge list: float32 [num_edges], each receiver's incoming weights summing to 1."""
        f32 = lambda w: ops.cast(w, "float32")  # noqa: E731  (edge weights stay float32 under mixed precision)
        semantic = f32(self.semantic)
        receiver = ops.take(ops.matmul(semantic, f32(self.edge_receiver)), self.targets, axis=0)
        sender = ops.take(ops.matmul(semantic, f32(self.edge_sender)), self.sources, axis=0)
        hidden = ops.relu(receiver + sender + f32(self.edge_hidden_bias))
        logits = ops.matmul(hidden, f32(self.edge_out))[:, 0] + f32(self.edge_out_bias)[0]
        loop = ops.equal(self.sources, self.targets)
        weights = ops.where(loop, 1.0, ops.sigmoid(logits))
        keep = ops.ones_like(weights)
        if training:  # the training graph: no unseen node
            absent = ops.take(self.unseen, self.sources, axis=0) + ops.take(self.unseen, self.targets, axis=0)
            keep = keep * ops.cast(ops.equal(absent, 0.0), "float32")
        if not self.messages_into_external:
            into_external = ops.take(self.external, self.targets, axis=0) > 0
            keep = keep * ops.cast(ops.logical_or(loop, ops.logical_not(into_external)), "float32")
        weights = weights * keep
        total = ops.segment_sum(weights, self.targets, num_segments=self.num_nodes)
        return weights / ops.maximum(ops.take(total, self.targets, axis=0), 1e-12)

    def propagate(self, states, weights, propagation=None):
        """Â H for states [batch, nodes, dim] and edge weights [num_edges], `"sparse"` or `"dense"` (default:
        the layer's choice, `chosen_propagation`)."""
        weights = ops.cast(weights, states.dtype)
        if (propagation or self.chosen_propagation) == "dense":
            index = ops.stack([self.targets, self.sources], axis=1)
            matrix = ops.scatter(index, weights, (self.num_nodes, self.num_nodes))
            return ops.einsum("uv,bvd->bud", matrix, states)
        import tensorflow as tf

        from keras_hier.knowledge.graph import EDGE_SET, graph_tensor

        import tensorflow_gnn as tfgnn

        by_node = tf.transpose(states, [1, 0, 2])  # [nodes, batch, dim]: one graph serves the whole batch
        graph = graph_tensor(self.sources, self.targets, self.num_nodes, node_features={"h": by_node})
        messages = tfgnn.broadcast_node_to_edges(graph, EDGE_SET, tfgnn.SOURCE, feature_name="h")
        messages = messages * weights[:, None, None]
        pooled = tfgnn.pool_edges_to_node(graph, EDGE_SET, tfgnn.TARGET, "sum", feature_value=messages)
        return tf.transpose(pooled, [1, 0, 2])

    def call(self, node_states, training=None):
        states = ops.convert_to_tensor(node_states, self.compute_dtype)
        weights = self.edge_weights(training=bool(training))
        kernel = ops.cast(self.kernel, self.compute_dtype)
        if self.units <= int(states.shape[-1]):  # propagate in the smaller width
            out = self.propagate(ops.matmul(states, kernel), weights)
        else:
            out = ops.matmul(self.propagate(states, weights), kernel)
        if self.bias is not None:
            out = out + ops.cast(self.bias, self.compute_dtype)
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            edge_hidden=self.edge_hidden,
            activation=keras.activations.serialize(self.activation),
            propagation=self.propagation,
            messages_into_external=self.messages_into_external,
            use_bias=self.use_bias,
            num_nodes=self.num_nodes,
            num_edges=self.num_edges,
            semantic_dim=self.semantic_dim,
        )
        return config
