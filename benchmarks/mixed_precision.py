"""Mixed precision vs float32 for each recipe's training step: `python -m benchmarks.mixed_precision`.

Builds each recipe's own model, loss and optimizer (the recipes' builders, one batch of random images) under the
float32 policy and under `--policy` (default mixed_float16), and times `train_on_batch` in one process: the ratio
is float32 seconds per step over mixed seconds per step (above 1: mixed precision is faster). Losses and output
probabilities stay float32 under both. On a CPU expect ratios below 1 (no fast float16 arithmetic); the speed-ups are
for GPUs (tensor cores). Every step runs under Keras' TensorFlow and JAX backends (the multi-label one needs WordNet:
NLTK).
"""

import argparse

import numpy as np

from benchmarks._timing import median_seconds

# Run sizes: the full one where float16 is fast, a small one on CPUs (float16 there is emulated and slow: the full
# size took more than 24 minutes on 2 cores).
GPU_SIZE = {"batch": 128, "repeats": 10, "warmup": 3}
CPU_SIZE = {"batch": 16, "repeats": 2, "warmup": 1}
STEPS = ("hiernet_backbone", "hiernet", "hgr", "multilabel", "long_tail", "hirl")
NAMES = [f"c{i}" for i in range(10)]


def _tree():
    from keras_hier import Hierarchy

    return Hierarchy.from_parents({n: f"g{i % 3}" for i, n in enumerate(NAMES)}, leaves=NAMES, root="root")


def _labels(batch):
    return np.arange(batch) % len(NAMES)


def hiernet_backbone(shape, batch):
    """The HierNet recipe's ResNet-20 backbone with its SGD schedule."""
    from keras_hier.backbones import resnet_cifar
    from recipes import hiernet

    model = resnet_cifar(3, len(NAMES), input_shape=shape)
    hiernet.compile_model(model, hiernet.parse_args([]), 1000)
    return model, _labels(batch)


def hiernet_step(shape, batch):
    """The HierNet recipe's tree CNN (3 groups, paper split point, 4 extra classifier blocks)."""
    from keras_hier import HierNet
    from keras_hier.backbones import resnet_cifar
    from recipes import hiernet

    backbone = resnet_cifar(3, len(NAMES), input_shape=shape)
    split = hiernet.PAPER["relu"]["split"][3]
    model = HierNet.from_backbone(backbone, _tree(), split_points=[split], classifier_layers=4)
    hiernet.compile_model(model, hiernet.parse_args([]), 1000)
    return model, _labels(batch)


def hgr_step(shape, batch):
    """The HGR-Net recipe's dual encoder (CNN image tower, 384-d class-name features) with its hierarchical InfoNCE
    loss (adaptive layer weights on their own SGD) and AdamW."""
    import keras

    from keras_hier.losses import HierarchicalInfoNCE
    from recipes import hgr_zero_shot

    args = hgr_zero_shot.parse_args(["--towers", "cnn-minilm"])
    from keras_hier.node_tables import NodeTables

    # One text feature per node below the root (the classes and their groups), as the loss scores every node.
    text = np.random.default_rng(1).normal(size=(NodeTables(_tree()).num_nodes, 384)).astype("float32")
    model = hgr_zero_shot.build_model(args, shape, None, text)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=args.weight_decay, global_clipnorm=1.0),
                  loss=HierarchicalInfoNCE(_tree(), negatives=args.negatives, weighting=args.weighting, seed=0),
                  weights_optimizer=keras.optimizers.SGD(args.weights_lr))
    return model, _labels(batch)


def multilabel_step(shape, batch):
    """The multi-label recipe's RGCN + PosVAE over the Fashion-MNIST mosaic class graph (GloVe node features), its
    masked binary cross-entropy and Adam; the CNN backbone frozen, as in the recipe."""
    import keras

    from keras_hier.datasets import fashion_mnist, multilabel
    from keras_hier.knowledge import ClassGraph
    from keras_hier.losses import MaskedBinaryCrossentropy
    from keras_hier.models import MultiLabelZeroShot
    from recipes import multilabel_zsl

    args = multilabel_zsl.parse_args([])
    names = fashion_mnist.CLASS_NAMES
    graph = ClassGraph.build(
        multilabel.MOSAIC_TARGETS, unseen=multilabel.MOSAIC_UNSEEN,
        target_synsets=dict(zip(names, fashion_mnist.SYNSETS)), external=list(multilabel.MOSAIC_EXTERNAL),
        external_synsets=[fashion_mnist.WNIDS[names.index(e)] for e in multilabel.MOSAIC_EXTERNAL],
        embeddings="glove", threshold=0.8)
    backbone = multilabel_zsl.mosaic_backbone(shape, len(multilabel.MOSAIC_EXTERNAL))
    model = MultiLabelZeroShot(backbone, graph, variant="rgcn_posvae", hidden_units=args.hidden_units,
                               graph_units=list(args.graph_units), edge_hidden=args.edge_hidden,
                               vae_weight=args.vae_weight, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=args.clipnorm),
                  loss=MaskedBinaryCrossentropy(model.seen))
    labels = (np.random.default_rng(2).random((batch, graph.num_targets)) < 0.3).astype("float32")
    return model, labels


