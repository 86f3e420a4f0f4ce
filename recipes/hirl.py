"""HIRL recipe: a self-supervised base method and its HIRL variant (Xu et al., 2022), side by side.

`python -m recipes.hirl` pre-trains a base method (`--base`: the paper's six, `moco_v2` (default), `simsiam`,
`swav`, `moco_v3`, `dino`, `ibot`, and `simclr`) and HIRL on top of it with identical settings (same encoder
initialisation, augmentation, optimiser and epochs) on Fashion-MNIST's training images without their labels, then
scores both frozen encoders on the test set: weighted k-NN top-1 (cosine, T = 0.07, best of k in 10 / 20 / 100 /
200, the training images as memory bank), a linear probe, and K-means clustering accuracy, NMI and AMI; mean ± sd
over `--seeds`. The CNN bases train a small CNN (`--backbone convnet`) with SGD, the ViT bases (MoCo v3, DINO, iBOT)
a small ViT (`vit_mini`: 4-pixel patches) with AdamW and a learning-rate warm-up, as in the paper. Writes
metrics.json, a t-SNE map of both encoders' test features and bars of the scores (PNG), the HIRL model (.keras) and
its encoder with the linear probe as a serving SavedModel (uint8 images in, classes out). `--dataset image_folder
--data-dir D` reads ImageNet-style `D/train/<class>/*` and `D/val/<class>/*` folders instead; `--paper` sets the
paper's ImageNet settings for MoCo v2 (prototypes 30000,10000,1000, 1000 negative paths, 20 warm-up epochs of 200,
ResNet-50, batch 256, momentum 0.999).
"""

import json
import os
import time

import numpy as np

from ._common import (
    NON_NEGATIVE_FLOAT, NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, add_run_flags, applications_encoder,
    coupled_sgd, mean_and_spread, number, number_list, over_seeds, parse_recipe_args, recipe_parser,
    require_tensorflow, run_under_runtime, spreads, stat_text,
)
from ._hierarchical import semantic_hierarchy, summarise_rows
from ._training import Training

# Per base: the paper's encoder family, optimizer and its settings (Tab. 7 of the supplement, its learning rates
# scaled from the batch sizes of its Tab. 2 to 256: MoCo v2 0.03 at 256, SimSiam 0.1 at 512, SwAV 4.8 at 4096,
# MoCo v3 1.6e-3 at 4096, DINO and iBOT 3e-3 at 1024; SwAV's LARS is plain SGD here), DINO's and iBOT's weight decay
# rising 0.04 -> 0.4 without biases and norms and their gradient clipping at HIRL's 0.3 (`clip_grad` of the HIRL
# configurations; DINO's and iBOT's own default is 3.0), the views, and HIRL's negative paths (Tab. 1: 1000 for the
# CNN bases, 100 for the ViT ones). SimCLR is not one of the paper's bases: MoCo v2's settings.
BASES = {
    "moco_v2": dict(title="MoCo v2", family="cnn", optimizer="sgd", lr=0.03, weight_decay=1e-4, negatives=1000),
    "simsiam": dict(title="SimSiam", family="cnn", optimizer="sgd", lr=0.05, weight_decay=1e-4, negatives=1000),
    "swav": dict(title="SwAV", family="cnn", optimizer="sgd", lr=0.3, weight_decay=1e-6, negatives=1000,
                 local_crops=4),
    "moco_v3": dict(title="MoCo v3", family="vit", optimizer="adamw", lr=1e-4, weight_decay=0.1, negatives=100),
    "dino": dict(title="DINO", family="vit", optimizer="adamw", lr=7.5e-4, weight_decay=0.04, weight_decay_end=0.4,
                 clipnorm=0.3, negatives=100, local_crops=4),
    "ibot": dict(title="iBOT", family="vit", optimizer="adamw", lr=7.5e-4, weight_decay=0.04, weight_decay_end=0.4,
                 clipnorm=0.3, negatives=100, local_crops=4),
    "simclr": dict(title="SimCLR", family="cnn", optimizer="sgd", lr=0.03, weight_decay=1e-4, negatives=1000),
}

# keras_hier's own CNN stands in for the reference's ResNet-50 (PyTorch): its batch norms are PyTorch's.
PYTORCH_BATCH_NORM = {"momentum": 0.9, "epsilon": 1e-5}

