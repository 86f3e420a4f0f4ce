"""The multi-label zero-shot recipe end to end on a tiny budget: Table-1 metrics, plots, a served export."""

import json

import numpy as np
import pytest

from recipes import multilabel_zsl as recipe
from recipes._common import budget_difference
from recipes.demo import tour_flags


def test_tiny_run(tmp_path, run_served):
    out = tmp_path / "run"
    metrics = recipe.main(tour_flags("multilabel_zsl") + ["--train-size", "256",
                           "--eval-size", "128", "--backbone-epochs", "0.05", "--epochs", "1", "--hidden-units",
                           "16", "--graph-units", "16,16", "--edge-hidden", "8", "--output", str(out)])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["unseen"] == ["Sandal", "Shirt"] and saved["external"] == ["Pullover", "Coat", "Ankle boot"]
    assert len(saved["seen"]) == 5 and saved["test_mosaics"] == 128
    for variant in ("rgcn", "rgcn_posvae"):
        stats = saved["summary"][variant]
        extra = {"unseen_miap_swapped_external", "swapped_external_logit_change"} if variant == "rgcn_posvae" else set()
        assert set(stats) == {f"{s}_{m}" for s in ("seen", "unseen", "all") for m in ("map", "miap")} | extra
        scores = {k: s for k, s in stats.items() if k != "swapped_external_logit_change"}  # that one is a ratio
        assert all(0.0 <= s["mean"] <= 1.0 for s in scores.values())
        change = stats.get("swapped_external_logit_change", {"mean": 0.0})["mean"]
        assert np.isfinite(change) and change >= 0
    assert metrics["summary"] == saved["summary"]
    assert list(saved["budgets"]) == ["visual_semantic", "rgcn", "rgcn_posvae"]  # the baseline, as in the tour
    assert budget_difference(saved["budgets"]) is None and saved["budgets"]["rgcn"][0]["steps"] > 0
    for variant, row in saved["hierarchical"].items():  # top-3 label sets against the labels, on WordNet
        assert variant in saved["summary"] and all(0 <= s["mean"] <= 1 for s in row.values())
    for png in ("class_graph.png", "unseen_miap.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    printed = run_served(
        "import tensorflow as tf\n"
        f"served = tf.saved_model.load({str(out / 'saved_model')!r})\n"
        "p = served.signatures['serving_default'](images=tf.zeros([3, 56, 56, 1], tf.uint8))['probabilities']\n"
        "print(p.shape, float(tf.reduce_min(p)) >= 0, float(tf.reduce_max(p)) <= 1)\n"
    )
    assert printed.strip() == "(3, 7) True True"


def test_help_and_bad_arguments(tmp_path):
    with pytest.raises(SystemExit) as e:
        recipe.parse_args(["--help"])
    assert e.value.code == 0
    with pytest.raises(SystemExit, match="--variants"):
        recipe.main(["--variants", "gcn", "--output", str(tmp_path)])
    with pytest.raises(SystemExit, match="--data-dir"):
        recipe.main(["--dataset", "coco", "--output", str(tmp_path)])


def test_oracle_probabilities_name_the_cells_graph_neighbours(capsys):
    """The oracle experiment's external probabilities on the mosaics' graph (WUP 0.8): Pullover and Coat are joined
    to T-shirt/top, Trouser, Shirt and each other (WUP 0.818-0.857), Ankle boot to Sandal and Sneaker (0.824);
    Dress (0.762) and Bag (0.625) to none."""
    from keras_hier.datasets import fashion_mnist, multilabel
    from keras_hier.knowledge import ClassGraph, wordnet

    names = list(multilabel.MOSAIC_TARGETS) + list(multilabel.MOSAIC_EXTERNAL)
    kinds = ["unseen" if n in multilabel.MOSAIC_UNSEEN else "seen" for n in multilabel.MOSAIC_TARGETS]
    synsets = [fashion_mnist.SYNSETS[fashion_mnist.CLASS_NAMES.index(n)] for n in names]
    graph = ClassGraph(names, [None] * len(names), kinds + ["external"] * 3, np.eye(len(names), dtype="float32"),
                       threshold=0.8, _wup=wordnet.wup_matrix(synsets))
    c = {n: i for i, n in enumerate(fashion_mnist.CLASS_NAMES)}
    cells = np.array([[c["Sandal"], -1, -1, -1], [c["Shirt"], c["Bag"], -1, -1], [c["Dress"], c["Bag"], -1, -1],
                      [-1, -1, -1, -1], [c["Trouser"], c["Sneaker"], c["Coat"], -1], [c["Ankle boot"], -1, -1, -1]])
    expected = [[0, 0, 1], [1, 1, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1], [0, 0, 1]]  # Pullover, Coat, Ankle boot
    np.testing.assert_array_equal(recipe.oracle_probabilities(cells, graph), expected)
    rows = np.arange(6 * 5, dtype=np.float32).reshape(6, 5)  # 2 feature columns, then 3 probabilities
    replaced = recipe.with_oracle_probabilities(rows, cells, graph)
    np.testing.assert_array_equal(replaced[:, :2], rows[:, :2])
    np.testing.assert_array_equal(replaced[:, 2:], expected)
    with pytest.raises(SystemExit):  # COCO's images have no cells to read
        recipe.parse_args(["--dataset", "coco", "--external-probabilities", "oracle"])
    assert "needs --dataset fashion_mosaics" in capsys.readouterr().err


