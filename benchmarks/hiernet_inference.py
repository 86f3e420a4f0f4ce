"""HierNet inference and training cost relative to its backbone: `python -m benchmarks.hiernet_inference`.

Builds a CIFAR ResNet and a HierNet cut from it (the paper's split point and extra classifier blocks for n) over a
tree of `--groups` groups, with node classifiers set so that routes spread over the groups as a trained model's
do, then measures, in one process, at each `--batches` size: images per second of the backbone (with and without
XLA), the slow HierNet (every branch) and the routing model on each of its paths (TensorFlow's exact partitions;
fixed chunks under XLA), interleaved, median of `--repeats` after warm-up. Also prints the route buckets a batch
runs (per internal node, the partitions or chunks of its children), the arithmetic bound (backbone FLOPs over a
route's FLOPs: the best ratio routing can reach at the backbone's efficiency) and a training step of each model.
With JAX installed, the same backbone and router on Keras' JAX backend (a fresh process, `--backend jax`).
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from benchmarks._timing import median_seconds


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hiernet_inference", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=3, help="residual blocks per stage (3: ResNet-20)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--groups", type=int, default=3)
    parser.add_argument("--batches", default="1,32,256", help="batch sizes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--input-shape", default="32,32,1")
    parser.add_argument("--split-point", type=int, default=None, help="residual blocks in the trunk (paper value)")
    parser.add_argument("--classifier-layers", type=int, default=None,
                        help="extra classifier blocks, HierNet.from_backbone's classifier_layers (paper value)")
    parser.add_argument("--chunk-size", type=int, default=32, help="the router's chunk size where shapes are static")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow",
                        help="jax: only the JAX rows, printed as JSON (run_all starts it in a fresh process)")
    parser.add_argument("--no-jax", action="store_true", help="skip the JAX rows")
    parser.add_argument("--no-training", action="store_true", help="skip the training steps")
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_float16 (on a GPU)")
    return parser.parse_args(argv)


def build(args):
    """The backbone and a HierNet over `--groups` groups whose routes spread over every group."""
    import keras

    from keras_hier import HierNet, Hierarchy
    from keras_hier.backbones import resnet_cifar
    from recipes.hiernet import PAPER

    keras.utils.set_random_seed(0)
    if args.mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    shape = tuple(int(v) for v in args.input_shape.split(","))
    names = [f"c{i}" for i in range(args.classes)]
    tree = Hierarchy.from_parents({n: f"g{i % args.groups}" for i, n in enumerate(names)}, leaves=names, root="root")
    backbone = resnet_cifar(args.n, args.classes, input_shape=shape)
    split = PAPER["relu"]["split"][args.n] if args.split_point is None else args.split_point
    extra = PAPER["relu"]["classifier_layers"][args.n] if args.classifier_layers is None else args.classifier_layers
    hiernet = HierNet.from_backbone(backbone, tree, split_points=[split], classifier_layers=extra)
    images = np.random.default_rng(0).random((max(batch_sizes(args)), *shape)).astype("float32")
    # Untrained classifiers send every image the same way: random ones, centred on these images' features.
    rng = np.random.default_rng(1)
    for node in hiernet.internal_nodes:
        dense = hiernet.node_layer(node, "dense")
        pooled = keras.Model(hiernet.inputs, hiernet.node_layer(node, "pool").output).predict(images, verbose=0)
        kernel = rng.normal(0, 1, dense.kernel.shape) / (pooled.std(axis=0)[:, None] + 1e-6)
        dense.kernel.assign(kernel)
        dense.bias.assign(-np.median(pooled @ kernel, axis=0))
    return backbone, hiernet, images, split, extra


def batch_sizes(args):
    return [int(b) for b in args.batches.split(",")]


def flops(model):
    """Multiply-adds x 2 of the convolutions and dense layers of a Keras model (nested models included)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += flops(layer)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):  # kernel [h, w, in, multiplier]: h x w per output
            total += 2 * int(np.prod(layer.output.shape[1:])) * int(np.prod(layer.kernel.shape[:2]))
        elif isinstance(layer, keras.layers.Conv2D):  # kernel [h, w, in / groups, out]
            total += 2 * int(np.prod(layer.output.shape[1:])) * int(np.prod(layer.kernel.shape[:-1]))
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
    return total


def route_flops(hiernet, routes):
    """Mean FLOPs of the routes the images take: the root's edge and classifier, then each node on the route."""
    names = {layer.name for layer in hiernet.layers}

    def node(name):
        dense = hiernet.node_layer(name, "dense")
        total = flops(hiernet.node_layer(name, "edge")) + 2 * int(np.prod(dense.kernel.shape))
        extra = f"node{hiernet.internal_nodes.index(name)}_extra"
        return total + (flops(hiernet.get_layer(extra)) if extra in names else 0)

    cost = {n: node(n) for n in hiernet.internal_nodes}
    return float(np.mean([sum(cost[n] for n in route) for route in routes]))


