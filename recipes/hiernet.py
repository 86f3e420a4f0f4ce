"""HierNet recipe: backbone, CPM grouping, HierNet with weight transfer, slow and fast evaluation.

`python -m recipes.hiernet` trains a CIFAR ResNet on Fashion-MNIST (padded to 32x32), computes its
confusion-probability matrix on a validation half of the test split, groups the classes, builds a HierNet
from the backbone with weight transfer, trains it, and reports backbone / HierNet-slow / HierNet-fast test
accuracy at the same total training budget: the backbone first trains `--backbone-epochs` (He et al.'s schedule);
the HierNet is built from it and trains `--epochs` on the paper's HierNet schedule, and the backbone trains
`--epochs` more on the same schedule (metrics.json records both budgets). SGD with momentum and the paper's
coupled weight decay (`keras_hier.optimizers.CoupledSGD`). The test half is evaluated once, at the end. Flags
reproduce the paper's CIFAR-100 settings (`--dataset cifar100 --schedule paper`, `--activation relu|elu`).
`--dataset image_folder --data-dir D` trains on your own images (`D/train/<class>/*`, `D/val/<class>/*`: the class
names are the folder names) with the tree of `--hierarchy tree.json` (docs/hierarchy.md) or, without one, the CPM's.
"""

import os
import time

import numpy as np

from ._common import (
    FRACTION, NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, add_run_flags, add_weight_decay_flag, coupled_sgd,
    mean_and_spread, number, parse_recipe_args, recipe_parser, run_under_runtime, split_halves, write_metrics,
)
from ._hierarchical import hierarchical_rows, path_consistency, print_rows, semantic_hierarchy, summarise_rows
from ._training import Training

# The paper's settings per activation and n (section 5.7, Tables 1 and 2): split point and extra classifier blocks
# in residual blocks, and the minimum group proximity p_min for CIFAR-100's 100 classes.
PAPER = {
    "relu": {"split": {3: 5, 5: 9, 7: 12, 9: 16, 18: 38}, "classifier_layers": {3: 2, 5: 3, 7: 4, 9: 5, 18: 4},
             "p_min": 0.0075},
    "elu": {"split": {3: 6, 5: 9, 7: 15, 9: 19, 18: 38}, "classifier_layers": {3: 2, 5: 3, 7: 2, 9: 5, 18: 4},
            "p_min": 0.005},
}


