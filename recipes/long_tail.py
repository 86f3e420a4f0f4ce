"""Long-tail recipe: compositional knowledge transfer (Parisot et al., CVPR 2022) on Fashion-MNIST-LT.

`python -m recipes.long_tail` makes Fashion-MNIST-LT (ImageNet-LT's Pareto recipe scaled to 10 classes: 6,000 down
to 5 images per class, balanced test set), trains an encoder with a cosine classifier (instance sampling, and with
`--balanced-softmax` the balanced softmax loss too), computes class prototypes, chooses the attention temperature
and mixing weight on the validation half of the test set, and prints the paper's table on the test half: rows
Prototypes, Cosine classifier, Classifier + prototypes, w^h(k) for two k, the continual ensemble and the ensemble of
three; columns many / medium / few / total, mean ± sd over seeds. Writes metrics.json, per-group accuracy bars,
the attended classes of the few-shot classes with their WordNet Leacock-Chodorow similarity, and the encoder with
the ensemble head as a SavedModel.
"""

import os
import time

import numpy as np

from ._common import (
    NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, add_run_flags, add_weight_decay_flag, applications_encoder,
    comma_list, coupled_sgd, mean_and_spread, number_list, over_seeds, parse_recipe_args, recipe_parser,
    require_tensorflow, run_under_runtime, split_halves, spreads, stat_text,
)
from ._hierarchical import semantic_hierarchy, summarise_rows
from ._training import Training

ATTENTIONS = ("p->w", "w->p", "w->w", "p->p")  # keras_hier.models.compositional_transfer.ATTENTIONS
TEMPERATURES = "0.05,0.1,0.2,0.5"
MIXES = "0.5,1,2,4,8,16"


