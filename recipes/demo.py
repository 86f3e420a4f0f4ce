"""The keras_hier demo tour on embedded data: `python -m recipes.demo`.

It shows the foundation every method stands on (the Fashion-MNIST class hierarchy built from WordNet, the
data, the knowledge sources: WordNet similarity, GloVe and MiniLM class embeddings, and the long-tailed
subset), then runs each method's recipe with small settings (HierNet, HGR-Net, multi-label zero-shot, long-tail
transfer, HIRL; each step prints its expected and elapsed time) and writes one report folder, `runs/demo`:
`report.md` with a table per method (baseline and method side by side), the plots, and one SavedModel per method.
"""

import time

import numpy as np

from ._common import parse_recipe_args, recipe_parser


# (report folder, recipe module, section title, the recipe's small settings)
RECIPE_STEPS = [
    ("hiernet", "hiernet", "HierNet: CPM grouping and a tree CNN from ResNet-20",
     ["--train-size", "10000", "--eval-size", "2000", "--backbone-epochs", "2", "--epochs", "1"]),
    ("hgr", "hgr_zero_shot", "HGR-Net: zero-shot Sandal, Shirt, Pullover with flat vs hierarchical InfoNCE",
     ["--seeds", "0", "--train-size", "7000", "--epochs", "1"]),
    ("multilabel_zsl", "multilabel_zsl",
     "Multi-label zero-shot: Fashion-MNIST mosaics, class graph, RGCN with and without PosVAE",
     ["--seeds", "0", "--variants", "visual_semantic,rgcn,rgcn_posvae", "--train-size", "3000",
      "--val-size", "500", "--eval-size", "1000", "--backbone-epochs", "0.5", "--epochs", "3"]),
    ("long_tail", "long_tail", "Long tail: cosine classifier vs compositional transfer on Fashion-MNIST-LT",
     ["--seeds", "0", "--epochs", "3"]),
    ("hirl", "hirl", "HIRL: MoCo v2 vs HIRL-MoCo v2 pre-trained without labels, scored by k-NN, linear probe "
                     "and clustering",
     ["--seeds", "0", "--train-size", "10000", "--epochs", "4", "--warmup-epochs", "1", "--num-prototypes",
      "200,50,10", "--num-negative-paths", "100"]),
]


# What each part of the tour took, measured alone on 2 CPU cores (AMD EPYC Zen 5, 2026-12-02, the slower of two runs
# of `python -m benchmarks.demo_time`, rounded up; README.md quotes the total); printed as the expected time. An
# older 2-core machine without AVX-512 took about six times as long (36 minutes in all, 2026-12-01). HIRL's part was
# re-measured on 2026-12-07 after its K-means kept the best of 5 seedings per level (121 s; that run's unchanged
# parts took 6-35 % longer than on 2026-12-02: the machine's speed drifts).
EXPECTED_SECONDS = {"introduction": 10, "hiernet": 125, "hgr": 25, "multilabel_zsl": 30, "long_tail": 85, "hirl": 125}


def tour_flags(key):
    """The flags the tour passes to the recipe of report folder `key` (e.g. `"hiernet"`)."""
    return next(list(flags) for folder, _, _, flags in RECIPE_STEPS if folder == key)


REPORT_INTRO = (
    "`python -m recipes.demo` ran every method of keras_hier on Fashion-MNIST (embedded, offline) with small "
    "settings, each next to the baseline its paper compares with. One seed and minutes of CPU training per "
    "model: the tables show what each method does and how to read it, not the papers' gains, which need the "
    "papers' data and budgets (docs/ has the full runs). `python -m recipes.report` rebuilds this file."
)


def parse_args(argv=None):
    parser = recipe_parser("demo", __doc__)
    parser.add_argument("--no-embeddings", action="store_true", help="skip the MiniLM sentence embeddings")
    parser.add_argument("--dag", action="store_true", help="show WordNet's DAG instead of the tree")
    parser.add_argument("--skip-hiernet", action="store_true", help="skip the HierNet recipe step")
    parser.add_argument("--skip-hgr", action="store_true", help="skip the HGR-Net zero-shot recipe step")
    parser.add_argument("--skip-multilabel", action="store_true", help="skip the multi-label zero-shot recipe step")
    parser.add_argument("--skip-long-tail", action="store_true", help="skip the long-tail transfer recipe step")
    parser.add_argument("--skip-hirl", action="store_true", help="skip the HIRL self-supervised recipe step")
    parser.add_argument("--output", default="runs/demo", help="the report folder: report.md and each recipe's outputs")
    return parse_recipe_args(parser, argv)


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def show_matrix(matrix, names, fmt="{:5.2f}"):
    width = max(len(n) for n in names)
    print(" " * (width + 1) + " ".join(f"{n[:5]:>5}" for n in names))
    for n, row in zip(names, matrix):
        print(f"{n:>{width}} " + " ".join(fmt.format(v) for v in row))


