"""`LearnedAdjacency`: the normalised, learnt adjacency Â = normalize(Ŵ ⊙ A) of a `ClassGraph`, on its edge list."""

import keras
import numpy as np
from keras import ops


def graph_constant(layer, name, shape, value, dtype="float32"):
    """A non-trainable weight holding fixed graph data (`value`), or zeros until a saved layer's weights load."""
    init = keras.initializers.Constant(np.asarray(value, dtype)) if value is not None else "zeros"
    return layer.add_weight(name=name, shape=shape, dtype=dtype, trainable=False, initializer=init)


@keras.saving.register_keras_serializable(package="keras_hier")
class LearnedAdjacency(keras.layers.Layer):
    """Huang et al.'s learnt edge weights (Eq. 7), normalised: Â on the graph's edge list, float32 [num_edges].

    For each edge from node v to node u (u receives), w_uv = sigmoid(MLP([s_u; s_v])) where s are the nodes'
    semantic vectors (the graph's `features`, fixed), so w_uv is in [0, 1] as the paper asks; self loops weigh 1.
    Each node's incoming weights are normalised to sum to 1 over its real neighbours (non-edges take no part),
    so Â = normalize(Ŵ ⊙ A) is a weighted average. The paper learns one Ŵ for the whole network: build one
    `LearnedAdjacency` and give its output to every `RelationalGraphConv(..., learn_edges=False)`.

    The MLP has one hidden layer with `activation` (the reference code: LeakyReLU with slope 0.1; the paper is
    silent); its first layer splits into a receiver part and a sender part, applied once per node instead of
    once per edge. With `training=True` every edge that touches an unseen node is dropped, which gives the other
    nodes exactly the training graph's Â. With `messages_into_external=False`, external nodes receive nothing but
    their own state.

    Args:
        graph: a `keras_hier.knowledge.ClassGraph` (its edges, semantic vectors and node kinds are stored as
            non-trainable weights, so a saved layer needs no graph). Omit it only when loading.
        hidden_units: hidden size of the edge MLP (the official COCO code: 128; the paper text: 256).
        activation: the hidden layer's activation, a Keras activation name (default `"leaky_relu"`).
        negative_slope: the slope of `"leaky_relu"` below zero (the reference code: 0.1).
        messages_into_external: whether external nodes receive messages from their neighbours.
        num_nodes, num_edges, semantic_dim: the graph's sizes (taken from `graph`; set by `from_config`).

    Call:
        `node_states` (any tensor of the model, only to place the layer in a functional graph; not read) and
        `training` -> Â on the edge list, float32 [num_edges] (the graph's edge order), each receiver's weights
        summing to 1.

    Example:
    >>> import numpy as np
    >>> from keras_hier.knowledge import ClassGraph
    >>> graph = ClassGraph(["cat", "dog", "car"], ["cat.n.01", "dog.n.01", "car.n.01"], ["seen", "unseen", "seen"],
    ...                    np.eye(3, dtype="float32"))
    >>> weights = LearnedAdjacency(graph, hidden_units=8)(np.zeros((2, 3, 5), "float32"))
    >>> tuple(weights.shape), np.round(np.bincount(graph.edges[:, 1], np.asarray(weights)), 4).tolist()
    ((5,), [1.0, 1.0, 1.0])
    """

    def __init__(
        self,
        graph=None,
        hidden_units=128,
        activation="leaky_relu",
        negative_slope=0.1,
        messages_into_external=True,
        num_nodes=None,
        num_edges=None,
        semantic_dim=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(hidden_units) < 1:
            raise ValueError(f"`hidden_units` must be positive; got {hidden_units}.")
        if graph is None and None in (num_nodes, num_edges, semantic_dim):
            raise ValueError("Pass the `graph` (a keras_hier.knowledge.ClassGraph).")
        self.hidden_units = int(hidden_units)
        self.activation = keras.activations.get(activation)
        self.negative_slope = float(negative_slope)
        self.messages_into_external = bool(messages_into_external)
        self._graph = graph
        if graph is not None:
            num_nodes, num_edges, semantic_dim = graph.num_nodes, graph.num_edges, graph.features.shape[1]
        self.num_nodes, self.num_edges, self.semantic_dim = int(num_nodes), int(num_edges), int(semantic_dim)

    def build(self, input_shape=None):
        g = self._graph
        n, e, s, h = self.num_nodes, self.num_edges, self.semantic_dim, self.hidden_units
        self.sources = graph_constant(self, "sources", (e,), g.edges[:, 0] if g else None, "int32")
        self.targets = graph_constant(self, "targets", (e,), g.edges[:, 1] if g else None, "int32")
        self.semantic = graph_constant(self, "semantic", (n, s), g.features if g else None)
        self.unseen = graph_constant(self, "unseen", (n,), g.mask("unseen") if g else None)
        self.external = graph_constant(self, "external", (n,), g.mask("external") if g else None)
        self.edge_receiver = self.add_weight(name="edge_receiver", shape=(s, h), initializer="glorot_uniform")
        self.edge_sender = self.add_weight(name="edge_sender", shape=(s, h), initializer="glorot_uniform")
        self.edge_hidden_bias = self.add_weight(name="edge_hidden_bias", shape=(h,), initializer="zeros")
        self.edge_out = self.add_weight(name="edge_out", shape=(h, 1), initializer="glorot_uniform")
        self.edge_out_bias = self.add_weight(name="edge_out_bias", shape=(1,), initializer="zeros")
        self._graph = None  # the weights hold it now
        self.built = True

    def _hidden_activation(self, x):
        if self.activation is keras.activations.leaky_relu:
            return ops.leaky_relu(x, negative_slope=self.negative_slope)
        return self.activation(x)

    def call(self, node_states=None, training=None):
        f32 = lambda w: ops.cast(w, "float32")  # noqa: E731  (edge weights stay float32 under mixed precision)
        semantic = f32(self.semantic)
        receiver = ops.take(ops.matmul(semantic, f32(self.edge_receiver)), self.targets, axis=0)
        sender = ops.take(ops.matmul(semantic, f32(self.edge_sender)), self.sources, axis=0)
        hidden = self._hidden_activation(receiver + sender + f32(self.edge_hidden_bias))
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

    def compute_output_spec(self, node_states=None, training=None):
        return keras.KerasTensor((self.num_edges,), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_units=self.hidden_units,
            activation=keras.activations.serialize(self.activation),
            negative_slope=self.negative_slope,
            messages_into_external=self.messages_into_external,
            num_nodes=self.num_nodes,
            num_edges=self.num_edges,
            semantic_dim=self.semantic_dim,
        )
        return config