def parse_args(argv=None):
    p = recipe_parser("long_tail", __doc__)
    p.add_argument("--dataset", default="fashion_lt", choices=("fashion_lt", "imagenet_lt", "places_lt"))
    p.add_argument("--data-dir", help="imagenet_lt / places_lt: the image root the split files' paths start from; "
                                      "fashion_lt: a folder holding Fashion-MNIST's four .gz files")
    p.add_argument("--split-dir", help="folder with ImageNet_LT_{train,val,test}.txt or Places_LT_*.txt "
                                       "(default: --data-dir)")
    p.add_argument("--backbone", default="cifar_resnet", choices=("cifar_resnet", "resnet50", "resnet101", "resnet152"),
                   help="cifar_resnet (--depth); keras.applications ResNets for the paper's data (the paper: "
                        "ResNeXt-50 on ImageNet-LT, which neither keras.applications nor keras-hub has; ResNet-152 on "
                        "Places-LT with ImageNet weights)")
    p.add_argument("--weights", default="none", help="keras.applications weights: 'imagenet' (online) or 'none'")
    p.add_argument("--image-size", type=POSITIVE_INT, default=224, help="imagenet_lt / places_lt input size")
    p.add_argument("--losses", default="ce,balanced_softmax",
                   help="encoders to train, one table each: ce (cross-entropy) and/or balanced_softmax")
    p.add_argument("--epochs", type=POSITIVE_FLOAT, default=6, help="encoder training epochs (the paper: 90 on ImageNet-LT)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=128, help="(the paper: 512)")
    p.add_argument("--lr", type=POSITIVE_FLOAT, default=0.05,
                   help="SGD peak learning rate of the classifier (and of the encoder unless --backbone-lr), cosine "
                        "decay (the paper: 0.2 on ImageNet-LT; 0.1 on Places-LT)")
    p.add_argument("--backbone-lr", type=POSITIVE_FLOAT, default=None,
                   help="the encoder's own peak learning rate (default: --lr; the paper, Places-LT with a "
                        "pre-trained encoder: 0.001)")
    add_weight_decay_flag(p, 5e-4, "the paper: 5e-4")
    p.add_argument("--depth", type=POSITIVE_INT, default=2, help="CIFAR ResNet n (6n + 2 layers); the paper: ResNeXt-50")
    p.add_argument("--scale", type=POSITIVE_FLOAT, default=16.0, help="cosine classifier scale s")
    p.add_argument("--sampling", default="instance", choices=("instance", "sqrt", "class_balanced"))
    p.add_argument("--ks", type=number_list(int, 0), default="20,100", help="the two shot thresholds of the w^h(k) rows")
    p.add_argument("--attention", default="p->w", choices=ATTENTIONS,
                   help="query->key representations of the transfer attention (the paper: p->w; the supplement's "
                        "Table 1 ablates the others)")
    p.add_argument("--temperatures", type=number_list(float, 0, low_open=True), default=TEMPERATURES, help="attention temperatures tried on the validation half")
    p.add_argument("--mixes", type=number_list(float, 0), default=MIXES, help="mixing weights lambda tried on the validation half")
    p.add_argument("--eval-size", type=NON_NEGATIVE_INT, default=0,
                   help="fashion_lt: validation and test images each (0: half the test split each)")
    p.add_argument("--max-per-class", type=POSITIVE_INT, default=6000, help="fashion_lt: images of the largest class")
    p.add_argument("--min-per-class", type=POSITIVE_INT, default=5, help="fashion_lt: images of the smallest class")
    add_run_flags(p, "runs/long_tail", seeds="0,1,2")  # each seed also draws its own LT subset
    return parse_recipe_args(p, argv)


def build_encoder(args, input_shape):
    """Images in [0, 1] -> pooled features: a CIFAR ResNet without its head, or a keras.applications ResNet."""
    import keras

    if args.backbone == "cifar_resnet":
        from keras_hier.backbones import resnet_cifar

        net = resnet_cifar(args.depth, 10, input_shape=input_shape)
        return keras.Model(net.inputs[0], net.get_layer("avg_pool").output, name="encoder")
    return applications_encoder(args.backbone, input_shape, args.weights)


def classifiers(weights, prototypes, counts, ks, temperature, mix, attention="p->w"):
    """The table's rows: name -> class weights [C, dim] (one member) or a list of them (an ensemble)."""
    from keras_hier.models.compositional_transfer import transfer_weights

    def wh(k, continual=False):
        return transfer_weights(weights, prototypes, counts, k, temperature, mix, continual, attention=attention)

    unit = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    return {
        "Prototypes": [prototypes],
        "Cosine classifier": [unit],
        "Classifier + prototypes": [(unit + prototypes) / np.linalg.norm(unit + prototypes, axis=1, keepdims=True)],
        f"w^h({ks[0]})": [wh(ks[0])],
        f"w^h({ks[1]})": [wh(ks[1])],
        f"ensemble(w^hc({ks[0]}), w^hc({ks[1]})) (continual)": [wh(ks[0], True), wh(ks[1], True)],
        f"ensemble(w^h(0), w^h({ks[0]}), w^h({ks[1]}))": [wh(0), wh(ks[0]), wh(ks[1])],
    }


def predict(members, features, scale):
    """Mean softmax of the scaled cosine classifiers `members` on unit `features`."""
    probs = 0.0
    for w in members:
        logits = scale * features @ w.T
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = probs + e / e.sum(axis=1, keepdims=True)
    return probs / len(members)


def build_classifier(args, input_shape, counts, loss_name, steps):
    """The encoder with a cosine classifier over `len(counts)` classes, compiled with the recipe's loss
    (cross-entropy or balanced softmax over `counts`) and SGD with cosine decay over `steps`; returns
    `(model, encoder)`. Build it inside the strategy's scope."""
    import keras

    from keras_hier.layers import CosineClassifier
    from keras_hier.losses import BalancedSoftmax

    encoder = build_encoder(args, input_shape)
    # float32 logits under mixed precision: the model's last layer keeps a float32 policy, as Keras advises.
    head = CosineClassifier(len(counts), scale=args.scale, name="cosine_classifier", dtype="float32")
    model = keras.Model(encoder.inputs, head(encoder.outputs[0]))
    # Per-part rates as PyTorch parameter groups: the encoder's rate, the classifier's a multiple of it.
    base = args.lr if args.backbone_lr is None else args.backbone_lr
    multipliers = None if base == args.lr else {"cosine_classifier/": args.lr / base}
    schedule = keras.optimizers.schedules.CosineDecay(base, steps)
    loss = BalancedSoftmax(np.maximum(counts, 1)) if loss_name == "balanced_softmax" else \
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=coupled_sgd(schedule, args.weight_decay, learning_rate_multipliers=multipliers), loss=loss,
                  metrics=["accuracy"])
    return model, encoder


