"""Multi-label zero-shot recipe: the six models of Huang et al.'s Table 1 on one data set, same budget.

`python -m recipes.multilabel_zsl` runs offline on Fashion-MNIST mosaics (`keras_hier.datasets.multilabel`):
a small CNN trained on single images of the 3 external classes is the frozen backbone (image features and
external-class probabilities); the class graph joins the 7 target classes and the 3 external ones where
WordNet's Wu-Palmer similarity reaches the threshold. The backbone's outputs for every image are computed once
(it is frozen and there is no augmentation). For each seed, every variant trains on mosaics of the
training images with the seen labels only and is scored on mosaics of the test images: mAP and miAP on the
seen labels, the unseen labels (zero-shot) and all labels (generalised). Writes metrics.json, plots and the
last full model (rgcn_posvae) as a SavedModel from images to per-label probabilities.
`--dataset coco|nus_wide` runs the paper's setting for users with the images (ResNet-101 with ImageNet weights
from keras.applications: needs internet the first time).
"""

import os
import time

import numpy as np

from ._common import (
    FRACTION, NON_NEGATIVE_FLOAT, NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, add_run_flags, comma_list,
    mean_and_spread, number_list, over_seeds, parse_recipe_args, recipe_parser, require_tensorflow,
    run_under_runtime, spreads, stat_text,
)
from ._hierarchical import semantic_hierarchy, summarise_rows
from ._training import Training

VARIANTS = ("visual_semantic", "fast0tag", "skg", "rgcn", "rgcn_xl", "rgcn_posvae")
DATASETS = ("fashion_mosaics", "coco", "nus_wide")


def parse_args(argv=None):
    p = recipe_parser("multilabel_zsl", __doc__)
    p.add_argument("--dataset", default="fashion_mosaics", choices=DATASETS)
    p.add_argument("--data-dir", help="coco: folder with train2014/, val2014/ and annotations/; nus_wide: the "
                                      "NUS-WIDE folder (ImageList/, TrainTestLabels/, images/); fashion_mosaics: a "
                                      "folder holding Fashion-MNIST's four .gz files")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from " + ", ".join(VARIANTS))
    p.add_argument("--train-size", type=POSITIVE_INT, default=8000, help="fashion_mosaics: training mosaics")
    p.add_argument("--val-size", type=NON_NEGATIVE_INT, default=1000,
                   help="fashion_mosaics: validation mosaics (seen labels only) from held-out training images, for the "
                        "plateau rule")
    p.add_argument("--eval-size", type=POSITIVE_INT, default=3000, help="fashion_mosaics: test mosaics")
    p.add_argument("--backbone-epochs", type=POSITIVE_FLOAT, default=2, help="epochs of the external classifier (mosaics)")
    p.add_argument("--epochs", type=POSITIVE_INT, default=8, help="epochs of each variant")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=128, help="(the official code: 128)")
    p.add_argument("--lr", type=POSITIVE_FLOAT, default=5e-4, help="Adam learning rate (the paper: 5e-4 COCO, 1e-3 NUS-WIDE)")
    p.add_argument("--clipnorm", type=POSITIVE_FLOAT, default=10.0, help="gradient-norm clip (the paper: 10)")
    p.add_argument("--lr-patience", type=POSITIVE_INT, default=3,
                   help="epochs without a lower validation loss before the learning rate is cut by 10 (the paper: "
                        "x0.1 on plateau; the reference code: patience 3)")
    p.add_argument("--hidden-units", type=POSITIVE_INT, default=256, help="node state size (the official code: 512; the paper: RGCN layers of 256)")
    p.add_argument("--graph-units", type=number_list(int, 1), default="256,256", help="sizes of the graph convolutions")
    p.add_argument("--edge-hidden", type=POSITIVE_INT, default=128,
                   help="edge MLP hidden size (the official COCO code: 128; the paper text: 256)")
    p.add_argument("--vae-weight", type=NON_NEGATIVE_FLOAT, default=1.0, help="lambda, weight of the PosVAE loss (the paper: 1)")
    p.add_argument("--posvae-inference", default="mean", choices=("mean", "sample"),
                   help="PosVAE node states at test time: mu, or a sample as the paper (docs/multilabel.md compares)")
    p.add_argument("--posvae-reconstruct", default="probability", choices=("probability", "log_probability", "embedding"),
                   help="what PosVAE reconstructs: the probability (the paper), the per-class standardised log-scaled "
                        "probability (a remedy for many external classes, keras_hier.layers.PosVAE) or the "
                        "reference code's embedding")
    p.add_argument("--external-probabilities", default="classifier", choices=("classifier", "oracle"),
                   help="fashion_mosaics: the external nodes' probabilities from the external classifier, or, as an "
                        "experiment, from the mosaics' cells: 1 where a cell holds the external class or a class the "
                        "graph joins to it, else 0 (what a classifier that names each class's WordNet neighbours "
                        "would say; docs/multilabel.md). No SavedModel is written then: the served model would read "
                        "the classifier")
    p.add_argument("--wup-threshold", type=FRACTION, default=None,
                   help="WUP similarity an edge needs (default: 0.8 for the mosaics, where every Fashion class is a "
                        "covering and 0.5 joins all of them; the paper's 0.5 otherwise)")
    p.add_argument("--embeddings", default="glove", choices=("glove", "minilm"), help="class-name vectors")
    p.add_argument("--glove-path", help="a GloVe text file (e.g. glove.6B.300d.txt, the paper's 300-d); with --glove-dim")
    p.add_argument("--glove-dim", type=POSITIVE_INT, default=50, help="GloVe vector size")
    p.add_argument("--image-size", type=POSITIVE_INT, default=224, help="coco / nus_wide input size")
    p.add_argument("--backbone-weights", default="imagenet",
                   help="coco / nus_wide: ResNet-101 weights, 'imagenet' (downloaded once) or 'none' (random: tests)")
    add_run_flags(p, "runs/multilabel_zsl", seeds="0,1,2")  # the paper: seed 42
    args = parse_recipe_args(p, argv)
    if args.external_probabilities == "oracle" and args.dataset != "fashion_mosaics":
        p.error("--external-probabilities oracle needs --dataset fashion_mosaics (it reads the mosaics' cells).")
    return args


