"""Spherical and hierarchical K-means (HIRL's Alg. 1), in chunks that bound memory: compiled TensorFlow functions
under Keras' TensorFlow backend, the same algorithm in NumPy under the others (a JAX process needs no TensorFlow;
the random draws differ, so the two give other, equally good clusterings for one seed)."""

import dataclasses
import functools

import numpy as np

INITS = ("kmeans++", "random")
# k-means++ seeding of n points into k clusters runs under XLA from n * k on (see `_graph_functions`).
_XLA_MIN_WORK = 10_000_000


def _normalize(x):
    import tensorflow as tf

    return tf.math.l2_normalize(tf.cast(x, tf.float32), axis=1)


@functools.lru_cache(maxsize=None)
def _graph_functions():
    """The compiled steps of `spherical_kmeans` (made once, on first use, so that importing needs no TensorFlow)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def nearest(chunks, centroids):
        """(index, cosine) of the nearest centroid of every row of chunks [m, chunk, d], one chunk at a time."""

        def score(rows):
            s = tf.matmul(rows, centroids, transpose_b=True)
            return tf.argmax(s, axis=1, output_type=tf.int32), tf.reduce_max(s, axis=1)

        idx, sim = tf.map_fn(score, chunks, fn_output_signature=(tf.int32, tf.float32), parallel_iterations=1)
        return tf.reshape(idx, [-1]), tf.reshape(sim, [-1])

    @tf.function(reduce_retracing=True)
    def lloyd_step(x, chunks, centroids):
        """One Lloyd iteration: assignments, their cosines, and per-cluster sums and counts."""
        n, k = tf.shape(x)[0], tf.shape(centroids)[0]
        idx, sim = nearest(chunks, centroids)
        idx, sim = idx[:n], sim[:n]
        sums = tf.math.unsorted_segment_sum(x, idx, k)
        counts = tf.math.unsorted_segment_sum(tf.ones([n]), idx, k)
        return idx, sim, sums, counts

    def kmeans_plus_plus(x, k, seed):
        """k-means++ seeding with the cosine distance 1 - <x, c>: k row indices of x (a loop of k matrix-vector
        products and draws)."""
        n = tf.shape(x)[0]
        first = tf.random.stateless_uniform([], seed, 0, n, dtype=tf.int32)
        chosen = tf.TensorArray(tf.int32, size=k).write(0, first)
        closest = tf.maximum(1.0 - tf.linalg.matvec(x, x[first]), 0.0)
        for i in tf.range(1, k):
            # Draw a row with probability proportional to its distance (the last row when all are 0).
            cumulative = tf.cumsum(closest)
            u = tf.random.stateless_uniform([1], seed + tf.stack([i, 0])) * cumulative[-1]
            pick = tf.minimum(tf.searchsorted(cumulative, u, side="right", out_type=tf.int32)[0], n - 1)
            chosen = chosen.write(i, pick)
            closest = tf.minimum(closest, tf.maximum(1.0 - tf.linalg.matvec(x, x[pick]), 0.0))
        return chosen.stack()

    # XLA fuses the loop (about 1.5x faster at n = 50,000, k = 2,000 on 2 cores) but compiles for each shape, 1-2 s
    # that small problems do not win back: `_init` picks by size (`_XLA_MIN_WORK`).
    seeding = (tf.function(kmeans_plus_plus, reduce_retracing=True),
               tf.function(kmeans_plus_plus, jit_compile=True, reduce_retracing=True))
    return nearest, lloyd_step, seeding


def _chunks(x, chunk_size):
    """x [n, d] zero-padded and reshaped to [m, chunk, d]."""
    import tensorflow as tf

    n = int(x.shape[0])
    size = min(chunk_size, n)
    pad = -n % size
    return tf.reshape(tf.pad(x, [[0, pad], [0, 0]]), [-1, size, int(x.shape[1])])


def _best(x, centroids, chunk_size):
    """(index, cosine) of the nearest centroid of every row of x, `chunk_size` rows at a time."""
    nearest = _graph_functions()[0]
    idx, sim = nearest(_chunks(x, chunk_size), centroids)
    n = int(x.shape[0])
    return idx[:n], sim[:n]


def _init(x, k, init, rng):
    import tensorflow as tf

    n = int(x.shape[0])
    if init == "random":
        return tf.gather(x, rng.choice(n, size=k, replace=False))
    seed = tf.constant(rng.integers(0, 2**31 - 1, size=2), tf.int32)
    seeding = _graph_functions()[2][int(n * k >= _XLA_MIN_WORK)]
    return tf.gather(x, seeding(x, tf.constant(k, tf.int32), seed))


def spherical_kmeans(x, k, iterations=20, init="kmeans++", seed=0, chunk_size=8192, restarts=1):
    """K-means on the unit sphere: points and centroids L2-normalised, assignment by the largest cosine.

    An emptied cluster takes the point that its current centroid explains worst, so all k stay in use. With
    `restarts > 1` it runs from that many seedings (one after another, drawn in turn from `seed`) and keeps the
    clustering with the best objective, the sum over points of the cosine to their centroid, as faiss' `nredo`
    (HIRL's reference code: 5). `restarts=1` gives the same result as before restarts existed.

    Args:
        x: float array [n, d] (normalised here).
        k: the number of clusters (at most n).
        iterations: Lloyd iterations.
        init: `"kmeans++"` (cosine-distance seeding) or `"random"` (k distinct points).
        seed: seed of the initialisation.
        chunk_size: rows scored against the centroids at a time (memory ~ chunk_size x k floats).
        restarts: seedings tried; the best objective wins.

    Returns:
        `(centroids float32 [k, d] unit vectors, assignments int32 [n])`.

    Example:
    >>> x = np.array([[1, 0.1], [1, -0.1], [-1, 0.1], [-1, -0.1]], "float32")
    >>> centroids, labels = spherical_kmeans(x, 2, seed=0)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """
    if init not in INITS:
        raise ValueError(f"Unknown `init` {init!r}: use one of {INITS}.")
    if int(restarts) < 1:
        raise ValueError(f"`restarts` must be at least 1; got {restarts}.")
    import keras

    n = int(np.shape(x)[0])
    if not 1 <= k <= n:
        raise ValueError(f"Cannot make {k} clusters of {n} points: need 1 <= k <= n.")
    rng = np.random.default_rng(seed)
    if keras.backend.backend() != "tensorflow":
        x = _unit(x)
        best = None
        for _ in range(int(restarts)):
            run = _lloyd_numpy(x, _init_numpy(x, k, init, rng), iterations, chunk_size)
            if best is None or run[2] > best[2]:
                best = run
        return best[0], best[1]
    x = _normalize(x)
    chunks = _chunks(x, chunk_size)
    best = None
    for _ in range(int(restarts)):
        centroids, assign, objective = _lloyd(x, chunks, _init(x, k, init, rng), iterations, chunk_size)
        if best is None or objective > best[2]:
            best = (centroids, assign, objective)
    return best[0].numpy(), best[1].numpy()


def kmeans_objective(x, centroids):
    """The spherical K-means objective of `centroids` [k, d] on the points `x` [n, d] (both normalised here): the
    sum over points of the cosine to the nearest centroid (n at most; higher is better).

    Example:
    >>> x = np.array([[1, 0], [0, 1]], "float32")
    >>> round(kmeans_objective(x, np.array([[1, 1]], "float32")), 4)  # two points at 45 degrees
    1.4142
    """
    x, centroids = _unit(x), _unit(centroids)
    return float((x @ centroids.T).max(axis=1).sum())


def _unit(x):
    """x [n, d] as float32 rows of unit length (NumPy)."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _nearest_numpy(x, centroids, chunk_size):
    """(index int32, cosine float32) of the nearest centroid of every row of x, `chunk_size` rows at a time."""
    idx, sim = np.empty(len(x), np.int32), np.empty(len(x), np.float32)
    for start in range(0, len(x), chunk_size):
        scores = x[start : start + chunk_size] @ centroids.T
        idx[start : start + chunk_size] = scores.argmax(axis=1)
        sim[start : start + chunk_size] = scores.max(axis=1)
    return idx, sim


def _init_numpy(x, k, init, rng):
    """k initial centroids: k distinct rows (`"random"`) or k-means++ seeding with the cosine distance."""
    n = len(x)
    if init == "random":
        return x[rng.choice(n, size=k, replace=False)]
    chosen = [int(rng.integers(n))]
    closest = np.maximum(1.0 - x @ x[chosen[0]], 0.0)
    for _ in range(1, k):
        cumulative = np.cumsum(closest, dtype=np.float64)
        # A row with probability proportional to its distance (the last row when all are 0).
        pick = min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), n - 1)
        chosen.append(pick)
        closest = np.minimum(closest, np.maximum(1.0 - x @ x[pick], 0.0))
    return x[chosen]


