"""HGR-Net recipe: zero-shot classification with flat (CLIP) vs hierarchical InfoNCE, same budget.

`python -m recipes.hgr_zero_shot` trains, for each seed, two dual encoders on the seen classes of
Fashion-MNIST: a small CNN image tower from scratch and the frozen all-MiniLM-L6-v2 text tower over the texts
"a photo of a {name}." of every node of the WordNet hierarchy (classes and super-classes). One trains with the
flat InfoNCE of CLIP, the other with HGR-Net's hierarchical InfoNCE; same steps, optimizer and schedule. Both
are evaluated on the test images of the unseen classes: Hit@k among the unseen classes, TOR and POR over every
node. Writes metrics.json, plots, and the last HGR model as a SavedModel mapping an image to unseen-class
probabilities.
"""

import os
import time

import numpy as np

from ._common import (
    FRACTION, NON_NEGATIVE_FLOAT, NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, add_run_flags, comma_list,
    mean_and_spread, over_seeds, parse_recipe_args, recipe_parser, run_under_runtime, spreads, stat_text,
)
from ._hierarchical import summarise_rows
from ._training import Training

METHODS = ("flat", "hgr")
TOWERS = ("cnn-minilm", "cnn-minilm-trainable", "clip-config", "clip-preset")
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
# Fashion-MNIST's "Shirt" is WordNet's dress_shirt.n.01, whose hypernym shirt.n.01 is a node of the tree too:
# the class takes its synset's lemma so that the two texts differ.
TEXT_NAMES = {"n03238879": "dress shirt"}


def parse_args(argv=None):
    p = recipe_parser("hgr_zero_shot", __doc__)
    p.add_argument("--data-dir", default=None,
                   help="a folder holding Fashion-MNIST's four .gz files (default: the Debian package's or Keras' copy)")
    p.add_argument("--unseen", default="Sandal,Shirt,Pullover",
                   help="comma-separated unseen classes (each has a seen WordNet sibling or cousin)")
    p.add_argument("--validate", action="store_true",
                   help="choose settings without touching the unseen classes: drop them entirely, hold out "
                        "--validation-unseen seen classes instead and evaluate on their training images")
    p.add_argument("--validation-unseen", default="Sneaker,T-shirt/top,Coat",
                   help="with --validate: seen classes held out as unseen (relatives of the real unseen ones)")
    p.add_argument("--methods", default="flat,hgr", help="flat (CLIP InfoNCE) and/or hgr")
    p.add_argument("--epochs", type=POSITIVE_FLOAT, default=2, help="epochs over the seen images, per model")
    p.add_argument("--train-size", type=NON_NEGATIVE_INT, default=0, help="seen training images used (0: all)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=256)
    p.add_argument("--lr", type=POSITIVE_FLOAT, default=1e-3, help="AdamW peak learning rate (paper, fine-tuning CLIP: 3e-7)")
    p.add_argument("--weight-decay", type=NON_NEGATIVE_FLOAT, default=0.01,
                   help="AdamW weight decay: decoupled and multiplied by the learning rate, as in both "
                        "keras.optimizers.AdamW and the paper's torch.optim.AdamW (default: the supplement's \"default "
                        "weight decay\", torch.optim.AdamW's 0.01; the official code: 0)")
    p.add_argument("--towers", default="cnn-minilm", choices=TOWERS,
                   help="cnn-minilm: small CNN + frozen MiniLM texts; cnn-minilm-trainable: MiniLM trains too; "
                        "clip-config: a small CLIP (ViT + text transformer) from scratch; clip-preset: a pretrained "
                        "keras-hub CLIP (--clip-preset, needs internet; the paper fine-tunes CLIP RN50 at lr 3e-7)")
    p.add_argument("--clip-preset", default="clip_vit_base_patch16", help="keras-hub CLIP preset name or preset folder, for --towers clip-preset")
    p.add_argument("--projection-dim", type=POSITIVE_INT, default=128, help="joint space size (cnn towers with --project-text, clip-config)")
    p.add_argument("--project-text", action="store_true",
                   help="also project the (frozen) text features; default: images are projected into MiniLM's space")
    # Defaults chosen with --validate (seen classes standing in for the unseen ones; docs/hgr.md): whole chains,
    # negatives from the inner node's own level, equal weights. The paper's: K 0.25, M 0.5, topk, adaptive.
    p.add_argument("--outer-ratio", type=FRACTION, default=1.0,
                   help="K, share of the label's chain used as anchors (paper: 0.25)")
    p.add_argument("--inner-ratio", type=FRACTION, default=1.0,
                   help="M, share of the anchor's chain used as inner nodes (paper: 0.5)")
    p.add_argument("--weighting", default="equal", help="layer weights (paper: adaptive)",
                   choices=("equal", "increasing", "decreasing", "nl_increasing", "nl_decreasing", "inverse_count",
                            "adaptive"))
    p.add_argument("--negatives", default="level", choices=("topk", "level", "siblings", "random"),
                   help="where each inner node's negatives come from (paper: topk, the level above)")
    p.add_argument("--max-classes", type=POSITIVE_INT, default=256, help="largest compare set")
    p.add_argument("--transductive", action="store_true",
                   help="draw unseen class texts as negatives too, as the official code does (default: never)")
    p.add_argument("--weights-lr", type=POSITIVE_FLOAT, default=1e-4, help="SGD learning rate of the adaptive layer weights")
    p.add_argument("--template", default="a photo of a {}.", help="the class text, {} the class or node name")
    add_run_flags(p, "runs/hgr_zero_shot", seeds="0,1,2")
    return parse_recipe_args(p, argv)


def image_tower(input_shape, width=32):
    """A small CNN from images to pooled features (4 * width). Batch-norm momentum 0.9: the moving statistics
    must settle within short runs (Keras' 0.99 lags for hundreds of steps)."""
    import keras

    from keras_hier.distribute import batch_normalization

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, filters in enumerate((width, 2 * width, 4 * width)):
        for j in range(2):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}_{j}")(x)
            x = batch_normalization(momentum=0.9, name=f"bn{i}_{j}")(x)
            x = keras.layers.ReLU(name=f"relu{i}_{j}")(x)
        if i < 2:
            x = keras.layers.MaxPooling2D(name=f"pool{i}")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, outputs, name="image_tower")