PAPER = {"num_prototypes": [30000, 10000, 1000], "num_negative_paths": 1000, "warmup_epochs": 20, "epochs": 200,
         "backbone": "resnet50", "batch_size": 256, "momentum": 0.999, "lr": 0.03, "weight_decay": 1e-4,
         "projection_dim": 128, "hidden_units": 2048, "queue_size": 65536}


def parse_args(argv=None):
    p = recipe_parser("hirl", __doc__)
    p.add_argument("--dataset", default="fashion_mnist", choices=("fashion_mnist", "image_folder"))
    p.add_argument("--data-dir", help="image_folder: the folder holding train/<class>/* and val/<class>/*; "
                                      "fashion_mnist: a folder holding its four .gz files")
    p.add_argument("--image-size", type=POSITIVE_INT, default=224, help="image_folder input size")
    p.add_argument("--base", "--method", dest="base", default="moco_v2", choices=tuple(BASES),
                   help="the self-supervised base method")
    p.add_argument("--backbone", default="auto",
                   choices=("auto", "convnet", "resnet50", "resnet101", "resnet152", "vit_mini", "vit_tiny",
                            "vit_small"),
                   help="the encoder (auto: convnet for the CNN bases, vit_mini for MoCo v3, DINO and iBOT)")
    p.add_argument("--train-size", type=NON_NEGATIVE_INT, default=30000, help="training images used (0: all)")
    p.add_argument("--eval-size", type=NON_NEGATIVE_INT, default=0, help="fashion_mnist test images scored (0: all 10,000)")
    p.add_argument("--epochs", type=POSITIVE_INT, default=6, help="pre-training epochs of each model")
    p.add_argument("--warmup-epochs", type=NON_NEGATIVE_INT, default=2, help="epochs of the base method alone (T1)")
    p.add_argument("--num-prototypes", type=number_list(int, 1), default="300,100,20",
                   help="prototypes per level, finest first")
    p.add_argument("--num-negative-paths", type=POSITIVE_INT, help="negative paths per image in L_SPD (default: the "
                   "paper's Tab. 1, 1000 for the CNN bases, 100 for the ViT ones)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=256)
    p.add_argument("--lr", type=POSITIVE_FLOAT, help="learning rate at batch 256 (scaled), cosine decay (default: "
                   "the base's, " + ", ".join(f"{k} {v['lr']:g}" for k, v in BASES.items()) + ")")
    p.add_argument("--lr-warmup-epochs", type=NON_NEGATIVE_INT,
                   help="linear learning-rate warm-up from 0 (default: 1 for the ViT bases, 0 for the CNN ones)")
    p.add_argument("--weight-decay", type=NON_NEGATIVE_FLOAT,
                   help="SGD bases: coupled L2 as the papers mean it (PyTorch's SGD; keras_hier.optimizers."
                        "CoupledSGD), about ten times stronger than the same value in keras.optimizers.SGD at "
                        "momentum 0.9; AdamW bases: decoupled, as PyTorch's and Keras' AdamW; DINO and iBOT: the "
                        "start of the cosine rise to 10 times it, biases and norms undecayed (default: the base's, "
                        + ", ".join(f"{k} {v['weight_decay']:g}" for k, v in BASES.items()) + ")")
    p.add_argument("--local-crops", type=NON_NEGATIVE_INT, help="small crops per image for SwAV, DINO and iBOT "
                   "(12 px of 28; default 4, the paper: 6 for SwAV, 10 for DINO and iBOT)")
    p.add_argument("--projection-dim", type=POSITIVE_INT, default=128, help="projection head output size")
    p.add_argument("--hidden-units", type=POSITIVE_INT, default=512, help="projection head hidden width")
    p.add_argument("--queue-size", type=POSITIVE_INT, default=4096, help="MoCo v2 negatives")
    p.add_argument("--momentum", type=number(float, 0, 1), default=0.99, help="MoCo v2 key-encoder momentum")
    p.add_argument("--untrained", action="store_true",
                   help="also score each seed's encoder before any step (the floor that pre-training must beat)")
    p.add_argument("--paper", action="store_true", help="the paper's ImageNet settings: " + json.dumps(PAPER))
    add_run_flags(p, "runs/hirl")
    args = parse_recipe_args(p, argv)
    if args.paper:
        if args.base != "moco_v2":
            raise SystemExit("--paper sets the paper's MoCo v2 settings: use it with --base moco_v2.")
        for key, value in PAPER.items():
            setattr(args, key, value)
    settings = BASES[args.base]
    if args.backbone == "auto":
        args.backbone = "vit_mini" if settings["family"] == "vit" else "convnet"
    if args.lr is None:
        args.lr = settings["lr"]
    if args.weight_decay is None:
        args.weight_decay = settings["weight_decay"]
    if args.num_negative_paths is None:
        args.num_negative_paths = settings["negatives"]
    if args.lr_warmup_epochs is None:
        args.lr_warmup_epochs = 1 if settings["family"] == "vit" else 0
    if args.local_crops is None:
        args.local_crops = settings.get("local_crops", 0)
    if not 0 <= args.warmup_epochs < args.epochs:
        raise SystemExit(f"--warmup-epochs must be in [0, --epochs); got {args.warmup_epochs} of {args.epochs}.")
    if args.lr_warmup_epochs >= args.epochs:
        raise SystemExit(f"--lr-warmup-epochs must be below --epochs; got {args.lr_warmup_epochs} of {args.epochs}.")
    return args


def fashion_data(args):
    from keras_hier.datasets import fashion_mnist

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data_dir)
    n = args.train_size or len(x_train)
    keep = np.random.default_rng(0).permutation(len(x_train))[:n]

    def images(x):
        return x[..., None].astype(np.float32) / 255.0

    train = images(x_train[keep])
    m = args.eval_size or len(x_test)
    return {"train": train, "train_labels": y_train[keep].astype(np.int64), "test": images(x_test[:m]),
            "test_labels": y_test[:m].astype(np.int64), "class_names": fashion_mnist.CLASS_NAMES,
            "input_shape": train.shape[1:], "hierarchy": semantic_hierarchy(fashion_mnist.hierarchy)}


