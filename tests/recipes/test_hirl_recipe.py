"""The HIRL recipe end to end on a tiny budget: both encoders scored, plots, the .keras model, a served export;
the image-folder path; flags."""

import json

import numpy as np
import pytest

from recipes import hirl as recipe
from recipes._common import budget_difference
from recipes.demo import tour_flags


def test_tiny_run(tmp_path, run_served):
    out = tmp_path / "run"
    metrics = recipe.main(tour_flags("hirl") + ["--train-size", "256", "--eval-size", "300", "--epochs", "2",
                                                "--warmup-epochs", "1", "--num-prototypes", "20,5",
                                                "--num-negative-paths", "8", "--batch-size", "128", "--hidden-units", "32",
                                                "--queue-size", "256", "--output", str(out)])
    saved = json.loads((out / "metrics.json").read_text())
    assert list(saved["summary"]) == ["MoCo v2", "HIRL-MoCo v2"]
    for run in saved["runs"]:
        assert set(run["knn"]) == {"10", "20", "100", "200"} and run["knn_top1"] == max(run["knn"].values())
        assert 0.1 < run["knn_top1"] <= 1 and 0 <= run["cluster_nmi"] <= 1 and 0 < run["linear_probe"] <= 1
    assert metrics["summary"] == saved["summary"]
    rows = saved["hierarchical"]  # the k-NN classifier's mistakes on WordNet, and with the CRM decision
    assert list(rows) == ["MoCo v2", "MoCo v2 + CRM", "HIRL-MoCo v2", "HIRL-MoCo v2 + CRM"]
    for name in saved["summary"]:
        assert rows[name]["accuracy"]["mean"] == pytest.approx(saved["summary"][name]["knn_top1"]["mean"]), name
    assert all(0 <= r["hierarchical_f1"]["mean"] <= 1 and r["mistake_severity"]["mean"] > 0 for r in rows.values())
    budgets = saved["budgets"]  # the base method and HIRL: same epochs, same schedule, coupled weight decay
    assert budget_difference(budgets) is None and budgets["HIRL-MoCo v2"][0]["steps"] == 4
    assert budgets["MoCo v2"][0]["optimizer"]["class_name"] == "CoupledSGD"
    for png in ("tsne.png", "scores.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    import keras

    assert keras.saving.load_model(out / "hirl.keras").num_prototypes == (20, 5)
    x = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28, 1), dtype=np.uint8)
    code = ("import json, numpy as np, tensorflow as tf\n"
            f"out = tf.saved_model.load({str(out / 'saved_model')!r}).signatures['serving_default']("
            f"images=tf.constant(np.array({x.tolist()}, np.uint8)))\n"
            "print(json.dumps([out['probabilities'].numpy().tolist(), out['top_k_classes'].numpy().astype(str).tolist()]))")
    probabilities, names = json.loads(run_served(code).strip().splitlines()[-1])
    probabilities = np.asarray(probabilities)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    from keras_hier.datasets.fashion_mnist import CLASS_NAMES

    assert [row[0] for row in names] == [CLASS_NAMES[i] for i in probabilities.argmax(1)]


def test_probe_classifier_matches_the_probe():
    import keras

    from keras_hier.metrics import linear_probe

    rng = np.random.default_rng(0)
    inputs = keras.Input((4, 4, 1))
    encoder = keras.Model(inputs, keras.layers.Flatten()(inputs))
    images = rng.uniform(size=(60, 4, 4, 1)).astype("float32")
    for labels in (rng.integers(0, 3, 60), rng.integers(0, 2, 60)):  # multinomial and binary
        probe = linear_probe(images.reshape(60, -1), labels)
        model, classes = recipe.probe_classifier(encoder, probe)
        np.testing.assert_allclose(np.asarray(model(images)), probe.predict_proba(images.reshape(60, -1)), atol=1e-4)
        assert classes == sorted(set(labels.tolist()))