def to_clip_input(input_shape, size):
    """Grey images in [0, 1] to the RGB size and normalisation of a CLIP preset, as a Keras model."""
    import keras

    images = keras.Input(input_shape, name="images")
    x = keras.layers.Resizing(size, size, interpolation="bicubic", name="resize")(images)
    x = keras.layers.Concatenate(name="rgb")([x, x, x]) if input_shape[-1] == 1 else x
    x = keras.layers.Normalization(mean=CLIP_MEAN, variance=[s * s for s in CLIP_STD], name="clip_normalize")(x)
    return keras.Model(images, x, name="to_clip_input")


def build_model(args, input_shape, prompts, text_features):
    from keras_hier.models import DualEncoder

    if args.towers == "cnn-minilm":
        return DualEncoder(image_tower(input_shape), text_features, projection_dim=args.projection_dim,
                           project_text=args.project_text)
    if args.towers == "cnn-minilm-trainable":
        return DualEncoder.from_minilm(image_tower(input_shape), prompts, trainable_text=True,
                                       projection_dim=args.projection_dim, project_text=args.project_text)
    if args.towers == "clip-config":
        return DualEncoder.from_clip_config(prompts, image_shape=input_shape, patch_size=7, hidden_dim=128,
                                            num_layers=4, num_heads=4, intermediate_dim=256,
                                            projection_dim=args.projection_dim, sequence_length=16)
    return DualEncoder.from_clip_preset(args.clip_preset, prompts,
                                        image_preprocessing=lambda shape: to_clip_input(input_shape, shape[0]))


