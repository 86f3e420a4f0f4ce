"""`RelationalGraphConv`: a graph convolution H' = act(Â H W + b) over a `ClassGraph`, with Â learnt from the
classes' semantic vectors (`LearnedAdjacency`), for a whole batch of images at once."""

import keras
from keras import ops

from keras_hier.layers.learned_adjacency import LearnedAdjacency, graph_constant

PROPAGATIONS = ("auto", "sparse", "dense")
# "auto" takes the dense path (one [N, N] matrix product) when at least this share of node pairs are edges
# and the matrix stays small; the edge list otherwise. benchmarks/rgcn.py on the COCO + ImageNet graph (2 CPU
# cores): dense 1.7x faster at 1.55 % density, the edge list 1.5x faster at 0.48 % and 2.1x at 0.22 %.
DENSE_MIN_DENSITY = 0.01
DENSE_MAX_ENTRIES = 2**26


@keras.saving.register_keras_serializable(package="keras_hier")
class RelationalGraphConv(keras.layers.Layer):
    """H' = act(Â H W + b) on a class graph, with Â learnt from the classes' semantic vectors.

    Â is a `LearnedAdjacency` (w_uv = sigmoid(MLP([s_u; s_v])) on the edges, self loops 1, each node's incoming
    weights normalised to sum to 1). The paper (Huang et al., Eq. 7) learns one Ŵ that every layer uses: build
    one `LearnedAdjacency`, pass `learn_edges=False` and give its output as the second argument,
    `layer(states, edge_weights)` — `MultiLabelZeroShot` does so. With `learn_edges=True` (the default for a
    layer used alone) the layer learns its own Â, with `edge_hidden`, `edge_activation` and
    `messages_into_external` as in `LearnedAdjacency`. Node states carry the batch: `[batch, nodes, dim]`; the
    edge weights are computed once per call whatever the batch size.

    Training sees the graph without its unseen nodes (`training=True` drops every edge that touches one, in
    `LearnedAdjacency`). Two propagations give the same result: `"sparse"` gathers the node states onto the edge
    list and sums them at the receivers with TF-GNN's `broadcast_node_to_edges` / `pool_edges_to_node` (under
    Keras' other backends, which have no TF-GNN, with `keras.ops.take` and `keras.ops.segment_sum`);
    `"dense"` scatters Â into an [N, N] matrix and multiplies. `"auto"` takes the dense path for graphs with at
    least 1 % of the node pairs as edges (WUP >= 0.5 over COCO + ImageNet has 39 %) that fit in 2^26 entries.

    Args:
        units: output size per node.
        graph: a `keras_hier.knowledge.ClassGraph` (its edge list is stored as non-trainable weights, so a saved
            layer needs no graph). Omit it only when loading.
        learn_edges: True: learn this layer's own Â; False: take Â (float32 [num_edges], e.g. a shared
            `LearnedAdjacency`'s output) as the call's second argument.
        edge_hidden: hidden size of the own edge MLP (the official COCO code: 128; the paper text: 256).
        edge_activation, edge_negative_slope: the own edge MLP's hidden activation (the reference code:
            LeakyReLU with slope 0.1).
        activation: activation of the output (None: linear, as the last layer).
        propagation: `"auto"`, `"sparse"` or `"dense"`.
        messages_into_external: whether external nodes receive messages (own edges only).
        use_bias: add b.
        num_nodes, num_edges, semantic_dim: the graph's sizes (taken from `graph`; set by `from_config`).

    Example:
    >>> import numpy as np
    >>> from keras_hier.knowledge import ClassGraph
    >>> graph = ClassGraph(["cat", "dog", "car"], ["cat.n.01", "dog.n.01", "car.n.01"], ["seen", "unseen", "seen"],
    ...                    np.eye(3, dtype="float32"))
    >>> states = np.zeros((2, 3, 5), "float32")
    >>> tuple(RelationalGraphConv(4, graph, edge_hidden=8)(states).shape)
    (2, 3, 4)
    >>> shared = LearnedAdjacency(graph, hidden_units=8)(states)  # one Â for two layers
    >>> hidden = RelationalGraphConv(4, graph, learn_edges=False, activation="relu")(states, shared)
    >>> tuple(RelationalGraphConv(2, graph, learn_edges=False)(hidden, shared).shape)
    (2, 3, 2)
    """

    def __init__(
        self,
        units,
        graph=None,
        learn_edges=True,
        edge_hidden=128,
        edge_activation="leaky_relu",
        edge_negative_slope=0.1,
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
        self.learn_edges = bool(learn_edges)
        self.edge_hidden = int(edge_hidden)
        self.edge_activation = keras.activations.serialize(keras.activations.get(edge_activation))
        self.edge_negative_slope = float(edge_negative_slope)
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
        self.adjacency = None
        if self.learn_edges:
            self.adjacency = LearnedAdjacency(
                graph, hidden_units=edge_hidden, activation=edge_activation, negative_slope=edge_negative_slope,
                messages_into_external=messages_into_external, num_nodes=num_nodes, num_edges=num_edges,
                semantic_dim=semantic_dim, dtype=self.dtype_policy, name="adjacency",
            )

    def build(self, node_states_shape, edge_weights_shape=None):
        dim = int(node_states_shape[-1])
        g = self._graph
        e = self.num_edges
        self.sources = graph_constant(self, "sources", (e,), g.edges[:, 0] if g else None, "int32")
        self.targets = graph_constant(self, "targets", (e,), g.edges[:, 1] if g else None, "int32")
        if self.adjacency is not None:
            self.adjacency.build()
        self.kernel = self.add_weight(name="kernel", shape=(dim, self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros") if self.use_bias else None
        self._graph = None  # the weights hold it now
        self.built = True

    def edge_weights(self, training=False):
        """This layer's own Â on the edge list (`learn_edges=True`): float32 [num_edges]."""
        if self.adjacency is None:
            raise ValueError("This layer takes its edge weights as input (`learn_edges=False`).")
        return self.adjacency(None, training=training)

    def propagate(self, states, weights, propagation=None):
        """Â H for states [batch, nodes, dim] and edge weights [num_edges], `"sparse"` or `"dense"` (default:
        the layer's choice, `chosen_propagation`)."""
        weights = ops.cast(weights, states.dtype)
        if (propagation or self.chosen_propagation) == "dense":
            index = ops.stack([self.targets, self.sources], axis=1)
            matrix = ops.scatter(index, weights, (self.num_nodes, self.num_nodes))
            return ops.einsum("uv,bvd->bud", matrix, states)
        if keras.backend.backend() != "tensorflow":  # TF-GNN is TensorFlow's: the same gather and sum in keras.ops
            messages = ops.take(states, self.sources, axis=1) * weights[None, :, None]  # [batch, edges, dim]
            pooled = ops.segment_sum(ops.transpose(messages, [1, 0, 2]), self.targets, num_segments=self.num_nodes)
            return ops.transpose(pooled, [1, 0, 2])
        import tensorflow as tf

        from keras_hier.knowledge.graph import EDGE_SET, graph_tensor

        import tensorflow_gnn as tfgnn

        by_node = tf.transpose(states, [1, 0, 2])  # [nodes, batch, dim]: one graph serves the whole batch
        graph = graph_tensor(self.sources, self.targets, self.num_nodes, node_features={"h": by_node})
        messages = tfgnn.broadcast_node_to_edges(graph, EDGE_SET, tfgnn.SOURCE, feature_name="h")
        messages = messages * weights[:, None, None]
        pooled = tfgnn.pool_edges_to_node(graph, EDGE_SET, tfgnn.TARGET, "sum", feature_value=messages)
        return tf.transpose(pooled, [1, 0, 2])

    def call(self, node_states, edge_weights=None, training=None):
        if (edge_weights is None) == (self.adjacency is None):
            raise ValueError(
                "Pass the edge weights as the second argument with `learn_edges=False`, and only then."
            )
        states = ops.convert_to_tensor(node_states, self.compute_dtype)
        weights = self.adjacency(states, training=training) if edge_weights is None else edge_weights
        kernel = ops.cast(self.kernel, self.compute_dtype)
        if self.units <= int(states.shape[-1]):  # propagate in the smaller width
            out = self.propagate(ops.matmul(states, kernel), weights)
        else:
            out = ops.matmul(self.propagate(states, weights), kernel)
        if self.bias is not None:
            out = out + ops.cast(self.bias, self.compute_dtype)
        return self.activation(out)

    def compute_output_shape(self, node_states_shape, edge_weights_shape=None):
        return tuple(node_states_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            learn_edges=self.learn_edges,
            edge_hidden=self.edge_hidden,
            edge_activation=self.edge_activation,
            edge_negative_slope=self.edge_negative_slope,
            activation=keras.activations.serialize(self.activation),
            propagation=self.propagation,
            messages_into_external=self.messages_into_external,
            use_bias=self.use_bias,
            num_nodes=self.num_nodes,
            num_edges=self.num_edges,
            semantic_dim=self.semantic_dim,
        )
        return config
