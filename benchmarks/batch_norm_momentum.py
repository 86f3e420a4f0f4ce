"""A short fine-tune of a randomly initialised keras.applications backbone, with Keras' batch-norm momentum (0.99) and
with PyTorch's (0.9, `keras_hier.backbones.set_batch_norm_momentum`), then the HierNet cut from each: test accuracy and
how many classes the models predict in inference mode (one, when the moving statistics still hold their start).

    python -m benchmarks.batch_norm_momentum [--backbone ResNet50] [--steps 100]
"""

import argparse
import json
import time

import numpy as np


def fine_tune(backbone_name, momentum, steps, batch_size, seed=0):
    import keras

    from keras_hier import HierNet, Hierarchy
    from keras_hier.backbones import set_batch_norm_momentum
    from keras_hier.datasets import fashion_mnist

    (x, y), (xt, yt) = fashion_mnist.load_data()
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(x))[: steps * batch_size]
    prepare = lambda images: np.repeat(np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None], 3, -1) / np.float32(255)  # noqa: E731
    x, y, xt, yt = prepare(x[pick]), y[pick], prepare(xt[:1000]), yt[:1000]
    keras.utils.set_random_seed(seed)
    backbone = getattr(keras.applications, backbone_name)(weights=None, input_shape=(32, 32, 3), classes=10)
    if momentum is not None:
        set_batch_norm_momentum(backbone, momentum)
    backbone.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                     metrics=["accuracy"])
    backbone.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    predicted = backbone.predict(xt, verbose=0).argmax(1)
    tree = Hierarchy.from_nested({"root": {"tops": ["T-shirt/top", "Pullover", "Coat", "Shirt", "Dress"],
                                           "shoes": ["Sandal", "Sneaker", "Ankle boot"], "Trouser": None,
                                           "Bag": None}}).with_leaves(fashion_mnist.CLASS_NAMES)
    split = HierNet.split_candidates(backbone)[-1]
    hiernet = HierNet.from_backbone(backbone, tree, split_points=[split], batch_norm_momentum=momentum)
    hiernet.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    hiernet.fit(x[: (steps // 2) * batch_size], y[: (steps // 2) * batch_size], batch_size=batch_size, epochs=1,
                verbose=0)
    tree_predicted = hiernet.predict(xt, verbose=0).argmax(1)
    return {"backbone_accuracy": float((predicted == yt).mean()), "backbone_classes": int(len(set(predicted))),
            "hiernet_accuracy": float((tree_predicted == yt).mean()), "hiernet_classes": int(len(set(tree_predicted)))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="ResNet50", help="a keras.applications constructor")
    p.add_argument("--steps", type=int, default=100, help="backbone fine-tuning steps (the HierNet: half as many)")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)
    rows = {}
    for momentum in (None, 0.9):
        start = time.time()
        rows["0.99 (Keras)" if momentum is None else "0.9 (PyTorch)"] = {
            **fine_tune(args.backbone, momentum, args.steps, args.batch_size), "seconds": round(time.time() - start)}
    print(f"{args.backbone}, {args.steps} steps of batch {args.batch_size} from random weights, then HierNet "
          f"{args.steps // 2} steps; 1000 test images")
    print("| batch-norm momentum | backbone accuracy | classes predicted | HierNet accuracy | classes predicted | s |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {100 * r['backbone_accuracy']:.1f} | {r['backbone_classes']} | "
              f"{100 * r['hiernet_accuracy']:.1f} | {r['hiernet_classes']} | {r['seconds']} |")
    print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
