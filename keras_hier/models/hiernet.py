"""HierNet (Tempfli & Sandor): a tree CNN cut from a backbone, with full ("slow") and routing ("fast") evaluation."""

import inspect
import types
import warnings

import keras
import numpy as np

from keras_hier._io import is_decimal, write_saved_model
from keras_hier._training_state import SavesTrainingState
from keras_hier.hierarchy import Hierarchy
from keras_hier.layers.tree_probability import TreeProbability
from keras_hier.models.split_points import _producer, describe_candidates, find_operation, split_candidates

_POOLING = ("avg", "flatten")
_GLOBAL_POOLING = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
# Layers a head may hold between the pooling and the classifier without changing what the classifier reads.
_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Identity)


def _head(backbone):
    """The backbone's feature map and its classification head (the layers in forward order); see `_head_walk`."""
    features, steps = _head_walk(backbone)
    return features, [operation for operation, _, _ in steps]


def _head_walk(backbone):
    """The backbone's feature map and its classification head.

    Walks back from the output along single-input layers. The feature map is the input of the last global pooling
    layer on that walk; without one (a `Flatten` head, a ViT's class token), the last tensor with more than two
    axes (spatial, or a sequence of tokens). Everything after it is the head: an activation applied to the feature
    map (a final ReLU, ELU or swish) is part of the features.

    Returns `(feature_tensor, head)`, the head as `(operation, input tensor, output tensor)` in forward order.
    Raises ValueError where the walk meets a layer with several inputs before it finds the feature map.
    """
    tensor, walk = backbone.outputs[0], []  # (layer, its input, its output), from the output backwards
    while True:
        operation, inputs = _producer(tensor)
        if isinstance(operation, keras.layers.InputLayer) or len(inputs) != 1:
            break
        walk.append((operation, inputs[0], tensor))
        tensor = inputs[0]
    pooling = [i for i, (op, _, _) in enumerate(walk) if isinstance(op, _GLOBAL_POOLING)]
    spatial = [i for i, (_, x, y) in enumerate(walk) if len(x.shape) >= 3 and len(y.shape) == 2]
    if not pooling and not spatial:
        raise ValueError(
            f"Cannot find the feature map of {backbone.name!r} (no global pooling and no 3-D or 4-D tensor before "
            "its head on a single-input path from the output): pass `features=` (a layer name)."
        )
    cut = pooling[0] if pooling else spatial[0]
    return walk[cut][1], list(reversed(walk[: cut + 1]))


def _replay(operation, old_input, old_output, new_input):
    """Calls `operation` on `new_input` with the other arguments of the call that made `old_output` from
    `old_input` (a ViT head's `x[:, 0]` is a `GetItem` operation whose index is an argument)."""
    arguments = operation._inbound_nodes[old_output._keras_history[1]].arguments
    swap = lambda value: new_input if value is old_input else value  # noqa: E731
    return operation(*[swap(a) for a in arguments.args], **{k: swap(v) for k, v in arguments.kwargs.items()})


def _flatten_nested(backbone):
    """`backbone` with a nested feature model opened up: a keras-hub `ImageClassifier` (its `backbone` is a model
    inside the classifier's graph) becomes one Functional model over the inner model's layers and the same head
    layers (shared weights), so HierNet can cut inside it. Other backbones are returned as they are."""
    try:
        features, head = _head_walk(backbone)
    except ValueError:
        return backbone  # no head found: `features=` names the feature layer
    inner, inputs = _producer(features)
    if not isinstance(inner, keras.Model) or not hasattr(inner, "_inbound_nodes") or len(inner.inputs) != 1:
        return backbone
    if inputs[0] is not backbone.inputs[0]:
        raise ValueError(
            f"The feature map of {backbone.name!r} is inside the nested model {inner.name!r}, which runs after other "
            "layers: HierNet cannot cut inside it. Build the backbone as one flat Functional model (for "
            "keras.applications, pass `input_tensor=` the output of your preprocessing layers), or pass the nested "
            "model with its own head."
        )
    x = inner.outputs[0]
    for operation, old_input, old_output in head:
        x = _replay(operation, old_input, old_output, x)
    return _flatten_nested(keras.Model(inner.inputs[0], x, name=backbone.name))


