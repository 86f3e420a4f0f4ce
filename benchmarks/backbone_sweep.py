"""HierNet on every backbone family of keras.applications and on keras-hub's image classifiers, as a new user tries it.

For each family, randomly initialised at a small input (64x64x3; Xception and InceptionV3 96x96, their minimum
being 71 and 75), 6 classes and a hand-written depth-2 tree: `HierNet.split_candidates`, `from_backbone` at the
middle stage output, one training step (finite loss), routing = the argmax path (the class at the end of the most
probable child at every node, on every image), `.keras` save and load in a fresh process after `import keras_hier`
alone (identical outputs), and the SavedModel export answered by TensorFlow alone (uint8 images in, the model's
probabilities on images / 255 out). Prints a markdown table and writes `OUTPUT/sweep.json`.

    python -m benchmarks.backbone_sweep --output runs/backbone_sweep [--families ResNet50 ConvNeXtTiny]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CLASSES = 6
NESTED = {"root": {"tops": ["t-shirt", "shirt", "pullover"], "shoes": ["sandal", "sneaker", "boot"]}}


def keras_applications():
    import keras

    a = keras.applications

    def make(constructor, size=64):
        return lambda: constructor(weights=None, input_shape=(size, size, 3), classes=CLASSES)

    return {
        "ResNet50": make(a.ResNet50), "ResNet50V2": make(a.ResNet50V2), "MobileNetV2": make(a.MobileNetV2),
        "MobileNetV3Small": make(a.MobileNetV3Small), "MobileNetV3Large": make(a.MobileNetV3Large),
        "EfficientNetB0": make(a.EfficientNetB0), "EfficientNetV2B0": make(a.EfficientNetV2B0),
        "ConvNeXtTiny": make(a.ConvNeXtTiny), "DenseNet121": make(a.DenseNet121), "VGG16": make(a.VGG16),
        "Xception": make(a.Xception, 96), "InceptionV3": make(a.InceptionV3, 96),
        "InceptionResNetV2": make(a.InceptionResNetV2, 96), "NASNetMobile": make(a.NASNetMobile),
    }


def keras_hub_classifiers():
    import keras_hub

    m = keras_hub.models
    shape = (64, 64, 3)
    return {
        "keras-hub ResNet": lambda: m.ResNetImageClassifier(m.ResNetBackbone(
            input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 64, 128],
            stackwise_num_blocks=[2, 2, 2], stackwise_num_strides=[1, 2, 2], block_type="basic_block",
            use_pre_activation=False, image_shape=shape), num_classes=CLASSES),
        "keras-hub EfficientNet": lambda: m.EfficientNetImageClassifier(m.EfficientNetBackbone(
            stackwise_width_coefficients=[1.0] * 3, stackwise_depth_coefficients=[1.0] * 3,
            stackwise_kernel_sizes=[3, 3, 3], stackwise_num_repeats=[1, 2, 2], stackwise_input_filters=[16, 16, 24],
            stackwise_output_filters=[16, 24, 32], stackwise_expansion_ratios=[1, 4, 4],
            stackwise_squeeze_and_excite_ratios=[0.0, 0.25, 0.25], stackwise_strides=[1, 2, 2],
            stackwise_block_types=["fused", "unfused", "unfused"], stackwise_force_input_filters=[0] * 3,
            stackwise_nores_option=[False] * 3, input_shape=shape), num_classes=CLASSES),  # num_features: not in its config
        "keras-hub MobileNetV3": lambda: m.MobileNetImageClassifier(m.MobileNetBackbone(
            stackwise_expansion=[[16], [72, 88]], stackwise_num_blocks=[1, 2], stackwise_num_filters=[[16], [24, 24]],
            stackwise_kernel_size=[[3], [3, 3]], stackwise_num_strides=[[2], [2, 1]],
            stackwise_se_ratio=[[0.25], [None, None]], stackwise_activation=[["relu"], ["relu", "relu"]],
            stackwise_padding=[[1], [1, 1]], output_num_filters=576, depthwise_filters=8, depthwise_stride=2,
            depthwise_residual=False, last_layer_filter=32, squeeze_and_excite=0.5, image_shape=shape,
            input_activation="hard_swish", output_activation="hard_swish", input_num_filters=16),
            num_classes=CLASSES),
        "keras-hub DenseNet": lambda: m.DenseNetImageClassifier(m.DenseNetBackbone(
            stackwise_num_repeats=[2, 2, 2], image_shape=shape, growth_rate=8), num_classes=CLASSES),
        "keras-hub ViT": lambda: m.ViTImageClassifier(m.ViTBackbone(
            image_shape=shape, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64),
            num_classes=CLASSES),
        "keras-hub DeiT": lambda: m.DeiTImageClassifier(m.DeiTBackbone(
            image_shape=shape, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64),
            num_classes=CLASSES),
    }


def routes_as_argmax(model, x):
    """The share of images whose routed class is the class at the end of the argmax path."""
    nodes = {k: np.asarray(v) for k, v in model.node_model()(x).items()}
    tree = model.hierarchy
    expected = []
    for i in range(len(x)):
        node = tree.root
        while not tree.is_leaf(node):
            node = tree.children(node)[int(nodes[node][i].argmax())]
        expected.append(tree.label(node))
    routed = np.asarray(model.routing_model()(x)).argmax(1)
    return float((routed == np.array(expected)).mean())


def try_family(name, make, folder, rng):
    import keras

    from keras_hier import HierNet, Hierarchy

    row = {"family": name}
    start = time.time()
    try:
        keras.utils.set_random_seed(0)
        backbone = make()
        size = backbone.inputs[0].shape[1]
        candidates = HierNet.split_candidates(backbone)
        row["candidates"] = candidates
        split = candidates[len(candidates) // 2]
        row["split"] = split
        model = HierNet.from_backbone(backbone, Hierarchy.from_nested(NESTED), split_points=[split])
        row["construct"] = True
        raw = rng.integers(0, 256, size=(8, size, size, 3)).astype("uint8")
        x = raw.astype("float32") / 255
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
        row["step"] = bool(np.isfinite(model.train_on_batch(x, np.arange(8) % CLASSES)))
        row["routing_equals_argmax_path"] = routes_as_argmax(model, x)
        stem = os.path.join(folder, name.replace(" ", "_"))
        model.save(stem + ".keras")
        np.save(stem + "_raw.npy", raw)
        np.save(stem + "_probabilities.npy", np.asarray(model(x)))
        model.export(stem + "_served", verbose=False)
        row["files"] = stem
    except Exception as e:  # a row that says what failed
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    row["seconds"] = round(time.time() - start, 1)
    return row


CHECK = """
import json, sys
import numpy as np
import keras_hier  # noqa: F401  (the .keras files load after this import alone)
import keras, tensorflow as tf
out = {}
for stem in json.loads(sys.argv[1]):
    raw, want = np.load(stem + "_raw.npy"), np.load(stem + "_probabilities.npy")
    reloaded = keras.saving.load_model(stem + ".keras")
    served = tf.saved_model.load(stem + "_served").signatures["serving_default"](images=tf.constant(raw))
    out[stem] = {"reload": float(np.abs(np.asarray(reloaded(raw.astype("float32") / 255)) - want).max()),
                 "export": float(np.abs(served["probabilities"].numpy() - want).max())}