def run_seed(seed, loss_name, args, training, data, budget):
    import keras

    from keras_hier.metrics import shot_accuracies
    from keras_hier.prototypes import class_prototypes

    train_x, train_y = data["train"](seed)
    num_classes = data["num_classes"]
    counts = np.bincount(train_y, minlength=num_classes)
    print(f"\nseed {seed}, {loss_name}: {args.dataset} {counts.tolist()[:20]} ({len(train_y)} images)")
    keras.utils.set_random_seed(seed)
    per_pass = max(1, len(train_y) // args.batch_size)
    steps = training.stage_steps(args.epochs, per_pass)
    model, encoder = build_classifier(args, data["input_shape"], counts, loss_name, steps)
    training.fit(f"{loss_name}/seed{seed}", model,
                 lambda first: data["batches"](train_x, train_y, training=True, seed=seed, first_batch=first),
                 steps, per_pass, budget)

    def features(split):
        x, _ = split
        f = encoder.predict(data["batches"](x, np.zeros(len(x), np.int64)), verbose=0)
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)

    prototypes, _ = class_prototypes(encoder, data["batches"](train_x, train_y), num_classes=num_classes)
    head = model.get_layer("cosine_classifier")
    weights = head.normalized_weights()
    (_, yv), (_, yt) = data["val"], data["test"]
    fv, ft = features(data["val"]), features(data["test"])
    ks = list(args.ks)
    # tau and lambda: the best total accuracy of the three-member ensemble on the validation half.
    scores = {}
    for tau in args.temperatures:
        for mix in args.mixes:
            rows = classifiers(weights, prototypes, counts, ks, tau, mix, args.attention)
            ensemble = rows[f"ensemble(w^h(0), w^h({ks[0]}), w^h({ks[1]}))"]
            scores[(tau, mix)] = shot_accuracies(yv, predict(ensemble, fv, args.scale), counts)
    tau, mix = max(scores, key=lambda key: scores[key]["total"])
    for (t, m), r in scores.items():
        print(f"    validation tau {t} lambda {m}: ensemble many {r['many']:.3f} medium {r['medium']:.3f} "
              f"few {r['few']:.3f} total {r['total']:.3f}")
    print(f"  validation: temperature {tau}, mix {mix} (ensemble total {scores[(tau, mix)]['total']:.4f})")
    rows = classifiers(weights, prototypes, counts, ks, tau, mix, args.attention)
    probabilities = {name: predict(members, ft, args.scale) for name, members in rows.items()}
    table = {name: shot_accuracies(yt, p, counts) for name, p in probabilities.items()}
    for name, r in table.items():
        print(f"  {name:<44} many {r['many']:.4f} medium {r['medium']:.4f} few {r['few']:.4f} total {r['total']:.4f}")
    run = {"seed": seed, "loss": loss_name, "counts": counts.tolist(), "temperature": tau, "mix": mix, "table": table,
           "encoder": encoder, "head": head, "weights": weights, "prototypes": prototypes, "ks": ks}
    if data["hierarchy"] is not None:  # how bad each row's mistakes are, per shot group (docs/metrics.md)
        run["hierarchical"] = shot_group_mistakes(yt, probabilities, counts, data["hierarchy"])
    return run


def shot_group_mistakes(labels, probabilities, counts, hierarchy):
    """`hierarchical_summary` of each row's probabilities, per shot group and in total: row -> group -> summary; the
    cosine classifier and the three-member ensemble also with the risk-minimising decision (`"<row> + CRM"`)."""
    from keras_hier.datasets.long_tail import shot_groups
    from keras_hier.metrics import hierarchical_summary, lca_distance, risk_minimising_decision

    distance = lca_distance(hierarchy)
    groups = {**shot_groups(counts), "total": np.arange(len(counts))}
    out = {}
    for name, p in probabilities.items():
        decisions = {name: dict(y_score=p)}
        if name == "Cosine classifier" or name.startswith("ensemble(w^h(0)"):
            decisions[f"{name} + CRM"] = dict(y_pred=risk_minimising_decision(p, distance))
        for row, prediction in decisions.items():
            out[row] = {g: hierarchical_summary(labels[np.isin(labels, members)], hierarchy, distance=distance,
                                                **{k: v[np.isin(labels, members)] for k, v in prediction.items()})
                        for g, members in groups.items() if np.isin(labels, members).any()}
    return out


