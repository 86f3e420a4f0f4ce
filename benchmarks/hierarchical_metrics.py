"""The hierarchy-aware metrics' costs: `python -m benchmarks.hierarchical_metrics`.

Part 1: `lca_distance` on ImageNet-1k's WordNet hierarchy (the DAG and its tree), both kinds, against a pair-at-a-time
baseline (each pair's common ancestors by set intersection, as one would write it; timed on `--pairs` random pairs
and extrapolated to all 1000 x 1000), with a check that the sampled values agree.

Part 2: what the streaming metrics add to an evaluation pass of the HierNet recipe's model (a HierNet cut from the
recipe's ResNet-20 on Fashion-MNIST's CPM-like tree): `model.evaluate` on `--images` test images with
`metrics=["accuracy"]` against the same with `HierarchicalF1`, `MistakeSeverity` and `HierarchicalDistanceAtK(5)`
added, both compiled in this process and timed alternately (`--repeats` each, the median), as a ratio.
"""

import argparse
import statistics
import time

import numpy as np


def pairwise_baseline(hierarchy, pairs, kind):
    """One pair at a time: the common ancestors-or-self by set intersection, then the smallest height or path."""
    from keras_hier.metrics.lca import class_ancestors, node_heights

    height = node_heights(hierarchy)
    up = class_ancestors(hierarchy)
    out = []
    for i, j in pairs:
        if i == j:
            out.append(0.0)
            continue
        common = up[i].keys() & up[j].keys()
        out.append(min(height[c] for c in common) if kind == "height" else min(up[i][c] + up[j][c] for c in common))
    return np.array(out)


def lca_part(args):
    from keras_hier import Hierarchy
    from keras_hier.knowledge import imagenet
    from keras_hier.metrics import lca_distance

    wnids = imagenet.imagenet1k_wnids()
    rng = np.random.default_rng(args.seed)
    pairs = rng.integers(0, len(wnids), size=(args.pairs, 2))
    ratios = {}
    print(f"{'hierarchy':<10} {'kind':<7} {'nodes':>6} {'lca_distance s':>15} {'pairwise s (extrap.)':>21} "
          f"{'speed-up':>9} {'max |diff|':>11}")
    for label, tree in (("DAG", False), ("tree", True)):
        hierarchy = Hierarchy.from_wordnet(wnids, tree=tree)
        for kind in ("height", "path"):
            start = time.perf_counter()
            matrix = lca_distance(hierarchy, kind)
            ours = time.perf_counter() - start
            start = time.perf_counter()
            values = pairwise_baseline(hierarchy, pairs, kind)
            theirs = (time.perf_counter() - start) / len(pairs) * len(wnids) ** 2
            error = float(np.abs(matrix[pairs[:, 0], pairs[:, 1]] - values).max())
            print(f"{label:<10} {kind:<7} {len(hierarchy):>6} {ours:>15.3f} {theirs:>21.1f} {theirs / ours:>8.0f}x "
                  f"{error:>11.1e}")
            ratios[f"lca_distance {label} {kind}: pairwise / matrix time"] = theirs / ours
            ratios[f"lca_distance {label} {kind}: seconds"] = ours
    return ratios


def evaluation_part(args):
    import keras

    from keras_hier import HierNet
    from keras_hier.backbones import resnet_cifar
    from keras_hier.datasets import fashion_mnist
    from keras_hier.datasets.pipeline import make_batches
    from keras_hier.metrics import HierarchicalDistanceAtK, HierarchicalF1, MistakeSeverity

    hierarchy = fashion_mnist.hierarchy()
    tree = type(hierarchy).from_nested({"root": {"tops": ["T-shirt/top", "Pullover", "Coat", "Shirt"],
                                                  "shoes": ["Sandal", "Sneaker", "Ankle boot"],
                                                  "rest": ["Trouser", "Dress", "Bag"]}},
                                       leaves=list(fashion_mnist.CLASS_NAMES))
    (_, _), (x, y) = fashion_mnist.load_data()
    x = np.pad(x[: args.images], ((0, 0), (2, 2), (2, 2)))[..., None]
    data = make_batches(x, y[: args.images].astype(np.int32), batch_size=256, num_classes=10)
    # The metrics measure on the semantic (WordNet) hierarchy, labels in Fashion-MNIST's order.
    runs = {
        "accuracy": ["accuracy"],
        "accuracy + hierarchical": ["accuracy", HierarchicalF1(hierarchy), MistakeSeverity(hierarchy),
                                    HierarchicalDistanceAtK(hierarchy, k=5)],
    }
    compiled = {}
    for name, metrics in runs.items():
        keras.utils.set_random_seed(0)  # the same weights for both
        model = HierNet.from_backbone(resnet_cifar(3, 10, input_shape=(32, 32, 1)), tree, split_points=[5])
        model.compile(loss="sparse_categorical_crossentropy", metrics=metrics)
        model.evaluate(data, verbose=0)  # tracing
        compiled[name] = model
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, clone in compiled.items():
            start = time.perf_counter()
            result = clone.evaluate(data, verbose=0, return_dict=True)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    ratio = median["accuracy + hierarchical"] / median["accuracy"]
    print(f"\nHierNet (ResNet-20, split 5) evaluate on {args.images} Fashion-MNIST test images, median of "
          f"{args.repeats}: accuracy only {median['accuracy']:.3f} s, with the hierarchical metrics "
          f"{median['accuracy + hierarchical']:.3f} s: ratio {ratio:.3f}")
    print("  last values: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return {"HierNet evaluate: with hierarchical metrics / accuracy only": ratio}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hierarchical_metrics",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20000, help="pairs timed one at a time (part 1)")
    parser.add_argument("--images", type=int, default=2048, help="test images per evaluation pass (part 2)")
    parser.add_argument("--repeats", type=int, default=7, help="timed passes of each evaluation (part 2)")
    parser.add_argument("--parts", default="lca,evaluation", help="which parts: lca, evaluation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    ratios = {}
    if "lca" in parts:
        ratios.update(lca_part(args))
    if "evaluation" in parts:
        ratios.update(evaluation_part(args))
    return ratios


if __name__ == "__main__":
    main()