print(json.dumps(out))
"""


def fresh_process_checks(rows):
    stems = [row["files"] for row in rows if "files" in row]
    if not stems:
        return
    done = subprocess.run([sys.executable, "-c", CHECK, json.dumps(stems)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    checked = json.loads(done.stdout.strip().splitlines()[-1])
    for row in rows:
        if "files" in row:
            row.update({k: v < 1e-4 for k, v in checked[row["files"]].items()})
            row["largest_differences"] = checked[row["files"]]


def table(rows):
    def mark(row, key):
        return "✓" if row.get(key) is True else ("✗" if key in row else "–")

    lines = ["| family | stage outputs (`split_candidates`) | split | construct | step | routing = argmax path | "
             "reload (fresh process) | export (uint8) | s |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        shown = ", ".join(row.get("candidates", [])[:5]) + (" …" if len(row.get("candidates", [])) > 5 else "")
        routing = f"{100 * row['routing_equals_argmax_path']:.0f} %" if "routing_equals_argmax_path" in row else "–"
        lines.append(f"| {row['family']} | {shown} | {row.get('split', '–')} | {mark(row, 'construct')} | "
                     f"{mark(row, 'step')} | {routing} | {mark(row, 'reload')} | {mark(row, 'export')} | "
                     f"{row['seconds']} |")
        if "error" in row:
            lines.append(f"| ↳ {row['error']} |||||||||")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", default="runs/backbone_sweep", help="folder for the models, exports and sweep.json")
    p.add_argument("--families", nargs="*", help="only these (names as in the table); their rows replace those of an "
                                                 "earlier sweep.json in --output")
    args = p.parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    families = {**keras_applications(), **keras_hub_classifiers()}
    unknown = sorted(set(args.families or []) - set(families))
    if unknown:
        raise SystemExit(f"Unknown families {unknown}; choose from {sorted(families)}.")
    rng = np.random.default_rng(0)
    rows = []
    for name, make in families.items():
        if args.families and name not in args.families:
            continue
        rows.append(try_family(name, make, os.path.abspath(args.output), rng))
        print(f"{name}: {rows[-1].get('error', 'ok')} ({rows[-1]['seconds']} s)", flush=True)
    fresh_process_checks(rows)
    path = os.path.join(args.output, "sweep.json")
    if args.families and os.path.exists(path):  # the other families' rows stay, in the table's order
        with open(path) as f:
            rows = {**{row["family"]: row for row in json.load(f)["rows"]}, **{row["family"]: row for row in rows}}
        rows = [rows[name] for name in families if name in rows]
    text = table(rows)
    print(text)
    with open(path, "w") as f:
        json.dump({"rows": rows, "table": text}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