def class_hierarchy(data):
    """The classes' WordNet tree (Fashion-MNIST, ImageNet-LT), or None (no WordNet ids, or WordNet unavailable)."""
    if data["wnids"] is None or len(data["wnids"]) != len(data["class_names"]):
        return None  # e.g. a few ImageNet-LT classes only
    from keras_hier import Hierarchy

    # internal_classes: a class may be a WordNet hypernym of another.
    return semantic_hierarchy(lambda: Hierarchy.from_wordnet(data["wnids"], class_names=data["class_names"], tree=True,
                                                             internal_classes=True))


def fashion_data(args):
    """Fashion-MNIST-LT: a long-tailed subset of the training images per seed; the test set halved into validation
    and test (balanced)."""
    from keras_hier.datasets import fashion_mnist, long_tail
    from keras_hier.datasets.pipeline import make_batches

    (x, y), (xt, yt) = fashion_mnist.load_data(args.data_dir)
    val, test = split_halves(yt, args.eval_size)

    def train(seed):
        keep = long_tail.pareto_subsample(y, max_per_class=args.max_per_class, min_per_class=args.min_per_class,
                                          seed=seed)
        return x[keep], y[keep].astype(np.int64)

    def batches(images, labels, training=False, seed=0, first_batch=0):
        if training:
            return make_batches(images, labels, batch_size=args.batch_size, augment="hiernet", shuffle=True, seed=seed,
                                sampling=args.sampling, repeat=True, first_batch=first_batch)
        return make_batches(images, labels, batch_size=512)

    return {"train": train, "val": (xt[val], yt[val]), "test": (xt[test], yt[test]), "batches": batches,
            "num_classes": 10, "input_shape": x.shape[1:] + (1,), "class_names": list(fashion_mnist.CLASS_NAMES),
            "wnids": list(fashion_mnist.WNIDS)}


def paper_data(args):
    """ImageNet-LT or Places-LT from their split files (`path label` lines) and the user's images."""
    require_tensorflow("--dataset imagenet_lt / places_lt")
    from keras_hier.datasets.image_folder import files_dataset
    from keras_hier.datasets.long_tail import read_split_file

    if not args.data_dir:
        raise SystemExit(f"--dataset {args.dataset} needs --data-dir (and the split files in --split-dir).")
    prefix = "ImageNet_LT" if args.dataset == "imagenet_lt" else "Places_LT"
    folder = args.split_dir or args.data_dir
    splits = {s: read_split_file(os.path.join(folder, f"{prefix}_{s}.txt"), root=args.data_dir)
              for s in ("train", "val", "test")}
    num_classes = int(max(labels.max() for _, labels in splits.values())) + 1
    size = (args.image_size, args.image_size)

    def batches(files, labels, training=False, seed=0, first_batch=0):
        return files_dataset(files, labels, image_size=size, batch_size=args.batch_size, shuffle=training, seed=seed,
                             sampling=args.sampling if training else "instance", repeat=training,
                             first_batch=first_batch)

    wnids = None
    if args.dataset == "imagenet_lt":
        from keras_hier.knowledge.imagenet import imagenet1k_wnids

        wnids = imagenet1k_wnids()
    return {"train": lambda seed: splits["train"], "val": splits["val"], "test": splits["test"], "batches": batches,
            "num_classes": num_classes, "input_shape": size + (3,), "class_names": [str(c) for c in range(num_classes)],
            "wnids": wnids}


def main(argv=None):
    """Runs the recipe with command-line `argv` (default: sys.argv) and returns its metrics."""
    return run_under_runtime(parse_args(argv), run)