def long_tail_step(shape, batch):
    """The long-tail recipe's CIFAR ResNet-20 encoder, cosine classifier, balanced softmax and SGD."""
    from recipes import long_tail

    counts = np.array([6000, 2000, 700, 250, 90, 30, 12, 5, 5, 5])
    model, _ = long_tail.build_classifier(long_tail.parse_args(["--depth", "3"]), shape, counts, "balanced_softmax",
                                          1000)
    return model, _labels(batch)


def hirl_step(shape, batch):
    """The HIRL recipe's default MoCo v2 base (convnet encoder) with its prototypes (300, 100, 20), negative paths
    and optimizer (over 1,000 steps), clustered once on random features."""
    from keras_hier.models import HIRL
    from recipes import hirl

    args = hirl.parse_args([])
    model = HIRL(hirl.build_base(args, shape, 0, 1000), args.num_prototypes, args.num_negative_paths,
                 warmup_epochs=0, seed=0)
    model.compile(optimizer=hirl.optimizer(args, 1000, 100))
    images = np.random.default_rng(3).random((max(1024, 4 * batch), *shape)).astype("float32")
    model.update_prototypes(images, verbose=0)
    return model, np.arange(batch)


BUILDERS = {"hiernet_backbone": hiernet_backbone, "hiernet": hiernet_step, "hgr": hgr_step,
            "multilabel": multilabel_step, "long_tail": long_tail_step, "hirl": hirl_step}


def step_seconds(name, policy, shape, batch, repeats, warmup=3):
    """Median seconds of one training step of recipe step `name` under dtype policy `policy`."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model, y = BUILDERS[name](shape, batch)
        # The batch stays on the device: the step, not the host-to-device copy, is timed.
        x = keras.ops.convert_to_tensor(np.random.default_rng(0).random((batch, *shape)).astype("float32"))
        y = keras.ops.convert_to_tensor(y)
        return median_seconds(lambda: model.train_on_batch(x, y), repeats, warmup=warmup)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mixed_precision", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(STEPS), help=f"comma-separated steps from {STEPS}")
    parser.add_argument("--policy", default="mixed_float16", choices=("mixed_float16", "mixed_bfloat16"))
    parser.add_argument("--batch", type=int, default=None, help=f"default {GPU_SIZE['batch']} on a GPU, "
                        f"{CPU_SIZE['batch']} without one")
    parser.add_argument("--image-size", type=int, default=32, help="square images (the recipes: 28 or 32)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None, help=f"default {GPU_SIZE['repeats']} on a GPU, "
                        f"{CPU_SIZE['repeats']} without one")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (tracing, compiling); default "
                        f"{GPU_SIZE['warmup']} on a GPU, {CPU_SIZE['warmup']} without one")
    args = parser.parse_args(argv)
    import keras

    from keras_hier.precision import gpu_available

    size = GPU_SIZE if gpu_available() else CPU_SIZE
    if not gpu_available() and any(getattr(args, k) is None for k in size):
        print(f"No GPU: a small run ({', '.join(f'{k} {v}' for k, v in size.items())}, about a minute on 2 cores). "
              "CPUs have no fast float16 arithmetic, so the ratios only show that the mixed path runs; the "
              "speed-ups are measured on a GPU.")
    for key, value in size.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    if not chosen or set(chosen) - set(STEPS):
        raise SystemExit(f"--only must name some of {STEPS}; got {args.only!r}.")
    backend = keras.backend.backend()
    shape = (args.image_size, args.image_size, args.channels)
    print(f"Keras {keras.__version__} ({backend}), GPU: {gpu_available()}, batch {args.batch}, images {shape}")
    print(f"{'training step':<18}{'float32 ms':>12}{args.policy + ' ms':>20}{'speed-up':>10}")
    ratios = {}
    for name in chosen:
        full = step_seconds(name, "float32", shape, args.batch, args.repeats, args.warmup)
        mixed = step_seconds(name, args.policy, shape, args.batch, args.repeats, args.warmup)
        ratios[f"{name}: float32 / {args.policy} step time"] = full / mixed
        print(f"{name:<18}{1000 * full:>12.1f}{1000 * mixed:>20.1f}{full / mixed:>9.2f}x")
    return ratios


if __name__ == "__main__":
    main()
