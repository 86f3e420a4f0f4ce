"""Helpers the recipes share: one command line (`recipe_parser`, `add_run_flags`, `parse_recipe_args`), the
precision and strategy flags, the papers' weight decay, training budgets, comma-separated flags, mean ± spread over
seeds, metrics.json. Training stages themselves: `recipes._training`."""

import argparse
import contextlib
import functools
import os
import sys

import numpy as np


def _show_defaults(parser):
    """Writes each flag's default into its help text (argparse's ArgumentDefaultsHelpFormatter leaves out flags
    without help text, and shows 0 and False alike)."""
    for action in parser._actions:
        default = action.default
        if not action.option_strings or default is None or default is False or default is argparse.SUPPRESS:
            continue
        if "%(default)" not in (action.help or "") and "(default" not in (action.help or ""):
            action.help = ((action.help or "") + " (default: %(default)s)").strip()


def recipe_parser(name, doc):
    """The argument parser of the recipe `name` (its module under `recipes/`): `doc`'s first line as description, the
    defaults in `--help`, and the program name as the user called it (`python -m recipes.NAME` or the console
    script `keras-hier-NAME`)."""
    called = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    prog = called if called.startswith("keras-hier-") else f"python -m recipes.{name}"
    return argparse.ArgumentParser(prog=prog, description=doc.strip().splitlines()[0])


def add_run_flags(parser, output, seeds="0"):
    """Adds the flags every training recipe takes: `--seeds`, `--precision` and `--strategy` (`add_runtime_flags`),
    `--steps-per-epoch`, `--max-steps`, `--resume` and `--tensorboard` (`recipes._training`), `--output` (default
    `output`) and `--no-export`."""
    from ._training import add_training_flags

    parser.add_argument("--seeds", type=SEEDS, default=seeds, help="comma-separated seeds, e.g. 0,1,2 (mean ± sd)")
    add_runtime_flags(parser)
    add_training_flags(parser)
    parser.add_argument("--output", default=output, help="folder for metrics.json, logs, plots and models")
    parser.add_argument("--no-export", action="store_true", help="skip the SavedModel export")


def parse_recipe_args(parser, argv=None):
    """`parser.parse_args(argv)` (default: the command line), every flag's default shown by `--help`, with
    `args.command`: the command as typed, for metrics.json."""
    import shlex

    _show_defaults(parser)
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    args.command = shlex.join([parser.prog, *argv])
    return args


def add_runtime_flags(parser):
    """Adds `--precision` and `--strategy`, which every recipe takes (see `runtime`)."""
    parser.add_argument("--precision", choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"), default="auto",
                        help="auto: mixed_float16 when a GPU is visible, else float32 (losses stay float32)")
    parser.add_argument("--strategy", choices=("auto", "mirrored", "multiworker", "none"), default="auto",
                        help="auto: MirroredStrategy over 2+ GPUs, else one device; mirrored: all visible GPUs, or two "
                             "logical CPU devices without a GPU; multiworker: MultiWorkerMirroredStrategy from "
                             "TF_CONFIG (docs/scaling_out.md)")


def add_weight_decay_flag(parser, default, paper):
    """Adds `--weight-decay`, in the papers' convention (coupled L2, see `coupled_sgd`); `paper` says their value."""
    parser.add_argument("--weight-decay", type=NON_NEGATIVE_FLOAT, default=default,
                        help=f"SGD weight decay as the papers mean it: coupled L2, added to the gradient before "
                             f"momentum (PyTorch's SGD; keras_hier.optimizers.CoupledSGD), about ten times stronger "
                             f"than the same value in keras.optimizers.SGD at momentum 0.9 ({paper})")


def coupled_sgd(learning_rate, weight_decay, momentum=0.9, learning_rate_multipliers=None):
    """The recipes' SGD: `keras_hier.optimizers.CoupledSGD`, so that a paper's "SGD, momentum 0.9, weight decay w"
    regularises as in the paper (see `add_weight_decay_flag`); `learning_rate_multipliers` as CoupledSGD's."""
    from keras_hier.optimizers import CoupledSGD

    return CoupledSGD(learning_rate, momentum=momentum, weight_decay=weight_decay,
                      learning_rate_multipliers=learning_rate_multipliers)


def budget_difference(budgets):
    """None when every model in `budgets` (name -> list of the budgets of its stages, `recipes._training.Training.fit`)
    trained as many steps, in as many stages, with the same optimizer configuration; else a sentence naming the first
    difference."""
    items = list(budgets.items())
    first, reference = items[0] if items else (None, [])
    for name, stages in items[1:]:
        if len(stages) != len(reference):
            return f"{name} trained in {len(stages)} stage(s), {first} in {len(reference)}"
        for k, (a, b) in enumerate(zip(reference, stages), 1):
            if a["steps"] != b["steps"]:
                return f"stage {k}: {name} trained {b['steps']} steps, {first} {a['steps']}"
            if a["optimizer"] != b["optimizer"]:
                return f"stage {k}: {name} and {first} trained with different optimizers or schedules"
    return None