def folder_data(args):
    """ImageNet-style folders, read by tf.data; HIRL's batches carry each image's index as the label."""
    require_tensorflow("--dataset image_folder")
    from keras_hier.datasets.image_folder import files_dataset, list_images

    if not args.data_dir:
        raise SystemExit("--dataset image_folder needs --data-dir (with train/<class>/* and val/<class>/*).")
    files, labels, names = list_images(os.path.join(args.data_dir, "train"))
    test_files, test_labels, _ = list_images(os.path.join(args.data_dir, "val"), names)
    if args.train_size and args.train_size < len(files):
        keep = np.sort(np.random.default_rng(0).permutation(len(files))[: args.train_size])
        files, labels = [files[i] for i in keep], labels[keep]
    size = (args.image_size, args.image_size)

    def ordered(paths):
        return files_dataset(paths, np.arange(len(paths)), size, args.batch_size, shuffle=False)

    return {"train": ordered(files), "train_labels": np.asarray(labels), "test": ordered(test_files),
            "test_labels": np.asarray(test_labels), "class_names": names, "input_shape": size + (3,),
            "shuffled": lambda seed, first: files_dataset(files, np.arange(len(files)), size, args.batch_size,
                                                          shuffle=True, seed=seed, repeat=True, first_batch=first)}


def build_encoder(args, input_shape):
    """The encoder `--backbone` names, for images of `input_shape`."""
    from keras_hier.backbones import convnet, vit

    if args.backbone == "convnet":
        return convnet(input_shape)
    if args.backbone.startswith("vit"):
        options = {"ibot": dict(mask_token=True),  # MoCo v3's remedies for instability on ViTs:
                   "moco_v3": dict(position_embedding="sincos", patch_embedding_trainable=False)}
        patch = {} if input_shape[0] >= 96 else {"patch_size": 4}
        return vit(input_shape, args.backbone, name="encoder", **patch, **options.get(args.base, {}))
    return applications_encoder(args.backbone, input_shape, batch_norm=PYTORCH_BATCH_NORM)


