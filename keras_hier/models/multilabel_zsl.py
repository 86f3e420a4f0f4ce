"""`MultiLabelZeroShot`: multi-label zero-shot classification by transfer from external classes over a class
graph (Huang et al.): frozen backbone, PosVAE node states, relational GCN, one logit per target class."""

import weakref

import keras
import numpy as np
from keras import ops

from keras_hier._config import deserialized
from keras_hier._training_state import SavesTrainingState
from keras_hier.knowledge.graph import ClassGraph

VARIANTS = ("visual_semantic", "fast0tag", "skg", "rgcn", "rgcn_xl", "rgcn_posvae")


@keras.saving.register_keras_serializable(package="keras_hier")
class SemanticConstant(keras.layers.Layer):
    """The fixed semantic vectors of a set of classes, broadcast to a batch: [batch] inputs -> [batch, N, dim].

    Args:
        vectors: float array [N, dim] (stored as a non-trainable weight). Omit it only when loading.
        num_classes, dim: sizes (from `vectors`; set by `from_config`).
    """

    def __init__(self, vectors=None, num_classes=None, dim=None, **kwargs):
        super().__init__(**kwargs)
        if vectors is not None:
            vectors = np.asarray(vectors, np.float32)
            num_classes, dim = vectors.shape
        self.num_classes, self.dim = int(num_classes), int(dim)
        self._init = vectors

    def build(self, input_shape):
        init = keras.initializers.Constant(self._init) if self._init is not None else "zeros"
        self.vectors = self.add_weight(name="vectors", shape=(self.num_classes, self.dim), trainable=False,
                                       initializer=init)
        self._init = None
        self.built = True

    def call(self, like):
        batch = ops.shape(like)[0]
        vectors = ops.cast(self.vectors, self.compute_dtype)[None]
        return ops.broadcast_to(vectors, (batch, self.num_classes, self.dim))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes, self.dim)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dim": self.dim}


