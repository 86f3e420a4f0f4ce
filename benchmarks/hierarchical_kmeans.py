"""`hierarchical_kmeans` against faiss and scikit-learn, and HIRL's per-epoch overhead:
`python -m benchmarks.hierarchical_kmeans`.

Part 1 clusters 60,000 x 128 features (Fashion-MNIST's training images under a fixed random projection to 128
dimensions, L2-normalised; `--data blobs` for Gaussian blobs) into (1000, 300, 30) prototypes, HIRL's Algorithm 1,
with keras_hier's `hierarchical_kmeans` (k-means++ and random seeding), faiss-cpu's spherical `Kmeans` (random
seeding, `pip install faiss-cpu`, benchmark only) and scikit-learn's `MiniBatchKMeans`, each level on the
normalised prototypes of the level below, 20 iterations each, all in one process. It prints the median time of
`--repeats` runs (after a warm-up run), the ratio to faiss, and the objective each reaches at every level: the
mean cosine between a point and its nearest prototype (higher is better).

Part 2 times an epoch of each base method of `--bases` (default MoCo v2; any of `recipes.hirl`'s: `moco_v2`,
`simsiam`, `swav`, `moco_v3`, `dino`, `ibot`, `simclr`) and of HIRL on it (the same model plus L_SPD and re-clustering
the training set at the start of the epoch) on `--epoch-images` Fashion-MNIST images, each built as the recipe builds
it (its encoder, heads sized by `--hidden-units`, views and optimizer) with the paper's negative paths (1000 for the
CNN bases, 100 for the ViT ones), and prints their ratio (the median of epochs 3 to 5, after tracing and HIRL's first
clustering; the two models' epochs interleaved, so that the machine's slower spells fall on both). The paper's Tab. 6 reports HIRL costing +28 % to +74 % per epoch on ImageNet.
"""

import argparse
import functools
import statistics
import time

import numpy as np


def features(data, n, dim, seed=0):
    rng = np.random.default_rng(seed)
    if data == "blobs":
        centres = rng.normal(size=(2000, dim))
        x = centres[rng.integers(2000, size=n)] + 0.8 * rng.normal(size=(n, dim))
    else:
        from keras_hier.datasets import fashion_mnist

        (images, _), _ = fashion_mnist.load_data()
        pixels = images[:n].reshape(len(images[:n]), -1).astype(np.float32) / 255.0
        x = (pixels - pixels.mean(0)) @ rng.normal(size=(pixels.shape[1], dim))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def objective(points, prototypes):
    """Mean cosine between each point and its nearest (normalised) prototype."""
    c = prototypes / np.linalg.norm(prototypes, axis=1, keepdims=True)
    best = [(points[i : i + 8192] @ c.T).max(1) for i in range(0, len(points), 8192)]
    return float(np.concatenate(best).mean())


def levels(fit_level, x, sizes):
    """Algorithm 1 with `fit_level(points, k, level) -> centroids`: the normalised prototypes of each level."""
    out, points = [], x
    for level, k in enumerate(sizes):
        c = np.asarray(fit_level(points, k, level), np.float32)
        points = c / np.linalg.norm(c, axis=1, keepdims=True)
        out.append(points)
    return out


def methods(iterations):
    from keras_hier.clustering import hierarchical_kmeans

    def ours(init):
        return lambda x, sizes: hierarchical_kmeans(x, sizes, iterations=iterations, init=init, verbose=False).prototypes

    found = {"keras_hier k-means++": ours("kmeans++"), "keras_hier random": ours("random")}
    try:
        import faiss

        def faiss_level(points, k, level):
            km = faiss.Kmeans(points.shape[1], k, niter=iterations, seed=level, spherical=True, verbose=False,
                              max_points_per_centroid=len(points), min_points_per_centroid=1)
            km.train(np.ascontiguousarray(points))
            return km.centroids

        found["faiss-cpu"] = lambda x, sizes: levels(faiss_level, x, sizes)
    except ImportError:
        print("faiss is not installed (pip install faiss-cpu): no faiss baseline.")
    from sklearn.cluster import MiniBatchKMeans

    def sklearn_level(points, k, level):
        return MiniBatchKMeans(k, batch_size=4096, max_iter=iterations, n_init=1, random_state=level).fit(points) \
            .cluster_centers_

    found["sklearn MiniBatchKMeans"] = lambda x, sizes: levels(sklearn_level, x, sizes)
    return found


