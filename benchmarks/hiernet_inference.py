"""HierNet inference and training cost relative to its backbone: `python -m benchmarks.hiernet_inference`.

Builds a CIFAR ResNet and a HierNet cut from it (the paper's split point and extra classifier blocks for n) over a
tree of `--groups` groups, then measures, in one process and at the same batch size: images per second of the
backbone, the slow HierNet (every branch) and the routing model (one route per image), and the time of one
training step of the backbone and of the HierNet. Prints a table of ratios to the backbone.
"""

import argparse

import numpy as np

from benchmarks._timing import median_seconds


def throughput(fn, batch, repeats):
    return len(batch) / median_seconds(lambda: fn(batch), repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hiernet_inference", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--groups", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--input-shape", default="32,32,1")
    parser.add_argument("--split-point", type=int, default=None, help="residual blocks in the trunk (paper value)")
    parser.add_argument("--classifier-layers", type=int, default=None,
                        help="extra classifier blocks, HierNet.from_backbone's classifier_layers (paper value)")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from keras_hier import HierNet, Hierarchy
    from keras_hier.backbones import resnet_cifar
    from recipes.hiernet import PAPER

    keras.utils.set_random_seed(0)
    shape = tuple(int(v) for v in args.input_shape.split(","))
    names = [f"c{i}" for i in range(args.classes)]
    tree = Hierarchy.from_parents({n: f"g{i % args.groups}" for i, n in enumerate(names)}, leaves=names, root="root")
    backbone = resnet_cifar(args.n, args.classes, input_shape=shape)
    split = PAPER["relu"]["split"][args.n] if args.split_point is None else args.split_point
    extra = PAPER["relu"]["classifier_layers"][args.n] if args.classifier_layers is None else args.classifier_layers
    hiernet = HierNet.from_backbone(backbone, tree, split_points=[split], classifier_layers=extra)
    router = hiernet.routing_model()
    x = np.random.default_rng(0).random((args.batch, *shape)).astype("float32")
    y = np.arange(args.batch) % args.classes

    # XLA where shapes are static (as Keras' predict does); the routing model's partitions change size per batch.
    rates = {
        "backbone (XLA)": throughput(tf.function(lambda b: backbone(b, training=False), jit_compile=True), x, args.repeats),
        "backbone (no XLA)": throughput(tf.function(lambda b: backbone(b, training=False)), x, args.repeats),
        "HierNet slow (XLA)": throughput(tf.function(lambda b: hiernet(b, training=False), jit_compile=True), x, args.repeats),
        "HierNet fast (routing)": throughput(tf.function(lambda b: router(b, training=False)), x, args.repeats),
    }
    for model in (backbone, hiernet):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    steps = {}
    for name, model in (("backbone", backbone), ("HierNet", hiernet)):
        steps[name] = median_seconds(lambda: model.train_on_batch(x, y), args.repeats)  # noqa: B023 (called at once)

    print(f"ResNet-{6 * args.n + 2} split after block {split}, {extra} extra classifier blocks, "
          f"{args.classes} classes in {args.groups} groups, batch {args.batch}, input {shape}, "
          f"devices: {[d.device_type for d in tf.config.list_logical_devices()]}")
    print(f"{'inference (ratio to backbone XLA)':<34}{'images/s':>10}{'ratio':>8}")
    for name, r in rates.items():
        print(f"{name:<34}{r:>10.0f}{r / rates['backbone (XLA)']:>8.2f}")
    print(f"{'training step (ratio to backbone)':<34}{'s/step':>10}{'ratio':>8}")
    for name, s in steps.items():
        print(f"{name:<34}{s:>10.3f}{s / steps['backbone']:>8.2f}")
    ratios = {f"{name} / backbone (XLA) images/s": r / rates["backbone (XLA)"] for name, r in rates.items()
              if name != "backbone (XLA)"}
    ratios["HierNet / backbone training step time"] = steps["HierNet"] / steps["backbone"]
    return ratios


if __name__ == "__main__":
    main()