@contextlib.contextmanager
def runtime(args):
    """Sets the dtype policy of `args.precision`, builds the strategy of `args.strategy` and yields the precision's
    name inside the strategy's scope, so that every model the recipe builds there trains under it.

    `--strategy mirrored` without a GPU splits the CPU into two logical devices (the multi-replica path on any
    machine). Under Keras' JAX backend the strategy is a `keras.distribution.DataParallel` (`data_parallel`). Under
    `multiworker` only the chief writes `args.output`: the other workers write to a temporary folder,
    removed at the end.
    """
    import shutil
    import tempfile

    from ._terminal import quiet_tensorflow_startup

    with quiet_tensorflow_startup():  # TensorFlow's C++ banners, and the CUDA probe's error without a GPU driver
        import keras

        from keras_hier.distribute import get_strategy, is_chief, split_cpu
        from keras_hier.precision import gpu_available, set_precision

        tensorflow = keras.backend.backend() == "tensorflow"
        if tensorflow:
            if args.strategy == "mirrored" and not gpu_available():
                split_cpu(2)
            strategy = get_strategy(args.strategy)
            precision = set_precision(args.precision)
    if not tensorflow:  # tf.distribute is TensorFlow's: keras.distribution on JAX
        from keras_hier.distribute import data_parallel

        try:
            distribution = data_parallel(args.strategy)
        except ValueError as e:
            raise SystemExit(str(e)) from None
        precision = set_precision(args.precision)
        devices = 1 if distribution is None else len(distribution.device_mesh.devices.reshape(-1))
        print(f"strategy {args.strategy}: {type(distribution).__name__ if distribution else 'one device'}, "
              f"{devices} device(s); precision {precision}")
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(distribution)
        try:
            yield precision
        finally:
            keras.distribution.set_distribution(previous)
        return
    scratch = None
    if not is_chief(strategy):
        scratch = args.output = tempfile.mkdtemp(prefix="keras_hier_worker_")
    print(f"strategy {args.strategy}: {type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s); "
          f"precision {precision}")
    try:
        with strategy.scope():
            yield precision
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def require_tensorflow(what):
    """SystemExit naming `what` when TensorFlow cannot be imported (e.g. a JAX machine without it): the recipes read
    image files with tf.data, under any Keras backend."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise SystemExit(f"{what} reads image files with tf.data, which needs TensorFlow (pip install tensorflow; any "
                         "Keras backend then trains on it). Without TensorFlow use the embedded Fashion-MNIST data.")


def run_under_runtime(args, run):
    """`run(args, precision)` inside `runtime(args)`: what every recipe's `main` does. Ctrl-C ends it with one line
    naming the command that resumes it."""
    from ._terminal import one_line_on_interrupt

    git_commit()  # the code this run loaded, before the checkout can move on
    with one_line_on_interrupt(args), runtime(args) as precision:
        return run(args, precision)


def number(kind=int, low=None, high=None, low_open=False, high_open=False):
    """An argparse `type`: a number of `kind` within [low, high] (an end excluded with `low_open` / `high_open`),
    else a usage error that names the range. E.g. `number(int, 1)` for counts, `number(float, 0, 1, high_open=True)`.
    """

    def parse(text):
        from keras_hier._validation import _range_text, check_number

        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}; got {text!r}")
        try:
            return check_number(value, "value", low, high, low_open, high_open, integer=kind is int)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be in {_range_text(low, high, low_open, high_open)}; got {text}")

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


POSITIVE_INT = number(int, 1)
NON_NEGATIVE_INT = number(int, 0)
POSITIVE_FLOAT = number(float, 0, low_open=True)
NON_NEGATIVE_FLOAT = number(float, 0)
FRACTION = number(float, 0, 1)


def number_list(kind=int, low=None, high=None, low_open=False, high_open=False, unique=False):
    """An argparse `type`: a non-empty comma-separated list of numbers, each checked as by `number`; with `unique`,
    a value given twice is a usage error (e.g. `--seeds 0,0` would train seed 0 twice and report a spread of 0)."""
    one = number(kind, low, high, low_open, high_open)

    def parse(text):
        items = [item.strip() for item in str(text).split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of numbers; got {text!r}")
        values = [one(item) for item in items]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if unique and repeated:
            raise argparse.ArgumentTypeError(f"each value may appear once; {', '.join(map(str, repeated))} "
                                             f"repeated in {text!r}")
        return values

    parse.__name__ = f"{kind.__name__} list"
    return parse


SEEDS = number_list(int, 0, unique=True)


def comma_list(text, allowed=None, flag="--list"):
    """The non-empty items of a comma-separated flag; with `allowed`, SystemExit names a bad or empty list."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if allowed is not None and (not items or set(items) - set(allowed)):
        raise SystemExit(f"{flag} must name some of {tuple(allowed)}; got {text!r}.")
    return items