def _lloyd_numpy(x, centroids, iterations, chunk_size):
    """`_lloyd` in NumPy: `(centroids, assignments, objective)`."""
    k = len(centroids)
    assign = None
    for _ in range(iterations):
        new, sim = _nearest_numpy(x, centroids, chunk_size)
        sums = np.zeros((k, x.shape[1]), np.float32)
        np.add.at(sums, new, x)
        empty = np.flatnonzero(np.bincount(new, minlength=k) == 0)
        if len(empty):  # re-seed with the worst-explained points
            worst = np.argsort(sim)[: len(empty)]
            sums[empty] = x[worst]
            new[worst] = empty
        centroids = _unit(sums)
        if assign is not None and not len(empty) and np.array_equal(new, assign):
            break
        assign = new
    assign, sim = _nearest_numpy(x, centroids, chunk_size)
    return centroids, assign, float(sim.sum(dtype=np.float64))


def _lloyd(x, chunks, centroids, iterations, chunk_size):
    """Lloyd iterations from `centroids`: `(centroids, assignments, objective)`."""
    import tensorflow as tf

    lloyd_step = _graph_functions()[1]
    assign = None
    for _ in range(iterations):
        new, sim, sums, counts = lloyd_step(x, chunks, centroids)
        counts = counts.numpy()
        empty = np.flatnonzero(counts == 0)
        if len(empty):  # re-seed with the worst-explained points
            worst = np.argsort(sim.numpy())[: len(empty)]
            sums = tf.tensor_scatter_nd_update(sums, empty[:, None], tf.gather(x, worst))
            new = tf.tensor_scatter_nd_update(new, worst[:, None], tf.constant(empty, tf.int32))
        centroids = _normalize(sums)
        if assign is not None and not len(empty) and bool(tf.reduce_all(tf.equal(new, assign))):
            break
        assign = new
    assign, sim = _best(x, centroids, chunk_size)
    return centroids, assign, float(tf.reduce_sum(sim))