def mosaic_backbone(input_shape, num_external):
    """A small CNN: images -> [features (GAP of the last two blocks), softmax over the external classes]."""
    import keras

    from keras_hier.distribute import batch_normalization

    images = keras.Input(input_shape, name="images")
    x, pooled = images, []
    for i, filters in enumerate((32, 64, 128)):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = batch_normalization(momentum=0.9, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        if i:
            pooled.append(keras.layers.GlobalAveragePooling2D(name=f"gap{i}")(x))
        x = keras.layers.MaxPooling2D(name=f"pool{i}")(x) if i < 2 else x
    features = keras.layers.Concatenate(name="features")(pooled)
    probabilities = keras.layers.Dense(num_external, activation="softmax", dtype="float32", name="external")(
        keras.layers.GlobalAveragePooling2D(name="gap_top")(x)
    )
    return keras.Model(images, [features, probabilities], name="external_classifier")


def fashion_data(args, training):
    """Mosaic train / test sets, the external classifier (trained as the stage "external_classifier" of
    `training`) and the class graph."""
    import keras

    from keras_hier.datasets import fashion_mnist, multilabel
    from keras_hier.datasets.pipeline import make_batches
    from keras_hier.knowledge import ClassGraph

    (x, y), (xt, yt) = fashion_mnist.load_data(args.data_dir)
    held_out = len(x) // 10  # validation mosaics come from training images no training mosaic shows
    (x, y), (xv, yv) = (x[:-held_out], y[:-held_out]), (x[-held_out:], y[-held_out:])
    names = fashion_mnist.CLASS_NAMES
    canvases, ext_y = multilabel.external_classifier_data(x, y, seed=0)
    test_canvases, test_ext_y = multilabel.external_classifier_data(xt, yt, seed=1)
    keras.utils.set_random_seed(0)
    backbone = mosaic_backbone(canvases.shape[1:] + (1,), len(multilabel.MOSAIC_EXTERNAL))
    trainer = keras.Model(backbone.inputs, backbone.outputs[1])
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    per_pass = max(1, len(canvases) // 128)
    steps = training.stage_steps(args.backbone_epochs, per_pass)
    print(f"External classifier on single {', '.join(multilabel.MOSAIC_EXTERNAL)} images ({steps} steps)")
    training.fit("external_classifier", trainer,
                 lambda first: make_batches(canvases, ext_y, batch_size=128, shuffle=True, seed=0, repeat=True,
                                            first_batch=first), steps, per_pass)
    external_accuracy = float(trainer.evaluate(make_batches(test_canvases, test_ext_y, batch_size=512), verbose=0)[1])
    print(f"  external classifier test accuracy {external_accuracy:.4f}")

    train = multilabel.make_mosaics(x, y, args.train_size, require="seen", seed=0)
    val = multilabel.make_mosaics(xv, yv, args.val_size, require="seen", seed=2)
    test = multilabel.make_mosaics(xt, yt, args.eval_size, require="target", seed=1)
    unseen_columns = [multilabel.MOSAIC_TARGETS.index(u) for u in multilabel.MOSAIC_UNSEEN]
    train_labels, val_labels = train[1].copy(), val[1].copy()
    train_labels[:, unseen_columns] = 0.0  # training never sees an unseen label
    val_labels[:, unseen_columns] = 0.0
    graph = ClassGraph.build(
        multilabel.MOSAIC_TARGETS,
        unseen=multilabel.MOSAIC_UNSEEN,
        target_synsets=dict(zip(names, fashion_mnist.SYNSETS)),
        external=list(multilabel.MOSAIC_EXTERNAL),
        external_synsets=[fashion_mnist.WNIDS[names.index(e)] for e in multilabel.MOSAIC_EXTERNAL],
        embeddings=args.embeddings,
        glove_path=args.glove_path,
        glove_dim=args.glove_dim,
        threshold=0.8 if args.wup_threshold is None else args.wup_threshold,
    )
    return {
        "backbone": backbone,
        "graph": graph,
        "external_columns": None,
        "train": make_batches(train[0], train_labels, batch_size=512), "train_labels": train_labels,
        "validation": make_batches(val[0], val_labels, batch_size=512), "validation_labels": val_labels,
        "test": make_batches(test[0], test[1], batch_size=512), "test_labels": test[1],
        "cells": {"train": train[2], "validation": val[2], "test": test[2]},
        "notes": {"external_classifier_accuracy": external_accuracy, "train_mosaics": len(train[0]),
                  "validation_mosaics": len(val[0]), "test_mosaics": len(test[0]), "unseen_test_mosaics": int(test[1][:, unseen_columns].any(1).sum())},
    }


def oracle_probabilities(cells, graph):
    """The external nodes' "probabilities" of mosaics from their cells: for each external node (in the graph's order),
    1 where a cell holds its class or a class the graph joins to it, else 0. What an external classifier would report
    that is sure of what it sees and names each class by its WordNet neighbours, as an ImageNet classifier names a
    COCO sheep a bighorn: probabilities that carry what the graph needs to reach unseen labels, whatever the image
    features hold.

    Args:
        cells: int [mosaics, cells], each cell's Fashion-MNIST class (-1 empty), as `make_mosaics` returns.
        graph: the mosaics' `ClassGraph` (node names are Fashion-MNIST class names).

    Returns:
        float32 [mosaics, external nodes].

    Example:
    >>> from keras_hier.knowledge import ClassGraph
    >>> names = ["T-shirt/top", "Sandal", "Ankle boot"]
    >>> graph = ClassGraph(names, [None] * 3, ["seen", "unseen", "external"], np.eye(3, dtype="float32"),
    ...                    threshold=0.8, _wup=np.array([[1, .6, .6], [.6, 1, .8], [.6, .8, 1]]))
    >>> oracle_probabilities(np.array([[0, -1, -1, -1], [5, -1, -1, -1], [9, 0, -1, -1]]), graph).ravel().tolist()
    [0.0, 1.0, 1.0]
    """
    from keras_hier.datasets import fashion_mnist

    joined = graph.adjacency() | graph.adjacency().T
    columns = []
    for node in graph.indices("external"):
        related = [fashion_mnist.CLASS_NAMES.index(graph.names[j]) for j in np.flatnonzero(joined[node])]
        columns.append(np.isin(cells, related).any(axis=1))
    return np.stack(columns, axis=1).astype(np.float32)


def with_oracle_probabilities(rows, cells, graph):
    """Precomputed backbone `rows` ([features; external probabilities], see `precompute`) with the probabilities
    replaced by `oracle_probabilities(cells, graph)`; the features stay the backbone's."""
    oracle = oracle_probabilities(cells, graph)
    return np.concatenate([rows[:, : rows.shape[1] - oracle.shape[1]], oracle], axis=1)


def paper_data(args):
    """COCO 2014 or NUS-WIDE-81 with ResNet-101 (ImageNet weights) as the frozen backbone."""
    require_tensorflow("--dataset coco / nus_wide")
    import keras

    from keras_hier.datasets import multilabel
    from keras_hier.knowledge import ClassGraph, label_sets

    if not args.data_dir:
        raise SystemExit(f"--dataset {args.dataset} needs --data-dir.")
    if args.dataset == "coco":
        ann = os.path.join(args.data_dir, "annotations")
        train_files, train_labels = multilabel.load_coco(os.path.join(ann, "instances_train2014.json"), split="train")
        test_files, test_labels = multilabel.load_coco(os.path.join(ann, "instances_val2014.json"), split="test")
        train_files = [os.path.join(args.data_dir, "train2014", f) for f in train_files]
        test_files = [os.path.join(args.data_dir, "val2014", f) for f in test_files]
        targets, unseen = label_sets.COCO_CLASSES, label_sets.COCO_UNSEEN
    else:
        train_files, train_labels = multilabel.load_nus_wide(args.data_dir, "train")
        test_files, test_labels = multilabel.load_nus_wide(args.data_dir, "test")
        train_files = [os.path.join(args.data_dir, "images", f) for f in train_files]
        test_files = [os.path.join(args.data_dir, "images", f) for f in test_files]
        targets, unseen = label_sets.NUS_WIDE_CLASSES, label_sets.NUS_WIDE_UNSEEN
    graph = ClassGraph.build(targets, unseen=unseen, embeddings=args.embeddings, glove_path=args.glove_path,
                             glove_dim=args.glove_dim, threshold=0.5 if args.wup_threshold is None else args.wup_threshold)
    columns = graph.external_columns("imagenet1k")  # ImageNet-1k minus the targets' own synsets
    size = (args.image_size, args.image_size)
    weights = None if args.backbone_weights == "none" else args.backbone_weights
    resnet = keras.applications.ResNet101(weights=weights, input_shape=size + (3,))
    images = keras.Input(size + (3,), name="images")
    x = keras.applications.resnet.preprocess_input(keras.layers.Rescaling(255.0)(images))
    features = keras.Model(resnet.inputs, resnet.get_layer("avg_pool").output)(x)
    backbone = keras.Model(images, [features, resnet(x)], name="resnet101")
    order = np.random.default_rng(42).permutation(len(train_files))
    n_val = max(1, len(order) // 20) if len(order) > 1 else 0  # 5 % of the training images validate
    held_out, kept = order[:n_val], order[n_val:]
    val_files, val_labels = [train_files[i] for i in held_out], train_labels[held_out]
    train_files, train_labels = [train_files[i] for i in kept], train_labels[kept]
    return {
        "backbone": backbone, "graph": graph, "external_columns": columns,
        "train": _file_batches(train_files, size, args.batch_size), "train_labels": train_labels,
        "validation": _file_batches(val_files, size, args.batch_size), "validation_labels": val_labels,
        "test": _file_batches(test_files, size, args.batch_size), "test_labels": test_labels,
        "notes": {"train_images": len(train_files), "validation_images": len(val_files),
                  "test_images": len(test_files)},
    }


def _file_batches(files, size, batch_size):
    """The images of `files` in order, resized only (the official code crops at random even at test time)."""
    import tensorflow as tf

    from keras_hier.datasets.prefetch import prefetched

    def read(file):
        image = tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), size) / 255.0
        image.set_shape(size + (3,))
        return image

    ds = tf.data.Dataset.from_tensor_slices(tf.constant(files, tf.string))
    return prefetched(ds.map(read, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size))


def row_batches(rows, labels, batch_size, seed=None, first_batch=0):
    """Batches of (`rows`, `labels`), two float32 arrays: in order, or with a `seed` the endless shuffled stream from
    batch `first_batch` on (a function of seed and position, so a resumed stage sees the batches it would have).
    The arrays stay in NumPy and each batch is gathered from them: no copy into the dataset's graph, whose 2 GB
    limit COCO's or NUS-WIDE's ResNet-101 outputs (3,048 floats per image) would reach. Under Keras' other backends a
    `keras.utils.PyDataset` (`_row_stream`) gives the same kind of stream without TensorFlow."""
    import keras

    rows, labels = np.asarray(rows, np.float32), np.asarray(labels, np.float32)
    if keras.backend.backend() != "tensorflow":
        return _row_stream(rows, labels, batch_size, seed, first_batch)
    import tensorflow as tf

    from keras_hier.datasets.pipeline import example_indices
    from keras_hier.datasets.prefetch import prefetched

    if seed is None:
        ds = tf.data.Dataset.range(len(rows))
    else:
        ds = example_indices(labels, shuffle=True, seed=seed, repeat=True, first=first_batch * batch_size)
        ds = ds.map(lambda key, i: i)

    def gather(i):
        x, y = tf.numpy_function(lambda j: (rows[j], labels[j]), [i], (tf.float32, tf.float32), stateful=False)
        x.set_shape([None, rows.shape[1]])
        y.set_shape([None, labels.shape[1]])
        return x, y

    return prefetched(ds.batch(batch_size).map(gather))


def _row_stream(rows, labels, batch_size, seed=None, first_batch=0):
    """`row_batches` as a `keras.utils.PyDataset`: in order, or (with a `seed`) endless, pass k shuffled by a
    generator seeded with (seed, k), batch i of the stream the batch `first_batch + i`."""
    import keras

    class RowBatches(keras.utils.PyDataset):
        per_pass = -(-len(rows) // batch_size)

        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)

        @property
        def num_batches(self):
            return None if seed is not None else self.per_pass

        def __len__(self):
            return self.per_pass

        def __getitem__(self, index):
            if seed is None:
                if not 0 <= index < self.per_pass:
                    raise IndexError(f"Batch {index} of {self.per_pass}.")
                picked = slice(index * batch_size, (index + 1) * batch_size)
            else:
                pass_index, position = divmod(index + first_batch, self.per_pass)
                order = np.random.default_rng([seed, pass_index]).permutation(len(rows))
                picked = order[position * batch_size: (position + 1) * batch_size]
            return rows[picked], labels[picked]

    return RowBatches()


def precompute(data):
    """The frozen backbone's outputs for the training, validation and test images, once: every variant and seed
    trains and scores on them (`precomputed_backbone`), not on the images."""
    from keras_hier.models.multilabel_zsl import backbone_outputs, precomputed_backbone

    stand_in = precomputed_backbone(data["backbone"])
    width = sum(int(o.shape[-1]) for o in stand_in.outputs)
    started = time.time()
    rows = {split: backbone_outputs(data["backbone"], data[split]) if len(data[f"{split}_labels"])
            else np.zeros((0, width), np.float32) for split in ("train", "validation", "test")}
    count = sum(len(r) for r in rows.values())
    print(f"Backbone outputs of {count} images, computed once ({time.time() - started:.0f} s)")
    return stand_in, rows


def train_and_evaluate(variant, seed, args, training, data, stand_in, rows, budget=None):
    """Trains one variant (the stage `seed{seed}/{variant}` of `training`) on the backbone's precomputed outputs
    `rows` (read by `stand_in`, see `precompute`) and returns it with its test report."""
    import keras

    from keras_hier.losses import MaskedBinaryCrossentropy, PairwiseRankingLoss
    from keras_hier.metrics import multilabel_report
    from keras_hier.models import MultiLabelZeroShot

    keras.utils.set_random_seed(seed)
    settings = dict(variant=variant, hidden_units=args.hidden_units,
                    graph_units=list(args.graph_units), edge_hidden=args.edge_hidden,
                    vae_weight=args.vae_weight, external_columns=data["external_columns"],
                    posvae_inference=args.posvae_inference, posvae_reconstruct=args.posvae_reconstruct, seed=seed)
    model = MultiLabelZeroShot(stand_in, data["graph"], **settings)
    seen, unseen = model.seen, model.unseen
    # Fast0Tag's ranking loss; SKG's too, as the reference configuration (yamls/skg.yaml) trains it.
    ranking = variant in ("fast0tag", "skg")
    loss = PairwiseRankingLoss(seen, seed=seed) if ranking else MaskedBinaryCrossentropy(seen)
    model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=args.clipnorm), loss=loss)
    print(f"\n{variant}, seed {seed}")
    # The paper: the learning rate x0.1 when the loss plateaus; here the seen-label loss on validation mosaics.
    validation = None
    if len(rows["validation"]):
        validation = row_batches(rows["validation"], data["validation_labels"], 512)
    monitor = "loss" if validation is None else "val_loss"
    plateau = keras.callbacks.ReduceLROnPlateau(monitor, factor=0.1, patience=args.lr_patience, verbose=1)
    per_pass = -(-len(rows["train"]) // args.batch_size)
    training.fit(f"seed{seed}/{variant}", model,
                 lambda first: row_batches(rows["train"], data["train_labels"], args.batch_size, seed, first),
                 training.stage_steps(args.epochs, per_pass), per_pass, budget, callbacks=[plateau],
                 keep_state=[(plateau, ("wait", "best", "cooldown_counter"))], validation_data=validation)
    scores = model.predict(row_batches(rows["test"], data["test_labels"], 512), verbose=0)
    report = multilabel_report(data["test_labels"], scores, seen, unseen)
    print("  " + ", ".join(f"{s} mAP {r['map']:.4f} miAP {r['miap']:.4f}" for s, r in report.items()))
    if data.get("hierarchy") is not None:
        report["hierarchical"] = label_set_scores(data["test_labels"], scores, data["hierarchy"])
        print("  top-{} label sets on WordNet: hP {hierarchical_precision:.4f} hR {hierarchical_recall:.4f} "
              "hF1 {hierarchical_f1:.4f}".format(TOP_LABELS, **report["hierarchical"]))
    if variant == "rgcn_posvae":  # RGCN-XL reads the probabilities only in its loss: nothing to swap at test time
        report["swapped_external"], report["swapped_external_logit_change"] = swapped_external_report(
            model, stand_in, rows["test"], data["test_labels"], scores)
        print("  with another image's external probabilities: " + ", ".join(
            f"{s} mAP {r['map']:.4f} miAP {r['miap']:.4f}" for s, r in report["swapped_external"].items())
            + f"; logits moved by {report['swapped_external_logit_change']:.4f} of their spread")
    return model, report


TOP_LABELS = 3  # the predicted label set: the 3 best-scored target labels (mosaics carry 2 to 4 items)


def label_set_scores(labels, scores, hierarchy):
    """Hierarchical precision / recall / F1 (micro) of the predicted label sets (each image's `TOP_LABELS`
    best-scored target labels) against the true ones, each set extended with its WordNet ancestors."""
    from keras_hier.metrics import hierarchical_precision_recall_f1

    predicted = np.zeros_like(np.asarray(labels), dtype=np.int64)
    np.put_along_axis(predicted, np.argsort(-np.asarray(scores), axis=1)[:, :TOP_LABELS], 1, axis=1)
    p, r, f = hierarchical_precision_recall_f1(np.asarray(labels).astype(np.int64), predicted, hierarchy)
    return {"hierarchical_precision": p, "hierarchical_recall": r, "hierarchical_f1": f}


def swapped_external_report(model, stand_in, rows, labels, scores):
    """The trained model's test report when each image gets the external probabilities of another image (the
    previous one of the test set), and how far its logits move then (mean absolute change over the standard
    deviation of `scores`, its logits with the images' own probabilities): how much its scores rest on the external
    classifier's beliefs about that image (nothing changes where they do not)."""
    from keras_hier.metrics import multilabel_report

    width = int(stand_in.outputs[0].shape[-1])  # the features; the probabilities follow
    swapped = np.concatenate([rows[:, :width], np.roll(rows[:, width:], 1, axis=0)], axis=1)
    moved = model.predict(row_batches(swapped, labels, 512), verbose=0)
    change = float(np.abs(moved - scores).mean() / max(float(np.std(scores)), 1e-12))
    return multilabel_report(labels, moved, model.seen, model.unseen), change


def main(argv=None):
    """Runs the recipe with command-line `argv` (default: sys.argv) and returns its metrics."""
    return run_under_runtime(parse_args(argv), run)


def run(args, precision):
    """The recipe under the precision and strategy `main` set up."""
    from keras_hier import Hierarchy, plotting

    start = time.time()
    training = Training(args)
    variants = comma_list(args.variants, VARIANTS, "--variants")
    seeds = list(args.seeds)
    os.makedirs(args.output, exist_ok=True)
    data = fashion_data(args, training) if args.dataset == "fashion_mosaics" else paper_data(args)
    graph = data["graph"]
    print(f"{graph}; precision {precision}")
    plotting.plot_class_graph(graph, os.path.join(args.output, "class_graph.png"))

    stand_in, rows = precompute(data)
    if args.external_probabilities == "oracle":
        rows = {split: with_oracle_probabilities(r, data["cells"][split], graph) for split, r in rows.items()}
        print("External probabilities: the oracle's (the cells' classes and their graph neighbours), not the "
              "classifier's")
    targets = graph.num_targets
    data["hierarchy"] = semantic_hierarchy(lambda: Hierarchy.from_wordnet(
        graph.synsets[:targets], class_names=graph.names[:targets], tree=True, internal_classes=True)) \
        if all(graph.synsets[:targets]) else None
    runs = {v: [] for v in variants}
    budgets = {v: [] for v in variants}  # every variant trains the same steps with the same optimizer
    model = None
    for seed in seeds:
        for variant in variants:
            trained, report = train_and_evaluate(variant, seed, args, training, data, stand_in, rows,
                                                 budgets[variant])
            runs[variant].append(report)
            if variant == "rgcn_posvae" or model is None:
                model = trained

    keys = [(s, m) for s in ("seen", "unseen", "all") for m in ("map", "miap")]
    summary = {}
    for variant, reports in runs.items():
        summary[variant] = {}
        for s, m in keys:
            summary[variant][f"{s}_{m}"] = mean_and_spread([r[s][m] for r in reports])
        if all("swapped_external" in r for r in reports):
            summary[variant]["unseen_miap_swapped_external"] = mean_and_spread(
                [r["swapped_external"]["unseen"]["miap"] for r in reports])
            summary[variant]["swapped_external_logit_change"] = mean_and_spread(
                [r["swapped_external_logit_change"] for r in reports])
    hierarchical = {}
    if data["hierarchy"] is not None:  # per variant, mean ± sd over seeds
        hierarchical = summarise_rows([{v: runs[v][i]["hierarchical"] for v in variants} for i in range(len(seeds))])
    header = "".join(f"{s + ' ' + ('mAP' if m == 'map' else 'miAP'):>18}" for s, m in keys)
    print(f"\n{'variant, ' + over_seeds(seeds):<16}\n{'':<16}{header}")
    for variant, stats in summary.items():
        row = [stats[f"{s}_{m}"] for s, m in keys]
        print(f"{variant:<16}" + "".join(stat_text(v, seeds, width=18) for v in row))
    for variant, stats in summary.items():
        if "unseen_miap_swapped_external" in stats:
            swapped = stats["unseen_miap_swapped_external"]
            print(f"{variant}: unseen miAP {100 * stats['unseen_miap']['mean']:.2f} with each image's own external "
                  f"probabilities, {100 * swapped['mean']:.2f} with another image's (logits moved by "
                  f"{stats['swapped_external_logit_change']['mean']:.4f} of their spread)")
    plotting.plot_bars({v: s["unseen_miap"]["mean"] for v, s in summary.items()},
                       os.path.join(args.output, "unseen_miap.png"),
                       f"Unseen labels, miAP ({over_seeds(seeds)})", ylabel="miAP",
                       errors=spreads({v: s["unseen_miap"]["std"] for v, s in summary.items()}, seeds))
    if args.external_probabilities == "oracle" and not args.no_export:
        print("No SavedModel: the models read the oracle's external probabilities, a served model would read the "
              "classifier's.")
    elif not args.no_export and model is not None:
        import keras

        from ._serving import export_served

        # Per-label sigmoid probabilities of the target labels, uint8 images in: the model on the backbone.
        model = model.with_backbone(data["backbone"])
        export_served(keras.Model(model.inputs[0], model.outputs[0]), args.output,
                      list(graph.names[: graph.num_targets]), activation="sigmoid")
    metrics = {"args": vars(args), "precision": precision, "targets": list(graph.names[: graph.num_targets]),
               "seen": [graph.names[i] for i in graph.indices("seen")],
               "unseen": [graph.names[i] for i in graph.indices("unseen")],
               "external": [graph.names[i] for i in graph.indices("external")], "edges": int(graph.num_edges),
               **data["notes"], "runs": runs, "summary": summary, "hierarchical": hierarchical, "budgets": budgets}
    return training.finish(metrics, start)


if __name__ == "__main__":
    main()