def _minutes(seconds):
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def main(argv=None):
    """Runs the tour; returns the seconds each part took (`introduction`, each recipe step that ran, `total`)."""
    args = parse_args(argv)
    start = time.time()
    from ._terminal import start_backend_quietly

    start_backend_quietly()  # TensorFlow's start-up banners, and the CUDA probe's error without a GPU driver
    import keras_hier
    from keras_hier.datasets import fashion_mnist, long_tail
    from keras_hier.knowledge import embeddings, wordnet

    names = list(fashion_mnist.CLASS_NAMES)

    section("Fashion-MNIST class hierarchy from WordNet 3.0")
    hierarchy = fashion_mnist.hierarchy(tree=not args.dag)
    print(hierarchy)
    print(hierarchy.render())
    for depth in range(1, hierarchy.max_depth + 1):
        groups = hierarchy.level(depth)
        members = hierarchy.labels_at_level(depth)
        parts = [
            f"{hierarchy.name(g)}: " + "/".join(names[i] for i in np.flatnonzero(members == k))
            for k, g in enumerate(groups)
        ]
        print(f"level {depth} ({len(groups)} groups): " + "; ".join(parts))

    section("Data")
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    print(f"source: {fashion_mnist.find_data_dir() or 'keras.datasets download'}")
    print(f"train: {x_train.shape} {x_train.dtype}, test: {x_test.shape} {x_test.dtype}")
    print(f"pixels: mean {x_train.mean() / 255:.3f}, std {x_train.std() / 255:.3f} (in [0, 1])")
    train_counts = np.bincount(y_train, minlength=10)
    test_counts = np.bincount(y_test, minlength=10)
    for i, n in enumerate(names):
        print(f"  {i} {n:<12} train {train_counts[i]:>5}  test {test_counts[i]:>5}  WordNet {fashion_mnist.SYNSETS[i]}")

    section("WordNet Wu-Palmer similarity of the classes")
    show_matrix(wordnet.wup_matrix(fashion_mnist.WNIDS), names)

    section("GloVe 50-d class-name embeddings: cosine similarity")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glove = embeddings.glove_embeddings(names)
    glove /= np.linalg.norm(glove, axis=1, keepdims=True)
    show_matrix(glove @ glove.T, names)

    if not args.no_embeddings:
        section("all-MiniLM-L6-v2 embeddings of 'a photo of a {name}.': nearest class")
        texts = [f"a photo of a {n.lower()}." for n in names]
        sentences = embeddings.sentence_embeddings(texts)
        sim = sentences @ sentences.T
        np.fill_diagonal(sim, -1)
        for i, n in enumerate(names):
            j = int(sim[i].argmax())
            print(f"  {n:<12} -> {names[j]:<12} (cosine {sim[i, j]:.2f})")

    section("Fashion-MNIST-LT (ImageNet-LT's Pareto recipe, alpha = 6, 6000 -> 5 images)")
    keep = long_tail.pareto_subsample(y_train, max_per_class=6000, min_per_class=5, seed=0)
    counts = np.bincount(y_train[keep], minlength=10)
    groups = long_tail.shot_groups(counts)
    for i in np.argsort(-counts):
        group = next(g for g, members in groups.items() if i in members)
        print(f"  {names[i]:<12} {counts[i]:>5}  {group}-shot  " + "#" * max(1, int(np.log2(counts[i]) * 3)))
    print(f"total {counts.sum()} training images; test set stays balanced ({len(y_test)} images)")

    import importlib
    import os

    from .report import timing_summary, write_report

    skip_flag = {"multilabel_zsl": "skip_multilabel"}
    steps = [step for step in RECIPE_STEPS if not getattr(args, skip_flag.get(step[0], "skip_" + step[0]))]
    timings = {"introduction": time.time() - start}
    metrics = {}
    for k, (key, module, title, flags) in enumerate(steps, 1):
        left = sum(EXPECTED_SECONDS[s[0]] for s in steps[k - 1:])
        section(f"[{k}/{len(steps)}] {title} (small settings; python -m recipes.{module})")
        print(f"[{k}/{len(steps)}] expected {_minutes(EXPECTED_SECONDS[key])}; {_minutes(time.time() - start)} so far, "
              f"about {_minutes(left)} left")
        step_start = time.time()
        recipe = importlib.import_module(f".{module}", __package__)
        metrics[key] = recipe.main(flags + ["--output", os.path.join(args.output, key)])
        timings[key] = time.time() - step_start
        print(f"[{k}/{len(steps)}] {key}: {_minutes(timings[key])} (expected {_minutes(EXPECTED_SECONDS[key])})")
    timings["total"] = time.time() - start
    if steps:
        path = write_report(args.output, metrics, seconds=timings["total"], intro=REPORT_INTRO, timings=timings)
        section("Report")
        print(f"{path}: a table per method, the plots and one SavedModel per method under {args.output}/")
    print(f"\nkeras_hier {keras_hier.__version__}: demo finished in {timings['total']:.1f} s "
          f"({timing_summary(timings)})")
    return timings


if __name__ == "__main__":
    main()
