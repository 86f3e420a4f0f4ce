"""`HierNetRouter`: HierNet's "fast" evaluation (Algorithm 1), computing only the route each image takes."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_hier")
class HierNetRouter(keras.Model):
    """Routes each image down its most probable children and computes only that route.

    Shares every layer (and so every weight) with the `HierNet` it is made from; get it with
    `hiernet.routing_model()`. At each internal node the batch is partitioned by the chosen child: each
    child's edge runs on its own images only, so a batch costs about one backbone pass plus the node
    classifiers, however wide the tree. The output has the slow model's format, [batch, num_classes] in label
    order: the softmax of the last node reached over its class children, zero elsewhere (if that node also
    has group children, their mass is dropped). Its argmax is the routing prediction.

    Not compiled with XLA: the partition sizes change from batch to batch. Saving a router (`.keras`) saves the
    HierNet inside it; the loaded router routes through the loaded HierNet.

    Args:
        hiernet: the `keras_hier.HierNet` to evaluate.
    """

    def __init__(self, hiernet, **kwargs):
        kwargs.setdefault("name", f"{hiernet.name}_router")
        super().__init__(**kwargs)
        self.hiernet = hiernet
        self.jit_compile = False
        h = hiernet.hierarchy
        self._children = {n: list(h.children(n)) for n in hiernet.internal_nodes}
        self._label = {leaf: i for i, leaf in enumerate(h.leaves)}
        self._root = h.root
        names = {layer.name for layer in hiernet.layers}
        self._has_extra = {n for i, n in enumerate(hiernet.internal_nodes) if f"node{i}_extra" in names}

    def _classify(self, node, features):
        h = self.hiernet
        x = features
        if node in self._has_extra:
            x = h.node_layer(node, "extra")(x, training=False)
        x = h.node_layer(node, "pool")(x)
        x = h.node_layer(node, "dense")(x)
        return h.node_layer(node, "softmax")(x)

    def _visit(self, node, features, rows):
        """Scatter indices [m, 2] and values [m] for the images `rows` that reached `node`."""
        probs = self._classify(node, features)  # [n, children], float32
        choice = tf.argmax(probs, axis=-1, output_type=tf.int32)
        children = self._children[node]
        internal = self.hiernet.internal_nodes
        leaf_children = [(k, c) for k, c in enumerate(children) if c not in internal]
        indices, values = [tf.zeros([0, 2], tf.int32)], [tf.zeros([0], tf.float32)]
        if leaf_children:
            ends = tf.reduce_any(tf.stack([tf.equal(choice, k) for k, _ in leaf_children], axis=0), axis=0)
            end_rows = tf.boolean_mask(rows, ends)
            end_values = tf.gather(tf.boolean_mask(probs, ends), [k for k, _ in leaf_children], axis=1)
            columns = tf.constant([self._label[c] for _, c in leaf_children], tf.int32)
            grid_rows = tf.repeat(end_rows[:, None], len(leaf_children), axis=1)
            grid_cols = tf.broadcast_to(columns[None, :], tf.shape(grid_rows))
            indices.append(tf.reshape(tf.stack([grid_rows, grid_cols], axis=-1), [-1, 2]))
            values.append(tf.reshape(end_values, [-1]))
        for k, child in enumerate(children):
            if child not in internal:
                continue
            mask = tf.equal(choice, k)
            child_rows = tf.boolean_mask(rows, mask)

            def descend(child=child, mask=mask, child_rows=child_rows):
                edge = self.hiernet.node_layer(child, "edge")
                return self._visit(child, edge(tf.boolean_mask(features, mask), training=False), child_rows)

            # TensorFlow's convolutions mishandle empty batches: skip the branches no image takes.
            i, v = tf.cond(tf.size(child_rows) > 0, descend, lambda: (indices[0], values[0]))
            indices.append(i)
            values.append(v)
        return tf.concat(indices, axis=0), tf.concat(values, axis=0)

    def call(self, images, training=False):
        images = tf.convert_to_tensor(images)
        batch = tf.shape(images)[0]

        def route():
            features = self.hiernet.node_layer(self._root, "edge")(images, training=False)
            return self._visit(self._root, features, tf.range(batch))

        indices, values = tf.cond(
            batch > 0, route, lambda: (tf.zeros([0, 2], tf.int32), tf.zeros([0], tf.float32))
        )
        return tf.scatter_nd(indices, values, tf.stack([batch, self.hiernet.num_classes]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hiernet.num_classes)

    def get_config(self):
        return {**super().get_config(), "hiernet": keras.saving.serialize_keras_object(self.hiernet)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["hiernet"] = keras.saving.deserialize_keras_object(config["hiernet"])
        return cls(**config)