def test_coco_path_on_a_tiny_folder(tmp_path):
    """The paper's COCO path (ResNet-101, the COCO + ImageNet graph) on 4 + 3 generated images, random weights.
    RGCN, not RGCN + PosVAE: test_tiny_run covers PosVAE and its swapped-probabilities report (a second ResNet-101
    graph to trace here)."""
    import numpy as np
    import tensorflow as tf

    from keras_hier.knowledge import label_sets

    categories = [{"id": i + 1, "name": n} for i, n in enumerate(label_sets.COCO_CLASSES)]
    (tmp_path / "annotations").mkdir()
    for split, count in (("train2014", 4), ("val2014", 3)):
        (tmp_path / split).mkdir()
        images = [{"id": k, "file_name": f"{k}.jpg"} for k in range(count)]
        annotations = [{"image_id": k, "category_id": 1 + (k % 3)} for k in range(count)]  # person, bicycle, car
        for k in range(count):
            tf.io.write_file(str(tmp_path / split / f"{k}.jpg"), tf.io.encode_jpeg(np.full((40, 40, 3), 20 * k, np.uint8)))
        (tmp_path / "annotations" / f"instances_{split}.json").write_text(
            json.dumps({"categories": categories, "images": images, "annotations": annotations}))
    metrics = recipe.main(["--dataset", "coco", "--data-dir", str(tmp_path), "--backbone-weights", "none",
                           "--image-size", "32", "--seeds", "0", "--variants", "rgcn", "--epochs", "1",
                           "--batch-size", "2", "--hidden-units", "8", "--graph-units", "8", "--edge-hidden", "4",
                           "--no-export", "--output", str(tmp_path / "run")])
    # train: images with a seen label, one held out to validate
    assert metrics["train_images"] == 2 and metrics["validation_images"] == 1 and metrics["test_images"] == 3
    assert len(metrics["external"]) == 1000 - 24 and metrics["unseen"] == list(label_sets.COCO_UNSEEN)
    assert 0.0 <= metrics["summary"]["rgcn"]["seen_map"]["mean"] <= 1.0


def test_row_batches_in_order_and_resumed_at_a_batch():
    import numpy as np

    rows = np.arange(30, dtype=np.float32).reshape(10, 3)
    labels = (np.arange(20).reshape(10, 2) % 3 == 0).astype(np.float32)
    x, y = zip(*[(a.numpy(), b.numpy()) for a, b in recipe.row_batches(rows, labels, 4)])
    np.testing.assert_array_equal(np.concatenate(x), rows)
    np.testing.assert_array_equal(np.concatenate(y), labels)
    stream = recipe.row_batches(rows, labels, 4, seed=3)
    first = [a.numpy() for a, _ in stream.take(5)]
    assert sorted(np.concatenate(first[:2])[:, 0].tolist() + first[2][:2, 0].tolist()) == list(range(0, 30, 3))
    resumed = [a.numpy() for a, _ in recipe.row_batches(rows, labels, 4, seed=3, first_batch=2).take(3)]
    for a, b in zip(first[2:], resumed):
        np.testing.assert_array_equal(a, b)
