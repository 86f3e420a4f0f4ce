"""`HIRL`: hierarchical image representation learning on top of a self-supervised base method."""

import contextlib
import sys

import keras
import numpy as np
from keras import ops

from keras_hier._training_state import SavesTrainingState
from keras_hier.distribute import all_gather
from keras_hier.layers.projection_head import ProjectionHead
from keras_hier.losses.semantic_path import SemanticPathDiscrimination
from keras_hier.models.prototype_update import PrototypeUpdate
from keras_hier.models.ssl.base import SelfSupervisedModel, batch_images, safe_mean


class _ClusteringState(keras.layers.Layer):
    """HIRL's clustering state as variables of the model, so that every backend's training step carries it (Keras'
    JAX trainer passes a jitted step the model's variables only): L_SPD's prototypes and paths and its negative
    sampling generator, each training image's level-0 prototype (`assignments`) and whether there are prototypes
    yet (`clustered`). Clustering remakes it, so the weights files leave it out, as before."""

    def __init__(self, spd, **kwargs):
        super().__init__(**kwargs)
        self.prototypes = list(spd._prototypes)
        self.paths = spd._paths
        self.negatives = spd.seed_generator
        self.clustered = keras.Variable(0, dtype="int32", trainable=False, name="clustered")
        self.assignments = self._assignments(np.zeros([1], np.int32))

    def _assignments(self, values):
        return keras.Variable(values, dtype="int32", trainable=False, name="assignments",
                              aggregation="only_first_replica")

    def set_assignments(self, values):
        """Writes each training image's level-0 prototype, remaking the variable for another number of images (a
        traced training step then needs tracing again: `HIRL.prepare_assignments`)."""
        values = np.asarray(values, np.int32).reshape(-1)
        if tuple(self.assignments.shape) == values.shape:
            self.assignments.assign(values)
            return
        del self.assignments  # untracked, then replaced
        self.assignments = self._assignments(values)

    def rows_in_range(self, rows):
        """`rows` (image indices); before the first clustering, when the table is still a placeholder, cut into its
        range (the values read there are not used; a gather out of range would fail on TensorFlow)."""
        last = int(self.assignments.shape[0]) - 1
        return ops.where(self.clustered > 0, rows, ops.minimum(rows, last))

    def save_own_variables(self, store):
        """Saves nothing: clustering remakes this state, and the weights files stay as they were."""

    def load_own_variables(self, store):
        """Loads nothing (see `save_own_variables`)."""