def routes_and_buckets(hiernet, images, chunk_size):
    """The internal nodes each image visits, and the partitions / chunks a batch runs (exact, chunked)."""
    tree = hiernet.hierarchy
    probs = {k: np.asarray(v) for k, v in hiernet.node_model().predict(images, verbose=0).items()}
    routes = []
    for i in range(len(images)):
        node, route = tree.root, [tree.root]
        while True:
            child = tree.children(node)[int(probs[node][i].argmax())]
            if tree.is_leaf(child):
                break
            node = child
            route.append(node)
        routes.append(route)
    size = min(chunk_size, len(images))
    counts = {}
    for route in routes:
        for parent, child in zip(route, route[1:]):
            counts[child] = counts.get(child, 0) + 1
    exact = len(counts)
    chunked = sum(-(-c // size) for c in counts.values())
    return routes, exact, chunked


def measure_jax(args):
    """Backbone and router images/s on Keras' JAX backend (this process must have started with it)."""
    import keras

    backbone, hiernet, images, _, _ = build(args)
    router = hiernet.routing_model(chunk_size=args.chunk_size)
    rows = {}
    for batch in batch_sizes(args):
        x = images[:batch]
        rows[str(batch)] = {
            "backbone": batch / median_seconds(lambda: backbone.predict_on_batch(x), args.repeats),  # noqa: B023
            "router": batch / median_seconds(lambda: router.predict_on_batch(x), args.repeats),  # noqa: B023
        }
    import jax

    return {"device": str(jax.devices()[0]), "precision": keras.config.dtype_policy().name, "rates": rows}


def run_jax(args, argv):
    """`measure_jax` in a fresh process with KERAS_BACKEND=jax; None where JAX is not installed or it fails."""
    try:
        import jax  # noqa: F401
    except ImportError:
        return None
    argv = sys.argv[1:] if argv is None else argv
    command = [sys.executable, "-m", "benchmarks.hiernet_inference", *argv, "--backend", "jax"]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(command, env=dict(os.environ, KERAS_BACKEND="jax"), cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"JAX rows skipped: the JAX process failed:\n{proc.stderr[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interleaved_rates(functions, x, repeats):
    """Images/s of each function on `x`: one call of each in turn per round, median over rounds."""
    import statistics
    import time

    times = {name: [] for name in functions}
    for fn in functions.values():
        fn(x)
        fn(x)
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn(x)
            times[name].append(time.perf_counter() - start)
    return {name: len(x) / statistics.median(t) for name, t in times.items()}


def main(argv=None):
    args = parse_args(argv)
    if args.backend == "jax":
        print(json.dumps(measure_jax(args)))
        return {}
    import tensorflow as tf

    backbone, hiernet, images, split, extra = build(args)
    exact = hiernet.routing_model()  # TensorFlow without XLA: each child on exactly its images
    chunked = hiernet.routing_model(chunk_size=args.chunk_size)
    functions = {
        "backbone (XLA)": tf.function(lambda b: backbone(b, training=False), jit_compile=True),
        "backbone (no XLA)": tf.function(lambda b: backbone(b, training=False)),
        "HierNet slow (XLA)": tf.function(lambda b: hiernet(b, training=False), jit_compile=True),
        "HierNet fast, partitions (no XLA)": tf.function(lambda b: exact(b, training=False)),
        f"HierNet fast, chunks of {args.chunk_size} (XLA)": tf.function(lambda b: chunked(b, training=False),
                                                                      jit_compile=True),
    }
    print(f"ResNet-{6 * args.n + 2} split after block {split}, {extra} extra classifier blocks, "
          f"{args.classes} classes in {args.groups} groups, input {images.shape[1:]}, "
          f"devices: {[d.device_type for d in tf.config.list_logical_devices()]}")
    ratios = {}
    for batch in batch_sizes(args):
        x = images[:batch]
        routes, partitions, chunks = routes_and_buckets(hiernet, x, args.chunk_size)
        bound = flops(backbone) / route_flops(hiernet, routes)
        rates = interleaved_rates(functions, x, args.repeats)
        best = max(rates["backbone (XLA)"], rates["backbone (no XLA)"])
        print(f"\nbatch {batch}: route buckets per batch {partitions} partitions / {chunks} chunks; arithmetic "
              f"bound (backbone / route FLOPs) {bound:.2f}")
        print(f"{'':<40}{'images/s':>10}{'/ XLA bb':>10}{'/ best bb':>10}")
        for name, rate in rates.items():
            print(f"{name:<40}{rate:>10.0f}{rate / rates['backbone (XLA)']:>10.2f}{rate / best:>10.2f}")
        router = max(rates[n] for n in rates if n.startswith("HierNet fast"))
        ratios[f"batch {batch}: HierNet fast / backbone (XLA) images/s"] = router / rates["backbone (XLA)"]
        ratios[f"batch {batch}: HierNet fast / faster backbone images/s"] = router / best
        ratios[f"batch {batch}: arithmetic bound (backbone / route FLOPs)"] = bound
    jax_rows = None if args.no_jax else run_jax(args, argv)
    if jax_rows:
        print(f"\nKeras' JAX backend ({jax_rows['device']}, {jax_rows['precision']}; router in chunks of "
              f"{args.chunk_size}, jit):")
        for batch, r in jax_rows["rates"].items():
            print(f"batch {batch:>4}: backbone {r['backbone']:8.0f} images/s, router {r['router']:8.0f} images/s, "
                  f"ratio {r['router'] / r['backbone']:.2f}")
            ratios[f"batch {batch}: JAX router / JAX backbone images/s"] = r["router"] / r["backbone"]
    if not args.no_training:
        x, y = images, np.arange(len(images)) % args.classes
        steps = {}
        for name, model in (("backbone", backbone), ("HierNet", hiernet)):
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            steps[name] = median_seconds(lambda: model.train_on_batch(x, y), args.repeats)  # noqa: B023
        print(f"\ntraining step at batch {len(x)}: backbone {steps['backbone']:.3f} s, "
              f"HierNet {steps['HierNet']:.3f} s ({steps['HierNet'] / steps['backbone']:.2f}x)")
        ratios["HierNet / backbone training step time"] = steps["HierNet"] / steps["backbone"]
    return ratios


if __name__ == "__main__":
    main()
