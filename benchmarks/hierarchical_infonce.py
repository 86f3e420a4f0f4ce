"""HGR-Net training-step cost relative to flat InfoNCE: `python -m benchmarks.hierarchical_infonce`.

Builds a synthetic hierarchy shaped like ImageNet-21K-D (12 levels below the root, 20,000 nodes, most of them
in levels 1-5, each node under a random node of the level above) and a DualEncoder over every node (a small
image tower, frozen 384-d text features, a trainable projection), then times `train_on_batch` with the flat
InfoNCE of CLIP and with HGR-Net's hierarchical InfoNCE (K 0.25, M 0.5, top-k negatives, adaptive weights),
both with compare sets of at most 256 classes, in one process. Prints the step times and their ratio.
"""

import argparse
import time

import numpy as np

from benchmarks._timing import median_seconds

# Nodes per level (level 0 = the root's children): 20,000 in all, most in levels 1-5 as in the supplement's Fig. 1.
LEVEL_SIZES = (20, 700, 2500, 4200, 4500, 3500, 2200, 1200, 650, 330, 150, 50)


def synthetic_hierarchy(level_sizes=LEVEL_SIZES, seed=0):
    """A random tree with the given number of nodes per level; each node's parent is drawn from the level above."""
    from keras_hier import Hierarchy

    rng = np.random.default_rng(seed)
    parents, above = {}, None
    for level, size in enumerate(level_sizes):
        names = [f"l{level}_{i}" for i in range(size)]
        for n in names:
            parents[n] = None if above is None else above[rng.integers(len(above))]
        above = names
    return Hierarchy.from_parents(parents, root="root")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hierarchical_infonce", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--max-classes", type=int, default=256)
    parser.add_argument("--projection-dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import keras

    from keras_hier.losses import HierarchicalInfoNCE
    from keras_hier.models import DualEncoder
    from keras_hier.node_tables import NodeTables

    t = time.perf_counter()
    hierarchy = synthetic_hierarchy()
    tables = NodeTables(hierarchy)
    print(f"hierarchy: {tables.num_nodes} nodes, {tables.num_classes} classes, {tables.num_levels} levels "
          f"({time.perf_counter() - t:.1f} s)")
    rng = np.random.default_rng(0)
    features = rng.normal(size=(tables.num_nodes, 384)).astype("float32")
    x = rng.random((args.batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, tables.num_classes, args.batch)

    times = {}
    for name, flat in (("flat InfoNCE", True), ("HGR InfoNCE", False)):
        keras.utils.set_random_seed(0)
        tower = keras.Sequential([
            keras.Input((32, 32, 3)), keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, activation="relu"), keras.layers.GlobalAveragePooling2D(),
        ])
        model = DualEncoder(tower, features, projection_dim=args.projection_dim)
        t = time.perf_counter()
        loss = HierarchicalInfoNCE(hierarchy, flat=flat, max_classes=args.max_classes, weighting="adaptive", seed=0)
        built = time.perf_counter() - t
        model.compile(optimizer=keras.optimizers.AdamW(1e-4, global_clipnorm=1.0), loss=loss)
        times[name] = median_seconds(lambda: model.train_on_batch(x, y), args.repeats)
        print(f"{name:<14} {times[name] * 1000:8.1f} ms/step (loss tables built in {built:.1f} s)")
    print(f"HGR / flat step time: {times['HGR InfoNCE'] / times['flat InfoNCE']:.2f}x "
          f"(batch {args.batch}, compare sets <= {args.max_classes}, {tables.num_nodes} class texts)")
    return {"HGR / flat InfoNCE step time": times["HGR InfoNCE"] / times["flat InfoNCE"]}


if __name__ == "__main__":
    main()