def _is_tf_dataset(data):
    """Whether `data` is a `tf.data.Dataset` (without importing TensorFlow where it is not loaded)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)


def _method_names():
    from keras_hier.models.ssl import METHODS

    return [cls.__name__ for cls in METHODS.values()]


@keras.saving.register_keras_serializable(package="keras_hier")
class HIRL(SavesTrainingState, keras.Model):
    """HIRL (Xu et al., 2022): a self-supervised `base` (any of `keras_hier.models.ssl.METHODS`) plus semantic path
    discrimination over hierarchical K-means prototypes of its embeddings.

    Stage 1 (`warmup_epochs` epochs) trains the base method alone. From then on, at the start of every epoch,
    the `PrototypeUpdate` callback embeds the whole training set (`base.cluster_features`: the momentum encoder's
    embedding for MoCo v2), runs `hierarchical_kmeans` with `num_prototypes`, and the model minimises
    L_img + spd_weight * L_SPD, where L_SPD (`SemanticPathDiscrimination`) compares the per-level embeddings
    z_l = h_l(z_0) of view 1 (`ProjectionHead`s on the base's online embedding z_0) with the image's prototype path
    and `num_negative_paths` other paths. Afterwards the heads are dropped: `hirl.encoder` is the feature
    extractor (calling the model runs it).

    Which embedding is z_0 and which one is clustered, per base (the paper's implementation notes and its
    reference code; each base's `embed` / `view_loss` give z_0, its `cluster_features` the clustered one):

    | base | z_0 (the heads' input, first view) | clustered features |
    |---|---|---|
    | MoCo v2 | online projection (128-d) | momentum encoder's projection |
    | SimSiam | projector output | projector output |
    | SwAV | projection (128-d) | projection; level 0 re-assigned each step (`reassign_each_step`) |
    | MoCo v3 | online projector output, not the predictor's (256-d) | momentum encoder's projection |
    | DINO | student head's bottleneck on the class token (256-d) | teacher head's bottleneck |
    | iBOT | student head's bottleneck on the (masked) view's class token | teacher head's bottleneck |
    | SimCLR | projection | projection |

    z_0 enters the heads raw, before any L2 normalisation, as the reference code hooks it (the output of the
    projection module); the clustered features are L2-normalised. The paper's heads have 2 layers, 5 for MoCo v3
    (the default `head_layers=None` picks this), and it samples 1000 negative paths for the CNN bases and 100 for
    the ViT ones. Each level keeps the best of `kmeans_restarts` K-means seedings.

    Training batches must carry each image's index in the training set as the label, which picks its prototype
    path: `fit(images)` on an array does this itself (and clusters `images`); with a `tf.data` pipeline use
    `keras_hier.datasets.pipeline.make_dataset(images, numpy.arange(len(images)), shuffle=True)` and pass the
    images in order as `cluster_data`.

    Args:
        base: a `keras_hier.models.ssl.SelfSupervisedModel`.
        num_prototypes: prototypes per level, finest first (the paper: (30000, 10000, 1000) on ImageNet).
        num_negative_paths: negative paths per image (the paper: 1000 for CNNs).
        warmup_epochs: epochs of the base method alone (the paper: 20 of 200).
        spd_weight: weight of L_SPD (the paper: 1; the official code's mean of the two terms is 0.5).
        head_layers: Dense layers of each level's head (None: the paper's, 5 for MoCo v3, else 2).
        kmeans_iterations, kmeans_init: as `keras_hier.clustering.hierarchical_kmeans`.
        kmeans_restarts: seedings per level, the best kept (the reference's faiss `nredo=5`).
        cluster_batch_size: images per batch when embedding the training set for clustering.
        reassign_each_step: re-assign each batch's level-0 prototype every step, to the nearest prototype of the
            second view's `cluster_features` (the reference code does this for SwAV only). None: True for SwAV.
        seed: seed of the clustering and of the negative sampling.

    Example:
    >>> from keras_hier.models.ssl import SimCLR
    >>> inputs = keras.Input((8, 8, 1))
    >>> encoder = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))
    >>> hirl = HIRL(SimCLR(encoder, projection_dim=8, hidden_units=16), num_prototypes=(6, 2),
    ...             num_negative_paths=4, warmup_epochs=1)
    >>> hirl.compile(optimizer="sgd")
    >>> history = hirl.fit(np.random.default_rng(0).uniform(size=(16, 8, 8, 1)), batch_size=8, epochs=2, verbose=0)
    >>> history.history["spd_loss"][0] == 0.0 < history.history["spd_loss"][1]
    True
    """

    def __init__(self, base, num_prototypes=(30000, 10000, 1000), num_negative_paths=1000, warmup_epochs=20,
                 spd_weight=1.0, head_layers=None, kmeans_iterations=20, kmeans_init="kmeans++", cluster_batch_size=512,
                 reassign_each_step=None, seed=None, kmeans_restarts=5, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(base, SelfSupervisedModel):
            raise TypeError(f"`base` must be a keras_hier.models.ssl model ({', '.join(sorted(_method_names()))}); "
                            f"got {type(base).__name__}.")
        sizes = [int(k) for k in num_prototypes]
        if not sizes or min(sizes) < 1 or any(a < b for a, b in zip(sizes, sizes[1:])):
            raise ValueError(f"`num_prototypes` must be positive and not increasing, finest first; got {sizes}.")
        if int(warmup_epochs) < 0:
            raise ValueError(f"`warmup_epochs` must be >= 0; got {warmup_epochs}.")
        self.base = base
        self.num_prototypes, self.warmup_epochs, self.spd_weight = tuple(sizes), int(warmup_epochs), float(spd_weight)
        from keras_hier.models.ssl import MoCoV3, SwAV

        if head_layers is None:
            head_layers = 5 if isinstance(base, MoCoV3) else 2
        if reassign_each_step is None:
            reassign_each_step = isinstance(base, SwAV)
        self.head_layers, self.kmeans_iterations, self.kmeans_init = int(head_layers), int(kmeans_iterations), \
            kmeans_init
        self.reassign_each_step = bool(reassign_each_step)
        if int(kmeans_restarts) < 1:
            raise ValueError(f"`kmeans_restarts` must be at least 1; got {kmeans_restarts}.")
        self.kmeans_restarts = int(kmeans_restarts)
        self.cluster_batch_size, self.seed = int(cluster_batch_size), seed
        dim = base.embedding_dim
        self.heads = [ProjectionHead(dim, num_layers=self.head_layers, name=f"level_{level + 1}_head")
                      for level in range(len(sizes))]
        for head in self.heads:
            head.build((None, dim))
        self.spd = SemanticPathDiscrimination(num_negative_paths, seed=seed)
        self.spd.build_prototypes(sizes, dim)
        self.trackers = [keras.metrics.Mean(name=n) for n in ("loss", "ssl_loss", "spd_loss")]
        self._features_fn = None
        # Training state, not weights (`reassign_each_step` writes the assignments in the train step: every replica
        # writes the same gathered rows). Set last, so its generator keeps its place in the saved training state.
        self.clustering_state = _ClusteringState(self.spd, name="clustering_state")
        self.built = True

    @property
    def encoder(self):
        """The feature extractor (the base method's encoder), what downstream tasks use."""
        return self.base.encoder

    @property
    def num_negative_paths(self):
        """Negative paths per image in L_SPD."""
        return self.spd.num_negative_paths

    def call(self, images, training=False):
        return self.base(images, training=training)

    def export(self, filepath, format="tf_saved_model", verbose=True, version=None, **kwargs):
        """Exports the encoder as the base method does (uint8 `images` -> `features`; see
        `SelfSupervisedModel.export`); the heads are dropped, as HIRL does."""
        return self.base.export(filepath, format=format, verbose=verbose, version=version, **kwargs)

    def level_embeddings(self, images, training=False):
        """The per-level embeddings z_l = h_l(z_0) of `images` [batch, L, d] (unit vectors, float32), z_0 the base's
        raw projection (`base.project`)."""
        z0 = self.base.project(images, training=training)
        return ops.cast(ops.stack([head(z0, training=training) for head in self.heads], axis=1), "float32")

    # Clustering ---------------------------------------------------------------------------------------------

    def cluster_features(self, data, verbose=1):
        """`base.cluster_features` of every image of `data` (an array, or a `tf.data.Dataset` of image batches or
        `(images, index)` batches, placed by index), as a float32 array [N, d]."""
        if self._features_fn is None:
            self._features_fn = self._compiled_cluster_features()
        if _is_tf_dataset(data):
            batches = data
            total = None
        else:
            data = np.asarray(data)
            if data.ndim == 3:
                data = data[..., None]
            batches = (data[i : i + self.cluster_batch_size] for i in range(0, len(data), self.cluster_batch_size))
            total = -(-len(data) // self.cluster_batch_size)
        progress = keras.utils.Progbar(total, verbose=verbose, unit_name="batch") if verbose else None
        features, indices = [], []
        for batch in batches:
            x, index, _ = keras.utils.unpack_x_y_sample_weight(batch)
            x = batch_images(x)
            if "uint8" in str(getattr(x, "dtype", "")):
                raise ValueError("Images to cluster must be floats, prepared as the training batches are "
                                 "(e.g. divided by 255).")
            features.append(np.asarray(self._features_fn(x)))
            if index is not None:
                indices.append(np.asarray(index).reshape(-1))
            if progress is not None:
                progress.add(1)
        features = np.concatenate(features)
        if indices:
            indices = np.concatenate(indices)
            if len(indices) != len(features) or not np.array_equal(np.sort(indices), np.arange(len(features))):
                raise ValueError("The `(images, index)` batches to cluster must hold every index 0..N-1 once: pass "
                                 "the whole training set, unrepeated.")
            ordered = np.zeros_like(features)
            ordered[indices] = features
            features = ordered
        return features

    def _compiled_cluster_features(self):
        """`base.cluster_features` compiled once for the backend: a `tf.function`, or under JAX a jitted function
        of the base's current variable values (so it never sees stale weights)."""
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            compiled = tf.function(self.base.cluster_features)
            return lambda x: compiled(tf.convert_to_tensor(x, tf.float32))
        if backend == "jax":
            import jax

            variables = self.base.variables

            def features(values, x):
                with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                    return self.base.cluster_features(x)

            jitted = jax.jit(features)
            return lambda x: jitted([v.value for v in variables], np.asarray(x, np.float32))
        return lambda x: self.base.cluster_features(ops.convert_to_tensor(np.asarray(x, np.float32)))

    def update_prototypes(self, data, verbose=1):
        """Embeds `data` (see `cluster_features`), runs `hierarchical_kmeans` and uses the result; returns it."""
        from keras_hier.clustering import hierarchical_kmeans

        features = self.cluster_features(data, verbose=verbose)
        clusters = hierarchical_kmeans(features, self.num_prototypes, iterations=self.kmeans_iterations,
                                       init=self.kmeans_init, seed=0 if self.seed is None else self.seed,
                                       restarts=self.kmeans_restarts,
                                       verbose=bool(verbose))
        self.set_clusters(clusters)
        return clusters

    def set_clusters(self, clusters):
        """Uses a `HierarchicalClusters` of the training set (sizes `num_prototypes`) for L_SPD."""
        sizes = tuple(len(p) for p in clusters.prototypes)
        if sizes != self.num_prototypes:
            raise ValueError(f"The clusters have {sizes} prototypes per level; this model uses {self.num_prototypes}.")
        self.spd.set_clusters(clusters)
        self.prepare_assignments(len(clusters.assignments))
        self.clustering_state.set_assignments(clusters.assignments)
        self.clustering_state.clustered.assign(1)

    def prepare_assignments(self, num_images):
        """Sizes the per-image prototype table for `num_images` training images (`fit` on an array does it before
        training; `set_clusters` when the size changes, which makes the training step trace again)."""
        state = self.clustering_state
        if tuple(state.assignments.shape) == (int(num_images),):
            return
        strategy = getattr(self, "_distribute_strategy", None) if keras.backend.backend() == "tensorflow" else None
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            state.set_assignments(np.zeros([int(num_images)], np.int32))
        if getattr(self, "train_function", None) is not None:
            self.make_train_function(force=True)  # the traced step holds the old table

    # Training -----------------------------------------------------------------------------------------------

    def fit(self, x=None, y=None, *, cluster_data=None, callbacks=None, **kwargs):
        """`keras.Model.fit`, plus the `PrototypeUpdate` callback on `cluster_data` (default: `x` when it is an
        array, whose labels then default to the image indices)."""
        callbacks = list(callbacks or [])
        for data in (x, cluster_data):
            if isinstance(data, np.ndarray) and data.dtype == np.uint8:
                raise ValueError("HIRL trains on float images (e.g. uint8 images divided by 255); got uint8.")
        if isinstance(x, np.ndarray):
            if y is None:
                y = np.arange(len(x))
            if cluster_data is None:
                cluster_data = x
            self.prepare_assignments(len(x))
        elif isinstance(cluster_data, np.ndarray):  # sized before the step is traced: no second trace after warm-up
            self.prepare_assignments(len(cluster_data))
        if cluster_data is not None:
            verbose = kwargs.get("verbose", "auto")
            callbacks.append(PrototypeUpdate(cluster_data, verbose=1 if verbose == "auto" else verbose))
        if kwargs.get("epochs", 1) > self.warmup_epochs and not any(isinstance(c, PrototypeUpdate) for c in callbacks):
            raise ValueError("HIRL re-clusters the training set after its warm-up: pass `cluster_data` (the training "
                             "images in index order, without augmentation) or a `PrototypeUpdate` callback.")
        return super().fit(x, y, callbacks=callbacks, **kwargs)

    def _spd_loss(self, index):
        state = self.clustering_state

        def loss(embedding, views):
            z = ops.stack([head(embedding, training=True) for head in self.heads], axis=1)
            rows = ops.cast(ops.reshape(index, (-1,)), "int32")
            reassigned = self._reassign(rows, views[1]) if self.reassign_each_step else None

            positive = ops.take(state.assignments, state.rows_in_range(rows)) if reassigned is None else reassigned
            positive = ops.cast(positive, "int32")
            # The negatives are drawn outside the conditional (a random draw inside a branch cannot update its
            # generator under JAX); the paths are scored only once there are prototypes.
            negatives = self.spd.negative_prototypes(positive)
            value = ops.cond(state.clustered > 0, lambda: safe_mean(self.spd.path_loss(positive, negatives, z)),
                             lambda: ops.convert_to_tensor(0.0, "float32"))
            return self.spd_weight * value

        return loss

    def _reassign(self, rows, view):
        """Moves the images `rows` to the level-0 prototype nearest to `view`'s cluster features (once there are
        prototypes) and returns those prototypes. The collectives and the write stay outside any conditional (a
        strategy cannot synchronise inside one): every replica writes the same rows of the global batch."""
        nearest = self.spd.nearest_prototypes(self.base.cluster_features(view))
        every_row, _ = all_gather(rows)
        every_nearest, _ = all_gather(nearest)
        state = self.clustering_state
        current = ops.convert_to_tensor(state.assignments)
        moved = ops.scatter_update(current, state.rows_in_range(every_row)[:, None], ops.cast(every_nearest, "int32"))
        state.assignments.assign(ops.where(state.clustered > 0, moved, current))
        return nearest

    def _head_variables(self):
        return [v for head in self.heads for v in head.trainable_variables]

    def _optimized_variables(self):
        # `compile` builds the optimizer on the base's online variables, then the heads' (the order of `fit_step`).
        return list(self.base.online_variables) + self._head_variables()

    def _state_objects(self):
        return [*super()._state_objects(), self.spd]  # L_SPD's negative sampling

    def train_step(self, *args):
        state, data = args if keras.backend.backend() == "jax" else (None, args[0])
        x, index, _ = keras.utils.unpack_x_y_sample_weight(data)
        if index is None:
            raise ValueError("HIRL's batches must be (images, index), the index of each image in the training set: "
                             "fit on an array, or use make_dataset(images, numpy.arange(len(images)), ...).")
        if state is not None:  # Keras' JAX trainer: train_step(state, data) -> (logs, state)
            return self.base.stateless_fit_step(self, state, batch_images(x), self._track,
                                                extra_loss=self._spd_loss(index),
                                                extra_variables=self._head_variables())
        return self._track(self.base.fit_step(batch_images(x), self.optimizer, extra_loss=self._spd_loss(index),
                                              extra_variables=self._head_variables()))

    def _track(self, aux):
        ssl_loss, spd_loss, _ = aux
        for tracker, value in zip(self.trackers, (ssl_loss + spd_loss, ssl_loss, spd_loss)):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}

    @property
    def metrics(self):
        return list(self.trackers)

    def get_config(self):
        return {**super().get_config(), "base": keras.saving.serialize_keras_object(self.base),
                "num_prototypes": list(self.num_prototypes), "num_negative_paths": self.num_negative_paths,
                "warmup_epochs": self.warmup_epochs, "spd_weight": self.spd_weight, "head_layers": self.head_layers,
                "kmeans_iterations": self.kmeans_iterations, "kmeans_init": self.kmeans_init,
                "kmeans_restarts": self.kmeans_restarts,
                "cluster_batch_size": self.cluster_batch_size, "reassign_each_step": self.reassign_each_step,
                "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["base"] = keras.saving.deserialize_keras_object(config["base"])
        return cls(**config)