def parse_args(argv=None):
    p = recipe_parser("hiernet", __doc__)
    p.add_argument("--dataset", choices=("fashion_mnist", "cifar100", "image_folder"), default="fashion_mnist")
    p.add_argument("--data-dir", default=None,
                   help="image_folder: the folder holding train/<class>/* and val/<class>/* (val is halved into "
                        "validation and test); fashion_mnist: a folder holding its four .gz files (default: the "
                        "Debian package's or Keras' copy); cifar100 is read from the Keras cache")
    p.add_argument("--image-size", type=POSITIVE_INT, default=32, help="image_folder: images resized to this square")
    p.add_argument("--hierarchy", default=None,
                   help="a JSON tree over the classes (nested or parents form, docs/hierarchy.md) used instead of "
                        "the CPM's; its classes must be the dataset's class names")
    p.add_argument("--n", type=POSITIVE_INT, default=3, help="residual blocks per stage (3 -> ResNet-20)")
    p.add_argument("--width", type=POSITIVE_FLOAT, default=1.0,
                   help="filters of every backbone layer times this (0.5: a half-width ResNet, 8-16-32 filters)")
    p.add_argument("--activation", choices=("relu", "elu"), default="relu")
    p.add_argument("--backbone-epochs", type=POSITIVE_FLOAT, default=2, help="backbone epochs before grouping and transfer")
    p.add_argument("--epochs", type=POSITIVE_FLOAT, default=1, help="HierNet epochs (the backbone trains as many more)")
    p.add_argument("--train-size", type=NON_NEGATIVE_INT, default=0, help="training images used (0: all)")
    p.add_argument("--eval-size", type=NON_NEGATIVE_INT, default=0,
                   help="validation and test images each (0: half the test split)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=128)
    p.add_argument("--schedule", choices=("scaled", "paper"), default="scaled",
                   help="paper: lr 0.01 for 2k steps (HierNet, and the backbone for n >= 18 only, as He et al.), "
                        "0.1 to 32k, 0.01 to 48k, 0.001 after; scaled: the same shape over the run's own steps")
    p.add_argument("--lr", type=POSITIVE_FLOAT, default=0.1, help="peak learning rate")
    p.add_argument("--finetune-lr", type=POSITIVE_FLOAT, default=None,
                   help="peak learning rate of the second stage, for the HierNet and the backbone alike (default --lr)")
    p.add_argument("--momentum", type=number(float, 0, 1), default=0.9)
    add_weight_decay_flag(p, 1e-4, "the paper: 1e-4 with momentum 0.9")
    p.add_argument("--no-augment", action="store_true", help="no random flip / 0.125 translation")
    p.add_argument("--split-point", type=POSITIVE_INT, default=None,
                   help="residual blocks in the trunk (default: the paper's value for --n and --activation)")
    p.add_argument("--classifier-layers", type=POSITIVE_INT, default=None,
                   help="extra residual blocks per classifier, HierNet.from_backbone's classifier_layers "
                        "(cifar100: the paper's value for --n and --activation; fashion_mnist: the rest of the "
                        "backbone after the split, chosen on the validation half, see docs/hiernet.md)")
    p.add_argument("--p-min", type=FRACTION, default=None,
                   help="minimum group proximity (default: the paper's CIFAR-100 value times 100 / classes: "
                        "0.0075 for relu, 0.005 for elu at 100 classes)")
    p.add_argument("--g-max", type=POSITIVE_INT, default=None, help="maximum group size (default: half the classes, as 50 of 100)")
    p.add_argument("--levels", type=POSITIVE_INT, default=1, help="levels of groups (1: root -> groups -> classes)")
    p.add_argument("--no-transfer", action="store_true", help="start the HierNet from random weights")
    add_run_flags(p, "runs/hiernet")
    return parse_recipe_args(p, argv)


def folder_arrays(data_dir, image_size):
    """`D/train` and `D/val` as uint8 arrays (RGB, resized), with the class names (the sorted folders of `D/train`)."""
    from keras_hier.datasets.image_folder import files_dataset, list_images

    if not data_dir:
        raise SystemExit("--dataset image_folder needs --data-dir (with train/<class>/* and val/<class>/*).")
    files, labels, names = list_images(os.path.join(data_dir, "train"))
    val_files, val_labels, _ = list_images(os.path.join(data_dir, "val"), names)

    def read(paths, y):
        batches = files_dataset(paths, y, (image_size, image_size), batch_size=256, shuffle=False)
        return np.concatenate([np.round(np.asarray(x) * 255).astype(np.uint8) for x, _ in batches])

    return (read(files, labels), labels), (read(val_files, val_labels), val_labels), names


def load_data(name, train_size, eval_size, seed, data_dir=None, image_size=32):
    """(x_train, y_train), (x_val, y_val), (x_test, y_test), class names; the test split halved per class."""
    from keras_hier.datasets import cifar, fashion_mnist
    from keras_hier.datasets.splits import stratified_split

    if name == "image_folder":
        (x, y), (xt, yt), names = folder_arrays(data_dir, image_size)
    elif name == "fashion_mnist":
        (x, y), (xt, yt) = fashion_mnist.load_data(data_dir)
        pad = ((0, 0), (2, 2), (2, 2))
        x, xt = np.pad(x, pad)[..., None], np.pad(xt, pad)[..., None]  # 28x28 -> 32x32, one channel
        names = list(fashion_mnist.CLASS_NAMES)
    else:
        (x, y), (xt, yt) = cifar.load_cifar100("fine")
        names = list(cifar.FINE_NAMES)
    if train_size and train_size < len(x):
        keep, _ = stratified_split(y, 1 - train_size / len(x), seed=seed)
        x, y = x[keep], y[keep]
    test, val = split_halves(yt, eval_size)  # a fixed split, as the paper's
    return (x, y.astype(np.int32)), (xt[val], yt[val].astype(np.int32)), (xt[test], yt[test].astype(np.int32)), names


def learning_rate(schedule, steps, peak, warmup=True):
    """The step schedule of He et al.: `peak` until 32k steps, a tenth until 48k, a hundredth after (`"paper"`), or
    the same shape over `steps` (`"scaled"`). With `warmup`, a tenth of `peak` for the first 2k steps (scaled: 1/32
    of the run): He et al. warm up ResNet-110 (n = 18) only; the paper warms up every HierNet."""
    import keras

    if schedule == "paper":
        bounds = [2000, 32000, 48000]
    else:
        bounds = [max(1, int(steps * f)) for f in (2000 / 64000, 32000 / 64000, 48000 / 64000)]
        bounds = sorted(set(bounds))
        while len(bounds) < 3:
            bounds.append(bounds[-1] + 1)
    values = [peak / 10, peak, peak / 10, peak / 100]
    if not warmup:
        bounds, values = bounds[1:], values[1:]
    return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)


