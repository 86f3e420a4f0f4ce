"""Each model's training step under Keras' JAX backend against TensorFlow: `python -m benchmarks.backend_steps`.

A process holds one Keras backend, so each backend's steps run in a child process, TensorFlow and JAX alternating
(`--rounds` of each, interleaved: the machine's drift touches both); a step's time is the best of its rounds' medians,
the ratio JAX seconds / TensorFlow seconds (below 1: JAX is faster). The models are the recipes' own (their
builders, Fashion-MNIST-sized 28 x 28 x 1 random images, one batch kept on the device): the seven self-supervised
bases of the HIRL recipe, HIRL on MoCo v2, HierNet and its backbone, the HGR-Net dual encoder (adaptive layer
weights on their own optimizer), the multi-label RGCN + PosVAE and the long-tail classifier.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

SSL_BASES = ("simclr", "moco_v2", "simsiam", "swav", "moco_v3", "dino", "ibot")
MODELS = SSL_BASES + ("hirl", "hiernet_backbone", "hiernet", "hgr", "multilabel", "long_tail")


def ssl_step(base):
    """The HIRL recipe's base `base` alone (its encoder, heads and optimizer over 1,000 steps)."""

    def build(shape, batch):
        from recipes import hirl

        args = hirl.parse_args(["--base", base])
        model = hirl.build_base(args, shape, 0, 1000)
        model.compile(optimizer=hirl.optimizer(args, 1000, 100))
        return model, None

    return build


def step_seconds(name, shape, batch, repeats, warmup):
    """Median seconds of one `train_on_batch` of model `name` in this process's backend."""
    import keras

    from benchmarks._timing import median_seconds
    from benchmarks.mixed_precision import BUILDERS

    keras.utils.set_random_seed(0)
    build = ssl_step(name) if name in SSL_BASES else BUILDERS[name]
    model, y = build(shape, batch)
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).random((batch, *shape)).astype("float32"))
    y = None if y is None else keras.ops.convert_to_tensor(y)
    return median_seconds(lambda: model.train_on_batch(x, y), repeats, warmup=warmup)


def child(args):
    """Times every model of `args.only` in this process; prints one JSON line."""
    shape = (args.image_size, args.image_size, 1)
    print(json.dumps({name: step_seconds(name, shape, args.batch, args.repeats, args.warmup)
                      for name in args.only.split(",")}))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.backend_steps", description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing, compiling)")
    p.add_argument("--rounds", type=int, default=2, help="child processes per backend, alternating")
    p.add_argument("--output", default=None, help="write the table's JSON here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    unknown = set(args.only.split(",")) - set(MODELS)
    if unknown:
        raise SystemExit(f"Unknown models {sorted(unknown)}: choose among {MODELS}.")
    if args.child:
        return child(args)
    flags = ["--only", args.only, "--batch", str(args.batch), "--image-size", str(args.image_size), "--repeats",
             str(args.repeats), "--warmup", str(args.warmup), "--child"]
    seconds = {"tensorflow": [], "jax": []}
    for _ in range(args.rounds):
        for backend in seconds:
            done = subprocess.run([sys.executable, "-m", "benchmarks.backend_steps", *flags], capture_output=True,
                                  text=True, env={**os.environ, "KERAS_BACKEND": backend}, check=False)
            if done.returncode != 0:
                raise SystemExit(f"The {backend} child failed:\n{done.stderr[-3000:]}")
            seconds[backend].append(json.loads(done.stdout.strip().splitlines()[-1]))
    table = {}
    print(f"batch {args.batch}, {args.image_size} x {args.image_size} x 1; best of {args.rounds} rounds' medians "
          f"of {args.repeats} steps")
    print(f"{'model':<18}{'TensorFlow ms':>15}{'JAX ms':>10}{'JAX / TF':>10}")
    for name in args.only.split(","):
        tf_s = min(r[name] for r in seconds["tensorflow"])
        jax_s = min(r[name] for r in seconds["jax"])
        table[name] = {"tensorflow_ms": 1000 * tf_s, "jax_ms": 1000 * jax_s, "jax_over_tf": jax_s / tf_s}
        print(f"{name:<18}{1000 * tf_s:>15.1f}{1000 * jax_s:>10.1f}{jax_s / tf_s:>10.2f}")
    if args.output:
        from keras_hier._io import write_text_atomic

        write_text_atomic(args.output, json.dumps({"args": vars(args), "steps": table}, indent=1))
    return table


if __name__ == "__main__":
    main()