def build_base(args, input_shape, seed, total_steps):
    """The base method of `--base` with its paper's settings scaled to this run of `total_steps` steps: MoCo v3's and
    DINO's momentum schedules over the run, DINO's teacher-temperature warm-up over its first 30 % (DINO: 30 of 100
    epochs) and its frozen last layer for the first 1 % (one of 100 epochs), SwAV's frozen prototypes for the first
    1 %."""
    import keras

    from keras_hier.models.ssl import DINO, IBOT, MoCoV2, MoCoV3, SimCLR, SimSiam, SwAV

    keras.utils.set_random_seed(seed)
    encoder = build_encoder(args, input_shape)
    side = int(input_shape[0])
    local = dict(num_local_crops=args.local_crops, local_size=max(4, round(side * 3 / 7 / 4) * 4))
    early = max(1, total_steps // 100)
    if args.base == "moco_v2":
        return MoCoV2(encoder, args.projection_dim, args.hidden_units, queue_size=args.queue_size,
                      momentum=args.momentum, seed=seed)
    if args.base == "simclr":
        return SimCLR(encoder, args.projection_dim, args.hidden_units)
    if args.base == "simsiam":
        return SimSiam(encoder, projection_dim=4 * args.projection_dim, predictor_units=args.projection_dim)
    if args.base == "swav":
        return SwAV(encoder, args.projection_dim, 4 * args.hidden_units, num_prototypes=10 * args.num_prototypes[0],
                    freeze_prototypes_steps=early, **local)
    if args.base == "moco_v3":
        return MoCoV3(encoder, 2 * args.projection_dim, 4 * args.hidden_units, momentum=args.momentum,
                      momentum_schedule_steps=total_steps)
    dino = dict(output_dim=16 * args.hidden_units, hidden_units=4 * args.hidden_units,
                bottleneck_units=2 * args.projection_dim, teacher_temperature_warmup_steps=int(0.3 * total_steps),
                momentum=0.996, momentum_schedule_steps=total_steps, freeze_last_layer_steps=early, **local)
    if args.base == "dino":
        return DINO(encoder, **dino)
    return IBOT(encoder, seed=seed, **dino)


def optimizer(args, steps, per_epoch):
    """The base's optimizer over `steps` steps: SGD with coupled weight decay (momentum 0.9) or AdamW, the learning
    rate scaled to the batch size, warmed up linearly over `--lr-warmup-epochs`, then a cosine decay. DINO and iBOT:
    AdamW with their cosine weight-decay schedule (`--weight-decay` to 10 times it over the run; biases and norms
    undecayed) and per-parameter gradient clipping (`keras_hier.optimizers.ScheduledAdamW`)."""
    import keras

    from keras_hier.optimizers import ScheduledAdamW

    peak = args.lr * args.batch_size / 256
    warmup = min(args.lr_warmup_epochs * per_epoch, steps - 1)
    schedule = keras.optimizers.schedules.CosineDecay(0.0 if warmup else peak, steps - warmup,
                                                      warmup_target=peak if warmup else None, warmup_steps=warmup)
    settings = BASES[args.base]
    if "weight_decay_end" in settings:
        end = args.weight_decay * settings["weight_decay_end"] / settings["weight_decay"]
        return ScheduledAdamW(schedule, weight_decay=args.weight_decay, weight_decay_end=end, weight_decay_steps=steps,
                              clipnorm=settings["clipnorm"], beta_1=0.9, beta_2=0.999)
    if settings["optimizer"] == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=args.weight_decay, beta_1=0.9, beta_2=0.999)
    return coupled_sgd(schedule, args.weight_decay)