def compile_model(model, args, steps, peak=None, warmup=True):
    """Compiles `model` with SGD, the paper's coupled weight decay and the `--schedule` over `steps`."""
    schedule = learning_rate(args.schedule, steps, peak or args.lr, warmup)
    optimizer = coupled_sgd(schedule, args.weight_decay, args.momentum)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def tree_settings(args, num_classes):
    """`(p_min, g_max, split point, extra classifier blocks)`: the flags, else the paper's values for `--activation`
    and `--n` (p_min scaled to the number of classes; on Fashion-MNIST the extra blocks run to the backbone's end)."""
    paper = PAPER[args.activation]
    p_min = paper["p_min"] * 100 / num_classes if args.p_min is None else args.p_min
    g_max = max(2, num_classes // 2) if args.g_max is None else args.g_max
    split = args.split_point or paper["split"].get(args.n, 2 * args.n - 1)
    extra = args.classifier_layers
    if extra is None:
        extra = paper["classifier_layers"].get(args.n, 2) if args.dataset == "cifar100" else 3 * args.n - split
    return p_min, g_max, split, extra


def main(argv=None):
    """Runs the recipe with command-line `argv` (default: sys.argv) and returns its metrics."""
    return run_under_runtime(parse_args(argv), run)


def run(args, precision):
    """The recipe under the precision and strategy `main` set up: each seed, then mean ± sd over seeds."""
    start = time.time()
    training = Training(args)
    seeds = list(args.seeds)
    runs = {}
    for seed in seeds:
        output = args.output if len(seeds) == 1 else os.path.join(args.output, f"seed{seed}")
        seed_start = time.time()
        runs[seed] = run_seed(args, seed, output, training, precision)
        if len(seeds) > 1:  # a finished seed's numbers (and its own time) on disk at once: a run cut short keeps them
            write_metrics(output, dict(runs[seed], args=vars(args), seed=seed), seed_start)
    if len(seeds) == 1:
        metrics = runs[seeds[0]]
    else:
        metrics = dict(seeds_summary(runs), args=vars(args), precision=precision)
        keys = list(metrics["summary"])
        print(f"\n{'model':<16}{'test accuracy, mean ± sd over seeds ' + ','.join(map(str, seeds)):>44}")
        for k in keys:
            print(f"{ACCURACIES[k]:<16}{metrics['summary'][k]['mean']:>36.4f} ± {metrics['summary'][k]['std']:.4f}")
        from keras_hier import plotting

        plotting.plot_bars({ACCURACIES[k]: metrics["summary"][k]["mean"] for k in keys},
                           os.path.join(args.output, "accuracy.png"),
                           f"Test accuracy at the same training budget, mean over seeds {','.join(map(str, seeds))}",
                           errors={ACCURACIES[k]: metrics["summary"][k]["std"] for k in keys})
    return training.finish(metrics, start)


ACCURACIES = {"backbone_accuracy": "backbone", "hiernet_slow_accuracy": "HierNet slow",
              "hiernet_fast_accuracy": "HierNet fast"}


def seeds_summary(runs):
    """The multi-seed metrics of per-seed metrics `runs` (seed -> one seed's metrics, as `run_seed` returns and a
    multi-seed run writes to `seedS/metrics.json`): `seeds`, `runs`, and the `summary` (accuracies) and
    `hierarchical` rows as mean ± sd over the seeds. Seeds run apart (`--seeds 1`, then `--seeds 2`) combine as one
    run of them all."""
    seeds = sorted(int(s) for s in runs)
    runs = {int(s): m for s, m in runs.items()}
    metrics = {"seeds": seeds, "runs": {str(s): runs[s] for s in seeds}}
    keys = [k for k in ACCURACIES if all(k in m for m in runs.values())]
    metrics["summary"] = {k: mean_and_spread([runs[s][k] for s in seeds]) for k in keys}
    if all("hierarchical" in m for m in runs.values()):
        metrics["hierarchical"] = summarise_rows([runs[s]["hierarchical"] for s in seeds])
    return metrics


def run_seed(args, seed, output, training, precision):
    """One seed of the recipe; writes its plots and models to `output` and returns its metrics."""
    import keras

    from keras_hier import HierNet, plotting
    from keras_hier.backbones import resnet_cifar
    from keras_hier.datasets.pipeline import make_batches
    from keras_hier.grouping import confusion_probability_matrix, hierarchy_from_confusion
    from keras_hier.metrics import tree_accuracies

    keras.utils.set_random_seed(seed)
    train, val, test, names = load_data(args.dataset, args.train_size, args.eval_size, seed, args.data_dir,
                                        args.image_size)
    num_classes = len(names)
    given = given_hierarchy(args.hierarchy, names)  # checked before any training
    os.makedirs(output, exist_ok=True)  # after the data and the tree: a run they stop leaves nothing
    p_min, g_max, split, extra = tree_settings(args, num_classes)
    print(f"{args.dataset}, seed {seed}: train {len(train[0])}, validation {len(val[0])}, test {len(test[0])}; "
          f"precision {precision}")
    augment = None if args.no_augment else "hiernet"
    val_ds = make_batches(*val, batch_size=256, num_classes=num_classes)
    test_ds = make_batches(*test, batch_size=256, num_classes=num_classes)
    per_pass = len(train[0]) // args.batch_size
    pre_steps = training.stage_steps(args.backbone_epochs, per_pass)
    post_steps = training.stage_steps(args.epochs, per_pass)

    def batches(offset):
        """The training stream from batch `offset` on; the second stages go on from where the first ended."""
        return lambda first: make_batches(*train, batch_size=args.batch_size, num_classes=num_classes,
                                          augment=augment, shuffle=True, seed=seed, drop_remainder=True, repeat=True,
                                          first_batch=offset + first)

    # Training budgets: the HierNet inherits the backbone's first stage; the second stages have equal steps, the
    # same schedule and the same batches, so that backbone and HierNet train equally long, equally well
    # (tests/recipes pins this).
    budgets = {"backbone": [], "hiernet": []}

    # 1. The backbone; the HierNet starts from it, and it trains on for as long as the HierNet does.
    backbone = resnet_cifar(args.n, num_classes, activation=args.activation, input_shape=train[0].shape[1:],
                            width=args.width)
    compile_model(backbone, args, pre_steps, warmup=args.n >= 18)  # He et al. warm up ResNet-110 only
    print(f"\n[1/4] backbone {backbone.name}: {pre_steps} steps before grouping")
    training.fit(f"seed{seed}/backbone", backbone, batches(0), pre_steps, per_pass, budgets["backbone"])
    budgets["hiernet"].extend(budgets["backbone"])

    # 2. The confusion-probability matrix on the validation half, and the class hierarchy (the CPM's, or yours).
    cpm = confusion_probability_matrix(backbone, val_ds, num_classes)
    hierarchy = given or hierarchy_from_confusion(cpm, names, p_min=p_min, g_max=g_max, levels=args.levels)
    groups = [[hierarchy.label(leaf) for leaf in hierarchy.leaves if node in hierarchy.path(leaf)]
              for node in hierarchy.children(hierarchy.root)]
    print(f"\n[2/4] groups ({'from ' + args.hierarchy if given else f'p_min {p_min:g}, g_max {g_max}'}):")
    for node in hierarchy.children(hierarchy.root):
        print(f"  {node}: {', '.join(hierarchy.leaves[i] for i in hierarchy.descendant_leaves(node))}")
    hierarchy.to_json(os.path.join(output, "hierarchy.json"), indent=2)
    plotting.plot_cpm(cpm, names, os.path.join(output, "cpm.png"), groups=groups,
                      title=f"CPM of {backbone.name} on the validation split")

    # 3. HierNet with weight transfer, trained for the rest of the budget; the backbone trains as long.
    metrics = {"args": vars(args), "seed": seed, "precision": precision, "backbone": backbone.name,
               "backbone_parameters": backbone.count_params(), "p_min": p_min, "g_max": g_max, "groups": {}}
    if hierarchy.max_depth < 2:
        print("\nNo groups formed (no pair above --p-min, or all classes in one group): HierNet would equal the "
              "backbone. Adjust --p-min (or train the backbone longer).")
        hiernet = None
    else:
        splits = [split] + [min(split + k, 3 * args.n - 1) for k in range(1, hierarchy.max_depth - 1)]
        # HierNet copies the backbone's weights now, before the backbone trains on.
        hiernet = HierNet.from_backbone(backbone, hierarchy, split_points=splits, classifier_layers=extra,
                                        transfer_weights=not args.no_transfer)
        metrics.update(split_points=splits, classifier_layers=extra)
        compile_model(hiernet, args, post_steps, args.finetune_lr)
        print(f"\n[3/4] HierNet: split after block {splits}, {extra} extra classifier blocks, "
              f"{hiernet.count_params():,} parameters ({backbone.count_params():,} in the backbone); "
              f"{post_steps} steps")
        training.fit(f"seed{seed}/hiernet", hiernet, batches(pre_steps), post_steps, per_pass, budgets["hiernet"])
    print(f"\n[3/4] backbone: {post_steps} more steps, on the HierNet's schedule")
    compile_model(backbone, args, post_steps, args.finetune_lr)
    training.fit(f"seed{seed}/backbone_second_stage", backbone, batches(pre_steps), post_steps, per_pass,
                 budgets["backbone"])
    metrics["budgets"] = budgets if hiernet is not None else {"backbone": budgets["backbone"]}

    # 4. The test half, once.
    # Validation accuracies, for choosing flags; the test half is read once, below.
    metrics["validation"] = {"backbone": float(backbone.evaluate(val_ds, verbose=0)[1])}
    if hiernet is not None:
        result = tree_accuracies(hiernet, val_ds)
        metrics["validation"].update(hiernet_slow=result["conditional_accuracy"],
                                     hiernet_fast=result["routing_accuracy"])
    print("\n[4/4] validation: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics["validation"].items()))
    print("[4/4] test split")
    metrics["backbone_accuracy"] = float(backbone.evaluate(test_ds, verbose=0)[1])
    scored = {"backbone": backbone.predict(test_ds, verbose=0)}
    decided = {}
    if hiernet is not None:
        result = tree_accuracies(hiernet, test_ds, return_predictions=True)
        metrics["hiernet_slow_accuracy"] = result["conditional_accuracy"]
        metrics["hiernet_fast_accuracy"] = result["routing_accuracy"]
        scored["HierNet slow"] = result["predictions"]["probabilities"]
        decided["HierNet fast"] = result["predictions"]["routed"]
        # Keyed by node, as "groups" (whose members are the full names; a node's display name is cut to 3 members).
        metrics["node_accuracy"] = dict(result["node_accuracy"])
        plotting.plot_hierarchy(hierarchy, os.path.join(output, "tree.png"), values=result["node_accuracy"],
                                title="HierNet tree (internal nodes: test accuracy of their decision)")
        if not args.no_export:
            export(hiernet, output, names)
    for node in hierarchy.children(hierarchy.root):
        metrics["groups"][node] = [hierarchy.leaves[i] for i in hierarchy.descendant_leaves(node)]
    # How bad the mistakes are, on the dataset's semantic hierarchy (the CPM tree is the model's own), and how often
    # the level marginals form a path in the HierNet's tree (docs/metrics.md).
    semantic, source = metric_hierarchy(args.dataset, hierarchy, given)
    labels = test[1]
    metrics["metric_hierarchy"] = source
    metrics["hierarchical"] = hierarchical_rows(labels, semantic, scored, decided, crm=tuple(scored))
    metrics["path_consistency"] = path_consistency(labels, hierarchy, scored)
    print_rows(metrics["hierarchical"], f"test, mistakes on {source}")
    bars = {label: metrics[key] for key, label in ACCURACIES.items() if key in metrics}
    plotting.plot_bars(bars, os.path.join(output, "accuracy.png"), "Test accuracy at the same training budget",
                       reference=("backbone", metrics["backbone_accuracy"]))
    print(f"\n{'model':<16}{'test accuracy':>14}")
    for k, v in bars.items():
        print(f"{k:<16}{v:>14.4f}")
    return metrics


def given_hierarchy(path, names):
    """The tree of `--hierarchy` over the dataset's classes in their label order, or None without the flag."""
    if path is None:
        return None
    from keras_hier import Hierarchy

    try:
        tree = Hierarchy.from_json(path).with_leaves(names)
    except ValueError as e:
        raise SystemExit(f"--hierarchy {path}: {e}") from None
    if not tree.is_tree:
        raise SystemExit(f"--hierarchy {path}: HierNet needs a tree, and this is a DAG (a node with two parents).")
    return tree


def metric_hierarchy(dataset, cpm_tree, given=None):
    """The hierarchy the mistakes are measured on, and its name: `--hierarchy`'s, Fashion-MNIST's WordNet tree or
    CIFAR-100's superclasses; the CPM tree where there is none or WordNet cannot be loaded (e.g. on the JAX GPU
    machine)."""
    from keras_hier.datasets import cifar, fashion_mnist

    if given is not None:
        return given, "the --hierarchy tree"
    if dataset == "image_folder":
        return cpm_tree, "the CPM tree"
    if dataset == "cifar100":
        return cifar.hierarchy(), "CIFAR-100's superclasses"
    semantic = semantic_hierarchy(fashion_mnist.hierarchy, fallback=cpm_tree)
    return semantic, "WordNet" if semantic is not cpm_tree else "the CPM tree"


def export(hiernet, output, names):
    """`hiernet.keras`, and a serving SavedModel with the slow model's probabilities and the routed class."""
    from keras_hier._io import save_model_atomic

    from ._serving import export_served

    save_model_atomic(hiernet, os.path.join(output, "hiernet.keras"))
    export_served(hiernet, output, names, routing=True)

if __name__ == "__main__":
    main()