def _feature_layer_name(backbone):
    """The name of the layer whose output is the backbone's feature map (see `_head`)."""
    features, _ = _head(backbone)
    return _producer(features)[0].name


def _head_dense(backbone, features, pooling):
    """The backbone's classification Dense layer when its head is `features` -> the pooling HierNet uses ->
    [Dropout] -> Dense -> [activations]; else `(None, why)`."""
    try:
        feature_tensor, head = _head(backbone)
    except ValueError as e:
        return None, str(e)
    if _producer(feature_tensor)[0].name != features:
        return None, f"its head does not read the feature layer {features!r}"
    expected = keras.layers.GlobalAveragePooling2D if pooling == "avg" else keras.layers.Flatten
    layers = [layer for layer in head if not isinstance(layer, _PASS_THROUGH)]
    denses = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    after = layers[2:]
    if (
        len(layers) < 2
        or not isinstance(layers[0], expected)
        or len(denses) != 1
        or layers[1] is not denses[0]
        or not all(isinstance(layer, (keras.layers.Activation, keras.layers.Softmax)) for layer in after)
    ):
        kinds = " -> ".join(type(layer).__name__ for layer in head)
        return None, f"its head ({kinds}) is not {expected.__name__} -> Dense (pooling={pooling!r})"
    if not denses[0].use_bias:
        return None, "its classifier has no bias"
    return denses[0], None


def _transfer_classifiers(backbone, features, pooling, hierarchy, internal, extras, denses):
    """Copies the backbone's classifier rows into nodes whose children are all classes (see `transfer_weights`);
    warns when the backbone's head cannot give them."""
    targets = [
        i for i, node in enumerate(internal)
        if node not in extras and all(hierarchy.is_leaf(c) for c in hierarchy.children(node))
    ]
    if not targets:
        return
    dense, why = _head_dense(backbone, features, pooling)
    if dense is None:
        warnings.warn(
            f"HierNet: the classifiers of nodes over classes start random, not from the backbone's classifier rows: "
            f"{why}.",
            stacklevel=4,
        )
        return
    kernel, bias = (np.asarray(w) for w in dense.get_weights())
    for i in targets:
        labels = [hierarchy.label(c) for c in hierarchy.children(internal[i])]
        denses[i].kernel.assign(kernel[:, labels])
        denses[i].bias.assign(bias[labels])


def _candidates_hint(backbone, features):
    """The end of a split-point error: the backbone's valid split points."""
    return f"Valid split points of {backbone.name!r} (HierNet.split_candidates): " + describe_candidates(
        split_candidates(backbone, _output(backbone, features)))


def _output(backbone, name):
    """The output tensor of the operation called `name` (a layer or an operation such as ConvNeXt's `+`)."""
    return keras.tree.flatten(find_operation(backbone, name).output)[0]


def _resolve(backbone, point, what, features=None):
    """An operation name of `backbone` from a name or a residual-block number (`resnet_cifar` naming)."""
    from keras_hier.backbones.resnet_cifar import block_name

    name = block_name(point) if isinstance(point, (int, np.integer)) else str(point)
    if find_operation(backbone, name) is None:
        hint = " (integers count residual blocks of keras_hier.backbones.resnet_cifar models)" if name != point else ""
        listed = f" {_candidates_hint(backbone, features)}." if features else ""
        raise ValueError(f"{what} {point!r}: the backbone {backbone.name!r} has no layer {name!r}{hint}.{listed}")
    return name


def _without_compile(config):
    """A serialised backbone without its compile state: HierNet trains with its own `compile`, and a keras-hub task
    (which compiles itself when built) would warn at every load that it cannot be compiled from a config."""
    return {k: v for k, v in config.items() if k != "compile_config"}