def training_steps(args, training, n):
    """`(steps of one model's run, steps per pass over the `n` training images, steps per epoch)`."""
    per_pass = max(1, n // args.batch_size)
    return training.stage_steps(args.epochs, per_pass), per_pass, training.steps_per_epoch(per_pass)


def pretrain(model, name, args, training, data, seed, budget=None):
    """Trains `model` (a base method or HIRL; the stage `name` of `training`) and returns it; appends its training
    budget to the list `budget`."""
    import keras

    from keras_hier.datasets.pipeline import make_batches

    n = len(data["train_labels"])
    steps, per_pass, per_epoch = training_steps(args, training, n)
    model.compile(optimizer=optimizer(args, steps, per_epoch))
    kwargs = {"cluster_data": data["train"]} if hasattr(model, "update_prototypes") else {}
    if "shuffled" in data:  # tf.data: (images, index) batches; HIRL clusters the ordered pipeline
        def batches(first):
            return data["shuffled"](seed, first)
    else:  # (images, index) batches of the arrays
        def batches(first):
            return make_batches(data["train"], np.arange(n), batch_size=args.batch_size, shuffle=True, seed=seed,
                                drop_remainder=True, repeat=True, first_batch=first)
    training.fit(name, model, batches, steps, per_pass, budget, **kwargs)
    return model


def encode(encoder, images, batch_size):
    import keras

    from keras_hier.datasets.prefetch import array_batches_dataset

    if isinstance(images, np.ndarray):
        if keras.backend.backend() != "tensorflow":  # Keras' own array batches, no tf.data
            return np.asarray(encoder.predict(images, batch_size=batch_size, verbose=0))
        return np.asarray(encoder.predict(array_batches_dataset(images, batch_size), verbose=0))
    return np.asarray(encoder.predict(images.map(lambda x, i: x), verbose=0))  # keeps the pipeline's options


def probe_classifier(encoder, probe):
    """The encoder and a fitted `keras_hier.metrics.linear_probe` as one Keras model, images -> class probabilities
    (the standardisation folded into one Dense softmax layer), and the probe's classes in output order."""
    import keras

    scaler, logistic = probe[0], probe[-1]
    coef = np.asarray(logistic.coef_, np.float64).T  # [d, classes], or [d, 1] for two classes
    kernel = coef / scaler.scale_[:, None]
    bias = np.asarray(logistic.intercept_, np.float64) - (scaler.mean_ / scaler.scale_) @ coef
    if kernel.shape[1] == 1:  # binary: p(1) = sigmoid(z) = softmax([0, z])
        kernel, bias = np.concatenate([np.zeros_like(kernel), kernel], 1), np.concatenate([[0.0], bias])
    dense = keras.layers.Dense(kernel.shape[1], activation="softmax", dtype="float32", name="linear_probe")
    outputs = dense(encoder.outputs[0])
    dense.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return keras.Model(encoder.inputs[0], outputs, name="encoder_with_linear_probe"), list(logistic.classes_)


def evaluate(encoder, data, args, seed):
    """Scores of the frozen encoder, its test features, and its fitted linear probe."""
    from keras_hier.metrics import (
        clustering_scores, hierarchical_summary, knn_accuracies, linear_probe, risk_minimising_decision,
    )

    train = encode(encoder, data["train"], args.batch_size)
    test = encode(encoder, data["test"], args.batch_size)
    knn, votes = knn_accuracies(train, data["train_labels"], test, data["test_labels"], return_votes=True)
    probe = linear_probe(train, data["train_labels"], max_iter=300, seed=seed)
    scores = {"knn_top1": max(knn.values()), "knn": {str(k): v for k, v in knn.items()},
              "linear_probe": float((probe.predict(test) == data["test_labels"]).mean()),
              **{f"cluster_{k}": v for k, v in clustering_scores(test, data["test_labels"], seed=seed).items()}}
    if data.get("hierarchy") is not None:  # how bad the k-NN classifier's mistakes are (docs/metrics.md)
        scores["hierarchical"] = hierarchical_summary(data["test_labels"], data["hierarchy"], y_score=votes)
        # The risk-minimising decision on the votes as a distribution.
        shares = votes / np.maximum(votes.sum(axis=1, keepdims=True), 1e-30)
        scores["hierarchical_crm"] = hierarchical_summary(data["test_labels"], data["hierarchy"],
                                                          y_pred=risk_minimising_decision(shares, data["hierarchy"]))
    return scores, test, probe


def main(argv=None):
    """Runs the recipe with command-line `argv` (default: sys.argv) and returns its metrics."""
    return run_under_runtime(parse_args(argv), run)


def run(args, precision):
    """The recipe under the precision and strategy `main` set up."""
    from keras_hier import plotting
    from keras_hier.models import HIRL

    start = time.time()
    training = Training(args)
    seeds = list(args.seeds)
    prototypes = list(args.num_prototypes)
    os.makedirs(args.output, exist_ok=True)
    data = fashion_data(args) if args.dataset == "fashion_mnist" else folder_data(args)
    base_name = BASES[args.base]["title"]
    names = (base_name, f"HIRL-{base_name}")
    total_steps, _, _ = training_steps(args, training, len(data["train_labels"]))
    print(f"{args.dataset}: {len(data['train_labels'])} training / {len(data['test_labels'])} test images; "
          f"{names[0]} vs {names[1]}, {args.epochs} epochs ({args.warmup_epochs} warm-up), prototypes {prototypes}, "
          f"precision {precision}")
    runs, test_features, hirl = [], {}, None
    budgets = {name: [] for name in names}  # same epochs and schedule for the base method and HIRL
    untrained = []  # each seed's encoder before any step (`--untrained`)
    for seed in seeds:
        if args.untrained:
            scores, _, _ = evaluate(build_base(args, data["input_shape"], seed, total_steps).encoder, data, args, seed)
            untrained.append({"seed": seed, "model": "untrained", **scores})
            print(f"untrained encoder, seed {seed}: knn_top1 {scores['knn_top1']:.4f}, "
                  f"linear_probe {scores['linear_probe']:.4f}")
        for name in names:
            t = time.time()
            print(f"\n== {name}, seed {seed}")
            model = build_base(args, data["input_shape"], seed, total_steps)
            if name != names[0]:
                model = hirl = HIRL(model, prototypes, args.num_negative_paths, args.warmup_epochs, seed=seed)
            pretrain(model, f"seed{seed}/{'hirl' if name != names[0] else 'base'}", args, training, data, seed,
                     budgets[name])
            scores, test_features[name], probe = evaluate(model.encoder, data, args, seed)
            runs.append({"seed": seed, "model": name, "seconds": time.time() - t, **scores})
            print(f"{name} seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()
                                                       if k not in ("knn", "hierarchical", "hierarchical_crm")))

    keys = ("knn_top1", "linear_probe", "cluster_accuracy", "cluster_nmi", "cluster_ami")
    summary = {n: {k: mean_and_spread([r[k] for r in runs if r["model"] == n]) for k in keys} for n in names}
    print(f"\n{'test, ' + over_seeds(seeds):<40}" + "".join(f"{k:>18}" for k in keys))
    rows = dict(summary)
    if untrained:
        rows["untrained encoder"] = {k: mean_and_spread([r[k] for r in untrained]) for k in keys}
    for n, row in rows.items():
        print(f"{n:<40}" + "".join(stat_text(s, seeds, width=18) for s in row.values()))
    print("HIRL - base, k-NN top-1 per seed (points): " + ", ".join(
        f"{100 * (b['knn_top1'] - a['knn_top1']):+.2f}" for a, b in zip(runs[::2], runs[1::2])))

    plotting.plot_tsne(test_features, data["test_labels"], os.path.join(args.output, "tsne.png"),
                       data["class_names"], title=f"t-SNE of the test features (seed {seeds[-1]})")
    plotting.plot_bars({n: {k: summary[n][k]["mean"] for k in keys} for n in names},
                       os.path.join(args.output, "scores.png"),
                       f"{names[0]} vs {names[1]} (test, frozen encoders, {over_seeds(seeds)})",
                       ylabel="score", errors=spreads({n: {k: summary[n][k]["std"] for k in keys} for n in names}, seeds))
    from keras_hier._io import save_model_atomic

    save_model_atomic(hirl, os.path.join(args.output, "hirl.keras"))
    if not args.no_export:
        from ._serving import export_served

        # The last HIRL encoder with its linear probe: uint8 images in, classes out.
        classifier, classes = probe_classifier(hirl.encoder, probe)
        export_served(classifier, args.output, [data["class_names"][c] for c in classes])
    metrics = {"args": vars(args), "precision": precision, "runs": runs, "summary": summary, "budgets": budgets}
    if data.get("hierarchy") is not None:  # the k-NN classifiers' mistakes, mean ± sd over seeds
        by_seed = [{**{n: row for r in runs if r["seed"] == s
                       for n, row in ((r["model"], r["hierarchical"]), (f"{r['model']} + CRM", r["hierarchical_crm"]))},
                    **{"untrained encoder": r["hierarchical"] for r in untrained if r["seed"] == s}} for s in seeds]
        metrics["hierarchical"] = summarise_rows(by_seed)
        print("k-NN mistake severity on WordNet: " + ", ".join(
            f"{n} {row['mistake_severity']['mean']:.3f}" for n, row in metrics["hierarchical"].items()))
    if untrained:
        metrics["untrained"] = {"runs": untrained, "summary": rows["untrained encoder"]}
    return training.finish(metrics, start)


if __name__ == "__main__":
    main()