@keras.saving.register_keras_serializable(package="keras_hier")
class ProbabilityMatching(keras.layers.Layer):
    """RGCN-XL's extra loss: node logits [batch, targets + externals] in, the target logits out; adds
    `weight * mean((sigmoid(external logits) - probabilities)^2)` (float32), asking the external nodes to
    predict the external classifier's probabilities.

    Args:
        num_targets: the number of target nodes (the first columns).
        weight: the loss weight (lambda).
    """

    def __init__(self, num_targets, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.num_targets = int(num_targets)
        self.weight = float(weight)

    def build(self, node_logits_shape, probabilities_shape=None):
        self.built = True

    def call(self, node_logits, probabilities):
        external = ops.cast(node_logits[:, self.num_targets :], "float32")
        error = ops.square(ops.sigmoid(external) - ops.cast(probabilities, "float32"))
        self.add_loss(self.weight * ops.sum(error) / ops.maximum(ops.cast(ops.size(error), "float32"), 1.0))
        return node_logits[:, : self.num_targets]

    def get_config(self):
        return {**super().get_config(), "num_targets": self.num_targets, "weight": self.weight}


@keras.saving.register_keras_serializable(package="keras_hier")
class MultiLabelZeroShot(SavesTrainingState, keras.Model):
    """Multi-label zero-shot classifier that transfers knowledge from external classes over a `ClassGraph`.

    A frozen `backbone` maps images to a feature vector and to probabilities over the graph's external classes
    (an ImageNet classifier in the paper). Each target class y gets the node state MLP([feature; s_y]) (s: the
    class's semantic vector); each external class k gets a PosVAE state from its probability p_k. Relational
    graph convolutions (`graph_units`, ReLU between them) mix the states over the graph, and a shared MLP gives
    one logit per target node. Training sees the graph without its unseen nodes (`RelationalGraphConv`); at
    test time every target class is scored, so the logits of unseen classes come from their neighbours.

    The graph convolutions share one learnt adjacency Â (`LearnedAdjacency`, the paper's one Ŵ of Eq. 7);
    `shared_edges=False` gives each convolution its own. The paper's baselines are variants:
    - `"visual_semantic"`: the image feature projected into the class-embedding space, logit_y =
      <W feature, s_y>, no graph (Akata et al.'s label embedding with the paper's per-class BCE).
    - `"fast0tag"`: the same scores, trained with the ranking loss (train it with `PairwiseRankingLoss`).
    - `"skg"`: Lee et al.'s structured knowledge graph on the target classes: node states MLP([feature; s_y])
      (512 hidden, ReLU, dropout 0.5, `skg_state_dim`), `skg_steps` of `GatedGraphPropagation` over WordNet's
      typed relations, a 20-unit MLP per node (the reference configuration trains it with the ranking loss).
    - `"rgcn"`: the graph of the target classes only.
    - `"rgcn_xl"`: external nodes get MLP([feature; s_k]) states like targets, and their logits are asked to
      match the external probabilities (mean squared error, weight `vae_weight`).
    - `"rgcn_posvae"`: the full model (PosVAE states, its loss weighted `vae_weight`).

    The output is float32 logits [batch, num_targets] in the graph's target order (the labels' order). Train
    with `MaskedBinaryCrossentropy(columns=seen)` so that unseen labels never count.

    Args:
        backbone: a Keras model from images to `[features, probabilities]` (a list of two outputs, or a dict
            with those keys); it is frozen.
        graph: the `keras_hier.knowledge.ClassGraph` (targets + external classes; the backbone's probabilities
            follow the graph's external nodes, or `external_columns` picks them).
        variant: one of `VARIANTS`.
        hidden_units: size of the node states (the MLP and PosVAE outputs).
        graph_units: sizes of the graph convolutions.
        edge_hidden: hidden size of the edge MLP.
        edge_activation, edge_negative_slope: the edge MLP's hidden activation (the reference code:
            LeakyReLU with slope 0.1; the paper is silent).
        shared_edges: one Â for every graph convolution (the paper) or one per convolution.
        output_hidden: hidden size of the output MLP (its hidden layer LeakyReLU(0.1), as the reference's `MLP`;
            None: one linear layer).
        vae_weight: lambda, the weight of the PosVAE (or RGCN-XL matching) loss.
        messages_into_external: whether external nodes receive messages.
        external_columns: optional indices of the backbone's probability columns that are the graph's external
            classes, in order (e.g. ImageNet-1k columns without the dropped duplicates); the kept columns are
            renormalised to sum to 1.
        posvae_inference: the PosVAE states at inference, `"mean"` (mu) or `"sample"` (as the paper).
        posvae_reconstruct: what PosVAE reconstructs, `"probability"` (the paper), `"log_probability"` (the remedy
            for many external classes, see `keras_hier.layers.PosVAE`) or `"embedding"` (the reference code).
        skg_state_dim, skg_steps: SKG's node-state size d and propagation steps T (its configuration: 10, 5).
        seed: seed of the PosVAE noise.

    Example:
    >>> import numpy as np
    >>> graph = ClassGraph(["cat", "dog", "wolf", "fox"], ["cat.n.01", "dog.n.01", "wolf.n.01", "fox.n.01"],
    ...                    ["seen", "unseen", "external", "external"], np.eye(4, dtype="float32"))
    >>> images = keras.Input((8, 8, 1))
    >>> features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(images))
    >>> backbone = keras.Model(images, [features, keras.layers.Dense(2, activation="softmax")(features)])
    >>> model = MultiLabelZeroShot(backbone, graph, hidden_units=8, graph_units=(8,), edge_hidden=4)
    >>> tuple(model(np.zeros((2, 8, 8, 1), "float32")).shape)
    (2, 2)
    """

    def __init__(
        self,
        backbone,
        graph,
        variant="rgcn_posvae",
        hidden_units=256,
        graph_units=(256, 256),
        edge_hidden=128,
        output_hidden=64,
        vae_weight=1.0,
        messages_into_external=True,
        external_columns=None,
        edge_activation="leaky_relu",
        edge_negative_slope=0.1,
        shared_edges=True,
        posvae_inference="mean",
        posvae_reconstruct="probability",
        skg_state_dim=10,
        skg_steps=5,
        seed=None,
        skg_relations=None,
        **kwargs,
    ):
        from keras_hier.layers import GatedGraphPropagation, LearnedAdjacency, PosVAE, RelationalGraphConv

        if isinstance(backbone, dict):
            backbone = deserialized({"backbone": backbone}, "backbone")["backbone"]
        if isinstance(graph, dict):
            graph = _graph_from_config(graph)
        if variant not in VARIANTS:
            raise ValueError(f"Unknown variant {variant!r}: use one of {VARIANTS}.")
        from keras_hier.layers.pos_vae import RECONSTRUCT

        if posvae_reconstruct not in RECONSTRUCT:
            raise ValueError(f"`posvae_reconstruct` must be one of {RECONSTRUCT}; got {posvae_reconstruct!r}.")
        if posvae_inference not in ("mean", "sample"):
            raise ValueError(f"`posvae_inference` must be 'mean' or 'sample'; got {posvae_inference!r}.")
        if not isinstance(graph, ClassGraph):
            raise ValueError(f"`graph` must be a keras_hier.knowledge.ClassGraph; got {type(graph).__name__}.")
        if not isinstance(backbone, keras.Model) or len(backbone.inputs) != 1:
            raise ValueError("`backbone` must be a Keras model with one image input.")
        outputs = backbone.outputs
        if isinstance(backbone.output, dict):
            outputs = [backbone.output["features"], backbone.output["probabilities"]]
        if len(outputs) != 2:
            raise ValueError("`backbone` must output [features, probabilities] (or a dict with those keys).")
        targets, externals = graph.indices("target"), graph.indices("external")
        if variant in ("rgcn_xl", "rgcn_posvae") and not len(externals):
            raise ValueError(f"Variant {variant!r} needs external classes in the graph; use 'rgcn' without them.")
        width = int(outputs[1].shape[-1])
        if external_columns is not None:
            external_columns = [int(c) for c in external_columns]
            if len(external_columns) != len(externals) or max(external_columns, default=0) >= width:
                raise ValueError(
                    f"`external_columns` must pick {len(externals)} of the backbone's {width} probability columns."
                )
        elif len(externals) and variant in ("rgcn_xl", "rgcn_posvae") and width != len(externals):
            raise ValueError(
                f"The backbone gives {width} probabilities but the graph has {len(externals)} external classes: "
                "pass `external_columns`."
            )
        graph_units = [int(u) for u in graph_units]
        backbone.trainable = False

        # === Layers ===
        used = graph if variant in ("rgcn_xl", "rgcn_posvae") else graph.subgraph(targets)
        if skg_relations is not None:  # a saved model: SKG's WordNet relations come with it
            used._relations = np.asarray(skg_relations, np.int8)
        n_targets = len(targets)
        # Node-state MLP inputs: every node of RGCN-XL; only the targets otherwise (PosVAE states the externals).
        with_state_mlp = used.num_nodes if variant == "rgcn_xl" else n_targets
        semantic = SemanticConstant(used.features[:with_state_mlp], name="semantic")
        state_mlp = [keras.layers.Dense(hidden_units, name=f"node_state_{i}") for i in range(2)]
        # The reference's MLPs (`models/mlp.py`): LeakyReLU(0.1) after each hidden layer, none after the output.
        output_mlp = ([keras.layers.Dense(output_hidden, name="output_hidden"),
                       keras.layers.LeakyReLU(0.1, name="output_hidden_activation")]
                      if output_hidden else []) + [keras.layers.Dense(1, name="output_logit")]
        edges = dict(edge_hidden=edge_hidden, edge_activation=edge_activation, edge_negative_slope=edge_negative_slope)

        # === Functional wiring ===
        images = keras.Input(tuple(backbone.inputs[0].shape[1:]), name="images")
        features, probabilities = _two_outputs(backbone(images, training=False))
        if variant in ("rgcn_xl", "rgcn_posvae") and external_columns is not None:
            probabilities = _SelectColumns(external_columns, name="external_probabilities")(probabilities)
        if variant in ("visual_semantic", "fast0tag"):
            mapped = keras.layers.Dense(used.features.shape[1], use_bias=False, name="to_semantic")(features)
            logits = keras.layers.Dot(axes=(2, 1), name="semantic_scores")([semantic(features), mapped])
        else:
            joined = keras.layers.Concatenate(name="feature_and_semantic")(
                [_repeat(features, with_state_mlp), semantic(features)]
            )
        if variant == "skg":
            states = keras.layers.Dense(512, activation="relu", name="skg_input_hidden")(joined)
            states = keras.layers.Dropout(0.5, name="skg_input_dropout")(states)
            states = keras.layers.Dense(int(skg_state_dim), name="node_states")(states)
            states = GatedGraphPropagation(used, steps=skg_steps, name="skg_propagation")(states)
            states = keras.layers.Dense(20, activation="relu", name="skg_output_hidden")(states)
            logits = _Slice(0, None, axis=2, name="squeeze")(keras.layers.Dense(1, name="output_logit")(states))
        elif variant not in ("visual_semantic", "fast0tag"):
            # F_in: [image feature; word vector] -> hidden, LeakyReLU(0.1) -> node state, no output activation.
            states = state_mlp[1](keras.layers.LeakyReLU(0.1, name="node_state_hidden")(state_mlp[0](joined)))
            if variant == "rgcn_posvae":
                external_states = PosVAE(hidden_units, used.features[n_targets:], loss_weight=vae_weight,
                                         inference=posvae_inference, reconstruct=posvae_reconstruct, seed=seed,
                                         name="pos_vae")(probabilities)
                states = keras.layers.Concatenate(axis=1, name="all_states")([states, external_states])
            shared = None
            if shared_edges:
                shared = LearnedAdjacency(used, hidden_units=edge_hidden, activation=edge_activation,
                                          negative_slope=edge_negative_slope,
                                          messages_into_external=messages_into_external, name="adjacency")(states)
            for i, units in enumerate(graph_units):
                last = i == len(graph_units) - 1
                layer = RelationalGraphConv(
                    units, used, learn_edges=not shared_edges, activation=None if last else "relu",
                    messages_into_external=messages_into_external, name=f"graph_conv_{i}", **edges,
                )
                states = layer(states) if shared is None else layer(states, shared)
            node_logits = states
            for layer in output_mlp:
                node_logits = layer(node_logits)
            node_logits = _Slice(0, None, axis=2, name="squeeze")(node_logits)  # [batch, nodes]
            if variant == "rgcn_xl":
                logits = ProbabilityMatching(n_targets, vae_weight, name="probability_matching")(
                    node_logits, probabilities
                )
            else:
                logits = _Slice(0, n_targets, name="target_logits")(node_logits)
        logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
        super().__init__(images, logits, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.graph = graph
        self.variant = variant
        self.hidden_units = int(hidden_units)
        self.graph_units = graph_units
        self.edge_hidden = int(edge_hidden)
        self.output_hidden = None if output_hidden is None else int(output_hidden)
        self.vae_weight = float(vae_weight)
        self.messages_into_external = bool(messages_into_external)
        self.external_columns = external_columns
        self.edge_activation = keras.activations.serialize(keras.activations.get(edge_activation))
        self.edge_negative_slope = float(edge_negative_slope)
        self.shared_edges = bool(shared_edges)
        self.posvae_inference = posvae_inference
        self.posvae_reconstruct = posvae_reconstruct
        self.skg_state_dim, self.skg_steps = int(skg_state_dim), int(skg_steps)
        self._skg_relations = used._relations.tolist() if variant == "skg" else None
        self.seed = seed

    @property
    def seen(self):
        """Labels (target indices) of the seen classes."""
        return self.graph.indices("seen")

    @property
    def unseen(self):
        """Labels (target indices) of the unseen classes."""
        return self.graph.indices("unseen")

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "graph": _graph_config(self.graph),
            "variant": self.variant,
            "hidden_units": self.hidden_units,
            "graph_units": self.graph_units,
            "edge_hidden": self.edge_hidden,
            "output_hidden": self.output_hidden,
            "vae_weight": self.vae_weight,
            "messages_into_external": self.messages_into_external,
            "external_columns": self.external_columns,
            "edge_activation": self.edge_activation,
            "edge_negative_slope": self.edge_negative_slope,
            "shared_edges": self.shared_edges,
            "posvae_inference": self.posvae_inference,
            "posvae_reconstruct": self.posvae_reconstruct,
            "skg_state_dim": self.skg_state_dim,
            "skg_steps": self.skg_steps,
            "seed": self.seed,
            "skg_relations": self._skg_relations,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def export(self, filepath, format="tf_saved_model", verbose=True, version=None, preprocessing="unit",
               top_k=5, resize=False, **kwargs):
        """Exports a SavedModel for TF Serving with keras_hier's serving contract (`keras_hier.export`): its
        `serving_default` (and `serve`) signature takes raw uint8 `images`, preprocesses them inside
        (`preprocessing`: `"unit"` divides by 255, `"none"`, or a callable) and returns `probabilities`, each
        target label's sigmoid, with `top_k_indices` and `top_k_classes` (the graph's target names). A model on
        precomputed backbone outputs exports as `model.with_backbone(backbone).export(...)`. Other formats are
        Keras' own export of the logits. Returns the folder written."""
        if format != "tf_saved_model":
            return super().export(filepath, format=format, verbose=verbose, **kwargs)
        inputs = self.inputs or []
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ValueError(
                "This MultiLabelZeroShot reads precomputed backbone outputs, not images: export "
                "`model.with_backbone(backbone)`, the same model on the image backbone.")
        from keras_hier.export import export_serving

        return export_serving(self, filepath, preprocessing=preprocessing, activation="sigmoid",
                              class_names=list(self.graph.names[: self.graph.num_targets]), top_k=top_k,
                              resize=resize, verbose=verbose, version=version)

    def with_backbone(self, backbone):
        """This model on another `backbone` that gives the same outputs: the same settings and a copy of every
        weight after the backbone. E.g. a model trained on `precomputed_backbone(backbone)` on `backbone`
        itself, to predict on images, save or export.

        Args:
            backbone: a Keras model from images to `[features, probabilities]` of this model's sizes.
        """
        model = type(self).from_config({**self.get_config(), "backbone": backbone})
        for layer, trained in zip(model.layers[2:], self.layers[2:]):  # after the inputs and the backbone
            layer.set_weights(trained.get_weights())
        return model


def precomputed_backbone(backbone):
    """A stand-in for the frozen `backbone` that reads its outputs, computed once, instead of images.

    `MultiLabelZeroShot` freezes its backbone, so without image augmentation each image's features and
    probabilities stay the same through training: compute them once with `backbone_outputs` and train a model
    built on this stand-in (each epoch then skips the backbone), then `model.with_backbone(backbone)` predicts
    on images, saves or exports. Both give the same logits (up to rounding under mixed precision, where the
    outputs are stored in float32).

    Args:
        backbone: the Keras model from images to `[features, probabilities]` (or a dict with those keys).

    Returns:
        A Keras model from one float32 vector per image, its features then its probabilities (what
        `backbone_outputs` returns), to `[features, probabilities]`.

    Example:
    >>> images = keras.Input((8, 8, 1))
    >>> features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(images))
    >>> backbone = keras.Model(images, [features, keras.layers.Dense(2, activation="softmax")(features)])
    >>> outputs = backbone_outputs(backbone, np.zeros((3, 8, 8, 1), "float32"))
    >>> outputs.shape, [tuple(o.shape) for o in precomputed_backbone(backbone)(outputs)]
    ((3, 6), [(3, 4), (3, 2)])
    """
    width, num = _output_widths(backbone)
    vectors = keras.Input((width + num,), name="backbone_outputs")
    outputs = [_Slice(0, width, name="features")(vectors), _Slice(width, width + num, name="probabilities")(vectors)]
    return keras.Model(vectors, outputs, name=f"{backbone.name}_outputs")


def backbone_outputs(backbone, images, batch_size=256, verbose=0):
    """The frozen backbone's outputs for `images`, as `precomputed_backbone` reads them.

    The backbone runs as one `tf.function` for any batch size, kept for the next call with the same backbone (the
    training, validation and test images): one trace, where `backbone.predict` traces a first batch's shape and
    again at the first batch of another size (9 s a trace for a ResNet-101 on 2 cores). Under Keras' other backends
    it runs Keras' compiled `predict_on_batch` on each batch.

    Args:
        backbone: the Keras model from images to `[features, probabilities]` (or a dict with those keys).
        images: an array, or a dataset of image batches or of (images, labels) batches.
        batch_size: for arrays.
        verbose: 1 for a progress bar.

    Returns:
        float32 array [n, d_features + n_probabilities]: each image's features, then its probabilities.
    """
    if keras.backend.backend() != "tensorflow":
        return _backbone_outputs_compiled(backbone, images, batch_size, verbose)
    import tensorflow as tf

    if isinstance(images, np.ndarray):
        from keras_hier.datasets.prefetch import array_batches_dataset

        images = array_batches_dataset(images, batch_size)
    spec = images.element_spec
    spec = spec[0] if isinstance(spec, (tuple, list)) else spec
    run = _frozen_call(backbone, tf.TensorSpec((None, *spec.shape[1:]), spec.dtype))
    total = int(images.cardinality())
    return _output_rows(backbone, run, images, total if total >= 0 else None, verbose)


def _backbone_outputs_compiled(backbone, images, batch_size, verbose):
    """`backbone_outputs` under Keras' other backends (no tf.data, no `tf.function`): Keras' compiled
    `predict_on_batch` over the array's batches or the dataset's (e.g. an `ArrayBatches`)."""
    if isinstance(images, np.ndarray):
        images = [images[i: i + batch_size] for i in range(0, len(images), batch_size)]
    total = len(images) if hasattr(images, "__len__") else None
    return _output_rows(backbone, backbone.predict_on_batch, images, total, verbose)


def _output_rows(backbone, run, batches, total, verbose):
    """`run` (the backbone's inference call) on each batch of images (or of `(images, labels)`), as rows of
    features then probabilities."""
    progress = keras.utils.Progbar(total, verbose=verbose, unit_name="batch") if verbose else None
    rows = []
    for batch in batches:
        features, probabilities = _two_outputs(run(batch[0] if isinstance(batch, (tuple, list)) else batch))
        rows.append(np.concatenate([np.asarray(features, np.float32), np.asarray(probabilities, np.float32)], 1))
        if progress is not None:
            progress.add(1)
    return np.concatenate(rows) if rows else np.zeros((0, sum(_output_widths(backbone))), np.float32)


_FROZEN_CALLS = weakref.WeakKeyDictionary()


def _frozen_call(backbone, spec):
    """`backbone(x, training=False)` as a `tf.function` of input signature `spec`, one per backbone and spec."""
    import tensorflow as tf

    calls = _FROZEN_CALLS.setdefault(backbone, {})
    key = (tuple(spec.shape), spec.dtype.name)
    if key not in calls:
        model = weakref.ref(backbone)  # the cache must not keep the backbone alive (its key is a weak reference)
        calls[key] = tf.function(lambda x: model()(x, training=False), input_signature=[spec])
    return calls[key]


def _output_widths(backbone):
    """(feature width, number of probabilities) of the backbone's two outputs."""
    features, probabilities = _two_outputs(backbone.output if isinstance(backbone.output, dict) else backbone.outputs)
    return int(features.shape[-1]), int(probabilities.shape[-1])


def _graph_config(graph):
    """A ClassGraph as JSON-able config: names, ids, kinds, features and its edges with their WUP values."""
    return {
        "names": list(graph.names),
        "synsets": list(graph.synsets),
        "kinds": list(graph.kinds),
        "features": graph.features.tolist(),
        "threshold": graph.threshold,
        "edges": graph.edges.tolist(),
        "wup": graph.wup.tolist(),
    }


def _graph_from_config(config):
    n = len(config["names"])
    wup = np.zeros((n, n))
    edges = np.asarray(config["edges"], np.int64).reshape(-1, 2)
    wup[edges[:, 1], edges[:, 0]] = config["wup"]
    wup[np.arange(n), np.arange(n)] = 1.0
    return ClassGraph(config["names"], config["synsets"], config["kinds"], np.asarray(config["features"], np.float32),
                      config["threshold"], _wup=wup)


def _two_outputs(outputs):
    if isinstance(outputs, dict):
        return outputs["features"], outputs["probabilities"]
    return outputs[0], outputs[1]


def _repeat(features, n):
    return _Repeat(n, name="repeat_features")(features)


@keras.saving.register_keras_serializable(package="keras_hier")
class _Repeat(keras.layers.Layer):
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)

    def call(self, x):
        return ops.repeat(x[:, None, :], self.n, axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@keras.saving.register_keras_serializable(package="keras_hier")
class _Slice(keras.layers.Layer):
    """x[:, start:stop] along `axis` 1, or drops a size-1 last axis with `axis=2`."""

    def __init__(self, start, stop, axis=1, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop, self.axis = start, stop, axis

    def call(self, x):
        if self.axis == 2:
            return x[..., 0]
        return x[:, self.start : self.stop]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop, "axis": self.axis}


@keras.saving.register_keras_serializable(package="keras_hier")
class _SelectColumns(keras.layers.Layer):
    """Probability columns renormalised to sum to 1."""

    def __init__(self, columns, **kwargs):
        super().__init__(**kwargs)
        self.columns = [int(c) for c in columns]

    def call(self, probabilities):
        kept = ops.take(ops.cast(probabilities, "float32"), self.columns, axis=1)
        return kept / ops.maximum(ops.sum(kept, axis=1, keepdims=True), 1e-12)

    def get_config(self):
        return {**super().get_config(), "columns": self.columns}