def _clone_layer(layer):
    """A new layer from `layer`'s config, as `keras.models.clone_model` makes it. A config with keys its constructor
    does not take (keras-hub's `ViTPatchingAndEmbedding` writes `num_patches` and `num_positions`, which it
    computes) is read without them."""
    try:
        config = layer.get_config()
    except Exception as e:  # e.g. keras-hub's DeiTEncoder: its get_config reads an attribute it never sets
        raise ValueError(
            f"HierNet gives every node its own copy of the backbone's layers, made from each layer's config, and "
            f"the layer {layer.name!r} ({type(layer).__module__}.{type(layer).__name__}) cannot give its config: "
            f"{type(e).__name__}: {e}. That is a bug of the layer (whatever copies layers from their configs, "
            "keras.models.clone_model included, fails on it): report it to its library, or use another backbone."
        ) from e
    try:
        return layer.__class__.from_config(config)
    except TypeError as e:
        if "Unrecognized keyword arguments" not in str(e):
            raise
    accepted = {"input_dim", "input_shape", "batch_input_shape", "batch_size"}  # Layer's own **kwargs
    for klass in type(layer).__mro__:  # down to the first constructor without **kwargs (Layer's)
        if "__init__" not in klass.__dict__:
            continue
        parameters = inspect.signature(klass.__dict__["__init__"]).parameters.values()
        accepted |= {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters) or klass is keras.layers.Layer:
            break
    return layer.__class__.from_config({k: v for k, v in config.items() if k in accepted})


def _segment(backbone, start, end, name, features):
    """A fresh copy (new weights) of the backbone layers from the output of `start` (or the input) to `end`,
    and the original segment it copies (sharing the backbone's weights)."""
    source = backbone.inputs[0] if start is None else _output(backbone, start)
    try:
        original = keras.Model(source, _output(backbone, end))
    except Exception as e:
        raise ValueError(
            f"Cannot cut the backbone between {start or 'its input'!r} and {end!r}: the layers in between also use "
            f"tensors from before {start!r} (a skip connection or a concatenation crosses the split point). "
            f"{_candidates_hint(backbone, features)}. ({e})"
        ) from None
    copy = keras.models.clone_model(original, clone_function=_clone_layer)
    return keras.Model(copy.inputs[0], copy.outputs[0], name=name), original


