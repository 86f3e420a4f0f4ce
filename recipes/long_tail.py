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

import argparse
import json
import os
import time

import numpy as np

from recipes._common import comma_list, mean_and_spread

TEMPERATURES = "0.05,0.1,0.2,0.5"
MIXES = "0.5,1,2,4,8,16"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.long_tail", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (each also draws its own LT subset)")
    p.add_argument("--epochs", type=float, default=6, help="encoder training epochs (the paper: 90 on ImageNet-LT)")
    p.add_argument("--batch-size", type=int, default=128, help="(the paper: 512)")
    p.add_argument("--lr", type=float, default=0.05, help="SGD peak learning rate, cosine decay (the paper: 0.2)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="(the paper: 5e-4)")
    p.add_argument("--depth", type=int, default=2, help="CIFAR ResNet n (6n + 2 layers); the paper: ResNeXt-50")
    p.add_argument("--scale", type=float, default=16.0, help="cosine classifier scale s")
    p.add_argument("--sampling", default="instance", choices=("instance", "sqrt", "class_balanced"))
    p.add_argument("--balanced-softmax", action="store_true", help="train with BalancedSoftmax instead of plain CE")
    p.add_argument("--ks", default="20,100", help="the two shot thresholds of the w^h(k) rows")
    p.add_argument("--temperatures", default=TEMPERATURES, help="attention temperatures tried on the validation half")
    p.add_argument("--mixes", default=MIXES, help="mixing weights lambda tried on the validation half")
    p.add_argument("--max-per-class", type=int, default=6000)
    p.add_argument("--min-per-class", type=int, default=5)
    p.add_argument("--precision", choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"), default="auto")
    p.add_argument("--output", default="runs/long_tail", help="folder for metrics.json, plots and the SavedModel")
    p.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    return p.parse_args(argv)


def build_encoder(depth, input_shape):
    """A CIFAR ResNet without its softmax head: images -> pooled features."""
    import keras

    from keras_hier.backbones import resnet_cifar

    net = resnet_cifar(depth, 10, input_shape=input_shape)
    return keras.Model(net.inputs[0], net.get_layer("avg_pool").output, name="encoder")


def classifiers(weights, prototypes, counts, ks, temperature, mix):
    """The table's rows: name -> class weights [C, dim] (one member) or a list of them (an ensemble)."""
    from keras_hier.models.compositional_transfer import transfer_weights

    def wh(k, continual=False):
        return transfer_weights(weights, prototypes, counts, k, temperature, mix, continual)

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


def run_seed(seed, args, data):
    import keras

    from keras_hier.datasets import long_tail
    from keras_hier.datasets.pipeline import make_dataset
    from keras_hier.layers import CosineClassifier
    from keras_hier.losses import BalancedSoftmax
    from keras_hier.metrics import shot_accuracies
    from keras_hier.prototypes import class_prototypes

    (x, y), (xv, yv), (xt, yt) = data
    keep = long_tail.pareto_subsample(y, max_per_class=args.max_per_class, min_per_class=args.min_per_class, seed=seed)
    xs, ys = x[keep], y[keep]
    counts = np.bincount(ys, minlength=10)
    print(f"\nseed {seed}: Fashion-MNIST-LT {counts.tolist()} ({len(ys)} images)")
    keras.utils.set_random_seed(seed)
    encoder = build_encoder(args.depth, xs.shape[1:] + (1,))
    head = CosineClassifier(10, scale=args.scale, name="cosine_classifier")
    model = keras.Model(encoder.inputs, head(encoder.outputs[0]))
    steps = max(1, int(args.epochs * len(ys) / args.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, steps)
    loss = BalancedSoftmax(np.maximum(counts, 1)) if args.balanced_softmax else \
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=args.weight_decay), loss=loss,
                  metrics=["accuracy"])
    train = make_dataset(xs, ys, batch_size=args.batch_size, augment="hiernet", shuffle=True, seed=seed,
                         sampling=args.sampling, repeat=True)
    model.fit(train, steps_per_epoch=steps, epochs=1, verbose=2)

    def features(images):
        f = encoder.predict(make_dataset(images, np.zeros(len(images), np.int64), batch_size=512), verbose=0)
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)

    prototypes, _ = class_prototypes(encoder, make_dataset(xs, ys, batch_size=512), num_classes=10)
    weights = head.normalized_weights()
    fv, ft = features(xv), features(xt)
    ks = [int(k) for k in comma_list(args.ks)]
    # tau and lambda: the best total accuracy of the three-member ensemble on the validation half.
    scores = {}
    for tau in [float(t) for t in comma_list(args.temperatures)]:
        for mix in [float(m) for m in comma_list(args.mixes)]:
            rows = classifiers(weights, prototypes, counts, ks, tau, mix)
            ensemble = rows[f"ensemble(w^h(0), w^h({ks[0]}), w^h({ks[1]}))"]
            scores[(tau, mix)] = shot_accuracies(yv, predict(ensemble, fv, args.scale), counts)
    tau, mix = max(scores, key=lambda key: scores[key]["total"])
    for (t, m), r in scores.items():
        print(f"    validation tau {t} lambda {m}: ensemble many {r['many']:.3f} medium {r['medium']:.3f} "
              f"few {r['few']:.3f} total {r['total']:.3f}")
    print(f"  validation: temperature {tau}, mix {mix} (ensemble total {scores[(tau, mix)]['total']:.4f})")
    rows = classifiers(weights, prototypes, counts, ks, tau, mix)
    table = {name: shot_accuracies(yt, predict(members, ft, args.scale), counts) for name, members in rows.items()}
    for name, r in table.items():
        print(f"  {name:<44} many {r['many']:.4f} medium {r['medium']:.4f} few {r['few']:.4f} total {r['total']:.4f}")
    return {"counts": counts.tolist(), "temperature": tau, "mix": mix, "table": table, "encoder": encoder, "head": head,
            "weights": weights, "prototypes": prototypes, "ks": ks}