def test_image_folder_and_flags(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("val", 4)):
        for c in ("n01440764", "n01443537"):
            folder = tmp_path / "data" / split / c
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 255, size=(20, 20, 3), dtype=np.uint8)
                tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(pixels))
    metrics = recipe.main(["--dataset", "image_folder", "--data-dir", str(tmp_path / "data"), "--image-size", "16",
                           "--method", "simclr", "--epochs", "2", "--warmup-epochs", "1", "--num-prototypes", "4,2",
                           "--num-negative-paths", "2", "--batch-size", "8", "--hidden-units", "16", "--no-export",
                           "--output", str(tmp_path / "run")])
    assert [r["model"] for r in metrics["runs"]] == ["SimCLR", "HIRL-SimCLR"]
    assert not (tmp_path / "run" / "saved_model").exists()
    with pytest.raises(SystemExit) as e:
        recipe.parse_args(["--help"])
    assert e.value.code == 0
    paper = recipe.parse_args(["--paper"])
    # The paper's prototypes as a list of sizes, as the flag gives them (a defect once: the raw string).
    assert (paper.num_prototypes, paper.num_negative_paths, paper.warmup_epochs, paper.epochs) == (
        [30000, 10000, 1000], 1000, 20, 200)
    with pytest.raises(SystemExit, match="warmup"):
        recipe.parse_args(["--epochs", "2", "--warmup-epochs", "2"])
    with pytest.raises(SystemExit, match="--data-dir"):
        recipe.main(["--dataset", "image_folder", "--output", str(tmp_path / "x")])


def test_every_base_is_wired_with_its_papers_settings():
    import keras

    from keras_hier.backbones import VisionTransformer
    from keras_hier.models import ssl
    from keras_hier.optimizers import CoupledSGD, ScheduledAdamW

    classes = {"moco_v2": ssl.MoCoV2, "simsiam": ssl.SimSiam, "swav": ssl.SwAV, "moco_v3": ssl.MoCoV3,
               "dino": ssl.DINO, "ibot": ssl.IBOT, "simclr": ssl.SimCLR}
    assert set(classes) == set(recipe.BASES)
    for base, cls in classes.items():
        args = recipe.parse_args(["--base", base, "--hidden-units", "8", "--projection-dim", "4",
                                  "--num-prototypes", "6,2"])
        model = recipe.build_base(args, (28, 28, 1), 0, total_steps=1000)
        assert type(model) is cls
        vit = [layer for layer in model.encoder.layers if isinstance(layer, VisionTransformer)]
        optimizer = recipe.optimizer(args, 1000, 100)
        settings = recipe.BASES[base]
        decay = getattr(optimizer, "coupled_weight_decay", optimizer.weight_decay)
        assert decay == pytest.approx(settings["weight_decay"]) and args.lr == settings["lr"]
        assert args.num_negative_paths == settings["negatives"]  # Tab. 1: 1000 for the CNN bases, 100 for ViTs
        if base in ("dino", "ibot"):  # DINO's decay schedule without biases and norms, HIRL's clipping at 0.3
            assert type(optimizer) is ScheduledAdamW and optimizer.clipnorm == 0.3
            assert (optimizer.weight_decay_end, optimizer.weight_decay_steps) == (pytest.approx(0.4), 1000)
            assert optimizer.exclude_biases_and_norms
        elif settings["family"] == "vit":
            assert type(optimizer) is keras.optimizers.AdamW
        if settings["family"] == "vit":  # AdamW (decoupled, as PyTorch's), a one-epoch warm-up, a ViT
            assert bool(vit) and vit[0].patch_size == 4
            assert float(optimizer.learning_rate) == 0.0  # the warm-up starts at 0
        else:
            assert type(optimizer) is CoupledSGD and not vit
    moco_v3 = recipe.build_base(recipe.parse_args(["--base", "moco_v3", "--hidden-units", "8"]), (28, 28, 1), 0, 1000)
    vit = moco_v3.encoder.layers[-1]
    assert vit.position_embedding == "sincos" and not vit.patch_embedding_trainable
    assert moco_v3.momentum_schedule_steps == 1000
    dino = recipe.build_base(recipe.parse_args(["--base", "dino", "--hidden-units", "8"]), (28, 28, 1), 0, 1000)
    assert (dino.teacher_temperature_warmup_steps, dino.freeze_last_layer_steps, dino.num_local_crops,
            dino.local_size) == (300, 10, 4, 12)
    # The paper's Tab. 7 learning rates at batch 256 (MoCo v2's 0.03, once 0.06), PyTorch's batch norms in the CNN.
    assert [recipe.BASES[b]["lr"] for b in ("moco_v2", "simsiam", "swav", "moco_v3", "dino", "ibot")] == [
        0.03, 0.05, 0.3, 1e-4, 7.5e-4, 7.5e-4]
    cnn = recipe.build_encoder(recipe.parse_args([]), (28, 28, 1))
    assert {(l.momentum, l.epsilon) for l in cnn.layers if isinstance(l, keras.layers.BatchNormalization)} == {(0.9, 1e-5)}
    assert recipe.parse_args(["--num-negative-paths", "7"]).num_negative_paths == 7
    assert recipe.parse_args(["--method", "simclr"]).base == "simclr"  # the flag's old name
    with pytest.raises(SystemExit, match="moco_v2"):
        recipe.parse_args(["--paper", "--base", "dino"])