@keras.saving.register_keras_serializable(package="keras_hier")
class HierNet(SavesTrainingState, keras.Model):
    """A tree-shaped CNN built from a backbone and a class hierarchy (Tempfli & Sandor, ICAART 2023).

    Each internal node of the hierarchy gets an *edge*, its own copy of a segment of the backbone, and a
    classifier (global average pooling or flatten, dense, softmax over its children). The root's edge is the
    backbone up to the first split point; a node at depth `d` gets the segment between split points `d` and
    `d + 1`, or, when all its children are classes, the whole rest of the backbone, so that every root-to-class
    route runs exactly the backbone's layers. `classifier_layers` adds copies of the following backbone blocks
    in front of a node's classifier (paper section 3.3; not possible where the edge ends at the backbone's end).

    The model's output is the "slow" (full) evaluation: each class's probability is the product of the
    branch probabilities on its route (`TreeProbability`), in the hierarchy's leaf order, which is the user's
    label order: train it with `model.fit` on the data set's own labels and (sparse) categorical
    cross-entropy. Its argmax is the *conditional* prediction. `routing_model()` gives the "fast" evaluation
    (Algorithm 1), which follows the most probable child at each node and computes only that route: its
    argmax is the *routing* prediction. `node_model()` gives every node's softmax.

    Args:
        backbone: a Functional Keras classifier, cut at named layers. `keras_hier.backbones.resnet_cifar`
            models can be cut at residual-block numbers.
        hierarchy: a tree `keras_hier.Hierarchy` whose leaves are the backbone's classes in label order.
        split_points: one split point per level below the root (`hierarchy.max_depth - 1` of them): layer
            names (`HierNet.split_candidates(backbone)` lists the valid ones), or residual-block numbers for
            `resnet_cifar` backbones.
        classifier_layers: extra backbone blocks in front of each classifier: a number of residual blocks
            (`resnet_cifar`), or, for any backbone, one layer name per split point (the end of the extra
            segment for nodes whose edge ends there). 0 for none.
        transfer_weights: copy the backbone's weights into the trunk, every edge and the extra classifier
            blocks (the paper found this very beneficial). A node whose children are all classes also gets the
            backbone's classifier rows of those classes when its input is the backbone's own (global average
            pooling of the feature map): it then starts as the backbone's softmax within its group. The other
            node classifiers start random.
        pooling: `"avg"` (global average pooling over the feature map's pixels, or a ViT's tokens) or
            `"flatten"` before each node's dense layer.
        features: the backbone's feature-map layer before its head (found automatically).
        batch_norm_momentum: None keeps the backbone's; a number sets the momentum of every batch norm in the
            tree (`keras_hier.backbones.set_batch_norm_momentum`: keras.applications' 0.99 leaves short
            fine-tunes predicting one class; 0.9 is PyTorch's default, the papers'). docs/hiernet.md says when.

    Example:
    >>> from keras_hier.backbones import resnet_cifar
    >>> backbone = resnet_cifar(1, 4, input_shape=(16, 16, 1))
    >>> tree = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"]}})
    >>> model = HierNet.from_backbone(backbone, tree, split_points=[2], classifier_layers=1)
    >>> model.output.shape
    (None, 4)
    """

    def __init__(
        self,
        backbone,
        hierarchy,
        split_points,
        classifier_layers=0,
        transfer_weights=True,
        pooling="avg",
        features=None,
        batch_norm_momentum=None,
        **kwargs,
    ):
        if isinstance(backbone, dict):  # files written before the compile state was left out load the same
            backbone = keras.saving.deserialize_keras_object(_without_compile(backbone))
        if isinstance(hierarchy, str):
            hierarchy = Hierarchy.from_json(hierarchy)
        if not isinstance(backbone, keras.Model) or not getattr(backbone, "inputs", None) \
                or not getattr(backbone, "outputs", None):
            raise ValueError(
                f"`backbone` must be a Functional (or Sequential) Keras model: HierNet cuts it into segments along its "
                f"graph of layers; got {type(backbone).__name__}, which has none (a subclassed model's call() cannot be "
                "cut, and a Sequential model needs an Input). "
                "Rebuild it with keras.Input and layer calls (keras_hier.backbones.resnet_cifar, keras.applications "
                "and keras-hub backbones are Functional).")
        if len(backbone.inputs) != 1:
            raise ValueError(f"`backbone` must have one image input; it has {len(backbone.inputs)}.")
        if not isinstance(hierarchy, Hierarchy):
            raise ValueError(f"`hierarchy` must be a keras_hier.Hierarchy; got {type(hierarchy).__name__}.")
        if not hierarchy.is_tree:
            raise ValueError("HierNet needs a tree: the hierarchy is a DAG. Use `hierarchy.to_tree()`.")
        if hierarchy.has_internal_classes:
            inner = next(n for n in hierarchy.leaves if hierarchy.children(n))
            raise ValueError(
                f"HierNet routes images to leaves, but class {inner!r} has children: build the hierarchy without "
                "`internal_classes`."
            )
        if pooling not in _POOLING:
            raise ValueError(f"Unknown `pooling` {pooling!r}: use one of {_POOLING}.")
        source, backbone = backbone, _flatten_nested(backbone)
        num_classes = int(backbone.outputs[0].shape[-1])
        if hierarchy.num_classes != num_classes:
            raise ValueError(
                f"The hierarchy has {hierarchy.num_classes} classes but the backbone outputs {num_classes}: its "
                "leaves must be the backbone's classes, in label order."
            )
        split_points = list(split_points) if isinstance(split_points, (list, tuple)) else [split_points]
        internal = [n for n in hierarchy.nodes if not hierarchy.is_leaf(n)]
        if not internal:
            raise ValueError("The hierarchy has a single class: there is nothing to route.")
        if hierarchy.max_depth - 1 != len(split_points):
            raise ValueError(
                f"The hierarchy has depth {hierarchy.max_depth}, so HierNet needs {hierarchy.max_depth - 1} split "
                f"point(s) (one per level below the root); got {len(split_points)}: {split_points}."
            )
        features = features or _feature_layer_name(backbone)
        _resolve(backbone, features, "Feature layer")
        bounds = [None] + [_resolve(backbone, p, "Split point", features) for p in split_points] + [features]
        order = {operation.name: i for i, operation in enumerate(backbone.operations)}
        positions = [order[b] for b in bounds[1:]]
        if positions != sorted(positions) or len(set(positions)) != len(positions):
            raise ValueError(
                f"Split points must be distinct and in the backbone's order, before {features!r}; got "
                f"{bounds[1:-1]}. {_candidates_hint(backbone, features)}."
            )
        valid = split_candidates(backbone, _output(backbone, features), every=True)
        crossed = [b for b in bounds[1:-1] if b not in valid]
        if crossed:
            raise ValueError(
                f"Split point {crossed[0]!r}: a skip connection or a concatenation crosses it in {backbone.name!r} "
                f"(layers after it also read tensors from before it), so the tree cannot branch there. "
                f"{_candidates_hint(backbone, features)}."
            )
        extra_ends = self._extra_ends(backbone, classifier_layers, split_points, bounds)

        # === Layers: one edge (backbone segment copy) and one classifier per internal node ===
        index = {n: i for i, n in enumerate(internal)}
        segments, extras, originals = {}, {}, []
        for node in internal:
            i, depth = index[node], hierarchy.depth(node)
            last = all(hierarchy.is_leaf(c) for c in hierarchy.children(node))
            end = len(bounds) - 1 if last else depth + 1
            segments[node], original = _segment(backbone, bounds[depth], bounds[end], f"node{i}_edge", features)
            originals.append((segments[node], original))
            if extra_ends[end] is not None:
                extras[node], original = _segment(backbone, bounds[end], extra_ends[end], f"node{i}_extra",
                                                  features)
                originals.append((extras[node], original))
        if transfer_weights:
            for copy, original in originals:
                copy.set_weights(original.get_weights())
        if batch_norm_momentum is not None:
            from keras_hier.backbones.batch_norm import set_batch_norm_momentum

            for copy, _ in originals:
                set_batch_norm_momentum(copy, batch_norm_momentum)

        # === Functional model ===
        inputs = keras.Input(shape=tuple(backbone.inputs[0].shape[1:]), name="image")
        feature_maps, node_probs, denses = {}, [], {}
        for node in internal:
            i = index[node]
            parent = hierarchy.parents(node)[0] if node != hierarchy.root else None
            x = segments[node](inputs if parent is None else feature_maps[parent])
            feature_maps[node] = x
            if node in extras:
                x = extras[node](x)
            if pooling == "avg":  # over the positions: a feature map's pixels, a ViT's tokens
                pool = keras.layers.GlobalAveragePooling2D if len(x.shape) == 4 else keras.layers.GlobalAveragePooling1D
                x = pool(name=f"node{i}_pool")(x)
            else:
                x = keras.layers.Flatten(name=f"node{i}_pool")(x)
            dense = keras.layers.Dense(len(hierarchy.children(node)), name=f"node{i}_dense")
            denses[i] = dense
            x = dense(x)
            node_probs.append(keras.layers.Activation("softmax", dtype="float32", name=f"node{i}_softmax")(x))
        if transfer_weights:
            _transfer_classifiers(backbone, features, pooling, hierarchy, internal, extras, denses)
        paths = []
        for leaf in hierarchy.leaves:
            route = hierarchy.path(leaf)
            paths.append([(index[a], hierarchy.children(a).index(b)) for a, b in zip(route, route[1:])])
        outputs = TreeProbability(paths, name="probabilities")(node_probs)
        kwargs.setdefault("name", f"hiernet_{backbone.name}")
        super().__init__(inputs, outputs, **kwargs)

        # === Config ===
        self.backbone_config = _without_compile(keras.saving.serialize_keras_object(source))
        self.hierarchy = hierarchy
        self.split_points = [p if isinstance(p, str) else int(p) for p in split_points]
        is_count = isinstance(classifier_layers, (int, np.integer))
        self.classifier_layers = int(classifier_layers) if is_count else list(classifier_layers)
        self.transfer_weights = bool(transfer_weights)
        self.pooling = pooling
        self.features = features
        self.batch_norm_momentum = None if batch_norm_momentum is None else float(batch_norm_momentum)
        self.internal_nodes = tuple(internal)
        self.num_classes = num_classes

    @staticmethod
    def _extra_ends(backbone, classifier_layers, split_points, bounds):
        """The end layer of the extra classifier segment for nodes whose edge ends at each bound."""
        from keras_hier.backbones.resnet_cifar import block_name

        ends = [None] * len(bounds)
        if isinstance(classifier_layers, (int, np.integer)):
            if classifier_layers < 0:
                raise ValueError(f"`classifier_layers` must be >= 0; got {classifier_layers}.")
            if classifier_layers == 0:
                return ends
            if not all(isinstance(p, (int, np.integer)) for p in split_points):
                raise ValueError(
                    "A number of `classifier_layers` needs residual-block split points (resnet_cifar backbones); "
                    "for other backbones pass one layer name per split point."
                )
            blocks = [
                int(layer.name[5:-4])
                for layer in backbone.layers
                if layer.name.startswith("block") and layer.name.endswith("_out") and is_decimal(layer.name[5:-4])
            ]
            last_block = max(blocks)
            for k, p in enumerate(split_points, start=1):
                ends[k] = block_name(min(int(p) + int(classifier_layers), last_block)) if int(p) < last_block else None
            return ends
        names = list(classifier_layers)
        if len(names) != len(split_points):
            raise ValueError(f"Give one `classifier_layers` name per split point ({len(split_points)}); got {names}.")
        for k, name in enumerate(names, start=1):
            ends[k] = None if name is None else _resolve(backbone, name, "Classifier layer")
        return ends

    @staticmethod
    def split_candidates(backbone, features=None, every=False):
        """The layer names HierNet can cut `backbone` at, in order from the input (`split_points` takes them).

        A valid split point is an operation whose output alone carries the image on: no skip connection or
        concatenation reaches over it. By default the stage outputs (the last valid split point at each spatial
        resolution before the feature map's); `every=True` lists every valid one. keras-hub classifiers are opened
        up as `HierNet` opens them, and operations that are not layers (ConvNeXt's `+`, named `add_...`) count.

        Args:
            backbone: the Functional classifier `from_backbone` would take.
            features: its feature-map layer (found as `HierNet` finds it).
            every: list every valid split point, not only the stage outputs.

        Example:
        >>> from keras_hier.backbones import resnet_cifar
        >>> HierNet.split_candidates(resnet_cifar(2, 4, input_shape=(16, 16, 1)))
        ['block2_out', 'block4_out']

        (keras.applications.ResNet50 at 64x64: `conv1_relu`, `conv2_block3_out`, `conv3_block4_out`,
        `conv4_block6_out`.)
        """
        backbone = _flatten_nested(backbone)
        name = features or _feature_layer_name(backbone)
        _resolve(backbone, name, "Feature layer")
        return split_candidates(backbone, _output(backbone, name), every=every)

    @classmethod
    def from_backbone(cls, backbone, hierarchy, split_points, classifier_layers=0, transfer_weights=True, **kwargs):
        """Builds a HierNet from a (trained) backbone; see the class docstring for the arguments."""
        return cls(backbone, hierarchy, split_points, classifier_layers, transfer_weights, **kwargs)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": self.backbone_config,
            "hierarchy": self.hierarchy.to_json(),
            "split_points": self.split_points,
            "classifier_layers": self.classifier_layers,
            "transfer_weights": False,  # the saved weights are loaded over the rebuilt model
            "pooling": self.pooling,
            "features": self.features,
            "batch_norm_momentum": self.batch_norm_momentum,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # === Views of the tree ===

    def node_layer(self, node, part):
        """The layer of an internal node: `part` is "edge", "extra", "pool", "dense" or "softmax"."""
        if node not in self.internal_nodes:
            raise ValueError(f"{node!r} is not an internal node of this HierNet: {list(self.internal_nodes)[:8]}.")
        return self.get_layer(f"node{self.internal_nodes.index(node)}_{part}")

    def node_model(self):
        """A Keras model from images to a dict of every internal node's softmax over its children."""
        outputs = {n: self.node_layer(n, "softmax").output for n in self.internal_nodes}
        return keras.Model(self.inputs[0], outputs, name=f"{self.name}_nodes")

    def routing_model(self, chunk_size="auto"):
        """The "fast" evaluation (Algorithm 1) as a Keras model sharing this model's weights (`HierNetRouter`).

        Per image, only the route of most probable children is computed: a batch is grouped by the route its
        images take, so its cost is about one backbone pass plus the root classifier's extra blocks. The output
        has the slow model's format, [batch, num_classes] in label order: the softmax of the last node
        reached over its classes, zero elsewhere. Its argmax is the routing prediction. `chunk_size`: see
        `HierNetRouter` (`"auto"`: exact partitions on TensorFlow without XLA, fixed chunks under XLA and on
        the other backends). The same router comes back for the same `chunk_size`.
        """
        from keras_hier.models.hiernet_router import HierNetRouter

        # One router per chunk size, kept: a new model per call would trace a new predict function each time
        # (TensorFlow's retracing warnings). Held in a plain namespace, which Keras neither tracks nor saves.
        cache = self.__dict__.get("_router_cache")
        if cache is None:
            cache = self._router_cache = types.SimpleNamespace(routers={})
        if chunk_size not in cache.routers:
            cache.routers[chunk_size] = HierNetRouter(self, chunk_size=chunk_size)
        return cache.routers[chunk_size]

    def export(self, filepath, format="tf_saved_model", verbose=True, input_signature=None, version=None,
               preprocessing="unit", class_names=None, top_k=5, resize=False, **kwargs):
        """Exports a SavedModel for TF Serving with keras_hier's serving contract (`keras_hier.export`): its
        `serving_default` (and `serve`) signature takes raw uint8 `images` [batch, height, width, channels], any
        batch size, preprocesses them inside, and returns `probabilities` (the slow evaluation), `top_k_indices`,
        `top_k_classes`, `routed_class` and `routed_probabilities` (the fast evaluation).

        Written to a temporary folder and moved into place; an existing folder is replaced only if it is an earlier
        keras_hier export.

        Args:
            filepath: the SavedModel folder (TF Serving's base folder with `version`).
            format: `"tf_saved_model"`; other formats are Keras' own export of the slow model.
            verbose: say where it went.
            input_signature: only for Keras' other formats (the SavedModel takes uint8 `images`).
            version: None, a positive int or `"next"`: TF Serving's layout, `filepath/<version>/`.
            preprocessing: what the model's inputs are: `"unit"` (images / 255, every keras_hier dataset's
                scale), `"none"` (0..255 floats), or a callable on float32 images in 0..255.
            class_names: the classes' names in label order (default: the hierarchy's leaves).
            top_k: classes in `top_k_indices` / `top_k_classes`.
            resize: accept any height and width, resized to the model's input size.

        Returns:
            The folder written.
        """
        if format != "tf_saved_model":
            return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)
        if input_signature is not None:
            raise ValueError(
                "HierNet's SavedModel takes uint8 `images` (keras_hier's serving contract; see docs/serving.md): "
                "`input_signature` is for Keras' other formats. Use `preprocessing=` for what the model expects."
            )
        from keras_hier.export import export_serving

        path = export_serving(self, filepath, preprocessing=preprocessing,
                              class_names=list(class_names or self.hierarchy.leaves), top_k=top_k, resize=resize,
                              extra_outputs=self._routed_outputs(), verbose=False, version=version)
        if verbose:
            print(f"Saved HierNet SavedModel to {path} (serving_default: uint8 images -> probabilities, "
                  "top_k_classes, routed_class)")
        return path

    def _routed_outputs(self):
        """`export_serving`'s `extra_outputs`: the fast evaluation's class and probabilities."""
        import tensorflow as tf

        router = self.routing_model()

        def routed(x, probabilities):
            p = router(x, training=False)
            return {"routed_class": tf.argmax(p, axis=-1, output_type=tf.int32), "routed_probabilities": p}

        return routed