def main(argv=None):
    args = parse_args(argv)
    from keras_hier import plotting
    from keras_hier._io import write_text_atomic
    from keras_hier.datasets import fashion_mnist
    from keras_hier.datasets.splits import stratified_split
    from keras_hier.knowledge import wordnet
    from keras_hier.models import CompositionalTransferHead
    from keras_hier.models.compositional_transfer import attention_weights
    from keras_hier.precision import set_precision

    start = time.time()
    seeds = [int(s) for s in comma_list(args.seeds)]
    precision = set_precision(args.precision)
    os.makedirs(args.output, exist_ok=True)
    (x, y), (xt, yt) = fashion_mnist.load_data()
    val, test = stratified_split(yt, 0.5, seed=0)
    data = ((x, y.astype(np.int64)), (xt[val], yt[val]), (xt[test], yt[test]))
    print(f"Fashion-MNIST-LT; validation {len(val)} / test {len(test)} balanced images; precision {precision}")
    runs = [run_seed(seed, args, data) for seed in seeds]

    names = list(runs[0]["table"])
    groups = ("many", "medium", "few", "total")
    summary = {n: {g: mean_and_spread([r["table"][n][g] for r in runs]) for g in groups} for n in names}
    print(f"\n{'classifier (test half, mean ± sd)':<50}" + "".join(f"{g:>16}" for g in groups))
    for n, stats in summary.items():
        print(f"{n:<50}" + "".join(f"{100 * s['mean']:>10.2f} ±{100 * s['std']:4.1f}" for s in stats.values()))

    last = runs[-1]
    names_10 = list(fashion_mnist.CLASS_NAMES)
    plotting.plot_bars({f"{n[:22]} {g}": summary[n][g]["mean"] for n in (names[1], names[-1]) for g in groups},
                       os.path.join(args.output, "shot_groups.png"), "Cosine classifier vs transfer ensemble (test)")
    attention = attention_weights(last["weights"], last["prototypes"], last["counts"], 0, last["temperature"])
    lch = wordnet.lch_matrix(fashion_mnist.WNIDS)
    few = [c for c in np.argsort(last["counts"]) if last["counts"][c] < 20][:3]
    attended = {}
    for c in few:
        top = [int(j) for j in np.argsort(-attention[c]) if j != c][:9]
        attended[names_10[c]] = [{"class": names_10[j], "attention": float(attention[c, j]), "lch": float(lch[c, j])}
                                 for j in top]
    plotting.plot_attended(attended, os.path.join(args.output, "attended_classes.png"))
    if not args.no_export:
        import keras

        if keras.backend.backend() == "tensorflow":
            head = CompositionalTransferHead.from_classifier(
                last["head"], last["prototypes"], last["counts"], ks=(0, *last["ks"]), temperature=last["temperature"],
                mix=last["mix"], scale=args.scale, name="transfer_ensemble",
            )
            encoder = last["encoder"]
            probabilities = keras.layers.Softmax(name="probabilities")(head(encoder.outputs[0]))
            keras.Model(encoder.inputs[0], probabilities).export(os.path.join(args.output, "saved_model"), verbose=False)
    metrics = {"args": vars(args), "precision": precision, "classes": names_10,
               "runs": [{k: r[k] for k in ("counts", "temperature", "mix", "table")} for r in runs],
               "summary": summary, "attended": attended, "seconds": time.time() - start}
    write_text_atomic(os.path.join(args.output, "metrics.json"), json.dumps(metrics, indent=2))
    print(f"outputs in {args.output} ({metrics['seconds']:.0f} s)")
    return metrics


if __name__ == "__main__":
    main()