def train_and_evaluate(method, seed, args, training, hierarchy, prompts, text_features, train, test, unseen,
                       hidden=(), budget=None):
    """Trains one dual encoder (the stage `seed{seed}/{method}` of `training`) and scores it on `test` (images of
    the `unseen` classes). Unseen classes are never negatives (unless --transductive), `hidden` classes never.
    Appends the training budget to the list `budget`."""
    import keras

    from keras_hier.datasets.pipeline import make_batches
    from keras_hier.losses import HierarchicalInfoNCE
    from keras_hier.metrics import hierarchical_summary, hit_at_k, point_overlap_ratio, top_overlap_ratio

    keras.utils.set_random_seed(seed)
    model = build_model(args, train[0].shape[1:] + (1,), prompts, text_features)
    per_pass = max(1, len(train[0]) // args.batch_size)
    steps = training.stage_steps(args.epochs, per_pass)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, steps)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=args.weight_decay, global_clipnorm=1.0)
    loss = HierarchicalInfoNCE(
        hierarchy,
        outer_ratio=args.outer_ratio,
        inner_ratio=args.inner_ratio,
        negatives=args.negatives,
        max_classes=args.max_classes,
        weighting=args.weighting,
        flat=method == "flat",
        excluded=[int(c) for c in hidden] + ([] if args.transductive else [int(u) for u in unseen]) or None,
        seed=seed,
    )
    model.compile(optimizer=optimizer, loss=loss, weights_optimizer=keras.optimizers.SGD(args.weights_lr))
    print(f"\n{method}, seed {seed}: {steps} steps")
    training.fit(f"seed{seed}/{method}", model,
                 lambda first: make_batches(*train, batch_size=args.batch_size, shuffle=True, seed=seed,
                                            drop_remainder=True, repeat=True, first_batch=first),
                 steps, per_pass, budget)
    logits = model.predict(make_batches(*test, batch_size=512), verbose=0)
    k = tuple(kk for kk in (1, 2, 5, 10, 20) if kk <= len(unseen))
    result = {f"hit@{kk}": v for kk, v in hit_at_k(logits, test[1], hierarchy, k=k, candidates=unseen).items()}
    result["tor"] = top_overlap_ratio(logits, test[1], hierarchy)
    result["por"] = point_overlap_ratio(logits, test[1], hierarchy)
    if loss.layer_weights is not None:
        result["layer_weights"] = [float(v) for v in np.asarray(loss.layer_weights)]
    print("  " + ", ".join(f"{key} {value:.4f}" for key, value in result.items() if key != "layer_weights"))
    # How far the zero-shot mistakes land in WordNet: the unseen classes ranked, their distances in the whole tree.
    result["hierarchical"] = hierarchical_summary(test[1], hierarchy, y_score=logits[:, np.asarray(unseen)],
                                                  candidates=unseen, k=2)
    print(f"  mistake severity {result['hierarchical']['mistake_severity']:.3f}, "
          f"hF1 {result['hierarchical']['hierarchical_f1']:.4f}")
    return model, result


def main(argv=None):
    """Runs the recipe with command-line `argv` (default: sys.argv) and returns its metrics."""
    return run_under_runtime(parse_args(argv), run)


