"""`SemanticPathDiscrimination`: HIRL's loss that pulls an image's per-level embeddings to its path of hierarchical
prototypes and pushes them from other paths."""

import keras
import numpy as np
from keras import ops

_EPS = 1e-6


@keras.saving.register_keras_serializable(package="keras_hier")
class SemanticPathDiscrimination(keras.losses.Loss):
    """-[log s(z, P+) + mean_k log(1 - s(z, P-_k))] with s(z, P) = prod_l (1 + cos(z_l, c_l)) / 2.

    `y_pred` holds an image's embeddings at every level, [batch, L, d] (the projection heads' outputs); `y_true`
    its level-0 prototype (from `hierarchical_kmeans`), [batch]. The positive path P+ runs from that prototype up
    the tree; `num_negative_paths` negative paths start at level-0 prototypes drawn uniformly among the others and
    follow the tree up. Prototypes come from `set_clusters(clusters)` (a `HierarchicalClusters`, refreshed each
    epoch by HIRL) and get no gradient. Float32; the logs are clipped at 1e-6, so the loss is never NaN or inf.
    (The official code halves the sum, the same as a loss weight of 0.5.)

    Args:
        num_negative_paths: negative paths per image (the paper: 1000 for CNNs).
        seed: seed of the negative sampling.

    Example:
    >>> from keras_hier.clustering import hierarchical_kmeans
    >>> clusters = hierarchical_kmeans(np.random.default_rng(0).normal(size=(50, 4)), (6, 2), verbose=False)
    >>> loss = SemanticPathDiscrimination(num_negative_paths=8, seed=0)
    >>> loss.set_clusters(clusters)
    >>> z = np.stack([clusters.prototypes[0][clusters.assignments[:3]],
    ...               clusters.prototypes[1][clusters.sample_assignments(1)[:3]]], axis=1)
    >>> bool(np.isfinite(float(loss(clusters.assignments[:3], z))))
    True
    """

    def __init__(self, num_negative_paths=1000, seed=None, name="semantic_path_discrimination", **kwargs):
        super().__init__(name=name, **kwargs)
        if int(num_negative_paths) < 1:
            raise ValueError(f"`num_negative_paths` must be positive; got {num_negative_paths}.")
        self.num_negative_paths = int(num_negative_paths)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._prototypes = None  # one variable per level [K_l, d]
        self._paths = None  # [K_0, L]: each level-0 prototype's prototype index at every level

    def build_prototypes(self, num_prototypes, dim):
        """Makes zero prototypes of the given sizes (finest first) for `set_clusters` to fill: a model traced before
        its first clustering (HIRL's warm-up) then already holds the variables."""
        if self._prototypes is not None:
            raise ValueError("The prototypes exist already.")
        sizes = [int(k) for k in num_prototypes]
        self._prototypes = [keras.Variable(np.zeros((k, int(dim)), np.float32), trainable=False,
                                           name=f"prototypes_{level}") for level, k in enumerate(sizes)]
        self._paths = keras.Variable(np.zeros((sizes[0], len(sizes)), np.int32), trainable=False, dtype="int32",
                                     name="paths")

    def set_clusters(self, clusters):
        """Uses the prototypes and tree of a `HierarchicalClusters` (same sizes on every later call)."""
        paths = np.asarray(clusters.paths(), np.int32)
        if self._prototypes is None:
            self.build_prototypes([len(p) for p in clusters.prototypes], np.shape(clusters.prototypes[0])[1])
        sizes = [tuple(v.shape) for v in self._prototypes]
        if sizes != [tuple(np.shape(p)) for p in clusters.prototypes]:
            raise ValueError(f"New clusters have other sizes than {sizes}: make a new loss for them.")
        for v, p in zip(self._prototypes, clusters.prototypes):
            v.assign(np.asarray(p, np.float32))
        self._paths.assign(paths)

    def nearest_prototypes(self, features):
        """The level-0 prototype nearest (largest inner product) to each of `features` [batch, d], int32 [batch]."""
        self._check_prototypes()
        scores = ops.matmul(ops.cast(features, "float32"), ops.transpose(self._prototypes[0]))
        return ops.cast(ops.argmax(scores, axis=-1), "int32")

    def negative_prototypes(self, positive):
        """`num_negative_paths` level-0 prototypes per image, uniform among those other than `positive` [batch]."""
        num_bottom = int(self._paths.shape[0])
        draws = keras.random.randint((ops.shape(positive)[0], self.num_negative_paths), 0, max(num_bottom - 1, 1),
                                     seed=self.seed_generator, dtype="int32")
        shifted = draws + ops.cast(draws >= ops.cast(positive, "int32")[:, None], "int32")  # skip the positive
        return ops.minimum(shifted, num_bottom - 1)

    def path_similarity(self, z, paths):
        """s(z, P) for embeddings z [batch, L, d] and paths [batch, ..., L] of prototype indices: [batch, ...]."""
        z = ops.normalize(ops.cast(z, "float32"), axis=-1)
        batch = ops.shape(paths)[0]
        flat = ops.reshape(paths, (batch, -1, len(self._prototypes)))  # [batch, P, L]
        s = 1.0
        for level, prototypes in enumerate(self._prototypes):
            # Cosines with all of the level's prototypes, then the path's: cheaper than gathering a d-vector per
            # path and image when there are many paths.
            cosines = ops.matmul(z[:, level], ops.transpose(prototypes))  # [batch, K_l]
            s = s * (1.0 + ops.take_along_axis(cosines, flat[..., level], axis=1)) / 2.0
        return ops.reshape(s, ops.shape(paths)[:-1])

    def call(self, y_true, y_pred):
        self._check_prototypes()
        positive = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        return self.path_loss(positive, self.negative_prototypes(positive), y_pred)

    def _check_prototypes(self):
        if self._prototypes is None:
            raise ValueError("No prototypes yet: call `set_clusters(hierarchical_kmeans(...))` first.")

    def path_loss(self, positive, negatives, y_pred):
        """The loss of each image [batch] given its positive level-0 prototypes [batch] and drawn negatives
        [batch, num_negative_paths] (`negative_prototypes`): `call` without the draw, for callers that draw outside
        a conditional (a random draw inside one cannot update its generator under JAX)."""
        self._check_prototypes()
        if len(y_pred.shape) != 3 or y_pred.shape[1] != len(self._prototypes):
            raise ValueError(f"Expected embeddings [batch, {len(self._prototypes)}, d] (one per level); got "
                             f"{tuple(y_pred.shape)}.")
        y_pred = ops.cast(y_pred, "float32")  # the loss in float32 under mixed precision
        num_bottom = int(self._paths.shape[0])
        pos_paths = ops.take(self._paths, positive, axis=0)  # [batch, L]
        neg_paths = ops.take(self._paths, negatives, axis=0)  # [batch, N, L]
        s_pos = self.path_similarity(y_pred, pos_paths)
        s_neg = self.path_similarity(y_pred, neg_paths)
        pos_term = -ops.log(ops.clip(s_pos, _EPS, 1.0))
        neg_term = -ops.mean(ops.log(ops.clip(1.0 - s_neg, _EPS, 1.0)), axis=-1)
        if num_bottom == 1:  # no other path to contrast with
            neg_term = ops.zeros_like(neg_term)
        return pos_term + neg_term

    def get_config(self):
        return {**super().get_config(), "num_negative_paths": self.num_negative_paths, "seed": self.seed}