def run(args, precision):
    """The recipe under the precision and strategy `main` set up."""
    from keras_hier import plotting
    from keras_hier.models import CompositionalTransferHead
    from keras_hier.models.compositional_transfer import attention_weights

    start = time.time()
    training = Training(args)
    seeds = list(args.seeds)
    losses = comma_list(args.losses, ("ce", "balanced_softmax"), "--losses")
    os.makedirs(args.output, exist_ok=True)
    data = fashion_data(args) if args.dataset == "fashion_lt" else paper_data(args)
    data["hierarchy"] = class_hierarchy(data)
    print(f"{args.dataset}: validation {len(data['val'][1])} / test {len(data['test'][1])} images; precision {precision}")
    # Every row of a table reads the same encoder; the encoders of the two losses train equally long.
    budgets = {loss: [] for loss in losses}
    runs = [run_seed(seed, loss, args, training, data, budgets[loss]) for loss in losses for seed in seeds]

    groups = ("many", "medium", "few", "total")
    summary = {}
    for loss in losses:
        mine = [r for r in runs if r["loss"] == loss]
        summary[loss] = {n: {g: mean_and_spread([r["table"][n][g] for r in mine]) for g in groups}
                         for n in mine[0]["table"]}
        print(f"\n{loss + ' (test, ' + over_seeds(seeds) + ')':<50}" + "".join(f"{g:>16}" for g in groups))
        for n, stats in summary[loss].items():
            print(f"{n:<50}" + "".join(stat_text(s, seeds, digits=2, width=16) for s in stats.values()))
    hierarchical = {}
    for loss in losses if data["hierarchy"] is not None else ():
        mine = [r["hierarchical"] for r in runs if r["loss"] == loss]
        hierarchical[loss] = {n: summarise_rows([m[n] for m in mine]) for n in mine[0]}
        print(f"\n{loss + ': mistake severity (test, WordNet)':<50}" + "".join(f"{g:>16}" for g in groups))
        for n, by_group in hierarchical[loss].items():
            print(f"{n:<50}" + "".join(f"{by_group[g]['mistake_severity']['mean']:>16.3f}" if g in by_group
                                       else f"{'-':>16}" for g in groups))

    first = summary[losses[0]]
    names = list(first)
    shown = (names[1], names[-1])  # the cosine classifier and the ensemble of three
    plotting.plot_bars({n: {g: first[n][g]["mean"] for g in groups} for n in shown},
                       os.path.join(args.output, "shot_groups.png"),
                       f"Cosine classifier vs transfer ensemble ({losses[0]}, test, {over_seeds(seeds)})",
                       errors=spreads({n: {g: first[n][g]["std"] for g in groups} for n in shown}, seeds))
    last = runs[len(seeds) - 1]  # the last seed of the first loss
    attended = {}
    if data["wnids"] is not None:
        from keras_hier.knowledge import wordnet

        attention = attention_weights(last["weights"], last["prototypes"], last["counts"], 0, last["temperature"])
        few = [int(c) for c in np.argsort(last["counts"]) if last["counts"][c] < 20][:3]
        lch = wordnet.lch_matrix([data["wnids"][c] for c in few], data["wnids"])
        class_names = data["class_names"]
        for i, c in enumerate(few):
            top = [int(j) for j in np.argsort(-attention[c]) if j != c][:10 if len(class_names) > 10 else 9]
            attended[class_names[c]] = [{"class": class_names[j], "attention": float(attention[c, j]),
                                         "lch": float(lch[i, j])} for j in top]
        plotting.plot_attended(attended, os.path.join(args.output, "attended_classes.png"))
    if not args.no_export:
        import keras

        from ._serving import export_served

        head = CompositionalTransferHead.from_classifier(
            last["head"], last["prototypes"], last["counts"], ks=(0, *last["ks"]), temperature=last["temperature"],
            mix=last["mix"], scale=args.scale, attention=args.attention, name="transfer_ensemble", dtype="float32",
        )
        encoder = last["encoder"]
        probabilities = keras.layers.Softmax(name="probabilities", dtype="float32")(head(encoder.outputs[0]))
        export_served(keras.Model(encoder.inputs[0], probabilities), args.output, data["class_names"])
    metrics = {"args": vars(args), "precision": precision, "classes": data["class_names"],
               "runs": [{k: r[k] for k in ("seed", "loss", "counts", "temperature", "mix", "table")} for r in runs],
               "summary": summary, "hierarchical": hierarchical, "attended": attended, "budgets": budgets}
    return training.finish(metrics, start)


if __name__ == "__main__":
    main()