def clustering_part(args):
    x = features(args.data, args.num_points, args.dim)
    sizes = tuple(args.num_prototypes)
    print(f"hierarchical K-means on {x.shape[0]} x {x.shape[1]} features ({args.data}) into {sizes} prototypes, "
          f"{args.iterations} iterations per level; objective = mean cosine to the nearest prototype per level")
    results = {}
    for name, run in methods(args.iterations).items():
        prototypes = run(x, sizes)  # warm-up (tracing, compiling)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            prototypes = run(x, sizes)
            times.append(time.perf_counter() - start)
        inputs = [x] + list(prototypes[:-1])
        results[name] = (statistics.median(times), [objective(p, c) for p, c in zip(inputs, prototypes)])
    reference = results.get("faiss-cpu", next(iter(results.values())))[0]
    print(f"{'method':26s} {'seconds':>8s} {'x faiss':>8s}   objective per level")
    for name, (seconds, objectives) in results.items():
        print(f"{name:26s} {seconds:8.2f} {seconds / reference:8.2f}   " + "  ".join(f"{o:.5f}" for o in objectives))
    return {f"{name} / faiss-cpu time": seconds / reference for name, (seconds, _) in results.items()
            if name != "faiss-cpu" and "faiss-cpu" in results}


def overhead_part(args):
    import keras

    from keras_hier.datasets import fashion_mnist
    from keras_hier.models import HIRL
    from recipes import hirl as recipe

    (images, _), _ = fashion_mnist.load_data()
    x = images[: args.epoch_images, ..., None].astype(np.float32) / 255.0
    n = args.epoch_images
    sizes = (max(n // 20, 4), max(n // 100, 2), min(10, max(n // 100, 2)))  # (500, 100, 10) for 10,000 images
    epochs, per_pass = 5, max(1, len(x) // args.batch_size)

    def epoch_seconds(models, settings):
        """Median seconds of epochs 2-4 of each model, the models' epochs interleaved (so that a slower spell of
        the machine falls on both)."""
        fits = []
        for model in models:
            model.compile(optimizer=recipe.optimizer(settings, epochs * per_pass, per_pass))
            fit = model.fit if isinstance(model, HIRL) else functools.partial(keras.Model.fit, model)
            # Untimed: epoch 0 (tracing; HIRL's warm-up) and epoch 1 (HIRL's first clustering, compiling).
            fit(x, batch_size=args.batch_size, epochs=2, verbose=0)
            fits.append(fit)
        times = [[] for _ in models]
        for epoch in (2, 3, 4):
            for fit, seconds in zip(fits, times):
                start = time.perf_counter()
                fit(x, batch_size=args.batch_size, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
                seconds.append(time.perf_counter() - start)
        return [statistics.median(t) for t in times]

    ratios = {}
    for name in args.bases:
        settings = recipe.parse_args(["--base", name, "--batch-size", str(args.batch_size)]
                                     + (["--hidden-units", str(args.hidden_units)] if args.hidden_units else []))
        title = recipe.BASES[name]["title"]

        def base():
            return recipe.build_base(settings, x.shape[1:], 0, epochs * per_pass)

        negatives = args.num_negative_paths or recipe.BASES[name]["negatives"]
        seconds, hirl = epoch_seconds(
            [base(), HIRL(base(), num_prototypes=sizes, num_negative_paths=negatives, warmup_epochs=1)], settings)
        print(f"epoch on {len(x)} images, batch {args.batch_size}: {title} {seconds:.1f} s, HIRL-{title} {hirl:.1f} s "
              f"(prototypes {sizes}, {negatives} negative paths, re-clustering included): {hirl / seconds:.2f}x",
              flush=True)
        ratios[f"HIRL-{title} / {title} epoch time"] = hirl / seconds
    return ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", choices=("fashion_mnist", "blobs"), default="fashion_mnist")
    parser.add_argument("--num-points", type=int, default=60000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--num-prototypes", type=int, nargs="+", default=[1000, 300, 30])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epoch-images", type=int, default=10000, help="images of the epoch-overhead part (0: skip)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-negative-paths", type=int, default=0, help="0: the paper's for each base")
    parser.add_argument("--bases", nargs="+", default=["moco_v2"], help="base methods of the epoch-overhead part")
    parser.add_argument("--hidden-units", type=int, default=0,
                        help="the recipe's --hidden-units for the bases' heads (0: the recipe's default)")
    args = parser.parse_args(argv)
    ratios = clustering_part(args)
    if args.epoch_images:
        ratios.update(overhead_part(args))
    return ratios


if __name__ == "__main__":
    main()
