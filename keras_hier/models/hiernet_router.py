"""`HierNetRouter`: HierNet's "fast" evaluation (Algorithm 1), computing only the route each image takes."""

import keras
import numpy as np
from keras import ops

_DEFAULT_CHUNK = 32  # images per chunk where shapes must be static (XLA, JAX): benchmarks/hiernet_inference.py


@keras.saving.register_keras_serializable(package="keras_hier")
class HierNetRouter(keras.Model):
    """Routes each image down its most probable children and computes only that route.

    Shares every layer (and so every weight) with the `HierNet` it is made from; get it with
    `hiernet.routing_model()`. The root's edge and classifier run on the whole batch; at each internal node the
    images are then grouped by the child they choose, and each child's edge runs on its own images only. Two ways:

    - *partitions* (`chunk_size=None`): each child runs once, on exactly its images (dynamic shapes, a child no
      image chose is skipped). TensorFlow without XLA only; the fastest there (and the default on it).
    - *chunks* (`chunk_size=k`): each child runs in a loop over chunks of `k` images, the last one padded (at most
      `k - 1` wasted images per child and batch; a batch smaller than `k` uses chunks of its size). Shapes are
      static given the batch size, so this runs under XLA (`router.jit_compile = True`, Keras' default on GPUs)
      and on every Keras backend (JAX, TensorFlow, PyTorch).

    Where a node sees a single image in a static shape (a batch of one), the chosen child alone runs (a switch).

    A batch so costs the root's part of the tree for every image plus one route's edges per image: the backbone's
    arithmetic plus the root classifier's extra blocks. The output has the slow model's format, [batch,
    num_classes] in label order: the softmax of the last node reached over its class children, zero elsewhere (if
    that node also has group children, their mass is dropped). Its argmax is the routing prediction, the
    argmax-route of the slow model's node softmaxes. Saving a router (`.keras`) saves the HierNet inside it; the
    loaded router routes through the loaded HierNet.

    Args:
        hiernet: the `keras_hier.HierNet` to evaluate.
        chunk_size: `"auto"` (default: partitions on TensorFlow without XLA, else chunks of 32), `None`
            (partitions) or a positive integer (chunks). Within chunk sizes 16-64 the speed at batch 256 on 2 CPU
            cores did not differ beyond the machine's noise (`python -m benchmarks.hiernet_inference`). Calling
            the router inside your own `tf.function(jit_compile=True)` needs an integer.

    Example:
    >>> import numpy as np
    >>> from keras_hier import HierNet, Hierarchy
    >>> from keras_hier.backbones import resnet_cifar
    >>> tree = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"]}})
    >>> hiernet = HierNet.from_backbone(resnet_cifar(1, 4, input_shape=(16, 16, 1)), tree, split_points=[2])
    >>> router = hiernet.routing_model(chunk_size=8)
    >>> router.predict(np.zeros((5, 16, 16, 1), "float32"), verbose=0).shape
    (5, 4)
    """

    def __init__(self, hiernet, chunk_size="auto", **kwargs):
        kwargs.setdefault("name", f"{hiernet.name}_router")
        super().__init__(**kwargs)
        if chunk_size not in ("auto", None) and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1
        ):
            raise ValueError(f"`chunk_size` must be a positive integer, None or 'auto'; got {chunk_size!r}.")
        self.hiernet = hiernet
        self.chunk_size = chunk_size if chunk_size in ("auto", None) else int(chunk_size)
        h = hiernet.hierarchy
        internal = hiernet.internal_nodes
        self._root = h.root
        names = {layer.name for layer in hiernet.layers}
        self._has_extra = {n for i, n in enumerate(internal) if f"node{i}_extra" in names}
        # Per internal node: its internal children (with their child position), and a [children, classes]
        # 0/1 matrix that places the softmax of its class children in their label columns.
        self._inner_children, self._placement, self._ends_here = {}, {}, {}
        for node in internal:
            children = list(h.children(node))
            placement = np.zeros((len(children), h.num_classes), np.float32)
            for k, child in enumerate(children):
                if child not in internal:
                    placement[k, h.label(child)] = 1.0
            self._placement[node] = placement
            self._ends_here[node] = placement.any(axis=1)
            self._inner_children[node] = [(k, c) for k, c in enumerate(children) if c in internal]

    def _classify(self, node, features):
        h = self.hiernet
        x = features
        if node in self._has_extra:
            x = h.node_layer(node, "extra")(x, training=False)
        x = h.node_layer(node, "pool")(x)
        x = h.node_layer(node, "dense")(x)
        return ops.cast(h.node_layer(node, "softmax")(x), "float32")

    def _visit(self, node, features, rows, valid, out):
        """Writes into `out` [batch + 1, classes] the rows of the images that end at `node` or below it.

        `features` [n, ...] are the images' feature maps at `node`, `rows` [n] their rows in the batch, `valid`
        [n] false for padding (written to the spare last row of `out`).
        """
        probs = self._classify(node, features)  # [n, children]
        choice = ops.argmax(probs, axis=-1)
        spare = ops.shape(out)[0] - 1
        ends = ops.logical_and(valid, ops.take(ops.convert_to_tensor(self._ends_here[node]), choice))
        target = ops.where(ends, rows, ops.cast(spare, rows.dtype))
        out = ops.scatter_update(out, target[:, None], ops.matmul(probs, self._placement[node]))
        n = ops.shape(features)[0]
        inner = self._inner_children[node]
        if isinstance(n, int) and n == 1 and inner:  # one image (a static shape): only the child it chose runs
            branch = ops.zeros((), "int32")
            for j, (k, _) in enumerate(inner, start=1):
                branch = ops.where(ops.logical_and(valid[0], ops.equal(choice[0], k)), j, branch)

            def descend(out, child):
                x = self.hiernet.node_layer(child, "edge")(features, training=False)
                return self._visit(child, x, rows, valid, out)

            branches = [lambda out: out] + [lambda out, child=child: descend(out, child) for _, child in inner]
            return ops.switch(branch, branches, out)
        positions = ops.arange(n, dtype="int32")
        for k, child in inner:
            chosen = ops.logical_and(valid, ops.equal(choice, k))
            count = ops.sum(ops.cast(chosen, "int32"))
            # The chosen images first, each group in batch order (the keys are distinct, so any sort agrees).
            order = ops.cast(ops.argsort(ops.where(chosen, positions, positions + n)), "int32")
            if self._exact:  # one chunk of exactly the chosen images (a dynamic shape), none when none chose it
                size = ops.maximum(count, 1)
            else:
                per_chunk = _DEFAULT_CHUNK if self.chunk_size == "auto" else self.chunk_size
                size = min(per_chunk, n) if isinstance(n, int) else ops.minimum(per_chunk, n)
            offsets = ops.arange(size, dtype="int32")
            edge = self.hiernet.node_layer(child, "edge")

            def run_chunk(j, out, order=order, count=count, size=size, offsets=offsets, edge=edge, child=child):
                index = j * size + offsets
                picked = ops.take(order, ops.minimum(index, n - 1))
                x = edge(ops.take(features, picked, axis=0), training=False)
                return self._visit(child, x, ops.take(rows, picked), ops.less(index, count), out)

            chunks = ops.cast((count + size - 1) // size, "int32")
            out = ops.fori_loop(0, chunks, run_chunk, out)
        return out

    @property
    def _exact(self):
        """Children run on exactly their images (dynamic shapes: TensorFlow without XLA), else in fixed chunks."""
        dynamic = keras.backend.backend() == "tensorflow" and not self.jit_compile
        if self.chunk_size == "auto":
            return dynamic
        if self.chunk_size is None and not dynamic:
            raise ValueError(
                "HierNetRouter(chunk_size=None) partitions each batch into dynamic shapes, which only TensorFlow "
                "runs without XLA: pass a chunk size (e.g. 32) for XLA and the other backends."
            )
        return self.chunk_size is None

    def call(self, images, training=False):
        images = ops.convert_to_tensor(images)
        batch = ops.shape(images)[0]
        out = ops.zeros((batch + 1, self.hiernet.num_classes), "float32")

        def route():
            features = self.hiernet.node_layer(self._root, "edge")(images, training=False)
            return self._visit(self._root, features, ops.arange(batch, dtype="int32"), ops.ones((batch,), "bool"), out)

        if isinstance(batch, int):
            return route()[:batch] if batch else out[:0]
        # An unknown batch size (TensorFlow graphs): TensorFlow's convolutions mishandle empty batches.
        return ops.cond(batch > 0, route, lambda: out)[:batch]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hiernet.num_classes)

    def get_config(self):
        return {**super().get_config(), "hiernet": keras.saving.serialize_keras_object(self.hiernet),
                "chunk_size": self.chunk_size}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["hiernet"] = keras.saving.deserialize_keras_object(config["hiernet"])
        return cls(**config)