def run(args, precision):
    """The recipe under the precision and strategy `main` set up."""
    from keras_hier import plotting
    from keras_hier.datasets import fashion_mnist
    from keras_hier.datasets.splits import stratified_split
    from keras_hier.datasets.zero_shot import split_classes
    from keras_hier.knowledge.embeddings import sentence_embeddings
    from keras_hier.knowledge.prompts import class_prompts

    start = time.time()
    training = Training(args)
    methods = comma_list(args.methods, METHODS, "--methods")
    seeds = list(args.seeds)
    os.makedirs(args.output, exist_ok=True)

    hierarchy = fashion_mnist.hierarchy()
    seen, unseen = split_classes(hierarchy, comma_list(args.unseen))
    hidden = np.array([], np.int64)
    (x, y), (xt, yt) = fashion_mnist.load_data(args.data_dir)
    if args.validate:
        # The real unseen classes disappear (no images, never negatives); seen classes stand in for them and
        # are scored on their training images, so the test classes are not used to choose settings.
        hidden = unseen
        valid, unseen = split_classes(hierarchy, comma_list(args.validation_unseen))
        if np.isin(unseen, hidden).any():
            raise SystemExit("--validation-unseen must name seen classes, not --unseen ones.")
        seen = np.setdiff1d(valid, hidden)
        held = np.flatnonzero(np.isin(y, unseen))
        held = held[np.random.default_rng(0).permutation(len(held))[:3000]]
        xt, yt = x[held], y[held]
    keep = np.isin(y, seen)
    x, y = x[keep], y[keep].astype(np.int32)
    if args.train_size and args.train_size < len(x):
        idx, _ = stratified_split(y, 1 - args.train_size / len(x), seed=0)
        x, y = x[idx], y[idx]
    test_keep = np.isin(yt, unseen)
    test = (xt[test_keep], yt[test_keep].astype(np.int32))
    names = [hierarchy.name(leaf) for leaf in hierarchy.leaves]
    split = "validation" if args.validate else "test"
    print(f"Fashion-MNIST zero-shot: seen {[names[i] for i in seen]}, unseen {[names[i] for i in unseen]}"
          + (f", hidden {[names[i] for i in hidden]}" if len(hidden) else "")
          + f"; {len(x)} training images, {len(test[0])} unseen {split} images; precision {precision}")
    print(hierarchy.render())

    prompts = class_prompts(hierarchy, args.template, names=TEXT_NAMES)
    text_features = sentence_embeddings(prompts) if args.towers == "cnn-minilm" else None  # frozen: once
    print(f"{len(prompts)} class texts, e.g. {prompts[0]!r}, {prompts[-1]!r}; towers {args.towers}")

    runs = {m: [] for m in methods}
    budgets = {m: [] for m in methods}  # the same steps and schedule for every method
    model = None
    for seed in seeds:
        for method in methods:
            model, result = train_and_evaluate(method, seed, args, training, hierarchy, prompts, text_features,
                                               (x, y), test, unseen, hidden, budgets[method])
            runs[method].append(result)

    summary = {}
    for method, results in runs.items():
        keys = [k for k in results[0] if k not in ("layer_weights", "hierarchical")]
        summary[method] = {k: mean_and_spread([r[k] for r in results]) for k in keys}
    hierarchical = summarise_rows([{m: runs[m][i]["hierarchical"] for m in methods} for i in range(len(seeds))])
    print(f"\n{'unseen ' + split + ', ' + over_seeds(seeds):<10}")
    print(f"{'':<10}" + "".join(f"{k:>18}" for k in summary[methods[0]]))
    for method, stats in summary.items():
        print(f"{method:<10}" + "".join(stat_text(s, seeds, 1.0, 4, 18) for s in stats.values()))

    shown = ("hit@1", "tor", "por")
    plotting.plot_bars({m: {k: s["mean"] for k, s in stats.items() if k in shown} for m, stats in summary.items()},
                       os.path.join(args.output, "zero_shot.png"),
                       f"Unseen classes {', '.join(names[i] for i in unseen)}: {over_seeds(seeds)}",
                       ylabel="score", errors=spreads({m: {k: s["std"] for k, s in stats.items() if k in shown}
                                                       for m, stats in summary.items()}, seeds))
    plotting.plot_hierarchy(hierarchy, os.path.join(args.output, "tree.png"),
                            title="Fashion-MNIST in WordNet (unseen: " + ", ".join(names[i] for i in unseen) + ")")
    hierarchy.to_json(os.path.join(args.output, "hierarchy.json"), indent=2)
    if not args.no_export and not args.validate and model is not None:
        from ._serving import export_served

        # The zero-shot classifier over the unseen classes, uint8 images in.
        export_served(model.zero_shot_model(unseen), args.output, [names[i] for i in unseen])
    metrics = {"args": vars(args), "precision": precision, "split": split, "seen": [names[i] for i in seen],
               "unseen": [names[i] for i in unseen], "hidden": [names[i] for i in hidden], "runs": runs,
               "summary": summary, "hierarchical": hierarchical, "budgets": budgets}
    return training.finish(metrics, start)


if __name__ == "__main__":
    main()