def split_halves(labels, size=0):
    """Indices of two fixed (seed 0) class-stratified halves of `labels`, each cut to about `size` images
    (0: the whole half), stratified too: the recipes' validation and test sets from one test split."""
    from keras_hier.datasets.splits import stratified_split

    halves = stratified_split(labels, 0.5, seed=0)
    if size and size < min(len(h) for h in halves):
        halves = tuple(h[stratified_split(labels[h], size / len(h), seed=0)[1]] for h in halves)
    return halves


def over_seeds(seeds):
    """How a title or a table header names what it shows: `seed 0` for one seed, `mean ± sd over 3 seeds` else."""
    seeds = list(seeds)
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"mean ± sd over {len(seeds)} seeds"


def stat_text(stat, seeds, scale=100.0, digits=2, width=0):
    """`stat` (`{"mean", "std"}`) as table text: the mean times `scale`, and ` ± sd` only over several seeds (one
    seed has no spread to show, not a spread of 0)."""
    text = f"{scale * stat['mean']:.{digits}f}" + (f" ± {scale * stat['std']:.{digits}f}" if len(list(seeds)) > 1
                                                    else "")
    return f"{text:>{width}}"


def spreads(errors, seeds):
    """`plot_bars`' `errors`: the sd over seeds, or None for one seed (no error bars, no "±0.000" labels)."""
    return errors if len(list(seeds)) > 1 else None


def mean_and_spread(values):
    """`{"mean", "std"}` of per-seed values (sample standard deviation; 0 for one seed)."""
    values = [float(v) for v in values]
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


def applications_encoder(backbone, input_shape, weights="none", batch_norm=None):
    """Images in [0, 1] -> pooled features of a keras.applications ResNet (`resnet50`, `resnet101`, `resnet152`);
    `weights` `"imagenet"` (downloads) or `"none"`; `batch_norm` a dict of `momentum` / `epsilon` for every batch
    norm (e.g. PyTorch's, `{"momentum": 0.9, "epsilon": 1e-5}`, where the method's reference code is PyTorch's)."""
    import keras

    make = {"resnet50": keras.applications.ResNet50, "resnet101": keras.applications.ResNet101,
            "resnet152": keras.applications.ResNet152}[backbone]
    # Any image size inside (multi-crop's small views go through the same weights); the given size outside.
    net = make(include_top=False, pooling="avg", weights=None if weights == "none" else weights,
               input_shape=(None, None, input_shape[-1]))
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for key, value in (batch_norm or {}).items():
                setattr(layer, key, float(value))
    images = keras.Input(input_shape, name="images")
    x = keras.applications.resnet.preprocess_input(keras.layers.Rescaling(255.0)(images))
    return keras.Model(images, net(x), name="encoder")


def versions():
    """The versions of keras_hier, Keras, TensorFlow and JAX (if installed), NumPy and Python, and Keras' backend,
    for metrics.json."""
    import importlib.metadata
    import platform

    import keras

    found = {"keras_hier": __import__("keras_hier").__version__, "python": platform.python_version(),
             "backend": keras.backend.backend()}
    for name, dist in (("keras", "keras"), ("tensorflow", "tensorflow"), ("jax", "jax"), ("numpy", "numpy")):
        try:
            found[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


@functools.cache
def git_commit():
    """The repository's short commit hash, with `+changes` when tracked files differ from it ("unknown" outside a
    git checkout): which code a metrics.json came from. Read once per process, when a run starts
    (`run_under_runtime`): a run of hours records the code it loaded, not the checkout's commit when it ends."""
    import subprocess

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                                check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if changed else "")


def machine():
    """The machine a run used, in words: the CPU model and its cores, and the accelerators Keras' backend sees
    (e.g. "AMD EPYC, 2 CPU cores" or "AMD EPYC, 16 CPU cores; gpu: NVIDIA H100 80GB HBM3")."""
    import platform

    import keras

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} CPU cores"
    if keras.backend.backend() == "jax":
        import jax

        kinds = [f"{d.platform}: {getattr(d, 'device_kind', '')}" for d in jax.devices() if d.platform != "cpu"]
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        kinds = [f"gpu: {tf.config.experimental.get_device_details(d).get('device_name', d.name)}"
                 for d in tf.config.list_physical_devices("GPU")]
    else:
        kinds = []
    return text + "".join(f"; {k}" for k in sorted(set(kinds)))


def write_metrics(output, metrics, start):
    """Adds the run's `seconds` since `start`, the command line (from `metrics["args"]`), the `versions`, the
    `commit` and the `machine`, writes `output/metrics.json` atomically, says where the outputs are and returns
    `metrics`."""
    import json
    import os
    import time

    from keras_hier._io import write_text_atomic

    metrics["seconds"] = time.time() - start
    command = (metrics.get("args") or {}).get("command")
    if command:
        metrics["command"] = command
    metrics["versions"] = versions()
    metrics["commit"], metrics["machine"] = git_commit(), machine()
    write_text_atomic(os.path.join(output, "metrics.json"), json.dumps(metrics, indent=2))
    print(f"outputs in {output} ({metrics['seconds']:.0f} s)")
    return metrics