@dataclasses.dataclass(frozen=True)
class HierarchicalClusters:
    """The result of `hierarchical_kmeans`.

    Attributes:
        prototypes: list of float32 arrays [K_l, d], level 0 (finest) first, unit vectors.
        assignments: int array [n], each sample's level-0 prototype.
        parents: list of int arrays; `parents[l][i]` is the level-(l+1) prototype above level-l prototype i.
    """

    prototypes: list
    assignments: np.ndarray
    parents: list

    @property
    def num_levels(self):
        """The number of levels L."""
        return len(self.prototypes)

    def paths(self):
        """int array [K_0, L]: each level-0 prototype's prototype at every level (its path up the tree)."""
        path = [np.arange(len(self.prototypes[0]))]
        for up in self.parents:
            path.append(up[path[-1]])
        return np.stack(path, axis=1)

    def sample_assignments(self, level):
        """Each sample's prototype at `level`."""
        return self.paths()[self.assignments, level]

    def to_hierarchy(self):
        """A `keras_hier.Hierarchy`: leaves are the level-0 prototypes ("L0_i"), internal nodes "L<l>_j", under
        a root."""
        from keras_hier.hierarchy import Hierarchy

        parents = {}
        for level, up in enumerate(self.parents):
            for i, p in enumerate(up):
                parents[f"L{level}_{i}"] = f"L{level + 1}_{int(p)}"
        top = self.num_levels - 1
        for j in range(len(self.prototypes[top])):
            parents.setdefault(f"L{top}_{j}", "root")
        # Every coarse prototype has children: spherical_kmeans never leaves a cluster empty.
        return Hierarchy(parents, leaves=[f"L0_{i}" for i in range(len(self.prototypes[0]))])


def hierarchical_kmeans(features, num_prototypes, iterations=20, init="kmeans++", seed=0, chunk_size=8192,
                        verbose=True, restarts=1):
    """HIRL's Algorithm 1: spherical K-means on the features, then on the level-l prototypes for level l+1.

    Args:
        features: float array [n, d] (e.g. an encoder's embeddings of the whole training set).
        num_prototypes: prototypes per level, finest first, decreasing, e.g. (30000, 10000, 1000).
        iterations, init, seed, chunk_size: as `spherical_kmeans` (level l uses seed + l).
        restarts: seedings per level, the best objective kept (`spherical_kmeans`; HIRL's reference: 5).
        verbose: show a progress bar over the levels.

    Returns:
        A `HierarchicalClusters` (prototypes per level, each sample's level-0 prototype, the parent of every
        prototype; `.to_hierarchy()`).

    Example:
    >>> rng = np.random.default_rng(0)
    >>> result = hierarchical_kmeans(rng.normal(size=(200, 8)), (20, 5), verbose=False)
    >>> [p.shape for p in result.prototypes], result.parents[0].shape
    ([(20, 8), (5, 8)], (20,))
    """
    from tqdm.auto import tqdm

    sizes = [int(k) for k in num_prototypes]
    if not sizes or any(a < b for a, b in zip(sizes, sizes[1:])) or min(sizes) < 1:
        raise ValueError(f"`num_prototypes` must be positive and not increasing, finest first; got {sizes}.")
    points = np.asarray(features, np.float32)
    if points.ndim != 2 or len(points) < sizes[0]:
        raise ValueError(f"Need features [n, d] with n >= {sizes[0]}; got {points.shape}.")
    prototypes, parents, assignments = [], [], None
    for level, k in enumerate(tqdm(sizes, desc="hierarchical K-means", unit="level", disable=not verbose)):
        centroids, assign = spherical_kmeans(points, k, iterations, init, seed + level, chunk_size, restarts)
        if level == 0:
            assignments = assign.astype(np.int64)
        else:
            parents.append(assign.astype(np.int64))
        prototypes.append(centroids)
        points = centroids
    return HierarchicalClusters(prototypes, assignments, parents)
